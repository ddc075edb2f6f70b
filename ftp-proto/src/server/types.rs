//! The vocabulary the session and its driver exchange: identifiers, outputs, data-connection
//! intents and events, storage requests and responses, authentication and audit events.
//!
//! Everything here is plain data. The session never holds a socket, a file or a clock; it names
//! the work and the driver does it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::listing::{is_rchar, FactType, Facts, Perm, PermSet};
use crate::path::VirtualPath;
use crate::reply::ReplyCode;
use crate::timestamp::Timestamp;

use super::config::{FactSet, HashAlgorithm};
use super::permissions::Permissions;
use crate::session::id_type;
pub use crate::session::{DataConnId, DataFailure, Secret, TransferKind, TransferParams};

id_type! {
    /// One storage request.
    StorageOpId
}
id_type! {
    /// One authentication request.
    AuthId
}

/// What the driver must do next, in order. Drain with
/// [`ServerSession::poll_output`](super::ServerSession::poll_output) after every input.
#[derive(Clone, Debug, PartialEq)]
#[must_use = "every output must be executed by the driver"]
#[non_exhaustive]
pub enum ServerOutput {
    /// Write these bytes on the control connection (replies, already CRLF-framed and
    /// IAC-escaped; Telnet option refusals).
    Transmit(Bytes),
    /// Work on a data connection.
    Data(ServerDataIntent),
    /// Ask the storage back end to do something; answer with
    /// [`handle_storage_result`](super::ServerSession::handle_storage_result) and this `id`.
    Storage {
        /// Echo this in the answer.
        id: StorageOpId,
        /// What to do.
        request: StorageRequest,
    },
    /// Check a user's credentials; answer with
    /// [`handle_auth_result`](super::ServerSession::handle_auth_result) and this `id`.
    Authenticate {
        /// Echo this in the answer.
        id: AuthId,
        /// The name given to USER, as bytes.
        user: Bytes,
        /// The password given to PASS.
        password: Secret<Bytes>,
        /// The account given to ACCT, when the back end asked for one
        /// ([`AuthFailure::AccountRequired`]).
        account: Option<Bytes>,
        /// The virtual host named by HOST before login, if any.
        host: Option<Bytes>,
    },
    /// Flush every `Transmit` queued before this, then start a TLS handshake (server side) on
    /// the control connection; report [`handle_tls_established`](super::ServerSession::handle_tls_established)
    /// or, on failure, close and report [`handle_eof`](super::ServerSession::handle_eof).
    StartTls,
    /// Flush every `Transmit` queued before this, then shut TLS down on the control connection
    /// (close_notify both ways) and go on in plaintext (CCC, REIN).
    StopTls,
    /// Flush every `Transmit` queued before this, then close the control connection. Nothing
    /// else follows.
    Close,
    /// Something for logs and metrics; needs no action.
    Event(ServerEvent),
}

/// Work the server's driver must do on a data connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "every intent must be executed by the driver"]
#[non_exhaustive]
pub enum ServerDataIntent {
    /// Bind a listener (PASV, EPSV, LPSV) on the control connection's local address, on a port
    /// the driver picks from its range, and report [`ServerDataEvent::Listening`]. Accept one
    /// connection, and only from `expect_peer` when it is set (RFC 2577 port theft): a
    /// connection from elsewhere is refused with [`DataFailure::PeerMismatch`].
    Listen {
        /// The connection.
        id: DataConnId,
        /// The only address allowed to connect, `None` when foreign peers are allowed.
        expect_peer: Option<IpAddr>,
        /// Bind IPv6 (the control connection is IPv6) rather than IPv4.
        ipv6: bool,
        /// Run a TLS handshake (as TLS server) on the accepted connection before reporting
        /// [`ServerDataEvent::Connected`] (PROT P).
        tls: bool,
    },
    /// Connect to the client (PORT, EPRT, LPRT) and report [`ServerDataEvent::Connected`].
    Connect {
        /// The connection.
        id: DataConnId,
        /// Where to connect.
        addr: SocketAddr,
        /// Run a TLS handshake (as TLS server: the FTP client is always the TLS client, RFC
        /// 4217 §7) before reporting [`ServerDataEvent::Connected`] (PROT P).
        tls: bool,
    },
    /// Close gracefully (TLS close_notify, then FIN) and report [`ServerDataEvent::Closed`].
    Close {
        /// The connection.
        id: DataConnId,
    },
    /// Tear down at once (listener and connection); no event is expected back.
    Abort {
        /// The connection.
        id: DataConnId,
    },
}

