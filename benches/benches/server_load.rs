//! `ftp-server` under concurrent load, side by side with vsftpd, pure-ftpd and pyftpdlib, in
//! the spirit of pyftpdlib's ftpbench. Every server is measured in the same run, one after the
//! other, over loopback (127.0.0.1 only), by the same load client.
//!
//! ```sh
//! bash ftp-client/tests/peers/install.sh      # once, as root: vsftpd, pure-ftpd, pyftpdlib
//! cargo bench -p ftp-benches --bench server_load
//! # a quick run:
//! FTP_LOAD_CLIENTS=50 FTP_LOAD_FILE_MB=2 FTP_LOAD_IDLE=1000 FTP_LOAD_SMALL_FILES=200 \
//!   FTP_LOAD_SETTLE_SECS=5 FTP_LOAD_SERVERS=tokio,async-io \
//!   cargo bench -p ftp-benches --bench server_load
//! ```
//!
//! `FTP_LOAD_ROWS=small,tls` measures only those rows (of `idle,logins,small,retr,stor,tls`);
//! the idle baseline and the settled memory are always measured.
//!
//! What is measured, for each server (`FTP_LOAD_SERVERS`, default
//! `tokio,async-io,vsftpd,pure-ftpd,pyftpdlib`):
//!
//! 1. **Idle sessions**: the server's memory with `FTP_LOAD_CLIENTS` (300) and with
//!    `FTP_LOAD_IDLE` (10,000) logged-in idle sessions; per session = (mem_N - mem_0) / N,
//!    mem_0 measured just before, after a first round of `FTP_LOAD_CLIENTS` sessions came
//!    and went unmeasured (what the first sessions cost once is not a cost per session);
//!    mem_N is read `FTP_LOAD_IDLE_HOLD_SECS` (12) after the last session logged in, past
//!    the blocking pools' 10 s keep-alive: the threads that checked the passwords are gone
//!    and the sessions are idle.
//!    Servers that fork per session (vsftpd, pure-ftpd) are capped at
//!    `FTP_LOAD_IDLE_FORKING` (1,000) sessions: two processes per vsftpd session
//!    would take 20,000 of this machine's 32,768 process ids. Debian's pure-ftpd refuses more
//!    than 500 sessions whatever its `-c` says (the cell shows its 421).
//! 2. **Logins**: `FTP_LOAD_CLIENTS` concurrent clients each connect, USER/PASS (all as the
//!    one test user, with its password) and QUIT; the wall time from the start signal to the
//!    last client done (a client that hears nothing for 30 s fails: the wall time then
//!    includes that wait), and logins per second. The kernel's count of accept queue
//!    overflows meanwhile is shown with any failure.
//! 3. **Small files**: `FTP_LOAD_SMALL_FILES` (1,000) RETRs of distinct 1 KiB files in one
//!    session (EPSV, TYPE I); files per second, and the server's CPU time per file (user and
//!    system, from `/proc/PID/stat`, summed over its processes: the kernel's work for the
//!    loopback connections is in it). A round row: see below.
//! 4. **Transfers**: `FTP_LOAD_CLIENTS` clients log in (16 at a time, so that a small accept
//!    queue does not turn this row into a second logins row), then all at once RETR the same
//!    `FTP_LOAD_FILE_MB` (10) MB file (aggregate MB/s, from the start signal to the last 226);
//!    then all at once STOR as many files of that size (deleted afterwards; every dirty page
//!    is written out first, so that no server's uploads share the disk with the writeback of
//!    the fixture or of the server before); with the server's highest memory during any
//!    round of each. The STOR row is read a second way, until every byte is on disk: right
//!    after the last client is done the bench runs `sync(1)`, and its time counts too.
//!    ftp-server's 226 comes after `fsync` (by default), the peers' without waiting for the
//!    kernel's write-back. `sync` writes out every dirty page of the machine, so run nothing
//!    else meanwhile; on a file system in memory (tmpfs) this row says so instead. Round
//!    rows: see below.
//! 5. **Small FTPS uploads**: `FTP_LOAD_TLS_FILES` (500) STORs of 1 KiB files in one
//!    explicit-FTPS session with `PROT P`, by Python's `ftplib` (`FTP_TLS`, which waits for
//!    the server's close_notify after each upload); files per second, read as the STORs
//!    are: until the last 226, and until every file is on disk as well (`sync` before the
//!    round, `os.sync()` right after its last upload). Every server uses the peers' test
//!    certificate (`$FTP_CLIENT_PEERS_CACHE/certs`, made by `install.sh`). A round row.
//!
//!    The round rows (3 to 5) are measured `FTP_LOAD_ROUNDS` (5) times: once after each
//!    server's other rows, then in rounds where the servers take turns. The cell is the
//!    median, with the lowest and highest rounds: this VM's speed drifts by a third from
//!    minute to minute, and one measurement would rank the servers by when each ran (a round
//!    where some client failed counts as failed, and the cell says why). A second table pairs
//!    the rounds: ftp-server's figure divided by each peer's of the same round, as the median
//!    over the rounds with the lowest and highest (rounds where either failed left out).
//! 6. **Returned after load**: the server's memory `FTP_LOAD_SETTLE_SECS` (60) after the last
//!    client of the load rows left, beside its idle memory before any client came. Servers keep
//!    running while the others are measured, so the waits overlap.
//!
//! How:
//! * **Memory** is the sum of PSS (`/proc/PID/smaps_rollup`) over the server's whole process
//!   tree: the same method for a single process (ours, pyftpdlib) and for a process per
//!   session (vsftpd, pure-ftpd), so that shared pages are counted once. Peaks are sampled
//!   every 100 ms.
//! * **ftp-server** runs in a child process (this bench re-executes a copy of itself with
//!   `FTP_LOAD_ROLE=tokio` or `async-io`: a copy, so that no other process shares the pages
//!   of its code and takes part of their PSS), serving the fixture folder with `FsStorage`
//!   (defaults: uploads are fsynced before the 226; the peers do not fsync) and a `UserTable`
//!   with the recommended Argon2id parameters (`FTP_LOAD_ARGON2=fast` for cheap ones;
//!   `FTP_LOAD_LOGIN_CACHE_SECS=60` remembers verified passwords that long, ftpd's
//!   `--login-cache`), and the builder's defaults except `max_sessions` /
//!   `max_sessions_per_ip` (20,000); `FTP_LOAD_FSYNC=0` stores uploads without `fsync`, as
//!   the peers do (ftpd's `--no-fsync`). `FTP_LOAD_POOL_TRANSFERS` sets
//!   `Server::pool_transfers` (64), `FTP_LOAD_SENDFILE=1` turns on `Server::sendfile` and
//!   `FTP_LOAD_SENDFILE_CACHED=0` turns off `Server::sendfile_cached`, for comparing the
//!   download paths under load. The tokio runtime is multi-threaded with its
//!   default worker count (`FTP_LOAD_TOKIO_WORKERS` sets it); async-io uses its built-in
//!   executor.
//! * **Peers** run through `ftp-client/tests/peers/run-*.sh` (as root, after `install.sh`),
//!   with their session caps raised by environment, each with its own passive port range
//!   below the ephemeral ports. Missing peers show why in their column.
//! * **Client**: blocking `std::net` threads with small stacks, EPSV, 256 KiB buffers; idle
//!   sessions are opened by a pool of `FTP_LOAD_LOGIN_WORKERS` (64) threads and then held
//!   without threads.
//! * **Guard**: a server whose memory passes `FTP_LOAD_MEM_LIMIT_MB` (6144) stops the idle
//!   row from opening more sessions (the row says so); past 1.25 times that the bench kills
//!   it, and its column says so: a runaway server must not take the shared machine down.
//! * Files live in `FTP_LOAD_DIR` (default: the system temporary directory), read once before
//!   the run so downloads come from the page cache.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ftp_proto::addr::{parse_epsv_reply, Leniency};
use ftp_server::auth::{Permissions, UserTable};
use ftp_server::storage::{FsStorage, VirtualPath};
use ftp_server::{Server, TlsConfig};

