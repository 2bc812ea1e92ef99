//! PFADD, PFCOUNT, PFMERGE, PFDEBUG and PFSELFTEST against the real server:
//! the replies Redis 7.0 gives, keys spread over shards (`--threads 4`),
//! values byte for byte equal to what a real `redis-server` builds from the
//! same commands, DUMP/RESTORE both ways with it, and PFCOUNT's stored
//! cardinality surviving an AOF restart.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::time::Duration;

use common::{for_threads, scratch_dir, skip_against_redis, Client, RealRedis, Reply, Server};

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

fn get(c: &mut Client, key: &str) -> Vec<u8> {
    c.cmd(&["GET", key]).as_bytes().to_vec()
}

#[test]
fn add_and_count_as_redis() {
    for_threads(|s| {
        let mut c = s.client();
        // A bare PFADD creates an empty HLL: sparse, 18 bytes, stale cache.
        assert_eq!(c.int(&["PFADD", "hll"]), 1);
        assert_eq!(c.int(&["EXISTS", "hll"]), 1);
        assert_eq!(c.cmd(&["TYPE", "hll"]), Reply::status("string"));
        assert_eq!(
            get(&mut c, "hll"),
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff"
        );
        assert_eq!(c.int(&["PFCOUNT", "hll"]), 0);
        assert_eq!(c.int(&["PFADD", "hll", "a", "b", "c"]), 1);
        assert_eq!(c.int(&["PFADD", "hll", "a", "b", "c"]), 0);
        assert_eq!(c.int(&["PFADD", "hll", ""]), 1);
        assert_eq!(c.int(&["PFCOUNT", "nosuch"]), 0);

        c.int(&["DEL", "hll"]);
        c.int(&["PFADD", "hll", "1", "2", "3", "4", "5"]);
        assert_eq!(c.int(&["PFCOUNT", "hll"]), 5);
        c.int(&["PFADD", "hll", "6", "7", "8", "8", "9", "10"]);
        assert_eq!(c.int(&["PFCOUNT", "hll"]), 10);

        // The cached cardinality: stored by PFCOUNT, kept by a PFADD that
        // changes nothing, marked stale by one that does.
        c.int(&["DEL", "hll"]);
        c.int(&["PFADD", "hll", "a", "b", "c"]);
        c.int(&["PFCOUNT", "hll"]);
        assert_eq!(
            c.cmd(&["GETRANGE", "hll", "8", "15"]),
            Reply::bulk(b"\x03\0\0\0\0\0\0\0")
        );
        c.int(&["PFADD", "hll", "a", "b", "c"]);
        assert_eq!(c.cmd(&["GETRANGE", "hll", "15", "15"]), Reply::bulk(b"\0"));
        c.int(&["PFADD", "hll", "1", "2", "3"]);
        assert_eq!(
            c.cmd(&["GETRANGE", "hll", "15", "15"]),
            Reply::bulk(b"\x80")
        );

        assert_eq!(c.cmd(&["PFSELFTEST"]), Reply::ok());
    });
}

