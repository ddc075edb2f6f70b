//! FTPS (RFC 4217) with rustls: the certificate and the TLS settings a server uses.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;

/// The TLS configurations of one FTP session.
pub(crate) struct SessionTls {
    pub(crate) control: Arc<rustls::ServerConfig>,
    pub(crate) data: DataTls,
}

/// The TLS configurations of one FTP session's data connections.
#[derive(Clone)]
pub(crate) struct DataTls {
    /// For downloads and listings, or when the direction is not known yet: one TLS 1.3 ticket,
    /// so that clients that resume the latest session (curl) can go on resuming.
    pub(crate) download: Arc<rustls::ServerConfig>,
    /// For uploads: no TLS 1.3 ticket. An uploading client never reads, and a client that
    /// closes a socket with unread bytes (the ticket) makes its kernel send a reset and drop
    /// what it had not sent yet: the end of the upload (seen with lftp and curl; vsftpd's
    /// well-known TLS 1.3 upload failures).
    pub(crate) upload: Arc<rustls::ServerConfig>,
}

/// A rustls server configuration for explicit (AUTH TLS) and implicit FTPS.
///
/// Built from PEM files with [`TlsConfig::from_pem_files`] (ring as the crypto provider, TLS 1.2
/// and 1.3), or from any `rustls::ServerConfig` with [`TlsConfig::from_rustls`]. The control and
/// data connections of one FTP session share a session cache of their own, which is what lets
/// the server require that data connections resume the control connection's TLS session
/// ([`crate::Server::require_tls_session_reuse`]).
#[derive(Clone, Debug)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
}

impl TlsConfig {
    /// Reads a certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1).
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Self> {
        let cert = std::fs::read(cert)?;
        let key = std::fs::read(key)?;
        Self::from_pem(&cert, &key)
    }

    /// A certificate chain and private key from PEM text.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> io::Result<Self> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("certificate PEM cannot be read"))?;
        if chain.is_empty() {
            return Err(invalid("no certificate in the certificate PEM"));
        }
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|_| invalid("private key PEM cannot be read"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(&e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Self::from_rustls(Arc::new(config)))
    }

    /// Any rustls server configuration (client certificates, other providers, ALPN, ...).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        Self { config }
    }

    /// The configurations for one FTP session's control and data connections.
    ///
    /// Both share a session cache (TLS 1.2 session IDs) and a ticket key (TLS 1.3 tickets,
    /// stateless, so one ticket can resume every data connection) that belong to this FTP
    /// session alone: a resumed data-connection handshake can only have resumed a session of
    /// this FTP session. See [`DataTls`] for the tickets data connections send.
    pub(crate) fn for_session(&self) -> SessionTls {
        let mut control = rustls::ServerConfig::clone(&self.config);
        control.session_storage = ServerSessionMemoryCache::new(32);
        if let Ok(ticketer) = rustls::crypto::ring::Ticketer::new() {
            control.ticketer = ticketer;
        }
        let mut download = control.clone();
        download.send_tls13_tickets = 1;
        let mut upload = control.clone();
        upload.send_tls13_tickets = 0;
        SessionTls {
            control: Arc::new(control),
            data: DataTls {
                download: Arc::new(download),
                upload: Arc::new(upload),
            },
        }
    }

    /// The configuration as given.
    pub fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }
}
