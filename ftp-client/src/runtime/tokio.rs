//! The runtime shim for tokio. Streams are adapted to `futures-io` so the one driver serves
//! both runtimes; the public `tokio` module adapts them back to tokio's traits.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use futures_io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncRead as TokioRead, AsyncWrite as TokioWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::{BoxFuture, Conn, Listener, Runtime, Timer};

/// Tokio as the runtime of an [`AsyncClient`](crate::AsyncClient): sockets and timers of the
/// runtime of the calling task (its `net` and `time` drivers enabled).
#[derive(Debug, Clone, Copy)]
pub struct TokioRuntime;

struct TokioConn(TcpStream);

impl AsyncRead for TokioConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.0).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}

impl AsyncWrite for TokioConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl Conn for TokioConn {
    fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        Ok((self.0.local_addr()?, self.0.peer_addr()?))
    }

    fn clear_tls(
        self: Box<Self>,
    ) -> Result<BoxFuture<'static, io::Result<Box<dyn Conn>>>, Box<dyn Conn>> {
        Err(self)
    }

    fn reset_on_close(&self) {
        crate::net::reset_on_close(&self.0);
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
    fn resolve(host: String, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }

    fn connect(addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            Ok(Box::new(TokioConn(stream)) as Box<dyn Conn>)
        })
    }

    fn adopt(stream: std::net::TcpStream) -> io::Result<Box<dyn Conn>> {
        stream.set_nonblocking(true)?;
        Ok(Box::new(TokioConn(TcpStream::from_std(stream)?)))
    }

    fn listener(listener: StdListener) -> io::Result<Box<dyn Listener>> {
        listener.set_nonblocking(true)?;
        Ok(Box::new(TokioListener(TcpListener::from_std(listener)?)))
    }

    fn timer(at: Instant) -> Box<dyn Timer> {
        Box::new(TokioTimer(Box::pin(tokio::time::sleep_until(
            tokio::time::Instant::from_std(at),
        ))))
    }
}
