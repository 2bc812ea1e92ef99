//! String commands: GET/SET and its options, SETNX/SETEX/PSETEX/GETSET, MGET/MSET/MSETNX,
//! APPEND/STRLEN, the INCR family, GETRANGE/SETRANGE — replies and error strings as
//! Redis 7.0 gives them.
#![allow(clippy::unwrap_used)]

mod common;

use common::{for_threads, Reply};

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

#[test]
fn set_and_get() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
        c.ok(&["SET", "k", "v"]);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
        c.ok(&["SET", "k", ""]);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk(""));
        // Binary-safe keys and values.
        let key: Vec<u8> = (0u8..=255).collect();
        let val: Vec<u8> = (0u8..=255).rev().cycle().take(1000).collect();
        assert_eq!(c.cmd(&[&b"SET"[..], &key, &val]), Reply::ok());
        assert_eq!(c.cmd(&[&b"GET"[..], &key]), Reply::Bulk(val));
        // Integers and big values round-trip as the bytes that were sent.
        c.ok(&["SET", "n", "-0012"]);
        assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("-0012"));
        c.ok(&["SET", "n", "9223372036854775808"]);
        assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("9223372036854775808"));
        let big = "x".repeat(1 << 20);
        c.ok(&["SET", "big", &big]);
        assert_eq!(c.cmd(&["GET", "big"]), Reply::bulk(&big));
        assert_eq!(c.int(&["STRLEN", "big"]), 1 << 20);
    });
}

#[test]
fn set_options() {
    for_threads(|s| {
        let mut c = s.client();
        // NX / XX
        assert_eq!(c.cmd(&["SET", "k", "1", "XX"]), Reply::Nil);
        assert_eq!(c.int(&["EXISTS", "k"]), 0);
        c.ok(&["SET", "k", "1", "NX"]);
        assert_eq!(c.cmd(&["SET", "k", "2", "nx"]), Reply::Nil);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("1"));
        c.ok(&["SET", "k", "3", "xx"]);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("3"));

        // EX / PX / EXAT / PXAT set a TTL; a plain SET clears it; KEEPTTL keeps it.
        c.ok(&["SET", "k", "v", "EX", "100"]);
        let ttl = c.int(&["TTL", "k"]);
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        c.ok(&["SET", "k", "v", "PX", "100000"]);
        let pttl = c.int(&["PTTL", "k"]);
        assert!((98_000..=100_000).contains(&pttl), "pttl {pttl}");
        c.ok(&["SET", "k", "v2", "KEEPTTL"]);
        let pttl = c.int(&["PTTL", "k"]);
        assert!(
            (98_000..=100_000).contains(&pttl),
            "pttl after KEEPTTL {pttl}"
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v2"));
        c.ok(&["SET", "k", "v3"]);
        assert_eq!(c.int(&["TTL", "k"]), -1);
        let at = now_ms() / 1000 + 200;
        c.ok(&["SET", "k", "v", "EXAT", &at.to_string()]);
        let ttl = c.int(&["TTL", "k"]);
        assert!((198..=200).contains(&ttl), "ttl after EXAT {ttl}");
        let at = now_ms() + 300_000;
        c.ok(&["SET", "k", "v", "PXAT", &at.to_string()]);
        let pttl = c.int(&["PTTL", "k"]);
        assert!(
            (298_000..=300_000).contains(&pttl),
            "pttl after PXAT {pttl}"
        );
        // An absolute time in the past: accepted, and the key is gone.
        c.ok(&["SET", "k", "v", "EXAT", "1"]);
        assert_eq!(c.int(&["EXISTS", "k"]), 0);
        c.ok(&["SET", "k", "v", "PXAT", "1"]);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);

        // GET returns the old value (nil when there was none).
        assert_eq!(c.cmd(&["SET", "g", "1", "GET"]), Reply::Nil);
        assert_eq!(c.cmd(&["SET", "g", "2", "GET"]), Reply::bulk("1"));
        assert_eq!(
            c.cmd(&["SET", "g", "3", "GET", "EX", "100"]),
            Reply::bulk("2")
        );
        assert!(c.int(&["TTL", "g"]) > 0);
        // Redis 7.0 allows NX and XX with GET.
        assert_eq!(c.cmd(&["SET", "g", "4", "NX", "GET"]), Reply::bulk("3"));
        assert_eq!(c.cmd(&["GET", "g"]), Reply::bulk("3"));
        assert_eq!(c.cmd(&["SET", "g2", "1", "NX", "GET"]), Reply::Nil);
        assert_eq!(c.cmd(&["GET", "g2"]), Reply::bulk("1"));
        assert_eq!(c.cmd(&["SET", "g3", "1", "XX", "GET"]), Reply::Nil);
        assert_eq!(c.int(&["EXISTS", "g3"]), 0);
    });
}

