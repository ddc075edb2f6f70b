//! ftp-server behind a real HAProxy (Debian's `haproxy`, TCP mode, started and stopped by PID
//! here), under both runtimes: control connections balanced over two nodes with the PROXY
//! protocol (v2, and v1 on a second frontend), each node's passive port range forwarded to
//! it, announced with the balancer's address, both nodes serving one folder.
//!
//! The HAProxy configuration is [`haproxy_config`]; the README's deployment section shows the
//! same one.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ftp_server::ProxyProtocol;
use support::load_balancer::*;
use support::*;

/// One node: listens on its own loopback address, trusts the balancer, announces the
/// balancer's address for passive connections, and serves `root`.
fn start_node(rt: Rt, i: usize, root: &std::path::Path, ports: &Ports) -> TestServer {
    let low = ports.passive[i];
    let listen = SocketAddr::new(NODE_IPS[i].parse().unwrap(), 0);
    TestServer::start_node(rt, TempDir(root.to_path_buf()), listen, |s| {
        s.passive_ports(low..=low + PASSIVE_PORTS - 1)
            .passive_address(BALANCER.parse().unwrap())
            .proxy_protocol(ProxyProtocol::new([BALANCER.parse().unwrap()]))
            .shutdown_grace(Duration::from_millis(500))
    })
}

fn events(node: &TestServer) -> String {
    node.events.lock().unwrap().join("\n")
}

#[test]
fn curl_through_haproxy_is_served_under_its_own_address() {
    require("curl");
    each_runtime(|rt| {
        let root = TempDir::new("haproxy-one");
        let _lock = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        let ports = pick_ports(1);
        let node = start_node(rt, 0, root.path(), &ports);
        let balancer = SocketAddr::new(BALANCER.parse().unwrap(), ports.control);
        let _haproxy = HaProxy::start(&haproxy_config(&ports, &[node.addr]), balancer);
        drop(_lock);
        let local = root.path().join("up.bin");
        std::fs::write(&local, pattern(700_000, 3)).unwrap();
        for port in [ports.control, ports.control_v1] {
            let url = format!("ftp://{BALANCER}:{port}/");
            let curl = |args: &[&str]| {
                let mut command = Command::new("curl");
                command.args(["-sS", "--interface", "127.0.0.5", "-u", "alice:secret"]);
                ok(run(command.args(args), Duration::from_secs(30)))
            };
            curl(&[
                "-T",
                local.to_str().unwrap(),
                &format!("{url}up-{port}.bin"),
            ]);
            let down = root.path().join(format!("down-{port}.bin"));
            curl(&["-o", down.to_str().unwrap(), &format!("{url}up-{port}.bin")]);
            assert!(std::fs::read(&down).unwrap() == pattern(700_000, 3));
            let listing = curl(&["-l", &url]);
            assert!(
                listing
                    .lines()
                    .any(|l| l.trim_end() == format!("up-{port}.bin")),
                "{listing}"
            );
        }
        // The sessions were the client's 127.0.0.5 (six of them: three per frontend); the
        // transfers worked, so each passive data connection was 127.0.0.5's too (the node
        // refuses any other). HAProxy's health checks show as its own 127.0.0.1.
        let events = events(&node);
        assert_eq!(
            events.matches("Connected { peer: 127.0.0.5:").count(),
            6,
            "{events}"
        );
    });
}

#[test]
fn two_nodes_behind_haproxy_share_a_folder_and_survive_losing_one() {
    const CLIENTS: usize = 20;
    each_runtime(|rt| {
        let root = TempDir::new("haproxy-two");
        let lock = PORTS.lock().unwrap_or_else(|e| e.into_inner());
        let ports = pick_ports(2);
        let mut nodes: Vec<TestServer> = (0..2)
            .map(|i| start_node(rt, i, root.path(), &ports))
            .collect();
        let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
        let balancer = SocketAddr::new(BALANCER.parse().unwrap(), ports.control);
        let _haproxy = HaProxy::start(&haproxy_config(&ports, &addrs), balancer);
        drop(lock);

        // 20 clients at once store a file each and read it back through the balancer.
        let files = first_files(CLIENTS);
        store_and_read_back(balancer, &files);
        // Both nodes had clients, and every file reads back through either node.
        for node in &nodes {
            let events = events(node);
            assert!(
                events.matches("Connected { peer: 127.0.0.").count() >= 5,
                "{events}"
            );
            read_back_directly(node.addr, &files);
        }

        // Now 20 slow uploads (3 MB in 64 KiB writes 60 ms apart), and node 0 stops in the
        // middle: its clients fail, reconnect through the balancer and store elsewhere.
        let outcomes: Vec<Arc<Mutex<Outcome>>> = (0..CLIENTS).map(|_| Arc::default()).collect();
        let started = Gate::new(CLIENTS + 1, Duration::from_secs(20));
        std::thread::scope(|scope| {
            for (i, outcome) in outcomes.iter().enumerate() {
                let started = &started;
                let bytes = pattern(3_000_000, 100 + i as u64);
                let pause = Duration::from_millis(60);
                let started = move || started.wait();
                scope.spawn(move || slow_client(i, balancer, bytes, pause, &started, outcome));
            }
            started.wait();
            std::thread::sleep(Duration::from_millis(800));
            nodes[0].shutdown();
        });
        let outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .map(|o| std::mem::take(&mut *o.lock().unwrap()))
            .collect();
        // Exactly the clients node 0 served failed, with 426 or 421; node 1's never noticed.
        let on_node_0 = events(&nodes[0]);
        for (i, outcome) in outcomes.iter().enumerate() {
            let peer = format!("Connected {{ peer: {}:", slow_client_ip(i));
            match &outcome.failed {
                None => assert!(!on_node_0.contains(&peer), "client {i} on node 0 went on"),
                Some(why) => {
                    assert!(
                        on_node_0.contains(&peer),
                        "client {i} on node 1 failed: {why}"
                    );
                    assert!(why.starts_with("426") || why.starts_with("421"), "{why}");
                }
            }
        }
        let failed = outcomes.iter().filter(|o| o.failed.is_some()).count();
        assert!((5..=15).contains(&failed), "{failed} failed: {outcomes:#?}");
        // Every client stored its file in the end; the folder holds exactly those files:
        // nothing of an interrupted upload, under its name or any other.
        let mut expected = files.clone();
        for outcome in &outcomes {
            expected.push(
                outcome
                    .stored
                    .clone()
                    .expect("every client stored its file"),
            );
        }
        expected.sort();
        assert_same_tree(&tree(root.path()), &expected);
        drop(nodes);
    });
}
