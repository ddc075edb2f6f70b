//! Data channels and transfers: PASV/EPSV/LPSV/PORT/EPRT/LPRT, 227/229 only after the listener
//! is bound, 150/125, 226 only after the data connection is closed, error mapping, ABOR and
//! STAT and QUIT during a transfer, data timeouts, port theft, and shutdown.

mod server_support;

use std::time::Duration;

use ftp_proto::server::{
    CloseReason, DataFailure, ListFormat, ServerConfig, ServerControlInfo, ServerDataEvent,
    ServerDataIntent, ServerEvent, StorageErrorKind, StorageRequest, StorageResponse, StoreMode,
    TlsPolicy, TransferKind,
};
use ftp_proto::transfer::{DataType, FileStructure, FormatControl, TransferMode};
use server_support::*;

fn client_data() -> std::net::SocketAddr {
    "198.51.100.7:40000".parse().unwrap()
}

#[test]
fn pasv_reply_waits_for_the_listener_and_pipelined_lines_wait_too() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"PASV\r\nRETR f\r\n");
        let id = h.expect_listen();
        h.expect_idle();
        h.advance(Duration::from_millis(5));
        h.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:50000".parse().unwrap(),
            },
        );
        h.expect(b"227 Entering Passive Mode (192,0,2,1,195,80).\r\n");
        let (_, request) = h.expect_storage();
        assert!(matches!(request, StorageRequest::Retrieve { data, .. } if data == id));
    });
}

#[test]
fn pasv_uses_the_advertised_address() {
    let config = ServerConfig {
        passive_address: Some("203.0.113.80".parse().unwrap()),
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"PASV\r\n");
        let id = h.expect_listen();
        h.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:1025".parse().unwrap(),
            },
        );
        h.expect(b"227 Entering Passive Mode (203,0,113,80,4,1).\r\n");
    });
}

#[test]
fn lpsv_reply() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"LPSV\r\n");
        let id = h.expect_listen();
        h.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:50000".parse().unwrap(),
            },
        );
        h.expect(b"228 Entering Long Passive Mode (4,4,192,0,2,1,2,195,80)\r\n");
    });
}

#[test]
fn ipv6_control_connection() {
    dialogue_conn(
        ServerConfig::default(),
        "[2001:db8::1]:21",
        "[2001:db8::7]:50000",
        |h| {
            h.expect(b"220 Service ready\r\n");
            h.login("alice");
            h.send(b"PASV\r\n");
            h.expect(b"502 PASV is IPv4 only; use EPSV.\r\n");
            h.send(b"EPSV 1\r\n");
            h.expect(b"522 Network protocol not supported, use (2)\r\n");
            h.send(b"EPSV 2\r\n");
            let ServerDataIntent::Listen {
                id,
                expect_peer,
                ipv6: true,
                tls: false,
            } = h.expect_data()
            else {
                panic!("expected an IPv6 listener");
            };
            assert_eq!(expect_peer, Some("2001:db8::7".parse().unwrap()));
            h.data(
                id,
                ServerDataEvent::Listening {
                    local: "[2001:db8::1]:50000".parse().unwrap(),
                },
            );
            h.expect(b"229 Entering Extended Passive Mode (|||50000|)\r\n");
            h.send(b"EPRT |2|2001:db8::7|50001|\r\n");
            h.expect_abort(id);
            h.expect(b"200 EPRT command successful.\r\n");
            h.send(b"EPRT |1|198.51.100.7|50001|\r\n");
            h.expect(b"501 Illegal EPRT command: the address must be yours.\r\n");
        },
    );
}

#[test]
fn dual_stack_mapped_addresses_count_as_ipv4() {
    dialogue_conn(
        ServerConfig::default(),
        "[::ffff:192.0.2.1]:21",
        "[::ffff:198.51.100.7]:50000",
        |h| {
            h.expect(b"220 Service ready\r\n");
            h.login("alice");
            h.send(b"PASV\r\n");
            let id = h.expect_listen();
            h.data(
                id,
                ServerDataEvent::Listening {
                    local: "[::ffff:192.0.2.1]:50000".parse().unwrap(),
                },
            );
            h.expect(b"227 Entering Passive Mode (192,0,2,1,195,80).\r\n");
            h.send(b"PORT 198,51,100,7,4,1\r\n");
            h.expect_abort(id);
            h.expect(b"200 PORT command successful.\r\n");
        },
    );
}

