//! Hash commands: HSET/HSETNX/HMSET, HGET/HMGET, HDEL, HEXISTS, HLEN, HSTRLEN,
//! HKEYS/HVALS/HGETALL, HINCRBY/HINCRBYFLOAT, HRANDFIELD, HSCAN, and the
//! listpack -> hashtable conversion — replies (RESP2 and RESP3) and error
//! strings as Redis 7.0 gives them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::time::{Duration, Instant};

use common::{encode, for_threads, skip_against_redis, Client, Reply};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// HGETALL as a map.
fn getall(c: &mut Client, key: &str) -> HashMap<String, String> {
    let items = c.cmd(&["HGETALL", key]).as_strings();
    items
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

/// Sends `cmds` after `HELLO 3` and returns the raw RESP3 bytes of their
/// replies (the harness client only parses RESP2).
fn resp3_raw(c: &mut Client, cmds: &[&[&str]]) -> Vec<u8> {
    let mut req = encode(&["HELLO", "3"]);
    req.extend(encode(&["ECHO", "<start>"]));
    for cmd in cmds {
        req.extend(encode(cmd));
    }
    req.extend(encode(&["ECHO", "<end>"]));
    c.send(&req);
    let (start, end) = (b"$7\r\n<start>\r\n", b"$5\r\n<end>\r\n");
    let mut buf = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = c.stream();
    while !buf.ends_with(end) {
        assert!(Instant::now() < deadline, "timed out: {buf:?}");
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
    let from = buf.windows(start.len()).position(|w| w == start).unwrap() + start.len();
    buf[from..buf.len() - end.len()].to_vec()
}

#[test]
fn set_get_and_friends() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["HSET", "h", "a", "1", "b", "2"]), 2);
        assert_eq!(c.int(&["HSET", "h", "a", "10", "c", "3"]), 1);
        assert_eq!(c.cmd(&["HGET", "h", "a"]), Reply::bulk("10"));
        assert_eq!(c.cmd(&["HGET", "h", "zz"]), Reply::Nil);
        assert_eq!(c.cmd(&["HGET", "nokey", "a"]), Reply::Nil);
        c.ok(&["HMSET", "h", "d", "4", "e", ""]);
        assert_eq!(c.cmd(&["HGET", "h", "e"]), Reply::bulk(""));
        assert_eq!(
            c.cmd(&["HMGET", "h", "a", "nope", "e"]),
            Reply::Array(vec![Reply::bulk("10"), Reply::Nil, Reply::bulk("")])
        );
        assert_eq!(
            c.cmd(&["HMGET", "nokey", "a", "b"]),
            Reply::Array(vec![Reply::Nil, Reply::Nil])
        );
        assert_eq!(c.int(&["HSETNX", "h", "a", "x"]), 0);
        assert_eq!(c.int(&["HSETNX", "h", "f", "x"]), 1);
        assert_eq!(c.int(&["HSETNX", "new", "f", "x"]), 1);
        assert_eq!(c.cmd(&["HGET", "h", "a"]), Reply::bulk("10"));
        assert_eq!(c.int(&["HEXISTS", "h", "a"]), 1);
        assert_eq!(c.int(&["HEXISTS", "h", "zz"]), 0);
        assert_eq!(c.int(&["HEXISTS", "nokey", "a"]), 0);
        assert_eq!(c.int(&["HLEN", "h"]), 6);
        assert_eq!(c.int(&["HLEN", "nokey"]), 0);
        assert_eq!(c.cmd(&["TYPE", "h"]), Reply::status("hash"));

        // Fields that look like integers are distinct from near-misses.
        c.int(&[
            "HSET", "n", "1", "one", "01", "zero-one", "+1", "plus", "-0", "mz",
        ]);
        assert_eq!(c.cmd(&["HGET", "n", "1"]), Reply::bulk("one"));
        assert_eq!(c.cmd(&["HGET", "n", "01"]), Reply::bulk("zero-one"));
        assert_eq!(c.cmd(&["HGET", "n", "+1"]), Reply::bulk("plus"));
        assert_eq!(c.cmd(&["HGET", "n", "-0"]), Reply::bulk("mz"));
        assert_eq!(c.cmd(&["HGET", "n", "0"]), Reply::Nil);

        // Binary-safe fields and values.
        let field: Vec<u8> = (0u8..=255).collect();
        let value = b"a\r\nb\0c".to_vec();
        assert_eq!(
            c.cmd(&[&b"HSET"[..], b"bin", &field, &value]),
            Reply::int(1)
        );
        assert_eq!(c.cmd(&[&b"HGET"[..], b"bin", &field]), Reply::Bulk(value));
    });
}

