//! FTPS configuration: [`TlsConfig`].
//!
//! Every connection builds one rustls `ClientConfig` and uses it for the control connection
//! and every data connection, so data connections resume the control connection's TLS session
//! from the config's in-memory session store (TLS 1.3 tickets or TLS 1.2 session ids), as
//! vsftpd (`require_ssl_reuse=YES`, its default), ProFTPD and FileZilla Server require.
//!
//! # TLS 1.3 tickets
//!
//! rustls uses each TLS 1.3 ticket once (RFC 8446 C.4) and keeps at most 8 per server, so a
//! client that resumes on every data connection needs a fresh ticket from every data
//! connection. Servers built on OpenSSL (vsftpd, Pure-FTPd, pyftpdlib) send one after every
//! resumption; this workspace's ftp-server sends none on uploads unless asked, because
//! clients that close an upload without reading (curl, lftp) would lose its tail to a reset.
//! So every handshake asks for tickets with the RFC 9149 `ticket_request` extension
//! ([`TICKET_REQUEST`]): a server that honours it (ftp-server, other rustls servers that
//! enable it) sends them on uploads too, and this client reads every data connection to its
//! end, uploads included, before closing it, so no ticket is left unread. Servers that do not
//! know the extension ignore it.
//!
//! Presenting one ticket on several connections (what GnuTLS clients such as lftp do) is not
//! possible from a session store: `take_tls13_ticket` must hand over an owned
//! `Tls13ClientSessionValue`, which is neither `Clone` nor constructible outside rustls.
//! Servers that ignore the request and send no ticket on uploads (ProFTPD: two tickets on
//! the control connection, one per download, none per upload) therefore run the supply
//! dry; the session then moves to TLS 1.2 ([`TlsConfig`], "When TLS 1.3 tickets run dry").

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, ClientSessionStore, Resumption, TicketRequest};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How FTPS connections verify the server and which TLS versions they offer.
///
/// * [`TlsConfig::default`]: the Mozilla root certificates (feature `webpki-roots`, on by
///   default; without it, an empty store that trusts nothing until roots are added);
/// * [`with_root_store`](Self::with_root_store), [`add_root_pem`](Self::add_root_pem): your
///   own trust anchors (a private CA, a server's self-signed CA);
/// * [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs): no verification at
///   all, for test servers only;
/// * [`from_rustls`](Self::from_rustls): a complete rustls configuration of your own.
///
/// Whatever the choice, the handshake uses rustls with the aws-lc-rs provider, and data
/// connections resume the control connection's session. The configurations built here ask
/// the server for TLS 1.3 tickets on every connection (RFC 9149 `ticket_request`: 4 on the
/// control connection, 2 on each data connection; see the notes of
/// [`from_rustls`](Self::from_rustls) for a configuration of your own).
///
/// # When TLS 1.3 tickets run dry
///
/// A TLS 1.3 data connection resumes the control connection's session with a ticket, and
/// rustls presents each ticket once (RFC 8446 C.4). Some servers send no new ticket on some
/// data connections: ProFTPD (mod_tls) sends two on the control connection, one on each
/// download and none on uploads, whatever the client asks. After two uploads the client holds
/// no ticket, and a server that requires session reuse (ProFTPD's default, `TLSOptions`
/// without `NoSessionReuseRequired`) would refuse the next data connection (`425 ...
/// Operation not permitted`, leaving an empty file).
///
/// So, before a transfer, when the server has given TLS 1.3 tickets but none is left, PROT P
/// is in effect on a TLS control connection and the session is logged in, the client opens
/// a new control connection with the same options over **TLS 1.2**, logs in with the same
/// credentials, changes to the same working directory and keeps the transfer parameters
/// (TYPE, MODE, STRU); then it quits the old connection and goes on with the new one, whose
/// TLS 1.2 session resumes any number of times. The caller sees nothing of it; a server that
/// does not require reuse pays one extra login per session, once. This happens at most once
/// per session, and not with [`tls12_only`](Self::tls12_only) (no tickets to run out) or
/// [`from_rustls`](Self::from_rustls) (your configuration is used as it is). When the new
/// connection cannot be made (no TLS 1.2 on the server, a limit of one session per user),
/// the old one goes on, and a refused data connection is
/// [`Error::TlsSessionsExhausted`](crate::Error::TlsSessionsExhausted).
#[derive(Clone)]
pub struct TlsConfig {
    verify: Verify,
    tls12_only: bool,
    server_name: Option<String>,
}

