//! TLS over a runtime stream, with futures-rustls (one TLS code path for both runtimes).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::TlsConnector;

use crate::runtime::{BoxFuture, Conn};
use crate::tls::{TicketMark, TlsSetup};

/// A TLS client stream over a runtime connection.
pub(crate) struct TlsConn {
    inner: futures_rustls::client::TlsStream<Box<dyn Conn>>,
    mark: Option<TicketMark>,
}

/// Runs a TLS client handshake over `conn`, resuming a session of `tls`'s store when it can.
/// Polling the future once sends the ClientHello.
pub(crate) fn handshake(
    tls: &TlsSetup,
    conn: Box<dyn Conn>,
    data: bool,
) -> BoxFuture<'static, io::Result<Box<dyn Conn>>> {
    let connector = TlsConnector::from(tls.config.clone());
    let mark = if data { tls.ticket_mark() } else { None };
    let connect = connector.connect(tls.server_name.clone(), conn);
    Box::pin(Once(Some(Box::pin(async move {
        let inner = connect.await?;
        Ok(Box::new(TlsConn { inner, mark }) as Box<dyn Conn>)
    }))))
}

/// A handshake future that may be polled again after it finished: it then reports an error
/// instead of panicking, so no path through the driver that polls a finished handshake (an
/// abort racing the handshake's end) can bring the process down.
struct Once(Option<BoxFuture<'static, io::Result<Box<dyn Conn>>>>);

impl std::future::Future for Once {
    type Output = io::Result<Box<dyn Conn>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(handshake) = self.0.as_mut() else {
            return Poll::Ready(Err(io::Error::other("the TLS handshake already ended")));
        };
        let result = std::task::ready!(handshake.as_mut().poll(cx));
        self.0 = None;
        Poll::Ready(result)
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            // A peer that closes without close_notify: the end of the data, as far as FTP is
            // concerned (the final reply says whether the transfer completed).
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(0)),
            other => other,
        }
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// close_notify, then the end of the TCP stream.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl Conn for TlsConn {
    fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        self.inner.get_ref().0.addrs()
    }

    fn reset_on_close(&self) {
        self.inner.get_ref().0.reset_on_close();
    }

    fn clear_tls(
        self: Box<Self>,
    ) -> Result<BoxFuture<'static, io::Result<Box<dyn Conn>>>, Box<dyn Conn>> {
        let (io, conn) = self.inner.into_inner();
        Ok(Box::pin(clear(io, conn)))
    }

    fn ticket_due(&self) -> bool {
        let version = self.inner.get_ref().1.protocol_version();
        self.mark.as_ref().is_some_and(|m| m.ticket_due(version))
    }
}

/// CCC (RFC 4217 §12.1): our close_notify, then the server's, read one TLS record at a time
/// so no plaintext after it is taken for TLS; then the plain stream.
async fn clear(
    mut io: Box<dyn Conn>,
    mut conn: rustls::ClientConnection,
) -> io::Result<Box<dyn Conn>> {
    conn.send_close_notify();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    write_all(&mut io, &out).await?;
    std::future::poll_fn(|cx| Pin::new(&mut *io).poll_flush(cx)).await?;
    // At most a few records (a ticket, the alert) come before the server's close_notify.
    for _ in 0..64 {
        let mut header = [0u8; 5];
        read_exact(&mut io, &mut header).await?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let mut record = header.to_vec();
        record.resize(5 + len, 0);
        read_exact(&mut io, &mut record[5..]).await?;
        conn.read_tls(&mut &record[..])?;
        let state = conn.process_new_packets().map_err(io::Error::other)?;
        if state.peer_has_closed() {
            return Ok(io);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "CCC: no close_notify from the server",
    ))
}

async fn write_all(io: &mut Box<dyn Conn>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = std::future::poll_fn(|cx| Pin::new(&mut **io).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

async fn read_exact(io: &mut Box<dyn Conn>, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::future::poll_fn(|cx| Pin::new(&mut **io).poll_read(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
    }
    Ok(())
}
