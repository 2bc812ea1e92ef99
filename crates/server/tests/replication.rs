//! Tessera as the replica of a real `redis-server` 7.0 master: the snapshot
//! (disk-style and diskless) brings what the master held, the stream brings
//! every later write (every type, TTLs, MULTI/EXEC, other databases, scripts
//! as their effects), and once the offsets meet, every key and DEBUG DIGEST
//! are equal. Also: -READONLY, REPLICAOF NO ONE keeping the data, a master
//! restarted (the replica reconnects and resyncs), and masters that send
//! garbage or die mid-transfer (the replica stays up and never serves half a
//! snapshot).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{eventually, info_field, Client, RealRedis, Reply, Server};

const DEBUG_ON: [&str; 2] = ["--enable-debug-command", "yes"];

fn info(c: &mut Client) -> String {
    c.cmd(&["INFO", "replication"]).as_string()
}

fn digest(c: &mut Client) -> String {
    match c.cmd(&["DEBUG", "DIGEST"]) {
        Reply::Status(hex) => hex,
        other => panic!("DEBUG DIGEST: {other:?}"),
    }
}

/// Makes the replica follow `port` and waits until its link is up.
fn follow(replica: &mut Client, port: u16) {
    assert_eq!(
        replica.cmd(&["REPLICAOF", "127.0.0.1", &port.to_string()]),
        Reply::ok()
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            info_field(&info(replica), "master_link_status").as_deref() == Some("up")
        }),
        "link never came up: {}",
        info(replica)
    );
}

/// Waits until the replica has applied everything the master streamed.
fn caught_up(master: &mut Client, replica: &mut Client) {
    assert!(
        eventually(Duration::from_secs(20), || {
            let want = info_field(&info(master), "master_repl_offset");
            let got = info_field(&info(replica), "slave_repl_offset");
            want.is_some() && want == got
        }),
        "replica never caught up: master {} replica {}",
        info(master),
        info(replica)
    );
}

/// Data of every type, with TTLs, in several databases.
fn fill(c: &mut Client, tag: &str) {
    for db in ["0", "3", "9"] {
        c.ok(&["SELECT", db]);
        for i in 0..40 {
            let k = format!("{tag}:{db}:{i}");
            c.ok(&["SET", &format!("{k}:s"), &format!("v{i}")]);
            c.cmd(&["SET", &format!("{k}:n"), &i.to_string()]);
            c.cmd(&["RPUSH", &format!("{k}:l"), "a", "b", &i.to_string()]);
            c.cmd(&["SADD", &format!("{k}:set"), "x", "y", &i.to_string()]);
            c.cmd(&["SADD", &format!("{k}:iset"), "1", "2", &i.to_string()]);
            c.cmd(&["ZADD", &format!("{k}:z"), "1.5", "a", &i.to_string(), "b"]);
            c.cmd(&["HSET", &format!("{k}:h"), "f", "v", "g", &i.to_string()]);
            c.cmd(&["SET", &format!("{k}:ttl"), "t", "EX", "1000"]);
        }
        // Big encodings too.
        let many: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
        let mut args = vec!["RPUSH".to_string(), format!("{tag}:{db}:biglist")];
        args.extend(many.iter().cloned());
        c.cmd(&args);
        let mut args = vec!["SADD".to_string(), format!("{tag}:{db}:bigset")];
        args.extend(many.iter().cloned());
        c.cmd(&args);
        let mut args = vec!["ZADD".to_string(), format!("{tag}:{db}:bigz")];
        for (i, m) in many.iter().enumerate() {
            args.push(i.to_string());
            args.push(m.clone());
        }
        c.cmd(&args);
        let mut args = vec!["HSET".to_string(), format!("{tag}:{db}:bigh")];
        for m in &many {
            args.push(m.clone());
            args.push("x".repeat(80));
        }
        c.cmd(&args);
    }
    c.ok(&["SELECT", "0"]);
}

