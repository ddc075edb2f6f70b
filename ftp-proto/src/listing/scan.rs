//! Byte-scanning helpers shared by the listing parsers: line splitting, blank-separated tokens
//! and the number forms listings use. Nothing here allocates or panics.

use memchr::memchr;

/// True for the two blanks that separate listing columns.
pub(crate) fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// The length of `line` without its terminator: a trailing `\r\n`, `\n` or `\r`.
pub(crate) fn line_end(line: &[u8]) -> usize {
    match line {
        [rest @ .., b'\r', b'\n'] | [rest @ .., b'\n'] | [rest @ .., b'\r'] => rest.len(),
        _ => line.len(),
    }
}

/// The maximum number of leading tokens [`Tokens`] records.
pub(crate) const MAX_TOKENS: usize = 12;

/// The positions of the first [`MAX_TOKENS`] blank-separated tokens of a line, found as they
/// are asked for (so a long name after the columns a parser needs is never scanned), without
/// allocating.
#[derive(Clone, Debug)]
pub(crate) struct Tokens<'a> {
    line: &'a [u8],
    scanner: Scanner<'a>,
    spans: [(usize, usize); MAX_TOKENS],
    len: usize,
}

impl<'a> Tokens<'a> {
    /// Tokens of `line`, none scanned yet.
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Self {
            line,
            scanner: Scanner::new(line),
            spans: [(0, 0); MAX_TOKENS],
            len: 0,
        }
    }

    /// The `(start, end)` of token `index`, if the line has that many.
    pub(crate) fn span(&mut self, index: usize) -> Option<(usize, usize)> {
        while self.len <= index && self.len < MAX_TOKENS {
            let span = self.scanner.next_token()?;
            *self.spans.get_mut(self.len)? = span;
            self.len += 1;
        }
        self.spans.get(..self.len)?.get(index).copied()
    }

    /// The bytes of token `index`.
    pub(crate) fn get(&mut self, index: usize) -> Option<&'a [u8]> {
        let (start, end) = self.span(index)?;
        self.line.get(start..end)
    }
}

/// A cursor over blank-separated tokens that also reports where the rest of the line starts.
#[derive(Clone, Debug)]
pub(crate) struct Scanner<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Self {
        Self { line, pos: 0 }
    }

    /// Skips blanks and returns the position of the next non-blank byte (the line length if
    /// there is none).
    pub(crate) fn skip_blanks(&mut self) -> usize {
        while self.line.get(self.pos).is_some_and(|&b| is_blank(b)) {
            self.pos += 1;
        }
        self.pos
    }

    /// The `(start, end)` of the next token.
    pub(crate) fn next_token(&mut self) -> Option<(usize, usize)> {
        let start = self.skip_blanks();
        while self.line.get(self.pos).is_some_and(|&b| !is_blank(b)) {
            self.pos += 1;
        }
        (self.pos > start).then_some((start, self.pos))
    }

    /// The bytes of the next token.
    pub(crate) fn next_bytes(&mut self) -> Option<&'a [u8]> {
        let (start, end) = self.next_token()?;
        self.line.get(start..end)
    }

    /// The next token's bytes without consuming it.
    pub(crate) fn peek_bytes(&self) -> Option<&'a [u8]> {
        self.clone().next_bytes()
    }
}

/// `1*DIGIT` as a `u64`; `None` when empty, not all digits, or too large.
pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        let digit = d.checked_sub(b'0').filter(|&v| v <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// `1*DIGIT` as a `u32`.
pub(crate) fn parse_u32(digits: &[u8]) -> Option<u32> {
    parse_u64(digits).and_then(|v| u32::try_from(v).ok())
}

/// `1*DIGIT` as a `u8`.
pub(crate) fn parse_u8(digits: &[u8]) -> Option<u8> {
    parse_u64(digits).and_then(|v| u8::try_from(v).ok())
}

/// `1*DIGIT` as a `u16`.
pub(crate) fn parse_u16(digits: &[u8]) -> Option<u16> {
    parse_u64(digits).and_then(|v| u16::try_from(v).ok())
}

/// A size that may be written with thousands separators: `1234` or `1,234,567` (groups of
/// three after the first group of one to three digits).
pub(crate) fn parse_grouped_u64(text: &[u8]) -> Option<u64> {
    let (mut value, mut digits_in_group, mut separators) = (0u64, 0usize, 0usize);
    for &byte in text {
        if byte == b',' {
            let group_ok = match separators {
                0 => (1..=3).contains(&digits_in_group),
                _ => digits_in_group == 3,
            };
            if !group_ok {
                return None;
            }
            separators += 1;
            digits_in_group = 0;
        } else {
            let digit = byte.checked_sub(b'0').filter(|&d| d <= 9)?;
            value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
            digits_in_group += 1;
        }
    }
    let last_ok = match separators {
        0 => digits_in_group > 0,
        _ => digits_in_group == 3,
    };
    last_ok.then_some(value)
}

/// `HH:MM` (the hour may have one digit) as `(hour, minute)`, range-checked for a 24-hour clock.
pub(crate) fn parse_clock(text: &[u8]) -> Option<(u8, u8)> {
    let colon = memchr(b':', text)?;
    let (hour, minute) = (text.get(..colon)?, text.get(colon + 1..)?);
    if !(1..=2).contains(&hour.len()) || minute.len() != 2 {
        return None;
    }
    let (hour, minute) = (parse_u8(hour)?, parse_u8(minute)?);
    (hour <= 23 && minute <= 59).then_some((hour, minute))
}

/// Splits `bytes` at `separator`, yielding each field's offset in `bytes` and its bytes.
pub(crate) fn fields(bytes: &[u8], separator: u8) -> impl Iterator<Item = (usize, &[u8])> {
    let mut offset = 0;
    bytes.split(move |&b| b == separator).map(move |field| {
        let start = offset;
        offset += field.len() + 1;
        (start, field)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_skip_runs_of_blanks() {
        let line = b"  ab \t cd e";
        let mut tokens = Tokens::new(line);
        assert_eq!(tokens.get(1), Some(&b"cd"[..]));
        assert_eq!(tokens.get(0), Some(&b"ab"[..]));
        assert_eq!(tokens.get(2), Some(&b"e"[..]));
        assert_eq!(tokens.get(3), None);
        assert_eq!(tokens.get(MAX_TOKENS + 1), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"1a"), None);
        assert_eq!(parse_grouped_u64(b"1,234,567"), Some(1_234_567));
        assert_eq!(parse_grouped_u64(b"12,34"), None);
        assert_eq!(parse_grouped_u64(b",123"), None);
        assert_eq!(parse_grouped_u64(b"1234,567"), None);
        assert_eq!(parse_grouped_u64(b"1,"), None);
        assert_eq!(parse_grouped_u64(b""), None);
        assert_eq!(parse_grouped_u64(b"18,446,744,073,709,551,616"), None);
        assert_eq!(parse_clock(b"9:05"), Some((9, 5)));
        assert_eq!(parse_clock(b"24:00"), None);
        assert_eq!(parse_clock(b"12:5"), None);
    }

    #[test]
    fn fields_report_offsets() {
        let got: Vec<_> = fields(b"a,bc,,d", b',').collect();
        assert_eq!(
            got,
            vec![
                (0, &b"a"[..]),
                (2, &b"bc"[..]),
                (5, &b""[..]),
                (6, &b"d"[..])
            ]
        );
    }
}
