//! FUNCTION as Redis 7.0 has it, against the real server at one thread and at four:
//! LOAD's checks and the load-time sandbox, the load timeout, LIST's shape, DUMP and
//! RESTORE (their policies and errors, and payloads exchanged with a real
//! `redis-server` both ways, byte for byte), script flags for functions and EVAL's
//! `#!lua` shebang (maxmemory, a stale replica, cluster mode), and DEBUG RELOAD with
//! libraries. Everything but the exchange with a second server passes unchanged against
//! redis-server with TESSERA_TEST_AGAINST_REDIS=1.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{for_threads, for_threads_with, Client, RealRedis, Reply};

/// A library `name` with one function `f` whose body is `body`.
fn lib(name: &str, f: &str, body: &str) -> String {
    format!(
        "#!lua name={name}\nredis.register_function('{f}', function(KEYS, ARGV)\n {body} \nend)"
    )
}

/// FUNCTION LOAD of `code` (a library whose load fails), its error.
fn load_err(c: &mut Client, code: &str) -> String {
    c.err(&["FUNCTION", "LOAD", "REPLACE", code])
}

#[test]
fn load_checks_its_arguments_and_metadata() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        let code = lib("test", "test", "return 'hello'");
        assert_eq!(
            c.err(&["FUNCTION", "LOAD", "foo", "bar", &code]),
            "ERR Unknown option given: foo"
        );
        assert_eq!(
            c.err(&["FUNCTION", "LOAD"]),
            "ERR wrong number of arguments for 'function|load' command"
        );
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", &code]), Reply::bulk("test"));
        assert_eq!(
            c.err(&["FUNCTION", "LOAD", &code]),
            "ERR Library 'test' already exists"
        );
        // Function names are case-insensitive, library names are not.
        assert_eq!(c.cmd(&["FCALL", "TEST", "0"]), Reply::bulk("hello"));
        assert_eq!(
            c.cmd(&["FUNCTION", "LOAD", &lib("TEST", "other", "return 1")]),
            Reply::bulk("TEST")
        );
        assert_eq!(
            load_err(&mut c, &lib("lib2", "Test", "return 1")),
            "ERR Function Test already exists"
        );
        let cases = [
            ("redis.register_function('f', function() end)", "ERR Missing library metadata"),
            ("#!lua name=x", "ERR Invalid library metadata"),
            ("#!lua\nreturn", "ERR Library name was not given"),
            ("#! name=x\nreturn", "ERR Engine '' not found"),
            ("#!bad name=x\nreturn", "ERR Engine 'bad' not found"),
            (
                "#!lua name=x foo=bar\nreturn",
                "ERR Invalid metadata value given: foo=bar",
            ),
            (
                "#!lua name=x name=y\nreturn",
                "ERR Invalid metadata value, name argument was given multiple times",
            ),
            (
                "#!lua name=a-b\nreturn",
                "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
            ),
            ("#!lua name=x\nreturn 1", "ERR No functions registered"),
        ];
        for (code, want) in cases {
            assert_eq!(load_err(&mut c, code), want, "{code:?}");
        }
        assert!(load_err(&mut c, "#!lua name=x\nbad script")
            .starts_with("ERR Error compiling function: user_function:2:"));
        // The name may be quoted, as on a command line.
        assert_eq!(
            c.cmd(&["FUNCTION", "LOAD", &lib("\"quoted\"", "q", "return 1")]),
            Reply::bulk("quoted")
        );
    });
}

