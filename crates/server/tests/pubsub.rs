//! SUBSCRIBE, PSUBSCRIBE, PUBLISH and PUBSUB against the real server, at one
//! thread and at four (where subscribers and publishers land on different
//! threads). These pass unchanged against redis-server with
//! TESSERA_TEST_AGAINST_REDIS=1.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{for_threads, Client, Reply};

fn confirm(kind: &str, name: &str, count: i64) -> Reply {
    Reply::Array(vec![
        Reply::bulk(kind),
        Reply::bulk(name),
        Reply::int(count),
    ])
}

fn message(channel: &str, payload: &str) -> Reply {
    Reply::bulks(&["message", channel, payload])
}

/// Subscribes `c` and reads one confirmation per name.
fn subscribe(c: &mut Client, cmd: &str, names: &[&str]) -> Vec<i64> {
    let mut args = vec![cmd];
    args.extend_from_slice(names);
    c.send(&common::encode(&args));
    names
        .iter()
        .map(|n| {
            let r = c.read_reply();
            let a = r.as_array();
            assert_eq!(a[0], Reply::bulk(cmd.to_ascii_lowercase()), "{r:?}");
            assert_eq!(a[1], Reply::bulk(n), "{r:?}");
            a[2].as_int()
        })
        .collect()
}

