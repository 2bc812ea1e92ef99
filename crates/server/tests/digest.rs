//! DEBUG DIGEST and DEBUG DIGEST-VALUE against a real `redis-server` 7.0 started beside
//! the server under test: the same commands build the same data in both (every type,
//! small and big encodings, integer and binary strings, every kind of score, TTLs,
//! several databases), and both digests must come out equal, at `--threads 1` and 4
//! (where the keys spread over shards and the shards' shares must combine as Redis
//! combines keys).
#![allow(clippy::unwrap_used)]

mod common;

use common::{for_threads, Client, RealRedis, Reply, Server};

/// Redis refuses DEBUG unless enabled (the harness's own servers have it on).
const DEBUG_ON: [&str; 2] = ["--enable-debug-command", "yes"];

type Cmd = Vec<Vec<u8>>;

fn cmd(parts: &[&[u8]]) -> Cmd {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// A string value of one of the shapes the digest must treat alike in both servers.
fn string_value(rng: &mut fastrand::Rng) -> Vec<u8> {
    match rng.u8(0..9) {
        0 => rng.i64(..).to_string().into_bytes(),
        1 => rng.i64(-1000..1000).to_string().into_bytes(),
        2 => [i64::MIN, i64::MAX, 0, -1][rng.usize(0..4)]
            .to_string()
            .into_bytes(),
        3 => Vec::new(),
        // Integers Redis keeps as text: not canonical, or past i64.
        4 => [&b"007"[..], b"-0", b"+1", b"99999999999999999999", b" 1"][rng.usize(0..5)].to_vec(),
        5 => (0..rng.usize(1..40)).map(|_| rng.u8(..)).collect(),
        6 => b"a\0b\r\nc\xff".to_vec(),
        7 => "long ".repeat(rng.usize(10..200)).into_bytes(),
        _ => format!("v{}", rng.u32(..)).into_bytes(),
    }
}

/// A list element, set member, hash field or value.
fn element(rng: &mut fastrand::Rng, long: bool) -> Vec<u8> {
    match rng.u8(0..5) {
        0 => rng.i64(-100_000..100_000).to_string().into_bytes(),
        1 => (0..rng.usize(0..12)).map(|_| rng.u8(..)).collect(),
        2 if long => format!("{}{}", "x".repeat(70), rng.u32(..)).into_bytes(),
        _ => format!("e{}", rng.u32(0..5000)).into_bytes(),
    }
}

/// A score as text both servers parse to the same double.
fn score(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..10) {
        0 => "inf".into(),
        1 => "-inf".into(),
        2 => "+inf".into(),
        3 => rng.i64(-1_000_000..1_000_000).to_string(),
        4 => format!("{}", (rng.f64() - 0.5) * 1e6),
        5 => format!("{:e}", rng.f64() * 10f64.powi(rng.i32(-300..300))),
        6 => [
            "0.1",
            "-2.5e-7",
            "1e17",
            "1e16",
            "123456789012345678",
            "0",
            "-0.5",
        ][rng.usize(0..7)]
        .into(),
        7 => format!("-{}", rng.f64()),
        _ => rng.u32(0..100).to_string(),
    }
}

