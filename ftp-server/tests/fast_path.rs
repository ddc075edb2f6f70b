//! Plain binary transfers of local files (TYPE I, MODE S, no TLS): the blocking-pool fast
//! path, and the async path that serves them beyond `Server::pool_transfers`. Under both
//! runtimes: byte-exact both ways and from a REST offset, STAT progress from the pool, ABOR
//! stopping a download mid-way, a small download's replies in one segment, its bytes in one
//! segment with the end of the stream, and a file that grew while it was sent.

mod support;

use std::io::Read;
use std::thread::sleep;
use std::time::Duration;

use ftp_server::storage::{
    BoxFuture, Download, FileRead, FsStorage, Storage, StorageContext, StorageError, StorageLayer,
    VirtualPath,
};
use support::*;

#[test]
fn plain_transfers_are_byte_exact_on_either_path() {
    each_runtime(|rt| {
        // 64: the fast path (the default); 0: every transfer on the async path. Each with
        // the default transfer buffer and the smallest.
        for (limit, budget) in [
            (64, 256 << 10),
            (0, 256 << 10),
            (64, 16 << 10),
            (0, 16 << 10),
        ] {
            let server = TestServer::start(rt, |s| s.pool_transfers(limit).transfer_buffer(budget));
            let content = pattern((5 << 20) + 12_345, 3);
            server.write("big.bin", &content);
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);
            assert!(ctl.retr("big.bin") == content, "RETR, limit {limit}");
            let offset = 1_000_003;
            let tail = ctl.retr_from("big.bin", Some(offset));
            assert!(tail == content[offset as usize..], "REST, limit {limit}");
            ctl.stor("up.bin", &content);
            assert!(server.read("up.bin") == content, "STOR, limit {limit}");
            ctl.stor("empty.bin", b"");
            assert_eq!(server.read("empty.bin"), b"", "empty STOR, limit {limit}");
            assert_eq!(ctl.retr("empty.bin"), b"", "empty RETR, limit {limit}");
            // Around the async path's first read (16 KiB) and its chunk (half the budget).
            let chunk = budget / 2;
            let first = 16 << 10;
            for len in [
                1,
                first - 1,
                first,
                first + 1,
                chunk - 1,
                chunk,
                chunk + 1,
                3 * chunk + 7,
            ] {
                let sent = pattern(len, 7);
                ctl.stor("edge.bin", &sent);
                assert!(
                    server.read("edge.bin") == sent,
                    "STOR of {len}, limit {limit}"
                );
            }
        }
    });
}

/// A file that grew after storage gave its size is sent to its end, on the async path: from
/// a size below the first read, on a chunk's boundary, and within a later chunk. The reader
/// here stops the read that would pass the size it reported at that size, as a file does
/// that grows after it was opened, so that the chunk that reaches that size is sent as the
/// last and the bytes after it still follow. Under both runtimes.
#[test]
fn a_download_that_grew_is_sent_to_its_end() {
    each_runtime(|rt| {
        let content = pattern(20_000, 9);
        // The smallest transfer buffer: 8 KiB chunks.
        for reported in [1, 4096, 8192, 12_000, 19_999] {
            let root = TempDir::new("root");
            let storage = UnderstatedSizes {
                inner: FsStorage::new(root.path()).unwrap(),
                reported,
            };
            let server = TestServer::start_on(rt, root, storage, |s| s.transfer_buffer(16 << 10));
            server.write("growing.bin", &content);
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);
            assert!(
                ctl.retr("growing.bin") == content,
                "size reported as {reported}"
            );
        }
    });
}

/// Storage that reports every download's size as `reported` bytes, and whose readers
/// stop at that many bytes once.
struct UnderstatedSizes {
    inner: FsStorage,
    reported: u64,
}

impl StorageLayer for UnderstatedSizes {
    fn inner(&self) -> &dyn Storage {
        &self.inner
    }

    fn open_read(
        &self,
        cx: StorageContext,
        path: VirtualPath,
        offset: u64,
    ) -> BoxFuture<'_, Result<Download, StorageError>> {
        Box::pin(async move {
            let download = self.inner.open_read(cx, path, offset).await?;
            Ok(Download {
                reader: Box::new(PausedAt {
                    inner: download.reader,
                    read: 0,
                    pause: Some(self.reported),
                }),
                size: Some(self.reported),
            })
        })
    }
}

/// A reader whose read that would pass `pause` bytes stops there (and that offers no file
/// to send with `sendfile`, so that every byte takes the async path).
struct PausedAt {
    inner: Box<dyn FileRead>,
    read: u64,
    pause: Option<u64>,
}

impl FileRead for PausedAt {
    fn read(&mut self, mut buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, std::io::Result<usize>)> {
        Box::pin(async move {
            let full = buf.len();
            if let Some(pause) = self.pause.filter(|&at| self.read + full as u64 >= at) {
                buf.truncate((pause - self.read) as usize);
                self.pause = None;
            }
            let (mut buf, read) = self.inner.read(buf).await;
            buf.resize(full, 0);
            if let Ok(n) = &read {
                self.read += *n as u64;
            }
            (buf, read)
        })
    }
}