/// Writes that reach the replica through the stream.
fn stream_writes(c: &mut Client) {
    c.ok(&["SET", "w:s", "1"]);
    c.cmd(&["EXPIRE", "w:s", "500"]);
    c.cmd(&["INCR", "w:counter"]);
    c.cmd(&["INCRBY", "w:counter", "41"]);
    c.cmd(&["LPUSH", "w:list", "a", "b", "c"]);
    c.cmd(&["SADD", "w:set", "p", "q"]);
    c.cmd(&["ZADD", "w:z", "2", "two", "1", "one"]);
    c.cmd(&["HSET", "w:h", "a", "1", "b", "2"]);
    c.cmd(&["DEL", "base:0:0:s", "base:0:1:l"]);
    c.cmd(&["SET", "w:px", "v", "PX", "900000"]);
    c.ok(&["MULTI"]);
    c.cmd(&["INCR", "w:tx"]);
    c.cmd(&["RPUSH", "w:txlist", "x"]);
    c.cmd(&["SET", "{t}a", "1"]);
    c.cmd(&["SET", "{u}b", "2"]);
    assert!(matches!(c.cmd(&["EXEC"]), Reply::Array(_)));
    c.ok(&["SELECT", "5"]);
    c.ok(&["SET", "in5", "five"]);
    c.cmd(&["HSET", "h5", "k", "v"]);
    c.ok(&["SELECT", "3"]);
    c.cmd(&["DEL", "base:3:2:z"]);
    c.ok(&["SELECT", "0"]);
    c.cmd(&[
        "EVAL",
        "redis.call('SET', KEYS[1], ARGV[1]); redis.call('LPUSH', KEYS[2], ARGV[1]); return 1",
        "2",
        "{e}1",
        "{e}2",
        "scripted",
    ]);
    c.cmd(&["MSET", "m1", "a", "m2", "b", "m3", "c"]);
    c.cmd(&["RENAME", "w:list", "w:list2"]);
    c.cmd(&["SREM", "w:set", "p"]);
    c.cmd(&["ZINCRBY", "w:z", "5", "one"]);
    c.cmd(&["PERSIST", "base:0:3:ttl"]);
}

/// A key's value as ordinary commands read it.
fn value_of(c: &mut Client, key: &str) -> Vec<String> {
    let t = match c.cmd(&["TYPE", key]) {
        Reply::Status(t) => t,
        other => panic!("TYPE: {other:?}"),
    };
    let mut v = vec![t.clone()];
    let sorted = |r: Reply| {
        let mut s = r.as_strings();
        s.sort();
        s
    };
    match t.as_str() {
        "string" => v.push(c.cmd(&["GET", key]).as_string()),
        "list" => v.extend(c.cmd(&["LRANGE", key, "0", "-1"]).as_strings()),
        "set" => v.extend(sorted(c.cmd(&["SMEMBERS", key]))),
        "zset" => v.extend(
            c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])
                .as_strings(),
        ),
        "hash" => v.extend(sorted(c.cmd(&["HGETALL", key]))),
        _ => {}
    }
    let ttl = c.cmd(&["PTTL", key]).as_int();
    v.push(if ttl > 0 { "ttl" } else { "no ttl" }.into());
    v
}

/// Every key of databases 0..16 and DEBUG DIGEST equal.
fn same_data(master: &mut Client, replica: &mut Client, threads: usize) {
    for db in 0..16 {
        let db = db.to_string();
        master.ok(&["SELECT", &db]);
        replica.ok(&["SELECT", &db]);
        let mut keys = master.cmd(&["KEYS", "*"]).as_strings();
        keys.sort();
        let mut theirs = replica.cmd(&["KEYS", "*"]).as_strings();
        theirs.sort();
        assert_eq!(theirs, keys, "keys of db {db}, --threads {threads}");
        for k in &keys {
            assert_eq!(
                value_of(replica, k),
                value_of(master, k),
                "key {k} of db {db}, --threads {threads}"
            );
        }
    }
    master.ok(&["SELECT", "0"]);
    replica.ok(&["SELECT", "0"]);
    let want = digest(master);
    assert_ne!(want, "0".repeat(40));
    assert_eq!(digest(replica), want, "DEBUG DIGEST, --threads {threads}");
}

