//! The vocabulary the client session, its driver and the application exchange: identifiers,
//! outputs, data-connection intents and events, application events, operation results and the
//! three error types (per operation, for the whole session, for the caller).
//!
//! Everything here is plain data. The session never holds a socket, a file or a clock; it names
//! the work and the driver does it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use crate::command::EncodeError;
use crate::feat::Features;
use crate::reply::{Reply, ReplyError};
use crate::timestamp::Timestamp;

use crate::session::id_type;
pub use crate::session::{DataConnId, DataFailure, Secret, TransferKind, TransferParams};

id_type! {
    /// One operation the application asked for (login, retrieve, list, ...). Its result arrives
    /// exactly once, as [`ClientEvent::Completed`].
    OpId
}

/// Bytes to write, in order, on the control connection: one command, already CRLF-framed and
/// Telnet-escaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The bytes.
    pub bytes: Bytes,
    /// Send the first bytes (Telnet IP and Synch before ABOR) as TCP urgent data. A hint only:
    /// meaningless under TLS, and no peer may depend on it (RFC 4217 §7).
    pub urgent: bool,
}

/// What the driver must do next, in order. Drain with
/// [`ClientSession::poll_output`](super::ClientSession::poll_output) after every call.
#[derive(Clone, Debug, PartialEq)]
#[must_use = "every output must be executed by the driver"]
#[non_exhaustive]
pub enum ClientOutput {
    /// Write these bytes on the control connection.
    Transmit(Transmit),
    /// Work on a data connection.
    Data(ClientDataIntent),
    /// Flush every `Transmit` queued before this, then run a TLS handshake (as TLS client) on
    /// the control connection; report
    /// [`handle_tls_established`](super::ClientSession::handle_tls_established) or, on failure,
    /// close and report [`handle_eof`](super::ClientSession::handle_eof).
    StartTls,
    /// Flush every `Transmit` queued before this, then shut TLS down on the control connection
    /// (close_notify both ways) and go on in plaintext (CCC).
    StopTls,
    /// Flush every `Transmit` queued before this, then close the control connection. Nothing
    /// else follows.
    Close,
    /// Something for the application.
    Event(ClientEvent),
}

/// Which way a transfer's bytes move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Server to client: RETR, LIST, NLST, MLSD.
    Download,
    /// Client to server: STOR, APPE, STOU.
    Upload,
}

/// Work the client's driver must do on a data connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "every intent must be executed by the driver"]
#[non_exhaustive]
pub enum ClientDataIntent {
    /// Passive mode: connect to `addr` and report [`ClientDataEvent::Connected`] once TCP is
    /// up. With `tls`, the connection will carry TLS, but its handshake waits for
    /// [`Handshake`](Self::Handshake): report `Connected` without it (finishing a handshake
    /// before the transfer command goes out deadlocks with vsftpd).
    Connect {
        /// The connection.
        id: DataConnId,
        /// Where to connect.
        addr: SocketAddr,
        /// PROT P is in force.
        tls: bool,
    },
    /// Active mode: bind a listener on `ip` (port of the driver's choosing) and report
    /// [`ClientDataEvent::Listening`]. Accept one connection, and only from `expect_peer`: a
    /// connection from elsewhere is closed at once and the listener keeps waiting (RFC 2577
    /// §4). With `tls`, the accepted connection will carry TLS (still as TLS client, RFC 4217
    /// §7), its handshake waiting for [`Handshake`](Self::Handshake) as with `Connect`.
    Listen {
        /// The connection.
        id: DataConnId,
        /// The local address to bind.
        ip: IpAddr,
        /// The only address allowed to connect: the control connection's peer.
        expect_peer: IpAddr,
        /// PROT P is in force.
        tls: bool,
    },
    /// PROT P: start the TLS handshake (as TLS client, resuming the control connection's TLS
    /// session) on connection `id` now, and let it go on while the control connection is
    /// served; do not wait for it to finish here. It must be finished before bytes move
    /// ([`Start`](Self::Start) follows it, at once or later); on failure report
    /// [`ClientDataEvent::Failed`] with [`DataFailure::Tls`] (or the I/O failure).
    ///
    /// The session decides when, once per connection with `tls`, after `Connected`: when the
    /// server accepts the transfer command (its 1yz, or its final reply when it skipped the
    /// 1yz; vsftpd starts its side of the handshake only then), or when
    /// [`ClientConfig::data_tls_grace`](super::ClientConfig::data_tls_grace) has passed
    /// without that reply (ftp-srv answers only after the handshake). A transfer refused
    /// before then gets no handshake at all, so it uses up no TLS 1.3 session ticket.
    Handshake {
        /// The connection.
        id: DataConnId,
    },
    /// Begin moving bytes between the connection and the application's reader or writer for
    /// operation `op`, applying the `transfer` transcoders `params` names (TYPE A, MODE B/C,
    /// STRU R; plain copies otherwise); with `tls`, the handshake that
    /// [`Handshake`](Self::Handshake) started is finished first. When the application's source
    /// is exhausted and every byte written (upload), or the peer's end of stream has been read
    /// and every byte handed over (download), report [`ClientDataEvent::Finished`]; on any
    /// failure report [`ClientDataEvent::Failed`].
    Start {
        /// The connection.
        id: DataConnId,
        /// The operation whose reader or writer to use.
        op: OpId,
        /// Which way.
        direction: Direction,
        /// The representation on the wire.
        params: TransferParams,
    },
    /// Close gracefully (TLS close_notify, then FIN) and report [`ClientDataEvent::Closed`].
    Close {
        /// The connection.
        id: DataConnId,
    },
    /// Tear down at once (listener and connection), discarding unread bytes; no event is
    /// expected back.
    Abort {
        /// The connection.
        id: DataConnId,
    },
}

