//! Bitmap commands on string values: SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITFIELD, BITFIELD_RO and BITOP.
//!
//! A bitmap is an ordinary string: bit 0 is the most significant bit of the
//! first byte, and a string is read as if followed by infinitely many zero
//! bytes. There is no storage type of its own, so GET, APPEND, SETRANGE and
//! friends keep working on the same keys. Reads go through
//! [`Value::as_str`] (an integer-encoded string is formatted on the stack,
//! never allocated); writes go through [`Value::set_range`], which turns the
//! value into its growable form once and then changes bytes in place, so a
//! SETBIT loop costs O(1) per call.
//!
//! # Layout
//!
//! - Argument helpers: bit offsets (`#N` form, the proto-max-bulk-len bound)
//!   and BITFIELD's types, parsed exactly as Redis 7.0 does, errors included.
//! - Bit arithmetic on byte slices: [`popcount`] (8 bytes at a time with
//!   `count_ones`), `find_bit` (skips whole words), bitfield load/store
//!   through a 72-bit window, overflow handling (WRAP, SAT, FAIL).
//! - The handlers, each documented with its grammar.
//! - The shard-local halves of BITOP ([`parse_bitop`], [`bitop_source`],
//!   [`bitop_combine`], [`bitop_store`]) for the server's cross-shard path.
//!
//! Redis's argument order is kept where it decides which error wins: BITCOUNT
//! looks the key up before parsing its range (a missing key is 0 whatever the
//! range), BITPOS parses the bit first, BITFIELD parses every operation before
//! touching the key.

use std::ops::Deref;

use resp::encode;
use storage::{Db, Millis, StrRef, Value};

use crate::args::parse_i64;
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error, Shard};

const OFFSET_ERR: Error = Error::Static("ERR bit offset is not an integer or out of range");
const BIT_ERR: Error = Error::Static("ERR bit is not an integer or out of range");
const TYPE_ERR: Error = Error::Static(
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
);

pub fn register(t: &mut CommandTable) {
    t.shard("setbit", 4, WRITE | DENYOOM, (1, 1, 1), setbit);
    t.shard("getbit", 3, READONLY | FAST, (1, 1, 1), getbit);
    t.shard("bitcount", -2, READONLY, (1, 1, 1), bitcount);
    t.shard("bitpos", -3, READONLY, (1, 1, 1), bitpos);
    t.shard("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), bitfield);
    t.shard("bitfield_ro", -2, READONLY | FAST, (1, 1, 1), bitfield_ro);
    t.shard("bitop", -4, WRITE | DENYOOM | MULTI_KEY, (2, -1, 1), bitop);
}

// ---------------------------------------------------------------------------
// Reading a string's bytes

/// A string value's bytes: borrowed, or an integer's decimal digits on the
/// stack (so reading an int-encoded bitmap never allocates).
enum StrBytes<'a> {
    Slice(&'a [u8]),
    Digits([u8; 20], usize),
}

impl Deref for StrBytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            StrBytes::Slice(s) => s,
            StrBytes::Digits(d, n) => &d[..*n],
        }
    }
}

fn str_bytes(s: StrRef<'_>) -> StrBytes<'_> {
    match s {
        StrRef::Bytes(b) => StrBytes::Slice(b),
        StrRef::Int(n) => {
            let mut buf = itoa::Buffer::new();
            let d = buf.format(n).as_bytes();
            let mut digits = [0u8; 20];
            digits[..d.len()].copy_from_slice(d);
            StrBytes::Digits(digits, d.len())
        }
    }
}

/// Looks a key up for reading, counting a hit or a miss: its bytes, `None`
/// when missing, WRONGTYPE for a value that is not a string.
fn read<'s>(
    shard: &'s mut Shard,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Result<Option<StrBytes<'s>>, Error> {
    Ok(crate::strings::read_str(shard, db, key, now)?.map(str_bytes))
}

/// Runs `f` on the string at `key` for writing: created empty when missing
/// (inserted after `f`, with no TTL), and zero-padded so that byte
/// `last_byte` exists, as Redis grows the string before any bit of it
/// changes. WRONGTYPE for other types. One lookup for an existing key.
fn with_string_for_write<R>(
    db: &mut Db,
    key: &[u8],
    now: Millis,
    last_byte: usize,
    f: impl FnOnce(&mut Value) -> R,
) -> Result<R, Error> {
    let grow = |v: &mut Value, len: usize| {
        if len <= last_byte {
            v.set_range(last_byte, &[0]);
        }
    };
    match db.get_mut(key, now) {
        Some(v) => {
            let len = v.as_str().ok_or(Error::WrongType)?.len();
            grow(v, len);
            Ok(f(v))
        }
        None => {
            let mut v = Value::from_bytes(b"");
            grow(&mut v, 0);
            let r = f(&mut v);
            db.insert(key, v, None);
            Ok(r)
        }
    }
}

// ---------------------------------------------------------------------------
// Arguments

/// A bit offset as Redis reads it: a non-negative integer (`#N` means N
/// times the field width where `hash_bits` is given, multiplied with
/// wrap-around as Redis does), whose byte must lie below
/// proto-max-bulk-len.
fn bit_offset(arg: &[u8], hash_bits: Option<u32>, limit: usize) -> Result<u64, Error> {
    let (digits, times) = match (hash_bits, arg.split_first()) {
        (Some(bits), Some((b'#', rest))) => (rest, Some(bits)),
        _ => (arg, None),
    };
    let mut n = parse_i64(digits).ok_or(OFFSET_ERR)?;
    if let Some(bits) = times {
        n = n.wrapping_mul(i64::from(bits));
    }
    if n < 0 || (n >> 3) as u64 >= limit as u64 {
        return Err(OFFSET_ERR);
    }
    Ok(n as u64)
}

/// BITCOUNT's and BITPOS's unit: `BYTE` (default) or `BIT`.
fn parse_unit(arg: &[u8]) -> Result<bool, Error> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(Error::Syntax)
    }
}

