//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID
//! here; consumer groups (XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM) in
//! `groups`; XINFO in `info`; XREAD and XREADGROUP in [`read`], whose
//! waiting the server does (they may block, and their keys may live on
//! several shards).
//!
//! # Layout
//!
//! - this file: registration, the ID and range parsers every stream
//!   command shares (Redis's rules and error strings), entry replies, and
//!   the commands on a stream's entries;
//! - `groups`, `info`, [`read`]: as above.
//!
//! The data and its rules (IDs, nodes, trimming, groups' PELs) are
//! `storage::stream`'s; this module parses, checks in Redis's order, and
//! replies. Commands whose effect is more than their text (XADD's
//! generated ID, an approximate trim's result, a group's deliveries) leave
//! their propagation form with `propagate::set_own`.

mod groups;
mod info;
pub mod read;

use resp::encode;
use storage::notify::class;
use storage::stream::{Entry, Stream, StreamId, Trim};
use storage::StrRef;

use crate::access;
use crate::args::parse_i64;
use crate::propagate;
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

/// Every ID that does not parse.
pub const ERR_ID: Error =
    Error::Static("ERR Invalid stream ID specified as stream command argument");
const ERR_START: Error = Error::Static("ERR invalid start ID for the interval");
const ERR_END: Error = Error::Static("ERR invalid end ID for the interval");
const ERR_XADD_SMALLER: Error = Error::Static(
    "ERR The ID specified in XADD is equal or smaller than the target stream top item",
);
const ERR_XADD_ZERO: Error = Error::Static("ERR The ID specified in XADD must be greater than 0-0");
const ERR_EXHAUSTED: Error =
    Error::Static("ERR The stream has exhausted the last possible ID, unable to add more items");

