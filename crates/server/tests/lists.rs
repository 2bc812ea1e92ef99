//! List commands: LPUSH/RPUSH and the X variants, LPOP/RPOP with counts,
//! LLEN, LINDEX, LINSERT, LRANGE, LREM, LSET, LTRIM, LPOS, RPOPLPUSH and
//! LMOVE — replies, RESP3 nulls and error strings as Redis 7.0 gives them.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};

use common::{for_threads, Client, Reply};

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

fn range(c: &mut Client, key: &str) -> Vec<String> {
    c.cmd(&["LRANGE", key, "0", "-1"]).as_strings()
}

#[test]
fn push_and_pop_at_both_ends() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["RPUSH", "l", "a", "b", "c"]), 3);
        assert_eq!(c.int(&["LPUSH", "l", "x", "y"]), 5);
        assert_eq!(range(&mut c, "l"), ["y", "x", "a", "b", "c"]);
        assert_eq!(c.int(&["LLEN", "l"]), 5);
        assert_eq!(c.int(&["LLEN", "nosuch"]), 0);
        assert_eq!(c.cmd(&["LPOP", "l"]), Reply::bulk("y"));
        assert_eq!(c.cmd(&["RPOP", "l"]), Reply::bulk("c"));
        assert_eq!(c.cmd(&["LPOP", "nosuch"]), Reply::Nil);
        assert_eq!(c.cmd(&["RPOP", "nosuch"]), Reply::Nil);
        // Integers and near-integers come back as the bytes that were sent.
        c.int(&["RPUSH", "n", "12", "-0", "007", "-9223372036854775808", ""]);
        c.int(&["RPUSH", "n", "9223372036854775808", " 1"]);
        assert_eq!(
            range(&mut c, "n"),
            [
                "12",
                "-0",
                "007",
                "-9223372036854775808",
                "",
                "9223372036854775808",
                " 1"
            ]
        );
        // The last pop deletes the key.
        assert_eq!(c.cmd(&["LPOP", "l"]), Reply::bulk("x"));
        assert_eq!(c.cmd(&["LPOP", "l"]), Reply::bulk("a"));
        assert_eq!(c.cmd(&["RPOP", "l"]), Reply::bulk("b"));
        assert_eq!(c.int(&["EXISTS", "l"]), 0);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "n"]),
            Reply::bulk("quicklist")
        );
        assert_eq!(c.cmd(&["TYPE", "n"]), Reply::status("list"));
    });
}

#[test]
fn pushx_only_on_existing_lists() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["LPUSHX", "l", "a"]), 0);
        assert_eq!(c.int(&["RPUSHX", "l", "a", "b"]), 0);
        assert_eq!(c.int(&["EXISTS", "l"]), 0);
        c.int(&["RPUSH", "l", "m"]);
        assert_eq!(c.int(&["LPUSHX", "l", "a", "b"]), 3);
        assert_eq!(c.int(&["RPUSHX", "l", "y", "z"]), 5);
        assert_eq!(range(&mut c, "l"), ["b", "a", "m", "y", "z"]);
        c.ok(&["SET", "s", "v"]);
        assert_eq!(c.err(&["LPUSHX", "s", "a"]), WRONGTYPE);
    });
}

#[test]
fn pop_with_count() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "l", "a", "b", "c", "d", "e"]);
        assert_eq!(c.cmd(&["LPOP", "l", "2"]), Reply::bulks(&["a", "b"]));
        assert_eq!(c.cmd(&["RPOP", "l", "2"]), Reply::bulks(&["e", "d"]));
        assert_eq!(c.cmd(&["LPOP", "l", "0"]), Reply::Array(vec![]));
        assert_eq!(c.cmd(&["RPOP", "l", "0"]), Reply::Array(vec![]));
        assert_eq!(c.cmd(&["LPOP", "nosuch", "0"]), Reply::NilArray);
        assert_eq!(c.cmd(&["RPOP", "nosuch", "3"]), Reply::NilArray);
        assert_eq!(c.err(&["LPOP", "l", "-1"]), NOT_POSITIVE);
        assert_eq!(c.err(&["RPOP", "l", "x"]), NOT_POSITIVE);
        assert_eq!(c.err(&["LPOP", "nosuch", "-1"]), NOT_POSITIVE);
        assert_eq!(
            c.err(&["LPOP", "l", "1", "2"]),
            "ERR wrong number of arguments for 'lpop' command"
        );
        // More than there is: everything, and the key goes.
        assert_eq!(
            c.cmd(&["LPOP", "l", "9223372036854775807"]),
            Reply::bulks(&["c"])
        );
        assert_eq!(c.int(&["EXISTS", "l"]), 0);
        c.int(&["RPUSH", "l", "1", "2", "3"]);
        assert_eq!(c.cmd(&["RPOP", "l", "10"]), Reply::bulks(&["3", "2", "1"]));
        assert_eq!(c.int(&["EXISTS", "l"]), 0);
    });
}