/// Resolves a `start end` pair (bytes, or bits when `is_bit`; negative
/// counts from the end) over a string of `len` bytes into an inclusive
/// range of bit positions, `None` when empty. Redis's arithmetic: both ends
/// clamped into the string after the negative ones are converted.
fn resolve_range(len: usize, start: i64, end: i64, is_bit: bool) -> Option<(u64, u64)> {
    let total = if is_bit {
        (len as i64).saturating_mul(8)
    } else {
        len as i64
    };
    let fix = |i: i64| if i < 0 { total + i } else { i }.max(0);
    let start = fix(start);
    let end = fix(end).min(total - 1);
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    if is_bit {
        Some((start, end))
    } else {
        Some((start * 8, end * 8 + 7))
    }
}

// ---------------------------------------------------------------------------
// Bit arithmetic

/// Eight bytes as a word, most significant byte first (so bit order matches
/// Redis's: the word's leading bit is the first bit of the first byte).
#[inline]
fn word_be(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&c[..8]);
    u64::from_be_bytes(w)
}

/// Set bits in `b`, 32 bytes per round with four independent counters.
pub fn popcount(b: &[u8]) -> u64 {
    let mut blocks = b.chunks_exact(32);
    let (mut a, mut c, mut d, mut e) = (0u64, 0u64, 0u64, 0u64);
    for blk in &mut blocks {
        a += u64::from(word_be(&blk[0..]).count_ones());
        c += u64::from(word_be(&blk[8..]).count_ones());
        d += u64::from(word_be(&blk[16..]).count_ones());
        e += u64::from(word_be(&blk[24..]).count_ones());
    }
    let mut words = blocks.remainder().chunks_exact(8);
    for w in &mut words {
        a += u64::from(word_be(w).count_ones());
    }
    for &byte in words.remainder() {
        a += u64::from(byte.count_ones());
    }
    a + c + d + e
}

/// Mask of the bits of a byte at or after in-byte position `k` (0 = MSB).
#[inline]
fn from_bit(k: u64) -> u8 {
    0xFF >> (k & 7)
}

/// Mask of the bits of a byte at or before in-byte position `k`.
#[inline]
fn through_bit(k: u64) -> u8 {
    !((0xFFu16 >> ((k & 7) + 1)) as u8)
}

/// Set bits among bit positions `first..=last` of `p` (both within `p`).
fn count_range(p: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    let mut n = popcount(&p[fb..=lb]);
    n -= u64::from((p[fb] & !from_bit(first)).count_ones());
    n -= u64::from((p[lb] & !through_bit(last)).count_ones());
    n
}

/// The first bit position in `first..=last` (both within `p`) whose bit is
/// `bit`; whole 8-byte words that cannot hold it are skipped.
fn find_bit(p: &[u8], first: u64, last: u64, bit: bool) -> Option<u64> {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    // After XOR with `flip` the bits we look for are the ones set.
    let flip: u8 = if bit { 0 } else { 0xFF };
    let hit = |i: usize, m: u8| (m != 0).then(|| i as u64 * 8 + u64::from(m.leading_zeros()));
    let head = (p[fb] ^ flip) & from_bit(first);
    if fb == lb {
        return hit(fb, head & through_bit(last));
    }
    if let Some(pos) = hit(fb, head) {
        return Some(pos);
    }
    let middle = &p[fb + 1..lb];
    let flip64 = if bit { 0 } else { u64::MAX };
    let mut words = middle.chunks_exact(8);
    let mut base = fb + 1;
    for w in &mut words {
        let x = word_be(w) ^ flip64;
        if x != 0 {
            return Some(base as u64 * 8 + u64::from(x.leading_zeros()));
        }
        base += 8;
    }
    for &b in words.remainder() {
        if let Some(pos) = hit(base, b ^ flip) {
            return Some(pos);
        }
        base += 1;
    }
    hit(lb, (p[lb] ^ flip) & through_bit(last))
}

