//! What tools and client libraries ask a server: INFO (Redis's field names), CONFIG
//! GET/SET, COMMAND / COUNT / INFO / DOCS, CLIENT SETNAME/GETNAME/SETINFO, DEBUG SLEEP and
//! DEBUG POPULATE, TIME.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{against_redis, eventually, for_threads, info_field, Client, Reply};

fn info(c: &mut Client, section: &str) -> String {
    let args: Vec<&str> = if section.is_empty() {
        vec!["INFO"]
    } else {
        vec!["INFO", section]
    };
    c.cmd(&args).as_string()
}

fn num(info: &str, field: &str) -> i64 {
    let v = info_field(info, field).unwrap_or_else(|| panic!("INFO has no {field}:\n{info}"));
    v.parse()
        .unwrap_or_else(|_| panic!("INFO {field}:{v} is not an integer"))
}

fn config_map(reply: &Reply) -> HashMap<String, String> {
    let items = reply.as_strings();
    assert_eq!(
        items.len() % 2,
        0,
        "CONFIG GET reply has an odd length: {reply:?}"
    );
    items
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

#[test]
fn info_sections_and_fields() {
    for_threads(|s| {
        let mut c = s.client();
        let all = info(&mut c, "");
        for section in ["# Server", "# Clients", "# Memory", "# Stats", "# Keyspace"] {
            assert!(
                all.lines().any(|l| l == section),
                "INFO lacks {section}:\n{all}"
            );
        }
        assert!(
            all.contains("\r\n") && !all.replace("\r\n", "").contains('\n'),
            "INFO lines end with CRLF"
        );
        let version = info_field(&all, "redis_version").unwrap();
        assert!(
            version.starts_with(|ch: char| ch.is_ascii_digit()),
            "redis_version:{version}"
        );
        assert_eq!(num(&all, "process_id"), i64::from(s.pid()));
        assert_eq!(num(&all, "tcp_port"), i64::from(s.port));
        assert!(num(&all, "used_memory") > 0);
        assert!(num(&all, "used_memory_rss") > 0);
        assert!(num(&all, "instantaneous_ops_per_sec") >= 0);
        assert!(
            info_field(&all, "db0").is_none(),
            "no db0 line for an empty database:\n{all}"
        );

        // Sections on their own.
        let server = info(&mut c, "server");
        assert!(server.starts_with("# Server\r\n"), "{server}");
        assert!(info_field(&server, "redis_version").is_some());
        assert!(info_field(&server, "connected_clients").is_none());
        assert!(info(&mut c, "keyspace").starts_with("# Keyspace"));
        assert_eq!(info(&mut c, "nosuchsection"), "");

        // connected_clients follows connections opening and closing.
        let mut others: Vec<Client> = (0..3).map(|_| s.client()).collect();
        for o in &mut others {
            assert_eq!(o.cmd(&["PING"]), Reply::status("PONG"));
        }
        let clients_now = num(&info(&mut c, "clients"), "connected_clients");
        assert!(
            clients_now >= 4,
            "connected_clients:{clients_now} with 4 open"
        );
        drop(others);
        assert!(
            eventually(Duration::from_secs(3), || num(
                &info(&mut c, "clients"),
                "connected_clients"
            ) == 1),
            "connected_clients never went back to 1"
        );

        // Hits, misses and commands processed.
        let before = info(&mut c, "stats");
        c.ok(&["SET", "a", "1"]);
        for _ in 0..3 {
            c.cmd(&["GET", "a"]);
        }
        for _ in 0..2 {
            c.cmd(&["GET", "nosuch"]);
        }
        let after = info(&mut c, "stats");
        assert_eq!(
            num(&after, "keyspace_hits") - num(&before, "keyspace_hits"),
            3
        );
        assert_eq!(
            num(&after, "keyspace_misses") - num(&before, "keyspace_misses"),
            2
        );
        let done =
            num(&after, "total_commands_processed") - num(&before, "total_commands_processed");
        assert!(
            (6..=8).contains(&done),
            "total_commands_processed grew by {done} for 6 commands (+INFO)"
        );

        // The keyspace line.
        c.ok(&["SET", "b", "1", "EX", "1000"]);
        c.ok(&["SELECT", "3"]);
        c.ok(&["SET", "x", "1"]);
        let ks = info(&mut c, "keyspace");
        let db0 = info_field(&ks, "db0").unwrap_or_default();
        assert!(db0.starts_with("keys=2,expires=1,avg_ttl="), "db0:{db0}");
        assert_eq!(
            info_field(&ks, "db3").as_deref(),
            Some("keys=1,expires=0,avg_ttl=0")
        );
        assert!(info_field(&ks, "db1").is_none());
    });
}

#[test]
fn config_get_and_set() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "port"]),
            Reply::bulks(&["port", &s.port.to_string()])
        );
        let defaults = [
            ("databases", "16"),
            ("maxclients", "10000"),
            ("timeout", "0"),
            ("requirepass", ""),
            ("proto-max-bulk-len", "536870912"),
            ("client-query-buffer-limit", "1073741824"),
            ("bind", "127.0.0.1"),
        ];
        for (name, value) in defaults {
            let got = config_map(&c.cmd(&["CONFIG", "GET", name]));
            assert_eq!(
                got.get(name).map(String::as_str),
                Some(value),
                "CONFIG GET {name}"
            );
            assert_eq!(got.len(), 1, "CONFIG GET {name}: {got:?}");
        }
        let bulk = config_map(&c.cmd(&["CONFIG", "GET", "*bulk*"]));
        assert_eq!(
            bulk.get("proto-max-bulk-len").map(String::as_str),
            Some("536870912"),
            "{bulk:?}"
        );
        assert!(bulk.keys().all(|k| k.contains("bulk")), "{bulk:?}");
        let two = config_map(&c.cmd(&["CONFIG", "GET", "port", "data?ases"]));
        assert_eq!(two.len(), 2, "{two:?}");
        assert_eq!(two["databases"], "16");
        let everything = config_map(&c.cmd(&["CONFIG", "GET", "*"]));
        assert!(
            everything.contains_key("maxclients") && everything.contains_key("port"),
            "{everything:?}"
        );
        assert_eq!(c.cmd(&["CONFIG", "GET", "nosuch"]), Reply::Array(vec![]));
        assert_eq!(
            c.err(&["CONFIG", "GET"]),
            "ERR wrong number of arguments for 'config|get' command"
        );

        c.ok(&["CONFIG", "SET", "timeout", "300"]);
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "timeout"]),
            Reply::bulks(&["timeout", "300"])
        );
        c.ok(&["CONFIG", "SET", "timeout", "0"]);
        assert_eq!(
            c.err(&["CONFIG", "SET", "nosuch", "1"]),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        assert_eq!(
            c.err(&["CONFIG", "SET", "timeout", "abc"]),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
        );
        assert_eq!(
            c.err(&["CONFIG", "FOO"]),
            "ERR unknown subcommand 'FOO'. Try CONFIG HELP."
        );

        // requirepass set at runtime applies to new connections.
        c.ok(&["CONFIG", "SET", "requirepass", "later"]);
        assert_eq!(
            s.client().err(&["GET", "k"]),
            "NOAUTH Authentication required."
        );
        c.ok(&["CONFIG", "SET", "requirepass", ""]);
        assert_eq!(s.client().cmd(&["GET", "k"]), Reply::Nil);
    });
}

