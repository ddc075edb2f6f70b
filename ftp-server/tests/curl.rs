//! curl against the server, under both runtimes: EPSV, PASV, active (EPRT and PORT), LIST and
//! NLST, upload, download, resume both ways, `-Q` commands, explicit and implicit FTPS. Every
//! transferred file is compared byte for byte.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn curl(args: &[&str]) -> std::process::Output {
    require("curl");
    run(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "50"])
            .args(args),
        LIMIT,
    )
}

fn user(u: (&str, &str)) -> String {
    format!("{}:{}", u.0, u.1)
}

#[test]
fn curl_downloads_in_every_data_mode() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        let big = pattern(3 << 20, 1);
        server.write("big.bin", &big);
        server.write("dir/small.txt", b"hello\n");
        let local = TempDir::new("curl-dl");
        let modes: [(&str, &[&str]); 4] = [
            ("epsv", &[]),
            ("pasv", &["--disable-epsv"]),
            ("eprt", &["-P", "127.0.0.1"]),
            ("port", &["-P", "127.0.0.1", "--disable-eprt"]),
        ];
        for (name, extra) in modes {
            let out = local.path().join(name);
            let mut args = extra.to_vec();
            let url = server.url("big.bin");
            let out_path = out.to_str().unwrap();
            args.extend(["-o", out_path, url.as_str()]);
            ok(curl(&args));
            assert!(
                std::fs::read(&out).unwrap() == big,
                "{name}: content differs"
            );
        }
        // Anonymous LIST and NLST.
        let list = ok(curl(&[&server.url("/")]));
        assert!(
            list.contains(" big.bin\r\n") || list.contains(" big.bin\n"),
            "{list}"
        );
        assert!(
            list.lines()
                .any(|l| l.starts_with('d') && l.ends_with("dir")),
            "{list}"
        );
        let names = ok(curl(&["--list-only", &server.url("dir/")]));
        assert_eq!(names.trim_end(), "small.txt");
        // Resumed download: the local file has a prefix, curl asks REST for the rest.
        let partial = local.path().join("partial");
        std::fs::write(&partial, &big[..123_457]).unwrap();
        ok(curl(&[
            "-C",
            "-",
            "-o",
            partial.to_str().unwrap(),
            &server.url("big.bin"),
        ]));
        assert!(
            std::fs::read(&partial).unwrap() == big,
            "resumed download differs"
        );
    });
}

#[test]
fn curl_uploads_resumes_and_quotes() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        let local = TempDir::new("curl-up");
        let data = pattern(2 << 20, 2);
        let file = local.path().join("up.bin");
        std::fs::write(&file, &data).unwrap();
        let alice = user(ALICE);
        for (name, extra) in [
            ("epsv.bin", vec![]),
            ("pasv.bin", vec!["--disable-epsv"]),
            ("active.bin", vec!["-P", "127.0.0.1"]),
        ] {
            let mut args = extra;
            let url = server.url(name);
            args.extend(["-u", &alice, "-T", file.to_str().unwrap(), &url]);
            ok(curl(&args));
            assert!(server.read(name) == data, "{name}: stored content differs");
        }
        // Resumed upload: the server has the first part, curl appends the rest (SIZE, APPE).
        server.write("resume.bin", &data[..777_777]);
        ok(curl(&[
            "-u",
            &alice,
            "-C",
            "-",
            "-T",
            file.to_str().unwrap(),
            &server.url("resume.bin"),
        ]));
        assert!(server.read("resume.bin") == data, "resumed upload differs");
        // Commands with -Q: MKD, RNFR/RNTO, DELE.
        ok(curl(&[
            "-u",
            &alice,
            "-Q",
            "MKD newdir",
            "-Q",
            "RNFR epsv.bin",
            "-Q",
            "RNTO newdir/moved.bin",
            "-Q",
            "DELE pasv.bin",
            &server.url("/"),
        ]));
        assert!(server.read("newdir/moved.bin") == data);
        assert!(!server.file("pasv.bin").exists());
        assert!(!server.file("epsv.bin").exists());
        // A failing quote command fails curl (550 for a missing file).
        let failed = curl(&["-u", &alice, "-Q", "DELE missing", &server.url("/")]);
        assert!(!failed.status.success());
        // Read-only users and anonymous cannot upload; nothing is created.
        let bob = user(BOB);
        for who in [bob.as_str(), "anonymous:x"] {
            let out = curl(&[
                "-u",
                who,
                "-T",
                file.to_str().unwrap(),
                &server.url("ro.bin"),
            ]);
            assert!(!out.status.success(), "{who} could upload");
        }
        assert!(!server.file("ro.bin").exists());
        // No temporary upload file is left anywhere.
        let names: Vec<String> = tree(server.root.path())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["active.bin", "newdir/moved.bin", "resume.bin"]);
    });
}