/// The byte at `i` of `p`, zero past its end.
#[inline]
fn byte_at(p: &[u8], i: usize) -> u8 {
    p.get(i).copied().unwrap_or(0)
}

/// The (at most) 9 bytes holding a field at bit `offset`, zero-padded.
fn window(p: &[u8], offset: u64) -> [u8; 9] {
    let mut buf = [0u8; 9];
    let byte = offset / 8;
    if byte < p.len() as u64 {
        let byte = byte as usize;
        let n = (p.len() - byte).min(9);
        buf[..n].copy_from_slice(&p[byte..byte + n]);
    }
    buf
}

/// The 9 bytes as the low 72 bits of a u128.
fn window_bits(buf: &[u8; 9]) -> u128 {
    (u128::from(word_be(buf)) << 8) | u128::from(buf[8])
}

/// The `bits`-wide (1..=64) unsigned field starting `shift` (0..8) bits
/// into the window.
fn field_get(buf: &[u8; 9], shift: u64, bits: u32) -> u64 {
    ((window_bits(buf) << (56 + shift)) >> (128 - bits)) as u64
}

/// Writes the low `bits` of `value` into the field at `shift`.
fn field_set(buf: &mut [u8; 9], shift: u64, bits: u32, value: u64) {
    let at = 72 - shift as u32 - bits;
    let ones = (1u128 << bits) - 1;
    let w = (window_bits(buf) & !(ones << at)) | ((u128::from(value) & ones) << at);
    let b = w.to_be_bytes();
    buf.copy_from_slice(&b[7..16]);
}

/// `raw`'s low `bits` read as a two's-complement number.
fn sign_extend(raw: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((raw << shift) as i64) >> shift
}

// ---------------------------------------------------------------------------
// BITFIELD operations

/// What BITFIELD does when a SET or INCRBY leaves the field's range.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OpKind {
    Get,
    Set,
    IncrBy,
}

/// One parsed BITFIELD operation.
#[derive(Clone, Copy, Debug)]
struct FieldOp {
    kind: OpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    /// SET's value or INCRBY's increment.
    arg: i64,
    overflow: Overflow,
}

/// `i1`..`i64` or `u1`..`u63` (lowercase, as Redis 7.0 accepts).
fn field_type(arg: &[u8]) -> Result<(bool, u32), Error> {
    let (signed, digits) = match arg.split_first() {
        Some((b'i', rest)) => (true, rest),
        Some((b'u', rest)) => (false, rest),
        _ => return Err(TYPE_ERR),
    };
    let max = if signed { 64 } else { 63 };
    match parse_i64(digits) {
        Some(n) if (1..=max).contains(&n) => Ok((signed, n as u32)),
        _ => Err(TYPE_ERR),
    }
}

/// Walks BITFIELD's subcommands; `next` parses one operation (applying
/// OVERFLOW settings on the way), so a command can be validated in one
/// pass and executed in a second one without collecting the operations.
struct FieldOps<'a> {
    argv: &'a [&'a [u8]],
    pos: usize,
    overflow: Overflow,
    limit: usize,
}

impl<'a> FieldOps<'a> {
    fn new(argv: &'a [&'a [u8]], limit: usize) -> Self {
        FieldOps {
            argv,
            pos: 2,
            overflow: Overflow::Wrap,
            limit,
        }
    }

    fn next(&mut self) -> Result<Option<FieldOp>, Error> {
        loop {
            let Some(sub) = self.argv.get(self.pos) else {
                return Ok(None);
            };
            let remaining = self.argv.len() - self.pos - 1;
            let kind = if sub.eq_ignore_ascii_case(b"get") && remaining >= 2 {
                OpKind::Get
            } else if sub.eq_ignore_ascii_case(b"set") && remaining >= 3 {
                OpKind::Set
            } else if sub.eq_ignore_ascii_case(b"incrby") && remaining >= 3 {
                OpKind::IncrBy
            } else if sub.eq_ignore_ascii_case(b"overflow") && remaining >= 1 {
                let how = self.argv[self.pos + 1];
                self.overflow = if how.eq_ignore_ascii_case(b"wrap") {
                    Overflow::Wrap
                } else if how.eq_ignore_ascii_case(b"sat") {
                    Overflow::Sat
                } else if how.eq_ignore_ascii_case(b"fail") {
                    Overflow::Fail
                } else {
                    return Err(Error::Static("ERR Invalid OVERFLOW type specified"));
                };
                self.pos += 2;
                continue;
            } else {
                return Err(Error::Syntax);
            };
            let (signed, bits) = field_type(self.argv[self.pos + 1])?;
            let offset = bit_offset(self.argv[self.pos + 2], Some(bits), self.limit)?;
            let arg = if kind == OpKind::Get {
                0
            } else {
                parse_i64(self.argv[self.pos + 3]).ok_or(Error::NotInteger)?
            };
            self.pos += if kind == OpKind::Get { 3 } else { 4 };
            return Ok(Some(FieldOp {
                kind,
                signed,
                bits,
                offset,
                arg,
                overflow: self.overflow,
            }));
        }
    }
}

