//! What a server tells about its own speed, and pausing its clients: SLOWLOG (entries'
//! shape, cutting, redaction, merging across threads), INFO commandstats' time and
//! latencystats, LATENCY (events, history, histograms), CLIENT PAUSE / UNPAUSE and the
//! small CLIENT subcommands that come with them (NO-EVICT, GETREDIR, TRACKINGINFO).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{eventually, for_threads, info_field, Client, Reply};

/// The arguments of every entry SLOWLOG GET -1 returns, newest first.
fn logged(c: &mut Client) -> Vec<Vec<String>> {
    c.cmd(&["SLOWLOG", "GET", "-1"])
        .as_array()
        .iter()
        .map(|e| e.as_array()[3].as_strings())
        .collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn slowlog_entries_have_redis_shape() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        c.ok(&["SLOWLOG", "RESET"]);
        assert_eq!(c.int(&["SLOWLOG", "LEN"]), 0);
        c.ok(&["CLIENT", "SETNAME", "slowpoke"]);
        c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        // Keys on several shards at --threads 4: entries merge in the order they ran.
        for k in ["a", "b", "c", "d", "e", "f"] {
            c.ok(&["SET", k, "v"]);
        }
        let entries = c.cmd(&["SLOWLOG", "GET"]);
        let entries = entries.as_array();
        assert_eq!(entries.len(), 7, "{entries:?}");
        let newest = entries[0].as_array();
        assert_eq!(newest.len(), 6);
        assert_eq!(newest[3].as_strings(), strs(&["SET", "f", "v"]));
        assert_eq!(newest[5], Reply::bulk("slowpoke"));
        assert!(newest[4].as_string().starts_with("127.0.0.1:"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((newest[1].as_int() - now).abs() <= 5);
        assert!(newest[2].as_int() >= 0);
        let ids: Vec<i64> = entries.iter().map(|e| e.as_array()[0].as_int()).collect();
        assert!(ids.windows(2).all(|p| p[0] > p[1]), "ids {ids:?}");
        let order: Vec<String> = entries[..6]
            .iter()
            .map(|e| e.as_array()[3].as_strings()[1].clone())
            .collect();
        assert_eq!(order, strs(&["f", "e", "d", "c", "b", "a"]));
        assert_eq!(
            entries[6].as_array()[3].as_strings(),
            strs(&["CONFIG", "SET", "slowlog-log-slower-than", "0"])
        );

        // GET's count, and its errors.
        assert_eq!(c.cmd(&["SLOWLOG", "GET", "2"]).as_array().len(), 2);
        assert_eq!(c.cmd(&["SLOWLOG", "GET", "0"]).as_array().len(), 0);
        assert_eq!(
            c.err(&["SLOWLOG", "GET", "-2"]),
            "ERR count should be greater than or equal to -1"
        );
        assert_eq!(
            c.err(&["SLOWLOG", "GET", "x"]),
            "ERR count should be greater than or equal to -1"
        );
        assert_eq!(
            c.err(&["SLOWLOG", "LEN", "x"]),
            "ERR wrong number of arguments for 'slowlog|len' command"
        );
        assert!(c
            .err(&["SLOWLOG", "NOPE"])
            .starts_with("ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP."));
        assert!(c.cmd(&["SLOWLOG", "HELP"]).as_array().len() > 4);
    });
}

#[test]
fn slowlog_cuts_long_commands_and_hides_secrets() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        let mut sadd = vec!["SADD".to_string(), "set".into()];
        sadd.extend((3..=35).map(|i| i.to_string()));
        c.int(&sadd);
        let long = "A".repeat(130);
        c.int(&["SADD", "set2", "foo", &long]);
        c.err(&["AUTH", "nosuchpassword"]);
        c.ok(&["ACL", "SETUSER", "slowlog-user", "on", ">secret"]);
        c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        let all = logged(&mut c);
        // Newest first: CONFIG SET (0) is logged, CONFIG SET -1 is not.
        assert_eq!(
            all[0],
            strs(&["ACL", "SETUSER", "(redacted)", "(redacted)", "(redacted)"])
        );
        assert_eq!(all[1], strs(&["AUTH", "(redacted)"]));
        let cut = &all[2];
        assert_eq!(cut.len(), 4);
        assert_eq!(cut[3], format!("{}... (2 more bytes)", "A".repeat(128)));
        let many = &all[3];
        assert_eq!(many.len(), 32);
        assert_eq!(many[30], "31");
        assert_eq!(many[31], "... (4 more arguments)");
    });
}

