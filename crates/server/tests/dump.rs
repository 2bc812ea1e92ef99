//! DUMP and RESTORE: round trips of every type and encoding (small and big, conversions
//! forced with CONFIG SET), RESTORE's options and errors, its effect on WATCH and blocked
//! clients, and interoperability with a real `redis-server` started beside the server
//! under test: payloads DUMPed by Redis restore here, and payloads DUMPed here restore in
//! Redis, with equal contents read back by ordinary commands (`digest.rs` compares DEBUG
//! DIGEST-VALUE across the two servers).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{for_threads, Client, RealRedis, Reply, Server};

const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
const BAD_FORMAT: &str = "ERR Bad data format";

/// A fixture: a name and how to build the value at a key.
type Build = fn(&mut Client, &str);

/// Every type, in each encoding Redis 7.0 (and Tessera) would give it, small and big.
fn fixtures() -> Vec<(&'static str, Build)> {
    vec![
        ("string int8", |c, k| c.ok(&["SET", k, "-12"])),
        ("string int32", |c, k| c.ok(&["SET", k, "-1000000"])),
        ("string int64", |c, k| {
            c.ok(&["SET", k, "12345678901234567"])
        }),
        ("string empty", |c, k| c.ok(&["SET", k, ""])),
        ("string short", |c, k| c.ok(&["SET", k, "hello"])),
        ("string not canonical int", |c, k| c.ok(&["SET", k, "007"])),
        ("string binary", |c, k| {
            c.ok(&[b"SET".as_slice(), k.as_bytes(), b"a\0b\r\nc\xff"])
        }),
        ("string compressible", |c, k| {
            c.ok(&["SET", k, &"abcdefgh".repeat(500)])
        }),
        ("string incompressible", |c, k| {
            c.ok(&[b"SET".as_slice(), k.as_bytes(), &noise(3000, 1)])
        }),
        ("string appended", |c, k| {
            c.ok(&["SET", k, "12"]);
            c.int(&["APPEND", k, "345678901234567890123"]);
        }),
        ("list small", |c, k| {
            push(
                c,
                "RPUSH",
                k,
                &["a", "1", "-70000", "", "12345678901234", "x"],
            )
        }),
        ("list big", |c, k| {
            let items: Vec<String> = (0..3000)
                .map(|i| {
                    if i % 3 == 0 {
                        i.to_string()
                    } else {
                        format!("element-{i}-{}", "z".repeat(i % 50))
                    }
                })
                .collect();
            push(c, "RPUSH", k, &items);
        }),
        ("list huge elements", |c, k| {
            let big = "q".repeat(20_000);
            push(c, "RPUSH", k, &[big.as_str(), "small", big.as_str()]);
        }),
        ("set intset small", |c, k| {
            push(c, "SADD", k, &["3", "-1", "70000"])
        }),
        ("set intset 64-bit", |c, k| {
            push(
                c,
                "SADD",
                k,
                &["1", "-9223372036854775808", "9223372036854775807"],
            )
        }),
        ("set intset big", |c, k| {
            let ms: Vec<String> = (0..500).map(|i| (i * 7919 - 100_000).to_string()).collect();
            push(c, "SADD", k, &ms);
        }),
        ("set small strings", |c, k| {
            push(c, "SADD", k, &["a", "b", "12", ""])
        }),
        ("set big strings", |c, k| {
            let ms: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
            push(c, "SADD", k, &ms);
        }),
        ("set many ints as a table", |c, k| {
            let ms: Vec<String> = (0..600).map(|i| i.to_string()).collect();
            push(c, "SADD", k, &ms);
        }),
        ("set ints forced to a table", |c, k| {
            c.ok(&["CONFIG", "SET", "set-max-intset-entries", "2"]);
            push(c, "SADD", k, &["1", "2", "3", "4"]);
            c.ok(&["CONFIG", "SET", "set-max-intset-entries", "512"]);
        }),
        ("zset small", |c, k| {
            zadd(
                c,
                k,
                &[
                    ("1", "a"),
                    ("-2.5", "b"),
                    ("inf", "c"),
                    ("-inf", "d"),
                    ("0.1", "12"),
                    ("1e300", ""),
                ],
            )
        }),
        ("zset big", |c, k| {
            let pairs: Vec<(String, String)> = (0..500)
                .map(|i| (format!("{}", i as f64 / 7.0), format!("member-{i}")))
                .collect();
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            zadd(c, k, &refs);
        }),
        ("zset long member", |c, k| {
            let long = "m".repeat(100);
            zadd(c, k, &[("1", "a"), ("2", long.as_str())]);
        }),
        ("zset forced to a skiplist", |c, k| {
            c.ok(&["CONFIG", "SET", "zset-max-listpack-entries", "1"]);
            zadd(c, k, &[("1", "a"), ("2", "b"), ("3", "c")]);
            c.ok(&["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
        }),
        ("hash small", |c, k| {
            hset(
                c,
                k,
                &[("f", "v"), ("1", "2"), ("", "empty"), ("n", "-70000")],
            )
        }),
        ("hash big", |c, k| {
            let pairs: Vec<(String, String)> = (0..1000)
                .map(|i| (format!("field:{i}"), format!("{}", i * 31)))
                .collect();
            let refs: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            hset(c, k, &refs);
        }),
        ("hash long value", |c, k| {
            let long = "v".repeat(200);
            hset(c, k, &[("a", "1"), ("b", long.as_str())]);
        }),
        ("hash forced to a table", |c, k| {
            c.ok(&["CONFIG", "SET", "hash-max-listpack-entries", "1"]);
            hset(c, k, &[("a", "1"), ("b", "2"), ("c", "3")]);
            c.ok(&["CONFIG", "SET", "hash-max-listpack-entries", "128"]);
        }),
    ]
}

/// `len` bytes from a small PRNG: binary and incompressible.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn push<S: AsRef<str>>(c: &mut Client, cmd: &str, k: &str, items: &[S]) {
    let mut args = vec![cmd, k];
    args.extend(items.iter().map(AsRef::as_ref));
    c.int(&args);
}

fn zadd(c: &mut Client, k: &str, pairs: &[(&str, &str)]) {
    let mut args = vec!["ZADD", k];
    for (s, m) in pairs {
        args.extend([*s, *m]);
    }
    c.int(&args);
}

fn hset(c: &mut Client, k: &str, pairs: &[(&str, &str)]) {
    let mut args = vec!["HSET", k];
    for (f, v) in pairs {
        args.extend([*f, *v]);
    }
    c.int(&args);
}

fn bulks(r: Reply) -> Vec<Vec<u8>> {
    r.as_array().iter().map(|x| x.as_bytes().to_vec()).collect()
}

/// A key's type and contents, read with ordinary commands (sorted where the type has no
/// order), so that two servers' values can be compared whatever their encodings.
fn contents(c: &mut Client, key: &str) -> (String, Vec<Vec<u8>>) {
    let ty = match c.cmd(&["TYPE", key]) {
        Reply::Status(s) => s,
        other => panic!("TYPE {key}: {other:?}"),
    };
    let mut items = match ty.as_str() {
        "string" => vec![c.cmd(&["GET", key]).as_bytes().to_vec()],
        "list" => bulks(c.cmd(&["LRANGE", key, "0", "-1"])),
        "set" => bulks(c.cmd(&["SMEMBERS", key])),
        "zset" => bulks(c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])),
        "hash" => bulks(c.cmd(&["HGETALL", key]))
            .chunks(2)
            .map(|p| [p[0].as_slice(), b"\0=\0", p[1].as_slice()].concat())
            .collect(),
        _ => Vec::new(),
    };
    if ty == "set" || ty == "hash" {
        items.sort();
    }
    (ty, items)
}

