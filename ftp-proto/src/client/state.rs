//! The session's state and every transition of it.
//!
//! Rule (after h11's `_state.py`): every type that says where the session is — the stage of
//! the control connection, TLS, the operation in flight and its step, the data connection of a
//! transfer, an abort in progress — lives here, and so does every method that moves between
//! those states. The decision modules (`ops.rs` builds plans, `replies.rs` reads replies,
//! `data.rs` reads driver events, `timer.rs` fires deadlines) choose *which* transition to
//! take; they read these fields and call these methods, and assign only the plain facts the
//! session has learnt about the server ([`Known`]).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::command::{Command, EncodeError};
use crate::feat::Features;
use crate::reply::{Reply, ReplyDecoder};
use crate::transfer::{DataType, FileStructure, FormatControl, TransferMode};

use super::config::{ClientConfig, ClientControlInfo};
use super::types::{
    ClientDataIntent, ClientEvent, ClientOutput, CloseReason, Credentials, DataConnId, DataFailure,
    Direction, ListKind, OpError, OpId, OpOutput, StoreKind, TransferKind, TransferParams,
    Transmit,
};

/// The control connection's stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    /// Waiting for the 220; a 120 moves `deadline`.
    Greeting { deadline: Instant },
    /// Commands go out.
    Ready,
    /// `Close` was emitted; nothing more happens.
    Closed,
}

/// TLS on the control connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ControlTls {
    /// Plaintext.
    Plain,
    /// `StartTls` emitted, waiting for `handle_tls_established`; input is ignored.
    Handshake,
    /// Protected.
    Protected,
    /// Protected once, cleared by CCC.
    Cleared,
}

/// What the session has learnt about the server. `None` means "not known": the session sends
/// the command again rather than trust a guess.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Known {
    pub(super) logged_in: bool,
    pub(super) features: Features,
    pub(super) utf8: bool,
    pub(super) data_type: Option<DataType>,
    pub(super) mode: Option<TransferMode>,
    pub(super) structure: Option<FileStructure>,
    /// EPSV got a 5yz: PASV from now on.
    pub(super) epsv_refused: bool,
    /// EPRT got 500/501/502: PORT from now on (IPv4).
    pub(super) eprt_refused: bool,
    /// A REST was accepted and may not have been consumed: the next transfer sends REST 0
    /// (RFC 3659 §5).
    pub(super) rest_pending: bool,
    /// The last SIZE answered: the path and its size in bytes (TYPE I).
    pub(super) last_size: Option<(Bytes, u64)>,
    /// PROT P is in force.
    pub(super) data_protected: bool,
    pub(super) host_sent: bool,
}

impl Known {
    fn new() -> Self {
        Self {
            logged_in: false,
            features: Features::default(),
            utf8: false,
            // RFC 959 makes TYPE A the default, but servers differ (some start in binary):
            // TYPE is always sent before the first transfer. MODE S and STRU F are universal.
            data_type: None,
            mode: Some(TransferMode::Stream),
            structure: Some(FileStructure::File),
            epsv_refused: false,
            eprt_refused: false,
            rest_pending: false,
            last_size: None,
            data_protected: false,
            host_sent: false,
        }
    }

    /// AUTH resets the user, TYPE, MODE, STRU and the data port (RFC 4217 §4.2).
    pub(super) fn reset_for_auth(&mut self) {
        self.logged_in = false;
        self.data_type = None;
        self.mode = Some(TransferMode::Stream);
        self.structure = Some(FileStructure::File);
        self.rest_pending = false;
        self.data_protected = false;
    }
}

/// How the final reply of a one-command operation becomes its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Finish {
    /// 2yz → [`OpOutput::Done`].
    Done,
    /// 2yz with a quoted path (the fallback when it has none) → [`OpOutput::Path`].
    Path(Option<Bytes>),
    /// 213 → [`OpOutput::Size`].
    Size,
    /// 213 → [`OpOutput::Modified`].
    Modified,
    /// 250 with an entry line → [`OpOutput::Entry`].
    Entry,
    /// 2yz → [`OpOutput::Reply`].
    Reply,
    /// 2yz or 3yz → [`OpOutput::Reply`] (raw commands).
    Raw,
}