#[test]
fn hstrlen_counts_bytes_of_any_encoding() {
    for_threads(|s| {
        let mut c = s.client();
        let vals = [
            "-9223372036854775808",
            "9223372036854775807",
            "9223372036854775808",
            "",
            "0",
            "-1",
            "x",
            "007",
        ];
        for key in ["small", "big"] {
            if key == "big" {
                c.int(&["HSET", key, "pad", &"p".repeat(100)]);
            }
            for v in vals {
                c.int(&["HSET", key, "field", v]);
                assert_eq!(c.int(&["HSTRLEN", key, "field"]), v.len() as i64, "{v}");
            }
        }
        assert_eq!(c.int(&["HSTRLEN", "small", "nope"]), 0);
        assert_eq!(c.int(&["HSTRLEN", "nokey", "nope"]), 0);
    });
}

#[test]
fn errors_arity_and_wrong_type() {
    for_threads(|s| {
        let mut c = s.client();
        for (cmd, name) in [("HSET", "hset"), ("HMSET", "hmset")] {
            let want = format!("ERR wrong number of arguments for '{name}' command");
            assert_eq!(c.err(&[cmd, "h"]), want);
            assert_eq!(c.err(&[cmd, "h", "a"]), want);
            assert_eq!(c.err(&[cmd, "h", "a", "1", "b"]), want);
        }
        assert_eq!(c.int(&["EXISTS", "h"]), 0);
        let arity = |n: &str| format!("ERR wrong number of arguments for '{n}' command");
        assert_eq!(c.err(&["HSETNX", "h", "a"]), arity("hsetnx"));
        assert_eq!(c.err(&["HGET", "h"]), arity("hget"));
        assert_eq!(c.err(&["HMGET", "h"]), arity("hmget"));
        assert_eq!(c.err(&["HDEL", "h"]), arity("hdel"));
        assert_eq!(c.err(&["HLEN", "h", "x"]), arity("hlen"));
        assert_eq!(c.err(&["HGETALL"]), arity("hgetall"));
        assert_eq!(c.err(&["HINCRBY", "h", "f"]), arity("hincrby"));
        assert_eq!(c.err(&["HRANDFIELD"]), arity("hrandfield"));
        assert_eq!(c.err(&["HSCAN", "h"]), arity("hscan"));

        c.ok(&["SET", "str", "x"]);
        for cmd in [
            &["HSET", "str", "a", "1"][..],
            &["HSETNX", "str", "a", "1"],
            &["HMSET", "str", "a", "1"],
            &["HGET", "str", "a"],
            &["HMGET", "str", "a"],
            &["HDEL", "str", "a"],
            &["HEXISTS", "str", "a"],
            &["HLEN", "str"],
            &["HSTRLEN", "str", "a"],
            &["HKEYS", "str"],
            &["HVALS", "str"],
            &["HGETALL", "str"],
            &["HINCRBY", "str", "a", "1"],
            &["HINCRBYFLOAT", "str", "a", "1"],
            &["HRANDFIELD", "str"],
            &["HRANDFIELD", "str", "2"],
            &["HSCAN", "str", "0"],
        ] {
            assert_eq!(c.err(cmd), WRONGTYPE, "{cmd:?}");
        }
        assert_eq!(c.cmd(&["GET", "str"]), Reply::bulk("x"));
    });
}

#[test]
fn hdel_removes_fields_and_empty_keys() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["HMSET", "h", "a", "1", "b", "2", "c", "3"]);
        assert_eq!(c.int(&["HDEL", "h", "x", "y"]), 0);
        assert_eq!(c.int(&["HDEL", "h", "a", "c", "f", "a"]), 2);
        assert_eq!(c.cmd(&["HGETALL", "h"]), Reply::bulks(&["b", "2"]));
        assert_eq!(c.int(&["HDEL", "h", "b", "d", "e"]), 1);
        assert_eq!(c.int(&["EXISTS", "h"]), 0);
        assert_eq!(c.int(&["HDEL", "nokey", "a"]), 0);
        // The same in the table form.
        for i in 0..200 {
            c.int(&["HSET", "big", &format!("f{i}"), "v"]);
        }
        let fields: Vec<String> = (0..200).map(|i| format!("f{i}")).collect();
        let mut cmd = vec!["HDEL", "big"];
        cmd.extend(fields.iter().map(String::as_str));
        cmd.push("extra");
        assert_eq!(c.int(&cmd), 200);
        assert_eq!(c.int(&["EXISTS", "big"]), 0);
    });
}

