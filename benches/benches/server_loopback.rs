//! End-to-end throughput of `ftp-server` over loopback: RETR and STOR of one large file
//! (1 GiB by default), beside raw loopback TCP measured in the same run, and beside vsftpd
//! serving the same file to the same client.
//!
//! ```sh
//! cargo bench -p ftp-benches --bench server_loopback
//! FTP_BENCH_SIZE_MIB=256 FTP_BENCH_RUNS=5 cargo bench -p ftp-benches --bench server_loopback
//! FTP_BENCH_VSFTPD=0 cargo bench -p ftp-benches --bench server_loopback   # without vsftpd
//! ```
//!
//! * **Client**: one minimal FTP client (std sockets, EPSV, TYPE I, 1 MiB buffers), the same
//!   for every server; the raw-TCP baseline uses the same read and write loops. A transfer is
//!   timed from the RETR/STOR command to the 226 reply (so STOR includes the server making the
//!   file durable or visible). Every server and the baseline run once per round, for
//!   `FTP_BENCH_RUNS` rounds (default 5), so that a noisy machine affects them alike; the
//!   table shows the best and the median, the median over each baseline's median ("x raw",
//!   "x file"), and the median CPU seconds per GiB this process spent (the client, and our
//!   server, which runs in process: what zero copy saves).
//! * **Baselines**: raw loopback TCP memory to memory; and raw loopback TCP whose serving
//!   side reads the file and writes uploads into a new file with the same loop as
//!   `ftp-server`'s (2 MiB reads, 256 KiB file writes): the floor for any server that stores
//!   files on this machine.
//! * **Uploads** each create a new file, deleted (untimed, then `sync`) after the round's
//!   STOR. Before each timed upload, of every server, the bench touches and frees as much
//!   memory as the file will need (see `recycle_memory`): on a virtual machine that returns
//!   free memory to its host, a new file's page cache is otherwise faulted in from the host,
//!   and uploads measured that instead of the server (1.0 to 3.2 GB/s from run to run).
//! * **ftp-server** runs in this process on a 2-worker tokio runtime over `FsStorage`: with its
//!   defaults but without `fsync` (what vsftpd does), which send downloads from the page
//!   cache (`Server::sendfile_cached`); copying downloads through the transfer buffer
//!   (256 KiB, and 2 MiB); with zero copy on the blocking pool (`sendfile` down, `splice`
//!   up); and with the defaults including `fsync` before the 226.
//! * **vsftpd** is started with the repository's `ftp-client/tests/peers/run-vsftpd.sh` (as
//!   root, after `bash ftp-client/tests/peers/install.sh`, which unpacks the Debian package)
//!   on the same directory. Without it the vsftpd lines say why they are missing.
//! * The file lives in `FTP_BENCH_DIR` (default: the system temporary directory) and is read
//!   once before timing, so every server reads it from the page cache.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ftp_proto::addr::{parse_epsv_reply, Leniency};
use ftp_server::auth::{Anonymous, Permissions, UserTable};
use ftp_server::storage::{FsStorage, VirtualPath};
use ftp_server::Server;

const BUF: usize = 1 << 20;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A minimal FTP client: just enough for timed RETR and STOR.
struct Client {
    ctl: BufReader<TcpStream>,
}

impl Client {
    fn login(addr: SocketAddr, user: &str, password: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut client = Self {
            ctl: BufReader::new(stream),
        };
        client.expect(None, 220)?;
        client.expect(Some(&format!("USER {user}")), 331)?;
        client.expect(Some(&format!("PASS {password}")), 230)?;
        client.expect(Some("TYPE I"), 200)?;
        Ok(client)
    }

