//! Early writeback: the disk writes an upload while it is still arriving.
//!
//! Left alone, the kernel starts writing a file's pages when they are 30 s old or when dirty
//! memory passes its threshold. An upload committed with `fsync`
//! ([`FsStorage`](super::FsStorage)'s default) is answered `226` only once its bytes are on
//! disk, so its `fsync` would write the whole file after its last byte arrived: the client
//! waits for the network, then for the disk. An upload committed without `fsync` would sit in
//! memory for those 30 s, and many of them would reach the disk all at once, after the load.
//! [`EarlyWriteback`] asks the kernel, after every [`STRIDE`] bytes of any upload into a local
//! file, to start writing what the file has dirty (`sync_file_range(2)` with
//! `SYNC_FILE_RANGE_WRITE`, Linux): the disk works while the bytes arrive, an `fsync` waits
//! only for the tail, and an unsynced upload is written out while it arrives, not 30 s later
//! (only its last, partial stride waits for the kernel). Measured with
//! `benches/server_load.rs` and `FTP_LOAD_FSYNC=0` (300 concurrent 10 MB uploads, 5 rounds):
//! the same rate until the last `226` (1,998 and 1,965 MB/s on the two runtimes, against
//! 1,918 and 2,074 without), and 1,563 and 1,549 MB/s until every byte was on disk (against
//! 1,083 and 1,134).
//!
//! The requests go to one thread of their own ([`start_writeback`]): starting writeback
//! blocks while the disk's queue is full, and an upload that waited there would hold its
//! buffers longer, and take no more bytes, for nothing. Measured with `benches/server_load.rs`
//! (300 concurrent 10 MB uploads, a disk-bound row): starting writeback on the uploads' own
//! threads doubled the server's peak memory, with the same throughput.
//!
//! Nothing here decides what is durable: the commit's `fsync` does, and reports any write
//! error; without it, `226` means the bytes are in the page cache, written early or not.
//! Elsewhere than Linux (Android's C library has no `sync_file_range`) nothing starts early.

use std::fs::File;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::OnceLock;

/// The bytes written between two requests to start writeback: large enough that the disk
/// gets long sequential writes and the call costs nothing per chunk, small enough that a
/// 10 MB upload is mostly on disk when its last byte arrives.
pub(crate) const STRIDE: u64 = 1 << 20;

/// Counts an upload's bytes written since writeback was last started.
#[derive(Debug, Default)]
pub(crate) struct EarlyWriteback {
    unstarted: u64,
}

impl EarlyWriteback {
    /// Notes `n` more bytes written; true when a [`STRIDE`] has gathered and writeback should
    /// start now ([`start_writeback`]).
    pub(crate) fn due(&mut self, n: usize) -> bool {
        self.unstarted += n as u64;
        let due = self.unstarted >= STRIDE;
        if due {
            self.unstarted = 0;
        }
        due
    }

    /// Notes `n` more bytes written to `file`, and starts its writeback when due.
    pub(crate) fn wrote(&mut self, file: &File, n: usize) {
        if self.due(n) {
            start_writeback(file);
        }
    }
}

/// Asks for every dirty page of `file` to be written back, without waiting: the request
/// goes to the writeback thread with a duplicate of the descriptor. When that thread is
/// behind by [`QUEUE`] requests this one is dropped: the file's next stride asks again, and
/// its commit's `fsync` (or, without one, the kernel) writes whatever is left.
pub(crate) fn start_writeback(file: &File) {
    if let (Some(queue), Ok(file)) = (writeback_queue(), file.try_clone()) {
        let _ = queue.try_send(file);
    }
}

/// The most requests waiting for the writeback thread.
const QUEUE: usize = 64;

/// The writeback thread's queue, the thread started on first use (`None` if it could not be
/// started, or elsewhere than Linux).
fn writeback_queue() -> Option<&'static SyncSender<File>> {
    static QUEUE_TO_THREAD: OnceLock<Option<SyncSender<File>>> = OnceLock::new();
    QUEUE_TO_THREAD
        .get_or_init(|| {
            if !cfg!(target_os = "linux") {
                return None;
            }
            let (queue, requests) = sync_channel::<File>(QUEUE);
            std::thread::Builder::new()
                .name("ftp-server-writeback".into())
                .spawn(move || requests.into_iter().for_each(|file| write_back(&file)))
                .ok()
                .map(|_| queue)
        })
        .as_ref()
}

/// Starts writing back every dirty page of `file`, waiting for none of the writes (but
/// blocking while the disk's queue is full). Errors are left to the `fsync` that follows: the
/// kernel keeps a failed write's error for it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // rustix has no sync_file_range.
fn write_back(file: &File) {
    use std::os::fd::AsRawFd;
    // Offset 0 and length 0: the whole file. Pages already being written are skipped.
    // SAFETY: a plain system call on a descriptor `file` keeps open; it touches no memory.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Elsewhere the `fsync` of the commit writes everything.
#[cfg(not(target_os = "linux"))]
fn write_back(_: &File) {}