/// A SET or INCRBY applied to the field's current raw bits: `Some((reply,
/// new raw bits))`, or `None` when it overflows under OVERFLOW FAIL.
///
/// The exact result is computed in i128 and checked against the field's
/// range, which is what Redis's overflow checks amount to. One quirk is
/// kept: an unsigned SET reads its value as a u64, so `SET u8 0 -1`
/// saturates to 255, not 0.
fn apply(op: &FieldOp, old_raw: u64) -> Option<(i64, u64)> {
    let bits = op.bits;
    let (old, base, incr): (i64, i128, i64) = if op.signed {
        let old = sign_extend(old_raw, bits);
        match op.kind {
            OpKind::IncrBy => (old, i128::from(old), op.arg),
            _ => (old, i128::from(op.arg), 0),
        }
    } else {
        let old = old_raw as i64;
        match op.kind {
            OpKind::IncrBy => (old, i128::from(old), op.arg),
            _ => (old, i128::from(op.arg as u64), 0),
        }
    };
    let (min, max): (i128, i128) = if op.signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    let exact = base + i128::from(incr);
    let new: i128 = if (min..=max).contains(&exact) {
        exact
    } else {
        match op.overflow {
            Overflow::Fail => return None,
            Overflow::Sat if exact > max => max,
            Overflow::Sat => min,
            Overflow::Wrap => {
                let raw = (base as u64).wrapping_add(incr as u64);
                if op.signed {
                    i128::from(sign_extend(raw, bits))
                } else {
                    i128::from(raw & (u64::MAX >> (64 - bits)))
                }
            }
        }
    };
    let reply = if op.kind == OpKind::IncrBy {
        new as i64
    } else {
        old
    };
    Some((reply, new as u64))
}

/// A GET's reply from the field's raw bits.
fn get_reply(op: &FieldOp, raw: u64) -> i64 {
    if op.signed {
        sign_extend(raw, op.bits)
    } else {
        raw as i64
    }
}

// ---------------------------------------------------------------------------
// Handlers

/// SETBIT key offset value
fn setbit(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(argv[2], None, ctx.shard.config.proto_max_bulk_len)?;
    let on = match argv[3] {
        b"0" => false,
        b"1" => true,
        _ => return Err(BIT_ERR),
    };
    let byte = (offset / 8) as usize;
    let mask = 0x80u8 >> (offset & 7);
    let now = ctx.now;
    let old = with_string_for_write(ctx.db(), argv[1], now, byte, |v| {
        let cur = v.as_str().map_or(0, |s| byte_at(&str_bytes(s), byte));
        let new = if on { cur | mask } else { cur & !mask };
        v.set_range(byte, &[new]);
        cur & mask != 0
    })?;
    ctx.notify(storage::notify::class::STRING, "setbit", argv[1]);
    encode::integer(ctx.out, i64::from(old));
    Ok(())
}

/// GETBIT key offset
fn getbit(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(argv[2], None, ctx.shard.config.proto_max_bulk_len)?;
    let bit = match read(ctx.shard, ctx.db, argv[1], ctx.now)? {
        Some(p) => byte_at(&p, (offset / 8) as usize) & (0x80 >> (offset & 7)) != 0,
        None => false,
    };
    encode::integer(ctx.out, i64::from(bit));
    Ok(())
}

