//! Wire-layer throughput: command framing and parsing, reply decoding (ours, and suppaftp's
//! over loopback TCP, as a ratio), and the 227/229 address parsers.
//!
//! Run with `cargo bench -p ftp-benches --bench wire` (`FTP_BENCH_SECONDS` sets the time per
//! measurement, two seconds by default).
//!
//! suppaftp 12 reads replies only inside its sync client (`ImplFtpStream`, whose control channel
//! is a `BufReader` over a `TcpStream`): there is no public entry point that takes bytes. So its
//! figure is taken over a loopback socket: a server thread sends the canned reply stream over and
//! over (and reads and drops what the client sends), and the client sends one `NOOP` per reply
//! with `custom_command` and reads the reply. The comparable figure for ftp-proto is measured the
//! same way: same server, one encoded `NOOP` written per reply, 8 KiB socket reads fed to a
//! `ReplyDecoder`. The in-memory figure (no socket) is reported separately.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;

use ftp_benches::{measure, report_ratio, Measurement};
use ftp_proto::addr::{self, Leniency};
use ftp_proto::line::LineFramer;
use ftp_proto::reply::ReplyDecoder;
use ftp_proto::{Command, Reply};
use suppaftp::{FtpError, FtpStream, Status};

/// Bytes handed to the framer or decoder at a time, like one socket read.
const CHUNK: usize = 8 * 1024;

/// A small deterministic generator, so every run measures the same input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const DIRS: [&str; 8] = [
    "/pub/linux/kernel/v6.x",
    "/home/alice/Documents",
    "/srv/ftp/incoming",
    "photos/2024/summer holiday",
    "/var/backups/db",
    "releases",
    "/mirror/debian/pool/main/b/bash",
    "..",
];

const FILES: [&str; 8] = [
    "linux-6.1.tar.xz",
    "report 2024 Q3.pdf",
    "IMG_20240715_183012.JPG",
    "dump-2024-11-02.sql.gz",
    "README",
    "bash_5.2.15-2_amd64.deb",
    "café menü.txt",
    "setup.exe",
];

/// A client's command stream: a few dozen sessions of login, feature negotiation and transfers.
/// Returns the bytes (CR LF line ends) and the number of lines.
fn command_stream() -> (Vec<u8>, u64) {
    let mut rng = Rng(1);
    let mut lines: Vec<String> = Vec::new();
    while lines.len() < 4000 {
        lines.push(format!("USER user{}", rng.below(1000)));
        lines.push(format!("PASS s3cr3t-{}", rng.next()));
        lines.push("FEAT".into());
        lines.push("OPTS UTF8 ON".into());
        lines.push("TYPE I".into());
        for _ in 0..12 {
            lines.push(format!("CWD {}", rng.pick(&DIRS)));
            lines.push(match rng.below(4) {
                0 => "PASV".into(),
                1 => "EPSV".into(),
                2 => format!(
                    "PORT 192,168,{},{},{},{}",
                    rng.below(256),
                    rng.below(256),
                    1 + rng.below(255),
                    rng.below(256)
                ),
                _ => format!(
                    "EPRT |2|2001:db8::{:x}|{}|",
                    rng.below(65536),
                    1024 + rng.below(60000)
                ),
            });
            let file = rng.pick(&FILES);
            match rng.below(6) {
                0 => lines.push("LIST".into()),
                1 => lines.push(format!("MLSD {}", rng.pick(&DIRS))),
                2 => lines.push(format!("STOR {file}")),
                3 => {
                    lines.push(format!("REST {}", rng.next()));
                    lines.push(format!("RETR {file}"));
                }
                _ => lines.push(format!("RETR {}/{file}", rng.pick(&DIRS))),
            }
            lines.push(format!("SIZE {file}"));
            lines.push(format!("MDTM {file}"));
            if rng.below(3) == 0 {
                lines.push("NOOP".into());
            }
        }
        lines.push("QUIT".into());
    }
    let mut bytes = Vec::new();
    for line in &lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    (bytes, lines.len() as u64)
}

/// A reply stream being built: one `push` per reply.
#[derive(Default)]
struct Replies {
    text: String,
    /// Lines in the stream.
    count: u64,
    /// Each reply's length in bytes.
    lens: Vec<usize>,
}

