//! Bad input over real sockets, under both runtimes: overlong lines, floods, binary garbage,
//! traversal paths (`..`, absolute, symlinks), FTP bounce (PORT/EPRT to other hosts or
//! privileged ports), passive port theft, session limits, and 200 concurrent sessions each
//! storing and fetching a file. The server answers with reply codes, keeps serving everyone
//! else, and loses nothing.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use ftp_server::auth::Anonymous;
use support::*;

#[test]
fn overlong_lines_floods_and_garbage_get_reply_codes() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        server.write("keep.bin", &pattern(100_000, 9));
        // A bystander session that must keep working throughout.
        let mut bystander = server.login(ALICE);
        bystander.expect("TYPE I", 200);

        let mut ctl = server.login(ALICE);
        // A line over the 8 KiB limit (but under the flood limit): 500, the session goes on.
        let long = format!("NOOP {}", "x".repeat(10_000));
        ctl.expect(&long, 500);
        ctl.expect("NOOP", 200);
        // Lines of binary garbage (no CR, LF or IAC inside): one 5xx reply each.
        let mut lines = Vec::new();
        for i in 0..50u64 {
            let mut line: Vec<u8> = pattern(1 + (i as usize * 37) % 300, i)
                .into_iter()
                .filter(|b| !matches!(b, b'\r' | b'\n' | 0xFF))
                .collect();
            line.extend_from_slice(b"\r\n");
            lines.extend_from_slice(&line);
        }
        ctl.send_raw(&lines);
        for _ in 0..50 {
            let (code, text) = ctl.reply();
            assert!((500..600).contains(&code), "garbage answered {code} {text}");
        }
        ctl.expect("NOOP", 200);
        assert!(bystander.retr("keep.bin") == pattern(100_000, 9));

        // Raw noise with every byte value (Telnet IAC sequences, NUL, bare CR and LF): the
        // session answers or closes, never hangs, and the server keeps serving.
        let mut noisy = server.login(ALICE);
        noisy.send_raw(&pattern(20_000, 77));
        noisy.send_raw(b"\r\nNOOP\r\n");
        let mut replies = 0;
        while let Some((code, _)) = noisy.try_reply() {
            replies += 1;
            assert!(code < 600);
            if code == 200 || code == 421 {
                break;
            }
            assert!(replies < 10_000);
        }
        assert!(replies > 0, "noise got no reply at all");

        // A line that never ends (over the 64 KiB flood limit): 421, connection closed.
        let mut flood = server.login(ALICE);
        let chunk = vec![b'A'; 16 * 1024];
        let mut closed_early = false;
        for _ in 0..8 {
            if flood.stream.write_all(&chunk).is_err() {
                closed_early = true;
                break;
            }
        }
        let reply = flood.try_reply();
        assert!(
            matches!(reply, Some((421, _))) || (closed_early && reply.is_none()),
            "flood answered {reply:?}"
        );
        assert!(
            flood.try_reply().is_none(),
            "connection stays open after a flood"
        );

        // Commands pipelined without reading replies are bounded: the server stops reading
        // (TCP flow control) or answers 421; either way others are unaffected.
        let mut pipeline = server.login(ALICE);
        pipeline
            .stream
            .set_write_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let burst = b"NOOP\r\n".repeat(50_000);
        let _ = pipeline.stream.write_all(&burst);
        drop(pipeline);

        assert!(bystander.retr("keep.bin") == pattern(100_000, 9));
        bystander.expect("QUIT", 221);
    });
}

