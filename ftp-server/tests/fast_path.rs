//! Plain binary transfers of local files (TYPE I, MODE S, no TLS): downloads sent from the
//! page cache, the blocking-pool fast path, and the async path that serves them beyond
//! `Server::pool_transfers`. Under both runtimes: byte-exact both ways and from a REST offset,
//! pages not in the page cache (or evicted while a download waits) copied, STAT progress,
//! ABOR stopping a download mid-way, a small download's replies in one segment, its bytes in
//! one segment with the end of the stream, and a file that grew while it was sent.

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
        // Downloads from the page cache (the default) or copied: 64 on the pool's fast path
        // (the default), 0 every transfer on the async path. Each with the default transfer
        // buffer and the smallest.
        for (limit, budget, cached) in [
            (64, 256 << 10, false),
            (0, 256 << 10, false),
            (64, 16 << 10, false),
            (0, 16 << 10, false),
            (64, 256 << 10, true),
            (0, 16 << 10, true),
        ] {
            let server = TestServer::start(rt, |s| {
                s.pool_transfers(limit)
                    .transfer_buffer(budget)
                    .sendfile_cached(cached)
            });
            let content = pattern((5 << 20) + 12_345, 3);
            server.write("big.bin", &content);
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);
            assert!(ctl.retr("big.bin") == content, "RETR, limit {limit}");
            let offset = 1_000_003;
            let tail = ctl.retr_from("big.bin", Some(offset));
            assert!(tail == content[offset as usize..], "REST, limit {limit}");
            let expected = match cached && FROM_PAGE_CACHE {
                true => (2 * content.len() - offset as usize) as u64,
                false => 0,
            };
            assert_eq!(from_page_cache(&server), expected, "limit {limit}");
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
            // Every download's size reported as `reported`, its reader stopping there once.
            let storage = WrappedDownloads::new(&root, move |download| Download {
                reader: Box::new(PausedAt {
                    inner: download.reader,
                    read: 0,
                    pause: Some(reported),
                }),
                size: Some(reported),
            });
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

/// Storage over a folder whose downloads pass through `wrap`, which may replace their
/// reader and their size.
struct WrappedDownloads {
    inner: FsStorage,
    wrap: Box<dyn Fn(Download) -> Download + Send + Sync>,
}

impl WrappedDownloads {
    fn new(root: &TempDir, wrap: impl Fn(Download) -> Download + Send + Sync + 'static) -> Self {
        Self {
            inner: FsStorage::new(root.path()).unwrap(),
            wrap: Box::new(wrap),
        }
    }
}

impl StorageLayer for WrappedDownloads {
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
            Ok((self.wrap)(download))
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

/// A download of a file the page cache holds is sent from it with `sendfile(2)`
/// (`Server::sendfile_cached`, the default): through storage whose reads all fail, with the
/// blocking pool's path off, every byte still arrives, from the start and from a REST offset.
/// With `sendfile_cached(false)` the same download takes the async path and fails.
#[cfg(target_os = "linux")]
#[test]
fn a_cached_download_is_sent_from_the_page_cache() {
    each_runtime(|rt| {
        // Three 1 MiB windows and a piece.
        let content = pattern((3 << 20) + 5, 11);
        for cached in [true, false] {
            let server = reads_refused(rt, |s| s.pool_transfers(0).sendfile_cached(cached));
            server.write("cached.bin", &content);
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);
            if cached {
                assert!(ctl.retr("cached.bin") == content);
                assert_eq!(from_page_cache(&server), content.len() as u64);
                let offset = 1_500_001;
                let tail = ctl.retr_from("cached.bin", Some(offset));
                assert!(tail == content[offset as usize..], "REST {offset}");
                assert_eq!(
                    from_page_cache(&server),
                    (2 * content.len() - offset as usize) as u64
                );
            } else {
                let (code, text) = failed_retr(&mut ctl, "cached.bin");
                assert_eq!(code, 451, "{text}");
                assert_eq!(from_page_cache(&server), 0);
            }
        }
    });
}

