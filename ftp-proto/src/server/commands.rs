//! What each command does. Handlers check the command against the session's state and
//! answer at once, or send a request to storage or authentication and wait (see `state.rs`
//! for the transitions they call).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::addr::{self, canonical_ip};
use crate::command::{AuthMechanism, Command, EpsvArg, HostName, OptsArg, ProtLevel, RestMarker};
use crate::line::{Line, LineError};
use crate::path::VirtualPath;
use crate::reply::{Reply, ReplyCode};
use crate::transfer::{DataType, FileStructure, FormatControl, TransferMode};

use super::config::{AnonymousPolicy, FactSet, HashAlgorithm};
use super::permissions::Permissions;
use super::state::{
    Busy, ControlTls, DataChannel, Login, PassiveKind, PendingOp, ServerSession, Transfer,
    TransferStage,
};
use super::text::{self, OpClass};
use super::types::{
    CloseReason, ListFormat, Secret, ServerDataIntent, ServerEvent, ServerOutput, StorageOpId,
    StorageRequest, StoreMode, TransferKind, TransferParams,
};

impl ServerSession {
    /// Executes one line taken from the framer.
    pub(super) fn on_line(&mut self, item: Result<Line, LineError>) {
        self.last_activity = self.now;
        let Ok(line) = item else {
            self.verb = Bytes::new();
            return self.reply(ReplyCode::SYNTAX_ERROR, "Command line too long.");
        };
        match Command::parse(&line.bytes) {
            Ok(command) => {
                self.verb = Bytes::copy_from_slice(command.verb());
                self.event(ServerEvent::Command {
                    verb: self.verb.clone(),
                });
                self.dispatch(command);
            }
            Err(error) => {
                self.verb = error.verb.clone();
                self.event(ServerEvent::Command {
                    verb: self.verb.clone(),
                });
                self.settings.rename_from = None;
                self.send(text::command_error(&error));
            }
        }
    }

    fn dispatch(&mut self, command: Command) {
        if matches!(self.busy, Busy::Transfer(_)) {
            return self.during_transfer(command);
        }
        // RNFR applies to the very next command only (RFC 959 §4.1.3). A restart marker is
        // kept until the next transfer command takes it, as vsftpd and ProFTPD keep it, so
        // `REST n`, `PASV`, `STOR f` resumes at n instead of overwriting from 0.
        let rest = if takes_restart_marker(&command) {
            self.settings.rest.take()
        } else {
            None
        };
        let rename_from = self.settings.rename_from.take();
        if let Some(reply) = unimplemented(&command) {
            return self.send(reply);
        }
        if needs_login(&command) && self.logged_in().is_none() {
            return self.reply(ReplyCode::NOT_LOGGED_IN, "Please login with USER and PASS.");
        }
        self.execute(command, rest, rename_from);
    }

    fn execute(
        &mut self,
        command: Command,
        rest: Option<RestMarker>,
        rename_from: Option<VirtualPath>,
    ) {
        use Command as C;
        match command {
            C::User(name) => self.user(name),
            C::Pass(password) => self.pass(password),
            C::Acct(account) => self.acct(account),
            C::Rein => self.rein(),
            C::Quit => self.quit(),
            C::Noop => self.reply(ReplyCode::COMMAND_OK, "NOOP ok."),
            C::Clnt(_) => self.reply(ReplyCode::COMMAND_OK, "Noted."),
            C::Syst => {
                let text = self.config.system_type.clone();
                self.reply(ReplyCode::SYSTEM_TYPE, text);
            }
            C::Help(arg) => self.help(arg),
            C::Feat => self.feat(),
            C::Opts(arg) => self.opts(arg),
            C::Lang(tag) => self.lang(tag),
            C::Host(name) => self.host_command(name),
            C::Auth(mechanism) => self.auth(mechanism),
            C::Adat(_) => self.reply(ReplyCode::BAD_SEQUENCE, "No security exchange in progress."),
            C::Pbsz(_) => self.pbsz(),
            C::Prot(level) => self.prot(level),
            C::Ccc => self.ccc(),
            C::Abor => self.abor_idle(),
            C::Stat(None) => self.stat_idle(),
            C::Stat(Some(arg)) => self.stat_path(arg),
            C::Pwd => self.pwd(),
            C::Cwd(arg) => self.change_dir(&arg),
            C::Cdup => self.cdup(),
            C::Type(data_type) => self.type_command(data_type),
            C::Stru(structure) => self.stru(structure),
            C::Mode(mode) => self.mode(mode),
            C::Rest(marker) => self.rest(marker),
            C::Allo { .. } => {
                self.reply(ReplyCode::SUPERFLUOUS, "No storage allocation necessary.")
            }
            C::Pasv => self.passive(PassiveKind::Pasv),
            C::Lpsv => self.passive(PassiveKind::Lpsv),
            C::Epsv(arg) => self.epsv(arg),
            C::Port(addr) => self.active(SocketAddr::V4(addr), "PORT"),
            C::Eprt(addr) => self.active(addr, "EPRT"),
            C::Lprt(addr) => self.active(addr, "LPRT"),
            C::Retr(path) => self.transfer(TransferKind::Retrieve, Some(path), rest),
            C::Stor(path) => self.transfer(TransferKind::Store, Some(path), rest),
            C::Appe(path) => self.transfer(TransferKind::Append, Some(path), rest),
            C::Stou(hint) => self.transfer(TransferKind::StoreUnique, hint, None),
            C::List(arg) => self.transfer(TransferKind::List, arg, None),
            C::Nlst(arg) => self.transfer(TransferKind::Nlst, arg, None),
            C::Mlsd(arg) => self.transfer(TransferKind::Mlsd, arg, None),
            C::Size(arg) => self.size(&arg),
            C::Mdtm(arg) => self.query(&arg, PendingOp::Mdtm),
            C::Mlst(arg) => self.mlst(arg),
            C::Dele(arg) => self.modify(&arg, PendingOp::Dele),
            C::Rmd(arg) => self.modify(&arg, PendingOp::Rmd),
            C::Mkd(arg) => self.modify(&arg, PendingOp::Mkd(VirtualPath::root())),
            C::Rnfr(arg) => self.rnfr(&arg),
            C::Rnto(arg) => self.rnto(&arg, rename_from),
            C::Mfmt { time, path } => self.modify(
                &path,
                PendingOp::Mfmt {
                    time,
                    arg: path.clone(),
                },
            ),
            C::Hash(arg) => self.hash(&arg),
            C::Rang { start, end } => self.rang(start, end),
            C::Site(arg) => self.site(&arg),
            C::Unknown { .. } => self.reply(ReplyCode::SYNTAX_ERROR, "Command not understood."),
            _ => self.reply(ReplyCode::NOT_IMPLEMENTED, "Command not implemented."),
        }
    }

