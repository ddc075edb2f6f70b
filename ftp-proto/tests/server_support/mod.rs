//! A script-driving harness for `ServerSession` dialogue tests.
//!
//! A test is a closure over [`H`]: it sends client bytes, answers the session's intents with
//! scripted results, and asserts the exact reply bytes and intents in order. [`dialogue`] runs
//! the closure twice, once feeding every client chunk whole and once one byte at a time, and
//! checks that both runs produced the same transcript.
//!
//! Outputs are normalised so that the feeding mode cannot matter: consecutive `Transmit`s are
//! joined, and audit events are kept aside in [`H::events`].

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ftp_proto::server::{
    AuthFailure, AuthId, DataConnId, FileKind, Metadata, Principal, ServerConfig,
    ServerControlInfo, ServerDataEvent, ServerDataIntent, ServerEvent, ServerOutput, ServerSession,
    StorageError, StorageErrorKind, StorageOpId, StorageRequest, StorageResponse,
};

/// One normalised output.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Tx(Vec<u8>),
    Data(ServerDataIntent),
    Storage(StorageOpId, StorageRequest),
    Auth {
        id: AuthId,
        user: Vec<u8>,
        password: Vec<u8>,
        account: Option<Vec<u8>>,
        host: Option<Vec<u8>>,
    },
    StartTls,
    StopTls,
    Close,
}

/// How client bytes are fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    Whole,
    Bytewise,
}

/// An arbitrary base instant for a test's simulated clock. The session never reads the clock;
/// tests only need *some* `Instant` to count from.
#[allow(clippy::disallowed_methods)]
pub fn epoch() -> Instant {
    Instant::now()
}

pub const LOCAL: &str = "192.0.2.1:21";
pub const PEER: &str = "198.51.100.7:50000";

pub fn local() -> SocketAddr {
    LOCAL.parse().unwrap()
}

pub fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

pub struct H {
    pub session: ServerSession,
    pub base: Instant,
    pub now: Instant,
    pub feed: Feed,
    pending: VecDeque<Out>,
    pub transcript: Vec<Out>,
    pub events: Vec<ServerEvent>,
    /// The largest output queue seen before a drain.
    pub max_queue: usize,
}

impl H {
    /// A session whose greeting has not been read yet.
    pub fn raw(config: ServerConfig, feed: Feed) -> Self {
        Self::raw_with(config, ServerControlInfo::new(local(), peer()), feed)
    }

    pub fn raw_with(config: ServerConfig, conn: ServerControlInfo, feed: Feed) -> Self {
        let base = epoch();
        let session = ServerSession::new(Arc::new(config), conn, base);
        Self::wrap(session, base, feed)
    }

    pub fn wrap(session: ServerSession, base: Instant, feed: Feed) -> Self {
        let mut h = Self {
            session,
            base,
            now: base,
            feed,
            pending: VecDeque::new(),
            transcript: vec![],
            events: vec![],
            max_queue: 0,
        };
        h.drain();
        h
    }

    /// A session with the greeting read.
    pub fn new(config: ServerConfig, feed: Feed) -> Self {
        let mut h = Self::raw(config, feed);
        h.expect(b"220 Service ready\r\n");
        h
    }

    /// A session logged in as `alice` (full rights).
    pub fn logged_in(config: ServerConfig, feed: Feed) -> Self {
        let mut h = Self::new(config, feed);
        h.login("alice");
        h
    }

    /// USER/PASS answered by the auth back end with success.
    pub fn login(&mut self, user: &str) {
        self.send(format!("USER {user}\r\n").as_bytes());
        self.expect(b"331 User name ok, need password\r\n");
        self.send(b"PASS secret\r\n");
        let (id, got_user, _) = self.expect_auth();
        assert_eq!(got_user, user.as_bytes());
        self.auth(id, Ok(Principal::new(user.to_owned())));
        self.expect(b"230 User logged in\r\n");
    }

