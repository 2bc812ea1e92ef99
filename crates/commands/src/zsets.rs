//! Sorted set commands: ZADD and friends, the ZRANGE family (by rank,
//! score and lex, forward and reverse, with LIMIT), removals by range,
//! pops, ZRANDMEMBER, ZSCAN, and the multi-key set operations
//! (ZUNION/ZINTER/ZDIFF[STORE], ZINTERCARD, ZRANGESTORE) for keys that live
//! on one shard.
//!
//! # Layout
//!
//! - parsing helpers: score and lex bounds, rank normalisation;
//! - reply helpers: scores (integral ones through `itoa`, no allocation),
//!   element lists (RESP2 flat, RESP3 pairs);
//! - the single-key commands, then the ZRANGE family around one
//!   [`RangeSpec`], then the set operations around [`SetOp`].
//!
//! For cross-shard execution the server can split a set operation into
//! [`setop_input_keys`], a [`snapshot`] of each input on its shard,
//! [`setop_finish`] at the coordinator and [`store_result`] on the
//! destination's shard.
//!
//! Every range is resolved to a half-open rank interval by the storage
//! type (`ZSet::score_range`, `ZSet::lex_range`), so LIMIT offsets cost
//! O(log n), not O(offset), and a reverse range is the same interval
//! walked from its end.

use std::collections::HashMap;

use resp::encode;
use storage::notify::class;
use storage::zset::{LexBound, ScoreRange};
use storage::{Db, Millis, Value, ZSet};

use crate::access;
use crate::access::Typed;
use crate::args::{parse_f64, parse_i64, Args};
use crate::scan::{self, ScanOpts};
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

const ERR_SCORE_RANGE: Error = Error::Static("ERR min or max is not a float");
const ERR_LEX_RANGE: Error = Error::Static("ERR min or max not valid string range item");
const ERR_NAN: Error = Error::Static("ERR resulting score is not a number (NaN)");

pub fn register(t: &mut CommandTable) {
    let wf = WRITE | DENYOOM | FAST;
    t.shard("zadd", -4, wf, (1, 1, 1), zadd);
    t.shard("zincrby", 4, wf, (1, 1, 1), zincrby);
    t.shard("zrem", -3, WRITE | FAST, (1, 1, 1), zrem);
    t.shard("zcard", 2, READONLY | FAST, (1, 1, 1), zcard);
    t.shard("zscore", 3, READONLY | FAST, (1, 1, 1), zscore);
    t.shard("zmscore", -3, READONLY | FAST, (1, 1, 1), zmscore);
    t.shard("zrank", 3, READONLY | FAST, (1, 1, 1), zrank);
    t.shard("zrevrank", 3, READONLY | FAST, (1, 1, 1), zrevrank);
    t.shard("zcount", 4, READONLY | FAST, (1, 1, 1), zcount);
    t.shard("zlexcount", 4, READONLY | FAST, (1, 1, 1), zlexcount);
    t.shard("zrange", -4, READONLY, (1, 1, 1), zrange);
    t.shard("zrevrange", -4, READONLY, (1, 1, 1), zrevrange);
    t.shard("zrangebyscore", -4, READONLY, (1, 1, 1), zrangebyscore);
    t.shard(
        "zrevrangebyscore",
        -4,
        READONLY,
        (1, 1, 1),
        zrevrangebyscore,
    );
    t.shard("zrangebylex", -4, READONLY, (1, 1, 1), zrangebylex);
    t.shard("zrevrangebylex", -4, READONLY, (1, 1, 1), zrevrangebylex);
    t.shard("zremrangebyrank", 4, WRITE, (1, 1, 1), zremrangebyrank);
    t.shard("zremrangebyscore", 4, WRITE, (1, 1, 1), zremrangebyscore);
    t.shard("zremrangebylex", 4, WRITE, (1, 1, 1), zremrangebylex);
    t.shard("zpopmin", -2, WRITE | FAST, (1, 1, 1), zpopmin);
    t.shard("zpopmax", -2, WRITE | FAST, (1, 1, 1), zpopmax);
    t.shard("zrandmember", -2, READONLY | RANDOM, (1, 1, 1), zrandmember);
    t.shard("zscan", -3, READONLY | RANDOM, (1, 1, 1), zscan);
    let store = WRITE | DENYOOM | MULTI_KEY;
    let read = READONLY | MULTI_KEY;
    t.shard("zrangestore", -5, store, (1, 2, 1), zrangestore);
    t.shard_keys_fn("zunionstore", -4, store, (1, 1, 1), store_keys, zunionstore);
    t.shard_keys_fn("zinterstore", -4, store, (1, 1, 1), store_keys, zinterstore);
    t.shard_keys_fn("zdiffstore", -4, store, (1, 1, 1), store_keys, zdiffstore);
    t.shard_keys_fn("zunion", -3, read, (0, 0, 0), numkeys_keys, zunion);
    t.shard_keys_fn("zinter", -3, read, (0, 0, 0), numkeys_keys, zinter);
    t.shard_keys_fn("zdiff", -3, read, (0, 0, 0), numkeys_keys, zdiff);
    t.shard_keys_fn("zintercard", -3, read, (0, 0, 0), numkeys_keys, zintercard);
}

// ---------------------------------------------------------------------------
// Parsing.

