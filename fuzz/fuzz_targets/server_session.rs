//! Drives a `ServerSession` with inputs decoded from the fuzzer's bytes: control-connection
//! chunks (raw, or commands from a dictionary with fuzzed arguments), storage, authentication
//! and data-connection results for current, old and forged ids, TLS, end of stream, shutdown,
//! and timer expiry with time moving forward. After every input it drains all outputs and
//! checks the session's invariants:
//!
//! * the output queue and buffered input stay bounded;
//! * after `handle_timeout(t)`, `poll_timeout()` is `None` or later than `t`;
//! * nothing is emitted after `Close`;
//! * every storage path is absolute and normalised (never above the root);
//! * 227/228/229 only when a listener was reported bound; `226 Transfer complete` only when
//!   the data connection was reported closed or storage finished after it closed.
//!
//! Harness version 1 (bump it and re-minimise corpora when the decoding changes).

#![no_main]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftp_proto::line::LineConfig;
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{
    AnonymousPolicy, AuthFailure, AuthId, DataConnId, DataFailure, FileKind, HashAlgorithm,
    HashValue, Metadata, Permissions, Principal, ServerConfig, ServerControlInfo, ServerDataEvent,
    ServerDataIntent, ServerOutput, ServerSession, StorageError, StorageErrorKind, StorageOpId,
    StorageRequest, StorageResponse, TlsPolicy,
};
use libfuzzer_sys::fuzz_target;

const COMMANDS: &[&[u8]] = &[
    b"USER ",
    b"PASS ",
    b"ACCT ",
    b"CWD ",
    b"CDUP",
    b"SMNT ",
    b"REIN",
    b"QUIT",
    b"PORT ",
    b"PASV",
    b"TYPE ",
    b"STRU ",
    b"MODE ",
    b"RETR ",
    b"STOR ",
    b"STOU",
    b"APPE ",
    b"ALLO ",
    b"REST ",
    b"RNFR ",
    b"RNTO ",
    b"ABOR",
    b"DELE ",
    b"RMD ",
    b"MKD ",
    b"PWD",
    b"LIST ",
    b"NLST",
    b"SITE ",
    b"SYST",
    b"STAT",
    b"HELP ",
    b"NOOP",
    b"AUTH TLS",
    b"ADAT ",
    b"PBSZ 0",
    b"PROT ",
    b"CCC",
    b"FEAT",
    b"OPTS ",
    b"EPRT ",
    b"EPSV",
    b"EPSV ALL",
    b"LPRT ",
    b"LPSV",
    b"LANG ",
    b"HOST ",
    b"SIZE ",
    b"MDTM ",
    b"MLST ",
    b"MLSD",
    b"MFMT 20020717210715 ",
    b"HASH ",
    b"RANG ",
    b"CLNT ",
    b"USER anonymous",
    b"PASS x",
    b"PORT 198,51,100,7,4,1",
    b"EPRT |1|198.51.100.7|2000|",
    b"TYPE I",
    b"MODE B",
    b"SITE CHMOD 755 ",
    b"SITE WHO",
    b"\xff\xf4\xff\xf2ABOR",
    b"\xff\xf4\xff\xf2STAT",
    b"OPTS MLST type;size;",
    b"REST 100",
];

