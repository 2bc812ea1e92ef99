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
