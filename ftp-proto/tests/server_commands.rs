//! Directory, metadata, management and information commands: CWD/CDUP/PWD, path resolution,
//! MKD/RMD/DELE/RNFR/RNTO, SIZE/MDTM/MLST/MFMT, HASH/RANG, SITE, SYST/HELP/FEAT/STAT/OPTS,
//! TYPE/MODE/STRU/REST, the deliberately unimplemented commands, and storage-error mapping.

mod server_support;

use std::time::Duration;

use bytes::Bytes;
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{
    FileKind, HashAlgorithm, HashValue, Metadata, ServerConfig, StorageError, StorageErrorKind,
    StorageRequest, StorageResponse, StoreMode, TlsPolicy,
};
use ftp_proto::transfer::{DataType, FormatControl};
use ftp_proto::Timestamp;
use server_support::*;

#[test]
fn cwd_checks_the_directory_and_pwd_reports_it() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"CWD pub\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Metadata { path: vp("/pub") });
        h.storage(id, Ok(meta(FileKind::Dir)));
        h.expect(b"250 Directory successfully changed.\r\n");
        h.send(b"XPWD\r\n");
        h.expect(b"257 \"/pub\" is current directory.\r\n");
        h.send(b"CWD file.txt\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::File)));
        h.expect(b"550 Not a directory.\r\n");
        h.send(b"CWD nope\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::NotFound);
        h.expect(b"550 No such file or directory.\r\n");
        // A folder whose `perm` fact lacks `e` can't be entered (a mode-000 folder on disk).
        h.send(b"CWD locked\r\n");
        let (id, _) = h.expect_storage();
        let mut locked = Metadata::new(FileKind::Dir);
        locked.perm = Some("cdflmp".into());
        h.storage(id, Ok(StorageResponse::Metadata(locked)));
        h.expect(b"550 Permission denied.\r\n");
        assert_eq!(h.session.cwd(), &vp("/pub"));
    });
}

#[test]
fn cdup_and_cwd_to_root_need_no_storage() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"CWD a/b\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Metadata { path: vp("/a/b") });
        h.storage(id, Ok(meta(FileKind::Dir)));
        h.expect(b"250 Directory successfully changed.\r\n");
        h.send(b"CDUP\r\nPWD\r\nXCUP\r\nCDUP\r\nPWD\r\n");
        h.expect(b"250 Directory successfully changed.\r\n257 \"/a\" is current directory.\r\n");
        h.expect(b"250 Directory successfully changed.\r\n250 Directory successfully changed.\r\n");
        h.expect(b"257 \"/\" is current directory.\r\n");
        h.send(b"CWD ../../..\r\nCWD /\r\n");
        h.expect(b"250 Directory successfully changed.\r\n250 Directory successfully changed.\r\n");
        h.expect_idle();
    });
}

#[test]
fn pwd_doubles_quotes_in_the_path() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"CWD my \"dir\"\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::Dir)));
        h.expect(b"250 Directory successfully changed.\r\n");
        h.send(b"PWD\r\n");
        h.expect(b"257 \"/my \"\"dir\"\"\" is current directory.\r\n");
    });
}

#[test]
fn no_argument_names_anything_above_the_root() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"CWD /pub/x\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::Dir)));
        h.expect(b"250 Directory successfully changed.\r\n");
        let cases: &[(&[u8], &str)] = &[
            (b"../../../../etc/passwd", "/etc/passwd"),
            (b"..//..//../x", "/x"),
            (b"./../../y/./z/..", "/y"),
            (b"/../..", "/"),
            (b"a/../../../../..", "/"),
            (b"..\\..\\win", "/pub/x/..\\..\\win"),
        ];
        for (arg, want) in cases {
            h.send(&[&b"DELE "[..], arg, b"\r\n"].concat());
            let (id, request) = h.expect_storage();
            assert_eq!(request, StorageRequest::Delete { path: vp(want) });
            h.storage(id, Ok(StorageResponse::Done));
            h.expect(b"250 File deleted.\r\n");
        }
    });
}

#[test]
fn a_nul_in_a_path_is_501() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"DELE a\x00b\r\n");
        h.expect(b"501 Invalid pathname.\r\n");
        h.expect_idle();
    });
}

