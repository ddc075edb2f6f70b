//! MLST and MLSD fact lines (RFC 3659 §7): [`Facts`] and [`MlsxEntry`], parsed and formatted.
//!
//! An MLSD line (data connection) is `facts SP pathname`; an MLST entry line (control
//! connection, inside a `250-` reply) is the same with one leading SP. `facts` is
//! `1*(name "=" value ";")` and holds no spaces, so the first SP ends the facts and everything
//! after it, trailing spaces included, is the pathname. Pathnames stay bytes ([`Bytes`] slices
//! of the input, not copies) and are never assumed to be UTF-8.
//!
//! [`Strictness::Strict`] follows the grammar of RFC 3659 §7.1 and §7.2: every fact ends with `;`,
//! names are tokens, values are `*SCHAR`, a registered fact appears once and has a valid value.
//! [`Strictness::Lenient`] accepts what servers send instead: an unterminated last fact (the
//! RFC's own §7.7.4 example), characters outside `SCHAR`, and facts it cannot read, which it
//! drops (a malformed `size`, a fact without `=`, unknown `perm` letters) or, when repeated,
//! ignores after the first.

use crate::reply::{Reply, ReplyCode};
use core::fmt;
use core::hash::{Hash, Hasher};
use std::io::Write as _;

use bytes::Bytes;
use memchr::memchr;

use super::format::{check_name, FormatError};
use super::scan::{line_end, parse_u64};
use super::Strictness;
use crate::timestamp::Timestamp;

/// The name of an MLSx fact.
///
/// Fact names are case-insensitive (RFC 3659 §7.1): [`FactName::parse`] recognises registered
/// names in any case, and equality and hashing ignore ASCII case, [`FactName::Other`] included.
#[derive(Clone, Debug)]
pub enum FactName {
    /// `type`: what kind of object the entry is ([`FactType`]).
    Type,
    /// `size`: the size in octets.
    Size,
    /// `modify`: the last modification time.
    Modify,
    /// `create`: the creation time.
    Create,
    /// `unique`: an opaque, case-sensitive identity.
    Unique,
    /// `perm`: what the client may do ([`PermSet`]).
    Perm,
    /// `lang`: the language of the name.
    Lang,
    /// `media-type`: the IANA media type of the content.
    MediaType,
    /// `charset`: the character set of the name.
    Charset,
    /// Any other fact, such as `UNIX.mode` or `X.foo`, spelled as received.
    Other(Bytes),
}

/// The registered facts, for lookups that must not allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KnownFact {
    Type,
    Size,
    Modify,
    Create,
    Unique,
    Perm,
    Lang,
    MediaType,
    Charset,
}

impl KnownFact {
    /// The registered fact called `name`, in any case.
    fn lookup(name: &[u8]) -> Option<Self> {
        let is = |spelling: &[u8]| name.eq_ignore_ascii_case(spelling);
        Some(match name.len() {
            4 if is(b"type") => Self::Type,
            4 if is(b"size") => Self::Size,
            4 if is(b"perm") => Self::Perm,
            4 if is(b"lang") => Self::Lang,
            6 if is(b"modify") => Self::Modify,
            6 if is(b"create") => Self::Create,
            6 if is(b"unique") => Self::Unique,
            7 if is(b"charset") => Self::Charset,
            10 if is(b"media-type") => Self::MediaType,
            _ => return None,
        })
    }

    /// A distinct bit per fact, to notice repeats.
    fn bit(self) -> u16 {
        1 << (self as u16)
    }

    fn name(self) -> FactName {
        match self {
            Self::Type => FactName::Type,
            Self::Size => FactName::Size,
            Self::Modify => FactName::Modify,
            Self::Create => FactName::Create,
            Self::Unique => FactName::Unique,
            Self::Perm => FactName::Perm,
            Self::Lang => FactName::Lang,
            Self::MediaType => FactName::MediaType,
            Self::Charset => FactName::Charset,
        }
    }
}

impl FactName {
    /// Reads a fact name in any case. An unregistered name is copied into [`FactName::Other`];
    /// use [`FactName::from_bytes`] to keep a [`Bytes`] without copying.
    pub fn parse(name: &[u8]) -> Self {
        KnownFact::lookup(name).map_or_else(
            || Self::Other(Bytes::copy_from_slice(name)),
            KnownFact::name,
        )
    }

    /// Like [`FactName::parse`], keeping `name` itself for an unregistered name.
    pub fn from_bytes(name: Bytes) -> Self {
        KnownFact::lookup(&name).map_or(Self::Other(name), KnownFact::name)
    }

    /// The spelling this crate writes: RFC 3659's (`Type`, `Size`, `Modify`, `Create`,
    /// `Unique`, `Perm`, `Lang`, `Media-Type`, `CharSet`), or the received bytes of an
    /// [`FactName::Other`].
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Type => b"Type",
            Self::Size => b"Size",
            Self::Modify => b"Modify",
            Self::Create => b"Create",
            Self::Unique => b"Unique",
            Self::Perm => b"Perm",
            Self::Lang => b"Lang",
            Self::MediaType => b"Media-Type",
            Self::Charset => b"CharSet",
            Self::Other(name) => name,
        }
    }
}

impl PartialEq for FactName {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes().eq_ignore_ascii_case(other.as_bytes())
    }
}

impl Eq for FactName {}

impl Hash for FactName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let bytes = self.as_bytes();
        state.write_usize(bytes.len());
        for byte in bytes {
            state.write_u8(byte.to_ascii_lowercase());
        }
    }
}

impl fmt::Display for FactName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_bytes().escape_ascii())
    }
}

