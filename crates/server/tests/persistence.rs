//! RDB persistence: SAVE, BGSAVE, save on shutdown, loading at start, and the dump
//! file read and written by a real redis-server both ways.
//!
//! Each test points its servers at a directory of its own (`dir`), restarts them
//! there, and compares what it reads back with what it wrote.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

/// A Tessera server at `threads` whose `dir` is `dir`, with no save points
/// unless `save` says.
fn tessera_in(dir: &Path, threads: usize, save: &str) -> Server {
    let conf = format!("dir {}\nsave \"{save}\"\n", dir.display());
    Server::start_with(threads, &[], Some(&conf))
}

fn fresh_dir(tag: &str) -> PathBuf {
    scratch_dir(tag)
}

/// Writes one key of every type and encoding size, with TTLs, in dbs 0, 3 and 15.
fn populate(c: &mut Client) {
    c.ok(&["FLUSHALL"]);
    c.ok(&["SET", "str", "hello"]);
    c.ok(&["SET", "int", "12345"]);
    c.ok(&["SET", "empty", ""]);
    c.ok(&["SET", "bin", "a\u{0}b\r\nc"]);
    c.ok(&["SET", "ttl", "v", "PX", "100000000"]);
    c.cmd(&["RPUSH", "list", "a", "b", "c", "1", "2"]);
    let big: Vec<String> = (0..300).map(|i| format!("item-{i}")).collect();
    let mut args = vec!["RPUSH".to_string(), "biglist".to_string()];
    args.extend(big.iter().cloned());
    c.cmd(&args);
    c.cmd(&["SADD", "intset", "1", "2", "3", "-7"]);
    c.cmd(&["SADD", "set", "x", "y", "z"]);
    let mut args = vec!["SADD".to_string(), "bigset".to_string()];
    args.extend(big.iter().cloned());
    c.cmd(&args);
    c.cmd(&["ZADD", "zset", "1", "a", "2.5", "b", "-3", "c", "inf", "d"]);
    let mut args = vec!["ZADD".to_string(), "bigzset".to_string()];
    for (i, m) in big.iter().enumerate() {
        args.push(format!("{}.5", i));
        args.push(m.clone());
    }
    c.cmd(&args);
    c.cmd(&["HSET", "hash", "f1", "v1", "f2", "2"]);
    let mut args = vec!["HSET".to_string(), "bighash".to_string()];
    for m in &big {
        args.push(m.clone());
        args.push(format!("value of {m}"));
    }
    c.cmd(&args);
    c.cmd(&["EXPIRE", "hash", "100000"]);
    c.ok(&["SELECT", "3"]);
    c.ok(&["SET", "in-db-3", "three"]);
    c.ok(&["SELECT", "15"]);
    c.cmd(&["RPUSH", "in-db-15", "fifteen"]);
    c.ok(&["SELECT", "0"]);
}

/// Everything `populate` wrote, as one string per key (`common::keys_as_text`).
fn snapshot_of(c: &mut Client) -> Vec<String> {
    keys_as_text(c, &["0", "3", "15"])
}

#[test]
fn save_then_restart_keeps_every_type_ttl_and_database() {
    if skip_against_redis("restarts Tessera in a directory of its own") {
        return;
    }
    for threads in [1, 4] {
        let dir = fresh_dir("persist-restart");
        let before = {
            let s = tessera_in(&dir, threads, "");
            let mut c = s.client();
            populate(&mut c);
            let before = snapshot_of(&mut c);
            c.ok(&["SAVE"]);
            assert!(c.int(&["LASTSAVE"]) > 0);
            before
        };
        assert!(dir.join("dump.rdb").exists());
        // A different thread count reads the same file.
        let s = tessera_in(&dir, 5 - threads, "");
        let mut c = s.client();
        assert_eq!(snapshot_of(&mut c), before, "threads {threads}");
    }
}

