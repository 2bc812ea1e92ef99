//! Streams against the real server: the commands' replies and errors as
//! Redis 7.0 gives them, consumer groups and their PELs, blocking reads
//! woken across shards (`--threads 4`), the type's place among the others
//! (TYPE, OBJECT ENCODING, SCAN TYPE, MEMORY USAGE, WRONGTYPE, keyspace
//! events), what is propagated to the AOF, SAVE and restart, and RDB files
//! and DUMP payloads exchanged with a real `redis-server` both ways.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    eventually, for_threads, info_field, keys_as_text, scratch_dir, skip_against_redis, Client,
    RealRedis, Reply, Server,
};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulk(s: &str) -> Reply {
    Reply::bulk(s)
}

/// `[id, [field, value, ...]]`
fn entry(id: &str, fields: &[&str]) -> Reply {
    Reply::Array(vec![bulk(id), Reply::bulks(fields)])
}

fn blocked(s: &Server) -> i64 {
    let info = s.client().cmd(&["INFO", "clients"]).as_string();
    info_field(&info, "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn wait_blocked(s: &Server, n: i64) {
    assert!(
        eventually(Duration::from_secs(5), || blocked(s) == n),
        "expected {n} blocked clients, saw {}",
        blocked(s)
    );
}

/// A field of an XINFO reply (name/value pairs).
fn field<'a>(info: &'a Reply, name: &str) -> &'a Reply {
    let items = info.as_array();
    let at = items
        .chunks(2)
        .position(|p| p[0].as_string() == name)
        .unwrap_or_else(|| panic!("no {name} in {info:?}"));
    &items[at * 2 + 1]
}

