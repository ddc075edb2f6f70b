//! The [`Server`] builder, the accept loops, limits and graceful shutdown.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener as StdListener};
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use ftp_proto::server::{AnonymousPolicy, ServerConfig, ServerEvent, TlsPolicy};
use futures_lite::future::poll_fn;

use crate::auth::{Anonymous, Authenticator, NoUsers};
use crate::bans::{BanPolicy, Bans, ConnectionRate};
use crate::driver::data::BufferBudget;
use crate::driver::local::PoolSlots;
use crate::driver::run_session;
use crate::driver::Refusal;
use crate::memory::{Load, LoadGuard, MemoryRelease};
use crate::metrics::{Metrics, RefusedBecause};
use crate::pool::BlockingPool;
use crate::proxy::{self, NoClientAddress, ProxyProtocol};
use crate::runtime::{self, Conn, Listener, Runtime};
#[cfg(feature = "async-std")]
use crate::storage::BoxFuture;
use crate::storage::Storage;
use crate::throttle::RateLimiter;
#[cfg(feature = "tls")]
use crate::tls::TlsConfig;

/// An audit event of one session, for logs and metrics ([`Server::on_event`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SessionEvent<'a> {
    /// The session's number (unique per server, from 1).
    pub session: u64,
    /// The client's address (from the PROXY protocol header behind a load balancer).
    pub peer: SocketAddr,
    /// The logged-in user's name; `None` before a login succeeds (and after REIN or a new
    /// USER).
    pub user: Option<&'a [u8]>,
    /// For the end of a transfer (completed, failed, interrupted): how long it ran since its
    /// start (the 150/125 reply).
    pub elapsed: Option<Duration>,
    /// What happened: a connection, a command, a reply code of 4xx or 5xx, a login (or failed
    /// attempt), TLS, a transfer started, completed (with its byte count) or failed, the end.
    pub event: &'a ServerEvent,
}