    /// A request to storage; the session waits for its answer.
    pub(super) fn request(&mut self, request: StorageRequest) -> StorageOpId {
        let id = StorageOpId::from_raw(self.fresh_id());
        self.emit(ServerOutput::Storage { id, request });
        id
    }

    /// Resolves a pathname argument against the cwd, or answers the error and returns `None`.
    fn resolve(&mut self, arg: &[u8], class: OpClass) -> Option<VirtualPath> {
        match self.settings.cwd.resolve(arg) {
            Ok(path) => Some(path),
            Err(error) => {
                let code = text::path_error_code(error, class);
                self.reply(code, "Invalid pathname.");
                None
            }
        }
    }

    /// True when the logged-in user has every right of `rights` (see [`Permissions`]).
    fn may(&self, rights: Permissions) -> bool {
        self.logged_in()
            .is_some_and(|p| p.permissions.contains(rights))
    }
}

// ---------------------------------------------------------------------------------------------
// Login, session, TLS

impl ServerSession {
    fn user(&mut self, name: Bytes) {
        let anonymous = self.config.anonymous != AnonymousPolicy::Disabled && is_anonymous(&name);
        if self.config.tls.require_for_login && !anonymous && self.tls != ControlTls::Protected {
            return self.reply(
                ReplyCode::POLICY_DENIED,
                "Policy requires AUTH TLS before login.",
            );
        }
        if self.logged_in().is_some() {
            // RFC 959 §4.1.1: a new USER flushes the user; the data channel goes too.
            self.drop_channel();
            self.settings.cwd = VirtualPath::root();
        }
        self.expect_password(name, anonymous);
        if anonymous {
            self.reply(
                ReplyCode::NEED_PASSWORD,
                "Anonymous login ok, send your email address as password.",
            );
        } else {
            self.reply(ReplyCode::NEED_PASSWORD, "User name ok, need password");
        }
    }

    fn pass(&mut self, password: Bytes) {
        match &self.login {
            Login::NeedPass {
                user,
                anonymous: true,
            } => {
                let permissions = match self.config.anonymous {
                    AnonymousPolicy::ReadOnly => Permissions::READ_ONLY,
                    _ => Permissions::ALL,
                };
                let principal =
                    super::types::Principal::with_permissions(user.clone(), permissions);
                self.log_in(principal, true);
            }
            Login::NeedPass { user, .. } => {
                let user = user.clone();
                self.authenticate(user, Secret::new(password), None);
            }
            Login::LoggedIn { .. } => self.reply(ReplyCode::SUPERFLUOUS, "Already logged in."),
            _ => self.reply(ReplyCode::BAD_SEQUENCE, "Login with USER first."),
        }
    }

    fn acct(&mut self, account: Bytes) {
        match &self.login {
            Login::NeedAcct { user, password } => {
                let (user, password) = (user.clone(), password.clone());
                self.authenticate(user, password, Some(account));
            }
            Login::LoggedIn { .. } => self.reply(ReplyCode::SUPERFLUOUS, "ACCT not needed."),
            _ => self.reply(ReplyCode::BAD_SEQUENCE, "Login with USER and PASS first."),
        }
    }

    fn authenticate(&mut self, user: Bytes, password: Secret<Bytes>, account: Option<Bytes>) {
        let id = super::types::AuthId::from_raw(self.fresh_id());
        self.emit(ServerOutput::Authenticate {
            id,
            user: user.clone(),
            password: password.clone(),
            account: account.clone(),
            host: self.settings.host.clone(),
        });
        self.wait_auth(id, user, password, account);
    }

