//! The server on an object store: `OpenDalStorage` over a real S3 server (s3s-fs, started per
//! test on 127.0.0.1 and killed at its end), under both runtimes. curl, lftp and Python's
//! ftplib upload and download files of 0 B, a few bytes and several MiB, compared byte for
//! byte with what they sent and with the objects the S3 server stored; an upload whose client
//! is killed leaves no object and no pending multipart upload; a folder of 5,000 objects lists
//! completely in LIST, NLST and MLSD; what a flat store cannot do is refused with 502.

mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use ftp_server::storage::{FolderMarker, OpenDalStorage, S3Config};
use support::s3_server::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};
use support::*;

const LIMIT: Duration = Duration::from_secs(90);

/// The part size of the test storage: uploads above it go as multipart uploads.
const PART: usize = 5 << 20;

/// The server on `s3`, with the hidden folder marker s3s-fs needs (it keeps objects as
/// files, so it cannot hold an object `name/` beside `name/file`).
fn server_on(rt: Rt, s3: &S3Server) -> TestServer {
    let config = S3Config {
        bucket: BUCKET.into(),
        prefix: String::new(),
        endpoint: Some(s3.endpoint.clone()),
        region: None,
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
    };
    let storage = OpenDalStorage::s3(&config)
        .unwrap()
        .part_size(PART)
        .folder_marker(FolderMarker::Object(".folder".into()));
    TestServer::start_on(rt, TempDir::new("s3-unused"), storage, |s| s)
}

fn curl(args: &[&str]) -> std::process::Output {
    require("curl");
    run(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "80"])
            .args(["--user", &format!("{}:{}", ALICE.0, ALICE.1)])
            .args(args),
        LIMIT,
    )
}

