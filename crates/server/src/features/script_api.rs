//! What scripts see of Redis besides running commands (`script.rs` runs
//! them): the `redis` functions that are not `call`/`pcall`
//! (`error_reply`, `status_reply`, `sha1hex`, `setresp`), the libraries of
//! `lualib`, Lua's `pcall`, `xpcall`, `loadstring` and `load` as Redis 7.0
//! changes them, how an error escaping a script is read, and the two
//! conversions between command replies and Lua values, in RESP2 and RESP3.
//!
//! Errors. Redis's functions raise tables (`{err = "ERR ..."}`), and a
//! command's error carries `ignore_error_stats_update = true` (it was
//! counted when the command failed). Our Rust functions raise
//! [`lualib::Raised`]; every place Lua code can catch an error turns it
//! back into the value Redis's would have raised: the scripts' `pcall`
//! (which, as Redis 7.0's, hands back an error table's message instead of
//! the table), `xpcall`'s handler, and the message handler a script runs
//! under, which also notes the script line the error came from.
//!
//! Conversions, as Redis 7.0 makes them. A script starts in RESP2
//! (`redis.setresp(3)` switches); its commands reply in that protocol and
//! the replies become Lua values: integers numbers, bulk strings strings,
//! RESP2 nulls `false`, RESP3 null `nil`, status `{ok=}`, error `{err=}`,
//! and in RESP3 `{map={k=v}}`, `{set={m=true}}`, `{double=n}`,
//! `{big_number=s}`, `{verbatim_string={format=,string=}}`, booleans
//! (attributes are skipped). What a script returns goes the other way, in
//! the client's protocol; booleans follow the script's protocol
//! (RESP2: true 1, false null).

use std::cell::Cell;
use std::sync::atomic::AtomicBool;

use mlua::{Function, Lua, Table, Value, Variadic};
use resp::encode;

use super::lualib::{self, f64_to_i64, Args, Raised};

/// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call commands Redis keeps
/// from them (only DEBUG PROTOCOL among those runs inside a script here).
#[derive(Default)]
pub struct DenyScripts {
    pub disabled: AtomicBool,
}

thread_local! {
    /// The running script's protocol (`redis.setresp`): 2 or 3.
    static RESP: Cell<u8> = const { Cell::new(2) };
    /// The script line the last error escaping a script came from.
    static ERROR_LINE: Cell<i64> = const { Cell::new(0) };
}

/// A new script run: RESP2 until it asks otherwise.
pub fn start_run() {
    RESP.with(|r| r.set(2));
    ERROR_LINE.with(|l| l.set(0));
}

/// Whether the running script asked for RESP3.
pub fn resp3() -> bool {
    RESP.with(Cell::get) == 3
}

/// The script line the error escaping the script came from.
pub fn error_line() -> i64 {
    ERROR_LINE.with(Cell::get)
}

/// Lua run once per interpreter, after the sandbox is built: fills
/// `redis` with the Rust functions, installs the libraries, and replaces
/// the functions scripts use to catch errors and load code.
const INSTALL: &str = r#"
local hooks, lua_pcall, lua_xpcall, lua_loadstring, lua_load = ...
return function(G, redis, readonly)
  for k, v in pairs(hooks.api) do redis[k] = v end
  for name, lib in pairs(hooks.libs) do G[name] = readonly(lib) end
  hooks.redis = redis
  local on_error, pcall_error, lua_error = hooks.on_error, hooks.pcall_error, hooks.lua_error
  -- Runs a script or a function under the message handler.
  hooks.run = function(f, ...)
    local n, args = select('#', ...), { ... }
    return lua_xpcall(function() return f(unpack(args, 1, n)) end, on_error)
  end
  local function caught(ok, ...)
    if ok then return ok, ... end
    return false, pcall_error((...))
  end
  G.pcall = function(...) return caught(lua_pcall(...)) end
  G.xpcall = function(f, handler)
    return lua_xpcall(f, function(e) return handler(lua_error(e)) end)
  end
  -- Redis's Lua reads no precompiled code: a chunk starting with ESC is
  -- parsed as text (and refused), through a leading space that leaves
  -- the message Lua gives for it unchanged.
  G.loadstring = function(s, name)
    if type(s) == 'string' and string.byte(s, 1) == 27 then
      return lua_loadstring(' ' .. s, name or s)
    end
    return lua_loadstring(s, name)
  end
  G.load = function(f, name)
    if type(f) ~= 'function' then return lua_load(f, name) end
    local first = true
    return lua_load(function()
      local piece = f()
      if first and type(piece) == 'string' and piece ~= '' then
        first = false
        if string.byte(piece, 1) == 27 then return ' ' .. piece end
      end
      return piece
    end, name or '=(load)')
  end
