//! Shared harness for the loopback interoperability tests: an in-process server on a random
//! port under either runtime, real clients as child processes with bounded run times, a raw
//! control-connection client, and file-tree comparison.

#![allow(dead_code, unreachable_pub)]

pub mod load_balancer;
pub mod s3_server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ftp_server::auth::{Anonymous, Permissions, UserTable};
use ftp_server::proto::reply::ReplyDecoder;
use ftp_server::storage::{FsStorage, Storage, VirtualPath};
use ftp_server::{RunningServer, Server, TlsConfig};

/// The two runtime adapters every interop test runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rt {
    Tokio,
    AsyncIo,
}

pub const RUNTIMES: [Rt; 2] = [Rt::Tokio, Rt::AsyncIo];

/// A directory below the system's temporary directory (or another), removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), tag)
    }

    /// A fresh directory below `base`, removed on drop.
    pub fn new_in(base: &Path, tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = base.join(format!(
            "ftp-server-it-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails with a clear message when a client the tests need is missing: CI installs them
/// (`.ci/run`), so a missing tool is a broken machine, never a reason to skip.
pub fn require(tool: &str) {
    static CHECKED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut checked = CHECKED.lock().unwrap();
    if checked.iter().any(|t| t == tool) {
        return;
    }
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "`{tool}` is not installed: these interoperability tests run real clients \
         (`apt-get install -y curl lftp openssl python3 haproxy iproute2`, as .ci/run does)"
    );
    checked.push(tool.to_owned());
}

/// A self-signed certificate for 127.0.0.1 (PEM certificate and key), made once per test
/// binary with `openssl` in a temporary directory that is removed at once.
pub fn cert() -> &'static (Vec<u8>, Vec<u8>) {
    static CERT: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    CERT.get_or_init(|| {
        require("openssl");
        let dir = TempDir::new("cert");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let out = run(
            Command::new("openssl").args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ]),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "openssl failed: {}", stderr(&out));
        (std::fs::read(cert).unwrap(), std::fs::read(key).unwrap())
    })
}

pub fn tls_config() -> TlsConfig {
    let (cert, key) = cert();
    TlsConfig::from_pem(cert, key).unwrap()
}

