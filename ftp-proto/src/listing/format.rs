//! Listings for servers to send: `ls -l` lines with stable column widths ([`LsFormatter`]),
//! NLST names ([`format_nlst`]) and MLSx facts ([`Entry::to_mlsx`], then
//! [`MlsxEntry::write_mlsd_line`] or [`MlsxEntry::write_mlst_line`]).
//!
//! Every line ends in CRLF. Nothing is written for an entry that could not be read back: a name
//! that is empty or holds CR or LF (RFC 3659 §2.2), or an owner or group with a blank, gives a
//! [`FormatError`] instead.

use std::io::Write as _;

use bytes::Bytes;

use super::mlsx::{is_token, is_value, FactName, FactType, Facts, MlsxEntry};
use super::unix::{is_recent, kind_char, MONTHS};
use super::{Entry, EntryKind, ListField, UnixMode};
use crate::timestamp::Timestamp;

/// Why a listing line was not written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// An empty name cannot be listed.
    #[error("an empty name cannot be listed")]
    EmptyName,
    /// A name holding CR or LF cannot be listed (RFC 3659 §2.2).
    #[error("a name holding CR or LF cannot be listed")]
    LineBreakInName,
    /// A name holding NUL is no pathname (RFC 2640 §3.1 allows octets 1 to 255).
    #[error("a name holding NUL cannot be listed")]
    NulInName,
    /// A fact's value would not parse back (e.g. a `unique` with `;` or a space).
    #[error("the {0} fact cannot be written")]
    InvalidFact(FactName),
    /// A column's value would not parse back (e.g. an owner with a space).
    #[error("the {0} column cannot be written")]
    InvalidField(ListField),
}

/// Refuses names a listing cannot carry: empty, or holding CR, LF or NUL.
pub(crate) fn check_name(name: &[u8]) -> Result<(), FormatError> {
    if name.is_empty() {
        Err(FormatError::EmptyName)
    } else if memchr::memchr2(b'\r', b'\n', name).is_some() {
        Err(FormatError::LineBreakInName)
    } else if memchr::memchr(0, name).is_some() {
        Err(FormatError::NulInName)
    } else {
        Ok(())
    }
}

/// Appends each name followed by CRLF: the NLST listing. Stops at the first name that cannot
/// be listed (empty, or holding CR, LF or NUL), leaving the lines before it in `out`.
pub fn format_nlst<I, N>(names: I, out: &mut Vec<u8>) -> Result<(), FormatError>
where
    I: IntoIterator<Item = N>,
    N: AsRef<[u8]>,
{
    names.into_iter().try_for_each(|name| {
        let name = name.as_ref();
        check_name(name)?;
        out.extend_from_slice(name);
        out.extend_from_slice(b"\r\n");
        Ok(())
    })
}

/// The owner and group written when an entry has none.
const DEFAULT_OWNER: &[u8] = b"ftp";

/// Writes `ls -l` lines whose columns line up across a whole listing:
///
/// ```text
/// drwxr-xr-x    2 ftp      ftp          4096 Mar 14 09:30 pub
/// -rw-r--r--    1 ftp      ftp      10485760 Jan  5  2023 big file.bin
/// lrwxrwxrwx    1 ftp      ftp             3 Mar 14 09:30 latest -> pub
/// ```
///
/// The link count, owner, group and size columns are at least vsftpd's widths (4, 8, 8, 8) and
/// grow to the widest value [`LsFormatter::fit`] has seen, so measure every entry first
/// ([`LsFormatter::for_entries`]) and then write them. Dates follow `ls`: `Mon dd HH:MM` for
/// times less than 182 days before `now` (not in the future), `Mon dd  YYYY` otherwise; with the
/// same `now`, [`super::parse_list_line`] reads every line back to the entry's values (the time
/// cut to the minute, or to the day when the year is shown).
///
/// Missing values are written as: mode `0644` (`0755` for directories, `0777` for symlinks),
/// one link, owner and group `ftp`, size 0, and 1970-01-01 for the time.
#[derive(Clone, Debug)]
pub struct LsFormatter {
    now: Timestamp,
    widths: Widths,
}

#[derive(Clone, Copy, Debug)]
struct Widths {
    links: usize,
    owner: usize,
    group: usize,
    size: usize,
}

