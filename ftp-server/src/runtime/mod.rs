//! The runtime shim: everything the one shared driver needs from an async runtime, behind a
//! small trait implemented once for tokio (`runtime/tokio.rs`) and once for the async-io
//! reactor that async-std and smol share (`runtime/async_io.rs`).
//!
//! The driver itself (control loop, data connections, TLS, transfers) is written against
//! `futures-io` streams and this trait only, so a bug is fixed once for both runtimes.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::task::{Context, Poll};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};

use crate::pool::BlockingPool;
use crate::storage::BoxFuture;

#[cfg(feature = "async-std")]
pub(crate) mod async_io;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

/// A connected TCP stream of the runtime.
pub(crate) trait Conn: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// The local address.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// Disables Nagle's algorithm.
    fn set_nodelay(&self, on: bool) -> io::Result<()>;
    /// Keeps TCP urgent data in the normal stream (`SO_OOBINLINE`): clients such as Python's
    /// ftplib send ABOR as urgent data, whose last byte would otherwise vanish.
    fn set_oob_inline(&self) -> io::Result<()>;
    /// The socket as a blocking `std` stream (for `sendfile` on the blocking pool); the
    /// runtime gets it back with [`Runtime::conn_from_std`].
    fn into_std(self: Box<Self>) -> io::Result<StdStream>;
    /// What the kernel holds unread for the socket right now (see [`peek_unread`]).
    fn unread(&self) -> Unread;
    /// Sends the acknowledgement of what was received so far now (see [`acknowledge_now`]).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // after data TLS handshakes only
    fn acknowledge_now(&self);
    /// Sends what fits of `buf` without waiting, as bytes the connection's end follows (see
    /// [`send_before_shutdown`]); `None` when nothing could be sent that way.
    fn send_before_shutdown(&self, buf: &[u8]) -> Option<io::Result<usize>>;
    /// Sends up to `len` bytes of `file` from `*offset` with `sendfile(2)`, advancing
    /// `*offset` by what was sent, and waits only while the socket's buffer is full.
    /// `Ready(Ok(0))` at the file's end. The call reads the file in the caller's thread:
    /// the caller sends only pages the page cache holds (see [`crate::driver`]'s
    /// `cached` module).
    #[cfg(target_os = "linux")]
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: &mut u64,
        len: usize,
    ) -> Poll<io::Result<usize>>;
}

/// One non-blocking `sendfile(2)` (retried when interrupted); `None` when the socket's buffer
/// is full.
#[cfg(target_os = "linux")]
#[cfg_attr(not(any(feature = "tokio", feature = "async-std")), allow(dead_code))]
pub(crate) fn send_file_now(
    socket: impl rustix::fd::AsFd,
    file: &std::fs::File,
    offset: &mut u64,
    len: usize,
) -> Option<io::Result<usize>> {
    send_now(|| rustix::fs::sendfile(&socket, file, Some(offset), len))
}

/// Sends without waiting, and without `SIGPIPE` on a connection the peer closed (Apple's
/// systems have no such flag; Rust programs ignore `SIGPIPE` there by default).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
#[cfg(not(target_vendor = "apple"))]
pub(crate) const SEND_NOW: rustix::net::SendFlags =
    rustix::net::SendFlags::DONTWAIT.union(rustix::net::SendFlags::NOSIGNAL);
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
#[cfg(target_vendor = "apple")]
pub(crate) const SEND_NOW: rustix::net::SendFlags = rustix::net::SendFlags::DONTWAIT;

/// Runs a non-blocking send (retried when interrupted); `None` when the socket's buffer is
/// full.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn send_now(
    mut send: impl FnMut() -> rustix::io::Result<usize>,
) -> Option<io::Result<usize>> {
    loop {
        match send() {
            Ok(n) => return Some(Ok(n)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return None,
            Err(e) => return Some(Err(e.into())),
        }
    }
}

/// Sends what fits of `buf` without waiting, telling the kernel that more follows
/// (`MSG_MORE`, Linux). Sent as a download's last bytes, right before the connection is
/// shut down: a last piece smaller than a segment then waits for the FIN that the shutdown
/// adds to it, and the two leave in one segment, so the client is woken once for its data
/// and the end of it, and one segment fewer crosses the network. The kernel holds such a
/// piece only until something else sends it (the shutdown, a send without the flag, an
/// acknowledgement of earlier bytes, or its probe timer, 200 ms at least): nothing is lost
/// or held for long when no shutdown follows, and a larger download's tail may leave before
/// its FIN as before. `None` elsewhere, and when the socket's buffer is full.
#[cfg_attr(not(any(feature = "tokio", feature = "async-std")), allow(dead_code))]
pub(crate) fn send_before_shutdown(
    socket: impl rustix::fd::AsFd,
    buf: &[u8],
) -> Option<io::Result<usize>> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let more = SEND_NOW | rustix::net::SendFlags::MORE;
        send_now(|| rustix::net::send(&socket, buf, more))
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (socket, buf);
        None
    }
}

/// Makes the kernel acknowledge what `socket` received at once, not after the delayed
/// acknowledgement timer (`TCP_QUICKACK`, Linux). A server that has just read a client's TLS
/// Finished and sends nothing back (an upload) otherwise leaves the client's first data
/// waiting: Nagle's algorithm holds it until that acknowledgement, 40 ms later.
#[cfg_attr(
    not(all(feature = "tls", any(feature = "tokio", feature = "async-std"))),
    allow(dead_code)
)]
pub(crate) fn acknowledge_now(socket: impl rustix::fd::AsFd) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::net::sockopt::set_tcp_quickack(socket, true);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
}

