//! The test vectors whose outcome the server session decides: the dialogues S01–S14 and the
//! session replies of the command, Telnet and address vectors of `wire_vectors.rs`. Every test runs twice, with
//! client bytes fed whole and one byte at a time.

mod server_support;

use std::time::Duration;

use ftp_proto::server::{
    AuthFailure, FactSet, FileKind, HashAlgorithm, ListFormat, Metadata, Principal, ServerConfig,
    ServerControlInfo, ServerDataEvent, ServerDataIntent, ServerSession, StorageRequest,
    StorageResponse, StoreMode, TlsPolicy, TransferParams,
};
use ftp_proto::transfer::{DataType, FileStructure, TransferMode};
use ftp_proto::Timestamp;
use server_support::*;

fn tls_config() -> ServerConfig {
    ServerConfig {
        tls: TlsPolicy {
            enabled: true,
            ..TlsPolicy::default()
        },
        ..ServerConfig::default()
    }
}

fn binary() -> TransferParams {
    TransferParams {
        data_type: DataType::Image,
        mode: TransferMode::Stream,
        structure: FileStructure::File,
    }
}

// ---------------------------------------------------------------------------------------------
// §7.7 dialogues

#[test]
fn s01_user_pass_logs_in() {
    dialogue(ServerConfig::default(), |h| {
        h.expect(b"220 Service ready\r\n");
        h.send(b"USER Doe\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        h.send(b"PASS mumble\r\n");
        let (id, user, password) = h.expect_auth();
        assert_eq!((&user[..], &password[..]), (&b"Doe"[..], &b"mumble"[..]));
        h.expect_idle();
        h.auth(id, Ok(Principal::new("Doe")));
        h.expect(b"230 User logged in\r\n");
        h.expect_idle();
        assert_eq!(&h.session.principal().unwrap().user[..], b"Doe");
    });
}

#[test]
fn s02_account_required_then_acct_logs_in() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"USER x\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        h.send(b"PASS x\r\n");
        let (id, _, _) = h.expect_auth();
        h.auth(id, Err(AuthFailure::AccountRequired));
        h.expect(b"332 Need account for login.\r\n");
        h.send(b"ACCT proj\r\n");
        match h.take_all().as_slice() {
            [Out::Auth {
                id,
                user,
                password,
                account,
                ..
            }] => {
                assert_eq!((&user[..], &password[..]), (&b"x"[..], &b"x"[..]));
                assert_eq!(account.as_deref(), Some(&b"proj"[..]));
                h.auth(*id, Ok(Principal::new("x")));
            }
            other => panic!("expected an auth request, got {other:?}"),
        }
        h.expect(b"230 User logged in\r\n");
    });
}

#[test]
fn s03_rnfr_rnto_and_rnto_without_rnfr() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"RNFR a\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Metadata { path: vp("/a") });
        h.storage(id, Ok(meta(FileKind::File)));
        h.expect(b"350 Ready for RNTO.\r\n");
        h.send(b"RNTO b\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::Rename {
                from: vp("/a"),
                to: vp("/b")
            }
        );
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"250 Rename successful.\r\n");
        h.send(b"RNTO b\r\n");
        h.expect(b"503 RNFR required first.\r\n");
        h.expect_idle();
    });
}

#[test]
fn s04_port_rest_retr_in_active_mode() {
    dialogue_conn(
        ServerConfig::default(),
        "127.0.0.1:21",
        "127.0.0.1:3000",
        |h| {
            h.expect(b"220 Service ready\r\n");
            h.login("u");
            h.send(b"TYPE I\r\n");
            h.expect(b"200 Switching to Binary mode.\r\n");
            h.send(b"PORT 127,0,0,1,15,107\r\n");
            h.expect(b"200 PORT command successful.\r\n");
            h.send(b"REST 802816\r\n");
            h.expect(b"350 Restarting at 802816. Send STORE or RETRIEVE\r\n");
            h.send(b"RETR cap60.pl198.tar\r\n");
            let (id, request) = h.expect_storage();
            let StorageRequest::Retrieve {
                path,
                offset,
                marker,
                data,
                params,
            } = request
            else {
                panic!("expected Retrieve, got {request:?}");
            };
            assert_eq!(
                (path, offset, marker, params),
                (vp("/cap60.pl198.tar"), 802816, None, binary())
            );
            h.expect_idle();
            h.storage(
                id,
                Ok(StorageResponse::Opened {
                    size: Some(1024990),
                }),
            );
            h.expect(
                b"150 Opening BINARY mode data connection for cap60.pl198.tar (1024990 bytes).\r\n",
            );
            h.expect_out(Out::Data(ServerDataIntent::Connect {
                id: data,
                addr: "127.0.0.1:3947".parse().unwrap(),
                tls: false,
            }));
            h.data(
                data,
                ServerDataEvent::Connected {
                    peer: "127.0.0.1:3947".parse().unwrap(),
                },
            );
            h.expect_idle();
            h.finish_transfer(id, data, 222174);
            h.expect_idle();
        },
    );
}

