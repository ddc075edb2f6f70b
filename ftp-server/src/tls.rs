//! FTPS (RFC 4217) with rustls: the certificate and the TLS settings a server uses.

use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;

/// The TLS configurations of one FTP session.
pub(crate) struct SessionTls {
    pub(crate) control: Arc<rustls::ServerConfig>,
    pub(crate) data: DataTls,
}

/// The TLS configurations of one FTP session's data connections.
///
/// Both send the TLS 1.3 tickets a client asks for with the RFC 9149 `ticket_request`
/// extension (up to [`DATA_TICKETS_MAX`]); they differ for clients that do not ask. See
/// [`TlsConfig`] for the whole ticket policy.
#[derive(Clone)]
pub(crate) struct DataTls {
    /// For downloads and listings, or when the direction is not known yet: one TLS 1.3 ticket
    /// unless asked otherwise, so that clients that resume the latest session (curl) or use
    /// each ticket once (rustls) can go on resuming.
    pub(crate) download: Arc<rustls::ServerConfig>,
    /// For uploads: no TLS 1.3 ticket unless asked for. An uploading client may never read,
    /// and a client that closes a socket with unread bytes (the ticket), or receives them
    /// after its close, makes its kernel send a reset and drop what it had not sent yet:
    /// the end of the upload (lftp lost about one upload in two this way; curl, which reads
    /// once before closing, loses the race now and then). A client that asks for tickets
    /// says it reads them (ftp-client drains every data connection before closing it).
    pub(crate) upload: Arc<rustls::ServerConfig>,
}

/// The most TLS 1.3 tickets the control connection sends a client that asks for them (RFC
/// 9149), and the least it sends one that does not: a rustls client keeps at most 8 tickets
/// per server (`ClientSessionMemoryCache`), so more would be thrown away.
pub(crate) const CONTROL_TICKETS: usize = 8;

/// The most TLS 1.3 tickets a data connection sends a client that asks for them (RFC 9149):
/// one to replace the ticket the connection used up, one more to make up for a ticket lost
/// on an earlier connection (an aborted transfer closed before its ticket was read).
pub(crate) const DATA_TICKETS_MAX: usize = 2;

/// A rustls server configuration for explicit (AUTH TLS) and implicit FTPS.
///
/// Built from PEM files with [`TlsConfig::from_pem_files`] (aws-lc-rs as the crypto provider,
/// TLS 1.2 and 1.3), or from any `rustls::ServerConfig` with [`TlsConfig::from_rustls`]. The
/// control and data connections of one FTP session share a session cache of their own, which
/// is what lets the server require that data connections resume the control connection's TLS
/// session ([`crate::Server::require_tls_session_reuse`]).
///
/// # TLS 1.3 session tickets
///
/// With TLS 1.3 a data connection resumes the control connection's session by presenting a
/// ticket. Each FTP session has a ticket key of its own and its tickets are stateless: a
/// ticket resumes any number of data connections of its FTP session, and none of another.
/// How many tickets each connection sends:
///
/// | connection | client that does not ask | client that asks (RFC 9149 `ticket_request`) |
/// |---|---|---|
/// | control | 8 (or the configuration's `send_tls13_tickets`, if more) | what it asks, up to 8 |
/// | download or listing | 1 | what it asks, up to 2 |
/// | upload | 0 | what it asks, up to 2 |
///
/// Uploads send no ticket unasked because clients that only write (curl, lftp) close their
/// end without reading it, and a socket closed with unread bytes, or receiving bytes after
/// its close, resets the connection and drops what the client had not sent yet: the upload's
/// tail (vsftpd's well-known TLS 1.3 upload failures; here the upload would end in `426`). A
/// client that asks for tickets says it reads them. rustls cannot send a ticket later in a
/// connection, so there is no sending one once an upload is over.
///
/// What that means for clients when reuse is required:
///
/// * clients that present the same ticket again (lftp on GnuTLS, Python's `ssl` with the
///   control connection's session): any number of transfers, in any order;
/// * clients that use each ticket once and ask for more (ftp-client): the same;
/// * clients that use each ticket once, keep every ticket and do not ask (rustls' default
///   store keeps 8): 8 uploads per FTP session, downloads and listings without limit;
/// * clients that use each ticket once and keep only the latest (curl with OpenSSL): no
///   data connection after an upload in the same FTP session (`522`).
///
/// TLS 1.2 clients resume one session id as often as they like.
///
/// Clones share one configuration: [`TlsConfig::reload_pem_files`] on any clone (a new
/// certificate, say on SIGHUP) applies to every session that starts TLS afterwards, while
/// sessions already protected keep theirs.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    config: Arc<RwLock<Arc<rustls::ServerConfig>>>,
}

