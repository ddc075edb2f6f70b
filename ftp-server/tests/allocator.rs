//! A running server (with `Server::release_memory`, the default) keeps large blocks out of
//! glibc's heaps: each is unmapped when freed, however many came before. Without that, the
//! first free raises glibc's mmap threshold and the next block of that size comes from a heap
//! and stays resident after it is freed (as an Argon2id check's 19 MiB did, once per arena).
//!
//! In a file of its own: the test reads this process's resident size, which other tests
//! running beside it would move.

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

#[test]
fn freed_large_blocks_leave_the_process_once_a_server_runs() {
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
