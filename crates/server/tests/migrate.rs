//! MIGRATE end to end: against a real `redis-server` in both directions,
//! and against small fake targets that misbehave. After every fault the key
//! must be on the source or on the target, never on neither.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{free_port, skip_against_redis, Client, RealRedis, Reply, Server};

fn migrate(c: &mut Client, port: u16, key: &str, db: u32, timeout_ms: u32, opts: &[&str]) -> Reply {
    let mut args: Vec<String> = vec![
        "MIGRATE".into(),
        "127.0.0.1".into(),
        port.to_string(),
        key.into(),
        db.to_string(),
        timeout_ms.to_string(),
    ];
    args.extend(opts.iter().map(|s| s.to_string()));
    c.cmd(&args)
}

/// Builds one key of every type and encoding on `c`; returns the names.
fn fill_every_type(c: &mut Client) -> Vec<String> {
    c.ok(&["SET", "str:int", "12345"]);
    c.ok(&["SET", "str:small", "hello"]);
    c.ok(&["SET", "str:big", &"abcdefgh".repeat(2000)]);
    c.ok(&["SET", "str:ttl", "v", "PX", "100000"]);
    c.int(&["RPUSH", "list:small", "a", "b", "1", "2"]);
    let many: Vec<String> = (0..1000).map(|i| format!("element-{i}")).collect();
    let mut rpush = vec!["RPUSH".to_string(), "list:big".into()];
    rpush.extend(many.iter().cloned());
    c.int(&rpush);
    c.int(&["SADD", "set:int", "1", "2", "300", "-70000"]);
    c.int(&["SADD", "set:str", "x", "y", "z"]);
    let mut sadd = vec!["SADD".to_string(), "set:big".into()];
    sadd.extend(many.iter().cloned());
    c.int(&sadd);
    c.int(&["ZADD", "zset:small", "1.5", "a", "-inf", "b", "3", "c"]);
    let mut zadd = vec!["ZADD".to_string(), "zset:big".into()];
    for (i, m) in many.iter().enumerate() {
        zadd.push(format!("{}", i as f64 / 7.0));
        zadd.push(m.clone());
    }
    c.int(&zadd);
    c.int(&["HSET", "hash:small", "f1", "v1", "f2", "2"]);
    let mut hset = vec!["HSET".to_string(), "hash:big".into()];
    for m in &many {
        hset.push(m.clone());
        hset.push(format!("value of {m}"));
    }
    c.int(&hset);
    c.int(&["EXPIRE", "hash:big", "100000"]);
    // Payloads over 64 KB, written from their own buffer; a list over 64K
    // elements and a string over 4 MB are serialised off the shard's thread.
    c.ok(&["SET", "str:huge", &"0123456789abcdef".repeat(300_000)]);
    let huge: Vec<String> = (0..70_000).map(|i| format!("huge-{i}")).collect();
    let mut rpush = vec!["RPUSH".to_string(), "list:huge".into()];
    rpush.extend(huge);
    c.int(&rpush);
    [
        "str:int",
        "str:small",
        "str:big",
        "str:ttl",
        "list:small",
        "list:big",
        "set:int",
        "set:str",
        "set:big",
        "zset:small",
        "zset:big",
        "hash:small",
        "hash:big",
        "list:huge",
        "str:huge",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A comparable rendering of a key's contents (order-free for sets/hashes).
fn contents(c: &mut Client, key: &str) -> (String, Vec<String>) {
    let t = match c.cmd(&["TYPE", key]) {
        Reply::Status(t) => t,
        other => panic!("TYPE answered {other:?}"),
    };
    let mut v = match t.as_str() {
        "string" => vec![c.cmd(&["GET", key]).as_string()],
        "list" => c.cmd(&["LRANGE", key, "0", "-1"]).as_strings(),
        "set" => c.cmd(&["SMEMBERS", key]).as_strings(),
        "zset" => c
            .cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"])
            .as_strings(),
        "hash" => c.cmd(&["HGETALL", key]).as_strings(),
        "none" => vec![],
        other => panic!("unexpected type {other}"),
    };
    if t == "set" || t == "hash" {
        if t == "hash" {
            let mut pairs: Vec<String> = v.chunks(2).map(|p| p.join("=")).collect();
            pairs.sort();
            v = pairs;
        } else {
            v.sort();
        }
    }
    (t, v)
}

#[test]
fn every_type_round_trips_through_real_redis() {
    if skip_against_redis("migrating between Tessera and Redis") {
        return;
    }
    let redis = RealRedis::start(&[]);
    for threads in [1, 4] {
        let t = Server::start(threads);
        let mut tc = t.client();
        let mut rc = redis.client();
        rc.ok(&["FLUSHALL"]);
        let keys = fill_every_type(&mut tc);
        let before: Vec<_> = keys.iter().map(|k| contents(&mut tc, k)).collect();

        // Tessera -> Redis, one key at a time.
        for k in &keys {
            assert_eq!(
                migrate(&mut tc, redis.port, k, 0, 5000, &[]),
                Reply::ok(),
                "{k}"
            );
            assert_eq!(tc.int(&["EXISTS", k]), 0, "{k} left the source");
        }
        for (k, b) in keys.iter().zip(&before) {
            assert_eq!(&contents(&mut rc, k), b, "{k} on redis");
        }
        let ttl = rc.int(&["PTTL", "str:ttl"]);
        assert!(ttl > 90_000 && ttl <= 100_000, "ttl kept: {ttl}");
        assert_eq!(rc.int(&["PTTL", "str:small"]), -1);

        // Redis -> Tessera, all at once with KEYS.
        let mut args = vec!["MIGRATE", "127.0.0.1"];
        let port = t.port.to_string();
        args.push(&port);
        args.extend(["", "0", "5000", "KEYS"]);
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(rc.cmd(&args), Reply::ok());
        assert_eq!(rc.int(&["DBSIZE"]), 0);
        for (k, b) in keys.iter().zip(&before) {
            assert_eq!(&contents(&mut tc, k), b, "{k} back on tessera");
        }
        let ttl = tc.int(&["TTL", "hash:big"]);
        assert!(ttl > 90 && ttl <= 100_000, "ttl kept: {ttl}");

        // And back with KEYS from Tessera (keys on every shard).
        let mut args = vec!["MIGRATE", "127.0.0.1"];
        let port = redis.port.to_string();
        args.push(&port);
        args.extend(["", "0", "5000", "KEYS"]);
        args.extend(keys.iter().map(String::as_str));
        assert_eq!(tc.cmd(&args), Reply::ok());
        assert_eq!(
            tc.cmd(&["KEYS", "*"]),
            Reply::Array(vec![]),
            "threads {threads}"
        );
        for (k, b) in keys.iter().zip(&before) {
            assert_eq!(&contents(&mut rc, k), b, "{k} on redis again");
        }
    }
}

#[test]
fn options_copy_replace_nokey_busykey_db_auth() {
    if skip_against_redis("migrating between Tessera and Redis") {
        return;
    }
    let redis = RealRedis::start(&["--requirepass", "sekret"]);
    let mut rc = redis.client();
    rc.ok(&["AUTH", "sekret"]);
    let t = Server::start(4);
    let mut tc = t.client();
    let p = redis.port;

    // Without AUTH the target refuses: the key stays here.
    tc.ok(&["SET", "k", "v1"]);
    let r = migrate(&mut tc, p, "k", 0, 2000, &[]);
    assert!(
        r.as_err()
            .starts_with("ERR Target instance replied with error: NOAUTH"),
        "{r:?}"
    );
    assert_eq!(tc.cmd(&["GET", "k"]), Reply::bulk("v1"));

    // COPY leaves it here, on db 5 there.
    assert_eq!(
        migrate(&mut tc, p, "k", 5, 2000, &["COPY", "AUTH", "sekret"]),
        Reply::ok()
    );
    assert_eq!(tc.cmd(&["GET", "k"]), Reply::bulk("v1"));
    rc.ok(&["SELECT", "5"]);
    assert_eq!(rc.cmd(&["GET", "k"]), Reply::bulk("v1"));

    // Again: BUSYKEY, still here.
    let r = migrate(&mut tc, p, "k", 5, 2000, &["AUTH", "sekret"]);
    assert_eq!(
        r.as_err(),
        "ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(tc.cmd(&["GET", "k"]), Reply::bulk("v1"));

    // REPLACE moves it.
    tc.ok(&["SET", "k", "v2"]);
    assert_eq!(
        migrate(
            &mut tc,
            p,
            "k",
            5,
            2000,
            &["REPLACE", "AUTH2", "default", "sekret"]
        ),
        Reply::ok()
    );
    assert_eq!(tc.int(&["EXISTS", "k"]), 0);
    assert_eq!(rc.cmd(&["GET", "k"]), Reply::bulk("v2"));

    // Inside MULTI/EXEC.
    tc.ok(&["SET", "m", "in-exec"]);
    tc.ok(&["MULTI"]);
    assert_eq!(
        migrate(&mut tc, p, "m", 5, 2000, &["AUTH", "sekret"]),
        Reply::status("QUEUED")
    );
    assert_eq!(tc.cmd(&["EXEC"]), Reply::Array(vec![Reply::ok()]));
    assert_eq!(rc.cmd(&["GET", "m"]), Reply::bulk("in-exec"));

    // Nothing to move.
    assert_eq!(
        migrate(&mut tc, p, "nope", 5, 2000, &["AUTH", "sekret"]),
        Reply::status("NOKEY")
    );
    assert_eq!(
        migrate(
            &mut tc,
            p,
            "",
            5,
            2000,
            &["AUTH", "sekret", "KEYS", "n1", "n2"]
        ),
        Reply::status("NOKEY")
    );

    // KEYS with one busy key: the others move, the busy one stays.
    rc.ok(&["SET", "b", "there"]);
    for k in ["a", "b", "c", "d"] {
        tc.ok(&["SET", k, &format!("{k}-here")]);
    }
    let r = migrate(
        &mut tc,
        p,
        "",
        5,
        2000,
        &["AUTH", "sekret", "KEYS", "a", "b", "c", "d", "missing"],
    );
    assert!(r.as_err().contains("BUSYKEY"), "{r:?}");
    assert_eq!(
        tc.cmd(&["MGET", "a", "b", "c", "d"]),
        Reply::Array(vec![
            Reply::Nil,
            Reply::bulk("b-here"),
            Reply::Nil,
            Reply::Nil
        ])
    );
    assert_eq!(
        rc.cmd(&["MGET", "a", "b", "c", "d"]).as_strings(),
        vec!["a-here", "there", "c-here", "d-here"]
    );

    // Argument errors, as Redis words them.
    assert_eq!(
        migrate(&mut tc, p, "k", 0, 1000, &["KEYS", "a"]).as_err(),
        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
    );
    assert_eq!(
        migrate(&mut tc, p, "k", 0, 1000, &["BOGUS"]).as_err(),
        "ERR syntax error"
    );
    assert_eq!(
        migrate(&mut tc, p, "k", 0, 1000, &["AUTH"]).as_err(),
        "ERR syntax error"
    );
    assert_eq!(
        tc.cmd(&["MIGRATE", "127.0.0.1", &p.to_string(), "k", "x", "10"])
            .as_err(),
        "ERR value is not an integer or out of range"
    );
}

/// A fake target: accepts connections and hands each to `serve`; counts
/// connections and keeps what it received.
struct Fake {
    port: u16,
    accepted: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
}

impl Fake {
    fn start(serve: impl Fn(std::net::TcpStream, &Mutex<Vec<u8>>) + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (a, r) = (Arc::clone(&accepted), Arc::clone(&received));
        let serve = Arc::new(serve);
        thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { break };
                a.fetch_add(1, Ordering::SeqCst);
                let (serve, r) = (Arc::clone(&serve), Arc::clone(&r));
                thread::spawn(move || serve(s, &r));
            }
        });
        Fake {
            port,
            accepted,
            received,
        }
    }
}

