//! Vocabulary both session roles share: identifiers, secrets, the TYPE/MODE/STRU a transfer runs
//! under, what kind of transfer it is, and why a data connection failed.

use std::fmt;

use crate::transfer::{DataType, FileStructure, TransferMode};

/// Declares an opaque `u64` identifier type.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Opaque; a session never reuses one. [`from_raw`](Self::from_raw) exists for drivers that
        /// keep ids in their own tables and for tests that forge stale ids: a result or event for
        /// an id the session is not waiting for is ignored.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);

        impl $name {
            /// The id with this raw value.
            pub const fn from_raw(raw: u64) -> Self {
                Self(raw)
            }

            /// The raw value.
            pub const fn raw(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    };
}

pub(crate) use id_type;

id_type! {
    /// One data connection (a passive listener and what it accepts, or one active connect).
    DataConnId
}

/// A value that must not appear in logs: `Debug` prints `Secret(..)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The wrapped value, for the code that must check it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why a data connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DataFailure {
    /// The peer refused the connection.
    #[error("connection refused")]
    Refused,
    /// Connecting or accepting took too long, or the connection stalled.
    #[error("timed out")]
    TimedOut,
    /// A connection came from an address other than the expected peer and was refused.
    #[error("connection from an unexpected peer")]
    PeerMismatch,
    /// The listener could not be bound (no free port in the range).
    #[error("could not bind a listener")]
    Bind,
    /// The TLS handshake or TLS record layer failed.
    #[error("TLS failure")]
    Tls,
    /// The connection was reset.
    #[error("connection reset")]
    Reset,
    /// Anything else.
    #[error("data connection failed")]
    Other,
}

/// The TYPE, MODE and STRU a transfer runs under: what the driver's copy loop applies with the
/// `transfer` transcoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransferParams {
    /// TYPE.
    pub data_type: DataType,
    /// MODE.
    pub mode: TransferMode,
    /// STRU.
    pub structure: FileStructure,
}

/// What kind of transfer a transfer event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransferKind {
    /// RETR.
    Retrieve,
    /// STOR.
    Store,
    /// APPE.
    Append,
    /// STOU.
    StoreUnique,
    /// LIST.
    List,
    /// NLST.
    Nlst,
    /// MLSD.
    Mlsd,
}

impl TransferKind {
    /// True for uploads.
    pub fn is_upload(self) -> bool {
        matches!(self, Self::Store | Self::Append | Self::StoreUnique)
    }

    /// The command's verb.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Retrieve => "RETR",
            Self::Store => "STOR",
            Self::Append => "APPE",
            Self::StoreUnique => "STOU",
            Self::List => "LIST",
            Self::Nlst => "NLST",
            Self::Mlsd => "MLSD",
        }
    }
}
