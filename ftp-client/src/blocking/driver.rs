//! The blocking driver: one thread, the caller's, runs the session in a poll-style loop with
//! socket timeouts. Data connections are connected, accepted and closed inline; an
//! active-mode listener is polled between short control reads while it waits.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use ftp_proto::client::{
    ClientConfig, ClientControlInfo, ClientDataEvent, ClientSession, DataConnId, DataFailure, OpId,
    OpOutput, UsageError,
};

#[cfg(feature = "tls")]
use super::stream::Handshake;
use super::stream::Stream;
use crate::core::{Action, Core, Started};
use crate::error::{data_failure, Error, Result};
use crate::net::{bind_active, peer_allowed, NetOptions};
use crate::options::{ConnectOptions, TlsMode};
#[cfg(feature = "tls")]
use crate::tls::TlsSetup;

/// How often an active-mode listener (or a data TLS handshake) is polled while the control
/// connection is quiet.
const ACCEPT_TICK: Duration = Duration::from_millis(5);
/// How long aborting a data connection in mid-handshake waits to finish it.
#[cfg(feature = "tls")]
const TICKET_GRACE: Duration = Duration::from_millis(500);

/// A data connection the driver holds until its transfer starts.
enum DataConn {
    Ready(Stream),
    /// PROT P, connected: the TLS handshake waits for the session's `Handshake` (at the
    /// transfer command's 1yz, or after a grace; see `ClientDataIntent::Handshake`).
    #[cfg(feature = "tls")]
    TlsPending(TcpStream),
    /// PROT P: the handshake goes on while the transfer command is answered.
    #[cfg(feature = "tls")]
    Handshaking(Handshake),
}

impl DataConn {
    fn abort(self) {
        match self {
            Self::Ready(stream) => stream.abort(),
            #[cfg(feature = "tls")]
            Self::TlsPending(tcp) => crate::net::reset_on_close(&tcp),
            // The handshake has used up a TLS 1.3 ticket: finish it (briefly) so the fresh
            // ticket the server sends replaces it.
            #[cfg(feature = "tls")]
            Self::Handshaking(handshake) => {
                if let Ok(stream) = handshake.finish(TICKET_GRACE) {
                    stream.abort();
                }
            }
        }
    }
}

struct PendingAccept {
    listener: TcpListener,
    expect: IpAddr,
    tls: bool,
}

pub(crate) struct Driver {
    pub(crate) core: Core,
    control: Option<Stream>,
    #[cfg(feature = "tls")]
    tls: Option<TlsSetup>,
    pub(crate) net: NetOptions,
    conns: HashMap<DataConnId, DataConn>,
    listeners: HashMap<DataConnId, PendingAccept>,
    rbuf: Box<[u8]>,
}

