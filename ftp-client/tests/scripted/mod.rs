//! A scripted FTP server for misbehaviour tests: an in-process thread that accepts one control
//! connection and follows a script (send this, read that, stall, close), with passive data
//! connections on demand. Every wait is bounded so a broken test cannot hang.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ftp_client::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// The most any script waits for the client.
const SCRIPT_WAIT: Duration = Duration::from_secs(10);

/// A connection of the script: plain TCP, or TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
    /// Only while switching from one to the other.
    Gone,
}

impl Stream {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(tcp) => Some(tcp),
            Self::Tls(tls) => Some(tls.get_ref()),
            Self::Gone => None,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(tls) => tls.read(buf),
            Self::Gone => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(tls) => tls.write(buf),
            Self::Gone => Err(std::io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(tls) => tls.flush(),
            Self::Gone => Ok(()),
        }
    }
}

/// The test certificate (self-signed, for 127.0.0.1; a CA certificate, as `openssl req
/// -x509` makes them) and a server configuration that sends `tickets` TLS 1.3 tickets per
/// handshake and resumes from `resumption`'s ticketer (share one between the control and
/// data configurations so data connections can resume the control connection's session).
pub fn tls_config(tickets: usize, tls13_only: bool) -> Arc<ServerConfig> {
    // Also compiled into examples/ftp's tests, whose manifest lives beside ftp-client.
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = match crate_dir.join("tests/scripted") {
        own if own.is_dir() => own,
        _ => crate_dir.join("../ftp-client/tests/scripted"),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider);
    let builder = if tls13_only {
        builder
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
    } else {
        builder.with_safe_default_protocol_versions().unwrap()
    };
    let mut config = builder
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    config.send_tls13_tickets = tickets;
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
    Arc::new(config)
}

/// `config` sending `tickets` tickets per handshake, everything else (the ticketer among it)
/// shared.
pub fn with_tickets(config: &Arc<ServerConfig>, tickets: usize) -> Arc<ServerConfig> {
    let mut config = (**config).clone();
    config.send_tls13_tickets = tickets;
    config.max_tls13_tickets = tickets;
    Arc::new(config)
}

/// Runs a server TLS handshake over `tcp` to its end (bounded by the socket's timeouts).
pub fn tls_accept(
    tcp: TcpStream,
    config: &Arc<ServerConfig>,
) -> std::io::Result<StreamOwned<ServerConnection, TcpStream>> {
    let conn = ServerConnection::new(Arc::clone(config)).map_err(std::io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    // The tickets (TLS 1.3) go out after the handshake.
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut tls.sock)?;
    }
    Ok(tls)
}

/// The server's half of a TLS handshake over `tcp`, then the end of the connection at once:
/// what a server does that closes the data connection of an empty file right after sending
/// its handshake flight, without reading the client's Finished (which then meets a closed
/// socket: the client may see a reset instead of the end of the stream).
pub fn tls_flight_then_close(mut tcp: TcpStream, config: &Arc<ServerConfig>) {
    let Ok(mut conn) = ServerConnection::new(Arc::clone(config)) else {
        return;
    };
    for _ in 0..16 {
        if conn.wants_write() {
            break;
        }
        if conn.read_tls(&mut tcp).is_err() || conn.process_new_packets().is_err() {
            return;
        }
    }
    while conn.wants_write() {
        if conn.write_tls(&mut tcp).is_err() {
            return;
        }
    }
    drop(tcp);
}

/// One control connection, as the script sees it.
pub struct Script {
    io: BufReader<Stream>,
}