type EventHook = Arc<dyn Fn(&SessionEvent<'_>) + Send + Sync>;
type Configure = Box<dyn FnOnce(&mut ServerConfig) + Send>;

/// An FTP/FTPS server: a builder of listen addresses, storage, authentication, limits and TLS,
/// started on a runtime.
///
/// ```no_run
/// # #[cfg(feature = "tokio")]
/// # async fn example() -> std::io::Result<()> {
/// use ftp_server::auth::Anonymous;
/// use ftp_server::storage::FsStorage;
/// use ftp_server::Server;
///
/// let server = Server::new(FsStorage::new("/srv/ftp")?)
///     .listen("127.0.0.1:2121".parse().unwrap())
///     .anonymous(Anonymous::read_only())
///     .start_tokio()
///     .await?;
/// println!("listening on {:?}", server.local_addrs());
/// server.wait().await;
/// # Ok(())
/// # }
/// ```
///
/// Every limit has a safe default: 512 sessions in total and 32 per client address, 3 login
/// attempts (each failure answered after a second), 5 minutes idle, 60 seconds for data
/// connections, 8 KiB command lines, 30 seconds for transfers to finish on shutdown.
pub struct Server {
    listen: Vec<SocketAddr>,
    implicit: Vec<SocketAddr>,
    storage: Arc<dyn Storage>,
    auth: Arc<dyn Authenticator>,
    anonymous: Option<Anonymous>,
    #[cfg(feature = "tls")]
    tls: Option<TlsConfig>,
    #[cfg(feature = "tls")]
    require_reuse: bool,
    passive_ports: Option<RangeInclusive<u16>>,
    max_sessions: usize,
    max_sessions_per_ip: usize,
    ban: Option<BanPolicy>,
    connection_rate: Option<ConnectionRate>,
    proxy_protocol: Option<ProxyProtocol>,
    upload_rate: Option<u64>,
    download_rate: Option<u64>,
    splice: bool,
    sendfile: bool,
    sendfile_cached: bool,
    pool_transfers: usize,
    #[cfg(feature = "tls")]
    tls_handshake_timeout: Duration,
    buffers: BufferBudget,
    release_memory: bool,
    events: Option<EventHook>,
    shutdown_message: String,
    config: ServerConfig,
    configure: Vec<Configure>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listen)
            .field("implicit_tls_listen", &self.implicit)
            .field("anonymous", &self.anonymous)
            .field("tls", &self.tls_enabled())
            .field("passive_ports", &self.passive_ports)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server over `storage`, with no listen address yet, no users ([`NoUsers`]), no
    /// anonymous access and no TLS.
    pub fn new(storage: impl Storage) -> Self {
        let config = ServerConfig {
            failed_login_delay: Duration::from_secs(1),
            block_mode: true,
            compressed_mode: true,
            record_structure: false,
            ..ServerConfig::default()
        };
        Self {
            listen: Vec::new(),
            implicit: Vec::new(),
            storage: Arc::new(storage),
            auth: Arc::new(NoUsers),
            anonymous: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "tls")]
            require_reuse: false,
            passive_ports: None,
            max_sessions: 512,
            max_sessions_per_ip: 32,
            ban: None,
            connection_rate: None,
            proxy_protocol: None,
            upload_rate: None,
            download_rate: None,
            splice: false,
            sendfile: false,
            sendfile_cached: true,
            pool_transfers: 64,
            #[cfg(feature = "tls")]
            tls_handshake_timeout: Duration::from_secs(30),
            buffers: BufferBudget::DEFAULT,
            release_memory: true,
            events: None,
            shutdown_message: "Server shutting down.".into(),
            config,
            configure: Vec::new(),
        }
    }

    /// Also listens on `addr` (IPv4 or IPv6; port 0 picks a free port, see
    /// [`RunningServer::local_addrs`]). Plain FTP, and explicit FTPS (AUTH TLS) when
    /// [`Server::tls`] is set. On Linux `[::]` accepts IPv4 too: listen on it alone rather than
    /// beside `0.0.0.0` on the same port.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push(addr);
        self
    }

    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    /// Also listens on `addr` for implicit FTPS (TLS from the first byte, traditionally port
    /// 990). Needs [`Server::tls`].
    pub fn implicit_tls_listen(mut self, addr: SocketAddr) -> Self {
        self.implicit.push(addr);
        self
    }

    /// Checks logins with `auth` (for example a [`crate::auth::UserTable`]).
    pub fn authenticator(mut self, auth: impl Authenticator) -> Self {
        self.auth = Arc::new(auth);
        self
    }

    /// Lets `anonymous` and `ftp` log in with any password.
    pub fn anonymous(mut self, anonymous: Anonymous) -> Self {
        self.anonymous = Some(anonymous);
        self
    }

    /// The 220 greeting (a `\n` makes it multi-line).
    pub fn banner(mut self, banner: impl Into<String>) -> Self {
        self.config.banner = banner.into();
        self
    }

    /// Passive listeners bind a random free port of this range (default: a random port of the
    /// system's ephemeral range, `/proc/sys/net/ipv4/ip_local_port_range` on Linux). Open the
    /// range in the firewall.
    pub fn passive_ports(mut self, ports: RangeInclusive<u16>) -> Self {
        self.passive_ports = Some(ports);
        self
    }

    /// The address written into PASV (227) replies, for servers behind NAT; by default the
    /// control connection's local address.
    pub fn passive_address(mut self, ip: IpAddr) -> Self {
        self.config.passive_address = Some(ip);
        self
    }

    /// Accepts PORT, EPRT and LPRT (default: yes). Active connections only ever go to the
    /// control connection's peer and never to ports below 1024 (no FTP bounce).
    pub fn active_mode(mut self, enabled: bool) -> Self {
        self.config.active_mode = enabled;
        self
    }

    /// At most this many sessions at once (default 512); more get `421` and are closed.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// At most this many sessions from one client address (default 32).
    pub fn max_sessions_per_ip(mut self, max: usize) -> Self {
        self.max_sessions_per_ip = max;
        self
    }

    /// Bans across sessions (default: off): a client address whose failed logins reach
    /// `policy.failures` within `policy.window` gets `421` on every new connection for
    /// `policy.ban_for`, whatever the session it failed in. Each ban is logged (`tracing`,
    /// warn). See [`crate::bans`].
    pub fn ban(mut self, policy: BanPolicy) -> Self {
        self.ban = Some(policy);
        self
    }

    /// Limits how fast one client address may open connections (default: no limit): past
    /// `rate.connections` within `rate.window`, connections get `421` until the rate falls
    /// (refused attempts count too). Logged and counted ([`crate::metrics`]).
    pub fn connection_rate(mut self, rate: ConnectionRate) -> Self {
        self.connection_rate = Some(rate);
        self
    }

    /// Serves behind TCP load balancers that send the PROXY protocol (default: off): the
    /// client address their header carries becomes the session's address, on control and
    /// passive data connections; connections from addresses the policy does not trust are
    /// refused unless it allows direct connections. Behind a balancer, also set
    /// [`Server::passive_address`] to the balancer's address and forward each node's
    /// [`Server::passive_ports`] to it. See [`crate::proxy`].
    pub fn proxy_protocol(mut self, policy: ProxyProtocol) -> Self {
        self.proxy_protocol = Some(policy);
        self
    }

    /// All uploads of all sessions together move at most `bytes_per_second` (default: no
    /// limit), on top of each user's own limit ([`crate::auth::UserLimits`]). Paced
    /// transfers move in small chunks and leave the zero-copy paths.
    pub fn upload_rate(mut self, bytes_per_second: u64) -> Self {
        self.upload_rate = Some(bytes_per_second);
        self
    }

    /// All downloads and listings of all sessions together move at most `bytes_per_second`
    /// (default: no limit), on top of each user's own limit.
    pub fn download_rate(mut self, bytes_per_second: u64) -> Self {
        self.download_rate = Some(bytes_per_second);
        self
    }

    /// Failed logins allowed per session (default 3); the last gets `421` and the connection
    /// closes.
    pub fn max_login_attempts(mut self, attempts: u32) -> Self {
        self.config.max_login_attempts = attempts.max(1);
        self
    }

    /// How long a failed login waits before its `530` (default 1 s).
    pub fn failed_login_delay(mut self, delay: Duration) -> Self {
        self.config.failed_login_delay = delay;
        self
    }

    /// Closes sessions idle this long (default 5 minutes; `None`: never). A running transfer is
    /// never idle.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Closes sessions that have not logged in this long after the greeting (or after REIN),
    /// however busy the client keeps them (default 2 minutes; `None`: never): `421`.
    pub fn login_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.login_timeout = timeout;
        self
    }

    /// How long data connections may take to be established or closed (default 60 s).
    pub fn data_timeout(mut self, timeout: Duration) -> Self {
        self.config.data_timeout = timeout;
        self
    }

    /// How long a running transfer may move no byte before it gets `426` and its data
    /// connection is closed (default 5 minutes; `None`: never). This frees the session, the
    /// buffers and the descriptors of a client that stops reading a download or sending an
    /// upload; an upload cut off this way is discarded.
    pub fn stall_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.stall_timeout = timeout;
        self
    }

    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    /// How long a TLS handshake may take, on control connections (implicit FTPS and AUTH TLS)
    /// and on data connections (default 30 s). A control connection whose handshake times out
    /// is closed; a data connection's gets `522` or `425` for its transfer.
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.tls_handshake_timeout = timeout;
        self
    }

    /// The longest command line (default 8 KiB); a longer one is answered `500`.
    pub fn max_line_len(mut self, len: usize) -> Self {
        self.config.line.max_line_len = len.max(16);
        self
    }

    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    /// Enables FTPS with this certificate: AUTH TLS on every [`Server::listen`] address, and
    /// the [`Server::implicit_tls_listen`] addresses.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    /// Refuses USER (534) before AUTH TLS, except for anonymous logins.
    pub fn require_tls_for_login(mut self, required: bool) -> Self {
        self.config.tls.require_for_login = required;
        self
    }

    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    /// Refuses transfers (521) on unprotected data connections (PROT C).
    pub fn require_tls_for_data(mut self, required: bool) -> Self {
        self.config.tls.require_for_data = required;
        self
    }

    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    /// Refuses (522) a protected data connection whose TLS handshake does not resume the TLS
    /// session of its control connection, like vsftpd's `require_ssl_reuse`: proof that the
    /// data connection comes from the client that logged in, not from someone who raced it to
    /// the passive port. curl and lftp resume; Python's ftplib does not.
    ///
    /// With TLS 1.3 a data connection resumes by presenting a session ticket, and clients
    /// spend tickets differently (see [`crate::TlsConfig`] for the ticket policy): lftp,
    /// Python's `ssl` and ftp-client can do any number of transfers in any order; rustls
    /// clients that do not ask for tickets (RFC 9149), 8 uploads per session; curl, which
    /// uses a TLS 1.3 session once and gets no new one on an upload (sending it one would
    /// risk the upload's tail), nothing after an upload in the same curl run. With TLS 1.2
    /// (`curl --tls-max 1.2`) there are no such limits.
    pub fn require_tls_session_reuse(mut self, required: bool) -> Self {
        self.require_reuse = required;
        self
    }

    /// How long running transfers may go on after [`ShutdownHandle::shutdown`] (default 30 s);
    /// then they get `426` and every session `421`.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// The text of the `421` sessions get on shutdown.
    pub fn shutdown_message(mut self, message: impl Into<String>) -> Self {
        self.shutdown_message = message.into();
        self
    }

    /// Moves plain binary uploads (TYPE I, MODE S, no TLS) into local files
    /// ([`crate::storage::FsStorage`]) with `splice(2)` on Linux, so their bytes never pass
    /// through user space (default: no). Without it such uploads are copied on the blocking
    /// pool through the transfer buffer (see [`Server::pool_transfers`]). In `server_loopback`
    /// splicing used less CPU but was not faster than that copy, and on a machine busy with
    /// other work it sometimes crawled (300 MB/s, 2.6 CPU seconds per GiB), so it is not the
    /// default.
    pub fn splice(mut self, enabled: bool) -> Self {
        self.splice = enabled;
        self
    }

    /// Sends plain binary downloads of local files with `sendfile(2)` on the blocking pool
    /// (Linux; default: no), instead of copying them through the transfer buffer. This covers
    /// the downloads that [`Server::sendfile_cached`] leaves to the pool: files not in the
    /// page cache when they start. Over loopback it has measured from a third slower than the
    /// copy to a tenth faster, from one machine and day to another (the receiver copies out of
    /// the page cache's pages itself; `server_loopback` shows both).
    pub fn sendfile(mut self, enabled: bool) -> Self {
        self.sendfile = enabled;
        self
    }

    /// Sends plain binary downloads (TYPE I, MODE S, no TLS, no bandwidth limit) of local
    /// files whose pages are in the page cache with `sendfile(2)` from the session's own task
    /// (Linux 6.5 and later, which report the cache with `cachestat(2)`; default: yes). Such a
    /// download holds no transfer buffer and no pool thread, and the server copies none of
    /// its bytes: in `server_load` (300 concurrent 10 MB downloads) the server's CPU per GB
    /// fell to under half of the copy's, and the MB/s rose. Each 1 MiB window is checked
    /// before it is sent, and again after each wait for the client, so a page that is not in
    /// memory never stalls the runtime: from the first window the cache does not hold whole,
    /// the rest of the download is copied (by the pool's copy, [`Server::pool_transfers`],
    /// when it has room, else read on the blocking pool through the transfer buffer), and a
    /// download whose first window is not cached is copied from the start. Files on other
    /// than local file systems (ext2/3/4, XFS, Btrfs, F2FS, tmpfs, overlayfs) are copied
    /// too, as are files the kernel will not report on (recent kernels refuse to for a file
    /// the server may neither write nor owns), and every download while the process lets
    /// `SIGPIPE` end it (`sendfile(2)` cannot be told not to raise it; Rust programs ignore
    /// it unless told otherwise). The bytes sent this way are counted in
    /// [`crate::metrics::MetricsSnapshot::bytes_sent_from_page_cache`]. `false` copies every
    /// download.
    pub fn sendfile_cached(mut self, enabled: bool) -> Self {
        self.sendfile_cached = enabled;
        self
    }

    /// How many plain binary transfers of local files (TYPE I, MODE S, no TLS, over
    /// [`crate::storage::FsStorage`]) may run at once on the blocking pool, the fast path
    /// (default: 64). Each holds a pool thread for its whole length, and the pool also runs
    /// every session's storage and authentication calls; transfers beyond the bound run on
    /// the async path, which takes a pool thread per chunk only. 0 turns the fast path off.
    pub fn pool_transfers(mut self, limit: usize) -> Self {
        self.pool_transfers = limit;
        self
    }

    /// The memory each running transfer may take for its buffers (default 256 KiB, at least
    /// 16 KiB), whatever path it takes; so the server's transfer memory is at most this times
    /// the number of transfers running at once (bounded by [`Server::max_sessions`]). TLS
    /// record buffers come on top (about 34 KiB a data connection). More than 256 KiB buys
    /// speed on fast links: 2 MiB moved loopback downloads a third faster in
    /// `benches/benches/server_loopback.rs`.
    pub fn transfer_buffer(mut self, bytes: usize) -> Self {
        self.buffers = BufferBudget::new(bytes);
        self
    }

    /// Gives freed memory back to the operating system when load falls (default: yes): each
    /// time the running sessions, or the running transfers, fall to half their highest count
    /// since the last time, the server calls glibc's `malloc_trim(0)` on the blocking pool,
    /// and twice more, 15 and 30 s after the last such fall, once each runtime thread has
    /// handed the small blocks glibc caches for it back to the heap. glibc otherwise keeps a
    /// process resident near its peak after a burst (2,000 sessions come and gone left 20 MB
    /// where 5 MB were in use).
    ///
    /// For the whole process, when the server starts, it also fixes glibc's mmap threshold at
    /// 1 MiB and its trim threshold at 128 KiB, so that large blocks (an Argon2id check's
    /// 19 MiB) are unmapped when freed instead of splitting and filling the allocator's heaps
    /// (900 logins had left 3.9 GB resident with 42 MB in use), and caps glibc's heaps at two
    /// per CPU. `benches/benches/server_load.rs` measures the result: the server's memory a
    /// minute after a load. Elsewhere than glibc it does nothing; see also
    /// [`crate::release_memory_now`].
    pub fn release_memory(mut self, enabled: bool) -> Self {
        self.release_memory = enabled;
        self
    }

    /// Calls `hook` for every audit event of every session (on the session's task: keep it
    /// quick). The same events go to `tracing` (target `ftp_server`).
    pub fn on_event(mut self, hook: impl Fn(&SessionEvent<'_>) + Send + Sync + 'static) -> Self {
        self.events = Some(Arc::new(hook));
        self
    }

    /// Adjusts anything else of the protocol core's [`ServerConfig`] (SYST text, MLST facts,
    /// HOST names, ...), after the builder's own settings. What this driver cannot do stays
    /// off whatever is set here: CCC (and so REIN under explicit TLS, which gets 502), HASH,
    /// STRU R and application SITE commands.
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig) + Send + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// Binds every address and starts accepting on the tokio runtime this is called from
    /// (panics outside one). The runtime needs its I/O and time drivers
    /// (`Builder::enable_all`, which `#[tokio::main]` does).
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub async fn start_tokio(self) -> io::Result<RunningServer> {
        self.start(Arc::new(runtime::tokio::TokioRuntime::current()))
    }

    /// Binds every address and starts accepting on the async-io reactor shared by async-std
    /// and smol, with tasks on small built-in executors: one thread per CPU, each with its own
    /// tasks (sessions are dealt to them in turn, and each stays on its thread). Works from
    /// any executor (or `async_io::block_on`).
    #[cfg(feature = "async-std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
    pub async fn start_async_io(self) -> io::Result<RunningServer> {
        self.start(Arc::new(runtime::async_io::AsyncIoRuntime::global()))
    }

    /// Like [`Server::start_async_io`], with tasks spawned by `spawn` on the application's own
    /// executor, for example `|task| smol::spawn(task).detach()` or
    /// `|task| { async_std::task::spawn(task); }`.
    #[cfg(feature = "async-std")]
    #[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
    pub async fn start_async_io_with(
        self,
        spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static,
    ) -> io::Result<RunningServer> {
        self.start(Arc::new(runtime::async_io::AsyncIoRuntime::with_spawner(
            spawn,
        )))
    }

    /// True when FTPS is configured ([`Server::tls`]); never without the `tls` feature.
    fn tls_enabled(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    #[cfg_attr(not(any(feature = "tokio", feature = "async-std")), allow(dead_code))]
    fn start(mut self, rt: Arc<dyn Runtime>) -> io::Result<RunningServer> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
        if self.listen.is_empty() && self.implicit.is_empty() {
            return Err(invalid("no listen address"));
        }
        if !self.implicit.is_empty() && !self.tls_enabled() {
            return Err(invalid("implicit FTPS needs a TLS configuration"));
        }
        let config = self.session_config();
        let listeners = self.bind(&*rt)?;
        let (plain, implicit): (Vec<_>, Vec<_>) = listeners.iter().partition(|l| !l.implicit);
        let plain: Vec<SocketAddr> = plain.into_iter().map(|l| l.local).collect();
        let implicit: Vec<SocketAddr> = implicit.into_iter().map(|l| l.local).collect();
        let (stop_tx, stop_rx) = async_channel::bounded(1);
        let (done_tx, done_rx) = async_channel::bounded(1);
        let shared = Arc::new(self.into_shared(Arc::clone(&rt), config, stop_tx.clone(), stop_rx));
        for bound in listeners {
            let task = accept_loop(
                Arc::clone(&shared),
                bound.listener,
                bound.implicit,
                done_tx.clone(),
            );
            rt.spawn(Box::pin(task));
        }
        tracing::info!(listen = ?plain, implicit_tls = ?implicit, "FTP server started");
        Ok(RunningServer {
            plain,
            #[cfg(feature = "tls")]
            implicit,
            stop: ShutdownHandle { stop: stop_tx },
            done: done_rx,
            shared,
        })
    }

    /// The sessions' configuration: the builder's, then the `configure` hooks, then what
    /// the driver and the storage back end can do, whatever the hooks said.
    fn session_config(&mut self) -> ServerConfig {
        let mut config = self.config.clone();
        config.anonymous = match &self.anonymous {
            None => AnonymousPolicy::Disabled,
            Some(anonymous) if anonymous.read_only => AnonymousPolicy::ReadOnly,
            Some(_) => AnonymousPolicy::ReadWrite,
        };
        for configure in self.configure.drain(..) {
            configure(&mut config);
        }
        config.tls = TlsPolicy {
            enabled: self.tls_enabled(),
            allow_ccc: false,
            ..config.tls
        };
        config.hash_algorithms.clear();
        config.record_structure = false;
        // The storage trait has no SITE hook: listed in SITE HELP, they could only fail.
        config.site_commands.clear();
        // Commands the storage back end cannot carry out are refused up front and not offered.
        let storage_can = self.storage.capabilities();
        config.mfmt &= storage_can.set_modified;
        config.site_chmod &= storage_can.chmod;
        config
    }

    /// Binds every listen address.
    fn bind(&self, rt: &dyn Runtime) -> io::Result<Vec<Bound>> {
        let plain = self.listen.iter().map(|a| (*a, false));
        let implicit = self.implicit.iter().map(|a| (*a, true));
        plain
            .chain(implicit)
            .map(|(addr, implicit)| {
                let listener = StdListener::bind(addr)?;
                // The standard library listens with a queue of 128: 300 clients connecting
                // at once overflowed it, and each dropped connection waited a second for
                // its SYN to be sent again (the kernel caps this at net.core.somaxconn).
                rustix::net::listen(&listener, LISTEN_BACKLOG)?;
                listener.set_nonblocking(true)?;
                let local = listener.local_addr()?;
                let listener = rt.listener(listener)?;
                Ok(Bound {
                    listener,
                    local,
                    implicit,
                })
            })
            .collect()
    }

    /// What the sessions share, from the builder.
    fn into_shared(
        self,
        rt: Arc<dyn Runtime>,
        config: ServerConfig,
        stop_tx: Sender<()>,
        stop_rx: Receiver<()>,
    ) -> Shared {
        Shared {
            memory: MemoryRelease::new(self.release_memory, Arc::clone(&rt)),
            blocking: rt.blocking(),
            rt,
            config: Arc::new(config),
            storage: self.storage,
            auth: self.auth,
            anonymous: self.anonymous,
            #[cfg(feature = "tls")]
            tls: self.tls,
            #[cfg(feature = "tls")]
            require_reuse: self.require_reuse,
            passive_ports: self.passive_ports,
            splice: self.splice,
            sendfile: self.sendfile,
            sendfile_cached: self.sendfile_cached,
            pool_slots: PoolSlots::new(self.pool_transfers),
            #[cfg(feature = "tls")]
            tls_handshake_timeout: self.tls_handshake_timeout,
            buffers: self.buffers,
            events: self.events,
            shutdown: stop_rx,
            _keep_open: stop_tx,
            shutdown_message: self.shutdown_message,
            bans: Bans::new(self.ban, self.connection_rate),
            proxy_protocol: self.proxy_protocol.map(Arc::new),
            metrics: Metrics::new(),
            upload_limit: self.upload_rate.map(RateLimiter::new),
            download_limit: self.download_rate.map(RateLimiter::new),
            user_sessions: UserSessions::default(),
            limits: Limits {
                max_total: self.max_sessions,
                max_per_ip: self.max_sessions_per_ip,
                state: Mutex::new(LimitState::default()),
            },
            sessions: AtomicU64::new(0),
        }
    }
}