impl Driver {
    /// Connects the control connection (TCP, and TLS for implicit FTPS), queues AUTH TLS and
    /// the login as the options say, and runs until they are done.
    pub(crate) fn connect(options: &ConnectOptions) -> Result<Self> {
        options.check_tls_built_in()?;
        let host = options.host_port();
        let net = NetOptions::new(options);
        #[cfg(feature = "tls")]
        let tls = match options.tls_mode {
            TlsMode::None => None,
            _ => Some(options.tls.build(&options.host)?),
        };
        let deadline = Instant::now() + options.connect_timeout;
        let tcp = match &options.connector {
            Some(connector) => {
                let left = deadline.saturating_duration_since(Instant::now());
                connector
                    .0
                    .connect(&options.host, options.port, left)
                    .map_err(|source| Error::Connect {
                        host: host.clone(),
                        source,
                    })?
            }
            None => connect_tcp(&options.host, options.port, deadline)?,
        };
        let _ = tcp.set_nodelay(true);
        let (local, peer) = (tcp.local_addr()?, tcp.peer_addr()?);
        #[cfg(feature = "tls")]
        let control = match (&tls, options.tls_mode) {
            (Some(setup), TlsMode::Implicit) => {
                let left = deadline.saturating_duration_since(Instant::now());
                Stream::handshake(tcp, setup, left).map_err(|e| handshake_error(e, &host))?
            }
            _ => Stream::Plain(tcp),
        };
        #[cfg(not(feature = "tls"))]
        let control = Stream::Plain(tcp);
        let conn = ClientControlInfo {
            peer,
            local,
            implicit_tls: options.tls_mode == TlsMode::Implicit,
        };
        let config: ClientConfig = options.session.clone();
        let session = ClientSession::new(config, conn, Instant::now());
        #[cfg(feature = "tls")]
        let core = Core::with_tickets(session, tls.as_ref(), options);
        #[cfg(not(feature = "tls"))]
        let core = Core::new(session);
        let mut driver = Self {
            core,
            control: Some(control),
            #[cfg(feature = "tls")]
            tls,
            net,
            conns: HashMap::new(),
            listeners: HashMap::new(),
            rbuf: vec![0; 16 * 1024].into_boxed_slice(),
        };
        let auth = match options.tls_mode {
            TlsMode::Explicit => Some(driver.queue(|s| s.auth_tls())?),
            _ => None,
        };
        let login = match &options.credentials {
            Some(credentials) => {
                let credentials = credentials.clone();
                Some(driver.queue(|s| s.login(credentials))?)
            }
            None => None,
        };
        driver.run(|core| core.greeting.is_some().then_some(()))?;
        if let Some(op) = auth {
            driver.wait(op)?;
        }
        if let Some(op) = login {
            driver.wait(op)?;
        }
        Ok(driver)
    }

    /// Queues an operation, unless the session is already over.
    pub(crate) fn queue(
        &mut self,
        f: impl FnOnce(&mut ClientSession) -> std::result::Result<OpId, UsageError>,
    ) -> Result<OpId> {
        if self.core.session.is_closed() {
            return Err(self.core.closed_error());
        }
        Ok(f(&mut self.core.session)?)
    }

    /// Queues an operation that opens a data connection, first moving the session to a new
    /// control connection over TLS 1.2 when this one's TLS 1.3 tickets ran dry
    /// ([`Core::tls12_switch`]).
    pub(crate) fn queue_data(
        &mut self,
        f: impl FnOnce(&mut ClientSession) -> std::result::Result<OpId, UsageError>,
    ) -> Result<OpId> {
        #[cfg(feature = "tls")]
        if let Some(options) = self.core.tls12_switch() {
            if let Err(error) = self.switch_to(&options) {
                tracing::debug!(%error, "no switch to TLS 1.2; this connection goes on");
                // The session's clock stood still while the new connection was tried.
                self.core.session.handle_timeout(Instant::now());
            }
        }
        self.queue(f)
    }

    /// Connects as `options` say, restores the working directory and transfer parameters
    /// there, then quits this control connection and takes the new one's place. On failure
    /// this connection goes on as it was.
    #[cfg(feature = "tls")]
    fn switch_to(&mut self, options: &ConnectOptions) -> Result<()> {
        let op = self.queue(|s| s.pwd())?;
        let OpOutput::Path(cwd) = self.wait(op)? else {
            return Err(Error::DataConnection(DataFailure::Other));
        };
        let params = self.core.session.transfer_params();
        let mut next = Self::connect(options)?;
        let op = next.queue(|s| s.cwd(cwd))?;
        next.wait(op)?;
        next.core.session.set_transfer_params(params)?;
        tracing::debug!("TLS 1.3 tickets ran dry: the session goes on over TLS 1.2");
        let mut old = std::mem::replace(self, next);
        if let Ok(op) = old.queue(|s| s.quit()) {
            let _ = old.wait(op);
        }
        old.shutdown();
        Ok(())
    }

    /// Runs until `op` completes.
    pub(crate) fn wait(&mut self, op: OpId) -> Result<OpOutput> {
        self.run(|core| core.take_result(op))?
    }

