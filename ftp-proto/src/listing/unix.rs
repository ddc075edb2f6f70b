//! `ls -l` lines: GNU coreutils, BSD, busybox and the FTP servers that imitate them (vsftpd,
//! proftpd, pure-ftpd, ...).
//!
//! The shape is `mode [links] [owner [group]] size date name`, where `size` is
//! `major, minor` for device files and `date` is `Mon dd HH:MM`, `Mon dd YYYY` or (GNU
//! `--time-style=long-iso`) `YYYY-MM-DD HH:MM`. Columns are found around the date rather than
//! by counting from the left, so a missing link count or group column, multi-word groups and
//! names with spaces or leading digits all parse. The name starts one space after the date:
//! further spaces belong to it.

use core::fmt;

use bytes::Bytes;

use super::scan::{
    parse_clock, parse_grouped_u64, parse_u16, parse_u32, parse_u64, parse_u8, Tokens,
};
use super::{Device, Entry, EntryKind, ListErrorReason, ListField, ListFormat, Principal};
use crate::timestamp::Timestamp;

/// Unix permission bits: read, write and execute for owner, group and others, plus set-user-ID
/// (`0o4000`), set-group-ID (`0o2000`) and sticky (`0o1000`).
///
/// Guarantees: only the low twelve bits (`0o7777`) are ever set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnixMode(u16);

const SETUID: u16 = 0o4000;
const SETGID: u16 = 0o2000;
const STICKY: u16 = 0o1000;

impl UnixMode {
    /// The mode with `bits & 0o7777`.
    pub const fn new(bits: u16) -> Self {
        Self(bits & 0o7777)
    }

    /// The permission bits (at most `0o7777`).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Reads an octal mode such as `0755` or `644` (one to six digits, as in the `UNIX.mode`
    /// fact or EPLF's `up` fact); file-type bits above `0o7777` are dropped.
    pub fn parse_octal(digits: &[u8]) -> Option<Self> {
        if !(1..=6).contains(&digits.len()) {
            return None;
        }
        let bits = digits.iter().try_fold(0u32, |acc, &d| {
            let digit = d.checked_sub(b'0').filter(|&v| v <= 7)?;
            Some(acc * 8 + u32::from(digit))
        })?;
        Some(Self::new((bits & 0o7777) as u16))
    }

    /// Reads the nine permission characters of `ls -l` (`rwxr-sr-t`, ...). `s`/`S` and `t`/`T`
    /// carry the special bits; `l`/`L` in the group execute position mean set-group-ID without
    /// execute (mandatory locking on old systems).
    pub fn parse_ls(chars: &[u8]) -> Option<Self> {
        let [ur, uw, ux, gr, gw, gx, or, ow, ox] = <[u8; 9]>::try_from(chars).ok()?;
        let gx = if gx == b'l' || gx == b'L' { b'S' } else { gx };
        let bits = [
            flag(ur, b'r', 0o400)?,
            flag(uw, b'w', 0o200)?,
            execute(ux, 0o100, SETUID, b's', b'S')?,
            flag(gr, b'r', 0o040)?,
            flag(gw, b'w', 0o020)?,
            execute(gx, 0o010, SETGID, b's', b'S')?,
            flag(or, b'r', 0o004)?,
            flag(ow, b'w', 0o002)?,
            execute(ox, 0o001, STICKY, b't', b'T')?,
        ];
        Some(Self(bits.iter().fold(0, |acc, bit| acc | bit)))
    }

    /// Appends the nine `ls -l` permission characters.
    pub fn write_ls(self, out: &mut Vec<u8>) {
        let bit = |mask: u16| self.0 & mask != 0;
        let letter = |mask: u16, letter: u8| if bit(mask) { letter } else { b'-' };
        let exec = |x: u16, special: u16, set: u8, unset: u8| match (bit(x), bit(special)) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => b'x',
            (false, false) => b'-',
        };
        out.extend_from_slice(&[
            letter(0o400, b'r'),
            letter(0o200, b'w'),
            exec(0o100, SETUID, b's', b'S'),
            letter(0o040, b'r'),
            letter(0o020, b'w'),
            exec(0o010, SETGID, b's', b'S'),
            letter(0o004, b'r'),
            letter(0o002, b'w'),
            exec(0o001, STICKY, b't', b'T'),
        ]);
    }
}

