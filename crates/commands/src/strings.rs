//! String commands: GET, SET and its variants, counters, ranges.

use resp::encode;
use storage::notify::{self, class};
use storage::{Millis, StrRef, Value};

use crate::args::{format_f64, parse_f64, parse_i64, Args};
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error, Shard};

pub fn register(t: &mut CommandTable) {
    t.shard("get", 2, READONLY | FAST, (1, 1, 1), get);
    t.shard("set", -3, WRITE | DENYOOM, (1, 1, 1), set);
    t.shard("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), setnx);
    t.shard("setex", 4, WRITE | DENYOOM, (1, 1, 1), setex);
    t.shard("psetex", 4, WRITE | DENYOOM, (1, 1, 1), psetex);
    t.shard("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), getset);
    t.shard("getdel", 2, WRITE | FAST, (1, 1, 1), getdel);
    t.shard("getex", -2, WRITE | FAST, (1, 1, 1), getex);
    t.shard("mget", -2, READONLY | FAST | MULTI_KEY, (1, -1, 1), mget);
    t.shard("mset", -3, WRITE | DENYOOM | MULTI_KEY, (1, -1, 2), mset);
    t.shard(
        "msetnx",
        -3,
        WRITE | DENYOOM | MULTI_KEY,
        (1, -1, 2),
        msetnx,
    );
    t.shard("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), append);
    t.shard("strlen", 2, READONLY | FAST, (1, 1, 1), strlen);
    t.shard("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), incr);
    t.shard("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), decr);
    t.shard("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), incrby);
    t.shard("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), decrby);
    t.shard(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        incrbyfloat,
    );
    t.shard("getrange", 4, READONLY, (1, 1, 1), getrange);
    t.shard("substr", 4, READONLY, (1, 1, 1), getrange);
    t.shard("setrange", 4, WRITE | DENYOOM, (1, 1, 1), setrange);
    t.shard("lcs", -3, READONLY | MULTI_KEY, (1, 2, 1), lcs_cmd);
}

/// Writes a string value as a bulk reply.
pub fn write_bulk_str(out: &mut Vec<u8>, s: StrRef<'_>) {
    match s {
        StrRef::Bytes(b) => encode::bulk(out, b),
        StrRef::Int(n) => encode::bulk_int(out, n),
    }
}

/// Looks a key up for reading, counting a hit or a miss. A value of another
/// type is a WRONGTYPE error.
pub fn read_str<'s>(
    shard: &'s mut Shard,
    db: usize,
    key: &[u8],
    now: Millis,
) -> Result<Option<StrRef<'s>>, Error> {
    let Shard { ks, stats, .. } = shard;
    match ks.dbs[db].get(key, now) {
        None => {
            stats.keyspace_misses += 1;
            Ok(None)
        }
        Some(v) => {
            stats.keyspace_hits += 1;
            v.as_str().map(Some).ok_or(Error::WrongType)
        }
    }
}

/// A string value's bytes, for the shard-local half of a fanned-out MGET:
/// `None` for a missing key or a value of another type.
pub fn get_value(shard: &mut Shard, db: usize, key: &[u8], now: Millis) -> Option<Vec<u8>> {
    read_str(shard, db, key, now)
        .ok()
        .flatten()
        .map(|s| s.to_vec())
}

/// GET key
fn get(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    match read_str(ctx.shard, ctx.db, argv[1], ctx.now)? {
        Some(s) => write_bulk_str(ctx.out, s),
        None => encode::null(ctx.out, ctx.resp3),
    }
    Ok(())
}

/// How SET's expiry options resolve.
enum Ttl {
    /// Clear any TTL.
    None,
    Keep,
    At(Millis),
}

/// Turns a relative or absolute expire argument into an absolute time,
/// refusing what Redis refuses (non-positive, overflowing).
fn expire_time(
    n: i64,
    unit_ms: i64,
    absolute: bool,
    now: Millis,
    cmd: &'static str,
) -> Result<Millis, Error> {
    if n <= 0 || (unit_ms == 1000 && n > i64::MAX / 1000) {
        return Err(Error::InvalidExpire(cmd));
    }
    let ms = n * unit_ms;
    let at = if absolute {
        ms
    } else {
        ms.checked_add(now as i64)
            .ok_or(Error::InvalidExpire(cmd))?
    };
    Ok(at as Millis)
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds |
///   EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
fn set(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, value) = (argv[1], argv[2]);
    let mut args = Args::at(argv, 3);
    let (mut nx, mut xx, mut get, mut ttl) = (false, false, false, Ttl::None);
    let mut have_ttl = false;
    while let Some(opt) = args.peek() {
        args.next_bytes()?;
        let upper = opt.to_ascii_uppercase();
        match upper.as_slice() {
            b"NX" if !xx => nx = true,
            b"XX" if !nx => xx = true,
            b"GET" => get = true,
            b"KEEPTTL" if !have_ttl => {
                have_ttl = true;
                ttl = Ttl::Keep;
            }
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if !have_ttl => {
                have_ttl = true;
                let n_arg = args.next_bytes()?;
                let n = parse_i64(n_arg).ok_or(Error::NotInteger)?;
                let unit = if upper[0] == b'E' { 1000 } else { 1 };
                ttl = Ttl::At(expire_time(n, unit, upper.len() == 4, ctx.now, "set")?);
            }
            _ => return Err(Error::Syntax),
        }
    }
    let db = ctx.db;
    let now = ctx.now;
    let dbm = &mut ctx.shard.ks.dbs[db];
    let old = match dbm.get(key, now) {
        None => None,
        Some(v) => match v.as_str() {
            Some(s) => Some(s.to_vec()),
            None if get => return Err(Error::WrongType),
            None => Some(Vec::new()),
        },
    };
    let exists = old.is_some();
    let resp3 = ctx.resp3;
    let reply_old = |out: &mut Vec<u8>, old: Option<Vec<u8>>| match old {
        Some(v) => encode::bulk(out, &v),
        None => encode::null(out, resp3),
    };
    if (nx && exists) || (xx && !exists) {
        if get {
            reply_old(ctx.out, old);
        } else {
            encode::null(ctx.out, ctx.resp3);
        }
        return Ok(());
    }
    let v = Value::from_bytes(value);
    match ttl {
        Ttl::None => dbm.insert(key, v, None),
        Ttl::Keep => dbm.insert_keep_ttl(key, v, now),
        Ttl::At(at) if at <= now && !storage::dict::expiry_paused() => {
            // Already expired: the key ends up absent, as in Redis.
            dbm.remove(key, now);
        }
        Ttl::At(at) => dbm.insert(key, v, Some(at)),
    }
    ctx.notify(class::STRING, "set", key);
    if matches!(ttl, Ttl::At(_)) {
        ctx.notify(class::GENERIC, "expire", key);
    }
    if get {
        reply_old(ctx.out, old);
    } else {
        encode::ok(ctx.out);
    }
    Ok(())
}

/// SETNX key value
fn setnx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    if db.contains(argv[1], now) {
        encode::integer(ctx.out, 0);
    } else {
        db.insert(argv[1], Value::from_bytes(argv[2]), None);
        ctx.notify(class::STRING, "set", argv[1]);
        encode::integer(ctx.out, 1);
    }
    Ok(())
}

fn setex_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], unit: i64, cmd: &'static str) -> CmdResult {
    let n = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    let at = expire_time(n, unit, false, ctx.now, cmd)?;
    let (key, value) = (argv[1], argv[3]);
    ctx.db().insert(key, Value::from_bytes(value), Some(at));
    ctx.notify(class::STRING, "set", key);
    ctx.notify(class::GENERIC, "expire", key);
    encode::ok(ctx.out);
    Ok(())
}

/// SETEX key seconds value
fn setex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, argv, 1000, "setex")
}

