//! End-to-end throughput of `ftp-client` over loopback: a 1 GiB download and upload against
//! vsftpd, in each client style, beside curl against the same server in the same run.
//!
//! ```sh
//! cargo bench -p ftp-benches --bench client_loopback
//! FTP_BENCH_SIZE_MIB=256 FTP_BENCH_RUNS=5 cargo bench -p ftp-benches --bench client_loopback
//! FTP_BENCH_TLS=0 cargo bench -p ftp-benches --bench client_loopback   # plain FTP only
//! ```
//!
//! * **Server**: vsftpd, started with `ftp-client/tests/peers/run-vsftpd.sh` (as root; run
//!   `ftp-client/tests/peers/install.sh` once first, `.ci/run` does), plain FTP and explicit
//!   FTPS (TLS 1.3, data connections resuming the control session).
//! * **Clients**: ours (blocking, tokio current-thread, async-io `block_on`), each reading
//!   into and writing from 1 MiB buffers, and curl (`-o /dev/null` down, `-T FILE` up;
//!   `--ssl-reqd -k` for FTPS). Every transfer is timed from connect to the server's final
//!   reply (curl: the whole process); every client runs once per round, for
//!   `FTP_BENCH_RUNS` rounds (default 3), so that a noisy machine affects them alike. The
//!   table shows the best and the median rate in MB/s (10^6 bytes per second).
//! * The file lives in `FTP_BENCH_DIR` (default `/dev/shm`, else the temporary directory),
//!   so disks stay out of the figures; uploads go to the same directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ftp_client::{ConnectOptions, TlsConfig, TlsMode};

const BUF: usize = 1 << 20;
const USER: &str = "ftptest";
const PASS: &str = "ftptest";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// vsftpd on a free port, stopped (its process group) on drop.
struct Vsftpd {
    port: u16,
    child: Child,
}

impl Vsftpd {
    fn start(root: &Path, tmp: &Path) -> Result<Self, String> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../ftp-client/tests/peers/run-vsftpd.sh");
        let free = || {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| e.to_string())
        };
        let port = free()?;
        let pasv = free()?;
        let mut command = Command::new("bash");
        command
            .arg(script)
            .arg(port.to_string())
            .arg(root)
            .arg(tmp)
            .arg(pasv.to_string())
            .arg(pasv.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let child = command.spawn().map_err(|e| e.to_string())?;
        let mut server = Self { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "vsftpd exited ({status}); run ftp-client/tests/peers/install.sh as root first"
                ));
            }
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
                let mut line = String::new();
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                if BufReader::new(&stream).read_line(&mut line).is_ok() && line.starts_with("220") {
                    let _ = (&stream).write_all(b"QUIT\r\n");
                    return Ok(server);
                }
            }
            if Instant::now() > deadline {
                return Err("vsftpd did not greet within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        std::thread::sleep(Duration::from_millis(200));
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Blocking,
    Tokio,
    AsyncStd,
    Curl,
}

impl Style {
    const ALL: [Self; 4] = [Self::Blocking, Self::Tokio, Self::AsyncStd, Self::Curl];

    fn name(self) -> &'static str {
        match self {
            Self::Blocking => "ftp-client blocking",
            Self::Tokio => "ftp-client tokio",
            Self::AsyncStd => "ftp-client async-std",
            Self::Curl => "curl",
        }
    }
}

fn options(port: u16, tls: bool) -> ConnectOptions {
    let options = ConnectOptions::new("127.0.0.1", port).login(USER, PASS);
    if tls {
        options
            .tls(TlsMode::Explicit)
            .tls_config(TlsConfig::danger_accept_invalid_certs())
    } else {
        options
    }
}

