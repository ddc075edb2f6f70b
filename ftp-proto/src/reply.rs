//! Replies: [`ReplyCode`], [`Reply`], the incremental [`ReplyDecoder`] and reply encoding.
//!
//! Parsing follows RFC 959 §4.2: a single-line reply is `code SP text`; a multi-line reply starts
//! `code-text` and ends at the first later line that starts with the *same* code followed by a
//! space (or by nothing, RFC 3659 §7.2). Every line in between is kept verbatim, whatever it
//! starts with. [`ReplyTolerance`] adds what real servers need beyond that (glFTPd's mismatched
//! final code, bare LF line ends).
//!
//! Encoding writes the form every client can read: `code SP text` for one line; `code-text`,
//! inner lines (indented by one space when they start with a digit, so no inner line can look like
//! a terminator), and `code SP text` for several.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::line::{
    escape_text, BareLf, CrEncoding, ForbiddenByte, LineConfig, LineError, LineFramer,
};
use crate::timestamp::Timestamp;

/// A reply code: three digits, the first 1 to 6 (6yz are RFC 2228 protected replies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

/// The meaning of a reply code's first digit (RFC 959 §4.2.1, RFC 2228 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// 1yz: action started, another reply follows.
    PositivePreliminary,
    /// 2yz: done; a new command may be sent.
    PositiveCompletion,
    /// 3yz: send the next command of the sequence.
    PositiveIntermediate,
    /// 4yz: failed this time; the same command may succeed later.
    TransientNegative,
    /// 5yz: failed; do not repeat the same request.
    PermanentNegative,
    /// 6yz: a protected reply (RFC 2228).
    Protected,
}

/// The meaning of a reply code's second digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyCategory {
    /// x0z: syntax, unimplemented or superfluous commands.
    Syntax,
    /// x1z: information (status, help).
    Information,
    /// x2z: connections.
    Connections,
    /// x3z: authentication and accounting.
    Authentication,
    /// x4z: unspecified.
    Unspecified,
    /// x5z: file system.
    FileSystem,
    /// x6z–x9z: not assigned.
    Unassigned,
}

macro_rules! reply_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        impl ReplyCode {
            $($(#[$doc])* pub const $name: Self = Self($value);)*
        }
    };
}