/// Reads whatever arrives for `quiet` of silence (or until close).
fn read_for(s: &mut std::net::TcpStream, quiet: Duration, into: &Mutex<Vec<u8>>) -> usize {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = [0u8; 65536];
    let mut total = 0;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => {
                into.lock().unwrap().extend_from_slice(&buf[..n]);
                total += n;
            }
        }
    }
}

/// Counts complete RESP commands in `bytes` whose name is `name`.
fn count_commands(bytes: &[u8], name: &str) -> usize {
    let needle = format!("${}\r\n{}\r\n", name.len(), name);
    bytes
        .windows(needle.len())
        .filter(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
        .count()
}

#[test]
fn faults_never_lose_the_key() {
    if skip_against_redis("MIGRATE fault injection") {
        return;
    }
    for threads in [1, 4] {
        let t = Server::start(threads);
        let mut c = t.client();
        c.ok(&["SET", "k", "precious"]);
        c.int(&["RPUSH", "l", "a", "b", "c"]);

        // Closed port.
        let closed = free_port();
        let r = migrate(&mut c, closed, "k", 0, 500, &[]);
        assert_eq!(
            r.as_err(),
            "IOERR error or timeout connecting to the client"
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("precious"));

        // Accepts, reads, never answers: IOERR after the timeout.
        let silent = Fake::start(|mut s, r| {
            read_for(&mut s, Duration::from_secs(5), r);
        });
        let start = Instant::now();
        let r = migrate(&mut c, silent.port, "k", 0, 300, &[]);
        let took = start.elapsed();
        assert_eq!(
            r.as_err(),
            "IOERR error or timeout reading to target instance"
        );
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(4),
            "{took:?}"
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("precious"));

        // Drops the connection after a few bytes of the payload.
        let dropper = Fake::start(|mut s, _| {
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf);
            drop(s);
        });
        let r = migrate(&mut c, dropper.port, "l", 0, 1000, &[]);
        assert!(r.as_err().starts_with("IOERR error or timeout"), "{r:?}");
        assert_eq!(
            c.cmd(&["LRANGE", "l", "0", "-1"]).as_strings(),
            vec!["a", "b", "c"]
        );

        // Answers an error to everything.
        let refuser = Fake::start(|mut s, r| loop {
            let before = r.lock().unwrap().len();
            if read_for(&mut s, Duration::from_millis(100), r) == 0
                && r.lock().unwrap().len() == before
            {
                // nothing new for a while: answer what came (SELECT + RESTORE)
            }
            let got = r.lock().unwrap().clone();
            let n = count_commands(&got, "SELECT") + count_commands(&got, "RESTORE");
            let replies = "-ERR no thanks\r\n".repeat(n);
            if s.write_all(replies.as_bytes()).is_err() {
                return;
            }
            r.lock().unwrap().clear();
        });
        let r = migrate(&mut c, refuser.port, "k", 0, 1000, &[]);
        assert_eq!(
            r.as_err(),
            "ERR Target instance replied with error: ERR no thanks"
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("precious"));

        // Not a Redis at all (an HTTP proxy, say): answers a line that is
        // neither `+` nor `-`. Nothing was acknowledged, the key stays.
        let http = Fake::start(|mut s, r| {
            read_for(&mut s, Duration::from_millis(100), r);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
        });
        let r = migrate(&mut c, http.port, "k", 0, 1000, &[]);
        assert_eq!(
            r.as_err(),
            "IOERR error or timeout reading to target instance"
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("precious"));

        // The server and its other clients are fine throughout.
        let mut other = t.client();
        assert_eq!(other.cmd(&["PING"]), Reply::status("PONG"));
        assert_eq!(c.int(&["DBSIZE"]), 2);
    }
}