#[derive(Clone)]
enum Verify {
    Roots(RootCertStore),
    Insecure,
    Rustls(Arc<ClientConfig>),
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verify = match &self.verify {
            Verify::Roots(roots) => format!("{} roots", roots.len()),
            Verify::Insecure => "NONE (danger_accept_invalid_certs)".to_string(),
            Verify::Rustls(_) => "custom rustls ClientConfig".to_string(),
        };
        f.debug_struct("TlsConfig")
            .field("verify", &verify)
            .field("tls12_only", &self.tls12_only)
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl Default for TlsConfig {
    /// Trusts the Mozilla roots (feature `webpki-roots`), or nothing without the feature.
    fn default() -> Self {
        #[allow(unused_mut)]
        let mut roots = RootCertStore::empty();
        #[cfg(feature = "webpki-roots")]
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::with_root_store(roots)
    }
}

impl TlsConfig {
    /// Trusts exactly the anchors in `roots`.
    pub fn with_root_store(roots: RootCertStore) -> Self {
        Self {
            verify: Verify::Roots(roots),
            tls12_only: false,
            server_name: None,
        }
    }

    /// Adds every certificate of a PEM file's contents (`-----BEGIN CERTIFICATE-----` blocks)
    /// as a trust anchor. Fails when a block cannot be read or none is found, or when this
    /// configuration does not verify with a root store.
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, rustls::Error> {
        let Verify::Roots(roots) = &mut self.verify else {
            return Err(rustls::Error::General(
                "add_root_pem needs a root-store configuration".into(),
            ));
        };
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| rustls::Error::General(format!("PEM: {e}")))?;
            roots.add(cert)?;
            added += 1;
        }
        if added == 0 {
            return Err(rustls::Error::General(
                "no certificate in the PEM data".into(),
            ));
        }
        Ok(self)
    }

    /// **Accepts any certificate**: expired, self-signed, issued for another name, forged.
    /// The connection is encrypted but not authenticated, so anyone on the path can read and
    /// change it. For test servers with throw-away certificates only; never in production.
    pub fn danger_accept_invalid_certs() -> Self {
        Self {
            verify: Verify::Insecure,
            tls12_only: false,
            server_name: None,
        }
    }

    /// Uses `config` as it is, for every connection (control and data). Keep its resumption
    /// store enabled (rustls' default): servers that require session reuse refuse data
    /// connections otherwise. With TLS 1.3, set `send_ticket_request` too, as the other
    /// configurations do (`TicketRequest { new_session_count: 4, resumption_count: 2 }`):
    /// without it, a server that sends no ticket on upload data connections (ftp-server)
    /// lets a rustls client resume only as many uploads as it holds tickets.
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self {
            verify: Verify::Rustls(config),
            tls12_only: false,
            server_name: None,
        }
    }

    /// Offers TLS 1.2 only. For servers whose TLS 1.3 support is broken; vsftpd 3.0.3 works
    /// with TLS 1.3 as long as close_notify is sent, which this client always does. Ignored
    /// with [`from_rustls`](Self::from_rustls).
    ///
    /// With TLS 1.2 every data connection resumes the same session (its id), which suits
    /// servers that send TLS 1.3 clients too few tickets and ignore RFC 9149 ticket requests
    /// (a rustls client never uses a ticket twice; the client switches to TLS 1.2 by itself
    /// when that happens, see the type's notes); but an OpenSSL server (vsftpd) forgets
    /// that one session after a data connection that ended badly (an aborted transfer), and
    /// if it requires reuse it then refuses every later data connection. TLS 1.3 keeps one
    /// session per data connection and has no such cliff, which is why it is the default.
    #[must_use]
    pub fn tls12_only(mut self) -> Self {
        self.tls12_only = true;
        self
    }

    /// Verifies the certificate for `name` instead of the host connected to (and sends it as
    /// SNI), for a server reached by IP address or through a tunnel.
    #[must_use]
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// True when this configuration skips certificate verification.
    pub fn is_insecure(&self) -> bool {
        matches!(self.verify, Verify::Insecure)
    }

    /// The same verification, TLS 1.2 only: what a session switches to when it runs out of
    /// TLS 1.3 tickets (see the type's notes). None for a configuration that is already
    /// TLS 1.2 only, or a caller's own rustls configuration (left as it is).
    pub(crate) fn tls12_fallback(&self) -> Option<Self> {
        match self.verify {
            Verify::Rustls(_) => None,
            _ if self.tls12_only => None,
            _ => Some(self.clone().tls12_only()),
        }
    }

    /// The rustls configuration of one connection (one session store, shared by its control
    /// and data connections) and the name to verify.
    pub(crate) fn build(&self, host: &str) -> Result<TlsSetup, rustls::Error> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_string())
            .map_err(|_| rustls::Error::General(format!("invalid TLS server name {name:?}")))?;
        let tickets = Arc::new(TicketCounter::default());
        let resumption = Resumption::store(Arc::clone(&tickets) as Arc<dyn ClientSessionStore>);
        let (config, tickets) = match &self.verify {
            Verify::Rustls(config) => (Arc::clone(config), None),
            Verify::Roots(roots) => {
                let mut config = self
                    .builder()?
                    .with_root_certificates(roots.clone())
                    .with_no_client_auth();
                config.enable_sni = true;
                config.resumption = resumption;
                config.send_ticket_request = Some(TICKET_REQUEST);
                (Arc::new(config), Some(tickets))
            }
            Verify::Insecure => {
                let provider = provider();
                let mut config = self
                    .builder()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                    .with_no_client_auth();
                config.resumption = resumption;
                config.send_ticket_request = Some(TICKET_REQUEST);
                (Arc::new(config), Some(tickets))
            }
        };
        Ok(TlsSetup {
            config,
            server_name,
            tickets,
        })
    }

    fn builder(
        &self,
    ) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, rustls::Error> {
        let builder = ClientConfig::builder_with_provider(provider());
        if self.tls12_only {
            builder.with_protocol_versions(&[&rustls::version::TLS12])
        } else {
            builder.with_safe_default_protocol_versions()
        }
    }
}

