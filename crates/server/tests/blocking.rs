//! Blocking pops across shards: timeouts, wake-ups by any kind of creation, the
//! longest-waiting client first, exactly-once delivery under concurrent
//! producers and consumers, MULTI (no blocking), and clients that leave.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use common::{eventually, for_threads, info_field, Client, Reply, Server};

fn blocked(s: &Server) -> i64 {
    let info = s.client().cmd(&["INFO", "clients"]).as_string();
    info_field(&info, "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn wait_blocked(s: &Server, n: i64) {
    assert!(
        eventually(Duration::from_secs(5), || blocked(s) == n),
        "expected {n} blocked clients, saw {}",
        blocked(s)
    );
}

#[test]
fn timeouts_and_errors() {
    for_threads(|s| {
        let mut c = s.client();
        let t = Instant::now();
        assert_eq!(c.cmd(&["BLPOP", "nolist", "0.2"]), Reply::NilArray);
        assert!(t.elapsed() >= Duration::from_millis(190));
        assert_eq!(
            c.cmd(&["BRPOPLPUSH", "nolist", "dst", "0.1"]),
            Reply::NilArray
        );
        assert_eq!(c.cmd(&["BZPOPMIN", "nozset", "0.1"]), Reply::NilArray);
        assert_eq!(c.err(&["BLPOP", "l", "-1"]), "ERR timeout is negative");
        assert_eq!(
            c.err(&["BLPOP", "l", "abc"]),
            "ERR timeout is not a float or out of range"
        );
        c.ok(&["SET", "str", "x"]);
        assert_eq!(
            c.err(&["BLPOP", "str", "0"]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        // Served at once when there is something.
        c.int(&["RPUSH", "l", "a", "b"]);
        assert_eq!(
            c.cmd(&["BLPOP", "nolist", "l", "0"]).as_strings(),
            ["l", "a"]
        );
        assert_eq!(c.cmd(&["BRPOP", "l", "0"]).as_strings(), ["l", "b"]);
        assert_eq!(c.int(&["EXISTS", "l"]), 0);
        // Inside MULTI nothing blocks.
        c.ok(&["MULTI"]);
        c.cmd(&["BLPOP", "nolist", "0"]);
        c.cmd(&["BRPOPLPUSH", "nolist", "dst", "0"]);
        assert_eq!(
            c.cmd(&["EXEC"]),
            Reply::Array(vec![Reply::NilArray, Reply::Nil])
        );
    });
}

#[test]
fn wakeups_from_any_shard_and_any_creation() {
    for_threads(|s| {
        let port = s.port;
        // BLPOP over keys that live on different shards at --threads 4.
        let h = thread::spawn(move || Client::connect(port).cmd(&["BLPOP", "k1", "k2", "k3", "5"]));
        wait_blocked(s, 1);
        let mut c = s.client();
        c.int(&["RPUSH", "k3", "x", "y"]);
        assert_eq!(h.join().unwrap().as_strings(), ["k3", "x"]);
        assert_eq!(c.cmd(&["LRANGE", "k3", "0", "-1"]).as_strings(), ["y"]);
        // RENAME into place wakes a waiter.
        let h = thread::spawn(move || Client::connect(port).cmd(&["BRPOP", "target", "5"]));
        wait_blocked(s, 1);
        c.int(&["RPUSH", "other", "v"]);
        c.ok(&["RENAME", "other", "target"]);
        assert_eq!(h.join().unwrap().as_strings(), ["target", "v"]);
        // LPUSH then DEL inside MULTI serves nobody.
        let h = thread::spawn(move || Client::connect(port).cmd(&["BLPOP", "q", "5"]));
        wait_blocked(s, 1);
        c.ok(&["MULTI"]);
        c.cmd(&["LPUSH", "q", "gone"]);
        c.cmd(&["DEL", "q"]);
        c.cmd(&["EXEC"]);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(blocked(s), 1);
        c.int(&["LPUSH", "q", "later"]);
        assert_eq!(h.join().unwrap().as_strings(), ["q", "later"]);
        // BLMOVE onto a list on another shard; BZPOPMAX from a sorted set.
        let h = thread::spawn(move || {
            Client::connect(port).cmd(&["BLMOVE", "from", "to", "RIGHT", "LEFT", "5"])
        });
        wait_blocked(s, 1);
        c.int(&["RPUSH", "from", "m"]);
        assert_eq!(h.join().unwrap(), Reply::bulk("m"));
        assert!(eventually(Duration::from_secs(2), || {
            s.client().cmd(&["LRANGE", "to", "0", "-1"]).as_strings() == ["m"]
        }));
        let h = thread::spawn(move || Client::connect(port).cmd(&["BZPOPMAX", "zs", "5"]));
        wait_blocked(s, 1);
        c.int(&["ZADD", "zs", "1", "a", "2", "b"]);
        assert_eq!(h.join().unwrap().as_strings(), ["zs", "b", "2"]);
    });
}

#[test]
fn longest_waiting_client_first() {
    for_threads(|s| {
        let port = s.port;
        let mut handles = Vec::new();
        for i in 0..3 {
            handles.push(thread::spawn(move || {
                Client::connect(port).cmd(&["BLPOP", "fifo", "5"])
            }));
            wait_blocked(s, i + 1);
        }
        let mut c = s.client();
        c.int(&["RPUSH", "fifo", "1", "2", "3"]);
        let got: Vec<String> = handles
            .into_iter()
            .map(|h| h.join().unwrap().as_strings()[1].clone())
            .collect();
        assert_eq!(got, ["1", "2", "3"]);
    });
}

#[test]
fn a_client_that_leaves_leaves_no_trace() {
    for_threads(|s| {
        let mut gone = s.client();
        gone.send(&common::encode(&["BLPOP", "lonely", "0"]));
        wait_blocked(s, 1);
        drop(gone);
        wait_blocked(s, 0);
        let mut c = s.client();
        c.int(&["RPUSH", "lonely", "kept"]);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            c.cmd(&["LRANGE", "lonely", "0", "-1"]).as_strings(),
            ["kept"]
        );
    });
}

#[test]
fn every_element_delivered_exactly_once() {
    let s = Server::start(4);
    let port = s.port;
    const PRODUCERS: usize = 3;
    const EACH: usize = 300;
    let keys = ["jobs-a", "jobs-b", "jobs-c"];
    let consumers: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut got = Vec::new();
                loop {
                    let r = c.cmd(&["BLPOP", keys[0], keys[1], keys[2], "1"]);
                    match r {
                        Reply::NilArray => return got,
                        r => got.push(r.as_strings()[1].clone()),
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            thread::spawn(move || {
                let mut c = Client::connect(port);
                for i in 0..EACH {
                    c.int(&["RPUSH", keys[i % 3], &format!("{p}-{i}")]);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all = Vec::new();
    for c in consumers {
        all.extend(c.join().unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "an element was delivered twice");
    assert_eq!(all.len(), PRODUCERS * EACH, "elements were lost");
}

#[test]
fn client_unblock() {
    for_threads(|s| {
        let mut blocked_client = s.client();
        let id = blocked_client.int(&["CLIENT", "ID"]);
        blocked_client.send(&common::encode(&["BLPOP", "never", "0"]));
        wait_blocked(s, 1);
        let mut c = s.client();
        assert_eq!(c.int(&["CLIENT", "UNBLOCK", &id.to_string(), "ERROR"]), 1);
        assert_eq!(
            blocked_client.read_reply(),
            Reply::err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        );
        blocked_client.send(&common::encode(&["BRPOP", "never", "0"]));
        wait_blocked(s, 1);
        assert_eq!(c.int(&["CLIENT", "UNBLOCK", &id.to_string()]), 1);
        assert_eq!(blocked_client.read_reply(), Reply::NilArray);
        assert_eq!(c.int(&["CLIENT", "UNBLOCK", &id.to_string()]), 0);
        assert_eq!(c.int(&["CLIENT", "UNBLOCK", "424242"]), 0);
        // Every kind of blocking pop: TIMEOUT gives its timeout reply,
        // ERROR the UNBLOCKED error; the key is left as it was.
        let blocking: [&[&str]; 4] = [
            &["BLMOVE", "never", "dst", "LEFT", "RIGHT", "0"],
            &["BZPOPMIN", "never", "0"],
            &["BLMPOP", "0", "1", "never", "LEFT"],
            &["BRPOPLPUSH", "never", "dst", "0"],
        ];
        for cmd in blocking {
            // A blocking pop's timeout reply is a null array in RESP2,
            // BLMOVE's and BRPOPLPUSH's too.
            for (reason, want) in [
                ("TIMEOUT", Reply::NilArray),
                (
                    "error",
                    Reply::err("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
                ),
            ] {
                blocked_client.send(&common::encode(cmd));
                wait_blocked(s, 1);
                assert_eq!(c.int(&["CLIENT", "UNBLOCK", &id.to_string(), reason]), 1);
                assert_eq!(blocked_client.read_reply(), want, "{cmd:?} {reason}");
                wait_blocked(s, 0);
            }
        }
        assert_eq!(c.int(&["EXISTS", "dst"]), 0);
        // A client that is not blocked, and Redis's errors.
        assert_eq!(c.int(&["CLIENT", "UNBLOCK", &id.to_string(), "ERROR"]), 0);
        assert_eq!(c.int(&["CLIENT", "UNBLOCK", "-5"]), 0);
        assert_eq!(
            c.err(&["CLIENT", "UNBLOCK", "abc"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            c.err(&["CLIENT", "UNBLOCK", "1", "foo"]),
            "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
        );
        assert_eq!(
            c.err(&["CLIENT", "UNBLOCK"]),
            "ERR wrong number of arguments for 'client|unblock' command"
        );
        assert_eq!(
            c.err(&["CLIENT", "UNBLOCK", "1", "TIMEOUT", "x"]),
            "ERR unknown subcommand or wrong number of arguments for 'UNBLOCK'. Try CLIENT HELP."
        );
        // The unblocked client goes on as before.
        assert_eq!(blocked_client.cmd(&["PING"]), Reply::status("PONG"));
    });
}
