//! Directory listings: MLSx fact lines, LIST parsers and formatters.
//!
//! # Reading listings (clients)
//!
//! [`parse_list_line`] reads one line of `LIST` output, an `MLSD` line or an `MLST` entry line
//! into an [`Entry`]; [`parse_listing`] walks a whole listing and skips blank and `total N`
//! lines. The format is detected per line unless [`ParseContext::format`] names it:
//!
//! | [`ListFormat`] | shape |
//! |---|---|
//! | `Unix` | `ls -l`: GNU, BSD and busybox `ls`, vsftpd, proftpd, pure-ftpd, ... |
//! | `Dos` | IIS and Windows: `03-14-24  02:15PM  <DIR>  name`, `03-14-2024  14:15  1234 name` |
//! | `Eplf` | `+i8388621.29609,m824255902,/,<TAB>dev` |
//! | `Mlsd`, `Mlst` | RFC 3659 facts, see [`MlsxEntry`] |
//!
//! Every parser scans bytes directly: no regex, and no allocation except, for an MLSx line,
//! the boxed [`Facts`] and the list of its unregistered facts. Names, targets and fact values
//! stay [`Bytes`] slices of the line, never copied or assumed to be UTF-8; owners and groups,
//! short by nature, are [`Principal`]s, copied inline when short so that reading one costs no
//! reference count. A line that does not parse gives a [`ListError`] that keeps the line; no
//! input makes a parser panic.
//!
//! ## Dates without a year
//!
//! `ls` shows `Mon dd HH:MM` for files changed in the last six months and `Mon dd  YYYY`
//! otherwise; some servers (Twisted) show the time for every date of their current year. This
//! crate never reads a clock, so the caller passes the current time as
//! [`ParseContext::now`], and a date without a year is placed in the latest year that puts it
//! no more than a day after `now` (the day absorbs clocks and time zones that differ). On 15
//! March 2024, `Mar 16 08:00` is 2024 and `Jun 10 08:00` is 2023; on 31 December 2024 at
//! noon, `Jan  1 10:00` is 2025. DOS two-digit years
//! are placed within the eighty years before and twenty after `now`'s year.
//!
//! # Writing listings (servers)
//!
//! [`LsFormatter`] writes `ls -l` lines with columns that line up across the listing,
//! [`format_nlst`] writes NLST names, and [`Entry::to_mlsx`] with
//! [`MlsxEntry::write_mlsd_line`] or [`MlsxEntry::write_mlst_line`] writes MLSx facts. What
//! they write parses back to the same values.

use core::fmt;

use bytes::Bytes;
use memchr::memchr;

use crate::timestamp::Timestamp;

mod dos;
mod eplf;
mod format;
mod mlsx;
mod principal;
mod scan;
mod unix;

pub use format::{format_nlst, FormatError, LsFormatter};
pub(crate) use mlsx::is_rchar;
pub use mlsx::{parse_mlst_reply, FactName, FactType, Facts, MlsxEntry, MlsxError, Perm, PermSet};
pub use principal::Principal;
pub use unix::UnixMode;

