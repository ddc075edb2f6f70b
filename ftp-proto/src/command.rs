//! Commands: [`Command`], parsed from a control line and encoded back to one.
//!
//! Parsing ([`Command::parse`]) takes one line as delivered by [`crate::line::LineFramer`]
//! (Telnet decoding done, no line end) and follows the command grammar of RFC 959 §5.3:
//!
//! * the verb is everything up to the first SP, case-insensitive; bytes left in front of it by
//!   Telnet processing (a lone Data Mark after an out-of-band IAC) are skipped;
//! * pathname and string arguments are the bytes after **exactly one** SP, kept verbatim
//!   (leading and trailing spaces belong to the name) and never assumed to be UTF-8; they are
//!   zero-copy slices of the line;
//! * keyword and number arguments (TYPE, MODE, STRU, PORT, EPRT, REST, PROT, ...) accept one or
//!   more separating spaces and ignore trailing ones, and are parsed into typed values;
//! * an unknown verb is [`Command::Unknown`], not an error: the server answers 500.
//!
//! Encoding ([`Command::encode`]) writes `VERB[ SP argument] CRLF` with `0xFF` doubled and refuses
//! LF and NUL inside an argument, and CR unless [`CrEncoding::EscapeAsCrNul`] is asked for: no
//! argument can smuggle a second command onto the wire.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use bytes::{BufMut, Bytes, BytesMut};

use crate::addr::{self, AddrError};
use crate::line::{escape_text, CrEncoding, ForbiddenByte};
use crate::reply::{parse_u64, split_semicolons, ReplyCode};
use crate::timestamp::{Timestamp, TimestampError};
use crate::transfer::{DataType, FileStructure, FormatControl, TransferMode};

/// An FTP command with its typed argument.
///
/// Covers every verb of RFC 959, 1123, 2228, 2389, 2428, 2640, 3659, 4217, 7151 and 1639, the
/// MFMT/MFCT/MFF, HASH and RANG drafts, and the common CLNT. The RFC 1123 `X` aliases (XCWD,
/// XCUP, XMKD, XRMD, XPWD) parse as their standard verbs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// USER: the user name.
    User(Bytes),
    /// PASS: the password.
    Pass(Bytes),
    /// ACCT: account information.
    Acct(Bytes),
    /// CWD (XCWD): change working directory.
    Cwd(Bytes),
    /// CDUP (XCUP): change to the parent directory.
    Cdup,
    /// SMNT: structure mount.
    Smnt(Bytes),
    /// REIN: reinitialise the session.
    Rein,
    /// QUIT: log out and close.
    Quit,
    /// PORT: active-mode address, IPv4.
    Port(SocketAddrV4),
    /// PASV: passive mode, IPv4.
    Pasv,
    /// TYPE: representation type.
    Type(DataType),
    /// STRU: file structure.
    Stru(FileStructure),
    /// MODE: transfer mode.
    Mode(TransferMode),
    /// RETR: download a file.
    Retr(Bytes),
    /// STOR: upload a file.
    Stor(Bytes),
    /// STOU: upload under a unique name; some servers accept a name hint.
    Stou(Option<Bytes>),
    /// APPE: append to a file.
    Appe(Bytes),
    /// ALLO: reserve storage.
    Allo {
        /// Bytes to reserve.
        size: u64,
        /// Largest record or page (`ALLO n R m`).
        max_record: Option<u64>,
    },
    /// REST: restart point for the next transfer.
    Rest(RestMarker),
    /// RNFR: rename from.
    Rnfr(Bytes),
    /// RNTO: rename to.
    Rnto(Bytes),
    /// ABOR: abort the transfer.
    Abor,
    /// DELE: delete a file.
    Dele(Bytes),
    /// RMD (XRMD): remove a directory.
    Rmd(Bytes),
    /// MKD (XMKD): make a directory.
    Mkd(Bytes),
    /// PWD (XPWD): print working directory.
    Pwd,
    /// LIST: directory listing in the server's format.
    List(Option<Bytes>),
    /// NLST: names only.
    Nlst(Option<Bytes>),
    /// SITE: site-specific command, kept whole (`CHMOD 755 a`).
    Site(Bytes),
    /// SYST: system type.
    Syst,
    /// STAT: status (of the server, a transfer, or a path).
    Stat(Option<Bytes>),
    /// HELP.
    Help(Option<Bytes>),
    /// NOOP.
    Noop,
    /// AUTH (RFC 2228, 4217): start a security exchange.
    Auth(AuthMechanism),
    /// ADAT: security data, base64.
    Adat(Bytes),
    /// PBSZ: protection buffer size (0 under TLS).
    Pbsz(u32),
    /// PROT: data-channel protection level.
    Prot(ProtLevel),
    /// CCC: clear the control channel.
    Ccc,
    /// MIC: integrity-protected command, base64.
    Mic(Bytes),
    /// CONF: confidentiality-protected command, base64.
    Conf(Bytes),
    /// ENC: privacy-protected command, base64.
    Enc(Bytes),
    /// FEAT (RFC 2389).
    Feat,
    /// OPTS (RFC 2389).
    Opts(OptsArg),
    /// EPRT (RFC 2428): active-mode address, IPv4 or IPv6. An IPv4-mapped IPv6 address
    /// (`::ffff:a.b.c.d`) is encoded as family 1, the way the peer sees it, so it parses back as
    /// the plain IPv4 address.
    Eprt(SocketAddr),
    /// EPSV (RFC 2428).
    Epsv(Option<EpsvArg>),
    /// LPRT (RFC 1639). An IPv4-mapped IPv6 address is encoded as family 4, as for EPRT.
    Lprt(SocketAddr),
    /// LPSV (RFC 1639).
    Lpsv,
    /// LANG (RFC 2640): a language tag, or none for the default.
    Lang(Option<Bytes>),
    /// HOST (RFC 7151).
    Host(HostName),
    /// SIZE (RFC 3659).
    Size(Bytes),
    /// MDTM (RFC 3659): a query; the whole argument is the pathname.
    Mdtm(Bytes),
    /// MLST (RFC 3659).
    Mlst(Option<Bytes>),
    /// MLSD (RFC 3659).
    Mlsd(Option<Bytes>),
    /// MFMT: set the modification time.
    Mfmt {
        /// The new time.
        time: Timestamp,
        /// The file.
        path: Bytes,
    },
    /// MFCT: set the creation time.
    Mfct {
        /// The new time.
        time: Timestamp,
        /// The file.
        path: Bytes,
    },
    /// MFF: set facts.
    Mff {
        /// `(name, value)` pairs in the order given.
        facts: Vec<(Bytes, Bytes)>,
        /// The file.
        path: Bytes,
    },
    /// HASH: hash a file.
    Hash(Bytes),
    /// RANG: byte range for the next transfer or HASH (inclusive; `1 0` resets).
    Rang {
        /// First byte.
        start: u64,
        /// Last byte.
        end: u64,
    },
    /// CLNT: the client's name.
    Clnt(Bytes),
    /// A verb this library does not know. The server answers 500.
    Unknown {
        /// The verb as sent.
        verb: Bytes,
        /// The argument after one SP, if any.
        arg: Option<Bytes>,
    },
}

