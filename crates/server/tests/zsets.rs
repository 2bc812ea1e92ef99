//! Sorted set commands: ZADD and its options, scores, the ZRANGE family (rank, score,
//! lex, REV, LIMIT, WITHSCORES), removals, pops, ZRANDMEMBER, ZSCAN, the set operations
//! and their *STORE forms, both encodings, RESP3 reply shapes — replies and error strings
//! as Redis 7.0 gives them.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{encode, for_threads, Client, Reply};

const SYNTAX: &str = "ERR syntax error";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const SCORE_RANGE: &str = "ERR min or max is not a float";
const LEX_RANGE: &str = "ERR min or max not valid string range item";

fn strings(r: &Reply) -> Vec<String> {
    r.as_strings()
}

/// `ZRANGE key 0 -1 WITHSCORES` as "m s m s ..." text.
fn dump(c: &mut Client, key: &str) -> String {
    strings(&c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])).join(" ")
}

#[test]
fn zadd_options_and_errors() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]), 3);
        assert_eq!(c.int(&["ZADD", "z", "1", "a", "5", "d"]), 1);
        assert_eq!(
            c.int(&["ZADD", "z", "CH", "10", "a", "5", "d", "6", "e"]),
            2
        );
        assert_eq!(c.int(&["ZADD", "z", "NX", "0", "a", "7", "f"]), 1);
        assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), Reply::bulk("10"));
        assert_eq!(c.int(&["ZADD", "z", "XX", "CH", "11", "a", "1", "nope"]), 1);
        assert_eq!(c.cmd(&["ZSCORE", "z", "nope"]), Reply::Nil);
        // GT / LT only move scores one way, and still add new members.
        assert_eq!(c.int(&["ZADD", "z", "GT", "CH", "1", "a", "1", "g"]), 1);
        assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), Reply::bulk("11"));
        assert_eq!(c.int(&["ZADD", "z", "LT", "CH", "1", "a"]), 1);
        assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), Reply::bulk("1"));
        // INCR
        assert_eq!(
            c.cmd(&["ZADD", "z", "INCR", "2.5", "a"]),
            Reply::bulk("3.5")
        );
        assert_eq!(c.cmd(&["ZADD", "z", "NX", "INCR", "1", "a"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZADD", "z", "XX", "INCR", "1", "new"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZADD", "z", "GT", "INCR", "-1", "a"]), Reply::Nil);
        assert_eq!(
            c.cmd(&["ZADD", "nokey", "XX", "INCR", "1", "a"]),
            Reply::Nil
        );
        assert_eq!(c.int(&["ZADD", "nokey", "XX", "1", "a"]), 0);
        assert_eq!(c.int(&["EXISTS", "nokey"]), 0);

        let errs = [
            (
                vec!["ZADD", "z", "NX", "XX", "1", "a"],
                "ERR XX and NX options at the same time are not compatible",
            ),
            (
                vec!["ZADD", "z", "GT", "LT", "1", "a"],
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                vec!["ZADD", "z", "NX", "GT", "1", "a"],
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                vec!["ZADD", "z", "INCR", "1", "a", "2", "b"],
                "ERR INCR option supports a single increment-element pair",
            ),
            (vec!["ZADD", "z", "1", "a", "2"], SYNTAX),
            (vec!["ZADD", "z", "NX", "1"], SYNTAX),
            (vec!["ZADD", "z", "nan", "a"], NOT_FLOAT),
            (vec!["ZADD", "z", "", "a"], NOT_FLOAT),
            (vec!["ZADD", "z", "1", "a", "x", "b"], NOT_FLOAT),
            (
                vec!["ZADD", "z", "1"],
                "ERR wrong number of arguments for 'zadd' command",
            ),
        ];
        for (cmd, e) in errs {
            assert_eq!(c.err(&cmd), e, "{cmd:?}");
        }
        // A bad score anywhere adds nothing.
        assert_eq!(c.int(&["EXISTS", "b"]), 0);
        assert_eq!(c.cmd(&["ZSCORE", "z", "x"]), Reply::Nil);
        // inf - inf is refused and leaves the score alone.
        c.cmd(&["ZADD", "i", "+inf", "m"]);
        assert_eq!(
            c.err(&["ZINCRBY", "i", "-inf", "m"]),
            "ERR resulting score is not a number (NaN)"
        );
        assert_eq!(
            c.err(&["ZADD", "i", "INCR", "-inf", "m"]),
            "ERR resulting score is not a number (NaN)"
        );
        assert_eq!(c.cmd(&["ZSCORE", "i", "m"]), Reply::bulk("inf"));
        c.ok(&["SET", "str", "x"]);
        assert_eq!(c.err(&["ZADD", "str", "1", "a"]), WRONGTYPE);
        assert_eq!(c.err(&["ZSCORE", "str", "a"]), WRONGTYPE);
        assert_eq!(c.err(&["ZRANGE", "str", "0", "-1"]), WRONGTYPE);
    });
}

