//! EPLF, D. J. Bernstein's Easily Parsed LIST Format: `+facts,TAB name`.
//!
//! Facts are separated by `,`: `r` (a file that RETR may fetch), `/` (a directory CWD may
//! enter), `s<size>`, `m<seconds since 1970, UTC>`, `i<unique id>`, `up<octal mode>`. Other
//! facts are ignored, as the format requires.

use bytes::Bytes;
use memchr::memchr;

use super::scan::{fields, parse_u64};
use super::{Entry, EntryKind, ListErrorReason, ListField, ListFormat, UnixMode};
use crate::timestamp::Timestamp;

/// Parses one EPLF line (without its terminator).
pub(crate) fn parse(raw: &Bytes, entry: &mut Entry) -> Result<(), ListErrorReason> {
    let facts_end = match raw.first() {
        Some(b'+') => memchr(b'\t', raw).ok_or(malformed(ListField::Name))?,
        _ => return Err(malformed(ListField::Facts)),
    };
    let name_start = facts_end + 1;
    if name_start >= raw.len() {
        return Err(malformed(ListField::Name));
    }
    entry.name = raw.slice(name_start..);
    let (mut is_dir, mut is_file) = (false, false);
    for (offset, fact) in fields(raw.get(1..facts_end).unwrap_or_default(), b',') {
        let value_start = 1 + offset + 1;
        match fact.split_first() {
            Some((b'/', _)) => is_dir = true,
            Some((b'r', _)) => is_file = true,
            Some((b's', size)) => {
                entry.size = Some(parse_u64(size).ok_or(malformed(ListField::Size))?)
            }
            Some((b'm', secs)) => {
                entry.modified = Some(parse_time(secs).ok_or(malformed(ListField::Date))?)
            }
            Some((b'i', id)) if !id.is_empty() => {
                entry.unique = Some(raw.slice(value_start..value_start + id.len()))
            }
            Some((b'u', [b'p', mode @ ..])) => {
                entry.mode =
                    Some(UnixMode::parse_octal(mode).ok_or(malformed(ListField::Permissions))?);
            }
            _ => {}
        }
    }
    entry.kind = match (is_dir, is_file) {
        (true, _) => EntryKind::Dir,
        (false, true) => EntryKind::File,
        (false, false) => EntryKind::Unknown,
    };
    Ok(())
}

fn malformed(field: ListField) -> ListErrorReason {
    ListErrorReason::Malformed {
        format: ListFormat::Eplf,
        field,
    }
}

fn parse_time(secs: &[u8]) -> Option<Timestamp> {
    let secs = i64::try_from(parse_u64(secs)?).ok()?;
    Timestamp::from_unix_seconds(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &'static [u8]) -> Result<Entry, ListErrorReason> {
        let mut entry = Entry::new(Bytes::new(), EntryKind::Unknown);
        parse(&Bytes::from_static(line), &mut entry).map(|()| entry)
    }

    #[test]
    fn bernsteins_examples() {
        let entry = parse_line(b"+i8388621.29609,m824255902,/,\tdev").unwrap();
        assert_eq!(entry.kind, EntryKind::Dir);
        assert_eq!(entry.name, &b"dev"[..]);
        assert_eq!(entry.unique.as_deref(), Some(&b"8388621.29609"[..]));
        assert_eq!(entry.modified.unwrap().to_string(), "19960213235822");
        let entry = parse_line(b"+i8388621.44468,m839956783,r,s10376,\tRFCEPLF").unwrap();
        assert_eq!((entry.kind, entry.size), (EntryKind::File, Some(10_376)));
        let entry = parse_line(b"+r,up644,\tname with\ttab").unwrap();
        assert_eq!(entry.mode, Some(UnixMode::new(0o644)));
        assert_eq!(entry.name, &b"name with\ttab"[..]);
    }

    #[test]
    fn refusals() {
        assert!(parse_line(b"+r,s12").is_err(), "no tab");
        assert!(parse_line(b"+r,s12,\t").is_err(), "no name");
        assert!(parse_line(b"+r,sx,\tn").is_err(), "bad size");
        assert!(
            parse_line(b"+r,m99999999999999999999,\tn").is_err(),
            "bad time"
        );
        assert!(parse_line(b"r,\tn").is_err(), "no plus");
        assert_eq!(parse_line(b"+,,\tn").unwrap().kind, EntryKind::Unknown);
    }
}