const ROLE_ENV: &str = "FTP_LOAD_ROLE";
const ROOT_ENV: &str = "FTP_LOAD_ROOT";
const USER: &str = "ftptest";
const PASSWORD: &str = "ftptest";
const BUF: usize = 256 << 10;
const BIG_FILE: &str = "load.bin";
const MB: f64 = 1e6;
/// How long a client waits for a reply or for a byte before it counts as failed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_usize(name: &str, default: usize) -> usize {
    usize::try_from(env_u64(name, default as u64)).unwrap_or(default)
}

struct Config {
    servers: Vec<Kind>,
    clients: usize,
    file_len: u64,
    small_files: usize,
    idle: usize,
    idle_forking: usize,
    /// How long the idle sessions are held before the server's memory is read.
    idle_hold: Duration,
    settle: Duration,
    login_workers: usize,
    mem_limit_kib: u64,
    tls_files: usize,
    /// `FTP_LOAD_ROUNDS`: how many times the round rows are measured (see [`ROUND_ROWS`]).
    rounds: usize,
    /// `FTP_LOAD_ROWS`: the rows to measure (`idle,logins,small,retr,stor,tls`); all if unset.
    rows: Option<Vec<String>>,
}

impl Config {
    fn from_env() -> Self {
        let servers = std::env::var("FTP_LOAD_SERVERS")
            .unwrap_or_else(|_| "tokio,async-io,vsftpd,pure-ftpd,pyftpdlib".into());
        Self {
            servers: servers.split(',').filter_map(Kind::parse).collect(),
            clients: env_usize("FTP_LOAD_CLIENTS", 300).max(1),
            file_len: env_u64("FTP_LOAD_FILE_MB", 10) * 1_000_000,
            small_files: env_usize("FTP_LOAD_SMALL_FILES", 1000).max(1),
            idle: env_usize("FTP_LOAD_IDLE", 10_000).max(1),
            idle_forking: env_usize("FTP_LOAD_IDLE_FORKING", 1000).max(1),
            idle_hold: Duration::from_secs(env_u64("FTP_LOAD_IDLE_HOLD_SECS", 12)),
            settle: Duration::from_secs(env_u64("FTP_LOAD_SETTLE_SECS", 60)),
            login_workers: env_usize("FTP_LOAD_LOGIN_WORKERS", 64).max(1),
            tls_files: env_usize("FTP_LOAD_TLS_FILES", 500).max(1),
            rounds: env_usize("FTP_LOAD_ROUNDS", 5).max(1),
            mem_limit_kib: env_u64("FTP_LOAD_MEM_LIMIT_MB", 6144).max(1) << 10,
            rows: std::env::var("FTP_LOAD_ROWS")
                .ok()
                .map(|rows| rows.split(',').map(|row| row.trim().to_owned()).collect()),
        }
    }

    /// Whether the row named `row` is measured in this run.
    fn runs(&self, row: &str) -> bool {
        self.rows
            .as_ref()
            .is_none_or(|rows| rows.iter().any(|r| r == row))
    }

    /// What the idle row opens on `kind`, and why it is less than asked.
    fn idle_for(&self, kind: Kind) -> (usize, Option<String>) {
        if kind.forks() && self.idle > self.idle_forking {
            let why = format!("capped at {} (process per session)", self.idle_forking);
            (self.idle_forking, Some(why))
        } else {
            (self.idle, None)
        }
    }
}

// ---------------------------------------------------------------------------------------
// The servers.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Tokio,
    AsyncIo,
    Vsftpd,
    PureFtpd,
    Pyftpdlib,
}

impl Kind {
    fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "tokio" => Some(Self::Tokio),
            "async-io" => Some(Self::AsyncIo),
            "vsftpd" => Some(Self::Vsftpd),
            "pure-ftpd" => Some(Self::PureFtpd),
            "pyftpdlib" => Some(Self::Pyftpdlib),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Tokio => "ftp-server tokio",
            Self::AsyncIo => "ftp-server async-io",
            Self::Vsftpd => "vsftpd",
            Self::PureFtpd => "pure-ftpd",
            Self::Pyftpdlib => "pyftpdlib",
        }
    }

    fn forks(self) -> bool {
        matches!(self, Self::Vsftpd | Self::PureFtpd)
    }

    fn script(self) -> Option<&'static str> {
        match self {
            Self::Tokio | Self::AsyncIo => None,
            Self::Vsftpd => Some("run-vsftpd.sh"),
            Self::PureFtpd => Some("run-pure-ftpd.sh"),
            Self::Pyftpdlib => Some("run-pyftpdlib.sh"),
        }
    }
}

/// A server in a child process; killed (its whole tree, by PID) when dropped.
struct Running {
    child: Child,
    addr: SocketAddr,
    /// Held open: our server role exits when it closes.
    _stdin: Option<ChildStdin>,
    tmp: PathBuf,
    monitor: Option<Monitor>,
}