/// The value of the `type` fact (RFC 3659 §7.5.1).
///
/// Parsing ignores case; formatting writes the lowercase RFC spellings and an `Os` type as
/// `OS.<os>=<kind>` with the parts as given.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FactType {
    /// `file`: a regular file.
    File,
    /// `cdir`: the directory being listed.
    Cdir,
    /// `pdir`: a parent of the directory being listed.
    Pdir,
    /// `dir`: a directory inside the one being listed.
    Dir,
    /// `OS.<os>=<kind>`, e.g. `OS.unix=slink:/foobar` gives `os: "unix"`,
    /// `kind: "slink:/foobar"`. The kind may contain `=`.
    Os {
        /// The operating system name (a token, without `=`).
        os: Bytes,
        /// The OS-specific kind, as received.
        kind: Bytes,
    },
}

impl FactType {
    /// True for `dir`, `cdir` and `pdir`.
    pub fn is_dir(&self) -> bool {
        matches!(self, Self::Dir | Self::Cdir | Self::Pdir)
    }

    /// Reads the value `line[start..end]` of a `type` fact.
    fn parse(line: &Bytes, start: usize, end: usize) -> Option<Self> {
        let value = line.get(start..end)?;
        let is = |spelling: &[u8]| value.eq_ignore_ascii_case(spelling);
        if is(b"file") {
            Some(Self::File)
        } else if is(b"dir") {
            Some(Self::Dir)
        } else if is(b"cdir") {
            Some(Self::Cdir)
        } else if is(b"pdir") {
            Some(Self::Pdir)
        } else if value.get(..3)?.eq_ignore_ascii_case(b"os.") {
            let equals = memchr(b'=', value.get(3..)?)?;
            let (os_start, os_end) = (start + 3, start + 3 + equals);
            (equals > 0).then(|| Self::Os {
                os: line.slice(os_start..os_end),
                kind: line.slice(os_end + 1..end),
            })
        } else {
            None
        }
    }

    /// Appends the value; fails when an `Os` part could not be read back.
    fn write_value(&self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let spelling: &[u8] = match self {
            Self::File => b"file",
            Self::Cdir => b"cdir",
            Self::Pdir => b"pdir",
            Self::Dir => b"dir",
            Self::Os { os, kind } => {
                if !is_token(os) || !is_value(kind) {
                    return Err(FormatError::InvalidFact(FactName::Type));
                }
                out.extend_from_slice(b"OS.");
                out.extend_from_slice(os);
                out.push(b'=');
                out.extend_from_slice(kind);
                return Ok(());
            }
        };
        out.extend_from_slice(spelling);
        Ok(())
    }
}

/// One letter of the `perm` fact (RFC 3659 §7.5.5): a command that may succeed on the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Perm {
    /// `a`: APPE to this file.
    Append,
    /// `c`: create files in this directory (STOU, STOR/APPE of new names, RNTO into it).
    Create,
    /// `d`: delete it (DELE for files, RMD for directories).
    Delete,
    /// `e`: CWD into this directory (CDUP for a `pdir`).
    Enter,
    /// `f`: rename it (RNFR).
    Rename,
    /// `l`: list this directory (LIST, NLST, MLSD).
    List,
    /// `m`: make directories in this directory (MKD).
    MakeDir,
    /// `p`: purge the contents of this directory.
    Purge,
    /// `r`: retrieve this file (RETR).
    Read,
    /// `w`: store to this file (STOR).
    Write,
}

impl Perm {
    /// Every letter, in the order [`PermSet`] writes them.
    pub const ALL: [Self; 10] = [
        Self::Append,
        Self::Create,
        Self::Delete,
        Self::Enter,
        Self::Rename,
        Self::List,
        Self::MakeDir,
        Self::Purge,
        Self::Read,
        Self::Write,
    ];

    /// The lowercase letter.
    pub fn letter(self) -> u8 {
        b"acdeflmprw"[self as usize]
    }

    /// The permission written as `letter`, in either case.
    pub fn from_letter(letter: u8) -> Option<Self> {
        let lower = letter.to_ascii_lowercase();
        Self::ALL.into_iter().find(|perm| perm.letter() == lower)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The set of letters of a `perm` fact. An empty set is a valid value (`Perm=;`: nothing is
/// permitted), which is why [`Facts::perm`] is an `Option`: `Some(empty)` differs from an
/// absent fact.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermSet(u16);

impl PermSet {
    /// The empty set.
    pub const EMPTY: Self = Self(0);

    /// Reads perm letters in either case, in any order. Strict: `None` if a byte is not one of
    /// `acdeflmprw`; lenient: such bytes are ignored.
    pub fn parse(letters: &[u8], strictness: Strictness) -> Option<Self> {
        letters.iter().try_fold(Self::EMPTY, |set, &letter| {
            match (Perm::from_letter(letter), strictness) {
                (Some(perm), _) => Some(set.with(perm)),
                (None, Strictness::Lenient) => Some(set),
                (None, Strictness::Strict) => None,
            }
        })
    }

    /// True if `perm` is in the set.
    pub fn contains(self, perm: Perm) -> bool {
        self.0 & perm.bit() != 0
    }

    /// This set with `perm` added.
    #[must_use]
    pub fn with(self, perm: Perm) -> Self {
        Self(self.0 | perm.bit())
    }

    /// Adds `perm`.
    pub fn insert(&mut self, perm: Perm) {
        *self = self.with(perm);
    }

    /// True if nothing is permitted.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions in the set, in [`Perm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Perm> {
        Perm::ALL
            .into_iter()
            .filter(move |&perm| self.contains(perm))
    }

    fn write_to(self, out: &mut Vec<u8>) {
        out.extend(self.iter().map(Perm::letter));
    }
}

impl FromIterator<Perm> for PermSet {
    fn from_iter<I: IntoIterator<Item = Perm>>(perms: I) -> Self {
        perms.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl fmt::Display for PermSet {
    /// The letters in [`Perm::ALL`] order, e.g. `adfrw`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.iter()
            .try_for_each(|perm| write!(f, "{}", char::from(perm.letter())))
    }
}

impl fmt::Debug for PermSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PermSet(\"{self}\")")
    }
}

/// The facts of one MLSx entry.
///
/// Registered facts are typed; every other fact is kept in `other` as its `(name, value)`
/// bytes, in the order received. Values are [`Bytes`] slices of the parsed line. Whatever a
/// field holds, [`Facts::write_to`] either writes a line that parses back to the same
/// `Facts` or refuses with a [`FormatError`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Facts {
    /// `type`.
    pub kind: Option<FactType>,
    /// `size`, in octets.
    pub size: Option<u64>,
    /// `modify` (UTC).
    pub modify: Option<Timestamp>,
    /// `create` (UTC).
    pub create: Option<Timestamp>,
    /// `unique`: compare it byte for byte, case included.
    pub unique: Option<Bytes>,
    /// `perm`: `Some(PermSet::EMPTY)` for a present but empty fact.
    pub perm: Option<PermSet>,
    /// `lang`.
    pub lang: Option<Bytes>,
    /// `media-type`, e.g. `text/plain`.
    pub media_type: Option<Bytes>,
    /// `charset`.
    pub charset: Option<Bytes>,
    /// Every other fact as `(name, value)`, in order, e.g. `(b"UNIX.mode", b"0644")`.
    pub other: Vec<(Bytes, Bytes)>,
}

