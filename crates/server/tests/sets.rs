//! Set commands: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SPOP SRANDMEMBER SSCAN,
//! and SMOVE SINTER SUNION SDIFF SINTERCARD and the STORE forms on keys sharing a hash
//! tag — replies, RESP3 shapes, encodings and error strings as Redis 7.0 gives them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::time::{Duration, Instant};

use common::{encode, for_threads, Client, Reply};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

/// The members of a set reply, sorted.
fn sorted(r: Reply) -> Vec<String> {
    let mut v = r.as_strings();
    v.sort();
    v
}

fn strs(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn members(c: &mut Client, key: &str) -> Vec<String> {
    sorted(c.cmd(&["SMEMBERS", key]))
}

fn encoding(c: &mut Client, key: &str) -> String {
    c.cmd(&["OBJECT", "ENCODING", key]).as_string()
}

#[test]
fn add_remove_and_membership() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["SADD", "s", "a", "b", "a", "c"]), 3);
        assert_eq!(c.int(&["SADD", "s", "a", "d"]), 1);
        assert_eq!(c.int(&["SCARD", "s"]), 4);
        assert_eq!(c.int(&["SISMEMBER", "s", "a"]), 1);
        assert_eq!(c.int(&["SISMEMBER", "s", "x"]), 0);
        assert_eq!(
            c.cmd(&["SMISMEMBER", "s", "a", "x", "d"]),
            Reply::Array(vec![Reply::int(1), Reply::int(0), Reply::int(1)])
        );
        assert_eq!(members(&mut c, "s"), strs(&["a", "b", "c", "d"]));
        assert_eq!(c.cmd(&["TYPE", "s"]), Reply::status("set"));
        assert_eq!(c.int(&["SREM", "s", "a", "x", "a"]), 1);
        assert_eq!(c.int(&["SCARD", "s"]), 3);
        // Emptying the set deletes the key.
        assert_eq!(c.int(&["SREM", "s", "b", "c", "d", "e"]), 3);
        assert_eq!(c.int(&["EXISTS", "s"]), 0);
        // Missing keys read as empty sets.
        assert_eq!(c.int(&["SCARD", "nokey"]), 0);
        assert_eq!(c.int(&["SISMEMBER", "nokey", "a"]), 0);
        assert_eq!(c.int(&["SREM", "nokey", "a"]), 0);
        assert_eq!(c.cmd(&["SMEMBERS", "nokey"]), Reply::Array(vec![]));
        assert_eq!(
            c.cmd(&["SMISMEMBER", "nokey", "a", "b"]),
            Reply::Array(vec![Reply::int(0), Reply::int(0)])
        );
        // Binary-safe members, the empty string included.
        let bin: Vec<u8> = (0u8..=255).collect();
        assert_eq!(c.cmd(&[&b"SADD"[..], b"b", &bin, b""]), Reply::int(2));
        assert_eq!(c.cmd(&[&b"SISMEMBER"[..], b"b", &bin]), Reply::int(1));
        assert_eq!(c.int(&["SISMEMBER", "b", ""]), 1);
        // A TTL survives SADD.
        assert_eq!(c.int(&["EXPIRE", "b", "100"]), 1);
        c.int(&["SADD", "b", "more"]);
        assert!(c.int(&["TTL", "b"]) > 0);
    });
}

#[test]
fn wrong_type_and_arity() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "str", "x"]);
        for args in [
            &["SADD", "str", "a"][..],
            &["SREM", "str", "a"],
            &["SCARD", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SMEMBERS", "str"],
            &["SPOP", "str"],
            &["SPOP", "str", "2"],
            &["SPOP", "str", "0"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "0"],
            &["SSCAN", "str", "0"],
        ] {
            assert_eq!(c.err(args), WRONGTYPE, "{args:?}");
        }
        for (args, name) in [
            (&["SADD", "s"][..], "sadd"),
            (&["SREM", "s"], "srem"),
            (&["SCARD"], "scard"),
            (&["SCARD", "a", "b"], "scard"),
            (&["SISMEMBER", "s"], "sismember"),
            (&["SMISMEMBER", "s"], "smismember"),
            (&["SMEMBERS"], "smembers"),
            (&["SPOP"], "spop"),
            (&["SRANDMEMBER"], "srandmember"),
            (&["SSCAN", "s"], "sscan"),
            (&["SMOVE", "a", "b"], "smove"),
            (&["SINTER"], "sinter"),
            (&["SINTERSTORE", "d"], "sinterstore"),
            (&["SUNION"], "sunion"),
            (&["SDIFFSTORE", "d"], "sdiffstore"),
            (&["SINTERCARD", "1"], "sintercard"),
        ] {
            assert_eq!(
                c.err(args),
                format!("ERR wrong number of arguments for '{name}' command"),
                "{args:?}"
            );
        }
        assert_eq!(c.err(&["SPOP", "s", "1", "2"]), SYNTAX);
        assert_eq!(c.err(&["SRANDMEMBER", "s", "1", "2"]), SYNTAX);
    });
}