impl Running {
    fn start(kind: Kind, root: &Path, index: usize, config: &Config) -> Result<Self, String> {
        let tmp = root.with_extension(format!("tmp-{index}"));
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let mut running = match kind.script() {
            None => start_ours(kind, root, tmp)?,
            Some(script) => start_peer(script, root, tmp, index, config)?,
        };
        running.wait_ready()?;
        running.monitor = Some(Monitor::start(running.pid(), config.mem_limit_kib));
        Ok(running)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Polls until the greeting arrives (at most 20 s) or the child exits.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited at start: {status}"));
            }
            if let Ok(mut client) = Client::connect(self.addr) {
                if client.expect(None, 220).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("no greeting within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn memory(&self) -> Memory {
        Memory::of_tree(self.pid())
    }

    /// The CPU time its processes have used, in seconds (what processes that ended took is
    /// not counted: read it while the sessions measured run).
    fn cpu_seconds(&self) -> f64 {
        let ticks: u64 = descendants(self.pid())
            .into_iter()
            .filter_map(cpu_ticks)
            .sum();
        ticks as f64 / USER_HZ
    }

    fn monitor(&self) -> &Monitor {
        self.monitor.as_ref().expect("started with a monitor")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Ours end when their stdin closes (and may print statistics first); peers are killed.
        if self._stdin.take().is_some() {
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let pids: Vec<String> = descendants(self.pid()).iter().map(u32::to_string).collect();
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(&pids)
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// This bench again, in the server role on `kind`'s runtime; it prints its address.
///
/// It runs from a copy of this executable in `tmp`: PSS splits the pages of a file among the
/// processes that map it, so the bench itself and the other server role would otherwise take
/// shares of its code's pages, and the server's memory would depend on what else runs.
fn start_ours(kind: Kind, root: &Path, tmp: PathBuf) -> Result<Running, String> {
    let role = if kind == Kind::Tokio {
        "tokio"
    } else {
        "async-io"
    };
    let exe = tmp.join(format!("server-role-{role}"));
    std::fs::copy(std::env::current_exe().map_err(|e| e.to_string())?, &exe)
        .map_err(|e| format!("copying the bench for the server role: {e}"))?;
    // FTP_LOAD_WRAPPER: a command (and its arguments) to run the server role under, such as
    // `heaptrack -o /tmp/profile`; its memory is then counted with the server's.
    let wrapper = std::env::var("FTP_LOAD_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(exe);
            command
        }
        None => Command::new(exe),
    };
    let mut child = command
        .env(ROLE_ENV, role)
        .env(ROOT_ENV, root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdin = child.stdin.take();
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| BufReader::new(out).read_line(&mut line));
    let (Some(Ok(_)), Ok(addr)) = (read, line.trim().parse()) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("server role did not start: {line:?}"));
    };
    Ok(Running {
        child,
        addr,
        _stdin: stdin,
        tmp,
        monitor: None,
    })
}

/// A peer through the repository's scripts, with its session caps raised.
fn start_peer(
    script: &str,
    root: &Path,
    tmp: PathBuf,
    index: usize,
    config: &Config,
) -> Result<Running, String> {
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ftp-client/tests/peers");
    let port = free_port()?;
    // Passive ports below the ephemeral range, where 10,000 client sockets live.
    let pasv_min = 21000 + 1000 * index as u16;
    let cap = (config.idle.max(config.clients) + 100).to_string();
    let child = Command::new("bash")
        .arg(peers.join(script))
        .arg(port.to_string())
        .arg(root)
        .arg(&tmp)
        .arg(pasv_min.to_string())
        .arg((pasv_min + 999).to_string())
        .env("VSFTPD_MAX_CLIENTS", &cap)
        .env("VSFTPD_MAX_PER_IP", &cap)
        .env("PURE_FTPD_MAX_CLIENTS", &cap)
        .env("PURE_FTPD_MAX_PER_IP", &cap)
        .env("PYFTPDLIB_MAX_CONS", &cap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{script}: {e}"))?;
    let mut running = Running {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _stdin: None,
        tmp,
        monitor: None,
    };
    if let Err(e) = running.wait_ready() {
        let mut stderr = String::new();
        if let Some(mut err) = running.child.stderr.take() {
            let _ = running.child.kill();
            let _ = err.read_to_string(&mut stderr);
        }
        let last = stderr.lines().last().unwrap_or("").to_owned();
        return Err(format!("{e} {last}"));
    }
    Ok(running)
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// The server role: `ftp-server` on the runtime named by `role`, until stdin closes.
fn serve(role: &str) {
    let root = std::env::var(ROOT_ENV).expect("FTP_LOAD_ROOT");
    let server = our_server(Path::new(&root)).expect("server configuration");
    let announce = |addrs: &[SocketAddr]| {
        println!("{}", addrs[0]);
        let _ = std::io::stdout().flush();
    };
    if role == "tokio" {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(workers) = std::env::var("FTP_LOAD_TOKIO_WORKERS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            builder.worker_threads(workers);
        }
        let runtime = builder.enable_all().build().expect("tokio runtime");
        let running = runtime.block_on(server.start_tokio()).expect("start");
        announce(running.local_addrs());
        wait_for_stdin_end();
    } else {
        let running = async_io::block_on(server.start_async_io()).expect("start");
        announce(running.local_addrs());
        wait_for_stdin_end();
    }
    if std::env::var_os("FTP_LOAD_MALLOC_STATS").is_some() {
        print_malloc_stats();
    }
    std::process::exit(0);
}

/// glibc's per-arena statistics, on stderr: where the memory still resident after the load
/// sits (`FTP_LOAD_MALLOC_STATS=1`, printed when the bench ends the server), and what one
/// more `malloc_trim` would give back then.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn print_malloc_stats() {
    extern "C" {
        fn malloc_stats();
    }
    // SAFETY: malloc_stats takes no arguments and only reads the allocator's own state.
    unsafe { malloc_stats() }
    let pss = || {
        std::fs::read_to_string("/proc/self/smaps_rollup")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Pss:")).map(str::to_owned))
            .unwrap_or_default()
    };
    let before = pss();
    // SAFETY: malloc_trim takes no pointers and moves no live allocation.
    let released = unsafe { malloc_trim(0) };
    eprintln!(
        "malloc_trim(0) now: {before} -> {} (released: {released})",
        pss()
    );
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn print_malloc_stats() {}

fn our_server(root: &Path) -> std::io::Result<Server> {
    let mut users = if std::env::var("FTP_LOAD_ARGON2").as_deref() == Ok("fast") {
        UserTable::insecure_fast()
    } else {
        UserTable::new()
    };
    users
        .add(USER, PASSWORD, VirtualPath::root(), Permissions::ALL)
        .map_err(std::io::Error::other)?;
    let login_cache = env_u64("FTP_LOAD_LOGIN_CACHE_SECS", 0);
    if login_cache > 0 {
        users = users.cache_verified_passwords(Duration::from_secs(login_cache), 10_000);
    }
    let sync = std::env::var("FTP_LOAD_FSYNC").as_deref() != Ok("0");
    let certs = peer_cache().join("certs");
    let tls = TlsConfig::from_pem_files(certs.join("cert.pem"), certs.join("key.pem"))?;
    Ok(Server::new(FsStorage::new(root)?.sync_uploads(sync))
        .listen(SocketAddr::from(([127, 0, 0, 1], 0)))
        .tls(tls)
        .authenticator(users)
        .max_sessions(20_000)
        .max_sessions_per_ip(20_000)
        .pool_transfers(env_usize("FTP_LOAD_POOL_TRANSFERS", 64))
        .sendfile(std::env::var("FTP_LOAD_SENDFILE").as_deref() == Ok("1"))
        .sendfile_cached(std::env::var("FTP_LOAD_SENDFILE_CACHED").as_deref() != Ok("0")))
}

/// Where `ftp-client/tests/peers/install.sh` keeps the peers and the test certificate.
fn peer_cache() -> PathBuf {
    std::env::var_os("FTP_CLIENT_PEERS_CACHE")
        .map_or_else(|| PathBuf::from("/var/tmp/ftp-client-peers"), PathBuf::from)
}

fn wait_for_stdin_end() {
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

// ---------------------------------------------------------------------------------------
// Memory from /proc.

#[derive(Clone, Copy, Default)]
struct Memory {
    pss_kib: u64,
    processes: usize,
}

impl Memory {
    fn of_tree(pid: u32) -> Self {
        let pids = descendants(pid);
        Self {
            pss_kib: pids.iter().filter_map(|&p| pss_kib(p)).sum(),
            processes: pids.len(),
        }
    }

    fn mib(self) -> f64 {
        self.pss_kib as f64 / 1024.0
    }
}

/// `pid` and every process below it.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = parent_of(p) {
                parents.push((p, ppid));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    tree
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The unit of the times in `/proc/PID/stat` (`USER_HZ`, 100 on Linux whatever the kernel's
/// own tick).
const USER_HZ: f64 = 100.0;

/// The CPU time (user and system, every thread's) of `pid`'s process, in `USER_HZ` ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the name: state, ppid, ... utime (the 14th field) and stime (the 15th).
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

fn pss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = rollup.lines().find(|l| l.starts_with("Pss:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What a [`Monitor`] saw.
#[derive(Default)]
struct Watch {
    /// The highest memory since the last `reset_peak`.
    peak: Memory,
    /// Over the soft limit now: idle rows stop opening sessions.
    over: bool,
    /// Why the monitor killed the server, if it did.
    killed: Option<String>,
}

/// Samples a server's process tree every 100 ms on a thread for its whole life, keeping the
/// peak; over `limit` it raises `over`, and over 1.25 x `limit` it kills the tree (by PID):
/// a server that runs away must not take this shared machine's memory with it.
struct Monitor {
    watch: Arc<Mutex<Watch>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    fn start(pid: u32, limit_kib: u64) -> Self {
        let watch = Arc::new(Mutex::new(Watch::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, flag) = (Arc::clone(&watch), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let now = Memory::of_tree(pid);
                if now.pss_kib > limit_kib + limit_kib / 4 {
                    kill_tree(pid);
                    let why = format!("killed by the bench at {:.0} MiB", now.mib());
                    lock(&shared).killed.get_or_insert(why);
                }
                let mut watch = lock(&shared);
                watch.over = now.pss_kib > limit_kib;
                if now.pss_kib > watch.peak.pss_kib {
                    watch.peak = now;
                }
                drop(watch);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self {
            watch,
            stop,
            thread: Some(thread),
        }
    }

    fn reset_peak(&self) {
        lock(&self.watch).peak = Memory::default();
    }

    fn peak(&self) -> Memory {
        lock(&self.watch).peak
    }

    fn over(&self) -> bool {
        lock(&self.watch).over
    }

    fn killed(&self) -> Option<String> {
        lock(&self.watch).killed.clone()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kills `pid` and every process below it, by PID.
fn kill_tree(pid: u32) {
    let pids: Vec<String> = descendants(pid).iter().map(u32::to_string).collect();
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(&pids)
        .stderr(Stdio::null())
        .status();
}

// ---------------------------------------------------------------------------------------
// The load client.

/// A minimal blocking FTP client: login, EPSV, RETR, STOR, QUIT.
struct Client {
    ctl: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(30))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        Ok(Self {
            ctl: BufReader::with_capacity(1024, stream),
        })
    }

    fn login(addr: SocketAddr) -> std::io::Result<Self> {
        let mut client = Self::connect(addr)?;
        client.expect(None, 220)?;
        client.expect(Some(&format!("USER {USER}")), 331)?;
        client.expect(Some(&format!("PASS {PASSWORD}")), 230)?;
        Ok(client)
    }

    /// Logged in, in binary mode.
    fn login_binary(addr: SocketAddr) -> std::io::Result<Self> {
        let mut client = Self::login(addr)?;
        client.expect(Some("TYPE I"), 200)?;
        Ok(client)
    }

    fn quit(mut self) -> std::io::Result<()> {
        self.expect(Some("QUIT"), 221).map(drop)
    }

    fn send(&mut self, command: &str) -> std::io::Result<()> {
        self.ctl
            .get_mut()
            .write_all(format!("{command}\r\n").as_bytes())
    }

    fn reply(&mut self) -> std::io::Result<(u16, String)> {
        let mut line = String::new();
        // A reply of more than 1000 lines is not one this bench asks for.
        for _ in 0..1000 {
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
        Err(std::io::Error::other("endless reply"))
    }

    fn expect(&mut self, command: Option<&str>, code: u16) -> std::io::Result<String> {
        if let Some(command) = command {
            self.send(command)?;
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
        let data = TcpStream::connect_timeout(&(peer.ip(), port).into(), Duration::from_secs(30))?;
        data.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        data.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        Ok(data)
    }

    fn start(&mut self, command: &str) -> std::io::Result<()> {
        self.send(command)?;
        match self.reply()? {
            (125 | 150, _) => Ok(()),
            (_, text) => Err(std::io::Error::other(format!("{command}: {text}"))),
        }
    }

    /// RETR `name`; returns the bytes received.
    fn retr(&mut self, name: &str, buf: &mut [u8]) -> std::io::Result<u64> {
        let mut data = self.epsv()?;
        self.start(&format!("RETR {name}"))?;
        let mut total = 0u64;
        loop {
            match data.read(buf)? {
                0 => break,
                n => total += n as u64,
            }
        }
        drop(data);
        self.expect(None, 226)?;
        Ok(total)
    }

    /// STOR `len` bytes as `name`.
    fn stor(&mut self, name: &str, len: u64) -> std::io::Result<u64> {
        let mut data = self.epsv()?;
        self.start(&format!("STOR {name}"))?;
        let buf = vec![0x5Au8; BUF];
        let mut left = len;
        while left > 0 {
            let n = left.min(BUF as u64) as usize;
            data.write_all(&buf[..n])?;
            left -= n as u64;
        }
        data.shutdown(std::net::Shutdown::Write)?;
        let mut rest = [0u8; 64];
        while data.read(&mut rest)? > 0 {}
        drop(data);
        self.expect(None, 226)?;
        Ok(len)
    }
}

/// How a batch of concurrent clients went.
#[derive(Default)]
struct Outcome {
    wall: Duration,
    ok: usize,
    failed: usize,
    bytes: u64,
    first_error: Option<String>,
    /// Connections the kernel dropped meanwhile because a listener's accept queue was full.
    overflows: u64,
}

impl Outcome {
    fn record(&mut self, result: std::io::Result<u64>) {
        match result {
            Ok(bytes) => {
                self.ok += 1;
                self.bytes += bytes;
            }
            Err(e) => {
                self.failed += 1;
                self.first_error.get_or_insert_with(|| describe(&e));
            }
        }
    }

    /// " (N failed: first error)" when some failed.
    fn failures(&self) -> String {
        let overflows = match self.overflows {
            0 => String::new(),
            n => format!("; {n} accept queue overflows"),
        };
        match &self.first_error {
            Some(e) => format!(" ({} failed: {e}{overflows})", self.failed),
            None if self.overflows > 0 => format!(" ({})", &overflows[2..]),
            None => String::new(),
        }
    }
}

/// An error as a cell shows it: a read or write timeout says so.
fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("nothing for {} s", CLIENT_TIMEOUT.as_secs())
        }
        _ => e.to_string(),
    }
}

/// A start signal for threads that have prepared.
#[derive(Default)]
struct Gate {
    state: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Gate {
    fn arrive_and_wait(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += 1;
        self.changed.notify_all();
        while !state.1 {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits (at most `limit`) until `count` threads arrived, then lets them all go.
    fn open_when(&self, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.0 < count && Instant::now() < deadline {
            let (next, _) = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner());
            state = next;
        }
        state.1 = true;
        self.changed.notify_all();
    }
}

/// How many clients of a transfer row log in at once before the start signal: fewer than
/// vsftpd's accept queue (32), so the transfer rows measure transfers; the logins row
/// measures the burst.
const PREPARE_AT_ONCE: usize = 16;

/// A counting semaphore for threads.
struct Slots {
    free: Mutex<usize>,
    changed: Condvar,
}

/// A slot taken from [`Slots`]; given back when dropped.
struct Slot<'a>(&'a Slots);

impl Slots {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n),
            changed: Condvar::new(),
        }
    }

    fn take(&self) -> Slot<'_> {
        let mut free = lock(&self.free);
        while *free == 0 {
            free = self.changed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *lock(&self.0.free) += 1;
        self.0.changed.notify_one();
    }
}

/// `n` client threads: each runs `prepare` (at most `PREPARE_AT_ONCE` at a time), then all wait for one start signal, then each
/// runs `run`. The wall time runs from the signal to the last thread done.
fn concurrent<P>(
    n: usize,
    prepare: impl Fn() -> std::io::Result<P> + Sync,
    run: impl Fn(P, usize) -> std::io::Result<u64> + Sync,
) -> Outcome {
    let gate = Gate::default();
    let slots = Slots::new(PREPARE_AT_ONCE);
    let mut outcome = Outcome::default();
    let overflows = listen_overflows();
    std::thread::scope(|scope| {
        let mut threads = Vec::new();
        for i in 0..n {
            let (gate, slots, prepare, run) = (&gate, &slots, &prepare, &run);
            let spawned = std::thread::Builder::new()
                .stack_size(128 << 10)
                .spawn_scoped(scope, move || {
                    let prepared = {
                        let _slot = slots.take();
                        prepare()
                    };
                    gate.arrive_and_wait();
                    prepared.and_then(|p| run(p, i))
                });
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(e) => outcome.record(Err(e)),
            }
        }
        gate.open_when(threads.len(), Duration::from_secs(300));
        let started = Instant::now();
        for thread in threads {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("client thread panicked")));
            outcome.record(result);
        }
        outcome.wall = started.elapsed();
    });
    outcome.overflows = listen_overflows().saturating_sub(overflows);
    outcome
}

/// The kernel's count of connections dropped because an accept queue was full
/// (`TcpExt: ListenOverflows` in `/proc/net/netstat`; the whole machine, loopback included).
fn listen_overflows() -> u64 {
    let netstat = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut tcp_ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (tcp_ext.next(), tcp_ext.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// `n` logged-in sessions, opened by a pool of `workers` threads, stopping after 50
/// failures; the sessions and the failures.
fn open_idle(
    addr: SocketAddr,
    n: usize,
    workers: usize,
    stop: impl Fn() -> bool + Sync,
) -> (Vec<Client>, Outcome) {
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let overflows = listen_overflows();
    let sessions = Mutex::new(Vec::with_capacity(n));
    let outcome = Mutex::new(Outcome::default());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..workers.min(n) {
            let _ = std::thread::Builder::new()
                .stack_size(128 << 10)
                .spawn_scoped(scope, || {
                    while next.fetch_add(1, Ordering::Relaxed) < n
                        && failures.load(Ordering::Relaxed) < 50
                        && !stop()
                    {
                        let result = Client::login(addr);
                        let mut outcome = outcome.lock().unwrap_or_else(|e| e.into_inner());
                        match result {
                            Ok(client) => {
                                outcome.record(Ok(0));
                                sessions
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push(client);
                            }
                            Err(e) => {
                                failures.fetch_add(1, Ordering::Relaxed);
                                outcome.record(Err(e));
                            }
                        }
                    }
                });
        }
    });
    let mut outcome = outcome.into_inner().unwrap_or_else(|e| e.into_inner());
    outcome.wall = started.elapsed();
    outcome.overflows = listen_overflows().saturating_sub(overflows);
    (
        sessions.into_inner().unwrap_or_else(|e| e.into_inner()),
        outcome,
    )
}

// ---------------------------------------------------------------------------------------
// The rows.

/// One server's results, as table cells.
struct Column {
    label: String,
    /// ftp-server (either runtime), not a peer.
    ours: bool,
    cells: Vec<(&'static str, String)>,
    /// Each measurement of a round row, in rounds.
    samples: Vec<(&'static str, Vec<Result<f64, String>>)>,
    /// The highest memory a round row's rounds saw.
    peaks: Vec<(&'static str, Memory)>,
    notes: Vec<String>,
    idle_baseline: Memory,
    load_left: Option<Instant>,
}

impl Column {
    fn new(kind: Kind) -> Self {
        Self {
            label: kind.label().into(),
            ours: kind.script().is_none(),
            cells: Vec::new(),
            samples: Vec::new(),
            peaks: Vec::new(),
            notes: Vec::new(),
            idle_baseline: Memory::default(),
            load_left: None,
        }
    }

    fn set(&mut self, row: &'static str, cell: String) {
        self.cells.push((row, cell));
    }

    /// The server's peak memory in one more round of `row`.
    fn peak(&mut self, row: &'static str, peak: Memory) {
        match self.peaks.iter_mut().find(|(r, _)| *r == row) {
            Some((_, highest)) if highest.pss_kib >= peak.pss_kib => {}
            Some((_, highest)) => *highest = peak,
            None => self.peaks.push((row, peak)),
        }
    }

    /// One more measurement of the round row `row`.
    fn sample(&mut self, row: &'static str, measured: Result<f64, String>) {
        match self.samples.iter_mut().find(|(r, _)| *r == row) {
            Some((_, samples)) => samples.push(measured),
            None => self.samples.push((row, vec![measured])),
        }
    }

    /// Each round's measurement of the round row `row` (none if it was not measured).
    fn rounds(&self, row: &str) -> &[Result<f64, String>] {
        self.samples
            .iter()
            .find(|(r, _)| *r == row)
            .map_or(&[], |(_, samples)| samples)
    }

    /// The cell of `row`: a round row's median over its rounds, with their range (and the
    /// highest peak memory of any round).
    fn get(&self, row: &str) -> String {
        if let Some((_, samples)) = self.samples.iter().find(|(r, _)| *r == row) {
            return match self.peaks.iter().find(|(r, _)| *r == row) {
                Some((_, peak)) => format!("{}; peak {:.1} MiB", summary(samples), peak.mib()),
                None => summary(samples),
            };
        }
        self.cells
            .iter()
            .find(|(r, _)| *r == row)
            .map_or_else(|| "-".to_owned(), |(_, c)| c.clone())
    }
}

/// The median of the rounds that succeeded, their range when there are several, and the
/// last failure's reason when some failed.
fn summary(samples: &[Result<f64, String>]) -> String {
    let mut rates: Vec<f64> = samples
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .copied()
        .collect();
    let failed: Vec<&String> = samples.iter().filter_map(|s| s.as_ref().err()).collect();
    let mut cell = match median_range(&mut rates) {
        None => String::new(),
        Some((only, _, _)) if rates.len() == 1 => format!("{only:.0}"),
        Some((median, low, high)) => format!("{median:.0} ({low:.0}-{high:.0})"),
    };
    if let Some(last) = failed.last() {
        cell += &format!(" {} of {} failed: {last}", failed.len(), samples.len());
    }
    cell.trim_start().to_owned()
}

/// The median, lowest and highest of `values` (which this sorts); `None` when there are none.
fn median_range(values: &mut [f64]) -> Option<(f64, f64, f64)> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = match n {
        0 => return None,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    };
    Some((median, values[0], values[n - 1]))
}

const ROW_IDLE_BASE: &str = "idle server, no session (MiB)";
const ROW_IDLE_SMALL: &str = "idle sessions, per session (KiB): FTP_LOAD_CLIENTS";
const ROW_IDLE_LARGE: &str = "idle sessions, per session (KiB): FTP_LOAD_IDLE";
const ROW_LOGINS: &str = "concurrent logins: logins/s (wall s)";
const ROW_SMALL: &str = "1 KiB RETRs in one session: files/s";
const ROW_SMALL_CPU: &str = "1 KiB RETRs in one session: server CPU per file (us)";
const ROW_RETR: &str = "concurrent RETR: MB/s (peak MiB)";
const ROW_STOR: &str = "concurrent STOR: MB/s (peak MiB)";
const ROW_STOR_ON_DISK: &str = "concurrent STOR, until on disk (sync after): MB/s";
const ROW_TLS_STOR: &str = "1 KiB FTPS STORs in one session (Python ftplib): files/s";
const ROW_TLS_STOR_ON_DISK: &str = "1 KiB FTPS STORs, until on disk (sync after): files/s";
const ROW_AFTER: &str = "after load, settled (MiB; x idle)";
const ROWS: [&str; 12] = [
    ROW_IDLE_BASE,
    ROW_IDLE_SMALL,
    ROW_IDLE_LARGE,
    ROW_LOGINS,
    ROW_SMALL,
    ROW_SMALL_CPU,
    ROW_RETR,
    ROW_STOR,
    ROW_STOR_ON_DISK,
    ROW_TLS_STOR,
    ROW_TLS_STOR_ON_DISK,
    ROW_AFTER,
];

/// The round rows where more is better: the paired ratios' rows.
const PAIRED_ROWS: [&str; 6] = [
    ROW_SMALL,
    ROW_RETR,
    ROW_STOR,
    ROW_STOR_ON_DISK,
    ROW_TLS_STOR,
    ROW_TLS_STOR_ON_DISK,
];

/// Each of ftp-server's round rows against each peer's, round by round: the ratio of the two
/// figures of the same round, as the median over the rounds with the lowest and highest. The
/// servers of one round run minutes apart at most, so these ratios drift less with the VM's
/// speed than the medians of the table do.
fn print_paired(columns: &[Column]) {
    let (ours, peers): (Vec<&Column>, Vec<&Column>) = columns.iter().partition(|c| c.ours);
    if ours.is_empty() || peers.is_empty() {
        return;
    }
    println!(
        "\nPaired rounds: ftp-server's figure divided by the peer's of the same round, the \
         median over the rounds (lowest-highest); above 1 is ahead.\n"
    );
    print!("| |");
    for peer in &peers {
        print!(" ÷ {} |", peer.label);
    }
    println!();
    println!("|---|{}", "---|".repeat(peers.len()));
    for row in PAIRED_ROWS {
        for column in ours.iter().filter(|c| !c.rounds(row).is_empty()) {
            print!("| {row}, {} |", column.label);
            for peer in &peers {
                let mut ratios: Vec<f64> = column
                    .rounds(row)
                    .iter()
                    .zip(peer.rounds(row))
                    .filter_map(|pair| match pair {
                        (Ok(ours), Ok(theirs)) if *theirs > 0.0 => Some(ours / theirs),
                        _ => None,
                    })
                    .collect();
                match median_range(&mut ratios) {
                    Some((median, low, high)) => {
                        print!(" {median:.2} ({low:.2}-{high:.2}) |");
                    }
                    None => print!(" - |"),
                }
            }
            println!();
        }
    }
}

/// Every row but the settled memory, on one running server.
fn measure(kind: Kind, server: &Running, config: &Config, root: &Path, column: &mut Column) {
    // The readiness probe's session may still be ending.
    wait_for_calm(server);
    column.idle_baseline = server.memory();
    column.set(ROW_IDLE_BASE, format!("{:.1}", column.idle_baseline.mib()));
    if config.runs("idle") {
        warm_up(server, config);
        let cell = idle_row(server, config.clients, config, None);
        column.set(ROW_IDLE_SMALL, cell);
        let (n, cap) = config.idle_for(kind);
        let cell = idle_row(server, n, config, cap);
        column.set(ROW_IDLE_LARGE, cell);
    }
    if config.runs("logins") {
        column.set(ROW_LOGINS, logins_row(server, config));
    }
    round_rows(kind, server, config, root, column);
    column.notes.extend(server.monitor().killed());
}

/// Opens `FTP_LOAD_CLIENTS` idle sessions and closes them, unmeasured: what the first
/// sessions cost once (threads started, their allocator caches filled, tables grown) is not a
/// cost per session. Then waits for ftp-server's memory releases after the fall (15 and 30 s
/// after it), which would otherwise land in the middle of the next row.
fn warm_up(server: &Running, config: &Config) {
    let monitor = server.monitor();
    let (sessions, _) = open_idle(server.addr, config.clients, config.login_workers, || {
        monitor.over()
    });
    drop(sessions);
    wait_for_calm(server);
    std::thread::sleep(Duration::from_secs(33));
}

/// Per-session memory of `n` idle logged-in sessions: (mem_n - mem_0) / n.
fn idle_row(server: &Running, n: usize, config: &Config, cap: Option<String>) -> String {
    let before = server.memory();
    let monitor = server.monitor();
    let (sessions, outcome) = open_idle(server.addr, n, config.login_workers, || monitor.over());
    let stopped = monitor.over() && sessions.len() < n;
    std::thread::sleep(config.idle_hold);
    let held = server.memory();
    let count = sessions.len();
    drop(sessions);
    wait_for_calm(server);
    let per = held.pss_kib.saturating_sub(before.pss_kib) as f64 / count.max(1) as f64;
    let mut cell = format!(
        "{per:.1} ({count} sessions, {:.1} MiB, {} procs, opened in {:.1} s)",
        held.mib(),
        held.processes,
        outcome.wall.as_secs_f64()
    );
    if let Some(cap) = cap {
        cell += &format!(" {cap}");
    }
    if stopped {
        cell += &format!(" stopped: server over {} MiB", config.mem_limit_kib >> 10);
    }
    cell + &outcome.failures()
}

/// Gives the server time to see every client close (2 s, or until a forking server has no
/// session process left, at most 20 s).
fn wait_for_calm(server: &Running) {
    std::thread::sleep(Duration::from_secs(2));
    for _ in 0..180 {
        if descendants(server.pid()).len() <= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn logins_row(server: &Running, config: &Config) -> String {
    let addr = server.addr;
    server.monitor().reset_peak();
    let outcome = concurrent(
        config.clients,
        || Ok(()),
        |(), _| Client::login(addr)?.quit().map(|()| 0),
    );
    let peak = server.monitor().peak();
    wait_for_calm(server);
    format!(
        "{:.0} ({:.2} s, peak {:.1} MiB){}",
        outcome.ok as f64 / outcome.wall.as_secs_f64(),
        outcome.wall.as_secs_f64(),
        peak.mib(),
        outcome.failures()
    )
}

/// The rows measured in several rounds, the servers taking turns (the first round within
/// each server's other rows): this VM's speed drifts by a third from minute to minute, and a
/// single measurement would rank the servers by when each ran.
const ROUND_ROWS: [&str; 4] = ["small", "retr", "stor", "tls"];

/// One more round of the round rows on `server`.
fn round_rows(kind: Kind, server: &Running, config: &Config, root: &Path, column: &mut Column) {
    if config.runs("small") {
        let measured = small_files(server, config);
        column.sample(ROW_SMALL, measured.clone().map(|(rate, _)| rate));
        column.sample(ROW_SMALL_CPU, measured.map(|(_, cpu)| cpu * 1e6));
    }
    if config.runs("retr") {
        let (rate, peak) = retr_round(server, config);
        column.sample(ROW_RETR, rate);
        column.peak(ROW_RETR, peak);
    }
    if config.runs("stor") {
        let round = stor_round(kind, server, config, root);
        column.sample(ROW_STOR, round.rate);
        column.peak(ROW_STOR, round.peak);
        column.sample(ROW_STOR_ON_DISK, round.durable);
    }
    if config.runs("tls") {
        let round = tls_uploads(server, config);
        column.sample(ROW_TLS_STOR, round.clone().map(|rates| rates.answered));
        let durable = round.map(|rates| rates.durable);
        column.sample(ROW_TLS_STOR_ON_DISK, on_disk(root, durable));
    }
    column.load_left = Some(Instant::now());
}

/// Files per second, and the server's CPU seconds per file.
fn small_files(server: &Running, config: &Config) -> Result<(f64, f64), String> {
    let run = || -> std::io::Result<(usize, Duration, f64)> {
        let mut client = Client::login_binary(server.addr)?;
        let mut buf = vec![0u8; 4096];
        let cpu_before = server.cpu_seconds();
        let started = Instant::now();
        for i in 0..config.small_files {
            let got = client.retr(&small_name(i), &mut buf)?;
            if got != 1024 {
                return Err(std::io::Error::other(format!("short file: {got} bytes")));
            }
        }
        let time = started.elapsed();
        let cpu = server.cpu_seconds() - cpu_before;
        client.quit()?;
        Ok((config.small_files, time, cpu))
    };
    run()
        .map(|(n, time, cpu)| (n as f64 / time.as_secs_f64(), cpu / n as f64))
        .map_err(|e| e.to_string())
}

/// Python's ftplib storing small files over FTPS: `storbinary` ends each upload with
/// `unwrap()`, which waits for the server's close_notify. Prints files per second until the
/// last `226`, then until every file is on disk as well (`os.sync()` right after it).
const FTPLIB_TLS_UPLOADS: &str = r#"
import ftplib, io, os, ssl, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ftp = ftplib.FTP_TLS(context=ctx, timeout=30)
ftp.connect("127.0.0.1", port)
ftp.login(sys.argv[3], sys.argv[4])
ftp.prot_p()
data = b"x" * 1024
started = time.perf_counter()
for i in range(n):
    ftp.storbinary(f"STOR tls-{i}.bin", io.BytesIO(data))
elapsed = time.perf_counter() - started
os.sync()
durable = time.perf_counter() - started
for i in range(n):
    ftp.delete(f"tls-{i}.bin")
ftp.quit()
print(f"{n / elapsed:.0f} {n / durable:.0f}")
"#;

/// Files per second of one round of small FTPS uploads.
#[derive(Clone)]
struct TlsUploadRates {
    /// Until the last `226`.
    answered: f64,
    /// Until every file was on disk as well.
    durable: f64,
}

/// One round of [`FTPLIB_TLS_UPLOADS`], after `sync(1)` (as the concurrent STORs start), so
/// that no server's round waits for what the one before left in the page cache.
fn tls_uploads(server: &Running, config: &Config) -> Result<TlsUploadRates, String> {
    write_back_dirty_pages();
    let out = Command::new("python3")
        .args(["-c", FTPLIB_TLS_UPLOADS])
        .arg(server.addr.port().to_string())
        .arg(config.tls_files.to_string())
        .args([USER, PASSWORD])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => {
            let printed = String::from_utf8_lossy(&out.stdout);
            let rates: Vec<f64> = printed
                .split_whitespace()
                .filter_map(|rate| rate.parse().ok())
                .collect();
            match rates[..] {
                [answered, durable] => Ok(TlsUploadRates { answered, durable }),
                _ => Err(format!("ftplib printed {printed:?}")),
            }
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(err.lines().last().unwrap_or("no output").to_owned())
        }
        Err(e) => Err(format!("python3: {e}")),
    }
}

/// MB/s (or why some clients failed), and the server's peak memory.
fn retr_round(server: &Running, config: &Config) -> (Result<f64, String>, Memory) {
    let (addr, len) = (server.addr, config.file_len);
    server.monitor().reset_peak();
    let outcome = concurrent(
        config.clients,
        || Client::login_binary(addr),
        |mut client, _| {
            let mut buf = vec![0u8; BUF];
            let got = client.retr(BIG_FILE, &mut buf)?;
            client.quit()?;
            match got == len {
                true => Ok(got),
                false => Err(std::io::Error::other(format!("short RETR: {got} bytes"))),
            }
        },
    );
    let peak = server.monitor().peak();
    wait_for_calm(server);
    (transfer_rate(&outcome), peak)
}

/// What one round of concurrent uploads measured.
struct StorRound {
    /// MB/s until the last 226 (or why some clients failed).
    rate: Result<f64, String>,
    /// MB/s until every byte was on disk as well: the last client done, then `sync(1)`.
    durable: Result<f64, String>,
    /// The server's peak memory.
    peak: Memory,
}

/// Concurrent uploads: see [`StorRound`]. The `sync` right after the last client is done
/// waits for what a server left in the page cache when it answered (nothing much for
/// ftp-server, whose 226 comes after `fsync`; the peers' uploads, less what the kernel wrote
/// back meanwhile). The peak memory is read after it.
fn stor_round(kind: Kind, server: &Running, config: &Config, root: &Path) -> StorRound {
    let (addr, len) = (server.addr, config.file_len);
    let name = |i: usize| format!("up-{:?}-{i}.bin", kind);
    write_back_dirty_pages();
    server.monitor().reset_peak();
    let outcome = concurrent(
        config.clients,
        || Client::login_binary(addr),
        |mut client, i| {
            let sent = client.stor(&name(i), len)?;
            client.quit()?;
            Ok(sent)
        },
    );
    let synced = Instant::now();
    write_back_dirty_pages();
    let sync = synced.elapsed();
    let peak = server.monitor().peak();
    wait_for_calm(server);
    for i in 0..config.clients {
        let _ = std::fs::remove_file(root.join(name(i)));
    }
    let rate = transfer_rate(&outcome);
    let durable = rate
        .clone()
        .map(|_| outcome.bytes as f64 / MB / (outcome.wall + sync).as_secs_f64());
    let durable = on_disk(root, durable);
    StorRound {
        rate,
        durable,
        peak,
    }
}

/// A rate read until every byte was on disk, or why there was no disk to wait for.
fn on_disk(root: &Path, durable: Result<f64, String>) -> Result<f64, String> {
    match in_memory(root) {
        true => Err("the files are in memory (tmpfs): no disk to wait for".to_owned()),
        false => durable,
    }
}

/// Whether `dir` is on a file system kept in memory (tmpfs, ramfs), which `sync` has nothing
/// to write out of.
fn in_memory(dir: &Path) -> bool {
    let kind = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(dir)
        .output();
    kind.is_ok_and(|out| {
        matches!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "tmpfs" | "ramfs"
        )
    })
}

/// `sync(1)`: waits until the kernel has written every dirty page out.
fn write_back_dirty_pages() {
    let synced = Command::new("sync").status();
    assert!(
        synced.as_ref().is_ok_and(|s| s.success()),
        "sync failed: {synced:?}"
    );
}

/// Aggregate MB/s when every client succeeded.
fn transfer_rate(outcome: &Outcome) -> Result<f64, String> {
    match outcome.failed {
        0 => Ok(outcome.bytes as f64 / MB / outcome.wall.as_secs_f64()),
        _ => Err(outcome.failures().trim().to_owned()),
    }
}

/// Memory after the clients left and `settle` passed, against the idle baseline.
fn settled_cell(server: &Running, column: &Column, settle: Duration) -> String {
    if let Some(left) = column.load_left {
        let until = left + settle;
        let now = Instant::now();
        if until > now {
            std::thread::sleep(until - now);
        }
    }
    let after = server.memory();
    let base = column.idle_baseline.pss_kib.max(1) as f64;
    format!(
        "{:.1} ({:.2}x, {} s after)",
        after.mib(),
        after.pss_kib as f64 / base,
        settle.as_secs()
    )
}

// ---------------------------------------------------------------------------------------
// The fixture and the report.

fn small_name(i: usize) -> String {
    format!("small/f{i:05}.txt")
}

/// The served folder: one large file and the small ones.
fn make_fixture(config: &Config) -> std::io::Result<PathBuf> {
    let base = std::env::var("FTP_LOAD_DIR").map_or_else(|_| std::env::temp_dir(), PathBuf::from);
    let root = base.join(format!("ftp-load-{}", std::process::id()));
    std::fs::create_dir_all(root.join("small"))?;
    let mut out = std::fs::File::create(root.join(BIG_FILE))?;
    let chunk: Vec<u8> = (0..BUF).map(|i| (i * 7 + i / 4096) as u8).collect();
    let mut left = config.file_len;
    while left > 0 {
        let n = left.min(BUF as u64) as usize;
        out.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    out.sync_all()?;
    for i in 0..config.small_files {
        std::fs::write(root.join(small_name(i)), &chunk[..1024])?;
    }
    // Warm the page cache.
    std::io::copy(
        &mut std::fs::File::open(root.join(BIG_FILE))?,
        &mut std::io::sink(),
    )?;
    Ok(root)
}

fn print_table(columns: &[Column], config: &Config) {
    println!();
    print!("| |");
    for column in columns {
        print!(" {} |", column.label);
    }
    println!();
    println!("|---|{}", "---|".repeat(columns.len()));
    for row in ROWS {
        let row_label = row
            .replace("FTP_LOAD_CLIENTS", &config.clients.to_string())
            .replace("FTP_LOAD_IDLE", &config.idle.to_string());
        print!("| {row_label} |");
        for column in columns {
            print!(" {} |", column.get(row));
        }
        println!();
    }
    print_paired(columns);
    for column in columns {
        for note in &column.notes {
            println!("\n* {}: {note}", column.label);
        }
    }
    println!(
        "\nSizes: {} clients, {} MB files, {} small files, {} idle sessions ({} for forking \
         servers), {} s settle. MB = 10^6 bytes; memory = PSS summed over the server's process \
         tree.",
        config.clients,
        config.file_len / 1_000_000,
        config.small_files,
        config.idle,
        config.idle_forking,
        config.settle.as_secs()
    );
    println!(
        "\nCommand:\n\n```sh\n{}cargo bench -p ftp-benches --bench server_load\n```",
        env_line()
    );
}

/// The `FTP_LOAD_*` variables of this run, as a command prefix.
fn env_line() -> String {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("FTP_LOAD_"))
        .collect();
    vars.sort();
    vars.iter().map(|(k, v)| format!("{k}={v} ")).collect()
}

fn main() {
    if let Ok(role) = std::env::var(ROLE_ENV) {
        serve(&role);
        return;
    }
    let config = Config::from_env();
    let root = make_fixture(&config).expect("creating the served folder");
    println!(
        "server_load: {} servers, fixture in {}",
        config.servers.len(),
        root.display()
    );
    let mut measured = Vec::new();
    for (index, &kind) in config.servers.iter().enumerate() {
        let mut column = Column::new(kind);
        match Running::start(kind, &root, index, &config) {
            Ok(server) => {
                println!("{}: measuring", kind.label());
                measure(kind, &server, &config, &root, &mut column);
                println!("{}: {:?}", kind.label(), column.cells);
                measured.push((Some((kind, server)), column));
            }
            Err(e) => {
                column.notes.push(format!("not measured: {e}"));
                measured.push((None, column));
            }
        }
    }
    for round in 2..=config.rounds {
        if ROUND_ROWS.iter().any(|row| config.runs(row)) {
            println!("round rows, round {round} of {}", config.rounds);
            for (server, column) in &mut measured {
                if let Some((kind, server)) = server {
                    round_rows(*kind, server, &config, &root, column);
                }
            }
        }
    }
    let mut columns = Vec::new();
    for (server, mut column) in measured {
        if let Some((_, server)) = server {
            let cell = settled_cell(&server, &column, config.settle);
            column.set(ROW_AFTER, cell);
        }
        columns.push(column);
    }
    print_table(&columns, &config);
    let _ = std::fs::remove_dir_all(&root);
}
