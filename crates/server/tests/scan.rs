//! SCAN: completeness across shards (every key present for the whole iteration is
//! returned, the cursor ends at 0), MATCH, COUNT, errors.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{for_threads, Client, Reply};

/// Runs a full SCAN iteration with the given extra arguments; returns every key returned
/// (duplicates allowed, as Redis allows) and the number of calls made.
/// `between` runs after each call (to modify the keyspace mid-iteration).
fn full_scan(
    c: &mut Client,
    extra: &[&str],
    mut between: impl FnMut(&mut Client, usize),
) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let reply = c.cmd(&args);
        let items = reply.as_array();
        assert_eq!(items.len(), 2, "SCAN reply {reply:?}");
        let next = items[0].as_string();
        keys.extend(items[1].as_strings());
        calls += 1;
        assert!(calls < 100_000, "SCAN does not terminate");
        between(c, calls);
        if next == "0" {
            return (keys, calls);
        }
        cursor = next;
    }
}

fn fill(s: &common::Server, prefix: &str, n: usize) -> BTreeSet<String> {
    let mut con = s.conn();
    let mut pipe = redis::pipe();
    let mut keys = BTreeSet::new();
    for i in 0..n {
        let k = format!("{prefix}{i}");
        pipe.cmd("SET").arg(&k).arg(i).ignore();
        keys.insert(k);
    }
    let () = pipe.query(&mut con).unwrap();
    keys
}

#[test]
fn scan_returns_every_key() {
    for_threads(|s| {
        let mut c = s.client();
        let (keys, calls) = full_scan(&mut c, &[], |_, _| {});
        assert!(
            keys.is_empty() && calls == 1,
            "empty database: {keys:?} in {calls} calls"
        );

        let want = fill(s, "key:", 5000);
        let (keys, calls) = full_scan(&mut c, &["COUNT", "10"], |_, _| {});
        let seen: BTreeSet<String> = keys.iter().cloned().collect();
        assert_eq!(
            seen.len(),
            5000,
            "SCAN saw {} distinct keys of 5000",
            seen.len()
        );
        assert_eq!(seen, want);
        assert!(
            calls >= 100,
            "COUNT 10 over 5000 keys took only {calls} calls"
        );
        // Redis returns each key once when the table does not change (no rehash here is
        // guaranteed, so only bound the duplicates).
        assert!(keys.len() < 2 * 5000, "too many duplicates: {}", keys.len());

        // Default COUNT.
        let (keys, _) = full_scan(&mut c, &[], |_, _| {});
        assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), want);
    });
}

#[test]
fn scan_match() {
    for_threads(|s| {
        let mut c = s.client();
        let all = fill(s, "key:", 3000);
        fill(s, "other:", 500);
        let want: BTreeSet<String> = all
            .iter()
            .filter(|k| k.starts_with("key:1"))
            .cloned()
            .collect();
        let (keys, _) = full_scan(&mut c, &["MATCH", "key:1*", "COUNT", "10"], |_, _| {});
        assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), want);
        let (keys, _) = full_scan(&mut c, &["COUNT", "100", "MATCH", "other:4?"], |_, _| {});
        let want: BTreeSet<String> = (40..50).map(|i| format!("other:{i}")).collect();
        assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), want);
        let (keys, _) = full_scan(&mut c, &["MATCH", "nomatch*"], |_, _| {});
        assert!(keys.is_empty());
    });
}

/// Keys present for the whole iteration are returned even while others are added and
/// deleted between calls.
#[test]
fn scan_under_concurrent_changes() {
    for_threads(|s| {
        let mut c = s.client();
        let stay = fill(s, "stay:", 2000);
        fill(s, "del:", 1000);
        let (keys, _) = full_scan(&mut c, &["COUNT", "20"], |c, i| {
            c.ok(&["SET", &format!("new:{i}"), "1"]);
            c.int(&["DEL", &format!("del:{i}")]);
        });
        let seen: BTreeSet<String> = keys.into_iter().collect();
        let missing: Vec<&String> = stay.iter().filter(|k| !seen.contains(*k)).collect();
        assert!(
            missing.is_empty(),
            "{} keys present throughout were never returned: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
    });
}

#[test]
fn scan_is_per_database_and_errors() {
    for_threads(|s| {
        let mut c = s.client();
        fill(s, "db0:", 100);
        c.ok(&["SELECT", "2"]);
        c.ok(&["SET", "in2", "1"]);
        let (keys, _) = full_scan(&mut c, &[], |_, _| {});
        assert_eq!(keys, vec!["in2".to_string()]);
        let reply = c.cmd(&["SCAN", "0"]);
        assert!(
            matches!(reply.as_array()[0], Reply::Bulk(_)),
            "the cursor is a bulk string: {reply:?}"
        );
        assert_eq!(c.err(&["SCAN", "abc"]), "ERR invalid cursor");
        assert_eq!(c.err(&["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
        assert_eq!(
            c.err(&["SCAN", "0", "COUNT", "abc"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(c.err(&["SCAN", "0", "FOO"]), "ERR syntax error");
        assert_eq!(c.err(&["SCAN", "0", "MATCH"]), "ERR syntax error");
        assert_eq!(
            c.err(&["SCAN"]),
            "ERR wrong number of arguments for 'scan' command"
        );
    });
}