fn follows(master_flags: &[&str], diskless_at_runtime: bool) {
    let mut flags = DEBUG_ON.to_vec();
    flags.extend_from_slice(master_flags);
    for threads in [1, 4] {
        let redis = RealRedis::start(&flags);
        let mut m = redis.client();
        if diskless_at_runtime {
            m.ok(&["CONFIG", "SET", "repl-diskless-sync", "yes"]);
            m.ok(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);
        }
        fill(&mut m, "base");
        let s = Server::start(threads);
        let mut r = s.client();
        r.ok(&["SET", "stale", "gone after the sync"]);
        follow(&mut r, redis.port);
        stream_writes(&mut m);
        caught_up(&mut m, &mut r);
        same_data(&mut m, &mut r, threads);

        // Role and shape.
        let role = r.cmd(&["ROLE"]);
        let items = role.as_array();
        assert_eq!(items[0], Reply::bulk("slave"));
        assert_eq!(items[3], Reply::bulk("connected"));
        let inf = info(&mut r);
        assert_eq!(info_field(&inf, "role").as_deref(), Some("slave"));
        assert_eq!(
            info_field(&inf, "master_replid"),
            info_field(&info(&mut m), "master_replid")
        );

        // Read-only.
        assert_eq!(
            r.err(&["SET", "x", "y"]),
            "READONLY You can't write against a read only replica."
        );
        assert_eq!(r.cmd(&["GET", "w:s"]), Reply::bulk("1"));
        // A second REPLICAOF to the same master changes nothing.
        assert_eq!(
            r.cmd(&["REPLICAOF", "127.0.0.1", &redis.port.to_string()]),
            Reply::status("OK Already connected to specified master")
        );

        // Promotion keeps the data and the master's ID as replid2.
        let old_id = info_field(&info(&mut m), "master_replid");
        r.ok(&["REPLICAOF", "NO", "ONE"]);
        let inf = info(&mut r);
        assert_eq!(info_field(&inf, "role").as_deref(), Some("master"));
        assert_eq!(info_field(&inf, "master_replid2"), old_id);
        assert_eq!(r.cmd(&["ROLE"]).as_array()[0], Reply::bulk("master"));
        r.ok(&["SET", "x", "y"]);
        assert_eq!(r.cmd(&["GET", "m2"]), Reply::bulk("b"));
        assert!(s
            .output()
            .contains("MASTER MODE enabled (user request from 'id="));
    }
}

#[test]
fn follows_a_redis_master_disk_sync() {
    follows(&["--repl-diskless-sync", "no"], false);
}

#[test]
fn follows_a_redis_master_diskless_sync() {
    follows(&[], true);
}

#[test]
fn reconnects_and_resyncs_after_the_master_restarts() {
    let flags = [
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync",
        "no",
    ];
    for threads in [1, 4] {
        let mut redis = RealRedis::start(&flags);
        let mut m = redis.client();
        fill(&mut m, "first");
        let s = Server::start(threads);
        let mut r = s.client();
        follow(&mut r, redis.port);
        caught_up(&mut m, &mut r);
        drop(m);
        redis.restart(&flags);
        let mut m = redis.client();
        fill(&mut m, "second");
        m.ok(&["SET", "after", "restart"]);
        // The replica sees the link drop, reconnects, and takes the new
        // master's data whole (the old keys are gone).
        assert!(
            eventually(Duration::from_secs(20), || r.cmd(&["GET", "after"])
                == Reply::bulk("restart")),
            "no resync: {}",
            info(&mut r)
        );
        stream_writes(&mut m);
        caught_up(&mut m, &mut r);
        same_data(&mut m, &mut r, threads);
        assert_eq!(r.cmd(&["EXISTS", "first:0:1:s"]), Reply::int(0));
    }
}

