//! Plain binary downloads of local files sent with `sendfile(2)` from the session's own task
//! ([`crate::Server::sendfile_cached`]): no pool thread, no transfer buffer, and no copy of
//! the bytes by the server.
//!
//! `sendfile(2)` reads the file in the calling thread, and a page that is not in memory
//! would stall a worker of the runtime while the disk reads it. So each window of the file
//! is checked with `cachestat(2)` (Linux 6.5) before it is sent, and only up to where it was
//! checked, and checked again after every wait for room in the socket's buffer (a slow
//! client gives the kernel time to evict pages). A download whose first window is not
//! cached does not come here at all ([`Start::of`]): it takes the pool's copy
//! ([`super::local`]), which suits a file read from disk. From the first window that is not
//! cached on, the rest of the file is copied: by the pool's copy when one of its slots is
//! free, else here, read on the blocking pool through a buffer of the transfer's budget. It
//! never comes back to `sendfile(2)`: the pool's reads start read-ahead, whose pages count as
//! cached while the disk is still reading them. Only files on local file systems come here
//! ([`on_local_file_system`]): on a network file system, `sendfile(2)` may ask the server whether
//! the cached pages are still current, however cached they are.
//!
//! `sendfile(2)` cannot be told not to raise `SIGPIPE` when the client has reset the
//! connection, so this path is taken only while the process ignores or handles that signal
//! for good (Rust programs ignore it unless told otherwise).

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::task::Poll;

use futures_lite::future::poll_fn;
use futures_lite::AsyncWriteExt;

use super::data::{data_failure, storage_failure, DataEnv, Failure, Progress};
use super::local::PoolSlot;
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
    /// The start of `source`'s download when it has a file on a local file system, this
    /// system reports what its page cache holds of it, the cache holds the first window, and
    /// `SIGPIPE` cannot end the process.
    pub(super) fn of(source: &dyn FileRead) -> Option<Self> {
        let mut file = source.bypass_file()?;
        if !page_cache::reported() || !sigpipe_is_harmless() || !on_local_file_system(file) {
            return None;
        }
        let offset = file.stream_position().ok()?;
        page_cache::window_from(file, offset)?;
        let file = file.try_clone().ok()?;
        Some(Self { file, offset })
    }
}

/// How a download from the page cache ended.
pub(super) enum Sent {
    /// The file was sent to its end: the bytes sent.
    All(u64),
    /// A window the page cache does not hold came up while a slot of the pool's copy was
    /// free: the bytes sent so far, and the slot. The source's file is positioned at the next
    /// byte, for [`super::local::send`] to send the rest.
    Until { sent: u64, slot: PoolSlot },
}

/// Sends the file from `start` over `conn`, from the page cache while it holds the file, and
/// copied from the first window it does not hold (see the module's documentation). A window
/// copied here is read through a buffer of `chunk` bytes.
pub(super) async fn send(
    env: &DataEnv,
    conn: &mut Box<dyn Conn>,
    start: Start,
    chunk: usize,
    progress: &mut Progress,
) -> Result<Sent, Failure> {
    let Start { file, offset } = start;
    let file = Arc::new(file);
    let mut position = offset;
    let mut copying = false;
    let mut buf = Vec::new();
    loop {
        let before = position;
        let window = match copying {
            false => page_cache::window_from(&file, position),
            true => None,
        };
        match window {
            // The file ends here (as far as its size says now).
            Some(end) if end == position => return Ok(Sent::All(position - offset)),
            Some(end) => {
                let sending = Sending { offset, end };
                match send_window(env, conn, &file, &mut position, sending, progress).await? {
                    Window::Sent { waited } => {
                        // A whole window sent without waiting for room kept the thread all
                        // along: a turn for the runtime's other tasks before the next (a
                        // socket that never fills, on a fast network, would otherwise keep
                        // the session, its control connection included, busy to the
                        // download's end). A shorter window ended the file as its size was,
                        // and a file that fits in one needs no turn.
                        if !waited && position - before == WINDOW {
                            futures_lite::future::yield_now().await;
                        }
                    }
                    Window::Evicted => {}
                    Window::FileEnded => return Ok(Sent::All(position - offset)),
                }
            }
            None => {
                if !copying {
                    if let Some(slot) = env.server.pool_slots.try_take() {
                        (&*file)
                            .seek(SeekFrom::Start(position))
                            .map_err(|e| storage_failure(&e))?;
                        let sent = position - offset;
                        return Ok(Sent::Until { sent, slot });
                    }
                    copying = true;
                    buf = vec![0; chunk];
                }
                let read;
                (buf, read) = read_on_pool(env, &file, buf, position).await;
                let n = read.map_err(|e| storage_failure(&e))?.min(buf.len());
                if n == 0 {
                    return Ok(Sent::All(position - offset));
                }
                conn.write_all(&buf[..n])
                    .await
                    .map_err(|e| data_failure(&e))?;
                position += n as u64;
            }
        }
        progress.moved(position - offset).await;
    }
}

/// Where the download started, and where the window being sent ends.
struct Sending {
    offset: u64,
    end: u64,
}