/// What the server's driver observed on a data connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerDataEvent {
    /// The listener asked for by [`ServerDataIntent::Listen`] is bound here.
    Listening {
        /// The bound address (its port goes into the 227/228/229 reply).
        local: SocketAddr,
    },
    /// The connection is up (and, with `tls`, its handshake done).
    Connected {
        /// The other end.
        peer: SocketAddr,
    },
    /// Bytes moved so far by the running transfer, for STAT during a transfer. Optional.
    Progress {
        /// Total bytes so far.
        bytes: u64,
    },
    /// The connection is closed: the answer to [`ServerDataIntent::Close`], or the peer closed it.
    Closed,
    /// The listener or connection failed; it is gone.
    Failed(DataFailure),
}

/// How a listing is formatted. The storage back end formats it (ls -l style, names, or MLSD
/// facts) and writes it to the data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListFormat {
    /// LIST: a human-readable listing (`ls -l` style recommended).
    List,
    /// NLST: names only, one per line.
    Nlst,
    /// MLSD: RFC 3659 fact lines with these facts (the OPTS MLST selection).
    Mlsd {
        /// The facts to write.
        facts: FactSet,
    },
}

/// How STOR, APPE and STOU write.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreMode {
    /// STOR (and APPE after REST, RFC 3659 §5.3): create or replace `path`. With an `offset`,
    /// keep the first `offset` bytes and write from there.
    Create,
    /// APPE: append to `path`, creating it if needed.
    Append,
    /// STOU: create a new file with a name that does not exist yet inside the directory `path`,
    /// based on `hint` when the client gave one; report the name with
    /// [`StorageResponse::StoredAs`].
    Unique {
        /// The file name the client suggested (one segment, no `/`).
        hint: Option<Bytes>,
    },
}

/// A hash algorithm's result (HASH, draft-bryan-ftpext-hash).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HashValue {
    /// The algorithm used.
    pub algorithm: HashAlgorithm,
    /// First byte hashed.
    pub start: u64,
    /// Last byte hashed, inclusive (`0-49` for a 50-byte file).
    pub end: u64,
    /// The digest in lower-case hex.
    pub hex: String,
}

