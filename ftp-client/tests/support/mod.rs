//! The integration tests' harness: real FTP servers (vsftpd, pure-ftpd, ProFTPD, pyftpdlib)
//! started on free 127.0.0.1 ports by the scripts in `tests/peers`, stopped by process group
//! when the [`Peer`] is dropped, every wait bounded.
//!
//! `tests/peers/install.sh` installs the servers (once; `.ci/run` does it before the tests).
//! The servers need root. Set `FTP_CLIENT_SKIP_PEERS=1` to skip the real-server tests on a
//! machine that cannot run them; CI never sets it.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub const USER: &str = "ftptest";
pub const PASS: &str = "ftptest";

/// The directory of the peer scripts (this file is also compiled into examples/ftp's tests,
/// whose manifest lives beside ftp-client).
fn scripts() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = crate_dir.join("tests/peers");
    if own.is_dir() {
        own
    } else {
        crate_dir.join("../ftp-client/tests/peers")
    }
}

/// Where the scripts keep the servers and certificates.
pub fn cache() -> PathBuf {
    std::env::var_os("FTP_CLIENT_PEERS_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ftp-client-peers"))
}

/// True when the real-server tests are switched off for this machine.
pub fn skip_peers() -> bool {
    if std::env::var_os("FTP_CLIENT_SKIP_PEERS").is_some_and(|v| v == "1") {
        eprintln!("FTP_CLIENT_SKIP_PEERS=1: real-server test skipped");
        return true;
    }
    false
}

/// Runs `install.sh` once per test process.
fn install() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let status = Command::new("bash")
            .arg(scripts().join("install.sh"))
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "tests/peers/install.sh failed (it needs root and apt/pip access); \
             set FTP_CLIENT_SKIP_PEERS=1 to skip the real-server tests"
        );
    });
}

/// The servers the tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// vsftpd 3.0.3; `ssl_reuse` sets `require_ssl_reuse=YES`, `implicit` makes it speak
    /// implicit FTPS only.
    Vsftpd { ssl_reuse: bool, implicit: bool },
    /// Pure-FTPd 1.0.50.
    PureFtpd,
    /// ProFTPD 1.3.8 with mod_tls: explicit FTPS (TLS 1.2 and 1.3) whose data connections
    /// must resume the control connection's TLS session; `tls_required` sets `TLSRequired
    /// on` (no plain-text login or transfer), off for plain FTP.
    Proftpd { tls_required: bool },
    /// pyftpdlib 2.x.
    Pyftpdlib,
    /// This workspace's `ftp-server`, in-process on its async-io runtime, on the filesystem,
    /// with explicit FTPS available; `tls_reuse` requires data connections to resume the
    /// control connection's TLS session and offers TLS 1.3 only, so that the reuse tests
    /// exercise TLS 1.3 tickets (TLS 1.2 session ids are reusable and never run out).
    Ours { tls_reuse: bool },
}

impl Server {
    fn script(self) -> &'static str {
        match self {
            Self::Vsftpd { .. } => "run-vsftpd.sh",
            Self::PureFtpd => "run-pure-ftpd.sh",
            Self::Proftpd { .. } => "run-proftpd.sh",
            Self::Pyftpdlib => "run-pyftpdlib.sh",
            Self::Ours { .. } => unreachable!("ftp-server runs in-process"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Vsftpd { .. } => "vsftpd",
            Self::PureFtpd => "pure-ftpd",
            Self::Proftpd { .. } => "proftpd",
            Self::Pyftpdlib => "pyftpdlib",
            Self::Ours { .. } => "ftp-server",
        }
    }
}

/// A free TCP port on 127.0.0.1 (the system's choice).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// A run of `n` ports that are free now, for a server's passive range.
fn free_range(n: u16) -> (u16, u16) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    loop {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = 20_000 + ((seed.wrapping_add(k * 131)) % 400) as u16 * 25;
        let all_free = (base..base + n).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return (base, base + n - 1);
        }
    }
}

/// A running server; stopped (its whole process group) when dropped.
pub struct Peer {
    pub server: Server,
    pub port: u16,
    /// The directory the login user sees as `/`.
    pub root: PathBuf,
    dir: PathBuf,
    process: Process,
}