/// PSETEX key milliseconds value
fn psetex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    setex_generic(ctx, argv, 1, "psetex")
}

/// GETSET key value
fn getset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let old = read_str(ctx.shard, ctx.db, argv[1], ctx.now)?.map(|s| s.to_vec());
    ctx.db().insert(argv[1], Value::from_bytes(argv[2]), None);
    ctx.notify(class::STRING, "set", argv[1]);
    match old {
        Some(v) => encode::bulk(ctx.out, &v),
        None => encode::null(ctx.out, ctx.resp3),
    }
    Ok(())
}

/// GETDEL key
fn getdel(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let old = read_str(ctx.shard, ctx.db, argv[1], ctx.now)?.map(|s| s.to_vec());
    match old {
        Some(v) => {
            let now = ctx.now;
            ctx.db().remove(argv[1], now);
            ctx.notify(class::GENERIC, "del", argv[1]);
            encode::bulk(ctx.out, &v);
        }
        None => encode::null(ctx.out, ctx.resp3),
    }
    Ok(())
}

/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
///   PXAT unix-time-milliseconds | PERSIST]
fn getex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut args = Args::at(argv, 2);
    let mut ttl: Option<Ttl> = None;
    while let Some(opt) = args.peek() {
        args.next_bytes()?;
        let upper = opt.to_ascii_uppercase();
        match upper.as_slice() {
            b"PERSIST" if ttl.is_none() => ttl = Some(Ttl::None),
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if ttl.is_none() => {
                let n = parse_i64(args.next_bytes()?).ok_or(Error::NotInteger)?;
                let unit = if upper[0] == b'E' { 1000 } else { 1 };
                ttl = Some(Ttl::At(expire_time(
                    n,
                    unit,
                    upper.len() == 4,
                    ctx.now,
                    "getex",
                )?));
            }
            _ => return Err(Error::Syntax),
        }
    }
    let Some(value) = read_str(ctx.shard, ctx.db, argv[1], ctx.now)?.map(|s| s.to_vec()) else {
        encode::null(ctx.out, ctx.resp3);
        return Ok(());
    };
    let now = ctx.now;
    let db = ctx.db();
    let event = match ttl {
        Some(Ttl::None) => db.set_expiry(argv[1], None, now).then_some("persist"),
        Some(Ttl::At(at)) if at <= now && !storage::dict::expiry_paused() => {
            db.remove(argv[1], now);
            Some("del")
        }
        Some(Ttl::At(at)) => {
            db.set_expiry(argv[1], Some(at), now);
            Some("expire")
        }
        _ => None,
    };
    if let Some(e) = event {
        ctx.notify(class::GENERIC, e, argv[1]);
    }
    encode::bulk(ctx.out, &value);
    Ok(())
}

