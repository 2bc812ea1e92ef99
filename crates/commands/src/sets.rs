//! Set commands: SADD SREM SCARD SISMEMBER SMISMEMBER SMEMBERS SPOP
//! SRANDMEMBER SSCAN, and (all keys on one shard) SMOVE SINTER SUNION SDIFF
//! SINTERCARD and the *STORE forms.
//!
//! Handlers parse arguments and shape replies; the set itself (its intset,
//! packed and table forms, sampling, scanning) is [`storage::Set`]'s
//! business. Multi-key commands first type-check every key (WRONGTYPE wins
//! over a missing key, as in Redis), then borrow all the sets at once.

use std::ops::Range;

use resp::encode;
use storage::notify::class;
use storage::{Db, Millis, Set, StrRef, Value};

use crate::access;
use crate::args::parse_i64;
use crate::scan::{self, ScanOpts};
use crate::strings::write_bulk_str;
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

pub fn register(t: &mut CommandTable) {
    t.shard("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), sadd);
    t.shard("srem", -3, WRITE | FAST, (1, 1, 1), srem);
    t.shard("scard", 2, READONLY | FAST, (1, 1, 1), scard);
    t.shard("sismember", 3, READONLY | FAST, (1, 1, 1), sismember);
    t.shard("smismember", -3, READONLY | FAST, (1, 1, 1), smismember);
    t.shard("smembers", 2, READONLY, (1, 1, 1), smembers);
    t.shard("spop", -2, WRITE | FAST, (1, 1, 1), spop);
    t.shard("srandmember", -2, READONLY, (1, 1, 1), srandmember);
    t.shard("sscan", -3, READONLY, (1, 1, 1), sscan);
    t.shard("smove", 4, WRITE | FAST | MULTI_KEY, (1, 2, 1), smove);
    t.shard("sinter", -2, READONLY | MULTI_KEY, (1, -1, 1), sinter);
    t.shard("sunion", -2, READONLY | MULTI_KEY, (1, -1, 1), sunion);
    t.shard("sdiff", -2, READONLY | MULTI_KEY, (1, -1, 1), sdiff);
    t.shard(
        "sinterstore",
        -3,
        WRITE | DENYOOM | MULTI_KEY,
        (1, -1, 1),
        sinterstore,
    );
    t.shard(
        "sunionstore",
        -3,
        WRITE | DENYOOM | MULTI_KEY,
        (1, -1, 1),
        sunionstore,
    );
    t.shard(
        "sdiffstore",
        -3,
        WRITE | DENYOOM | MULTI_KEY,
        (1, -1, 1),
        sdiffstore,
    );
    t.shard_keys_fn(
        "sintercard",
        -3,
        READONLY | MULTI_KEY,
        (0, 0, 0),
        sintercard_keys,
        sintercard,
    );
}

const OUT_OF_RANGE_POSITIVE: &str = "ERR value is out of range, must be positive";
const SRANDMEMBER_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
const SRANDMEMBER_TOO_MANY: &str =
    "ERR value is out of range, the reply would exceed proto-max-bulk-len";
/// The shortest bulk reply of a member: `$1\r\nx\r\n` (the empty member's
/// `$0\r\n\r\n` is 6, close enough for a bound meant for absurd counts).
const MIN_BULK_LEN: usize = 7;
const NUMKEYS: &str = "ERR numkeys should be greater than 0";
const NUMKEYS_ARGS: &str = "ERR Number of keys can't be greater than number of args";
const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";

/// The connection's database and its output buffer, borrowed apart.
fn parts<'c>(ctx: &'c mut Ctx<'_>) -> (&'c mut Db, &'c mut Vec<u8>, Millis) {
    (&mut ctx.shard.ks.dbs[ctx.db], ctx.out, ctx.now)
}

/// A member's bytes: integers are formatted into `buf`.
#[inline]
fn member_bytes<'a>(m: StrRef<'a>, buf: &'a mut itoa::Buffer) -> &'a [u8] {
    match m {
        StrRef::Int(v) => buf.format(v).as_bytes(),
        StrRef::Bytes(b) => b,
    }
}