#[test]
fn scores_print_like_redis() {
    for_threads(|s| {
        let mut c = s.client();
        let cases = [
            ("1", "1"),
            ("1.5", "1.5"),
            ("0.1", "0.10000000000000001"),
            ("-0", "0"),
            ("1e20", "1e+20"),
            ("123456789012345678", "1.2345678901234568e+17"),
            ("-inf", "-inf"),
            ("+inf", "inf"),
            ("3.0e-5", "3.0000000000000001e-05"),
            ("9007199254740993", "9007199254740992"),
        ];
        for (i, (input, out)) in cases.iter().enumerate() {
            let m = format!("m{i}");
            c.int(&["ZADD", "z", input, &m]);
            assert_eq!(c.cmd(&["ZSCORE", "z", &m]), Reply::bulk(out), "{input}");
            c.int(&["ZADD", "big", input, &m]);
        }
        assert_eq!(
            c.cmd(&["ZINCRBY", "z", "0.2", "m2"]),
            Reply::bulk("0.30000000000000004")
        );
        assert_eq!(c.cmd(&["ZINCRBY", "new", "2", "m"]), Reply::bulk("2"));
        assert_eq!(c.err(&["ZINCRBY", "new", "x", "m"]), NOT_FLOAT);
        assert_eq!(
            c.cmd(&["ZMSCORE", "z", "m0", "nope", "m1"]),
            Reply::Array(vec![Reply::bulk("1"), Reply::Nil, Reply::bulk("1.5")])
        );
        assert_eq!(
            c.cmd(&["ZMSCORE", "nokey", "a"]),
            Reply::Array(vec![Reply::Nil])
        );
    });
}

#[test]
fn card_rank_and_rem() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["ZCARD", "z"]), 0);
        c.int(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "3", "d"]);
        assert_eq!(c.int(&["ZCARD", "z"]), 4);
        assert_eq!(c.int(&["ZRANK", "z", "a"]), 0);
        assert_eq!(c.int(&["ZRANK", "z", "d"]), 3);
        assert_eq!(c.int(&["ZREVRANK", "z", "d"]), 0);
        assert_eq!(c.int(&["ZREVRANK", "z", "a"]), 3);
        assert_eq!(c.cmd(&["ZRANK", "z", "x"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZRANK", "nokey", "x"]), Reply::Nil);
        assert_eq!(c.int(&["ZREM", "z", "a", "x", "a"]), 1);
        assert_eq!(c.int(&["ZREM", "z", "b", "c", "d"]), 3);
        assert_eq!(c.int(&["EXISTS", "z"]), 0);
        assert_eq!(c.int(&["ZREM", "z", "a"]), 0);
    });
}