#[test]
fn keys_vals_getall_both_encodings() {
    for_threads(|s| {
        let mut c = s.client();
        // A small hash keeps insertion order, as a listpack does.
        c.int(&["HSET", "h", "z", "1", "a", "2", "m", "three"]);
        c.int(&["HSET", "h", "a", "22"]);
        assert_eq!(c.cmd(&["HKEYS", "h"]), Reply::bulks(&["z", "a", "m"]));
        assert_eq!(c.cmd(&["HVALS", "h"]), Reply::bulks(&["1", "22", "three"]));
        assert_eq!(
            c.cmd(&["HGETALL", "h"]),
            Reply::bulks(&["z", "1", "a", "22", "m", "three"])
        );
        for cmd in ["HKEYS", "HVALS", "HGETALL"] {
            assert_eq!(c.cmd(&[cmd, "nokey"]), Reply::Array(vec![]));
        }
        let mut want = HashMap::new();
        for i in 0..300 {
            let (f, v) = (format!("field:{i}"), format!("{}", i * 7));
            c.int(&["HSET", "big", &f, &v]);
            want.insert(f, v);
        }
        assert_eq!(getall(&mut c, "big"), want);
        let mut keys: Vec<String> = want.keys().cloned().collect();
        keys.sort();
        assert_eq!(sorted(c.cmd(&["HKEYS", "big"]).as_strings()), keys);
        assert_eq!(c.cmd(&["HVALS", "big"]).as_array().len(), 300);
    });
}

#[test]
fn encoding_conversion_follows_the_limits() {
    for_threads(|s| {
        let mut c = s.client();
        // Redis 7.0's default; some redis-server builds ship another one.
        c.ok(&["CONFIG", "SET", "hash-max-listpack-entries", "128"]);
        for i in 0..128 {
            c.int(&["HSET", "h", &format!("f{i}"), "v"]);
        }
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", "h"]), Reply::bulk("listpack"));
        c.int(&["HSET", "h", "f128", "v"]);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "h"]),
            Reply::bulk("hashtable")
        );
        // Never back, even when emptied down to one field.
        for i in 0..128 {
            c.int(&["HDEL", "h", &format!("f{i}")]);
        }
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "h"]),
            Reply::bulk("hashtable")
        );

        c.int(&["HSET", "v", "a", &"x".repeat(64)]);
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", "v"]), Reply::bulk("listpack"));
        c.int(&["HSET", "v", "b", &"x".repeat(65)]);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "v"]),
            Reply::bulk("hashtable")
        );
        c.int(&["HSET", "f", &"k".repeat(65), "1"]);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "f"]),
            Reply::bulk("hashtable")
        );
        assert_eq!(c.int(&["HLEN", "v"]), 2);

        // Both names of the thresholds; HINCRBY results count too.
        c.ok(&["CONFIG", "SET", "hash-max-ziplist-value", "8"]);
        c.int(&["HSET", "i", "a", "1"]);
        c.int(&["HINCRBY", "i", "a", "123456789012"]);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "i"]),
            Reply::bulk("hashtable")
        );
        c.int(&["HSET", "small", "tmp", "0"]);
        c.int(&["HSET", "bigger", "tmp", "0"]);
        c.cmd(&["HINCRBYFLOAT", "small", "tmp", "0.000005"]);
        c.cmd(&["HINCRBYFLOAT", "bigger", "tmp", "0.0000005"]);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "small"]),
            Reply::bulk("listpack")
        );
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "bigger"]),
            Reply::bulk("hashtable")
        );
        c.ok(&["CONFIG", "SET", "hash-max-listpack-value", "64"]);
        c.ok(&["CONFIG", "SET", "hash-max-listpack-entries", "2"]);
        c.int(&["HSET", "e", "a", "1", "b", "2"]);
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", "e"]), Reply::bulk("listpack"));
        c.int(&["HSET", "e", "c", "3"]);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "e"]),
            Reply::bulk("hashtable")
        );
        c.ok(&["CONFIG", "SET", "hash-max-listpack-entries", "128"]);
    });
}

