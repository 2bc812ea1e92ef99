//! Client-side caching (CLIENT TRACKING and its invalidations) against the
//! real server, at one thread and at four, where the tracking client, the
//! writer, the redirect target and the keys' shards are spread over
//! threads. These pass unchanged against redis-server with
//! TESSERA_TEST_AGAINST_REDIS=1.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{for_threads, info_field, Client, Reply, Server};

/// A RESP2 connection subscribed to `__redis__:invalidate`, and its id.
fn redirect_target(s: &Server) -> (Client, i64) {
    let mut t = s.client();
    let id = t.int(&["CLIENT", "ID"]);
    let r = t.cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    assert_eq!(r.as_array()[1], Reply::bulk("__redis__:invalidate"));
    (t, id)
}

/// The keys of the next invalidation message a RESP2 target reads.
fn invalidated(t: &mut Client) -> Vec<String> {
    let r = t.read_reply();
    let a = r.as_array();
    assert_eq!(a[0], Reply::bulk("message"), "{r:?}");
    assert_eq!(a[1], Reply::bulk("__redis__:invalidate"), "{r:?}");
    let mut keys = a[2].as_strings();
    keys.sort();
    keys
}

/// Switches `c` to RESP3; afterwards it is read raw ([`expect_raw`]).
fn hello3(c: &mut Client) {
    c.send(&common::encode(&["HELLO", "3"]));
    c.send(&common::encode(&["PING"]));
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.ends_with(b"+PONG\r\n") {
        let n = c.stream().read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        got.extend_from_slice(&chunk[..n]);
    }
}

/// Reads exactly `want`'s length from a RESP3 connection and compares.
fn expect_raw(c: &mut Client, want: &[u8]) {
    let mut got = vec![0u8; want.len()];
    let mut stream = c.stream();
    stream.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
}

fn push(key: &str) -> Vec<u8> {
    format!(
        ">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n",
        key.len()
    )
    .into_bytes()
}

/// Sends one command to a RESP3 connection and reads its exact reply.
fn raw_cmd(c: &mut Client, args: &[&str], reply: &[u8]) {
    c.send(&common::encode(args));
    expect_raw(c, reply);
}

#[test]
fn a_redirected_client_hears_of_the_keys_it_read_once() {
    for_threads(|s| {
        let (mut t, id) = redirect_target(s);
        let mut c = s.client();
        c.ok(&["CLIENT", "TRACKING", "on", "REDIRECT", &id.to_string()]);
        c.ok(&["SET", "a{t}", "1"]);
        c.ok(&["SET", "b{t}", "1"]);
        assert_eq!(c.cmd(&["GET", "a{t}"]), Reply::bulk("1"));
        // Not read: no message.
        assert_eq!(c.int(&["INCR", "b{t}"]), 2);
        assert_eq!(c.int(&["INCR", "a{t}"]), 2);
        assert_eq!(invalidated(&mut t), ["a{t}"]);
        // Told once: the key is no longer tracked until read again.
        assert_eq!(c.int(&["INCR", "a{t}"]), 3);
        // Keys on other shards, written by another client.
        let mut w = s.client();
        let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
        for k in &keys {
            c.cmd(&["GET", k]);
        }
        for k in &keys {
            w.ok(&["SET", k, "v"]);
            assert_eq!(invalidated(&mut t), std::slice::from_ref(k));
        }
        c.ok(&["CLIENT", "TRACKING", "off"]);
    });
}

