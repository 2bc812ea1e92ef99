//! Keyspace commands: DEL/EXISTS, TYPE, the EXPIRE family, TTL/PTTL, PERSIST, RANDOMKEY,
//! KEYS globs, MOVE, DBSIZE, FLUSHDB, FLUSHALL, SELECT — across shards at `--threads 4`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{for_threads, for_threads_with, Client, Reply};

const NOT_INT: &str = "ERR value is not an integer or out of range";
const DB_RANGE: &str = "ERR DB index is out of range";

fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_millis()).unwrap()
}

fn sorted(reply: &Reply) -> Vec<String> {
    let mut v = reply.as_strings();
    v.sort();
    v
}

fn mset(c: &mut Client, keys: &[String]) {
    let mut args = vec!["MSET".to_string()];
    for k in keys {
        args.push(k.clone());
        args.push(format!("v-{k}"));
    }
    c.ok(&args);
}

#[test]
fn del_and_exists_several_keys() {
    for_threads(|s| {
        let mut c = s.client();
        let keys: Vec<String> = (0..50).map(|i| format!("k{i}")).collect();
        mset(&mut c, &keys);
        let mut exists = vec!["EXISTS".to_string()];
        exists.extend(keys.iter().cloned());
        exists.push("nosuch".into());
        assert_eq!(c.int(&exists), 50);
        // Repeated keys count each time.
        assert_eq!(c.int(&["EXISTS", "k1", "k1", "k1", "nosuch"]), 3);
        assert_eq!(c.int(&["DEL", "k1", "k2", "nosuch", "k1"]), 2);
        assert_eq!(c.int(&["EXISTS", "k1", "k2"]), 0);
        let mut del = vec!["DEL".to_string()];
        del.extend(keys.iter().cloned());
        assert_eq!(c.int(&del), 48);
        assert_eq!(c.int(&["DBSIZE"]), 0);
        assert_eq!(c.int(&["DEL", "nosuch"]), 0);
        assert_eq!(
            c.err(&["EXISTS"]),
            "ERR wrong number of arguments for 'exists' command"
        );
    });
}

#[test]
fn type_of_keys() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "s", "v"]);
        c.ok(&["SET", "n", "12"]);
        assert_eq!(c.cmd(&["TYPE", "s"]), Reply::status("string"));
        assert_eq!(c.cmd(&["TYPE", "n"]), Reply::status("string"));
        assert_eq!(c.cmd(&["TYPE", "nosuch"]), Reply::status("none"));
    });
}