impl Facts {
    /// Parses a fact list such as `Type=file;Size=12;` (no pathname, no spaces).
    pub fn parse(facts: &Bytes, strictness: Strictness) -> Result<Self, MlsxError> {
        parse_facts(facts, 0, facts.len(), strictness)
    }

    /// True if no fact is present.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The value of the first unregistered fact called `name` (any case), e.g. `UNIX.mode`.
    pub fn other_fact(&self, name: &[u8]) -> Option<&Bytes> {
        self.other
            .iter()
            .find(|(fact, _)| fact.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Appends the facts, each followed by `;`, registered facts first (in [`FactName`]
    /// order) and then `other`. On error nothing is appended.
    pub fn write_to(&self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let mark = out.len();
        let written = self.write_facts(out);
        if written.is_err() {
            out.truncate(mark);
        }
        written
    }

    fn write_facts(&self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        if let Some(kind) = &self.kind {
            out.extend_from_slice(b"Type=");
            kind.write_value(out)?;
            out.push(b';');
        }
        if let Some(size) = self.size {
            let _ = write!(out, "Size={size};");
        }
        write_time(out, FactName::Modify, self.modify.as_ref())?;
        write_time(out, FactName::Create, self.create.as_ref())?;
        write_token(out, FactName::Unique, self.unique.as_deref(), is_token)?;
        if let Some(perm) = self.perm {
            out.extend_from_slice(b"Perm=");
            perm.write_to(out);
            out.push(b';');
        }
        write_token(out, FactName::Lang, self.lang.as_deref(), is_token)?;
        let media = self.media_type.as_deref();
        write_token(out, FactName::MediaType, media, is_media_type)?;
        write_token(out, FactName::Charset, self.charset.as_deref(), is_token)?;
        self.other
            .iter()
            .enumerate()
            .try_for_each(|(index, (name, value))| {
                let earlier = self.other.get(..index).unwrap_or_default();
                if earlier
                    .iter()
                    .any(|(seen, _)| seen.eq_ignore_ascii_case(name))
                {
                    return Err(FormatError::InvalidFact(FactName::Other(name.clone())));
                }
                write_other(out, name, value)
            })
    }
}

fn write_fact(out: &mut Vec<u8>, name: &FactName, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b';');
}

fn write_time(
    out: &mut Vec<u8>,
    name: FactName,
    time: Option<&Timestamp>,
) -> Result<(), FormatError> {
    let Some(time) = time else {
        return Ok(());
    };
    // `time-val` has a four-digit year from 1000 on; earlier years would not parse back.
    if time.year() < 1000 {
        return Err(FormatError::InvalidFact(name));
    }
    out.extend_from_slice(name.as_bytes());
    let _ = write!(out, "={time};");
    Ok(())
}

fn write_token(
    out: &mut Vec<u8>,
    name: FactName,
    value: Option<&[u8]>,
    valid: fn(&[u8]) -> bool,
) -> Result<(), FormatError> {
    match value {
        None => Ok(()),
        Some(value) if valid(value) => {
            write_fact(out, &name, value);
            Ok(())
        }
        Some(_) => Err(FormatError::InvalidFact(name)),
    }
}

fn write_other(out: &mut Vec<u8>, name: &Bytes, value: &Bytes) -> Result<(), FormatError> {
    let valid = is_token(name) && KnownFact::lookup(name).is_none() && is_value(value);
    if !valid {
        return Err(FormatError::InvalidFact(FactName::Other(name.clone())));
    }
    out.extend_from_slice(name);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b';');
    Ok(())
}

/// One MLSx entry: its facts and its pathname.
///
/// The name is the exact bytes after the single SP that ends the facts (leading and trailing
/// spaces included), so a client can send it back unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MlsxEntry {
    /// The facts.
    pub facts: Facts,
    /// The pathname, as bytes.
    pub name: Bytes,
}

impl MlsxEntry {
    /// An entry named `name` with `facts`.
    pub fn new(facts: Facts, name: Bytes) -> Self {
        Self { facts, name }
    }

    /// Parses an MLSD line, `facts SP pathname`, with or without its CRLF. A line starting
    /// with SP has no facts (` /tmp` is the entry `/tmp`).
    pub fn parse_mlsd_line(line: &Bytes, strictness: Strictness) -> Result<Self, MlsxError> {
        parse_entry(line, 0, line_end(line), strictness)
    }

