//! Greeting, login (USER/PASS/ACCT, anonymous policy, failed-login delay and cap), the 530
//! gate, REIN, QUIT, HOST, idle timeout and shutdown. Every dialogue runs whole and byte by byte.

mod server_support;

use std::sync::Arc;
use std::time::Duration;

use ftp_proto::server::{
    AnonymousPolicy, AuthFailure, CloseReason, Permissions, Principal, Secret, ServerConfig,
    ServerControlInfo, ServerEvent, ServerSession, StorageRequest, TlsPolicy,
};
use server_support::*;

fn anonymous(policy: AnonymousPolicy) -> ServerConfig {
    ServerConfig {
        anonymous: policy,
        ..ServerConfig::default()
    }
}

#[test]
fn greeting_banner_may_be_multi_line() {
    let config = ServerConfig {
        banner: "Welcome\nto the server".into(),
        ..ServerConfig::default()
    };
    dialogue(config, |h| {
        h.expect(b"220-Welcome\r\n220 to the server\r\n");
        assert_eq!(
            h.events.first(),
            Some(&ServerEvent::Connected { peer: peer() })
        );
    });
}

#[test]
fn full_server_gets_421_and_close() {
    let base = epoch();
    let session = ServerSession::new_refused(
        Arc::new(ServerConfig::default()),
        ServerControlInfo::new(local(), peer()),
        base,
    );
    let mut h = H::wrap(session, base, Feed::Whole);
    h.expect(b"421 Too many connections, try again later.\r\n");
    h.expect_closed();
    assert!(h.events.contains(&ServerEvent::Closed {
        reason: CloseReason::Refused
    }));
    h.send(b"USER x\r\n");
    h.expect_idle();
}

#[test]
fn user_always_gets_331_and_the_combination_is_checked() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER nobody-such\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        h.send(b"PASS x\r\n");
        let (_, user, password) = h.expect_auth();
        assert_eq!((user, password), (b"nobody-such".to_vec(), b"x".to_vec()));
    });
}

#[test]
fn anonymous_disabled_treats_anonymous_as_a_user_name() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER anonymous\r\nPASS guest@\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (_, user, _) = h.expect_auth();
        assert_eq!(user, b"anonymous");
    });
}

#[test]
fn anonymous_read_only_logs_in_without_auth_and_refuses_writes() {
    greeted(anonymous(AnonymousPolicy::ReadOnly), |h| {
        h.send(b"USER anonymous\r\n");
        h.expect(b"331 Anonymous login ok, send your email address as password.\r\n");
        h.send(b"PASS guest@example.com\r\n");
        h.expect(b"230 User logged in\r\n");
        h.expect_idle();
        assert!(h.session.principal().unwrap().read_only_access());
        assert!(h.events.contains(&ServerEvent::LoggedIn {
            user: bytes(b"anonymous"),
            anonymous: true,
            read_only: true,
            permissions: Permissions::READ_ONLY,
        }));
        h.pasv();
        h.send(b"STOR x\r\nSTOU\r\nAPPE x\r\nDELE x\r\nMKD d\r\nRMD d\r\nRNFR x\r\n");
        h.expect(b"553 Permission denied.\r\n553 Permission denied.\r\n");
        h.expect(b"550 Permission denied.\r\n550 Permission denied.\r\n550 Permission denied.\r\n");
        h.expect(b"550 Permission denied.\r\n550 Permission denied.\r\n");
        h.send(b"MFMT 20020717210715 x\r\nSITE CHMOD 644 x\r\n");
        h.expect(b"550 Permission denied.\r\n550 Permission denied.\r\n");
        h.expect_idle();
        h.send(b"RETR x\r\n");
        let (_, request) = h.expect_storage();
        assert!(matches!(request, StorageRequest::Retrieve { .. }));
    });
}