#[test]
fn names_are_bytes() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"MKD caf\xe9\r\n");
        let (id, request) = h.expect_storage();
        let path = VirtualPath::root().resolve(b"/caf\xe9").unwrap();
        assert_eq!(request, StorageRequest::MakeDir { path });
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"257 \"/caf\xe9\" created\r\n");
    });
}

#[test]
fn mkd_rmd_dele_and_their_errors() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"XMKD d\"q\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::MakeDir { path: vp("/d\"q") });
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"257 \"/d\"\"q\" created\r\n");
        h.send(b"MKD d\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::AlreadyExists);
        h.expect(b"550 File exists.\r\n");
        h.send(b"RMD d\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::RemoveDir { path: vp("/d") });
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"250 Directory removed.\r\n");
        h.send(b"DELE f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(
            id,
            Err(StorageError::with_message(
                StorageErrorKind::PermissionDenied,
                "No\r\nway",
            )),
        );
        h.expect(b"550 No  way\r\n");
        h.send(b"DELE f\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::Busy);
        h.expect(b"450 File unavailable, try again later.\r\n");
        h.send(b"MKD x\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::InvalidName);
        h.expect(b"553 File name not allowed.\r\n");
        h.send(b"MKD x\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::Unsupported);
        h.expect(b"502 Command not implemented.\r\n");
    });
}

#[test]
fn rename_sequence_rules() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"RNFR missing\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::NotFound);
        h.expect(b"550 No such file or directory.\r\n");
        h.send(b"RNTO b\r\n");
        h.expect(b"503 RNFR required first.\r\n");
        // Any other command between RNFR and RNTO cancels the rename.
        h.send(b"RNFR a\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::File)));
        h.expect(b"350 Ready for RNTO.\r\n");
        h.send(b"NOOP\r\nRNTO b\r\n");
        h.expect(b"200 NOOP ok.\r\n503 RNFR required first.\r\n");
        h.send(b"RNFR a\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::File)));
        h.expect(b"350 Ready for RNTO.\r\n");
        h.send(b"RNTO exists\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::AlreadyExists);
        h.expect(b"553 File name not allowed.\r\n");
    });
}

/// RFC 3659 §4's example: a 112-line, 1830-octet file is 1830 under TYPE I and 1942 under
/// TYPE A, which storage counts (files up to `ascii_size_limit`); other modes get 550.
#[test]
fn size_is_exact_in_type_a_and_type_i() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"SIZE f\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Metadata { path: vp("/f") });
        h.storage(id, Ok(file_meta(1830)));
        let (id, request) = h.expect_storage();
        let StorageRequest::TransferSize { path, params, max } = request else {
            panic!("{request:?}")
        };
        assert_eq!((path, max), (vp("/f"), 1830));
        assert_eq!(params.data_type, DataType::Ascii(FormatControl::NonPrint));
        h.storage(id, Ok(StorageResponse::TransferSize(1942)));
        h.expect(b"213 1942\r\n");
        h.expect_idle();
        h.send(b"SIZE big\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(file_meta((16 << 20) + 1)));
        h.expect(b"550 SIZE in TYPE A counts files up to 16777216 bytes; TYPE I gives this one's size.\r\n");
        h.send(b"SIZE d\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::Dir)));
        h.expect(b"550 Not a plain file.\r\n");
        // The count fails: the file went, grew past the size checked, or storage cannot
        // count (550, not 502: SIZE itself is implemented); or storage answers the wrong thing.
        let failures: [(Result<StorageResponse, StorageError>, &[u8]); 4] = [
            (
                Err(StorageError::new(StorageErrorKind::NotFound)),
                b"550 No such file or directory.\r\n",
            ),
            (
                Err(StorageError::new(StorageErrorKind::Transient)),
                b"450 File unavailable, try again later.\r\n",
            ),
            (
                Err(StorageError::new(StorageErrorKind::Unsupported)),
                b"550 SIZE is not counted in TYPE A here; TYPE I gives the size.\r\n",
            ),
            (
                Ok(file_meta(10)),
                b"451 Unexpected answer from storage.\r\n",
            ),
        ];
        for (answer, reply) in failures {
            h.send(b"SIZE gone\r\n");
            let (id, _) = h.expect_storage();
            h.storage(id, Ok(file_meta(10)));
            let (id, _) = h.expect_storage();
            h.storage(id, answer);
            h.expect(reply);
        }
        // At the limit is counted.
        h.send(b"SIZE edge\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(file_meta(16 << 20)));
        let (id, request) = h.expect_storage();
        assert!(matches!(request, StorageRequest::TransferSize { max, .. } if max == 16 << 20));
        h.storage(id, Ok(StorageResponse::TransferSize(17 << 20)));
        h.expect(b"213 17825792\r\n");
        h.send(b"STRU R\r\nSIZE f\r\nSTRU F\r\n");
        h.expect(b"200 Structure set.\r\n550 SIZE is only available in MODE S, STRU F.\r\n200 Structure set.\r\n");
        h.send(b"TYPE I\r\nSIZE f\r\n");
        h.expect(b"200 Switching to Binary mode.\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Metadata { path: vp("/f") });
        h.storage(id, Ok(file_meta(1830)));
        h.expect(b"213 1830\r\n");
        h.send(b"SIZE d\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::Dir)));
        h.expect(b"550 Not a plain file.\r\n");
    });
}

/// With `ascii_size_limit` 0 nothing is counted: SIZE in TYPE A is refused without storage.
#[test]
fn size_in_type_a_can_be_turned_off() {
    let config = ServerConfig {
        ascii_size_limit: 0,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"SIZE f\r\n");
        h.expect(b"550 SIZE is only available in TYPE I.\r\n");
        h.expect_idle();
    });
}

#[test]
fn mdtm_queries_the_whole_argument() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"MDTM 19990929043300 File6\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::Metadata {
                path: vp("/19990929043300 File6")
            }
        );
        let mut m = Metadata::new(FileKind::File);
        m.modified = Some(Timestamp::parse(b"19980615100045.014").unwrap());
        h.storage(id, Ok(StorageResponse::Metadata(m)));
        h.expect(b"213 19980615100045.014\r\n");
        h.send(b"MDTM g\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::File)));
        h.expect(b"550 Modification time not available.\r\n");
    });
}