#[test]
fn s05_abor_during_retr_gives_426_then_226() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR big\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect(b"125 Data connection already open; transfer starting.\r\n");
        h.send(b"\xff\xf4\xff\xf2ABOR\r\n");
        h.expect_abort(data);
        h.expect(b"426 Connection closed; transfer aborted.\r\n226 Abort successful\r\n");
        h.expect_idle();
        // The storage task's late answer and the data connection's close are stale.
        h.storage(id, Ok(StorageResponse::Transferred { bytes: 10 }));
        h.data(data, ServerDataEvent::Closed);
        h.expect_idle();
        h.send(b"NOOP\r\n");
        h.expect(b"200 NOOP ok.\r\n");
    });
}

#[test]
fn s06_abor_after_completed_transfer_gives_226() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR small\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect(b"125 Data connection already open; transfer starting.\r\n");
        h.finish_transfer(id, data, 5);
        h.send(b"ABOR\r\n");
        h.expect(b"226 No transfer to abort.\r\n");
        h.expect_idle();
    });
}

#[test]
fn s07_stat_during_retr_reports_progress_and_transfer_continues() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"RETR big\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect(b"150 Opening ASCII mode data connection for big.\r\n");
        h.data(
            data,
            ServerDataEvent::Connected {
                peer: "198.51.100.7:40001".parse().unwrap(),
            },
        );
        h.data(data, ServerDataEvent::Progress { bytes: 1234 });
        h.send(b"\xff\xf4\xff\xf2STAT\r\n");
        h.expect(b"213-Status:\r\n RETR /big: 1234 bytes so far\r\n213 End\r\n");
        h.expect_idle();
        assert!(h.session.is_transferring());
        h.finish_transfer(id, data, 4096);
        h.expect_idle();
    });
}

#[test]
fn s08_mlsd_lists_over_the_data_connection() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"MLSD tmp\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::List {
                path: vp("/tmp"),
                format: ListFormat::Mlsd {
                    facts: ServerConfig::default().mlst_default_facts
                },
                data,
                params: binary(),
            }
        );
        h.storage(id, Ok(opened()));
        h.expect(b"150 Opening BINARY mode data connection for MLSD.\r\n");
        h.data(
            data,
            ServerDataEvent::Connected {
                peer: "198.51.100.7:40002".parse().unwrap(),
            },
        );
        h.finish_transfer(id, data, 120);
    });
}

#[test]
fn s09_mlsd_on_a_file_is_501_and_opens_no_data_connection() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"MLSD file.txt\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, ftp_proto::server::StorageErrorKind::NotADirectory);
        h.expect(b"501 Not a directory.\r\n");
        h.expect_idle(); // no Connect, no Close, no Abort: the listener stays for a retry
        h.send(b"MLSD dir\r\n");
        let (_, request) = h.expect_storage();
        assert!(matches!(request, StorageRequest::List { data: d, .. } if d == data));
    });
}

