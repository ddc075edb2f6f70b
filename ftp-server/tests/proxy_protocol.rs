//! The PROXY protocol over real sockets under both runtimes, with the headers written byte for
//! byte by the test: the address a trusted header carries is the session's address (events,
//! per-address limits, the PORT check, the passive peer check); untrusted peers, bad headers
//! and slow headers are refused; nothing after the header is lost. `haproxy.rs` runs the same
//! behind a real HAProxy.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ftp_server::proto::proxy::{encode_v1, encode_v2, ProxyHeader, V2_SIGNATURE};
use ftp_server::ProxyProtocol;
use support::*;

const CLIENT: &str = "192.0.2.7:56324";

fn trusting(nets: &[&str]) -> ProxyProtocol {
    ProxyProtocol::new(nets.iter().map(|net| net.parse().unwrap()))
        .header_timeout(Duration::from_millis(500))
}

fn header(source: &str, server: SocketAddr, v2: bool) -> Vec<u8> {
    let header = ProxyHeader::Proxied {
        source: source.parse().unwrap(),
        destination: server,
    };
    let mut out = Vec::new();
    if v2 {
        encode_v2(&header, &mut out);
    } else {
        encode_v1(&header, &mut out);
    }
    out
}

fn connect_from(local: &str, server: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{local}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&server.into()).unwrap();
    let stream = TcpStream::from(socket);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// A control connection whose header says it comes from `source`; the greeting is read.
fn proxied(server: &TestServer, source: &str, v2: bool) -> Ctl {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(&header(source, server.addr, v2)).unwrap();
    let mut ctl = Ctl::from_stream(stream);
    assert_eq!(ctl.reply().0, 220);
    ctl
}

/// Reads until the server closes, at most 2 s; returns what it sent.
fn until_closed(mut stream: TcpStream) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server did not close the connection: {e}"),
    }
    (got, started.elapsed())
}

#[test]
fn the_headers_client_address_is_the_sessions_address() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| {
            s.proxy_protocol(trusting(&["127.0.0.0/8"]))
                .max_sessions_per_ip(1)
        });
        let mut first = proxied(&server, CLIENT, true);
        // The limit of one session per address counts 192.0.2.7, not the proxy's 127.0.0.1.
        let mut second = proxied(&server, "192.0.2.8:1000", false);
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .write_all(&header("192.0.2.7:2000", server.addr, false))
            .unwrap();
        let mut full = Ctl::from_stream(stream);
        assert_eq!(
            full.raw_reply(),
            "421 Too many connections, try again later.\r\n"
        );
        full.expect_closed();
        let events = server.events.lock().unwrap().join("\n");
        assert!(
            events.contains("Connected { peer: 192.0.2.7:56324 }"),
            "{events}"
        );
        assert!(
            events.contains("Connected { peer: 192.0.2.8:1000 }"),
            "{events}"
        );
        // PORT must name the client's own address, not the proxy's.
        first.expect(&format!("USER {}", ALICE.0), 331);
        first.expect(&format!("PASS {}", ALICE.1), 230);
        first.expect_raw(
            "PORT 127,0,0,1,200,10",
            "500 Illegal PORT command: the address must be yours.\r\n",
        );
        first.expect_raw("PORT 192,0,2,7,200,10", "200 PORT command successful.\r\n");
        second.expect("QUIT", 221);
        first.expect("QUIT", 221);
    });
}

#[test]
fn passive_data_connections_carry_the_clients_address_too() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.proxy_protocol(trusting(&["127.0.0.1"])));
        server.write("file.bin", &pattern(300_000, 7));
        let mut ctl = proxied(&server, CLIENT, true);
        ctl.expect(&format!("USER {}", ALICE.0), 331);
        ctl.expect(&format!("PASS {}", ALICE.1), 230);
        ctl.expect("TYPE I", 200);
        let text = ctl.expect("EPSV", 229);
        let port = ftp_server::proto::addr::parse_epsv_reply(
            text.as_bytes(),
            ftp_server::proto::addr::Leniency::Strict,
        )
        .unwrap();
        let data_addr = SocketAddr::new(server.addr.ip(), port);
        // Another client's data connection through the same proxy is refused and closed;
        // so is one without a header, and one from an untrusted address.
        let mut thief = TcpStream::connect(data_addr).unwrap();
        thief
            .write_all(&header("192.0.2.99:3000", data_addr, true))
            .unwrap();
        assert_eq!(until_closed(thief).0, b"");
        let mut headless = TcpStream::connect(data_addr).unwrap();
        headless.write_all(b"hello").unwrap();
        assert_eq!(until_closed(headless).0, b"");
        assert_eq!(until_closed(connect_from("127.0.0.2", data_addr)).0, b"");
        // The client's own, through the proxy, gets the file.
        let mut data = TcpStream::connect(data_addr).unwrap();
        data.write_all(&header("192.0.2.7:3001", data_addr, false))
            .unwrap();
        // 125 when the data connection is already open, 150 while its header is read.
        ctl.send("RETR file.bin");
        let (code, text) = ctl.reply();
        assert!(code == 125 || code == 150, "RETR: {code} {text}");
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(ctl.reply().0, 226);
        assert!(got == pattern(300_000, 7), "the file arrived changed");
        ctl.expect("QUIT", 221);
    });
}