#[test]
fn masterauth_authenticates_to_the_master() {
    let redis = RealRedis::start(&["--requirepass", "sekret", "--repl-diskless-sync", "no"]);
    let mut m = redis.client();
    m.ok(&["AUTH", "sekret"]);
    m.ok(&["SET", "k", "v"]);
    let s = Server::start_with(1, &[], Some("masterauth sekret\n"));
    let mut r = s.client();
    follow(&mut r, redis.port);
    m.ok(&["SET", "k2", "v2"]);
    assert!(eventually(Duration::from_secs(10), || r
        .cmd(&["GET", "k2"])
        == Reply::bulk("v2")));
    assert_eq!(r.cmd(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn replicaof_in_the_config_file() {
    let redis = RealRedis::start(&["--repl-diskless-sync", "no"]);
    let mut m = redis.client();
    m.ok(&["SET", "k", "v"]);
    let s = Server::start_with(
        4,
        &[],
        Some(&format!("replicaof 127.0.0.1 {}\n", redis.port)),
    );
    let mut r = s.client();
    assert!(eventually(Duration::from_secs(10), || r.cmd(&["GET", "k"])
        == Reply::bulk("v")));
    assert_eq!(
        r.cmd(&["CONFIG", "GET", "replicaof"]).as_strings()[1],
        format!("127.0.0.1 {}", redis.port)
    );
}

/// A fake master: answers the handshake, then sends what `then` says.
fn fake_master(then: &'static [u8], close: bool) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        // Serve a few tries (the replica retries every second).
        for _ in 0..2 {
            let Ok((mut s, _)) = l.accept() else { return };
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            let mut answered = 0;
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
                let text = String::from_utf8_lossy(&seen).into_owned();
                if text.contains("PSYNC") {
                    break;
                }
                // Every command before PSYNC gets +OK (PING too: any
                // reply but an error will do).
                let cmds = text.split("\r\n").filter(|l| l.starts_with('*')).count();
                while answered < cmds {
                    let _ = s.write_all(b"+OK\r\n");
                    answered += 1;
                }
            }
            let _ = s.write_all(then);
            if close {
                drop(s);
            } else {
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    });
    (port, h)
}

#[test]
fn a_master_that_sends_garbage_or_dies_mid_transfer() {
    for (then, close) in [
        (&b"+FULLRESYNC 0123456789012345678901234567890123456789 0\r\n$1000\r\nREDIS0010"[..], true),
        (&b"+FULLRESYNC 0123456789012345678901234567890123456789 0\r\n$20\r\nREDIS0010garbage!!!!"[..], false),
        (&b"+WHATEVER\r\n"[..], true),
        (&b"+FULLRESYNC 0123456789012345678901234567890123456789 0\r\nnot a bulk\r\n"[..], true),
        (&b"+FULLRESYNC 0123456789012345678901234567890123456789 0\r\n$EOF:01234\r\n"[..], true),
    ] {
        let (port, h) = fake_master(then, close);
        let s = Server::start(2);
        let mut r = s.client();
        r.ok(&["SET", "mine", "1"]);
        r.ok(&["REPLICAOF", "127.0.0.1", &port.to_string()]);
        h.join().unwrap();
        // Still up and answering; never serving half a snapshot.
        assert_eq!(r.cmd(&["PING"]), Reply::status("PONG"));
        let inf = info(&mut r);
        assert_eq!(info_field(&inf, "master_link_status").as_deref(), Some("down"));
        let n = r.cmd(&["DBSIZE"]).as_int();
        assert!(n == 0 || n == 1, "dbsize {n}");
        r.ok(&["REPLICAOF", "NO", "ONE"]);
        r.ok(&["SET", "x", "1"]);
    }
}

#[test]
fn replica_serve_stale_data_no_refuses_while_the_link_is_down() {
    let s = Server::start(1);
    let mut r = s.client();
    r.ok(&["CONFIG", "SET", "replica-serve-stale-data", "no"]);
    // Nobody listens on port 1.
    r.ok(&["REPLICAOF", "127.0.0.1", "1"]);
    assert_eq!(
        r.err(&["GET", "x"]),
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
    );
    assert_eq!(r.cmd(&["PING"]), Reply::status("PONG"));
    let role = r.cmd(&["ROLE"]);
    assert_eq!(role.as_array()[0], Reply::bulk("slave"));
    assert_eq!(role.as_array()[4], Reply::int(-1));
    assert_eq!(
        r.err(&["REPLICAOF", "127.0.0.1", "x"]),
        "ERR Invalid master port"
    );
    r.ok(&["CONFIG", "SET", "replica-serve-stale-data", "yes"]);
    // A script's writes are refused on a read-only replica too.
    assert_eq!(
        r.err(&["EVAL", "return redis.pcall('SET', 'a', 'b')", "0"]),
        "READONLY You can't write against a read only replica."
    );
    r.ok(&["REPLICAOF", "NO", "ONE"]);
    assert_eq!(r.cmd(&["GET", "x"]), Reply::Nil);
}

#[test]
fn acks_and_partial_resync_after_a_cut_link() {
    let redis = RealRedis::start(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync",
        "no",
    ]);
    let mut m = redis.client();
    fill(&mut m, "base");
    let s = Server::start(4);
    let mut r = s.client();
    follow(&mut r, redis.port);
    // WAIT counts a replica once its ACK covers the write: GETACK is
    // answered with the offset applied.
    m.ok(&["SET", "acked", "1"]);
    assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Reply::int(1));
    caught_up(&mut m, &mut r);
    // The master drops the link; the replica continues where it was.
    m.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
    m.ok(&["SET", "while", "cut"]);
    stream_writes(&mut m);
    assert!(
        eventually(Duration::from_secs(20), || r.cmd(&["GET", "while"])
            == Reply::bulk("cut")),
        "never resumed: {}",
        info(&mut r)
    );
    caught_up(&mut m, &mut r);
    same_data(&mut m, &mut r, 4);
    let stats = m.cmd(&["INFO", "stats"]).as_string();
    assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("1"));
    assert!(s
        .output()
        .contains("Successful partial resynchronization with master."));
}