/// What the session asks the storage back end to do. The core decides *what*; the back end
/// decides *how*. Every path is a [`VirtualPath`]: absolute, normalised, never above the root.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageRequest {
    /// Describe `path` (CWD, RNFR, SIZE, MDTM, MLST): answer [`StorageResponse::Metadata`].
    Metadata {
        /// The path.
        path: VirtualPath,
    },
    /// Write a listing of `path` to the data connection `data` (LIST, NLST, MLSD). Answer
    /// [`StorageResponse::Opened`] once the listing can be produced (or an error: MLSD on a
    /// file is [`StorageErrorKind::NotADirectory`]), then [`StorageResponse::Transferred`] once
    /// every byte is written.
    List {
        /// The directory (or file) to list.
        path: VirtualPath,
        /// The format.
        format: ListFormat,
        /// The data connection to write to (wait for it to be connected).
        data: DataConnId,
        /// The representation on the wire (TYPE A N for LIST/NLST, L 8 for MLSD).
        params: TransferParams,
    },
    /// STAT with a pathname (RFC 959 §4.1.3): the `ls -l` lines of `path` (a directory's
    /// entries, or a file's own line) for a reply on the control connection; answer
    /// `Listing`.
    StatusListing {
        /// The directory or file.
        path: VirtualPath,
    },
    /// Send `path` from `offset` over `data` (RETR): answer `Opened`, then `Transferred`.
    Retrieve {
        /// The file.
        path: VirtualPath,
        /// Skip this many bytes of the transfer representation (REST STREAM).
        offset: u64,
        /// A MODE B/C restart marker from REST, for the back end to interpret.
        marker: Option<Bytes>,
        /// The data connection.
        data: DataConnId,
        /// TYPE, MODE, STRU.
        params: TransferParams,
    },
    /// Receive `path` over `data` (STOR, APPE, STOU): answer `Opened` (`StoredAs` for STOU),
    /// then `Transferred` once every byte is durably stored.
    Store {
        /// The file, or the directory for [`StoreMode::Unique`].
        path: VirtualPath,
        /// How to write.
        mode: StoreMode,
        /// Keep this many bytes and write from there (REST STREAM before STOR or APPE).
        offset: u64,
        /// A MODE B/C restart marker from REST.
        marker: Option<Bytes>,
        /// The data connection.
        data: DataConnId,
        /// TYPE, MODE, STRU.
        params: TransferParams,
    },
    /// Delete a file (DELE): answer [`StorageResponse::Done`].
    Delete {
        /// The file.
        path: VirtualPath,
    },
    /// Create a directory (MKD): answer `Done`.
    MakeDir {
        /// The directory.
        path: VirtualPath,
    },
    /// Remove an empty directory (RMD): answer `Done`.
    RemoveDir {
        /// The directory.
        path: VirtualPath,
    },
    /// Rename (RNFR + RNTO): answer `Done`.
    Rename {
        /// The old path.
        from: VirtualPath,
        /// The new path.
        to: VirtualPath,
    },
    /// Set the modification time (MFMT): answer `Done`.
    SetModified {
        /// The file.
        path: VirtualPath,
        /// The new time, UTC.
        time: Timestamp,
    },
    /// Count the octets a download of `path` would send under `params` (SIZE in TYPE A,
    /// RFC 3659 §4: every local line end sent as CRLF): answer
    /// [`StorageResponse::TransferSize`]. The session asks only for files whose stored size
    /// is at most [`ServerConfig::ascii_size_limit`](super::ServerConfig::ascii_size_limit),
    /// and passes that size as `max`: a file found larger than `max` (it changed since) is
    /// not counted, and answers an error ([`StorageErrorKind::Transient`] says "try again").
    /// A back end that cannot count answers [`StorageErrorKind::Unsupported`] (550).
    TransferSize {
        /// The file.
        path: VirtualPath,
        /// TYPE A, MODE S, STRU F.
        params: TransferParams,
        /// The stored size the session checked; read no more than this.
        max: u64,
    },
    /// Hash a file (HASH) as a TYPE I, MODE S download would send it: answer
    /// [`StorageResponse::Hash`].
    Hash {
        /// The file.
        path: VirtualPath,
        /// The algorithm (the OPTS HASH selection).
        algorithm: HashAlgorithm,
        /// Only these bytes, inclusive (RANG); `None` for the whole file.
        range: Option<(u64, u64)>,
    },
    /// Change permission bits (SITE CHMOD): answer `Done`.
    Chmod {
        /// The file or directory.
        path: VirtualPath,
        /// The mode, at most `0o7777`.
        mode: u32,
    },
    /// An application-defined SITE command (one of `ServerConfig::site_commands`): answer
    /// `Done` or [`StorageResponse::SiteReply`].
    Site {
        /// The SITE sub-command, upper-cased.
        command: Bytes,
        /// Its argument after one SP, verbatim.
        arg: Option<Bytes>,
        /// The working directory, to resolve paths inside `arg` with
        /// [`VirtualPath::resolve`].
        cwd: VirtualPath,
    },
}

/// What kind of object a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (when the back end does not follow it).
    Symlink,
    /// Anything else.
    Other,
}

/// What the back end knows about a path. Unknown facts are `None` and are left out of replies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// File, directory, ...
    pub kind: FileKind,
    /// Size in bytes, as stored (SIZE under TYPE I; under TYPE A storage counts the
    /// transfer's octets, [`StorageRequest::TransferSize`]).
    pub size: Option<u64>,
    /// Last modification, UTC.
    pub modified: Option<Timestamp>,
    /// Creation, UTC.
    pub created: Option<Timestamp>,
    /// The RFC 3659 `perm` fact letters (`adfrw`, `elcmp`, ...).
    pub perm: Option<String>,
    /// The RFC 3659 `unique` fact.
    pub unique: Option<String>,
    /// Unix permission bits, for the `UNIX.mode` fact.
    pub unix_mode: Option<u32>,
}

impl Metadata {
    /// Metadata with only a kind.
    pub fn new(kind: FileKind) -> Self {
        Self {
            kind,
            size: None,
            modified: None,
            created: None,
            perm: None,
            unique: None,
            unix_mode: None,
        }
    }