/// Commands that build one random key of a random type at `key`, with a TTL now and
/// then (and the TTL removed again now and then).
fn build_key(rng: &mut fastrand::Rng, key: &[u8], out: &mut Vec<Cmd>) {
    let big = rng.u8(0..4) == 0;
    let n = if big {
        rng.usize(130..600)
    } else {
        rng.usize(1..20)
    };
    match rng.u8(0..7) {
        0 => out.push(cmd(&[b"SET", key, &string_value(rng)])),
        1 => {
            // Strings changed in place (another encoding in both servers).
            out.push(cmd(&[b"SET", key, &string_value(rng)]));
            match rng.u8(0..3) {
                0 => out.push(cmd(&[b"APPEND", key, &string_value(rng)])),
                1 => out.push(cmd(&[b"SETRANGE", key, b"3", b"zz"])),
                _ => {
                    out.push(cmd(&[b"SET", key, rng.i32(..).to_string().as_bytes()]));
                    out.push(cmd(&[b"INCRBY", key, rng.i32(..).to_string().as_bytes()]));
                }
            }
        }
        2 => {
            for _ in 0..n {
                let push: &[u8] = if rng.bool() { b"RPUSH" } else { b"LPUSH" };
                out.push(cmd(&[push, key, &element(rng, big)]));
            }
        }
        3 => {
            // Integers only (an intset while small), or anything.
            let ints = rng.bool();
            for _ in 0..n {
                let m = if ints {
                    rng.i64(-1_000_000..1_000_000).to_string().into_bytes()
                } else {
                    element(rng, big)
                };
                out.push(cmd(&[b"SADD", key, &m]));
            }
            if rng.bool() {
                out.push(cmd(&[b"SREM", key, b"e1", b"0", b"5"]));
            }
        }
        4 => {
            for _ in 0..n {
                out.push(cmd(&[
                    b"ZADD",
                    key,
                    score(rng).as_bytes(),
                    &element(rng, big),
                ]));
            }
            if rng.bool() {
                out.push(cmd(&[b"ZINCRBY", key, b"0.25", b"e7"]));
            }
        }
        _ => {
            for _ in 0..n {
                out.push(cmd(&[b"HSET", key, &element(rng, big), &element(rng, big)]));
            }
            if rng.bool() {
                out.push(cmd(&[b"HINCRBY", key, b"counter", b"7"]));
            }
        }
    }
    match rng.u8(0..6) {
        0 => out.push(cmd(&[
            b"EXPIRE",
            key,
            rng.u32(1000..100_000).to_string().as_bytes(),
        ])),
        1 => out.push(cmd(&[b"PEXPIREAT", key, b"99999999999999"])),
        2 => {
            out.push(cmd(&[b"EXPIRE", key, b"5000"]));
            out.push(cmd(&[b"PERSIST", key]));
        }
        _ => {}
    }
}

/// A random dataset over a few databases, as a list of commands (SELECTs included).
fn dataset(seed: u64) -> Vec<Cmd> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::new();
    let dbs = [0u8, 1, 5, 15];
    for _ in 0..rng.usize(1..4) {
        let db = dbs[rng.usize(0..dbs.len())].to_string();
        out.push(cmd(&[b"SELECT", db.as_bytes()]));
        for _ in 0..rng.usize(1..40) {
            // Few enough names that keys are overwritten and retyped now and then.
            let key = format!("k{}", rng.u32(0..60)).into_bytes();
            if rng.u8(0..10) == 0 {
                out.push(cmd(&[b"DEL", &key]));
            }
            build_key(&mut rng, &key, &mut out);
        }
    }
    out
}

fn run_all(c: &mut Client, cmds: &[Cmd]) -> Vec<Reply> {
    let replies = cmds.iter().map(|x| c.cmd(x)).collect();
    c.ok(&["SELECT", "0"]);
    replies
}

fn digest(c: &mut Client) -> String {
    match c.cmd(&["DEBUG", "DIGEST"]) {
        Reply::Status(hex) => hex,
        other => panic!("DEBUG DIGEST: {other:?}"),
    }
}

/// DIGEST-VALUE of every key Redis holds in `db`, and of one missing key.
fn value_digests(c: &mut Client, db: &str, keys: &[Vec<u8>]) -> Vec<String> {
    c.ok(&["SELECT", db]);
    let mut args: Vec<&[u8]> = vec![b"DEBUG", b"DIGEST-VALUE", b"no-such-key"];
    args.extend(keys.iter().map(|k| k.as_slice()));
    let r = match c.cmd(&args) {
        Reply::Array(items) => items
            .into_iter()
            .map(|d| match d {
                Reply::Status(hex) => hex,
                other => panic!("DIGEST-VALUE item: {other:?}"),
            })
            .collect(),
        other => panic!("DIGEST-VALUE: {other:?}"),
    };
    c.ok(&["SELECT", "0"]);
    r
}

fn keys_in(c: &mut Client, db: &str) -> Vec<Vec<u8>> {
    c.ok(&["SELECT", db]);
    let mut keys: Vec<Vec<u8>> = match c.cmd(&["KEYS", "*"]) {
        Reply::Array(items) => items.iter().map(|k| k.as_bytes().to_vec()).collect(),
        other => panic!("KEYS: {other:?}"),
    };
    keys.sort();
    c.ok(&["SELECT", "0"]);
    keys
}