/// What a connected socket has unread, as the kernel sees it at this moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "tokio", feature = "async-std")), allow(dead_code))]
pub(crate) enum Unread {
    /// Nothing has arrived.
    Nothing,
    /// Bytes wait to be read.
    Bytes,
    /// The peer closed (or reset) the connection, and every byte before that has been read.
    Closed,
}

/// Peeks at `socket` without waiting: a runtime learns of readiness from its reactor, which
/// may not have seen a close that the kernel already holds; this asks the kernel.
#[cfg_attr(not(any(feature = "tokio", feature = "async-std")), allow(dead_code))]
pub(crate) fn peek_unread(socket: impl rustix::fd::AsFd) -> Unread {
    use rustix::io::Errno;
    use rustix::net::RecvFlags;
    let mut byte = [0u8; 1];
    match rustix::net::recv(socket, &mut byte, RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Ok((0, _)) => Unread::Closed,
        Ok(_) => Unread::Bytes,
        Err(Errno::AGAIN | Errno::INTR) => Unread::Nothing,
        Err(_) => Unread::Closed,
    }
}

/// A listening TCP socket of the runtime.
pub(crate) trait Listener: Send + 'static {
    /// Polls for the next connection.
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Box<dyn Conn>, SocketAddr)>>;
}

/// A resettable timer of the runtime.
pub(crate) trait Timer: Send {
    /// Fire at `at` instead.
    fn reset(&mut self, at: Instant);
    /// Ready once the deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// What the driver needs from a runtime.
pub(crate) trait Runtime: Send + Sync + 'static {
    /// Runs `future` to completion in the background.
    fn spawn(&self, future: BoxFuture<'static, ()>);
    /// The runtime's pool for blocking work.
    fn blocking(&self) -> BlockingPool;
    /// A timer that fires at `at`.
    fn timer(&self, at: Instant) -> Box<dyn Timer>;
    /// Registers a bound, listening, non-blocking `std` socket with the runtime.
    fn listener(&self, listener: StdListener) -> io::Result<Box<dyn Listener>>;
    /// Connects to `addr`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Conn>>>;
    /// Registers a connected `std` socket (blocking or not) with the runtime.
    fn conn_from_std(&self, stream: StdStream) -> io::Result<Box<dyn Conn>>;
}

/// Sleeps until `at`.
pub(crate) async fn sleep_until(rt: &dyn Runtime, at: Instant) {
    let mut timer = rt.timer(at);
    futures_lite::future::poll_fn(|cx| timer.poll_expired(cx)).await;
}

/// Runs an I/O `future` but gives up at `at` with a [`io::ErrorKind::TimedOut`] error.
#[cfg_attr(not(feature = "tls"), allow(dead_code))] // TLS handshakes only
pub(crate) async fn io_deadline<T>(
    rt: &dyn Runtime,
    at: Instant,
    future: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    timeout_at(rt, at, future)
        .await
        .unwrap_or_else(|| Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed")))
}

/// Runs `future` but gives up at `at`: `None` on timeout. The timer starts only once
/// `future` has to wait: one that is ready at once (a close whose bytes fit the socket's
/// buffer) costs no timer, and so no wake of the runtime's timer driver.
pub(crate) async fn timeout_at<T>(
    rt: &dyn Runtime,
    at: Instant,
    future: impl Future<Output = T>,
) -> Option<T> {
    let mut future = std::pin::pin!(future);
    let mut timer: Option<Box<dyn Timer>> = None;
    futures_lite::future::poll_fn(|cx| {
        if let Poll::Ready(out) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer
            .get_or_insert_with(|| rt.timer(at))
            .poll_expired(cx)
            .map(|()| None)
    })
    .await
}

#[cfg(all(test, feature = "tokio", feature = "async-std"))]
mod tests {
    use std::io::{IoSlice, Read};
    use std::net::{TcpListener, TcpStream};

    use futures_lite::AsyncWriteExt;

    use super::Runtime;

    /// A connected pair: the server's end through `rt`, the client's as a std stream.
    fn pair(rt: &dyn Runtime) -> (Box<dyn super::Conn>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (rt.conn_from_std(server).unwrap(), client)
    }

    /// TLS hands its records over as one slice each: a connection takes them all in one
    /// write (one segment for a handshake's flight), where a plain `poll_write` would take the
    /// first slice only.
    fn takes_every_slice_at_once(rt: &dyn Runtime) {
        let (mut conn, mut client) = pair(rt);
        let records: [&[u8]; 3] = [b"hello", b", ", b"vectored world"];
        let slices = records.map(IoSlice::new);
        let written = futures_lite::future::block_on(conn.write_vectored(&slices)).unwrap();
        assert_eq!(written, 21, "one write took {written} of 21 bytes");
        drop(conn);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hello, vectored world");
    }

    #[test]
    fn tokio_connections_write_every_slice_at_once() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let _entered = runtime.enter();
        let rt = super::tokio::TokioRuntime::current();
        takes_every_slice_at_once(&rt);
    }

    #[test]
    fn async_io_connections_write_every_slice_at_once() {
        let rt = super::async_io::AsyncIoRuntime::global();
        takes_every_slice_at_once(&rt);
    }
}