#[test]
fn add_range_delete_and_their_errors() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["XADD", "s", "1-1", "a", "1"]), bulk("1-1"));
        assert_eq!(c.cmd(&["XADD", "s", "1-*", "b", "2"]), bulk("1-2"));
        assert_eq!(c.cmd(&["XADD", "s", "5", "c", "3", "d", "4"]), bulk("5-0"));
        let auto = c.cmd(&["XADD", "s", "*", "e", "5"]).as_string();
        let ms: u64 = auto.split('-').next().unwrap().parse().unwrap();
        assert!(ms > 1_600_000_000_000, "{auto}");
        assert_eq!(c.int(&["XLEN", "s"]), 4);
        assert_eq!(c.int(&["XLEN", "nosuch"]), 0);
        for (cmd, err) in [
            (
                &["XADD", "s", "1-1", "x", "y"][..],
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ),
            (
                &["XADD", "t", "0-0", "x", "y"],
                "ERR The ID specified in XADD must be greater than 0-0",
            ),
            (
                &["XADD", "s", "abc", "x", "y"],
                "ERR Invalid stream ID specified as stream command argument",
            ),
            (
                &["XADD", "s", "*", "x"],
                "ERR wrong number of arguments for 'xadd' command",
            ),
            (
                &["XADD", "s", "MAXLEN", "-1", "*", "x", "y"],
                "ERR The MAXLEN argument must be >= 0.",
            ),
            (
                &["XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "x", "y"],
                "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
            ),
            (
                &["XADD", "s", "MAXLEN", "5", "LIMIT", "5", "*", "x", "y"],
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
            (
                &["XADD", "s", "LIMIT", "5", "*", "x", "y"],
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ),
            (
                &["XRANGE", "s", "-", "(0-0"],
                "ERR invalid end ID for the interval",
            ),
            (&["XRANGE", "s", "-", "+", "foo"], "ERR syntax error"),
            (
                &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "10"],
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
        ] {
            assert_eq!(c.err(cmd), err, "{cmd:?}");
        }
        assert_eq!(c.int(&["EXISTS", "t"]), 0);
        assert_eq!(
            c.cmd(&["XADD", "t", "NOMKSTREAM", "*", "x", "y"]),
            Reply::Nil
        );
        assert_eq!(c.int(&["EXISTS", "t"]), 0);

        assert_eq!(
            c.cmd(&["XRANGE", "s", "-", "5"]),
            Reply::Array(vec![
                entry("1-1", &["a", "1"]),
                entry("1-2", &["b", "2"]),
                entry("5-0", &["c", "3", "d", "4"]),
            ])
        );
        assert_eq!(
            c.cmd(&["XRANGE", "s", "(1-1", "(5-0"]),
            Reply::Array(vec![entry("1-2", &["b", "2"])])
        );
        assert_eq!(
            c.cmd(&["XREVRANGE", "s", "5", "-", "COUNT", "1"]),
            Reply::Array(vec![entry("5-0", &["c", "3", "d", "4"])])
        );
        assert_eq!(
            c.cmd(&["XRANGE", "s", "-", "+", "COUNT", "0"]),
            Reply::NilArray
        );
        assert_eq!(c.cmd(&["XRANGE", "nosuch", "-", "+"]), Reply::Array(vec![]));

        assert_eq!(c.int(&["XDEL", "s", "1-2", "9-9"]), 1);
        assert_eq!(c.int(&["XDEL", "s", "1-2"]), 0);
        assert_eq!(c.int(&["XLEN", "s"]), 3);
        let info = c.cmd(&["XINFO", "STREAM", "s"]);
        assert_eq!(field(&info, "max-deleted-entry-id"), &bulk("1-2"));
        assert_eq!(field(&info, "entries-added"), &Reply::int(4));
        assert_eq!(field(&info, "recorded-first-entry-id"), &bulk("1-1"));
        assert_eq!(field(&info, "first-entry"), &entry("1-1", &["a", "1"]));

        // XSETID and its checks.
        assert_eq!(
            c.err(&["XSETID", "s", "1-1"]),
            "ERR The ID specified in XSETID is smaller than the target stream top item"
        );
        assert_eq!(c.err(&["XSETID", "nosuch", "1-1"]), "ERR no such key");
        let last = format!("{ms}-99");
        c.ok(&[
            "XSETID",
            "s",
            &last,
            "ENTRIESADDED",
            "10",
            "MAXDELETEDID",
            "5-5",
        ]);
        let info = c.cmd(&["XINFO", "STREAM", "s"]);
        assert_eq!(
            field(&info, "last-generated-id"),
            &bulk(&format!("{ms}-99"))
        );
        assert_eq!(field(&info, "entries-added"), &Reply::int(10));

        c.ok(&["SET", "str", "v"]);
        for cmd in [
            &["XADD", "str", "*", "a", "1"][..],
            &["XLEN", "str"],
            &["XRANGE", "str", "-", "+"],
            &["XDEL", "str", "1-1"],
            &["XTRIM", "str", "MAXLEN", "1"],
            &["XREAD", "STREAMS", "str", "0"],
            &["XINFO", "STREAM", "str"],
            &["XGROUP", "CREATE", "str", "g", "$"],
        ] {
            assert_eq!(c.err(cmd), WRONGTYPE, "{cmd:?}");
        }
        assert_eq!(c.err(&["GET", "s"]), WRONGTYPE);
        assert_eq!(c.err(&["LPUSH", "s", "x"]), WRONGTYPE);
    });
}

#[test]
fn trimming_exact_and_approximate() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "stream-node-max-entries", "10"]);
        for i in 1..=35 {
            c.cmd(&["XADD", "s", &format!("{i}-0"), "f", "v"]);
        }
        // `~` removes whole nodes only: three of ten go, 5 remain.
        assert_eq!(c.int(&["XTRIM", "s", "MAXLEN", "~", "3"]), 30);
        assert_eq!(c.int(&["XLEN", "s"]), 5);
        assert_eq!(c.int(&["XTRIM", "s", "MAXLEN", "=", "3"]), 2);
        assert_eq!(c.cmd(&["XRANGE", "s", "-", "+"]).as_array().len(), 3,);
        assert_eq!(c.int(&["XTRIM", "s", "MINID", "35"]), 2);
        // LIMIT caps what `~` removes, a node at a time.
        c.int(&["DEL", "s"]);
        for i in 1..=35 {
            c.cmd(&["XADD", "s", &format!("{i}-0"), "f", "v"]);
        }
        assert_eq!(
            c.int(&["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", "15"]),
            10
        );
        // XADD trims after adding.
        c.cmd(&["XADD", "s", "MAXLEN", "~", "20", "36-0", "f", "v"]);
        assert_eq!(c.int(&["XLEN", "s"]), 26);
        c.cmd(&["XADD", "s", "MAXLEN", "2", "37-0", "f", "v"]);
        assert_eq!(
            c.cmd(&["XRANGE", "s", "-", "+"]),
            Reply::Array(vec![entry("36-0", &["f", "v"]), entry("37-0", &["f", "v"])])
        );
        c.ok(&["CONFIG", "SET", "stream-node-max-entries", "100"]);
    });
}

