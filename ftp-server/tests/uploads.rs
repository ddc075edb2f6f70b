//! What the server promises about uploads, over real sockets under both runtimes
//! (`FsStorage`: uploads go to a hidden temporary file, renamed into place only when every
//! byte has arrived, and `226` only after that):
//!
//! * ABOR during a STOR: `426`, then `226`, and no file (nor a changed one) on disk;
//! * a PROT P upload whose data connection ends without TLS close_notify (Python's ftplib,
//!   the socket closed under the TLS layer): `426` and nothing stored, while the same upload
//!   closed properly is stored;
//! * REST + STOR (ftplib's `storbinary(..., rest=n)`): the first `n` bytes of the existing file
//!   are kept and the rest replaced by what arrives: the resumed file is compared byte for byte;
//! * an upload that will be `fsync`ed has its bytes written out while it arrives (Linux), on
//!   the blocking-pool path and on the async one, and one that will not is left to the kernel;
//! * an upload's data connection, once the client has ended it, is closed while storage
//!   commits, not after, and the `226` still waits for the commit.

mod support;

use std::future::Future;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ftp_server::storage::{
    BoxFuture, FileWrite, FsStorage, Storage, StorageContext, StorageError, StorageLayer,
    StoreMode, Upload, VirtualPath,
};
use support::*;

/// Files below the root that an upload left behind: names starting with `.ftpd-upload-`.
fn temporaries(server: &TestServer) -> Vec<String> {
    tree(server.root.path())
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| {
            name.rsplit('/')
                .next()
                .unwrap()
                .starts_with(".ftpd-upload-")
        })
        .collect()
}

/// The tree once no temporary upload file is left (the storage removes an aborted upload's
/// temporary file right after the replies; give it two seconds).
fn settled_tree(server: &TestServer) -> Vec<(String, Vec<u8>)> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = temporaries(server);
        if left.is_empty() {
            return tree(server.root.path());
        }
        assert!(
            Instant::now() < deadline,
            "temporary upload files left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// STOR `path` over EPSV, sends `sent` bytes, then ABOR with the data connection still open.
fn stor_then_abor(ctl: &mut Ctl, path: &str, sent: &[u8]) {
    let mut data = ctl.epsv();
    ctl.send(&format!("STOR {path}"));
    let opening = ctl.raw_reply();
    assert!(
        opening == "125 Data connection already open; transfer starting.\r\n"
            || opening
                == format!(
                    "150 Opening BINARY mode data connection for {}.\r\n",
                    path.rsplit('/').next().unwrap_or(path)
                ),
        "STOR {path}: {opening:?}"
    );
    data.write_all(sent).unwrap();
    data.flush().unwrap();
    // Let the server take some of it (the outcome must not depend on it).
    std::thread::sleep(Duration::from_millis(50));
    ctl.send("ABOR");
    assert_eq!(
        ctl.raw_reply(),
        "426 Connection closed; transfer aborted.\r\n",
        "the transfer's reply after ABOR"
    );
    assert_eq!(
        ctl.raw_reply(),
        "226 Abort successful\r\n",
        "ABOR's own reply"
    );
    // The server has dropped its end of the data connection.
    data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = data.read_to_end(&mut rest);
    assert!(rest.is_empty(), "data from an upload's data connection");
}

#[test]
fn abor_during_stor_stores_nothing() {
    // The default copy path and the splice(2) path (plain binary uploads into local files).
    for splice in [false, true] {
        eprintln!("splice: {splice}");
        each_runtime(|rt| {
            let server = TestServer::start(rt, |s| s.splice(splice));
            let old = pattern(5_000, 1);
            server.write("old.bin", &old);
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);

            // A new file: nothing appears.
            stor_then_abor(&mut ctl, "new.bin", &pattern(300_000, 2));
            // An existing file: it keeps its old content.
            stor_then_abor(&mut ctl, "old.bin", &pattern(300_000, 3));
            ctl.expect_raw("NOOP", "200 NOOP ok.\r\n");
            assert_same_tree(
                &settled_tree(&server),
                &[("old.bin".to_owned(), old.clone())],
            );
            ctl.expect_raw("SIZE new.bin", "550 No such file or directory.\r\n");

            // The session goes on, and a complete upload is stored.
            let whole = pattern(300_000, 4);
            ctl.stor("new.bin", &whole);
            assert_same_tree(
                &settled_tree(&server),
                &[
                    ("new.bin".to_owned(), whole),
                    ("old.bin".to_owned(), old.clone()),
                ],
            );
            ctl.expect("QUIT", 221);
        });
    }
}