/// A score bound: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
fn parse_score_bound(b: &[u8]) -> Option<(f64, bool)> {
    match b.split_first() {
        Some((b'(', rest)) => bound_value(rest).map(|v| (v, true)),
        _ => bound_value(b).map(|v| (v, false)),
    }
}

/// A bound's number as Redis reads it (plain `strtod`, unlike ZADD's
/// scores): leading spaces skipped, and nothing at all reads as 0.
fn bound_value(b: &[u8]) -> Option<f64> {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    match &b[start..] {
        [] => Some(0.0),
        t => parse_f64(t),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Error> {
    let (min, min_excl) = parse_score_bound(min).ok_or(ERR_SCORE_RANGE)?;
    let (max, max_excl) = parse_score_bound(max).ok_or(ERR_SCORE_RANGE)?;
    Ok(ScoreRange {
        min,
        min_excl,
        max,
        max_excl,
    })
}

/// A lex bound: `-`, `+`, `[member` or `(member`.
fn parse_lex_bound(b: &[u8]) -> Option<LexBound<'_>> {
    match b {
        b"-" => Some(LexBound::NegInf),
        b"+" => Some(LexBound::PosInf),
        [b'[', rest @ ..] => Some(LexBound::Incl(rest)),
        [b'(', rest @ ..] => Some(LexBound::Excl(rest)),
        _ => None,
    }
}

fn parse_lex_range<'a>(
    min: &'a [u8],
    max: &'a [u8],
) -> Result<(LexBound<'a>, LexBound<'a>), Error> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(ERR_LEX_RANGE),
    }
}

/// Redis's rank arithmetic: negative ranks count from the end; the result
/// is the forward half-open interval, empty when nothing is selected.
fn rank_interval(start: i64, end: i64, len: usize) -> (usize, usize) {
    let n = len as i64;
    let start = if start < 0 { (n + start).max(0) } else { start };
    let end = if end < 0 { n + end } else { end };
    if start > end || start >= n {
        return (0, 0);
    }
    (start as usize, (end.min(n - 1) + 1) as usize)
}

/// A double argument that must not be NaN, or "value is not a valid float".
fn float_arg(b: &[u8]) -> Result<f64, Error> {
    parse_f64(b).ok_or(Error::NotFloat)
}

// ---------------------------------------------------------------------------
// Replies.

/// Largest integral score printed through `itoa`: below 1e15 the `%.17g`
/// form of an integer is its plain decimal form.
const ITOA_MAX: f64 = 1e15;

/// Writes a score as Redis does (`%.17g`; a RESP3 double after HELLO 3).
/// Integral scores, the common case, are formatted without allocating.
fn write_score(out: &mut Vec<u8>, v: f64, resp3: bool) {
    if v.fract() == 0.0 && v.abs() < ITOA_MAX && !(v == 0.0 && v.is_sign_negative()) {
        let mut b = itoa::Buffer::new();
        let s = b.format(v as i64).as_bytes();
        if resp3 {
            out.push(b',');
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        } else {
            encode::bulk(out, s);
        }
    } else {
        encode::double(out, v, resp3);
    }
}

/// How a list of elements is replied.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Members only.
    Members,
    /// member, score, member, score... (RESP2 WITHSCORES; RESP3 single pops).
    Flat,
    /// [member, score] pairs (RESP3 WITHSCORES).
    Pairs,
}

impl Shape {
    fn of(withscores: bool, resp3: bool) -> Shape {
        match (withscores, resp3) {
            (false, _) => Shape::Members,
            (true, false) => Shape::Flat,
            (true, true) => Shape::Pairs,
        }
    }
}

/// Writes `n` elements in `shape`.
fn write_elements<'a>(
    out: &mut Vec<u8>,
    it: impl Iterator<Item = (&'a [u8], f64)>,
    n: usize,
    shape: Shape,
    resp3: bool,
) {
    encode::array_len(out, if shape == Shape::Flat { 2 * n } else { n });
    for (m, s) in it {
        if shape == Shape::Pairs {
            encode::array_len(out, 2);
        }
        encode::bulk(out, m);
        if shape != Shape::Members {
            write_score(out, s, resp3);
        }
    }
}

/// Writes ranks `lo..hi` of `z`, walked backwards when `rev`.
fn write_ranks(
    out: &mut Vec<u8>,
    z: &ZSet,
    (lo, hi): (usize, usize),
    rev: bool,
    shape: Shape,
    resp3: bool,
) {
    let it = z.range(lo, hi);
    let n = it.len();
    if rev {
        write_elements(out, it.rev(), n, shape, resp3);
    } else {
        write_elements(out, it, n, shape, resp3);
    }
}

// ---------------------------------------------------------------------------
// Single-key commands.

/// ZADD's option flags.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What [`add_one`] did to one element.
#[derive(PartialEq)]
enum Added {
    New,
    Updated,
    Unchanged,
    /// NX/XX/GT/LT said no.
    Skipped,
}