#[test]
fn command_count_info_docs() {
    for_threads(|s| {
        let mut c = s.client();
        let count = c.int(&["COMMAND", "COUNT"]);
        assert!(count > 40, "COMMAND COUNT {count}");
        let all = c.cmd(&["COMMAND"]);
        assert_eq!(
            i64::try_from(all.as_array().len()).unwrap(),
            count,
            "COMMAND lists COUNT commands"
        );

        // name, arity, flags, first key, last key, step
        for (name, arity, first, last, step) in [
            ("get", 2, 1, 1, 1),
            ("set", -3, 1, 1, 1),
            ("mset", -3, 1, -1, 2),
            ("ping", -1, 0, 0, 0),
        ] {
            let reply = c.cmd(&["COMMAND", "INFO", &name.to_uppercase()]);
            let info = reply.as_array()[0].as_array();
            assert_eq!(info[0], Reply::bulk(name), "{reply:?}");
            assert_eq!(info[1], Reply::int(arity), "{name} arity");
            assert!(matches!(info[2], Reply::Array(_)), "{name} flags");
            assert_eq!(
                (info[3].as_int(), info[4].as_int(), info[5].as_int()),
                (first, last, step),
                "{name} key positions"
            );
        }
        assert_eq!(
            c.cmd(&["COMMAND", "INFO", "nosuch"]),
            Reply::Array(vec![Reply::Nil])
        );

        // Every command of this milestone is in the table.
        let names = [
            "ping",
            "echo",
            "quit",
            "select",
            "auth",
            "get",
            "set",
            "setnx",
            "setex",
            "psetex",
            "getset",
            "mget",
            "mset",
            "msetnx",
            "append",
            "strlen",
            "incr",
            "decr",
            "incrby",
            "decrby",
            "incrbyfloat",
            "getrange",
            "setrange",
            "del",
            "exists",
            "type",
            "expire",
            "pexpire",
            "expireat",
            "pexpireat",
            "ttl",
            "pttl",
            "persist",
            "randomkey",
            "keys",
            "scan",
            "move",
            "dbsize",
            "flushdb",
            "flushall",
            "time",
            "info",
            "config",
            "command",
            "client",
            "debug",
        ];
        let mut args = vec!["COMMAND", "INFO"];
        args.extend_from_slice(&names);
        let reply = c.cmd(&args);
        for (name, info) in names.iter().zip(reply.as_array()) {
            assert!(
                matches!(info, Reply::Array(_)),
                "COMMAND INFO {name}: {info:?}"
            );
        }

        let docs = c.cmd(&["COMMAND", "DOCS", "get"]);
        let docs = docs.as_array();
        assert_eq!(
            docs.first(),
            Some(&Reply::bulk("get")),
            "COMMAND DOCS get: {docs:?}"
        );
        assert!(
            matches!(docs.get(1), Some(Reply::Array(_))),
            "COMMAND DOCS get: {docs:?}"
        );
        assert_eq!(
            c.err(&["COMMAND", "COUNT", "x"]),
            "ERR wrong number of arguments for 'command|count' command"
        );
    });
}

