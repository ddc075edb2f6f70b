//! The server's protocol state machine: [`ServerSession`].
//!
//! One `ServerSession` per control connection. It takes the bytes read from the control
//! connection and what the driver observed (data connections, storage and authentication
//! results, TLS, timer expiry), and produces replies and intents ([`ServerOutput`]): bytes to
//! write, data connections to listen on, connect, close or abort, storage and authentication
//! requests, TLS start/stop, close, and audit events. It opens no socket, reads no clock and
//! touches no file: the driver does all of that and reports back.
//!
//! # The contract
//!
//! The methods come in four kinds (quinn's `Connection` categories):
//!
//! * **Inputs**, `handle_*(now, ..)`: [`handle_input`](ServerSession::handle_input) (control
//!   bytes, in chunks of any size), [`handle_eof`](ServerSession::handle_eof),
//!   [`handle_data_event`](ServerSession::handle_data_event),
//!   [`handle_storage_result`](ServerSession::handle_storage_result),
//!   [`handle_auth_result`](ServerSession::handle_auth_result),
//!   [`handle_tls_established`](ServerSession::handle_tls_established),
//!   [`handle_timeout`](ServerSession::handle_timeout), and
//!   [`shutdown`](ServerSession::shutdown).
//! * **Outputs**: [`poll_output`](ServerSession::poll_output) and
//!   [`poll_timeout`](ServerSession::poll_timeout).
//! * **Getters** (`&self`), which change nothing.
//!
//! The driver MUST:
//!
//! 1. **Drain**: after every input call, call `poll_output` until it returns `None`, executing
//!    each output in order, then read `poll_timeout`. Only then wait for I/O.
//! 2. **Pass the current time**: `now` is `Instant::now()` when the input is handled, never the
//!    deadline it slept until. The session clamps `now` so it never goes backwards; an early
//!    `handle_timeout` does nothing; every deadline the session acts on is in `poll_timeout`.
//! 3. **Execute intents as documented** on [`ServerDataIntent`], [`StorageRequest`] and
//!    [`ServerOutput`], echoing the ids it was given. A result for an id the session no longer
//!    waits for (after ABOR, a timeout, a new PASV) is ignored, so races are harmless.
//! 4. **Move bulk bytes itself**: for `Retrieve`, `Store` and `List`, the storage back end copies
//!    between storage and the named data connection (applying the `transfer` transcoders for
//!    TYPE A, MODE B/C, STRU R) and reports `Transferred`. File bytes never pass through the
//!    session.
//!
//! What the session guarantees, so no driver can get it wrong:
//!
//! * One command at a time (RFC 959 §4.2): while a storage or authentication request, a login
//!   delay, a listener bind or a transfer is pending, later lines wait, unparsed. During a
//!   transfer only ABOR, STAT (no argument) and QUIT are taken: at the head of the queue, or
//!   anywhere in it when Telnet IP/Synch marked them urgent.
//! * 227/228/229 only after [`ServerDataEvent::Listening`]; 226 only after [`ServerDataEvent::Closed`]
//!   answers the `Close` that followed `Transferred` (RFC 959 §5.2).
//! * After `AUTH TLS`, the 234 is followed by [`ServerOutput::StartTls`], and every byte already
//!   received after the AUTH line is discarded, never executed (ProFTPD bug 3624); input is
//!   ignored until [`handle_tls_established`](ServerSession::handle_tls_established).
//! * Every path handed to storage is a [`VirtualPath`]: resolved against the working directory,
//!   normalised, never above the root, bytes (never assumed UTF-8).
//! * Bounded memory: control lines are capped by [`LineConfig`](crate::line::LineConfig)
//!   (overlong line → 500; flood or too much pipelined input → 421 and Close); the output queue
//!   stops taking new command lines at a small high-water mark and resumes as it is drained.
//! * Nothing panics on any input, from the peer or from the driver.
//!
//! # A blocking run loop
//!
//! A real driver runs storage, authentication and data connections concurrently with the
//! control connection (ftp-server polls them as futures of the session's task) and feeds their
//! results back as they come; this sketch does them inline.
//!
//! ```no_run
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::TcpListener;
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//!
//! use ftp_proto::server::{
//!     AnonymousPolicy, ServerControlInfo, ServerConfig, ServerOutput, ServerSession, StorageError,
//!     StorageErrorKind, StorageRequest, StorageResponse,
//! };
//!
//! fn storage(request: StorageRequest) -> Result<StorageResponse, StorageError> {
//!     // A real back end opens files below its root, or streams to object storage.
//!     let _ = request;
//!     Err(StorageError::new(StorageErrorKind::NotFound))
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     let config = Arc::new(ServerConfig {
//!         anonymous: AnonymousPolicy::ReadOnly,
//!         ..ServerConfig::default()
//!     });
//!     let listener = TcpListener::bind("127.0.0.1:2121")?;
//!     let (mut control, peer) = listener.accept()?;
//!     let conn = ServerControlInfo::new(control.local_addr()?, peer);
//!     let mut session = ServerSession::new(config, conn, Instant::now());
//!     let mut buf = [0u8; 4096];
//!     loop {
//!         // 1. Drain every output.
//!         while let Some(output) = session.poll_output() {
//!             match output {
//!                 ServerOutput::Transmit(bytes) => control.write_all(&bytes)?,
//!                 ServerOutput::Storage { id, request } => {
//!                     let result = storage(request);
//!                     session.handle_storage_result(Instant::now(), id, result);
//!                 }
//!                 ServerOutput::Data(_intent) => { /* bind, connect, close; report DataEvents */ }
//!                 ServerOutput::Authenticate { id, .. } => {
//!                     let denied = Err(ftp_proto::server::AuthFailure::InvalidCredentials);
//!                     session.handle_auth_result(Instant::now(), id, denied);
//!                 }
//!                 ServerOutput::Close => return Ok(()),
//!                 _ => {}
//!             }
//!         }
//!         // 2. Wait for input or the next deadline.
//!         let wait = session
//!             .poll_timeout()
//!             .map(|at| at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1)));
//!         control.set_read_timeout(wait)?;
//!         match control.read(&mut buf) {
//!             Ok(0) => session.handle_eof(Instant::now()),
//!             Ok(n) => session.handle_input(Instant::now(), &buf[..n]),
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!                 session.handle_timeout(Instant::now())
//!             }
//!             Err(e) => return Err(e),
//!         }
//!     }
//! }
//! ```
//!
//! # Commands
//!
//! Every verb gets a code from its reply list (RFC 959 §5.4 and the RFCs that added verbs). Before login, everything but
//! USER, PASS, ACCT, REIN, QUIT, NOOP, HELP, SYST, FEAT, OPTS, LANG, HOST, AUTH, ADAT, PBSZ,
//! PROT, CCC, ABOR, STAT (no argument) and CLNT gets **530**. A line the parser refuses gets
//! its [`CommandError::reply_code`](crate::command::CommandError::reply_code) (500, 501, 504,
//! 521, 522); an unknown verb gets **500**; RNTO without RNFR, PASS without USER, ACCT
//! without PASS, PBSZ before AUTH TLS, PROT before PBSZ and HOST after USER get **503**.
//!
//! Deliberately not implemented:
//!
//! | command | reply | why |
//! |---|---|---|
//! | SMNT | 502 | no structure mounts in a virtual file system |
//! | MFCT, MFF | 502 | MFMT covers the common need; creation times are rarely settable |
//! | ADAT | 503 | no RFC 2228 mechanism needs it: TLS is the only AUTH mechanism |
//! | MIC, CONF, ENC | 502 | RFC 2228 per-command protection is not used with TLS |
//! | AUTH other than TLS/TLS-C/SSL/TLS-P | 504 | only TLS is offered (502 when TLS is off) |
//! | PROT S, PROT E | 536 | TLS only knows C and P |
//! | TYPE E, TYPE A T/C, TYPE L n (n ≠ 8) | 504 | TYPE A N, I and L 8 only |
//! | STRU P | 504 | no page structure (551 is for page types) |
//! | MODE B, MODE C | 504 unless `block_mode` / `compressed_mode` | off by default: the driver must frame data with the `transfer` codecs |
//! | LANG other than EN | 504 | replies are English |
//! | SITE other than HELP, CHMOD and configured commands | 500 | no SITE EXEC, ever (RFC 2577 §9) |
//! | HASH, RANG | 502 unless `hash_algorithms` is set | the back end must compute hashes |
//! | PASV on an IPv6 connection | 502 | 227 cannot carry IPv6; EPSV and LPSV can |
//! | PORT, EPRT, LPRT | 502 when `active_mode` is off | RFC 2577 allows PASV-only servers |
//!
//! Library decisions where the RFCs leave a choice:
//!
//! * PORT/EPRT/LPRT to a port below 1024 → **504** (RFC 2577), checked first; to another host
//!   than the control peer → **500** for PORT ("Illegal PORT command", the traditional reply),
//!   **501** for EPRT/LPRT. Passive listeners carry the peer address in
//!   [`ServerDataIntent::Listen::expect_peer`] and a connection from elsewhere fails the transfer
//!   with 425.
//! * EPSV ALL → 200; then PORT, PASV, EPRT, LPRT, LPSV → **501**. `EPSV 2` on IPv4 → **522**
//!   `use (1)`.
//! * CDUP → 250, like CWD. ALLO → 202. USER → 331 for every name (RFC 2577 §7).
//! * USER before AUTH TLS when TLS is required for login → **534**; a transfer with PROT C when
//!   TLS is required for data → **521** (RFC 4217 §10.2); a data TLS failure → **522**.
//! * SIZE under MODE S, STRU F (RFC 3659 §4): in TYPE I the stored size, which *is* the
//!   transfer size; in TYPE A the octets a download would send, counted by storage
//!   (`StorageRequest::TransferSize`, files up to `ServerConfig::ascii_size_limit`, with the
//!   READ right); otherwise, and for directories, 550.
//! * REST in MODE S takes an offset (a marker → 501); in MODE B/C any marker, passed to storage.
//!   REST 0 clears it. Any command other than the transfer that follows clears it. APPE after
//!   REST is STOR at the offset (RFC 3659 §5.3). STOU ignores REST.
//! * ABOR with no transfer → 226 (the prepared data channel is closed). During a transfer →
//!   the data connection is aborted, **426** for the transfer, then **226** for ABOR. ABOR
//!   after the last byte moved (while the data connection closes) waits: **226** for the
//!   transfer, then **226**.
//! * QUIT during a transfer: the transfer finishes, then 221 and Close (RFC 959 §4.1.1).
//! * LIST/NLST ignore leading `-options` words (`LIST -la`).
//! * OPTS MLST echoes the selected facts with their canonical names, in canonical order
//!   (`200 MLST OPTS Type;Size;`): fact names are case-insensitive (RFC 3659 §7.9).
//! * RANG sets the range for the HASH commands that follow, until `RANG 1 0`, a refused RANG
//!   or REIN clears it; FEAT does not list `RANG STREAM`.
//!
//! # DoS notes
//!
//! Per session, memory is bounded by the line limits (64 KiB of pipelined input by default)
//! plus one command's replies. Failed logins are answered after `failed_login_delay` (without
//! blocking anything) and the session closes after `max_login_attempts`. SIZE, MDTM, MLST and
//! HASH cost the back end work: a driver should rate-limit them per client if that matters.

mod commands;
mod config;
mod events;
mod permissions;
mod state;
mod text;
mod timer;
mod types;

use std::sync::Arc;
use std::time::Instant;

pub use config::{
    AnonymousPolicy, FactSet, HashAlgorithm, ServerConfig, ServerControlInfo, TlsPolicy,
};
pub use permissions::{Permissions, UnknownPermission};
pub use state::ServerSession;
/// Every verb the server session implements (whether a configuration offers it or not), in
/// alphabetical order: what HELP lists when all are offered.
pub use text::IMPLEMENTED as IMPLEMENTED_VERBS;
pub use types::{
    AuthFailure, AuthId, CloseReason, DataConnId, DataFailure, FileKind, HashValue, ListFormat,
    Metadata, Principal, Secret, ServerDataEvent, ServerDataIntent, ServerEvent, ServerOutput,
    StorageError, StorageErrorKind, StorageOpId, StorageRequest, StorageResponse, StoreMode,
    TransferKind, TransferParams,
};

use crate::path::VirtualPath;
use crate::reply::ReplyCode;
use state::{Busy, ControlTls, Stage};
use types::ServerEvent as Event;

impl ServerSession {
    /// A session for a new control connection; queues the 220 greeting. Performs no I/O.
    pub fn new(config: Arc<ServerConfig>, conn: ServerControlInfo, now: Instant) -> Self {
        let mut session = Self::build(config, conn, now);
        session.event(Event::Connected { peer: conn.peer });
        session.greet();
        session
    }

    /// A session for a connection the server cannot take (too many clients): queues
    /// `421 <full_message>` and `Close`.
    pub fn new_refused(config: Arc<ServerConfig>, conn: ServerControlInfo, now: Instant) -> Self {
        let message = config.full_message.clone();
        Self::new_refused_because(config, conn, now, &message)
    }

    /// A session refused for another reason than the session limits (a banned address, say):
    /// `421 message` (on one line) and `Close`, like [`ServerSession::new_refused`].
    pub fn new_refused_because(
        config: Arc<ServerConfig>,
        conn: ServerControlInfo,
        now: Instant,
        message: &str,
    ) -> Self {
        let mut session = Self::build(config, conn, now);
        session.event(Event::Connected { peer: conn.peer });
        session.reply(ReplyCode::SERVICE_NOT_AVAILABLE, text::one_line(message));
        session.close(CloseReason::Refused);
        session
    }

    /// A session that is not ready yet: queues `120 Service ready in N minutes.` now and the 220
    /// greeting at `ready_at` (RFC 959 §5.4). Commands received before the 220 wait.
    pub fn new_delayed(
        config: Arc<ServerConfig>,
        conn: ServerControlInfo,
        now: Instant,
        ready_at: Instant,
    ) -> Self {
        let mut session = Self::build(config, conn, now);
        session.event(Event::Connected { peer: conn.peer });
        if ready_at <= now {
            session.greet();
            return session;
        }
        let minutes = ready_at.duration_since(now).as_secs().div_ceil(60).max(1);
        session.reply(
            ReplyCode::SERVICE_READY_LATER,
            format!("Service ready in {minutes} minutes."),
        );
        session.delay_greeting(ready_at);
        session
    }

    /// Bytes read from the control connection, in chunks of any size. Ignored after `Close`
    /// and while the TLS handshake after AUTH runs.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.advance(now);
        self.feed(bytes);
    }

    /// The client closed the control connection (or the TLS handshake failed): everything in
    /// flight is aborted ("ABOR plus QUIT", RFC 959 §4.1.1) and `Close` follows.
    pub fn handle_eof(&mut self, now: Instant) {
        self.advance(now);
        self.on_eof();
    }

    /// What the driver observed on data connection `id`.
    pub fn handle_data_event(&mut self, now: Instant, id: DataConnId, event: ServerDataEvent) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        self.on_data_event(id, event);
        self.pump();
    }

    /// The answer to the storage request `id`.
    pub fn handle_storage_result(
        &mut self,
        now: Instant,
        id: StorageOpId,
        result: Result<StorageResponse, StorageError>,
    ) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        self.on_storage_result(id, result);
        self.pump();
    }

    /// The answer to the authentication request `id`.
    pub fn handle_auth_result(
        &mut self,
        now: Instant,
        id: AuthId,
        result: Result<Principal, AuthFailure>,
    ) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        self.on_auth_result(id, result);
        self.pump();
    }

    /// The TLS handshake that [`ServerOutput::StartTls`] asked for succeeded.
    pub fn handle_tls_established(&mut self, now: Instant) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        self.on_tls_established();
        self.pump();
    }

    /// The server name the client sent in the control connection's TLS handshake (SNI), for
    /// the driver to give before [`handle_tls_established`](Self::handle_tls_established) (or
    /// right after creating the session, under implicit TLS). RFC 7151 §3: HOST must then name
    /// the same server, so another name gets 504, and a HOST accepted before AUTH TLS that
    /// names another server is forgotten when the handshake ends. IP literals in HOST are
    /// checked against the local address as before.
    pub fn set_tls_server_name(&mut self, name: Option<bytes::Bytes>) {
        self.tls_server_name = name;
    }

    /// Acts on every deadline due at `now`. Calling it early is harmless. Afterwards
    /// [`poll_timeout`](Self::poll_timeout) is `None` or later than `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.is_closed() {
            return;
        }
        self.on_timeout();
        self.pump();
    }

    /// Graceful shutdown: an idle session gets `421 <message>` and `Close` at once; a session
    /// with a command in flight finishes it (a transfer gets `shutdown_grace`, then 426), then
    /// gets the 421 and `Close`. No new command is started.
    pub fn shutdown(&mut self, now: Instant, message: &str) {
        self.advance(now);
        self.on_shutdown(message);
    }

    /// The next output, in order, or `None` when there is nothing to do until the next input
    /// or deadline. Changes after every input call and after each output taken.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        if self.out.is_empty() {
            self.pump();
        }
        let next = self.out.pop_front().map(state::Queued::into_output);
        if self.out.is_empty() {
            // Drained: the queue's 576 bytes go until the next output, so that an idle
            // session holds none.
            self.out = std::collections::VecDeque::new();
        }
        next
    }

    /// When to call [`handle_timeout`](Self::handle_timeout), or `None` for never. Changes
    /// after every input call; read it after draining [`poll_output`](Self::poll_output).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline()
    }

    /// True once `Close` was emitted: every later input is ignored.
    pub fn is_closed(&self) -> bool {
        self.stage == Stage::Closed
    }

    /// The logged-in user, if any.
    pub fn principal(&self) -> Option<&Principal> {
        self.logged_in()
    }

    /// The working directory.
    pub fn cwd(&self) -> &VirtualPath {
        &self.settings.cwd
    }

    /// TYPE, MODE and STRU in force.
    pub fn transfer_params(&self) -> TransferParams {
        self.settings.params
    }

    /// True while TLS protects the control connection.
    pub fn is_control_protected(&self) -> bool {
        self.tls == ControlTls::Protected
    }

    /// True when data connections use TLS (PROT P).
    pub fn is_data_protected(&self) -> bool {
        self.settings.data_protected
    }

    /// True while a command is in flight (storage, authentication, a login delay, a listener,
    /// a transfer or a TLS handshake): new command lines wait.
    pub fn is_busy(&self) -> bool {
        self.busy != Busy::Idle
    }

    /// True while a transfer command is in flight.
    pub fn is_transferring(&self) -> bool {
        matches!(self.busy, Busy::Transfer(_))
    }

    /// Bytes of control input held (partial and complete lines not yet executed). Never more
    /// than the configured line limits allow.
    pub fn buffered_input(&self) -> usize {
        self.framer.buffered_len() + self.held_bytes
    }

    /// Outputs waiting in [`poll_output`](Self::poll_output).
    pub fn queued_outputs(&self) -> usize {
        self.out.len()
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The control connection's addresses.
    pub fn conn(&self) -> &ServerControlInfo {
        &self.conn
    }
}
