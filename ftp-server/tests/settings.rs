//! The `Server` builder's settings, observed over real sockets under both runtimes: the
//! banner, the passive port range and the advertised passive address, active mode off, the
//! line length limit, the session limit, and the idle and data timeouts. Every reply is
//! compared byte for byte.

mod support;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use support::*;

/// Passive ports for the range tests: below Linux's ephemeral range (32768-60999), so the
/// system never hands them out to other sockets of this test run.
const PASSIVE: RangeInclusive<u16> = 23_100..=23_119;

/// The port of a `229 Entering Extended Passive Mode (|||port|)` reply, checking its exact form.
#[track_caller]
fn epsv_port(raw: &str) -> u16 {
    let port = raw
        .strip_prefix("229 Entering Extended Passive Mode (|||")
        .and_then(|rest| rest.strip_suffix("|)\r\n"))
        .unwrap_or_else(|| panic!("unexpected EPSV reply {raw:?}"));
    port.parse().unwrap()
}

/// The address of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` reply, checking its form.
#[track_caller]
fn pasv_addr(raw: &str) -> SocketAddr {
    let numbers = raw
        .strip_prefix("227 Entering Passive Mode (")
        .and_then(|rest| rest.strip_suffix(").\r\n"))
        .unwrap_or_else(|| panic!("unexpected PASV reply {raw:?}"));
    let n: Vec<u8> = numbers.split(',').map(|n| n.parse().unwrap()).collect();
    assert_eq!(n.len(), 6, "{raw:?}");
    let addr = SocketAddr::from((
        Ipv4Addr::new(n[0], n[1], n[2], n[3]),
        u16::from(n[4]) << 8 | u16::from(n[5]),
    ));
    // The reply is exactly what the address formats back to.
    assert_eq!(
        raw,
        format!(
            "227 Entering Passive Mode ({},{},{},{},{},{}).\r\n",
            n[0],
            n[1],
            n[2],
            n[3],
            addr.port() >> 8,
            addr.port() & 0xFF
        )
    );
    addr
}

/// RETR of `path` over a data connection the client has connected; asserts the exact
/// preliminary reply (125 when the server has accepted the connection by then, else 150) and
/// the 226.
fn retr_over(ctl: &mut Ctl, mut data: TcpStream, path: &str, len: usize) -> Vec<u8> {
    ctl.send(&format!("RETR {path}"));
    let opening = ctl.raw_reply();
    assert!(
        opening == "125 Data connection already open; transfer starting.\r\n"
            || opening
                == format!(
                    "150 Opening BINARY mode data connection for {} ({len} bytes).\r\n",
                    path.rsplit('/').next().unwrap_or(path)
                ),
        "RETR {path}: {opening:?}"
    );
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ctl.raw_reply(), "226 Transfer complete.\r\n");
    got
}

/// Asserts that nothing listens on 127.0.0.1:`port` any more, within two seconds (the
/// driver closes listeners asynchronously, right after the reply).
#[track_caller]
fn assert_closes(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while let Ok(stray) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
        drop(stray);
        assert!(
            Instant::now() < deadline,
            "port {port} still accepts connections"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn banner_is_the_greeting() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.banner("Welcome to the test server"));
        let mut ctl = Ctl::connect(server.addr);
        assert_eq!(ctl.raw_reply(), "220 Welcome to the test server\r\n");
        ctl.expect_raw("QUIT", "221 Goodbye.\r\n");

        // A `\n` makes it multi-line.
        let server = TestServer::start(rt, |s| s.banner("first line\nsecond line\nlast line"));
        let mut ctl = Ctl::connect(server.addr);
        assert_eq!(
            ctl.raw_reply(),
            "220-first line\r\nsecond line\r\n220 last line\r\n"
        );
        ctl.expect("USER alice", 331);
        ctl.expect("PASS secret", 230);

        // An inner line that starts with digits is indented, so that it cannot end the reply.
        let server = TestServer::start(rt, |s| s.banner("ftp-rs\n220 is not the end\nready"));
        let mut ctl = Ctl::connect(server.addr);
        assert_eq!(
            ctl.raw_reply(),
            "220-ftp-rs\r\n 220 is not the end\r\n220 ready\r\n"
        );
        ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");
    });
}

#[test]
fn passive_ports_stay_in_the_range() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.passive_ports(PASSIVE));
        let content = pattern(30_000, 5);
        server.write("f.bin", &content);
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);
        for round in 0..4 {
            ctl.send("EPSV");
            let port = epsv_port(&ctl.raw_reply());
            assert!(
                PASSIVE.contains(&port),
                "EPSV port {port} outside {PASSIVE:?}"
            );
            ctl.send("PASV");
            let addr = pasv_addr(&ctl.raw_reply());
            assert_eq!(addr.ip(), Ipv4Addr::LOCALHOST);
            assert!(
                PASSIVE.contains(&addr.port()),
                "PASV port {} outside {PASSIVE:?}",
                addr.port()
            );
            // The announced listener is the one that serves the transfer.
            if round % 2 == 0 {
                let data = TcpStream::connect(addr).unwrap();
                assert!(retr_over(&mut ctl, data, "f.bin", content.len()) == content);
            }
        }
        ctl.expect("QUIT", 221);
    });
}

