//! Control-connection framing: the Telnet layer and CRLF line splitting.
//!
//! [`LineFramer`] takes bytes exactly as they were read from the control connection, in chunks of
//! any size, and yields complete [`Line`]s. In one pass over each input byte it:
//!
//! * finds line ends with `memchr` (CR LF; a bare LF too when [`BareLf::EndsLine`] is set, unless
//!   it directly follows the RFC 2640 `CR NUL` pad), never re-scanning bytes it has seen;
//! * undoes the Telnet encoding: `IAC IAC` becomes one `0xFF` byte, `CR NUL` becomes `CR`, Telnet
//!   commands (`IAC IP`, `IAC DM`, `IAC NOP`, ...) are removed and reported as
//!   [`TelnetSignals`], option negotiation (`IAC WILL/WONT/DO/DONT x`, `IAC SB ... IAC SE`) is
//!   removed and refused once per option (RFC 1123 §4.1.2.12);
//! * bounds memory: a line longer than [`LineConfig::max_line_len`] is discarded and reported as
//!   [`LineError::TooLong`] (reply 500) when its end arrives; a line that runs past
//!   [`LineConfig::flood_limit`] without ending, or complete lines piling up past
//!   [`LineConfig::max_buffered`], are fatal ([`LineError::is_fatal`]): the connection is to be
//!   closed.
//!
//! The encoding direction lives here too: [`escape_text`] writes bytes with `IAC` doubled for
//! commands and replies.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

/// Telnet "interpret as command" byte.
pub const IAC: u8 = 0xFF;
/// Telnet DONT (refuses an option the peer offered with WILL).
pub const DONT: u8 = 0xFE;
/// Telnet DO.
pub const DO: u8 = 0xFD;
/// Telnet WONT (refuses an option the peer asked for with DO).
pub const WONT: u8 = 0xFC;
/// Telnet WILL.
pub const WILL: u8 = 0xFB;
/// Telnet subnegotiation begin.
pub const SB: u8 = 0xFA;
/// Telnet Interrupt Process, sent before ABOR.
pub const IP: u8 = 0xF4;
/// Telnet Data Mark, the in-band half of the Synch signal.
pub const DM: u8 = 0xF2;
/// Telnet subnegotiation end.
pub const SE: u8 = 0xF0;

/// What a client writes in front of `ABOR\r\n` (or `STAT\r\n`) to interrupt a transfer:
/// `IAC IP IAC DM`. The driver may send the first three bytes as TCP urgent data (BSD
/// `abort_remote()`); a receiver must not depend on that (RFC 4217 §14).
pub const TELNET_INTERRUPT: [u8; 4] = [IAC, IP, IAC, DM];

/// Whether a bare LF (without CR) ends a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BareLf {
    /// Lenient, the default: a bare LF ends a line, except directly after the `CR NUL` pad,
    /// where it is data (so the RFC 2640 pathname `foo<CR><NUL><LF>boo` stays whole).
    #[default]
    EndsLine,
    /// Strict RFC 959: only CR LF ends a line; a bare LF is data.
    IsData,
}

/// Limits and leniency of a [`LineFramer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineConfig {
    /// The longest line (after Telnet decoding, without its line end) that is delivered. A longer
    /// line is discarded and reported as [`LineError::TooLong`]. Default 8 KiB.
    pub max_line_len: usize,
    /// A line that reaches this many bytes without ending is fatal ([`LineError::Flood`]).
    /// Default 64 KiB; it is raised to `max_line_len` if set lower.
    pub flood_limit: usize,
    /// How many bytes of complete, not yet taken lines may wait in the framer before it gives
    /// up with [`LineError::BufferFull`]. Default 64 KiB.
    pub max_buffered: usize,
    /// Bare LF handling.
    pub bare_lf: BareLf,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self {
            max_line_len: 8 * 1024,
            flood_limit: 64 * 1024,
            max_buffered: 64 * 1024,
            bare_lf: BareLf::EndsLine,
        }
    }
}

/// Telnet commands seen in the stream, as a small set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TelnetSignals(u16);