    /// REIN. Under explicit TLS it also ends TLS (RFC 4217: REIN clears the TLS session, the
    /// 220 still protected), which needs a driver that can return to plaintext: the one that
    /// offers CCC. Without `allow_ccc`, REIN on a protected control connection is refused
    /// (502) and nothing is reset.
    fn rein(&mut self) {
        let ends_tls = self.tls == ControlTls::Protected && !self.conn.implicit_tls;
        if ends_tls && !self.config.tls.allow_ccc {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED,
                "REIN is not available on a TLS-protected control connection.",
            );
        }
        self.reset_session(false);
        self.reply(ReplyCode::SERVICE_READY, "Service ready for new user.");
        if ends_tls {
            self.stop_tls(false);
        }
    }

    fn quit(&mut self) {
        self.reply(ReplyCode::CLOSING_CONTROL, "Goodbye.");
        self.close(CloseReason::Quit);
    }

    fn help(&mut self, arg: Option<Bytes>) {
        let Some(arg) = arg.filter(|a| !a.trim_ascii().is_empty()) else {
            return self.send(text::help(&self.config));
        };
        let verb = arg.trim_ascii().to_ascii_uppercase();
        let known = text::IMPLEMENTED.iter().find(|v| v.as_bytes() == verb);
        if known.is_some_and(|v| text::offered(v, &self.config)) {
            let mut message = b"Command ".to_vec();
            message.extend_from_slice(&verb);
            message.extend_from_slice(b" is recognized.");
            self.reply(ReplyCode::HELP_MESSAGE, message);
        } else {
            self.reply(
                ReplyCode::NOT_IMPLEMENTED,
                "Unknown or unimplemented command.",
            );
        }
    }

    fn feat(&mut self) {
        let reply = text::feat(&text::FeatInput {
            config: &self.config,
            facts: self.settings.facts,
            hash: self.settings.hash,
        });
        self.send(reply);
    }

    fn opts(&mut self, arg: OptsArg) {
        match arg {
            OptsArg::Mlst(names) => {
                let mut facts = FactSet::NONE;
                for name in &names {
                    facts = facts.union(FactSet::from_name(name).unwrap_or_default());
                }
                self.settings.facts = facts.intersection(self.config.mlst_facts);
                let list = text::fact_list(self.settings.facts, None);
                let message = if list.is_empty() {
                    "MLST OPTS".to_owned()
                } else {
                    format!("MLST OPTS {list}")
                };
                self.reply(ReplyCode::COMMAND_OK, message);
            }
            OptsArg::Utf8(Some(false)) => self.reply(
                ReplyCode::COMMAND_OK,
                "UTF8 off; names are still passed through as bytes.",
            ),
            OptsArg::Utf8(_) => self.reply(ReplyCode::COMMAND_OK, "Always in UTF8 mode."),
            OptsArg::Hash(name) => self.opts_hash(name),
            _ => self.reply(ReplyCode::SYNTAX_ERROR_ARGUMENTS, "Option not understood."),
        }
    }

    fn opts_hash(&mut self, name: Option<Bytes>) {
        let Some(current) = self.settings.hash else {
            return self.reply(ReplyCode::NOT_IMPLEMENTED, "HASH not available.");
        };
        let Some(name) = name else {
            return self.reply(ReplyCode::COMMAND_OK, current.name());
        };
        match HashAlgorithm::from_name(&name).filter(|a| self.config.hash_algorithms.contains(a)) {
            Some(algorithm) => {
                self.settings.hash = Some(algorithm);
                self.reply(ReplyCode::COMMAND_OK, algorithm.name());
            }
            None => self.reply(ReplyCode::SYNTAX_ERROR_ARGUMENTS, "Unknown hash algorithm."),
        }
    }

    fn lang(&mut self, tag: Option<Bytes>) {
        let english = tag.as_ref().is_none_or(|t| {
            let primary = t.split(|&b| b == b'-').next().unwrap_or_default();
            primary.eq_ignore_ascii_case(b"EN")
        });
        if english {
            self.reply(ReplyCode::COMMAND_OK, "Language set to EN.");
        } else {
            self.reply(
                ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                "Language not supported.",
            );
        }
    }

    fn host_command(&mut self, name: HostName) {
        if self.login != Login::NeedUser {
            return self.reply(ReplyCode::BAD_SEQUENCE, "HOST must come before USER.");
        }
        let accepted = match &name {
            HostName::Domain(domain) => self.config.accepts_host(domain),
            literal => literal.ip().map(canonical_ip) == Some(canonical_ip(self.conn.local.ip())),
        };
        if !accepted {
            return self.reply(ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER, "Unknown host.");
        }
        if let HostName::Domain(domain) = &name {
            if !self.matches_tls_server_name(domain) {
                return self.reply(
                    ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                    "Host does not match the TLS server name.",
                );
            }
        }
        self.settings.host = Some(match name {
            HostName::Domain(domain) => domain,
            HostName::Ipv4(ip) => ip.to_string().into(),
            HostName::Ipv6(ip) => format!("[{ip}]").into(),
        });
        self.reply(ReplyCode::SERVICE_READY, "Host accepted");
    }

    fn auth(&mut self, mechanism: AuthMechanism) {
        if !self.config.tls.enabled {
            return self.reply(ReplyCode::NOT_IMPLEMENTED, "TLS is not available.");
        }
        if matches!(self.tls, ControlTls::Protected | ControlTls::Cleared) {
            return self.reply(ReplyCode::BAD_SEQUENCE, "TLS already negotiated.");
        }
        if let AuthMechanism::Other(_) = mechanism {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                "Security mechanism not supported; use AUTH TLS.",
            );
        }
        // RFC 4217 §4.2: AUTH resets the user, the data port, TYPE/STRU/MODE and the cwd.
        self.reset_session(true);
        self.reply(
            ReplyCode::SECURITY_EXCHANGE_COMPLETE,
            "Proceed with negotiation.",
        );
        self.emit(ServerOutput::StartTls);
        self.start_tls_handshake();
    }

    fn pbsz(&mut self) {
        if self.tls != ControlTls::Protected {
            return self.reply(
                ReplyCode::BAD_SEQUENCE,
                "PBSZ requires a TLS session (AUTH TLS).",
            );
        }
        self.settings.pbsz = true;
        self.reply(ReplyCode::COMMAND_OK, "PBSZ=0");
    }

    fn prot(&mut self, level: ProtLevel) {
        if self.tls != ControlTls::Protected || !self.settings.pbsz {
            return self.reply(ReplyCode::BAD_SEQUENCE, "PROT requires PBSZ first.");
        }
        let private = match level {
            ProtLevel::Clear => false,
            ProtLevel::Private => true,
            _ => {
                return self.reply(
                    ReplyCode::PROT_LEVEL_UNSUPPORTED,
                    "PROT level not supported by TLS; use C or P.",
                )
            }
        };
        if private != self.settings.data_protected {
            // A prepared listener was announced at the old level.
            self.drop_channel();
        }
        self.settings.data_protected = private;
        let letter = if private { "P" } else { "C" };
        self.reply(
            ReplyCode::COMMAND_OK,
            format!("Protection level set to {letter}."),
        );
    }

    fn ccc(&mut self) {
        if self.tls != ControlTls::Protected {
            return self.reply(
                ReplyCode::PROTECTION_DENIED,
                "Control connection is not protected.",
            );
        }
        if !self.config.tls.allow_ccc || self.conn.implicit_tls {
            return self.reply(ReplyCode::POLICY_DENIED, "CCC refused by policy.");
        }
        self.reply(ReplyCode::COMMAND_OK, "CCC ok, continuing in plaintext.");
        self.stop_tls(true);
    }

    fn abor_idle(&mut self) {
        self.drop_channel();
        self.reply(ReplyCode::CLOSING_DATA, "No transfer to abort.");
    }

    fn stat_idle(&mut self) {
        let mut lines = vec![Bytes::from_static(b"FTP server status:")];
        lines.push(format!(" Connected to {}", self.conn.peer.ip()).into());
        match self.logged_in() {
            Some(principal) => {
                let mut line = b" Logged in as ".to_vec();
                line.extend_from_slice(&principal.user);
                lines.push(text::sanitize(&line));
            }
            None => lines.push(Bytes::from_static(b" Not logged in")),
        }
        lines.push(text::params_summary(self.settings.params).into());
        let data = match &self.data {
            DataChannel::None => " Data connection: none".to_owned(),
            DataChannel::Passive { connected, .. } => {
                format!(
                    " Data connection: passive, {}",
                    if *connected { "connected" } else { "listening" }
                )
            }
            DataChannel::Active { addr } => format!(" Data connection: active, to {addr}"),
        };
        lines.push(data.into());
        let control = if self.tls == ControlTls::Protected {
            "TLS"
        } else {
            "plaintext"
        };
        lines.push(format!(" Control connection: {control}").into());
        lines.push(Bytes::from_static(b"End of status"));
        self.send(Reply::multiline(ReplyCode::SYSTEM_STATUS, lines));
    }
}

