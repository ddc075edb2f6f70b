//! Early writeback: the disk writes an upload while it is still arriving.
//!
//! An upload committed with `fsync` ([`FsStorage`](super::FsStorage)'s default) is answered
//! `226` only once its bytes are on disk. Left alone, the kernel starts writing a file's pages
//! when they are 30 s old or when dirty memory passes its threshold, so the commit's `fsync`
//! would write the whole file after its last byte arrived: the client waits for the network,
//! then for the disk. [`EarlyWriteback`] asks the kernel, after every [`STRIDE`] bytes, to
//! start writing what the file has dirty (`sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`,
//! Linux): the disk works while the bytes arrive, the `fsync` waits only for the tail, and an
//! upload holds at most about a stride of dirty page cache beyond what the disk is writing.
//!
//! Nothing here decides what is durable: the `fsync` does, and reports any write error.
//! Elsewhere than Linux (Android's C library has no `sync_file_range`) nothing starts early.

use std::fs::File;

/// The bytes written between two requests to start writeback: large enough that the disk
/// gets long sequential writes and the call costs nothing per chunk, small enough that a
/// 10 MB upload is mostly on disk when its last byte arrives.
pub(crate) const STRIDE: u64 = 1 << 20;

/// Counts an upload's bytes written since writeback was last started; or, made with
/// `enabled` false, does nothing (a commit without `fsync` leaves the page cache to the kernel).
#[derive(Debug)]
pub(crate) struct EarlyWriteback {
    /// `None` when off.
    unstarted: Option<u64>,
}

impl EarlyWriteback {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            unstarted: enabled.then_some(0),
        }
    }

    /// Notes `n` more bytes written; true when a [`STRIDE`] has gathered and writeback should
    /// start now ([`start_writeback`]).
    pub(crate) fn due(&mut self, n: usize) -> bool {
        let Some(unstarted) = &mut self.unstarted else {
            return false;
        };
        *unstarted += n as u64;
        let due = *unstarted >= STRIDE;
        if due {
            *unstarted = 0;
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

/// Starts writing back every dirty page of `file`, waiting for none of the writes. Errors are
/// left to the `fsync` that follows: the kernel keeps a failed write's error for it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // rustix has no sync_file_range.
pub(crate) fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // Offset 0 and length 0: the whole file. Pages already being written are skipped.
    // SAFETY: a plain system call on a descriptor `file` keeps open; it touches no memory.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Elsewhere the `fsync` of the commit writes everything.
#[cfg(not(target_os = "linux"))]
pub(crate) fn start_writeback(_: &File) {}
