//! `ClientSession` dialogues against scripted replies: greeting, login, simple commands,
//! transfers and the two-signal join, EPSV/PASV/EPRT/PORT, REST, ABOR, TLS, closing, timers and
//! usage errors. Every script runs whole, byte by byte and split at every offset.

mod client_support;

use std::time::Duration;

use bytes::Bytes;
use client_support::*;
use ftp_proto::client::{
    ClientConfig, ClientControlInfo, ClientDataEvent, ClientDataIntent, ClientEvent, CloseReason,
    Credentials, DataFailure, DataMode, Direction, ListKind, OpError, OpOutput, PasvAddressPolicy,
    ProtocolError, StoreKind, TransferKind, TransferParams, UsageError,
};
use ftp_proto::command::{Command, HostName};
use ftp_proto::transfer::{DataType, FileStructure, FormatControl, TransferMode};

// ---------------------------------------------------------------------------------------------
// Greeting and login

#[test]
fn client_sends_nothing_before_the_greeting_and_120_waits() {
    script(plain(), |c| {
        let op = c.op(|s| s.noop().unwrap());
        c.expect_idle();
        c.server(b"120 Service ready in 5 minutes.\r\n");
        assert!(matches!(c.expect_event(), ClientEvent::Delayed { .. }));
        c.expect_idle();
        // The deadline moved by the announced minutes.
        assert!(c.until_deadline().unwrap() >= Duration::from_secs(5 * 60));
        c.advance(Duration::from_secs(4 * 60));
        c.timeout();
        c.expect_idle();
        c.server(b"220 Ready\r\n");
        c.expect_greeted();
        c.expect_tx(b"NOOP\r\n");
        c.server(b"200 ok\r\n");
        assert!(matches!(c.expect_ok(op), OpOutput::Done(_)));
        c.expect_idle();
    });
}

#[test]
fn client_greeting_421_closes_and_fails_queued_ops() {
    script(plain(), |c| {
        let op = c.op(|s| s.noop().unwrap());
        c.server(b"421 Too many users\r\n");
        match c.expect_err(op) {
            OpError::ConnectionClosed { reply: Some(reply) } => {
                assert_eq!(reply.code().get(), 421)
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(c.expect_closed(), CloseReason::ServiceClosing(_)));
        assert_eq!(c.op(|s| s.noop()), Err(UsageError::Closed));
    });
}

#[test]
fn client_greeting_timeout_closes() {
    script(plain(), |c| {
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(60)));
        c.fire();
        assert_eq!(c.expect_closed(), CloseReason::Timeout);
    });
}

#[test]
fn client_unexpected_greeting_is_a_protocol_error() {
    script(plain(), |c| {
        c.server(b"331 what\r\n");
        assert!(matches!(
            c.expect_closed(),
            CloseReason::Protocol(ProtocolError::UnexpectedGreeting(_))
        ));
    });
}

#[test]
fn client_login_s01() {
    greeted(plain(), |c| {
        login(c);
        assert!(c.session.is_logged_in());
        c.expect_idle();
    });
}

#[test]
fn client_login_with_account_s02() {
    greeted(plain(), |c| {
        let op = c.op(|s| {
            s.login(Credentials::new("Doe", "mumble").with_account("proj"))
                .unwrap()
        });
        c.expect_tx(b"USER Doe\r\n");
        c.server(b"331 User name ok, need password\r\n");
        c.expect_tx(b"PASS mumble\r\n");
        c.server(b"332 Need account for login.\r\n");
        c.expect_tx(b"ACCT proj\r\n");
        c.server(b"230 User logged in\r\n");
        assert!(matches!(c.expect_ok(op), OpOutput::Done(r) if r.code().get() == 230));
    });
}

#[test]
fn client_login_account_required_without_one() {
    greeted(plain(), |c| {
        let op = c.op(|s| s.login(Credentials::new("Doe", "x")).unwrap());
        c.expect_tx(b"USER Doe\r\n");
        c.server(b"332 Need account\r\n");
        assert!(matches!(c.expect_err(op), OpError::AccountRequired(_)));
        assert!(!c.session.is_logged_in());
    });
}

#[test]
fn client_login_230_to_user_needs_no_password() {
    greeted(plain(), |c| {
        let op = c.op(|s| s.login(Credentials::anonymous()).unwrap());
        c.expect_tx(b"USER anonymous\r\n");
        c.server(b"230 Welcome, no password needed\r\n");
        c.expect_ok(op);
        assert!(c.session.is_logged_in());
    });
}

#[test]
fn client_login_refused_keeps_the_session() {
    greeted(plain(), |c| {
        let op = c.op(|s| s.login(Credentials::new("u", "bad")).unwrap());
        c.expect_tx(b"USER u\r\n");
        c.server(b"331 Password required\r\n");
        c.expect_tx(b"PASS bad\r\n");
        c.server(b"530 Login incorrect.\r\n");
        c.expect_refused(op, 530);
        // A second try works.
        login(c);
    });
}

#[test]
fn client_login_sends_host_first_then_feat_and_opts_utf8() {
    let config = ClientConfig {
        host: Some(HostName::Domain(Bytes::from_static(b"ftp.example.com"))),
        ..ClientConfig::default()
    };
    greeted(config, |c| {
        let op = c.op(|s| s.login(Credentials::new("foo", "bar")).unwrap());
        c.expect_tx(b"HOST ftp.example.com\r\n");
        c.server(b"220 Host accepted\r\n");
        c.expect_tx(b"USER foo\r\n");
        c.server(b"331 Password required\r\n");
        c.expect_tx(b"PASS bar\r\n");
        c.server(b"230 User logged in\r\n");
        c.expect_tx(b"FEAT\r\n");
        c.server(b"211-Features:\r\n MLST type*;size*;modify*;\r\n UTF8\r\n SIZE\r\n211 End\r\n");
        c.expect_tx(b"OPTS UTF8 ON\r\n");
        c.server(b"200 Always in UTF8 mode.\r\n");
        assert!(matches!(c.expect_ok(op), OpOutput::Done(r) if r.code().get() == 230));
        assert!(c.session.features().has("SIZE"));
        assert!(c.session.is_utf8());
        // A second login does not send HOST again.
        let op = c.op(|s| s.login(Credentials::new("foo", "bar")).unwrap());
        c.expect_tx(b"USER foo\r\n");
        c.server(b"230 Already in\r\n");
        c.expect_tx(b"FEAT\r\n");
        c.server(b"500 no\r\n");
        c.expect_ok(op);
        assert!(!c.session.features().advertised());
    });
}

#[test]
fn client_host_that_cannot_be_sent_is_a_usage_error() {
    let config = ClientConfig {
        host: Some(HostName::Domain(Bytes::from_static(b"bad\r\nhost"))),
        ..plain()
    };
    greeted(config, |c| {
        assert!(matches!(
            c.op(|s| s.login(Credentials::anonymous())),
            Err(UsageError::InvalidArgument(_))
        ));
        assert!(matches!(
            c.op(|s| s.auth_tls()),
            Err(UsageError::InvalidArgument(_))
        ));
        c.expect_idle();
    });
}

#[test]
fn client_host_unknown_to_the_server_is_skipped() {
    let config = ClientConfig {
        host: Some(HostName::Domain(Bytes::from_static(b"a.example"))),
        feat: false,
        ..ClientConfig::default()
    };
    greeted(config.clone(), |c| {
        let op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        c.expect_tx(b"HOST a.example\r\n");
        c.server(b"502 HOST not implemented\r\n");
        c.expect_tx(b"USER u\r\n");
        c.server(b"230 ok\r\n");
        c.expect_ok(op);
    });
    greeted(config, |c| {
        let op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        c.expect_tx(b"HOST a.example\r\n");
        c.server(b"504 Unknown host\r\n");
        c.expect_refused(op, 504);
    });
}

// ---------------------------------------------------------------------------------------------
// Simple commands

#[test]
fn client_cwd_accepts_200_and_cdup_any_2yz() {
    logged_in(plain(), |c| {
        let cwd = c.op(|s| s.cwd("dir").unwrap());
        let cdup = c.op(|s| s.cdup().unwrap());
        c.expect_tx(b"CWD dir\r\n");
        c.server(b"200 OK\r\n");
        c.expect_ok(cwd);
        c.expect_tx(b"CDUP\r\n");
        c.server(b"250 Directory changed\r\n");
        c.expect_ok(cdup);
        let cwd = c.op(|s| s.cwd("nope").unwrap());
        c.expect_tx(b"CWD nope\r\n");
        c.server(b"550 No such directory\r\n");
        c.expect_refused(cwd, 550);
        c.expect_idle();
    });
}