#[test]
fn client_setname_getname_setinfo() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
        c.ok(&["CLIENT", "SETNAME", "worker-1"]);
        assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("worker-1"));
        assert_eq!(
            s.client().cmd(&["CLIENT", "GETNAME"]),
            Reply::Nil,
            "names are per connection"
        );
        assert_eq!(
            c.err(&["CLIENT", "SETNAME", "a b"]),
            "ERR Client names cannot contain spaces, newlines or special characters."
        );
        c.ok(&["CLIENT", "SETNAME", ""]);
        assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::Nil);
        assert_eq!(
            c.err(&["CLIENT", "FOO"]),
            "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
        );
        assert_eq!(
            c.err(&["CLIENT", "GETNAME", "x"]),
            "ERR wrong number of arguments for 'client|getname' command"
        );
        if !against_redis() {
            // Redis 7.2's CLIENT SETINFO, which redis-py and redis-rs send at connect.
            c.ok(&["CLIENT", "SETINFO", "LIB-NAME", "tessera-tests"]);
            c.ok(&["CLIENT", "SETINFO", "LIB-VER", "1.0"]);
        }
    });
}

#[test]
fn debug_sleep_and_populate() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["DEBUG", "SLEEP", "0"]);
        let t = Instant::now();
        c.ok(&["DEBUG", "SLEEP", "0.2"]);
        assert!(
            t.elapsed() >= Duration::from_millis(190),
            "DEBUG SLEEP 0.2 took {:?}",
            t.elapsed()
        );

        c.ok(&["DEBUG", "POPULATE", "1000"]);
        assert_eq!(c.int(&["DBSIZE"]), 1000);
        assert_eq!(c.cmd(&["GET", "key:0"]), Reply::bulk("value:0"));
        assert_eq!(c.cmd(&["GET", "key:999"]), Reply::bulk("value:999"));
        assert_eq!(c.cmd(&["GET", "key:1000"]), Reply::Nil);
        // Existing keys are left alone.
        c.ok(&["SET", "key:5", "mine"]);
        c.ok(&["DEBUG", "POPULATE", "1010"]);
        assert_eq!(c.int(&["DBSIZE"]), 1010);
        assert_eq!(c.cmd(&["GET", "key:5"]), Reply::bulk("mine"));
        // Prefix and value size: the value is "value:N" cut or zero-padded to the size.
        c.ok(&["DEBUG", "POPULATE", "10", "pfx", "16"]);
        assert_eq!(
            c.cmd(&["GET", "pfx:1"]),
            Reply::bulk(b"value:1\0\0\0\0\0\0\0\0\0")
        );
        c.ok(&["DEBUG", "POPULATE", "10", "short", "3"]);
        assert_eq!(c.cmd(&["GET", "short:7"]), Reply::bulk("val"));
        assert_eq!(c.int(&["DBSIZE"]), 1030);
        c.ok(&["DEBUG", "POPULATE", "0"]);
        assert_eq!(
            c.err(&["DEBUG", "POPULATE", "-1"]),
            "ERR value is out of range, must be positive"
        );
        // The populated keys are spread over every shard and all reachable.
        let mut args = vec!["EXISTS".to_string()];
        args.extend((0..1010).map(|i| format!("key:{i}")));
        assert_eq!(c.int(&args), 1010);
    });
}

#[test]
fn time() {
    for_threads(|s| {
        let mut c = s.client();
        let reply = c.cmd(&["TIME"]);
        let parts = reply.as_strings();
        assert_eq!(parts.len(), 2, "{reply:?}");
        let secs: u64 = parts[0].parse().unwrap();
        let micros: u64 = parts[1].parse().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(secs.abs_diff(now) <= 2, "TIME {secs} vs now {now}");
        assert!(micros < 1_000_000);
        assert_eq!(
            c.err(&["TIME", "x"]),
            "ERR wrong number of arguments for 'time' command"
        );
    });
}

