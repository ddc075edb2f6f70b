//! Whole scenarios: a `ClientSession` talking to a `ServerSession` over the in-memory pair
//! (simulated clock, data links and store). Each runs with whole and byte-by-byte control
//! chunks, and both runs must produce the same dialogue.

mod pair;

use std::time::Duration;

use bytes::Bytes;
use ftp_proto::client::{
    ClientConfig, ClientEvent, CloseReason, Credentials, DataFailure, DataMode, ListKind, OpError,
    OpOutput, StoreKind, TransferKind, TransferParams,
};
use ftp_proto::server::ServerConfig;
use ftp_proto::transfer::{DataType, FileStructure, FormatControl, TransferMode};
use ftp_proto::Timestamp;
use pair::*;

fn default_pair(chunking: Chunking) -> Pair {
    logged_in(ClientConfig::default(), server_config(), chunking)
}

fn transfer(output: OpOutput) -> ftp_proto::client::TransferOutcome {
    match output {
        OpOutput::Transfer(t) => t,
        other => panic!("not a transfer: {other:?}"),
    }
}

/// Every byte value, CR and LF in odd places, 0xFF runs: what a binary file may hold.
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256) as u8).collect()
}

#[test]
fn client_pair_login_feat_and_utf8() {
    both_ways(
        |c| Pair::new(ClientConfig::default(), server_config(), c),
        |p| {
            let bad = p.op(|c| c.login(Credentials::new("alice", "wrong")).unwrap());
            assert!(matches!(p.err(bad), OpError::Reply(r) if r.code().get() == 530));
            let op = p.op(|c| c.login(Credentials::new("alice", "secret")).unwrap());
            assert!(matches!(p.ok(op), OpOutput::Done(r) if r.code().get() == 230));
            assert!(p.client.is_logged_in());
            let features = p.client.features();
            assert!(features.advertised() && features.has("EPSV") && features.utf8());
            assert!(features.mlst_facts().is_some());
            assert!(p.client.is_utf8());
            p.assert_log_order(&[
                "S> 220 Service ready",
                "C> USER alice",
                "S> 331 User name ok, need password",
                "C> PASS secret",
                "S> 230 User logged in",
                "C> FEAT",
                "C> OPTS UTF8 ON",
                "S> 200 Always in UTF8 mode.",
            ]);
        },
    );
}

#[test]
fn client_pair_anonymous_login_is_read_only() {
    both_ways(
        |c| Pair::new(ClientConfig::default(), server_config(), c),
        |p| {
            p.store.put("/pub.txt", b"public\n");
            let op = p.op(|c| c.login(Credentials::anonymous()).unwrap());
            p.ok(op);
            let get = p.op(|c| c.retrieve("pub.txt", 0).unwrap());
            p.ok(get);
            assert_eq!(p.sink(get), b"public\n");
            let put = p.upload("x", StoreKind::Replace, 0, b"no");
            assert!(matches!(p.err(put), OpError::Reply(r) if r.code().get() == 553));
        },
    );
}

#[test]
fn client_pair_list_mlsd_list_and_nlst() {
    both_ways(default_pair, |p| {
        p.store.put("/a.txt", b"hello");
        p.store.mkdir("/docs");
        let auto = p.op(|c| c.list(None, ListKind::Auto).unwrap());
        let t = transfer(p.ok(auto));
        assert_eq!(t.kind, TransferKind::Mlsd);
        assert_eq!(
            p.sink(auto),
            b"type=file;size=5; a.txt\r\ntype=dir; docs\r\n"
        );
        let list = p.op(|c| c.list(None, ListKind::List).unwrap());
        assert_eq!(transfer(p.ok(list)).kind, TransferKind::List);
        // TYPE A on the wire, LF after the client's decoder.
        let text = String::from_utf8(p.sink(list)).unwrap();
        assert!(
            text.contains(" a.txt\n") && !text.contains('\r'),
            "{text:?}"
        );
        assert!(text.starts_with("-rw-r--r--"), "{text:?}");
        let nlst = p.op(|c| {
            c.list(Some(Bytes::from_static(b"/")), ListKind::Nlst)
                .unwrap()
        });
        p.ok(nlst);
        assert_eq!(p.sink(nlst), b"a.txt\ndocs\n");
        // MLSD on a file: 501, no data moves, the session goes on.
        let bad = p.op(|c| {
            c.list(Some(Bytes::from_static(b"a.txt")), ListKind::Mlsd)
                .unwrap()
        });
        assert!(matches!(p.err(bad), OpError::Reply(r) if r.code().get() == 501));
        let pwd = p.op(|c| c.pwd().unwrap());
        assert_eq!(p.ok(pwd), OpOutput::Path(Bytes::from_static(b"/")));
    });
}

