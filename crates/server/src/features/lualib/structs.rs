//! `struct`: lua-struct's `pack`, `unpack` and `size`, with its format
//! language:
//!
//! - `>` big endian, `<` little endian (the default: the native order of
//!   the machines Redis runs on), `!n` align fields to at most `n` bytes
//!   (a power of 2; `!` alone: 8), spaces ignored;
//! - `b`/`B` signed/unsigned char, `h`/`H` short (2 bytes), `l`/`L` long
//!   and `T` size_t (8), `i`/`I` int, `in`/`In` an n-byte int (default 4,
//!   at most 32), `f` float, `d` double, `x` a zero byte;
//! - `cn` n bytes of a string (`c0`: all of it when packing, a length
//!   read just before when unpacking), `s` a zero-terminated string.
//!
//! A field is aligned to the smaller of its size and the `!` limit
//! (strings never are). Integers and doubles convert as the C library
//! does on x86-64, out-of-range values included.

use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::{error, f64_to_i64, f64_to_u64, parse_number, Args};

/// Alignment `!` means alone: the strictest a C struct needs.
const MAX_ALIGN: usize = 8;
/// The widest integer field, in bytes.
const MAX_INT_SIZE: usize = 32;
/// How many values a C function may leave on Lua's stack.
const MAX_STACK: usize = 8000;
/// How many strings one unpack returns at most: mlua keeps a handle per
/// live string, and can hold only some thousands at once.
const MAX_STRINGS: usize = 7000;

/// The table of functions.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("pack", lua.create_function(pack)?)?;
    t.raw_set("unpack", lua.create_function(unpack)?)?;
    t.raw_set("size", lua.create_function(size)?)?;
    Ok(t)
}

/// The format's current settings.
struct Header {
    big_endian: bool,
    align: usize,
}

/// A format string being read, option by option.
struct Format<'a> {
    lua: &'a Lua,
    fname: &'static str,
    s: &'a [u8],
    at: usize,
    h: Header,
}

impl<'a> Format<'a> {
    fn new(lua: &'a Lua, fname: &'static str, s: &'a [u8]) -> Format<'a> {
        Format {
            lua,
            fname,
            s,
            at: 0,
            h: Header {
                big_endian: false,
                align: 1,
            },
        }
    }

    /// The next option letter and its size in bytes (0 for the options
    /// that take no room or have no fixed size).
    fn next(&mut self) -> mlua::Result<Option<(u8, usize)>> {
        let Some(&opt) = self.s.get(self.at) else {
            return Ok(None);
        };
        self.at += 1;
        let size = match opt {
            b'b' | b'B' | b'x' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let n = self.number(4)?;
                if n > MAX_INT_SIZE {
                    return Err(error(
                        self.lua,
                        format!("integral size {n} is larger than limit of {MAX_INT_SIZE}"),
                    ));
                }
                n
            }
            _ => 0,
        };
        Ok(Some((opt, size)))
    }

    /// Digits at the cursor as a number, `default` when there are none.
    fn number(&mut self, default: usize) -> mlua::Result<usize> {
        if !self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut n: i32 = 0;
        while let Some(&d) = self.s.get(self.at).filter(|d| d.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i32::from(d - b'0')))
                .ok_or_else(|| error(self.lua, "integral size overflow"))?;
            self.at += 1;
        }
        Ok(n as usize)
    }

    /// Padding before a field of `size` bytes at offset `at`.
    fn padding(&self, at: usize, opt: u8, size: usize) -> usize {
        if size == 0 || opt == b'c' {
            return 0;
        }
        let size = size.min(self.h.align);
        (size - (at & (size - 1))) & (size - 1)
    }

    /// An option that is not a field: endianness, alignment, space.
    fn control(&mut self, opt: u8) -> mlua::Result<()> {
        match opt {
            b' ' => {}
            b'>' => self.h.big_endian = true,
            b'<' => self.h.big_endian = false,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(error(
                        self.lua,
                        format!("alignment {a} is not a power of 2"),
                    ));
                }
                self.h.align = a;
            }
            _ => {
                return Err(super::arg_error(
                    self.lua,
                    1,
                    self.fname,
                    format!("invalid format option '{}'", char::from(opt)),
                ))
            }
        }
        Ok(())
    }

    /// `bytes` (native, little endian order) in the format's order.
    fn ordered(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        if self.h.big_endian {
            bytes.reverse();
        }
        bytes
    }
}

