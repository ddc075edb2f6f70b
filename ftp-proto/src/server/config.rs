//! Server configuration: policies and limits shared by every session (`Arc<ServerConfig>`),
//! and what the driver knows about one control connection ([`ServerControlInfo`]).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;

use crate::line::LineConfig;

/// Who may log in without a password, and with which rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AnonymousPolicy {
    /// No anonymous login: `anonymous` and `ftp` are ordinary user names checked by the
    /// authentication back end. The default.
    #[default]
    Disabled,
    /// `USER anonymous` or `USER ftp` with any password logs in, read-only.
    ReadOnly,
    /// `USER anonymous` or `USER ftp` with any password logs in and may write.
    ReadWrite,
}

/// TLS (RFC 4217) policies. TLS itself runs in the driver; these say what the session allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TlsPolicy {
    /// The driver can run TLS: AUTH TLS is accepted and FEAT lists `AUTH TLS`, `PBSZ`, `PROT`.
    /// Otherwise AUTH gets 502, PBSZ and PROT get 503, and CCC gets 533.
    pub enabled: bool,
    /// USER (other than anonymous) before AUTH TLS gets 534.
    pub require_for_login: bool,
    /// Transfers with PROT C get 521 (RFC 4217 §10.2).
    pub require_for_data: bool,
    /// The driver can return a control connection to plaintext: CCC is allowed (200, then
    /// [`StopTls`](super::ServerOutput::StopTls)), and REIN under explicit TLS resets the
    /// session and ends TLS the same way (RFC 4217). Otherwise CCC gets 534 and REIN on a
    /// protected control connection 502.
    pub allow_ccc: bool,
}

/// The MLST/MLSD facts (RFC 3659 §7.5) as a small set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FactSet(u8);

impl FactSet {
    /// `Type`.
    pub const TYPE: Self = Self(1);
    /// `Size`.
    pub const SIZE: Self = Self(1 << 1);
    /// `Modify`.
    pub const MODIFY: Self = Self(1 << 2);
    /// `Create`.
    pub const CREATE: Self = Self(1 << 3);
    /// `Perm`.
    pub const PERM: Self = Self(1 << 4);
    /// `Unique`.
    pub const UNIQUE: Self = Self(1 << 5);
    /// `UNIX.mode` (octal permission bits; de facto, not IANA-registered).
    pub const UNIX_MODE: Self = Self(1 << 6);
    /// No fact.
    pub const NONE: Self = Self(0);
    /// Every fact this library knows.
    pub const ALL: Self = Self(0x7f);

    /// Each fact with its canonical spelling, in the order facts are written.
    pub const NAMES: [(Self, &'static str); 7] = [
        (Self::TYPE, "Type"),
        (Self::SIZE, "Size"),
        (Self::MODIFY, "Modify"),
        (Self::CREATE, "Create"),
        (Self::PERM, "Perm"),
        (Self::UNIQUE, "Unique"),
        (Self::UNIX_MODE, "UNIX.mode"),
    ];

    /// The union.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The intersection.
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// True when every fact of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The fact named `name` (case-insensitive), if this library knows it.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, known)| known.as_bytes().eq_ignore_ascii_case(name))
            .map(|(fact, _)| *fact)
    }

    /// The facts in `self`, in canonical order, with their names.
    pub fn iter(self) -> impl Iterator<Item = (Self, &'static str)> {
        Self::NAMES
            .into_iter()
            .filter(move |(fact, _)| self.contains(*fact))
    }
}

impl fmt::Debug for FactSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|(_, name)| name))
            .finish()
    }
}

/// A HASH algorithm (draft-bryan-ftpext-hash), named as in the IANA "Hash Function Textual
/// Names" registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// `SHA-1` (mandatory to support, per the draft).
    Sha1,
    /// `SHA-256`.
    Sha256,
    /// `SHA-512`.
    Sha512,
    /// `MD5` (weaker than SHA-1: never make it the default).
    Md5,
    /// `CRC32`.
    Crc32,
}