impl TlsConfig {
    /// Reads a certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1 or
    /// SEC1). The key signs once per full handshake, and clients that do not resume the
    /// control connection's session make one per data connection: an ECDSA (P-256) key signs
    /// an order of magnitude faster than an RSA-2048 one.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Self> {
        let cert = std::fs::read(cert)?;
        let key = std::fs::read(key)?;
        Self::from_pem(&cert, &key)
    }

    /// A certificate chain and private key from PEM text.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> io::Result<Self> {
        Ok(Self::from_rustls(server_config_from_pem(cert, key)?))
    }

    /// Replaces the certificate and key (read as [`TlsConfig::from_pem_files`] does) for
    /// every session that starts TLS from now on; on error nothing changes.
    pub fn reload_pem_files(
        &self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> io::Result<()> {
        let config = server_config_from_pem(&std::fs::read(cert)?, &std::fs::read(key)?)?;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// Any rustls server configuration (client certificates, other providers, ALPN, ...).
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            config: Arc::new(RwLock::new(config)),
        }
    }

    /// The configuration sessions starting TLS now get.
    pub fn rustls(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A rustls server configuration for a certificate chain and private key in PEM text.
fn server_config_from_pem(cert: &[u8], key: &[u8]) -> io::Result<Arc<rustls::ServerConfig>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let chain = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid("certificate PEM cannot be read"))?;
    if chain.is_empty() {
        return Err(invalid("no certificate in the certificate PEM"));
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|_| invalid("private key PEM cannot be read"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(&e.to_string()))?;
    Ok(Arc::new(config))
}

