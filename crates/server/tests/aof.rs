//! The append-only file: restarts from it (after kill -9), Redis 7.0's
//! multi-part layout read and written by a real redis-server both ways,
//! BGREWRITEAOF and CONFIG SET appendonly on a live server, a truncated
//! tail, and `appendfsync always` keeping every acknowledged write.
//!
//! Each test points its servers at a directory of its own (`dir`); a
//! dropped server is killed with SIGKILL, so every restart here is a crash.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

fn tessera_aof(dir: &Path, threads: usize, fsync: &str, more: &str) -> Server {
    let conf = format!(
        "dir {}\nsave \"\"\nappendonly yes\nappendfsync {fsync}\n{more}",
        dir.display()
    );
    Server::start_with(threads, &[], Some(&conf))
}

/// Writes through every path that records differently: single-shard
/// commands, relative TTLs, cross-shard MSET/DEL/RENAME, EXEC (one shard
/// and several), scripts, blocking pops, INCRBYFLOAT, SPOP, databases.
fn populate(c: &mut Client) {
    c.ok(&["SET", "str", "hello"]);
    c.ok(&["SET", "ttl", "v", "EX", "100000"]);
    c.int(&["EXPIRE", "str", "200000"]);
    c.ok(&["MSET", "m1", "a", "m2", "b", "m3", "c", "m4", "d"]);
    c.int(&["DEL", "m1", "m2"]);
    c.ok(&["RENAME", "m3", "renamed"]);
    c.cmd(&["RPUSH", "list", "a", "b", "c", "d"]);
    c.cmd(&["BLPOP", "list", "0"]);
    c.cmd(&["LPOP", "list"]);
    c.cmd(&["SADD", "set", "1", "2", "3", "4", "5"]);
    c.cmd(&["SPOP", "set", "2"]);
    c.cmd(&["INCRBYFLOAT", "float", "1.25"]);
    c.cmd(&["INCRBYFLOAT", "float", "0.5"]);
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    c.cmd(&["ZPOPMIN", "z"]);
    c.cmd(&["HSET", "h", "f", "1", "g", "2"]);
    c.cmd(&["HINCRBYFLOAT", "h", "f", "0.5"]);
    c.ok(&["MULTI"]);
    c.cmd(&["SET", "tx1", "1"]);
    c.cmd(&["SET", "tx2", "2"]);
    c.cmd(&["INCR", "tx1"]);
    c.cmd(&["EXEC"]);
    c.cmd(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'x'); redis.call('incr', KEYS[2]); return 1",
        "2",
        "{s}a",
        "{s}b",
    ]);
    c.ok(&["SELECT", "3"]);
    c.ok(&["SET", "in-db-3", "three"]);
    c.ok(&["SELECT", "0"]);
    c.int(&["SETNX", "str", "no"]);
}

/// Every key of dbs 0 and 3 with its type, value and whether it has a TTL.
fn snapshot_of(c: &mut Client) -> Vec<String> {
    keys_as_text(c, &["0", "3"])
}

