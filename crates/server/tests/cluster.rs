//! Cluster mode, as users run it: `redis-cli --cluster create`, `check`
//! and `reshard`, the `redis` crate's cluster client, a master killed with
//! SIGKILL and its replica taking over, the nodes file across a restart,
//! and clusters mixing real `redis-server` 7.0 nodes with Tessera nodes
//! (created together, slots resharded both ways, a Tessera replica of a
//! Redis master winning the election).

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, redis_cli, scratch_dir, Client, Reply, TESSERA_BIN};
use redis::cluster::ClusterClient;
use redis::Commands;

/// Node timeout in the tests: short, so failovers take seconds.
const NODE_TIMEOUT: &str = "1000";

/// A free port whose bus port (+10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        if port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

/// One cluster node: Tessera or redis-server, in its own directory.
struct Node {
    port: u16,
    redis: bool,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn tessera(threads: usize) -> Node {
        Node::start(cluster_port(), false, threads, &scratch_dir("cluster-node"))
    }

    fn redis() -> Node {
        Node::start(cluster_port(), true, 1, &scratch_dir("cluster-redis"))
    }

    fn start(port: u16, redis: bool, threads: usize, dir: &Path) -> Node {
        let p = port.to_string();
        let mut cmd = if redis {
            let mut c = Command::new("redis-server");
            c.args(["--port", &p, "--bind", "127.0.0.1", "--save", ""]);
            c.args([
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                NODE_TIMEOUT,
            ]);
            c.args(["--enable-debug-command", "yes", "--logfile", "redis.log"]);
            c
        } else {
            let conf = dir.join("node.conf");
            std::fs::write(
                &conf,
                format!(
                    "cluster-enabled yes\ncluster-node-timeout {NODE_TIMEOUT}\nlogfile node.log\n"
                ),
            )
            .expect("write config");
            let mut c = Command::new(TESSERA_BIN);
            c.args([
                "--port",
                &p,
                "--bind",
                "127.0.0.1",
                "--threads",
                &threads.to_string(),
            ]);
            c.arg("--config").arg(&conf);
            c
        };
        let child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node");
        let node = Node {
            port,
            redis,
            dir: dir.to_path_buf(),
            child: Some(child),
        };
        assert!(
            eventually(Duration::from_secs(10), || Client::try_connect(port)
                .is_ok_and(|mut c| c.cmd(&["PING"]) == Reply::status("PONG"))),
            "node on {port} did not start: {}",
            node.log()
        );
        node
    }

    fn log(&self) -> String {
        let name = if self.redis { "redis.log" } else { "node.log" };
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }

