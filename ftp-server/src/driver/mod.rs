//! The one driver both runtimes share: a task per control connection that owns its
//! [`ServerSession`], executes every output, and feeds back what its data connections and
//! requests report.
//!
//! * **One owner.** The session lives in the control task only, which also polls, as futures
//!   of its own, each data connection ([`DataTask`]) and each storage or authentication
//!   request: nothing passes between tasks on a transfer's way but the blocking pool's jobs.
//!   Data connections report through one bounded channel (the inbox); requests answer with
//!   their future's output. Nothing is shared behind a lock.
//! * **Drain, then wait.** After every input the task drains `poll_output`, then re-reads
//!   `poll_timeout`, then moves its data connections on and waits for exactly one thing: bytes
//!   read, bytes written, a request's answer, an inbox message, the deadline, or server
//!   shutdown. Waiting is a hand-written `poll` over the raw `poll_read`/`poll_write` methods,
//!   the futures and the channel, so nothing is lost when another source wins (cancel safety
//!   by construction). The clock is checked against the deadline before the timer is polled.
//! * **Bounded.** Reading pauses while more than `WRITE_HIGH_WATER` bytes of replies wait to be
//!   written (a client that does not read cannot grow our buffers); the session bounds its own
//!   input; the inbox is bounded and every data connection sends a bounded number of
//!   messages; the session asks one request at a time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
#[cfg(feature = "tls")]
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
#[cfg(feature = "tls")]
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ftp_proto::server::{
    AuthId, DataConnId, ListFormat, Permissions, Principal, Secret, ServerControlInfo,
    ServerDataEvent, ServerDataIntent, ServerEvent, ServerOutput, ServerSession, StorageError,
    StorageErrorKind, StorageOpId, StorageRequest, StorageResponse,
};
use ftp_proto::transfer::DataType;
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::future::poll_fn;
use futures_lite::AsyncWriteExt;
#[cfg(feature = "tls")]
use futures_rustls::server::TlsStream;
#[cfg(feature = "tls")]
use futures_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::auth::{AuthFailure, Credentials, User};
use crate::metrics::SessionGuard;
use crate::runtime::{self, Conn, Timer, Unread};
use crate::server::{SessionEvent, Shared, UserSession};
use crate::storage::{StorageContext, VirtualPath};

#[cfg(target_os = "linux")]
mod cached;
pub(crate) mod data;
mod inbox;
mod listing;
pub(crate) mod local;
mod mailbox;
mod transfer_size;

use data::{Cmd, DataEnv, Job, JobKind, PendingJob, Stream};
use inbox::{InboxReceiver, InboxSender};
use mailbox::{mailbox, MailboxReceiver, MailboxSender};

/// Replies waiting beyond this pause reading from the client.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// The most one read of the control connection takes. The buffer is the thread's (see
/// [`read_control`]), and only the bytes read are copied to the heap: idle sessions hold no
/// read buffer (an 8 KiB one each was a third of an idle session's memory).
const CONTROL_READ: usize = 4096;

thread_local! {
    /// The buffer every control connection polled on this thread reads into. A buffer on
    /// the stack of each poll would be cleared each time, 4 KiB some eight times for every
    /// small download.
    static CONTROL_READ_BUF: RefCell<[u8; CONTROL_READ]> =
        const { RefCell::new([0; CONTROL_READ]) };
}

/// Reads what the client sent on the control connection: `Read` with the bytes, `Eof` when
/// the connection ended or failed. Into the thread's buffer, or, should a waker poll another
/// session from inside this read (an application's executor may), into one on the stack.
fn read_control(stream: &mut Stream, cx: &mut Context<'_>) -> Poll<Wake> {
    let read = |buf: &mut [u8]| match Pin::new(stream).poll_read(cx, buf) {
        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(Wake::Eof),
        Poll::Ready(Ok(n)) => Poll::Ready(Wake::Read(buf[..n].to_vec())),
        Poll::Pending => Poll::Pending,
    };
    CONTROL_READ_BUF.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => read(&mut buf[..]),
        Err(_) => read(&mut [0; CONTROL_READ]),
    })
}

/// Messages from a session's data tasks that may wait for the session's task. Few are ever
/// in flight (a data connection's events); senders wait when it is full, and
/// progress reports are dropped. The queue's slots are allocated up front, so this is
/// memory every idle session holds: 64 slots were 11 KiB, 8 were 1.5 KiB (a fifth of an idle
/// session's heap, `tests/session_memory.rs`). One slot moved 1 KiB files as fast as eight
/// (`benches/benches/server_load.rs`).
const INBOX: usize = 1;

/// How many wakes in a row replies may wait through while answers keep arriving (see
/// [`Driver::poll_wake`]).
const REPLY_HOLD_WAKES: u8 = 8;

/// How long a closing control connection may take to flush its last replies.
const CLOSE_FLUSH: Duration = Duration::from_secs(5);

/// What data tasks report to the control task, and requests answer.
pub(crate) enum Msg {
    Data(DataConnId, ServerDataEvent),
    Storage(StorageOpId, Result<StorageResponse, StorageError>),
    /// Storage opened a transfer: `response` goes to the session, `job` to the data task.
    Opened {
        op: StorageOpId,
        response: StorageResponse,
        job: Job,
    },
    Auth(AuthId, Result<User, AuthFailure>),
    /// An upload's data task asks to hear back once the session has read what arrived on the
    /// control connection before its commit (see `DataEnv::control_caught_up`).
    ControlCaughtUp(MailboxSender<()>),
}

