//! Generic key commands: DEL, EXISTS, TYPE, the EXPIRE family, TTL, MOVE,
//! RENAME; and the shard-local halves of KEYS, SCAN, DBSIZE, RANDOMKEY and
//! FLUSHDB that the server fans out to every shard.

use resp::encode;
use storage::evict::{self, Policy};
use storage::notify::{self, class};
use storage::{glob_match, Millis, Value};

use crate::args::{parse_i64, Args};
use crate::error::{FREQ_WITHOUT_LFU, IDLETIME_UNDER_LFU};
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error, Shard};

pub fn register(t: &mut CommandTable) {
    t.shard("del", -2, WRITE | MULTI_KEY, (1, -1, 1), del);
    t.shard("unlink", -2, WRITE | FAST | MULTI_KEY, (1, -1, 1), del);
    t.shard(
        "exists",
        -2,
        READONLY | FAST | MULTI_KEY,
        (1, -1, 1),
        exists,
    );
    t.shard("touch", -2, READONLY | FAST | MULTI_KEY, (1, -1, 1), touch);
    t.shard("type", 2, READONLY | FAST, (1, 1, 1), type_cmd);
    t.shard("expire", -3, WRITE | FAST, (1, 1, 1), expire);
    t.shard("pexpire", -3, WRITE | FAST, (1, 1, 1), pexpire);
    t.shard("expireat", -3, WRITE | FAST, (1, 1, 1), expireat);
    t.shard("pexpireat", -3, WRITE | FAST, (1, 1, 1), pexpireat);
    t.shard("ttl", 2, READONLY | FAST | RANDOM, (1, 1, 1), ttl);
    t.shard("pttl", 2, READONLY | FAST | RANDOM, (1, 1, 1), pttl);
    t.shard("expiretime", 2, READONLY | FAST, (1, 1, 1), expiretime);
    t.shard("pexpiretime", 2, READONLY | FAST, (1, 1, 1), pexpiretime);
    t.shard("persist", 2, WRITE | FAST, (1, 1, 1), persist);
    t.shard("move", 3, WRITE | FAST, (1, 1, 1), move_cmd);
    t.shard("rename", 3, WRITE | MULTI_KEY, (1, 2, 1), rename);
    t.shard("renamenx", 3, WRITE | FAST | MULTI_KEY, (1, 2, 1), renamenx);
    t.shard("copy", -3, WRITE | DENYOOM | MULTI_KEY, (1, 2, 1), copy);
    t.shard("object", -2, READONLY, (2, 2, 1), object);
    t.server("memory", -2, READONLY, (2, 2, 1));
}

/// COPY's options: the destination database and REPLACE.
pub struct CopyOpts {
    pub db: usize,
    pub replace: bool,
}

/// Parses `COPY source destination [DB destination-db] [REPLACE]` for a
/// connection on database `db` with `databases` databases.
pub fn copy_opts(argv: &[&[u8]], db: usize, databases: usize) -> Result<CopyOpts, Error> {
    let mut opts = CopyOpts { db, replace: false };
    let mut args = Args::at(argv, 3);
    while !args.is_done() {
        if args.flag("REPLACE") {
            opts.replace = true;
        } else if args.flag("DB") {
            let n = args.next_i64()?;
            if n < 0 || n >= databases as i64 {
                return Err(Error::DbIndexOutOfRange);
            }
            opts.db = n as usize;
        } else {
            return Err(Error::Syntax);
        }
    }
    if argv[1] == argv[2] && opts.db == db {
        return Err(Error::SameObject);
    }
    Ok(opts)
}

/// COPY source destination [DB destination-db] [REPLACE]  (both keys on this shard)
fn copy(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let opts = copy_opts(argv, ctx.db, ctx.shard.ks.dbs.len())?;
    let now = ctx.now;
    let Some((value, exp)) = ctx
        .db()
        .get_with_expiry(argv[1], now)
        .map(|(v, e)| (v.clone(), e))
    else {
        encode::integer(ctx.out, 0);
        return Ok(());
    };
    let dst = &mut ctx.shard.ks.dbs[opts.db];
    if !opts.replace && dst.contains(argv[2], now) {
        encode::integer(ctx.out, 0);
        return Ok(());
    }
    dst.insert(argv[2], value, exp);
    notify::emit(class::GENERIC, "copy_to", opts.db, argv[2]);
    encode::integer(ctx.out, 1);
    Ok(())
}

/// OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ key, OBJECT HELP
fn object(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let sub = argv[1].to_ascii_lowercase();
    if sub == b"help" {
        crate::reply_help(
            ctx.out,
            &[
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "FREQ <key>",
                "IDLETIME <key>",
                "REFCOUNT <key>",
                "HELP",
            ],
        );
        return Ok(());
    }
    if argv.len() != 3 {
        return Err(Error::unknown_subcommand(argv[1], "OBJECT"));
    }
    let now = ctx.now;
    let Some((v, stamp)) = ctx.shard.ks.dbs[ctx.db].peek_stamped(argv[2], now) else {
        encode::null(ctx.out, ctx.resp3);
        return Ok(());
    };
    let policy = evict::policy();
    match sub.as_slice() {
        b"encoding" => encode::bulk(ctx.out, v.encoding_name().as_bytes()),
        // Redis shares the integers 0..10000 between keys and reports them
        // with the largest refcount, except under an LRU or LFU limit,
        // where each key needs its own access stamp. Tessera stores every
        // value inline and answers as Redis would.
        b"refcount" => {
            let shared = matches!(v.as_str(), Some(storage::StrRef::Int(n)) if (0..10000).contains(&n))
                && (evict::maxmemory() == 0
                    || !matches!(
                        policy,
                        Policy::AllKeysLru
                            | Policy::VolatileLru
                            | Policy::AllKeysLfu
                            | Policy::VolatileLfu
                    ));
            encode::integer(ctx.out, if shared { i64::from(i32::MAX) } else { 1 });
        }
        b"idletime" => {
            if policy.is_lfu() {
                return Err(Error::Static(IDLETIME_UNDER_LFU));
            }
            encode::integer(ctx.out, (evict::idle_ms(stamp) / 1000) as i64);
        }
        b"freq" => {
            if !policy.is_lfu() {
                return Err(Error::Static(FREQ_WITHOUT_LFU));
            }
            encode::integer(ctx.out, i64::from(evict::freq(stamp)));
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "OBJECT")),
    }
    Ok(())
}

/// Bytes a key costs besides its value's own heap: the 64-byte table node
/// (which holds short keys and values inline) and its bucket slot.
const KEY_OVERHEAD: usize = 64 + 8;

/// MEMORY USAGE's figure for `key` of `db`, None when it does not exist:
/// the node, a key longer than fits inline, and the value's heap (exact
/// for strings; for big aggregates the estimate the type gives), so it
/// answers in O(1) whatever SAMPLES says. MEMORY itself is a server
/// command (`features/memory.rs`): STATS reads every shard.
pub fn memory_usage(db: &mut storage::db::Db, key: &[u8], now: Millis) -> Option<usize> {
    db.peek(key, now).map(|v| {
        let key_heap = if key.len() > storage::small::KEY_INLINE_CAP {
            key.len()
        } else {
            0
        };
        KEY_OVERHEAD + key_heap + v.heap_size()
    })
}

/// Deletes the live keys among `keys`; returns how many there were.
pub fn del_keys(shard: &mut Shard, db: usize, keys: &[&[u8]], now: Millis) -> i64 {
    keys.iter()
        .filter_map(|k| {
            let v = shard.ks.dbs[db].remove(k, now)?;
            notify::emit(class::GENERIC, "del", db, k);
            Some(v)
        })
        .map(storage::lazyfree::release)
        .count() as i64
}

/// Counts the live keys among `keys` (a key named twice counts twice).
/// How many of `keys` exist; with `touch`, each one found counts as an
/// access (TOUCH), else none does (EXISTS).
pub fn count_existing(
    shard: &mut Shard,
    db: usize,
    keys: &[&[u8]],
    now: Millis,
    touch: bool,
) -> i64 {
    let db = &mut shard.ks.dbs[db];
    keys.iter()
        .filter(|k| {
            if touch {
                db.access(k, now)
            } else {
                db.contains(k, now)
            }
        })
        .count() as i64
}

