//! Atomicity across shards: multi-key commands, MULTI/EXEC/WATCH. Concurrent
//! clients check invariants (no torn MSET, conserved totals), not just replies.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{for_threads, Reply, Server};

/// Keys with no hash tag: at --threads 4 they live on different shards.
const KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn run_for(d: Duration, f: impl Fn() + Send + Sync + 'static) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let end = Instant::now() + d;
        while Instant::now() < end {
            f();
        }
    })
}

#[test]
fn concurrent_mset_mget_never_torn() {
    let s = Server::start(4);
    let port = s.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut c = common::Client::connect(port);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let v = format!("{w}-{i}");
                    let mut args = vec!["MSET".to_string()];
                    for k in KEYS {
                        args.push(k.into());
                        args.push(v.clone());
                    }
                    assert_eq!(c.cmd(&args), Reply::ok());
                }
            })
        })
        .collect();
    let mut c = s.client();
    let end = Instant::now() + Duration::from_secs(2);
    let mut reads = 0;
    while Instant::now() < end {
        let mut args = vec!["MGET"];
        args.extend(KEYS);
        let r = c.cmd(&args);
        let vals = r.as_array();
        assert!(
            vals.iter().all(|v| *v == vals[0]),
            "torn MSET seen by MGET: {vals:?}"
        );
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(reads > 100, "only {reads} reads");
}

#[test]
fn rename_between_shards_is_never_half_done() {
    let s = Server::start(4);
    let port = s.port;
    let mut c = s.client();
    c.ok(&["SET", "x", "1"]);
    // One client renames back and forth; another must always see exactly one key.
    let mover = run_for(Duration::from_secs(2), move || {
        let mut c = common::Client::connect(port);
        for _ in 0..50 {
            let r = c.cmd(&["RENAME", "x", "y"]);
            assert!(
                r == Reply::ok() || r == Reply::err("ERR no such key"),
                "{r:?}"
            );
            let r = c.cmd(&["RENAME", "y", "x"]);
            assert!(
                r == Reply::ok() || r == Reply::err("ERR no such key"),
                "{r:?}"
            );
        }
    });
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        assert_eq!(c.int(&["EXISTS", "x", "y"]), 1);
    }
    mover.join().unwrap();
}

#[test]
fn multi_key_commands_across_shards_answer_like_redis() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["MSET", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(c.cmd(&["MGET", "a", "b", "c", "zz"]).as_array().len(), 4);
        assert_eq!(c.int(&["MSETNX", "zz", "1", "a", "9"]), 0);
        assert_eq!(c.int(&["EXISTS", "zz"]), 0);
        assert_eq!(c.int(&["DEL", "a", "b", "zz"]), 2);
        assert_eq!(c.int(&["EXISTS", "a", "b", "c"]), 1);
    });
}

#[test]
fn multi_exec_discard_and_errors() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.err(&["EXEC"]), "ERR EXEC without MULTI");
        assert_eq!(c.err(&["DISCARD"]), "ERR DISCARD without MULTI");
        c.ok(&["MULTI"]);
        assert_eq!(c.err(&["MULTI"]), "ERR MULTI calls can not be nested");
        assert_eq!(
            c.err(&["WATCH", "x"]),
            "ERR WATCH inside MULTI is not allowed"
        );
        assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["INCR", "b"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["LPUSH", "a", "x"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["PING"]), Reply::status("QUEUED"));
        let r = c.cmd(&["EXEC"]);
        assert_eq!(
            r,
            Reply::Array(vec![
                Reply::ok(),
                Reply::int(1),
                Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value"),
                Reply::status("PONG"),
            ])
        );
        // A queue-time error aborts the whole transaction.
        c.ok(&["MULTI"]);
        c.cmd(&["SET", "c", "1"]);
        assert!(c.err(&["NOSUCHCMD"]).starts_with("ERR unknown command"));
        assert!(c.err(&["GET"]).starts_with("ERR wrong number of arguments"));
        assert_eq!(
            c.err(&["EXEC"]),
            "EXECABORT Transaction discarded because of previous errors."
        );
        assert_eq!(c.int(&["EXISTS", "c"]), 0);
        c.ok(&["MULTI"]);
        c.cmd(&["SET", "c", "1"]);
        c.ok(&["DISCARD"]);
        assert_eq!(c.int(&["EXISTS", "c"]), 0);
        // An empty transaction.
        c.ok(&["MULTI"]);
        assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![]));
    });
}