/// One data connection as the control task sees it.
struct Slot {
    cmds: MailboxSender<Cmd>,
    /// The receiving end, until the data task is started.
    pending: Option<MailboxReceiver<Cmd>>,
    task: DataTask,
}

/// A data connection's future ([`data::listen`], [`data::connect`]), polled by the session's
/// own task ([`Driver::poll_data`]): a transfer's commands and reports pass between the two
/// without a hand-off between tasks, and dropping the future aborts the connection there and
/// then (an upload's writer is discarded, or committed if every byte had arrived, before the
/// session reads its next command).
enum DataTask {
    /// No connection asked for yet (a transfer waiting for PASV/PORT's connection).
    NotStarted,
    Running(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// The future has returned (after its last report).
    Ended,
}

impl DataTask {
    fn started(&self) -> bool {
        !matches!(self, Self::NotStarted)
    }
}

impl Drop for Slot {
    /// Drops the commands the data task has not taken (a transfer waiting for its connection)
    /// here and now, not whenever the aborted task's future goes: an upload's writer among
    /// them removes its temporary file before the session's next reply (425 after a data
    /// timeout, say) is written.
    fn drop(&mut self) {
        self.cmds.discard_queued();
    }
}

#[cfg(feature = "tls")]
type TlsControl = Box<TlsStream<Box<dyn Conn>>>;
#[cfg(feature = "tls")]
type Handshake = Pin<Box<dyn Future<Output = io::Result<TlsControl>> + Send>>;

enum Control {
    Open(Stream),
    #[cfg(feature = "tls")]
    Handshake(Handshake),
    Gone,
}

/// The server side of a TLS handshake on the control connection, given up after the
/// server's `tls_handshake_timeout`.
#[cfg(feature = "tls")]
fn accept_tls(
    shared: &Shared,
    config: Arc<rustls::ServerConfig>,
    conn: Box<dyn Conn>,
) -> Handshake {
    let accept = TlsAcceptor::from(config).accept(conn);
    let rt = Arc::clone(&shared.rt);
    let until = Instant::now() + shared.tls_handshake_timeout;
    Box::pin(async move {
        runtime::io_deadline(&*rt, until, accept)
            .await
            .map(Box::new)
    })
}

/// The session's events as `tracing` events (info for the session's milestones, warn for
/// failures, debug for commands).
fn trace_event(event: &ServerEvent) {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    match event {
        ServerEvent::Connected { peer } => tracing::info!(%peer, "connected"),
        ServerEvent::Command { verb } => tracing::debug!(verb = %text(verb), "command"),
        ServerEvent::Rejected { verb, code } => {
            tracing::debug!(verb = %text(verb), code = code.get(), "rejected")
        }
        ServerEvent::LoggedIn {
            user,
            anonymous,
            permissions,
            ..
        } => tracing::info!(user = %text(user), anonymous, %permissions, "logged in"),
        ServerEvent::LoginFailed { user, attempts } => {
            tracing::warn!(user = %text(user), attempts, "login failed")
        }
        ServerEvent::TlsEstablished => tracing::debug!("control connection protected"),
        ServerEvent::TransferStarted { kind, path } => {
            tracing::debug!(verb = kind.verb(), %path, "transfer started")
        }
        ServerEvent::TransferCompleted { kind, path, bytes } => {
            tracing::info!(verb = kind.verb(), %path, bytes, "transfer completed")
        }
        ServerEvent::TransferFailed { kind, path, code } => {
            tracing::warn!(verb = kind.verb(), %path, code = code.get(), "transfer failed")
        }
        ServerEvent::TransferInterrupted {
            kind,
            path,
            bytes,
            reason,
        } => tracing::warn!(verb = kind.verb(), %path, bytes, ?reason, "transfer interrupted"),
        ServerEvent::Closed { reason } => tracing::info!(?reason, "closed"),
        _ => tracing::debug!(?event),
    }
}

enum Wake {
    /// Bytes read from the control connection.
    Read(Vec<u8>),
    Eof,
    Msg(Msg),
    Timer,
    Shutdown,
    #[cfg(feature = "tls")]
    Handshake(io::Result<TlsControl>),
}

enum Flow {
    Continue,
    Closed,
}

/// The output [`Driver::execute_outputs`] stopped at, to be awaited.
enum Awaited {
    Nothing,
    StartTls,
    Close,
}

/// A storage or authentication request in flight: a future the session's own task polls,
/// whose answer comes back as a [`Msg`].
type Request = Pin<Box<dyn Future<Output = Msg> + Send>>;

pub(crate) struct Driver {
    shared: Arc<Shared>,
    id: u64,
    peer: SocketAddr,
    #[cfg(feature = "tls")]
    implicit_tls: bool,
    session: ServerSession,
    control: Control,
    wbuf: Vec<u8>,
    wpos: usize,
    flush: bool,
    /// Wakes in a row that replies waited through (see [`REPLY_HOLD_WAKES`]).
    held_wakes: u8,
    timer: Box<dyn Timer>,
    /// When [`Driver::timer`] is set to fire (see [`Driver::arm_timer`]).
    timer_at: Option<Instant>,
    inbox: InboxReceiver,
    /// Reports the control task makes to itself, handled before the inbox.
    local: std::collections::VecDeque<Msg>,
    shutdown: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    slots: HashMap<DataConnId, Slot>,
    transfer_ops: HashMap<StorageOpId, DataConnId>,
    /// Storage and authentication requests in flight, polled by the session's own task: a
    /// request's answer wakes the session directly, with no task spawned for it and no
    /// hand-off through the inbox (the session asks one at a time, so there are few).
    requests: Vec<Request>,
    /// Uploads waiting to commit until control bytes that had arrived are read (see
    /// [`Driver::answer_when_caught_up`]).
    catching_up: Vec<MailboxSender<()>>,
    user: Option<User>,
    env: Arc<DataEnv>,
    /// Built on first use (see [`Driver::session_tls`]).
    #[cfg(feature = "tls")]
    control_tls: Option<Arc<rustls::ServerConfig>>,
    /// A transfer has started and not ended yet (for [`crate::Metrics`]).
    transfer_running: bool,
    /// When the running transfer started (for [`SessionEvent::elapsed`]).
    transfer_since: Option<Instant>,
    /// The logged-in user's name (for [`SessionEvent::user`]).
    logged_in: Option<Bytes>,
    /// Holds the session's place among the user's sessions ([`crate::auth::UserLimits`]).
    user_session: Option<UserSession>,
    /// Counts the session as open while it runs (refused sessions are not counted).
    _counted: Option<SessionGuard>,
}

/// Why a connection is refused with `421`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The session limits (total or per address) are reached.
    Full,
    /// The address is banned for failed logins ([`crate::Server::ban`]).
    Banned,
    /// The address opens connections too fast ([`crate::Server::connection_rate`]).
    Rate,
    /// The PROXY protocol is required and the address is not a trusted proxy
    /// ([`crate::Server::proxy_protocol`]).
    Untrusted,
}