#[test]
fn client_pwd_and_mkdir_read_quoted_paths() {
    logged_in(plain(), |c| {
        let pwd = c.op(|s| s.pwd().unwrap());
        c.expect_tx(b"PWD\r\n");
        c.server(b"257 \"/usr/dm/foo\"\"bar\" is current directory.\r\n");
        assert_eq!(
            c.expect_ok(pwd),
            OpOutput::Path(Bytes::from_static(b"/usr/dm/foo\"bar"))
        );
        let mkd = c.op(|s| s.mkdir("new").unwrap());
        c.expect_tx(b"MKD new\r\n");
        c.server(b"257 \"/new\" created\r\n");
        assert_eq!(
            c.expect_ok(mkd),
            OpOutput::Path(Bytes::from_static(b"/new"))
        );
        // A server that answers 250 without a name: the argument stands in.
        let mkd = c.op(|s| s.mkdir("other").unwrap());
        c.expect_tx(b"MKD other\r\n");
        c.server(b"250 Directory created\r\n");
        assert_eq!(
            c.expect_ok(mkd),
            OpOutput::Path(Bytes::from_static(b"other"))
        );
        let pwd = c.op(|s| s.pwd().unwrap());
        c.expect_tx(b"PWD\r\n");
        c.server(b"257 no quotes here\r\n");
        assert!(matches!(c.expect_err(pwd), OpError::UnexpectedReply(_)));
    });
}

#[test]
fn client_rename_s03() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.rename("a", "b").unwrap());
        c.expect_tx(b"RNFR a\r\n");
        c.server(b"350 Ready for RNTO.\r\n");
        c.expect_tx(b"RNTO b\r\n");
        c.server(b"250 Rename successful.\r\n");
        c.expect_ok(op);
        let op = c.op(|s| s.rename("x", "y").unwrap());
        c.expect_tx(b"RNFR x\r\n");
        c.server(b"550 No such file\r\n");
        c.expect_refused(op, 550);
        c.expect_idle();
    });
}

#[test]
fn client_size_sends_type_i_first_once() {
    logged_in(plain(), |c| {
        let a = c.op(|s| s.size("f").unwrap());
        let b = c.op(|s| s.size("g").unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 Switching to Binary mode.\r\n");
        c.expect_tx(b"SIZE f\r\n");
        c.server(b"213 1830\r\n");
        assert_eq!(c.expect_ok(a), OpOutput::Size(1830));
        c.expect_tx(b"SIZE g\r\n");
        c.server(b"550 Could not get file size.\r\n");
        c.expect_refused(b, 550);
    });
}

#[test]
fn client_mdtm_mfmt_mlst_stat_noop() {
    logged_in(plain(), |c| {
        let mdtm = c.op(|s| s.mdtm("f").unwrap());
        c.expect_tx(b"MDTM f\r\n");
        c.server(b"213 19980615100045.014\r\n");
        match c.expect_ok(mdtm) {
            OpOutput::Modified(t) => assert_eq!((t.year(), t.month(), t.second()), (1998, 6, 45)),
            other => panic!("{other:?}"),
        }
        let time = ftp_proto::Timestamp::parse(b"20020717210715").unwrap();
        let mfmt = c.op(|s| s.set_modified("f", time).unwrap());
        c.expect_tx(b"MFMT 20020717210715 f\r\n");
        c.server(b"213 Modify=20020717210715; f\r\n");
        c.expect_ok(mfmt);
        let mlst = c.op(|s| s.mlst(Some(Bytes::from_static(b"tmp"))).unwrap());
        c.expect_tx(b"MLST tmp\r\n");
        c.server(b"250- Listing tmp\r\n Type=dir;Modify=19990930152225;Unique=keVO1+YZ5; /tmp\r\n250 End\r\n");
        match c.expect_ok(mlst) {
            OpOutput::Entry { line, .. } => {
                assert_eq!(
                    &line[..],
                    b"Type=dir;Modify=19990930152225;Unique=keVO1+YZ5; /tmp"
                )
            }
            other => panic!("{other:?}"),
        }
        let stat = c.op(|s| s.stat(None).unwrap());
        c.expect_tx(b"STAT\r\n");
        c.server(b"211-Status\r\n connected\r\n211 End\r\n");
        assert!(matches!(c.expect_ok(stat), OpOutput::Reply(r) if r.lines().len() == 3));
        let noop = c.op(|s| s.noop().unwrap());
        c.expect_tx(b"NOOP\r\n");
        c.server(b"200 NOOP ok.\r\n");
        c.expect_ok(noop);
    });
}

#[test]
fn client_raw_commands_and_lines() {
    logged_in(plain(), |c| {
        let site = c.op(|s| {
            s.raw(Command::Site(Bytes::from_static(b"CHMOD 755 a")))
                .unwrap()
        });
        c.expect_tx(b"SITE CHMOD 755 a\r\n");
        c.server(b"200 SITE CHMOD command ok.\r\n");
        assert!(matches!(c.expect_ok(site), OpOutput::Reply(r) if r.code().get() == 200));
        let line = c.op(|s| s.raw_line("XYZZY plugh").unwrap());
        c.expect_tx(b"XYZZY plugh\r\n");
        c.server(b"500 Unknown command.\r\n");
        c.expect_refused(line, 500);
        // 3yz to a raw command is a success: the application sends the next one.
        let rnfr = c.op(|s| s.raw_line("RNFR a").unwrap());
        c.expect_tx(b"RNFR a\r\n");
        c.server(b"350 Ready\r\n");
        assert!(matches!(c.expect_ok(rnfr), OpOutput::Reply(r) if r.code().get() == 350));
        assert!(matches!(
            c.op(|s| s.raw(Command::Retr(Bytes::from_static(b"f")))),
            Err(UsageError::RawNotAllowed(_))
        ));
        assert!(matches!(
            c.op(|s| s.raw_line("auth tls")),
            Err(UsageError::RawNotAllowed(_))
        ));
        assert!(matches!(
            c.op(|s| s.raw_line("NOOP\r\nDELE x")),
            Err(UsageError::InvalidArgument(_))
        ));
        for bad in [&b""[..], b" NOOP", b"\x01X"] {
            assert!(matches!(
                c.op(|s| s.raw_line(bad)),
                Err(UsageError::InvalidArgument(_))
            ));
        }
        // Bytes 0xFF in an argument are Telnet-escaped.
        let iac = c.op(|s| s.raw_line(&b"SITE \xff"[..]).unwrap());
        c.expect_tx(b"SITE \xff\xff\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(iac);
        c.expect_idle();
    });
}

#[test]
fn client_raw_type_makes_the_next_transfer_resend_type() {
    logged_in(plain(), |c| {
        let size = c.op(|s| s.size("f").unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"SIZE f\r\n");
        c.server(b"213 1\r\n");
        c.expect_ok(size);
        let raw = c.op(|s| s.raw_line("TYPE A").unwrap());
        c.expect_tx(b"TYPE A\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(raw);
        let size = c.op(|s| s.size("f").unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"SIZE f\r\n");
        c.server(b"213 1\r\n");
        c.expect_ok(size);
    });
}

#[test]
fn client_preliminary_reply_to_a_simple_command_only_delays() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.delete("f").unwrap());
        c.expect_tx(b"DELE f\r\n");
        c.server(b"150 working\r\n");
        c.expect_idle();
        c.server(b"250 Deleted\r\n");
        c.expect_ok(op);
    });
}

#[test]
fn client_unexpected_intermediate_reply_fails_the_op_only() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.rmdir("d").unwrap());
        c.expect_tx(b"RMD d\r\n");
        c.server(b"350 huh\r\n");
        assert!(matches!(c.expect_err(op), OpError::UnexpectedReply(_)));
        let op = c.op(|s| s.noop().unwrap());
        c.expect_tx(b"NOOP\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(op);
    });
}

