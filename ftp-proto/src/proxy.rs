//! The PROXY protocol, versions 1 and 2: the header a TCP load balancer (HAProxy, AWS NLB,
//! nginx `proxy_protocol`) sends first on each connection it forwards, carrying the client's
//! own address and the address the client connected to.
//!
//! The header is specified in HAProxy's `doc/proxy-protocol.txt` ("The PROXY protocol",
//! versions 1 and 2). Version 1 is one text line of at most 107 bytes:
//!
//! ```text
//! PROXY TCP4 192.0.2.7 198.51.100.1 56324 21\r\n
//! ```
//!
//! Version 2 is a 16-byte binary prefix (a 12-byte signature, version and command, family
//! and transport, the length of what follows) and then the addresses and optional TLVs.
//!
//! [`ProxyHeaderReader`] parses either version incrementally and never asks for a byte past
//! the header's end, so whatever the client sends next (an FTP command, a TLS ClientHello)
//! stays unread in the socket for whoever reads it next. Its memory is fixed (a 216-byte
//! address block at most); TLVs are skipped without being stored. [`encode_v1`] and
//! [`encode_v2`] write headers, for tests and for software that sits in front of a server.
//!
//! Only trust a header from a peer you know to be your load balancer: anybody can send one.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 bytes every version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 header, CRLF included.
pub const V1_MAX_LEN: usize = 107;

/// Bytes read before the version is known: the shortest version 1 header
/// (`PROXY UNKNOWN\r\n`) and one byte short of the version 2 prefix, so neither version can be
/// over-read.
const FIRST_READ: usize = 15;

/// The fixed part of a version 2 header.
const V2_PREFIX_LEN: usize = 16;

/// The largest version 2 address block kept (two AF_UNIX paths); TLVs after it are skipped.
const V2_MAX_ADDRESSES: usize = 216;

/// What a complete header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// A proxied TCP connection: the client's address and the address it connected to.
    Proxied {
        /// The client: where the connection really comes from.
        source: SocketAddr,
        /// The address the client connected to (the load balancer's frontend).
        destination: SocketAddr,
    },
    /// The connection's own addresses apply: a version 2 `LOCAL` command (the balancer's own
    /// health check), `PROXY UNKNOWN`, or an address family other than TCP over IPv4 or IPv6.
    Local,
}

/// Why bytes are not a PROXY protocol header. Every error is final: close the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeaderError {
    /// The bytes start with neither `PROXY ` nor the version 2 signature.
    NotAProxyHeader,
    /// A version 1 line of more than 107 bytes.
    TooLong,
    /// A version 2 header of another version than 2, or a command other than LOCAL or PROXY.
    UnsupportedVersion,
    /// The header does not follow the format; the text says where.
    Malformed(&'static str),
}

impl fmt::Display for ProxyHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAProxyHeader => f.write_str("not a PROXY protocol header"),
            Self::TooLong => f.write_str("PROXY protocol v1 line longer than 107 bytes"),
            Self::UnsupportedVersion => {
                f.write_str("unsupported PROXY protocol v2 version or command")
            }
            Self::Malformed(what) => write!(f, "malformed PROXY protocol header: {what}"),
        }
    }
}

impl std::error::Error for ProxyHeaderError {}

/// Where the reader is in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The first [`FIRST_READ`] bytes, common to both versions.
    Start,
    /// A version 1 line, up to its CRLF.
    V1Line,
    /// The last byte of the version 2 prefix (the length's low byte).
    V2Prefix,
    /// The version 2 address block, `kept` bytes of it, then `skip` bytes of TLVs.
    V2Body { kept: usize, skip: usize },
    /// The header has been parsed (or refused); nothing more is wanted.
    Done,
}

/// Reads one PROXY protocol header (version 1 or 2) from bytes as they arrive.
///
/// Ask [`ProxyHeaderReader::wanted`] how many bytes to read, read at most that many, and
/// [`push`](ProxyHeaderReader::push) them: the reader never wants a byte past the end of the
/// header, so reading exactly what it asks leaves the rest of the stream untouched. Its memory
/// is a fixed 232 bytes whatever the peer sends; a version 2 header's TLVs are skipped
/// (their checksum, `PP2_TYPE_CRC32C`, is not verified).
#[derive(Clone, Debug)]
pub struct ProxyHeaderReader {
    buf: [u8; V2_PREFIX_LEN + V2_MAX_ADDRESSES],
    len: usize,
    stage: Stage,
}

impl Default for ProxyHeaderReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ProxyHeaderReader {
    /// A reader at the start of a connection.
    pub fn new() -> Self {
        Self {
            buf: [0; V2_PREFIX_LEN + V2_MAX_ADDRESSES],
            len: 0,
            stage: Stage::Start,
        }
    }