/// An upload-only drop box (list and write): each command needing another right is refused
/// without asking storage, byte for byte; the ones it may use reach storage.
#[test]
fn each_command_needs_its_own_right() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER drop\r\nPASS pw\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (id, _, _) = h.expect_auth();
        let rights = Permissions::LIST | Permissions::WRITE;
        h.auth(id, Ok(Principal::with_permissions("drop", rights)));
        h.expect(b"230 User logged in\r\n");
        assert!(h.events.contains(&ServerEvent::LoggedIn {
            user: bytes(b"drop"),
            anonymous: false,
            read_only: false,
            permissions: rights,
        }));
        h.pasv();
        h.send(b"RETR x\r\nAPPE x\r\nDELE x\r\nMKD d\r\nRMD d\r\nRNFR x\r\n");
        h.expect(b"550 Permission denied.\r\n550 Permission denied.\r\n550 Permission denied.\r\n");
        h.expect(b"550 Permission denied.\r\n550 Permission denied.\r\n550 Permission denied.\r\n");
        h.send(b"SITE CHMOD 644 x\r\n");
        h.expect(b"550 Permission denied.\r\n");
        // SIZE in TYPE A (the default) counts the file's bytes: a read.
        h.send(b"SIZE x\r\n");
        h.expect(b"550 Permission denied.\r\n");
        h.expect_idle();
        h.send(b"STOR x\r\n");
        let (_, request) = h.expect_storage();
        assert!(
            matches!(request, StorageRequest::Store { .. }),
            "{request:?}"
        );
    });
    // Read and list only: the other way round.
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER reader\r\nPASS pw\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (id, _, _) = h.expect_auth();
        h.auth(
            id,
            Ok(Principal::with_permissions("reader", Permissions::READ)),
        );
        h.expect(b"230 User logged in\r\n");
        h.pasv();
        h.send(b"LIST\r\nNLST\r\nMLSD\r\nMLST x\r\nSTAT x\r\nSTOR x\r\nSTOU\r\n");
        h.expect(b"550 Permission denied.\r\n550 Permission denied.\r\n550 Permission denied.\r\n");
        h.expect(b"550 Permission denied.\r\n550 Permission denied.\r\n");
        h.expect(b"553 Permission denied.\r\n553 Permission denied.\r\n");
        h.expect_idle();
        // SIZE needs no right (a resumed download asks it).
        h.send(b"TYPE I\r\nSIZE x\r\n");
        h.expect(b"200 Switching to Binary mode.\r\n");
        let (_, request) = h.expect_storage();
        assert!(
            matches!(request, StorageRequest::Metadata { .. }),
            "{request:?}"
        );
    });
}

#[test]
fn too_many_sessions_is_530_at_once_and_not_a_failed_attempt() {
    greeted(ServerConfig::default(), |h| {
        for _ in 0..5 {
            h.send(b"USER alice\r\nPASS secret\r\n");
            h.expect(b"331 User name ok, need password\r\n");
            let (id, _, _) = h.expect_auth();
            h.auth(id, Err(AuthFailure::TooManySessions));
            h.expect(b"530 Too many sessions for this user; try again later.\r\n");
        }
        assert!(!h
            .events
            .iter()
            .any(|e| matches!(e, ServerEvent::LoginFailed { .. })));
        h.send(b"PASS again\r\n");
        h.expect(b"503 Login with USER first.\r\n");
        h.login("alice");
    });
}

#[test]
fn anonymous_read_write_may_store() {
    greeted(anonymous(AnonymousPolicy::ReadWrite), |h| {
        h.send(b"USER FTP\r\nPASS x\r\n");
        h.expect(b"331 Anonymous login ok, send your email address as password.\r\n");
        h.expect(b"230 User logged in\r\n");
        h.send(b"MKD up\r\n");
        let (_, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::MakeDir { path: vp("/up") });
    });
}

#[test]
fn pass_and_acct_out_of_sequence() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"PASS x\r\nACCT y\r\n");
        h.expect(b"503 Login with USER first.\r\n503 Login with USER and PASS first.\r\n");
        h.login("alice");
        h.send(b"PASS x\r\nACCT y\r\n");
        h.expect(b"202 Already logged in.\r\n202 ACCT not needed.\r\n");
    });
}

#[test]
fn failed_login_is_answered_after_the_delay_and_later_lines_wait() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER alice\r\nPASS wrong\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (id, _, _) = h.expect_auth();
        h.auth(id, Err(AuthFailure::InvalidCredentials));
        h.expect_idle();
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(5)));
        h.send(b"NOOP\r\n");
        h.expect_idle();
        h.advance(Duration::from_secs(4));
        h.timeout(); // early: nothing happens
        h.expect_idle();
        h.fire();
        h.expect(b"530 Login incorrect.\r\n200 NOOP ok.\r\n");
        assert!(h.events.contains(&ServerEvent::LoginFailed {
            user: bytes(b"alice"),
            attempts: 1
        }));
        assert!(h.events.contains(&ServerEvent::Rejected {
            verb: bytes(b"PASS"),
            code: ftp_proto::ReplyCode::NOT_LOGGED_IN
        }));
        h.send(b"PWD\r\n");
        h.expect(b"530 Please login with USER and PASS.\r\n");
    });
}