#[test]
fn client_unsolicited_reply_while_idle_is_reported_and_ignored() {
    logged_in(plain(), |c| {
        c.server(b"226 late\r\n");
        assert!(matches!(
            c.expect_event(),
            ClientEvent::UnexpectedReply { .. }
        ));
        let op = c.op(|s| s.noop().unwrap());
        c.expect_tx(b"NOOP\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(op);
    });
}

#[test]
fn client_operations_run_one_at_a_time_in_order() {
    logged_in(plain(), |c| {
        let a = c.op(|s| s.cwd("a").unwrap());
        let b = c.op(|s| s.delete("b").unwrap());
        let d = c.op(|s| s.rmdir("d").unwrap());
        c.expect_tx(b"CWD a\r\n");
        c.expect_idle();
        assert_eq!(c.session.current_op(), Some(a));
        assert_eq!(c.session.queued_ops(), 2);
        // Two replies in one read: each answers its own command.
        c.server(b"250 ok\r\n");
        c.expect_ok(a);
        c.expect_tx(b"DELE b\r\n");
        c.server(b"250 ok\r\n");
        c.expect_ok(b);
        c.expect_tx(b"RMD d\r\n");
        c.server(b"250 ok\r\n");
        c.expect_ok(d);
        c.expect_idle();
    });
}

// ---------------------------------------------------------------------------------------------
// Transfers

#[test]
fn client_retrieve_epsv_then_reply_then_data() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.retrieve("file", 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||6446|)\r\n");
        let id = c.connect("127.0.0.1:6446");
        c.expect_tx(b"RETR file\r\n");
        c.server(b"150 Opening BINARY mode data connection for file (1830 bytes).\r\n");
        match c.expect_data() {
            ClientDataIntent::Start {
                id: got,
                op: got_op,
                direction,
                params,
            } => {
                assert_eq!((got, got_op, direction), (id, op, Direction::Download));
                assert_eq!(params.data_type, DataType::Image);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.expect_event(),
            ClientEvent::TransferReady {
                size_hint: Some(1830),
                ..
            }
        ));
        // The reply first: nothing completes until the data connection ends.
        c.server(b"226 Transfer complete.\r\n");
        c.expect_idle();
        c.data(id, ClientDataEvent::Finished { bytes: 1830 });
        c.expect_out(Out::Data(ClientDataIntent::Close { id }));
        c.expect_idle();
        c.data(id, ClientDataEvent::Closed);
        match c.expect_ok(op) {
            OpOutput::Transfer(t) => {
                assert_eq!((t.kind, t.bytes), (TransferKind::Retrieve, 1830));
                assert_eq!(t.reply.code().get(), 226);
            }
            other => panic!("{other:?}"),
        }
        c.expect_idle();
    });
}

#[test]
fn client_store_data_end_then_reply() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.store("up", StoreKind::Replace, 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"STOR up\r\n");
        c.server(b"150 Ok to send data.\r\n");
        match c.expect_data() {
            ClientDataIntent::Start { direction, .. } => assert_eq!(direction, Direction::Upload),
            other => panic!("{other:?}"),
        }
        c.expect_event();
        c.finish_data(id, 5);
        c.expect_idle();
        c.server(b"226 Transfer complete.\r\n");
        assert!(matches!(c.expect_ok(op), OpOutput::Transfer(t) if t.bytes == 5));
    });
}

#[test]
fn client_transfer_refused_keeps_the_session_and_aborts_the_data_connection() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.retrieve("missing", 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"RETR missing\r\n");
        c.server(b"550 Failed to open file.\r\n");
        c.expect_abort(id);
        c.expect_refused(op, 550);
        // Late events for the dead connection are ignored.
        c.data(id, ClientDataEvent::Closed);
        c.expect_idle();
        let op = c.op(|s| s.noop().unwrap());
        c.expect_tx(b"NOOP\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(op);
    });
}

#[test]
fn client_transfer_data_failure_waits_for_the_reply() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"RETR f\r\n");
        c.server(b"150 here it comes\r\n");
        c.expect_start(id);
        c.data(id, ClientDataEvent::Failed(DataFailure::Reset));
        c.expect_idle();
        c.server(b"426 Connection closed; transfer aborted.\r\n");
        c.expect_refused(op, 426);
        // And if the server claims success anyway, the data failure decides.
        let op = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5001|)\r\n");
        let id = c.connect("127.0.0.1:5001");
        c.expect_tx(b"RETR f\r\n");
        c.server(b"150 here it comes\r\n");
        c.expect_start(id);
        c.data(id, ClientDataEvent::Failed(DataFailure::Tls));
        c.server(b"226 Transfer complete.\r\n");
        assert_eq!(c.expect_err(op), OpError::DataConnection(DataFailure::Tls));
    });
}

/// An upload the server breaks off: the driver's write fails (a reset, a broken pipe) and the
/// server says why. Its reply is the operation's error in either order, and the wait for it
/// after the data failure is the reply timeout; without a reply the session closes.
#[test]
fn client_upload_broken_off_reports_the_reply_in_either_order() {
    logged_in(plain(), |c| {
        // The reply first, while the driver still writes: the transfer fails at once and the
        // data connection is torn down; the driver's later failure is ignored.
        let op = c.op(|s| s.store("f", StoreKind::Replace, 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"STOR f\r\n");
        c.server(b"150 Ok to send data.\r\n");
        c.expect_start(id);
        c.server(b"426 Failure writing network stream.\r\n");
        c.expect_abort(id);
        c.expect_refused(op, 426);
        c.data(id, ClientDataEvent::Failed(DataFailure::Reset));
        c.expect_idle();
        // The driver's failure first: the reply is awaited (for the reply timeout), then
        // reported, with its text.
        let op = c.op(|s| s.store("g", StoreKind::Append, 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5001|)\r\n");
        let id = c.connect("127.0.0.1:5001");
        c.expect_tx(b"APPE g\r\n");
        c.server(b"150 Ok to send data.\r\n");
        c.expect_start(id);
        c.data(id, ClientDataEvent::Failed(DataFailure::Reset));
        c.expect_idle();
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(60)));
        c.server(b"522 SSL connection failed: session reuse required.\r\n");
        match c.expect_err(op) {
            OpError::Reply(reply) => {
                assert_eq!(reply.code().get(), 522);
                assert_eq!(
                    reply.first_line(),
                    b"SSL connection failed: session reuse required."
                );
            }
            other => panic!("{other:?}"),
        }
        c.expect_idle();
        // No reply at all: the session closes at the reply timeout.
        let op = c.op(|s| s.store("h", StoreKind::Replace, 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5002|)\r\n");
        let id = c.connect("127.0.0.1:5002");
        c.expect_tx(b"STOR h\r\n");
        c.server(b"150 Ok to send data.\r\n");
        c.expect_start(id);
        c.data(id, ClientDataEvent::Failed(DataFailure::Reset));
        c.expect_idle();
        c.fire();
        assert_eq!(c.expect_err(op), OpError::Timeout);
        assert_eq!(c.expect_closed(), CloseReason::Timeout);
    });
}

#[test]
fn client_passive_connect_failure_fails_before_the_command() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.list(None, ListKind::List).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.expect_connect("127.0.0.1:5000", false);
        c.data(id, ClientDataEvent::Failed(DataFailure::Refused));
        assert_eq!(
            c.expect_err(op),
            OpError::DataConnection(DataFailure::Refused)
        );
        c.expect_idle();
    });
}

#[test]
fn client_epsv_refused_then_pasv_for_the_session() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.list(None, ListKind::Nlst).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"500 'EPSV': command not understood\r\n");
        c.expect_tx(b"PASV\r\n");
        c.server(b"227 Entering Passive Mode (10,0,0,5,195,80).\r\n");
        // The 227's private address is replaced by the control peer's.
        let id = c.connect("127.0.0.1:50000");
        c.expect_tx(b"NLST\r\n");
        c.server(b"150 Here comes the listing\r\n226 Done\r\n");
        c.expect_start(id);
        c.finish_data(id, 10);
        assert!(matches!(c.expect_ok(op), OpOutput::Transfer(t) if t.kind == TransferKind::Nlst));
        assert!(c.session.is_epsv_refused());
        let op = c.op(|s| s.list(None, ListKind::List).unwrap());
        c.expect_tx(b"PASV\r\n");
        c.server(b"227 =10,0,0,5,195,81\r\n");
        let id = c.connect("127.0.0.1:50001");
        c.expect_tx(b"LIST\r\n");
        c.server(b"125 open\r\n");
        c.expect_start(id);
        c.server(b"250 done\r\n");
        c.finish_data(id, 0);
        c.expect_ok(op);
    });
}