/// Tessera as the master: a real redis-server replica takes the snapshot
/// and the stream (every path a write takes: cross-shard commands, EXEC,
/// scripts, databases), offsets meet and the data and digests are equal;
/// WAIT counts it; a cut link continues from the backlog; ROLE and INFO
/// list it.
#[test]
fn a_redis_replica_follows_tessera() {
    if common::skip_against_redis("Tessera is the master here") {
        return;
    }
    for threads in [1, 4] {
        let s = Server::start(threads);
        let mut m = s.client();
        // Diskless (the default) at one thread, through a file at four.
        if threads == 4 {
            m.ok(&["CONFIG", "SET", "repl-diskless-sync", "no"]);
        }
        fill(&mut m, "base");
        let log = common::scratch_dir("replica-log").join("redis.log");
        let log_arg = log.display().to_string();
        let redis = RealRedis::start(&["--enable-debug-command", "yes", "--logfile", &log_arg]);
        let mut r = redis.client();
        follow(&mut r, s.port);
        stream_writes(&mut m);
        caught_up(&mut m, &mut r);
        same_data(&mut m, &mut r, threads);
        m.ok(&["SET", "acked", "1"]);
        assert_eq!(m.cmd(&["WAIT", "1", "5000"]), Reply::int(1));
        let inf = info(&mut m);
        assert_eq!(info_field(&inf, "connected_slaves").as_deref(), Some("1"));
        assert!(
            info_field(&inf, "slave0").is_some_and(|v| v.contains("state=online")),
            "{inf}"
        );
        let role = m.cmd(&["ROLE"]);
        assert_eq!(role.as_array()[0], Reply::bulk("master"));
        assert_eq!(role.as_array()[2].as_array().len(), 1);
        // The replica's link is cut: it comes back with PSYNC and the
        // backlog's bytes, no second snapshot.
        r.cmd(&["CLIENT", "KILL", "TYPE", "master"]);
        m.ok(&["SET", "while-cut", "x"]);
        m.cmd(&["MSET", "{p}1", "a", "{q}2", "b"]);
        caught_up(&mut m, &mut r);
        same_data(&mut m, &mut r, threads);
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            said.contains("Successful partial resynchronization"),
            "{said}"
        );
        let how = if threads == 4 {
            "bytes from master to disk"
        } else {
            "streamed RDB from master with EOF"
        };
        assert!(said.contains(how), "{said}");
        let stats = m.cmd(&["INFO", "stats"]).as_string();
        assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("1"));
    }
}

/// Tessera follows Tessera.
#[test]
fn a_tessera_replica_follows_a_tessera_master() {
    if common::skip_against_redis("Tessera is the master here") {
        return;
    }
    let s = Server::start(4);
    let mut m = s.client();
    fill(&mut m, "base");
    let t = Server::start(2);
    let mut r = t.client();
    follow(&mut r, s.port);
    stream_writes(&mut m);
    caught_up(&mut m, &mut r);
    same_data(&mut m, &mut r, 4);
}