#[test]
fn messages_reach_every_subscriber_on_every_thread() {
    for_threads(|s| {
        // Eight subscribers: at four threads they are spread over all of them.
        let mut subs: Vec<Client> = (0..8).map(|_| s.client()).collect();
        for sub in &mut subs {
            assert_eq!(subscribe(sub, "SUBSCRIBE", &["news", "sport"]), [1, 2]);
        }
        let mut p = s.client();
        assert_eq!(p.int(&["PUBLISH", "news", "hello"]), 8);
        assert_eq!(p.int(&["PUBLISH", "sport", "goal"]), 8);
        assert_eq!(p.int(&["PUBLISH", "weather", "rain"]), 0);
        for sub in &mut subs {
            assert_eq!(sub.read_reply(), message("news", "hello"));
            assert_eq!(sub.read_reply(), message("sport", "goal"));
        }
        // Binary-safe channel and payload.
        let odd = "a\r\n\0b";
        assert_eq!(subscribe(&mut subs[0], "SUBSCRIBE", &[odd]), [3]);
        assert_eq!(p.int(&["PUBLISH", odd, odd]), 1);
        assert_eq!(subs[0].read_reply(), message(odd, odd));

        assert_eq!(
            p.cmd(&["PUBSUB", "NUMSUB", "news", "sport", odd, "none"]),
            Reply::Array(vec![
                Reply::bulk("news"),
                Reply::int(8),
                Reply::bulk("sport"),
                Reply::int(8),
                Reply::bulk(odd),
                Reply::int(1),
                Reply::bulk("none"),
                Reply::int(0),
            ])
        );
        let mut chans = p.cmd(&["PUBSUB", "CHANNELS"]).as_strings();
        chans.sort();
        assert_eq!(chans, [odd, "news", "sport"]);
        assert_eq!(p.cmd(&["PUBSUB", "CHANNELS", "n*"]).as_strings(), ["news"]);

        // Unsubscribing from one, then from everything.
        subs[1].send(&common::encode(&["UNSUBSCRIBE", "news"]));
        assert_eq!(subs[1].read_reply(), confirm("unsubscribe", "news", 1));
        assert_eq!(p.int(&["PUBLISH", "news", "x"]), 7);
        subs[1].send(&common::encode(&["UNSUBSCRIBE"]));
        assert_eq!(subs[1].read_reply(), confirm("unsubscribe", "sport", 0));
        // Out of the subscribed state: an ordinary client again.
        assert_eq!(subs[1].cmd(&["PING"]), Reply::status("PONG"));
        assert_eq!(subs[1].cmd(&["SET", "k", "v"]), Reply::ok());
        assert_eq!(p.int(&["PUBLISH", "sport", "x"]), 7);

        // A closed subscriber is forgotten.
        drop(subs.pop());
        wait_for(|| p.cmd(&["PUBSUB", "NUMSUB", "sport"]).as_array()[1].as_int() == 6);
        drop(subs);
        wait_for(|| p.cmd(&["PUBSUB", "CHANNELS"]).as_array().is_empty());
        assert_eq!(p.int(&["PUBLISH", "news", "x"]), 0);
    });
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "condition never held"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn patterns_match_as_globs() {
    for_threads(|s| {
        let mut a = s.client();
        let mut b = s.client();
        assert_eq!(
            subscribe(&mut a, "PSUBSCRIBE", &["foo.*", "bar.[0-9]"]),
            [1, 2]
        );
        assert_eq!(subscribe(&mut b, "PSUBSCRIBE", &["foo.*"]), [1]);
        assert_eq!(subscribe(&mut b, "SUBSCRIBE", &["foo.1"]), [2]);
        let mut p = s.client();
        // b hears foo.1 twice: once by channel, once by pattern.
        assert_eq!(p.int(&["PUBLISH", "foo.1", "m"]), 3);
        assert_eq!(p.int(&["PUBLISH", "bar.7", "n"]), 1);
        assert_eq!(p.int(&["PUBLISH", "bar.x", "n"]), 0);
        assert_eq!(p.int(&["PUBLISH", "foo", "n"]), 0);
        assert_eq!(
            a.read_reply(),
            Reply::bulks(&["pmessage", "foo.*", "foo.1", "m"])
        );
        assert_eq!(
            a.read_reply(),
            Reply::bulks(&["pmessage", "bar.[0-9]", "bar.7", "n"])
        );
        let mut got = [b.read_reply(), b.read_reply()];
        got.sort_by_key(|r| r.as_array().len());
        assert_eq!(got[0], message("foo.1", "m"));
        assert_eq!(got[1], Reply::bulks(&["pmessage", "foo.*", "foo.1", "m"]));
        // NUMPAT counts distinct patterns across clients and threads.
        assert_eq!(p.int(&["PUBSUB", "NUMPAT"]), 2);
        a.send(&common::encode(&["PUNSUBSCRIBE", "foo.*", "nope"]));
        assert_eq!(a.read_reply(), confirm("punsubscribe", "foo.*", 1));
        assert_eq!(a.read_reply(), confirm("punsubscribe", "nope", 1));
        assert_eq!(p.int(&["PUBSUB", "NUMPAT"]), 2);
        b.send(&common::encode(&["PUNSUBSCRIBE"]));
        assert_eq!(b.read_reply(), confirm("punsubscribe", "foo.*", 1));
        assert_eq!(p.int(&["PUBSUB", "NUMPAT"]), 1);
        // With nothing to leave, the reply still comes, with a null name.
        let mut c = s.client();
        assert_eq!(
            c.cmd(&["PUNSUBSCRIBE"]),
            Reply::Array(vec![Reply::bulk("punsubscribe"), Reply::Nil, Reply::int(0)])
        );
        assert_eq!(
            c.cmd(&["UNSUBSCRIBE"]),
            Reply::Array(vec![Reply::bulk("unsubscribe"), Reply::Nil, Reply::int(0)])
        );
    });
}

#[test]
fn a_subscribed_connection_takes_only_pubsub_commands() {
    for_threads(|s| {
        let mut c = s.client();
        subscribe(&mut c, "SUBSCRIBE", &["ch"]);
        assert_eq!(
            c.err(&["GET", "k"]),
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        );
        assert_eq!(
            c.err(&["CLIENT", "LIST"]),
            "ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        );
        assert_eq!(c.cmd(&["PING"]), Reply::bulks(&["pong", ""]));
        assert_eq!(c.cmd(&["PING", "hi"]), Reply::bulks(&["pong", "hi"]));
        // Arity is checked first, as in Redis.
        assert!(c.err(&["GET"]).starts_with("ERR wrong number of arguments"));
        let mut other = s.client();
        let list = other.cmd(&["CLIENT", "LIST"]).as_string();
        let line = list
            .lines()
            .find(|l| l.contains(" sub=1 "))
            .unwrap_or_else(|| panic!("no subscriber in {list}"));
        assert!(
            line.contains(" flags=P ") && line.contains(" psub=0 "),
            "{line}"
        );
        let info = other.cmd(&["INFO", "stats"]).as_string();
        assert!(info.contains("pubsub_channels:1\r\n"), "{info}");
        assert!(info.contains("pubsub_patterns:0\r\n"), "{info}");
        // RESET leaves the subscribed state and every channel.
        assert_eq!(c.cmd(&["RESET"]), Reply::status("RESET"));
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(other.int(&["PUBLISH", "ch", "x"]), 0);
        // CLIENT KILL TYPE pubsub closes subscribers only.
        subscribe(&mut c, "PSUBSCRIBE", &["*"]);
        assert_eq!(other.int(&["CLIENT", "KILL", "TYPE", "pubsub"]), 1);
        c.set_timeout(Duration::from_secs(5));
        assert!(c.try_read_reply().unwrap().is_none());
        assert_eq!(other.cmd(&["PING"]), Reply::status("PONG"));
    });
}

/// A write and then a PUBLISH from one connection: a subscriber that hears
/// the message finds the write done, whichever threads the key, the
/// publisher and the subscriber are on.
#[test]
fn a_message_never_overtakes_the_publishers_earlier_writes() {
    for_threads(|s| {
        let mut sub = s.client();
        subscribe(&mut sub, "SUBSCRIBE", &["jobs"]);
        let mut reader = s.client();
        let mut p = s.client();
        for i in 0..200 {
            let key = format!("job:{i}");
            let batch = [
                common::encode(&["RPUSH", &key, "payload"]),
                common::encode(&["PUBLISH", "jobs", &key]),
            ]
            .concat();
            p.send(&batch);
            let got = sub.read_reply();
            assert_eq!(got, message("jobs", &key));
            assert_eq!(reader.int(&["LLEN", &key]), 1, "{key}");
            assert_eq!(p.read_reply(), Reply::int(1));
            assert_eq!(p.read_reply(), Reply::int(1));
        }
        // A pipeline of messages arrives in the order published.
        let mut batch = Vec::new();
        for i in 0..2000 {
            batch.extend(common::encode(&["PUBLISH", "jobs", &i.to_string()]));
        }
        p.send(&batch);
        for i in 0..2000 {
            assert_eq!(sub.read_reply(), message("jobs", &i.to_string()));
        }
        for _ in 0..2000 {
            assert_eq!(p.read_reply(), Reply::int(1));
        }
    });
}

/// In RESP3 messages are pushes, any command may be sent while subscribed,
/// and a client that publishes to itself gets the message first.
#[test]
fn resp3_subscribers_get_pushes() {
    for_threads(|s| {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let expect = |c: &mut std::net::TcpStream, send: &[u8], want: &[u8]| {
            c.write_all(send).unwrap();
            let mut got = vec![0u8; want.len()];
            c.read_exact(&mut got).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "after {}",
                String::from_utf8_lossy(send)
            );
        };
        c.write_all(b"HELLO 3\r\n").unwrap();
        let mut hello = vec![0u8; 4096];
        let n = c.read(&mut hello).unwrap();
        assert!(hello[..n].starts_with(b"%"), "{:?}", &hello[..n]);
        expect(
            &mut c,
            b"SUBSCRIBE ch\r\n",
            b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
        );
        expect(&mut c, b"SET k v\r\n", b"+OK\r\n");
        expect(
            &mut c,
            b"PUBLISH ch hi\r\n",
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:1\r\n",
        );
        expect(&mut c, b"PING\r\n", b"+PONG\r\n");
        expect(
            &mut c,
            b"UNSUBSCRIBE\r\n",
            b">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n",
        );
        expect(
            &mut c,
            b"UNSUBSCRIBE\r\n",
            b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n",
        );
    });
}

/// A subscriber that stops reading is closed once 32 MB wait for it (Redis's
/// pub/sub output limit); the publisher and everyone else go on.
#[test]
fn a_subscriber_that_stops_reading_is_cut_off() {
    if common::skip_against_redis("Redis also enforces a soft limit over time") {
        return;
    }
    for_threads(|s| {
        let mut sub = s.client();
        subscribe(&mut sub, "SUBSCRIBE", &["flood"]);
        let mut p = s.client();
        let payload = "x".repeat(1 << 20);
        let mut closed = false;
        for _ in 0..200 {
            if p.int(&["PUBLISH", "flood", &payload]) == 0 {
                closed = true;
                break;
            }
        }
        assert!(closed, "the subscriber was never cut off");
        assert_eq!(
            p.cmd(&["PUBSUB", "NUMSUB", "flood"]).as_array()[1],
            Reply::int(0)
        );
        assert_eq!(p.cmd(&["PING"]), Reply::status("PONG"));
    });
}

/// The `redis` crate's pub/sub API, as an application uses it.
#[test]
fn redis_crate_pubsub() {
    for_threads(|s| {
        let mut conn = s.conn();
        let mut ps = conn.as_pubsub();
        ps.subscribe("orders").unwrap();
        ps.psubscribe("audit.*").unwrap();
        ps.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut publisher = s.conn();
        let n: i64 = redis::cmd("PUBLISH")
            .arg("orders")
            .arg("42")
            .query(&mut publisher)
            .unwrap();
        assert_eq!(n, 1);
        let n: i64 = redis::cmd("PUBLISH")
            .arg("audit.login")
            .arg("alice")
            .query(&mut publisher)
            .unwrap();
        assert_eq!(n, 1);
        let m = ps.get_message().unwrap();
        assert_eq!(m.get_channel_name(), "orders");
        assert_eq!(m.get_payload::<String>().unwrap(), "42");
        let m = ps.get_message().unwrap();
        assert_eq!(m.get_channel_name(), "audit.login");
        assert_eq!(m.get_pattern::<String>().unwrap(), "audit.*");
        assert_eq!(m.get_payload::<String>().unwrap(), "alice");
        ps.unsubscribe("orders").unwrap();
        ps.punsubscribe("audit.*").unwrap();
    });
}

/// Reads `n` keyspace notifications as `(channel, message)` pairs.
fn events(sub: &mut Client, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|_| {
            let m = sub.read_reply().as_strings();
            assert_eq!(m[0], "pmessage", "{m:?}");
            (m[2].clone(), m[3].clone())
        })
        .collect()
}