    /// Parses an MLST entry line, `SP facts SP pathname`, with or without its CRLF. Strict
    /// parsing requires the leading SP; lenient parsing reads a line without it as an MLSD
    /// line.
    pub fn parse_mlst_line(line: &Bytes, strictness: Strictness) -> Result<Self, MlsxError> {
        let end = line_end(line);
        match (line.first(), strictness) {
            (Some(b' '), _) => parse_entry(line, 1, end, strictness),
            (_, Strictness::Lenient) => parse_entry(line, 0, end, strictness),
            (_, Strictness::Strict) => Err(MlsxError::MissingLeadingSpace),
        }
    }

    /// Appends the MLSD line `facts SP pathname CRLF`. Fails, appending nothing, if the name
    /// is empty or holds CR or LF, or a fact cannot be written.
    pub fn write_mlsd_line(&self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        check_name(&self.name)?;
        self.facts.write_to(out)?;
        out.push(b' ');
        out.extend_from_slice(&self.name);
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Appends the MLST entry line `SP facts SP pathname CRLF` (to go between the `250-` and
    /// `250` lines of the reply). Fails like [`MlsxEntry::write_mlsd_line`].
    pub fn write_mlst_line(&self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let mark = out.len();
        out.push(b' ');
        let written = self.write_mlsd_line(out);
        if written.is_err() {
            out.truncate(mark);
        }
        written
    }
}

/// The entries of an MLST reply (`250-text`, `1*(SP entry)`, `250 [text]`, RFC 3659 §7.2), as
/// the [`ReplyDecoder`](crate::reply::ReplyDecoder) delivered it: normally one. Strict parsing
/// refuses any inner line that does not start with SP, and entries whose pathnames differ;
/// lenient parsing skips such lines.
pub fn parse_mlst_reply(
    reply: &Reply,
    strictness: Strictness,
) -> Result<Vec<MlsxEntry>, MlsxError> {
    let lines = reply.lines();
    if reply.code() != ReplyCode::FILE_ACTION_OK || lines.len() < 3 {
        return Err(MlsxError::NotMlstReply);
    }
    let mut entries = Vec::new();
    for line in &lines[1..lines.len() - 1] {
        match (line.first(), strictness) {
            (Some(b' '), _) => entries.push(MlsxEntry::parse_mlst_line(line, strictness)?),
            (_, Strictness::Lenient) => {}
            (_, Strictness::Strict) => return Err(MlsxError::NotMlstReply),
        }
    }
    finish_mlst_reply(entries, strictness)
}

fn finish_mlst_reply(
    entries: Vec<MlsxEntry>,
    strictness: Strictness,
) -> Result<Vec<MlsxEntry>, MlsxError> {
    if entries.is_empty() {
        return Err(MlsxError::NotMlstReply);
    }
    let same_names = entries.windows(2).all(|pair| pair[0].name == pair[1].name);
    if strictness == Strictness::Strict && !same_names {
        return Err(MlsxError::PathnameMismatch);
    }
    Ok(entries)
}

/// Why an MLSx line was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MlsxError {
    /// No SP separates the facts from the pathname.
    #[error("no space separates the facts from the pathname")]
    MissingSpace,
    /// Nothing follows the SP after the facts.
    #[error("the pathname is empty")]
    EmptyPathname,
    /// The last fact is not followed by `;` (strict only).
    #[error("the last fact is not terminated by ';'")]
    UnterminatedFact,
    /// A fact is not `token=value` (strict only).
    #[error("a fact is not name=value")]
    MalformedFact,
    /// The same fact appears twice (strict only).
    #[error("the {0} fact appears twice")]
    DuplicateFact(FactName),
    /// A fact's value is not valid for that fact (strict only).
    #[error("the {0} fact has an invalid value")]
    InvalidFactValue(FactName),
    /// An MLST entry line does not begin with SP (strict only).
    #[error("an MLST entry line must begin with a space")]
    MissingLeadingSpace,
    /// Not a `250-` ... `250` reply with at least one entry line.
    #[error("not an MLST reply with entry lines")]
    NotMlstReply,
    /// The entries of one MLST reply name different pathnames (strict only).
    #[error("the entries of one MLST reply name different pathnames")]
    PathnameMismatch,
}

/// Parses `line[start..end]` as `[facts] SP pathname`.
fn parse_entry(
    line: &Bytes,
    start: usize,
    end: usize,
    strictness: Strictness,
) -> Result<MlsxEntry, MlsxError> {
    let mut facts = Facts::default();
    let name = parse_entry_into(line, start, end, strictness, &mut facts)?;
    Ok(MlsxEntry { facts, name })
}

/// Parses `line[start..end]` as `[facts] SP pathname` into `facts` (empty on entry), returning
/// the pathname. Filling in place spares moving the large `Facts` around.
fn parse_entry_into(
    line: &Bytes,
    start: usize,
    end: usize,
    strictness: Strictness,
    facts: &mut Facts,
) -> Result<Bytes, MlsxError> {
    let body = line.get(start..end).ok_or(MlsxError::MissingSpace)?;
    let space = memchr(b' ', body).ok_or(MlsxError::MissingSpace)?;
    let name_start = start + space + 1;
    if name_start >= end {
        return Err(MlsxError::EmptyPathname);
    }
    parse_facts_into(line, start, start + space, strictness, facts)?;
    Ok(line.slice(name_start..end))
}

/// Parses an MLSD line (`mlst`: an MLST entry line) into `facts`, returning the pathname; the
/// listing parser's way in, so that an [`super::Entry`] can own its facts without copying them.
pub(crate) fn parse_line_into(
    line: &Bytes,
    mlst: bool,
    strictness: Strictness,
    facts: &mut Facts,
) -> Result<Bytes, MlsxError> {
    let end = line_end(line);
    let start = match (mlst, line.first(), strictness) {
        (false, _, _) => 0,
        (true, Some(b' '), _) => 1,
        (true, _, Strictness::Lenient) => 0,
        (true, _, Strictness::Strict) => return Err(MlsxError::MissingLeadingSpace),
    };
    parse_entry_into(line, start, end, strictness, facts)
}

/// Parses the facts in `line[start..end]`.
fn parse_facts(
    line: &Bytes,
    start: usize,
    end: usize,
    strictness: Strictness,
) -> Result<Facts, MlsxError> {
    let mut facts = Facts::default();
    parse_facts_into(line, start, end, strictness, &mut facts)?;
    Ok(facts)
}

/// Parses the facts in `line[start..end]` into `facts` (empty on entry).
fn parse_facts_into(
    line: &Bytes,
    start: usize,
    end: usize,
    strictness: Strictness,
    facts: &mut Facts,
) -> Result<(), MlsxError> {
    let mut reader = FactReader {
        line,
        strict: strictness == Strictness::Strict,
        facts,
        seen: 0,
    };
    // One pass: note each fact's first `=` and hand the fact over at its `;`.
    let mut fact_start = start;
    let mut equals = None;
    for (offset, &byte) in line.get(start..end).unwrap_or_default().iter().enumerate() {
        let at = start + offset;
        match byte {
            b'=' if equals.is_none() => equals = Some(at),
            b';' => {
                reader.read_fact(fact_start, equals, at)?;
                fact_start = at + 1;
                equals = None;
            }
            _ => {}
        }
    }
    if fact_start < end {
        if reader.strict {
            return Err(MlsxError::UnterminatedFact);
        }
        reader.read_fact(fact_start, equals, end)?;
    }
    Ok(())
}

/// Accumulates the facts of one line.
struct FactReader<'a> {
    line: &'a Bytes,
    strict: bool,
    facts: &'a mut Facts,
    /// [`KnownFact::bit`]s of the registered facts already met.
    seen: u16,
}