#[test]
fn range_by_rank_score_and_lex() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ]);
        let r = |c: &mut Client, args: &[&str]| strings(&c.cmd(args)).join(" ");
        assert_eq!(r(&mut c, &["ZRANGE", "z", "0", "-1"]), "a b c d e");
        assert_eq!(
            r(&mut c, &["ZRANGE", "z", "1", "2", "WITHSCORES"]),
            "b 2 c 3"
        );
        assert_eq!(r(&mut c, &["ZRANGE", "z", "-2", "100"]), "d e");
        assert_eq!(r(&mut c, &["ZRANGE", "z", "3", "1"]), "");
        assert_eq!(
            r(&mut c, &["ZRANGE", "z", "0", "9223372036854775807"]),
            "a b c d e"
        );
        assert_eq!(
            r(&mut c, &["ZRANGE", "z", "-9223372036854775808", "0"]),
            "a"
        );
        assert_eq!(r(&mut c, &["ZRANGE", "z", "0", "1", "REV"]), "e d");
        assert_eq!(
            r(&mut c, &["ZREVRANGE", "z", "0", "1", "WITHSCORES"]),
            "e 5 d 4"
        );
        assert_eq!(r(&mut c, &["ZRANGE", "z", "(1", "3", "BYSCORE"]), "b c");
        assert_eq!(
            r(&mut c, &["ZRANGE", "z", "3", "(1", "BYSCORE", "REV"]),
            "c b"
        );
        assert_eq!(
            r(
                &mut c,
                &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "2"]
            ),
            "b c"
        );
        assert_eq!(
            r(
                &mut c,
                &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "1", "-1"]
            ),
            "b c d e"
        );
        assert_eq!(
            r(
                &mut c,
                &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"]
            ),
            ""
        );
        assert_eq!(
            r(
                &mut c,
                &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "9", "2"]
            ),
            ""
        );
        assert_eq!(
            r(
                &mut c,
                &[
                    "ZREVRANGEBYSCORE",
                    "z",
                    "+inf",
                    "2",
                    "WITHSCORES",
                    "LIMIT",
                    "1",
                    "2"
                ]
            ),
            "d 4 c 3"
        );
        assert_eq!(r(&mut c, &["ZRANGEBYSCORE", "z", "(2", "(2"]), "");
        // A bound is read by strtod: "(" is "(0", "" is 0, spaces are skipped.
        assert_eq!(r(&mut c, &["ZRANGEBYSCORE", "z", "(", " 1"]), "a");
        assert_eq!(r(&mut c, &["ZRANGEBYSCORE", "z", "", "1"]), "a");
        assert_eq!(r(&mut c, &["ZRANGEBYSCORE", "z", "5", "1"]), "");
        assert_eq!(c.int(&["ZCOUNT", "z", "(1", "3"]), 2);
        assert_eq!(c.int(&["ZCOUNT", "z", "-inf", "+inf"]), 5);
        assert_eq!(c.int(&["ZCOUNT", "nokey", "-inf", "+inf"]), 0);

        c.int(&[
            "ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e",
        ]);
        assert_eq!(r(&mut c, &["ZRANGEBYLEX", "l", "[b", "(d"]), "b c");
        assert_eq!(
            r(&mut c, &["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "1", "2"]),
            "b c"
        );
        assert_eq!(r(&mut c, &["ZREVRANGEBYLEX", "l", "+", "(c"]), "e d");
        assert_eq!(
            r(&mut c, &["ZRANGE", "l", "[d", "-", "BYLEX", "REV"]),
            "d c b a"
        );
        assert_eq!(r(&mut c, &["ZRANGEBYLEX", "l", "+", "-"]), "");
        assert_eq!(c.int(&["ZLEXCOUNT", "l", "(a", "[c"]), 2);
        assert_eq!(c.int(&["ZLEXCOUNT", "l", "-", "+"]), 5);

        let errs: Vec<(Vec<&str>, &str)> = vec![
            (vec!["ZRANGE", "z", "a", "1"], NOT_INT),
            (vec!["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
             "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"),
            (vec!["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
             "ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
            (vec!["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"],
             "ERR syntax error, WITHSCORES not supported in combination with BYLEX"),
            (vec!["ZRANGEBYSCORE", "z", "1", "2", "REV"], SYNTAX),
            (vec!["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"], SYNTAX),
            (vec!["ZRANGE", "z", "0", "1", "foo"], SYNTAX),
            (vec!["ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "1"], SYNTAX),
            (vec!["ZRANGEBYSCORE", "z", "1", "2", "LIMIT", "x", "1"], NOT_INT),
            (vec!["ZRANGEBYSCORE", "z", "x", "2"], SCORE_RANGE),
            (vec!["ZRANGEBYSCORE", "z", "nan", "2"], SCORE_RANGE),
            (vec!["ZCOUNT", "z", "1", "x"], SCORE_RANGE),
            (vec!["ZRANGEBYLEX", "z", "a", "+"], LEX_RANGE),
            (vec!["ZRANGEBYLEX", "z", "-", "++"], LEX_RANGE),
            (vec!["ZLEXCOUNT", "z", "", "+"], LEX_RANGE),
        ];
        for (cmd, e) in errs {
            assert_eq!(c.err(&cmd), e, "{cmd:?}");
        }
        // Missing key: empty, after the arguments are checked.
        assert_eq!(c.cmd(&["ZRANGE", "nokey", "0", "-1"]), Reply::Array(vec![]));
        assert_eq!(c.err(&["ZRANGEBYSCORE", "nokey", "x", "1"]), SCORE_RANGE);
    });
}

#[test]
fn remove_ranges() {
    for_threads(|s| {
        let mut c = s.client();
        let fill = |c: &mut Client| {
            c.cmd(&["DEL", "z"]);
            c.int(&[
                "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
            ]);
        };
        fill(&mut c);
        assert_eq!(c.int(&["ZREMRANGEBYRANK", "z", "1", "2"]), 2);
        assert_eq!(dump(&mut c, "z"), "a 1 d 4 e 5");
        assert_eq!(c.int(&["ZREMRANGEBYRANK", "z", "-1", "-1"]), 1);
        assert_eq!(c.int(&["ZREMRANGEBYRANK", "z", "5", "10"]), 0);
        assert_eq!(c.int(&["ZREMRANGEBYRANK", "z", "0", "-1"]), 2);
        assert_eq!(c.int(&["EXISTS", "z"]), 0);
        fill(&mut c);
        assert_eq!(c.int(&["ZREMRANGEBYSCORE", "z", "(1", "3"]), 2);
        assert_eq!(c.int(&["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]), 3);
        assert_eq!(c.int(&["EXISTS", "z"]), 0);
        c.int(&["ZADD", "z", "0", "a", "0", "b", "0", "c"]);
        assert_eq!(c.int(&["ZREMRANGEBYLEX", "z", "[b", "+"]), 2);
        assert_eq!(dump(&mut c, "z"), "a 0");
        assert_eq!(c.err(&["ZREMRANGEBYRANK", "z", "x", "1"]), NOT_INT);
        assert_eq!(c.err(&["ZREMRANGEBYSCORE", "z", "x", "1"]), SCORE_RANGE);
        assert_eq!(c.err(&["ZREMRANGEBYLEX", "z", "x", "+"]), LEX_RANGE);
        assert_eq!(c.int(&["ZREMRANGEBYLEX", "nokey", "-", "+"]), 0);
    });
}

#[test]
fn pops() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(strings(&c.cmd(&["ZPOPMIN", "z"])), ["a", "1"]);
        assert_eq!(
            strings(&c.cmd(&["ZPOPMAX", "z", "2"])),
            ["d", "4", "c", "3"]
        );
        assert_eq!(c.cmd(&["ZPOPMAX", "z", "0"]), Reply::Array(vec![]));
        assert_eq!(strings(&c.cmd(&["ZPOPMIN", "z", "10"])), ["b", "2"]);
        assert_eq!(c.int(&["EXISTS", "z"]), 0);
        assert_eq!(c.cmd(&["ZPOPMIN", "z"]), Reply::Array(vec![]));
        assert_eq!(c.cmd(&["ZPOPMIN", "z", "3"]), Reply::Array(vec![]));
        let range = "ERR value is out of range, must be positive";
        assert_eq!(c.err(&["ZPOPMIN", "z", "-1"]), range);
        assert_eq!(c.err(&["ZPOPMIN", "z", "x"]), range);
        assert_eq!(c.err(&["ZPOPMIN", "z", "1", "2"]), SYNTAX);
        c.ok(&["SET", "s", "x"]);
        assert_eq!(c.err(&["ZPOPMAX", "s"]), WRONGTYPE);
    });
}

#[test]
fn randmember() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["ZRANDMEMBER", "z"]), Reply::Nil);
        assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "5"]), Reply::Array(vec![]));
        c.int(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        let m = c.cmd(&["ZRANDMEMBER", "z"]).as_string();
        assert!(["a", "b", "c"].contains(&m.as_str()));
        assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "0"]), Reply::Array(vec![]));
        let mut all = strings(&c.cmd(&["ZRANDMEMBER", "z", "10"]));
        all.sort();
        assert_eq!(all, ["a", "b", "c"]);
        let mut two = strings(&c.cmd(&["ZRANDMEMBER", "z", "2"]));
        two.sort();
        two.dedup();
        assert_eq!(two.len(), 2);
        let many = strings(&c.cmd(&["ZRANDMEMBER", "z", "-50", "WITHSCORES"]));
        assert_eq!(many.len(), 100);
        for p in many.chunks(2) {
            let want = match p[0].as_str() {
                "a" => "1",
                "b" => "2",
                _ => "3",
            };
            assert_eq!(p[1], want);
        }
        assert_eq!(
            c.err(&["ZRANDMEMBER", "z", "-9223372036854775808"]),
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        );
        assert_eq!(
            c.err(&["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"]),
            "ERR value is out of range"
        );
        // A huge positive count is the whole set, never an allocation of that size.
        assert_eq!(
            c.cmd(&["ZRANDMEMBER", "z", "9223372036854775807"])
                .as_array()
                .len(),
            3
        );
        assert_eq!(c.err(&["ZRANDMEMBER", "z", "x"]), NOT_INT);
        assert_eq!(c.err(&["ZRANDMEMBER", "z", "1", "foo"]), SYNTAX);
        assert_eq!(c.err(&["ZRANDMEMBER", "z", "1", "WITHSCORES", "x"]), SYNTAX);
    });
}