/// Keyspace notifications: each command's events, in the order the commands ran, on
/// both channels, whichever shards the keys live on (at four threads `src` and `dst`
/// are on different shards, so RENAME and SMOVE take the cross-shard paths).
#[test]
fn keyspace_notifications_follow_the_commands() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
        let mut sub = s.client();
        subscribe(&mut sub, "PSUBSCRIBE", &["__key*__:*"]);
        let script: &[&[&str]] = &[
            &["SET", "src", "1"],
            &["EXPIRE", "src", "100"],
            &["INCRBY", "src", "2"],
            &["RENAME", "src", "dst"],
            &["DEL", "dst", "nosuch"],
            &["RPUSH", "l", "a"],
            &["RPOP", "l"],
            &["SADD", "src", "m"],
            &["SMOVE", "src", "dst", "m"],
            &["HSET", "h", "f", "v"],
            &["HDEL", "h", "f"],
            &["ZADD", "z", "1", "m"],
            &["ZINCRBY", "z", "1", "m"],
        ];
        for cmd in script {
            c.cmd(cmd);
        }
        let want: &[(&str, &str)] = &[
            ("src", "set"),
            ("src", "expire"),
            ("src", "incrby"),
            ("src", "rename_from"),
            ("dst", "rename_to"),
            ("dst", "del"),
            ("l", "rpush"),
            ("l", "rpop"),
            ("l", "del"),
            ("src", "sadd"),
            ("src", "srem"),
            ("src", "del"),
            ("dst", "sadd"),
            ("h", "hset"),
            ("h", "hdel"),
            ("h", "del"),
            ("z", "zadd"),
            ("z", "zincr"),
        ];
        let mut expected = Vec::new();
        for (key, event) in want {
            expected.push((format!("__keyspace@0__:{key}"), event.to_string()));
            expected.push((format!("__keyevent@0__:{event}"), key.to_string()));
        }
        let got = events(&mut sub, expected.len());
        assert_eq!(got, expected);
        // Masked classes publish nothing; `n` (not in A) adds key creations.
        c.ok(&["CONFIG", "SET", "notify-keyspace-events", "Eln"]);
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
            Reply::bulks(&["notify-keyspace-events", "lnE"])
        );
        c.cmd(&["SET", "x", "1"]);
        c.cmd(&["SELECT", "3"]);
        c.cmd(&["LPUSH", "l3", "a"]);
        assert_eq!(
            events(&mut sub, 3),
            [
                ("__keyevent@0__:new".to_string(), "x".to_string()),
                ("__keyevent@3__:new".to_string(), "l3".to_string()),
                ("__keyevent@3__:lpush".to_string(), "l3".to_string()),
            ]
        );
        assert!(c
            .err(&["CONFIG", "SET", "notify-keyspace-events", "KQ"])
            .contains("Invalid event class character"));
        c.ok(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    });
}