/// One entry of a directory listing, whichever format it came in.
///
/// For a parsed entry: `raw` is the whole line as received, without its line terminator;
/// `name` is non-empty and a slice of `raw`; fields the format does not carry are `None`.
/// MLSx and EPLF times are UTC; `ls` and DOS times are the server's local time as it printed
/// them, to the minute (or the day, when the year is shown).
///
/// Servers build entries with [`Entry::new`] and set the fields they know, then hand them to
/// [`LsFormatter`] or [`Entry::to_mlsx`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The line as received, without its terminator (empty for an entry built by hand).
    pub raw: Bytes,
    /// The format the line was read as (`None` for an entry built by hand).
    pub format: Option<ListFormat>,
    /// The name, as bytes. For a symlink in `ls -l` form, the part before ` -> `.
    pub name: Bytes,
    /// What kind of object it is.
    pub kind: EntryKind,
    /// The size in octets (`None` for DOS directories and device files).
    pub size: Option<u64>,
    /// The modification time.
    pub modified: Option<Timestamp>,
    /// Unix permission bits (`ls -l`, the `UNIX.mode` fact, EPLF `up`).
    pub mode: Option<UnixMode>,
    /// The hard link count (`ls -l`).
    pub links: Option<u64>,
    /// The owner, as a name or a number (`ls -l`; `UNIX.ownername`, `UNIX.owner` or
    /// `UNIX.uid` facts).
    pub owner: Option<Principal>,
    /// The group, as a name or a number.
    pub group: Option<Principal>,
    /// Where a symlink points, when the listing says.
    pub link_target: Option<Bytes>,
    /// A device file's numbers (`ls -l` of `c` and `b` entries).
    pub device: Option<Device>,
    /// An identity that is equal for the same object (MLSx `unique`, EPLF `i`).
    pub unique: Option<Bytes>,
    /// All the facts of an MLSx line, including those not mapped to fields above (boxed, so
    /// entries of the other formats stay small).
    pub facts: Option<Box<Facts>>,
}

impl Entry {
    /// An entry with only a name and a kind; every other field is empty.
    pub fn new(name: Bytes, kind: EntryKind) -> Self {
        Self {
            raw: Bytes::new(),
            format: None,
            name,
            kind,
            size: None,
            modified: None,
            mode: None,
            links: None,
            owner: None,
            group: None,
            link_target: None,
            device: None,
            unique: None,
            facts: None,
        }
    }

    /// The entry an MLSx line describes. `type` gives the kind (`cdir` and `pdir` are
    /// directories; `OS.unix=slink:<target>` and `OS.unix=symlink` are symlinks), `size`,
    /// `modify` and `unique` their fields, `UNIX.mode` the mode, and the `UNIX.ownername` /
    /// `UNIX.owner` / `UNIX.uid` (`...group...` / `UNIX.gid`) facts the owner and group, in
    /// that order of preference. The facts themselves are kept in [`Entry::facts`].
    pub fn from_mlsx(mlsx: MlsxEntry) -> Self {
        let MlsxEntry { facts, name } = mlsx;
        let mut entry = Self::new(name, EntryKind::Unknown);
        entry.fill_from_facts(Box::new(facts));
        entry
    }

    /// Sets the fields [`Entry::from_mlsx`] documents from `facts`, and keeps them.
    fn fill_from_facts(&mut self, facts: Box<Facts>) {
        match &facts.kind {
            Some(FactType::File) => self.kind = EntryKind::File,
            Some(kind) if kind.is_dir() => self.kind = EntryKind::Dir,
            Some(FactType::Os { kind, .. }) => {
                if let Some(target) = os_symlink_target(kind) {
                    self.kind = EntryKind::Symlink;
                    self.link_target = target;
                }
            }
            _ => {}
        }
        self.size = facts.size;
        self.modified = facts.modify;
        self.unique.clone_from(&facts.unique);
        self.read_unix_facts(&facts.other);
        self.facts = Some(facts);
    }

    /// Mode, owner and group from `UNIX.*` facts, in one pass over them.
    fn read_unix_facts(&mut self, other: &[(Bytes, Bytes)]) {
        let (mut owner_rank, mut group_rank) = (0, 0);
        for (name, value) in other {
            let Some(fact) = UnixFact::parse(name).filter(|_| !value.is_empty()) else {
                continue;
            };
            match fact {
                UnixFact::Mode if self.mode.is_none() => self.mode = UnixMode::parse_octal(value),
                UnixFact::Owner(rank) if rank > owner_rank => {
                    owner_rank = rank;
                    self.owner = Some(Principal::from(value));
                }
                UnixFact::Group(rank) if rank > group_rank => {
                    group_rank = rank;
                    self.group = Some(Principal::from(value));
                }
                _ => {}
            }
        }
    }