impl Script {
    /// Sends raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        let stream = self.io.get_mut();
        let _ = stream.write_all(bytes);
        let _ = stream.flush();
    }

    /// After `234`: the control connection's TLS handshake.
    pub fn start_tls(&mut self, config: &Arc<ServerConfig>) {
        self.try_start_tls(config).expect("control TLS handshake");
    }

    /// The control connection's TLS handshake, which the client may refuse.
    pub fn try_start_tls(&mut self, config: &Arc<ServerConfig>) -> std::io::Result<()> {
        let stream = std::mem::replace(self.io.get_mut(), Stream::Gone);
        let Stream::Plain(tcp) = stream else {
            panic!("TLS is already on");
        };
        let tls = tls_accept(tcp, config)?;
        *self.io.get_mut() = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// After the `200` to CCC: close_notify both ways (the client's read one TLS record at a
    /// time, so no plaintext after it is taken for TLS), then plaintext.
    pub fn stop_tls(&mut self) {
        let stream = std::mem::replace(self.io.get_mut(), Stream::Gone);
        let Stream::Tls(tls) = stream else {
            panic!("TLS is not on");
        };
        let StreamOwned { mut conn, mut sock } = *tls;
        conn.send_close_notify();
        while conn.wants_write() {
            conn.write_tls(&mut sock).unwrap();
        }
        for _ in 0..64 {
            let mut header = [0u8; 5];
            sock.read_exact(&mut header).unwrap();
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let mut record = header.to_vec();
            record.resize(5 + len, 0);
            sock.read_exact(&mut record[5..]).unwrap();
            conn.read_tls(&mut &record[..]).unwrap();
            if conn.process_new_packets().unwrap().peer_has_closed() {
                *self.io.get_mut() = Stream::Plain(sock);
                return;
            }
        }
        panic!("no close_notify from the client");
    }

    /// Greeting, AUTH TLS, PBSZ, PROT P and a login (USER, PASS, FEAT listing EPSV).
    pub fn tls_login(&mut self, config: &Arc<ServerConfig>) {
        self.send("220 scripted server");
        self.expect("AUTH");
        self.send("234 Go ahead.");
        self.start_tls(config);
        self.expect("PBSZ");
        self.send("200 PBSZ=0");
        self.expect("PROT");
        self.send("200 Protection level set to P");
        self.expect("USER");
        self.send("331 Password?");
        self.expect("PASS");
        self.send("230 In.");
        self.expect("FEAT");
        self.raw(b"211-Features:\r\n EPSV\r\n211 End\r\n");
    }

    /// Sends one reply line (CRLF added).
    pub fn send(&mut self, line: &str) {
        self.raw(format!("{line}\r\n").as_bytes());
    }

    /// Reads one command line (without CRLF); empty at end of stream or after the wait.
    pub fn read(&mut self) -> String {
        let mut line = String::new();
        let _ = self.io.read_line(&mut line);
        line.trim_end().to_string()
    }

    /// Reads command lines until one starts with `verb` (case-insensitive), answering the
    /// others with `502`; returns it.
    pub fn expect(&mut self, verb: &str) -> String {
        loop {
            let line = self.read();
            if line.is_empty() {
                return line;
            }
            if line
                .to_ascii_uppercase()
                .starts_with(&verb.to_ascii_uppercase())
            {
                return line;
            }
            self.send("502 Not in this script.");
        }
    }

    /// Greeting and a login (USER, PASS, FEAT listing EPSV).
    pub fn login(&mut self) {
        self.send("220 scripted server");
        self.expect("USER");
        self.send("331 Password?");
        self.expect("PASS");
        self.send("230 In.");
        self.expect("FEAT");
        self.raw(b"211-Features:\r\n EPSV\r\n211 End\r\n");
    }

    /// Answers the next `TYPE` and `EPSV` (after any others, refused) and returns the data
    /// listener the 229 names.
    pub fn passive(&mut self) -> TcpListener {
        self.expect("TYPE");
        self.send("200 OK.");
        self.expect("EPSV");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.send(&format!("229 Entering Extended Passive Mode (|||{port}|)"));
        listener
    }

    /// Answers the next `EPSV` (after any others, refused) with a new data listener.
    pub fn epsv(&mut self) -> TcpListener {
        self.expect("EPSV");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.send(&format!("229 Entering Extended Passive Mode (|||{port}|)"));
        listener
    }

    /// Waits this long.
    pub fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }

    /// Stalls: sends nothing until the client closes the control connection (or `max`),
    /// dropping whatever it sends.
    pub fn stall(&mut self, max: Duration) {
        let deadline = std::time::Instant::now() + max;
        if let Some(tcp) = self.io.get_ref().tcp() {
            let _ = tcp.set_read_timeout(Some(Duration::from_millis(20)));
        }
        let mut buf = [0u8; 1024];
        while std::time::Instant::now() < deadline {
            match self.io.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    }

    /// Closes the control connection (both ways) but keeps the script running.
    pub fn close(&mut self) {
        if let Some(tcp) = self.io.get_ref().tcp() {
            let _ = tcp.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Reads and drops until the client closes (bounded).
    pub fn drain(&mut self) {
        let mut buf = [0u8; 1024];
        while matches!(self.io.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Accepts the data connection on `listener` (bounded).
pub fn accept(listener: &TcpListener) -> TcpStream {
    accept_within(listener, SCRIPT_WAIT).expect("no data connection")
}

/// Accepts a connection on `listener` within `wait`.
pub fn accept_within(listener: &TcpListener, wait: Duration) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + wait;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(SCRIPT_WAIT)).unwrap();
                return Some(stream);
            }
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return None,
        }
    }
}