#[test]
fn client_pasv_address_policies() {
    for (policy, announced, expected) in [
        (
            PasvAddressPolicy::TrustReply,
            "10,0,0,5,4,1",
            "10.0.0.5:1025",
        ),
        (
            PasvAddressPolicy::TrustUnlessUnroutable,
            "0,0,0,0,4,1",
            "198.51.100.7:1025",
        ),
        (
            PasvAddressPolicy::TrustUnlessUnroutable,
            "10,0,0,5,4,1",
            "198.51.100.7:1025",
        ),
        (
            PasvAddressPolicy::TrustUnlessUnroutable,
            "203,0,113,9,4,1",
            "203.0.113.9:1025",
        ),
        (
            PasvAddressPolicy::UseControlPeer,
            "203,0,113,9,4,1",
            "198.51.100.7:1025",
        ),
    ] {
        let config = ClientConfig {
            pasv_address: policy,
            epsv: false,
            feat: false,
            ..ClientConfig::default()
        };
        let conn = ClientControlInfo::new(
            "192.0.2.10:40000".parse().unwrap(),
            "198.51.100.7:21".parse().unwrap(),
        );
        script_with(config, conn, |c| {
            c.server(b"220 ready\r\n");
            c.expect_greeted();
            login(c);
            let _ = c.op(|s| s.list(None, ListKind::List).unwrap());
            c.expect_tx(b"PASV\r\n");
            c.server(format!("227 Entering Passive Mode ({announced}).\r\n").as_bytes());
            c.expect_connect(expected, false);
        });
    }
}

#[test]
fn client_ipv6_control_connection_uses_epsv_and_eprt_family_2() {
    let conn = ClientControlInfo::new(
        "[2001:db8::7]:50000".parse().unwrap(),
        "[2001:db8::1]:21".parse().unwrap(),
    );
    script_with(plain(), conn, |c| {
        c.server(b"220 ready\r\n");
        c.expect_greeted();
        login(c);
        let op = c.op(|s| s.list(None, ListKind::Nlst).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||6446|)\r\n");
        let id = c.connect("[2001:db8::1]:6446");
        c.expect_tx(b"NLST\r\n");
        c.server(b"150 ok\r\n226 ok\r\n");
        c.expect_start(id);
        c.finish_data(id, 1);
        c.expect_ok(op);
    });
    let active = ClientConfig {
        data_mode: DataMode::Active,
        ..plain()
    };
    script_with(active, conn, |c| {
        c.server(b"220 ready\r\n");
        c.expect_greeted();
        login(c);
        let op = c.op(|s| s.list(None, ListKind::Nlst).unwrap());
        let id = match c.expect_data() {
            ClientDataIntent::Listen { id, .. } => id,
            other => panic!("{other:?}"),
        };
        c.data(
            id,
            ClientDataEvent::Listening {
                local: "[2001:db8::7]:4000".parse().unwrap(),
            },
        );
        c.expect_tx(b"EPRT |2|2001:db8::7|4000|\r\n");
        // No PORT fallback for IPv6: the refusal fails the operation.
        c.server(b"500 EPRT not understood\r\n");
        c.expect_abort(id);
        c.expect_refused(op, 500);
    });
}

#[test]
fn client_bad_passive_replies_fail_the_op_only() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.list(None, ListKind::List).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||70000|)\r\n");
        assert!(matches!(c.expect_err(op), OpError::UnexpectedReply(_)));
        let op = c.op(|s| s.list(None, ListKind::List).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"425 Can't open passive connection\r\n");
        c.expect_refused(op, 425);
        assert!(!c.session.is_epsv_refused());
    });
}

#[test]
fn client_active_mode_eprt_then_port_fallback() {
    let config = ClientConfig {
        data_mode: DataMode::Active,
        feat: false,
        ..ClientConfig::default()
    };
    logged_in(config, |c| {
        let op = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        let id = match c.expect_data() {
            ClientDataIntent::Listen {
                id,
                ip,
                expect_peer,
                tls: false,
            } => {
                assert_eq!(ip, client_addr().ip());
                assert_eq!(expect_peer, server_addr().ip());
                id
            }
            other => panic!("{other:?}"),
        };
        c.expect_idle();
        c.data(
            id,
            ClientDataEvent::Listening {
                local: "0.0.0.0:3947".parse().unwrap(),
            },
        );
        c.expect_tx(b"EPRT |1|127.0.0.1|3947|\r\n");
        c.server(b"502 EPRT not implemented\r\n");
        c.expect_tx(b"PORT 127,0,0,1,15,107\r\n");
        c.server(b"200 PORT command successful.\r\n");
        c.expect_tx(b"RETR f\r\n");
        c.server(b"150 Opening BINARY mode data connection.\r\n");
        // Active: the bytes move once the server has connected.
        c.expect_idle();
        c.data(
            id,
            ClientDataEvent::Connected {
                peer: "127.0.0.1:20".parse().unwrap(),
            },
        );
        c.expect_start(id);
        c.finish_data(id, 3);
        c.server(b"226 Transfer complete.\r\n");
        c.expect_ok(op);
        // PORT from now on.
        let op = c.op(|s| s.retrieve("g", 0).unwrap());
        let id = match c.expect_data() {
            ClientDataIntent::Listen { id, .. } => id,
            other => panic!("{other:?}"),
        };
        c.data(
            id,
            ClientDataEvent::Listening {
                local: "127.0.0.1:3948".parse().unwrap(),
            },
        );
        c.expect_tx(b"PORT 127,0,0,1,15,108\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"RETR g\r\n");
        c.server(b"150 ok\r\n");
        // A stranger connecting is refused (the driver should have; the session checks too).
        c.data(
            id,
            ClientDataEvent::Connected {
                peer: "203.0.113.9:20".parse().unwrap(),
            },
        );
        c.expect_abort(id);
        c.server(b"425 Can't open data connection.\r\n");
        c.expect_refused(op, 425);
    });
}

#[test]
fn client_active_connection_timeout_after_150() {
    let config = ClientConfig {
        data_mode: DataMode::Active,
        feat: false,
        ..ClientConfig::default()
    };
    logged_in(config, |c| {
        let op = c.op(|s| s.list(None, ListKind::List).unwrap());
        let id = match c.expect_data() {
            ClientDataIntent::Listen { id, .. } => id,
            other => panic!("{other:?}"),
        };
        c.data(
            id,
            ClientDataEvent::Listening {
                local: "127.0.0.1:3947".parse().unwrap(),
            },
        );
        c.expect_tx(b"EPRT |1|127.0.0.1|3947|\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"LIST\r\n");
        c.server(b"150 ok\r\n");
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(30)));
        c.fire();
        c.expect_abort(id);
        c.expect_idle();
        c.server(b"425 Can't open data connection.\r\n");
        c.expect_refused(op, 425);
    });
}

#[test]
fn client_final_reply_without_preliminary_still_moves_the_data() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.list(None, ListKind::Nlst).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"NLST\r\n");
        c.server(b"226 No files found\r\n");
        c.expect_start(id);
        c.finish_data(id, 0);
        c.expect_ok(op);
    });
}

#[test]
fn client_resume_download_sends_rest_right_before_retr() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.retrieve("cap60.pl198.tar", 802816).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.connect("127.0.0.1:3947");
        c.expect_tx(b"REST 802816\r\n");
        c.server(b"350 Restarting at 802816. Send STORE or RETRIEVE\r\n");
        c.expect_tx(b"RETR cap60.pl198.tar\r\n");
        c.server(b"150 ok\r\n");
        c.expect_start(id);
        c.server(b"226 Transfer complete.\r\n");
        c.finish_data(id, 100);
        c.expect_ok(op);
        c.expect_idle();
    });
}

#[test]
fn client_rest_then_refused_transfer_sends_rest_0_before_the_next() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.store("f", StoreKind::Append, 10).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let _ = c.connect("127.0.0.1:3947");
        c.expect_tx(b"REST 10\r\n");
        c.server(b"350 ok\r\n");
        c.expect_tx(b"APPE f\r\n");
        c.server(b"553 Could not create file.\r\n");
        c.expect_abort_any();
        c.expect_refused(op, 553);
        let op = c.op(|s| s.retrieve("g", 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3948|)\r\n");
        let id = c.connect("127.0.0.1:3948");
        c.expect_tx(b"REST 0\r\n");
        c.server(b"350 Restarting at 0\r\n");
        c.expect_tx(b"RETR g\r\n");
        c.server(b"150 ok\r\n226 ok\r\n");
        c.expect_start(id);
        c.finish_data(id, 1);
        c.expect_ok(op);
        // Consumed: no REST 0 the time after.
        let op = c.op(|s| s.retrieve("h", 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3949|)\r\n");
        let _ = c.connect("127.0.0.1:3949");
        c.expect_tx(b"RETR h\r\n");
        c.server(b"550 no\r\n");
        c.expect_abort_any();
        c.expect_refused(op, 550);
    });
}

