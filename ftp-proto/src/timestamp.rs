//! RFC 3659 `time-val`: `YYYYMMDDHHMMSS[.sss]`, always UTC.
//!
//! Used by MDTM replies, MFMT/MFCT/MFF arguments and the `modify`/`create` MLSx facts. The type
//! is a plain calendar value: this crate never reads a clock, so converting to and from
//! `SystemTime` is offered as pure arithmetic ([`Timestamp::from_unix_seconds`],
//! [`Timestamp::to_unix_seconds`]).

use core::fmt;

/// A UTC calendar time as FTP carries it (RFC 3659 §2.3).
///
/// Guarantees: every `Timestamp` is a valid Gregorian date (month 1–12, a day that exists in that
/// month, leap years respected), hour 0–23, minute 0–59, second 0–60 (60 is a leap second), and
/// year 1000–9999 when it came from [`Timestamp::parse`]. The fraction keeps exactly the digits
/// that were given, so formatting never adds precision the value does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// Fraction of a second in nanoseconds.
    nanos: u32,
    /// How many fraction digits the value carries (0 to 9).
    fraction_digits: u8,
}

/// Why a `time-val` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not `14DIGIT [ "." 1*DIGIT ]`.
    #[error("time-val must be YYYYMMDDHHMMSS[.sss]")]
    Syntax,
    /// The digits do not name a real date or time (e.g. February 29 in a non-leap year).
    #[error("time-val names no real date or time")]
    OutOfRange,
}

impl Timestamp {
    /// Builds a timestamp from its parts, checking the ranges listed on the type.
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<Self, TimestampError> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour <= 23
            && minute <= 59
            && second <= 60;
        if !valid {
            return Err(TimestampError::OutOfRange);
        }
        Ok(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos: 0,
            fraction_digits: 0,
        })
    }

    /// Returns this timestamp with a fraction of `digits` digits (1 to 9) worth `nanos`
    /// nanoseconds; `nanos` is truncated to the precision the digits can carry.
    pub fn with_fraction(mut self, nanos: u32, digits: u8) -> Result<Self, TimestampError> {
        if nanos >= 1_000_000_000 || digits > 9 {
            return Err(TimestampError::OutOfRange);
        }
        let unit = 10u32.pow(9 - u32::from(digits));
        self.nanos = if digits == 0 { 0 } else { nanos / unit * unit };
        self.fraction_digits = digits;
        Ok(self)
    }

    /// Parses a `time-val` exactly (no surrounding spaces). The year must be 1000–9999 as
    /// RFC 3659 requires; fraction digits beyond nine are accepted and truncated.
    pub fn parse(input: &[u8]) -> Result<Self, TimestampError> {
        if input.len() < 14 || !input[..14].iter().all(u8::is_ascii_digit) {
            return Err(TimestampError::Syntax);
        }
        let num = |range: core::ops::Range<usize>| {
            input[range]
                .iter()
                .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
        };
        let year = num(0..4);
        if year < 1000 {
            return Err(TimestampError::OutOfRange);
        }
        let narrow = |v: u16| v as u8; // every two-digit field fits in u8
        let ts = Self::new(
            year,
            narrow(num(4..6)),
            narrow(num(6..8)),
            narrow(num(8..10)),
            narrow(num(10..12)),
            narrow(num(12..14)),
        )?;
        match &input[14..] {
            [] => Ok(ts),
            [b'.', digits @ ..] if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
                let kept = &digits[..digits.len().min(9)];
                let mut nanos = kept
                    .iter()
                    .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                nanos *= 10u32.pow(9 - kept.len() as u32);
                ts.with_fraction(nanos, kept.len() as u8)
            }
            _ => Err(TimestampError::Syntax),
        }
    }

    /// Appends the `time-val` form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_string().as_bytes());
    }

    /// The year (1–9999).
    pub fn year(&self) -> u16 {
        self.year
    }
    /// The month (1–12).
    pub fn month(&self) -> u8 {
        self.month
    }
    /// The day of the month (1–31).
    pub fn day(&self) -> u8 {
        self.day
    }
    /// The hour (0–23).
    pub fn hour(&self) -> u8 {
        self.hour
    }
    /// The minute (0–59).
    pub fn minute(&self) -> u8 {
        self.minute
    }
    /// The second (0–60; 60 is a leap second).
    pub fn second(&self) -> u8 {
        self.second
    }
    /// The fraction of a second, in nanoseconds.
    pub fn nanos(&self) -> u32 {
        self.nanos
    }
    /// How many fraction digits the value carries (0 when it has none).
    pub fn fraction_digits(&self) -> u8 {
        self.fraction_digits
    }

    /// Seconds since 1970-01-01T00:00:00Z (negative before it). A leap second counts as the
    /// next second's start, as POSIX time does.
    pub fn to_unix_seconds(&self) -> i64 {
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        days * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// The UTC calendar time `secs` seconds after the Unix epoch, with no fraction. Fails for
    /// times outside the years 1–9999.
    pub fn from_unix_seconds(secs: i64) -> Result<Self, TimestampError> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let year = u16::try_from(year).map_err(|_| TimestampError::OutOfRange)?;
        Self::new(
            year,
            month,
            day,
            (rem / 3_600) as u8,
            (rem % 3_600 / 60) as u8,
            (rem % 60) as u8,
        )
    }
}

