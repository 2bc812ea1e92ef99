//! Bitmap commands: SETBIT/GETBIT, BITCOUNT and BITPOS (byte and bit ranges, the "end
//! given" rule), BITFIELD/BITFIELD_RO (types, `#N` offsets, OVERFLOW), BITOP, and how
//! they mix with the string commands — replies and error strings as Redis 7.0 gives them.
//! The last test drives random SETBIT/BITFIELD/BITCOUNT/BITPOS/BITOP traffic against a
//! plain bit-vector model.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::{encode, for_threads, Client, Reply};

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BIT: &str = "ERR bit is not an integer or out of range";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

fn get(c: &mut Client, key: &str) -> Vec<u8> {
    c.cmd(&["GET", key]).as_bytes().to_vec()
}

/// Sets `key` to raw bytes.
fn set_bytes(c: &mut Client, key: &str, v: &[u8]) {
    assert_eq!(c.cmd(&[b"SET", key.as_bytes(), v]), Reply::ok());
}

fn ints(v: &[i64]) -> Reply {
    Reply::Array(v.iter().map(|&n| Reply::Int(n)).collect())
}

#[test]
fn setbit_and_getbit() {
    for_threads(|s| {
        let mut c = s.client();
        // A new key grows to the byte holding the bit.
        assert_eq!(c.int(&["SETBIT", "k", "1", "1"]), 0);
        assert_eq!(get(&mut c, "k"), [0x40]);
        assert_eq!(c.int(&["SETBIT", "k", "1", "1"]), 1);
        assert_eq!(c.int(&["SETBIT", "k", "1", "0"]), 1);
        assert_eq!(get(&mut c, "k"), [0]);
        assert_eq!(c.int(&["SETBIT", "k", "23", "1"]), 0);
        assert_eq!(get(&mut c, "k"), [0, 0, 1]);
        assert_eq!(c.int(&["STRLEN", "k"]), 3);

        // An integer-encoded string is its decimal digits: "1" is 0x31.
        c.ok(&["SET", "n", "1"]);
        assert_eq!(c.int(&["GETBIT", "n", "2"]), 1);
        assert_eq!(c.int(&["GETBIT", "n", "7"]), 1);
        assert_eq!(c.int(&["GETBIT", "n", "1"]), 0);
        assert_eq!(c.int(&["SETBIT", "n", "6", "1"]), 0);
        assert_eq!(get(&mut c, "n"), b"3");
        assert_eq!(c.int(&["INCR", "n"]), 4);

        // Reads past the end and of missing keys are 0.
        assert_eq!(c.int(&["GETBIT", "k", "10000"]), 0);
        assert_eq!(c.int(&["GETBIT", "nokey", "0"]), 0);
        assert_eq!(c.int(&["EXISTS", "nokey"]), 0);

        // Errors: offset first, then the bit, then the type.
        if make_non_string(&mut c, "h") {
            assert_eq!(c.err(&["SETBIT", "h", "0", "1"]), WRONGTYPE);
            assert_eq!(c.err(&["GETBIT", "h", "0"]), WRONGTYPE);
            assert_eq!(c.err(&["SETBIT", "h", "-1", "1"]), OFFSET);
            assert_eq!(c.err(&["SETBIT", "h", "0", "2"]), BIT);
        }
        for bad in ["-1", "x", "4294967296", "+1", " 1", "1.0"] {
            assert_eq!(c.err(&["SETBIT", "k", bad, "1"]), OFFSET, "{bad}");
            assert_eq!(c.err(&["GETBIT", "k", bad]), OFFSET, "{bad}");
        }
        for bad in ["-1", "2", "10", "x", "01", ""] {
            assert_eq!(c.err(&["SETBIT", "k", "0", bad]), BIT, "{bad:?}");
        }
        assert_eq!(
            c.err(&["SETBIT", "k", "0"]),
            "ERR wrong number of arguments for 'setbit' command"
        );

        // The TTL is kept.
        c.ok(&["SET", "t", "x", "EX", "100"]);
        c.int(&["SETBIT", "t", "100", "1"]);
        assert!(c.int(&["TTL", "t"]) > 0);
    });
}

/// Creates a key of another type (a hash, list, set or sorted set, whichever this
/// build has) for the WRONGTYPE checks; false when none exists yet, so those
/// checks are skipped (the commands' unit tests cover WRONGTYPE without them).
fn make_non_string(c: &mut Client, key: &str) -> bool {
    let tries: [&[&str]; 4] = [
        &["HSET", key, "f", "v"],
        &["RPUSH", key, "v"],
        &["SADD", key, "v"],
        &["ZADD", key, "1", "v"],
    ];
    for t in tries {
        if let Reply::Int(1) = c.cmd(t) {
            return true;
        }
    }
    eprintln!("no aggregate type in this build: WRONGTYPE checks skipped");
    false
}

#[test]
fn offsets_obey_proto_max_bulk_len() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "proto-max-bulk-len", "1048576"]);
        // Byte 1048575 is the last allowed.
        assert_eq!(c.int(&["SETBIT", "big", "8388607", "1"]), 0);
        assert_eq!(c.int(&["STRLEN", "big"]), 1 << 20);
        assert_eq!(c.err(&["SETBIT", "big", "8388608", "1"]), OFFSET);
        assert_eq!(c.err(&["GETBIT", "big", "8388608"]), OFFSET);
        // A field may start at the last byte and reach past it, as in Redis.
        assert_eq!(
            c.cmd(&["BITFIELD", "big", "SET", "u8", "8388607", "1"]),
            ints(&[128])
        );
        assert_eq!(c.int(&["STRLEN", "big"]), (1 << 20) + 1);
        assert_eq!(
            c.cmd(&["BITFIELD", "big", "GET", "u8", "#1048576"]),
            Reply::err(OFFSET)
        );
        c.ok(&["CONFIG", "SET", "proto-max-bulk-len", "536870912"]);
        // The default limit: 2^32 - 1 is the last bit.
        assert_eq!(c.int(&["GETBIT", "big", "4294967295"]), 0);
        assert_eq!(c.err(&["GETBIT", "big", "4294967296"]), OFFSET);
    });
}

