//! The session's state and every transition of it.
//!
//! Rule (after h11's `_state.py`): every type that describes where the session is — the stage
//! of the control connection, the login, the one command in flight ([`Busy`]), the prepared data
//! channel, the running transfer, TLS — lives here, and so does every method that moves between
//! those states. The command handlers (`commands.rs`) and the driver-event handlers
//! (`events.rs`) decide *which* transition to take; they read these fields but assign none of
//! them, only the plain per-session [`Settings`] (TYPE, cwd, REST, ...) and the audit verb.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::command::RestMarker;
use crate::line::{Line, LineError, LineFramer};
use crate::path::VirtualPath;
use crate::reply::{Reply, ReplyCode};
use crate::timestamp::Timestamp;
use crate::transfer::{DataType, FileStructure, FormatControl, TransferMode};

use super::config::{FactSet, HashAlgorithm, ServerConfig, ServerControlInfo};
use super::text;
use super::types::{
    AuthId, CloseReason, DataConnId, Principal, Secret, ServerDataIntent, ServerEvent,
    ServerOutput, StorageOpId, TransferKind, TransferParams,
};

/// Outputs queued before the session stops taking new command lines until the driver drains:
/// with the lazy pump in `poll_output`, the queue never holds much more than one command's
/// outputs beyond this.
pub(super) const OUTPUT_HIGH_WATER: usize = 32;

/// The control connection's stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// A 120 was sent; the 220 follows at `ready_at`. Input is held.
    Greeting { ready_at: Instant },
    /// Commands are accepted.
    Ready,
    /// `Close` was emitted; nothing more happens.
    Closed,
}

/// TLS on the control connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ControlTls {
    /// Plaintext, never protected.
    Plain,
    /// 234 sent, waiting for `handle_tls_established`; input is discarded.
    Handshake,
    /// Protected.
    Protected,
    /// Protected once, cleared by CCC: plaintext, and no more PBSZ/PROT.
    Cleared,
}

/// Where the login is (RFC 959 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Login {
    NeedUser,
    NeedPass {
        user: Bytes,
        anonymous: bool,
    },
    NeedAcct {
        user: Bytes,
        password: Secret<Bytes>,
    },
    LoggedIn {
        principal: Principal,
    },
}

/// Which passive command is waiting for its listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PassiveKind {
    Pasv,
    Epsv,
    Lpsv,
}

/// The prepared data channel (between PASV/PORT and the transfer that uses it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DataChannel {
    None,
    /// A bound listener (and maybe the connection it accepted).
    Passive {
        id: DataConnId,
        bound_at: Instant,
        connected: bool,
    },
    /// PORT/EPRT/LPRT: connect there when a transfer starts.
    Active {
        addr: SocketAddr,
    },
}

impl DataChannel {
    fn id(&self) -> Option<DataConnId> {
        match self {
            Self::Passive { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// A non-transfer storage request in flight, and what its success means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PendingOp {
    Cwd(VirtualPath),
    Rnfr(VirtualPath),
    /// SIZE in TYPE I: the stored size.
    Size,
    /// SIZE in TYPE A: the file's metadata first ...
    AsciiSize {
        path: VirtualPath,
        params: TransferParams,
    },
    /// ... then its count (`StorageRequest::TransferSize`).
    TransferSize,
    Mdtm,
    Mlst {
        path: VirtualPath,
        label: Bytes,
    },
    StatPath {
        label: Bytes,
    },
    Dele,
    Rmd,
    Mkd(VirtualPath),
    Rnto,
    Mfmt {
        time: Timestamp,
        arg: Bytes,
    },
    Hash {
        arg: Bytes,
    },
    Chmod,
    Site,
}

/// Where a transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TransferStage {
    /// The storage request is out; no 1yz yet.
    Opening,
    /// 150/125 sent; bytes are moving.
    Running,
    /// Storage reported `Transferred`; the data connection is closing; 226 follows `Closed`.
    Closing,
}

/// A transfer command in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Transfer {
    pub(super) kind: TransferKind,
    pub(super) path: VirtualPath,
    pub(super) data: DataConnId,
    pub(super) storage: Option<StorageOpId>,
    pub(super) stage: TransferStage,
    /// When the current stage began (data and request timers count from here).
    pub(super) since: Instant,
    /// The channel the transfer took; given back if storage refuses before the 1yz.
    pub(super) channel: DataChannel,
    pub(super) connected: bool,
    pub(super) data_closed: bool,
    pub(super) bytes: u64,
    /// When the data connection last moved bytes, connected, or the transfer began running:
    /// the stall timer counts from here.
    pub(super) moved_at: Instant,
    pub(super) quit_after: bool,
}

/// The one thing the session waits for before it reads the next command (RFC 959 §4.2: one
/// command at a time; ABOR, STAT and QUIT may jump a running transfer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Busy {
    Idle,
    /// PASV/EPSV/LPSV: waiting for `ServerDataEvent::Listening`.
    Bind {
        id: DataConnId,
        kind: PassiveKind,
        since: Instant,
    },
    /// PASS/ACCT: waiting for `handle_auth_result`.
    Auth {
        id: AuthId,
        user: Bytes,
        password: Secret<Bytes>,
        account: Option<Bytes>,
        since: Instant,
    },
    /// A failed login's reply waits until `until`; `last` ends the session.
    LoginDelay {
        until: Instant,
        last: bool,
    },
    /// A storage request that is not a transfer.
    Storage {
        id: StorageOpId,
        op: PendingOp,
        since: Instant,
    },
    Transfer(Box<Transfer>),
    /// 234 sent, TLS handshake running.
    TlsHandshake,
}