    /// True for the listed directory itself and its parent: MLSx `cdir` and `pdir` entries, and
    /// entries named `.` or `..`.
    pub fn is_self_or_parent(&self) -> bool {
        let by_type = self
            .facts
            .as_ref()
            .and_then(|facts| facts.kind.as_ref())
            .is_some_and(|kind| matches!(kind, FactType::Cdir | FactType::Pdir));
        by_type || self.name == b"."[..] || self.name == b".."[..]
    }
}

/// A `UNIX.*` fact that maps to an [`Entry`] field; owners and groups ranked by preference.
enum UnixFact {
    Mode,
    Owner(u8),
    Group(u8),
}

impl UnixFact {
    fn parse(name: &[u8]) -> Option<Self> {
        let (prefix, rest) = name.split_at_checked(5)?;
        if !prefix.eq_ignore_ascii_case(b"UNIX.") {
            return None;
        }
        let is = |spelling: &[u8]| rest.eq_ignore_ascii_case(spelling);
        Some(match rest.len() {
            4 if is(b"mode") => Self::Mode,
            9 if is(b"ownername") => Self::Owner(3),
            5 if is(b"owner") => Self::Owner(2),
            3 if is(b"uid") => Self::Owner(1),
            9 if is(b"groupname") => Self::Group(3),
            5 if is(b"group") => Self::Group(2),
            3 if is(b"gid") => Self::Group(1),
            _ => return None,
        })
    }
}

/// For an `OS.unix=slink[:target]` or `OS.unix=symlink[:target]` kind, the target if given.
fn os_symlink_target(kind: &Bytes) -> Option<Option<Bytes>> {
    let (word, target) = match memchr(b':', kind) {
        Some(colon) => (kind.get(..colon)?, Some(kind.slice(colon + 1..))),
        None => (&kind[..], None),
    };
    let is_link = word.eq_ignore_ascii_case(b"slink") || word.eq_ignore_ascii_case(b"symlink");
    is_link.then(|| target.filter(|target| !target.is_empty()))
}

/// What kind of object an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory (MLSx `dir`, `cdir` or `pdir`; see [`Entry::is_self_or_parent`]).
    Dir,
    /// A symbolic link (or a Windows junction).
    Symlink,
    /// A character device (`c`).
    CharDevice,
    /// A block device (`b`).
    BlockDevice,
    /// A named pipe (`p`).
    Fifo,
    /// A socket (`s`).
    Socket,
    /// Anything else, or not stated.
    Unknown,
}

/// A device file's major and minor numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    /// The major number (the driver).
    pub major: u32,
    /// The minor number (the unit).
    pub minor: u32,
}

/// A listing line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListFormat {
    /// `ls -l` style.
    Unix,
    /// IIS / Windows style.
    Dos,
    /// Easily Parsed LIST Format.
    Eplf,
    /// An MLSD line: `facts SP pathname`.
    Mlsd,
    /// An MLST entry line: `SP facts SP pathname`.
    Mlst,
}

/// How closely the MLSx parser holds to RFC 3659's grammar (see [`MlsxEntry`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strictness {
    /// Refuse anything the grammar does not allow.
    Strict,
    /// Accept what servers send: an unterminated last fact, odd characters; drop facts that
    /// cannot be read.
    #[default]
    Lenient,
}

/// What a listing parser needs to know besides the line: the current time, the format if it is
/// known, and how strictly to read MLSx lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseContext {
    now: Timestamp,
    format: Option<ListFormat>,
    strictness: Strictness,
    /// The latest time an `ls` date without a year may denote, worked out once from `now`.
    undated_limit: Timestamp,
}

impl ParseContext {
    /// A context for reading listings at `now`: `ls` dates shown without a year are placed
    /// relative to it (see the [module documentation](self)), and so are DOS two-digit years.
    /// The format is detected per line and MLSx lines are read leniently.
    pub fn new(now: Timestamp) -> Self {
        Self {
            now,
            format: None,
            strictness: Strictness::Lenient,
            undated_limit: unix::undated_limit(&now),
        }
    }

