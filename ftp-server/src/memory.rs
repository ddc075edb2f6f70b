//! Giving memory back to the operating system when load falls.
//!
//! glibc's allocator returns freed memory to the system only from the top of each of its
//! heaps. After a burst of sessions and transfers, the freed buffers sit below memory still in
//! use, so the process stays resident at its peak: 2,000 idle sessions that had come and gone
//! left 20 MB resident where 5 MB were in use. `malloc_trim(0)` hands those free pages back.
//!
//! [`MemoryRelease`] calls it, on the blocking pool, each time the number of running sessions
//! or of running transfers has fallen to half of its highest point since the last release
//! (and by at least [`MemoryRelease::MIN_DROP`]): when load falls, not while it holds steady.
//! Each such release is followed by two more, 15 and 30 s after the last fall
//! ([`SettledRelease`]), for what is freed later.
//! Before each settled release, every runtime thread also refreshes its allocator cache
//! ([`refresh_thread_cache`]): without that, the blocks glibc keeps per thread for reuse pin
//! pages that `malloc_trim` cannot return.
//! It is on by default ([`crate::Server::release_memory`]). With another global allocator
//! (jemalloc, mimalloc, which return memory themselves) the call finds little to do.
//!
//! The same option also fixes glibc's mmap threshold at [`ALLOCATOR_THRESHOLD`] and its trim
//! threshold at [`TRIM_THRESHOLD`] when the server starts. glibc raises both each time it
//! frees a large mapped block, up to 32 and 64 MiB: after the first Argon2id password check
//! frees its 19 MiB, every later check took its 19 MiB from the heaps of whichever of the
//! allocator's arenas its thread used, where small allocations then split it and kept it
//! resident. 900 logins (300 concurrent at a time) left 16 arenas holding 3.9 GB with 42 MB
//! in use (glibc's `malloc_stats`, in `benches/benches/server_load.rs`), and the two checks
//! of `UserTable::new` and `add` left 19 MiB in the main heap of an idle server. With the
//! thresholds fixed, blocks of 1 MiB or more are mapped on their own and unmapped when freed.
//!
//! The trim threshold is also what the free top of each arena's heap may keep, and
//! `malloc_trim` does not shrink the heaps of arenas other than the main one: with 1 MiB, the
//! 16 arenas of a 2-core machine (one per blocking-pool thread, up to 8 per core) kept 10 MiB
//! of free tops resident after 300 uploads, where 55 KB were in use. At [`TRIM_THRESHOLD`]
//! each keeps at most that beyond glibc's own 128 KiB top pad, and the process was back to
//! 5.8 MiB after the same uploads (3.0 MiB idle). Fewer arenas keep less: the option also
//! caps them at [`arena_cap`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::runtime::{sleep_until, Runtime};

use crate::pool::BlockingPool;

/// Asks the C allocator to return the free pages of all its heaps to the system; true when
/// it returned some. Does nothing where the C library has no such call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_freed_memory() -> bool {
    // SAFETY: malloc_trim takes no pointers; it only rearranges glibc's own free lists, under
    // the allocator's own locks, and leaves every live allocation where it is.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() -> bool {
    false
}

/// Gives the memory this process has freed back to the system now, as the server does by
/// itself when its load falls ([`crate::Server::release_memory`]): refreshes the calling
/// thread's allocator cache, then asks the C allocator to return the free pages of all its
/// heaps. True when it returned some. Other threads' caches are left as they are. Does nothing
/// (and returns false) where the C library is not glibc.
///
/// For a program that has just freed a large working set outside the server, or a test that
/// measures what is left.
pub fn release_memory_now() -> bool {
    refresh_thread_cache();
    release_freed_memory()
}