/// MGET key [key ...]  (all keys on this shard)
fn mget(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    encode::array_len(ctx.out, argv.len() - 1);
    for key in &argv[1..] {
        match read_str(ctx.shard, ctx.db, key, ctx.now) {
            Ok(Some(s)) => write_bulk_str(ctx.out, s),
            _ => encode::null(ctx.out, ctx.resp3),
        }
    }
    Ok(())
}

/// Arity check MSET and MSETNX share (on one shard or across shards):
/// pairs only.
pub fn check_pairs(argv: &[&[u8]]) -> CmdResult {
    if argv.len() % 2 == 0 {
        return Err(Error::WrongArity(
            String::from_utf8_lossy(argv[0]).to_lowercase(),
        ));
    }
    Ok(())
}

/// Sets every pair (the shard-local half of MSET).
pub fn set_pairs(shard: &mut Shard, db: usize, pairs: &[&[u8]]) {
    for kv in pairs.chunks_exact(2) {
        shard.ks.dbs[db].insert(kv[0], Value::from_bytes(kv[1]), None);
        notify::emit(class::STRING, "set", db, kv[0]);
    }
}

/// Whether any of `keys` exists (the shard-local check of MSETNX).
pub fn any_exists(shard: &mut Shard, db: usize, keys: &[&[u8]], now: Millis) -> bool {
    keys.iter().any(|k| shard.ks.dbs[db].contains(k, now))
}