reply_codes! {
    /// 110 Restart marker reply.
    RESTART_MARKER = 110;
    /// 120 Service ready in nnn minutes.
    SERVICE_READY_LATER = 120;
    /// 125 Data connection already open; transfer starting.
    DATA_ALREADY_OPEN = 125;
    /// 150 File status okay; about to open data connection.
    FILE_STATUS_OK = 150;
    /// 200 Command okay.
    COMMAND_OK = 200;
    /// 202 Command not implemented, superfluous at this site.
    SUPERFLUOUS = 202;
    /// 211 System status, or system help reply (also FEAT).
    SYSTEM_STATUS = 211;
    /// 212 Directory status.
    DIRECTORY_STATUS = 212;
    /// 213 File status (also SIZE, MDTM, MFMT, HASH).
    FILE_STATUS = 213;
    /// 214 Help message.
    HELP_MESSAGE = 214;
    /// 215 NAME system type.
    SYSTEM_TYPE = 215;
    /// 220 Service ready for new user.
    SERVICE_READY = 220;
    /// 221 Service closing control connection.
    CLOSING_CONTROL = 221;
    /// 225 Data connection open; no transfer in progress.
    DATA_OPEN_NO_TRANSFER = 225;
    /// 226 Closing data connection; requested file action successful.
    CLOSING_DATA = 226;
    /// 227 Entering Passive Mode.
    PASSIVE_MODE = 227;
    /// 228 Entering Long Passive Mode.
    LONG_PASSIVE_MODE = 228;
    /// 229 Entering Extended Passive Mode.
    EXTENDED_PASSIVE_MODE = 229;
    /// 230 User logged in, proceed.
    LOGGED_IN = 230;
    /// 232 User logged in, authorized by security data exchange.
    LOGGED_IN_AUTHORIZED = 232;
    /// 234 Security data exchange complete (AUTH TLS accepted).
    SECURITY_EXCHANGE_COMPLETE = 234;
    /// 250 Requested file action okay, completed.
    FILE_ACTION_OK = 250;
    /// 257 "PATHNAME" created (also PWD).
    PATHNAME_CREATED = 257;
    /// 331 User name okay, need password.
    NEED_PASSWORD = 331;
    /// 332 Need account for login.
    NEED_ACCOUNT = 332;
    /// 350 Requested file action pending further information.
    FILE_ACTION_PENDING = 350;
    /// 421 Service not available, closing control connection.
    SERVICE_NOT_AVAILABLE = 421;
    /// 425 Can't open data connection.
    CANT_OPEN_DATA = 425;
    /// 426 Connection closed; transfer aborted.
    TRANSFER_ABORTED = 426;
    /// 431 Need some unavailable resource to process security.
    SECURITY_RESOURCE_UNAVAILABLE = 431;
    /// 450 Requested file action not taken (file busy).
    FILE_UNAVAILABLE_BUSY = 450;
    /// 451 Requested action aborted: local error in processing.
    LOCAL_ERROR = 451;
    /// 452 Requested action not taken: insufficient storage space.
    INSUFFICIENT_STORAGE = 452;
    /// 500 Syntax error, command unrecognized.
    SYNTAX_ERROR = 500;
    /// 501 Syntax error in parameters or arguments.
    SYNTAX_ERROR_ARGUMENTS = 501;
    /// 502 Command not implemented.
    NOT_IMPLEMENTED = 502;
    /// 503 Bad sequence of commands.
    BAD_SEQUENCE = 503;
    /// 504 Command not implemented for that parameter.
    NOT_IMPLEMENTED_FOR_PARAMETER = 504;
    /// 521 LPRT family not supported / data connection refused at this PROT level.
    LPRT_FAMILY_UNSUPPORTED = 521;
    /// 522 EPRT/EPSV protocol not supported / data-connection TLS negotiation failed.
    NETWORK_PROTOCOL_UNSUPPORTED = 522;
    /// 530 Not logged in.
    NOT_LOGGED_IN = 530;
    /// 532 Need account for storing files.
    NEED_ACCOUNT_FOR_STORING = 532;
    /// 533 Command protection level denied for policy reasons.
    PROTECTION_DENIED = 533;
    /// 534 Request denied for policy reasons.
    POLICY_DENIED = 534;
    /// 536 Requested PROT level not supported by mechanism.
    PROT_LEVEL_UNSUPPORTED = 536;
    /// 550 Requested action not taken; file unavailable.
    FILE_UNAVAILABLE = 550;
    /// 551 Requested action aborted: page type unknown.
    PAGE_TYPE_UNKNOWN = 551;
    /// 552 Requested file action aborted: exceeded storage allocation.
    EXCEEDED_STORAGE = 552;
    /// 553 Requested action not taken: file name not allowed.
    FILE_NAME_NOT_ALLOWED = 553;
    /// 554 Requested action not taken: invalid REST parameter.
    INVALID_REST = 554;
    /// 555 Requested action not taken: type or stru mismatch.
    TYPE_OR_STRU_MISMATCH = 555;
}

impl ReplyCode {
    /// The code `value` if it has three digits and a first digit of 1 to 6.
    pub const fn new(value: u16) -> Option<Self> {
        if value >= 100 && value <= 699 {
            Some(Self(value))
        } else {
            None
        }
    }

    /// Reads a code from its three ASCII digits.
    pub fn from_digits(digits: [u8; 3]) -> Option<Self> {
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let [a, b, c] = digits.map(|d| u16::from(d - b'0'));
        Self::new(a * 100 + b * 10 + c)
    }

