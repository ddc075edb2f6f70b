//! Group commit of directory `fsync`s: one sync of a directory makes durable every rename
//! into it that was done before the sync began (on Linux, `fsync` acts on the directory, not
//! on the descriptor it is called through).
//!
//! A synced upload ([`FsStorage`](super::FsStorage)'s default) is renamed into place, then its
//! directory is `fsync`ed, so that a crash cannot lose the rename after `226` was sent. With
//! many uploads into one directory, each would sync the directory on its own, and the disk
//! would commit its metadata once per upload. [`DirectorySyncs::sync`] shares the work
//! instead, in rounds:
//!
//! * at most one round of a directory runs at a time;
//! * a caller joins the directory's *next* round, which starts once no round runs (at once,
//!   when none does), run by one of the callers that joined it. A round starts after each
//!   of its callers arrived, so after each of their renames: it covers them all.
//!
//! Every caller gets its own round's result. When a round fails, the round waiting behind
//! it fails too, without running: its callers arrived while the failed sync ran, and their
//! renames may have been in the writes it failed, an error the kernel reports once. Callers
//! arriving later start a new round. A directory is tracked only while callers wait on it
//! or sync it.

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
    /// sync's result (or the error of the round before it, see the module documentation).
    /// `sync_dir` performs one sync. Each round runs the `sync_dir` of exactly one of its
    /// callers, on that caller's thread; the other callers block until it ends, and their
    /// `sync_dir` is dropped unrun.
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
    /// the next round, which one of them runs, or which fails with this one). A panicking
    /// `sync_dir` ends the round failed.
    fn run(&self, round: &Round, sync_dir: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let end = EndRound { group: self, round };
        let result = sync_dir();
        let _ = round.outcome.set(Outcome::of(&result));
        drop(end);
        result
    }
}

