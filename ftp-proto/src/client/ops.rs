//! Operations: checking what the application asks for, turning each request into its plan of
//! steps when it starts, the command each step sends, and running the plan.

use std::collections::VecDeque;
use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};

use crate::addr::canonical_ip;
use crate::command::{AuthMechanism, Command, OptsArg, ProtLevel};
use crate::transfer::{DataType, TransferMode};

use super::config::DataMode;
use super::state::{
    wire_params, ClientSession, ControlTls, LinkState, Request, Stage, Step, Transfer, TransferWhat,
};
use super::types::{
    DataFailure, ListKind, OpError, OpId, OpOutput, StoreKind, TransferKind, UsageError,
};

// ---------------------------------------------------------------------------------------------
// Checking requests

impl ClientSession {
    /// Queues `request` when the session can take it.
    pub(super) fn request(&mut self, request: Request) -> Result<OpId, UsageError> {
        if self.is_closed() || self.quitting {
            return Err(UsageError::Closed);
        }
        if needs_login(&request) && !self.login_done_or_queued() {
            return Err(UsageError::NotLoggedIn);
        }
        let id = self.enqueue(request);
        self.pump();
        Ok(id)
    }

    fn login_done_or_queued(&self) -> bool {
        let is_login = |op: &super::state::Op| matches!(op.request, Request::Login(_));
        self.known.logged_in
            || self.current.as_ref().is_some_and(is_login)
            || self.queue.iter().any(is_login)
    }

    fn auth_queued(&self) -> bool {
        let is_auth = |op: &super::state::Op| op.request == Request::AuthTls;
        self.current.as_ref().is_some_and(is_auth) || self.queue.iter().any(is_auth)
    }

    /// A command the request will send, checked now so a bad argument is the caller's error.
    pub(super) fn check(&self, command: &Command) -> Result<(), UsageError> {
        let mut scratch = BytesMut::new();
        command.encode_with(&mut scratch, self.config.cr_encoding)?;
        Ok(())
    }

    pub(super) fn simple(
        &mut self,
        command: Command,
        finish: super::state::Finish,
    ) -> Result<OpId, UsageError> {
        self.check(&command)?;
        self.request(Request::Simple(command, finish))
    }

    pub(super) fn auth_request(&mut self) -> Result<OpId, UsageError> {
        if self.tls != ControlTls::Plain || self.conn.implicit_tls || self.auth_queued() {
            return Err(UsageError::TlsActive);
        }
        self.check_host()?;
        self.request(Request::AuthTls)
    }

    pub(super) fn ccc_request(&mut self) -> Result<OpId, UsageError> {
        if self.tls != ControlTls::Protected && !self.auth_queued() {
            return Err(UsageError::TlsInactive);
        }
        self.request(Request::Ccc)
    }

    pub(super) fn raw_request(&mut self, command: Command) -> Result<OpId, UsageError> {
        if raw_forbidden(&command) {
            return Err(UsageError::RawNotAllowed(Bytes::copy_from_slice(
                command.verb(),
            )));
        }
        self.simple(command, super::state::Finish::Raw)
    }

    /// A raw line: parsed only to refuse the verbs that need a dedicated method; sent as given
    /// (Telnet-escaped, CRLF added).
    pub(super) fn raw_line_request(&mut self, line: Bytes) -> Result<OpId, UsageError> {
        let (verb, arg) = match memchr::memchr(b' ', &line) {
            Some(at) => (line.slice(..at), Some(line.slice(at + 1..))),
            None => (line.clone(), None),
        };
        if let Ok(command) = Command::parse(&line) {
            if raw_forbidden(&command) {
                return Err(UsageError::RawNotAllowed(Bytes::copy_from_slice(
                    command.verb(),
                )));
            }
        }
        self.simple(Command::Unknown { verb, arg }, super::state::Finish::Raw)
    }

    /// HOST, when configured, must be writable before the first operation that would send it.
    pub(super) fn check_host(&self) -> Result<(), UsageError> {
        match &self.config.host {
            Some(host) if !self.known.host_sent => self.check(&Command::Host(host.clone())),
            _ => Ok(()),
        }
    }

