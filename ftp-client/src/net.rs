//! Socket helpers every driver shares: active-mode listeners within a port range, aborting
//! resets, and the options the drivers need besides the session's.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::time::Duration;

use ftp_proto::addr::canonical_ip;

use crate::options::ConnectOptions;

/// What a driver needs to know besides the session's configuration.
#[derive(Clone, Debug)]
pub(crate) struct NetOptions {
    pub(crate) reply_timeout: Duration,
    pub(crate) data_timeout: Duration,
    pub(crate) data_idle_timeout: Duration,
    pub(crate) active_ports: Option<RangeInclusive<u16>>,
    pub(crate) active_bind: Option<IpAddr>,
    pub(crate) connector: Option<crate::connector::SharedConnector>,
}

impl NetOptions {
    pub(crate) fn new(options: &ConnectOptions) -> Self {
        Self {
            reply_timeout: options.session.reply_timeout,
            data_timeout: options.session.data_timeout,
            data_idle_timeout: options.data_idle_timeout,
            active_ports: options.active_ports.clone(),
            active_bind: options.active_bind,
            connector: options.connector.clone(),
        }
    }
}

/// Binds the active-mode listener for `Listen { ip }`: on the configured bind address (or
/// `ip`), on the first free port of the configured range (or any port). Returns the listener
/// and the address to report as `Listening` (the advertised `ip` with the bound port).
pub(crate) fn bind_active(net: &NetOptions, ip: IpAddr) -> io::Result<(TcpListener, SocketAddr)> {
    let bind_ip = net.active_bind.unwrap_or(ip);
    let listener = match &net.active_ports {
        None => TcpListener::bind(SocketAddr::new(bind_ip, 0))?,
        Some(range) => {
            let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free port in the range");
            let mut found = None;
            for port in range.clone() {
                match TcpListener::bind(SocketAddr::new(bind_ip, port)) {
                    Ok(listener) => {
                        found = Some(listener);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            found.ok_or(last)?
        }
    };
    let port = listener.local_addr()?.port();
    Ok((listener, SocketAddr::new(ip, port)))
}

/// True when an accepted data connection comes from the expected peer.
pub(crate) fn peer_allowed(peer: SocketAddr, expect: IpAddr) -> bool {
    canonical_ip(peer.ip()) == canonical_ip(expect)
}

/// Makes the next close of `socket` send a reset instead of a FIN, so the server sees an
/// aborted transfer instead of a complete one.
pub(crate) fn reset_on_close<S>(socket: &S)
where
    for<'s> socket2::SockRef<'s>: From<&'s S>,
{
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
}