/// Runs one control connection, from the client at `peer`, to its end.
pub(crate) async fn run_session(
    shared: Arc<Shared>,
    conn: Box<dyn Conn>,
    peer: SocketAddr,
    implicit_tls: bool,
    refusal: Option<Refusal>,
) {
    let Ok(local) = conn.local_addr() else {
        return;
    };
    let _ = conn.set_nodelay(true);
    let _ = conn.set_oob_inline();
    let info = ServerControlInfo {
        local,
        peer,
        implicit_tls,
    };
    let session = new_session(&shared, info, refusal);
    let mut driver = Driver::new(shared, session, info, refusal.is_none());
    let span = tracing::info_span!("ftp_session", id = driver.id, %peer);
    driver.control = driver.first_control(conn, implicit_tls);
    driver.run().instrument(span).await;
}

/// The session for a connection: a normal one, or one that says why it is refused (`421`)
/// and closes.
fn new_session(
    shared: &Shared,
    info: ServerControlInfo,
    refusal: Option<Refusal>,
) -> ServerSession {
    let (config, now) = (Arc::clone(&shared.config), Instant::now());
    let because = match refusal {
        None => return ServerSession::new(config, info, now),
        Some(Refusal::Full) => return ServerSession::new_refused(config, info, now),
        Some(Refusal::Banned) => "Too many failed logins from your address; try again later.",
        Some(Refusal::Rate) => "Too many connections from your address; slow down.",
        Some(Refusal::Untrusted) => "Connect through the load balancer.",
    };
    ServerSession::new_refused_because(config, info, now, because)
}

impl DataEnv {
    /// What the data connections of a session on `local` need from the server.
    fn for_session(shared: &Arc<Shared>, inbox: InboxSender, local: SocketAddr) -> Self {
        Self {
            server: Arc::clone(shared),
            inbox,
            local_ip: local.ip(),
            #[cfg(feature = "tls")]
            tls: OnceLock::new(),
            user_limits: Mutex::default(),
        }
    }
}

impl Driver {
    /// The driver of `session`, with no control stream yet; `counted` sessions count in the
    /// metrics' open sessions.
    fn new(
        shared: Arc<Shared>,
        session: ServerSession,
        info: ServerControlInfo,
        counted: bool,
    ) -> Self {
        let (inbox_tx, inbox_rx) = inbox::inbox(INBOX);
        let env = Arc::new(DataEnv::for_session(&shared, inbox_tx, info.local));
        let shutdown = shared.shutdown.clone();
        Self {
            timer: shared.rt.timer(Instant::now()),
            timer_at: None,
            shutdown: Some(Box::pin(async move {
                let _ = shutdown.recv().await;
            })),
            id: shared.next_session_id(),
            _counted: counted.then(|| shared.metrics.session()),
            shared,
            peer: info.peer,
            #[cfg(feature = "tls")]
            implicit_tls: info.implicit_tls,
            session,
            control: Control::Gone,
            wbuf: Vec::new(),
            wpos: 0,
            flush: false,
            held_wakes: 0,
            inbox: inbox_rx,
            local: std::collections::VecDeque::new(),
            slots: HashMap::new(),
            transfer_ops: HashMap::new(),
            requests: Vec::new(),
            catching_up: Vec::new(),
            user: None,
            env,
            #[cfg(feature = "tls")]
            control_tls: None,
            transfer_running: false,
            transfer_since: None,
            logged_in: None,
            user_session: None,
        }
    }
}

impl Driver {
    async fn run(&mut self) {
        loop {
            if let Flow::Closed = self.drain().await {
                break;
            }
            let deadline = self.session.poll_timeout();
            if let Some(at) = deadline {
                // Check the clock first: a timer future may report an elapsed deadline late.
                let now = Instant::now();
                if now >= at {
                    self.session.handle_timeout(now);
                    continue;
                }
                self.arm_timer(at, now);
            }
            let wake = poll_fn(|cx| self.poll_wake(cx, deadline.is_some())).await;
            let now = Instant::now();
            match wake {
                Wake::Read(bytes) => {
                    self.session.handle_input(now, &bytes);
                    for done in std::mem::take(&mut self.catching_up) {
                        self.answer_when_caught_up(now, done);
                    }
                }
                Wake::Eof => {
                    self.control = Control::Gone;
                    self.session.handle_eof(now);
                }
                Wake::Msg(msg) => self.handle_msg(now, msg),
                Wake::Timer => self.session.handle_timeout(now),
                Wake::Shutdown => {
                    let message = self.shared.shutdown_message.clone();
                    self.session.shutdown(now, &message);
                }
                #[cfg(feature = "tls")]
                Wake::Handshake(result) => self.handshake_done(now, result),
            }
        }
        tracing::debug!("session ended");
    }