#[test]
fn client_pair_upload_then_download_exact_bytes() {
    both_ways(default_pair, |p| {
        let data = binary(70_000);
        let put = p.upload("bin.dat", StoreKind::Replace, 0, &data);
        let t = transfer(p.ok(put));
        assert_eq!((t.kind, t.bytes), (TransferKind::Store, 70_000));
        assert_eq!(p.store.get("/bin.dat"), Some(&data[..]));
        let get = p.op(|c| c.retrieve("bin.dat", 0).unwrap());
        assert_eq!(transfer(p.ok(get)).bytes, 70_000);
        assert_eq!(p.sink(get), data);
        let size = p.op(|c| c.size("bin.dat").unwrap());
        assert_eq!(p.ok(size), OpOutput::Size(70_000));
        // TYPE I was sent once, before the first transfer, and never again.
        assert_eq!(p.log_of("C> TYPE").len(), 1);
        // Append and store-unique.
        let app = p.upload("bin.dat", StoreKind::Append, 0, b"tail");
        p.ok(app);
        assert!(p.store.get("/bin.dat").unwrap().ends_with(b"tail"));
        let uniq = p.upload("hint.txt", StoreKind::Unique, 0, b"u");
        let t = transfer(p.ok(uniq));
        assert_eq!(t.stored_as.as_deref(), Some(&b"hint.txt"[..]));
        assert_eq!(p.store.get("/hint.txt"), Some(&b"u"[..]));
    });
}

#[test]
fn client_pair_resume_download_and_upload_with_rest() {
    both_ways(default_pair, |p| {
        let data = binary(1000);
        p.store.put("/f", &data);
        let get = p.op(|c| c.retrieve("f", 600).unwrap());
        p.ok(get);
        assert_eq!(p.sink(get), &data[600..]);
        p.assert_log_order(&[
            "C> EPSV",
            "C> REST 600",
            "S> 350 Restarting at 600. Send STORE or RETRIEVE",
            "C> RETR f",
        ]);
        // Resume an upload: the server keeps the first 500 bytes and writes from there.
        p.store.put("/g", &data[..500]);
        let put = p.upload("g", StoreKind::Replace, 500, &data[500..]);
        p.ok(put);
        assert_eq!(p.store.get("/g"), Some(&data[..]));
        // APPE after REST is STOR at the offset (RFC 3659 §5.3).
        let app = p.upload("g", StoreKind::Append, 10, b"xyz");
        p.ok(app);
        assert_eq!(
            p.store.get("/g").unwrap(),
            &[&data[..10], b"xyz"].concat()[..]
        );
    });
}

#[test]
fn client_pair_resume_after_a_refused_transfer_resets_rest() {
    both_ways(default_pair, |p| {
        let get = p.op(|c| c.retrieve("missing", 100).unwrap());
        assert!(matches!(p.err(get), OpError::Reply(r) if r.code().get() == 550));
        p.store.put("/f", b"0123456789");
        let get = p.op(|c| c.retrieve("f", 0).unwrap());
        p.ok(get);
        assert_eq!(p.sink(get), b"0123456789");
        p.assert_log_order(&[
            "C> REST 100",
            "C> RETR missing",
            "S> 550 No such file or directory.",
            "C> REST 0",
            "C> RETR f",
        ]);
    });
}