#[test]
fn sparse_turns_dense_at_the_configured_size() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "hll-sparse-max-bytes"]),
            Reply::bulks(&["hll-sparse-max-bytes", "3000"])
        );
        let mut n = 0;
        while n < 20_000 {
            let els: Vec<String> = (n..n + 100).map(|i| format!("e{i}")).collect();
            let mut cmd = vec!["PFADD", "hll"];
            cmd.extend(els.iter().map(String::as_str));
            c.int(&cmd);
            n += 100;
            let card = c.int(&["PFCOUNT", "hll"]);
            assert!((card - n).abs() * 20 < n, "{card} for {n}");
            let enc = c.cmd(&["PFDEBUG", "ENCODING", "hll"]);
            if n < 1000 {
                assert_eq!(enc, Reply::status("sparse"), "{n}");
                assert!(get(&mut c, "hll").len() <= 3000);
            } else if n > 10_000 {
                assert_eq!(enc, Reply::status("dense"), "{n}");
                assert_eq!(get(&mut c, "hll").len(), 12304);
            }
        }
        // A lower limit promotes at once on the next growth.
        c.ok(&["CONFIG", "SET", "hll-sparse-max-bytes", "30"]);
        c.int(&["PFADD", "small", "a"]);
        assert_eq!(
            c.cmd(&["PFDEBUG", "ENCODING", "small"]),
            Reply::status("sparse")
        );
        for i in 0..20 {
            c.int(&["PFADD", "small", &format!("x{i}")]);
        }
        assert_eq!(
            c.cmd(&["PFDEBUG", "ENCODING", "small"]),
            Reply::status("dense")
        );
        c.ok(&["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]);

        // PFDEBUG on both encodings.
        c.int(&["DEL", "h"]);
        c.int(&["PFADD", "h", "a", "b"]);
        let decoded = c.cmd(&["PFDEBUG", "DECODE", "h"]).as_string();
        assert!(
            decoded.starts_with('Z') || decoded.starts_with('z'),
            "{decoded}"
        );
        assert_eq!(decoded.matches("v:").count(), 2, "{decoded}");
        assert_eq!(c.int(&["PFDEBUG", "TODENSE", "h"]), 1);
        assert_eq!(c.int(&["PFDEBUG", "TODENSE", "h"]), 0);
        let regs = c.cmd(&["PFDEBUG", "GETREG", "h"]);
        assert_eq!(regs.as_array().len(), 16384);
        assert_eq!(
            regs.as_array().iter().filter(|r| r.as_int() != 0).count(),
            2
        );
        assert_eq!(c.int(&["PFCOUNT", "h"]), 2);
    });
}

#[test]
fn errors_as_redis() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "str", "bar"]);
        c.int(&["LPUSH", "list", "a"]);
        assert_eq!(c.err(&["PFADD", "str", "1"]), NOT_HLL);
        assert_eq!(c.err(&["PFCOUNT", "str"]), NOT_HLL);
        assert_eq!(c.err(&["PFMERGE", "str", "nosuch"]), NOT_HLL);
        assert_eq!(c.err(&["PFMERGE", "nosuch", "str"]), NOT_HLL);
        assert!(c
            .err(&["PFADD", "list", "1"])
            .starts_with("WRONGTYPE Operation"));
        assert!(c
            .err(&["PFCOUNT", "list"])
            .starts_with("WRONGTYPE Operation"));
        c.ok(&["SET", "int", "12345"]);
        assert_eq!(c.err(&["PFCOUNT", "int"]), NOT_HLL);

        // Sparse with bytes after its registers: corrupt.
        c.int(&["PFADD", "hll", "a", "b", "c"]);
        c.int(&["APPEND", "hll", "hello"]);
        assert_eq!(c.err(&["PFCOUNT", "hll"]), CORRUPT);
        assert_eq!(c.err(&["PFCOUNT", "hll", "nosuch"]), CORRUPT);
        assert_eq!(c.err(&["PFMERGE", "dst", "hll"]), CORRUPT);
        assert_eq!(c.err(&["PFDEBUG", "TODENSE", "hll"]), CORRUPT);
        // Broken magic, encoding byte, dense length: not an HLL at all.
        for (at, byte) in [("0", "0123"), ("4", "x"), ("4", "\0")] {
            c.int(&["DEL", "hll"]);
            c.int(&["PFADD", "hll", "a", "b", "c"]);
            c.int(&["SETRANGE", "hll", at, byte]);
            assert_eq!(c.err(&["PFCOUNT", "hll"]), NOT_HLL, "{at}");
        }
        // Random corruption never takes the server down.
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            c.int(&["DEL", "hll"]);
            let els: Vec<String> = (0..rng.usize(0..2000)).map(|i| i.to_string()).collect();
            let mut cmd = vec!["PFADD", "hll"];
            cmd.extend(els.iter().map(String::as_str));
            c.int(&cmd);
            let len = c.int(&["STRLEN", "hll"]) as usize;
            let pos = rng.usize(0..len).to_string();
            c.int(&[
                "SETRANGE",
                "hll",
                &pos,
                &char::from(rng.u8(0..128)).to_string(),
            ]);
            c.cmd(&["PFCOUNT", "hll"]);
            c.cmd(&["PFADD", "hll", "x", "y"]);
            c.cmd(&["PFMERGE", "other", "hll"]);
            c.cmd(&["PFDEBUG", "GETREG", "hll"]);
        }
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));

        assert_eq!(
            c.err(&["PFDEBUG", "ENCODING", "nosuch"]),
            "ERR The specified key does not exist"
        );
        c.int(&["DEL", "hll"]);
        c.int(&["PFADD", "hll", "a"]);
        assert_eq!(
            c.err(&["PFDEBUG", "nope", "hll"]),
            "ERR Unknown PFDEBUG subcommand 'nope'"
        );
        c.int(&["PFDEBUG", "TODENSE", "hll"]);
        assert_eq!(
            c.err(&["PFDEBUG", "DECODE", "hll"]),
            "ERR HLL encoding is not sparse"
        );
        assert_eq!(
            c.err(&["PFDEBUG", "GETREG", "hll", "x"]),
            "ERR wrong number of arguments for 'pfdebug' command"
        );
        assert_eq!(
            c.err(&["PFCOUNT"]),
            "ERR wrong number of arguments for 'pfcount' command"
        );
    });
}