#[test]
fn zscan_both_encodings() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["ZADD", "small", "1", "a", "2.5", "b"]);
        assert_eq!(
            c.cmd(&["ZSCAN", "small", "0"]),
            Reply::Array(vec![
                Reply::bulk("0"),
                Reply::bulks(&["a", "1", "b", "2.5"])
            ])
        );
        assert_eq!(
            c.cmd(&["ZSCAN", "small", "0", "MATCH", "b*"]),
            Reply::Array(vec![Reply::bulk("0"), Reply::bulks(&["b", "2.5"])])
        );
        for i in 0..300 {
            c.int(&["ZADD", "big", &i.to_string(), &format!("m{i}")]);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = "0".to_string();
        loop {
            let r = c.cmd(&["ZSCAN", "big", &cursor, "COUNT", "20"]);
            let items = r.as_array();
            cursor = items[0].as_string();
            for p in items[1].as_strings().chunks(2) {
                assert_eq!(p[0][1..], p[1]);
                seen.insert(p[0].clone());
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
        assert_eq!(c.err(&["ZSCAN", "big", "x"]), "ERR invalid cursor");
        assert_eq!(c.err(&["ZSCAN", "big", "0", "COUNT", "0"]), SYNTAX);
        assert_eq!(
            c.cmd(&["ZSCAN", "nokey", "0"]),
            Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])])
        );
    });
}

