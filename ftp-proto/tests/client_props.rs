//! Property tests for `ClientSession`:
//!
//! * no sequence of reply bytes, operations and driver events (including stale and forged ids)
//!   panics;
//! * the output queue and the buffered input stay bounded;
//! * after every `handle_timeout(t)`, `poll_timeout()` is `None` or later than `t`;
//! * nothing is emitted after `Close`; every operation completes at most once, and all of them
//!   once the session is closed;
//! * `Start` only for a data connection reported connected, the transfer command only after
//!   `Connected` (passive) or `Listening` (active);
//! * how the reply stream is split into reads never changes the outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ftp_proto::client::{
    ClientConfig, ClientControlInfo, ClientDataEvent, ClientDataIntent, ClientEvent, ClientOutput,
    ClientSession, Credentials, DataConnId, DataFailure, DataMode, ListKind, OpId, StoreKind,
};
use ftp_proto::reply::ReplyConfig;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Generators

/// Replies real servers send, and some they should not.
const REPLIES: &[&[u8]] = &[
    b"220 ready\r\n",
    b"220-multi\r\n220 ready\r\n",
    b"120 Service ready in 1 minutes.\r\n",
    b"421 closing\r\n",
    b"331 need password\r\n",
    b"332 need account\r\n",
    b"230 logged in\r\n",
    b"230-motd\r\n  230 pad\r\n230 ok\r\n",
    b"530 denied\r\n",
    b"211-Features:\r\n MLST type*;size*;\r\n UTF8\r\n EPSV\r\n211 End\r\n",
    b"211 no features\r\n",
    b"200 ok\r\n",
    b"200 MLST OPTS\r\n",
    b"504 no\r\n",
    b"250 ok\r\n",
    b"257 \"/a\"\"b\" created\r\n",
    b"257 unquoted\r\n",
    b"350 pending\r\n",
    b"213 1830\r\n",
    b"213 19980615100045.014\r\n",
    b"213 garbage\r\n",
    b"229 Entering Extended Passive Mode (|||6446|)\r\n",
    b"229 (|||70000|)\r\n",
    b"227 Entering Passive Mode (10,0,0,5,195,80).\r\n",
    b"227 nonsense\r\n",
    b"500 unknown\r\n",
    b"502 not implemented\r\n",
    b"150 Opening data connection (12 bytes).\r\n",
    b"125 Data connection already open\r\n",
    b"110 MARK R1 = 5\r\n",
    b"150 FILE: u.1\r\n",
    b"226 Transfer complete.\r\n",
    b"226-stats\r\n226 done\r\n",
    b"225 no transfer\r\n",
    b"426 aborted\r\n",
    b"425 no data connection\r\n",
    b"451 local error\r\n",
    b"550 not found\r\n",
    b"234 Proceed\r\n",
    b"221 Goodbye.\r\n",
    b"553-glftpd\r\n553- x\r\n150 Opening\r\n",
    b"250-x\n250 bare lf\n",
    b"garbage\r\n",
    b"2000 bad\r\n",
    b"\xff\xfb\x01",
    b"",
];

#[derive(Clone, Debug)]
enum Action {
    /// Reply bytes: dictionary pieces and arbitrary bytes, concatenated.
    Input(Vec<u8>),
    Eof,
    /// An event for the `n`-th data connection the session asked for (or a forged id).
    Data(usize, u8),
    Tls,
    Timeout(u32),
    Op(u8),
    Abort(usize),
    /// A reply that fits the last command sent (a plausible server).
    Respond(u8),
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(REPLIES).prop_map(<[u8]>::to_vec),
            1 => prop::collection::vec(any::<u8>(), 0..24),
        ],
        1..4,
    )
    .prop_map(|parts| parts.concat())
}

/// Well-formed replies only, so dialogues get deep (transfers, aborts, TLS).
fn clean_input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(&REPLIES[..REPLIES.len() - 4]).prop_map(<[u8]>::to_vec),
        1..3,
    )
    .prop_map(|parts| parts.concat())
}