#[test]
fn mlst_writes_every_selected_fact_the_back_end_knows() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"OPTS MLST type;size;modify;create;perm;unique;unix.mode;\r\n");
        h.expect(b"200 MLST OPTS Type;Size;Modify;Create;Perm;Unique;UNIX.mode;\r\n");
        h.send(b"MLST\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Metadata { path: vp("/") });
        let mut m = Metadata::new(FileKind::File);
        m.size = Some(25730);
        m.modified = Some(Timestamp::parse(b"19940728095854").unwrap());
        m.created = Some(Timestamp::parse(b"19940728095853").unwrap());
        m.perm = Some("adfrw".into());
        m.unique = Some("ab;c d".into());
        m.unix_mode = Some(0o100644);
        h.storage(id, Ok(StorageResponse::Metadata(m)));
        h.expect(
            b"250- Listing /\r\n Type=file;Size=25730;Modify=19940728095854;Create=19940728095853;\
Unique=abcd;Perm=adfrw;UNIX.mode=0644; /\r\n250 End\r\n",
        );
        h.send(b"MLST link\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::Symlink)));
        h.expect(b"250- Listing link\r\n Type=OS.unix=slink; /link\r\n250 End\r\n");
        h.send(b"MLST gone\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::NotFound);
        h.expect(b"550 No such file or directory.\r\n");
        // A CR reaches a path as CR NUL (RFC 2640); it cannot go into the entry line.
        h.send(b"MLST a\r\0b\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Metadata { path: vp("/a\rb") });
        h.storage(id, Ok(meta(FileKind::File)));
        h.expect(b"550 Name cannot be shown in an MLST reply.\r\n");
    });
}

#[test]
fn mfmt_can_be_disabled() {
    let config = ServerConfig {
        mfmt: false,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"MFMT 20020717210715 f\r\n");
        h.expect(b"502 MFMT is not available.\r\n");
        h.send(b"FEAT\r\n");
        let feat = h.transmitted();
        assert!(!String::from_utf8_lossy(&feat).contains(" MFMT\r\n"));
    });
}