#[test]
fn curl_explicit_and_implicit_ftps() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| {
            s.tls(tls_config())
                .implicit_tls_listen("127.0.0.1:0".parse().unwrap())
        });
        let big = pattern(3 << 20, 3);
        server.write("big.bin", &big);
        let local = TempDir::new("curl-tls");
        let upload = local.path().join("up.bin");
        std::fs::write(&upload, &big).unwrap();
        let alice = user(ALICE);
        let implicit = server.implicit.unwrap();
        let implicit_url = |path: &str| format!("ftps://127.0.0.1:{}/{path}", implicit.port());
        let explicit = ["--ssl-reqd", "-k", "-u", &alice];
        // Explicit FTPS (AUTH TLS, PROT P), EPSV and PASV, down and up; uploads with TLS 1.2
        // and 1.3 (curl 7.88 sends close_notify on its upload data connection here).
        for (name, extra) in [
            ("epsv", vec![]),
            ("pasv", vec!["--disable-epsv"]),
            ("tls12", vec!["--tls-max", "1.2"]),
        ] {
            let out = local.path().join(name);
            let mut args = explicit.to_vec();
            args.extend(extra.iter().copied());
            let url = server.url("big.bin");
            args.extend(["-o", out.to_str().unwrap(), &url]);
            ok(curl(&args));
            assert!(
                std::fs::read(&out).unwrap() == big,
                "{name} download differs"
            );
            let mut args = explicit.to_vec();
            args.extend(extra.iter().copied());
            let target = format!("up-{name}.bin");
            let url = server.url(&target);
            args.extend(["-T", upload.to_str().unwrap(), &url]);
            ok(curl(&args));
            assert!(server.read(&target) == big, "{name} upload differs");
        }
        let root = server.url("/");
        let list = ok(curl(&[&explicit[..], &[root.as_str()][..]].concat()));
        assert!(list.contains("big.bin"), "{list}");
        // Implicit FTPS.
        let out = local.path().join("implicit");
        ok(curl(&[
            "-k",
            "-u",
            &alice,
            "-o",
            out.to_str().unwrap(),
            &implicit_url("big.bin"),
        ]));
        assert!(
            std::fs::read(&out).unwrap() == big,
            "implicit download differs"
        );
        ok(curl(&[
            "-k",
            "-u",
            &alice,
            "-T",
            upload.to_str().unwrap(),
            &implicit_url("implicit-up.bin"),
        ]));
        assert!(
            server.read("implicit-up.bin") == big,
            "implicit upload differs"
        );
    });
}

#[test]
fn curl_over_ipv6() {
    // Loopback IPv6 is part of every Linux network stack this project's CI runs on; a machine
    // with IPv6 switched off cannot bind [::1] and says so here.
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("NOTE: [::1] cannot be bound on this machine; IPv6 not tested");
        return;
    }
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.listen("[::1]:0".parse().unwrap()));
        let v6 = server.running_addrs()[1];
        assert!(v6.is_ipv6());
        let data = pattern(1 << 20, 6);
        server.write("v6.bin", &data);
        let local = TempDir::new("curl-v6");
        let alice = user(ALICE);
        let url = |path: &str| format!("ftp://[::1]:{}/{path}", v6.port());
        for (name, extra) in [("epsv", vec![]), ("eprt", vec!["-P", "::1"])] {
            let out = local.path().join(name);
            let mut args = vec!["-g", "-u", &alice, "-o", out.to_str().unwrap()];
            args.extend(extra);
            let source = url("v6.bin");
            args.push(&source);
            ok(curl(&args));
            assert!(
                std::fs::read(&out).unwrap() == data,
                "IPv6 {name} download differs"
            );
        }
        let source = local.path().join("epsv");
        ok(curl(&[
            "-g",
            "-u",
            &alice,
            "-T",
            source.to_str().unwrap(),
            &url("up.bin"),
        ]));
        assert!(server.read("up.bin") == data);
        // PASV cannot carry an IPv6 address: 502, EPSV works.
        let mut ctl = Ctl::connect(v6);
        assert_eq!(ctl.reply().0, 220);
        ctl.expect("USER alice", 331);
        ctl.expect("PASS secret", 230);
        ctl.expect("PASV", 502);
        ctl.expect("TYPE I", 200);
        assert!(ctl.retr("v6.bin") == data);
    });
}