#[test]
fn listener_failure_and_bind_timeout_are_425() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"PASV\r\n");
        let id = h.expect_listen();
        h.data(id, ServerDataEvent::Failed(DataFailure::Bind));
        h.expect_abort(id);
        h.expect(b"425 Can't open passive connection.\r\n");
        h.send(b"EPSV\r\n");
        let id = h.expect_listen();
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(60)));
        h.fire();
        h.expect_abort(id);
        h.expect(b"425 Can't open passive connection.\r\n");
        h.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:50000".parse().unwrap(),
            },
        );
        h.expect_idle();
        h.send(b"RETR f\r\n");
        h.expect(b"425 Use PORT or PASV first.\r\n");
    });
}

#[test]
fn a_new_pasv_or_port_replaces_the_prepared_channel() {
    logged_in(ServerConfig::default(), |h| {
        let first = h.pasv();
        let second = h.pasv_after_abort(first);
        h.send(b"PORT 198,51,100,7,4,1\r\n");
        h.expect_abort(second);
        h.expect(b"200 PORT command successful.\r\n");
        h.send(b"PORT 198,51,100,7,4,2\r\n");
        h.expect(b"200 PORT command successful.\r\n");
    });
}

trait PasvAgain {
    fn pasv_after_abort(
        &mut self,
        old: ftp_proto::server::DataConnId,
    ) -> ftp_proto::server::DataConnId;
}

impl PasvAgain for H {
    fn pasv_after_abort(
        &mut self,
        old: ftp_proto::server::DataConnId,
    ) -> ftp_proto::server::DataConnId {
        self.send(b"PASV\r\n");
        self.expect_abort(old);
        let id = self.expect_listen();
        self.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:50001".parse().unwrap(),
            },
        );
        self.expect(b"227 Entering Passive Mode (192,0,2,1,195,81).\r\n");
        id
    }
}

#[test]
fn active_mode_policies() {
    let config = ServerConfig {
        active_mode: false,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"PORT 198,51,100,7,4,1\r\nEPRT |1|198.51.100.7|1025|\r\n");
        h.expect(b"502 Active mode is disabled; use PASV or EPSV.\r\n");
        h.expect(b"502 Active mode is disabled; use PASV or EPSV.\r\n");
    });
    let config = ServerConfig {
        allow_foreign_active: true,
        allow_privileged_ports: true,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"PORT 203,0,113,9,0,20\r\n");
        h.expect(b"200 PORT command successful.\r\n");
    });
}

#[test]
fn a_transfer_without_a_data_channel_is_425() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"RETR f\r\nLIST\r\nSTOR f\r\n");
        for _ in 0..3 {
            h.expect(b"425 Use PORT or PASV first.\r\n");
        }
    });
}

#[test]
fn retr_passive_150_then_226_only_after_the_close() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"TYPE I\r\n");
        h.expect(b"200 Switching to Binary mode.\r\n");
        let data = h.pasv();
        h.send(b"RETR dir/file.bin\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::Retrieve {
                path: vp("/dir/file.bin"),
                offset: 0,
                marker: None,
                data,
                params: ftp_proto::server::TransferParams {
                    data_type: DataType::Image,
                    mode: TransferMode::Stream,
                    structure: FileStructure::File
                }
            }
        );
        h.storage(id, Ok(StorageResponse::Opened { size: Some(10) }));
        h.expect(b"150 Opening BINARY mode data connection for file.bin (10 bytes).\r\n");
        h.expect_idle();
        h.data(
            data,
            ServerDataEvent::Connected {
                peer: client_data(),
            },
        );
        h.data(data, ServerDataEvent::Progress { bytes: 4 });
        h.storage(id, Ok(StorageResponse::Transferred { bytes: 10 }));
        h.expect_close_intent(data);
        h.expect_idle(); // no 226 before the data connection is closed
        h.send(b"NOOP\r\n");
        h.expect_idle(); // commands wait for the transfer
        h.data(data, ServerDataEvent::Closed);
        h.expect(b"226 Transfer complete.\r\n200 NOOP ok.\r\n");
        assert!(h.events.contains(&ServerEvent::TransferStarted {
            kind: TransferKind::Retrieve,
            path: vp("/dir/file.bin")
        }));
        assert!(h.events.contains(&ServerEvent::TransferCompleted {
            kind: TransferKind::Retrieve,
            path: vp("/dir/file.bin"),
            bytes: 10
        }));
        // One-shot: the channel is used up.
        h.send(b"RETR again\r\n");
        h.expect(b"425 Use PORT or PASV first.\r\n");
    });
}