// ---------------------------------------------------------------------------------------------
// Directories and parameters

impl ServerSession {
    fn pwd(&mut self) {
        let reply = Reply::with_quoted_path(
            ReplyCode::PATHNAME_CREATED,
            self.settings.cwd.as_bytes(),
            "is current directory.",
        );
        self.send(reply);
    }

    fn change_dir(&mut self, arg: &[u8]) {
        let Some(path) = self.resolve(arg, OpClass::Query) else {
            return;
        };
        if path.is_root() {
            self.settings.cwd = path;
            return self.reply(ReplyCode::FILE_ACTION_OK, "Directory successfully changed.");
        }
        let id = self.request(StorageRequest::Metadata { path: path.clone() });
        self.wait_storage(id, PendingOp::Cwd(path));
    }

    fn cdup(&mut self) {
        self.settings.cwd = self.settings.cwd.parent().unwrap_or_default();
        self.reply(ReplyCode::FILE_ACTION_OK, "Directory successfully changed.");
    }

    fn type_command(&mut self, data_type: DataType) {
        let (normal, name) = match data_type {
            DataType::Ascii(FormatControl::NonPrint) => (data_type, "ASCII"),
            DataType::Image | DataType::Local(8) => (DataType::Image, "Binary"),
            DataType::Local(_) => {
                return self.reply(
                    ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                    "Only byte size 8 is supported.",
                )
            }
            DataType::Ascii(_) => {
                return self.reply(
                    ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                    "Only format N is supported.",
                )
            }
            DataType::Ebcdic(_) => {
                return self.reply(
                    ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                    "EBCDIC is not supported.",
                )
            }
        };
        self.settings.params.data_type = normal;
        self.reply(ReplyCode::COMMAND_OK, format!("Switching to {name} mode."));
    }

    fn stru(&mut self, structure: FileStructure) {
        let supported = match structure {
            FileStructure::File => true,
            FileStructure::Record => self.config.record_structure,
            FileStructure::Page => false,
        };
        if !supported {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                "Structure not supported.",
            );
        }
        self.settings.params.structure = structure;
        self.reply(ReplyCode::COMMAND_OK, "Structure set.");
    }

    fn mode(&mut self, mode: TransferMode) {
        let supported = match mode {
            TransferMode::Stream => true,
            TransferMode::Block => self.config.block_mode,
            TransferMode::Compressed => self.config.compressed_mode,
        };
        if !supported {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                "Mode not supported.",
            );
        }
        if self.settings.params.mode != mode {
            // A byte offset and a block restart marker mean different things.
            self.settings.rest = None;
        }
        self.settings.params.mode = mode;
        self.reply(ReplyCode::COMMAND_OK, "Mode set.");
    }

    fn rest(&mut self, marker: RestMarker) {
        let stream = self.settings.params.mode == TransferMode::Stream;
        let message = match (&marker, stream) {
            (RestMarker::Offset(offset), true) => {
                format!("Restarting at {offset}. Send STORE or RETRIEVE")
            }
            (RestMarker::Marker(_), true) => {
                return self.reply(
                    ReplyCode::SYNTAX_ERROR_ARGUMENTS,
                    "In MODE S, REST takes a byte offset.",
                )
            }
            (RestMarker::Offset(offset), false) => {
                format!("Restarting at marker {offset}. Send STORE or RETRIEVE")
            }
            (RestMarker::Marker(m), false) => {
                format!(
                    "Restarting at marker {}. Send STORE or RETRIEVE",
                    String::from_utf8_lossy(m)
                )
            }
        };
        self.settings.rest = match marker {
            RestMarker::Offset(0) if stream => None,
            other => Some(other),
        };
        self.reply(ReplyCode::FILE_ACTION_PENDING, message);
    }
}