fn hash_config() -> ServerConfig {
    ServerConfig {
        hash_algorithms: vec![HashAlgorithm::Sha256, HashAlgorithm::Sha1],
        ..ServerConfig::default()
    }
}

#[test]
fn hash_asks_storage_and_formats_the_draft_reply() {
    logged_in(hash_config(), |h| {
        h.send(b"OPTS HASH\r\n");
        h.expect(b"200 SHA-256\r\n");
        h.send(b"RANG 0 49\r\n");
        h.expect(b"350 Range set to 0-49; send HASH.\r\n");
        h.send(b"HASH filename.ext\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::Hash {
                path: vp("/filename.ext"),
                algorithm: HashAlgorithm::Sha256,
                range: Some((0, 49))
            }
        );
        h.storage(
            id,
            Ok(StorageResponse::Hash(HashValue {
                algorithm: HashAlgorithm::Sha256,
                start: 0,
                end: 49,
                hex: "169cd22282da7f147cb491e559e9dd".into(),
            })),
        );
        h.expect(b"213 SHA-256 0-49 169cd22282da7f147cb491e559e9dd filename.ext\r\n");
        h.send(b"OPTS HASH sha-1\r\nOPTS HASH MD5\r\nOPTS HASH\r\n");
        h.expect(b"200 SHA-1\r\n501 Unknown hash algorithm.\r\n200 SHA-1\r\n");
        h.send(b"HASH dir\r\n");
        let (id, request) = h.expect_storage();
        assert!(matches!(
            request,
            StorageRequest::Hash {
                algorithm: HashAlgorithm::Sha1,
                ..
            }
        ));
        h.storage_err(id, StorageErrorKind::IsADirectory);
        h.expect(b"553 Is a directory.\r\n");
    });
}

#[test]
fn hash_and_rang_are_502_without_algorithms() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"HASH f\r\nRANG 1 0\r\nOPTS HASH\r\n");
        h.expect(b"502 HASH is not available.\r\n502 RANG is only available with HASH.\r\n");
        h.expect(b"502 HASH not available.\r\n");
    });
}

#[test]
fn site_help_chmod_and_application_commands() {
    let config = ServerConfig {
        site_commands: vec!["WHO".into()],
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"SITE HELP\r\n");
        h.expect(b"214 HELP CHMOD WHO\r\n");
        h.send(b"SITE CHMOD 755 run.sh\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::Chmod {
                path: vp("/run.sh"),
                mode: 0o755
            }
        );
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"200 SITE CHMOD command ok.\r\n");
        h.send(b"SITE CHMOD 9 x\r\nSITE CHMOD 755\r\nSITE chmod 77777 x\r\n");
        for _ in 0..3 {
            h.expect(b"501 Usage: SITE CHMOD <mode> <path>.\r\n");
        }
        h.send(b"SITE CHMOD 644 gone\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::NotFound);
        h.expect(b"550 No such file or directory.\r\n");
        h.send(b"SITE EXEC rm -rf /\r\n");
        h.expect(b"500 Unknown SITE command.\r\n");
        h.send(b"site who  am i\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::Site {
                command: bytes(b"WHO"),
                arg: Some(bytes(b" am i")),
                cwd: vp("/")
            }
        );
        h.storage(
            id,
            Ok(StorageResponse::SiteReply {
                message: "alice\nbob\r".into(),
            }),
        );
        h.expect(b"200-alice\r\n200 bob \r\n");
        h.send(b"SITE WHO\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"200 SITE command successful.\r\n");
    });
}