/// An output waiting for `poll_output`. Consecutive control bytes share one growing buffer,
/// so a burst of replies costs one copy, not one per reply.
#[derive(Debug)]
pub(super) enum Queued {
    Transmit(BytesMut),
    Output(ServerOutput),
}

impl Queued {
    pub(super) fn into_output(self) -> ServerOutput {
        match self {
            Self::Transmit(bytes) => ServerOutput::Transmit(bytes.freeze()),
            Self::Output(output) => output,
        }
    }
}

/// Control input received and not yet acted on, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Held {
    /// A complete line (or an overlong one, reported as an error).
    Line(Result<Line, LineError>),
    /// Telnet option refusals to send; they keep their place among the replies.
    Telnet(Bytes),
}

/// Graceful shutdown in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Shutdown {
    pub(super) message: String,
    pub(super) deadline: Instant,
}

/// Per-session settings that commands change directly and REIN/AUTH reset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Settings {
    pub(super) params: TransferParams,
    pub(super) cwd: VirtualPath,
    pub(super) rest: Option<RestMarker>,
    pub(super) rename_from: Option<VirtualPath>,
    pub(super) epsv_all: bool,
    pub(super) facts: FactSet,
    pub(super) hash: Option<HashAlgorithm>,
    pub(super) range: Option<(u64, u64)>,
    pub(super) pbsz: bool,
    pub(super) data_protected: bool,
    /// The virtual host named by HOST.
    pub(super) host: Option<Bytes>,
}

impl Settings {
    fn new(config: &ServerConfig) -> Self {
        Self {
            params: TransferParams {
                data_type: DataType::Ascii(FormatControl::NonPrint),
                mode: TransferMode::Stream,
                structure: FileStructure::File,
            },
            cwd: VirtualPath::root(),
            rest: None,
            rename_from: None,
            epsv_all: false,
            facts: config.mlst_default_facts.intersection(config.mlst_facts),
            hash: config.hash_algorithms.first().copied(),
            range: None,
            pbsz: false,
            data_protected: false,
            host: None,
        }
    }
}

/// The server side of one FTP control connection; see the [module docs](super) for the
/// contract.
#[derive(Debug)]
pub struct ServerSession {
    pub(super) config: Arc<ServerConfig>,
    pub(super) conn: ServerControlInfo,
    pub(super) now: Instant,
    pub(super) framer: LineFramer,
    /// Complete lines taken from the framer, not yet executed (bounded like the framer).
    pub(super) held: VecDeque<Held>,
    pub(super) held_bytes: usize,
    pub(super) out: VecDeque<Queued>,
    pub(super) next_id: u64,
    pub(super) stage: Stage,
    pub(super) last_activity: Instant,
    pub(super) shutdown: Option<Shutdown>,
    pub(super) tls: ControlTls,
    /// The name the client asked for in the control connection's TLS handshake (SNI).
    pub(super) tls_server_name: Option<Bytes>,
    pub(super) login: Login,
    /// When the wait for a login began: the 220 greeting, the last REIN, or a USER that left
    /// a logged-in state.
    pub(super) login_since: Instant,
    pub(super) failed_logins: u32,
    pub(super) settings: Settings,
    pub(super) data: DataChannel,
    pub(super) busy: Busy,
    /// The verb being answered, for audit events.
    pub(super) verb: Bytes,
}