/// The files every client moves: empty, small, and larger than an upload part.
fn samples() -> [(&'static str, Vec<u8>); 3] {
    [
        ("empty.bin", Vec::new()),
        ("small.txt", b"hello, object store\n".to_vec()),
        ("big.bin", pattern(PART + (1 << 20) + 17, 7)),
    ]
}

#[test]
fn s3_curl_round_trips_and_resumes_downloads() {
    each_runtime(|rt| {
        let s3 = S3Server::start();
        let server = server_on(rt, &s3);
        let local = TempDir::new("s3-curl");
        for (name, data) in samples() {
            let up = local.path().join(format!("up-{name}"));
            std::fs::write(&up, &data).unwrap();
            ok(curl(&[
                "--ftp-create-dirs",
                "-T",
                up.to_str().unwrap(),
                &server.url(&format!("curl/{name}")),
            ]));
            let stored = std::fs::read(s3.bucket_dir().join("curl").join(name)).unwrap();
            assert!(stored == data, "{name}: the stored object differs");
            let down = local.path().join(format!("down-{name}"));
            ok(curl(&[
                "-o",
                down.to_str().unwrap(),
                &server.url(&format!("curl/{name}")),
            ]));
            assert!(
                std::fs::read(&down).unwrap() == data,
                "{name}: download differs"
            );
        }
        // A resumed download is a ranged read.
        let big = &samples()[2].1;
        let partial = local.path().join("partial");
        std::fs::write(&partial, &big[..1_234_567]).unwrap();
        ok(curl(&[
            "-C",
            "-",
            "-o",
            partial.to_str().unwrap(),
            &server.url("curl/big.bin"),
        ]));
        assert!(std::fs::read(&partial).unwrap() == *big, "resumed download");
        // Listings show the objects' sizes.
        let list = ok(curl(&[&server.url("curl/")]));
        let big_line = list.lines().find(|l| l.ends_with(" big.bin")).unwrap();
        assert!(big_line.contains(&format!(" {} ", big.len())), "{list}");
        assert!(!list.contains(".folder"), "{list}");
    });
}

#[test]
fn s3_refuses_what_a_flat_store_cannot_do() {
    each_runtime(|rt| {
        let s3 = S3Server::start();
        let server = server_on(rt, &s3);
        let mut ctl = server.login(ALICE);
        ctl.stor("f.txt", b"0123456789");
        let feat = ctl.expect("FEAT", 211);
        assert!(!feat.contains("MFMT"), "{feat}");
        assert!(feat.contains("REST STREAM"), "{feat}");
        ctl.expect("MFMT 20200101000000 f.txt", 502);
        // SITE CHMOD is not offered: an unknown SITE command.
        ctl.expect("SITE CHMOD 644 f.txt", 500);
        let site_help = ctl.expect("SITE HELP", 214);
        assert!(!site_help.contains("CHMOD"), "{site_help}");
        let _data = ctl.epsv();
        let appe = ctl.expect("APPE f.txt", 502);
        assert!(appe.contains("cannot append"), "{appe}");
        ctl.expect("REST 5", 350);
        let resumed = ctl.expect("STOR f.txt", 502);
        assert!(resumed.contains("cannot resume uploads"), "{resumed}");
        // REST before RETR works: a ranged read.
        assert_eq!(ctl.retr_from("f.txt", Some(4)), b"456789");
        ctl.expect("TYPE I", 200);
        assert_eq!(ctl.expect("SIZE f.txt", 213).trim(), "10");
        ctl.expect("MDTM f.txt", 213);
        // Folders: MKD makes an empty folder that lists; RMD refuses a folder with objects.
        ctl.expect("MKD empty", 257);
        ctl.expect("MKD full", 257);
        ctl.stor("full/inner.txt", b"inner");
        let names = ctl.expect("STAT /", 212);
        assert!(names.contains(" empty"), "{names}");
        ctl.expect("RMD full", 550);
        ctl.expect("RMD empty", 250);
        // A folder renames with everything in it.
        ctl.expect("RNFR full", 350);
        ctl.expect("RNTO moved", 250);
        assert_eq!(ctl.retr("moved/inner.txt"), b"inner");
        ctl.expect("CWD full", 550);
        ctl.expect("QUIT", 221);
    });
}

/// Starts STOR of `name` and sends `bytes` without ending the upload; returns the control and
/// data connections.
fn start_upload(server: &TestServer, name: &str, bytes: usize) -> (Ctl, std::net::TcpStream) {
    let mut ctl = server.login(ALICE);
    let mut data = ctl.epsv();
    ctl.send(&format!("STOR {name}"));
    let (code, text) = ctl.reply();
    assert!(code == 150 || code == 125, "{text}");
    data.write_all(&pattern(bytes, 3)).unwrap();
    (ctl, data)
}

#[test]
fn s3_killed_and_aborted_uploads_leave_nothing() {
    each_runtime(|rt| {
        let s3 = S3Server::start();
        let server = server_on(rt, &s3);
        // Two parts and more: at least one part goes to the store before the end.
        let bytes = 2 * PART + (2 << 20);
        // A killed client: its control connection closes first, then its data connection.
        let (ctl, data) = start_upload(&server, "killed.bin", bytes);
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while s3.pending_uploads() == 0 && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(s3.pending_uploads(), 1, "a part went to the store");
        drop(ctl);
        std::thread::sleep(Duration::from_millis(100));
        drop(data);
        // ABOR in the middle.
        let (mut ctl, data) = start_upload(&server, "aborted.bin", bytes);
        ctl.send("ABOR");
        let (code, text) = ctl.reply();
        if code == 426 {
            let (code, text) = ctl.reply();
            assert_eq!(code, 226, "{text}");
        } else {
            assert_eq!(code, 226, "{text}");
        }
        drop(data);
        assert_eq!(s3.settle_uploads(), 0, "multipart uploads left pending");
        let mut ctl = server.login(ALICE);
        ctl.expect("SIZE killed.bin", 550);
        ctl.expect("SIZE aborted.bin", 550);
        let mut listing = ctl.epsv();
        ctl.send("NLST");
        let (code, text) = ctl.reply();
        assert!(code == 150 || code == 125, "{text}");
        let mut names = String::new();
        listing.read_to_string(&mut names).unwrap();
        ctl.reply();
        assert_eq!(names, "", "nothing listed");
        assert!(std::fs::read_dir(s3.bucket_dir()).unwrap().next().is_none());
    });
}

const PY_SCRIPT: &str = r#"
import ftplib, io, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
files = sys.argv[4:]
f = ftplib.FTP(timeout=30)
f.connect("127.0.0.1", port)
f.login(user, password)
f.mkd("py")
f.cwd("py")
for path in files:
    data = open(path, "rb").read()
    name = path.rsplit("/", 1)[1]
    f.storbinary("STOR " + name, io.BytesIO(data), blocksize=65536)
    got = io.BytesIO()
    f.retrbinary("RETR " + name, got.write)
    assert got.getvalue() == data, name
    f.voidcmd("TYPE I")
    assert f.size(name) == len(data), name
facts = {name: facts for name, facts in f.mlsd()}
for path in files:
    name = path.rsplit("/", 1)[1]
    assert facts[name]["type"] == "file", facts
    assert int(facts[name]["size"]) == len(open(path, "rb").read()), facts
assert ".folder" not in facts, facts
f.rename(files[1].rsplit("/", 1)[1], "renamed.txt")
f.delete(files[0].rsplit("/", 1)[1])
print("names", sorted(f.nlst()))
f.quit()
"#;

#[test]
fn s3_ftplib_and_lftp_round_trips() {
    each_runtime(|rt| {
        let s3 = S3Server::start();
        let server = server_on(rt, &s3);
        let local = TempDir::new("s3-py");
        let mut args = vec![
            server.port().to_string(),
            ALICE.0.to_owned(),
            ALICE.1.to_owned(),
        ];
        for (name, data) in samples() {
            let path = local.path().join(name);
            std::fs::write(&path, &data).unwrap();
            args.push(path.to_str().unwrap().to_owned());
        }
        let out = ok(python(PY_SCRIPT, &args, LIMIT));
        assert!(out.contains("names ['big.bin', 'renamed.txt']"), "{out}");
        assert!(
            std::fs::read(s3.bucket_dir().join("py/big.bin")).unwrap() == samples()[2].1,
            "the stored object differs"
        );

        // lftp mirrors a tree up and back down.
        require("lftp");
        let up = TempDir::new("s3-lftp-up");
        make_tree(up.path());
        std::fs::write(up.path().join("part-sized.bin"), pattern(PART + 3, 9)).unwrap();
        std::fs::write(up.path().join("zero.bin"), b"").unwrap();
        let down = TempDir::new("s3-lftp-down");
        let script = format!(
            "set net:max-retries 1; set net:timeout 20; set cmd:fail-exit yes; \
             set ftp:ssl-allow no; open -u {},{} -p {} 127.0.0.1; \
             mirror -R {} /tree; mirror /tree {}; quit",
            ALICE.0,
            ALICE.1,
            server.port(),
            up.path().display(),
            down.path().join("tree").display()
        );
        ok(run(Command::new("lftp").args(["-c", &script]), LIMIT));
        assert_eq!(tree(&down.path().join("tree")), tree(up.path()), "lftp");
        // The store holds the same files, and a hidden marker in each folder lftp made.
        let (markers, stored): (Vec<_>, Vec<_>) = tree(&s3.bucket_dir().join("tree"))
            .into_iter()
            .partition(|(path, _)| path.ends_with(".folder"));
        assert!(stored == tree(up.path()), "the stored objects differ");
        assert!(!markers.is_empty());
    });
}

#[test]
fn s3_lists_a_folder_of_many_objects_completely() {
    const COUNT: usize = 5_000;
    each_runtime(|rt| {
        let s3 = S3Server::start();
        // s3s-fs serves the files of its folder as objects: put them there directly.
        let dir = s3.bucket_dir().join("many");
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..COUNT {
            std::fs::write(dir.join(format!("object-{i:05}.txt")), i.to_string()).unwrap();
        }
        let server = server_on(rt, &s3);
        let mut ctl = server.login(ALICE);
        for command in ["NLST many", "LIST many", "MLSD many"] {
            let mut data = ctl.epsv();
            ctl.send(command);
            let (code, text) = ctl.reply();
            assert!(code == 150 || code == 125, "{command}: {text}");
            let mut listing = String::new();
            data.read_to_string(&mut listing).unwrap();
            let (code, text) = ctl.reply();
            assert_eq!(code, 226, "{command}: {text}");
            let lines: Vec<&str> = listing.split("\r\n").filter(|l| !l.is_empty()).collect();
            assert_eq!(lines.len(), COUNT, "{command}");
            for (i, line) in lines.iter().enumerate() {
                let name = format!("object-{i:05}.txt");
                assert!(line.ends_with(&name), "{command}: {line} is not {name}");
            }
        }
    });
}