#[test]
fn syst_help_and_stat() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"SYST\r\n");
        h.expect(b"215 UNIX Type: L8\r\n");
        h.send(b"HELP\r\n");
        h.expect(b"214-The following commands are recognized.\r\n");
        // Without TLS and HASH, AUTH, PBSZ, PROT, CCC, HASH and RANG are not offered.
        h.expect(b" ABOR  ACCT  ALLO  APPE  CDUP  CLNT  CWD   DELE  EPRT  EPSV  FEAT  HELP\r\n");
        h.expect(b" HOST  LANG  LIST  LPRT  LPSV  MDTM  MFMT  MKD   MLSD  MLST  MODE  NLST\r\n");
        h.expect(b" NOOP  OPTS  PASS  PASV  PORT  PWD   QUIT  REIN  REST  RETR  RMD   RNFR\r\n");
        h.expect(b" RNTO  SITE  SIZE  STAT  STOR  STOU  STRU  SYST  TYPE  USER  XCUP  XCWD\r\n");
        h.expect(b" XMKD  XPWD  XRMD\r\n214 Help OK.\r\n");
        h.send(b"HELP retr\r\nHELP SMNT\r\nHELP hash\r\n");
        h.expect(b"214 Command RETR is recognized.\r\n502 Unknown or unimplemented command.\r\n");
        h.expect(b"502 Unknown or unimplemented command.\r\n");
        h.send(b"STAT\r\n");
        h.expect(
            b"211-FTP server status:\r\n Connected to 198.51.100.7\r\n Logged in as alice\r\n",
        );
        h.expect(b" TYPE: ASCII; MODE: Stream; STRU: File\r\n Data connection: none\r\n");
        h.expect(b" Control connection: plaintext\r\n211 End of status\r\n");
    });
}

/// STAT with a pathname (RFC 959 §4.1.3): the LIST lines over the control connection, 212
/// for a directory and 213 for a file; a line that starts with a digit is indented by a
/// space (so it cannot end the reply), a CR or LF inside one is shown as `?`, and a missing
/// path is 550.
#[test]
fn stat_with_a_pathname_lists_over_the_control_connection() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"STAT pub\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(
            request,
            StorageRequest::StatusListing {
                path: VirtualPath::root().resolve(b"/pub").unwrap()
            }
        );
        let lines = vec![
            Bytes::from_static(b"drwxr-xr-x 1 ftp ftp 4096 May 17  2020 docs"),
            Bytes::from_static(b"-rw-r--r-- 1 ftp ftp 12 May 17  2020 two\r\nlines"),
            Bytes::from_static(b"213 looks like an end"),
        ];
        h.storage(
            id,
            Ok(StorageResponse::Listing {
                lines,
                directory: true,
            }),
        );
        h.expect(b"212-Status of pub:\r\ndrwxr-xr-x 1 ftp ftp 4096 May 17  2020 docs\r\n");
        h.expect(b"-rw-r--r-- 1 ftp ftp 12 May 17  2020 two??lines\r\n 213 looks like an end\r\n");
        h.expect(b"212 End of status.\r\n");
        h.send(b"STAT pub/readme\r\n");
        let (id, _) = h.expect_storage();
        let lines = vec![Bytes::from_static(
            b"-rw-r--r-- 1 ftp ftp 5 May 17  2020 readme",
        )];
        h.storage(
            id,
            Ok(StorageResponse::Listing {
                lines,
                directory: false,
            }),
        );
        h.expect(b"213-Status of pub/readme:\r\n-rw-r--r-- 1 ftp ftp 5 May 17  2020 readme\r\n");
        h.expect(b"213 End of status.\r\n");
        h.send(b"STAT missing\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Err(StorageError::new(StorageErrorKind::NotFound)));
        h.expect_code(550);
    });
}

#[test]
fn feat_lists_exactly_what_is_enabled() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"FEAT\r\n");
        h.expect(
            b"211-Features:\r\n EPRT\r\n EPSV\r\n HOST\r\n LANG EN*\r\n MDTM\r\n MFMT\r\n \
MLST Type*;Size*;Modify*;Create;Perm*;Unique*;UNIX.mode;\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n",
        );
    });
    let config = ServerConfig {
        tls: TlsPolicy {
            enabled: true,
            ..TlsPolicy::default()
        },
        active_mode: false,
        block_mode: true,
        compressed_mode: true,
        mfmt: false,
        ..hash_config()
    };
    greeted(config, |h| {
        h.send(b"FEAT\r\n");
        h.expect(
            b"211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n EPSV\r\n HASH SHA-256*;SHA-1\r\n HOST\r\n \
LANG EN*\r\n MDTM\r\n MLST Type*;Size*;Modify*;Create;Perm*;Unique*;UNIX.mode;\r\n MODE S;B;C\r\n \
REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n",
        );
    });
}