/// A REST argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestMarker {
    /// A byte offset (`1*DIGIT`): stream-mode restart (RFC 3659 §5).
    Offset(u64),
    /// A block/compressed-mode restart marker: printable characters without SP (RFC 959),
    /// not all digits.
    Marker(Bytes),
}

/// An AUTH mechanism.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `TLS`, or its synonym `TLS-C` (RFC 4217 §17).
    Tls,
    /// `SSL`, sent by old clients; servers treat it as TLS.
    Ssl,
    /// `TLS-P`: TLS with protected data implied.
    TlsP,
    /// Any other mechanism name (e.g. `GSSAPI`).
    Other(Bytes),
}

/// A PROT level (RFC 2228).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtLevel {
    /// C: clear.
    Clear,
    /// S: safe (integrity).
    Safe,
    /// E: confidential.
    Confidential,
    /// P: private (with TLS: the data connection uses TLS).
    Private,
}

/// The argument of EPSV.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EpsvArg {
    /// `EPSV <net-prt>`: 1 IPv4, 2 IPv6.
    Protocol(u8),
    /// `EPSV ALL`: only EPSV from now on.
    All,
}

/// The argument of HOST (RFC 7151).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostName {
    /// A domain name (A-labels, digits, hyphens, dots).
    Domain(Bytes),
    /// An IPv4 literal.
    Ipv4(Ipv4Addr),
    /// An IPv6 literal, written `[...]` on the wire.
    Ipv6(Ipv6Addr),
}

/// The argument of OPTS (RFC 2389).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptsArg {
    /// `OPTS MLST fact;fact;`: the facts to return from now on (possibly none).
    Mlst(Vec<Bytes>),
    /// `OPTS UTF8 ON|OFF`, or `OPTS UTF8` alone (`None`).
    Utf8(Option<bool>),
    /// `OPTS HASH [name]`: select or query the hash algorithm.
    Hash(Option<Bytes>),
    /// Options for another command.
    Other {
        /// The command name, as sent.
        command: Bytes,
        /// Its options, if any.
        options: Option<Bytes>,
    },
}

/// Why a line is not a valid command. [`CommandError::reply_code`] is the reply a server sends.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{verb:?}: {kind}")]
pub struct CommandError {
    /// The verb, upper-cased when it is a known one; empty for an empty line.
    pub verb: Bytes,
    /// What is wrong.
    pub kind: CommandErrorKind,
}

/// What is wrong with a command line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandErrorKind {
    /// The line is empty (500).
    #[error("empty command line")]
    EmptyLine,
    /// A required argument is missing or empty (501).
    #[error("argument required")]
    MissingArgument,
    /// The command takes no argument but got one (501).
    #[error("no argument allowed")]
    UnexpectedArgument,
    /// The argument does not follow the command's grammar (501).
    #[error("invalid argument")]
    InvalidArgument,
    /// An address argument is malformed (501), or names an unsupported family (522 for EPRT,
    /// 521 for LPRT).
    #[error("invalid address: {0}")]
    Address(AddrError),
    /// A time-val argument is malformed or not a real date (501).
    #[error("invalid time: {0}")]
    Time(TimestampError),
    /// The parameter is well formed but names something FTP does not define here (504): PROT
    /// levels other than C/S/E/P, MODE Z (not implemented).
    #[error("parameter not implemented")]
    UnsupportedParameter,
}

impl CommandError {
    fn new(verb: &[u8], kind: CommandErrorKind) -> Self {
        Self {
            verb: Bytes::copy_from_slice(verb),
            kind,
        }
    }

    /// The reply a server sends for this error.
    pub fn reply_code(&self) -> ReplyCode {
        match &self.kind {
            CommandErrorKind::EmptyLine => ReplyCode::SYNTAX_ERROR,
            CommandErrorKind::UnsupportedParameter => ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
            CommandErrorKind::Address(AddrError::UnsupportedFamily(_))
                if &self.verb[..] == b"LPRT" =>
            {
                ReplyCode::LPRT_FAMILY_UNSUPPORTED
            }
            CommandErrorKind::Address(AddrError::UnsupportedFamily(_)) => {
                ReplyCode::NETWORK_PROTOCOL_UNSUPPORTED
            }
            _ => ReplyCode::SYNTAX_ERROR_ARGUMENTS,
        }
    }
}