    pub(super) fn transfer_request(
        &mut self,
        what: TransferWhat,
        path: Option<Bytes>,
        offset: u64,
    ) -> Result<OpId, UsageError> {
        if what == TransferWhat::Store(StoreKind::Unique) && offset > 0 {
            return Err(UsageError::RestartNotAllowed);
        }
        let kind = transfer_kind(&what, true);
        self.check(&transfer_command(kind, path.clone()))?;
        self.request(Request::Transfer { what, path, offset })
    }

    pub(super) fn abort_request(&mut self, id: OpId) -> Result<(), UsageError> {
        if let Some(op) = self.take_queued(id) {
            self.end_op(op, Err(OpError::Aborted { reply: None }));
            self.pump();
            return Ok(());
        }
        if self.current.as_ref().and_then(|op| op.id) != Some(id) {
            return Err(UsageError::UnknownOp(id));
        }
        self.abort_current();
        self.pump();
        Ok(())
    }
}

fn needs_login(request: &Request) -> bool {
    !matches!(
        request,
        Request::Login(_)
            | Request::AuthTls
            | Request::Ccc
            | Request::Feat
            | Request::Quit
            | Request::KeepAlive
            | Request::Simple(Command::Noop | Command::Stat(None), _)
            | Request::Simple(_, super::state::Finish::Raw)
    )
}

/// Verbs a raw command must not send: their effect on the session needs the session's help.
fn raw_forbidden(command: &Command) -> bool {
    matches!(
        command,
        Command::Auth(_)
            | Command::Ccc
            | Command::Rein
            | Command::Quit
            | Command::Abor
            | Command::Retr(_)
            | Command::Stor(_)
            | Command::Stou(_)
            | Command::Appe(_)
            | Command::List(_)
            | Command::Nlst(_)
            | Command::Mlsd(_)
    )
}

/// LIST of a folder as curl does it: PWD, CWD into it, LIST without an argument (and CWD
/// back when the transfer ended). Servers that hand LIST's argument to /bin/ls split it at
/// spaces, and list a missing folder as empty; CWD answers 550 for it instead.
fn list_from_inside(path: Option<&Bytes>, transfer: &mut Transfer, plan: &mut VecDeque<Step>) {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return;
    };
    if transfer.kind == TransferKind::List {
        plan.push_front(Step::EnterDir(path.clone()));
        plan.push_front(Step::SaveDir);
        transfer.list_here = true;
    }
}

/// The transfer kind a request sends; `mlsd` says whether `ListKind::Auto` picks MLSD.
fn transfer_kind(what: &TransferWhat, mlsd: bool) -> TransferKind {
    match what {
        TransferWhat::Retrieve => TransferKind::Retrieve,
        TransferWhat::Store(StoreKind::Replace) => TransferKind::Store,
        TransferWhat::Store(StoreKind::Append) => TransferKind::Append,
        TransferWhat::Store(StoreKind::Unique) => TransferKind::StoreUnique,
        TransferWhat::List(ListKind::Mlsd) => TransferKind::Mlsd,
        TransferWhat::List(ListKind::List) => TransferKind::List,
        TransferWhat::List(ListKind::Nlst) => TransferKind::Nlst,
        TransferWhat::List(ListKind::Auto) if mlsd => TransferKind::Mlsd,
        TransferWhat::List(ListKind::Auto) => TransferKind::List,
    }
}

fn transfer_command(kind: TransferKind, path: Option<Bytes>) -> Command {
    let path = path.filter(|p| !p.is_empty());
    match kind {
        TransferKind::Retrieve => Command::Retr(path.unwrap_or_default()),
        TransferKind::Store => Command::Stor(path.unwrap_or_default()),
        TransferKind::Append => Command::Appe(path.unwrap_or_default()),
        TransferKind::StoreUnique => Command::Stou(path),
        TransferKind::List => Command::List(path),
        TransferKind::Nlst => Command::Nlst(path),
        TransferKind::Mlsd => Command::Mlsd(path),
    }
}

// ---------------------------------------------------------------------------------------------
// Plans