#[test]
fn watch_fails_exec_on_any_change() {
    for_threads(|s| {
        let mut c = s.client();
        let mut other = s.client();
        c.ok(&["SET", "w", "1"]);
        c.ok(&["WATCH", "w", "other-shard-key"]);
        other.ok(&["SET", "w", "2"]);
        c.ok(&["MULTI"]);
        c.cmd(&["SET", "w", "3"]);
        assert_eq!(c.cmd(&["EXEC"]), Reply::NilArray);
        assert_eq!(c.cmd(&["GET", "w"]), Reply::bulk("2"));
        // Unchanged: EXEC runs; then the key is no longer watched.
        c.ok(&["WATCH", "w"]);
        c.ok(&["MULTI"]);
        c.cmd(&["SET", "w", "4"]);
        assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::ok()]));
        // FLUSHALL and expiry count as changes; UNWATCH forgets.
        c.ok(&["WATCH", "w"]);
        other.ok(&["FLUSHALL"]);
        c.ok(&["MULTI"]);
        c.cmd(&["PING"]);
        assert_eq!(c.cmd(&["EXEC"]), Reply::NilArray);
        c.ok(&["SET", "w", "1", "PX", "50"]);
        c.ok(&["WATCH", "w"]);
        std::thread::sleep(Duration::from_millis(100));
        c.ok(&["MULTI"]);
        c.cmd(&["PING"]);
        assert_eq!(c.cmd(&["EXEC"]), Reply::NilArray);
        c.ok(&["WATCH", "w"]);
        other.ok(&["SET", "w", "9"]);
        c.ok(&["UNWATCH"]);
        c.ok(&["MULTI"]);
        c.cmd(&["PING"]);
        assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::status("PONG")]));
    });
}

#[test]
fn watch_based_increments_are_exact() {
    let s = Server::start(4);
    let port = s.port;
    const CLIENTS: usize = 4;
    const EACH: usize = 50;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let mut c = common::Client::connect(port);
                let mut done = 0;
                while done < EACH {
                    // Two counters on different shards, moved together.
                    c.ok(&["WATCH", "ctr-a", "ctr-b"]);
                    let a: i64 = match c.cmd(&["GET", "ctr-a"]) {
                        Reply::Bulk(b) => String::from_utf8(b).unwrap().parse().unwrap(),
                        _ => 0,
                    };
                    c.ok(&["MULTI"]);
                    c.cmd(&["SET", "ctr-a", &(a + 1).to_string()]);
                    c.cmd(&["DECR", "ctr-b"]);
                    if c.cmd(&["EXEC"]) != Reply::NilArray {
                        done += 1;
                    }
                }
            })
        })
        .collect();
    let mut c = s.client();
    for w in workers {
        w.join().unwrap();
    }
    let total = (CLIENTS * EACH) as i64;
    assert_eq!(c.cmd(&["GET", "ctr-a"]), Reply::bulk(total.to_string()));
    assert_eq!(c.cmd(&["GET", "ctr-b"]), Reply::bulk((-total).to_string()));
}