#[test]
fn s10_auth_tls_pbsz_prot_then_login() {
    dialogue(tls_config(), |h| {
        h.expect(b"220 Service ready\r\n");
        h.send(b"AUTH TLS\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        h.expect_idle();
        h.tls();
        assert!(h.session.is_control_protected());
        h.send(b"PBSZ 0\r\n");
        h.expect(b"200 PBSZ=0\r\n");
        h.send(b"PROT P\r\n");
        h.expect(b"200 Protection level set to P.\r\n");
        h.send(b"USER fred\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        h.send(b"PASS pass\r\n");
        let (id, _, _) = h.expect_auth();
        h.auth(id, Ok(Principal::new("fred")));
        h.expect(b"230 User logged in\r\n");
        assert!(h.session.is_data_protected());
    });
}

#[test]
fn s11_host_before_user_then_host_after_login_is_503() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"HOST ftp.example.com\r\n");
        h.expect(b"220 Host accepted\r\n");
        h.send(b"USER foo\r\n");
        h.expect(b"331 User name ok, need password\r\n");
        h.send(b"PASS bar\r\n");
        match h.take_all().as_slice() {
            [Out::Auth { id, host, .. }] => {
                assert_eq!(host.as_deref(), Some(&b"ftp.example.com"[..]));
                h.auth(*id, Ok(Principal::new("foo")));
            }
            other => panic!("{other:?}"),
        }
        h.expect(b"230 User logged in\r\n");
        h.send(b"HOST other\r\n");
        h.expect(b"503 HOST must come before USER.\r\n");
    });
}

#[test]
fn s12_stou_names_the_file_in_the_150() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"STOU\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::Store {
                path: vp("/"),
                mode: StoreMode::Unique { hint: None },
                offset: 0,
                marker: None,
                data,
                params: ServerSession::new(
                    ServerConfig::default().into(),
                    ServerControlInfo::new(local(), peer()),
                    h.now
                )
                .transfer_params(),
            }
        );
        h.storage(
            id,
            Ok(StorageResponse::StoredAs {
                name: bytes(b"a1b2c3"),
            }),
        );
        h.expect(b"150 FILE: a1b2c3\r\n");
        h.finish_transfer(id, data, 7);
        let started = h.events.iter().any(|e| {
            matches!(e, ftp_proto::server::ServerEvent::TransferCompleted { path, bytes: 7, .. } if *path == vp("/a1b2c3"))
        });
        assert!(started, "{:?}", h.events);
    });
}

#[test]
fn s13_120_then_220_and_commands_wait_for_the_220() {
    dialogue_with(
        |feed| {
            let base = epoch();
            let session = ServerSession::new_delayed(
                ServerConfig::default().into(),
                ServerControlInfo::new(local(), peer()),
                base,
                base + Duration::from_secs(300),
            );
            H::wrap(session, base, feed)
        },
        |h| {
            h.expect(b"120 Service ready in 5 minutes.\r\n");
            h.send(b"NOOP\r\n");
            h.expect_idle();
            assert_eq!(h.until_deadline(), Some(Duration::from_secs(300)));
            h.fire();
            h.expect(b"220 Service ready\r\n200 NOOP ok.\r\n");
        },
    );
}

#[test]
fn s14_opts_mlst_selection_then_mlst() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"OPTS MLST unique;type;modify;\r\n");
        h.expect(b"200 MLST OPTS Type;Modify;Unique;\r\n");
        h.send(b"MLst tmp\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Metadata { path: vp("/tmp") });
        let mut m = Metadata::new(FileKind::Dir);
        m.modified = Some(Timestamp::parse(b"19990930152225").unwrap());
        m.unique = Some("keVO1+YZ5".into());
        m.size = Some(4096);
        m.perm = Some("el".into());
        h.storage(id, Ok(StorageResponse::Metadata(m)));
        h.expect(
            b"250- Listing tmp\r\n Type=dir;Modify=19990930152225;Unique=keVO1+YZ5; /tmp\r\n250 End\r\n",
        );
    });
}

// ---------------------------------------------------------------------------------------------
// §7.1 command vectors the session answers

#[test]
fn c04_noop_is_200() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"NOOP\r\n");
        h.expect(b"200 NOOP ok.\r\n");
    });
}

#[test]
fn c06_type_codes() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"TYPE A N\r\nTYPE A\r\nTYPE L 8\r\n");
        h.expect(b"200 Switching to ASCII mode.\r\n200 Switching to ASCII mode.\r\n");
        h.expect(b"200 Switching to Binary mode.\r\n");
        assert_eq!(h.session.transfer_params().data_type, DataType::Image);
        h.send(b"TYPE L\r\nTYPE L 36\r\nTYPE X\r\n");
        h.expect(b"501 Syntax error in parameters or arguments.\r\n");
        h.expect(b"504 Only byte size 8 is supported.\r\n");
        h.expect(b"501 Syntax error in parameters or arguments.\r\n");
        h.send(b"TYPE E\r\nTYPE A T\r\nTYPE A C\r\n");
        h.expect(b"504 EBCDIC is not supported.\r\n");
        h.expect(b"504 Only format N is supported.\r\n504 Only format N is supported.\r\n");
        assert_eq!(h.session.transfer_params().data_type, DataType::Image);
    });
}