/// How many connections the kernel may hold for the server before it accepts them.
pub(crate) const LISTEN_BACKLOG: i32 = 1024;

/// A listener bound by [`Server::start`].
struct Bound {
    listener: Box<dyn Listener>,
    /// The address it is bound to.
    local: SocketAddr,
    /// Implicit TLS (else plain FTP and explicit FTPS).
    implicit: bool,
}

/// Everything the sessions of one server share.
pub(crate) struct Shared {
    pub(crate) rt: Arc<dyn Runtime>,
    /// The runtime's blocking pool (one handle for every session).
    pub(crate) blocking: BlockingPool,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) anonymous: Option<Anonymous>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<TlsConfig>,
    #[cfg(feature = "tls")]
    pub(crate) require_reuse: bool,
    pub(crate) passive_ports: Option<RangeInclusive<u16>>,
    pub(crate) splice: bool,
    pub(crate) sendfile: bool,
    pub(crate) sendfile_cached: bool,
    pub(crate) pool_slots: Arc<PoolSlots>,
    #[cfg(feature = "tls")]
    pub(crate) tls_handshake_timeout: Duration,
    pub(crate) buffers: BufferBudget,
    pub(crate) memory: Arc<MemoryRelease>,
    pub(crate) events: Option<EventHook>,
    /// Closed (never sent to) on shutdown: every `recv` then returns.
    pub(crate) shutdown: Receiver<()>,
    /// Keeps the shutdown channel open until `shutdown` closes it explicitly.
    _keep_open: Sender<()>,
    pub(crate) shutdown_message: String,
    pub(crate) bans: Bans,
    pub(crate) proxy_protocol: Option<Arc<ProxyProtocol>>,
    pub(crate) metrics: Metrics,
    /// The server-wide bandwidth limits ([`Server::upload_rate`], [`Server::download_rate`]).
    pub(crate) upload_limit: Option<Arc<RateLimiter>>,
    pub(crate) download_limit: Option<Arc<RateLimiter>>,
    pub(crate) user_sessions: UserSessions,
    limits: Limits,
    sessions: AtomicU64,
}