    /// PASV answered by a listener on port 50000 (`227 ... (192,0,2,1,195,80)`).
    pub fn pasv(&mut self) -> DataConnId {
        self.send(b"PASV\r\n");
        let id = self.expect_listen();
        self.data(
            id,
            ServerDataEvent::Listening {
                local: "192.0.2.1:50000".parse().unwrap(),
            },
        );
        self.expect(b"227 Entering Passive Mode (192,0,2,1,195,80).\r\n");
        id
    }

    /// PASV and the client's connection.
    pub fn pasv_connected(&mut self) -> DataConnId {
        let id = self.pasv();
        self.data(
            id,
            ServerDataEvent::Connected {
                peer: "198.51.100.7:40000".parse().unwrap(),
            },
        );
        self.expect_idle();
        id
    }

    // -- inputs ----------------------------------------------------------------------------

    pub fn send(&mut self, bytes: &[u8]) {
        match self.feed {
            Feed::Whole => {
                self.session.handle_input(self.now, bytes);
                self.drain();
            }
            Feed::Bytewise => {
                for byte in bytes {
                    self.session
                        .handle_input(self.now, std::slice::from_ref(byte));
                    self.drain();
                }
            }
        }
    }

    pub fn storage(&mut self, id: StorageOpId, result: Result<StorageResponse, StorageError>) {
        self.session.handle_storage_result(self.now, id, result);
        self.drain();
    }

    pub fn storage_err(&mut self, id: StorageOpId, kind: StorageErrorKind) {
        self.storage(id, Err(StorageError::new(kind)));
    }

    pub fn auth(&mut self, id: AuthId, result: Result<Principal, AuthFailure>) {
        self.session.handle_auth_result(self.now, id, result);
        self.drain();
    }

    pub fn data(&mut self, id: DataConnId, event: ServerDataEvent) {
        self.session.handle_data_event(self.now, id, event);
        self.drain();
    }

    pub fn tls(&mut self) {
        self.session.handle_tls_established(self.now);
        self.drain();
    }

    pub fn eof(&mut self) {
        self.session.handle_eof(self.now);
        self.drain();
    }

