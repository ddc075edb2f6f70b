//! Data connections: one task per [`DataConnId`] owns the listener or the connection for its
//! whole life, runs the transfer the session task hands it, closes gracefully (TLS
//! close_notify, then FIN) and reports everything through the session's inbox.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ftp_proto::addr::canonical_ip;
use ftp_proto::server::{
    DataConnId, DataFailure, ServerDataEvent, StorageError, StorageErrorKind, StorageOpId,
    StorageResponse, TransferParams,
};
use ftp_proto::transfer::{
    BlockDecoder, BlockEncoder, CompressedDecoder, CompressedEncoder, DataEvent as WireEvent,
    DataType, FileStructure, LineEnding, TransferMode, TypeDecoder, TypeEncoder,
};
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::future::{poll_fn, zip};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
#[cfg(feature = "tls")]
use futures_rustls::server::TlsStream;
#[cfg(feature = "tls")]
use futures_rustls::LazyConfigAcceptor;

#[cfg(target_os = "linux")]
use super::cached;
use super::inbox::InboxSender;
use super::local;
use super::mailbox::{mailbox, MailboxReceiver};
use super::Msg;
use crate::memory::Load;
use crate::proxy;
use crate::runtime::{self, Conn, Runtime, Unread};
use crate::server::Shared;
use crate::storage::{storage_error, FileRead, FileWrite};
use crate::throttle::{RateLimiter, Throttle};
#[cfg(feature = "tls")]
use crate::tls::DataTls;

/// How stored text ends its lines: TYPE A sends each as CRLF and stores CRLF as this.
pub(super) const LOCAL_LINE_ENDING: LineEnding = LineEnding::Lf;

/// The memory a running transfer's buffers may take ([`crate::Server::transfer_buffer`]),
/// and how each copy path splits it. TLS record buffers (about 34 KiB a connection, in
/// rustls) come on top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BufferBudget(usize);

impl BufferBudget {
    /// The default: 256 KiB a transfer.
    pub(crate) const DEFAULT: Self = Self(256 << 10);
    /// The least a transfer gets, whatever is asked.
    const MIN: usize = 16 << 10;

    pub(crate) fn new(bytes: usize) -> Self {
        Self(bytes.max(Self::MIN))
    }

    /// The plain async paths: two buffers, one filling while the other drains.
    pub(crate) fn plain_chunk(self) -> usize {
        self.0 / 2
    }

    /// The transcoding paths: an input buffer of this size, and four more of it for the
    /// TYPE and MODE steps (whose output may be twice the input).
    pub(crate) fn encoded_chunk(self) -> usize {
        (self.0 - 2048) / 5
    }

    /// The blocking-pool copy: one buffer.
    pub(crate) fn local_chunk(self) -> usize {
        self.0
    }
}

/// How long a data connection's TLS handshake waits for the transfer command, to pick the
/// configuration for its direction (see [`DataTls`]). curl starts TLS before it sends the
/// command and goes on sending it, so it waits for nothing; a client that started TLS early
/// and waited for the handshake before sending the command would lose this much per transfer.
#[cfg(feature = "tls")]
const DIRECTION_WAIT: Duration = Duration::from_secs(1);

/// How long a closed data connection keeps reading (and discarding) what the client still
/// sends, so that closing never resets a connection with unread data in flight.
const LINGER: Duration = Duration::from_secs(2);

/// What every data connection of one session needs: the server's shared state, and the
/// session's own part.
pub(crate) struct DataEnv {
    /// The runtime, limits, buffers and settings every session shares.
    pub(crate) server: Arc<Shared>,
    pub(crate) inbox: InboxSender,
    pub(crate) local_ip: IpAddr,
    /// Set when the control connection starts TLS (data connections can be protected only
    /// after that): a session that never uses TLS never builds its configurations.
    #[cfg(feature = "tls")]
    pub(crate) tls: OnceLock<DataTls>,
    /// The logged-in user's own limits for this session.
    pub(crate) user_limits: Mutex<UserRates>,
}

/// A session's own bandwidth limits, from its user's [`crate::auth::UserLimits`].
#[derive(Debug, Default)]
pub(crate) struct UserRates {
    upload: Option<Arc<RateLimiter>>,
    download: Option<Arc<RateLimiter>>,
}

impl DataEnv {
    /// The limits a transfer in this direction moves under now.
    fn throttle(&self, upload: bool) -> Throttle {
        let user = self.user_limits.lock().unwrap_or_else(|e| e.into_inner());
        match upload {
            true => Throttle::new([self.server.upload_limit.as_ref(), user.upload.as_ref()]),
            false => Throttle::new([self.server.download_limit.as_ref(), user.download.as_ref()]),
        }
    }

    /// Sets the logged-in user's own limits, per second (`None`: no limit).
    pub(crate) fn set_user_rates(&self, upload: Option<u64>, download: Option<u64>) {
        let rates = UserRates {
            upload: upload.map(RateLimiter::new),
            download: download.map(RateLimiter::new),
        };
        *self.user_limits.lock().unwrap_or_else(|e| e.into_inner()) = rates;
    }

    async fn report(&self, id: DataConnId, event: ServerDataEvent) {
        let _ = self.inbox.send(Msg::Data(id, event)).await;
    }

    /// Resolves once the session task has read everything that had arrived on the control
    /// connection (see `Driver::answer_when_caught_up`): true then, false if the session ended
    /// first. An upload commits only on true, so that a client that went away before its data
    /// connection ended (a killed client's control connection closes first) has its session
    /// closed and the upload discarded, never a partial file committed.
    async fn control_caught_up(&self) -> bool {
        let (done, caught_up) = mailbox(1);
        self.inbox.send(Msg::ControlCaughtUp(done)).await.is_ok()
            && caught_up.recv().await.is_some()
    }
}

/// What the session task sends a data task.
pub(crate) enum Cmd {
    /// Run this transfer on the connection (once it is up).
    Transfer(Job),
    /// Close gracefully and report `Closed`.
    Close,
}

/// One transfer, prepared by the storage request.
pub(crate) struct Job {
    pub(crate) op: StorageOpId,
    pub(crate) params: TransferParams,
    pub(crate) kind: JobKind,
}

/// A transfer's operation and parameters, before storage has opened its source or sink.
pub(crate) struct PendingJob {
    op: StorageOpId,
    pub(crate) params: TransferParams,
}

