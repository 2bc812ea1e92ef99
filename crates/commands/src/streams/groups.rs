//! Consumer groups: XGROUP (CREATE, SETID, DESTROY, CREATECONSUMER,
//! DELCONSUMER, HELP), XACK, XPENDING, XCLAIM and XAUTOCLAIM.
//!
//! XCLAIM and XAUTOCLAIM are recorded, as Redis 7.0 propagates them, as one
//! `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID
//! LASTID id` per entry they claimed or dropped (an entry no longer in the
//! stream leaves the PEL), and XCLAIM's LASTID that moved the group alone
//! as `XGROUP SETID ... ENTRIESREAD`.

use resp::encode;
use storage::notify::class;
use storage::stream::{Group, Stream, StreamId, ENTRIES_READ_UNKNOWN};

use super::{bulk_id, no_group, no_key_or_group, parse_bound, parse_id, write_entry};
use crate::access;
use crate::args::parse_i64;
use crate::propagate;
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

pub fn register(t: &mut CommandTable) {
    t.shard("xgroup", -2, WRITE, (2, 2, 1), xgroup);
    t.shard("xack", -4, WRITE | FAST, (1, 1, 1), xack);
    t.shard("xpending", -3, READONLY, (1, 1, 1), xpending);
    t.shard("xclaim", -6, WRITE | FAST, (1, 1, 1), xclaim);
    t.shard("xautoclaim", -6, WRITE | FAST, (1, 1, 1), xautoclaim);
}

const ERR_NEED_KEY: Error = Error::Static(
    "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
);

