//! How to connect: [`ConnectOptions`].

use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use ftp_proto::client::{ClientConfig, Credentials, DataMode, PasvAddressPolicy};

#[cfg(feature = "tls")]
use crate::tls::TlsConfig;
use crate::url::FtpUrl;

/// Whether and how the control connection uses TLS.
///
/// [`Explicit`](Self::Explicit) and [`Implicit`](Self::Implicit) need the `tls` feature (on
/// by default); without it, connecting with either fails with
/// [`Error::TlsNotBuiltIn`](crate::Error::TlsNotBuiltIn) before anything is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Plain FTP.
    #[default]
    None,
    /// Explicit FTPS (RFC 4217): `AUTH TLS` on the plain port, then `PBSZ 0` and `PROT P`, so
    /// data connections use TLS as well.
    Explicit,
    /// Implicit FTPS: TLS from the first byte (port 990 by convention), then `PBSZ 0` and
    /// `PROT P` at login.
    Implicit,
}

/// Everything a connection needs: where, TLS, login, timeouts and data-connection policy.
///
/// Built with chained calls; every setting has a default that works with common servers:
/// passive mode (EPSV, then PASV, with the NAT-safe address policy), 30 s to connect, 60 s per
/// reply, 30 s to open or close a data connection, 60 s of silence on an open data connection.
///
/// ```
/// use std::time::Duration;
/// use ftp_client::{ConnectOptions, TlsMode};
///
/// let options = ConnectOptions::new("ftp.example.com", 21)
///     .tls(TlsMode::Explicit)
///     .login("alice", "secret")
///     .reply_timeout(Duration::from_secs(20))
///     .active();
/// assert_eq!(options.host(), "ftp.example.com");
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls_mode: TlsMode,
    #[cfg(feature = "tls")]
    pub(crate) tls: TlsConfig,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) session: ClientConfig,
    pub(crate) connect_timeout: Duration,
    pub(crate) data_idle_timeout: Duration,
    pub(crate) active_ports: Option<RangeInclusive<u16>>,
    pub(crate) active_bind: Option<IpAddr>,
    pub(crate) connector: Option<crate::connector::SharedConnector>,
}

