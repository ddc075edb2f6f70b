//! Plain binary transfers (TYPE I, MODE S, STRU F, no TLS) between a local file and the data
//! socket: the fast path for uploads, and for downloads, or their rest, that
//! [`super::cached`] does not send from the page cache (files not cached when they start or
//! from a window on, not on a local file system, systems without `cachestat(2)`, or
//! [`crate::Server::sendfile_cached`] off).
//!
//! The whole copy runs on the blocking pool with the socket in blocking mode: one thread
//! reads and writes through one buffer of the transfer's budget ([`crate::Server::transfer_buffer`]), with no task switch, no wake-up and no
//! `EAGAIN` round trip per chunk. In `server_loopback` this is what brings downloads and
//! uploads to the speed of raw loopback TCP moving the same file (and downloads to 0.94x of
//! memory-to-memory TCP); the async paths in [`super::data`] serve everything else (TLS,
//! MODE B/C, TYPE A, back ends without a local file).
//!
//! Optional zero-copy variants: `sendfile(2)` for downloads and `splice(2)` for uploads (see
//! [`crate::Server::sendfile`] and [`crate::Server::splice`]).
//!
//! Each such transfer holds a thread of the blocking pool for its whole length, which the
//! storage and authentication calls of every session share: [`PoolSlots`] bounds how many
//! may, and the transfers beyond the bound take the async path.
//!
//! Cancellation: the data task awaits the pool job with a [`ShutdownOnDrop`] guard on a clone
//! of the socket, so an aborted transfer (ABOR, session end) shuts the socket down and the copy
//! on the pool fails at its next read or write instead of running to its end.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ftp_proto::server::{DataFailure, StorageErrorKind};

use super::data::{
    commit_while_closing, data_failure, finish_upload, storage_failure, DataEnv, Failure, Progress,
    Received, Stream,
};
use crate::runtime::Conn;
use crate::storage::writeback::EarlyWriteback;
use crate::storage::{FileRead, FileWrite};

/// The most one file write of an upload carries. Larger writes make the kernel give the
/// page cache larger folios, which on the virtual machines measured here were often backed
/// afresh by the host: 2 MiB writes made uploads bimodal (3.6 or 0.6 GB/s, with 2 CPU
/// seconds per GiB), 256 KiB writes kept them at the speed of a plain socket-to-file copy.
const FILE_WRITE: usize = 256 << 10;

/// The server-wide bound on transfers running on the blocking pool.
#[derive(Debug)]
pub(crate) struct PoolSlots {
    in_use: AtomicUsize,
    limit: usize,
}

impl PoolSlots {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            in_use: AtomicUsize::new(0),
            limit,
        })
    }

    /// A slot, unless `limit` transfers hold one already.
    pub(super) fn try_take(self: &Arc<Self>) -> Option<PoolSlot> {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| PoolSlot(Arc::clone(self)))
    }
}

/// One transfer's right to a pool thread; given back when dropped.
pub(super) struct PoolSlot(Arc<PoolSlots>);