#[test]
fn too_many_failed_logins_get_421_and_close() {
    greeted(ServerConfig::default(), |h| {
        for attempt in 1..=3 {
            h.send(b"USER alice\r\nPASS wrong\r\n");
            h.expect(b"331 User name ok, need password\r\n");
            let (id, _, _) = h.expect_auth();
            h.auth(id, Err(AuthFailure::InvalidCredentials));
            h.fire();
            if attempt < 3 {
                h.expect(b"530 Login incorrect.\r\n");
            }
        }
        h.expect(b"421 Too many failed login attempts, closing control connection.\r\n");
        h.expect_closed();
        assert!(h.events.contains(&ServerEvent::Closed {
            reason: CloseReason::TooManyFailedLogins
        }));
    });
}

#[test]
fn zero_delay_answers_a_failed_login_at_once() {
    let config = ServerConfig {
        failed_login_delay: Duration::ZERO,
        max_login_attempts: 1,
        ..ServerConfig::default()
    };
    greeted(config, |h| {
        h.send(b"USER a\r\nPASS b\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (id, _, _) = h.expect_auth();
        h.auth(id, Err(AuthFailure::InvalidCredentials));
        h.expect(b"421 Too many failed login attempts, closing control connection.\r\n");
        h.expect_closed();
    });
}

#[test]
fn auth_unavailable_gets_421_and_close() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER a\r\nPASS b\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (id, _, _) = h.expect_auth();
        h.auth(id, Err(AuthFailure::Unavailable));
        h.expect(b"421 Authentication service unavailable, closing control connection.\r\n");
        h.expect_closed();
    });
}

#[test]
fn auth_request_timeout_gets_421_and_close() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER a\r\nPASS b\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (id, _, _) = h.expect_auth();
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(120)));
        h.fire();
        h.expect(b"421 Authentication timed out, closing control connection.\r\n");
        h.expect_closed();
        h.auth(id, Ok(Principal::new("a"))); // stale
        h.expect_idle();
    });
}

#[test]
fn stale_and_forged_auth_results_are_ignored() {
    greeted(ServerConfig::default(), |h| {
        h.auth(
            ftp_proto::server::AuthId::from_raw(999),
            Ok(Principal::new("x")),
        );
        h.expect_idle();
        assert!(h.session.principal().is_none());
        h.send(b"USER a\r\nPASS b\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (id, _, _) = h.expect_auth();
        h.auth(
            ftp_proto::server::AuthId::from_raw(id.raw() + 1),
            Ok(Principal::new("x")),
        );
        h.expect_idle();
        h.auth(id, Ok(Principal::new("a")));
        h.expect(b"230 User logged in\r\n");
        h.auth(id, Ok(Principal::new("b"))); // twice
        h.expect_idle();
        assert_eq!(&h.session.principal().unwrap().user[..], b"a");
    });
}

#[test]
fn commands_before_login_get_530() {
    greeted(ServerConfig::default(), |h| {
        let gated: &[&[u8]] = &[
            b"CWD x",
            b"CDUP",
            b"PWD",
            b"LIST",
            b"NLST",
            b"MLSD",
            b"MLST",
            b"RETR x",
            b"STOR x",
            b"STOU",
            b"APPE x",
            b"DELE x",
            b"RMD x",
            b"MKD x",
            b"RNFR x",
            b"RNTO x",
            b"PASV",
            b"EPSV",
            b"LPSV",
            b"PORT 198,51,100,7,4,1",
            b"EPRT |1|198.51.100.7|1025|",
            b"TYPE I",
            b"MODE S",
            b"STRU F",
            b"REST 0",
            b"ALLO 5",
            b"SIZE x",
            b"MDTM x",
            b"MFMT 20020717210715 x",
            b"HASH x",
            b"RANG 1 2",
            b"SITE HELP",
            b"STAT x",
        ];
        for line in gated {
            h.send(&[*line, b"\r\n"].concat());
            h.expect(b"530 Please login with USER and PASS.\r\n");
        }
        h.expect_idle();
    });
}

#[test]
fn commands_allowed_before_login() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"SYST\r\nNOOP\r\nOPTS UTF8 ON\r\nLANG EN\r\nCLNT curl\r\nABOR\r\n");
        h.expect(b"215 UNIX Type: L8\r\n200 NOOP ok.\r\n200 Always in UTF8 mode.\r\n");
        h.expect(b"200 Language set to EN.\r\n200 Noted.\r\n226 No transfer to abort.\r\n");
        for (line, start) in [
            (&b"HELP\r\n"[..], &b"214-"[..]),
            (b"FEAT\r\n", b"211-"),
            (b"STAT\r\n", b"211-"),
        ] {
            h.send(line);
            let all = h.take_all();
            assert!(
                matches!(&all[..], [Out::Tx(t)] if t.starts_with(start)),
                "{all:?}"
            );
        }
    });
}

