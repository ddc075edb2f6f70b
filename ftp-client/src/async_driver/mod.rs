//! The async driver, shared by tokio and async-io (async-std, smol) through the runtime
//! shim.
//!
//! One owner runs the session: the [`Driver`], borrowed mutably by whichever client call or
//! transfer stream is being polled. [`Driver::poll_drive`] does all the work that can be done
//! without waiting — execute the session's actions, write the control connection, read it,
//! move data-connection setup on (connects, accepts, TLS handshakes, graceful closes), fire
//! due timers — and registers the caller's waker with everything it waits on. Every future it
//! polls is cancel-safe: reads and writes are single `poll_read`/`poll_write` calls, and the
//! side futures (connects, handshakes, closes) live in the driver, not in the caller's
//! future. Their results go to the session in one place, in the order they happen. The
//! deadline is read from the session again after every pass.
//!
//! Why no spawned task: a client library should not start tasks or threads behind the
//! application's back, and async-io has no spawner of its own. The cost is that nothing runs
//! while the application awaits nothing: a dropped transfer's ABOR goes out with the next
//! call, and an idle session sends no keep-alive.

mod stream;
#[cfg(feature = "tls")]
mod tls;

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ftp_proto::client::{
    ClientControlInfo, ClientDataEvent, ClientSession, DataConnId, DataFailure, OpId, OpOutput,
    UsageError,
};

pub(crate) use self::stream::{Download, Upload};
use crate::core::{Action, Core, Started};
use crate::error::{data_failure, Error, Result};
use crate::net::{bind_active, peer_allowed, NetOptions};
use crate::options::{ConnectOptions, TlsMode};
use crate::runtime::{connect_with, timeout_at, BoxFuture, Conn, Listener, Runtime, Timer};
#[cfg(feature = "tls")]
use crate::tls::TlsSetup;

/// Work done per [`Driver::poll_drive`] before yielding to other tasks.
const BUDGET: usize = 64;
/// The most bytes read while waiting for a peer to close after our own close.
const DRAIN_LIMIT: usize = 1024 * 1024;
/// How long an abort waits for the TLS 1.3 ticket its data connection should bring.
const TICKET_WAIT: Duration = Duration::from_millis(500);