#[test]
fn slowlog_threshold_max_len_and_reset() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "50000"]);
        c.ok(&["SLOWLOG", "RESET"]);
        c.cmd(&["PING"]);
        assert_eq!(c.int(&["SLOWLOG", "LEN"]), 0);
        c.ok(&["DEBUG", "SLEEP", "0.1"]);
        assert_eq!(c.int(&["SLOWLOG", "LEN"]), 1);
        let e = c.cmd(&["SLOWLOG", "GET"]);
        let e = e.as_array()[0].as_array();
        assert!(e[2].as_int() >= 100_000, "{e:?}");
        assert_eq!(e[3].as_strings(), strs(&["DEBUG", "SLEEP", "0.1"]));

        // EXEC is not logged, the commands it ran are.
        c.ok(&["SLOWLOG", "RESET"]);
        c.ok(&["MULTI"]);
        c.cmd(&["DEBUG", "SLEEP", "0.1"]);
        c.cmd(&["EXEC"]);
        assert_eq!(logged(&mut c), vec![strs(&["DEBUG", "SLEEP", "0.1"])]);

        // At most slowlog-max-len entries, over every thread.
        c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        c.ok(&["CONFIG", "SET", "slowlog-max-len", "3"]);
        for k in ["a", "b", "c", "d", "e"] {
            c.int(&["INCR", k]);
        }
        assert_eq!(c.int(&["SLOWLOG", "LEN"]), 3);
        assert_eq!(
            logged(&mut c),
            vec![
                strs(&["SLOWLOG", "LEN"]),
                strs(&["INCR", "e"]),
                strs(&["INCR", "d"])
            ]
        );
        c.ok(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
        c.ok(&["SLOWLOG", "RESET"]);
        assert_eq!(c.int(&["SLOWLOG", "LEN"]), 0);
        c.ok(&["CONFIG", "SET", "slowlog-max-len", "128"]);
    });
}

#[test]
fn commandstats_time_and_latencystats() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "RESETSTAT"]);
        for i in 0..200 {
            c.ok(&["SET", &format!("k{i}"), "v"]);
        }
        let info = c.cmd(&["INFO", "commandstats"]).as_string();
        let line = info_field(&info, "cmdstat_set").unwrap();
        let field = |name: &str| -> String {
            line.split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_string))
                .unwrap_or_else(|| panic!("{name} in {line}"))
        };
        assert_eq!(field("calls"), "200");
        assert!(field("usec").parse::<u64>().unwrap() > 0, "{line}");
        assert!(
            field("usec_per_call").parse::<f64>().unwrap() > 0.0,
            "{line}"
        );

        // A pipeline of one fast command is timed as a run: its calls are all counted.
        let mut batch = Vec::new();
        for i in 0..100 {
            batch.extend(common::encode(&["GET", &format!("k{i}")]));
        }
        c.send(&batch);
        for _ in 0..100 {
            assert_eq!(c.read_reply(), Reply::bulk("v"));
        }
        let h = c.cmd(&["LATENCY", "HISTOGRAM", "get"]);
        assert_eq!(h.as_array()[1].as_array()[1], Reply::int(100), "{h:?}");
        let info = c.cmd(&["INFO", "commandstats"]).as_string();
        let get = info_field(&info, "cmdstat_get").unwrap();
        assert!(get.starts_with("calls=100,usec="), "{get}");

        let info = c.cmd(&["INFO", "latencystats"]).as_string();
        assert!(info.contains("# Latencystats"), "{info}");
        let p = info_field(&info, "latency_percentiles_usec_set").unwrap();
        assert!(
            p.starts_with("p50=") && p.contains(",p99=") && p.contains(",p99.9="),
            "{p}"
        );
    });
}

