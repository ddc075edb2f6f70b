//! STAT with a pathname over real sockets under both runtimes (RFC 959 §4.1.3): the same
//! lines LIST sends over a data connection, framed as a 212 (directory) or 213 (file)
//! reply on the control connection.

mod support;

use std::io::Read;

use support::*;

/// LIST over EPSV: the bytes of the data connection.
fn list(ctl: &mut Ctl, path: &str) -> String {
    let mut data = ctl.epsv();
    ctl.send(&format!("LIST {path}"));
    let (code, text) = ctl.reply();
    assert!(code == 125 || code == 150, "LIST {path}: {text}");
    let mut out = String::new();
    data.read_to_string(&mut out).unwrap();
    assert_eq!(ctl.reply().0, 226, "LIST {path}");
    out
}

#[test]
fn stat_with_a_pathname_sends_the_listing_on_the_control_connection() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        server.write("dir/a.txt", b"hello");
        server.write("dir/b.bin", &pattern(70_000, 3));
        server.write("dir/sub/c", b"");
        let mut ctl = server.login(ALICE);
        for (path, code) in [("dir", 212), ("dir/a.txt", 213)] {
            let lines = list(&mut ctl, path);
            assert!(!lines.is_empty(), "LIST {path}");
            ctl.send(&format!("STAT {path}"));
            assert_eq!(
                ctl.raw_reply(),
                format!("{code}-Status of {path}:\r\n{lines}{code} End of status.\r\n")
            );
        }
        ctl.send("STAT missing");
        assert_eq!(ctl.reply().0, 550);
        // Before login, as every command that names a file.
        let mut anonymous = server.connect();
        anonymous.send("STAT dir");
        assert_eq!(anonymous.reply().0, 530);
    });
}