/// How a peer runs: a script's process group, or our server in this process.
enum Process {
    Script(Child),
    InProcess(ftp_server::RunningServer),
}

/// Starts this workspace's server on `port` serving `root` to the test user.
fn start_ftp_server(tls_reuse: bool, port: u16, root: &Path, (min, max): (u16, u16)) -> Process {
    let mut users = ftp_server::auth::UserTable::insecure_fast();
    users
        .add(
            USER,
            PASS,
            ftp_server::storage::VirtualPath::root(),
            ftp_server::auth::Permissions::ALL,
        )
        .unwrap();
    let certs = cache().join("certs");
    let tls = ftp_server::TlsConfig::from_pem_files(certs.join("cert.pem"), certs.join("key.pem"))
        .expect("the test certificate (install.sh makes it)");
    let tls = if tls_reuse { tls13_only(&tls) } else { tls };
    let storage = ftp_server::storage::FsStorage::new(root).unwrap();
    let server = ftp_server::Server::new(storage)
        .listen(([127, 0, 0, 1], port).into())
        .authenticator(users)
        .passive_ports(min..=max)
        .tls(tls)
        .require_tls_session_reuse(tls_reuse);
    Process::InProcess(async_io::block_on(server.start_async_io()).expect("start ftp-server"))
}

/// The same certificate and settings, TLS 1.3 only.
fn tls13_only(tls: &ftp_server::TlsConfig) -> ftp_server::TlsConfig {
    use ftp_client::rustls;
    let given = tls.rustls();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&given.cert_resolver));
    config.send_tls13_tickets = given.send_tls13_tickets;
    ftp_server::TlsConfig::from_rustls(Arc::new(config))
}