impl TelnetSignals {
    const IP: u16 = 1;
    const DM: u16 = 1 << 1;
    const AO: u16 = 1 << 2;
    const AYT: u16 = 1 << 3;
    const BRK: u16 = 1 << 4;
    const OTHER: u16 = 1 << 5;
    const NEGOTIATION: u16 = 1 << 6;

    /// No signal.
    pub const NONE: Self = Self(0);

    /// `IAC IP` (Interrupt Process) was seen: an ABOR or STAT is probably following.
    pub fn interrupt_process(self) -> bool {
        self.0 & Self::IP != 0
    }
    /// `IAC DM` (Data Mark, the in-band part of Synch) was seen.
    pub fn data_mark(self) -> bool {
        self.0 & Self::DM != 0
    }
    /// `IAC AO` (Abort Output) was seen.
    pub fn abort_output(self) -> bool {
        self.0 & Self::AO != 0
    }
    /// `IAC AYT` (Are You There) was seen.
    pub fn are_you_there(self) -> bool {
        self.0 & Self::AYT != 0
    }
    /// `IAC BRK` (Break) was seen.
    pub fn break_(self) -> bool {
        self.0 & Self::BRK != 0
    }
    /// Option negotiation or a subnegotiation was seen (and removed).
    pub fn negotiation(self) -> bool {
        self.0 & Self::NEGOTIATION != 0
    }
    /// Any other Telnet command (NOP, GA, EC, EL, EOR, an unassigned code) was seen.
    pub fn other(self) -> bool {
        self.0 & Self::OTHER != 0
    }
    /// True when an interrupt (IP or DM) was seen: the signal that a client wants ABOR, STAT or
    /// QUIT handled ahead of a running transfer.
    pub fn is_urgent(self) -> bool {
        self.0 & (Self::IP | Self::DM) != 0
    }
    /// True when nothing was seen.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The union of two sets.
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    fn from_command(byte: u8) -> Self {
        Self(match byte {
            IP => Self::IP,
            DM => Self::DM,
            0xF5 => Self::AO,
            0xF6 => Self::AYT,
            0xF3 => Self::BRK,
            _ => Self::OTHER,
        })
    }
}

/// One complete line from the control connection.
///
/// Guarantees: `bytes` holds the line without its line end, with Telnet decoding undone
/// (`IAC IAC` → `0xFF`, `CR NUL` → `CR`, Telnet commands removed); it is at most
/// [`LineConfig::max_line_len`] long. It may contain any other byte, including CR, LF (after
/// `CR NUL`) and non-UTF-8 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The decoded line, without the line end.
    pub bytes: Bytes,
    /// Telnet commands seen while this line was being received.
    pub telnet: TelnetSignals,
}

/// Why a line could not be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line was longer than `max_line_len` and was discarded up to its end. The framer
    /// has resynchronised; answer 500 and go on.
    #[error("line too long ({len} bytes)")]
    TooLong {
        /// The length of the discarded line, in decoded bytes.
        len: usize,
    },
    /// A line ran past `flood_limit` bytes without ending. Fatal: close the connection.
    #[error("line exceeds {limit} bytes without ending")]
    Flood {
        /// The configured flood limit.
        limit: usize,
    },
    /// Complete lines waiting to be taken exceeded `max_buffered` bytes. Fatal: close the
    /// connection.
    #[error("more than {limit} bytes of unprocessed lines")]
    BufferFull {
        /// The configured limit.
        limit: usize,
    },
}

impl LineError {
    /// True when the connection cannot go on: the framer ignores all further input.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::TooLong { .. })
    }
}

/// Where the decoder is inside a Telnet sequence or a CR LF pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decode {
    Data,
    /// A CR was read and not yet written: LF ends the line, NUL makes it data.
    Cr,
    /// An IAC was read.
    Iac,
    /// `IAC WILL/WONT/DO/DONT` was read; the option byte comes next.
    Option(u8),
    /// Inside `IAC SB ... IAC SE`.
    Sub,
    /// An IAC inside a subnegotiation.
    SubIac,
}