impl Replies {
    fn push(&mut self, reply: impl AsRef<str>) {
        let reply = reply.as_ref();
        self.count += reply.matches("\r\n").count() as u64;
        self.lens.push(reply.len());
        self.text.push_str(reply);
    }
}

/// A server's reply stream for sessions like the ones above: multi-line 220 banners and 211 FEAT
/// replies, and the single-line replies of login and transfers.
fn reply_stream() -> Replies {
    let mut rng = Rng(2);
    let mut out = Replies::default();
    while out.count < 3000 {
        out.push(format!(
            "220-Welcome to the example.org mirror (node {}).\r\n\
             220-All transfers are logged. Disconnect if you do not agree.\r\n\
             220-Local time is Sat Nov 22 10:{:02}:{:02} 2025.\r\n\
             220 You will be disconnected after 15 minutes of inactivity.\r\n",
            rng.below(64),
            rng.below(60),
            rng.below(60)
        ));
        out.push("331 Please specify the password.\r\n");
        out.push("230 Login successful.\r\n");
        out.push(
            "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n \
             TVFS\r\n UTF8\r\n MLST type*;size*;modify*;perm*;unique*;\r\n AUTH TLS\r\n \
             PBSZ\r\n PROT\r\n211 End\r\n",
        );
        out.push("200 Always in UTF8 mode.\r\n");
        out.push("200 Switching to Binary mode.\r\n");
        for _ in 0..12 {
            out.push(format!(
                "257 \"{}\" is the current directory\r\n",
                rng.pick(&DIRS)
            ));
            let (p1, p2) = (rng.below(256), rng.below(256));
            match rng.below(3) {
                0 => out.push(format!(
                    "227 Entering Passive Mode (10,{},{},{},{p1},{p2}).\r\n",
                    rng.below(256),
                    rng.below(256),
                    rng.below(256)
                )),
                1 => out.push(format!(
                    "229 Entering Extended Passive Mode (|||{}|)\r\n",
                    1024 + p1 * 200 + p2
                )),
                _ => out.push("200 PORT command successful. Consider using PASV.\r\n"),
            }
            if rng.below(4) == 0 {
                out.push(format!(
                    "350 Restart position accepted ({}).\r\n",
                    rng.next()
                ));
            }
            out.push(format!(
                "150 Opening BINARY mode data connection for {} ({} bytes).\r\n",
                rng.pick(&FILES),
                rng.next()
            ));
            out.push("226 Transfer complete.\r\n");
            out.push(format!("213 {}\r\n", rng.next()));
            out.push(format!(
                "213 2024{:02}{:02}{:02}{:02}{:02}\r\n",
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60)
            ));
        }
    }
    out
}

/// Decodes a whole reply stream in memory: each reply's code and line count.
fn replies_of(stream: &[u8]) -> Vec<Reply> {
    let mut decoder = ReplyDecoder::default();
    decoder.feed(stream);
    let replies: Vec<Reply> = std::iter::from_fn(|| decoder.next_reply())
        .map(|reply| reply.expect("the canned replies are valid"))
        .collect();
    assert!(!decoder.is_mid_reply());
    replies
}

/// A loopback server for one client: sends `220 ready`, then `cycle` over and over until the
/// client hangs up, while a second thread reads and drops whatever the client sends.
fn spawn_reply_server(cycle: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().expect("local address");
    thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return;
        };
        if let Ok(mut reader) = socket.try_clone() {
            thread::spawn(move || {
                let mut sink = vec![0u8; 64 * 1024];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
        if socket.write_all(b"220 ready\r\n").is_ok() {
            while socket.write_all(&cycle).is_ok() {}
        }
    });
    address
}

/// Reads from `socket` into `decoder` until a reply is complete.
fn read_reply(socket: &mut TcpStream, decoder: &mut ReplyDecoder, buf: &mut [u8]) -> Reply {
    loop {
        if let Some(reply) = decoder.next_reply() {
            return reply.expect("valid reply");
        }
        let n = socket.read(buf).expect("read from the reply server");
        assert!(n > 0, "reply server hung up");
        decoder.feed(&buf[..n]);
    }
}