impl FactReader<'_> {
    /// Reads the fact `line[start..end]` (without its `;`), whose first `=` is at `equals`.
    fn read_fact(
        &mut self,
        start: usize,
        equals: Option<usize>,
        end: usize,
    ) -> Result<(), MlsxError> {
        let equals = match equals {
            Some(equals) if equals > start => equals,
            _ => return self.refuse(MlsxError::MalformedFact),
        };
        let name = self.line.get(start..equals).unwrap_or_default();
        let value_start = equals + 1;
        if self.strict && !is_token(name) {
            return Err(MlsxError::MalformedFact);
        }
        let Some(known) = KnownFact::lookup(name) else {
            return self.add_other(start, value_start, end);
        };
        let value = self.line.get(value_start..end).unwrap_or_default();
        if self.strict && !is_value(value) {
            return Err(MlsxError::InvalidFactValue(known.name()));
        }
        self.set_known(known, value_start, end)
    }

    /// Strict: `error`. Lenient: the fact is dropped.
    fn refuse(&self, error: MlsxError) -> Result<(), MlsxError> {
        if self.strict {
            Err(error)
        } else {
            Ok(())
        }
    }

    fn add_other(
        &mut self,
        name_start: usize,
        value_start: usize,
        end: usize,
    ) -> Result<(), MlsxError> {
        let name = other_fact_name(self.line, name_start, value_start - 1);
        let value = self.line.slice(value_start..end);
        if self.strict {
            if !is_value(&value) {
                return Err(MlsxError::InvalidFactValue(FactName::Other(name)));
            }
            if self.facts.other_fact(&name).is_some() {
                return Err(MlsxError::DuplicateFact(FactName::Other(name)));
            }
        }
        self.facts.other.push((name, value));
        Ok(())
    }

    fn set_known(&mut self, fact: KnownFact, start: usize, end: usize) -> Result<(), MlsxError> {
        if self.seen & fact.bit() != 0 {
            return self.refuse(MlsxError::DuplicateFact(fact.name()));
        }
        self.seen |= fact.bit();
        let value = self.line.get(start..end).unwrap_or_default();
        let text = |valid: fn(&[u8]) -> bool| {
            let ok = if self.strict {
                valid(value)
            } else {
                !value.is_empty()
            };
            ok.then(|| self.line.slice(start..end))
        };
        let facts = &mut *self.facts;
        let stored = match fact {
            KnownFact::Type => FactType::parse(self.line, start, end).map(|t| facts.kind = Some(t)),
            KnownFact::Size => parse_u64(value).map(|size| facts.size = Some(size)),
            KnownFact::Modify => Timestamp::parse(value).ok().map(|t| facts.modify = Some(t)),
            KnownFact::Create => Timestamp::parse(value).ok().map(|t| facts.create = Some(t)),
            KnownFact::Unique => text(is_token).map(|u| facts.unique = Some(u)),
            KnownFact::Perm => {
                let strictness = if self.strict {
                    Strictness::Strict
                } else {
                    Strictness::Lenient
                };
                PermSet::parse(value, strictness).map(|p| facts.perm = Some(p))
            }
            KnownFact::Lang => text(is_token).map(|l| facts.lang = Some(l)),
            KnownFact::MediaType => text(is_media_type).map(|m| facts.media_type = Some(m)),
            KnownFact::Charset => text(is_token).map(|c| facts.charset = Some(c)),
        };
        match stored {
            Some(()) => Ok(()),
            None => self.refuse(MlsxError::InvalidFactValue(fact.name())),
        }
    }
}

/// Unregistered fact names that servers send on every line (proftpd, pure-ftpd, vsftpd-like
/// servers). When a name matches one byte for byte it is stored as a static [`Bytes`], which
/// costs no reference count; the bytes are the same either way.
const COMMON_OTHER_FACTS: [&[u8]; 9] = [
    b"UNIX.mode",
    b"UNIX.owner",
    b"UNIX.group",
    b"UNIX.uid",
    b"UNIX.gid",
    b"UNIX.ownername",
    b"UNIX.groupname",
    b"UNIX.chgd",
    b"sizd",
];

