//! Throughput of `ftp-server` on an object store: 256 MiB (by default) up and down through
//! the server on `OpenDalStorage` over s3s-fs, beside the same bytes moved by OpenDAL straight
//! to the same s3s-fs, with the ratio of the two and the server process's memory.
//!
//! ```sh
//! bash ftp-server/tests/peers/install-s3.sh        # s3s-fs, once
//! cargo bench -p ftp-benches --bench s3_transfer
//! FTP_BENCH_SIZE_MIB=64 FTP_BENCH_RUNS=5 cargo bench -p ftp-benches --bench s3_transfer
//! ```
//!
//! * **S3**: s3s-fs (the repository's `ftp-server/tests/support/s3_server.rs` starts it on
//!   127.0.0.1 over a temporary folder), so both paths pay for the same S3 server writing the
//!   same bytes to the same disk: the ratio shows what FTP and the server add.
//! * **Through FTP**: ftp-server in this process on a 2-worker tokio runtime, storage on its
//!   own 2-worker OpenDAL runtime, 8 MiB parts; curl (the reference client) uploads a file
//!   from the page cache with STOR and downloads it with RETR to `/dev/null`. A transfer is
//!   timed around the curl run.
//! * **Straight**: an OpenDAL writer with the same 8 MiB parts, fed 1 MiB at a time from
//!   memory, and a streamed read of the whole object.
//! * Each round runs both paths; the table shows the best and median MB/s over
//!   `FTP_BENCH_RUNS` rounds (default 3) and the median ratio. Memory: this process's peak
//!   resident size (VmHWM) after the FTP transfers, before the straight ones run.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ftp_server::auth::UserTable;
use ftp_server::storage::{FolderMarker, OpenDalStorage, S3Config, VirtualPath};
use ftp_server::Server;

#[path = "../../ftp-server/tests/support/s3_server.rs"]
mod s3_server;

use s3_server::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};

const PART: usize = 8 << 20;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(s3: &S3Server) -> S3Config {
    S3Config {
        bucket: BUCKET.into(),
        prefix: String::new(),
        endpoint: Some(s3.endpoint.clone()),
        region: None,
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
    }
}

/// A byte of the test pattern.
fn pattern_chunk(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// The peak and current resident size of this process, in MiB.
fn memory_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn curl(args: &[&str]) -> Duration {
    let started = Instant::now();
    let status = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "600"])
        .args(["--user", "bench:bench"])
        .args(args)
        .stdin(Stdio::null())
        .status()
        .expect("curl runs (apt-get install curl)");
    assert!(status.success(), "curl {args:?}: {status}");
    started.elapsed()
}

/// Upload and download `size` bytes straight through OpenDAL.
fn straight(
    rt: &tokio::runtime::Runtime,
    op: &opendal::Operator,
    size: usize,
) -> (Duration, Duration) {
    rt.block_on(async {
        let started = Instant::now();
        let mut writer = op.writer_with("straight.bin").chunk(PART).await.unwrap();
        let mut offset = 0;
        while offset < size {
            let len = (1 << 20).min(size - offset);
            writer.write(pattern_chunk(offset, len)).await.unwrap();
            offset += len;
        }
        writer.close().await.unwrap();
        let up = started.elapsed();
        let started = Instant::now();
        let reader = op.reader("straight.bin").await.unwrap();
        let mut stream = reader.into_bytes_stream(..).await.unwrap();
        let mut total = 0;
        while let Some(chunk) = futures_lite::StreamExt::next(&mut stream).await {
            total += chunk.unwrap().len();
        }
        assert_eq!(total, size);
        (up, started.elapsed())
    })
}

/// ftp-server on the S3 server, user `bench`, on 127.0.0.1 with a free port.
async fn start_server(s3: &S3Server) -> ftp_server::RunningServer {
    let storage = OpenDalStorage::s3(&config(s3))
        .unwrap()
        .part_size(PART)
        .folder_marker(FolderMarker::Object(".folder".into()));
    let mut users = UserTable::insecure_fast();
    users
        .add(
            "bench",
            "bench",
            VirtualPath::root(),
            ftp_server::auth::Permissions::ALL,
        )
        .unwrap();
    let server = Server::new(storage)
        .listen("127.0.0.1:0".parse().unwrap())
        .authenticator(users);
    server.start_tokio().await.unwrap()
}

fn mb_per_s(size: usize, time: Duration) -> f64 {
    size as f64 / 1e6 / time.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let size = env_u64("FTP_BENCH_SIZE_MIB", 256) as usize * (1 << 20);
    let runs = env_u64("FTP_BENCH_RUNS", 3).max(1) as usize;
    let s3 = S3Server::start();
    let local = std::env::temp_dir().join(format!("ftp-bench-s3-{}", std::process::id()));
    std::fs::create_dir_all(&local).unwrap();
    let source = local.join("up.bin");
    // Written a MiB at a time, so that the peak memory below is the server's.
    let mut file = std::fs::File::create(&source).unwrap();
    let mut offset = 0;
    while offset < size {
        let len = (1 << 20).min(size - offset);
        std::io::Write::write_all(&mut file, &pattern_chunk(offset, len)).unwrap();
        offset += len;
    }
    drop(file);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let running = server_rt.block_on(start_server(&s3));
    let url = format!(
        "ftp://127.0.0.1:{}/ftp.bin",
        running.local_addrs()[0].port()
    );

    let mut ftp = (Vec::new(), Vec::new());
    for _ in 0..runs {
        ftp.0.push(mb_per_s(
            size,
            curl(&["-T", source.to_str().unwrap(), &url]),
        ));
        ftp.1.push(mb_per_s(size, curl(&["-o", "/dev/null", &url])));
    }
    let stored = std::fs::metadata(s3.bucket_dir().join("ftp.bin"))
        .unwrap()
        .len();
    assert_eq!(stored, size as u64, "the uploaded object has every byte");
    let (peak, now) = memory_mib();

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let op = config(&s3).operator().unwrap();
    let mut direct = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (up, down) = straight(&client_rt, &op, size);
        direct.0.push(mb_per_s(size, up));
        direct.1.push(mb_per_s(size, down));
    }

    println!(
        "s3_transfer: {} MiB, {runs} runs, s3s-fs on 127.0.0.1 (MB/s: best / median)",
        size >> 20
    );
    for (name, through_ftp, straight) in [
        ("upload  ", &ftp.0, &direct.0),
        ("download", &ftp.1, &direct.1),
    ] {
        let best = |v: &Vec<f64>| v.iter().copied().fold(0.0, f64::max);
        println!(
            "  {name}  via ftp-server {:7.1} / {:7.1}   straight OpenDAL {:7.1} / {:7.1}   \
             ratio {:.2}x",
            best(through_ftp),
            median(through_ftp.clone()),
            best(straight),
            median(straight.clone()),
            median(through_ftp.clone()) / median(straight.clone())
        );
    }
    println!("  ftp-server process memory after the FTP transfers: peak {peak} MiB, now {now} MiB");
    drop(running);
    server_rt.shutdown_timeout(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&local);
}
