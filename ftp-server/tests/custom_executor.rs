//! `Server::start_async_io_with`: every task of the server (the accept loop, sessions) goes to
//! the application's own executor, and the server works there.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ftp_server::auth::{Permissions, UserTable};
use ftp_server::storage::{FsStorage, VirtualPath};
use ftp_server::Server;
use support::*;

#[test]
fn serves_on_the_applications_own_executor() {
    let executor = Arc::new(async_executor::Executor::new());
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let runner = {
        let executor = Arc::clone(&executor);
        std::thread::spawn(move || async_io::block_on(executor.run(stopped.recv())))
    };
    let spawned = Arc::new(AtomicUsize::new(0));

    let root = TempDir::new("custom-executor");
    let content = pattern(3 << 20, 9);
    std::fs::write(root.path().join("f.bin"), &content).unwrap();
    let mut users = UserTable::insecure_fast();
    users
        .add(ALICE.0, ALICE.1, VirtualPath::root(), Permissions::ALL)
        .unwrap();
    let server = Server::new(FsStorage::new(root.path()).unwrap())
        .listen("127.0.0.1:0".parse().unwrap())
        .authenticator(users)
        .shutdown_grace(Duration::from_secs(2));
    let count = Arc::clone(&spawned);
    let spawner = Arc::clone(&executor);
    let running = async_io::block_on(server.start_async_io_with(move |task| {
        count.fetch_add(1, Ordering::SeqCst);
        spawner.spawn(task).detach();
    }))
    .unwrap();

    let mut ctl = Ctl::connect(running.local_addrs()[0]);
    assert_eq!(ctl.reply().0, 220);
    ctl.expect(&format!("USER {}", ALICE.0), 331);
    ctl.expect(&format!("PASS {}", ALICE.1), 230);
    ctl.expect("TYPE I", 200);
    assert!(ctl.retr("f.bin") == content);
    ctl.stor("up.bin", &content);
    assert!(std::fs::read(root.path().join("up.bin")).unwrap() == content);
    ctl.expect("QUIT", 221);

    // The accept loop and the session (whose task polls its data connections too).
    let tasks = spawned.load(Ordering::SeqCst);
    assert!(
        tasks >= 2,
        "only {tasks} tasks went to the application's executor"
    );
    async_io::block_on(running.shutdown());
    stop.try_send(()).unwrap();
    runner.join().unwrap().unwrap();
}