/// A data connection the driver holds until its transfer starts.
pub(crate) enum DataConn {
    Ready(Box<dyn Conn>),
    /// PROT P, connected: the TLS handshake waits for the session's `Handshake` (at the
    /// transfer command's 1yz, or after a grace; see `ClientDataIntent::Handshake`).
    #[cfg(feature = "tls")]
    TlsPending(Box<dyn Conn>),
    /// PROT P: the TLS handshake goes on while the transfer command is answered.
    #[cfg(feature = "tls")]
    Handshaking(BoxFuture<'static, io::Result<Box<dyn Conn>>>),
    /// Failed (and reported) before its transfer stream took it: the transfer's result
    /// decides what the stream gives.
    Gone,
}

/// What a side future reports.
enum SideResult {
    Connected(Box<dyn Conn>, SocketAddr),
    Closed,
    Failed(DataFailure),
}

/// How far [`Driver::poll_send`] got; `progress`: bytes went out.
enum Sent {
    /// Everything queued is written and flushed.
    All { progress: bool },
    /// The connection takes no more for now, or there is none to write to.
    Waiting { progress: bool },
    /// The control connection failed.
    Failed(io::Error),
}

/// The control connection: open, or on its way to TLS, to plaintext (CCC) or to closed.
enum ControlState {
    Open(Box<dyn Conn>),
    /// `StartTls`: waiting for the queued bytes to be written, then the handshake.
    TlsRequested(Box<dyn Conn>),
    // Without the `tls` feature nothing starts a handshake: `StartTls` cannot come (see
    // `start_requested`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Handshaking(BoxFuture<'static, io::Result<Box<dyn Conn>>>),
    /// `StopTls` (CCC): waiting for the first `usize` bytes of `wbuf` (those queued before
    /// the CCC took effect) to be written, then the TLS shutdown.
    ClearRequested(Box<dyn Conn>, usize),
    /// CCC: close_notify both ways; then plaintext.
    Clearing(BoxFuture<'static, io::Result<Box<dyn Conn>>>),
    /// `Close`: waiting for the queued bytes to be written, then the close.
    Closing(Box<dyn Conn>),
    Closed,
}

pub(crate) struct Driver<R: Runtime> {
    pub(crate) core: Core,
    control: ControlState,
    /// Bytes of `core.wbuf` already written.
    written: usize,
    flush_due: bool,
    rbuf: Box<[u8]>,
    timer: Option<Box<dyn Timer>>,
    armed: Option<Instant>,
    #[cfg(feature = "tls")]
    tls: Option<TlsSetup>,
    pub(crate) net: NetOptions,
    conns: HashMap<DataConnId, DataConn>,
    /// Whether each connection being set up needs TLS (PROT P).
    data_tls: HashMap<DataConnId, bool>,
    /// Connects, accepts and graceful closes the session waits for.
    side: Vec<(DataConnId, BoxFuture<'static, SideResult>)>,
    /// Closes nobody waits for (aborted or dropped connections).
    background: Vec<BoxFuture<'static, ()>>,
    _runtime: PhantomData<R>,
}

/// The TCP connection to the server of `options` (`host` names it in errors): through the
/// application's connector when it has one, else to each resolved address in turn.
async fn open_tcp<R: Runtime>(
    options: &ConnectOptions,
    host: &str,
    deadline: Instant,
) -> Result<Box<dyn Conn>> {
    let connect_error = |source| Error::Connect {
        host: host.to_owned(),
        source,
    };
    if let Some(connector) = &options.connector {
        let timeout = deadline.saturating_duration_since(Instant::now());
        let connect = connect_with::<R>(connector, options.host.clone(), options.port, timeout);
        return connect.await.map_err(connect_error);
    }
    let addrs = R::resolve(options.host.clone(), options.port)
        .await
        .map_err(connect_error)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match R::connect(addr).await {
            Ok(conn) => return Ok(conn),
            Err(e) => last = e,
        }
    }
    Err(connect_error(last))
}

impl<R: Runtime> Driver<R> {
    /// Connects the control connection (TCP, and TLS for implicit FTPS) within the connect
    /// timeout, queues AUTH TLS and the login as the options say, and runs until they are
    /// done.
    pub(crate) async fn connect(options: &ConnectOptions) -> Result<Self> {
        options.check_tls_built_in()?;
        let host = options.host_port();
        let net = NetOptions::new(options);
        #[cfg(feature = "tls")]
        let tls = match options.tls_mode {
            TlsMode::None => None,
            _ => Some(options.tls.build(&options.host)?),
        };
        let deadline = Instant::now() + options.connect_timeout;
        let connecting = open_tcp::<R>(options, &host, deadline);
        let conn = timeout_at::<R, _>(deadline, connecting)
            .await
            .ok_or_else(|| Error::ConnectTimeout { host: host.clone() })??;
        let (local, peer) = conn.addrs()?;
        #[cfg(feature = "tls")]
        let control = match (&tls, options.tls_mode) {
            (Some(setup), TlsMode::Implicit) => {
                timeout_at::<R, _>(deadline, tls::handshake(setup, conn, false))
                    .await
                    .ok_or_else(|| Error::ConnectTimeout { host: host.clone() })?
                    .map_err(handshake_error)?
            }
            _ => conn,
        };
        #[cfg(not(feature = "tls"))]
        let control = conn;
        let info = ClientControlInfo {
            peer,
            local,
            implicit_tls: options.tls_mode == TlsMode::Implicit,
        };
        let session = ClientSession::new(options.session.clone(), info, Instant::now());
        #[cfg(feature = "tls")]
        let core = Core::with_tickets(session, tls.as_ref(), options);
        #[cfg(not(feature = "tls"))]
        let core = Core::new(session);
        let mut driver = Self {
            core,
            control: ControlState::Open(control),
            written: 0,
            flush_due: false,
            rbuf: vec![0; 16 * 1024].into_boxed_slice(),
            timer: None,
            armed: None,
            #[cfg(feature = "tls")]
            tls,
            net,
            conns: HashMap::new(),
            data_tls: HashMap::new(),
            side: Vec::new(),
            background: Vec::new(),
            _runtime: PhantomData,
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
        driver
            .run(|core| core.greeting.is_some().then_some(()))
            .await?;
        if let Some(op) = auth {
            driver.wait(op).await?;
        }
        if let Some(op) = login {
            driver.wait(op).await?;
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
    pub(crate) async fn queue_data(
        &mut self,
        f: impl FnOnce(&mut ClientSession) -> std::result::Result<OpId, UsageError>,
    ) -> Result<OpId> {
        #[cfg(feature = "tls")]
        if let Some(options) = self.core.tls12_switch() {
            if let Err(error) = self.switch_to(&options).await {
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
    async fn switch_to(&mut self, options: &ConnectOptions) -> Result<()> {
        let op = self.queue(|s| s.pwd())?;
        let OpOutput::Path(cwd) = self.wait(op).await? else {
            return Err(Error::DataConnection(DataFailure::Other));
        };
        let params = self.core.session.transfer_params();
        let mut next = Box::pin(Self::connect(options)).await?;
        let op = next.queue(|s| s.cwd(cwd))?;
        next.wait(op).await?;
        next.core.session.set_transfer_params(params)?;
        tracing::debug!("TLS 1.3 tickets ran dry: the session goes on over TLS 1.2");
        let mut old = std::mem::replace(self, next);
        if let Ok(op) = old.queue(|s| s.quit()) {
            let _ = old.wait(op).await;
        }
        old.shutdown().await;
        Ok(())
    }

    /// Runs until `op` completes. Dropped before that (a timeout around the call, say), the
    /// operation's result is discarded when it comes; the session goes on.
    pub(crate) async fn wait(&mut self, op: OpId) -> Result<OpOutput> {
        let mut guard = OpGuard {
            driver: self,
            op,
            abort: false,
            done: false,
        };
        let result = guard.driver.run(|core| core.take_result(op)).await;
        guard.done = true;
        result?
    }

    /// Runs until the transfer `op` may move bytes: returns its `Start` and data connection,
    /// or the error that ended it first. Dropped before that, the transfer is aborted.
    pub(crate) async fn wait_started(&mut self, op: OpId) -> Result<(Started, DataConn)> {
        enum Next {
            Started(Started),
            Done(Result<OpOutput>),
        }
        let mut guard = OpGuard {
            driver: self,
            op,
            abort: true,
            done: false,
        };
        let next = guard
            .driver
            .run(|core| {
                if let Some(started) = core.take_started(op) {
                    return Some(Next::Started(started));
                }
                core.take_result(op).map(Next::Done)
            })
            .await;
        guard.done = true;
        let driver = &mut *guard.driver;
        match next? {
            Next::Started(started) => match driver.conns.remove(&started.id) {
                // Cannot happen: the session asks for the handshake before `Start`.
                #[cfg(feature = "tls")]
                Some(DataConn::TlsPending(conn)) => {
                    conn.reset_on_close();
                    driver
                        .core
                        .data_event(started.id, ClientDataEvent::Failed(DataFailure::Tls));
                    driver.core.discard(op);
                    Err(Error::DataConnection(DataFailure::Tls))
                }
                Some(conn) => Ok((started, conn)),
                None => {
                    // The connection failed after `Start` (its TLS handshake, say) and the
                    // session knows: the transfer's result says whether anything was lost
                    // (an empty file was not). Reporting it again is harmless.
                    driver
                        .core
                        .data_event(started.id, ClientDataEvent::Failed(DataFailure::Other));
                    Ok((started, DataConn::Gone))
                }
            },
            Next::Done(Ok(output)) => Err(crate::ops::transfer(output)
                .err()
                .unwrap_or(Error::DataConnection(DataFailure::Other))),
            Next::Done(Err(e)) => Err(e),
        }
    }

    /// Writes what is queued and closes the control connection (after QUIT), within a short
    /// grace period.
    pub(crate) async fn shutdown(&mut self) {
        let deadline = Instant::now() + Duration::from_millis(500);
        let _ = timeout_at::<R, _>(
            deadline,
            poll_fn(|cx| {
                self.poll_drive(cx);
                let idle = self.core.wbuf.is_empty() && self.background.is_empty();
                if idle {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }),
        )
        .await;
        if let ControlState::Open(mut conn) =
            std::mem::replace(&mut self.control, ControlState::Closed)
        {
            let _ = timeout_at::<R, _>(deadline, poll_fn(|cx| Pin::new(&mut *conn).poll_close(cx)))
                .await;
        }
    }

    /// Drives until `check` gives a value. Fails once the session is closed and `check`
    /// found nothing.
    pub(crate) async fn run<T>(
        &mut self,
        mut check: impl FnMut(&mut Core) -> Option<T>,
    ) -> Result<T> {
        poll_fn(|cx| {
            self.poll_drive(cx);
            if let Some(value) = check(&mut self.core) {
                return Poll::Ready(Ok(value));
            }
            if self.core.session.is_closed() && !self.core.has_work() {
                return Poll::Ready(Err(self.core.closed_error()));
            }
            Poll::Pending
        })
        .await
    }

    /// Does every piece of work that is ready, registering `cx`'s waker with everything still
    /// waited on. Never blocks; yields after [`BUDGET`] passes.
    pub(crate) fn poll_drive(&mut self, cx: &mut Context<'_>) {
        for _ in 0..BUDGET {
            let mut progress = false;
            while let Some(action) = self.core.next_action() {
                progress = true;
                self.execute(action);
            }
            progress |= self.poll_write(cx);
            progress |= self.poll_control_tls(cx);
            progress |= self.poll_read(cx);
            progress |= self.poll_side(cx);
            self.poll_background(cx);
            progress |= self.poll_timer(cx);
            if !progress {
                return;
            }
        }
        cx.waker().wake_by_ref();
    }

    /// Executes one of the session's actions (one method per kind).
    fn execute(&mut self, action: Action) {
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
            Action::StartTls => self.request_tls(),
            Action::StopTls => self.request_clear(),
            Action::CloseControl => self.close_control(),
        }
    }

    /// `Connect`: connects the data connection (through the application's connector when it
    /// has one) as a side future; [`poll_side`](Self::poll_side) reports the result.
    fn connect_data(&mut self, id: DataConnId, addr: SocketAddr, tls: bool) {
        let connect = match &self.net.connector {
            Some(connector) => {
                let timeout = self.net.data_timeout;
                connect_with::<R>(connector, addr.ip().to_string(), addr.port(), timeout)
            }
            None => R::connect(addr),
        };
        let fut: BoxFuture<'static, SideResult> = Box::pin(async move {
            match connect.await {
                Ok(conn) => SideResult::Connected(conn, addr),
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "data connection failed");
                    SideResult::Failed(data_failure(&e))
                }
            }
        });
        self.side.push((id, fut));
        self.data_tls.insert(id, tls);
    }

    /// `Listen`: binds the active-mode listener and reports where; the accept is a side
    /// future.
    fn listen_data(&mut self, id: DataConnId, ip: IpAddr, expect_peer: IpAddr, tls: bool) {
        match self.listen(ip, expect_peer) {
            Ok((fut, local)) => {
                self.side.push((id, fut));
                self.data_tls.insert(id, tls);
                self.core
                    .data_event(id, ClientDataEvent::Listening { local });
            }
            Err(error) => {
                tracing::debug!(%error, "active-mode bind failed");
                self.core
                    .data_event(id, ClientDataEvent::Failed(DataFailure::Bind));
            }
        }
    }

    /// `Close`: a ready connection closes gracefully as a side future (reported `Closed`
    /// when done); any other is torn down and reported closed at once.
    fn close_data(&mut self, id: DataConnId) {
        match self.conns.remove(&id) {
            Some(DataConn::Ready(conn)) => {
                let deadline = Instant::now() + self.net.data_timeout;
                let fut: BoxFuture<'static, SideResult> = Box::pin(async move {
                    close_gracefully::<R>(conn, deadline).await;
                    SideResult::Closed
                });
                self.side.push((id, fut));
            }
            Some(conn) => {
                self.abort_conn(conn);
                self.core.data_event(id, ClientDataEvent::Closed);
            }
            None => self.core.data_event(id, ClientDataEvent::Closed),
        }
    }

