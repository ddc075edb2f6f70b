//! The runtime shim for tokio.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};
use tokio::io::AsyncWrite as TokioWrite;
#[cfg(target_os = "linux")]
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;

#[cfg(target_os = "linux")]
use super::send_file_now;
use super::{acknowledge_now, peek_unread, send_before_shutdown, send_now, SEND_NOW};
use super::{Conn, Listener, Runtime, Timer, Unread};
use crate::pool::BlockingPool;
use crate::storage::BoxFuture;

/// Tokio, through the handle of the runtime the server was started in.
pub(crate) struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// The runtime of the calling task. Panics outside a tokio runtime (documented on
    /// `Server::start_tokio`).
    pub(crate) fn current() -> Self {
        Self {
            handle: Handle::current(),
        }
    }
}

struct TokioConn(TcpStream);

impl AsyncRead for TokioConn {
    /// Readiness plus `try_read` rather than tokio's `poll_read`: that one treats a short read
    /// as "socket drained" and waits for the next edge, but a read also stops short at a TCP
    /// urgent mark (ABOR sent as urgent data, kept inline), and no new edge may ever come.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

impl AsyncWrite for TokioConn {
    /// Sends at once, and waits through tokio only when the socket's buffer is full. Tokio's
    /// `poll_write` first waits for the reactor to have seen the socket writable, which a
    /// connection registered a moment ago has not: its first bytes (a small file's all) would
    /// wait a turn of the reactor, and of the worker threads, for room they already have. A
    /// full buffer sets the kernel's flag that makes its next room an edge tokio waits on.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match send_now(|| rustix::net::send(&self.0, buf, SEND_NOW)) {
            Some(sent) => Poll::Ready(sent),
            None => Pin::new(&mut self.0).poll_write(cx, buf),
        }
    }

    /// Every slice in one `sendmsg`: TLS writes each record as a slice of its own, and a
    /// handshake's server flight (three records) then leaves in one segment, not three.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut no_control = rustix::net::SendAncillaryBuffer::default();
        match send_now(|| rustix::net::sendmsg(&self.0, bufs, &mut no_control, SEND_NOW)) {
            Some(sent) => Poll::Ready(sent),
            None => Pin::new(&mut self.0).poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Conn for TokioConn {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.set_nodelay(on)
    }

    fn set_oob_inline(&self) -> io::Result<()> {
        Ok(rustix::net::sockopt::set_socket_oobinline(&self.0, true)?)
    }

    fn unread(&self) -> Unread {
        peek_unread(&self.0)
    }

    fn acknowledge_now(&self) {
        acknowledge_now(&self.0)
    }

    fn send_before_shutdown(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        send_before_shutdown(&self.0, buf)
    }

    /// Tries at once, as [`AsyncWrite::poll_write`] does, and waits through tokio's readiness
    /// only when the socket's buffer is full.
    #[cfg(target_os = "linux")]
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: &std::fs::File,
        offset: &mut u64,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        if let Some(sent) = send_file_now(&self.0, file, offset, len) {
            return Poll::Ready(sent);
        }
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            let send = || {
                send_file_now(&self.0, file, offset, len)
                    .unwrap_or_else(|| Err(io::ErrorKind::WouldBlock.into()))
            };
            match self.0.try_io(Interest::WRITABLE, send) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                sent => return Poll::Ready(sent),
            }
        }
    }

    fn into_std(self: Box<Self>) -> io::Result<StdStream> {
        let stream = self.0.into_std()?;
        stream.set_nonblocking(false)?;
        Ok(stream)
    }
}

struct TokioListener(TcpListener);

impl Listener for TokioListener {
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Box<dyn Conn>, SocketAddr)>> {
        let (stream, peer) = ready!(self.0.poll_accept(cx))?;
        Poll::Ready(Ok((Box::new(TokioConn(stream)), peer)))
    }
}

struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl Timer for TokioTimer {
    fn reset(&mut self, at: Instant) {
        self.0.as_mut().reset(tokio::time::Instant::from_std(at));
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Runtime for TokioRuntime {
    fn spawn(&self, future: BoxFuture<'static, ()>) {
        drop(self.handle.spawn(future));
    }

    fn blocking(&self) -> BlockingPool {
        let handle = self.handle.clone();
        BlockingPool::new(move |job| drop(handle.spawn_blocking(job)))
    }

    fn timer(&self, at: Instant) -> Box<dyn Timer> {
        let _entered = self.handle.enter();
        Box::new(TokioTimer(Box::pin(tokio::time::sleep_until(
            tokio::time::Instant::from_std(at),
        ))))
    }

    fn listener(&self, listener: StdListener) -> io::Result<Box<dyn Listener>> {
        let _entered = self.handle.enter();
        Ok(Box::new(TokioListener(TcpListener::from_std(listener)?)))
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            Ok(Box::new(TokioConn(stream)) as Box<dyn Conn>)
        })
    }

    fn conn_from_std(&self, stream: StdStream) -> io::Result<Box<dyn Conn>> {
        let _entered = self.handle.enter();
        stream.set_nonblocking(true)?;
        Ok(Box::new(TokioConn(TcpStream::from_std(stream)?)))
    }
}