/// Incremental control-connection framer; see the [module docs](self).
///
/// Call [`feed`](Self::feed) with every chunk read, then take lines with
/// [`next_line`](Self::next_line) until it returns `None`, and send whatever
/// [`poll_telnet_reply`](Self::poll_telnet_reply) returns.
#[derive(Debug)]
pub struct LineFramer {
    config: LineConfig,
    state: Decode,
    /// Decoded bytes of the line being received (empty while discarding an overlong line).
    current: BytesMut,
    /// Decoded length of the line being received, counting discarded bytes.
    current_len: usize,
    /// The line being received is over `max_line_len` and is being discarded.
    discarding: bool,
    /// The last decoded byte came from the `CR NUL` pad, so an LF now is data.
    after_cr_nul: bool,
    /// Telnet commands seen during the line being received.
    line_signals: TelnetSignals,
    /// Telnet commands seen since the last [`take_signals`](Self::take_signals).
    pending_signals: TelnetSignals,
    ready: VecDeque<Result<Line, LineError>>,
    /// Bytes of complete lines in `ready`.
    ready_bytes: usize,
    failed: bool,
    telnet_reply: BytesMut,
    /// Options already refused, one bit per option byte: `[0]` answered WILL, `[1]` answered DO.
    refused: [[u64; 4]; 2],
}

impl Default for LineFramer {
    fn default() -> Self {
        Self::new(LineConfig::default())
    }
}