#[test]
fn latency_events_and_histograms() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "latency-monitor-threshold", "50"]);
        c.cmd(&["LATENCY", "RESET"]);
        assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Reply::Array(vec![]));
        c.ok(&["DEBUG", "SLEEP", "0.1"]);
        let latest = c.cmd(&["LATENCY", "LATEST"]);
        let latest = latest.as_array();
        assert_eq!(latest.len(), 1, "{latest:?}");
        let e = latest[0].as_array();
        assert_eq!(e[0], Reply::bulk("command"));
        assert!(e[2].as_int() >= 100 && e[3].as_int() >= 100, "{e:?}");
        let history = c.cmd(&["LATENCY", "HISTORY", "command"]);
        assert_eq!(history.as_array().len(), 1);
        assert_eq!(history.as_array()[0].as_array()[0], e[1]);
        assert_eq!(
            c.cmd(&["LATENCY", "HISTORY", "nosuchevent"]),
            Reply::Array(vec![])
        );
        assert!(!c.cmd(&["LATENCY", "DOCTOR"]).as_bytes().is_empty());
        assert!(!c
            .cmd(&["LATENCY", "GRAPH", "command"])
            .as_bytes()
            .is_empty());
        assert_eq!(c.int(&["LATENCY", "RESET", "nosuchevent"]), 0);
        assert_eq!(c.int(&["LATENCY", "RESET"]), 1);
        assert_eq!(
            c.err(&["LATENCY", "GRAPH", "command"]),
            "ERR No samples available for event 'command'"
        );
        assert_eq!(
            c.err(&["LATENCY", "HELP", "xxx"]),
            "ERR wrong number of arguments for 'latency|help' command"
        );
        c.ok(&["CONFIG", "SET", "latency-monitor-threshold", "0"]);

        // Histograms: per command, subcommands by their full name.
        c.ok(&["CONFIG", "RESETSTAT"]);
        c.ok(&["SET", "a", "b"]);
        c.ok(&["SET", "c", "d"]);
        c.cmd(&["CLIENT", "ID"]);
        let h = c.cmd(&["LATENCY", "HISTOGRAM", "set", "client", "nosuchcommand"]);
        let h = h.as_array();
        assert_eq!(h.len(), 4, "{h:?}");
        assert_eq!(h[0], Reply::bulk("set"));
        let set = h[1].as_array();
        assert_eq!(set[0], Reply::bulk("calls"));
        assert_eq!(set[1], Reply::int(2));
        assert_eq!(set[2], Reply::bulk("histogram_usec"));
        let buckets = set[3].as_array();
        assert!(!buckets.is_empty() && buckets.len() % 2 == 0);
        assert_eq!(buckets[buckets.len() - 1], Reply::int(2), "cumulative");
        assert_eq!(h[2], Reply::bulk("client|id"));
    });
}

/// A deferred client: sends `args` now, its reply read later.
fn send(c: &mut Client, args: &[&str]) {
    c.send(&common::encode(args));
}

/// Whether a reply arrives within `d`.
fn replies_within(c: &mut Client, d: Duration) -> bool {
    c.set_timeout(d);
    let got = c.try_read_reply().is_ok_and(|r| r.is_some());
    c.set_timeout(common::READ_TIMEOUT);
    got
}

