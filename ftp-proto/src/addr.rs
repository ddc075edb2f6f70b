//! Data-connection addresses in their three FTP spellings.
//!
//! * PORT argument and 227 reply: `h1,h2,h3,h4,p1,p2` (RFC 959), IPv4 only.
//! * EPRT argument and 229 reply: `<d>af<d>addr<d>port<d>` with any delimiter `d` from ASCII 33
//!   to 126 (RFC 2428); `af` 1 is IPv4, 2 is IPv6.
//! * LPRT argument and 228 reply: `af,hal,h1..,pal,p1..` (RFC 1639); `af` 4 or 6.
//!
//! Parsers take the argument (or the reply text) as bytes and return typed errors for every
//! malformed input: wrong field counts, numbers out of range, port 0, a family that does not
//! match its address. They never panic.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Why an address could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// The wrong number of comma-separated fields (or delimiters).
    #[error("wrong number of fields")]
    FieldCount,
    /// A field is empty, signed, or not a decimal number.
    #[error("field is not a decimal number")]
    NotANumber,
    /// A byte field is above 255, or a length field is not the one the family needs.
    #[error("field out of range")]
    OutOfRange,
    /// The port is 0 or above 65535.
    #[error("invalid port")]
    BadPort,
    /// The delimiter is not a printable ASCII character, or is not used consistently.
    #[error("invalid delimiter")]
    BadDelimiter,
    /// The network address does not parse, or does not match the family.
    #[error("invalid network address")]
    BadAddress,
    /// The address family is one this format knows but we cannot use. For EPRT the server
    /// answers 522 (RFC 2428); for LPRT, 521 (RFC 1639).
    #[error("unsupported address family {0}")]
    UnsupportedFamily(u8),
    /// No address of the expected shape was found in the reply text.
    #[error("no address found in reply")]
    NotFound,
}

/// How forgiving reply-text parsers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Leniency {
    /// Exactly what the RFCs allow.
    #[default]
    Strict,
    /// Also what widespread broken servers send: 227 numbers above 255 are reduced modulo 256
    /// (as D. J. Bernstein advises), and a 229 reply with a filled-in address field is read for
    /// its port alone.
    Lenient,
}

