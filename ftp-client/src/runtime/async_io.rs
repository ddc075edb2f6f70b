//! The runtime shim for the async-io reactor that async-std and smol share, written against
//! `futures-io`: it serves async-std and smol applications alike without depending on either
//! (async-std is discontinued, RUSTSEC-2025-0052). Name resolution, which `std` only offers
//! blocking, runs on the `blocking` crate's pool.

use std::io;
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream, ToSocketAddrs};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use async_io::{Async, Timer as IoTimer};
use futures_io::{AsyncRead, AsyncWrite};

use super::{BoxFuture, Conn, Listener, Runtime, Timer};

/// The async-io reactor that async-std and smol share, as the runtime of an
/// [`AsyncClient`](crate::AsyncClient); any executor can poll the client.
#[derive(Debug, Clone, Copy)]
pub struct AsyncIoRuntime;

struct IoConn(Async<StdStream>);

impl AsyncRead for IoConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for IoConn {
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

    /// Flushes, then ends the write side (FIN). async-io's own `poll_close` only flushes.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.0).poll_flush(cx))?;
        match self.0.get_ref().shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl Conn for IoConn {
    fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        Ok((
            self.0.get_ref().local_addr()?,
            self.0.get_ref().peer_addr()?,
        ))
    }

    fn clear_tls(
        self: Box<Self>,
    ) -> Result<BoxFuture<'static, io::Result<Box<dyn Conn>>>, Box<dyn Conn>> {
        Err(self)
    }

    fn reset_on_close(&self) {
        crate::net::reset_on_close(self.0.get_ref());
    }
}

struct IoListener(Async<StdListener>);

impl Listener for IoListener {
    fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Box<dyn Conn>, SocketAddr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((stream, peer)) => {
                    let stream = Async::new(stream)?;
                    return Poll::Ready(Ok((Box::new(IoConn(stream)), peer)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

struct IoTimerBox(IoTimer);

impl Timer for IoTimerBox {
    fn reset(&mut self, at: Instant) {
        self.0.set_at(at);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        std::future::Future::poll(Pin::new(&mut self.0), cx).map(drop)
    }
}

impl Runtime for AsyncIoRuntime {
    fn resolve(host: String, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        Box::pin(blocking::unblock(move || {
            Ok((host.as_str(), port).to_socket_addrs()?.collect())
        }))
    }

    fn connect(addr: SocketAddr) -> BoxFuture<'static, io::Result<Box<dyn Conn>>> {
        Box::pin(async move {
            let stream = Async::<StdStream>::connect(addr).await?;
            Ok(Box::new(IoConn(stream)) as Box<dyn Conn>)
        })
    }

    fn adopt(stream: StdStream) -> io::Result<Box<dyn Conn>> {
        Ok(Box::new(IoConn(Async::new(stream)?)))
    }

    fn listener(listener: StdListener) -> io::Result<Box<dyn Listener>> {
        Ok(Box::new(IoListener(Async::new(listener)?)))
    }

    fn timer(at: Instant) -> Box<dyn Timer> {
        Box::new(IoTimerBox(IoTimer::at(at)))
    }
}