#[test]
fn passive_address_is_announced_in_227() {
    each_runtime(|rt| {
        let announced = Ipv4Addr::new(192, 0, 2, 7);
        let server = TestServer::start(rt, |s| s.passive_address(announced.into()));
        let content = pattern(20_000, 6);
        server.write("f.bin", &content);
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);
        ctl.send("PASV");
        let addr = pasv_addr(&ctl.raw_reply());
        assert_eq!(addr.ip(), announced);
        // The listener itself is on the control connection's address (NAT maps the other).
        let data = TcpStream::connect((Ipv4Addr::LOCALHOST, addr.port())).unwrap();
        assert!(retr_over(&mut ctl, data, "f.bin", content.len()) == content);
        // EPSV carries no address and still works.
        ctl.send("EPSV");
        let port = epsv_port(&ctl.raw_reply());
        let data = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        assert!(retr_over(&mut ctl, data, "f.bin", content.len()) == content);
        ctl.expect("QUIT", 221);
    });
}

#[test]
fn active_mode_off_refuses_port_eprt_and_lprt() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.active_mode(false));
        server.write("f.bin", b"passive only\n");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut ctl = server.login(ALICE);
        let refused = "502 Active mode is disabled; use PASV or EPSV.\r\n";
        ctl.expect_raw(
            &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xFF),
            refused,
        );
        ctl.expect_raw(&format!("EPRT |1|127.0.0.1|{port}|"), refused);
        ctl.expect_raw(
            &format!("LPRT 4,4,127,0,0,1,2,{},{}", port >> 8, port & 0xFF),
            refused,
        );
        // Nothing was set up: a transfer now has no data channel, and nobody connected.
        ctl.expect("TYPE I", 200);
        ctl.expect_raw("RETR f.bin", "425 Use PORT or PASV first.\r\n");
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_err(), "the server connected anyway");
        // FEAT no longer offers EPRT; passive transfers work.
        ctl.send("FEAT");
        let feat = ctl.raw_reply();
        assert!(feat.starts_with("211-"), "{feat:?}");
        assert!(feat.contains("\r\n EPSV\r\n"), "{feat:?}");
        assert!(!feat.contains("EPRT"), "{feat:?}");
        assert_eq!(ctl.retr("f.bin"), b"passive only\n");
        ctl.expect("QUIT", 221);

        // The default server accepts the same PORT (the refusal above is the setting's doing).
        let server = TestServer::start(rt, |s| s);
        let mut ctl = server.login(ALICE);
        ctl.expect_raw(
            &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xFF),
            "200 PORT command successful.\r\n",
        );
        ctl.send("FEAT");
        assert!(ctl.raw_reply().contains("\r\n EPRT\r\n"));
    });
}

#[test]
fn max_line_len_answers_500_and_the_session_goes_on() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.max_line_len(64));
        // "CWD " + 60 characters: exactly 64 bytes; one more is too long.
        let fits = "d".repeat(60);
        let too_long = "e".repeat(61);
        std::fs::create_dir(server.file(&fits)).unwrap();
        std::fs::create_dir(server.file(&too_long)).unwrap();
        let mut ctl = server.login(ALICE);
        ctl.expect_raw(
            &format!("CWD {fits}"),
            "250 Directory successfully changed.\r\n",
        );
        ctl.expect_raw(
            &format!("CWD /{too_long}"),
            "500 Command line too long.\r\n",
        );
        ctl.expect_raw(
            &format!("CWD /{}", "e".repeat(5_000)),
            "500 Command line too long.\r\n",
        );
        // The session goes on where it was.
        ctl.expect_raw("PWD", &format!("257 \"/{fits}\" is current directory.\r\n"));
        ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");
        ctl.expect("QUIT", 221);
    });
}

