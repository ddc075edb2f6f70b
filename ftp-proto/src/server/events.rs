//! What the session does with the driver's reports: data-connection events, storage and
//! authentication results, TLS, end of stream, timer expiry and shutdown. A report for an id
//! the session is not waiting for is stale and ignored.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::addr::canonical_ip;
use crate::listing::MlsxEntry;
use crate::path::VirtualPath;
use crate::reply::{Reply, ReplyCode};

use super::state::{Busy, ControlTls, DataChannel, Login, PendingOp, ServerSession, TransferStage};
use super::text::{self, OpClass};
use super::timer::Timer;
use super::types::{
    AuthFailure, AuthId, CloseReason, DataConnId, DataFailure, FileKind, Metadata, Principal,
    ServerDataEvent, ServerDataIntent, ServerEvent, StorageError, StorageErrorKind, StorageOpId,
    StorageRequest, StorageResponse, TransferKind, TransferParams,
};

// ---------------------------------------------------------------------------------------------
// Data connections

impl ServerSession {
    pub(super) fn on_data_event(&mut self, id: DataConnId, event: ServerDataEvent) {
        match &self.busy {
            Busy::Bind { id: bind, kind, .. } if *bind == id => {
                let kind = *kind;
                self.on_bind_event(id, kind, event);
            }
            Busy::Transfer(transfer) if transfer.data == id => self.on_transfer_data(event),
            _ if matches!(self.data, DataChannel::Passive { id: idle, .. } if idle == id) => {
                self.on_idle_channel_event(event);
            }
            _ => {}
        }
    }

    fn on_bind_event(
        &mut self,
        id: DataConnId,
        kind: super::state::PassiveKind,
        event: ServerDataEvent,
    ) {
        self.verb = Bytes::from_static(match kind {
            super::state::PassiveKind::Pasv => b"PASV",
            super::state::PassiveKind::Epsv => b"EPSV",
            super::state::PassiveKind::Lpsv => b"LPSV",
        });
        match event {
            ServerDataEvent::Listening { local } => {
                self.channel_bound(id);
                let reply = self.passive_reply(kind, local);
                self.send(reply);
                self.become_idle();
            }
            ServerDataEvent::Failed(_) | ServerDataEvent::Closed => {
                self.intent(ServerDataIntent::Abort { id });
                self.reply(ReplyCode::CANT_OPEN_DATA, "Can't open passive connection.");
                self.become_idle();
            }
            ServerDataEvent::Connected { .. } | ServerDataEvent::Progress { .. } => {}
        }
    }

    /// True when a passive connection from `peer` is acceptable (RFC 2577 port theft).
    fn passive_peer_ok(&self, peer: SocketAddr) -> bool {
        self.config.allow_foreign_passive
            || canonical_ip(peer.ip()) == canonical_ip(self.conn.peer.ip())
    }

    fn on_idle_channel_event(&mut self, event: ServerDataEvent) {
        match event {
            ServerDataEvent::Connected { peer } if self.passive_peer_ok(peer) => {
                self.channel_connected()
            }
            ServerDataEvent::Connected { .. } => self.drop_channel(),
            ServerDataEvent::Closed | ServerDataEvent::Failed(_) => self.channel_gone(),
            ServerDataEvent::Listening { .. } | ServerDataEvent::Progress { .. } => {}
        }
    }

    fn on_transfer_data(&mut self, event: ServerDataEvent) {
        let passive = self
            .transfer_ref()
            .is_some_and(|t| matches!(t.channel, DataChannel::Passive { .. }));
        match event {
            ServerDataEvent::Connected { peer } if passive && !self.passive_peer_ok(peer) => {
                let (code, text) = text::data_failure(DataFailure::PeerMismatch, false);
                self.fail_transfer(code, text);
            }
            ServerDataEvent::Connected { .. } => self.transfer_connected(),
            ServerDataEvent::Progress { bytes } => self.transfer_progress(bytes),
            ServerDataEvent::Closed => self.transfer_data_closed(),
            ServerDataEvent::Failed(failure) => self.on_transfer_failed(failure),
            ServerDataEvent::Listening { .. } => {}
        }
    }

    fn on_transfer_failed(&mut self, failure: DataFailure) {
        let Some(transfer) = self.transfer_ref() else {
            return;
        };
        let connected = transfer.connected || transfer.stage == TransferStage::Closing;
        let (code, text) = text::data_failure(failure, connected);
        self.fail_transfer(code, text);
    }