#[test]
fn bitcount_ranges() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["BITCOUNT", "nokey"]), 0);
        // A missing key is 0 whatever the range (Redis 7.0 looks the key up first).
        assert_eq!(c.int(&["BITCOUNT", "nokey", "0"]), 0);
        assert_eq!(c.int(&["BITCOUNT", "nokey", "a", "b"]), 0);
        c.ok(&["SET", "s", "foobar"]);
        assert_eq!(c.int(&["BITCOUNT", "s"]), 26);
        assert_eq!(c.int(&["BITCOUNT", "s", "0", "-1"]), 26);
        assert_eq!(c.int(&["BITCOUNT", "s", "1", "-2"]), 18); // "ooba"
        assert_eq!(c.int(&["BITCOUNT", "s", "-2", "1"]), 0);
        assert_eq!(c.int(&["BITCOUNT", "s", "0", "1000"]), 26);
        assert_eq!(c.int(&["BITCOUNT", "s", "1", "1"]), 6);
        assert_eq!(c.int(&["BITCOUNT", "s", "-6", "-7"]), 0);
        // Both negative with start > end is empty even where clamping would meet.
        assert_eq!(c.int(&["BITCOUNT", "s", "-10", "-20"]), 0);
        assert_eq!(c.int(&["BITCOUNT", "s", "-20", "-10"]), 4);
        assert_eq!(c.int(&["BITCOUNT", "s", "-100", "0"]), 4);
        // Bit ranges.
        assert_eq!(c.int(&["BITCOUNT", "s", "0", "-1", "BIT"]), 26);
        assert_eq!(c.int(&["BITCOUNT", "s", "5", "30", "bit"]), 17);
        assert_eq!(c.int(&["BITCOUNT", "s", "10", "-34", "bit"]), 4);
        assert_eq!(c.int(&["BITCOUNT", "s", "1", "1", "Byte"]), 6);
        assert_eq!(c.int(&["BITCOUNT", "s", "-2", "1", "bit"]), 0);
        assert_eq!(c.int(&["BITCOUNT", "s", "47", "47", "bit"]), 0);
        assert_eq!(c.int(&["BITCOUNT", "s", "46", "46", "bit"]), 1);
        // Integer-encoded strings count their digits' bits.
        c.ok(&["SET", "n", "123"]);
        assert_eq!(c.int(&["BITCOUNT", "n"]), 10);
        c.ok(&["SET", "e", ""]);
        assert_eq!(c.int(&["BITCOUNT", "e"]), 0);
        assert_eq!(c.int(&["BITCOUNT", "e", "0", "-1", "bit"]), 0);
        // Long strings: misaligned prefix, whole words, remainder.
        c.ok(&["SET", "w", "__PPxxxxxxxxxxxxxxxxRR__"]);
        assert_eq!(c.int(&["BITCOUNT", "w", "2", "-3"]), 74);
        let big = vec![0xFFu8; 100_003];
        set_bytes(&mut c, "big", &big);
        assert_eq!(c.int(&["BITCOUNT", "big"]), 800_024);
        assert_eq!(c.int(&["BITCOUNT", "big", "3", "-4", "bit"]), 800_024 - 6);

        // Errors.
        assert_eq!(c.err(&["BITCOUNT", "s", "0"]), SYNTAX);
        assert_eq!(c.err(&["BITCOUNT", "s", "0", "1", "hello"]), SYNTAX);
        assert_eq!(c.err(&["BITCOUNT", "s", "0", "1", "bit", "x"]), SYNTAX);
        assert_eq!(c.err(&["BITCOUNT", "s", "a", "1"]), NOT_INT);
        assert_eq!(c.err(&["BITCOUNT", "s", "0", "1.5"]), NOT_INT);
        if make_non_string(&mut c, "h") {
            assert_eq!(c.err(&["BITCOUNT", "h"]), WRONGTYPE);
            assert_eq!(c.err(&["BITCOUNT", "h", "0"]), WRONGTYPE);
        }
        assert_eq!(
            c.err(&["BITCOUNT"]),
            "ERR wrong number of arguments for 'bitcount' command"
        );
    });
}

