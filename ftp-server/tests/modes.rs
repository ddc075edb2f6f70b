//! What no common client exercises, checked with a raw client and ftp-proto's own codecs,
//! under both runtimes: MODE B and MODE C both ways (with REST markers), TYPE A on the wire,
//! the in-memory back end behind a real server, audit events, graceful shutdown.

mod support;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ftp_server::auth::{Anonymous, Permissions};
use ftp_server::proto::server::Metadata;
use ftp_server::proto::server::ServerEvent;
use ftp_server::proto::transfer::{
    BlockDecoder, BlockEncoder, CompressedDecoder, CompressedEncoder, DataEvent, DataType,
};
use ftp_server::storage::{
    BoxFuture, FsStorage, MemStorage, Storage, StorageContext, StorageError, StorageLayer,
    VirtualPath,
};
use ftp_server::Server;
use support::*;

/// Decodes a MODE B or C stream; returns the data and whether it ended with an EOF marker.
fn decode(mode: u8, wire: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 70_000];
    let mut block = BlockDecoder::default();
    let mut compressed = CompressedDecoder::new(DataType::Image);
    let mut input = wire;
    let mut eof = false;
    while !input.is_empty() && !eof {
        let step = match mode {
            b'B' => block.decode(input, &mut buf),
            _ => compressed.decode(input, &mut buf),
        }
        .expect("a valid stream");
        out.extend_from_slice(&buf[..step.written]);
        input = &input[step.consumed..];
        eof = step.event == Some(DataEvent::EndOfFile);
        assert!(step.made_progress());
    }
    (out, eof)
}

fn encode(mode: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 70_000];
    let mut block = BlockEncoder::default();
    let mut compressed = CompressedEncoder::new(DataType::Image);
    let mut input = data;
    while !input.is_empty() {
        let step = match mode {
            b'B' => block.encode(input, &mut buf),
            _ => compressed.encode(input, &mut buf),
        };
        out.extend_from_slice(&buf[..step.written]);
        input = &input[step.consumed..];
    }
    loop {
        let finish = match mode {
            b'B' => block.finish(&mut buf),
            _ => compressed.finish(&mut buf),
        };
        out.extend_from_slice(&buf[..finish.written]);
        if finish.done {
            return out;
        }
    }
}

/// The default transfer buffer, and the smallest (16 KiB: many more chunk boundaries for the
/// transcoders to carry state across).
const BUDGETS: [usize; 2] = [256 << 10, 16 << 10];

#[test]
fn block_and_compressed_modes_both_ways() {
    each_runtime(|rt| {
        for budget in BUDGETS {
            block_and_compressed(rt, budget);
        }
    });
}

fn block_and_compressed(rt: Rt, budget: usize) {
    {
        let server = TestServer::start(rt, |s| s.transfer_buffer(budget));
        // Runs of zeros give MODE C something to compress.
        let mut content = pattern(200_000, 11);
        content.extend(std::iter::repeat_n(0u8, 50_000));
        content.extend(pattern(100_001, 12));
        server.write("f.bin", &content);
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);
        for mode in [b'B', b'C'] {
            let m = char::from(mode);
            ctl.expect(&format!("MODE {m}"), 200);
            let wire = ctl.retr("f.bin");
            let (data, eof) = decode(mode, &wire);
            assert!(eof, "MODE {m}: no EOF marker");
            assert!(data == content, "MODE {m} download differs");
            if mode == b'C' {
                assert!(wire.len() < content.len(), "MODE C compressed nothing");
            }
            // Upload: the server stores up to the EOF marker.
            let name = format!("up-{m}.bin");
            ctl.stor(&name, &encode(mode, &content));
            assert!(server.read(&name) == content, "MODE {m} upload differs");
            // REST with a marker (read as a byte offset) resumes a download.
            let (data, eof) = decode(mode, &ctl.retr_from("f.bin", Some(250_000)));
            assert!(eof && data == content[250_000..], "MODE {m} REST differs");
            // A stream cut before its EOF marker stores nothing.
            let mut wire = encode(mode, &content);
            wire.truncate(wire.len() / 2);
            let mut data = ctl.epsv();
            ctl.send("STOR cut.bin");
            assert!(matches!(ctl.reply().0, 125 | 150));
            data.write_all(&wire).unwrap();
            drop(data);
            let (code, text) = ctl.reply();
            assert!(
                code == 426 || code == 451,
                "cut MODE {m} upload got {code} {text}"
            );
            assert!(!server.file("cut.bin").exists());
        }
        ctl.expect("MODE S", 200);
        ctl.expect("QUIT", 221);
    }
}