    fn transfer_ref(&self) -> Option<&super::state::Transfer> {
        match &self.busy {
            Busy::Transfer(transfer) => Some(transfer),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Storage results

impl ServerSession {
    pub(super) fn on_storage_result(
        &mut self,
        id: StorageOpId,
        result: Result<StorageResponse, StorageError>,
    ) {
        if let Some(op) = self.take_storage_op(id) {
            self.on_op_result(op, result);
            // An answer may lead to a second request (SIZE in TYPE A): still busy then.
            if matches!(self.busy, Busy::Idle) {
                self.become_idle();
            }
            return;
        }
        if let Busy::Transfer(transfer) = &self.busy {
            if transfer.storage == Some(id) {
                let stage = transfer.stage;
                self.on_transfer_storage(stage, result);
            }
        }
    }

    fn on_transfer_storage(
        &mut self,
        stage: TransferStage,
        result: Result<StorageResponse, StorageError>,
    ) {
        match (stage, result) {
            (TransferStage::Opening, Ok(StorageResponse::Opened { size })) => {
                self.open_transfer(None, size)
            }
            (TransferStage::Opening, Ok(StorageResponse::StoredAs { name })) => {
                self.open_transfer(Some(name), None)
            }
            (TransferStage::Opening, Ok(StorageResponse::Transferred { bytes })) => {
                self.open_transfer(None, None);
                self.transfer_stored(bytes);
            }
            (TransferStage::Opening, Ok(_)) => {
                self.fail_transfer(ReplyCode::LOCAL_ERROR, "Unexpected answer from storage.")
            }
            (TransferStage::Opening, Err(error)) => {
                let kind = self
                    .transfer_ref()
                    .map_or(TransferKind::Retrieve, |t| t.kind);
                let code = text::storage_code(transfer_class(kind), error.kind);
                let message = error_text(&error, code);
                self.refuse_transfer(code, message);
            }
            (_, Ok(StorageResponse::Transferred { bytes })) => self.transfer_stored(bytes),
            (_, Ok(_)) => {}
            (_, Err(error)) => {
                let code = text::storage_code_in_transfer(error.kind);
                let message = error_text(&error, code);
                self.fail_transfer(code, message);
            }
        }
    }

    /// Storage is ready: 150 (or 125), and the active connect.
    fn open_transfer(&mut self, stored_as: Option<Bytes>, size: Option<u64>) {
        let name = match stored_as {
            Some(name) if valid_name(&name) => Some(name),
            Some(_) => {
                return self.fail_transfer(ReplyCode::LOCAL_ERROR, "Storage chose an invalid name.")
            }
            None => None,
        };
        let Some(transfer) = self.transfer_running(name.as_deref()) else {
            return;
        };
        let open = transfer.connected && !transfer.data_closed;
        let code = if open {
            ReplyCode::DATA_ALREADY_OPEN
        } else {
            ReplyCode::FILE_STATUS_OK
        };
        let kind = transfer.kind;
        let message = match (&name, open) {
            (Some(name), _) => [&b"FILE: "[..], name].concat(),
            (None, true) => b"Data connection already open; transfer starting.".to_vec(),
            (None, false) => {
                // A name with control characters (CR NUL on the wire) is not repeated.
                let file_name = match kind {
                    TransferKind::Retrieve | TransferKind::Store | TransferKind::Append => {
                        transfer.path.file_name()
                    }
                    _ => None,
                };
                let what = file_name
                    .filter(|name| !name.iter().any(u8::is_ascii_control))
                    .unwrap_or(kind.verb().as_bytes());
                text::opening_text(what, self.params_for(kind), size)
            }
        };
        self.verb = Bytes::from_static(kind.verb().as_bytes());
        self.reply(code, message);
        self.event(ServerEvent::TransferStarted {
            kind,
            path: transfer.path,
        });
        if let DataChannel::Active { addr } = transfer.channel {
            self.intent(ServerDataIntent::Connect {
                id: transfer.data,
                addr,
                tls: self.settings.data_protected,
            });
        }
    }

    /// The representation a transfer of `kind` uses, for the 150 text.
    fn params_for(&self, kind: TransferKind) -> TransferParams {
        let mut params = self.settings.params;
        match kind {
            TransferKind::List | TransferKind::Nlst => {
                params.data_type =
                    crate::transfer::DataType::Ascii(crate::transfer::FormatControl::NonPrint)
            }
            TransferKind::Mlsd => params.data_type = crate::transfer::DataType::Image,
            _ => {}
        }
        params
    }

    fn on_op_result(&mut self, op: PendingOp, result: Result<StorageResponse, StorageError>) {
        self.verb = Bytes::from_static(op_verb(&op).as_bytes());
        let response = match result {
            Ok(response) => response,
            Err(error) if matches!(op, PendingOp::TransferSize) => {
                return self.refuse_transfer_size(&error);
            }
            Err(error) => {
                let code = text::storage_code(op_class(&op), error.kind);
                let message = error_text(&error, code);
                return self.reply(code, message);
            }
        };
        match (op, response) {
            (op, StorageResponse::Metadata(meta)) => self.on_metadata(op, meta),
            (op, StorageResponse::Done) => self.on_done(op),
            (PendingOp::StatPath { label }, StorageResponse::Listing { lines, directory }) => {
                self.send_status_listing(&label, lines, directory);
            }
            (PendingOp::TransferSize, StorageResponse::TransferSize(size)) => {
                self.reply(ReplyCode::FILE_STATUS, size.to_string())
            }
            (PendingOp::Hash { arg }, StorageResponse::Hash(value)) => {
                let head = format!(
                    "{} {}-{} {} ",
                    value.algorithm.name(),
                    value.start,
                    value.end,
                    value.hex
                );
                self.reply(ReplyCode::FILE_STATUS, [head.as_bytes(), &arg].concat());
            }
            (PendingOp::Site, StorageResponse::SiteReply { message }) => {
                let lines: Vec<Bytes> = message.split('\n').map(text::one_line).collect();
                self.send(Reply::multiline(ReplyCode::COMMAND_OK, lines));
            }
            _ => self.unexpected_answer(),
        }
    }

    /// SIZE in TYPE A, once the file's metadata came: ask storage to count a file small
    /// enough, refuse the others.
    fn count_ascii_size(&mut self, path: VirtualPath, params: TransferParams, meta: &Metadata) {
        match meta.size {
            Some(size) if meta.kind == FileKind::File && size <= self.config.ascii_size_limit => {
                let max = size; // the count reads no more than the size checked here
                let id = self.request(StorageRequest::TransferSize { path, params, max });
                self.wait_storage(id, PendingOp::TransferSize);
            }
            Some(_) if meta.kind == FileKind::File => self.reply(
                ReplyCode::FILE_UNAVAILABLE,
                format!(
                    "SIZE in TYPE A counts files up to {} bytes; TYPE I gives this one's size.",
                    self.config.ascii_size_limit
                ),
            ),
            _ => self.reply(ReplyCode::FILE_UNAVAILABLE, "Not a plain file."),
        }
    }

    /// The count for SIZE in TYPE A failed. A back end that cannot count is no reason to
    /// call SIZE unimplemented (502, after which clients stop asking even in TYPE I): 550.
    fn refuse_transfer_size(&mut self, error: &StorageError) {
        let code = match error.kind {
            StorageErrorKind::Unsupported => ReplyCode::FILE_UNAVAILABLE,
            kind => text::storage_code(OpClass::Query, kind),
        };
        let message = match error.kind {
            StorageErrorKind::Unsupported if error.message.is_none() => {
                Bytes::from_static(b"SIZE is not counted in TYPE A here; TYPE I gives the size.")
            }
            _ => error_text(error, code),
        };
        self.reply(code, message);
    }

    fn unexpected_answer(&mut self) {
        self.reply(ReplyCode::LOCAL_ERROR, "Unexpected answer from storage.")
    }

    /// CWD, RNFR, SIZE, MDTM and MLST, answered from the path's metadata.
    fn on_metadata(&mut self, op: PendingOp, meta: Metadata) {
        match op {
            PendingOp::Cwd(path) => {
                // A `perm` fact without `e` (RFC 3659 §7.5.5) says the folder can't be entered.
                let enterable = meta.perm.as_deref().is_none_or(|perm| perm.contains('e'));
                match meta.kind {
                    FileKind::Dir if enterable => {
                        self.settings.cwd = path;
                        self.reply(ReplyCode::FILE_ACTION_OK, "Directory successfully changed.");
                    }
                    FileKind::Dir => self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied."),
                    _ => self.reply(ReplyCode::FILE_UNAVAILABLE, "Not a directory."),
                }
            }
            PendingOp::Rnfr(path) => {
                self.settings.rename_from = Some(path);
                self.reply(ReplyCode::FILE_ACTION_PENDING, "Ready for RNTO.");
            }
            PendingOp::Size => match meta.size {
                Some(size) if meta.kind != FileKind::Dir => {
                    self.reply(ReplyCode::FILE_STATUS, size.to_string())
                }
                _ => self.reply(ReplyCode::FILE_UNAVAILABLE, "Not a plain file."),
            },
            PendingOp::AsciiSize { path, params } => self.count_ascii_size(path, params, &meta),
            PendingOp::Mdtm => match meta.modified {
                Some(time) => self.reply(ReplyCode::FILE_STATUS, time.to_string()),
                None => self.reply(
                    ReplyCode::FILE_UNAVAILABLE,
                    "Modification time not available.",
                ),
            },
            PendingOp::Mlst { path, label } => self.answer_mlst(&path, &label, &meta),
            _ => self.unexpected_answer(),
        }
    }

    /// The 250 reply to MLST: the path's facts on one line between `Listing` and `End`.
    fn answer_mlst(&mut self, path: &VirtualPath, label: &[u8], meta: &Metadata) {
        let facts = meta.mlsx_facts(self.settings.facts);
        let name = Bytes::copy_from_slice(path.as_bytes());
        let mut entry = Vec::new();
        if MlsxEntry::new(facts, name)
            .write_mlst_line(&mut entry)
            .is_err()
        {
            // A name with CR or LF (CR NUL on the wire) cannot go into a reply line.
            return self.reply(
                ReplyCode::FILE_UNAVAILABLE,
                "Name cannot be shown in an MLST reply.",
            );
        }
        entry.truncate(entry.len() - 2);
        let first = [&b" Listing "[..], label].concat();
        let lines = [
            Bytes::from(first),
            Bytes::from(entry),
            Bytes::from_static(b"End"),
        ];
        self.send(Reply::multiline(ReplyCode::FILE_ACTION_OK, lines));
    }

    /// DELE, RMD, MKD, RNTO, MFMT and SITE, done.
    fn on_done(&mut self, op: PendingOp) {
        match op {
            PendingOp::Dele => self.reply(ReplyCode::FILE_ACTION_OK, "File deleted."),
            PendingOp::Rmd => self.reply(ReplyCode::FILE_ACTION_OK, "Directory removed."),
            PendingOp::Mkd(path) => {
                let reply = Reply::with_quoted_path(
                    ReplyCode::PATHNAME_CREATED,
                    path.as_bytes(),
                    "created",
                );
                self.send(reply);
            }
            PendingOp::Rnto => self.reply(ReplyCode::FILE_ACTION_OK, "Rename successful."),
            PendingOp::Mfmt { time, arg } => {
                let message = [format!("Modify={time}; ").as_bytes(), &arg].concat();
                self.reply(ReplyCode::FILE_STATUS, message);
            }
            PendingOp::Chmod => self.reply(ReplyCode::COMMAND_OK, "SITE CHMOD command ok."),
            PendingOp::Site => self.reply(ReplyCode::COMMAND_OK, "SITE command successful."),
            _ => self.unexpected_answer(),
        }
    }
}

fn error_text(error: &StorageError, code: ReplyCode) -> Bytes {
    match &error.message {
        Some(message) => text::one_line(message),
        None => Bytes::from_static(text::storage_text(code, error.kind).as_bytes()),
    }
}

/// One file name: not empty, no `/`, no control bytes that a reply cannot carry.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && !matches!(name, b"." | b"..")
        && !name.iter().any(|&b| matches!(b, b'/' | 0 | b'\r' | b'\n'))
}

fn transfer_class(kind: TransferKind) -> OpClass {
    match kind {
        TransferKind::Store | TransferKind::StoreUnique => OpClass::Write,
        TransferKind::Append => OpClass::Append,
        TransferKind::Mlsd => OpClass::Mlsd,
        _ => OpClass::Read,
    }
}

fn op_class(op: &PendingOp) -> OpClass {
    match op {
        PendingOp::Cwd(_)
        | PendingOp::Rnfr(_)
        | PendingOp::Size
        | PendingOp::AsciiSize { .. }
        | PendingOp::TransferSize
        | PendingOp::Mdtm => OpClass::Query,
        PendingOp::Mlst { .. } | PendingOp::StatPath { .. } => OpClass::Query,
        PendingOp::Rnto => OpClass::Rename,
        PendingOp::Hash { .. } => OpClass::Hash,
        _ => OpClass::Modify,
    }
}

fn op_verb(op: &PendingOp) -> &'static str {
    match op {
        PendingOp::Cwd(_) => "CWD",
        PendingOp::Rnfr(_) => "RNFR",
        PendingOp::Size | PendingOp::AsciiSize { .. } | PendingOp::TransferSize => "SIZE",
        PendingOp::Mdtm => "MDTM",
        PendingOp::Mlst { .. } => "MLST",
        PendingOp::StatPath { .. } => "STAT",
        PendingOp::Dele => "DELE",
        PendingOp::Rmd => "RMD",
        PendingOp::Mkd(_) => "MKD",
        PendingOp::Rnto => "RNTO",
        PendingOp::Mfmt { .. } => "MFMT",
        PendingOp::Hash { .. } => "HASH",
        PendingOp::Chmod | PendingOp::Site => "SITE",
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication, TLS, end of stream, shutdown

impl ServerSession {
    /// STAT's listing: `212-Status of LABEL:` (213 for a file), one line per entry, and
    /// `212 End of status.`; CR and LF inside a line (from a name) become `?`.
    fn send_status_listing(&mut self, label: &[u8], lines: Vec<Bytes>, directory: bool) {
        let code = if directory {
            ReplyCode::DIRECTORY_STATUS
        } else {
            ReplyCode::FILE_STATUS
        };
        let mut text = Vec::with_capacity(lines.len() + 2);
        text.push(Bytes::from([&b"Status of "[..], label, b":"].concat()));
        text.extend(lines.into_iter().map(|line| {
            if line.iter().any(|&b| b == b'\r' || b == b'\n') {
                let shown: Vec<u8> = line
                    .iter()
                    .map(|&b| if b == b'\r' || b == b'\n' { b'?' } else { b })
                    .collect();
                Bytes::from(shown)
            } else {
                line
            }
        }));
        text.push(Bytes::from_static(b"End of status."));
        self.send(Reply::multiline(code, text));
    }

    pub(super) fn on_auth_result(&mut self, id: AuthId, result: Result<Principal, AuthFailure>) {
        let Some((user, password, account)) = self.take_auth(id) else {
            return;
        };
        self.verb = Bytes::from_static(if account.is_some() { b"ACCT" } else { b"PASS" });
        match result {
            Ok(principal) => {
                self.log_in(principal, false);
                self.become_idle();
            }
            Err(AuthFailure::AccountRequired) if account.is_none() => {
                self.expect_account(user, password);
                self.reply(ReplyCode::NEED_ACCOUNT, "Need account for login.");
                self.become_idle();
            }
            Err(AuthFailure::Unavailable) => {
                self.reply(
                    ReplyCode::SERVICE_NOT_AVAILABLE,
                    "Authentication service unavailable, closing control connection.",
                );
                self.close(CloseReason::AuthUnavailable);
            }
            Err(AuthFailure::TooManySessions) => {
                self.login = Login::NeedUser;
                self.reply(
                    ReplyCode::NOT_LOGGED_IN,
                    "Too many sessions for this user; try again later.",
                );
                self.become_idle();
            }
            Err(_) => self.login_failed(user),
        }
    }

    pub(super) fn on_tls_established(&mut self) {
        if self.tls == ControlTls::Handshake {
            self.tls_established();
        }
    }

    pub(super) fn on_eof(&mut self) {
        self.close(CloseReason::Eof);
    }

    pub(super) fn on_shutdown(&mut self, message: &str) {
        if self.is_closed() || self.shutdown.is_some() {
            return;
        }
        let message = String::from_utf8_lossy(&text::one_line(message)).into_owned();
        let deadline = self
            .now
            .checked_add(self.config.shutdown_grace)
            .unwrap_or(self.now);
        self.begin_shutdown(message.clone(), deadline);
        match self.busy {
            Busy::TlsHandshake => self.close(CloseReason::Shutdown),
            Busy::Idle | Busy::LoginDelay { .. } => {
                self.verb = Bytes::new();
                self.reply(ReplyCode::SERVICE_NOT_AVAILABLE, message);
                self.close(CloseReason::Shutdown);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Timers

impl ServerSession {
    /// Acts on every timer due at `self.now`. Each action moves the state so that its timer
    /// is no longer due, so the loop ends; the bound is a second line of defence.
    pub(super) fn on_timeout(&mut self) {
        for _ in 0..64 {
            let Some(timer) = self.due_timer() else {
                return;
            };
            self.fire(timer);
        }
    }

    fn fire(&mut self, timer: Timer) {
        match timer {
            Timer::Greeting => self.greet(),
            Timer::Idle => self.idle_timeout(),
            Timer::LoginDelay => {
                if let Busy::LoginDelay { last, .. } = self.busy {
                    self.answer_failed_login(last);
                }
            }
            Timer::Request => self.request_timeout(),
            Timer::Data => self.data_timeout(),
            Timer::Stall => self.fail_transfer(
                ReplyCode::TRANSFER_ABORTED,
                "Data connection stalled; transfer aborted.",
            ),
            Timer::Shutdown => self.shutdown_expired(),
            Timer::Login => self.login_timeout(),
        }
    }

    /// The 220 greeting (immediately, or after a 120).
    pub(super) fn greet(&mut self) {
        self.mark_ready();
        let lines: Vec<Bytes> = self.config.banner.split('\n').map(text::one_line).collect();
        self.send(Reply::multiline(ReplyCode::SERVICE_READY, lines));
    }

    fn idle_timeout(&mut self) {
        if self.tls != ControlTls::Handshake {
            self.verb = Bytes::new();
            self.reply(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Timeout: closing control connection.",
            );
        }
        self.close(CloseReason::IdleTimeout);
    }

    fn login_timeout(&mut self) {
        if self.tls != ControlTls::Handshake {
            self.verb = Bytes::new();
            self.reply(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "Login timeout: closing control connection.",
            );
        }
        self.close(CloseReason::LoginTimeout);
    }

    fn request_timeout(&mut self) {
        match &self.busy {
            Busy::Storage { op, .. } => {
                self.verb = Bytes::from_static(op_verb(op).as_bytes());
                self.reply(ReplyCode::LOCAL_ERROR, "Storage request timed out.");
                self.become_idle();
            }
            Busy::Auth { .. } => {
                self.verb = Bytes::from_static(b"PASS");
                self.reply(
                    ReplyCode::SERVICE_NOT_AVAILABLE,
                    "Authentication timed out, closing control connection.",
                );
                self.close(CloseReason::AuthUnavailable);
            }
            Busy::Transfer(_) => {
                self.fail_transfer(ReplyCode::LOCAL_ERROR, "Storage request timed out.")
            }
            _ => {}
        }
    }

    fn data_timeout(&mut self) {
        match &self.busy {
            Busy::Bind { id, .. } => {
                let id = *id;
                self.intent(ServerDataIntent::Abort { id });
                self.reply(ReplyCode::CANT_OPEN_DATA, "Can't open passive connection.");
                self.become_idle();
            }
            Busy::Transfer(transfer) if transfer.stage == TransferStage::Closing => self
                .fail_transfer(
                    ReplyCode::TRANSFER_ABORTED,
                    "Data connection did not close.",
                ),
            Busy::Transfer(_) => {
                self.fail_transfer(ReplyCode::CANT_OPEN_DATA, "Can't open data connection.")
            }
            _ => self.drop_channel(),
        }
    }

    fn shutdown_expired(&mut self) {
        if matches!(self.busy, Busy::Transfer(_)) {
            // `fail_transfer` ends in `become_idle`, which sends the 421 and closes.
            return self.fail_transfer(
                ReplyCode::TRANSFER_ABORTED,
                "Server shutting down; transfer aborted.",
            );
        }
        let message = self
            .shutdown
            .as_ref()
            .map(|s| s.message.clone())
            .unwrap_or_default();
        self.verb = Bytes::new();
        self.reply(ReplyCode::SERVICE_NOT_AVAILABLE, message);
        self.close(CloseReason::Shutdown);
    }
}