// ---------------------------------------------------------------------------------------------
// Data channel set-up

impl ServerSession {
    fn epsv(&mut self, arg: Option<EpsvArg>) {
        let ours = if self.control_is_ipv6() { 2 } else { 1 };
        match arg {
            Some(EpsvArg::All) => {
                self.settings.epsv_all = true;
                self.reply(ReplyCode::COMMAND_OK, "EPSV ALL ok.");
            }
            Some(EpsvArg::Protocol(p)) if p != ours => self.reply(
                ReplyCode::NETWORK_PROTOCOL_UNSUPPORTED,
                format!("Network protocol not supported, use ({ours})"),
            ),
            _ => self.passive(PassiveKind::Epsv),
        }
    }

    fn control_is_ipv6(&self) -> bool {
        canonical_ip(self.conn.local.ip()).is_ipv6()
    }

    /// The IP written into 227/228 replies.
    pub(super) fn passive_ip(&self) -> IpAddr {
        self.config
            .passive_address
            .map_or_else(|| canonical_ip(self.conn.local.ip()), canonical_ip)
    }

    fn passive(&mut self, kind: PassiveKind) {
        if self.settings.epsv_all && kind != PassiveKind::Epsv {
            return self.reply(
                ReplyCode::SYNTAX_ERROR_ARGUMENTS,
                "Only EPSV is allowed after EPSV ALL.",
            );
        }
        if kind == PassiveKind::Pasv && !self.passive_ip().is_ipv4() {
            return self.reply(ReplyCode::NOT_IMPLEMENTED, "PASV is IPv4 only; use EPSV.");
        }
        self.drop_channel();
        let id = super::types::DataConnId::from_raw(self.fresh_id());
        let expect_peer =
            (!self.config.allow_foreign_passive).then(|| canonical_ip(self.conn.peer.ip()));
        self.intent(ServerDataIntent::Listen {
            id,
            expect_peer,
            ipv6: self.control_is_ipv6(),
            tls: self.settings.data_protected,
        });
        self.wait_listener(id, kind);
    }

    /// The 227/228/229 reply once the listener is bound at `local`.
    pub(super) fn passive_reply(&self, kind: PassiveKind, local: SocketAddr) -> Reply {
        let port = local.port();
        let text = match (kind, self.passive_ip()) {
            (PassiveKind::Epsv, _) => addr::format_epsv_reply(port),
            (PassiveKind::Pasv, IpAddr::V4(ip)) => {
                addr::format_pasv_reply(std::net::SocketAddrV4::new(ip, port))
            }
            (_, ip) => addr::format_lpsv_reply(SocketAddr::new(ip, port)),
        };
        let code = match kind {
            PassiveKind::Pasv => ReplyCode::PASSIVE_MODE,
            PassiveKind::Epsv => ReplyCode::EXTENDED_PASSIVE_MODE,
            PassiveKind::Lpsv => ReplyCode::LONG_PASSIVE_MODE,
        };
        Reply::new(code, text)
    }

    fn active(&mut self, addr: SocketAddr, verb: &str) {
        if self.settings.epsv_all {
            return self.reply(
                ReplyCode::SYNTAX_ERROR_ARGUMENTS,
                "Only EPSV is allowed after EPSV ALL.",
            );
        }
        if !self.config.active_mode {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED,
                "Active mode is disabled; use PASV or EPSV.",
            );
        }
        if addr.port() < 1024 && !self.config.allow_privileged_ports {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                "Ports below 1024 are refused.",
            );
        }
        let foreign = canonical_ip(addr.ip()) != canonical_ip(self.conn.peer.ip());
        if foreign && !self.config.allow_foreign_active {
            let code = if verb == "PORT" {
                ReplyCode::SYNTAX_ERROR
            } else {
                ReplyCode::SYNTAX_ERROR_ARGUMENTS
            };
            return self.reply(
                code,
                format!("Illegal {verb} command: the address must be yours."),
            );
        }
        self.set_channel(DataChannel::Active { addr });
        self.reply(ReplyCode::COMMAND_OK, format!("{verb} command successful."));
    }
}

// ---------------------------------------------------------------------------------------------
// Transfers

