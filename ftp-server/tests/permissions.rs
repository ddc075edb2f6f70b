//! Per-user rights and limits over real sockets under both runtimes: a drop box that may list
//! and upload but not read, delete or rename; a reader; a user with at most two sessions.

mod support;

use std::time::Duration;

use ftp_server::auth::{Permissions, UserLimits, UserTable};
use ftp_server::storage::VirtualPath;
use support::*;

fn users() -> UserTable {
    let mut users = UserTable::insecure_fast();
    let incoming = VirtualPath::root().resolve(b"/incoming").unwrap();
    let drop_box = Permissions::LIST | Permissions::WRITE;
    users.add("drop", "pw", incoming, drop_box).unwrap();
    let reader = Permissions::READ_ONLY;
    users
        .add("reader", "pw", VirtualPath::root(), reader)
        .unwrap();
    users
        .add("twice", "pw", VirtualPath::root(), Permissions::ALL)
        .unwrap();
    users.set_limits("twice", UserLimits::new().max_sessions(2));
    users
}

fn login(server: &TestServer, user: &str) -> Ctl {
    let mut ctl = server.connect();
    ctl.expect(&format!("USER {user}"), 331);
    ctl.expect("PASS pw", 230);
    ctl
}

#[test]
fn each_user_gets_its_own_rights() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.authenticator(users()));
        std::fs::create_dir_all(server.file("incoming")).unwrap();
        server.write("incoming/old.txt", b"old");
        server.write("public.txt", b"public");

        let mut drop = login(&server, "drop");
        drop.expect("TYPE I", 200);
        drop.stor("new.bin", &pattern(10_000, 4));
        assert!(server.read("incoming/new.bin") == pattern(10_000, 4));
        let _data = drop.epsv();
        drop.expect_raw("RETR old.txt", "550 Permission denied.\r\n");
        for (command, reply) in [
            ("DELE old.txt", "550 Permission denied.\r\n"),
            ("RNFR old.txt", "550 Permission denied.\r\n"),
            ("MKD sub", "550 Permission denied.\r\n"),
            ("APPE old.txt", "550 Permission denied.\r\n"),
        ] {
            drop.expect_raw(command, reply);
        }
        assert_eq!(server.read("incoming/old.txt"), b"old");
        // The perm facts say exactly what the drop box may do: write a file (no read, append,
        // delete or rename), and in a folder store files, enter and list.
        let facts = drop.expect("MLST old.txt", 250);
        assert!(facts.contains("Perm=w;"), "{facts}");
        let facts = drop.expect("MLST /", 250);
        assert!(facts.contains("Perm=cel;"), "{facts}");
        drop.expect("QUIT", 221);

        let mut reader = login(&server, "reader");
        reader.expect("TYPE I", 200);
        assert_eq!(reader.retr("public.txt"), b"public");
        let _data = reader.epsv();
        reader.expect_raw("STOR x.bin", "553 Permission denied.\r\n");
        reader.expect_raw("DELE public.txt", "550 Permission denied.\r\n");
        reader.expect("QUIT", 221);
        assert!(!server.file("x.bin").exists());

        let events = server.events.lock().unwrap().join("\n");
        assert!(
            events.contains("permissions: Permissions(list,write)"),
            "{events}"
        );
        assert!(
            events.contains("permissions: Permissions(list,read)"),
            "{events}"
        );
    });
}

#[test]
fn a_user_with_two_sessions_gets_530_for_a_third_until_one_ends() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.authenticator(users()));
        let first = login(&server, "twice");
        let mut second = login(&server, "twice");
        let mut third = server.connect();
        third.expect("USER twice", 331);
        third.expect_raw(
            "PASS pw",
            "530 Too many sessions for this user; try again later.\r\n",
        );
        // Other users are not affected, and the third session stays, to try again.
        login(&server, "reader").expect("QUIT", 221);
        drop(first);
        // The first session's place is given back once the server sees it gone.
        let mut logged_in = false;
        for _ in 0..50 {
            third.expect("USER twice", 331);
            third.send("PASS pw");
            if third.reply().0 == 230 {
                logged_in = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(logged_in, "the third session never got in");
        // REIN gives the place back too.
        third.expect("REIN", 220);
        let mut fourth = login(&server, "twice");
        fourth.expect("QUIT", 221);
        second.expect("QUIT", 221);
    });
}

/// Bandwidth limits (both runtimes): the server's download limit and a user's own upload
/// limit each hold a transfer to its rate. Only lower bounds on time are asserted (a loaded
/// machine may be slower, never faster), and the bytes must arrive intact.
#[test]
fn bandwidth_limits_pace_transfers() {
    each_runtime(|rt| {
        let mut users = users();
        users
            .add("slow", "pw", VirtualPath::root(), Permissions::ALL)
            .unwrap();
        users.set_limits("slow", UserLimits::new().upload_rate(200_000));
        let server = TestServer::start(rt, |s| s.authenticator(users).download_rate(400_000));
        server.write("big.bin", &pattern(600_000, 9));

        // 600 KB at 400 KB/s: at least 1.5 s less the 0.1 s burst.
        let mut reader = login(&server, "reader");
        reader.expect("TYPE I", 200);
        let started = std::time::Instant::now();
        assert!(reader.retr("big.bin") == pattern(600_000, 9));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(1350),
            "download took {took:?}"
        );

        // 300 KB at the user's 200 KB/s: at least 1.5 s less the burst.
        let mut slow = login(&server, "slow");
        slow.expect("TYPE I", 200);
        let started = std::time::Instant::now();
        slow.stor("up.bin", &pattern(300_000, 10));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1350), "upload took {took:?}");
        assert!(server.read("up.bin") == pattern(300_000, 10));
        reader.expect("QUIT", 221);
        slow.expect("QUIT", 221);
    });
}
