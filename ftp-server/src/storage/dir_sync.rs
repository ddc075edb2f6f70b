//! Group commit of directory `fsync`s: one sync of a directory makes durable every rename
//! into it that was done before the sync began.
//!
//! A synced upload ([`FsStorage`](super::FsStorage)'s default) is renamed into place, then its
//! directory is `fsync`ed, so that a crash cannot lose the rename after `226` was sent. With
//! many uploads into one directory, each would sync the directory on its own, and the disk
//! would commit its journal once per upload. [`DirectorySyncs::sync`] shares the work instead:
//!
//! * when no sync of the directory is running, the caller runs one at once;
//! * when one is running, the caller joins the *next* round, which starts as soon as the
//!   running one ends, run by one of the callers that joined it. A round starts after each of
//!   its callers arrived, so after each of their renames: it covers them all.
//!
//! Every caller gets its own round's result: a caller whose round failed gets the error,
//! even when a later round succeeds (an error `fsync` reports once must not be lost).
//! A directory is tracked only while some caller waits on it.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// The directories being synced, each with its rounds. See the module documentation.
#[derive(Default)]
pub(crate) struct DirectorySyncs {
    /// Each directory with its callers, counted so that the last one removes the entry.
    dirs: Mutex<HashMap<PathBuf, (Arc<DirGroup>, usize)>>,
}

/// The rounds of one directory.
#[derive(Default)]
struct DirGroup {
    state: Mutex<GroupState>,
    /// Signalled when a round ends.
    round_ended: Condvar,
}

#[derive(Default)]
struct GroupState {
    running: bool,
    /// The round that callers arriving now join; it starts when the running one ends.
    next: Option<Arc<Round>>,
}

/// One sync of a directory and, once it ran, its outcome.
#[derive(Default)]
struct Round {
    outcome: OnceLock<Outcome>,
}

/// A cloneable record of a round's result.
#[derive(Clone)]
enum Outcome {
    Synced,
    Failed {
        os_code: Option<i32>,
        kind: io::ErrorKind,
        message: String,
    },
}

impl Outcome {
    fn of(result: &io::Result<()>) -> Self {
        match result {
            Ok(()) => Self::Synced,
            Err(e) => Self::Failed {
                os_code: e.raw_os_error(),
                kind: e.kind(),
                message: e.to_string(),
            },
        }
    }

    fn to_result(&self) -> io::Result<()> {
        match self {
            Self::Synced => Ok(()),
            Self::Failed {
                os_code: Some(code),
                ..
            } => Err(io::Error::from_raw_os_error(*code)),
            Self::Failed { kind, message, .. } => Err(io::Error::new(*kind, message.clone())),
        }
    }
}

impl DirectorySyncs {
    /// The table shared by every [`FsStorage`](super::FsStorage) of this process, so that
    /// storages serving one tree share their rounds too.
    pub(crate) fn shared() -> &'static Self {
        static SHARED: OnceLock<DirectorySyncs> = OnceLock::new();
        SHARED.get_or_init(Self::default)
    }

    /// Returns once a sync of `dir` that began after this call was made has ended, with that
    /// sync's result. `sync_dir` performs one sync; it runs on the calling thread, or on
    /// another caller's, which waits (blocking) meanwhile.
    pub(crate) fn sync(
        &self,
        dir: &Path,
        sync_dir: impl FnOnce(&Path) -> io::Result<()>,
    ) -> io::Result<()> {
        let caller = self.join(dir);
        caller.group.sync(|| sync_dir(dir))
    }

    /// How many directories have callers now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        lock(&self.dirs).len()
    }

    fn join<'a>(&'a self, dir: &'a Path) -> Caller<'a> {
        let mut dirs = lock(&self.dirs);
        let (group, callers) = dirs.entry(dir.to_path_buf()).or_default();
        *callers += 1;
        Caller {
            syncs: self,
            dir,
            group: group.clone(),
        }
    }
}

/// A caller counted on its directory; dropping it (on return or unwind) uncounts it.
struct Caller<'a> {
    syncs: &'a DirectorySyncs,
    dir: &'a Path,
    group: Arc<DirGroup>,
}

impl Drop for Caller<'_> {
    fn drop(&mut self) {
        let mut dirs = lock(&self.syncs.dirs);
        if let Some((_, callers)) = dirs.get_mut(self.dir) {
            *callers -= 1;
            if *callers == 0 {
                dirs.remove(self.dir);
            }
        }
    }
}