#[test]
fn encodings_follow_redis() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["SADD", "i", "1", "-5", "300000", "9223372036854775807"]);
        assert_eq!(encoding(&mut c, "i"), "intset");
        assert_eq!(
            members(&mut c, "i"),
            strs(&["1", "-5", "300000", "9223372036854775807"])
        );
        assert_eq!(c.int(&["SISMEMBER", "i", "300000"]), 1);
        // Non-canonical integers are strings.
        assert_eq!(c.int(&["SISMEMBER", "i", "01"]), 0);
        assert_eq!(c.int(&["SADD", "i", "01"]), 1);
        assert_eq!(encoding(&mut c, "i"), "hashtable");
        assert_eq!(c.int(&["SISMEMBER", "i", "01"]), 1);
        assert_eq!(c.int(&["SISMEMBER", "i", "1"]), 1);
        // An integer beyond 64 bits.
        c.int(&["SADD", "big", "213244124402402314402033402"]);
        assert_eq!(encoding(&mut c, "big"), "hashtable");
        // Strings, short and long.
        c.int(&["SADD", "str", "a"]);
        assert_eq!(encoding(&mut c, "str"), "hashtable");
        c.int(&["SADD", "str", &"x".repeat(100)]);
        assert_eq!(encoding(&mut c, "str"), "hashtable");
        assert_eq!(c.int(&["SISMEMBER", "str", &"x".repeat(100)]), 1);
        // set-max-intset-entries: 512 integers stay an intset, the 513th converts.
        let mut args = vec!["SADD".to_string(), "many".to_string()];
        args.extend((0..512).map(|i| i.to_string()));
        assert_eq!(c.int(&args), 512);
        assert_eq!(encoding(&mut c, "many"), "intset");
        assert_eq!(c.int(&["SADD", "many", "512"]), 1);
        assert_eq!(encoding(&mut c, "many"), "hashtable");
        assert_eq!(c.int(&["SCARD", "many"]), 513);
        // Removing members never converts back.
        assert_eq!(c.int(&["SREM", "many", "512", "511"]), 2);
        assert_eq!(encoding(&mut c, "many"), "hashtable");
        // Many strings, then back down to few: still correct.
        let mut args = vec!["SADD".to_string(), "strs".to_string()];
        args.extend((0..300).map(|i| format!("m{i}")));
        assert_eq!(c.int(&args), 300);
        assert_eq!(c.int(&["SCARD", "strs"]), 300);
        for i in 0..300 {
            assert_eq!(c.int(&["SISMEMBER", "strs", &format!("m{i}")]), 1);
        }
    });
}

#[test]
fn intset_limit_from_config() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "set-max-intset-entries", "4"]);
        c.int(&["SADD", "a", "1", "2", "3", "4"]);
        assert_eq!(encoding(&mut c, "a"), "intset");
        c.int(&["SADD", "a", "5"]);
        assert_eq!(encoding(&mut c, "a"), "hashtable");
        c.ok(&["CONFIG", "SET", "set-max-intset-entries", "0"]);
        c.int(&["SADD", "b", "1"]);
        assert_eq!(encoding(&mut c, "b"), "hashtable");
        assert_eq!(c.int(&["SISMEMBER", "b", "1"]), 1);
        c.ok(&["CONFIG", "SET", "set-max-intset-entries", "512"]);
    });
}

