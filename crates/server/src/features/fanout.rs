//! Commands whose keys live on several shards: each shard runs its part
//! and the parts are merged into one reply. MGET/MSET/MSETNX/DEL/EXISTS/
//! RENAME/COPY across shards, SCAN's walk over every shard, and SORT, whose
//! BY/GET patterns name keys on any shard.
//!
//! Not atomic across shards: each shard's part is atomic, and the parts run
//! one after another. Atomic multi-shard commands and MULTI/EXEC are the
//! transaction layer's job.

use std::collections::HashMap;

use commands::args::parse_i64;
use commands::keys::{self, ScanFilter};
use commands::table::flags;
use commands::{sort, strings, Error, Shard};
use resp::encode;
use storage::notify::class;

use crate::client::Client;
use crate::engine::journal;
use crate::engine::tx::{self, Part, Route};
use crate::engine::worker::{effects, group_by_shard, now_ms, Worker};

type Argv<'a> = &'a [&'a [u8]];

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
///
/// The cursor names a shard and a position in it: `local * shards + shard`.
/// Shards are walked in order, each with the storage layer's guarantees, so
/// the whole scan keeps Redis's: every key present throughout is returned.
pub async fn scan(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let cursor: u64 = std::str::from_utf8(argv[1])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(Error::Static("ERR invalid cursor"))?;
    let mut filter = ScanFilter::default();
    let mut count = 10usize;
    let mut i = 2;
    while i < argv.len() {
        let opt = argv[i].to_ascii_lowercase();
        let val = argv.get(i + 1).ok_or(Error::Syntax)?;
        match opt.as_slice() {
            b"match" => filter.pattern = Some(val.to_vec()).filter(|p| p != b"*"),
            b"count" => {
                let c = parse_i64(val).ok_or(Error::NotInteger)?;
                if c < 1 {
                    return Err(Error::Syntax);
                }
                count = c as usize;
            }
            b"type" => filter.type_name = Some(val.to_vec()),
            _ => return Err(Error::Syntax),
        }
        i += 2;
    }
    let n = w.nshards() as u64;
    let mut shard = (cursor % n) as usize;
    let mut local = cursor / n;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let db = client.db;
    let next = loop {
        let f = filter.clone();
        let (next_local, found) = w
            .call(shard, move |w| {
                keys::scan_step(&mut w.shard.borrow_mut(), db, local, count, &f, now_ms())
            })
            .await
            .unwrap_or((0, Vec::new()));
        keys.extend(found);
        if next_local != 0 {
            break next_local * n + shard as u64;
        }
        shard += 1;
        local = 0;
        if shard as u64 >= n {
            break 0;
        }
        if keys.len() >= count {
            break shard as u64;
        }
    };
    encode::array_len(out, 2);
    encode::bulk(out, next.to_string().as_bytes());
    encode::array_len(out, keys.len());
    for k in &keys {
        encode::bulk(out, k);
    }
    Ok(())
}

/// A key a SORT pattern names, and the hash field it reads (if any).
type PatternKey = (Vec<u8>, Option<Vec<u8>>);

/// SORT / SORT_RO: the elements are read on the sorted key's shard, then
/// every key the BY/GET patterns name is read in one batch per shard (all
/// shards at once), then the result is sorted here and replied or stored
/// on the destination's shard (see `commands::sort`).
pub async fn sort(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let allow_store = argv[0].eq_ignore_ascii_case(b"sort");
    let all_keys = client.unrestricted || client.perms.may_read_every_key();
    let plan = sort::Plan::parse(argv, allow_store, all_keys)?;
    let db = client.db;
    let key = argv[1].to_vec();
    let loaded = w
        .call(w.shard_of(&key), move |w| {
            sort::load(&mut w.shard.borrow_mut().ks.dbs[db], &key, now_ms())
        })
        .await
        .ok_or(Error::Static("ERR shard unavailable"))??;

    // Every pattern key, fetched from its shard in one batch per shard.
    let groups = group_by_shard(plan.pattern_keys(&loaded.elems), |k| w.shard_of(&k.0));
    let pending: Vec<_> = groups
        .into_iter()
        .map(|(s, keys)| {
            w.start(s, move |w| {
                let mut sh = w.shard.borrow_mut();
                let now = now_ms();
                keys.into_iter()
                    .map(|(k, f)| {
                        let v = sort::fetch(&mut sh.ks.dbs[db], &k, f.as_deref(), now);
                        ((k, f), v)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut fetched: HashMap<PatternKey, Vec<u8>> = HashMap::new();
    for p in pending {
        for (k, v) in p.finish(w).await.unwrap_or_default() {
            if let Some(v) = v {
                fetched.insert(k, v);
            }
        }
    }
    let cells = sort::finish(&plan, loaded, |k, f| {
        fetched.get(&(k.to_vec(), f.map(<[u8]>::to_vec))).cloned()
    })?;
    match plan.store {
        None => sort::write_reply(out, &cells),
        Some(dst) => {
            let dst = dst.to_vec();
            let n = w
                .call(w.shard_of(&dst), move |w| {
                    sort::store(&mut w.shard.borrow_mut().ks.dbs[db], &dst, &cells, now_ms())
                })
                .await
                .unwrap_or(0);
            encode::integer(out, n as i64);
        }
    }
    Ok(())
}

/// Groups argument indices by owning shard, keeping their order.
fn by_shard(
    w: &Route<'_>,
    keys: impl Iterator<Item = usize>,
    argv: Argv<'_>,
) -> Vec<(usize, Vec<usize>)> {
    group_by_shard(keys, |&i| w.shard_of(argv[i]))
}

fn owned(argv: Argv<'_>, idx: &[usize]) -> Vec<Vec<u8>> {
    idx.iter().map(|&i| argv[i].to_vec()).collect()
}

/// A multi-key command whose keys live on several shards, run as one
/// transaction over those shards (see `tx.rs`): no other client sees part
/// of it. Each shard runs its part; the parts are merged into one reply.
pub async fn multi_shard(
    w: &Route<'_>,
    client: &mut Client,
    name: &str,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) {
    let Some(spec) = w.shared.table.lookup(argv[0]) else {
        return;
    };
    let shards: Vec<usize> = spec
        .keys_of(argv)
        .iter()
        .map(|&i| w.shard_of(argv[i]))
        .collect();
    if journal::is_on() && w.tx == 0 && spec.has(flags::WRITE) {
        // Journaled: under holds, and recorded whole before the release
        // (see `engine/journal.rs`).
        let db = client.db;
        w.atomically(shards, async |r: Route<'_>| {
            let at = out.len();
            if !one_step_command(&r, client, name, argv, out).await {
                parts(&r, client, name, argv, out).await;
            }
            let mut block = journal::Block::new(db);
            effects(spec.name, argv, &out[at..], now_ms(), |a| block.push(db, a));
            block.commit(false);
        })
        .await;
        return;
    }
    if one_step_command(w, client, name, argv, out).await {
        return;
    }
    w.atomically(shards, async |r: Route<'_>| {
        parts(&r, client, name, argv, out).await;
    })
    .await;
}

/// Runs one job per shard atomically: as a one-step transaction
/// (`tx::one_step`), or, inside a transaction that already holds the
/// shards (EXEC), all at once as its hops. Results in the order given.
async fn run_parts<R: Send + 'static>(
    w: &Route<'_>,
    parts: Vec<(usize, Part<R>)>,
) -> Vec<Option<R>> {
    if w.tx == 0 {
        return tx::one_step(w, parts).await;
    }
    let pending: Vec<_> = parts.into_iter().map(|(s, f)| w.start(s, f)).collect();
    let mut out = Vec::with_capacity(pending.len());
    for p in pending {
        out.push(p.finish(w).await);
    }
    out
}

/// Values read from one shard, in key order (None: missing or not a string).
type Values = Vec<Option<Vec<u8>>>;

/// MGET, MSET, DEL/UNLINK and EXISTS/TOUCH across shards: one job per
/// shard (see [`run_parts`]). False for other commands.
async fn one_step_command(
    w: &Route<'_>,
    client: &mut Client,
    name: &str,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> bool {
    let db = client.db;
    match name {
        "mget" => {
            let groups = by_shard(w, 1..argv.len(), argv);
            let parts: Vec<(usize, Part<Values>)> = groups
                .iter()
                .map(|(s, idx)| {
                    let keys = owned(argv, idx);
                    let f: Part<Values> = Box::new(move |w: &Worker| {
                        let mut sh = w.shard.borrow_mut();
                        let now = now_ms();
                        keys.iter()
                            .map(|k| strings::get_value(&mut sh, db, k, now))
                            .collect()
                    });
                    (*s, f)
                })
                .collect();
            let results = run_parts(w, parts).await;
            let mut values: Vec<Option<Vec<u8>>> = vec![None; argv.len()];
            for ((_, idx), vals) in groups.iter().zip(results) {
                for (&i, v) in idx.iter().zip(vals.unwrap_or_default()) {
                    values[i] = v;
                }
            }
            encode::array_len(out, argv.len() - 1);
            for v in &values[1..] {
                match v {
                    Some(v) => encode::bulk(out, v),
                    None => encode::null(out, client.resp3),
                }
            }
            true
        }
        "mset" => {
            if let Err(e) = strings::check_pairs(argv) {
                e.write(out);
                return true;
            }
            let groups = by_shard(w, (1..argv.len()).step_by(2), argv);
            let parts: Vec<(usize, Part<()>)> = groups
                .iter()
                .map(|(s, idx)| {
                    let pairs: Vec<Vec<u8>> = idx
                        .iter()
                        .flat_map(|&i| [argv[i].to_vec(), argv[i + 1].to_vec()])
                        .collect();
                    let f: Part<()> = Box::new(move |w: &Worker| {
                        let refs: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
                        strings::set_pairs(&mut w.shard.borrow_mut(), db, &refs);
                    });
                    (*s, f)
                })
                .collect();
            run_parts(w, parts).await;
            encode::ok(out);
            true
        }
        "del" | "unlink" | "exists" | "touch" => {
            let del = name == "del" || name == "unlink";
            let touch = name == "touch";
            let groups = by_shard(w, 1..argv.len(), argv);
            let parts: Vec<(usize, Part<i64>)> = groups
                .iter()
                .map(|(s, idx)| {
                    let keys = owned(argv, idx);
                    let f: Part<i64> = Box::new(move |w: &Worker| {
                        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                        let mut sh = w.shard.borrow_mut();
                        if del {
                            keys::del_keys(&mut sh, db, &refs, now_ms())
                        } else {
                            keys::count_existing(&mut sh, db, &refs, now_ms(), touch)
                        }
                    });
                    (*s, f)
                })
                .collect();
            let n: i64 = run_parts(w, parts).await.into_iter().flatten().sum();
            encode::integer(out, n);
            true
        }
        _ => false,
    }
}

/// The body of [`multi_shard`], inside its transaction.
async fn parts(w: &Route<'_>, client: &mut Client, name: &str, argv: Argv<'_>, out: &mut Vec<u8>) {
    let db = client.db;
    match name {
        "msetnx" => {
            if let Err(e) = strings::check_pairs(argv) {
                e.write(out);
                return;
            }
            let groups = by_shard(w, (1..argv.len()).step_by(2), argv);
            let mut exists = false;
            for (s, idx) in &groups {
                let keys = owned(argv, idx);
                let any = w
                    .call(*s, move |w| {
                        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                        strings::any_exists(&mut w.shard.borrow_mut(), db, &refs, now_ms())
                    })
                    .await;
                exists |= any.unwrap_or(false);
            }
            if exists {
                encode::integer(out, 0);
                return;
            }
            for (s, idx) in &groups {
                let pairs: Vec<Vec<u8>> = idx
                    .iter()
                    .flat_map(|&i| [argv[i].to_vec(), argv[i + 1].to_vec()])
                    .collect();
                w.call(*s, move |w| {
                    let refs: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
                    strings::set_pairs(&mut w.shard.borrow_mut(), db, &refs);
                })
                .await;
            }
            encode::integer(out, 1);
        }
        "rename" | "renamenx" => {
            let nx = name == "renamenx";
            let (src, dst) = (argv[1].to_vec(), argv[2].to_vec());
            let (ss, ds) = (w.shard_of(&src), w.shard_of(&dst));
            if nx {
                let d = dst.clone();
                if w.call(ds, move |w| {
                    w.shard.borrow_mut().ks.dbs[db].contains(&d, now_ms())
                })
                .await
                .unwrap_or(false)
                {
                    let s = src.clone();
                    let src_exists = w
                        .call(ss, move |w| {
                            w.shard.borrow_mut().ks.dbs[db].contains(&s, now_ms())
                        })
                        .await
                        .unwrap_or(false);
                    if src_exists {
                        encode::integer(out, 0);
                    } else {
                        Error::NoSuchKey.write(out);
                    }
                    return;
                }
            }
            let taken = w
                .call(ss, move |w| {
                    let t = w.shard.borrow_mut().ks.dbs[db].take_for_move(&src, now_ms());
                    if t.is_some() {
                        storage::notify::emit(class::GENERIC, "rename_from", db, &src);
                    }
                    t
                })
                .await
                .flatten();
            let Some((value, exp, stamp)) = taken else {
                Error::NoSuchKey.write(out);
                return;
            };
            w.call(ds, move |w| {
                let to = &mut w.shard.borrow_mut().ks.dbs[db];
                to.insert(&dst, value, exp);
                to.set_stamp(&dst, stamp, now_ms());
                storage::notify::emit(class::GENERIC, "rename_to", db, &dst);
            })
            .await;
            if nx {
                encode::integer(out, 1);
            } else {
                encode::ok(out);
            }
        }
        "copy" => {
            let opts = match keys::copy_opts(argv, db, w.shared.config.startup.databases) {
                Ok(o) => o,
                Err(e) => {
                    e.write(out);
                    return;
                }
            };
            let (src, dst) = (argv[1].to_vec(), argv[2].to_vec());
            let (ss, ds) = (w.shard_of(&src), w.shard_of(&dst));
            let got = w
                .call(ss, move |w| {
                    w.shard.borrow_mut().ks.dbs[db]
                        .get_with_expiry(&src, now_ms())
                        .map(|(v, e)| (v.clone(), e))
                })
                .await
                .flatten();
            let Some((value, exp)) = got else {
                encode::integer(out, 0);
                return;
            };
            let done = w
                .call(ds, move |w| {
                    let mut sh = w.shard.borrow_mut();
                    let d = &mut sh.ks.dbs[opts.db];
                    if !opts.replace && d.contains(&dst, now_ms()) {
                        return false;
                    }
                    d.insert(&dst, value, exp);
                    storage::notify::emit(class::GENERIC, "copy_to", opts.db, &dst);
                    true
                })
                .await
                .unwrap_or(false);
            encode::integer(out, i64::from(done));
        }
        "lcs" => {
            let result = async {
                let opts = strings::lcs_opts(argv)?;
                let mut inputs = Vec::with_capacity(2);
                for key in [argv[1].to_vec(), argv[2].to_vec()] {
                    let target = w.shard_of(&key);
                    let got = w
                        .call(target, move |w| {
                            strings::lcs_input(&mut w.shard.borrow_mut(), db, &key, now_ms())
                        })
                        .await
                        .unwrap_or_else(|| Ok(Vec::new()))?;
                    inputs.push(got);
                }
                let limit = w
                    .shared
                    .config
                    .proto_max_bulk_len
                    .load(std::sync::atomic::Ordering::Relaxed);
                strings::lcs_reply(&inputs[0], &inputs[1], opts, limit, client.resp3, out)
            }
            .await;
            if let Err(e) = result {
                e.write(out);
            }
        }
        _ => gathered(w, client, argv, out).await,
    }
}

/// Any other multi-key command across shards, inside the transaction that
/// holds its keys' shards: copies of the keys' values (with their TTLs) are
/// gathered into a scratch shard here, the command runs there as it would
/// on one shard, and every key whose value, TTL or existence it changed is
/// written back to its own shard. Correct for every command the table
/// describes, at the cost of copying the values involved; commands whose
/// keys share a shard (or a hash tag) never come here.
async fn gathered(w: &Route<'_>, client: &mut Client, argv: Argv<'_>, out: &mut Vec<u8>) {
    let Some(spec) = w.shared.table.lookup(argv[0]) else {
        return;
    };
    let keys: Vec<Vec<u8>> = spec
        .keys_of(argv)
        .into_iter()
        .map(|i| argv[i].to_vec())
        .collect();
    let (db, resp3) = (client.db, client.resp3);
    let readonly = spec.has(flags::READONLY);
    over_copies(w, db, keys, readonly, out, |scratch, out| {
        // The caller records the command itself.
        journal::quiet(|| {
            crate::engine::worker::exec(scratch, spec, db, resp3, now_ms(), argv, out)
        })
    })
    .await;
}

/// Runs `run` over copies of `keys` (of database `db`, on any shards)
/// gathered into a scratch shard here, then, unless `readonly`, writes back
/// every key whose value, TTL or existence it changed. The caller holds
/// the keys' shards (a transaction), so nobody sees the keys in between.
/// Used for multi-key commands across shards ([`gathered`]) and for
/// scripts whose keys span shards (`script.rs`).
pub async fn over_copies(
    w: &Route<'_>,
    db: usize,
    keys: Vec<Vec<u8>>,
    readonly: bool,
    out: &mut Vec<u8>,
    run: impl FnOnce(&mut Shard, &mut Vec<u8>),
) {
    let mut unique: Vec<Vec<u8>> = Vec::new();
    for k in keys {
        if !unique.contains(&k) {
            unique.push(k);
        }
    }
    let groups = group_by_shard(unique, |k| w.shard_of(k));
    let mut before: Vec<(Vec<u8>, Option<Stored>)> = Vec::new();
    for (s, ks) in groups {
        let got = w
            .call(s, move |w| {
                let mut sh = w.shard.borrow_mut();
                let now = now_ms();
                ks.into_iter()
                    .map(|k| {
                        let v = sh.ks.dbs[db]
                            .get_with_expiry(&k, now)
                            .map(|(v, e)| (v.clone(), e));
                        (k, v)
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        before.extend(got);
    }
    let mut scratch = Shard::new(db + 1);
    scratch.config = w.shard.borrow().config;
    let now = now_ms();
    // Keyspace notifications: the command's own events, as it logs them
    // on the scratch shard, are this command's; loading the scratch shard
    // is not an event, and keys it creates are logged as new where they
    // are written back.
    let earlier = storage::notify::take();
    for (k, v) in &before {
        if let Some((v, e)) = v {
            scratch.ks.dbs[db].insert(k, v.clone(), *e);
        }
    }
    drop(storage::notify::take());
    run(&mut scratch, out);
    let mut events = storage::notify::take();
    events.retain(|e| e.name != "new");
    let mut all = earlier;
    all.append(&mut events);
    storage::notify::put_back(all);
    if readonly {
        return;
    }
    for (k, old) in before {
        let new = scratch.ks.dbs[db]
            .get_with_expiry(&k, now)
            .map(|(v, e)| (v.clone(), e));
        if same(&old, &new) {
            continue;
        }
        w.call(w.shard_of(&k), move |w| {
            let mut sh = w.shard.borrow_mut();
            match new {
                Some((v, e)) => sh.ks.dbs[db].insert(&k, v, e),
                None => {
                    if let Some(v) = sh.ks.dbs[db].remove(&k, now_ms()) {
                        storage::lazyfree::release(v);
                    }
                }
            }
        })
        .await;
    }
}

/// A key's value and TTL as [`gathered`] copies them.
type Stored = (storage::Value, Option<u64>);

/// Whether a command left a key as it found it.
fn same(a: &Option<Stored>, b: &Option<Stored>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some((va, ea)), Some((vb, eb))) => {
            ea == eb && commands::debug::digest_value(va) == commands::debug::digest_value(vb)
        }
        _ => false,
    }
}