/// The name `line[start..end]` of an unregistered fact.
fn other_fact_name(line: &Bytes, start: usize, end: usize) -> Bytes {
    let name = line.get(start..end).unwrap_or_default();
    match COMMON_OTHER_FACTS.iter().find(|common| **common == name) {
        Some(common) => Bytes::from_static(common),
        None => line.slice(start..end),
    }
}

/// `RCHAR` of RFC 3659 §2.1, as a lookup table.
static RCHAR: [bool; 256] = rchar_table();

const fn rchar_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        table[byte] = (byte as u8).is_ascii_alphanumeric();
        byte += 1;
    }
    let punctuation = b",.:!@#$%^&()-_+?/\\'\"";
    let mut i = 0;
    while i < punctuation.len() {
        table[punctuation[i] as usize] = true;
        i += 1;
    }
    table
}

/// True for a byte a fact token may hold (`RCHAR`).
pub(crate) fn is_rchar(byte: u8) -> bool {
    RCHAR[usize::from(byte)]
}

/// `token = 1*RCHAR`.
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_rchar(b))
}

/// `value = *SCHAR` (`SCHAR = RCHAR / "="`).
pub(crate) fn is_value(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == b'=' || is_rchar(b))
}

/// `type "/" subtype`, both tokens.
fn is_media_type(bytes: &[u8]) -> bool {
    match memchr(b'/', bytes) {
        Some(slash) => {
            let (kind, subtype) = bytes.split_at(slash);
            !kind.is_empty() && subtype.len() > 1 && is_token(bytes)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Strictness = Strictness::Strict;
    const LENIENT: Strictness = Strictness::Lenient;

    fn mlsd(line: &'static [u8], strictness: Strictness) -> Result<MlsxEntry, MlsxError> {
        MlsxEntry::parse_mlsd_line(&Bytes::from_static(line), strictness)
    }

    fn perms(letters: &[u8]) -> PermSet {
        PermSet::parse(letters, STRICT).unwrap()
    }

    fn time(text: &[u8]) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    /// The MLST reply in `text`, read by the control-connection reply decoder.
    fn decode(text: &[u8]) -> Reply {
        let mut decoder = crate::reply::ReplyDecoder::default();
        decoder.feed(text);
        decoder
            .next_reply()
            .expect("a complete reply")
            .expect("a valid reply")
    }

    fn reply(text: &'static [u8], strictness: Strictness) -> Vec<MlsxEntry> {
        parse_mlst_reply(&decode(text), strictness).unwrap()
    }

    #[test]
    fn m01_mlst_reply_file_with_size_and_perm() {
        let text = b"250- Listing cap60.pl198.tar.gz\r\n Type=file;Size=1024990;Perm=r; /tmp/cap60.pl198.tar.gz\r\n250 End\r\n";
        for strictness in [STRICT, LENIENT] {
            let entries = reply(text, strictness);
            assert_eq!(entries.len(), 1);
            let entry = &entries[0];
            assert_eq!(entry.facts.kind, Some(FactType::File));
            assert_eq!(entry.facts.size, Some(1_024_990));
            assert_eq!(entry.facts.perm, Some(perms(b"r")));
            assert_eq!(entry.name, &b"/tmp/cap60.pl198.tar.gz"[..]);
        }
    }

    #[test]
    fn m02_mlst_reply_dir_with_modify() {
        let text =
            b"250- Listing tmp\r\n Type=dir;Modify=19981107085215;Perm=el; /tmp\r\n250 End\r\n";
        let entry = &reply(text, STRICT)[0];
        assert_eq!(entry.facts.kind, Some(FactType::Dir));
        assert_eq!(entry.facts.modify, Some(time(b"19981107085215")));
        assert_eq!(entry.facts.perm, Some(perms(b"el")));
        assert!(entry.facts.perm.unwrap().contains(Perm::Enter));
        assert!(entry.facts.perm.unwrap().contains(Perm::List));
        assert_eq!(entry.name, &b"/tmp"[..]);
    }

    #[test]
    fn m03_mlst_reply_without_facts_has_two_spaces() {
        let text = b"250- Listing tmp\r\n  /tmp\r\n250 End\r\n";
        let entry = &reply(text, STRICT)[0];
        assert!(entry.facts.is_empty());
        assert_eq!(entry.name, &b"/tmp"[..]);
        let mut out = Vec::new();
        entry.write_mlst_line(&mut out).unwrap();
        assert_eq!(out, b"  /tmp\r\n");
    }

    #[test]
    fn m04_empty_perm_is_present_and_empty() {
        let line = b"Type=file;Size=25730;Modify=19940728095854;Perm=; capmux.tar.z\r\n";
        let entry = mlsd(line, STRICT).unwrap();
        assert_eq!(entry.facts.perm, Some(PermSet::EMPTY));
        assert_ne!(entry.facts.perm, None);
        assert_eq!(entry.facts.size, Some(25_730));
        assert_eq!(entry.name, &b"capmux.tar.z"[..]);
        let absent = mlsd(b"Type=file; capmux.tar.z\r\n", STRICT).unwrap();
        assert_eq!(absent.facts.perm, None);
    }

    #[test]
    fn m05_pathname_keeps_leading_space() {
        let entry = mlsd(
            b"Type=file;Perm=r;Unique=keVO1+IH4;  leading space\r\n",
            STRICT,
        )
        .unwrap();
        assert_eq!(entry.name, &b" leading space"[..]);
        assert_eq!(entry.facts.unique.as_deref(), Some(&b"keVO1+IH4"[..]));
    }

    #[test]
    fn m06_pathname_with_inner_space() {
        let entry = mlsd(b"Type=file;Perm=r;Unique=keVO1+EG4; two words\r\n", STRICT).unwrap();
        assert_eq!(entry.name, &b"two words"[..]);
    }

    #[test]
    fn m07_os_specific_type_keeps_equals() {
        let line = b"Type=OS.unix=slink:/foobar;Perm=;Unique=keVO1+4G4; foobar\r\n";
        let entry = mlsd(line, STRICT).unwrap();
        assert_eq!(
            entry.facts.kind,
            Some(FactType::Os {
                os: Bytes::from_static(b"unix"),
                kind: Bytes::from_static(b"slink:/foobar"),
            })
        );
        assert_eq!(entry.facts.perm, Some(PermSet::EMPTY));
        assert_eq!(entry.name, &b"foobar"[..]);
    }

    #[test]
    fn m08_cdir_with_lowercase_names() {
        let entry = mlsd(b"type=cdir;unique=AQkAAAAAAAABCAAA; /\r\n", STRICT).unwrap();
        assert_eq!(entry.facts.kind, Some(FactType::Cdir));
        assert_eq!(
            entry.facts.unique.as_deref(),
            Some(&b"AQkAAAAAAAABCAAA"[..])
        );
        assert_eq!(entry.name, &b"/"[..]);
    }

    #[test]
    fn m09_mlsd_line_with_empty_fact_set() {
        let entry = mlsd(b" /tmp\r\n", STRICT).unwrap();
        assert!(entry.facts.is_empty());
        assert_eq!(entry.name, &b"/tmp"[..]);
    }

    #[test]
    fn m10_modify_keeps_fraction() {
        let entry = mlsd(b"Type=file;Modify=19990929003355.237; file1\r\n", STRICT).unwrap();
        let modify = entry.facts.modify.unwrap();
        assert_eq!(modify, time(b"19990929003355.237"));
        assert_eq!(modify.nanos(), 237_000_000);
        assert_eq!(modify.to_string(), "19990929003355.237");
    }

    #[test]
    fn m11_unterminated_last_fact_strict_err_lenient_ok() {
        let line = Bytes::from_static(b" Type=dir;Perm=el;Unique=keVO1+ZF4 test\r\n");
        assert_eq!(
            MlsxEntry::parse_mlst_line(&line, STRICT),
            Err(MlsxError::UnterminatedFact)
        );
        let entry = MlsxEntry::parse_mlst_line(&line, LENIENT).unwrap();
        assert_eq!(entry.facts.kind, Some(FactType::Dir));
        assert_eq!(entry.facts.perm, Some(perms(b"el")));
        assert_eq!(entry.facts.unique.as_deref(), Some(&b"keVO1+ZF4"[..]));
        assert_eq!(entry.name, &b"test"[..]);
    }

    #[test]
    fn m12_fact_names_and_type_values_ignore_case() {
        let entry = mlsd(b"SIZE=12;TYPE=FILE; x\r\n", STRICT).unwrap();
        assert_eq!(entry.facts.size, Some(12));
        assert_eq!(entry.facts.kind, Some(FactType::File));
        assert_eq!(FactName::parse(b"SIZE"), FactName::Size);
        assert_eq!(FactName::parse(b"unix.MODE"), FactName::parse(b"UNIX.mode"));
    }

    #[test]
    fn m13_unique_values_are_case_sensitive() {
        let a = mlsd(b"Unique=keVO1+bD8; file1\r\n", STRICT).unwrap();
        let b = mlsd(b"Unique=keVO1+bd8; FILE1\r\n", STRICT).unwrap();
        assert_ne!(a.facts.unique, b.facts.unique);
        assert_ne!(a.name, b.name);
    }

    #[test]
    fn m14_invalid_size_dropped_leniently() {
        let entry = mlsd(b"size=abc;type=file; x\r\n", LENIENT).unwrap();
        assert_eq!(entry.facts.size, None);
        assert_eq!(entry.facts.kind, Some(FactType::File));
        assert_eq!(
            mlsd(b"size=abc;type=file; x\r\n", STRICT),
            Err(MlsxError::InvalidFactValue(FactName::Size))
        );
    }

    #[test]
    fn other_facts_keep_order_and_bytes() {
        let line = b"type=file;UNIX.mode=0644;UNIX.owner=ftp;X.a=b=c; f";
        let entry = mlsd(line, STRICT).unwrap();
        let names: Vec<&[u8]> = entry.facts.other.iter().map(|(n, _)| &n[..]).collect();
        assert_eq!(names, [&b"UNIX.mode"[..], b"UNIX.owner", b"X.a"]);
        assert_eq!(
            entry.facts.other_fact(b"unix.MODE").map(|v| &v[..]),
            Some(&b"0644"[..])
        );
        assert_eq!(
            entry.facts.other_fact(b"X.a").map(|v| &v[..]),
            Some(&b"b=c"[..])
        );
    }

    #[test]
    fn strict_refusals_and_lenient_recoveries() {
        let cases: [(&'static [u8], MlsxError); 7] = [
            (
                b"type=file;type=dir; x",
                MlsxError::DuplicateFact(FactName::Type),
            ),
            (b"novalue;type=file; x", MlsxError::MalformedFact),
            (b"=x;type=file; x", MlsxError::MalformedFact),
            (b"perm=rz; x", MlsxError::InvalidFactValue(FactName::Perm)),
            (b"type=link; x", MlsxError::InvalidFactValue(FactName::Type)),
            (
                b"modify=20030229000000; x",
                MlsxError::InvalidFactValue(FactName::Modify),
            ),
            (
                b"X.a=1;x.A=2; x",
                MlsxError::DuplicateFact(FactName::parse(b"X.a")),
            ),
        ];
        for (line, error) in cases {
            assert_eq!(mlsd(line, STRICT), Err(error), "{}", line.escape_ascii());
            let lenient = mlsd(line, LENIENT).unwrap();
            assert_eq!(lenient.name, &b"x"[..]);
        }
        let lenient = mlsd(b"type=file;type=dir;perm=rz; x", LENIENT).unwrap();
        assert_eq!(lenient.facts.kind, Some(FactType::File), "first wins");
        assert_eq!(
            lenient.facts.perm,
            Some(perms(b"r")),
            "unknown letters ignored"
        );
    }

    #[test]
    fn lines_that_are_not_entries() {
        for strictness in [STRICT, LENIENT] {
            assert_eq!(
                mlsd(b"type=file;", strictness),
                Err(MlsxError::MissingSpace)
            );
            assert_eq!(
                mlsd(b"type=file; ", strictness),
                Err(MlsxError::EmptyPathname)
            );
            assert_eq!(mlsd(b"", strictness), Err(MlsxError::MissingSpace));
        }
        let no_space = Bytes::from_static(b"type=file; x");
        assert_eq!(
            MlsxEntry::parse_mlst_line(&no_space, STRICT),
            Err(MlsxError::MissingLeadingSpace)
        );
        assert!(MlsxEntry::parse_mlst_line(&no_space, LENIENT).is_ok());
    }

    #[test]
    fn mlst_reply_shapes() {
        let two = b"250-x\r\n type=file; a\r\n type=file; b\r\n250 End\r\n";
        assert_eq!(
            parse_mlst_reply(&decode(two), STRICT),
            Err(MlsxError::PathnameMismatch)
        );
        assert_eq!(reply(two, LENIENT).len(), 2);
        let bare_end = b"250-x\n type=file; a\n250\n";
        assert_eq!(reply(bare_end, STRICT)[0].name, &b"a"[..]);
        for bad in [
            &b"250 x\r\n"[..],
            b"250-x\r\n250 End\r\n",
            b"200-x\r\n type=file; a\r\n200 y\r\n",
        ] {
            assert_eq!(
                parse_mlst_reply(&decode(bad), LENIENT),
                Err(MlsxError::NotMlstReply)
            );
        }
    }

    #[test]
    fn formats_facts_in_rfc_spelling() {
        let mut facts = Facts {
            kind: Some(FactType::File),
            size: Some(1_024_990),
            modify: Some(time(b"19981107085215")),
            perm: Some(perms(b"wra")),
            ..Facts::default()
        };
        facts.other.push((
            Bytes::from_static(b"UNIX.mode"),
            Bytes::from_static(b"0644"),
        ));
        let entry = MlsxEntry::new(facts, Bytes::from_static(b"two words"));
        let mut out = Vec::new();
        entry.write_mlsd_line(&mut out).unwrap();
        assert_eq!(
            out,
            b"Type=file;Size=1024990;Modify=19981107085215;Perm=arw;UNIX.mode=0644; two words\r\n"
        );
        out.clear();
        entry.write_mlst_line(&mut out).unwrap();
        assert_eq!(out[0], b' ');
        let back = MlsxEntry::parse_mlst_line(&Bytes::from(out), STRICT).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn refuses_to_format_what_would_not_parse_back() {
        let name = Bytes::from_static(b"x");
        let bad_facts: [Facts; 6] = [
            Facts {
                unique: Some(Bytes::from_static(b"a;b")),
                ..Facts::default()
            },
            Facts {
                kind: Some(FactType::Os {
                    os: Bytes::from_static(b"a=b"),
                    kind: Bytes::new(),
                }),
                ..Facts::default()
            },
            Facts {
                modify: Some(Timestamp::new(999, 1, 1, 0, 0, 0).unwrap()),
                ..Facts::default()
            },
            Facts {
                media_type: Some(Bytes::from_static(b"text")),
                ..Facts::default()
            },
            Facts {
                other: vec![(Bytes::from_static(b"size"), Bytes::from_static(b"1"))],
                ..Facts::default()
            },
            Facts {
                other: vec![
                    (Bytes::from_static(b"X.a"), Bytes::from_static(b"1")),
                    (Bytes::from_static(b"x.A"), Bytes::from_static(b"2")),
                ],
                ..Facts::default()
            },
        ];
        for facts in bad_facts {
            let mut out = b"keep".to_vec();
            let entry = MlsxEntry::new(facts, name.clone());
            assert!(entry.write_mlsd_line(&mut out).is_err(), "{entry:?}");
            assert!(entry.write_mlst_line(&mut out).is_err(), "{entry:?}");
            assert_eq!(out, b"keep", "nothing appended on error");
        }
        for bad_name in [&b""[..], b"a\r\nb", b"a\n"] {
            let entry = MlsxEntry::new(Facts::default(), Bytes::copy_from_slice(bad_name));
            assert!(entry.write_mlsd_line(&mut Vec::new()).is_err());
        }
    }

    #[test]
    fn fact_name_spellings() {
        for name in [
            FactName::Type,
            FactName::Size,
            FactName::Modify,
            FactName::Create,
            FactName::Unique,
            FactName::Perm,
            FactName::Lang,
            FactName::MediaType,
            FactName::Charset,
        ] {
            assert_eq!(FactName::parse(name.as_bytes()), name);
            assert_eq!(FactName::parse(&name.as_bytes().to_ascii_uppercase()), name);
            assert!(!matches!(
                FactName::from_bytes(Bytes::copy_from_slice(name.as_bytes())),
                FactName::Other(_)
            ));
        }
        assert_eq!(
            FactName::parse(b"sizd"),
            FactName::Other(Bytes::from_static(b"SIZD"))
        );
        assert_eq!(FactName::MediaType.to_string(), "Media-Type");
    }
}