/// BITCOUNT key [start end [BYTE | BIT]]
fn bitcount(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let Some(p) = read(ctx.shard, ctx.db, argv[1], ctx.now)? else {
        encode::integer(ctx.out, 0);
        return Ok(());
    };
    let range = match argv.len() {
        2 => resolve_range(p.len(), 0, -1, false),
        4 | 5 => {
            let start = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
            let end = parse_i64(argv[3]).ok_or(Error::NotInteger)?;
            let is_bit = match argv.get(4) {
                Some(u) => parse_unit(u)?,
                None => false,
            };
            if start < 0 && end < 0 && start > end {
                None
            } else {
                resolve_range(p.len(), start, end, is_bit)
            }
        }
        _ => return Err(Error::Syntax),
    };
    let n = range.map_or(0, |(first, last)| count_range(&p, first, last));
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// BITPOS key bit [start [end [BYTE | BIT]]]
fn bitpos(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let bit = match parse_i64(argv[2]).ok_or(Error::NotInteger)? {
        0 => false,
        1 => true,
        _ => return Err(Error::Static("ERR The bit argument must be 1 or 0.")),
    };
    let Some(p) = read(ctx.shard, ctx.db, argv[1], ctx.now)? else {
        // A missing key is an endless run of zeros.
        encode::integer(ctx.out, if bit { -1 } else { 0 });
        return Ok(());
    };
    let (range, end_given) = match argv.len() {
        3 => (resolve_range(p.len(), 0, -1, false), false),
        4..=6 => {
            let start = parse_i64(argv[3]).ok_or(Error::NotInteger)?;
            let is_bit = match argv.get(5) {
                Some(u) => parse_unit(u)?,
                None => false,
            };
            match argv.get(4) {
                Some(e) => {
                    let end = parse_i64(e).ok_or(Error::NotInteger)?;
                    (resolve_range(p.len(), start, end, is_bit), true)
                }
                None => (resolve_range(p.len(), start, -1, is_bit), false),
            }
        }
        _ => return Err(Error::Syntax),
    };
    let pos = match range {
        None => -1,
        Some((first, last)) => match find_bit(&p, first, last, bit) {
            Some(pos) => pos as i64,
            // Looking for a zero without an explicit end: the string goes on
            // with zeros, so the first one is just past it.
            None if !bit && !end_given => last as i64 + 1,
            None => -1,
        },
    };
    encode::integer(ctx.out, pos);
    Ok(())
}

/// BITFIELD key [GET type offset] [SET type offset value]
///   [INCRBY type offset increment] [OVERFLOW WRAP|SAT|FAIL] ...
fn bitfield(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

/// BITFIELD_RO key [GET type offset] ...
fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

/// Validates every operation (first error wins, nothing changed), then runs
/// them in order: reads only when all are GETs, else with the string grown
/// to the farthest bit any SET or INCRBY reaches.
fn bitfield_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], readonly_cmd: bool) -> CmdResult {
    let limit = ctx.shard.config.proto_max_bulk_len;
    let mut ops = FieldOps::new(argv, limit);
    let (mut count, mut highest) = (0usize, None::<u64>);
    while let Some(op) = ops.next()? {
        count += 1;
        if op.kind != OpKind::Get {
            let last = op.offset + u64::from(op.bits) - 1;
            highest = Some(highest.map_or(last, |h| h.max(last)));
        }
    }
    let mut ops = FieldOps::new(argv, limit);
    let Some(highest) = highest else {
        let p = read(ctx.shard, ctx.db, argv[1], ctx.now)?;
        let p: &[u8] = p.as_deref().unwrap_or(b"");
        encode::array_len(ctx.out, count);
        while let Ok(Some(op)) = ops.next() {
            let buf = window(p, op.offset);
            let raw = field_get(&buf, op.offset & 7, op.bits);
            encode::integer(ctx.out, get_reply(&op, raw));
        }
        return Ok(());
    };
    if readonly_cmd {
        return Err(Error::Static(
            "ERR BITFIELD_RO only supports the GET subcommand",
        ));
    }
    let now = ctx.now;
    let (out, resp3) = (&mut *ctx.out, ctx.resp3);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    with_string_for_write(db, argv[1], now, (highest / 8) as usize, |v| {
        encode::array_len(out, count);
        while let Ok(Some(op)) = ops.next() {
            run_field_op(v, &op, out, resp3);
        }
    })
}

/// Runs one validated BITFIELD operation on a string already grown to hold
/// it, replying with its result.
fn run_field_op(v: &mut Value, op: &FieldOp, out: &mut Vec<u8>, resp3: bool) {
    let mut buf = v
        .as_str()
        .map_or([0; 9], |s| window(&str_bytes(s), op.offset));
    let shift = op.offset & 7;
    let raw = field_get(&buf, shift, op.bits);
    if op.kind == OpKind::Get {
        encode::integer(out, get_reply(op, raw));
        return;
    }
    match apply(op, raw) {
        Some((reply, new)) => {
            field_set(&mut buf, shift, op.bits, new);
            let used = (shift as usize + op.bits as usize).div_ceil(8);
            v.set_range((op.offset / 8) as usize, &buf[..used]);
            encode::integer(out, reply);
        }
        None => encode::null(out, resp3),
    }
}

// ---------------------------------------------------------------------------
// BITOP