/// Applies one ZADD element (score or increment) under `f`; returns what
/// happened and the element's score afterwards.
fn add_one(z: &mut ZSet, m: &[u8], score: f64, f: &AddFlags) -> Result<(Added, f64), Error> {
    match z.score(m) {
        Some(cur) => {
            if f.nx {
                return Ok((Added::Skipped, cur));
            }
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(ERR_NAN);
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok((Added::Skipped, cur));
            }
            if new == cur {
                return Ok((Added::Unchanged, cur));
            }
            z.insert(m, new);
            Ok((Added::Updated, new))
        }
        None if f.xx => Ok((Added::Skipped, 0.0)),
        None => {
            z.insert(m, score);
            Ok((Added::New, score))
        }
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub(crate) fn zadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut f = AddFlags::default();
    let mut i = 2;
    while let Some(a) = argv.get(i) {
        let flag = match a.len() {
            2 if a.eq_ignore_ascii_case(b"nx") => &mut f.nx,
            2 if a.eq_ignore_ascii_case(b"xx") => &mut f.xx,
            2 if a.eq_ignore_ascii_case(b"gt") => &mut f.gt,
            2 if a.eq_ignore_ascii_case(b"lt") => &mut f.lt,
            2 if a.eq_ignore_ascii_case(b"ch") => &mut f.ch,
            4 if a.eq_ignore_ascii_case(b"incr") => &mut f.incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    let pairs = &argv[i..];
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(Error::Syntax);
    }
    if f.nx && f.xx {
        return Err(Error::Static(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(Error::Static(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs.len() > 2 {
        return Err(Error::Static(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    // Every score is checked before anything changes.
    for p in pairs.chunks_exact(2) {
        float_arg(p[0])?;
    }
    let (key, now, resp3) = (argv[1], ctx.now, ctx.resp3);
    let Ctx { shard, db, out, .. } = ctx;
    let db = &mut shard.ks.dbs[*db];
    let t = match access::write::<ZSet>(db, key, now)? {
        Some(z) => add_all(z, pairs, &f)?,
        None if f.xx => Tally::default(),
        None => {
            // A new key: built aside, stored only if something was added.
            let longest = pairs.chunks_exact(2).map(|p| p[1].len()).max();
            let mut z = ZSet::with_capacity(pairs.len() / 2, longest.unwrap_or(0));
            let t = add_all(&mut z, pairs, &f)?;
            if !z.is_empty() {
                db.insert(key, z.wrap(), None);
            }
            t
        }
    };
    if t.added + t.changed > 0 {
        let event = if f.incr { "zincr" } else { "zadd" };
        storage::notify::emit(class::ZSET, event, db.id, key);
    }
    if f.incr {
        match t.last {
            Some(s) => write_score(out, s, resp3),
            None => encode::null(out, resp3),
        }
    } else {
        encode::integer(out, if f.ch { t.added + t.changed } else { t.added });
    }
    Ok(())
}

/// What a ZADD did: members added, scores changed, the last score set.
#[derive(Default)]
struct Tally {
    added: i64,
    changed: i64,
    last: Option<f64>,
}

/// Applies ZADD's (score, member) pairs, already checked to parse, in order.
/// On an error (INCR to NaN, only ever one pair) nothing was changed.
fn add_all(z: &mut ZSet, pairs: &[&[u8]], f: &AddFlags) -> Result<Tally, Error> {
    let mut t = Tally::default();
    for p in pairs.chunks_exact(2) {
        let (what, s) = add_one(z, p[1], float_arg(p[0])?, f)?;
        t.added += i64::from(what == Added::New);
        t.changed += i64::from(what == Added::Updated);
        t.last = (what != Added::Skipped).then_some(s);
    }
    Ok(t)
}

/// ZINCRBY key increment member
fn zincrby(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let inc = float_arg(argv[2])?;
    let (key, now, resp3) = (argv[1], ctx.now, ctx.resp3);
    let db = ctx.db();
    let z = access::write_or_create::<ZSet>(db, key, now)?;
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    let r = add_one(z, argv[3], inc, &f);
    if r.is_ok() {
        storage::notify::emit(class::ZSET, "zincr", db.id, key);
    }
    access::remove_if_empty::<ZSet>(db, key, now);
    write_score(ctx.out, r?.1, resp3);
    Ok(())
}

/// ZREM key member [member ...]
fn zrem(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, now) = (argv[1], ctx.now);
    let db = ctx.db();
    let mut n = 0;
    if let Some(z) = access::write::<ZSet>(db, key, now)? {
        for m in &argv[2..] {
            n += i64::from(z.remove(m));
            if z.is_empty() {
                break;
            }
        }
        if n > 0 {
            storage::notify::emit(class::ZSET, "zrem", db.id, key);
        }
        access::remove_if_empty::<ZSet>(db, key, now);
    }
    encode::integer(ctx.out, n);
    Ok(())
}

/// ZCARD key
fn zcard(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let n = access::read::<ZSet>(ctx.db(), argv[1], now)?.map_or(0, ZSet::len);
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// ZSCORE key member
fn zscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (now, resp3) = (ctx.now, ctx.resp3);
    let s = access::read::<ZSet>(ctx.db(), argv[1], now)?.and_then(|z| z.score(argv[2]));
    match s {
        Some(s) => write_score(ctx.out, s, resp3),
        None => encode::null(ctx.out, resp3),
    }
    Ok(())
}

/// ZMSCORE key member [member ...]
fn zmscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (now, resp3) = (ctx.now, ctx.resp3);
    let Ctx { shard, db, out, .. } = ctx;
    let z = access::read::<ZSet>(&mut shard.ks.dbs[*db], argv[1], now)?;
    encode::array_len(out, argv.len() - 2);
    for m in &argv[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => write_score(out, s, resp3),
            None => encode::null(out, resp3),
        }
    }
    Ok(())
}

/// ZRANK key member
fn zrank(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, argv, false)
}

/// ZREVRANK key member
fn zrevrank(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, argv, true)
}

fn rank_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (now, resp3) = (ctx.now, ctx.resp3);
    let r = access::read::<ZSet>(ctx.db(), argv[1], now)?.and_then(|z| {
        z.rank(argv[2])
            .map(|(r, _)| if rev { z.len() - 1 - r } else { r })
    });
    match r {
        Some(r) => encode::integer(ctx.out, r as i64),
        None => encode::null(ctx.out, resp3),
    }
    Ok(())
}

/// ZCOUNT key min max
fn zcount(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let r = parse_score_range(argv[2], argv[3])?;
    let now = ctx.now;
    let n = access::read::<ZSet>(ctx.db(), argv[1], now)?.map_or(0, |z| {
        let (lo, hi) = z.score_range(&r);
        hi - lo
    });
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
fn zlexcount(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (min, max) = parse_lex_range(argv[2], argv[3])?;
    let now = ctx.now;
    let n = access::read::<ZSet>(ctx.db(), argv[1], now)?.map_or(0, |z| {
        let (lo, hi) = z.lex_range(min, max);
        hi - lo
    });
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// ZREMRANGEBYRANK key start stop
fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let start = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    let end = parse_i64(argv[3]).ok_or(Error::NotInteger)?;
    remove_range(
        ctx,
        argv[1],
        |z| rank_interval(start, end, z.len()),
        "zremrangebyrank",
    )
}

/// ZREMRANGEBYSCORE key min max
fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let r = parse_score_range(argv[2], argv[3])?;
    remove_range(ctx, argv[1], |z| z.score_range(&r), "zremrangebyscore")
}

/// ZREMRANGEBYLEX key min max
fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (min, max) = parse_lex_range(argv[2], argv[3])?;
    remove_range(ctx, argv[1], |z| z.lex_range(min, max), "zremrangebylex")
}

/// Removes the rank interval `ranks` picks; replies with the count.
fn remove_range(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    ranks: impl Fn(&ZSet) -> (usize, usize),
    event: &'static str,
) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let mut n = 0;
    if let Some(z) = access::write::<ZSet>(db, key, now)? {
        let (lo, hi) = ranks(z);
        n = z.remove_range(lo, hi);
        if n > 0 {
            storage::notify::emit(class::ZSET, event, db.id, key);
        }
        access::remove_if_empty::<ZSet>(db, key, now);
    }
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// ZPOPMIN key [count]
fn zpopmin(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, false)
}

/// ZPOPMAX key [count]
fn zpopmax(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pop_generic(ctx, argv, true)
}

fn pop_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], max: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(Error::Syntax);
    }
    let count = match argv.get(2) {
        None => None,
        Some(c) => match parse_i64(c) {
            Some(c) if c >= 0 => Some(c as usize),
            _ => return Err(Error::Static("ERR value is out of range, must be positive")),
        },
    };
    let (key, now, resp3) = (argv[1], ctx.now, ctx.resp3);
    let Ctx { shard, db, out, .. } = ctx;
    let db = &mut shard.ks.dbs[*db];
    let Some(z) = access::write::<ZSet>(db, key, now)? else {
        encode::array_len(out, 0);
        return Ok(());
    };
    let n = count.unwrap_or(1).min(z.len());
    let (lo, hi) = if max { (z.len() - n, z.len()) } else { (0, n) };
    // RESP3: one pop is a flat [member, score], a counted pop a list of pairs.
    let shape = if resp3 && count.is_some() {
        Shape::Pairs
    } else {
        Shape::Flat
    };
    write_ranks(out, z, (lo, hi), max, shape, resp3);
    z.remove_range(lo, hi);
    if hi > lo {
        let event = if max { "zpopmax" } else { "zpopmin" };
        storage::notify::emit(class::ZSET, event, db.id, key);
    }
    access::remove_if_empty::<ZSet>(db, key, now);
    Ok(())
}