fn bench_commands() {
    let (stream, line_count) = command_stream();
    println!(
        "\n# Command parsing: {line_count} client command lines ({} KiB), fed in 8 KiB chunks \
         through LineFramer + Command::parse",
        stream.len() / 1024
    );
    let run = || {
        let mut framer = LineFramer::default();
        let mut lines = 0u64;
        for chunk in stream.chunks(CHUNK) {
            framer.feed(chunk);
            while let Some(line) = framer.next_line() {
                let line = line.expect("lines are short");
                let command = Command::parse(&line.bytes).expect("valid commands");
                std::hint::black_box(&command);
                lines += 1;
            }
        }
        lines
    };
    assert_eq!(run(), line_count);
    measure("ftp-proto: LineFramer + Command::parse", "lines", run);
}

/// Ours in memory, ours over loopback TCP, suppaftp over loopback TCP.
fn bench_replies() {
    let Replies {
        text,
        count: line_count,
        lens: reply_lens,
    } = reply_stream();
    let stream = text.into_bytes();
    let replies = replies_of(&stream);
    assert_eq!(replies.len(), reply_lens.len());
    let codes: Vec<u16> = replies.iter().map(|r| r.code().get()).collect();
    let line_counts: Vec<u64> = replies.iter().map(|r| r.lines().len() as u64).collect();
    assert_eq!(line_counts.iter().sum::<u64>(), line_count);
    let multiline = replies.iter().filter(|r| r.is_multiline()).count();
    println!(
        "\n# Reply parsing: {line_count} reply lines in {} replies ({multiline} multi-line), {} KiB",
        replies.len(),
        stream.len() / 1024
    );

    let in_memory = measure(
        "ftp-proto: ReplyDecoder, in memory, 8 KiB chunks",
        "lines",
        || {
            let mut decoder = ReplyDecoder::default();
            let mut lines = 0u64;
            for chunk in stream.chunks(CHUNK) {
                decoder.feed(chunk);
                while let Some(reply) = decoder.next_reply() {
                    let reply = reply.expect("valid reply");
                    lines += reply.lines().len() as u64;
                    std::hint::black_box(&reply);
                }
            }
            lines
        },
    );

    // The transport alone, for reference: the same socket traffic (one NOOP written per
    // reply, 8 KiB reads) with the reply boundaries known in advance, so nothing is parsed.
    let floor = {
        let mut socket = TcpStream::connect(spawn_reply_server(stream.clone())).expect("connect");
        let mut buf = vec![0u8; CHUNK];
        let mut available = 0usize;
        let mut take = |socket: &mut TcpStream, len: usize| {
            while available < len {
                let n = socket.read(&mut buf).expect("read from the reply server");
                assert!(n > 0, "reply server hung up");
                available += n;
            }
            available -= len;
        };
        take(&mut socket, b"220 ready\r\n".len());
        measure(
            "transport floor: NOOP write + reads, no parsing",
            "lines",
            || {
                for &len in &reply_lens {
                    socket.write_all(b"NOOP\r\n").expect("write NOOP");
                    take(&mut socket, len);
                }
                line_count
            },
        )
    };

    // Over loopback TCP: one NOOP written per reply, then the reply read.
    let ours_tcp = {
        let mut socket = TcpStream::connect(spawn_reply_server(stream.clone())).expect("connect");
        let mut decoder = ReplyDecoder::default();
        let mut buf = vec![0u8; CHUNK];
        let greeting = read_reply(&mut socket, &mut decoder, &mut buf);
        assert_eq!(greeting.code().get(), 220);
        measure(
            "ftp-proto: NOOP + ReplyDecoder, loopback TCP",
            "lines",
            || {
                let mut lines = 0u64;
                for (&code, &count) in codes.iter().zip(&line_counts) {
                    let noop = Command::Noop.to_bytes().expect("NOOP encodes");
                    socket.write_all(&noop).expect("write NOOP");
                    let reply = read_reply(&mut socket, &mut decoder, &mut buf);
                    assert_eq!(reply.code().get(), code);
                    assert_eq!(reply.lines().len() as u64, count);
                    lines += count;
                }
                lines
            },
        )
    };

    let suppaftp_tcp = {
        // Every code in the stream but 211: with `Status::System` expected, suppaftp stops a
        // reply at its `211-` opener (FEAT reads the rest itself). A 211 reply comes back as
        // `UnexpectedResponse`, fully read, which is just as good here.
        const EXPECTED: [Status; 11] = [
            Status::Ready,
            Status::NeedPassword,
            Status::LoggedIn,
            Status::CommandOk,
            Status::PathCreated,
            Status::PassiveMode,
            Status::ExtendedPassiveMode,
            Status::RequestFilePending,
            Status::AboutToSend,
            Status::ClosingDataConnection,
            Status::File,
        ];
        let mut ftp =
            FtpStream::connect(spawn_reply_server(stream.clone())).expect("suppaftp connects");
        measure(
            "suppaftp 12: custom_command(NOOP), loopback TCP",
            "lines",
            || {
                let mut lines = 0u64;
                for (&code, &count) in codes.iter().zip(&line_counts) {
                    let response = match ftp.custom_command("NOOP", &EXPECTED) {
                        Ok(response) | Err(FtpError::UnexpectedResponse(response)) => response,
                        Err(error) => panic!("suppaftp: {error}"),
                    };
                    assert_eq!(response.status.code(), u32::from(code));
                    lines += count;
                }
                lines
            },
        )
    };

    println!("  ftp-proto vs suppaftp, both over loopback TCP with one NOOP per reply:");
    report_ratio(&ours_tcp, &suppaftp_tcp);
    // Per line, what each costs above the transport floor: command encoding, reply parsing and
    // the library's own bookkeeping. A derived estimate, noisy when the floor dominates.
    let above_floor = |m: &Measurement| 1e9 / m.per_second() - 1e9 / floor.per_second();
    let (ours_ns, theirs_ns) = (above_floor(&ours_tcp), above_floor(&suppaftp_tcp));
    println!(
        "  above the transport floor: ftp-proto {ours_ns:.0} ns/line, suppaftp {theirs_ns:.0} \
         ns/line ({:.2}x)",
        theirs_ns / ours_ns
    );
    println!(
        "  ftp-proto in memory vs suppaftp over TCP (not like for like: no socket on our side):"
    );
    report_ratio(&in_memory, &suppaftp_tcp);
}