#[test]
fn bitpos_rules() {
    for_threads(|s| {
        let mut c = s.client();
        // A missing key is an endless run of zeros.
        assert_eq!(c.int(&["BITPOS", "nokey", "0"]), 0);
        assert_eq!(c.int(&["BITPOS", "nokey", "1"]), -1);
        assert_eq!(c.int(&["BITPOS", "nokey", "0", "a"]), 0);
        assert_eq!(c.int(&["BITPOS", "nokey", "0", "0", "-1", "bit"]), 0);
        // An empty string has no bits at all.
        c.ok(&["SET", "e", ""]);
        assert_eq!(c.int(&["BITPOS", "e", "0"]), -1);
        assert_eq!(c.int(&["BITPOS", "e", "1"]), -1);

        set_bytes(&mut c, "s", b"\xff\xf0\x00");
        assert_eq!(c.int(&["BITPOS", "s", "0"]), 12);
        assert_eq!(c.int(&["BITPOS", "s", "0", "1"]), 12);
        assert_eq!(c.int(&["BITPOS", "s", "0", "1", "-1", "bit"]), 12);
        assert_eq!(c.int(&["BITPOS", "s", "1", "1"]), 8);
        assert_eq!(c.int(&["BITPOS", "s", "1", "2"]), -1);
        assert_eq!(c.int(&["BITPOS", "s", "1", "9", "-1", "bit"]), 9);
        assert_eq!(c.int(&["BITPOS", "s", "1", "12", "-1", "BIT"]), -1);
        assert_eq!(c.int(&["BITPOS", "s", "1", "12", "30", "bit"]), -1);

        // Clear bits: without an end the string continues with zeros...
        set_bytes(&mut c, "f", b"\xff\xff\xff");
        assert_eq!(c.int(&["BITPOS", "f", "0"]), 24);
        assert_eq!(c.int(&["BITPOS", "f", "0", "0"]), 24);
        assert_eq!(c.int(&["BITPOS", "f", "0", "1"]), 24);
        // Four arguments: the fourth is the end, not a unit.
        assert_eq!(c.err(&["BITPOS", "f", "0", "3", "bit"]), NOT_INT);
        // ...with an explicit end there is no zero in the range.
        assert_eq!(c.int(&["BITPOS", "f", "0", "0", "-1"]), -1);
        assert_eq!(c.int(&["BITPOS", "f", "0", "0", "-1", "bit"]), -1);
        assert_eq!(c.int(&["BITPOS", "f", "0", "0", "100"]), -1);
        // Past the end the range is empty.
        assert_eq!(c.int(&["BITPOS", "f", "0", "5"]), -1);
        assert_eq!(c.int(&["BITPOS", "f", "0", "30", "-1", "bit"]), -1);

        set_bytes(&mut c, "m", b"\x00\xff\x00");
        assert_eq!(c.int(&["BITPOS", "m", "0", "1", "-1"]), 16);
        assert_eq!(c.int(&["BITPOS", "m", "0", "1", "1"]), -1);
        assert_eq!(c.int(&["BITPOS", "m", "1", "0", "-1"]), 8);
        assert_eq!(c.int(&["BITPOS", "m", "1", "2", "200"]), -1);
        assert_eq!(c.int(&["BITPOS", "m", "0", "8", "8", "bit"]), -1);
        assert_eq!(c.int(&["BITPOS", "m", "1", "8", "8", "bit"]), 8);
        assert_eq!(c.int(&["BITPOS", "m", "1", "13", "13", "bit"]), 13);
        assert_eq!(c.int(&["BITPOS", "m", "0", "5", "9", "bit"]), 5);
        // BITPOS does not have BITCOUNT's "both negative, start > end" rule.
        c.ok(&["SET", "foo", "foobar"]);
        assert_eq!(c.int(&["BITPOS", "foo", "1", "-10", "-20"]), 1);

        // Long strings: the first set bit after many clear words.
        let mut v = vec![0u8; 100_000];
        v[77_777] = 0x01;
        set_bytes(&mut c, "z", &v);
        assert_eq!(c.int(&["BITPOS", "z", "1"]), 77_777 * 8 + 7);
        assert_eq!(c.int(&["BITPOS", "z", "1", "3", "-1"]), 77_777 * 8 + 7);
        assert_eq!(c.int(&["BITPOS", "z", "1", "77778"]), -1);
        assert_eq!(c.int(&["BITPOS", "z", "0", "77777"]), 77_777 * 8);

        // Integer-encoded: "1" is 0x31.
        c.ok(&["SET", "n", "1"]);
        assert_eq!(c.int(&["BITPOS", "n", "1"]), 2);

        // Errors: the bit first, then the type, then the range.
        if make_non_string(&mut c, "h") {
            assert_eq!(
                c.err(&["BITPOS", "h", "2"]),
                "ERR The bit argument must be 1 or 0."
            );
            assert_eq!(c.err(&["BITPOS", "h", "x"]), NOT_INT);
            assert_eq!(c.err(&["BITPOS", "h", "1", "x"]), WRONGTYPE);
        }
        assert_eq!(
            c.err(&["BITPOS", "nokey", "-1"]),
            "ERR The bit argument must be 1 or 0."
        );
        assert_eq!(c.err(&["BITPOS", "m", "1", "x"]), NOT_INT);
        assert_eq!(c.err(&["BITPOS", "m", "1", "0", "x"]), NOT_INT);
        assert_eq!(c.err(&["BITPOS", "m", "1", "0", "1", "bits"]), SYNTAX);
        assert_eq!(c.err(&["BITPOS", "m", "1", "0", "1", "bit", "x"]), SYNTAX);
        assert_eq!(
            c.err(&["BITPOS", "m"]),
            "ERR wrong number of arguments for 'bitpos' command"
        );
    });
}