/// Runs a child process to completion within `limit`; kills it (by its PID) and fails the
/// test when it takes longer.
pub fn run(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_thread.join().unwrap_or_default();
            let stderr = err_thread.join().unwrap_or_default();
            panic!(
                "{command:?} took longer than {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the child succeeded, showing its output otherwise; returns stdout.
#[track_caller]
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "client failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Deterministic pseudo-random bytes.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Text with LF line ends (and a few CRs inside lines), for TYPE A tests.
pub fn text(lines: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..lines {
        out.extend_from_slice(format!("line {i}: the quick brown fox jumps\n").as_bytes());
    }
    out
}

/// Every file below `dir`, relative path → content, sorted.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Asserts that two file trees (as [`tree`] returns them) are equal, with a readable message:
/// the names and sizes first, then the first byte that differs.
#[track_caller]
pub fn assert_same_tree(got: &[(String, Vec<u8>)], expected: &[(String, Vec<u8>)]) {
    let sizes = |t: &[(String, Vec<u8>)]| -> Vec<(String, usize)> {
        t.iter()
            .map(|(name, data)| (name.clone(), data.len()))
            .collect()
    };
    assert_eq!(sizes(got), sizes(expected), "files (name, size) differ");
    for ((name, got), (_, expected)) in got.iter().zip(expected) {
        if let Some(at) = got.iter().zip(expected).position(|(a, b)| a != b) {
            panic!("{name}: content differs from byte {at} on");
        }
    }
}

/// Writes a tree of files of assorted sizes (empty, small, a few hundred KiB) below `dir`.
pub fn make_tree(dir: &Path) {
    let files: [(&str, usize); 7] = [
        ("empty.txt", 0),
        ("small.txt", 13),
        ("a/one.bin", 70_000),
        ("a/b/two.bin", 300_001),
        ("a/b/c/three.bin", 1),
        ("with space/name with space.bin", 4096),
        ("z.bin", 1 << 20),
    ];
    for (i, (name, len)) in files.iter().enumerate() {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, pattern(*len, i as u64 + 1)).unwrap();
    }
}

/// The users every test server knows.
pub const ALICE: (&str, &str) = ("alice", "secret");
pub const BOB: (&str, &str) = ("bob", "readonly");

/// An in-process server on 127.0.0.1 with a random port, serving a fresh temporary directory.
pub struct TestServer {
    pub rt: Rt,
    pub root: TempDir,
    pub addr: SocketAddr,
    pub implicit: Option<SocketAddr>,
    running: Option<RunningServer>,
    tokio: Option<tokio::runtime::Runtime>,
    pub events: Arc<Mutex<Vec<String>>>,
}

/// The workers of [`started_tokio_runtime`].
const TOKIO_WORKERS: usize = 2;

/// A multi-thread tokio runtime whose workers have started and made their first allocation.
///
/// glibc gives a thread its heap (arena) at its first allocation, and a server caps the heaps
/// as it starts (`Server::release_memory`). A worker whose first allocation races that cap may
/// still get a heap past it, which `tests/allocator.rs` would count; here every worker has its
/// heap before the server starts.
fn started_tokio_runtime() -> tokio::runtime::Runtime {
    let started = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
    let counter = Arc::clone(&started);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TOKIO_WORKERS)
        .enable_all()
        .on_thread_start(move || {
            drop(std::hint::black_box(Box::new(0u64)));
            let (count, changed) = &*counter;
            *count.lock().unwrap() += 1;
            changed.notify_all();
        })
        .build()
        .unwrap();
    let (count, changed) = &*started;
    let (count, waited) = changed
        .wait_timeout_while(count.lock().unwrap(), Duration::from_secs(10), |n| {
            *n < TOKIO_WORKERS
        })
        .unwrap();
    assert!(
        !waited.timed_out(),
        "{} of {TOKIO_WORKERS} tokio workers started",
        *count
    );
    drop(count);
    tokio
}

impl TestServer {
    /// A server with alice (read-write), bob (read-only) and read-only anonymous access;
    /// `configure` adjusts the builder.
    pub fn start(rt: Rt, configure: impl FnOnce(Server) -> Server) -> Self {
        let root = TempDir::new("root");
        let storage = FsStorage::new(root.path()).unwrap();
        Self::start_on(rt, root, storage, configure)
    }

    /// [`TestServer::start`] serving `root` and listening on `listen` only: one node of
    /// several that serve one folder (each node's `root` may name the same path).
    pub fn start_node(
        rt: Rt,
        root: TempDir,
        listen: SocketAddr,
        configure: impl FnOnce(Server) -> Server,
    ) -> Self {
        let storage = FsStorage::new(root.path()).unwrap();
        Self::start_at(rt, root, storage, listen, configure)
    }

    /// Like [`TestServer::start`], over `storage`; `root` is what [`TestServer::file`] and
    /// friends read (the folder behind `storage`, if it has one).
    pub fn start_on(
        rt: Rt,
        root: TempDir,
        storage: impl Storage,
        configure: impl FnOnce(Server) -> Server,
    ) -> Self {
        let listen = "127.0.0.1:0".parse().unwrap();
        Self::start_at(rt, root, storage, listen, configure)
    }