#[test]
fn register_function_checks_as_redis_does() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        let reg = |args: &str| format!("#!lua name=lib2\nredis.register_function({args})");
        let e = |m: &str| format!("ERR Error registering functions: ERR {m}");
        let cases = [
            ("", e("wrong number of arguments to redis.register_function")),
            ("'f1'", e("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")),
            ("'f1', function() return 1 end, {}, 'd', 'x'", e("wrong number of arguments to redis.register_function")),
            ("nil, function() return 1 end", e("first argument to redis.register_function must be a string")),
            ("'f1', 'not a function'", e("second argument to redis.register_function must be a function")),
            ("'', function() return 1 end", e("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")),
            ("{function_name=function() end, callback=function() end}", e("function_name argument given to redis.register_function must be a string")),
            ("{function_name='f', callback='bad'}", e("callback argument given to redis.register_function must be a function")),
            ("{function_name='f', callback=function() end, description={}}", e("description argument given to redis.register_function must be a string")),
            ("{function_name='f', callback=function() end, [1]=2}", e("unknown argument given to redis.register_function")),
            ("{function_name='f', callback=function() end, other=1}", e("unknown argument given to redis.register_function")),
            ("{callback=function() end}", e("redis.register_function must get a function name argument")),
            ("{function_name='f'}", e("redis.register_function must get a callback argument")),
            ("{function_name='f', callback=function() end, flags='no-writes'}", e("flags argument to redis.register_function must be a table representing function flags")),
            ("{function_name='f', callback=function() end, flags={'unknown'}}", e("unknown flag given")),
            ("{function_name='f', callback=function() end, flags={function() end}}", e("unknown flag given")),
        ];
        for (args, want) in cases {
            assert_eq!(load_err(&mut c, &reg(args)), want, "{args:?}");
        }
        let twice = "#!lua name=lib2\nredis.register_function('f1', function() return 1 end)\nredis.register_function('f1', function() return 1 end)";
        assert_eq!(
            load_err(&mut c, twice),
            e("Function already exists in the library")
        );
        assert_eq!(c.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
        // Numbers count as strings (their text), as in Redis.
        let numbers = "#!lua name=lib2\nredis.register_function{function_name=2, callback=function() return 1 end, description=3}";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", numbers]), Reply::bulk("lib2"));
        let want = listed("2", Some("3"), &[]);
        assert_eq!(
            c.cmd(&["FUNCTION", "LIST"]).as_array()[0].as_array()[5],
            Reply::Array(vec![want])
        );
        c.ok(&["FUNCTION", "FLUSH"]);
    });
}

#[test]
fn libraries_load_in_a_sandbox_and_all_or_nothing() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        let nonexistent = |name: &str| {
            format!(
                "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable '{name}'"
            )
        };
        for (code, name) in [
            ("return math.random()", "math"),
            ("return redis.call('ping')", "call"),
            ("return redis.setresp(3)", "setresp"),
            ("return redis.set_repl(redis.REPL_NONE)", "set_repl"),
            ("mt = getmetatable(_G)", "getmetatable"),
            ("redis.math.random()", "math"),
            ("redis.redis.call('ping')", "redis"),
        ] {
            assert_eq!(
                load_err(&mut c, &format!("#!lua name=lib2\n{code}")),
                nonexistent(name),
                "{code}"
            );
        }
        assert_eq!(
            load_err(&mut c, "#!lua name=lib2\na = 1"),
            "ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table"
        );
        // What the library shares with its functions: locals, and at run time the
        // globals scripts see.
        let lib1 = "#!lua name=lib1\nlocal function add1(a) return a + 1 end\nredis.register_function('f1', function() return add1(1) end)\nredis.register_function('f2', function() return redis.call('ping') end)";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", lib1]), Reply::bulk("lib1"));
        assert_eq!(c.cmd(&["FCALL", "f1", "0"]), Reply::int(2));
        assert_eq!(c.cmd(&["FCALL", "f2", "0"]), Reply::status("PONG"));
        // A registration that fails leaves the old library in place.
        let failing = "#!lua name=lib1\nredis.register_function('f1', function() return 5 end)\nredis.register_function('f2', 'not a function')";
        assert!(load_err(&mut c, failing).contains("second argument"));
        assert_eq!(c.cmd(&["FCALL", "f1", "0"]), Reply::int(2));
        assert_eq!(c.cmd(&["FCALL", "f2", "0"]), Reply::status("PONG"));
        // The load-time API, kept by a function, stays read-only and dead.
        let sneaky = "#!lua name=lib3\nlocal lib = redis\nlib.register_function('f3', function() lib.math = math end)\nlib.register_function('f4', function() lib.register_function('f5', function() end) end)\nlib.register_function('f6', function() redis.register_function('f7', function() end) end)";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", sneaky]), Reply::bulk("lib3"));
        assert!(c
            .err(&["FCALL", "f3", "0"])
            .contains("Attempt to modify a readonly table"));
        assert!(c
            .err(&["FCALL", "f4", "0"])
            .contains("redis.register_function can only be called on FUNCTION LOAD command"));
        assert!(c
            .err(&["FCALL", "f6", "0"])
            .contains("attempt to call field 'register_function' (a nil value)"));
        // The version constants, and the bit library at run time.
        let version = "#!lua name=ver\nlocal v = redis.REDIS_VERSION_NUM\nredis.register_function('v1', function() return string.format('%s.%s.%s', bit.band(bit.rshift(v, 16), 255), bit.band(bit.rshift(v, 8), 255), bit.band(v, 255)) end)\nredis.register_function('v2', function() return redis.REDIS_VERSION end)";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", version]), Reply::bulk("ver"));
        assert_eq!(c.cmd(&["FCALL", "v1", "0"]), c.cmd(&["FCALL", "v2", "0"]));
    });
}