impl TlsConfig {
    /// The configurations for one FTP session's control and data connections.
    ///
    /// Both share a session cache (TLS 1.2 session IDs) and a ticket key (TLS 1.3 tickets,
    /// stateless, so one ticket can resume every data connection) that belong to this FTP
    /// session alone: a resumed data-connection handshake can only have resumed a session of
    /// this FTP session.
    ///
    /// The ticket counts of each connection are those of the table in [`TlsConfig`]'s notes:
    /// [`CONTROL_TICKETS`], [`DATA_TICKETS_MAX`] and [`DataTls`].
    pub(crate) fn for_session(&self) -> SessionTls {
        let mut control = rustls::ServerConfig::clone(&self.rustls());
        control.session_storage = ServerSessionMemoryCache::new(32);
        if let Ok(ticketer) = rustls::crypto::aws_lc_rs::Ticketer::new() {
            control.ticketer = ticketer;
        }
        let mut download = control.clone();
        download.send_tls13_tickets = 1;
        download.max_tls13_tickets = DATA_TICKETS_MAX;
        let mut upload = control.clone();
        upload.send_tls13_tickets = 0;
        upload.max_tls13_tickets = DATA_TICKETS_MAX;
        control.send_tls13_tickets = control.send_tls13_tickets.max(CONTROL_TICKETS);
        control.max_tls13_tickets = CONTROL_TICKETS;
        SessionTls {
            control: Arc::new(control),
            data: DataTls {
                download: Arc::new(download),
                upload: Arc::new(upload),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    //! The ticket policy of [`TlsConfig::for_session`], checked with in-memory handshakes: how
    //! many TLS 1.3 tickets each connection sends clients that ask for them (RFC 9149) and
    //! clients that do not.

    use std::process::Command;
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::TicketRequest;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

    use super::{TlsConfig, CONTROL_TICKETS, DATA_TICKETS_MAX};

    /// A throw-away self-signed certificate made with `openssl` (as the integration tests do).
    fn test_config() -> TlsConfig {
        let dir = std::env::temp_dir().join(format!(
            "ftp-server-tls-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl req failed");
        let config = TlsConfig::from_pem_files(&cert, &key).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        config
    }

    /// Trusts any certificate; the handshake signatures are still checked.
    #[derive(Debug)]
    struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AnyCert {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algs = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            let algs = &self.0.signature_verification_algorithms;
            rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// A rustls client (one session store for all its connections), asking for tickets or
    /// not.
    fn client_config(request: Option<TicketRequest>) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth();
        config.send_ticket_request = request;
        Arc::new(config)
    }

    /// One handshake in memory, then everything the server sends after it; returns whether
    /// the handshake resumed and how many tickets the client received.
    fn connect(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) -> (bool, usize) {
        let name = ServerName::try_from("localhost").unwrap();
        let mut c = ClientConnection::new(Arc::clone(client), name).unwrap();
        let mut s = ServerConnection::new(Arc::clone(server)).unwrap();
        for _ in 0..20 {
            let mut wire = Vec::new();
            while c.wants_write() {
                c.write_tls(&mut wire).unwrap();
            }
            let mut input = &wire[..];
            while !input.is_empty() {
                s.read_tls(&mut input).unwrap();
                s.process_new_packets().unwrap();
            }
            let mut wire = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut wire).unwrap();
            }
            let mut input = &wire[..];
            while !input.is_empty() {
                c.read_tls(&mut input).unwrap();
                c.process_new_packets().unwrap();
            }
            if !c.is_handshaking() && !s.is_handshaking() && !c.wants_write() && !s.wants_write() {
                break;
            }
        }
        assert!(!c.is_handshaking(), "the handshake did not complete");
        assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
        let resumed = c.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        (resumed, c.tls13_tickets_received() as usize)
    }

    #[test]
    fn clients_that_do_not_ask_get_no_ticket_on_uploads() {
        let session = test_config().for_session();
        let client = client_config(None);
        let (resumed, tickets) = connect(&client, &session.control);
        assert!(!resumed);
        assert_eq!(tickets, CONTROL_TICKETS);
        // Every upload uses up a ticket and brings none: a ticket its client never reads
        // would make the client's close a reset that loses the end of the upload.
        for _ in 0..CONTROL_TICKETS {
            assert_eq!(connect(&client, &session.data.upload), (true, 0));
        }
        // Downloads bring one; with the supply gone, an upload cannot resume.
        let (resumed, _) = connect(&client, &session.data.upload);
        assert!(!resumed, "the client should have run out of tickets");
        let session = test_config().for_session();
        let client = client_config(None);
        connect(&client, &session.control);
        for _ in 0..3 * CONTROL_TICKETS {
            assert_eq!(connect(&client, &session.data.download), (true, 1));
        }
    }

    #[test]
    fn clients_that_ask_get_tickets_on_every_connection() {
        let session = test_config().for_session();
        let asked = TicketRequest {
            new_session_count: 4,
            resumption_count: 2,
        };
        let client = client_config(Some(asked));
        assert_eq!(connect(&client, &session.control), (false, 4));
        // Far more uploads than the control connection's tickets: each replaces its own.
        for _ in 0..4 * CONTROL_TICKETS {
            assert_eq!(connect(&client, &session.data.upload), (true, 2));
            assert_eq!(connect(&client, &session.data.download), (true, 2));
        }
        // Requests are capped.
        let greedy = client_config(Some(TicketRequest {
            new_session_count: 200,
            resumption_count: 200,
        }));
        assert_eq!(connect(&greedy, &session.control), (false, CONTROL_TICKETS));
        assert_eq!(
            connect(&greedy, &session.data.upload),
            (true, DATA_TICKETS_MAX)
        );
        // A client that asks for none gets none, even on downloads.
        let frugal = client_config(Some(TicketRequest {
            new_session_count: 1,
            resumption_count: 0,
        }));
        assert_eq!(connect(&frugal, &session.control), (false, 1));
        assert_eq!(connect(&frugal, &session.data.download), (true, 0));
    }
}