impl Job {
    /// The transfer of operation `op` with these parameters, once its source or sink is open.
    pub(crate) fn pending(op: StorageOpId, params: TransferParams) -> PendingJob {
        PendingJob { op, params }
    }
}

impl PendingJob {
    /// The job, moving `kind`.
    pub(crate) fn with(self, kind: JobKind) -> Job {
        Job {
            op: self.op,
            params: self.params,
            kind,
        }
    }
}

pub(crate) enum JobKind {
    /// RETR: the file, and how many bytes of its TYPE A representation to skip (REST).
    Send {
        source: Box<dyn FileRead>,
        skip: u64,
        /// The file's size when storage knows it: smaller files get smaller buffers.
        size: Option<u64>,
    },
    /// LIST, NLST, MLSD: bytes in their wire form (CRLF), formatted a batch at a time.
    Listing(Box<dyn FileRead>),
    /// STOR, APPE, STOU.
    Receive(Box<dyn FileWrite>),
}

/// A data or control stream: plain TCP or TLS over it.
pub(crate) enum Stream {
    Plain(Box<dyn Conn>),
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream<Box<dyn Conn>>>),
}

impl Stream {
    /// The TCP connection of a plain stream; a TLS stream back as `Err`.
    pub(crate) fn into_plain(self) -> Result<Box<dyn Conn>, Self> {
        match self {
            Self::Plain(conn) => Ok(conn),
            #[cfg(feature = "tls")]
            tls @ Self::Tls(_) => Err(tls),
        }
    }