/// MSET key value [key value ...]  (all keys on this shard)
fn mset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    check_pairs(argv)?;
    set_pairs(ctx.shard, ctx.db, &argv[1..]);
    encode::ok(ctx.out);
    Ok(())
}

/// MSETNX key value [key value ...]  (all keys on this shard)
fn msetnx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    check_pairs(argv)?;
    let keys: Vec<&[u8]> = argv[1..].iter().step_by(2).copied().collect();
    if any_exists(ctx.shard, ctx.db, &keys, ctx.now) {
        encode::integer(ctx.out, 0);
    } else {
        set_pairs(ctx.shard, ctx.db, &argv[1..]);
        encode::integer(ctx.out, 1);
    }
    Ok(())
}

/// APPEND key value
fn append(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, extra) = (argv[1], argv[2]);
    let limit = ctx.shard.config.proto_max_bulk_len;
    let now = ctx.now;
    let len = match ctx.db().get_mut(key, now) {
        Some(v) => {
            let cur = v.as_str().ok_or(Error::WrongType)?.len();
            if cur + extra.len() > limit {
                return Err(Error::StringTooLong);
            }
            v.append(extra)
        }
        None => {
            ctx.db().insert(key, Value::from_bytes(extra), None);
            extra.len()
        }
    };
    ctx.notify(class::STRING, "append", key);
    encode::integer(ctx.out, len as i64);
    Ok(())
}

/// STRLEN key
fn strlen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let n = read_str(ctx.shard, ctx.db, argv[1], ctx.now)?.map_or(0, |s| s.len());
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// Adds `by` to the integer at `key` (0 when missing), keeping its TTL.
fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let now = ctx.now;
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let n = match db.get_mut(key, now) {
        Some(v) => {
            let cur = v
                .as_str()
                .ok_or(Error::WrongType)?
                .parse_i64()
                .ok_or(Error::NotInteger)?;
            let n = cur.checked_add(by).ok_or(Error::Overflow)?;
            *v = Value::from_int(n);
            n
        }
        None => {
            db.insert(key, Value::from_int(by), None);
            by
        }
    };
    ctx.notify(class::STRING, "incrby", key);
    encode::integer(ctx.out, n);
    Ok(())
}

/// INCR key
fn incr(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    incr_by(ctx, argv[1], 1)
}

/// DECR key
fn decr(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    incr_by(ctx, argv[1], -1)
}

/// INCRBY key increment
fn incrby(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let by = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    incr_by(ctx, argv[1], by)
}

/// DECRBY key decrement
fn decrby(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let by = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    let by = by
        .checked_neg()
        .ok_or(Error::Static("ERR decrement would overflow"))?;
    incr_by(ctx, argv[1], by)
}

/// INCRBYFLOAT key increment
fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, by) = (argv[1], parse_f64(argv[2]).ok_or(Error::NotFloat)?);
    let now = ctx.now;
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let cur = match db.get(key, now) {
        Some(v) => {
            let s = v.as_str().ok_or(Error::WrongType)?;
            match s {
                StrRef::Int(n) => n as f64,
                StrRef::Bytes(b) => parse_f64(b).ok_or(Error::NotFloat)?,
            }
        }
        None => 0.0,
    };
    let n = cur + by;
    if !n.is_finite() {
        return Err(Error::Static("ERR increment would produce NaN or Infinity"));
    }
    let s = format_f64(n);
    db.insert_keep_ttl(key, Value::from_bytes(s.as_bytes()), now);
    ctx.notify(class::STRING, "incrbyfloat", key);
    encode::bulk(ctx.out, s.as_bytes());
    Ok(())
}

