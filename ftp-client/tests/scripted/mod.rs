//! A scripted FTP server for misbehaviour tests: an in-process thread that accepts one control
//! connection and follows a script (send this, read that, stall, close), with passive data
//! connections on demand. Every wait is bounded so a broken test cannot hang.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

/// The most any script waits for the client.
const SCRIPT_WAIT: Duration = Duration::from_secs(10);

/// One control connection, as the script sees it.
pub struct Script {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Script {
    /// Sends raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        let _ = self.writer.write_all(bytes);
    }

    /// Sends one reply line (CRLF added).
    pub fn send(&mut self, line: &str) {
        self.raw(format!("{line}\r\n").as_bytes());
    }

    /// Reads one command line (without CRLF); empty at end of stream or after the wait.
    pub fn read(&mut self) -> String {
        let mut line = String::new();
        let _ = self.reader.read_line(&mut line);
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

    /// Waits this long.
    pub fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }

    /// Stalls: sends nothing until the client closes the control connection (or `max`),
    /// dropping whatever it sends.
    pub fn stall(&mut self, max: Duration) {
        let deadline = std::time::Instant::now() + max;
        let _ = self
            .reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(20)));
        let mut buf = [0u8; 1024];
        while std::time::Instant::now() < deadline {
            match self.reader.read(&mut buf) {
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
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }

    /// Reads and drops until the client closes (bounded).
    pub fn drain(&mut self) {
        let mut buf = [0u8; 1024];
        while matches!(self.reader.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Accepts the data connection on `listener` (bounded).
pub fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + SCRIPT_WAIT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(SCRIPT_WAIT)).unwrap();
                return stream;
            }
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("no data connection: {e}"),
        }
    }
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
                reader: BufReader::new(stream.try_clone().unwrap()),
                writer: stream,
            };
            run(&mut script);
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