#[test]
fn a_library_that_loads_forever_is_stopped_and_the_server_serves_on() {
    for_threads(|s| {
        let mut c = s.client();
        let mut other = s.client();
        let t0 = Instant::now();
        assert_eq!(
            c.err(&[
                "FUNCTION",
                "LOAD",
                "#!lua name=lib\nlocal a = 1\nwhile 1 do a = a + 1 end"
            ]),
            "ERR Error registering functions: ERR FUNCTION LOAD timeout"
        );
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
        assert_eq!(other.cmd(&["PING"]), Reply::status("PONG"));
        assert_eq!(c.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
        // The next load has its own time.
        assert_eq!(
            c.cmd(&["FUNCTION", "LOAD", &lib("ok", "ok", "return 1")]),
            Reply::bulk("ok")
        );
        assert_eq!(c.cmd(&["FCALL", "ok", "0"]), Reply::int(1));
        c.ok(&["FUNCTION", "FLUSH"]);
    });
}

/// One function's entry in FUNCTION LIST (RESP2).
fn listed(name: &str, description: Option<&str>, flags: &[&str]) -> Reply {
    Reply::Array(vec![
        Reply::bulk("name"),
        Reply::bulk(name),
        Reply::bulk("description"),
        description.map_or(Reply::Nil, Reply::bulk),
        Reply::bulk("flags"),
        Reply::Array(flags.iter().map(|f| Reply::status(f)).collect()),
    ])
}

#[test]
fn list_shows_descriptions_flags_and_code() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        let code = "#!lua name=lib\nredis.register_function{function_name='f1', callback=function() return 1 end, description='some desc', flags={'allow-cross-slot-keys', 'no-writes', 'allow-oom', 'no-cluster', 'allow-stale'}}";
        c.cmd(&["FUNCTION", "LOAD", code]);
        let plain = lib("library1", "f6", "return 7");
        c.cmd(&["FUNCTION", "LOAD", &plain]);
        let head = |name: &str| {
            vec![
                Reply::bulk("library_name"),
                Reply::bulk(name),
                Reply::bulk("engine"),
                Reply::bulk("LUA"),
                Reply::bulk("functions"),
            ]
        };
        let mut first = head("lib");
        first.push(Reply::Array(vec![listed(
            "f1",
            Some("some desc"),
            &[
                "no-writes",
                "allow-oom",
                "allow-stale",
                "no-cluster",
                "allow-cross-slot-keys",
            ],
        )]));
        assert_eq!(
            c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "LIB"]),
            Reply::Array(vec![Reply::Array(first)])
        );
        let mut second = head("library1");
        second.push(Reply::Array(vec![listed("f6", None, &[])]));
        second.push(Reply::bulk("library_code"));
        second.push(Reply::bulk(&plain));
        assert_eq!(
            c.cmd(&["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "library*"]),
            Reply::Array(vec![Reply::Array(second)])
        );
        assert_eq!(
            c.err(&["FUNCTION", "LIST", "LIBRARYNAME"]),
            "ERR library name argument was not given"
        );
        assert_eq!(
            c.err(&["FUNCTION", "LIST", "WITHCODE", "WITHCODE"]),
            "ERR Unknown argument WITHCODE"
        );
    });
}