/// ZRANDMEMBER key [count [WITHSCORES]]
fn zrandmember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(Error::Syntax);
    }
    let (now, resp3) = (ctx.now, ctx.resp3);
    let mut rng = fastrand::Rng::new();
    let Ctx { shard, db, out, .. } = ctx;
    let db = &mut shard.ks.dbs[*db];
    let Some(count) = argv.get(2) else {
        match access::read::<ZSet>(db, argv[1], now)?.and_then(|z| z.random(&mut rng)) {
            Some((m, _)) => encode::bulk(out, m),
            None => encode::null(out, resp3),
        }
        return Ok(());
    };
    let count = match parse_i64(count) {
        Some(i64::MIN) => {
            return Err(Error::Static(
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ))
        }
        Some(c) => c,
        None => return Err(Error::NotInteger),
    };
    let withscores = match argv.get(3) {
        Some(w) if w.eq_ignore_ascii_case(b"withscores") => true,
        Some(_) => return Err(Error::Syntax),
        None => false,
    };
    if withscores && count < -(i64::MAX / 2) {
        return Err(Error::Static("ERR value is out of range"));
    }
    let shape = Shape::of(withscores, resp3);
    let Some(z) = access::read::<ZSet>(db, argv[1], now)? else {
        encode::array_len(out, 0);
        return Ok(());
    };
    let len = z.len();
    if count < 0 {
        // With repetitions: any number of independent draws. The reply is
        // written as it is drawn, never sized up front.
        let n = count.unsigned_abs() as usize;
        let it = (0..n).filter_map(|_| z.random(&mut rng));
        write_elements(out, it, n, shape, resp3);
    } else if count as usize >= len {
        write_ranks(out, z, (0, len), false, shape, resp3);
    } else {
        let picks = distinct_ranks(count as usize, len, &mut rng);
        let it = picks.iter().filter_map(|&i| z.nth(i));
        write_elements(out, it, picks.len(), shape, resp3);
    }
    Ok(())
}