#[test]
fn c13_two_commands_in_one_read_are_answered_in_order() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"NOOP\r\nPWD\r\n");
        h.expect(b"200 NOOP ok.\r\n257 \"/\" is current directory.\r\n");
    });
}

#[test]
fn c15_empty_line_is_500_and_changes_nothing() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"\r\n");
        h.expect(b"500 Empty command line.\r\n");
        h.send(b"NOOP\r\n");
        h.expect(b"200 NOOP ok.\r\n");
    });
}

#[test]
fn c16_unknown_verb_is_500() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"XYZZ\r\n");
        h.expect(b"500 Command not understood.\r\n");
    });
}

#[test]
fn c17_feat_with_an_argument_is_501() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"FEAT extra\r\n");
        h.expect(b"501 No argument allowed.\r\n");
    });
}

#[test]
fn c18_cwd_without_argument_is_501() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"CWD\r\n");
        h.expect(b"501 Argument required.\r\n");
    });
}

#[test]
fn c21_c22_c23_rest_by_mode() {
    let config = ServerConfig {
        block_mode: true,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"REST 802816\r\n");
        h.expect(b"350 Restarting at 802816. Send STORE or RETRIEVE\r\n");
        h.send(b"REST -1\r\n");
        h.expect(b"501 In MODE S, REST takes a byte offset.\r\n");
        h.send(b"REST R00042\r\n");
        h.expect(b"501 In MODE S, REST takes a byte offset.\r\n");
        h.send(b"MODE B\r\n");
        h.expect(b"200 Mode set.\r\n");
        let data = h.pasv();
        h.send(b"REST R00042\r\n");
        h.expect(b"350 Restarting at marker R00042. Send STORE or RETRIEVE\r\n");
        h.send(b"RETR f\r\n");
        let (_, request) = h.expect_storage();
        match request {
            StorageRequest::Retrieve {
                offset,
                marker,
                data: d,
                params,
                ..
            } => {
                assert_eq!(
                    (offset, marker.as_deref(), d),
                    (0, Some(&b"R00042"[..]), data)
                );
                assert_eq!(params.mode, TransferMode::Block);
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn c23_rest_marker_in_mode_c() {
    let config = ServerConfig {
        compressed_mode: true,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"MODE C\r\nREST R00042\r\n");
        h.expect(b"200 Mode set.\r\n350 Restarting at marker R00042. Send STORE or RETRIEVE\r\n");
    });
}

#[test]
fn c24_allo_is_202() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"ALLO 1000 R 100\r\n");
        h.expect(b"202 No storage allocation necessary.\r\n");
    });
}

#[test]
fn c26_mfmt_sets_and_echoes_the_time() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"MFMT 20020717210715 Fred.txt\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::SetModified {
                path: vp("/Fred.txt"),
                time: Timestamp::parse(b"20020717210715").unwrap()
            }
        );
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"213 Modify=20020717210715; Fred.txt\r\n");
    });
}

#[test]
fn c27_mfmt_with_an_impossible_date_is_501() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"MFMT 20030229000000 x\r\n");
        h.expect(b"501 Invalid time value.\r\n");
        h.expect_idle();
    });
}

#[test]
fn c29_opts_mlst_echoes_the_supported_facts() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"OPTS MLST type;size;\r\n");
        h.expect(b"200 MLST OPTS Type;Size;\r\n");
        h.send(b"OPTS MLST fish;cakes;\r\n");
        h.expect(b"200 MLST OPTS\r\n");
    });
}