#[test]
fn consumer_groups_deliver_acknowledge_and_claim() {
    for_threads(|s| {
        let mut c = s.client();
        for i in 1..=4 {
            c.cmd(&["XADD", "s", &format!("{i}-0"), "f", &i.to_string()]);
        }
        c.ok(&["XGROUP", "CREATE", "s", "g", "0"]);
        assert_eq!(
            c.err(&["XGROUP", "CREATE", "s", "g", "0"]),
            "BUSYGROUP Consumer Group name already exists"
        );
        assert_eq!(
            c.err(&["XGROUP", "CREATE", "nosuch", "g", "$"]),
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
        );
        c.ok(&["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"]);
        assert_eq!(c.int(&["XLEN", "empty"]), 0);
        assert_eq!(
            c.err(&["XREADGROUP", "GROUP", "nog", "a", "STREAMS", "s", ">"]),
            "NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"
        );
        assert_eq!(
            c.cmd(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "alice",
                "COUNT",
                "2",
                "STREAMS",
                "s",
                ">"
            ]),
            Reply::Array(vec![Reply::Array(vec![
                bulk("s"),
                Reply::Array(vec![entry("1-0", &["f", "1"]), entry("2-0", &["f", "2"])])
            ])])
        );
        assert_eq!(
            c.cmd(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "bob",
                "COUNT",
                "1",
                "STREAMS",
                "s",
                ">"
            ]),
            Reply::Array(vec![Reply::Array(vec![
                bulk("s"),
                Reply::Array(vec![entry("3-0", &["f", "3"])])
            ])])
        );
        // History: what alice holds, above the ID given.
        assert_eq!(
            c.cmd(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "1-0"]),
            Reply::Array(vec![Reply::Array(vec![
                bulk("s"),
                Reply::Array(vec![entry("2-0", &["f", "2"])])
            ])])
        );
        let summary = c.cmd(&["XPENDING", "s", "g"]);
        assert_eq!(summary.as_array()[0], Reply::int(3));
        assert_eq!(summary.as_array()[1], bulk("1-0"));
        assert_eq!(summary.as_array()[2], bulk("3-0"));
        assert_eq!(
            summary.as_array()[3],
            Reply::Array(vec![
                Reply::bulks(&["alice", "2"]),
                Reply::bulks(&["bob", "1"])
            ])
        );
        let ext = c.cmd(&["XPENDING", "s", "g", "-", "+", "10", "alice"]);
        assert_eq!(ext.as_array().len(), 2);
        // 2-0 was delivered twice (the history read counts).
        assert_eq!(ext.as_array()[1].as_array()[3], Reply::int(2));
        assert_eq!(c.int(&["XACK", "s", "g", "1-0", "1-0", "9-0"]), 1);
        // XCLAIM moves an entry; a deleted one leaves the PEL instead.
        assert_eq!(
            c.cmd(&["XCLAIM", "s", "g", "carol", "0", "2-0", "JUSTID"]),
            Reply::Array(vec![bulk("2-0")])
        );
        assert_eq!(c.int(&["XDEL", "s", "3-0"]), 1);
        assert_eq!(
            c.cmd(&["XCLAIM", "s", "g", "carol", "0", "3-0"]),
            Reply::Array(vec![])
        );
        assert_eq!(c.cmd(&["XPENDING", "s", "g"]).as_array()[0], Reply::int(1));
        // XAUTOCLAIM walks the PEL with a cursor and lists deleted IDs.
        c.cmd(&["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "s", ">"]);
        c.int(&["XDEL", "s", "4-0"]);
        let r = c.cmd(&["XAUTOCLAIM", "s", "g", "dave", "0", "0"]);
        assert_eq!(
            r,
            Reply::Array(vec![
                bulk("0-0"),
                Reply::Array(vec![entry("2-0", &["f", "2"])]),
                Reply::Array(vec![bulk("4-0")])
            ])
        );
        assert_eq!(
            c.err(&["XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "0"]),
            "ERR COUNT must be > 0"
        );
        // XINFO GROUPS and CONSUMERS, with 7.0's entries-read and lag.
        let groups = c.cmd(&["XINFO", "GROUPS", "s"]);
        let g = &groups.as_array()[0];
        assert_eq!(field(g, "name"), &bulk("g"));
        assert_eq!(field(g, "last-delivered-id"), &bulk("4-0"));
        assert_eq!(field(g, "entries-read"), &Reply::int(4));
        assert_eq!(field(g, "lag"), &Reply::int(0));
        assert_eq!(field(g, "pending"), &Reply::int(1));
        let consumers = c.cmd(&["XINFO", "CONSUMERS", "s", "g"]);
        let names: Vec<String> = consumers
            .as_array()
            .iter()
            .map(|x| field(x, "name").as_string())
            .collect();
        assert_eq!(names, ["alice", "bob", "carol", "dave"]);
        assert_eq!(c.int(&["XGROUP", "CREATECONSUMER", "s", "g", "erin"]), 1);
        assert_eq!(c.int(&["XGROUP", "CREATECONSUMER", "s", "g", "erin"]), 0);
        assert_eq!(c.int(&["XGROUP", "DELCONSUMER", "s", "g", "dave"]), 1);
        assert_eq!(c.cmd(&["XPENDING", "s", "g"]).as_array()[0], Reply::int(0));
        c.ok(&["XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD", "0"]);
        assert_eq!(
            c.cmd(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "erin",
                "NOACK",
                "STREAMS",
                "s",
                ">"
            ])
            .as_array()[0]
                .as_array()[1]
                .as_array()
                .len(),
            2
        );
        assert_eq!(c.cmd(&["XPENDING", "s", "g"]).as_array()[0], Reply::int(0));
        assert_eq!(c.int(&["XGROUP", "DESTROY", "s", "g"]), 1);
        assert_eq!(c.int(&["XGROUP", "DESTROY", "s", "g"]), 0);
    });
}