#[test]
fn bitfield_basics() {
    for_threads(|s| {
        let mut c = s.client();
        let bf = |c: &mut Client, args: &[&str]| {
            let mut v = vec!["BITFIELD", "bits"];
            v.extend_from_slice(args);
            c.cmd(&v)
        };
        assert_eq!(bf(&mut c, &[]), Reply::Array(vec![]));
        assert_eq!(c.int(&["EXISTS", "bits"]), 0);
        assert_eq!(bf(&mut c, &["GET", "u8", "0"]), ints(&[0]));
        assert_eq!(c.int(&["EXISTS", "bits"]), 0);
        assert_eq!(
            bf(
                &mut c,
                &["set", "i8", "0", "-100", "set", "i8", "0", "101", "get", "i8", "0"]
            ),
            ints(&[0, -100, 101])
        );
        c.int(&["DEL", "bits"]);
        assert_eq!(
            bf(
                &mut c,
                &["SET", "u8", "0", "255", "INCRBY", "u8", "0", "100", "GET", "u8", "0"]
            ),
            ints(&[0, 99, 99])
        );
        // #N offsets are N times the width.
        c.int(&["DEL", "bits"]);
        for (i, ch) in ["65", "66", "67"].iter().enumerate() {
            bf(&mut c, &["SET", "u8", &format!("#{i}"), ch]);
        }
        assert_eq!(get(&mut c, "bits"), b"ABC");
        assert_eq!(
            bf(&mut c, &["GET", "u4", "#1", "GET", "i4", "4"]),
            ints(&[1, 1])
        );
        // Unaligned, wide fields.
        c.int(&["DEL", "bits"]);
        assert_eq!(
            bf(
                &mut c,
                &["SET", "i64", "3", "-2", "GET", "i64", "3", "GET", "u63", "3"]
            ),
            ints(&[0, -2, i64::MAX])
        );
        assert_eq!(c.int(&["STRLEN", "bits"]), 9);
        assert_eq!(
            bf(&mut c, &["GET", "u1", "2", "GET", "u1", "3"]),
            ints(&[0, 1])
        );
        // Regression shapes from Redis's suite.
        c.ok(&["SET", "bits", "1"]);
        assert_eq!(bf(&mut c, &["GET", "u1", "0"]), ints(&[0]));
        c.int(&["DEL", "bits"]);
        assert_eq!(
            bf(
                &mut c,
                &["SET", "i8", "0", "10", "SET", "i8", "64", "10", "INCRBY", "i8", "10", "99900"]
            ),
            ints(&[0, 0, 60])
        );
        // GET reads past the end as zeros.
        c.ok(&["SET", "bits", "\u{7f}"]);
        assert_eq!(bf(&mut c, &["GET", "i16", "1"]), ints(&[-512]));
        assert_eq!(bf(&mut c, &["GET", "u8", "1000"]), ints(&[0]));
        assert_eq!(c.int(&["STRLEN", "bits"]), 1);
        // The TTL is kept by writes.
        c.ok(&["SET", "bits", "x", "EX", "100"]);
        bf(&mut c, &["SET", "u8", "80", "1"]);
        assert!(c.int(&["TTL", "bits"]) > 0);
        assert_eq!(c.int(&["STRLEN", "bits"]), 11);
    });
}

#[test]
fn bitfield_overflow() {
    for_threads(|s| {
        let mut c = s.client();
        let bf = |c: &mut Client, args: &[&str]| {
            let mut v = vec!["BITFIELD", "bits"];
            v.extend_from_slice(args);
            c.cmd(&v)
        };
        bf(&mut c, &["SET", "u8", "#0", "100"]);
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "WRAP", "INCRBY", "u8", "#0", "257"]),
            ints(&[101])
        );
        assert_eq!(
            bf(&mut c, &["overflow", "wrap", "incrby", "u8", "#0", "255"]),
            ints(&[100])
        );
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "SAT", "INCRBY", "u8", "#0", "257"]),
            ints(&[255])
        );
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "SAT", "INCRBY", "u8", "#0", "-256"]),
            ints(&[0])
        );
        bf(&mut c, &["SET", "i8", "#0", "100"]);
        assert_eq!(bf(&mut c, &["INCRBY", "i8", "#0", "257"]), ints(&[101]));
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "SAT", "INCRBY", "i8", "#0", "257"]),
            ints(&[127])
        );
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "SAT", "INCRBY", "i8", "#0", "-256"]),
            ints(&[-128])
        );
        // FAIL: a null for that operation, nothing written; OVERFLOW applies to what follows.
        assert_eq!(
            bf(
                &mut c,
                &[
                    "OVERFLOW", "FAIL", "INCRBY", "i8", "#0", "-1", "GET", "i8", "#0", "OVERFLOW",
                    "WRAP", "INCRBY", "i8", "#0", "-1"
                ]
            ),
            Reply::Array(vec![Reply::Nil, Reply::Int(-128), Reply::Int(127)])
        );
        // SET overflows too; an unsigned SET reads a negative value as a u64.
        c.int(&["DEL", "bits"]);
        assert_eq!(
            bf(
                &mut c,
                &[
                    "SET", "u8", "0", "-1", "OVERFLOW", "SAT", "SET", "u8", "8", "-1", "OVERFLOW",
                    "FAIL", "SET", "u8", "16", "-1", "GET", "u16", "0", "GET", "u8", "16"
                ]
            ),
            Reply::Array(vec![
                Reply::Int(0),
                Reply::Int(0),
                Reply::Nil,
                Reply::Int(65535),
                Reply::Int(0)
            ])
        );
        assert_eq!(c.int(&["STRLEN", "bits"]), 3);
        assert_eq!(
            bf(
                &mut c,
                &[
                    "OVERFLOW", "SAT", "SET", "i4", "0", "100", "GET", "i4", "0", "SET", "i4", "0",
                    "-100", "GET", "i4", "0"
                ]
            ),
            ints(&[-1, 7, 7, -8])
        );
        // 64-bit edges.
        c.int(&["DEL", "bits"]);
        let max = i64::MAX.to_string();
        let min = i64::MIN.to_string();
        bf(&mut c, &["SET", "i64", "0", &max]);
        assert_eq!(
            bf(
                &mut c,
                &[
                    "OVERFLOW", "FAIL", "INCRBY", "i64", "0", "1", "OVERFLOW", "WRAP", "INCRBY",
                    "i64", "0", "1"
                ]
            ),
            Reply::Array(vec![Reply::Nil, Reply::Int(i64::MIN)])
        );
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "SAT", "INCRBY", "i64", "0", &min]),
            ints(&[i64::MIN])
        );
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "SAT", "INCRBY", "u63", "0", &max]),
            ints(&[i64::MAX])
        );
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "WRAP", "INCRBY", "u63", "0", "1"]),
            ints(&[0])
        );
    });
}