    pub fn shutdown(&mut self, message: &str) {
        self.session.shutdown(self.now, message);
        self.drain();
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// `handle_timeout(now)`, then checks the deadline invariant.
    pub fn timeout(&mut self) {
        self.session.handle_timeout(self.now);
        self.drain();
        if let Some(next) = self.session.poll_timeout() {
            assert!(
                next > self.now,
                "deadline {next:?} not after {:?}",
                self.now
            );
        }
    }

    /// Jumps to the next deadline and handles it.
    pub fn fire(&mut self) {
        let next = self.session.poll_timeout().expect("a deadline");
        self.now = self.now.max(next);
        self.timeout();
    }

    /// The time until the next deadline.
    pub fn until_deadline(&self) -> Option<Duration> {
        self.session
            .poll_timeout()
            .map(|at| at.saturating_duration_since(self.now))
    }

    fn drain(&mut self) {
        self.max_queue = self.max_queue.max(self.session.queued_outputs());
        while let Some(output) = self.session.poll_output() {
            let out = match output {
                ServerOutput::Transmit(bytes) => Out::Tx(bytes.to_vec()),
                ServerOutput::Data(intent) => Out::Data(intent),
                ServerOutput::Storage { id, request } => Out::Storage(id, request),
                ServerOutput::Authenticate {
                    id,
                    user,
                    password,
                    account,
                    host,
                } => Out::Auth {
                    id,
                    user: user.to_vec(),
                    password: password.expose().to_vec(),
                    account: account.map(|a| a.to_vec()),
                    host: host.map(|h| h.to_vec()),
                },
                ServerOutput::StartTls => Out::StartTls,
                ServerOutput::StopTls => Out::StopTls,
                ServerOutput::Close => Out::Close,
                ServerOutput::Event(event) => {
                    self.events.push(event);
                    continue;
                }
                other => panic!("unknown output {other:?}"),
            };
            self.push(out);
            self.max_queue = self.max_queue.max(self.session.queued_outputs());
        }
    }

    fn push(&mut self, out: Out) {
        if let Out::Tx(bytes) = &out {
            if let Some(Out::Tx(last)) = self.transcript.last_mut() {
                last.extend_from_slice(bytes);
            } else {
                self.transcript.push(out.clone());
            }
            if let Some(Out::Tx(last)) = self.pending.back_mut() {
                last.extend_from_slice(bytes);
                return;
            }
        } else {
            self.transcript.push(out.clone());
        }
        self.pending.push_back(out);
    }

    // -- expectations ----------------------------------------------------------------------

    /// The next output is a transmit starting with exactly `bytes` (which are consumed).
    #[track_caller]
    pub fn expect(&mut self, bytes: &[u8]) {
        match self.pending.front_mut() {
            Some(Out::Tx(tx)) if tx.starts_with(bytes) => {
                tx.drain(..bytes.len());
                if tx.is_empty() {
                    self.pending.pop_front();
                }
            }
            other => panic!(
                "expected {:?}, got {:?}",
                String::from_utf8_lossy(bytes),
                other.map(|o| match o {
                    Out::Tx(t) => format!("Tx({:?})", String::from_utf8_lossy(t)),
                    o => format!("{o:?}"),
                })
            ),
        }
    }

    /// The next output is a transmit whose first line starts with `code` and a space;
    /// consumes exactly that reply (single-line) and returns its line.
    #[track_caller]
    pub fn expect_code(&mut self, code: u16) -> String {
        let Some(Out::Tx(tx)) = self.pending.front_mut() else {
            panic!("expected a {code} reply, got {:?}", self.pending.front());
        };
        let end = tx
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| p + 2)
            .unwrap_or_else(|| panic!("no CRLF in {:?}", String::from_utf8_lossy(tx)));
        let line: Vec<u8> = tx.drain(..end).collect();
        if tx.is_empty() {
            self.pending.pop_front();
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        assert!(
            text.starts_with(&format!("{code} ")),
            "expected a {code} reply, got {text:?}"
        );
        text
    }

    #[track_caller]
    pub fn expect_out(&mut self, expected: Out) {
        let got = self.pending.pop_front();
        assert_eq!(got.as_ref(), Some(&expected));
    }

    #[track_caller]
    pub fn expect_storage(&mut self) -> (StorageOpId, StorageRequest) {
        match self.pending.pop_front() {
            Some(Out::Storage(id, request)) => (id, request),
            other => panic!("expected a storage request, got {other:?}"),
        }
    }

    #[track_caller]
    pub fn expect_auth(&mut self) -> (AuthId, Vec<u8>, Vec<u8>) {
        match self.pending.pop_front() {
            Some(Out::Auth {
                id, user, password, ..
            }) => (id, user, password),
            other => panic!("expected an auth request, got {other:?}"),
        }
    }

    #[track_caller]
    pub fn expect_data(&mut self) -> ServerDataIntent {
        match self.pending.pop_front() {
            Some(Out::Data(intent)) => intent,
            other => panic!("expected a data intent, got {other:?}"),
        }
    }

    /// The next output is `Listen` for a plaintext IPv4 listener expecting the peer.
    #[track_caller]
    pub fn expect_listen(&mut self) -> DataConnId {
        match self.expect_data() {
            ServerDataIntent::Listen {
                id,
                expect_peer,
                ipv6: false,
                tls: false,
            } if expect_peer == Some(peer().ip()) => id,
            other => panic!("expected Listen, got {other:?}"),
        }
    }

    #[track_caller]
    pub fn expect_abort(&mut self, id: DataConnId) {
        self.expect_out(Out::Data(ServerDataIntent::Abort { id }));
    }

    #[track_caller]
    pub fn expect_close_intent(&mut self, id: DataConnId) {
        self.expect_out(Out::Data(ServerDataIntent::Close { id }));
    }

    #[track_caller]
    pub fn expect_closed(&mut self) {
        self.expect_out(Out::Close);
        assert!(self.session.is_closed());
        assert_eq!(self.session.poll_timeout(), None);
    }

    /// Nothing is waiting.
    #[track_caller]
    pub fn expect_idle(&mut self) {
        assert!(
            self.pending.is_empty(),
            "unexpected outputs: {:?}",
            self.pending
        );
    }

    /// Everything waiting, for tests that inspect freely.
    pub fn take_all(&mut self) -> Vec<Out> {
        self.pending.drain(..).collect()
    }

    /// Every byte transmitted so far (the whole control-connection output).
    pub fn transmitted(&self) -> Vec<u8> {
        self.transcript
            .iter()
            .filter_map(|o| match o {
                Out::Tx(t) => Some(t.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// A storage request answered `Opened`, then `Transferred`, the data close and 226.
    pub fn finish_transfer(&mut self, storage: StorageOpId, data: DataConnId, bytes: u64) {
        self.storage(storage, Ok(StorageResponse::Transferred { bytes }));
        self.expect_close_intent(data);
        self.expect_idle();
        self.data(data, ServerDataEvent::Closed);
        self.expect(b"226 Transfer complete.\r\n");
    }
}

/// Runs `script` feeding whole chunks, then one byte at a time, and checks both runs produce
/// the same transcript.
pub fn dialogue(config: ServerConfig, script: impl Fn(&mut H)) {
    dialogue_with(|feed| H::raw(config.clone(), feed), script);
}

/// [`dialogue`] on a control connection between `local` and `peer`.
pub fn dialogue_conn(config: ServerConfig, local: &str, peer: &str, script: impl Fn(&mut H)) {
    let conn = ServerControlInfo::new(local.parse().unwrap(), peer.parse().unwrap());
    dialogue_with(|feed| H::raw_with(config.clone(), conn, feed), script);
}

/// [`dialogue`] with a custom session constructor.
pub fn dialogue_with(make: impl Fn(Feed) -> H, script: impl Fn(&mut H)) {
    let mut whole = make(Feed::Whole);
    script(&mut whole);
    let mut bytewise = make(Feed::Bytewise);
    script(&mut bytewise);
    assert_eq!(
        whole.transcript, bytewise.transcript,
        "feeding one byte at a time changed the outputs"
    );
    assert_eq!(
        whole.events, bytewise.events,
        "events differ between feeding modes"
    );
}

/// [`dialogue`] starting after the greeting.
pub fn greeted(config: ServerConfig, script: impl Fn(&mut H)) {
    dialogue(config, |h| {
        h.expect(b"220 Service ready\r\n");
        script(h)
    });
}

/// [`dialogue`] starting logged in as `alice`.
pub fn logged_in(config: ServerConfig, script: impl Fn(&mut H)) {
    greeted(config, |h| {
        h.login("alice");
        script(h)
    });
}

pub fn meta(kind: FileKind) -> StorageResponse {
    StorageResponse::Metadata(Metadata::new(kind))
}

pub fn file_meta(size: u64) -> StorageResponse {
    let mut m = Metadata::new(FileKind::File);
    m.size = Some(size);
    StorageResponse::Metadata(m)
}

pub fn opened() -> StorageResponse {
    StorageResponse::Opened { size: None }
}

pub fn err(kind: StorageErrorKind) -> Result<StorageResponse, StorageError> {
    Err(StorageError::new(kind))
}

pub fn vp(path: &str) -> ftp_proto::path::VirtualPath {
    ftp_proto::path::VirtualPath::root()
        .resolve(path.as_bytes())
        .unwrap()
}

pub fn bytes(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}