    /// The MLST/MLSD facts (RFC 3659 §7.5) of this metadata, limited to `selected`: the one
    /// conversion the session's MLST replies and a driver's MLSD listings share, so both say
    /// the same of a path.
    ///
    /// Unknown values are left out; so are those a fact cannot carry: `perm` keeps only the
    /// letters RFC 3659 defines, `unique` only the bytes a token may hold (RFC 3659 `RCHAR`) (nothing when none
    /// is left), `size` is never given for a directory. A symbolic link is typed
    /// `OS.unix=slink`; [`FileKind::Other`] gets no `type`. The result always writes (see
    /// [`MlsxEntry::write_mlsd_line`](crate::listing::MlsxEntry::write_mlsd_line)).
    pub fn mlsx_facts(&self, selected: FactSet) -> Facts {
        let wanted = |fact| selected.contains(fact);
        let mut facts = Facts::default();
        if wanted(FactSet::TYPE) {
            facts.kind = match self.kind {
                FileKind::File => Some(FactType::File),
                FileKind::Dir => Some(FactType::Dir),
                FileKind::Symlink => Some(FactType::Os {
                    os: Bytes::from_static(b"unix"),
                    kind: Bytes::from_static(b"slink"),
                }),
                FileKind::Other => None,
            };
        }
        if wanted(FactSet::SIZE) && self.kind != FileKind::Dir {
            facts.size = self.size;
        }
        if wanted(FactSet::MODIFY) {
            facts.modify = self.modified;
        }
        if wanted(FactSet::CREATE) {
            facts.create = self.created;
        }
        if wanted(FactSet::PERM) {
            facts.perm = self.perm.as_deref().map(|letters| {
                letters
                    .bytes()
                    .filter_map(Perm::from_letter)
                    .fold(PermSet::EMPTY, PermSet::with)
            });
        }
        if wanted(FactSet::UNIQUE) {
            let token: Vec<u8> = self
                .unique
                .as_deref()
                .unwrap_or_default()
                .bytes()
                .filter(|&b| is_rchar(b))
                .collect();
            facts.unique = (!token.is_empty()).then(|| Bytes::from(token));
        }
        if wanted(FactSet::UNIX_MODE) {
            if let Some(mode) = self.unix_mode {
                let value = format!("{:04o}", mode & 0o7777);
                facts
                    .other
                    .push((Bytes::from_static(b"UNIX.mode"), Bytes::from(value)));
            }
        }
        facts
    }
}

/// A successful answer to a [`StorageRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageResponse {
    /// The answer to `Metadata`.
    Metadata(Metadata),
    /// A transfer's source or sink is ready (file opened, listing readable): the session now
    /// sends 150 (125 when the data connection is already up) and, in active mode, asks for the
    /// connection. The back end then waits for [`ServerDataEvent::Connected`] on the request's
    /// `data` id before it moves bytes.
    Opened {
        /// The size of a download, when known (shown in the 150 reply).
        size: Option<u64>,
    },
    /// STOU's `Opened`: the file was created under this name (one segment) in the requested
    /// directory.
    StoredAs {
        /// The new file's name.
        name: Bytes,
    },
    /// Every byte moved and, for uploads, durably stored. The session then closes the data
    /// connection and sends 226 once it is closed.
    Transferred {
        /// Bytes moved over the data connection.
        bytes: u64,
    },
    /// The request is done (DELE, MKD, RMD, Rename, SetModified, Chmod, Site).
    Done,
    /// The answer to `Hash`.
    Hash(HashValue),
    /// The answer to `TransferSize`: the octets the download would send.
    TransferSize(u64),
    /// The answer to `StatusListing`: one `ls -l` line per entry, without line ends.
    Listing {
        /// The lines; CR or LF inside one (a name that holds them) is shown as `?`.
        lines: Vec<Bytes>,
        /// `path` was a directory (212) rather than a file (213).
        directory: bool,
    },
    /// The answer to an application SITE command: `200` with this text (lines split at LF).
    SiteReply {
        /// The reply text.
        message: String,
    },
}

/// Why a storage request failed. The session maps `kind` to a reply code per command
/// (from the command's reply list, RFC 959 §5.4); `message`, when set, replaces the reply's
/// standard text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct StorageError {
    /// What went wrong.
    pub kind: StorageErrorKind,
    /// A human-readable text for the reply (one line; CR, LF and NUL are replaced).
    pub message: Option<String>,
}

impl StorageError {
    /// An error with the standard reply text.
    pub fn new(kind: StorageErrorKind) -> Self {
        Self {
            kind,
            message: None,
        }
    }

