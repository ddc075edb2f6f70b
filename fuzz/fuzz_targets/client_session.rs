//! Drives a `ClientSession` with inputs decoded from the fuzzer's bytes: operations the
//! application asks for (with fuzzed arguments), reply chunks (raw, or replies from a dictionary
//! with fuzzed text, or a reply that fits the last command sent), data-connection events for
//! current, old and forged ids, TLS, end of stream, aborts, and timer expiry with time moving
//! forward. After every input it drains all outputs and checks the session's invariants:
//!
//! * the output queue and buffered input stay bounded;
//! * after `handle_timeout(t)`, `poll_timeout()` is `None` or later than `t`;
//! * nothing is emitted after `Close`; every operation completes at most once, and every one
//!   has completed once the session is closed;
//! * `Start` only for a data connection reported connected; nothing is transmitted while the
//!   TLS handshake after `234` runs.
//!
//! Harness version 1 (bump it and re-minimise corpora when the decoding changes).

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ftp_proto::client::{
    ClientConfig, ClientControlInfo, ClientDataEvent, ClientDataIntent, ClientEvent, ClientOutput,
    ClientSession, Credentials, DataConnId, DataFailure, DataMode, ListKind, OpId,
    PasvAddressPolicy, StoreKind,
};
use ftp_proto::command::HostName;
use ftp_proto::reply::ReplyConfig;
use libfuzzer_sys::fuzz_target;

const REPLIES: &[&[u8]] = &[
    b"220 ",
    b"220-",
    b"120 Service ready in 2 minutes.",
    b"421 ",
    b"331 ",
    b"332 ",
    b"230 ",
    b"230-",
    b"202 ",
    b"530 ",
    b"211-Features:\r\n MLST type*;size*;\r\n UTF8\r\n211 End",
    b"211 ",
    b"200 ",
    b"504 ",
    b"250 ",
    b"257 \"/a\"\"b\" ",
    b"350 ",
    b"213 1830",
    b"213 19980615100045.014",
    b"229 Entering Extended Passive Mode (|||6446|)",
    b"227 Entering Passive Mode (10,0,0,5,195,80).",
    b"500 ",
    b"502 ",
    b"522 ",
    b"150 ",
    b"125 ",
    b"110 MARK R1 = 5",
    b"150 FILE: ",
    b"226 ",
    b"226-",
    b"225 ",
    b"426 ",
    b"425 ",
    b"451 ",
    b"550 ",
    b"234 ",
    b"221 ",
    b"553-x\r\n150 ",
    b"250- Listing\r\n type=file; f\r\n250 ",
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

fn config(flags: u8, more: u8) -> ClientConfig {
    ClientConfig {
        reply: if flags & 1 != 0 {
            ReplyConfig {
                max_line_len: 64,
                max_lines: 8,
                max_buffered: 512,
                ..ReplyConfig::default()
            }
        } else {
            ReplyConfig::default()
        },
        reply_timeout: Duration::from_secs(u64::from(flags % 5) * 10),
        data_timeout: Duration::from_secs(u64::from(more % 4) * 5),
        keepalive: (flags & 2 != 0).then(|| Duration::from_secs(30)),
        abort_grace: Duration::from_millis(u64::from(more % 3) * 1500),
        data_mode: if flags & 4 != 0 {
            DataMode::Active
        } else {
            DataMode::Passive
        },
        epsv: flags & 8 == 0,
        eprt: flags & 16 == 0,
        pasv_address: match more % 3 {
            0 => PasvAddressPolicy::UseControlPeer,
            1 => PasvAddressPolicy::TrustReply,
            _ => PasvAddressPolicy::TrustUnlessUnroutable,
        },
        host: (flags & 32 != 0).then(|| HostName::Domain("ftp.example.com".into())),
        feat: flags & 64 == 0,
        protect_data: more & 8 == 0,
        abort_with_telnet_sync: flags & 128 == 0,
        ..ClientConfig::default()
    }
}

/// A reply that fits the verb of the last command sent.
fn fitting_reply(verb: &[u8], choice: u8) -> &'static [u8] {
    let options: &[&[u8]] = match verb {
        b"USER" => &[b"331 pw", b"230 in", b"332 acct", b"530 no"],
        b"PASS" | b"ACCT" => &[b"230 in", b"202 ok", b"332 acct", b"530 no"],
        b"AUTH" => &[b"234 go", b"502 no"],
        b"EPSV" => &[b"229 (|||6446|)", b"500 no", b"229 (|||0|)"],
        b"PASV" => &[b"227 (192,0,2,1,25,46)", b"227 x", b"502 no"],
        b"REST" | b"RNFR" => &[b"350 ok", b"502 no"],
        b"RETR" | b"STOR" | b"APPE" | b"STOU" | b"LIST" | b"NLST" | b"MLSD" => &[
            b"150 go (12 bytes)",
            b"125 open",
            b"226 done",
            b"150 go\r\n226 done",
            b"550 no",
        ],
        b"ABOR" => &[
            b"426 x\r\n226 ok",
            b"226 ok",
            b"225 none",
            b"226 a\r\n226 b",
        ],
        b"PWD" | b"MKD" => &[b"257 \"/x\" ok", b"550 no"],
        b"QUIT" => &[b"221 bye"],
        _ => &[b"200 ok", b"250 ok", b"213 5", b"211 x", b"500 no"],
    };
    options[usize::from(choice) % options.len()]
}