/// What a transfer operation moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TransferWhat {
    Retrieve,
    Store(StoreKind),
    List(ListKind),
}

/// What the application asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Request {
    Login(Credentials),
    AuthTls,
    Ccc,
    Feat,
    /// One command and how its reply is read.
    Simple(Command, Finish),
    Rename {
        from: Bytes,
        to: Bytes,
    },
    Size(Bytes),
    Transfer {
        what: TransferWhat,
        path: Option<Bytes>,
        offset: u64,
    },
    Quit,
    /// The internal NOOP of the keep-alive timer.
    KeepAlive,
}

/// One step of an operation: a command whose reply is awaited, or a wait for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Host,
    Auth,
    /// `StartTls` emitted; waiting for `handle_tls_established`.
    Handshake,
    Pbsz,
    Prot,
    User,
    Pass,
    Acct,
    Feat,
    OptsUtf8,
    Type(DataType),
    Mode(TransferMode),
    Stru(FileStructure),
    Epsv,
    Pasv,
    /// Active mode: `Listen` emitted; waiting for `Listening`.
    Listen,
    /// Passive mode: `Connect` emitted; waiting for `Connected`.
    Connect(SocketAddr),
    Eprt(SocketAddr),
    Port(SocketAddrV4),
    Rest(u64),
    /// The transfer command itself (RETR, STOR, LIST, ...).
    Transfer,
    /// LIST of a folder: PWD, to come back to after listing it from inside.
    SaveDir,
    /// LIST of a folder: CWD into it (its existence is decided here, not by LIST).
    EnterDir(Bytes),
    /// LIST of a folder: CWD back to the saved folder, after the transfer ended either way.
    LeaveDir(Bytes),
    Rnfr,
    Rnto,
    /// The request's own command ([`Request::Simple`], SIZE).
    Main,
    Ccc,
    Quit,
    Noop,
}

/// Where a data connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinkState {
    /// Active: `Listen` emitted, not yet bound.
    Binding,
    /// Active: bound, waiting for the server to connect.
    Listening,
    /// Passive: `Connect` emitted.
    Connecting,
    /// Connected, bytes not moving yet.
    Open,
    /// `Start` emitted: the driver moves bytes.
    Running,
    /// `Finished` reported, `Close` emitted: waiting for `Closed`.
    Closing,
    /// Gone: closed cleanly (`Ok`), failed, or torn down by the session.
    Ended(Result<(), DataFailure>),
}

/// The data connection of a transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Link {
    pub(super) id: DataConnId,
    /// Active mode: the only peer allowed to connect.
    pub(super) expect: Option<IpAddr>,
    pub(super) state: LinkState,
    /// When the current data wait began (bind, connect, close); while `Open`, when the
    /// connection came up.
    pub(super) since: Instant,
    pub(super) bytes: u64,
    /// PROT P, and [`ClientDataIntent::Handshake`] not emitted yet: the driver holds the
    /// connection's TLS back until the session says ([`ClientSession::secure_link`]).
    pub(super) tls_pending: bool,
}

impl Link {
    /// True once the connection is gone.
    pub(super) fn ended(&self) -> bool {
        matches!(self.state, LinkState::Ended(_))
    }
}

/// ABOR in progress (RFC 959 §4.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Abort {
    /// ABOR sent before the transfer's final reply: that reply comes first.
    AwaitTransferReply,
    /// The transfer's reply came; ABOR's own follows. After a 2yz (`grace`) the server may
    /// have sent only one reply, so the wait is short and its end is not an error.
    AwaitAborReply { grace: bool },
}

/// A transfer operation's progress: the two signals (final reply, end of the data connection)
/// it needs before it completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Transfer {
    pub(super) kind: TransferKind,
    /// The representation on the wire, for `Start`.
    pub(super) wire: TransferParams,
    pub(super) link: Option<Link>,
    /// A 1yz arrived.
    pub(super) prelim: bool,
    pub(super) final_reply: Option<Reply>,
    pub(super) stored_as: Option<Bytes>,
    pub(super) abort: Option<Abort>,
    /// LIST without an argument: the working directory is the folder to list.
    pub(super) list_here: bool,
    /// RETR: the bytes the server said it will send (the 1yz's `(N bytes)`, or SIZE of the
    /// same path just before, less the offset).
    pub(super) expected: Option<u64>,
}