pub fn register(t: &mut CommandTable) {
    t.shard("xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), xadd);
    t.shard("xlen", 2, READONLY | FAST, (1, 1, 1), xlen);
    t.shard("xrange", -4, READONLY, (1, 1, 1), xrange);
    t.shard("xrevrange", -4, READONLY, (1, 1, 1), xrevrange);
    t.shard("xdel", -3, WRITE | FAST, (1, 1, 1), xdel);
    t.shard("xtrim", -4, WRITE, (1, 1, 1), xtrim);
    t.shard("xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), xsetid);
    groups::register(t);
    info::register(t);
    read::register(t);
}

// ---------------------------------------------------------------------------
// Parsing.

/// An ID argument: `ms-seq`, `ms` (sequence `missing_seq`), and, unless
/// `strict`, `-` and `+` for the smallest and greatest IDs.
pub fn parse_id(b: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, Error> {
    match b {
        b"-" if !strict => Ok(StreamId::MIN),
        b"+" if !strict => Ok(StreamId::MAX),
        _ => StreamId::parse(b, missing_seq)
            .map(|(id, _)| id)
            .ok_or(ERR_ID),
    }
}

/// A range bound: an ID (as [`parse_id`]) or `(ID`, exclusive, for which
/// the next ID up (a start) or down (an end) is returned.
pub fn parse_bound(b: &[u8], start: bool) -> Result<StreamId, Error> {
    let missing = if start { 0 } else { u64::MAX };
    match b {
        [b'(', rest @ ..] if !rest.is_empty() => {
            let id = parse_id(rest, missing, true)?;
            if start {
                id.next().ok_or(ERR_START)
            } else {
                id.prev().ok_or(ERR_END)
            }
        }
        _ => parse_id(b, missing, false),
    }
}

/// `NOGROUP No such key 'k' or consumer group 'g'` (the commands that
/// need both say so in one message).
pub fn no_key_or_group(key: &[u8], group: &[u8], suffix: &str) -> Error {
    Error::Other(format!(
        "NOGROUP No such key '{}' or consumer group '{}'{suffix}",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// `NOGROUP No such consumer group 'g' for key name 'k'`.
pub fn no_group(key: &[u8], group: &[u8]) -> Error {
    Error::Other(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

// ---------------------------------------------------------------------------
// Replies.

fn bulk_ref(out: &mut Vec<u8>, s: StrRef<'_>) {
    match s {
        StrRef::Int(n) => encode::bulk_int(out, n),
        StrRef::Bytes(b) => encode::bulk(out, b),
    }
}

/// An ID as a bulk string.
pub fn bulk_id(out: &mut Vec<u8>, id: StreamId) {
    let mut b = Vec::with_capacity(42);
    id.write_to(&mut b);
    encode::bulk(out, &b);
}

/// One entry: `[id, [field, value, ...]]`.
pub fn write_entry(out: &mut Vec<u8>, e: &Entry<'_>) {
    encode::array_len(out, 2);
    bulk_id(out, e.id);
    encode::array_len(out, e.fields.len() * 2);
    for (f, v) in &e.fields {
        bulk_ref(out, *f);
        bulk_ref(out, *v);
    }
}

/// Entries as an array.
pub fn write_entries(out: &mut Vec<u8>, es: &[Entry<'_>]) {
    encode::array_len(out, es.len());
    for e in es {
        write_entry(out, e);
    }
}

// ---------------------------------------------------------------------------
// XADD and XTRIM's trimming arguments.

/// `MAXLEN|MINID [=|~] threshold [LIMIT count]`, as parsed.
#[derive(Debug, Clone, Copy, Default)]
struct TrimArgs {
    to: Option<Trim>,
    approx: bool,
    /// LIMIT (0: none; approximate trims get Redis's default).
    limit: u64,
    /// Where the threshold argument is (the `~` is just before it).
    at: usize,
}

/// The options of XADD (from `argv[2]`, up to the ID) or XTRIM (all of
/// them): the trim, XADD's NOMKSTREAM, and where XADD's ID is.
fn parse_trim(
    argv: &[&[u8]],
    xadd: bool,
    node_entries: usize,
) -> Result<(TrimArgs, bool, usize), Error> {
    let mut t = TrimArgs::default();
    let mut nomkstream = false;
    let mut limit_given = false;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv[i];
        let word = |w: &str| opt.eq_ignore_ascii_case(w.as_bytes());
        if xadd && opt == b"*" {
            break;
        } else if (word("maxlen") || word("minid")) && more > 0 {
            if t.to.is_some() {
                return Err(Error::Static(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            t.approx = false;
            if more >= 2 && argv[i + 1] == b"~" {
                t.approx = true;
                i += 1;
            } else if more >= 2 && argv[i + 1] == b"=" {
                i += 1;
            }
            let v = argv[i + 1];
            if word("maxlen") {
                let n = parse_i64(v).ok_or(Error::NotInteger)?;
                if n < 0 {
                    return Err(Error::Static("ERR The MAXLEN argument must be >= 0."));
                }
                t.to = Some(Trim::MaxLen(n as u64));
            } else {
                t.to = Some(Trim::MinId(parse_id(v, 0, true)?));
            }
            i += 1;
            t.at = i;
        } else if word("limit") && more > 0 {
            let n = parse_i64(argv[i + 1]).ok_or(Error::NotInteger)?;
            if n < 0 {
                return Err(Error::Static("ERR The LIMIT argument must be >= 0."));
            }
            t.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && word("nomkstream") {
            nomkstream = true;
        } else if xadd {
            break;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    if t.limit != 0 && t.to.is_none() {
        return Err(Error::Static(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && t.to.is_none() {
        return Err(Error::Static(
            "ERR One of MAXLEN or MINID must be specified",
        ));
    }
    if limit_given {
        // Redis's replication and AOF forms carry `= ... LIMIT n` (an
        // approximate trim rewritten as the exact one it did), which its
        // master link and AOF loader accept; so is it here (LIMIT then
        // means nothing, as for them).
        let explicit_exact = t.at > 0 && argv[t.at - 1] == b"=";
        if !t.approx && !explicit_exact {
            return Err(Error::Static(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        if !t.approx {
            t.limit = 0;
        }
    } else if t.approx {
        let n = 100u64.saturating_mul(node_entries as u64);
        t.limit = if n == 0 || n > 1_000_000 { 10_000 } else { n };
    }
    Ok((t, nomkstream, i))
}

/// Trims `s` as `t` says; what it removed. Leaves in `argv` the exact
/// form an approximate trim amounts to (`=` and the threshold reached),
/// as Redis propagates it.
fn apply_trim(s: &mut Stream, t: &TrimArgs, rewritten: &mut [Vec<u8>]) -> u64 {
    let Some(to) = t.to else {
        return 0;
    };
    let removed = s.trim(to, t.approx, t.limit);
    if t.approx && t.at >= 1 && t.at < rewritten.len() {
        rewritten[t.at - 1] = b"=".to_vec();
        rewritten[t.at] = match to {
            Trim::MaxLen(_) => itoa::Buffer::new().format(s.len()).as_bytes().to_vec(),
            Trim::MinId(_) => s.edge(false).map_or(StreamId::MAX, |e| e.id).to_bytes(),
        };
    }
    removed
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]
fn xadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    propagate::clear_own();
    let limits = ctx.shard.config.stream_node;
    let (trim, nomkstream, at) = parse_trim(argv, true, limits.max_entries)?;
    // `*`, `ms-*`, or a whole ID.
    enum Want {
        Auto,
        Seq(u64),
        Exact(StreamId),
    }
    let id_arg = argv.get(at).copied().unwrap_or(b"*");
    let want = if id_arg == b"*" {
        Want::Auto
    } else if let Some(ms) = id_arg.strip_suffix(b"-*") {
        match ms {
            b"-" | b"+" => return Err(ERR_ID),
            _ => Want::Seq(storage::stream::parse_u64(ms).ok_or(ERR_ID)?),
        }
    } else {
        Want::Exact(parse_id(id_arg, 0, true)?)
    };
    let pairs_at = at + 1;
    let rest = argv.len().saturating_sub(pairs_at);
    if at >= argv.len() || rest < 2 || rest % 2 == 1 {
        return Err(Error::WrongArity("xadd".into()));
    }
    if let Want::Exact(id) = want {
        if id.is_zero() {
            return Err(ERR_XADD_ZERO);
        }
    }
    let (db, now, key) = (ctx.db, ctx.now, argv[1]);
    let dbm = &mut ctx.shard.ks.dbs[db];
    let exists = access::read::<Stream>(dbm, key, now)?.is_some();
    if !exists && nomkstream {
        encode::null(ctx.out, ctx.resp3);
        return Ok(());
    }
    let s = access::write_or_create::<Stream>(dbm, key, now)?;
    if s.last_id() == StreamId::MAX {
        return Err(ERR_EXHAUSTED);
    }
    let id = match want {
        Want::Auto => s.next_auto_id(now).ok_or(ERR_EXHAUSTED)?,
        Want::Seq(ms) => s.next_id_at(ms).ok_or(ERR_XADD_SMALLER)?,
        Want::Exact(id) if id > s.last_id() => id,
        Want::Exact(_) => return Err(ERR_XADD_SMALLER),
    };
    let pairs: Vec<(&[u8], &[u8])> = argv[pairs_at..]
        .chunks_exact(2)
        .map(|p| (p[0], p[1]))
        .collect();
    s.add(id, &pairs, limits);
    let mut rewritten: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    let removed = apply_trim(s, &trim, &mut rewritten);
    bulk_id(ctx.out, id);
    ctx.notify(class::STREAM, "xadd", key);
    if removed > 0 {
        ctx.notify(class::STREAM, "xtrim", key);
    }
    ctx.shard.ks.dbs[db].signal_ready(key);
    if !matches!(want, Want::Exact(_)) || trim.approx {
        rewritten[at] = id.to_bytes();
        propagate::set_own(vec![rewritten]);
    }
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
fn xtrim(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    propagate::clear_own();
    let limits = ctx.shard.config.stream_node;
    let (trim, _, _) = parse_trim(argv, false, limits.max_entries)?;
    let (db, now, key) = (ctx.db, ctx.now, argv[1]);
    let Some(s) = access::write::<Stream>(&mut ctx.shard.ks.dbs[db], key, now)? else {
        encode::integer(ctx.out, 0);
        return Ok(());
    };
    let mut rewritten: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    let removed = apply_trim(s, &trim, &mut rewritten);
    if removed > 0 {
        ctx.notify(class::STREAM, "xtrim", key);
        if trim.approx {
            propagate::set_own(vec![rewritten]);
        }
    } else {
        // Nothing removed: nothing to propagate.
        propagate::set_own(Vec::new());
    }
    encode::integer(ctx.out, removed as i64);
    Ok(())
}

/// XLEN key
fn xlen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    let n = access::read::<Stream>(ctx.db(), argv[1], now)?.map_or(0, Stream::len);
    encode::integer(ctx.out, n as i64);
    Ok(())
}

/// XRANGE key start end [COUNT count]
fn xrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, false)
}

/// XREVRANGE key end start [COUNT count]
fn xrevrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, true)
}

fn range_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev {
        (argv[3], argv[2])
    } else {
        (argv[2], argv[3])
    };
    let start = parse_bound(start_arg, true)?;
    let end = parse_bound(end_arg, false)?;
    let mut count: Option<u64> = None;
    let mut i = 4;
    while i < argv.len() {
        if argv[i].eq_ignore_ascii_case(b"count") && i + 1 < argv.len() {
            let n = parse_i64(argv[i + 1]).ok_or(Error::NotInteger)?;
            count = Some(n.max(0) as u64);
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    let now = ctx.now;
    let Some(s) = access::read::<Stream>(&mut ctx.shard.ks.dbs[ctx.db], argv[1], now)? else {
        encode::array_len(ctx.out, 0);
        return Ok(());
    };
    if count == Some(0) {
        encode::null_aggregate(ctx.out, ctx.resp3);
        return Ok(());
    }
    let limit = count.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let es: Vec<Entry<'_>> = s.range(start, end, rev).take(limit).collect();
    write_entries(ctx.out, &es);
    Ok(())
}

/// XDEL key id [id ...]
fn xdel(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (db, now, key) = (ctx.db, ctx.now, argv[1]);
    let dbm = &mut ctx.shard.ks.dbs[db];
    let Some(s) = access::read::<Stream>(dbm, key, now)? else {
        encode::integer(ctx.out, 0);
        return Ok(());
    };
    let ids = argv[2..]
        .iter()
        .map(|a| parse_id(a, 0, true))
        .collect::<Result<Vec<_>, _>>()?;
    // Nothing to delete changes nothing (no WATCH fired, nothing logged).
    let mut deleted = 0;
    if ids.iter().any(|&id| s.contains(id)) {
        if let Some(s) = access::write::<Stream>(dbm, key, now)? {
            deleted = ids.into_iter().filter(|&id| s.delete(id)).count();
        }
    }
    if deleted > 0 {
        ctx.notify(class::STREAM, "xdel", key);
    }
    encode::integer(ctx.out, deleted as i64);
    Ok(())
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
fn xsetid(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let id = parse_id(argv[2], 0, true)?;
    let mut added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        if argv[i].eq_ignore_ascii_case(b"entriesadded") && more {
            let n = parse_i64(argv[i + 1]).ok_or(Error::NotInteger)?;
            if n < 0 {
                return Err(Error::Static("ERR entries_added must be positive"));
            }
            added = Some(n as u64);
        } else if argv[i].eq_ignore_ascii_case(b"maxdeletedid") && more {
            max_deleted = parse_id(argv[i + 1], 0, true)?;
            if id < max_deleted {
                return Err(Error::Static(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(Error::Syntax);
        }
        i += 2;
    }
    let (db, now, key) = (ctx.db, ctx.now, argv[1]);
    let s =
        access::write::<Stream>(&mut ctx.shard.ks.dbs[db], key, now)?.ok_or(Error::NoSuchKey)?;
    if !s.is_empty() {
        let top = s.edge(true).map_or(StreamId::MIN, |e| e.id);
        if id < top {
            return Err(Error::Static(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if added.is_some_and(|a| a < s.len()) {
            return Err(Error::Static(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    let md = (!max_deleted.is_zero()).then_some(max_deleted);
    s.set_ids(id, added, md);
    ctx.notify(class::STREAM, "xsetid", key);
    encode::ok(ctx.out);
    Ok(())
}