    /// This context with every line read as `format`.
    #[must_use]
    pub fn with_format(mut self, format: ListFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// This context with MLSx lines read with `strictness`.
    #[must_use]
    pub fn with_strictness(mut self, strictness: Strictness) -> Self {
        self.strictness = strictness;
        self
    }

    /// The reference time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The format every line is read as, or `None` when it is detected per line.
    pub fn format(&self) -> Option<ListFormat> {
        self.format
    }

    /// How MLSx lines are read.
    pub fn strictness(&self) -> Strictness {
        self.strictness
    }
}

/// A listing line that is not an entry, with the line and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: \"{}\"", .line.escape_ascii())]
#[non_exhaustive]
pub struct ListError {
    /// The line, without its terminator.
    pub line: Bytes,
    /// Why it is not an entry.
    pub reason: ListErrorReason,
}

/// Why a listing line is not an entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListErrorReason {
    /// The line is empty.
    #[error("empty line")]
    Empty,
    /// A `total N` summary line, not an entry.
    #[error("summary line")]
    Summary,
    /// The line is in no format this crate knows.
    #[error("unknown listing format")]
    UnknownFormat,
    /// The line looks like `format` but `field` cannot be read.
    #[error("{format:?} line with a malformed {field}")]
    Malformed {
        /// The format the line was read as.
        format: ListFormat,
        /// The first field that could not be read.
        field: ListField,
    },
    /// An MLSx line that does not parse.
    #[error("MLSx line: {0}")]
    Mlsx(#[from] MlsxError),
}

/// A column or field of a listing line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListField {
    /// The type and permission string (`drwxr-xr-x`) or a mode.
    Permissions,
    /// The owner.
    Owner,
    /// The group.
    Group,
    /// The size, or a device's numbers.
    Size,
    /// The date.
    Date,
    /// The time of day.
    Time,
    /// The name (or a symlink's target).
    Name,
    /// The facts of an EPLF line.
    Facts,
}

impl fmt::Display for ListField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Permissions => "permissions",
            Self::Owner => "owner",
            Self::Group => "group",
            Self::Size => "size",
            Self::Date => "date",
            Self::Time => "time",
            Self::Name => "name",
            Self::Facts => "facts",
        })
    }
}

/// Parses one listing line (a trailing `\r\n`, `\n` or `\r` is ignored) in the format
/// [`ParseContext::format`] names, or the format the line looks like.
///
/// Blank lines and `total N` lines give [`ListErrorReason::Empty`] and
/// [`ListErrorReason::Summary`]; [`parse_listing`] skips them.
pub fn parse_list_line(line: &Bytes, ctx: &ParseContext) -> Result<Entry, ListError> {
    let end = scan::line_end(line);
    let raw = if end == line.len() {
        line.clone()
    } else {
        line.slice(..end)
    };
    parse_raw_line(raw, ctx)
}

/// Parses each line of a whole listing (`LIST` or `MLSD` output), skipping blank and `total N`
/// lines. Lines may end in CRLF or LF; the last may lack a terminator.
pub fn parse_listing(data: Bytes, ctx: ParseContext) -> Listing {
    Listing { data, pos: 0, ctx }
}

/// The iterator [`parse_listing`] returns: one `Result` per line that is meant as an entry.
#[derive(Clone, Debug)]
pub struct Listing {
    data: Bytes,
    pos: usize,
    ctx: ParseContext,
}

impl Iterator for Listing {
    type Item = Result<Entry, ListError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.data.get(self.pos..).filter(|rest| !rest.is_empty())?;
            let (content, consumed) = match memchr(b'\n', rest) {
                Some(lf) => (rest.get(..lf).unwrap_or_default(), lf + 1),
                None => (rest, rest.len()),
            };
            let start = self.pos;
            let end = start + scan::line_end(content);
            self.pos += consumed;
            match parse_raw_line(self.data.slice(start..end), &self.ctx) {
                Err(ListError {
                    reason: ListErrorReason::Empty | ListErrorReason::Summary,
                    ..
                }) => continue,
                parsed => return Some(parsed),
            }
        }
    }
}

