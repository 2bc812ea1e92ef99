//! `bit`: LuaBitOp's API, as Redis's Lua 5.1 (double numbers) has it.
//!
//! Every argument becomes a 32-bit integer the way LuaBitOp does it on
//! such a build: the number is rounded to the nearest integer (ties to
//! even) and its low 32 bits are kept, which is what adding 2^52 + 2^51
//! and reading the low word of the double yields, out-of-range values
//! included. Results are signed 32-bit integers; shift and rotate counts
//! use their low 5 bits.

use mlua::{Lua, Table, Value, Variadic};

use super::Args;

/// The operations, by shape (each goes with the name Lua calls it by).
type Unary = fn(i32) -> i32;
type Binary = fn(i32, i32) -> i32;
type Shift = fn(i32, u32) -> i32;

/// The table of functions.
pub fn table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unary: [(&'static str, Unary); 3] = [
        ("tobit", |b| b),
        ("bnot", |b| !b),
        ("bswap", |b| b.swap_bytes()),
    ];
    for (name, op) in unary {
        let f = lua.create_function(move |lua, args: Variadic<Value>| {
            let a = Args::new(lua, &args, name);
            Ok(f64::from(op(to_bit(a.number(1)?))))
        })?;
        t.raw_set(name, f)?;
    }
    let folds: [(&'static str, Binary); 3] = [
        ("band", |x, y| x & y),
        ("bor", |x, y| x | y),
        ("bxor", |x, y| x ^ y),
    ];
    for (name, op) in folds {
        let f = lua.create_function(move |lua, args: Variadic<Value>| {
            let a = Args::new(lua, &args, name);
            let mut acc = to_bit(a.number(1)?);
            for n in 2..=a.len() {
                acc = op(acc, to_bit(a.number(n)?));
            }
            Ok(f64::from(acc))
        })?;
        t.raw_set(name, f)?;
    }
    let shifts: [(&'static str, Shift); 5] = [
        ("lshift", |x, n| ((x as u32) << n) as i32),
        ("rshift", |x, n| ((x as u32) >> n) as i32),
        ("arshift", |x, n| x >> n),
        ("rol", |x, n| x.rotate_left(n)),
        ("ror", |x, n| x.rotate_right(n)),
    ];
    for (name, op) in shifts {
        let f = lua.create_function(move |lua, args: Variadic<Value>| {
            let a = Args::new(lua, &args, name);
            let x = to_bit(a.number(1)?);
            let n = to_bit(a.number(2)?) as u32 & 31;
            Ok(f64::from(op(x, n)))
        })?;
        t.raw_set(name, f)?;
    }
    let tohex = lua.create_function(|lua, args: Variadic<Value>| {
        let a = Args::new(lua, &args, "tohex");
        let x = to_bit(a.number(1)?);
        let n = match a.get(2) {
            None => 8,
            Some(_) => to_bit(a.number(2)?),
        };
        lua.create_string(hex(x, n))
    })?;
    t.raw_set("tohex", tohex)?;
    Ok(t)
}

/// A Lua number as LuaBitOp's 32-bit integer.
pub fn to_bit(n: f64) -> i32 {
    // 2^52 + 2^51: the sum's low mantissa word is the rounded integer.
    (n + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

/// `bit.tohex(x, n)`: the low `|n|` hex digits of `x` (at most 8),
/// upper case when `n` is negative.
fn hex(x: i32, n: i32) -> String {
    let upper = n < 0;
    let digits = n.unsigned_abs().min(8) as usize;
    let full = if upper {
        format!("{:08X}", x as u32)
    } else {
        format!("{:08x}", x as u32)
    };
    full[8 - digits..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from Redis 7.0.15's `bit` library.
    #[test]
    fn conversion_to_32_bits() {
        assert_eq!(to_bit(4294967295.0), -1);
        assert_eq!(to_bit(4294967301.0), 5);
        assert_eq!(to_bit(1.5), 2);
        assert_eq!(to_bit(2.5), 2);
        assert_eq!(to_bit(-2.5), -2);
        assert_eq!(to_bit(4503599627370499.0), 2);
        assert_eq!(to_bit(1e20), 2025163840);
        assert_eq!(to_bit(f64::INFINITY), 0);
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(1, 8), "00000001");
        assert_eq!(hex(-1, 8), "ffffffff");
        assert_eq!(hex(255, 2), "ff");
        assert_eq!(hex(255, -4), "00FF");
        assert_eq!(hex(0x12345678, 20), "12345678");
        assert_eq!(hex(5, 0), "");
    }
}