    /// Sets the timer for the session's next deadline `at`, unless it is set for an earlier
    /// moment still to come: the deadlines move later with every command (the idle timeout),
    /// and a runtime timer moved costs a re-insert (on async-io, a wake of its reactor thread
    /// each time: about two per small download). Firing early is harmless: the session checks
    /// its deadlines against the clock, and the timer is then set for the real one.
    fn arm_timer(&mut self, at: Instant, now: Instant) {
        if self.timer_at.is_some_and(|set| set <= at && set > now) {
            return;
        }
        self.timer.reset(at);
        self.timer_at = Some(at);
    }

    /// Polls every source once; ready with the first that has something.
    ///
    /// Replies are written once no answer (of a data task, a storage or authentication
    /// request) is ready: the replies that answers ready together produce leave in one write.
    /// A small download's `150` and `226` then reach the client in one segment, which wakes
    /// it once, not twice. Nothing waits on the client meanwhile, and a session kept busy
    /// writes its replies after [`REPLY_HOLD_WAKES`] wakes.
    fn poll_wake(&mut self, cx: &mut Context<'_>, timer_armed: bool) -> Poll<Wake> {
        if let Some(msg) = self.local.pop_front() {
            return Poll::Ready(Wake::Msg(msg));
        }
        // First, so that a busy control connection never holds a transfer up.
        self.poll_data(cx);
        #[cfg(feature = "tls")]
        if let Control::Handshake(handshake) = &mut self.control {
            if let Poll::Ready(result) = handshake.as_mut().poll(cx) {
                self.control = Control::Gone;
                return Poll::Ready(Wake::Handshake(result));
            }
        }
        let hold = self.held_wakes < REPLY_HOLD_WAKES && self.wpos < self.wbuf.len();
        if hold {
            if let Some(msg) = self.poll_answers(cx) {
                self.held_wakes += 1;
                return Poll::Ready(Wake::Msg(msg));
            }
        }
        self.held_wakes = 0;
        if let Control::Open(stream) = &mut self.control {
            while self.wpos < self.wbuf.len() {
                match Pin::new(&mut *stream).poll_write(cx, &self.wbuf[self.wpos..]) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Wake::Eof),
                    Poll::Ready(Ok(n)) => {
                        self.wpos += n;
                        self.flush = true;
                    }
                    Poll::Pending => break,
                }
            }
            if self.wpos == self.wbuf.len() {
                self.wbuf.clear();
                self.wpos = 0;
            }
            if self.flush {
                match Pin::new(&mut *stream).poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.flush = false,
                    Poll::Ready(Err(_)) => return Poll::Ready(Wake::Eof),
                    Poll::Pending => {}
                }
            }
            if self.wbuf.len() - self.wpos < WRITE_HIGH_WATER {
                if let Poll::Ready(wake) = read_control(stream, cx) {
                    return Poll::Ready(wake);
                }
            }
        }
        if !hold {
            if let Some(msg) = self.poll_answers(cx) {
                return Poll::Ready(Wake::Msg(msg));
            }
        }
        if timer_armed && self.timer.poll_expired(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        if let Some(shutdown) = &mut self.shutdown {
            if shutdown.as_mut().poll(cx).is_ready() {
                self.shutdown = None;
                return Poll::Ready(Wake::Shutdown);
            }
        }
        Poll::Pending
    }

    /// Moves every data connection's future on. What they send the inbox meanwhile wakes
    /// nobody: [`Driver::poll_wake`] polls the inbox after them.
    fn poll_data(&mut self, cx: &mut Context<'_>) {
        if self
            .slots
            .values()
            .any(|slot| matches!(slot.task, DataTask::Running(_)))
        {
            self.inbox.hold_wakes();
        }
        for slot in self.slots.values_mut() {
            if let DataTask::Running(task) = &mut slot.task {
                if task.as_mut().poll(cx).is_ready() {
                    slot.task = DataTask::Ended;
                }
            }
        }
    }

    /// The answer of the first request in flight that has one, else the inbox's next report.
    fn poll_answers(&mut self, cx: &mut Context<'_>) -> Option<Msg> {
        if let Some(msg) = self.poll_requests(cx) {
            return Some(msg);
        }
        match self.inbox.poll_recv(cx) {
            Poll::Ready(msg) => Some(msg),
            Poll::Pending => None,
        }
    }

    /// The answer of the first request in flight that has one.
    fn poll_requests(&mut self, cx: &mut Context<'_>) -> Option<Msg> {
        for i in 0..self.requests.len() {
            if let Poll::Ready(msg) = self.requests[i].as_mut().poll(cx) {
                drop(self.requests.remove(i));
                return Some(msg);
            }
        }
        None
    }

    /// Executes every output the session has, in order.
    async fn drain(&mut self) -> Flow {
        // What must be awaited is awaited here, boxed, and nothing else lives across it: this
        // future's size is part of every session's task, idle or not.
        loop {
            match self.execute_outputs() {
                Awaited::Nothing => return Flow::Continue,
                Awaited::StartTls => Box::pin(self.start_tls()).await,
                Awaited::Close => {
                    Box::pin(self.close()).await;
                    return Flow::Closed;
                }
            }
        }
    }

    /// Executes the session's outputs up to the first that must be awaited.
    fn execute_outputs(&mut self) -> Awaited {
        while let Some(output) = self.session.poll_output() {
            match output {
                ServerOutput::Transmit(bytes) => {
                    self.shared.metrics.replies_in(&bytes);
                    self.wbuf.extend_from_slice(&bytes);
                }
                ServerOutput::Data(intent) => self.data_intent(intent),
                ServerOutput::Storage { id, request } => self.storage(id, request),
                ServerOutput::Authenticate {
                    id,
                    user,
                    password,
                    account,
                    host,
                } => self.authenticate(id, user, password, account, host),
                ServerOutput::StartTls => return Awaited::StartTls,
                // CCC is not offered (`allow_ccc` is forced off), so `StopTls` cannot come;
                // should it, closing is the safe answer.
                ServerOutput::Close | ServerOutput::StopTls => return Awaited::Close,
                ServerOutput::Event(event) => self.event(event),
                _ => {}
            }
        }
        Awaited::Nothing
    }

    /// Writes every waiting reply (bounded by `until`); false when the connection failed.
    async fn flush_control(&mut self, until: Instant) -> bool {
        let Control::Open(stream) = &mut self.control else {
            return false;
        };
        let (wbuf, wpos) = (&self.wbuf, self.wpos);
        let write = async {
            stream.write_all(&wbuf[wpos..]).await?;
            stream.flush().await
        };
        let ok = matches!(
            runtime::timeout_at(&*self.shared.rt, until, write).await,
            Some(Ok(()))
        );
        self.wbuf.clear();
        self.wpos = 0;
        self.flush = false;
        ok
    }

    /// The control stream a new connection starts with: a TLS handshake for implicit FTPS,
    /// else plain TCP.
    fn first_control(&mut self, conn: Box<dyn Conn>, implicit_tls: bool) -> Control {
        #[cfg(feature = "tls")]
        if implicit_tls {
            if let Some(config) = self.session_tls() {
                return Control::Handshake(accept_tls(&self.shared, config, conn));
            }
        }
        // Without the `tls` feature no listener is implicit FTPS (`Server::start` refuses
        // implicit listeners without TLS).
        let _ = implicit_tls;
        Control::Open(Stream::Plain(conn))
    }

    /// `StartTls` (AUTH TLS accepted): the replies out, then the handshake. Without the `tls`
    /// feature the session refuses AUTH TLS (no TLS configured), so this cannot come; should
    /// it, the session ends.
    async fn start_tls(&mut self) {
        let until = Instant::now() + CLOSE_FLUSH;
        let flushed = self.flush_control(until).await;
        let control = std::mem::replace(&mut self.control, Control::Gone);
        #[cfg(feature = "tls")]
        if let (Control::Open(Stream::Plain(conn)), Some(config), true) =
            (control, self.session_tls(), flushed)
        {
            self.control = Control::Handshake(accept_tls(&self.shared, config, conn));
            return;
        }
        #[cfg(not(feature = "tls"))]
        drop((control, flushed));
        self.session.handle_eof(Instant::now());
    }

    /// The control connection's TLS handshake ended: the stream is protected (and, for AUTH
    /// TLS, the session told), or the session ends.
    #[cfg(feature = "tls")]
    fn handshake_done(&mut self, now: Instant, result: io::Result<TlsControl>) {
        match result {
            Ok(tls) => {
                self.shared.metrics.tls_handshake(true);
                // HOST must name the server the handshake asked for (RFC 7151).
                let sni = tls.get_ref().1.server_name();
                let sni = sni.map(|name| Bytes::copy_from_slice(name.as_bytes()));
                self.session.set_tls_server_name(sni);
                self.control = Control::Open(Stream::Tls(tls));
                if !self.implicit_tls {
                    self.session.handle_tls_established(now);
                }
            }
            Err(e) => {
                self.shared.metrics.tls_handshake(false);
                tracing::debug!(%e, "control connection TLS handshake failed");
                self.control = Control::Gone;
                self.session.handle_eof(now);
            }
        }
    }

    /// The control connection's TLS configuration, the session's configurations built on
    /// first use (see `TlsConfig::for_session`); `None` without TLS.
    #[cfg(feature = "tls")]
    fn session_tls(&mut self) -> Option<Arc<rustls::ServerConfig>> {
        if self.control_tls.is_none() {
            let tls = self.shared.tls.as_ref()?.for_session();
            let _ = self.env.tls.set(tls.data);
            self.control_tls = Some(tls.control);
        }
        self.control_tls.clone()
    }

    async fn close(&mut self) {
        let until = Instant::now() + CLOSE_FLUSH;
        // A session that ends before its TLS handshake does (an implicit-TLS connection
        // refused with 421) finishes the handshake first, within `CLOSE_FLUSH`, so that the
        // client hears why rather than a silent close.
        #[cfg(feature = "tls")]
        if let Control::Handshake(handshake) = &mut self.control {
            let done = runtime::timeout_at(&*self.shared.rt, until, handshake.as_mut()).await;
            self.control = match done {
                Some(Ok(tls)) => Control::Open(Stream::Tls(tls)),
                _ => Control::Gone,
            };
        }
        self.flush_control(until).await;
        if let Control::Open(stream) = std::mem::replace(&mut self.control, Control::Gone) {
            data::close_gracefully(&self.shared.rt, stream).await;
        }
        self.slots.clear();
        self.requests.clear();
    }

    fn event(&mut self, event: ServerEvent) {
        self.shared
            .metrics
            .event(&event, &mut self.transfer_running);
        trace_event(&event);
        let elapsed = self.track(&event);
        if let Some(hook) = &self.shared.events {
            hook(&SessionEvent {
                session: self.id,
                peer: self.peer,
                user: self.logged_in.as_deref(),
                elapsed,
                event: &event,
            });
        }
    }

    /// Keeps what later events need (the user, when the transfer started, failed logins
    /// for bans); returns how long a transfer ran when `event` ends one.
    fn track(&mut self, event: &ServerEvent) -> Option<Duration> {
        match event {
            ServerEvent::Command { verb } if &verb[..] == b"USER" || &verb[..] == b"REIN" => {
                self.logged_in = None;
                self.user_session = None;
            }
            ServerEvent::LoggedIn {
                user, anonymous, ..
            } => {
                self.logged_in = Some(user.clone());
                if *anonymous {
                    self.env.set_user_rates(None, None);
                    self.user = self.shared.anonymous.as_ref().map(|anonymous| User {
                        home: anonymous.home.clone(),
                        permissions: match anonymous.read_only {
                            true => Permissions::READ_ONLY,
                            false => Permissions::ALL,
                        },
                        ..User::new(user.clone())
                    });
                }
            }
            ServerEvent::LoginFailed { .. } => self.count_failed_login(),
            ServerEvent::TransferStarted { .. } => self.transfer_since = Some(Instant::now()),
            ServerEvent::TransferCompleted { .. }
            | ServerEvent::TransferFailed { .. }
            | ServerEvent::TransferInterrupted { .. } => {
                return self.transfer_since.take().map(|since| since.elapsed());
            }
            _ => {}
        }
        None
    }

    /// A failed login counts towards a ban of the client's address ([`crate::Server::ban`]).
    fn count_failed_login(&self) {
        let Some(ban) = self
            .shared
            .bans
            .login_failed(self.peer.ip(), Instant::now())
        else {
            return;
        };
        let peer = self.peer;
        self.shared.metrics.ban();
        tracing::warn!(%peer, seconds = ban.as_secs(), "address banned for failed logins");
    }

    fn handle_msg(&mut self, now: Instant, msg: Msg) {
        match msg {
            Msg::Data(id, event) => {
                if matches!(event, ServerDataEvent::Closed | ServerDataEvent::Failed(_)) {
                    self.slots.remove(&id);
                }
                self.session.handle_data_event(now, id, event);
            }
            Msg::Storage(op, result) => {
                if let Some(data) = self.transfer_ops.remove(&op) {
                    // A transfer that never reached its connection leaves no task behind.
                    if result.is_err()
                        && self
                            .slots
                            .get(&data)
                            .is_some_and(|slot| !slot.task.started())
                    {
                        self.slots.remove(&data);
                    }
                }
                self.session.handle_storage_result(now, op, result);
            }
            Msg::Opened { op, response, job } => {
                // A transfer the session gave up on (ABOR, timeout) has no slot any more:
                // the job is dropped, which discards an upload.
                if let Some(slot) = self
                    .transfer_ops
                    .get(&op)
                    .and_then(|data| self.slots.get(data))
                {
                    let _ = slot.cmds.try_send(Cmd::Transfer(job));
                }
                self.session.handle_storage_result(now, op, Ok(response));
            }
            Msg::Auth(id, result) => {
                let result = result.and_then(|user| {
                    let max = user.limits.max_sessions;
                    let counted = self.shared.enter_user_session(&user.name, max);
                    self.user_session = counted.ok_or(AuthFailure::TooManySessions)?;
                    let principal =
                        Principal::with_permissions(user.name.clone(), user.permissions);
                    let limits = user.limits;
                    let rates = (
                        limits.upload_bytes_per_second,
                        limits.download_bytes_per_second,
                    );
                    self.env.set_user_rates(rates.0, rates.1);
                    self.user = Some(user);
                    Ok(principal)
                });
                self.session.handle_auth_result(now, id, result);
            }
            // Control input is polled before the inbox, so everything that had arrived there
            // has been handled by now.
            Msg::ControlCaughtUp(done) => self.answer_when_caught_up(now, done),
        }
    }

    /// Answers an upload that waits to commit (see `DataEnv::control_caught_up`) once the
    /// session has read what had arrived on the control connection, asking the kernel rather
    /// than trusting the runtime's readiness, which may lag: at once if nothing is unread;
    /// after the next read if bytes wait; never if the client has closed the connection: the
    /// session closes instead, which aborts the upload.
    fn answer_when_caught_up(&mut self, now: Instant, done: MailboxSender<()>) {
        let unread = match &self.control {
            Control::Open(stream) if self.wbuf.len() - self.wpos < WRITE_HIGH_WATER => {
                stream.unread()
            }
            // Not reading (replies back up, a handshake runs, or the client is gone).
            _ => Unread::Nothing,
        };
        match unread {
            Unread::Nothing => {
                let _ = done.try_send(());
            }
            Unread::Bytes => self.catching_up.push(done),
            Unread::Closed => {
                self.control = Control::Gone;
                self.session.handle_eof(now);
            }
        }
    }

    fn slot(&mut self, id: DataConnId) -> &mut Slot {
        self.slots.entry(id).or_insert_with(|| {
            let (cmds, pending) = mailbox(2);
            Slot {
                cmds,
                pending: Some(pending),
                task: DataTask::NotStarted,
            }
        })
    }

    fn data_intent(&mut self, intent: ServerDataIntent) {
        match intent {
            ServerDataIntent::Listen {
                id,
                expect_peer,
                tls,
                ..
            } => {
                let env = Arc::clone(&self.env);
                let slot = self.slot(id);
                if let Some(cmds) = slot.pending.take() {
                    let task = data::listen(env, id, expect_peer, tls, cmds);
                    slot.task = DataTask::Running(Box::pin(task));
                }
            }
            ServerDataIntent::Connect { id, addr, tls } => {
                let env = Arc::clone(&self.env);
                let slot = self.slot(id);
                if let Some(cmds) = slot.pending.take() {
                    let task = data::connect(env, id, addr, tls, cmds);
                    slot.task = DataTask::Running(Box::pin(task));
                }
            }
            ServerDataIntent::Close { id } => {
                let sent = self
                    .slots
                    .get(&id)
                    .filter(|slot| slot.task.started())
                    .is_some_and(|slot| slot.cmds.try_send(Cmd::Close).is_ok());
                if !sent {
                    self.local.push_back(Msg::Data(id, ServerDataEvent::Closed));
                }
            }
            ServerDataIntent::Abort { id } => {
                // Dropping the slot drops its future: the connection is gone, and an upload
                // settled, before the session reads another command.
                self.slots.remove(&id);
                self.transfer_ops.retain(|_, data| *data != id);
            }
            _ => {}
        }
    }

    fn authenticate(
        &mut self,
        id: AuthId,
        user: Bytes,
        password: Secret<Bytes>,
        account: Option<Bytes>,
        host: Option<Bytes>,
    ) {
        let credentials = Credentials {
            user,
            password,
            account,
            host,
            peer: self.peer,
            tls: self.session.is_control_protected(),
        };
        let auth = Arc::clone(&self.shared.auth);
        let blocking = self.shared.blocking.clone();
        self.requests.push(Box::pin(async move {
            Msg::Auth(id, auth.authenticate(credentials, blocking).await)
        }));
    }

    /// The storage path of a session path: below the user's home.
    fn storage_path(home: &VirtualPath, path: &VirtualPath) -> Result<VirtualPath, StorageError> {
        home.resolve(path.relative())
            .map_err(|_| StorageError::new(StorageErrorKind::InvalidName))
    }

    fn storage(&mut self, op: StorageOpId, request: StorageRequest) {
        let Some(user) = self.user.clone() else {
            let denied = Err(StorageError::new(StorageErrorKind::PermissionDenied));
            self.local.push_back(Msg::Storage(op, denied));
            return;
        };
        if let StorageRequest::List { data, .. }
        | StorageRequest::Retrieve { data, .. }
        | StorageRequest::Store { data, .. } = &request
        {
            self.slot(*data);
            self.transfer_ops.insert(op, *data);
        }
        let cx = StorageContext::new(
            user.name.clone(),
            user.permissions,
            self.shared.blocking.clone(),
        )
        .session(self.id, self.peer);
        let storage = Arc::clone(&self.shared.storage);
        let home = user.home;
        self.requests.push(Box::pin(async move {
            match run_storage(&*storage, cx, &home, op, request).await {
                Ok(StorageAnswer::Answered(response)) => Msg::Storage(op, Ok(response)),
                Ok(StorageAnswer::Transfer(response, job)) => Msg::Opened { op, response, job },
                Err(error) => Msg::Storage(op, Err(error)),
            }
        }));
    }
}

