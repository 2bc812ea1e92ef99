//! EVAL, EVALSHA, EVAL_RO and SCRIPT against the real server, at one thread and at
//! four (where a script's keys may live on several shards). Everything but the
//! non-local-key check passes unchanged against redis-server with
//! TESSERA_TEST_AGAINST_REDIS=1.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{for_threads, Reply};

#[test]
fn values_convert_both_ways_as_in_redis() {
    for_threads(|s| {
        let mut c = s.client();
        let eval = |c: &mut common::Client, body: &str, args: &[&str]| {
            let mut v = vec!["EVAL", body];
            v.extend_from_slice(args);
            c.cmd(&v)
        };
        assert_eq!(eval(&mut c, "return 'hello'", &["0"]), Reply::bulk("hello"));
        assert_eq!(eval(&mut c, "return 3.99", &["0"]), Reply::int(3));
        assert_eq!(eval(&mut c, "return -3.7", &["0"]), Reply::int(-3));
        assert_eq!(eval(&mut c, "return true", &["0"]), Reply::int(1));
        assert_eq!(eval(&mut c, "return false", &["0"]), Reply::Nil);
        assert_eq!(eval(&mut c, "return nil", &["0"]), Reply::Nil);
        assert_eq!(
            eval(&mut c, "return {ok='FINE'}", &["0"]),
            Reply::status("FINE")
        );
        assert_eq!(
            eval(&mut c, "return {err='My err'}", &["0"]),
            Reply::err("My err")
        );
        assert_eq!(
            eval(&mut c, "return redis.error_reply('E2')", &["0"]),
            Reply::err("ERR E2")
        );
        assert_eq!(
            eval(&mut c, "return {1,2,{3,'x'},nil,5}", &["0"]),
            Reply::Array(vec![
                Reply::int(1),
                Reply::int(2),
                Reply::Array(vec![Reply::int(3), Reply::bulk("x")]),
            ])
        );
        assert_eq!(
            eval(
                &mut c,
                "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}",
                &["2", "a", "b", "c", "d"]
            ),
            Reply::bulks(&["a", "b", "c", "d"])
        );
        // Replies into Lua: integer, bulk, nil (false), status and error tables, arrays.
        c.ok(&["SET", "n", "10"]);
        c.int(&["RPUSH", "l", "a", "b"]);
        let body = "return {type(redis.call('incr', KEYS[1])), type(redis.call('get', KEYS[1])), \
                    tostring(redis.call('get', KEYS[2])), redis.call('set', KEYS[1], 1)['ok'], \
                    redis.pcall('lpush', KEYS[1], 'x')['err'], #redis.call('lrange', KEYS[3], 0, -1)}";
        // Keys in one hash tag: one shard, whatever the thread count.
        let got = eval(&mut c, body, &["3", "{t}n", "{t}missing", "{t}l"]);
        c.ok(&["SET", "{t}n", "1"]);
        c.int(&["RPUSH", "{t}l", "a", "b"]);
        let got2 = eval(&mut c, body, &["3", "{t}n", "{t}missing", "{t}l"]);
        assert_eq!(got.as_array()[0], Reply::bulk("number"));
        assert_eq!(
            got2,
            Reply::Array(vec![
                Reply::bulk("number"),
                Reply::bulk("string"),
                Reply::bulk("false"),
                Reply::bulk("OK"),
                Reply::bulk("WRONGTYPE Operation against a key holding the wrong kind of value"),
                Reply::int(2),
            ])
        );
        // cjson, both ways.
        assert_eq!(
            eval(
                &mut c,
                "local d = cjson.decode(ARGV[1]) return {d.a, tostring(d.n == cjson.null), #d.l, cjson.encode(d.l)}",
                &["0", r#"{"a": "x\u00e9", "n": null, "l": [1, 2.5, [true, {}]]}"#],
            ),
            Reply::Array(vec![
                Reply::bulk("xé"),
                Reply::bulk("true"),
                Reply::int(3),
                Reply::bulk("[1,2.5,[true,{}]]"),
            ])
        );
        // Numbers as arguments: integers as integers, others as %.17g.
        assert_eq!(
            eval(
                &mut c,
                "redis.call('set', KEYS[1], 3.5); return redis.call('get', KEYS[1])",
                &["1", "f"]
            ),
            Reply::bulk("3.5")
        );
    });
}

#[test]
fn errors_read_as_redis_writes_them() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SET", "s", "x"]);
        let e = c.err(&["EVAL", "return redis.call('lpush', KEYS[1], 'a')", "1", "s"]);
        assert_eq!(
            e,
            "WRONGTYPE Operation against a key holding the wrong kind of value script: \
             30066d0618efaa6f4d54a3824876d45cb637d4f7, on @user_script:1."
        );
        let e = c.err(&["EVAL", "return nosuch()", "0"]);
        assert!(
            e.starts_with("ERR user_script:1: Script attempted to access nonexistent global variable 'nosuch' script: "),
            "{e}"
        );
        let e = c.err(&["EVAL", "x = 5", "0"]);
        assert!(e.contains("Attempt to modify a readonly table"), "{e}");
        let e = c.err(&["EVAL", "redis.call = nil", "0"]);
        assert!(e.contains("Attempt to modify a readonly table"), "{e}");
        let e = c.err(&["EVAL", "syntax error here", "0"]);
        assert_eq!(
            e,
            "ERR Error compiling script (new function): user_script:1: '=' expected near 'error'"
        );
        assert!(c
            .err(&["EVAL", "return redis.call('nosuchcmd')", "0"])
            .starts_with("ERR Unknown Redis command called from script"));
        assert!(c
            .err(&["EVAL", "return redis.call('blpop', 'l', 0)", "0"])
            .starts_with("ERR This Redis command is not allowed from script"));
        assert!(c
            .err(&["EVAL", "return redis.call()", "0"])
            .starts_with("ERR Please specify at least one argument for this redis lib call"));
        assert_eq!(
            c.err(&["EVAL", "return 1", "-1"]),
            "ERR Number of keys can't be negative"
        );
        assert_eq!(
            c.err(&["EVAL", "return 1", "2", "a"]),
            "ERR Number of keys can't be greater than number of args"
        );
        assert_eq!(
            c.err(&["EVAL_RO", "return redis.call('set', KEYS[1], 1)", "1", "k"])
                .split(" script:")
                .next(),
            Some("ERR Write commands are not allowed from read-only scripts.")
        );
        assert_eq!(
            c.err(&["SCRIPT", "KILL"]),
            "NOTBUSY No scripts in execution right now."
        );
        // The connection is fine after all of that.
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    });
}