/// The start of a Python script, `argv` port, user, password: `f` is an ftplib session logged
/// in over explicit FTPS, with PROT P and TYPE I.
const FTPS_SESSION: &str = r#"
import ftplib, ssl, sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect("127.0.0.1", port)
f.login(user, password)
f.prot_p()
f.voidcmd("TYPE I")
"#;

/// After [`FTPS_SESSION`], `argv[4]` the file to upload: uploads it twice: once with
/// the data connection's socket closed under the TLS layer (no close_notify), once closed
/// properly; prints each final reply.
const NO_CLOSE_NOTIFY: &str = r#"
import os

data = open(sys.argv[4], "rb").read()

def final_reply():
    try:
        return f.getresp()
    except ftplib.Error as e:
        return str(e)

# Every byte sent, then the TCP connection closed without a TLS close_notify: detach the
# file descriptor from the TLS socket and close it directly.
conn = f.transfercmd("STOR cut.bin")
conn.sendall(data)
os.close(conn.detach())
print("CUT", final_reply())

# The same upload, ended with close_notify.
conn = f.transfercmd("STOR whole.bin")
conn.sendall(data)
conn.unwrap()
conn.close()
print("WHOLE", final_reply())
print("NOOP", f.voidcmd("NOOP"))
f.quit()
"#;

#[test]
fn tls_upload_without_close_notify_stores_nothing() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s.tls(tls_config()));
        let client = TempDir::new("client");
        let content = pattern(400_000, 8);
        let source = client.path().join("upload.bin");
        std::fs::write(&source, &content).unwrap();
        let args = [
            server.port().to_string(),
            ALICE.0.into(),
            ALICE.1.into(),
            source.display().to_string(),
        ];
        let script = format!("{FTPS_SESSION}{NO_CLOSE_NOTIFY}");
        let out = ok(python(&script, &args, Duration::from_secs(60)));
        assert_eq!(
            out,
            "CUT 426 Connection closed; transfer aborted.\n\
             WHOLE 226 Transfer complete.\n\
             NOOP 200 NOOP ok.\n"
        );
        assert_same_tree(&settled_tree(&server), &[("whole.bin".to_owned(), content)]);
    });
}

/// `argv`: port, user, password, the complete file, then `name:offset` pairs: resumes the
/// upload of each `name` at `offset` with `storbinary(rest=offset)`, sending the complete
/// file's bytes from `offset` on, and prints the final reply and the SIZE.
const RESUME: &str = r#"
import ftplib, sys

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
complete = sys.argv[4]
f = ftplib.FTP(timeout=30)
f.connect("127.0.0.1", port)
f.login(user, password)
f.voidcmd("TYPE I")
for spec in sys.argv[5:]:
    name, offset = spec.rsplit(":", 1)
    offset = int(offset)
    with open(complete, "rb") as source:
        source.seek(offset)
        try:
            reply = f.storbinary("STOR " + name, source, blocksize=16384, rest=offset)
        except ftplib.Error as e:
            reply = str(e)
    print(name, reply, f.size(name))
f.quit()
"#;

