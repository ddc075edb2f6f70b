//! ftp-server behind a real HAProxy (Debian's `haproxy`, TCP mode, started and stopped by PID
//! here), under both runtimes: control connections balanced over two nodes with the PROXY
//! protocol (v2, and v1 on a second frontend), each node's passive port range forwarded to
//! it, announced with the balancer's address, both nodes serving one folder.
//!
//! The HAProxy configuration is [`haproxy_config`]; the README's deployment section shows the
//! same one.

mod support;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftp_server::proto::proxy::{encode_v2, ProxyHeader};
use ftp_server::ProxyProtocol;
use support::*;

/// Where HAProxy listens, and where the nodes listen (other loopback addresses, so that each
/// node's passive ports can be the balancer's too).
const BALANCER: &str = "127.0.0.1";
const NODE_IPS: [&str; 2] = ["127.0.0.2", "127.0.0.3"];
const PASSIVE_PORTS: u16 = 40;

/// Debian's haproxy, in /usr/sbin (outside a normal user's PATH); else the one on the PATH.
/// Fails when there is none: `.ci/run` installs it (`apt-get install haproxy`).
fn haproxy_binary() -> std::path::PathBuf {
    let debian = std::path::Path::new("/usr/sbin/haproxy");
    if debian.exists() {
        return debian.to_path_buf();
    }
    require("haproxy");
    "haproxy".into()
}

/// A running HAProxy, killed by its PID on drop.
struct HaProxy {
    child: Child,
    _dir: TempDir,
}

