//! Passive data connections, whatever order the client takes its steps in: connected before
//! its transfer command (the usual order), connected after it, or with the command sent in
//! the same packet as EPSV (the server reads both before it has announced the port). Under
//! both runtimes, byte-exact.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;

use support::*;

/// The data connection to the port of a 229 reply's `text`.
fn connect_to_epsv(text: &str) -> TcpStream {
    let port = ftp_server::proto::addr::parse_epsv_reply(
        text.as_bytes(),
        ftp_server::proto::addr::Leniency::Strict,
    )
    .unwrap();
    let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    data
}

/// The preliminary reply of a transfer: 125 or 150.
#[track_caller]
fn expect_opening(ctl: &mut Ctl, what: &str) {
    let (code, text) = ctl.reply();
    assert!(code == 125 || code == 150, "{what}: {code} {text}");
}

/// Reads the data connection to its end, checks it is `content`, then expects the 226.
#[track_caller]
fn expect_download(ctl: &mut Ctl, mut data: TcpStream, content: &[u8]) {
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert!(got == content, "{} bytes", got.len());
    assert_eq!(ctl.reply().0, 226);
}

/// A server serving `content` as `f.bin`, and a session logged in with TYPE I.
fn serving(rt: Rt, content: &[u8]) -> (TestServer, Ctl) {
    let server = TestServer::start(rt, |s| s);
    server.write("f.bin", content);
    let mut ctl = server.login(ALICE);
    ctl.expect("TYPE I", 200);
    (server, ctl)
}

/// Sends EPSV and `command` in one write; the data connection to the 229's port.
fn along_with_epsv(ctl: &mut Ctl, command: &str) -> TcpStream {
    ctl.send_raw(format!("EPSV\r\n{command}\r\n").as_bytes());
    let (code, text) = ctl.reply();
    assert_eq!(code, 229, "{text}");
    connect_to_epsv(&text)
}

#[test]
fn a_download_is_served_whether_the_client_connects_before_or_after_its_command() {
    each_runtime(|rt| {
        let content = pattern(200_000, 7);
        let (_server, mut ctl) = serving(rt, &content);
        // Connected first.
        assert!(ctl.retr("f.bin") == content);
        // The command first; the connection comes once the server has read it.
        let text = ctl.expect("EPSV", 229);
        ctl.send("RETR f.bin");
        sleep(Duration::from_millis(200));
        let data = connect_to_epsv(&text);
        expect_opening(&mut ctl, "RETR after the command");
        expect_download(&mut ctl, data, &content);
        // Connected, then a pause before the command.
        let text = ctl.expect("EPSV", 229);
        let data = connect_to_epsv(&text);
        sleep(Duration::from_millis(200));
        ctl.send("RETR f.bin");
        expect_opening(&mut ctl, "RETR after a pause");
        expect_download(&mut ctl, data, &content);
    });
}

/// No byte comes on the control connection after the 229 here: the command held since the
/// EPSV runs once the port is announced, and waits for its connection.
#[test]
fn a_transfer_command_sent_along_with_epsv_gets_its_connection() {
    each_runtime(|rt| {
        let content = pattern(150_000, 11);
        let (server, mut ctl) = serving(rt, &content);

        let data = along_with_epsv(&mut ctl, "RETR f.bin");
        expect_opening(&mut ctl, "RETR along with EPSV");
        expect_download(&mut ctl, data, &content);

        let mut data = along_with_epsv(&mut ctl, "STOR up.bin");
        expect_opening(&mut ctl, "STOR along with EPSV");
        data.write_all(&content).unwrap();
        drop(data);
        assert_eq!(ctl.reply().0, 226);
        assert!(server.read("up.bin") == content);
    });
}