// ---------------------------------------------------------------------------------------------
// Construction and output

impl ServerSession {
    pub(super) fn build(config: Arc<ServerConfig>, conn: ServerControlInfo, now: Instant) -> Self {
        let settings = Settings::new(&config);
        Self {
            framer: LineFramer::new(config.line),
            settings,
            config,
            conn,
            now,
            held: VecDeque::new(),
            held_bytes: 0,
            out: VecDeque::new(),
            next_id: 1,
            stage: Stage::Ready,
            last_activity: now,
            shutdown: None,
            tls: if conn.implicit_tls {
                ControlTls::Protected
            } else {
                ControlTls::Plain
            },
            login: Login::NeedUser,
            login_since: now,
            failed_logins: 0,
            data: DataChannel::None,
            busy: Busy::Idle,
            tls_server_name: None,
            verb: Bytes::new(),
        }
    }

    /// A fresh id for any of the three id types.
    pub(super) fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Moves time forward (never back).
    pub(super) fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    pub(super) fn emit(&mut self, output: ServerOutput) {
        self.out.push_back(Queued::Output(output));
    }

    pub(super) fn event(&mut self, event: ServerEvent) {
        self.emit(ServerOutput::Event(event));
    }

    pub(super) fn intent(&mut self, intent: ServerDataIntent) {
        self.emit(ServerOutput::Data(intent));
    }

    /// Queues raw control bytes, joining them to a `Transmit` queued just before.
    pub(super) fn transmit(&mut self, bytes: &[u8]) {
        if let Some(Queued::Transmit(last)) = self.out.back_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.out.push_back(Queued::Transmit(BytesMut::from(bytes)));
        }
    }

    /// Queues a reply; a 4xx/5xx also emits [`ServerEvent::Rejected`] for the current verb.
    pub(super) fn send(&mut self, reply: Reply) {
        let code = reply.code();
        self.transmit(&text::encode(&reply));
        if code.is_failure() {
            let verb = self.verb.clone();
            self.event(ServerEvent::Rejected { verb, code });
        }
    }

    /// Queues a single-line reply.
    pub(super) fn reply(&mut self, code: ReplyCode, text: impl Into<Bytes>) {
        self.send(Reply::new(code, text));
    }

    pub(super) fn logged_in(&self) -> Option<&Principal> {
        match &self.login {
            Login::LoggedIn { principal } => Some(principal),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading command lines: one at a time, with the ABOR/STAT/QUIT exception

impl ServerSession {
    /// Decodes control bytes and executes what they complete. The input is fed one line end at
    /// a time, executing after each, so the outputs do not depend on how the driver's reads
    /// split the stream (whole or one byte at a time give the same replies in the same order).
    pub(super) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.is_closed() && self.tls != ControlTls::Handshake {
            let cut = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |at| at + 1);
            self.framer.feed(&bytes[..cut]);
            bytes = &bytes[cut..];
            self.pump();
        }
    }

    /// Executes held input while the session can take it and the output queue has room.
    /// Called after every input and when the driver has drained the queue.
    pub(super) fn pump(&mut self) {
        while !self.is_closed() && self.out.len() < OUTPUT_HIGH_WATER {
            self.refill();
            let Some(index) = self.next_runnable() else {
                break;
            };
            match self.held.remove(index) {
                Some(Held::Telnet(reply)) => self.transmit(&reply),
                Some(Held::Line(item)) => {
                    if let Ok(line) = &item {
                        self.held_bytes -= line.bytes.len();
                    }
                    self.on_line(item);
                }
                None => break,
            }
        }
        if self.held.is_empty() {
            // Emptied: the queue's room goes too, so that an idle session holds none.
            self.held = VecDeque::new();
        }
    }

    /// Moves Telnet refusals and complete lines from the framer into `held`. A fatal framing
    /// error, or more held input than the limits allow, ends the session.
    fn refill(&mut self) {
        // Early Telnet signals need no action: an interrupted command still has to arrive
        // whole, and the framer flags its line (`Line::telnet`).
        let _ = self.framer.take_signals();
        while let Some(reply) = self.framer.poll_telnet_reply() {
            self.held.push_back(Held::Telnet(reply));
        }
        while let Some(item) = self.framer.next_line() {
            match &item {
                Err(error) if error.is_fatal() => return self.input_limit(),
                Ok(line) => self.held_bytes += line.bytes.len(),
                Err(_) => {}
            }
            self.held.push_back(Held::Line(item));
            if self.held_bytes > self.config.line.max_buffered
                || self.held.len() > held_lines_limit(&self.config)
            {
                return self.input_limit();
            }
        }
    }

    /// The index of the held item to act on now, if any: Telnet refusals at the head go out
    /// whatever the state; lines run one command at a time.
    fn next_runnable(&self) -> Option<usize> {
        if self.stage != Stage::Ready {
            return None;
        }
        match (&self.busy, self.held.front()?) {
            (_, Held::Telnet(_)) => Some(0),
            (Busy::Idle, _) if self.shutdown.is_none() => Some(0),
            (Busy::Transfer(transfer), _) => self.transfer_interrupt(transfer.stage),
            _ => None,
        }
    }

    /// During a transfer: the held line to take now. Only ABOR (not once the data connection
    /// is closing), STAT without argument and QUIT qualify: a line marked by Telnet IP/Synch
    /// anywhere in the queue (the framer flags the line the signal arrived with; RFC 959
    /// §4.1.3: after IP the server "scans the Telnet stream for exactly one command"), else the
    /// head of the queue.
    fn transfer_interrupt(&self, stage: TransferStage) -> Option<usize> {
        let allowed = |item: &Held| {
            let Held::Line(Ok(line)) = item else {
                return false;
            };
            match text::verb_of(&line.bytes) {
                b"ABOR" => stage != TransferStage::Closing,
                b"QUIT" => true,
                b"STAT" => text::has_no_argument(&line.bytes),
                _ => false,
            }
        };
        let flagged = |item: &Held| matches!(item, Held::Line(Ok(line)) if line.telnet.is_urgent());
        self.held
            .iter()
            .position(|item| flagged(item) && allowed(item))
            .or_else(|| self.held.front().filter(|item| allowed(item)).map(|_| 0))
    }

    fn input_limit(&mut self) {
        self.verb = Bytes::new();
        self.reply(
            ReplyCode::SERVICE_NOT_AVAILABLE,
            "Input limit exceeded, closing control connection.",
        );
        self.close(CloseReason::InputLimit);
    }
}

