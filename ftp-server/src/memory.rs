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
//! It is on by default ([`crate::Server::release_memory`]). With another global allocator
//! (jemalloc, mimalloc, which return memory themselves) the call finds little to do.
//!
//! The same option also fixes glibc's mmap and trim thresholds at [`ALLOCATOR_THRESHOLD`] when
//! the server starts. glibc raises both each time it frees a large mapped block, up to 32 and
//! 64 MiB:
//! after the first Argon2id password check frees its 19 MiB, every later check took its
//! 19 MiB from the heaps of whichever of the allocator's arenas its thread used, where small
//! allocations then split it and kept it resident. 900 logins (300 concurrent at a time) left
//! 16 arenas holding 3.9 GB with 42 MB in use (glibc's `malloc_stats`, in
//! `benches/benches/server_load.rs`), and the two checks of `UserTable::new` and `add` left
//! 19 MiB in the main heap of an idle server. With the thresholds fixed, blocks of 1 MiB or
//! more are mapped on their own and unmapped when freed, and a heap gives back its free top
//! once it passes 1 MiB.

use std::sync::{Arc, Mutex};

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

/// Allocations of this size or more get their own mapping, returned to the system when freed;
/// a heap whose free top passes it gives that back.
pub(crate) const ALLOCATOR_THRESHOLD: usize = 1 << 20;

/// Fixes the C allocator's mmap and trim thresholds at [`ALLOCATOR_THRESHOLD`] (glibc
/// otherwise moves them up as large blocks are freed) and gives back what is free already;
/// once per process. Does nothing where the C library has no such settings.
pub(crate) fn fix_allocator_thresholds() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fixed = set_allocator_thresholds();
        let released = release_freed_memory();
        tracing::debug!(fixed, released, "allocator thresholds fixed");
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_allocator_thresholds() -> bool {
    let threshold = ALLOCATOR_THRESHOLD as libc::c_int;
    // SAFETY: mallopt takes no pointers; it changes a setting of glibc's allocator under the
    // allocator's own lock and moves no live allocation. Blocks allocated before keep their
    // kind, and glibc frees each by how it was allocated.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, threshold) == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_allocator_thresholds() -> bool {
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

/// Counts sessions and transfers and releases freed memory when either falls.
pub(crate) struct MemoryRelease {
    enabled: bool,
    blocking: BlockingPool,
    gauges: Mutex<[Gauge; 2]>,
}

impl MemoryRelease {
    /// The least fall (in sessions or transfers) worth a release.
    pub(crate) const MIN_DROP: usize = 8;

    /// Also fixes the allocator's thresholds (see [`fix_allocator_thresholds`]) when
    /// `enabled`.
    pub(crate) fn new(enabled: bool, blocking: BlockingPool) -> Arc<Self> {
        if enabled {
            fix_allocator_thresholds();
        }
        Arc::new(Self {
            enabled,
            blocking,
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

    fn ended(&self, load: Load) {
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
            self.blocking.detach(|| {
                let released = release_freed_memory();
                tracing::debug!(released, "load fell: freed memory given back to the system");
            });
        }
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

    #[test]
    fn releases_when_load_falls_to_half_its_high_point() {
        let (pool, releases) = counting_pool();
        let release = MemoryRelease::new(true, pool);
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
        let release = MemoryRelease::new(false, pool);
        let sessions: Vec<LoadGuard> = (0..64).map(|_| release.track(Load::Sessions)).collect();
        drop(sessions);
        assert_eq!(releases.load(Ordering::SeqCst), 0);
    }
}