#[test]
fn resp3_clients_get_invalidate_pushes_after_their_own_replies() {
    for_threads(|s| {
        let mut c = s.client();
        hello3(&mut c);
        raw_cmd(&mut c, &["CLIENT", "TRACKING", "on"], b"+OK\r\n");
        let mut w = s.client();
        w.ok(&["SET", "key1", "1"]);
        raw_cmd(&mut c, &["GET", "key1"], b"$1\r\n1\r\n");
        w.ok(&["SET", "key1", "2"]);
        expect_raw(&mut c, &push("key1"));
        // Its own write: the reply, then the push.
        raw_cmd(&mut c, &["HSET", "h", "f", "1"], b":1\r\n");
        raw_cmd(&mut c, &["HGET", "h", "f"], b"$1\r\n1\r\n");
        raw_cmd(&mut c, &["HDEL", "h", "f"], b":1\r\n");
        expect_raw(&mut c, &push("h"));
        // In a transaction, after EXEC's reply.
        raw_cmd(&mut c, &["MSET", "a{t}", "1", "b{t}", "2"], b"+OK\r\n");
        raw_cmd(&mut c, &["GET", "a{t}"], b"$1\r\n1\r\n");
        raw_cmd(&mut c, &["MULTI"], b"+OK\r\n");
        raw_cmd(&mut c, &["INCR", "a{t}"], b"+QUEUED\r\n");
        raw_cmd(&mut c, &["GET", "b{t}"], b"+QUEUED\r\n");
        raw_cmd(&mut c, &["EXEC"], b"*2\r\n:2\r\n$1\r\n2\r\n");
        expect_raw(&mut c, &push("a{t}"));
        // FLUSHALL: a null for every tracking client.
        raw_cmd(&mut c, &["FLUSHALL"], b"+OK\r\n");
        expect_raw(&mut c, b">2\r\n$10\r\ninvalidate\r\n_\r\n");
        raw_cmd(&mut c, &["CLIENT", "TRACKING", "off"], b"+OK\r\n");
    });
}