/// Why a command cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An argument holds a byte that would end the line or is never allowed.
    #[error(transparent)]
    Forbidden(#[from] ForbiddenByte),
    /// A required argument is empty.
    #[error("empty argument")]
    EmptyArgument,
    /// An argument would not parse back as the same value: a verb or keyword with a space, a
    /// fact name with `;` or `=`, a marker with a space or control byte, a domain that is not a
    /// host name.
    #[error("argument cannot be written unambiguously")]
    Unrepresentable,
}

/// What kind of argument a verb takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// No argument (a lone SP or trailing spaces are tolerated).
    None,
    /// A required pathname or string, after exactly one SP.
    Text,
    /// An optional pathname or string.
    OptionalText,
    /// A keyword or number argument: spaces around it are ignored.
    Keyword,
    /// An optional keyword argument.
    OptionalKeyword,
}

impl Command {
    /// Parses one control line (without its line end). Never panics.
    pub fn parse(line: &Bytes) -> Result<Self, CommandError> {
        let start = line
            .iter()
            .position(|b| (0x21..=0x7e).contains(b))
            .unwrap_or(line.len());
        let line = line.slice(start..);
        if line.is_empty() {
            return Err(CommandError::new(b"", CommandErrorKind::EmptyLine));
        }
        let split = memchr::memchr(b' ', &line);
        let (verb, arg) = match split {
            Some(at) => (line.slice(..at), Some(line.slice(at + 1..))),
            None => (line.clone(), None),
        };
        let mut upper = [0u8; 8];
        let Some(name) = upper.get_mut(..verb.len()) else {
            return Ok(Self::Unknown { verb, arg });
        };
        name.copy_from_slice(&verb);
        name.make_ascii_uppercase();
        let Some(shape) = shape_of(name) else {
            return Ok(Self::Unknown { verb, arg });
        };
        let arg = check_shape(name, shape, arg)?;
        build(name, arg).map_err(|kind| CommandError::new(name, kind))
    }

    /// The verb as it is written on the wire (upper case; an unknown verb as it was received).
    pub fn verb(&self) -> &[u8] {
        match self {
            Self::Unknown { verb, .. } => verb,
            known => known_verb(known).as_bytes(),
        }
    }

    /// Appends `VERB[ SP argument] CRLF`, refusing CR in arguments.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_with(out, CrEncoding::Refuse)
    }

    /// Appends `VERB[ SP argument] CRLF` with CRs in arguments handled as `cr` says. On error
    /// `out` is left as it was.
    pub fn encode_with(&self, out: &mut BytesMut, cr: CrEncoding) -> Result<(), EncodeError> {
        let start = out.len();
        let result = self.write(out, cr);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// The wire form as a new buffer ([`encode`](Self::encode)).
    pub fn to_bytes(&self) -> Result<Bytes, EncodeError> {
        let mut out = BytesMut::new();
        self.encode(&mut out)?;
        Ok(out.freeze())
    }

    fn write(&self, out: &mut BytesMut, cr: CrEncoding) -> Result<(), EncodeError> {
        let verb = self.verb();
        if verb.is_empty() || verb.iter().any(|b| !(0x21..=0x7e).contains(b)) {
            return Err(EncodeError::Unrepresentable);
        }
        out.put_slice(verb);
        if let Some(arg) = self.argument()? {
            out.put_u8(b' ');
            escape_text(out, &arg, cr)?;
        }
        out.put_slice(b"\r\n");
        Ok(())
    }

    /// The argument as it is written after the verb, or `None` for no argument.
    fn argument(&self) -> Result<Option<Bytes>, EncodeError> {
        let text = |s: String| Ok(Some(Bytes::from(s)));
        match self {
            Self::User(a) | Self::Pass(a) | Self::Acct(a) | Self::Site(a) | Self::Clnt(a) => {
                required(a)
            }
            Self::Cwd(p) | Self::Smnt(p) | Self::Retr(p) | Self::Stor(p) | Self::Appe(p) => {
                required(p)
            }
            Self::Rnfr(p) | Self::Rnto(p) | Self::Dele(p) | Self::Rmd(p) | Self::Mkd(p) => {
                required(p)
            }
            Self::Size(p) | Self::Mdtm(p) | Self::Hash(p) => required(p),
            Self::Adat(d) | Self::Mic(d) | Self::Conf(d) | Self::Enc(d) => keyword_bytes(d),
            Self::Stou(p) | Self::List(p) | Self::Nlst(p) | Self::Stat(p) | Self::Help(p) => {
                Ok(p.clone())
            }
            Self::Mlst(p) | Self::Mlsd(p) => Ok(p.clone()),
            Self::Port(addr) => text(addr::format_port(*addr)),
            Self::Eprt(addr) => text(addr::format_eprt(*addr)),
            Self::Lprt(addr) => text(addr::format_lprt(*addr)),
            Self::Type(data_type) => text(type_argument(*data_type)),
            Self::Stru(s) => text(char::from(s.code()).to_string()),
            Self::Mode(m) => text(char::from(m.code()).to_string()),
            Self::Allo {
                size,
                max_record: None,
            } => text(size.to_string()),
            Self::Allo {
                size,
                max_record: Some(max),
            } => text(format!("{size} R {max}")),
            Self::Rest(RestMarker::Offset(offset)) => text(offset.to_string()),
            Self::Rest(RestMarker::Marker(marker)) => marker_bytes(marker),
            Self::Auth(mechanism) => auth_argument(mechanism),
            Self::Pbsz(size) => text(size.to_string()),
            Self::Prot(level) => text(prot_letter(*level).to_string()),
            Self::Opts(opts) => opts_argument(opts),
            Self::Epsv(None) => Ok(None),
            Self::Epsv(Some(EpsvArg::All)) => text("ALL".into()),
            Self::Epsv(Some(EpsvArg::Protocol(n))) => text(n.to_string()),
            Self::Lang(tag) => tag.as_ref().map_or(Ok(None), keyword_bytes),
            Self::Host(host) => host_argument(host),
            Self::Mfmt { time, path } | Self::Mfct { time, path } => {
                time_and_path(&time.to_string(), path)
            }
            Self::Mff { facts, path } => mff_argument(facts, path),
            Self::Rang { start, end } => text(format!("{start} {end}")),
            Self::Unknown { arg, .. } => Ok(arg.clone()),
            Self::Cdup | Self::Rein | Self::Quit | Self::Pasv | Self::Abor | Self::Pwd => Ok(None),
            Self::Syst | Self::Noop | Self::Ccc | Self::Feat | Self::Lpsv => Ok(None),
        }
    }
}