impl ClientSession {
    /// The steps of `request`, decided from what the session knows now.
    fn plan(&self, request: &Request) -> (VecDeque<Step>, Option<Transfer>) {
        let mut plan = VecDeque::new();
        let mut transfer = None;
        match request {
            Request::Login(_) => {
                self.host_step(&mut plan);
                plan.push_back(Step::User);
                // After the login, as curl does: implicit FTPS, or AUTH TLS whose PBSZ got
                // 503 (servers that want the user first). PASS and ACCT go before these.
                if self.tls == ControlTls::Protected
                    && self.config.protect_data
                    && !self.known.data_protected
                {
                    plan.extend([Step::Pbsz, Step::Prot]);
                }
                if self.config.feat {
                    plan.push_back(Step::Feat);
                }
            }
            Request::AuthTls => {
                self.host_step(&mut plan);
                plan.extend([Step::Auth, Step::Handshake]);
                if self.config.protect_data {
                    plan.extend([Step::Pbsz, Step::Prot]);
                }
            }
            Request::Ccc => plan.push_back(Step::Ccc),
            Request::Feat => plan.push_back(Step::Feat),
            Request::Simple(..) => plan.push_back(Step::Main),
            Request::Rename { .. } => plan.extend([Step::Rnfr, Step::Rnto]),
            Request::Size(_) => {
                // Quirk 7: SIZE under TYPE A is refused or converted; TYPE I first.
                if self.known.data_type != Some(DataType::Image) {
                    plan.push_back(Step::Type(DataType::Image));
                }
                plan.push_back(Step::Main);
            }
            Request::Transfer { what, path, offset } => {
                let mut t = self.transfer_plan(what, *offset, &mut plan);
                if t.kind == TransferKind::Retrieve {
                    t.expected = self.known_size(path.as_ref(), *offset);
                }
                list_from_inside(path.as_ref(), &mut t, &mut plan);
                transfer = Some(t);
            }
            Request::Quit => plan.push_back(Step::Quit),
            Request::KeepAlive => plan.push_back(Step::Noop),
        }
        (plan, transfer)
    }

    fn host_step(&self, plan: &mut VecDeque<Step>) {
        if self.config.host.is_some() && !self.known.host_sent {
            plan.push_back(Step::Host);
        }
    }

    /// TYPE/MODE/STRU as needed, the data connection, REST, then the transfer command.
    fn transfer_plan(
        &self,
        what: &TransferWhat,
        offset: u64,
        plan: &mut VecDeque<Step>,
    ) -> Transfer {
        let mlsd = self.known.features.mlst_facts().is_some();
        let kind = transfer_kind(what, mlsd);
        let wire = wire_params(kind, self.params);
        let is_file = !matches!(
            kind,
            TransferKind::List | TransferKind::Nlst | TransferKind::Mlsd
        );
        if is_file && self.known.data_type != Some(wire.data_type) {
            plan.push_back(Step::Type(wire.data_type));
        }
        if kind != TransferKind::Mlsd && self.known.mode != Some(wire.mode) {
            plan.push_back(Step::Mode(wire.mode));
        }
        if is_file && self.known.structure != Some(wire.structure) {
            plan.push_back(Step::Stru(wire.structure));
        }
        match self.config.data_mode {
            DataMode::Passive if self.config.epsv && !self.known.epsv_refused => {
                plan.push_back(Step::Epsv)
            }
            DataMode::Passive => plan.push_back(Step::Pasv),
            DataMode::Active => plan.push_back(Step::Listen),
        }
        let stream = wire.mode == TransferMode::Stream;
        if offset > 0 || (self.known.rest_pending && stream && is_file) {
            plan.push_back(Step::Rest(offset));
        }
        plan.push_back(Step::Transfer);
        Transfer {
            kind,
            wire,
            link: None,
            prelim: false,
            final_reply: None,
            stored_as: None,
            abort: None,
            list_here: false,
            expected: None,
        }
    }

    /// What SIZE said of `path` just before, less `offset`.
    fn known_size(&self, path: Option<&Bytes>, offset: u64) -> Option<u64> {
        let (sized, size) = self.known.last_size.as_ref()?;
        (Some(sized) == path).then(|| size.saturating_sub(offset))
    }