#[test]
fn opts_variants() {
    greeted(ServerConfig::default(), |h| {
        h.send(b"OPTS UTF8 ON\r\nOPTS UTF8\r\nOPTS UTF8 OFF\r\nOPTS FOO bar\r\nOPTS\r\n");
        h.expect(b"200 Always in UTF8 mode.\r\n200 Always in UTF8 mode.\r\n");
        h.expect(b"200 UTF8 off; names are still passed through as bytes.\r\n");
        h.expect(b"501 Option not understood.\r\n501 Argument required.\r\n");
    });
}

#[test]
fn mode_and_stru() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"MODE S\r\nMODE B\r\nMODE C\r\nMODE Z\r\nMODE Q\r\n");
        h.expect(b"200 Mode set.\r\n504 Mode not supported.\r\n504 Mode not supported.\r\n");
        h.expect(
            b"504 Parameter not implemented.\r\n501 Syntax error in parameters or arguments.\r\n",
        );
        h.send(b"STRU F\r\nSTRU R\r\nSTRU P\r\n");
        h.expect(b"200 Structure set.\r\n200 Structure set.\r\n504 Structure not supported.\r\n");
    });
    let config = ServerConfig {
        record_structure: false,
        ..ServerConfig::default()
    };
    logged_in(config, |h| {
        h.send(b"STRU R\r\n");
        h.expect(b"504 Structure not supported.\r\n");
    });
}

/// `RETR f` asks storage for the file from offset 0 (no restart marker pending); storage
/// answers that it is not there.
#[track_caller]
fn retr_from_the_start(h: &mut H) {
    h.send(b"RETR f\r\n");
    let (id, request) = h.expect_storage();
    assert!(
        matches!(request, StorageRequest::Retrieve { offset: 0, .. }),
        "{request:?}"
    );
    h.storage_err(id, StorageErrorKind::NotFound);
    h.expect(b"550 No such file or directory.\r\n");
}

#[test]
fn rest_is_kept_until_the_next_transfer_command_and_cleared_by_rest_0() {
    logged_in(ServerConfig::default(), |h| {
        // REST before PASV: the STOR after them resumes (vsftpd and ProFTPD do the same).
        h.send(b"REST 100\r\n");
        h.expect(b"350 Restarting at 100. Send STORE or RETRIEVE\r\n");
        let data = h.pasv();
        h.send(b"NOOP\r\nSTOR f\r\n");
        h.expect(b"200 NOOP ok.\r\n");
        let (id, request) = h.expect_storage();
        assert!(
            matches!(request, StorageRequest::Store { offset: 100, data: d, .. } if d == data),
            "{request:?}"
        );
        h.storage_err(id, StorageErrorKind::NotFound);
        h.expect(b"553 No such directory.\r\n");
        // The transfer command took it, even though it failed.
        retr_from_the_start(h);
        // A listing takes it too, and drops it.
        h.send(b"REST 100\r\nLIST\r\n");
        h.expect(b"350 Restarting at 100. Send STORE or RETRIEVE\r\n");
        let (id, _) = h.expect_storage();
        h.storage_err(id, StorageErrorKind::NotFound);
        h.expect(b"550 No such file or directory.\r\n");
        retr_from_the_start(h);
        h.send(b"REST 100\r\nREST 0\r\nRETR f\r\n");
        h.expect(b"350 Restarting at 100. Send STORE or RETRIEVE\r\n");
        h.expect(b"350 Restarting at 0. Send STORE or RETRIEVE\r\n");
        let (id, request) = h.expect_storage();
        assert!(
            matches!(request, StorageRequest::Retrieve { offset: 0, data: d, .. } if d == data)
        );
        h.storage_err(id, StorageErrorKind::InvalidOffset);
        h.expect(b"554 Invalid REST parameter.\r\n");
        h.send(b"REST 7\r\nAPPE f\r\n");
        h.expect(b"350 Restarting at 7. Send STORE or RETRIEVE\r\n");
        let (_, request) = h.expect_storage();
        assert!(
            matches!(
                request,
                StorageRequest::Store {
                    offset: 7,
                    mode: StoreMode::Create,
                    ..
                }
            ),
            "APPE after REST is STOR at the offset: {request:?}"
        );
    });
}