fn required(arg: &Bytes) -> Result<Option<Bytes>, EncodeError> {
    if arg.is_empty() {
        return Err(EncodeError::EmptyArgument);
    }
    Ok(Some(arg.clone()))
}

/// A keyword argument: non-empty, printable, no spaces (spaces around keywords are dropped when
/// parsing, so they could not round-trip).
fn keyword_bytes(arg: &Bytes) -> Result<Option<Bytes>, EncodeError> {
    if arg.is_empty() || !arg.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(EncodeError::Unrepresentable);
    }
    Ok(Some(arg.clone()))
}

fn marker_bytes(marker: &Bytes) -> Result<Option<Bytes>, EncodeError> {
    if marker.iter().all(u8::is_ascii_digit) {
        return Err(EncodeError::Unrepresentable); // it would parse back as an offset
    }
    keyword_bytes(marker)
}

fn auth_argument(mechanism: &AuthMechanism) -> Result<Option<Bytes>, EncodeError> {
    match mechanism {
        AuthMechanism::Tls => Ok(Some(Bytes::from_static(b"TLS"))),
        AuthMechanism::Ssl => Ok(Some(Bytes::from_static(b"SSL"))),
        AuthMechanism::TlsP => Ok(Some(Bytes::from_static(b"TLS-P"))),
        AuthMechanism::Other(name)
            if auth_mechanism(name) == AuthMechanism::Other(name.clone()) =>
        {
            keyword_bytes(name)
        }
        AuthMechanism::Other(_) => Err(EncodeError::Unrepresentable),
    }
}

fn opts_argument(opts: &OptsArg) -> Result<Option<Bytes>, EncodeError> {
    let mut out = Vec::new();
    match opts {
        OptsArg::Mlst(facts) => {
            out.extend_from_slice(b"MLST");
            if !facts.is_empty() {
                out.push(b' ');
            }
            for fact in facts {
                if fact.is_empty() || fact.iter().any(|&b| !is_fact_name_byte(b)) {
                    return Err(EncodeError::Unrepresentable);
                }
                out.extend_from_slice(fact);
                out.push(b';');
            }
        }
        OptsArg::Utf8(None) => out.extend_from_slice(b"UTF8"),
        OptsArg::Utf8(Some(on)) => {
            out.extend_from_slice(if *on { b"UTF8 ON" } else { b"UTF8 OFF" })
        }
        OptsArg::Hash(None) => out.extend_from_slice(b"HASH"),
        OptsArg::Hash(Some(name)) => {
            keyword_bytes(name)?;
            out.extend_from_slice(b"HASH ");
            out.extend_from_slice(name);
        }
        OptsArg::Other { command, options } => {
            keyword_bytes(command)?;
            if parse_opts(command.clone(), options.clone()).ok().as_ref() != Some(opts) {
                return Err(EncodeError::Unrepresentable);
            }
            out.extend_from_slice(command);
            if let Some(options) = options {
                out.push(b' ');
                out.extend_from_slice(options);
            }
        }
    }
    Ok(Some(out.into()))
}

fn host_argument(host: &HostName) -> Result<Option<Bytes>, EncodeError> {
    match host {
        HostName::Domain(name) if parse_host(name) == Ok(host.clone()) => Ok(Some(name.clone())),
        HostName::Domain(_) => Err(EncodeError::Unrepresentable),
        HostName::Ipv4(ip) => Ok(Some(ip.to_string().into())),
        HostName::Ipv6(ip) => Ok(Some(format!("[{ip}]").into())),
    }
}

fn time_and_path(time: &str, path: &Bytes) -> Result<Option<Bytes>, EncodeError> {
    required(path)?;
    let mut out = Vec::with_capacity(time.len() + 1 + path.len());
    out.extend_from_slice(time.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path);
    Ok(Some(out.into()))
}

fn mff_argument(facts: &[(Bytes, Bytes)], path: &Bytes) -> Result<Option<Bytes>, EncodeError> {
    required(path)?;
    if facts.is_empty() {
        return Err(EncodeError::EmptyArgument);
    }
    let mut out = Vec::new();
    for (name, value) in facts {
        let name_ok = !name.is_empty() && name.iter().all(|&b| is_fact_name_byte(b));
        let value_ok = value
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && b != b';');
        if !name_ok || !value_ok {
            return Err(EncodeError::Unrepresentable);
        }
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b';');
    }
    out.push(b' ');
    out.extend_from_slice(path);
    Ok(Some(out.into()))
}

/// Printable ASCII other than SP, `;`, `=` and `*` (RFC 3659 RCHAR, roughly).
fn is_fact_name_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && !matches!(b, b';' | b'=' | b'*')
}

