//! Hash commands: HSET/HSETNX/HMSET, HGET/HMGET, HDEL, HEXISTS, HLEN,
//! HSTRLEN, HKEYS/HVALS/HGETALL, HINCRBY/HINCRBYFLOAT, HRANDFIELD, HSCAN.
//!
//! Every handler goes through [`access`] (WRONGTYPE, creating a missing
//! hash, deleting one that was emptied) and through [`Hash`]'s API, never
//! its encodings. Replies follow Redis 7.0 in both protocols: HGETALL is a
//! map in RESP3, HRANDFIELD WITHVALUES an array of pairs there.

use resp::encode;
use storage::notify::class;
use storage::{Hash, StrRef};

use crate::access;
use crate::args::{format_f64, parse_f64, parse_i64};
use crate::scan::{self, ScanOpts};
use crate::strings::write_bulk_str;
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

/// Most elements a negative HRANDFIELD count may ask for. Redis has no such
/// bound and builds whatever reply was asked for (running out of memory
/// for counts near `-LONG_MAX/2`); Tessera refuses rather than allocate a
/// reply of arbitrary size.
const MAX_RANDOM_REPLY: u64 = 1 << 24;

pub fn register(t: &mut CommandTable) {
    const KEY: (i32, i32, i32) = (1, 1, 1);
    t.shard("hset", -4, WRITE | DENYOOM | FAST, KEY, hset);
    t.shard("hmset", -4, WRITE | DENYOOM | FAST, KEY, hmset);
    t.shard("hsetnx", 4, WRITE | DENYOOM | FAST, KEY, hsetnx);
    t.shard("hget", 3, READONLY | FAST, KEY, hget);
    t.shard("hmget", -3, READONLY | FAST, KEY, hmget);
    t.shard("hdel", -3, WRITE | FAST, KEY, hdel);
    t.shard("hexists", 3, READONLY | FAST, KEY, hexists);
    t.shard("hlen", 2, READONLY | FAST, KEY, hlen);
    t.shard("hstrlen", 3, READONLY | FAST, KEY, hstrlen);
    t.shard("hkeys", 2, READONLY, KEY, hkeys);
    t.shard("hvals", 2, READONLY, KEY, hvals);
    t.shard("hgetall", 2, READONLY, KEY, hgetall);
    t.shard("hincrby", 4, WRITE | DENYOOM | FAST, KEY, hincrby);
    t.shard("hincrbyfloat", 4, WRITE | DENYOOM | FAST, KEY, hincrbyfloat);
    t.shard("hrandfield", -2, READONLY, KEY, hrandfield);
    t.shard("hscan", -3, READONLY, KEY, hscan);
}

/// The hash at `key` for reading (None: no such key), and the output
/// buffer to reply into while it is borrowed.
fn read<'a>(
    ctx: &'a mut Ctx<'_>,
    key: &[u8],
) -> Result<(Option<&'a Hash>, &'a mut Vec<u8>), Error> {
    let Ctx {
        shard,
        db,
        out,
        now,
        ..
    } = ctx;
    Ok((
        access::read::<Hash>(&mut shard.ks.dbs[*db], key, *now)?,
        out,
    ))
}

/// Sets every `field value` pair of `argv[2..]`; the number of new fields.
fn set_pairs(ctx: &mut Ctx<'_>, argv: &[&[u8]], cmd: &str) -> Result<i64, Error> {
    if argv.len() % 2 != 0 {
        return Err(Error::WrongArity(cmd.into()));
    }
    let now = ctx.now;
    let h = access::write_or_create::<Hash>(ctx.db(), argv[1], now)?;
    let added = h.insert_many(&argv[2..]) as i64;
    ctx.notify(class::HASH, "hset", argv[1]);
    Ok(added)
}

/// HSET key field value [field value ...]
fn hset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let added = set_pairs(ctx, argv, "hset")?;
    encode::integer(ctx.out, added);
    Ok(())
}