impl Transfer {
    pub(super) fn direction(&self) -> Direction {
        if self.kind.is_upload() {
            Direction::Upload
        } else {
            Direction::Download
        }
    }
}

/// An operation: queued (no step yet) or in flight.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Op {
    /// `None` for the internal keep-alive NOOP.
    pub(super) id: Option<OpId>,
    pub(super) request: Request,
    pub(super) plan: VecDeque<Step>,
    /// The step in flight: its reply (or driver event) is awaited.
    pub(super) step: Option<Step>,
    /// When the current reply wait began.
    pub(super) since: Instant,
    pub(super) transfer: Option<Box<Transfer>>,
    /// The reply the operation reports when its plan runs out (login's 230, AUTH's 234).
    pub(super) result_reply: Option<Reply>,
    /// `abort` was called before the operation reached its transfer command: it ends as soon
    /// as the step in flight is answered.
    pub(super) cancel: bool,
    /// The working directory PWD reported ([`Step::SaveDir`]).
    pub(super) saved_dir: Option<Bytes>,
    /// Set once CWD into a folder to list succeeded: where to go back to.
    pub(super) return_dir: Option<Bytes>,
    /// The operation's result, held while CWD goes back ([`Step::LeaveDir`]).
    pub(super) held: Option<Result<OpOutput, OpError>>,
}

/// The client side of one FTP control connection; see the [module docs](super) for the
/// contract.
#[derive(Debug)]
pub struct ClientSession {
    pub(super) config: ClientConfig,
    pub(super) conn: ClientControlInfo,
    pub(super) now: Instant,
    pub(super) decoder: ReplyDecoder,
    pub(super) out: VecDeque<ClientOutput>,
    pub(super) next_id: u64,
    pub(super) stage: Stage,
    pub(super) tls: ControlTls,
    pub(super) known: Known,
    /// TYPE, MODE and STRU the application wants for file transfers.
    pub(super) params: TransferParams,
    pub(super) queue: VecDeque<Op>,
    pub(super) current: Option<Op>,
    /// When the last command went out or the last reply came in (the keep-alive timer counts
    /// from here).
    pub(super) last_activity: Instant,
    /// QUIT is queued: no new operation is taken.
    pub(super) quitting: bool,
}

// ---------------------------------------------------------------------------------------------
// Construction and output

impl ClientSession {
    pub(super) fn build(config: ClientConfig, conn: ClientControlInfo, now: Instant) -> Self {
        let deadline = super::timer::after(now, config.reply_timeout);
        Self {
            decoder: ReplyDecoder::new(config.reply),
            config,
            conn,
            now,
            out: VecDeque::new(),
            next_id: 1,
            stage: Stage::Greeting { deadline },
            tls: if conn.implicit_tls {
                ControlTls::Protected
            } else {
                ControlTls::Plain
            },
            known: Known::new(),
            params: TransferParams {
                data_type: DataType::Image,
                mode: TransferMode::Stream,
                structure: FileStructure::File,
            },
            queue: VecDeque::new(),
            current: None,
            last_activity: now,
            quitting: false,
        }
    }

    pub(super) fn fresh_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Moves time forward (never back).
    pub(super) fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    pub(super) fn emit(&mut self, output: ClientOutput) {
        self.out.push_back(output);
    }

    pub(super) fn event(&mut self, event: ClientEvent) {
        self.emit(ClientOutput::Event(event));
    }

    pub(super) fn intent(&mut self, intent: ClientDataIntent) {
        self.emit(ClientOutput::Data(intent));
    }

    /// Encodes and queues one command.
    pub(super) fn send_command(&mut self, command: &Command) -> Result<(), EncodeError> {
        let mut bytes = BytesMut::new();
        command.encode_with(&mut bytes, self.config.cr_encoding)?;
        self.transmit(bytes.freeze(), false);
        Ok(())
    }

    pub(super) fn transmit(&mut self, bytes: Bytes, urgent: bool) {
        self.last_activity = self.now;
        self.emit(ClientOutput::Transmit(Transmit { bytes, urgent }));
    }
}

