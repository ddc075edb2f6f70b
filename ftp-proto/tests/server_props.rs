//! Property tests for `ServerSession`:
//!
//! * no sequence of control bytes and driver events (including stale and forged ids) panics;
//! * the output queue and the buffered input stay bounded;
//! * after every `handle_timeout(t)`, `poll_timeout()` is `None` or later than `t`;
//! * nothing is emitted after `Close`;
//! * 227/228/229 appear only when a listener was reported bound, and `226 Transfer complete`
//!   only when the data connection was reported closed (or storage finished after it closed);
//! * every path handed to storage is absolute and normalised, and resolves `../` spellings the
//!   way a chrooted process would (never above the root);
//! * how the control stream is split into reads never changes the outputs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ftp_proto::line::LineConfig;
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{
    AnonymousPolicy, AuthFailure, AuthId, DataConnId, DataFailure, FileKind, HashAlgorithm,
    HashValue, Metadata, Principal, ServerConfig, ServerControlInfo, ServerDataEvent,
    ServerDataIntent, ServerOutput, ServerSession, StorageError, StorageErrorKind, StorageOpId,
    StorageRequest, StorageResponse, TlsPolicy,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Generators

const COMMANDS: &[&str] = &[
    "USER alice",
    "USER anonymous",
    "PASS secret",
    "ACCT x",
    "PASV",
    "EPSV",
    "EPSV ALL",
    "EPSV 2",
    "LPSV",
    "PORT 198,51,100,7,4,1",
    "PORT 203,0,113,9,0,21",
    "EPRT |1|198.51.100.7|2000|",
    "LPRT 4,4,198,51,100,7,2,4,1",
    "RETR x",
    "STOR x",
    "APPE x",
    "STOU",
    "STOU h",
    "LIST -la",
    "NLST",
    "MLSD",
    "CWD sub",
    "CDUP",
    "PWD",
    "MKD d",
    "RMD d",
    "DELE f",
    "RNFR a",
    "RNTO b",
    "REST 5",
    "REST R1",
    "TYPE I",
    "TYPE A",
    "TYPE L 7",
    "MODE B",
    "MODE S",
    "STRU R",
    "STRU F",
    "SIZE x",
    "MDTM x",
    "MLST",
    "MLST x",
    "MFMT 20020717210715 x",
    "HASH x",
    "RANG 1 5",
    "RANG 1 0",
    "OPTS MLST type;",
    "OPTS HASH SHA-1",
    "OPTS UTF8 ON",
    "SITE CHMOD 755 x",
    "SITE WHO",
    "SITE HELP",
    "SYST",
    "HELP",
    "FEAT",
    "STAT",
    "STAT x",
    "ABOR",
    "QUIT",
    "REIN",
    "AUTH TLS",
    "PBSZ 0",
    "PROT P",
    "PROT C",
    "CCC",
    "HOST a.example",
    "LANG",
    "NOOP",
    "ALLO 5",
    "XYZZ",
    "",
];

const SEGMENTS: &[&str] = &["..", ".", "", "a", "b", "etc", "...", "a b", "\u{e9}"];

fn path_arg() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(SEGMENTS), 0..6),
    )
        .prop_map(|(absolute, segments)| {
            let joined = segments.join("/");
            if absolute {
                format!("/{joined}")
            } else {
                joined
            }
        })
}

fn command_line() -> impl Strategy<Value = Vec<u8>> {
    let known = prop::sample::select(COMMANDS).prop_map(|c| c.as_bytes().to_vec());
    let verb_with_path = (
        prop::sample::select(
            &[
                "CWD", "RETR", "STOR", "DELE", "MKD", "RNFR", "RNTO", "LIST", "MLST", "SIZE",
            ][..],
        ),
        path_arg(),
    )
        .prop_map(|(verb, path)| format!("{verb} {path}").into_bytes());
    let raw = prop::collection::vec(any::<u8>(), 0..40);
    let line = prop_oneof![6 => known, 3 => verb_with_path, 1 => raw];
    (line, 0u8..8).prop_map(|(mut line, prefix)| {
        match prefix {
            0 => line.splice(0..0, [0xff, 0xf4, 0xff, 0xf2]).for_each(drop),
            1 => line.splice(0..0, [0xff, 0xfb, 0x01]).for_each(drop),
            _ => {}
        }
        line.extend_from_slice(b"\r\n");
        line
    })
}