/// GETRANGE key start end
fn getrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let start = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    let end = parse_i64(argv[3]).ok_or(Error::NotInteger)?;
    let Some(s) = read_str(ctx.shard, ctx.db, argv[1], ctx.now)? else {
        encode::bulk(ctx.out, b"");
        return Ok(());
    };
    let mut tmp = [0u8; 24];
    let bytes: &[u8] = match s {
        StrRef::Bytes(b) => b,
        StrRef::Int(n) => {
            let mut buf = itoa::Buffer::new();
            let d = buf.format(n).as_bytes();
            tmp[..d.len()].copy_from_slice(d);
            &tmp[..d.len()]
        }
    };
    match substr_range(bytes.len(), start, end) {
        Some((a, b)) => encode::bulk(ctx.out, &bytes[a..=b]),
        None => encode::bulk(ctx.out, b""),
    }
    Ok(())
}

/// Redis's GETRANGE index arithmetic: inclusive byte range, or None if empty.
fn substr_range(len: usize, mut start: i64, mut end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if len == 0 || start > end {
        return None;
    }
    Some((start as usize, end as usize))
}

/// SETRANGE key offset value
fn setrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, value) = (argv[1], argv[3]);
    let offset = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    if offset < 0 {
        return Err(Error::Static("ERR offset is out of range"));
    }
    let offset = offset as usize;
    let limit = ctx.shard.config.proto_max_bulk_len;
    let now = ctx.now;
    let db = &mut ctx.shard.ks.dbs[ctx.db];
    let len = match db.get_mut(key, now) {
        Some(v) => {
            let cur = v.as_str().ok_or(Error::WrongType)?.len();
            if value.is_empty() {
                cur
            } else {
                if offset.saturating_add(value.len()) > limit {
                    return Err(Error::StringTooLong);
                }
                v.set_range(offset, value)
            }
        }
        None if value.is_empty() => 0,
        None => {
            if offset.saturating_add(value.len()) > limit {
                return Err(Error::StringTooLong);
            }
            let mut v = Value::from_bytes(b"");
            let n = v.set_range(offset, value);
            db.insert(key, v, None);
            n
        }
    };
    if !value.is_empty() {
        ctx.notify(class::STRING, "setrange", key);
    }
    encode::integer(ctx.out, len as i64);
    Ok(())
}

/// LCS's options.
#[derive(Clone, Copy, Debug, Default)]
pub struct LcsOpts {
    pub len: bool,
    pub idx: bool,
    pub with_match_len: bool,
    pub min_match_len: usize,
}