#[test]
fn type_a_is_crlf_on_the_wire() {
    each_runtime(|rt| {
        for budget in BUDGETS {
            type_a(rt, budget);
        }
    });
}

fn type_a(rt: Rt, budget: usize) {
    {
        let server = TestServer::start(rt, |s| s.transfer_buffer(budget));
        let lf = text(5000);
        server.write("t.txt", &lf);
        let crlf: Vec<u8> = String::from_utf8(lf.clone())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes();
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE A", 200);
        // SIZE in TYPE A counts the CRLF form, as RETR sends it.
        assert_eq!(ctl.expect("SIZE t.txt", 213), crlf.len().to_string());
        assert!(ctl.retr("t.txt") == crlf);
        ctl.stor("back.txt", &crlf);
        assert!(server.read("back.txt") == lf);
        // REST in TYPE A counts bytes of the CRLF form.
        assert!(ctl.retr_from("t.txt", Some(1001)) == crlf[1001..]);
        // TYPE A with MODE B: CRLF inside blocks.
        ctl.expect("MODE B", 200);
        let (data, eof) = decode(b'B', &ctl.retr("t.txt"));
        assert!(eof && data == crlf);
        ctl.expect("SIZE t.txt", 550);
        ctl.expect("QUIT", 221);
    }
}

/// SIZE in TYPE A is what RETR in TYPE A sends: RFC 3659 §4's example (a 112-line,
/// 1830-octet file: 1830 under TYPE I, 1942 under TYPE A), and text with CRLF already in it,
/// a lone CR, a CR and its LF on either side of the count's 64 KiB chunks, and a final CR,
/// in TYPE A and A N. A file at `ascii_size_limit` is counted; past it, 550 in TYPE A and
/// still the size in TYPE I.
#[test]
fn size_in_type_a_counts_what_retr_sends() {
    each_runtime(|rt| {
        let limit = 70_000;
        let server = TestServer::start(rt, |s| s.configure(move |c| c.ascii_size_limit = limit));
        let lines: Vec<String> = (0..112)
            .map(|i| match i < 110 {
                true => format!("line {i:>10}"),
                false => format!("{:-<34}", "last lines "),
            })
            .collect();
        let rfc = format!("{}\n", lines.join("\n"));
        assert_eq!(rfc.len(), 1830);
        server.write("rfc.txt", rfc.as_bytes());
        let mut tricky = b"crlf\r\nlone\rcr\n".repeat(4000);
        tricky.truncate(65_535);
        tricky.extend_from_slice(b"\r\nafter the boundary\nends with CR\r");
        server.write("tricky.txt", &tricky);
        server.write("at-limit.txt", &vec![b'\n'; limit as usize]);
        server.write("past-limit.txt", &vec![b'x'; limit as usize + 1]);
        let mut ctl = server.login(ALICE);
        assert_eq!(ctl.expect("SIZE rfc.txt", 213), "1942");
        assert_eq!(
            ctl.expect("SIZE at-limit.txt", 213),
            (2 * limit).to_string()
        );
        let refused = ctl.expect("SIZE past-limit.txt", 550);
        assert_eq!(
            refused,
            "SIZE in TYPE A counts files up to 70000 bytes; TYPE I gives this one's size."
        );
        for form in ["TYPE A", "TYPE A N"] {
            ctl.expect(form, 200);
            for name in ["rfc.txt", "tricky.txt"] {
                let size = ctl.expect(&format!("SIZE {name}"), 213);
                assert_eq!(size, ctl.retr(name).len().to_string(), "{form}, {name}");
            }
        }
        ctl.expect("TYPE I", 200);
        assert_eq!(ctl.expect("SIZE rfc.txt", 213), "1830");
        assert_eq!(ctl.expect("SIZE past-limit.txt", 213), "70001");
        ctl.expect("QUIT", 221);
    });
}