    /// `Abort`: drops the connection's pending connect or accept and tears it down.
    fn abort_data(&mut self, id: DataConnId) {
        self.side.retain(|(side, _)| *side != id);
        self.data_tls.remove(&id);
        if let Some(conn) = self.conns.remove(&id) {
            self.abort_conn(conn);
        }
    }

    /// `StartTls`: the handshake begins once the queued bytes are written
    /// ([`poll_write`](Self::poll_write)).
    fn request_tls(&mut self) {
        self.control = match std::mem::replace(&mut self.control, ControlState::Closed) {
            ControlState::Open(conn) => ControlState::TlsRequested(conn),
            other => other,
        };
    }

    /// `StopTls` (CCC): the TLS shutdown begins once the bytes queued so far are written.
    fn request_clear(&mut self) {
        let queued = self.core.wbuf.len();
        self.control = match std::mem::replace(&mut self.control, ControlState::Closed) {
            ControlState::Open(conn) => ControlState::ClearRequested(conn, queued),
            other => other,
        };
    }

    /// `Close`: the control connection closes once the queued bytes are written; every data
    /// connection and pending connect or accept is dropped.
    fn close_control(&mut self) {
        self.control = match std::mem::replace(&mut self.control, ControlState::Closed) {
            ControlState::Open(conn) | ControlState::TlsRequested(conn) => {
                ControlState::Closing(conn)
            }
            _ => ControlState::Closed,
        };
        self.side.clear();
        self.data_tls.clear();
        let conns: Vec<DataConn> = self.conns.drain().map(|(_, c)| c).collect();
        for conn in conns {
            self.abort_conn(conn);
        }
    }