/// Writes `m` as a bulk reply and returns where its bytes sit in `out`.
fn write_member(out: &mut Vec<u8>, m: StrRef<'_>) -> Range<usize> {
    write_bulk_str(out, m);
    let end = out.len() - 2;
    end - m.len()..end
}

/// Replies with every member of `s` as a set (an array in RESP2).
fn reply_members(out: &mut Vec<u8>, s: &Set, resp3: bool) {
    encode::set_len(out, s.len(), resp3);
    s.iter().for_each(|m| write_bulk_str(out, m));
}

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out, now) = parts(ctx);
    let set = access::write_or_create::<Set>(db, argv[1], now)?;
    let added = set.insert_many(&argv[2..]);
    if added > 0 {
        storage::notify::emit(class::SET, "sadd", db.id, argv[1]);
    }
    encode::integer(out, added as i64);
    Ok(())
}

/// SREM key member [member ...]
fn srem(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out, now) = parts(ctx);
    let removed = match access::write::<Set>(db, argv[1], now)? {
        None => 0,
        Some(set) => argv[2..].iter().filter(|m| set.remove(m)).count(),
    };
    if removed > 0 {
        storage::notify::emit(class::SET, "srem", db.id, argv[1]);
        access::remove_if_empty::<Set>(db, argv[1], now);
    }
    encode::integer(out, removed as i64);
    Ok(())
}