#[test]
fn config_resetstat_zeroes_the_counters() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "k", "v"]);
        c.cmd(&["GET", "k"]);
        c.cmd(&["GET", "missing"]);
        c.ok(&["SET", "gone", "v", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(5));
        c.cmd(&["GET", "gone"]);
        let stats = info(&mut c, "stats");
        assert!(num(&stats, "total_commands_processed") >= 5);
        assert!(num(&stats, "keyspace_hits") >= 1);
        assert!(num(&stats, "keyspace_misses") >= 2);
        assert!(num(&stats, "expired_keys") >= 1);

        c.ok(&["CONFIG", "RESETSTAT"]);
        let stats = info(&mut c, "stats");
        // INFO itself may already count.
        assert!(num(&stats, "total_commands_processed") <= 2, "{stats}");
        for field in [
            "keyspace_hits",
            "keyspace_misses",
            "expired_keys",
            "evicted_keys",
        ] {
            assert_eq!(num(&stats, field), 0, "{field}");
        }
        // Counting goes on from zero; the keys are untouched.
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
        let stats = info(&mut c, "stats");
        assert_eq!(num(&stats, "keyspace_hits"), 1);
    });
}

/// (calls, rejected_calls, failed_calls) of `cmd` in INFO commandstats.
fn cmdstat(c: &mut Client, cmd: &str) -> Option<(i64, i64, i64)> {
    let info = info(c, "commandstats");
    let line = info_field(&info, &format!("cmdstat_{cmd}"))?;
    let field = |name: &str| -> i64 {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    Some((
        field("calls"),
        field("rejected_calls"),
        field("failed_calls"),
    ))
}

#[test]
fn info_commandstats_counts_calls_rejections_and_failures() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "RESETSTAT"]);
        c.ok(&["SET", "k", "1"]);
        c.ok(&["SET", "{x}k", "1"]);
        c.cmd(&["GET", "k"]);
        c.cmd(&["GET"]);
        assert!(c.err(&["LPUSH", "k", "v"]).starts_with("WRONGTYPE"));
        c.ok(&["MULTI"]);
        c.cmd(&["INCR", "k"]);
        c.cmd(&["EXPIRE", "k", "100"]);
        c.cmd(&["EXEC"]);
        assert_eq!(cmdstat(&mut c, "set"), Some((2, 0, 0)));
        assert_eq!(cmdstat(&mut c, "get"), Some((1, 1, 0)));
        assert_eq!(cmdstat(&mut c, "lpush"), Some((1, 0, 1)));
        // Commands inside MULTI count when EXEC runs them.
        assert_eq!(cmdstat(&mut c, "incr"), Some((1, 0, 0)));
        assert_eq!(cmdstat(&mut c, "expire"), Some((1, 0, 0)));
        assert_eq!(cmdstat(&mut c, "exec"), Some((1, 0, 0)));
        assert_eq!(cmdstat(&mut c, "hset"), None);
        // Not part of the default INFO.
        let all = c.cmd(&["INFO"]).as_string();
        assert!(!all.contains("cmdstat_"), "{all}");
        c.ok(&["CONFIG", "RESETSTAT"]);
        assert_eq!(cmdstat(&mut c, "set"), None);
    });
}

#[test]
fn client_kill_closes_the_matching_connections_on_any_thread() {
    for_threads(|s| {
        let mut me = s.client();
        let mut idle = s.client();
        let mut blocked = s.client();
        let idle_id = idle.int(&["CLIENT", "ID"]);
        blocked.send(&common::encode(&["BLPOP", "nothing", "0"]));
        // Let the pop register before counting connections.
        assert!(eventually(Duration::from_secs(5), || {
            info_field(&info(&mut me, "clients"), "blocked_clients").as_deref() == Some("1")
        }));

        assert_eq!(me.int(&["CLIENT", "KILL", "ID", &idle_id.to_string()]), 1);
        idle.set_timeout(Duration::from_secs(5));
        assert!(
            idle.try_read_reply().unwrap_or(None).is_none(),
            "killed client still open"
        );
        assert_eq!(me.int(&["CLIENT", "KILL", "ID", &idle_id.to_string()]), 0);

        // SKIPME yes (the default) spares the caller; the blocked pop goes.
        // First wait for every other connection to be gone (the harness's
        // readiness probe may still be closing on a loaded machine).
        assert!(eventually(Duration::from_secs(5), || {
            me.cmd(&["CLIENT", "LIST"]).as_string().lines().count() == 2
        }));
        assert_eq!(me.int(&["CLIENT", "KILL", "SKIPME", "yes"]), 1);
        blocked.set_timeout(Duration::from_secs(5));
        assert!(blocked.try_read_reply().unwrap_or(None).is_none());
        assert!(eventually(Duration::from_secs(5), || {
            info_field(&info(&mut me, "clients"), "blocked_clients").as_deref() == Some("0")
        }));
        assert_eq!(me.cmd(&["PING"]), Reply::status("PONG"));

        // Filters and their errors.
        assert_eq!(me.int(&["CLIENT", "KILL", "TYPE", "pubsub"]), 0);
        assert_eq!(me.int(&["CLIENT", "KILL", "ADDR", "1.2.3.4:5"]), 0);
        assert_eq!(
            me.err(&["CLIENT", "KILL", "1.2.3.4:5"]),
            "ERR No such client"
        );
        assert_eq!(
            me.err(&["CLIENT", "KILL"]),
            "ERR wrong number of arguments for 'client|kill' command"
        );
        assert_eq!(
            me.err(&["CLIENT", "KILL", "ID", "0"]),
            "ERR client-id should be greater than 0"
        );
        assert_eq!(
            me.err(&["CLIENT", "KILL", "TYPE", "bogus"]),
            "ERR Unknown client type 'bogus'"
        );
        assert_eq!(
            me.err(&["CLIENT", "KILL", "USER", "bob"]),
            "ERR No such user 'bob'"
        );
        assert_eq!(
            me.err(&["CLIENT", "KILL", "ID", "1", "SKIPME"]),
            "ERR syntax error"
        );

        // The caller, by its own address: the reply, then the close.
        let list = me.cmd(&["CLIENT", "INFO"]).as_string();
        let addr = list
            .split(' ')
            .find_map(|f| f.strip_prefix("addr="))
            .unwrap()
            .to_string();
        assert_eq!(me.cmd(&["CLIENT", "KILL", &addr]), Reply::ok());
        me.set_timeout(Duration::from_secs(5));
        assert!(me.try_read_reply().unwrap_or(None).is_none());
        let mut again = s.client();
        assert_eq!(again.cmd(&["PING"]), Reply::status("PONG"));
    });
}

