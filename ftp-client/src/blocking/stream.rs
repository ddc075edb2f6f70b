//! A blocking TCP stream, plain or (feature `tls`) under rustls.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use rustls::{ClientConnection, StreamOwned};

use crate::net::reset_on_close;
#[cfg(feature = "tls")]
use crate::tls::{TicketMark, TlsSetup};

/// The most bytes read while waiting for the peer to close after our own close.
const DRAIN_LIMIT: usize = 1024 * 1024;

pub(crate) enum Stream {
    Plain(TcpStream),
    /// Under TLS; the mark says which TLS 1.3 ticket this data connection should bring.
    #[cfg(feature = "tls")]
    Tls(
        Box<StreamOwned<ClientConnection, TcpStream>>,
        Option<TicketMark>,
    ),
}

impl Stream {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Self::Tls(tls, _) => &tls.sock,
        }
    }

    /// Runs the control connection's TLS client handshake over `tcp` within `timeout` (data
    /// connections use [`start_handshake`](Self::start_handshake)).
    #[cfg(feature = "tls")]
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
            match stream.conn.complete_io(&mut stream.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "TLS handshake timed out",
                    ))
                }
                Err(e) => return Err(e),
            }
        }
        // Anything the handshake left to write (the client Finished) goes out now.
        while stream.conn.wants_write() {
            stream.conn.write_tls(&mut stream.sock)?;
        }
        Ok(Self::Tls(Box::new(stream), None))
    }

    /// Starts a TLS client handshake over `tcp` without waiting for the server: the socket is
    /// made non-blocking and the ClientHello written. [`Handshake::progress`] goes on.
    #[cfg(feature = "tls")]
    pub(crate) fn start_handshake(tcp: TcpStream, tls: &TlsSetup) -> io::Result<Handshake> {
        tcp.set_nonblocking(true)?;
        let conn = ClientConnection::new(tls.config.clone(), tls.server_name.clone())
            .map_err(io::Error::other)?;
        let mut handshake = Handshake(Box::new(StreamOwned::new(conn, tcp)), tls.ticket_mark());
        handshake.progress()?;
        Ok(handshake)
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
        #[cfg(feature = "tls")]
        if let Self::Tls(tls, _) = &mut self {
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

    /// Tears the connection down with a reset, after taking in (without waiting) the TLS 1.3
    /// session tickets the server sent on it: each data connection uses up one of the tickets
    /// the client holds and the server sends a fresh one, so a connection dropped unread
    /// would leave the next one without a session to resume (vsftpd then refuses it).
    pub(crate) fn abort(#[cfg_attr(not(feature = "tls"), allow(unused_mut))] mut self) {
        #[cfg(feature = "tls")]
        if let Self::Tls(tls, mark) = &mut self {
            harvest_tickets(tls, mark.as_ref());
        }
        reset_on_close(self.tcp());
        drop(self);
    }
}

/// How long an abort waits for the TLS 1.3 ticket its data connection should bring.
#[cfg(feature = "tls")]
const TICKET_WAIT: Duration = Duration::from_millis(500);

/// Processes the TLS records that have arrived; when the connection's TLS 1.3 ticket is not
/// among them, waits for it a little (see [`TicketMark`]).
#[cfg(feature = "tls")]
fn harvest_tickets(tls: &mut StreamOwned<ClientConnection, TcpStream>, mark: Option<&TicketMark>) {
    let deadline = Instant::now() + TICKET_WAIT;
    let mut blocking = false;
    if tls.sock.set_nonblocking(true).is_err() {
        return;
    }
    for _ in 0..64 {
        match tls.conn.read_tls(&mut tls.sock) {
            Ok(0) => break,
            Ok(_) => {
                if tls.conn.process_new_packets().is_err() {
                    break;
                }
                // Application data is dropped: the transfer is being aborted.
                let _ = io::copy(&mut tls.conn.reader().take(1 << 20), &mut io::sink());
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !blocking => {
                let due = mark.is_some_and(|m| m.ticket_due(tls.conn.protocol_version()));
                if !due {
                    break;
                }
                // Wait for the ticket, with a read timeout.
                blocking = true;
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero()
                    || tls.sock.set_nonblocking(false).is_err()
                    || tls.sock.set_read_timeout(Some(left)).is_err()
                {
                    break;
                }
            }
            Err(_) => break,
        }
        if blocking {
            let done = !mark.is_some_and(|m| m.ticket_due(tls.conn.protocol_version()));
            if done || Instant::now() >= deadline {
                break;
            }
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            Self::Tls(tls, _) => match tls.read(buf) {
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
            #[cfg(feature = "tls")]
            Self::Tls(tls, _) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            #[cfg(feature = "tls")]
            Self::Tls(tls, _) => tls.flush(),
        }
    }
}

/// A data connection's TLS handshake in progress on a non-blocking socket.
///
/// Why not finish it before reporting the connection: vsftpd (and servers like it) start
/// their side of the handshake only after the transfer command, which goes out only once
/// the connection is reported; others (ftp-srv) answer the transfer command only after the
/// handshake. Sending the ClientHello at once and finishing the handshake while waiting for
/// the reply serves both.
#[cfg(feature = "tls")]
pub(crate) struct Handshake(
    Box<StreamOwned<ClientConnection, TcpStream>>,
    Option<TicketMark>,
);

#[cfg(feature = "tls")]
impl Handshake {
    /// Moves the handshake on as far as the socket allows; true once it is complete.
    pub(crate) fn progress(&mut self) -> io::Result<bool> {
        let s = &mut *self.0;
        loop {
            while s.conn.wants_write() {
                match s.conn.write_tls(&mut s.sock) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            if !s.conn.is_handshaking() {
                return Ok(true);
            }
            match s.conn.read_tls(&mut s.sock) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed during the TLS handshake",
                    ))
                }
                Ok(_) => {
                    s.conn
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Completes the handshake, waiting at most `timeout`, and returns the blocking stream.
    pub(crate) fn finish(mut self, timeout: Duration) -> io::Result<Stream> {
        let deadline = Instant::now() + timeout;
        while !self.progress()? {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ));
            }
            // Wait for the socket without spinning: a short blocking peek.
            let left = deadline.saturating_duration_since(Instant::now());
            self.0.sock.set_nonblocking(false)?;
            self.0.sock.set_read_timeout(Some(
                left.clamp(Duration::from_millis(1), Duration::from_millis(50)),
            ))?;
            let mut probe = [0u8; 1];
            let _ = self.0.sock.peek(&mut probe);
            self.0.sock.set_nonblocking(true)?;
        }
        self.0.sock.set_nonblocking(false)?;
        Ok(Stream::Tls(self.0, self.1))
    }
}