/// Parses a decimal field of 1 to `max_digits` ASCII digits.
fn decimal(field: &[u8], max_digits: usize) -> Result<u32, AddrError> {
    if field.is_empty() || field.len() > max_digits || !field.iter().all(u8::is_ascii_digit) {
        return Err(AddrError::NotANumber);
    }
    Ok(field
        .iter()
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn byte_field(field: &[u8]) -> Result<u8, AddrError> {
    u8::try_from(decimal(field, 3)?).map_err(|_| AddrError::OutOfRange)
}

fn port(value: u32) -> Result<u16, AddrError> {
    match u16::try_from(value) {
        Ok(0) | Err(_) => Err(AddrError::BadPort),
        Ok(port) => Ok(port),
    }
}

/// Parses the PORT argument `h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2): six fields of 0–255, no
/// spaces, port `p1*256+p2` not 0.
pub fn parse_port(arg: &[u8]) -> Result<SocketAddrV4, AddrError> {
    let mut fields = [0u8; 6];
    let mut parts = arg.split(|&b| b == b',');
    for slot in &mut fields {
        *slot = byte_field(parts.next().ok_or(AddrError::FieldCount)?)?;
    }
    if parts.next().is_some() {
        return Err(AddrError::FieldCount);
    }
    host_port_from_fields(fields)
}

fn host_port_from_fields(f: [u8; 6]) -> Result<SocketAddrV4, AddrError> {
    let port = port(u32::from(f[4]) * 256 + u32::from(f[5]))?;
    Ok(SocketAddrV4::new(
        Ipv4Addr::new(f[0], f[1], f[2], f[3]),
        port,
    ))
}

/// Writes `h1,h2,h3,h4,p1,p2` for a PORT argument or a 227 reply.
pub fn format_port(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

/// Reads the address from a 227 reply's text. As RFC 1123 §4.1.2.6 tells clients, it does not
/// rely on parentheses: it takes the first run of six comma-separated numbers anywhere in the
/// text (`(10,0,0,5,195,80).`, `. 10,0,0,5,195,80`, `=10,0,0,5,195,80` all work).
pub fn parse_pasv_reply(text: &[u8], leniency: Leniency) -> Result<SocketAddrV4, AddrError> {
    let mut start = 0;
    while let Some(offset) = text[start..].iter().position(u8::is_ascii_digit) {
        let at = start + offset;
        if let Some(fields) = six_numbers(&text[at..]) {
            let mut bytes = [0u8; 6];
            for (slot, value) in bytes.iter_mut().zip(fields) {
                *slot = match (u8::try_from(value), leniency) {
                    (Ok(v), _) => v,
                    (Err(_), Leniency::Lenient) => (value % 256) as u8,
                    (Err(_), Leniency::Strict) => return Err(AddrError::OutOfRange),
                };
            }
            return host_port_from_fields(bytes);
        }
        start = at + text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    }
    Err(AddrError::NotFound)
}

/// Reads `d+,d+,d+,d+,d+,d+` at the start of `text` (each number up to 5 digits).
fn six_numbers(text: &[u8]) -> Option<[u32; 6]> {
    let mut values = [0u32; 6];
    let mut rest = text;
    for (i, slot) in values.iter_mut().enumerate() {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        *slot = decimal(&rest[..digits], 5).ok()?;
        rest = &rest[digits..];
        if i < 5 {
            rest = rest.strip_prefix(b",")?;
        }
    }
    Some(values)
}

/// The text of a 227 reply: `Entering Passive Mode (h1,h2,h3,h4,p1,p2).`
pub fn format_pasv_reply(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", format_port(addr))
}

/// Parses the EPRT argument `<d>af<d>addr<d>port<d>` (RFC 2428 §2). `af` 1 needs an IPv4
/// dotted quad, `af` 2 an IPv6 address; another number gives
/// [`AddrError::UnsupportedFamily`] (reply 522).
pub fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, AddrError> {
    let [family, address, port_field] = delimited_fields(arg)?;
    let family = u8::try_from(decimal(family, 3)?).map_err(|_| AddrError::OutOfRange)?;
    let text = core::str::from_utf8(address).map_err(|_| AddrError::BadAddress)?;
    let ip = match family {
        1 => IpAddr::V4(
            text.parse::<Ipv4Addr>()
                .map_err(|_| AddrError::BadAddress)?,
        ),
        2 => IpAddr::V6(
            text.parse::<Ipv6Addr>()
                .map_err(|_| AddrError::BadAddress)?,
        ),
        other => return Err(AddrError::UnsupportedFamily(other)),
    };
    Ok(SocketAddr::new(ip, port(decimal(port_field, 5)?)?))
}

/// Splits `<d>a<d>b<d>c<d>` into its three fields, checking the delimiter is printable ASCII and
/// used exactly four times with nothing after the last.
fn delimited_fields(arg: &[u8]) -> Result<[&[u8]; 3], AddrError> {
    let (&delimiter, rest) = arg.split_first().ok_or(AddrError::FieldCount)?;
    if !(33..=126).contains(&delimiter) || delimiter.is_ascii_digit() {
        return Err(AddrError::BadDelimiter);
    }
    let mut parts = rest.split(|&b| b == delimiter);
    let fields = [
        parts.next().ok_or(AddrError::FieldCount)?,
        parts.next().ok_or(AddrError::FieldCount)?,
        parts.next().ok_or(AddrError::FieldCount)?,
    ];
    match (parts.next(), parts.next()) {
        (Some([]), None) => Ok(fields),
        _ => Err(AddrError::FieldCount),
    }
}

/// Writes an EPRT argument: `|1|a.b.c.d|port|` or `|2|ipv6|port|`. IPv4-mapped IPv6 addresses
/// are written as IPv4, so a dual-stack socket's peer is described the way the peer sees it.
pub fn format_eprt(addr: SocketAddr) -> String {
    match canonical_ip(addr.ip()) {
        IpAddr::V4(ip) => format!("|1|{ip}|{}|", addr.port()),
        IpAddr::V6(ip) => format!("|2|{ip}|{}|", addr.port()),
    }
}

/// The address with IPv4-mapped IPv6 (`::ffff:a.b.c.d`) turned into plain IPv4, for comparing a
/// data-connection peer with the control-connection peer.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Reads the port from a 229 reply's text: the last `(`, then `<d><d><d>port<d>)`. The first
/// two fields must be empty (RFC 2428 §3); with [`Leniency::Lenient`] filled-in fields are
/// ignored.
pub fn parse_epsv_reply(text: &[u8], leniency: Leniency) -> Result<u16, AddrError> {
    let open = memchr::memrchr(b'(', text).ok_or(AddrError::NotFound)?;
    let inner = &text[open + 1..];
    let close = memchr::memchr(b')', inner).ok_or(AddrError::NotFound)?;
    let [family, address, port_field] = delimited_fields(&inner[..close])?;
    if leniency == Leniency::Strict && !(family.is_empty() && address.is_empty()) {
        return Err(AddrError::BadAddress);
    }
    port(decimal(port_field, 5)?)
}

/// The text of a 229 reply: `Entering Extended Passive Mode (|||port|)`.
pub fn format_epsv_reply(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Parses the LPRT argument `af,hal,h1,...,pal,p1,p2` (RFC 1639): `af` 4 with `hal` 4, or `af`
/// 6 with `hal` 16, and `pal` 2; all fields 0–255. Another `af` gives
/// [`AddrError::UnsupportedFamily`] (reply 521).
pub fn parse_lprt(arg: &[u8]) -> Result<SocketAddr, AddrError> {
    let mut fields = Vec::with_capacity(21);
    for field in arg.split(|&b| b == b',') {
        if fields.len() == 21 {
            return Err(AddrError::FieldCount);
        }
        fields.push(byte_field(field)?);
    }
    let (family, rest) = fields.split_first().ok_or(AddrError::FieldCount)?;
    let host_len = match *family {
        4 => 4,
        6 => 16,
        other => return Err(AddrError::UnsupportedFamily(other)),
    };
    if rest.len() != host_len + 4 {
        return Err(AddrError::FieldCount);
    }
    if usize::from(rest[0]) != host_len || rest[host_len + 1] != 2 {
        return Err(AddrError::OutOfRange);
    }
    let host = &rest[1..=host_len];
    let port = port(u32::from(rest[host_len + 2]) * 256 + u32::from(rest[host_len + 3]))?;
    let ip = match <[u8; 16]>::try_from(host) {
        Ok(v6) => IpAddr::V6(Ipv6Addr::from(v6)),
        Err(_) => IpAddr::V4(Ipv4Addr::new(host[0], host[1], host[2], host[3])),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Writes an LPRT argument (also the inside of a 228 reply's parentheses).
pub fn format_lprt(addr: SocketAddr) -> String {
    let host: Vec<u8> = match canonical_ip(addr.ip()) {
        IpAddr::V4(ip) => [4, 4].into_iter().chain(ip.octets()).collect(),
        IpAddr::V6(ip) => [6, 16].into_iter().chain(ip.octets()).collect(),
    };
    let [p1, p2] = addr.port().to_be_bytes();
    let mut out = String::new();
    for value in host.into_iter().chain([2, p1, p2]) {
        if !out.is_empty() {
            out.push(',');
        }
        let _ = write!(out, "{value}");
    }
    out
}

/// Reads the address from a 228 reply's text: the fields inside the last parentheses.
pub fn parse_lpsv_reply(text: &[u8]) -> Result<SocketAddr, AddrError> {
    let open = memchr::memrchr(b'(', text).ok_or(AddrError::NotFound)?;
    let inner = &text[open + 1..];
    let close = memchr::memchr(b')', inner).ok_or(AddrError::NotFound)?;
    parse_lprt(&inner[..close])
}

/// The text of a 228 reply: `Entering Long Passive Mode (af,hal,...)`.
pub fn format_lpsv_reply(addr: SocketAddr) -> String {
    format!("Entering Long Passive Mode ({})", format_lprt(addr))
}

/// Reads the protocol list that ends a 522 (EPRT/EPSV, `use (1,2)`) or 521 (LPRT,
/// `(4, 6)`) reply's text: the numbers inside the last parentheses, spaces allowed.
pub fn parse_supported_families(text: &[u8]) -> Result<Vec<u8>, AddrError> {
    let open = memchr::memrchr(b'(', text).ok_or(AddrError::NotFound)?;
    let inner = &text[open + 1..];
    let close = memchr::memchr(b')', inner).ok_or(AddrError::NotFound)?;
    inner[..close]
        .split(|&b| b == b',')
        .map(|field| byte_field(field.trim_ascii()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lprt_and_eprt_format_round_trip() {
        for addr in ["10.1.2.3:21", "[2001:db8::1]:65535", "[::1]:1"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(parse_lprt(format_lprt(addr).as_bytes()), Ok(addr));
            assert_eq!(parse_eprt(format_eprt(addr).as_bytes()), Ok(addr));
        }
    }

    #[test]
    fn mapped_ipv6_is_written_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:2121".parse().unwrap();
        assert_eq!(format_eprt(mapped), "|1|127.0.0.1|2121|");
    }

    #[test]
    fn pasv_scan_skips_numbers_that_are_not_an_address() {
        let text = b"Entering Passive Mode 2 (127,0,0,1,4,1)";
        assert_eq!(
            parse_pasv_reply(text, Leniency::Strict),
            Ok("127.0.0.1:1025".parse().unwrap())
        );
        assert_eq!(
            parse_pasv_reply(b"(1000,0,0,1,4,1)", Leniency::Lenient),
            Ok("232.0.0.1:1025".parse().unwrap())
        );
        assert_eq!(
            parse_pasv_reply(b"(1000,0,0,1,4,1)", Leniency::Strict),
            Err(AddrError::OutOfRange)
        );
    }

    #[test]
    fn eprt_rejects_digit_delimiters_and_trailing_bytes() {
        assert_eq!(parse_eprt(b"1113.1.1.1141"), Err(AddrError::BadDelimiter));
        assert_eq!(parse_eprt(b"|1|1.2.3.4|5|x"), Err(AddrError::FieldCount));
        assert_eq!(parse_eprt(b"|1|1.2.3.4|0|"), Err(AddrError::BadPort));
        assert_eq!(parse_eprt(b""), Err(AddrError::FieldCount));
    }
}