impl HashAlgorithm {
    /// The registry name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA-1",
            Self::Sha256 => "SHA-256",
            Self::Sha512 => "SHA-512",
            Self::Md5 => "MD5",
            Self::Crc32 => "CRC32",
        }
    }

    /// The algorithm with this name (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        [
            Self::Sha1,
            Self::Sha256,
            Self::Sha512,
            Self::Md5,
            Self::Crc32,
        ]
        .into_iter()
        .find(|a| a.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Policies and limits for every session of a server. Share one with `Arc`.
///
/// Every field has a safe default ([`ServerConfig::default`]); the fields are public so a
/// server builds its configuration with struct-update syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The 220 greeting's text; a `\n` splits it into a multi-line reply.
    pub banner: String,
    /// The 421 text for [`ServerSession::new_refused`](super::ServerSession::new_refused).
    pub full_message: String,
    /// The SYST reply's text.
    pub system_type: String,
    /// Control-line limits; a line over `max_line_len` gets 500, a flood or too much buffered
    /// input gets 421 and Close.
    pub line: LineConfig,
    /// Anonymous login.
    pub anonymous: AnonymousPolicy,
    /// Failed logins allowed; the last one gets 421 and Close (RFC 2577 §5). At least 1.
    pub max_login_attempts: u32,
    /// How long a failed login waits before its 530 (RFC 2577 §5 suggests 5 s). Zero answers
    /// at once.
    pub failed_login_delay: Duration,
    /// No command for this long (while no transfer runs) gets 421 and Close. `None`: never.
    pub idle_timeout: Option<Duration>,
    /// No successful login this long after the 220 greeting (or after REIN) gets 421 and
    /// Close, however busy the client keeps the session with other commands. `None`: never.
    pub login_timeout: Option<Duration>,
    /// How long the session waits for a passive listener to be bound, for the client to
    /// connect to it or for an active connect, and for a data close: then 425 (426 when
    /// closing). An unused passive listener is also dropped after this long.
    pub data_timeout: Duration,
    /// How long a storage or authentication request (other than a transfer) may take: then
    /// 451 (storage) or 421 and Close (authentication). `None`: wait for ever.
    pub request_timeout: Option<Duration>,
    /// How long a running transfer's data connection may move no byte (a client that stops
    /// reading a download or sending an upload): then 426, the data connection is aborted and
    /// an upload is discarded. `None`: wait for ever.
    pub stall_timeout: Option<Duration>,
    /// How long [`shutdown`](super::ServerSession::shutdown) lets a running transfer finish.
    pub shutdown_grace: Duration,
    /// PORT, EPRT and LPRT are accepted; otherwise they get 502.
    pub active_mode: bool,
    /// PORT/EPRT/LPRT may name a host other than the control connection's peer (FXP).
    /// Otherwise they get 500 (PORT) or 501 (EPRT, LPRT).
    pub allow_foreign_active: bool,
    /// PORT/EPRT/LPRT may name a port below 1024. Otherwise they get 504 (RFC 2577 §3).
    pub allow_privileged_ports: bool,
    /// Passive listeners accept connections from any address (FXP); otherwise only from the
    /// control connection's peer.
    pub allow_foreign_passive: bool,
    /// The address written into 227/228 replies (behind NAT); otherwise the control
    /// connection's local address.
    pub passive_address: Option<IpAddr>,
    /// TLS policies.
    pub tls: TlsPolicy,
    /// MODE B is accepted (the driver then frames data with the `transfer` block codec).
    pub block_mode: bool,
    /// MODE C is accepted.
    pub compressed_mode: bool,
    /// STRU R is accepted (files are sent as records; RFC 1123 allows accepting it and storing
    /// the bytes literally).
    pub record_structure: bool,
    /// The MLST/MLSD facts offered (the back end leaves out those it does not know).
    pub mlst_facts: FactSet,
    /// The facts returned until OPTS MLST changes the selection.
    pub mlst_default_facts: FactSet,
    /// HASH algorithms the storage back end computes; the first is the default. Empty: HASH
    /// and RANG get 502.
    pub hash_algorithms: Vec<HashAlgorithm>,
    /// MFMT is accepted (the back end can set modification times).
    pub mfmt: bool,
    /// SITE CHMOD is accepted.
    pub site_chmod: bool,
    /// Application SITE commands (upper-case names) handed to storage as
    /// [`StorageRequest::Site`](super::StorageRequest::Site).
    pub site_commands: Vec<String>,
    /// Virtual host names HOST accepts (case-insensitive); `None` accepts any name.
    pub hosts: Option<Vec<String>>,
    /// SIZE under TYPE A (RFC 3659 §4) is the number of octets a TYPE A download sends, every
    /// line end as CRLF, which storage can only count by reading the file
    /// ([`StorageRequest::TransferSize`](super::StorageRequest::TransferSize)): files up to
    /// this many stored bytes are counted, larger ones answer 550 (their TYPE I size is a
    /// SIZE away). 0: SIZE is answered in TYPE I only. Default 16 MiB. The metadata and the
    /// count are two storage requests, each under `request_timeout`.
    pub ascii_size_limit: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            banner: "Service ready".into(),
            full_message: "Too many connections, try again later.".into(),
            system_type: "UNIX Type: L8".into(),
            line: LineConfig::default(),
            anonymous: AnonymousPolicy::Disabled,
            max_login_attempts: 3,
            failed_login_delay: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(300)),
            login_timeout: Some(Duration::from_secs(120)),
            data_timeout: Duration::from_secs(60),
            request_timeout: Some(Duration::from_secs(120)),
            stall_timeout: Some(Duration::from_secs(300)),
            shutdown_grace: Duration::from_secs(30),
            active_mode: true,
            allow_foreign_active: false,
            allow_privileged_ports: false,
            allow_foreign_passive: false,
            passive_address: None,
            tls: TlsPolicy::default(),
            block_mode: false,
            compressed_mode: false,
            record_structure: true,
            ascii_size_limit: 16 << 20,
            mlst_facts: FactSet::ALL,
            mlst_default_facts: FactSet::TYPE
                .union(FactSet::SIZE)
                .union(FactSet::MODIFY)
                .union(FactSet::PERM)
                .union(FactSet::UNIQUE),
            hash_algorithms: Vec::new(),
            mfmt: true,
            site_chmod: true,
            site_commands: Vec::new(),
            hosts: None,
        }
    }
}