impl Shared {
    pub(crate) fn next_session_id(&self) -> u64 {
        self.sessions.fetch_add(1, Ordering::Relaxed) + 1
    }
}

struct Limits {
    max_total: usize,
    max_per_ip: usize,
    state: Mutex<LimitState>,
}

#[derive(Default)]
struct LimitState {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// How many sessions each user with a session limit has logged in
/// ([`crate::auth::UserLimits::max_sessions`]).
#[derive(Default)]
pub(crate) struct UserSessions(Mutex<HashMap<Bytes, usize>>);

/// One logged-in session of a user with a session limit; gives its place back when dropped.
pub(crate) struct UserSession {
    registry: Arc<Shared>,
    name: Bytes,
}

impl UserSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, usize>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Shared {
    /// A place among `name`'s sessions, `None` when it has `max` already. Users without a
    /// limit are not counted (`Some` of a guard that counts nothing).
    pub(crate) fn enter_user_session(
        self: &Arc<Self>,
        name: &Bytes,
        max: Option<usize>,
    ) -> Option<Option<UserSession>> {
        let Some(max) = max else {
            return Some(None);
        };
        let mut counts = self.user_sessions.lock();
        let count = counts.entry(name.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Some(UserSession {
            registry: Arc::clone(self),
            name: name.clone(),
        }))
    }
}

impl Drop for UserSession {
    fn drop(&mut self) {
        let mut counts = self.registry.user_sessions.lock();
        if let Some(count) = counts.get_mut(&self.name) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.name);
            }
        }
    }
}