/// DEL key [key ...]
fn del(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let n = del_keys(ctx.shard, ctx.db, &argv[1..], ctx.now);
    encode::integer(ctx.out, n);
    Ok(())
}

/// EXISTS key [key ...]
fn exists(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let n = count_existing(ctx.shard, ctx.db, &argv[1..], ctx.now, false);
    encode::integer(ctx.out, n);
    Ok(())
}

/// TOUCH key [key ...]
fn touch(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let n = count_existing(ctx.shard, ctx.db, &argv[1..], ctx.now, true);
    encode::integer(ctx.out, n);
    Ok(())
}

/// TYPE key
fn type_cmd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let name = ctx.db().peek(argv[1], now).map_or("none", Value::type_name);
    encode::simple(ctx.out, name.as_bytes());
    Ok(())
}

/// The shared body of EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT:
/// `key time [NX | XX | GT | LT]`.
fn expire_generic(
    ctx: &mut Ctx<'_>,
    argv: &[&[u8]],
    unit_ms: i64,
    absolute: bool,
    cmd: &'static str,
) -> CmdResult {
    let key = argv[1];
    let n = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    let mut args = Args::at(argv, 3);
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    while !args.is_done() {
        if args.flag("NX") {
            nx = true;
        } else if args.flag("XX") {
            xx = true;
        } else if args.flag("GT") {
            gt = true;
        } else if args.flag("LT") {
            lt = true;
        } else {
            let opt = args.next_bytes()?;
            return Err(Error::Other(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Error::Static(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Error::Static(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let now = ctx.now;
    let at = n
        .checked_mul(unit_ms)
        .and_then(|ms| {
            if absolute {
                Some(ms)
            } else {
                ms.checked_add(now as i64)
            }
        })
        .ok_or(Error::InvalidExpire(cmd))?;
    let db = ctx.db();
    let Some(current) = db.expiry(key, now) else {
        encode::integer(ctx.out, 0);
        return Ok(());
    };
    // A key without a TTL counts as one that never expires.
    let allowed = match current {
        None => !xx && !gt,
        Some(cur) => !nx && (!gt || at > cur as i64) && (!lt || at < cur as i64),
    };
    if !allowed {
        encode::integer(ctx.out, 0);
        return Ok(());
    }
    // (While an AOF loads, a deadline in the past is set, as in Redis.)
    if at <= now as i64 && !storage::dict::expiry_paused() {
        db.remove(key, now);
        ctx.notify(class::GENERIC, "del", key);
    } else {
        db.set_expiry(key, Some(at as Millis), now);
        ctx.notify(class::GENERIC, "expire", key);
    }
    encode::integer(ctx.out, 1);
    Ok(())
}

/// EXPIRE key seconds [NX | XX | GT | LT]
fn expire(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, 1000, false, "expire")
}

/// PEXPIRE key milliseconds [NX | XX | GT | LT]
fn pexpire(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, 1, false, "pexpire")
}

/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
fn expireat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, 1000, true, "expireat")
}

/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
fn pexpireat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, 1, true, "pexpireat")
}

/// Replies -2 (no key), -1 (no TTL) or what `f` makes of the expiry time.
fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], f: impl Fn(Millis, Millis) -> i64) -> CmdResult {
    let now = ctx.now;
    let n = match ctx.db().expiry(key, now) {
        None => -2,
        Some(None) => -1,
        Some(Some(at)) => f(at, now),
    };
    encode::integer(ctx.out, n);
    Ok(())
}

/// TTL key
fn ttl(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, now| {
        ((at.saturating_sub(now) + 500) / 1000) as i64
    })
}

/// PTTL key
fn pttl(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, now| at.saturating_sub(now) as i64)
}

/// EXPIRETIME key
fn expiretime(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, _| (at / 1000) as i64)
}

/// PEXPIRETIME key
fn pexpiretime(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], |at, _| at as i64)
}