impl Peer {
    /// Starts `server` and waits (at most 60 s) until it greets.
    pub fn start(server: Server) -> Self {
        install();
        let port = free_port();
        let (pasv_min, pasv_max) = free_range(20);
        let dir = std::env::temp_dir().join(format!(
            "ftp-client-tests/{}-{port}-{}",
            server.name(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let log = std::fs::File::create(dir.join("server.log")).unwrap();
        if let Server::Ours { tls_reuse } = server {
            let process = start_ftp_server(tls_reuse, port, &root, (pasv_min, pasv_max));
            let mut peer = Self {
                server,
                port,
                root,
                dir,
                process,
            };
            peer.wait_ready(Duration::from_secs(10));
            return peer;
        }
        let mut command = Command::new("bash");
        command
            .arg(scripts().join(server.script()))
            .arg(port.to_string())
            .arg(&root)
            .arg(&tmp)
            .arg(pasv_min.to_string())
            .arg(pasv_max.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Server::Vsftpd {
            ssl_reuse,
            implicit,
        } = server
        {
            command.env("VSFTPD_SSL_REUSE", if ssl_reuse { "YES" } else { "NO" });
            command.env("VSFTPD_IMPLICIT", if implicit { "YES" } else { "NO" });
        }
        if let Server::Proftpd { tls_required } = server {
            command.env(
                "PROFTPD_TLS_REQUIRED",
                if tls_required { "on" } else { "off" },
            );
        }
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command.spawn().expect("spawn the server script");
        let mut peer = Self {
            server,
            port,
            root,
            dir,
            process: Process::Script(child),
        };
        peer.wait_ready(Duration::from_secs(60));
        peer
    }

    /// Waits until the server greets (for implicit FTPS, until it accepts connections).
    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Process::Script(child) = &mut self.process {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{} exited ({status}) before greeting; log:\n{}",
                        self.server.name(),
                        self.log()
                    );
                }
            }
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                if let Server::Vsftpd { implicit: true, .. } = self.server {
                    return;
                }
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_ok() && line.starts_with("220") {
                    let _ = stream.write_all(b"QUIT\r\n");
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not greet within {limit:?}; log:\n{}",
                self.server.name(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `ftp://user:pass@127.0.0.1:port/`.
    pub fn url(&self) -> String {
        format!("ftp://{USER}:{PASS}@127.0.0.1:{}/", self.port)
    }

    /// The test CA that signed the servers' certificate.
    pub fn ca_pem() -> Vec<u8> {
        std::fs::read(cache().join("certs/ca.pem")).expect("the test CA (install.sh makes it)")
    }

    /// A file in the server's root.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let child = match &mut self.process {
            Process::Script(child) => child,
            Process::InProcess(server) => {
                server.shutdown_handle().shutdown();
                if !std::thread::panicking() {
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
                return;
            }
        };
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Text with LF line ends (and no CR), for TYPE A tests.
pub fn text(lines: usize) -> Vec<u8> {
    (0..lines)
        .flat_map(|i| format!("line {i}: the quick brown fox\n").into_bytes())
        .collect()
}

/// Asserts two byte strings are equal without printing megabytes.
#[track_caller]
pub fn assert_same(actual: &[u8], expected: &[u8], what: &str) {
    if actual != expected {
        let at = actual
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(actual.len().min(expected.len()));
        panic!(
            "{what}: {} bytes, expected {}; first difference at {at}",
            actual.len(),
            expected.len()
        );
    }
}

/// A scripted FTPS server that behaves like ftp-srv: it answers the transfer command only
/// after the data connection's TLS handshake, so a client that waits for the 1yz before
/// starting that handshake (as vsftpd needs) must start it after a grace instead. Explicit
/// TLS, passive (EPSV), one `RETR` of `payload`, then `QUIT`. Sends, on `waited`, how long
/// the client's ClientHello came after the `RETR`.
pub fn start_answers_after_data_handshake(
    payload: Vec<u8>,
    waited: std::sync::mpsc::Sender<Duration>,
) -> (u16, std::thread::JoinHandle<()>) {
    use ftp_client::rustls::{ServerConnection, StreamOwned};

    install();
    let certs = cache().join("certs");
    let config =
        ftp_server::TlsConfig::from_pem_files(certs.join("cert.pem"), certs.join("key.pem"))
            .expect("the test certificate (install.sh makes it)")
            .rustls()
            .clone();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accept_tls = move |tcp: TcpStream| {
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let conn = ServerConnection::new(Arc::clone(&config)).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
        }
        tls
    };
    let thread = std::thread::spawn(move || {
        let (control, _) = listener.accept().unwrap();
        control
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut plain = BufReader::new(control);
        plain.get_mut().write_all(b"220 ftp-srv-like\r\n").unwrap();
        let mut line = String::new();
        plain.read_line(&mut line).unwrap();
        assert_eq!(line, "AUTH TLS\r\n");
        plain.get_mut().write_all(b"234 Go ahead.\r\n").unwrap();
        let mut control = BufReader::new(accept_tls(plain.into_inner()));
        let mut data_listener = None;
        loop {
            let mut line = String::new();
            if control.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "PBSZ" | "PROT" | "TYPE" | "OPTS" => b"200 OK.\r\n",
                "USER" => b"331 Password?\r\n",
                "PASS" => b"230 In.\r\n",
                "FEAT" => b"211-Features:\r\n EPSV\r\n211 End\r\n",
                "EPSV" => {
                    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                    let port = listener.local_addr().unwrap().port();
                    data_listener = Some(listener);
                    let reply = format!("229 Entering Extended Passive Mode (|||{port}|)\r\n");
                    control.get_mut().write_all(reply.as_bytes()).unwrap();
                    continue;
                }
                "RETR" => {
                    let asked = Instant::now();
                    let (data, _) = data_listener.take().unwrap().accept().unwrap();
                    // The handshake first, then the 150 (ftp-srv's order).
                    let mut data = accept_tls(data);
                    waited.send(asked.elapsed()).unwrap();
                    control
                        .get_mut()
                        .write_all(b"150 Here it comes.\r\n")
                        .unwrap();
                    data.write_all(&payload).unwrap();
                    data.conn.send_close_notify();
                    data.flush().unwrap();
                    drop(data);
                    b"226 Done.\r\n"
                }
                "QUIT" => {
                    control.get_mut().write_all(b"221 Bye.\r\n").unwrap();
                    return;
                }
                _ => b"502 Not here.\r\n",
            };
            control.get_mut().write_all(reply).unwrap();
        }
    });
    (port, thread)
}