fn known_verb(command: &Command) -> &'static str {
    use Command as C;
    match command {
        C::User(_) => "USER",
        C::Pass(_) => "PASS",
        C::Acct(_) => "ACCT",
        C::Cwd(_) => "CWD",
        C::Cdup => "CDUP",
        C::Smnt(_) => "SMNT",
        C::Rein => "REIN",
        C::Quit => "QUIT",
        C::Port(_) => "PORT",
        C::Pasv => "PASV",
        C::Type(_) => "TYPE",
        C::Stru(_) => "STRU",
        C::Mode(_) => "MODE",
        C::Retr(_) => "RETR",
        C::Stor(_) => "STOR",
        C::Stou(_) => "STOU",
        C::Appe(_) => "APPE",
        C::Allo { .. } => "ALLO",
        C::Rest(_) => "REST",
        C::Rnfr(_) => "RNFR",
        C::Rnto(_) => "RNTO",
        C::Abor => "ABOR",
        C::Dele(_) => "DELE",
        C::Rmd(_) => "RMD",
        C::Mkd(_) => "MKD",
        C::Pwd => "PWD",
        C::List(_) => "LIST",
        C::Nlst(_) => "NLST",
        C::Site(_) => "SITE",
        C::Syst => "SYST",
        C::Stat(_) => "STAT",
        C::Help(_) => "HELP",
        C::Noop => "NOOP",
        C::Auth(_) => "AUTH",
        C::Adat(_) => "ADAT",
        C::Pbsz(_) => "PBSZ",
        C::Prot(_) => "PROT",
        C::Ccc => "CCC",
        C::Mic(_) => "MIC",
        C::Conf(_) => "CONF",
        C::Enc(_) => "ENC",
        C::Feat => "FEAT",
        C::Opts(_) => "OPTS",
        C::Eprt(_) => "EPRT",
        C::Epsv(_) => "EPSV",
        C::Lprt(_) => "LPRT",
        C::Lpsv => "LPSV",
        C::Lang(_) => "LANG",
        C::Host(_) => "HOST",
        C::Size(_) => "SIZE",
        C::Mdtm(_) => "MDTM",
        C::Mlst(_) => "MLST",
        C::Mlsd(_) => "MLSD",
        C::Mfmt { .. } => "MFMT",
        C::Mfct { .. } => "MFCT",
        C::Mff { .. } => "MFF",
        C::Hash(_) => "HASH",
        C::Rang { .. } => "RANG",
        C::Clnt(_) => "CLNT",
        C::Unknown { .. } => "",
    }
}

/// The argument shape of a known (upper-cased) verb.
fn shape_of(verb: &[u8]) -> Option<Shape> {
    Some(match verb {
        b"CDUP" | b"XCUP" | b"REIN" | b"QUIT" | b"PASV" | b"ABOR" | b"PWD" | b"XPWD" | b"SYST"
        | b"NOOP" | b"CCC" | b"FEAT" | b"LPSV" => Shape::None,
        b"USER" | b"PASS" | b"ACCT" | b"CWD" | b"XCWD" | b"SMNT" | b"RETR" | b"STOR" | b"APPE"
        | b"RNFR" | b"RNTO" | b"DELE" | b"RMD" | b"XRMD" | b"MKD" | b"XMKD" | b"SITE" | b"SIZE"
        | b"MDTM" | b"MFMT" | b"MFCT" | b"MFF" | b"HASH" | b"CLNT" => Shape::Text,
        b"STOU" | b"LIST" | b"NLST" | b"STAT" | b"HELP" | b"MLST" | b"MLSD" => Shape::OptionalText,
        b"PORT" | b"TYPE" | b"STRU" | b"MODE" | b"ALLO" | b"REST" | b"AUTH" | b"ADAT" | b"PBSZ"
        | b"PROT" | b"MIC" | b"CONF" | b"ENC" | b"OPTS" | b"EPRT" | b"LPRT" | b"HOST" | b"RANG" => {
            Shape::Keyword
        }
        b"EPSV" | b"LANG" => Shape::OptionalKeyword,
        _ => return None,
    })
}

/// Applies the verb's argument shape: presence checks, and space trimming for keywords.
fn check_shape(
    verb: &[u8],
    shape: Shape,
    arg: Option<Bytes>,
) -> Result<Option<Bytes>, CommandError> {
    let trimmed = |arg: &Bytes| {
        let start = arg.iter().take_while(|&&b| b == b' ').count();
        let end = arg.len()
            - arg[start..]
                .iter()
                .rev()
                .take_while(|&&b| b == b' ')
                .count();
        arg.slice(start..end.max(start))
    };
    let fail = |kind| Err(CommandError::new(verb, kind));
    match (shape, arg) {
        (Shape::None, Some(arg)) if !trimmed(&arg).is_empty() => {
            fail(CommandErrorKind::UnexpectedArgument)
        }
        (Shape::None, _) => Ok(None),
        (Shape::Text, Some(arg)) if !arg.is_empty() => Ok(Some(arg)),
        (Shape::Text, _) => fail(CommandErrorKind::MissingArgument),
        (Shape::OptionalText, arg) => Ok(arg),
        (Shape::Keyword | Shape::OptionalKeyword, Some(arg)) if !trimmed(&arg).is_empty() => {
            Ok(Some(trimmed(&arg)))
        }
        (Shape::Keyword, _) => fail(CommandErrorKind::MissingArgument),
        (Shape::OptionalKeyword, _) => Ok(None),
    }
}