#[test]
fn spop() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["SPOP", "nokey"]), Reply::Nil);
        assert_eq!(c.cmd(&["SPOP", "nokey", "3"]), Reply::Array(vec![]));
        for contents in [
            &["a", "b", "c", "d", "e"][..],
            &["1", "2", "3", "4", "5"],
            &["1", "b", "3", "d", "5"],
        ] {
            let mut args = vec!["SADD", "s"];
            args.extend_from_slice(contents);
            c.int(&args);
            let one = c.cmd(&["SPOP", "s"]).as_string();
            assert!(contents.contains(&one.as_str()));
            assert_eq!(c.int(&["SISMEMBER", "s", &one]), 0);
            assert_eq!(c.cmd(&["SPOP", "s", "0"]), Reply::Array(vec![]));
            let two = c.cmd(&["SPOP", "s", "2"]).as_strings();
            assert_eq!(two.len(), 2);
            assert_ne!(two[0], two[1]);
            assert_eq!(c.int(&["SCARD", "s"]), 2);
            let rest = c.cmd(&["SPOP", "s", "10"]).as_strings();
            assert_eq!(rest.len(), 2);
            let mut all: Vec<String> = [vec![one], two, rest].concat();
            all.sort();
            assert_eq!(all, strs(contents));
            assert_eq!(c.int(&["EXISTS", "s"]), 0);
        }
        // A big table: popping half returns distinct members, all removed.
        let mut args = vec!["SADD".to_string(), "big".to_string()];
        args.extend((0..1000).map(|i| format!("m{i}")));
        c.int(&args);
        let popped: BTreeSet<String> = c
            .cmd(&["SPOP", "big", "400"])
            .as_strings()
            .into_iter()
            .collect();
        assert_eq!(popped.len(), 400);
        assert_eq!(c.int(&["SCARD", "big"]), 600);
        for m in &popped {
            assert_eq!(c.int(&["SISMEMBER", "big", m]), 0);
        }
        c.int(&["SADD", "x", "a"]);
        assert_eq!(
            c.err(&["SPOP", "x", "-1"]),
            "ERR value is out of range, must be positive"
        );
        // Redis words a non-integer count as a negative one.
        for bad in ["a", "1.5", "99999999999999999999"] {
            assert_eq!(
                c.err(&["SPOP", "x", bad]),
                "ERR value is out of range, must be positive"
            );
        }
    });
}

#[test]
fn srandmember() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["SRANDMEMBER", "nokey"]), Reply::Nil);
        assert_eq!(c.cmd(&["SRANDMEMBER", "nokey", "5"]), Reply::Array(vec![]));
        assert_eq!(c.cmd(&["SRANDMEMBER", "nokey", "-5"]), Reply::Array(vec![]));
        for (key, n, ints) in [
            ("small", 10, true),
            ("strs", 50, false),
            ("table", 700, false),
        ] {
            let mut args = vec!["SADD".to_string(), key.to_string()];
            args.extend((0..n).map(|i| if ints { i.to_string() } else { format!("m{i}") }));
            c.int(&args);
            let all: BTreeSet<String> = members(&mut c, key).into_iter().collect();
            let one = c.cmd(&["SRANDMEMBER", key]).as_string();
            assert!(all.contains(&one));
            assert_eq!(c.cmd(&["SRANDMEMBER", key, "0"]), Reply::Array(vec![]));
            // Positive counts: distinct members, at most the whole set.
            for count in [1, 3, n / 2, n - 1, n, n + 5] {
                let got = c
                    .cmd(&["SRANDMEMBER", key, &count.to_string()])
                    .as_strings();
                assert_eq!(got.len(), count.min(n), "{key} {count}");
                let uniq: BTreeSet<String> = got.into_iter().collect();
                assert_eq!(uniq.len(), count.min(n));
                assert!(uniq.is_subset(&all));
            }
            let got = c
                .cmd(&["SRANDMEMBER", key, "9223372036854775807"])
                .as_strings();
            assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), all);
            // Negative counts: exactly that many, repetitions allowed.
            let got = c.cmd(&["SRANDMEMBER", key, "-25"]).as_strings();
            assert_eq!(got.len(), 25);
            assert!(got.iter().all(|m| all.contains(m)));
            let got = c
                .cmd(&["SRANDMEMBER", key, &format!("-{}", 3 * n)])
                .as_strings();
            assert_eq!(got.len(), 3 * n);
            // Nothing is removed.
            assert_eq!(c.int(&["SCARD", key]), n as i64);
        }
        // Distribution: every member of a small set comes up, roughly evenly.
        let got = c.cmd(&["SRANDMEMBER", "small", "-5000"]).as_strings();
        let mut hist: HashMap<String, usize> = HashMap::new();
        for m in got {
            *hist.entry(m).or_default() += 1;
        }
        assert_eq!(hist.len(), 10);
        assert!(hist.values().all(|&n| n > 300), "{hist:?}");
        assert_eq!(
            c.err(&["SRANDMEMBER", "small", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(c.err(&["SRANDMEMBER", "small", "x"]), NOT_INT);
    });
}