#[test]
fn c30_opts_mlst_with_a_space_is_501_and_keeps_the_selection() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"OPTS MLST type;\r\nopts MLst unique type;\r\n");
        h.expect(b"200 MLST OPTS Type;\r\n501 Syntax error in parameters or arguments.\r\n");
        h.send(b"FEAT\r\n");
        h.take_all();
        let feat = String::from_utf8_lossy(&h.transmitted()).into_owned();
        assert!(
            feat.contains(" MLST Type*;Size;Modify;Create;Perm;Unique;UNIX.mode;\r\n"),
            "{feat}"
        );
    });
}

#[test]
fn c31_opts_mlst_without_facts_selects_names_only() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"OPTS MLST\r\n");
        h.expect(b"200 MLST OPTS\r\n");
        h.send(b"MLST x\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(file_meta(3)));
        h.expect(b"250- Listing x\r\n  /x\r\n250 End\r\n");
    });
}

#[test]
fn c32_c33_c34_host_names() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"HOST [2001:db8::c000:201]\r\n");
        h.expect(b"504 Unknown host.\r\n");
        h.send(b"HOST 192.0.2.1\r\n");
        h.expect(b"220 Host accepted\r\n");
        h.send(b"HOST 192.0.2.1:2112\r\n");
        h.expect(b"501 Syntax error in parameters or arguments.\r\n");
        h.send(b"HOST ftp.example.com\r\n");
        h.expect(b"220 Host accepted\r\n");
    });
}

#[test]
fn c35_lang() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"LANG\r\nLANG en-US\r\nLANG en_US\r\nLANG fr\r\n");
        h.expect(b"200 Language set to EN.\r\n200 Language set to EN.\r\n");
        h.expect(b"501 Syntax error in parameters or arguments.\r\n");
        h.expect(b"504 Language not supported.\r\n");
    });
}

#[test]
fn c36_auth_tls_and_tls_c_are_234() {
    for line in [&b"AUTH tls\r\n"[..], b"AUTH TLS-C\r\n"] {
        greeted(tls_config(), |h| {
            h.send(line);
            h.expect(b"234 Proceed with negotiation.\r\n");
            h.expect_out(Out::StartTls);
        });
    }
}

#[test]
fn c37_pbsz_before_auth_is_503_and_200_after_tls() {
    greeted(tls_config(), |h| {
        h.send(b"PBSZ 0\r\n");
        h.expect(b"503 PBSZ requires a TLS session (AUTH TLS).\r\n");
        h.send(b"AUTH TLS\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        h.tls();
        h.send(b"PBSZ 0\r\n");
        h.expect(b"200 PBSZ=0\r\n");
    });
}

#[test]
fn c38_prot_without_pbsz_is_503_and_prot_x_is_504() {
    greeted(tls_config(), |h| {
        h.send(b"PROT P\r\nPROT X\r\n");
        h.expect(b"503 PROT requires PBSZ first.\r\n504 Parameter not implemented.\r\n");
        h.send(b"AUTH TLS\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        h.tls();
        h.send(b"PROT P\r\n");
        h.expect(b"503 PROT requires PBSZ first.\r\n");
        h.send(b"PBSZ 0\r\nPROT S\r\nPROT C\r\n");
        h.expect(b"200 PBSZ=0\r\n536 PROT level not supported by TLS; use C or P.\r\n");
        h.expect(b"200 Protection level set to C.\r\n");
    });
}

#[test]
fn c40_rang_reset_and_bad_range() {
    let config = ServerConfig {
        hash_algorithms: vec![HashAlgorithm::Sha256, HashAlgorithm::Sha1],
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"RANG 1 0\r\n");
        h.expect(b"350 Range reset.\r\n");
        h.send(b"RANG 10 20\r\n");
        h.expect(b"350 Range set to 10-20; send HASH.\r\n");
        h.send(b"RANG 5 2\r\n");
        h.expect(b"501 Invalid range; range reset.\r\n");
        h.send(b"HASH f\r\n");
        let (_, request) = h.expect_storage();
        assert!(matches!(request, StorageRequest::Hash { range: None, .. }));
    });
}

#[test]
fn c44_overlong_line_is_500_then_the_next_command_runs() {
    logged_in(ServerConfig::default(), |h| {
        let mut line = b"RETR ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 9000));
        line.extend_from_slice(b"\r\nNOOP\r\n");
        h.send(&line);
        h.expect(b"500 Command line too long.\r\n200 NOOP ok.\r\n");
        h.expect_idle();
    });
}