/// A file found larger than the size the session checked (it grew, or was replaced) is not
/// counted past that size: SIZE in TYPE A answers 450, try again.
#[test]
fn size_in_type_a_stops_at_the_size_it_checked() {
    each_runtime(|rt| {
        let root = TempDir::new("root");
        let storage = StaleSizes {
            inner: FsStorage::new(root.path()).unwrap(),
        };
        let server = TestServer::start_on(rt, root, storage, |s| s);
        server.write("grown.txt", &vec![b'\n'; 5000]);
        let mut ctl = server.login(ALICE);
        ctl.expect("SIZE grown.txt", 450);
        ctl.expect("TYPE I", 200);
        assert_eq!(ctl.expect("SIZE grown.txt", 213), "100");
        ctl.expect("QUIT", 221);
    });
}

/// Storage over a folder that reports every file's size as 100 bytes, as metadata read
/// before the file grew would.
struct StaleSizes {
    inner: FsStorage,
}

impl StorageLayer for StaleSizes {
    fn inner(&self) -> &dyn Storage {
        &self.inner
    }

    fn metadata(
        &self,
        cx: StorageContext,
        path: VirtualPath,
    ) -> BoxFuture<'_, Result<Metadata, StorageError>> {
        Box::pin(async move {
            let mut meta = self.inner.metadata(cx, path).await?;
            meta.size = meta.size.map(|_| 100);
            Ok(meta)
        })
    }
}

#[test]
fn memory_storage_behind_a_real_server() {
    each_runtime(|rt| {
        let storage = MemStorage::new();
        storage.put("/pub/hello.txt", &b"hello\n"[..]).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = Server::new(storage.clone())
            .listen("127.0.0.1:0".parse().unwrap())
            .anonymous(Anonymous::read_write());
        let running = match rt {
            Rt::Tokio => runtime.block_on(server.start_tokio()).unwrap(),
            Rt::AsyncIo => async_io::block_on(server.start_async_io()).unwrap(),
        };
        let mut ctl = Ctl::connect(running.local_addrs()[0]);
        assert_eq!(ctl.reply().0, 220);
        ctl.expect("USER anonymous", 331);
        ctl.expect("PASS x", 230);
        ctl.expect("TYPE I", 200);
        assert_eq!(ctl.retr("/pub/hello.txt"), b"hello\n");
        let big = pattern(3 << 20, 21);
        ctl.stor("/pub/big.bin", &big);
        assert!(storage.get("/pub/big.bin").unwrap() == big);
        assert!(ctl.retr("/pub/big.bin") == big);
        ctl.expect("MKD /new", 257);
        ctl.expect("RNFR /pub/big.bin", 350);
        ctl.expect("RNTO /new/moved.bin", 250);
        assert!(storage.get("/new/moved.bin").is_some());
        let mut data = ctl.epsv();
        ctl.send("MLSD /new");
        let (code, text) = ctl.reply();
        assert!(code == 125 || code == 150, "{text}");
        let mut listing = String::new();
        data.read_to_string(&mut listing).unwrap();
        assert_eq!(ctl.reply().0, 226);
        assert!(listing.contains("Type=file;Size=3145728;"), "{listing}");
        assert!(listing.ends_with(" moved.bin\r\n"), "{listing}");
        ctl.expect("QUIT", 221);
        futures_lite::future::block_on(running.shutdown());
    });
}

