//! A running server (with `Server::release_memory`, the default) keeps large blocks out of
//! glibc's heaps: each is unmapped when freed, however many came before. Without that, the
//! first free raises glibc's mmap threshold and the next block of that size comes from a heap
//! and stays resident after it is freed (as an Argon2id check's 19 MiB did, once per arena).
//!
//! In a file of its own: the tests read this process's resident size, which other tests
//! running beside them would move (and they take turns).

mod support;

use support::*;

/// This process's resident set, in KiB.
fn resident_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// This process's resident set, in KiB, read without allocating: an allocation between the
/// blocks and the heap's free top would keep them from joining it.
fn resident_kib_in_place() -> i64 {
    use std::io::Read;
    let mut buf = [0u8; 128];
    let n = std::fs::File::open("/proc/self/statm")
        .and_then(|mut f| f.read(&mut buf))
        .unwrap();
    let pages: i64 = std::str::from_utf8(&buf[..n])
        .unwrap()
        .split(' ')
        .nth(1)
        .expect("resident pages in /proc/self/statm")
        .parse()
        .unwrap();
    pages * 4
}

/// One test at a time: each reads the resident size of the whole process.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn freed_large_blocks_leave_the_process_once_a_server_runs() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _server = TestServer::start(Rt::Tokio, |s| s);
    const BLOCK: usize = 19 << 20;
    for round in 0..3 {
        // Written through, so every page is resident.
        let block = std::hint::black_box(vec![round as u8 + 1; BLOCK]);
        let with = resident_kib();
        drop(block);
        let without = resident_kib();
        assert!(
            with - without >= 15 << 10,
            "round {round}: {with} KiB with the block, {without} KiB after freeing it"
        );
    }
}

/// A thread of its own gets an arena of its own (as each blocking-pool thread does); when its
/// heap's free top passes 128 KiB, the excess goes back to the system at once (here about
/// 400 of the 840 KiB freed, the rest being the top's pad and other threads' chunks in a
/// reused arena). With a 1 MiB threshold all 840 KiB stayed resident, in each arena.
#[test]
fn an_arenas_free_top_leaves_the_process_once_a_server_runs() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _server = TestServer::start(Rt::Tokio, |s| s);
    let (with, without) = std::thread::spawn(|| {
        const BLOCK: usize = 120 << 10;
        let blocks: Vec<Vec<u8>> = (0..7u8)
            .map(|i| std::hint::black_box(vec![i + 1; BLOCK]))
            .collect();
        let with = resident_kib_in_place();
        // The newest first, so that each joins the free top.
        for block in blocks.into_iter().rev() {
            drop(block);
        }
        (with, resident_kib_in_place())
    })
    .join()
    .unwrap();
    assert!(
        with - without >= 300,
        "{with} KiB with the blocks, {without} KiB after freeing them"
    );
}