#[test]
fn stor_upload_where_the_client_closes_first() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"STOR up.txt\r\n");
        let (id, request) = h.expect_storage();
        assert!(matches!(
            request,
            StorageRequest::Store { mode: StoreMode::Create, offset: 0, data: d, .. } if d == data
        ));
        h.storage(id, Ok(opened()));
        h.expect(b"125 Data connection already open; transfer starting.\r\n");
        h.data(data, ServerDataEvent::Closed); // EOF from the client
        h.expect_idle();
        h.storage(id, Ok(StorageResponse::Transferred { bytes: 99 }));
        h.expect(b"226 Transfer complete.\r\n");
        h.expect_idle();
    });
}

#[test]
fn appe_stou_list_nlst_requests() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"APPE log\r\n");
        let (id, request) = h.expect_storage();
        assert!(matches!(
            request,
            StorageRequest::Store {
                mode: StoreMode::Append,
                ..
            }
        ));
        h.storage_err(id, StorageErrorKind::NotFound);
        h.expect(b"550 No such file or directory.\r\n");
        h.send(b"STOU sub/name.txt\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::Store {
                path: vp("/sub"),
                mode: StoreMode::Unique {
                    hint: Some(bytes(b"name.txt"))
                },
                offset: 0,
                marker: None,
                data,
                params: h.session.transfer_params(),
            }
        );
        h.storage_err(id, StorageErrorKind::PermissionDenied);
        h.expect(b"550 Permission denied.\r\n");
        h.send(b"STOU ..\r\n");
        let (id, request) = h.expect_storage();
        assert!(matches!(
            request,
            StorageRequest::Store {
                mode: StoreMode::Unique { hint: None },
                ..
            }
        ));
        h.storage_err(id, StorageErrorKind::Busy);
        h.expect(b"450 File unavailable, try again later.\r\n");
        let ascii = ftp_proto::server::TransferParams {
            data_type: DataType::Ascii(FormatControl::NonPrint),
            mode: TransferMode::Stream,
            structure: FileStructure::File,
        };
        h.send(b"TYPE I\r\nLIST -la\r\n");
        h.expect(b"200 Switching to Binary mode.\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::List {
                path: vp("/"),
                format: ListFormat::List,
                data,
                params: ascii
            }
        );
        h.storage_err(id, StorageErrorKind::NotFound);
        h.expect(b"550 No such file or directory.\r\n");
        h.send(b"NLST -a  pub\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::List {
                path: vp("/pub"),
                format: ListFormat::Nlst,
                data,
                params: ascii
            }
        );
        h.storage(id, Ok(opened()));
        h.expect(b"150 Opening ASCII mode data connection for NLST.\r\n");
        h.finish_transfer(id, data, 30);
    });
}

