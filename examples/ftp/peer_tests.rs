//! The `ftp` program against real servers (vsftpd, Pure-FTPd, ProFTPD, pyftpdlib; see
//! `ftp-client/tests/peers`): for every runtime and every mode the server offers, mkdir,
//! put, ls, get (also over an existing file), get --resume, mv, rm, mirror --upload into a
//! new nested folder, mirror, and ls of a missing folder, each checked against the server's
//! files byte for byte and by exit code.
//!
//! Each command runs in a child process (this test binary re-run as
//! [`child_process_runs_ftp`]), so exit codes and output are the program's own; each child
//! is bounded in time and stopped by its PID if it overruns.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::peers::{self, Peer, Server, PASS, USER};

/// ftp-client's scripted servers (misbehaving and unusual ones), in-process.
#[path = "../../ftp-client/tests/scripted/mod.rs"]
mod scripted;

/// Set for the child processes: the program's arguments, one per line.
const CHILD_ARGS: &str = "FTP_TEST_CHILD_ARGS";
/// The longest one command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(90);

/// In a child process started by these tests (and only there), this test binary *is* `ftp`:
/// it runs with the arguments given and exits with the program's code.
#[test]
fn child_process_runs_ftp() {
    let Ok(args) = std::env::var(CHILD_ARGS) else {
        return;
    };
    let code = super::cli(args.lines().map(String::from).collect());
    std::process::exit(i32::from(code));
}

/// What one `ftp` run gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// How the client connects in one cell of the matrix.
#[derive(Clone, Copy)]
struct Mode {
    active: bool,
    tls: Option<&'static str>,
}

const PASSIVE: Mode = Mode {
    active: false,
    tls: None,
};
const ACTIVE: Mode = Mode {
    active: true,
    tls: None,
};
const EXPLICIT: Mode = Mode {
    active: false,
    tls: Some("explicit"),
};
const EXPLICIT_ACTIVE: Mode = Mode {
    active: true,
    tls: Some("explicit"),
};
const IMPLICIT: Mode = Mode {
    active: false,
    tls: Some("implicit"),
};

const RUNTIMES: [&str; 3] = ["blocking", "tokio", "async-std"];

/// One server, one mode, one runtime: where the local files go and how `ftp` is called.
struct Cell<'a> {
    peer: &'a Peer,
    mode: Mode,
    runtime: &'static str,
    /// The cell's folder on the server (under its root).
    name: String,
    local: PathBuf,
    ca: PathBuf,
}

impl Cell<'_> {
    fn url(&self, path: &str) -> String {
        format!(
            "ftp://{USER}:{PASS}@127.0.0.1:{}/{}/{path}",
            self.peer.port, self.name
        )
    }

    fn remote(&self, path: &str) -> PathBuf {
        self.peer.path(&format!("{}/{path}", self.name))
    }

    /// Runs `ftp` with the cell's options and `args`.
    fn ftp(&self, args: &[&str]) -> Run {
        let mut all = vec!["-q", "--timeout", "20", "--runtime", self.runtime];
        if self.mode.active {
            all.push("--active");
        }
        if let Some(tls) = self.mode.tls {
            all.extend(["--tls", tls, "--cacert", self.ca.to_str().unwrap()]);
        }
        all.extend(args);
        run_child(&all, &self.local)
    }

    /// Runs `ftp` and requires exit code `code`.
    #[track_caller]
    fn expect(&self, code: i32, args: &[&str]) -> Run {
        let run = self.ftp(args);
        assert_eq!(
            run.code,
            code,
            "{} {:?}: ftp {args:?}\nstdout:\n{}\nstderr:\n{}\nserver log:\n{}",
            self.runtime,
            self.mode.tls,
            run.stdout,
            run.stderr,
            self.peer.log()
        );
        run
    }
}