impl ConnectOptions {
    /// Plain FTP to `host` (a name or an IP address) on `port`, no login.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        let session = ClientConfig {
            // Plain ABOR works with every server; Telnet IP + Synch hangs some, and the reset
            // of the data connection stops the transfer anyway.
            abort_with_telnet_sync: false,
            ..ClientConfig::default()
        };
        Self {
            host: host.into(),
            port,
            tls_mode: TlsMode::None,
            #[cfg(feature = "tls")]
            tls: TlsConfig::default(),
            credentials: None,
            session,
            connect_timeout: Duration::from_secs(30),
            data_idle_timeout: Duration::from_secs(60),
            active_ports: None,
            active_bind: None,
            connector: None,
        }
    }

    /// The options a URL names: host, port, TLS mode from the scheme, and a login with the
    /// URL's user and password (`anonymous` when it names no user). An `ftps://` or `ftpes://`
    /// URL asks for FTPS, which needs the `tls` feature (see [`tls`](Self::tls)).
    pub fn from_url(url: &FtpUrl) -> Self {
        let options = Self::new(url.host.clone(), url.port).tls(url.tls);
        match &url.user {
            Some(user) => options.login(user.as_str(), url.password.as_deref().unwrap_or("")),
            None => options.anonymous(),
        }
    }

    /// Uses TLS as `mode` says. FTPS needs the `tls` feature: without it, connecting with
    /// [`TlsMode::Explicit`] or [`TlsMode::Implicit`] fails with
    /// [`Error::TlsNotBuiltIn`](crate::Error::TlsNotBuiltIn).
    #[must_use]
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls_mode = mode;
        self
    }

    /// Trusts, verifies and resumes TLS sessions as `config` says (the default trusts the
    /// Mozilla roots when the `webpki-roots` feature is on).
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[must_use]
    pub fn tls_config(mut self, config: TlsConfig) -> Self {
        self.tls = config;
        self
    }

    /// Logs in with this user and password once connected.
    #[must_use]
    pub fn login(mut self, user: impl AsRef<str>, password: impl AsRef<str>) -> Self {
        self.credentials = Some(Credentials::new(
            user.as_ref().to_owned(),
            password.as_ref().to_owned(),
        ));
        self
    }

    /// Logs in as `anonymous` once connected.
    #[must_use]
    pub fn anonymous(mut self) -> Self {
        self.credentials = Some(Credentials::anonymous());
        self
    }

    /// Logs in with these credentials (with an account, say) once connected.
    #[must_use]
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// How long resolving, connecting and (implicit FTPS) the TLS handshake may take.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long each reply (and the greeting, and an `AUTH TLS` handshake) may take. Past it
    /// the connection is closed and the call fails with [`Error::Timeout`](crate::Error::Timeout).
    #[must_use]
    pub fn reply_timeout(mut self, timeout: Duration) -> Self {
        self.session.reply_timeout = timeout;
        self
    }

    /// How long a data connection may take to be bound, to connect (either way, TLS included)
    /// and to close after its transfer.
    #[must_use]
    pub fn data_timeout(mut self, timeout: Duration) -> Self {
        self.session.data_timeout = timeout;
        self
    }

    /// How long an open data connection may stay silent (no byte read, or no room to write)
    /// before the transfer fails with
    /// [`DataFailure::TimedOut`](ftp_proto::client::DataFailure::TimedOut).
    #[must_use]
    pub fn data_idle_timeout(mut self, timeout: Duration) -> Self {
        self.data_idle_timeout = timeout;
        self
    }

    /// Passive data connections (the default): the client connects to the server.
    #[must_use]
    pub fn passive(mut self) -> Self {
        self.session.data_mode = DataMode::Passive;
        self
    }

    /// Opens the control connection and passive data connections with `connector` (a SOCKS5
    /// or HTTP CONNECT proxy, say) instead of a direct TCP connect.
    #[must_use]
    pub fn connector(mut self, connector: impl crate::Connector) -> Self {
        self.connector = Some(crate::connector::SharedConnector(std::sync::Arc::new(
            connector,
        )));
        self
    }

    /// Active data connections: the client listens and the server connects (EPRT, then PORT
    /// when the server refuses EPRT). Only connections from the control connection's peer are
    /// accepted.
    #[must_use]
    pub fn active(mut self) -> Self {
        self.session.data_mode = DataMode::Active;
        self
    }

    /// The address active mode advertises in EPRT/PORT (for a client behind NAT, its public
    /// address). Default: the control connection's local address. The listener binds it too,
    /// unless [`active_bind_address`](Self::active_bind_address) says otherwise.
    #[must_use]
    pub fn active_address(mut self, ip: IpAddr) -> Self {
        self.session.active_address = Some(ip);
        self
    }

    /// The local address active-mode listeners bind (`0.0.0.0`, say, when the advertised
    /// address is a NAT's). Default: the advertised address.
    #[must_use]
    pub fn active_bind_address(mut self, ip: IpAddr) -> Self {
        self.active_bind = Some(ip);
        self
    }

    /// The ports active-mode listeners may use (a firewall's opening, say); the first free one
    /// is taken. Default: any port the system picks.
    #[must_use]
    pub fn active_port_range(mut self, ports: RangeInclusive<u16>) -> Self {
        self.active_ports = Some(ports);
        self
    }

    /// Which address a PASV (227) reply's connection goes to. Default:
    /// [`PasvAddressPolicy::UseControlPeer`], the control connection's peer (curl's default
    /// since CVE-2020-8284), which also works with servers behind NAT that announce a private
    /// address.
    #[must_use]
    pub fn pasv_address_policy(mut self, policy: PasvAddressPolicy) -> Self {
        self.session.pasv_address = policy;
        self
    }

    /// Whether to try EPSV before PASV (default true; a refusal switches to PASV for the rest
    /// of the session).
    #[must_use]
    pub fn epsv(mut self, on: bool) -> Self {
        self.session.epsv = on;
        self
    }

    /// Whether to try EPRT before PORT in active mode (default true).
    #[must_use]
    pub fn eprt(mut self, on: bool) -> Self {
        self.session.eprt = on;
        self
    }

    /// The whole protocol configuration (reply limits, FEAT, UTF8, ABOR style, keep-alive,
    /// ...), for settings without a method here. The methods above edit the same value.
    #[must_use]
    pub fn session_config(mut self, config: ClientConfig) -> Self {
        self.session = config;
        self
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TLS mode.
    pub fn tls_mode(&self) -> TlsMode {
        self.tls_mode
    }

    /// The protocol configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.session
    }

    /// [`Error::TlsNotBuiltIn`](crate::Error::TlsNotBuiltIn) when these options ask for FTPS
    /// and the `tls` feature is off; checked before anything is connected.
    pub(crate) fn check_tls_built_in(&self) -> crate::Result<()> {
        if self.tls_mode != TlsMode::None && !cfg!(feature = "tls") {
            return Err(crate::Error::TlsNotBuiltIn);
        }
        Ok(())
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host:port`, `[v6]:port` or a bare host (port 21).
pub(crate) fn parse_host_port(target: &str) -> Result<(String, u16), crate::url::UrlError> {
    use crate::url::UrlError;
    if let Some(rest) = target.strip_prefix('[') {
        let end = rest.find(']').ok_or(UrlError::Ipv6)?;
        let host = &rest[..end];
        let port = match &rest[end + 1..] {
            "" => 21,
            p => p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .filter(|&p: &u16| p != 0)
                .ok_or_else(|| UrlError::Port(p.to_string()))?,
        };
        return Ok((host.to_string(), port));
    }
    // A bare IPv6 address has several colons and no port.
    if target.matches(':').count() > 1 {
        return Ok((target.to_string(), 21));
    }
    match target.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse()
                .ok()
                .filter(|&p: &u16| p != 0)
                .ok_or_else(|| UrlError::Port(port.to_string()))?;
            if host.is_empty() {
                return Err(UrlError::MissingHost);
            }
            Ok((host.to_string(), port))
        }
        None if target.is_empty() => Err(UrlError::MissingHost),
        None => Ok((target.to_string(), 21)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(parse_host_port("h:2121").unwrap(), ("h".into(), 2121));
        assert_eq!(parse_host_port("h").unwrap(), ("h".into(), 21));
        assert_eq!(parse_host_port("[::1]:99").unwrap(), ("::1".into(), 99));
        assert_eq!(parse_host_port("::1").unwrap(), ("::1".into(), 21));
        assert!(parse_host_port(":21").is_err());
        assert!(parse_host_port("h:x").is_err());
    }
}
