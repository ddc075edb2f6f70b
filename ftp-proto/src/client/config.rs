//! Client configuration ([`ClientConfig`]) and what the driver knows about the control
//! connection ([`ClientControlInfo`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use crate::addr::{canonical_ip, Leniency};
use crate::command::HostName;
use crate::line::CrEncoding;
use crate::reply::ReplyConfig;

/// How data connections are set up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DataMode {
    /// The client connects to the server: EPSV first, PASV when EPSV is refused. The default,
    /// and what works through NAT and firewalls.
    #[default]
    Passive,
    /// The server connects to the client: the driver listens, then EPRT (PORT when EPRT is
    /// refused) names the listener.
    Active,
}

/// Which address a `227` reply's connection goes to (CVE-2020-8284).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PasvAddressPolicy {
    /// The control connection's peer, with the reply's port: a server cannot point the client
    /// at a third host, and a server behind NAT that announces its private address still works.
    /// The default (curl, Apache Commons Net).
    #[default]
    UseControlPeer,
    /// The address in the reply, whatever it is.
    TrustReply,
    /// The address in the reply, unless it is unspecified (`0.0.0.0`) or private, loopback,
    /// link-local or shared (CGNAT) while the control peer is not: then the control peer.
    TrustUnlessUnroutable,
}

impl PasvAddressPolicy {
    /// Where to connect for a 227 reply announcing `reply`, on a control connection to
    /// `control_peer`.
    pub fn choose(self, reply: SocketAddrV4, control_peer: IpAddr) -> SocketAddr {
        let peer = SocketAddr::new(canonical_ip(control_peer), reply.port());
        match self {
            Self::UseControlPeer => peer,
            Self::TrustReply => SocketAddr::V4(reply),
            Self::TrustUnlessUnroutable => {
                let announced = *reply.ip();
                let internal_peer = match canonical_ip(control_peer) {
                    IpAddr::V4(ip) => looks_internal(ip),
                    IpAddr::V6(ip) => ip.is_loopback() || ip.is_unspecified(),
                };
                if announced.is_unspecified() || (looks_internal(announced) && !internal_peer) {
                    peer
                } else {
                    SocketAddr::V4(reply)
                }
            }
        }
    }
}

/// Private (RFC 1918), loopback, link-local or shared (RFC 6598) address.
fn looks_internal(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b))
}

/// Policies and limits of one client session.
///
/// Every field has a sensible default ([`ClientConfig::default`]); the fields are public so an
/// application builds its configuration with struct-update syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Reply parsing: leniency (tolerant by default: bare LF, glFTPd's mismatched final code)
    /// and limits (line length, lines per reply, buffered bytes).
    pub reply: ReplyConfig,
    /// How long a command (and the greeting, and a TLS handshake) may wait for its reply.
    /// Past it the session closes ([`CloseReason::Timeout`](super::CloseReason::Timeout)): the
    /// control connection is out of step. The wait is suspended while a transfer's bytes move.
    pub reply_timeout: Duration,
    /// How long a data connection may take to be bound, to connect (either way) and to close
    /// after its transfer: past it the operation fails with
    /// [`DataFailure::TimedOut`](super::DataFailure::TimedOut).
    pub data_timeout: Duration,
    /// Send `NOOP` after this long without any command while the session is idle, so that NAT
    /// tables and idle timers keep the control connection alive. `None`: never.
    pub keepalive: Option<Duration>,
    /// After ABOR, when the first reply was a 2yz that may have been the transfer's own (the
    /// server finished just before the ABOR arrived), how long to wait for the ABOR's reply
    /// before going on without it.
    pub abort_grace: Duration,
    /// Passive (EPSV/PASV) or active (EPRT/PORT) data connections.
    pub data_mode: DataMode,
    /// Send EPSV before PASV. A 5yz to EPSV switches to PASV for the rest of the session.
    pub epsv: bool,
    /// Send EPRT before PORT (IPv4). A 500, 501 or 502 to EPRT switches to PORT for the rest
    /// of the session.
    pub eprt: bool,
    /// Where a 227 reply's connection goes.
    pub pasv_address: PasvAddressPolicy,
    /// The address to listen on in active mode; `None`: the control connection's local
    /// address.
    pub active_address: Option<IpAddr>,
    /// How 227/229 reply texts are read: lenient by default (227 numbers above 255 reduced
    /// modulo 256, a 229 with a filled-in address read for its port).
    pub address_leniency: Leniency,
    /// Send `HOST <name>` (RFC 7151) before the first AUTH or USER.
    pub host: Option<HostName>,
    /// Send FEAT after login and remember the features for the session.
    pub feat: bool,
    /// Send `OPTS UTF8 ON` after FEAT when it lists UTF8 (a refusal is ignored).
    pub utf8: bool,
    /// After AUTH TLS (or, with implicit TLS, before USER), send `PBSZ 0` and `PROT P` so data
    /// connections use TLS too.
    pub protect_data: bool,
    /// With PROT P, how long a connected data connection waits for the server's 1yz to the
    /// transfer command before its TLS handshake starts anyway
    /// ([`ClientDataIntent::Handshake`](super::ClientDataIntent::Handshake)).
    ///
    /// Why wait: a TLS 1.3 handshake uses up one of the client's session tickets, which a
    /// transfer the server refuses (no such file) would waste, and servers that require
    /// session reuse (vsftpd's `require_ssl_reuse`) refuse every data connection once the
    /// client has none left. (vsftpd also starts its side of the handshake only after the
    /// transfer command, so the handshake can never finish before that command goes out.)
    /// Why not wait for the 1yz alone: some servers (ftp-srv) answer the transfer command
    /// only after the data handshake.
    pub data_tls_grace: Duration,
    /// ABOR is preceded by Telnet IP and Synch (`IAC IP IAC DM`, sent as urgent data), as RFC
    /// 959 §4.1.3 recommends. Some servers handle a plain `ABOR` better.
    pub abort_with_telnet_sync: bool,
    /// How a CR inside a pathname is sent: refused by default, or `CR NUL` (RFC 2640 §3.1).
    pub cr_encoding: CrEncoding,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            reply: ReplyConfig::default(),
            reply_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(30),
            keepalive: None,
            abort_grace: Duration::from_secs(3),
            data_mode: DataMode::Passive,
            epsv: true,
            eprt: true,
            pasv_address: PasvAddressPolicy::UseControlPeer,
            active_address: None,
            address_leniency: Leniency::Lenient,
            host: None,
            feat: true,
            utf8: true,
            protect_data: true,
            data_tls_grace: Duration::from_millis(500),
            abort_with_telnet_sync: true,
            cr_encoding: CrEncoding::Refuse,
        }
    }
}

/// The control connection as the client sees it: the server's end (`peer`), the client's
/// (`local`) and whether it is implicit FTPS. The server's counterpart is
/// [`ServerControlInfo`](crate::server::ServerControlInfo).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientControlInfo {
    /// The server's end: EPSV connections go to its IP, active-mode connections must come from
    /// it.
    pub peer: SocketAddr,
    /// The client's end: active-mode listeners bind its IP unless
    /// [`ClientConfig::active_address`] is set.
    pub local: SocketAddr,
    /// Implicit FTPS: TLS from the first byte (the driver has done the handshake before any
    /// input). AUTH TLS is then refused as a usage error.
    pub implicit_tls: bool,
}

impl ClientControlInfo {
    /// A plaintext control connection from `local` to `peer`.
    pub fn new(local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            peer,
            local,
            implicit_tls: false,
        }
    }
}