#[test]
fn bgsave_and_shutdown_save_and_nosave() {
    if skip_against_redis("restarts Tessera in a directory of its own") {
        return;
    }
    for threads in [1, 4] {
        let dir = fresh_dir("persist-bgsave");
        let mut s = tessera_in(&dir, threads, "3600 1");
        let mut c = s.client();
        populate(&mut c);
        let before = snapshot_of(&mut c);
        assert_eq!(
            c.cmd(&["BGSAVE"]),
            Reply::status("Background saving started")
        );
        assert!(eventually(Duration::from_secs(10), || {
            info_field(
                &c.cmd(&["INFO", "persistence"]).as_string(),
                "rdb_bgsave_in_progress",
            )
            .as_deref()
                == Some("0")
        }));
        let info = c.cmd(&["INFO", "persistence"]).as_string();
        assert_eq!(
            info_field(&info, "rdb_last_bgsave_status").as_deref(),
            Some("ok")
        );
        assert_eq!(
            info_field(&info, "rdb_changes_since_last_save").as_deref(),
            Some("0")
        );
        c.ok(&["SET", "after-bgsave", "1"]);
        let info = c.cmd(&["INFO", "persistence"]).as_string();
        assert_eq!(
            info_field(&info, "rdb_changes_since_last_save").as_deref(),
            Some("1")
        );
        // SHUTDOWN with save points set saves first.
        c.send(&encode(&["SHUTDOWN"]));
        assert!(s.signal_and_wait(0, Duration::from_secs(10)).is_some());
        drop(s);
        let s = tessera_in(&dir, threads, "3600 1");
        let mut c = s.client();
        assert_eq!(c.cmd(&["GET", "after-bgsave"]), Reply::bulk("1"));
        assert_eq!(c.int(&["DEL", "after-bgsave"]), 1);
        assert_eq!(snapshot_of(&mut c), before);
        // NOSAVE does not.
        c.ok(&["SET", "lost", "1"]);
        let mut s = s;
        c.send(&encode(&["SHUTDOWN", "NOSAVE"]));
        assert!(s.signal_and_wait(0, Duration::from_secs(10)).is_some());
        drop(s);
        let s = tessera_in(&dir, threads, "");
        assert_eq!(s.client().cmd(&["EXISTS", "lost"]), Reply::int(0));
        assert_eq!(s.client().cmd(&["EXISTS", "after-bgsave"]), Reply::int(1));
    }
}