#[test]
fn client_reply_off_on_skip_drop_exactly_the_replies_they_should() {
    for_threads(|s| {
        let mut c = s.client();
        let mut pipe = Vec::new();
        for cmd in [
            &["CLIENT", "REPLY", "OFF"][..],
            &["SET", "a", "1"],
            &["GET", "a"],
            &["SET", "{x}b", "2"],
            &["GET", "{x}b"],
            &["CLIENT", "REPLY", "ON"],
            &["GET", "a"],
            &["CLIENT", "REPLY", "SKIP"],
            &["GET", "{x}b"],
            &["GET", "{x}b"],
            &["MULTI"],
            &["SET", "c", "3"],
            &["EXEC"],
            &["CLIENT", "REPLY", "SKIP"],
            &["MULTI"],
            &["INCR", "c"],
            &["EXEC"],
            &["CLIENT", "REPLY", "BOGUS"],
            &["PING"],
        ] {
            pipe.extend(common::encode(cmd));
        }
        c.send(&pipe);
        let expected = [
            Reply::ok(),
            Reply::bulk("1"),
            Reply::bulk("2"),
            Reply::ok(),
            Reply::status("QUEUED"),
            Reply::Array(vec![Reply::ok()]),
            Reply::status("QUEUED"),
            Reply::Array(vec![Reply::int(4)]),
            Reply::err("ERR syntax error"),
            Reply::status("PONG"),
        ];
        for want in expected {
            assert_eq!(c.read_reply(), want);
        }
    });
}

#[test]
fn client_list_shows_each_connections_last_command() {
    for_threads(|s| {
        let mut c = s.client();
        let id = c.int(&["CLIENT", "ID"]);
        c.ok(&["SET", "{k}a", "v"]);
        c.cmd(&["GET", "{k}a"]);
        let mut other = s.client();
        let list = other.cmd(&["CLIENT", "LIST"]).as_string();
        let line = list
            .lines()
            .find(|l| l.starts_with(&format!("id={id} ")))
            .unwrap_or_else(|| panic!("no client {id} in {list}"));
        assert!(line.contains(" cmd=get "), "{line}");
    });
}

#[test]
fn client_list_names_subcommands_and_the_callers_query_buffer() {
    for_threads(|s| {
        let mut c = s.client();
        // "*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n" is 26 bytes, still unrun
        // while the command runs.
        let list = c.cmd(&["CLIENT", "LIST"]).as_string();
        assert!(list.contains(" qbuf=26 "), "{list}");
        assert!(list.contains(" cmd=client|list "), "{list}");
        let me = c.cmd(&["client", "info"]).as_string();
        assert!(me.contains(" cmd=client|info "), "{me}");
        // Between commands the buffer is empty and the name stays.
        let mut other = s.client();
        let id = c.int(&["CLIENT", "ID"]);
        let list = other
            .cmd(&["CLIENT", "LIST", "ID", &id.to_string()])
            .as_string();
        assert!(
            list.contains(" qbuf=0 ") && list.contains(" cmd=client|id "),
            "{list}"
        );
    });
}