/// SCARD key
fn scard(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out, now) = parts(ctx);
    let n = access::read::<Set>(db, argv[1], now)?.map_or(0, Set::len);
    encode::integer(out, n as i64);
    Ok(())
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out, now) = parts(ctx);
    let hit = access::read::<Set>(db, argv[1], now)?.is_some_and(|s| s.contains(argv[2]));
    encode::integer(out, i64::from(hit));
    Ok(())
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out, now) = parts(ctx);
    let set = access::read::<Set>(db, argv[1], now)?;
    encode::array_len(out, argv.len() - 2);
    for m in &argv[2..] {
        encode::integer(out, i64::from(set.is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

/// SMEMBERS key
fn smembers(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.resp3;
    let (db, out, now) = parts(ctx);
    match access::read::<Set>(db, argv[1], now)? {
        Some(s) => reply_members(out, s, resp3),
        None => encode::set_len(out, 0, resp3),
    }
    Ok(())
}

/// SPOP key [count]
fn spop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => spop_one(ctx, argv[1]),
        3 => {
            // Redis words a non-integer count the same as a negative one.
            let count = parse_i64(argv[2])
                .and_then(|c| usize::try_from(c).ok())
                .ok_or(Error::Static(OUT_OF_RANGE_POSITIVE))?;
            spop_count(ctx, argv[1], count)
        }
        _ => Err(Error::Syntax),
    }
}

/// SPOP key: one random member, removed.
fn spop_one(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let resp3 = ctx.resp3;
    let (db, out, now) = parts(ctx);
    let Some(set) = access::write::<Set>(db, key, now)? else {
        encode::null(out, resp3);
        return Ok(());
    };
    let mut rng = fastrand::Rng::new();
    let Some(m) = set.random_member(&mut rng) else {
        encode::null(out, resp3);
        return Ok(());
    };
    // The reply holds the member's bytes: remove it by them, no copy.
    let r = write_member(out, m);
    set.remove(&out[r]);
    storage::notify::emit(class::SET, "spop", db.id, key);
    access::remove_if_empty::<Set>(db, key, now);
    Ok(())
}

/// SPOP key count: `count` distinct random members, removed; the whole
/// set (and the key) when count reaches its size.
fn spop_count(ctx: &mut Ctx<'_>, key: &[u8], count: usize) -> CmdResult {
    let resp3 = ctx.resp3;
    let (db, out, now) = parts(ctx);
    let Some(set) = access::write::<Set>(db, key, now)? else {
        encode::set_len(out, 0, resp3);
        return Ok(());
    };
    if count == 0 {
        encode::set_len(out, 0, resp3);
        return Ok(());
    }
    if count >= set.len() {
        reply_members(out, set, resp3);
        if let Some(v) = db.remove(key, now) {
            storage::lazyfree::release(v);
        }
        storage::notify::emit(class::SET, "spop", db.id, key);
        storage::notify::emit(class::GENERIC, "del", db.id, key);
        return Ok(());
    }
    let mut rng = fastrand::Rng::new();
    let mut picked = Vec::with_capacity(count);
    encode::set_len(out, count, resp3);
    set.random_distinct(count, &mut rng, |m| picked.push(write_member(out, m)));
    for r in picked {
        set.remove(&out[r]);
    }
    storage::notify::emit(class::SET, "spop", db.id, key);
    Ok(())
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.resp3;
    let count = match argv.len() {
        2 => None,
        3 => {
            let c = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
            if c == i64::MIN {
                return Err(Error::Static(SRANDMEMBER_RANGE));
            }
            Some(c)
        }
        _ => return Err(Error::Syntax),
    };
    let max_reply = ctx.shard.config.proto_max_bulk_len;
    let (db, out, now) = parts(ctx);
    let set = access::read::<Set>(db, argv[1], now)?;
    let mut rng = fastrand::Rng::new();
    let Some(count) = count else {
        match set.and_then(|s| s.random_member(&mut rng)) {
            Some(m) => write_bulk_str(out, m),
            None => encode::null(out, resp3),
        }
        return Ok(());
    };
    let Some(set) = set.filter(|s| !s.is_empty() && count != 0) else {
        encode::array_len(out, 0);
        return Ok(());
    };
    if count > 0 {
        // Distinct members: at most the whole set.
        let n = usize::try_from(count).unwrap_or(usize::MAX).min(set.len());
        encode::array_len(out, n);
        set.random_distinct(n, &mut rng, |m| write_bulk_str(out, m));
    } else {
        // Repetitions allowed: exactly |count| draws, streamed into the
        // reply. Redis would build any size of reply; a count whose reply
        // could not fit in proto-max-bulk-len bytes is refused instead, so
        // that one command cannot exhaust the shard's memory.
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        if n.saturating_mul(MIN_BULK_LEN) > max_reply {
            return Err(Error::Static(SRANDMEMBER_TOO_MANY));
        }
        encode::array_len(out, n);
        for _ in 0..n {
            if let Some(m) = set.random_member(&mut rng) {
                write_bulk_str(out, m);
            }
        }
    }
    Ok(())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    // Redis checks the cursor before the key and the options after it.
    ScanOpts::parse(&argv[..3], 2, false)?;
    let (db, out, now) = parts(ctx);
    let Some(set) = access::read::<Set>(db, argv[1], now)? else {
        scan::reply(out, 0, 0, &[]);
        return Ok(());
    };
    let opts = ScanOpts::parse(argv, 2, false)?;
    let mut items = Vec::new();
    let mut n = 0usize;
    let mut buf = itoa::Buffer::new();
    let next = set.scan(opts.cursor, opts.count, |m| {
        let b = member_bytes(m, &mut buf);
        if opts.matches(b) {
            encode::bulk(&mut items, b);
            n += 1;
        }
    });
    scan::reply(out, next, n, &items);
    Ok(())
}

/// SMOVE source destination member  (both keys on this shard)
fn smove(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (src, dst, m) = (argv[1], argv[2], argv[3]);
    let (db, out, now) = parts(ctx);
    if access::read::<Set>(db, src, now)?.is_none() {
        encode::integer(out, 0);
        return Ok(());
    }
    access::read::<Set>(db, dst, now)?;
    if src == dst {
        let hit = access::read::<Set>(db, src, now)?.is_some_and(|s| s.contains(m));
        encode::integer(out, i64::from(hit));
        return Ok(());
    }
    let removed = access::write::<Set>(db, src, now)?.is_some_and(|s| s.remove(m));
    if removed {
        storage::notify::emit(class::SET, "srem", db.id, src);
        access::remove_if_empty::<Set>(db, src, now);
        // A member the destination already has leaves it unchanged (and
        // its watchers undisturbed), as in Redis.
        let present = access::read::<Set>(db, dst, now)?.is_some_and(|s| s.contains(m));
        if !present {
            access::write_or_create::<Set>(db, dst, now)?.insert(m);
            storage::notify::emit(class::SET, "sadd", db.id, dst);
        }
    }
    encode::integer(out, i64::from(removed));
    Ok(())
}

/// The sets at `keys` (None for a missing key), all borrowed at once.
/// Every key is type-checked first: WRONGTYPE wins over a missing key.
fn load<'d>(db: &'d mut Db, keys: &[&[u8]], now: Millis) -> Result<Vec<Option<&'d Set>>, Error> {
    for k in keys {
        // Also expires stale keys, so the shared pass below sees live ones.
        access::read::<Set>(db, k, now)?;
    }
    let d = db.dict();
    Ok(keys
        .iter()
        .map(|k| match d.find(d.hash(k), k) {
            Some(e) if !e.is_expired(now) => match e.value() {
                Value::Set(s) => Some(s),
                _ => None,
            },
            _ => None,
        })
        .collect())
}