    /// The server over `storage`, listening on `listen`.
    fn start_at(
        rt: Rt,
        root: TempDir,
        storage: impl Storage,
        listen: SocketAddr,
        configure: impl FnOnce(Server) -> Server,
    ) -> Self {
        let mut users = UserTable::insecure_fast();
        users
            .add(ALICE.0, ALICE.1, VirtualPath::root(), Permissions::ALL)
            .unwrap();
        users
            .add(BOB.0, BOB.1, VirtualPath::root(), Permissions::READ_ONLY)
            .unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&events);
        let server = Server::new(storage)
            .listen(listen)
            .authenticator(users)
            .anonymous(Anonymous::read_only())
            .failed_login_delay(Duration::from_millis(50))
            .shutdown_grace(Duration::from_secs(2))
            .on_event(move |e| {
                log.lock()
                    .unwrap()
                    .push(format!("{} {:?}", e.session, e.event));
            });
        let server = configure(server);
        let (running, tokio) = match rt {
            Rt::Tokio => {
                let tokio = started_tokio_runtime();
                let running = tokio.block_on(server.start_tokio()).unwrap();
                (running, Some(tokio))
            }
            Rt::AsyncIo => (async_io::block_on(server.start_async_io()).unwrap(), None),
        };
        Self {
            rt,
            root,
            addr: running.local_addrs()[0],
            implicit: running.implicit_tls_addrs().first().copied(),
            running: Some(running),
            tokio,
            events,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "ftp://127.0.0.1:{}/{}",
            self.port(),
            path.trim_start_matches('/')
        )
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        let path = self.file(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Every plain listen address, in the order given.
    pub fn running_addrs(&self) -> Vec<SocketAddr> {
        self.running
            .as_ref()
            .map_or_else(Vec::new, |r| r.local_addrs().to_vec())
    }

    pub fn metrics(&self) -> ftp_server::Metrics {
        self.running.as_ref().expect("running").metrics()
    }

    pub fn active_sessions(&self) -> usize {
        self.running
            .as_ref()
            .map_or(0, RunningServer::active_sessions)
    }

    /// Graceful shutdown; fails if the sessions do not end within 10 seconds.
    pub fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = Arc::clone(&done);
            let waiter = std::thread::spawn(move || {
                futures_lite::future::block_on(running.shutdown());
                flag.store(true, Ordering::SeqCst);
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            while !done.load(Ordering::SeqCst) {
                assert!(Instant::now() < deadline, "server did not shut down");
                std::thread::sleep(Duration::from_millis(10));
            }
            waiter.join().unwrap();
        }
    }

    /// A raw control connection, greeting read.
    pub fn connect(&self) -> Ctl {
        let mut ctl = Ctl::connect(self.addr);
        let (code, _) = ctl.reply();
        assert_eq!(code, 220);
        ctl
    }

    /// A raw control connection logged in as `user`.
    pub fn login(&self, user: (&str, &str)) -> Ctl {
        let mut ctl = self.connect();
        ctl.expect(&format!("USER {}", user.0), 331);
        ctl.expect(&format!("PASS {}", user.1), 230);
        ctl
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.shutdown();
        }
        if let Some(tokio) = self.tokio.take() {
            tokio.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// Runs `test` under each runtime, naming the runtime when it fails.
pub fn each_runtime(test: impl Fn(Rt)) {
    for rt in RUNTIMES {
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(rt)));
        if let Err(e) = result {
            eprintln!("failed under {rt:?}");
            std::panic::resume_unwind(e);
        }
        eprintln!("{rt:?}: {:?}", started.elapsed());
    }
}

/// A raw control connection, for exact reply codes and hostile input.
pub struct Ctl {
    pub stream: TcpStream,
    /// Bytes read but not yet handed out as a reply.
    pending: Vec<u8>,
}

/// The length of the first complete reply at the start of `buf` (CRLF line ends; a
/// multi-line reply ends with the line that starts with its code and a space), if complete.
fn reply_len(buf: &[u8]) -> Option<usize> {
    let mut start = 0;
    let mut code: Option<&[u8]> = None;
    while let Some(at) = buf[start..].windows(2).position(|w| w == b"\r\n") {
        let line = &buf[start..start + at];
        let end = start + at + 2;
        match code {
            None if line.len() >= 4 && line[3] == b'-' => code = Some(&line[..3]),
            None => return Some(end),
            Some(code) if line.len() >= 4 && &line[..3] == code && line[3] == b' ' => {
                return Some(end)
            }
            Some(_) => {}
        }
        start = end;
    }
    None
}

impl Ctl {
    pub fn connect(addr: SocketAddr) -> Self {
        Self::from_stream(TcpStream::connect(addr).unwrap())
    }

