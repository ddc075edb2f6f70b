//! `Server::start_async_io_with`: every task of the server (the accept loop, sessions) goes to
//! the application's own executor, and the server works there; and a session's task is never
//! woken from inside its own poll.

mod support;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use ftp_server::auth::{Permissions, UserTable};
use ftp_server::storage::{FsStorage, VirtualPath};
use ftp_server::{BoxFuture, RunningServer, Server};
use support::*;

/// An executor on a thread of its own, serving the files of `root`; `wrap` sees every task
/// the server spawns. Runs `test` against the server, then shuts both down.
fn on_own_executor(
    root: &TempDir,
    wrap: impl Fn(BoxFuture<'static, ()>) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    test: impl FnOnce(&RunningServer),
) {
    let executor = Arc::new(async_executor::Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let runner = {
        let executor = Arc::clone(&executor);
        std::thread::spawn(move || async_io::block_on(executor.run(stopped.recv())))
    };
    let mut users = UserTable::insecure_fast();
    users
        .add(ALICE.0, ALICE.1, VirtualPath::root(), Permissions::ALL)
        .unwrap();
    let server = Server::new(FsStorage::new(root.path()).unwrap())
        .listen("127.0.0.1:0".parse().unwrap())
        .authenticator(users)
        .shutdown_grace(Duration::from_secs(2));
    let spawner = Arc::clone(&executor);
    let running = async_io::block_on(server.start_async_io_with(move |task| {
        spawner.spawn(wrap(task)).detach();
    }))
    .unwrap();
    test(&running);
    async_io::block_on(running.shutdown());
    stop.try_send(()).unwrap();
    runner.join().unwrap().unwrap();
}

fn logged_in(running: &RunningServer) -> Ctl {
    let mut ctl = Ctl::connect(running.local_addrs()[0]);
    assert_eq!(ctl.reply().0, 220);
    ctl.expect(&format!("USER {}", ALICE.0), 331);
    ctl.expect(&format!("PASS {}", ALICE.1), 230);
    ctl.expect("TYPE I", 200);
    ctl
}

#[test]
fn serves_on_the_applications_own_executor() {
    let root = TempDir::new("custom-executor");
    let content = pattern(3 << 20, 9);
    std::fs::write(root.path().join("f.bin"), &content).unwrap();
    let spawned = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&spawned);
    let wrap = move |task| {
        count.fetch_add(1, Ordering::SeqCst);
        task
    };
    on_own_executor(&root, wrap, |running| {
        let mut ctl = logged_in(running);
        assert!(ctl.retr("f.bin") == content);
        ctl.stor("up.bin", &content);
        assert!(std::fs::read(root.path().join("up.bin")).unwrap() == content);
        ctl.expect("QUIT", 221);
    });
    // The accept loop and the session (whose task polls its data connections too).
    let tasks = spawned.load(Ordering::SeqCst);
    assert!(
        tasks >= 2,
        "only {tasks} tasks went to the application's executor"
    );
}

thread_local! {
    /// The [`SelfWakes`] whose task this thread is polling (its address), or 0.
    static POLLING: Cell<usize> = const { Cell::new(0) };
}

/// A task's waker that counts the wakes it gets from inside that task's own poll.
struct SelfWakes {
    inner: Mutex<Option<Waker>>,
    count: Arc<AtomicUsize>,
}

impl Wake for SelfWakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if POLLING.get() == Arc::as_ptr(self) as usize {
            self.count.fetch_add(1, Ordering::SeqCst);
        }
        if let Some(waker) = self.inner.lock().unwrap().as_ref() {
            waker.wake_by_ref();
        }
    }
}

/// `task`, polled with a [`SelfWakes`] waker (one for its whole life, so that wakers it
/// registers compare equal from poll to poll).
struct Counted {
    task: BoxFuture<'static, ()>,
    state: Arc<SelfWakes>,
    waker: Waker,
}

impl Future for Counted {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.state.inner.lock().unwrap() = Some(cx.waker().clone());
        let waker = self.waker.clone();
        POLLING.set(Arc::as_ptr(&self.state) as usize);
        let result = self.task.as_mut().poll(&mut Context::from_waker(&waker));
        POLLING.set(0);
        result
    }
}

/// A wake from inside a task's own poll only has the executor poll it again, and tokio's
/// multi-thread scheduler wakes a second worker thread for it: what a session's task tells
/// its data connections, and their reports, must wake nobody (`driver/mailbox.rs`,
/// `driver/inbox.rs`). The one wake it gives itself on purpose is a turn for other tasks
/// after each 1 MiB a download sends from the page cache without waiting for the socket
/// (`driver/cached.rs`): at most 3 here.
#[test]
fn a_sessions_task_never_wakes_itself() {
    let root = TempDir::new("self-wakes");
    let small = pattern(1024, 3);
    std::fs::write(root.path().join("small.bin"), &small).unwrap();
    let large = pattern(3 << 20, 4);
    std::fs::write(root.path().join("large.bin"), &large).unwrap();
    let self_wakes = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&self_wakes);
    let wrap = move |task| -> BoxFuture<'static, ()> {
        let state = Arc::new(SelfWakes {
            inner: Mutex::new(None),
            count: Arc::clone(&count),
        });
        let waker = Waker::from(Arc::clone(&state));
        Box::pin(Counted { task, state, waker })
    };
    on_own_executor(&root, wrap, |running| {
        let mut ctl = logged_in(running);
        for _ in 0..20 {
            assert!(ctl.retr("small.bin") == small);
        }
        assert!(ctl.retr("large.bin") == large);
        ctl.stor("up.bin", &small);
        ctl.stor("up-large.bin", &large);
        ctl.expect("QUIT", 221);
    });
    assert!(root_file(&root, "up.bin") == small);
    assert!(root_file(&root, "up-large.bin") == large);
    let windows = large.len() >> 20;
    let wakes = self_wakes.load(Ordering::SeqCst);
    assert!(wakes <= windows, "{wakes} self-wakes");
}

fn root_file(root: &TempDir, name: &str) -> Vec<u8> {
    std::fs::read(root.path().join(name)).unwrap()
}