#[test]
fn client_pair_rename_and_directory_ops() {
    both_ways(default_pair, |p| {
        p.store.put("/old.txt", b"x");
        let mkd = p.op(|c| c.mkdir("dir").unwrap());
        assert_eq!(p.ok(mkd), OpOutput::Path(Bytes::from_static(b"/dir")));
        let ren = p.op(|c| c.rename("old.txt", "dir/new.txt").unwrap());
        p.ok(ren);
        assert!(p.store.get("/old.txt").is_none());
        assert_eq!(p.store.get("/dir/new.txt"), Some(&b"x"[..]));
        let missing = p.op(|c| c.rename("nope", "x").unwrap());
        assert!(matches!(p.err(missing), OpError::Reply(r) if r.code().get() == 550));
        let cwd = p.op(|c| c.cwd("dir").unwrap());
        p.ok(cwd);
        let pwd = p.op(|c| c.pwd().unwrap());
        assert_eq!(p.ok(pwd), OpOutput::Path(Bytes::from_static(b"/dir")));
        let time = Timestamp::parse(b"20240102030405").unwrap();
        let mfmt = p.op(|c| c.set_modified("new.txt", time).unwrap());
        p.ok(mfmt);
        let mdtm = p.op(|c| c.mdtm("new.txt").unwrap());
        assert_eq!(p.ok(mdtm), OpOutput::Modified(time));
        let mlst = p.op(|c| c.mlst(Some(Bytes::from_static(b"new.txt"))).unwrap());
        match p.ok(mlst) {
            OpOutput::Entry { line, .. } => {
                assert!(line.starts_with(b"Type=file;Size=1;"), "{line:?}");
                assert!(line.ends_with(b" /dir/new.txt"), "{line:?}");
            }
            other => panic!("{other:?}"),
        }
        let dele = p.op(|c| c.delete("new.txt").unwrap());
        p.ok(dele);
        let cdup = p.op(|c| c.cdup().unwrap());
        p.ok(cdup);
        let rmd = p.op(|c| c.rmdir("dir").unwrap());
        p.ok(rmd);
        assert!(!p.store.dirs.contains(&b"/dir"[..]));
        let stat = p.op(|c| c.stat(None).unwrap());
        assert!(matches!(p.ok(stat), OpOutput::Reply(r) if r.code().get() == 211));
        let site = p.op(|c| c.raw_line("SITE CHMOD 644 x").unwrap());
        assert!(p.result(site).is_err()); // the store does not do CHMOD
    });
}

#[test]
fn client_pair_abort_mid_transfer_426_then_226() {
    both_ways(default_pair, |p| {
        p.store.put("/big", &binary(4096));
        p.fabric.stall = true;
        let get = p.op(|c| c.retrieve("big", 0).unwrap());
        assert!(p
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::TransferReady { op, .. } if op == &get)));
        assert!(!p.completed(get));
        p.op(|c| c.abort(get).unwrap());
        p.fabric.stall = false;
        p.drive();
        match p.err(get) {
            OpError::Aborted { reply: Some(r) } => assert_eq!(r.code().get(), 426),
            other => panic!("{other:?}"),
        }
        p.assert_log_order(&[
            "C> RETR big",
            "S> 125 Data connection already open; transfer starting.",
            "C> \u{2022}\u{2022}\u{2022}\u{2022}ABOR (urgent)",
            "C: Abort data",
            "S> 426 Connection closed; transfer aborted.",
            "S> 226 Abort successful",
        ]);
        // The session goes on.
        let again = p.op(|c| c.retrieve("big", 0).unwrap());
        p.ok(again);
        assert_eq!(p.sink(again), binary(4096));
    });
}

#[test]
fn client_pair_active_mode_transfers() {
    let active = ClientConfig {
        data_mode: DataMode::Active,
        ..ClientConfig::default()
    };
    both_ways(
        |c| logged_in(active.clone(), server_config(), c),
        |p| {
            let data = binary(3000);
            let put = p.upload("a.bin", StoreKind::Replace, 0, &data);
            p.ok(put);
            let get = p.op(|c| c.retrieve("a.bin", 0).unwrap());
            p.ok(get);
            assert_eq!(p.sink(get), data);
            let list = p.op(|c| c.list(None, ListKind::Nlst).unwrap());
            p.ok(list);
            assert_eq!(p.sink(list), b"a.bin\n");
            p.assert_log_order(&[
                "C: Listen 198.51.100.7 expect 192.0.2.1 tls=false",
                "C> EPRT |1|198.51.100.7|30001|",
                "S> 200 EPRT command successful.",
                "C> STOR a.bin",
                "S: Connect 198.51.100.7:30001 tls=false",
            ]);
            assert!(p.log_of("C> EPSV").is_empty() && p.log_of("C> PASV").is_empty());
        },
    );
}