// ---------------------------------------------------------------------------------------------
// Transitions: the control connection

impl ClientSession {
    /// The 220 arrived: commands go out from now on.
    pub(super) fn become_ready(&mut self, reply: Reply) {
        self.stage = Stage::Ready;
        self.event(ClientEvent::Greeted { reply });
    }

    /// A 120 arrived: the 220 may take until `deadline`.
    pub(super) fn delay_greeting(&mut self, reply: Reply, deadline: Instant) {
        self.stage = Stage::Greeting { deadline };
        self.event(ClientEvent::Delayed { reply });
    }

    /// `StartTls` goes out; input is ignored until the handshake is reported. Bytes received
    /// after the 234 are dropped: they arrived in plaintext.
    pub(super) fn start_tls(&mut self) {
        self.emit(ClientOutput::StartTls);
        self.tls = ControlTls::Handshake;
        self.decoder = ReplyDecoder::new(self.config.reply);
    }

    pub(super) fn tls_established(&mut self) {
        self.tls = ControlTls::Protected;
    }

    /// CCC was accepted: `StopTls` goes out.
    pub(super) fn stop_tls(&mut self) {
        self.emit(ClientOutput::StopTls);
        self.tls = ControlTls::Cleared;
    }

    /// Ends the session: every pending operation fails, data connections are torn down, then
    /// `Closed` and `Close`.
    pub(super) fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        let error = reason.op_error();
        if let Some(op) = self.current.take() {
            self.end_op(op, Err(error.clone()));
        }
        while let Some(op) = self.queue.pop_front() {
            self.end_op(op, Err(error.clone()));
        }
        self.stage = Stage::Closed;
        self.decoder = ReplyDecoder::new(self.config.reply);
        self.event(ClientEvent::Closed { reason });
        self.emit(ClientOutput::Close);
    }
}

// ---------------------------------------------------------------------------------------------
// Transitions: operations

impl ClientSession {
    /// Queues an operation and returns its id.
    pub(super) fn enqueue(&mut self, request: Request) -> OpId {
        let id = OpId::from_raw(self.fresh_id());
        if request == Request::Quit {
            self.quitting = true;
        }
        self.queue.push_back(Op {
            id: Some(id),
            request,
            plan: VecDeque::new(),
            step: None,
            since: self.now,
            transfer: None,
            result_reply: None,
            cancel: false,
            saved_dir: None,
            return_dir: None,
            held: None,
        });
        id
    }

    /// Starts the keep-alive NOOP.
    pub(super) fn begin_keepalive(&mut self) {
        self.current = Some(Op {
            id: None,
            request: Request::KeepAlive,
            plan: VecDeque::from([Step::Noop]),
            step: None,
            since: self.now,
            transfer: None,
            result_reply: None,
            cancel: false,
            saved_dir: None,
            return_dir: None,
            held: None,
        });
    }

    /// Takes the next queued operation and gives it its plan (built now, from what is known
    /// now) and, for a transfer, its transfer state.
    pub(super) fn begin_op(&mut self, plan: VecDeque<Step>, transfer: Option<Transfer>) {
        let Some(mut op) = self.queue.pop_front() else {
            return;
        };
        op.plan = plan;
        op.since = self.now;
        op.transfer = transfer.map(Box::new);
        self.current = Some(op);
    }

    /// The current operation's next step goes out (or starts waiting for the driver).
    pub(super) fn begin_step(&mut self, step: Step) {
        let now = self.now;
        if let Some(op) = self.current.as_mut() {
            op.step = Some(step);
            op.since = now;
        }
    }

    /// The step in flight is answered; `first` runs before the rest of the plan.
    pub(super) fn end_step(&mut self, first: Vec<Step>) {
        if let Some(op) = self.current.as_mut() {
            op.step = None;
            for step in first.into_iter().rev() {
                op.plan.push_front(step);
            }
        }
    }

    /// A preliminary reply: the step keeps waiting, from now.
    pub(super) fn extend_step(&mut self) {
        let now = self.now;
        if let Some(op) = self.current.as_mut() {
            op.since = now;
        }
    }