#[test]
fn fcall_and_subcommand_argument_errors() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        c.cmd(&["FUNCTION", "LOAD", &lib("test", "test", "return 1")]);
        assert_eq!(
            c.err(&["FCALL", "test", "bad_arg"]),
            "ERR Bad number of keys provided"
        );
        assert_eq!(
            c.err(&["FCALL", "nosuch", "bad_arg"]),
            "ERR Function not found"
        );
        assert_eq!(
            c.err(&["FCALL", "test", "-1", "k"]),
            "ERR Number of keys can't be negative"
        );
        assert_eq!(
            c.err(&["FCALL", "test", "10", "k"]),
            "ERR Number of keys can't be greater than number of args"
        );
        assert_eq!(
            c.err(&["FUNCTION", "flush", "sync", "extra"]),
            "ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."
        );
        assert_eq!(
            c.err(&["FUNCTION", "FLUSH", "bad"]),
            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"
        );
        assert_eq!(
            c.err(&["FUNCTION", "restore", "a", "b", "c"]),
            "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP."
        );
        for sub in ["dump", "stats", "kill", "delete"] {
            assert_eq!(
                c.err(&["FUNCTION", sub, "a", "b"]),
                format!("ERR wrong number of arguments for 'function|{sub}' command")
            );
        }
        assert!(c
            .err(&["FUNCTION", "nosuch"])
            .starts_with("ERR unknown subcommand 'nosuch'"));
    });
}

/// FUNCTION DUMP's payload.
fn dump(c: &mut Client) -> Vec<u8> {
    c.cmd(&["FUNCTION", "DUMP"]).as_bytes().to_vec()
}

/// FUNCTION RESTORE of `payload` with `policy` words.
fn restore(c: &mut Client, payload: &[u8], policy: &[&str]) -> Reply {
    let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", payload];
    args.extend(policy.iter().map(|p| p.as_bytes()));
    c.cmd(&args)
}

#[test]
fn dump_and_restore_with_each_policy() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        c.cmd(&["FUNCTION", "LOAD", &lib("test", "test", "return 'hello'")]);
        let payload = dump(&mut c);
        c.ok(&["FUNCTION", "DELETE", "test"]);
        assert_eq!(restore(&mut c, &payload, &[]), Reply::ok());
        assert_eq!(c.cmd(&["FCALL", "test", "0"]), Reply::bulk("hello"));
        // APPEND (the default) refuses a library that is there.
        assert_eq!(
            restore(&mut c, &payload, &["APPEND"]),
            Reply::err("ERR Library test already exists")
        );
        // REPLACE takes its place; FLUSH drops everything else.
        c.cmd(&[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            &lib("test", "test", "return 'hello1'"),
        ]);
        c.cmd(&["FUNCTION", "LOAD", &lib("other", "other", "return 2")]);
        assert_eq!(restore(&mut c, &payload, &["REPLACE"]), Reply::ok());
        assert_eq!(c.cmd(&["FCALL", "test", "0"]), Reply::bulk("hello"));
        assert_eq!(c.cmd(&["FCALL", "other", "0"]), Reply::int(2));
        assert_eq!(restore(&mut c, &payload, &["flush"]), Reply::ok());
        assert_eq!(c.err(&["FCALL", "other", "0"]), "ERR Function not found");
        // A function name taken by another library fails even with REPLACE, and
        // nothing changes.
        c.ok(&["FUNCTION", "FLUSH"]);
        c.cmd(&["FUNCTION", "LOAD", &lib("lib2", "test", "return 3")]);
        assert_eq!(
            restore(&mut c, &payload, &["REPLACE"]),
            Reply::err("ERR Function test already exists")
        );
        assert_eq!(c.cmd(&["FCALL", "test", "0"]), Reply::int(3));
        assert_eq!(
            restore(&mut c, b"bad_payload", &[]),
            Reply::err("ERR DUMP payload version or checksum are wrong")
        );
        assert_eq!(
            restore(&mut c, &payload, &["BAD"]),
            Reply::err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
            )
        );
        assert_eq!(c.cmd(&["FCALL", "test", "0"]), Reply::int(3));
        // A key's payload is not a library.
        c.ok(&["SET", "k", "v"]);
        let key = c.cmd(&["DUMP", "k"]).as_bytes().to_vec();
        assert_eq!(
            restore(&mut c, &key, &[]),
            Reply::err("ERR given type is not a function")
        );
        c.ok(&["FUNCTION", "FLUSH"]);
    });
}

