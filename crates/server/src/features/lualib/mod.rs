//! The Lua libraries Redis gives scripts besides its `redis` table and
//! cjson: `bit` (LuaBitOp's API), `struct` (lua-struct's) and `cmsgpack`
//! (lua-cmsgpack's), written here in Rust against their documented
//! behaviour and Redis 7.0's observed replies.
//!
//! Layout:
//! - this file: what the three share: reading arguments as Lua's C API
//!   does (numbers from numeric strings, strings from numbers), the errors
//!   Lua's auxiliary library words (`bad argument #1 to 'band' (number
//!   expected, got string)`), and turning a Rust callback's error back into
//!   the plain Lua value a script's `pcall` sees;
//! - `bit.rs`, `structs.rs`, `msgpack.rs`: one library each.
//!
//! Each library is a table of Rust functions; `script.rs` makes it a
//! read-only global. To Lua they are C functions, so an error they raise
//! carries the position of the script line that called them, as Redis's do.

mod bit;
mod msgpack;
mod structs;

use std::fmt;

use mlua::{Lua, Table, Value};

/// The libraries, by global name, for the interpreter to install.
pub fn tables(lua: &Lua) -> mlua::Result<Vec<(&'static str, Table)>> {
    Ok(vec![
        ("bit", bit::table(lua)?),
        ("struct", structs::table(lua)?),
        ("cmsgpack", msgpack::table(lua)?),
    ])
}

/// An error a Rust function raises, as the Lua value it stands for.
#[derive(Debug)]
pub enum Raised {
    /// A message (Lua's usual error value).
    Message(String),
    /// A table `{err = ...}`, as Redis's own functions raise; `counted`:
    /// a command's error, already in the error statistics (the table says
    /// `ignore_error_stats_update = true`).
    ErrTable { err: String, counted: bool },
}

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raised::Message(m) | Raised::ErrTable { err: m, .. } => f.write_str(m),
        }
    }
}

impl std::error::Error for Raised {}

/// The innermost error: what a Rust callback returned, under the
/// callback and context wrappers `mlua` adds.
fn root(mut e: &mlua::Error) -> &mlua::Error {
    loop {
        match e {
            mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
                e = cause
            }
            other => return other,
        }
    }
}

/// The Lua value an error raised by a Rust function stands for: a
/// [`Raised`] as itself, a runtime error as its message, anything else
/// as its text.
pub fn raised_value(lua: &Lua, e: &mlua::Error) -> mlua::Result<Value> {
    let message = match root(e) {
        mlua::Error::RuntimeError(m) => m.clone(),
        other => match other.downcast_ref::<Raised>() {
            Some(Raised::Message(m)) => m.clone(),
            Some(Raised::ErrTable { err, counted }) => {
                let t = lua.create_table()?;
                t.raw_set("err", err.as_str())?;
                if *counted {
                    t.raw_set("ignore_error_stats_update", true)?;
                }
                return Ok(Value::Table(t));
            }
            None => other.to_string(),
        },
    };
    Ok(Value::String(lua.create_string(message)?))
}

/// `msg` raised from a Rust function: prefixed, as Lua's `luaL_error`
/// does, with the calling script line (`user_script:3: `).
pub fn error(lua: &Lua, msg: impl fmt::Display) -> mlua::Error {
    mlua::Error::external(Raised::Message(format!("{}{msg}", caller_position(lua))))
}

/// `bad argument #n to 'fname' (msg)`, raised as [`error`] does. As in
/// Lua, the function is named as its caller called it (`?` when that is
/// not known, as for a function `pcall` runs); `fname` when the caller
/// is not Lua code at all.
pub fn arg_error(lua: &Lua, n: usize, fname: &str, msg: impl fmt::Display) -> mlua::Error {
    let called = lua.inspect_stack(0).map(|d| {
        d.names()
            .name
            .map_or_else(|| "?".to_string(), |n| n.into_owned())
    });
    let name = called.as_deref().unwrap_or(fname);
    error(lua, format!("bad argument #{n} to '{name}' ({msg})"))
}

/// Where the running Rust function was called from, as `luaL_where`
/// words it: `source:line: `, or nothing when the caller is not Lua code.
fn caller_position(lua: &Lua) -> String {
    let Some(d) = lua.inspect_stack(1) else {
        return String::new();
    };
    let line = d.curr_line();
    if line <= 0 {
        return String::new();
    }
    let src = d.source();
    format!("{}:{line}: ", src.short_src.as_deref().unwrap_or("?"))
}

/// The name Lua's messages give a value's type.
pub fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// A Lua number as `tostring` writes it (`%.14g`).
pub fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.into();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // %g with 14 significant digits: the exponent after rounding picks
    // fixed or scientific notation; trailing zeros go.
    let sci = format!("{n:.13e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..14).contains(&exp) {
        let decimals = (13 - exp).max(0) as usize;
        let s = format!("{n:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let m = if mantissa.contains('.') {
            mantissa.trim_end_matches('0').trim_end_matches('.')
        } else {
            mantissa
        };
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// A string as Lua reads it for a number (`lua_isnumber`): decimal or
/// `0x` hexadecimal, spaces around allowed.
pub fn parse_number(s: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(s).ok()?;
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    if t.is_empty() {
        return None;
    }
    let (neg, digits) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        let v = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if neg { -v } else { v });
    }
    // Rust also reads "infinity" and "nan" as C's strtod does; it refuses
    // a second sign, as strtod does.
    if digits.starts_with(['+', '-']) {
        return None;
    }
    t.parse::<f64>().ok()
}