/// `k` distinct ranks out of `0..len` (`k < len`), in random order: a
/// partial shuffle when `k` is a good part of `len`, else rejection of
/// repeats (few, since k is small against len).
fn distinct_ranks(k: usize, len: usize, rng: &mut fastrand::Rng) -> Vec<usize> {
    if k * 3 > len {
        let mut all: Vec<usize> = (0..len).collect();
        for i in 0..k {
            let j = rng.usize(i..len);
            all.swap(i, j);
        }
        all.truncate(k);
        return all;
    }
    let mut seen = std::collections::HashSet::with_capacity(k);
    let mut out = Vec::with_capacity(k);
    while out.len() < k {
        let i = rng.usize(..len);
        if seen.insert(i) {
            out.push(i);
        }
    }
    out
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
fn zscan(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let opts = ScanOpts::parse(argv, 2, false);
    let now = ctx.now;
    let Ctx { shard, db, out, .. } = ctx;
    let z = access::read::<ZSet>(&mut shard.ks.dbs[*db], argv[1], now)?;
    let (z, opts) = match (z, opts) {
        (_, Err(e)) if e == Error::Static("ERR invalid cursor") => return Err(e),
        // Redis answers a missing key before looking at the options.
        (None, _) => {
            scan::reply(out, 0, 0, &[]);
            return Ok(());
        }
        (Some(_), Err(e)) => return Err(e),
        (Some(z), Ok(o)) => (z, o),
    };
    let mut items = Vec::new();
    let mut n = 0;
    let next = z.scan(opts.cursor, opts.count, |m, s| {
        if opts.matches(m) {
            encode::bulk(&mut items, m);
            write_score(&mut items, s, false);
            n += 2;
        }
    });
    scan::reply(out, next, n, &items);
    Ok(())
}

// ---------------------------------------------------------------------------
// The ZRANGE family.

#[derive(Clone, Copy, PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// The parsed bounds of a range.
enum Bounds<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexBound<'a>, LexBound<'a>),
}

/// A parsed ZRANGE-family request.
struct RangeSpec<'a> {
    bounds: Bounds<'a>,
    rev: bool,
    withscores: bool,
    offset: i64,
    /// -1: no LIMIT (Redis's own default, so `LIMIT 0 -1` is no limit).
    limit: i64,
}

impl<'a> RangeSpec<'a> {
    /// Parses `argv[src+1..]` (min, max, options). `by`/`rev` are fixed by
    /// the legacy commands, free (None) for ZRANGE and ZRANGESTORE.
    fn parse(
        argv: &[&'a [u8]],
        src: usize,
        by: Option<By>,
        rev: Option<bool>,
        store: bool,
    ) -> Result<RangeSpec<'a>, Error> {
        let (mut by_opt, mut rev_opt) = (by, rev);
        let (mut withscores, mut offset, mut limit) = (false, 0, -1);
        let mut a = Args::at(argv, src + 3);
        while !a.is_done() {
            if !store && a.flag("withscores") {
                withscores = true;
            } else if a.remaining() >= 3 && a.flag("limit") {
                offset = a.next_i64()?;
                limit = a.next_i64()?;
            } else if rev_opt.is_none() && a.flag("rev") {
                rev_opt = Some(true);
            } else if by_opt.is_none() && a.flag("bylex") {
                by_opt = Some(By::Lex);
            } else if by_opt.is_none() && a.flag("byscore") {
                by_opt = Some(By::Score);
            } else {
                return Err(Error::Syntax);
            }
        }
        let by = by_opt.unwrap_or(By::Rank);
        let rev = rev_opt.unwrap_or(false);
        if limit != -1 && by == By::Rank {
            return Err(Error::Static(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if withscores && by == By::Lex {
            return Err(Error::Static(
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
        let (mut min, mut max) = (argv[src + 1], argv[src + 2]);
        if rev && by != By::Rank {
            std::mem::swap(&mut min, &mut max);
        }
        let bounds = match by {
            By::Rank => Bounds::Rank(
                parse_i64(min).ok_or(Error::NotInteger)?,
                parse_i64(max).ok_or(Error::NotInteger)?,
            ),
            By::Score => Bounds::Score(parse_score_range(min, max)?),
            By::Lex => {
                let (a, b) = parse_lex_range(min, max)?;
                Bounds::Lex(a, b)
            }
        };
        Ok(RangeSpec {
            bounds,
            rev,
            withscores,
            offset,
            limit,
        })
    }

    /// The forward rank interval selected in `z` (walk it backwards when
    /// `rev`).
    fn ranks(&self, z: &ZSet) -> (usize, usize) {
        let len = z.len();
        let (lo, hi) = match &self.bounds {
            Bounds::Rank(start, end) => {
                let (s, e) = rank_interval(*start, *end, len);
                return if self.rev { (len - e, len - s) } else { (s, e) };
            }
            Bounds::Score(r) => z.score_range(r),
            Bounds::Lex(a, b) => z.lex_range(*a, *b),
        };
        if self.offset < 0 {
            return (lo, lo);
        }
        let n = hi - lo;
        let skip = (self.offset as u64).min(n as u64) as usize;
        let take = if self.limit < 0 {
            n - skip
        } else {
            (self.limit as u64).min((n - skip) as u64) as usize
        };
        if self.rev {
            (hi - skip - take, hi - skip)
        } else {
            (lo + skip, lo + skip + take)
        }
    }
}

fn range_generic(
    ctx: &mut Ctx<'_>,
    argv: &[&[u8]],
    by: Option<By>,
    rev: Option<bool>,
) -> CmdResult {
    let spec = RangeSpec::parse(argv, 1, by, rev, false)?;
    let (now, resp3) = (ctx.now, ctx.resp3);
    let Ctx { shard, db, out, .. } = ctx;
    match access::read::<ZSet>(&mut shard.ks.dbs[*db], argv[1], now)? {
        None => encode::array_len(out, 0),
        Some(z) => {
            let shape = Shape::of(spec.withscores, resp3);
            write_ranks(out, z, spec.ranks(z), spec.rev, shape, resp3);
        }
    }
    Ok(())
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
fn zrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, None, None)
}

/// ZREVRANGE key start stop [WITHSCORES]
fn zrevrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some(By::Rank), Some(true))
}

/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some(By::Score), Some(false))
}

/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some(By::Score), Some(true))
}