    /// The numeric value, 100 to 699.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The three ASCII digits.
    pub fn digits(self) -> [u8; 3] {
        let v = self.0;
        [
            (v / 100) as u8 + b'0',
            (v / 10 % 10) as u8 + b'0',
            (v % 10) as u8 + b'0',
        ]
    }

    /// The class given by the first digit.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            1 => ReplyClass::PositivePreliminary,
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            5 => ReplyClass::PermanentNegative,
            _ => ReplyClass::Protected,
        }
    }

    /// The category given by the second digit.
    pub const fn category(self) -> ReplyCategory {
        match self.0 / 10 % 10 {
            0 => ReplyCategory::Syntax,
            1 => ReplyCategory::Information,
            2 => ReplyCategory::Connections,
            3 => ReplyCategory::Authentication,
            4 => ReplyCategory::Unspecified,
            5 => ReplyCategory::FileSystem,
            _ => ReplyCategory::Unassigned,
        }
    }

    /// 1yz.
    pub const fn is_preliminary(self) -> bool {
        self.0 / 100 == 1
    }
    /// 2yz.
    pub const fn is_completion(self) -> bool {
        self.0 / 100 == 2
    }
    /// 3yz.
    pub const fn is_intermediate(self) -> bool {
        self.0 / 100 == 3
    }
    /// 4yz.
    pub const fn is_transient_failure(self) -> bool {
        self.0 / 100 == 4
    }
    /// 5yz.
    pub const fn is_permanent_failure(self) -> bool {
        self.0 / 100 == 5
    }
    /// 4yz or 5yz.
    pub const fn is_failure(self) -> bool {
        matches!(self.0 / 100, 4 | 5)
    }
    /// 6yz (RFC 2228 protected reply).
    pub const fn is_protected(self) -> bool {
        self.0 / 100 == 6
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// For people (logs, error messages), not the wire ([`Reply::encode`] is that): the code,
/// then every line after a space, trailing white space trimmed, bytes that are not UTF-8
/// shown as U+FFFD. `550 No such file.`; a multi-line FEAT reply on one line.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())?;
        for line in self.lines() {
            write!(f, " {}", String::from_utf8_lossy(line).trim_end())?;
        }
        Ok(())
    }
}

/// A complete reply.
///
/// Guarantees: `lines` is never empty. For a parsed reply, the first line is its text without
/// `NNN-`/`NNN `, the last (of a multi-line reply) without `NNN `/`NNN`, and every line in
/// between is verbatim. Text is bytes: nothing assumes UTF-8.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reply {
    code: ReplyCode,
    lines: Vec<Bytes>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: ReplyCode, text: impl Into<Bytes>) -> Self {
        Self {
            code,
            lines: vec![text.into()],
        }
    }

    /// A reply of several lines; an empty `lines` gives one empty line.
    pub fn multiline(code: ReplyCode, lines: impl IntoIterator<Item = impl Into<Bytes>>) -> Self {
        let mut lines: Vec<Bytes> = lines.into_iter().map(Into::into).collect();
        if lines.is_empty() {
            lines.push(Bytes::new());
        }
        Self { code, lines }
    }

    /// A reply whose text starts with a quoted pathname, `"name" comment`, with every `"` in
    /// the name doubled (RFC 959 Appendix II): the form of 257 replies to PWD and MKD.
    pub fn with_quoted_path(code: ReplyCode, path: &[u8], comment: &str) -> Self {
        let mut text = Vec::with_capacity(path.len() + comment.len() + 3);
        text.push(b'"');
        for &byte in path {
            text.push(byte);
            if byte == b'"' {
                text.push(b'"');
            }
        }
        text.push(b'"');
        if !comment.is_empty() {
            text.push(b' ');
            text.extend_from_slice(comment.as_bytes());
        }
        Self::new(code, text)
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// Every line of text (at least one).
    pub fn lines(&self) -> &[Bytes] {
        &self.lines
    }

    /// The text of the first line.
    pub fn first_line(&self) -> &[u8] {
        &self.lines[0]
    }

    /// The text of the last line: what a single-line reply says, and where a multi-line reply
    /// puts its machine-readable part (e.g. HASH).
    pub fn last_line(&self) -> &[u8] {
        self.lines.last().map_or(&[], |line| &line[..])
    }

    /// True for a multi-line reply.
    pub fn is_multiline(&self) -> bool {
        self.lines.len() > 1
    }

    /// Appends the reply in wire form. Text bytes are Telnet-escaped (`0xFF` doubled); a CR is
    /// written as `cr` says; an LF or NUL inside a line is refused and `out` is left as it was.
    pub fn encode_with(&self, out: &mut BytesMut, cr: CrEncoding) -> Result<(), ForbiddenByte> {
        let start = out.len();
        let result = self.write_lines(out, cr);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// [`encode_with`](Self::encode_with) refusing CR.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), ForbiddenByte> {
        self.encode_with(out, CrEncoding::Refuse)
    }

    /// The wire form as a new buffer ([`encode`](Self::encode)).
    pub fn to_bytes(&self) -> Result<Bytes, ForbiddenByte> {
        let mut out = BytesMut::new();
        self.encode(&mut out)?;
        Ok(out.freeze())
    }

    fn write_lines(&self, out: &mut BytesMut, cr: CrEncoding) -> Result<(), ForbiddenByte> {
        let digits = self.code.digits();
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 || i == last {
                out.put_slice(&digits);
                out.put_u8(if i == last { b' ' } else { b'-' });
            } else if line.first().is_some_and(u8::is_ascii_digit) {
                out.put_u8(b' ');
            }
            escape_text(out, line, cr)?;
            out.put_slice(b"\r\n");
        }
        Ok(())
    }
}