/// BITOP's operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Parses `BITOP op destkey srckey...`'s operation and checks that NOT has
/// exactly one source, with Redis's errors. Argument count already checked
/// by the table (at least 4).
pub fn parse_bitop(argv: &[&[u8]]) -> Result<BitOp, Error> {
    let name = argv.get(1).copied().unwrap_or(b"");
    let op = if name.eq_ignore_ascii_case(b"and") {
        BitOp::And
    } else if name.eq_ignore_ascii_case(b"or") {
        BitOp::Or
    } else if name.eq_ignore_ascii_case(b"xor") {
        BitOp::Xor
    } else if name.eq_ignore_ascii_case(b"not") {
        BitOp::Not
    } else {
        return Err(Error::Syntax);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err(Error::Static(
            "ERR BITOP NOT must be called with a single source key.",
        ));
    }
    Ok(op)
}

/// Combines `src` into `dst` word by word (`src` no longer than `dst`).
fn fold_with(dst: &mut [u8], src: &[u8], f: impl Fn(u64, u64) -> u64) {
    let n = src.len();
    let mut d = dst[..n].chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (dw, sw) in (&mut d).zip(&mut s) {
        let r = f(word_be(dw), word_be(sw));
        dw.copy_from_slice(&r.to_be_bytes());
    }
    for (db, &sb) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *db = f(u64::from(*db), u64::from(sb)) as u8;
    }
}

/// Folds one more source into a result that already holds the first one
/// (zero-padded to the longest source): shorter sources count as zeros.
fn fold(op: BitOp, dst: &mut [u8], src: &[u8]) {
    match op {
        BitOp::And => {
            fold_with(dst, src, |a, b| a & b);
            dst[src.len()..].fill(0);
        }
        BitOp::Or => fold_with(dst, src, |a, b| a | b),
        BitOp::Xor => fold_with(dst, src, |a, b| a ^ b),
        // NOT has a single source: nothing to fold.
        BitOp::Not => {}
    }
}

/// The first source's contribution: its bytes (inverted for NOT), padded
/// with zeros to `maxlen`.
fn first_source(op: BitOp, src: &[u8], maxlen: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(maxlen);
    if op == BitOp::Not {
        out.extend(src.iter().map(|b| !b));
    } else {
        out.extend_from_slice(src);
    }
    out.resize(maxlen, 0);
    out
}

/// BITOP over the sources' bytes (a missing key is an empty slice): the
/// result, as long as the longest source. For the server's cross-shard
/// BITOP, which gathers the sources with [`bitop_source`].
pub fn bitop_combine(op: BitOp, sources: &[&[u8]]) -> Vec<u8> {
    let maxlen = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let Some((first, rest)) = sources.split_first() else {
        return Vec::new();
    };
    let mut out = first_source(op, first, maxlen);
    for s in rest {
        fold(op, &mut out, s);
    }
    out
}