/// One admitted session; gives its place back when dropped.
struct Permit {
    shared: Arc<Shared>,
    ip: IpAddr,
    _load: LoadGuard,
}

impl Limits {
    fn lock(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Option<Permit> {
    let ip = ftp_proto::addr::canonical_ip(ip);
    let limits = &shared.limits;
    let mut state = limits.lock();
    let for_ip = state.per_ip.get(&ip).copied().unwrap_or(0);
    if state.total >= limits.max_total || for_ip >= limits.max_per_ip {
        return None;
    }
    state.total += 1;
    state.per_ip.insert(ip, for_ip + 1);
    Some(Permit {
        shared: Arc::clone(shared),
        ip,
        _load: shared.memory.track(Load::Sessions),
    })
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.shared.limits.lock();
        state.total = state.total.saturating_sub(1);
        if let Some(count) = state.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                state.per_ip.remove(&self.ip);
            }
        }
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    mut listener: Box<dyn Listener>,
    implicit: bool,
    done: Sender<()>,
) {
    let stop = shared.shutdown.clone();
    let mut stop: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
        let _ = stop.recv().await;
    });
    loop {
        let accepted = poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            listener.poll_accept(cx).map(Some)
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((conn, socket_peer))) => {
                let session_shared = Arc::clone(&shared);
                let done = done.clone();
                shared.rt.spawn(Box::pin(async move {
                    admit_and_run(session_shared, conn, socket_peer, implicit).await;
                    drop(done);
                }));
            }
            Some(Err(e)) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(%e, "accept failed");
                runtime::sleep_until(&*shared.rt, Instant::now() + Duration::from_millis(100))
                    .await;
            }
        }
    }
}