#[test]
fn client_rest_refused_fails_the_resume() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.retrieve("f", 5).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.connect("127.0.0.1:3947");
        c.expect_tx(b"REST 5\r\n");
        c.server(b"502 REST not implemented\r\n");
        c.expect_abort(id);
        c.expect_refused(op, 502);
    });
}

#[test]
fn client_stou_reads_the_stored_name_s12() {
    logged_in(plain(), |c| {
        assert_eq!(
            c.op(|s| s.store("x", StoreKind::Unique, 5)),
            Err(UsageError::RestartNotAllowed)
        );
        let op = c.op(|s| s.store("", StoreKind::Unique, 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.connect("127.0.0.1:3947");
        c.expect_tx(b"STOU\r\n");
        c.server(b"150 FILE: a1b2c3\r\n");
        c.expect_start(id);
        c.finish_data(id, 4);
        c.server(b"226 Transfer complete.\r\n");
        match c.expect_ok(op) {
            OpOutput::Transfer(t) => {
                assert_eq!(t.kind, TransferKind::StoreUnique);
                assert_eq!(t.stored_as.as_deref(), Some(&b"a1b2c3"[..]));
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn client_list_auto_uses_mlsd_when_feat_lists_mlst() {
    greeted(ClientConfig::default(), |c| {
        let login = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        c.expect_tx(b"USER u\r\n");
        c.server(b"230 ok\r\n");
        c.expect_tx(b"FEAT\r\n");
        c.server(b"211-Features supported\r\n MDTM\r\n MLST Type*;Size*;Modify*;Perm;Unique*;\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n");
        c.expect_ok(login);
        let op = c.op(|s| {
            s.list(Some(Bytes::from_static(b"tmp")), ListKind::Auto)
                .unwrap()
        });
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.connect("127.0.0.1:3947");
        c.expect_tx(b"MLSD tmp\r\n");
        c.server(b"150 BINARY connection open for MLSD tmp\r\n");
        match c.expect_data() {
            ClientDataIntent::Start { params, .. } => {
                assert_eq!(params.data_type, DataType::Image);
                assert_eq!(params.mode, TransferMode::Stream);
            }
            other => panic!("{other:?}"),
        }
        c.expect_event();
        c.finish_data(id, 77);
        c.server(b"226 MLSD completed\r\n");
        assert!(matches!(c.expect_ok(op), OpOutput::Transfer(t) if t.kind == TransferKind::Mlsd));
    });
}

#[test]
fn client_mlsd_on_a_file_is_refused_without_data_s09() {
    logged_in(plain(), |c| {
        let op = c.op(|s| {
            s.list(Some(Bytes::from_static(b"file.txt")), ListKind::Mlsd)
                .unwrap()
        });
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.connect("127.0.0.1:3947");
        c.expect_tx(b"MLSD file.txt\r\n");
        c.server(b"501 Not a directory\r\n");
        c.expect_abort(id);
        c.expect_refused(op, 501);
    });
}

#[test]
fn client_type_mode_stru_negotiated_lazily() {
    logged_in(plain(), |c| {
        assert_eq!(
            c.op(|s| s.set_type(DataType::Ebcdic(FormatControl::NonPrint))),
            Err(UsageError::UnsupportedParams)
        );
        assert_eq!(
            c.op(|s| s.set_structure(FileStructure::Page)),
            Err(UsageError::UnsupportedParams)
        );
        c.op(|s| {
            s.set_transfer_params(TransferParams {
                data_type: DataType::Ascii(FormatControl::NonPrint),
                mode: TransferMode::Block,
                structure: FileStructure::Record,
            })
            .unwrap()
        });
        let op = c.op(|s| s.retrieve("f", 0).unwrap());
        // TYPE is always sent before the first transfer (servers differ in their default).
        c.expect_tx(b"TYPE A\r\n");
        c.server(b"200 Switching to ASCII mode.\r\n");
        c.expect_tx(b"MODE B\r\n");
        c.server(b"200 Mode set.\r\n");
        c.expect_tx(b"STRU R\r\n");
        c.server(b"200 Structure set.\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.connect("127.0.0.1:3947");
        c.expect_tx(b"RETR f\r\n");
        c.server(b"150 ok\r\n");
        match c.expect_data() {
            ClientDataIntent::Start { params, .. } => {
                assert_eq!(params.mode, TransferMode::Block);
                assert_eq!(params.structure, FileStructure::Record);
            }
            other => panic!("{other:?}"),
        }
        c.expect_event();
        c.server(b"110 MARK R00042 = 9123\r\n");
        match c.expect_event() {
            ClientEvent::RestartMark {
                sender, receiver, ..
            } => {
                assert_eq!((&sender[..], &receiver[..]), (&b"R00042"[..], &b"9123"[..]))
            }
            other => panic!("{other:?}"),
        }
        c.finish_data(id, 9);
        c.server(b"226 ok\r\n");
        c.expect_ok(op);
        // MODE B refused: the transfer fails with the reply.
        c.op(|s| s.set_mode(TransferMode::Compressed).unwrap());
        let op = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"MODE C\r\n");
        c.server(b"504 Mode not supported.\r\n");
        c.expect_refused(op, 504);
    });
}

// ---------------------------------------------------------------------------------------------
// ABOR

fn running_download(c: &mut C) -> (ftp_proto::client::OpId, ftp_proto::client::DataConnId) {
    let op = c.op(|s| s.retrieve("big", 0).unwrap());
    if c.peek_tx(b"TYPE I\r\n") {
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
    }
    c.expect_tx(b"EPSV\r\n");
    c.server(b"229 (|||3947|)\r\n");
    let id = c.connect("127.0.0.1:3947");
    c.expect_tx(b"RETR big\r\n");
    c.server(b"150 ok\r\n");
    c.expect_start(id);
    (op, id)
}

#[test]
fn client_abort_426_then_226_s05() {
    logged_in(plain(), |c| {
        let (op, id) = running_download(c);
        c.op(|s| s.abort(op).unwrap());
        c.expect_urgent(b"\xff\xf4\xff\xf2ABOR\r\n");
        c.expect_abort(id);
        c.expect_idle();
        c.server(b"426 Connection closed; transfer aborted.\r\n");
        c.expect_idle();
        c.server(b"226 Abort successful\r\n");
        match c.expect_err(op) {
            OpError::Aborted { reply: Some(reply) } => assert_eq!(reply.code().get(), 426),
            other => panic!("{other:?}"),
        }
        let noop = c.op(|s| s.noop().unwrap());
        c.expect_tx(b"NOOP\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(noop);
    });
}

#[test]
fn client_abort_226_then_226_s06() {
    logged_in(plain(), |c| {
        let (op, _) = running_download(c);
        c.op(|s| s.abort(op).unwrap());
        c.take_all();
        c.server(b"226 Transfer complete.\r\n");
        c.expect_idle();
        c.server(b"226 No transfer to abort.\r\n");
        assert!(matches!(c.expect_err(op), OpError::Aborted { .. }));
        c.expect_idle();
    });
}

#[test]
fn client_abort_bare_225_and_bare_226() {
    logged_in(plain(), |c| {
        let (op, _) = running_download(c);
        c.op(|s| s.abort(op).unwrap());
        c.take_all();
        c.server(b"225 Data connection open; no transfer in progress.\r\n");
        assert_eq!(c.expect_err(op), OpError::Aborted { reply: None });
        // A bare 226: after the grace period the session goes on.
        let (op, _) = running_download(c);
        c.op(|s| s.abort(op).unwrap());
        c.take_all();
        c.server(b"226 ABOR successful\r\n");
        c.expect_idle();
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(3)));
        c.fire();
        assert!(matches!(
            c.expect_err(op),
            OpError::Aborted { reply: Some(_) }
        ));
        let noop = c.op(|s| s.noop().unwrap());
        c.expect_tx(b"NOOP\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(noop);
    });
}

#[test]
fn client_plain_abor_when_configured() {
    let config = ClientConfig {
        abort_with_telnet_sync: false,
        ..plain()
    };
    logged_in(config, |c| {
        let (op, _) = running_download(c);
        c.op(|s| s.abort(op).unwrap());
        c.expect_tx(b"ABOR\r\n");
    });
}

#[test]
fn client_abort_queued_setup_and_finished_ops() {
    logged_in(plain(), |c| {
        let first = c.op(|s| s.cwd("a").unwrap());
        let queued = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"CWD a\r\n");
        // Queued: removed, no bytes.
        c.op(|s| s.abort(queued).unwrap());
        assert_eq!(c.expect_err(queued), OpError::Aborted { reply: None });
        c.expect_idle();
        // In flight, not a transfer: a command already sent keeps its result...
        c.op(|s| s.abort(first).unwrap());
        c.expect_idle();
        c.server(b"250 ok\r\n");
        c.expect_ok(first);
        assert_eq!(c.op(|s| s.abort(first)), Err(UsageError::UnknownOp(first)));
        // ...but no further step goes out.
        let rename = c.op(|s| s.rename("a", "b").unwrap());
        c.expect_tx(b"RNFR a\r\n");
        c.op(|s| s.abort(rename).unwrap());
        c.server(b"350 Ready for RNTO\r\n");
        assert_eq!(c.expect_err(rename), OpError::Aborted { reply: None });
        c.expect_idle();
        // Waiting for the passive connection: ends at once.
        let op = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.expect_connect("127.0.0.1:3947", false);
        c.op(|s| s.abort(op).unwrap());
        c.expect_abort(id);
        assert_eq!(c.expect_err(op), OpError::Aborted { reply: None });
        // Final reply in, data still moving: no ABOR on the wire.
        let op = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3948|)\r\n");
        let id = c.connect("127.0.0.1:3948");
        c.expect_tx(b"RETR f\r\n");
        c.server(b"150 ok\r\n226 ok\r\n");
        c.expect_start(id);
        c.op(|s| s.abort(op).unwrap());
        c.expect_abort(id);
        assert_eq!(c.expect_err(op), OpError::Aborted { reply: None });
        c.expect_idle();
    });
}

// ---------------------------------------------------------------------------------------------
// TLS

#[test]
fn client_explicit_tls_s10() {
    greeted(plain(), |c| {
        let auth = c.op(|s| s.auth_tls().unwrap());
        let login_op = c.op(|s| s.login(Credentials::new("fred", "pass")).unwrap());
        assert_eq!(c.op(|s| s.auth_tls()), Err(UsageError::TlsActive));
        c.expect_tx(b"AUTH TLS\r\n");
        // Plaintext after the 234 is dropped, never read as a reply.
        c.server(b"234 Proceed with negotiation.\r\n");
        c.expect_out(Out::StartTls);
        c.expect_idle();
        c.server(b"230 injected\r\n");
        c.expect_idle();
        c.tls();
        c.expect_tx(b"PBSZ 0\r\n");
        c.server(b"200 PBSZ=0\r\n");
        c.expect_tx(b"PROT P\r\n");
        c.server(b"200 Protection level set to P.\r\n");
        assert!(matches!(c.expect_ok(auth), OpOutput::Done(r) if r.code().get() == 234));
        assert!(c.session.is_control_protected() && c.session.is_data_protected());
        c.expect_tx(b"USER fred\r\n");
        c.server(b"331 ok\r\n");
        c.expect_tx(b"PASS pass\r\n");
        c.server(b"230 ok\r\n");
        c.expect_ok(login_op);
        let op = c.op(|s| s.list(None, ListKind::List).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.connect_with("127.0.0.1:3947", true);
        c.expect_tx(b"LIST\r\n");
        // CCC: plaintext control from here, data stays protected.
        c.server(b"150 ok\r\n226 ok\r\n");
        c.expect_out(Out::Data(ClientDataIntent::Handshake { id }));
        c.expect_start(id);
        c.finish_data(id, 1);
        c.expect_ok(op);
        let ccc = c.op(|s| s.ccc().unwrap());
        c.expect_tx(b"CCC\r\n");
        c.server(b"200 CCC ok\r\n");
        c.expect_out(Out::StopTls);
        c.expect_ok(ccc);
        assert!(!c.session.is_control_protected() && c.session.is_data_protected());
        assert_eq!(c.op(|s| s.ccc()), Err(UsageError::TlsInactive));
    });
}

/// Implicit FTPS, logged in: every data connection is protected.
fn protected(config: ClientConfig, f: impl Fn(&mut C)) {
    let conn = ClientControlInfo {
        implicit_tls: true,
        ..conn()
    };
    script_with(config, conn, |c| {
        c.server(b"220 ready\r\n");
        c.expect_greeted();
        let op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        c.expect_tx(b"USER u\r\n");
        c.server(b"230 ok\r\n");
        c.expect_tx(b"PBSZ 0\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"PROT P\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(op);
        f(c)
    });
}

/// PROT P, passive: the data connection's TLS handshake starts when the server accepts the
/// transfer command (vsftpd starts its side only then), not when TCP is up; without an
/// answer it starts after the grace (ftp-srv answers only after the handshake), once.
#[test]
fn client_data_tls_handshake_starts_at_the_1yz_or_after_the_grace() {
    protected(plain(), |c| {
        // The 1yz within the grace: Handshake, then Start.
        let op = c.op(|s| s.list(None, ListKind::List).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3947|)\r\n");
        let id = c.connect_with("127.0.0.1:3947", true);
        c.expect_tx(b"LIST\r\n");
        c.expect_idle();
        // The grace is the next deadline (the reply timeout is 60 s).
        assert_eq!(c.until_deadline(), Some(Duration::from_millis(500)));
        c.advance(Duration::from_millis(499));
        c.timeout();
        c.expect_idle();
        c.server(b"150 Here comes the directory listing.\r\n");
        c.expect_out(Out::Data(ClientDataIntent::Handshake { id }));
        c.expect_start(id);
        c.finish_data(id, 10);
        c.server(b"226 Directory send OK.\r\n");
        c.expect_ok(op);

        // No answer within the grace: Handshake alone; the 1yz then starts the bytes only.
        let op = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3948|)\r\n");
        let id = c.connect_with("127.0.0.1:3948", true);
        c.expect_tx(b"RETR f\r\n");
        c.fire();
        c.expect_out(Out::Data(ClientDataIntent::Handshake { id }));
        c.expect_idle();
        // Now only the reply is awaited (its timeout counts from the command).
        assert_eq!(c.until_deadline(), Some(Duration::from_millis(59_500)));
        c.server(b"150 Opening BINARY mode data connection.\r\n");
        c.expect_start(id);
        c.finish_data(id, 3);
        c.server(b"226 Transfer complete.\r\n");
        c.expect_ok(op);

        // Refused before the grace: no handshake at all (it would use up a TLS 1.3 ticket).
        let op = c.op(|s| s.retrieve("missing", 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3949|)\r\n");
        let id = c.connect_with("127.0.0.1:3949", true);
        c.expect_tx(b"RETR missing\r\n");
        c.server(b"550 Failed to open file.\r\n");
        c.expect_abort(id);
        c.expect_refused(op, 550);
        assert_eq!(c.until_deadline(), None);

        // A final reply without a 1yz: Handshake and Start at once.
        let op = c.op(|s| s.list(None, ListKind::Nlst).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||3950|)\r\n");
        let id = c.connect_with("127.0.0.1:3950", true);
        c.expect_tx(b"NLST\r\n");
        c.server(b"226 No files.\r\n");
        c.expect_out(Out::Data(ClientDataIntent::Handshake { id }));
        c.expect_start(id);
        c.finish_data(id, 0);
        c.expect_ok(op);
    });
}

/// PROT P, active: the server connects after its 1yz, so the handshake starts as soon as the
/// connection is accepted; a server that connects first gets the same grace as passive mode.
#[test]
fn client_data_tls_handshake_in_active_mode() {
    let config = ClientConfig {
        data_mode: DataMode::Active,
        feat: false,
        ..ClientConfig::default()
    };
    protected(config, |c| {
        let op = c.op(|s| s.store("f", StoreKind::Replace, 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        let id = match c.expect_data() {
            ClientDataIntent::Listen { id, tls: true, .. } => id,
            other => panic!("{other:?}"),
        };
        c.data(
            id,
            ClientDataEvent::Listening {
                local: "127.0.0.1:3947".parse().unwrap(),
            },
        );
        c.expect_tx(b"EPRT |1|127.0.0.1|3947|\r\n");
        c.server(b"200 EPRT command successful.\r\n");
        c.expect_tx(b"STOR f\r\n");
        c.server(b"150 Ok to send data.\r\n");
        c.expect_idle();
        c.data(
            id,
            ClientDataEvent::Connected {
                peer: "127.0.0.1:20".parse().unwrap(),
            },
        );
        c.expect_out(Out::Data(ClientDataIntent::Handshake { id }));
        c.expect_start(id);
        c.finish_data(id, 3);
        c.server(b"226 Transfer complete.\r\n");
        c.expect_ok(op);

        // The server connects before it answers: the grace applies.
        let op = c.op(|s| s.store("g", StoreKind::Replace, 0).unwrap());
        let id = match c.expect_data() {
            ClientDataIntent::Listen { id, tls: true, .. } => id,
            other => panic!("{other:?}"),
        };
        c.data(
            id,
            ClientDataEvent::Listening {
                local: "127.0.0.1:3948".parse().unwrap(),
            },
        );
        c.expect_tx(b"EPRT |1|127.0.0.1|3948|\r\n");
        c.server(b"200 EPRT command successful.\r\n");
        c.expect_tx(b"STOR g\r\n");
        c.data(
            id,
            ClientDataEvent::Connected {
                peer: "127.0.0.1:20".parse().unwrap(),
            },
        );
        c.expect_idle();
        assert_eq!(c.until_deadline(), Some(Duration::from_millis(500)));
        c.fire();
        c.expect_out(Out::Data(ClientDataIntent::Handshake { id }));
        c.server(b"150 Ok to send data.\r\n");
        c.expect_start(id);
        c.finish_data(id, 3);
        c.server(b"226 Transfer complete.\r\n");
        c.expect_ok(op);
    });
}

#[test]
fn client_auth_tls_refused_and_handshake_timeout() {
    greeted(plain(), |c| {
        let auth = c.op(|s| s.auth_tls().unwrap());
        c.expect_tx(b"AUTH TLS\r\n");
        c.server(b"502 TLS is not available.\r\n");
        c.expect_refused(auth, 502);
        let auth = c.op(|s| s.auth_tls().unwrap());
        c.expect_tx(b"AUTH TLS\r\n");
        c.server(b"234 go\r\n");
        c.expect_out(Out::StartTls);
        c.fire();
        assert_eq!(c.expect_err(auth), OpError::Timeout);
        assert_eq!(c.expect_closed(), CloseReason::Timeout);
    });
}

/// Implicit FTPS: PBSZ and PROT go after USER and PASS (as curl sends them), since servers
/// that want the user first answer 503 before it.
#[test]
fn client_implicit_tls_protects_data_after_user_and_pass() {
    let conn = ClientControlInfo {
        implicit_tls: true,
        ..conn()
    };
    script_with(plain(), conn, |c| {
        c.server(b"220 ready\r\n");
        c.expect_greeted();
        let op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        c.expect_tx(b"USER u\r\n");
        c.server(b"331 password\r\n");
        c.expect_tx(b"PASS p\r\n");
        c.server(b"230 in\r\n");
        c.expect_tx(b"PBSZ 0\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"PROT P\r\n");
        c.server(b"200 ok\r\n");
        match c.expect_ok(op) {
            OpOutput::Done(reply) => assert_eq!(reply.code().get(), 230),
            other => panic!("{other:?}"),
        }
        assert!(c.session.is_data_protected());
    });
}

/// AUTH TLS, then PBSZ answered 503 (log in first): PROT is not sent then; the login sends
/// PBSZ and PROT once the user is in.
#[test]
fn client_explicit_tls_pbsz_503_protects_data_after_login() {
    greeted(plain(), |c| {
        let auth = c.op(|s| s.auth_tls().unwrap());
        c.expect_tx(b"AUTH TLS\r\n");
        c.server(b"234 go\r\n");
        c.expect_out(Out::StartTls);
        c.tls();
        c.expect_tx(b"PBSZ 0\r\n");
        c.server(b"503 Login with USER first.\r\n");
        c.expect_ok(auth);
        assert!(!c.session.is_data_protected());
        let login = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        c.expect_tx(b"USER u\r\n");
        c.server(b"230 in\r\n");
        c.expect_tx(b"PBSZ 0\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"PROT P\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(login);
        assert!(c.session.is_data_protected());
    });
}

#[test]
fn client_implicit_tls_protects_data_at_login() {
    let conn = ClientControlInfo {
        implicit_tls: true,
        ..conn()
    };
    script_with(plain(), conn, |c| {
        assert!(c.session.is_control_protected());
        assert_eq!(c.op(|s| s.auth_tls()), Err(UsageError::TlsActive));
        c.server(b"220 ready\r\n");
        c.expect_greeted();
        let op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        c.expect_tx(b"USER u\r\n");
        c.server(b"230 ok\r\n");
        c.expect_tx(b"PBSZ 0\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"PROT P\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(op);
        assert!(c.session.is_data_protected());
    });
}

// ---------------------------------------------------------------------------------------------
// Closing

#[test]
fn client_421_mid_session_fails_everything_pending() {
    logged_in(plain(), |c| {
        let (op, id) = running_download(c);
        let queued = c.op(|s| s.cwd("x").unwrap());
        c.server(b"421 Service not available, closing control connection.\r\n");
        c.expect_abort(id);
        for pending in [op, queued] {
            match c.expect_err(pending) {
                OpError::ConnectionClosed { reply: Some(r) } => assert_eq!(r.code().get(), 421),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(c.expect_closed(), CloseReason::ServiceClosing(_)));
        // Nothing after Close.
        c.server(b"200 ok\r\n");
        c.data(id, ClientDataEvent::Closed);
        c.timeout();
        c.expect_idle();
    });
}

#[test]
fn client_eof_fails_pending_ops() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.cwd("x").unwrap());
        c.expect_tx(b"CWD x\r\n");
        c.eof();
        assert_eq!(c.expect_err(op), OpError::ConnectionClosed { reply: None });
        assert_eq!(c.expect_closed(), CloseReason::Eof);
    });
}

#[test]
fn client_quit_closes_after_the_queue() {
    logged_in(plain(), |c| {
        let cwd = c.op(|s| s.cwd("x").unwrap());
        let quit = c.op(|s| s.quit().unwrap());
        assert_eq!(c.op(|s| s.noop()), Err(UsageError::Closed));
        c.expect_tx(b"CWD x\r\n");
        c.server(b"250 ok\r\n");
        c.expect_ok(cwd);
        c.expect_tx(b"QUIT\r\n");
        c.server(b"221 Goodbye.\r\n");
        assert!(matches!(c.expect_ok(quit), OpOutput::Quit(Some(_))));
        assert_eq!(c.expect_closed(), CloseReason::Quit);
    });
    logged_in(plain(), |c| {
        let quit = c.op(|s| s.quit().unwrap());
        c.expect_tx(b"QUIT\r\n");
        c.eof();
        assert_eq!(c.expect_ok(quit), OpOutput::Quit(None));
        assert_eq!(c.expect_closed(), CloseReason::Quit);
    });
}

#[test]
fn client_malformed_reply_closes_with_a_protocol_error() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.cwd("x").unwrap());
        c.expect_tx(b"CWD x\r\n");
        c.server(b"hello there\r\n");
        assert!(matches!(
            c.expect_err(op),
            OpError::Protocol(ProtocolError::Reply(_))
        ));
        assert!(matches!(c.expect_closed(), CloseReason::Protocol(_)));
    });
}

#[test]
fn client_reply_timeout_closes() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.cwd("x").unwrap());
        c.expect_tx(b"CWD x\r\n");
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(60)));
        c.advance(Duration::from_secs(59));
        c.timeout();
        c.expect_idle();
        c.fire();
        assert_eq!(c.expect_err(op), OpError::Timeout);
        assert_eq!(c.expect_closed(), CloseReason::Timeout);
    });
}