#[test]
fn hincrby() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["HINCRBY", "h", "n", "5"]), 5);
        assert_eq!(c.int(&["HINCRBY", "h", "n", "-7"]), -2);
        c.int(&["HSET", "h", "big", "17179869184"]);
        assert_eq!(c.int(&["HINCRBY", "h", "big", "1"]), 17179869185);
        assert_eq!(c.int(&["HINCRBY", "h", "big", "17179869184"]), 34359738369);
        assert_eq!(c.cmd(&["HGET", "h", "big"]), Reply::bulk("34359738369"));
        for bad in [" 11", "11 ", "1.5", "abc", "01", ""] {
            c.int(&["HSET", "h", "s", bad]);
            assert_eq!(
                c.err(&["HINCRBY", "h", "s", "1"]),
                "ERR hash value is not an integer"
            );
        }
        assert_eq!(c.err(&["HINCRBY", "h", "n", "x"]), NOT_INT);
        assert_eq!(c.err(&["HINCRBY", "h", "n", "1.0"]), NOT_INT);
        c.int(&["HSET", "h", "max", "9223372036854775807"]);
        assert_eq!(
            c.err(&["HINCRBY", "h", "max", "1"]),
            "ERR increment or decrement would overflow"
        );
        c.int(&["HSET", "h", "min", "-9223372036854775808"]);
        assert_eq!(
            c.err(&["HINCRBY", "h", "min", "-1"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(c.int(&["HINCRBY", "h", "min", "0"]), i64::MIN);
    });
}

#[test]
fn hincrbyfloat() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(
            c.cmd(&["HINCRBYFLOAT", "h", "f", "1.23"]),
            Reply::bulk("1.23")
        );
        assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "0.77"]), Reply::bulk("2"));
        assert_eq!(
            c.cmd(&["HINCRBYFLOAT", "h", "f", "-0.1"]),
            Reply::bulk("1.9")
        );
        assert_eq!(c.cmd(&["HGET", "h", "f"]), Reply::bulk("1.9"));
        c.int(&["HSET", "h", "i", "17179869184"]);
        assert_eq!(
            c.cmd(&["HINCRBYFLOAT", "h", "i", "17179869184"]),
            Reply::bulk("34359738368")
        );
        assert_eq!(
            c.cmd(&["HINCRBYFLOAT", "h", "e", "1e3"]),
            Reply::bulk("1000")
        );
        for bad in [" 1", "1 ", "abc", "1\x002"] {
            c.int(&["HSET", "h", "s", bad]);
            assert_eq!(
                c.err(&["HINCRBYFLOAT", "h", "s", "1"]),
                "ERR hash value is not a float"
            );
        }
        assert_eq!(
            c.err(&["HINCRBYFLOAT", "h", "f", "x"]),
            "ERR value is not a valid float"
        );
        for inf in ["+inf", "-inf", "inf"] {
            assert_eq!(
                c.err(&["HINCRBYFLOAT", "nan", "f", inf]),
                "ERR value is NaN or Infinity"
            );
        }
        assert_eq!(
            c.err(&["HINCRBYFLOAT", "nan", "f", "nan"]),
            "ERR value is not a valid float"
        );
        assert_eq!(c.int(&["EXISTS", "nan"]), 0);
    });
}

#[test]
fn hincrbyfloat_overflow() {
    if skip_against_redis("f64 arithmetic (Redis uses long double, which 3e308 fits)") {
        return;
    }
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["HSET", "h", "huge", "1.5e308"]);
        assert_eq!(
            c.err(&["HINCRBYFLOAT", "h", "huge", "1.5e308"]),
            "ERR increment would produce NaN or Infinity"
        );
        assert_eq!(c.cmd(&["HGET", "h", "huge"]), Reply::bulk("1.5e308"));
    });
}

/// Field names of an HRANDFIELD reply (every other item WITHVALUES).
fn fields_of(r: &Reply, with_values: bool) -> Vec<String> {
    let items = r.as_strings();
    if with_values {
        items.chunks(2).map(|p| p[0].clone()).collect()
    } else {
        items
    }
}

