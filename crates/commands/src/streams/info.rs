//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, XINFO
//! HELP: replies shaped as Redis 7.0's (maps in RESP3, flat arrays of
//! name/value pairs in RESP2).

use resp::encode;
use storage::stream::{Group, Stream, StreamId, StreamView, ENTRIES_READ_UNKNOWN};

use super::{bulk_id, no_group, write_entry};
use crate::access;
use crate::args::parse_i64;
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

pub fn register(t: &mut CommandTable) {
    t.shard("xinfo", -2, READONLY, (2, 2, 1), xinfo);
}

fn name(out: &mut Vec<u8>, n: &str) {
    encode::bulk(out, n.as_bytes());
}

fn int(out: &mut Vec<u8>, n: &str, v: i64) {
    name(out, n);
    encode::integer(out, v);
}

fn id(out: &mut Vec<u8>, n: &str, v: StreamId) {
    name(out, n);
    bulk_id(out, v);
}

/// A group's entries-read and lag, null when unknown.
fn counters(out: &mut Vec<u8>, v: &StreamView<'_>, g: &Group, resp3: bool) {
    name(out, "entries-read");
    if g.entries_read == ENTRIES_READ_UNKNOWN {
        encode::null(out, resp3);
    } else {
        encode::integer(out, g.entries_read);
    }
    name(out, "lag");
    match v.lag(g) {
        Some(l) => encode::integer(out, l),
        None => encode::null(out, resp3),
    }
}

/// XINFO STREAM key [FULL [COUNT count]] | GROUPS key | CONSUMERS key group | HELP
fn xinfo(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let sub = argv[1].to_ascii_lowercase();
    let arity_ok = match sub.as_slice() {
        b"stream" => argv.len() >= 3,
        b"groups" => argv.len() == 3,
        b"consumers" => argv.len() == 4,
        b"help" => argv.len() == 2,
        _ => return Err(Error::unknown_subcommand(argv[1], "XINFO")),
    };
    if !arity_ok {
        return Err(Error::WrongArity(format!(
            "xinfo|{}",
            String::from_utf8_lossy(&sub)
        )));
    }
    if sub == b"help" {
        crate::reply_help(
            ctx.out,
            &[
                "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
                "HELP",
                "    Prints this help.",
            ],
        );
        return Ok(());
    }
    let (now, resp3, key) = (ctx.now, ctx.resp3, argv[2]);
    let s =
        access::read::<Stream>(&mut ctx.shard.ks.dbs[ctx.db], key, now)?.ok_or(Error::NoSuchKey)?;
    let out = &mut *ctx.out;
    match sub.as_slice() {
        b"consumers" => {
            let g = s.group(argv[3]).ok_or_else(|| no_group(key, argv[3]))?;
            encode::array_len(out, g.consumer_count());
            for (cname, c) in g.consumers() {
                encode::map_len(out, 3, resp3);
                name(out, "name");
                encode::bulk(out, cname);
                int(out, "pending", c.pending_count() as i64);
                int(out, "idle", (now as i64 - c.seen_time as i64).max(0));
            }
        }
        b"groups" => {
            let v = s.view();
            encode::array_len(out, s.group_count());
            for (gname, g) in s.groups() {
                encode::map_len(out, 6, resp3);
                name(out, "name");
                encode::bulk(out, gname);
                int(out, "consumers", g.consumer_count() as i64);
                int(out, "pending", g.pending_count() as i64);
                id(out, "last-delivered-id", g.last_id);
                counters(out, &v, g, resp3);
            }
        }
        _ => {
            let opts = &argv[3..];
            let full = !opts.is_empty();
            let mut count: i64 = 10;
            if full {
                if !opts[0].eq_ignore_ascii_case(b"full") {
                    return Err(Error::subcommand_syntax(argv[1], "XINFO"));
                }
                match opts.len() {
                    1 => {}
                    3 if opts[1].eq_ignore_ascii_case(b"count") => {
                        count = parse_i64(opts[2]).ok_or(Error::NotInteger)?;
                        if count < 0 {
                            count = 10;
                        }
                    }
                    _ => return Err(Error::subcommand_syntax(argv[1], "XINFO")),
                }
            }
            stream_info(out, s, full, count, resp3);
        }
    }
    Ok(())
}

/// XINFO STREAM's reply; FULL shows entries, groups, PELs and consumers,
/// each list cut at `count` (0: all).
fn stream_info(out: &mut Vec<u8>, s: &Stream, full: bool, count: i64, resp3: bool) {
    let limit = if count == 0 {
        usize::MAX
    } else {
        usize::try_from(count).unwrap_or(usize::MAX)
    };
    encode::map_len(out, if full { 9 } else { 10 }, resp3);
    int(out, "length", s.len() as i64);
    int(out, "radix-tree-keys", s.node_count() as i64);
    int(out, "radix-tree-nodes", s.radix_tree_nodes() as i64);
    id(out, "last-generated-id", s.last_id());
    id(out, "max-deleted-entry-id", s.max_deleted_id());
    int(out, "entries-added", s.entries_added() as i64);
    id(out, "recorded-first-entry-id", s.first_id());
    if !full {
        int(out, "groups", s.group_count() as i64);
        for (label, last) in [("first-entry", false), ("last-entry", true)] {
            name(out, label);
            match s.edge(last) {
                Some(e) => write_entry(out, &e),
                None => encode::null(out, resp3),
            }
        }
        return;
    }
    name(out, "entries");
    let es: Vec<_> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(limit)
        .collect();
    super::write_entries(out, &es);
    name(out, "groups");
    let v = s.view();
    encode::array_len(out, s.group_count());
    for (gname, g) in s.groups() {
        encode::map_len(out, 7, resp3);
        name(out, "name");
        encode::bulk(out, gname);
        id(out, "last-delivered-id", g.last_id);
        counters(out, &v, g, resp3);
        int(out, "pel-count", g.pending_count() as i64);
        name(out, "pending");
        let pel: Vec<_> = g
            .pending_range(StreamId::MIN, StreamId::MAX)
            .take(limit)
            .collect();
        encode::array_len(out, pel.len());
        for (pid, p) in pel {
            encode::array_len(out, 4);
            bulk_id(out, pid);
            encode::bulk(out, p.consumer());
            encode::integer(out, p.delivery_time as i64);
            encode::integer(out, p.delivery_count as i64);
        }
        name(out, "consumers");
        encode::array_len(out, g.consumer_count());
        for (cname, c) in g.consumers() {
            encode::map_len(out, 4, resp3);
            name(out, "name");
            encode::bulk(out, cname);
            int(out, "seen-time", c.seen_time as i64);
            int(out, "pel-count", c.pending_count() as i64);
            name(out, "pending");
            let ids: Vec<StreamId> = c.pending().take(limit).collect();
            encode::array_len(out, ids.len());
            for pid in ids {
                let (t, n) = g
                    .pending(pid)
                    .map_or((0, 0), |p| (p.delivery_time, p.delivery_count));
                encode::array_len(out, 3);
                bulk_id(out, pid);
                encode::integer(out, t as i64);
                encode::integer(out, n as i64);
            }
        }
    }
}
