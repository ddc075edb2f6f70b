//! The arguments of TYPE, MODE and STRU (RFC 959 §3.1, §3.4, §4.1.2).

use core::fmt;

/// The vertical format control of TYPE A and TYPE E (RFC 959 §3.1.1.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FormatControl {
    /// `N`: no vertical format information (the default).
    #[default]
    NonPrint,
    /// `T`: the file carries Telnet format effectors; CRLF still ends a line.
    Telnet,
    /// `C`: ASA carriage control; the first character of each line is a printer command.
    CarriageControl,
}

impl FormatControl {
    /// The control for its letter (`N`, `T`, `C`, either case).
    pub fn from_code(code: u8) -> Option<Self> {
        match code.to_ascii_uppercase() {
            b'N' => Some(Self::NonPrint),
            b'T' => Some(Self::Telnet),
            b'C' => Some(Self::CarriageControl),
            _ => None,
        }
    }

    /// The control's letter, upper case.
    pub fn code(self) -> u8 {
        match self {
            Self::NonPrint => b'N',
            Self::Telnet => b'T',
            Self::CarriageControl => b'C',
        }
    }
}

/// The representation type set by TYPE (RFC 959 §3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `A [N|T|C]`: NVT-ASCII with CRLF line ends (the default, `A N`).
    Ascii(FormatControl),
    /// `E [N|T|C]`: EBCDIC.
    Ebcdic(FormatControl),
    /// `I`: image, the bytes as they are.
    Image,
    /// `L n`: logical bytes of `n` bits; `L 8` is the same as `I` on 8-bit hosts.
    Local(u8),
}

impl Default for DataType {
    fn default() -> Self {
        Self::Ascii(FormatControl::NonPrint)
    }
}

/// Why a TYPE argument was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataTypeError {
    /// The first letter is not `A`, `E`, `I` or `L` (501; vector C06 in `tests/wire_vectors.rs`).
    #[error("unknown representation type")]
    UnknownType,
    /// The form after `A` or `E` is not `N`, `T` or `C` (501).
    #[error("unknown format control")]
    UnknownFormat,
    /// `L` without a byte size (RFC 959: 501).
    #[error("TYPE L needs a byte size")]
    MissingByteSize,
    /// A byte size that is not a number from 1 to 255.
    #[error("byte size must be a number from 1 to 255")]
    InvalidByteSize,
    /// Anything else: an empty argument, extra words, a missing space.
    #[error("TYPE argument syntax error")]
    Syntax,
}

impl DataType {
    /// Parses a TYPE argument: `A`, `A N`, `E T`, `I`, `L 8`, ... Letters may be either case;
    /// words are separated by exactly one space.
    pub fn parse(argument: &[u8]) -> Result<Self, DataTypeError> {
        let (&code, rest) = argument.split_first().ok_or(DataTypeError::Syntax)?;
        match code.to_ascii_uppercase() {
            b'A' => Ok(Self::Ascii(parse_form(rest)?)),
            b'E' => Ok(Self::Ebcdic(parse_form(rest)?)),
            b'I' if rest.is_empty() => Ok(Self::Image),
            b'I' => Err(DataTypeError::Syntax),
            b'L' => parse_byte_size(rest).map(Self::Local),
            _ => Err(DataTypeError::UnknownType),
        }
    }

    /// The byte MODE C filler strings repeat: SP for ASCII, EBCDIC space (0x40) for EBCDIC,
    /// zero for image and local types (RFC 959 §3.4.3).
    pub fn filler_byte(self) -> u8 {
        match self {
            Self::Ascii(_) => b' ',
            Self::Ebcdic(_) => 0x40,
            Self::Image | Self::Local(_) => 0,
        }
    }

    /// True when this module can transcode the type: `A N`, `A T` (identical to N, as RFC 1123
    /// §4.1.2.2 allows), `I` and `L 8`. The client session refuses to request the others;
    /// the server session accepts only `A N`, `I` and `L 8` and answers 504 to the rest.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Self::Ascii(FormatControl::NonPrint | FormatControl::Telnet)
                | Self::Image
                | Self::Local(8)
        )
    }
}

impl fmt::Display for DataType {
    /// Formats as a TYPE argument: `A N`, `E C`, `I`, `L 8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ascii(form) => write!(f, "A {}", char::from(form.code())),
            Self::Ebcdic(form) => write!(f, "E {}", char::from(form.code())),
            Self::Image => f.write_str("I"),
            Self::Local(size) => write!(f, "L {size}"),
        }
    }
}

/// Parses the optional ` <form-code>` after `A` or `E`.
fn parse_form(rest: &[u8]) -> Result<FormatControl, DataTypeError> {
    match rest {
        [] => Ok(FormatControl::NonPrint),
        [b' ', code] => FormatControl::from_code(*code).ok_or(DataTypeError::UnknownFormat),
        _ => Err(DataTypeError::Syntax),
    }
}

/// Parses the ` <byte-size>` after `L`.
fn parse_byte_size(rest: &[u8]) -> Result<u8, DataTypeError> {
    let digits = match rest {
        [] | [b' '] => return Err(DataTypeError::MissingByteSize),
        [b' ', digits @ ..] => digits,
        _ => return Err(DataTypeError::Syntax),
    };
    if digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(DataTypeError::InvalidByteSize);
    }
    let value = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    u8::try_from(value)
        .ok()
        .filter(|&size| size > 0)
        .ok_or(DataTypeError::InvalidByteSize)
}