    /// Runs until the transfer `op` may move bytes: returns its `Start` and data connection,
    /// or the error that ended it first.
    pub(crate) fn wait_started(&mut self, op: OpId) -> Result<(Started, Stream)> {
        enum Next {
            Started(Started),
            Done(Result<OpOutput>),
        }
        let next = self.run(|core| {
            if let Some(started) = core.take_started(op) {
                return Some(Next::Started(started));
            }
            core.take_result(op).map(Next::Done)
        })?;
        match next {
            Next::Started(started) => match self.conns.remove(&started.id) {
                Some(conn) => {
                    let ready = match conn {
                        DataConn::Ready(stream) => Ok(stream),
                        #[cfg(feature = "tls")]
                        DataConn::Handshaking(handshake) => handshake.finish(self.net.data_timeout),
                        // Cannot happen: the session asks for the handshake before `Start`.
                        #[cfg(feature = "tls")]
                        DataConn::TlsPending(tcp) => {
                            crate::net::reset_on_close(&tcp);
                            Err(io::Error::other("no TLS handshake before the transfer"))
                        }
                    };
                    match ready.and_then(|s| {
                        s.set_timeouts(Some(self.net.data_idle_timeout))?;
                        Ok(s)
                    }) {
                        Ok(stream) => Ok((started, stream)),
                        Err(error) => {
                            let failure = tls_failure(&error);
                            self.core
                                .data_event(started.id, ClientDataEvent::Failed(failure));
                            self.wait(op).map(drop)?;
                            Err(Error::DataConnection(failure))
                        }
                    }
                }
                None => {
                    // Cannot happen: `Start` follows `Connected`. Fail the transfer cleanly.
                    self.core
                        .data_event(started.id, ClientDataEvent::Failed(DataFailure::Other));
                    self.core.discard(op);
                    Err(Error::DataConnection(DataFailure::Other))
                }
            },
            Next::Done(Ok(output)) => Err(crate::ops::transfer(output)
                .err()
                .unwrap_or(Error::DataConnection(DataFailure::Other))),
            Next::Done(Err(e)) => Err(e),
        }
    }

    /// Flushes what is queued and closes the control connection (after QUIT).
    pub(crate) fn shutdown(&mut self) {
        let _ = self.execute();
        if let Some(control) = self.control.take() {
            let _ = control.close_gracefully(Duration::from_millis(200));
        }
    }

    /// Executes actions and waits for I/O until `check` gives a value. Fails once the session
    /// is closed and `check` found nothing.
    pub(crate) fn run<T>(&mut self, mut check: impl FnMut(&mut Core) -> Option<T>) -> Result<T> {
        loop {
            self.execute()?;
            if let Some(value) = check(&mut self.core) {
                return Ok(value);
            }
            if self.core.session.is_closed() {
                if self.core.has_work() {
                    continue;
                }
                return Err(self.core.closed_error());
            }
            self.wait_io();
        }
    }

    /// Executes every pending action (one method per kind), then writes the queued control
    /// bytes.
    fn execute(&mut self) -> Result<()> {
        while let Some(action) = self.core.next_action() {
            match action {
                Action::Connect { id, addr, tls } => self.connect_data(id, addr, tls),
                Action::Listen {
                    id,
                    ip,
                    expect_peer,
                    tls,
                } => self.listen_data(id, ip, expect_peer, tls),
                Action::Handshake { id } => self.start_data_tls(id),
                Action::Close { id } => self.close_data(id),
                Action::Abort { id } => self.abort_data(id),
                Action::StartTls => {
                    self.flush();
                    self.start_tls();
                }
                Action::StopTls => {
                    self.flush();
                    self.stop_tls();
                }
                Action::CloseControl => self.close_control(),
            }
        }
        self.flush();
        Ok(())
    }

    /// `Connect`: connects the data connection now and reports the result.
    fn connect_data(&mut self, id: DataConnId, addr: SocketAddr, tls: bool) {
        let event = match self.open_data(addr, tls) {
            Ok(conn) => {
                self.conns.insert(id, conn);
                ClientDataEvent::Connected { peer: addr }
            }
            Err(failure) => ClientDataEvent::Failed(failure),
        };
        self.core.data_event(id, event);
    }