#[test]
fn set_operations() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["ZADD", "{t}a", "1", "a", "2", "b", "3", "c"]);
        c.int(&["ZADD", "{t}b", "1", "b", "2", "c", "3", "d"]);
        let r = |c: &mut Client, args: &[&str]| strings(&c.cmd(args)).join(" ");
        assert_eq!(
            r(&mut c, &["ZUNION", "2", "{t}a", "{t}b", "WITHSCORES"]),
            "a 1 b 3 d 3 c 5"
        );
        assert_eq!(
            r(
                &mut c,
                &[
                    "ZUNION",
                    "2",
                    "{t}a",
                    "{t}b",
                    "WEIGHTS",
                    "2",
                    "3",
                    "WITHSCORES"
                ]
            ),
            "a 2 b 7 d 9 c 12"
        );
        assert_eq!(
            r(
                &mut c,
                &[
                    "ZUNION",
                    "2",
                    "{t}a",
                    "{t}b",
                    "AGGREGATE",
                    "MAX",
                    "WITHSCORES"
                ]
            ),
            "a 1 b 2 c 3 d 3"
        );
        assert_eq!(
            r(&mut c, &["ZINTER", "2", "{t}a", "{t}b", "WITHSCORES"]),
            "b 3 c 5"
        );
        assert_eq!(
            r(
                &mut c,
                &[
                    "ZINTER",
                    "2",
                    "{t}a",
                    "{t}b",
                    "AGGREGATE",
                    "min",
                    "WITHSCORES"
                ]
            ),
            "b 1 c 2"
        );
        assert_eq!(
            r(&mut c, &["ZDIFF", "2", "{t}a", "{t}b", "WITHSCORES"]),
            "a 1"
        );
        assert_eq!(r(&mut c, &["ZDIFF", "2", "{t}a", "{t}none"]), "a b c");
        assert_eq!(r(&mut c, &["ZINTER", "2", "{t}a", "{t}none"]), "");
        assert_eq!(c.int(&["ZINTERCARD", "2", "{t}a", "{t}b"]), 2);
        assert_eq!(c.int(&["ZINTERCARD", "2", "{t}a", "{t}b", "LIMIT", "1"]), 1);
        assert_eq!(c.int(&["ZINTERCARD", "2", "{t}a", "{t}b", "LIMIT", "0"]), 2);

        c.ok(&["SET", "{t}d", "string"]);
        c.cmd(&["EXPIRE", "{t}d", "100"]);
        assert_eq!(c.int(&["ZUNIONSTORE", "{t}d", "2", "{t}a", "{t}b"]), 4);
        assert_eq!(dump(&mut c, "{t}d"), "a 1 b 3 d 3 c 5");
        assert_eq!(c.int(&["TTL", "{t}d"]), -1);
        assert_eq!(
            c.int(&[
                "ZINTERSTORE",
                "{t}d",
                "2",
                "{t}a",
                "{t}b",
                "WEIGHTS",
                "1",
                "0"
            ]),
            2
        );
        assert_eq!(dump(&mut c, "{t}d"), "b 2 c 3");
        assert_eq!(c.int(&["ZDIFFSTORE", "{t}d", "2", "{t}a", "{t}b"]), 1);
        assert_eq!(dump(&mut c, "{t}d"), "a 1");
        // An empty result deletes the destination.
        assert_eq!(c.int(&["ZINTERSTORE", "{t}d", "2", "{t}a", "{t}none"]), 0);
        assert_eq!(c.int(&["EXISTS", "{t}d"]), 0);
        // The destination may be an input.
        assert_eq!(c.int(&["ZUNIONSTORE", "{t}a", "2", "{t}a", "{t}b"]), 4);
        assert_eq!(dump(&mut c, "{t}a"), "a 1 b 3 d 3 c 5");

        // inf * 0 and inf + -inf are 0, not NaN.
        c.int(&["ZADD", "{t}i", "inf", "x"]);
        c.int(&["ZADD", "{t}j", "-inf", "x"]);
        assert_eq!(
            r(&mut c, &["ZUNION", "2", "{t}i", "{t}j", "WITHSCORES"]),
            "x 0"
        );
        assert_eq!(
            r(
                &mut c,
                &["ZUNION", "1", "{t}i", "WEIGHTS", "0", "WITHSCORES"]
            ),
            "x 0"
        );

        // Inputs are combined smallest first, as in Redis: MAX of 0 and -0
        // keeps whichever came first.
        c.int(&["ZADD", "{t}z0", "0", "x"]);
        c.int(&["ZADD", "{t}z1", "0", "x", "1", "y"]);
        let cmd = [
            "ZUNION",
            "2",
            "{t}z1",
            "{t}z0",
            "WEIGHTS",
            "-1",
            "1",
            "AGGREGATE",
            "MAX",
            "WITHSCORES",
        ];
        assert_eq!(r(&mut c, &cmd), "y -1 x 0");

        c.ok(&["SET", "{t}s", "x"]);
        let errs: Vec<(Vec<&str>, &str)> = vec![
            (
                vec!["ZUNION", "0", "{t}a"],
                "ERR at least 1 input key is needed for 'zunion' command",
            ),
            (
                vec!["ZUNIONSTORE", "{t}d", "-1", "{t}a"],
                "ERR at least 1 input key is needed for 'zunionstore' command",
            ),
            (
                vec!["ZINTERCARD", "0", "{t}a"],
                "ERR at least 1 input key is needed for 'zintercard' command",
            ),
            (vec!["ZUNION", "x", "{t}a"], NOT_INT),
            (vec!["ZUNION", "3", "{t}a", "{t}b"], SYNTAX),
            (vec!["ZUNION", "2", "{t}a", "{t}b", "WEIGHTS", "1"], SYNTAX),
            (
                vec!["ZUNION", "2", "{t}a", "{t}b", "WEIGHTS", "1", "x"],
                "ERR weight value is not a float",
            ),
            (vec!["ZUNION", "1", "{t}a", "AGGREGATE", "avg"], SYNTAX),
            (vec!["ZUNION", "1", "{t}a", "AGGREGATE"], SYNTAX),
            (
                vec!["ZUNIONSTORE", "{t}d", "1", "{t}a", "WITHSCORES"],
                SYNTAX,
            ),
            (vec!["ZDIFF", "1", "{t}a", "WEIGHTS", "1"], SYNTAX),
            (
                vec!["ZINTERCARD", "1", "{t}a", "LIMIT", "-1"],
                "ERR LIMIT can't be negative",
            ),
            (vec!["ZINTERCARD", "1", "{t}a", "WITHSCORES"], SYNTAX),
            (vec!["ZUNION", "2", "{t}a", "{t}s"], WRONGTYPE),
            // WRONGTYPE comes before the options are read.
            (vec!["ZUNION", "2", "{t}a", "{t}s", "bogus"], WRONGTYPE),
        ];
        for (cmd, e) in errs {
            assert_eq!(c.err(&cmd), e, "{cmd:?}");
        }
    });
}