impl DirGroup {
    /// Joins the next round and waits for its outcome, running the round itself when it is
    /// this caller's turn.
    fn sync(&self, sync_dir: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut state = lock(&self.state);
        let round = state.next.get_or_insert_with(Default::default).clone();
        loop {
            if let Some(outcome) = round.outcome.get() {
                return outcome.to_result();
            }
            let its_turn = !state.running
                && state
                    .next
                    .as_ref()
                    .is_some_and(|next| Arc::ptr_eq(next, &round));
            if its_turn {
                state.next = None;
                state.running = true;
                drop(state);
                return self.run(&round, sync_dir);
            }
            state = self
                .round_ended
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Runs `round`, records its outcome and wakes the callers waiting on it (and those of
    /// the next round, one of which runs it). A panicking `sync_dir` ends the round failed.
    fn run(&self, round: &Round, sync_dir: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        struct EndRound<'a> {
            group: &'a DirGroup,
            round: &'a Round,
        }
        impl Drop for EndRound<'_> {
            fn drop(&mut self) {
                let mut state = lock(&self.group.state);
                let _ = self.round.outcome.set(Outcome::Failed {
                    os_code: None,
                    kind: io::ErrorKind::Other,
                    message: "directory sync panicked".into(),
                });
                state.running = false;
                self.group.round_ended.notify_all();
            }
        }
        let end = EndRound { group: self, round };
        let result = sync_dir();
        let _ = round.outcome.set(Outcome::of(&result));
        drop(end);
        result
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    /// A sync that blocks until the test releases it, reporting when it starts.
    struct Gate {
        started: mpsc::Sender<()>,
        release: Mutex<mpsc::Receiver<io::Result<()>>>,
        runs: AtomicUsize,
    }

    impl Gate {
        fn run(&self) -> io::Result<()> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            self.started.send(()).unwrap();
            lock(&self.release)
                .recv_timeout(Duration::from_secs(10))
                .expect("the test releases every sync")
        }
    }

    fn gate() -> (Arc<Gate>, mpsc::Receiver<()>, mpsc::Sender<io::Result<()>>) {
        let (started, started_rx) = mpsc::channel();
        let (release_tx, release) = mpsc::channel();
        let gate = Arc::new(Gate {
            started,
            release: Mutex::new(release),
            runs: AtomicUsize::new(0),
        });
        (gate, started_rx, release_tx)
    }

    /// A thread syncing `dir` with `gate`.
    fn spawn_sync(
        syncs: &Arc<DirectorySyncs>,
        gate: &Arc<Gate>,
        dir: &'static str,
    ) -> thread::JoinHandle<io::Result<()>> {
        let (syncs, gate) = (syncs.clone(), gate.clone());
        thread::spawn(move || syncs.sync(Path::new(dir), |_| gate.run()))
    }

    /// Waits (10 s at most) until `n` callers have joined the next round of `dir`.
    fn until_next_round_has(syncs: &DirectorySyncs, dir: &Path, n: usize) {
        for _ in 0..1000 {
            let group = lock(&syncs.dirs).get(dir).map(|(group, _)| group.clone());
            let joined = group.and_then(|group| {
                let state = lock(&group.state);
                // The state holds one reference, each caller of the round one.
                state.next.as_ref().map(|next| Arc::strong_count(next) - 1)
            });
            if joined == Some(n) {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("callers never joined the next round");
    }

    #[test]
    fn callers_arriving_during_a_sync_share_the_next_one() {
        let syncs = Arc::new(DirectorySyncs::default());
        let dir = Path::new("/d");
        let (gate, started, release) = gate();
        let first = spawn_sync(&syncs, &gate, "/d");
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        let later: Vec<_> = (0..5).map(|_| spawn_sync(&syncs, &gate, "/d")).collect();
        until_next_round_has(&syncs, dir, 5);
        release.send(Ok(())).unwrap();
        first.join().unwrap().unwrap();
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        release.send(Ok(())).unwrap();
        for caller in later {
            caller.join().unwrap().unwrap();
        }
        assert_eq!(
            gate.runs.load(Ordering::SeqCst),
            2,
            "one round for the five"
        );
        assert_eq!(syncs.tracked(), 0, "the directory is forgotten");
    }

    #[test]
    fn a_failed_round_fails_its_callers_though_the_next_one_succeeds() {
        let syncs = Arc::new(DirectorySyncs::default());
        let dir = Path::new("/d");
        let (gate, started, release) = gate();
        let first = spawn_sync(&syncs, &gate, "/d");
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        let second = spawn_sync(&syncs, &gate, "/d");
        until_next_round_has(&syncs, dir, 1);
        release.send(Err(io::Error::from_raw_os_error(5))).unwrap();
        let failed = first.join().unwrap().unwrap_err();
        assert_eq!(failed.raw_os_error(), Some(5));
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        release.send(Ok(())).unwrap();
        second.join().unwrap().unwrap();
    }

    #[test]
    fn a_caller_never_takes_a_round_that_began_before_it_arrived() {
        // The second caller arrives while the first round runs; it must not return with
        // that round's outcome, though it succeeds: a second round has to run.
        let syncs = Arc::new(DirectorySyncs::default());
        let (gate, started, release) = gate();
        let first = spawn_sync(&syncs, &gate, "/d");
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        let second = spawn_sync(&syncs, &gate, "/d");
        until_next_round_has(&syncs, Path::new("/d"), 1);
        release.send(Ok(())).unwrap();
        first.join().unwrap().unwrap();
        started
            .recv_timeout(Duration::from_secs(10))
            .expect("a second round starts for the caller that arrived during the first");
        release.send(Err(io::Error::from_raw_os_error(28))).unwrap();
        assert_eq!(second.join().unwrap().unwrap_err().raw_os_error(), Some(28));
    }

    #[test]
    fn directories_do_not_wait_for_each_other() {
        let syncs = Arc::new(DirectorySyncs::default());
        let (gate, started, release) = gate();
        let blocked = spawn_sync(&syncs, &gate, "/a");
        started.recv_timeout(Duration::from_secs(10)).unwrap();
        let mut seen = None;
        syncs
            .sync(Path::new("/b"), |dir| {
                seen = Some(dir.to_path_buf());
                Ok(())
            })
            .unwrap();
        assert_eq!(seen.as_deref(), Some(Path::new("/b")));
        release.send(Ok(())).unwrap();
        blocked.join().unwrap().unwrap();
        assert_eq!(syncs.tracked(), 0);
    }

    #[test]
    fn a_panicking_sync_fails_its_round_and_frees_the_directory() {
        let syncs = DirectorySyncs::default();
        let dir = Path::new("/d");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            syncs.sync(dir, |_| panic!("disk on fire"))
        }));
        assert!(panicked.is_err());
        assert_eq!(syncs.tracked(), 0, "the directory is forgotten");
        syncs.sync(dir, |_| Ok(())).expect("a later round runs");
    }
}