#[test]
fn rest_stor_resumes_an_upload() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        let client = TempDir::new("client");
        let complete = pattern(1_000_003, 21);
        let source = client.path().join("complete.bin");
        std::fs::write(&source, &complete).unwrap();
        let n = 400_001;
        // What an earlier, interrupted upload had stored completely.
        server.write("part.bin", &complete[..n]);
        // A longer file: what lies past the offset is replaced, not kept.
        let mut longer = complete[..n].to_vec();
        longer.extend_from_slice(&pattern(900_000, 22));
        server.write("longer.bin", &longer);
        // A shorter file: the offset lies past its end.
        server.write("short.bin", &complete[..1000]);
        // An offset of 0 is a plain STOR (REST 0 clears the offset).
        server.write("zero.bin", b"old content");
        let args = [
            server.port().to_string(),
            ALICE.0.into(),
            ALICE.1.into(),
            source.display().to_string(),
            format!("part.bin:{n}"),
            format!("longer.bin:{n}"),
            format!("short.bin:{n}"),
            "zero.bin:0".into(),
        ];
        let out = ok(python(RESUME, &args, Duration::from_secs(60)));
        let size = complete.len();
        assert_eq!(
            out,
            format!(
                "part.bin 226 Transfer complete. {size}\n\
                 longer.bin 226 Transfer complete. {size}\n\
                 short.bin 554 Invalid REST parameter. 1000\n\
                 zero.bin 226 Transfer complete. {size}\n"
            )
        );
        assert!(server.read("part.bin") == complete, "part.bin differs");
        assert!(server.read("longer.bin") == complete, "longer.bin differs");
        assert!(
            server.read("short.bin") == complete[..1000],
            "short.bin changed"
        );
        assert!(server.read("zero.bin") == complete, "zero.bin differs");
        assert!(temporaries(&server).is_empty());
    });
}

/// The bytes of `file`'s page cache that are dirty and not yet being written out.
#[cfg(target_os = "linux")]
fn dirty_bytes(file: &std::fs::File) -> u64 {
    page_cache(file, 0, 0).dirty * page_size()
}

#[cfg(target_os = "linux")]
#[test]
fn an_upload_is_written_out_while_it_arrives() {
    const MIB: usize = 1 << 20;
    each_runtime(|rt| {
        // (fsync at commit, transfers on the blocking pool: 64, the default, or none, splice)
        let cases = [
            (true, 64, false),
            (true, 64, true),
            (true, 0, false),
            (false, 64, false),
            (false, 64, true),
            (false, 0, false),
        ];
        for (sync, pool, splice) in cases {
            let root = root_on_disk();
            let storage = FsStorage::new(root.path()).unwrap().sync_uploads(sync);
            let server =
                TestServer::start_on(rt, root, storage, |s| s.pool_transfers(pool).splice(splice));
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);
            let mut data = ctl.epsv();
            ctl.send("STOR big.bin");
            let (code, text) = ctl.reply();
            assert!(code == 125 || code == 150, "{text}");
            let content = pattern(3 * MIB, 31);
            data.write_all(&content).unwrap();
            // The client pauses with every byte sent; once the server has them all in its
            // temporary file, what is still dirty there?
            let deadline = Instant::now() + Duration::from_secs(10);
            let temp = loop {
                let written = temporaries(&server).into_iter().find(|name| {
                    std::fs::metadata(server.file(name)).is_ok_and(|m| m.len() == 3 * MIB as u64)
                });
                if let Some(name) = written {
                    break std::fs::File::open(server.file(&name)).unwrap();
                }
                assert!(Instant::now() < deadline, "the upload never reached 3 MiB");
                std::thread::sleep(Duration::from_millis(10));
            };
            // With the writeback started, at most the last megabyte (the stride) waits, synced
            // or not (left to the kernel, the pages would wait until they are 30 s old). The
            // server's writeback thread starts it a moment after the write that asks for it.
            let settled = Instant::now() + Duration::from_secs(2);
            let mut dirty = dirty_bytes(&temp);
            while dirty > MIB as u64 && Instant::now() < settled {
                std::thread::sleep(Duration::from_millis(10));
                dirty = dirty_bytes(&temp);
            }
            let case = format!("sync {sync}, pool {pool}, splice {splice}: {dirty} bytes dirty");
            assert!(dirty <= MIB as u64, "{case}");
            drop(data);
            assert_eq!(ctl.reply().0, 226, "{case}");
            assert!(server.read("big.bin") == content, "{case}");
        }
    });
}