fn dump(c: &mut Client, key: &str) -> Vec<u8> {
    match c.cmd(&["DUMP", key]) {
        Reply::Bulk(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(c: &mut Client, key: &str, ttl: &str, payload: &[u8], opts: &[&str]) -> Reply {
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), payload];
    args.extend(opts.iter().map(|o| o.as_bytes()));
    c.cmd(&args)
}

/// A payload with a correct footer around `body` (type byte and value).
fn sealed(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = storage::rdb::crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

fn now_ms() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(d.as_millis()).unwrap()
}

#[test]
fn dump_restore_round_trips_every_type_and_encoding() {
    for_threads(|s| {
        let mut c = s.client();
        for (name, build) in fixtures() {
            let src = format!("src:{name}");
            build(&mut c, &src);
            let want = contents(&mut c, &src);
            let payload = dump(&mut c, &src);
            let dst = format!("dst:{name}");
            assert_eq!(
                restore(&mut c, &dst, "0", &payload, &[]),
                Reply::ok(),
                "{name}"
            );
            assert_eq!(contents(&mut c, &dst), want, "{name}");
            assert_eq!(c.int(&["PTTL", &dst]), -1, "{name}");
            // Onto the source itself, with REPLACE.
            assert_eq!(
                restore(&mut c, &src, "0", &payload, &["REPLACE"]),
                Reply::ok()
            );
            assert_eq!(contents(&mut c, &src), want, "{name}");
            // A dump of the restored value restores to the same again.
            let again = dump(&mut c, &dst);
            assert_eq!(
                restore(&mut c, &dst, "0", &again, &["REPLACE"]),
                Reply::ok()
            );
            assert_eq!(contents(&mut c, &dst), want, "{name}");
        }
    });
}

#[test]
fn dump_of_a_missing_key_is_nil_and_arity_is_checked() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["DUMP", "nosuch"]), Reply::Nil);
        assert_eq!(
            c.err(&["DUMP"]),
            "ERR wrong number of arguments for 'dump' command"
        );
        assert_eq!(
            c.err(&["DUMP", "a", "b"]),
            "ERR wrong number of arguments for 'dump' command"
        );
        assert_eq!(
            c.err(&["RESTORE", "k", "0"]),
            "ERR wrong number of arguments for 'restore' command"
        );
        assert_eq!(
            c.err(&["RESTORE-ASKING", "k", "0"]),
            "ERR wrong number of arguments for 'restore-asking' command"
        );
        // An expired key is missing too.
        c.ok(&["SET", "gone", "v", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.cmd(&["DUMP", "gone"]), Reply::Nil);
    });
}