impl LineFramer {
    /// A framer with the given limits.
    pub fn new(config: LineConfig) -> Self {
        let config = LineConfig {
            flood_limit: config.flood_limit.max(config.max_line_len),
            ..config
        };
        Self {
            config,
            state: Decode::Data,
            current: BytesMut::new(),
            current_len: 0,
            discarding: false,
            after_cr_nul: false,
            line_signals: TelnetSignals::NONE,
            pending_signals: TelnetSignals::NONE,
            ready: VecDeque::new(),
            ready_bytes: 0,
            failed: false,
            telnet_reply: BytesMut::new(),
            refused: [[0; 4]; 2],
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &LineConfig {
        &self.config
    }

    /// Decodes a chunk of control-connection bytes. Ignored once a fatal error was queued.
    pub fn feed(&mut self, mut input: &[u8]) {
        while !input.is_empty() && !self.failed {
            if self.state == Decode::Data {
                let Some(at) = memchr::memchr3(b'\r', b'\n', IAC, input) else {
                    self.push_data(input);
                    return;
                };
                self.push_data(&input[..at]);
                self.special_byte(input[at]);
                input = &input[at + 1..];
            } else {
                self.sequence_byte(input[0]);
                input = &input[1..];
            }
        }
    }

    /// The next complete line or line error, in arrival order. After a fatal error the framer
    /// yields nothing more.
    pub fn next_line(&mut self) -> Option<Result<Line, LineError>> {
        let item = self.ready.pop_front()?;
        if let Ok(line) = &item {
            self.ready_bytes -= line.bytes.len();
        }
        if self.ready.is_empty() {
            // Emptied: the queue's room goes too, so that an idle connection holds none.
            self.ready = VecDeque::new();
        }
        Some(item)
    }

    /// True when at least one line or error is waiting in [`next_line`](Self::next_line).
    pub fn has_line(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Telnet commands seen since the last call, whether or not their line is complete: an
    /// early sign (`IAC IP`, `IAC DM`) that ABOR or STAT is on its way.
    pub fn take_signals(&mut self) -> TelnetSignals {
        core::mem::take(&mut self.pending_signals)
    }

    /// Bytes to send back to refuse Telnet options the peer offered (`IAC DONT x` for
    /// `IAC WILL x`, `IAC WONT x` for `IAC DO x`); each option is refused at most once, so this
    /// is never more than 1536 bytes in a session.
    pub fn poll_telnet_reply(&mut self) -> Option<Bytes> {
        (!self.telnet_reply.is_empty()).then(|| self.telnet_reply.split().freeze())
    }

    /// Drops every buffered byte and partial line and resets the Telnet state, keeping the
    /// configuration. Used when the byte stream changes meaning (after `AUTH TLS` is accepted,
    /// plaintext that was pipelined behind it must never be executed).
    pub fn discard_buffered(&mut self) {
        *self = Self {
            refused: self.refused,
            ..Self::new(self.config)
        };
    }

    /// Bytes of partial and complete lines held right now.
    pub fn buffered_len(&self) -> usize {
        self.ready_bytes + self.current.len()
    }

    /// Appends plain data bytes to the line being received.
    fn push_data(&mut self, data: &[u8]) {
        if data.is_empty() || self.failed {
            return;
        }
        self.after_cr_nul = false;
        self.current_len += data.len();
        if self.discarding {
            self.check_flood();
        } else if self.current_len > self.config.max_line_len {
            self.discarding = true;
            self.current.clear();
            self.check_flood();
        } else {
            self.current.extend_from_slice(data);
        }
    }

    fn check_flood(&mut self) {
        if self.current_len >= self.config.flood_limit {
            self.fail(LineError::Flood {
                limit: self.config.flood_limit,
            });
        }
    }

    fn fail(&mut self, error: LineError) {
        self.failed = true;
        self.current.clear();
        self.ready.push_back(Err(error));
    }

    /// A CR, LF or IAC met in [`Decode::Data`].
    fn special_byte(&mut self, byte: u8) {
        match byte {
            b'\r' => self.state = Decode::Cr,
            b'\n' if self.config.bare_lf == BareLf::EndsLine && !self.after_cr_nul => {
                self.end_line()
            }
            b'\n' => self.push_data(b"\n"),
            _ => self.state = Decode::Iac,
        }
    }

    /// One byte while inside a CR pair or a Telnet sequence.
    fn sequence_byte(&mut self, byte: u8) {
        match (self.state, byte) {
            (Decode::Cr, b'\n') => {
                self.state = Decode::Data;
                self.end_line();
            }
            (Decode::Cr, 0) => {
                self.state = Decode::Data;
                self.push_data(b"\r");
                self.after_cr_nul = true;
            }
            (Decode::Cr, b'\r') => self.push_data(b"\r"),
            (Decode::Cr, _) => {
                self.push_data(b"\r");
                self.state = Decode::Data;
                self.feed_one(byte);
            }
            (Decode::Iac, IAC) => {
                self.state = Decode::Data;
                self.push_data(&[IAC]);
            }
            (Decode::Iac, WILL..=DONT) => self.state = Decode::Option(byte),
            (Decode::Iac, SB) => {
                self.signal(TelnetSignals(TelnetSignals::NEGOTIATION));
                self.state = Decode::Sub;
            }
            (Decode::Iac, _) => {
                self.state = Decode::Data;
                self.signal(TelnetSignals::from_command(byte));
            }
            (Decode::Option(verb), option) => {
                self.state = Decode::Data;
                self.signal(TelnetSignals(TelnetSignals::NEGOTIATION));
                self.refuse_option(verb, option);
            }
            (Decode::Sub, IAC) => self.state = Decode::SubIac,
            (Decode::Sub, _) => {}
            (Decode::SubIac, SE) => self.state = Decode::Data,
            (Decode::SubIac, _) => self.state = Decode::Sub,
            (Decode::Data, _) => self.feed_one(byte),
        }
    }

    fn feed_one(&mut self, byte: u8) {
        match byte {
            b'\r' | b'\n' | IAC => self.special_byte(byte),
            _ => self.push_data(&[byte]),
        }
    }

    fn signal(&mut self, signals: TelnetSignals) {
        self.line_signals = self.line_signals.union(signals);
        self.pending_signals = self.pending_signals.union(signals);
    }

    /// Answers `WILL x` with `DONT x` and `DO x` with `WONT x`, once per option; WONT and DONT
    /// need no answer.
    fn refuse_option(&mut self, verb: u8, option: u8) {
        let (table, answer) = match verb {
            WILL => (0, DONT),
            DO => (1, WONT),
            _ => return,
        };
        let (word, bit) = (usize::from(option / 64), 1u64 << (option % 64));
        if self.refused[table][word] & bit == 0 {
            self.refused[table][word] |= bit;
            self.telnet_reply.extend_from_slice(&[IAC, answer, option]);
        }
    }

    fn end_line(&mut self) {
        if self.failed {
            return;
        }
        self.after_cr_nul = false;
        let telnet = core::mem::take(&mut self.line_signals);
        let len = core::mem::take(&mut self.current_len);
        if core::mem::take(&mut self.discarding) {
            self.ready.push_back(Err(LineError::TooLong { len }));
            return;
        }
        let bytes = self.current.split().freeze();
        self.ready_bytes += bytes.len();
        self.ready.push_back(Ok(Line { bytes, telnet }));
        if self.ready_bytes > self.config.max_buffered {
            self.fail(LineError::BufferFull {
                limit: self.config.max_buffered,
            });
        }
    }
}

/// A byte that cannot be written inside a command argument or reply text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForbiddenByte {
    /// A CR, refused unless [`CrEncoding::EscapeAsCrNul`] is chosen.
    #[error("CR inside a line (would end it on some peers)")]
    Cr,
    /// An LF: it would end the line and let the rest be read as another command or reply.
    #[error("LF inside a line (would end it)")]
    Lf,
    /// A NUL, which FTP never allows inside a line.
    #[error("NUL inside a line")]
    Nul,
}

/// How a CR inside a command argument or reply text is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CrEncoding {
    /// Refuse it ([`ForbiddenByte::Cr`]): the safe default, since peers that end lines at a bare
    /// CR would read the rest as a new command.
    #[default]
    Refuse,
    /// Write it as `CR NUL`, as RFC 2640 §3.1 prescribes for pathnames that contain CR.
    EscapeAsCrNul,
}

/// Appends `text` to `out` in control-connection form: `0xFF` doubled (`IAC IAC`), CR handled as
/// `cr` says; LF and NUL refused. On error `out` is left as it was.
pub fn escape_text(out: &mut BytesMut, text: &[u8], cr: CrEncoding) -> Result<(), ForbiddenByte> {
    if memchr::memchr(0, text).is_some() {
        return Err(ForbiddenByte::Nul);
    }
    let start = out.len();
    let mut rest = text;
    while let Some(at) = memchr::memchr3(IAC, b'\r', b'\n', rest) {
        out.put_slice(&rest[..at]);
        match (rest[at], cr) {
            (IAC, _) => out.put_slice(&[IAC, IAC]),
            (b'\r', CrEncoding::EscapeAsCrNul) => out.put_slice(b"\r\0"),
            (b'\r', CrEncoding::Refuse) => return Err(refuse(out, start, ForbiddenByte::Cr)),
            _ => return Err(refuse(out, start, ForbiddenByte::Lf)),
        }
        rest = &rest[at + 1..];
    }
    out.put_slice(rest);
    Ok(())
}

fn refuse(out: &mut BytesMut, start: usize, error: ForbiddenByte) -> ForbiddenByte {
    out.truncate(start);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framer: &mut LineFramer) -> Vec<Result<Vec<u8>, LineError>> {
        core::iter::from_fn(|| framer.next_line())
            .map(|item| item.map(|line| line.bytes.to_vec()))
            .collect()
    }

