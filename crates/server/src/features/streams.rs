//! XREAD and XREADGROUP: reading several streams, possibly on several
//! shards, and waiting (BLOCK) until one of them has something.
//!
//! A call's keys are checked in order on their shards (type, group, ID:
//! the first failure is the reply, as in Redis), then every key that has
//! something is served, all inside one transaction over the keys' shards
//! (`tx.rs`; a single job when they are all on one shard), so the reply is
//! one moment of every stream. If nothing was served and the call may
//! block, a waiter is registered on every key's shard inside the same
//! transaction: no entry can slip in between. Waiting, wake-ups, timeouts,
//! CLIENT UNBLOCK and a client leaving are `blocking.rs`'s, as for the
//! blocking pops (this module uses it); a waiter is woken by an XADD to
//! any of its streams, and a group reader also by its key or group going
//! away (it then gets Redis's error).
//!
//! A group read's deliveries are recorded as Redis 7.0 propagates them
//! (`commands::streams::read`): by the shard's job when the call ran in
//! one, by the coordinator while it holds the shards otherwise, and left
//! for EXEC to record when the call runs inside one.

use std::sync::Arc;

use commands::blocking::Op;
use commands::propagate;
use commands::streams::read::{self, KeyServed, ReadArgs, Wait, Want};
use commands::Error;
use rt::net::TcpStream;
use storage::stream::StreamId;

use crate::client::{Client, Flow};
use crate::engine::journal;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};
use crate::features::blocking::{self, record_all, Waiter};

type Argv<'a> = &'a [&'a [u8]];

/// What trying a read at once came to.
enum Attempt {
    /// The reply, and what it changed.
    Served(Vec<u8>, propagate::Commands),
    Failed(Error),
    Nothing,
    Waiting(Arc<Waiter>, Vec<(usize, Vec<Vec<u8>>)>),
}

/// The waiter of a read that found nothing: what each key waits to pass.
fn wait_op(a: &ReadArgs, wants: &[Want]) -> Op {
    let after = a
        .keys
        .iter()
        .zip(wants)
        .map(|(k, w)| {
            let id = match w {
                Want::After(id) => *id,
                _ => StreamId::MIN,
            };
            (k.clone(), id)
        })
        .collect();
    Op::Stream(Box::new(Wait {
        group: a.group.clone(),
        count: a.count,
        after,
    }))
}

/// The reply of the keys served, and their effects in order.
fn finish(served: Vec<KeyServed>, resp3: bool) -> Attempt {
    let mut reply = Vec::new();
    read::write_reply(&mut reply, &served, resp3);
    let effects = served.into_iter().flat_map(|s| s.effects).collect();
    Attempt::Served(reply, effects)
}

/// Checks and serves every key on `r` (a transaction holding their
/// shards); with `wait`, registers a waiter when none had anything.
async fn attempt(r: &Route<'_>, client: &Client, a: &ReadArgs, wait: bool) -> Attempt {
    let (db, resp3) = (client.db, client.resp3);
    let mut wants = Vec::with_capacity(a.keys.len());
    for (k, id) in a.keys.iter().zip(&a.ids) {
        let (k2, id2, g) = (k.clone(), id.clone(), a.group.clone());
        let got = r
            .call(r.shard_of(k), move |w| {
                let mut sh = w.shard.borrow_mut();
                read::check_key(&mut sh.ks.dbs[db], &k2, &id2, g.as_ref(), now_ms())
            })
            .await;
        match got {
            Some(Ok(want)) => wants.push(want),
            Some(Err(e)) => return Attempt::Failed(e),
            None => return Attempt::Nothing,
        }
    }
    let mut served = Vec::new();
    for (k, want) in a.keys.iter().zip(&wants) {
        let (k2, want, g, count) = (k.clone(), *want, a.group.clone(), a.count);
        let got = r
            .call(r.shard_of(k), move |w| {
                let mut sh = w.shard.borrow_mut();
                let db = &mut sh.ks.dbs[db];
                read::serve_key(db, &k2, want, g.as_ref(), count, resp3, now_ms())
            })
            .await;
        match got {
            Some(Ok(Some(s))) => served.push(s),
            Some(Err(e)) => return Attempt::Failed(e),
            _ => {}
        }
    }
    if !served.is_empty() {
        return finish(served, resp3);
    }
    if !wait {
        return Attempt::Nothing;
    }
    let waiter = Arc::new(Waiter::new(
        r.id,
        r.router.alloc_slot(),
        db,
        wait_op(a, &wants),
        resp3,
    ));
    let groups = blocking::by_shard(r, &a.keys);
    for (s, keys) in &groups {
        let (wt, keys) = (Arc::clone(&waiter), keys.clone());
        r.call(*s, move |w| blocking::register(w, &wt, &keys)).await;
    }
    Attempt::Waiting(waiter, groups)
}

/// [`attempt`] when every key lives on one shard: one job there checks,
/// serves and registers, with nothing in between, and records what it
/// changed.
async fn attempt_on_one_shard(
    w: &Worker,
    shard: usize,
    client: &Client,
    a: &ReadArgs,
    wait: bool,
) -> Attempt {
    let (db, resp3, from) = (client.db, client.resp3, w.id);
    let slot = w.router.alloc_slot();
    let a2 = a.clone();
    let got = w
        .call_queued(shard, move |w| {
            let now = now_ms();
            let mut wants = Vec::with_capacity(a2.keys.len());
            let mut served = Vec::new();
            {
                let mut sh = w.shard.borrow_mut();
                let dbm = &mut sh.ks.dbs[db];
                for (k, id) in a2.keys.iter().zip(&a2.ids) {
                    match read::check_key(dbm, k, id, a2.group.as_ref(), now) {
                        Ok(want) => wants.push(want),
                        Err(e) => return Attempt::Failed(e),
                    }
                }
                for (k, want) in a2.keys.iter().zip(&wants) {
                    match read::serve_key(dbm, k, *want, a2.group.as_ref(), a2.count, resp3, now) {
                        Ok(Some(s)) => served.push(s),
                        Ok(None) => {}
                        Err(e) => return Attempt::Failed(e),
                    }
                }
            }
            if !served.is_empty() {
                let got = finish(served, resp3);
                if let Attempt::Served(_, effects) = &got {
                    if journal::recording_here() {
                        record_all(db, effects);
                    }
                }
                return got;
            }
            if !wait {
                return Attempt::Nothing;
            }
            let waiter = Arc::new(Waiter::new(from, slot, db, wait_op(&a2, &wants), resp3));
            let mut uniq: Vec<Vec<u8>> = Vec::new();
            for k in &a2.keys {
                if !uniq.contains(k) {
                    uniq.push(k.clone());
                }
            }
            blocking::register(w, &waiter, &uniq);
            Attempt::Waiting(waiter, vec![(w.id, uniq)])
        })
        .await;
    let got = got.unwrap_or(Attempt::Nothing);
    if !matches!(got, Attempt::Waiting(..)) {
        w.router.free_slot(slot);
    }
    got
}

/// The shards of a read's keys, each once, in order.
fn shards_of(w: &Worker, a: &ReadArgs) -> Vec<usize> {
    let mut shards: Vec<usize> = a.keys.iter().map(|k| w.shard_of(k)).collect();
    shards.sort_unstable();
    shards.dedup();
    shards
}

/// XREAD / XREADGROUP from a connection: served at once, or, with BLOCK,
/// once an entry arrives (or the timeout, or CLIENT UNBLOCK). Returns
/// where its reply starts in `out`, as `blocking::run` does.
pub async fn run(
    w: &Worker,
    client: &mut Client,
    stream: &mut TcpStream,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
    stash: &mut Vec<u8>,
) -> std::io::Result<(Flow, usize)> {
    let at = out.len();
    let a = match read::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            e.write(out);
            return Ok((Flow::Continue, at));
        }
    };
    let wait = a.block.is_some();
    let shards = shards_of(w, &a);
    let got = if let [only] = shards[..] {
        attempt_on_one_shard(w, only, client, &a, wait).await
    } else {
        let cl: &Client = client;
        Route::plain(w)
            .atomically(shards, async |r: Route<'_>| {
                let at = attempt(&r, cl, &a, wait).await;
                if let Attempt::Served(_, effects) = &at {
                    record_all(cl.db, effects);
                }
                at
            })
            .await
    };
    match got {
        Attempt::Served(reply, _) => out.extend_from_slice(&reply),
        Attempt::Failed(e) => e.write(out),
        Attempt::Nothing => resp::encode::null_aggregate(out, client.resp3),
        Attempt::Waiting(waiter, groups) => {
            let timeout = a.block.flatten();
            return blocking::wait(w, client, stream, &waiter, groups, timeout, out, stash).await;
        }
    }
    Ok((Flow::Continue, at))
}