/// The TLS 1.3 tickets every handshake asks for (RFC 9149 `ticket_request`).
///
/// * `new_session_count: 4`, for the control connection (a full handshake): enough for
///   servers that send no ticket on some data connections to start with a few in hand.
/// * `resumption_count: 2`, for every data connection (a resumption): one replaces the
///   ticket the connection used up, one more makes up for a ticket lost earlier (a data
///   connection aborted before its ticket came), so the supply recovers instead of only
///   shrinking. The store keeps at most 8; older ones make room.
///
/// A server is free to send fewer or more; ftp-server honours the request (up to 8 and 2).
pub(crate) const TICKET_REQUEST: TicketRequest = TicketRequest {
    new_session_count: 4,
    resumption_count: 2,
};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// One connection's TLS: the config (with its session store) and the server's name.
#[derive(Clone, Debug)]
pub(crate) struct TlsSetup {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
    /// Counts the TLS 1.3 tickets received (absent for a caller's own rustls config).
    pub(crate) tickets: Option<Arc<TicketCounter>>,
}

impl TlsSetup {
    /// The ticket count now, to compare with later.
    pub(crate) fn ticket_mark(&self) -> Option<TicketMark> {
        self.tickets.as_ref().map(|counter| TicketMark {
            counter: Arc::clone(counter),
            at: counter.count(),
        })
    }
}

