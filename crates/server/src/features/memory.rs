//! MEMORY: USAGE of one key (run on the key's shard), and the server-wide
//! STATS, DOCTOR, MALLOC-STATS and PURGE. The figures are INFO memory's
//! (`info.rs`): bytes counted by the global allocator, the process's RSS;
//! what mimalloc keeps beyond what is allocated is not asked of it, so the
//! allocator's own ratios read 1 and all of RSS's excess is RSS overhead.

use commands::Error;
use resp::encode;

use crate::engine::tx::Route;
use crate::engine::worker::now_ms;
use crate::host::sys;

type Argv<'a> = &'a [&'a [u8]];

/// `MEMORY USAGE key [SAMPLES n] | STATS | DOCTOR | MALLOC-STATS | PURGE | HELP`
pub async fn memory(
    w: &Route<'_>,
    db: usize,
    resp3: bool,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let sub = argv[1].to_ascii_lowercase();
    let n = argv.len();
    match sub.as_slice() {
        b"usage" if n >= 3 => {
            let mut i = 3;
            while i < n {
                if argv[i].eq_ignore_ascii_case(b"samples") && i + 1 < n {
                    commands::args::parse_i64(argv[i + 1]).ok_or(Error::NotInteger)?;
                    i += 2;
                } else {
                    return Err(Error::Syntax);
                }
            }
            let key = argv[2].to_vec();
            let bytes = w
                .call(w.shard_of(&key), move |w| {
                    let dbs = &mut w.shard.borrow_mut().ks.dbs;
                    commands::keys::memory_usage(&mut dbs[db], &key, now_ms())
                })
                .await
                .flatten();
            match bytes {
                Some(b) => encode::integer(out, b as i64),
                None => encode::null(out, resp3),
            }
        }
        b"stats" if n == 2 => stats(w, resp3, out).await,
        b"doctor" if n == 2 => encode::bulk(
            out,
            b"Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.",
        ),
        b"malloc-stats" if n == 2 => {
            encode::bulk(out, b"Stats not supported for the current allocator")
        }
        b"purge" if n == 2 => encode::ok(out),
        b"help" if n == 2 => commands::reply_help(
            out,
            &[
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return memory problems reports.",
                "MALLOC-STATS",
                "    Return internal statistics report from the memory allocator.",
                "PURGE",
                "    Attempt to purge dirty pages for reclamation by the allocator.",
                "STATS",
                "    Return information about the memory usage of the server.",
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value. Nested values are",
                "    sampled up to <count> times (default: 5, 0 means sample all).",
                "HELP",
                "    Print this help.",
            ],
        ),
        _ => return Err(Error::unknown_subcommand(argv[1], "MEMORY")),
    }
    Ok(())
}

/// MEMORY STATS: Redis's fields, in Redis's order, with a `db.N` entry for
/// each database holding keys.
async fn stats(w: &Route<'_>, resp3: bool, out: &mut Vec<u8>) {
    let used = sys::used_memory();
    let peak = sys::peak_memory().max(used);
    let rss = sys::rss_bytes();
    // (keys, keys with a TTL) per database, over every shard.
    let per_shard = w
        .call_all(|w| {
            let sh = w.shard.borrow();
            sh.ks
                .dbs
                .iter()
                .map(|d| (d.len(), d.expires_len()))
                .collect::<Vec<_>>()
        })
        .await;
    let mut dbs: Vec<(usize, usize)> = Vec::new();
    for part in per_shard {
        if dbs.len() < part.len() {
            dbs.resize(part.len(), (0, 0));
        }
        for (i, (k, e)) in part.into_iter().enumerate() {
            dbs[i].0 += k;
            dbs[i].1 += e;
        }
    }
    // A table slot per key, and one per key with a TTL, as Redis counts
    // its dict overheads.
    let slot = std::mem::size_of::<usize>();
    let overhead: usize = dbs.iter().map(|(k, e)| (k + e) * slot).sum();
    let keys: usize = dbs.iter().map(|d| d.0).sum();
    let dataset = used.saturating_sub(overhead);
    let pct = |a: usize, b: usize| {
        if b > 0 {
            a as f64 * 100.0 / b as f64
        } else {
            0.0
        }
    };
    let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { 0.0 };
    let live: Vec<(usize, (usize, usize))> = dbs
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, (k, _))| *k > 0)
        .collect();
    encode::map_len(out, 27 + live.len(), resp3);
    let int = |out: &mut Vec<u8>, name: &str, v: i64| {
        encode::bulk(out, name.as_bytes());
        encode::integer(out, v);
    };
    let dbl = |out: &mut Vec<u8>, name: &str, v: f64| {
        encode::bulk(out, name.as_bytes());
        encode::double(out, v, resp3);
    };
    int(out, "peak.allocated", peak as i64);
    int(out, "total.allocated", used as i64);
    int(out, "startup.allocated", 0);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", 0);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for (i, (k, e)) in live {
        encode::bulk(out, format!("db.{i}").as_bytes());
        encode::map_len(out, 2, resp3);
        int(out, "overhead.hashtable.main", (k * slot) as i64);
        int(out, "overhead.hashtable.expires", (e * slot) as i64);
    }
    int(out, "overhead.total", overhead as i64);
    int(out, "keys.count", keys as i64);
    int(
        out,
        "keys.bytes-per-key",
        used.checked_div(keys).unwrap_or(0) as i64,
    );
    int(out, "dataset.bytes", dataset as i64);
    dbl(out, "dataset.percentage", pct(dataset, used));
    dbl(out, "peak.percentage", pct(used, peak));
    int(out, "allocator.allocated", used as i64);
    int(out, "allocator.active", used as i64);
    int(out, "allocator.resident", used as i64);
    dbl(out, "allocator-fragmentation.ratio", 1.0);
    int(out, "allocator-fragmentation.bytes", 0);
    dbl(out, "allocator.rss-ratio", 1.0);
    int(out, "allocator.rss-bytes", 0);
    dbl(out, "rss-overhead.ratio", ratio(rss, used));
    int(out, "rss-overhead.bytes", rss as i64 - used as i64);
    dbl(out, "fragmentation", ratio(rss, used));
    int(out, "fragmentation.bytes", rss as i64 - used as i64);
}