/// How many complete lines may wait while a command is in flight.
fn held_lines_limit(config: &ServerConfig) -> usize {
    (config.line.max_buffered / 16).max(64)
}

// ---------------------------------------------------------------------------------------------
// Transitions

impl ServerSession {
    /// The command in flight is answered: the session reads the next command. The idle timer
    /// counts from now.
    pub(super) fn become_idle(&mut self) {
        self.busy = Busy::Idle;
        self.last_activity = self.now;
        if let Some(shutdown) = &self.shutdown {
            let message = shutdown.message.clone();
            self.reply(ReplyCode::SERVICE_NOT_AVAILABLE, message);
            self.close(CloseReason::Shutdown);
        }
    }

    pub(super) fn wait_storage(&mut self, id: StorageOpId, op: PendingOp) {
        self.busy = Busy::Storage {
            id,
            op,
            since: self.now,
        };
    }

    pub(super) fn wait_auth(
        &mut self,
        id: AuthId,
        user: Bytes,
        password: Secret<Bytes>,
        account: Option<Bytes>,
    ) {
        self.busy = Busy::Auth {
            id,
            user,
            password,
            account,
            since: self.now,
        };
    }

    pub(super) fn wait_listener(&mut self, id: DataConnId, kind: PassiveKind) {
        self.busy = Busy::Bind {
            id,
            kind,
            since: self.now,
        };
    }

    pub(super) fn start_tls_handshake(&mut self) {
        self.tls = ControlTls::Handshake;
        self.busy = Busy::TlsHandshake;
        self.framer.discard_buffered();
        self.held.clear();
        self.held_bytes = 0;
    }

    pub(super) fn tls_established(&mut self) {
        self.tls = ControlTls::Protected;
        self.event(ServerEvent::TlsEstablished);
        // A HOST accepted before AUTH TLS must name the server the handshake asked for
        // (RFC 7151 §3); one that does not no longer holds.
        let is_literal = |host: &[u8]| {
            host.starts_with(b"[")
                || std::str::from_utf8(host).is_ok_and(|h| h.parse::<std::net::IpAddr>().is_ok())
        };
        let stale = self
            .settings
            .host
            .as_ref()
            .is_some_and(|host| !is_literal(host) && !self.matches_tls_server_name(host));
        if stale {
            self.settings.host = None;
        }
        self.become_idle();
    }