#[test]
fn payloads_travel_between_tessera_and_redis_both_ways() {
    if common::skip_against_redis("the exchange with a second server") {
        return;
    }
    let redis = RealRedis::start(&[]);
    let code = "#!lua name=mylib\nlocal function add1(a) return a + 1 end\nredis.register_function{function_name='f1', callback=function(keys, args) return add1(1) end, flags={'no-writes', 'allow-stale'}, description='adds'}\nredis.register_function('f2', function() return 7 end)";
    for_threads(|s| {
        let mut r = redis.client();
        let mut c = s.client();
        r.ok(&["FUNCTION", "FLUSH"]);
        c.ok(&["FUNCTION", "FLUSH"]);
        r.cmd(&["FUNCTION", "LOAD", code]);
        c.cmd(&["FUNCTION", "LOAD", code]);
        let from_redis = dump(&mut r);
        let from_here = dump(&mut c);
        assert_eq!(from_here, from_redis, "the same bytes as Redis's");
        r.ok(&["FUNCTION", "FLUSH"]);
        c.ok(&["FUNCTION", "FLUSH"]);
        assert_eq!(restore(&mut c, &from_redis, &[]), Reply::ok());
        assert_eq!(restore(&mut r, &from_here, &[]), Reply::ok());
        for x in [&mut r, &mut c] {
            assert_eq!(x.cmd(&["FCALL_RO", "f1", "0"]), Reply::int(2));
            assert_eq!(x.cmd(&["FCALL", "F2", "0"]), Reply::int(7));
        }
        // Several libraries (their order may differ; each side restores the other's).
        let second = lib("second", "s", "return 's'");
        r.cmd(&["FUNCTION", "LOAD", &second]);
        c.cmd(&["FUNCTION", "LOAD", &second]);
        let (from_redis, from_here) = (dump(&mut r), dump(&mut c));
        assert_eq!(restore(&mut c, &from_redis, &["FLUSH"]), Reply::ok());
        assert_eq!(restore(&mut r, &from_here, &["FLUSH"]), Reply::ok());
        for x in [&mut r, &mut c] {
            assert_eq!(x.cmd(&["FCALL", "s", "0"]), Reply::bulk("s"));
            assert_eq!(x.cmd(&["FCALL", "f2", "0"]), Reply::int(7));
        }
    });
}