    fn id(&self) -> String {
        self.client().cmd(&["CLUSTER", "MYID"]).as_string()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// CLUSTER NODES as (id, flags, master, slots) rows.
    fn nodes(&self) -> Vec<(String, String, String, String)> {
        self.client()
            .cmd(&["CLUSTER", "NODES"])
            .as_string()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (
                    f[0].to_string(),
                    f[2].to_string(),
                    f[3].to_string(),
                    f[8..].join(" "),
                )
            })
            .collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if std::env::var_os("TESSERA_KEEP_NODES").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn cli_cluster(args: &[&str]) -> String {
    let (ok, text) = try_cli_cluster(args);
    assert!(ok, "redis-cli --cluster {args:?}: {text}");
    text
}

/// A reshard, tried again when redis-cli's check before it catches the
/// nodes between two gossip rounds (`Nodes don't agree about
/// configuration`), as a user would.
fn reshard(args: &[&str]) -> String {
    for _ in 0..5 {
        let (ok, text) = try_cli_cluster(args);
        if ok || !text.contains("Nodes don't agree about configuration") {
            assert!(ok, "redis-cli --cluster {args:?}: {text}");
            return text;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    cli_cluster(args)
}

fn try_cli_cluster(args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg("redis-cli")
        .arg("--cluster")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli --cluster");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn create(nodes: &[&Node], replicas: usize) -> String {
    let mut args: Vec<String> = vec!["create".into()];
    args.extend(nodes.iter().map(|n| n.addr()));
    args.extend([
        "--cluster-replicas".into(),
        replicas.to_string(),
        "--cluster-yes".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cli_cluster(&args);
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    wait_ok(nodes);
    out
}

/// Every node says the cluster is OK and agrees on the slots.
fn wait_ok(nodes: &[&Node]) {
    let ok = eventually(Duration::from_secs(30), || {
        nodes.iter().all(|n| {
            n.client()
                .cmd(&["CLUSTER", "INFO"])
                .as_string()
                .contains("cluster_state:ok")
        }) && {
            let out = Command::new("redis-cli")
                .args(["--cluster", "check", &nodes[0].addr()])
                .output()
                .expect("check");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("[OK] All nodes agree about slots configuration.")
                && text.contains("[OK] All 16384 slots covered.")
                && !text.contains("[WARNING]")
                && !text.contains("[ERR]")
        }
    });
    assert!(
        ok,
        "cluster not OK: {}",
        redis_cli(nodes[0].port, &["--cluster", "check", &nodes[0].addr()])
    );
}

fn cluster_client(nodes: &[&Node]) -> redis::cluster::ClusterConnection {
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("redis://{}/", n.addr()))
        .collect();
    ClusterClient::builder(urls)
        .retries(20)
        .build()
        .expect("cluster client")
        .get_connection()
        .expect("cluster connection")
}

fn fill(nodes: &[&Node], n: usize) -> HashMap<String, String> {
    let mut c = cluster_client(nodes);
    let mut want = HashMap::new();
    for i in 0..n {
        let (k, v) = (format!("key:{i}"), format!("value-{i}"));
        let _: () = c.set(&k, &v).expect("SET through the cluster client");
        want.insert(k, v);
    }
    want
}

fn check_all(nodes: &[&Node], want: &HashMap<String, String>) {
    let mut c = cluster_client(nodes);
    for (k, v) in want {
        let got: Option<String> = c.get(k).expect("GET through the cluster client");
        assert_eq!(got.as_deref(), Some(v.as_str()), "key {k}");
    }
}

/// Three masters and three replicas, all Tessera: create and check, the
/// client protocol (MOVED, CROSSSLOT, CLUSTER SLOTS/SHARDS/INFO), a
/// cluster client's reads and writes; a master killed with SIGKILL is
/// replaced by its replica, with every key, and comes back as a replica.
#[test]
fn six_tessera_nodes_form_a_cluster_and_survive_a_master_kill() {
    if common::skip_against_redis("starts its own cluster nodes") {
        return;
    }
    let mut nodes: Vec<Node> = (0..6).map(|_| Node::tessera(2)).collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    create(&refs, 1);
    let want = fill(&refs, 300);
    check_all(&refs, &want);

    // The client protocol, on one node directly.
    let mut c = nodes[0].client();
    let info = c.cmd(&["CLUSTER", "INFO"]).as_string();
    assert!(info.contains("cluster_known_nodes:6"), "{info}");
    assert!(info.contains("cluster_size:3"), "{info}");
    assert_eq!(
        c.cmd(&["MSET", "a", "1", "b", "2"]),
        Reply::err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    let slot = c.cmd(&["CLUSTER", "KEYSLOT", "somekey"]).as_int();
    let here = c.cmd(&["GET", "somekey"]);
    if let Reply::Error(e) = &here {
        assert!(e.starts_with(&format!("MOVED {slot} 127.0.0.1:")), "{e}");
    }
    assert_eq!(
        c.cmd(&["SELECT", "1"]),
        Reply::err("ERR SELECT is not allowed in cluster mode")
    );
    assert_eq!(c.cmd(&["CLUSTER", "SLOTS"]).as_array().len(), 3);
    assert_eq!(c.cmd(&["CLUSTER", "SHARDS"]).as_array().len(), 3);
    assert!(c
        .cmd(&["INFO", "cluster"])
        .as_string()
        .contains("cluster_enabled:1"));

    // Kill a master that has a replica; the replica takes its slots.
    let rows = nodes[0].nodes();
    let victim_ix = (1..6)
        .find(|&i| {
            let id = nodes[i].id();
            rows.iter().any(|r| r.0 == id && r.1.contains("master"))
        })
        .expect("another master");
    let victim = nodes[victim_ix].id();
    let replica_ix = (0..6)
        .find(|&i| {
            let id = nodes[i].id();
            rows.iter().any(|r| r.0 == id && r.2 == victim)
        })
        .expect("its replica");
    let victim_dir = nodes[victim_ix].dir.clone();
    let victim_port = nodes[victim_ix].port;
    nodes[victim_ix].kill();
    let promoted = eventually(Duration::from_secs(30), || {
        nodes[replica_ix]
            .client()
            .cmd(&["ROLE"])
            .as_array()
            .first()
            .is_some_and(|r| *r == Reply::bulk("master"))
    });
    assert!(
        promoted,
        "replica not promoted: {}",
        nodes[replica_ix].log()
    );
    let alive: Vec<&Node> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim_ix)
        .map(|(_, n)| n)
        .collect();
    assert!(
        eventually(Duration::from_secs(20), || alive.iter().all(|n| n
            .client()
            .cmd(&["CLUSTER", "INFO"])
            .as_string()
            .contains("cluster_state:ok"))),
        "cluster not OK after the failover"
    );
    check_all(&alive, &want);

    // The old master restarts from its nodes file and follows the new one.
    nodes[victim_ix] = Node::start(victim_port, false, 2, &victim_dir);
    let new_master = nodes[replica_ix].id();
    assert!(
        eventually(Duration::from_secs(20), || nodes[victim_ix]
            .nodes()
            .iter()
            .any(|r| r.1.contains("myself,slave") && r.2 == new_master)),
        "old master did not rejoin as a replica: {:?}",
        nodes[victim_ix].nodes()
    );
    assert_eq!(
        nodes[victim_ix].id(),
        victim,
        "a restart keeps the node's name"
    );
}

/// `redis-cli --cluster reshard` moves 1000 slots while a cluster client
/// keeps writing: no error reaches the client and every key holds exactly
/// the value last written.
#[test]
fn reshard_under_load_loses_no_write() {
    if common::skip_against_redis("starts its own cluster nodes") {
        return;
    }
    let nodes: Vec<Node> = (0..3).map(|_| Node::tessera(2)).collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    create(&refs, 0);
    let want = fill(&refs, 2000);
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("redis://{}/", n.addr()))
        .collect();
    let load = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut c = ClusterClient::builder(addrs)
                .retries(50)
                .build()
                .expect("client")
                .get_connection()
                .expect("connection");
            let mut counts: HashMap<String, i64> = HashMap::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let k = format!("counter:{}", i % 500);
                let n: i64 = c.incr(&k, 1).expect("INCR during the reshard");
                let e = counts.entry(k.clone()).or_insert(0);
                *e += 1;
                assert_eq!(n, *e, "INCR of {k} answered out of step");
                i += 1;
            }
            counts
        })
    };
    let from = nodes[0].id();
    let to = nodes[1].id();
    let started = Instant::now();
    let out = reshard(&[
        "reshard",
        &nodes[0].addr(),
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        "1000",
        "--cluster-yes",
    ]);
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let counts = load.join().expect("load thread");
    assert!(!out.contains("[ERR]"), "{out}");
    wait_ok(&refs);
    check_all(&refs, &want);
    let mut c = cluster_client(&refs);
    for (k, n) in &counts {
        let got: i64 = c.get(k).expect("GET counter");
        assert_eq!(got, *n, "counter {k}");
    }
    // The moved slots' keys live only on the target now.
    let moved = nodes[1].client().cmd(&["DBSIZE"]).as_int();
    assert!(moved > 600, "target holds {moved} keys");
    eprintln!("resharded 1000 slots in {took:?}");
}