#[test]
fn rangestore() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["ZADD", "{t}src", "1", "a", "2", "b", "3", "c", "4", "d"]);
        assert_eq!(c.int(&["ZRANGESTORE", "{t}dst", "{t}src", "1", "2"]), 2);
        assert_eq!(dump(&mut c, "{t}dst"), "b 2 c 3");
        assert_eq!(
            c.int(&[
                "ZRANGESTORE",
                "{t}dst",
                "{t}src",
                "+inf",
                "(1",
                "BYSCORE",
                "REV",
                "LIMIT",
                "0",
                "2"
            ]),
            2
        );
        assert_eq!(dump(&mut c, "{t}dst"), "c 3 d 4");
        assert_eq!(c.int(&["ZRANGESTORE", "{t}dst", "{t}src", "5", "10"]), 0);
        assert_eq!(c.int(&["EXISTS", "{t}dst"]), 0);
        assert_eq!(c.int(&["ZRANGESTORE", "{t}dst", "{t}none", "0", "-1"]), 0);
        assert_eq!(
            c.err(&["ZRANGESTORE", "{t}dst", "{t}src", "0", "-1", "WITHSCORES"]),
            SYNTAX
        );
    });
}

#[test]
fn encodings_convert_and_agree() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["ZADD", "z", "1", "a"]);
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), Reply::bulk("listpack"));
        let long = "x".repeat(65);
        c.int(&["ZADD", "z", "2", &long]);
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), Reply::bulk("skiplist"));
        for i in 0..128 {
            c.int(&["ZADD", "n", &i.to_string(), &format!("m{i}")]);
        }
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", "n"]), Reply::bulk("listpack"));
        c.int(&["ZADD", "n", "200", "one-more"]);
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", "n"]), Reply::bulk("skiplist"));

        // The same edits on both encodings give the same answers.
        c.ok(&["CONFIG", "SET", "zset-max-listpack-entries", "0"]);
        for i in 0..100 {
            let score = ((i * 37) % 23).to_string();
            c.int(&["ZADD", "{t}big", &score, &format!("k{i}")]);
        }
        c.ok(&["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
        for i in 0..100 {
            let score = ((i * 37) % 23).to_string();
            c.int(&["ZADD", "{t}small", &score, &format!("k{i}")]);
        }
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "{t}big"]),
            Reply::bulk("skiplist")
        );
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "{t}small"]),
            Reply::bulk("listpack")
        );
        let probes: Vec<Vec<&str>> = vec![
            vec!["ZRANGE", "K", "0", "-1", "WITHSCORES"],
            vec!["ZRANGE", "K", "5", "(10", "BYSCORE", "LIMIT", "2", "5"],
            vec![
                "ZRANGE", "K", "(10", "5", "BYSCORE", "REV", "LIMIT", "1", "3",
            ],
            vec!["ZREVRANGE", "K", "3", "17"],
            vec!["ZCOUNT", "K", "3", "(9"],
            vec!["ZRANK", "K", "k42"],
            vec!["ZREVRANK", "K", "k42"],
            vec!["ZSCORE", "K", "k42"],
            vec!["ZREMRANGEBYRANK", "K", "10", "14"],
            vec!["ZREMRANGEBYSCORE", "K", "(20", "21"],
            vec!["ZPOPMIN", "K", "3"],
            vec!["ZPOPMAX", "K", "2"],
            vec!["ZRANGE", "K", "0", "-1", "WITHSCORES"],
        ];
        for p in probes {
            let on = |key: &'static str| -> Vec<&str> {
                p.iter().map(|a| if *a == "K" { key } else { a }).collect()
            };
            let big = c.cmd(&on("{t}big"));
            let small = c.cmd(&on("{t}small"));
            assert_eq!(big, small, "{p:?}");
        }
        // A packed form configured past 128 entries walks backwards too.
        c.ok(&["CONFIG", "SET", "zset-max-listpack-entries", "1000"]);
        for i in 0..300 {
            let score = ((i * 37) % 23).to_string();
            c.int(&["ZADD", "{t}wide", &score, &format!("k{i}")]);
            c.int(&["ZADD", "{t}wide2", &score, &format!("k{i}")]);
        }
        c.int(&["ZADD", "{t}wide2", "1", &"x".repeat(100)]);
        c.int(&["ZREM", "{t}wide2", &"x".repeat(100)]);
        c.ok(&["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "{t}wide"]),
            Reply::bulk("listpack")
        );
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "{t}wide2"]),
            Reply::bulk("skiplist")
        );
        for p in [
            vec!["ZREVRANGE", "K", "0", "-1", "WITHSCORES"],
            vec!["ZREVRANGE", "K", "100", "250"],
            vec![
                "ZRANGE", "K", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "5", "200",
            ],
        ] {
            let on = |key: &'static str| -> Vec<&str> {
                p.iter().map(|a| if *a == "K" { key } else { a }).collect()
            };
            assert_eq!(c.cmd(&on("{t}wide")), c.cmd(&on("{t}wide2")), "{p:?}");
        }

        // Intersecting the two doubles every score.
        let doubled: Vec<String> = strings(&c.cmd(&["ZRANGE", "{t}big", "0", "-1", "WITHSCORES"]))
            .chunks(2)
            .flat_map(|p| [p[0].clone(), (2 * p[1].parse::<i64>().unwrap()).to_string()])
            .collect();
        assert_eq!(
            strings(&c.cmd(&["ZINTER", "2", "{t}big", "{t}small", "WITHSCORES"])),
            doubled
        );
    });
}