/// Leniency of the [`ReplyDecoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyTolerance {
    /// Accept a bare LF as a line end (except after `CR NUL`).
    pub bare_lf: bool,
    /// End a multi-line reply at any `DDD SP` line, adopting that line's code, as glFTPd
    /// requires (`553-...`, `553- ...`, `150 Opening ...`). Off, such a line is an ordinary inner
    /// line (RFC 959).
    pub mismatched_final_code: bool,
}

impl ReplyTolerance {
    /// RFC 959 exactly: CR LF line ends, the same code ends a multi-line reply.
    pub const STRICT: Self = Self {
        bare_lf: false,
        mismatched_final_code: false,
    };
    /// What real servers need: bare LF accepted, any `DDD SP` line ends a multi-line reply.
    pub const TOLERANT: Self = Self {
        bare_lf: true,
        mismatched_final_code: true,
    };
}

/// Limits and leniency of a [`ReplyDecoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyConfig {
    /// Leniency.
    pub tolerance: ReplyTolerance,
    /// The longest line kept (longer lines are an error). Default 8 KiB.
    pub max_line_len: usize,
    /// Most lines kept in one reply; later lines are skipped up to the end of the reply
    /// (RFC 1123 §4.1.2.11) and counted in [`ReplyDecoder::skipped_lines`]. Default 10 000.
    pub max_lines: usize,
    /// Unread complete lines allowed to wait. Default 1 MiB.
    pub max_buffered: usize,
}

impl Default for ReplyConfig {
    fn default() -> Self {
        Self {
            tolerance: ReplyTolerance::TOLERANT,
            max_line_len: 8 * 1024,
            max_lines: 10_000,
            max_buffered: 1024 * 1024,
        }
    }
}

impl ReplyConfig {
    /// The default limits with RFC 959 strictness.
    pub fn strict() -> Self {
        Self {
            tolerance: ReplyTolerance::STRICT,
            ..Self::default()
        }
    }
}

/// Why bytes could not be read as a reply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line that should start a reply does not start with a valid code followed by SP, `-` or
    /// the line end. The line is kept for diagnostics.
    #[error("malformed reply code in {line:?}")]
    MalformedCode {
        /// The offending line.
        line: Bytes,
    },
    /// The control stream itself failed: an over-long line, or a fatal flood/buffer limit.
    #[error(transparent)]
    Line(#[from] LineError),
}