#[test]
fn config_set_checks_every_name_first_and_rolls_back_on_a_bad_value() {
    for_threads(|s| {
        let mut c = s.client();
        let get =
            |c: &mut Client, name: &str| config_map(&c.cmd(&["CONFIG", "GET", name]))[name].clone();
        let (mm, qbl) = (
            get(&mut c, "maxmemory"),
            get(&mut c, "client-query-buffer-limit"),
        );
        c.ok(&["CONFIG", "SET", "maxmemory", "10000002"]);
        // A refused value undoes the ones set before it.
        let e = c.err(&[
            "CONFIG",
            "SET",
            "maxmemory",
            "10000001",
            "maxmemory-clients",
            "200%",
            "client-query-buffer-limit",
            "invalid",
        ]);
        assert_eq!(e, "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100");
        assert_eq!(get(&mut c, "maxmemory"), "10000002");
        assert_eq!(get(&mut c, "client-query-buffer-limit"), qbl);
        let e = c.err(&["CONFIG", "SET", "maxmemory", "1", "maxmemory", "2"]);
        assert!(e.contains("'maxmemory') - duplicate parameter"), "{e}");
        // Unknown and immutable names are refused before anything is set.
        let e = c.err(&["CONFIG", "SET", "maxmemory", "5", "no-such-option", "1"]);
        assert_eq!(
            e,
            "ERR Unknown option or number of arguments for CONFIG SET - 'no-such-option'"
        );
        let e = c.err(&["CONFIG", "SET", "maxmemory", "5", "daemonize", "yes"]);
        assert!(
            e.ends_with("'daemonize') - can't set immutable config"),
            "{e}"
        );
        let e = c.err(&["CONFIG", "SET", "databases", "16"]);
        assert!(
            e.ends_with("'databases') - can't set immutable config"),
            "{e}"
        );
        assert_eq!(get(&mut c, "maxmemory"), "10000002");
        // Not a replica: both names are there, empty, and not settable.
        let of = config_map(&c.cmd(&["CONFIG", "GET", "*of"]));
        assert_eq!((of["replicaof"].as_str(), of["slaveof"].as_str()), ("", ""));
        let e = c.err(&["CONFIG", "SET", "replicaof", "127.0.0.1 1"]);
        assert!(e.ends_with("can't set immutable config"), "{e}");
        c.ok(&["CONFIG", "SET", "maxmemory-clients", "50%"]);
        assert_eq!(get(&mut c, "maxmemory-clients"), "50%");
        c.ok(&["CONFIG", "SET", "maxmemory-clients", "0", "maxmemory", &mm]);
        // Whatever CONFIG GET shows can be written back, port included.
        let port = get(&mut c, "port");
        c.ok(&["CONFIG", "SET", "port", &port]);
    });
}

#[test]
fn monitor_shows_every_clients_commands_as_redis_does() {
    for_threads(|s| {
        let mut m = s.client();
        m.ok(&["MONITOR"]);
        let mut line = || match m.read_reply() {
            Reply::Status(l) => l,
            other => panic!("not a monitor line: {other:?}"),
        };
        let mut c = s.client();
        // Keys on every shard, from a client that may live on any thread.
        for k in ["a", "b", "c", "d"] {
            c.ok(&["SET", k, "x y\"\n"]);
        }
        for k in ["a", "b", "c", "d"] {
            let l = line();
            let (stamp, rest) = l.split_once(' ').expect("a stamp");
            assert!(stamp.parse::<f64>().is_ok(), "{l}");
            assert!(rest.starts_with("[0 127.0.0.1:"), "{l}");
            assert!(
                rest.ends_with(&format!("] \"SET\" \"{k}\" \"x y\\\"\\n\"")),
                "{l}"
            );
        }
        // SELECT shows the database it chose; queued commands appear when
        // EXEC runs them, before the EXEC; refused ones never.
        c.ok(&["SELECT", "2"]);
        assert!(line().contains("[2 127.0.0.1:"));
        c.ok(&["MULTI"]);
        assert_eq!(c.cmd(&["INCR", "n"]), Reply::Status("QUEUED".into()));
        c.cmd(&["EXEC"]);
        assert!(line().ends_with("\"MULTI\""));
        assert!(line().ends_with("\"INCR\" \"n\""));
        assert!(line().ends_with("\"EXEC\""));
        c.ok(&["MULTI"]);
        c.err(&["NOSUCHCMD"]);
        c.err(&["EXEC"]);
        assert!(line().ends_with("\"MULTI\""));
        assert!(line().ends_with("\"EXEC\""));
        // Secrets are hidden; administrative commands are not shown.
        c.cmd(&["CONFIG", "GET", "port"]);
        c.err(&["AUTH", "user", "secret"]);
        assert!(line().ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\""));
        // A monitor's commands run and show like anyone's; RESET ends it.
        assert_eq!(m.cmd(&["PING"]), Reply::Status("PONG".into()));
        assert!(matches!(m.read_reply(), Reply::Status(l) if l.ends_with("\"PING\"")));
        assert_eq!(m.cmd(&["RESET"]), Reply::Status("RESET".into()));
        c.ok(&["SET", "after", "1"]);
        m.set_timeout(Duration::from_millis(300));
        assert_eq!(m.cmd(&["PING"]), Reply::Status("PONG".into()));
    });
}

