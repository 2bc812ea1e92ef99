//! List commands: pushes and pops at both ends, indexing, ranges, LINSERT,
//! LREM, LSET, LTRIM, LPOS, and RPOPLPUSH/LMOVE when both keys share a
//! shard. Replies, argument checks (and their order) and error strings are
//! Redis 7.0's.
//!
//! The list itself ([`storage::List`]) hides its packed nodes; handlers
//! only parse arguments, go through [`access`] (WRONGTYPE, creating and
//! deleting keys) and stream elements straight into the reply.

use resp::encode;
use storage::notify::class;
use storage::{List, Millis, StrRef};

use crate::access;
use crate::args::{parse_i64, Args};
use crate::strings::write_bulk_str;
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

const ONE_KEY: (i32, i32, i32) = (1, 1, 1);
const TWO_KEYS: (i32, i32, i32) = (1, 2, 1);
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, \
                         2 from the second ... or use negative to start from the end of the list";

pub fn register(t: &mut CommandTable) {
    t.shard("lpush", -3, WRITE | DENYOOM | FAST, ONE_KEY, lpush);
    t.shard("rpush", -3, WRITE | DENYOOM | FAST, ONE_KEY, rpush);
    t.shard("lpushx", -3, WRITE | DENYOOM | FAST, ONE_KEY, lpushx);
    t.shard("rpushx", -3, WRITE | DENYOOM | FAST, ONE_KEY, rpushx);
    t.shard("lpop", -2, WRITE | FAST, ONE_KEY, lpop);
    t.shard("rpop", -2, WRITE | FAST, ONE_KEY, rpop);
    t.shard("llen", 2, READONLY | FAST, ONE_KEY, llen);
    t.shard("lindex", 3, READONLY, ONE_KEY, lindex);
    t.shard("linsert", 5, WRITE | DENYOOM, ONE_KEY, linsert);
    t.shard("lrange", 4, READONLY, ONE_KEY, lrange);
    t.shard("lrem", 4, WRITE, ONE_KEY, lrem);
    t.shard("lset", 4, WRITE | DENYOOM, ONE_KEY, lset);
    t.shard("ltrim", 4, WRITE, ONE_KEY, ltrim);
    t.shard("lpos", -3, READONLY, ONE_KEY, lpos);
    t.shard(
        "rpoplpush",
        3,
        WRITE | DENYOOM | MULTI_KEY,
        TWO_KEYS,
        rpoplpush,
    );
    t.shard("lmove", 5, WRITE | DENYOOM | MULTI_KEY, TWO_KEYS, lmove);
    t.shard_keys_fn("lmpop", -4, WRITE | MULTI_KEY, (0, 0, 0), lmpop_keys, lmpop);
}

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    fn parse(b: &[u8]) -> Result<End, Error> {
        if b.eq_ignore_ascii_case(b"left") {
            Ok(End::Left)
        } else if b.eq_ignore_ascii_case(b"right") {
            Ok(End::Right)
        } else {
            Err(Error::Syntax)
        }
    }
}

/// The null a missing key answers to a command that replies with an array
/// (`*-1` in RESP2, `_` in RESP3).
fn null_array(out: &mut Vec<u8>, resp3: bool) {
    if resp3 {
        encode::null(out, true);
    } else {
        encode::null_array(out);
    }
}

fn integer_len(out: &mut Vec<u8>, n: usize) {
    encode::integer(out, i64::try_from(n).unwrap_or(i64::MAX));
}

/// Pushes every element of `argv[2..]` at `end`; `only_existing` is the X
/// variants (no key: nothing happens, reply 0).
fn push(ctx: &mut Ctx<'_>, argv: &[&[u8]], end: End, only_existing: bool) -> CmdResult {
    let (key, now) = (argv[1], ctx.now);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let list = if only_existing {
        match access::write::<List>(db, key, now)? {
            Some(l) => l,
            None => {
                encode::integer(ctx.out, 0);
                return Ok(());
            }
        }
    } else {
        access::write_or_create::<List>(db, key, now)?
    };
    for v in &argv[2..] {
        match end {
            End::Left => list.push_front(v),
            End::Right => list.push_back(v),
        }
    }
    integer_len(ctx.out, list.len());
    let event = match end {
        End::Left => "lpush",
        End::Right => "rpush",
    };
    ctx.notify(class::LIST, event, key);
    Ok(())
}