/// Holds every upload's commit until the test releases it, and tells the test when one is
/// waiting.
#[derive(Default)]
struct CommitHold {
    state: Mutex<HoldState>,
    arrived: Condvar,
}

#[derive(Default)]
struct HoldState {
    /// Commits that have reached the hold.
    arrived: usize,
    released: bool,
    /// The held commits' wakers.
    wakers: Vec<Waker>,
}

impl CommitHold {
    /// Resolves once the test has called [`CommitHold::release`].
    fn wait(self: Arc<Self>) -> impl Future<Output = ()> {
        let mut counted = false;
        std::future::poll_fn(move |cx: &mut Context<'_>| {
            let mut state = self.state.lock().unwrap();
            if !counted {
                counted = true;
                state.arrived += 1;
                self.arrived.notify_all();
            }
            if state.released {
                return Poll::Ready(());
            }
            state.wakers.push(cx.waker().clone());
            Poll::Pending
        })
    }

    /// Waits (at most 10 s) until a commit is held.
    fn wait_for_a_commit(&self) {
        let state = self.state.lock().unwrap();
        let (state, waited) = self
            .arrived
            .wait_timeout_while(state, Duration::from_secs(10), |s| s.arrived == 0)
            .unwrap();
        assert!(!waited.timed_out(), "no commit within 10 s");
        drop(state);
    }

    fn release(&self) {
        let mut state = self.state.lock().unwrap();
        state.released = true;
        state.wakers.drain(..).for_each(Waker::wake);
    }
}

/// [`FsStorage`] whose uploads commit only once the [`CommitHold`] is released; `bypass`
/// forwards the file to the server's blocking-pool copy.
struct HeldCommits {
    inner: FsStorage,
    hold: Arc<CommitHold>,
    bypass: bool,
}

impl StorageLayer for HeldCommits {
    fn inner(&self) -> &dyn Storage {
        &self.inner
    }

    fn open_write(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
    ) -> BoxFuture<'_, Result<Upload, StorageError>> {
        Box::pin(async move {
            let mut upload = self.inner.open_write(cx, path, mode, offset).await?;
            upload.writer = Box::new(HeldWriter {
                inner: upload.writer,
                hold: Arc::clone(&self.hold),
                bypass: self.bypass,
            });
            Ok(upload)
        })
    }
}

/// A server over [`HeldCommits`], and the hold of its commits.
fn held_commits_server(
    rt: Rt,
    bypass: bool,
    configure: impl FnOnce(ftp_server::Server) -> ftp_server::Server,
) -> (TestServer, Arc<CommitHold>) {
    let hold = Arc::new(CommitHold::default());
    let root = TempDir::new("root");
    let storage = HeldCommits {
        inner: FsStorage::new(root.path()).unwrap(),
        hold: Arc::clone(&hold),
        bypass,
    };
    (TestServer::start_on(rt, root, storage, configure), hold)
}

struct HeldWriter {
    inner: Box<dyn FileWrite>,
    hold: Arc<CommitHold>,
    bypass: bool,
}

impl FileWrite for HeldWriter {
    fn write(&mut self, buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, std::io::Result<()>)> {
        self.inner.write(buf)
    }

    fn bypass_file(&self) -> Option<&std::fs::File> {
        self.inner.bypass_file().filter(|_| self.bypass)
    }

    fn syncs_on_commit(&self) -> bool {
        self.bypass && self.inner.syncs_on_commit()
    }