    /// An error with its own reply text.
    pub fn with_message(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: Some(message.into()),
        }
    }
}

impl From<StorageErrorKind> for StorageError {
    fn from(kind: StorageErrorKind) -> Self {
        Self::new(kind)
    }
}

/// The kinds of storage failure the session distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// No such file or directory (550).
    #[error("not found")]
    NotFound,
    /// Not allowed (550; 553 for STOR/STOU).
    #[error("permission denied")]
    PermissionDenied,
    /// The target exists (550; 553 for RNTO, STOR, STOU).
    #[error("already exists")]
    AlreadyExists,
    /// A directory was needed (550; 501 for MLSD, RFC 3659 §7.1).
    #[error("not a directory")]
    NotADirectory,
    /// A file was needed (550; 553 for HASH).
    #[error("is a directory")]
    IsADirectory,
    /// The disk is full (452).
    #[error("insufficient storage")]
    InsufficientStorage,
    /// The user's quota is used up (552).
    #[error("quota exceeded")]
    QuotaExceeded,
    /// The name is not allowed (553).
    #[error("invalid name")]
    InvalidName,
    /// The REST offset is past the end of the file (554, RFC 1123 §4.1.3.4).
    #[error("invalid restart offset")]
    InvalidOffset,
    /// The file is busy or locked; try again (450).
    #[error("busy")]
    Busy,
    /// A temporary failure (451, or 450 before a transfer starts).
    #[error("temporary failure")]
    Transient,
    /// The back end does not support this operation (502; 504 for HASH algorithms).
    #[error("not supported")]
    Unsupported,
    /// Anything else (451).
    #[error("storage error")]
    Other,
}

/// An authenticated user, as the authentication back end describes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The user name.
    pub user: Bytes,
    /// What the user may do: a command that needs a right the user lacks is refused with 550
    /// (553 for STOR/STOU) without asking storage (see [`Permissions`]).
    pub permissions: Permissions,
}

impl Principal {
    /// A principal with every right.
    pub fn new(user: impl Into<Bytes>) -> Self {
        Self::with_permissions(user, Permissions::ALL)
    }

    /// A principal that may only list and download.
    pub fn read_only(user: impl Into<Bytes>) -> Self {
        Self::with_permissions(user, Permissions::READ_ONLY)
    }

    /// A principal with these rights.
    pub fn with_permissions(user: impl Into<Bytes>, permissions: Permissions) -> Self {
        Self {
            user: user.into(),
            permissions,
        }
    }

    /// True when the user has no right that changes storage.
    pub fn read_only_access(&self) -> bool {
        !self.permissions.intersects(Permissions::ANY_WRITE)
    }
}

/// Why authentication did not log the user in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// Wrong user or password (or account). Counts as a failed attempt: a delayed 530, and 421
    /// after `max_login_attempts`.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The credentials are right but an account is needed: 332, then ACCT.
    #[error("account required")]
    AccountRequired,
    /// The back end could not decide (a database is down): 421, and the connection closes.
    #[error("authentication unavailable")]
    Unavailable,
    /// The credentials are right but the user already has as many sessions as allowed: 530
    /// at once, not counted as a failed attempt; the client may log in again later.
    #[error("too many sessions for this user")]
    TooManySessions,
}

/// Why the session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent QUIT.
    Quit,
    /// The client closed the control connection.
    Eof,
    /// No command for `idle_timeout`.
    IdleTimeout,
    /// No login within `login_timeout`.
    LoginTimeout,
    /// Too many failed logins.
    TooManyFailedLogins,
    /// The client sent a line longer than the flood limit or too many lines at once.
    InputLimit,
    /// [`shutdown`](super::ServerSession::shutdown) was called.
    Shutdown,
    /// The server was full ([`ServerSession::new_refused`](super::ServerSession::new_refused)).
    Refused,
    /// The authentication back end was unavailable.
    AuthUnavailable,
}