#[test]
fn blocked_readers_wake_across_shards() {
    for_threads(|s| {
        let port = s.port;
        let mut c = s.client();
        c.cmd(&["XADD", "a", "1-0", "f", "v"]);
        // `$` waits for what comes after now, on keys of several shards.
        let h = thread::spawn(move || {
            Client::connect(port).cmd(&[
                "XREAD", "BLOCK", "0", "STREAMS", "a", "b", "c", "$", "$", "$",
            ])
        });
        wait_blocked(s, 1);
        c.cmd(&["XADD", "c", "7-0", "x", "y"]);
        assert_eq!(
            h.join().unwrap(),
            Reply::Array(vec![Reply::Array(vec![
                bulk("c"),
                Reply::Array(vec![entry("7-0", &["x", "y"])])
            ])])
        );
        // A timeout answers a null array.
        let t = Instant::now();
        assert_eq!(
            c.cmd(&["XREAD", "BLOCK", "150", "STREAMS", "a", "$"]),
            Reply::NilArray
        );
        assert!(t.elapsed() >= Duration::from_millis(140));
        // Group readers: each new entry goes to one of them.
        c.ok(&["XGROUP", "CREATE", "a", "g", "$"]);
        let readers: Vec<_> = ["r1", "r2"]
            .into_iter()
            .map(|name| {
                thread::spawn(move || {
                    Client::connect(port).cmd(&[
                        "XREADGROUP",
                        "GROUP",
                        "g",
                        name,
                        "BLOCK",
                        "0",
                        "STREAMS",
                        "a",
                        ">",
                    ])
                })
            })
            .collect();
        wait_blocked(s, 2);
        c.cmd(&["XADD", "a", "2-0", "n", "1"]);
        c.cmd(&["XADD", "a", "3-0", "n", "2"]);
        let mut got: Vec<String> = readers
            .into_iter()
            .map(|h| {
                h.join().unwrap().as_array()[0].as_array()[1].as_array()[0].as_array()[0]
                    .as_string()
            })
            .collect();
        got.sort();
        assert_eq!(got, ["2-0", "3-0"]);
        assert_eq!(c.cmd(&["XPENDING", "a", "g"]).as_array()[0], Reply::int(2));
        // The key going away ends a group reader's wait with an error; a
        // destroyed group likewise.
        let h = thread::spawn(move || {
            Client::connect(port).cmd(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "r",
                "BLOCK",
                "0",
                "STREAMS",
                "a",
                ">",
            ])
        });
        wait_blocked(s, 1);
        c.int(&["DEL", "a"]);
        assert_eq!(
            h.join().unwrap(),
            Reply::err("UNBLOCKED the stream key no longer exists")
        );
        c.ok(&["XGROUP", "CREATE", "a", "g", "$", "MKSTREAM"]);
        let h = thread::spawn(move || {
            Client::connect(port).cmd(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "r",
                "BLOCK",
                "0",
                "STREAMS",
                "a",
                ">",
            ])
        });
        wait_blocked(s, 1);
        c.int(&["XGROUP", "DESTROY", "a", "g"]);
        assert_eq!(
            h.join().unwrap(),
            Reply::err("NOGROUP the consumer group this client was blocked on no longer exists")
        );
        // CLIENT UNBLOCK ends a wait like a timeout.
        let mut r = s.client();
        let id = r.int(&["CLIENT", "ID"]);
        r.send(&common::encode(&[
            "XREAD", "BLOCK", "0", "STREAMS", "zz", "$",
        ]));
        wait_blocked(s, 1);
        assert_eq!(c.int(&["CLIENT", "UNBLOCK", &id.to_string()]), 1);
        assert_eq!(r.read_reply(), Reply::NilArray);
        // Inside MULTI nothing blocks.
        c.ok(&["MULTI"]);
        c.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "zz", "$"]);
        assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::NilArray]));
    });
}

