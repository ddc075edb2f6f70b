//! TLS policies over real sockets, under both runtimes: data connections that must resume the
//! control connection's TLS session (curl and lftp do, Python's ftplib does not and gets 522),
//! TLS required for logins (534) and for data (521).

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const REFUSING_FTPLIB: &str = r#"
import ftplib, io, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect("127.0.0.1", int(sys.argv[1]))
f.login(sys.argv[2], sys.argv[3])
f.prot_p()
try:
    f.retrbinary("RETR file.bin", io.BytesIO().write)
    print("UNEXPECTED SUCCESS")
except ftplib.error_perm as e:
    print("REFUSED", e)
except (OSError, ssl.SSLError) as e:
    # The data connection was dropped after its handshake: the reply follows.
    print("data connection dropped:", e)
    try:
        f.getresp()
        print("UNEXPECTED SUCCESS")
    except ftplib.error_perm as e:
        print("REFUSED", e)
print("NOOP", f.voidcmd("NOOP"))
f.quit()
"#;

#[test]
fn data_connections_must_resume_the_control_session() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.tls(tls_config()).require_tls_session_reuse(true));
        let content = pattern(1 << 20, 5);
        server.write("file.bin", &content);
        let local = TempDir::new("reuse");
        let alice = format!("{}:{}", ALICE.0, ALICE.1);

        // curl resumes the session on every data connection: two downloads in one session,
        // and an upload.
        require("curl");
        let curl = |args: &[&str]| {
            let mut command = Command::new("curl");
            command
                .args(["-sS", "--ssl-reqd", "-k", "-u", &alice])
                .args(args);
            ok(run(&mut command, Duration::from_secs(60)))
        };
        let (one, two) = (local.path().join("one.bin"), local.path().join("two.bin"));
        let url = server.url("file.bin");
        curl(&[
            "-o",
            one.to_str().unwrap(),
            &url,
            "-o",
            two.to_str().unwrap(),
            &url,
        ]);
        assert!(std::fs::read(&one).unwrap() == content);
        assert!(std::fs::read(&two).unwrap() == content);
        curl(&["-T", one.to_str().unwrap(), &server.url("curl-up.bin")]);

        // lftp too, over several data connections in one session.
        require("lftp");
        let mirror = local.path().join("mirror");
        make_tree(&server.file("tree"));
        ok(run(
            Command::new("lftp").args([
                "-c",
                &format!(
                    "set net:max-retries 1; set cmd:fail-exit yes; set ftp:ssl-force true; \
                     set ftp:ssl-protect-data true; set ssl:verify-certificate no; \
                     open -u {},{} -p {} 127.0.0.1; mirror /tree {}; quit",
                    ALICE.0,
                    ALICE.1,
                    server.port(),
                    mirror.display()
                ),
            ]),
            Duration::from_secs(60),
        ));
        assert_eq!(tree(&mirror), tree(&server.file("tree")));

        // ftplib starts a fresh TLS session on each data connection: refused with 522, and
        // the session goes on.
        let out = ok(python(
            REFUSING_FTPLIB,
            &[server.port().to_string(), ALICE.0.into(), ALICE.1.into()],
            Duration::from_secs(60),
        ));
        assert!(out.contains("REFUSED 522"), "{out}");
        assert!(out.contains("NOOP 200"), "{out}");
        assert!(server.read("curl-up.bin") == content);
    });
}

#[test]
fn tls_can_be_required_for_logins_and_data() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| {
            s.tls(tls_config())
                .require_tls_for_login(true)
                .require_tls_for_data(true)
        });
        server.write("f.txt", b"protected\n");
        // A plaintext USER is refused (534), anonymous excepted.
        let mut ctl = server.connect();
        ctl.expect(&format!("USER {}", ALICE.0), 534);
        ctl.expect("USER anonymous", 331);
        ctl.expect("PASS x", 230);
        // Transfers without PROT P are refused (521); nothing is sent in clear.
        let _data = ctl.epsv();
        ctl.expect("RETR f.txt", 521);
        ctl.expect("QUIT", 221);
        // curl with TLS gets through.
        require("curl");
        let out = ok(run(
            Command::new("curl").args([
                "-sS",
                "--ssl-reqd",
                "-k",
                "-u",
                &format!("{}:{}", ALICE.0, ALICE.1),
                &server.url("f.txt"),
            ]),
            Duration::from_secs(60),
        ));
        assert_eq!(out, "protected\n");
    });
}