/// Chained replication: a Redis master, a Tessera replica of it, and a
/// Redis and a Tessera replica of that replica. The chain carries the
/// master's stream byte for byte: every node has the master's replication
/// ID and offset, a sub-replica cut from its Tessera master continues with
/// the backlog's bytes, and one pointed at the top master continues there
/// too (PSYNC2: the same history). A full sync of a sub-replica while the
/// master writes gets a cut that is a point of the master's stream.
#[test]
fn chained_replicas_of_a_tessera_replica() {
    if common::skip_against_redis("Tessera is the middle replica here") {
        return;
    }
    for threads in [1, 4] {
        let top = RealRedis::start(&DEBUG_ON);
        let mut m = top.client();
        fill(&mut m, "base");
        let mid = Server::start(threads);
        let mut t = mid.client();
        follow(&mut t, top.port);
        let log = common::scratch_dir("chained-log").join("redis.log");
        let log_arg = log.display().to_string();
        let sub = RealRedis::start(&["--enable-debug-command", "yes", "--logfile", &log_arg]);
        let mut r = sub.client();
        let tsub = Server::start(2);
        let mut t2 = tsub.client();
        // The writes go on while the sub-replicas take their snapshots.
        let writer = {
            let port = top.port;
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                for i in 0..3000 {
                    c.cmd(&["INCR", &format!("ctr:{}", i % 37)]);
                    c.cmd(&["RPUSH", "log", &i.to_string()]);
                    if i % 100 == 0 {
                        c.ok(&["MULTI"]);
                        c.cmd(&["INCR", "tx:a"]);
                        c.cmd(&["INCR", "tx:b"]);
                        c.cmd(&["EXEC"]);
                    }
                }
            })
        };
        follow(&mut r, mid.port);
        follow(&mut t2, mid.port);
        writer.join().unwrap();
        stream_writes(&mut m);
        for c in [&mut t, &mut r, &mut t2] {
            caught_up(&mut m, c);
            assert_eq!(digest(&mut m), digest(c));
        }
        let replid = info_field(&info(&mut m), "master_replid");
        for c in [&mut t, &mut r, &mut t2] {
            assert_eq!(info_field(&info(c), "master_replid"), replid);
        }
        assert_eq!(
            info_field(&info(&mut t), "connected_slaves").as_deref(),
            Some("2")
        );
        // Links cut at each level: partial resyncs, no new snapshot.
        t.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
        m.ok(&["SET", "after-cut-1", "x"]);
        m.cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
        m.ok(&["SET", "after-cut-2", "y"]);
        for c in [&mut t, &mut r, &mut t2] {
            caught_up(&mut m, c);
            assert_eq!(digest(&mut m), digest(c));
        }
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            said.contains("Successful partial resynchronization"),
            "{said}"
        );
        let stats = t.cmd(&["INFO", "stats"]).as_string();
        assert_eq!(info_field(&stats, "sync_full").as_deref(), Some("2"));
        assert_eq!(info_field(&stats, "sync_partial_ok").as_deref(), Some("2"));
        // The Tessera sub-replica moves to the top master: same history.
        follow(&mut t2, top.port);
        m.ok(&["SET", "moved", "z"]);
        caught_up(&mut m, &mut t2);
        assert_eq!(digest(&mut m), digest(&mut t2));
        let top_stats = m.cmd(&["INFO", "stats"]).as_string();
        assert_eq!(
            info_field(&top_stats, "sync_partial_ok").as_deref(),
            Some("2"),
            "{top_stats}"
        );
    }
}

#[test]
fn a_promoted_replica_lets_the_others_continue() {
    if common::skip_against_redis("Tessera is the promoted replica here") {
        return;
    }
    for threads in [1, 4] {
        // A Redis master with a Tessera replica and a Redis replica.
        let top = RealRedis::start(&DEBUG_ON);
        let mut m = top.client();
        fill(&mut m, "base");
        let promoted = Server::start(threads);
        let mut t = promoted.client();
        follow(&mut t, top.port);
        let log = common::scratch_dir("psync2-log").join("redis.log");
        let log_arg = log.display().to_string();
        let other = RealRedis::start(&["--enable-debug-command", "yes", "--logfile", &log_arg]);
        let mut r = other.client();
        follow(&mut r, top.port);
        stream_writes(&mut m);
        caught_up(&mut m, &mut t);
        caught_up(&mut m, &mut r);
        let old_id = info_field(&info(&mut m), "master_replid");
        // The master goes away; the Tessera replica is promoted and keeps
        // the old history as its second ID.
        drop(m);
        drop(top);
        t.ok(&["REPLICAOF", "NO", "ONE"]);
        let i = info(&mut t);
        assert_eq!(info_field(&i, "master_replid2"), old_id, "{i}");
        t.ok(&["SET", "after-promotion", "1"]);
        t.cmd(&["RPUSH", "after-list", "a", "b"]);
        // The Redis replica, pointed at it, continues: no snapshot.
        follow(&mut r, promoted.port);
        caught_up(&mut t, &mut r);
        assert_eq!(digest(&mut t), digest(&mut r));
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            said.contains("Successful partial resynchronization"),
            "{said}"
        );
        // So does a Tessera replica of the promoted one, and writes go on
        // reaching both.
        let third = Server::start(2);
        let mut t3 = third.client();
        follow(&mut t3, promoted.port);
        t.ok(&["SET", "later", "2"]);
        caught_up(&mut t, &mut r);
        caught_up(&mut t, &mut t3);
        assert_eq!(digest(&mut t), digest(&mut r));
        assert_eq!(digest(&mut t), digest(&mut t3));
        let stats = t.cmd(&["INFO", "stats"]).as_string();
        assert_eq!(
            info_field(&stats, "sync_partial_ok").as_deref(),
            Some("1"),
            "{stats}"
        );
    }
}