end
"#;

/// Puts into `hooks` what the sandbox's Lua (`script.rs`) takes from it:
/// `bit`, `libs` (struct, cmsgpack), `api` (the `redis` functions written
/// here), the error converters, and `install`, the function that puts them
/// in place.
pub fn install(lua: &Lua, hooks: &Table) -> mlua::Result<()> {
    let libs = lua.create_table()?;
    for (name, t) in lualib::tables(lua)? {
        if name == "bit" {
            hooks.raw_set("bit", t)?;
        } else {
            libs.raw_set(name, t)?;
        }
    }
    hooks.raw_set("libs", libs)?;
    let api = lua.create_table()?;
    api.raw_set("sha1hex", lua.create_function(sha1hex)?)?;
    api.raw_set("setresp", lua.create_function(setresp)?)?;
    api.raw_set("error_reply", lua.create_function(error_reply)?)?;
    api.raw_set("status_reply", lua.create_function(status_reply)?)?;
    hooks.raw_set("api", api)?;
    hooks.raw_set(
        "on_error",
        lua.create_function(|lua, e: Value| {
            ERROR_LINE.with(|l| l.set(script_line(lua)));
            lua_error(lua, e)
        })?,
    )?;
    hooks.raw_set(
        "pcall_error",
        lua.create_function(|lua, e: Value| {
            Ok(match lua_error(lua, e)? {
                // Redis's pcall hands back an error table's message.
                Value::Table(t) => match t.raw_get::<Value>("err")? {
                    v @ (Value::String(_) | Value::Integer(_) | Value::Number(_)) => v,
                    _ => Value::Table(t),
                },
                other => other,
            })
        })?,
    )?;
    hooks.raw_set("lua_error", lua.create_function(lua_error)?)?;
    let g = lua.globals();
    let install: Function = lua.load(INSTALL).set_name("=install").call((
        hooks.clone(),
        g.raw_get::<Value>("pcall")?,
        g.raw_get::<Value>("xpcall")?,
        g.raw_get::<Value>("loadstring")?,
        g.raw_get::<Value>("load")?,
    ))?;
    hooks.raw_set("install", install)
}

/// An error value as Lua code should see it: what a Rust function raised
/// as the value it stands for, anything else as it is.
fn lua_error(lua: &Lua, e: Value) -> mlua::Result<Value> {
    match e {
        Value::Error(err) => lualib::raised_value(lua, &err),
        other => Ok(other),
    }
}

/// An error table raised by Redis's functions: `ERR <msg>`.
fn raise(msg: &str) -> mlua::Error {
    mlua::Error::external(Raised::ErrTable {
        err: format!("ERR {msg}"),
        counted: false,
    })
}