/// PERSIST key
fn persist(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let n = match db.expiry(argv[1], now) {
        Some(Some(_)) => i64::from(db.set_expiry(argv[1], None, now)),
        _ => 0,
    };
    if n == 1 {
        ctx.notify(class::GENERIC, "persist", argv[1]);
    }
    encode::integer(ctx.out, n);
    Ok(())
}

/// MOVE key db
fn move_cmd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let target = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    if target < 0 || target >= ctx.shard.ks.dbs.len() as i64 || target > i64::from(i32::MAX) {
        return Err(Error::DbIndexOutOfRange);
    }
    let target = target as usize;
    if target == ctx.db {
        return Err(Error::SameObject);
    }
    let now = ctx.now;
    let key = argv[1];
    if !ctx.db().contains(key, now) || ctx.shard.ks.dbs[target].contains(key, now) {
        encode::integer(ctx.out, 0);
        return Ok(());
    }
    if let Some((v, exp, stamp)) = ctx.db().take_for_move(key, now) {
        let to = &mut ctx.shard.ks.dbs[target];
        to.insert(key, v, exp);
        to.set_stamp(key, stamp, now);
        ctx.notify(class::GENERIC, "move_from", key);
        notify::emit(class::GENERIC, "move_to", target, key);
    }
    encode::integer(ctx.out, 1);
    Ok(())
}

/// RENAME and RENAMENX when both keys live on this shard.
fn rename_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], nx: bool) -> CmdResult {
    let (src, dst) = (argv[1], argv[2]);
    let now = ctx.now;
    let db = ctx.db();
    if !db.contains(src, now) {
        return Err(Error::NoSuchKey);
    }
    if src == dst {
        if nx {
            encode::integer(ctx.out, 0);
        } else {
            encode::ok(ctx.out);
        }
        return Ok(());
    }
    if nx && db.contains(dst, now) {
        encode::integer(ctx.out, 0);
        return Ok(());
    }
    if let Some((v, exp, stamp)) = db.take_for_move(src, now) {
        db.insert(dst, v, exp);
        db.set_stamp(dst, stamp, now);
        ctx.notify(class::GENERIC, "rename_from", src);
        ctx.notify(class::GENERIC, "rename_to", dst);
    }
    if nx {
        encode::integer(ctx.out, 1);
    } else {
        encode::ok(ctx.out);
    }
    Ok(())
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, false)
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, true)
}

/// The live keys of this shard's `db` matching `pattern` (KEYS).
pub fn keys_matching(shard: &mut Shard, db: usize, pattern: &[u8], now: Millis) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    shard.ks.dbs[db].keys_matching(pattern, now, |k| out.push(k.to_vec()));
    out
}

/// SCAN's filters.
#[derive(Clone, Debug, Default)]
pub struct ScanFilter {
    pub pattern: Option<Vec<u8>>,
    pub type_name: Option<Vec<u8>>,
}

/// One SCAN step on this shard: up to about `count` buckets from `cursor`;
/// returns the next cursor (0: this shard is done) and the live keys found.
pub fn scan_step(
    shard: &mut Shard,
    db: usize,
    cursor: u64,
    count: usize,
    filter: &ScanFilter,
    now: Millis,
) -> (u64, Vec<Vec<u8>>) {
    let mut keys = Vec::new();
    let mut expired = Vec::new();
    let next = shard.ks.dbs[db].scan(cursor, count, |k, v, exp| {
        // Expired once `now` is past the deadline, as storage counts it:
        // removed below, as Redis's SCAN removes the expired keys it meets.
        if exp.is_some_and(|at| now > at) {
            expired.push(k.to_vec());
            return;
        }
        if let Some(p) = &filter.pattern {
            if !glob_match(p, k, false) {
                return;
            }
        }
        if let Some(t) = &filter.type_name {
            if !t.eq_ignore_ascii_case(v.type_name().as_bytes()) {
                return;
            }
        }
        keys.push(k.to_vec());
    });
    for k in expired {
        let _ = shard.ks.dbs[db].get_with_expiry(&k, now);
    }
    (next, keys)
}