#[test]
fn merge_and_union_over_shards() {
    for_threads(|s| {
        let mut c = s.client();
        // No hash tags: at --threads 4 these keys live on different shards.
        for (k, els) in [
            ("h1", ["a", "b", "c"]),
            ("h2", ["b", "c", "d"]),
            ("h3", ["c", "d", "e"]),
        ] {
            let mut cmd = vec!["PFADD", k];
            cmd.extend(els);
            c.int(&cmd);
        }
        let before: Vec<Vec<u8>> = ["h1", "h2", "h3"].iter().map(|k| get(&mut c, k)).collect();
        assert_eq!(c.int(&["PFCOUNT", "h1", "h2", "h3", "nosuch"]), 5);
        // A count over several keys stores nothing.
        let after: Vec<Vec<u8>> = ["h1", "h2", "h3"].iter().map(|k| get(&mut c, k)).collect();
        assert_eq!(before, after);
        assert_eq!(c.cmd(&["PFMERGE", "dst", "h1", "h2", "h3"]), Reply::ok());
        assert_eq!(c.int(&["PFCOUNT", "dst"]), 5);
        // The destination is an input too.
        c.int(&["PFADD", "dst", "z"]);
        assert_eq!(c.cmd(&["PFMERGE", "dst", "h1"]), Reply::ok());
        assert_eq!(c.int(&["PFCOUNT", "dst"]), 6);
        assert_eq!(c.cmd(&["PFMERGE", "empty"]), Reply::ok());
        assert_eq!(c.int(&["PFCOUNT", "empty"]), 0);

        // A dense input makes the destination dense.
        for i in 0..5000 {
            if i % 500 == 0 {
                let els: Vec<String> = (i..i + 500).map(|j| format!("big{j}")).collect();
                let mut cmd = vec!["PFADD", "big"];
                cmd.extend(els.iter().map(String::as_str));
                c.int(&cmd);
            }
        }
        assert_eq!(
            c.cmd(&["PFDEBUG", "ENCODING", "big"]),
            Reply::status("dense")
        );
        assert_eq!(c.cmd(&["PFMERGE", "union", "h1", "big"]), Reply::ok());
        assert_eq!(
            c.cmd(&["PFDEBUG", "ENCODING", "union"]),
            Reply::status("dense")
        );
        let union = c.int(&["PFCOUNT", "union"]);
        assert_eq!(c.int(&["PFCOUNT", "h1", "big"]), union);
        assert!((union - 5003).abs() < 250, "{union}");
    });
}