#[test]
fn expire_ttl_persist() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["TTL", "k"]), -2);
        assert_eq!(c.int(&["PTTL", "k"]), -2);
        assert_eq!(c.int(&["EXPIRE", "k", "100"]), 0);
        c.ok(&["SET", "k", "v"]);
        assert_eq!(c.int(&["TTL", "k"]), -1);
        assert_eq!(c.int(&["PTTL", "k"]), -1);
        assert_eq!(c.int(&["PERSIST", "k"]), 0);

        assert_eq!(c.int(&["EXPIRE", "k", "100"]), 1);
        let ttl = c.int(&["TTL", "k"]);
        assert!((99..=100).contains(&ttl), "ttl {ttl}");
        assert_eq!(c.int(&["PEXPIRE", "k", "200000"]), 1);
        let pttl = c.int(&["PTTL", "k"]);
        assert!((198_000..=200_000).contains(&pttl), "pttl {pttl}");
        let at = now_ms() / 1000 + 300;
        assert_eq!(c.int(&["EXPIREAT", "k", &at.to_string()]), 1);
        let ttl = c.int(&["TTL", "k"]);
        assert!((298..=300).contains(&ttl), "ttl after EXPIREAT {ttl}");
        let at = now_ms() + 400_000;
        assert_eq!(c.int(&["PEXPIREAT", "k", &at.to_string()]), 1);
        let pttl = c.int(&["PTTL", "k"]);
        assert!(
            (398_000..=400_000).contains(&pttl),
            "pttl after PEXPIREAT {pttl}"
        );

        assert_eq!(c.int(&["PERSIST", "k"]), 1);
        assert_eq!(c.int(&["TTL", "k"]), -1);
        assert_eq!(c.int(&["PERSIST", "k"]), 0);
        assert_eq!(c.int(&["PERSIST", "nosuch"]), 0);

        // A TTL in the past, or not positive, deletes the key at once.
        for args in [
            &["EXPIRE", "k", "0"][..],
            &["EXPIRE", "k", "-10"],
            &["PEXPIRE", "k", "-1"],
            &["EXPIREAT", "k", "1"],
            &["PEXPIREAT", "k", "1000"],
        ] {
            c.ok(&["SET", "k", "v"]);
            assert_eq!(c.int(args), 1, "{args:?}");
            assert_eq!(c.int(&["EXISTS", "k"]), 0, "{args:?}");
            assert_eq!(c.int(&["TTL", "k"]), -2, "{args:?}");
        }

        c.ok(&["SET", "k", "v"]);
        assert_eq!(c.err(&["EXPIRE", "k", "abc"]), NOT_INT);
        assert_eq!(c.err(&["PEXPIRE", "k", "1.5"]), NOT_INT);
        assert_eq!(
            c.err(&["EXPIRE", "k", "9223372036854775807"]),
            "ERR invalid expire time in 'expire' command"
        );
        assert_eq!(
            c.err(&["PEXPIRE", "k", "9223372036854775807"]),
            "ERR invalid expire time in 'pexpire' command"
        );
        assert_eq!(
            c.err(&["EXPIRE", "k"]),
            "ERR wrong number of arguments for 'expire' command"
        );
        assert_eq!(
            c.int(&["TTL", "k"]),
            -1,
            "failed EXPIREs must not touch the key"
        );
    });
}

/// Redis 7.0's NX / XX / GT / LT options of the EXPIRE family.
#[test]
fn expire_options() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "k", "v"]);
        assert_eq!(c.int(&["EXPIRE", "k", "100", "XX"]), 0);
        assert_eq!(
            c.int(&["EXPIRE", "k", "100", "GT"]),
            0,
            "no TTL counts as infinite for GT"
        );
        assert_eq!(c.int(&["EXPIRE", "k", "100", "NX"]), 1);
        assert_eq!(c.int(&["EXPIRE", "k", "200", "NX"]), 0);
        assert_eq!(c.int(&["EXPIRE", "k", "200", "XX"]), 1);
        assert_eq!(c.int(&["EXPIRE", "k", "100", "GT"]), 0);
        assert_eq!(c.int(&["EXPIRE", "k", "300", "GT"]), 1);
        assert_eq!(c.int(&["EXPIRE", "k", "400", "LT"]), 0);
        assert_eq!(c.int(&["PEXPIRE", "k", "50000", "lt"]), 1);
        let ttl = c.int(&["TTL", "k"]);
        assert!((49..=50).contains(&ttl), "ttl {ttl}");
        c.ok(&["SET", "p", "v"]);
        assert_eq!(
            c.int(&["EXPIRE", "p", "100", "LT"]),
            1,
            "no TTL counts as infinite for LT"
        );
        assert_eq!(
            c.err(&["EXPIRE", "k", "10", "NX", "XX"]),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            c.err(&["EXPIRE", "k", "10", "GT", "LT"]),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            c.err(&["EXPIRE", "k", "10", "FOO"]),
            "ERR Unsupported option FOO"
        );
    });
}