#[test]
fn bitfield_errors() {
    for_threads(|s| {
        let mut c = s.client();
        let bf = |c: &mut Client, args: &[&str]| {
            let mut v = vec!["BITFIELD", "k"];
            v.extend_from_slice(args);
            c.cmd(&v)
        };
        for t in [
            "u64", "i65", "i0", "u0", "I8", "U8", "x8", "u", "", "i-1", "u+8", "i08",
        ] {
            assert_eq!(bf(&mut c, &["GET", t, "0"]), Reply::err(BAD_TYPE), "{t:?}");
        }
        for off in [
            "-1",
            "#-1",
            "x",
            "+1",
            " 1",
            "1.0",
            "4294967296",
            "#536870912",
            "##1",
        ] {
            assert_eq!(
                bf(&mut c, &["GET", "u8", off]),
                Reply::err(OFFSET),
                "{off:?}"
            );
        }
        // #N is multiplied with wrap-around, as Redis does.
        assert_eq!(
            bf(&mut c, &["GET", "u8", "#2305843009213693953"]),
            ints(&[0])
        );
        assert_eq!(
            bf(&mut c, &["OVERFLOW", "foo", "GET", "u8", "0"]),
            Reply::err("ERR Invalid OVERFLOW type specified")
        );
        assert_eq!(bf(&mut c, &["OVERFLOW"]), Reply::err(SYNTAX));
        assert_eq!(bf(&mut c, &["FOO"]), Reply::err(SYNTAX));
        assert_eq!(bf(&mut c, &["GET", "u8"]), Reply::err(SYNTAX));
        assert_eq!(bf(&mut c, &["SET", "u8", "0"]), Reply::err(SYNTAX));
        assert_eq!(bf(&mut c, &["INCRBY", "u8", "0"]), Reply::err(SYNTAX));
        assert_eq!(bf(&mut c, &["SET", "u8", "0", "x"]), Reply::err(NOT_INT));
        assert_eq!(
            bf(&mut c, &["INCRBY", "u8", "0", "1.5"]),
            Reply::err(NOT_INT)
        );
        // A bad operation anywhere means nothing runs.
        assert_eq!(
            bf(&mut c, &["SET", "u8", "0", "1", "GET", "u64", "0"]),
            Reply::err(BAD_TYPE)
        );
        assert_eq!(c.int(&["EXISTS", "k"]), 0);

        let have_h = make_non_string(&mut c, "h");
        if have_h {
            assert_eq!(c.err(&["BITFIELD", "h"]), WRONGTYPE);
            assert_eq!(c.err(&["BITFIELD", "h", "GET", "u8", "0"]), WRONGTYPE);
            assert_eq!(c.err(&["BITFIELD", "h", "SET", "u8", "0", "1"]), WRONGTYPE);
            // Parsing comes before the type check.
            assert_eq!(c.err(&["BITFIELD", "h", "GET", "u64", "0"]), BAD_TYPE);
        }

        // BITFIELD_RO: GET only, checked after parsing.
        c.ok(&["SET", "k", "A"]);
        assert_eq!(c.cmd(&["BITFIELD_RO", "k"]), Reply::Array(vec![]));
        assert_eq!(
            c.cmd(&["BITFIELD_RO", "k", "GET", "u8", "0", "get", "i4", "#1"]),
            ints(&[65, 1])
        );
        assert_eq!(
            c.cmd(&["BITFIELD_RO", "nokey", "GET", "u8", "0"]),
            ints(&[0])
        );
        let ro = "ERR BITFIELD_RO only supports the GET subcommand";
        assert_eq!(
            c.err(&["BITFIELD_RO", "k", "SET", "u8", "0", "1", "GET", "u8", "0"]),
            ro
        );
        assert_eq!(c.err(&["BITFIELD_RO", "k", "INCRBY", "u8", "0", "1"]), ro);
        assert_eq!(
            c.err(&["BITFIELD_RO", "k", "INCRBY", "u8", "0", "x"]),
            NOT_INT
        );
        if have_h {
            // The GET-only check comes before the type check.
            assert_eq!(c.err(&["BITFIELD_RO", "h", "SET", "u8", "0", "1"]), ro);
            assert_eq!(c.err(&["BITFIELD_RO", "h", "GET", "u8", "0"]), WRONGTYPE);
        }
        assert_eq!(get(&mut c, "k"), b"A");
        assert_eq!(
            c.err(&["BITFIELD_RO"]),
            "ERR wrong number of arguments for 'bitfield_ro' command"
        );
    });
}

/// Sends `args` after HELLO 3 and returns the raw RESP3 bytes of its reply (a PING
/// after it marks where the reply ends).
fn resp3_raw(c: &mut Client, args: &[&str]) -> Vec<u8> {
    c.send(&encode(&["HELLO", "3"]));
    c.send(&encode(args));
    c.send(&encode(&["PING", "END-OF-REPLY"]));
    let marker = b"$12\r\nEND-OF-REPLY\r\n";
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut stream = c.stream().try_clone().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    while !got.ends_with(marker) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        got.extend_from_slice(&buf[..n]);
    }
    got.truncate(got.len() - marker.len());
    got
}