/// A client that keeps a session busy without logging in is closed at the login timeout;
/// one that logs in is not.
#[test]
fn sessions_that_never_log_in_are_closed_at_the_login_timeout() {
    each_runtime(|rt| {
        let limit = Duration::from_millis(1200);
        let server = TestServer::start(rt, |s| s.login_timeout(Some(limit)));
        let mut loitering = server.connect();
        let started = Instant::now();
        let mut answered = 0;
        loop {
            loitering.send("NOOP");
            match loitering.raw_reply().as_str() {
                "200 NOOP ok.\r\n" => answered += 1,
                "421 Login timeout: closing control connection.\r\n" => break,
                other => panic!("{other:?}"),
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no login timeout"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(started.elapsed() >= limit - Duration::from_millis(50));
        assert!(answered >= 3, "{answered} NOOPs answered");
        loitering.expect_closed();
        let mut user = server.login(ALICE);
        std::thread::sleep(limit + Duration::from_millis(300));
        user.expect_raw("NOOP", "200 NOOP ok.\r\n");
    });
}

/// Over the limit on an implicit-FTPS listener, the client hears the 421 inside TLS, after
/// the handshake, rather than a silent close.
#[test]
fn over_the_limit_an_implicit_tls_client_gets_421_after_the_handshake() {
    const CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10))
data = b""
try:
    while chunk := tls.recv(1024):
        data += chunk
except ssl.SSLError:
    pass
sys.stdout.write(data.decode())
"#;
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| {
            s.tls(tls_config())
                .implicit_tls_listen("127.0.0.1:0".parse().unwrap())
                .max_sessions(1)
        });
        let _only = server.login(ALICE);
        let port = server.implicit.unwrap().port().to_string();
        let out = ok(python(CLIENT, &[port], Duration::from_secs(20)));
        assert_eq!(out, "421 Too many connections, try again later.\r\n");
    });
}

#[test]
fn max_sessions_refuses_the_next_with_421() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.max_sessions(3));
        let mut sessions: Vec<Ctl> = (0..3).map(|_| server.login(ALICE)).collect();
        let mut refused = Ctl::connect(server.addr);
        assert_eq!(
            refused.raw_reply(),
            "421 Too many connections, try again later.\r\n"
        );
        refused.expect_closed();
        // The admitted sessions are unaffected.
        for ctl in &mut sessions {
            ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");
        }
        // One leaves: its place is given to the next client.
        sessions.pop().unwrap().expect("QUIT", 221);
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.active_sessions() > 2 {
            assert!(Instant::now() < deadline, "the place was not released");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut next = server.login(ALICE);
        next.expect_raw("NOOP", "200 NOOP ok.\r\n");
        let mut refused = Ctl::connect(server.addr);
        assert_eq!(
            refused.raw_reply(),
            "421 Too many connections, try again later.\r\n"
        );
        refused.expect_closed();
    });
}

#[test]
fn idle_sessions_get_421_and_are_closed() {
    each_runtime(|rt| {
        let idle = Duration::from_millis(800);
        let server = TestServer::start(rt, |s| s.idle_timeout(Some(idle)));
        let mut ctl = server.login(ALICE);
        // Commands keep the session alive well past the timeout.
        let started = Instant::now();
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(200));
            ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");
        }
        assert!(started.elapsed() > idle);
        // Then silence: 421 and the end of the connection.
        let quiet = Instant::now();
        assert_eq!(
            ctl.raw_reply(),
            "421 Timeout: closing control connection.\r\n"
        );
        let waited = quiet.elapsed();
        assert!(
            waited >= idle - Duration::from_millis(50) && waited < Duration::from_secs(5),
            "closed after {waited:?}"
        );
        ctl.expect_closed();

        // Before login too.
        let mut ctl = server.connect();
        assert_eq!(
            ctl.raw_reply(),
            "421 Timeout: closing control connection.\r\n"
        );
        ctl.expect_closed();
    });
}

#[test]
fn data_timeout_fails_transfers_with_425() {
    each_runtime(|rt| {
        let limit = Duration::from_millis(500);
        let server = TestServer::start(rt, |s| s.data_timeout(limit));
        server.write("f.bin", &pattern(1000, 3));
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);

        // RETR after EPSV, but the client never connects: 150, then 425 after the timeout.
        ctl.send("EPSV");
        let port = epsv_port(&ctl.raw_reply());
        let started = Instant::now();
        ctl.send("RETR f.bin");
        assert_eq!(
            ctl.raw_reply(),
            "150 Opening BINARY mode data connection for f.bin (1000 bytes).\r\n"
        );
        assert_eq!(ctl.raw_reply(), "425 Can't open data connection.\r\n");
        let waited = started.elapsed();
        assert!(
            waited >= limit - Duration::from_millis(50) && waited < Duration::from_secs(5),
            "425 after {waited:?}"
        );
        // The listener goes away; the session goes on.
        assert_closes(port);
        ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");

        // A passive listener nobody uses is dropped after the timeout, silently.
        ctl.send("EPSV");
        let port = epsv_port(&ctl.raw_reply());
        std::thread::sleep(limit * 2);
        assert_closes(port);
        ctl.expect_raw("RETR f.bin", "425 Use PORT or PASV first.\r\n");

        // STOR the same way: 150, 425, and nothing stored.
        ctl.send("EPSV");
        epsv_port(&ctl.raw_reply());
        ctl.send("STOR new.bin");
        assert_eq!(
            ctl.raw_reply(),
            "150 Opening BINARY mode data connection for new.bin.\r\n"
        );
        assert_eq!(ctl.raw_reply(), "425 Can't open data connection.\r\n");
        // Settled by the time the 425 arrives: no temporary file either.
        assert_same_tree(
            &tree(server.root.path()),
            &[("f.bin".to_owned(), pattern(1000, 3))],
        );
        ctl.expect("QUIT", 221);
    });
}
