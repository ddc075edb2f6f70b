//! ftp-server nodes behind a real HAProxy: the harness (HAProxy started and killed by its
//! PID, ports, the configuration), and a small FTP client with errors as values for clients
//! whose node may go away. Self-contained, so that ftpd's tests (examples/ftpd.rs) use it too.

#![allow(dead_code, unreachable_pub)]

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ftp_server::proto::proxy::{encode_v2, ProxyHeader};

/// Where HAProxy listens, and where the nodes listen (other loopback addresses, so that each
/// node's passive ports can be the balancer's too).
pub const BALANCER: &str = "127.0.0.1";
pub const NODE_IPS: [&str; 2] = ["127.0.0.2", "127.0.0.3"];
pub const PASSIVE_PORTS: u16 = 40;

/// Debian's haproxy, in /usr/sbin (outside a normal user's PATH); else the one on the PATH.
/// Fails when there is none: `.ci/run` installs it (`apt-get install haproxy`).
pub fn haproxy_binary() -> PathBuf {
    let debian = std::path::Path::new("/usr/sbin/haproxy");
    if debian.exists() {
        return debian.to_path_buf();
    }
    "haproxy".into()
}

/// A running HAProxy, killed by its PID on drop.
pub struct HaProxy {
    child: Child,
    dir: PathBuf,
}

impl HaProxy {
    /// Starts `haproxy -db` with `config` and waits (10 s at most) until `ready` accepts.
    pub fn start(config: &str, ready: SocketAddr) -> Self {
        let binary = haproxy_binary();
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ftp-haproxy-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let check = Command::new(&binary)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (apt-get install haproxy, as .ci/run does)",
                    binary.display()
                )
            });
        let why = String::from_utf8_lossy(&check.stderr);
        assert!(check.status.success(), "{config}\n{why}");
        let child = Command::new(&binary)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let haproxy = Self { child, dir };
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
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free port on the balancer's address, and for each node a range of [`PASSIVE_PORTS`]
/// ports free on both the balancer's and the node's address. Held under a lock while the
/// nodes and HAProxy bind them.
pub struct Ports {
    pub control: u16,
    pub control_v1: u16,
    pub passive: Vec<u16>,
}

pub static PORTS: Mutex<()> = Mutex::new(());

pub fn free_on(ip: &str, port: u16) -> bool {
    TcpListener::bind((ip.parse::<IpAddr>().unwrap(), port)).is_ok()
}

pub fn pick_ports(nodes: usize) -> Ports {
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
pub fn haproxy_config(ports: &Ports, nodes: &[SocketAddr]) -> String {
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

/// A small FTP client with errors as values, for clients whose server may go away.
pub struct Client {
    ctl: TcpStream,
    pending: Vec<u8>,
    ip: IpAddr,
}

impl Client {
    /// Connects from `ip` to `server`, reads the greeting and logs in as alice.
    pub fn login(ip: IpAddr, server: SocketAddr, header: bool) -> io::Result<Self> {
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

    pub fn reply(&mut self) -> io::Result<(u16, String)> {
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
    pub fn final_reply(&mut self) -> io::Result<(u16, String)> {
        loop {
            let (code, text) = self.reply()?;
            if !(100..200).contains(&code) {
                return Ok((code, text));
            }
        }
    }

    pub fn expect(&mut self, command: Option<&str>, code: u16) -> io::Result<String> {
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
    pub fn data(&mut self, header: bool) -> io::Result<TcpStream> {
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
    pub fn store(
        &mut self,
        name: &str,
        bytes: &[u8],
        chunk: usize,
        pause: Duration,
    ) -> io::Result<()> {
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

    pub fn retrieve(&mut self, name: &str, header: bool) -> io::Result<Vec<u8>> {
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
pub fn connect_from(ip: IpAddr, server: SocketAddr, header: bool) -> io::Result<TcpStream> {
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
pub fn client_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 10 + i as u8])
}

pub fn slow_client_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 40 + i as u8])
}

/// What one client did in the stop-a-node phase.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The reply or error that ended its first upload, when it did not succeed.
    pub failed: Option<String>,
    /// The file it stored in the end, and its bytes.
    pub stored: Option<(String, Vec<u8>)>,
}

/// One client of the stop-a-node phase: a slow upload through the balancer; on failure, a
/// reconnection through the balancer and the upload again under another name.
/// `bytes` go in 64 KiB writes `pause` apart; `started` is called once logged in.
pub fn slow_client(
    i: usize,
    balancer: SocketAddr,
    bytes: Vec<u8>,
    pause: Duration,
    started: &(dyn Fn() + Sync),
    outcome: &Mutex<Outcome>,
) {
    let mut client = Client::login(slow_client_ip(i), balancer, false).unwrap();
    started();
    let name = format!("slow-{i}.bin");
    let result = client.store(&name, &bytes, 64 * 1024, pause);
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

/// `len` bytes of a pattern that differs with `seed`.
pub fn sample(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The first phase's files: one per client, from 10 KB to about 700 KB.
pub fn first_files(clients: usize) -> Vec<(String, Vec<u8>)> {
    (0..clients)
        .map(|i| {
            (
                format!("first-{i}.bin"),
                sample(10_000 + i * 37_000, i as u8),
            )
        })
        .collect()
}

/// One client per file, all at once: each logs in through `balancer` from its own address
/// ([`client_ip`]), stores its file and reads it back, byte for byte.
pub fn store_and_read_back(balancer: SocketAddr, files: &[(String, Vec<u8>)]) {
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
}

/// Reads every file back from `node` directly (as the balancer would, with a PROXY header),
/// byte for byte.
pub fn read_back_directly(node: SocketAddr, files: &[(String, Vec<u8>)]) {
    let mut client = Client::login(IpAddr::from([127, 0, 0, 9]), node, true).unwrap();
    for (name, bytes) in files {
        assert!(
            client.retrieve(name, true).unwrap() == *bytes,
            "{name} via {node}"
        );
    }
}
