//! `ClientSession` against reply sequences as real servers send them: vsFTPd 3.0, ProFTPD
//! 1.3, Pure-FTPd 1.0, Microsoft IIS, bftpd and glFTPd (texts from their sources, captures and
//! the behaviours their users report). Each script runs whole, one byte at a time and split at
//! every offset, and asserts the client's exact command bytes and completed operations.

mod client_support;

use bytes::Bytes;
use client_support::*;
use ftp_proto::client::{
    ClientConfig, ClientDataEvent, Credentials, DataMode, ListKind, OpError, OpOutput, StoreKind,
    TransferKind,
};

/// Login with FEAT (and OPTS UTF8 ON when listed), each reply as `replies` gives it.
fn vendor_login(c: &mut C, user_reply: &[u8], pass_reply: &[u8], feat: &[u8], opts: Option<&[u8]>) {
    let op = c.op(|s| s.login(Credentials::new("ftptest", "ftptest")).unwrap());
    c.expect_tx(b"USER ftptest\r\n");
    c.server(user_reply);
    c.expect_tx(b"PASS ftptest\r\n");
    c.server(pass_reply);
    c.expect_tx(b"FEAT\r\n");
    c.server(feat);
    if let Some(reply) = opts {
        c.expect_tx(b"OPTS UTF8 ON\r\n");
        c.server(reply);
    }
    match c.expect_ok(op) {
        OpOutput::Done(reply) => assert!(reply.code().get() == 230),
        other => panic!("{other:?}"),
    }
}

