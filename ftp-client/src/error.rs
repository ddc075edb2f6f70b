//! The one error type of every client style.

use std::io;

use ftp_proto::client::{DataFailure, OpError, ProtocolError, UsageError};
use ftp_proto::command::EncodeError;
use ftp_proto::reply::Reply;
use ftp_proto::transfer::DecodeError;

use crate::url::UrlError;

/// What went wrong. Variants that come from the server carry its reply, when it sent one
/// ([`Error::reply`]).
///
/// After [`Reply`](Self::Reply), [`UnexpectedReply`](Self::UnexpectedReply),
/// [`AccountRequired`](Self::AccountRequired), [`DataConnection`](Self::DataConnection),
/// [`Aborted`](Self::Aborted), [`Transfer`](Self::Transfer), [`TooLarge`](Self::TooLarge),
/// [`Local`](Self::Local), [`Usage`](Self::Usage), [`Encode`](Self::Encode) and (with the
/// `tls` feature) `TlsSessionsExhausted` the client stays usable; after the others the
/// control connection is gone ([`Error::is_fatal`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be read.
    #[error("invalid URL: {0}")]
    Url(#[from] UrlError),
    /// The host name did not resolve, or no address accepted the connection.
    #[error("cannot connect to {host}: {source}")]
    Connect {
        /// The host and port as given.
        host: String,
        /// Why the last attempt failed.
        #[source]
        source: io::Error,
    },
    /// The control connection (TCP, and the TLS handshake for implicit FTPS) did not come up
    /// within the connect timeout.
    #[error("timed out connecting to {host}")]
    ConnectTimeout {
        /// The host and port as given.
        host: String,
    },
    /// Reading or writing the control connection failed; the connection is closed.
    #[error("control connection: {0}")]
    Io(#[from] io::Error),
    /// The TLS configuration was refused, or a TLS handshake on the control connection
    /// failed (a certificate that does not verify, say).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("TLS: {}", tls_text(.0))]
    Tls(#[from] rustls::Error),
    /// FTPS was asked for ([`TlsMode::Explicit`](crate::TlsMode::Explicit) or
    /// [`Implicit`](crate::TlsMode::Implicit), an `ftpes://` or `ftps://` URL), but
    /// ftp-client was built without its `tls` feature. Nothing was sent: the client never
    /// falls back to plain FTP. Enable the feature (it is among the default features) to
    /// connect with FTPS.
    #[error("FTPS was asked for, but ftp-client was built without its `tls` feature")]
    TlsNotBuiltIn,
    /// The server refused a command with a 4yz or 5yz reply.
    #[error("server replied {}", reply_text(.0))]
    Reply(Reply),
    /// The server's reply does not fit the command (a 227 without an address, a SIZE without
    /// a number, a 3yz to a simple command).
    #[error("unexpected reply {}", reply_text(.0))]
    UnexpectedReply(Reply),
    /// The server asked for an account (332) and the login gave none.
    #[error("the server asks for an account: {}", reply_text(.0))]
    AccountRequired(Reply),
    /// The data connection could not be set up or broke (refused, timed out, reset, TLS, an
    /// idle connection past [`ConnectOptions::data_idle_timeout`](crate::ConnectOptions::data_idle_timeout)).
    #[error("data connection: {0}")]
    DataConnection(DataFailure),
    /// The transfer's bytes are not what its TYPE and MODE promise (a MODE B stream cut inside
    /// a block, say).
    #[error("malformed transfer data: {0}")]
    Transfer(#[from] DecodeError),
    /// The transfer was aborted (by the application, or because its stream was dropped
    /// early). `reply` is the transfer's own final reply (usually 426) when one came.
    #[error("transfer aborted")]
    Aborted {
        /// The transfer's final reply, if any.
        reply: Option<Reply>,
    },
    /// The control connection closed: the server closed it (`reply` is its 421 or refusing
    /// greeting when it sent one), or QUIT ended the session.
    #[error("connection closed{}", .reply.as_ref().map(|r| format!(": {}", reply_text(r))).unwrap_or_default())]
    ConnectionClosed {
        /// The reply that announced the close, if any.
        reply: Option<Reply>,
    },
    /// The server did not answer within the reply timeout; the connection is closed.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The server broke the protocol (a line that is not a reply, an overlong reply); the
    /// connection is closed.
    #[error("protocol error: {0}")]
    Protocol(ProtocolError),
    /// The call cannot be made in this state, or an argument cannot be sent (CR or LF in a
    /// path, a verb that has its own method).
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// A configured value cannot be written on the control connection.
    #[error("command cannot be sent: {0}")]
    Encode(EncodeError),
    /// A data connection was refused because it could not resume the control connection's
    /// TLS session: the server requires reuse, and sent no fresh TLS 1.3 session ticket to
    /// resume with (ProFTPD sends none after uploads; this client presents each ticket once,
    /// as RFC 8446 asks and rustls enforces). The client moves such a session to TLS 1.2 by
    /// itself (see [`TlsConfig`](crate::TlsConfig)); this error means that failed (the
    /// server offers no TLS 1.2, refuses a second connection, or the configuration is a
    /// caller's own rustls one). `reply` is the server's refusal. The session goes on.
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[error("the server requires TLS session reuse and gave no new TLS 1.3 session ticket to resume with; connect again with TLS 1.2 (TlsConfig::tls12_only){}", .reply.as_ref().map(|r| format!(" (server replied {})", reply_text(r))).unwrap_or_default())]
    TlsSessionsExhausted {
        /// The server's refusal, if it sent one.
        reply: Option<Reply>,
    },
    /// A transfer read into memory passed its limit: the `limit` given to
    /// [`retrieve_to_vec`](crate::blocking::Client::retrieve_to_vec), or
    /// [`LISTING_LIMIT`](crate::LISTING_LIMIT) for a listing (`list`, `nlst`, `mlsd`,
    /// `listing`). The transfer was aborted, and the session goes on.
    #[error("the transfer passed its limit of {limit} bytes and was aborted")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A local file could not be written (by [`retrieve_to`](crate::blocking::Client::retrieve_to)
    /// and friends); the session goes on.
    #[error("local file {}: {source}", .path.display())]
    Local {
        /// The file.
        path: std::path::PathBuf,
        /// What the file system said.
        #[source]
        source: io::Error,
    },
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The server's reply behind this error, if there is one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Self::Reply(reply) | Self::UnexpectedReply(reply) | Self::AccountRequired(reply) => {
                Some(reply)
            }
            Self::Aborted { reply } | Self::ConnectionClosed { reply } => reply.as_ref(),
            #[cfg(feature = "tls")]
            Self::TlsSessionsExhausted { reply } => reply.as_ref(),
            Self::Protocol(ProtocolError::UnexpectedGreeting(reply)) => Some(reply),
            _ => None,
        }
    }

    /// True when the control connection is gone: every later call fails too.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Url(_)
            | Self::Connect { .. }
            | Self::ConnectTimeout { .. }
            | Self::Io(_)
            | Self::TlsNotBuiltIn
            | Self::ConnectionClosed { .. }
            | Self::Timeout
            | Self::Protocol(_) => true,
            #[cfg(feature = "tls")]
            Self::Tls(_) => true,
            _ => false,
        }
    }

    /// True for a timeout of any kind: connecting, a reply, a data connection.
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::ConnectTimeout { .. } | Self::Timeout => true,
            Self::DataConnection(failure) => *failure == DataFailure::TimedOut,
            Self::Io(e) => e.kind() == io::ErrorKind::TimedOut,
            _ => false,
        }
    }

    /// True when the server refused with a permanent (5yz) reply: asking again will not help
    /// (no such file, permission denied, ...).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Reply(r) if r.code().is_permanent_failure())
    }
}