#[test]
fn storage_errors_before_and_during_a_transfer() {
    use StorageErrorKind as K;
    let before: &[(&[u8], K, &[u8])] = &[
        (
            b"STOR f",
            K::QuotaExceeded,
            b"552 Exceeded storage allocation.\r\n",
        ),
        (
            b"STOR f",
            K::InsufficientStorage,
            b"452 Insufficient storage space.\r\n",
        ),
        (b"STOR f", K::IsADirectory, b"553 Is a directory.\r\n"),
        (b"STOR f", K::NotFound, b"553 No such directory.\r\n"),
        (b"STOR f", K::InvalidName, b"553 File name not allowed.\r\n"),
        (
            b"STOR f",
            K::PermissionDenied,
            b"550 Permission denied.\r\n",
        ),
        (b"RETR f", K::IsADirectory, b"550 Is a directory.\r\n"),
        (
            b"RETR f",
            K::PermissionDenied,
            b"550 Permission denied.\r\n",
        ),
        (
            b"RETR f",
            K::Transient,
            b"450 File unavailable, try again later.\r\n",
        ),
        (
            b"RETR f",
            K::InvalidOffset,
            b"554 Invalid REST parameter.\r\n",
        ),
        (
            b"APPE f",
            K::PermissionDenied,
            b"550 Permission denied.\r\n",
        ),
    ];
    for (line, kind, reply) in before {
        logged_in(ServerConfig::default(), |h| {
            let data = h.pasv();
            h.send(&[*line, b"\r\n"].concat());
            let (id, _) = h.expect_storage();
            h.storage_err(id, *kind);
            h.expect(reply);
            h.expect_idle(); // no data intent: the listener stays for a retry
            h.send(b"LIST\r\n");
            let (_, request) = h.expect_storage();
            assert!(matches!(request, StorageRequest::List { data: d, .. } if d == data));
        });
    }
    let during: &[(K, &[u8])] = &[
        (K::QuotaExceeded, b"552 Exceeded storage allocation.\r\n"),
        (
            K::InsufficientStorage,
            b"452 Insufficient storage space.\r\n",
        ),
        (K::Other, b"451 Local error in processing.\r\n"),
        (K::NotFound, b"451 Local error in processing.\r\n"),
    ];
    for (kind, reply) in during {
        logged_in(ServerConfig::default(), |h| {
            let data = h.pasv_connected();
            h.send(b"STOR f\r\n");
            let (id, _) = h.expect_storage();
            h.storage(id, Ok(opened()));
            h.expect(b"125 Data connection already open; transfer starting.\r\n");
            h.storage_err(id, *kind);
            h.expect_abort(data);
            h.expect(reply);
            assert!(h
                .events
                .iter()
                .any(|e| matches!(e, ServerEvent::TransferFailed { .. })));
        });
    }
}

#[test]
fn data_failures_map_to_425_426_and_522() {
    let cases: &[(bool, DataFailure, &[u8])] = &[
        (
            true,
            DataFailure::Reset,
            b"426 Connection closed; transfer aborted.\r\n",
        ),
        (
            true,
            DataFailure::TimedOut,
            b"426 Connection closed; transfer aborted.\r\n",
        ),
        (
            false,
            DataFailure::TimedOut,
            b"425 Can't open data connection.\r\n",
        ),
        (
            false,
            DataFailure::Tls,
            b"522 TLS negotiation failed on the data connection.\r\n",
        ),
    ];
    for (connected, failure, reply) in cases {
        logged_in(ServerConfig::default(), |h| {
            let data = if *connected {
                h.pasv_connected()
            } else {
                h.pasv()
            };
            h.send(b"RETR f\r\n");
            let (id, _) = h.expect_storage();
            h.storage(id, Ok(opened()));
            h.expect_code(if *connected { 125 } else { 150 });
            h.data(data, ServerDataEvent::Failed(*failure));
            h.expect_abort(data);
            h.expect(reply);
            h.storage(id, Ok(StorageResponse::Transferred { bytes: 1 })); // stale
            h.expect_idle();
        });
    }
}

#[test]
fn active_connect_refused_is_425() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"PORT 198,51,100,7,4,1\r\nLIST\r\n");
        h.expect(b"200 PORT command successful.\r\n");
        let (id, request) = h.expect_storage();
        let StorageRequest::List { data, .. } = request else {
            panic!("{request:?}");
        };
        h.storage(id, Ok(opened()));
        h.expect(b"150 Opening ASCII mode data connection for LIST.\r\n");
        h.expect_out(Out::Data(ServerDataIntent::Connect {
            id: data,
            addr: "198.51.100.7:1025".parse().unwrap(),
            tls: false,
        }));
        h.data(data, ServerDataEvent::Failed(DataFailure::Refused));
        h.expect_abort(data);
        h.expect(b"425 Can't open data connection.\r\n");
    });
}