/// Builds the command for a known verb from its shape-checked argument.
fn build(verb: &[u8], arg: Option<Bytes>) -> Result<Command, CommandErrorKind> {
    use Command as C;
    let a = arg.clone().unwrap_or_default();
    Ok(match verb {
        b"USER" => C::User(a),
        b"PASS" => C::Pass(a),
        b"ACCT" => C::Acct(a),
        b"CWD" | b"XCWD" => C::Cwd(a),
        b"CDUP" | b"XCUP" => C::Cdup,
        b"SMNT" => C::Smnt(a),
        b"REIN" => C::Rein,
        b"QUIT" => C::Quit,
        b"PORT" => C::Port(addr::parse_port(&a).map_err(CommandErrorKind::Address)?),
        b"PASV" => C::Pasv,
        b"TYPE" => C::Type(parse_type(&a)?),
        b"STRU" => C::Stru(FileStructure::parse(&a).ok_or(CommandErrorKind::InvalidArgument)?),
        b"MODE" => C::Mode(parse_mode(&a)?),
        b"RETR" => C::Retr(a),
        b"STOR" => C::Stor(a),
        b"STOU" => C::Stou(arg),
        b"APPE" => C::Appe(a),
        b"ALLO" => parse_allo(&a)?,
        b"REST" => C::Rest(parse_rest(a)?),
        b"RNFR" => C::Rnfr(a),
        b"RNTO" => C::Rnto(a),
        b"ABOR" => C::Abor,
        b"DELE" => C::Dele(a),
        b"RMD" | b"XRMD" => C::Rmd(a),
        b"MKD" | b"XMKD" => C::Mkd(a),
        b"PWD" | b"XPWD" => C::Pwd,
        b"LIST" => C::List(arg),
        b"NLST" => C::Nlst(arg),
        b"SITE" => C::Site(a),
        b"SYST" => C::Syst,
        b"STAT" => C::Stat(arg),
        b"HELP" => C::Help(arg),
        b"NOOP" => C::Noop,
        b"AUTH" => C::Auth(auth_mechanism(&a)),
        b"ADAT" => C::Adat(a),
        b"PBSZ" => C::Pbsz(parse_pbsz(&a)?),
        b"PROT" => C::Prot(parse_prot(&a)?),
        b"CCC" => C::Ccc,
        b"MIC" => C::Mic(a),
        b"CONF" => C::Conf(a),
        b"ENC" => C::Enc(a),
        b"FEAT" => C::Feat,
        b"OPTS" => C::Opts(parse_opts_line(a)?),
        b"EPRT" => C::Eprt(addr::parse_eprt(&a).map_err(CommandErrorKind::Address)?),
        b"EPSV" => C::Epsv(arg.map(|a| parse_epsv(&a)).transpose()?),
        b"LPRT" => C::Lprt(addr::parse_lprt(&a).map_err(CommandErrorKind::Address)?),
        b"LPSV" => C::Lpsv,
        b"LANG" => C::Lang(arg.map(parse_lang).transpose()?),
        b"HOST" => C::Host(parse_host(&a)?),
        b"SIZE" => C::Size(a),
        b"MDTM" => C::Mdtm(a),
        b"MLST" => C::Mlst(arg),
        b"MLSD" => C::Mlsd(arg),
        b"MFMT" => parse_time_and_path(&a, |time, path| C::Mfmt { time, path })?,
        b"MFCT" => parse_time_and_path(&a, |time, path| C::Mfct { time, path })?,
        b"MFF" => parse_mff(&a)?,
        b"HASH" => C::Hash(a),
        b"RANG" => parse_rang(&a)?,
        b"CLNT" => C::Clnt(a),
        // `shape_of` admits only the verbs above; keep any other as unknown all the same.
        _ => C::Unknown {
            verb: Bytes::copy_from_slice(verb),
            arg,
        },
    })
}

/// Splits a keyword argument into its space-separated words (one or more spaces between).
fn words(arg: &[u8]) -> impl Iterator<Item = &[u8]> {
    arg.split(|&b| b == b' ').filter(|w| !w.is_empty())
}

fn single_letter(arg: &[u8]) -> Result<u8, CommandErrorKind> {
    match arg {
        [letter] => Ok(letter.to_ascii_uppercase()),
        _ => Err(CommandErrorKind::InvalidArgument),
    }
}

/// The TYPE argument as servers accept it everywhere: the default form N is left out (`TYPE A`,
/// not `TYPE A N`, which pyftpdlib refuses with 504).
fn type_argument(data_type: DataType) -> String {
    match data_type {
        DataType::Ascii(FormatControl::NonPrint) => "A".into(),
        DataType::Ebcdic(FormatControl::NonPrint) => "E".into(),
        other => other.to_string(),
    }
}

/// TYPE through [`DataType::parse`], with runs of spaces between the words allowed (keyword
/// arguments accept one or more SPs, as servers do). Every malformed TYPE is 501 (vector C06
/// in `tests/wire_vectors.rs`);
/// well-formed types this library does not transcode are the session's 504.
fn parse_type(arg: &[u8]) -> Result<DataType, CommandErrorKind> {
    let words: Vec<&[u8]> = words(arg).collect();
    DataType::parse(&words.join(&b' ')).map_err(|_| CommandErrorKind::InvalidArgument)
}

/// MODE through [`TransferMode::parse`]; `Z` (deflate, not implemented) is 504.
fn parse_mode(arg: &[u8]) -> Result<TransferMode, CommandErrorKind> {
    if arg.eq_ignore_ascii_case(b"Z") {
        return Err(CommandErrorKind::UnsupportedParameter);
    }
    TransferMode::parse(arg).ok_or(CommandErrorKind::InvalidArgument)
}