impl ReplyError {
    /// True when the connection cannot go on.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Line(error) if error.is_fatal())
    }
}

/// How a reply line begins.
enum LineStart {
    /// `NNN SP text` or `NNN` alone: a complete single-line reply, or a terminator.
    Final(ReplyCode, Bytes),
    /// `NNN-text`: a multi-line reply starts.
    Continues(ReplyCode, Bytes),
    /// Anything else.
    Other,
}

fn classify(line: &Bytes) -> LineStart {
    let Some(&[a, b, c]) = line.get(..3).and_then(|s| <&[u8; 3]>::try_from(s).ok()) else {
        return LineStart::Other;
    };
    let Some(code) = ReplyCode::from_digits([a, b, c]) else {
        return LineStart::Other;
    };
    match line.get(3) {
        None => LineStart::Final(code, Bytes::new()),
        Some(b' ') => LineStart::Final(code, line.slice(4..)),
        Some(b'-') => LineStart::Continues(code, line.slice(4..)),
        Some(_) => LineStart::Other,
    }
}

/// A multi-line reply being assembled.
#[derive(Debug)]
struct Partial {
    code: ReplyCode,
    lines: Vec<Bytes>,
}

/// Incremental reply parser for the client side of the control connection.
///
/// Feed it bytes as they are read ([`feed`](Self::feed)); take replies with
/// [`next_reply`](Self::next_reply). The result is the same however the input is split.
#[derive(Debug)]
pub struct ReplyDecoder {
    framer: LineFramer,
    config: ReplyConfig,
    partial: Option<Partial>,
    skipped_lines: u64,
}

impl Default for ReplyDecoder {
    fn default() -> Self {
        Self::new(ReplyConfig::default())
    }
}

impl ReplyDecoder {
    /// A decoder with the given configuration.
    pub fn new(config: ReplyConfig) -> Self {
        let line = LineConfig {
            max_line_len: config.max_line_len,
            flood_limit: config.max_line_len.saturating_mul(8),
            max_buffered: config.max_buffered,
            bare_lf: if config.tolerance.bare_lf {
                BareLf::EndsLine
            } else {
                BareLf::IsData
            },
        };
        Self {
            framer: LineFramer::new(line),
            config,
            partial: None,
            skipped_lines: 0,
        }
    }

    /// Takes a chunk of bytes read from the control connection.
    pub fn feed(&mut self, input: &[u8]) {
        self.framer.feed(input);
    }

    /// The next complete reply, or an error for a line that cannot be part of one; `None` when
    /// more bytes are needed.
    pub fn next_reply(&mut self) -> Option<Result<Reply, ReplyError>> {
        loop {
            let line = match self.framer.next_line()? {
                Ok(line) => line.bytes,
                Err(error) => return Some(Err(error.into())),
            };
            if let Some(done) = self.take_line(line) {
                return Some(done);
            }
        }
    }

    /// True when a multi-line reply has started and not ended.
    pub fn is_mid_reply(&self) -> bool {
        self.partial.is_some()
    }

    /// Bytes held: unread input, and the lines of a multi-line reply that has not ended. At
    /// most `max_buffered` (complete lines) + 8 × `max_line_len` (a line still arriving, up to
    /// the flood limit) + `max_lines` × `max_line_len` (the reply being assembled).
    pub fn buffered_len(&self) -> usize {
        let partial = self
            .partial
            .as_ref()
            .map_or(0, |p| p.lines.iter().map(Bytes::len).sum());
        self.framer.buffered_len() + partial
    }

    /// Lines skipped because a reply exceeded [`ReplyConfig::max_lines`].
    pub fn skipped_lines(&self) -> u64 {
        self.skipped_lines
    }