#[test]
fn evalsha_and_the_script_cache() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["SCRIPT", "FLUSH"]);
        let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db";
        assert_eq!(
            c.err(&["EVALSHA", sha, "0"]),
            "NOSCRIPT No matching script. Please use EVAL."
        );
        assert_eq!(c.cmd(&["SCRIPT", "LOAD", "return 1"]), Reply::bulk(sha));
        assert_eq!(c.cmd(&["EVALSHA", sha, "0"]), Reply::int(1));
        assert_eq!(c.cmd(&["EVALSHA", &sha.to_uppercase(), "0"]), Reply::int(1));
        // EVAL caches what it ran; every connection (on any thread) can call it.
        assert_eq!(c.cmd(&["EVAL", "return 2", "0"]), Reply::int(2));
        let two = "7f923f79fe76194c868d7e1d0820de36700eb649";
        let mut others: Vec<_> = (0..4).map(|_| s.client()).collect();
        for o in &mut others {
            assert_eq!(o.cmd(&["EVALSHA", two, "0"]), Reply::int(2));
        }
        assert_eq!(
            c.cmd(&["SCRIPT", "EXISTS", sha, two, "abc"]),
            Reply::Array(vec![Reply::int(1), Reply::int(1), Reply::int(0)])
        );
        c.ok(&["SCRIPT", "FLUSH", "ASYNC"]);
        assert_eq!(
            c.cmd(&["SCRIPT", "EXISTS", sha]),
            Reply::Array(vec![Reply::int(0)])
        );
        assert!(c
            .err(&["SCRIPT", "LOAD", "return +"])
            .starts_with("ERR Error compiling script"));
    });
}

