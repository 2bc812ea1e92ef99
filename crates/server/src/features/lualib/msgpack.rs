//! `cmsgpack`: lua-cmsgpack 0.4.0's `pack`, `unpack`, `unpack_one` and
//! `unpack_limit`, with the encoding choices it makes:
//!
//! - a number that is a 64-bit integer takes the smallest integer form
//!   (positive or negative fixint, then 8, 16, 32, 64 bits; unsigned forms
//!   for positive values); any other number is a float32 when that is
//!   exact, else a float64;
//! - strings use fixstr, str8, str16, str32 (never bin);
//! - a table whose keys are exactly 1..n is an array, any other a map
//!   (its pairs in `next` order); tables nested 16 deep are cut to nil,
//!   which is how a circular reference ends;
//! - nil, and values MessagePack cannot hold (functions, ...), are nil.
//!
//! Decoding reads every type but bin and ext; an unsigned 64-bit integer
//! comes back as Lua 5.1 reads it through a signed integer.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::{error, f64_to_i64, Args};

/// At most this many values come back from one unpack (Lua's stack, and
/// mlua's count of live values, are bounded).
const MAX_RESULTS: usize = 7000;
/// Tables nested deeper than this are encoded as nil.
const MAX_NESTING: usize = 16;
/// Arrays and maps nested deeper than this are not decoded (the C
/// library has no limit but its stack's; this thread's stack needs one).
const MAX_DECODE_DEPTH: usize = 1000;

/// The table of functions.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("unpack_one", lua.create_function(unpack_one)?)?;
    t.raw_set("unpack_limit", lua.create_function(unpack_limit)?)?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

/// cmsgpack.pack(v1, v2, ...): each value's encoding, one after the other.
fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<mlua::String> {
    if args.is_empty() {
        return Err(Args::new(lua, &args, "pack").error(0, "MessagePack pack needs input."));
    }
    let mut out = Vec::new();
    for v in args.iter() {
        encode(v, 0, &mut out)?;
    }
    lua.create_string(out)
}