/// Moves the blocks that glibc's cache of the calling thread holds back to their heap, so
/// that the next `malloc_trim` can return their pages.
///
/// glibc keeps up to 7 freed blocks of each of 64 small sizes (24 to 1,032 usable bytes, 16
/// apart) per thread, its "tcache", for that thread's next allocations, and counts them as in
/// use. A thread that freed the last sessions of a burst keeps up to 448
/// of them, each anywhere in a heap that grew with the burst and each holding its page
/// resident. After 10,000 idle sessions came and went, a tokio runtime's two worker threads
/// held 3.7 MiB this way (the bench in `benches/benches/server_load.rs`, with and without
/// `GLIBC_TUNABLES=glibc.malloc.tcache_count=0`).
///
/// So this takes out every block the cache holds, takes as many again (from the heap's free
/// memory, carved side by side), frees that second set first, which fills the cache again,
/// and then the first set, which finds the cache full and goes back to the heap. Some 900
/// allocations and 8 KiB of stack; the cache keeps working as before.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn refresh_thread_cache() {
    // glibc's defaults (the tunables glibc.malloc.tcache_count and tcache_max).
    const THREAD_CACHE_PER_SIZE: usize = 7;
    const THREAD_CACHE_SIZES: usize = 64;
    const HALF: usize = THREAD_CACHE_SIZES * THREAD_CACHE_PER_SIZE;
    let mut blocks = [std::ptr::null_mut::<libc::c_void>(); 2 * HALF];
    for (i, block) in blocks.iter_mut().enumerate() {
        let size = 24 + 16 * ((i / THREAD_CACHE_PER_SIZE) % THREAD_CACHE_SIZES);
        // SAFETY: malloc takes a size and returns a block or null; each is freed below once.
        *block = unsafe { libc::malloc(size) };
    }
    let (held, fresh) = blocks.split_at(HALF);
    for &block in fresh.iter().chain(held) {
        // SAFETY: every pointer came from the malloc above and is freed once (null is a no-op).
        unsafe { libc::free(block) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn refresh_thread_cache() {}

/// Allocations of this size or more get their own mapping, returned to the system when freed;
/// a heap whose free top passes it gives that back.
pub(crate) const ALLOCATOR_THRESHOLD: usize = 1 << 20;

/// A heap (arena) whose free top passes this gives the excess back to the system.
pub(crate) const TRIM_THRESHOLD: usize = 128 << 10;

/// Fixes the C allocator's mmap threshold at [`ALLOCATOR_THRESHOLD`] and its trim threshold at
/// [`TRIM_THRESHOLD`] (glibc otherwise moves them up as large blocks are freed), caps its
/// arenas at [`arena_cap`], and gives back what is free already; once per process. Does
/// nothing where the C library has no such settings.
pub(crate) fn fix_allocator_settings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fixed = set_allocator_settings();
        let released = release_freed_memory();
        tracing::debug!(fixed, released, "allocator thresholds fixed");
    });
}

/// The most heaps (arenas) glibc may keep: two per CPU, where glibc's own cap is eight.
///
/// glibc gives each new thread a heap of its own until it has eight per CPU, and each heap
/// keeps up to its trim threshold and pad of free top resident, which `malloc_trim` does
/// not return for heaps other than the main one. 300 transfers at once ran on as many
/// blocking-pool threads, and 13 of their heaps kept 120 to 280 KiB each after the load;
/// with two per CPU the process settled at 1.2 times its idle size instead of 2.2 (tokio),
/// with the same throughput (`benches/benches/server_load.rs`). glibc reads the cap when it
/// first needs a ninth heap, so it applies where the server starts before that. A thread
/// whose first allocation runs while the server sets the cap may still get a heap past it.
fn arena_cap() -> usize {
    2 * std::thread::available_parallelism().map_or(2, usize::from)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_allocator_settings() -> bool {
    let mmap = ALLOCATOR_THRESHOLD as libc::c_int;
    let trim = TRIM_THRESHOLD as libc::c_int;
    let arenas = libc::c_int::try_from(arena_cap()).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt takes no pointers; it changes a setting of glibc's allocator under the
    // allocator's own lock and moves no live allocation. Blocks allocated before keep their
    // kind, and glibc frees each by how it was allocated.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, mmap) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, trim) == 1
            && libc::mallopt(libc::M_ARENA_MAX, arenas) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_allocator_settings() -> bool {
    false
}

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Load {
    Sessions,
    Transfers,
}

/// The count of one kind of load and its highest point since the last release.
#[derive(Clone, Copy, Debug, Default)]
struct Gauge {
    running: usize,
    high: usize,
}

/// Counts sessions and transfers and releases freed memory when either falls, and twice more
/// as the fall settles.
pub(crate) struct MemoryRelease {
    enabled: bool,
    blocking: BlockingPool,
    settled: Option<SettledRelease>,
    gauges: Mutex<[Gauge; 2]>,
}

/// Two more releases, [`SettledRelease::DELAY`] and twice that after the last fall: what ends after
/// the first one is freed too late for it (the last sessions' buffers, and the per-thread
/// caches of blocking-pool threads, which exit 10 s after their last job under tokio).
struct SettledRelease {
    rt: Arc<dyn Runtime>,
    delay: Duration,
    /// One settled release waits at a time; falls meanwhile join it.
    state: Mutex<Settling>,
}

/// Whether a settled release waits, and whether load fell again since its last round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settling {
    Idle,
    Waiting { fell_again: bool },
}

impl SettledRelease {
    /// Notes a fall; true when no release waits yet, and the caller is to start one.
    fn fell(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let start = *state == Settling::Idle;
        *state = Settling::Waiting { fell_again: !start };
        start
    }

    /// After a round: the rounds still to go, `left` or all of them again if load fell
    /// meanwhile; at 0 the waiting release ends (under the same lock as [`Self::fell`], so
    /// that no fall joins a release that has ended).
    fn rounds_left(&self, left: usize) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let left = match *state {
            Settling::Waiting { fell_again: true } => Self::ROUNDS,
            _ => left,
        };
        *state = if left == 0 {
            Settling::Idle
        } else {
            Settling::Waiting { fell_again: false }
        };
        left
    }

    /// Past the tokio blocking pool's 10 s keep-alive.
    const DELAY: Duration = Duration::from_secs(15);
    /// Releases, each `DELAY` after the one before: the thread that ran one release exits
    /// (and frees what it held) a keep-alive later.
    const ROUNDS: usize = 2;
}