/// HMSET key field value [field value ...]
fn hmset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, argv, "hmset")?;
    encode::ok(ctx.out);
    Ok(())
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let h = access::write_or_create::<Hash>(ctx.db(), argv[1], now)?;
    let added = !h.contains(argv[2]) && h.insert(argv[2], argv[3]);
    if added {
        ctx.notify(class::HASH, "hset", argv[1]);
    }
    encode::integer(ctx.out, i64::from(added));
    Ok(())
}

/// HGET key field
fn hget(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.resp3;
    let (h, out) = read(ctx, argv[1])?;
    match h.and_then(|h| h.get(argv[2])) {
        Some(s) => write_bulk_str(out, s),
        None => encode::null(out, resp3),
    }
    Ok(())
}

/// HMGET key field [field ...]
fn hmget(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let resp3 = ctx.resp3;
    let (h, out) = read(ctx, argv[1])?;
    let fields = &argv[2..];
    encode::array_len(out, fields.len());
    for f in fields {
        match h.and_then(|h| h.get(f)) {
            Some(s) => write_bulk_str(out, s),
            None => encode::null(out, resp3),
        }
    }
    Ok(())
}

/// HDEL key field [field ...]
fn hdel(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let db = ctx.db();
    let mut removed = 0;
    if let Some(h) = access::write::<Hash>(db, argv[1], now)? {
        for f in &argv[2..] {
            removed += i64::from(h.remove(f));
            if h.is_empty() {
                break;
            }
        }
        if removed > 0 {
            storage::notify::emit(class::HASH, "hdel", db.id, argv[1]);
        }
        access::remove_if_empty::<Hash>(db, argv[1], now);
    }
    encode::integer(ctx.out, removed);
    Ok(())
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let found = read(ctx, argv[1])?.0.is_some_and(|h| h.contains(argv[2]));
    encode::integer(ctx.out, i64::from(found));
    Ok(())
}

/// HLEN key
fn hlen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let n = read(ctx, argv[1])?.0.map_or(0, Hash::len);
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// HSTRLEN key field
fn hstrlen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let n = read(ctx, argv[1])?
        .0
        .and_then(|h| h.get(argv[2]))
        .map_or(0, |s| s.len());
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// What HKEYS, HVALS and HGETALL return of each pair.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Fields,
    Values,
    Both,
}

/// HKEYS / HVALS / HGETALL: every pair, or one half of each.
fn get_all(ctx: &mut Ctx<'_>, key: &[u8], part: Part) -> CmdResult {
    let resp3 = ctx.resp3;
    let (h, out) = read(ctx, key)?;
    let n = h.map_or(0, Hash::len);
    if part == Part::Both {
        encode::map_len(out, n, resp3);
    } else {
        encode::array_len(out, n);
    }
    for (k, v) in h.into_iter().flat_map(Hash::iter) {
        if part != Part::Values {
            write_bulk_str(out, k);
        }
        if part != Part::Fields {
            write_bulk_str(out, v);
        }
    }
    Ok(())
}

/// HKEYS key
fn hkeys(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Part::Fields)
}

/// HVALS key
fn hvals(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Part::Values)
}

/// HGETALL key
fn hgetall(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    get_all(ctx, argv[1], Part::Both)
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let by = parse_i64(argv[3]).ok_or(Error::NotInteger)?;
    let now = ctx.now;
    let h = access::write_or_create::<Hash>(ctx.db(), argv[1], now)?;
    let cur = match h.get(argv[2]) {
        None => 0,
        Some(s) => s
            .parse_i64()
            .ok_or(Error::Static("ERR hash value is not an integer"))?,
    };
    let new = cur.checked_add(by).ok_or(Error::Overflow)?;
    h.insert_str(argv[2], StrRef::Int(new));
    ctx.notify(class::HASH, "hincrby", argv[1]);
    encode::integer(ctx.out, new);
    Ok(())
}