/// The same commands run on Tessera and on a real redis-server leave the
/// same bytes in every key and get the same replies: sparse updates,
/// promotion, merges, PFDEBUG, a small sparse limit, corrupt values.
#[test]
fn same_bytes_as_redis() {
    if skip_against_redis("comparing with a second server") {
        return;
    }
    let redis = RealRedis::start(&[]);
    for threads in [1, 4] {
        let server = Server::start(threads);
        let (mut t, mut r) = (server.client(), redis.client());
        r.ok(&["FLUSHALL"]);
        let mut rng = fastrand::Rng::with_seed(threads as u64);
        let w = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        for round in 0..3 {
            let limit = ["3000", "100", "3000"][round];
            both(
                &mut t,
                &mut r,
                &w(&["CONFIG", "SET", "hll-sparse-max-bytes", limit]),
            );
            for k in 0..12 {
                let key = format!("h{k}");
                for _ in 0..rng.usize(1..5) {
                    let n = [1, 5, 40, 300, 1500][rng.usize(0..5)];
                    let mut cmd = w(&["PFADD", &key]);
                    cmd.extend((0..rng.usize(0..=n)).map(|_| rng.u64(..).to_string()));
                    both(&mut t, &mut r, &cmd);
                    if rng.bool() {
                        both(&mut t, &mut r, &w(&["PFCOUNT", &key]));
                    }
                    both(&mut t, &mut r, &w(&["GET", &key]));
                }
                both(&mut t, &mut r, &w(&["PFDEBUG", "ENCODING", &key]));
            }
            for m in 0..8 {
                let mut cmd = w(&["PFMERGE", &format!("m{m}")]);
                cmd.extend((0..rng.usize(1..4)).map(|_| format!("h{}", rng.usize(0..12))));
                both(&mut t, &mut r, &cmd);
                both(&mut t, &mut r, &w(&["GET", &format!("m{m}")]));
                cmd[0] = "PFCOUNT".into();
                cmd.remove(1);
                both(&mut t, &mut r, &cmd);
            }
            both(&mut t, &mut r, &w(&["PFDEBUG", "DECODE", "h0"]));
            both(&mut t, &mut r, &w(&["PFDEBUG", "TODENSE", "h1"]));
            both(&mut t, &mut r, &w(&["GET", "h1"]));
            // Corrupt values change (or fail) alike.
            for _ in 0..100 {
                both(&mut t, &mut r, &w(&["DEL", "c"]));
                let mut cmd = w(&["PFADD", "c"]);
                cmd.extend((0..rng.usize(0..200)).map(|i| i.to_string()));
                both(&mut t, &mut r, &cmd);
                let len = r.int(&["STRLEN", "c"]) as usize;
                let pos = rng.usize(0..len).to_string();
                let byte = char::from(rng.u8(0..128)).to_string();
                both(&mut t, &mut r, &w(&["SETRANGE", "c", &pos, &byte]));
                for cmd in [
                    &["PFCOUNT", "c"][..],
                    &["PFADD", "c", "p", "q", "r"],
                    &["GET", "c"],
                    &["PFMERGE", "c2", "c"],
                    &["GET", "c2"],
                    &["DEL", "c2"],
                ] {
                    both(&mut t, &mut r, &w(cmd));
                }
            }
        }
    }
}

/// Runs `args` on both servers; the replies must be equal.
fn both(t: &mut Client, r: &mut Client, args: &[String]) {
    let (a, b) = (t.cmd(args), r.cmd(args));
    assert_eq!(a, b, "{:?}", &args[..args.len().min(3)]);
}