impl MemoryRelease {
    /// The least fall (in sessions or transfers) worth a release.
    pub(crate) const MIN_DROP: usize = 8;

    /// Also fixes the allocator's thresholds (see [`fix_allocator_settings`]) when
    /// `enabled`. Each fall releases at once and, on `rt`, again when it has settled.
    pub(crate) fn new(enabled: bool, rt: Arc<dyn Runtime>) -> Arc<Self> {
        if enabled {
            fix_allocator_settings();
        }
        Arc::new(Self {
            enabled,
            blocking: rt.blocking(),
            settled: Some(SettledRelease {
                rt,
                delay: SettledRelease::DELAY,
                state: Mutex::new(Settling::Idle),
            }),
            gauges: Mutex::new([Gauge::default(); 2]),
        })
    }

    /// One more `load` runs until the guard is dropped.
    pub(crate) fn track(self: &Arc<Self>, load: Load) -> LoadGuard {
        self.update(load, |gauge| {
            gauge.running += 1;
            gauge.high = gauge.high.max(gauge.running);
            false
        });
        LoadGuard {
            release: Arc::clone(self),
            load,
        }
    }

    fn ended(self: &Arc<Self>, load: Load) {
        let fell = self.update(load, |gauge| {
            gauge.running = gauge.running.saturating_sub(1);
            let fell =
                gauge.running * 2 <= gauge.high && gauge.high - gauge.running >= Self::MIN_DROP;
            if fell {
                gauge.high = gauge.running;
            }
            fell
        });
        if fell && self.enabled {
            self.release_now("load fell");
            self.release_when_settled();
        }
    }

    fn release_now(&self, why: &'static str) {
        self.blocking.detach(move || {
            let released = release_freed_memory();
            tracing::debug!(released, why, "freed memory given back to the system");
        });
    }

    /// Releases again once the fall has settled: [`SettledRelease::ROUNDS`] times, each
    /// [`SettledRelease::DELAY`] after the one before, counted again from the round after a
    /// later fall. One such task runs at a time; a fall while it waits joins it.
    fn release_when_settled(self: &Arc<Self>) {
        let Some(settled) = &self.settled else {
            return;
        };
        if !settled.fell() {
            return;
        }
        let this = Arc::clone(self);
        settled.rt.spawn(Box::pin(async move {
            let Some(settled) = &this.settled else {
                return;
            };
            let mut rounds = SettledRelease::ROUNDS;
            while rounds > 0 {
                sleep_until(&*settled.rt, Instant::now() + settled.delay).await;
                refresh_thread_caches(&*settled.rt).await;
                this.release_now("load fell and settled");
                rounds = settled.rounds_left(rounds - 1);
            }
        }));
    }

    /// Applies `change` to the gauge of `load`; returns what it returns.
    fn update(&self, load: Load, change: impl FnOnce(&mut Gauge) -> bool) -> bool {
        let mut gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        let index = match load {
            Load::Sessions => 0,
            Load::Transfers => 1,
        };
        change(&mut gauges[index])
    }
}

/// Runs [`refresh_thread_cache`] on the threads of `rt`, as tasks that each hold their thread
/// for a millisecond after it, so that the next is taken by another thread: two per CPU (the
/// runtimes have one worker thread per CPU by default). Returns once they had time to run.
async fn refresh_thread_caches(rt: &dyn Runtime) {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    for _ in 0..2 * threads {
        rt.spawn(Box::pin(async {
            refresh_thread_cache();
            // Blocking on purpose, and briefly: a task that yielded instead would let this
            // thread take the next one as well.
            std::thread::sleep(Duration::from_millis(1));
        }));
    }
    sleep_until(rt, Instant::now() + Duration::from_millis(100)).await;
}