    /// `Listen`: binds a non-blocking active-mode listener, which
    /// [`poll_accept`](Self::poll_accept) polls, and reports where.
    fn listen_data(&mut self, id: DataConnId, ip: IpAddr, expect: IpAddr, tls: bool) {
        let event = match bind_active(&self.net, ip) {
            Ok((listener, local)) => match listener.set_nonblocking(true) {
                Ok(()) => {
                    let pending = PendingAccept {
                        listener,
                        expect,
                        tls,
                    };
                    self.listeners.insert(id, pending);
                    ClientDataEvent::Listening { local }
                }
                Err(_) => ClientDataEvent::Failed(DataFailure::Bind),
            },
            Err(error) => {
                tracing::debug!(%error, "active-mode bind failed");
                ClientDataEvent::Failed(DataFailure::Bind)
            }
        };
        self.core.data_event(id, event);
    }

    /// `Close`: a ready connection closes gracefully, any other is torn down; then `Closed`.
    fn close_data(&mut self, id: DataConnId) {
        match self.conns.remove(&id) {
            Some(DataConn::Ready(stream)) => {
                let _ = stream.close_gracefully(self.net.data_timeout);
            }
            #[cfg(feature = "tls")]
            Some(conn) => conn.abort(),
            None => {}
        }
        self.core.data_event(id, ClientDataEvent::Closed);
    }

    /// `Abort`: drops the connection's listener and tears the connection down.
    fn abort_data(&mut self, id: DataConnId) {
        self.listeners.remove(&id);
        if let Some(conn) = self.conns.remove(&id) {
            conn.abort();
        }
    }

    /// `Close`: writes what is queued, shuts the control connection down and drops every
    /// data connection and listener.
    fn close_control(&mut self) {
        self.flush();
        if let Some(control) = self.control.take() {
            let _ = control.tcp().shutdown(Shutdown::Both);
        }
        self.listeners.clear();
        for (_, conn) in self.conns.drain() {
            conn.abort();
        }
    }

    /// Writes the queued control bytes; a failure ends the session.
    fn flush(&mut self) {
        if self.core.wbuf.is_empty() {
            return;
        }
        let Some(control) = self.control.as_mut() else {
            self.core.wbuf.clear();
            return;
        };
        let result = control
            .set_timeouts(Some(self.net.reply_timeout))
            .and_then(|()| control.write_all(&self.core.wbuf))
            .and_then(|()| control.flush());
        self.core.wbuf.clear();
        if let Err(error) = result {
            self.core.control_failed(&error);
        }
    }

    #[cfg(feature = "tls")]
    fn start_tls(&mut self) {
        let (Some(control), Some(tls)) = (self.control.take(), self.tls.as_ref()) else {
            let error = io::Error::other("AUTH TLS without a TLS configuration");
            return self.core.control_failed(&error);
        };
        let Stream::Plain(tcp) = control else {
            let error = io::Error::other("TLS is already active");
            return self.core.control_failed(&error);
        };
        match Stream::handshake(tcp, tls, self.net.reply_timeout) {
            Ok(stream) => {
                self.control = Some(stream);
                self.core.session.handle_tls_established(Instant::now());
            }
            Err(error) => self.core.control_failed(&error),
        }
    }

    /// `StartTls` without the `tls` feature: cannot come (connecting with FTPS fails with
    /// [`Error::TlsNotBuiltIn`], and AUTH TLS has no other way in); should it, the session
    /// ends rather than go on in plaintext.
    #[cfg(not(feature = "tls"))]
    fn start_tls(&mut self) {
        let error = io::Error::other("AUTH TLS without the `tls` feature");
        self.core.control_failed(&error);
    }

    /// CCC: close_notify both ways, then plaintext on the same TCP connection.
    #[cfg(feature = "tls")]
    fn stop_tls(&mut self) {
        let Some(Stream::Tls(mut tls, _)) = self.control.take() else {
            return;
        };
        tls.conn.send_close_notify();
        let result = (|| -> io::Result<()> {
            while tls.conn.wants_write() {
                tls.conn.write_tls(&mut tls.sock)?;
            }
            tls.sock.set_read_timeout(Some(self.net.reply_timeout))?;
            let mut scratch = [0u8; 1024];
            // The server's close_notify ends its TLS stream.
            while tls.read(&mut scratch)? > 0 {}
            Ok(())
        })();
        match result {
            Ok(()) => self.control = Some(Stream::Plain(tls.sock)),
            Err(error) => self.core.control_failed(&error),
        }
    }