#[test]
fn dump_payloads_are_redis_bytes_for_strings() {
    // The body of a DUMP is Redis's RDB encoding, whatever version the footer names.
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "k", "300"]);
        let p = dump(&mut c, "k");
        assert_eq!(&p[..4], &[0, 0xC1, 0x2C, 0x01]);
        assert_eq!(p.len(), 4 + 10);
        c.ok(&["SET", "k", "abc"]);
        assert_eq!(&dump(&mut c, "k")[..5], b"\x00\x03abc");
    });
}

#[test]
fn restore_checks_arguments_before_storing() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "k", "v"]);
        let p = dump(&mut c, "k");
        assert_eq!(restore(&mut c, "k", "0", &p, &[]), Reply::err(BUSYKEY));
        // BUSYKEY comes before the TTL and payload checks, as in Redis.
        assert_eq!(
            restore(&mut c, "k", "-1", b"junk", &[]),
            Reply::err(BUSYKEY)
        );
        let cases: &[(&str, &[u8], &[&str], &str)] = &[
            ("-1", &p, &[], "ERR Invalid TTL value, must be >= 0"),
            ("x", &p, &[], "ERR value is not an integer or out of range"),
            (
                "0",
                &p,
                &["IDLETIME", "-1"],
                "ERR Invalid IDLETIME value, must be >= 0",
            ),
            (
                "0",
                &p,
                &["IDLETIME", "x"],
                "ERR value is not an integer or out of range",
            ),
            (
                "0",
                &p,
                &["FREQ", "256"],
                "ERR Invalid FREQ value, must be >= 0 and <= 255",
            ),
            (
                "0",
                &p,
                &["FREQ", "-1"],
                "ERR Invalid FREQ value, must be >= 0 and <= 255",
            ),
            ("0", &p, &["IDLETIME", "1", "FREQ", "1"], "ERR syntax error"),
            ("0", &p, &["FREQ", "1", "IDLETIME", "1"], "ERR syntax error"),
            ("0", &p, &["IDLETIME"], "ERR syntax error"),
            ("0", &p, &["REPLACE", "bogus"], "ERR syntax error"),
            ("0", b"", &[], BAD_PAYLOAD),
            ("0", b"short", &[], BAD_PAYLOAD),
            (
                "0",
                b"\x00\x03abc\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01",
                &[],
                BAD_PAYLOAD,
            ),
            // A zero checksum is no exemption for RESTORE (Redis 7.0 checks it).
            (
                "0",
                b"\x00\x03abc\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                &[],
                BAD_PAYLOAD,
            ),
        ];
        for (ttl, payload, opts, want) in cases {
            assert_eq!(
                restore(&mut c, "n", ttl, payload, opts),
                Reply::err(want),
                "{opts:?}"
            );
        }
        // A flipped bit anywhere fails the checksum.
        for i in 0..p.len() {
            let mut bad = p.clone();
            bad[i] ^= 0x10;
            assert_eq!(
                restore(&mut c, "n", "0", &bad, &[]),
                Reply::err(BAD_PAYLOAD),
                "{i}"
            );
        }
        // A newer RDB version than Redis 7.0's (10) is refused.
        assert_eq!(
            restore(&mut c, "n", "0", &sealed(b"\x00\x03abc", 11), &[]),
            Reply::err(BAD_PAYLOAD)
        );
        // A good footer around a bad body: unknown type, truncated string, bad intset.
        for body in [
            &b"\xEE\x03abc"[..],
            b"\x00\x20ab",
            b"\x0b\x0a\x03\x00\x00\x00\x01\x00\x00\x00\x01\x00",
        ] {
            assert_eq!(
                restore(&mut c, "n", "0", &sealed(body, 9), &[]),
                Reply::err(BAD_FORMAT),
                "{body:?}"
            );
        }
        assert_eq!(c.int(&["EXISTS", "n"]), 0);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
        // A bad payload with REPLACE leaves the old value alone.
        assert_eq!(
            restore(&mut c, "k", "0", b"junk", &["REPLACE"]),
            Reply::err(BAD_PAYLOAD)
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    });
}