fn parse_allo(arg: &[u8]) -> Result<Command, CommandErrorKind> {
    let number = |w: Option<&[u8]>| {
        w.and_then(parse_u64)
            .ok_or(CommandErrorKind::InvalidArgument)
    };
    let mut parts = words(arg);
    let size = number(parts.next())?;
    let max_record = match parts.next() {
        None => None,
        Some(r) if r.eq_ignore_ascii_case(b"R") => Some(number(parts.next())?),
        Some(_) => return Err(CommandErrorKind::InvalidArgument),
    };
    if parts.next().is_some() {
        return Err(CommandErrorKind::InvalidArgument);
    }
    Ok(Command::Allo { size, max_record })
}

fn parse_rest(arg: Bytes) -> Result<RestMarker, CommandErrorKind> {
    if let Some(offset) = parse_u64(&arg) {
        return Ok(RestMarker::Offset(offset));
    }
    if arg.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Ok(RestMarker::Marker(arg));
    }
    Err(CommandErrorKind::InvalidArgument)
}

fn auth_mechanism(name: &Bytes) -> AuthMechanism {
    if name.eq_ignore_ascii_case(b"TLS") || name.eq_ignore_ascii_case(b"TLS-C") {
        AuthMechanism::Tls
    } else if name.eq_ignore_ascii_case(b"SSL") {
        AuthMechanism::Ssl
    } else if name.eq_ignore_ascii_case(b"TLS-P") {
        AuthMechanism::TlsP
    } else {
        AuthMechanism::Other(name.clone())
    }
}

fn parse_pbsz(arg: &[u8]) -> Result<u32, CommandErrorKind> {
    parse_u64(arg)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(CommandErrorKind::InvalidArgument)
}

fn parse_prot(arg: &[u8]) -> Result<ProtLevel, CommandErrorKind> {
    match single_letter(arg)? {
        b'C' => Ok(ProtLevel::Clear),
        b'S' => Ok(ProtLevel::Safe),
        b'E' => Ok(ProtLevel::Confidential),
        b'P' => Ok(ProtLevel::Private),
        _ => Err(CommandErrorKind::UnsupportedParameter),
    }
}

fn prot_letter(level: ProtLevel) -> char {
    match level {
        ProtLevel::Clear => 'C',
        ProtLevel::Safe => 'S',
        ProtLevel::Confidential => 'E',
        ProtLevel::Private => 'P',
    }
}

fn parse_epsv(arg: &[u8]) -> Result<EpsvArg, CommandErrorKind> {
    if arg.eq_ignore_ascii_case(b"ALL") {
        return Ok(EpsvArg::All);
    }
    parse_u64(arg)
        .and_then(|n| u8::try_from(n).ok())
        .map(EpsvArg::Protocol)
        .ok_or(CommandErrorKind::InvalidArgument)
}

/// `lang-tag = Primary-tag *( "-" Sub-tag )`, each 1 to 8 letters (RFC 2640 §4.1).
fn parse_lang(tag: Bytes) -> Result<Bytes, CommandErrorKind> {
    let valid = tag
        .split(|&b| b == b'-')
        .all(|part| (1..=8).contains(&part.len()) && part.iter().all(u8::is_ascii_alphabetic));
    if valid {
        Ok(tag)
    } else {
        Err(CommandErrorKind::InvalidArgument)
    }
}

/// RFC 7151: a domain name, an IPv4 literal, or `[IPv6]`; never a port.
fn parse_host(arg: &Bytes) -> Result<HostName, CommandErrorKind> {
    let invalid = CommandErrorKind::InvalidArgument;
    if let Some(inner) = arg
        .strip_prefix(b"[")
        .and_then(|rest| rest.strip_suffix(b"]"))
    {
        let text = core::str::from_utf8(inner).map_err(|_| invalid.clone())?;
        return text.parse().map(HostName::Ipv6).map_err(|_| invalid);
    }
    if arg.iter().all(|&b| b.is_ascii_digit() || b == b'.') {
        let text = core::str::from_utf8(arg).map_err(|_| invalid.clone())?;
        return text.parse().map(HostName::Ipv4).map_err(|_| invalid);
    }
    let label_ok = |label: &[u8]| {
        (1..=63).contains(&label.len())
            && label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with(b"-")
            && !label.ends_with(b"-")
    };
    let name = arg.strip_suffix(b".").unwrap_or(arg);
    if arg.len() <= 254 && name.split(|&b| b == b'.').all(label_ok) {
        Ok(HostName::Domain(arg.clone()))
    } else {
        Err(invalid)
    }
}

fn parse_opts_line(arg: Bytes) -> Result<OptsArg, CommandErrorKind> {
    let (command, options) = match memchr::memchr(b' ', &arg) {
        Some(at) => {
            let options = arg.slice(at + 1..);
            let start = options.iter().take_while(|&&b| b == b' ').count();
            (
                arg.slice(..at),
                Some(options.slice(start..)).filter(|o| !o.is_empty()),
            )
        }
        None => (arg, None),
    };
    parse_opts(command, options)
}

fn parse_opts(command: Bytes, options: Option<Bytes>) -> Result<OptsArg, CommandErrorKind> {
    if command.eq_ignore_ascii_case(b"MLST") {
        let list = options.unwrap_or_default();
        if list.iter().any(|&b| b == b' ' || b == b'=' || b == b'*') {
            return Err(CommandErrorKind::InvalidArgument);
        }
        return Ok(OptsArg::Mlst(split_semicolons(&list)));
    }
    if command.eq_ignore_ascii_case(b"UTF8") {
        match options.as_deref() {
            None => return Ok(OptsArg::Utf8(None)),
            Some(o) if o.eq_ignore_ascii_case(b"ON") => return Ok(OptsArg::Utf8(Some(true))),
            Some(o) if o.eq_ignore_ascii_case(b"OFF") => return Ok(OptsArg::Utf8(Some(false))),
            Some(_) => {}
        }
    }
    if command.eq_ignore_ascii_case(b"HASH") && options.as_ref().is_none_or(|o| !o.contains(&b' '))
    {
        return Ok(OptsArg::Hash(options));
    }
    Ok(OptsArg::Other { command, options })
}