/// One BITOP source on this shard: its bytes, `None` when missing,
/// WRONGTYPE when not a string (counts a keyspace hit or miss).
pub fn bitop_source(
    shard: &mut Shard,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Result<Option<Vec<u8>>, Error> {
    Ok(read(shard, db, key, now)?.map(|p| p.to_vec()))
}

/// Stores BITOP's result at `key` (no TTL), or deletes `key` when the
/// result is empty, as Redis does; returns the length to reply with.
pub fn bitop_store(
    shard: &mut Shard,
    db: usize,
    key: &[u8],
    result: Vec<u8>,
    now: Millis,
) -> usize {
    let len = result.len();
    let db = &mut shard.ks.dbs[db];
    if len == 0 {
        db.remove(key, now);
    } else {
        db.insert(key, Value::from_vec(result), None);
    }
    len
}

/// BITOP AND|OR|XOR|NOT destkey srckey [srckey ...]  (all keys on this shard)
///
/// Two passes over the sources so that none is copied: the first checks
/// types and finds the longest, the second folds each into the result.
fn bitop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let op = parse_bitop(argv)?;
    let (dest, srcs) = (argv[2], &argv[3..]);
    let mut maxlen = 0;
    for key in srcs {
        if let Some(p) = read(ctx.shard, ctx.db, key, ctx.now)? {
            maxlen = maxlen.max(p.len());
        }
    }
    let now = ctx.now;
    let mut out = Vec::new();
    if maxlen > 0 {
        let db = ctx.db();
        for (i, key) in srcs.iter().enumerate() {
            let p = db.get(key, now).and_then(|v| v.as_str()).map(str_bytes);
            let p: &[u8] = p.as_deref().unwrap_or(b"");
            if i == 0 {
                out = first_source(op, p, maxlen);
            } else {
                fold(op, &mut out, p);
            }
        }
    }
    let len = bitop_store(ctx.shard, ctx.db, dest, out, now);
    encode::integer(ctx.out, len as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit `i` of `p` (MSB first), zero past the end.
    fn bit(p: &[u8], i: u64) -> bool {
        byte_at(p, (i / 8) as usize) & (0x80 >> (i & 7)) != 0
    }

    fn sample(n: usize, seed: u64) -> Vec<u8> {
        let mut r = fastrand::Rng::with_seed(seed);
        (0..n)
            .map(|_| match r.u8(0..4) {
                0 => 0,
                1 => 0xFF,
                _ => r.u8(..),
            })
            .collect()
    }

    #[test]
    fn popcount_matches_bytes() {
        for n in [0, 1, 7, 8, 9, 31, 32, 33, 100, 1000] {
            let p = sample(n, n as u64);
            let naive: u64 = p.iter().map(|b| u64::from(b.count_ones())).sum();
            assert_eq!(popcount(&p), naive, "len {n}");
        }
    }

    #[test]
    fn ranges_count_and_find_like_a_bit_loop() {
        let mut r = fastrand::Rng::with_seed(7);
        for round in 0..2000 {
            let p = sample(r.usize(1..40), round);
            let nbits = p.len() as u64 * 8;
            let first = r.u64(0..nbits);
            let last = r.u64(first..nbits);
            let naive = (first..=last).filter(|&i| bit(&p, i)).count() as u64;
            assert_eq!(count_range(&p, first, last), naive);
            for b in [false, true] {
                let want = (first..=last).find(|&i| bit(&p, i) == b);
                assert_eq!(
                    find_bit(&p, first, last, b),
                    want,
                    "{p:?} {first} {last} {b}"
                );
            }
        }
    }

    #[test]
    fn range_resolution() {
        assert_eq!(resolve_range(6, 0, -1, false), Some((0, 47)));
        assert_eq!(resolve_range(6, 1, -2, false), Some((8, 39)));
        assert_eq!(resolve_range(6, -2, 1, false), None);
        assert_eq!(resolve_range(6, 0, 1000, false), Some((0, 47)));
        assert_eq!(resolve_range(6, 10, -34, true), Some((10, 14)));
        assert_eq!(resolve_range(0, 0, -1, false), None);
        assert_eq!(resolve_range(3, i64::MIN, i64::MAX, true), Some((0, 23)));
    }

    #[test]
    fn fields_round_trip() {
        let mut r = fastrand::Rng::with_seed(3);
        for _ in 0..2000 {
            let bits = r.u32(1..=64);
            let shift = r.u64(0..8);
            let mut buf = [0u8; 9];
            r.fill(&mut buf);
            let before = buf;
            let value = r.u64(..);
            field_set(&mut buf, shift, bits, value);
            let mask = u64::MAX >> (64 - bits);
            assert_eq!(field_get(&buf, shift, bits), value & mask);
            // Bits outside the field are untouched.
            for i in 0..72u64 {
                if i < shift || i >= shift + u64::from(bits) {
                    assert_eq!(bit(&buf, i), bit(&before, i));
                }
            }
        }
    }

    fn op(kind: OpKind, signed: bool, bits: u32, arg: i64, overflow: Overflow) -> FieldOp {
        FieldOp {
            kind,
            signed,
            bits,
            offset: 0,
            arg,
            overflow,
        }
    }

    #[test]
    fn overflow_rules() {
        use OpKind::*;
        use Overflow::*;
        // u8 100 + 257: wrap 101, sat 255, fail none.
        assert_eq!(
            apply(&op(IncrBy, false, 8, 257, Wrap), 100),
            Some((101, 101))
        );
        assert_eq!(
            apply(&op(IncrBy, false, 8, 257, Sat), 100),
            Some((255, 255))
        );
        assert_eq!(apply(&op(IncrBy, false, 8, 257, Fail), 100), None);
        assert_eq!(apply(&op(IncrBy, false, 8, -255, Sat), 100), Some((0, 0)));
        // An unsigned SET of a negative value reads it as a u64.
        assert_eq!(apply(&op(Set, false, 8, -1, Sat), 0), Some((0, 255)));
        assert_eq!(apply(&op(Set, false, 8, -1, Wrap), 7), Some((7, 255)));
        // i8 100 + 257 wraps to 101; sat 127 / -128.
        assert_eq!(
            apply(&op(IncrBy, true, 8, 257, Wrap), 100),
            Some((101, 101))
        );
        assert_eq!(apply(&op(IncrBy, true, 8, 257, Sat), 100), Some((127, 127)));
        let r = apply(&op(IncrBy, true, 8, -255, Sat), 100);
        assert_eq!(r, Some((-128, (-128i64) as u64)));
        // i64 at the edges.
        let max = i64::MAX as u64;
        assert_eq!(apply(&op(IncrBy, true, 64, 1, Fail), max), None);
        assert_eq!(
            apply(&op(IncrBy, true, 64, 1, Wrap), max),
            Some((i64::MIN, i64::MIN as u64))
        );
        assert_eq!(
            apply(&op(Set, true, 8, 255, Wrap), 0),
            Some((0, (-1i64) as u64))
        );
        assert_eq!(apply(&op(Set, true, 8, 255, Fail), 0), None);
    }

    #[test]
    fn offsets_and_types() {
        let limit = 512 << 20;
        assert_eq!(bit_offset(b"4294967295", None, limit), Ok(4294967295));
        assert_eq!(bit_offset(b"4294967296", None, limit), Err(OFFSET_ERR));
        assert_eq!(bit_offset(b"-1", None, limit), Err(OFFSET_ERR));
        assert_eq!(bit_offset(b"#2", Some(8), limit), Ok(16));
        assert_eq!(bit_offset(b"#2", None, limit), Err(OFFSET_ERR));
        assert_eq!(bit_offset(b"#-1", Some(8), limit), Err(OFFSET_ERR));
        // Redis multiplies with wrap-around.
        assert_eq!(bit_offset(b"#2305843009213693953", Some(8), limit), Ok(8));
        assert_eq!(field_type(b"i64"), Ok((true, 64)));
        assert_eq!(field_type(b"u63"), Ok((false, 63)));
        for bad in [&b"u64"[..], b"i65", b"i0", b"I8", b"u", b"", b"x8", b"i+8"] {
            assert_eq!(field_type(bad), Err(TYPE_ERR), "{bad:?}");
        }
    }

    /// Runs a handler on a shard holding a hash at "h" and the string "foobar" at "s".
    fn run(f: crate::table::ShardFn, argv: &[&[u8]]) -> (CmdResult, Vec<u8>) {
        let mut shard = Shard::new(1);
        let db = &mut shard.ks.dbs[0];
        db.insert(b"h", Value::Hash(Default::default()), None);
        db.insert(b"s", Value::from_bytes(b"foobar"), None);
        let mut out = Vec::new();
        let mut ctx = Ctx {
            shard: &mut shard,
            db: 0,
            now: 1,
            out: &mut out,
            resp3: false,
        };
        let r = f(&mut ctx, argv);
        (r, out)
    }

    #[test]
    fn other_types_are_wrongtype() {
        let cases: [(crate::table::ShardFn, &[&[u8]]); 9] = [
            (setbit, &[b"setbit", b"h", b"0", b"1"]),
            (getbit, &[b"getbit", b"h", b"0"]),
            (bitcount, &[b"bitcount", b"h"]),
            (bitcount, &[b"bitcount", b"h", b"x"]),
            (bitpos, &[b"bitpos", b"h", b"1", b"x"]),
            (bitfield, &[b"bitfield", b"h"]),
            (bitfield, &[b"bitfield", b"h", b"set", b"u8", b"0", b"1"]),
            (bitfield_ro, &[b"bitfield_ro", b"h", b"get", b"u8", b"0"]),
            (bitop, &[b"bitop", b"or", b"d", b"s", b"h"]),
        ];
        for (f, argv) in cases {
            assert_eq!(run(f, argv).0, Err(Error::WrongType), "{argv:?}");
        }
        // Argument errors found before the lookup win.
        assert_eq!(
            run(setbit, &[b"setbit", b"h", b"-1", b"1"]).0,
            Err(OFFSET_ERR)
        );
        assert_eq!(run(setbit, &[b"setbit", b"h", b"0", b"2"]).0, Err(BIT_ERR));
        assert_eq!(
            run(bitfield, &[b"bitfield", b"h", b"get", b"u64", b"0"]).0,
            Err(TYPE_ERR)
        );
        let (r, out) = run(bitop, &[b"bitop", b"not", b"d", b"s"]);
        assert_eq!((r, out), (Ok(()), b":6\r\n".to_vec()));
    }

    #[test]
    fn combine_pads_shorter_sources() {
        let a = [0x01u8, 0x02, 0xff, 0xff];
        let b = [0x01u8, 0x02, 0xff];
        assert_eq!(bitop_combine(BitOp::And, &[&a, &b]), [1, 2, 0xff, 0]);
        assert_eq!(bitop_combine(BitOp::Or, &[&a, &b]), [1, 2, 0xff, 0xff]);
        assert_eq!(bitop_combine(BitOp::Xor, &[&a, &b]), [0, 0, 0, 0xff]);
        assert_eq!(bitop_combine(BitOp::Not, &[&b]), [0xfe, 0xfd, 0]);
        assert_eq!(bitop_combine(BitOp::And, &[b"", &a]), [0, 0, 0, 0]);
        let long = sample(100, 1);
        let other = sample(77, 2);
        let want: Vec<u8> = (0..100)
            .map(|i| long[i] ^ other.get(i).copied().unwrap_or(0))
            .collect();
        assert_eq!(bitop_combine(BitOp::Xor, &[&long, &other]), want);
    }
}