#[test]
fn lindex_and_lset() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "l", "a", "b", "c"]);
        assert_eq!(c.cmd(&["LINDEX", "l", "0"]), Reply::bulk("a"));
        assert_eq!(c.cmd(&["LINDEX", "l", "-1"]), Reply::bulk("c"));
        assert_eq!(c.cmd(&["LINDEX", "l", "-3"]), Reply::bulk("a"));
        assert_eq!(c.cmd(&["LINDEX", "l", "3"]), Reply::Nil);
        assert_eq!(c.cmd(&["LINDEX", "l", "-4"]), Reply::Nil);
        assert_eq!(c.cmd(&["LINDEX", "l", "-9223372036854775808"]), Reply::Nil);
        assert_eq!(c.cmd(&["LINDEX", "nosuch", "0"]), Reply::Nil);
        assert_eq!(c.err(&["LINDEX", "l", "x"]), NOT_INT);

        c.ok(&["LSET", "l", "1", "B"]);
        c.ok(&["LSET", "l", "-1", "42"]);
        assert_eq!(range(&mut c, "l"), ["a", "B", "42"]);
        assert_eq!(c.err(&["LSET", "l", "3", "x"]), "ERR index out of range");
        assert_eq!(c.err(&["LSET", "l", "-4", "x"]), "ERR index out of range");
        assert_eq!(c.err(&["LSET", "l", "x", "x"]), NOT_INT);
        assert_eq!(c.err(&["LSET", "nosuch", "0", "x"]), "ERR no such key");
        c.ok(&["SET", "s", "v"]);
        assert_eq!(c.err(&["LSET", "s", "0", "x"]), WRONGTYPE);
        assert_eq!(c.err(&["LINDEX", "s", "0"]), WRONGTYPE);
    });
}

#[test]
fn lrange_clamps_indexes() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "l", "0", "1", "2", "3", "4", "5"]);
        let r = |c: &mut Client, a: &str, b: &str| c.cmd(&["LRANGE", "l", a, b]).as_strings();
        assert_eq!(r(&mut c, "1", "3"), ["1", "2", "3"]);
        assert_eq!(r(&mut c, "-2", "-1"), ["4", "5"]);
        assert_eq!(r(&mut c, "-100", "1"), ["0", "1"]);
        assert_eq!(r(&mut c, "4", "100"), ["4", "5"]);
        assert_eq!(
            r(&mut c, "0", "9223372036854775807"),
            ["0", "1", "2", "3", "4", "5"]
        );
        assert_eq!(
            r(&mut c, "-9223372036854775808", "9223372036854775807").len(),
            6
        );
        assert!(r(&mut c, "3", "2").is_empty());
        assert!(r(&mut c, "6", "10").is_empty());
        assert!(r(&mut c, "0", "-7").is_empty());
        assert_eq!(
            c.cmd(&["LRANGE", "nosuch", "0", "-1"]),
            Reply::Array(vec![])
        );
        assert_eq!(c.err(&["LRANGE", "l", "a", "1"]), NOT_INT);
        assert_eq!(c.err(&["LRANGE", "l", "0", "1.5"]), NOT_INT);
    });
}