/// Builds `seed`'s dataset in both servers and compares every digest.
fn compare(seed: u64, r: &mut Client, c: &mut Client, s: &Server) {
    r.ok(&["FLUSHALL"]);
    c.ok(&["FLUSHALL"]);
    let cmds = dataset(seed);
    let want = run_all(r, &cmds);
    let got = run_all(c, &cmds);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(w, g, "seed {seed}, reply to command {i} differs");
    }
    let threads = s.threads;
    for db in ["0", "1", "5", "15"] {
        let keys = keys_in(r, db);
        assert_eq!(keys_in(c, db), keys, "seed {seed}, keys of db {db}");
        assert_eq!(
            value_digests(c, db, &keys),
            value_digests(r, db, &keys),
            "seed {seed}, DIGEST-VALUE in db {db}, --threads {threads}"
        );
    }
    let want = digest(r);
    assert_ne!(want, "0".repeat(40));
    assert_eq!(
        digest(c),
        want,
        "seed {seed}, DEBUG DIGEST, --threads {threads}"
    );
}

#[test]
fn digests_equal_redis_on_random_data() {
    let redis = RealRedis::start(&DEBUG_ON);
    for_threads(|s| {
        let mut r = redis.client();
        let mut c = s.client();
        for seed in 0..40 {
            compare(seed, &mut r, &mut c, s);
        }
    });
}

/// A key whose TTL has passed but that nothing has removed yet still counts, in both
/// digests, and reading them does not remove it; once a read removes it, it is gone.
#[test]
fn expired_key_counts_until_removed() {
    let redis = RealRedis::start(&DEBUG_ON);
    for_threads(|s| {
        let mut both = [redis.client(), s.client()];
        let mut seen = Vec::new();
        for c in &mut both {
            c.ok(&["FLUSHALL"]);
            c.ok(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
            c.ok(&["SET", "live", "1"]);
            c.ok(&["SET", "gone", "v", "PX", "1"]);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        for c in &mut both {
            let value = c.cmd(&["DEBUG", "DIGEST-VALUE", "gone"]);
            let before = (digest(c), value, c.int(&["DBSIZE"]));
            assert_eq!(c.cmd(&["GET", "gone"]), Reply::Nil);
            let value = c.cmd(&["DEBUG", "DIGEST-VALUE", "gone"]);
            let after = (digest(c), value, c.int(&["DBSIZE"]));
            c.ok(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
            seen.push((before, after));
        }
        assert_eq!(seen[1], seen[0], "--threads {}", s.threads);
        assert_ne!(seen[0].0, seen[0].1);
    });
}

#[test]
fn digest_of_nothing_is_zeros() {
    let zeros = Reply::status(&"0".repeat(40));
    let redis = RealRedis::start(&DEBUG_ON);
    for_threads(|s| {
        for mut c in [s.client(), redis.client()] {
            c.ok(&["FLUSHALL"]);
            assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), zeros);
            assert_eq!(
                c.cmd(&["DEBUG", "DIGEST-VALUE", "nothing"]),
                Reply::Array(vec![zeros.clone()])
            );
            // Emptied again: a database whose keys are gone counts as empty.
            c.ok(&["SELECT", "3"]);
            c.ok(&["SET", "k", "v"]);
            c.int(&["DEL", "k"]);
            c.ok(&["SELECT", "0"]);
            assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), zeros);
        }
    });
}

/// The rules the random test relies on, one at a time: element order counts for
/// lists only, the TTL counts but not its time, the database number counts.
#[test]
fn what_the_digest_sees() {
    for_threads(|s| {
        let mut c = s.client();
        let d = |c: &mut Client| digest(c);
        c.ok(&["FLUSHALL"]);
        c.int(&["SADD", "s", "a", "b", "c"]);
        let one = d(&mut c);
        c.ok(&["FLUSHALL"]);
        c.int(&["SADD", "s", "c", "b", "a"]);
        assert_eq!(d(&mut c), one, "set order");

        c.ok(&["FLUSHALL"]);
        c.int(&["RPUSH", "l", "a", "b"]);
        let ab = d(&mut c);
        c.ok(&["FLUSHALL"]);
        c.int(&["RPUSH", "l", "b", "a"]);
        assert_ne!(d(&mut c), ab, "list order");

        c.ok(&["FLUSHALL"]);
        c.ok(&["SET", "k", "v", "EX", "100"]);
        let ttl = d(&mut c);
        c.int(&["EXPIRE", "k", "5000"]);
        assert_eq!(d(&mut c), ttl, "TTL time");
        c.int(&["PERSIST", "k"]);
        assert_ne!(d(&mut c), ttl, "TTL or none");

        let db0 = d(&mut c);
        c.int(&["MOVE", "k", "2"]);
        assert_ne!(d(&mut c), db0, "database number");
    });
}
