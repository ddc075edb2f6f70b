//! lftp mirrors a tree down from the server and up to it, under both runtimes, passive and
//! active, plain and with TLS (PROT P); both trees are compared file by file, byte for byte.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

fn lftp(server: &TestServer, settings: &str, commands: &str) -> String {
    require("lftp");
    let script = format!(
        "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; {settings}; \
         open -u {},{} -p {} 127.0.0.1; {commands}; quit",
        ALICE.0,
        ALICE.1,
        server.port()
    );
    ok(run(
        Command::new("lftp").args(["-c", &script]),
        Duration::from_secs(90),
    ))
}

fn mirror_both_ways(rt: Rt, tls: bool, settings: &str) {
    let server = TestServer::start(rt, |s| if tls { s.tls(tls_config()) } else { s });
    // Down: the server's tree to an empty local directory.
    make_tree(&server.file("pub"));
    let down = TempDir::new("lftp-down");
    lftp(
        &server,
        settings,
        &format!("mirror /pub {}", down.path().display()),
    );
    assert_eq!(tree(down.path()), tree(&server.file("pub")), "mirror down");
    // Up: a local tree to a new directory on the server.
    let up = TempDir::new("lftp-up");
    make_tree(up.path());
    std::fs::write(up.path().join("extra.bin"), pattern(123_456, 42)).unwrap();
    lftp(
        &server,
        settings,
        &format!("mirror -R {} /incoming", up.path().display()),
    );
    assert_eq!(tree(&server.file("incoming")), tree(up.path()), "mirror up");
}

#[test]
fn lftp_mirror_plain_passive() {
    each_runtime(|rt| mirror_both_ways(rt, false, "set ftp:ssl-allow no"));
}

#[test]
fn lftp_mirror_plain_active() {
    each_runtime(|rt| {
        mirror_both_ways(
            rt,
            false,
            "set ftp:ssl-allow no; set ftp:passive-mode off; set ftp:port-range 40000-60000",
        )
    });
}

#[test]
fn lftp_mirror_tls() {
    each_runtime(|rt| {
        mirror_both_ways(
            rt,
            true,
            "set ftp:ssl-force true; set ftp:ssl-protect-data true; \
             set ssl:verify-certificate no",
        )
    });
}