/// Redis and Tessera in one cluster: `--cluster create` over both kinds
/// (a Tessera replica of a Redis master, a Redis replica of a Tessera
/// master), slots resharded Redis → Tessera and Tessera → Redis with every
/// key intact, and the Redis master killed: its Tessera replica wins the
/// election with the other masters' votes.
#[test]
fn a_cluster_of_redis_and_tessera_nodes() {
    if common::skip_against_redis("starts its own cluster nodes") {
        return;
    }
    // Three masters made by `create` (one Redis, two Tessera), then a
    // replica of each added with `add-node --cluster-slave`: a Tessera
    // replica of the Redis master, a Redis replica of a Tessera master.
    let r0 = Node::redis();
    let t1 = Node::tessera(2);
    let t2 = Node::tessera(1);
    let t3 = Node::tessera(2);
    let r4 = Node::redis();
    let t5 = Node::tessera(2);
    create(&[&r0, &t1, &t2], 0);
    for (replica, master) in [(&t3, &r0), (&r4, &t1), (&t5, &t2)] {
        let out = cli_cluster(&[
            "add-node",
            &replica.addr(),
            &r0.addr(),
            "--cluster-slave",
            "--cluster-master-id",
            &master.id(),
        ]);
        assert!(out.contains("[OK] New node added correctly."), "{out}");
    }
    let all = [&r0, &t1, &t2, &t3, &r4, &t5];
    for (replica, master) in [(&t3, &r0), (&r4, &t1), (&t5, &t2)] {
        let id = master.id();
        assert!(
            eventually(Duration::from_secs(20), || replica
                .nodes()
                .iter()
                .any(|r| r.1.contains("myself,slave") && r.2 == id)),
            "{} did not become a replica of {}",
            replica.addr(),
            master.addr()
        );
    }
    wait_ok(&all);
    let want = fill(&all, 500);
    let (redis_master, tessera_master) = (&r0, &t1);
    let cut = |from: &Node, to: &Node, slots: &str| {
        let out = reshard(&[
            "reshard",
            &from.addr(),
            "--cluster-from",
            &from.id(),
            "--cluster-to",
            &to.id(),
            "--cluster-slots",
            slots,
            "--cluster-yes",
        ]);
        assert!(!out.contains("[ERR]"), "{out}");
        wait_ok(&all);
    };
    cut(redis_master, tessera_master, "300");
    check_all(&all, &want);
    cut(tessera_master, redis_master, "300");
    check_all(&all, &want);

    // The Redis master fails: its Tessera replica is elected with the
    // votes of the two Tessera masters.
    let (failing, tessera_replica) = (&r0, &t3);
    let dead = failing.port;
    let _ = Command::new("redis-cli")
        .args(["-p", &dead.to_string(), "SHUTDOWN", "NOSAVE"])
        .output();
    let promoted = eventually(Duration::from_secs(30), || {
        tessera_replica
            .client()
            .cmd(&["ROLE"])
            .as_array()
            .first()
            .is_some_and(|r| *r == Reply::bulk("master"))
    });
    assert!(promoted, "not promoted: {}", tessera_replica.log());
    let alive: Vec<&Node> = all.iter().copied().filter(|n| n.port != dead).collect();
    assert!(eventually(Duration::from_secs(20), || alive.iter().all(
        |n| n
            .client()
            .cmd(&["CLUSTER", "INFO"])
            .as_string()
            .contains("cluster_state:ok")
    )));
    check_all(&alive, &want);
}

