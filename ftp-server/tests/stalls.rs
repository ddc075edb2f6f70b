//! Clients that stop half-way, over real sockets under both runtimes: a download nobody reads
//! and an upload that stops sending get `426` after the stall timeout, the session goes on,
//! nothing half-written appears, and the server's descriptors return to their baseline; TLS
//! handshakes that never finish are given up after the handshake timeout.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

const STALL: Duration = Duration::from_millis(1500);

/// How early a stall may be called: the server hears of moving bytes at most once a second.
const PROGRESS_GRANULARITY: Duration = Duration::from_secs(1);

/// Held by each test: they count this process's descriptors, which tests running beside
/// them would move.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The descriptors this process has open (the server runs in it).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (5 s at most) until the process is back to `baseline` descriptors or fewer.
#[track_caller]
fn assert_fds_return_to(baseline: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_fds() > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        open_fds() <= baseline,
        "{} fds open, baseline {baseline}",
        open_fds()
    );
}

/// Asserts the 426 comes after the stall timeout (less the progress granularity), and not
/// much later.
#[track_caller]
fn expect_stalled(ctl: &mut Ctl, since: Instant) {
    assert_eq!(
        ctl.raw_reply(),
        "426 Data connection stalled; transfer aborted.\r\n"
    );
    let waited = since.elapsed();
    assert!(
        waited >= STALL - PROGRESS_GRANULARITY && waited < STALL + Duration::from_secs(5),
        "426 after {waited:?}"
    );
}

/// Reads a data connection to its end (EOF or reset), at most 10 s; true if it ended.
fn drains_to_the_end(mut data: TcpStream) -> bool {
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match data.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_download_nobody_reads_gets_426_on_both_paths() {
    let _alone = one_at_a_time();
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.stall_timeout(Some(STALL)));
        // Far more than the loopback socket buffers hold.
        let big = pattern(48 << 20, 7);
        server.write("big.bin", &big);
        let mut ctl = server.login(ALICE);
        let baseline = open_fds();
        // TYPE I is sent from the page cache; TYPE A takes the async transcoding path.
        for (tag, type_command) in [("binary", "TYPE I"), ("ascii", "TYPE A")] {
            ctl.expect(type_command, 200);
            let data = ctl.epsv();
            ctl.send("RETR big.bin");
            let (code, text) = ctl.reply();
            assert!(code == 125 || code == 150, "{tag}: {text}");
            let started = Instant::now();
            expect_stalled(&mut ctl, started);
            assert!(
                drains_to_the_end(data),
                "{tag}: the data connection stays open"
            );
            ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");
        }
        assert_fds_return_to(baseline);
        // The session can still transfer.
        ctl.expect("TYPE I", 200);
        server.write("small.bin", b"still here");
        assert_eq!(ctl.retr("small.bin"), b"still here");
    });
}

#[test]
fn an_upload_that_stops_sending_gets_426_and_stores_nothing() {
    let _alone = one_at_a_time();
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.stall_timeout(Some(STALL)));
        let mut ctl = server.login(ALICE);
        let baseline = open_fds();
        for (tag, type_command) in [("binary", "TYPE I"), ("ascii", "TYPE A")] {
            ctl.expect(type_command, 200);
            let mut data = ctl.epsv();
            ctl.send("STOR part.bin");
            let (code, text) = ctl.reply();
            assert!(code == 125 || code == 150, "{tag}: {text}");
            data.write_all(&text_or_bytes(tag)).unwrap();
            let started = Instant::now();
            expect_stalled(&mut ctl, started);
            assert!(
                drains_to_the_end(data),
                "{tag}: the data connection stays open"
            );
            // Nothing under the final name, and the temporary file goes once the copy stops.
            assert!(!server.file("part.bin").exists(), "{tag}");
            assert_tree_empties(&server, tag);
            ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");
        }
        assert_fds_return_to(baseline);
    });
}

/// Waits (5 s at most) for the served folder to be empty.
#[track_caller]
fn assert_tree_empties(server: &TestServer, tag: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !tree(server.root.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(tree(server.root.path()), [], "{tag}");
}

fn text_or_bytes(tag: &str) -> Vec<u8> {
    if tag == "ascii" {
        text(2000)
    } else {
        pattern(300_000, 9)
    }
}

/// A transfer that keeps moving, however slowly, is never cut off.
#[test]
fn a_slow_upload_that_keeps_moving_completes() {
    let _alone = one_at_a_time();
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.stall_timeout(Some(Duration::from_secs(2))));
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);
        let mut data = ctl.epsv();
        ctl.send("STOR slow.bin");
        let (code, text) = ctl.reply();
        assert!(code == 125 || code == 150, "{text}");
        let content = pattern(8 * 1024, 5);
        // 4 s in all, a piece every 500 ms: twice the stall timeout, never a gap of it.
        for piece in content.chunks(1024) {
            data.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(500));
        }
        drop(data);
        assert_eq!(ctl.raw_reply(), "226 Transfer complete.\r\n");
        assert_eq!(server.read("slow.bin"), content);
    });
}

#[test]
fn tls_handshakes_that_never_finish_are_given_up() {
    let _alone = one_at_a_time();
    each_runtime(|rt| {
        let limit = Duration::from_millis(600);
        let server = TestServer::start(rt, |s| {
            s.tls(tls_config())
                .implicit_tls_listen("127.0.0.1:0".parse().unwrap())
                .tls_handshake_timeout(limit)
        });
        let baseline = open_fds();
        // Implicit FTPS: a client that connects and sends nothing.
        let mut silent = TcpStream::connect(server.implicit.unwrap()).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let read = silent.read(&mut buf);
        let waited = started.elapsed();
        assert!(matches!(read, Ok(0)) || read.is_err(), "{read:?}");
        assert!(
            waited >= limit && waited < limit + Duration::from_secs(5),
            "{waited:?}"
        );
        // Explicit: AUTH TLS, then nothing.
        let mut ctl = server.connect();
        ctl.expect_raw("AUTH TLS", "234 Proceed with negotiation.\r\n");
        let started = Instant::now();
        ctl.expect_closed();
        let waited = started.elapsed();
        assert!(
            waited >= limit && waited < limit + Duration::from_secs(5),
            "{waited:?}"
        );
        drop((silent, ctl));
        assert_fds_return_to(baseline);
    });
}