    /// The command `step` sends, `None` for steps that wait for the driver.
    fn step_command(&self, step: &Step) -> Option<Command> {
        let op = self.current.as_ref()?;
        let command = match (step, &op.request) {
            (Step::Host, _) => Command::Host(self.config.host.clone()?),
            (Step::Auth, _) => Command::Auth(AuthMechanism::Tls),
            (Step::Pbsz, _) => Command::Pbsz(0),
            (Step::Prot, _) => Command::Prot(ProtLevel::Private),
            (Step::User, Request::Login(c)) => Command::User(c.user.clone()),
            (Step::Pass, Request::Login(c)) => Command::Pass(c.password.expose().clone()),
            (Step::Acct, Request::Login(c)) => Command::Acct(c.account.as_ref()?.expose().clone()),
            (Step::Feat, _) => Command::Feat,
            (Step::OptsUtf8, _) => Command::Opts(OptsArg::Utf8(Some(true))),
            (Step::Type(t), _) => Command::Type(*t),
            (Step::Mode(m), _) => Command::Mode(*m),
            (Step::Stru(s), _) => Command::Stru(*s),
            (Step::Epsv, _) => Command::Epsv(None),
            (Step::Pasv, _) => Command::Pasv,
            (Step::Eprt(addr), _) => Command::Eprt(*addr),
            (Step::Port(addr), _) => Command::Port(*addr),
            (Step::Rest(offset), _) => Command::Rest(crate::command::RestMarker::Offset(*offset)),
            (Step::Transfer, Request::Transfer { path, .. }) => {
                let transfer = op.transfer.as_ref()?;
                let path = if transfer.list_here {
                    None
                } else {
                    path.clone()
                };
                transfer_command(transfer.kind, path)
            }
            (Step::SaveDir, _) => Command::Pwd,
            (Step::EnterDir(path) | Step::LeaveDir(path), _) => Command::Cwd(path.clone()),
            (Step::Rnfr, Request::Rename { from, .. }) => Command::Rnfr(from.clone()),
            (Step::Rnto, Request::Rename { to, .. }) => Command::Rnto(to.clone()),
            (Step::Main, Request::Simple(command, _)) => command.clone(),
            (Step::Main, Request::Size(path)) => Command::Size(path.clone()),
            (Step::Ccc, _) => Command::Ccc,
            (Step::Quit, _) => Command::Quit,
            (Step::Noop, _) => Command::Noop,
            _ => return None,
        };
        Some(command)
    }
}

// ---------------------------------------------------------------------------------------------
// Running plans

impl ClientSession {
    /// Starts operations and steps while the session can: after every input and every
    /// command, and when the driver has drained the outputs.
    pub(super) fn pump(&mut self) {
        // Each pass either starts a step (and stops: its answer is awaited), ends an
        // operation, or finds nothing to do; the bound is a second line of defence.
        for _ in 0..1024 {
            if self.stage != Stage::Ready || self.tls == ControlTls::Handshake {
                return;
            }
            if self.current.is_none() {
                if self.queue.is_empty() {
                    return;
                }
                let (plan, transfer) = match self.queue.front() {
                    Some(op) => self.plan(&op.request),
                    None => return,
                };
                self.begin_op(plan, transfer);
            }
            if !self.run_next_step() {
                return;
            }
        }
    }

    /// Runs the current operation's next step. Returns true when the operation ended (the next
    /// one may start), false when a step is in flight.
    fn run_next_step(&mut self) -> bool {
        let Some(op) = self.current.as_mut() else {
            return true;
        };
        if op.step.is_some() {
            return false;
        }
        if op.cancel {
            self.complete(Err(OpError::Aborted { reply: None }));
            return true;
        }
        let Some(step) = op.plan.pop_front() else {
            let output = self.plan_output();
            self.complete(Ok(output));
            return true;
        };
        self.run_step(step)
    }

    /// What an operation whose plan ran out reports.
    fn plan_output(&self) -> OpOutput {
        let reply = self.current.as_ref().and_then(|op| op.result_reply.clone());
        match reply {
            Some(reply) => OpOutput::Done(reply),
            None => OpOutput::Done(crate::reply::Reply::new(
                crate::reply::ReplyCode::COMMAND_OK,
                "OK",
            )),
        }
    }