#[test]
fn set_option_errors() {
    for_threads(|s| {
        let mut c = s.client();
        let invalid = "ERR invalid expire time in 'set' command";
        for args in [
            &["SET", "k", "v", "EX", "0"][..],
            &["SET", "k", "v", "EX", "-1"],
            &["SET", "k", "v", "PX", "0"],
            &["SET", "k", "v", "PX", "-100"],
            &["SET", "k", "v", "EXAT", "0"],
            &["SET", "k", "v", "PXAT", "0"],
            &["SET", "k", "v", "EX", "9223372036854775807"],
            &["SET", "k", "v", "PX", "9223372036854775807"],
            &["SET", "k", "v", "EXAT", "9223372036854775807"],
        ] {
            assert_eq!(c.err(args), invalid, "{args:?}");
        }
        for args in [
            &["SET", "k", "v", "EX", "abc"][..],
            &["SET", "k", "v", "PX", "1.5"],
            &["SET", "k", "v", "EX", "99999999999999999999"],
        ] {
            assert_eq!(c.err(args), NOT_INT, "{args:?}");
        }
        for args in [
            &["SET", "k", "v", "NX", "XX"][..],
            &["SET", "k", "v", "EX", "10", "PX", "100"],
            &["SET", "k", "v", "KEEPTTL", "EX", "10"],
            &["SET", "k", "v", "PXAT", "1", "KEEPTTL"],
            &["SET", "k", "v", "EX"],
            &["SET", "k", "v", "FOO"],
            &["SET", "k", "v", "v2"],
        ] {
            assert_eq!(c.err(args), SYNTAX, "{args:?}");
        }
        assert_eq!(c.int(&["EXISTS", "k"]), 0, "a failed SET must not write");
    });
}

#[test]
fn setnx_setex_psetex_getset() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["SETNX", "k", "1"]), 1);
        assert_eq!(c.int(&["SETNX", "k", "2"]), 0);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("1"));

        c.ok(&["SETEX", "k", "100", "v"]);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
        let ttl = c.int(&["TTL", "k"]);
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        c.ok(&["PSETEX", "k", "100000", "w"]);
        let pttl = c.int(&["PTTL", "k"]);
        assert!((98_000..=100_000).contains(&pttl), "pttl {pttl}");
        assert_eq!(
            c.err(&["SETEX", "k", "0", "v"]),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            c.err(&["SETEX", "k", "-10", "v"]),
            "ERR invalid expire time in 'setex' command"
        );
        assert_eq!(
            c.err(&["PSETEX", "k", "0", "v"]),
            "ERR invalid expire time in 'psetex' command"
        );
        assert_eq!(c.err(&["SETEX", "k", "abc", "v"]), NOT_INT);
        assert_eq!(
            c.err(&["SETEX", "k", "10"]),
            "ERR wrong number of arguments for 'setex' command"
        );

        // GETSET returns the old value and clears the TTL.
        assert_eq!(c.cmd(&["GETSET", "k", "x"]), Reply::bulk("w"));
        assert_eq!(c.int(&["TTL", "k"]), -1);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("x"));
        assert_eq!(c.cmd(&["GETSET", "new", "y"]), Reply::Nil);
        assert_eq!(c.cmd(&["GET", "new"]), Reply::bulk("y"));
        assert_eq!(
            c.err(&["GETSET", "k"]),
            "ERR wrong number of arguments for 'getset' command"
        );
    });
}