/// A script over keys on different shards is atomic: transfers between two counters
/// (shards 2 and 1 of four) run while readers check that the sum never changes.
#[test]
fn a_script_over_several_shards_is_atomic() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["MSET", "acct:alice", "500", "acct:carol", "500"]);
        let stop = Arc::new(AtomicBool::new(false));
        let port = s.port;
        let reader = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut r = common::Client::connect(port);
                let mut checks = 0;
                while !stop.load(Ordering::Relaxed) {
                    let got = r.cmd(&["MGET", "acct:alice", "acct:carol"]).as_strings();
                    let sum: i64 = got.iter().map(|v| v.parse::<i64>().unwrap()).sum();
                    assert_eq!(sum, 1000, "{got:?}");
                    checks += 1;
                }
                checks
            })
        };
        let transfer = "local a = tonumber(redis.call('get', KEYS[1])) \
                        if a < tonumber(ARGV[1]) then return 0 end \
                        redis.call('decrby', KEYS[1], ARGV[1]) \
                        redis.call('incrby', KEYS[2], ARGV[1]) return 1";
        for i in 0..400 {
            let (from, to) = if i % 2 == 0 {
                ("acct:alice", "acct:carol")
            } else {
                ("acct:carol", "acct:alice")
            };
            let amount = (i % 7 + 1).to_string();
            c.cmd(&["EVAL", transfer, "2", from, to, &amount]);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        let sum: i64 = c
            .cmd(&["MGET", "acct:alice", "acct:carol"])
            .as_strings()
            .iter()
            .map(|v| v.parse::<i64>().unwrap())
            .sum();
        assert_eq!(sum, 1000);
    });
}