/// How sending a window ended.
enum Window {
    /// The window left whole; `waited` if that took a wait for room in the socket's buffer.
    Sent { waited: bool },
    /// Pages of the rest of the window left the page cache while the socket was full.
    Evicted,
    /// `sendfile(2)` found the file's end before the window's.
    FileEnded,
}

/// Sends the file from `*position` to `window.end`, moving `*position` on, and counts and
/// ticks `progress` as the bytes leave: a client that reads slowly takes long over a window,
/// and the stall timer must see its bytes move. After each wait for room, the rest of the
/// window is checked against the page cache again before it is sent.
async fn send_window(
    env: &DataEnv,
    conn: &mut Box<dyn Conn>,
    file: &File,
    position: &mut u64,
    window: Sending,
    progress: &mut Progress,
) -> Result<Window, Failure> {
    let mut waited = false;
    while *position < window.end {
        let left = usize::try_from(window.end - *position).unwrap_or(usize::MAX);
        let mut woken = false;
        let send = poll_fn(|cx| {
            if woken && !page_cache::holds(file, *position, window.end) {
                return Poll::Ready(None);
            }
            let sent = conn.poll_send_file(cx, file, position, left);
            woken = sent.is_pending();
            waited |= woken;
            sent.map(Some)
        });
        match send.await {
            None => return Ok(Window::Evicted),
            Some(Ok(0)) => return Ok(Window::FileEnded),
            Some(Ok(n)) => {
                env.server.metrics.sent_from_page_cache(n as u64);
                progress.tick(*position - window.offset);
            }
            // The file's side fails with EIO; anything else is the connection's.
            Some(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Err(storage_failure(&e)),
            Some(Err(e)) => return Err(data_failure(&e)),
        }
    }
    Ok(Window::Sent { waited })
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

/// Whether `file` is on a local file system whose reads of cached pages never wait for
/// anything but the page: ext2/3/4, XFS, Btrfs, F2FS, tmpfs, or overlayfs (a container's
/// file system, over one of those). Network file systems (NFS, CIFS) and FUSE may check with
/// their server that cached pages are current, in the thread that reads them.
fn on_local_file_system(file: &File) -> bool {
    /// The `f_type`s of `statfs(2)` (`include/uapi/linux/magic.h`).
    const LOCAL: [u32; 6] = [
        0xef53,      // EXT2_SUPER_MAGIC, also ext3 and ext4
        0x5846_5342, // XFS_SUPER_MAGIC
        0x9123_683e, // BTRFS_SUPER_MAGIC
        0xf2f5_2010, // F2FS_SUPER_MAGIC
        0x0102_1994, // TMPFS_MAGIC
        0x794c_7630, // OVERLAYFS_SUPER_MAGIC
    ];
    // The magic numbers are 32 bits wide; `f_type` is as wide as a `long` on most targets.
    rustix::fs::fstatfs(file).is_ok_and(|fs| LOCAL.contains(&(fs.f_type as u32)))
}

/// Whether a `SIGPIPE` would leave the process running: the signal is ignored or handled,
/// and a handler stays installed once it has run (no `SA_RESETHAND`).
#[allow(unsafe_code)] // rustix has no sigaction.
fn sigpipe_is_harmless() -> bool {
    let mut current = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `current`, which is valid
    // for writes of a `sigaction`.
    let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), current.as_mut_ptr()) };
    if rc != 0 {
        return false;
    }
    // SAFETY: the call succeeded, so it wrote the whole struct (and zeroes are valid anyway).
    let current = unsafe { current.assume_init() };
    current.sa_sigaction != libc::SIG_DFL && current.sa_flags & libc::SA_RESETHAND == 0
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
    pub(super) fn window_from(file: &File, offset: u64) -> Option<u64> {
        let size = file.metadata().ok()?.len();
        let end = size.min(offset.saturating_add(WINDOW));
        if end <= offset {
            return Some(offset);
        }
        holds(file, offset, end).then_some(end)
    }

    /// Whether the page cache holds every page of `file` in `[from, to)` (`from < to`);
    /// `false` if it cannot tell.
    pub(super) fn holds(file: &File, from: u64, to: u64) -> bool {
        let page = rustix::param::page_size() as u64;
        let pages = to.div_ceil(page) - from / page;
        cached_pages(file, from, to - from) == Some(pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_on_local_file_systems_count_as_local() {
        let temp = std::env::temp_dir().join(format!("cached-local-{}", std::process::id()));
        let local = File::create(&temp).unwrap();
        let on_tmp = on_local_file_system(&local);
        std::fs::remove_file(&temp).unwrap();
        assert!(on_tmp, "{} is not on a local file system", temp.display());
        let memfd = rustix::fs::memfd_create("cached-local", rustix::fs::MemfdFlags::CLOEXEC);
        assert!(
            on_local_file_system(&File::from(memfd.unwrap())),
            "a memfd (tmpfs)"
        );
        // procfs: no page cache to speak of, and not a disk.
        let proc = File::open("/proc/self/status").unwrap();
        assert!(!on_local_file_system(&proc), "/proc");
    }
}
