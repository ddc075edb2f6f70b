//! A script-driving harness for `ClientSession` tests against recorded server replies.
//!
//! A test is a closure over [`C`]: it asks for operations, feeds the server's reply bytes as a
//! real server sends them, reports data-connection events, and asserts the exact command bytes,
//! intents and events in order. [`script`] runs the closure whole, one byte at a time, and with
//! every server chunk split in two at each offset up to 64, and checks that every run produced
//! the same transcript.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ftp_proto::client::{
    ClientConfig, ClientControlInfo, ClientDataEvent, ClientDataIntent, ClientEvent, ClientOutput,
    ClientSession, DataConnId, OpError, OpId, OpOutput,
};

/// One output, with events kept in order among the others.
#[derive(Clone, Debug, PartialEq)]
pub enum Out {
    Tx(Vec<u8>, bool),
    Data(ClientDataIntent),
    StartTls,
    StopTls,
    Close,
    Event(ClientEvent),
}

/// How server bytes are fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    Whole,
    Bytewise,
    /// Every chunk split in two at this offset (when it is longer).
    SplitAt(usize),
}

/// An arbitrary base instant for a test's simulated clock. The session never reads the clock;
/// tests only need *some* `Instant` to count from.
#[allow(clippy::disallowed_methods)]
pub fn epoch() -> Instant {
    Instant::now()
}

pub const SERVER: &str = "127.0.0.1:2121";
pub const CLIENT: &str = "127.0.0.1:40000";

pub fn server_addr() -> SocketAddr {
    SERVER.parse().unwrap()
}

pub fn client_addr() -> SocketAddr {
    CLIENT.parse().unwrap()
}

pub fn conn() -> ClientControlInfo {
    ClientControlInfo::new(client_addr(), server_addr())
}

pub struct C {
    pub session: ClientSession,
    pub base: Instant,
    pub now: Instant,
    pub feed: Feed,
    pending: VecDeque<Out>,
    pub transcript: Vec<Out>,
    pub max_queue: usize,
}

impl C {
    pub fn new(config: ClientConfig, conn: ClientControlInfo, feed: Feed) -> Self {
        let base = epoch();
        let session = ClientSession::new(config, conn, base);
        let mut c = Self {
            session,
            base,
            now: base,
            feed,
            pending: VecDeque::new(),
            transcript: vec![],
            max_queue: 0,
        };
        c.drain();
        c
    }

    // -- inputs ----------------------------------------------------------------------------

    /// Bytes from the server, fed as `self.feed` says.
    pub fn server(&mut self, bytes: &[u8]) {
        match self.feed {
            Feed::Whole => self.input(bytes),
            Feed::Bytewise => {
                for byte in bytes {
                    self.input(std::slice::from_ref(byte));
                }
            }
            Feed::SplitAt(at) if at < bytes.len() => {
                self.input(&bytes[..at]);
                self.input(&bytes[at..]);
            }
            Feed::SplitAt(_) => self.input(bytes),
        }
    }

    fn input(&mut self, bytes: &[u8]) {
        self.session.handle_input(self.now, bytes);
        self.drain();
    }