impl ServerSession {
    fn transfer(&mut self, kind: TransferKind, arg: Option<Bytes>, rest: Option<RestMarker>) {
        if self.config.tls.require_for_data && !self.settings.data_protected {
            return self.reply(
                ReplyCode::LPRT_FAMILY_UNSUPPORTED,
                "Data connections must be protected (PROT P).",
            );
        }
        let (right, code) = match kind {
            TransferKind::Retrieve => (Permissions::READ, ReplyCode::FILE_UNAVAILABLE),
            TransferKind::Store | TransferKind::StoreUnique => {
                (Permissions::WRITE, ReplyCode::FILE_NAME_NOT_ALLOWED)
            }
            TransferKind::Append => (Permissions::APPEND, ReplyCode::FILE_UNAVAILABLE),
            _ => (Permissions::LIST, ReplyCode::FILE_UNAVAILABLE),
        };
        if !self.may(right) {
            return self.reply(code, "Permission denied.");
        }
        if self.data == DataChannel::None {
            return self.reply(ReplyCode::CANT_OPEN_DATA, "Use PORT or PASV first.");
        }
        let class = match kind {
            TransferKind::Store | TransferKind::StoreUnique => OpClass::Write,
            TransferKind::Append => OpClass::Append,
            TransferKind::Mlsd => OpClass::Mlsd,
            _ => OpClass::Read,
        };
        let arg = match kind {
            TransferKind::List | TransferKind::Nlst => arg.map(strip_list_options),
            _ => arg,
        };
        let Some(path) = self.resolve(arg.as_deref().unwrap_or_default(), class) else {
            return;
        };
        let channel = self.take_channel();
        let (data, connected) = match &channel {
            DataChannel::Passive { id, connected, .. } => (*id, *connected),
            _ => (super::types::DataConnId::from_raw(self.fresh_id()), false),
        };
        let (path, request) = self.transfer_request(kind, path, arg, rest, data);
        let storage = self.request(request);
        self.begin_transfer(Transfer {
            kind,
            path,
            data,
            storage: Some(storage),
            stage: TransferStage::Opening,
            since: self.now,
            channel,
            connected,
            data_closed: false,
            bytes: 0,
            moved_at: self.now,
            quit_after: false,
        });
    }

    /// The storage request for a transfer, and the path its events report.
    fn transfer_request(
        &self,
        kind: TransferKind,
        path: VirtualPath,
        arg: Option<Bytes>,
        rest: Option<RestMarker>,
        data: super::types::DataConnId,
    ) -> (VirtualPath, StorageRequest) {
        let params = self.settings.params;
        let (offset, marker) = match rest {
            Some(RestMarker::Offset(offset)) if params.mode == TransferMode::Stream => {
                (offset, None)
            }
            Some(RestMarker::Offset(offset)) => (0, Some(Bytes::from(offset.to_string()))),
            Some(RestMarker::Marker(marker)) => (0, Some(marker)),
            None => (0, None),
        };
        let listing = |format| StorageRequest::List {
            path: path.clone(),
            format,
            data,
            params: TransferParams {
                data_type: DataType::Ascii(FormatControl::NonPrint),
                mode: params.mode,
                structure: FileStructure::File,
            },
        };
        let store = |mode| StorageRequest::Store {
            path: path.clone(),
            mode,
            offset,
            marker: marker.clone(),
            data,
            params,
        };
        let request = match kind {
            TransferKind::Retrieve => StorageRequest::Retrieve {
                path: path.clone(),
                offset,
                marker: marker.clone(),
                data,
                params,
            },
            TransferKind::Store => store(StoreMode::Create),
            // RFC 3659 §5.3: APPE after REST acts like STOR at the offset.
            TransferKind::Append if offset > 0 || marker.is_some() => store(StoreMode::Create),
            TransferKind::Append => store(StoreMode::Append),
            TransferKind::StoreUnique => return self.unique_request(path, arg, data),
            TransferKind::List => listing(ListFormat::List),
            TransferKind::Nlst => listing(ListFormat::Nlst),
            TransferKind::Mlsd => StorageRequest::List {
                path: path.clone(),
                format: ListFormat::Mlsd {
                    facts: self.settings.facts,
                },
                data,
                params: TransferParams {
                    data_type: DataType::Image,
                    mode: TransferMode::Stream,
                    structure: FileStructure::File,
                },
            },
        };
        (path, request)
    }

    /// STOU: the directory to create in, and the client's name hint.
    fn unique_request(
        &self,
        resolved: VirtualPath,
        hint: Option<Bytes>,
        data: super::types::DataConnId,
    ) -> (VirtualPath, StorageRequest) {
        // A hint names a file only when its last segment is a name (not `..`, `.` or empty).
        let names_file = hint.as_ref().is_some_and(|h| {
            let last = h.rsplit(|&b| b == b'/').next().unwrap_or_default();
            !matches!(last, b"" | b"." | b"..")
        });
        let (dir, hint) = match resolved.file_name() {
            Some(name) if names_file => (
                resolved.parent().unwrap_or_default(),
                Some(Bytes::copy_from_slice(name)),
            ),
            _ => (resolved.clone(), None),
        };
        let request = StorageRequest::Store {
            path: dir.clone(),
            mode: StoreMode::Unique { hint },
            offset: 0,
            marker: None,
            data,
            params: self.settings.params,
        };
        (dir, request)
    }