/// One running session or transfer; counted as ended when dropped.
pub(crate) struct LoadGuard {
    release: Arc<MemoryRelease>,
    load: Load,
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        self.release.ended(self.load);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A pool that counts the jobs it is given (and runs them).
    fn counting_pool() -> (BlockingPool, Arc<AtomicUsize>) {
        let jobs = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&jobs);
        let pool = BlockingPool::new(move |job| {
            counter.fetch_add(1, Ordering::SeqCst);
            job();
        });
        (pool, jobs)
    }

    /// Releases on `pool`, at once only.
    fn release_at_once(enabled: bool, pool: BlockingPool) -> Arc<MemoryRelease> {
        Arc::new(MemoryRelease {
            enabled,
            blocking: pool,
            settled: None,
            gauges: Mutex::new([Gauge::default(); 2]),
        })
    }

    #[test]
    fn releases_when_load_falls_to_half_its_high_point() {
        let (pool, releases) = counting_pool();
        let release = release_at_once(true, pool);
        let mut sessions: Vec<LoadGuard> =
            (0..100).map(|_| release.track(Load::Sessions)).collect();
        // Steady load, and small falls, release nothing.
        for _ in 0..10 {
            sessions.pop();
            sessions.push(release.track(Load::Sessions));
        }
        sessions.truncate(51);
        assert_eq!(releases.load(Ordering::SeqCst), 0);
        sessions.pop(); // 50 of a high point of 100
        assert_eq!(releases.load(Ordering::SeqCst), 1);
        sessions.truncate(26);
        assert_eq!(releases.load(Ordering::SeqCst), 1);
        sessions.pop(); // 25 of 50
        assert_eq!(releases.load(Ordering::SeqCst), 2);
        // Down to zero: each halving, until the fall is too small to matter.
        sessions.clear();
        assert_eq!(releases.load(Ordering::SeqCst), 4);
        // Transfers are counted apart from sessions.
        let transfers: Vec<LoadGuard> = (0..8).map(|_| release.track(Load::Transfers)).collect();
        drop(transfers);
        assert_eq!(releases.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn disabled_counts_but_never_releases() {
        let (pool, releases) = counting_pool();
        let release = release_at_once(false, pool);
        let sessions: Vec<LoadGuard> = (0..64).map(|_| release.track(Load::Sessions)).collect();
        drop(sessions);
        assert_eq!(releases.load(Ordering::SeqCst), 0);
    }

    /// Each fall releases at once; two more releases follow, the delay (plus the 100 ms the
    /// threads get to refresh their caches) apart, counted again from the round after a later
    /// fall.
    #[cfg(feature = "tokio")]
    #[test]
    fn releases_again_once_the_last_fall_has_settled() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (pool, releases) = counting_pool();
            let release = Arc::new(MemoryRelease {
                enabled: true,
                blocking: pool,
                settled: Some(SettledRelease {
                    rt: Arc::new(crate::runtime::tokio::TokioRuntime::current()),
                    delay: Duration::from_millis(200),
                    state: Mutex::new(Settling::Idle),
                }),
                gauges: Mutex::new([Gauge::default(); 2]),
            });
            let count = || releases.load(Ordering::SeqCst);
            let start = tokio::time::Instant::now();
            let at = |ms| tokio::time::sleep_until(start + Duration::from_millis(ms));
            let fall = |load| drop((0..8).map(|_| release.track(load)).collect::<Vec<_>>());
            let sessions: Vec<LoadGuard> = (0..32).map(|_| release.track(Load::Sessions)).collect();
            drop(sessions); // falls at 16, 8 and 0
            assert_eq!(count(), 3, "at once");
            at(100).await;
            fall(Load::Transfers);
            assert_eq!(count(), 4, "at once");
            at(150).await;
            assert_eq!(count(), 4, "not settled yet");
            at(450).await;
            assert_eq!(
                count(),
                5,
                "the first round (300 ms), which saw the second fall"
            );
            at(750).await;
            assert_eq!(count(), 6, "the first round after it (600 ms)");
            at(1050).await;
            assert_eq!(count(), 7, "the second (900 ms)");
            at(1500).await;
            assert_eq!(count(), 7, "and no more");
            fall(Load::Sessions);
            assert_eq!(count(), 8, "a lone fall, at once");
            at(1950).await;
            assert_eq!(count(), 9, "its first round (1,800 ms)");
            at(2250).await;
            assert_eq!(count(), 10, "its second (2,100 ms)");
            at(2700).await;
            assert_eq!(count(), 10, "and no more");
        });
    }
}