#[test]
fn linsert() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "l", "a", "b", "c", "b"]);
        assert_eq!(c.int(&["LINSERT", "l", "BEFORE", "b", "x"]), 5);
        assert_eq!(c.int(&["LINSERT", "l", "after", "b", "y"]), 6);
        assert_eq!(c.int(&["LINSERT", "l", "after", "c", "1"]), 7);
        assert_eq!(range(&mut c, "l"), ["a", "x", "b", "y", "c", "1", "b"]);
        assert_eq!(c.int(&["LINSERT", "l", "before", "zz", "q"]), -1);
        assert_eq!(c.int(&["LINSERT", "l", "before", "1", "0"]), 8);
        assert_eq!(c.cmd(&["LINDEX", "l", "5"]), Reply::bulk("0"));
        assert_eq!(c.int(&["LINSERT", "nosuch", "before", "a", "b"]), 0);
        assert_eq!(c.err(&["LINSERT", "l", "middle", "a", "b"]), SYNTAX);
        assert_eq!(c.err(&["LINSERT", "nosuch", "middle", "a", "b"]), SYNTAX);
        c.ok(&["SET", "s", "v"]);
        assert_eq!(c.err(&["LINSERT", "s", "before", "a", "b"]), WRONGTYPE);
    });
}

#[test]
fn lrem_in_both_directions() {
    for_threads(|s| {
        let mut c = s.client();
        let fill = |c: &mut Client| {
            c.cmd(&["DEL", "l"]);
            c.int(&["RPUSH", "l", "a", "1", "b", "a", "1", "c", "a"]);
        };
        fill(&mut c);
        assert_eq!(c.int(&["LREM", "l", "0", "a"]), 3);
        assert_eq!(range(&mut c, "l"), ["1", "b", "1", "c"]);
        assert_eq!(c.int(&["LREM", "l", "1", "1"]), 1);
        assert_eq!(range(&mut c, "l"), ["b", "1", "c"]);
        fill(&mut c);
        assert_eq!(c.int(&["LREM", "l", "-2", "a"]), 2);
        assert_eq!(range(&mut c, "l"), ["a", "1", "b", "1", "c"]);
        assert_eq!(c.int(&["LREM", "l", "-9223372036854775808", "1"]), 2);
        assert_eq!(c.int(&["LREM", "l", "5", "zz"]), 0);
        assert_eq!(c.int(&["LREM", "nosuch", "0", "a"]), 0);
        assert_eq!(c.err(&["LREM", "l", "x", "a"]), NOT_INT);
        // Removing everything deletes the key.
        c.int(&["RPUSH", "e", "q", "q"]);
        assert_eq!(c.int(&["LREM", "e", "0", "q"]), 2);
        assert_eq!(c.int(&["EXISTS", "e"]), 0);
    });
}

#[test]
fn ltrim() {
    for_threads(|s| {
        let mut c = s.client();
        let fill = |c: &mut Client| {
            c.cmd(&["DEL", "l"]);
            c.int(&["RPUSH", "l", "0", "1", "2", "3", "4", "5"]);
        };
        fill(&mut c);
        c.ok(&["LTRIM", "l", "1", "-2"]);
        assert_eq!(range(&mut c, "l"), ["1", "2", "3", "4"]);
        c.ok(&["LTRIM", "l", "-100", "100"]);
        assert_eq!(range(&mut c, "l"), ["1", "2", "3", "4"]);
        c.ok(&["LTRIM", "l", "0", "0"]);
        assert_eq!(range(&mut c, "l"), ["1"]);
        fill(&mut c);
        c.ok(&["LTRIM", "l", "4", "2"]);
        assert_eq!(c.int(&["EXISTS", "l"]), 0);
        fill(&mut c);
        c.ok(&["LTRIM", "l", "6", "100"]);
        assert_eq!(c.int(&["EXISTS", "l"]), 0);
        c.ok(&["LTRIM", "nosuch", "0", "1"]);
        assert_eq!(c.err(&["LTRIM", "l", "a", "1"]), NOT_INT);
        c.ok(&["SET", "s", "v"]);
        assert_eq!(c.err(&["LTRIM", "s", "0", "1"]), WRONGTYPE);
    });
}