/// ZRANGEBYLEX key min max [LIMIT offset count]
fn zrangebylex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some(By::Lex), Some(false))
}

/// ZREVRANGEBYLEX key max min [LIMIT offset count]
fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, Some(By::Lex), Some(true))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
fn zrangestore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let spec = RangeSpec::parse(argv, 2, None, None, true)?;
    let now = ctx.now;
    let db = ctx.db();
    let result = match access::read::<ZSet>(db, argv[2], now)? {
        None => ZSet::new(),
        Some(z) => {
            let (lo, hi) = spec.ranks(z);
            // Like Redis, size the result up front only when the range is
            // by rank (members not considered); otherwise start packed and
            // convert as it grows. (Visible only in the sign of a -0 score,
            // which the packed form does not keep.)
            let mut out = match spec.bounds {
                Bounds::Rank(..) => ZSet::with_capacity(hi - lo, 0),
                _ => ZSet::new(),
            };
            for (m, s) in z.range(lo, hi) {
                out.insert(m, s);
            }
            out
        }
    };
    let n = store_result(db, argv[1], result, now, "zrangestore");
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// A new set of the `n` given elements, in the encoding that fits them.
fn build<'a>(it: impl Iterator<Item = (&'a [u8], f64)> + Clone, n: usize) -> ZSet {
    let longest = it.clone().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_capacity(n, longest);
    for (m, s) in it {
        z.insert(m, s);
    }
    z
}

/// Stores a *STORE result at `key` (replacing any value and TTL), or
/// deletes `key` when the result is empty; returns its size.
pub fn store_result(db: &mut Db, key: &[u8], z: ZSet, now: Millis, event: &'static str) -> usize {
    let n = z.len();
    if n == 0 {
        if let Some(old) = db.remove(key, now) {
            storage::lazyfree::release(old);
            storage::notify::emit(class::GENERIC, "del", db.id, key);
        }
    } else {
        db.insert(key, Value::ZSet(z), None);
        storage::notify::emit(class::ZSET, event, db.id, key);
    }
    n
}

// ---------------------------------------------------------------------------
// Set operations over several keys of one shard.

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
    /// ZINTERCARD: the intersection's size only.
    Card,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, acc: f64, v: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let s = acc + v;
                // inf + -inf: Redis makes it 0 rather than NaN.
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => {
                if v < acc {
                    v
                } else {
                    acc
                }
            }
            Aggregate::Max => {
                if v > acc {
                    v
                } else {
                    acc
                }
            }
        }
    }
}