/// Reads the fuzzer's bytes.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        first
    }

    fn take(&mut self, max: usize) -> &[u8] {
        let n = usize::from(self.byte()) % (max + 1);
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn config(flags: u8) -> ServerConfig {
    let small = flags & 1 != 0;
    ServerConfig {
        line: if small {
            LineConfig {
                max_line_len: 64,
                flood_limit: 200,
                max_buffered: 400,
                ..LineConfig::default()
            }
        } else {
            LineConfig::default()
        },
        anonymous: match (flags >> 1) & 3 {
            0 => AnonymousPolicy::Disabled,
            1 => AnonymousPolicy::ReadOnly,
            _ => AnonymousPolicy::ReadWrite,
        },
        tls: TlsPolicy {
            enabled: flags & 8 != 0,
            require_for_login: flags & 16 != 0,
            require_for_data: flags & 32 != 0,
            allow_ccc: true,
        },
        block_mode: flags & 64 != 0,
        compressed_mode: flags & 64 != 0,
        hash_algorithms: if flags & 128 != 0 {
            vec![HashAlgorithm::Sha256, HashAlgorithm::Sha1]
        } else {
            vec![]
        },
        site_commands: vec!["WHO".into()],
        failed_login_delay: Duration::from_millis(u64::from(flags & 3) * 500),
        max_login_attempts: u32::from(flags % 4),
        idle_timeout: Some(Duration::from_secs(30)),
        data_timeout: Duration::from_millis(u64::from(flags % 5) * 1000),
        request_timeout: if flags & 4 != 0 {
            Some(Duration::from_secs(10))
        } else {
            None
        },
        shutdown_grace: Duration::from_secs(3),
        passive_address: (flags & 2 != 0).then(|| "203.0.113.80".parse().unwrap()),
        ..ServerConfig::default()
    }
}

fn storage_result(input: &mut Input<'_>) -> Result<StorageResponse, StorageError> {
    use StorageErrorKind as K;
    const KINDS: [K; 13] = [
        K::NotFound,
        K::PermissionDenied,
        K::AlreadyExists,
        K::NotADirectory,
        K::IsADirectory,
        K::InsufficientStorage,
        K::QuotaExceeded,
        K::InvalidName,
        K::InvalidOffset,
        K::Busy,
        K::Transient,
        K::Unsupported,
        K::Other,
    ];
    let kinds = [
        FileKind::File,
        FileKind::Dir,
        FileKind::Symlink,
        FileKind::Other,
    ];
    match input.byte() % 11 {
        0 => Ok(StorageResponse::Opened {
            size: Some(u64::from(input.u16())),
        }),
        1 => Ok(StorageResponse::Transferred {
            bytes: u64::from(input.u16()),
        }),
        2 => Ok(StorageResponse::Done),
        3 => {
            let mut m = Metadata::new(kinds[usize::from(input.byte() % 4)]);
            m.size = Some(u64::from(input.u16()));
            m.perm = Some(String::from_utf8_lossy(input.take(8)).into_owned());
            m.unique = Some(String::from_utf8_lossy(input.take(8)).into_owned());
            m.unix_mode = Some(u32::from(input.u16()));
            Ok(StorageResponse::Metadata(m))
        }
        4 => Ok(StorageResponse::StoredAs {
            name: input.take(12).to_vec().into(),
        }),
        5 => Ok(StorageResponse::Hash(HashValue {
            algorithm: HashAlgorithm::Sha1,
            start: 0,
            end: u64::from(input.u16()),
            hex: "0a".into(),
        })),
        6 => Ok(StorageResponse::SiteReply {
            message: String::from_utf8_lossy(input.take(16)).into_owned(),
        }),
        7 => Ok(StorageResponse::Listing {
            lines: vec![
                input.take(24).to_vec().into(),
                input.take(8).to_vec().into(),
            ],
            directory: input.byte() % 2 == 0,
        }),
        8 => Ok(StorageResponse::TransferSize(u64::from(input.u16()))),
        _ => Err(StorageError {
            kind: KINDS[usize::from(input.byte()) % KINDS.len()],
            message: (input.byte() & 1 == 0)
                .then(|| String::from_utf8_lossy(input.take(12)).into_owned()),
        }),
    }
}

fn data_event(input: &mut Input<'_>) -> ServerDataEvent {
    const ADDRS: [&str; 5] = [
        "192.0.2.1:50000",
        "198.51.100.7:40000",
        "203.0.113.66:1",
        "[2001:db8::1]:6000",
        "[::ffff:198.51.100.7]:4000",
    ];
    const FAILURES: [DataFailure; 7] = [
        DataFailure::Refused,
        DataFailure::TimedOut,
        DataFailure::PeerMismatch,
        DataFailure::Bind,
        DataFailure::Tls,
        DataFailure::Reset,
        DataFailure::Other,
    ];
    let addr: SocketAddr = ADDRS[usize::from(input.byte()) % ADDRS.len()]
        .parse()
        .unwrap();
    match input.byte() % 5 {
        0 => ServerDataEvent::Listening { local: addr },
        1 => ServerDataEvent::Connected { peer: addr },
        2 => ServerDataEvent::Progress {
            bytes: u64::from(input.u16()),
        },
        3 => ServerDataEvent::Closed,
        _ => ServerDataEvent::Failed(FAILURES[usize::from(input.byte()) % FAILURES.len()]),
    }
}

fn assert_normalised(path: &VirtualPath) {
    let bytes = path.as_bytes();
    assert_eq!(bytes.first(), Some(&b'/'));
    assert!(!bytes.contains(&0));
    if bytes.len() > 1 {
        for segment in bytes[1..].split(|&b| b == b'/') {
            assert!(!matches!(segment, b"" | b"." | b".."), "{path:?}");
        }
    }
}

fn check_request(request: &StorageRequest) {
    match request {
        StorageRequest::Metadata { path }
        | StorageRequest::StatusListing { path }
        | StorageRequest::List { path, .. }
        | StorageRequest::Retrieve { path, .. }
        | StorageRequest::Store { path, .. }
        | StorageRequest::Delete { path }
        | StorageRequest::MakeDir { path }
        | StorageRequest::RemoveDir { path }
        | StorageRequest::SetModified { path, .. }
        | StorageRequest::Hash { path, .. }
        | StorageRequest::TransferSize { path, .. }
        | StorageRequest::Chmod { path, .. } => assert_normalised(path),
        StorageRequest::Rename { from, to } => {
            assert_normalised(from);
            assert_normalised(to);
        }
        StorageRequest::Site { cwd, .. } => assert_normalised(cwd),
        _ => {}
    }
}

/// What the last input was, for the reply checks.
#[derive(PartialEq)]
enum Cause {
    Listening,
    Closed,
    Other,
}

struct Driver {
    session: ServerSession,
    now: Instant,
    storage: Vec<StorageOpId>,
    auth: Vec<AuthId>,
    data: Vec<DataConnId>,
    closed: bool,
    max_buffered: usize,
}

impl Driver {
    fn pick<T: Copy>(ids: &[T], selector: u8, forge: impl Fn(u64) -> T) -> T {
        match selector % 4 {
            0 | 1 => ids.last().copied().unwrap_or_else(|| forge(1)),
            2 if !ids.is_empty() => ids[usize::from(selector / 4) % ids.len()],
            _ => forge(u64::from(selector)),
        }
    }

    fn drain(&mut self, cause: Cause) {
        let mut transmitted = Vec::new();
        loop {
            assert!(self.session.queued_outputs() <= 64);
            let Some(output) = self.session.poll_output() else {
                break;
            };
            assert!(!self.closed, "output after Close: {output:?}");
            match output {
                ServerOutput::Transmit(bytes) => transmitted.extend_from_slice(&bytes),
                ServerOutput::Storage { id, request } => {
                    check_request(&request);
                    self.storage.push(id);
                }
                ServerOutput::Authenticate { id, .. } => self.auth.push(id),
                ServerOutput::Data(
                    ServerDataIntent::Listen { id, .. } | ServerDataIntent::Connect { id, .. },
                ) => self.data.push(id),
                ServerOutput::Close => self.closed = true,
                _ => {}
            }
        }
        assert!(self.session.buffered_input() <= self.max_buffered);
        assert_eq!(self.closed, self.session.is_closed());
        for line in transmitted.split(|&b| b == b'\n') {
            if line.starts_with(b"227 ") || line.starts_with(b"228 ") || line.starts_with(b"229 ") {
                assert!(cause == Cause::Listening);
            }
            if line.starts_with(b"226 Transfer complete") {
                assert!(cause == Cause::Closed);
            }
        }
        // Keep the id tables small.
        for ids in [self.storage.len(), self.auth.len(), self.data.len()] {
            assert!(ids < 100_000);
        }
    }

    fn timeout(&mut self) {
        self.session.handle_timeout(self.now);
        self.drain(Cause::Other);
        if let Some(next) = self.session.poll_timeout() {
            assert!(next > self.now);
        }
    }

    fn step(&mut self, input: &mut Input<'_>) {
        match input.byte() % 12 {
            0..=2 => {
                let chunk = input.take(80).to_vec();
                self.session.handle_input(self.now, &chunk);
                self.drain(Cause::Other);
            }
            3..=5 => {
                let mut line = COMMANDS[usize::from(input.byte()) % COMMANDS.len()].to_vec();
                line.extend_from_slice(input.take(24));
                line.extend_from_slice(b"\r\n");
                self.session.handle_input(self.now, &line);
                self.drain(Cause::Other);
            }
            6 => {
                let id = Self::pick(&self.storage, input.byte(), StorageOpId::from_raw);
                let result = storage_result(input);
                let cause = match result {
                    Ok(StorageResponse::Transferred { .. }) => Cause::Closed,
                    _ => Cause::Other,
                };
                self.session.handle_storage_result(self.now, id, result);
                self.drain(cause);
            }
            7 => {
                let id = Self::pick(&self.auth, input.byte(), AuthId::from_raw);
                let result = match input.byte() % 6 {
                    0 | 1 => Ok(Principal::new("alice")),
                    2 => Ok(Principal::read_only("ro")),
                    3 => Ok(Principal::with_permissions(
                        "some",
                        [
                            Permissions::LIST | Permissions::WRITE,
                            Permissions::READ | Permissions::DELETE | Permissions::RENAME,
                            Permissions::NONE,
                        ][usize::from(input.byte() % 3)],
                    )),
                    4 => Err(AuthFailure::InvalidCredentials),
                    _ => Err(match input.byte() % 3 {
                        0 => AuthFailure::AccountRequired,
                        1 => AuthFailure::Unavailable,
                        _ => AuthFailure::TooManySessions,
                    }),
                };
                self.session.handle_auth_result(self.now, id, result);
                self.drain(Cause::Other);
            }
            8 => {
                let id = Self::pick(&self.data, input.byte(), DataConnId::from_raw);
                let event = data_event(input);
                let cause = match event {
                    ServerDataEvent::Listening { .. } => Cause::Listening,
                    ServerDataEvent::Closed => Cause::Closed,
                    _ => Cause::Other,
                };
                self.session.handle_data_event(self.now, id, event);
                self.drain(cause);
            }
            9 => {
                self.now += Duration::from_millis(u64::from(input.u16()) * 4);
                self.timeout();
            }
            10 => {
                if let Some(at) = self.session.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.timeout();
            }
            _ => {
                match input.byte() % 8 {
                    0..=4 => self.session.handle_tls_established(self.now),
                    5 | 6 => self.session.shutdown(self.now, "bye"),
                    _ => self.session.handle_eof(self.now),
                }
                self.drain(Cause::Other);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let flags = input.byte();
    let config = config(flags);
    let max_buffered =
        config.line.flood_limit + config.line.max_buffered + config.line.max_line_len;
    let conn = ServerControlInfo {
        implicit_tls: input.byte() & 1 == 1,
        ..ServerControlInfo::new(
            "192.0.2.1:21".parse().unwrap(),
            "198.51.100.7:50000".parse().unwrap(),
        )
    };
    let now = Instant::now();
    let session = if flags % 7 == 6 {
        ServerSession::new_delayed(Arc::new(config), conn, now, now + Duration::from_secs(60))
    } else {
        ServerSession::new(Arc::new(config), conn, now)
    };
    let mut driver = Driver {
        session,
        now,
        storage: vec![],
        auth: vec![],
        data: vec![],
        closed: false,
        max_buffered,
    };
    driver.drain(Cause::Other);
    let mut steps = 0;
    while !input.is_empty() && steps < 512 {
        driver.step(&mut input);
        steps += 1;
    }
});