#[test]
fn traversal_paths_never_escape_the_root() {
    each_runtime(|rt| {
        let outside = TempDir::new("outside");
        std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
        let server = TestServer::start(rt, |s| s);
        server.write("pub/file.txt", b"public\n");
        let root = server.root.path();
        std::os::unix::fs::symlink(outside.path(), root.join("link_out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.join("link_file"))
            .unwrap();
        std::os::unix::fs::symlink("pub/file.txt", root.join("link_in")).unwrap();
        let secret_rel = format!(
            "../{}/secret.txt",
            outside.path().file_name().unwrap().to_str().unwrap()
        );

        let mut ctl = server.login(ALICE);
        // `..` stops at the root.
        ctl.expect("CWD ../../../..", 250);
        assert!(ctl.expect("PWD", 257).contains("\"/\""));
        ctl.expect("CWD pub/../../..", 250);
        assert!(ctl.expect("PWD", 257).contains("\"/\""));
        ctl.expect("TYPE I", 200);
        for path in [
            secret_rel.as_str(),
            "../../../../etc/passwd",
            "/etc/passwd",
            "link_file",
            "link_out/secret.txt",
            "pub/../../link_file",
        ] {
            let _data = ctl.epsv();
            let (code, text) = {
                ctl.send(&format!("RETR {path}"));
                ctl.reply()
            };
            assert_eq!(code, 550, "RETR {path}: {text}");
            ctl.expect(&format!("SIZE {path}"), 550);
            ctl.expect(&format!("MDTM {path}"), 550);
        }
        ctl.expect("CWD link_out", 550);
        ctl.expect("CWD /etc", 550);
        // A symlink that stays inside is followed.
        assert_eq!(ctl.retr("link_in"), b"public\n");
        // Listings show neither the outside nor links leading there.
        let mut data = ctl.epsv();
        ctl.send("NLST");
        assert!(matches!(ctl.reply().0, 125 | 150));
        let mut names = String::new();
        data.read_to_string(&mut names).unwrap();
        assert_eq!(ctl.reply().0, 226);
        let mut names: Vec<&str> = names.lines().collect();
        names.sort_unstable();
        assert_eq!(names, ["link_in", "pub"]);
        // Writes that try to climb land inside the root (or are refused).
        ctl.stor("../../escape.txt", b"stays inside");
        assert_eq!(server.read("escape.txt"), b"stays inside");
        let _data = ctl.epsv();
        ctl.send("STOR link_out/planted.txt");
        let (code, _) = ctl.reply();
        assert!(
            code == 550 || code == 553,
            "STOR through a symlink got {code}"
        );
        ctl.expect("MKD ../../made", 257);
        assert!(server.file("made").is_dir());
        ctl.expect("MKD link_out/x", 550);
        ctl.expect("RNFR pub/file.txt", 350);
        ctl.expect("RNTO ../../../moved.txt", 250);
        assert_eq!(server.read("moved.txt"), b"public\n");
        // Links leading outside are out of reach for every command.
        ctl.expect("RNFR link_file", 550);
        ctl.expect("DELE link_file", 550);
        ctl.expect("RNFR escape.txt", 350);
        ctl.expect("RNTO link_out/stolen.txt", 550);
        ctl.expect("SITE CHMOD 777 link_out", 550);
        ctl.expect("QUIT", 221);
        assert_eq!(
            tree(outside.path()),
            [("secret.txt".to_owned(), b"secret".to_vec())]
        );
    });
}

#[test]
fn ftp_bounce_and_port_theft_are_refused() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        server.write("f.bin", &pattern(50_000, 4));
        let mut ctl = server.login(ALICE);
        // Active connections only to the client itself, never to privileged ports.
        ctl.expect("PORT 10,0,0,1,4,1", 500);
        ctl.expect("EPRT |1|10.0.0.1|1025|", 501);
        ctl.expect("PORT 127,0,0,1,0,21", 504);
        ctl.expect("EPRT |1|127.0.0.1|22|", 504);
        ctl.expect("LPRT 4,4,10,0,0,1,2,4,1", 501);
        // A legitimate active transfer still works.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        ctl.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200);
        ctl.expect("TYPE I", 200);
        ctl.send("RETR f.bin");
        assert_eq!(ctl.reply().0, 150);
        let (mut data, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(ctl.reply().0, 226);
        assert!(got == pattern(50_000, 4));

        // Passive port theft: a connection from another address (127.0.0.2) to the passive
        // port is dropped; the client's own connection is then served.
        let text = ctl.expect("EPSV", 229);
        let port = ftp_server::proto::addr::parse_epsv_reply(
            text.as_bytes(),
            ftp_server::proto::addr::Leniency::Strict,
        )
        .unwrap();
        let passive: SocketAddr = ([127, 0, 0, 1], port).into();
        let thief =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        thief
            .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
            .unwrap();
        thief.connect(&passive.into()).unwrap();
        let mut thief: TcpStream = thief.into();
        thief
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut stolen = Vec::new();
        let _ = thief.read_to_end(&mut stolen);
        assert!(stolen.is_empty(), "the thief got data");
        let mut data = TcpStream::connect(passive).unwrap();
        ctl.send("RETR f.bin");
        assert!(matches!(ctl.reply().0, 125 | 150));
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(ctl.reply().0, 226);
        assert!(got == pattern(50_000, 4));
        ctl.expect("QUIT", 221);
    });
}