/// The intersection of `sets` (a missing set, `None`, makes it empty) as
/// a new set: for the server's cross-shard SINTER/SINTERSTORE, which
/// gathers the sets from their shards first.
pub fn intersection(sets: &[Option<&Set>]) -> Set {
    let mut result = Set::new();
    let mut buf = itoa::Buffer::new();
    intersect(sets, |m| {
        result.insert(member_bytes(m, &mut buf));
        true
    });
    result
}

/// Calls `f` with each member of the intersection of `sets` (a missing set
/// makes it empty) until `f` returns false. Walks the smallest set and
/// probes the others, smallest first.
fn intersect<'a>(sets: &[Option<&'a Set>], mut f: impl FnMut(StrRef<'a>) -> bool) {
    let Some(mut sets) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else {
        return;
    };
    sets.sort_by_key(|s| s.len());
    let Some((first, rest)) = sets.split_first() else {
        return;
    };
    let mut buf = itoa::Buffer::new();
    for m in first.iter() {
        let b = member_bytes(m, &mut buf);
        // The same set twice (SINTER k k) probes itself: still correct.
        if rest.iter().all(|s| s.contains(b)) && !f(m) {
            return;
        }
    }
}

/// The union of `sets` (missing ones skipped) as a new set.
pub fn union(sets: &[Option<&Set>]) -> Set {
    // Start from the largest so most inserts land in its final form.
    let mut out = Set::new();
    let mut buf = itoa::Buffer::new();
    for s in sets.iter().flatten() {
        for m in s.iter() {
            out.insert(member_bytes(m, &mut buf));
        }
    }
    out
}

/// The members of the first set in none of the others, as a new set.
/// Like Redis, picks between probing every other set for each member of
/// the first (cost ~ |first| x sets) and copying the first then removing
/// the others' members (cost ~ total size).
pub fn difference(sets: &[Option<&Set>]) -> Set {
    let mut out = Set::new();
    let Some((Some(first), rest)) = sets.split_first() else {
        return out;
    };
    let mut buf = itoa::Buffer::new();
    let probe_cost = first.len() * rest.len() / 2;
    let copy_cost: usize = sets.iter().flatten().map(|s| s.len()).sum();
    if probe_cost <= copy_cost {
        for m in first.iter() {
            let b = member_bytes(m, &mut buf);
            if !rest.iter().flatten().any(|s| s.contains(b)) {
                out.insert(b);
            }
        }
    } else {
        first.iter().for_each(|m| {
            out.insert(member_bytes(m, &mut buf));
        });
        for s in rest.iter().flatten() {
            for m in s.iter() {
                out.remove(member_bytes(m, &mut buf));
                if out.is_empty() {
                    return out;
                }
            }
        }
    }
    out
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.resp3;
    let (db, out, now) = parts(ctx);
    let sets = load(db, &argv[1..], now)?;
    // The count heads the reply: gather references first (no copies).
    let mut found = Vec::new();
    intersect(&sets, |m| {
        found.push(m);
        true
    });
    encode::set_len(out, found.len(), resp3);
    found.into_iter().for_each(|m| write_bulk_str(out, m));
    Ok(())
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.resp3;
    let (db, out, now) = parts(ctx);
    let result = union(&load(db, &argv[1..], now)?);
    reply_members(out, &result, resp3);
    Ok(())
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.resp3;
    let (db, out, now) = parts(ctx);
    let result = difference(&load(db, &argv[1..], now)?);
    reply_members(out, &result, resp3);
    Ok(())
}