#[test]
fn randomkey() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["RANDOMKEY"]), Reply::Nil);
        c.ok(&["SET", "only", "1"]);
        for _ in 0..10 {
            assert_eq!(c.cmd(&["RANDOMKEY"]), Reply::bulk("only"));
        }
        let keys: Vec<String> = (0..40).map(|i| format!("key{i}")).collect();
        mset(&mut c, &keys);
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            let k = c.cmd(&["RANDOMKEY"]).as_string();
            assert!(
                k == "only" || keys.contains(&k),
                "RANDOMKEY returned unknown key {k}"
            );
            seen.insert(k);
        }
        assert!(seen.len() > 5, "RANDOMKEY is not very random: {seen:?}");
        c.ok(&["FLUSHDB"]);
        assert_eq!(c.cmd(&["RANDOMKEY"]), Reply::Nil);
    });
}

#[test]
fn keys_glob_patterns() {
    for_threads(|s| {
        let mut c = s.client();
        let all = [
            "hello", "hallo", "hxllo", "hllo", "heeeello", "hbllo", "hcllo", "h*llo", "h?llo",
            "h[llo", "h\\llo", "foo", "foobar", "bar",
        ];
        let keys: Vec<String> = all.iter().map(|k| (*k).to_string()).collect();
        for k in &keys {
            c.ok(&["SET", k, "1"]);
        }
        let check = |c: &mut Client, pattern: &str, want: &[&str]| {
            let mut want: Vec<String> = want.iter().map(|k| (*k).to_string()).collect();
            want.sort();
            assert_eq!(sorted(&c.cmd(&["KEYS", pattern])), want, "KEYS {pattern}");
        };
        let mut everything: Vec<&str> = all.to_vec();
        everything.sort();
        check(&mut c, "*", &everything);
        check(
            &mut c,
            "h?llo",
            &[
                "hello", "hallo", "hxllo", "hbllo", "hcllo", "h*llo", "h?llo", "h[llo", "h\\llo",
            ],
        );
        check(
            &mut c,
            "h*llo",
            &[
                "hello", "hallo", "hxllo", "hllo", "heeeello", "hbllo", "hcllo", "h*llo", "h?llo",
                "h[llo", "h\\llo",
            ],
        );
        check(&mut c, "h[ae]llo", &["hello", "hallo"]);
        check(
            &mut c,
            "h[^e]llo",
            &[
                "hallo", "hxllo", "hbllo", "hcllo", "h*llo", "h?llo", "h[llo", "h\\llo",
            ],
        );
        check(&mut c, "h[a-c]llo", &["hallo", "hbllo", "hcllo"]);
        check(
            &mut c,
            "h[^a-c]llo",
            &["hello", "hxllo", "h*llo", "h?llo", "h[llo", "h\\llo"],
        );
        check(&mut c, "h[c-a]llo", &["hallo", "hbllo", "hcllo"]);
        check(&mut c, "h\\*llo", &["h*llo"]);
        check(&mut c, "h\\?llo", &["h?llo"]);
        check(&mut c, "h\\[llo", &["h[llo"]);
        check(&mut c, "h\\\\llo", &["h\\llo"]);
        check(&mut c, "h[\\[]llo", &["h[llo"]);
        check(&mut c, "foo*", &["foo", "foobar"]);
        check(&mut c, "*bar", &["foobar", "bar"]);
        check(
            &mut c,
            "*o*",
            &[
                "hello", "hallo", "hxllo", "hllo", "heeeello", "hbllo", "hcllo", "h*llo", "h?llo",
                "h[llo", "h\\llo", "foo", "foobar",
            ],
        );
        check(&mut c, "foo", &["foo"]);
        check(&mut c, "nothing*", &[]);
        check(&mut c, "", &[]);
        // KEYS never returns expired keys.
        c.ok(&["SET", "gone", "1", "PX", "1"]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        check(&mut c, "gon*", &[]);
    });
}

#[test]
fn move_between_databases() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "k", "v", "EX", "100"]);
        assert_eq!(c.int(&["MOVE", "k", "1"]), 1);
        assert_eq!(c.int(&["EXISTS", "k"]), 0);
        assert_eq!(c.int(&["MOVE", "k", "1"]), 0, "a missing key does not move");
        c.ok(&["SELECT", "1"]);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
        assert!(c.int(&["TTL", "k"]) > 0, "MOVE keeps the TTL");
        // The target already has the key: nothing moves.
        c.ok(&["SELECT", "0"]);
        c.ok(&["SET", "k", "other"]);
        assert_eq!(c.int(&["MOVE", "k", "1"]), 0);
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("other"));
        assert_eq!(
            c.err(&["MOVE", "k", "0"]),
            "ERR source and destination objects are the same"
        );
        assert_eq!(c.err(&["MOVE", "k", "16"]), DB_RANGE);
        assert_eq!(c.err(&["MOVE", "k", "-1"]), DB_RANGE);
        assert_eq!(c.err(&["MOVE", "k", "abc"]), NOT_INT);
    });
}