    /// Remembers the reply the operation reports when its plan runs out.
    pub(super) fn set_result_reply(&mut self, reply: Reply) {
        if let Some(op) = self.current.as_mut() {
            op.result_reply = Some(reply);
        }
    }

    /// Marks the current operation to end at its next answer.
    pub(super) fn cancel_current(&mut self) {
        if let Some(op) = self.current.as_mut() {
            op.cancel = true;
        }
    }

    /// The current operation is over; or, when it went into a folder to list it, its result
    /// waits while CWD goes back ([`Step::LeaveDir`]), whatever the result.
    pub(super) fn complete(&mut self, result: Result<OpOutput, OpError>) {
        if let Some(back) = self.current.as_mut().and_then(|op| op.return_dir.take()) {
            return self.hold_result(result, back);
        }
        if let Some(op) = self.current.take() {
            self.end_op(op, result);
        }
    }

    /// Keeps `result` and makes CWD `back` the operation's only step left. The transfer's
    /// data connection is torn down now if it is still up.
    fn hold_result(&mut self, result: Result<OpOutput, OpError>, back: Bytes) {
        let link = self
            .link_ref()
            .filter(|link| !link.ended())
            .map(|link| link.id);
        if let Some(id) = link {
            self.intent(ClientDataIntent::Abort { id });
        }
        if let Some(op) = self.current.as_mut() {
            op.transfer = None;
            op.held = Some(result);
            op.plan = VecDeque::from([Step::LeaveDir(back)]);
            op.step = None;
            op.cancel = false;
        }
    }

    /// Removes a queued (not started) operation.
    pub(super) fn take_queued(&mut self, id: OpId) -> Option<Op> {
        let index = self.queue.iter().position(|op| op.id == Some(id))?;
        let op = self.queue.remove(index)?;
        if op.request == Request::Quit {
            self.quitting = false;
        }
        Some(op)
    }