/// Reads exactly `len` bytes from the data connection.
fn take(data: &mut impl Read, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    data.read_exact(&mut buf).unwrap();
    buf
}

#[test]
fn stat_reports_progress_and_abor_stops_a_fast_path_download() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        let content = pattern(64 << 20, 5);
        server.write("huge.bin", &content);
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);
        let mut data = ctl.epsv();
        ctl.send("RETR huge.bin");
        // 125 when the server has seen the connection already, else 150.
        let (code, text) = ctl.reply();
        assert!(code == 125 || code == 150, "{text}");
        // Progress goes out at most once a second, when bytes move: after the pause, the
        // first chunk the server gets out reports it, well before the client has read 24 MiB.
        assert!(take(&mut data, 4 << 20) == content[..4 << 20]);
        sleep(Duration::from_millis(1_200));
        assert!(take(&mut data, 24 << 20) == content[4 << 20..28 << 20]);
        let (code, text) = {
            ctl.send("STAT");
            ctl.reply()
        };
        assert_eq!(code, 213, "{text}");
        let so_far: u64 = text
            .split(": ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no byte count in {text:?}"));
        assert!(so_far >= 4 << 20, "{text}");
        assert!(so_far < content.len() as u64, "{text}");
        // ABOR: 426 for the transfer, then 226 for the ABOR; the data connection ends early.
        ctl.send("ABOR");
        assert_eq!(ctl.reply().0, 426);
        assert_eq!(ctl.reply().0, 226);
        let mut rest = Vec::new();
        let _ = data.read_to_end(&mut rest);
        assert!(
            rest.len() < content.len() - (12 << 20),
            "the download ran to its end"
        );
        // The session goes on.
        assert!(ctl.retr("huge.bin").len() == content.len());
    });
}

/// A small download over a data connection the server has already accepted is answered in
/// one segment: the transfer ends while its `125` still waits to be written, and the `226`
/// joins it. The client wakes once per file, and the server sends one segment less.
#[cfg(target_os = "linux")]
#[test]
fn a_small_download_is_answered_in_one_segment() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        let content = pattern(1024, 7);
        server.write("small.bin", &content);
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);
        // A round whose connection the server had not accepted yet (150, on a very busy
        // machine) proves nothing: its 150 rightly goes out while the server waits.
        let mut proved = 0;
        for round in 0..5 {
            let mut data = ctl.epsv();
            // Time for the server to accept the connection before the command comes.
            sleep(Duration::from_millis(100));
            let before = data_segments_in(&ctl.stream);
            ctl.send("RETR small.bin");
            let mut got = Vec::new();
            data.read_to_end(&mut got).unwrap();
            assert!(got == content, "round {round}");
            let start = ctl.raw_reply();
            assert_eq!(ctl.raw_reply(), "226 Transfer complete.\r\n");
            if start.starts_with("150 ") {
                continue;
            }
            assert_eq!(
                start,
                "125 Data connection already open; transfer starting.\r\n"
            );
            let segments = data_segments_in(&ctl.stream) - before;
            assert_eq!(
                segments, 1,
                "round {round}: replies came in {segments} segments"
            );
            proved += 1;
        }
        assert!(
            proved > 0,
            "the server never accepted a connection within 100 ms"
        );
    });
}

/// A small download's bytes and the end of the stream reach the client in one segment: the
/// only segment without data the client's data connection receives is the server's SYN-ACK.
/// Under both runtimes. (Files this small are read whole when they are opened, and always
/// take the async path.)
#[cfg(target_os = "linux")]
#[test]
fn a_small_downloads_bytes_carry_its_end() {
    each_runtime(|rt| {
        let server = TestServer::start(rt, |s| s);
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);
        for len in [1, 1024, 4000] {
            let content = pattern(len, 5);
            server.write("f.bin", &content);
            let mut data = ctl.epsv();
            ctl.send("RETR f.bin");
            let mut got = Vec::new();
            data.read_to_end(&mut got).unwrap();
            assert!(got == content, "{len} bytes");
            assert!(matches!(ctl.reply().0, 125 | 150));
            assert_eq!(ctl.reply().0, 226);
            let info = tcp_info(&data);
            assert_eq!(
                info.tcpi_segs_in - info.tcpi_data_segs_in,
                1,
                "{len} bytes: segments without data (the SYN-ACK, and the FIN if alone)"
            );
        }
    });
}

/// How many segments carrying data `stream` has received.
#[cfg(target_os = "linux")]
fn data_segments_in(stream: &std::net::TcpStream) -> u32 {
    tcp_info(stream).tcpi_data_segs_in
}

/// The kernel's `TCP_INFO` of `stream`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn tcp_info(stream: &std::net::TcpStream) -> libc::tcp_info {
    use std::os::fd::AsRawFd;
    // SAFETY: `info` is a plain C struct the kernel fills up to `len` bytes, and `len` says
    // how large it is; the descriptor is open for the call.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    info
}