#[test]
fn hrandfield() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["HRANDFIELD", "nokey"]), Reply::Nil);
        assert_eq!(c.cmd(&["HRANDFIELD", "nokey", "5"]), Reply::Array(vec![]));
        assert_eq!(
            c.cmd(&["HRANDFIELD", "nokey", "-5", "WITHVALUES"]),
            Reply::Array(vec![])
        );
        for (key, n, pad) in [("small", 10, 1), ("big", 10, 100), ("large", 500, 1)] {
            let mut all = HashMap::new();
            for i in 0..n {
                let (f, v) = (format!("f{i}"), format!("{i}{}", "v".repeat(pad)));
                c.int(&["HSET", key, &f, &v]);
                all.insert(f, v);
            }
            let names: HashSet<String> = all.keys().cloned().collect();
            let one = c.cmd(&["HRANDFIELD", key]).as_string();
            assert!(names.contains(&one));
            assert_eq!(c.cmd(&["HRANDFIELD", key, "0"]), Reply::Array(vec![]));
            assert_eq!(
                c.cmd(&["HRANDFIELD", key, "0", "withvalues"]),
                Reply::Array(vec![])
            );
            // Negative: exactly |count| picks, repeats allowed.
            let r = c.cmd(&["HRANDFIELD", key, "-1001"]);
            assert_eq!(r.as_array().len(), 1001);
            assert!(fields_of(&r, false).iter().all(|f| names.contains(f)));
            let r = c.cmd(&["HRANDFIELD", key, "-20", "WITHVALUES"]);
            assert_eq!(r.as_array().len(), 40);
            for p in r.as_strings().chunks(2) {
                assert_eq!(all[&p[0]], p[1]);
            }
            // Positive: distinct, at most the hash's size.
            for count in [1, 2, n / 2, n - 1, n, n + 10] {
                let r = c.cmd(&["HRANDFIELD", key, &count.to_string()]);
                let got = fields_of(&r, false);
                assert_eq!(got.len(), count.min(n));
                assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
                assert!(got.iter().all(|f| names.contains(f)));
                let r = c.cmd(&["HRANDFIELD", key, &count.to_string(), "withvalues"]);
                assert_eq!(r.as_array().len(), 2 * count.min(n));
                for p in r.as_strings().chunks(2) {
                    assert_eq!(all[&p[0]], p[1]);
                }
            }
            // Every field turns up eventually.
            let mut seen = HashSet::new();
            for _ in 0..200 {
                seen.extend(fields_of(&c.cmd(&["HRANDFIELD", key, "-30"]), false));
            }
            assert_eq!(seen, names);
        }
        // A rough uniformity check on the table form (10 fields, 100 bytes
        // each): no field far from 1/10.
        let r = c.cmd(&["HRANDFIELD", "big", "-10000"]);
        let mut counts: HashMap<String, usize> = HashMap::new();
        for f in fields_of(&r, false) {
            *counts.entry(f).or_default() += 1;
        }
        assert!(
            counts.values().all(|&n| (700..1300).contains(&n)),
            "{counts:?}"
        );

        assert_eq!(c.err(&["HRANDFIELD", "small", "x"]), NOT_INT);
        assert_eq!(c.err(&["HRANDFIELD", "small", "1", "withvaluesx"]), SYNTAX);
        assert_eq!(
            c.err(&["HRANDFIELD", "small", "1", "withvalues", "x"]),
            SYNTAX
        );
        assert_eq!(c.err(&["HRANDFIELD", "nokey", "1", "x"]), SYNTAX);
        assert_eq!(
            c.err(&["HRANDFIELD", "small", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        for n in [
            "-9223372036854770000",
            "-9223372036854775808",
            "4611686018427387904",
        ] {
            let e = c.err(&["HRANDFIELD", "small", n, "withvalues"]);
            assert!(e.starts_with("ERR value is out of range"), "{e}");
        }
    });
}

#[test]
fn hrandfield_refuses_huge_negative_counts() {
    if skip_against_redis("refusing a reply of 2^62 elements (Redis runs out of memory)") {
        return;
    }
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["HSET", "h", "a", "1"]);
        for n in ["-4611686018427387903", "-9223372036854775807", "-100000000"] {
            assert_eq!(c.err(&["HRANDFIELD", "h", n]), "ERR value is out of range");
        }
        // Positive counts are bounded by the hash: fine however large.
        assert_eq!(
            c.cmd(&["HRANDFIELD", "h", "9223372036854775807"]),
            Reply::bulks(&["a"])
        );
    });
}

/// Runs a whole HSCAN, returning every field and value seen.
fn hscan_all(c: &mut Client, key: &str, extra: &[&str]) -> (HashMap<String, String>, usize) {
    let mut seen = HashMap::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let mut cmd = vec!["HSCAN", key, &cursor];
        cmd.extend_from_slice(extra);
        let r = c.cmd(&cmd);
        let parts = r.as_array();
        calls += 1;
        for p in parts[1].as_strings().chunks(2) {
            seen.insert(p[0].clone(), p[1].clone());
        }
        cursor = parts[0].as_string();
        if cursor == "0" {
            return (seen, calls);
        }
    }
}

