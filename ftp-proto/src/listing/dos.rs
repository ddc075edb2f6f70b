//! DOS-style lines: IIS (`MM-DD-YY  hh:mmAM` or, with four-digit years, `MM-DD-YYYY  HH:MM`)
//! and the Windows `dir` shape (`MM/DD/YYYY  hh:mm AM`).
//!
//! `date time [AM|PM] (<DIR> | size) name`. Sizes may carry thousands separators. The name
//! starts at the first non-blank byte after the size or `<DIR>` column, so leading spaces of a
//! name are not kept in this format (IIS pads the `<DIR>` column with several spaces).

use bytes::Bytes;

use super::scan::{parse_clock, parse_grouped_u64, parse_u16, Scanner};
use super::{Entry, EntryKind, ListErrorReason, ListField, ListFormat};
use crate::timestamp::Timestamp;

/// Parses one DOS-style line (without its terminator).
pub(crate) fn parse(
    raw: &Bytes,
    now: &Timestamp,
    entry: &mut Entry,
) -> Result<(), ListErrorReason> {
    let mut scanner = Scanner::new(raw);
    let (year, month, day) = scanner
        .next_bytes()
        .and_then(|date| parse_date(date, now))
        .ok_or(malformed(ListField::Date))?;
    let (hour, minute) = read_time(&mut scanner).ok_or(malformed(ListField::Time))?;
    let modified = Timestamp::new(year, month, day, hour, minute, 0)
        .map_err(|_| malformed(ListField::Date))?;
    let (kind, size) = scanner
        .next_bytes()
        .and_then(parse_size_column)
        .ok_or(malformed(ListField::Size))?;
    let name_start = scanner.skip_blanks();
    if name_start >= raw.len() {
        return Err(malformed(ListField::Name));
    }
    entry.name = raw.slice(name_start..);
    entry.kind = kind;
    entry.size = size;
    entry.modified = Some(modified);
    Ok(())
}

fn malformed(field: ListField) -> ListErrorReason {
    ListErrorReason::Malformed {
        format: ListFormat::Dos,
        field,
    }
}

/// `MM-DD-YY`, `MM-DD-YYYY`, `MM/DD/YYYY` or `YYYY-MM-DD`.
fn parse_date(token: &[u8], now: &Timestamp) -> Option<(u16, u8, u8)> {
    let [first, second, third] = date_parts(token)?;
    let (first_len, third_len) = (first.1, third.1);
    if first_len == 4 {
        return Some((
            first.0,
            u8::try_from(second.0).ok()?,
            u8::try_from(third.0).ok()?,
        ));
    }
    let year = match third_len {
        2 => expand_two_digit_year(third.0, now)?,
        4 => third.0,
        _ => return None,
    };
    Some((
        year,
        u8::try_from(first.0).ok()?,
        u8::try_from(second.0).ok()?,
    ))
}

/// The three numbers of a date separated by `-` or `/`, each with its digit count.
fn date_parts(token: &[u8]) -> Option<[(u16, usize); 3]> {
    let mut parts = token.split(|&b| b == b'-' || b == b'/');
    let mut next = || {
        let part = parts.next().filter(|part| (1..=4).contains(&part.len()))?;
        Some((parse_u16(part)?, part.len()))
    };
    let numbers = [next()?, next()?, next()?];
    parts.next().is_none().then_some(numbers)
}

/// The year ending in `yy` that lies within the eighty years before and twenty after `now`'s.
fn expand_two_digit_year(yy: u16, now: &Timestamp) -> Option<u16> {
    let now_year = i32::from(now.year());
    let mut year = now_year - now_year.rem_euclid(100) + i32::from(yy);
    if year > now_year + 20 {
        year -= 100;
    } else if year <= now_year - 80 {
        year += 100;
    }
    u16::try_from(year).ok()
}