#[test]
fn client_reply_timer_is_suspended_while_bytes_move() {
    logged_in(plain(), |c| {
        let (op, id) = running_download(c);
        assert_eq!(c.until_deadline(), None);
        c.advance(Duration::from_secs(3600));
        c.timeout();
        c.expect_idle();
        c.data(id, ClientDataEvent::Finished { bytes: 1 });
        c.expect_out(Out::Data(ClientDataIntent::Close { id }));
        // Now both the close (data timer) and the 226 (reply timer) are awaited.
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(30)));
        c.data(id, ClientDataEvent::Closed);
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(60)));
        c.server(b"226 ok\r\n");
        c.expect_ok(op);
        assert_eq!(c.until_deadline(), None);
    });
}

#[test]
fn client_keepalive_noop_while_idle() {
    let config = ClientConfig {
        keepalive: Some(Duration::from_secs(30)),
        ..plain()
    };
    logged_in(config, |c| {
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(30)));
        c.fire();
        c.expect_tx(b"NOOP\r\n");
        c.expect_idle();
        // A refusal is not the application's business; nothing is reported.
        c.server(b"500 NOOP?\r\n");
        c.expect_idle();
        assert_eq!(c.until_deadline(), Some(Duration::from_secs(30)));
        // An operation asked for meanwhile waits for the NOOP's reply.
        c.fire();
        c.expect_tx(b"NOOP\r\n");
        let op = c.op(|s| s.cwd("a").unwrap());
        c.expect_idle();
        c.server(b"200 ok\r\n");
        c.expect_tx(b"CWD a\r\n");
        c.server(b"250 ok\r\n");
        c.expect_ok(op);
    });
}