#[test]
fn mget_mset_msetnx() {
    for_threads(|s| {
        let mut c = s.client();
        // Enough keys to land on every shard.
        let mut args = vec!["MSET".to_string()];
        for i in 0..100 {
            args.push(format!("key:{i}"));
            args.push(format!("val:{i}"));
        }
        c.ok(&args);
        let mut get = vec!["MGET".to_string()];
        let mut want = Vec::new();
        for i in 0..110 {
            get.push(format!("key:{i}"));
            want.push(if i < 100 {
                Reply::bulk(format!("val:{i}"))
            } else {
                Reply::Nil
            });
        }
        assert_eq!(c.cmd(&get), Reply::Array(want));
        assert_eq!(
            c.cmd(&["MGET", "key:1", "nosuch", "key:1"]),
            Reply::Array(vec![Reply::bulk("val:1"), Reply::Nil, Reply::bulk("val:1")])
        );
        // The last value for a repeated key wins.
        c.ok(&["MSET", "dup", "1", "dup", "2"]);
        assert_eq!(c.cmd(&["GET", "dup"]), Reply::bulk("2"));
        // MSET clears TTLs like SET.
        c.ok(&["SET", "t", "v", "EX", "100"]);
        c.ok(&["MSET", "t", "w"]);
        assert_eq!(c.int(&["TTL", "t"]), -1);

        assert_eq!(
            c.err(&["MSET", "a"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            c.err(&["MSET", "a", "1", "b"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            c.err(&["MSETNX", "a"]),
            "ERR wrong number of arguments for 'msetnx' command"
        );
        assert_eq!(
            c.err(&["MSETNX", "a", "1", "b"]),
            "ERR wrong number of arguments for 'msetnx' command"
        );

        // MSETNX: all or nothing.
        assert_eq!(
            c.int(&["MSETNX", "n1", "1", "n2", "2", "key:5", "x", "n3", "3"]),
            0
        );
        assert_eq!(
            c.cmd(&["MGET", "n1", "n2", "n3", "key:5"]),
            Reply::Array(vec![
                Reply::Nil,
                Reply::Nil,
                Reply::Nil,
                Reply::bulk("val:5")
            ])
        );
        let mut args = vec!["MSETNX".to_string()];
        for i in 0..50 {
            args.push(format!("new:{i}"));
            args.push(format!("{i}"));
        }
        assert_eq!(c.int(&args), 1);
        assert_eq!(c.int(&["DBSIZE"]), 100 + 1 + 1 + 50);
        assert_eq!(c.cmd(&["GET", "new:49"]), Reply::bulk("49"));
    });
}

#[test]
fn append_and_strlen() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["STRLEN", "k"]), 0);
        assert_eq!(c.int(&["APPEND", "k", "Hello"]), 5);
        assert_eq!(c.int(&["APPEND", "k", ", World"]), 12);
        assert_eq!(c.int(&["APPEND", "k", ""]), 12);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("Hello, World"));
        assert_eq!(c.int(&["STRLEN", "k"]), 12);
        // Integer-looking values append as text.
        c.ok(&["SET", "n", "1"]);
        assert_eq!(c.int(&["APPEND", "n", "2"]), 2);
        assert_eq!(c.int(&["INCR", "n"]), 13);
        assert_eq!(c.int(&["APPEND", "n", "0"]), 3);
        assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("130"));
        assert_eq!(c.int(&["STRLEN", "n"]), 3);
        // APPEND keeps the TTL.
        c.ok(&["SET", "t", "a", "EX", "100"]);
        assert_eq!(c.int(&["APPEND", "t", "b"]), 2);
        assert!(c.int(&["TTL", "t"]) > 0);
        // APPEND of empty to a missing key creates an empty string.
        assert_eq!(c.int(&["APPEND", "e", ""]), 0);
        assert_eq!(c.int(&["EXISTS", "e"]), 1);
        assert_eq!(
            c.err(&["APPEND", "k"]),
            "ERR wrong number of arguments for 'append' command"
        );
        assert_eq!(
            c.err(&["STRLEN"]),
            "ERR wrong number of arguments for 'strlen' command"
        );
    });
}

