//! MULTI / EXEC / DISCARD / WATCH / UNWATCH.
//!
//! # Queueing
//!
//! After MULTI, `conn/mod.rs` checks each command as it arrives (unknown name,
//! arity, authentication: an error then flags the transaction, and EXEC
//! answers EXECABORT) and queues it here with `+QUEUED`; only EXEC,
//! DISCARD, MULTI, WATCH, QUIT and RESET run at once.
//!
//! # EXEC
//!
//! When every queued command and every watched key lives on one shard,
//! EXEC is one job on that shard: it checks the watched keys' versions and
//! runs the commands back to back, which no other client can interleave
//! with — the common case costs what a pipeline costs. Otherwise EXEC is a
//! transaction (see `tx.rs`) holding every shard involved (all of them
//! when a queued command is a keyless server command like FLUSHALL or
//! DBSIZE): the watches are checked, then each command runs in order as a
//! hop of the transaction.
//!
//! # Squashing
//!
//! A pipeline of transactions (`MULTI ... EXEC MULTI ... EXEC ...` in one
//! read, as `redis-cli --pipe` or a batching client sends them) would pay
//! a transaction's hops once per EXEC. When an EXEC has no WATCH and only
//! single-shard commands, it is not run at once: it waits (its reply's
//! place in the output noted) while the following MULTIs and queued
//! commands are read, and the run of such EXECs is executed together, as
//! one job per shard of one one-step transaction, when anything else
//! arrives or the batch ends. Each EXEC stays atomic (the whole run is),
//! each shard runs its commands in the connection's order, and nothing
//! the connection sent later runs before them. Dragonfly calls this
//! squashing.
//!
//! # WATCH
//!
//! Each shard's database keeps a version per watched key that every change
//! bumps (see `storage::Db::watch`); WATCH records the version, EXEC
//! compares it under the transaction, so a change by anyone between WATCH
//! and EXEC — a write, a delete, an expiry, a FLUSH — fails the EXEC with a
//! null reply.
//!
//! Uses `acl.rs`: a restricted user's queued commands are checked again as
//! EXEC runs them, since the user's rules may have changed meanwhile.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

use commands::table::flags;
use commands::{Error, Handler};
use resp::encode;

use crate::client::{Client, Flow, Queue, Squash, Watched};
use crate::engine::journal;
use crate::engine::tx::{Route, Tx};
use crate::engine::worker::exec as run_shard_fn;
use crate::engine::worker::{effects, group_by_shard, now_ms, Worker};