impl fmt::Debug for UnixMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixMode({:#06o})", self.0)
    }
}

impl fmt::Display for UnixMode {
    /// Four octal digits, e.g. `0755`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

fn flag(c: u8, letter: u8, bit: u16) -> Option<u16> {
    match c {
        b'-' => Some(0),
        c if c == letter => Some(bit),
        _ => None,
    }
}

fn execute(c: u8, x: u16, special: u16, set: u8, unset: u8) -> Option<u16> {
    match c {
        b'-' => Some(0),
        b'x' => Some(x),
        c if c == set => Some(x | special),
        c if c == unset => Some(special),
        _ => None,
    }
}

/// The entry kind of an `ls -l` type character.
pub(crate) fn kind_from_char(c: u8) -> Option<EntryKind> {
    Some(match c {
        b'-' => EntryKind::File,
        b'd' => EntryKind::Dir,
        b'l' => EntryKind::Symlink,
        b'c' => EntryKind::CharDevice,
        b'b' => EntryKind::BlockDevice,
        b'p' => EntryKind::Fifo,
        b's' => EntryKind::Socket,
        // Solaris doors, HP-UX network files, BSD whiteouts, unknown.
        b'D' | b'n' | b'w' | b'?' => EntryKind::Unknown,
        _ => return None,
    })
}

/// The `ls -l` type character of `kind`.
pub(crate) fn kind_char(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => b'-',
        EntryKind::Dir => b'd',
        EntryKind::Symlink => b'l',
        EntryKind::CharDevice => b'c',
        EntryKind::BlockDevice => b'b',
        EntryKind::Fifo => b'p',
        EntryKind::Socket => b's',
        EntryKind::Unknown => b'?',
    }
}

/// True if `line` starts with an `ls -l` mode string such as `drwxr-xr-x`.
pub(crate) fn looks_like_ls(line: &[u8]) -> bool {
    match line.get(..10) {
        Some([kind, perms @ ..]) => {
            let is_perm = |c: &u8| {
                matches!(
                    c,
                    b'-' | b'r' | b'w' | b'x' | b's' | b'S' | b't' | b'T' | b'l' | b'L'
                )
            };
            kind_from_char(*kind).is_some() && perms.iter().all(is_perm)
        }
        _ => false,
    }
}

/// How far ahead of the reference time a date shown without a year may lie: one day, for
/// clock differences and time zones between client and server. Not more: a server that shows
/// the time instead of the year for every date of its current year (Twisted's) would put a
/// file of last June a year in the future.
pub(crate) const FUTURE_SECS: i64 = 86_400;

/// How recent a time must be for [`super::LsFormatter`] to show the time of day instead of the
/// year: less than 182 days old and not in the future. Shorter than a year minus
/// [`FUTURE_SECS`], so a formatted line always parses back to its own year.
pub(crate) const RECENT_SECS: i64 = 182 * 86_400;

/// The latest time an `ls` date shown without a year may denote: `now` plus [`FUTURE_SECS`]
/// (the last moment of year 9999 if that is later).
pub(crate) fn undated_limit(now: &Timestamp) -> Timestamp {
    let limit = now.to_unix_seconds().saturating_add(FUTURE_SECS);
    Timestamp::from_unix_seconds(limit)
        .or_else(|_| Timestamp::new(9999, 12, 31, 23, 59, 60))
        .unwrap_or(*now)
}

/// The date of an `ls` line that shows a time of day but no year.
///
/// `ls` shows the time instead of the year for files changed in the last six months, other
/// servers for every date of their current year. The year is the latest one that puts the
/// date no later than `limit`, which is [`undated_limit`] of the reference time (a day after
/// it): with `now` on 15 March 2024, `Mar 16 08:00` is 2024 and `Mar 17 08:00` and
/// `Sep 10 08:00` are 2023. February 29 goes to the latest leap year allowed.
pub(crate) fn infer_year(
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    limit: &Timestamp,
) -> Option<Timestamp> {
    // Compared as calendar values (`Timestamp` orders by its fields, and neither side has a
    // fraction), which spares converting every candidate to seconds.
    let newest = i32::from(limit.year());
    (newest - 8..=newest).rev().find_map(|year| {
        let year = u16::try_from(year).ok()?;
        let date = Timestamp::new(year, month, day, hour, minute, 0).ok()?;
        (date <= *limit).then_some(date)
    })
}

