//! EVAL, EVALSHA, EVAL_RO and SCRIPT against the real server, at one thread and at
//! four (where a script's keys may live on several shards). Everything but the
//! non-local-key check passes unchanged against redis-server with
//! TESSERA_TEST_AGAINST_REDIS=1.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
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

/// `EVAL body 0` on `c`.
fn eval0(c: &mut common::Client, body: &str) -> Reply {
    c.cmd(&["EVAL", body, "0"])
}

/// The error of `EVAL body 0` without its ` script: <sha>, on ...` tail.
fn eval0_err(c: &mut common::Client, body: &str) -> String {
    let e = c.err(&["EVAL", body, "0"]);
    e.split(" script: ").next().unwrap_or_default().to_string()
}

/// Lua that returns the bytes of `expr` (a string) in hex.
fn hex_of(expr: &str) -> String {
    format!(
        "local s = {expr} local h = '' for i = 1, #s do h = h .. string.format('%02x', s:byte(i)) end return h"
    )
}

// The expected values below are what Redis 7.0.15 replied to the same
// scripts (its bit, struct and cmsgpack libraries).
#[test]
fn bit_library_is_luabitop() {
    for_threads(|s| {
        let mut c = s.client();
        let ints = |v: &[i64]| Reply::Array(v.iter().map(|&n| Reply::int(n)).collect());
        assert_eq!(
            eval0(&mut c, "return {bit.tobit(0xffffffff), bit.tobit(2^32+5), bit.tobit(-1), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(-2.5), bit.tobit(2^52+3), bit.tobit('12')}"),
            ints(&[-1, 5, -1, 2, 2, -2, 2, 12])
        );
        assert_eq!(
            eval0(&mut c, "return {bit.tohex(1), bit.tohex(-1), bit.tohex(255, 2), bit.tohex(255, -4), bit.tohex(0x12345678, 20), bit.tohex(5, 0), bit.tohex(-1, -8), bit.tohex(1e20)}"),
            Reply::bulks(&["00000001", "ffffffff", "ff", "00FF", "12345678", "", "FFFFFFFF", "78b58c40"])
        );
        assert_eq!(
            eval0(&mut c, "return {bit.bnot(0), bit.band(0xff, 0x0f, 0x3), bit.bor(1), bit.bxor(5, 3, 1), bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.rshift(-1, 28), bit.arshift(-256, 4), bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678), bit.lshift(1, -1), bit.tobit(1e20)}"),
            ints(&[-1, 3, 1, 7, -2147483648, 1, 2, 15, -16, 878082066, 2014458966, 2018915346, -2147483648, 2025163840])
        );
        assert_eq!(
            eval0_err(&mut c, "return bit.band('x')"),
            "ERR user_script:1: bad argument #1 to 'band' (number expected, got string)"
        );
        assert_eq!(
            eval0_err(&mut c, "return bit.bor(1, nil)"),
            "ERR user_script:1: bad argument #2 to 'bor' (number expected, got nil)"
        );
        assert_eq!(
            eval0_err(&mut c, "\n\nreturn bit.tobit()"),
            "ERR user_script:3: bad argument #1 to 'tobit' (number expected, got no value)"
        );
    });
}