#[test]
fn waiting_for_the_data_connection_times_out() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.advance(Duration::from_secs(10));
        h.storage(id, Ok(opened()));
        h.expect(b"150 Opening ASCII mode data connection for f.\r\n");
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(60)));
        h.fire();
        h.expect_abort(data);
        h.expect(b"425 Can't open data connection.\r\n");
    });
}

#[test]
fn a_data_close_that_never_comes_times_out_with_426() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.storage(id, Ok(StorageResponse::Transferred { bytes: 3 }));
        h.expect_close_intent(data);
        h.fire();
        h.expect_abort(data);
        h.expect(b"426 Data connection did not close.\r\n");
    });
}

/// A client that stops reading a download (or sending an upload) is cut off after the stall
/// timeout: every byte moved pushes the deadline back, and the idle timeout (off during a
/// transfer) no longer holds the session for ever.
#[test]
fn a_transfer_that_moves_no_byte_for_the_stall_timeout_is_426() {
    let config = ServerConfig {
        stall_timeout: Some(Duration::from_secs(30)),
        ..ServerConfig::default()
    };
    for verb in ["RETR", "STOR"] {
        logged_in(config.clone(), |h| {
            let data = h.pasv_connected();
            h.send(format!("{verb} f\r\n").as_bytes());
            let (id, _) = h.expect_storage();
            h.storage(id, Ok(opened()));
            h.expect_code(125);
            assert_eq!(h.until_deadline(), Some(Duration::from_secs(30)));
            h.advance(Duration::from_secs(20));
            h.data(data, ServerDataEvent::Progress { bytes: 65536 });
            assert_eq!(h.until_deadline(), Some(Duration::from_secs(30)));
            // A report of the same count is no progress.
            h.advance(Duration::from_secs(20));
            h.data(data, ServerDataEvent::Progress { bytes: 65536 });
            assert_eq!(h.until_deadline(), Some(Duration::from_secs(10)));
            h.advance(Duration::from_secs(9));
            h.timeout();
            h.expect_idle();
            h.fire();
            h.expect_abort(data);
            h.expect(b"426 Data connection stalled; transfer aborted.\r\n");
            h.expect_idle();
            h.send(b"NOOP\r\n");
            h.expect(b"200 NOOP ok.\r\n");
        });
    }
    // `None` waits for ever (the idle timeout stays off during a transfer).
    let config = ServerConfig {
        stall_timeout: None,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        assert_eq!(h.until_deadline(), None);
    });
}

#[test]
fn an_unused_passive_listener_is_dropped_after_the_data_timeout() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(60)));
        h.fire();
        h.expect_abort(data);
        h.expect_idle();
        h.send(b"RETR f\r\n");
        h.expect(b"425 Use PORT or PASV first.\r\n");
    });
}

#[test]
fn port_theft_is_refused() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(150);
        h.data(
            data,
            ServerDataEvent::Connected {
                peer: "203.0.113.66:4444".parse().unwrap(),
            },
        );
        h.expect_abort(data);
        h.expect(b"425 Security: data connection from the wrong address.\r\n");
    });
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.data(
            data,
            ServerDataEvent::Connected {
                peer: "203.0.113.66:4444".parse().unwrap(),
            },
        );
        h.expect_abort(data);
        h.send(b"RETR f\r\n");
        h.expect(b"425 Use PORT or PASV first.\r\n");
    });
    let config = ServerConfig {
        allow_foreign_passive: true,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"PASV\r\n");
        let ServerDataIntent::Listen {
            id,
            expect_peer: None,
            ..
        } = h.expect_data()
        else {
            panic!("expected a listener open to any peer");
        };
        h.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:50000".parse().unwrap(),
            },
        );
        h.expect_code(227);
        h.data(
            id,
            ServerDataEvent::Connected {
                peer: "203.0.113.66:4444".parse().unwrap(),
            },
        );
        h.send(b"RETR f\r\n");
        let (sid, _) = h.expect_storage();
        h.storage(sid, Ok(opened()));
        h.expect_code(125);
    });
}