#[test]
fn select_dbsize_flushdb_flushall() {
    for_threads(|s| {
        let mut c = s.client();
        let keys: Vec<String> = (0..30).map(|i| format!("a{i}")).collect();
        mset(&mut c, &keys);
        c.ok(&["SELECT", "1"]);
        assert_eq!(c.int(&["DBSIZE"]), 0);
        assert_eq!(c.cmd(&["GET", "a1"]), Reply::Nil);
        let keys: Vec<String> = (0..20).map(|i| format!("b{i}")).collect();
        mset(&mut c, &keys);
        assert_eq!(c.int(&["DBSIZE"]), 20);
        c.ok(&["SELECT", "15"]);
        c.ok(&["SET", "c", "1"]);
        assert_eq!(c.int(&["DBSIZE"]), 1);
        // Databases are per connection.
        let mut other = s.client();
        assert_eq!(other.int(&["DBSIZE"]), 30);

        c.ok(&["SELECT", "1"]);
        c.ok(&["FLUSHDB"]);
        assert_eq!(c.int(&["DBSIZE"]), 0);
        c.ok(&["SELECT", "0"]);
        assert_eq!(
            c.int(&["DBSIZE"]),
            30,
            "FLUSHDB empties only the selected database"
        );
        c.ok(&["FLUSHDB", "ASYNC"]);
        assert_eq!(c.int(&["DBSIZE"]), 0);
        c.ok(&["SET", "x", "1"]);
        c.ok(&["FLUSHDB", "sync"]);
        assert_eq!(c.int(&["DBSIZE"]), 0);
        assert_eq!(c.err(&["FLUSHDB", "foo"]), "ERR syntax error");

        mset(&mut c, &keys);
        c.ok(&["FLUSHALL"]);
        for db in ["0", "1", "15"] {
            c.ok(&["SELECT", db]);
            assert_eq!(c.int(&["DBSIZE"]), 0, "db {db} after FLUSHALL");
        }
        c.ok(&["SET", "x", "1"]);
        c.ok(&["FLUSHALL", "SYNC"]);
        assert_eq!(c.int(&["DBSIZE"]), 0);
        assert_eq!(c.err(&["FLUSHALL", "foo"]), "ERR syntax error");

        assert_eq!(c.err(&["SELECT", "16"]), DB_RANGE);
        assert_eq!(c.err(&["SELECT", "-1"]), DB_RANGE);
        assert_eq!(c.err(&["SELECT", "abc"]), NOT_INT);
        assert_eq!(
            c.err(&["SELECT"]),
            "ERR wrong number of arguments for 'select' command"
        );
    });
}

/// `databases` in the config file bounds SELECT.
#[test]
fn databases_option() {
    for_threads_with(&[], Some("databases 4\n"), |s| {
        let mut c = s.client();
        c.ok(&["SELECT", "3"]);
        assert_eq!(c.err(&["SELECT", "4"]), DB_RANGE);
        assert_eq!(c.err(&["MOVE", "k", "4"]), DB_RANGE);
    });
}
