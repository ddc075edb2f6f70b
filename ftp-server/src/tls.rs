//! FTPS (RFC 4217) with rustls: the certificate and the TLS settings a server uses.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;

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

    /// The configuration for one FTP session: a copy with a session cache of its own, so that a
    /// resumed data-connection handshake can only have resumed a session of this FTP session.
    pub(crate) fn for_session(&self) -> Arc<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::clone(&self.config);
        config.session_storage = ServerSessionMemoryCache::new(32);
        Arc::new(config)
    }

    /// The configuration as given.
    pub fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }
}