/// A weighted score; 0 where the product is NaN (inf * 0), as in Redis.
fn weighted(s: f64, w: f64) -> f64 {
    let v = s * w;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

/// Options after the keys of a set operation.
struct SetOpts {
    weights: Option<Vec<f64>>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// Key positions of ZUNION/ZINTER/ZDIFF/ZINTERCARD: `numkeys` at 1.
fn numkeys_keys(argv: &[&[u8]]) -> Vec<usize> {
    keys_after_numkeys(argv, 1)
}

/// Key positions of the *STORE forms: the destination, then `numkeys` at 2
/// (none at all when `numkeys` is bad, as Redis finds them).
fn store_keys(argv: &[&[u8]]) -> Vec<usize> {
    let sources = keys_after_numkeys(argv, 2);
    if sources.is_empty() {
        return sources;
    }
    let mut v = vec![1];
    v.extend(sources);
    v
}

/// The `numkeys` keys after `argv[at]`; none when `numkeys` is below 1 or
/// more than the arguments left (the handler then reports the error).
fn keys_after_numkeys(argv: &[&[u8]], at: usize) -> Vec<usize> {
    let first = at + 1;
    match argv.get(at).and_then(|b| parse_i64(b)) {
        Some(n) if n >= 1 && (n as u64) <= argv.len().saturating_sub(first) as u64 => {
            (first..first + n as usize).collect()
        }
        _ => Vec::new(),
    }
}

/// The input keys named after `numkeys` (at `argv[at]`), with Redis's checks.
fn input_keys<'a>(argv: &'a [&'a [u8]], at: usize, name: &str) -> Result<&'a [&'a [u8]], Error> {
    let n = parse_i64(argv[at]).ok_or(Error::NotInteger)?;
    if n < 1 {
        return Err(Error::Other(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    let room = (argv.len() - at - 1) as u64;
    if n as u64 > room {
        return Err(Error::Syntax);
    }
    Ok(&argv[at + 1..at + 1 + n as usize])
}

fn parse_set_opts(
    rest: &[&[u8]],
    op: SetOp,
    numkeys: usize,
    store: bool,
) -> Result<SetOpts, Error> {
    let mut o = SetOpts {
        weights: None,
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let weighted_op = matches!(op, SetOp::Union | SetOp::Inter);
    let mut a = Args::at(rest, 0);
    while !a.is_done() {
        let rem = a.remaining();
        if weighted_op && rem > numkeys && a.flag("weights") {
            let mut w = Vec::with_capacity(numkeys);
            for _ in 0..numkeys {
                let v = parse_f64(a.next_bytes()?)
                    .ok_or(Error::Static("ERR weight value is not a float"))?;
                w.push(v);
            }
            o.weights = Some(w);
        } else if weighted_op && rem >= 2 && a.flag("aggregate") {
            let v = a.next_bytes()?;
            o.aggregate = match v.to_ascii_lowercase().as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return Err(Error::Syntax),
            };
        } else if op == SetOp::Card && rem >= 2 && a.flag("limit") {
            o.limit = parse_i64(a.next_bytes()?)
                .and_then(|l| usize::try_from(l).ok())
                .ok_or(Error::Static("ERR LIMIT can't be negative"))?;
        } else if op != SetOp::Card && !store && a.flag("withscores") {
            o.withscores = true;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(o)
}

/// A plain set as these commands read one: every member with score 1.
fn set_as_zset(set: &storage::Set) -> ZSet {
    let mut z = ZSet::new();
    for m in set.iter() {
        z.insert(&m.to_vec(), 1.0);
    }
    z
}

/// The plain sets among `keys`, converted with [`set_as_zset`] (Redis
/// takes a set wherever these commands take a key); None for sorted sets
/// and missing keys; WRONGTYPE for any other type. Lazily expires the keys
/// it looks at, so the shared borrows of [`inputs`] see only live values.
fn set_inputs(db: &mut Db, keys: &[&[u8]], now: Millis) -> Result<Vec<Option<ZSet>>, Error> {
    keys.iter()
        .map(|k| match db.get(k, now) {
            Some(Value::Set(set)) => Ok(Some(set_as_zset(set))),
            Some(Value::ZSet(_)) | None => Ok(None),
            Some(_) => Err(Error::WrongType),
        })
        .collect()
}

/// The sorted sets at `keys` (None for a missing key), with the plain sets
/// [`set_inputs`] converted taken from `converted`.
fn inputs<'a>(
    db: &'a Db,
    keys: &[&[u8]],
    now: Millis,
    converted: &'a [Option<ZSet>],
) -> Vec<Option<&'a ZSet>> {
    let dict = db.dict();
    keys.iter()
        .zip(converted)
        .map(|(k, c)| {
            c.as_ref().or_else(|| {
                dict.find(dict.hash(k), k)
                    .filter(|e| !e.is_expired(now))
                    .and_then(|e| ZSet::peek(e.value()))
            })
        })
        .collect()
}

/// Computes a set operation: the resulting (member, score) pairs sorted
/// by (score, member), or for ZINTERCARD only their number (in `.1`).
fn compute<'a>(zs: &[Option<&'a ZSet>], op: SetOp, o: &SetOpts) -> (Vec<(&'a [u8], f64)>, usize) {
    let w = |i: usize| o.weights.as_ref().map_or(1.0, |w| w[i]);
    let mut out: Vec<(&'a [u8], f64)> = Vec::new();
    match op {
        SetOp::Union => {
            let cap: usize = zs.iter().flatten().map(|z| z.len()).sum();
            let mut acc: HashMap<&'a [u8], f64, ahash::RandomState> =
                HashMap::with_capacity_and_hasher(cap, ahash::RandomState::new());
            // Smallest set first, as Redis does: with MIN/MAX ties between 0
            // and -0, and with float sums, the order shows in the result.
            let mut order: Vec<usize> = (0..zs.len()).collect();
            order.sort_by_key(|&i| zs[i].map_or(0, ZSet::len));
            for i in order {
                let Some(z) = zs[i] else { continue };
                for (m, s) in z.range(0, z.len()) {
                    let v = weighted(s, w(i));
                    acc.entry(m)
                        .and_modify(|a| *a = o.aggregate.apply(*a, v))
                        .or_insert(v);
                }
            }
            out.extend(acc);
        }
        SetOp::Inter | SetOp::Card => {
            let mut order: Vec<usize> = (0..zs.len()).collect();
            if zs.iter().any(Option::is_none) {
                return (out, 0);
            }
            order.sort_by_key(|&i| zs[i].map_or(0, ZSet::len));
            let first = order[0];
            let Some(z0) = zs[first] else {
                return (out, 0);
            };
            let mut count = 0;
            'elements: for (m, s) in z0.range(0, z0.len()) {
                let mut score = weighted(s, w(first));
                for &j in &order[1..] {
                    match zs[j].and_then(|z| z.score(m)) {
                        Some(sj) => score = o.aggregate.apply(score, sj * w(j)),
                        None => continue 'elements,
                    }
                }
                count += 1;
                if op == SetOp::Card {
                    if o.limit != 0 && count >= o.limit {
                        break;
                    }
                } else {
                    out.push((m, score));
                }
            }
            if op == SetOp::Card {
                return (out, count);
            }
        }
        SetOp::Diff => {
            let Some(z0) = zs[0] else {
                return (out, 0);
            };
            for (m, s) in z0.range(0, z0.len()) {
                if zs[1..].iter().flatten().all(|z| z.score(m).is_none()) {
                    out.push((m, s));
                }
            }
            // Already in order.
            let n = out.len();
            return (out, n);
        }
    }
    // Scores are never NaN; -0 and 0 tie, as in the sets themselves.
    out.sort_unstable_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(b.0))
    });
    let n = out.len();
    (out, n)
}

/// A set-operation command: which operation, its name, whether it stores.
fn setop_of(cmd: &[u8]) -> Option<(SetOp, &'static str, bool)> {
    const ALL: [(SetOp, &str, bool); 7] = [
        (SetOp::Union, "zunion", false),
        (SetOp::Inter, "zinter", false),
        (SetOp::Diff, "zdiff", false),
        (SetOp::Card, "zintercard", false),
        (SetOp::Union, "zunionstore", true),
        (SetOp::Inter, "zinterstore", true),
        (SetOp::Diff, "zdiffstore", true),
    ];
    ALL.into_iter()
        .find(|(_, n, _)| cmd.eq_ignore_ascii_case(n.as_bytes()))
}

/// For a cross-shard ZUNION, ZINTER, ZDIFF, ZINTERCARD or *STORE call:
/// its input keys, after Redis's `numkeys` checks (the errors it answers).
pub fn setop_input_keys<'a>(argv: &'a [&'a [u8]]) -> Result<&'a [&'a [u8]], Error> {
    let (_, name, store_to) = setop_of(argv[0]).ok_or(Error::Syntax)?;
    input_keys(argv, if store_to { 2 } else { 1 }, name)
}

/// For a cross-shard set operation, on each input's shard: a copy of the
/// sorted set at `key` (`None` when missing, WRONGTYPE for another type).
pub fn snapshot(db: &mut Db, key: &[u8], now: Millis) -> Result<Option<ZSet>, Error> {
    match db.get(key, now) {
        Some(Value::Set(set)) => Ok(Some(set_as_zset(set))),
        _ => Ok(access::read::<ZSet>(db, key, now)?.cloned()),
    }
}

/// Finishes a set-operation command given its inputs, in key order (from
/// this shard or from [`snapshot`]s): the read forms write their reply
/// and return `None`; the *STORE forms return the result, which the caller
/// stores with [`store_result`] on the destination's shard, replying with
/// its length.
pub fn setop_finish(
    argv: &[&[u8]],
    zs: &[Option<&ZSet>],
    out: &mut Vec<u8>,
    resp3: bool,
) -> Result<Option<ZSet>, Error> {
    let (op, _, store_to) = setop_of(argv[0]).ok_or(Error::Syntax)?;
    let first = if store_to { 3 } else { 2 };
    let o = parse_set_opts(&argv[first + zs.len()..], op, zs.len(), store_to)?;
    let (items, n) = compute(zs, op, &o);
    if store_to {
        return Ok(Some(build(items.iter().copied(), n)));
    }
    if op == SetOp::Card {
        encode::integer(out, n as i64);
    } else {
        let shape = Shape::of(o.withscores, resp3);
        write_elements(out, items.iter().copied(), n, shape, resp3);
    }
    Ok(None)
}

/// ZUNION/ZINTER/ZDIFF/ZINTERCARD and their *STORE forms, keys on this shard.
fn setop_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let keys = setop_input_keys(argv)?;
    let (now, resp3) = (ctx.now, ctx.resp3);
    let Ctx { shard, db, out, .. } = ctx;
    let db = &mut shard.ks.dbs[*db];
    let result = {
        let converted = set_inputs(db, keys, now)?;
        let zs = inputs(db, keys, now, &converted);
        setop_finish(argv, &zs, out, resp3)?
    };
    if let Some(z) = result {
        let event = setop_of(argv[0]).map_or("zunionstore", |(_, name, _)| name);
        let n = store_result(db, argv[1], z, now, event);
        encode::integer(out, n as i64);
    }
    Ok(())
}

/// ZUNIONSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
fn zunionstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv)
}

/// ZINTERSTORE dst numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX]
fn zinterstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv)
}

/// ZDIFFSTORE dst numkeys key [key ...]
fn zdiffstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv)
}

/// ZUNION numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zunion(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv)
}

/// ZINTER numkeys key [key ...] [WEIGHTS w ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]
fn zinter(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv)
}

/// ZDIFF numkeys key [key ...] [WITHSCORES]
fn zdiff(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv)
}

/// ZINTERCARD numkeys key [key ...] [LIMIT limit]
fn zintercard(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setop_generic(ctx, argv)
}