fn chunk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::collection::vec(command_line(), 1..4).prop_map(|l| l.concat()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(vec![b'A'; 700]),
    ]
}

#[derive(Clone, Debug)]
enum Pick {
    Latest,
    Seen(u8),
    Forged(u64),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        6 => Just(Pick::Latest),
        3 => any::<u8>().prop_map(Pick::Seen),
        1 => (0u64..64).prop_map(Pick::Forged),
    ]
}

fn storage_kind() -> impl Strategy<Value = StorageErrorKind> {
    use StorageErrorKind as K;
    prop::sample::select(vec![
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
    ])
}

fn storage_result() -> impl Strategy<Value = Result<StorageResponse, StorageError>> {
    let kind = prop::sample::select(vec![
        FileKind::File,
        FileKind::Dir,
        FileKind::Symlink,
        FileKind::Other,
    ]);
    prop_oneof![
        3 => prop::option::of(0u64..1000).prop_map(|size| Ok(StorageResponse::Opened { size })),
        3 => (0u64..1 << 40).prop_map(|bytes| Ok(StorageResponse::Transferred { bytes })),
        2 => Just(Ok(StorageResponse::Done)),
        2 => kind.prop_map(|k| {
            let mut m = Metadata::new(k);
            m.size = Some(7);
            m.perm = Some("r;w x\n".into());
            Ok(StorageResponse::Metadata(m))
        }),
        1 => prop::sample::select(vec!["ok", "", "a/b", "..", "n\r\nx"]).prop_map(|n| {
            Ok(StorageResponse::StoredAs { name: Bytes::from(n) })
        }),
        1 => Just(Ok(StorageResponse::Hash(HashValue {
            algorithm: HashAlgorithm::Sha1,
            start: 0,
            end: 9,
            hex: "00ff".into(),
        }))),
        1 => (0u64..1 << 40).prop_map(|n| Ok(StorageResponse::TransferSize(n))),
        1 => Just(Ok(StorageResponse::SiteReply { message: "a\nb\0c".into() })),
        3 => (storage_kind(), prop::option::of("[a-z\r\n ]{0,8}")).prop_map(|(kind, message)| {
            Err(StorageError { kind, message })
        }),
    ]
}

fn data_event() -> impl Strategy<Value = ServerDataEvent> {
    let addr = prop::sample::select(vec![
        "192.0.2.1:50000",
        "198.51.100.7:40000",
        "203.0.113.66:1",
        "[2001:db8::1]:6000",
    ])
    .prop_map(|a| a.parse::<SocketAddr>().unwrap());
    let failure = prop::sample::select(vec![
        DataFailure::Refused,
        DataFailure::TimedOut,
        DataFailure::PeerMismatch,
        DataFailure::Bind,
        DataFailure::Tls,
        DataFailure::Reset,
        DataFailure::Other,
    ]);
    prop_oneof![
        addr.clone()
            .prop_map(|local| ServerDataEvent::Listening { local }),
        addr.prop_map(|peer| ServerDataEvent::Connected { peer }),
        (0u64..1 << 40).prop_map(|bytes| ServerDataEvent::Progress { bytes }),
        Just(ServerDataEvent::Closed),
        failure.prop_map(ServerDataEvent::Failed),
    ]
}

#[derive(Clone, Debug)]
enum Step {
    Input(Vec<u8>),
    Storage(Pick, Result<StorageResponse, StorageError>),
    Auth(Pick, Result<Principal, AuthFailure>),
    Data(Pick, ServerDataEvent),
    Tls,
    Advance(u64),
    Deadline,
    Eof,
    Shutdown,
}