/// The nodes file: written at once, read back at a restart (same name,
/// same slots); a corrupt one stops the server with Redis's message.
#[test]
fn the_nodes_file_is_kept_and_checked() {
    if common::skip_against_redis("starts its own cluster nodes") {
        return;
    }
    let dir = scratch_dir("nodes-file");
    let port = cluster_port();
    let mut n = Node::start(port, false, 1, &dir);
    let id = n.id();
    assert_eq!(
        n.client().cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "99"]),
        Reply::ok()
    );
    // Slot changes reach the file from its writer thread, a moment after
    // the reply (epoch changes before it).
    let read = || std::fs::read_to_string(dir.join("nodes.conf")).unwrap_or_default();
    assert!(eventually(Duration::from_secs(5), || read().contains(" 0-99")));
    let text = read();
    assert!(
        text.contains(&format!("{id} ")) && text.contains(" 0-99"),
        "{text}"
    );
    assert!(text.contains("vars currentEpoch"), "{text}");
    n.kill();
    let mut n = Node::start(port, false, 2, &dir);
    assert_eq!(n.id(), id);
    assert!(n.nodes()[0].3.contains("0-99"));
    n.kill();
    std::fs::write(dir.join("nodes.conf"), "this is not a nodes file\n").expect("write");
    let out = Command::new(TESSERA_BIN)
        .args(["--port", &port.to_string(), "--config"])
        .arg(dir.join("node.conf"))
        .current_dir(&dir)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let said = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
        + &String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("corrupted cluster config file"), "{said}");
}