/// Starts the child with `args`, waits at most [`COMMAND_LIMIT`] (then kills it by its PID
/// and fails), and collects its output from files in `dir`.
fn run_child(args: &[&str], dir: &Path) -> Run {
    let out_path = dir.join("stdout.txt");
    let err_path = dir.join("stderr.txt");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "ftp::peer_tests::child_process_runs_ftp",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ARGS, args.join("\n"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + COMMAND_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ftp {args:?} ran longer than {COMMAND_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(err_path).unwrap_or_default(),
    }
}

/// Every file under `dir`, as (path relative to `dir`, contents), sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The nine commands of one cell, and `ls` of a missing folder.
fn cell(cell: &Cell<'_>) {
    let data = peers::data(3_000_000, cell.peer.port.into());
    std::fs::create_dir_all(&cell.local).unwrap();
    let upload = cell.local.join("up.bin");
    std::fs::write(&upload, &data).unwrap();

    // mkdir, put, ls.
    cell.expect(0, &["mkdir", &cell.url("")]);
    assert!(cell.remote("").is_dir());
    cell.expect(0, &["put", upload.to_str().unwrap(), &cell.url("")]);
    assert!(std::fs::read(cell.remote("up.bin")).unwrap() == data, "put");
    let ls = cell.expect(0, &["ls", &cell.url("")]);
    assert!(
        ls.stdout
            .lines()
            .any(|l| l.contains(" 3000000 ") && l.ends_with(" up.bin")),
        "ls:\n{}",
        ls.stdout
    );

    // get, also over an existing file; get --resume of a partial one.
    let got = cell.local.join("got.bin");
    std::fs::write(&got, b"an older file, replaced only by a complete download").unwrap();
    cell.expect(0, &["get", &cell.url("up.bin"), got.to_str().unwrap()]);
    assert!(std::fs::read(&got).unwrap() == data, "get");
    let part = cell.local.join("part.bin");
    std::fs::write(&part, &data[..1_234_567]).unwrap();
    cell.expect(
        0,
        &[
            "get",
            "--resume",
            &cell.url("up.bin"),
            part.to_str().unwrap(),
        ],
    );
    assert!(std::fs::read(&part).unwrap() == data, "get --resume");
    // A refused get names the remote path and leaves the local file alone.
    let refused = cell.expect(
        3,
        &["get", &cell.url("no-such-file"), got.to_str().unwrap()],
    );
    assert!(
        refused.stderr.contains("no-such-file"),
        "{}",
        refused.stderr
    );
    assert!(
        std::fs::read(&got).unwrap() == data,
        "a refused get kept the file"
    );

    // mv, rm.
    cell.expect(0, &["mv", &cell.url("up.bin"), "moved.bin"]);
    assert!(!cell.remote("up.bin").exists() && cell.remote("moved.bin").is_file());
    cell.expect(0, &["rm", &cell.url("moved.bin")]);
    assert!(!cell.remote("moved.bin").exists());

    // mirror --upload into a new nested folder, then mirror it back.
    let src = cell.local.join("src");
    std::fs::create_dir_all(src.join("sub dir/deeper")).unwrap();
    std::fs::write(src.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(src.join("name with spaces.bin"), &data[..100_000]).unwrap();
    std::fs::write(src.join("sub dir/b.txt"), b"beta\n").unwrap();
    std::fs::write(src.join("sub dir/deeper/c.bin"), &data[..5_000]).unwrap();
    let target = "new/nested";
    cell.expect(
        0,
        &[
            "mirror",
            "--upload",
            src.to_str().unwrap(),
            &cell.url(target),
        ],
    );
    assert!(tree(&cell.remote(target)) == tree(&src), "mirror --upload");
    let back = cell.local.join("back");
    cell.expect(0, &["mirror", &cell.url(target), back.to_str().unwrap()]);
    assert!(tree(&back) == tree(&src), "mirror");

    // A missing folder is an error, not an empty listing.
    let missing = cell.expect(3, &["ls", &cell.url("missing/")]);
    assert!(missing.stderr.contains("missing"), "{}", missing.stderr);
}

/// Starts `server` and runs every runtime in each of `modes` against it.
fn matrix(server: Server, modes: &[Mode]) {
    if peers::skip_peers() {
        return;
    }
    let peer = Peer::start(server);
    let local = std::env::temp_dir().join(format!(
        "ftp-cli-peers-{}-{}",
        std::process::id(),
        peer.port
    ));
    let _ = std::fs::remove_dir_all(&local);
    std::fs::create_dir_all(&local).unwrap();
    let ca = local.join("ca.pem");
    std::fs::write(&ca, Peer::ca_pem()).unwrap();
    for (m, mode) in modes.iter().enumerate() {
        for runtime in RUNTIMES {
            let name = format!("{runtime}-{m}");
            cell(&Cell {
                peer: &peer,
                mode: *mode,
                runtime,
                local: local.join(&name),
                name,
                ca: ca.clone(),
            });
        }
    }
    std::fs::remove_dir_all(&local).unwrap();
}

#[test]
fn vsftpd_plain() {
    let server = Server::Vsftpd {
        ssl_reuse: false,
        implicit: false,
    };
    matrix(server, &[PASSIVE, ACTIVE]);
}

/// vsftpd as it ships: data connections must resume the control connection's TLS session.
#[test]
fn vsftpd_explicit_tls_session_reuse() {
    let server = Server::Vsftpd {
        ssl_reuse: true,
        implicit: false,
    };
    matrix(server, &[EXPLICIT, EXPLICIT_ACTIVE]);
}

#[test]
fn vsftpd_implicit_tls() {
    let server = Server::Vsftpd {
        ssl_reuse: true,
        implicit: true,
    };
    matrix(server, &[IMPLICIT]);
}

/// ProFTPD with `TLSRequired on` and TLS session reuse required: the cells upload and
/// mirror more files than the server's TLS 1.3 tickets last.
#[test]
fn proftpd_explicit_tls_session_reuse() {
    matrix(
        Server::Proftpd { tls_required: true },
        &[EXPLICIT, EXPLICIT_ACTIVE],
    );
}

#[test]
fn proftpd_plain() {
    matrix(
        Server::Proftpd {
            tls_required: false,
        },
        &[PASSIVE, ACTIVE],
    );
}

#[test]
fn pure_ftpd_plain() {
    matrix(Server::PureFtpd, &[PASSIVE, ACTIVE]);
}

#[test]
fn pure_ftpd_explicit_tls() {
    matrix(Server::PureFtpd, &[EXPLICIT, EXPLICIT_ACTIVE]);
}

#[test]
fn pyftpdlib_plain() {
    matrix(Server::Pyftpdlib, &[PASSIVE, ACTIVE]);
}

#[test]
fn pyftpdlib_explicit_tls() {
    matrix(Server::Pyftpdlib, &[EXPLICIT, EXPLICIT_ACTIVE]);
}

/// `mirror --upload` of 50 files into a new folder of a server that requires TLS session
/// reuse and sends no TLS 1.3 ticket after uploads (as ProFTPD does): the library moves the
/// session to TLS 1.2 when the tickets run dry, no data connection is refused, and every
/// file arrives, byte for byte.
#[test]
fn mirror_upload_to_a_server_without_tickets_after_uploads() {
    let (server, files) = scripted::reuse_requiring_server(2);
    let local = std::env::temp_dir().join(format!("ftp-cli-no-tickets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&local);
    let src = local.join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..50 {
        std::fs::write(src.join(format!("f{i:02}.txt")), format!("file {i}\n")).unwrap();
    }
    let url = format!("ftp://{USER}:{PASS}@{}/new/", server.target());
    let args = [
        "-q",
        "--timeout",
        "20",
        "--tls",
        "explicit",
        "--insecure",
        "mirror",
        "--upload",
        src.to_str().unwrap(),
        &url,
    ];
    let run = run_child(&args, &local);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    drop(server);
    let files = files.lock().unwrap();
    assert_eq!(files.refused, 0, "a data connection did not resume");
    for i in 0..50 {
        let body = &files.files[&format!("/new/f{i:02}.txt")];
        assert_eq!(body, format!("file {i}\n").as_bytes());
    }
    std::fs::remove_dir_all(&local).unwrap();
}

/// A server that sends the first 4 bytes of `f` on each RETR and then breaks the transfer
/// off (426), for `rounds` control connections.
fn cut_short_server(rounds: usize) -> scripted::Server {
    scripted::Server::start_many(rounds, |s| {
        s.login();
        let listener = s.passive();
        s.expect("RETR");
        s.send("150 Opening BINARY mode data connection for f (10 bytes).");
        let mut data = scripted::accept(&listener);
        std::io::Write::write_all(&mut data, b"half").unwrap();
        drop(data);
        s.send("426 Connection closed; transfer aborted.");
        s.expect("QUIT");
        s.send("221 Bye.");
    })
}

/// A download cut short: a new local file keeps what came and the message says it is
/// partial and how to resume; an existing local file is left as it was, and the message
/// says so.
#[test]
fn get_cut_short_says_what_became_of_the_local_file() {
    let server = cut_short_server(2);
    let local = std::env::temp_dir().join(format!("ftp-cli-cut-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&local);
    std::fs::create_dir_all(&local).unwrap();
    let url = format!("ftp://u:p@{}/f", server.target());
    let fresh = local.join("fresh.bin");
    let run = run_child(&["-q", "get", &url, fresh.to_str().unwrap()], &local);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("426"), "{}", run.stderr);
    assert!(
        run.stderr.contains("is partial (4 bytes)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--resume"), "{}", run.stderr);
    assert_eq!(std::fs::read(&fresh).unwrap(), b"half");
    let kept = local.join("kept.bin");
    std::fs::write(&kept, b"precious").unwrap();
    let run = run_child(&["-q", "get", &url, kept.to_str().unwrap()], &local);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("was left unchanged"), "{}", run.stderr);
    assert_eq!(std::fs::read(&kept).unwrap(), b"precious");
    drop(server);
    std::fs::remove_dir_all(&local).unwrap();
}