fn step() -> impl Strategy<Value = Step> {
    let auth = prop_oneof![
        3 => Just(Ok(Principal::new("alice"))),
        1 => Just(Ok(Principal::read_only("ro"))),
        2 => Just(Err(AuthFailure::InvalidCredentials)),
        1 => Just(Err(AuthFailure::AccountRequired)),
        1 => Just(Err(AuthFailure::Unavailable)),
    ];
    prop_oneof![
        12 => chunk().prop_map(Step::Input),
        6 => (pick(), storage_result()).prop_map(|(p, r)| Step::Storage(p, r)),
        3 => (pick(), auth).prop_map(|(p, r)| Step::Auth(p, r)),
        6 => (pick(), data_event()).prop_map(|(p, e)| Step::Data(p, e)),
        1 => Just(Step::Tls),
        2 => (0u64..40_000).prop_map(Step::Advance),
        2 => Just(Step::Deadline),
        1 => Just(Step::Eof),
        1 => Just(Step::Shutdown),
    ]
}

fn small_config() -> ServerConfig {
    ServerConfig {
        line: LineConfig {
            max_line_len: 128,
            flood_limit: 512,
            max_buffered: 1024,
            ..LineConfig::default()
        },
        anonymous: AnonymousPolicy::ReadOnly,
        tls: TlsPolicy {
            enabled: true,
            allow_ccc: true,
            ..TlsPolicy::default()
        },
        hash_algorithms: vec![HashAlgorithm::Sha256, HashAlgorithm::Sha1],
        site_commands: vec!["WHO".into()],
        block_mode: true,
        failed_login_delay: Duration::from_secs(1),
        idle_timeout: Some(Duration::from_secs(30)),
        data_timeout: Duration::from_secs(5),
        request_timeout: Some(Duration::from_secs(10)),
        shutdown_grace: Duration::from_secs(3),
        ..ServerConfig::default()
    }
}

/// An arbitrary base instant for the simulated clock (the session never reads the clock).
#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

fn conn() -> ServerControlInfo {
    ServerControlInfo::new(
        "192.0.2.1:21".parse().unwrap(),
        "198.51.100.7:50000".parse().unwrap(),
    )
}

// ---------------------------------------------------------------------------------------------
// A driver that checks the invariants

/// Asserts `path` is absolute and normalised.
fn assert_normalised(path: &VirtualPath) {
    let bytes = path.as_bytes();
    assert_eq!(bytes.first(), Some(&b'/'), "{path:?}");
    assert!(!bytes.contains(&0), "{path:?}");
    if bytes.len() > 1 {
        for segment in bytes[1..].split(|&b| b == b'/') {
            assert!(!matches!(segment, b"" | b"." | b".."), "{path:?}");
        }
    }
}

fn request_paths(request: &StorageRequest) -> Vec<&VirtualPath> {
    match request {
        StorageRequest::Metadata { path }
        | StorageRequest::StatusListing { path }
        | StorageRequest::List { path, .. }
        | StorageRequest::Retrieve { path, .. }
        | StorageRequest::TransferSize { path, .. }
        | StorageRequest::Store { path, .. }
        | StorageRequest::Delete { path }
        | StorageRequest::MakeDir { path }
        | StorageRequest::RemoveDir { path }
        | StorageRequest::SetModified { path, .. }
        | StorageRequest::Hash { path, .. }
        | StorageRequest::Chmod { path, .. } => vec![path],
        StorageRequest::Rename { from, to } => vec![from, to],
        StorageRequest::Site { cwd, .. } => vec![cwd],
        other => panic!("unknown request {other:?}"),
    }
}

struct Driver {
    session: ServerSession,
    now: Instant,
    storage: Vec<StorageOpId>,
    requests: Vec<StorageRequest>,
    auth: Vec<AuthId>,
    data: Vec<DataConnId>,
    closed: bool,
    max_buffered: usize,
}

impl Driver {
    fn new(config: ServerConfig) -> Self {
        let max_buffered =
            config.line.flood_limit + config.line.max_buffered + config.line.max_line_len;
        let now = epoch();
        let session = ServerSession::new(Arc::new(config), conn(), now);
        let mut driver = Self {
            session,
            now,
            storage: vec![],
            requests: vec![],
            auth: vec![],
            data: vec![],
            closed: false,
            max_buffered,
        };
        driver.drain(&Step::Tls);
        driver
    }