#[test]
fn incr_family() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["INCR", "n"]), 1);
        assert_eq!(c.int(&["INCR", "n"]), 2);
        assert_eq!(c.int(&["INCRBY", "n", "10"]), 12);
        assert_eq!(c.int(&["DECR", "n"]), 11);
        assert_eq!(c.int(&["DECRBY", "n", "20"]), -9);
        assert_eq!(c.int(&["INCRBY", "n", "-1"]), -10);
        assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("-10"));
        assert_eq!(c.int(&["DECR", "fresh"]), -1);
        assert_eq!(c.int(&["DECRBY", "fresh2", "5"]), -5);
        assert_eq!(c.int(&["INCRBY", "fresh3", "-5"]), -5);
        // Big values stay exact.
        c.ok(&["SET", "n", "9223372036854775806"]);
        assert_eq!(c.int(&["INCR", "n"]), i64::MAX);
        assert_eq!(
            c.err(&["INCR", "n"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(
            c.err(&["INCRBY", "n", "1"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("9223372036854775807"));
        c.ok(&["SET", "n", "-9223372036854775807"]);
        assert_eq!(c.int(&["DECR", "n"]), i64::MIN);
        assert_eq!(
            c.err(&["DECR", "n"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(
            c.err(&["DECRBY", "n", "9223372036854775807"]),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(
            c.err(&["DECRBY", "x", "-9223372036854775808"]),
            "ERR decrement would overflow"
        );
        // Values that are not integers, as Redis parses them.
        for v in [
            "abc",
            "1.5",
            " 1",
            "1 ",
            "",
            "9223372036854775808",
            "-9223372036854775809",
            "1e3",
        ] {
            c.ok(&["SET", "bad", v]);
            assert_eq!(c.err(&["INCR", "bad"]), NOT_INT, "INCR on {v:?}");
            assert_eq!(c.err(&["DECRBY", "bad", "1"]), NOT_INT, "DECRBY on {v:?}");
            assert_eq!(
                c.cmd(&["GET", "bad"]),
                Reply::bulk(v),
                "a failed INCR must not write"
            );
        }
        assert_eq!(c.err(&["INCRBY", "n", "x"]), NOT_INT);
        assert_eq!(c.err(&["INCRBY", "n", "1.5"]), NOT_INT);
        assert_eq!(c.err(&["DECRBY", "n", ""]), NOT_INT);
        assert_eq!(
            c.err(&["INCR"]),
            "ERR wrong number of arguments for 'incr' command"
        );
        assert_eq!(
            c.err(&["INCRBY", "n"]),
            "ERR wrong number of arguments for 'incrby' command"
        );
        // INCR keeps the TTL.
        c.ok(&["SET", "t", "5", "EX", "100"]);
        assert_eq!(c.int(&["INCR", "t"]), 6);
        assert!(c.int(&["TTL", "t"]) > 0);
    });
}

#[test]
fn incrbyfloat() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "3"]), Reply::bulk("3"));
        assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "1.5"]), Reply::bulk("4.5"));
        assert_eq!(c.cmd(&["GET", "f"]), Reply::bulk("4.5"));
        c.ok(&["SET", "f", "10.50"]);
        assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "0.1"]), Reply::bulk("10.6"));
        assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "-5"]), Reply::bulk("5.6"));
        c.ok(&["SET", "f", "5.0e3"]);
        assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "2.0e2"]), Reply::bulk("5200"));
        c.ok(&["SET", "f", "17179869184"]);
        assert_eq!(
            c.cmd(&["INCRBYFLOAT", "f", "1.5"]),
            Reply::bulk("17179869185.5")
        );
        c.ok(&["SET", "i", "1"]);
        assert_eq!(c.cmd(&["INCRBYFLOAT", "i", "-1.5"]), Reply::bulk("-0.5"));
        assert_eq!(c.cmd(&["INCRBYFLOAT", "i", "0.5"]), Reply::bulk("0"));
        c.ok(&["SET", "bad", "abc"]);
        assert_eq!(
            c.err(&["INCRBYFLOAT", "bad", "1"]),
            "ERR value is not a valid float"
        );
        c.ok(&["SET", "bad", " 1"]);
        assert_eq!(
            c.err(&["INCRBYFLOAT", "bad", "1"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            c.err(&["INCRBYFLOAT", "f", "abc"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            c.err(&["INCRBYFLOAT", "f", ""]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            c.err(&["INCRBYFLOAT", "f", "inf"]),
            "ERR increment would produce NaN or Infinity"
        );
        assert_eq!(
            c.err(&["INCRBYFLOAT", "f", "nan"]),
            "ERR value is not a valid float"
        );
        assert_eq!(c.cmd(&["GET", "f"]), Reply::bulk("17179869185.5"));
        // INCRBYFLOAT keeps the TTL.
        c.ok(&["SET", "t", "1", "EX", "100"]);
        assert_eq!(c.cmd(&["INCRBYFLOAT", "t", "1"]), Reply::bulk("2"));
        assert!(c.int(&["TTL", "t"]) > 0);
    });
}

#[test]
fn getrange() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["GETRANGE", "k", "0", "-1"]), Reply::bulk(""));
        c.ok(&["SET", "k", "Hello World"]);
        for (start, end, want) in [
            ("0", "4", "Hello"),
            ("-5", "-1", "World"),
            ("0", "-1", "Hello World"),
            ("6", "100", "World"),
            ("-100", "2", "Hel"),
            ("5", "3", ""),
            ("20", "30", ""),
            ("-1", "-5", ""),
            ("0", "0", "H"),
            ("10", "10", "d"),
        ] {
            assert_eq!(
                c.cmd(&["GETRANGE", "k", start, end]),
                Reply::bulk(want),
                "GETRANGE {start} {end}"
            );
        }
        // Integer-encoded values too.
        c.ok(&["SET", "n", "1234"]);
        assert_eq!(c.cmd(&["GETRANGE", "n", "1", "2"]), Reply::bulk("23"));
        assert_eq!(c.err(&["GETRANGE", "k", "a", "1"]), NOT_INT);
        assert_eq!(
            c.err(&["GETRANGE", "k", "0"]),
            "ERR wrong number of arguments for 'getrange' command"
        );
    });
}