/// XREAD / XREADGROUP where they must not block: inside EXEC (BLOCK is
/// then ignored, as in Redis).
pub async fn run_nonblocking(
    r: &Route<'_>,
    client: &Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let a = read::parse(argv)?;
    let shards = shards_of(r, &a);
    let outermost = r.tx == 0;
    let got = r
        .atomically(shards, async |r: Route<'_>| {
            let at = attempt(&r, client, &a, false).await;
            if let Attempt::Served(_, effects) = &at {
                if outermost {
                    record_all(client.db, effects);
                } else {
                    // EXEC records it, with the rest of the transaction.
                    propagate::set_own(effects.clone());
                }
            }
            at
        })
        .await;
    match got {
        Attempt::Served(reply, _) => out.extend_from_slice(&reply),
        Attempt::Failed(e) => return Err(e),
        _ => resp::encode::null_aggregate(out, client.resp3),
    }
    Ok(())
}

/// XREAD / XREADGROUP run by a script, on the script's shard (its keys are
/// all there): never blocking, and BLOCK refused as Redis refuses it.
/// Returns the reply and what to record.
pub fn run_in_script(
    db: &mut storage::Db,
    argv: Argv<'_>,
    resp3: bool,
    now: u64,
) -> Result<(Vec<u8>, propagate::Commands), Error> {
    let a = read::parse(argv)?;
    if a.block.is_some() {
        return Err(Error::Other(format!(
            "ERR {} command is not allowed with BLOCK option from scripts",
            String::from_utf8_lossy(&argv[0].to_ascii_lowercase())
        )));
    }
    let mut wants = Vec::with_capacity(a.keys.len());
    for (k, id) in a.keys.iter().zip(&a.ids) {
        wants.push(read::check_key(db, k, id, a.group.as_ref(), now)?);
    }
    let mut served = Vec::new();
    for (k, want) in a.keys.iter().zip(&wants) {
        if let Some(s) = read::serve_key(db, k, *want, a.group.as_ref(), a.count, resp3, now)? {
            served.push(s);
        }
    }
    let mut reply = Vec::new();
    read::write_reply(&mut reply, &served, resp3);
    Ok((reply, served.into_iter().flat_map(|s| s.effects).collect()))
}