    fn commit(self: Box<Self>) -> BoxFuture<'static, Result<(), StorageError>> {
        Box::pin(async move {
            self.hold.wait().await;
            self.inner.commit().await
        })
    }

    fn write_and_commit(
        self: Box<Self>,
        last: Vec<u8>,
    ) -> BoxFuture<'static, Result<(), StorageError>> {
        Box::pin(async move {
            self.hold.wait().await;
            self.inner.write_and_commit(last).await
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, ()> {
        self.inner.abort()
    }
}

/// Once the client has sent the whole file and closed its side, the server closes the data
/// connection while the commit runs (a slow `fsync`, here held), not after it, so that a
/// client that waits for that close (Python's ftplib waits for TLS close_notify) is done
/// with it by the time the file is stored. The `226` still comes only after the commit. On
/// the async copy path and on the blocking pool's.
#[test]
fn an_ended_upload_is_closed_while_it_commits() {
    for bypass in [false, true] {
        eprintln!("blocking-pool copy: {bypass}");
        each_runtime(|rt| {
            let (server, hold) = held_commits_server(rt, bypass, |s| s);
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);
            let mut data = ctl.epsv();
            ctl.send("STOR held.bin");
            let opening = ctl.raw_reply();
            assert!(
                opening == "125 Data connection already open; transfer starting.\r\n"
                    || opening == "150 Opening BINARY mode data connection for held.bin.\r\n",
                "{opening:?}"
            );
            let content = pattern(200_000, 9);
            data.write_all(&content).unwrap();
            data.shutdown(Shutdown::Write).unwrap();

            hold.wait_for_a_commit();
            data.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut unexpected = Vec::new();
            let closed = data.read_to_end(&mut unexpected);
            let silent = ctl.silent_for(Duration::from_millis(200));
            hold.release();
            assert!(silent, "a reply before the commit");
            assert!(
                matches!(closed, Ok(0)),
                "the data connection while the commit was held: {closed:?}"
            );
            assert_eq!(ctl.raw_reply(), "226 Transfer complete.\r\n");
            assert_eq!(server.read("held.bin"), content);
            ctl.expect("QUIT", 221);
        });
    }
}

/// After [`FTPS_SESSION`]: one upload by ftplib's own steps (`storbinary`'s):
/// prints `UNWRAPPED` once the TLS shutdown of the data connection is done (`unwrap()` waits
/// for the server's close_notify), then waits for a line on stdin before it reads the reply,
/// and prints that.
const UNWRAP_THEN_REPLY: &str = r#"
conn = f.transfercmd("STOR tls-held.bin")
conn.sendall(b"z" * 5000)
conn.unwrap()
conn.close()
print("UNWRAPPED", flush=True)
sys.stdin.readline()
print(f.getresp(), flush=True)
f.quit()
"#;

/// The same over FTPS with Python's ftplib: its TLS shutdown of the data connection, which
/// waits for the server's close_notify, is done while the commit is held, and the `226`
/// comes after the commit.
#[test]
fn an_ended_tls_upload_is_closed_while_it_commits() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::sync::mpsc;

    require("python3");
    each_runtime(|rt| {
        let (server, hold) = held_commits_server(rt, false, |s| s.tls(tls_config()));
        let script = TempDir::new("py");
        let path = script.path().join("script.py");
        std::fs::write(&path, format!("{FTPS_SESSION}{UNWRAP_THEN_REPLY}")).unwrap();
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(&path)
            .args([server.port().to_string(), ALICE.0.into(), ALICE.1.into()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (lines, printed) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let _ = lines.send(line.unwrap_or_default());
            }
        });
        let wait = Duration::from_secs(10);
        let held = std::panic::AssertUnwindSafe(|| hold.wait_for_a_commit());
        let unwrapped = std::panic::catch_unwind(held).map(|()| printed.recv_timeout(wait));
        hold.release();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(b"go\n");
        let reply = printed.recv_timeout(wait);
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            matches!(&unwrapped, Ok(Ok(line)) if line == "UNWRAPPED"),
            "ftplib's TLS shutdown while the commit was held: {unwrapped:?}"
        );
        assert_eq!(reply.as_deref(), Ok("226 Transfer complete."));
        assert_eq!(server.read("tls-held.bin"), vec![b'z'; 5000]);
    });
}