fn split_first_space(arg: &Bytes) -> Result<(Bytes, Bytes), CommandErrorKind> {
    let at = memchr::memchr(b' ', arg).ok_or(CommandErrorKind::MissingArgument)?;
    let path = arg.slice(at + 1..);
    if path.is_empty() {
        return Err(CommandErrorKind::MissingArgument);
    }
    Ok((arg.slice(..at), path))
}

fn parse_time_and_path(
    arg: &Bytes,
    make: impl FnOnce(Timestamp, Bytes) -> Command,
) -> Result<Command, CommandErrorKind> {
    let (time, path) = split_first_space(arg)?;
    let time = Timestamp::parse(&time).map_err(CommandErrorKind::Time)?;
    Ok(make(time, path))
}

/// `MFF fact=value;fact=value; pathname` (parsed with the SP after the verb, mfxx-03 §5).
fn parse_mff(arg: &Bytes) -> Result<Command, CommandErrorKind> {
    let (list, path) = split_first_space(arg)?;
    let mut facts = Vec::new();
    for fact in split_semicolons(&list) {
        let eq = memchr::memchr(b'=', &fact).ok_or(CommandErrorKind::InvalidArgument)?;
        if eq == 0 {
            return Err(CommandErrorKind::InvalidArgument);
        }
        facts.push((fact.slice(..eq), fact.slice(eq + 1..)));
    }
    if facts.is_empty() {
        return Err(CommandErrorKind::InvalidArgument);
    }
    Ok(Command::Mff { facts, path })
}

fn parse_rang(arg: &[u8]) -> Result<Command, CommandErrorKind> {
    let mut parts = words(arg);
    let mut number = || {
        parts
            .next()
            .and_then(parse_u64)
            .ok_or(CommandErrorKind::InvalidArgument)
    };
    let (start, end) = (number()?, number()?);
    if parts.next().is_some() {
        return Err(CommandErrorKind::InvalidArgument);
    }
    Ok(Command::Rang { start, end })
}

/// The address a PORT, EPRT or LPRT command names, for checks common to all three.
impl Command {
    /// The active-mode address of PORT, EPRT or LPRT.
    pub fn active_address(&self) -> Option<SocketAddr> {
        match self {
            Self::Port(addr) => Some(SocketAddr::V4(*addr)),
            Self::Eprt(addr) | Self::Lprt(addr) => Some(*addr),
            _ => None,
        }
    }
}

/// The host part of an [`HostName`] literal, if it is one.
impl HostName {
    /// The IP address of a literal, `None` for a domain.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::Domain(_) => None,
            Self::Ipv4(ip) => Some(IpAddr::V4(*ip)),
            Self::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[u8]) -> Result<Command, CommandError> {
        Command::parse(&Bytes::copy_from_slice(line))
    }

    #[test]
    fn x_aliases_parse_as_standard_verbs() {
        assert_eq!(
            parse(b"XCWD /a"),
            Ok(Command::Cwd(Bytes::from_static(b"/a")))
        );
        assert_eq!(parse(b"xpwd"), Ok(Command::Pwd));
        assert_eq!(parse(b"XMKD d"), Ok(Command::Mkd(Bytes::from_static(b"d"))));
    }

    #[test]
    fn verbs_longer_than_eight_bytes_are_unknown() {
        let got = parse(b"ABCDEFGHIJ x").unwrap();
        assert_eq!(got.verb(), b"ABCDEFGHIJ");
    }

    #[test]
    fn encoding_refuses_injection() {
        let command = Command::Retr(Bytes::from_static(b"a\r\nDELE b"));
        assert_eq!(
            command.to_bytes(),
            Err(EncodeError::Forbidden(ForbiddenByte::Cr))
        );
        let command = Command::Retr(Bytes::from_static(b"a\nDELE b"));
        let mut out = BytesMut::new();
        assert_eq!(
            command.encode_with(&mut out, CrEncoding::EscapeAsCrNul),
            Err(EncodeError::Forbidden(ForbiddenByte::Lf))
        );
        assert!(out.is_empty());
        assert_eq!(
            Command::Stor(Bytes::new()).to_bytes(),
            Err(EncodeError::EmptyArgument)
        );
    }

    #[test]
    fn type_a_is_written_without_its_default_form() {
        let ascii = Command::Type(DataType::Ascii(FormatControl::NonPrint));
        assert_eq!(&ascii.to_bytes().unwrap()[..], b"TYPE A\r\n");
        let telnet = Command::Type(DataType::Ascii(FormatControl::Telnet));
        assert_eq!(&telnet.to_bytes().unwrap()[..], b"TYPE A T\r\n");
        assert_eq!(
            &Command::Type(DataType::Image).to_bytes().unwrap()[..],
            b"TYPE I\r\n"
        );
    }

    #[test]
    fn mode_z_is_not_implemented_rather_than_malformed() {
        let error = parse(b"MODE Z").unwrap_err();
        assert_eq!(error.reply_code(), ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER);
    }

    #[test]
    fn lprt_unknown_family_is_521() {
        let error = parse(b"LPRT 5,4,1,2,3,4,2,0,21").unwrap_err();
        assert_eq!(error.reply_code(), ReplyCode::LPRT_FAMILY_UNSUPPORTED);
    }
}