    /// CCC without the `tls` feature: cannot come (the session sends CCC only on a TLS
    /// control connection); nothing to undo.
    #[cfg(not(feature = "tls"))]
    fn stop_tls(&mut self) {}

    /// Waits for control input, an active-mode connection or the session's next deadline.
    fn wait_io(&mut self) {
        let now = Instant::now();
        let deadline = self.core.session.poll_timeout();
        if deadline.is_some_and(|at| at <= now) {
            return self.core.session.handle_timeout(now);
        }
        #[cfg(feature = "tls")]
        let polling = !self.listeners.is_empty() || self.handshaking();
        #[cfg(not(feature = "tls"))]
        let polling = !self.listeners.is_empty();
        if polling {
            self.poll_accept();
            #[cfg(feature = "tls")]
            self.poll_handshakes();
            if self.core.has_work() {
                return;
            }
        }
        let mut wait = deadline.map(|at| at.saturating_duration_since(now));
        if polling {
            wait = Some(wait.map_or(ACCEPT_TICK, |w| w.min(ACCEPT_TICK)));
        }
        let Some(control) = self.control.as_mut() else {
            // No control connection and the session not closed: cannot happen; end it.
            return self.core.session.handle_eof(Instant::now());
        };
        if let Err(error) = control.set_timeouts(wait) {
            return self.core.control_failed(&error);
        }
        match control.read(&mut self.rbuf) {
            Ok(0) => self.core.session.handle_eof(Instant::now()),
            Ok(n) => {
                tracing::trace!(reply = %String::from_utf8_lossy(&self.rbuf[..n]).trim_end(), "ftp <");
                self.core
                    .session
                    .handle_input(Instant::now(), &self.rbuf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.core.session.handle_timeout(Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.core.control_failed(&e),
        }
    }

    /// Accepts what the active-mode listeners have; connections from other peers are closed.
    fn poll_accept(&mut self) {
        let ids: Vec<DataConnId> = self.listeners.keys().copied().collect();
        for id in ids {
            let Some(pending) = self.listeners.get(&id) else {
                continue;
            };
            let (tcp, peer) = match pending.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    self.listeners.remove(&id);
                    self.core
                        .data_event(id, ClientDataEvent::Failed(data_failure(&e)));
                    continue;
                }
            };
            if !peer_allowed(peer, pending.expect) {
                tracing::warn!(%peer, expected = %pending.expect, "data connection from another host refused");
                continue;
            }
            let tls = pending.tls;
            self.listeners.remove(&id);
            let event = match self.prepare_data(tcp, tls) {
                Ok(conn) => {
                    self.conns.insert(id, conn);
                    ClientDataEvent::Connected { peer }
                }
                Err(failure) => ClientDataEvent::Failed(failure),
            };
            self.core.data_event(id, event);
        }
    }

    /// Connects a data connection (through the application's connector when it has one).
    fn open_data(&mut self, addr: SocketAddr, tls: bool) -> Result<DataConn, DataFailure> {
        let timeout = self.net.data_timeout;
        let tcp = match &self.net.connector {
            Some(connector) => connector
                .0
                .connect(&addr.ip().to_string(), addr.port(), timeout),
            None => TcpStream::connect_timeout(&addr, timeout),
        };
        let tcp = tcp.map_err(|e| {
            tracing::debug!(%addr, error = %e, "data connection failed");
            data_failure(&e)
        })?;
        self.prepare_data(tcp, tls)
    }

    /// Blocking mode; with PROT P, the TLS handshake (which resumes the control connection's
    /// session) waits for the session's `Handshake`.
    fn prepare_data(&mut self, tcp: TcpStream, tls: bool) -> Result<DataConn, DataFailure> {
        tcp.set_nonblocking(false).map_err(|e| data_failure(&e))?;
        if !tls {
            return Ok(DataConn::Ready(Stream::Plain(tcp)));
        }
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return Ok(DataConn::TlsPending(tcp));
        }
        // PROT P without a TLS configuration (never in force without the `tls` feature).
        Err(DataFailure::Tls)
    }