    pub fn data(&mut self, id: DataConnId, event: ClientDataEvent) {
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

    pub fn until_deadline(&self) -> Option<Duration> {
        self.session
            .poll_timeout()
            .map(|at| at.saturating_duration_since(self.now))
    }

    /// Runs a command method and drains.
    pub fn op<T>(&mut self, f: impl FnOnce(&mut ClientSession) -> T) -> T {
        let result = f(&mut self.session);
        self.drain();
        result
    }

    pub fn drain(&mut self) {
        self.max_queue = self.max_queue.max(self.session.queued_outputs());
        while let Some(output) = self.session.poll_output() {
            let out = match output {
                ClientOutput::Transmit(t) => Out::Tx(t.bytes.to_vec(), t.urgent),
                ClientOutput::Data(intent) => Out::Data(intent),
                ClientOutput::StartTls => Out::StartTls,
                ClientOutput::StopTls => Out::StopTls,
                ClientOutput::Close => Out::Close,
                ClientOutput::Event(event) => Out::Event(event),
                other => panic!("unknown output {other:?}"),
            };
            self.transcript.push(out.clone());
            self.pending.push_back(out);
        }
    }

    // -- expectations ----------------------------------------------------------------------

    fn next(&mut self) -> Option<Out> {
        self.pending.pop_front()
    }

    /// The next output is the command `bytes`.
    #[track_caller]
    pub fn expect_tx(&mut self, bytes: &[u8]) {
        match self.next() {
            Some(Out::Tx(tx, false)) if tx == bytes => {}
            other => panic!(
                "expected Tx({:?}), got {}",
                String::from_utf8_lossy(bytes),
                show(other.as_ref())
            ),
        }
    }

    /// True when the next output is the command `bytes` (not consumed).
    pub fn peek_tx(&self, bytes: &[u8]) -> bool {
        matches!(self.pending.front(), Some(Out::Tx(tx, false)) if tx == bytes)
    }

    /// The next output is an urgent transmit of `bytes`.
    #[track_caller]
    pub fn expect_urgent(&mut self, bytes: &[u8]) {
        match self.next() {
            Some(Out::Tx(tx, true)) if tx == bytes => {}
            other => panic!("expected urgent {bytes:?}, got {}", show(other.as_ref())),
        }
    }

    #[track_caller]
    pub fn expect_out(&mut self, expected: Out) {
        let got = self.next();
        assert_eq!(got.as_ref(), Some(&expected), "got {}", show(got.as_ref()));
    }

    #[track_caller]
    pub fn expect_event(&mut self) -> ClientEvent {
        match self.next() {
            Some(Out::Event(event)) => event,
            other => panic!("expected an event, got {}", show(other.as_ref())),
        }
    }

    #[track_caller]
    pub fn expect_greeted(&mut self) {
        match self.expect_event() {
            ClientEvent::Greeted { .. } => {}
            other => panic!("expected Greeted, got {other:?}"),
        }
    }

    /// The next output completes `op`; returns its result.
    #[track_caller]
    pub fn expect_completed(&mut self, op: OpId) -> Result<OpOutput, OpError> {
        match self.expect_event() {
            ClientEvent::Completed { op: got, result } if got == op => result,
            other => panic!("expected Completed({op}), got {other:?}"),
        }
    }

    #[track_caller]
    pub fn expect_ok(&mut self, op: OpId) -> OpOutput {
        match self.expect_completed(op) {
            Ok(output) => output,
            Err(error) => panic!("{op} failed: {error:?}"),
        }
    }

    #[track_caller]
    pub fn expect_err(&mut self, op: OpId) -> OpError {
        match self.expect_completed(op) {
            Err(error) => error,
            Ok(output) => panic!("{op} succeeded: {output:?}"),
        }
    }

    /// The next output fails `op` with a reply of `code`.
    #[track_caller]
    pub fn expect_refused(&mut self, op: OpId, code: u16) {
        match self.expect_err(op) {
            OpError::Reply(reply) if reply.code().get() == code => {}
            other => panic!("expected a {code} refusal, got {other:?}"),
        }
    }

    #[track_caller]
    pub fn expect_data(&mut self) -> ClientDataIntent {
        match self.next() {
            Some(Out::Data(intent)) => intent,
            other => panic!("expected a data intent, got {}", show(other.as_ref())),
        }
    }

    /// The next output is `Connect` to `addr`; returns its id.
    #[track_caller]
    pub fn expect_connect(&mut self, addr: &str, tls: bool) -> DataConnId {
        match self.expect_data() {
            ClientDataIntent::Connect {
                id,
                addr: got,
                tls: t,
            } if got == addr.parse::<SocketAddr>().unwrap() && t == tls => id,
            other => panic!("expected Connect({addr}, tls {tls}), got {other:?}"),
        }
    }

    /// `Connect` answered by `Connected`.
    #[track_caller]
    pub fn connect(&mut self, addr: &str) -> DataConnId {
        self.connect_with(addr, false)
    }

    /// `Connect` (with `tls` as given) answered by `Connected`.
    #[track_caller]
    pub fn connect_with(&mut self, addr: &str, tls: bool) -> DataConnId {
        let id = self.expect_connect(addr, tls);
        self.expect_idle();
        self.data(
            id,
            ClientDataEvent::Connected {
                peer: addr.parse().unwrap(),
            },
        );
        id
    }

    /// The next outputs are `Start` for `id` and `TransferReady`.
    #[track_caller]
    pub fn expect_start(&mut self, id: DataConnId) {
        match self.expect_data() {
            ClientDataIntent::Start { id: got, .. } if got == id => {}
            other => panic!("expected Start({id}), got {other:?}"),
        }
        match self.expect_event() {
            ClientEvent::TransferReady { data, .. } if data == id => {}
            other => panic!("expected TransferReady, got {other:?}"),
        }
    }

    /// `Finished { bytes }` answered by `Close`, then `Closed`.
    #[track_caller]
    pub fn finish_data(&mut self, id: DataConnId, bytes: u64) {
        self.data(id, ClientDataEvent::Finished { bytes });
        self.expect_out(Out::Data(ClientDataIntent::Close { id }));
        self.data(id, ClientDataEvent::Closed);
    }

    #[track_caller]
    pub fn expect_abort(&mut self, id: DataConnId) {
        self.expect_out(Out::Data(ClientDataIntent::Abort { id }));
    }

    /// The next output is an `Abort` of some data connection.
    #[track_caller]
    pub fn expect_abort_any(&mut self) {
        match self.next() {
            Some(Out::Data(ClientDataIntent::Abort { .. })) => {}
            other => panic!("expected Abort, got {}", show(other.as_ref())),
        }
    }

    #[track_caller]
    pub fn expect_closed(&mut self) -> ftp_proto::client::CloseReason {
        let reason = match self.expect_event() {
            ClientEvent::Closed { reason } => reason,
            other => panic!("expected Closed, got {other:?}"),
        };
        self.expect_out(Out::Close);
        assert!(self.session.is_closed());
        assert_eq!(self.session.poll_timeout(), None);
        reason
    }

    /// Nothing is waiting.
    #[track_caller]
    pub fn expect_idle(&mut self) {
        assert!(
            self.pending.is_empty(),
            "unexpected outputs: {:?}",
            self.pending
                .iter()
                .map(|o| show(Some(o)))
                .collect::<Vec<_>>()
        );
    }

    pub fn take_all(&mut self) -> Vec<Out> {
        self.pending.drain(..).collect()
    }

    /// Every byte the client transmitted so far.
    pub fn transmitted(&self) -> Vec<u8> {
        self.transcript
            .iter()
            .filter_map(|o| match o {
                Out::Tx(t, _) => Some(t.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

pub fn show(out: Option<&Out>) -> String {
    match out {
        Some(Out::Tx(t, urgent)) => {
            format!(
                "Tx({:?}{})",
                String::from_utf8_lossy(t),
                if *urgent { ", urgent" } else { "" }
            )
        }
        Some(other) => format!("{other:?}"),
        None => "nothing".into(),
    }
}

/// Runs `script` whole, one byte at a time, and with every server chunk split at each offset
/// up to 64, and checks that every run produced the same transcript.
pub fn script(config: ClientConfig, script: impl Fn(&mut C)) {
    script_with(config, conn(), script)
}

pub fn script_with(config: ClientConfig, conn: ClientControlInfo, script: impl Fn(&mut C)) {
    let mut whole = C::new(config.clone(), conn, Feed::Whole);
    script(&mut whole);
    let feeds = std::iter::once(Feed::Bytewise).chain((1..=64).map(Feed::SplitAt));
    for feed in feeds {
        let mut other = C::new(config.clone(), conn, feed);
        script(&mut other);
        assert_eq!(
            whole.transcript, other.transcript,
            "feeding {feed:?} changed the outputs"
        );
    }
}

/// [`script`] after the greeting `220 ready`.
pub fn greeted(config: ClientConfig, f: impl Fn(&mut C)) {
    script(config, |c| {
        c.server(b"220 ready\r\n");
        c.expect_greeted();
        f(c)
    });
}

/// Config without FEAT after login, for short scripts.
pub fn plain() -> ClientConfig {
    ClientConfig {
        feat: false,
        ..ClientConfig::default()
    }
}

/// USER/PASS answered 331/230 (no FEAT: `plain()` config).
pub fn login(c: &mut C) {
    let op = c.op(|s| {
        s.login(ftp_proto::client::Credentials::new("u", "p"))
            .unwrap()
    });
    c.expect_tx(b"USER u\r\n");
    c.server(b"331 Password required\r\n");
    c.expect_tx(b"PASS p\r\n");
    c.server(b"230 Logged in\r\n");
    c.expect_ok(op);
}

/// [`greeted`] and logged in.
pub fn logged_in(config: ClientConfig, f: impl Fn(&mut C)) {
    greeted(config, |c| {
        login(c);
        f(c)
    });
}