impl From<OpError> for Error {
    fn from(error: OpError) -> Self {
        match error {
            OpError::Reply(reply) => Self::Reply(reply),
            OpError::UnexpectedReply(reply) => Self::UnexpectedReply(reply),
            OpError::AccountRequired(reply) => Self::AccountRequired(reply),
            OpError::DataConnection(failure) => Self::DataConnection(failure),
            OpError::Aborted { reply } => Self::Aborted { reply },
            OpError::ConnectionClosed { reply } => Self::ConnectionClosed { reply },
            OpError::Encode(error) => Self::Encode(error),
            OpError::Timeout => Self::Timeout,
            OpError::Protocol(error) => Self::Protocol(error),
            // `OpError` is non-exhaustive: a future variant still reaches the caller.
            other => Self::Io(io::Error::other(other)),
        }
    }
}

impl From<Error> for io::Error {
    /// Wraps the error (get it back with [`io::Error::get_ref`] and `downcast_ref`), with a
    /// kind that matches it: `TimedOut`, `ConnectionAborted`, `ConnectionReset`, `InvalidData`,
    /// `NotFound` / `PermissionDenied` for 550 / 530 replies, `Other` otherwise.
    fn from(error: Error) -> Self {
        if let Error::Io(e) = error {
            return e;
        }
        let kind = match &error {
            _ if error.is_timeout() => io::ErrorKind::TimedOut,
            Error::Aborted { .. } => io::ErrorKind::ConnectionAborted,
            Error::ConnectionClosed { .. } | Error::DataConnection(DataFailure::Reset) => {
                io::ErrorKind::ConnectionReset
            }
            Error::Protocol(_) | Error::Transfer(_) | Error::UnexpectedReply(_) => {
                io::ErrorKind::InvalidData
            }
            Error::Reply(reply) if reply.code().get() == 550 => io::ErrorKind::NotFound,
            Error::Reply(reply) if matches!(reply.code().get(), 530 | 532) => {
                io::ErrorKind::PermissionDenied
            }
            Error::Usage(_) | Error::Url(_) => io::ErrorKind::InvalidInput,
            Error::TlsNotBuiltIn => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::Other,
        };
        Self::new(kind, error)
    }
}