#[test]
fn lpos_options_and_errors() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"]);
        assert_eq!(c.int(&["LPOS", "l", "c"]), 2);
        assert_eq!(c.int(&["LPOS", "l", "1"]), 3);
        assert_eq!(c.cmd(&["LPOS", "l", "zz"]), Reply::Nil);
        assert_eq!(c.int(&["LPOS", "l", "c", "RANK", "2"]), 6);
        assert_eq!(c.int(&["LPOS", "l", "c", "RANK", "-1"]), 7);
        assert_eq!(c.int(&["LPOS", "l", "c", "RANK", "-3"]), 2);
        assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "4"]), Reply::Nil);
        let ints = |v: &[i64]| Reply::Array(v.iter().map(|&n| Reply::Int(n)).collect());
        assert_eq!(c.cmd(&["LPOS", "l", "c", "COUNT", "0"]), ints(&[2, 6, 7]));
        assert_eq!(c.cmd(&["LPOS", "l", "c", "COUNT", "2"]), ints(&[2, 6]));
        assert_eq!(
            c.cmd(&["LPOS", "l", "c", "COUNT", "0", "RANK", "-1"]),
            ints(&[7, 6, 2])
        );
        assert_eq!(
            c.cmd(&["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "7"]),
            ints(&[2, 6])
        );
        assert_eq!(
            c.cmd(&["LPOS", "l", "c", "RANK", "-1", "MAXLEN", "1", "COUNT", "0"]),
            ints(&[7])
        );
        assert_eq!(c.cmd(&["LPOS", "l", "zz", "COUNT", "0"]), ints(&[]));
        assert_eq!(c.cmd(&["LPOS", "nosuch", "a", "COUNT", "0"]), ints(&[]));
        assert_eq!(c.cmd(&["LPOS", "nosuch", "a"]), Reply::Nil);
        assert_eq!(
            c.int(&["LPOS", "l", "c", "RANK", "-9223372036854775808"]),
            7
        );
        assert_eq!(
            c.err(&["LPOS", "l", "c", "RANK", "0"]),
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
             second ... or use negative to start from the end of the list"
        );
        assert_eq!(c.err(&["LPOS", "l", "c", "RANK", "x"]), NOT_INT);
        assert_eq!(
            c.err(&["LPOS", "l", "c", "COUNT", "-1"]),
            "ERR COUNT can't be negative"
        );
        assert_eq!(
            c.err(&["LPOS", "l", "c", "COUNT", "x"]),
            "ERR COUNT can't be negative"
        );
        assert_eq!(
            c.err(&["LPOS", "l", "c", "MAXLEN", "-1"]),
            "ERR MAXLEN can't be negative"
        );
        assert_eq!(c.err(&["LPOS", "l", "c", "RANK"]), SYNTAX);
        assert_eq!(c.err(&["LPOS", "l", "c", "FOO", "1"]), SYNTAX);
        c.ok(&["SET", "s", "v"]);
        assert_eq!(c.err(&["LPOS", "s", "c"]), WRONGTYPE);
    });
}

#[test]
fn lmove_and_rpoplpush_on_one_shard() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "{t}a", "1", "2", "3"]);
        assert_eq!(c.cmd(&["RPOPLPUSH", "{t}a", "{t}b"]), Reply::bulk("3"));
        assert_eq!(
            c.cmd(&["LMOVE", "{t}a", "{t}b", "LEFT", "RIGHT"]),
            Reply::bulk("1")
        );
        assert_eq!(range(&mut c, "{t}b"), ["3", "1"]);
        assert_eq!(
            c.cmd(&["LMOVE", "{t}a", "{t}b", "right", "left"]),
            Reply::bulk("2")
        );
        assert_eq!(c.int(&["EXISTS", "{t}a"]), 0);
        assert_eq!(range(&mut c, "{t}b"), ["2", "3", "1"]);
        // Rotation on one key.
        assert_eq!(c.cmd(&["RPOPLPUSH", "{t}b", "{t}b"]), Reply::bulk("1"));
        assert_eq!(range(&mut c, "{t}b"), ["1", "2", "3"]);
        assert_eq!(
            c.cmd(&["LMOVE", "{t}b", "{t}b", "LEFT", "RIGHT"]),
            Reply::bulk("1")
        );
        assert_eq!(range(&mut c, "{t}b"), ["2", "3", "1"]);
        // A missing source: null, whatever the destination holds.
        c.ok(&["SET", "{t}s", "v"]);
        assert_eq!(c.cmd(&["RPOPLPUSH", "{t}none", "{t}s"]), Reply::Nil);
        assert_eq!(
            c.cmd(&["LMOVE", "{t}none", "{t}b", "LEFT", "LEFT"]),
            Reply::Nil
        );
        // A destination of another type: nothing is popped.
        assert_eq!(c.err(&["RPOPLPUSH", "{t}b", "{t}s"]), WRONGTYPE);
        assert_eq!(c.err(&["RPOPLPUSH", "{t}s", "{t}b"]), WRONGTYPE);
        assert_eq!(c.int(&["LLEN", "{t}b"]), 3);
        assert_eq!(c.err(&["LMOVE", "{t}b", "{t}c", "UP", "LEFT"]), SYNTAX);
        assert_eq!(c.err(&["LMOVE", "{t}b", "{t}c", "LEFT", "DOWN"]), SYNTAX);
        // The moved element keeps its exact bytes.
        c.int(&["RPUSH", "{t}n", "-0", "42"]);
        assert_eq!(c.cmd(&["RPOPLPUSH", "{t}n", "{t}m"]), Reply::bulk("42"));
        assert_eq!(
            c.cmd(&["LMOVE", "{t}n", "{t}m", "LEFT", "RIGHT"]),
            Reply::bulk("-0")
        );
        assert_eq!(range(&mut c, "{t}m"), ["42", "-0"]);
    });
}

