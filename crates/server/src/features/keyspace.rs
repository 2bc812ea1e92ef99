//! Keyless commands that visit every shard: KEYS, DBSIZE, RANDOMKEY,
//! FLUSHDB, FLUSHALL, SWAPDB. (SCAN and SORT, which also visit shards,
//! are in `fanout.rs`.)

use commands::args::parse_i64;
use commands::{keys, Error};
use resp::encode;

use crate::client::Client;
use crate::engine::journal;
use crate::engine::tx::Route;
use crate::engine::worker::now_ms;

type Argv<'a> = &'a [&'a [u8]];

/// `KEYS pattern`
pub async fn keys(w: &Route<'_>, client: &Client, argv: Argv<'_>, out: &mut Vec<u8>) {
    let pattern = argv[1].to_vec();
    let db = client.db;
    let parts = w
        .call_all(move |w| keys::keys_matching(&mut w.shard.borrow_mut(), db, &pattern, now_ms()))
        .await;
    let n: usize = parts.iter().map(Vec::len).sum();
    encode::array_len(out, n);
    for k in parts.iter().flatten() {
        encode::bulk(out, k);
    }
}

/// `DBSIZE`
pub async fn dbsize(w: &Route<'_>, client: &Client, out: &mut Vec<u8>) {
    let db = client.db;
    let n: usize = w
        .call_all(move |w| w.shard.borrow().ks.dbs[db].len())
        .await
        .iter()
        .sum();
    encode::integer(out, n as i64);
}

/// `RANDOMKEY`
pub async fn randomkey(w: &Route<'_>, client: &Client, out: &mut Vec<u8>) {
    let db = client.db;
    let sizes = w.call_all(move |w| w.shard.borrow().ks.dbs[db].len()).await;
    let total: usize = sizes.iter().sum();
    let mut key = None;
    if total > 0 {
        // Pick a shard weighted by size, then a key on it; retry on
        // a shard that emptied meanwhile.
        for _ in 0..8 {
            let mut r = fastrand::usize(..total);
            let mut target = 0;
            for (i, s) in sizes.iter().enumerate() {
                if r < *s {
                    target = i;
                    break;
                }
                r -= s;
            }
            key = w
                .call(target, move |w| {
                    w.shard.borrow_mut().ks.dbs[db].random_key(now_ms())
                })
                .await
                .flatten();
            if key.is_some() {
                break;
            }
        }
    }
    match key {
        Some(k) => encode::bulk(out, &k),
        None => encode::null(out, client.resp3),
    }
}

/// `FLUSHDB [ASYNC|SYNC]`, `FLUSHALL [ASYNC|SYNC]`
pub async fn flush(
    w: &Route<'_>,
    client: &Client,
    name: &str,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if argv.len() > 2
        || (argv.len() == 2
            && !argv[1].eq_ignore_ascii_case(b"async")
            && !argv[1].eq_ignore_ascii_case(b"sync"))
    {
        return Err(Error::Syntax);
    }
    let db = (name == "flushdb").then_some(client.db);
    let run = move |w: &crate::engine::worker::Worker| {
        let mut s = w.shard.borrow_mut();
        match db {
            Some(d) => s.ks.dbs[d].clear(now_ms()),
            None => s.ks.flush_all(now_ms()),
        }
        drop(s);
        crate::features::tracking::flushed(w);
    };
    if journal::is_on() && w.tx == 0 {
        // Journaled: every shard at once, recorded before the release.
        w.atomically(0..w.nshards(), async |r: Route<'_>| {
            r.call_all(run).await;
            journal::record(client.db, argv);
        })
        .await;
    } else {
        w.call_all(run).await;
    }
    encode::ok(out);
    Ok(())
}

/// `SWAPDB index1 index2`
pub async fn swapdb(w: &Route<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let n = w.shared.config.startup.databases as i64;
    let idx = |a: &[u8], which: &'static str| {
        parse_i64(a).ok_or(Error::Static(which)).and_then(|i| {
            if (0..n).contains(&i) {
                Ok(i as usize)
            } else {
                Err(Error::DbIndexOutOfRange)
            }
        })
    };
    let a = idx(argv[1], "ERR invalid first DB index")?;
    let b = idx(argv[2], "ERR invalid second DB index")?;
    // All shards at once, as one transaction: nobody sees one
    // shard swapped and another not.
    w.atomically(0..w.nshards(), async |r: Route<'_>| {
        r.call_all(move |w| w.shard.borrow_mut().ks.swap_dbs(a, b, now_ms()))
            .await;
        if w.tx == 0 {
            journal::record(0, argv);
        }
    })
    .await;
    encode::ok(out);
    Ok(())
}