#[test]
fn abor_before_the_1yz_aborts_too() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"RETR f\r\nABOR\r\n");
        let (id, _) = h.expect_storage();
        h.expect_abort(data);
        h.expect(b"426 Connection closed; transfer aborted.\r\n226 Abort successful\r\n");
        h.storage(id, Ok(opened())); // stale
        h.expect_idle();
    });
}

#[test]
fn abor_while_the_data_connection_closes_waits_for_the_226() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.storage(id, Ok(StorageResponse::Transferred { bytes: 3 }));
        h.expect_close_intent(data);
        h.send(b"\xff\xf4\xff\xf2ABOR\r\n");
        h.expect_idle();
        h.data(data, ServerDataEvent::Closed);
        h.expect(b"226 Transfer complete.\r\n226 No transfer to abort.\r\n");
    });
}

#[test]
fn only_urgent_abor_jumps_the_queue() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        // A plain ABOR behind a NOOP waits its turn.
        h.send(b"NOOP\r\nABOR\r\nSTAT x\r\n");
        h.expect_idle();
        // An urgent one (Telnet IP + Synch) is taken at once.
        h.send(b"\xff\xf4\xff\xf2ABOR\r\n");
        h.expect_abort(data);
        h.expect(b"426 Connection closed; transfer aborted.\r\n226 Abort successful\r\n");
        h.expect(b"200 NOOP ok.\r\n226 No transfer to abort.\r\n");
        // STAT with a pathname waited its turn too: a listing for the control connection.
        let (_, request) = h.expect_storage();
        assert!(
            matches!(request, StorageRequest::StatusListing { .. }),
            "{request:?}"
        );
    });
}

#[test]
fn plain_abor_at_the_head_of_the_queue_is_taken_during_a_transfer() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"STOR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.send(b"abor\r\n");
        h.expect_abort(data);
        h.expect(b"426 Connection closed; transfer aborted.\r\n226 Abort successful\r\n");
    });
}

#[test]
fn quit_during_a_transfer_waits_for_its_end() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.send(b"QUIT\r\n");
        h.expect_idle();
        h.finish_transfer(id, data, 8);
        h.expect(b"221 Goodbye.\r\n");
        h.expect_closed();
    });
}

/// QUIT then ABOR during a transfer: the abort's two replies come first, then 221 and the
/// close; nothing follows the close (the fuzz target `server_session` found "226 Abort
/// successful" emitted after `Close`).
#[test]
fn abor_after_quit_during_a_transfer_answers_before_the_goodbye() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.send(b"QUIT\r\n\xff\xf4\xff\xf2ABOR\r\n");
        h.expect_abort(data);
        h.expect(b"426 Connection closed; transfer aborted.\r\n226 Abort successful\r\n");
        h.expect(b"221 Goodbye.\r\n");
        h.expect_closed();
        h.expect_idle();
    });
}

#[test]
fn stat_with_a_pathname_waits_during_a_transfer() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.send(b"STAT\r\n");
        h.expect(b"213-Status:\r\n RETR /f: 0 bytes so far\r\n213 End\r\n");
        h.finish_transfer(id, data, 8);
    });
}

#[test]
fn idle_timeout_never_fires_during_a_transfer() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR huge\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        // Only the stall timer runs, and bytes that keep moving keep pushing it back.
        for hour in 1..=12u64 {
            assert_eq!(h.until_deadline(), Some(Duration::from_secs(300)));
            h.advance(Duration::from_secs(299));
            h.data(data, ServerDataEvent::Progress { bytes: hour << 30 });
            h.timeout();
            h.expect_idle();
        }
        h.finish_transfer(id, data, 1 << 40);
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(300)));
    });
}

#[test]
fn stored_as_with_an_invalid_name_fails_the_transfer() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv();
        h.send(b"STOU\r\n");
        let (id, _) = h.expect_storage();
        h.storage(
            id,
            Ok(StorageResponse::StoredAs {
                name: bytes(b"../x"),
            }),
        );
        h.expect_abort(data);
        h.expect(b"451 Storage chose an invalid name.\r\n");
    });
}