#[test]
fn deliberately_unimplemented_commands() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"SMNT /x\r\nMFCT 20020717210715 f\r\nMFF Modify=20020717210715; f\r\n");
        h.expect(b"502 SMNT is not implemented.\r\n502 MFCT is not implemented.\r\n");
        h.expect(b"502 MFF is not implemented; use MFMT.\r\n");
        h.send(b"MIC eA==\r\nCONF eA==\r\nENC eA==\r\n");
        for _ in 0..3 {
            h.expect(b"502 RFC 2228 protected commands are not used with TLS.\r\n");
        }
        h.send(b"ADAT eA==\r\nAUTH TLS\r\n");
        h.expect(b"503 No security exchange in progress.\r\n502 TLS is not available.\r\n");
        h.send(b"CLNT x\r\n");
        h.expect(b"200 Noted.\r\n");
    });
}

#[test]
fn stale_storage_results_are_ignored_and_requests_time_out() {
    logged_in(ServerConfig::default(), |h| {
        h.storage(
            ftp_proto::server::StorageOpId::from_raw(12345),
            Ok(StorageResponse::Done),
        );
        h.expect_idle();
        h.send(b"DELE f\r\nNOOP\r\n");
        let (id, _) = h.expect_storage();
        h.expect_idle();
        assert_eq!(h.until_deadline(), Some(Duration::from_secs(120)));
        h.fire();
        h.expect(b"451 Storage request timed out.\r\n200 NOOP ok.\r\n");
        h.storage(id, Ok(StorageResponse::Done));
        h.expect_idle();
    });
}

#[test]
fn an_unexpected_storage_answer_is_451() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"DELE f\r\n");
        let (id, _) = h.expect_storage();
        h.storage(id, Ok(meta(FileKind::File)));
        h.expect(b"451 Unexpected answer from storage.\r\n");
    });
}

#[test]
fn storage_errors_map_per_command() {
    use StorageErrorKind as K;
    // (command, error, reply)
    let cases: &[(&[u8], K, &[u8])] = &[
        (
            b"MKD x",
            K::QuotaExceeded,
            b"552 Exceeded storage allocation.\r\n",
        ),
        (
            b"MKD x",
            K::InsufficientStorage,
            b"452 Insufficient storage space.\r\n",
        ),
        (b"DELE x", K::IsADirectory, b"550 Is a directory.\r\n"),
        (b"RMD x", K::NotADirectory, b"550 Not a directory.\r\n"),
        (
            b"DELE x",
            K::Transient,
            b"450 File unavailable, try again later.\r\n",
        ),
        (b"DELE x", K::Other, b"451 Local error in processing.\r\n"),
        (
            b"MDTM x",
            K::PermissionDenied,
            b"550 Permission denied.\r\n",
        ),
    ];
    for (line, kind, reply) in cases {
        logged_in(ServerConfig::default(), |h| {
            h.send(&[*line, b"\r\n"].concat());
            let (id, _) = h.expect_storage();
            h.storage_err(id, *kind);
            h.expect(reply);
        });
    }
}

#[test]
fn pipelined_commands_wait_for_a_pending_storage_request() {
    logged_in(ServerConfig::default(), |h| {
        h.send(b"DELE a\r\nDELE b\r\nPWD\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Delete { path: vp("/a") });
        h.expect_idle();
        assert!(h.session.is_busy());
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"250 File deleted.\r\n");
        let (id, request) = h.expect_storage();
        assert_eq!(request, StorageRequest::Delete { path: vp("/b") });
        h.storage(id, Ok(StorageResponse::Done));
        h.expect(b"250 File deleted.\r\n257 \"/\" is current directory.\r\n");
    });
}

#[test]
fn many_commands_in_one_read_are_all_answered_with_a_bounded_queue() {
    let mut h = H::logged_in(ServerConfig::default(), Feed::Whole);
    let input: Vec<u8> = b"NOOP\r\n".repeat(2000);
    h.send(&input);
    let all = h.transmitted();
    let count = all.windows(13).filter(|w| w == b"200 NOOP ok.\r").count();
    assert_eq!(count, 2000);
    assert!(h.max_queue <= 40, "queue grew to {}", h.max_queue);
}