/// What a listing of a path shows.
enum Listed {
    /// A directory's entries, still to be read.
    Directory(Box<dyn crate::storage::DirLister>),
    /// A file, listed as its own entry (LIST, NLST, STAT).
    File(crate::storage::DirEntry),
}

/// What a listing of `p` (`real` below the user's home) shows; with `files_too`, a file lists
/// as its own entry (LIST, NLST, STAT), otherwise it is refused (MLSD).
async fn entries_of(
    storage: &dyn crate::storage::Storage,
    cx: StorageContext,
    p: &VirtualPath,
    real: VirtualPath,
    files_too: bool,
) -> Result<Listed, StorageError> {
    match storage.list(cx.clone(), real.clone()).await {
        Ok(lister) => Ok(Listed::Directory(lister)),
        Err(e) if e.kind == StorageErrorKind::NotADirectory && files_too => {
            let metadata = storage.metadata(cx, real).await?;
            let name = p.file_name().unwrap_or(b"/");
            Ok(Listed::File(crate::storage::DirEntry {
                name: Bytes::copy_from_slice(name),
                metadata,
            }))
        }
        Err(e) => Err(e),
    }
}

/// The most lines a STAT listing (a reply on the control connection, held whole) shows: the
/// rest of a larger folder is left out (LIST streams it instead).
const STATUS_LISTING_MAX: usize = 100_000;

