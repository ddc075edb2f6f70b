//! The server's counters ([`ftp_server::Metrics`]) over real sockets under both runtimes:
//! exact figures after a scripted exchange, and TLS handshakes counted from curl's FTPS.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use ftp_server::MetricsSnapshot;
use support::*;

/// Waits (5 s at most) until every session has ended, then returns the counters.
fn settled(server: &TestServer) -> MetricsSnapshot {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let snapshot = server.metrics().snapshot();
        if snapshot.sessions_open == 0 && snapshot.transfers_running == 0 {
            return snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "sessions did not end: {snapshot:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn counters_match_a_scripted_exchange_exactly() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.max_sessions(2));
        server.write("f.bin", &pattern(1000, 1));
        let mut alice = server.login(ALICE);
        alice.expect("TYPE I", 200);
        assert_eq!(alice.retr("f.bin").len(), 1000);
        alice.stor("up.bin", &pattern(500, 2));
        alice.expect("XYZZY", 500);
        let mut wrong = server.connect();
        wrong.expect("USER alice", 331);
        wrong.expect("PASS wrong", 530);
        // Two sessions run: a third connection is refused and not counted as a session.
        let mut third = Ctl::connect(server.addr);
        assert_eq!(third.reply().0, 421);
        third.expect_closed();
        let now = server.metrics().snapshot();
        assert_eq!((now.sessions_open, now.sessions), (2, 2));
        alice.expect("QUIT", 221);
        wrong.expect("QUIT", 221);

        let s = settled(&server);
        assert_eq!(
            (s.sessions_open, s.sessions, s.refused),
            (0, 2, [1, 0, 0, 0])
        );
        assert_eq!((s.logins, s.failed_logins), (1, 1));
        let verbs = [
            "USER", "PASS", "TYPE", "EPSV", "RETR", "STOR", "QUIT", "OTHER", "LIST",
        ];
        let counts: Vec<u64> = verbs.iter().map(|v| s.commands_of(v)).collect();
        assert_eq!(counts, [2, 2, 1, 2, 1, 1, 2, 1, 0]);
        assert_eq!(s.commands.iter().map(|(_, n)| n).sum::<u64>(), 12);
        // 220 ×2 (and the refused session's 421), 331 ×2, 230, 200, 530, 229 ×2, 150/125 ×2,
        // 226 ×2, 500, 221 ×2.
        assert_eq!(s.replies, [2, 10, 2, 1, 2]);
        assert_eq!((s.bytes_sent, s.bytes_received), (1000, 500));
        assert_eq!((s.transfers_running, s.transfers), (0, [2, 0, 0]));
        assert_eq!((s.tls_handshakes, s.tls_failures, s.bans), (0, 0, 0));
    });
}

#[test]
fn tls_handshakes_and_failed_transfers_are_counted() {
    require("curl");
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.tls(tls_config()));
        server.write("f.bin", &pattern(70_000, 3));
        // FTPS: the control connection's handshake and the data connection's.
        let out = Command::new("curl")
            .args(["-sS", "--ssl-reqd", "-k", "-u", "alice:secret"])
            .arg(server.url("f.bin"))
            .output()
            .unwrap();
        assert!(out.stdout == pattern(70_000, 3), "{}", stderr(&out));
        // A handshake that fails: AUTH TLS, then bytes that are no ClientHello.
        let mut ctl = server.connect();
        ctl.expect("AUTH TLS", 234);
        ctl.send_raw(b"this is not TLS\r\n\r\n");
        let mut alert = Vec::new();
        let _ = std::io::Read::read_to_end(&mut ctl.stream, &mut alert);
        assert_eq!(alert.first(), Some(&0x15), "a TLS alert: {alert:?}");
        // A transfer that fails: the data connection opens, the file is missing.
        let mut alice = server.login(ALICE);
        let _data = alice.epsv();
        alice.expect("RETR missing.bin", 550);
        alice.expect("QUIT", 221);

        let s = settled(&server);
        assert_eq!((s.tls_handshakes, s.tls_failures), (2, 1));
        assert_eq!(s.sessions, 3);
        assert_eq!(s.bytes_sent, 70_000);
        assert_eq!(s.transfers[0], 1);
    });
}