#[test]
fn client_pair_passive_mode_connects_to_the_control_peer() {
    both_ways(default_pair, |p| {
        p.store.put("/f", b"abc");
        let get = p.op(|c| c.retrieve("f", 0).unwrap());
        p.ok(get);
        p.assert_log_order(&[
            "C> EPSV",
            "S: Listen tls=false",
            "S> 229 Entering Extended Passive Mode (|||30001|)",
            "C: Connect 192.0.2.1:30001 tls=false",
            "C> RETR f",
            "C: Start Download",
        ]);
    });
}

#[test]
fn client_pair_epsv_refused_then_pasv_for_the_session() {
    both_ways(
        |c| {
            let mut p = default_pair(c);
            p.refuse_epsv = true;
            p
        },
        |p| {
            p.store.put("/f", b"abc");
            let first = p.op(|c| c.retrieve("f", 0).unwrap());
            p.ok(first);
            let second = p.op(|c| c.list(None, ListKind::List).unwrap());
            p.ok(second);
            assert_eq!(p.sink(first), b"abc");
            assert_eq!(p.log_of("C> EPSV").len(), 1);
            assert_eq!(p.log_of("C> PASV").len(), 2);
            p.assert_log_order(&[
                "C> EPSV",
                "C> PASV",
                "S> 227 Entering Passive Mode (192,0,2,1,117,49).",
                "C: Connect 192.0.2.1:30001 tls=false",
                "C> RETR f",
            ]);
            assert!(p.client.is_epsv_refused());
        },
    );
}

#[test]
fn client_pair_tls_intents_in_order() {
    both_ways(
        |c| Pair::new(ClientConfig::default(), server_config(), c),
        |p| {
            p.store.put("/secret.txt", b"s3cr3t");
            let auth = p.op(|c| c.auth_tls().unwrap());
            let login = p.op(|c| c.login(Credentials::new("alice", "secret")).unwrap());
            let get = p.op(|c| c.retrieve("secret.txt", 0).unwrap());
            p.ok(auth);
            p.ok(login);
            p.ok(get);
            assert_eq!(p.sink(get), b"s3cr3t");
            assert!(p.client.is_control_protected() && p.client.is_data_protected());
            assert!(p.server.is_control_protected() && p.server.is_data_protected());
            p.assert_log_order(&[
                "C> AUTH TLS",
                "S> 234 Proceed with negotiation.",
                "S: StartTls",
                "C: StartTls",
                "TLS established",
                "C> PBSZ 0",
                "S> 200 PBSZ=0",
                "C> PROT P",
                "S> 200 Protection level set to P.",
                "C> USER alice",
                "C> EPSV",
                "S: Listen tls=true",
                "C: Connect 192.0.2.1:30001 tls=true",
                "C> RETR secret.txt",
            ]);
            // CCC: both sides stop TLS on the control connection; data stays protected.
            let ccc = p.op(|c| c.ccc().unwrap());
            p.ok(ccc);
            p.assert_log_order(&[
                "C> CCC",
                "S> 200 CCC ok, continuing in plaintext.",
                "S: StopTls",
                "C: StopTls",
            ]);
            assert!(p.client.is_data_protected() && !p.client.is_control_protected());
        },
    );
}

#[test]
fn client_pair_implicit_tls_protects_data_at_login() {
    both_ways(
        |c| Pair::with_conn(ClientConfig::default(), server_config(), c, true),
        |p| {
            let login = p.op(|c| c.login(Credentials::new("alice", "secret")).unwrap());
            p.ok(login);
            let list = p.op(|c| c.list(None, ListKind::List).unwrap());
            p.ok(list);
            p.assert_log_order(&[
                "C> USER alice",
                "C> PASS secret",
                "C> PBSZ 0",
                "C> PROT P",
                "C: Connect 192.0.2.1:30001 tls=true",
                "C> LIST",
                "C: Handshake data",
                "C: Start Download",
            ]);
        },
    );
}

