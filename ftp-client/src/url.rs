//! `ftp://`, `ftps://` and `ftpes://` URLs.

use std::fmt;

use crate::options::TlsMode;

/// Why a URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The scheme is not `ftp`, `ftps` or `ftpes`.
    #[error("unsupported scheme {0:?} (expected ftp://, ftps:// or ftpes://)")]
    Scheme(String),
    /// No host between `//` and the path.
    #[error("no host in the URL")]
    MissingHost,
    /// The port is not a number from 1 to 65535.
    #[error("invalid port {0:?}")]
    Port(String),
    /// A `%` not followed by two hex digits, or a decoded CR, LF or NUL (which no FTP
    /// command can carry).
    #[error("invalid percent-encoding or control character in the URL")]
    Encoding,
    /// An IPv6 address without its closing `]`.
    #[error("unterminated IPv6 address")]
    Ipv6,
}

/// A parsed FTP URL (RFC 1738 §3.2, with the FTPS schemes clients use):
///
/// * `ftp://[user[:password]@]host[:port][/path]`: plain FTP, port 21;
/// * `ftps://...`: **implicit** FTPS (TLS from the first byte), port 990, as curl and lftp read
///   it;
/// * `ftpes://...`: **explicit** FTPS (`AUTH TLS` on the plain port), port 21, as FileZilla
///   reads it.
///
/// User, password and path are percent-decoded (`%40` is `@`, `%2F` a `/`). The path is what
/// follows the host's `/`, so `ftp://h/dir/f` names `dir/f` relative to the login directory
/// and `ftp://h//etc/f` (or `ftp://h/%2Fetc/f`) the absolute `/etc/f`, as RFC 1738 says.
/// A `;type=a|i|d` suffix is read into [`type_code`](Self::type_code) and removed from the
/// path.
///
/// The FTPS schemes are read whatever the crate's features; connecting to such a URL needs
/// the `tls` feature and fails without it with
/// [`Error::TlsNotBuiltIn`](crate::Error::TlsNotBuiltIn), never falling back to plain FTP.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpUrl {
    /// The TLS mode the scheme asks for.
    pub tls: TlsMode,
    /// The host: a name, an IPv4 address or an IPv6 address (without brackets).
    pub host: String,
    /// The port (the scheme's default when the URL names none).
    pub port: u16,
    /// The user, if the URL names one.
    pub user: Option<String>,
    /// The password, if the URL gives one.
    pub password: Option<String>,
    /// The path after the host, decoded; empty for the login directory.
    pub path: String,
    /// The `;type=` code (`a`, `i` or `d`), lower case.
    pub type_code: Option<char>,
}

impl fmt::Debug for FtpUrl {
    /// Like the derived form, with the password hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FtpUrl")
            .field("tls", &self.tls)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("path", &self.path)
            .field("type_code", &self.type_code)
            .finish()
    }
}

impl FtpUrl {
    /// Parses `url`.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| UrlError::Scheme(String::new()))?;
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "ftp" => (TlsMode::None, 21),
            "ftps" => (TlsMode::Implicit, 990),
            "ftpes" => (TlsMode::Explicit, 21),
            other => return Err(UrlError::Scheme(other.to_string())),
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, ""),
        };
        // The last `@` separates the user part: passwords may contain a raw `@`.
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(decode(u)?), Some(decode(p)?)),
                None => (Some(decode(info)?), None),
            },
        };
        let (host, port) = split_host_port(hostport)?;
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| UrlError::Port(p.to_string()))?,
        };
        let (path, type_code) = match path.rsplit_once(";type=") {
            Some((p, code)) if code.len() == 1 => {
                (p, code.chars().next().map(|c| c.to_ascii_lowercase()))
            }
            _ => (path, None),
        };
        Ok(Self {
            tls,
            host: host.to_string(),
            port,
            user,
            password,
            path: decode(path)?,
            type_code,
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The last path segment (the file name), or `""` when the path ends in `/` or is empty.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let end = rest.find(']').ok_or(UrlError::Ipv6)?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(UrlError::Port(after.to_string())),
        };
    }
    Ok(match hostport.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    })
}

/// Percent-decodes `s`; refuses CR, LF and NUL, which no command may carry.
fn decode(s: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(UrlError::Encoding)?;
            let hex = std::str::from_utf8(hex).map_err(|_| UrlError::Encoding)?;
            let value = u8::from_str_radix(hex, 16).map_err(|_| UrlError::Encoding)?;
            out.push(value);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    if out.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(UrlError::Encoding);
    }
    String::from_utf8(out).map_err(|_| UrlError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let url = FtpUrl::parse("ftp://al%40ice:p@ss@example.com:2121/dir/a%20b.txt").unwrap();
        assert_eq!(url.tls, TlsMode::None);
        assert_eq!(url.user.as_deref(), Some("al@ice"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        assert_eq!(url.host, "example.com");
        assert_eq!(url.port, 2121);
        assert_eq!(url.path, "dir/a b.txt");
        assert_eq!(url.file_name(), "a b.txt");
        assert_eq!(url.host_port(), "example.com:2121");
        assert!(!format!("{url:?}").contains("p@ss"));
    }

    #[test]
    fn schemes_and_defaults() {
        let url = FtpUrl::parse("ftps://h").unwrap();
        assert_eq!(
            (url.tls, url.port, url.path.as_str()),
            (TlsMode::Implicit, 990, "")
        );
        let url = FtpUrl::parse("FTPES://h/").unwrap();
        assert_eq!((url.tls, url.port), (TlsMode::Explicit, 21));
        assert_eq!(
            FtpUrl::parse("http://h").unwrap_err(),
            UrlError::Scheme("http".into())
        );
        assert_eq!(FtpUrl::parse("h").unwrap_err(), UrlError::Scheme("".into()));
    }

    #[test]
    fn ipv6_absolute_path_and_type() {
        let url = FtpUrl::parse("ftp://[::1]:21//etc/passwd;type=A").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.host_port(), "[::1]:21");
        assert_eq!(url.path, "/etc/passwd");
        assert_eq!(url.type_code, Some('a'));
        assert_eq!(FtpUrl::parse("ftp://[::1/").unwrap_err(), UrlError::Ipv6);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            FtpUrl::parse("ftp:///x").unwrap_err(),
            UrlError::MissingHost
        );
        assert_eq!(
            FtpUrl::parse("ftp://h:0/").unwrap_err(),
            UrlError::Port("0".into())
        );
        assert_eq!(
            FtpUrl::parse("ftp://h:99999/").unwrap_err(),
            UrlError::Port("99999".into())
        );
        assert_eq!(
            FtpUrl::parse("ftp://h/a%0d%0aDELE").unwrap_err(),
            UrlError::Encoding
        );
        assert_eq!(
            FtpUrl::parse("ftp://h/a%zz").unwrap_err(),
            UrlError::Encoding
        );
    }
}