#[test]
fn transferred_without_opened_still_sends_the_1yz_first() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR empty\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(StorageResponse::Transferred { bytes: 0 }));
        h.expect(b"125 Data connection already open; transfer starting.\r\n");
        h.expect_close_intent(data);
        h.data(data, ServerDataEvent::Closed);
        h.expect(b"226 Transfer complete.\r\n");
    });
}

#[test]
fn prot_p_makes_data_connections_tls_and_prot_c_is_521_when_required() {
    let config = ServerConfig {
        tls: TlsPolicy {
            enabled: true,
            require_for_data: true,
            ..TlsPolicy::default()
        },
        ..ServerConfig::default()
    };
    greeted(config, |h| {
        h.send(b"AUTH TLS\r\n");
        h.expect(b"234 Proceed with negotiation.\r\n");
        h.expect_out(Out::StartTls);
        h.tls();
        h.login("alice");
        h.send(b"PORT 198,51,100,7,4,1\r\nRETR f\r\n");
        h.expect(b"200 PORT command successful.\r\n");
        h.expect(b"521 Data connections must be protected (PROT P).\r\n");
        h.send(b"PBSZ 0\r\nPROT P\r\nPASV\r\n");
        h.expect(b"200 PBSZ=0\r\n200 Protection level set to P.\r\n");
        let ServerDataIntent::Listen { id, tls: true, .. } = h.expect_data() else {
            panic!("expected a TLS listener");
        };
        h.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:50000".parse().unwrap(),
            },
        );
        h.expect_code(227);
        // Changing PROT drops the listener announced at the old level.
        h.send(b"PROT C\r\n");
        h.expect_abort(id);
        h.expect(b"200 Protection level set to C.\r\n");
        h.send(b"PROT P\r\nEPRT |1|198.51.100.7|2000|\r\nRETR f\r\n");
        h.expect(b"200 Protection level set to P.\r\n200 EPRT command successful.\r\n");
        let (sid, request) = h.expect_storage();
        let StorageRequest::Retrieve { data, .. } = request else {
            panic!();
        };
        h.storage(sid, Ok(opened()));
        h.expect_code(150);
        h.expect_out(Out::Data(ServerDataIntent::Connect {
            id: data,
            addr: "198.51.100.7:2000".parse().unwrap(),
            tls: true,
        }));
    });
}

#[test]
fn shutdown_lets_a_transfer_finish_then_says_421() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.shutdown("Server restarting");
        h.expect_idle();
        h.send(b"NOOP\r\n");
        h.finish_transfer(id, data, 5);
        h.expect(b"421 Server restarting\r\n");
        h.expect_closed();
        assert!(h.events.contains(&ServerEvent::Closed {
            reason: CloseReason::Shutdown
        }));
    });
}

#[test]
fn shutdown_grace_expires_with_426_then_421() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.shutdown("Bye");
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(30)));
        h.fire();
        h.expect_abort(data);
        h.expect(b"426 Server shutting down; transfer aborted.\r\n421 Bye\r\n");
        h.expect_closed();
    });
}

#[test]
fn shutdown_waits_for_a_pending_storage_request() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"DELE f\r\n");
        let (id, _) = h.expect_storage();
        h.shutdown("Bye");
        h.expect_idle();
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"250 File deleted.\r\n421 Bye\r\n");
        h.expect_closed();
    });
}

#[test]
fn eof_during_a_transfer_aborts_it() {
    logged_in(ServerConfig::default(), |h| {
        let data = h.pasv_connected();
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect_code(125);
        h.data(data, ServerDataEvent::Progress { bytes: 4096 });
        h.eof();
        h.expect_abort(data);
        h.expect_closed();
        // The end of the transfer is reported, for logs and metrics, before the end of the
        // session.
        let tail = &h.events[h.events.len() - 2..];
        assert_eq!(
            tail,
            [
                ServerEvent::TransferInterrupted {
                    kind: TransferKind::Retrieve,
                    path: vp("/f"),
                    bytes: 4096,
                    reason: CloseReason::Eof,
                },
                ServerEvent::Closed {
                    reason: CloseReason::Eof
                },
            ]
        );
        h.storage(id, Ok(StorageResponse::Transferred { bytes: 1 }));
        h.expect_idle();
    });
}