#[test]
fn client_pair_server_421_mid_session() {
    both_ways(default_pair, |p| {
        p.store.put("/big", &binary(100));
        p.fabric.stall = true;
        let get = p.op(|c| c.retrieve("big", 0).unwrap());
        let queued = p.op(|c| c.cwd("/").unwrap());
        p.server.shutdown(p.now, "Server going down.");
        p.drive();
        assert!(!p.completed(get));
        // The server lets the transfer run for its grace period, then 426, 421 and close.
        p.fire();
        assert!(matches!(p.err(get), OpError::Reply(r) if r.code().get() == 426));
        match p.err(queued) {
            OpError::ConnectionClosed { reply: Some(r) } => assert_eq!(r.code().get(), 421),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            p.events.last(),
            Some(ClientEvent::Closed {
                reason: CloseReason::ServiceClosing(_)
            })
        ));
        assert!(p.client.is_closed());
        assert_eq!(p.client.poll_timeout(), None);
        assert!(p.op(|c| c.noop()).is_err());
    });
}

#[test]
fn client_pair_server_idle_timeout_and_keepalive() {
    // Without keep-alive the server's idle timer ends the session with 421.
    both_ways(default_pair, |p| {
        p.fire();
        assert!(p.client.is_closed());
        assert!(matches!(
            p.events.last(),
            Some(ClientEvent::Closed {
                reason: CloseReason::ServiceClosing(_)
            })
        ));
    });
    // With a keep-alive NOOP every 100 s the session outlives the server's 300 s idle limit.
    let keepalive = ClientConfig {
        keepalive: Some(Duration::from_secs(100)),
        ..ClientConfig::default()
    };
    both_ways(
        |c| logged_in(keepalive.clone(), server_config(), c),
        |p| {
            for _ in 0..12 {
                p.fire();
            }
            assert!(p.now - p.base >= Duration::from_secs(1000));
            assert!(!p.client.is_closed() && !p.server.is_closed());
            assert!(p.log_of("C> NOOP").len() >= 10);
        },
    );
}

#[test]
fn client_pair_mode_b_and_type_a_transfers() {
    both_ways(default_pair, |p| {
        p.client
            .set_transfer_params(TransferParams {
                data_type: DataType::Ascii(FormatControl::NonPrint),
                mode: TransferMode::Block,
                structure: FileStructure::File,
            })
            .unwrap();
        let text = b"line one\nline two\r\nlast line\n".to_vec();
        let put = p.upload("t.txt", StoreKind::Replace, 0, &text);
        p.ok(put);
        // TYPE A on the wire (CRLF) inside MODE B blocks; the server stores native LF text.
        let wire = p.wire.last().unwrap().clone();
        assert_eq!(&wire[..3], &[0, 0, 31]);
        assert!(wire.windows(2).any(|w| w == b"\r\n"));
        assert_eq!(&wire[wire.len() - 3..], &[0x40, 0, 0]);
        assert_eq!(
            p.store.get("/t.txt"),
            Some(&b"line one\nline two\nlast line\n"[..])
        );
        let get = p.op(|c| c.retrieve("t.txt", 0).unwrap());
        p.ok(get);
        assert_eq!(p.sink(get), b"line one\nline two\nlast line\n");
        // A listing in MODE B, decoded from blocks and from TYPE A.
        let list = p.op(|c| c.list(None, ListKind::Nlst).unwrap());
        p.ok(list);
        assert_eq!(p.sink(list), b"t.txt\n");
        p.assert_log_order(&[
            "C> TYPE A",
            "S> 200 Switching to ASCII mode.",
            "C> MODE B",
            "S> 200 Mode set.",
            "C> EPSV",
            "C> STOR t.txt",
        ]);
        assert_eq!(p.log_of("C> TYPE").len(), 1, "sent once");
        // Back to TYPE I, MODE S: binary bytes survive.
        p.client
            .set_transfer_params(TransferParams {
                data_type: DataType::Image,
                mode: TransferMode::Stream,
                structure: FileStructure::File,
            })
            .unwrap();
        let data = binary(5000);
        let put = p.upload("b.bin", StoreKind::Replace, 0, &data);
        p.ok(put);
        let get = p.op(|c| c.retrieve("b.bin", 0).unwrap());
        p.ok(get);
        assert_eq!(p.sink(get), data);
        p.assert_log_order(&["C> TYPE I", "C> MODE S", "C> STOR b.bin"]);
    });
}