/// The error table Redis's functions return (not raise) for `msg`:
/// `-CODE text` keeps its code, anything else gets `ERR`; CR and LF at
/// either end go.
fn error_table(lua: &Lua, msg: &[u8]) -> mlua::Result<Table> {
    let (code, text): (&[u8], &[u8]) = match msg.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&c| c == b' ') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", msg),
    };
    let is_eol = |c: &u8| *c == b'\r' || *c == b'\n';
    let start = text.iter().position(|c| !is_eol(c)).unwrap_or(text.len());
    let end = text
        .iter()
        .rposition(|c| !is_eol(c))
        .map_or(start, |i| i + 1);
    let mut err = code.to_vec();
    err.push(b' ');
    err.extend_from_slice(&text[start..end]);
    let t = lua.create_table()?;
    t.raw_set("err", lua.create_string(err)?)?;
    Ok(t)
}

/// redis.error_reply(msg): the error table for `msg` (`-` optional).
fn error_reply(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Table> {
    match args.as_slice() {
        [Value::String(s)] => {
            let s = s.as_bytes();
            if s.starts_with(b"-") {
                error_table(lua, &s)
            } else {
                let mut m = b"-".to_vec();
                m.extend_from_slice(&s);
                error_table(lua, &m)
            }
        }
        _ => error_table(lua, b"wrong number or type of arguments"),
    }
}

/// redis.status_reply(msg): `{ok = msg}`.
fn status_reply(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Table> {
    match args.as_slice() {
        [Value::String(s)] => {
            let t = lua.create_table()?;
            t.raw_set("ok", s.clone())?;
            Ok(t)
        }
        _ => error_table(lua, b"wrong number or type of arguments"),
    }
}

/// redis.sha1hex(s): SHA-1 of `s` in hex (of nothing for what is neither
/// a string nor a number).
fn sha1hex(lua: &Lua, args: Variadic<Value>) -> mlua::Result<mlua::String> {
    if args.len() != 1 {
        return Err(raise("wrong number of arguments"));
    }
    let body = Args::new(lua, &args, "sha1hex")
        .bytes(1)
        .unwrap_or_default();
    lua.create_string(sha1_hex(&body))
}

/// redis.setresp(2|3): the protocol the script's commands reply in.
fn setresp(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    if args.len() != 1 {
        return Err(raise("redis.setresp() requires one argument."));
    }
    let v = Args::new(lua, &args, "setresp").number(1)?;
    if v != 2.0 && v != 3.0 {
        return Err(raise("RESP version must be 2 or 3."));
    }
    RESP.with(|r| r.set(v as u8));
    Ok(())
}

/// The line of the user script that is running (the innermost frame from
/// `@user_script` or `@user_function`); 1 when none is on the stack.
pub fn script_line(lua: &Lua) -> i64 {
    for level in 0..16 {
        let Some(line) = lua.inspect_stack(level).and_then(|d| {
            let src = d.source();
            let ours = src
                .source
                .as_deref()
                .is_some_and(|s| s == "@user_script" || s == "@user_function");
            ours.then(|| d.curr_line())
        }) else {
            continue;
        };
        if line > 0 {
            return i64::from(line);
        }
    }
    1
}

/// An error that escaped a script, as its reply: the message (an error
/// table's `err`, else `ERR ` and the value as text) and whether the
/// error was counted where it arose (a command's error).
pub fn escaped_error(lua: &Lua, e: &Value) -> mlua::Result<(String, bool)> {
    match e {
        Value::Error(err) => escaped_error(lua, &lualib::raised_value(lua, err)?),
        Value::Table(t) => match t.raw_get::<Value>("err")? {
            Value::String(s) => Ok((
                s.to_string_lossy().to_string(),
                t.raw_get::<Option<bool>>("ignore_error_stats_update")
                    .ok()
                    .flatten()
                    .unwrap_or(false),
            )),
            _ => Ok(("ERR unknown error".into(), false)),
        },
        other => {
            let tostring: Function = lua.globals().raw_get("tostring")?;
            let s: mlua::String = tostring.call(other.clone())?;
            Ok((format!("ERR {}", s.to_string_lossy()), false))
        }
    }
}

/// One reply from `buf` at `pos` as Lua sees it (see the module doc).
pub fn reply_to_lua(lua: &Lua, buf: &[u8], pos: &mut usize) -> mlua::Result<Value> {
    let line = |pos: &mut usize| -> &[u8] {
        let start = (*pos).min(buf.len());
        let end = buf[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(buf.len(), |i| start + i);
        *pos = (end + 2).min(buf.len());
        &buf[start..end]
    };
    let Some(&kind) = buf.get(*pos) else {
        return Ok(Value::Boolean(false));
    };
    *pos += 1;
    let head = line(pos);
    let num = || {
        std::str::from_utf8(head)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
    };
    let count = || num().filter(|&n| n >= 0).map(|n| n as usize);
    let string = |pos: &mut usize, n: usize| -> &[u8] {
        let start = (*pos).min(buf.len());
        let end = start.saturating_add(n).min(buf.len());
        *pos = (end + 2).min(buf.len());
        &buf[start..end]
    };
    let wrapped = |field: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(field, v)?;
        Ok(Value::Table(t))
    };
    Ok(match kind {
        b'+' => wrapped("ok", Value::String(lua.create_string(head)?))?,
        b'-' => wrapped("err", Value::String(lua.create_string(head)?))?,
        b':' => Value::Number(num().unwrap_or(0) as f64),
        b'$' => match count() {
            Some(n) => Value::String(lua.create_string(string(pos, n))?),
            None => Value::Boolean(false),
        },
        b'*' => match count() {
            Some(n) => {
                let t = lua.create_table_with_capacity(n.min(buf.len()), 0)?;
                for i in 1..=n {
                    t.raw_set(i, reply_to_lua(lua, buf, pos)?)?;
                }
                Value::Table(t)
            }
            None => Value::Boolean(false),
        },
        b'_' => Value::Nil,
        b'#' => Value::Boolean(head == b"t"),
        b',' => {
            let n = std::str::from_utf8(head)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0);
            wrapped("double", Value::Number(n))?
        }
        b'(' => wrapped("big_number", Value::String(lua.create_string(head)?))?,
        b'=' => {
            let s = string(pos, count().unwrap_or(0));
            let (format, text) = if s.len() >= 4 && s[3] == b':' {
                (&s[..3], &s[4..])
            } else {
                (&b""[..], s)
            };
            let t = lua.create_table()?;
            t.raw_set("format", lua.create_string(format)?)?;
            t.raw_set("string", lua.create_string(text)?)?;
            wrapped("verbatim_string", Value::Table(t))?
        }
        b'%' | b'~' => {
            let n = count().unwrap_or(0);
            let t = lua.create_table()?;
            for _ in 0..n {
                let k = reply_to_lua(lua, buf, pos)?;
                let v = if kind == b'%' {
                    reply_to_lua(lua, buf, pos)?
                } else {
                    Value::Boolean(true)
                };
                if !matches!(k, Value::Nil) {
                    t.raw_set(k, v)?;
                }
            }
            wrapped(if kind == b'%' { "map" } else { "set" }, Value::Table(t))?
        }
        // Attributes are not shown to scripts: the reply after them is.
        b'|' => {
            for _ in 0..count().unwrap_or(0) * 2 {
                reply_to_lua(lua, buf, pos)?;
            }
            reply_to_lua(lua, buf, pos)?
        }
        _ => Value::Nil,
    })
}

/// What a script returned, as the reply to a client speaking RESP3 when
/// `resp3`; `lua_resp3`: the script's own protocol (`redis.setresp`).
pub fn to_reply(v: &Value, out: &mut Vec<u8>, resp3: bool, lua_resp3: bool, depth: usize) {
    // Status and error lines cannot hold CR or LF: they become spaces.
    let line = |b: &[u8]| -> Vec<u8> {
        b.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
            .collect()
    };
    match v {
        Value::Nil => encode::null(out, resp3),
        Value::Boolean(b) if lua_resp3 => out.extend_from_slice(match (resp3, b) {
            (true, true) => b"#t\r\n",
            (true, false) => b"#f\r\n",
            (false, true) => b":1\r\n",
            (false, false) => b":0\r\n",
        }),
        Value::Boolean(true) => encode::integer(out, 1),
        Value::Boolean(false) => encode::null(out, resp3),
        Value::Integer(n) => encode::integer(out, *n),
        Value::Number(n) => encode::integer(out, f64_to_i64(*n)),
        Value::String(s) => encode::bulk(out, &s.as_bytes()),
        Value::Table(t) => {
            let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
            if let Value::String(e) = field("err") {
                encode::error(out, &line(&e.as_bytes()));
                return;
            }
            if let Value::String(s) = field("ok") {
                encode::simple(out, &line(&s.as_bytes()));
                return;
            }
            if let Value::Integer(_) | Value::Number(_) = field("double") {
                let n = t.raw_get::<f64>("double").unwrap_or(0.0);
                let text = if n.is_nan() && n.is_sign_negative() {
                    "-nan".to_string()
                } else {
                    encode::fmt_double(n)
                };
                if resp3 {
                    out.push(b',');
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    encode::bulk(out, text.as_bytes());
                }
                return;
            }
            if let Value::String(s) = field("big_number") {
                let s = line(&s.as_bytes());
                if resp3 {
                    out.push(b'(');
                    out.extend_from_slice(&s);
                    out.extend_from_slice(b"\r\n");
                } else {
                    encode::bulk(out, &s);
                }
                return;
            }
            if let Value::Table(vt) = field("verbatim_string") {
                let parts = (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"));
                if let (Ok(Value::String(f)), Ok(Value::String(s))) = parts {
                    let s = s.as_bytes();
                    if resp3 {
                        // The format is three characters, padded with spaces.
                        let f = f.as_bytes();
                        let mut fmt = [b' '; 3];
                        for (d, c) in fmt.iter_mut().zip(f.iter()) {
                            *d = *c;
                        }
                        out.push(b'=');
                        out.extend_from_slice(itoa::Buffer::new().format(s.len() + 4).as_bytes());
                        out.extend_from_slice(b"\r\n");
                        out.extend_from_slice(&fmt);
                        out.push(b':');
                        out.extend_from_slice(&s);
                        out.extend_from_slice(b"\r\n");
                    } else {
                        encode::bulk(out, &s);
                    }
                    return;
                }
            }
            if depth > 100 {
                encode::error(out, b"ERR reached lua stack limit");
                return;
            }
            // Each walk holds one element at a time: mlua can keep only
            // some thousands of Lua values alive at once.
            for (name, is_map) in [("map", true), ("set", false)] {
                if let Value::Table(m) = field(name) {
                    let n = m.clone().pairs::<Value, Value>().count();
                    if is_map {
                        encode::map_len(out, n, resp3);
                    } else {
                        encode::set_len(out, n, resp3);
                    }
                    for (k, v) in m.pairs::<Value, Value>().filter_map(Result::ok) {
                        to_reply(&k, out, resp3, lua_resp3, depth + 1);
                        if is_map {
                            to_reply(&v, out, resp3, lua_resp3, depth + 1);
                        }
                    }
                    return;
                }
            }
            let item = |i: usize| match t.raw_get::<Value>(i) {
                Ok(Value::Nil) | Err(_) => None,
                Ok(v) => Some(v),
            };
            let n = (1..).take_while(|&i| item(i).is_some()).count();
            encode::array_len(out, n);
            for i in 1..=n {
                if let Some(v) = item(i) {
                    to_reply(&v, out, resp3, lua_resp3, depth + 1);
                }
            }
        }
        _ => encode::null(out, resp3),
    }
}

/// SHA-1 of `body`, lowercase hex, as EVALSHA names scripts.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}