    /// `Handshake`: a pending PROT P connection starts its TLS handshake; the ClientHello goes
    /// out when [`poll_side`](Self::poll_side) first polls it, and the transfer stream
    /// finishes it.
    #[cfg(feature = "tls")]
    fn start_data_tls(&mut self, id: DataConnId) {
        if !matches!(self.conns.get(&id), Some(DataConn::TlsPending(_))) {
            return;
        }
        let (Some(DataConn::TlsPending(conn)), Some(setup)) = (self.conns.remove(&id), &self.tls)
        else {
            // Cannot happen: a pending connection has a TLS configuration.
            return self
                .core
                .data_event(id, ClientDataEvent::Failed(DataFailure::Tls));
        };
        let handshake = tls::handshake(setup, conn, true);
        self.conns.insert(id, DataConn::Handshaking(handshake));
    }

    /// `Handshake` without the `tls` feature: no connection waits for one (PROT P cannot be
    /// in force, and [`poll_side`](Self::poll_side) fails a connection that would need TLS).
    #[cfg(not(feature = "tls"))]
    fn start_data_tls(&mut self, _id: DataConnId) {}

    /// Tears a data connection down in the background (see [`abort_conn`]). One in
    /// mid-handshake has used up a TLS 1.3 ticket: it is finished first (briefly) so the
    /// fresh ticket the server sends replaces it.
    pub(crate) fn abort_conn(&mut self, conn: DataConn) {
        match conn {
            DataConn::Ready(conn) => self.background.push(Box::pin(abort_conn::<R>(conn))),
            #[cfg(feature = "tls")]
            DataConn::TlsPending(conn) => conn.reset_on_close(),
            DataConn::Gone => {}
            #[cfg(feature = "tls")]
            DataConn::Handshaking(handshake) => {
                let deadline = Instant::now() + TICKET_WAIT;
                self.background.push(Box::pin(async move {
                    if let Some(Ok(conn)) = timeout_at::<R, _>(deadline, handshake).await {
                        abort_conn::<R>(conn).await;
                    }
                }));
            }
        }
    }