/// A script may touch keys it did not declare only on the shard it runs on (as Redis
/// Cluster requires of every script); at one thread that is every key.
#[test]
fn undeclared_keys_on_other_shards_are_refused() {
    if common::skip_against_redis("Redis (not in cluster mode) lets a script touch any key") {
        return;
    }
    for_threads(|s| {
        let mut c = s.client();
        let mut refused = 0;
        for i in 0..32 {
            let k = format!("undeclared:{i}");
            match c.cmd(&["EVAL", "return redis.call('set', ARGV[1], 1)", "0", &k]) {
                Reply::Status(_) => {}
                Reply::Error(e) => {
                    assert!(
                        e.starts_with("ERR Script attempted to access a non local key"),
                        "{e}"
                    );
                    refused += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        if s.threads == 1 {
            assert_eq!(refused, 0);
        } else {
            assert!(refused > 0);
        }
    });
}

/// The `redis` crate's Script helper: EVALSHA, and EVAL when the server does not know
/// the script yet.
#[test]
fn redis_crate_scripts() {
    for_threads(|s| {
        let mut conn = s.conn();
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).unwrap();
        let script = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
        let n: i64 = script.key("counter").arg(5).invoke(&mut conn).unwrap();
        assert_eq!(n, 5);
        let n: i64 = script.key("counter").arg(2).invoke(&mut conn).unwrap();
        assert_eq!(n, 7);
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    });
}

/// Starts `script` (EVAL or FCALL words) on a connection of its own, with
/// busy-reply-threshold at 10 ms, and waits until another client is told -BUSY.
fn start_busy(s: &common::Server, words: &[&str], busy_word: &str) -> common::Client {
    let mut runner = s.client();
    runner.set_timeout(Duration::from_secs(10));
    runner.ok(&["CONFIG", "SET", "busy-reply-threshold", "10"]);
    runner.send(&common::encode(words));
    let mut probe = s.client();
    probe.set_timeout(Duration::from_secs(5));
    assert!(
        common::eventually(Duration::from_secs(5), || {
            matches!(probe.cmd(&["PING"]), Reply::Error(e) if e.starts_with("BUSY"))
        }),
        "no -BUSY while the script runs"
    );
    assert_eq!(
        probe.err(&["PING"]),
        format!("BUSY Redis is busy running a script. You can only call {busy_word} KILL or SHUTDOWN NOSAVE.")
    );
    runner
}

/// Every client gets -BUSY while a script runs past busy-reply-threshold, on the
/// script's thread as on the others (the script's thread answers from inside the
/// script's hook), and SCRIPT KILL from any of them stops a script that has not
/// written: its caller gets Redis's error and the server goes on.
#[test]
fn a_busy_script_leaves_every_client_answered_and_script_kill_stops_it() {
    common::for_threads(|s| {
        let mut runner = start_busy(s, &["EVAL", "while true do end", "0"], "SCRIPT");
        // Enough connections to land on every thread, the script's included.
        let mut others: Vec<common::Client> = (0..8).map(|_| s.client()).collect();
        for c in &mut others {
            c.set_timeout(Duration::from_secs(5));
            assert!(
                c.err(&["GET", "k"]).starts_with("BUSY "),
                "a client went unanswered"
            );
            assert!(c.err(&["EVAL", "return 1", "0"]).starts_with("BUSY "));
            // Allowed while busy, as in Redis.
            assert_eq!(c.cmd(&["HELLO", "2"]).as_array().len(), 14);
            assert!(c.err(&["SHUTDOWN"]).starts_with("BUSY "));
        }
        assert_eq!(others[3].cmd(&["SCRIPT", "KILL"]), Reply::ok());
        let e = runner.read_reply().as_err().to_string();
        assert!(
            e.starts_with("ERR Script killed by user with SCRIPT KILL"),
            "{e}"
        );
        for c in &mut others {
            assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
        }
        assert_eq!(runner.cmd(&["PING"]), Reply::status("PONG"));
        assert_eq!(
            runner.err(&["SCRIPT", "KILL"]),
            "NOTBUSY No scripts in execution right now."
        );
        runner.ok(&["CONFIG", "SET", "busy-reply-threshold", "5000"]);
    });
}

/// A killed script's error cannot be swallowed by `pcall`: it is raised again until it
/// escapes, as in Redis.
#[test]
fn script_kill_stops_a_script_that_catches_errors() {
    common::for_threads(|s| {
        let mut runner = start_busy(
            s,
            &[
                "EVAL",
                "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
                "0",
            ],
            "SCRIPT",
        );
        let mut c = s.client();
        c.set_timeout(Duration::from_secs(5));
        assert_eq!(c.cmd(&["SCRIPT", "KILL"]), Reply::ok());
        let e = runner.read_reply().as_err().to_string();
        assert!(e.contains("killed by user"), "{e}");
        assert_eq!(runner.cmd(&["PING"]), Reply::status("PONG"));
        c.ok(&["CONFIG", "SET", "busy-reply-threshold", "5000"]);
    });
}

/// A busy function is stopped by FUNCTION KILL; a busy script inside MULTI/EXEC by
/// SCRIPT KILL, and the EXEC's reply carries the script's error.
#[test]
fn busy_functions_and_scripts_in_exec_are_killed() {
    common::for_threads(|s| {
        let mut c = s.client();
        c.set_timeout(Duration::from_secs(5));
        c.cmd(&[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=busylib\nredis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}",
        ]);
        let mut runner = start_busy(s, &["FCALL", "spin", "0"], "FUNCTION");
        assert!(c.err(&["SCRIPT", "KILL"]).starts_with("BUSY "));
        assert_eq!(c.cmd(&["FUNCTION", "KILL"]), Reply::ok());
        let e = runner.read_reply().as_err().to_string();
        assert!(
            e.starts_with("ERR Script killed by user with SCRIPT KILL"),
            "{e}"
        );

        runner.ok(&["MULTI"]);
        assert_eq!(runner.cmd(&["SET", "k", "v"]), Reply::status("QUEUED"));
        assert_eq!(
            runner.cmd(&["EVAL", "while true do end", "0"]),
            Reply::status("QUEUED")
        );
        runner.send(&common::encode(&["EXEC"]));
        assert!(
            common::eventually(Duration::from_secs(5), || {
                matches!(c.cmd(&["PING"]), Reply::Error(e) if e.starts_with("BUSY"))
            }),
            "no -BUSY while EXEC's script runs"
        );
        assert_eq!(c.cmd(&["SCRIPT", "KILL"]), Reply::ok());
        let r = runner.read_reply();
        let items = r.as_array();
        assert_eq!(items[0], Reply::ok());
        assert!(
            items[1].as_err().starts_with("ERR Script killed by user"),
            "{r:?}"
        );
        assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
        c.ok(&["CONFIG", "SET", "busy-reply-threshold", "5000"]);
        c.ok(&["FUNCTION", "FLUSH"]);
    });
}

/// A busy script that wrote cannot be killed (UNKILLABLE); SHUTDOWN NOSAVE, from a
/// connection on any thread, ends the server.
#[test]
fn a_busy_script_that_wrote_is_ended_by_shutdown_nosave() {
    if common::skip_against_redis("the test stops the server") {
        return;
    }
    for threads in [1, 4] {
        let mut s = common::Server::start(threads);
        let _runner = start_busy(
            &s,
            &[
                "EVAL",
                "redis.call('set', KEYS[1], 'x') while true do end",
                "1",
                "w",
            ],
            "SCRIPT",
        );
        let mut c = s.client();
        c.set_timeout(Duration::from_secs(5));
        assert!(c
            .err(&["SCRIPT", "KILL"])
            .starts_with("UNKILLABLE Sorry the script already executed write commands"),);
        c.send(&common::encode(&["SHUTDOWN", "NOSAVE"]));
        let status = s.signal_and_wait(0, Duration::from_secs(10));
        assert!(
            status.is_some(),
            "SHUTDOWN NOSAVE did not end the server ({threads} threads)"
        );
    }
}

/// FUNCTION LOAD, FCALL and FCALL_RO, FUNCTION LIST, DELETE and FLUSH.
#[test]
fn functions_load_and_run() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        let lib = "#!lua name=mylib\n\
                   redis.register_function('myset', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n\
                   redis.register_function{function_name='myget', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}}";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib]), Reply::bulk("mylib"));
        assert_eq!(
            c.err(&["FUNCTION", "LOAD", lib]),
            "ERR Library 'mylib' already exists"
        );
        assert_eq!(
            c.cmd(&["FUNCTION", "LOAD", "REPLACE", lib]),
            Reply::bulk("mylib")
        );
        assert_eq!(c.cmd(&["FCALL", "myset", "1", "{f}k", "v"]), Reply::ok());
        assert_eq!(c.cmd(&["FCALL_RO", "myget", "1", "{f}k"]), Reply::bulk("v"));
        // Every connection, on any thread, sees the library.
        for _ in 0..4 {
            assert_eq!(
                s.client().cmd(&["FCALL", "myget", "1", "{f}k"]),
                Reply::bulk("v")
            );
        }
        assert_eq!(
            c.err(&["FCALL_RO", "myset", "1", "{f}k", "v"]),
            "ERR Can not execute a script with write flag using *_ro command."
        );
        assert_eq!(c.err(&["FCALL", "nosuch", "0"]), "ERR Function not found");
        assert_eq!(
            c.err(&[
                "FUNCTION",
                "LOAD",
                "redis.register_function('x', function() end)"
            ]),
            "ERR Missing library metadata"
        );
        let other = "#!lua name=other\nredis.register_function('myget', function() return 1 end)";
        assert_eq!(
            c.err(&["FUNCTION", "LOAD", other]),
            "ERR Function myget already exists"
        );
        let names = c.cmd(&["FUNCTION", "LIST"]);
        let lib0 = names.as_array()[0].as_array();
        assert_eq!(lib0[1], Reply::bulk("mylib"));
        c.ok(&["FUNCTION", "DELETE", "mylib"]);
        assert_eq!(
            c.err(&["FCALL", "myget", "1", "{f}k"]),
            "ERR Function not found"
        );
        assert_eq!(
            c.err(&["FUNCTION", "DELETE", "mylib"]),
            "ERR Library not found"
        );
    });
}