/// What the client's driver observed on a data connection.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientDataEvent {
    /// The listener asked for by [`ClientDataIntent::Listen`] is bound here (its port goes into
    /// EPRT or PORT).
    Listening {
        /// The bound address.
        local: SocketAddr,
    },
    /// The connection is up (TCP; with `tls`, the handshake comes after
    /// [`ClientDataIntent::Handshake`]).
    Connected {
        /// The other end.
        peer: SocketAddr,
    },
    /// The transfer [`ClientDataIntent::Start`] began reached a clean end: `bytes` moved to or
    /// from the application (after transcoding).
    Finished {
        /// Bytes handed to or taken from the application.
        bytes: u64,
    },
    /// The connection is closed: the answer to [`ClientDataIntent::Close`].
    Closed,
    /// The listener or connection failed; it is gone.
    Failed(DataFailure),
}

/// Something the application should know. Events need no action from the driver.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server said `220`: commands go out from now on.
    Greeted {
        /// The greeting (possibly multi-line).
        reply: Reply,
    },
    /// The server said `120 Service ready in n minutes`: the session keeps waiting for the 220
    /// (and the greeting deadline moves by those minutes).
    Delayed {
        /// The 120 reply.
        reply: Reply,
    },
    /// A transfer's data connection is up and the server said 125/150: bytes move now (the
    /// driver got [`ClientDataIntent::Start`] just before this event).
    TransferReady {
        /// The operation.
        op: OpId,
        /// Its data connection.
        data: DataConnId,
        /// Which way.
        direction: Direction,
        /// The size announced in the 1yz text (`(1234 bytes)`), if any.
        size_hint: Option<u64>,
    },
    /// A `110 MARK ssss = rrrr` restart marker during a MODE B/C transfer (RFC 1123
    /// §4.1.3.4): keep it to resume with `REST`.
    RestartMark {
        /// The operation.
        op: OpId,
        /// The sender's marker.
        sender: Bytes,
        /// The receiver's position.
        receiver: Bytes,
    },
    /// An operation ended, successfully or not. Sent exactly once per [`OpId`].
    Completed {
        /// The operation.
        op: OpId,
        /// Its result.
        result: Result<OpOutput, OpError>,
    },
    /// A reply arrived while no command was waiting for one; it was ignored.
    UnexpectedReply {
        /// The reply.
        reply: Reply,
    },
    /// The session ended; `Close` follows. Every operation still pending was completed with
    /// an error just before this event.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// What a successful operation produced.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OpOutput {
    /// The command was done (login, cwd, cdup, rmdir, delete, rename, noop, set_modified,
    /// auth_tls, ccc): the final reply.
    Done(Reply),
    /// A pathname from a 257 reply (pwd, mkdir), doubled quotes undone. For mkdir, the name
    /// the command sent when the reply carries none.
    Path(Bytes),
    /// SIZE: the size in the transfer representation (the session sends `TYPE I` first).
    Size(u64),
    /// MDTM: the modification time.
    Modified(Timestamp),
    /// MLST: the fact line of the entry (without its leading space), for the application's
    /// MLSx parser.
    Entry {
        /// `fact=value;...; pathname`.
        line: Bytes,
        /// The whole 250 reply.
        reply: Reply,
    },
    /// FEAT: the features (also kept by the session, see
    /// [`features`](super::ClientSession::features)).
    Features(Features),
    /// STAT and raw commands: the final reply.
    Reply(Reply),
    /// A transfer finished: the final reply and the end of the data connection both arrived.
    Transfer(TransferOutcome),
    /// QUIT: the session is over; the 221 if the server sent one before closing.
    Quit(Option<Reply>),
}