    /// A control connection already connected (from another local address, say).
    pub fn from_stream(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    /// The next reply: code and full text; panics on timeout or EOF.
    pub fn reply(&mut self) -> (u16, String) {
        self.try_reply().expect("connection closed before a reply")
    }

    /// The next reply, or `None` when the connection ends first.
    pub fn try_reply(&mut self) -> Option<(u16, String)> {
        let raw = self.try_raw_reply()?;
        let mut decoder = ReplyDecoder::default();
        decoder.feed(&raw);
        let reply = decoder
            .next_reply()
            .expect("a complete reply")
            .expect("a well-formed reply");
        let text: Vec<String> = reply
            .lines()
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        Some((reply.code().get(), text.join("\n")))
    }

    /// The next reply exactly as it came over the wire (every line with its CRLF), or `None`
    /// when the connection ends (or the read times out) first.
    pub fn try_raw_reply(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(len) = reply_len(&self.pending) {
                return Some(self.pending.drain(..len).collect());
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// True when nothing arrives on the control connection for `wait` (nothing was pending
    /// either); what does arrive is kept for the next reply.
    pub fn silent_for(&mut self, wait: Duration) -> bool {
        if !self.pending.is_empty() {
            return false;
        }
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        let silent = match self.stream.read(&mut buf) {
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                false
            }
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        self.stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        silent
    }

    /// The next reply's exact bytes, as text (lossy) for readable assertions.
    #[track_caller]
    pub fn raw_reply(&mut self) -> String {
        let raw = self
            .try_raw_reply()
            .expect("connection closed before a reply");
        String::from_utf8_lossy(&raw).into_owned()
    }

    /// Sends `line` and asserts the exact bytes of the reply (`expected` with its CRLFs).
    #[track_caller]
    pub fn expect_raw(&mut self, line: &str, expected: &str) {
        self.send(line);
        let got = self.raw_reply();
        assert_eq!(got, expected, "reply to {line:?}");
    }

    /// Asserts that the server closes the connection without sending anything more
    /// (within the read timeout).
    #[track_caller]
    pub fn expect_closed(&mut self) {
        assert!(
            self.pending.is_empty(),
            "unread bytes: {:?}",
            String::from_utf8_lossy(&self.pending)
        );
        let mut buf = [0u8; 512];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected the end of the connection, got {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the end of the connection, got {e}"),
        }
    }

    /// Sends `line` and asserts the reply code.
    #[track_caller]
    pub fn expect(&mut self, line: &str, code: u16) -> String {
        self.send(line);
        let (got, text) = self.reply();
        assert_eq!(got, code, "{line:?} got {text:?}");
        text
    }

    /// EPSV: the data connection, connected.
    pub fn epsv(&mut self) -> TcpStream {
        let text = self.expect("EPSV", 229);
        let port = ftp_server::proto::addr::parse_epsv_reply(
            text.as_bytes(),
            ftp_server::proto::addr::Leniency::Strict,
        )
        .unwrap();
        let host = self.stream.peer_addr().unwrap().ip();
        let data = TcpStream::connect((host, port)).unwrap();
        data.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        data
    }

    /// EPSV and RETR `path`, asserting 150 or 125; the data connection, to read.
    pub fn start_retr(&mut self, path: &str) -> TcpStream {
        let data = self.epsv();
        self.send(&format!("RETR {path}"));
        let (code, text) = self.reply();
        assert!(code == 150 || code == 125, "RETR {path}: {text}");
        data
    }

    /// RETR over EPSV; returns the bytes and asserts 150 and 226.
    pub fn retr(&mut self, path: &str) -> Vec<u8> {
        self.retr_from(path, None)
    }

    /// RETR over EPSV after `REST offset`.
    pub fn retr_from(&mut self, path: &str, rest: Option<u64>) -> Vec<u8> {
        let mut data = self.epsv();
        if let Some(offset) = rest {
            self.expect(&format!("REST {offset}"), 350);
        }
        let (code, text) = {
            self.send(&format!("RETR {path}"));
            self.reply()
        };
        assert!(code == 150 || code == 125, "RETR {path}: {text}");
        let mut out = Vec::new();
        data.read_to_end(&mut out).unwrap();
        let (code, text) = self.reply();
        assert_eq!(code, 226, "RETR {path}: {text}");
        out
    }

    /// STOR over EPSV; asserts 150 and 226.
    pub fn stor(&mut self, path: &str, content: &[u8]) {
        let mut data = self.epsv();
        self.send(&format!("STOR {path}"));
        let (code, text) = self.reply();
        assert!(code == 150 || code == 125, "STOR {path}: {text}");
        data.write_all(content).unwrap();
        drop(data);
        let (code, text) = self.reply();
        assert_eq!(code, 226, "STOR {path}: {text}");
    }
}

/// A rendezvous of `parties` threads with a deadline: like `std::sync::Barrier`, but a party
/// that never arrives (because its thread failed) makes the others fail after `limit` instead
/// of hanging the test.
pub struct Gate {
    arrived: Mutex<usize>,
    all_in: std::sync::Condvar,
    parties: usize,
    limit: Duration,
}

impl Gate {
    pub fn new(parties: usize, limit: Duration) -> Self {
        Self {
            arrived: Mutex::new(0),
            all_in: std::sync::Condvar::new(),
            parties,
            limit,
        }
    }

    /// Arrives and waits until every party has; panics after the gate's time limit.
    #[track_caller]
    pub fn wait(&self) {
        let deadline = Instant::now() + self.limit;
        let mut arrived = self.arrived.lock().unwrap_or_else(|e| e.into_inner());
        *arrived += 1;
        if *arrived >= self.parties {
            self.all_in.notify_all();
            return;
        }
        while *arrived < self.parties {
            let now = Instant::now();
            assert!(
                now < deadline,
                "only {} of {} parties arrived within {:?}",
                *arrived,
                self.parties,
                self.limit
            );
            arrived = self
                .all_in
                .wait_timeout(arrived, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// How many parties have arrived so far.
    pub fn arrived(&self) -> usize {
        *self.arrived.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes a Python script to a file and runs it with `python3 script args...`.
pub fn python(script: &str, args: &[String], limit: Duration) -> Output {
    require("python3");
    let dir = TempDir::new("py");
    let path = dir.path().join("script.py");
    std::fs::write(&path, script).unwrap();
    run(
        Command::new("python3").arg("-u").arg(&path).args(args),
        limit,
    )
}

/// What the page cache holds of a file's range, in pages (`cachestat(2)`, Linux 6.5).
#[cfg(target_os = "linux")]
#[derive(Debug, Default)]
#[repr(C)]
pub struct PageCache {
    pub cached: u64,
    pub dirty: u64,
    pub writeback: u64,
    pub evicted: u64,
    pub recently_evicted: u64,
}

/// The page cache's counts for `file`'s `[offset, offset + len)` (`len` 0: to its end).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn page_cache(file: &std::fs::File, offset: u64, len: u64) -> PageCache {
    use std::os::fd::AsRawFd;
    /// `cachestat`'s number on every architecture but alpha (`libc` names it for some targets
    /// only).
    const SYS_CACHESTAT: libc::c_long = 451;
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    let range = Range { off: offset, len };
    let mut stat = PageCache::default();
    // SAFETY: both pointers are to live values of the layouts the call expects.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut stat as *mut PageCache,
            0,
        )
    };
    assert_eq!(rc, 0, "cachestat: {}", std::io::Error::last_os_error());
    stat
}

/// The size of a memory page.
#[cfg(target_os = "linux")]
pub fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// A server root on a disk-backed file system: tmpfs (a common `/tmp`) has no writeback and
/// never drops a file's pages, so `cachestat` counts none of them dirty or evicted.
#[cfg(target_os = "linux")]
pub fn root_on_disk() -> TempDir {
    let root = TempDir::new_in(Path::new(env!("CARGO_TARGET_TMPDIR")), "root");
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let fs = rustix::fs::statfs(root.path()).unwrap();
    assert!(
        fs.f_type as i64 != TMPFS_MAGIC,
        "{} is on tmpfs: this test needs a disk-backed target directory",
        root.path().display()
    );
    root
}