/// The lines of a STAT listing, read a batch at a time, at most [`STATUS_LISTING_MAX`].
async fn status_lines(listed: Listed) -> Result<(Vec<Bytes>, bool), StorageError> {
    let now = listing::now();
    let mut lines = Vec::new();
    let mut push = |entries: &[crate::storage::DirEntry]| {
        for entry in entries {
            let one = std::slice::from_ref(entry);
            let mut line = listing::format_batch(one, ListFormat::List, now);
            line.truncate(line.len().saturating_sub(2));
            lines.push(Bytes::from(line));
        }
    };
    let directory = match listed {
        Listed::File(entry) => {
            push(std::slice::from_ref(&entry));
            false
        }
        Listed::Directory(mut lister) => {
            let mut listed = 0;
            while listed < STATUS_LISTING_MAX {
                let max = crate::storage::LIST_BATCH.min(STATUS_LISTING_MAX - listed);
                let batch = lister.next_batch(max).await?;
                if batch.is_empty() {
                    break;
                }
                listed += batch.len();
                push(&batch);
            }
            true
        }
    };
    Ok((lines, directory))
}

/// What a storage request comes to.
enum StorageAnswer {
    /// The response, and nothing more to do.
    Answered(StorageResponse),
    /// A transfer: the response (the 150 reply's facts) and the job for the data connection.
    Transfer(StorageResponse, Job),
}

