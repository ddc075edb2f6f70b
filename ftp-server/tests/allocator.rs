//! A running server (with `Server::release_memory`, the default) keeps large blocks out of
//! glibc's heaps: each is unmapped when freed, however many came before. Without that, the
//! first free raises glibc's mmap threshold and the next block of that size comes from a heap
//! and stays resident after it is freed (as an Argon2id check's 19 MiB did, once per arena).
//!
//! In a file of its own: the tests read this process's resident size, which other tests
//! running beside them would move (and they take turns).

mod support;

use std::process::Command;
use std::time::Duration;

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

/// glibc keeps up to 7 freed blocks of each small size per thread for that thread's reuse,
/// and counts them as in use. Here 448 of them, each between two freed 16 KiB blocks, keep
/// their pages resident through a trim; `release_memory_now` on their thread puts them back
/// in the heap first, and the pages go (0.8 to 1.7 MiB here, depending on which threads share
/// its arena; 16 KiB without the refresh).
#[test]
fn a_threads_cached_small_blocks_leave_the_process_with_release_memory_now() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let _server = TestServer::start(Rt::Tokio, |s| s);
    let (trimmed, released) = std::thread::spawn(|| {
        let written = |len: usize| std::hint::black_box(vec![1u8; len]);
        let mut small = Vec::with_capacity(448);
        let mut large = Vec::with_capacity(448);
        for size in 0..64 {
            for _ in 0..7 {
                small.push(written(24 + 16 * size));
                large.push(written(16 << 10));
            }
        }
        drop(small); // into this thread's cache
        drop(large); // into the heap, between the cached blocks
                     // A trim from another thread leaves this thread's cache as it is.
        std::thread::spawn(ftp_server::release_memory_now)
            .join()
            .unwrap();
        let trimmed = resident_kib_in_place();
        ftp_server::release_memory_now();
        (trimmed, resident_kib_in_place())
    })
    .join()
    .unwrap();
    assert!(
        trimmed - released >= 512,
        "{trimmed} KiB after a trim, {released} KiB after release_memory_now on the thread"
    );
}

/// glibc's arenas, counted from `malloc_info`, which writes one `<heap nr=...>` per arena.
#[allow(unsafe_code)]
fn arenas() -> usize {
    let mut text: *mut libc::c_char = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: open_memstream writes its buffer's address and length through the two
    // pointers, which outlive the stream; malloc_info writes to the stream, fclose flushes
    // it, and the buffer (malloc'd by the C library) is read for `len` bytes and freed once.
    let xml = unsafe {
        let stream = libc::open_memstream(&mut text, &mut len);
        assert!(!stream.is_null(), "open_memstream");
        libc::malloc_info(0, stream);
        libc::fclose(stream);
        let xml = std::slice::from_raw_parts(text.cast::<u8>(), len).to_vec();
        libc::free(text.cast());
        xml
    };
    String::from_utf8_lossy(&xml).matches("<heap nr=").count()
}

/// Set in the process that [`in_a_process_of_its_own`] starts.
const ALONE: &str = "FTP_ALLOCATOR_TEST_ALONE";

/// Runs `test` in a new process of this test binary, with no other test beside it; true in
/// that process, where the caller runs the test itself. False in the caller's process, once
/// the other process has passed (the test fails with its output otherwise).
fn in_a_process_of_its_own(test: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let output = run(
        Command::new(exe)
            .args([test, "--exact", "--test-threads=1", "--nocapture"])
            .env(ALONE, "1"),
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{test} alone: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    false
}

/// Each thread that allocates gets a heap (arena) of its own until glibc has eight per CPU,
/// and each keeps some free memory resident; a running server caps them at two per CPU (or
/// at what the process had when the cap came: glibc never removes an arena).
///
/// The cap binds the threads that ask for their first heap after the server set it; one that
/// was asking at that moment may still get one past it. Other tests' threads start at any
/// moment, so this one runs in a process of its own, where the server starts first.
#[test]
fn a_running_server_caps_the_allocators_arenas_at_two_per_cpu() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !in_a_process_of_its_own("a_running_server_caps_the_allocators_arenas_at_two_per_cpu") {
        return;
    }
    let _server = TestServer::start(Rt::Tokio, |s| s);
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let cap = arenas().max(2 * cpus);
    let threads = 8 * cpus + 4;
    let all_allocated = std::sync::Arc::new(std::sync::Barrier::new(threads + 1));
    let holders: Vec<_> = (0..threads)
        .map(|_| {
            let all_allocated = std::sync::Arc::clone(&all_allocated);
            std::thread::spawn(move || {
                let block = std::hint::black_box(vec![1u8; 4096]);
                all_allocated.wait(); // every thread holds a block at once
                all_allocated.wait(); // until the arenas are counted
                drop(block);
            })
        })
        .collect();
    all_allocated.wait();
    let counted = arenas();
    all_allocated.wait();
    for holder in holders {
        holder.join().unwrap();
    }
    assert!(
        counted <= cap,
        "{counted} arenas with {threads} threads allocating at once, {cpus} CPUs"
    );
}