    /// Closes a data connection gracefully in the background.
    pub(crate) fn close_in_background(&mut self, conn: Box<dyn Conn>) {
        let deadline = Instant::now() + self.net.data_timeout;
        self.background
            .push(Box::pin(close_gracefully::<R>(conn, deadline)));
    }

    /// Binds the active-mode listener and builds the future that accepts the server's
    /// connection (from the expected peer only).
    fn listen(
        &mut self,
        ip: IpAddr,
        expect: IpAddr,
    ) -> io::Result<(BoxFuture<'static, SideResult>, SocketAddr)> {
        let (listener, local) = bind_active(&self.net, ip)?;
        let mut listener: Box<dyn Listener> = R::listener(listener)?;
        let fut = Box::pin(async move {
            loop {
                match poll_fn(|cx| listener.poll_accept(cx)).await {
                    Ok((conn, peer)) if peer_allowed(peer, expect) => {
                        return SideResult::Connected(conn, peer)
                    }
                    Ok((_, peer)) => {
                        tracing::warn!(%peer, expected = %expect, "data connection from another host refused");
                    }
                    Err(e) => return SideResult::Failed(data_failure(&e)),
                }
            }
        });
        Ok((fut, local))
    }

    /// Writes queued control bytes; then flushes; then starts a requested TLS handshake or
    /// close. True when something moved.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        match self.poll_send(cx) {
            Sent::Failed(error) => {
                self.fail_control(&error);
                true
            }
            Sent::Waiting { progress } => progress,
            Sent::All { progress } => self.start_requested(cx) || progress,
        }
    }