#[test]
fn restore_ttl_absttl_replace_idletime_freq() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "src", "value"]);
        let p = dump(&mut c, "src");

        assert_eq!(restore(&mut c, "t", "100000", &p, &[]), Reply::ok());
        let pttl = c.int(&["PTTL", "t"]);
        assert!((90_000..=100_000).contains(&pttl), "{pttl}");
        assert_eq!(c.cmd(&["GET", "t"]), Reply::bulk("value"));

        let at = (now_ms() + 100_000).to_string();
        assert_eq!(restore(&mut c, "a", &at, &p, &["ABSTTL"]), Reply::ok());
        let pttl = c.int(&["PTTL", "a"]);
        assert!((90_000..=100_000).contains(&pttl), "{pttl}");

        // TTL 0 is no TTL, with or without ABSTTL; REPLACE drops the old TTL.
        assert_eq!(
            restore(&mut c, "t", "0", &p, &["REPLACE", "ABSTTL"]),
            Reply::ok()
        );
        assert_eq!(c.int(&["PTTL", "t"]), -1);

        // A deadline already past: OK, no key; with REPLACE the old key goes too.
        assert_eq!(
            restore(&mut c, "past", "1000", &p, &["ABSTTL"]),
            Reply::ok()
        );
        assert_eq!(c.int(&["EXISTS", "past"]), 0);
        assert_eq!(
            restore(&mut c, "t", "1", &p, &["ABSTTL", "REPLACE"]),
            Reply::ok()
        );
        assert_eq!(c.int(&["EXISTS", "t"]), 0);

        // IDLETIME and FREQ are accepted (any case, any order with the other options).
        assert_eq!(
            restore(&mut c, "i", "0", &p, &["idletime", "1000", "replace"]),
            Reply::ok()
        );
        assert_eq!(
            restore(&mut c, "f", "0", &p, &["ABSTTL", "freq", "100"]),
            Reply::ok()
        );
        assert_eq!(c.cmd(&["GET", "f"]), Reply::bulk("value"));

        // DUMP does not carry the TTL.
        let q = dump(&mut c, "a");
        assert_eq!(restore(&mut c, "b", "0", &q, &[]), Reply::ok());
        assert_eq!(c.int(&["PTTL", "b"]), -1);

        // RESTORE-ASKING is RESTORE.
        let mut args: Vec<&[u8]> = vec![b"RESTORE-ASKING", b"ask", b"0", &p];
        assert_eq!(c.cmd(&args), Reply::ok());
        args.push(b"REPLACE");
        assert_eq!(c.cmd(&args), Reply::ok());
        args.pop();
        assert_eq!(c.cmd(&args), Reply::err(BUSYKEY));
        assert_eq!(c.cmd(&["GET", "ask"]), Reply::bulk("value"));
    });
}