    /// `Handshake`: sends the ClientHello of a pending PROT P connection; the handshake goes
    /// on in [`poll_handshakes`](Self::poll_handshakes) and is finished at `Start`.
    #[cfg(feature = "tls")]
    fn start_data_tls(&mut self, id: DataConnId) {
        if !matches!(self.conns.get(&id), Some(DataConn::TlsPending(_))) {
            return;
        }
        let (Some(DataConn::TlsPending(tcp)), Some(setup)) =
            (self.conns.remove(&id), self.tls.as_ref())
        else {
            // Cannot happen: a pending connection has a TLS configuration.
            return self
                .core
                .data_event(id, ClientDataEvent::Failed(DataFailure::Tls));
        };
        match Stream::start_handshake(tcp, setup) {
            Ok(handshake) => {
                self.conns.insert(id, DataConn::Handshaking(handshake));
            }
            Err(e) => self
                .core
                .data_event(id, ClientDataEvent::Failed(tls_failure(&e))),
        }
    }

    /// `Handshake` without the `tls` feature: no connection waits for one (see
    /// [`prepare_data`](Self::prepare_data)).
    #[cfg(not(feature = "tls"))]
    fn start_data_tls(&mut self, _id: DataConnId) {}

    /// Moves the running data TLS handshakes on; a failure is reported at once.
    #[cfg(feature = "tls")]
    fn poll_handshakes(&mut self) {
        let ids: Vec<DataConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c, DataConn::Handshaking(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let Some(DataConn::Handshaking(handshake)) = self.conns.get_mut(&id) else {
                continue;
            };
            match handshake.progress() {
                Ok(false) => {}
                Ok(true) => {
                    if let Some(DataConn::Handshaking(handshake)) = self.conns.remove(&id) {
                        match handshake.finish(self.net.data_timeout) {
                            Ok(stream) => {
                                self.conns.insert(id, DataConn::Ready(stream));
                            }
                            Err(e) => self
                                .core
                                .data_event(id, ClientDataEvent::Failed(tls_failure(&e))),
                        }
                    }
                }
                Err(e) => {
                    if let Some(conn) = self.conns.remove(&id) {
                        conn.abort();
                    }
                    self.core
                        .data_event(id, ClientDataEvent::Failed(tls_failure(&e)));
                }
            }
        }
    }

    #[cfg(feature = "tls")]
    fn handshaking(&self) -> bool {
        self.conns
            .values()
            .any(|c| matches!(c, DataConn::Handshaking(_)))
    }
}

/// The failure of a data connection's TLS handshake.
fn tls_failure(error: &io::Error) -> DataFailure {
    tracing::debug!(%error, "data TLS handshake failed");
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => DataFailure::TimedOut,
        io::ErrorKind::InvalidData => DataFailure::Tls,
        _ => data_failure(error),
    }
}

/// Connects to the first address of `host` that accepts before `deadline`.
fn connect_tcp(host: &str, port: u16, deadline: Instant) -> Result<TcpStream> {
    let host_port = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|source| Error::Connect {
            host: host_port.clone(),
            source,
        })?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::ConnectTimeout { host: host_port });
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = e,
        }
    }
    if matches!(
        last.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        return Err(Error::ConnectTimeout { host: host_port });
    }
    Err(Error::Connect {
        host: host_port,
        source: last,
    })
}

/// A failed implicit-FTPS handshake: the TLS error itself when there is one.
#[cfg(feature = "tls")]
fn handshake_error(error: io::Error, host: &str) -> Error {
    if matches!(
        error.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        return Error::ConnectTimeout {
            host: host.to_string(),
        };
    }
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(tls) => Error::Tls(tls.clone()),
        None => Error::Io(error),
    }
}