    fn run_step(&mut self, step: Step) -> bool {
        match step {
            Step::Handshake => {
                self.begin_step(Step::Handshake);
                self.start_tls();
                false
            }
            Step::Listen => self.run_listen(),
            Step::Connect(addr) => {
                self.begin_step(Step::Connect(addr));
                self.open_passive(addr);
                false
            }
            Step::Transfer => self.run_transfer_command(),
            other => self.run_command(other),
        }
    }

    fn run_command(&mut self, step: Step) -> bool {
        let Some(command) = self.step_command(&step) else {
            // A step without its data (ACCT without an account is caught earlier): skip it.
            return self.run_next_step();
        };
        if let Err(error) = self.send_command(&command) {
            // Arguments are checked when the operation is asked for; this is a second line of
            // defence.
            self.complete(Err(OpError::Encode(error)));
            return true;
        }
        if step == Step::Host {
            self.known.host_sent = true;
        }
        self.begin_step(step);
        false
    }

    fn run_listen(&mut self) -> bool {
        let ip = self
            .config
            .active_address
            .unwrap_or_else(|| canonical_ip(self.conn.local.ip()));
        let expect = canonical_ip(self.conn.peer.ip());
        self.begin_step(Step::Listen);
        self.open_active(ip, expect);
        false
    }

    /// The transfer command goes out only once the data connection is ready: connected
    /// (passive) or listening (active).
    fn run_transfer_command(&mut self) -> bool {
        let failed = match self.link_ref().map(|l| l.state) {
            Some(LinkState::Ended(Err(failure))) => Some(failure),
            Some(LinkState::Ended(Ok(()))) | None => Some(DataFailure::Other),
            Some(_) => None,
        };
        if let Some(failure) = failed {
            self.complete(Err(OpError::DataConnection(failure)));
            return true;
        }
        self.run_command(Step::Transfer)
    }

    /// EPRT (or PORT) for the listener bound at `local`.
    pub(super) fn active_address_step(&self, local: SocketAddr) -> Step {
        let ip = if local.ip().is_unspecified() {
            self.config
                .active_address
                .unwrap_or_else(|| canonical_ip(self.conn.local.ip()))
        } else {
            canonical_ip(local.ip())
        };
        let addr = SocketAddr::new(ip, local.port());
        match (self.config.eprt && !self.known.eprt_refused, addr) {
            (false, SocketAddr::V4(v4)) => Step::Port(v4),
            _ => Step::Eprt(addr),
        }
    }

    /// ABOR (or a local cancel) for the operation in flight.
    fn abort_current(&mut self) {
        let Some(op) = self.current.as_ref() else {
            return;
        };
        match op.step.clone() {
            Some(Step::Transfer) => self.abort_transfer(),
            Some(Step::Listen | Step::Connect(_)) | None => {
                self.abort_link(DataFailure::Other);
                self.complete(Err(OpError::Aborted { reply: None }));
            }
            Some(_) => self.cancel_current(),
        }
    }

    /// ABOR for a transfer whose command went out.
    fn abort_transfer(&mut self) {
        let Some(transfer) = self.transfer_ref() else {
            return;
        };
        if transfer.abort.is_some() {
            return;
        }
        if transfer.final_reply.is_some() {
            // The server is done; only the data connection is left to stop.
            self.abort_link(DataFailure::Other);
            return self.complete(Err(OpError::Aborted { reply: None }));
        }
        let mut bytes = Vec::with_capacity(10);
        if self.config.abort_with_telnet_sync {
            bytes.extend_from_slice(&crate::line::TELNET_INTERRUPT);
        }
        bytes.extend_from_slice(b"ABOR\r\n");
        let urgent = self.config.abort_with_telnet_sync;
        self.transmit(Bytes::from(bytes), urgent);
        self.abort_link(DataFailure::Other);
        self.set_abort(super::state::Abort::AwaitTransferReply);
    }
}

/// The IP a passive reply's connection goes to for EPSV: the control connection's peer.
pub(super) fn epsv_target(peer: SocketAddr, port: u16) -> SocketAddr {
    SocketAddr::new(canonical_ip(peer.ip()), port)
}