    fn take_line(&mut self, line: Bytes) -> Option<Result<Reply, ReplyError>> {
        let start = classify(&line);
        let Some(partial) = self.partial.as_mut() else {
            return match start {
                LineStart::Final(code, text) => Some(Ok(Reply::new(code, text))),
                LineStart::Continues(code, text) => {
                    self.partial = Some(Partial {
                        code,
                        lines: vec![text],
                    });
                    None
                }
                LineStart::Other => Some(Err(ReplyError::MalformedCode { line })),
            };
        };
        let ends = match start {
            LineStart::Final(code, text) if code == partial.code => Some((code, text)),
            LineStart::Final(code, text) if self.config.tolerance.mismatched_final_code => {
                Some((code, text))
            }
            _ => None,
        };
        match ends {
            Some((code, text)) => {
                let Partial { mut lines, .. } = self.partial.take()?;
                lines.push(text);
                Some(Ok(Reply { code, lines }))
            }
            None if partial.lines.len() + 1 >= self.config.max_lines => {
                self.skipped_lines += 1;
                None
            }
            None => {
                partial.lines.push(line);
                None
            }
        }
    }
}

/// The reply-text readers for replies whose text is machine-readable.
impl Reply {
    /// The pathname of a 257 reply (`257 "/usr/dm/foo""bar" created`), with doubled quotes
    /// undone. `None` when the text holds no quoted name.
    pub fn quoted_path(&self) -> Option<Bytes> {
        let text = self.first_line();
        let open = memchr::memchr(b'"', text)?;
        let mut name = Vec::new();
        let mut rest = &text[open + 1..];
        loop {
            let quote = memchr::memchr(b'"', rest)?;
            name.extend_from_slice(&rest[..quote]);
            match rest.get(quote + 1) {
                Some(b'"') => {
                    name.push(b'"');
                    rest = &rest[quote + 2..];
                }
                _ => return Some(name.into()),
            }
        }
    }

    /// The size in a 213 reply to SIZE (`213 1830`).
    pub fn size(&self) -> Option<u64> {
        parse_u64(self.last_line().trim_ascii())
    }

    /// The time in a 213 reply to MDTM (`213 19980615100045.014`).
    pub fn modification_time(&self) -> Option<Timestamp> {
        Timestamp::parse(self.last_line().trim_ascii()).ok()
    }

    /// The two markers of a 110 reply, `MARK ssss = rrrr` (RFC 1123 §4.1.3.4): the sender's
    /// marker and the receiver's position.
    pub fn restart_mark(&self) -> Option<(Bytes, Bytes)> {
        let line = &self.lines[0];
        let text = line.strip_prefix(b"MARK ")?;
        let eq = memchr::memmem::find(text, b" = ")?;
        let offset = line.len() - text.len();
        let receiver = line.slice(offset + eq + 3..);
        let receiver = receiver.slice(..receiver.trim_ascii_end().len());
        Some((line.slice(offset..offset + eq), receiver))
    }

    /// The name STOU chose, from `FILE: name` in a 1yz, 226 or 250 reply (RFC 1123 §4.1.2.9).
    pub fn stored_as(&self) -> Option<Bytes> {
        self.lines.iter().find_map(|line| {
            let at = memchr::memmem::find(line, b"FILE:")?;
            let name = line.slice(at + 5..);
            let start = name.iter().take_while(|&&b| b == b' ').count();
            Some(name.slice(start..))
        })
    }

    /// The parsed 213 reply to HASH: `algorithm start-end hexhash pathname` on the last line.
    pub fn hash(&self) -> Option<HashReply> {
        let line = self.lines.last()?;
        let mut fields = line.splitn(4, |&b| b == b' ');
        let algorithm = fields.next().filter(|f| !f.is_empty())?;
        let range = fields.next()?;
        let hex = fields
            .next()
            .filter(|f| !f.is_empty() && f.iter().all(u8::is_ascii_hexdigit))?;
        let path = fields.next()?;
        let dash = memchr::memchr(b'-', range)?;
        let (start, end) = (parse_u64(&range[..dash])?, parse_u64(&range[dash + 1..])?);
        let slice = |part: &[u8]| line.slice_ref(part);
        Some(HashReply {
            algorithm: slice(algorithm),
            start,
            end,
            hex: slice(hex),
            path: slice(path),
        })
    }