    fn pick<T: Copy>(ids: &[T], pick: &Pick, forge: impl Fn(u64) -> T) -> T {
        match pick {
            Pick::Latest => ids.last().copied().unwrap_or_else(|| forge(0)),
            Pick::Seen(i) if !ids.is_empty() => ids[usize::from(*i) % ids.len()],
            Pick::Seen(i) => forge(u64::from(*i)),
            Pick::Forged(raw) => forge(*raw),
        }
    }

    fn run(&mut self, step: &Step) {
        match step {
            Step::Input(bytes) => self.session.handle_input(self.now, bytes),
            Step::Storage(p, result) => {
                let id = Self::pick(&self.storage, p, StorageOpId::from_raw);
                self.session
                    .handle_storage_result(self.now, id, result.clone());
            }
            Step::Auth(p, result) => {
                let id = Self::pick(&self.auth, p, AuthId::from_raw);
                self.session
                    .handle_auth_result(self.now, id, result.clone());
            }
            Step::Data(p, event) => {
                let id = Self::pick(&self.data, p, DataConnId::from_raw);
                self.session.handle_data_event(self.now, id, event.clone());
            }
            Step::Tls => self.session.handle_tls_established(self.now),
            Step::Advance(ms) => {
                self.now += Duration::from_millis(*ms);
                self.timeout();
            }
            Step::Deadline => {
                if let Some(at) = self.session.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.timeout();
            }
            Step::Eof => self.session.handle_eof(self.now),
            Step::Shutdown => self.session.shutdown(self.now, "bye"),
        }
        if !matches!(step, Step::Advance(_) | Step::Deadline) {
            self.drain(step);
        }
    }

    fn timeout(&mut self) {
        self.session.handle_timeout(self.now);
        self.drain(&Step::Deadline);
        if let Some(next) = self.session.poll_timeout() {
            assert!(
                next > self.now,
                "deadline {next:?} is not after {:?}",
                self.now
            );
        }
    }

    fn drain(&mut self, step: &Step) {
        let mut transmitted = Vec::new();
        loop {
            assert!(
                self.session.queued_outputs() <= 64,
                "{} outputs queued",
                self.session.queued_outputs()
            );
            let Some(output) = self.session.poll_output() else {
                break;
            };
            assert!(!self.closed, "output after Close: {output:?}");
            match output {
                ServerOutput::Transmit(bytes) => transmitted.extend_from_slice(&bytes),
                ServerOutput::Storage { id, request } => {
                    request_paths(&request)
                        .into_iter()
                        .for_each(assert_normalised);
                    self.storage.push(id);
                    self.requests.push(request);
                }
                ServerOutput::Authenticate { id, .. } => self.auth.push(id),
                ServerOutput::Data(
                    ServerDataIntent::Listen { id, .. } | ServerDataIntent::Connect { id, .. },
                ) => self.data.push(id),
                ServerOutput::Close => self.closed = true,
                _ => {}
            }
        }
        assert!(
            self.session.buffered_input() <= self.max_buffered,
            "{} bytes buffered",
            self.session.buffered_input()
        );
        assert_eq!(self.closed, self.session.is_closed());
        self.check_replies(step, &transmitted);
    }