/// The CLUSTER subcommands' replies and errors on a node of its own.
#[test]
fn cluster_commands_answer_as_redis() {
    if common::skip_against_redis("starts its own cluster nodes") {
        return;
    }
    let n = Node::tessera(4);
    let mut c = n.client();
    assert_eq!(
        c.cmd(&["CLUSTER", "KEYSLOT", "{user1000}.following"]),
        Reply::int(3443)
    );
    assert_eq!(
        c.cmd(&["GET", "x"]),
        Reply::err("CLUSTERDOWN Hash slot not served")
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "ADDSLOTS", "16384"]),
        Reply::err("ERR Invalid or out of range slot")
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "ADDSLOTS", "5"]),
        Reply::err("ERR Slot 5 is already busy")
    );
    assert!(eventually(Duration::from_secs(5), || c
        .cmd(&["CLUSTER", "INFO"])
        .as_string()
        .contains("cluster_state:ok")));
    for i in 0..100 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), Reply::ok());
    }
    let slot = c.cmd(&["CLUSTER", "KEYSLOT", "k7"]).as_int().to_string();
    assert!(c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", &slot]).as_int() >= 1);
    let keys = c
        .cmd(&["CLUSTER", "GETKEYSINSLOT", &slot, "10"])
        .as_strings();
    assert!(keys.contains(&"k7".to_string()), "{keys:?}");
    assert_eq!(
        c.cmd(&["CLUSTER", "SETSLOT", &slot, "NODE", &n.id()]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "FORGET", &n.id()]),
        Reply::err("ERR I tried hard but I can't forget myself...")
    );
    assert_eq!(
        c.cmd(&["CLUSTER", "FAILOVER"]),
        Reply::err("ERR You should send CLUSTER FAILOVER to a replica")
    );
    assert_eq!(c.cmd(&["CLUSTER", "SET-CONFIG-EPOCH", "5"]), Reply::ok());
    assert_eq!(c.cmd(&["CLUSTER", "BUMPEPOCH"]), Reply::status("STILL 5"));
    assert_eq!(
        c.cmd(&["CLUSTER", "NOSUCH"]),
        Reply::err("ERR unknown subcommand 'NOSUCH'. Try CLUSTER HELP.")
    );
    assert_eq!(c.cmd(&["READONLY"]), Reply::ok());
    assert_eq!(c.cmd(&["ASKING"]), Reply::ok());
    assert_eq!(
        c.cmd(&["REPLICAOF", "127.0.0.1", "1"]),
        Reply::err("ERR REPLICAOF not allowed in cluster mode.")
    );
    // Outside cluster mode, as Redis.
    let plain = common::Server::start(1);
    let mut p = plain.client();
    let disabled = Reply::err("ERR This instance has cluster support disabled");
    assert_eq!(p.cmd(&["CLUSTER", "INFO"]), disabled);
    assert_eq!(p.cmd(&["READONLY"]), disabled);
}

/// A bus counter of CLUSTER INFO (`cluster_stats_messages_<name>`), 0
/// when absent.
fn bus_stat(n: &Node, name: &str) -> i64 {
    let info = n.client().cmd(&["CLUSTER", "INFO"]).as_string();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cluster_stats_messages_{name}:")))
        .map_or(0, |v| v.trim().parse().expect("a counter"))
}