/// Waits until `c` says `role` first in ROLE.
fn has_role(c: &mut Client, role: &str) -> bool {
    eventually(Duration::from_secs(20), || {
        c.cmd(&["ROLE"]).as_array().first() == Some(&Reply::bulk(role))
    })
}

#[test]
fn failover_switches_roles_both_ways_with_redis() {
    if common::skip_against_redis("Tessera takes both roles here") {
        return;
    }
    let a = Server::start(2);
    let mut ca = a.client();
    assert_eq!(
        ca.err(&["FAILOVER"]),
        "ERR FAILOVER requires connected replicas."
    );
    assert_eq!(
        ca.err(&["FAILOVER", "ABORT"]),
        "ERR No failover in progress."
    );
    let b = Server::start(2);
    let mut cb = b.client();
    follow(&mut cb, a.port);
    let redis = RealRedis::start(&DEBUG_ON);
    let mut cr = redis.client();
    follow(&mut cr, a.port);
    fill(&mut ca, "before");
    assert_eq!(
        cb.err(&["FAILOVER"]),
        "ERR FAILOVER is not valid when server is a replica."
    );
    assert_eq!(
        ca.err(&["FAILOVER", "TO", "127.0.0.1", "1", "TIMEOUT", "100"]),
        "ERR FAILOVER target HOST and PORT is not a replica."
    );
    assert_eq!(
        ca.err(&["FAILOVER", "TO", "127.0.0.1", &b.port.to_string(), "FORCE"]),
        "ERR FAILOVER with force option requires both a timeout and target HOST and IP."
    );
    // Tessera master to its Tessera replica.
    ca.ok(&[
        "FAILOVER",
        "TO",
        "127.0.0.1",
        &b.port.to_string(),
        "TIMEOUT",
        "5000",
    ]);
    assert!(has_role(&mut cb, "master"));
    assert!(has_role(&mut ca, "slave"));
    assert!(eventually(Duration::from_secs(10), || {
        info_field(&info(&mut ca), "master_failover_state").as_deref() == Some("no-failover")
    }));
    cb.ok(&["SET", "after-first", "1"]);
    caught_up(&mut cb, &mut ca);
    caught_up(&mut ca, &mut cr);
    assert_eq!(digest(&mut cb), digest(&mut ca));
    assert_eq!(digest(&mut cb), digest(&mut cr));
    // The Redis replica takes over from Tessera (Redis asks, Tessera's
    // replica serves), then hands back to a Tessera node (Redis sends the
    // PSYNC FAILOVER a Tessera replica answers).
    cr.ok(&["REPLICAOF", "127.0.0.1", &b.port.to_string()]);
    assert!(eventually(Duration::from_secs(20), || {
        info_field(&info(&mut cr), "master_link_status").as_deref() == Some("up")
    }));
    cb.ok(&["FAILOVER", "TO", "127.0.0.1", &redis.port.to_string()]);
    assert!(has_role(&mut cr, "master"));
    assert!(has_role(&mut cb, "slave"));
    cr.ok(&["SET", "after-second", "2"]);
    caught_up(&mut cr, &mut cb);
    cr.ok(&[
        "FAILOVER",
        "TO",
        "127.0.0.1",
        &b.port.to_string(),
        "TIMEOUT",
        "5000",
    ]);
    assert!(has_role(&mut cb, "master"));
    cb.ok(&["SET", "after-third", "3"]);
    caught_up(&mut cb, &mut cr);
    assert_eq!(digest(&mut cb), digest(&mut cr));
    assert_eq!(cr.cmd(&["GET", "after-second"]), Reply::bulk("2"));
}