#[test]
fn exec_across_shards_is_atomic() {
    let s = Server::start(4);
    let port = s.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut c = common::Client::connect(port);
            while !stop.load(Ordering::Relaxed) {
                c.ok(&["MULTI"]);
                for k in KEYS {
                    c.cmd(&["INCR", k]);
                }
                assert_eq!(c.cmd(&["EXEC"]).as_array().len(), KEYS.len());
            }
        })
    };
    let mut c = s.client();
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        c.ok(&["MULTI"]);
        for k in KEYS {
            c.cmd(&["GET", k]);
        }
        let r = c.cmd(&["EXEC"]);
        let vals = r.as_array();
        assert!(
            vals.iter().all(|v| *v == vals[0]),
            "EXEC seen half-done: {vals:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn smove_and_rpoplpush_across_shards_conserve_members() {
    let s = Server::start(4);
    let port = s.port;
    let mut c = s.client();
    let sets = ["set-a", "set-b", "set-c", "set-d"];
    let lists = ["ring-a", "ring-b", "ring-c"];
    for i in 0..40 {
        c.int(&["SADD", sets[i % 4], &format!("m{i}")]);
        c.int(&["RPUSH", lists[i % 3], &format!("e{i}")]);
    }
    let movers: Vec<_> = (0..3)
        .map(|t| {
            run_for(Duration::from_secs(2), move || {
                let mut c = common::Client::connect(port);
                for i in 0..20 {
                    let m = format!("m{}", (i * 7 + t) % 40);
                    let r = c.cmd(&["SMOVE", sets[(i + t) % 4], sets[(i + t + 1) % 4], &m]);
                    assert!(matches!(r, Reply::Int(0 | 1)), "{r:?}");
                    let r = c.cmd(&["RPOPLPUSH", lists[(i + t) % 3], lists[(i + t + 1) % 3]]);
                    assert!(matches!(r, Reply::Bulk(_) | Reply::Nil), "{r:?}");
                }
            })
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        c.ok(&["MULTI"]);
        for k in sets {
            c.cmd(&["SCARD", k]);
        }
        for k in lists {
            c.cmd(&["LLEN", k]);
        }
        let r = c.cmd(&["EXEC"]);
        let n: Vec<i64> = r.as_array().iter().map(Reply::as_int).collect();
        assert_eq!(
            n[..4].iter().sum::<i64>(),
            40,
            "set members not conserved: {n:?}"
        );
        assert_eq!(
            n[4..].iter().sum::<i64>(),
            40,
            "list elements not conserved: {n:?}"
        );
    }
    for m in movers {
        m.join().unwrap();
    }
    let mut all = Vec::new();
    for k in sets {
        all.extend(c.cmd(&["SMEMBERS", k]).as_strings());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40);
}

#[test]
fn set_and_sorted_set_algebra_across_shards() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["SADD", "sa", "1", "2", "3"]);
        c.int(&["SADD", "sb", "2", "3", "4"]);
        assert_eq!(c.int(&["SINTERSTORE", "sdst", "sa", "sb"]), 2);
        let mut m = c.cmd(&["SMEMBERS", "sdst"]).as_strings();
        m.sort();
        assert_eq!(m, ["2", "3"]);
        assert_eq!(c.int(&["SINTERCARD", "2", "sa", "sb"]), 2);
        c.int(&["ZADD", "za", "1", "x", "2", "y"]);
        assert_eq!(
            c.int(&["ZUNIONSTORE", "zdst", "2", "za", "sa", "WEIGHTS", "2", "1"]),
            5
        );
        assert_eq!(c.cmd(&["ZSCORE", "zdst", "y"]), Reply::bulk("4"));
        c.ok(&["SET", "ba", "ab"]);
        c.ok(&["SET", "bb", "  "]);
        assert_eq!(c.int(&["BITOP", "OR", "bdst", "ba", "bb"]), 2);
        assert_eq!(c.cmd(&["GET", "bdst"]), Reply::bulk("ab"));
        c.int(&["RPUSH", "la", "1", "2"]);
        assert_eq!(
            c.cmd(&["LMOVE", "la", "lb", "LEFT", "RIGHT"]),
            Reply::bulk("1")
        );
        assert_eq!(c.cmd(&["LRANGE", "lb", "0", "-1"]).as_strings(), ["1"]);
    });
}

/// A pipeline of transactions in one write (what `redis-cli --pipe` and
/// batching clients send): every reply in its place, runtime errors per
/// command, queue-time errors abort only their own EXEC, and commands
/// between the transactions see their effects.
#[test]
fn pipelined_transactions_answer_in_order() {
    for_threads(|s| {
        let mut c = s.client();
        let mut p = Vec::new();
        let cmds: &[&[&str]] = &[
            &["MULTI"],
            &["SET", "a", "1"],
            &["INCR", "a"],
            &["SET", "b", "x"],
            &["EXEC"],
            &["MULTI"],
            &["GET", "a"],
            &["INCR", "b"],
            &["RPUSH", "c", "1", "2"],
            &["EXEC"],
            &["GET", "a"],
            &["MULTI"],
            &["NOSUCHCOMMAND"],
            &["SET", "a", "lost"],
            &["EXEC"],
            &["MULTI"],
            &["LLEN", "c"],
            &["SET", "d", "4"],
            &["EXEC"],
            &["MULTI"],
            &["DEL", "a"],
            &["EXEC"],
            &["MGET", "a", "b", "d"],
        ];
        for cmd in cmds {
            p.extend(common::encode(cmd));
        }
        c.send(&p);
        let want = vec![
            Reply::ok(),
            Reply::status("QUEUED"),
            Reply::status("QUEUED"),
            Reply::status("QUEUED"),
            Reply::Array(vec![Reply::ok(), Reply::Int(2), Reply::ok()]),
            Reply::ok(),
            Reply::status("QUEUED"),
            Reply::status("QUEUED"),
            Reply::status("QUEUED"),
            Reply::Array(vec![
                Reply::bulk("2"),
                Reply::err("ERR value is not an integer or out of range"),
                Reply::Int(2),
            ]),
            Reply::bulk("2"),
            Reply::ok(),
            Reply::err("ERR unknown command 'NOSUCHCOMMAND', with args beginning with: "),
            Reply::status("QUEUED"),
            Reply::err("EXECABORT Transaction discarded because of previous errors."),
            Reply::ok(),
            Reply::status("QUEUED"),
            Reply::status("QUEUED"),
            Reply::Array(vec![Reply::Int(2), Reply::ok()]),
            Reply::ok(),
            Reply::status("QUEUED"),
            Reply::Array(vec![Reply::Int(1)]),
            Reply::Array(vec![Reply::Nil, Reply::bulk("x"), Reply::bulk("4")]),
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(&c.read_reply(), w, "reply {i} to {:?}", cmds[i]);
        }
    });
}