/// Parses a line whose terminator is already removed, moving it into the entry or the error.
fn parse_raw_line(raw: Bytes, ctx: &ParseContext) -> Result<Entry, ListError> {
    // The entry is built where it is returned, so the large value is never copied.
    let mut parsed = Ok(Entry::new(Bytes::new(), EntryKind::Unknown));
    if let Ok(entry) = &mut parsed {
        if let Err(reason) = parse_entry(&raw, ctx, entry) {
            return Err(ListError { line: raw, reason });
        }
        entry.raw = raw;
    }
    parsed
}

/// Fills `entry` (a fresh [`Entry::new`]) from `raw`; filling in place keeps the large entry
/// from being moved around.
fn parse_entry(raw: &Bytes, ctx: &ParseContext, entry: &mut Entry) -> Result<(), ListErrorReason> {
    if raw.is_empty() {
        return Err(ListErrorReason::Empty);
    }
    let is_mlsx = matches!(ctx.format, Some(ListFormat::Mlsd | ListFormat::Mlst));
    if !is_mlsx && is_summary(raw) {
        return Err(ListErrorReason::Summary);
    }
    let format = match ctx.format {
        Some(format) => format,
        None => detect(raw).ok_or(ListErrorReason::UnknownFormat)?,
    };
    match format {
        ListFormat::Unix => unix::parse(raw, &ctx.undated_limit, entry)?,
        ListFormat::Dos => dos::parse(raw, &ctx.now, entry)?,
        ListFormat::Eplf => eplf::parse(raw, entry)?,
        ListFormat::Mlsd | ListFormat::Mlst => {
            let mut facts = Box::<Facts>::default();
            let mlst = format == ListFormat::Mlst;
            entry.name = mlsx::parse_line_into(raw, mlst, ctx.strictness, &mut facts)?;
            entry.fill_from_facts(facts);
        }
    }
    entry.format = Some(format);
    Ok(())
}

/// `total 1234`, as `ls -l` starts a listing.
fn is_summary(line: &[u8]) -> bool {
    line.get(..6)
        .is_some_and(|head| head.eq_ignore_ascii_case(b"total "))
}

/// The format `line` looks like.
fn detect(line: &[u8]) -> Option<ListFormat> {
    match line.first()? {
        b'+' => Some(ListFormat::Eplf),
        b' ' if has_facts(line.get(1..)?) => Some(ListFormat::Mlst),
        b' ' => Some(ListFormat::Mlsd),
        b'0'..=b'9' => Some(ListFormat::Dos),
        _ if unix::looks_like_ls(line) => Some(ListFormat::Unix),
        _ if has_facts(line) => Some(ListFormat::Mlsd),
        _ => None,
    }
}

