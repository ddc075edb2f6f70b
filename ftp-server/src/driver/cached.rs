//! Plain binary downloads of local files sent with `sendfile(2)` from the session's own task
//! ([`crate::Server::sendfile_cached`]): no pool thread, no transfer buffer, and no copy of
//! the bytes by the server.
//!
//! `sendfile(2)` reads the file in the calling thread, and a page that is not in memory
//! would stall a worker of the runtime while the disk reads it. So each window of the file
//! is checked with `cachestat(2)` (Linux 6.5) before it is sent, and only up to where it was
//! checked: a window the page cache holds whole is sent from the task; any other is read on
//! the blocking pool through a buffer of the transfer's budget and written from there. A
//! download whose first window is not cached does not come here at all ([`Start::of`]): it
//! takes the pool's copy ([`super::local`]), which suits a file read from disk. (A page that
//! read-ahead is still bringing in counts as cached, and `sendfile(2)` waits for it: the
//! check keeps a download off the disk's queue, not off every wait on it.)
//!
//! `sendfile(2)` cannot be told not to raise `SIGPIPE` when the client has reset the
//! connection, so this path is taken only while the process ignores or handles that signal
//! (Rust programs ignore it unless told otherwise).

use std::fs::File;
use std::io::{self, Seek};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use futures_lite::future::poll_fn;
use futures_lite::AsyncWriteExt;

use super::data::{data_failure, storage_failure, DataEnv, Failure, Progress};
use crate::runtime::Conn;
use crate::storage::FileRead;

/// How much of the file one `cachestat(2)` check covers: the most one window sends.
const WINDOW: u64 = 1 << 20;

/// A download that may start from the page cache: its own handle on the file, and where
/// the download starts.
pub(super) struct Start {
    file: File,
    offset: u64,
}

impl Start {
    /// The start of `source`'s download when it has a local file, this system reports what
    /// its page cache holds of it, the cache holds the first window, and `SIGPIPE` cannot
    /// end the process.
    pub(super) fn of(source: &dyn FileRead) -> Option<Self> {
        let mut file = source.bypass_file()?;
        if !page_cache::reported() || !sigpipe_is_harmless() {
            return None;
        }
        let offset = file.stream_position().ok()?;
        page_cache::held_from(file, offset)?;
        let file = file.try_clone().ok()?;
        Some(Self { file, offset })
    }
}

/// Sends the file from `start` to its end over `conn`; returns the bytes sent. A window the
/// page cache does not hold is read through a buffer of `chunk` bytes.
pub(super) async fn send(
    env: &DataEnv,
    conn: &mut Box<dyn Conn>,
    start: Start,
    chunk: usize,
    progress: &mut Progress,
) -> Result<u64, Failure> {
    let Start { file, offset } = start;
    let file = Arc::new(file);
    let mut position = offset;
    let mut buf = Vec::new();
    loop {
        let before = position;
        match page_cache::held_from(&file, position) {
            // The file ends here (as far as its size says now).
            Some(end) if end == position => return Ok(position - offset),
            Some(end) => {
                let sending = Sending { offset, end };
                let sent = send_window(conn, &file, &mut position, sending, progress).await;
                env.server.metrics.sent_from_page_cache(position - before);
                // A whole window sent without waiting for room kept the thread all along:
                // a turn for the runtime's other tasks before the next (a socket that never
                // fills, on a fast network, would otherwise keep the session, its control
                // connection included, busy to the download's end). A shorter window ended
                // the file as its size was, and a file that fits in one needs no turn.
                let waited = sent?;
                if !waited && position - before == WINDOW {
                    futures_lite::future::yield_now().await;
                }
            }
            None => {
                if buf.is_empty() {
                    buf = vec![0; chunk];
                }
                let read;
                (buf, read) = read_on_pool(env, &file, buf, position).await;
                let n = read.map_err(|e| storage_failure(&e))?.min(buf.len());
                conn.write_all(&buf[..n])
                    .await
                    .map_err(|e| data_failure(&e))?;
                position += n as u64;
            }
        }
        if position == before {
            return Ok(position - offset);
        }
        progress.moved(position - offset).await;
    }
}

/// Where the download started, and where the window being sent ends.
struct Sending {
    offset: u64,
    end: u64,
}

/// Sends the file from `*position` to `window.end` (or its end, if that comes first),
/// moving `*position` on, and ticks `progress` as the bytes leave: a client that reads
/// slowly takes long over a window, and the stall timer must see its bytes move. Returns
/// whether it had to wait for room in the socket's buffer.
async fn send_window(
    conn: &mut Box<dyn Conn>,
    file: &File,
    position: &mut u64,
    window: Sending,
    progress: &mut Progress,
) -> Result<bool, Failure> {
    let mut waited = false;
    while *position < window.end {
        let left = usize::try_from(window.end - *position).unwrap_or(usize::MAX);
        let send = poll_fn(|cx| {
            let sent = conn.poll_send_file(cx, file, position, left);
            waited |= sent.is_pending();
            sent
        });
        match send.await {
            Ok(0) => break,
            Ok(_) => progress.tick(*position - window.offset),
            // The file's side fails with EIO; anything else is the connection's.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return Err(storage_failure(&e)),
            Err(e) => return Err(data_failure(&e)),
        }
    }
    Ok(waited)
}