/// Audit and metrics events. They need no action.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// The session started (greeting queued).
    Connected {
        /// The client's address.
        peer: SocketAddr,
    },
    /// A command line was received. Only the verb: arguments (passwords!) are never logged.
    Command {
        /// The verb, as sent (upper-cased when known).
        verb: Bytes,
    },
    /// A command was answered with a 4xx or 5xx reply.
    Rejected {
        /// The verb, empty for a line that was no command.
        verb: Bytes,
        /// The reply code.
        code: ReplyCode,
    },
    /// A user logged in.
    LoggedIn {
        /// The user name.
        user: Bytes,
        /// Logged in through the anonymous policy.
        anonymous: bool,
        /// Every write is refused (no right of [`Permissions::ANY_WRITE`]).
        read_only: bool,
        /// What the user may do.
        permissions: Permissions,
    },
    /// A login attempt failed.
    LoginFailed {
        /// The user name tried.
        user: Bytes,
        /// Failed attempts so far in this session.
        attempts: u32,
    },
    /// The control connection is now protected by TLS.
    TlsEstablished,
    /// A transfer started (150/125 sent).
    TransferStarted {
        /// RETR, STOR, LIST, ...
        kind: TransferKind,
        /// The file or directory.
        path: VirtualPath,
    },
    /// A transfer ended with 226.
    TransferCompleted {
        /// RETR, STOR, LIST, ...
        kind: TransferKind,
        /// The file or directory.
        path: VirtualPath,
        /// Bytes moved.
        bytes: u64,
    },
    /// A transfer ended with an error reply.
    TransferFailed {
        /// RETR, STOR, LIST, ...
        kind: TransferKind,
        /// The file or directory.
        path: VirtualPath,
        /// The reply sent.
        code: ReplyCode,
    },
    /// The session ended while a transfer ran (the client went away, a limit or shutdown
    /// closed it): no reply could be sent, the data connection is aborted and an upload is
    /// discarded. `Closed` follows.
    TransferInterrupted {
        /// RETR, STOR, LIST, ...
        kind: TransferKind,
        /// The file or directory.
        path: VirtualPath,
        /// Bytes moved before the end, as far as reported.
        bytes: u64,
        /// Why the session ended.
        reason: CloseReason,
    },
    /// The session ended (`Close` follows).
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::MlsxEntry;

    fn mlsd_line(meta: &Metadata, selected: FactSet) -> String {
        let mut out = Vec::new();
        MlsxEntry::new(meta.mlsx_facts(selected), Bytes::from_static(b"x"))
            .write_mlsd_line(&mut out)
            .expect("the facts of any metadata can be written");
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn mlsx_facts_follow_the_selection_and_the_kind() {
        let mut meta = Metadata::new(FileKind::File);
        meta.size = Some(42);
        meta.modified = Timestamp::new(2024, 2, 29, 23, 59, 58).ok();
        meta.perm = Some("adfrw".into());
        meta.unique = Some("801U3".into());
        meta.unix_mode = Some(0o100644);
        assert_eq!(
            mlsd_line(&meta, FactSet::ALL),
            "Type=file;Size=42;Modify=20240229235958;Unique=801U3;Perm=adfrw;UNIX.mode=0644; x\r\n"
        );
        assert_eq!(
            mlsd_line(&meta, FactSet::SIZE.union(FactSet::TYPE)),
            "Type=file;Size=42; x\r\n"
        );
        assert_eq!(mlsd_line(&meta, FactSet::NONE), " x\r\n");

        meta.kind = FileKind::Dir;
        assert_eq!(
            mlsd_line(&meta, FactSet::TYPE.union(FactSet::SIZE)),
            "Type=dir; x\r\n"
        );
        meta.kind = FileKind::Symlink;
        assert_eq!(mlsd_line(&meta, FactSet::TYPE), "Type=OS.unix=slink; x\r\n");
        meta.kind = FileKind::Other;
        assert_eq!(mlsd_line(&meta, FactSet::TYPE), " x\r\n");
    }

    #[test]
    fn mlsx_facts_drop_what_a_fact_cannot_carry() {
        let mut meta = Metadata::new(FileKind::File);
        // Unknown perm letters go; known ones stay, in either case.
        meta.perm = Some("r;W x".into());
        // A unique id keeps only token bytes; nothing left means no fact.
        meta.unique = Some("a b;c=d\r\n".into());
        let selected = FactSet::PERM.union(FactSet::UNIQUE);
        assert_eq!(mlsd_line(&meta, selected), "Unique=abcd;Perm=rw; x\r\n");
        meta.unique = Some("; =".into());
        meta.perm = Some(String::new());
        assert_eq!(mlsd_line(&meta, selected), "Perm=; x\r\n");
    }
}