    /// The facts a 200 reply to `OPTS MLST` selected (`200 MLST OPTS Type;Perm;`); `None` when
    /// the text is not of that form.
    pub fn mlst_opts(&self) -> Option<Vec<Bytes>> {
        let line = &self.lines[0];
        let upper = line.get(..9)?;
        if !upper.eq_ignore_ascii_case(b"MLST OPTS") {
            return None;
        }
        let list = line.slice(9..);
        let list = list.slice(list.iter().take_while(|&&b| b == b' ').count()..);
        Some(split_semicolons(&list))
    }
}

/// The protection of an RFC 2228 6yz reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtectionLevel {
    /// 631: integrity protected.
    Integrity,
    /// 632: confidentiality and integrity protected.
    Private,
    /// 633: confidentiality protected.
    Confidential,
}

/// An RFC 2228 protected reply (631, 632, 633) with its base64 payload decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protected {
    /// Which protection the server applied.
    pub level: ProtectionLevel,
    /// The decoded (still protected) message: the security mechanism unwraps it.
    pub payload: Vec<u8>,
}

impl Protected {
    /// Parses an unwrapped payload as the ordinary reply it carries ("an end-of-line code need
    /// not be included", RFC 2228 §5.2).
    pub fn parse_inner(plaintext: &[u8]) -> Result<Reply, ReplyError> {
        let mut decoder = ReplyDecoder::new(ReplyConfig::default());
        decoder.feed(plaintext);
        if !plaintext.ends_with(b"\n") {
            decoder.feed(b"\r\n");
        }
        decoder.next_reply().unwrap_or_else(|| {
            Err(ReplyError::MalformedCode {
                line: Bytes::copy_from_slice(plaintext),
            })
        })
    }
}

impl Reply {
    /// The base64 payload of a 631/632/633 reply, decoded: the lines are concatenated as
    /// RFC 2228 §5.2 prescribes. `None` for other codes or invalid base64.
    pub fn protected(&self) -> Option<Protected> {
        let level = match self.code.get() {
            631 => ProtectionLevel::Integrity,
            632 => ProtectionLevel::Private,
            633 => ProtectionLevel::Confidential,
            _ => return None,
        };
        let mut encoded = Vec::new();
        for line in &self.lines {
            encoded.extend_from_slice(line.trim_ascii());
        }
        Some(Protected {
            level,
            payload: decode_base64(&encoded)?,
        })
    }
}

/// Standard base64 (RFC 4648 §4) with `=` padding; `None` on any other byte or bad length.
fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    fn value(byte: u8) -> Option<u32> {
        Some(u32::from(match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    if input.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let chunks = input.len() / 4;
    for (i, chunk) in input.chunks_exact(4).enumerate() {
        let padding = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if padding > 2 || (padding > 0 && i + 1 != chunks) {
            return None;
        }
        let mut bits = 0u32;
        for &byte in &chunk[..4 - padding] {
            bits = bits << 6 | value(byte)?;
        }
        bits <<= 6 * padding as u32;
        let bytes = bits.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - padding]);
    }
    Some(out)
}

/// What a HASH reply reports (draft-bryan-ftpext-hash §3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashReply {
    /// The hash algorithm's IANA name, e.g. `SHA-256`.
    pub algorithm: Bytes,
    /// First byte hashed.
    pub start: u64,
    /// Last byte hashed (inclusive).
    pub end: u64,
    /// The hash in hexadecimal, as sent.
    pub hex: Bytes,
    /// The file's pathname.
    pub path: Bytes,
}

/// Splits `a;b;c;` into its non-empty items, as zero-copy slices.
pub(crate) fn split_semicolons(list: &Bytes) -> Vec<Bytes> {
    list.split(|&b| b == b';')
        .filter(|item| !item.is_empty())
        .map(|item| list.slice_ref(item))
        .collect()
}