impl Drop for PoolSlot {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Shuts a socket down when dropped, unless disarmed: see the module notes on cancellation.
struct ShutdownOnDrop(Option<TcpStream>);

impl ShutdownOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        if let Some(socket) = self.0.take() {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// A plain download of a local file: the file from its current position to its end, copied
/// (or sent with `sendfile(2)` when enabled) on the blocking pool. Returns the stream unless
/// it was lost, and the bytes sent.
pub(super) async fn send(
    env: &DataEnv,
    slot: PoolSlot,
    stream: Stream,
    source: Box<dyn FileRead>,
    mut progress: Progress,
) -> (Option<Stream>, Result<u64, Failure>) {
    let conn = match stream.into_plain() {
        Ok(conn) => conn,
        Err(stream) => return (Some(stream), Err(Failure::Data(DataFailure::Other))),
    };
    let file = source.bypass_file().map(|file| {
        let offset = (&*file).stream_position()?;
        Ok::<_, io::Error>((file.try_clone()?, offset))
    });
    let Some(Ok((mut file, offset))) = file else {
        let error = Failure::Storage(StorageErrorKind::Other.into());
        return (Some(Stream::Plain(conn)), Err(error));
    };
    let sendfile = env.server.sendfile && zero_copy::AVAILABLE;
    let chunk = env.server.buffers.local_chunk();
    let (socket, result) = copy_on_pool(env, slot, conn, move |socket| {
        if sendfile {
            zero_copy::send_file(socket, &file, offset, &mut |n| progress.tick(n))
                // A read error of the file and a write error of the socket look alike here;
                // the client sees 426 either way.
                .map_err(|e| data_failure(&e))
        } else {
            copy_to_socket(&mut file, socket, chunk, &mut progress)
        }
    })
    .await;
    drop(source);
    match (socket, result) {
        (Some(socket), Ok(bytes)) => back_to_stream(env, socket, Ok(bytes)),
        (_, result) => (None, result),
    }
}

/// A plain upload into a local file: the socket copied (or spliced, when enabled) into the
/// file on the blocking pool until the client closes; then the socket is closed while the
/// writer commits, or the writer aborts on any failure. Returns the bytes stored, and the
/// stream only when the upload failed without losing it.
pub(super) async fn receive(
    env: &DataEnv,
    slot: PoolSlot,
    stream: Stream,
    writer: Box<dyn FileWrite>,
    mut progress: Progress,
) -> (Option<Stream>, Result<u64, Failure>) {
    let conn = match stream.into_plain() {
        Ok(conn) => conn,
        Err(stream) => return (Some(stream), Err(Failure::Data(DataFailure::Other))),
    };
    let Some(Ok(mut file)) = writer.bypass_file().map(File::try_clone) else {
        writer.abort().await;
        let error = Failure::Storage(StorageErrorKind::Other.into());
        return (Some(Stream::Plain(conn)), Err(error));
    };
    let splice = env.server.splice && zero_copy::AVAILABLE;
    let chunk = env.server.buffers.local_chunk();
    let (socket, result) = copy_on_pool(env, slot, conn, move |socket| {
        let mut early = EarlyWriteback::default();
        let spliced = if splice {
            zero_copy::receive_file(socket, &file, &mut early, &mut |n| progress.tick(n))
        } else {
            Ok(None)
        };
        match spliced {
            Ok(Some(total)) => Ok(total),
            Ok(None) => copy_to_file(socket, &mut file, &mut early, chunk, &mut progress),
            Err(ZeroCopyError::Socket(e)) => Err(data_failure(&e)),
            Err(ZeroCopyError::File(e)) => Err(storage_failure(&e)),
        }
    })
    .await;
    match (socket, result.map(Received::all_written)) {
        // The copy read to the end of the stream: the connection, with nothing unread, is
        // closed while the writer commits, as `data::settle_upload` does on the async paths.
        (Some(socket), Ok(received)) => {
            let close = async move { drop(socket) };
            (
                None,
                commit_while_closing(env, writer, received, close).await,
            )
        }
        (Some(socket), failed) => {
            let result = finish_upload(env, writer, failed).await;
            back_to_stream(env, socket, result)
        }
        (None, failed) => (None, finish_upload(env, writer, failed).await),
    }
}

/// Runs `copy` on the blocking pool with the data socket in blocking mode, holding `slot`
/// until the pool thread is free again; see the module notes on cancellation. Returns the
/// socket (`None` when it was lost) and what `copy` returned.
async fn copy_on_pool(
    env: &DataEnv,
    slot: PoolSlot,
    conn: Box<dyn Conn>,
    copy: impl FnOnce(&mut TcpStream) -> Result<u64, Failure> + Send + 'static,
) -> (Option<TcpStream>, Result<u64, Failure>) {
    let mut socket = match conn.into_std() {
        Ok(socket) => socket,
        Err(e) => return (None, Err(data_failure(&e))),
    };
    let mut guard = ShutdownOnDrop(socket.try_clone().ok());
    let copied = env
        .server
        .blocking
        .unblock(move || {
            let _slot = slot;
            let result = copy(&mut socket);
            (socket, result)
        })
        .await;
    guard.disarm();
    match copied {
        Ok((socket, result)) => (Some(socket), result),
        Err(e) => (None, Err(data_failure(&e))),
    }
}

/// The socket back in the runtime's hands as the data stream, with `result`; the stream is
/// lost (and a successful result becomes a data failure) if the runtime cannot take it.
fn back_to_stream(
    env: &DataEnv,
    socket: TcpStream,
    result: Result<u64, Failure>,
) -> (Option<Stream>, Result<u64, Failure>) {
    match env.server.rt.conn_from_std(socket) {
        Ok(conn) => (Some(Stream::Plain(conn)), result),
        Err(e) => (None, result.and(Err(data_failure(&e)))),
    }
}

/// What a failure of the reading and of the writing side of a copy counts as.
type FailureSides = (fn(&io::Error) -> Failure, fn(&io::Error) -> Failure);

/// Reads `from` into one buffer of `chunk` bytes and hands each piece to `to`, until `from`
/// ends; returns the bytes moved. `read_failure` and `write_failure` say which side a failure
/// counts against.
fn copy_loop(
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    mut write: impl FnMut(&[u8]) -> io::Result<()>,
    (read_failure, write_failure): FailureSides,
    chunk: usize,
    progress: &mut Progress,
) -> Result<u64, Failure> {
    let mut buf = vec![0u8; chunk];
    let mut total = 0u64;
    loop {
        let n = match read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n.min(buf.len()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_failure(&e)),
        };
        write(&buf[..n]).map_err(|e| write_failure(&e))?;
        total += n as u64;
        progress.tick(total);
    }
}

/// The download loop: file to blocking socket.
fn copy_to_socket(
    file: &mut File,
    socket: &mut TcpStream,
    chunk: usize,
    progress: &mut Progress,
) -> Result<u64, Failure> {
    copy_loop(
        |buf| file.read(buf),
        |buf| socket.write_all(buf),
        (storage_failure, data_failure),
        chunk,
        progress,
    )
}

/// The upload loop: blocking socket to file.
fn copy_to_file(
    socket: &mut TcpStream,
    file: &mut File,
    early: &mut EarlyWriteback,
    chunk: usize,
    progress: &mut Progress,
) -> Result<u64, Failure> {
    copy_loop(
        |buf| socket.read(buf),
        |buf| {
            buf.chunks(FILE_WRITE).try_for_each(|piece| {
                file.write_all(piece)?;
                early.wrote(file, piece.len());
                Ok(())
            })
        },
        (data_failure, storage_failure),
        chunk,
        progress,
    )
}

/// Which side of a zero-copy transfer failed.
enum ZeroCopyError {
    Socket(io::Error),
    File(io::Error),
}

/// Zero-copy transfers between a local file and a blocking socket, where the kernel has them:
/// `sendfile(2)` moves page-cache pages to the socket; `splice(2)` moves socket buffers
/// through a pipe into the file, so the bytes never pass through user space.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod zero_copy {
    use std::fs::File;
    use std::io;
    use std::net::TcpStream;

