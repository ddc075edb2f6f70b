//! An in-memory pair: a `ClientSession` wired to a `ServerSession` (quinn's `Pair`, str0m's
//! `progress`), with a simulated clock, simulated data links and an in-memory store.
//!
//! * **Control link**: each side's `Transmit` bytes are delivered to the other, whole or one
//!   byte at a time ([`Chunking`]). `Close` becomes the other side's end of stream. TLS is
//!   "established" when both sides have asked for `StartTls`.
//! * **Data fabric** ([`Fabric`]): server listeners and client listeners get ports; a client
//!   `Connect` (or server `Connect`) reaches the listener on that port, and both sides get
//!   `Connected`. Bytes move only when the server's storage task and the client's `Start` both
//!   exist: the server side encodes from the store with the `transfer` transcoders (TYPE A,
//!   MODE B) as its storage request's params say, the client side decodes as its `Start` says,
//!   and vice versa for uploads. Refused connects, dropped connections, stalls and held ends
//!   can be injected.
//! * **Store** ([`MemStore`]): a `BTreeMap` of files and a set of directories, answering the
//!   server's storage requests.
//! * **Clock**: nothing moves time but [`Pair::fire`], which jumps to the earliest deadline of
//!   either side.
//!
//! Everything that happens is written to [`Pair::log`] in order, for assertions about order
//! (TLS intents, ABOR, ...).

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ftp_proto::client::{
    self, ClientConfig, ClientControlInfo, ClientDataEvent, ClientDataIntent, ClientEvent,
    ClientOutput, ClientSession, Direction, OpError, OpId, OpOutput, TransferParams,
};
use ftp_proto::path::VirtualPath;
use ftp_proto::server::{
    self, AuthFailure, FileKind, ListFormat, Metadata, Principal, ServerConfig, ServerControlInfo,
    ServerDataEvent, ServerDataIntent, ServerEvent, ServerOutput, ServerSession, StorageError,
    StorageErrorKind, StorageOpId, StorageRequest, StorageResponse, StoreMode,
};
use ftp_proto::transfer::{
    BlockDecoder, BlockEncoder, LineEnding, TransferMode, TypeDecoder, TypeEncoder,
};
use ftp_proto::Timestamp;

pub const SERVER_IP: &str = "192.0.2.1";
pub const CLIENT_IP: &str = "198.51.100.7";

pub fn server_control() -> SocketAddr {
    format!("{SERVER_IP}:21").parse().unwrap()
}

pub fn client_control() -> SocketAddr {
    format!("{CLIENT_IP}:50000").parse().unwrap()
}

/// An arbitrary base instant for the simulated clock (the sessions never read the clock).
#[allow(clippy::disallowed_methods)]
pub fn epoch() -> Instant {
    Instant::now()
}

/// How control bytes cross the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunking {
    Whole,
    Bytewise,
}