// ---------------------------------------------------------------------------------------------
// Usage errors

#[test]
fn client_usage_errors() {
    greeted(plain(), |c| {
        assert_eq!(c.op(|s| s.cwd("x")), Err(UsageError::NotLoggedIn));
        assert_eq!(c.op(|s| s.retrieve("x", 0)), Err(UsageError::NotLoggedIn));
        // Allowed before login.
        let noop = c.op(|s| s.noop().unwrap());
        c.expect_tx(b"NOOP\r\n");
        c.server(b"200 ok\r\n");
        c.expect_ok(noop);
        // Queued behind a login: fine.
        let login_op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        let cwd = c.op(|s| s.cwd("x").unwrap());
        assert!(matches!(
            c.op(|s| s.cwd("a\r\nDELE b")),
            Err(UsageError::InvalidArgument(_))
        ));
        assert!(matches!(
            c.op(|s| s.delete("")),
            Err(UsageError::InvalidArgument(_))
        ));
        assert_eq!(
            c.op(|s| s.abort(ftp_proto::client::OpId::from_raw(999))),
            Err(UsageError::UnknownOp(ftp_proto::client::OpId::from_raw(
                999
            )))
        );
        c.expect_tx(b"USER u\r\n");
        c.server(b"230 ok\r\n");
        c.expect_ok(login_op);
        c.expect_tx(b"CWD x\r\n");
        c.server(b"250 ok\r\n");
        c.expect_ok(cwd);
    });
}