fn clean_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => clean_input().prop_map(Action::Input),
        12 => any::<u8>().prop_map(Action::Respond),
        6 => (0..2usize, any::<u8>()).prop_map(|(n, k)| Action::Data(n, k)),
        1 => Just(Action::Tls),
        1 => (0..20_000u32).prop_map(Action::Timeout),
        4 => any::<u8>().prop_map(Action::Op),
        1 => (0..3usize).prop_map(Action::Abort),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => input().prop_map(Action::Input),
        1 => Just(Action::Eof),
        4 => (0..6usize, any::<u8>()).prop_map(|(n, k)| Action::Data(n, k)),
        1 => Just(Action::Tls),
        2 => (0..200_000u32).prop_map(Action::Timeout),
        5 => any::<u8>().prop_map(Action::Op),
        1 => (0..8usize).prop_map(Action::Abort),
    ]
}

fn config(flags: u8) -> ClientConfig {
    ClientConfig {
        reply: ReplyConfig {
            max_line_len: 64,
            max_lines: 8,
            max_buffered: 512,
            ..ReplyConfig::default()
        },
        keepalive: (flags & 1 != 0).then(|| Duration::from_secs(30)),
        data_mode: if flags & 2 != 0 {
            DataMode::Active
        } else {
            DataMode::Passive
        },
        epsv: flags & 4 == 0,
        feat: flags & 8 == 0,
        abort_with_telnet_sync: flags & 16 == 0,
        ..ClientConfig::default()
    }
}