struct Driver {
    session: ClientSession,
    now: Instant,
    data: Vec<DataConnId>,
    connected: BTreeSet<DataConnId>,
    /// Data connections asked for with `tls: true`, and those whose handshake was asked for.
    tls: BTreeSet<DataConnId>,
    handshaken: BTreeSet<DataConnId>,
    ops: Vec<OpId>,
    completed: BTreeMap<OpId, u8>,
    closed: bool,
    handshake: bool,
    last_verb: Vec<u8>,
    max_buffered: usize,
}

impl Driver {
    fn drain(&mut self) {
        loop {
            // Beyond the high-water mark only completions of queued operations may pile up.
            let pending = self.ops.len() - self.completed.len();
            assert!(self.session.queued_outputs() <= 64 + pending);
            let Some(output) = self.session.poll_output() else {
                break;
            };
            assert!(!self.closed, "output after Close: {output:?}");
            match &output {
                ClientOutput::Transmit(t) => {
                    assert!(!self.handshake, "transmit during the TLS handshake");
                    let line: Vec<u8> =
                        t.bytes.iter().copied().skip_while(|&b| b >= 0x80).collect();
                    self.last_verb = line
                        .into_iter()
                        .take_while(u8::is_ascii_alphabetic)
                        .collect();
                }
                ClientOutput::StartTls => self.handshake = true,
                ClientOutput::Data(ClientDataIntent::Connect { id, tls, .. })
                | ClientOutput::Data(ClientDataIntent::Listen { id, tls, .. }) => {
                    if *tls {
                        self.tls.insert(*id);
                    }
                    self.data.push(*id);
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
                }
                ClientOutput::Event(ClientEvent::Completed { op, .. }) => {
                    let count = self.completed.entry(*op).or_default();
                    *count += 1;
                    assert_eq!(*count, 1, "{op} completed twice");
                }
                ClientOutput::Close => self.closed = true,
                _ => {}
            }
        }
        assert!(self.session.buffered_input() <= self.max_buffered);
        assert_eq!(self.closed, self.session.is_closed());
        if self.closed {
            for op in &self.ops {
                assert_eq!(self.completed.get(op), Some(&1), "{op} never completed");
            }
        }
    }

    fn timeout(&mut self) {
        self.session.handle_timeout(self.now);
        self.drain();
        if let Some(next) = self.session.poll_timeout() {
            assert!(next > self.now);
        }
    }

    fn pick_data(&self, selector: u8) -> DataConnId {
        match selector % 4 {
            0 | 1 => self.data.last().copied().unwrap_or(DataConnId::from_raw(1)),
            2 if !self.data.is_empty() => self.data[usize::from(selector / 4) % self.data.len()],
            _ => DataConnId::from_raw(u64::from(selector)),
        }
    }