/// The transmission mode set by MODE (RFC 959 §3.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TransferMode {
    /// `S`: the bytes as they are; end of file is the connection closing (the default).
    #[default]
    Stream,
    /// `B`: blocks of a 3-byte header and up to 65535 bytes.
    Block,
    /// `C`: byte strings, replicated and filler runs, escapes.
    Compressed,
}

impl TransferMode {
    /// The mode for its letter (`S`, `B`, `C`, either case). `Z` (deflate) is not offered.
    pub fn from_code(code: u8) -> Option<Self> {
        match code.to_ascii_uppercase() {
            b'S' => Some(Self::Stream),
            b'B' => Some(Self::Block),
            b'C' => Some(Self::Compressed),
            _ => None,
        }
    }

    /// Parses a MODE argument: exactly one letter.
    pub fn parse(argument: &[u8]) -> Option<Self> {
        match argument {
            [code] => Self::from_code(*code),
            _ => None,
        }
    }

    /// The mode's letter, upper case.
    pub fn code(self) -> u8 {
        match self {
            Self::Stream => b'S',
            Self::Block => b'B',
            Self::Compressed => b'C',
        }
    }
}

/// The file structure set by STRU (RFC 959 §3.1.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FileStructure {
    /// `F`: a continuous sequence of bytes (the default).
    #[default]
    File,
    /// `R`: a sequence of records, each end marked explicitly.
    Record,
    /// `P`: pages with headers (TOPS-20); not transcoded here.
    Page,
}

impl FileStructure {
    /// The structure for its letter (`F`, `R`, `P`, either case).
    pub fn from_code(code: u8) -> Option<Self> {
        match code.to_ascii_uppercase() {
            b'F' => Some(Self::File),
            b'R' => Some(Self::Record),
            b'P' => Some(Self::Page),
            _ => None,
        }
    }

    /// Parses a STRU argument: exactly one letter.
    pub fn parse(argument: &[u8]) -> Option<Self> {
        match argument {
            [code] => Self::from_code(*code),
            _ => None,
        }
    }

    /// The structure's letter, upper case.
    pub fn code(self) -> u8 {
        match self {
            Self::File => b'F',
            Self::Record => b'R',
            Self::Page => b'P',
        }
    }

    /// True for `F` and `R`; page structure is not implemented (a session answers 504).
    pub fn is_supported(self) -> bool {
        !matches!(self, Self::Page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_arguments() {
        use FormatControl::*;
        assert_eq!(DataType::parse(b"A"), Ok(DataType::Ascii(NonPrint)));
        assert_eq!(DataType::parse(b"a t"), Ok(DataType::Ascii(Telnet)));
        assert_eq!(
            DataType::parse(b"E C"),
            Ok(DataType::Ebcdic(CarriageControl))
        );
        assert_eq!(DataType::parse(b"I"), Ok(DataType::Image));
        assert_eq!(DataType::parse(b"L 8"), Ok(DataType::Local(8)));
        assert_eq!(DataType::parse(b"L 36"), Ok(DataType::Local(36)));
        assert_eq!(DataType::parse(b"L"), Err(DataTypeError::MissingByteSize));
        assert_eq!(DataType::parse(b"L 0"), Err(DataTypeError::InvalidByteSize));
        assert_eq!(
            DataType::parse(b"L 256"),
            Err(DataTypeError::InvalidByteSize)
        );
        assert_eq!(DataType::parse(b"L8"), Err(DataTypeError::Syntax));
        assert_eq!(DataType::parse(b"A X"), Err(DataTypeError::UnknownFormat));
        assert_eq!(DataType::parse(b"X"), Err(DataTypeError::UnknownType));
        assert_eq!(DataType::parse(b"I N"), Err(DataTypeError::Syntax));
        assert_eq!(DataType::parse(b""), Err(DataTypeError::Syntax));
    }

    #[test]
    fn formats_type_arguments_and_knows_support() {
        assert_eq!(DataType::default().to_string(), "A N");
        assert_eq!(DataType::Local(8).to_string(), "L 8");
        assert!(DataType::Local(8).is_supported());
        assert!(DataType::Ascii(FormatControl::Telnet).is_supported());
        assert!(!DataType::Ascii(FormatControl::CarriageControl).is_supported());
        assert!(!DataType::Ebcdic(FormatControl::NonPrint).is_supported());
        assert!(!DataType::Local(36).is_supported());
        assert_eq!(
            DataType::Ebcdic(FormatControl::NonPrint).filler_byte(),
            0x40
        );
    }

    #[test]
    fn parses_mode_and_stru() {
        assert_eq!(TransferMode::parse(b"b"), Some(TransferMode::Block));
        assert_eq!(TransferMode::parse(b"Z"), None);
        assert_eq!(TransferMode::parse(b"SS"), None);
        assert_eq!(FileStructure::parse(b"R"), Some(FileStructure::Record));
        assert!(!FileStructure::Page.is_supported());
        assert_eq!(FileStructure::Record.code(), b'R');
    }
}