/// True if the text before the first SP holds `=`, as a fact list does.
fn has_facts(line: &[u8]) -> bool {
    let head = line.get(..memchr(b' ', line).unwrap_or(line.len()));
    head.is_some_and(|head| memchr(b'=', head).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ParseContext {
        ParseContext::new(Timestamp::new(2024, 3, 15, 12, 0, 0).unwrap())
    }

    fn parse(line: &'static [u8]) -> Result<Entry, ListError> {
        parse_list_line(&Bytes::from_static(line), &ctx())
    }

    #[test]
    fn detects_each_format() {
        let cases: [(&'static [u8], ListFormat); 6] = [
            (b"-rw-r--r-- 1 a b 1 Mar 14 09:30 x\r\n", ListFormat::Unix),
            (b"03-14-24  09:30AM  <DIR>  x\r\n", ListFormat::Dos),
            (b"+r,s1,\tx\r\n", ListFormat::Eplf),
            (b"type=file;size=1; x\r\n", ListFormat::Mlsd),
            (b" type=file;size=1; x\r\n", ListFormat::Mlst),
            (b" x\r\n", ListFormat::Mlsd),
        ];
        for (line, format) in cases {
            let entry = parse(line).unwrap();
            assert_eq!(entry.format, Some(format), "{}", line.escape_ascii());
            assert_eq!(entry.name, &b"x"[..]);
            assert_eq!(
                &entry.raw[..],
                &line[..line.len() - 2],
                "raw keeps the line"
            );
        }
    }

    #[test]
    fn errors_keep_the_line() {
        let error = parse(b"hello world\r\n").unwrap_err();
        assert_eq!(error.line, &b"hello world"[..]);
        assert_eq!(error.reason, ListErrorReason::UnknownFormat);
        assert_eq!(error.to_string(), "unknown listing format: \"hello world\"");
        assert_eq!(
            parse(b"total 48").unwrap_err().reason,
            ListErrorReason::Summary
        );
        assert_eq!(parse(b"\r\n").unwrap_err().reason, ListErrorReason::Empty);
        let error = parse(b"type=file;size=1;").unwrap_err();
        assert_eq!(error.reason, ListErrorReason::Mlsx(MlsxError::MissingSpace));
    }

    #[test]
    fn a_named_format_is_not_guessed() {
        let line = Bytes::from_static(b"  x");
        let as_mlst = parse_list_line(&line, &ctx().with_format(ListFormat::Mlst)).unwrap();
        assert_eq!(
            (as_mlst.format, &as_mlst.name[..]),
            (Some(ListFormat::Mlst), &b"x"[..])
        );
        let as_mlsd = parse_list_line(&line, &ctx().with_format(ListFormat::Mlsd)).unwrap();
        assert_eq!(&as_mlsd.name[..], b" x");
        let strict = ctx().with_strictness(Strictness::Strict);
        let unterminated = Bytes::from_static(b"type=file x");
        assert!(parse_list_line(&unterminated, &strict).is_err());
        assert!(parse_list_line(&unterminated, &ctx()).is_ok());
        let unix = ctx().with_format(ListFormat::Unix);
        assert!(parse_list_line(&Bytes::from_static(b"03-14-24  09:30AM  1  x"), &unix).is_err());
    }

    #[test]
    fn listing_skips_totals_and_blank_lines() {
        let data = Bytes::from_static(
            b"total 8\r\n-rw-r--r-- 1 a b 1 Mar 14 09:30 one\r\n\r\nbogus\n-rw-r--r-- 1 a b 1 Mar 14 09:30 two",
        );
        let results: Vec<_> = parse_listing(data, ctx()).collect();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0].as_ref().unwrap().name, &b"one"[..]);
        assert_eq!(results[1].as_ref().unwrap_err().line, &b"bogus"[..]);
        assert_eq!(results[2].as_ref().unwrap().name, &b"two"[..]);
    }

    #[test]
    fn mlsx_facts_fill_entry_fields() {
        let entry = parse(b"type=OS.unix=slink:/srv/t;size=3;UNIX.mode=0755;UNIX.owner=1000;UNIX.ownername=ftp;UNIX.gid=50; l").unwrap();
        assert_eq!(entry.kind, EntryKind::Symlink);
        assert_eq!(entry.link_target.as_deref(), Some(&b"/srv/t"[..]));
        assert_eq!(entry.owner.as_deref(), Some(&b"ftp"[..]));
        assert_eq!(entry.group.as_deref(), Some(&b"50"[..]));
        assert_eq!(entry.mode, Some(UnixMode::new(0o755)));
        let bare = parse(b"type=OS.unix=symlink; l").unwrap();
        assert_eq!((bare.kind, bare.link_target), (EntryKind::Symlink, None));
        let other = parse(b"type=OS.unix=slinky:/x; l").unwrap();
        assert_eq!(other.kind, EntryKind::Unknown);
        let cdir = parse(b"type=cdir; /srv").unwrap();
        assert_eq!(cdir.kind, EntryKind::Dir);
        assert!(cdir.is_self_or_parent());
        assert!(!parse(b"type=dir; srv").unwrap().is_self_or_parent());
        assert!(parse(b"drwxr-xr-x 2 a b 1 Mar 14 09:30 ..")
            .unwrap()
            .is_self_or_parent());
    }
}