/// Runs one storage request for the session (paths are below `home`).
async fn run_storage(
    storage: &dyn crate::storage::Storage,
    cx: StorageContext,
    home: &VirtualPath,
    op: StorageOpId,
    request: StorageRequest,
) -> Result<StorageAnswer, StorageError> {
    let path = |p: &VirtualPath| Driver::storage_path(home, p);
    let done = |_| StorageAnswer::Answered(StorageResponse::Done);
    match request {
        StorageRequest::Metadata { path: p } => {
            let metadata = storage.metadata(cx, path(&p)?).await?;
            Ok(StorageAnswer::Answered(StorageResponse::Metadata(metadata)))
        }
        StorageRequest::List {
            path: p,
            format,
            params,
            ..
        } => open_listing(storage, cx, &p, path(&p)?, format, Job::pending(op, params)).await,
        StorageRequest::StatusListing { path: p } => {
            let listed = entries_of(storage, cx, &p, path(&p)?, true).await?;
            let (lines, directory) = status_lines(listed).await?;
            Ok(StorageAnswer::Answered(StorageResponse::Listing {
                lines,
                directory,
            }))
        }
        StorageRequest::Retrieve {
            path: p,
            offset,
            marker,
            params,
            ..
        } => {
            let offset = restart_offset(offset, marker.as_deref())?;
            open_download(storage, cx, path(&p)?, offset, Job::pending(op, params)).await
        }
        StorageRequest::Store {
            path: p,
            mode,
            offset,
            marker,
            params,
            ..
        } => {
            let offset = restart_offset(offset, marker.as_deref())?;
            let upload = storage.open_write(cx, path(&p)?, mode, offset).await?;
            let response = match upload.stored_as {
                Some(name) => StorageResponse::StoredAs { name },
                None => StorageResponse::Opened { size: None },
            };
            let job = Job::pending(op, params).with(JobKind::Receive(upload.writer));
            Ok(StorageAnswer::Transfer(response, job))
        }
        StorageRequest::TransferSize {
            path: p,
            params,
            max,
        } => {
            let size = transfer_size::transfer_size(storage, cx, path(&p)?, params, max).await?;
            Ok(StorageAnswer::Answered(StorageResponse::TransferSize(size)))
        }
        StorageRequest::Delete { path: p } => storage.delete(cx, path(&p)?).await.map(done),
        StorageRequest::MakeDir { path: p } => storage.make_dir(cx, path(&p)?).await.map(done),
        StorageRequest::RemoveDir { path: p } => storage.remove_dir(cx, path(&p)?).await.map(done),
        StorageRequest::Rename { from, to } => {
            storage.rename(cx, path(&from)?, path(&to)?).await.map(done)
        }
        StorageRequest::SetModified { path: p, time } => {
            storage.set_modified(cx, path(&p)?, time).await.map(done)
        }
        StorageRequest::Chmod { path: p, mode } => {
            storage.chmod(cx, path(&p)?, mode).await.map(done)
        }
        _ => Err(StorageError::new(StorageErrorKind::Unsupported)),
    }
}