impl fmt::Display for Timestamp {
    /// Formats as `time-val`: fourteen digits, then `.` and the fraction digits if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.fraction_digits > 0 {
            let digits = u32::from(self.fraction_digits);
            let value = self.nanos / 10u32.pow(9 - digits);
            write!(f, ".{:0width$}", value, width = digits as usize)?;
        }
        Ok(())
    }
}

/// True for Gregorian leap years.
pub fn is_leap_year(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`; 0 for an invalid month.
pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_time_val() {
        let ts = Timestamp::parse(b"19981107085215").unwrap();
        assert_eq!(
            (
                ts.year(),
                ts.month(),
                ts.day(),
                ts.hour(),
                ts.minute(),
                ts.second()
            ),
            (1998, 11, 7, 8, 52, 15)
        );
        assert_eq!(ts.to_string(), "19981107085215");
    }

    #[test]
    fn keeps_fraction_digits_as_given() {
        let ts = Timestamp::parse(b"19990929003355.237").unwrap();
        assert_eq!(ts.nanos(), 237_000_000);
        assert_eq!(ts.fraction_digits(), 3);
        assert_eq!(ts.to_string(), "19990929003355.237");
        assert_eq!(
            Timestamp::parse(b"19990929003355.0").unwrap().to_string(),
            "19990929003355.0"
        );
    }

    #[test]
    fn refuses_impossible_dates_and_bad_syntax() {
        assert_eq!(
            Timestamp::parse(b"20030229000000"),
            Err(TimestampError::OutOfRange)
        );
        assert!(Timestamp::parse(b"20040229000000").is_ok());
        assert_eq!(
            Timestamp::parse(b"19991329000000"),
            Err(TimestampError::OutOfRange)
        );
        assert_eq!(
            Timestamp::parse(b"19991231240000"),
            Err(TimestampError::OutOfRange)
        );
        assert!(Timestamp::parse(b"19991231235960").is_ok(), "leap second");
        assert_eq!(
            Timestamp::parse(b"09991231235959"),
            Err(TimestampError::OutOfRange)
        );
        assert_eq!(
            Timestamp::parse(b"1999123123595"),
            Err(TimestampError::Syntax)
        );
        assert_eq!(
            Timestamp::parse(b"19991231235959."),
            Err(TimestampError::Syntax)
        );
        assert_eq!(
            Timestamp::parse(b"19991231235959x"),
            Err(TimestampError::Syntax)
        );
    }

    #[test]
    fn unix_seconds_round_trip() {
        let ts = Timestamp::parse(b"20020717210715").unwrap();
        assert_eq!(ts.to_unix_seconds(), 1_026_940_035);
        assert_eq!(Timestamp::from_unix_seconds(1_026_940_035).unwrap(), ts);
        assert_eq!(
            Timestamp::from_unix_seconds(0).unwrap().to_string(),
            "19700101000000"
        );
        assert_eq!(
            Timestamp::from_unix_seconds(-1).unwrap().to_string(),
            "19691231235959"
        );
    }
}