#[test]
fn user_while_logged_in_restarts_the_login() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"CWD /\r\n");
        h.expect(b"250 Directory successfully changed.\r\n");
        h.send(b"USER bob\r\nPWD\r\n");
        h.expect(b"331 User name ok, need password\r\n530 Please login with USER and PASS.\r\n");
        h.send(b"PASS x\r\n");
        let (id, user, _) = h.expect_auth();
        assert_eq!(user, b"bob");
        h.auth(id, Ok(Principal::new("bob")));
        h.expect(b"230 User logged in\r\n");
    });
}

#[test]
fn rein_resets_login_and_parameters() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"TYPE I\r\nMODE S\r\n");
        h.take_all();
        let data = h.pasv();
        h.send(b"REIN\r\n");
        h.expect_abort(data);
        h.expect(b"220 Service ready for new user.\r\n");
        h.send(b"PWD\r\n");
        h.expect(b"530 Please login with USER and PASS.\r\n");
        assert_eq!(
            h.session.transfer_params().data_type,
            ftp_proto::transfer::DataType::Ascii(ftp_proto::transfer::FormatControl::NonPrint)
        );
        h.login("alice");
    });
}

#[test]
fn quit_says_221_and_closes() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"QUIT\r\nNOOP\r\n");
        h.expect(b"221 Goodbye.\r\n");
        h.expect_closed();
        h.send(b"NOOP\r\n");
        h.expect_idle();
        assert!(h.events.contains(&ServerEvent::Closed {
            reason: CloseReason::Quit
        }));
    });
}

#[test]
fn quit_aborts_a_prepared_data_channel() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"QUIT\r\n");
        h.expect(b"221 Goodbye.\r\n");
        h.expect_abort(data);
        h.expect_closed();
    });
}

#[test]
fn tls_required_for_login_refuses_user_before_auth() {
    let config = ServerConfig {
        anonymous: AnonymousPolicy::ReadOnly,
        tls: TlsPolicy {
            enabled: true,
            require_for_login: true,
            ..TlsPolicy::default()
        },
        ..ServerConfig::default()
    };
    greeted(config, |h| {
        h.send(b"USER alice\r\n");
        h.expect(b"534 Policy requires AUTH TLS before login.\r\n");
        h.send(b"USER anonymous\r\n");
        h.expect(b"331 Anonymous login ok, send your email address as password.\r\n");
        h.send(b"AUTH TLS\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        h.tls();
        h.send(b"USER alice\r\n");
        h.expect(b"331 User name ok, need password\r\n");
    });
}

/// The idle timeout alone: no login timeout.
fn idle_only() -> ServerConfig {
    ServerConfig {
        login_timeout: None,
        ..ServerConfig::default()
    }
}

#[test]
fn idle_timeout_gets_421_and_close() {
    greeted(idle_only(), |h| {
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(300)));
        h.advance(Duration::from_secs(200));
        h.send(b"NOOP\r\n");
        h.expect(b"200 NOOP ok.\r\n");
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(300)));
        // A partial line is no activity.
        h.advance(Duration::from_secs(100));
        h.send(b"NO");
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(200)));
        h.fire();
        h.expect(b"421 Timeout: closing control connection.\r\n");
        h.expect_closed();
        assert!(h.events.contains(&ServerEvent::Closed {
            reason: CloseReason::IdleTimeout
        }));
    });
}

#[test]
fn no_idle_timeout_when_disabled() {
    let config = ServerConfig {
        idle_timeout: None,
        ..idle_only()
    };
    greeted(config, |h| {
        assert_eq!(h.session.poll_timeout(), None);
    });
}

/// Commands keep a session from idling, not from having to log in: 120 s (the default) after
/// the connection, or after REIN, without a login get 421 and Close. A password check in
/// flight is left to the request timeout; a logged-in session has no login timeout.
#[test]
fn login_timeout_counts_from_the_connection_however_busy_the_client() {
    greeted(ServerConfig::default(), |h| {
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(120)));
        h.advance(Duration::from_secs(100));
        h.send(b"NOOP\r\n");
        h.expect(b"200 NOOP ok.\r\n");
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(20)));
        h.advance(Duration::from_secs(19));
        h.send(b"USER alice\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(1)));
        h.fire();
        h.expect(b"421 Login timeout: closing control connection.\r\n");
        h.expect_closed();
        assert!(h.events.contains(&ServerEvent::Closed {
            reason: CloseReason::LoginTimeout
        }));
    });
    logged_in(ServerConfig::default(), |h| {
        // Only the idle timeout is left.
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(300)));
        h.advance(Duration::from_secs(50));
        h.send(b"REIN\r\n");
        h.expect_code(220);
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(120)));
    });
}