#[test]
fn bcast_prefixes_and_noloop() {
    for_threads(|s| {
        let (mut t, id) = redirect_target(s);
        let id = id.to_string();
        let mut c = s.client();
        c.ok(&["CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &id]);
        c.ok(&["MSET", "a{t}", "1", "b{t}", "2", "c{t}", "3"]);
        assert_eq!(invalidated(&mut t), ["a{t}", "b{t}", "c{t}"]);
        c.ok(&["CLIENT", "TRACKING", "off"]);
        c.ok(&[
            "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &id, "PREFIX", "a:", "PREFIX", "b:",
        ]);
        c.ok(&["MULTI"]);
        for k in ["a:1{t}", "a:2{t}", "b:1{t}", "b:2{t}", "c:1{t}"] {
            assert_eq!(c.cmd(&["INCR", k]), Reply::status("QUEUED"));
        }
        assert_eq!(c.cmd(&["EXEC"]).as_array().len(), 5);
        let mut keys = invalidated(&mut t);
        keys.extend(invalidated(&mut t));
        keys.sort();
        assert_eq!(keys, ["a:1{t}", "a:2{t}", "b:1{t}", "b:2{t}"]);
        // More prefixes on top.
        c.ok(&[
            "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &id, "PREFIX", "c:",
        ]);
        c.int(&["INCR", "c:1234"]);
        assert_eq!(invalidated(&mut t), ["c:1234"]);
        // NOLOOP: its own writes are not reported.
        c.ok(&["CLIENT", "TRACKING", "off"]);
        c.ok(&[
            "CLIENT", "TRACKING", "on", "BCAST", "REDIRECT", &id, "NOLOOP",
        ]);
        let mut w = s.client();
        w.ok(&["SET", "otherkey1", "1"]);
        c.ok(&["SET", "loopkey", "1"]);
        w.ok(&["SET", "otherkey2", "1"]);
        assert_eq!(invalidated(&mut t), ["otherkey1"]);
        assert_eq!(invalidated(&mut t), ["otherkey2"]);
        // Expired keys are the server's doing: reported under NOLOOP too.
        c.ok(&["SET", "mykey", "v", "PX", "1"]);
        assert_eq!(invalidated(&mut t), ["mykey"]);
        c.ok(&["CLIENT", "TRACKING", "off"]);
        assert_eq!(
            info_field(
                &c.cmd(&["INFO", "stats"]).as_string(),
                "tracking_total_prefixes"
            )
            .as_deref(),
            Some("0")
        );
    });
}

#[test]
fn noloop_and_optin_optout_in_default_mode() {
    for_threads(|s| {
        let (mut t, id) = redirect_target(s);
        let id = id.to_string();
        let mut c = s.client();
        let mut w = s.client();
        c.ok(&["CLIENT", "TRACKING", "on", "REDIRECT", &id, "NOLOOP"]);
        c.cmd(&["MGET", "otherkey1{t}", "loopkey{t}", "otherkey2{t}"]);
        w.ok(&["SET", "otherkey1{t}", "1"]);
        c.ok(&["SET", "loopkey{t}", "1"]);
        w.ok(&["SET", "otherkey2{t}", "1"]);
        assert_eq!(invalidated(&mut t), ["otherkey1{t}"]);
        assert_eq!(invalidated(&mut t), ["otherkey2{t}"]);
        c.ok(&["CLIENT", "TRACKING", "off"]);
        // OPTIN: only after CLIENT CACHING yes, for the next command.
        c.ok(&["CLIENT", "TRACKING", "on", "OPTIN", "REDIRECT", &id]);
        c.cmd(&["GET", "in1"]);
        c.ok(&["CLIENT", "CACHING", "yes"]);
        c.cmd(&["GET", "in2"]);
        c.cmd(&["GET", "in3"]);
        for k in ["in1", "in2", "in3"] {
            w.ok(&["SET", k, "x"]);
        }
        assert_eq!(invalidated(&mut t), ["in2"]);
        c.ok(&["CLIENT", "TRACKING", "off"]);
        // OPTOUT: all but after CLIENT CACHING no.
        c.ok(&["CLIENT", "TRACKING", "on", "OPTOUT", "REDIRECT", &id]);
        c.ok(&["CLIENT", "CACHING", "no"]);
        c.cmd(&["GET", "out1"]);
        c.cmd(&["GET", "out2"]);
        for k in ["out1", "out2"] {
            w.ok(&["SET", k, "x"]);
        }
        assert_eq!(invalidated(&mut t), ["out2"]);
        c.ok(&["CLIENT", "TRACKING", "off"]);
    });
}

#[test]
fn options_errors_and_introspection() {
    for_threads(|s| {
        let mut c = s.client();
        let mut t = s.client();
        let tid = t.int(&["CLIENT", "ID"]);
        let tid_s = tid.to_string();
        assert_eq!(c.int(&["CLIENT", "GETREDIR"]), -1);
        let off = c.cmd(&["CLIENT", "TRACKINGINFO"]);
        assert_eq!(
            off,
            Reply::Array(vec![
                Reply::bulk("flags"),
                Reply::bulks(&["off"]),
                Reply::bulk("redirect"),
                Reply::int(-1),
                Reply::bulk("prefixes"),
                Reply::Array(vec![]),
            ])
        );
        for (args, want) in [
            (
                vec!["CLIENT", "TRACKING", "on", "PREFIX", "a"],
                "ERR PREFIX option requires BCAST mode to be enabled",
            ),
            (
                vec!["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"],
                "ERR OPTIN and OPTOUT are not compatible with BCAST",
            ),
            (
                vec!["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"],
                "ERR You can't specify both OPTIN mode and OPTOUT mode",
            ),
            (
                vec!["CLIENT", "TRACKING", "on", "REDIRECT", "99999999"],
                "ERR The client ID you want redirect to does not exist",
            ),
            (
                vec!["CLIENT", "TRACKING", "on", "REDIRECT", &tid_s, "REDIRECT", &tid_s],
                "ERR A client can only redirect to a single other client",
            ),
            (vec!["CLIENT", "TRACKING", "maybe"], "ERR syntax error"),
            (vec!["CLIENT", "TRACKING", "on", "FOO"], "ERR syntax error"),
            (
                vec!["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "FOOBAR", "PREFIX", "FOO"],
                "ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'. Prefixes for a single client must not overlap.",
            ),
            (
                vec!["CLIENT", "CACHING", "yes"],
                "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
            ),
            (
                vec!["CLIENT", "TRACKING"],
                "ERR wrong number of arguments for 'client|tracking' command",
            ),
        ] {
            assert_eq!(c.err(&args), want, "{args:?}");
        }
        c.ok(&[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "FOO", "PREFIX", "BAR",
        ]);
        assert_eq!(
            c.err(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "FO"]),
            "ERR Prefix 'FO' overlaps with an existing prefix 'FOO'. Prefixes for a single client must not overlap."
        );
        assert_eq!(
            c.err(&["CLIENT", "TRACKING", "on"]),
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."
        );
        let info = c.cmd(&["CLIENT", "TRACKINGINFO"]);
        let a = info.as_array();
        assert_eq!(a[1], Reply::bulks(&["on", "bcast"]));
        let mut p = a[5].as_strings();
        p.sort();
        assert_eq!(p, ["BAR", "FOO"]);
        c.ok(&["CLIENT", "TRACKING", "off"]);
        c.ok(&[
            "CLIENT", "TRACKING", "on", "OPTIN", "NOLOOP", "REDIRECT", &tid_s,
        ]);
        assert_eq!(c.int(&["CLIENT", "GETREDIR"]), tid);
        assert_eq!(
            c.err(&["CLIENT", "CACHING", "no"]),
            "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
        );
        assert_eq!(
            c.err(&["CLIENT", "TRACKING", "on", "OPTOUT"]),
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."
        );
        c.ok(&["CLIENT", "CACHING", "yes"]);
        let info = c.cmd(&["CLIENT", "TRACKINGINFO"]);
        assert_eq!(
            info.as_array()[1],
            Reply::bulks(&["on", "optin", "caching-yes", "noloop"])
        );
        assert_eq!(info.as_array()[3], Reply::int(tid));
        c.ok(&["CLIENT", "TRACKING", "on"]);
        assert_eq!(c.int(&["CLIENT", "GETREDIR"]), 0);
        c.ok(&["CLIENT", "TRACKING", "off"]);
        assert_eq!(c.int(&["CLIENT", "GETREDIR"]), -1);
    });
}

#[test]
fn info_counts_and_the_table_limit() {
    for_threads(|s| {
        let (mut t, id) = redirect_target(s);
        let mut c = s.client();
        let mut b = s.client();
        let mut admin = s.client();
        admin.ok(&["FLUSHALL"]);
        c.ok(&["CLIENT", "TRACKING", "on", "REDIRECT", &id.to_string()]);
        for i in 0..20 {
            c.cmd(&["GET", &format!("key{i}")]);
        }
        b.ok(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "prefix:"]);
        let stat = |admin: &mut Client, name: &str| {
            let info = admin.cmd(&["INFO"]).as_string();
            info_field(&info, name).unwrap().parse::<i64>().unwrap()
        };
        assert_eq!(stat(&mut admin, "tracking_clients"), 2);
        assert_eq!(stat(&mut admin, "tracking_total_keys"), 20);
        assert_eq!(stat(&mut admin, "tracking_total_items"), 20);
        assert_eq!(stat(&mut admin, "tracking_total_prefixes"), 1);
        // Over the limit: keys are dropped, and their clients told.
        admin.ok(&["CONFIG", "SET", "tracking-table-max-keys", "5"]);
        for _ in 0..15 {
            assert_eq!(invalidated(&mut t).len(), 1);
        }
        assert_eq!(stat(&mut admin, "tracking_total_keys"), 5);
        admin.ok(&["CONFIG", "SET", "tracking-table-max-keys", "1000000"]);
        // FLUSHALL empties the table and tells everyone (a null).
        admin.ok(&["FLUSHALL"]);
        let r = t.read_reply();
        assert_eq!(r.as_array()[2], Reply::Nil, "{r:?}");
        assert_eq!(stat(&mut admin, "tracking_total_keys"), 0);
        c.ok(&["CLIENT", "TRACKING", "off"]);
        b.ok(&["CLIENT", "TRACKING", "off"]);
        assert_eq!(stat(&mut admin, "tracking_clients"), 0);
        assert_eq!(stat(&mut admin, "tracking_total_prefixes"), 0);
    });
}

#[test]
fn a_gone_redirect_target_is_reported_to_resp3_clients() {
    for_threads(|s| {
        let (mut t, id) = redirect_target(s);
        let mut c = s.client();
        hello3(&mut c);
        raw_cmd(
            &mut c,
            &["CLIENT", "TRACKING", "on", "REDIRECT", &id.to_string()],
            b"+OK\r\n",
        );
        raw_cmd(&mut c, &["GET", "gone"], b"_\r\n");
        t.send(&common::encode(&["QUIT"]));
        assert_eq!(t.read_reply(), Reply::ok());
        drop(t);
        // The target's disconnection is noticed on its thread.
        std::thread::sleep(Duration::from_millis(100));
        let mut w = s.client();
        w.ok(&["SET", "gone", "1"]);
        let want = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{id}\r\n");
        expect_raw(&mut c, want.as_bytes());
        let started = Instant::now();
        c.send(&common::encode(&["CLIENT", "GETREDIR"]));
        expect_raw(&mut c, format!(":{id}\r\n").as_bytes());
        assert!(started.elapsed() < Duration::from_secs(5));
    });
}