/// Learns the client's address (see [`crate::proxy`]), checks bans and session limits, and
/// runs the session: refused with `421` when the address is banned, over a limit or not
/// trusted to proxy; closed at once when a trusted proxy's header is bad.
async fn admit_and_run(
    shared: Arc<Shared>,
    mut conn: Box<dyn Conn>,
    socket_peer: SocketAddr,
    implicit: bool,
) {
    let policy = shared.proxy_protocol.as_deref();
    let peer = match proxy::client_address(policy, &*shared.rt, &mut conn, socket_peer).await {
        Ok(peer) => peer,
        Err(NoClientAddress::Untrusted) => {
            shared.metrics.refused(RefusedBecause::Proxy);
            tracing::warn!(%socket_peer, "connection from an address not trusted to proxy refused");
            return run_session(
                shared,
                conn,
                socket_peer,
                implicit,
                Some(Refusal::Untrusted),
            )
            .await;
        }
        Err(e) => {
            shared.metrics.refused(RefusedBecause::Proxy);
            return tracing::warn!(%socket_peer, "{e}: connection closed");
        }
    };
    let (refusal, permit) = admit_or_refuse(&shared, peer);
    run_session(shared, conn, peer, implicit, refusal).await;
    drop(permit);
}

/// A place for `peer`'s session, or why it is refused: a ban, the connection rate, the
/// session limits, in that order.
fn admit_or_refuse(shared: &Arc<Shared>, peer: SocketAddr) -> (Option<Refusal>, Option<Permit>) {
    let now = Instant::now();
    let (because, refusal, why) = if shared.bans.is_banned(peer.ip(), now) {
        (RefusedBecause::Banned, Refusal::Banned, "banned address")
    } else if !shared.bans.connection_allowed(peer.ip(), now) {
        (
            RefusedBecause::Rate,
            Refusal::Rate,
            "connection rate exceeded",
        )
    } else if let Some(permit) = admit(shared, peer.ip()) {
        return (None, Some(permit));
    } else {
        (RefusedBecause::Full, Refusal::Full, "session limit reached")
    };
    shared.metrics.refused(because);
    tracing::warn!(%peer, "{why}: refusing a connection");
    (Some(refusal), None)
}