/// The result of a completed transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferOutcome {
    /// RETR, STOR, APPE, STOU, LIST, NLST or MLSD: for `list`, which listing format the bytes
    /// are in.
    pub kind: TransferKind,
    /// Bytes the driver reported in [`ClientDataEvent::Finished`] (0 when the connection ended
    /// without it).
    pub bytes: u64,
    /// The final 2yz reply.
    pub reply: Reply,
    /// STOU: the name the server chose (`FILE: name` in the 1yz, 226 or 250 reply).
    pub stored_as: Option<Bytes>,
}

/// Why an operation failed. The session stays usable unless the error is one that closed it
/// ([`ConnectionClosed`](Self::ConnectionClosed), [`Timeout`](Self::Timeout),
/// [`Protocol`](Self::Protocol)).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The server answered a step of the operation with 4yz or 5yz.
    #[error("server replied {}", .0.code())]
    Reply(Reply),
    /// The server's reply does not fit the command (a 3yz to a simple command, a 227 without
    /// an address, a 257 without a quoted name, a SIZE without a number).
    #[error("unexpected reply {} to the command", .0.code())]
    UnexpectedReply(Reply),
    /// The server asked for an account (332) and none was given.
    #[error("the server asks for an account")]
    AccountRequired(Reply),
    /// The data connection failed (refused, timed out, reset, TLS), or did not come up in
    /// time.
    #[error("data connection: {0}")]
    DataConnection(DataFailure),
    /// [`abort`](super::ClientSession::abort) was called. `reply` is the transfer's own final
    /// reply (usually 426) when one arrived.
    #[error("aborted")]
    Aborted {
        /// The transfer's final reply, if any.
        reply: Option<Reply>,
    },
    /// The control connection closed before the operation finished: the server closed it
    /// (`reply` is its 421 when it sent one), or QUIT ended the session.
    #[error("control connection closed")]
    ConnectionClosed {
        /// The 421 (or refusing greeting) that announced the close, if any.
        reply: Option<Reply>,
    },
    /// A command of the operation could not be written (a configured value that cannot be
    /// sent). Arguments the caller gives are checked when the operation is asked for instead
    /// ([`UsageError::InvalidArgument`]).
    #[error("command cannot be sent: {0}")]
    Encode(EncodeError),
    /// No reply within the reply timeout: the session was closed.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The server broke the protocol: the session was closed.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
}

/// How the server broke the protocol. Always fatal to the session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Control bytes that are not a reply (a line without a reply code, an overlong line, more
    /// buffered input than the limits allow).
    #[error(transparent)]
    Reply(#[from] ReplyError),
    /// The greeting was neither 120, 220 nor a refusal.
    #[error("unexpected greeting {}", .0.code())]
    UnexpectedGreeting(Reply),
}