#[test]
fn lmpop_on_one_shard() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "{t}b", "1", "2", "3"]);
        let popped =
            |key: &str, items: &[&str]| Reply::Array(vec![Reply::bulk(key), Reply::bulks(items)]);
        assert_eq!(
            c.cmd(&["LMPOP", "2", "{t}a", "{t}b", "RIGHT", "COUNT", "2"]),
            popped("{t}b", &["3", "2"])
        );
        c.int(&["RPUSH", "{t}a", "x"]);
        assert_eq!(
            c.cmd(&["LMPOP", "2", "{t}a", "{t}b", "left", "count", "10"]),
            popped("{t}a", &["x"])
        );
        assert_eq!(
            c.cmd(&["LMPOP", "2", "{t}a", "{t}b", "LEFT"]),
            popped("{t}b", &["1"])
        );
        assert_eq!(c.int(&["EXISTS", "{t}a", "{t}b"]), 0);
        assert_eq!(
            c.cmd(&["LMPOP", "2", "{t}a", "{t}b", "LEFT"]),
            Reply::NilArray
        );
        const NUMKEYS: &str = "ERR numkeys should be greater than 0";
        const COUNT: &str = "ERR count should be greater than 0";
        assert_eq!(c.err(&["LMPOP", "0", "a", "LEFT"]), NUMKEYS);
        assert_eq!(c.err(&["LMPOP", "-1", "a", "LEFT"]), NUMKEYS);
        assert_eq!(c.err(&["LMPOP", "x", "a", "LEFT"]), NUMKEYS);
        assert_eq!(c.err(&["LMPOP", "2", "a", "LEFT"]), SYNTAX);
        assert_eq!(c.err(&["LMPOP", "1", "a", "UP"]), SYNTAX);
        assert_eq!(c.err(&["LMPOP", "1", "a", "LEFT", "COUNT", "0"]), COUNT);
        assert_eq!(c.err(&["LMPOP", "1", "a", "LEFT", "COUNT", "x"]), COUNT);
        assert_eq!(c.err(&["LMPOP", "1", "a", "LEFT", "COUNT"]), SYNTAX);
        assert_eq!(c.err(&["LMPOP", "1", "a", "LEFT", "FOO"]), SYNTAX);
        assert_eq!(
            c.err(&["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "2"]),
            SYNTAX
        );
        c.ok(&["SET", "{t}s", "v"]);
        c.int(&["RPUSH", "{t}l", "v"]);
        assert_eq!(c.err(&["LMPOP", "2", "{t}s", "{t}l", "LEFT"]), WRONGTYPE);
        assert_eq!(
            c.cmd(&["LMPOP", "2", "{t}l", "{t}s", "LEFT"]),
            popped("{t}l", &["v"])
        );
    });
}

#[test]
fn wrong_type_everywhere() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "s", "v"]);
        for cmd in [
            &["LPUSH", "s", "a"][..],
            &["RPUSH", "s", "a"],
            &["RPUSHX", "s", "a"],
            &["LPOP", "s"],
            &["RPOP", "s", "2"],
            &["LLEN", "s"],
            &["LRANGE", "s", "0", "-1"],
            &["LREM", "s", "0", "a"],
        ] {
            assert_eq!(c.err(cmd), WRONGTYPE, "{cmd:?}");
        }
        assert_eq!(c.cmd(&["GET", "s"]), Reply::bulk("v"));
        c.int(&["RPUSH", "l", "a"]);
        assert_eq!(c.err(&["GET", "l"]), WRONGTYPE);
    });
}