// ---------------------------------------------------------------------------------------------
// Listing a folder: CWD into it, LIST, CWD back (as curl does)

/// `LIST dir with space`: PWD, CWD into the folder, LIST without an argument (servers that
/// hand the argument to /bin/ls split it at spaces), then CWD back; the listing's result.
#[test]
fn client_list_of_a_folder_goes_into_it_and_back() {
    logged_in(plain(), |c| {
        let op = c.op(|s| {
            s.list(Some("dir with space".into()), ListKind::List)
                .unwrap()
        });
        c.expect_tx(b"PWD\r\n");
        c.server(b"257 \"/home/u\" is the current directory\r\n");
        c.expect_tx(b"CWD dir with space\r\n");
        c.server(b"250 OK\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"LIST\r\n");
        c.server(b"150 Here comes the listing\r\n");
        c.expect_start(id);
        c.finish_data(id, 42);
        c.server(b"226 Done\r\n");
        c.expect_tx(b"CWD /home/u\r\n");
        c.expect_idle();
        c.server(b"250 OK\r\n");
        match c.expect_ok(op) {
            OpOutput::Transfer(t) => assert_eq!((t.kind, t.bytes), (TransferKind::List, 42)),
            other => panic!("{other:?}"),
        }
        c.expect_idle();
    });
}

/// A missing folder is decided by CWD's 550, not by a LIST that some servers (vsftpd, GNU
/// inetutils) answer with an empty listing: no data connection, no CWD back.
#[test]
fn client_list_of_a_missing_folder_fails_with_the_cwd_reply() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.list(Some("missing/".into()), ListKind::Auto).unwrap());
        c.expect_tx(b"PWD\r\n");
        c.server(b"257 \"/\"\r\n");
        c.expect_tx(b"CWD missing/\r\n");
        c.server(b"550 Failed to change directory.\r\n");
        c.expect_refused(op, 550);
        c.expect_idle();
    });
}

/// LIST refused inside the folder: CWD back still goes out; the LIST's reply is reported.
#[test]
fn client_list_refused_inside_a_folder_still_goes_back() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.list(Some("d".into()), ListKind::List).unwrap());
        c.expect_tx(b"PWD\r\n");
        c.server(b"257 \"/top\"\r\n");
        c.expect_tx(b"CWD d\r\n");
        c.server(b"250 OK\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"LIST\r\n");
        c.server(b"450 No files found\r\n");
        c.expect_abort(id);
        c.expect_tx(b"CWD /top\r\n");
        c.server(b"250 OK\r\n");
        c.expect_refused(op, 450);
    });
}

/// Without a PWD path to come back to, LIST takes the folder as its argument.
#[test]
fn client_list_without_pwd_sends_the_path() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.list(Some("d".into()), ListKind::List).unwrap());
        c.expect_tx(b"PWD\r\n");
        c.server(b"550 PWD not allowed\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"LIST d\r\n");
        c.server(b"150 ok\r\n226 ok\r\n");
        c.expect_start(id);
        c.finish_data(id, 0);
        assert!(matches!(c.expect_ok(op), OpOutput::Transfer(_)));
        c.expect_idle();
    });
}

/// MLSD takes the folder as its argument (RFC 3659 §7.1), and so does NLST; only LIST goes
/// into the folder.
#[test]
fn client_mlsd_and_nlst_take_the_path() {
    logged_in(plain(), |c| {
        let op = c.op(|s| s.list(Some("d e".into()), ListKind::Mlsd).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"MLSD d e\r\n");
        c.server(b"150 ok\r\n226 ok\r\n");
        c.expect_start(id);
        c.finish_data(id, 0);
        assert!(matches!(c.expect_ok(op), OpOutput::Transfer(_)));
        let op = c.op(|s| s.list(Some("d e".into()), ListKind::Nlst).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5001|)\r\n");
        let id = c.connect("127.0.0.1:5001");
        c.expect_tx(b"NLST d e\r\n");
        c.server(b"150 ok\r\n226 ok\r\n");
        c.expect_start(id);
        c.finish_data(id, 0);
        assert!(matches!(c.expect_ok(op), OpOutput::Transfer(_)));
    });
}

// ---------------------------------------------------------------------------------------------
// An empty file whose data connection broke

/// The 150 announces 0 bytes, the data connection fails (a server that closes right after
/// its TLS handshake, whose reset overtakes the end of the stream), the server says 226: an
/// empty file, complete. With bytes announced, the same failure is an error.
#[test]
fn client_empty_file_whose_data_connection_broke_is_complete() {
    logged_in(plain(), |c| {
        for (announced, complete) in [("0", true), ("10", false)] {
            let op = c.op(|s| s.retrieve("f", 0).unwrap());
            while c.peek_tx(b"TYPE I\r\n") {
                c.expect_tx(b"TYPE I\r\n");
                c.server(b"200 ok\r\n");
            }
            c.expect_tx(b"EPSV\r\n");
            c.server(b"229 (|||5000|)\r\n");
            let id = c.connect("127.0.0.1:5000");
            c.expect_tx(b"RETR f\r\n");
            let prelim =
                format!("150 Opening BINARY mode data connection for f ({announced} bytes).\r\n");
            c.server(prelim.as_bytes());
            c.expect_start(id);
            c.data(id, ClientDataEvent::Failed(DataFailure::Reset));
            c.server(b"226 Transfer complete.\r\n");
            let result = c.expect_completed(op);
            if complete {
                assert!(
                    matches!(&result, Ok(OpOutput::Transfer(t)) if t.bytes == 0),
                    "{result:?}"
                );
            } else {
                assert_eq!(result, Err(OpError::DataConnection(DataFailure::Reset)));
            }
        }
    });
}

/// SIZE said 0 just before, the 150 says nothing of the size: the same.
#[test]
fn client_empty_file_known_from_size_is_complete_despite_a_reset() {
    logged_in(plain(), |c| {
        let size = c.op(|s| s.size("empty").unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 ok\r\n");
        c.expect_tx(b"SIZE empty\r\n");
        c.server(b"213 0\r\n");
        assert_eq!(c.expect_ok(size), OpOutput::Size(0));
        let op = c.op(|s| s.retrieve("empty", 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 (|||5000|)\r\n");
        let id = c.connect("127.0.0.1:5000");
        c.expect_tx(b"RETR empty\r\n");
        c.server(b"150 Opening data connection.\r\n");
        c.expect_start(id);
        c.data(id, ClientDataEvent::Failed(DataFailure::Tls));
        c.server(b"226 Transfer complete.\r\n");
        assert!(matches!(c.expect_ok(op), OpOutput::Transfer(t) if t.bytes == 0));
    });
}