#[test]
fn script_flags_are_validated_and_acted_on() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        let code = "#!lua name=flags\nredis.register_function{function_name='ro', callback=function() return redis.call('set', '{t}x', 1) end, flags={'no-writes'}}\nredis.register_function('rw', function() return redis.call('set', '{t}x', '1') end)\nredis.register_function{function_name='oom', callback=function() return redis.call('set', '{t}x', '2') end, flags={'allow-oom'}}\nredis.register_function{function_name='hello', callback=function() return 'hello' end, flags={'no-writes'}}";
        c.cmd(&["FUNCTION", "LOAD", code]);
        assert!(c
            .err(&["FCALL", "ro", "1", "{t}x"])
            .starts_with("ERR Write commands are not allowed from read-only scripts."));
        assert_eq!(
            c.err(&["FCALL_RO", "rw", "1", "{t}x"]),
            "ERR Can not execute a script with write flag using *_ro command."
        );
        // EVAL's shebang.
        let eval = |c: &mut Client, body: &str| c.cmd(&["EVAL", body, "0"]);
        assert_eq!(
            eval(&mut c, "#!lua flags=bad\nreturn 1"),
            Reply::err("ERR Unexpected flag in script shebang: bad")
        );
        assert_eq!(
            eval(&mut c, "#!lua foo=bar\nreturn 1"),
            Reply::err("ERR Unknown lua shebang option: foo=bar")
        );
        assert_eq!(
            eval(&mut c, "#!luax\nreturn 1"),
            Reply::err("ERR Unexpected engine in script shebang: #!luax")
        );
        assert_eq!(
            eval(&mut c, "#!lua"),
            Reply::err("ERR Invalid script shebang")
        );
        assert_eq!(
            c.cmd(&["SCRIPT", "LOAD", "#!lua flags=bad\nreturn 1"]),
            Reply::err("ERR Unexpected flag in script shebang: bad")
        );
        assert_eq!(
            eval(&mut c, "#!lua flags=no-writes\nreturn 1"),
            Reply::int(1)
        );
        assert_eq!(
            c.cmd(&["EVAL_RO", "#!lua flags=no-writes,allow-oom\nreturn 2", "0"]),
            Reply::int(2)
        );
        assert_eq!(
            c.err(&["EVAL_RO", "#!lua\nreturn 2", "0"]),
            "ERR Can not execute a script with write flag using *_ro command."
        );
        // A shebang line keeps the script's line numbers.
        assert!(eval(&mut c, "#!lua\nreturn nosuch").as_err().starts_with(
            "ERR user_script:2: Script attempted to access nonexistent global variable 'nosuch'"
        ));
        // maxmemory: a script that may write is refused, unless it allows OOM or
        // declares no writes.
        c.ok(&["CONFIG", "SET", "maxmemory", "1"]);
        assert!(c
            .err(&["FCALL", "rw", "1", "{t}x"])
            .starts_with("OOM command not allowed when used memory > 'maxmemory'"));
        assert_eq!(c.cmd(&["FCALL", "oom", "1", "{t}x"]), Reply::ok());
        assert_eq!(
            c.cmd(&["FCALL", "hello", "1", "{t}x"]),
            Reply::bulk("hello")
        );
        assert_eq!(
            c.cmd(&["FCALL_RO", "hello", "1", "{t}x"]),
            Reply::bulk("hello")
        );
        assert!(c.err(&["EVAL", "#!lua\nreturn 1", "0"]).starts_with("OOM "));
        assert_eq!(
            eval(&mut c, "#!lua flags=allow-oom\nreturn 3"),
            Reply::int(3)
        );
        // Without a shebang (compatibility mode) a script runs, and its first
        // write that may add data fails.
        assert!(c
            .err(&[
                "EVAL",
                "redis.call('set', KEYS[1], 1) return 1",
                "1",
                "{t}x"
            ])
            .starts_with("OOM command not allowed when used memory > 'maxmemory'."));
        assert_eq!(
            c.cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "{t}x"]),
            Reply::bulk("2")
        );
        assert!(c
            .err(&["FUNCTION", "LOAD", "REPLACE", code])
            .starts_with("OOM command not allowed when used memory"));
        c.ok(&["CONFIG", "SET", "maxmemory", "0"]);
        assert_eq!(c.cmd(&["GET", "{t}x"]), Reply::bulk("2"));
        c.ok(&["FUNCTION", "FLUSH"]);
    });
}