#[test]
fn sigterm_saves_when_save_points_are_set() {
    if skip_against_redis("signals Tessera") {
        return;
    }
    let dir = fresh_dir("persist-sigterm");
    let mut s = tessera_in(&dir, 2, "3600 1");
    s.client().ok(&["SET", "k", "v"]);
    let status = s.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{status:?}");
    assert!(dir.join("dump.rdb").exists());
    let s = tessera_in(&dir, 2, "");
    assert_eq!(s.client().cmd(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn redis_server_loads_what_tessera_saves_and_the_other_way_round() {
    if skip_against_redis("compares Tessera with redis-server") {
        return;
    }
    let dir = fresh_dir("persist-interop");
    let before = {
        let s = tessera_in(&dir, 4, "");
        let mut c = s.client();
        populate(&mut c);
        c.ok(&["SAVE"]);
        snapshot_of(&mut c)
    };
    let check = std::process::Command::new("redis-check-rdb")
        .arg(dir.join("dump.rdb"))
        .output()
        .expect("redis-check-rdb (apt-get install redis-tools)");
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );
    let dir_arg = dir.display().to_string();
    let redis = RealRedis::start(&["--dir", &dir_arg, "--dbfilename", "dump.rdb"]);
    let mut r = redis.client();
    assert_eq!(
        snapshot_of(&mut r),
        before,
        "redis-server read Tessera's file"
    );
    // Redis writes its own file (its encodings), Tessera reads it.
    r.ok(&["SET", "written-by", "redis"]);
    r.ok(&["SAVE"]);
    drop(redis);
    let s = tessera_in(&dir, 3, "");
    let mut c = s.client();
    assert_eq!(c.cmd(&["GET", "written-by"]), Reply::bulk("redis"));
    assert_eq!(c.int(&["DEL", "written-by"]), 1);
    assert_eq!(
        snapshot_of(&mut c),
        before,
        "Tessera read redis-server's file"
    );
}

/// BGSAVE while clients run MSETs whose keys live on different shards: in the
/// file, every pair holds the same value (no MSET is half in it).
#[test]
fn bgsave_is_one_point_in_time_across_shards() {
    if skip_against_redis("checks Tessera's snapshot") {
        return;
    }
    let dir = fresh_dir("persist-cut");
    let s = tessera_in(&dir, 4, "");
    let port = s.port;
    let pairs = 200;
    {
        let mut c = s.client();
        // Filler, so that each snapshot's walk lasts while the writers run.
        c.ok(&["DEBUG", "POPULATE", "100000", "filler", "50"]);
        for p in 0..pairs {
            c.ok(&["MSET", &format!("a{p}"), "0", &format!("b{p}"), "0"]);
        }
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let p = (i * 7 + t * 13) % pairs;
                    let v = format!("{t}-{i}");
                    c.ok(&["MSET", &format!("a{p}"), &v, &format!("b{p}"), &v]);
                    i += 1;
                }
            })
        })
        .collect();
    let mut c = s.client();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            c.cmd(&["BGSAVE"]),
            Reply::status("Background saving started")
        );
        assert!(eventually(Duration::from_secs(10), || {
            info_field(
                &c.cmd(&["INFO", "persistence"]).as_string(),
                "rdb_bgsave_in_progress",
            )
            .as_deref()
                == Some("0")
        }));
        // Load the file into a second server and check every pair.
        let copy = fresh_dir("persist-cut-copy");
        std::fs::copy(dir.join("dump.rdb"), copy.join("dump.rdb")).expect("copy dump");
        let other = tessera_in(&copy, 2, "");
        let mut o = other.client();
        for p in 0..pairs {
            let a = o.cmd(&["GET", &format!("a{p}")]);
            let b = o.cmd(&["GET", &format!("b{p}")]);
            assert_eq!(a, b, "pair {p} torn in the snapshot");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
}

#[test]
fn a_truncated_or_corrupt_file_stops_the_server_with_a_clear_message() {
    if skip_against_redis("starts Tessera on a broken file") {
        return;
    }
    let dir = fresh_dir("persist-corrupt");
    {
        let s = tessera_in(&dir, 2, "");
        let mut c = s.client();
        populate(&mut c);
        c.ok(&["SAVE"]);
    }
    let good = std::fs::read(dir.join("dump.rdb")).expect("dump");
    for (what, bytes) in [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("corrupt", {
            let mut b = good.clone();
            let at = b.len() / 3;
            b[at] ^= 0xff;
            b
        }),
    ] {
        std::fs::write(dir.join("dump.rdb"), &bytes).expect("write");
        let conf = format!("dir {}\nsave \"\"\n", dir.display());
        let (ok, text) = run_with_config(&dir, &conf);
        assert!(!ok, "{what}: the server went on serving: {text}");
        assert!(
            text.contains("Fatal error loading the DB") && text.contains("offset"),
            "{what}: {text}"
        );
    }
}

#[test]
fn a_failed_bgsave_refuses_writes_until_a_save_succeeds() {
    if skip_against_redis("removes the server's directory") {
        return;
    }
    let dir = fresh_dir("persist-misconf");
    let gone = dir.join("gone");
    std::fs::create_dir_all(&gone).expect("mkdir");
    let s = tessera_in(&dir, 2, "3600 1");
    let mut c = s.client();
    c.ok(&["CONFIG", "SET", "dir", &gone.display().to_string()]);
    std::fs::remove_dir_all(&gone).expect("rmdir");
    c.ok(&["SET", "k", "v"]);
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        Reply::status("Background saving started")
    );
    assert!(eventually(Duration::from_secs(10), || {
        info_field(
            &c.cmd(&["INFO", "persistence"]).as_string(),
            "rdb_last_bgsave_status",
        )
        .as_deref()
            == Some("err")
    }));
    assert!(c.err(&["SET", "k", "v2"]).starts_with("MISCONF "));
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    c.ok(&["CONFIG", "SET", "dir", &dir.display().to_string()]);
    c.ok(&["SAVE"]);
    c.ok(&["SET", "k", "v3"]);
}