#[test]
fn setrange() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "k", "Hello World"]);
        assert_eq!(c.int(&["SETRANGE", "k", "6", "Redis"]), 11);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("Hello Redis"));
        assert_eq!(c.int(&["SETRANGE", "k", "11", "!!"]), 13);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("Hello Redis!!"));
        // Padding with zero bytes.
        assert_eq!(c.int(&["SETRANGE", "p", "5", "x"]), 6);
        assert_eq!(c.cmd(&["GET", "p"]), Reply::bulk(b"\0\0\0\0\0x"));
        c.ok(&["SET", "n", "1234"]);
        assert_eq!(c.int(&["SETRANGE", "n", "1", "x"]), 4);
        assert_eq!(c.cmd(&["GET", "n"]), Reply::bulk("1x34"));
        // An empty value never creates a key and never grows one.
        assert_eq!(c.int(&["SETRANGE", "missing", "10", ""]), 0);
        assert_eq!(c.int(&["EXISTS", "missing"]), 0);
        assert_eq!(c.int(&["SETRANGE", "k", "100", ""]), 13);
        assert_eq!(c.int(&["SETRANGE", "k", "536870911", ""]), 13);
        assert_eq!(c.int(&["STRLEN", "k"]), 13);
        // SETRANGE keeps the TTL.
        c.ok(&["SET", "t", "abc", "EX", "100"]);
        assert_eq!(c.int(&["SETRANGE", "t", "1", "X"]), 3);
        assert!(c.int(&["TTL", "t"]) > 0);
        // Limits: 512 MB, negative offsets, non-integers.
        let too_big = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
        assert_eq!(c.err(&["SETRANGE", "k", "536870912", "x"]), too_big);
        assert_eq!(c.err(&["SETRANGE", "missing", "536870912", "x"]), too_big);
        assert_eq!(c.err(&["SETRANGE", "k", "536870911", "xy"]), too_big);
        assert_eq!(
            c.err(&["SETRANGE", "k", "9223372036854775807", "x"]),
            too_big
        );
        assert_eq!(
            c.err(&["SETRANGE", "k", "-1", "x"]),
            "ERR offset is out of range"
        );
        assert_eq!(c.err(&["SETRANGE", "k", "abc", "x"]), NOT_INT);
        assert_eq!(c.int(&["EXISTS", "missing"]), 0);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("Hello Redis!!"));
    });
}

/// LCS on keys of one shard and of two shards: the string, LEN, IDX with
/// WITHMATCHLEN and MINMATCHLEN, and the errors.
#[test]
fn lcs() {
    common::for_threads(|s| {
        let mut c = s.client();
        // "{t}" keeps a pair on one shard; "p1"/"{q}p2" may straddle two.
        for (k1, k2) in [("{t}a", "{t}b"), ("p1", "{q}p2")] {
            c.ok(&["SET", k1, "ohmytext"]);
            c.ok(&["SET", k2, "mynewtext"]);
            assert_eq!(c.cmd(&["LCS", k1, k2]), Reply::bulk("mytext"));
            assert_eq!(c.int(&["LCS", k1, k2, "LEN"]), 6);
            let idx = c.cmd(&["LCS", k1, k2, "IDX", "WITHMATCHLEN"]);
            let parts = idx.as_array();
            assert_eq!(parts[0], Reply::bulk("matches"));
            let first = parts[1].as_array()[0].as_array();
            assert_eq!(first[0], Reply::Array(vec![Reply::int(4), Reply::int(7)]));
            assert_eq!(first[1], Reply::Array(vec![Reply::int(5), Reply::int(8)]));
            assert_eq!(first[2], Reply::int(4));
            assert_eq!(parts[2], Reply::bulk("len"));
            assert_eq!(parts[3], Reply::int(6));
            let long = c.cmd(&["LCS", k1, k2, "IDX", "MINMATCHLEN", "3"]);
            assert_eq!(long.as_array()[1].as_array().len(), 1);
            assert_eq!(c.cmd(&["LCS", k1, "lcs:nosuch"]), Reply::bulk(""));
            assert!(c
                .err(&["LCS", k1, k2, "LEN", "IDX"])
                .contains("If you want both the length and indexes"));
            assert_eq!(c.err(&["LCS", k1, k2, "FOO"]), "ERR syntax error");
        }
    });
}
