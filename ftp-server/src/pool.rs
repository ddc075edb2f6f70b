//! The thread pool for blocking work (file system calls, password hashing), off the async
//! executor. (Not named `blocking`: the async-io runtime uses the `blocking` crate.)

use std::fmt;
use std::io;
use std::sync::Arc;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A handle to a pool of threads for blocking work: tokio's `spawn_blocking` under the tokio
/// runtime, the `blocking` crate's pool under async-std/smol.
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