fn transfer_bytes(output: OpOutput) -> (TransferKind, u64) {
    match output {
        OpOutput::Transfer(t) => (t.kind, t.bytes),
        other => panic!("not a transfer: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// vsFTPd 3.0.3

const VSFTPD_FEAT: &[u8] = b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n";

#[test]
fn client_vsftpd_pasv_list_download_upload() {
    let config = ClientConfig {
        epsv: false,
        ..ClientConfig::default()
    };
    script(config, |c| {
        c.server(b"220 (vsFTPd 3.0.3)\r\n");
        c.expect_greeted();
        vendor_login(
            c,
            b"331 Please specify the password.\r\n",
            b"230 Login successful.\r\n",
            VSFTPD_FEAT,
            Some(b"200 Always in UTF8 mode.\r\n"),
        );
        assert!(c.session.features().rest_stream());
        assert!(c.session.features().mlst_facts().is_none());

        // No MLST: LIST.
        let list = c.op(|s| s.list(None, ListKind::Auto).unwrap());
        c.expect_tx(b"PASV\r\n");
        c.server(b"227 Entering Passive Mode (127,0,0,1,117,51).\r\n");
        let id = c.connect("127.0.0.1:30003");
        c.expect_tx(b"LIST\r\n");
        c.server(b"150 Here comes the directory listing.\r\n");
        c.expect_start(id);
        c.server(b"226 Directory send OK.\r\n");
        c.finish_data(id, 62);
        assert_eq!(transfer_bytes(c.expect_ok(list)), (TransferKind::List, 62));

        let size = c.op(|s| s.size("f").unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 Switching to Binary mode.\r\n");
        c.expect_tx(b"SIZE f\r\n");
        c.server(b"213 12\r\n");
        assert_eq!(c.expect_ok(size), OpOutput::Size(12));

        let get = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"PASV\r\n");
        c.server(b"227 Entering Passive Mode (127,0,0,1,117,52).\r\n");
        let id = c.connect("127.0.0.1:30004");
        c.expect_tx(b"RETR f\r\n");
        c.server(b"150 Opening BINARY mode data connection for f (12 bytes).\r\n");
        c.expect_start(id);
        c.finish_data(id, 12);
        c.server(b"226 Transfer complete.\r\n");
        assert_eq!(
            transfer_bytes(c.expect_ok(get)),
            (TransferKind::Retrieve, 12)
        );

        let put = c.op(|s| s.store("up", StoreKind::Replace, 0).unwrap());
        c.expect_tx(b"PASV\r\n");
        c.server(b"227 Entering Passive Mode (127,0,0,1,117,53).\r\n");
        let id = c.connect("127.0.0.1:30005");
        c.expect_tx(b"STOR up\r\n");
        c.server(b"150 Ok to send data.\r\n");
        c.expect_start(id);
        c.finish_data(id, 3);
        c.server(b"226 Transfer complete.\r\n");
        assert_eq!(transfer_bytes(c.expect_ok(put)), (TransferKind::Store, 3));

        let quit = c.op(|s| s.quit().unwrap());
        c.expect_tx(b"QUIT\r\n");
        c.server(b"221 Goodbye.\r\n");
        c.expect_ok(quit);
        c.expect_closed();
    });
}

#[test]
fn client_vsftpd_epsv_active_and_file_ops() {
    script(ClientConfig::default(), |c| {
        c.server(b"220 (vsFTPd 3.0.3)\r\n");
        c.expect_greeted();
        vendor_login(
            c,
            b"331 Please specify the password.\r\n",
            b"230 Login successful.\r\n",
            VSFTPD_FEAT,
            Some(b"200 Always in UTF8 mode.\r\n"),
        );
        let pwd = c.op(|s| s.pwd().unwrap());
        let cwd = c.op(|s| s.cwd("pub").unwrap());
        let mkd = c.op(|s| s.mkdir("new").unwrap());
        let ren = c.op(|s| s.rename("new", "old").unwrap());
        let del = c.op(|s| s.delete("f").unwrap());
        let rmd = c.op(|s| s.rmdir("old").unwrap());
        c.expect_tx(b"PWD\r\n");
        c.server(b"257 \"/\" is the current directory\r\n");
        assert_eq!(c.expect_ok(pwd), OpOutput::Path(Bytes::from_static(b"/")));
        c.expect_tx(b"CWD pub\r\n");
        c.server(b"250 Directory successfully changed.\r\n");
        c.expect_ok(cwd);
        c.expect_tx(b"MKD new\r\n");
        c.server(b"257 \"/pub/new\" created\r\n");
        assert_eq!(
            c.expect_ok(mkd),
            OpOutput::Path(Bytes::from_static(b"/pub/new"))
        );
        c.expect_tx(b"RNFR new\r\n");
        c.server(b"350 Ready for RNTO.\r\n");
        c.expect_tx(b"RNTO old\r\n");
        c.server(b"250 Rename successful.\r\n");
        c.expect_ok(ren);
        c.expect_tx(b"DELE f\r\n");
        c.server(b"550 Delete operation failed.\r\n");
        c.expect_refused(del, 550);
        c.expect_tx(b"RMD old\r\n");
        c.server(b"250 Remove directory operation successful.\r\n");
        c.expect_ok(rmd);

        let list = c.op(|s| s.list(None, ListKind::List).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||30051|)\r\n");
        let id = c.connect("127.0.0.1:30051");
        c.expect_tx(b"LIST\r\n");
        c.server(b"150 Here comes the directory listing.\r\n226 Directory send OK.\r\n");
        c.expect_start(id);
        c.finish_data(id, 0);
        c.expect_ok(list);
    });
    let active = ClientConfig {
        data_mode: DataMode::Active,
        feat: false,
        ..ClientConfig::default()
    };
    script(active, |c| {
        c.server(b"220 (vsFTPd 3.0.3)\r\n");
        c.expect_greeted();
        login(c);
        let list = c.op(|s| s.list(None, ListKind::Nlst).unwrap());
        let id = match c.expect_data() {
            ftp_proto::client::ClientDataIntent::Listen { id, .. } => id,
            other => panic!("{other:?}"),
        };
        c.data(
            id,
            ClientDataEvent::Listening {
                local: "127.0.0.1:41000".parse().unwrap(),
            },
        );
        c.expect_tx(b"EPRT |1|127.0.0.1|41000|\r\n");
        c.server(b"200 EPRT command successful. Consider using EPSV.\r\n");
        c.expect_tx(b"NLST\r\n");
        c.server(b"150 Here comes the directory listing.\r\n");
        c.data(
            id,
            ClientDataEvent::Connected {
                peer: "127.0.0.1:20".parse().unwrap(),
            },
        );
        c.expect_start(id);
        c.server(b"226 Directory send OK.\r\n");
        c.finish_data(id, 4);
        assert_eq!(transfer_bytes(c.expect_ok(list)), (TransferKind::Nlst, 4));
    });
}

#[test]
fn client_vsftpd_abort_and_idle_timeout() {
    script(
        ClientConfig {
            feat: false,
            ..ClientConfig::default()
        },
        |c| {
            c.server(b"220 (vsFTPd 3.0.3)\r\n");
            c.expect_greeted();
            login(c);
            let get = c.op(|s| s.retrieve("big", 0).unwrap());
            c.expect_tx(b"TYPE I\r\n");
            c.server(b"200 Switching to Binary mode.\r\n");
            c.expect_tx(b"EPSV\r\n");
            c.server(b"229 Entering Extended Passive Mode (|||30052|)\r\n");
            let id = c.connect("127.0.0.1:30052");
            c.expect_tx(b"RETR big\r\n");
            c.server(b"150 Opening BINARY mode data connection for big (104857600 bytes).\r\n");
            c.expect_start(id);
            c.op(|s| s.abort(get).unwrap());
            c.expect_urgent(b"\xff\xf4\xff\xf2ABOR\r\n");
            c.expect_abort(id);
            c.server(b"426 Failure writing network stream.\r\n226 ABOR successful.\r\n");
            assert!(
                matches!(c.expect_err(get), OpError::Aborted { reply: Some(r) } if r.code().get() == 426)
            );
            // vsftpd's idle timeout: a 421 and the connection goes.
            let noop = c.op(|s| s.noop().unwrap());
            c.expect_tx(b"NOOP\r\n");
            c.server(b"421 Timeout.\r\n");
            assert!(matches!(
                c.expect_err(noop),
                OpError::ConnectionClosed { reply: Some(_) }
            ));
            c.expect_closed();
        },
    );
}

#[test]
fn client_vsftpd_explicit_tls() {
    script(
        ClientConfig {
            feat: false,
            ..ClientConfig::default()
        },
        |c| {
            c.server(b"220 (vsFTPd 3.0.3)\r\n");
            c.expect_greeted();
            let auth = c.op(|s| s.auth_tls().unwrap());
            c.expect_tx(b"AUTH TLS\r\n");
            c.server(b"234 Proceed with negotiation.\r\n");
            c.expect_out(Out::StartTls);
            c.tls();
            c.expect_tx(b"PBSZ 0\r\n");
            c.server(b"200 PBSZ set to 0.\r\n");
            c.expect_tx(b"PROT P\r\n");
            c.server(b"200 PROT now Private.\r\n");
            c.expect_ok(auth);
            login(c);
        },
    );
}

// ---------------------------------------------------------------------------------------------
// ProFTPD 1.3

const PROFTPD_FEAT: &[u8] = b"211-Features:\r\n AUTH TLS\r\n CCC\r\n CLNT\r\n EPRT\r\n EPSV\r\n HOST\r\n LANG en-US.UTF-8*;en-US\r\n MDTM\r\n MFF modify;UNIX.group;UNIX.mode;\r\n MFMT\r\n MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.groupname*;UNIX.mode*;UNIX.owner*;UNIX.ownername*;\r\n PBSZ\r\n PROT\r\n RANG STREAM\r\n REST STREAM\r\n SIZE\r\n SSCN\r\n TVFS\r\n UTF8\r\n211 End\r\n";

#[test]
fn client_proftpd_multiline_230_feat_mlst_and_mlsd() {
    script(ClientConfig::default(), |c| {
        c.server(b"220 ProFTPD Server (Debian) [::ffff:127.0.0.1]\r\n");
        c.expect_greeted();
        vendor_login(
            c,
            b"331 Password required for ftptest\r\n",
            b"230-Welcome, archive user ftptest@localhost !\r\n230-\r\n230-The local time is: Fri Nov 21 20:00:00 2025\r\n230 User ftptest logged in\r\n",
            PROFTPD_FEAT,
            Some(b"200 UTF8 set to on\r\n"),
        );
        let features = c.session.features();
        assert!(features.has("HOST") && features.has("MFMT"));
        assert_eq!(features.auth_mechanisms(), vec![Bytes::from_static(b"TLS")]);
        assert_eq!(features.mlst_facts().unwrap().len(), 10);

        let list = c.op(|s| {
            s.list(Some(Bytes::from_static(b"pub")), ListKind::Auto)
                .unwrap()
        });
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||30012|)\r\n");
        let id = c.connect("127.0.0.1:30012");
        c.expect_tx(b"MLSD pub\r\n");
        c.server(b"150 Opening BINARY mode data connection for MLSD\r\n");
        c.expect_start(id);
        c.server(b"226 Transfer complete\r\n");
        c.finish_data(id, 300);
        assert_eq!(transfer_bytes(c.expect_ok(list)), (TransferKind::Mlsd, 300));

        let mlst = c.op(|s| s.mlst(Some(Bytes::from_static(b"f"))).unwrap());
        c.expect_tx(b"MLST f\r\n");
        c.server(b"250-Start of list for /f\r\n modify=20251121200000;perm=adfrw;size=5;type=file;unique=FD01U1234;UNIX.group=1000;UNIX.mode=0644;UNIX.owner=1000; /f\r\n250 End of list\r\n");
        match c.expect_ok(mlst) {
            OpOutput::Entry { line, .. } => {
                assert!(line.starts_with(b"modify=") && line.ends_with(b" /f"))
            }
            other => panic!("{other:?}"),
        }
        let mdtm = c.op(|s| s.mdtm("f").unwrap());
        c.expect_tx(b"MDTM f\r\n");
        c.server(b"213 20251121200000\r\n");
        assert!(matches!(c.expect_ok(mdtm), OpOutput::Modified(t) if t.year() == 2025));
        let cdup = c.op(|s| s.cdup().unwrap());
        c.expect_tx(b"CDUP\r\n");
        c.server(b"250 CDUP command successful\r\n");
        c.expect_ok(cdup);
        let size = c.op(|s| s.size("f").unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 Type set to I\r\n");
        c.expect_tx(b"SIZE f\r\n");
        c.server(b"213 5\r\n");
        assert_eq!(c.expect_ok(size), OpOutput::Size(5));
        let get = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||30013|)\r\n");
        let id = c.connect("127.0.0.1:30013");
        c.expect_tx(b"RETR f\r\n");
        c.server(b"150 Opening BINARY mode data connection for f (5 bytes)\r\n");
        c.expect_start(id);
        c.op(|s| s.abort(get).unwrap());
        c.expect_urgent(b"\xff\xf4\xff\xf2ABOR\r\n");
        c.expect_abort(id);
        c.server(b"426 Transfer aborted. Data connection closed\r\n226 Abort successful\r\n");
        assert!(matches!(c.expect_err(get), OpError::Aborted { .. }));
        c.expect_idle();
    });
}

// ---------------------------------------------------------------------------------------------
// Pure-FTPd 1.0.50

#[test]
fn client_pureftpd_multiline_banner_and_utf8_refusal() {
    script(ClientConfig::default(), |c| {
        c.server(b"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n220-You are user number 1 of 50 allowed.\r\n220-Local time is now 20:00. Server port: 2121.\r\n220-This is a private system - No anonymous login\r\n220 You will be disconnected after 15 minutes of inactivity.\r\n");
        match c.expect_event() {
            ftp_proto::client::ClientEvent::Greeted { reply } => assert_eq!(reply.lines().len(), 5),
            other => panic!("{other:?}"),
        }
        vendor_login(
            c,
            b"331 User ftptest OK. Password required\r\n",
            b"230 OK. Current restricted directory is /\r\n",
            b"211-Extensions supported:\r\n EPRT\r\n IDLE\r\n MDTM\r\n SIZE\r\n MFMT\r\n REST STREAM\r\n MLST type*;size*;sizd*;modify*;UNIX.mode*;UNIX.uid*;UNIX.gid*;unique*;\r\n MLSD\r\n PRET\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n UTF8\r\n TVFS\r\n ESTA\r\n PASV\r\n EPSV\r\n ESTP\r\n211 End.\r\n",
            // Quirk 9: UTF8 listed, OPTS UTF8 ON refused. Login still succeeds.
            Some(b"504 Unknown command\r\n"),
        );
        assert!(!c.session.is_utf8());
        let get = c.op(|s| s.retrieve("f", 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 TYPE is now 8-bit binary\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Extended Passive mode OK (|||30013|)\r\n");
        let id = c.connect("127.0.0.1:30013");
        c.expect_tx(b"RETR f\r\n");
        c.server(b"150 Accepted data connection\r\n");
        c.expect_start(id);
        c.server(b"226-File successfully transferred\r\n226 0.000 seconds (measured here), 11.11 Kbytes per second\r\n");
        c.finish_data(id, 12);
        match c.expect_ok(get) {
            OpOutput::Transfer(t) => assert_eq!(t.reply.lines().len(), 2),
            other => panic!("{other:?}"),
        }
        let list = c.op(|s| s.list(None, ListKind::Auto).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Extended Passive mode OK (|||30014|)\r\n");
        let id = c.connect("127.0.0.1:30014");
        c.expect_tx(b"MLSD\r\n");
        c.server(b"150 Accepted data connection\r\n226-Options: -a -l \r\n226 3 matches total\r\n");
        c.expect_start(id);
        c.finish_data(id, 200);
        assert_eq!(transfer_bytes(c.expect_ok(list)), (TransferKind::Mlsd, 200));
        let pwd = c.op(|s| s.pwd().unwrap());
        c.expect_tx(b"PWD\r\n");
        c.server(b"257 \"/\" is your current location\r\n");
        assert_eq!(c.expect_ok(pwd), OpOutput::Path(Bytes::from_static(b"/")));
    });
}

// ---------------------------------------------------------------------------------------------
// Microsoft IIS

#[test]
fn client_iis_125_and_quoted_paths() {
    script(ClientConfig::default(), |c| {
        c.server(b"220 Microsoft FTP Service\r\n");
        c.expect_greeted();
        vendor_login(
            c,
            b"331 Password required\r\n",
            b"230 User logged in.\r\n",
            b"211-Extended features supported:\r\n LANG EN*\r\n UTF8\r\n AUTH TLS;TLS-C;SSL;TLS-P;\r\n PBSZ\r\n PROT C;P;\r\n CCC\r\n HOST\r\n SIZE\r\n MDTM\r\n REST STREAM\r\n211 END\r\n",
            Some(b"200 OPTS UTF8 command successful - UTF8 encoding now ON.\r\n"),
        );
        assert_eq!(c.session.features().auth_mechanisms().len(), 4);
        let pwd = c.op(|s| s.pwd().unwrap());
        c.expect_tx(b"PWD\r\n");
        c.server(b"257 \"/\" is current directory.\r\n");
        assert_eq!(c.expect_ok(pwd), OpOutput::Path(Bytes::from_static(b"/")));
        let mkd = c.op(|s| s.mkdir("a\"b").unwrap());
        c.expect_tx(b"MKD a\"b\r\n");
        c.server(b"257 \"/a\"\"b\" directory created.\r\n");
        assert_eq!(
            c.expect_ok(mkd),
            OpOutput::Path(Bytes::from_static(b"/a\"b"))
        );
        let cwd = c.op(|s| s.cwd("a\"b").unwrap());
        c.expect_tx(b"CWD a\"b\r\n");
        c.server(b"250 CWD command successful.\r\n");
        c.expect_ok(cwd);
        let get = c.op(|s| s.retrieve("report.txt", 0).unwrap());
        c.expect_tx(b"TYPE I\r\n");
        c.server(b"200 Type set to I.\r\n");
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||50123|)\r\n");
        let id = c.connect("127.0.0.1:50123");
        c.expect_tx(b"RETR report.txt\r\n");
        c.server(b"125 Data connection already open; Transfer starting.\r\n");
        c.expect_start(id);
        c.server(b"226 Transfer complete.\r\n");
        c.finish_data(id, 1024);
        assert_eq!(
            transfer_bytes(c.expect_ok(get)),
            (TransferKind::Retrieve, 1024)
        );
        let missing = c.op(|s| s.retrieve("missing.txt", 0).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||50124|)\r\n");
        let id = c.connect("127.0.0.1:50124");
        c.expect_tx(b"RETR missing.txt\r\n");
        c.server(b"550 The system cannot find the file specified. \r\n");
        c.expect_abort(id);
        c.expect_refused(missing, 550);
        let list = c.op(|s| s.list(None, ListKind::Auto).unwrap());
        c.expect_tx(b"EPSV\r\n");
        c.server(b"229 Entering Extended Passive Mode (|||50125|)\r\n");
        let id = c.connect("127.0.0.1:50125");
        c.expect_tx(b"LIST\r\n");
        c.server(
            b"125 Data connection already open; Transfer starting.\r\n226 Transfer complete.\r\n",
        );
        c.expect_start(id);
        c.finish_data(id, 51);
        assert_eq!(transfer_bytes(c.expect_ok(list)), (TransferKind::List, 51));
    });
}

// ---------------------------------------------------------------------------------------------
// bftpd and glFTPd

#[test]
fn client_bftpd_200_where_250_is_due() {
    script(
        ClientConfig {
            feat: false,
            ..ClientConfig::default()
        },
        |c| {
            c.server(b"220 bftpd 5.7 at 127.0.0.1 ready.\r\n");
            c.expect_greeted();
            let op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
            c.expect_tx(b"USER u\r\n");
            c.server(b"331 Password please.\r\n");
            c.expect_tx(b"PASS p\r\n");
            c.server(b"230 User logged in.\r\n");
            c.expect_ok(op);
            let cwd = c.op(|s| s.cwd("dir").unwrap());
            let cdup = c.op(|s| s.cdup().unwrap());
            let dele = c.op(|s| s.delete("f").unwrap());
            let ren = c.op(|s| s.rename("a", "b").unwrap());
            c.expect_tx(b"CWD dir\r\n");
            c.server(b"200 OK\r\n");
            c.expect_ok(cwd);
            c.expect_tx(b"CDUP\r\n");
            c.server(b"200 OK\r\n");
            c.expect_ok(cdup);
            c.expect_tx(b"DELE f\r\n");
            c.server(b"200 OK\r\n");
            c.expect_ok(dele);
            c.expect_tx(b"RNFR a\r\n");
            c.server(b"350 File exists, ready for destination name.\r\n");
            c.expect_tx(b"RNTO b\r\n");
            c.server(b"200 OK\r\n");
            c.expect_ok(ren);
        },
    );
}

#[test]
fn client_glftpd_mismatched_final_code_and_odd_multiline() {
    script(
        ClientConfig {
            feat: false,
            ..ClientConfig::default()
        },
        |c| {
            c.server(b"220 glFTPd 2.11a+ (Oct 31 2020) 64BiT ready.\r\n");
            c.expect_greeted();
            let op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
            c.expect_tx(b"USER u\r\n");
            c.server(b"331 Password required for u.\r\n");
            c.expect_tx(b"PASS p\r\n");
            // RFC 959's own example shape: inner lines starting with digits, padded.
            c.server(b"230-Welcome\r\n  230 is not the end\r\n230-neither is this\r\n230 User u logged in.\r\n");
            c.expect_ok(op);
            // glFTPd ends a 553- multi-line warning with the transfer's 150.
            let put = c.op(|s| s.store("up.rar", StoreKind::Replace, 0).unwrap());
            c.expect_tx(b"TYPE I\r\n");
            c.server(b"200 Type set to I.\r\n");
            c.expect_tx(b"EPSV\r\n");
            c.server(b"229 Entering Extended Passive Mode (|||40000|)\r\n");
            let id = c.connect("127.0.0.1:40000");
            c.expect_tx(b"STOR up.rar\r\n");
            c.server(b"553-Warning: dupe check\r\n553- up.rar was uploaded before\r\n150 Opening BINARY mode data connection for up.rar.\r\n");
            c.expect_start(id);
            c.finish_data(id, 10);
            c.server(b"226- [Ul: 10 bytes] [Dl: 0 bytes]\r\n226 Transfer complete.\r\n");
            assert_eq!(transfer_bytes(c.expect_ok(put)), (TransferKind::Store, 10));
            // Bare-LF replies are read too.
            let cwd = c.op(|s| s.cwd("x").unwrap());
            c.expect_tx(b"CWD x\r\n");
            c.server(b"250-Directory info\n250 CWD command successful.\n");
            c.expect_ok(cwd);
        },
    );
}

#[test]
fn client_server_without_epsv_or_feat() {
    // ftpd-ssl style: FEAT unknown (500), EPSV unknown: PASV, remembered.
    script(ClientConfig::default(), |c| {
        c.server(b"220 localhost FTP server (Version 6.4/OpenBSD/Linux-ftpd-0.17) ready.\r\n");
        c.expect_greeted();
        let op = c.op(|s| s.login(Credentials::new("u", "p")).unwrap());
        c.expect_tx(b"USER u\r\n");
        c.server(b"331 Password required for u.\r\n");
        c.expect_tx(b"PASS p\r\n");
        c.server(b"230- Linux motd line one\r\n230- line two\r\n230 User u logged in.\r\n");
        c.expect_tx(b"FEAT\r\n");
        c.server(b"500 'FEAT': command not understood.\r\n");
        c.expect_ok(op);
        assert!(!c.session.features().advertised());
        for n in 0..2u16 {
            let list = c.op(|s| s.list(None, ListKind::Auto).unwrap());
            if n == 0 {
                c.expect_tx(b"EPSV\r\n");
                c.server(b"500 'EPSV': command not understood.\r\n");
            }
            c.expect_tx(b"PASV\r\n");
            let port = 30000 + n;
            let [p1, p2] = port.to_be_bytes();
            c.server(format!("227 Entering Passive Mode (192,168,1,2,{p1},{p2})\r\n").as_bytes());
            let id = c.connect(&format!("127.0.0.1:{port}"));
            c.expect_tx(b"LIST\r\n");
            c.server(b"150 Opening ASCII mode data connection for '/bin/ls'.\r\n");
            c.expect_start(id);
            c.finish_data(id, 9);
            c.server(b"226 Transfer complete.\r\n");
            assert_eq!(transfer_bytes(c.expect_ok(list)), (TransferKind::List, 9));
        }
    });
}