#[test]
fn hscan() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["HSET", "small", "a", "1", "b", "2", "ab", "3"]);
        // A small hash comes back whole, cursor 0, whatever cursor or COUNT.
        for cursor in ["0", "5"] {
            let r = c.cmd(&["HSCAN", "small", cursor, "COUNT", "1"]);
            assert_eq!(
                r,
                Reply::Array(vec![
                    Reply::bulk("0"),
                    Reply::bulks(&["a", "1", "b", "2", "ab", "3"])
                ])
            );
        }
        let r = c.cmd(&["HSCAN", "small", "0", "MATCH", "a*"]);
        assert_eq!(
            r,
            Reply::Array(vec![Reply::bulk("0"), Reply::bulks(&["a", "1", "ab", "3"])])
        );
        let mut want = HashMap::new();
        for i in 0..1000 {
            c.int(&["HSET", "big", &format!("f{i}"), &i.to_string()]);
            want.insert(format!("f{i}"), i.to_string());
        }
        let (seen, calls) = hscan_all(&mut c, "big", &[]);
        assert_eq!(seen, want);
        assert!(calls > 10, "{calls}");
        let (seen, _) = hscan_all(&mut c, "big", &["COUNT", "100", "MATCH", "f1*"]);
        assert_eq!(seen.len(), 111);
        assert!(seen.keys().all(|k| k.starts_with("f1")));

        let empty = Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]);
        assert_eq!(c.cmd(&["HSCAN", "nokey", "0"]), empty);
        // A missing key is an empty scan before the options are checked.
        assert_eq!(c.cmd(&["HSCAN", "nokey", "0", "COUNT", "0"]), empty);
        assert_eq!(c.err(&["HSCAN", "nokey", "x"]), "ERR invalid cursor");
        assert_eq!(c.err(&["HSCAN", "small", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(c.err(&["HSCAN", "small", "0", "COUNT", "x"]), NOT_INT);
        assert_eq!(c.err(&["HSCAN", "small", "0", "MATCH"]), SYNTAX);
        assert_eq!(c.err(&["HSCAN", "small", "0", "TYPE", "hash"]), SYNTAX);
        c.ok(&["SET", "str", "x"]);
        assert_eq!(c.err(&["HSCAN", "str", "0", "COUNT", "0"]), WRONGTYPE);
    });
}

#[test]
fn resp3_shapes() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["HSET", "h", "a", "1"]);
        let raw = resp3_raw(
            &mut c,
            &[
                &["HGETALL", "h"],
                &["HGETALL", "nokey"],
                &["HGET", "h", "zz"],
                &["HMGET", "h", "a", "zz"],
                &["HRANDFIELD", "h", "1", "WITHVALUES"],
                &["HRANDFIELD", "h", "-2", "WITHVALUES"],
                &["HRANDFIELD", "h", "1"],
                &["HRANDFIELD", "nokey"],
                &["HRANDFIELD", "nokey", "3"],
                &["HKEYS", "h"],
                &["HINCRBYFLOAT", "h", "f", "1.5"],
            ],
        );
        let want = concat!(
            "%1\r\n$1\r\na\r\n$1\r\n1\r\n",
            "%0\r\n",
            "_\r\n",
            "*2\r\n$1\r\n1\r\n_\r\n",
            "*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
            "*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
            "*1\r\n$1\r\na\r\n",
            "_\r\n",
            "*0\r\n",
            "*1\r\n$1\r\na\r\n",
            "$3\r\n1.5\r\n",
        );
        assert_eq!(String::from_utf8_lossy(&raw), want);
    });
}

/// Keys on every shard at --threads 4, and integers as fields and values.
#[test]
fn many_keys_and_integer_fields() {
    for_threads(|s| {
        let mut c = s.client();
        for k in 0..50 {
            let key = format!("user:{k}");
            for i in -5..5 {
                c.int(&["HSET", &key, &i.to_string(), &(i * k).to_string()]);
            }
        }
        for k in 0..50 {
            let key = format!("user:{k}");
            assert_eq!(c.int(&["HLEN", &key]), 10);
            for i in -5..5 {
                assert_eq!(
                    c.cmd(&["HGET", &key, &i.to_string()]),
                    Reply::bulk((i * k).to_string())
                );
            }
            assert_eq!(c.int(&["HINCRBY", &key, "-5", "1"]), -5 * k + 1);
        }
    });
}