/// Asserts two long lists are equal, naming the first difference only.
fn same(got: &[String], want: &[String], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: first difference at {i}: {:.40} vs {:.40}",
            got[i], want[i]
        );
    }
}

/// Long lists cross many nodes: every index and range agrees with a model,
/// at several node sizes, with big elements mixed in.
#[test]
fn long_lists_match_a_model() {
    for_threads(|s| {
        let mut c = s.client();
        for fill in ["-2", "4", "-1", "1"] {
            c.ok(&["CONFIG", "SET", "list-max-ziplist-size", fill]);
            c.cmd(&["DEL", "big"]);
            let mut model: Vec<String> = Vec::new();
            for i in 0..300 {
                let v = match i % 7 {
                    0 => i.to_string(),
                    1 => "x".repeat(i * 40),
                    _ => format!("item-{i}"),
                };
                if i % 3 == 0 {
                    c.int(&["LPUSH", "big", &v]);
                    model.insert(0, v);
                } else {
                    c.int(&["RPUSH", "big", &v]);
                    model.push(v);
                }
            }
            same(&range(&mut c, "big"), &model, fill);
            for i in [0usize, 1, 57, 150, 298, 299] {
                let got = c.cmd(&["LINDEX", "big", &i.to_string()]);
                assert_eq!(got, Reply::bulk(&model[i]), "fill {fill} index {i}");
                let neg = format!("-{}", model.len() - i);
                assert_eq!(c.cmd(&["LINDEX", "big", &neg]), Reply::bulk(&model[i]));
            }
            let got = c.cmd(&["LRANGE", "big", "100", "-100"]).as_strings();
            same(&got, &model[100..201], fill);
            c.ok(&["LSET", "big", "120", &"y".repeat(10_000)]);
            model[120] = "y".repeat(10_000);
            let pivot = model[200].clone();
            assert_eq!(c.int(&["LINSERT", "big", "AFTER", &pivot, "ins"]), 301);
            model.insert(201, "ins".into());
            same(&range(&mut c, "big"), &model, fill);
            c.ok(&["LTRIM", "big", "10", "-10"]);
            model = model[10..model.len() - 9].to_vec();
            same(&range(&mut c, "big"), &model, fill);
            assert_eq!(c.int(&["LPOS", "big", "ins"]), 191);
        }
        c.ok(&["CONFIG", "SET", "list-max-ziplist-size", "-2"]);
    });
}

/// Sends one command in RESP3 and reads exactly `want.len()` bytes back.
fn raw(s: &mut std::net::TcpStream, cmd: &str, want: &[u8]) {
    s.write_all(cmd.as_bytes()).unwrap();
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(want),
        "{cmd}"
    );
}

#[test]
fn resp3_nulls() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "l", "a"]);
        let mut t = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        t.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        // Switch to RESP3, then drain the greeting with a PING behind it.
        t.write_all(b"HELLO 3\r\nPING\r\n").unwrap();
        let mut greeting = Vec::new();
        let mut buf = [0u8; 1024];
        while !greeting.ends_with(b"+PONG\r\n") {
            let n = t.read(&mut buf).unwrap();
            assert!(n > 0);
            greeting.extend_from_slice(&buf[..n]);
        }
        raw(&mut t, "LPOP nosuch\r\n", b"_\r\n");
        raw(&mut t, "LPOP nosuch 2\r\n", b"_\r\n");
        raw(&mut t, "RPOP nosuch 0\r\n", b"_\r\n");
        raw(&mut t, "LINDEX l 5\r\n", b"_\r\n");
        raw(&mut t, "LPOS l z\r\n", b"_\r\n");
        raw(&mut t, "RPOPLPUSH {t}x {t}y\r\n", b"_\r\n");
        raw(&mut t, "LPOP l 0\r\n", b"*0\r\n");
        raw(&mut t, "LPOP l 5\r\n", b"*1\r\n$1\r\na\r\n");
    });
}