/// LPUSH key element [element ...]
fn lpush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, End::Left, false)
}

/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, End::Right, false)
}

/// LPUSHX key element [element ...]
fn lpushx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, End::Left, true)
}

/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    push(ctx, argv, End::Right, true)
}

/// LPOP/RPOP: one element as a bulk, or with a count an array of up to
/// count elements (a missing key: null; count 0 on a list: empty array).
fn pop(ctx: &mut Ctx<'_>, argv: &[&[u8]], end: End, name: &str) -> CmdResult {
    if argv.len() > 3 {
        return Err(Error::WrongArity(name.to_string()));
    }
    let count = match argv.get(2) {
        None => None,
        Some(a) => match parse_i64(a) {
            Some(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Err(Error::Static(NOT_POSITIVE)),
        },
    };
    let (key, now, resp3) = (argv[1], ctx.now, ctx.resp3);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let Some(list) = access::write::<List>(db, key, now)? else {
        match count {
            Some(_) => null_array(ctx.out, resp3),
            None => encode::null(ctx.out, resp3),
        }
        return Ok(());
    };
    let out = &mut *ctx.out;
    let n = match count {
        None => 1,
        Some(c) => {
            let n = c.min(list.len());
            encode::array_len(out, n);
            n
        }
    };
    let event = pop_n(list, end, n, out);
    if n > 0 {
        storage::notify::emit(class::LIST, event, db.id, key);
    }
    access::remove_if_empty::<List>(db, key, now);
    Ok(())
}

/// Pops up to `n` elements from `end` of `list` as bulk replies to `out`;
/// returns the keyspace event that is (`lpop` or `rpop`).
fn pop_n(list: &mut List, end: End, n: usize, out: &mut Vec<u8>) -> &'static str {
    let emit = |s: StrRef<'_>| write_bulk_str(out, s);
    match end {
        End::Left => {
            list.pop_front_n(n, emit);
            "lpop"
        }
        End::Right => {
            list.pop_back_n(n, emit);
            "rpop"
        }
    }
}

/// LPOP key [count]
fn lpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pop(ctx, argv, End::Left, "lpop")
}

/// RPOP key [count]
fn rpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pop(ctx, argv, End::Right, "rpop")
}

/// LLEN key
fn llen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let len = access::read::<List>(ctx.db(), argv[1], now)?.map_or(0, List::len);
    integer_len(ctx.out, len);
    Ok(())
}

/// LINDEX key index
fn lindex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (now, resp3) = (ctx.now, ctx.resp3);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let Some(list) = access::read::<List>(db, argv[1], now)? else {
        encode::null(ctx.out, resp3);
        return Ok(());
    };
    let index = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    match list.get(index) {
        Some(s) => write_bulk_str(ctx.out, s),
        None => encode::null(ctx.out, resp3),
    }
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element
fn linsert(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let after = if argv[2].eq_ignore_ascii_case(b"after") {
        true
    } else if argv[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return Err(Error::Syntax);
    };
    let now = ctx.now;
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let Some(list) = access::write::<List>(db, argv[1], now)? else {
        encode::integer(ctx.out, 0);
        return Ok(());
    };
    if list.insert(argv[3], argv[4], after) {
        integer_len(ctx.out, list.len());
        ctx.notify(class::LIST, "linsert", argv[1]);
    } else {
        encode::integer(ctx.out, -1);
    }
    Ok(())
}

/// Redis's clamping of a `start stop` pair (negative: from the tail) to
/// the half-open range it selects in a list of `len`; `None` when empty.
fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let llen = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 { start + llen } else { start }.max(0);
    let stop = if stop < 0 { stop + llen } else { stop };
    if start > stop || start >= llen {
        return None;
    }
    let stop = stop.min(llen - 1);
    // Both are within 0..len here.
    Some((start as usize, stop as usize + 1))
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let start = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    let stop = parse_i64(argv[3]).ok_or(Error::NotInteger)?;
    let now = ctx.now;
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let list = access::read::<List>(db, argv[1], now)?;
    let range = list.and_then(|l| clamp_range(start, stop, l.len()).map(|r| (l, r)));
    let Some((list, (from, to))) = range else {
        encode::array_len(ctx.out, 0);
        return Ok(());
    };
    encode::array_len(ctx.out, to - from);
    for s in list.range(from, to) {
        write_bulk_str(ctx.out, s);
    }
    Ok(())
}