/// A name of the form `prefix{i}` whose slot `master` serves.
fn channel_served_by(master: &Node, prefix: &str) -> String {
    let mut m = master.client();
    // The slot's master answers a GET of the name without MOVED.
    (0..10_000)
        .map(|i| format!("{prefix}{i}"))
        .find(|name| !matches!(m.cmd(&["GET", name]), Reply::Error(_)))
        .expect("a channel of the master's slots")
}

/// Sharded pub/sub over a cluster: SSUBSCRIBE and SPUBLISH follow the
/// channel's slot (MOVED elsewhere, CROSSSLOT across slots, a replica
/// serves its master's slots without READONLY); SPUBLISH reaches the
/// subscribers of its shard's master and replicas, with one PUBLISHSHARD
/// message per other node of the shard and none beyond it.
fn sharded_pubsub_in(all: &[&Node]) {
    create(all, 1);
    // Every node knows every replica as one (so a master knows whom to
    // send PUBLISHSHARD to).
    assert!(eventually(Duration::from_secs(30), || all.iter().all(
        |n| n.nodes().iter().filter(|r| r.1.contains("master")).count() == 3
    )));
    // The shards of the first two masters (in a mixed cluster, one with a
    // Redis master and one with a Tessera master).
    shard_channels_of(all, 0);
    shard_channels_of(all, 1);
}

