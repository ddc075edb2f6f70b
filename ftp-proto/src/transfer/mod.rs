//! Transfer encodings for the data connection: TYPE A, MODE B/C, STRU R.

/// TYPE A/E format control (RFC 959 §3.1.1.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FormatControl {
    /// N: no vertical format information (the default).
    NonPrint,
    /// T: Telnet format effectors.
    Telnet,
    /// C: ASA carriage control.
    CarriageControl,
}

/// The representation type set by TYPE (RFC 959 §3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// A: ASCII, lines end in CRLF on the wire.
    Ascii(FormatControl),
    /// E: EBCDIC.
    Ebcdic(FormatControl),
    /// I: image (binary), bytes untouched.
    Image,
    /// L n: local byte size n (L 8 is the same as I).
    Local(u8),
}

/// The transfer mode set by MODE (RFC 959 §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferMode {
    /// S: stream.
    Stream,
    /// B: block.
    Block,
    /// C: compressed.
    Compressed,
}

/// The file structure set by STRU (RFC 959 §3.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileStructure {
    /// F: a continuous sequence of bytes.
    File,
    /// R: a sequence of records.
    Record,
    /// P: pages (TOPS-20).
    Page,
}