/// ENTRIESREAD's value: positive, or -1.
fn entries_read_arg(b: &[u8]) -> Result<i64, Error> {
    let n = parse_i64(b).ok_or(Error::NotInteger)?;
    if n < 0 && n != ENTRIES_READ_UNKNOWN {
        return Err(Error::Static(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok(n)
}

fn int_arg(n: impl itoa::Integer) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

/// The XCLAIM that records a group's pending entry `id` as it now is (or
/// was, before it was dropped).
fn xclaim_form(
    key: &[u8],
    group: &[u8],
    g: &Group,
    id: StreamId,
    consumer: &[u8],
    time: u64,
    count: u64,
) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        consumer.to_vec(),
        b"0".to_vec(),
        id.to_bytes(),
        b"TIME".to_vec(),
        int_arg(time),
        b"RETRYCOUNT".to_vec(),
        int_arg(count),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        g.last_id.to_bytes(),
    ]
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n] | SETID key group id|$ [ENTRIESREAD n]
/// | DESTROY key group | CREATECONSUMER key group consumer | DELCONSUMER key group consumer | HELP
fn xgroup(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let sub = argv[1].to_ascii_lowercase();
    let arity_ok = match sub.as_slice() {
        b"create" | b"setid" => argv.len() >= 5,
        b"destroy" => argv.len() == 4,
        b"createconsumer" | b"delconsumer" => argv.len() == 5,
        b"help" => argv.len() == 2,
        _ => return Err(Error::unknown_subcommand(argv[1], "XGROUP")),
    };
    if !arity_ok {
        return Err(Error::WrongArity(format!(
            "xgroup|{}",
            String::from_utf8_lossy(&sub)
        )));
    }
    if sub == b"help" {
        crate::reply_help(
            ctx.out,
            &[
                "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CREATE <key> <groupname> <id|$> [option]",
                "    Create a new consumer group. Options are:",
                "    * MKSTREAM",
                "      Create the empty stream if it does not exist.",
                "    * ENTRIESREAD entries_read",
                "      Set the group's entries_read counter (internal use).",
                "CREATECONSUMER <key> <groupname> <consumer>",
                "    Create a new consumer in the specified group.",
                "DELCONSUMER <key> <groupname> <consumer>",
                "    Remove the specified consumer.",
                "DESTROY <key> <groupname>",
                "    Remove the specified group.",
                "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                "    Set the current group ID and entries_read counter.",
                "HELP",
                "    Prints this help.",
            ],
        );
        return Ok(());
    }
    let mut mkstream = false;
    let mut entries_read = ENTRIES_READ_UNKNOWN;
    match sub.as_slice() {
        b"create" => {
            let mut i = 5;
            while i < argv.len() {
                if argv[i].eq_ignore_ascii_case(b"mkstream") {
                    mkstream = true;
                    i += 1;
                } else if argv[i].eq_ignore_ascii_case(b"entriesread") && i + 1 < argv.len() {
                    entries_read = entries_read_arg(argv[i + 1])?;
                    i += 2;
                } else {
                    return Err(Error::subcommand_syntax(argv[1], "XGROUP"));
                }
            }
        }
        b"setid" => match argv.len() {
            5 => {}
            7 if argv[5].eq_ignore_ascii_case(b"entriesread") => {
                entries_read = entries_read_arg(argv[6])?;
            }
            _ => return Err(Error::subcommand_syntax(argv[1], "XGROUP")),
        },
        _ => {}
    }
    let (db, now, key, name) = (ctx.db, ctx.now, argv[2], argv[3]);
    let dbm = &mut ctx.shard.ks.dbs[db];
    let exists = access::read::<Stream>(dbm, key, now)?.is_some();
    if !exists && !mkstream {
        return Err(ERR_NEED_KEY);
    }
    let has_group = access::read::<Stream>(dbm, key, now)?.is_some_and(|s| s.group(name).is_some());
    if !has_group
        && matches!(
            sub.as_slice(),
            b"setid" | b"createconsumer" | b"delconsumer"
        )
    {
        return Err(no_group(key, name));
    }
    match sub.as_slice() {
        b"create" => {
            let last =
                access::read::<Stream>(dbm, key, now)?.map_or(StreamId::MIN, Stream::last_id);
            let id = match argv[4] {
                b"$" => last,
                a => parse_id(a, 0, true)?,
            };
            if has_group {
                return Err(Error::Static(
                    "BUSYGROUP Consumer Group name already exists",
                ));
            }
            let s = access::write_or_create::<Stream>(dbm, key, now)?;
            s.create_group(name, id, entries_read);
            ctx.notify(class::STREAM, "xgroup-create", key);
            encode::ok(ctx.out);
        }
        b"setid" => {
            let last =
                access::read::<Stream>(dbm, key, now)?.map_or(StreamId::MIN, Stream::last_id);
            let id = match argv[4] {
                b"$" => last,
                a => parse_id(a, 0, false)?,
            };
            let g = access::write::<Stream>(dbm, key, now)?
                .and_then(|s| s.group_mut(name))
                .ok_or_else(|| no_group(key, name))?;
            g.last_id = id;
            g.entries_read = entries_read;
            ctx.notify(class::STREAM, "xgroup-setid", key);
            encode::ok(ctx.out);
        }
        b"destroy" => {
            if !has_group {
                encode::integer(ctx.out, 0);
                return Ok(());
            }
            if let Some(s) = access::write::<Stream>(dbm, key, now)? {
                s.destroy_group(name);
            }
            dbm.signal_ready(key);
            ctx.notify(class::STREAM, "xgroup-destroy", key);
            encode::integer(ctx.out, 1);
        }
        b"createconsumer" => {
            let exists = access::read::<Stream>(dbm, key, now)?
                .and_then(|s| s.group(name))
                .is_some_and(|g| g.consumer(argv[4]).is_some());
            if exists {
                encode::integer(ctx.out, 0);
                return Ok(());
            }
            if let Some(g) = access::write::<Stream>(dbm, key, now)?.and_then(|s| s.group_mut(name))
            {
                g.create_consumer(argv[4], now);
            }
            ctx.notify(class::STREAM, "xgroup-createconsumer", key);
            encode::integer(ctx.out, 1);
        }
        _ => {
            // DELCONSUMER; a consumer that is not there changes nothing.
            let exists = access::read::<Stream>(dbm, key, now)?
                .and_then(|s| s.group(name))
                .is_some_and(|g| g.consumer(argv[4]).is_some());
            let pending = if exists {
                access::write::<Stream>(dbm, key, now)?
                    .and_then(|s| s.group_mut(name))
                    .and_then(|g| g.delete_consumer(argv[4]))
            } else {
                None
            };
            if pending.is_some() {
                ctx.notify(class::STREAM, "xgroup-delconsumer", key);
            }
            encode::integer(ctx.out, pending.unwrap_or(0) as i64);
        }
    }
    Ok(())
}

/// XACK key group id [id ...]
fn xack(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let ids = argv[3..]
        .iter()
        .map(|a| parse_id(a, 0, true))
        .collect::<Result<Vec<_>, _>>()?;
    let (db, now, key, name) = (ctx.db, ctx.now, argv[1], argv[2]);
    let dbm = &mut ctx.shard.ks.dbs[db];
    let any = access::read::<Stream>(dbm, key, now)?
        .and_then(|s| s.group(name))
        .is_some_and(|g| ids.iter().any(|&id| g.pending(id).is_some()));
    if !any {
        encode::integer(ctx.out, 0);
        return Ok(());
    }
    let acked = access::write::<Stream>(dbm, key, now)?
        .and_then(|s| s.group_mut(name))
        .map_or(0, |g| ids.iter().filter(|&&id| g.ack(id)).count());
    encode::integer(ctx.out, acked as i64);
    Ok(())
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
fn xpending(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() != 3 && !(6..=9).contains(&argv.len()) {
        return Err(Error::Syntax);
    }
    let mut range = None;
    let mut min_idle = 0i64;
    if argv.len() >= 6 {
        let mut at = 3;
        if argv[3].eq_ignore_ascii_case(b"idle") {
            min_idle = parse_i64(argv[4]).ok_or(Error::NotInteger)?;
            if argv.len() < 8 {
                return Err(Error::Syntax);
            }
            at += 2;
        }
        let count = parse_i64(argv[at + 2]).ok_or(Error::NotInteger)?.max(0);
        let start = parse_bound(argv[at], true)?;
        let end = parse_bound(argv[at + 1], false)?;
        let consumer = argv.get(at + 3).copied();
        range = Some((start, end, count as u64, consumer));
    }
    let (now, key, name) = (ctx.now, argv[1], argv[2]);
    let s = access::read::<Stream>(&mut ctx.shard.ks.dbs[ctx.db], key, now)?;
    let g = s
        .and_then(|s| s.group(name))
        .ok_or_else(|| no_key_or_group(key, name, ""))?;
    let out = &mut *ctx.out;
    let Some((start, end, mut count, consumer)) = range else {
        let n = g.pending_count();
        encode::array_len(out, 4);
        encode::integer(out, n as i64);
        if n == 0 {
            encode::null(out, ctx.resp3);
            encode::null(out, ctx.resp3);
            encode::null_aggregate(out, ctx.resp3);
            return Ok(());
        }
        let mut all = g.pending_range(StreamId::MIN, StreamId::MAX);
        let first = all.next().map_or(StreamId::MIN, |(id, _)| id);
        let last = all.next_back().map_or(first, |(id, _)| id);
        bulk_id(out, first);
        bulk_id(out, last);
        let busy: Vec<_> = g
            .consumers()
            .filter(|(_, c)| c.pending_count() > 0)
            .collect();
        encode::array_len(out, busy.len());
        for (cname, c) in busy {
            encode::array_len(out, 2);
            encode::bulk(out, cname);
            encode::bulk_int(out, c.pending_count() as i64);
        }
        return Ok(());
    };
    let ids: Vec<StreamId> = match consumer {
        Some(cn) => match g.consumer(cn) {
            Some(c) => c.pending_range(start, end).collect(),
            None => {
                encode::array_len(out, 0);
                return Ok(());
            }
        },
        None => g.pending_range(start, end).map(|(id, _)| id).collect(),
    };
    let mut rows = Vec::new();
    for id in ids {
        if count == 0 {
            break;
        }
        let Some(p) = g.pending(id) else { continue };
        let idle = now as i64 - p.delivery_time as i64;
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        count -= 1;
        rows.push((id, p.consumer(), idle.max(0), p.delivery_count));
    }
    encode::array_len(out, rows.len());
    for (id, cname, idle, tries) in rows {
        encode::array_len(out, 4);
        bulk_id(out, id);
        encode::bulk(out, cname);
        encode::integer(out, idle);
        encode::integer(out, tries as i64);
    }
    Ok(())
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds]
/// [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
fn xclaim(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    propagate::clear_own();
    let (db, now, key, name, cname) = (ctx.db, ctx.now, argv[1], argv[2], argv[3]);
    let dbm = &mut ctx.shard.ks.dbs[db];
    if access::read::<Stream>(dbm, key, now)?
        .and_then(|s| s.group(name))
        .is_none()
    {
        return Err(no_key_or_group(key, name, ""));
    }
    let min_idle = parse_i64(argv[4])
        .ok_or(Error::Static(
            "ERR Invalid min-idle-time argument for XCLAIM",
        ))?
        .max(0);
    let mut j = 5;
    let mut ids = Vec::new();
    while j < argv.len() {
        match parse_id(argv[j], 0, true) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now_i = now as i64;
    let (mut time, mut retry): (Option<i64>, Option<i64>) = (None, None);
    let (mut force, mut justid) = (false, false);
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let o = argv[j];
        let word = |w: &str| o.eq_ignore_ascii_case(w.as_bytes());
        if word("force") {
            force = true;
        } else if word("justid") {
            justid = true;
        } else if word("idle") && more {
            j += 1;
            let ms = parse_i64(argv[j])
                .ok_or(Error::Static("ERR Invalid IDLE option argument for XCLAIM"))?;
            time = Some(now_i.wrapping_sub(ms));
        } else if word("time") && more {
            j += 1;
            time = Some(
                parse_i64(argv[j])
                    .ok_or(Error::Static("ERR Invalid TIME option argument for XCLAIM"))?,
            );
        } else if word("retrycount") && more {
            j += 1;
            retry = Some(parse_i64(argv[j]).ok_or(Error::Static(
                "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            ))?);
        } else if word("lastid") && more {
            j += 1;
            last_id = parse_id(argv[j], 0, true)?;
        } else {
            return Err(Error::Other(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(o)
            )));
        }
        j += 1;
    }
    // A time in the future or before 1970 is taken as now, as Redis does.
    let time = match time {
        Some(t) if (0..=now_i).contains(&t) => t as u64,
        _ => now,
    };
    let Some(s) = access::write::<Stream>(dbm, key, now)? else {
        return Ok(());
    };
    let Some((view, g)) = s.split_group(name) else {
        return Ok(());
    };
    let mut effects = Vec::new();
    let mut moved_last = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        moved_last = true;
    }
    let mut replies = Vec::new();
    let mut created = false;
    for id in ids {
        let pending = g
            .pending(id)
            .map(|p| (p.consumer().to_vec(), p.delivery_time, p.delivery_count));
        if !view.contains(id) {
            if let Some((old, t, c)) = pending {
                effects.push(xclaim_form(key, name, g, id, &old, t, c));
                g.ack(id);
                moved_last = false;
            }
            continue;
        }
        let (had_consumer, old_time, old_count) = match &pending {
            Some((_, t, c)) => (true, *t, *c),
            None if force => (false, 0, 1),
            None => continue,
        };
        if had_consumer && min_idle != 0 && now_i - (old_time as i64) < min_idle {
            continue;
        }
        match g.consumer_mut(cname) {
            Some(c) => c.seen_time = now,
            None => {
                g.create_consumer(cname, now);
                created = true;
            }
        }
        let count = match retry {
            Some(r) if r >= 0 => r as u64,
            _ if justid => old_count,
            _ => old_count + 1,
        };
        g.claim(id, cname, time, count);
        if justid {
            let mut b = Vec::new();
            bulk_id(&mut b, id);
            replies.push(b);
        } else if let Some(e) = view.get(id) {
            let mut b = Vec::new();
            write_entry(&mut b, &e);
            replies.push(b);
        }
        effects.push(xclaim_form(key, name, g, id, cname, time, count));
        moved_last = false;
    }
    if moved_last {
        effects.push(vec![
            b"XGROUP".to_vec(),
            b"SETID".to_vec(),
            key.to_vec(),
            name.to_vec(),
            g.last_id.to_bytes(),
            b"ENTRIESREAD".to_vec(),
            int_arg(g.entries_read),
        ]);
    }
    encode::array_len(ctx.out, replies.len());
    for r in replies {
        ctx.out.extend_from_slice(&r);
    }
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    propagate::set_own(effects);
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
fn xautoclaim(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    propagate::clear_own();
    let min_idle = parse_i64(argv[4])
        .ok_or(Error::Static(
            "ERR Invalid min-idle-time argument for XAUTOCLAIM",
        ))?
        .max(0);
    let start = parse_bound(argv[5], true)?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    // COUNT's ceiling: Redis's LONG_MAX / max(sizeof(streamID), 10).
    const MAX_COUNT: i64 = i64::MAX / 16;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if argv[j].eq_ignore_ascii_case(b"count") && more {
            count = parse_i64(argv[j + 1])
                .filter(|n| (1..=MAX_COUNT).contains(n))
                .ok_or(Error::Static("ERR COUNT must be > 0"))?;
            j += 1;
        } else if argv[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let (db, now, key, name, cname) = (ctx.db, ctx.now, argv[1], argv[2], argv[3]);
    let dbm = &mut ctx.shard.ks.dbs[db];
    if access::read::<Stream>(dbm, key, now)?
        .and_then(|s| s.group(name))
        .is_none()
    {
        return Err(no_key_or_group(key, name, ""));
    }
    let Some(s) = access::write::<Stream>(dbm, key, now)? else {
        return Ok(());
    };
    let Some((view, g)) = s.split_group(name) else {
        return Ok(());
    };
    let now_i = now as i64;
    let mut attempts = count.saturating_mul(10);
    let mut left = count;
    let mut replies = Vec::new();
    let mut deleted = Vec::new();
    let mut effects = Vec::new();
    let mut created = false;
    let mut cursor = Some(start);
    while attempts > 0 && left > 0 {
        let Some(from) = cursor else { break };
        let Some((id, p)) = g.pending_range(from, StreamId::MAX).next() else {
            cursor = None;
            break;
        };
        attempts -= 1;
        cursor = id.next();
        let (old, old_time, old_count) = (p.consumer().to_vec(), p.delivery_time, p.delivery_count);
        if !view.contains(id) {
            effects.push(xclaim_form(key, name, g, id, &old, old_time, old_count));
            g.ack(id);
            deleted.push(id);
            left -= 1;
            continue;
        }
        if min_idle != 0 && now_i - (old_time as i64) < min_idle {
            continue;
        }
        match g.consumer_mut(cname) {
            Some(c) => c.seen_time = now,
            None => {
                g.create_consumer(cname, now);
                created = true;
            }
        }
        let tries = if justid { old_count } else { old_count + 1 };
        g.claim(id, cname, now, tries);
        let mut b = Vec::new();
        if justid {
            bulk_id(&mut b, id);
        } else if let Some(e) = view.get(id) {
            write_entry(&mut b, &e);
        }
        replies.push(b);
        left -= 1;
        effects.push(xclaim_form(key, name, g, id, cname, now, tries));
    }
    // The cursor: the next pending entry after the last one looked at.
    let next = cursor
        .and_then(|c| g.pending_range(c, StreamId::MAX).next())
        .map_or(StreamId::MIN, |(id, _)| id);
    let out = &mut *ctx.out;
    encode::array_len(out, 3);
    bulk_id(out, next);
    encode::array_len(out, replies.len());
    for r in replies {
        out.extend_from_slice(&r);
    }
    encode::array_len(out, deleted.len());
    for id in deleted {
        bulk_id(out, id);
    }
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    propagate::set_own(effects);
    Ok(())
}