    fn reply(&mut self) -> std::io::Result<(u16, String)> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.ctl.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("control connection closed"));
            }
            let bytes = line.as_bytes();
            if bytes.len() >= 4 && bytes[..3].iter().all(u8::is_ascii_digit) && bytes[3] == b' ' {
                let code = line[..3].parse().unwrap_or(0);
                return Ok((code, line.trim_end().to_owned()));
            }
        }
    }

    fn expect(&mut self, command: Option<&str>, code: u16) -> std::io::Result<String> {
        if let Some(command) = command {
            self.ctl
                .get_mut()
                .write_all(format!("{command}\r\n").as_bytes())?;
        }
        let (got, text) = self.reply()?;
        if got != code {
            return Err(std::io::Error::other(format!("{command:?}: {text}")));
        }
        Ok(text)
    }

    fn epsv(&mut self) -> std::io::Result<TcpStream> {
        let text = self.expect(Some("EPSV"), 229)?;
        let port = parse_epsv_reply(text.as_bytes(), Leniency::Strict)
            .map_err(|e| std::io::Error::other(format!("bad EPSV reply {text}: {e}")))?;
        let peer = self.ctl.get_ref().peer_addr()?;
        TcpStream::connect((peer.ip(), port))
    }

    fn start(&mut self, command: &str) -> std::io::Result<()> {
        self.ctl
            .get_mut()
            .write_all(format!("{command}\r\n").as_bytes())?;
        match self.reply()? {
            (125 | 150, _) => Ok(()),
            (_, text) => Err(std::io::Error::other(format!("{command}: {text}"))),
        }
    }

    /// RETR `name` into a sink; returns the bytes and the time to the 226.
    fn retr(&mut self, name: &str) -> std::io::Result<(u64, Duration)> {
        let mut data = self.epsv()?;
        let started = Instant::now();
        self.start(&format!("RETR {name}"))?;
        let bytes = drain(&mut data)?;
        drop(data);
        self.expect(None, 226)?;
        Ok((bytes, started.elapsed()))
    }

    /// STOR `len` bytes as `name`; returns the time to the 226.
    fn stor(&mut self, name: &str, len: u64) -> std::io::Result<Duration> {
        let mut data = self.epsv()?;
        let started = Instant::now();
        self.start(&format!("STOR {name}"))?;
        fill(&mut data, len)?;
        data.shutdown(std::net::Shutdown::Write)?;
        let mut rest = [0u8; 64];
        while data.read(&mut rest)? > 0 {}
        drop(data);
        self.expect(None, 226)?;
        Ok(started.elapsed())
    }
}

/// Reads to the end in 1 MiB reads.
fn drain(stream: &mut TcpStream) -> std::io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buf)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

/// Writes `len` bytes in 1 MiB writes.
fn fill(stream: &mut TcpStream, len: u64) -> std::io::Result<()> {
    let buf = vec![0x5Au8; BUF];
    let mut left = len;
    while left > 0 {
        let n = left.min(BUF as u64) as usize;
        stream.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Deletes an uploaded file and waits until the file system has finished with it (`sync`):
/// deleting a file whose blocks were written (the fsync row) makes the file system discard
/// them in the background, which slowed whichever upload came next by half.
fn remove_and_settle(path: &Path) -> std::io::Result<()> {
    std::fs::remove_file(path)?;
    Command::new("sync").status()?;
    Ok(())
}

/// Touches and frees `len` bytes of fresh memory, just before an upload is timed.
///
/// On a virtual machine that hands its free memory back to the host (virtio-balloon free page
/// reporting, as on the machine this was measured on), the page cache of a new 1 GiB file is
/// otherwise faulted in from the host page by page: slower than the transfer itself, and it
/// varied threefold from run to run depending on how long ago the last upload was deleted.
/// After this, uploads get memory the guest already holds, as on a busy server whose page
/// cache recycles itself. Every server's upload gets the same treatment.
fn recycle_memory(len: u64) {
    let mut memory = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    for page in memory.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(&memory);
}

/// The raw baselines' file side: reads of 2 MiB, file writes of 256 KiB, as `ftp-server`'s
/// local copy loop does.
const FILE_READ: usize = 2 << 20;
const FILE_WRITE: usize = 256 << 10;

/// Raw loopback TCP with the client's loops: the times to receive `len` bytes and to send
/// them. With `files`, the serving side reads what it sends from `files.0` and writes what it
/// receives into the new file `files.1` (deleted afterwards), and the upload is timed until
/// that file is written: the floor for any server that stores into files on this machine.
/// Without, both sides use memory only.
fn raw_tcp(len: u64, files: Option<(PathBuf, PathBuf)>) -> (Duration, Duration) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stored_tx, stored_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let (mut down, _) = listener.accept().unwrap();
        match &files {
            Some((source, _)) => copy_through(&mut std::fs::File::open(source).unwrap(), |buf| {
                down.write_all(buf)
            }),
            None => fill(&mut down, len).unwrap(),
        }
        drop(down);
        let (mut up, _) = listener.accept().unwrap();
        match &files {
            Some((_, target)) => {
                let mut file = std::fs::File::create(target).unwrap();
                copy_through(&mut up, |buf| {
                    buf.chunks(FILE_WRITE)
                        .try_for_each(|piece| file.write_all(piece))
                });
            }
            None => assert_eq!(drain(&mut up).unwrap(), len),
        }
        stored_tx.send(()).unwrap();
        if let Some((_, target)) = files {
            remove_and_settle(&target).unwrap();
        }
    });
    let mut down = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    assert_eq!(drain(&mut down).unwrap(), len);
    let receive = started.elapsed();
    recycle_memory(len);
    let mut up = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    fill(&mut up, len).unwrap();
    drop(up);
    stored_rx.recv().unwrap();
    let send = started.elapsed();
    server.join().unwrap();
    (receive, send)
}