/// A number argument as a C double converts to a signed 64-bit integer
/// on x86-64: out of range (and NaN) give the minimum.
pub fn f64_to_i64(n: f64) -> i64 {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if n.is_nan() || !(-LIMIT..LIMIT).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// A double converted to an unsigned 64-bit integer as C compilers do
/// on x86-64 (through the signed conversion, above 2^63 by subtracting
/// it first).
pub fn f64_to_u64(n: f64) -> u64 {
    const HALF: f64 = 9_223_372_036_854_775_808.0; // 2^63
    if n >= HALF {
        (f64_to_i64(n - HALF) as u64) ^ (1 << 63)
    } else {
        f64_to_i64(n) as u64
    }
}

/// A function's arguments, read as Lua's C API reads them, with its errors.
pub struct Args<'a> {
    lua: &'a Lua,
    vals: &'a [Value],
    fname: &'static str,
}

impl<'a> Args<'a> {
    pub fn new(lua: &'a Lua, vals: &'a [Value], fname: &'static str) -> Args<'a> {
        Args { lua, vals, fname }
    }

    pub fn len(&self) -> usize {
        self.vals.len()
    }

    /// Argument `n` (from 1), if given.
    pub fn get(&self, n: usize) -> Option<&'a Value> {
        n.checked_sub(1).and_then(|i| self.vals.get(i))
    }

    /// `bad argument #n to '<this function>' (msg)`.
    pub fn error(&self, n: usize, msg: impl fmt::Display) -> mlua::Error {
        arg_error(self.lua, n, self.fname, msg)
    }

    fn type_error(&self, n: usize, expected: &str) -> mlua::Error {
        self.error(
            n,
            format!("{expected} expected, got {}", type_name(self.get(n))),
        )
    }

    /// Argument `n` as a number (`luaL_checknumber`).
    pub fn number(&self, n: usize) -> mlua::Result<f64> {
        match self.get(n) {
            Some(Value::Integer(i)) => Ok(*i as f64),
            Some(Value::Number(x)) => Ok(*x),
            Some(Value::String(s)) => {
                parse_number(&s.as_bytes()).ok_or_else(|| self.type_error(n, "number"))
            }
            _ => Err(self.type_error(n, "number")),
        }
    }

    /// Argument `n` as an integer (`luaL_checkinteger`: truncated).
    pub fn integer(&self, n: usize) -> mlua::Result<i64> {
        self.number(n).map(f64_to_i64)
    }

    /// Argument `n` as an integer, `default` when absent or nil
    /// (`luaL_optinteger`).
    pub fn opt_integer(&self, n: usize, default: i64) -> mlua::Result<i64> {
        match self.get(n) {
            None | Some(Value::Nil) => Ok(default),
            Some(_) => self.integer(n),
        }
    }

    /// Argument `n` as a string (`luaL_checklstring`: numbers are written
    /// out as `tostring` does).
    pub fn bytes(&self, n: usize) -> mlua::Result<Vec<u8>> {
        match self.get(n) {
            Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
            Some(Value::Integer(i)) => Ok(number_to_string(*i as f64).into_bytes()),
            Some(Value::Number(x)) => Ok(number_to_string(*x).into_bytes()),
            _ => Err(self.type_error(n, "string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_lua_does() {
        assert_eq!(number_to_string(1.5), "1.5");
        assert_eq!(number_to_string(1e15), "1e+15");
        assert_eq!(number_to_string(2f64.powi(63)), "9.2233720368548e+18");
        assert_eq!(number_to_string(0.1f32 as f64), "0.10000000149012");
        assert_eq!(number_to_string(100.0), "100");
        assert_eq!(number_to_string(-0.0001), "-0.0001");
        assert_eq!(number_to_string(0.00001), "1e-05");
        assert_eq!(number_to_string(12345678901234.0), "12345678901234");
        assert_eq!(number_to_string(123456789012345.0), "1.2345678901234e+14");
    }

    #[test]
    fn strings_read_as_numbers_as_lua_does() {
        assert_eq!(parse_number(b" 12 "), Some(12.0));
        assert_eq!(parse_number(b"0x10"), Some(16.0));
        assert_eq!(parse_number(b"-0x10"), Some(-16.0));
        assert_eq!(parse_number(b"1e3"), Some(1000.0));
        assert_eq!(parse_number(b"x"), None);
        assert_eq!(parse_number(b""), None);
        assert_eq!(parse_number(b"--1"), None);
    }

    #[test]
    fn conversions_match_x86() {
        assert_eq!(f64_to_i64(2f64.powi(63)), i64::MIN);
        assert_eq!(f64_to_i64(-1.9), -1);
        assert_eq!(f64_to_u64(2f64.powi(63)), 1 << 63);
        assert_eq!(f64_to_u64(2f64.powi(64) + 5000.0), 0);
        assert_eq!(f64_to_u64(4.0), 4);
    }
}
