//! [`Connector`]: bring your own way of opening TCP connections (a SOCKS5 or HTTP CONNECT
//! proxy, a socket option, a test double), used by every client style for the control
//! connection and for every passive data connection.

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// Opens the client's TCP connections: the control connection and every passive data
/// connection. Active mode's listener is the client's own socket, which a connector does not
/// make (a proxy could not accept for it anyway: use passive mode through proxies).
///
/// Return a connected `std::net::TcpStream` on which FTP's bytes flow, that is, after the
/// proxy's own handshake (SOCKS5 `CONNECT`, `HTTP CONNECT`). TLS for FTPS runs over it.
///
/// The call blocks. The blocking client makes it on the calling thread; the async clients
/// make it on a thread of its own for each connection, so it never blocks the executor, and
/// then register the stream with their runtime. That thread is the only one the crate
/// starts, and only when a connector is set.
pub trait Connector: Send + Sync + 'static {
    /// Connects to `host` (a name or an address as given for the control connection; for
    /// data connections the IP address the session chose, as text) on `port`, within
    /// `timeout`.
    fn connect(&self, host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream>;
}

/// A shared connector in the options.
#[derive(Clone)]
pub(crate) struct SharedConnector(pub(crate) Arc<dyn Connector>);

impl fmt::Debug for SharedConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Connector")
    }
}