#[test]
fn restore_invalidates_watch_and_wakes_blocked_clients() {
    for_threads(|s| {
        let mut c = s.client();
        push(&mut c, "RPUSH", "src", &["job1", "job2"]);
        let p = dump(&mut c, "src");

        let mut w = s.client();
        w.ok(&["WATCH", "q"]);
        assert_eq!(restore(&mut c, "q", "0", &p, &[]), Reply::ok());
        w.ok(&["MULTI"]);
        assert_eq!(w.cmd(&["GET", "x"]), Reply::status("QUEUED"));
        assert_eq!(w.cmd(&["EXEC"]), Reply::NilArray);

        let mut b = s.client();
        b.send(&common::encode(&["BLPOP", "jobs", "5"]));
        // Wait until the server has the client blocked.
        assert!(common::eventually(Duration::from_secs(5), || {
            let info = c.cmd(&["INFO", "clients"]).as_string();
            common::info_field(&info, "blocked_clients").as_deref() == Some("1")
        }));
        assert_eq!(restore(&mut c, "jobs", "0", &p, &[]), Reply::ok());
        assert_eq!(b.read_reply(), Reply::bulks(&["jobs", "job1"]));
        assert_eq!(
            c.cmd(&["LRANGE", "jobs", "0", "-1"]),
            Reply::bulks(&["job2"])
        );
    });
}

/// Builds every fixture on `from`, DUMPs it, RESTOREs it on `to` and compares.
fn transfer(from: &mut Client, to: &mut Client, label: &str) {
    for (name, build) in fixtures() {
        let key = format!("{label}:{name}");
        build(from, &key);
        let want = contents(from, &key);
        let payload = dump(from, &key);
        let got = restore(to, &key, "0", &payload, &[]);
        assert_eq!(got, Reply::ok(), "{label} {name}");
        assert_eq!(contents(to, &key), want, "{label} {name}");
    }
}