/// Connects to the address an `EPRT |1|ip|port|` command names (active mode; bounded).
pub fn connect_eprt(eprt: &str) -> TcpStream {
    let mut parts = eprt.trim_end_matches('|').rsplit('|');
    let port: u16 = parts.next().unwrap().parse().unwrap();
    let ip: std::net::IpAddr = parts.next().unwrap().parse().unwrap();
    let stream = TcpStream::connect_timeout(&SocketAddr::new(ip, port), SCRIPT_WAIT).unwrap();
    stream.set_read_timeout(Some(SCRIPT_WAIT)).unwrap();
    stream.set_write_timeout(Some(SCRIPT_WAIT)).unwrap();
    stream
}

/// Files and folders of [`reuse_requiring_server`], by absolute path.
#[derive(Debug, Default)]
pub struct Files {
    pub files: std::collections::BTreeMap<String, Vec<u8>>,
    pub dirs: std::collections::BTreeSet<String>,
    /// Data connections refused because they did not resume the TLS session.
    pub refused: usize,
}

/// `arg` against the folder `cwd`, as an absolute path without a trailing slash.
fn absolute(cwd: &str, arg: &str) -> String {
    let joined = if arg.starts_with('/') {
        arg.to_string()
    } else {
        format!("{}/{arg}", cwd.trim_end_matches('/'))
    };
    let trimmed = joined.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

/// A server that treats TLS sessions as ProFTPD does when it requires session reuse
/// (`TLSOptions` without `NoSessionReuseRequired`): explicit FTPS only; a data connection
/// that does not resume the control connection's TLS session gets `425 ... Operation not
/// permitted` after its handshake (an upload then leaves a 0-byte file); TLS 1.3 tickets: two
/// on the control connection, one on a listing's data connection, none on an upload's. TLS
/// 1.2 session ids are resumable. Files live in `files`; up to `connections` control
/// connections are served, one after the other.
pub fn reuse_requiring_server(connections: usize) -> (Server, Arc<std::sync::Mutex<Files>>) {
    let files = Arc::new(std::sync::Mutex::new(Files::default()));
    files.lock().unwrap().dirs.insert("/".into());
    let control = tls_config(2, false);
    let listing_tls = with_tickets(&control, 1);
    let upload = with_tickets(&control, 0);
    let theirs = Arc::clone(&files);
    let server = Server::start_many(connections, move |s| {
        s.tls_login(&control);
        let mut cwd = "/".to_string();
        let mut data: Option<TcpListener> = None;
        for _ in 0..10_000 {
            let line = s.read();
            let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let path = absolute(&cwd, arg);
            let mut files = theirs.lock().unwrap();
            match verb.to_ascii_uppercase().as_str() {
                "TYPE" | "MODE" | "OPTS" => s.send("200 OK."),
                "PWD" => s.send(&format!("257 \"{cwd}\" is the current directory")),
                "CWD" if files.dirs.contains(&path) => {
                    cwd = path;
                    s.send("250 CWD command successful");
                }
                "CWD" => s.send(&format!("550 {arg}: No such file or directory")),
                "MKD" if files.dirs.insert(path.clone()) => {
                    s.send(&format!("257 \"{path}\" - Directory successfully created"))
                }
                "MKD" => s.send(&format!("550 {arg}: File exists")),
                "SIZE" => match files.files.get(&path) {
                    Some(f) => s.send(&format!("213 {}", f.len())),
                    None => s.send(&format!("550 {arg}: No such file or directory")),
                },
                "EPSV" => {
                    let l = TcpListener::bind("127.0.0.1:0").unwrap();
                    let port = l.local_addr().unwrap().port();
                    data = Some(l);
                    s.send(&format!("229 Entering Extended Passive Mode (|||{port}|)"));
                }
                "LIST" => {
                    let dir = if arg.is_empty() { cwd.clone() } else { path };
                    let mut listing = String::new();
                    let prefix = format!("{}/", dir.trim_end_matches('/'));
                    for d in files.dirs.iter().filter_map(|d| d.strip_prefix(&prefix)) {
                        if !d.is_empty() && !d.contains('/') {
                            listing += &format!("drwxr-xr-x 2 u g 4096 Jan  1  2020 {d}\r\n");
                        }
                    }
                    for (f, body) in &files.files {
                        if let Some(name) = f.strip_prefix(&prefix).filter(|n| !n.contains('/')) {
                            let len = body.len();
                            listing += &format!("-rw-r--r-- 1 u g {len} Jan  1  2020 {name}\r\n");
                        }
                    }
                    s.send("150 Opening ASCII mode data connection for file list");
                    let tcp = accept(data.as_ref().unwrap());
                    let mut tls = tls_accept(tcp, &listing_tls).unwrap();
                    let _ = tls.write_all(listing.as_bytes());
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    s.send("226 Transfer complete");
                }
                "STOR" => {
                    s.send(&format!(
                        "150 Opening BINARY mode data connection for {arg}"
                    ));
                    let tcp = accept(data.as_ref().unwrap());
                    let Ok(mut tls) = tls_accept(tcp, &upload) else {
                        s.send("425 Unable to build data connection");
                        continue;
                    };
                    if tls.conn.handshake_kind() != Some(rustls::HandshakeKind::Resumed) {
                        files.files.insert(path, Vec::new());
                        files.refused += 1;
                        drop(tls);
                        s.send("425 Unable to build data connection: Operation not permitted");
                        continue;
                    }
                    let mut body = Vec::new();
                    let _ = tls.read_to_end(&mut body);
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    files.files.insert(path, body);
                    s.send("226 Transfer complete");
                }
                "QUIT" => return s.send("221 Goodbye."),
                "" => return,
                _ => s.send("502 Not in this script."),
            }
        }
    });
    (server, files)
}

/// A running script; [`Server::addr`] is where the client connects.
pub struct Server {
    pub addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts `script` for the first connection.
    pub fn start(run: impl FnOnce(&mut Script) + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(SCRIPT_WAIT)).unwrap();
            let mut script = Script {
                io: BufReader::new(Stream::Plain(stream)),
            };
            run(&mut script);
        });
        Self {
            addr,
            thread: Some(thread),
        }
    }

    /// Serves up to `connections` control connections, each with `run` on a thread of its
    /// own (a client may open the next before it quits the last); after the first, one
    /// that does not come within a few seconds ends the server.
    pub fn start_many(
        connections: usize,
        run: impl Fn(&mut Script) + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let run = Arc::new(run);
        let thread = std::thread::spawn(move || {
            let mut served = Vec::new();
            for i in 0..connections {
                let wait = if i == 0 {
                    SCRIPT_WAIT
                } else {
                    Duration::from_secs(3)
                };
                let Some(stream) = accept_within(&listener, wait) else {
                    break;
                };
                let run = Arc::clone(&run);
                served.push(std::thread::spawn(move || {
                    let mut script = Script {
                        io: BufReader::new(Stream::Plain(stream)),
                    };
                    run(&mut script);
                }));
            }
            for thread in served {
                if let Err(panic) = thread.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
        Self {
            addr,
            thread: Some(thread),
        }
    }

    pub fn target(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            // A script that panicked (a broken expectation) fails the test here.
            if thread.join().is_err() && !std::thread::panicking() {
                panic!("the scripted server panicked");
            }
        }
    }
}