#[test]
fn stale_data_events_are_ignored() {
    logged_in(ServerConfig::default(), |h| {
        let old = h.pasv();
        let new = h.pasv_after_abort(old);
        h.data(
            old,
            ServerDataEvent::Connected {
                peer: client_data(),
            },
        );
        h.data(old, ServerDataEvent::Failed(DataFailure::Reset));
        h.data(
            ftp_proto::server::DataConnId::from_raw(777),
            ServerDataEvent::Closed,
        );
        h.expect_idle();
        h.data(
            new,
            ServerDataEvent::Connected {
                peer: client_data(),
            },
        );
        h.send(b"RETR f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(opened()));
        h.expect(b"125 Data connection already open; transfer starting.\r\n");
    });
}

#[test]
fn the_connection_info_is_kept() {
    let h = H::new(ServerConfig::default(), Feed::Whole);
    assert_eq!(h.session.conn(), &ServerControlInfo::new(local(), peer()));
}

#[test]
fn lprt_and_eprt_prepare_active_transfers() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"LPRT 4,4,198,51,100,7,2,4,1\r\nNLST\r\n");
        h.expect(b"200 LPRT command successful.\r\n");
        let (id, request) = h.expect_storage();
        let StorageRequest::List { data, .. } = request else {
            panic!("{request:?}");
        };
        h.storage(id, Ok(opened()));
        h.expect(b"150 Opening ASCII mode data connection for NLST.\r\n");
        h.expect_out(Out::Data(ServerDataIntent::Connect {
            id: data,
            addr: "198.51.100.7:1025".parse().unwrap(),
            tls: false,
        }));
        h.data(
            data,
            ServerDataEvent::Connected {
                peer: "198.51.100.7:1025".parse().unwrap(),
            },
        );
        h.finish_transfer(id, data, 12);
    });
}

#[test]
fn shutdown_waits_for_a_pending_listener() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"PASV\r\n");
        let id = h.expect_listen();
        h.shutdown("Bye");
        h.expect_idle();
        h.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:50000".parse().unwrap(),
            },
        );
        h.expect(b"227 Entering Passive Mode (192,0,2,1,195,80).\r\n421 Bye\r\n");
        h.expect_abort(id);
        h.expect_closed();
    });
}

#[test]
fn mlsd_uses_the_opts_mlst_selection() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"OPTS MLST size;type;\r\n");
        h.expect(b"200 MLST OPTS Type;Size;\r\n");
        let data = h.pasv();
        h.send(b"MODE S\r\nMLSD\r\n");
        h.expect(b"200 Mode set.\r\n");
        let (_, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::List {
                path: vp("/"),
                format: ListFormat::Mlsd {
                    facts: ftp_proto::server::FactSet::TYPE.union(ftp_proto::server::FactSet::SIZE)
                },
                data,
                params: ftp_proto::server::TransferParams {
                    data_type: DataType::Image,
                    mode: TransferMode::Stream,
                    structure: FileStructure::File
                }
            }
        );
    });
}

#[test]
fn opening_reply_names_the_file_unless_it_holds_control_characters() {
    // (command, the 150 reply)
    let cases: [(&[u8], &[u8]); 2] = [
        (
            b"STOR up/new.bin\r\n",
            b"150 Opening BINARY mode data connection for new.bin.\r\n",
        ),
        // A CR reaches a name as CR NUL (RFC 2640): the reply names the command instead.
        (
            b"RETR a\r\0b\r\n",
            b"150 Opening BINARY mode data connection for RETR.\r\n",
        ),
    ];
    for (command, opening) in cases {
        logged_in(ServerConfig::default(), |h| {
            h.send(b"TYPE I\r\n");
            h.expect(b"200 Switching to Binary mode.\r\n");
            h.pasv();
            h.send(command);
            let (id, _) = h.expect_storage();
            h.storage(id, Ok(StorageResponse::Opened { size: None }));
            h.expect(opening);
        });
    }
}