fn encode(v: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(*i as f64, out),
        Value::Number(n) => encode_number(*n, out),
        Value::String(s) => encode_str(&s.as_bytes(), out),
        Value::Table(t) if level < MAX_NESTING => encode_table(t, level, out)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    // An integer when the C conversion to int64_t gives it back.
    if n.is_finite() && f64_to_i64(n) as f64 == n {
        encode_int(f64_to_i64(n), out);
    } else if f64::from(n as f32) == n {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        match n {
            0..=0x7f => out.push(n as u8),
            0x80..=0xff => out.extend_from_slice(&[0xcc, n as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
    } else if n >= -32 {
        out.push(n as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_str(s: &[u8], out: &mut Vec<u8>) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// An array or map header: `fix` form for up to 15 items, else 16 or 32
/// bits after `wide` (`wide + 1` for 32).
fn encode_len(n: usize, fix: u8, wide: u8, out: &mut Vec<u8>) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn encode_table(t: &Table, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    // Two walks over the pairs, never holding them all: mlua can keep
    // only some thousands of Lua values alive at once.
    // An array when its keys are positive integers and as many as the
    // largest of them: exactly 1..n.
    let (mut count, mut max, mut is_array) = (0usize, 0.0f64, true);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair?;
        count += 1;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => {
                is_array = false;
                continue;
            }
        };
        if n <= 0.0 || n.fract() != 0.0 || n > f64::from(i32::MAX) {
            is_array = false;
        }
        max = max.max(n);
    }
    if is_array && max == count as f64 {
        encode_len(count, 0x90, 0xdc, out);
        for i in 1..=count {
            encode(&t.raw_get::<Value>(i)?, level + 1, out)?;
        }
    } else {
        encode_len(count, 0x80, 0xde, out);
        for pair in t.clone().pairs::<Value, Value>() {
            let (k, v) = pair?;
            encode(&k, level + 1, out)?;
            encode(&v, level + 1, out)?;
        }
    }
    Ok(())
}

/// Why a value could not be decoded.
enum Bad {
    /// The input ends inside it.
    Missing,
    /// A type byte this library does not read.
    Format,
    /// A Lua error from building it (a nil or NaN map key).
    Lua(mlua::Error),
    /// Nested past [`MAX_DECODE_DEPTH`].
    TooDeep,
}

impl From<mlua::Error> for Bad {
    fn from(e: mlua::Error) -> Bad {
        Bad::Lua(e)
    }
}

/// A cursor over encoded bytes.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    /// How many arrays and maps the value being read is inside.
    depth: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        let end = self.at.checked_add(n).ok_or(Bad::Missing)?;
        let s = self.buf.get(self.at..end).ok_or(Bad::Missing)?;
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Bad> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, Bad> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, Bad> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, Bad> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }

    fn enter(&mut self) -> Result<(), Bad> {
        self.depth += 1;
        if self.depth > MAX_DECODE_DEPTH {
            return Err(Bad::TooDeep);
        }
        Ok(())
    }

    fn left(&self) -> usize {
        self.buf.len() - self.at
    }
}

fn decode(lua: &Lua, r: &mut Reader<'_>) -> Result<Value, Bad> {
    let num = |n: f64| Ok(Value::Number(n));
    let t = r.u8()?;
    match t {
        0x00..=0x7f => num(f64::from(t)),
        0xe0..=0xff => num(f64::from(t as i8)),
        0xcc => num(f64::from(r.u8()?)),
        0xcd => num(r.u16()? as f64),
        0xce => num(r.u32()? as f64),
        // Through lua_Integer, as lua-cmsgpack pushes it on Lua 5.1.
        0xcf => num(u64::from_be_bytes(r.array()?) as i64 as f64),
        0xd0 => num(f64::from(r.u8()? as i8)),
        0xd1 => num(f64::from(i16::from_be_bytes(r.array()?))),
        0xd2 => num(f64::from(i32::from_be_bytes(r.array()?))),
        0xd3 => num(i64::from_be_bytes(r.array()?) as f64),
        0xc0 => Ok(Value::Nil),
        0xc2 => Ok(Value::Boolean(false)),
        0xc3 => Ok(Value::Boolean(true)),
        0xca => num(f64::from(f32::from_be_bytes(r.array()?))),
        0xcb => num(f64::from_be_bytes(r.array()?)),
        0xa0..=0xbf => string(lua, r, usize::from(t & 0x1f)),
        0xd9 => {
            let n = usize::from(r.u8()?);
            string(lua, r, n)
        }
        0xda => {
            let n = r.u16()?;
            string(lua, r, n)
        }
        0xdb => {
            let n = r.u32()?;
            string(lua, r, n)
        }
        0x90..=0x9f => array(lua, r, usize::from(t & 0x0f)),
        0xdc => {
            let n = r.u16()?;
            array(lua, r, n)
        }
        0xdd => {
            let n = r.u32()?;
            array(lua, r, n)
        }
        0x80..=0x8f => map(lua, r, usize::from(t & 0x0f)),
        0xde => {
            let n = r.u16()?;
            map(lua, r, n)
        }
        0xdf => {
            let n = r.u32()?;
            map(lua, r, n)
        }
        _ => Err(Bad::Format),
    }
}

fn string(lua: &Lua, r: &mut Reader<'_>, n: usize) -> Result<Value, Bad> {
    let s = r.take(n)?;
    Ok(Value::String(lua.create_string(s)?))
}

fn array(lua: &Lua, r: &mut Reader<'_>, n: usize) -> Result<Value, Bad> {
    r.enter()?;
    // Each element takes a byte at least: a count past the input is cut
    // short by the missing bytes, never allocated.
    let t = lua.create_table_with_capacity(n.min(r.left()), 0)?;
    for i in 1..=n {
        let v = decode(lua, r)?;
        t.raw_set(i, v)?;
    }
    r.depth -= 1;
    Ok(Value::Table(t))
}

fn map(lua: &Lua, r: &mut Reader<'_>, n: usize) -> Result<Value, Bad> {
    r.enter()?;
    let t = lua.create_table_with_capacity(0, n.min(r.left() / 2))?;
    for _ in 0..n {
        let k = decode(lua, r)?;
        let v = decode(lua, r)?;
        match &k {
            Value::Nil => return Err(Bad::Lua(mlua::Error::runtime("table index is nil"))),
            Value::Number(x) if x.is_nan() => {
                return Err(Bad::Lua(mlua::Error::runtime("table index is NaN")))
            }
            _ => t.raw_set(k, v)?,
        }
    }
    r.depth -= 1;
    Ok(Value::Table(t))
}

/// Decodes up to `limit` values of `s` from `offset` (both 0: all of it,
/// and no offset in the results); the results start with the offset of
/// what is left (-1: nothing).
fn unpack_full(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // lua-cmsgpack words it with the input's length for the limit.
        return Err(error(
            lua,
            format!(
                "Invalid request to unpack with offset of {offset} and limit of {}.",
                s.len()
            ),
        ));
    }
    if offset as u64 > s.len() as u64 {
        return Err(error(
            lua,
            format!(
                "Start offset {offset} greater than input length {}.",
                s.len()
            ),
        ));
    }
    let limit = if all { i64::MAX } else { limit };
    let mut r = Reader {
        buf: s,
        at: offset as usize,
        depth: 0,
    };
    let mut out = Vec::new();
    let mut count = 0;
    while r.left() > 0 && count < limit {
        if out.len() >= MAX_RESULTS {
            return Err(error(lua, "too many results to unpack"));
        }
        match decode(lua, &mut r) {
            Ok(v) => out.push(v),
            Err(Bad::Missing) => return Err(error(lua, "Missing bytes in input.")),
            Err(Bad::Format) => return Err(error(lua, "Bad data format in input.")),
            Err(Bad::Lua(e)) => return Err(e),
            Err(Bad::TooDeep) => {
                return Err(error(lua, "stack overflow (nesting too deep to unpack)"))
            }
        }
        count += 1;
    }
    if !all {
        let next = if r.left() == 0 { -1.0 } else { r.at as f64 };
        out.insert(0, Value::Number(next));
    }
    Ok(MultiValue::from(out))
}

/// cmsgpack.unpack(s): every value in `s`.
fn unpack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<MultiValue> {
    let a = Args::new(lua, &args, "unpack");
    let s = a.bytes(1)?;
    unpack_full(lua, &s, 0, 0)
}

/// cmsgpack.unpack_one(s [, offset]): the next offset and one value.
fn unpack_one(lua: &Lua, args: Variadic<Value>) -> mlua::Result<MultiValue> {
    let a = Args::new(lua, &args, "unpack_one");
    let offset = a.opt_integer(2, 0)?;
    let s = a.bytes(1)?;
    unpack_full(lua, &s, 1, offset)
}

/// cmsgpack.unpack_limit(s, limit [, offset]): the next offset and up to
/// `limit` values.
fn unpack_limit(lua: &Lua, args: Variadic<Value>) -> mlua::Result<MultiValue> {
    let a = Args::new(lua, &args, "unpack_limit");
    let limit = a.integer(2)?;
    let offset = a.opt_integer(3, 0)?;
    let s = a.bytes(1)?;
    unpack_full(lua, &s, limit, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(v: f64) -> String {
        let mut out = Vec::new();
        encode_number(v, &mut out);
        out.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Expected bytes from Redis 7.0.15's cmsgpack.pack.
    #[test]
    fn numbers_take_lua_cmsgpack_forms() {
        assert_eq!(hex(0.1), "cb3fb999999999999a");
        assert_eq!(hex(-1099511627776.0), "d3ffffff0000000000");
        assert_eq!(hex(127.0), "7f");
        assert_eq!(hex(128.0), "cc80");
        assert_eq!(hex(65536.0), "ce00010000");
        assert_eq!(hex(4294967296.0), "cf0000000100000000");
        assert_eq!(hex(-32.0), "e0");
        assert_eq!(hex(-33.0), "d0df");
        assert_eq!(hex(-129.0), "d1ff7f");
        assert_eq!(hex(-2147483649.0), "d3ffffffff7fffffff");
        assert_eq!(hex(2f64.powi(63)), "ca5f000000");
        assert_eq!(hex(-(2f64.powi(63))), "d38000000000000000");
        assert_eq!(hex(1.5), "ca3fc00000");
        assert_eq!(hex(f64::INFINITY), "ca7f800000");
        assert_eq!(hex(-0.0), "00");
    }
}