/// LREM key count element
fn lrem(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let count = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    let (key, now) = (argv[1], ctx.now);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let removed = match access::write::<List>(db, key, now)? {
        Some(list) => list.remove(argv[3], count),
        None => 0,
    };
    if removed > 0 {
        storage::notify::emit(class::LIST, "lrem", db.id, key);
        access::remove_if_empty::<List>(db, key, now);
    }
    integer_len(ctx.out, removed);
    Ok(())
}

/// LSET key index element
fn lset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let list = access::write::<List>(db, argv[1], now)?.ok_or(Error::NoSuchKey)?;
    let index = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    if !list.set(index, argv[3]) {
        return Err(Error::Static("ERR index out of range"));
    }
    ctx.notify(class::LIST, "lset", argv[1]);
    encode::ok(ctx.out);
    Ok(())
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let start = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    let stop = parse_i64(argv[3]).ok_or(Error::NotInteger)?;
    let (key, now) = (argv[1], ctx.now);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    if let Some(list) = access::write::<List>(db, key, now)? {
        let (from, to) = clamp_range(start, stop, list.len()).unwrap_or((0, 0));
        list.retain_range(from, to);
        storage::notify::emit(class::LIST, "ltrim", db.id, key);
        access::remove_if_empty::<List>(db, key, now);
    }
    encode::ok(ctx.out);
    Ok(())
}

/// LPOS's options.
struct LposOpts {
    rank: i64,
    /// None: no COUNT given (reply one index); Some(0): every match.
    count: Option<usize>,
    maxlen: usize,
}

impl LposOpts {
    fn parse(argv: &[&[u8]]) -> Result<LposOpts, Error> {
        let mut o = LposOpts {
            rank: 1,
            count: None,
            maxlen: 0,
        };
        let mut args = Args::at(argv, 3);
        while let Some(opt) = args.peek() {
            args.next_bytes()?;
            if args.is_done() {
                return Err(Error::Syntax);
            }
            let value = args.next_bytes()?;
            if opt.eq_ignore_ascii_case(b"RANK") {
                o.rank = match parse_i64(value).ok_or(Error::NotInteger)? {
                    0 => return Err(Error::Static(RANK_ZERO)),
                    // Redis 7.0 negates it and overflows: it then matches
                    // from the first match at the tail, as rank -1 does.
                    i64::MIN => -1,
                    r => r,
                };
            } else if opt.eq_ignore_ascii_case(b"COUNT") {
                o.count = Some(non_negative(value, "ERR COUNT can't be negative")?);
            } else if opt.eq_ignore_ascii_case(b"MAXLEN") {
                o.maxlen = non_negative(value, "ERR MAXLEN can't be negative")?;
            } else {
                return Err(Error::Syntax);
            }
        }
        Ok(o)
    }
}

