//! The heap an idle, logged-in session holds, counted by a global allocator that adds up live
//! bytes: at most [`IDLE_SESSION_HEAP`] on each runtime. `benches/benches/server_load.rs`
//! measures the same from outside (the process's memory with 300 and 10,000 idle sessions).
//!
//! In a file of its own: the count covers the whole process, which other tests running
//! beside it would move.

#![allow(unsafe_code)] // the counting allocator

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use support::*;

/// The most heap an idle logged-in session may hold (the count includes what the test's own
/// client holds for it). It held 7,432 bytes with an inbox of eight preallocated messages and
/// a reply queue kept after use; 5,383 without; 3,628 once storage, authentication and data
/// connections were futures of the session's task, its inbox a plain queue, and its input
/// queues freed when emptied (tokio).
const IDLE_SESSION_HEAP: isize = 4 << 10;

/// Passes every call to the system allocator and counts the bytes it has handed out and not
/// yet had back.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call goes to `System` with the caller's arguments unchanged; the counter is
// only a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`: `ptr` came from this allocator, hence from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[test]
fn an_idle_logged_in_session_holds_little_heap() {
    const SESSIONS: isize = 200;
    for rt in RUNTIMES {
        let server = TestServer::start(rt, |s| s.max_sessions(1000).max_sessions_per_ip(1000));
        // A first round grows what the server keeps whatever its sessions (pools, tables).
        drop((0..20).map(|_| server.login(ALICE)).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(500));
        let before = LIVE.load(Ordering::SeqCst);
        let sessions: Vec<Ctl> = (0..SESSIONS).map(|_| server.login(ALICE)).collect();
        std::thread::sleep(Duration::from_millis(500));
        let per_session = (LIVE.load(Ordering::SeqCst) - before) / SESSIONS;
        drop(sessions);
        assert!(
            per_session <= IDLE_SESSION_HEAP,
            "{rt:?}: {per_session} bytes of heap per idle session"
        );
    }
}