#[test]
fn srandmember_refuses_absurd_negative_counts() {
    if common::skip_against_redis("the SRANDMEMBER reply size bound") {
        return;
    }
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["SADD", "s", "a", "b"]);
        // Redis would try to build a reply of 2^63 members; Tessera refuses
        // a reply beyond proto-max-bulk-len and stays up.
        assert_eq!(
            c.err(&["SRANDMEMBER", "s", "-9223372036854775807"]),
            "ERR value is out of range, the reply would exceed proto-max-bulk-len"
        );
        assert_eq!(c.cmd(&["SRANDMEMBER", "s", "-3"]).as_array().len(), 3);
        assert_eq!(c.int(&["SCARD", "s"]), 2);
    });
}

#[test]
fn sscan() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(
            c.cmd(&["SSCAN", "nokey", "0"]),
            Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])])
        );
        c.int(&["SADD", "small", "1", "2", "3"]);
        let r = c.cmd(&["SSCAN", "small", "0", "COUNT", "1"]);
        assert_eq!(r.as_array()[0], Reply::bulk("0"));
        assert_eq!(sorted(r.as_array()[1].clone()), strs(&["1", "2", "3"]));
        let r = c.cmd(&["SSCAN", "small", "0", "MATCH", "2*"]);
        assert_eq!(r.as_array()[1], Reply::bulks(&["2"]));
        for n in [50usize, 2000] {
            let key = format!("big{n}");
            let mut args = vec!["SADD".to_string(), key.clone()];
            args.extend((0..n).map(|i| format!("m{i}")));
            c.int(&args);
            for (pattern, want) in [
                ("*", n),
                (
                    "m1*",
                    (0..n).filter(|i| i.to_string().starts_with('1')).count(),
                ),
            ] {
                let mut seen = BTreeSet::new();
                let mut cursor = "0".to_string();
                let mut calls = 0;
                loop {
                    let r = c.cmd(&["SSCAN", &key, &cursor, "MATCH", pattern, "COUNT", "20"]);
                    let parts = r.as_array();
                    cursor = parts[0].as_string();
                    seen.extend(parts[1].as_strings());
                    calls += 1;
                    if cursor == "0" {
                        break;
                    }
                }
                assert_eq!(seen.len(), want, "{key} {pattern}");
                if n > 1000 {
                    assert!(calls > 10, "{calls} calls");
                }
            }
        }
        assert_eq!(c.err(&["SSCAN", "small", "x"]), "ERR invalid cursor");
        assert_eq!(c.err(&["SSCAN", "small", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(c.err(&["SSCAN", "small", "0", "COUNT", "x"]), NOT_INT);
        assert_eq!(c.err(&["SSCAN", "small", "0", "FOO", "x"]), SYNTAX);
        // Options are only read once the key exists, as in Redis.
        assert_eq!(c.cmd(&["SSCAN", "nokey", "0", "FOO"]).as_array().len(), 2);
        assert_eq!(c.err(&["SSCAN", "nokey", "x"]), "ERR invalid cursor");
    });
}