/// One timed transfer; `up` uploads `file` to `up.bin`, otherwise `big.bin` is downloaded.
/// Returns the bytes moved.
fn transfer(style: Style, port: u16, tls: bool, up: bool, file: &Path) -> Result<u64, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    match style {
        Style::Blocking => {
            let mut client = ftp_client::blocking::Client::connect_with(&options(port, tls))
                .map_err(|e| err(&e))?;
            let mut buf = vec![0u8; BUF];
            let n = if up {
                let mut source = std::fs::File::open(file).map_err(|e| err(&e))?;
                let mut upload = client.store("up.bin").map_err(|e| err(&e))?;
                let mut n = 0u64;
                loop {
                    let k = source.read(&mut buf).map_err(|e| err(&e))?;
                    if k == 0 {
                        break;
                    }
                    upload.write_all(&buf[..k]).map_err(|e| err(&e))?;
                    n += k as u64;
                }
                upload.finish().map_err(|e| err(&e))?;
                n
            } else {
                let mut download = client.retrieve("big.bin", 0).map_err(|e| err(&e))?;
                let mut n = 0u64;
                loop {
                    let k = download.read(&mut buf).map_err(|e| err(&e))?;
                    if k == 0 {
                        break;
                    }
                    n += k as u64;
                }
                download.finish().map_err(|e| err(&e))?;
                n
            };
            let _ = client.quit();
            Ok(n)
        }
        Style::Tokio => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(&e))?
            .block_on(async {
                use std::future::poll_fn;
                use std::pin::Pin;
                use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
                let mut client = ftp_client::tokio::Client::connect_with(&options(port, tls))
                    .await
                    .map_err(|e| err(&e))?;
                let mut buf = vec![0u8; BUF];
                let n = if up {
                    let mut source = std::fs::File::open(file).map_err(|e| err(&e))?;
                    let mut upload = client.store("up.bin").await.map_err(|e| err(&e))?;
                    let mut n = 0u64;
                    loop {
                        let k = source.read(&mut buf).map_err(|e| err(&e))?;
                        if k == 0 {
                            break;
                        }
                        let mut chunk = &buf[..k];
                        while !chunk.is_empty() {
                            let w = poll_fn(|cx| Pin::new(&mut upload).poll_write(cx, chunk))
                                .await
                                .map_err(|e| err(&e))?;
                            chunk = &chunk[w..];
                        }
                        n += k as u64;
                    }
                    upload.finish().await.map_err(|e| err(&e))?;
                    n
                } else {
                    let mut download = client.retrieve("big.bin", 0).await.map_err(|e| err(&e))?;
                    let mut n = 0u64;
                    loop {
                        let k = poll_fn(|cx| {
                            let mut rb = ReadBuf::new(&mut buf);
                            Pin::new(&mut download)
                                .poll_read(cx, &mut rb)
                                .map_ok(|()| rb.filled().len())
                        })
                        .await
                        .map_err(|e| err(&e))?;
                        if k == 0 {
                            break;
                        }
                        n += k as u64;
                    }
                    download.finish().await.map_err(|e| err(&e))?;
                    n
                };
                let _ = client.quit().await;
                Ok(n)
            }),
        Style::AsyncStd => async_io::block_on(async {
            use futures_io::{AsyncRead, AsyncWrite};
            use std::future::poll_fn;
            use std::pin::Pin;
            let mut client = ftp_client::async_std::Client::connect_with(&options(port, tls))
                .await
                .map_err(|e| err(&e))?;
            let mut buf = vec![0u8; BUF];
            let n = if up {
                let mut source = std::fs::File::open(file).map_err(|e| err(&e))?;
                let mut upload = client.store("up.bin").await.map_err(|e| err(&e))?;
                let mut n = 0u64;
                loop {
                    let k = source.read(&mut buf).map_err(|e| err(&e))?;
                    if k == 0 {
                        break;
                    }
                    let mut chunk = &buf[..k];
                    while !chunk.is_empty() {
                        let w = poll_fn(|cx| Pin::new(&mut upload).poll_write(cx, chunk))
                            .await
                            .map_err(|e| err(&e))?;
                        chunk = &chunk[w..];
                    }
                    n += k as u64;
                }
                upload.finish().await.map_err(|e| err(&e))?;
                n
            } else {
                let mut download = client.retrieve("big.bin", 0).await.map_err(|e| err(&e))?;
                let mut n = 0u64;
                loop {
                    let k = poll_fn(|cx| Pin::new(&mut download).poll_read(cx, &mut buf))
                        .await
                        .map_err(|e| err(&e))?;
                    if k == 0 {
                        break;
                    }
                    n += k as u64;
                }
                download.finish().await.map_err(|e| err(&e))?;
                n
            };
            let _ = client.quit().await;
            Ok(n)
        }),
        Style::Curl => {
            let url = format!("ftp://{USER}:{PASS}@127.0.0.1:{port}/");
            let mut command = Command::new("curl");
            command.args(["-s", "-S"]);
            if tls {
                command.args(["--ssl-reqd", "-k"]);
            }
            if up {
                command.arg("-T").arg(file).arg(format!("{url}up.bin"));
            } else {
                command
                    .args(["-o", "/dev/null"])
                    .arg(format!("{url}big.bin"));
            }
            let out = command.output().map_err(|e| format!("curl: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "curl failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0))
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let size = env_u64("FTP_BENCH_SIZE_MIB", 1024) << 20;
    let runs = env_u64("FTP_BENCH_RUNS", 3).max(1) as usize;
    let with_tls = env_u64("FTP_BENCH_TLS", 1) == 1;
    let base = std::env::var_os("FTP_BENCH_DIR").map_or_else(
        || {
            if Path::new("/dev/shm").is_dir() {
                PathBuf::from("/dev/shm")
            } else {
                std::env::temp_dir()
            }
        },
        PathBuf::from,
    );
    let dir = base.join(format!("ftp-client-bench-{}", std::process::id()));
    let root = dir.join("root");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&root).expect("bench directory");
    std::fs::create_dir_all(&tmp).expect("bench directory");
    let file = root.join("big.bin");
    {
        let mut out = std::fs::File::create(&file).expect("bench file");
        let mut block = vec![0u8; BUF];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        for _ in 0..size / BUF as u64 {
            out.write_all(&block).expect("bench file");
        }
    }
    let server = match Vsftpd::start(&root, &tmp) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("client_loopback: cannot start vsftpd: {e}");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
    };
    println!(
        "client_loopback: {} MiB over loopback against vsftpd 3.0.3 (port {}), {runs} rounds, \
         file in {}",
        size >> 20,
        server.port,
        dir.display()
    );
    let modes: &[bool] = if with_tls { &[false, true] } else { &[false] };
    for &tls in modes {
        for up in [false, true] {
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); Style::ALL.len()];
            let mut failures: Vec<Option<String>> = vec![None; Style::ALL.len()];
            for _ in 0..runs {
                for (i, style) in Style::ALL.into_iter().enumerate() {
                    let start = Instant::now();
                    match transfer(style, server.port, tls, up, &file) {
                        Ok(n) if n == size => {
                            rates[i].push(n as f64 / start.elapsed().as_secs_f64() / 1e6)
                        }
                        Ok(n) => failures[i] = Some(format!("moved {n} bytes, not {size}")),
                        Err(e) => failures[i] = Some(e),
                    }
                    if up {
                        let stored = std::fs::metadata(root.join("up.bin")).map(|m| m.len()).ok();
                        if stored != Some(size) && failures[i].is_none() {
                            failures[i] = Some(format!("stored {stored:?} bytes"));
                        }
                        let _ = std::fs::remove_file(root.join("up.bin"));
                    }
                }
            }
            println!();
            println!(
                "{} {}",
                if up {
                    "upload (STOR)"
                } else {
                    "download (RETR)"
                },
                if tls {
                    "FTPS (explicit, PROT P)"
                } else {
                    "plain FTP"
                }
            );
            println!("  {:<22} {:>10} {:>10}", "client", "best MB/s", "median");
            for (i, style) in Style::ALL.into_iter().enumerate() {
                match (&failures[i], rates[i].is_empty()) {
                    (Some(e), _) => println!("  {:<22} failed: {e}", style.name()),
                    (None, true) => println!("  {:<22} no result", style.name()),
                    (None, false) => {
                        let best = rates[i].iter().copied().fold(0.0, f64::max);
                        println!(
                            "  {:<22} {:>10.0} {:>10.0}",
                            style.name(),
                            best,
                            median(rates[i].clone())
                        );
                    }
                }
            }
        }
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
