//! The thread pool for blocking work (file system calls, password hashing), off the async
//! executor: tokio's under tokio, [`BlockingPool::threads`] under async-io.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A handle to a pool of threads for blocking work: tokio's `spawn_blocking` under the tokio
/// runtime, [`BlockingPool::threads`] under async-std/smol.
///
/// The server hands one to every storage and authentication call, so a back end that must
/// block (a local file system, a password hash) stays runtime-neutral: it calls
/// [`BlockingPool::unblock`] and awaits the result. Back ends that are async by nature (object
/// stores) ignore it.
#[derive(Clone)]
pub struct BlockingPool {
    spawn: Arc<dyn Fn(Job) + Send + Sync>,
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlockingPool(..)")
    }
}

impl BlockingPool {
    /// A pool that runs each job with `spawn` (which must run it on a thread where blocking is
    /// allowed, exactly once).
    pub fn new(spawn: impl Fn(Box<dyn FnOnce() + Send + 'static>) + Send + Sync + 'static) -> Self {
        Self {
            spawn: Arc::new(spawn),
        }
    }

    /// A "pool" that starts one OS thread per job: for tests and tools without a runtime.
    pub fn thread_per_job() -> Self {
        Self::new(|job| {
            std::thread::spawn(job);
        })
    }

    /// A pool of threads of its own: a thread is started when a job finds none idle (up to
    /// `max_threads`; further jobs wait for one), and leaves after `keep_alive` without a job,
    /// so the pool shrinks back to no thread after a burst. The async-io runtime's pool is
    /// `threads(512, 10 s)`, as tokio's.
    pub fn threads(max_threads: usize, keep_alive: Duration) -> Self {
        let pool = ThreadPool::new(max_threads, keep_alive);
        Self::new(move |job| pool.execute(job))
    }

    /// Runs `f` on the pool without waiting for it.
    pub(crate) fn detach(&self, f: impl FnOnce() + Send + 'static) {
        (self.spawn)(Box::new(f));
    }

    /// Runs `f` on the pool and returns its result. The error case only happens when the job
    /// panicked or the pool dropped it (runtime shutting down).
    pub async fn unblock<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = async_channel::bounded(1);
        (self.spawn)(Box::new(move || {
            let _ = tx.try_send(f());
        }));
        rx.recv()
            .await
            .map_err(|_| io::Error::other("blocking job did not complete"))
    }
}

/// Threads for blocking jobs ([`BlockingPool::threads`]), started when a job finds none idle
/// (up to a maximum), each leaving after a keep-alive without a job: after a burst the pool
/// shrinks back to nothing, and so does the memory its threads held (stacks, allocator
/// caches).
///
/// The async-io runtime's pool. (The `blocking` crate's pool, used before, keeps every thread
/// it ever started: 68 idle threads and 5 MiB stayed after 100 concurrent downloads.)
pub(crate) struct ThreadPool {
    state: Mutex<PoolState>,
    work: Condvar,
    max_threads: usize,
    keep_alive: Duration,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

impl ThreadPool {
    /// As tokio's blocking pool: 512 threads at most, 10 s keep-alive (the async-io runtime's
    /// pool).
    #[cfg_attr(not(feature = "async-std"), allow(dead_code))]
    pub(crate) const MAX_THREADS: usize = 512;
    #[cfg_attr(not(feature = "async-std"), allow(dead_code))]
    pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

    pub(crate) fn new(max_threads: usize, keep_alive: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(PoolState::default()),
            work: Condvar::new(),
            max_threads: max_threads.max(1),
            keep_alive,
        })
    }

    /// Queues `job`; wakes an idle thread for it, or starts one when none is idle (and the
    /// maximum allows: otherwise the job waits for a thread to finish its own).
    pub(crate) fn execute(self: &Arc<Self>, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.queue.len() <= state.idle {
            self.work.notify_one();
            return;
        }
        if state.threads < self.max_threads {
            let pool = Arc::clone(self);
            let started = std::thread::Builder::new()
                .name("ftp-server-blocking".into())
                .spawn(move || pool.work_until_idle());
            match started {
                Ok(_) => state.threads += 1,
                // The job waits for a running thread; with none, for the next job's attempt.
                Err(e) => tracing::error!(%e, "cannot start a blocking-pool thread"),
            }
        }
    }

    /// Threads running now (for tests).
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.lock().threads
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A thread's life: run queued jobs; leave after `keep_alive` with nothing to run.
    fn work_until_idle(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // A panicking job drops its result channel: its caller gets an error.
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let (woken, wait) = self
                .work
                .wait_timeout(state, self.keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            state = woken;
            state.idle -= 1;
            if wait.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Jobs beyond the maximum wait for a thread; idle threads leave after the keep-alive.
    #[test]
    fn grows_to_its_maximum_and_shrinks_to_nothing() {
        let pool = ThreadPool::new(2, Duration::from_millis(200));
        let (started_tx, started) = mpsc::channel();
        let gates: Vec<_> = (0..3)
            .map(|i| {
                let (open, gate) = mpsc::channel::<()>();
                let started_tx = started_tx.clone();
                pool.execute(Box::new(move || {
                    started_tx.send(i).unwrap();
                    let _ = gate.recv();
                }));
                open
            })
            .collect();
        let first_two = [started.recv().unwrap(), started.recv().unwrap()];
        assert_eq!(pool.threads(), 2);
        assert!(
            started.recv_timeout(Duration::from_millis(200)).is_err(),
            "a third job waits for a thread"
        );
        gates[first_two[0]].send(()).unwrap();
        let third = started.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(!first_two.contains(&third));
        for gate in &gates {
            let _ = gate.send(());
        }
        wait_for("the threads to leave", || pool.threads() == 0);
        // And it starts again.
        let (done_tx, done) = mpsc::channel();
        pool.execute(Box::new(move || done_tx.send(()).unwrap()));
        done.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    /// A panicking job neither stops its thread nor loses the jobs after it.
    #[test]
    fn a_panicking_job_leaves_the_pool_working() {
        let pool = ThreadPool::new(1, Duration::from_secs(5));
        pool.execute(Box::new(|| panic!("job panics on purpose")));
        let (done_tx, done) = mpsc::channel();
        pool.execute(Box::new(move || done_tx.send(()).unwrap()));
        done.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(pool.threads(), 1);
    }
}