    #[test]
    fn splits_crlf_lines_in_one_read() {
        let mut framer = LineFramer::default();
        framer.feed(b"NOOP\r\nPWD\r\nRET");
        assert_eq!(
            lines(&mut framer),
            vec![Ok(b"NOOP".to_vec()), Ok(b"PWD".to_vec())]
        );
        framer.feed(b"R x\r\n");
        assert_eq!(lines(&mut framer), vec![Ok(b"RETR x".to_vec())]);
    }

    #[test]
    fn bare_lf_is_data_in_strict_mode() {
        let mut framer = LineFramer::new(LineConfig {
            bare_lf: BareLf::IsData,
            ..Default::default()
        });
        framer.feed(b"RETR a\nb\r\n");
        assert_eq!(lines(&mut framer), vec![Ok(b"RETR a\nb".to_vec())]);
    }

    #[test]
    fn lone_cr_is_data() {
        let mut framer = LineFramer::default();
        framer.feed(b"A\rB\r\r\n");
        assert_eq!(lines(&mut framer), vec![Ok(b"A\rB\r".to_vec())]);
    }

    #[test]
    fn overlong_line_is_reported_then_framer_resynchronises() {
        let mut framer = LineFramer::new(LineConfig {
            max_line_len: 8,
            flood_limit: 100,
            ..Default::default()
        });
        framer.feed(b"0123456789ab\r\nNOOP\r\n");
        assert_eq!(
            lines(&mut framer),
            vec![Err(LineError::TooLong { len: 12 }), Ok(b"NOOP".to_vec())]
        );
    }