/// HINCRBYFLOAT key field increment
fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let by = parse_f64(argv[3]).ok_or(Error::NotFloat)?;
    if !by.is_finite() {
        return Err(Error::Static("ERR value is NaN or Infinity"));
    }
    let now = ctx.now;
    let h = access::write_or_create::<Hash>(ctx.db(), argv[1], now)?;
    let cur = match h.get(argv[2]) {
        None => 0.0,
        Some(StrRef::Int(n)) => n as f64,
        Some(StrRef::Bytes(b)) => {
            parse_f64(b).ok_or(Error::Static("ERR hash value is not a float"))?
        }
    };
    let new = cur + by;
    if !new.is_finite() {
        return Err(Error::Static("ERR increment would produce NaN or Infinity"));
    }
    let s = format_f64(new);
    h.insert(argv[2], s.as_bytes());
    ctx.notify(class::HASH, "hincrbyfloat", argv[1]);
    encode::bulk(ctx.out, s.as_bytes());
    Ok(())
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut rng = fastrand::Rng::new();
    if argv.len() == 2 {
        let resp3 = ctx.resp3;
        match read(ctx, argv[1])? {
            (Some(h), out) => h.random_pairs(1, false, &mut rng, |k, _| write_bulk_str(out, k)),
            (None, out) => encode::null(out, resp3),
        }
        return Ok(());
    }
    let count = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    if count == i64::MIN {
        return Err(Error::Static(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with_values = match argv.get(3) {
        None => false,
        Some(w) if argv.len() == 4 && w.eq_ignore_ascii_case(b"withvalues") => true,
        Some(_) => return Err(Error::Syntax),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Error::Static("ERR value is out of range"));
    }
    let resp3 = ctx.resp3;
    let (Some(h), out) = read(ctx, argv[1])? else {
        encode::array_len(ctx.out, 0);
        return Ok(());
    };
    let unique = count >= 0;
    let wanted = count.unsigned_abs();
    if !unique && wanted > MAX_RANDOM_REPLY {
        return Err(Error::Static("ERR value is out of range"));
    }
    // Either at most the hash's size or at most MAX_RANDOM_REPLY.
    let n = if unique {
        wanted.min(h.len() as u64) as usize
    } else {
        wanted as usize
    };
    let nested = with_values && resp3;
    encode::array_len(out, if with_values && !resp3 { 2 * n } else { n });
    h.random_pairs(n, unique, &mut rng, |k, v| {
        if nested {
            encode::array_len(out, 2);
        }
        write_bulk_str(out, k);
        if with_values {
            write_bulk_str(out, v);
        }
    });
    Ok(())
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
fn hscan(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    // Redis checks the cursor, then the key (a missing one is an empty
    // scan whatever the options), then the type, then the options.
    let opts = ScanOpts::parse(argv, 2, false);
    if let Err(e @ Error::Static("ERR invalid cursor")) = opts {
        return Err(e);
    }
    let (Some(h), out) = read(ctx, argv[1])? else {
        scan::reply(ctx.out, 0, 0, &[]);
        return Ok(());
    };
    let opts = opts?;
    let mut items = Vec::new();
    let mut n = 0;
    // As Redis: stop once `count` elements (fields and values both count)
    // were visited or after `10 * count` steps without enough.
    let mut visited = 0usize;
    let mut steps = opts.count.saturating_mul(10);
    let mut cursor = opts.cursor;
    loop {
        cursor = h.scan(cursor, |k, v| {
            visited += 2;
            let mut kb = itoa::Buffer::new();
            let kbytes = match k {
                StrRef::Bytes(b) => b,
                StrRef::Int(i) => kb.format(i).as_bytes(),
            };
            if opts.matches(kbytes) {
                encode::bulk(&mut items, kbytes);
                write_bulk_str(&mut items, v);
                n += 2;
            }
        });
        steps -= 1;
        if cursor == 0 || steps == 0 || visited >= opts.count {
            break;
        }
    }
    scan::reply(out, cursor, n, &items);
    Ok(())
}