/// A decimal `u64` of 1 to 20 digits, no sign.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_code_and_every_line() {
        let reply = Reply::new(ReplyCode::new(550).unwrap(), "No such file.  ");
        assert_eq!(reply.to_string(), "550 No such file.");
        let mut decoder = ReplyDecoder::new(ReplyConfig::default());
        decoder.feed(b"211-Features:\r\n MDTM\r\n211 End\r\n");
        let feat = decoder.next_reply().unwrap().unwrap();
        assert_eq!(feat.to_string(), "211 Features:  MDTM End");
        let latin1 = Reply::new(ReplyCode::new(257).unwrap(), &b"\"/caf\xe9\""[..]);
        assert_eq!(latin1.to_string(), "257 \"/caf\u{fffd}\"");
    }

    #[test]
    fn base64_decodes_and_refuses_garbage() {
        assert_eq!(decode_base64(b"aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64(b"aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_base64(b"aGV5"), Some(b"hey".to_vec()));
        assert_eq!(decode_base64(b""), Some(vec![]));
        assert_eq!(decode_base64(b"aGk"), None);
        assert_eq!(decode_base64(b"a=Gk"), None);
        assert_eq!(decode_base64(b"aG=k"), None);
        assert_eq!(decode_base64(b"aGk=aGk="), None);
    }

    #[test]
    fn code_classes() {
        let code = ReplyCode::new(452).unwrap();
        assert!(code.is_transient_failure() && code.is_failure());
        assert_eq!(code.class(), ReplyClass::TransientNegative);
        assert_eq!(code.category(), ReplyCategory::FileSystem);
        assert_eq!(ReplyCode::new(99), None);
        assert_eq!(ReplyCode::new(700), None);
        assert_eq!(
            ReplyCode::from_digits(*b"632").map(ReplyCode::is_protected),
            Some(true)
        );
        assert_eq!(ReplyCode::COMMAND_OK.digits(), *b"200");
    }

    #[test]
    fn encode_single_and_multiline() {
        let single = Reply::new(ReplyCode::COMMAND_OK, "OK");
        assert_eq!(&single.to_bytes().unwrap()[..], b"200 OK\r\n");
        let multi = Reply::multiline(
            ReplyCode::SYSTEM_STATUS,
            ["Features:", " SIZE", "211 x", "End"],
        );
        assert_eq!(
            &multi.to_bytes().unwrap()[..],
            b"211-Features:\r\n SIZE\r\n 211 x\r\n211 End\r\n"
        );
    }

    #[test]
    fn encode_refuses_lf_in_text() {
        let reply = Reply::new(ReplyCode::PATHNAME_CREATED, "\"a\nb\"");
        assert_eq!(reply.to_bytes(), Err(ForbiddenByte::Lf));
    }

    #[test]
    fn tolerant_decoder_ends_at_mismatched_code() {
        let mut decoder = ReplyDecoder::default();
        decoder.feed(b"553-\r\n553- Directory excluded.\r\n150 Opening BINARY mode.\r\n");
        let reply = decoder.next_reply().unwrap().unwrap();
        assert_eq!(reply.code().get(), 150);
        assert_eq!(reply.lines().len(), 3);
    }

    #[test]
    fn excess_lines_are_skipped_to_the_end_of_the_reply() {
        let mut decoder = ReplyDecoder::new(ReplyConfig {
            max_lines: 3,
            ..ReplyConfig::strict()
        });
        decoder.feed(b"211-a\r\nb\r\nc\r\nd\r\ne\r\n211 end\r\n200 next\r\n");
        let reply = decoder.next_reply().unwrap().unwrap();
        assert_eq!(reply.lines(), &[&b"a"[..], b"b", b"end"]);
        assert_eq!(decoder.skipped_lines(), 3);
        assert_eq!(
            decoder.next_reply().unwrap().unwrap().code(),
            ReplyCode::COMMAND_OK
        );
    }
}