#[test]
fn command_list_filters_and_movablekeys_as_redis() {
    for_threads(|s| {
        let mut c = s.client();
        let list = |c: &mut Client, args: &[&str]| -> Vec<String> {
            let mut cmd = vec!["COMMAND", "LIST"];
            cmd.extend_from_slice(args);
            c.cmd(&cmd)
                .as_array()
                .iter()
                .map(Reply::as_string)
                .collect()
        };
        let all = list(&mut c, &[]);
        assert!(all.iter().any(|n| n == "set") && all.iter().any(|n| n == "client|list"));
        assert_eq!(list(&mut c, &["FILTERBY", "PATTERN", "get"]), ["get"]);
        let mut re = list(&mut c, &["FILTERBY", "PATTERN", "config|*re*"]);
        re.sort();
        assert_eq!(re, ["config|resetstat", "config|rewrite"]);
        let config = list(&mut c, &["filterby", "pattern", "config*"]);
        assert!(config.iter().any(|n| n == "config") && config.iter().any(|n| n == "config|get"));
        assert!(list(&mut c, &["FILTERBY", "PATTERN", "nonexist*"]).is_empty());
        assert!(list(&mut c, &["FILTERBY", "MODULE", "nomodule"]).is_empty());
        assert!(list(&mut c, &["FILTERBY", "ACLCAT", "nocategory"]).is_empty());
        for bad in [
            &["bad_arg"][..],
            &["FILTERBY", "bad_arg"],
            &["FILTERBY", "bad_arg", "x"],
        ] {
            let mut cmd = vec!["COMMAND", "LIST"];
            cmd.extend_from_slice(bad);
            assert!(c.err(&cmd).starts_with("ERR syntax error"), "{bad:?}");
        }
        // Keys at fixed places are not "movable"; keys found by parsing are.
        let movable = |c: &mut Client, name: &str| {
            let info = c.cmd(&["COMMAND", "INFO", name]);
            let flags = info.as_array()[0].as_array()[2].as_array().to_vec();
            flags.contains(&Reply::Status("movablekeys".into()))
        };
        for name in ["set", "mset", "blpop", "brpoplpush", "bzpopmin", "rename"] {
            assert!(!movable(&mut c, name), "{name}");
        }
        for name in ["zunionstore", "sort", "migrate", "blmpop"] {
            assert!(movable(&mut c, name), "{name}");
        }
    });
}