    /// Replies that only certain driver reports may cause.
    fn check_replies(&self, step: &Step, transmitted: &[u8]) {
        let lines: Vec<&[u8]> = transmitted.split(|&b| b == b'\n').collect();
        let listening = matches!(step, Step::Data(_, ServerDataEvent::Listening { .. }));
        let closed = matches!(
            step,
            Step::Data(_, ServerDataEvent::Closed)
                | Step::Storage(_, Ok(StorageResponse::Transferred { .. }))
        );
        for line in lines {
            if line.starts_with(b"227 ") || line.starts_with(b"228 ") || line.starts_with(b"229 ") {
                assert!(
                    listening,
                    "{:?} after {step:?}",
                    String::from_utf8_lossy(line)
                );
            }
            if line.starts_with(b"226 Transfer complete") {
                assert!(closed, "226 after {step:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_and_events_keep_every_invariant(steps in prop::collection::vec(step(), 1..60)) {
        let mut driver = Driver::new(small_config());
        for step in &steps {
            driver.run(step);
        }
    }

    #[test]
    fn logged_in_sessions_keep_every_invariant(steps in prop::collection::vec(step(), 1..60)) {
        let mut driver = Driver::new(small_config());
        driver.run(&Step::Input(b"USER anonymous\r\nPASS x\r\nPASV\r\n".to_vec()));
        driver.run(&Step::Data(Pick::Latest, ServerDataEvent::Listening { local: "192.0.2.1:50000".parse().unwrap() }));
        for step in &steps {
            driver.run(step);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_with_default_limits(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..512), 0..8)) {
        let mut driver = Driver::new(ServerConfig::default());
        for chunk in chunks {
            driver.run(&Step::Input(chunk));
        }
    }
}

/// SIZE in TYPE A makes a second request after the metadata (found by the proptest above once
/// the request existed): the driver checks its path like every other.
#[test]
fn size_in_type_a_requests_a_count_with_a_normalised_path() {
    let mut driver = Driver::new(small_config());
    driver.run(&Step::Input(
        b"USER anonymous\r\nPASS x\r\nTYPE A\r\nSIZE ../x\r\n".to_vec(),
    ));
    let mut metadata = Metadata::new(FileKind::File);
    metadata.size = Some(7);
    driver.run(&Step::Storage(
        Pick::Latest,
        Ok(StorageResponse::Metadata(metadata)),
    ));
    let Some(StorageRequest::TransferSize { path, max, .. }) = driver.requests.last() else {
        panic!(
            "expected a TransferSize request, got {:?}",
            driver.requests.last()
        );
    };
    assert_eq!((path.as_bytes(), *max), (&b"/x"[..], 7));
    driver.run(&Step::Storage(
        Pick::Latest,
        Ok(StorageResponse::TransferSize(8)),
    ));
    assert!(!driver.closed);
}

// ---------------------------------------------------------------------------------------------
// Paths: a reference model

/// What a chrooted Unix process would make of `arg` in `cwd`.
fn reference(cwd: &[&str], arg: &str) -> String {
    let mut stack: Vec<&str> = if arg.starts_with('/') {
        vec![]
    } else {
        cwd.to_vec()
    };
    for segment in arg.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            name => stack.push(name),
        }
    }
    format!("/{}", stack.join("/"))
}

proptest! {
    #[test]
    fn storage_paths_resolve_like_a_chroot(
        cwd in prop::collection::vec(prop::sample::select(&["a", "b", "c d", "x"][..]), 0..4),
        arg in path_arg().prop_filter("non-empty", |a| !a.is_empty()),
    ) {
        let mut driver = Driver::new(ServerConfig::default());
        driver.run(&Step::Input(b"USER u\r\nPASS p\r\n".to_vec()));
        driver.run(&Step::Auth(Pick::Latest, Ok(Principal::new("u"))));
        if !cwd.is_empty() {
            driver.run(&Step::Input(format!("CWD /{}\r\n", cwd.join("/")).into_bytes()));
            driver.run(&Step::Storage(Pick::Latest, Ok(StorageResponse::Metadata(Metadata::new(FileKind::Dir)))));
        }
        let expected_cwd = reference(&[], &format!("/{}", cwd.join("/")));
        prop_assert_eq!(driver.session.cwd().as_bytes(), expected_cwd.as_bytes());
        driver.run(&Step::Input(format!("DELE {arg}\r\n").into_bytes()));
        let Some(StorageRequest::Delete { path }) = driver.requests.last() else {
            panic!("expected a Delete request, got {:?}", driver.requests.last());
        };
        prop_assert_eq!(String::from_utf8_lossy(path.as_bytes()).into_owned(), reference(&cwd, &arg));
    }
}

// ---------------------------------------------------------------------------------------------
// Read boundaries never matter

/// Runs `input` split at `cuts`, answering every intent at once, and returns the normalised
/// outputs (transmits joined, everything else as Debug text).
fn auto_run(input: &[u8], cuts: &[usize]) -> Vec<String> {
    let config = ServerConfig {
        hash_algorithms: vec![HashAlgorithm::Sha1],
        site_commands: vec!["WHO".into()],
        failed_login_delay: Duration::ZERO,
        tls: TlsPolicy {
            enabled: true,
            ..TlsPolicy::default()
        },
        ..ServerConfig::default()
    };
    let now = epoch();
    let mut session = ServerSession::new(Arc::new(config), conn(), now);
    let mut log: Vec<String> = vec![];
    let mut tx: Vec<u8> = vec![];
    let mut start = 0;
    let mut cuts = cuts.to_vec();
    cuts.push(input.len());
    for cut in cuts {
        session.handle_input(now, &input[start..cut]);
        start = cut;
        while let Some(output) = session.poll_output() {
            if let ServerOutput::Transmit(bytes) = &output {
                tx.extend_from_slice(bytes);
                continue;
            }
            if !tx.is_empty() {
                log.push(format!("tx {:?}", String::from_utf8_lossy(&tx)));
                tx.clear();
            }
            log.push(format!("{output:?}"));
            answer(&mut session, now, output);
        }
    }
    if !tx.is_empty() {
        log.push(format!("tx {:?}", String::from_utf8_lossy(&tx)));
    }
    log
}

/// A driver that answers every intent immediately and successfully.
fn answer(session: &mut ServerSession, now: Instant, output: ServerOutput) {
    match output {
        ServerOutput::Storage { id, request } => {
            let response = match request {
                StorageRequest::Metadata { .. } => {
                    let mut m = Metadata::new(FileKind::Dir);
                    m.size = Some(1);
                    StorageResponse::Metadata(m)
                }
                StorageRequest::Retrieve { .. }
                | StorageRequest::Store { .. }
                | StorageRequest::List { .. } => {
                    session.handle_storage_result(
                        now,
                        id,
                        Ok(StorageResponse::Opened { size: None }),
                    );
                    StorageResponse::Transferred { bytes: 3 }
                }
                StorageRequest::Hash { .. } => StorageResponse::Hash(HashValue {
                    algorithm: HashAlgorithm::Sha1,
                    start: 0,
                    end: 2,
                    hex: "ab".into(),
                }),
                _ => StorageResponse::Done,
            };
            session.handle_storage_result(now, id, Ok(response));
        }
        ServerOutput::Authenticate { id, user, .. } => {
            session.handle_auth_result(now, id, Ok(Principal::new(user)));
        }
        ServerOutput::Data(ServerDataIntent::Listen { id, .. }) => {
            let local = "192.0.2.1:50000".parse().unwrap();
            session.handle_data_event(now, id, ServerDataEvent::Listening { local });
        }
        ServerOutput::Data(ServerDataIntent::Connect { id, addr, .. }) => {
            session.handle_data_event(now, id, ServerDataEvent::Connected { peer: addr });
        }
        ServerOutput::Data(ServerDataIntent::Close { id }) => {
            session.handle_data_event(now, id, ServerDataEvent::Closed);
        }
        ServerOutput::StartTls => session.handle_tls_established(now),
        _ => {}
    }
}

/// Command lines whose outcome does not depend on when the driver answers: no ABOR, STAT or
/// QUIT, which may interrupt a transfer; no Telnet negotiation, whose refusal goes out while a
/// command waits; no AUTH TLS, which by design discards what was pipelined behind it.
fn calm_line() -> impl Strategy<Value = Vec<u8>> {
    let calm: Vec<&str> = COMMANDS
        .iter()
        .copied()
        .filter(|c| !matches!(*c, "ABOR" | "STAT" | "QUIT" | "AUTH TLS"))
        .collect();
    (prop::sample::select(calm), any::<bool>()).prop_map(|(line, urgent)| {
        let mut out = if urgent {
            vec![0xff, 0xf4, 0xff, 0xf2]
        } else {
            vec![]
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
        out
    })
}

proptest! {
    #[test]
    fn read_boundaries_never_change_the_outputs(
        lines in prop::collection::vec(calm_line(), 1..40),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let input = lines.concat();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let whole = auto_run(&input, &[]);
        let split = auto_run(&input, &cuts);
        prop_assert_eq!(&whole, &split);
        let bytewise: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(&whole, &auto_run(&input, &bytewise));
    }
}