#[test]
fn struct_library_is_lua_struct() {
    for_threads(|s| {
        let mut c = s.client();
        let hex = |c: &mut common::Client, expr: &str| eval0(c, &hex_of(expr));
        assert_eq!(
            hex(&mut c, "struct.pack('>i<i!4hbi', 1, 2, 3, 4, 5)"),
            Reply::bulk("00000001020000000300040005000000")
        );
        assert_eq!(
            hex(&mut c, "struct.pack('bBhHlLTiIi3I7fdxc3c0s', -1, 255, -2, 65535, -3, 4, 5, -6, 7, -8, 9, 1.5, 2.25, 'abcdef', 'xy', 'zz')"),
            Reply::bulk("fffffefffffffdffffffffffffff04000000000000000500000000000000faffffff07000000f8ffff090000000000000000c03f00000000000002400061626378797a7a00")
        );
        assert_eq!(
            hex(&mut c, "struct.pack('!bd!2bi!bh', 1, 2, 3, 4, 5, 6)"),
            Reply::bulk("0100000000000000000000000000004003000400000005000600")
        );
        assert_eq!(
            hex(&mut c, "struct.pack('L', 2^64+5000)"),
            Reply::bulk("0000000000000000")
        );
        assert_eq!(
            eval0(&mut c, "return {struct.unpack('<i>ibBhs', '\\1\\0\\0\\0\\0\\0\\0\\2\\255\\255\\254\\255hello\\0rest')}"),
            Reply::Array(vec![Reply::int(1), Reply::int(2), Reply::int(-1), Reply::int(255), Reply::int(-257), Reply::bulk("hello"), Reply::int(19)])
        );
        assert_eq!(
            eval0(&mut c, "return {struct.unpack('bc0', '\\3abcd')}"),
            Reply::Array(vec![Reply::bulk("abc"), Reply::int(5)])
        );
        assert_eq!(
            eval0(
                &mut c,
                "return {struct.unpack('!i3b', '\\1\\2\\3\\4\\5\\6\\7')}"
            ),
            Reply::Array(vec![Reply::int(328707), Reply::int(6), Reply::int(7)])
        );
        assert_eq!(
            eval0(&mut c, "return {struct.size('i'), struct.size('!bd'), struct.size('bd'), struct.size('c10h'), struct.size('<i8'), struct.size('zq')}"),
            Reply::Array([4, 16, 9, 12, 8, 0].iter().map(|&n| Reply::int(n)).collect())
        );
        assert_eq!(
            eval0(
                &mut c,
                "return tostring(struct.unpack('<f', struct.pack('<f', 0.1)))"
            ),
            Reply::bulk("0.10000000149012")
        );
        for (body, err) in [
            (
                "return struct.size('s')",
                "bad argument #1 to 'size' (option 's' has no fixed size)",
            ),
            (
                "return struct.pack('z', 1)",
                "bad argument #1 to 'pack' (invalid format option 'z')",
            ),
            (
                "return struct.pack('!3b', 1)",
                "alignment 3 is not a power of 2",
            ),
            (
                "return struct.pack('c5', 'ab')",
                "bad argument #3 to 'pack' (string too short)",
            ),
            (
                "return struct.pack('i33', 1)",
                "integral size 33 is larger than limit of 32",
            ),
            (
                "return struct.pack('i')",
                "bad argument #2 to 'pack' (number expected, got nil)",
            ),
            (
                "return struct.unpack('i', 'ab')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            (
                "return struct.unpack('i', 'abcd', 0)",
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            (
                "return struct.unpack('s', 'abc')",
                "unfinished string in data",
            ),
            (
                "return struct.unpack('c0', 'abc')",
                "format 'c0' needs a previous size",
            ),
        ] {
            assert_eq!(
                eval0_err(&mut c, body),
                format!("ERR user_script:1: {err}"),
                "{body}"
            );
        }
    });
}

#[test]
fn cmsgpack_library_is_lua_cmsgpack() {
    for_threads(|s| {
        let mut c = s.client();
        let hex = |c: &mut common::Client, expr: &str| eval0(c, &hex_of(expr));
        // The unit's own cases: a double, a negative int64, and a circular
        // reference cut at 16 levels.
        assert_eq!(
            hex(&mut c, "cmsgpack.pack(0.1)"),
            Reply::bulk("cb3fb999999999999a")
        );
        assert_eq!(
            hex(&mut c, "cmsgpack.pack(-1099511627776)"),
            Reply::bulk("d3ffffff0000000000")
        );
        assert_eq!(
            hex(&mut c, "(function() local a = {x=nil,y=5} local b = {x=a} a['x'] = b return cmsgpack.pack(a) end)()"),
            Reply::bulk(format!("{}c0", "82a17905a17881a178".repeat(8)))
        );
        assert_eq!(
            hex(&mut c, "cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 2^32-1, 2^32, -1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31-1, 2^63, 2^64, -2^63, 1.5, 0.1, 1/0, -1/0, -0.0, 2^53, true, false, nil)"),
            Reply::bulk("007fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffffca5f000000ca5f800000d38000000000000000ca3fc00000cb3fb999999999999aca7f800000caff80000000cf0020000000000000c3c2c0")
        );
        assert_eq!(
            hex(&mut c, "cmsgpack.pack('', string.rep('a', 31), string.rep('b', 32), {}, {1, 2}, {a = 1}, {[1] = 1, [3] = 3}, {[1.5] = 1}, {['1'] = 2}, {[-1] = 1}, {[0] = 1}, redis.call, {[2] = 5})"),
            Reply::bulk("a0bf61616161616161616161616161616161616161616161616161616161616161d92062626262626262626262626262626262626262626262626262626262626262629092010281a16101820101030381ca3fc000000181a1310281ff01810001c0810205")
        );
        assert_eq!(
            eval0(&mut c, "local s = cmsgpack.pack(string.rep('a', 255), string.rep('a', 256), string.rep('a', 65536)) return {#s, s:byte(1), s:byte(258), s:byte(258 + 259)}"),
            Reply::Array([66057, 217, 218, 219].iter().map(|&n| Reply::int(n)).collect())
        );
        // Unpacking, whole and by parts.
        assert_eq!(
            eval0(&mut c, "return {cmsgpack.unpack('\\204\\255\\205\\1\\0\\206\\0\\1\\0\\0\\207\\0\\0\\0\\1\\0\\0\\0\\0\\208\\128\\209\\128\\0\\210\\128\\0\\0\\0\\211\\255\\255\\255\\255\\255\\255\\255\\255\\224')}"),
            Reply::Array([255, 256, 65536, 4294967296, -128, -32768, -2147483648, -1, -32].iter().map(|&n| Reply::int(n)).collect())
        );
        let ints = |v: &[i64]| Reply::Array(v.iter().map(|&n| Reply::int(n)).collect());
        assert_eq!(
            eval0(&mut c, "return {cmsgpack.unpack_one('\\1\\2\\3')}"),
            ints(&[1, 1])
        );
        assert_eq!(
            eval0(&mut c, "return {cmsgpack.unpack_one('\\1\\2\\3', 2)}"),
            ints(&[-1, 3])
        );
        assert_eq!(
            eval0(&mut c, "return {cmsgpack.unpack_limit('\\1\\2\\3', 2)}"),
            ints(&[2, 1, 2])
        );
        assert_eq!(
            eval0(&mut c, "return {cmsgpack.unpack_limit('\\1\\2\\3', 0)}"),
            ints(&[1, 2, 3])
        );
        assert_eq!(
            eval0(&mut c, "return {cmsgpack.unpack_limit('\\1\\2\\3', 0, 1)}"),
            ints(&[1])
        );
        assert_eq!(
            eval0(&mut c, "local t = cmsgpack.unpack('\\130\\1\\2\\163abc\\195') return {t[1], tostring(t.abc)}"),
            Reply::Array(vec![Reply::int(2), Reply::bulk("true")])
        );
        for (body, err) in [
            (
                "return cmsgpack.pack()",
                "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)",
            ),
            (
                "return cmsgpack.unpack('\\193')",
                "user_script:1: Bad data format in input.",
            ),
            (
                "return cmsgpack.unpack('\\147\\1')",
                "user_script:1: Missing bytes in input.",
            ),
            (
                "return cmsgpack.unpack_one('\\1\\2\\3', 4)",
                "user_script:1: Start offset 4 greater than input length 3.",
            ),
            (
                "return cmsgpack.unpack_one('\\1\\2\\3', -1)",
                "user_script:1: Invalid request to unpack with offset of -1 and limit of 3.",
            ),
            (
                "return cmsgpack.unpack('\\129\\192\\1')",
                "table index is nil",
            ),
        ] {
            assert_eq!(eval0_err(&mut c, body), format!("ERR {err}"), "{body}");
        }
        // The unit's smoke test, in short: what goes in comes back.
        assert_eq!(
            eval0(&mut c, "local big = {} for i = 1, 100000 do big[i] = i end local t = {s = string.rep('x', 70000), a = big, m = {a = 1, b = {2, 3}}, f = false} local r = cmsgpack.unpack(cmsgpack.pack(t)) return {#r.s, #r.a, r.a[99999], r.m.a, r.m.b[2], tostring(r.f)}"),
            Reply::Array(vec![Reply::int(70000), Reply::int(100000), Reply::int(99999), Reply::int(1), Reply::int(3), Reply::bulk("false")])
        );
    });
}

#[test]
fn libraries_and_redis_table_are_read_only() {
    for_threads(|s| {
        let mut c = s.client();
        for body in [
            "bit.lshift = function() return 1 end",
            "cmsgpack.pack = function() return 1 end",
            "struct.pack = function() return 1 end",
            "cjson.encode = function() return 1 end",
            "redis.call = function() return 1 end",
        ] {
            let e = eval0_err(&mut c, body);
            assert!(
                e.contains("Attempt to modify a readonly table"),
                "{body}: {e}"
            );
        }
        // Precompiled code is refused, as Redis's Lua parses only text.
        assert_eq!(
            eval0(&mut c, "local f, e = loadstring(string.dump(function() return 1 end)) return {tostring(f), e}"),
            Reply::bulks(&["nil", "[string \"\x1bLuaQ\"]:1: unexpected symbol near 'char(27)'"])
        );
        assert_eq!(
            eval0(&mut c, "return loadstring('return 7')()"),
            Reply::int(7)
        );
    });
}

#[test]
fn reply_helpers_and_pcall_behave_as_in_redis_7() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(
            eval0(&mut c, "return redis.error_reply('MY_ERR_CODE custom msg')"),
            Reply::err("MY_ERR_CODE custom msg")
        );
        assert_eq!(
            eval0(&mut c, "return redis.error_reply('')"),
            Reply::err("ERR ")
        );
        assert_eq!(
            eval0(&mut c, "return redis.error_reply('-X')"),
            Reply::err("ERR X")
        );
        assert_eq!(
            eval0(&mut c, "return redis.error_reply(5)"),
            Reply::err("ERR wrong number or type of arguments")
        );
        assert_eq!(
            eval0(&mut c, "return redis.status_reply('')"),
            Reply::status("")
        );
        assert_eq!(
            eval0(&mut c, "return redis.status_reply()"),
            Reply::err("ERR wrong number or type of arguments")
        );
        assert_eq!(
            eval0_err(&mut c, "return redis.sha1hex()"),
            "ERR wrong number of arguments"
        );
        assert_eq!(
            eval0(&mut c, "return redis.sha1hex(12)"),
            Reply::bulk("7b52009b64fd0a2a49e6d8a939753077792b0554")
        );
        assert_eq!(
            eval0_err(&mut c, "return redis.setresp(4)"),
            "ERR RESP version must be 2 or 3."
        );
        assert_eq!(
            eval0_err(&mut c, "return redis.setresp()"),
            "ERR redis.setresp() requires one argument."
        );
        // pcall hands back an error table's message; pcall of the
        // redis.pcall style returns the table, flagged when the command
        // counted it already.
        assert_eq!(
            eval0(
                &mut c,
                "local ok, e = pcall(redis.call, 'nosuch') return {tostring(ok), e}"
            ),
            Reply::bulks(&["false", "ERR Unknown Redis command called from script"])
        );
        assert_eq!(
            eval0(
                &mut c,
                "local ok, e = pcall(function() return bit.band('x') end) return e"
            ),
            Reply::bulk("user_script:1: bad argument #1 to 'band' (number expected, got string)")
        );
        assert_eq!(
            eval0(&mut c, "local t = redis.pcall('select', 99) return {t.err, tostring(t.ignore_error_stats_update)}"),
            Reply::bulks(&["ERR DB index is out of range", "true"])
        );
        assert_eq!(
            eval0(&mut c, "local t = redis.pcall('get', {}) return {t.err, tostring(t.ignore_error_stats_update)}"),
            Reply::bulks(&["ERR Lua redis lib command arguments must be strings or integers", "nil"])
        );
        // The line of the error is the script's, a tail call included.
        assert_eq!(
            c.err(&["EVAL", "\nreturn redis.call('select', 99)", "0"]),
            "ERR DB index is out of range script: 14338127bc8302ce935dffba0b653dd82f5d6e54, on @user_script:2."
        );
        assert_eq!(
            c.cmd(&["EVAL", "local a = {}\nfor i=1,7990 do\na[i] = 1\nend\nreturn redis.call('lpush', 'l', unpack(a))", "1", "l"]),
            Reply::int(7990)
        );
    });
}