type Argv<'a> = &'a [&'a [u8]];

/// One shard's replies to squashed commands: (transaction, position, reply).
type TxReplies = Vec<(usize, usize, Vec<u8>)>;

/// At most this many EXECs run together.
const SQUASH_MAX: usize = 1024;

/// Commands that never touch a shard's data: inside EXEC they need no hold.
const CONNECTION_ONLY: &[&str] = &[
    "ping",
    "echo",
    "select",
    "time",
    "lastsave",
    "command",
    "client",
    "hello",
    "auth",
    "config",
    "readonly",
    "readwrite",
    "unwatch",
    "subscribe",
    "psubscribe",
    "unsubscribe",
    "punsubscribe",
    "ssubscribe",
    "sunsubscribe",
    "publish",
    "spublish",
    "pubsub",
];

/// Runs immediately even inside MULTI.
pub fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// MULTI
pub fn multi(client: &mut Client, out: &mut Vec<u8>) -> Result<(), Error> {
    if client.multi.is_some() {
        return Err(Error::Static("ERR MULTI calls can not be nested"));
    }
    client.multi = Some(Queue::default());
    client.info.borrow_mut().multi = 0;
    encode::ok(out);
    Ok(())
}

/// Queues a command inside MULTI, replying `+QUEUED`.
pub fn queue(client: &mut Client, argv: Argv<'_>, denyoom: bool, out: &mut Vec<u8>) {
    if let Some(q) = &mut client.multi {
        q.denyoom |= denyoom;
        q.cmds.push(argv.iter().map(|a| a.to_vec()).collect());
        client.info.borrow_mut().multi = q.cmds.len() as i64;
        encode::simple(out, b"QUEUED");
    }
}

/// Marks the transaction being queued as failed (a refused command).
pub fn flag_error(client: &mut Client) {
    if let Some(q) = &mut client.multi {
        q.aborted = true;
    }
}

/// DISCARD
pub async fn discard(w: &Worker, client: &mut Client, out: &mut Vec<u8>) -> Result<(), Error> {
    if client.multi.take().is_none() {
        return Err(Error::Static("ERR DISCARD without MULTI"));
    }
    unwatch_all(w, client).await;
    encode::ok(out);
    Ok(())
}

/// WATCH key [key ...]
pub async fn watch(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if client.multi.is_some() {
        return Err(Error::Static("ERR WATCH inside MULTI is not allowed"));
    }
    let db = client.db;
    for key in &argv[1..] {
        if client
            .watches
            .iter()
            .any(|k| k.db == db && k.key.as_slice() == *key)
        {
            continue;
        }
        let shard = w.shard_of(key);
        let k = key.to_vec();
        let version = w
            .call(shard, move |w| {
                w.shard.borrow_mut().ks.dbs[db].watch(&k, now_ms())
            })
            .await
            .unwrap_or(0);
        client.watches.push(Watched {
            shard,
            db,
            key: key.to_vec(),
            version,
        });
    }
    encode::ok(out);
    Ok(())
}

/// UNWATCH (and what EXEC, DISCARD, RESET and a disconnect do): forgets
/// every watched key.
pub async fn unwatch_all(w: &Worker, client: &mut Client) {
    if client.multi.is_none() {
        client.info.borrow_mut().multi = -1;
    }
    for wk in std::mem::take(&mut client.watches) {
        let Watched { shard, db, key, .. } = wk;
        w.call(shard, move |w| {
            w.shard.borrow_mut().ks.dbs[db].unwatch(&key)
        })
        .await;
    }
}

/// The shards a queued command touches; None when it may touch all.
fn shards_of(w: &Worker, argv: Argv<'_>) -> Option<Vec<usize>> {
    let spec = w.shared.table.lookup(argv[0])?;
    match spec.handler {
        Handler::Shard(_) => {
            let keys = spec.keys_of(argv);
            if keys.is_empty() {
                return Some(vec![0]);
            }
            Some(keys.iter().map(|&i| w.shard_of(argv[i])).collect())
        }
        Handler::Server if CONNECTION_ONLY.contains(&spec.name) => Some(Vec::new()),
        Handler::Server => None,
    }
}

/// A server command's run, boxed (see [`RunServer`]).
pub type BoxedFlow<'a> = Pin<Box<dyn Future<Output = Flow> + 'a>>;

/// How EXEC runs a queued server command: the connection layer's table of
/// server commands, passed in by it (that table is above every feature,
/// this one included, and EXEC may queue any of them).
pub type RunServer =
    for<'a> fn(&'a Route<'a>, &'a mut Client, &'a str, Argv<'a>, &'a mut Vec<u8>) -> BoxedFlow<'a>;

/// EXEC
pub async fn exec(
    w: &Route<'_>,
    client: &mut Client,
    name: &[u8],
    run_server: RunServer,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    // EXECs read before this one and squashed run first.
    run_squashed(w, client, out).await;
    let Some(q) = client.multi.take() else {
        crate::features::monitor::feed_exec(w, client, name, &[]);
        return Err(Error::Static("ERR EXEC without MULTI"));
    };
    if q.aborted {
        crate::features::monitor::feed_exec(w, client, name, &[]);
        unwatch_all(w, client).await;
        return Err(Error::Static(
            "EXECABORT Transaction discarded because of previous errors.",
        ));
    }
    count_calls(w, &q);
    crate::features::monitor::feed_exec(w, client, name, &q.cmds);
    let mut shards = BTreeSet::new();
    let mut all = false;
    for cmd in &q.cmds {
        let argv: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
        match shards_of(w, &argv) {
            Some(s) => shards.extend(s),
            None => all = true,
        }
    }
    shards.extend(client.watches.iter().map(|k| k.shard));
    if all {
        shards.extend(0..w.nshards());
    }
    let only_shard_cmds = q.cmds.iter().all(|c| {
        w.shared
            .table
            .lookup(&c[0])
            .is_some_and(|s| matches!(s.handler, Handler::Shard(_)))
    });
    // A restricted user's commands are checked again as they run (their
    // rules may have changed since they were queued): the general path.
    let restricted = !client.unrestricted;
    if shards.len() <= 1 && only_shard_cmds && !restricted {
        let shard = shards.first().copied().unwrap_or(w.id);
        exec_on_one_shard(w, client, q, shard, out).await;
    } else if let Some(homes) =
        per_shard(w, &q).filter(|_| client.watches.is_empty() && !restricted && !journal::is_on())
    {
        // The squashing path with one transaction: a one-step
        // transaction over its shards.
        client.squashed.push(Squash {
            q,
            at: out.len(),
            homes,
        });
        run_squashed(w, client, out).await;
    } else {
        let tx = Tx::begin(w, shards).await;
        let route = tx.route();
        if watches_intact(&route, client).await {
            encode::array_len(out, q.cmds.len());
            // The shards run the commands quietly (they are held); the
            // transaction is recorded here, whole, before the release.
            let mut block = journal::Block::new(client.db);
            for cmd in &q.cmds {
                let argv: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                let (db, at) = (client.db, out.len());
                run_queued(&route, client, &argv, run_server, out).await;
                if journal::is_on() {
                    if let Some(spec) = w
                        .shared
                        .table
                        .lookup(argv[0])
                        .filter(|s| s.has(flags::WRITE))
                    {
                        effects(spec.name, &argv, &out[at..], now_ms(), |a| {
                            block.push(db, a)
                        });
                    }
                }
            }
            block.commit(true);
        } else {
            encode::null_aggregate(out, client.resp3);
        }
        tx.end().await;
    }
    unwatch_all(w, client).await;
    Ok(())
}

/// EXEC, squashed, when it may be: no WATCH, nothing refused while
/// queueing, every command's keys on one shard (`per_shard`, which also
/// rules out server commands). The transaction then waits for the ones
/// after it and this answers true.
pub fn defer_exec(w: &Worker, client: &mut Client, name: &[u8], out: &[u8]) -> bool {
    if journal::is_on() {
        // Squashed EXECs are one-step chains: not while journaling.
        return false;
    }
    let homes = match &client.multi {
        Some(q)
            if !q.aborted
                && client.unrestricted
                && client.watches.is_empty()
                && client.squashed.len() < SQUASH_MAX =>
        {
            per_shard(w, q)
        }
        _ => None,
    };
    let Some(homes) = homes else {
        return false;
    };
    let Some(q) = client.multi.take() else {
        return false;
    };
    count_calls(w, &q);
    crate::features::monitor::feed_exec(w, client, name, &q.cmds);
    client.squashed.push(Squash {
        q,
        at: out.len(),
        homes,
    });
    client.info.borrow_mut().multi = -1;
    true
}

/// Counts a transaction's commands as called (INFO commandstats), as
/// EXEC runs them; queueing one is not a call, as in Redis.
fn count_calls(w: &Worker, q: &Queue) {
    for c in &q.cmds {
        if let Some(spec) = c.first().and_then(|name| w.shared.table.lookup(name)) {
            w.stats.called(spec.id);
        }
    }
}

/// Whether command `name` may be read while squashed EXECs wait: it is
/// queued, opens the next transaction, or is an EXEC (which runs the
/// waiting ones first when it cannot wait itself, see [`exec`]).
pub fn keeps_squash(client: &Client, name: &str) -> bool {
    match &client.multi {
        Some(_) => !matches!(name, "discard" | "quit" | "reset"),
        None => name == "multi",
    }
}

/// Runs the squashed EXECs as one one-step transaction and puts each reply
/// in its place in `out`.
pub async fn run_squashed(w: &Worker, client: &mut Client, out: &mut Vec<u8>) {
    let txs = std::mem::take(&mut client.squashed);
    if txs.is_empty() {
        return;
    }
    let (db, resp3) = (client.db, client.resp3);
    let table = w.shared.table;
    // Every command with its (transaction, position), grouped by shard.
    let mut cmds = Vec::new();
    let mut at = Vec::with_capacity(txs.len());
    let mut sizes = Vec::with_capacity(txs.len());
    for (t, Squash { q, at: pos, homes }) in txs.into_iter().enumerate() {
        at.push(pos);
        sizes.push(q.cmds.len());
        for (i, cmd) in q.cmds.into_iter().enumerate() {
            cmds.push((homes.get(i).copied().unwrap_or(0), t, i, cmd));
        }
    }
    let groups = group_by_shard(cmds, |c| c.0);
    let parts: Vec<(usize, crate::engine::tx::Part<TxReplies>)> = groups
        .into_iter()
        .map(|(s, cmds)| {
            let f: crate::engine::tx::Part<TxReplies> = Box::new(move |w: &Worker| {
                let mut sh = w.shard.borrow_mut();
                let now = now_ms();
                cmds.iter()
                    .map(|(_, t, i, cmd)| {
                        let argv: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                        let mut reply = Vec::new();
                        if let Some(spec) = table.lookup(argv[0]) {
                            run_shard_fn(&mut sh, spec, db, resp3, now, &argv, &mut reply);
                        }
                        (*t, *i, reply)
                    })
                    .collect()
            });
            (s, f)
        })
        .collect();
    let mut replies: Vec<Vec<Vec<u8>>> = sizes.iter().map(|&n| vec![Vec::new(); n]).collect();
    let results = if parts.len() <= 1 {
        // One shard (or none: empty transactions): one plain job.
        let mut parts = parts;
        match parts.pop() {
            Some((s, f)) => vec![w.call(s, f).await],
            None => Vec::new(),
        }
    } else {
        crate::engine::tx::one_step(w, parts).await
    };
    for (t, i, r) in results.into_iter().flatten().flatten() {
        if let Some(slot) = replies.get_mut(t).and_then(|v| v.get_mut(i)) {
            *slot = r;
        }
    }
    // Splice: each EXEC's reply goes where the EXEC was read.
    let tail = out.split_off(at.first().copied().unwrap_or(out.len()).min(out.len()));
    let mut prev = at.first().copied().unwrap_or(0);
    let base = prev;
    for (t, r) in replies.into_iter().enumerate() {
        let pos = at[t];
        out.extend_from_slice(&tail[prev - base..pos - base]);
        encode::array_len(out, r.len());
        for reply in r {
            out.extend_from_slice(&reply);
        }
        prev = pos;
    }
    out.extend_from_slice(&tail[prev - base..]);
}

/// For each queued command, the one shard all its keys live on; None when
/// some command spreads over several shards.
fn per_shard(w: &Worker, q: &Queue) -> Option<Vec<usize>> {
    q.cmds
        .iter()
        .map(|c| {
            let argv: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            let s = shards_of(w, &argv)?;
            let first = *s.first()?;
            s.iter().all(|&x| x == first).then_some(first)
        })
        .collect()
}

/// Whether no watched key changed since WATCH (checked inside the holds).
async fn watches_intact(route: &Route<'_>, client: &Client) -> bool {
    for wk in &client.watches {
        let (db, key, version) = (wk.db, wk.key.clone(), wk.version);
        let now = now_ms();
        let same = route
            .call(wk.shard, move |w| {
                w.shard.borrow_mut().ks.dbs[db].watch_version(&key, now) == Some(version)
            })
            .await
            .unwrap_or(false);
        if !same {
            return false;
        }
    }
    true
}

/// The common case: every command and watch on one shard, run as one job.
async fn exec_on_one_shard(
    w: &Route<'_>,
    client: &mut Client,
    q: Queue,
    shard: usize,
    out: &mut Vec<u8>,
) {
    let watches: Vec<(usize, Vec<u8>, u64)> = client
        .watches
        .iter()
        .map(|k| (k.db, k.key.clone(), k.version))
        .collect();
    let (db, resp3) = (client.db, client.resp3);
    let table = w.shared.table;
    let reply = w
        .call(shard, move |w| {
            let mut sh = w.shard.borrow_mut();
            let now = now_ms();
            let mut out = Vec::new();
            for (wdb, key, version) in &watches {
                if sh.ks.dbs[*wdb].watch_version(key, now) != Some(*version) {
                    encode::null_aggregate(&mut out, resp3);
                    return out;
                }
            }
            encode::array_len(&mut out, q.cmds.len());
            // Recorded as one MULTI/EXEC block, here on its shard.
            journal::begin_group(db);
            for cmd in &q.cmds {
                let argv: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
                if let Some(spec) = table.lookup(argv[0]) {
                    run_shard_fn(&mut sh, spec, db, resp3, now, &argv, &mut out);
                }
            }
            journal::end_group();
            out
        })
        .await
        .unwrap_or_default();
    out.extend_from_slice(&reply);
}

/// One queued command inside a held transaction.
pub async fn run_queued(
    route: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    run_server: RunServer,
    out: &mut Vec<u8>,
) {
    let Some(spec) = route.shared.table.lookup(argv[0]) else {
        return;
    };
    if !client.unrestricted {
        if let Some((d, _)) = crate::features::acl::denial(&client.perms, spec, argv) {
            crate::features::acl::log_denial(
                route,
                client,
                d,
                spec,
                argv,
                crate::features::acl::Context::Multi,
            );
            Error::Other(format!(
                "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
                crate::features::acl::reason(d)
            ))
            .write(out);
            return;
        }
    }
    match spec.handler {
        Handler::Shard(_) => {
            let keys = spec.keys_of(argv);
            let first = keys.first().map_or(0, |&i| route.shard_of(argv[i]));
            if keys.iter().any(|&i| route.shard_of(argv[i]) != first) {
                crate::features::fanout::multi_shard(route, client, spec.name, argv, out).await;
                return;
            }
            let owned: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
            let (db, resp3) = (client.db, client.resp3);
            let (reply, own) = route
                .call(first, move |w| {
                    let argv: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
                    let mut out = Vec::new();
                    run_shard_fn(
                        &mut w.shard.borrow_mut(),
                        spec,
                        db,
                        resp3,
                        now_ms(),
                        &argv,
                        &mut out,
                    );
                    // A command's own propagation form (the stream
                    // commands') goes with its reply to where EXEC
                    // records it.
                    (out, commands::propagate::take_own())
                })
                .await
                .unwrap_or_default();
            commands::propagate::restore_own(own);
            out.extend_from_slice(&reply);
        }
        Handler::Server if spec.name == "ssubscribe" => {
            Error::Static(crate::features::pubsub::SSUBSCRIBE_IN_EXEC).write(out);
        }
        Handler::Server => {
            // Boxed: EXEC is itself a server command, so the future would
            // otherwise contain itself.
            run_server(route, client, spec.name, argv, out).await;
        }
    }
}