    fn op(&mut self, input: &mut Input<'_>) {
        let kind = input.byte();
        let arg = input.take(12).to_vec();
        let offset = u64::from(input.byte() % 4) * 100;
        let s = &mut self.session;
        let result = match kind % 24 {
            0 | 1 => s.login(Credentials::new(arg.clone(), "p").with_account("a")),
            2 => s.auth_tls(),
            3 => s.ccc(),
            4 => s.feat(),
            5 => s.cwd(arg),
            6 => s.cdup(),
            7 => s.pwd(),
            8 => s.mkdir(arg),
            9 => s.rename(arg, "b"),
            10 => s.size(arg),
            11 => s.mdtm(arg),
            12 => s.mlst(Some(arg.into())),
            13 => s.stat(None),
            14 => s.raw_line(arg),
            // With a path, LIST goes into the folder and back (PWD, CWD, LIST, CWD).
            15 | 16 => s.list(
                (kind & 0x80 != 0).then(|| arg.clone().into()),
                [
                    ListKind::Auto,
                    ListKind::Mlsd,
                    ListKind::List,
                    ListKind::Nlst,
                ][usize::from(kind / 24) % 4],
            ),
            17 | 18 => s.retrieve(arg, offset),
            19 => s.store(arg, StoreKind::Replace, offset),
            20 => s.store(arg, StoreKind::Append, offset),
            21 => s.store(arg, StoreKind::Unique, 0),
            22 => s.quit(),
            _ => s.noop(),
        };
        if let Ok(op) = result {
            self.ops.push(op);
        }
        self.drain();
    }

    fn step(&mut self, input: &mut Input<'_>) {
        match input.byte() % 12 {
            0 | 1 => {
                let chunk = input.take(80).to_vec();
                self.session.handle_input(self.now, &chunk);
                self.drain();
            }
            2 | 3 => {
                let mut reply = REPLIES[usize::from(input.byte()) % REPLIES.len()].to_vec();
                reply.extend_from_slice(input.take(16));
                reply.extend_from_slice(b"\r\n");
                self.session.handle_input(self.now, &reply);
                self.drain();
            }
            4 => {
                let mut reply = fitting_reply(&self.last_verb, input.byte()).to_vec();
                reply.extend_from_slice(b"\r\n");
                self.session.handle_input(self.now, &reply);
                self.drain();
            }
            5 | 6 => self.op(input),
            7 | 8 => {
                let id = self.pick_data(input.byte());
                let event = data_event(input);
                if matches!(event, ClientDataEvent::Connected { .. }) {
                    self.connected.insert(id);
                }
                self.session.handle_data_event(self.now, id, event);
                self.drain();
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
                    0..=3 => {
                        self.handshake = false;
                        self.session.handle_tls_established(self.now);
                    }
                    4 | 5 => {
                        let n = usize::from(input.byte());
                        if let Some(op) = self.ops.iter().rev().nth(n % 4).copied() {
                            let _ = self.session.abort(op);
                        }
                    }
                    _ => self.session.handle_eof(self.now),
                }
                self.drain();
            }
        }
    }
}

fn data_event(input: &mut Input<'_>) -> ClientDataEvent {
    const ADDRS: [&str; 5] = [
        "192.0.2.1:6446",
        "198.51.100.7:40000",
        "203.0.113.66:1",
        "[2001:db8::1]:6000",
        "[::ffff:192.0.2.1]:20",
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
    match input.byte() % 6 {
        0 => ClientDataEvent::Listening { local: addr },
        1 | 2 => ClientDataEvent::Connected { peer: addr },
        3 => ClientDataEvent::Finished {
            bytes: u64::from(input.u16()),
        },
        4 => ClientDataEvent::Closed,
        _ => ClientDataEvent::Failed(FAILURES[usize::from(input.byte()) % FAILURES.len()]),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (flags, more) = (input.byte(), input.byte());
    let config = config(flags, more);
    let reply = config.reply;
    let max_buffered =
        reply.max_buffered + reply.max_line_len * (reply.max_lines + 2) + reply.max_line_len * 8;
    let conn = ClientControlInfo {
        implicit_tls: more & 16 != 0,
        ..ClientControlInfo::new(
            "198.51.100.7:50000".parse().unwrap(),
            "192.0.2.1:21".parse().unwrap(),
        )
    };
    let now = Instant::now();
    let mut driver = Driver {
        session: ClientSession::new(config, conn, now),
        now,
        data: vec![],
        connected: BTreeSet::new(),
        tls: BTreeSet::new(),
        handshaken: BTreeSet::new(),
        ops: vec![],
        completed: BTreeMap::new(),
        closed: false,
        handshake: false,
        last_verb: vec![],
        max_buffered,
    };
    driver.drain();
    let mut steps = 0;
    while !input.is_empty() && steps < 512 {
        driver.step(&mut input);
        steps += 1;
    }
    driver.session.handle_eof(driver.now);
    driver.drain();
    assert!(driver.closed);
});
