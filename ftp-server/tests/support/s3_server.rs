//! A real S3 server for tests: s3s-fs over a temporary folder, on 127.0.0.1, started and
//! killed by the test that needs it. Shared by the storage suite (src/storage/tests.rs) and
//! the integration tests (tests/s3.rs).
//!
//! s3s-fs is installed by `ftp-server/tests/peers/install-s3.sh` (which `.ci/run` calls) into
//! `$FTP_S3_ROOT` (default `/var/tmp/ftp-s3`). The tests never skip without it: they fail and
//! say how to install it.

// Each test crate that includes this file uses part of it.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The credentials s3s-fs checks (SigV4).
pub const ACCESS_KEY: &str = "ftp-test-access-key";
pub const SECRET_KEY: &str = "ftp-test-secret-key";
/// The bucket every server starts with.
pub const BUCKET: &str = "ftp-test";

/// How many ports a start tries (another process may take the free port first).
const START_ATTEMPTS: u32 = 5;
/// How long one start waits for the server to accept connections.
const START_WAIT: Duration = Duration::from_secs(15);

/// A running s3s-fs; killed (by its process id) and its folder removed on drop.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The folder s3s-fs serves: the bucket is its sub-folder [`BUCKET`].
    pub root: PathBuf,
}

/// The s3s-fs binary, or a panic that says how to install it.
pub fn s3s_fs_binary() -> PathBuf {
    let root = std::env::var_os("FTP_S3_ROOT").unwrap_or_else(|| "/var/tmp/ftp-s3".into());
    let binary = Path::new(&root).join("bin/s3s-fs");
    assert!(
        binary.is_file(),
        "s3s-fs is not installed at {}: run `bash ftp-server/tests/peers/install-s3.sh` \
         (what .ci/run does) first",
        binary.display()
    );
    binary
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// Something on `addr` answers an HTTP request. A port that merely accepts may be another
/// test's listener that took the free port before s3s-fs could bind it (s3s-fs then exits,
/// and every request to the store would fail).
fn answers_http(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 5];
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: s3\r\nConnection: close\r\n\r\n")
        .is_ok()
        && stream.read_exact(&mut head).is_ok()
        && &head == b"HTTP/"
}

impl S3Server {
    /// Starts s3s-fs with an empty bucket [`BUCKET`].
    pub fn start() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let binary = s3s_fs_binary();
        let root = std::env::temp_dir().join(format!(
            "ftp-s3-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(BUCKET)).expect("create the bucket folder");
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let mut child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&root)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start s3s-fs");
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let until = Instant::now() + START_WAIT;
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if answers_http(addr) && matches!(child.try_wait(), Ok(None)) {
                    return Self {
                        child,
                        endpoint: format!("http://{addr}"),
                        root,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start on 127.0.0.1 after {START_ATTEMPTS} attempts");
    }

    /// The folder that holds the bucket's objects (s3s-fs keeps each as a file).
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.join(BUCKET)
    }
}

impl S3Server {
    /// Multipart uploads started and neither completed nor aborted (s3s-fs keeps one
    /// `.upload-ID.json` file in its root for each).
    pub fn pending_uploads(&self) -> usize {
        std::fs::read_dir(&self.root)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| {
                        let name = e.file_name();
                        let name = name.to_string_lossy();
                        name.starts_with(".upload-") && name.ends_with(".json")
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits (at most 5 s) until no multipart upload is pending; returns how many still are.
    pub fn settle_uploads(&self) -> usize {
        let until = Instant::now() + Duration::from_secs(5);
        while self.pending_uploads() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.pending_uploads()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