/// The in-memory session store rustls uses by default, counting the TLS 1.3 tickets it is
/// given.
///
/// Why count: with TLS 1.3 each data connection uses up one ticket and the server sends a
/// fresh one on that connection right after the handshake. A data connection torn down
/// before that ticket was read would shrink the client's small supply (OpenSSL servers send
/// two per full handshake, one per resumption) until no session is left to resume, and
/// servers that require reuse (vsftpd) then refuse every data connection. So an abort waits
/// briefly for the connection's ticket when none came yet.
#[derive(Debug)]
pub(crate) struct TicketCounter {
    inner: ClientSessionMemoryCache,
    count: AtomicU64,
    /// The tickets in `inner` now (it keeps at most [`TICKETS_KEPT`], dropping the oldest).
    held: AtomicUsize,
    /// A handshake found no TLS 1.3 ticket left, after the server had given some: it could
    /// not resume (see [`TicketCounter::ran_out`]).
    ran_out: AtomicBool,
}

impl Default for TicketCounter {
    fn default() -> Self {
        Self {
            inner: ClientSessionMemoryCache::new(256),
            count: AtomicU64::new(0),
            held: AtomicUsize::new(0),
            ran_out: AtomicBool::new(false),
        }
    }
}

impl TicketCounter {
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// True while the last handshake that looked for a TLS 1.3 ticket found none, although
    /// the server had sent tickets before: a server that requires session reuse refuses
    /// that connection. rustls presents each ticket once (RFC 8446 C.4), so a server that
    /// sends no fresh ticket on some data connections (ProFTPD, after uploads) runs the
    /// supply dry; TLS 1.2 session ids do not run out ([`TlsConfig::tls12_only`]).
    pub(crate) fn ran_out(&self) -> bool {
        self.ran_out.load(Ordering::Acquire)
    }

    /// True when the server has given TLS 1.3 tickets but none is left: the next data
    /// connection cannot resume the control connection's session.
    pub(crate) fn dry(&self) -> bool {
        self.count() > 0 && self.held.load(Ordering::Acquire) == 0
    }
}

/// How many TLS 1.3 tickets rustls' in-memory store keeps for one server.
const TICKETS_KEPT: usize = 8;

impl ClientSessionStore for TicketCounter {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(server_name)
    }

    fn set_tls12_session(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(server_name, value);
    }

    fn tls12_session(
        &self,
        server_name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inner.insert_tls13_ticket(server_name, value);
        self.count.fetch_add(1, Ordering::AcqRel);
        let _ = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some((n + 1).min(TICKETS_KEPT))
            });
        self.ran_out.store(false, Ordering::Release);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        let ticket = self.inner.take_tls13_ticket(server_name);
        if ticket.is_some() {
            let _ = self
                .held
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        }
        self.ran_out
            .store(ticket.is_none() && self.count() > 0, Ordering::Release);
        ticket
    }
}

/// The ticket count when a data connection started.
#[derive(Clone, Debug)]
pub(crate) struct TicketMark {
    counter: Arc<TicketCounter>,
    at: u64,
}

impl TicketMark {
    /// True when this connection should still bring a ticket: the server gives tickets, and
    /// none came since the mark.
    pub(crate) fn ticket_due(&self, version: Option<rustls::ProtocolVersion>) -> bool {
        let count = self.counter.count();
        version == Some(rustls::ProtocolVersion::TLSv1_3) && count > 0 && count == self.at
    }
}

/// The verifier of [`TlsConfig::danger_accept_invalid_certs`]: any certificate passes; the
/// handshake signatures are still checked, so the connection is at least consistent.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
