//! TLS policies over real sockets, under both runtimes: data connections that must resume the
//! control connection's TLS session (curl and lftp do, Python's ftplib does not and gets 522),
//! many uploads in a row over TLS 1.3 with reuse required (each resumes, none loses its
//! tail), TLS required for logins (534) and for data (521).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ftp_server::TlsConfig;
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

/// The test certificate, TLS 1.3 only: no client can fall back to TLS 1.2 session ids.
fn tls13_only() -> TlsConfig {
    let given = tls_config();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(&given.rustls().cert_resolver));
    TlsConfig::from_rustls(Arc::new(config))
}

/// ftplib does not resume TLS sessions on its own; this subclass gives every data connection
/// the control connection's session. `argv`: port, user, password, then the local files to
/// upload (each stored under its base name): all uploaded in a row, then each downloaded and
/// compared and uploaded again as `again-NAME`. Prints whether each data connection resumed.
const REUSING_FTPLIB: &str = r#"
import ftplib, io, os, ssl, sys

class ReusingFTP_TLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session)
            print(cmd, "resumed" if conn.session_reused else "FULL HANDSHAKE")
        return conn, size

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
f = ReusingFTP_TLS(context=ctx, timeout=30)
f.connect("127.0.0.1", int(sys.argv[1]))
f.login(sys.argv[2], sys.argv[3])
f.prot_p()
assert f.sock.version() == "TLSv1.3", f.sock.version()
paths = sys.argv[4:]
for path in paths:
    with open(path, "rb") as src:
        f.storbinary("STOR " + os.path.basename(path), src)
for path in paths:
    got = io.BytesIO()
    f.retrbinary("RETR " + os.path.basename(path), got.write)
    assert got.getvalue() == open(path, "rb").read(), path
    with open(path, "rb") as src:
        f.storbinary("STOR again-" + os.path.basename(path), src)
f.quit()
print("ALL OK")
"#;

/// One curl run, one control session: `steps` are `(upload?, local file, remote name)` in
/// order (`--next` keeps the connection). curl's exit status only tells about the last
/// transfer: the caller checks every file.
fn curl_session(server: &TestServer, tls: &[&str], steps: &[(bool, PathBuf, String)]) {
    require("curl");
    let alice = format!("{}:{}", ALICE.0, ALICE.1);
    let mut args: Vec<String> = Vec::new();
    for (upload, local, remote) in steps {
        if !args.is_empty() {
            args.push("--next".into());
        }
        args.extend(
            ["-sS", "--max-time", "50", "--ssl-reqd", "-k", "-u", &alice].map(String::from),
        );
        args.extend(tls.iter().map(|a| a.to_string()));
        args.push(if *upload { "-T" } else { "-o" }.into());
        args.push(local.display().to_string());
        args.push(server.url(remote));
    }
    run(Command::new("curl").args(&args), Duration::from_secs(120));
}

/// Uploads in a row over TLS 1.3 keep their tails, and with session reuse required the
/// clients that present one session again and again resume every data connection. The
/// server sends no ticket on an upload to a client that did not ask for one (an unread
/// ticket turns a client's close into a reset that drops the last bytes), so what each
/// client can do follows from how it spends tickets:
///
/// * lftp (GnuTLS) and Python (OpenSSL without a client session cache) present the control
///   connection's latest ticket again on every data connection: any number of transfers.
/// * curl (OpenSSL with a client session cache) uses a TLS 1.3 session once and keeps only
///   the latest, so with reuse required nothing can follow an upload in the same curl
///   session (the next data connection has no session to offer and gets 522; see
///   `Server::require_tls_session_reuse`). Without the requirement its later data
///   connections simply do full handshakes; with TLS 1.2 it resumes one session id any
///   number of times. Both are checked here.
#[test]
fn tls13_uploads_in_a_row_arrive_whole_and_resume() {
    each_runtime(|rt| {
        let files: Vec<(String, Vec<u8>)> = (0..6)
            .map(|i| {
                (
                    format!("up{i}.bin"),
                    pattern((2 << 20) + 4099 * i, 50 + i as u64),
                )
            })
            .collect();
        let local = TempDir::new("tls13-uploads");
        let at = |name: &str| local.path().join(name);
        for (name, data) in &files {
            std::fs::write(at(name), data).unwrap();
        }
        let reuse = TestServer::start(rt, |s| s.tls(tls13_only()).require_tls_session_reuse(true));

        // lftp: a tree up (seven uploads in a row) and back down.
        require("lftp");
        let tree_up = TempDir::new("tls13-tree");
        make_tree(tree_up.path());
        let back = at("back");
        ok(run(
            Command::new("lftp").args([
                "-c",
                &format!(
                    "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; \
                     set ftp:ssl-force true; set ftp:ssl-protect-data true; \
                     set ssl:verify-certificate no; \
                     open -u {},{} -p {} 127.0.0.1; mirror -R {} /tree; mirror /tree {}; quit",
                    ALICE.0,
                    ALICE.1,
                    reuse.port(),
                    tree_up.path().display(),
                    back.display()
                ),
            ]),
            Duration::from_secs(90),
        ));
        assert_eq!(
            tree(&reuse.file("tree")),
            tree(tree_up.path()),
            "lftp mirror up"
        );
        assert_eq!(tree(&back), tree(tree_up.path()), "lftp mirror down");

        // ftplib, made to resume the control connection's session: six uploads in a row,
        // then downloads and uploads alternating.
        let mut py_args = vec![reuse.port().to_string(), ALICE.0.into(), ALICE.1.into()];
        py_args.extend(files.iter().map(|(name, _)| at(name).display().to_string()));
        let out = ok(python(REUSING_FTPLIB, &py_args, Duration::from_secs(120)));
        assert!(
            out.contains("ALL OK") && !out.contains("FULL HANDSHAKE"),
            "{out}"
        );
        for (name, data) in &files {
            assert!(reuse.read(name) == *data, "ftplib upload {name}");
            assert!(
                reuse.read(&format!("again-{name}")) == *data,
                "ftplib upload again-{name}"
            );
        }

        // curl without the requirement: six uploads in a row, then downloads.
        let plain = TestServer::start(rt, |s| s.tls(tls13_only()));
        let mut steps = Vec::new();
        for (name, _) in &files {
            steps.push((true, at(name), name.clone()));
        }
        for (name, _) in &files {
            steps.push((false, at(&format!("again-{name}")), name.clone()));
        }
        curl_session(&plain, &["--tlsv1.3"], &steps);
        for (name, data) in &files {
            assert!(
                plain.read(name) == *data,
                "curl upload {name} (no reuse required)"
            );
            assert!(
                std::fs::read(at(&format!("again-{name}"))).unwrap() == *data,
                "curl download {name}"
            );
        }

        // curl over TLS 1.2 with reuse required: six uploads in a row.
        let tls12 = TestServer::start(rt, |s| s.tls(tls_config()).require_tls_session_reuse(true));
        let steps: Vec<_> = files
            .iter()
            .map(|(name, _)| (true, at(name), name.clone()))
            .collect();
        curl_session(&tls12, &["--tls-max", "1.2"], &steps);
        for (name, data) in &files {
            assert!(tls12.read(name) == *data, "curl upload {name} over TLS 1.2");
        }
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