impl LsFormatter {
    /// A formatter with the minimum column widths; `now` decides which dates show a year.
    pub fn new(now: Timestamp) -> Self {
        Self {
            now,
            widths: Widths {
                links: 4,
                owner: 8,
                group: 8,
                size: 8,
            },
        }
    }

    /// A formatter whose columns fit all of `entries`.
    pub fn for_entries(now: Timestamp, entries: &[Entry]) -> Self {
        let mut formatter = Self::new(now);
        entries.iter().for_each(|entry| formatter.fit(entry));
        formatter
    }

    /// Widens the columns to fit `entry`.
    pub fn fit(&mut self, entry: &Entry) {
        let widths = &mut self.widths;
        widths.links = widths.links.max(decimal_width(entry.links.unwrap_or(1)));
        widths.owner = widths.owner.max(owner_of(entry).len());
        widths.group = widths.group.max(group_of(entry).len());
        widths.size = widths.size.max(size_column(entry).len());
    }

    /// Appends the line for `entry`, CRLF included. On error nothing is appended.
    pub fn write_entry(&self, entry: &Entry, out: &mut Vec<u8>) -> Result<(), FormatError> {
        check_name(&entry.name)?;
        let (owner, group) = (owner_of(entry), group_of(entry));
        check_column(owner, ListField::Owner)?;
        check_column(group, ListField::Group)?;
        let target = entry
            .link_target
            .as_ref()
            .filter(|_| entry.kind == EntryKind::Symlink);
        if target.is_some_and(|target| memchr::memchr2(b'\r', b'\n', target).is_some()) {
            return Err(FormatError::InvalidField(ListField::Name));
        }
        let widths = self.widths;
        out.push(kind_char(entry.kind));
        mode_of(entry).write_ls(out);
        let links = entry.links.unwrap_or(1);
        let _ = write!(out, " {links:>width$} ", width = widths.links);
        write_padded_right(out, owner, widths.owner);
        write_padded_right(out, group, widths.group);
        let _ = write!(out, "{:>width$} ", size_column(entry), width = widths.size);
        self.write_date(entry.modified.as_ref(), out);
        out.push(b' ');
        out.extend_from_slice(&entry.name);
        if let Some(target) = target {
            out.extend_from_slice(b" -> ");
            out.extend_from_slice(target);
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    /// Appends the lines for `entries`, stopping at the first that cannot be written (the lines
    /// before it stay in `out`). Call [`LsFormatter::fit`] on each entry first, or build the
    /// formatter with [`LsFormatter::for_entries`].
    pub fn write_all(&self, entries: &[Entry], out: &mut Vec<u8>) -> Result<(), FormatError> {
        entries
            .iter()
            .try_for_each(|entry| self.write_entry(entry, out))
    }

    /// `Mon dd HH:MM` or `Mon dd  YYYY`.
    fn write_date(&self, modified: Option<&Timestamp>, out: &mut Vec<u8>) {
        let shown = modified.and_then(|time| {
            let (y, m, d) = (time.year(), time.month(), time.day());
            Timestamp::new(y, m, d, time.hour(), time.minute(), 0).ok()
        });
        let Some(shown) = shown else {
            out.extend_from_slice(b"Jan  1  1970");
            return;
        };
        let month = MONTHS
            .get(usize::from(shown.month()).saturating_sub(1))
            .map_or(&b"Jan"[..], |month| &month[..]);
        out.extend_from_slice(month);
        let _ = write!(out, " {:>2} ", shown.day());
        if is_recent(&shown, &self.now) {
            let _ = write!(out, "{:02}:{:02}", shown.hour(), shown.minute());
        } else {
            let _ = write!(out, " {:04}", shown.year());
        }
    }
}

fn owner_of(entry: &Entry) -> &[u8] {
    entry.owner.as_deref().unwrap_or(DEFAULT_OWNER)
}

fn group_of(entry: &Entry) -> &[u8] {
    entry.group.as_deref().unwrap_or(DEFAULT_OWNER)
}

fn mode_of(entry: &Entry) -> UnixMode {
    entry.mode.unwrap_or(match entry.kind {
        EntryKind::Dir => UnixMode::new(0o755),
        EntryKind::Symlink => UnixMode::new(0o777),
        _ => UnixMode::new(0o644),
    })
}

/// The size column's text: the size, or `major, minor` for a device file.
fn size_column(entry: &Entry) -> String {
    match (entry.kind, entry.device) {
        (EntryKind::CharDevice | EntryKind::BlockDevice, Some(device)) => {
            format!("{}, {}", device.major, device.minor)
        }
        _ => entry.size.unwrap_or(0).to_string(),
    }
}

fn decimal_width(value: u64) -> usize {
    value
        .checked_ilog10()
        .map_or(1, |digits| digits as usize + 1)
}

/// Owners and groups are single tokens: non-empty, without blanks, CR or LF.
fn check_column(value: &[u8], field: ListField) -> Result<(), FormatError> {
    let bad = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    if value.is_empty() || value.iter().any(bad) {
        Err(FormatError::InvalidField(field))
    } else {
        Ok(())
    }
}

fn write_padded_right(out: &mut Vec<u8>, value: &[u8], width: usize) {
    out.extend_from_slice(value);
    let padding = width.saturating_sub(value.len()) + 1;
    out.resize(out.len() + padding, b' ');
}

impl Entry {
    /// The MLSx form of this entry, for a server's MLSD or MLST reply.
    ///
    /// If the entry carries [`Entry::facts`] they are used as they are. Otherwise the facts are
    /// derived: `type` (`file`, `dir`, or `OS.unix=slink:<target>` for a symlink; no type for
    /// other kinds), `size` (not for directories), `modify`, `unique`, and `UNIX.mode`,
    /// `UNIX.owner` and `UNIX.group` when known and writable. `perm` is never guessed: set it
    /// in `facts` to advertise permissions.
    pub fn to_mlsx(&self) -> MlsxEntry {
        let facts = match &self.facts {
            Some(facts) => Facts::clone(facts),
            None => self.derived_facts(),
        };
        MlsxEntry::new(facts, self.name.clone())
    }

    fn derived_facts(&self) -> Facts {
        let kind = match self.kind {
            EntryKind::File => Some(FactType::File),
            EntryKind::Dir => Some(FactType::Dir),
            EntryKind::Symlink => Some(symlink_type(self.link_target.as_ref())),
            _ => None,
        };
        let unix_facts = [
            (
                &b"UNIX.mode"[..],
                self.mode.map(|mode| Bytes::from(mode.to_string())),
            ),
            (
                b"UNIX.owner",
                self.owner.as_deref().map(Bytes::copy_from_slice),
            ),
            (
                b"UNIX.group",
                self.group.as_deref().map(Bytes::copy_from_slice),
            ),
        ];
        let other = unix_facts
            .into_iter()
            .filter_map(|(name, value)| {
                let value = value.filter(|value| is_fact_text(value))?;
                Some((Bytes::from_static(name), value))
            })
            .collect();
        Facts {
            kind,
            size: self.size.filter(|_| self.kind != EntryKind::Dir),
            modify: self.modified.filter(|time| time.year() >= 1000),
            unique: self.unique.clone().filter(|unique| is_token(unique)),
            other,
            ..Facts::default()
        }
    }
}

fn symlink_type(target: Option<&Bytes>) -> FactType {
    let kind = match target.filter(|target| is_value(target)) {
        Some(target) => [&b"slink:"[..], target].concat().into(),
        None => Bytes::from_static(b"slink"),
    };
    FactType::Os {
        os: Bytes::from_static(b"unix"),
        kind,
    }
}

/// A value `Facts::write_to` accepts for a `UNIX.*` fact: non-empty `*SCHAR`.
fn is_fact_text(value: &[u8]) -> bool {
    !value.is_empty() && is_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::{parse_list_line, Device, ParseContext, Principal};

    fn now() -> Timestamp {
        Timestamp::new(2024, 3, 15, 12, 0, 0).unwrap()
    }

    fn entry(name: &'static [u8], kind: EntryKind) -> Entry {
        Entry::new(Bytes::from_static(name), kind)
    }

    #[test]
    fn columns_line_up_across_a_listing() {
        let mut file = entry(b"big file.bin", EntryKind::File);
        file.size = Some(123_456_789_012);
        file.modified = Some(Timestamp::new(2023, 1, 5, 10, 0, 0).unwrap());
        file.owner = Some(Principal::from("a-long-owner-name"));
        let mut dir = entry(b"pub", EntryKind::Dir);
        dir.size = Some(4096);
        dir.links = Some(2);
        dir.modified = Some(Timestamp::new(2024, 3, 14, 9, 30, 59).unwrap());
        let mut link = entry(b"latest", EntryKind::Symlink);
        link.link_target = Some(Bytes::from_static(b"pub"));
        link.modified = Some(Timestamp::new(2024, 3, 14, 9, 30, 0).unwrap());
        let mut null = entry(b"null", EntryKind::CharDevice);
        null.device = Some(Device { major: 1, minor: 3 });
        null.modified = link.modified;
        let entries = [dir, file, link, null];
        let mut out = Vec::new();
        LsFormatter::for_entries(now(), &entries)
            .write_all(&entries, &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "drwxr-xr-x    2 ftp               ftp              4096 Mar 14 09:30 pub\r\n\
             -rw-r--r--    1 a-long-owner-name ftp      123456789012 Jan  5  2023 big file.bin\r\n\
             lrwxrwxrwx    1 ftp               ftp                 0 Mar 14 09:30 latest -> pub\r\n\
             crw-r--r--    1 ftp               ftp              1, 3 Mar 14 09:30 null\r\n"
        );
        let ctx = ParseContext::new(now());
        for (line, original) in text.lines().zip(&entries) {
            let parsed = parse_list_line(&Bytes::copy_from_slice(line.as_bytes()), &ctx).unwrap();
            assert_eq!(parsed.name, original.name);
            assert_eq!(parsed.kind, original.kind);
            assert_eq!(parsed.link_target, original.link_target);
            assert_eq!(parsed.device, original.device);
        }
    }

    #[test]
    fn refuses_what_would_not_parse_back() {
        let formatter = LsFormatter::new(now());
        let mut out = Vec::new();
        let mut bad_owner = entry(b"x", EntryKind::File);
        bad_owner.owner = Some(Principal::from("two words"));
        assert_eq!(
            formatter.write_entry(&bad_owner, &mut out),
            Err(FormatError::InvalidField(ListField::Owner))
        );
        assert_eq!(
            formatter.write_entry(&entry(b"a\nb", EntryKind::File), &mut out),
            Err(FormatError::LineBreakInName)
        );
        assert_eq!(
            formatter.write_entry(&entry(b"", EntryKind::File), &mut out),
            Err(FormatError::EmptyName)
        );
        assert!(out.is_empty());
    }

    #[test]
    fn nlst_names() {
        let mut out = Vec::new();
        format_nlst([&b"a b"[..], b"c"], &mut out).unwrap();
        assert_eq!(out, b"a b\r\nc\r\n");
        assert_eq!(
            format_nlst([&b"x\ry"[..]], &mut out),
            Err(FormatError::LineBreakInName)
        );
    }

    #[test]
    fn mlsx_from_entries() {
        let mut file = entry(b"a file", EntryKind::File);
        file.size = Some(12);
        file.modified = Some(Timestamp::new(2024, 3, 14, 9, 30, 0).unwrap());
        file.mode = Some(UnixMode::new(0o644));
        file.owner = Some(Principal::from("ftp"));
        let mut out = Vec::new();
        file.to_mlsx().write_mlsd_line(&mut out).unwrap();
        assert_eq!(
            out,
            b"Type=file;Size=12;Modify=20240314093000;UNIX.mode=0644;UNIX.owner=ftp; a file\r\n"
        );
        let mut link = entry(b"l", EntryKind::Symlink);
        link.link_target = Some(Bytes::from_static(b"/srv/x"));
        link.size = Some(6);
        out.clear();
        link.to_mlsx().write_mlst_line(&mut out).unwrap();
        assert_eq!(out, b" Type=OS.unix=slink:/srv/x;Size=6; l\r\n");
        let mut dir = entry(b"d", EntryKind::Dir);
        dir.size = Some(4096);
        dir.owner = Some(Principal::from("bad;owner"));
        out.clear();
        dir.to_mlsx().write_mlsd_line(&mut out).unwrap();
        assert_eq!(out, b"Type=dir; d\r\n");
    }
}