impl HaProxy {
    /// Starts `haproxy -db` with `config` and waits (10 s at most) until `ready` accepts.
    fn start(config: &str, ready: SocketAddr) -> Self {
        let binary = haproxy_binary();
        let dir = TempDir::new("haproxy");
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let check = Command::new(&binary)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(check.status.success(), "{config}\n{}", stderr(&check));
        let child = Command::new(&binary)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let haproxy = Self { child, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(ready).is_err() {
            assert!(Instant::now() < deadline, "HAProxy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        haproxy
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on the balancer's address, and for each node a range of [`PASSIVE_PORTS`]
/// ports free on both the balancer's and the node's address. Held under a lock while the
/// nodes and HAProxy bind them.
struct Ports {
    control: u16,
    control_v1: u16,
    passive: Vec<u16>,
}

static PORTS: Mutex<()> = Mutex::new(());

fn free_on(ip: &str, port: u16) -> bool {
    TcpListener::bind((ip.parse::<IpAddr>().unwrap(), port)).is_ok()
}

fn pick_ports(nodes: usize) -> Ports {
    let free_port = || {
        let listener = TcpListener::bind((BALANCER, 0)).unwrap();
        listener.local_addr().unwrap().port()
    };
    // Below the ephemeral range (32768+), where other tests' random ports never land.
    let mut base = 20_000 + (std::process::id() % 200) as u16 * 50;
    let mut passive = Vec::new();
    while passive.len() < nodes {
        let ip = NODE_IPS[passive.len()];
        let range = base..base + PASSIVE_PORTS;
        if range
            .clone()
            .all(|p| free_on(BALANCER, p) && free_on(ip, p))
        {
            passive.push(base);
        }
        base = if base > 31_000 {
            20_000
        } else {
            base + PASSIVE_PORTS
        };
    }
    Ports {
        control: free_port(),
        control_v1: free_port(),
        passive,
    }
}

/// The HAProxy configuration: control connections on `control` (PROXY v2) and `control_v1`
/// (PROXY v1) balanced round robin over the nodes, with health checks and redispatch; each
/// node's passive range forwarded to that node, on the same ports (PROXY v2). HAProxy
/// connects to the nodes from the balancer's address, which they trust (without `source`,
/// Linux would pick the node's own loopback address).
fn haproxy_config(ports: &Ports, nodes: &[SocketAddr]) -> String {
    use std::fmt::Write as _;
    let mut config = format!(
        "global\n    maxconn 400\n\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 60s\n    \
         timeout server 60s\n    option redispatch\n    retries 3\n    \
         source {BALANCER}\n\n\
         frontend ftp_control\n    bind {BALANCER}:{}\n    default_backend ftp_nodes\n\n\
         frontend ftp_control_v1\n    bind {BALANCER}:{}\n    default_backend ftp_nodes_v1\n",
        ports.control, ports.control_v1
    );
    for (backend, proxy) in [
        ("ftp_nodes", "send-proxy-v2"),
        ("ftp_nodes_v1", "send-proxy"),
    ] {
        let _ = write!(config, "\nbackend {backend}\n    balance roundrobin\n");
        for (i, node) in nodes.iter().enumerate() {
            let _ = writeln!(
                config,
                "    server node{i} {node} {proxy} check check-send-proxy inter 200ms fall 1"
            );
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        let low = ports.passive[i];
        let high = low + PASSIVE_PORTS - 1;
        let _ = write!(
            config,
            "\nfrontend ftp_passive_node{i}\n    bind {BALANCER}:{low}-{high}\n    \
             default_backend ftp_passive_node{i}\n\n\
             backend ftp_passive_node{i}\n    server node{i} {} send-proxy-v2\n",
            node.ip()
        );
    }
    config
}

/// One node: listens on its own loopback address, trusts the balancer, announces the
/// balancer's address for passive connections, and serves `root`.
fn start_node(rt: Rt, i: usize, root: &std::path::Path, ports: &Ports) -> TestServer {
    let low = ports.passive[i];
    let listen = SocketAddr::new(NODE_IPS[i].parse().unwrap(), 0);
    TestServer::start_node(rt, TempDir(root.to_path_buf()), listen, |s| {
        s.passive_ports(low..=low + PASSIVE_PORTS - 1)
            .passive_address(BALANCER.parse().unwrap())
            .proxy_protocol(ProxyProtocol::new([BALANCER.parse().unwrap()]))
            .shutdown_grace(Duration::from_millis(500))
    })
}

fn events(node: &TestServer) -> String {
    node.events.lock().unwrap().join("\n")
}

#[test]
fn curl_through_haproxy_is_served_under_its_own_address() {
    require("curl");
    each_runtime(|rt| {
        let root = TempDir::new("haproxy-one");
        let _lock = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        let ports = pick_ports(1);
        let node = start_node(rt, 0, root.path(), &ports);
        let balancer = SocketAddr::new(BALANCER.parse().unwrap(), ports.control);
        let _haproxy = HaProxy::start(&haproxy_config(&ports, &[node.addr]), balancer);
        drop(_lock);
        let local = root.path().join("up.bin");
        std::fs::write(&local, pattern(700_000, 3)).unwrap();
        for port in [ports.control, ports.control_v1] {
            let url = format!("ftp://{BALANCER}:{port}/");
            let curl = |args: &[&str]| {
                let mut command = Command::new("curl");
                command.args(["-sS", "--interface", "127.0.0.5", "-u", "alice:secret"]);
                ok(run(command.args(args), Duration::from_secs(30)))
            };
            curl(&[
                "-T",
                local.to_str().unwrap(),
                &format!("{url}up-{port}.bin"),
            ]);
            let down = root.path().join(format!("down-{port}.bin"));
            curl(&["-o", down.to_str().unwrap(), &format!("{url}up-{port}.bin")]);
            assert!(std::fs::read(&down).unwrap() == pattern(700_000, 3));
            let listing = curl(&["-l", &url]);
            assert!(
                listing
                    .lines()
                    .any(|l| l.trim_end() == format!("up-{port}.bin")),
                "{listing}"
            );
        }
        // The sessions were the client's 127.0.0.5 (six of them: three per frontend); the
        // transfers worked, so each passive data connection was 127.0.0.5's too (the node
        // refuses any other). HAProxy's health checks show as its own 127.0.0.1.
        let events = events(&node);
        assert_eq!(
            events.matches("Connected { peer: 127.0.0.5:").count(),
            6,
            "{events}"
        );
    });
}

/// A small FTP client with errors as values, for clients whose server may go away.
struct Client {
    ctl: TcpStream,
    pending: Vec<u8>,
    ip: IpAddr,
}

impl Client {
    /// Connects from `ip` to `server`, reads the greeting and logs in as alice.
    fn login(ip: IpAddr, server: SocketAddr, header: bool) -> io::Result<Self> {
        let mut client = Self {
            ctl: connect_from(ip, server, header)?,
            pending: Vec::new(),
            ip,
        };
        client.expect(None, 220)?;
        client.expect(Some("USER alice"), 331)?;
        client.expect(Some("PASS secret"), 230)?;
        client.expect(Some("TYPE I"), 200)?;
        Ok(client)
    }

    fn reply(&mut self) -> io::Result<(u16, String)> {
        loop {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.pending.drain(..end + 2).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                if line.as_bytes().get(3) == Some(&b' ') {
                    let code = line[..3].parse().unwrap_or(0);
                    return Ok((code, line));
                }
                continue;
            }
            let mut buf = [0u8; 4096];
            match self.ctl.read(&mut buf)? {
                0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed")),
                n => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// The next reply that is not a preliminary `1xx` one.
    fn final_reply(&mut self) -> io::Result<(u16, String)> {
        loop {
            let (code, text) = self.reply()?;
            if !(100..200).contains(&code) {
                return Ok((code, text));
            }
        }
    }

    fn expect(&mut self, command: Option<&str>, code: u16) -> io::Result<String> {
        if let Some(command) = command {
            self.ctl.write_all(format!("{command}\r\n").as_bytes())?;
        }
        match self.reply()? {
            (got, text) if got == code => Ok(text),
            (_, text) => Err(io::Error::other(format!(
                "{command:?}: {}",
                text.trim_end()
            ))),
        }
    }

    /// EPSV, and the data connection to the announced port on the server's address.
    fn data(&mut self, header: bool) -> io::Result<TcpStream> {
        let text = self.expect(Some("EPSV"), 229)?;
        let port = ftp_server::proto::addr::parse_epsv_reply(
            text.trim_end().as_bytes(),
            ftp_server::proto::addr::Leniency::Strict,
        )
        .map_err(|e| io::Error::other(format!("{e:?}")))?;
        let server = SocketAddr::new(self.ctl.peer_addr()?.ip(), port);
        connect_from(self.ip, server, header)
    }

    /// STOR `name` in `chunk`-byte writes `pause` apart.
    fn store(&mut self, name: &str, bytes: &[u8], chunk: usize, pause: Duration) -> io::Result<()> {
        let mut data = self.data(false)?;
        self.ctl.write_all(format!("STOR {name}\r\n").as_bytes())?;
        for piece in bytes.chunks(chunk) {
            data.write_all(piece)?;
            std::thread::sleep(pause);
        }
        drop(data);
        let (code, text) = self.final_reply()?;
        match code {
            226 => Ok(()),
            _ => Err(io::Error::other(text.trim_end().to_owned())),
        }
    }

    fn retrieve(&mut self, name: &str, header: bool) -> io::Result<Vec<u8>> {
        let mut data = self.data(header)?;
        self.ctl.write_all(format!("RETR {name}\r\n").as_bytes())?;
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes)?;
        let (code, text) = self.final_reply()?;
        match code {
            226 => Ok(bytes),
            _ => Err(io::Error::other(text.trim_end().to_owned())),
        }
    }
}

/// A TCP connection from `ip` to `server`; with `header`, a connection from the balancer's
/// address that starts with a PROXY v2 header saying it comes from `ip` (talking to a node
/// directly, as the balancer does).
fn connect_from(ip: IpAddr, server: SocketAddr, header: bool) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let local = if header {
        BALANCER.parse().unwrap()
    } else {
        ip
    };
    socket.bind(&SocketAddr::new(local, 0).into())?;
    socket.connect_timeout(&server.into(), Duration::from_secs(5))?;
    let mut stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    if header {
        let mut bytes = Vec::new();
        let source = SocketAddr::new(ip, stream.local_addr()?.port());
        encode_v2(
            &ProxyHeader::Proxied {
                source,
                destination: server,
            },
            &mut bytes,
        );
        stream.write_all(&bytes)?;
    }
    Ok(stream)
}

/// Client `i`'s own address in the first phase, and in the second.
fn client_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 10 + i as u8])
}

fn slow_client_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 40 + i as u8])
}