/// Stores `result` at `dst` as the STORE commands do (replacing any value,
/// TTL cleared; deleting `dst` when the result is empty) and returns its
/// size: the shard-local write half of a cross-shard *STORE.
pub fn store_result(
    db: &mut Db,
    dst: &[u8],
    result: Set,
    now: Millis,
    event: &'static str,
) -> usize {
    let n = result.len();
    if n == 0 {
        if let Some(v) = db.remove(dst, now) {
            storage::lazyfree::release(v);
            storage::notify::emit(class::GENERIC, "del", db.id, dst);
        }
    } else {
        db.insert(dst, Value::Set(result), None);
        storage::notify::emit(class::SET, event, db.id, dst);
    }
    n
}

/// A copy of the set at `key` (`None` when missing; WRONGTYPE for another
/// type): the shard-local read half of a cross-shard set command.
pub fn set_copy(db: &mut Db, key: &[u8], now: Millis) -> Result<Option<Set>, Error> {
    Ok(access::read::<Set>(db, key, now)?.cloned())
}

/// Stores `result` at `dst` and replies with its size.
fn store(ctx: &mut Ctx<'_>, dst: &[u8], result: Set, event: &'static str) -> CmdResult {
    let (db, out, now) = parts(ctx);
    let n = store_result(db, dst, result, now, event);
    encode::integer(out, n as i64);
    Ok(())
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, _, now) = parts(ctx);
    let result = intersection(&load(db, &argv[2..], now)?);
    store(ctx, argv[1], result, "sinterstore")
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, _, now) = parts(ctx);
    let result = union(&load(db, &argv[2..], now)?);
    store(ctx, argv[1], result, "sunionstore")
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, _, now) = parts(ctx);
    let result = difference(&load(db, &argv[2..], now)?);
    store(ctx, argv[1], result, "sdiffstore")
}

/// SINTERCARD's `numkeys`, checked against the argument count.
fn sintercard_numkeys(argv: &[&[u8]]) -> Result<usize, Error> {
    let n = argv
        .get(1)
        .and_then(|a| parse_i64(a))
        .filter(|&n| n >= 1)
        .ok_or(Error::Static(NUMKEYS))?;
    match usize::try_from(n) {
        Ok(n) if n <= argv.len() - 2 => Ok(n),
        _ => Err(Error::Static(NUMKEYS_ARGS)),
    }
}

/// Key positions of `SINTERCARD numkeys key [key ...] [LIMIT limit]`.
pub fn sintercard_keys(argv: &[&[u8]]) -> Vec<usize> {
    match sintercard_numkeys(argv) {
        Ok(n) => (2..2 + n).collect(),
        Err(_) => Vec::new(),
    }
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let numkeys = sintercard_numkeys(argv)?;
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < argv.len() {
        if !argv[i].eq_ignore_ascii_case(b"limit") || i + 1 >= argv.len() {
            return Err(Error::Syntax);
        }
        limit = parse_i64(argv[i + 1])
            .and_then(|l| usize::try_from(l).ok())
            .ok_or(Error::Static(LIMIT_NEGATIVE))?;
        i += 2;
    }
    let (db, out, now) = parts(ctx);
    let sets = load(db, &argv[2..2 + numkeys], now)?;
    let mut n = 0usize;
    intersect(&sets, |_| {
        n += 1;
        limit == 0 || n < limit
    });
    encode::integer(out, n as i64);
    Ok(())
}
