//! Bans across sessions over real sockets under both runtimes: an address that fails too many
//! logins, over several connections, gets `421` on its next connections until the ban ends;
//! another address is not touched.

mod support;

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ftp_server::BanPolicy;
use support::*;

const BAN: Duration = Duration::from_millis(1500);

/// A control connection from 127.0.0.2 (loopback, but another client address).
fn connect_from_127_0_0_2(server: SocketAddr) -> Ctl {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = "127.0.0.2:0".parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let mut ctl = Ctl::from_stream(TcpStream::from(socket));
    assert_eq!(ctl.reply().0, 220);
    ctl
}

fn fail_login(ctl: &mut Ctl) {
    ctl.expect("USER alice", 331);
    ctl.expect("PASS wrong", 530);
}

#[test]
fn failed_logins_across_sessions_ban_the_address_for_a_while() {
    each_runtime(|rt| {
        let policy = BanPolicy::new(3, Duration::from_secs(60), BAN);
        let server = TestServer::start(rt, |s| s.ban(policy));
        // Two failures, then a reconnection and a third: the session limit (3) is not reached
        // in either session, the address's count is.
        let mut first = server.connect();
        fail_login(&mut first);
        fail_login(&mut first);
        first.expect("QUIT", 221);
        let mut second = server.connect();
        fail_login(&mut second);
        let banned_at = Instant::now();
        // The session that failed goes on; new connections are refused.
        second.expect("NOOP", 200);
        let mut refused = Ctl::connect(server.addr);
        assert_eq!(
            refused.raw_reply(),
            "421 Too many failed logins from your address; try again later.\r\n"
        );
        refused.expect_closed();
        let metrics = server.metrics().snapshot();
        assert_eq!(
            (metrics.bans, metrics.refused, metrics.failed_logins),
            (1, [0, 1, 0, 0], 3)
        );
        // Another address logs in meanwhile.
        let mut other = connect_from_127_0_0_2(server.addr);
        other.expect(&format!("USER {}", ALICE.0), 331);
        other.expect(&format!("PASS {}", ALICE.1), 230);
        // After the ban, the address is welcome again.
        std::thread::sleep(BAN.saturating_sub(banned_at.elapsed()) + Duration::from_millis(100));
        server.login(ALICE).expect("QUIT", 221);
    });
}

#[test]
fn connections_past_the_rate_get_421_and_other_addresses_do_not() {
    each_runtime(|rt| {
        let rate = ftp_server::ConnectionRate::new(3, Duration::from_secs(60));
        let server = TestServer::start(rt, |s| s.connection_rate(rate));
        for _ in 0..3 {
            server.connect().expect("QUIT", 221);
        }
        let mut refused = Ctl::connect(server.addr);
        assert_eq!(
            refused.raw_reply(),
            "421 Too many connections from your address; slow down.\r\n"
        );
        refused.expect_closed();
        connect_from_127_0_0_2(server.addr).expect("QUIT", 221);
        let metrics = server.metrics().snapshot();
        assert_eq!((metrics.refused, metrics.sessions), ([0, 0, 0, 1], 4));
    });
}
