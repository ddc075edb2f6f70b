//! A blocking TCP stream, plain or under rustls.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};

use crate::net::reset_on_close;
use crate::tls::TlsSetup;

/// The most bytes read while waiting for the peer to close after our own close.
const DRAIN_LIMIT: usize = 1024 * 1024;

pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(tls) => &tls.sock,
        }
    }

    /// Runs a TLS client handshake over `tcp` within `timeout`.
    pub(crate) fn handshake(tcp: TcpStream, tls: &TlsSetup, timeout: Duration) -> io::Result<Self> {
        let conn = ClientConnection::new(tls.config.clone(), tls.server_name.clone())
            .map_err(io::Error::other)?;
        let mut stream = StreamOwned::new(conn, tcp);
        let deadline = Instant::now() + timeout;
        while stream.conn.is_handshaking() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            stream.sock.set_read_timeout(Some(left))?;
            stream.sock.set_write_timeout(Some(left))?;
            stream.conn.complete_io(&mut stream.sock)?;
        }
        // Anything the handshake left to write (the client Finished) goes out now.
        while stream.conn.wants_write() {
            stream.conn.write_tls(&mut stream.sock)?;
        }
        Ok(Self::Tls(Box::new(stream)))
    }

    pub(crate) fn set_timeouts(&self, timeout: Option<Duration>) -> io::Result<()> {
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        self.tcp().set_read_timeout(timeout)?;
        self.tcp().set_write_timeout(timeout)
    }

    /// Sends close_notify (TLS) and a FIN, then reads until the peer closes too (at most
    /// `timeout` and [`DRAIN_LIMIT`] bytes), so nothing unread makes our close a reset.
    pub(crate) fn close_gracefully(mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        self.set_timeouts(Some(timeout))?;
        if let Self::Tls(tls) = &mut self {
            tls.conn.send_close_notify();
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut tls.sock)?;
            }
        }
        self.tcp().flush()?;
        let _ = self.tcp().shutdown(Shutdown::Write);
        let mut scratch = [0u8; 8192];
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.set_timeouts(Some(left))?;
            match self.read(&mut scratch) {
                Ok(0) => break,
                Ok(n) => drained += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Tears the connection down with a reset.
    pub(crate) fn abort(self) {
        reset_on_close(self.tcp());
        drop(self);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(tls) => match tls.read(buf) {
                // A peer that closes without close_notify: the end of the data, as far as
                // FTP is concerned (the final reply says whether the transfer completed).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(tls) => tls.flush(),
        }
    }
}
