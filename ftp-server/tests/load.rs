//! Load with faults, over real sockets under both runtimes, at a size CI holds: 200 sessions
//! upload and download for ten seconds while 50 clients die mid-transfer and 2 stop moving
//! their data. Afterwards every stored file reads back exactly, nothing half-written sits under
//! a final name, every transfer that started reports how it ended, no session is left, and the
//! server's descriptors are back to their baseline.
//!
//! The server's memory under this kind of load is measured by `benches/benches/server_load.rs`,
//! not here: a timed or sized assertion would be a flaky test, not a measurement.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::*;

/// Sessions that upload, download back and compare, for [`LOAD_TIME`].
const WORKERS: usize = 200;
const LOAD_TIME: Duration = Duration::from_secs(10);
/// Clients that die half-way through a transfer, spread over the load.
const KILLED: usize = 50;
/// The stall timeout of the server under test; two clients stop moving their data.
const STALL: Duration = Duration::from_secs(2);

/// Upload sizes the workers cycle through: empty, tiny, around the copy buffer, a few hundred
/// KiB.
const SIZES: [usize; 6] = [0, 1, 4096, 65_537, 262_144, 600_001];

/// A file every worker also downloads, and the one the killed and stalled downloads read.
const SHARED: &str = "shared/common.bin";
const BIG: &str = "shared/big.bin";
/// An existing file that killed uploads try to overwrite: it must keep its old content.
const KEEP: &str = "shared/keep.bin";

#[test]
fn load_with_killed_and_stalled_clients_loses_nothing() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| {
            s.max_sessions(WORKERS + KILLED + 16)
                .max_sessions_per_ip(WORKERS + KILLED + 16)
                .stall_timeout(Some(STALL))
        });
        let shared = seed_shared_files(&server);
        let baseline = open_fds();
        let until = Instant::now() + LOAD_TIME;

        let workers: Vec<_> = (0..WORKERS)
            .map(|id| spawn(server.addr, move |addr| worker(addr, id, until)))
            .collect();
        let killed: Vec<_> = (0..KILLED)
            .map(|i| spawn(server.addr, move |addr| die_mid_transfer(addr, i)))
            .collect();
        let stalled = [
            spawn(server.addr, stall_upload),
            spawn(server.addr, stall_download),
        ];

        let mut expected = shared;
        for worker in workers {
            expected.extend(joined(worker));
        }
        killed.into_iter().for_each(joined);
        stalled.into_iter().for_each(joined);

        wait_until("every session to end", || server.active_sessions() == 0);
        wait_until("descriptors back to the baseline", || {
            open_fds() <= baseline
        });
        assert_stored_exactly(&server, expected);
        assert_every_transfer_ended(&server.events.lock().unwrap());
    });
}

/// Writes the shared files; returns every file the server should hold with no upload.
fn seed_shared_files(server: &TestServer) -> HashMap<String, Vec<u8>> {
    let files = [
        (SHARED, pattern(150_000, 1)),
        (BIG, pattern(8 << 20, 2)),
        (KEEP, pattern(300_000, 3)),
    ];
    files
        .into_iter()
        .map(|(name, content)| {
            server.write(name, &content);
            (name.to_owned(), content)
        })
        .collect()
}

/// Runs `client` on its own thread against the server at `addr`.
fn spawn<T: Send + 'static>(
    addr: std::net::SocketAddr,
    client: impl FnOnce(std::net::SocketAddr) -> T + Send + 'static,
) -> JoinHandle<T> {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || client(addr))
        .unwrap()
}