    /// What the kernel holds unread beneath the stream (for TLS, on the TCP connection).
    pub(crate) fn unread(&self) -> Unread {
        match self {
            Self::Plain(conn) => conn.unread(),
            #[cfg(feature = "tls")]
            Self::Tls(tls) => tls.get_ref().0.unread(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_close(cx),
            #[cfg(feature = "tls")]
            Self::Tls(s) => Pin::new(s).poll_close(cx),
        }
    }
}

/// Closes `stream` gracefully (close_notify for TLS, then FIN) within `LINGER`, then keeps
/// reading and discarding in a detached task until the peer closes too (or `LINGER` passes),
/// so the close never turns into a reset that could destroy data the peer has not read yet.
///
/// A plain connection with nothing unread closes at once, without the task: the kernel
/// resets a closed connection only for bytes it holds unread or that come later, and on a
/// plain data connection only an upload's client sends any (an upload read to its end, or
/// one that failed anyway). A TLS peer answers close_notify with its own, which must not
/// meet a reset.
pub(crate) async fn close_gracefully(rt: &Arc<dyn Runtime>, mut stream: Stream) {
    let deadline = Instant::now() + LINGER;
    if runtime::timeout_at(&**rt, deadline, stream.close())
        .await
        .is_none()
    {
        return;
    }
    if matches!(stream, Stream::Plain(_)) && stream.unread() != Unread::Bytes {
        return;
    }
    let linger_rt = Arc::clone(rt);
    rt.spawn(Box::pin(async move {
        let drain = async {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        runtime::timeout_at(&*linger_rt, deadline, drain).await;
    }));
}

/// A random number, from the standard library's per-process random hash keys.
fn random() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Binds a passive listener on the control connection's local address, on a random free port
/// of the range, or of the system's ephemeral ports when no range is set; with its address.
fn bind(env: &DataEnv) -> io::Result<(StdListener, SocketAddr)> {
    match env.server.passive_ports.clone() {
        Some(range) => bind_in_range(env.local_ip, range),
        None => bind_ephemeral(env.local_ip),
    }
}

/// Tries every port of `range`, from a random one on.
fn bind_in_range(ip: IpAddr, range: RangeInclusive<u16>) -> io::Result<(StdListener, SocketAddr)> {
    let (low, high) = (*range.start(), *range.end());
    let len = u64::from(high.saturating_sub(low)) + 1;
    let start = random() % len;
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free passive port");
    for i in 0..len {
        let addr = SocketAddr::new(ip, low + ((start + i) % len) as u16);
        match passive_listener(addr) {
            Ok(listener) => return Ok((listener, addr)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Random ports of the system's ephemeral range, then any port the system picks.
///
/// Binding port 0 makes Linux search its port table for a port no socket holds, not even one
/// in TIME_WAIT; after a few thousand short data connections (each leaves one) that search
/// took most of the server's time: 1 KiB RETRs ran at a third of the rate they reach with
/// random ports. A random port held only by TIME_WAIT connections binds at once
/// (`SO_REUSEADDR`, see [`passive_listener`]).
fn bind_ephemeral(ip: IpAddr) -> io::Result<(StdListener, SocketAddr)> {
    const TRIES: usize = 32;
    let range = ephemeral_ports();
    let len = u64::from(range.end() - range.start()) + 1;
    for _ in 0..TRIES {
        let addr = SocketAddr::new(ip, range.start() + (random() % len) as u16);
        if let Ok(listener) = passive_listener(addr) {
            return Ok((listener, addr));
        }
    }
    let listener = passive_listener(SocketAddr::new(ip, 0))?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// A listening socket on `addr` as the standard library makes one (close-on-exec,
/// `SO_REUSEADDR`, a queue of 128), but non-blocking from the start: one system call fewer
/// per transfer than setting that afterwards, as the runtimes need.
fn passive_listener(addr: SocketAddr) -> io::Result<StdListener> {
    use rustix::net::{sockopt, AddressFamily, SocketFlags, SocketType};
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let socket = rustix::net::socket_with(family, SocketType::STREAM, flags, None)?;
    sockopt::set_socket_reuseaddr(&socket, true)?;
    rustix::net::bind(&socket, &addr)?;
    rustix::net::listen(&socket, 128)?;
    Ok(StdListener::from(socket))
}

/// The ports the system hands out for outgoing connections (Linux:
/// `/proc/sys/net/ipv4/ip_local_port_range`, read once; elsewhere, and when that file cannot
/// be read, the IANA dynamic range 49152-65535).
fn ephemeral_ports() -> RangeInclusive<u16> {
    static PORTS: OnceLock<RangeInclusive<u16>> = OnceLock::new();
    PORTS
        .get_or_init(|| {
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
                .ok()
                .and_then(|text| parse_port_range(&text))
                .unwrap_or(49152..=65535)
        })
        .clone()
}

/// `"32768\t60999\n"` → `32768..=60999`; `None` unless two ports, low ≤ high, low > 0.
fn parse_port_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut ports = text.split_whitespace().map(str::parse::<u16>);
    let (Some(Ok(low)), Some(Ok(high)), None) = (ports.next(), ports.next(), ports.next()) else {
        return None;
    };
    (low > 0 && low <= high).then_some(low..=high)
}

/// PASV, EPSV, LPSV: bind, report `Listening`, accept one connection from the expected peer
/// (dropping strangers and listening on: RFC 2577 port theft), then serve it.
pub(crate) async fn listen(
    env: Arc<DataEnv>,
    id: DataConnId,
    expect_peer: Option<IpAddr>,
    tls: bool,
    cmds: MailboxReceiver<Cmd>,
) {
    let listener =
        bind(&env).and_then(|(listener, local)| Ok((env.server.rt.listener(listener)?, local)));
    let (mut listener, local) = match listener {
        Ok(bound) => bound,
        Err(e) => {
            tracing::warn!(%e, "cannot bind a passive listener");
            return env
                .report(id, ServerDataEvent::Failed(DataFailure::Bind))
                .await;
        }
    };
    env.report(id, ServerDataEvent::Listening { local }).await;
    let expected = expect_peer.map(canonical_ip);
    let (conn, peer) = loop {
        match poll_fn(|cx| listener.poll_accept(cx)).await {
            Ok((mut conn, socket_peer)) => {
                let policy = env.server.proxy_protocol.as_deref();
                match proxy::client_address(policy, &*env.server.rt, &mut conn, socket_peer).await {
                    Ok(peer) if expected.is_none_or(|ip| ip == canonical_ip(peer.ip())) => {
                        break (conn, peer)
                    }
                    Ok(peer) => {
                        tracing::warn!(%peer, "data connection from an unexpected address refused");
                    }
                    Err(e) => tracing::warn!(%socket_peer, "data connection refused: {e}"),
                }
            }
            Err(e) => {
                tracing::debug!(%e, "accept on a passive listener failed");
                let at = Instant::now() + Duration::from_millis(50);
                runtime::sleep_until(&*env.server.rt, at).await;
            }
        }
    };
    drop(listener);
    serve(env, id, conn, peer, tls, cmds).await;
}

/// PORT, EPRT, LPRT: connect to the client, then serve the connection.
pub(crate) async fn connect(
    env: Arc<DataEnv>,
    id: DataConnId,
    addr: SocketAddr,
    tls: bool,
    cmds: MailboxReceiver<Cmd>,
) {
    match env.server.rt.connect(addr).await {
        Ok(conn) => serve(env, id, conn, addr, tls, cmds).await,
        Err(e) => {
            let failure = match e.kind() {
                io::ErrorKind::ConnectionRefused => DataFailure::Refused,
                io::ErrorKind::TimedOut => DataFailure::TimedOut,
                _ => DataFailure::Other,
            };
            env.report(id, ServerDataEvent::Failed(failure)).await;
        }
    }
}

/// The TLS handshake of a PROT P data connection, and the session-reuse check.
///
/// The configuration is chosen once the ClientHello is in and the transfer is known: clients
/// that start TLS after the 150 reply (lftp, ftplib) have their transfer known by then;
/// clients that start it earlier (curl) get the ServerHello once their transfer command
/// arrives (at most [`DIRECTION_WAIT`] later). Uploads get a configuration that sends TLS 1.3
/// tickets only to clients that ask for them ([`DataTls`]). A transfer command taken from
/// `cmds` to decide is returned, to run first.
#[cfg(feature = "tls")]
async fn handshake(
    env: &DataEnv,
    conn: Box<dyn Conn>,
    cmds: &MailboxReceiver<Cmd>,
) -> (Result<Stream, ()>, Option<Cmd>) {
    let Some(configs) = env.tls.get().cloned() else {
        return (Err(()), None);
    };
    let failed = |e: io::Error| {
        env.server.metrics.tls_handshake(false);
        tracing::warn!(%e, "TLS handshake on a data connection failed");
    };
    let until = Instant::now() + env.server.tls_handshake_timeout;
    let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), conn);
    let start = match runtime::io_deadline(&*env.server.rt, until, hello).await {
        Ok(start) => start,
        Err(e) => {
            failed(e);
            return (Err(()), None);
        }
    };
    // Clients that start TLS before sending the transfer command (curl) get the ServerHello
    // once the command is known, or after `DIRECTION_WAIT`.
    let early = runtime::timeout_at(
        &*env.server.rt,
        Instant::now() + DIRECTION_WAIT,
        cmds.recv(),
    )
    .await
    .flatten();
    let upload = matches!(
        &early,
        Some(Cmd::Transfer(Job {
            kind: JobKind::Receive(_),
            ..
        }))
    );
    let config = if upload {
        configs.upload
    } else {
        configs.download
    };
    let tls = match runtime::io_deadline(&*env.server.rt, until, start.into_stream(config)).await {
        Ok(tls) => {
            env.server.metrics.tls_handshake(true);
            tls
        }
        Err(e) => {
            failed(e);
            return (Err(()), early);
        }
    };
    if env.server.require_reuse
        && tls.get_ref().1.handshake_kind() != Some(rustls::HandshakeKind::Resumed)
    {
        tracing::warn!("data connection did not resume the control connection's TLS session");
        return (Err(()), early);
    }
    // An upload's server sends nothing after the handshake (no ticket, see `DataTls`):
    // acknowledge the client's Finished now, or its first data waits 40 ms for it.
    tls.get_ref().0.acknowledge_now();
    (Ok(Stream::Tls(Box::new(tls))), early)
}

/// Without the `tls` feature no data connection can be protected: the session never accepts
/// PROT P (no TLS is configured), so this is not reached; should it be, the transfer fails
/// as a failed handshake does.
#[cfg(not(feature = "tls"))]
async fn handshake(
    _env: &DataEnv,
    _conn: Box<dyn Conn>,
    _cmds: &MailboxReceiver<Cmd>,
) -> (Result<Stream, ()>, Option<Cmd>) {
    (Err(()), None)
}

async fn serve(
    env: Arc<DataEnv>,
    id: DataConnId,
    conn: Box<dyn Conn>,
    peer: SocketAddr,
    tls: bool,
    cmds: MailboxReceiver<Cmd>,
) {
    let (mut stream, mut early) = if tls {
        match handshake(&env, conn, &cmds).await {
            (Ok(stream), early) => (stream, early),
            (Err(()), early) => {
                // Report the failure when the transfer command arrives, so that the session
                // answers that command with 522; reported on an idle channel it would only
                // drop the channel and the next transfer would get 425.
                let cmd = match early {
                    Some(cmd) => Some(cmd),
                    None => cmds.recv().await,
                };
                if let Some(cmd) = cmd {
                    let event = match cmd {
                        Cmd::Transfer(_) => ServerDataEvent::Failed(DataFailure::Tls),
                        Cmd::Close => ServerDataEvent::Closed,
                    };
                    env.report(id, event).await;
                }
                return;
            }
        }
    } else {
        (Stream::Plain(conn), None)
    };
    env.report(id, ServerDataEvent::Connected { peer }).await;
    loop {
        let cmd = match early.take() {
            Some(cmd) => cmd,
            None => match cmds.recv().await {
                Some(cmd) => cmd,
                None => return,
            },
        };
        match cmd {
            Cmd::Transfer(job) => {
                let op = job.op;
                let (back, outcome) = run(&env, id, stream, job).await;
                let msg = match outcome {
                    Ok(bytes) => Msg::Storage(op, Ok(StorageResponse::Transferred { bytes })),
                    Err(Failure::Storage(error)) => Msg::Storage(op, Err(error)),
                    Err(Failure::Data(failure)) => Msg::Data(id, ServerDataEvent::Failed(failure)),
                };
                let _ = env.inbox.send(msg).await;
                match back {
                    Some(back) => stream = back,
                    None => {
                        // The transfer closed the connection (an upload that ended with
                        // it) or lost it.
                        env.report(id, ServerDataEvent::Closed).await;
                        return;
                    }
                }
            }
            Cmd::Close => {
                close_gracefully(&env.server.rt, stream).await;
                env.report(id, ServerDataEvent::Closed).await;
                return;
            }
        }
    }
}

/// Why a transfer failed.
pub(super) enum Failure {
    /// The data connection broke (426) or could not carry the data.
    Data(DataFailure),
    /// Storage failed (the session picks 451, 452, 552 ...).
    Storage(StorageError),
}

pub(super) fn data_failure(e: &io::Error) -> Failure {
    tracing::debug!(%e, "data connection failed");
    Failure::Data(match e.kind() {
        io::ErrorKind::TimedOut => DataFailure::TimedOut,
        io::ErrorKind::InvalidData => DataFailure::Tls,
        _ => DataFailure::Reset,
    })
}

pub(super) fn storage_failure(e: &io::Error) -> Failure {
    tracing::debug!(%e, "storage failed during a transfer");
    Failure::Storage(storage_error(e))
}

/// Reports `Progress` at most once a second: for STAT during a transfer, and for the
/// session's stall timer, which therefore sees moving bytes to within a second. Owned, so
/// the blocking copy loops of [`super::local`] carry it to the pool.
pub(super) struct Progress {
    inbox: InboxSender,
    id: DataConnId,
    last: Instant,
    /// Bytes the transfer sent before the copy that reports now (see [`Self::sent_before`]).
    before: u64,
    /// The bandwidth limits the transfer moves under (none on the blocking pool's paths).
    throttle: Throttle,
    /// The bytes counted against the limits so far.
    paced: u64,
    rt: Arc<dyn Runtime>,
}

impl Progress {
    fn new(env: &DataEnv, id: DataConnId, throttle: Throttle) -> Self {
        Self {
            inbox: env.inbox.clone(),
            id,
            last: Instant::now(),
            before: 0,
            throttle,
            paced: 0,
            rt: Arc::clone(&env.server.rt),
        }
    }

    /// `total` bytes have moved: reports progress, and waits as long as the bandwidth limits
    /// ask for the bytes since the last call.
    pub(super) async fn moved(&mut self, total: u64) {
        self.tick(total);
        if self.throttle.is_unlimited() {
            return;
        }
        let bytes = total.saturating_sub(std::mem::replace(&mut self.paced, total));
        let wait = self.throttle.moved(bytes);
        if !wait.is_zero() {
            runtime::sleep_until(&*self.rt, Instant::now() + wait).await;
        }
    }

    /// `bytes` have moved since the start of the copy that reports now.
    pub(super) fn tick(&mut self, bytes: u64) {
        let now = Instant::now();
        if now.duration_since(self.last) >= Duration::from_secs(1) {
            self.last = now;
            let bytes = self.before + bytes;
            let _ = self
                .inbox
                .try_send(Msg::Data(self.id, ServerDataEvent::Progress { bytes }));
        }
    }

    /// The transfer had sent `bytes` before the copy that reports from now on, which counts
    /// from zero (a download from the page cache that leaves its rest to the pool's copy).
    #[cfg(target_os = "linux")]
    pub(super) fn sent_before(&mut self, bytes: u64) {
        self.before = bytes;
    }
}

/// True for the representation that is a plain copy: TYPE I or L 8, MODE S, STRU F.
fn is_plain(params: &TransferParams) -> bool {
    matches!(params.data_type, DataType::Image | DataType::Local(8))
        && params.mode == TransferMode::Stream
        && params.structure == FileStructure::File
}

/// Runs one transfer; returns the stream (unless the transfer closed it, as an upload that
/// ended with it does, or lost it) and the bytes moved over the data connection.
async fn run(
    env: &DataEnv,
    id: DataConnId,
    mut stream: Stream,
    job: Job,
) -> (Option<Stream>, Result<u64, Failure>) {
    let _running = env.server.memory.track(Load::Transfers);
    let throttle = env.throttle(matches!(job.kind, JobKind::Receive(_)));
    let paced = !throttle.is_unlimited();
    // A paced transfer moves in chunks its limits allow in a fraction of a second.
    let plain_chunk = throttle.chunk(env.server.buffers.plain_chunk());
    let encoded_chunk = throttle.chunk(env.server.buffers.encoded_chunk());
    let mut progress = Progress::new(env, id, throttle);
    let plain = is_plain(&job.params);
    // Plain TCP, plain data, no bandwidth limit: a local file may take the blocking pool's
    // fast path.
    let fast = plain && matches!(stream, Stream::Plain(_)) && !paced;
    let slot = || fast.then(|| env.server.pool_slots.try_take()).flatten();
    match job.kind {
        JobKind::Send { source, skip, size } if plain && skip == 0 => {
            let chunk = fitted(plain_chunk, size);
            #[cfg(target_os = "linux")]
            if let (Stream::Plain(conn), true) = (&mut stream, fast && env.server.sendfile_cached) {
                if let Some(start) = cached::Start::of(&*source) {
                    let (sent, slot) =
                        match cached::send(env, conn, start, chunk, &mut progress).await {
                            Ok(cached::Sent::Until { sent, slot }) => (sent, slot),
                            Ok(cached::Sent::All(sent)) => return (Some(stream), Ok(sent)),
                            Err(failure) => return (Some(stream), Err(failure)),
                        };
                    // The rest, from the first window the page cache does not hold.
                    progress.sent_before(sent);
                    let (stream, rest) = local::send(env, slot, stream, source, progress).await;
                    return (stream, rest.map(|rest| sent + rest));
                }
            }
            if let Some(slot) = source.bypass_file().and_then(|_| slot()) {
                return local::send(env, slot, stream, source, progress).await;
            }
            let last_at = size.filter(|_| !paced);
            let result = send_plain(&mut stream, source, last_at, chunk, &mut progress).await;
            (Some(stream), result)
        }
        JobKind::Send { source, skip, .. } => {
            let result = send_encoded(
                &mut stream,
                Source::File(source),
                job.params,
                skip,
                encoded_chunk,
                &mut progress,
            )
            .await;
            (Some(stream), result)
        }
        JobKind::Listing(listing) => {
            let result = send_encoded(
                &mut stream,
                Source::Listing(listing),
                job.params,
                0,
                encoded_chunk,
                &mut progress,
            )
            .await;
            (Some(stream), result)
        }
        JobKind::Receive(mut writer) => {
            if let Some(slot) = writer.bypass_file().and_then(|_| slot()) {
                return local::receive(env, slot, stream, writer, progress).await;
            }
            let ends_with_stream = job.params.mode == TransferMode::Stream;
            let received = if plain {
                let chunk = plain_chunk;
                receive_plain(&mut stream, &mut *writer, chunk, &mut progress).await
            } else {
                let chunk = encoded_chunk;
                let params = job.params;
                receive_encoded(&mut stream, &mut *writer, params, chunk, &mut progress).await
            };
            settle_upload(env, stream, writer, received, ends_with_stream).await
        }
    }
}

/// A download buffer of `chunk` bytes, or less for a file known to be smaller (at least
/// 4 KiB, so that a file that grows while it is sent still moves in sensible steps).
fn fitted(chunk: usize, size: Option<u64>) -> usize {
    const LEAST: usize = 4 << 10;
    match size {
        Some(size) => chunk.min(usize::try_from(size).unwrap_or(usize::MAX).max(LEAST)),
        None => chunk,
    }
}

/// Plain download: read the next chunk from storage while the previous one is written. The
/// chunk that brings the bytes sent to exactly `size` is the last, and is sent to leave with
/// the FIN (see [`write_chunk`]); the read after it, which finds the end of the file (or
/// what the file grew by since), comes once it is written, into its buffer. `size` is the
/// whole file's, as storage gave it; the caller passes `None` for a paced transfer. A paced
/// download, and one from a REST offset (which reaches the whole file's size only if the
/// file grew by the offset), end as before, their FIN in a segment of its own.
async fn send_plain(
    stream: &mut Stream,
    mut source: Box<dyn FileRead>,
    size: Option<u64>,
    chunk: usize,
    progress: &mut Progress,
) -> Result<u64, Failure> {
    let (mut current, n) = source.read(vec![0; chunk]).await;
    // A back end that claims more than the buffer holds is clamped, never trusted.
    let mut n = n.map_err(|e| storage_failure(&e))?.min(current.len());
    // The second buffer is made only for a chunk that is not the last: a file sent in one
    // chunk (every small file) needs none.
    let mut next = Vec::new();
    let mut total = 0u64;
    while n > 0 {
        let last = size == Some(total + n as u64);
        let write = write_chunk(stream, &current[..n], last);
        let (buf, read) = if last {
            // The chunk that ends the file as storage sized it: the read after it only
            // checks that the file did not grow, and may reuse this chunk's buffer.
            write.await.map_err(|e| data_failure(&e))?;
            source.read(current).await
        } else {
            if next.is_empty() {
                next = vec![0; chunk];
            }
            let (written, filled) = zip(write, source.read(std::mem::take(&mut next))).await;
            written.map_err(|e| data_failure(&e))?;
            next = current;
            filled
        };
        total += n as u64;
        progress.moved(total).await;
        current = buf;
        n = read.map_err(|e| storage_failure(&e))?.min(current.len());
    }
    stream.flush().await.map_err(|e| data_failure(&e))?;
    Ok(total)
}

/// Writes `bytes` of a download; its `last` bytes, on a plain connection, as bytes the FIN
/// follows ([`Conn::send_before_shutdown`]): the connection is shut down right after the
/// transfer, and a last piece smaller than a segment leaves with the FIN. A file that grew
/// past its size meanwhile loses nothing: its next bytes are sent as usual, and these with
/// them.
async fn write_chunk(stream: &mut Stream, bytes: &[u8], last: bool) -> io::Result<()> {
    let sent = match stream {
        Stream::Plain(conn) if last => conn.send_before_shutdown(bytes).transpose()?,
        _ => None,
    };
    stream.write_all(&bytes[sent.unwrap_or(0)..]).await
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
async fn fill(stream: &mut Stream, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The first chunk of an upload, and its length: read into [`FIRST_FILL`] bytes, grown to
/// `chunk` only if the stream has more. Most uploads are small, and a 1 KiB file then costs
/// 16 KiB of buffer, not two zeroed chunks.
async fn fill_first(stream: &mut Stream, chunk: usize) -> io::Result<(Vec<u8>, usize)> {
    let mut buf = vec![0; chunk.min(FIRST_FILL)];
    let mut n = fill(stream, &mut buf).await?;
    if n == buf.len() && n < chunk {
        grow_exactly(&mut buf, chunk);
        n += fill(stream, &mut buf[n..]).await?;
    }
    Ok((buf, n))
}

/// `buf` grown with zeros to `len` bytes, with room for no more: `Vec::resize` alone may
/// double the capacity, past the transfer's buffer budget.
fn grow_exactly(buf: &mut Vec<u8>, len: usize) {
    buf.reserve_exact(len.saturating_sub(buf.len()));
    buf.resize(len, 0);
}

/// How much of an upload [`fill_first`] reads before it sizes the buffer for more: one TLS
/// record's worth.
const FIRST_FILL: usize = 16 << 10;

/// Plain upload: receive the next chunk while storage writes the previous one, until the
/// stream ends. The last chunk is left for the commit ([`settle_upload`]).
async fn receive_plain(
    stream: &mut Stream,
    writer: &mut dyn FileWrite,
    chunk: usize,
    progress: &mut Progress,
) -> Result<Received, Failure> {
    let (mut current, mut n) = fill_first(stream, chunk)
        .await
        .map_err(|e| data_failure(&e))?;
    // Allocated only once the upload has outgrown one chunk.
    let mut next = Vec::new();
    let mut total = 0u64;
    while n > 0 {
        total += n as u64;
        progress.moved(total).await;
        if n < chunk {
            // The last chunk: the stream ended. It is written with the commit.
            current.truncate(n);
            return Ok(Received {
                total,
                last: current,
            });
        }
        next.resize(chunk, 0);
        let ((buf, written), read) = zip(writer.write(current), fill(stream, &mut next)).await;
        written.map_err(|e| storage_failure(&e))?;
        n = read.map_err(|e| data_failure(&e))?;
        current = std::mem::replace(&mut next, buf);
    }
    Ok(Received::all_written(total))
}

/// Commits the upload `received` describes, or aborts it if it failed; returns the data
/// connection unless this closed it.
///
/// An upload that ended with its stream (every MODE S upload: the client closes its side to
/// end the file) leaves the connection nothing more to carry. It is closed at once, while
/// storage commits ([`commit_while_closing`]), rather than after: a client that waits for the
/// close before it reads the reply (Python's ftplib waits for the TLS close_notify) is done
/// with it while the file is synced. The session answers only once both are done, so the
/// reply follows the close (RFC 959 §5.2) and says whether the file was stored.
async fn settle_upload(
    env: &DataEnv,
    stream: Stream,
    writer: Box<dyn FileWrite>,
    received: Result<Received, Failure>,
    ended_with_stream: bool,
) -> (Option<Stream>, Result<u64, Failure>) {
    match received {
        Ok(received) if ended_with_stream => {
            let close = close_gracefully(&env.server.rt, stream);
            (
                None,
                commit_while_closing(env, writer, received, close).await,
            )
        }
        received => (Some(stream), finish_upload(env, writer, received).await),
    }
}

/// What an upload's data connection delivered: how many bytes, and the last of them, not
/// written yet (the writer stores them with its commit).
pub(super) struct Received {
    pub(super) total: u64,
    pub(super) last: Vec<u8>,
}

impl Received {
    /// `total` bytes, every one of them already written.
    pub(super) fn all_written(total: u64) -> Self {
        Self {
            total,
            last: Vec::new(),
        }
    }
}

/// Writes an upload's last bytes and commits it, once every byte has arrived and the session
/// has caught up with the control connection (see [`DataEnv::control_caught_up`]); aborts it
/// on any failure.
pub(super) async fn finish_upload(
    env: &DataEnv,
    writer: Box<dyn FileWrite>,
    result: Result<Received, Failure>,
) -> Result<u64, Failure> {
    match result {
        Ok(received) => commit_received(env.control_caught_up().await, writer, received).await,
        Err(failure) => {
            writer.abort().await;
            Err(failure)
        }
    }
}

/// [`finish_upload`] for an upload whose data connection ended with it: the connection is
/// closed by `close` while storage commits. Whether the session caught up with the control
/// connection is settled before the close starts, as it was when the close came after the
/// commit: a client that closes its control connection as soon as it sees the data
/// connection close still has its upload committed.
pub(super) async fn commit_while_closing(
    env: &DataEnv,
    writer: Box<dyn FileWrite>,
    received: Received,
    close: impl Future<Output = ()>,
) -> Result<u64, Failure> {
    let caught_up = env.control_caught_up().await;
    let ((), result) = zip(close, commit_received(caught_up, writer, received)).await;
    result
}

/// Commits `received` if the session had caught up with the control connection; aborts it
/// otherwise (the session is ending).
async fn commit_received(
    caught_up: bool,
    writer: Box<dyn FileWrite>,
    received: Received,
) -> Result<u64, Failure> {
    if !caught_up {
        writer.abort().await;
        return Err(Failure::Data(DataFailure::Other));
    }
    match writer.write_and_commit(received.last).await {
        Ok(()) => Ok(received.total),
        Err(e) => Err(Failure::Storage(e)),
    }
}

enum Source {
    File(Box<dyn FileRead>),
    /// Already NVT-ASCII with CRLF: no TYPE encoding.
    Listing(Box<dyn FileRead>),
}

enum ModeEncoder {
    Stream,
    Block(BlockEncoder),
    Compressed(Box<CompressedEncoder>),
}

/// Writes `data` through the MODE encoder to the stream.
async fn write_moded(
    stream: &mut Stream,
    mode: &mut ModeEncoder,
    data: &[u8],
    out: &mut [u8],
) -> Result<(), Failure> {
    let mut pos = 0;
    while pos < data.len() {
        let step = match mode {
            ModeEncoder::Stream => {
                return stream
                    .write_all(&data[pos..])
                    .await
                    .map_err(|e| data_failure(&e));
            }
            ModeEncoder::Block(encoder) => encoder.encode(&data[pos..], out),
            ModeEncoder::Compressed(encoder) => encoder.encode(&data[pos..], out),
        };
        if step.consumed == 0 && step.written == 0 {
            return Err(Failure::Data(DataFailure::Other));
        }
        pos += step.consumed;
        stream
            .write_all(&out[..step.written])
            .await
            .map_err(|e| data_failure(&e))?;
    }
    Ok(())
}

/// Skips what is left of the REST offset, then writes the rest through the MODE encoder;
/// returns the bytes that counted.
async fn emit(
    stream: &mut Stream,
    mode: &mut ModeEncoder,
    skip: &mut u64,
    data: &[u8],
    out: &mut [u8],
) -> Result<u64, Failure> {
    let k = usize::try_from(*skip).unwrap_or(usize::MAX).min(data.len());
    *skip -= k as u64;
    let data = &data[k..];
    write_moded(stream, mode, data, out).await?;
    Ok(data.len() as u64)
}

/// The download pipeline after storage: TYPE encoder (none for listings, which are already
/// NVT-ASCII with CRLF) → skip the REST offset → MODE encoder → stream, with its buffers.
struct SendPipeline {
    type_encoder: Option<TypeEncoder>,
    mode: ModeEncoder,
    skip: u64,
    mid: Vec<u8>,
    out: Vec<u8>,
}

impl SendPipeline {
    fn new(
        params: &TransferParams,
        listing: bool,
        skip: u64,
        chunk: usize,
    ) -> Result<Self, Failure> {
        let unsupported = |_| Failure::Storage(StorageErrorKind::Unsupported.into());
        let type_encoder = match listing {
            true => None,
            false => {
                Some(TypeEncoder::new(params.data_type, LOCAL_LINE_ENDING).map_err(unsupported)?)
            }
        };
        let mode = match params.mode {
            TransferMode::Block => ModeEncoder::Block(BlockEncoder::default()),
            TransferMode::Compressed => {
                ModeEncoder::Compressed(Box::new(CompressedEncoder::new(params.data_type)))
            }
            _ => ModeEncoder::Stream,
        };
        Ok(Self {
            type_encoder,
            mode,
            skip,
            mid: vec![0u8; 2 * chunk + 16],
            out: vec![0u8; 2 * chunk + 1024],
        })
    }

    /// Sends `data` through the pipeline; returns the bytes that counted (after the skip).
    async fn send(&mut self, stream: &mut Stream, data: &[u8]) -> Result<u64, Failure> {
        let mut total = 0;
        let mut pos = 0;
        while pos < data.len() {
            let (consumed, written) = match &mut self.type_encoder {
                Some(encoder) => {
                    let step = encoder.encode(&data[pos..], &mut self.mid);
                    (step.consumed, step.written)
                }
                None => {
                    let k = data.len() - pos;
                    self.mid[..k].copy_from_slice(&data[pos..]);
                    (k, k)
                }
            };
            if consumed == 0 && written == 0 {
                return Err(Failure::Data(DataFailure::Other));
            }
            pos += consumed;
            let mid = &self.mid[..written];
            total += emit(stream, &mut self.mode, &mut self.skip, mid, &mut self.out).await?;
        }
        Ok(total)
    }

    /// The end of the file: what the TYPE encoder held back, then the MODE trailer (the EOF
    /// marker); returns the bytes that counted.
    async fn finish(&mut self, stream: &mut Stream) -> Result<u64, Failure> {
        let mut total = 0;
        while let Some(encoder) = &mut self.type_encoder {
            let finish = encoder.finish(&mut self.mid);
            let mid = &self.mid[..finish.written];
            total += emit(stream, &mut self.mode, &mut self.skip, mid, &mut self.out).await?;
            if finish.done {
                break;
            }
        }
        loop {
            let finish = match &mut self.mode {
                ModeEncoder::Stream => break,
                ModeEncoder::Block(encoder) => encoder.finish(&mut self.out),
                ModeEncoder::Compressed(encoder) => encoder.finish(&mut self.out),
            };
            let trailer = &self.out[..finish.written];
            stream
                .write_all(trailer)
                .await
                .map_err(|e| data_failure(&e))?;
            if finish.done {
                break;
            }
        }
        Ok(total)
    }
}

/// TYPE A and/or MODE B/C download (and every listing): storage bytes through a
/// [`SendPipeline`] to the stream.
async fn send_encoded(
    stream: &mut Stream,
    source: Source,
    params: TransferParams,
    skip: u64,
    chunk: usize,
    progress: &mut Progress,
) -> Result<u64, Failure> {
    let (mut file, listing) = match source {
        Source::File(file) => (file, false),
        Source::Listing(listing) => (listing, true),
    };
    let mut pipeline = SendPipeline::new(&params, listing, skip, chunk)?;
    let mut input = vec![0u8; chunk];
    let mut total = 0u64;
    loop {
        let (buf, n) = file.read(input).await;
        input = buf;
        let n = n.map_err(|e| storage_failure(&e))?.min(input.len());
        if n == 0 {
            break;
        }
        total += pipeline.send(stream, &input[..n]).await?;
        progress.moved(total).await;
    }
    total += pipeline.finish(stream).await?;
    stream.flush().await.map_err(|e| data_failure(&e))?;
    Ok(total)
}

enum ModeDecoder {
    Stream,
    Block(BlockDecoder),
    Compressed(CompressedDecoder),
}

/// The upload pipeline before storage: MODE decoder (to its EOF marker) → TYPE decoder →
/// bytes pending for storage, with its buffers.
struct ReceivePipeline {
    type_decoder: TypeDecoder,
    mode: ModeDecoder,
    mid: Vec<u8>,
    decoded: Vec<u8>,
    /// Decoded bytes not yet written to storage.
    pending: Vec<u8>,
}

impl ReceivePipeline {
    fn new(params: &TransferParams, chunk: usize) -> Result<Self, Failure> {
        let type_decoder = TypeDecoder::new(params.data_type, LOCAL_LINE_ENDING)
            .map_err(|_| Failure::Storage(StorageErrorKind::Unsupported.into()))?;
        let mode = match params.mode {
            TransferMode::Block => ModeDecoder::Block(BlockDecoder::default()),
            TransferMode::Compressed => {
                ModeDecoder::Compressed(CompressedDecoder::new(params.data_type))
            }
            _ => ModeDecoder::Stream,
        };
        Ok(Self {
            type_decoder,
            mode,
            mid: vec![0u8; chunk],
            decoded: vec![0u8; chunk],
            pending: Vec::with_capacity(2 * chunk),
        })
    }

    /// Decodes the front of `input` into `pending`: how many bytes it took and whether the
    /// MODE's EOF marker came; `None` when the MODE decoder needs more input first.
    fn decode(&mut self, input: &[u8]) -> Result<Option<(usize, bool)>, Failure> {
        let bad = |_| Failure::Data(DataFailure::Other);
        let (consumed, written, event) = match &mut self.mode {
            ModeDecoder::Stream => {
                self.mid[..input.len()].copy_from_slice(input);
                (input.len(), input.len(), None)
            }
            ModeDecoder::Block(d) => {
                let step = d.decode(input, &mut self.mid).map_err(bad)?;
                if !step.made_progress() {
                    return Ok(None);
                }
                (step.consumed, step.written, step.event)
            }
            ModeDecoder::Compressed(d) => {
                let step = d.decode(input, &mut self.mid).map_err(bad)?;
                if !step.made_progress() {
                    return Ok(None);
                }
                (step.consumed, step.written, step.event)
            }
        };
        // TYPE step: data bytes → local bytes. Restart markers, suspect flags and record ends
        // carry nothing to store.
        let mut p = 0;
        while p < written {
            let step = self
                .type_decoder
                .decode(&self.mid[p..written], &mut self.decoded);
            if step.consumed == 0 && step.written == 0 {
                return Err(Failure::Data(DataFailure::Other));
            }
            p += step.consumed;
            self.pending
                .extend_from_slice(&self.decoded[..step.written]);
        }
        Ok(Some((consumed, event == Some(WireEvent::EndOfFile))))
    }

    /// The data connection ended: the end of the file in MODE S; in MODE B and C, before the
    /// EOF marker, so the upload was cut short.
    fn end_of_stream(&mut self) -> Result<(), Failure> {
        let bad = |_| Failure::Data(DataFailure::Other);
        match &mut self.mode {
            ModeDecoder::Stream => return Ok(()),
            ModeDecoder::Block(d) => d.finish(&mut self.mid).map_err(bad)?,
            ModeDecoder::Compressed(d) => d.finish(&mut self.mid).map_err(bad)?,
        };
        Err(Failure::Data(DataFailure::Other))
    }

    /// What is left for storage once the file ended: the pending bytes and what the TYPE
    /// decoder held back.
    fn finish(mut self) -> Vec<u8> {
        loop {
            let finish = self.type_decoder.finish(&mut self.decoded);
            self.pending
                .extend_from_slice(&self.decoded[..finish.written]);
            if finish.done {
                return self.pending;
            }
        }
    }
}

/// TYPE A and/or MODE B/C upload: stream → [`ReceivePipeline`] → storage, until the stream
/// ends (MODE S) or the EOF marker comes (MODE B, C). What the pipeline still holds is left
/// for the commit ([`settle_upload`]), which happens only if everything decoded cleanly.
async fn receive_encoded(
    stream: &mut Stream,
    writer: &mut dyn FileWrite,
    params: TransferParams,
    chunk: usize,
    progress: &mut Progress,
) -> Result<Received, Failure> {
    let mut pipeline = ReceivePipeline::new(&params, chunk)?;
    let mut input = vec![0u8; chunk];
    let mut total = 0u64;
    let mut ended = false;
    while !ended {
        let n = stream
            .read(&mut input)
            .await
            .map_err(|e| data_failure(&e))?;
        total += n as u64;
        progress.moved(total).await;
        if n == 0 {
            pipeline.end_of_stream()?;
            break;
        }
        let mut pos = 0;
        while !ended && pos < n {
            let Some((consumed, eof)) = pipeline.decode(&input[pos..n])? else {
                break;
            };
            (pos, ended) = (pos + consumed, eof);
            if pipeline.pending.len() >= chunk {
                let (mut buf, written) = writer.write(std::mem::take(&mut pipeline.pending)).await;
                written.map_err(|e| storage_failure(&e))?;
                buf.clear();
                pipeline.pending = buf;
            }
        }
    }
    Ok(Received {
        total,
        last: pipeline.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::{bind_ephemeral, ephemeral_ports, grow_exactly, parse_port_range};
    use super::{BufferBudget, FIRST_FILL};

    #[test]
    fn the_system_port_range_is_read_strictly() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("1024 1024"), Some(1024..=1024));
        for bad in [
            "",
            "32768",
            "60999 32768",
            "0 100",
            "1 2 3",
            "x 5",
            "1 70000",
        ] {
            assert_eq!(parse_port_range(bad), None, "{bad:?}");
        }
    }

    /// A passive listener without a configured range gets a port of the system's ephemeral
    /// range, and two listeners never share one.
    #[test]
    fn passive_listeners_bind_distinct_ephemeral_ports() {
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let first = bind_ephemeral(ip).unwrap();
        let second = bind_ephemeral(ip).unwrap();
        for (listener, addr) in [&first, &second] {
            assert_eq!(listener.local_addr().unwrap(), *addr);
        }
        let ports = [first.1.port(), second.1.port()];
        assert_ne!(ports[0], ports[1]);
        for port in ports {
            assert!(ephemeral_ports().contains(&port), "{port}");
        }
    }

    /// What each copy path allocates from the budget never exceeds it.
    #[test]
    fn every_path_stays_within_the_budget() {
        for bytes in [0, 1, 16 << 10, 100_000, 256 << 10, 2 << 20] {
            let budget = BufferBudget::new(bytes);
            let total = budget.0;
            assert!(total >= 16 << 10);
            assert!(2 * budget.plain_chunk() <= total, "{bytes}");
            let c = budget.encoded_chunk();
            assert!(c > 0);
            // send_encoded: input, TYPE output (2c + 16), MODE output (2c + 1024).
            assert!(c + (2 * c + 16) + (2 * c + 1024) <= total, "{bytes}");
            // receive_encoded: input, MODE output, TYPE output, pending (2c).
            assert!(3 * c + 2 * c <= total, "{bytes}");
            assert_eq!(budget.local_chunk(), total);
        }
        assert_eq!(BufferBudget::DEFAULT.0, 256 << 10);
    }

    #[test]
    fn an_upload_buffer_grows_to_its_chunk_and_no_further() {
        for budget in [40_000, 100_000, 256 << 10] {
            let chunk = BufferBudget::new(budget).plain_chunk();
            let mut buf = vec![7u8; FIRST_FILL.min(chunk)];
            grow_exactly(&mut buf, chunk);
            assert_eq!((buf.len(), buf.capacity()), (chunk, chunk), "{budget}");
            assert!(buf[..FIRST_FILL.min(chunk)].iter().all(|&b| b == 7));
            assert!(buf[FIRST_FILL.min(chunk)..].iter().all(|&b| b == 0));
        }
    }
}
