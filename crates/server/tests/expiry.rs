//! Expiry: keys with a TTL vanish on access once due (lazy expiry) and without any access
//! (active expiry: DBSIZE drops on its own).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{eventually, for_threads, info_field, Client, Reply};

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn px_100_then_gone() {
    for_threads(|s| {
        let mut c = s.client();
        let set_at = Instant::now();
        c.ok(&["SET", "k", "v", "PX", "100"]);
        let get = c.cmd(&["GET", "k"]);
        let pttl = c.int(&["PTTL", "k"]);
        // On a loaded machine the 100 ms may pass before these two replies; check them
        // only when they came in time.
        if set_at.elapsed() < Duration::from_millis(80) {
            assert_eq!(get, Reply::bulk("v"));
            assert!((1..=100).contains(&pttl), "pttl {pttl}");
        }
        sleep_ms(250);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(c.int(&["EXISTS", "k"]), 0);
        assert_eq!(c.int(&["TTL", "k"]), -2);
        assert_eq!(c.int(&["PTTL", "k"]), -2);
    });
}

/// Every command treats a due key as missing, whether or not active expiry got to it.
#[test]
fn lazy_expiry_on_access() {
    for_threads(|s| {
        let mut c = s.client();
        let set_due = |c: &mut Client, keys: &[&str]| {
            for k in keys {
                c.ok(&["SET", k, "10", "PX", "50"]);
            }
        };
        let keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];
        set_due(&mut c, &keys);
        sleep_ms(150);
        assert_eq!(c.cmd(&["GET", "a"]), Reply::Nil);
        assert_eq!(c.int(&["EXISTS", "b", "c"]), 0);
        assert_eq!(c.int(&["STRLEN", "d"]), 0);
        assert_eq!(c.cmd(&["TYPE", "e"]), Reply::status("none"));
        assert_eq!(c.int(&["APPEND", "f", "x"]), 1);
        assert_eq!(c.int(&["INCR", "g"]), 1);
        assert_eq!(c.int(&["SETNX", "h", "new"]), 1);
        assert_eq!(
            c.cmd(&["MGET", "i", "j"]),
            Reply::Array(vec![Reply::Nil, Reply::Nil])
        );
        assert_eq!(
            c.int(&["TTL", "f"]),
            -1,
            "a key recreated after expiry has no TTL"
        );

        set_due(&mut c, &keys);
        sleep_ms(150);
        assert_eq!(c.cmd(&["KEYS", "*"]), Reply::Array(vec![]));
        assert_eq!(c.cmd(&["SET", "a", "new", "NX"]), Reply::ok());
        assert_eq!(c.cmd(&["SET", "b", "new", "XX"]), Reply::Nil);
        assert_eq!(c.cmd(&["GETSET", "c", "new"]), Reply::Nil);
        assert_eq!(c.cmd(&["GETRANGE", "d", "0", "-1"]), Reply::bulk(""));
        assert_eq!(c.int(&["EXPIRE", "e", "100"]), 0);
        assert_eq!(c.int(&["PERSIST", "f"]), 0);
        assert_eq!(c.int(&["DEL", "g", "h"]), 0);
        assert_eq!(c.int(&["MOVE", "i", "1"]), 0);
        assert_eq!(c.int(&["MSETNX", "j", "1"]), 1);
    });
}

/// Keys that nobody touches are still removed: DBSIZE (which does not expire keys itself
/// in Redis) drops to the persistent keys only.
#[test]
fn active_expiry_without_access() {
    for_threads(|s| {
        let mut con = s.conn();
        for db in [0, 3] {
            let mut pipe = redis::pipe();
            pipe.cmd("SELECT").arg(db).ignore();
            for i in 0..2000 {
                pipe.cmd("SET")
                    .arg(format!("tmp:{i}"))
                    .arg("x")
                    .arg("PX")
                    .arg(100)
                    .ignore();
            }
            for i in 0..10 {
                pipe.cmd("SET").arg(format!("keep:{i}")).arg("x").ignore();
            }
            let () = pipe.query(&mut con).unwrap();
        }
        let mut c = s.client();
        // Some of the keys may be gone already (they live 100 ms); the line is there.
        let info = c.cmd(&["INFO", "keyspace"]).as_string();
        let db3 = info_field(&info, "db3").unwrap_or_default();
        assert!(
            db3.starts_with("keys=") && db3.contains(",expires=") && db3.contains(",avg_ttl="),
            "INFO keyspace before expiry: {info}"
        );
        for db in ["0", "3"] {
            c.ok(&["SELECT", db]);
            let dropped = eventually(Duration::from_secs(8), || c.int(&["DBSIZE"]) == 10);
            assert!(
                dropped,
                "db {db}: DBSIZE still {} long after the TTLs passed",
                c.int(&["DBSIZE"])
            );
        }
        let info = c.cmd(&["INFO", "keyspace"]).as_string();
        assert_eq!(
            info_field(&info, "db0").as_deref(),
            Some("keys=10,expires=0,avg_ttl=0"),
            "{info}"
        );
        assert_eq!(
            info_field(&info, "db3").as_deref(),
            Some("keys=10,expires=0,avg_ttl=0"),
            "{info}"
        );
    });
}

#[test]
fn ttl_counts_down() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "k", "v", "PX", "2000"]);
        let first = c.int(&["PTTL", "k"]);
        sleep_ms(300);
        let second = c.int(&["PTTL", "k"]);
        assert!(
            second <= first - 250 && second > 0,
            "PTTL {first} then {second} 300 ms later"
        );
        // TTL rounds the remaining time to the nearest second (allow for the time between
        // the two calls crossing a rounding boundary).
        let ttl = c.int(&["TTL", "k"]);
        assert!(
            ttl == (second + 500) / 1000 || ttl == (second - 100 + 500) / 1000,
            "TTL {ttl} after PTTL {second}"
        );
    });
}