/// Why the session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// QUIT was answered (or the server closed after it).
    Quit,
    /// The server sent 421 (service closing), or refused the connection in its greeting.
    ServiceClosing(Reply),
    /// The server closed the control connection (or its TLS handshake failed).
    Eof,
    /// A reply (or the TLS handshake) did not come within the reply timeout.
    Timeout,
    /// The server broke the protocol.
    Protocol(ProtocolError),
}

impl CloseReason {
    /// The error every operation still pending gets when the session ends for this reason.
    pub fn op_error(&self) -> OpError {
        match self {
            Self::Quit | Self::Eof => OpError::ConnectionClosed { reply: None },
            Self::ServiceClosing(reply) => OpError::ConnectionClosed {
                reply: Some(reply.clone()),
            },
            Self::Timeout => OpError::Timeout,
            Self::Protocol(error) => OpError::Protocol(error.clone()),
        }
    }
}

/// The caller misused the API. Returned at once; the session is unchanged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The session is closed, or QUIT is queued.
    #[error("the session is closed or closing")]
    Closed,
    /// The operation needs a login, and none is done or queued.
    #[error("log in first")]
    NotLoggedIn,
    /// An argument cannot be written on the control connection (CR, LF or NUL in it, or
    /// empty where a value is required).
    #[error("argument cannot be sent: {0}")]
    InvalidArgument(#[from] EncodeError),
    /// A TYPE, MODE or STRU the transfer layer cannot transcode.
    #[error("transfer parameters not supported")]
    UnsupportedParams,
    /// A restart offset with STOU, whose meaning after REST is undefined (RFC 3659 §5.3).
    #[error("STOU cannot resume")]
    RestartNotAllowed,
    /// This verb has a dedicated method (AUTH, CCC, REIN, QUIT, ABOR) or needs a data
    /// connection (RETR, STOR, LIST, ...): raw commands must not bypass the session's state.
    #[error("use the dedicated method for {0:?}")]
    RawNotAllowed(Bytes),
    /// The operation is not pending (unknown, or already completed).
    #[error("no pending operation {0}")]
    UnknownOp(OpId),
    /// TLS is already active on the control connection, or AUTH TLS is queued.
    #[error("TLS is already active")]
    TlsActive,
    /// CCC needs a TLS-protected control connection.
    #[error("the control connection is not protected")]
    TlsInactive,
}

/// The login an application asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (USER).
    pub user: Bytes,
    /// The password (PASS), sent only when the server asks for it (331).
    pub password: Secret<Bytes>,
    /// The account (ACCT), sent only when the server asks for one (332).
    pub account: Option<Secret<Bytes>>,
}

impl Credentials {
    /// A user name and password.
    pub fn new(user: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        Self {
            user: user.into(),
            password: Secret::new(password.into()),
            account: None,
        }
    }

    /// Anonymous FTP: `anonymous` with `anonymous@` as the password (the e-mail address
    /// convention of RFC 1635).
    pub fn anonymous() -> Self {
        Self::new("anonymous", "anonymous@")
    }

    /// Adds the account for servers that ask for one (332).
    pub fn with_account(mut self, account: impl Into<Bytes>) -> Self {
        self.account = Some(Secret::new(account.into()));
        self
    }
}

/// Which listing command [`list`](super::ClientSession::list) sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// MLSD when FEAT listed MLST, LIST otherwise. The outcome's `kind` says which.
    #[default]
    Auto,
    /// MLSD (RFC 3659 fact lines).
    Mlsd,
    /// LIST (the server's own human-readable format).
    List,
    /// NLST (names only).
    Nlst,
}

/// How [`store`](super::ClientSession::store) writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// STOR: create or replace (from the offset, when resuming).
    #[default]
    Replace,
    /// APPE: append (with an offset, RFC 3659 §5.3 makes it STOR at that offset).
    Append,
    /// STOU: a new file under a name the server chooses; the path is sent as a name hint when
    /// it is not empty.
    Unique,
}

/// Where the 1yz reply of a transfer announces its size: `... (1234 bytes)`.
pub(super) fn size_hint(reply: &Reply) -> Option<u64> {
    let text = reply.lines().first()?;
    let at = memchr::memmem::rfind(text, b" bytes)")?;
    let open = memchr::memrchr(b'(', &text[..at])?;
    let digits = &text[open + 1..at];
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}