/// True if [`super::LsFormatter`] shows `time` (already cut to the minute) with its time of day.
pub(crate) fn is_recent(time: &Timestamp, now: &Timestamp) -> bool {
    let age = now.to_unix_seconds() - time.to_unix_seconds();
    (0..RECENT_SECS).contains(&age)
}

/// English month abbreviations, as `ls` writes them in the C locale.
pub(crate) const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn month_number(token: &[u8]) -> Option<u8> {
    let [a, b, c] = <[u8; 3]>::try_from(token).ok()?;
    let lower = [a | 0x20, b | 0x20, c | 0x20];
    Some(match &lower {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// Indices tried for the month column, most common first: 5 is `mode links owner group size`,
/// 4 lacks the group (or the link count), 6 is a device (`major, minor`) or a two-word group.
const MONTH_COLUMNS: [usize; 8] = [5, 4, 6, 3, 7, 2, 8, 9];

/// The size column: a size, or a device's numbers.
enum SizeField {
    Size(u64),
    Device(Device),
}

/// Where the columns of one line were found.
struct Layout {
    /// Index of the first token of the size column.
    size_token: usize,
    size: SizeField,
    modified: Timestamp,
    /// Byte offset of the name.
    name_start: usize,
}

/// Parses one `ls -l` line (without its terminator); `undated_limit` places dates shown
/// without a year ([`infer_year`]).
pub(crate) fn parse(
    raw: &Bytes,
    undated_limit: &Timestamp,
    entry: &mut Entry,
) -> Result<(), ListErrorReason> {
    let mut tokens = Tokens::new(raw);
    let (kind, mode) = tokens
        .get(0)
        .and_then(parse_mode_token)
        .ok_or(malformed(ListField::Permissions))?;
    let layout = MONTH_COLUMNS
        .iter()
        .find_map(|&month| layout_at(raw.len(), &mut tokens, month, kind, undated_limit))
        .ok_or(malformed(ListField::Date))?;
    entry.kind = kind;
    entry.mode = Some(mode);
    match layout.size {
        SizeField::Size(size) => entry.size = Some(size),
        SizeField::Device(device) => entry.device = Some(device),
    }
    entry.modified = Some(layout.modified);
    read_owner_columns(raw, &mut tokens, layout.size_token, entry);
    read_name(raw, layout.name_start, entry);
    Ok(())
}

fn malformed(field: ListField) -> ListErrorReason {
    ListErrorReason::Malformed {
        format: ListFormat::Unix,
        field,
    }
}

/// `drwxr-xr-x`, optionally followed by one of `+` (ACL), `.` (SELinux) or `@` (macOS
/// extended attributes).
fn parse_mode_token(token: &[u8]) -> Option<(EntryKind, UnixMode)> {
    let (&kind, rest) = token.split_first()?;
    let perms = match rest {
        [perms @ .., b'+' | b'.' | b'@'] if perms.len() == 9 => perms,
        perms => perms,
    };
    Some((kind_from_char(kind)?, UnixMode::parse_ls(perms)?))
}

/// The layout with the month column at token `month`, if the line fits it.
fn layout_at(
    line_len: usize,
    tokens: &mut Tokens<'_>,
    month: usize,
    kind: EntryKind,
    undated_limit: &Timestamp,
) -> Option<Layout> {
    let (modified, last_date_token) = date_at(tokens, month, undated_limit)?;
    let (size, size_token) = size_before(tokens, month, kind)?;
    let (_, date_end) = tokens.span(last_date_token)?;
    let name_start = date_end + 1;
    (name_start < line_len).then_some(Layout {
        size_token,
        size,
        modified,
        name_start,
    })
}

/// The date starting at token `first`, and the index of its last token.
fn date_at(
    tokens: &mut Tokens<'_>,
    first: usize,
    undated_limit: &Timestamp,
) -> Option<(Timestamp, usize)> {
    let first_token = tokens.get(first)?;
    if let Some(month) = month_number(first_token) {
        let day = tokens.get(first + 1).and_then(parse_day)?;
        let clock_or_year = tokens.get(first + 2)?;
        let date = match parse_clock(clock_or_year) {
            Some((hour, minute)) => infer_year(month, day, hour, minute, undated_limit)?,
            None => {
                let year = parse_year(clock_or_year)?;
                Timestamp::new(year, month, day, 0, 0, 0).ok()?
            }
        };
        return Some((date, first + 2));
    }
    let (year, month, day) = parse_iso_date(first_token)?;
    let (hour, minute) = tokens.get(first + 1).and_then(parse_clock)?;
    let date = Timestamp::new(year, month, day, hour, minute, 0).ok()?;
    Some((date, first + 1))
}

fn parse_day(token: &[u8]) -> Option<u8> {
    (1..=2).contains(&token.len()).then(|| parse_u8(token))?
}

fn parse_year(token: &[u8]) -> Option<u16> {
    (token.len() == 4).then(|| parse_u16(token))?
}

/// `YYYY-MM-DD`.
fn parse_iso_date(token: &[u8]) -> Option<(u16, u8, u8)> {
    match token {
        [y @ .., b'-', m1, m2, b'-', d1, d2] if y.len() == 4 => Some((
            parse_u16(y)?,
            parse_u8(&[*m1, *m2])?,
            parse_u8(&[*d1, *d2])?,
        )),
        _ => None,
    }
}

/// The size column that ends just before token `month`, and the index of its first token.
fn size_before(
    tokens: &mut Tokens<'_>,
    month: usize,
    kind: EntryKind,
) -> Option<(SizeField, usize)> {
    let last = month.checked_sub(1).filter(|&index| index >= 1)?;
    let text = tokens.get(last)?;
    if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
        if let Some(device) = device_before(tokens, last, text) {
            return Some(device);
        }
    }
    Some((SizeField::Size(parse_grouped_u64(text)?), last))
}

/// `major, minor` (two tokens) or `major,minor` (one) ending at token `last`.
fn device_before(tokens: &mut Tokens<'_>, last: usize, text: &[u8]) -> Option<(SizeField, usize)> {
    let device = |major: &[u8], minor: &[u8]| {
        Some(SizeField::Device(Device {
            major: parse_u32(major)?,
            minor: parse_u32(minor)?,
        }))
    };
    if let Some(comma) = memchr::memchr(b',', text) {
        let (major, minor) = text.split_at(comma);
        return Some((device(major, minor.get(1..)?)?, last));
    }
    let first = last.checked_sub(1).filter(|&index| index >= 1)?;
    let major = tokens.get(first)?.strip_suffix(b",")?;
    Some((device(major, text)?, first))
}

/// Link count, owner and group: whatever lies between the mode and the size column.
///
/// One token is the link count if numeric, else the owner. Two are `links owner` if the first
/// is numeric (`ls -o`), else `owner group`. Three or more are `links owner group...`, the
/// group running to the size column (a group name with spaces).
fn read_owner_columns(raw: &Bytes, tokens: &mut Tokens<'_>, size_token: usize, entry: &mut Entry) {
    let links = tokens.get(1).and_then(parse_u64);
    let mut slice = |first: usize, last: usize| {
        let (start, _) = tokens.span(first)?;
        let (_, end) = tokens.span(last)?;
        Some(Principal::from_line(raw, start, end))
    };
    let columns = size_token.saturating_sub(1);
    let owner_token = match (columns, links) {
        (0, _) => return,
        (1, Some(links)) => {
            entry.links = Some(links);
            return;
        }
        (_, Some(links)) => {
            entry.links = Some(links);
            2
        }
        (_, None) => 1,
    };
    if owner_token < size_token {
        entry.owner = slice(owner_token, owner_token);
    }
    if owner_token + 1 < size_token {
        entry.group = slice(owner_token + 1, size_token - 1);
    }
}

/// The name from `name_start` to the end, split at the first ` -> ` for a symlink.
fn read_name(raw: &Bytes, name_start: usize, entry: &mut Entry) {
    let name = raw.slice(name_start..);
    let arrow = match entry.kind {
        EntryKind::Symlink => find_arrow(&name),
        _ => None,
    };
    match arrow {
        Some(arrow) if arrow > 0 => {
            entry.link_target = Some(name.slice(arrow + 4..));
            entry.name = name.slice(..arrow);
        }
        _ => entry.name = name,
    }
}

/// The offset of the first ` -> ` in `name` (found from its `>`, without building a searcher).
fn find_arrow(name: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'>', name).find_map(|gt| {
        let start = gt.checked_sub(2)?;
        let arrow = name.get(start..gt) == Some(&b" -"[..]) && name.get(gt + 1) == Some(&b' ');
        arrow.then_some(start)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::new(2024, 3, 15, 12, 0, 0).unwrap()
    }

    fn parse_line(line: &'static [u8]) -> Result<Entry, ListErrorReason> {
        let mut entry = Entry::new(Bytes::new(), EntryKind::Unknown);
        parse(
            &Bytes::from_static(line),
            &undated_limit(&now()),
            &mut entry,
        )
        .map(|()| entry)
    }

    #[test]
    fn mode_strings() {
        for (text, bits) in [
            (&b"rwxr-xr-x"[..], 0o755),
            (b"rw-r--r--", 0o644),
            (b"rwsr-xr-x", 0o4755),
            (b"rwSr--r--", 0o4644),
            (b"rwxr-sr-x", 0o2755),
            (b"rw-r-lr--", 0o2644),
            (b"rwxrwxrwt", 0o1777),
            (b"rwxrwxrwT", 0o1776),
            (b"---------", 0),
        ] {
            let mode = UnixMode::parse_ls(text).unwrap();
            assert_eq!(mode.bits(), bits, "{}", text.escape_ascii());
            let mut out = Vec::new();
            mode.write_ls(&mut out);
            let expected = if text == b"rw-r-lr--" {
                &b"rw-r-Sr--"[..]
            } else {
                text
            };
            assert_eq!(out, expected);
        }
        assert_eq!(UnixMode::parse_ls(b"rwxr-xr-"), None);
        assert_eq!(UnixMode::parse_ls(b"rwxr-xr-s"), None);
        assert_eq!(UnixMode::parse_octal(b"0755"), Some(UnixMode::new(0o755)));
        assert_eq!(UnixMode::parse_octal(b"100644"), Some(UnixMode::new(0o644)));
        assert_eq!(UnixMode::parse_octal(b"8"), None);
        assert_eq!(UnixMode::new(0o4755).to_string(), "4755");
    }

    #[test]
    fn year_rollover_uses_the_reference_time() {
        let now = now();
        let year_of = |month, day| {
            infer_year(month, day, 8, 0, &undated_limit(&now))
                .unwrap()
                .year()
        };
        assert_eq!(year_of(3, 14), 2024);
        assert_eq!(year_of(3, 16), 2024, "within a day ahead");
        assert_eq!(year_of(3, 17), 2023, "more than a day ahead: last year");
        assert_eq!(
            year_of(6, 10),
            2023,
            "Twisted shows the time for all of this year"
        );
        assert_eq!(year_of(9, 10), 2023);
        assert_eq!(year_of(12, 28), 2023);
        assert_eq!(year_of(2, 29), 2024);
        let new_year = Timestamp::new(2024, 12, 31, 12, 0, 0).unwrap();
        assert_eq!(
            infer_year(1, 1, 10, 0, &undated_limit(&new_year))
                .unwrap()
                .year(),
            2025,
            "a server a few hours ahead, past midnight of New Year"
        );
        assert_eq!(
            infer_year(1, 2, 10, 0, &undated_limit(&new_year))
                .unwrap()
                .year(),
            2024
        );
        let not_leap = Timestamp::new(2023, 3, 1, 0, 0, 0).unwrap();
        assert_eq!(
            infer_year(2, 29, 0, 0, &undated_limit(&not_leap))
                .unwrap()
                .year(),
            2020
        );
        assert!(infer_year(2, 30, 0, 0, &undated_limit(&now)).is_none());
        let early = Timestamp::new(1, 1, 1, 0, 0, 0).unwrap();
        assert!(infer_year(1, 1, 10, 0, &undated_limit(&early)).is_some());
        assert!(
            infer_year(6, 1, 0, 0, &undated_limit(&early)).is_none(),
            "no year 0"
        );
        let late = Timestamp::new(9999, 12, 31, 0, 0, 0).unwrap();
        assert_eq!(
            infer_year(1, 1, 0, 0, &undated_limit(&late))
                .unwrap()
                .year(),
            9999
        );
    }

    #[test]
    fn columns_around_the_date() {
        let entry = parse_line(b"-rw-r--r-- 1 owner 1234 Mar 14 09:30 x").unwrap();
        assert_eq!(entry.links, Some(1));
        assert_eq!(entry.owner.as_deref(), Some(&b"owner"[..]));
        assert_eq!(entry.group, None);
        let entry = parse_line(b"-rw-r--r-- owner group 1234 Mar 14 09:30 x").unwrap();
        assert_eq!(
            (entry.links, entry.owner.as_deref()),
            (None, Some(&b"owner"[..]))
        );
        assert_eq!(entry.group.as_deref(), Some(&b"group"[..]));
        let entry = parse_line(b"-rw-r--r-- 3 owner Domain Users 1234 Mar 14 09:30 x").unwrap();
        assert_eq!(entry.group.as_deref(), Some(&b"Domain Users"[..]));
        let entry = parse_line(b"-rw-r--r-- 1234 Mar 14 09:30 x").unwrap();
        assert_eq!(
            (entry.size, entry.links, entry.owner),
            (Some(1234), None, None)
        );
        let entry = parse_line(b"-rw-r--r-- 1 Jan 5 1234 Nov  5  2019 Dec 1 2020 x").unwrap();
        assert_eq!(entry.owner.as_deref(), Some(&b"Jan"[..]));
        assert_eq!(entry.name, &b"Dec 1 2020 x"[..]);
    }

    #[test]
    fn devices_and_symlinks() {
        let entry = parse_line(b"crw-rw-rw- 1 root root 1, 3 Mar 10 07:41 null").unwrap();
        assert_eq!(entry.device, Some(Device { major: 1, minor: 3 }));
        assert_eq!(entry.size, None);
        let entry = parse_line(b"brw-rw---- 1 root disk 8,0 Mar 10 07:41 sda").unwrap();
        assert_eq!(entry.device, Some(Device { major: 8, minor: 0 }));
        let entry = parse_line(b"crw-rw-rw- 1 root root 0 Mar 10 07:41 null").unwrap();
        assert_eq!((entry.size, entry.device), (Some(0), None));
        let entry = parse_line(b"lrwxrwxrwx 1 root root 7 Mar 10 07:41 a -> b -> c").unwrap();
        assert_eq!(entry.name, &b"a"[..]);
        assert_eq!(entry.link_target.as_deref(), Some(&b"b -> c"[..]));
        let entry = parse_line(b"-rw-r--r-- 1 root root 7 Mar 10 07:41 a -> b").unwrap();
        assert_eq!(
            (entry.name.as_ref(), entry.link_target),
            (&b"a -> b"[..], None)
        );
    }

    #[test]
    fn refusals() {
        let field = |line| match parse_line(line) {
            Err(ListErrorReason::Malformed { field, .. }) => Some(field),
            _ => None,
        };
        assert_eq!(
            field(b"-rw-r--r-X 1 a b 1 Mar 10 07:41 x"),
            Some(ListField::Permissions)
        );
        assert_eq!(
            field(b"-rw-r--r-- 1 a b 1 Mar 10 07:41"),
            Some(ListField::Date)
        );
        assert_eq!(
            field(b"-rw-r--r-- 1 a b 1 Mar 10 07:41 "),
            Some(ListField::Date)
        );
        assert_eq!(
            field(b"-rw-r--r-- 1 a b 1 Feb 30 2020 x"),
            Some(ListField::Date)
        );
        assert_eq!(
            field(b"-rw-r--r-- 1 a b x1 Mar 10 07:41 x"),
            Some(ListField::Date)
        );
        assert_eq!(field(b"-rw-r--r--"), Some(ListField::Date));
        assert!(
            parse_line(b"-rw-r--r-- 1 a b 1 Mar 10 07:41  ").is_ok(),
            "name is one space"
        );
    }
}