#[test]
fn smove() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["SADD", "a{t}", "1", "x", "y"]);
        c.int(&["SADD", "b{t}", "2", "3"]);
        assert_eq!(c.int(&["SMOVE", "a{t}", "b{t}", "x"]), 1);
        assert_eq!(members(&mut c, "a{t}"), strs(&["1", "y"]));
        assert_eq!(members(&mut c, "b{t}"), strs(&["2", "3", "x"]));
        assert_eq!(encoding(&mut c, "b{t}"), "hashtable");
        assert_eq!(c.int(&["SMOVE", "a{t}", "b{t}", "nope"]), 0);
        // To a new key; the source disappears once empty.
        assert_eq!(c.int(&["SMOVE", "a{t}", "c{t}", "1"]), 1);
        assert_eq!(encoding(&mut c, "c{t}"), "intset");
        assert_eq!(c.int(&["SMOVE", "a{t}", "c{t}", "y"]), 1);
        assert_eq!(c.int(&["EXISTS", "a{t}"]), 0);
        assert_eq!(members(&mut c, "c{t}"), strs(&["1", "y"]));
        // Already in the destination: removed from the source only.
        c.int(&["SADD", "a{t}", "1", "z"]);
        assert_eq!(c.int(&["SMOVE", "a{t}", "c{t}", "1"]), 1);
        assert_eq!(members(&mut c, "a{t}"), strs(&["z"]));
        // Same key: membership only.
        assert_eq!(c.int(&["SMOVE", "c{t}", "c{t}", "y"]), 1);
        assert_eq!(c.int(&["SMOVE", "c{t}", "c{t}", "q"]), 0);
        assert_eq!(members(&mut c, "c{t}"), strs(&["1", "y"]));
        // Types: a missing source wins over a wrong destination.
        c.ok(&["SET", "str{t}", "v"]);
        assert_eq!(c.int(&["SMOVE", "none{t}", "str{t}", "x"]), 0);
        assert_eq!(c.err(&["SMOVE", "str{t}", "c{t}", "x"]), WRONGTYPE);
        assert_eq!(c.err(&["SMOVE", "c{t}", "str{t}", "1"]), WRONGTYPE);
        assert_eq!(members(&mut c, "c{t}"), strs(&["1", "y"]));
    });
}

/// Sets for the algebra tests: a = 0..20, b = 10..30 plus "s", c = {5, 15, 25, s}.
fn algebra_fixture(c: &mut Client) {
    let mut a = vec!["SADD".to_string(), "a{t}".to_string()];
    a.extend((0..20).map(|i| i.to_string()));
    c.int(&a);
    let mut b = vec!["SADD".to_string(), "b{t}".to_string(), "s".to_string()];
    b.extend((10..30).map(|i| i.to_string()));
    c.int(&b);
    c.int(&["SADD", "c{t}", "5", "15", "25", "s"]);
    c.ok(&["SET", "str{t}", "v"]);
}

fn range(r: std::ops::Range<i32>) -> Vec<String> {
    let mut v: Vec<String> = r.map(|i| i.to_string()).collect();
    v.sort();
    v
}

#[test]
fn inter_union_diff() {
    for_threads(|s| {
        let mut c = s.client();
        algebra_fixture(&mut c);
        assert_eq!(sorted(c.cmd(&["SINTER", "a{t}", "b{t}"])), range(10..20));
        assert_eq!(
            sorted(c.cmd(&["SINTER", "a{t}", "b{t}", "c{t}"])),
            strs(&["15"])
        );
        assert_eq!(
            sorted(c.cmd(&["SINTER", "b{t}", "c{t}"])),
            strs(&["15", "25", "s"])
        );
        assert_eq!(sorted(c.cmd(&["SINTER", "a{t}"])), range(0..20));
        assert_eq!(sorted(c.cmd(&["SINTER", "a{t}", "a{t}"])), range(0..20));
        assert_eq!(c.cmd(&["SINTER", "a{t}", "none{t}"]), Reply::Array(vec![]));
        let mut want = range(0..30);
        want.push("s".into());
        want.sort();
        assert_eq!(sorted(c.cmd(&["SUNION", "a{t}", "b{t}", "none{t}"])), want);
        assert_eq!(c.cmd(&["SUNION", "none{t}"]), Reply::Array(vec![]));
        assert_eq!(sorted(c.cmd(&["SDIFF", "a{t}", "b{t}"])), range(0..10));
        let mut want = range(0..10);
        want.retain(|m| m != "5");
        assert_eq!(sorted(c.cmd(&["SDIFF", "a{t}", "b{t}", "c{t}"])), want);
        assert_eq!(c.cmd(&["SDIFF", "a{t}", "a{t}"]), Reply::Array(vec![]));
        assert_eq!(c.cmd(&["SDIFF", "none{t}", "a{t}"]), Reply::Array(vec![]));
        assert_eq!(
            sorted(c.cmd(&["SDIFF", "c{t}", "none{t}"])),
            strs(&["15", "25", "5", "s"])
        );
        // WRONGTYPE wins over a missing key, in any position.
        for cmd in ["SINTER", "SUNION", "SDIFF"] {
            assert_eq!(c.err(&[cmd, "str{t}", "none{t}"]), WRONGTYPE);
            assert_eq!(c.err(&[cmd, "none{t}", "str{t}"]), WRONGTYPE);
            assert_eq!(c.err(&[cmd, "a{t}", "str{t}"]), WRONGTYPE);
        }
    });
}