/// Reads `from` in `FILE_READ` pieces and hands each to `write`, to the end.
fn copy_through(from: &mut impl Read, mut write: impl FnMut(&[u8]) -> std::io::Result<()>) {
    let mut buf = vec![0u8; FILE_READ];
    loop {
        match from.read(&mut buf).unwrap() {
            0 => return,
            n => write(&buf[..n]).unwrap(),
        }
    }
}

/// CPU time this process has used so far (user + system), from `/proc/self/stat`; `None`
/// where there is no such file.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux configuration that matters here.
    Some(ticks as f64 / 100.0)
}

/// Runs `f` and returns its result with the CPU seconds this process spent meanwhile.
fn with_cpu<T>(f: impl FnOnce() -> T) -> (T, Option<f64>) {
    let before = cpu_seconds();
    let result = f();
    let spent = cpu_seconds()
        .zip(before)
        .map(|(after, before)| after - before);
    (result, spent)
}

fn mb_per_s(len: u64, time: Duration) -> f64 {
    len as f64 / time.as_secs_f64() / 1e6
}

/// The best and the median of a series of timings.
#[derive(Default)]
struct Series(Vec<Duration>);

impl Series {
    fn best(&self) -> Option<Duration> {
        self.0.iter().min().copied()
    }

    fn median(&self) -> Option<Duration> {
        let mut sorted = self.0.clone();
        sorted.sort();
        sorted.get(sorted.len() / 2).copied()
    }
}

type Target = (SocketAddr, &'static str, &'static str);

struct Row {
    name: String,
    retr: Series,
    stor: Series,
    /// CPU seconds of this process per transfer (client and, in process, server).
    retr_cpu: Vec<f64>,
    stor_cpu: Vec<f64>,
    note: String,
    target: Option<Target>,
}

impl Row {
    fn new(name: &str, note: &str, target: Option<Target>) -> Self {
        Self {
            name: name.into(),
            retr: Series::default(),
            stor: Series::default(),
            retr_cpu: Vec::new(),
            stor_cpu: Vec::new(),
            note: note.into(),
            target,
        }
    }

    /// One RETR and one STOR through this row's server; the uploaded file is deleted
    /// afterwards (untimed), so dirty pages never pile up and throttle later uploads.
    fn run(&mut self, root: &Path, len: u64, tag: usize) -> std::io::Result<()> {
        let Some((addr, user, password)) = self.target else {
            return Ok(());
        };
        let mut client = Client::login(addr, user, password)?;
        let (retr, cpu) = with_cpu(|| client.retr("bench.bin"));
        let (bytes, time) = retr?;
        if bytes != len {
            return Err(std::io::Error::other("short download"));
        }
        self.retr.0.push(time);
        self.retr_cpu.extend(cpu);
        let name = format!("upload-{tag}.bin");
        recycle_memory(len);
        let (stor, cpu) = with_cpu(|| client.stor(&name, len));
        self.stor.0.push(stor?);
        self.stor_cpu.extend(cpu);
        client.expect(Some("QUIT"), 221)?;
        remove_and_settle(&root.join(name))
    }
}

/// What a row of ours changes from the defaults.
struct Variant {
    splice: bool,
    sendfile: bool,
    /// `Server::sendfile_cached`.
    cached: bool,
    sync: bool,
    /// `Server::transfer_buffer`.
    buffer: usize,
}