/// What one client did in the stop-a-node phase.
#[derive(Debug, Default)]
struct Outcome {
    /// The reply or error that ended its first upload, when it did not succeed.
    failed: Option<String>,
    /// The file it stored in the end, and its bytes.
    stored: Option<(String, Vec<u8>)>,
}

#[test]
fn two_nodes_behind_haproxy_share_a_folder_and_survive_losing_one() {
    const CLIENTS: usize = 20;
    each_runtime(|rt| {
        let root = TempDir::new("haproxy-two");
        let lock = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        let ports = pick_ports(2);
        let mut nodes: Vec<TestServer> = (0..2)
            .map(|i| start_node(rt, i, root.path(), &ports))
            .collect();
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
        let balancer = SocketAddr::new(BALANCER.parse().unwrap(), ports.control);
        let _haproxy = HaProxy::start(&haproxy_config(&ports, &addrs), balancer);
        drop(lock);

        // 20 clients at once store a file each and read it back through the balancer.
        let files: Vec<(String, Vec<u8>)> = (0..CLIENTS)
            .map(|i| {
                (
                    format!("first-{i}.bin"),
                    pattern(10_000 + i * 37_000, i as u64),
                )
            })
            .collect();
        std::thread::scope(|scope| {
            for (i, (name, bytes)) in files.iter().enumerate() {
                scope.spawn(move || {
                    let mut client = Client::login(client_ip(i), balancer, false).unwrap();
                    client
                        .store(name, bytes, 64 * 1024, Duration::ZERO)
                        .unwrap();
                    assert!(client.retrieve(name, false).unwrap() == *bytes, "{name}");
                });
            }
        });
        // Both nodes had clients, and every file reads back through either node.
        for node in &nodes {
            let events = events(node);
            assert!(
                events.matches("Connected { peer: 127.0.0.").count() >= 5,
                "{events}"
            );
            let mut direct = Client::login(IpAddr::from([127, 0, 0, 9]), node.addr, true).unwrap();
            for (name, bytes) in &files {
                assert!(
                    direct.retrieve(name, true).unwrap() == *bytes,
                    "{name} via {}",
                    node.addr
                );
            }
        }

        // Now 20 slow uploads (3 MB in 64 KiB writes 60 ms apart), and node 0 stops in the
        // middle: its clients fail, reconnect through the balancer and store elsewhere.
        let outcomes: Vec<Arc<Mutex<Outcome>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
        let started = Gate::new(CLIENTS + 1, Duration::from_secs(20));
        std::thread::scope(|scope| {
            for (i, outcome) in outcomes.iter().enumerate() {
                let started = &started;
                scope.spawn(move || slow_client(i, balancer, started, outcome));
            }
            started.wait();
            std::thread::sleep(Duration::from_millis(800));
            nodes[0].shutdown();
        });
        let outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| std::mem::take(&mut *o.lock().unwrap()))
            .collect();
        // Exactly the clients node 0 served failed, with 426 or 421; node 1's never noticed.
        let on_node_0 = events(&nodes[0]);
        for (i, outcome) in outcomes.iter().enumerate() {
            let peer = format!("Connected {{ peer: {}:", slow_client_ip(i));
            match &outcome.failed {
                None => assert!(!on_node_0.contains(&peer), "client {i} on node 0 went on"),
                Some(why) => {
                    assert!(
                        on_node_0.contains(&peer),
                        "client {i} on node 1 failed: {why}"
                    );
                    assert!(why.starts_with("426") || why.starts_with("421"), "{why}");
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.failed.is_some()).count();
        assert!((5..=15).contains(&failed), "{failed} failed: {outcomes:#?}");
        // Every client stored its file in the end; the folder holds exactly those files:
        // nothing of an interrupted upload, under its name or any other.
        let mut expected = files.clone();
        for outcome in &outcomes {
            expected.push(
                outcome
                    .stored
                    .clone()
                    .expect("every client stored its file"),
            );
        }
        expected.sort();
        assert_same_tree(&tree(root.path()), &expected);
        drop(nodes);
    });
}

/// One client of the stop-a-node phase: a slow upload through the balancer; on failure, a
/// reconnection through the balancer and the upload again under another name.
fn slow_client(i: usize, balancer: SocketAddr, started: &Gate, outcome: &Mutex<Outcome>) {
    let bytes = pattern(3_000_000, 100 + i as u64);
    let mut client = Client::login(slow_client_ip(i), balancer, false).unwrap();
    started.wait();
    let name = format!("slow-{i}.bin");
    let result = client.store(&name, &bytes, 64 * 1024, Duration::from_millis(60));
    let stored_as = match result {
        Ok(()) => name,
        Err(e) => {
            // The reply that ended it (426 or 421) is the last line the node sent.
            let why = client
                .final_reply()
                .map(|(_, text)| text)
                .unwrap_or_else(|_| e.to_string());
            let why = if e.to_string().starts_with("426") {
                e.to_string()
            } else {
                why
            };
            outcome.lock().unwrap().failed = Some(why.trim_end().to_owned());
            let retry = format!("retry-{i}.bin");
            let mut client = Client::login(slow_client_ip(i), balancer, false).unwrap();
            client
                .store(&retry, &bytes, 256 * 1024, Duration::ZERO)
                .unwrap();
            retry
        }
    };
    outcome.lock().unwrap().stored = Some((stored_as, bytes));
}