fn check_aof(dir: &Path) {
    let manifest = dir.join("appendonlydir").join("appendonly.aof.manifest");
    let out = std::process::Command::new("redis-check-aof")
        .arg(&manifest)
        .output()
        .expect("redis-check-aof (apt-get install redis-tools)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("valid"),
        "redis-check-aof: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_crash_loses_nothing_written_and_redis_reads_the_directory() {
    if skip_against_redis("restarts Tessera in a directory of its own") {
        return;
    }
    for threads in [1, 4] {
        let dir = scratch_dir("aof-restart");
        let before = {
            let s = tessera_aof(&dir, threads, "always", "");
            let mut c = s.client();
            populate(&mut c);
            snapshot_of(&mut c)
            // Dropped: SIGKILL.
        };
        check_aof(&dir);
        let s = tessera_aof(&dir, 5 - threads, "always", "");
        let mut c = s.client();
        assert_eq!(snapshot_of(&mut c), before, "threads {threads}");
        drop(s);
        let dir_arg = dir.display().to_string();
        let redis = RealRedis::start(&["--dir", &dir_arg, "--appendonly", "yes"]);
        let mut r = redis.client();
        assert_eq!(
            snapshot_of(&mut r),
            before,
            "redis-server read Tessera's AOF"
        );
    }
}

#[test]
fn tessera_starts_from_redis_aof_directory() {
    if skip_against_redis("compares Tessera with redis-server") {
        return;
    }
    let dir = scratch_dir("aof-from-redis");
    let dir_arg = dir.display().to_string();
    let before = {
        let redis = RealRedis::start(&[
            "--dir",
            &dir_arg,
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ]);
        let mut r = redis.client();
        populate(&mut r);
        r.cmd(&["BGREWRITEAOF"]);
        assert!(eventually(Duration::from_secs(10), || {
            info_field(
                &r.cmd(&["INFO", "persistence"]).as_string(),
                "aof_rewrite_in_progress",
            )
            .as_deref()
                == Some("0")
        }));
        r.ok(&["SET", "after-rewrite", "yes"]);
        snapshot_of(&mut r)
    };
    let s = tessera_aof(&dir, 3, "everysec", "");
    let mut c = s.client();
    assert_eq!(snapshot_of(&mut c), before);
}

/// Cross-shard MSETs run while BGREWRITEAOF and CONFIG SET appendonly take
/// their cuts; after a crash, every pair is whole (no MSET is torn between
/// the base and the incr file) and every acknowledged MSET is there.
#[test]
fn rewrites_under_cross_shard_writes_keep_every_pair_whole() {
    if skip_against_redis("checks Tessera's AOF") {
        return;
    }
    let dir = scratch_dir("aof-cut");
    let conf = format!("dir {}\nsave \"\"\nappendfsync always\n", dir.display());
    let s = Server::start_with(4, &[], Some(&conf));
    let port = s.port;
    let pairs = 100u64;
    {
        let mut c = s.client();
        c.ok(&["DEBUG", "POPULATE", "50000", "filler", "50"]);
        for p in 0..pairs {
            c.ok(&["MSET", &format!("a{p}"), "0", &format!("b{p}"), "0"]);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..pairs).map(|_| AtomicU64::new(0)).collect());
    let writers: Vec<_> = (0..3u64)
        .map(|t| {
            let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut i = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    // Each writer owns the pairs p ≡ t (mod 3): values only grow.
                    let p = t + 3 * (i % (pairs / 3));
                    let v = i.to_string();
                    c.ok(&["MSET", &format!("a{p}"), &v, &format!("b{p}"), &v]);
                    acked[p as usize].store(i, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    let mut c = s.client();
    std::thread::sleep(Duration::from_millis(100));
    c.ok(&["CONFIG", "SET", "appendonly", "yes"]);
    let idle = |c: &mut Client| {
        eventually(Duration::from_secs(20), || {
            info_field(
                &c.cmd(&["INFO", "persistence"]).as_string(),
                "aof_rewrite_in_progress",
            )
            .as_deref()
                == Some("0")
        })
    };
    assert!(idle(&mut c));
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(100));
        c.cmd(&["BGREWRITEAOF"]);
        assert!(idle(&mut c));
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    drop(c);
    drop(s);
    check_aof(&dir);
    let s = tessera_aof(&dir, 2, "always", "");
    let mut c = s.client();
    assert_eq!(c.int(&["DBSIZE"]), 50000 + 2 * pairs as i64);
    for p in 0..pairs {
        let a = c.cmd(&["GET", &format!("a{p}")]).as_string();
        let b = c.cmd(&["GET", &format!("b{p}")]).as_string();
        assert_eq!(a, b, "pair {p} torn");
        let got: u64 = a.parse().expect("number");
        assert!(
            got >= acked[p as usize].load(Ordering::Relaxed),
            "pair {p}: acknowledged write lost"
        );
    }
}

#[test]
fn a_truncated_tail_is_cut_with_a_warning_or_refused() {
    if skip_against_redis("starts Tessera on a broken file") {
        return;
    }
    let dir = scratch_dir("aof-truncated");
    {
        let s = tessera_aof(&dir, 2, "always", "");
        let mut c = s.client();
        c.ok(&["SET", "kept", "1"]);
    }
    let incr = dir.join("appendonlydir").join("appendonly.aof.1.incr.aof");
    let mut bytes = std::fs::read(&incr).expect("incr file");
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$4\r\nlost");
    std::fs::write(&incr, &bytes).expect("write");
    // aof-load-truncated no: the server refuses to start.
    let conf = format!(
        "dir {}\nsave \"\"\nappendonly yes\naof-load-truncated no\n",
        dir.display()
    );
    let (ok, text) = run_with_config(&dir, &conf);
    assert!(!ok, "went on serving: {text}");
    assert!(text.contains("Unexpected end of file"), "{text}");
    // yes (the default): cut back, with a warning, and served.
    let s = tessera_aof(&dir, 2, "always", "");
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "kept"]), Reply::bulk("1"));
    assert_eq!(c.int(&["DBSIZE"]), 1);
    c.ok(&["SET", "after", "2"]);
    drop(c);
    drop(s);
    check_aof(&dir);
    let s = tessera_aof(&dir, 2, "always", "");
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "after"]), Reply::bulk("2"));
}