/// A key that expires is announced once, whether a read finds it expired or the
/// background sweep removes it.
#[test]
fn expired_keys_are_announced() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
        let mut sub = s.client();
        subscribe(&mut sub, "SUBSCRIBE", &["__keyevent@0__:expired"]);
        c.ok(&["SET", "swept", "v", "PX", "30"]);
        c.ok(&["SET", "read", "v", "PX", "30"]);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.cmd(&["GET", "read"]), Reply::Nil);
        let mut got: Vec<String> = (0..2)
            .map(|_| sub.read_reply().as_strings()[2].clone())
            .collect();
        got.sort();
        assert_eq!(got, ["read", "swept"]);
        c.ok(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    });
}

fn smessage(channel: &str, payload: &str) -> Reply {
    Reply::bulks(&["smessage", channel, payload])
}

/// SSUBSCRIBE, SPUBLISH, SUNSUBSCRIBE and PUBSUB SHARDCHANNELS/SHARDNUMSUB
/// (outside cluster mode): subscribers on every thread, shard counts kept
/// apart from channel and pattern counts, and a namespace of their own.
#[test]
fn shard_channels_reach_their_subscribers_only() {
    for_threads(|s| {
        let mut subs: Vec<Client> = (0..8).map(|_| s.client()).collect();
        for sub in &mut subs {
            // Channels of different slots: one command, outside cluster mode.
            assert_eq!(subscribe(sub, "SSUBSCRIBE", &["orders", "audit"]), [1, 2]);
        }
        let mut p = s.client();
        assert_eq!(p.int(&["SPUBLISH", "orders", "o1"]), 8);
        assert_eq!(p.int(&["SPUBLISH", "audit", "a1"]), 8);
        assert_eq!(p.int(&["SPUBLISH", "nobody", "x"]), 0);
        // PUBLISH does not reach shard subscribers.
        assert_eq!(p.int(&["PUBLISH", "orders", "plain"]), 0);
        for sub in &mut subs {
            assert_eq!(sub.read_reply(), smessage("orders", "o1"));
            assert_eq!(sub.read_reply(), smessage("audit", "a1"));
        }
        assert_eq!(
            p.cmd(&["PUBSUB", "SHARDNUMSUB", "orders", "audit", "nobody"]),
            Reply::Array(vec![
                Reply::bulk("orders"),
                Reply::int(8),
                Reply::bulk("audit"),
                Reply::int(8),
                Reply::bulk("nobody"),
                Reply::int(0),
            ])
        );
        assert_eq!(p.cmd(&["PUBSUB", "SHARDNUMSUB"]), Reply::Array(vec![]));
        let mut chans = p.cmd(&["PUBSUB", "SHARDCHANNELS"]).as_strings();
        chans.sort();
        assert_eq!(chans, ["audit", "orders"]);
        assert_eq!(
            p.cmd(&["PUBSUB", "SHARDCHANNELS", "o*"]).as_strings(),
            ["orders"]
        );
        // Shard channels are not channels.
        assert_eq!(p.cmd(&["PUBSUB", "CHANNELS"]), Reply::Array(vec![]));
        assert_eq!(
            p.cmd(&["PUBSUB", "NUMSUB", "orders"]),
            Reply::Array(vec![Reply::bulk("orders"), Reply::int(0)])
        );

        // A channel and a pattern: counted apart from the shard channels,
        // and a pattern never matches a shard channel's message.
        let c = &mut subs[0];
        assert_eq!(subscribe(c, "SUBSCRIBE", &["orders"]), [1]);
        assert_eq!(subscribe(c, "PSUBSCRIBE", &["*"]), [2]);
        assert_eq!(subscribe(c, "SSUBSCRIBE", &["orders", "more"]), [2, 3]);
        assert_eq!(p.int(&["SPUBLISH", "orders", "o2"]), 8);
        assert_eq!(c.read_reply(), smessage("orders", "o2"));
        assert_eq!(p.int(&["PUBLISH", "orders", "plain"]), 2);
        assert_eq!(c.read_reply(), message("orders", "plain"));
        assert_eq!(
            c.read_reply(),
            Reply::bulks(&["pmessage", "*", "orders", "plain"])
        );
        c.send(&common::encode(&["SUNSUBSCRIBE", "more", "never"]));
        assert_eq!(c.read_reply(), confirm("sunsubscribe", "more", 2));
        assert_eq!(c.read_reply(), confirm("sunsubscribe", "never", 2));
        c.send(&common::encode(&["UNSUBSCRIBE"]));
        assert_eq!(c.read_reply(), confirm("unsubscribe", "orders", 1));
        c.send(&common::encode(&["PUNSUBSCRIBE"]));
        assert_eq!(c.read_reply(), confirm("punsubscribe", "*", 0));
        // Still subscribed: to shard channels.
        assert!(c.err(&["GET", "k"]).starts_with("ERR Can't execute 'get'"));
        // With no channel left, UNSUBSCRIBE says so with its own count.
        assert_eq!(
            c.cmd(&["UNSUBSCRIBE"]),
            Reply::Array(vec![Reply::bulk("unsubscribe"), Reply::Nil, Reply::int(0)])
        );
        // SUNSUBSCRIBE with no names: every shard channel, any order.
        c.send(&common::encode(&["SUNSUBSCRIBE"]));
        let mut left: Vec<(String, i64)> = (0..2)
            .map(|_| {
                let r = c.read_reply();
                let a = r.as_array();
                assert_eq!(a[0], Reply::bulk("sunsubscribe"), "{r:?}");
                (a[1].as_string(), a[2].as_int())
            })
            .collect();
        left.sort();
        assert!(
            left == [("audit".into(), 0), ("orders".into(), 1)]
                || left == [("audit".into(), 1), ("orders".into(), 0)],
            "{left:?}"
        );
        assert_eq!(
            c.cmd(&["SUNSUBSCRIBE"]),
            Reply::Array(vec![Reply::bulk("sunsubscribe"), Reply::Nil, Reply::int(0)])
        );
        // Out of the subscribed state.
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(p.int(&["SPUBLISH", "orders", "x"]), 7);

        // Closed subscribers are forgotten.
        drop(subs);
        wait_for(|| p.cmd(&["PUBSUB", "SHARDCHANNELS"]).as_array().is_empty());
        assert_eq!(p.int(&["SPUBLISH", "orders", "x"]), 0);
    });
}