#[test]
fn script_errors_are_counted_once() {
    if common::skip_against_redis("counters summed per thread") {
        return;
    }
    for_threads(|s| {
        let mut c = s.client();
        let info = |c: &mut common::Client, section: &str| c.cmd(&["INFO", section]).as_string();
        let stat = |text: &str, key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
                .unwrap_or_default()
        };
        c.ok(&["CONFIG", "RESETSTAT"]);
        c.err(&["EVAL", "return redis.call('select', 99)", "0"]);
        let errors = info(&mut c, "errorstats");
        assert_eq!(stat(&errors, "errorstat_ERR:"), "count=1");
        assert_eq!(stat(&info(&mut c, "stats"), "total_error_replies:"), "1");
        let cmds = info(&mut c, "commandstats");
        assert!(
            stat(&cmds, "cmdstat_select:").contains("rejected_calls=0,failed_calls=1"),
            "{cmds}"
        );
        assert!(
            stat(&cmds, "cmdstat_eval:").contains("rejected_calls=0,failed_calls=1"),
            "{cmds}"
        );
        c.ok(&["CONFIG", "RESETSTAT"]);
        assert_eq!(
            eval0(&mut c, "return redis.error_reply('MY_ERR x')"),
            Reply::err("MY_ERR x")
        );
        assert_eq!(
            stat(&info(&mut c, "errorstats"), "errorstat_MY_ERR:"),
            "count=1"
        );
        // Over maxmemory: the write is refused inside the script.
        c.ok(&["CONFIG", "RESETSTAT"]);
        c.ok(&["CONFIG", "SET", "maxmemory", "1"]);
        let e = c.err(&["EVAL", "return redis.call('set', KEYS[1], 'y')", "1", "x"]);
        c.ok(&["CONFIG", "SET", "maxmemory", "0"]);
        assert!(
            e.starts_with("OOM command not allowed when used memory > 'maxmemory'."),
            "{e}"
        );
        assert_eq!(
            stat(&info(&mut c, "errorstats"), "errorstat_OOM:"),
            "count=1"
        );
        let cmds = info(&mut c, "commandstats");
        assert!(
            stat(&cmds, "cmdstat_set:").starts_with("calls=0,"),
            "{cmds}"
        );
        assert!(
            stat(&cmds, "cmdstat_set:").contains("rejected_calls=1,failed_calls=0"),
            "{cmds}"
        );
    });
}