/// [`sharded_pubsub_in`]'s checks on the shard of the `nth` master.
fn shard_channels_of(all: &[&Node], nth: usize) {
    let rows = all[0].nodes();
    let row = |n: &Node| {
        let id = n.id();
        rows.iter().find(|r| r.0 == id).cloned().expect("row")
    };
    let masters: Vec<&Node> = all
        .iter()
        .copied()
        .filter(|n| row(n).1.contains("master"))
        .collect();
    assert_eq!(masters.len(), 3);
    // One shard: a master and its replica; the others are elsewhere.
    let m = masters[nth];
    let r = all
        .iter()
        .copied()
        .find(|n| row(n).2 == row(m).0)
        .expect("the master's replica");
    let others: Vec<&Node> = all
        .iter()
        .copied()
        .filter(|n| n.port != m.port && n.port != r.port)
        .collect();
    let ch = channel_served_by(m, "news");
    let slot = all[0].client().cmd(&["CLUSTER", "KEYSLOT", &ch]).as_int();
    let elsewhere = channel_served_by(masters[(nth + 1) % 3], "other");

    let mut on_m = m.client();
    let mut on_r = r.client();
    let mut on_o = others[0].client();
    let confirm = |kind: &str, name: &str, n: i64| {
        Reply::Array(vec![Reply::bulk(kind), Reply::bulk(name), Reply::int(n)])
    };
    assert_eq!(
        on_m.cmd(&["SSUBSCRIBE", &ch]),
        confirm("ssubscribe", &ch, 1)
    );
    // A replica serves its master's slots, READONLY or not.
    assert_eq!(
        on_r.cmd(&["SSUBSCRIBE", &ch]),
        confirm("ssubscribe", &ch, 1)
    );
    assert_eq!(
        on_o.cmd(&["SSUBSCRIBE", &ch]),
        Reply::err(&format!("MOVED {slot} {}", m.addr()))
    );
    assert_eq!(
        on_o.cmd(&["SSUBSCRIBE", &ch, &elsewhere]),
        Reply::err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        on_o.cmd(&["SPUBLISH", &ch, "x"]),
        Reply::err(&format!("MOVED {slot} {}", m.addr()))
    );
    // A READONLY client of the replica: a script whose shebang does not
    // say no-writes goes to the slot's master (-MOVED); a no-writes one,
    // and one without a shebang (a read for Redis's routing, refused by
    // its write), run here.
    let mut ro = r.client();
    assert_eq!(ro.cmd(&["READONLY"]), Reply::ok());
    assert_eq!(
        ro.cmd(&["EVAL", "#!lua\nreturn redis.call('del', KEYS[1])", "1", &ch]),
        Reply::err(&format!("MOVED {slot} {}", m.addr()))
    );
    assert!(ro
        .err(&["EVAL", "return redis.call('set', KEYS[1], 'x')", "1", &ch])
        .starts_with("READONLY"));
    assert_eq!(
        ro.cmd(&[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
            "1",
            &ch
        ]),
        Reply::Nil
    );
    let mut p = m.client();
    assert_eq!(
        p.cmd(&["SSUBSCRIBE", &ch, &elsewhere]),
        Reply::err("CROSSSLOT Keys in request don't hash to the same slot")
    );
    assert_eq!(
        p.cmd(&["SUNSUBSCRIBE", &ch, &elsewhere]),
        Reply::err("CROSSSLOT Keys in request don't hash to the same slot")
    );

    let sent_before: Vec<i64> = all
        .iter()
        .map(|n| bus_stat(n, "publishshard_sent"))
        .collect();
    let got_before: Vec<i64> = all
        .iter()
        .map(|n| bus_stat(n, "publishshard_received"))
        .collect();
    // Published on the master: its subscriber and the replica's hear it;
    // the reply counts this node's subscribers only.
    assert_eq!(p.cmd(&["SPUBLISH", &ch, "from-master"]), Reply::int(1));
    let smessage = |payload: &str| Reply::bulks(&["smessage", &ch, payload]);
    assert_eq!(on_m.read_reply(), smessage("from-master"));
    assert_eq!(on_r.read_reply(), smessage("from-master"));
    // Published on the replica: back to the master.
    let mut pr = r.client();
    assert_eq!(pr.cmd(&["SPUBLISH", &ch, "from-replica"]), Reply::int(1));
    assert_eq!(on_r.read_reply(), smessage("from-replica"));
    assert_eq!(on_m.read_reply(), smessage("from-replica"));
    assert_eq!(
        p.cmd(&["PUBSUB", "SHARDNUMSUB", &ch]),
        Reply::Array(vec![Reply::bulk(&ch), Reply::int(1)])
    );
    // One PUBLISHSHARD each way within the shard, none to other shards.
    let ix = |n: &Node| all.iter().position(|x| x.port == n.port).expect("node");
    assert!(eventually(Duration::from_secs(5), || {
        bus_stat(m, "publishshard_received") == got_before[ix(m)] + 1
            && bus_stat(r, "publishshard_received") == got_before[ix(r)] + 1
    }));
    assert_eq!(bus_stat(m, "publishshard_sent"), sent_before[ix(m)] + 1);
    assert_eq!(bus_stat(r, "publishshard_sent"), sent_before[ix(r)] + 1);
    for o in &others {
        assert_eq!(
            bus_stat(o, "publishshard_received"),
            got_before[ix(o)],
            "node {}",
            o.port
        );
    }
    // A plain PUBLISH still reaches every node (and no shard subscriber).
    assert_eq!(p.cmd(&["PUBLISH", &ch, "plain"]), Reply::int(0));
    assert_eq!(on_m.cmd(&["SUNSUBSCRIBE"]), confirm("sunsubscribe", &ch, 0));
}

#[test]
fn sharded_pubsub_follows_the_slots() {
    if common::against_redis() {
        // The same assertions over six redis-server nodes.
        let nodes: Vec<Node> = (0..6).map(|_| Node::redis()).collect();
        let refs: Vec<&Node> = nodes.iter().collect();
        sharded_pubsub_in(&refs);
        return;
    }
    // Redis and Tessera nodes mixed: create makes r0, t1 and t2 masters,
    // t3 follows r0 and r4 follows t1, so PUBLISHSHARD crosses between
    // the two servers both ways.
    let r0 = Node::redis();
    let t1 = Node::tessera(2);
    let t2 = Node::tessera(1);
    let t3 = Node::tessera(2);
    let r4 = Node::redis();
    let t5 = Node::tessera(2);
    let all = [&r0, &t1, &t2, &t3, &r4, &t5];
    sharded_pubsub_in(&all);
}