/// The subscribed state with shard channels only: the RESP2 command
/// restrictions, CLIENT LIST's ssub= and flags=P, CLIENT KILL TYPE pubsub,
/// RESET; SSUBSCRIBE inside MULTI, SPUBLISH inside it, and arity.
#[test]
fn shard_subscriptions_and_the_subscribed_state() {
    for_threads(|s| {
        let mut c = s.client();
        let mut other = s.client();
        assert!(c
            .err(&["SSUBSCRIBE"])
            .starts_with("ERR wrong number of arguments for 'ssubscribe'"));
        assert!(c
            .err(&["SPUBLISH", "ch"])
            .starts_with("ERR wrong number of arguments for 'spublish'"));
        // Before any subscription.
        assert_eq!(
            c.cmd(&["SUNSUBSCRIBE"]),
            Reply::Array(vec![Reply::bulk("sunsubscribe"), Reply::Nil, Reply::int(0)])
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(subscribe(&mut c, "SSUBSCRIBE", &["a", "b", "a"]), [1, 2, 2]);
        assert_eq!(
            c.err(&["GET", "k"]),
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        );
        assert_eq!(
            c.err(&["SPUBLISH", "a", "x"]),
            "ERR Can't execute 'spublish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        );
        assert_eq!(
            c.err(&["PUBSUB", "SHARDNUMSUB", "a"]),
            "ERR Can't execute 'pubsub|shardnumsub': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        );
        assert_eq!(c.cmd(&["PING"]), Reply::bulks(&["pong", ""]));
        let list = other.cmd(&["CLIENT", "LIST"]).as_string();
        let line = list
            .lines()
            .find(|l| l.contains(" ssub=2 "))
            .unwrap_or_else(|| panic!("no shard subscriber in {list}"));
        assert!(
            line.contains(" flags=P ") && line.contains(" sub=0 psub=0 "),
            "{line}"
        );
        // RESET leaves the subscribed state and every shard channel.
        assert_eq!(c.cmd(&["RESET"]), Reply::status("RESET"));
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(other.int(&["SPUBLISH", "a", "x"]), 0);
        assert_eq!(
            other.cmd(&["PUBSUB", "SHARDNUMSUB", "a"]),
            Reply::Array(vec![Reply::bulk("a"), Reply::int(0)])
        );

        // Inside EXEC: SSUBSCRIBE is refused, SPUBLISH runs.
        assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
        assert_eq!(c.cmd(&["SSUBSCRIBE", "a"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["SPUBLISH", "a", "x"]), Reply::status("QUEUED"));
        assert_eq!(
            c.cmd(&["EXEC"]),
            Reply::Array(vec![
                Reply::err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client"),
                Reply::int(0),
            ])
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::Nil);

        // CLIENT KILL TYPE pubsub closes shard subscribers too.
        subscribe(&mut c, "SSUBSCRIBE", &["a"]);
        assert_eq!(other.int(&["CLIENT", "KILL", "TYPE", "pubsub"]), 1);
        c.set_timeout(Duration::from_secs(5));
        assert!(c.try_read_reply().unwrap().is_none());
        assert_eq!(other.cmd(&["PING"]), Reply::status("PONG"));
    });
}

/// RESP3: ssubscribe/sunsubscribe confirmations and smessage as pushes;
/// a subscriber hears its own SPUBLISH before the reply.
#[test]
fn resp3_shard_subscribers_get_pushes() {
    for_threads(|s| {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let expect = |c: &mut std::net::TcpStream, send: &[u8], want: &[u8]| {
            c.write_all(send).unwrap();
            let mut got = vec![0u8; want.len()];
            c.read_exact(&mut got).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(want),
                "after {}",
                String::from_utf8_lossy(send)
            );
        };
        c.write_all(b"HELLO 3\r\n").unwrap();
        let mut hello = vec![0u8; 4096];
        let n = c.read(&mut hello).unwrap();
        assert!(hello[..n].starts_with(b"%"), "{:?}", &hello[..n]);
        expect(
            &mut c,
            b"SSUBSCRIBE ch\r\n",
            b">3\r\n$10\r\nssubscribe\r\n$2\r\nch\r\n:1\r\n",
        );
        expect(&mut c, b"SET k v\r\n", b"+OK\r\n");
        expect(
            &mut c,
            b"SPUBLISH ch hi\r\n",
            b">3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:1\r\n",
        );
        expect(&mut c, b"PUBLISH ch hi\r\n", b":0\r\n");
        expect(
            &mut c,
            b"SUNSUBSCRIBE\r\n",
            b">3\r\n$12\r\nsunsubscribe\r\n$2\r\nch\r\n:0\r\n",
        );
        expect(
            &mut c,
            b"SUNSUBSCRIBE\r\n",
            b">3\r\n$12\r\nsunsubscribe\r\n_\r\n:0\r\n",
        );
        // CLIENT REPLY OFF does not silence confirmations.
        expect(&mut c, b"CLIENT REPLY OFF\r\n", b"");
        expect(
            &mut c,
            b"SSUBSCRIBE x\r\n",
            b">3\r\n$10\r\nssubscribe\r\n$1\r\nx\r\n:1\r\n",
        );
        expect(&mut c, b"CLIENT REPLY ON\r\n", b"+OK\r\n");
    });
}

/// ACL: shard channels are channels (`&pattern`), not keys.
#[test]
fn shard_channels_follow_channel_permissions() {
    for_threads(|s| {
        let mut admin = s.client();
        assert_eq!(
            admin.cmd(&[
                "ACL",
                "SETUSER",
                "u",
                "on",
                "nopass",
                "resetchannels",
                "&allowed*",
                "resetkeys",
                "-@all",
                "+spublish",
                "+ssubscribe",
                "+sunsubscribe",
            ]),
            Reply::ok()
        );
        let mut c = s.client();
        assert_eq!(c.cmd(&["AUTH", "u", "x"]), Reply::ok());
        let denied =
            "NOPERM this user has no permissions to access one of the channels used as arguments";
        assert_eq!(c.err(&["SPUBLISH", "nope", "x"]), denied);
        assert_eq!(c.int(&["SPUBLISH", "allowed1", "x"]), 0);
        assert_eq!(c.err(&["SSUBSCRIBE", "allowed1", "nope"]), denied);
        assert_eq!(subscribe(&mut c, "SSUBSCRIBE", &["allowed1"]), [1]);
        // Leaving a channel is never refused.
        c.send(&common::encode(&["SUNSUBSCRIBE", "nope"]));
        assert_eq!(c.read_reply(), confirm("sunsubscribe", "nope", 1));
        assert_eq!(
            admin.cmd(&["ACL", "DRYRUN", "u", "SPUBLISH", "nope", "x"]),
            Reply::bulk("This user has no permissions to access the 'nope' channel")
        );
        assert_eq!(
            admin.cmd(&["ACL", "DRYRUN", "u", "SPUBLISH", "allowed", "x"]),
            Reply::ok()
        );
        let log = admin.cmd(&["ACL", "LOG", "1"]);
        let entry = log.as_array()[0].as_array();
        assert_eq!(entry[3], Reply::bulk("channel"), "{log:?}");
        assert_eq!(entry[7], Reply::bulk("nope"), "{log:?}");
        // No key patterns at all: shard channels are not keys.
        assert_eq!(
            admin.cmd(&[
                "ACL",
                "SETUSER",
                "k",
                "on",
                "nopass",
                "allchannels",
                "resetkeys",
                "+@all"
            ]),
            Reply::ok()
        );
        let mut k = s.client();
        assert_eq!(k.cmd(&["AUTH", "k", "x"]), Reply::ok());
        assert_eq!(k.int(&["SPUBLISH", "anything", "x"]), 0);
    });
}

/// The command table's rows for sharded pub/sub, as Redis 7.0's COMMAND
/// shows them: the shard channel where a key would be, but not a key.
#[test]
fn shard_commands_in_the_command_table() {
    for_threads(|s| {
        let mut c = s.client();
        let info = c.cmd(&["COMMAND", "INFO", "spublish", "ssubscribe", "sunsubscribe"]);
        let rows = info.as_array();
        let row = |i: usize| rows[i].as_array().to_vec();
        let flags = |r: &[Reply]| -> Vec<String> {
            r[2].as_array()
                .iter()
                .map(|f| match f {
                    Reply::Status(s) => s.clone(),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let spublish = row(0);
        assert_eq!(spublish[0], Reply::bulk("spublish"));
        assert_eq!(spublish[1], Reply::int(3));
        assert_eq!(flags(&spublish), ["pubsub", "loading", "stale", "fast"]);
        assert_eq!(
            spublish[3..6],
            [Reply::int(1), Reply::int(1), Reply::int(1)]
        );
        assert_eq!(
            spublish[6],
            Reply::Array(vec![Reply::status("@pubsub"), Reply::status("@fast")])
        );
        for (i, name, arity) in [(1, "ssubscribe", -2), (2, "sunsubscribe", -1)] {
            let r = row(i);
            assert_eq!(r[0], Reply::bulk(name));
            assert_eq!(r[1], Reply::int(arity));
            assert_eq!(flags(&r), ["pubsub", "noscript", "loading", "stale"]);
            assert_eq!(r[3..6], [Reply::int(1), Reply::int(-1), Reply::int(1)]);
            assert_eq!(
                r[6],
                Reply::Array(vec![Reply::status("@pubsub"), Reply::status("@slow")])
            );
        }
        for cmd in [
            &["COMMAND", "GETKEYS", "SPUBLISH", "a", "b"][..],
            &["COMMAND", "GETKEYS", "SSUBSCRIBE", "a", "b"],
            &["COMMAND", "GETKEYSANDFLAGS", "SUNSUBSCRIBE", "a"],
        ] {
            assert_eq!(
                c.err(cmd),
                "ERR The command has no key arguments",
                "{cmd:?}"
            );
        }
        let list = c.cmd(&["COMMAND", "LIST"]).as_strings();
        for name in ["spublish", "ssubscribe", "sunsubscribe"] {
            assert!(list.iter().any(|n| n == name), "{name} in {list:?}");
        }
    });
}