#[test]
fn bitfield_fail_is_a_resp3_null() {
    for_threads(|s| {
        let mut c = s.client();
        let got = resp3_raw(
            &mut c,
            &[
                "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "9", "GET", "u2", "0",
            ],
        );
        assert!(
            got.ends_with(b"*2\r\n_\r\n:0\r\n"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    });
}

#[test]
fn bitop_ops() {
    for_threads(|s| {
        let mut c = s.client();
        set_bytes(&mut c, "a{t}", b"\x01\x02\xff\xff");
        set_bytes(&mut c, "b{t}", b"\x01\x02\xff");
        assert_eq!(c.int(&["BITOP", "AND", "r{t}", "a{t}", "b{t}"]), 4);
        assert_eq!(get(&mut c, "r{t}"), b"\x01\x02\xff\x00");
        assert_eq!(c.int(&["BITOP", "or", "r{t}", "a{t}", "b{t}"]), 4);
        assert_eq!(get(&mut c, "r{t}"), b"\x01\x02\xff\xff");
        assert_eq!(c.int(&["BITOP", "Xor", "r{t}", "a{t}", "b{t}"]), 4);
        assert_eq!(get(&mut c, "r{t}"), b"\x00\x00\x00\xff");
        assert_eq!(c.int(&["BITOP", "NOT", "r{t}", "b{t}"]), 3);
        assert_eq!(get(&mut c, "r{t}"), b"\xfe\xfd\x00");
        // Missing keys are streams of zeros.
        assert_eq!(c.int(&["BITOP", "AND", "r{t}", "nokey{t}", "a{t}"]), 4);
        assert_eq!(get(&mut c, "r{t}"), [0, 0, 0, 0]);
        assert_eq!(
            c.int(&["BITOP", "OR", "r{t}", "nokey{t}", "b{t}", "nokey2{t}"]),
            3
        );
        assert_eq!(get(&mut c, "r{t}"), b"\x01\x02\xff");
        // Integer-encoded sources are their digits.
        c.ok(&["SET", "x{t}", "1"]);
        c.ok(&["SET", "y{t}", "2"]);
        assert_eq!(c.int(&["BITOP", "XOR", "r{t}", "x{t}", "y{t}", "x{t}"]), 1);
        assert_eq!(get(&mut c, "r{t}"), b"2");
        // Long sources: word-wise with a ragged tail.
        let long: Vec<u8> = (0..1003u32).map(|i| (i * 7 + 3) as u8).collect();
        let short: Vec<u8> = (0..517u32).map(|i| (i * 13 + 1) as u8).collect();
        set_bytes(&mut c, "l{t}", &long);
        set_bytes(&mut c, "s{t}", &short);
        let pad = |i: usize| short.get(i).copied().unwrap_or(0);
        for (op, f) in [
            ("AND", (|a, b| a & b) as fn(u8, u8) -> u8),
            ("OR", |a, b| a | b),
            ("XOR", |a, b| a ^ b),
        ] {
            assert_eq!(c.int(&["BITOP", op, "r{t}", "l{t}", "s{t}"]), 1003);
            let want: Vec<u8> = (0..1003).map(|i| f(long[i], pad(i))).collect();
            assert_eq!(get(&mut c, "r{t}"), want, "{op}");
        }
        // Same key as source and destination.
        set_bytes(&mut c, "same", b"\xaa\x00\xff\x55");
        assert_eq!(c.int(&["BITOP", "NOT", "same", "same"]), 4);
        assert_eq!(get(&mut c, "same"), b"\x55\xff\x00\xaa");
        // The destination loses its TTL; an empty result deletes it.
        c.ok(&["SET", "d{t}", "old", "EX", "100"]);
        c.int(&["BITOP", "OR", "d{t}", "a{t}"]);
        assert_eq!(c.int(&["TTL", "d{t}"]), -1);
        c.ok(&["SET", "e{t}", ""]);
        assert_eq!(c.int(&["BITOP", "OR", "d{t}", "e{t}", "nokey{t}"]), 0);
        assert_eq!(c.int(&["EXISTS", "d{t}"]), 0);
        // Errors.
        assert_eq!(c.err(&["BITOP", "NAND", "r{t}", "a{t}"]), SYNTAX);
        assert_eq!(
            c.err(&["BITOP", "NOT", "r{t}", "a{t}", "b{t}"]),
            "ERR BITOP NOT must be called with a single source key."
        );
        if make_non_string(&mut c, "h{t}") {
            assert_eq!(c.err(&["BITOP", "AND", "r{t}", "a{t}", "h{t}"]), WRONGTYPE);
            assert_eq!(get(&mut c, "r{t}"), want_last_xor(&long, &short));
            // A destination of another type is simply replaced.
            assert_eq!(c.int(&["BITOP", "OR", "h{t}", "x{t}"]), 1);
            assert_eq!(get(&mut c, "h{t}"), b"1");
        }
        assert_eq!(
            c.err(&["BITOP", "NOT", "r{t}"]),
            "ERR wrong number of arguments for 'bitop' command"
        );
    });
}

/// The last successful BITOP in `bitop_ops` was XOR of the long and short sources.
fn want_last_xor(long: &[u8], short: &[u8]) -> Vec<u8> {
    (0..long.len())
        .map(|i| long[i] ^ short.get(i).copied().unwrap_or(0))
        .collect()
}

#[test]
fn strings_and_bitmaps_share_keys() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["SETBIT", "k", "7", "1"]);
        assert_eq!(c.int(&["APPEND", "k", "AB"]), 3);
        assert_eq!(get(&mut c, "k"), b"\x01AB");
        assert_eq!(c.int(&["SETRANGE", "k", "5", "Z"]), 6);
        assert_eq!(c.int(&["BITCOUNT", "k"]), 1 + 2 + 2 + 4);
        assert_eq!(c.int(&["SETBIT", "k", "47", "1"]), 0);
        assert_eq!(c.cmd(&["GETRANGE", "k", "5", "5"]), Reply::bulk("["));
        assert_eq!(c.int(&["BITPOS", "k", "1", "1"]), 9);
        assert_eq!(c.cmd(&["TYPE", "k"]), Reply::status("string"));
        // A bitmap built bit by bit reads back as the string it spells.
        c.int(&["DEL", "k"]);
        for (i, b) in b"hi".iter().enumerate() {
            for j in 0..8 {
                let on = (b >> (7 - j)) & 1;
                c.int(&["SETBIT", "k", &(i * 8 + j).to_string(), &on.to_string()]);
            }
        }
        assert_eq!(get(&mut c, "k"), b"hi");
        assert_eq!(c.int(&["STRLEN", "k"]), 2);
    });
}