/// Ends a round when dropped, on return or unwind.
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
        if let Some(failure @ Outcome::Failed { .. }) = self.round.outcome.get() {
            if let Some(next) = state.next.take() {
                let _ = next.outcome.set(failure.clone());
            }
        }
        state.running = false;
        self.group.round_ended.notify_all();
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
    use std::time::{Duration, Instant};

    const PATIENCE: Duration = Duration::from_secs(10);

    /// What a gated sync does once the test releases it.
    enum Release {
        Return(io::Result<()>),
        Panic,
    }

    /// Syncs that block until the test releases them, reporting when one starts.
    struct Gate {
        started: Mutex<mpsc::Sender<()>>,
        release: Mutex<mpsc::Receiver<Release>>,
        runs: AtomicUsize,
    }

    impl Gate {
        fn run(&self) -> io::Result<()> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            lock(&self.started).send(()).unwrap();
            let release = lock(&self.release).recv_timeout(PATIENCE);
            match release.expect("the test releases every sync") {
                Release::Return(result) => result,
                Release::Panic => panic!("the disk is on fire"),
            }
        }
    }

    /// The directory table under test, a gate, and the ends of the gate's channels.
    struct Bench {
        syncs: Arc<DirectorySyncs>,
        gate: Arc<Gate>,
        started: mpsc::Receiver<()>,
        release: mpsc::Sender<Release>,
    }

    impl Bench {
        fn new() -> Self {
            let (started_tx, started) = mpsc::channel();
            let (release, release_rx) = mpsc::channel();
            let gate = Arc::new(Gate {
                started: Mutex::new(started_tx),
                release: Mutex::new(release_rx),
                runs: AtomicUsize::new(0),
            });
            Self {
                syncs: Arc::default(),
                gate,
                started,
                release,
            }
        }

        /// A thread syncing `dir` through the gate.
        fn caller(&self, dir: &'static str) -> Caller {
            let (syncs, gate) = (self.syncs.clone(), self.gate.clone());
            let (done, result) = mpsc::channel();
            let thread = thread::spawn(move || {
                let _ = done.send(syncs.sync(Path::new(dir), |_| gate.run()));
            });
            Caller { result, thread }
        }

        /// Waits until a gated sync has started.
        fn until_a_sync_starts(&self) {
            self.started.recv_timeout(PATIENCE).expect("a sync starts");
        }

        fn release(&self, release: Release) {
            self.release.send(release).unwrap();
        }

        fn release_with_os_error(&self, code: i32) {
            self.release(Release::Return(Err(io::Error::from_raw_os_error(code))));
        }

        /// A caller whose sync runs, and `n` callers that joined the round behind it.
        fn behind_a_running_round(&self, n: usize) -> (Caller, Vec<Caller>) {
            let first = self.caller("/d");
            self.until_a_sync_starts();
            let behind = (0..n).map(|_| self.caller("/d")).collect();
            self.until_next_round_has("/d", n);
            (first, behind)
        }

        /// `n` callers whose round has started after the one before it succeeded.
        fn in_a_second_round(&self, n: usize) -> Vec<Caller> {
            let (first, behind) = self.behind_a_running_round(n);
            self.release(Release::Return(Ok(())));
            assert_eq!(first.os_error(), None);
            self.until_a_sync_starts();
            behind
        }

        /// Asserts that a caller arriving now gets a round of its own, and its success.
        fn a_new_round_succeeds(&self) {
            let later = self.caller("/d");
            self.until_a_sync_starts();
            self.release(Release::Return(Ok(())));
            assert_eq!(later.os_error(), None, "a later round runs and succeeds");
        }

        fn runs(&self) -> usize {
            self.gate.runs.load(Ordering::SeqCst)
        }

        /// Waits until `n` callers have joined the next round of `dir`.
        fn until_next_round_has(&self, dir: &str, n: usize) {
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                let group = lock(&self.syncs.dirs)
                    .get(Path::new(dir))
                    .map(|(group, _)| group.clone());
                let joined = group.and_then(|group| {
                    let state = lock(&group.state);
                    // The state holds one reference, each caller of the round one.
                    state.next.as_ref().map(|next| Arc::strong_count(next) - 1)
                });
                if joined == Some(n) {
                    return;
                }
                thread::sleep(Duration::from_millis(5));
            }
            panic!("callers never joined the next round");
        }
    }

    /// A caller's thread and the channel its result comes back on.
    struct Caller {
        result: mpsc::Receiver<io::Result<()>>,
        thread: thread::JoinHandle<()>,
    }

    impl Caller {
        /// The caller's result: `None` if its sync panicked. Fails the test if the caller
        /// is still waiting after [`PATIENCE`].
        fn result(self) -> Option<io::Result<()>> {
            let result = match self.result.recv_timeout(PATIENCE) {
                Ok(result) => Some(result),
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("a caller never returned"),
            };
            let _ = self.thread.join();
            result
        }

        fn os_error(self) -> Option<i32> {
            let result = self.result().expect("the caller's sync did not panic");
            result.err().and_then(|e| e.raw_os_error())
        }
    }

    #[test]
    fn callers_arriving_during_a_sync_share_the_next_one() {
        let bench = Bench::new();
        let later = bench.in_a_second_round(5);
        bench.release(Release::Return(Ok(())));
        for caller in later {
            assert_eq!(caller.os_error(), None);
        }
        assert_eq!(bench.runs(), 2, "one round for the five");
        assert_eq!(bench.syncs.tracked(), 0, "the directory is forgotten");
    }

    /// Also: a caller never takes the outcome of a round that began before it arrived (the
    /// first round here succeeded).
    #[test]
    fn every_caller_of_a_failed_round_gets_its_error_and_later_ones_do_not() {
        let bench = Bench::new();
        let round = bench.in_a_second_round(3);
        bench.release_with_os_error(5);
        for caller in round {
            assert_eq!(caller.os_error(), Some(5), "the second round's own result");
        }
        bench.a_new_round_succeeds();
        assert_eq!(bench.runs(), 3);
    }

    #[test]
    fn a_failed_round_fails_the_round_waiting_behind_it() {
        let bench = Bench::new();
        let (first, waiting) = bench.behind_a_running_round(2);
        bench.release_with_os_error(5);
        assert_eq!(first.os_error(), Some(5));
        for caller in waiting {
            assert_eq!(caller.os_error(), Some(5));
        }
        assert_eq!(bench.runs(), 1, "the waiting round does not run");
        assert_eq!(bench.syncs.tracked(), 0);
    }

    #[test]
    fn a_panicking_sync_fails_every_caller_of_its_round() {
        let bench = Bench::new();
        let round = bench.in_a_second_round(2);
        bench.release(Release::Panic);
        let results: Vec<_> = round.into_iter().map(Caller::result).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_none()).count(),
            1,
            "one ran it"
        );
        let told = results
            .into_iter()
            .flatten()
            .next()
            .expect("the other waited");
        assert_eq!(told.unwrap_err().to_string(), "directory sync panicked");
        assert_eq!(bench.syncs.tracked(), 0, "the directory is forgotten");
        bench.a_new_round_succeeds();
    }

    #[test]
    fn directories_do_not_wait_for_each_other() {
        let bench = Bench::new();
        let blocked = bench.caller("/a");
        bench.until_a_sync_starts();
        let mut seen = None;
        bench
            .syncs
            .sync(Path::new("/b"), |dir| {
                seen = Some(dir.to_path_buf());
                Ok(())
            })
            .unwrap();
        assert_eq!(seen.as_deref(), Some(Path::new("/b")));
        bench.release(Release::Return(Ok(())));
        assert_eq!(blocked.os_error(), None);
        assert_eq!(bench.syncs.tracked(), 0);
    }
}