    /// Reports an operation's result and tears down its data connection if it is still up.
    pub(super) fn end_op(&mut self, op: Op, result: Result<OpOutput, OpError>) {
        if let Some(link) = op.transfer.as_ref().and_then(|t| t.link.as_ref()) {
            if !link.ended() {
                let id = link.id;
                self.intent(ClientDataIntent::Abort { id });
            }
        }
        if let Some(id) = op.id {
            self.event(ClientEvent::Completed { op: id, result });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transitions: the transfer and its data connection

impl ClientSession {
    pub(super) fn transfer_mut(&mut self) -> Option<&mut Transfer> {
        self.current.as_mut()?.transfer.as_deref_mut()
    }

    pub(super) fn transfer_ref(&self) -> Option<&Transfer> {
        self.current.as_ref()?.transfer.as_deref()
    }

    pub(super) fn link_ref(&self) -> Option<&Link> {
        self.transfer_ref()?.link.as_ref()
    }

    fn link_mut(&mut self) -> Option<&mut Link> {
        self.transfer_mut()?.link.as_mut()
    }

    /// Passive mode: connect to `addr`.
    pub(super) fn open_passive(&mut self, addr: SocketAddr) {
        let id = DataConnId::from_raw(self.fresh_id());
        let tls = self.known.data_protected;
        let since = self.now;
        if let Some(transfer) = self.transfer_mut() {
            transfer.link = Some(Link {
                id,
                expect: None,
                state: LinkState::Connecting,
                since,
                bytes: 0,
                tls_pending: tls,
            });
            self.intent(ClientDataIntent::Connect { id, addr, tls });
        }
    }

    /// Active mode: listen on `ip` for the control peer.
    pub(super) fn open_active(&mut self, ip: IpAddr, expect_peer: IpAddr) {
        let id = DataConnId::from_raw(self.fresh_id());
        let tls = self.known.data_protected;
        let since = self.now;
        if let Some(transfer) = self.transfer_mut() {
            transfer.link = Some(Link {
                id,
                expect: Some(expect_peer),
                state: LinkState::Binding,
                since,
                bytes: 0,
                tls_pending: tls,
            });
            self.intent(ClientDataIntent::Listen {
                id,
                ip,
                expect_peer,
                tls,
            });
        }
    }

    pub(super) fn link_to(&mut self, state: LinkState) {
        let now = self.now;
        if let Some(link) = self.link_mut() {
            link.state = state;
            link.since = now;
        }
    }

    /// PROT P: the connection's TLS handshake starts now (`Handshake`), once: the server
    /// accepted the transfer command, or the grace for its answer ran out (see
    /// [`ClientConfig::data_tls_grace`]).
    pub(super) fn secure_link(&mut self) {
        let Some(link) = self.link_mut() else {
            return;
        };
        if !link.tls_pending || link.ended() {
            return;
        }
        link.tls_pending = false;
        let id = link.id;
        self.intent(ClientDataIntent::Handshake { id });
    }

    /// The transfer starts moving bytes: `Handshake` (PROT P, unless the grace already
    /// started it), `Start`, then `TransferReady`.
    pub(super) fn start_link(&mut self, size_hint: Option<u64>) {
        let Some(op) = self.current.as_ref().and_then(|op| op.id) else {
            return;
        };
        let Some(transfer) = self.transfer_ref() else {
            return;
        };
        let Some(link) = transfer.link.as_ref() else {
            return;
        };
        let (id, direction, params) = (link.id, transfer.direction(), transfer.wire);
        self.secure_link();
        self.link_to(LinkState::Running);
        self.intent(ClientDataIntent::Start {
            id,
            op,
            direction,
            params,
        });
        self.event(ClientEvent::TransferReady {
            op,
            data: id,
            direction,
            size_hint,
        });
    }

    /// The driver finished moving bytes: close the connection.
    pub(super) fn finish_link(&mut self, bytes: u64) {
        let Some(link) = self.link_mut() else {
            return;
        };
        link.bytes = bytes;
        let id = link.id;
        self.link_to(LinkState::Closing);
        self.intent(ClientDataIntent::Close { id });
    }

    /// The session tears the data connection down.
    pub(super) fn abort_link(&mut self, failure: DataFailure) {
        let Some(link) = self.link_ref() else {
            return;
        };
        if link.ended() {
            return;
        }
        let id = link.id;
        self.link_to(LinkState::Ended(Err(failure)));
        self.intent(ClientDataIntent::Abort { id });
    }

    /// A 1yz arrived for the transfer command.
    pub(super) fn transfer_prelim(&mut self, stored_as: Option<Bytes>, size: Option<u64>) {
        if let Some(transfer) = self.transfer_mut() {
            transfer.prelim = true;
            if transfer.kind == TransferKind::Retrieve && size.is_some() {
                transfer.expected = size;
            }
            if transfer.stored_as.is_none() {
                transfer.stored_as = stored_as;
            }
        }
        // An active-mode listener waits for the server from now on.
        if self.link_ref().map(|l| l.state) == Some(LinkState::Listening) {
            self.link_to(LinkState::Listening);
        }
    }

    /// The transfer's final reply arrived.
    pub(super) fn transfer_final(&mut self, reply: Reply) {
        if let Some(transfer) = self.transfer_mut() {
            if transfer.stored_as.is_none() {
                transfer.stored_as = reply.stored_as();
            }
            transfer.final_reply = Some(reply);
        }
    }

    pub(super) fn set_abort(&mut self, abort: Abort) {
        let now = self.now;
        if let Some(op) = self.current.as_mut() {
            op.since = now;
            if let Some(transfer) = op.transfer.as_deref_mut() {
                transfer.abort = Some(abort);
            }
        }
    }
}

/// The wire representation of a transfer of `kind` when the application asked for `wanted`:
/// listings travel as TYPE A (LIST, NLST; RFC 1123 §4.1.2.7) or as TYPE L 8, MODE S (MLSD;
/// RFC 3659 §7.2), whatever TYPE is set.
pub(super) fn wire_params(kind: TransferKind, wanted: TransferParams) -> TransferParams {
    match kind {
        TransferKind::List | TransferKind::Nlst => TransferParams {
            data_type: DataType::Ascii(FormatControl::NonPrint),
            mode: wanted.mode,
            structure: FileStructure::File,
        },
        TransferKind::Mlsd => TransferParams {
            data_type: DataType::Image,
            mode: TransferMode::Stream,
            structure: FileStructure::File,
        },
        _ => wanted,
    }
}