#[test]
fn the_type_among_the_others() {
    for_threads(|s| {
        let mut c = s.client();
        c.cmd(&["XADD", "s", "1-0", "f", "v"]);
        c.ok(&["SET", "str", "x"]);
        assert_eq!(c.cmd(&["TYPE", "s"]), Reply::status("stream"));
        assert_eq!(c.cmd(&["OBJECT", "ENCODING", "s"]), bulk("stream"));
        let scan = c.cmd(&["SCAN", "0", "TYPE", "stream", "COUNT", "1000"]);
        assert_eq!(scan.as_array()[1].as_strings(), ["s"]);
        assert!(c.int(&["MEMORY", "USAGE", "s"]) > 64);
        // COPY and RENAME carry groups along.
        c.ok(&["XGROUP", "CREATE", "s", "g", "0"]);
        assert_eq!(c.int(&["COPY", "s", "s2"]), 1);
        c.ok(&["RENAME", "s2", "s3"]);
        assert_eq!(c.cmd(&["XINFO", "GROUPS", "s3"]).as_array().len(), 1);
        assert_eq!(
            c.cmd(&["COMMAND", "GETKEYS", "XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"]),
            Reply::bulks(&["a", "b"])
        );
        let info = c.cmd(&["COMMAND", "INFO", "XADD"]);
        let cats = &info.as_array()[0].as_array()[6];
        assert!(
            cats.as_array().contains(&Reply::status("@stream")),
            "{cats:?}"
        );
    });
}

#[test]
fn keyspace_events_of_streams() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "notify-keyspace-events", "Et"]);
        let mut sub = s.client();
        sub.cmd(&["SUBSCRIBE", "__keyevent@0__:xadd"]);
        sub.send(&common::encode(&["PSUBSCRIBE", "__keyevent@0__:x*"]));
        sub.read_reply();
        c.ok(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        c.cmd(&["XADD", "s", "MAXLEN", "0", "1-0", "f", "v"]);
        c.cmd(&["XADD", "s", "2-0", "f", "v"]);
        c.int(&["XDEL", "s", "2-0"]);
        c.ok(&["XSETID", "s", "5-0"]);
        c.int(&["XGROUP", "CREATECONSUMER", "s", "g", "c"]);
        c.ok(&["XGROUP", "SETID", "s", "g", "0"]);
        c.int(&["XGROUP", "DELCONSUMER", "s", "g", "c"]);
        c.int(&["XGROUP", "DESTROY", "s", "g"]);
        let mut events = Vec::new();
        while events.len() < 10 {
            let r = sub.read_reply();
            let items = r.as_array();
            if items[0].as_string() == "pmessage" {
                events.push(
                    items[2]
                        .as_string()
                        .trim_start_matches("__keyevent@0__:")
                        .to_string(),
                );
            }
        }
        assert_eq!(
            events,
            [
                "xgroup-create",
                "xadd",
                "xtrim",
                "xadd",
                "xdel",
                "xsetid",
                "xgroup-createconsumer",
                "xgroup-setid",
                "xgroup-delconsumer",
                "xgroup-destroy"
            ]
        );
        c.ok(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    });
}