#[test]
fn audit_events_count_logins_commands_and_bytes() {
    each_runtime(|rt| {
        let seen: Arc<Mutex<Vec<ServerEvent>>> = Arc::default();
        let sink = Arc::clone(&seen);
        let server = TestServer::start(rt, move |s| {
            s.on_event(move |e| sink.lock().unwrap().push(e.event.clone()))
        });
        server.write("f.bin", &pattern(12_345, 1));
        let mut ctl = server.login(ALICE);
        ctl.expect("TYPE I", 200);
        ctl.retr("f.bin");
        let _data = ctl.epsv();
        ctl.expect("RETR missing", 550);
        ctl.expect("QUIT", 221);
        drop(ctl);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let events = seen.lock().unwrap().clone();
            let closed = events
                .iter()
                .any(|e| matches!(e, ServerEvent::Closed { .. }));
            if closed {
                assert!(events.iter().any(|e| matches!(
                    e,
                    ServerEvent::LoggedIn { user, anonymous: false, read_only: false, permissions }
                        if &user[..] == b"alice" && *permissions == Permissions::ALL
                )));
                assert!(events
                    .iter()
                    .any(|e| matches!(e, ServerEvent::TransferCompleted { bytes: 12_345, .. })));
                assert!(events.iter().any(|e| matches!(
                    e,
                    ServerEvent::Rejected { code, .. } if code.get() == 550
                )));
                assert!(
                    events
                        .iter()
                        .filter(|e| matches!(e, ServerEvent::Command { .. }))
                        .count()
                        >= 5
                );
                break;
            }
            assert!(Instant::now() < deadline, "no Closed event: {events:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    });
}

#[test]
fn graceful_shutdown_answers_421_and_bounds_transfers() {
    each_runtime(|rt| {
        let mut server = TestServer::start(rt, |s| s.shutdown_grace(Duration::from_secs(1)));
        server.write("big.bin", &pattern(48 << 20, 3));
        let mut idle = server.login(ALICE);
        let mut busy = server.login(ALICE);
        busy.expect("TYPE I", 200);
        let _data = busy.epsv();
        busy.send("RETR big.bin");
        assert!(matches!(busy.reply().0, 125 | 150));
        // The client does not read: the transfer cannot finish within the grace period.
        let started = Instant::now();
        let stopper = std::thread::spawn(move || {
            server.shutdown();
            server
        });
        assert_eq!(idle.reply().0, 421, "idle sessions get 421 at once");
        assert!(idle.try_reply().is_none());
        assert_eq!(
            busy.reply().0,
            426,
            "the stuck transfer is aborted after the grace"
        );
        assert_eq!(busy.reply().0, 421);
        assert!(started.elapsed() >= Duration::from_millis(900));
        let server = stopper.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(8));
        // The listener is gone.
        assert!(std::net::TcpStream::connect(server.addr).is_err());
    });
}

#[test]
fn graceful_shutdown_lets_a_transfer_finish_within_the_grace() {
    each_runtime(|rt| {
        let mut server = TestServer::start(rt, |s| s.shutdown_grace(Duration::from_secs(5)));
        let content = pattern(16 << 20, 4);
        server.write("big.bin", &content);
        let mut busy = server.login(ALICE);
        busy.expect("TYPE I", 200);
        let mut data = busy.epsv();
        busy.send("RETR big.bin");
        assert!(matches!(busy.reply().0, 125 | 150));
        let mut got = vec![0u8; 1 << 20];
        data.read_exact(&mut got).unwrap();
        let stopper = std::thread::spawn(move || {
            server.shutdown();
            server
        });
        // Shutdown has begun; the running transfer goes on.
        std::thread::sleep(Duration::from_millis(200));
        data.read_to_end(&mut got).unwrap();
        assert!(got == content, "the transfer finished whole");
        assert_eq!(
            busy.reply().0,
            226,
            "the transfer completes within the grace"
        );
        assert_eq!(busy.reply().0, 421, "then the session is closed");
        assert!(busy.try_reply().is_none());
        stopper.join().unwrap();
    });
}