#[test]
fn client_pair_data_end_then_final_reply() {
    both_ways(default_pair, |p| {
        p.store.put("/f", b"abc");
        p.hold_replies_from = Some(b"226");
        let get = p.op(|c| c.retrieve("f", 0).unwrap());
        // The client read the whole stream and closed its end; the 226 is held back.
        assert_eq!(p.sink(get), b"abc");
        assert_eq!(p.log_of("C: Close data").len(), 1);
        assert!(!p.completed(get));
        p.hold_replies_from = None;
        p.drive();
        assert_eq!(transfer(p.ok(get)).bytes, 3);
    });
}

#[test]
fn client_pair_final_reply_then_data_end() {
    both_ways(default_pair, |p| {
        p.store.put("/f", b"abc");
        p.fabric.hold_client_end = true;
        let get = p.op(|c| c.retrieve("f", 0).unwrap());
        // The 226 is in; the client's data end is not: not complete.
        assert_eq!(p.log_of("S> 226").len(), 1);
        assert!(!p.completed(get));
        p.fabric.hold_client_end = false;
        p.drive();
        assert_eq!(transfer(p.ok(get)).bytes, 3);
        assert_eq!(p.sink(get), b"abc");
        // Uploads: the client's data end always comes first (the server answers after EOF).
        let put = p.upload("up", StoreKind::Replace, 0, b"xyz");
        p.ok(put);
        p.assert_log_order(&[
            "C> STOR up",
            "C: Start Upload",
            "C: Close data",
            "S> 226 Transfer complete.",
        ]);
    });
}

#[test]
fn client_pair_refused_data_connection_then_recovery() {
    both_ways(default_pair, |p| {
        p.store.put("/f", b"abc");
        p.fabric.refuse_client_connects = 1;
        let get = p.op(|c| c.retrieve("f", 0).unwrap());
        assert_eq!(p.err(get), OpError::DataConnection(DataFailure::Refused));
        let again = p.op(|c| c.retrieve("f", 0).unwrap());
        p.ok(again);
        assert_eq!(p.sink(again), b"abc");
    });
}

#[test]
fn client_pair_data_connection_dropped_mid_transfer() {
    both_ways(default_pair, |p| {
        p.store.put("/f", &binary(2000));
        p.fabric.drop_next_download = true;
        let get = p.op(|c| c.retrieve("f", 0).unwrap());
        // Both sides saw the reset; the server's 426 is the operation's error.
        assert!(matches!(p.err(get), OpError::Reply(r) if r.code().get() == 426));
        let again = p.op(|c| c.retrieve("f", 0).unwrap());
        p.ok(again);
        assert_eq!(p.sink(again), binary(2000));
    });
}

#[test]
fn client_pair_quit() {
    both_ways(default_pair, |p| {
        let quit = p.op(|c| c.quit().unwrap());
        assert!(matches!(p.ok(quit), OpOutput::Quit(Some(r)) if r.code().get() == 221));
        assert!(p.client.is_closed() && p.server.is_closed());
        assert!(matches!(
            p.events.last(),
            Some(ClientEvent::Closed {
                reason: CloseReason::Quit
            })
        ));
    });
}

#[test]
fn client_pair_host_before_user() {
    let config = ClientConfig {
        host: Some(ftp_proto::command::HostName::Domain(Bytes::from_static(
            b"ftp.example.com",
        ))),
        ..ClientConfig::default()
    };
    let server = ServerConfig {
        hosts: Some(vec!["ftp.example.com".into()]),
        ..server_config()
    };
    both_ways(
        |c| Pair::new(config.clone(), server.clone(), c),
        |p| {
            let login = p.op(|c| c.login(Credentials::new("alice", "secret")).unwrap());
            p.ok(login);
            p.assert_log_order(&[
                "C> HOST ftp.example.com",
                "S> 220 Host accepted",
                "C> USER alice",
            ]);
        },
    );
}