impl ServerConfig {
    pub(crate) fn is_site_command(&self, name: &[u8]) -> bool {
        self.site_commands
            .iter()
            .any(|c| c.as_bytes().eq_ignore_ascii_case(name))
    }

    pub(crate) fn accepts_host(&self, name: &Bytes) -> bool {
        self.hosts.as_ref().is_none_or(|hosts| {
            hosts.iter().any(|h| {
                h.as_bytes()
                    .eq_ignore_ascii_case(name.strip_suffix(b".").unwrap_or(name))
            })
        })
    }
}

/// The control connection as the server sees it: its own end (`local`), the client's
/// (`peer`) and whether it is implicit FTPS. The client's counterpart is
/// [`ClientControlInfo`](crate::client::ClientControlInfo).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerControlInfo {
    /// The server's end: its IP goes into 227/228 replies unless `passive_address` is set.
    pub local: SocketAddr,
    /// The client's end: PORT/EPRT/LPRT and data connections must come from its IP.
    pub peer: SocketAddr,
    /// The connection is implicit FTPS (TLS from the first byte): the control connection is
    /// protected from the start, AUTH gets 503.
    pub implicit_tls: bool,
}

impl ServerControlInfo {
    /// A plaintext control connection.
    pub fn new(local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            local,
            peer,
            implicit_tls: false,
        }
    }
}