/// Streams, with groups and pending entries, to compare across saves.
fn populate(c: &mut Client) {
    c.ok(&["CONFIG", "SET", "stream-node-max-entries", "4"]);
    for i in 1..=11 {
        c.cmd(&[
            "XADD",
            "st",
            &format!("{i}-{i}"),
            "f",
            &i.to_string(),
            "g",
            "x",
        ]);
    }
    c.cmd(&["XADD", "st", "12-0", "other", "123456789012"]);
    c.int(&["XDEL", "st", "3-3", "4-4", "5-5", "6-6"]);
    c.ok(&["XGROUP", "CREATE", "st", "g1", "0"]);
    c.ok(&["XGROUP", "CREATE", "st", "g2", "$", "ENTRIESREAD", "12"]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        "st",
        ">",
    ]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "NOACK",
        "COUNT",
        "1",
        "STREAMS",
        "st",
        ">",
    ]);
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "carol",
        "COUNT",
        "2",
        "STREAMS",
        "st",
        ">",
    ]);
    c.int(&["XGROUP", "CREATECONSUMER", "st", "g2", "idle"]);
    c.ok(&["XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM"]);
    c.cmd(&["XADD", "gone", "1-0", "a", "b"]);
    c.int(&["XDEL", "gone", "1-0"]);
    c.ok(&["CONFIG", "SET", "stream-node-max-entries", "100"]);
}