fn blocked_clients(c: &mut Client) -> i64 {
    let info = c.cmd(&["INFO", "clients"]).as_string();
    info_field(&info, "blocked_clients")
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn client_pause_write_holds_writes_only() {
    for_threads(|s| {
        let mut admin = s.client();
        admin.ok(&["SET", "foo", "bar"]);
        admin.ok(&["CLIENT", "PAUSE", "100000", "WRITE"]);
        let mut reader = s.client();
        assert_eq!(reader.cmd(&["GET", "foo"]), Reply::bulk("bar"));
        assert_eq!(reader.cmd(&["PING"]), Reply::status("PONG"));
        // A wrong command is answered at once.
        assert_eq!(
            reader.err(&["SET", "foo"]),
            "ERR wrong number of arguments for 'set' command"
        );
        // Writes from any connection (on any thread) wait.
        let mut writers: Vec<Client> = (0..3).map(|_| s.client()).collect();
        for (i, w) in writers.iter_mut().enumerate() {
            send(w, &["SET", &format!("k{i}"), "v"]);
        }
        let mut multi = s.client();
        multi.ok(&["MULTI"]);
        assert_eq!(multi.cmd(&["GET", "foo"]), Reply::status("QUEUED"));
        assert_eq!(multi.cmd(&["PING"]), Reply::status("QUEUED"));
        assert_eq!(
            multi.cmd(&["EXEC"]),
            Reply::Array(vec![Reply::bulk("bar"), Reply::status("PONG")])
        );
        let mut publisher = s.client();
        send(&mut publisher, &["PUBLISH", "ch", "msg"]);
        assert!(eventually(Duration::from_secs(5), || blocked_clients(
            &mut admin
        ) == 4));
        assert!(!replies_within(&mut writers[0], Duration::from_millis(200)));
        admin.ok(&["CLIENT", "UNPAUSE"]);
        for w in &mut writers {
            assert_eq!(w.read_reply(), Reply::ok());
        }
        assert_eq!(publisher.read_reply(), Reply::int(0));
        assert_eq!(blocked_clients(&mut admin), 0);
        assert_eq!(admin.cmd(&["GET", "k2"]), Reply::bulk("v"));
    });
}

#[test]
fn client_pause_all_and_timeout() {
    for_threads(|s| {
        let mut admin = s.client();
        // An EXEC holding a write waits under WRITE.
        let mut tx = s.client();
        tx.ok(&["MULTI"]);
        assert_eq!(tx.cmd(&["SET", "x", "1"]), Reply::status("QUEUED"));
        admin.ok(&["CLIENT", "PAUSE", "60000", "WRITE"]);
        send(&mut tx, &["EXEC"]);
        assert!(!replies_within(&mut tx, Duration::from_millis(200)));
        admin.ok(&["CLIENT", "UNPAUSE"]);
        assert_eq!(tx.read_reply(), Reply::Array(vec![Reply::ok()]));

        // ALL holds reads too, until its deadline.
        let start = Instant::now();
        admin.ok(&["CLIENT", "PAUSE", "400", "ALL"]);
        let mut reader = s.client();
        assert_eq!(reader.cmd(&["GET", "x"]), Reply::bulk("1"));
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");

        assert_eq!(
            admin.err(&["CLIENT", "PAUSE", "abc"]),
            "ERR timeout is not an integer or out of range"
        );
        assert_eq!(
            admin.err(&["CLIENT", "PAUSE", "-1"]),
            "ERR timeout is negative"
        );
        assert_eq!(
            admin.err(&["CLIENT", "PAUSE", "10", "SOME"]),
            "ERR CLIENT PAUSE mode must be WRITE or ALL"
        );
        assert_eq!(
            admin.err(&["CLIENT", "PAUSE"]),
            "ERR wrong number of arguments for 'client|pause' command"
        );
    });
}

#[test]
fn client_getredir_trackinginfo_no_evict() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.int(&["CLIENT", "GETREDIR"]), -1);
        assert_eq!(
            c.cmd(&["CLIENT", "TRACKINGINFO"]),
            Reply::Array(vec![
                Reply::bulk("flags"),
                Reply::bulks(&["off"]),
                Reply::bulk("redirect"),
                Reply::int(-1),
                Reply::bulk("prefixes"),
                Reply::Array(vec![]),
            ])
        );
        c.ok(&["CLIENT", "NO-EVICT", "on"]);
        c.ok(&["CLIENT", "NO-EVICT", "off"]);
        assert_eq!(c.err(&["CLIENT", "NO-EVICT", "maybe"]), "ERR syntax error");
    });
}