#[test]
fn no_cluster_scripts_are_refused_in_cluster_mode() {
    for_threads_with(&[], Some("cluster-enabled yes\n"), |s| {
        let mut c = s.client();
        let code = "#!lua name=nc\nredis.register_function{function_name='nc', callback=function() return 1 end, flags={'no-cluster'}}\nredis.register_function{function_name='ok', callback=function() return 2 end, flags={'no-writes'}}";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", code]), Reply::bulk("nc"));
        let refused = "ERR Can not run script on cluster, 'no-cluster' flag is set.";
        assert_eq!(c.err(&["FCALL", "nc", "0"]), refused);
        assert_eq!(c.cmd(&["FCALL", "ok", "0"]), Reply::int(2));
        assert_eq!(
            c.err(&["EVAL", "#!lua flags=no-cluster\nreturn 1", "0"]),
            refused
        );
    });
}

#[test]
fn debug_reload_keeps_libraries_and_honours_its_options() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["FUNCTION", "FLUSH"]);
        c.cmd(&["FUNCTION", "LOAD", &lib("test1", "test1", "return 'hello'")]);
        c.ok(&["DEBUG", "RELOAD"]);
        assert_eq!(c.cmd(&["FCALL", "test1", "0"]), Reply::bulk("hello"));
        // NOFLUSH: the saved library is still there, which fails the load...
        assert!(c
            .err(&["DEBUG", "RELOAD", "NOFLUSH"])
            .contains("Error trying to load the RDB"));
        // ...unless MERGE lets the saved one replace it.
        c.ok(&["DEBUG", "RELOAD", "NOFLUSH", "MERGE"]);
        c.cmd(&[
            "FUNCTION",
            "LOAD",
            &lib("test2", "test2", "return 'hello2'"),
        ]);
        c.ok(&["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"]);
        assert_eq!(c.cmd(&["FCALL", "test1", "0"]), Reply::bulk("hello"));
        assert_eq!(c.cmd(&["FCALL", "test2", "0"]), Reply::bulk("hello2"));
        // Without NOFLUSH the libraries are those of the file.
        c.ok(&["DEBUG", "RELOAD", "NOSAVE"]);
        assert_eq!(c.err(&["FCALL", "test2", "0"]), "ERR Function not found");
        c.ok(&["FUNCTION", "FLUSH"]);
    });
}

#[test]
fn allow_stale_scripts_run_on_a_stale_replica() {
    for_threads(|s| {
        let mut c = s.client();
        let code = "#!lua name=stale\nredis.register_function{function_name='f1', callback=function() return 'hello' end, flags={'no-writes'}}\nredis.register_function{function_name='f2', callback=function() return 'hello' end, flags={'allow-stale', 'no-writes'}}\nredis.register_function{function_name='f3', callback=function() return redis.call('get', 'x') end, flags={'allow-stale', 'no-writes'}}";
        assert_eq!(c.cmd(&["FUNCTION", "LOAD", code]), Reply::bulk("stale"));
        c.ok(&["CONFIG", "SET", "replica-serve-stale-data", "no"]);
        c.ok(&["REPLICAOF", "127.0.0.1", "1"]);
        assert!(c.err(&["FCALL", "f1", "0"]).starts_with("MASTERDOWN "));
        assert_eq!(c.cmd(&["FCALL", "f2", "0"]), Reply::bulk("hello"));
        assert!(c
            .err(&["FCALL", "f3", "0"])
            .starts_with("ERR Can not execute the command on a stale replica"));
        // A script without a shebang does not run stale; one that allows it does.
        assert!(c.err(&["EVAL", "return 1", "0"]).starts_with("MASTERDOWN "));
        assert_eq!(
            c.cmd(&["EVAL", "#!lua flags=allow-stale,no-writes\nreturn 5", "0"]),
            Reply::int(5)
        );
        c.ok(&["REPLICAOF", "NO", "ONE"]);
        c.ok(&["CONFIG", "SET", "replica-serve-stale-data", "yes"]);
        c.ok(&["FUNCTION", "FLUSH"]);
    });
}