/// A Tessera HLL RESTOREs into Redis and counts the same there, sparse or
/// dense, and a Redis one restores here.
#[test]
fn dump_restore_with_redis() {
    if skip_against_redis("comparing with a second server") {
        return;
    }
    let redis = RealRedis::start(&[]);
    for_threads(|s| {
        let (mut t, mut r) = (s.client(), redis.client());
        r.ok(&["FLUSHALL"]);
        for (key, n) in [("small", 50), ("big", 20_000)] {
            let els: Vec<String> = (0..n).map(|i| format!("{key}:{i}")).collect();
            for chunk in els.chunks(1000) {
                let mut cmd = vec!["PFADD", key];
                cmd.extend(chunk.iter().map(String::as_str));
                t.int(&cmd);
                r.int(&cmd);
            }
            let count = t.int(&["PFCOUNT", key]);
            let payload = t.cmd(&["DUMP", key]).as_bytes().to_vec();
            let back = format!("{key}-from-tessera");
            let restore: [&[u8]; 4] = [b"RESTORE", back.as_bytes(), b"0", &payload];
            assert_eq!(r.cmd(&restore), Reply::ok());
            assert_eq!(r.int(&["PFCOUNT", &back]), count);
            assert_eq!(get(&mut r, &back), get(&mut t, key));

            let theirs = r.cmd(&["DUMP", key]).as_bytes().to_vec();
            let here = format!("{key}-from-redis");
            let restore: [&[u8]; 4] = [b"RESTORE", here.as_bytes(), b"0", &theirs];
            assert_eq!(t.cmd(&restore), Reply::ok());
            assert_eq!(t.int(&["PFCOUNT", &here]), r.int(&["PFCOUNT", key]));
            t.int(&["PFADD", &here, "one more"]);
            r.int(&["PFADD", key, "one more"]);
            assert_eq!(get(&mut t, &here), get(&mut r, key));
        }
    });
}

/// PFCOUNT stores the cardinality it computed and, as in Redis 7.0, is
/// recorded then (only then): after a restart from the AOF the key has the
/// same bytes, cache included.
#[test]
fn pfcount_storing_its_count_is_recorded() {
    if skip_against_redis("reads Tessera's AOF directory") {
        return;
    }
    let dir = scratch_dir("hll-aof");
    let conf = format!(
        "dir {}\nsave \"\"\nappendonly yes\nappendfsync always\n",
        dir.display()
    );
    let s = Server::start_with(2, &[], Some(&conf));
    let mut c = s.client();
    c.int(&["PFADD", "h", "a", "b", "c"]);
    assert_eq!(c.int(&["PFCOUNT", "h"]), 3);
    assert_eq!(c.int(&["PFCOUNT", "h"]), 3);
    c.int(&["PFADD", "h", "a"]);
    let bytes = get(&mut c, "h");
    assert_eq!(bytes[15], 0);
    let aof: Vec<u8> = fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .flat_map(|p| fs::read(p).unwrap())
        .collect();
    let text = String::from_utf8_lossy(&aof).to_ascii_lowercase();
    assert_eq!(text.matches("pfcount").count(), 1, "{text}");
    assert_eq!(text.matches("pfadd").count(), 1, "{text}");
    drop(c);
    drop(s);
    let s = Server::start_with(2, &[], Some(&conf));
    let mut c = s.client();
    assert!(common::eventually(Duration::from_secs(5), || c
        .cmd(&["GET", "h"])
        != Reply::Nil));
    assert_eq!(get(&mut c, "h"), bytes);
}

#[test]
fn commands_are_described_as_in_redis() {
    for_threads(|s| {
        let mut c = s.client();
        let mut cat = c.cmd(&["ACL", "CAT", "hyperloglog"]).as_strings();
        cat.sort();
        assert_eq!(
            cat,
            ["pfadd", "pfcount", "pfdebug", "pfmerge", "pfselftest"]
        );
        let info = c.cmd(&["COMMAND", "INFO", "pfcount", "pfmerge", "pfdebug"]);
        let rows = info.as_array();
        assert_eq!(rows[0].as_array()[1], Reply::int(-2));
        assert_eq!(
            rows[0].as_array()[2],
            Reply::Array(vec![Reply::status("readonly")])
        );
        assert_eq!(rows[1].as_array()[4], Reply::int(-1));
        assert_eq!(rows[2].as_array()[1], Reply::int(3));
    });
}