/// A count that must be an integer >= 0, `msg` otherwise.
fn non_negative(b: &[u8], msg: &'static str) -> Result<usize, Error> {
    match parse_i64(b) {
        Some(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Err(Error::Static(msg)),
    }
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let o = LposOpts::parse(argv)?;
    let (now, resp3) = (ctx.now, ctx.resp3);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let list = access::read::<List>(db, argv[1], now)?;
    let out = &mut *ctx.out;
    match o.count {
        None => {
            let mut found = None;
            if let Some(l) = list {
                l.positions(argv[2], o.rank, o.maxlen, |i| {
                    found = Some(i);
                    false
                });
            }
            match found {
                Some(i) => integer_len(out, i),
                None => encode::null(out, resp3),
            }
        }
        Some(count) => {
            let limit = if count == 0 { usize::MAX } else { count };
            // The reply's length is known only at the end: collect the
            // indexes (bounded by the list's length and the count).
            let mut hits = Vec::new();
            if let Some(l) = list {
                l.positions(argv[2], o.rank, o.maxlen, |i| {
                    hits.push(i);
                    hits.len() < limit
                });
            }
            encode::array_len(out, hits.len());
            for i in hits {
                integer_len(out, i);
            }
        }
    }
    Ok(())
}

/// Pops from `src` at `from` and pushes at `to` of `dst` (both keys on this
/// shard), replying with the element; null when `src` does not exist.
///
/// The element is written into the reply as it is popped, and pushed from
/// there: no copy of it is allocated.
fn move_element(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    let (now, resp3): (Millis, bool) = (ctx.now, ctx.resp3);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    if access::read::<List>(db, src, now)?.is_none() {
        encode::null(ctx.out, resp3);
        return Ok(());
    }
    // The destination's type is checked before anything is popped.
    access::read::<List>(db, dst, now)?;
    let out = &mut *ctx.out;
    let start = out.len();
    let emit = |s: StrRef<'_>| write_bulk_str(out, s);
    let popped = match access::write::<List>(db, src, now)? {
        Some(l) => match from {
            End::Left => l.pop_front_n(1, emit),
            End::Right => l.pop_back_n(1, emit),
        },
        None => 0,
    };
    if popped == 0 {
        encode::null(ctx.out, resp3);
        return Ok(());
    }
    // The reply is `$<len>\r\n<element>\r\n`.
    let header = ctx.out[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let element = &ctx.out[start + header..ctx.out.len() - 2];
    let dl = access::write_or_create::<List>(db, dst, now)?;
    let (popped, pushed) = match (from, to) {
        (End::Left, End::Left) => ("lpop", "lpush"),
        (End::Left, End::Right) => ("lpop", "rpush"),
        (End::Right, End::Left) => ("rpop", "lpush"),
        (End::Right, End::Right) => ("rpop", "rpush"),
    };
    match to {
        End::Left => dl.push_front(element),
        End::Right => dl.push_back(element),
    }
    storage::notify::emit(class::LIST, popped, db.id, src);
    storage::notify::emit(class::LIST, pushed, db.id, dst);
    access::remove_if_empty::<List>(db, src, now);
    Ok(())
}

/// RPOPLPUSH source destination
fn rpoplpush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    move_element(ctx, argv[1], argv[2], End::Right, End::Left)
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let from = End::parse(argv[3])?;
    let to = End::parse(argv[4])?;
    move_element(ctx, argv[1], argv[2], from, to)
}

/// LMPOP's key positions: `numkeys` keys after argument 1 (none when
/// `numkeys` is malformed; the handler then reports it).
pub fn lmpop_keys(argv: &[&[u8]]) -> Vec<usize> {
    crate::table::numkeys_keys(argv, 1)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let numkeys = match parse_i64(argv[1]) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(Error::Static("ERR numkeys should be greater than 0")),
    };
    if numkeys > argv.len() - 3 {
        return Err(Error::Syntax);
    }
    let keys = &argv[2..2 + numkeys];
    let end = End::parse(argv[2 + numkeys])?;
    let mut args = Args::at(argv, 3 + numkeys);
    let mut count = None;
    while !args.is_done() {
        if count.is_none() && args.flag("COUNT") {
            let c = args.next_bytes()?;
            count = match parse_i64(c) {
                Some(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(Error::Static("ERR count should be greater than 0")),
            };
        } else {
            return Err(Error::Syntax);
        }
    }
    let count = count.unwrap_or(1);
    let (now, resp3) = (ctx.now, ctx.resp3);
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    for key in keys {
        let Some(list) = access::write::<List>(db, key, now)? else {
            continue;
        };
        let out = &mut *ctx.out;
        encode::array_len(out, 2);
        encode::bulk(out, key);
        encode::array_len(out, count.min(list.len()));
        let event = pop_n(list, end, count, out);
        storage::notify::emit(class::LIST, event, db.id, key);
        access::remove_if_empty::<List>(db, key, now);
        return Ok(());
    }
    null_array(ctx.out, resp3);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::clamp_range;

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 3), Some((0, 3)));
        assert_eq!(clamp_range(0, i64::MAX, 3), Some((0, 3)));
        assert_eq!(clamp_range(i64::MIN, i64::MAX, 3), Some((0, 3)));
        assert_eq!(clamp_range(-100, 1, 3), Some((0, 2)));
        assert_eq!(clamp_range(2, 1, 3), None);
        assert_eq!(clamp_range(3, 5, 3), None);
        assert_eq!(clamp_range(0, i64::MIN, 3), None);
        assert_eq!(clamp_range(0, 0, 0), None);
    }
}