    use rustix::pipe::{fcntl_setpipe_size, pipe, splice, SpliceFlags};

    use super::{EarlyWriteback, ZeroCopyError};

    pub(super) const AVAILABLE: bool = true;

    /// The most one call is asked to move (progress is reported between calls).
    const SENDFILE_CHUNK: usize = 16 << 20;
    const SPLICE_CHUNK: usize = 1 << 20;

    /// Sends `file` from `offset` to its end; returns the bytes sent. `progress` gets the
    /// running total.
    pub(super) fn send_file(
        socket: &TcpStream,
        file: &File,
        offset: u64,
        progress: &mut dyn FnMut(u64),
    ) -> io::Result<u64> {
        let mut position = offset;
        loop {
            match rustix::fs::sendfile(socket, file, Some(&mut position), SENDFILE_CHUNK) {
                Ok(0) => return Ok(position - offset),
                Ok(_) => progress(position - offset),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Moves everything the socket delivers into `file` (at its position); `None` when no pipe
    /// can be made (the caller copies instead). `progress` gets the running total.
    pub(super) fn receive_file(
        socket: &TcpStream,
        file: &File,
        early: &mut EarlyWriteback,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Option<u64>, ZeroCopyError> {
        let Ok((read_end, write_end)) = pipe() else {
            return Ok(None);
        };
        let _ = fcntl_setpipe_size(&write_end, SPLICE_CHUNK);
        let mut total = 0u64;
        loop {
            let flags = SpliceFlags::MOVE | SpliceFlags::MORE;
            let n = match splice(socket, None, &write_end, None, SPLICE_CHUNK, flags) {
                Ok(0) => return Ok(Some(total)),
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(ZeroCopyError::Socket(e.into())),
            };
            let mut left = n;
            while left > 0 {
                match splice(&read_end, None, file, None, left, SpliceFlags::MOVE) {
                    Ok(0) => return Err(ZeroCopyError::File(io::ErrorKind::WriteZero.into())),
                    Ok(m) => left -= m,
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(ZeroCopyError::File(e.into())),
                }
            }
            early.wrote(file, n);
            total += n as u64;
            progress(total);
        }
    }
}

/// Elsewhere the copy loops serve both directions.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod zero_copy {
    use std::fs::File;
    use std::io;
    use std::net::TcpStream;

    use super::{EarlyWriteback, ZeroCopyError};

    pub(super) const AVAILABLE: bool = false;

    pub(super) fn send_file(
        _: &TcpStream,
        _: &File,
        _: u64,
        _: &mut dyn FnMut(u64),
    ) -> io::Result<u64> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn receive_file(
        _: &TcpStream,
        _: &File,
        _: &mut EarlyWriteback,
        _: &mut dyn FnMut(u64),
    ) -> Result<Option<u64>, ZeroCopyError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::PoolSlots;

    #[test]
    fn pool_slots_bound_the_transfers_and_come_back_when_dropped() {
        let slots = PoolSlots::new(2);
        let first = slots.try_take().expect("one free");
        let second = slots.try_take().expect("two free");
        assert!(slots.try_take().is_none(), "the third waits for a slot");
        drop(first);
        let third = slots.try_take().expect("a slot came back");
        drop((second, third));
        assert_eq!(slots.in_use.load(std::sync::atomic::Ordering::Acquire), 0);
        assert!(
            PoolSlots::new(0).try_take().is_none(),
            "0 turns the fast path off"
        );
    }
}