/// Sends `HELLO 3` and discards its greeting; later replies are RESP3.
fn hello3(c: &mut Client) {
    c.send(&encode(&["HELLO", "3"]));
    std::thread::sleep(Duration::from_millis(200));
    c.set_timeout(Duration::from_millis(200));
    let mut buf = [0u8; 4096];
    while let Ok(n) = c.stream().read(&mut buf) {
        if n == 0 || n < buf.len() {
            break;
        }
    }
    c.set_timeout(Duration::from_secs(10));
}

/// Sends one command and reads exactly `want.len()` bytes back.
fn raw(c: &mut Client, args: &[&str], want: &str) {
    c.stream().write_all(&encode(args)).unwrap();
    let mut got = vec![0u8; want.len()];
    c.stream().read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), want, "{args:?}");
}

#[test]
fn resp3_shapes() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["ZADD", "z", "1", "a", "2.5", "b", "3", "c"]);
        hello3(&mut c);
        raw(&mut c, &["ZSCORE", "z", "b"], ",2.5\r\n");
        raw(&mut c, &["ZSCORE", "z", "x"], "_\r\n");
        raw(&mut c, &["ZRANK", "z", "x"], "_\r\n");
        raw(&mut c, &["ZMSCORE", "z", "a", "x"], "*2\r\n,1\r\n_\r\n");
        raw(&mut c, &["ZINCRBY", "z", "1", "a"], ",2\r\n");
        raw(&mut c, &["ZADD", "z", "XX", "INCR", "1", "nope"], "_\r\n");
        raw(
            &mut c,
            &["ZRANGE", "z", "0", "1", "WITHSCORES"],
            "*2\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,2.5\r\n",
        );
        raw(&mut c, &["ZRANGE", "z", "0", "0"], "*1\r\n$1\r\na\r\n");
        raw(
            &mut c,
            &["ZUNION", "1", "z", "WITHSCORES"],
            "*3\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,2.5\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        );
        raw(
            &mut c,
            &["ZSCAN", "z", "0", "MATCH", "b"],
            "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n",
        );
        raw(&mut c, &["ZRANDMEMBER", "nokey"], "_\r\n");
        raw(&mut c, &["ZPOPMIN", "z"], "*2\r\n$1\r\na\r\n,2\r\n");
        raw(
            &mut c,
            &["ZPOPMAX", "z", "1"],
            "*1\r\n*2\r\n$1\r\nc\r\n,3\r\n",
        );
        raw(&mut c, &["ZPOPMAX", "nokey"], "*0\r\n");
    });
}