#[test]
fn limits_refuse_with_421() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.max_sessions_per_ip(2).max_login_attempts(2));
        let first = server.connect();
        let mut second = server.connect();
        // A third session from the same address is refused.
        let mut third = Ctl::connect(server.addr);
        assert_eq!(third.reply().0, 421);
        assert!(third.try_reply().is_none());
        drop(first);
        // Failed logins: the last allowed attempt gets 421 and the connection closes.
        second.expect("USER alice", 331);
        second.expect("PASS wrong", 530);
        second.expect("USER alice", 331);
        second.send("PASS wrong again");
        assert_eq!(second.reply().0, 421);
        assert!(second.try_reply().is_none());
        // Places come back as sessions end.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while server.active_sessions() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "sessions were not released"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut again = server.login(ALICE);
        again.expect("QUIT", 221);
    });
}

#[test]
fn two_hundred_concurrent_sessions_lose_nothing() {
    const SESSIONS: usize = 200;
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| {
            s.max_sessions_per_ip(SESSIONS + 10)
                .anonymous(Anonymous::read_write())
        });
        let addr = server.addr;
        // Every client logs in, then waits until all have (and the count below is taken)
        // before it transfers anything: all 200 sessions are live at the same time.
        let limit = Duration::from_secs(60);
        let logged_in = Arc::new(Gate::new(SESSIONS + 1, limit));
        let counted = Arc::new(Gate::new(SESSIONS + 1, limit));
        let clients: Vec<_> = (0..SESSIONS as u64)
            .map(|i| {
                let (logged_in, counted) = (Arc::clone(&logged_in), Arc::clone(&counted));
                std::thread::spawn(move || {
                    let content = pattern(10_000 + (i as usize * 131) % 20_000, i + 1000);
                    let mut ctl = Ctl::connect(addr);
                    assert_eq!(ctl.reply().0, 220);
                    ctl.expect("USER anonymous", 331);
                    ctl.expect("PASS client@", 230);
                    logged_in.wait();
                    counted.wait();
                    // Still served after everyone else logged in.
                    ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");
                    ctl.expect("TYPE I", 200);
                    let name = format!("s{i:03}.bin");
                    ctl.stor(&name, &content);
                    let back = ctl.retr(&name);
                    assert!(back == content, "session {i}: content differs");
                    ctl.expect("QUIT", 221);
                    (name, content)
                })
            })
            .collect();
        // A flooding client, connected throughout.
        let mut flood = server.login(ALICE);
        logged_in.wait();
        let live = server.active_sessions();
        counted.wait();
        assert_eq!(
            live,
            SESSIONS + 1,
            "sessions live at once (the 200 clients and the flooder)"
        );
        // Meanwhile, the flood: a line that never ends, past the 64 KiB limit.
        let _ = flood.stream.write_all(&vec![b'Z'; 100_000]);
        let reply = flood.try_reply();
        assert!(
            matches!(reply, Some((421, _))) || reply.is_none(),
            "flood answered {reply:?}"
        );
        let mut expected: Vec<(String, Vec<u8>)> = clients
            .into_iter()
            .map(|c| c.join().expect("a client failed"))
            .collect();
        expected.sort();
        assert_eq!(expected.len(), SESSIONS);
        assert_same_tree(&tree(server.root.path()), &expected);
    });
}

#[test]
fn user_homes_are_jails() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| {
            let mut users = ftp_server::auth::UserTable::insecure_fast();
            let home = ftp_server::storage::VirtualPath::root()
                .resolve(b"/home/carol")
                .unwrap();
            users
                .add("carol", "pw", home, ftp_server::auth::Permissions::ALL)
                .unwrap();
            let pub_dir = ftp_server::storage::VirtualPath::root()
                .resolve(b"/pub")
                .unwrap();
            s.authenticator(users)
                .anonymous(Anonymous::read_only().with_home(pub_dir))
        });
        server.write("secret.txt", b"root secret");
        server.write("home/carol/mine.txt", b"carol's");
        server.write("pub/open.txt", b"for everyone");
        let mut carol = server.login(("carol", "pw"));
        assert!(carol.expect("PWD", 257).contains("\"/\""));
        carol.expect("TYPE I", 200);
        assert_eq!(carol.retr("mine.txt"), b"carol's");
        for path in [
            "../secret.txt",
            "/secret.txt",
            "../../secret.txt",
            "/home/carol/mine.txt",
        ] {
            carol.expect(&format!("SIZE {path}"), 550);
        }
        carol.stor("/new.txt", b"stored in the home");
        assert_eq!(server.read("home/carol/new.txt"), b"stored in the home");
        let mut anonymous = server.login(("anonymous", "guest"));
        anonymous.expect("TYPE I", 200);
        assert_eq!(anonymous.retr("/open.txt"), b"for everyone");
        anonymous.expect("SIZE /secret.txt", 550);
        anonymous.expect("CWD /home", 550);
        let _data = anonymous.epsv();
        anonymous.expect("STOR /x.txt", 553);
    });
}