/// The thread's result; a client that failed fails the test with its message.
fn joined<T>(handle: JoinHandle<T>) -> T {
    handle
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

fn login(addr: std::net::SocketAddr) -> Ctl {
    let mut ctl = Ctl::connect(addr);
    assert_eq!(ctl.reply().0, 220);
    ctl.expect(&format!("USER {}", ALICE.0), 331);
    ctl.expect(&format!("PASS {}", ALICE.1), 230);
    ctl.expect("TYPE I", 200);
    ctl
}

/// Uploads files of assorted sizes into its own folder until `until`, downloading each back
/// and the shared file every third time; returns what it stored.
fn worker(addr: std::net::SocketAddr, id: usize, until: Instant) -> HashMap<String, Vec<u8>> {
    let mut ctl = login(addr);
    ctl.expect(&format!("MKD w{id}"), 257);
    let shared = pattern(150_000, 1);
    let mut stored = HashMap::new();
    let mut n = 0;
    while Instant::now() < until {
        let name = format!("w{id}/{n}.bin");
        let content = pattern(SIZES[(id + n) % SIZES.len()], (id * 10_000 + n) as u64);
        ctl.stor(&name, &content);
        assert!(ctl.retr(&name) == content, "{name} read back differs");
        if n % 3 == 0 {
            assert!(ctl.retr(SHARED) == shared, "{SHARED} differs");
        }
        stored.insert(name, content);
        n += 1;
    }
    ctl.expect("QUIT", 221);
    stored
}

/// A client that dies during a transfer: an upload of a new file, an upload over [`KEEP`], or
/// a download of [`BIG`], started at a point spread over the load. Its control connection
/// closes first, then its data connection, as when the process is killed (the kernel closes
/// descriptors in order, and the control connection's is the older, lower one).
fn die_mid_transfer(addr: std::net::SocketAddr, i: usize) {
    std::thread::sleep(LOAD_TIME.mul_f64(0.8) * i as u32 / KILLED as u32);
    let mut ctl = login(addr);
    let mut data = ctl.epsv();
    match i % 3 {
        0 => start_upload(&mut ctl, &mut data, &format!("killed-{i}.bin")),
        1 => start_upload(&mut ctl, &mut data, KEEP),
        _ => {
            expect_transfer_start(&mut ctl, &format!("RETR {BIG}"));
            let mut some = vec![0u8; 64 * 1024];
            data.read_exact(&mut some).unwrap();
        }
    }
    drop(ctl);
    drop(data);
}

/// Sends a transfer command; asserts 125 (the data connection is already open) or 150.
#[track_caller]
fn expect_transfer_start(ctl: &mut Ctl, command: &str) {
    ctl.send(command);
    let (code, text) = ctl.reply();
    assert!(code == 125 || code == 150, "{command}: {text}");
}

/// Sends STOR and the first 100 KB of a 1 MB file.
fn start_upload(ctl: &mut Ctl, data: &mut TcpStream, name: &str) {
    expect_transfer_start(ctl, &format!("STOR {name}"));
    data.write_all(&pattern(100_000, 9)).unwrap();
}

/// An upload that stops sending: 426 after the stall timeout, nothing stored.
fn stall_upload(addr: std::net::SocketAddr) {
    let mut ctl = login(addr);
    let mut data = ctl.epsv();
    start_upload(&mut ctl, &mut data, "stalled.bin");
    assert_eq!(
        ctl.raw_reply(),
        "426 Data connection stalled; transfer aborted.\r\n"
    );
    ctl.expect("QUIT", 221);
}

/// A download nobody reads: 426 after the stall timeout.
fn stall_download(addr: std::net::SocketAddr) {
    let mut ctl = login(addr);
    let _data = ctl.epsv();
    expect_transfer_start(&mut ctl, &format!("RETR {BIG}"));
    assert_eq!(
        ctl.raw_reply(),
        "426 Data connection stalled; transfer aborted.\r\n"
    );
    ctl.expect("QUIT", 221);
}

/// The descriptors this process has open (the server runs in it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Polls `done` for up to 15 s.
#[track_caller]
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "waited 15 s for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The served folder holds exactly `expected`, byte for byte: no killed or stalled upload
/// under any name, no temporary file left behind, [`KEEP`] unchanged.
#[track_caller]
fn assert_stored_exactly(server: &TestServer, mut expected: HashMap<String, Vec<u8>>) {
    let mut unexpected = Vec::new();
    let mut differ = Vec::new();
    for (name, content) in tree(server.root.path()) {
        match expected.remove(&name) {
            None => unexpected.push((name, content.len())),
            Some(wanted) if wanted != content => differ.push((name, content.len())),
            Some(_) => {}
        }
    }
    let missing: Vec<_> = expected.into_keys().collect();
    assert!(
        unexpected.is_empty() && differ.is_empty() && missing.is_empty(),
        "unexpected files (name, size) {unexpected:?}; content differs {differ:?}; \
         missing {missing:?}"
    );
}

/// Every transfer that started in any session ended with 226, an error reply or an
/// interruption, exactly once; no killed upload was reported as stored.
#[track_caller]
fn assert_every_transfer_ended(events: &[String]) {
    let mut open: HashMap<&str, i32> = HashMap::new();
    for line in events {
        let (session, event) = line.split_once(' ').unwrap();
        if event.starts_with("TransferStarted") {
            *open.entry(session).or_default() += 1;
        } else if ["TransferCompleted", "TransferFailed", "TransferInterrupted"]
            .iter()
            .any(|end| event.starts_with(end))
        {
            *open.entry(session).or_default() -= 1;
        }
        let killed_upload = event.contains("killed-") || event.contains("keep.bin");
        assert!(
            !(killed_upload && event.starts_with("TransferCompleted")),
            "{line}"
        );
    }
    let unbalanced: Vec<_> = open.iter().filter(|(_, n)| **n != 0).collect();
    assert!(unbalanced.is_empty(), "sessions {unbalanced:?}");
    let interrupted = events
        .iter()
        .filter(|l| l.contains(" TransferInterrupted"))
        .count();
    assert!(interrupted > 0, "no transfer was reported interrupted");
}

/// The control listener's accept queue holds 1,024 connections (the standard library's 128
/// overflowed when 300 clients connected at once, and each dropped SYN cost a second), as
/// `ss` reports it for a listening socket (its Send-Q).
#[test]
fn the_control_listener_queues_a_thousand_connections() {
    require("ss");
    for rt in RUNTIMES {
        let server = TestServer::start(rt, |s| s);
        let filter = format!("sport = :{}", server.addr.port());
        let out = std::process::Command::new("ss")
            .args(["-Hltn", &filter])
            .output()
            .expect("ss runs");
        let listing = String::from_utf8_lossy(&out.stdout);
        let queue: Vec<&str> = listing
            .lines()
            .filter_map(|line| line.split_whitespace().nth(2))
            .collect();
        assert_eq!(queue, ["1024"], "{rt:?}: {listing}");
    }
}