/// Reads at `position` into `buf` on the blocking pool.
async fn read_on_pool(
    env: &DataEnv,
    file: &Arc<File>,
    mut buf: Vec<u8>,
    position: u64,
) -> (Vec<u8>, io::Result<usize>) {
    let file = Arc::clone(file);
    let read = move || {
        let read = loop {
            match file.read_at(&mut buf, position) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                read => break read,
            }
        };
        (buf, read)
    };
    let job = env.server.blocking.unblock(read).await;
    job.unwrap_or_else(|e| (Vec::new(), Err(e)))
}

/// Whether a `SIGPIPE` would leave the process running: the signal is ignored or handled.
#[allow(unsafe_code)] // rustix has no sigaction.
fn sigpipe_is_harmless() -> bool {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `current`, which is valid
    // for writes of a `sigaction`.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), current.as_mut_ptr()) };
    // SAFETY: the call succeeded, so it wrote the whole struct (and zeroes are valid anyway).
    rc == 0 && unsafe { current.assume_init() }.sa_sigaction != libc::SIG_DFL
}

/// `cachestat(2)`: how many of a file's pages in a range the page cache holds.
mod page_cache {
    use std::fs::File;
    use std::os::fd::{AsFd, AsRawFd};
    use std::sync::OnceLock;

    use super::WINDOW;

    /// The call's number where it is 451: calls added since Linux 5.1 have one number on
    /// every architecture but alpha and MIPS (`include/uapi/asm-generic/unistd.h`), and
    /// `libc` does not name this one for every target.
    #[cfg(not(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "mips32r6",
        target_arch = "mips64r6"
    )))]
    const SYS_CACHESTAT: Option<libc::c_long> = Some(451);
    #[cfg(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "mips32r6",
        target_arch = "mips64r6"
    ))]
    const SYS_CACHESTAT: Option<libc::c_long> = None;

    /// `struct cachestat_range`.
    #[repr(C)]
    struct Range {
        offset: u64,
        len: u64,
    }

    /// `struct cachestat`: counts of pages.
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        cached: u64,
        dirty: u64,
        writeback: u64,
        evicted: u64,
        recently_evicted: u64,
    }

    /// How many pages of `file` in `[offset, offset + len)` the page cache holds; `None` when
    /// the call failed (a kernel before 6.5, a sandbox that forbids it, or, on recent
    /// kernels, a file the process may not write and does not own: 6.18 refuses those).
    #[allow(unsafe_code)] // rustix has no cachestat.
    fn cached_pages(file: impl AsFd, offset: u64, len: u64) -> Option<u64> {
        let number = SYS_CACHESTAT?;
        let range = Range { offset, len };
        let mut stat = Stat::default();
        // SAFETY: the descriptor is open for the call's length, and both pointers are to
        // live values of the layouts the call reads and writes.
        let rc = unsafe {
            libc::syscall(
                number,
                file.as_fd().as_raw_fd(),
                &range as *const Range,
                &mut stat as *mut Stat,
                0u32,
            )
        };
        (rc == 0).then_some(stat.cached)
    }

    /// Whether this system answers the call, asked once of a file of the process's own
    /// (a file of the server's it may neither write nor own is refused on its own).
    pub(super) fn reported() -> bool {
        static REPORTED: OnceLock<bool> = OnceLock::new();
        *REPORTED.get_or_init(|| {
            let flags = rustix::fs::MemfdFlags::CLOEXEC;
            rustix::fs::memfd_create("ftp-server-cachestat", flags)
                .is_ok_and(|probe| cached_pages(probe, 0, 0).is_some())
        })
    }

    /// Where the window from `offset` ends: [`WINDOW`] bytes on, or the file's end as its
    /// size says now, if the page cache holds every page before it; `None` if it does not,
    /// or cannot tell. At or past the file's end, `Some(offset)`.
    pub(super) fn held_from(file: &File, offset: u64) -> Option<u64> {
        let size = file.metadata().ok()?.len();
        let end = size.min(offset.saturating_add(WINDOW));
        if end <= offset {
            return Some(offset);
        }
        let page = rustix::param::page_size() as u64;
        let pages = end.div_ceil(page) - offset / page;
        (cached_pages(file, offset, end - offset)? == pages).then_some(end)
    }
}