/// The raw reply to `args` on a connection speaking RESP `proto` (markers
/// before and after it show where it starts and ends).
fn raw_reply(c: &mut common::Client, proto: &str, args: &[&str]) -> Vec<u8> {
    c.send(&common::encode(&["HELLO", proto]));
    c.send(&common::encode(&["PING", "START-OF-REPLY"]));
    c.send(&common::encode(args));
    c.send(&common::encode(&["PING", "END-OF-REPLY"]));
    let (start, end) = (b"$14\r\nSTART-OF-REPLY\r\n", b"$12\r\nEND-OF-REPLY\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut stream = c.stream().try_clone().unwrap();
    while !got.ends_with(end) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        got.extend_from_slice(&buf[..n]);
    }
    got.truncate(got.len() - end.len());
    let at = got.windows(start.len()).position(|w| w == start).unwrap() + start.len();
    got[at..].to_vec()
}

#[test]
fn resp3_replies_in_and_out_of_scripts() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["HSET", "{h}hash", "field", "value"]);
        let hgetall = "redis.setresp(3); return redis.call('hgetall', KEYS[1])";
        assert_eq!(
            raw_reply(&mut c, "3", &["EVAL", hgetall, "1", "{h}hash"]),
            b"%1\r\n$5\r\nfield\r\n$5\r\nvalue\r\n"
        );
        assert_eq!(
            raw_reply(&mut c, "2", &["EVAL", hgetall, "1", "{h}hash"]),
            b"*2\r\n$5\r\nfield\r\n$5\r\nvalue\r\n"
        );
        // DEBUG PROTOCOL's types through a script, as Redis 7.0 converts
        // them (it lets scripts call DEBUG after SET-DISABLE-DENY-SCRIPTS).
        c.ok(&["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "1"]);
        let dump = "local function dump(v) if type(v) == 'table' then local r = {} for k, x in pairs(v) do r[#r+1] = tostring(k) .. '=' .. dump(x) end table.sort(r) return '{' .. table.concat(r, ',') .. '}' end return type(v) .. ':' .. tostring(v) end redis.setresp(3) local r = {} for _, t in ipairs({'double','bignum','null','set','map','verbatim','true','false'}) do r[#r+1] = t .. ' -> ' .. dump(redis.call('debug', 'protocol', t)) end return r";
        assert_eq!(
            eval0(&mut c, dump),
            Reply::bulks(&[
                "double -> {double=number:3.141}",
                "bignum -> {big_number=string:1234567999999999999999999999999999999}",
                "null -> nil:nil",
                "set -> {set={0=boolean:true,1=boolean:true,2=boolean:true}}",
                "map -> {map={0=boolean:false,1=boolean:true,2=boolean:false}}",
                "verbatim -> {verbatim_string={format=string:txt,string=string:This is a verbatim\nstring}}",
                "true -> boolean:true",
                "false -> boolean:false",
            ])
        );
        let proto =
            |t: &str| format!("redis.setresp(3) return redis.call('debug', 'protocol', '{t}')");
        for (t, r3, r2) in [
            ("double", &b",3.141\r\n"[..], &b"$5\r\n3.141\r\n"[..]),
            (
                "bignum",
                b"(1234567999999999999999999999999999999\r\n",
                b"$37\r\n1234567999999999999999999999999999999\r\n",
            ),
            ("true", b"#t\r\n", b":1\r\n"),
            ("false", b"#f\r\n", b":0\r\n"),
            ("null", b"_\r\n", b"$-1\r\n"),
            (
                "verbatim",
                b"=29\r\ntxt:This is a verbatim\nstring\r\n",
                b"$25\r\nThis is a verbatim\nstring\r\n",
            ),
            (
                "attrib",
                b"$39\r\nSome real reply following the attribute\r\n",
                b"$39\r\nSome real reply following the attribute\r\n",
            ),
        ] {
            assert_eq!(
                raw_reply(&mut c, "3", &["EVAL", &proto(t), "0"]),
                r3,
                "{t} to RESP3"
            );
            assert_eq!(
                raw_reply(&mut c, "2", &["EVAL", &proto(t), "0"]),
                r2,
                "{t} to RESP2"
            );
        }
        c.ok(&["DEBUG", "SET-DISABLE-DENY-SCRIPTS", "0"]);
        assert!(eval0_err(&mut c, &proto("true"))
            .starts_with("ERR This Redis command is not allowed from script"));
        // Tables a script returns.
        for (body, r3, r2) in [
            (
                "return {double = 0.1}",
                &b",0.10000000000000001\r\n"[..],
                &b"$19\r\n0.10000000000000001\r\n"[..],
            ),
            (
                "return {big_number = '1\\r\\n2'}",
                b"(1  2\r\n",
                b"$4\r\n1  2\r\n",
            ),
            (
                "return {verbatim_string = {format = 'toolong', string = 'hi'}}",
                b"=6\r\ntoo:hi\r\n",
                b"$2\r\nhi\r\n",
            ),
            (
                "return {map = {a = 1}, ok = 'fine'}",
                b"+fine\r\n",
                b"+fine\r\n",
            ),
            (
                "return {map = {a = 1}}",
                b"%1\r\n$1\r\na\r\n:1\r\n",
                b"*2\r\n$1\r\na\r\n:1\r\n",
            ),
            (
                "return {set = {[1] = true, [2] = false}}",
                b"~2\r\n:1\r\n:2\r\n",
                b"*2\r\n:1\r\n:2\r\n",
            ),
            ("return {double = 'x'}", b"*0\r\n", b"*0\r\n"),
            ("return false", b"_\r\n", b"$-1\r\n"),
            ("redis.setresp(3) return false", b"#f\r\n", b":0\r\n"),
        ] {
            assert_eq!(
                raw_reply(&mut c, "3", &["EVAL", body, "0"]),
                r3,
                "{body} to RESP3"
            );
            assert_eq!(
                raw_reply(&mut c, "2", &["EVAL", body, "0"]),
                r2,
                "{body} to RESP2"
            );
        }
    });
}