    #[test]
    fn flood_is_fatal_and_stops_decoding() {
        let mut framer = LineFramer::new(LineConfig {
            max_line_len: 8,
            flood_limit: 32,
            ..Default::default()
        });
        framer.feed(&[b'a'; 40]);
        framer.feed(b"\r\nNOOP\r\n");
        let got = lines(&mut framer);
        assert_eq!(got, vec![Err(LineError::Flood { limit: 32 })]);
        assert!(got[0].as_ref().unwrap_err().is_fatal());
    }

    #[test]
    fn too_many_buffered_lines_is_fatal() {
        let mut framer = LineFramer::new(LineConfig {
            max_buffered: 10,
            ..Default::default()
        });
        framer.feed(b"NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n");
        assert_eq!(
            lines(&mut framer),
            vec![
                Ok(b"NOOP".to_vec()),
                Ok(b"NOOP".to_vec()),
                Ok(b"NOOP".to_vec()),
                Err(LineError::BufferFull { limit: 10 })
            ]
        );
    }

    #[test]
    fn signals_are_visible_before_the_line_ends() {
        let mut framer = LineFramer::default();
        framer.feed(&[IAC, IP, IAC, DM, b'A', b'B']);
        let early = framer.take_signals();
        assert!(early.interrupt_process() && early.data_mark() && early.is_urgent());
        assert!(framer.next_line().is_none());
        framer.feed(b"OR\r\n");
        let line = framer.next_line().unwrap().unwrap();
        assert_eq!(&line.bytes[..], b"ABOR");
        assert!(line.telnet.is_urgent());
        assert!(framer.take_signals().is_empty());
    }

    #[test]
    fn each_option_is_refused_once() {
        let mut framer = LineFramer::default();
        framer.feed(&[IAC, WILL, 1, IAC, WILL, 1, IAC, DO, 1]);
        assert_eq!(
            framer.poll_telnet_reply().unwrap(),
            &[IAC, DONT, 1, IAC, WONT, 1][..]
        );
        assert!(framer.poll_telnet_reply().is_none());
    }

    #[test]
    fn discard_buffered_drops_pipelined_plaintext() {
        let mut framer = LineFramer::default();
        framer.feed(b"USER evil\r\nPASS x");
        framer.discard_buffered();
        framer.feed(b"NOOP\r\n");
        assert_eq!(lines(&mut framer), vec![Ok(b"NOOP".to_vec())]);
    }

    #[test]
    fn escape_text_doubles_iac_and_refuses_line_breaks() {
        let mut out = BytesMut::from(&b"X "[..]);
        escape_text(&mut out, b"/a\xffb", CrEncoding::Refuse).unwrap();
        assert_eq!(&out[..], b"X /a\xff\xffb");
        assert_eq!(
            escape_text(&mut out, b"a\nb", CrEncoding::Refuse),
            Err(ForbiddenByte::Lf)
        );
        assert_eq!(
            escape_text(&mut out, b"a\rb", CrEncoding::Refuse),
            Err(ForbiddenByte::Cr)
        );
        assert_eq!(
            escape_text(&mut out, b"a\0b", CrEncoding::EscapeAsCrNul),
            Err(ForbiddenByte::Nul)
        );
        assert_eq!(
            &out[..],
            b"X /a\xff\xffb",
            "a refused write leaves the buffer as it was"
        );
        escape_text(&mut out, b"\ry", CrEncoding::EscapeAsCrNul).unwrap();
        assert_eq!(&out[..], b"X /a\xff\xffb\r\0y");
    }
}