    /// ABOR, STAT and QUIT while a transfer runs; other commands never get here (they wait).
    fn during_transfer(&mut self, command: Command) {
        match command {
            Command::Abor => {
                let code = ReplyCode::TRANSFER_ABORTED;
                let quit_after =
                    self.abandon_transfer(code, "Connection closed; transfer aborted.");
                self.verb = Bytes::from_static(b"ABOR");
                self.reply(ReplyCode::CLOSING_DATA, "Abort successful");
                if let Some(quit_after) = quit_after {
                    self.after_transfer(quit_after);
                }
            }
            Command::Stat(None) => {
                let Some(transfer) = self.transfer_mut() else {
                    return;
                };
                let mut line = format!(" {} ", transfer.kind.verb()).into_bytes();
                line.extend_from_slice(transfer.path.as_bytes());
                line.extend_from_slice(format!(": {} bytes so far", transfer.bytes).as_bytes());
                let lines = [
                    Bytes::from_static(b"Status:"),
                    line.into(),
                    Bytes::from_static(b"End"),
                ];
                self.verb = Bytes::from_static(b"STAT");
                self.send(Reply::multiline(ReplyCode::FILE_STATUS, lines));
            }
            Command::Quit => {
                if let Some(transfer) = self.transfer_mut() {
                    transfer.quit_after = true;
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Metadata and file management

impl ServerSession {
    fn query(&mut self, arg: &[u8], op: PendingOp) {
        let Some(path) = self.resolve(arg, OpClass::Query) else {
            return;
        };
        let id = self.request(StorageRequest::Metadata { path });
        self.wait_storage(id, op);
    }

    /// RFC 3659 §4: SIZE is exact for the current TYPE, MODE and STRU. The stored size is the
    /// transfer size under TYPE I, MODE S; under TYPE A, MODE S the file is counted as a
    /// download would send it, when small enough ([`ServerConfig::ascii_size_limit`]); MODE
    /// B and C and STRU R add framing no count is kept of, so they get 550. The count reads
    /// the file, so it needs the READ permission that RETR needs.
    fn size(&mut self, arg: &[u8]) {
        let params = self.settings.params;
        let stream_file =
            params.mode == TransferMode::Stream && params.structure == FileStructure::File;
        let counted = self.config.ascii_size_limit > 0;
        match params.data_type {
            DataType::Image if stream_file => self.query(arg, PendingOp::Size),
            DataType::Ascii(_) if stream_file && counted => {
                // Counting reads the file's bytes: as much a read as RETR.
                if !self.may(Permissions::READ) {
                    return self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied.");
                }
                let Some(path) = self.resolve(arg, OpClass::Query) else {
                    return;
                };
                let id = self.request(StorageRequest::Metadata { path: path.clone() });
                self.wait_storage(id, PendingOp::AsciiSize { path, params });
            }
            _ if !stream_file => self.reply(
                ReplyCode::FILE_UNAVAILABLE,
                "SIZE is only available in MODE S, STRU F.",
            ),
            // TYPE sets only A and I (L 8 is I), so this is TYPE A with counting off.
            _ => self.reply(
                ReplyCode::FILE_UNAVAILABLE,
                "SIZE is only available in TYPE I.",
            ),
        }
    }

    fn mlst(&mut self, arg: Option<Bytes>) {
        if !self.may(Permissions::LIST) {
            return self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied.");
        }
        let label = arg.clone().unwrap_or_else(|| self.settings.cwd.to_bytes());
        let Some(path) = self.resolve(arg.as_deref().unwrap_or_default(), OpClass::Query) else {
            return;
        };
        let id = self.request(StorageRequest::Metadata { path: path.clone() });
        self.wait_storage(id, PendingOp::Mlst { path, label });
    }

    /// STAT with a pathname (RFC 959 §4.1.3): the path's LIST lines over the control
    /// connection, 212 for a directory, 213 for a file.
    fn stat_path(&mut self, arg: Bytes) {
        if !self.may(Permissions::LIST) {
            return self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied.");
        }
        let Some(path) = self.resolve(&arg, OpClass::Query) else {
            return;
        };
        let id = self.request(StorageRequest::StatusListing { path });
        self.wait_storage(id, PendingOp::StatPath { label: arg });
    }

    fn modify(&mut self, arg: &[u8], op: PendingOp) {
        let right = match op {
            PendingOp::Dele => Permissions::DELETE,
            PendingOp::Rmd => Permissions::RMDIR,
            PendingOp::Mfmt { .. } => Permissions::WRITE,
            _ => Permissions::MKDIR,
        };
        if !self.may(right) {
            return self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied.");
        }
        if matches!(op, PendingOp::Mfmt { .. }) && !self.config.mfmt {
            return self.reply(ReplyCode::NOT_IMPLEMENTED, "MFMT is not available.");
        }
        let Some(path) = self.resolve(arg, OpClass::Modify) else {
            return;
        };
        let (request, op) = match op {
            PendingOp::Dele => (StorageRequest::Delete { path }, op),
            PendingOp::Rmd => (StorageRequest::RemoveDir { path }, op),
            PendingOp::Mfmt { time, arg } => (
                StorageRequest::SetModified { path, time },
                PendingOp::Mfmt { time, arg },
            ),
            _ => (
                StorageRequest::MakeDir { path: path.clone() },
                PendingOp::Mkd(path),
            ),
        };
        let id = self.request(request);
        self.wait_storage(id, op);
    }

    fn rnfr(&mut self, arg: &[u8]) {
        if !self.may(Permissions::RENAME) {
            return self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied.");
        }
        let Some(path) = self.resolve(arg, OpClass::Query) else {
            return;
        };
        let id = self.request(StorageRequest::Metadata { path: path.clone() });
        self.wait_storage(id, PendingOp::Rnfr(path));
    }

    fn rnto(&mut self, arg: &[u8], from: Option<VirtualPath>) {
        let Some(from) = from else {
            return self.reply(ReplyCode::BAD_SEQUENCE, "RNFR required first.");
        };
        let Some(to) = self.resolve(arg, OpClass::Rename) else {
            return;
        };
        let id = self.request(StorageRequest::Rename { from, to });
        self.wait_storage(id, PendingOp::Rnto);
    }

    fn hash(&mut self, arg: &Bytes) {
        let Some(algorithm) = self.settings.hash else {
            return self.reply(ReplyCode::NOT_IMPLEMENTED, "HASH is not available.");
        };
        let Some(path) = self.resolve(arg, OpClass::Hash) else {
            return;
        };
        let range = self.settings.range;
        let id = self.request(StorageRequest::Hash {
            path,
            algorithm,
            range,
        });
        self.wait_storage(id, PendingOp::Hash { arg: arg.clone() });
    }

    fn rang(&mut self, start: u64, end: u64) {
        if self.settings.hash.is_none() {
            return self.reply(
                ReplyCode::NOT_IMPLEMENTED,
                "RANG is only available with HASH.",
            );
        }
        if (start, end) == (1, 0) {
            self.settings.range = None;
            return self.reply(ReplyCode::FILE_ACTION_PENDING, "Range reset.");
        }
        if start > end {
            self.settings.range = None;
            return self.reply(
                ReplyCode::SYNTAX_ERROR_ARGUMENTS,
                "Invalid range; range reset.",
            );
        }
        self.settings.range = Some((start, end));
        self.reply(
            ReplyCode::FILE_ACTION_PENDING,
            format!("Range set to {start}-{end}; send HASH."),
        );
    }

    fn site(&mut self, arg: &Bytes) {
        let (name, rest) = match memchr::memchr(b' ', arg) {
            Some(at) => (arg.slice(..at), Some(arg.slice(at + 1..))),
            None => (arg.clone(), None),
        };
        let upper = Bytes::from(name.to_ascii_uppercase());
        if &upper[..] == b"HELP" {
            let mut commands = vec!["HELP".to_owned()];
            if self.config.site_chmod {
                commands.push("CHMOD".into());
            }
            commands.extend(
                self.config
                    .site_commands
                    .iter()
                    .map(|c| c.to_ascii_uppercase()),
            );
            return self.reply(ReplyCode::HELP_MESSAGE, commands.join(" "));
        }
        if &upper[..] == b"CHMOD" && self.config.site_chmod {
            return self.chmod(rest.unwrap_or_default());
        }
        if self.config.is_site_command(&upper) {
            let cwd = self.settings.cwd.clone();
            let id = self.request(StorageRequest::Site {
                command: upper,
                arg: rest,
                cwd,
            });
            return self.wait_storage(id, PendingOp::Site);
        }
        self.reply(ReplyCode::SYNTAX_ERROR, "Unknown SITE command.");
    }

    fn chmod(&mut self, arg: Bytes) {
        let parsed = memchr::memchr(b' ', &arg).and_then(|at| {
            let mode = parse_octal(&arg[..at])?;
            let path = arg.slice(at + 1..);
            (!path.is_empty()).then_some((mode, path))
        });
        let Some((mode, path)) = parsed else {
            return self.reply(
                ReplyCode::SYNTAX_ERROR_ARGUMENTS,
                "Usage: SITE CHMOD <mode> <path>.",
            );
        };
        if !self.may(Permissions::CHMOD) {
            return self.reply(ReplyCode::FILE_UNAVAILABLE, "Permission denied.");
        }
        let Some(path) = self.resolve(&path, OpClass::Modify) else {
            return;
        };
        let id = self.request(StorageRequest::Chmod { path, mode });
        self.wait_storage(id, PendingOp::Chmod);
    }
}

/// `anonymous` or `ftp`, case-insensitive.
fn is_anonymous(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"anonymous") || name.eq_ignore_ascii_case(b"ftp")
}

/// Octal permission bits, 1 to 4 digits.
fn parse_octal(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 4 || !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0, |acc, d| acc * 8 + u32::from(d - b'0')),
    )
}

/// LIST/NLST arguments often start with `ls` options (`-la`, `-a dir`): drop them, as most
/// servers do. A name that really starts with `-` can be reached as `./-name`.
fn strip_list_options(arg: Bytes) -> Bytes {
    let mut rest = arg;
    while rest.first() == Some(&b'-') {
        match memchr::memchr(b' ', &rest) {
            Some(at) => {
                let skip = at + 1 + rest[at + 1..].iter().take_while(|&&b| b == b' ').count();
                rest = rest.slice(skip..);
            }
            None => return Bytes::new(),
        }
    }
    rest
}

/// Commands answered 502 whatever the state: the deliberate omissions of the module docs.
fn unimplemented(command: &Command) -> Option<Reply> {
    let text: &str = match command {
        Command::Smnt(_) => "SMNT is not implemented.",
        Command::Mfct { .. } => "MFCT is not implemented.",
        Command::Mff { .. } => "MFF is not implemented; use MFMT.",
        Command::Mic(_) | Command::Conf(_) | Command::Enc(_) => {
            "RFC 2228 protected commands are not used with TLS."
        }
        _ => return None,
    };
    Some(Reply::new(ReplyCode::NOT_IMPLEMENTED, text))
}

/// True for commands that get 530 before login.
/// The transfer commands, which take (and, but for RETR, STOR and APPE, discard) a pending
/// restart marker.
fn takes_restart_marker(command: &Command) -> bool {
    matches!(
        command,
        Command::Retr(_)
            | Command::Stor(_)
            | Command::Appe(_)
            | Command::Stou(_)
            | Command::List(_)
            | Command::Nlst(_)
            | Command::Mlsd(_)
    )
}

fn needs_login(command: &Command) -> bool {
    use Command as C;
    !matches!(
        command,
        C::User(_)
            | C::Pass(_)
            | C::Acct(_)
            | C::Rein
            | C::Quit
            | C::Noop
            | C::Help(_)
            | C::Syst
            | C::Feat
            | C::Opts(_)
            | C::Lang(_)
            | C::Host(_)
            | C::Auth(_)
            | C::Adat(_)
            | C::Pbsz(_)
            | C::Prot(_)
            | C::Ccc
            | C::Abor
            | C::Stat(None)
            | C::Clnt(_)
            | C::Unknown { .. }
    )
}