/// The server configuration the pair tests use: user `alice`/`secret`, anonymous read-only,
/// TLS, MODE B, no login delay.
pub fn server_config() -> ServerConfig {
    ServerConfig {
        anonymous: server::AnonymousPolicy::ReadOnly,
        failed_login_delay: Duration::ZERO,
        block_mode: true,
        tls: server::TlsPolicy {
            enabled: true,
            allow_ccc: true,
            ..server::TlsPolicy::default()
        },
        ..ServerConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The store

/// Files and directories by absolute path.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    pub files: BTreeMap<Vec<u8>, Vec<u8>>,
    pub dirs: BTreeSet<Vec<u8>>,
    pub modified: BTreeMap<Vec<u8>, Timestamp>,
    unique: u32,
}

impl MemStore {
    pub fn new() -> Self {
        let mut store = Self::default();
        store.dirs.insert(b"/".to_vec());
        store
    }

    pub fn put(&mut self, path: &str, bytes: &[u8]) {
        self.files.insert(path.as_bytes().to_vec(), bytes.to_vec());
    }

    pub fn mkdir(&mut self, path: &str) {
        self.dirs.insert(path.as_bytes().to_vec());
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path.as_bytes()).map(Vec::as_slice)
    }

    fn parent_exists(&self, path: &VirtualPath) -> bool {
        let parent = path.parent().unwrap_or_default();
        self.dirs.contains(parent.as_bytes())
    }

    fn children(&self, dir: &[u8]) -> Vec<(Vec<u8>, Option<usize>)> {
        let prefix: Vec<u8> = if dir == b"/" {
            b"/".to_vec()
        } else {
            [dir, b"/"].concat()
        };
        let direct = |p: &Vec<u8>| {
            p.starts_with(&prefix) && p.len() > prefix.len() && !p[prefix.len()..].contains(&b'/')
        };
        let mut out: Vec<_> = self
            .dirs
            .iter()
            .filter(|p| direct(p))
            .map(|p| (p[prefix.len()..].to_vec(), None))
            .collect();
        out.extend(
            self.files
                .iter()
                .filter(|(p, _)| direct(p))
                .map(|(p, b)| (p[prefix.len()..].to_vec(), Some(b.len()))),
        );
        out.sort();
        out
    }

    fn metadata(&self, path: &[u8]) -> Option<Metadata> {
        if self.dirs.contains(path) {
            return Some(Metadata::new(FileKind::Dir));
        }
        let bytes = self.files.get(path)?;
        let mut meta = Metadata::new(FileKind::File);
        meta.size = Some(bytes.len() as u64);
        meta.modified = self.modified.get(path).copied();
        Some(meta)
    }

    /// The native bytes of a listing.
    fn listing(&self, path: &VirtualPath, format: ListFormat) -> Result<Vec<u8>, StorageErrorKind> {
        let dir = path.as_bytes();
        let entries = if self.dirs.contains(dir) {
            self.children(dir)
        } else if let Some(file) = self.files.get(dir) {
            if matches!(format, ListFormat::Mlsd { .. }) {
                return Err(StorageErrorKind::NotADirectory);
            }
            vec![(
                path.file_name().unwrap_or_default().to_vec(),
                Some(file.len()),
            )]
        } else {
            return Err(StorageErrorKind::NotFound);
        };
        let mut out = Vec::new();
        for (name, size) in entries {
            match format {
                ListFormat::Nlst => out.extend_from_slice(&name),
                ListFormat::Mlsd { .. } => {
                    let facts = match size {
                        Some(n) => format!("type=file;size={n}; "),
                        None => "type=dir; ".into(),
                    };
                    out.extend_from_slice(facts.as_bytes());
                    out.extend_from_slice(&name);
                    out.push(b'\r'); // MLSD lines end in CRLF whatever the TYPE.
                }
                _ => {
                    let line = match size {
                        Some(n) => format!("-rw-r--r-- 1 ftp ftp {n:>8} Jan 01 00:00 "),
                        None => "drwxr-xr-x 2 ftp ftp     4096 Jan 01 00:00 ".into(),
                    };
                    out.extend_from_slice(line.as_bytes());
                    out.extend_from_slice(&name);
                }
            }
            out.push(b'\n');
        }
        Ok(out)
    }

    /// Answers a request that needs no data connection.
    fn answer(&mut self, request: &StorageRequest) -> Result<StorageResponse, StorageError> {
        let done = Ok(StorageResponse::Done);
        match request {
            StorageRequest::Metadata { path } => self
                .metadata(path.as_bytes())
                .map(StorageResponse::Metadata)
                .ok_or_else(|| StorageErrorKind::NotFound.into()),
            StorageRequest::Delete { path } => match self.files.remove(path.as_bytes()) {
                Some(_) => done,
                None => Err(StorageErrorKind::NotFound.into()),
            },
            StorageRequest::MakeDir { path } => {
                if self.dirs.contains(path.as_bytes()) || self.files.contains_key(path.as_bytes()) {
                    return Err(StorageErrorKind::AlreadyExists.into());
                }
                if !self.parent_exists(path) {
                    return Err(StorageErrorKind::NotFound.into());
                }
                self.dirs.insert(path.as_bytes().to_vec());
                done
            }
            StorageRequest::RemoveDir { path } => {
                if !self.children(path.as_bytes()).is_empty() {
                    return Err(StorageErrorKind::PermissionDenied.into());
                }
                match self.dirs.remove(path.as_bytes()) {
                    true => done,
                    false => Err(StorageErrorKind::NotFound.into()),
                }
            }
            StorageRequest::Rename { from, to } => {
                if let Some(bytes) = self.files.remove(from.as_bytes()) {
                    self.files.insert(to.as_bytes().to_vec(), bytes);
                    return done;
                }
                if self.dirs.remove(from.as_bytes()) {
                    self.dirs.insert(to.as_bytes().to_vec());
                    return done;
                }
                Err(StorageErrorKind::NotFound.into())
            }
            StorageRequest::SetModified { path, time } => {
                if !self.files.contains_key(path.as_bytes()) {
                    return Err(StorageErrorKind::NotFound.into());
                }
                self.modified.insert(path.as_bytes().to_vec(), *time);
                done
            }
            _ => Err(StorageErrorKind::Unsupported.into()),
        }
    }

    fn unique_name(&mut self, dir: &VirtualPath, hint: Option<&Bytes>) -> Vec<u8> {
        loop {
            let name = match hint {
                Some(h) if self.unique == 0 => h.to_vec(),
                _ => format!("stou.{}", self.unique).into_bytes(),
            };
            self.unique += 1;
            let path = dir.resolve(&name).unwrap();
            if !self.files.contains_key(path.as_bytes()) {
                return name;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transcoding (what each side's driver does in its copy loop)

/// Native bytes → wire bytes under `params` (TYPE A/I, MODE S/B).
pub fn encode(native: &[u8], params: TransferParams) -> Vec<u8> {
    let mut typed = Vec::new();
    let mut enc = TypeEncoder::new(params.data_type, LineEnding::Lf).unwrap();
    let mut buf = [0u8; 61];
    let mut input = native;
    while !input.is_empty() {
        let step = enc.encode(input, &mut buf);
        typed.extend_from_slice(&buf[..step.written]);
        input = &input[step.consumed..];
    }
    loop {
        let fin = enc.finish(&mut buf);
        typed.extend_from_slice(&buf[..fin.written]);
        if fin.done {
            break;
        }
    }
    match params.mode {
        TransferMode::Stream => typed,
        TransferMode::Block => {
            let mut wire = Vec::new();
            let mut block = BlockEncoder::new();
            let mut input = &typed[..];
            while !input.is_empty() {
                let step = block.encode(input, &mut buf);
                wire.extend_from_slice(&buf[..step.written]);
                input = &input[step.consumed..];
            }
            loop {
                let fin = block.finish(&mut buf);
                wire.extend_from_slice(&buf[..fin.written]);
                if fin.done {
                    break;
                }
            }
            wire
        }
        other => panic!("the pair harness does not transcode MODE {other:?}"),
    }
}

/// Wire bytes → native bytes under `params`.
pub fn decode(wire: &[u8], params: TransferParams) -> Vec<u8> {
    let mut buf = [0u8; 53];
    let typed = match params.mode {
        TransferMode::Stream => wire.to_vec(),
        TransferMode::Block => {
            let mut out = Vec::new();
            let mut block = BlockDecoder::new();
            let mut input = wire;
            loop {
                let step = block.decode(input, &mut buf).expect("valid MODE B");
                out.extend_from_slice(&buf[..step.written]);
                input = &input[step.consumed..];
                if !step.made_progress() {
                    break;
                }
            }
            while let Some(step) = block.finish(&mut buf).expect("MODE B ends with EOF") {
                out.extend_from_slice(&buf[..step.written]);
            }
            out
        }
        other => panic!("the pair harness does not transcode MODE {other:?}"),
    };
    let mut native = Vec::new();
    let mut dec = TypeDecoder::new(params.data_type, LineEnding::Lf).unwrap();
    let mut input = &typed[..];
    while !input.is_empty() {
        let step = dec.decode(input, &mut buf);
        native.extend_from_slice(&buf[..step.written]);
        input = &input[step.consumed..];
    }
    loop {
        let fin = dec.finish(&mut buf);
        native.extend_from_slice(&buf[..fin.written]);
        if fin.done {
            break;
        }
    }
    native
}

// ---------------------------------------------------------------------------------------------
// The data fabric

/// What the server's storage back end does on a data connection.
#[derive(Clone, Debug)]
enum ServerTask {
    /// Write these wire bytes, then report `Transferred`.
    Send {
        storage: StorageOpId,
        wire: Vec<u8>,
        native_len: u64,
    },
    /// Read to the client's end, decode, store, then report `Transferred`.
    Receive {
        storage: StorageOpId,
        path: VirtualPath,
        mode: StoreMode,
        offset: u64,
        params: TransferParams,
    },
}

/// One data connection between the two sides.
#[derive(Clone, Debug)]
struct Link {
    client: client::DataConnId,
    server: server::DataConnId,
    /// Wire bytes written by the server, not yet read by the client.
    to_client: Vec<u8>,
    /// Wire bytes written by the client, not yet read by the server.
    to_server: Vec<u8>,
    server_fin: bool,
    client_fin: bool,
    client_start: Option<(OpId, Direction, TransferParams)>,
    task: Option<ServerTask>,
    client_done: bool,
    server_done: bool,
    client_gone: bool,
    server_gone: bool,
}

/// Listeners, links, and what the test injects.
#[derive(Debug, Default)]
pub struct Fabric {
    server_listeners: BTreeMap<u16, server::DataConnId>,
    client_listeners: BTreeMap<u16, (client::DataConnId, std::net::IpAddr)>,
    links: Vec<Link>,
    /// Storage tasks whose data connection is not linked yet.
    orphan_tasks: Vec<(server::DataConnId, ServerTask)>,
    next_port: u16,
    /// Refuse this many client `Connect`s.
    pub refuse_client_connects: usize,
    /// Bytes do not move (a long transfer, for ABOR).
    pub stall: bool,
    /// The client's `Finished` is held back (its data end comes after the final reply).
    pub hold_client_end: bool,
    /// The next download's connection is reset after half its bytes (both sides see it).
    pub drop_next_download: bool,
}

// ---------------------------------------------------------------------------------------------
// The pair

pub struct Pair {
    pub client: ClientSession,
    pub server: ServerSession,
    pub base: Instant,
    pub now: Instant,
    pub chunking: Chunking,
    pub store: MemStore,
    pub fabric: Fabric,
    pub users: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Client events, in order.
    pub events: Vec<ClientEvent>,
    pub server_events: Vec<ServerEvent>,
    /// Everything that happened, in order: `C> line`, `S> line`, `C: intent`, `S: intent`.
    pub log: Vec<String>,
    /// Server→client control bytes are held (the final reply comes after the data end).
    pub hold_server_replies: bool,
    /// Server→client control bytes are held from the first line starting with these bytes.
    pub hold_replies_from: Option<&'static [u8]>,
    /// A middlebox answers the client's EPSV with 502 before the server sees it.
    pub refuse_epsv: bool,
    pub sources: BTreeMap<OpId, Vec<u8>>,
    pub sinks: BTreeMap<OpId, Vec<u8>>,
    /// The wire bytes of every transfer, in the order they were written.
    pub wire: Vec<Vec<u8>>,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    client_eof: bool,
    server_eof: bool,
    client_tls: bool,
    server_tls: bool,
    client_events: VecDeque<(client::DataConnId, ClientDataEvent)>,
    server_data_events: VecDeque<(server::DataConnId, ServerDataEvent)>,
    server_results: VecDeque<(StorageOpId, Result<StorageResponse, StorageError>)>,
    auth_results: VecDeque<(server::AuthId, Result<Principal, AuthFailure>)>,
}

impl Pair {
    pub fn new(
        client_config: ClientConfig,
        server_config: ServerConfig,
        chunking: Chunking,
    ) -> Self {
        Self::with_conn(client_config, server_config, chunking, false)
    }

    pub fn with_conn(
        client_config: ClientConfig,
        server_config: ServerConfig,
        chunking: Chunking,
        implicit_tls: bool,
    ) -> Self {
        let base = epoch();
        let cconn = ClientControlInfo {
            implicit_tls,
            ..ClientControlInfo::new(client_control(), server_control())
        };
        let sconn = ServerControlInfo {
            implicit_tls,
            ..ServerControlInfo::new(server_control(), client_control())
        };
        let mut users = BTreeMap::new();
        users.insert(b"alice".to_vec(), b"secret".to_vec());
        let mut pair = Self {
            client: ClientSession::new(client_config, cconn, base),
            server: ServerSession::new(Arc::new(server_config), sconn, base),
            base,
            now: base,
            chunking,
            store: MemStore::new(),
            fabric: Fabric {
                next_port: 30000,
                ..Fabric::default()
            },
            users,
            events: vec![],
            server_events: vec![],
            log: vec![],
            hold_server_replies: false,
            hold_replies_from: None,
            refuse_epsv: false,
            sources: BTreeMap::new(),
            sinks: BTreeMap::new(),
            wire: vec![],
            to_server: vec![],
            to_client: vec![],
            client_eof: false,
            server_eof: false,
            client_tls: false,
            server_tls: false,
            client_events: VecDeque::new(),
            server_data_events: VecDeque::new(),
            server_results: VecDeque::new(),
            auth_results: VecDeque::new(),
        };
        pair.drive();
        pair
    }

    // -- running ---------------------------------------------------------------------------

    /// Runs both sides until nothing moves (without moving the clock).
    pub fn drive(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                self.check_deadlines();
                return;
            }
        }
        panic!("the pair did not settle");
    }

    /// Jumps to the earliest deadline of either side, handles it, and drives.
    pub fn fire(&mut self) {
        let next = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .expect("a deadline");
        self.now = self.now.max(next);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.drive();
    }

    fn check_deadlines(&self) {
        for at in [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
        {
            assert!(at > self.now, "a deadline is due but was not handled");
        }
    }

    fn step(&mut self) -> bool {
        let mut moved = self.drain_client();
        moved |= self.drain_server();
        moved |= self.deliver_control();
        moved |= self.deliver_events();
        moved |= self.move_bytes();
        moved
    }

    fn drain_client(&mut self) -> bool {
        let mut moved = false;
        while let Some(output) = self.client.poll_output() {
            moved = true;
            match output {
                ClientOutput::Transmit(t) => self.client_transmit(&t.bytes, t.urgent),
                ClientOutput::Data(intent) => self.client_intent(intent),
                ClientOutput::StartTls => {
                    self.log.push("C: StartTls".into());
                    self.client_tls = true;
                    self.maybe_tls();
                }
                ClientOutput::StopTls => self.log.push("C: StopTls".into()),
                ClientOutput::Close => {
                    self.log.push("C: Close".into());
                    self.server_eof = true;
                }
                ClientOutput::Event(event) => self.events.push(event),
                other => panic!("unknown client output {other:?}"),
            }
        }
        moved
    }

    fn client_transmit(&mut self, bytes: &[u8], urgent: bool) {
        let text = String::from_utf8_lossy(bytes)
            .replace('\u{fffd}', "\u{2022}")
            .trim_end()
            .to_string();
        self.log.push(format!(
            "C> {text}{}",
            if urgent { " (urgent)" } else { "" }
        ));
        if self.refuse_epsv && bytes == b"EPSV\r\n" {
            self.to_client
                .extend_from_slice(b"502 EPSV refused by a middlebox.\r\n");
            return;
        }
        self.to_server.extend_from_slice(bytes);
    }

    fn client_intent(&mut self, intent: ClientDataIntent) {
        match intent {
            ClientDataIntent::Connect { id, addr, tls } => {
                self.log.push(format!("C: Connect {addr} tls={tls}"));
                self.client_connect(id, addr);
            }
            ClientDataIntent::Listen {
                id,
                ip,
                expect_peer,
                tls,
            } => {
                self.log
                    .push(format!("C: Listen {ip} expect {expect_peer} tls={tls}"));
                let port = self.port();
                self.fabric.client_listeners.insert(port, (id, expect_peer));
                let local = SocketAddr::new(ip, port);
                self.client_events
                    .push_back((id, ClientDataEvent::Listening { local }));
            }
            ClientDataIntent::Handshake { .. } => {
                // The simulated links carry no TLS: the order is what is checked.
                self.log.push("C: Handshake data".into());
            }
            ClientDataIntent::Start {
                id,
                op,
                direction,
                params,
            } => {
                self.log.push(format!("C: Start {direction:?}"));
                if let Some(link) = self.link_by_client(id) {
                    link.client_start = Some((op, direction, params));
                }
            }
            ClientDataIntent::Close { id } => {
                self.log.push("C: Close data".into());
                if let Some(link) = self.link_by_client(id) {
                    link.client_fin = true;
                    link.client_gone = true;
                }
                self.client_events.push_back((id, ClientDataEvent::Closed));
            }
            ClientDataIntent::Abort { id } => {
                self.log.push("C: Abort data".into());
                self.fabric.client_listeners.retain(|_, (l, _)| *l != id);
                let mut notify = None;
                if let Some(link) = self.link_by_client(id) {
                    link.client_gone = true;
                    link.client_fin = true;
                    if !link.server_gone {
                        notify = Some(link.server);
                    }
                }
                if let Some(server_id) = notify {
                    self.server_data_events.push_back((
                        server_id,
                        ServerDataEvent::Failed(server::DataFailure::Reset),
                    ));
                }
            }
            other => panic!("unknown client intent {other:?}"),
        }
    }

    fn client_connect(&mut self, id: client::DataConnId, addr: SocketAddr) {
        if self.fabric.refuse_client_connects > 0 {
            self.fabric.refuse_client_connects -= 1;
            let refused = ClientDataEvent::Failed(client::DataFailure::Refused);
            return self.client_events.push_back((id, refused));
        }
        let target = (addr.ip() == server_control().ip())
            .then(|| self.fabric.server_listeners.remove(&addr.port()))
            .flatten();
        let Some(server_id) = target else {
            let refused = ClientDataEvent::Failed(client::DataFailure::Refused);
            return self.client_events.push_back((id, refused));
        };
        self.link(id, server_id);
        self.client_events
            .push_back((id, ClientDataEvent::Connected { peer: addr }));
        let peer = SocketAddr::new(client_control().ip(), 40000);
        self.server_data_events
            .push_back((server_id, ServerDataEvent::Connected { peer }));
    }

    fn link(&mut self, client: client::DataConnId, server: server::DataConnId) {
        let task = self
            .fabric
            .orphan_tasks
            .iter()
            .position(|(id, _)| *id == server)
            .map(|i| self.fabric.orphan_tasks.remove(i).1);
        self.fabric.links.push(Link {
            client,
            server,
            to_client: vec![],
            to_server: vec![],
            server_fin: false,
            client_fin: false,
            client_start: None,
            task,
            client_done: false,
            server_done: false,
            client_gone: false,
            server_gone: false,
        });
    }

    fn link_by_client(&mut self, id: client::DataConnId) -> Option<&mut Link> {
        self.fabric.links.iter_mut().find(|l| l.client == id)
    }

    fn link_by_server(&mut self, id: server::DataConnId) -> Option<&mut Link> {
        self.fabric.links.iter_mut().find(|l| l.server == id)
    }

    fn port(&mut self) -> u16 {
        self.fabric.next_port += 1;
        self.fabric.next_port
    }

    fn maybe_tls(&mut self) {
        if self.client_tls && self.server_tls {
            self.client_tls = false;
            self.server_tls = false;
            self.log.push("TLS established".into());
            self.server.handle_tls_established(self.now);
            self.client.handle_tls_established(self.now);
        }
    }

    fn drain_server(&mut self) -> bool {
        let mut moved = false;
        while let Some(output) = self.server.poll_output() {
            moved = true;
            match output {
                ServerOutput::Transmit(bytes) => {
                    for line in String::from_utf8_lossy(&bytes).split_inclusive("\r\n") {
                        self.log.push(format!("S> {}", line.trim_end()));
                    }
                    self.to_client.extend_from_slice(&bytes);
                }
                ServerOutput::Data(intent) => self.server_intent(intent),
                ServerOutput::Storage { id, request } => self.storage(id, request),
                ServerOutput::Authenticate {
                    id, user, password, ..
                } => {
                    let ok = self.users.get(&user[..]) == Some(&password.expose().to_vec());
                    let result = if ok {
                        Ok(Principal::new(user))
                    } else {
                        Err(AuthFailure::InvalidCredentials)
                    };
                    self.auth_results.push_back((id, result));
                }
                ServerOutput::StartTls => {
                    self.log.push("S: StartTls".into());
                    self.server_tls = true;
                    self.maybe_tls();
                }
                ServerOutput::StopTls => self.log.push("S: StopTls".into()),
                ServerOutput::Close => {
                    self.log.push("S: Close".into());
                    self.client_eof = true;
                }
                ServerOutput::Event(event) => self.server_events.push(event),
                other => panic!("unknown server output {other:?}"),
            }
        }
        moved
    }

    fn server_intent(&mut self, intent: ServerDataIntent) {
        match intent {
            ServerDataIntent::Listen { id, tls, .. } => {
                self.log.push(format!("S: Listen tls={tls}"));
                let port = self.port();
                self.fabric.server_listeners.insert(port, id);
                let local = SocketAddr::new(server_control().ip(), port);
                self.server_data_events
                    .push_back((id, ServerDataEvent::Listening { local }));
            }
            ServerDataIntent::Connect { id, addr, tls } => {
                self.log.push(format!("S: Connect {addr} tls={tls}"));
                let listener = self.fabric.client_listeners.remove(&addr.port());
                match listener {
                    Some((client_id, expect)) if expect == server_control().ip() => {
                        self.link(client_id, id);
                        self.server_data_events
                            .push_back((id, ServerDataEvent::Connected { peer: addr }));
                        let peer = SocketAddr::new(server_control().ip(), 20);
                        self.client_events
                            .push_back((client_id, ClientDataEvent::Connected { peer }));
                    }
                    _ => self
                        .server_data_events
                        .push_back((id, ServerDataEvent::Failed(server::DataFailure::Refused))),
                }
            }
            ServerDataIntent::Close { id } => {
                self.log.push("S: Close data".into());
                if let Some(link) = self.link_by_server(id) {
                    link.server_fin = true;
                    link.server_gone = true;
                }
                self.server_data_events
                    .push_back((id, ServerDataEvent::Closed));
            }
            ServerDataIntent::Abort { id } => {
                self.log.push("S: Abort data".into());
                self.fabric.server_listeners.retain(|_, l| *l != id);
                self.fabric.orphan_tasks.retain(|(l, _)| *l != id);
                let mut notify = None;
                if let Some(link) = self.link_by_server(id) {
                    link.server_gone = true;
                    link.server_fin = true;
                    link.task = None;
                    if !link.client_gone && !link.client_done {
                        notify = Some(link.client);
                    }
                }
                if let Some(client_id) = notify {
                    let reset = ClientDataEvent::Failed(client::DataFailure::Reset);
                    self.client_events.push_back((client_id, reset));
                }
            }
            other => panic!("unknown server intent {other:?}"),
        }
    }

    fn storage(&mut self, id: StorageOpId, request: StorageRequest) {
        let task = match &request {
            StorageRequest::Retrieve {
                path,
                offset,
                data,
                params,
                ..
            } => match self.store.get(&String::from_utf8_lossy(path.as_bytes())) {
                Some(bytes) => {
                    let start = (*offset as usize).min(bytes.len());
                    let native = &bytes[start..];
                    let size = Some(native.len() as u64);
                    let wire = encode(native, *params);
                    let task = ServerTask::Send {
                        storage: id,
                        wire,
                        native_len: native.len() as u64,
                    };
                    self.server_results
                        .push_back((id, Ok(StorageResponse::Opened { size })));
                    Some((*data, task))
                }
                None => {
                    let missing = Err(StorageError::new(StorageErrorKind::NotFound));
                    self.server_results.push_back((id, missing));
                    None
                }
            },
            StorageRequest::List {
                path,
                format,
                data,
                params,
            } => match self.store.listing(path, *format) {
                Ok(native) => {
                    let task = ServerTask::Send {
                        storage: id,
                        wire: encode(&native, *params),
                        native_len: native.len() as u64,
                    };
                    self.server_results
                        .push_back((id, Ok(StorageResponse::Opened { size: None })));
                    Some((*data, task))
                }
                Err(kind) => {
                    self.server_results
                        .push_back((id, Err(StorageError::new(kind))));
                    None
                }
            },
            StorageRequest::Store {
                path,
                mode,
                offset,
                data,
                params,
                ..
            } => {
                let (path, response) = match mode {
                    StoreMode::Unique { hint } => {
                        let name = self.store.unique_name(path, hint.as_ref());
                        let full = path.resolve(&name).unwrap();
                        (
                            full,
                            StorageResponse::StoredAs {
                                name: Bytes::from(name),
                            },
                        )
                    }
                    _ => (path.clone(), StorageResponse::Opened { size: None }),
                };
                if !self.store.parent_exists(&path) {
                    let missing = Err(StorageError::new(StorageErrorKind::NotFound));
                    self.server_results.push_back((id, missing));
                    None
                } else {
                    self.server_results.push_back((id, Ok(response)));
                    let task = ServerTask::Receive {
                        storage: id,
                        path,
                        mode: mode.clone(),
                        offset: *offset,
                        params: *params,
                    };
                    Some((*data, task))
                }
            }
            other => {
                let result = self.store.answer(other);
                self.server_results.push_back((id, result));
                None
            }
        };
        if let Some((data, task)) = task {
            match self.link_by_server(data) {
                Some(link) => link.task = Some(task),
                None => self.fabric.orphan_tasks.push((data, task)),
            }
        }
    }

    fn deliver_control(&mut self) -> bool {
        let mut moved = false;
        if !self.to_server.is_empty() {
            moved = true;
            let bytes = std::mem::take(&mut self.to_server);
            match self.chunking {
                Chunking::Whole => self.server.handle_input(self.now, &bytes),
                Chunking::Bytewise => {
                    for b in &bytes {
                        self.server.handle_input(self.now, std::slice::from_ref(b));
                        self.drain_server();
                    }
                }
            }
        }
        let deliverable = self.deliverable();
        if deliverable > 0 && !self.hold_server_replies {
            moved = true;
            let bytes: Vec<u8> = self.to_client.drain(..deliverable).collect();
            match self.chunking {
                Chunking::Whole => self.client.handle_input(self.now, &bytes),
                Chunking::Bytewise => {
                    for b in &bytes {
                        self.client.handle_input(self.now, std::slice::from_ref(b));
                        self.drain_client();
                    }
                }
            }
        }
        if self.server_eof && self.to_server.is_empty() {
            self.server_eof = false;
            self.server.handle_eof(self.now);
            moved = true;
        }
        if self.client_eof && self.to_client.is_empty() && !self.hold_server_replies {
            self.client_eof = false;
            self.client.handle_eof(self.now);
            moved = true;
        }
        moved
    }

    /// How many server→client bytes may be delivered now.
    fn deliverable(&self) -> usize {
        let Some(prefix) = self.hold_replies_from else {
            return self.to_client.len();
        };
        let mut at = 0;
        while at < self.to_client.len() {
            if self.to_client[at..].starts_with(prefix) {
                return at;
            }
            match self.to_client[at..].iter().position(|&b| b == b'\n') {
                Some(end) => at += end + 1,
                None => break,
            }
        }
        self.to_client.len()
    }

    fn deliver_events(&mut self) -> bool {
        let mut moved = false;
        while let Some((id, event)) = self.server_data_events.pop_front() {
            moved = true;
            self.server.handle_data_event(self.now, id, event);
        }
        while let Some((id, result)) = self.server_results.pop_front() {
            moved = true;
            self.server.handle_storage_result(self.now, id, result);
        }
        while let Some((id, result)) = self.auth_results.pop_front() {
            moved = true;
            self.server.handle_auth_result(self.now, id, result);
        }
        while let Some((id, event)) = self.client_events.pop_front() {
            moved = true;
            self.client.handle_data_event(self.now, id, event);
        }
        moved
    }

    /// Moves bytes on every link whose two ends are ready.
    fn move_bytes(&mut self) -> bool {
        if self.fabric.stall {
            return false;
        }
        let mut moved = false;
        for i in 0..self.fabric.links.len() {
            moved |= self.server_side(i);
            moved |= self.client_side(i);
        }
        moved
    }

    fn server_side(&mut self, i: usize) -> bool {
        let link = &mut self.fabric.links[i];
        if link.server_done || link.server_gone {
            return false;
        }
        match link.task.clone() {
            Some(ServerTask::Send { .. }) if self.fabric.drop_next_download => {
                self.fabric.drop_next_download = false;
                link.server_done = true;
                link.server_gone = true;
                link.client_gone = true;
                let (server_id, client_id) = (link.server, link.client);
                let reset = server::DataFailure::Reset;
                self.server_data_events
                    .push_back((server_id, ServerDataEvent::Failed(reset)));
                let reset = ClientDataEvent::Failed(client::DataFailure::Reset);
                self.client_events.push_back((client_id, reset));
                true
            }
            Some(ServerTask::Send {
                storage,
                wire,
                native_len,
            }) => {
                link.to_client.extend_from_slice(&wire);
                link.server_done = true;
                self.wire.push(wire);
                let done = Ok(StorageResponse::Transferred { bytes: native_len });
                self.server_results.push_back((storage, done));
                true
            }
            Some(ServerTask::Receive {
                storage,
                path,
                mode,
                offset,
                params,
            }) if link.client_fin => {
                let native = decode(&std::mem::take(&mut link.to_server), params);
                link.server_done = true;
                let key = path.as_bytes().to_vec();
                let file = self.store.files.entry(key).or_default();
                match mode {
                    StoreMode::Append => file.extend_from_slice(&native),
                    _ => {
                        file.truncate(offset as usize);
                        file.extend_from_slice(&native);
                    }
                }
                let done = Ok(StorageResponse::Transferred {
                    bytes: native.len() as u64,
                });
                self.server_results.push_back((storage, done));
                true
            }
            _ => false,
        }
    }

    fn client_side(&mut self, i: usize) -> bool {
        let hold = self.fabric.hold_client_end;
        let link = &mut self.fabric.links[i];
        if link.client_done || link.client_gone {
            return false;
        }
        let Some((op, direction, params)) = link.client_start else {
            return false;
        };
        let id = link.client;
        let bytes = match direction {
            Direction::Download if link.server_fin && !hold => {
                let native = decode(&std::mem::take(&mut link.to_client), params);
                let n = native.len() as u64;
                self.sinks.entry(op).or_default().extend_from_slice(&native);
                n
            }
            Direction::Upload => {
                let source = self.sources.get(&op).cloned().unwrap_or_default();
                let wire = encode(&source, params);
                link.to_server.extend_from_slice(&wire);
                self.wire.push(wire);
                source.len() as u64
            }
            _ => return false,
        };
        link.client_done = true;
        self.client_events
            .push_back((id, ClientDataEvent::Finished { bytes }));
        true
    }

    // -- helpers for tests -----------------------------------------------------------------

    /// Runs a client command method, then drives.
    pub fn op<T>(&mut self, f: impl FnOnce(&mut ClientSession) -> T) -> T {
        let result = f(&mut self.client);
        self.drive();
        result
    }

    /// An upload of `bytes` to `path`.
    pub fn upload(
        &mut self,
        path: &str,
        kind: client::StoreKind,
        offset: u64,
        bytes: &[u8],
    ) -> OpId {
        let op = self.client.store(path.to_owned(), kind, offset).unwrap();
        self.sources.insert(op, bytes.to_vec());
        self.drive();
        op
    }

    /// The result of `op`, which must have completed.
    #[track_caller]
    pub fn result(&self, op: OpId) -> Result<OpOutput, OpError> {
        self.events
            .iter()
            .find_map(|e| match e {
                ClientEvent::Completed { op: got, result } if *got == op => Some(result.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{op} has not completed; log:\n{}", self.log.join("\n")))
    }

    #[track_caller]
    pub fn ok(&self, op: OpId) -> OpOutput {
        match self.result(op) {
            Ok(output) => output,
            Err(error) => panic!("{op} failed: {error:?}; log:\n{}", self.log.join("\n")),
        }
    }

    #[track_caller]
    pub fn err(&self, op: OpId) -> OpError {
        match self.result(op) {
            Err(error) => error,
            Ok(output) => panic!("{op} succeeded: {output:?}"),
        }
    }

    pub fn completed(&self, op: OpId) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, ClientEvent::Completed { op: got, .. } if *got == op))
    }

    /// What a download wrote.
    pub fn sink(&self, op: OpId) -> Vec<u8> {
        self.sinks.get(&op).cloned().unwrap_or_default()
    }

    /// The log lines starting with `prefix`.
    pub fn log_of(&self, prefix: &str) -> Vec<String> {
        self.log
            .iter()
            .filter(|l| l.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Asserts that `expected` lines appear in the log in this order (other lines may come
    /// between them).
    #[track_caller]
    pub fn assert_log_order(&self, expected: &[&str]) {
        let mut at = 0;
        for want in expected {
            match self.log[at..].iter().position(|l| l == want) {
                Some(i) => at += i + 1,
                None => panic!(
                    "{want:?} missing after line {at}; log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }
}

/// Runs `scenario` with whole and byte-by-byte control chunks; both runs must log the same
/// dialogue and the same client events.
pub fn both_ways(make: impl Fn(Chunking) -> Pair, scenario: impl Fn(&mut Pair)) {
    let mut whole = make(Chunking::Whole);
    scenario(&mut whole);
    let mut bytewise = make(Chunking::Bytewise);
    scenario(&mut bytewise);
    assert_eq!(whole.log, bytewise.log, "chunking changed the dialogue");
    assert_eq!(whole.events, bytewise.events, "chunking changed the events");
}

/// A pair with the default client config (FEAT on) and [`server_config`], logged in as alice.
pub fn logged_in(client: ClientConfig, server: ServerConfig, chunking: Chunking) -> Pair {
    let mut pair = Pair::new(client, server, chunking);
    let op = pair.op(|c| {
        c.login(client::Credentials::new("alice", "secret"))
            .unwrap()
    });
    pair.ok(op);
    pair
}