/// struct.pack(fmt, v1, v2, ...)
fn pack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<mlua::String> {
    // lua-struct leaves a nil after the arguments: the first one missing
    // is reported as nil, not "no value".
    let mut args: Vec<Value> = args.into();
    args.push(Value::Nil);
    let a = Args::new(lua, &args, "pack");
    let fmt = a.bytes(1)?;
    let mut f = Format::new(lua, "pack", &fmt);
    let mut out = Vec::new();
    let mut arg = 2;
    while let Some((opt, mut size)) = f.next()? {
        let pad = f.padding(out.len(), opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = a.number(arg)?;
                arg += 1;
                let v = if n < 0.0 {
                    f64_to_i64(n) as u64
                } else {
                    f64_to_u64(n)
                };
                let mut le: Vec<u8> = (0..size)
                    .map(|i| v.checked_shr(8 * i as u32).unwrap_or(0) as u8)
                    .collect();
                if f.h.big_endian {
                    le.reverse();
                }
                out.extend_from_slice(&le);
            }
            b'x' => out.push(0),
            b'f' => {
                let n = a.number(arg)? as f32;
                arg += 1;
                out.extend(f.ordered(n.to_le_bytes().to_vec()));
            }
            b'd' => {
                let n = a.number(arg)?;
                arg += 1;
                out.extend(f.ordered(n.to_le_bytes().to_vec()));
            }
            b'c' | b's' => {
                let s = a.bytes(arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // lua-struct names the argument after the string.
                    return Err(a.error(arg, "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt)?,
        }
    }
    lua.create_string(out)
}

/// A little or big endian integer of `bytes`, as lua-struct reads it into
/// 64 bits (higher bytes of wider fields shift out), sign-extended when
/// `signed`.
fn integer(bytes: &[u8], big_endian: bool, signed: bool) -> f64 {
    let mut v: u64 = 0;
    let mut add = |b: u8| v = (v << 8) | u64::from(b);
    if big_endian {
        bytes.iter().copied().for_each(&mut add);
    } else {
        bytes.iter().rev().copied().for_each(&mut add);
    }
    if !signed {
        return v as f64;
    }
    let mask = u64::MAX.wrapping_shl((bytes.len() as u32 * 8).wrapping_sub(1));
    if v & mask != 0 {
        v |= mask;
    }
    v as i64 as f64
}

/// struct.unpack(fmt, s [, pos]): the values, then the position after them.
fn unpack(lua: &Lua, args: Variadic<Value>) -> mlua::Result<MultiValue> {
    let a = Args::new(lua, &args, "unpack");
    let fmt = a.bytes(1)?;
    let data = a.bytes(2)?;
    let start = a.opt_integer(3, 1)?.wrapping_sub(1);
    if start < 0 {
        return Err(a.error(3, "offset must be 1 or greater"));
    }
    let mut pos = start as u64;
    let len = data.len() as u64;
    let mut f = Format::new(lua, "unpack", &fmt);
    let mut out: Vec<Value> = Vec::new();
    let short = || a.error(2, "data string too short");
    while let Some((opt, size)) = f.next()? {
        let mut size = size as u64;
        pos += f.padding(pos as usize, opt, size as usize) as u64;
        if size > len || pos > len - size {
            return Err(short());
        }
        let strings = out.iter().filter(|v| matches!(v, Value::String(_))).count();
        if a.len() + out.len() + 2 > MAX_STACK || strings >= MAX_STRINGS {
            return Err(error(lua, "stack overflow (too many results)"));
        }
        // In range: checked just above.
        let at = pos as usize;
        let field = |n: u64| &data[at..at + n as usize];
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = integer(field(size), f.h.big_endian, opt.is_ascii_lowercase());
                out.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let mut b = [0u8; 4];
                b.copy_from_slice(&f.ordered(field(4).to_vec()));
                out.push(Value::Number(f64::from(f32::from_le_bytes(b))));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&f.ordered(field(8).to_vec()));
                out.push(Value::Number(f64::from_le_bytes(b)));
            }
            b'c' => {
                if size == 0 {
                    // The length is the value just read, which it replaces.
                    let n = match out.last() {
                        Some(Value::Number(n)) => Some(*n),
                        Some(Value::String(s)) => parse_number(&s.as_bytes()),
                        _ => None,
                    };
                    let Some(n) = n else {
                        return Err(error(lua, "format 'c0' needs a previous size"));
                    };
                    out.pop();
                    size = f64_to_u64(n);
                    if size > len || pos > len - size {
                        return Err(short());
                    }
                }
                out.push(Value::String(lua.create_string(field(size))?));
            }
            b's' => {
                let Some(end) = data[at..].iter().position(|&c| c == 0) else {
                    return Err(error(lua, "unfinished string in data"));
                };
                out.push(Value::String(lua.create_string(&data[at..at + end])?));
                size = end as u64 + 1;
            }
            _ => f.control(opt)?,
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from(out))
}

/// struct.size(fmt): the bytes `pack` makes of it (no `s` or `c0`).
fn size(lua: &Lua, args: Variadic<Value>) -> mlua::Result<f64> {
    let a = Args::new(lua, &args, "size");
    let fmt = a.bytes(1)?;
    let mut f = Format::new(lua, "size", &fmt);
    let mut pos = 0usize;
    while let Some((opt, size)) = f.next()? {
        pos += f.padding(pos, opt, size);
        if opt == b's' {
            return Err(a.error(1, "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(a.error(1, "option 'c0' has no fixed size"));
        }
        // Letters it does not know take no room here (pack refuses them).
        if !opt.is_ascii_alphanumeric() {
            f.control(opt)?;
        }
        pos += size;
    }
    Ok(pos as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_lua_struct_does() {
        assert_eq!(integer(&[0xff, 0xff, 0xfe], true, true), -2.0);
        assert_eq!(integer(&[1, 2], false, false), 513.0);
        assert_eq!(integer(&[0xfe, 0xff], true, true), -257.0);
        assert_eq!(integer(&[], true, true), 0.0);
        let mut wide = vec![0u8; 15];
        wide.push(5);
        assert_eq!(integer(&wide, true, false), 5.0);
    }
}