/// Our server on `runtime`, over `root`.
fn ours(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    variant: &Variant,
) -> std::io::Result<ftp_server::RunningServer> {
    let mut users = UserTable::new();
    users
        .add("bench", "bench", VirtualPath::root(), Permissions::ALL)
        .map_err(std::io::Error::other)?;
    let server = Server::new(FsStorage::new(root)?.sync_uploads(variant.sync))
        .listen("127.0.0.1:0".parse().unwrap())
        .authenticator(users)
        .anonymous(Anonymous::read_only())
        .splice(variant.splice)
        .sendfile(variant.sendfile)
        .sendfile_cached(variant.cached)
        .transfer_buffer(variant.buffer);
    runtime.block_on(server.start_tokio())
}

/// vsftpd from the repository's peer scripts, on `root`; stopped (by PID) when dropped.
struct Vsftpd {
    child: Child,
    _tmp: TempDir,
}

impl Vsftpd {
    fn start(root: &Path, port: u16) -> Result<Self, String> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../ftp-client/tests/peers/run-vsftpd.sh");
        let tmp = TempDir::new("vsftpd")?;
        let log = std::fs::File::create(tmp.0.join("vsftpd.log")).map_err(|e| e.to_string())?;
        let child = Command::new("bash")
            .arg(&script)
            .arg(port.to_string())
            .arg(root)
            .arg(&tmp.0)
            .args(["21000", "21100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let vsftpd = Self { child, _tmp: tmp };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let greeting = TcpStream::connect(("127.0.0.1", port)).ok().and_then(|s| {
                s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                let mut line = String::new();
                BufReader::new(s).read_line(&mut line).ok()?;
                Some(line)
            });
            if greeting.is_some_and(|line| line.starts_with("220")) {
                return Ok(vsftpd);
            }
            if Instant::now() > deadline {
                return Err(format!("vsftpd did not start ({} ran)", script.display()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        // The script's children first (vsftpd and its sessions), by parent PID, then the script.
        let pid = self.child.id().to_string();
        let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory below the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("ftp-bench-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test` of the benches does not run this.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let len = env_u64("FTP_BENCH_SIZE_MIB", 1024) << 20;
    let runs = env_u64("FTP_BENCH_RUNS", 5).max(1);
    let base = std::env::var("FTP_BENCH_DIR").map_or_else(|_| std::env::temp_dir(), PathBuf::from);
    let root = base.join(format!("ftp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let file = root.join("bench.bin");
    {
        let mut out = std::fs::File::create(&file).unwrap();
        let chunk: Vec<u8> = (0..BUF).map(|i| (i * 7 + i / 4096) as u8).collect();
        let mut left = len;
        while left > 0 {
            let n = left.min(BUF as u64) as usize;
            out.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        out.sync_all().unwrap();
    }
    // Warm the page cache.
    let _ = std::io::copy(
        &mut std::fs::File::open(&file).unwrap(),
        &mut std::io::sink(),
    );

    println!(
        "server_loopback: {} MiB, {runs} interleaved runs, MB/s = 10^6 bytes per second",
        len >> 20
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rows = vec![
        Row::new(
            "raw loopback TCP",
            "memory to memory, same client loops",
            None,
        ),
        Row::new(
            "raw TCP, files",
            "server side reads the file, writes a new one",
            None,
        ),
    ];
    const BASELINES: usize = 2;
    let mut running = Vec::new();
    let variant = |splice, sendfile, cached, sync, buffer| Variant {
        splice,
        sendfile,
        cached,
        sync,
        buffer,
    };
    const DEFAULT_BUFFER: usize = 256 << 10;
    for (name, variant, note) in [
        (
            "ftp-server",
            variant(false, false, true, false, DEFAULT_BUFFER),
            "defaults (RETR from the page cache), but no fsync, like vsftpd",
        ),
        (
            "ftp-server, copied",
            variant(false, false, false, false, DEFAULT_BUFFER),
            "RETR copied through 256 KiB; no fsync",
        ),
        (
            "ftp-server, 2 MiB buffer",
            variant(false, false, false, false, 2 << 20),
            "copied through transfer_buffer(2 MiB); no fsync",
        ),
        (
            "ftp-server, zero copy",
            variant(true, true, false, false, DEFAULT_BUFFER),
            "sendfile on the pool down, splice up; no fsync",
        ),
        (
            "ftp-server, fsync",
            variant(false, false, true, true, DEFAULT_BUFFER),
            "defaults: fsync before 226",
        ),
    ] {
        match ours(&runtime, &root, &variant) {
            Ok(server) => {
                let target = (server.local_addrs()[0], "bench", "bench");
                rows.push(Row::new(name, note, Some(target)));
                running.push(server);
            }
            Err(e) => rows.push(Row::new(name, &format!("failed to start: {e}"), None)),
        }
    }
    let vsftpd = if env_u64("FTP_BENCH_VSFTPD", 1) == 1 {
        let port = 20000 + (std::process::id() % 5000) as u16;
        match Vsftpd::start(&root, port) {
            Ok(vsftpd) => {
                let target = (
                    SocketAddr::from(([127, 0, 0, 1], port)),
                    "ftptest",
                    "ftptest",
                );
                rows.push(Row::new("vsftpd 3.0 (Debian)", "no fsync", Some(target)));
                Some(vsftpd)
            }
            Err(e) => {
                rows.push(Row::new("vsftpd", &format!("skipped: {e}"), None));
                None
            }
        }
    } else {
        None
    };
    for _ in 0..runs {
        let raw_files = (file.clone(), root.join("raw-upload.bin"));
        for (row, files) in rows.iter_mut().zip([None, Some(raw_files)]) {
            let ((down, up), cpu) = with_cpu(|| raw_tcp(len, files));
            row.retr.0.push(down);
            row.stor.0.push(up);
            // Both directions in one measurement: half each.
            row.retr_cpu.extend(cpu.map(|c| c / 2.0));
            row.stor_cpu.extend(cpu.map(|c| c / 2.0));
        }
        for (tag, row) in rows.iter_mut().enumerate().skip(BASELINES) {
            if let Err(e) = row.run(&root, len, tag) {
                row.note = format!("failed: {e}");
                row.target = None;
            }
        }
    }
    drop(vsftpd);
    for server in running {
        runtime.block_on(server.shutdown());
    }

    let rate =
        |t: Option<Duration>| t.map_or("-".to_owned(), |t| format!("{:.0}", mb_per_s(len, t)));
    let ratio = |t: Option<Duration>, base: Option<Duration>| match (t, base) {
        (Some(t), Some(base)) => format!("{:.2}", base.as_secs_f64() / t.as_secs_f64()),
        _ => "-".to_owned(),
    };
    // CPU seconds per GiB of this process (the client, plus our server when in process).
    let cpu = |samples: &[f64], in_process: bool| {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        match sorted.get(sorted.len() / 2) {
            Some(c) if in_process => format!("{:.2}", c * (1u64 << 30) as f64 / len as f64),
            Some(_) => "client".to_owned(),
            None => "-".to_owned(),
        }
    };
    let (raw_retr, raw_stor) = (rows[0].retr.median(), rows[0].stor.median());
    let (file_retr, file_stor) = (rows[1].retr.median(), rows[1].stor.median());
    println!(
        "{:<24} {:>9} {:>7} {:>6} {:>6} {:>6} {:>9} {:>7} {:>6} {:>6} {:>6}  note",
        "",
        "RETR best",
        "median",
        "x raw",
        "x file",
        "CPU",
        "STOR best",
        "median",
        "x raw",
        "x file",
        "CPU"
    );
    for row in &rows {
        let in_process = !row.name.starts_with("vsftpd");
        println!(
            "{:<24} {:>9} {:>7} {:>6} {:>6} {:>6} {:>9} {:>7} {:>6} {:>6} {:>6}  {}",
            row.name,
            rate(row.retr.best()),
            rate(row.retr.median()),
            ratio(row.retr.median(), raw_retr),
            ratio(row.retr.median(), file_retr),
            cpu(&row.retr_cpu, in_process),
            rate(row.stor.best()),
            rate(row.stor.median()),
            ratio(row.stor.median(), raw_stor),
            ratio(row.stor.median(), file_stor),
            cpu(&row.stor_cpu, in_process),
            row.note
        );
    }
    println!(
        "x raw, x file: the median over the median of the raw baseline, memory to memory, and \
         of the raw baseline with files"
    );
    println!(
        "CPU: median CPU seconds per GiB of this process (client and in-process server; for \
         vsftpd only the client is in this process)"
    );
    let _ = std::fs::remove_dir_all(&root);
}