/// Parses `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`.
pub fn lcs_opts(argv: &[&[u8]]) -> Result<LcsOpts, Error> {
    let mut o = LcsOpts::default();
    let mut args = Args::at(argv, 3);
    while !args.is_done() {
        if args.flag("LEN") {
            o.len = true;
        } else if args.flag("IDX") {
            o.idx = true;
        } else if args.flag("WITHMATCHLEN") {
            o.with_match_len = true;
        } else if args.flag("MINMATCHLEN") {
            o.min_match_len = args.next_i64()?.max(0) as usize;
        } else {
            return Err(Error::Syntax);
        }
    }
    if o.len && o.idx {
        return Err(Error::Static(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

/// A key's string for LCS: empty when missing, an error for other types.
pub fn lcs_input(shard: &mut Shard, db: usize, key: &[u8], now: Millis) -> Result<Vec<u8>, Error> {
    match shard.ks.dbs[db].get(key, now) {
        None => Ok(Vec::new()),
        Some(v) => v.as_str().map(|s| s.to_vec()).ok_or(Error::Static(
            "ERR The specified keys must contain string values",
        )),
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]  (both keys on this shard)
fn lcs_cmd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let opts = lcs_opts(argv)?;
    let a = lcs_input(ctx.shard, ctx.db, argv[1], ctx.now)?;
    let b = lcs_input(ctx.shard, ctx.db, argv[2], ctx.now)?;
    lcs_reply(
        &a,
        &b,
        opts,
        ctx.shard.config.proto_max_bulk_len,
        ctx.resp3,
        ctx.out,
    )
}

/// The longest common subsequence of `a` and `b`, replied as LCS replies:
/// the string, its length (LEN), or the matching ranges (IDX), walking the
/// dynamic-programming table back from the ends of both strings.
pub fn lcs_reply(
    a: &[u8],
    b: &[u8],
    o: LcsOpts,
    limit: usize,
    resp3: bool,
    out: &mut Vec<u8>,
) -> CmdResult {
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen + 1)
        .checked_mul(blen + 1)
        .filter(|c| c.saturating_mul(4) <= limit);
    let Some(cells) = cells else {
        return Err(Error::Static(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    };
    let mut t = vec![0u32; cells];
    let at = |i: usize, j: usize| i * (blen + 1) + j;
    for i in 1..=alen {
        for j in 1..=blen {
            t[at(i, j)] = if a[i - 1] == b[j - 1] {
                t[at(i - 1, j - 1)] + 1
            } else {
                t[at(i - 1, j)].max(t[at(i, j - 1)])
            };
        }
    }
    let total = t[at(alen, blen)] as usize;
    if o.len {
        encode::integer(out, total as i64);
        return Ok(());
    }
    let mut common = vec![0u8; total];
    let mut ranges: Vec<(usize, usize, usize, usize)> = Vec::new();
    // The range being grown backwards, as (a_start, a_end, b_start, b_end).
    let mut cur: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j, mut k) = (alen, blen, total);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            common[k - 1] = a[i - 1];
            match cur.as_mut() {
                None => cur = Some((i - 1, i - 1, j - 1, j - 1)),
                Some(r) if r.0 == i && r.2 == j => {
                    r.0 -= 1;
                    r.2 -= 1;
                }
                Some(_) => emit = true,
            }
            if cur.is_some_and(|r| r.0 == 0 || r.2 == 0) {
                emit = true;
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[at(i - 1, j)] > t[at(i, j - 1)] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = cur.is_some();
        }
        if emit {
            // A match that does not extend the current range ends it without
            // starting a new one, as Redis does.
            if let Some(r) = cur.take() {
                if o.min_match_len == 0 || r.1 - r.0 + 1 >= o.min_match_len {
                    ranges.push(r);
                }
            }
        }
    }
    if !o.idx {
        encode::bulk(out, &common);
        return Ok(());
    }
    encode::map_len(out, 2, resp3);
    encode::bulk(out, b"matches");
    encode::array_len(out, ranges.len());
    for (a0, a1, b0, b1) in ranges {
        encode::array_len(out, 2 + usize::from(o.with_match_len));
        encode::array_len(out, 2);
        encode::integer(out, a0 as i64);
        encode::integer(out, a1 as i64);
        encode::array_len(out, 2);
        encode::integer(out, b0 as i64);
        encode::integer(out, b1 as i64);
        if o.with_match_len {
            encode::integer(out, (a1 - a0 + 1) as i64);
        }
    }
    encode::bulk(out, b"len");
    encode::integer(out, total as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::substr_range;

    #[test]
    fn getrange_indices() {
        assert_eq!(substr_range(5, 0, -1), Some((0, 4)));
        assert_eq!(substr_range(5, -3, -1), Some((2, 4)));
        assert_eq!(substr_range(5, 3, 1), None);
        assert_eq!(substr_range(5, -1, -5), None);
        assert_eq!(substr_range(5, 0, 100), Some((0, 4)));
        assert_eq!(substr_range(0, 0, -1), None);
    }
}