/// LIST, NLST, MLSD of `p` (`real` below the home): the listing, read from storage as the
/// data connection takes it. LIST and NLST of a file list that file; MLSD takes only
/// directories.
async fn open_listing(
    storage: &dyn crate::storage::Storage,
    cx: StorageContext,
    p: &VirtualPath,
    real: VirtualPath,
    format: ListFormat,
    job: PendingJob,
) -> Result<StorageAnswer, StorageError> {
    let files_too = !matches!(format, ListFormat::Mlsd { .. });
    let source = match entries_of(storage, cx, p, real, files_too).await? {
        Listed::Directory(lister) => listing::ListingReader::directory(lister, format),
        Listed::File(entry) => listing::ListingReader::file(entry, format),
    };
    let job = job.with(JobKind::Listing(Box::new(source)));
    Ok(StorageAnswer::Transfer(
        StorageResponse::Opened { size: None },
        job,
    ))
}

/// RETR of `real` from `offset`: in TYPE A the offset counts bytes of the CRLF
/// representation, skipped after encoding; otherwise it is a file offset.
async fn open_download(
    storage: &dyn crate::storage::Storage,
    cx: StorageContext,
    real: VirtualPath,
    offset: u64,
    job: PendingJob,
) -> Result<StorageAnswer, StorageError> {
    let (file_offset, skip) = match job.params.data_type {
        DataType::Ascii(_) => (0, offset),
        _ => (offset, 0),
    };
    let download = storage.open_read(cx, real, file_offset).await?;
    let response = StorageResponse::Opened {
        size: download.size,
    };
    let (source, size) = (download.reader, download.size);
    Ok(StorageAnswer::Transfer(
        response,
        job.with(JobKind::Send { source, skip, size }),
    ))
}

/// The REST position: the offset (MODE S) or a MODE B/C restart marker, which this server
/// reads as a decimal byte offset (the markers it would send are offsets too).
fn restart_offset(offset: u64, marker: Option<&[u8]>) -> Result<u64, StorageError> {
    match marker {
        None => Ok(offset),
        Some(marker) => std::str::from_utf8(marker)
            .ok()
            .and_then(|m| m.trim().parse().ok())
            .ok_or_else(|| StorageError::new(StorageErrorKind::InvalidOffset)),
    }
}