#[test]
fn bytes_after_the_header_belong_to_the_session() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.proxy_protocol(trusting(&["127.0.0.1"])));
        for v2 in [false, true] {
            // One write: the header, then two commands before the greeting was read.
            let mut stream = TcpStream::connect(server.addr).unwrap();
            let mut bytes = header(CLIENT, server.addr, v2);
            bytes.extend_from_slice(b"USER alice\r\nNOOP\r\n");
            stream.write_all(&bytes).unwrap();
            let mut ctl = Ctl::from_stream(stream);
            assert_eq!(ctl.reply().0, 220);
            assert_eq!(ctl.raw_reply(), "331 User name ok, need password\r\n");
            assert_eq!(ctl.raw_reply(), "200 NOOP ok.\r\n");
            ctl.expect("QUIT", 221);
        }
        // A LOCAL header (the balancer's own health check) keeps the socket's address.
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream
            .write_all(&[&V2_SIGNATURE[..], &[0x20, 0, 0, 0]].concat())
            .unwrap();
        let mut ctl = Ctl::from_stream(stream);
        assert_eq!(ctl.reply().0, 220);
        ctl.expect("QUIT", 221);
        let events = server.events.lock().unwrap().join("\n");
        assert_eq!(
            events
                .matches("Connected { peer: 192.0.2.7:56324 }")
                .count(),
            2,
            "{events}"
        );
        assert!(events.contains("Connected { peer: 127.0.0.1:"), "{events}");
    });
}

#[test]
fn untrusted_addresses_are_refused_or_served_as_themselves() {
    each_runtime(|rt| {
        // Only 127.0.0.2 may proxy: a connection from 127.0.0.1 is refused, header or not.
        let server = TestServer::start(rt, |s| s.proxy_protocol(trusting(&["127.0.0.2"])));
        for bytes in [&b""[..], &header(CLIENT, server.addr, true)] {
            let mut stream = TcpStream::connect(server.addr).unwrap();
            stream.write_all(bytes).unwrap();
            let mut ctl = Ctl::from_stream(stream);
            assert_eq!(
                ctl.raw_reply(),
                "421 Connect through the load balancer.\r\n"
            );
            ctl.expect_closed();
        }
        // Allowed direct connections are served under their own address; a header they send
        // is a (bad) command, never believed.
        let direct = trusting(&["127.0.0.2"]).allow_direct(true);
        let server = TestServer::start(rt, |s| s.proxy_protocol(direct));
        let mut ctl = server.connect();
        ctl.expect_raw(
            "PROXY TCP4 192.0.2.7 127.0.0.1 56324 21",
            "500 Command not understood.\r\n",
        );
        ctl.expect(&format!("USER {}", ALICE.0), 331);
        ctl.expect(&format!("PASS {}", ALICE.1), 230);
        ctl.expect_raw("PORT 127,0,0,1,200,10", "200 PORT command successful.\r\n");
        ctl.expect("QUIT", 221);
        let events = server.events.lock().unwrap().join("\n");
        assert!(!events.contains("192.0.2.7"), "{events}");
    });
}

#[test]
fn bad_truncated_and_slow_headers_close_without_a_reply() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.proxy_protocol(trusting(&["127.0.0.1"])));
        let too_long = format!("PROXY UNKNOWN {}", "x".repeat(300));
        let v2_bad_version = [&V2_SIGNATURE[..], &[0x11, 0x11, 0, 12], &[0; 12]].concat();
        for bytes in [
            &b"USER alice\r\n"[..],
            b"PROXY TCP4 192.0.2.7 127.0.0.1 56324\r\n",
            too_long.as_bytes(),
            &v2_bad_version,
        ] {
            let mut stream = TcpStream::connect(server.addr).unwrap();
            stream.write_all(bytes).unwrap();
            let (got, took) = until_closed(stream);
            assert_eq!(got, b"", "{:?}", String::from_utf8_lossy(bytes));
            assert!(took < Duration::from_millis(400), "closed after {took:?}");
        }
        // A truncated header, and no header at all, are given the header timeout (500 ms).
        let truncated = &header(CLIENT, server.addr, true)[..20];
        for bytes in [truncated, b""] {
            let mut stream = TcpStream::connect(server.addr).unwrap();
            stream.write_all(bytes).unwrap();
            let (got, took) = until_closed(stream);
            assert_eq!(got, b"");
            assert!(took >= Duration::from_millis(400), "closed after {took:?}");
        }
        // None of these became a session.
        let events = server.events.lock().unwrap().join("\n");
        assert!(!events.contains("Connected"), "{events}");
        assert_eq!(server.active_sessions(), 0);
    });
}