    /// True when there is no SNI name, or `host` is it (DNS names compare without case).
    pub(super) fn matches_tls_server_name(&self, host: &[u8]) -> bool {
        self.tls_server_name
            .as_ref()
            .is_none_or(|name| name.eq_ignore_ascii_case(host))
    }

    /// The login succeeded.
    pub(super) fn log_in(&mut self, principal: Principal, anonymous: bool) {
        self.event(ServerEvent::LoggedIn {
            user: principal.user.clone(),
            anonymous,
            read_only: principal.read_only_access(),
            permissions: principal.permissions,
        });
        self.failed_logins = 0;
        self.settings.cwd = VirtualPath::root();
        self.login = Login::LoggedIn { principal };
        self.reply(ReplyCode::LOGGED_IN, "User logged in");
    }

    /// A login failed: count it, and answer after the configured delay.
    pub(super) fn login_failed(&mut self, user: Bytes) {
        self.failed_logins = self.failed_logins.saturating_add(1);
        self.event(ServerEvent::LoginFailed {
            user,
            attempts: self.failed_logins,
        });
        self.login = Login::NeedUser;
        let last = self.failed_logins >= self.config.max_login_attempts.max(1);
        let delay = self.config.failed_login_delay;
        if delay.is_zero() {
            self.answer_failed_login(last);
        } else {
            let until = self.now.checked_add(delay).unwrap_or(self.now);
            self.busy = Busy::LoginDelay { until, last };
        }
    }

    pub(super) fn answer_failed_login(&mut self, last: bool) {
        self.verb = Bytes::from_static(b"PASS");
        if last {
            self.reply(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Too many failed login attempts, closing control connection.",
            );
            self.close(CloseReason::TooManyFailedLogins);
        } else {
            self.reply(ReplyCode::NOT_LOGGED_IN, "Login incorrect.");
            self.become_idle();
        }
    }

    /// Forgets the user and every setting (REIN; AUTH keeps HOST and the MLST/HASH/EPSV ALL
    /// selections).
    pub(super) fn reset_session(&mut self, keep_selections: bool) {
        self.drop_channel();
        let fresh = Settings::new(&self.config);
        let old = core::mem::replace(&mut self.settings, fresh);
        if keep_selections {
            self.settings.facts = old.facts;
            self.settings.hash = old.hash;
            self.settings.range = old.range;
            self.settings.epsv_all = old.epsv_all;
            self.settings.host = old.host;
        }
        self.login = Login::NeedUser;
        self.login_since = self.now;
    }

    /// Replaces the prepared data channel, tearing down the old one (RFC 959 §3.2: the port
    /// specification changed).
    pub(super) fn set_channel(&mut self, channel: DataChannel) {
        self.drop_channel();
        self.data = channel;
    }

    /// Tears down the prepared data channel, if any.
    pub(super) fn drop_channel(&mut self) {
        let old = core::mem::replace(&mut self.data, DataChannel::None);
        if let Some(id) = old.id() {
            self.intent(ServerDataIntent::Abort { id });
        }
    }

    /// Starts a transfer that owns the prepared channel.
    pub(super) fn begin_transfer(&mut self, transfer: Transfer) {
        self.busy = Busy::Transfer(Box::new(transfer));
    }

    pub(super) fn transfer_mut(&mut self) -> Option<&mut Transfer> {
        match &mut self.busy {
            Busy::Transfer(transfer) => Some(transfer),
            _ => None,
        }
    }

    /// The transfer is answered with 226: it ends, and QUIT or shutdown may follow.
    pub(super) fn complete_transfer(&mut self) {
        let Busy::Transfer(transfer) = core::mem::replace(&mut self.busy, Busy::Idle) else {
            return;
        };
        self.verb = Bytes::from_static(transfer.kind.verb().as_bytes());
        self.reply(ReplyCode::CLOSING_DATA, "Transfer complete.");
        self.event(ServerEvent::TransferCompleted {
            kind: transfer.kind,
            path: transfer.path,
            bytes: transfer.bytes,
        });
        self.after_transfer(transfer.quit_after);
    }