/// A plain bit vector: the reference model for the random test.
#[derive(Default, Clone)]
struct Model {
    bytes: Vec<u8>,
}

impl Model {
    fn bit(&self, i: u64) -> bool {
        self.bytes
            .get((i / 8) as usize)
            .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }
    fn grow(&mut self, last_bit: u64) {
        let need = (last_bit / 8 + 1) as usize;
        if self.bytes.len() < need {
            self.bytes.resize(need, 0);
        }
    }
    fn set(&mut self, i: u64, on: bool) {
        self.grow(i);
        let b = &mut self.bytes[(i / 8) as usize];
        if on {
            *b |= 0x80 >> (i % 8);
        } else {
            *b &= !(0x80 >> (i % 8));
        }
    }
    fn get_field(&self, off: u64, bits: u32, signed: bool) -> i128 {
        let mut v: i128 = 0;
        for i in 0..u64::from(bits) {
            v = (v << 1) | i128::from(self.bit(off + i));
        }
        if signed && v >> (bits - 1) == 1 {
            v -= 1 << bits;
        }
        v
    }
    fn set_field(&mut self, off: u64, bits: u32, v: i128) {
        for i in 0..u64::from(bits) {
            self.set(off + i, (v >> (u64::from(bits) - 1 - i)) & 1 == 1);
        }
    }
    /// Redis's range resolution, in bits: None when empty.
    fn range(&self, start: i64, end: i64, is_bit: bool) -> Option<(u64, u64)> {
        let total = self.bytes.len() as i64 * if is_bit { 8 } else { 1 };
        let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
        let (s, e) = (fix(start), fix(end).min(total - 1));
        if s > e {
            return None;
        }
        let (s, e) = (s as u64, e as u64);
        Some(if is_bit { (s, e) } else { (s * 8, e * 8 + 7) })
    }
    fn bitcount(&self, range: Option<(i64, i64, bool)>) -> i64 {
        let r = match range {
            None => self.range(0, -1, false),
            Some((s, e, _)) if s < 0 && e < 0 && s > e => None,
            Some((s, e, b)) => self.range(s, e, b),
        };
        r.map_or(0, |(s, e)| (s..=e).filter(|&i| self.bit(i)).count() as i64)
    }
    fn bitpos(&self, bit: bool, start: Option<i64>, end: Option<i64>, is_bit: bool) -> i64 {
        let r = self.range(start.unwrap_or(0), end.unwrap_or(-1), is_bit);
        let Some((s, e)) = r else { return -1 };
        match (s..=e).find(|&i| self.bit(i) == bit) {
            Some(p) => p as i64,
            None if !bit && end.is_none() => e as i64 + 1,
            None => -1,
        }
    }
}

/// Applies a BITFIELD SET or INCRBY to the model the way Redis defines overflow;
/// returns the reply (None for a FAIL).
fn model_field_write(
    m: &mut Model,
    signed: bool,
    bits: u32,
    off: u64,
    incr: bool,
    arg: i64,
    ow: &str,
) -> Option<i64> {
    let (min, max): (i128, i128) = if signed {
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    } else {
        (0, (1 << bits) - 1)
    };
    let old = m.get_field(off, bits, signed);
    let target: i128 = if incr {
        old + i128::from(arg)
    } else if signed {
        i128::from(arg)
    } else {
        i128::from(arg as u64)
    };
    let new = if (min..=max).contains(&target) {
        target
    } else {
        match ow {
            "FAIL" => return None,
            "SAT" => {
                if target > max {
                    max
                } else {
                    min
                }
            }
            _ => {
                let range = 1i128 << bits;
                (target - min).rem_euclid(range) + min
            }
        }
    };
    m.set_field(off, bits, new);
    Some(if incr { new as i64 } else { old as i64 })
}