/// Pipelined transactions (run together) stay atomic to other clients.
#[test]
fn pipelined_exec_across_shards_is_atomic() {
    let s = Server::start(4);
    let port = s.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut c = common::Client::connect(port);
            let mut p = Vec::new();
            for _ in 0..50 {
                p.extend(common::encode(&["MULTI"]));
                for k in KEYS {
                    p.extend(common::encode(&["INCR", k]));
                }
                p.extend(common::encode(&["EXEC"]));
            }
            while !stop.load(Ordering::Relaxed) {
                c.send(&p);
                for _ in 0..50 {
                    assert_eq!(c.read_reply(), Reply::ok());
                    for _ in KEYS {
                        assert_eq!(c.read_reply(), Reply::status("QUEUED"));
                    }
                    assert_eq!(c.read_reply().as_array().len(), KEYS.len());
                }
            }
        })
    };
    let mut c = s.client();
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        let r = c.cmd(&["MGET", "a", "b", "c", "d", "e", "f"]);
        let vals = r.as_array();
        assert!(vals.iter().all(|v| *v == vals[0]), "torn: {vals:?}");
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = c.cmd(&["GET", "a"]).as_string().parse::<u64>().unwrap();
    assert_eq!(total % 50, 0, "whole pipelines of 50 transactions: {total}");
}

/// Redis Cluster's key slot (CRC16/XMODEM of the key), as the server
/// computes it; keys here have no hash tags.
fn slot(key: &str) -> u16 {
    let mut crc: u16 = 0;
    for &b in key.as_bytes() {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// A key named `prefix<n>` that lives on `shard` of `threads`.
fn key_on(prefix: &str, shard: usize, threads: usize) -> String {
    (0..)
        .map(|n| format!("{prefix}{n}"))
        .find(|k| usize::from(slot(k)) % threads == shard)
        .unwrap()
}

/// MSETs whose keys span shards 0, 1 and 3, read by MGETs that skip
/// shard 1 (0 and 3), start on it (1 and 3) or end on it (0 and 1): no
/// read ever sees part of a write, however the transactions' paths differ.
#[test]
fn reads_never_see_part_of_a_write_whatever_shards_they_skip() {
    let s = Server::start(4);
    let (k0, k1, k3) = (key_on("x", 0, 4), key_on("x", 1, 4), key_on("x", 3, 4));
    let port = s.port;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let stop = Arc::clone(&stop);
            let (k0, k1, k3) = (k0.clone(), k1.clone(), k3.clone());
            thread::spawn(move || {
                let mut c = common::Client::connect(port);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let v = format!("{w}-{n}");
                    c.ok(&["MSET", &k0, &v, &k1, &v, &k3, &v]);
                }
            })
        })
        .collect();
    let readers: Vec<_> = [
        (k0.clone(), k3.clone()),
        (k1.clone(), k3.clone()),
        (k0.clone(), k1.clone()),
    ]
    .into_iter()
    .map(|(a, b)| {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut c = common::Client::connect(port);
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = c.cmd(&["MGET", &a, &b]);
                let v = r.as_array();
                assert_eq!(v[0], v[1], "MGET {a} {b} saw part of an MSET");
                reads += 1;
            }
            reads
        })
    })
    .collect();
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    for r in readers {
        assert!(r.join().unwrap() > 100);
    }
}

/// Server commands that ask every shard (INFO, CONFIG RESETSTAT, CONFIG SET of a shard
/// setting, PUBLISH, PUBSUB) run inside EXEC, whose transaction holds the shards: they
/// must go through it, not wait behind it (INFO and CONFIG once waited forever, and the
/// held shards stalled every later transaction).
#[test]
fn server_commands_inside_exec_answer() {
    for_threads(|s| {
        let mut c = s.client();
        c.set_timeout(Duration::from_secs(10));
        for cmd in [
            &["INFO", "stats"][..],
            &["CONFIG", "RESETSTAT"],
            &["CONFIG", "SET", "proto-max-bulk-len", "536870912"],
            &["PUBLISH", "ch", "x"],
            &["PUBSUB", "NUMPAT"],
            &["DBSIZE"],
        ] {
            c.ok(&["MULTI"]);
            assert_eq!(c.cmd(&["RPUSH", "l", "a"]), Reply::status("QUEUED"));
            assert_eq!(c.cmd(cmd), Reply::status("QUEUED"));
            let r = c.cmd(&["EXEC"]);
            assert_eq!(r.as_array().len(), 2, "{cmd:?}: {r:?}");
        }
        // And the server goes on: a transaction over every shard still runs.
        c.ok(&["MULTI"]);
        c.cmd(&["FLUSHALL"]);
        assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::ok()]));
    });
}