    /// The transfer failed with `code`: the data connection is torn down, and a QUIT that
    /// waited for the transfer is answered.
    pub(super) fn fail_transfer(&mut self, code: ReplyCode, text: impl Into<Bytes>) {
        if let Some(quit_after) = self.abandon_transfer(code, text) {
            self.after_transfer(quit_after);
        }
    }

    /// Like [`Self::fail_transfer`], but leaves what follows the transfer to the caller, so
    /// that replies owed for the interrupting command come before a waiting QUIT's 221 and
    /// the close. Returns whether a QUIT waits (`None`: no transfer was running).
    pub(super) fn abandon_transfer(
        &mut self,
        code: ReplyCode,
        text: impl Into<Bytes>,
    ) -> Option<bool> {
        let Busy::Transfer(transfer) = core::mem::replace(&mut self.busy, Busy::Idle) else {
            return None;
        };
        self.intent(ServerDataIntent::Abort { id: transfer.data });
        self.verb = Bytes::from_static(transfer.kind.verb().as_bytes());
        self.reply(code, text);
        self.event(ServerEvent::TransferFailed {
            kind: transfer.kind,
            path: transfer.path,
            code,
        });
        Some(transfer.quit_after)
    }

    /// Storage refused the transfer before any 1yz: the prepared channel stays for a retry.
    pub(super) fn refuse_transfer(&mut self, code: ReplyCode, text: impl Into<Bytes>) {
        let Busy::Transfer(transfer) = core::mem::replace(&mut self.busy, Busy::Idle) else {
            return;
        };
        self.verb = Bytes::from_static(transfer.kind.verb().as_bytes());
        self.data = transfer.channel;
        if let DataChannel::Passive {
            connected,
            bound_at,
            ..
        } = &mut self.data
        {
            *connected |= transfer.connected && !transfer.data_closed;
            *bound_at = self.now;
        }
        self.reply(code, text);
        self.after_transfer(transfer.quit_after);
    }

    pub(super) fn after_transfer(&mut self, quit_after: bool) {
        if quit_after {
            self.verb = Bytes::from_static(b"QUIT");
            self.reply(ReplyCode::CLOSING_CONTROL, "Goodbye.");
            self.close(CloseReason::Quit);
        } else {
            self.become_idle();
        }
    }

    // -- session stage -------------------------------------------------------------------

    /// A 120 was sent: the 220 follows at `ready_at`.
    pub(super) fn delay_greeting(&mut self, ready_at: Instant) {
        self.stage = Stage::Greeting { ready_at };
    }

    /// The 220 is being sent: commands are accepted from now on.
    pub(super) fn mark_ready(&mut self) {
        self.stage = Stage::Ready;
        self.last_activity = self.now;
        self.login_since = self.now;
    }

    /// Graceful shutdown: no new command starts; the one in flight may finish by `deadline`.
    pub(super) fn begin_shutdown(&mut self, message: String, deadline: Instant) {
        self.shutdown = Some(Shutdown { message, deadline });
    }

    // -- login and TLS ---------------------------------------------------------------------

    /// USER was accepted: PASS comes next. A logged-in user who sends USER starts a new
    /// login, and the login timeout counts from now.
    pub(super) fn expect_password(&mut self, user: Bytes, anonymous: bool) {
        if self.logged_in().is_some() {
            self.login_since = self.now;
        }
        self.login = Login::NeedPass { user, anonymous };
    }

    /// The credentials need an account: ACCT comes next.
    pub(super) fn expect_account(&mut self, user: Bytes, password: Secret<Bytes>) {
        self.login = Login::NeedAcct { user, password };
    }

    /// Queues `StopTls` (after the reply already queued): CCC (`cleared`) or REIN.
    pub(super) fn stop_tls(&mut self, cleared: bool) {
        self.emit(ServerOutput::StopTls);
        self.tls = if cleared {
            ControlTls::Cleared
        } else {
            ControlTls::Plain
        };
    }

    /// The authentication request `id` is answered: the session stops waiting and returns the
    /// user, password and account it was about.
    pub(super) fn take_auth(
        &mut self,
        id: AuthId,
    ) -> Option<(Bytes, Secret<Bytes>, Option<Bytes>)> {
        if !matches!(&self.busy, Busy::Auth { id: pending, .. } if *pending == id) {
            return None;
        }
        match core::mem::replace(&mut self.busy, Busy::Idle) {
            Busy::Auth {
                user,
                password,
                account,
                ..
            } => Some((user, password, account)),
            _ => None,
        }
    }