#[test]
fn store_variants() {
    for_threads(|s| {
        let mut c = s.client();
        algebra_fixture(&mut c);
        assert_eq!(c.int(&["SINTERSTORE", "d{t}", "a{t}", "b{t}"]), 10);
        assert_eq!(members(&mut c, "d{t}"), range(10..20));
        assert_eq!(encoding(&mut c, "d{t}"), "intset");
        assert_eq!(c.int(&["SINTERSTORE", "d{t}", "b{t}", "c{t}"]), 3);
        assert_eq!(encoding(&mut c, "d{t}"), "hashtable");
        assert_eq!(c.int(&["SUNIONSTORE", "d{t}", "a{t}", "c{t}"]), 22);
        assert_eq!(c.int(&["SDIFFSTORE", "d{t}", "a{t}", "b{t}"]), 10);
        assert_eq!(encoding(&mut c, "d{t}"), "intset");
        assert_eq!(members(&mut c, "d{t}"), range(0..10));
        // The destination may be a source.
        assert_eq!(c.int(&["SDIFFSTORE", "d{t}", "d{t}", "c{t}"]), 9);
        // Storing replaces any value and clears the TTL.
        c.ok(&["SET", "x{t}", "v"]);
        assert_eq!(c.int(&["EXPIRE", "x{t}", "100"]), 1);
        assert_eq!(c.int(&["SUNIONSTORE", "x{t}", "c{t}"]), 4);
        assert_eq!(c.int(&["TTL", "x{t}"]), -1);
        assert_eq!(c.cmd(&["TYPE", "x{t}"]), Reply::status("set"));
        // An empty result deletes the destination.
        for cmd in ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"] {
            c.int(&["SADD", "e{t}", "old"]);
            assert_eq!(c.int(&[cmd, "e{t}", "none{t}", "none2{t}"]), 0);
            assert_eq!(c.int(&["EXISTS", "e{t}"]), 0, "{cmd}");
        }
        c.int(&["SADD", "e{t}", "old"]);
        assert_eq!(c.int(&["SINTERSTORE", "e{t}", "a{t}", "none{t}"]), 0);
        assert_eq!(c.int(&["EXISTS", "e{t}"]), 0);
        // A wrong type leaves the destination alone.
        c.int(&["SADD", "e{t}", "keep"]);
        for cmd in ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"] {
            assert_eq!(c.err(&[cmd, "e{t}", "a{t}", "str{t}"]), WRONGTYPE);
            assert_eq!(c.err(&[cmd, "e{t}", "none{t}", "str{t}"]), WRONGTYPE);
            assert_eq!(members(&mut c, "e{t}"), strs(&["keep"]));
        }
    });
}

#[test]
fn sintercard() {
    for_threads(|s| {
        let mut c = s.client();
        algebra_fixture(&mut c);
        assert_eq!(c.int(&["SINTERCARD", "2", "a{t}", "b{t}"]), 10);
        assert_eq!(
            c.int(&["SINTERCARD", "2", "a{t}", "b{t}", "LIMIT", "0"]),
            10
        );
        assert_eq!(c.int(&["SINTERCARD", "2", "a{t}", "b{t}", "limit", "4"]), 4);
        assert_eq!(
            c.int(&["SINTERCARD", "2", "a{t}", "b{t}", "LIMIT", "100"]),
            10
        );
        assert_eq!(c.int(&["SINTERCARD", "3", "a{t}", "b{t}", "c{t}"]), 1);
        assert_eq!(c.int(&["SINTERCARD", "1", "none{t}"]), 0);
        assert_eq!(c.int(&["SINTERCARD", "2", "a{t}", "none{t}"]), 0);
        let numkeys = "ERR numkeys should be greater than 0";
        assert_eq!(c.err(&["SINTERCARD", "0", "a{t}"]), numkeys);
        assert_eq!(c.err(&["SINTERCARD", "-1", "a{t}"]), numkeys);
        assert_eq!(c.err(&["SINTERCARD", "x", "a{t}"]), numkeys);
        let too_many = "ERR Number of keys can't be greater than number of args";
        assert_eq!(c.err(&["SINTERCARD", "2", "a{t}"]), too_many);
        assert_eq!(c.err(&["SINTERCARD", "1", "a{t}", "b{t}"]), SYNTAX);
        assert_eq!(c.err(&["SINTERCARD", "1", "a{t}", "LIMIT"]), SYNTAX);
        let limit = "ERR LIMIT can't be negative";
        assert_eq!(c.err(&["SINTERCARD", "1", "a{t}", "LIMIT", "-1"]), limit);
        assert_eq!(c.err(&["SINTERCARD", "1", "a{t}", "LIMIT", "x"]), limit);
        assert_eq!(c.err(&["SINTERCARD", "1", "str{t}"]), WRONGTYPE);
        assert_eq!(c.err(&["SINTERCARD", "2", "none{t}", "str{t}"]), WRONGTYPE);
    });
}