/// Pages the page cache dropped are never sent with `sendfile(2)` from the session's task,
/// where reading them from disk would stall the runtime: from the first window not held
/// whole, the rest is copied, by the pool's copy when it has a slot and else read on the
/// blocking pool (byte-exact either way, and without the storage's reads), and a download
/// whose first window is not held takes the pool's copy, or, with no pool slot, the async
/// path (which fails here, as storage refuses its reads).
#[cfg(target_os = "linux")]
#[test]
fn pages_not_in_the_page_cache_are_read_on_the_pool() {
    each_runtime(|rt| {
        let content = pattern((4 << 20) + 777, 13);
        // (evicted range, pool slots, whether the download succeeds)
        let (mib, page, end) = (1u64 << 20, page_size(), content.len() as u64);
        let cases = [
            (mib + 3 * page..(5 * mib) / 2, 0, true),
            (mib + 3 * page..(5 * mib) / 2, 64, true),
            (3 * mib..end, 0, true),
            (3 * mib..end, 64, true),
            (0..end, 64, true),
            (0..page, 0, false),
        ];
        for (evicted, slots, succeeds) in cases {
            let label = format!("{evicted:?} evicted, {slots} pool slots");
            let server = reads_refused(rt, |s| s.pool_transfers(slots));
            server.write("cold.bin", &content);
            drop_from_page_cache(&server.file("cold.bin"), evicted.clone());
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);
            if succeeds {
                assert!(ctl.retr("cold.bin") == content, "{label}");
                // Every window before the dropped pages, and nothing after them (though the
                // pool's reads bring pages back with read-ahead).
                let before = evicted.start - evicted.start % WINDOW;
                assert_eq!(from_page_cache(&server), before, "{label}");
            } else {
                let (code, text) = failed_retr(&mut ctl, "cold.bin");
                assert_eq!(code, 451, "{label}: {text}");
            }
        }
    });
}

/// Pages that leave the page cache while a download waits for its client are not read from
/// disk by the session's task: after each wait the rest of the window is checked again, and
/// from there the download is copied (by the pool's copy, or with no slot read on the pool),
/// byte-exact and without the storage's reads.
#[cfg(target_os = "linux")]
#[test]
fn pages_evicted_while_a_download_waits_are_copied() {
    each_runtime(|rt| {
        let content = pattern(16 << 20, 17);
        let page = page_size();
        for slots in [0, 64] {
            let server = reads_refused(rt, |s| s.pool_transfers(slots));
            server.write("slow.bin", &content);
            let path = server.file("slow.bin");
            cache_in_single_pages(&path);
            let mut ctl = server.login(ALICE);
            ctl.expect("TYPE I", 200);
            let mut data = ctl.start_retr("slow.bin");
            // The client reads nothing yet: the server fills the socket's buffers and waits.
            let waiting_at = steady(|| from_page_cache(&server));
            let evicted = waiting_at.next_multiple_of(page);
            let label = format!("{slots} pool slots, waiting at {waiting_at}");
            assert!(evicted < content.len() as u64, "{label}");
            drop_pages(&path, evicted);
            let mut got = Vec::new();
            data.read_to_end(&mut got).unwrap();
            assert_eq!(ctl.raw_reply(), "226 Transfer complete.\r\n", "{label}");
            assert!(
                got == content,
                "{label}: {} bytes, or not the same",
                got.len()
            );
            // Not one byte of the window after the wait from the cache (unless the wait came
            // in the window's last page, which had left already: then the window's end).
            let sent = from_page_cache(&server);
            assert!(
                sent >= waiting_at && sent <= evicted,
                "{label}: {sent} sent"
            );
        }
    });
}

/// `read` once it has given the same value for 300 ms (10 s at most), and that value.
fn steady(read: impl Fn() -> u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut last = read();
    let mut since = std::time::Instant::now();
    while std::time::Instant::now() < deadline {
        sleep(Duration::from_millis(50));
        let now = read();
        if now != last || now == 0 {
            (last, since) = (now, std::time::Instant::now());
        } else if since.elapsed() >= Duration::from_millis(300) {
            return now;
        }
    }
    panic!("still moving after 10 s: {last}");
}

/// Caches all of `path` in pages of their own (read back with read-ahead off after the
/// whole file was dropped), so that any page of it can then be dropped alone.
#[cfg(target_os = "linux")]
fn cache_in_single_pages(path: &std::path::Path) {
    use rustix::fs::{fadvise, Advice};
    let file = std::fs::File::open(path).unwrap();
    file.sync_all().unwrap();
    fadvise(&file, 0, None, Advice::DontNeed).unwrap();
    fadvise(&file, 0, None, Advice::Random).unwrap();
    cache_range(&file, 0, file.metadata().unwrap().len());
}

/// Reads `[start, end)` of `file` until the page cache holds all of it, 20 times at most.
/// The kernel may reclaim any page of the cache at any time: on the development VM, with
/// most of its memory free, a few of a 16 MiB file's 4,096 pages were gone a moment after
/// they were read, now and then.
#[cfg(target_os = "linux")]
fn cache_range(file: &std::fs::File, start: u64, end: u64) {
    use std::os::unix::fs::FileExt;
    let page = page_size();
    let first = start - start % page;
    let pages = end.div_ceil(page).saturating_sub(first / page);
    let mut buf = vec![0; page as usize];
    for _ in 0..20 {
        if end <= start || page_cache(file, first, end - first).cached == pages {
            return;
        }
        for at in (first..end).step_by(page as usize) {
            file.read_at(&mut buf, at).unwrap();
        }
    }
    panic!("[{start}, {end}) does not stay in the page cache");
}

