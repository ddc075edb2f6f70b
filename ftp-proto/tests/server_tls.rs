//! TLS on the control connection (RFC 4217): AUTH TLS with plaintext injection defence, the
//! resets AUTH implies, PBSZ/PROT/CCC, implicit FTPS, REIN, policies.

mod server_support;

use std::sync::Arc;
use std::time::Duration;

use ftp_proto::server::{
    AnonymousPolicy, CloseReason, ServerConfig, ServerControlInfo, ServerEvent, ServerSession,
    TlsPolicy,
};
use server_support::*;

fn tls(policy: TlsPolicy) -> ServerConfig {
    ServerConfig {
        tls: TlsPolicy {
            enabled: true,
            ..policy
        },
        ..ServerConfig::default()
    }
}

fn auth_tls(h: &mut H) {
    h.send(b"AUTH TLS\r\n");
    h.expect(b"234 Proceed with negotiation.\r\n");
    h.expect_out(Out::StartTls);
    h.expect_idle();
    h.tls();
    assert!(h.events.contains(&ServerEvent::TlsEstablished));
}

#[test]
fn plaintext_pipelined_after_auth_tls_is_never_executed() {
    greeted(tls(TlsPolicy::default()), |h| {
        h.send(b"AUTH TLS\r\nUSER evil\r\nPASS x\r\nDELE /important\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        h.expect_idle();
        assert!(h.session.buffered_input() == 0);
        // Bytes arriving during the handshake are not commands either.
        h.send(b"NOOP\r\n");
        h.expect_idle();
        h.tls();
        h.expect_idle();
        h.send(b"PWD\r\n");
        h.expect(b"530 Please login with USER and PASS.\r\n");
        h.expect_idle();
    });
}

#[test]
fn auth_resets_user_data_port_type_and_cwd() {
    greeted(tls(TlsPolicy::default()), |h| {
        h.login("alice");
        h.send(b"TYPE I\r\nCWD /pub\r\n");
        h.expect(b"200 Switching to Binary mode.\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(ftp_proto::server::FileKind::Dir)));
        h.expect(b"250 Directory successfully changed.\r\n");
        let data = h.pasv();
        h.send(b"AUTH TLS\r\n");
        h.expect_abort(data);
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        h.tls();
        assert!(h.session.principal().is_none());
        assert_eq!(h.session.cwd(), &vp("/"));
        assert_eq!(
            h.session.transfer_params().data_type,
            ftp_proto::transfer::DataType::Ascii(ftp_proto::transfer::FormatControl::NonPrint)
        );
        h.send(b"PWD\r\n");
        h.expect(b"530 Please login with USER and PASS.\r\n");
    });
}

#[test]
fn auth_variants() {
    greeted(tls(TlsPolicy::default()), |h| {
        h.send(b"AUTH GSSAPI\r\n");
        h.expect(b"504 Security mechanism not supported; use AUTH TLS.\r\n");
        h.send(b"AUTH SSL\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        h.tls();
        h.send(b"AUTH TLS\r\n");
        h.expect(b"503 TLS already negotiated.\r\n");
    });
}

#[test]
fn ccc_returns_to_plaintext_when_allowed() {
    greeted(tls(TlsPolicy::default()), |h| {
        h.send(b"CCC\r\n");
        h.expect(b"533 Control connection is not protected.\r\n");
        auth_tls(h);
        h.send(b"CCC\r\n");
        h.expect(b"534 CCC refused by policy.\r\n");
    });
    let config = tls(TlsPolicy {
        allow_ccc: true,
        ..TlsPolicy::default()
    });
    greeted(config, |h| {
        auth_tls(h);
        h.send(b"PBSZ 0\r\nPROT P\r\nCCC\r\n");
        h.expect(b"200 PBSZ=0\r\n200 Protection level set to P.\r\n");
        h.expect(b"200 CCC ok, continuing in plaintext.\r\n");
        h.expect_out(Out::StopTls);
        assert!(!h.session.is_control_protected());
        // The data connections keep their level; PBSZ/PROT are over.
        assert!(h.session.is_data_protected());
        h.send(b"PROT C\r\nPBSZ 0\r\nAUTH TLS\r\n");
        h.expect(
            b"503 PROT requires PBSZ first.\r\n503 PBSZ requires a TLS session (AUTH TLS).\r\n",
        );
        h.expect(b"503 TLS already negotiated.\r\n");
    });
}

#[test]
fn rein_clears_the_tls_session_after_its_reply() {
    let policy = TlsPolicy {
        allow_ccc: true,
        ..TlsPolicy::default()
    };
    greeted(tls(policy), |h| {
        auth_tls(h);
        h.send(b"REIN\r\n");
        h.expect(b"220 Service ready for new user.\r\n");
        h.expect_out(Out::StopTls);
        assert!(!h.session.is_control_protected());
        h.send(b"AUTH TLS\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
    });
}

#[test]
fn rein_is_refused_under_tls_when_the_driver_cannot_end_it() {
    greeted(tls(TlsPolicy::default()), |h| {
        auth_tls(h);
        h.send(b"USER alice\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        h.send(b"REIN\r\n");
        h.expect(b"502 REIN is not available on a TLS-protected control connection.\r\n");
        h.expect_idle();
        assert!(h.session.is_control_protected());
        // Nothing was reset: the login goes on.
        h.send(b"PASS secret\r\n");
        let (_, user, ..) = h.expect_auth();
        assert_eq!(&user[..], b"alice");
    });
}

#[test]
fn implicit_tls_is_protected_from_the_start() {
    let conn = ServerControlInfo {
        implicit_tls: true,
        ..ServerControlInfo::new(local(), peer())
    };
    dialogue_with(
        |feed| H::raw_with(tls(TlsPolicy::default()), conn, feed),
        |h| {
            h.expect(b"220 Service ready\r\n");
            assert!(h.session.is_control_protected());
            h.send(b"AUTH TLS\r\nPBSZ 0\r\nPROT P\r\nREIN\r\n");
            h.expect(b"503 TLS already negotiated.\r\n200 PBSZ=0\r\n");
            h.expect(b"200 Protection level set to P.\r\n220 Service ready for new user.\r\n");
            h.expect_idle(); // no StopTls: implicit TLS stays
        },
    );
}

#[test]
fn a_stuck_handshake_ends_at_the_idle_timeout_without_a_reply() {
    let config = ServerConfig {
        login_timeout: None,
        ..tls(TlsPolicy::default())
    };
    greeted(config, |h| {
        h.send(b"AUTH TLS\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(300)));
        h.fire();
        h.expect_closed();
        assert!(h.events.contains(&ServerEvent::Closed {
            reason: CloseReason::IdleTimeout
        }));
    });
    // With the default login timeout, that comes first: no reply either.
    greeted(tls(TlsPolicy::default()), |h| {
        h.send(b"AUTH TLS\r\n");
        h.take_all();
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(120)));
        h.fire();
        h.expect_closed();
        assert!(h.events.contains(&ServerEvent::Closed {
            reason: CloseReason::LoginTimeout
        }));
    });
}

#[test]
fn a_failed_handshake_is_reported_as_eof() {
    greeted(tls(TlsPolicy::default()), |h| {
        h.send(b"AUTH TLS\r\n");
        h.take_all();
        h.eof();
        h.expect_closed();
    });
}

#[test]
fn tls_established_out_of_turn_is_ignored() {
    greeted(tls(TlsPolicy::default()), |h| {
        h.tls();
        h.expect_idle();
        assert!(!h.session.is_control_protected());
    });
}

#[test]
fn shutdown_during_the_handshake_just_closes() {
    greeted(tls(TlsPolicy::default()), |h| {
        h.send(b"AUTH TLS\r\n");
        h.take_all();
        h.shutdown("bye");
        h.expect_closed();
    });
}

#[test]
fn anonymous_may_log_in_without_tls_under_the_login_policy() {
    let config = ServerConfig {
        anonymous: AnonymousPolicy::ReadOnly,
        ..tls(TlsPolicy {
            require_for_login: true,
            ..TlsPolicy::default()
        })
    };
    let base = epoch();
    let session = ServerSession::new(
        Arc::new(config),
        ServerControlInfo::new(local(), peer()),
        base,
    );
    let mut h = H::wrap(session, base, Feed::Whole);
    h.expect(b"220 Service ready\r\n");
    h.send(b"USER ftp\r\nPASS a@b\r\n");
    h.expect(b"331 Anonymous login ok, send your email address as password.\r\n");
    h.expect(b"230 User logged in\r\n");
}

/// AUTH TLS with `sni` as the handshake's server name.
fn auth_tls_with_sni(h: &mut H, sni: &'static [u8]) {
    h.send(b"AUTH TLS\r\n");
    h.expect(b"234 Proceed with negotiation.\r\n");
    h.expect_out(Out::StartTls);
    h.session
        .set_tls_server_name(Some(bytes::Bytes::from_static(sni)));
    h.tls();
}

#[test]
fn host_must_name_the_tls_server_name() {
    // RFC 7151 §3: under TLS with SNI, HOST must match it (DNS names without case).
    greeted(tls(TlsPolicy::default()), |h| {
        auth_tls_with_sni(h, b"ftp.example.com");
        h.send(b"HOST other.example.org\r\nHOST FTP.example.com\r\nUSER a\r\nPASS b\r\n");
        h.expect(b"504 Host does not match the TLS server name.\r\n220 Host accepted\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        match h.take_all().as_slice() {
            [Out::Auth {
                host: Some(host), ..
            }] => assert_eq!(host, b"FTP.example.com"),
            other => panic!("the matching HOST reaches authentication: {other:?}"),
        }
    });
    // A HOST accepted before AUTH TLS that names another server is forgotten.
    greeted(tls(TlsPolicy::default()), |h| {
        h.send(b"HOST other.example.org\r\n");
        h.expect(b"220 Host accepted\r\n");
        auth_tls_with_sni(h, b"ftp.example.com");
        h.send(b"USER a\r\nPASS b\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        match h.take_all().as_slice() {
            [Out::Auth { host: None, .. }] => {}
            other => panic!("the mismatched HOST is forgotten: {other:?}"),
        }
    });
    // One that names it is kept.
    greeted(tls(TlsPolicy::default()), |h| {
        h.send(b"HOST ftp.example.com\r\n");
        h.expect(b"220 Host accepted\r\n");
        auth_tls_with_sni(h, b"ftp.example.com");
        h.send(b"USER a\r\nPASS b\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        match h.take_all().as_slice() {
            [Out::Auth {
                host: Some(host), ..
            }] => assert_eq!(host, b"ftp.example.com"),
            other => panic!("the matching HOST is kept: {other:?}"),
        }
    });
}