fn bench_addresses() {
    let mut rng = Rng(3);
    let mut pasv = Vec::new();
    let mut epsv = Vec::new();
    for i in 0..1000 {
        let (a, b, c, d) = (
            rng.below(256),
            rng.below(256),
            rng.below(256),
            rng.below(256),
        );
        let (p1, p2) = (1 + rng.below(255), rng.below(256));
        let text = match i % 4 {
            0 | 1 => format!("Entering Passive Mode ({a},{b},{c},{d},{p1},{p2})."),
            2 => format!("Entering Passive Mode {a},{b},{c},{d},{p1},{p2}"),
            _ => format!("PASV ok (={a},{b},{c},{d},{p1},{p2})"),
        };
        let port = p1 * 256 + p2;
        let expected: SocketAddr = format!("{a}.{b}.{c}.{d}:{port}").parse().expect("address");
        pasv.push((text.into_bytes(), expected));
        let text = match i % 2 {
            0 => format!("Entering Extended Passive Mode (|||{port}|)"),
            _ => format!("EPSV ok (!!!{port}!)"),
        };
        epsv.push((text.into_bytes(), port as u16));
    }
    for (text, expected) in &pasv {
        let parsed = addr::parse_pasv_reply(text, Leniency::Strict).expect("valid 227 text");
        assert_eq!(SocketAddr::V4(parsed), *expected);
    }
    for (text, expected) in &epsv {
        assert_eq!(
            addr::parse_epsv_reply(text, Leniency::Strict),
            Ok(*expected)
        );
    }
    println!("\n# Address parsing: 1000 distinct 227 and 229 reply texts");
    measure("ftp-proto: parse_pasv_reply (227)", "parses", || {
        for (text, _) in &pasv {
            std::hint::black_box(
                addr::parse_pasv_reply(std::hint::black_box(text), Leniency::Strict).ok(),
            );
        }
        pasv.len() as u64
    });
    measure("ftp-proto: parse_epsv_reply (229)", "parses", || {
        for (text, _) in &epsv {
            std::hint::black_box(
                addr::parse_epsv_reply(std::hint::black_box(text), Leniency::Strict).ok(),
            );
        }
        epsv.len() as u64
    });
}

fn main() {
    bench_commands();
    bench_replies();
    bench_addresses();
}