    /// How many bytes to read next: at least 1 until the header is complete, never more than
    /// the header still holds; 0 once [`push`](Self::push) has returned a header or an error.
    pub fn wanted(&self) -> usize {
        match self.stage {
            Stage::Start => FIRST_READ - self.len,
            // The line still needs its CRLF: one byte after a CR, two otherwise.
            Stage::V1Line if self.buf[self.len - 1] == b'\r' => 1,
            Stage::V1Line => 2.min(V1_MAX_LEN - self.len),
            Stage::V2Prefix => V2_PREFIX_LEN - self.len,
            Stage::V2Body { kept, skip } => {
                if self.len < V2_PREFIX_LEN + kept {
                    V2_PREFIX_LEN + kept - self.len
                } else {
                    skip
                }
            }
            Stage::Done => 0,
        }
    }

    /// Takes the next bytes of the stream, at most [`wanted`](Self::wanted) of them (any
    /// more are ignored). `Ok(None)`: more is wanted. `Ok(Some(header))`: the header is
    /// complete. `Err`: the bytes are not a valid header; the connection should be closed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<ProxyHeader>, ProxyHeaderError> {
        let bytes = &bytes[..bytes.len().min(self.wanted())];
        let result = self.advance(bytes);
        if !matches!(result, Ok(None)) {
            self.stage = Stage::Done;
        }
        result
    }

    fn advance(&mut self, bytes: &[u8]) -> Result<Option<ProxyHeader>, ProxyHeaderError> {
        if let Stage::V2Body { kept, skip } = self.stage {
            if self.len == V2_PREFIX_LEN + kept {
                let skip = skip - bytes.len();
                self.stage = Stage::V2Body { kept, skip };
                return (skip == 0).then(|| self.v2_header()).transpose();
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        match self.stage {
            Stage::Start => self.after_start(),
            Stage::V1Line => self.after_v1_bytes(),
            Stage::V2Prefix if self.len == V2_PREFIX_LEN => self.after_v2_prefix(),
            Stage::V2Body { kept, skip } if self.len == V2_PREFIX_LEN + kept && skip == 0 => {
                self.v2_header().map(Some)
            }
            _ => Ok(None),
        }
    }

    fn after_start(&mut self) -> Result<Option<ProxyHeader>, ProxyHeaderError> {
        let seen = &self.buf[..self.len];
        let v1 = b"PROXY ";
        let signature_so_far = &V2_SIGNATURE[..seen.len().min(V2_SIGNATURE.len())];
        let prefix_so_far = &v1[..seen.len().min(v1.len())];
        if !seen.starts_with(signature_so_far) && !seen.starts_with(prefix_so_far) {
            return Err(ProxyHeaderError::NotAProxyHeader);
        }
        if self.len < FIRST_READ {
            return Ok(None);
        }
        if seen.starts_with(&V2_SIGNATURE) {
            self.stage = Stage::V2Prefix;
            Ok(None)
        } else {
            self.stage = Stage::V1Line;
            self.after_v1_bytes()
        }
    }

    fn after_v1_bytes(&mut self) -> Result<Option<ProxyHeader>, ProxyHeaderError> {
        let line = &self.buf[..self.len];
        match memchr::memmem::find(line, b"\r\n") {
            Some(end) => parse_v1(&line[..end + 2]).map(Some),
            None if self.len >= V1_MAX_LEN => Err(ProxyHeaderError::TooLong),
            None => Ok(None),
        }
    }

    fn after_v2_prefix(&mut self) -> Result<Option<ProxyHeader>, ProxyHeaderError> {
        let version_command = self.buf[12];
        if version_command >> 4 != 2 || version_command & 0x0f > 1 {
            return Err(ProxyHeaderError::UnsupportedVersion);
        }
        let length = usize::from(u16::from_be_bytes([self.buf[14], self.buf[15]]));
        let needed = match self.buf[13] {
            // TCP or UDP over IPv4, IPv6; UNIX stream or datagram.
            0x11 | 0x12 => 12,
            0x21 | 0x22 => 36,
            0x31 | 0x32 => 216,
            _ => 0,
        };
        if length < needed {
            return Err(ProxyHeaderError::Malformed(
                "address block shorter than its family needs",
            ));
        }
        let kept = length.min(V2_MAX_ADDRESSES);
        self.stage = Stage::V2Body {
            kept,
            skip: length - kept,
        };
        if length == 0 {
            return self.v2_header().map(Some);
        }
        Ok(None)
    }

    /// The header, once the prefix and the address block are in.
    fn v2_header(&self) -> Result<ProxyHeader, ProxyHeaderError> {
        let local = self.buf[12] & 0x0f == 0;
        let body = &self.buf[V2_PREFIX_LEN..self.len];
        let header = match self.buf[13] {
            _ if local => ProxyHeader::Local,
            0x11 => {
                let ip = |at: usize| {
                    IpAddr::V4(Ipv4Addr::from(
                        <[u8; 4]>::try_from(&body[at..at + 4]).expect("4 bytes"),
                    ))
                };
                let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
                ProxyHeader::Proxied {
                    source: SocketAddr::new(ip(0), port(8)),
                    destination: SocketAddr::new(ip(4), port(10)),
                }
            }
            0x21 => {
                let ip = |at: usize| {
                    IpAddr::V6(Ipv6Addr::from(
                        <[u8; 16]>::try_from(&body[at..at + 16]).expect("16 bytes"),
                    ))
                };
                let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
                ProxyHeader::Proxied {
                    source: SocketAddr::new(ip(0), port(32)),
                    destination: SocketAddr::new(ip(16), port(34)),
                }
            }
            // UNSPEC, UDP, UNIX: the protocol says to use the connection's own addresses.
            _ => ProxyHeader::Local,
        };
        Ok(header)
    }
}

/// Parses a complete version 1 line, CRLF included.
fn parse_v1(line: &[u8]) -> Result<ProxyHeader, ProxyHeaderError> {
    let malformed = ProxyHeaderError::Malformed;
    let text = std::str::from_utf8(&line[..line.len() - 2]).map_err(|_| malformed("not ASCII"))?;
    let rest = text
        .strip_prefix("PROXY ")
        .ok_or(ProxyHeaderError::NotAProxyHeader)?;
    if rest == "UNKNOWN" || rest.starts_with("UNKNOWN ") {
        return Ok(ProxyHeader::Local);
    }
    let mut fields = rest.split(' ');
    let family = fields.next().unwrap_or_default();
    let (Some(source), Some(destination), Some(source_port), Some(destination_port), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(malformed("v1 needs a family, two addresses and two ports"));
    };
    let ip = |text: &str| -> Result<IpAddr, ProxyHeaderError> {
        match family {
            "TCP4" => text
                .parse::<Ipv4Addr>()
                .map(IpAddr::V4)
                .map_err(|_| malformed("bad IPv4 address")),
            "TCP6" => text
                .parse::<Ipv6Addr>()
                .map(IpAddr::V6)
                .map_err(|_| malformed("bad IPv6 address")),
            _ => Err(malformed("v1 family is not TCP4, TCP6 or UNKNOWN")),
        }
    };
    Ok(ProxyHeader::Proxied {
        source: SocketAddr::new(ip(source)?, v1_port(source_port)?),
        destination: SocketAddr::new(ip(destination)?, v1_port(destination_port)?),
    })
}

/// A version 1 port: 1 to 5 decimal digits, no sign, no leading zero, at most 65535.
fn v1_port(text: &str) -> Result<u16, ProxyHeaderError> {
    let digits = !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    let leading_zero = text.len() > 1 && text.starts_with('0');
    match text.parse::<u16>() {
        Ok(port) if digits && !leading_zero => Ok(port),
        _ => Err(ProxyHeaderError::Malformed("bad port")),
    }
}

/// Appends the version 1 header for `header` to `out`: `PROXY TCP4 …` or `PROXY TCP6 …` for a
/// proxied connection (by the source's family; a destination of the other family is written
/// in the source's, IPv4-mapped when needed), `PROXY UNKNOWN` for [`ProxyHeader::Local`].
pub fn encode_v1(header: &ProxyHeader, out: &mut Vec<u8>) {
    use std::io::Write as _;
    match *header {
        ProxyHeader::Local => out.extend_from_slice(b"PROXY UNKNOWN\r\n"),
        ProxyHeader::Proxied {
            source,
            destination,
        } => {
            let (family, destination_ip) = match (source.ip(), destination.ip()) {
                (IpAddr::V4(_), IpAddr::V4(d)) => ("TCP4", IpAddr::V4(d)),
                (IpAddr::V4(_), IpAddr::V6(d)) => (
                    "TCP4",
                    d.to_ipv4_mapped()
                        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4),
                ),
                (IpAddr::V6(_), IpAddr::V4(d)) => ("TCP6", IpAddr::V6(d.to_ipv6_mapped())),
                (IpAddr::V6(_), IpAddr::V6(d)) => ("TCP6", IpAddr::V6(d)),
            };
            let _ = write!(
                out,
                "PROXY {family} {} {destination_ip} {} {}\r\n",
                source.ip(),
                source.port(),
                destination.port()
            );
        }
    }
}

/// Appends the version 2 header for `header` to `out`, with no TLV: the `PROXY` command over
/// TCP (IPv4 when both addresses are IPv4, IPv6 otherwise, IPv4-mapped as needed), or the
/// `LOCAL` command with no address for [`ProxyHeader::Local`].
pub fn encode_v2(header: &ProxyHeader, out: &mut Vec<u8>) {
    out.extend_from_slice(&V2_SIGNATURE);
    match *header {
        ProxyHeader::Local => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
        ProxyHeader::Proxied {
            source,
            destination,
        } => {
            match (source.ip(), destination.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.extend_from_slice(&[0x21, 0x11, 0, 12]);
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    let v6 = |ip: IpAddr| match ip {
                        IpAddr::V4(ip) => ip.to_ipv6_mapped(),
                        IpAddr::V6(ip) => ip,
                    };
                    out.extend_from_slice(&[0x21, 0x21, 0, 36]);
                    out.extend_from_slice(&v6(s).octets());
                    out.extend_from_slice(&v6(d).octets());
                }
            }
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests;