/// Keys and their flags, as GETKEYSANDFLAGS lists them.
type KeysAndFlags<'a> = &'a [(&'a str, &'a [&'a str])];

/// COMMAND GETKEYS and GETKEYSANDFLAGS: keys and their flags as Redis 7.0
/// prints them, option-dependent flags (SET ... GET, BITFIELD, SORT ...
/// STORE), movable keys, and the errors in Redis's order.
#[test]
fn command_getkeys_and_flags() {
    for_threads(|s| {
        let mut c = s.client();
        let flags = |f: &[&str]| Reply::Array(f.iter().map(|f| Reply::status(f)).collect());
        let cases: &[(&[&str], KeysAndFlags)] = &[
            (
                &["set", "a", "b", "get"],
                &[("a", &["RW", "access", "update"])],
            ),
            (&["set", "a", "b"], &[("a", &["OW", "update"])]),
            (
                &["lmove", "a", "b", "left", "right"],
                &[("a", &["RW", "access", "delete"]), ("b", &["RW", "insert"])],
            ),
            (
                &["eval", "return 1", "2", "a", "b"],
                &[
                    ("a", &["RW", "access", "update"]),
                    ("b", &["RW", "access", "update"]),
                ],
            ),
            (&["eval", "return 1", "0"], &[]),
            (
                &["migrate", "h", "1", "", "0", "5", "keys", "a", "b"],
                &[
                    ("a", &["RW", "access", "delete"]),
                    ("b", &["RW", "access", "delete"]),
                ],
            ),
            (
                &["sort", "a", "store", "b"],
                &[("a", &["RO", "access"]), ("b", &["OW", "update"])],
            ),
            (
                &["bitfield", "a", "get", "u8", "0"],
                &[("a", &["RO", "access"])],
            ),
            (
                &["bitfield", "a", "set", "u8", "0", "1"],
                &[("a", &["RW", "access", "update"])],
            ),
            (
                &["georadius", "a", "0", "0", "1", "km", "store", "b"],
                &[("a", &["RO", "access"]), ("b", &["OW", "update"])],
            ),
            (
                &["mset", "a", "1", "b", "2"],
                &[("a", &["OW", "update"]), ("b", &["OW", "update"])],
            ),
            (
                &["del", "a", "b"],
                &[("a", &["RM", "delete"]), ("b", &["RM", "delete"])],
            ),
            (&["exists", "a"], &[("a", &["RO"])]),
            (
                &["rename", "a", "b"],
                &[("a", &["RW", "access", "delete"]), ("b", &["OW", "update"])],
            ),
            (&["getex", "a"], &[("a", &["RW", "access", "update"])]),
            (
                &["pfcount", "a", "b"],
                &[("a", &["RW", "access"]), ("b", &["RW", "access"])],
            ),
            (&["watch", "a", "b"], &[("a", &["RO"]), ("b", &["RO"])]),
            (&["object", "encoding", "a"], &[("a", &["RO"])]),
            (
                &["zunionstore", "d", "2", "a", "b"],
                &[
                    ("d", &["OW", "update"]),
                    ("a", &["RO", "access"]),
                    ("b", &["RO", "access"]),
                ],
            ),
            (
                &["georadiusbymember", "a", "m", "1", "km", "storedist", "b"],
                &[("a", &["RO", "access"]), ("b", &["OW", "update"])],
            ),
            (&["eval_ro", "x", "1", "a"], &[("a", &["RO", "access"])]),
            (
                &["blmpop", "0", "2", "a", "b", "left"],
                &[
                    ("a", &["RW", "access", "delete"]),
                    ("b", &["RW", "access", "delete"]),
                ],
            ),
            (
                &["smove", "a", "b", "m"],
                &[("a", &["RW", "access", "delete"]), ("b", &["RW", "insert"])],
            ),
            (
                &["copy", "a", "b"],
                &[("a", &["RO", "access"]), ("b", &["OW", "update"])],
            ),
            (
                &["pfmerge", "a", "b"],
                &[("a", &["RW", "access", "insert"]), ("b", &["RO", "access"])],
            ),
            (
                &["bitop", "and", "d", "a", "b"],
                &[
                    ("d", &["OW", "update"]),
                    ("a", &["RO", "access"]),
                    ("b", &["RO", "access"]),
                ],
            ),
            (&["restore", "a", "0", "x"], &[("a", &["OW", "update"])]),
            (&["touch", "a"], &[("a", &["RO"])]),
            (&["expire", "a", "1"], &[("a", &["RW", "update"])]),
            (&["setrange", "a", "0", "b"], &[("a", &["RW", "update"])]),
        ];
        for (cmd, want) in cases {
            let mut args = vec!["COMMAND", "GETKEYSANDFLAGS"];
            args.extend_from_slice(cmd);
            let expected = Reply::Array(
                want.iter()
                    .map(|(k, f)| Reply::Array(vec![Reply::bulk(k), flags(f)]))
                    .collect(),
            );
            assert_eq!(c.cmd(&args), expected, "{cmd:?}");
            args[1] = "GETKEYS";
            let keys: Vec<&str> = want.iter().map(|(k, _)| *k).collect();
            assert_eq!(c.cmd(&args), Reply::bulks(&keys), "{cmd:?}");
        }
        for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
            for (cmd, err) in [
                (
                    &["ping", "x", "y"][..],
                    "ERR The command has no key arguments",
                ),
                (
                    &["get", "a", "b"],
                    "ERR Invalid number of arguments specified for command",
                ),
                (
                    &["zunionstore", "dst", "0", "a"],
                    "ERR Invalid arguments specified for command",
                ),
                (
                    &["lmpop", "0", "a", "left"],
                    "ERR Invalid arguments specified for command",
                ),
                (&["nosuch", "a"], "ERR Invalid command specified"),
            ] {
                let mut args = vec!["COMMAND", sub];
                args.extend_from_slice(cmd);
                assert_eq!(c.err(&args), err, "{sub} {cmd:?}");
            }
            assert_eq!(
                c.err(&["COMMAND", sub, "get"]),
                format!(
                    "ERR wrong number of arguments for 'command|{}' command",
                    sub.to_ascii_lowercase()
                )
            );
        }
    });
}

#[test]
fn memory_stats_and_usage_cover_every_shard() {
    for_threads(|s| {
        let mut c = s.client();
        for i in 0..50 {
            c.ok(&["SET", &format!("key:{i}"), "value"]);
        }
        c.cmd(&["EXPIRE", "key:1", "100"]);
        let stats = c.cmd(&["MEMORY", "STATS"]);
        let items = stats.as_array();
        let field = |name: &str| {
            items
                .chunks(2)
                .find(|kv| kv[0] == Reply::bulk(name))
                .unwrap_or_else(|| panic!("no {name} in {items:?}"))[1]
                .clone()
        };
        assert_eq!(field("keys.count"), Reply::int(50));
        assert!(field("total.allocated").as_int() > 0);
        let db0 = field("db.0");
        assert_eq!(db0.as_array()[0], Reply::bulk("overhead.hashtable.main"));
        // Every key, whichever shard holds it.
        for i in 0..50 {
            assert!(c.int(&["MEMORY", "USAGE", &format!("key:{i}")]) > 0);
        }
        assert_eq!(c.cmd(&["MEMORY", "USAGE", "nosuch"]), Reply::Nil);
        assert_eq!(
            c.err(&["MEMORY", "USAGE", "key:1", "SAMPLES"]),
            "ERR syntax error"
        );
        assert!(!c.cmd(&["MEMORY", "MALLOC-STATS"]).as_string().is_empty());
        assert_eq!(c.cmd(&["MEMORY", "PURGE"]), Reply::ok());
    });
}