    /// The storage request `id` (not a transfer) is answered: the session stops waiting and
    /// returns what the request was for.
    pub(super) fn take_storage_op(&mut self, id: StorageOpId) -> Option<PendingOp> {
        if !matches!(&self.busy, Busy::Storage { id: pending, .. } if *pending == id) {
            return None;
        }
        match core::mem::replace(&mut self.busy, Busy::Idle) {
            Busy::Storage { op, .. } => Some(op),
            _ => None,
        }
    }

    // -- the prepared data channel ---------------------------------------------------------

    /// The listener `id` is bound: it is the prepared channel now.
    pub(super) fn channel_bound(&mut self, id: DataConnId) {
        self.data = DataChannel::Passive {
            id,
            bound_at: self.now,
            connected: false,
        };
    }

    /// The client connected to the prepared listener.
    pub(super) fn channel_connected(&mut self) {
        if let DataChannel::Passive { connected, .. } = &mut self.data {
            *connected = true;
        }
    }

    /// The prepared channel closed or failed by itself (the driver already tore it down).
    pub(super) fn channel_gone(&mut self) {
        self.data = DataChannel::None;
    }

    /// A transfer takes the prepared channel.
    pub(super) fn take_channel(&mut self) -> DataChannel {
        core::mem::replace(&mut self.data, DataChannel::None)
    }

    // -- the running transfer --------------------------------------------------------------

    pub(super) fn transfer_connected(&mut self) {
        let now = self.now;
        if let Some(transfer) = self.transfer_mut() {
            transfer.connected = true;
            transfer.moved_at = now;
        }
    }

    pub(super) fn transfer_progress(&mut self, bytes: u64) {
        let now = self.now;
        if let Some(transfer) = self.transfer_mut() {
            if bytes != transfer.bytes {
                transfer.moved_at = now;
            }
            transfer.bytes = bytes;
        }
    }

    /// The data connection reported `Closed`: that completes a closing transfer (226);
    /// earlier, it is remembered (an upload's EOF) until storage reports `Transferred`.
    pub(super) fn transfer_data_closed(&mut self) {
        let Some(transfer) = self.transfer_mut() else {
            return;
        };
        if transfer.stage == TransferStage::Closing {
            self.complete_transfer();
        } else {
            transfer.data_closed = true;
        }
    }

    /// Storage opened the source or sink (under `name`, for STOU): the transfer runs. Returns
    /// the transfer as it now is, for the 1yz reply and the active connect.
    pub(super) fn transfer_running(&mut self, name: Option<&[u8]>) -> Option<Transfer> {
        let now = self.now;
        let transfer = self.transfer_mut()?;
        if let Some(path) = name.and_then(|name| transfer.path.resolve(name).ok()) {
            transfer.path = path;
        }
        transfer.stage = TransferStage::Running;
        transfer.since = now;
        transfer.moved_at = now;
        Some(transfer.clone())
    }

    /// Storage moved every byte: close the data connection and wait for `Closed` before the
    /// 226 (RFC 959 §5.2), unless it is closed already.
    pub(super) fn transfer_stored(&mut self, bytes: u64) {
        let now = self.now;
        let Some(transfer) = self.transfer_mut() else {
            return;
        };
        transfer.bytes = bytes;
        transfer.storage = None;
        if transfer.data_closed {
            return self.complete_transfer();
        }
        transfer.stage = TransferStage::Closing;
        transfer.since = now;
        let id = transfer.data;
        self.intent(ServerDataIntent::Close { id });
    }

    /// Ends the session: tears down data connections, emits `Closed` and `Close`.
    pub(super) fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        if let Busy::Transfer(transfer) = &self.busy {
            let interrupted = ServerEvent::TransferInterrupted {
                kind: transfer.kind,
                path: transfer.path.clone(),
                bytes: transfer.bytes,
                reason,
            };
            let id = transfer.data;
            self.intent(ServerDataIntent::Abort { id });
            self.event(interrupted);
        }
        if let Busy::Bind { id, .. } = &self.busy {
            let id = *id;
            self.intent(ServerDataIntent::Abort { id });
        }
        self.drop_channel();
        self.busy = Busy::Idle;
        self.stage = Stage::Closed;
        self.held.clear();
        self.held_bytes = 0;
        self.framer.discard_buffered();
        self.event(ServerEvent::Closed { reason });
        self.emit(ServerOutput::Close);
    }
}