/// USER from a logged-in session starts a new login: its login timeout counts from then, not
/// from the connection (a fuzz finding: the timer was already due, and `handle_timeout` left
/// it so; input kept in `fuzz/regressions/server_session/login-timeout-after-relogin`).
#[test]
fn user_after_a_login_restarts_the_login_timeout() {
    logged_in(ServerConfig::default(), |h| {
        h.advance(Duration::from_secs(200));
        h.send(b"USER bob\r\n");
        h.expect_code(331);
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(120)));
    });
}

#[test]
fn shutdown_of_an_idle_session_is_421_and_close() {
    greeted(ServerConfig::default(), |h| {
        h.shutdown("Server going down\r\nnow");
        h.expect(b"421 Server going down  now\r\n");
        h.expect_closed();
    });
}

#[test]
fn eof_closes() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.eof();
        h.expect_abort(data);
        h.expect_closed();
        assert!(h.events.contains(&ServerEvent::Closed {
            reason: CloseReason::Eof
        }));
    });
}

#[test]
fn events_never_carry_the_password() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER alice\r\nPASS hunter2\r\n");
        h.take_all();
        let text = format!("{:?}", h.events);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(h.events.contains(&ServerEvent::Command {
            verb: bytes(b"PASS")
        }));
    });
    let secret = Secret::new("hunter2");
    assert_eq!(format!("{secret:?}"), "Secret(..)");
    assert_eq!(*secret.expose(), "hunter2");
}

#[test]
fn rejected_events_name_the_verb_and_code() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"XYZZ\r\nPWD\r\n");
        h.take_all();
        assert!(h.events.contains(&ServerEvent::Rejected {
            verb: bytes(b"XYZZ"),
            code: ftp_proto::ReplyCode::SYNTAX_ERROR
        }));
        assert!(h.events.contains(&ServerEvent::Rejected {
            verb: bytes(b"PWD"),
            code: ftp_proto::ReplyCode::NOT_LOGGED_IN
        }));
    });
}

#[test]
fn host_names_can_be_restricted() {
    let config = ServerConfig {
        hosts: Some(vec!["ftp.example.com".into()]),
        ..ServerConfig::default()
    };
    greeted(config, |h| {
        h.send(b"HOST other.example.com\r\nHOST FTP.example.com.\r\n");
        h.expect(b"504 Unknown host.\r\n220 Host accepted\r\n");
        h.send(b"REIN\r\nUSER a\r\nPASS b\r\n");
        h.expect(b"220 Service ready for new user.\r\n331 User name ok, need password\r\n");
        match h.take_all().as_slice() {
            [Out::Auth { host: None, .. }] => {}
            other => panic!("REIN forgets HOST: {other:?}"),
        }
    });
}

#[test]
fn shutdown_waits_for_a_pending_login() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER a\r\nPASS b\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        let (id, _, _) = h.expect_auth();
        h.shutdown("Bye");
        h.expect_idle();
        h.auth(id, Ok(Principal::new("a")));
        h.expect(b"230 User logged in\r\n421 Bye\r\n");
        h.expect_closed();
    });
}

#[test]
fn a_delayed_greeting_whose_time_has_come_is_immediate() {
    let base = epoch();
    let session = ServerSession::new_delayed(
        Arc::new(ServerConfig::default()),
        ServerControlInfo::new(local(), peer()),
        base,
        base,
    );
    let mut h = H::wrap(session, base, Feed::Whole);
    h.expect(b"220 Service ready\r\n");
}

#[test]
fn shutdown_before_the_220_closes_with_421() {
    let base = epoch();
    let session = ServerSession::new_delayed(
        Arc::new(ServerConfig::default()),
        ServerControlInfo::new(local(), peer()),
        base,
        base + Duration::from_secs(60),
    );
    let mut h = H::wrap(session, base, Feed::Whole);
    h.expect(b"120 Service ready in 1 minutes.\r\n");
    h.shutdown("Bye");
    h.expect(b"421 Bye\r\n");
    h.expect_closed();
}