#[test]
fn command_getkeys_for_sintercard() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(
            c.cmd(&[
                "COMMAND",
                "GETKEYS",
                "SINTERCARD",
                "2",
                "a",
                "b",
                "LIMIT",
                "1"
            ]),
            Reply::bulks(&["a", "b"])
        );
    });
}

/// Sends `args` and reads raw reply bytes until `want` bytes arrived.
fn raw(c: &mut Client, args: &[&str], want: usize) -> Vec<u8> {
    c.send(&encode(args));
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = c.stream();
    let mut buf = [0u8; 4096];
    while got.len() < want && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    got
}

#[test]
fn resp3_shapes() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["SADD", "s", "a"]);
        c.int(&["SADD", "t", "7"]);
        // Skip the HELLO map: read until it stops arriving.
        c.send(&encode(&["HELLO", "3"]));
        std::thread::sleep(Duration::from_millis(200));
        c.set_timeout(Duration::from_millis(300));
        let mut sink = [0u8; 4096];
        let _ = c.stream().read(&mut sink);
        c.set_timeout(Duration::from_secs(10));
        let cases: &[(&[&str], &[u8])] = &[
            (&["SMEMBERS", "s"], b"~1\r\n$1\r\na\r\n"),
            (&["SMEMBERS", "none"], b"~0\r\n"),
            (&["SINTER", "s"], b"~1\r\n$1\r\na\r\n"),
            (&["SUNION", "t"], b"~1\r\n$1\r\n7\r\n"),
            (&["SDIFF", "none"], b"~0\r\n"),
            (&["SPOP", "none"], b"_\r\n"),
            (&["SPOP", "none", "2"], b"~0\r\n"),
            (&["SRANDMEMBER", "none"], b"_\r\n"),
            (&["SRANDMEMBER", "none", "2"], b"*0\r\n"),
            (&["SRANDMEMBER", "s", "2"], b"*1\r\n$1\r\na\r\n"),
            (&["SMISMEMBER", "s", "a"], b"*1\r\n:1\r\n"),
            (&["SSCAN", "t", "0"], b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\n7\r\n"),
            (&["SPOP", "s", "5"], b"~1\r\n$1\r\na\r\n"),
        ];
        for (args, want) in cases {
            assert_eq!(
                String::from_utf8_lossy(&raw(&mut c, args, want.len())),
                String::from_utf8_lossy(want),
                "{args:?}"
            );
        }
    });
}

#[test]
fn copy_and_rename_keep_members() {
    for_threads(|s| {
        let mut c = s.client();
        let mut args = vec!["SADD".to_string(), "src{t}".to_string()];
        args.extend((0..300).map(|i| format!("m{i}")));
        c.int(&args);
        c.int(&["SADD", "ints{t}", "1", "2", "3"]);
        assert_eq!(c.int(&["COPY", "src{t}", "dst{t}"]), 1);
        assert_eq!(c.int(&["COPY", "ints{t}", "ints2{t}"]), 1);
        c.int(&["SREM", "src{t}", "m0"]);
        c.int(&["SREM", "ints{t}", "1"]);
        assert_eq!(c.int(&["SCARD", "dst{t}"]), 300);
        assert_eq!(c.int(&["SISMEMBER", "dst{t}", "m0"]), 1);
        assert_eq!(members(&mut c, "ints2{t}"), strs(&["1", "2", "3"]));
        assert_eq!(encoding(&mut c, "ints2{t}"), "intset");
    });
}