/// Stops a running server: every idle session gets `421` at once, sessions running a
/// transfer get [`Server::shutdown_grace`] to finish it, listeners stop accepting. Cheap to
/// clone; calling it twice is harmless.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    stop: Sender<()>,
}

impl ShutdownHandle {
    /// Starts the graceful shutdown and returns at once
    /// ([`RunningServer::wait`] waits for its end).
    pub fn shutdown(&self) {
        self.stop.close();
    }
}

/// A started server. Dropping it does not stop the server (use [`ShutdownHandle`]).
#[derive(Debug)]
pub struct RunningServer {
    plain: Vec<SocketAddr>,
    #[cfg(feature = "tls")]
    implicit: Vec<SocketAddr>,
    stop: ShutdownHandle,
    done: Receiver<()>,
    shared: Arc<Shared>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The bound addresses for plain FTP and explicit FTPS, in the order given (with the
    /// actual ports when port 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.plain
    }

    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    /// The bound addresses for implicit FTPS.
    pub fn implicit_tls_addrs(&self) -> &[SocketAddr] {
        &self.implicit
    }

    /// A handle that stops the server from anywhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop.clone()
    }

    /// The server's counters (sessions, logins, commands, replies, bytes, transfers, TLS
    /// handshakes, bans): see [`crate::metrics`].
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics.clone()
    }

    /// Sessions running now.
    pub fn active_sessions(&self) -> usize {
        self.shared.limits.lock().total
    }

    /// Starts the graceful shutdown and waits until every session has ended.
    pub async fn shutdown(self) {
        self.stop.shutdown();
        self.wait().await;
    }

    /// Waits until the server has stopped (after a [`ShutdownHandle::shutdown`]) and every
    /// session has ended.
    pub async fn wait(self) {
        let _ = self.done.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, C, D, F: Future>(_: impl FnOnce(A, B, C, D) -> F) -> usize {
        size_of::<F>()
    }

    /// Every connection's task holds this future for the whole session, so it is most of an
    /// idle session's memory. It was 5.9 KB while it held the session's `Driver` twice (a
    /// moved-from local keeps its room in an async fn) and the TLS handshake's state.
    #[test]
    fn an_idle_sessions_task_stays_small() {
        let bytes = future_size(admit_and_run);
        assert!(bytes <= 3 << 10, "the session future takes {bytes} bytes");
    }
}