/// A server started by hand, killed when the test ends (passing or not).
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A dump of `keys` keys (DEBUG POPULATE) in a fresh directory, then
/// Tessera started on it with `settings` added to its config, returned
/// once it accepts connections — while it still loads (Server::start waits
/// for PONG, which a loading server does not give).
fn start_loading(tag: &str, keys: usize, settings: &str) -> (Child, Client) {
    let dir = fresh_dir(tag);
    let mut s = tessera_in(&dir, 2, "");
    let mut c = s.client();
    c.ok(&["DEBUG", "POPULATE", &keys.to_string()]);
    c.ok(&["SAVE"]);
    c.send(&encode(&["SHUTDOWN", "NOSAVE"]));
    assert!(s.signal_and_wait(0, Duration::from_secs(10)).is_some());
    drop(s);
    let conf = dir.join("loading.conf");
    let text = format!(
        "dir {}\nsave \"\"\nloglevel warning\n{settings}",
        dir.display()
    );
    std::fs::write(&conf, text).unwrap();
    let port = free_port();
    let child = Child(
        std::process::Command::new(TESSERA_BIN)
            .args(["--port", &port.to_string(), "--threads", "2", "--config"])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut c = None;
    assert!(eventually(Duration::from_secs(10), || {
        c = Client::try_connect(port).ok();
        c.is_some()
    }));
    (child, c.unwrap())
}

fn persistence_field(c: &mut Client, name: &str) -> String {
    info_field(&c.cmd(&["INFO", "persistence"]).as_string(), name).unwrap_or_default()
}

#[test]
fn expired_keys_are_saved_and_a_master_skips_them_at_load() {
    if skip_against_redis("restarts Tessera in a directory of its own") {
        return;
    }
    for threads in [1, 4] {
        let dir = fresh_dir("persist-expired");
        let mut s = tessera_in(&dir, threads, "");
        let mut c = s.client();
        c.ok(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        for i in 0..100 {
            c.ok(&["SET", &format!("gone{i}"), "v", "PX", "5"]);
            c.ok(&["SET", &format!("kept{i}"), "v"]);
        }
        std::thread::sleep(Duration::from_millis(20));
        c.ok(&["SAVE"]);
        c.send(&encode(&["SHUTDOWN", "NOSAVE"]));
        assert!(s.signal_and_wait(0, Duration::from_secs(10)).is_some());
        drop(s);
        // The file holds all 200, as Redis's would (redis-check-rdb
        // counts them); a master loading it skips and counts the 100.
        let check = std::process::Command::new("redis-check-rdb")
            .arg(dir.join("dump.rdb"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(
            text.contains("200 keys read") && text.contains("100 already expired"),
            "{text}"
        );
        let s = tessera_in(&dir, threads, "");
        let mut c = s.client();
        assert!(eventually(Duration::from_secs(10), || persistence_field(
            &mut c, "loading"
        ) == "0"));
        assert_eq!(
            persistence_field(&mut c, "rdb_last_load_keys_expired"),
            "100"
        );
        assert_eq!(
            persistence_field(&mut c, "rdb_last_load_keys_loaded"),
            "100"
        );
        assert_eq!(c.int(&["DBSIZE"]), 100);
    }
}

#[test]
fn save_delay_flushall_abandons_and_shutdown_removes_the_temp_file() {
    if skip_against_redis("looks at Tessera's temporary files") {
        return;
    }
    let dir = fresh_dir("persist-delay");
    let mut s = tessera_in(&dir, 2, "");
    let mut c = s.client();
    c.ok(&["DEBUG", "POPULATE", "2000"]);
    // 1 ms a key: the save takes two seconds, while the server serves.
    c.ok(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    c.cmd(&["BGSAVE"]);
    assert_eq!(persistence_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    // FLUSHALL abandons it: no save is recorded and the changes stay.
    c.ok(&["FLUSHALL"]);
    assert_eq!(persistence_field(&mut c, "rdb_bgsave_in_progress"), "0");
    assert!(
        persistence_field(&mut c, "rdb_changes_since_last_save")
            .parse::<u64>()
            .unwrap()
            >= 2000
    );
    // A save begun at once after it is not disturbed by the abandoned one.
    c.ok(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    c.ok(&["SET", "x", "1"]);
    c.cmd(&["BGSAVE"]);
    assert!(eventually(Duration::from_secs(10), || persistence_field(
        &mut c,
        "rdb_bgsave_in_progress"
    ) == "0"));
    assert_eq!(
        persistence_field(&mut c, "rdb_changes_since_last_save"),
        "0"
    );
    assert_eq!(persistence_field(&mut c, "rdb_last_bgsave_status"), "ok");
    // SHUTDOWN NOSAVE during a save removes the save's temporary file.
    c.ok(&["DEBUG", "POPULATE", "2000"]);
    c.ok(&["CONFIG", "SET", "rdb-key-save-delay", "1000"]);
    c.cmd(&["BGSAVE"]);
    let temps = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
            .count()
    };
    assert!(eventually(Duration::from_secs(5), || temps() == 1));
    c.send(&encode(&["SHUTDOWN", "NOSAVE"]));
    assert!(s.signal_and_wait(0, Duration::from_secs(10)).is_some());
    assert_eq!(temps(), 0);
}

#[test]
fn key_load_delay_shows_the_load_in_progress() {
    if skip_against_redis("restarts Tessera in a directory of its own") {
        return;
    }
    let (_child, mut c) = start_loading(
        "persist-load-delay",
        1000,
        "key-load-delay 1000\nloading-process-events-interval-bytes 1024\n",
    );
    assert_eq!(persistence_field(&mut c, "loading"), "1");
    assert!(c.err(&["GET", "key:1"]).starts_with("LOADING"));
    c.ok(&["CONFIG", "SET", "key-load-delay", "0"]);
    assert!(eventually(Duration::from_secs(10), || persistence_field(
        &mut c, "loading"
    ) == "0"));
    assert_eq!(c.int(&["DBSIZE"]), 1000);
}

#[test]
fn a_small_load_makes_commands_wait_not_fail() {
    if skip_against_redis("restarts Tessera in a directory of its own") {
        return;
    }
    // A file under loading-process-events-interval-bytes (2 MB): Redis
    // serves no client until it is loaded, so none sees -LOADING; here the
    // command waits for the load and then runs.
    let (_child, mut c) = start_loading("persist-quiet-load", 1000, "key-load-delay 500\n");
    assert_eq!(persistence_field(&mut c, "loading"), "1");
    // Half a second of loading: GET waits it out.
    assert_eq!(c.cmd(&["GET", "key:999"]), Reply::bulk("value:999"));
    assert_eq!(persistence_field(&mut c, "loading"), "0");
}

#[test]
fn shutdown_abort_cancels_a_signal_held_by_a_paused_cron() {
    if skip_against_redis("signals Tessera") {
        return;
    }
    let dir = fresh_dir("persist-abort");
    let mut s = tessera_in(&dir, 2, "");
    let mut c = s.client();
    assert_eq!(
        c.err(&["SHUTDOWN", "ABORT"]),
        "ERR No shutdown in progress."
    );
    c.ok(&["DEBUG", "PAUSE-CRON", "1"]);
    unsafe {
        libc::kill(s.pid() as i32, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(100));
    c.ok(&["SHUTDOWN", "ABORT"]);
    c.ok(&["DEBUG", "PAUSE-CRON", "0"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    assert!(s.output().contains("Shutdown manually aborted"));
    // Not aborted: the held shutdown happens once the cron runs again.
    c.ok(&["DEBUG", "PAUSE-CRON", "1"]);
    unsafe {
        libc::kill(s.pid() as i32, libc::SIGTERM);
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    c.ok(&["DEBUG", "PAUSE-CRON", "0"]);
    let status = s.signal_and_wait(0, Duration::from_secs(10));
    assert!(status.is_some_and(|st| st.success()), "{status:?}");
}