fn conn(flags: u8) -> ClientControlInfo {
    ClientControlInfo {
        implicit_tls: flags & 32 != 0,
        ..ClientControlInfo::new(
            "198.51.100.7:50000".parse().unwrap(),
            "192.0.2.1:21".parse().unwrap(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The driver

#[allow(clippy::disallowed_methods)]
fn epoch() -> Instant {
    Instant::now()
}

/// Drives a session and checks the invariants after every call.
struct Driver {
    session: ClientSession,
    now: Instant,
    /// Data connections in the order the session asked for them.
    data: Vec<DataConnId>,
    connected: BTreeSet<DataConnId>,
    /// Data connections asked for with `tls: true`, and those whose handshake was asked for.
    tls: BTreeSet<DataConnId>,
    handshaken: BTreeSet<DataConnId>,
    ops: Vec<OpId>,
    completed: BTreeMap<OpId, usize>,
    /// The verb of the last command sent.
    last_verb: Vec<u8>,
    /// What a well-behaved driver reports next for each data connection.
    natural: BTreeMap<DataConnId, ClientDataEvent>,
    closed: bool,
    transcript: Vec<ClientOutput>,
}

impl Driver {
    fn new(flags: u8) -> Self {
        let now = epoch();
        let mut driver = Self {
            session: ClientSession::new(config(flags), conn(flags), now),
            now,
            data: vec![],
            connected: BTreeSet::new(),
            tls: BTreeSet::new(),
            handshaken: BTreeSet::new(),
            ops: vec![],
            completed: BTreeMap::new(),
            last_verb: vec![],
            natural: BTreeMap::new(),
            closed: false,
            transcript: vec![],
        };
        driver.drain();
        driver
    }

    fn drain(&mut self) {
        let pending = self.ops.len() - self.completed.len();
        assert!(
            self.session.queued_outputs() <= 64 + pending,
            "output queue grew"
        );
        assert!(
            self.session.buffered_input() <= 512 + 64 * 10,
            "input buffer grew"
        );
        while let Some(output) = self.session.poll_output() {
            assert!(!self.closed, "output after Close: {output:?}");
            match &output {
                ClientOutput::Data(ClientDataIntent::Connect { id, addr, tls }) => {
                    if *tls {
                        self.tls.insert(*id);
                    }
                    self.data.push(*id);
                    let event = ClientDataEvent::Connected { peer: *addr };
                    self.natural.insert(*id, event);
                }
                ClientOutput::Data(ClientDataIntent::Listen { id, ip, tls, .. }) => {
                    if *tls {
                        self.tls.insert(*id);
                    }
                    self.data.push(*id);
                    let local = SocketAddr::new(*ip, 41000);
                    self.natural
                        .insert(*id, ClientDataEvent::Listening { local });
                }
                ClientOutput::Data(ClientDataIntent::Handshake { id }) => {
                    assert!(self.tls.contains(id), "Handshake without tls");
                    assert!(self.connected.contains(id), "Handshake before Connected");
                    assert!(self.handshaken.insert(*id), "Handshake twice");
                }
                ClientOutput::Data(ClientDataIntent::Start { id, .. }) => {
                    assert!(self.connected.contains(id), "Start before Connected");
                    assert!(
                        !self.tls.contains(id) || self.handshaken.contains(id),
                        "Start before Handshake"
                    );
                    self.natural
                        .insert(*id, ClientDataEvent::Finished { bytes: 7 });
                }
                ClientOutput::Data(ClientDataIntent::Close { id }) => {
                    self.natural.insert(*id, ClientDataEvent::Closed);
                }
                ClientOutput::Data(ClientDataIntent::Abort { id }) => {
                    self.natural.remove(id);
                }
                ClientOutput::Event(ClientEvent::Completed { op, .. }) => {
                    *self.completed.entry(*op).or_default() += 1;
                    assert_eq!(self.completed[op], 1, "{op} completed twice");
                }
                ClientOutput::Close => self.closed = true,
                ClientOutput::Transmit(t) => {
                    let line: Vec<u8> =
                        t.bytes.iter().copied().skip_while(|&b| b >= 0x80).collect();
                    self.last_verb = line
                        .iter()
                        .copied()
                        .take_while(u8::is_ascii_alphabetic)
                        .collect();
                }
                _ => {}
            }
            self.transcript.push(output);
        }
        assert_eq!(self.closed, self.session.is_closed());
    }

    fn apply(&mut self, action: &Action) {
        match action {
            Action::Input(bytes) => self.session.handle_input(self.now, bytes),
            Action::Eof => self.session.handle_eof(self.now),
            Action::Data(n, kind) => {
                let id = self
                    .data
                    .iter()
                    .rev()
                    .nth(*n)
                    .copied()
                    .unwrap_or(DataConnId::from_raw(9_999));
                let natural = self.natural.get(&id).cloned();
                let event = match natural {
                    Some(ClientDataEvent::Listening { .. })
                        if self.session.current_op().is_some() && kind % 4 != 0 =>
                    {
                        // After Listening, the server's connection comes later.
                        let event = natural.clone().unwrap_or(ClientDataEvent::Closed);
                        self.natural.insert(
                            id,
                            ClientDataEvent::Connected {
                                peer: server_peer(),
                            },
                        );
                        event
                    }
                    Some(event) if kind % 4 != 0 => event,
                    _ => data_event(*kind),
                };
                if matches!(event, ClientDataEvent::Connected { .. }) {
                    self.connected.insert(id);
                }
                self.session.handle_data_event(self.now, id, event);
            }
            Action::Tls => self.session.handle_tls_established(self.now),
            Action::Timeout(ms) => {
                self.now += Duration::from_millis(u64::from(*ms));
                self.session.handle_timeout(self.now);
                self.drain();
                if let Some(next) = self.session.poll_timeout() {
                    assert!(
                        next > self.now,
                        "deadline not in the future after handle_timeout"
                    );
                }
                return;
            }
            Action::Op(kind) => {
                if let Ok(op) = op(&mut self.session, *kind) {
                    self.ops.push(op);
                }
            }
            Action::Abort(n) => {
                if let Some(op) = self.ops.iter().rev().nth(*n).copied() {
                    let _ = self.session.abort(op);
                }
            }
            Action::Respond(choice) => {
                // A plausible server answers only while a command waits.
                if self.session.current_op().is_some() {
                    let reply = respond(&self.last_verb, *choice);
                    self.session.handle_input(self.now, reply);
                }
            }
        }
        self.drain();
    }

    fn finish(&mut self) {
        // Closing settles every operation.
        self.session.handle_eof(self.now);
        self.drain();
        for op in &self.ops {
            assert_eq!(self.completed.get(op), Some(&1), "{op} never completed");
        }
        assert_eq!(self.session.poll_timeout(), None);
    }
}

/// A reply a server could send to `verb`; now and then a 421.
fn respond(verb: &[u8], choice: u8) -> &'static [u8] {
    let options: &[&[u8]] = match verb {
        b"USER" => &[b"331 pw\r\n", b"230 in\r\n", b"332 acct\r\n", b"530 no\r\n"],
        b"PASS" => &[
            b"230 in\r\n",
            b"202 already\r\n",
            b"332 acct\r\n",
            b"530 no\r\n",
        ],
        b"ACCT" => &[b"230 in\r\n", b"530 no\r\n"],
        b"FEAT" => &[
            b"211-Features:\r\n MLST type*;size*;\r\n UTF8\r\n REST STREAM\r\n211 End\r\n",
            b"211 No features\r\n",
            b"500 unknown\r\n",
        ],
        b"OPTS" | b"TYPE" | b"MODE" | b"STRU" | b"PBSZ" | b"PORT" => {
            &[b"200 ok\r\n", b"200 ok\r\n", b"504 no\r\n"]
        }
        b"HOST" => &[b"220 host ok\r\n", b"502 no\r\n", b"504 unknown\r\n"],
        b"AUTH" => &[b"234 go\r\n", b"234 go\r\n", b"502 no\r\n"],
        b"PROT" => &[b"200 ok\r\n", b"536 no\r\n"],
        b"CCC" => &[b"200 ok\r\n", b"533 no\r\n"],
        b"EPSV" => &[
            b"229 Entering Extended Passive Mode (|||6446|)\r\n",
            b"229 Entering Extended Passive Mode (|||6447|)\r\n",
            b"500 unknown\r\n",
            b"425 no\r\n",
            b"229 (|||0|)\r\n",
        ],
        b"PASV" => &[
            b"227 Entering Passive Mode (10,0,0,5,195,80).\r\n",
            b"227 Entering Passive Mode (192,0,2,1,25,46)\r\n",
            b"227 nothing\r\n",
            b"502 no\r\n",
        ],
        b"EPRT" => &[
            b"200 ok\r\n",
            b"200 ok\r\n",
            b"502 no\r\n",
            b"522 proto\r\n",
        ],
        b"REST" => &[b"350 restarting\r\n", b"350 restarting\r\n", b"502 no\r\n"],
        b"RETR" | b"STOR" | b"APPE" | b"STOU" | b"LIST" | b"NLST" | b"MLSD" => &[
            b"150 Opening (12 bytes)\r\n",
            b"125 already open\r\n",
            b"150 FILE: u.1\r\n",
            b"226 done\r\n",
            b"250 done\r\n",
            b"110 MARK R1 = 5\r\n",
            b"150 go\r\n226 done\r\n",
            b"550 not found\r\n",
            b"425 no data\r\n",
            b"426 aborted\r\n",
        ],
        b"ABOR" => &[
            b"426 aborted\r\n226 abort ok\r\n",
            b"226 done\r\n226 abort ok\r\n",
            b"226 abort ok\r\n",
            b"225 no transfer\r\n",
            b"500 ABOR?\r\n",
        ],
        b"RNFR" => &[b"350 ready\r\n", b"550 no\r\n"],
        b"RNTO" => &[b"250 renamed\r\n", b"553 no\r\n"],
        b"CWD" | b"CDUP" | b"DELE" | b"RMD" => &[b"250 ok\r\n", b"200 ok\r\n", b"550 no\r\n"],
        b"MKD" | b"PWD" => &[b"257 \"/a\"\"b\" ok\r\n", b"257 plain\r\n", b"550 no\r\n"],
        b"SIZE" => &[b"213 1830\r\n", b"213 x\r\n", b"550 no\r\n"],
        b"MDTM" => &[b"213 19980615100045.014\r\n", b"550 no\r\n"],
        b"MLST" => &[
            b"250- Listing f\r\n type=file; f\r\n250 End\r\n",
            b"550 no\r\n",
        ],
        b"STAT" => &[b"211-Status\r\n x\r\n211 End\r\n", b"213 ok\r\n"],
        b"QUIT" => &[b"221 bye\r\n"],
        _ => &[b"200 ok\r\n", b"500 unknown\r\n"],
    };
    if choice == 255 {
        return b"421 closing\r\n";
    }
    options[usize::from(choice) % options.len()]
}

fn server_peer() -> SocketAddr {
    "192.0.2.1:20".parse().unwrap()
}

fn data_event(kind: u8) -> ClientDataEvent {
    let addr: SocketAddr = "192.0.2.1:6446".parse().unwrap();
    match kind % 8 {
        0 => ClientDataEvent::Listening {
            local: "198.51.100.7:41000".parse().unwrap(),
        },
        1 | 2 => ClientDataEvent::Connected { peer: addr },
        3 => ClientDataEvent::Connected {
            peer: "203.0.113.9:20".parse().unwrap(),
        },
        4 | 5 => ClientDataEvent::Finished {
            bytes: u64::from(kind),
        },
        6 => ClientDataEvent::Closed,
        _ => ClientDataEvent::Failed(DataFailure::Reset),
    }
}

fn op(session: &mut ClientSession, kind: u8) -> Result<OpId, ftp_proto::client::UsageError> {
    let path = || Bytes::from_static(b"f");
    // Transfers are the interesting part: half of the picks.
    let kind = match kind % 40 {
        20..=27 => 14 + kind % 3,
        28..=38 => 15,
        39 => 18,
        k => k % 18,
    };
    match kind {
        0 => session.login(Credentials::new("u", "p").with_account("a")),
        1 => session.auth_tls(),
        2 => session.ccc(),
        3 => session.feat(),
        4 => session.cwd("d"),
        5 => session.cdup(),
        6 => session.pwd(),
        7 => session.mkdir("d"),
        8 => session.rename("a", "b"),
        9 => session.size("f"),
        10 => session.mdtm("f"),
        11 => session.mlst(Some(path())),
        12 => session.stat(None),
        13 => session.raw_line("SITE X"),
        14 => session.list(None, ListKind::Auto),
        15 => session.retrieve("f", u64::from(kind / 20)),
        16 => session.store("f", StoreKind::Replace, u64::from(kind % 3)),
        17 => session.store("f", StoreKind::Unique, 0),
        18 => session.quit(),
        _ => session.noop(),
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn client_never_panics_and_keeps_its_invariants(
        flags in any::<u8>(),
        actions in prop::collection::vec(action(), 0..60),
    ) {
        let mut driver = Driver::new(flags);
        for action in &actions {
            driver.apply(action);
        }
        driver.finish();
    }

    #[test]
    fn client_deep_dialogues_keep_their_invariants(
        flags in any::<u8>(),
        actions in prop::collection::vec(clean_action(), 0..120),
    ) {
        let mut driver = Driver::new(flags);
        driver.apply(&Action::Input(b"220 ready\r\n".to_vec()));
        driver.apply(&Action::Op(0));
        for action in &actions {
            driver.apply(action);
        }
        driver.finish();
    }

    #[test]
    fn client_reply_split_invariance(
        flags in any::<u8>(),
        actions in prop::collection::vec(action(), 0..40),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut whole = Driver::new(flags);
        for action in &actions {
            whole.apply(action);
        }
        let mut split = Driver::new(flags);
        for action in &actions {
            match action {
                Action::Input(bytes) if !bytes.is_empty() => {
                    let mut points: Vec<usize> =
                        cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
                    points.push(0);
                    points.push(bytes.len());
                    points.sort_unstable();
                    points.dedup();
                    for pair in points.windows(2) {
                        split.apply(&Action::Input(bytes[pair[0]..pair[1]].to_vec()));
                    }
                }
                other => split.apply(other),
            }
        }
        prop_assert_eq!(whole.transcript, split.transcript);
    }
}

#[test]
fn client_props_deep_dialogues_reach_transfers() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut starts, mut transfers, mut aborts) = (0, 0, 0);
    for _ in 0..300 {
        let actions = prop::collection::vec(clean_action(), 0..120)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut d = Driver::new(0);
        d.apply(&Action::Input(b"220 ready\r\n".to_vec()));
        d.apply(&Action::Op(0));
        for a in &actions {
            d.apply(a);
        }
        for output in &d.transcript {
            match output {
                ClientOutput::Data(ClientDataIntent::Start { .. }) => starts += 1,
                ClientOutput::Event(ClientEvent::Completed {
                    result: Ok(ftp_proto::client::OpOutput::Transfer(_)),
                    ..
                }) => transfers += 1,
                ClientOutput::Transmit(t) if t.bytes.ends_with(b"ABOR\r\n") => aborts += 1,
                _ => {}
            }
        }
    }
    // The generator is worth something only if it gets this deep.
    eprintln!("starts {starts}, transfers {transfers}, aborts {aborts}");
    assert!(
        starts > 50 && transfers > 3 && aborts > 2,
        "{starts} {transfers} {aborts}"
    );
}