    /// Writes and flushes the queued control bytes (under `StopTls`, only those queued
    /// before it).
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Sent {
        if matches!(self.control, ControlState::Closed) {
            // Nothing can be written any more.
            self.core.wbuf.clear();
            self.written = 0;
        }
        let limit = match &self.control {
            ControlState::ClearRequested(_, queued) => *queued,
            _ => self.core.wbuf.len(),
        };
        let (ControlState::Open(conn)
        | ControlState::TlsRequested(conn)
        | ControlState::ClearRequested(conn, _)
        | ControlState::Closing(conn)) = &mut self.control
        else {
            return Sent::Waiting { progress: false };
        };
        let mut progress = false;
        while self.written < limit {
            match Pin::new(&mut **conn).poll_write(cx, &self.core.wbuf[self.written..]) {
                Poll::Ready(Ok(0)) => {
                    let error =
                        io::Error::new(io::ErrorKind::WriteZero, "control connection closed");
                    return Sent::Failed(error);
                }
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    self.flush_due = true;
                    progress = true;
                }
                Poll::Ready(Err(error)) => return Sent::Failed(error),
                Poll::Pending => return Sent::Waiting { progress },
            }
        }
        self.core.wbuf.drain(..limit);
        self.written = 0;
        if self.flush_due {
            match Pin::new(&mut **conn).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.flush_due = false,
                Poll::Ready(Err(error)) => return Sent::Failed(error),
                Poll::Pending => return Sent::Waiting { progress },
            }
        }
        Sent::All { progress }
    }

    /// Everything queued is out: a requested TLS handshake or shutdown begins (true), or a
    /// requested close goes on.
    fn start_requested(&mut self, cx: &mut Context<'_>) -> bool {
        match std::mem::replace(&mut self.control, ControlState::Closed) {
            ControlState::TlsRequested(conn) => {
                #[cfg(feature = "tls")]
                if let Some(tls) = &self.tls {
                    self.control = ControlState::Handshaking(tls::handshake(tls, conn, false));
                    return true;
                }
                // No TLS configuration: without the `tls` feature connecting with FTPS fails
                // first, and AUTH TLS has no other way in. Should it come, the session ends
                // rather than go on in plaintext.
                drop(conn);
                let error = io::Error::other("AUTH TLS without a TLS configuration");
                self.core.control_failed(&error);
                true
            }
            ControlState::ClearRequested(conn, _) => {
                self.control = match conn.clear_tls() {
                    Ok(clearing) => ControlState::Clearing(clearing),
                    Err(conn) => ControlState::Open(conn),
                };
                true
            }
            ControlState::Closing(mut conn) => {
                if Pin::new(&mut *conn).poll_close(cx).is_pending() {
                    self.control = ControlState::Closing(conn);
                }
                false
            }
            other => {
                self.control = other;
                false
            }
        }
    }

    fn poll_control_tls(&mut self, cx: &mut Context<'_>) -> bool {
        let clearing = matches!(self.control, ControlState::Clearing(_));
        let (ControlState::Handshaking(fut) | ControlState::Clearing(fut)) = &mut self.control
        else {
            return false;
        };
        match fut.as_mut().poll(cx) {
            Poll::Pending => false,
            Poll::Ready(Ok(conn)) => {
                self.control = ControlState::Open(conn);
                if !clearing {
                    self.core.session.handle_tls_established(Instant::now());
                }
                true
            }
            Poll::Ready(Err(error)) => {
                self.control = ControlState::Closed;
                self.core.control_failed(&error);
                true
            }
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> bool {
        if self.core.session.is_closed() {
            return false;
        }
        let ControlState::Open(conn) = &mut self.control else {
            return false;
        };
        match Pin::new(&mut **conn).poll_read(cx, &mut self.rbuf) {
            Poll::Pending => false,
            Poll::Ready(Ok(0)) => {
                self.core.session.handle_eof(Instant::now());
                true
            }
            Poll::Ready(Ok(n)) => {
                tracing::trace!(reply = %String::from_utf8_lossy(&self.rbuf[..n]).trim_end(), "ftp <");
                self.core
                    .session
                    .handle_input(Instant::now(), &self.rbuf[..n]);
                true
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => true,
            Poll::Ready(Err(error)) => {
                self.fail_control(&error);
                true
            }
        }
    }

    fn fail_control(&mut self, error: &io::Error) {
        self.control = ControlState::Closed;
        self.core.wbuf.clear();
        self.written = 0;
        self.core.control_failed(error);
    }

    /// Polls connects, accepts, data TLS handshakes and graceful closes; reports what ended.
    fn poll_side(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut i = 0;
        while i < self.side.len() {
            let Poll::Ready(result) = self.side[i].1.as_mut().poll(cx) else {
                i += 1;
                continue;
            };
            let (id, _) = self.side.swap_remove(i);
            progress = true;
            match result {
                SideResult::Connected(conn, peer) => {
                    let tls = self.data_tls.remove(&id).unwrap_or(false);
                    let conn = match (self.has_tls(), tls) {
                        #[cfg(feature = "tls")]
                        (true, true) => DataConn::TlsPending(conn),
                        // PROT P without a TLS configuration (never in force without the
                        // `tls` feature).
                        (_, true) => {
                            self.core
                                .data_event(id, ClientDataEvent::Failed(DataFailure::Tls));
                            continue;
                        }
                        _ => DataConn::Ready(conn),
                    };
                    self.conns.insert(id, conn);
                    self.core
                        .data_event(id, ClientDataEvent::Connected { peer });
                }
                SideResult::Closed => self.core.data_event(id, ClientDataEvent::Closed),
                SideResult::Failed(failure) => {
                    self.data_tls.remove(&id);
                    self.core.data_event(id, ClientDataEvent::Failed(failure));
                }
            }
        }
        #[cfg(feature = "tls")]
        {
            progress |= self.poll_data_handshakes(cx);
        }
        progress
    }

    /// True when this connection has a TLS configuration (FTPS was asked for).
    #[cfg(feature = "tls")]
    fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Without the `tls` feature no connection has a TLS configuration.
    #[cfg(not(feature = "tls"))]
    fn has_tls(&self) -> bool {
        false
    }

    /// Data TLS handshakes move on while the transfer command is answered.
    #[cfg(feature = "tls")]
    fn poll_data_handshakes(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        let mut failed = Vec::new();
        for (id, conn) in self.conns.iter_mut() {
            if let DataConn::Handshaking(handshake) = conn {
                match handshake.as_mut().poll(cx) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(ready)) => *conn = DataConn::Ready(ready),
                    Poll::Ready(Err(e)) => failed.push((*id, tls_failure(&e))),
                }
            }
        }
        for (id, failure) in failed {
            self.conns.remove(&id);
            self.core.data_event(id, ClientDataEvent::Failed(failure));
            progress = true;
        }
        progress
    }

    fn poll_background(&mut self, cx: &mut Context<'_>) {
        self.background
            .retain_mut(|fut| fut.as_mut().poll(cx).is_pending());
    }

    /// Fires the session's timer when due (checking the clock first: a timer future may not
    /// report an elapsed deadline at once), and arms the runtime's timer for the next one.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.core.session.poll_timeout() else {
            self.armed = None;
            return false;
        };
        let now = Instant::now();
        if now >= deadline {
            self.core.session.handle_timeout(now);
            return true;
        }
        let timer = self.timer.get_or_insert_with(|| R::timer(deadline));
        if self.armed != Some(deadline) {
            timer.reset(deadline);
            self.armed = Some(deadline);
        }
        if timer.poll_expired(cx).is_ready() {
            self.armed = None;
            self.core.session.handle_timeout(Instant::now());
            return true;
        }
        false
    }
}