#[test]
fn info_and_commands_answer_as_redis() {
    if skip_against_redis("restarts Tessera in a directory of its own") {
        return;
    }
    let dir = scratch_dir("aof-info");
    let s = tessera_aof(&dir, 2, "everysec", "");
    let mut c = s.client();
    let info = c.cmd(&["INFO", "persistence"]).as_string();
    assert_eq!(info_field(&info, "aof_enabled").as_deref(), Some("1"));
    assert_eq!(
        info_field(&info, "aof_last_write_status").as_deref(),
        Some("ok")
    );
    assert_eq!(
        c.cmd(&["BGREWRITEAOF"]),
        Reply::status("Background append only file rewriting started")
    );
    assert!(eventually(Duration::from_secs(10), || {
        info_field(
            &c.cmd(&["INFO", "persistence"]).as_string(),
            "aof_rewrite_in_progress",
        )
        .as_deref()
            == Some("0")
    }));
    c.ok(&["CONFIG", "SET", "appendonly", "no"]);
    let info = c.cmd(&["INFO", "persistence"]).as_string();
    assert_eq!(info_field(&info, "aof_enabled").as_deref(), Some("0"));
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "appendonly"]).as_strings(),
        vec!["appendonly", "no"]
    );
}

/// A pre-7.0 single `appendonly.aof`, with an RDB preamble (here Tessera's
/// own dump file) and commands after it, is moved into the AOF directory
/// and named as its base, as Redis 7.0 upgrades; the tail loads as Redis
/// loads it (a PEXPIREAT in the past, then a write: the key is gone once
/// loaded), and DEBUG LOADAOF loads the same dataset back.
#[test]
fn a_pre_7_0_aof_with_an_rdb_preamble_is_upgraded() {
    let dump_dir = scratch_dir("aof-upgrade-dump");
    {
        let conf = format!("dir {}\nsave \"\"\n", dump_dir.display());
        let s = Server::start_with(2, &[], Some(&conf));
        let mut c = s.client();
        c.ok(&["SET", "k1", "v1"]);
        c.ok(&["SET", "k2", "v2"]);
        c.ok(&["SAVE"]);
    }
    let dir = scratch_dir("aof-upgrade");
    let mut bytes = std::fs::read(dump_dir.join("dump.rdb")).expect("dump file");
    for argv in [
        &["SET", "k3", "v3"][..],
        &["RPUSH", "list", "a"],
        &["PEXPIREAT", "list", "1000"],
        &["RPUSH", "list", "b"],
    ] {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_bytes()).collect();
        storage::aof::encode_command(&mut bytes, &argv);
    }
    std::fs::write(dir.join("appendonly.aof"), &bytes).expect("old AOF");
    let s = tessera_aof(&dir, 2, "always", "");
    let mut c = s.client();
    for (k, v) in [("k1", "v1"), ("k2", "v2"), ("k3", "v3")] {
        assert_eq!(c.cmd(&["GET", k]), Reply::bulk(v));
    }
    assert_eq!(c.int(&["LLEN", "list"]), 0);
    let aof_dir = dir.join("appendonlydir");
    assert!(!dir.join("appendonly.aof").exists());
    assert!(aof_dir.join("appendonly.aof").exists());
    let manifest = aof_dir.join("appendonly.aof.manifest");
    assert!(eventually(Duration::from_secs(5), || {
        std::fs::read_to_string(&manifest).ok().as_deref()
            == Some(
                "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
            )
    }));
    c.ok(&["SET", "k4", "v4"]);
    let digest = c.cmd(&["DEBUG", "DIGEST"]);
    c.ok(&["DEBUG", "LOADAOF"]);
    // The list is back, past its deadline, until something removes it
    // (the digest, as Redis's, counts every key in the table).
    assert_eq!(c.int(&["LLEN", "list"]), 0);
    assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), digest);
    assert_eq!(c.cmd(&["GET", "k4"]), Reply::bulk("v4"));
}