/// A TLS error as a person can act on it: what a refused certificate means and how to get
/// past it, rustls' own words in parentheses.
#[cfg(feature = "tls")]
fn tls_text(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = error else {
        return error.to_string();
    };
    let meaning = match cert {
        C::UnknownIssuer | C::BadSignature => UNTRUSTED,
        C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => UNTRUSTED,
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "the server's certificate was issued for another name (connect by the name it \
             names, or set TlsConfig::server_name)"
        }
        C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired",
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (check the clocks)"
        }
        _ => "the server's certificate was refused",
    };
    format!("{meaning} ({error})")
}

/// What a certificate that no trusted authority signed means.
#[cfg(feature = "tls")]
const UNTRUSTED: &str = "the server's certificate is self-signed or issued by an authority \
    this client does not trust: add that authority's certificate \
    (TlsConfig::add_root_pem), or for a test server skip verification \
    (TlsConfig::danger_accept_invalid_certs)";

#[cfg(feature = "tls")]
impl Error {
    /// True when the server's TLS certificate did not verify (self-signed, an unknown
    /// authority, another name, expired).
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn is_certificate_refused(&self) -> bool {
        matches!(self, Self::Tls(rustls::Error::InvalidCertificate(_)))
    }
}

/// `550 No such file` (every line joined by a space, non-UTF-8 bytes replaced).
pub(crate) fn reply_text(reply: &Reply) -> String {
    reply.to_string()
}

/// The error for a failed data connection: an I/O error of the application's stream becomes
/// the failure reported to the session.
pub(crate) fn data_failure(error: &io::Error) -> DataFailure {
    use io::ErrorKind::*;
    match error.kind() {
        ConnectionRefused => DataFailure::Refused,
        TimedOut | WouldBlock => DataFailure::TimedOut,
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => DataFailure::Reset,
        InvalidData => DataFailure::Tls,
        _ => DataFailure::Other,
    }
}