/// `HH:MM` (24-hour), or `hh:mmAM` / `hh:mm PM` (12-hour, the suffix attached or not).
fn read_time(scanner: &mut Scanner<'_>) -> Option<(u8, u8)> {
    let token = scanner.next_bytes()?;
    let (clock, meridiem) = match token.len().checked_sub(2).map(|at| token.split_at(at)) {
        Some((clock, suffix)) if parse_meridiem(suffix).is_some() => {
            (clock, parse_meridiem(suffix))
        }
        _ => (token, None),
    };
    let meridiem = meridiem.or_else(|| {
        let next = parse_meridiem(scanner.peek_bytes()?)?;
        scanner.next_bytes();
        Some(next)
    });
    let (hour, minute) = parse_clock(clock)?;
    match meridiem {
        None => Some((hour, minute)),
        Some(_) if !(1..=12).contains(&hour) => None,
        Some(Meridiem::Am) => Some((hour % 12, minute)),
        Some(Meridiem::Pm) => Some((hour % 12 + 12, minute)),
    }
}

enum Meridiem {
    Am,
    Pm,
}

fn parse_meridiem(text: &[u8]) -> Option<Meridiem> {
    if text.eq_ignore_ascii_case(b"AM") {
        Some(Meridiem::Am)
    } else if text.eq_ignore_ascii_case(b"PM") {
        Some(Meridiem::Pm)
    } else {
        None
    }
}

/// `<DIR>`, a reparse point (`<JUNCTION>`, `<SYMLINK>`, `<SYMLINKD>`), or a size.
fn parse_size_column(token: &[u8]) -> Option<(EntryKind, Option<u64>)> {
    let is = |tag: &[u8]| token.eq_ignore_ascii_case(tag);
    if is(b"<DIR>") {
        Some((EntryKind::Dir, None))
    } else if is(b"<JUNCTION>") || is(b"<SYMLINK>") || is(b"<SYMLINKD>") {
        Some((EntryKind::Symlink, None))
    } else {
        Some((EntryKind::File, Some(parse_grouped_u64(token)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::new(2024, 3, 15, 12, 0, 0).unwrap()
    }

    fn parse_line(line: &'static [u8]) -> Result<Entry, ListErrorReason> {
        let mut entry = Entry::new(Bytes::new(), EntryKind::Unknown);
        parse(&Bytes::from_static(line), &now(), &mut entry).map(|()| entry)
    }

    fn time(entry: &Entry) -> String {
        entry.modified.unwrap().to_string()
    }

    #[test]
    fn twelve_and_twenty_four_hour_clocks() {
        let cases: [(&'static [u8], &str); 6] = [
            (b"03-14-24  12:05AM  <DIR>  a", "20240314000500"),
            (b"03-14-24  12:05PM  <DIR>  a", "20240314120500"),
            (b"03-14-24  01:46pm  <DIR>  a", "20240314134600"),
            (b"03/14/2024  01:46 PM  <DIR>  a", "20240314134600"),
            (b"03-14-2024  13:46  <DIR>  a", "20240314134600"),
            (b"2024-03-14  13:46  <DIR>  a", "20240314134600"),
        ];
        for (line, expected) in cases {
            let entry = parse_line(line).unwrap();
            assert_eq!(time(&entry), expected, "{}", line.escape_ascii());
        }
        assert!(parse_line(b"03-14-24  13:46PM  <DIR>  a").is_err());
        assert!(parse_line(b"03-14-24  00:46AM  <DIR>  a").is_err());
    }

    #[test]
    fn two_digit_years_follow_the_reference_time() {
        let year = |yy| expand_two_digit_year(yy, &now()).unwrap();
        assert_eq!(
            (year(24), year(44), year(45), year(98), year(0)),
            (2024, 2044, 1945, 1998, 2000)
        );
    }

    #[test]
    fn sizes_and_names() {
        let entry = parse_line(b"12-28-23  11:59PM             1,048,576 big file.zip").unwrap();
        assert_eq!(entry.size, Some(1_048_576));
        assert_eq!(entry.name, &b"big file.zip"[..]);
        assert_eq!(entry.kind, EntryKind::File);
        let entry = parse_line(b"03-14-24  09:30AM       <DIR>          aspnet_client").unwrap();
        assert_eq!((entry.kind, entry.size), (EntryKind::Dir, None));
        assert!(parse_line(b"03-14-24  09:30AM       <DIR>   ").is_err());
        assert!(parse_line(b"03-14-24  09:30AM       12x   y").is_err());
        assert!(parse_line(b"02-30-24  09:30AM       1   y").is_err());
    }
}