#[test]
fn redis_dumps_restore_here() {
    let redis = RealRedis::start(&[]);
    for_threads(|s| {
        let mut r = redis.client();
        let mut c = s.client();
        r.ok(&["FLUSHALL"]);
        transfer(&mut r, &mut c, "from-redis");
        // Redis 7.0's compressed quicklist nodes (list-compress-depth), and lists of
        // plain nodes (elements past the node size).
        r.ok(&["CONFIG", "SET", "list-compress-depth", "1"]);
        r.ok(&["CONFIG", "SET", "list-max-listpack-size", "4"]);
        let items: Vec<String> = (0..200)
            .map(|i| format!("item {i} {}", "x".repeat(40)))
            .collect();
        push(&mut r, "RPUSH", "clist", &items);
        let want = contents(&mut r, "clist");
        let payload = dump(&mut r, "clist");
        assert_eq!(restore(&mut c, "clist", "0", &payload, &[]), Reply::ok());
        assert_eq!(contents(&mut c, "clist"), want);
        r.ok(&["CONFIG", "SET", "list-compress-depth", "0"]);
        r.ok(&["CONFIG", "SET", "list-max-listpack-size", "-2"]);
    });
}

#[test]
fn dumps_from_here_restore_in_redis() {
    let redis = RealRedis::start(&[]);
    for_threads(|s| {
        let mut r = redis.client();
        let mut c = s.client();
        r.ok(&["FLUSHALL"]);
        transfer(&mut c, &mut r, "to-redis");
        // A list big enough that MIGRATE's path matters: 100,000 elements, restored by
        // Redis in one piece.
        let items: Vec<String> = (0..100_000).map(|i| format!("e{i}")).collect();
        for chunk in items.chunks(10_000) {
            push(&mut c, "RPUSH", "biglist", chunk);
        }
        let payload = dump(&mut c, "biglist");
        assert_eq!(restore(&mut r, "biglist", "0", &payload, &[]), Reply::ok());
        assert_eq!(r.int(&["LLEN", "biglist"]), 100_000);
        assert_eq!(
            r.cmd(&["LINDEX", "biglist", "77777"]),
            Reply::bulk("e77777")
        );
        // Redis accepts our TTL handling's counterpart too: its own RESTORE with ABSTTL.
        c.ok(&["SET", "s", "v"]);
        let p = dump(&mut c, "s");
        let at = (now_ms() + 50_000).to_string();
        assert_eq!(restore(&mut r, "s", &at, &p, &["ABSTTL"]), Reply::ok());
        assert!(r.int(&["PTTL", "s"]) > 40_000);
    });
}

#[test]
fn redis_and_tessera_dump_the_same_string_bodies() {
    // Byte-for-byte the same RDB body as Redis writes, for strings of every encoding
    // (the 2-byte version in the footer may differ: Redis 7.0 writes 10, Tessera 9).
    let redis = RealRedis::start(&[]);
    let mut r = redis.client();
    let s = Server::start(1);
    let mut c = s.client();
    let values: Vec<Vec<u8>> = vec![
        b"0".to_vec(),
        b"-128".to_vec(),
        b"127".to_vec(),
        b"-32768".to_vec(),
        b"32767".to_vec(),
        b"2147483647".to_vec(),
        b"-2147483648".to_vec(),
        b"2147483648".to_vec(),
        b"012".to_vec(),
        b"hello world".to_vec(),
        "abc".repeat(7).into_bytes(),
        "abcd".repeat(100).into_bytes(),
        noise(100, 9),
    ];
    for v in values {
        r.ok(&[b"SET".as_slice(), b"k", &v]);
        c.ok(&[b"SET".as_slice(), b"k", &v]);
        let (a, b) = (dump(&mut r, "k"), dump(&mut c, "k"));
        let body = |p: &[u8]| p[..p.len() - 10].to_vec();
        // LZF output may differ between compressors; both must restore in Redis.
        if a.get(1) == Some(&0xC3) || b.get(1) == Some(&0xC3) {
            assert_eq!(restore(&mut r, "x", "0", &b, &["REPLACE"]), Reply::ok());
            assert_eq!(r.cmd(&["GET", "x"]), Reply::bulk(&v));
        } else {
            assert_eq!(body(&a), body(&b), "{:?}", String::from_utf8_lossy(&v));
        }
    }
}