/// Drops the pages of `path` from `from` (a page boundary) to its end from the page cache,
/// and checks that they are gone.
#[cfg(target_os = "linux")]
fn drop_pages(path: &std::path::Path, from: u64) {
    use rustix::fs::{fadvise, Advice};
    let file = std::fs::File::open(path).unwrap();
    fadvise(&file, from, None, Advice::DontNeed).unwrap();
    let left = page_cache(&file, from, 0).cached;
    assert_eq!(
        left,
        0,
        "pages of {} from {from} still cached",
        path.display()
    );
}

/// What a server sends from the page cache at a time: the pages checked before each send.
#[cfg(target_os = "linux")]
const WINDOW: u64 = 1 << 20;

/// Whether downloads are sent from the page cache here (Linux only).
const FROM_PAGE_CACHE: bool = cfg!(target_os = "linux");

/// The bytes `server` has sent with `sendfile(2)` from the page cache.
fn from_page_cache(server: &TestServer) -> u64 {
    server.metrics().snapshot().bytes_sent_from_page_cache
}

/// A server on a disk-backed root over storage whose readers refuse every read but offer
/// their file for the server to send itself.
#[cfg(target_os = "linux")]
fn reads_refused(
    rt: Rt,
    configure: impl FnOnce(ftp_server::Server) -> ftp_server::Server,
) -> TestServer {
    let root = root_on_disk();
    let storage = WrappedDownloads::new(&root, |download| Download {
        reader: Box::new(Refusing(download.reader)),
        size: download.size,
    });
    TestServer::start_on(rt, root, storage, configure)
}

/// Writes `path` out and leaves the page cache holding all of it but `range`, and checks
/// that. The whole file is dropped and the rest read back with read-ahead off: a range
/// dropped alone may stay, in the large folios a written file is cached in.
#[cfg(target_os = "linux")]
fn drop_from_page_cache(path: &std::path::Path, range: std::ops::Range<u64>) {
    use rustix::fs::{fadvise, Advice};
    let file = std::fs::File::open(path).unwrap();
    file.sync_all().unwrap();
    fadvise(&file, 0, None, Advice::DontNeed).unwrap();
    assert_eq!(
        page_cache(&file, 0, 0).cached,
        0,
        "{} stays cached",
        path.display()
    );
    fadvise(&file, 0, None, Advice::Random).unwrap();
    let size = file.metadata().unwrap().len();
    for (start, end) in [(0, range.start), (range.end, size)] {
        cache_range(&file, start, end);
    }
    let left = page_cache(&file, range.start, range.end - range.start).cached;
    assert_eq!(left, 0, "{range:?} of {} is still cached", path.display());
}

/// RETR that the server fails after its `150`: the final reply.
fn failed_retr(ctl: &mut Ctl, path: &str) -> (u16, String) {
    let mut data = ctl.start_retr(path);
    let mut rest = Vec::new();
    let _ = data.read_to_end(&mut rest);
    ctl.reply()
}

/// A reader that refuses every read; its file is the inner reader's.
struct Refusing(Box<dyn FileRead>);

impl FileRead for Refusing {
    fn read(&mut self, buf: Vec<u8>) -> BoxFuture<'_, (Vec<u8>, std::io::Result<usize>)> {
        let refused = std::io::Error::other("this storage refuses reads");
        Box::pin(std::future::ready((buf, Err(refused))))
    }

    fn bypass_file(&self) -> Option<&std::fs::File> {
        self.0.bypass_file()
    }
}

/// Reads exactly `len` bytes from the data connection.
fn take(data: &mut impl Read, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    data.read_exact(&mut buf).unwrap();
    buf
}

/// STAT during a download sent from the page cache (the default) and during one copied on
/// the pool reports the bytes sent so far, and ABOR stops either.
#[test]
fn stat_reports_progress_and_abor_stops_a_fast_path_download() {
    each_runtime(|rt| {
        for cached in [true, false] {
            stat_and_abor_during_a_download(rt, cached);
        }
    });
}

fn stat_and_abor_during_a_download(rt: Rt, cached: bool) {
    let server = TestServer::start(rt, |s| s.sendfile_cached(cached));
    let content = pattern(64 << 20, 5);
    server.write("huge.bin", &content);
    let mut ctl = server.login(ALICE);
    ctl.expect("TYPE I", 200);
    // 125 when the server has seen the connection already, else 150.
    let mut data = ctl.start_retr("huge.bin");
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
    let sent = from_page_cache(&server);
    match cached && FROM_PAGE_CACHE {
        true => assert!(sent >= content.len() as u64, "{sent}"),
        false => assert_eq!(sent, 0),
    }
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