#[test]
fn acl_check_cmd_answers_for_the_caller() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">123",
            "+@scripting",
            "+set",
            "~x*",
        ]);
        c.ok(&["AUTH", "bob", "123"]);
        assert_eq!(
            c.cmd(&[
                "EVAL",
                "return redis.acl_check_cmd('set','xx',1)",
                "1",
                "xx"
            ]),
            Reply::int(1)
        );
        assert_eq!(
            c.cmd(&[
                "EVAL",
                "return redis.acl_check_cmd('hset','xx','f',1)",
                "1",
                "xx"
            ]),
            Reply::Nil
        );
        assert_eq!(
            eval0(&mut c, "return redis.acl_check_cmd('set','yy',1)"),
            Reply::Nil
        );
        assert_eq!(
            eval0_err(&mut c, "return redis.acl_check_cmd('invalid-cmd','arg')"),
            "ERR Invalid command passed to redis.acl_check_cmd()"
        );
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

/// Lua values held by Rust live on one Lua stack of ~8,000 slots: a cache
/// of one handle per compiled script, or a `redis.call` handed 7,999
/// arguments, used to abort the server. Neither may.
#[test]
fn many_scripts_and_many_arguments_do_not_crash() {
    for_threads(|s| {
        let mut c = s.client();
        for i in 0..9000 {
            assert_eq!(c.cmd(&["EVAL", &format!("return {i}"), "0"]), Reply::int(i));
        }
        let script = "local t = {} for i = 1, 7999 do t[i] = '{k}' .. i end \
                      return redis.pcall('mset', unpack(t))";
        assert_eq!(
            c.cmd(&["EVAL", script, "1", "{k}"]),
            Reply::err("ERR wrong number of arguments for 'mset' command")
        );
        let script = "local t = {} for i = 1, 7998 do t[i] = '{k}' .. i end \
                      return redis.call('mset', unpack(t))";
        assert_eq!(c.cmd(&["EVAL", script, "1", "{k}"]), Reply::ok());
        let script = "local t = {} for i = 1, 7999 do t[i] = '{k}' .. i end \
                      return #redis.call('mget', unpack(t))";
        assert_eq!(c.cmd(&["EVAL", script, "1", "{k}"]), Reply::int(7999));
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    });
}