#[test]
fn save_and_restart_keep_streams() {
    if skip_against_redis("restarts Tessera") {
        return;
    }
    let dir = scratch_dir("streams-save");
    let conf = format!("dir {}\nsave \"\"\n", dir.display());
    let before = {
        let s = Server::start_with(4, &[], Some(&conf));
        let mut c = s.client();
        populate(&mut c);
        c.ok(&["SAVE"]);
        keys_as_text(&mut c, &["0"])
    };
    assert!(before.iter().any(|k| k.contains("alice")), "{before:?}");
    let s = Server::start_with(2, &[], Some(&conf));
    let mut c = s.client();
    assert_eq!(keys_as_text(&mut c, &["0"]), before);
    // It goes on from where it was.
    assert_eq!(
        c.err(&["XADD", "st", "12-0", "a", "b"]),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(c.cmd(&["XADD", "st", "13-*", "a", "b"]), bulk("13-0"));
}

#[test]
fn redis_and_tessera_read_each_others_files_and_payloads() {
    if skip_against_redis("compares Tessera with redis-server") {
        return;
    }
    let dir = scratch_dir("streams-interop");
    let conf = format!("dir {}\nsave \"\"\n", dir.display());
    let s = Server::start_with(4, &[], Some(&conf));
    let mut c = s.client();
    populate(&mut c);
    let before = keys_as_text(&mut c, &["0"]);
    let digest = c.cmd(&["DEBUG", "DIGEST-VALUE", "st"]);
    c.ok(&["SAVE"]);
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
    let redis = RealRedis::start(&[
        "--dir",
        &dir_arg,
        "--dbfilename",
        "dump.rdb",
        "--enable-debug-command",
        "yes",
    ]);
    let mut r = redis.client();
    assert_eq!(
        keys_as_text(&mut r, &["0"]),
        before,
        "redis-server read Tessera's file"
    );
    assert_eq!(r.cmd(&["DEBUG", "DIGEST-VALUE", "st"]), digest);

    // DUMP payloads both ways.
    let payload = c.cmd(&["DUMP", "st"]).as_bytes().to_vec();
    let args: Vec<Vec<u8>> = vec![
        b"RESTORE".to_vec(),
        b"from-tessera".to_vec(),
        b"0".to_vec(),
        payload,
    ];
    assert_eq!(r.cmd(&args), Reply::ok());
    assert_eq!(
        r.cmd(&["XINFO", "STREAM", "from-tessera", "FULL"]),
        r.cmd(&["XINFO", "STREAM", "st", "FULL"])
    );
    let payload = r.cmd(&["DUMP", "st"]).as_bytes().to_vec();
    let args: Vec<Vec<u8>> = vec![
        b"RESTORE".to_vec(),
        b"from-redis".to_vec(),
        b"0".to_vec(),
        payload,
    ];
    assert_eq!(c.cmd(&args), Reply::ok());
    assert_eq!(
        c.cmd(&["XRANGE", "from-redis", "-", "+"]),
        c.cmd(&["XRANGE", "st", "-", "+"])
    );
    assert_eq!(
        c.cmd(&["XINFO", "GROUPS", "from-redis"]),
        c.cmd(&["XINFO", "GROUPS", "st"])
    );

    // Redis writes its own file; Tessera reads it.
    r.int(&["DEL", "from-tessera"]);
    r.cmd(&["XADD", "st", "99-0", "by", "redis"]);
    r.ok(&["SAVE"]);
    let after = keys_as_text(&mut r, &["0"]);
    drop(redis);
    drop(s);
    let s = Server::start_with(3, &[], Some(&conf));
    let mut c = s.client();
    assert_eq!(
        keys_as_text(&mut c, &["0"]),
        after,
        "Tessera read redis-server's file"
    );
    fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_aof_holds_what_redis_would_propagate() {
    if skip_against_redis("reads Tessera's AOF") {
        return;
    }
    let dir = scratch_dir("streams-aof");
    let conf = format!(
        "dir {}\nsave \"\"\nappendonly yes\nappendfsync always\n",
        dir.display()
    );
    let before = {
        let s = Server::start_with(4, &[], Some(&conf));
        let mut c = s.client();
        c.ok(&["CONFIG", "SET", "stream-node-max-entries", "3"]);
        for _ in 0..10 {
            c.cmd(&["XADD", "s", "MAXLEN", "~", "4", "*", "f", "v"]);
        }
        c.ok(&["XGROUP", "CREATE", "s", "g", "0"]);
        c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "a",
            "COUNT",
            "2",
            "STREAMS",
            "s",
            ">",
        ]);
        c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "b",
            "NOACK",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ]);
        let first =
            c.cmd(&["XRANGE", "s", "-", "+", "COUNT", "1"]).as_array()[0].as_array()[0].as_string();
        c.cmd(&["XCLAIM", "s", "g", "c", "0", &first]);
        c.cmd(&["XAUTOCLAIM", "s", "g", "d", "0", "0", "COUNT", "1"]);
        keys_as_text(&mut c, &["0"])
    };
    let aof: String = fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".incr."))
        .map(|e| String::from_utf8_lossy(&fs::read(e.path()).unwrap()).into_owned())
        .collect();
    // `*` became the ID it made, `~` the exact trim it did.
    assert!(!aof.contains("\r\n*\r\n"), "{aof}");
    assert!(!aof.contains("\r\n~\r\n"), "{aof}");
    assert!(aof.contains("XCLAIM") && aof.contains("LASTID"), "{aof}");
    assert!(
        aof.contains("CREATECONSUMER") && aof.contains("ENTRIESREAD"),
        "{aof}"
    );
    let s = Server::start_with(1, &[], Some(&conf));
    let mut c = s.client();
    // Consumers created by replaying XCLAIM are seen at the replay, as in
    // Redis; everything else is as it was.
    assert_eq!(unseen(keys_as_text(&mut c, &["0"])), unseen(before));
}

/// `keys_as_text` without the consumers' seen times.
fn unseen(keys: Vec<String>) -> Vec<String> {
    keys.into_iter()
        .map(|k| {
            let mut out = String::new();
            let mut rest = k.as_str();
            while let Some(at) = rest.find("\"seen-time\", :") {
                let (head, tail) = rest.split_at(at + "\"seen-time\", :".len());
                out.push_str(head);
                rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
            }
            out.push_str(rest);
            out
        })
        .collect()
}