#[test]
fn random_traffic_matches_a_bit_vector() {
    for_threads(|s| {
        let mut c = s.client();
        let mut rng = fastrand::Rng::with_seed(0x5eed ^ s.threads as u64);
        let mut m = Model::default();
        let mut other = Model::default();
        for step in 0..1500 {
            let span = 8 * (m.bytes.len() as u64 + 4);
            match rng.u8(0..8) {
                0 => {
                    let i = rng.u64(0..span);
                    let on = rng.bool();
                    let want = i64::from(m.bit(i));
                    m.set(i, on);
                    let got = c.int(&[
                        "SETBIT",
                        "bm{t}",
                        &i.to_string(),
                        if on { "1" } else { "0" },
                    ]);
                    assert_eq!(got, want, "step {step}: SETBIT {i}");
                }
                1 => {
                    let i = rng.u64(0..span);
                    assert_eq!(
                        c.int(&["GETBIT", "bm{t}", &i.to_string()]),
                        i64::from(m.bit(i))
                    );
                }
                2 | 3 => {
                    // A BITFIELD with a few operations of random types.
                    let mut args: Vec<String> = vec!["BITFIELD".into(), "bm{t}".into()];
                    let mut want = Vec::new();
                    let mut ow = "WRAP";
                    for _ in 0..rng.usize(1..4) {
                        if rng.u8(0..4) == 0 {
                            ow = ["WRAP", "SAT", "FAIL"][rng.usize(0..3)];
                            args.extend(["OVERFLOW".into(), ow.into()]);
                        }
                        let signed = rng.bool();
                        let bits = rng.u32(1..=if signed { 64 } else { 63 });
                        let off = rng.u64(0..span);
                        let ty = format!("{}{bits}", if signed { 'i' } else { 'u' });
                        let arg = match rng.u8(0..3) {
                            0 => rng.i64(-3..3),
                            1 => rng.i64(..),
                            _ => rng.i64(-(1 << 20)..(1 << 20)),
                        };
                        match rng.u8(0..3) {
                            0 => {
                                want.push(Reply::Int(m.get_field(off, bits, signed) as i64));
                                args.extend(["GET".into(), ty, off.to_string()]);
                            }
                            k => {
                                let incr = k == 2;
                                // Redis grows the string first, even for a FAIL.
                                m.grow(off + u64::from(bits) - 1);
                                let r = model_field_write(&mut m, signed, bits, off, incr, arg, ow);
                                want.push(r.map_or(Reply::Nil, Reply::Int));
                                let sub = if incr { "INCRBY" } else { "SET" };
                                args.extend([sub.into(), ty, off.to_string(), arg.to_string()]);
                            }
                        }
                    }
                    assert_eq!(c.cmd(&args), Reply::Array(want), "step {step}: {args:?}");
                }
                4 => {
                    let len = m.bytes.len() as i64 * 9 + 3;
                    let (a, b) = (rng.i64(-len..len), rng.i64(-len..len));
                    let unit = rng.u8(0..3);
                    let mut args = vec!["BITCOUNT".to_string(), "bm{t}".into()];
                    let want = if unit == 0 && rng.bool() {
                        m.bitcount(None)
                    } else {
                        args.extend([a.to_string(), b.to_string()]);
                        if unit > 0 {
                            args.push(if unit == 1 { "BYTE" } else { "BIT" }.into());
                        }
                        m.bitcount(Some((a, b, unit == 2)))
                    };
                    assert_eq!(c.int(&args), want, "step {step}: {args:?}");
                }
                5 | 6 => {
                    let len = m.bytes.len() as i64 * 9 + 3;
                    let bit = rng.bool();
                    let mut args = vec![
                        "BITPOS".to_string(),
                        "bm{t}".into(),
                        if bit { "1" } else { "0" }.into(),
                    ];
                    let n = rng.u8(0..4);
                    let start = (n >= 1).then(|| rng.i64(-len..len));
                    let end = (n >= 2).then(|| rng.i64(-len..len));
                    let is_bit = n == 3 && rng.bool();
                    for v in [start, end].into_iter().flatten() {
                        args.push(v.to_string());
                    }
                    if n == 3 {
                        args.push(if is_bit { "BIT" } else { "BYTE" }.into());
                    }
                    let want = if m.bytes.is_empty() {
                        // No key yet: an endless run of zeros.
                        if bit {
                            -1
                        } else {
                            0
                        }
                    } else {
                        m.bitpos(bit, start, end, is_bit)
                    };
                    assert_eq!(c.int(&args), want, "step {step}: {args:?}");
                }
                _ => {
                    // BITOP against a second random bitmap, checked byte for byte.
                    let n = rng.usize(0..40);
                    other.bytes = (0..n).map(|_| rng.u8(..)).collect();
                    if n == 0 {
                        c.int(&["DEL", "o{t}"]);
                    } else {
                        set_bytes(&mut c, "o{t}", &other.bytes);
                    }
                    let op = ["AND", "OR", "XOR", "NOT"][rng.usize(0..4)];
                    let len = m.bytes.len().max(n);
                    let at = |v: &[u8], i: usize| v.get(i).copied().unwrap_or(0);
                    let want: Vec<u8> = match op {
                        "NOT" => m.bytes.iter().map(|b| !b).collect(),
                        _ => (0..len)
                            .map(|i| {
                                let (a, b) = (at(&m.bytes, i), at(&other.bytes, i));
                                match op {
                                    "AND" => a & b,
                                    "OR" => a | b,
                                    _ => a ^ b,
                                }
                            })
                            .collect(),
                    };
                    let got = if op == "NOT" {
                        c.int(&["BITOP", op, "dst{t}", "bm{t}"])
                    } else {
                        c.int(&["BITOP", op, "dst{t}", "bm{t}", "o{t}"])
                    };
                    assert_eq!(got, want.len() as i64, "step {step}: BITOP {op}");
                    if want.is_empty() {
                        assert_eq!(c.int(&["EXISTS", "dst{t}"]), 0);
                    } else {
                        assert_eq!(get(&mut c, "dst{t}"), want, "step {step}: BITOP {op}");
                    }
                }
            }
        }
        assert_eq!(get(&mut c, "bm{t}"), m.bytes);
    });
}