#[test]
fn connection_is_cached_and_select_sent_once() {
    if skip_against_redis("MIGRATE connection cache") {
        return;
    }
    // A well-behaved fake: answers +OK to each command it receives.
    let fake = Fake::start(|mut s, r| {
        let mut pending = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            r.lock().unwrap().extend_from_slice(&buf[..n]);
            pending.extend_from_slice(&buf[..n]);
            let mut ok = String::new();
            while let Ok(Some((_, used))) = common::parse_reply(&pending) {
                pending.drain(..used);
                ok.push_str("+OK\r\n");
            }
            if s.write_all(ok.as_bytes()).is_err() {
                return;
            }
        }
    });
    let t = Server::start(1);
    let mut c = t.client();
    for i in 0..5 {
        c.ok(&["SET", &format!("k{i}"), "v"]);
        assert_eq!(
            migrate(&mut c, fake.port, &format!("k{i}"), 3, 1000, &[]),
            Reply::ok()
        );
    }
    assert_eq!(c.int(&["DBSIZE"]), 0);
    assert_eq!(
        fake.accepted.load(Ordering::SeqCst),
        1,
        "one cached connection"
    );
    let got = fake.received.lock().unwrap().clone();
    assert_eq!(count_commands(&got, "SELECT"), 1);
    assert_eq!(count_commands(&got, "RESTORE"), 5);
    // A new db: SELECT again, on the same connection.
    c.ok(&["SET", "x", "v"]);
    assert_eq!(migrate(&mut c, fake.port, "x", 4, 1000, &[]), Reply::ok());
    let got = fake.received.lock().unwrap().clone();
    assert_eq!(count_commands(&got, "SELECT"), 2);
    assert_eq!(fake.accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn only_the_migrating_key_waits() {
    if skip_against_redis("per-key MIGRATE locking") {
        return;
    }
    // A slow target: reads the payload, waits a second, then says OK.
    let slow = Fake::start(|mut s, r| loop {
        if read_for(&mut s, Duration::from_millis(50), r) == 0 {
            return;
        }
        thread::sleep(Duration::from_millis(1000));
        let got = std::mem::take(&mut *r.lock().unwrap());
        let n = count_commands(&got, "SELECT") + count_commands(&got, "RESTORE");
        if s.write_all("+OK\r\n".repeat(n).as_bytes()).is_err() {
            return;
        }
    });
    for threads in [1, 2] {
        let t = Server::start(threads);
        let mut c = t.client();
        c.ok(&["SET", "moving", "v"]);
        c.ok(&["SET", "other", "o"]);
        let port = t.port;
        let target = slow.port;
        let mover = thread::spawn(move || {
            let mut c = Client::connect(port);
            migrate(&mut c, target, "moving", 0, 5000, &[])
        });
        thread::sleep(Duration::from_millis(300));
        // Other keys: served at once, from this and other connections.
        let start = Instant::now();
        for _ in 0..100 {
            assert_eq!(c.cmd(&["GET", "other"]), Reply::bulk("o"));
            c.ok(&["SET", "other2", "x"]);
        }
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "other keys stalled: {:?}",
            start.elapsed()
        );
        // A second MIGRATE of the same key waits for the first, then
        // finds nothing to move.
        let second = thread::spawn(move || {
            let mut c = Client::connect(port);
            migrate(&mut c, target, "moving", 0, 5000, &[])
        });
        // Inside EXEC the transaction cannot wait for the other migration
        // (it holds the shards that one needs to finish): an error, at once.
        let mut tx = t.client();
        tx.ok(&["MULTI"]);
        assert_eq!(
            migrate(&mut tx, target, "moving", 0, 5000, &[]),
            Reply::status("QUEUED")
        );
        assert_eq!(
            tx.cmd(&["EXEC"]),
            Reply::Array(vec![Reply::err(
                "ERR a key is being moved by another MIGRATE; try again"
            )])
        );
        // The moving key: waits for the outcome, then it is gone.
        let start = Instant::now();
        assert_eq!(c.cmd(&["GET", "moving"]), Reply::Nil);
        assert!(
            start.elapsed() > Duration::from_millis(300),
            "did not wait: {:?}",
            start.elapsed()
        );
        assert_eq!(mover.join().unwrap(), Reply::ok());
        assert_eq!(second.join().unwrap(), Reply::status("NOKEY"));
        // A write queued behind the lock lands after the move.
        c.ok(&["SET", "moving", "new"]);
        assert_eq!(c.cmd(&["GET", "moving"]), Reply::bulk("new"));
    }
}