/// Discards (or, for a transfer not yet started, aborts) an operation whose waiting future
/// was dropped.
struct OpGuard<'a, R: Runtime> {
    driver: &'a mut Driver<R>,
    op: OpId,
    abort: bool,
    done: bool,
}

impl<R: Runtime> Drop for OpGuard<'_, R> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.abort {
            let _ = self.driver.core.session.abort(self.op);
            if let Some(started) = self.driver.core.take_started(self.op) {
                if let Some(conn) = self.driver.conns.remove(&started.id) {
                    self.driver.abort_conn(conn);
                }
            }
        }
        self.driver.core.discard(self.op);
    }
}

/// close_notify and FIN, then reads until the peer closes too (at most until `deadline` and
/// [`DRAIN_LIMIT`] bytes), so nothing unread turns our close into a reset.
pub(crate) async fn close_gracefully<R: Runtime>(mut conn: Box<dyn Conn>, deadline: Instant) {
    let _ = timeout_at::<R, _>(deadline, async {
        if poll_fn(|cx| Pin::new(&mut *conn).poll_close(cx))
            .await
            .is_err()
        {
            return;
        }
        let mut scratch = vec![0u8; 16 * 1024];
        let mut drained = 0;
        while drained < DRAIN_LIMIT {
            match poll_fn(|cx| Pin::new(&mut *conn).poll_read(cx, &mut scratch)).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

/// Resets a data connection, after waiting briefly for the TLS 1.3 ticket it should bring
/// (each data connection uses one up; without the fresh one, servers that require session
/// reuse soon refuse every data connection).
pub(crate) async fn abort_conn<R: Runtime>(mut conn: Box<dyn Conn>) {
    if conn.ticket_due() {
        let deadline = Instant::now() + TICKET_WAIT;
        let _ = timeout_at::<R, _>(deadline, async {
            let mut scratch = vec![0u8; 16 * 1024];
            while conn.ticket_due() {
                match poll_fn(|cx| Pin::new(&mut *conn).poll_read(cx, &mut scratch)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
    conn.reset_on_close();
}

#[cfg(feature = "tls")]
fn tls_failure(error: &io::Error) -> DataFailure {
    tracing::debug!(%error, "data TLS handshake failed");
    match error.kind() {
        io::ErrorKind::TimedOut => DataFailure::TimedOut,
        io::ErrorKind::InvalidData => DataFailure::Tls,
        _ => data_failure(error),
    }
}

/// A failed implicit-FTPS handshake: the TLS error itself when there is one.
#[cfg(feature = "tls")]
fn handshake_error(error: io::Error) -> Error {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(tls) => Error::Tls(tls.clone()),
        None => Error::Io(error),
    }
}
