//! The PROXY protocol (versions 1 and 2) on the control and the data listeners: a server
//! behind a TCP load balancer learns each client's own address from the header the balancer
//! sends first ([`ftp_proto::proxy`]).
//!
//! The header is read only from [trusted](ProxyProtocol::new) addresses, and from them it is
//! required. A connection from any other address is refused (`421` on a control connection,
//! a close on a data connection) unless [`ProxyProtocol::allow_direct`] serves it under its
//! own address; a header such a peer sends is never read as one. A missing, malformed,
//! truncated or slow header closes the connection after at most
//! [`ProxyProtocol::header_timeout`], and never more than the header's bytes are read: what
//! follows (FTP commands, a TLS ClientHello) is left for the session.
//!
//! The client address a header carries is the session's address everywhere: session limits
//! per address, bans, logs and events, the PORT/EPRT check (RFC 2577) and the check that a
//! passive data connection comes from the client of its control connection.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use ftp_proto::addr::canonical_ip;
use ftp_proto::proxy::{ProxyHeader, ProxyHeaderReader};
use futures_lite::AsyncReadExt;

use crate::runtime::{self, Conn, Runtime};

/// A block of IP addresses: an address and how many leading bits of it count, written
/// `ADDRESS/BITS` (`10.0.0.0/8`, `2001:db8::/32`) or a lone address (all bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix_len: u8,
}

impl IpNet {
    /// The block of `prefix_len` leading bits of `addr`; `None` when `prefix_len` is longer
    /// than the address (32 for IPv4, 128 for IPv6). IPv4-mapped IPv6 addresses count as IPv4.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        let (addr, prefix_len) = match addr {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() && prefix_len >= 96 => {
                (canonical_ip(addr), prefix_len - 96)
            }
            _ => (addr, prefix_len),
        };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        (prefix_len <= bits).then_some(Self { addr, prefix_len })
    }

    /// True when `ip` is inside the block (IPv4-mapped IPv6 addresses as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = u32::from(self.prefix_len);
        match (self.addr, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// Why text is not an [`IpNet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidIpNet(String);

impl fmt::Display for InvalidIpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an address or ADDRESS/BITS block: {:?}", self.0)
    }
}

impl std::error::Error for InvalidIpNet {}

impl FromStr for IpNet {
    type Err = InvalidIpNet;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidIpNet(text.to_owned());
        let (addr, bits) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let full = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match bits {
            None => full,
            Some(bits) if bits.bytes().all(|b| b.is_ascii_digit()) && bits.len() <= 3 => {
                bits.parse().map_err(|_| invalid())?
            }
            Some(_) => return Err(invalid()),
        };
        Self::new(addr, prefix_len).ok_or_else(invalid)
    }
}

/// Where the PROXY protocol is accepted, and what happens to other connections. See the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct ProxyProtocol {
    trusted: Vec<IpNet>,
    allow_direct: bool,
    header_timeout: Duration,
}

impl ProxyProtocol {
    /// Requires a PROXY protocol header (version 1 or 2) on every connection from the
    /// `trusted` blocks (the load balancers) and refuses connections from anywhere else.
    pub fn new(trusted: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            trusted: trusted.into_iter().collect(),
            allow_direct: false,
            header_timeout: Duration::from_secs(10),
        }
    }

    /// Serves connections from untrusted addresses too, as direct connections under their
    /// own address (a header they send is never read as one). Default: refused.
    pub fn allow_direct(mut self, allowed: bool) -> Self {
        self.allow_direct = allowed;
        self
    }

    /// How long a trusted peer may take to send the whole header before the connection is
    /// closed. Default: 10 seconds.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// The trusted blocks.
    pub fn trusted(&self) -> &[IpNet] {
        &self.trusted
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(ip))
    }
}

/// Why a connection was not given a client address.
#[derive(Debug)]
pub(crate) enum NoClientAddress {
    /// The peer is not a trusted balancer, and direct connections are refused.
    Untrusted,
    /// The trusted peer's header was malformed, truncated, late, or the read failed.
    BadHeader(String),
}

impl fmt::Display for NoClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Untrusted => {
                f.write_str("direct connection from an address not trusted to proxy")
            }
            Self::BadHeader(why) => write!(f, "bad PROXY protocol header: {why}"),
        }
    }
}

/// The address of the client behind `conn`, whose socket peer is `socket_peer`: the socket
/// peer itself when no PROXY protocol is configured (or for an allowed direct connection),
/// else the source address of the header read from `conn`, which consumes exactly the header.
pub(crate) async fn client_address(
    policy: Option<&ProxyProtocol>,
    rt: &dyn Runtime,
    conn: &mut Box<dyn Conn>,
    socket_peer: SocketAddr,
) -> Result<SocketAddr, NoClientAddress> {
    let Some(policy) = policy else {
        return Ok(socket_peer);
    };
    if !policy.trusts(socket_peer.ip()) {
        return match policy.allow_direct {
            true => Ok(socket_peer),
            false => Err(NoClientAddress::Untrusted),
        };
    }
    let deadline = Instant::now() + policy.header_timeout;
    // Boxed: the header's buffer would otherwise be part of every session's task, for its
    // whole life, whether or not it came through a balancer.
    let header = runtime::timeout_at(rt, deadline, Box::pin(read_header(conn)))
        .await
        .unwrap_or_else(|| Err("not complete in time".into()))
        .map_err(NoClientAddress::BadHeader)?;
    Ok(match header {
        ProxyHeader::Proxied { source, .. } => source,
        ProxyHeader::Local => socket_peer,
    })
}

/// Reads one header from `conn`, not a byte more.
async fn read_header(conn: &mut Box<dyn Conn>) -> Result<ProxyHeader, String> {
    let mut reader = ProxyHeaderReader::new();
    let mut buf = [0u8; 256];
    loop {
        let wanted = reader.wanted().min(buf.len());
        let n = conn
            .read(&mut buf[..wanted])
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed inside the header".into());
        }
        match reader.push(&buf[..n]) {
            Ok(None) => {}
            Ok(Some(header)) => return Ok(header),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect(text)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect(text)
    }

    #[test]
    fn blocks_parse_and_contain() {
        assert_eq!(net("10.1.2.3").to_string(), "10.1.2.3/32");
        assert_eq!(net("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(net("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "x/1",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
        let ten = net("10.0.0.0/8");
        assert!(ten.contains(ip("10.255.0.1")));
        assert!(ten.contains(ip("::ffff:10.0.0.1")));
        assert!(!ten.contains(ip("11.0.0.1")));
        assert!(!ten.contains(ip("::1")));
        assert!(net("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(net("::/0").contains(ip("2001:db8::1")));
        let doc = net("2001:db8::/33");
        assert!(doc.contains(ip("2001:db8:7fff::1")));
        assert!(!doc.contains(ip("2001:db8:8000::1")));
        let one = net("127.0.0.1");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
    }
}