// ---------------------------------------------------------------------------------------------
// §7.2 Telnet vectors with a session outcome

#[test]
fn t02_lone_data_mark_before_abor_is_tolerated() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR big\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect(b"125 ");
        h.expect(b"Data connection already open; transfer starting.\r\n");
        h.send(b"\xff\xf4\xf2ABOR\r\n");
        h.expect_abort(data);
        h.expect(b"426 Connection closed; transfer aborted.\r\n226 Abort successful\r\n");
    });
}

#[test]
fn t03_will_is_refused_and_the_command_still_runs() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"\xff\xfb\x01NOOP\r\n");
        h.expect(b"\xff\xfe\x01200 NOOP ok.\r\n");
        // A refusal keeps its place among the replies, however the reads are split.
        h.send(b"NOOP\r\n\xff\xfd\x03NOOP\r\n\xff\xfd\x03");
        h.expect(b"200 NOOP ok.\r\n\xff\xfc\x03200 NOOP ok.\r\n");
        h.expect_idle();
    });
}

#[test]
fn t09_pwd_escapes_iac_in_the_path() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"CWD /a\xff\xffb\r\n");
        let (id, request) = h.expect_storage();
        let path = ftp_proto::path::VirtualPath::root()
            .resolve(b"/a\xffb")
            .unwrap();
        assert_eq!(request, StorageRequest::Metadata { path });
        h.storage(id, Ok(meta(FileKind::Dir)));
        h.expect(b"250 Directory successfully changed.\r\n");
        h.send(b"PWD\r\n");
        h.expect(b"257 \"/a\xff\xffb\" is current directory.\r\n");
    });
}

// ---------------------------------------------------------------------------------------------
// §7.4 address vectors with a session outcome

#[test]
fn a05_port_to_a_foreign_host_and_low_port_is_504() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"PORT 203,0,113,9,0,25\r\n");
        h.expect(b"504 Ports below 1024 are refused.\r\n");
        h.send(b"PORT 203,0,113,9,4,1\r\n");
        h.expect(b"500 Illegal PORT command: the address must be yours.\r\n");
        h.send(b"EPRT |1|203.0.113.9|1025|\r\n");
        h.expect(b"501 Illegal EPRT command: the address must be yours.\r\n");
        h.send(b"LPRT 4,4,203,0,113,9,2,4,1\r\n");
        h.expect(b"501 Illegal LPRT command: the address must be yours.\r\n");
        h.send(b"PORT 198,51,100,7,4,1\r\n");
        h.expect(b"200 PORT command successful.\r\n");
    });
}

#[test]
fn a13_eprt_unknown_family_is_522() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"EPRT |3|foo|1|\r\n");
        h.expect(b"522 Network protocol not supported, use (1,2)\r\n");
    });
}

#[test]
fn a16_epsv_is_229_after_the_listener_is_bound() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"EPSV\r\n");
        let id = h.expect_listen();
        h.expect_idle();
        h.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:6446".parse().unwrap(),
            },
        );
        h.expect(b"229 Entering Extended Passive Mode (|||6446|)\r\n");
    });
}

#[test]
fn a17_epsv_2_on_ipv4_is_522() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"EPSV 2\r\n");
        h.expect(b"522 Network protocol not supported, use (1)\r\n");
        h.send(b"EPSV 1\r\n");
        let _ = h.expect_listen();
    });
}

#[test]
fn a18_epsv_all_then_port_and_pasv_are_501() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"EPSV ALL\r\n");
        h.expect(b"200 EPSV ALL ok.\r\n");
        h.send(b"PORT 1,2,3,4,5,6\r\nPASV\r\nEPRT |1|198.51.100.7|2000|\r\nLPSV\r\n");
        for _ in 0..4 {
            h.expect(b"501 Only EPSV is allowed after EPSV ALL.\r\n");
        }
        h.send(b"EPSV\r\n");
        let _ = h.expect_listen();
    });
}

#[test]
fn facts_are_the_documented_defaults() {
    assert_eq!(
        ServerConfig::default().mlst_default_facts,
        FactSet::TYPE
            .union(FactSet::SIZE)
            .union(FactSet::MODIFY)
            .union(FactSet::PERM)
            .union(FactSet::UNIQUE)
    );
}
