//! Blocking pops: BLPOP, BRPOP, BLMPOP, BRPOPLPUSH, BLMOVE, BZPOPMIN,
//! BZPOPMAX, BZMPOP (and ZMPOP, their never-blocking cousin).
//!
//! # Arriving
//!
//! The command first tries its keys in order, as one transaction over
//! their shards (see `tx.rs`); if none can serve it, it registers a
//! *waiter* on every key's shard inside the same holds, so no push can
//! slip between "nothing there" and "waiting" — no lost wake-up.
//!
//! # Being served
//!
//! A waited-on key is always missing, so the only event that can serve a
//! waiter is the key's creation, which the shard's database notes
//! (`storage::Db::block`). After each command or job, a shard with waiters
//! serves its newly created keys: the longest-waiting client first, the
//! pop done right there, atomically with nothing else, and the reply sent
//! to the waiter's connection. A waiter registered on several shards can
//! be served by only one: each serve first claims the waiter (an atomic
//! flag), and a claimed waiter is skipped everywhere else. While a
//! transaction holds the shard, serving waits for its end, so a waiter
//! sees a MULTI/EXEC whole (`LPUSH` then `DEL` inside EXEC serves nobody).
//!
//! BRPOPLPUSH/BLMOVE push onto the destination at once when it lives on
//! the same shard; otherwise the waiter's connection pushes it right after
//! (the element is in flight for that moment, never lost).
//!
//! # Leaving
//!
//! On timeout, or when the client disconnects, the connection claims its
//! own waiter and removes it everywhere. If a shard claimed it first, the
//! served reply is on its way: a timed-out client takes it; a client that
//! has gone puts the popped elements back where they came from.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::blocking::{self, Op, Served};
use commands::Error;

use crate::client::{Client, Flow};
use crate::engine::journal;
use crate::engine::tx::Route;
use crate::engine::worker::{group_by_shard, now_ms, Worker};
use rt::net::TcpStream;

type Argv<'a> = &'a [&'a [u8]];

/// One blocked client, as every shard it waits on sees it.
pub struct Waiter {
    /// Set by whoever serves or cancels it first.
    claimed: AtomicBool,
    /// The connection's thread, and the slot its answer goes to.
    from: usize,
    slot: u32,
    db: usize,
    op: Op,
    resp3: bool,
}

impl Waiter {
    /// A waiter of a connection of thread `from` (its answer to `slot`).
    pub(crate) fn new(from: usize, slot: u32, db: usize, op: Op, resp3: bool) -> Waiter {
        Waiter {
            claimed: AtomicBool::new(false),
            from,
            slot,
            db,
            op,
            resp3,
        }
    }
}

/// A shard's waiters: per (database, key), in arrival order.
type Waiters = HashMap<(usize, Vec<u8>), VecDeque<Arc<Waiter>>>;

/// What blocking pops keep on each thread (registered in its worker's
/// `Locals`).
#[derive(Default)]
pub struct Local {
    /// Clients blocked on keys of this shard.
    waiters: RefCell<Waiters>,
    /// This thread's clients blocked right now, by client id (for CLIENT
    /// UNBLOCK).
    blocked_here: RefCell<HashMap<u64, Arc<Waiter>>>,
    /// How many (client, key) waits are registered here: 0 keeps the
    /// check after each command to one comparison.
    waiting: Cell<usize>,
}

#[inline]
fn local(w: &Worker) -> &Local {
    w.local::<Local>()
}

/// Registers `waiter` on this shard for `keys`.
pub(crate) fn register(w: &Worker, waiter: &Arc<Waiter>, keys: &[Vec<u8>]) {
    let l = local(w);
    let mut map = l.waiters.borrow_mut();
    let mut shard = w.shard.borrow_mut();
    for k in keys {
        map.entry((waiter.db, k.clone()))
            .or_default()
            .push_back(Arc::clone(waiter));
        shard.ks.dbs[waiter.db].block(k);
        l.waiting.set(l.waiting.get() + 1);
    }
}

/// Removes `waiter` from this shard's queues for `keys`.
fn unregister(w: &Worker, waiter: &Arc<Waiter>, keys: &[Vec<u8>]) {
    let l = local(w);
    let mut map = l.waiters.borrow_mut();
    let mut shard = w.shard.borrow_mut();
    for k in keys {
        let id = (waiter.db, k.clone());
        let Some(q) = map.get_mut(&id) else { continue };
        let before = q.len();
        q.retain(|x| !Arc::ptr_eq(x, waiter));
        for _ in q.len()..before {
            shard.ks.dbs[waiter.db].unblock(k);
            l.waiting.set(l.waiting.get().saturating_sub(1));
        }
        if q.is_empty() {
            map.remove(&id);
        }
    }
}

/// Serves waiters whose keys were created since the last look. Called
/// after every command and job; costs one comparison on a shard nobody
/// waits on.
#[inline]
pub fn serve_ready(w: &Worker) {
    if local(w).waiting.get() != 0 && w.held_by.get() == 0 {
        serve_all_ready(w);
    }
}

fn serve_all_ready(w: &Worker) {
    loop {
        let ready: Vec<(usize, Vec<u8>)> = {
            let mut shard = w.shard.borrow_mut();
            shard
                .ks
                .dbs
                .iter_mut()
                .enumerate()
                .flat_map(|(i, db)| db.take_ready().into_iter().map(move |k| (i, k)))
                .collect()
        };
        if ready.is_empty() {
            return;
        }
        for (db, key) in ready {
            serve_key(w, db, &key);
        }
    }
}

/// Serves the waiters of one key, oldest first, each that the key can
/// serve now (a pop while the key has elements; a stream read whose
/// entries arrived, whatever the waiters before it wait for).
fn serve_key(w: &Worker, db: usize, key: &[u8]) {
    let id = (db, key.to_vec());
    let mut at = 0;
    loop {
        let Some(waiter) = local(w)
            .waiters
            .borrow()
            .get(&id)
            .and_then(|q| q.get(at).cloned())
        else {
            return;
        };
        if !waiter.claimed.load(Ordering::Acquire) {
            let now = now_ms();
            let can = {
                let mut shard = w.shard.borrow_mut();
                blocking::ready(&mut shard.ks.dbs[db], key, &waiter.op, now)
            };
            // A key of the wrong type, or gone again, keeps its waiters.
            if !matches!(can, Ok(true)) {
                at += 1;
                continue;
            }
            if waiter
                .claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                let dst_here = match &waiter.op {
                    Op::Move { dst, .. } => w.shard_of(dst) == w.id,
                    _ => true,
                };
                let served = {
                    let mut shard = w.shard.borrow_mut();
                    blocking::serve(
                        &mut shard.ks.dbs[db],
                        key,
                        &waiter.op,
                        dst_here,
                        waiter.resp3,
                        now,
                    )
                };
                let answer: Result<Served, Error> = match served {
                    Ok(Some(s)) => {
                        record_served(db, &waiter.op, &s, dst_here);
                        Ok(s)
                    }
                    Ok(None) => Ok(Served::default()),
                    Err(e) => Err(e),
                };
                w.router.respond(waiter.from, waiter.slot, Box::new(answer));
            }
        }
        // Served here, or claimed elsewhere: either way it leaves this
        // queue, and the next waiter moves up to `at`.
        unregister(w, &waiter, std::slice::from_ref(&id.1));
    }
}

/// Records what serving a blocking pop changed (see `engine/journal.rs`):
/// the plain pop it amounts to, as Redis propagates it. `whole`: a Move's
/// push was done with its pop (else only the pop is recorded here, and the
/// push where it is done, [`record_push`]).
pub(crate) fn record_served(db: usize, op: &Op, s: &Served, whole: bool) {
    if !journal::is_on() || s.key.is_empty() {
        return;
    }
    let side = |left: bool| if left { &b"LEFT"[..] } else { &b"RIGHT"[..] };
    let mut n = itoa::Buffer::new();
    match op {
        Op::Stream(_) => record_all(db, &s.effects),
        Op::List { left, count } => {
            let name: &[u8] = if *left { b"LPOP" } else { b"RPOP" };
            match count {
                Some(_) => journal::record(db, &[name, &s.key, n.format(s.elems.len()).as_bytes()]),
                None => journal::record(db, &[name, &s.key]),
            }
        }
        Op::Move {
            dst,
            from_left,
            to_left,
        } if whole => {
            journal::record(
                db,
                &[b"LMOVE", &s.key, dst, side(*from_left), side(*to_left)],
            );
        }
        Op::Move { from_left, .. } => {
            let name: &[u8] = if *from_left { b"LPOP" } else { b"RPOP" };
            journal::record(db, &[name, &s.key]);
        }
        Op::ZSet { max, count } => {
            let name: &[u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            match count {
                Some(_) => {
                    journal::record(db, &[name, &s.key, n.format(s.members.len()).as_bytes()])
                }
                None => journal::record(db, &[name, &s.key]),
            }
        }
    }
}

/// Records `cmds`, as one MULTI/EXEC block when there are several (as
/// Redis wraps a command that propagates more than one).
pub(crate) fn record_all(db: usize, cmds: &[Vec<Vec<u8>>]) {
    if !journal::is_on() || cmds.is_empty() {
        return;
    }
    if cmds.len() > 1 {
        journal::begin_group(db);
    }
    for c in cmds {
        let argv: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        journal::record(db, &argv);
    }
    if cmds.len() > 1 {
        journal::end_group();
    }
}

/// Records a Move's push done apart from its pop.
fn record_push(db: usize, dst: &[u8], s: &Served, to_left: bool) {
    if let Some(e) = s.elems.first() {
        let name: &[u8] = if to_left { b"LPUSH" } else { b"RPUSH" };
        journal::record(db, &[name, dst, e]);
    }
}

/// Records an element put back by [`undo`].
fn record_undo(db: usize, op: &Op, s: &Served) {
    if !journal::is_on() {
        return;
    }
    match op {
        Op::Stream(_) => {}
        Op::ZSet { .. } => {
            for (m, score) in &s.members {
                journal::record(db, &[b"ZADD", &s.key, score.to_string().as_bytes(), m]);
            }
        }
        Op::List { left, .. }
        | Op::Move {
            from_left: left, ..
        } => {
            // Put back at the end it came from, first-popped nearest.
            let name: &[u8] = if *left { b"LPUSH" } else { b"RPUSH" };
            for e in s.elems.iter().rev() {
                journal::record(db, &[name, &s.key, e]);
            }
        }
    }
}

/// What trying a blocking command at once came to.
enum Attempt {
    Served(Served),
    Failed(Error),
    Nothing,
    Waiting(Arc<Waiter>, Vec<(usize, Vec<Vec<u8>>)>),
}

/// Keys grouped by shard, each key once, in first-seen order.
pub(crate) fn by_shard(w: &Worker, keys: &[Vec<u8>]) -> Vec<(usize, Vec<Vec<u8>>)> {
    let mut uniq: Vec<Vec<u8>> = Vec::new();
    for k in keys {
        if !uniq.contains(k) {
            uniq.push(k.clone());
        }
    }
    group_by_shard(uniq, |k| w.shard_of(k))
}

/// Tries every key in order on `r` (a transaction holding their shards);
/// with `wait`, registers a waiter when none can serve.
async fn attempt(r: &Route<'_>, client: &Client, b: &blocking::Blocking, wait: bool) -> Attempt {
    let (db, resp3) = (client.db, client.resp3);
    let dst = match &b.op {
        Op::Move { dst, .. } => Some(dst.clone()),
        _ => None,
    };
    if let Some(dst) = &dst {
        // The destination's type is checked only when there is something
        // to move, as Redis does.
        let (op, src) = (b.op.clone(), b.keys[0].clone());
        let src_ready = r
            .call(r.shard_of(&src), move |w| {
                blocking::ready(&mut w.shard.borrow_mut().ks.dbs[db], &src, &op, now_ms())
            })
            .await;
        if let Some(Ok(true)) = src_ready {
            let op = b.op.clone();
            let checked = r
                .call(r.shard_of(dst), move |w| {
                    blocking::check_dst(&mut w.shard.borrow_mut().ks.dbs[db], &op, now_ms())
                })
                .await;
            if let Some(Err(e)) = checked {
                return Attempt::Failed(e);
            }
        }
    }
    for key in &b.keys {
        let shard = r.shard_of(key);
        let dst_here = dst.as_ref().is_none_or(|d| r.shard_of(d) == shard);
        let (k, op) = (key.clone(), b.op.clone());
        let got = r
            .call(shard, move |w| {
                blocking::serve(
                    &mut w.shard.borrow_mut().ks.dbs[db],
                    &k,
                    &op,
                    dst_here,
                    resp3,
                    now_ms(),
                )
            })
            .await;
        match got {
            Some(Ok(Some(s))) => {
                if s.push_pending {
                    if let (Some(d), Op::Move { to_left, .. }) = (&dst, &b.op) {
                        if let Err(e) = push_remote(r, db, d, &s, *to_left).await {
                            undo(r, db, &b.op, &s).await;
                            return Attempt::Failed(e);
                        }
                    }
                }
                return Attempt::Served(s);
            }
            Some(Err(e)) => return Attempt::Failed(e),
            _ => {}
        }
    }
    if !wait {
        return Attempt::Nothing;
    }
    let waiter = Arc::new(Waiter {
        claimed: AtomicBool::new(false),
        from: r.id,
        slot: r.router.alloc_slot(),
        db,
        op: b.op.clone(),
        resp3,
    });
    let groups = by_shard(r, &b.keys);
    for (s, keys) in &groups {
        let (wt, keys) = (Arc::clone(&waiter), keys.clone());
        r.call(*s, move |w| register(w, &wt, &keys)).await;
    }
    Attempt::Waiting(waiter, groups)
}

/// [`attempt`] when every key (and a Move's destination) lives on one
/// shard: one job there tries the keys and registers the waiter, with
/// nothing in between, so it needs no transaction — the common case of a
/// job-queue worker costs one hop.
async fn attempt_on_one_shard(
    w: &Worker,
    shard: usize,
    client: &Client,
    b: &blocking::Blocking,
) -> Attempt {
    let (db, resp3) = (client.db, client.resp3);
    let waiter = Arc::new(Waiter {
        claimed: AtomicBool::new(false),
        from: w.id,
        slot: w.router.alloc_slot(),
        db,
        op: b.op.clone(),
        resp3,
    });
    let (keys, wt) = (b.keys.clone(), Arc::clone(&waiter));
    let got = w
        .call_queued(shard, move |w| {
            let now = now_ms();
            {
                let mut sh = w.shard.borrow_mut();
                let dbm = &mut sh.ks.dbs[db];
                for k in &keys {
                    match blocking::serve(dbm, k, &wt.op, true, resp3, now) {
                        Ok(Some(s)) => {
                            record_served(db, &wt.op, &s, true);
                            return Ok(Some(s));
                        }
                        Ok(None) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            let mut uniq: Vec<Vec<u8>> = Vec::new();
            for k in keys {
                if !uniq.contains(&k) {
                    uniq.push(k);
                }
            }
            register(w, &wt, &uniq);
            Ok(None)
        })
        .await;
    match got {
        Some(Ok(Some(s))) => {
            w.router.free_slot(waiter.slot);
            Attempt::Served(s)
        }
        Some(Err(e)) => {
            w.router.free_slot(waiter.slot);
            Attempt::Failed(e)
        }
        _ => {
            let groups = by_shard(w, &b.keys);
            Attempt::Waiting(waiter, groups)
        }
    }
}

/// A Move's push onto a destination on another shard.
async fn push_remote(
    r: &Route<'_>,
    db: usize,
    dst: &[u8],
    s: &Served,
    to_left: bool,
) -> Result<(), Error> {
    let (d, e) = (dst.to_vec(), s.elems.first().cloned().unwrap_or_default());
    r.call(r.shard_of(dst), move |w| {
        blocking::push(
            &mut w.shard.borrow_mut().ks.dbs[db],
            &d,
            &e,
            to_left,
            now_ms(),
        )
    })
    .await
    .unwrap_or(Ok(()))
}

/// A blocking command (or ZMPOP) that must not block: inside EXEC, or
/// ZMPOP itself. Replies with what it could pop, or the empty reply.
pub async fn run_nonblocking(
    r: &Route<'_>,
    client: &Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let b = blocking::parse(argv)?;
    let shards: Vec<usize> = b.keys.iter().map(|k| r.shard_of(k)).collect();
    let outermost = r.tx == 0;
    let got = r
        .atomically(shards, async |r: Route<'_>| {
            let a = attempt(&r, client, &b, false).await;
            if let (Attempt::Served(s), true) = (&a, outermost) {
                record_served(client.db, &b.op, s, true);
            }
            a
        })
        .await;
    match got {
        Attempt::Served(s) => out.extend_from_slice(&s.reply),
        Attempt::Failed(e) => return Err(e),
        _ => blocking::empty_reply(&b.op, false, client.resp3, out),
    }
    Ok(())
}

/// A blocking command from a connection: serve at once, or wait until
/// served, timed out, or the client goes away. Bytes the client sends
/// meanwhile are kept in `stash` for after. Also returns where its reply
/// starts in `out` (earlier replies leave before a client blocks).
pub async fn run(
    w: &Worker,
    client: &mut Client,
    stream: &mut TcpStream,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
    stash: &mut Vec<u8>,
) -> std::io::Result<(Flow, usize)> {
    let at = out.len();
    let b = match blocking::parse(argv) {
        Ok(b) => b,
        Err(e) => {
            e.write(out);
            return Ok((Flow::Continue, at));
        }
    };
    let mut shards: Vec<usize> = b.keys.iter().map(|k| w.shard_of(k)).collect();
    if let Op::Move { dst, .. } = &b.op {
        shards.push(w.shard_of(dst));
    }
    let route = Route::plain(w);
    shards.sort_unstable();
    shards.dedup();
    let got = if let [only] = shards[..] {
        attempt_on_one_shard(w, only, client, &b).await
    } else {
        let cl: &Client = client;
        route
            .atomically(shards, async |r: Route<'_>| {
                let a = attempt(&r, cl, &b, true).await;
                if let Attempt::Served(s) = &a {
                    record_served(cl.db, &b.op, s, true);
                }
                a
            })
            .await
    };
    let (waiter, groups) = match got {
        Attempt::Served(s) => {
            out.extend_from_slice(&s.reply);
            return Ok((Flow::Continue, at));
        }
        Attempt::Failed(e) => {
            e.write(out);
            return Ok((Flow::Continue, at));
        }
        Attempt::Nothing => {
            blocking::empty_reply(&b.op, false, client.resp3, out);
            return Ok((Flow::Continue, at));
        }
        Attempt::Waiting(waiter, groups) => (waiter, groups),
    };
    wait(w, client, stream, &waiter, groups, b.timeout_ms, out, stash).await
}

/// Waits for a registered waiter (of `client`, on the keys of `groups`)
/// to be served, time out (after `timeout_ms`; None: never), be unblocked
/// or see its client go, and writes its reply. What a served pop must
/// still do (a Move's push elsewhere) is done here.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn wait(
    w: &Worker,
    client: &mut Client,
    stream: &mut TcpStream,
    waiter: &Arc<Waiter>,
    groups: Vec<(usize, Vec<Vec<u8>>)>,
    timeout_ms: Option<u64>,
    out: &mut Vec<u8>,
    stash: &mut Vec<u8>,
) -> std::io::Result<(Flow, usize)> {
    let route = Route::plain(w);
    let b = blocking::Blocking {
        keys: Vec::new(),
        op: waiter.op.clone(),
        timeout_ms,
    };
    // Replies to earlier commands go out before the client blocks.
    let mut at = out.len();
    if !out.is_empty() {
        at = 0;
        journal::seal();
        journal::durable().await;
        stream.write_all(out).await?;
        out.clear();
    }
    let deadline = b
        .timeout_ms
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    let _counted = BlockedCount::new(&w.shared, deadline.is_some());
    local(w)
        .blocked_here
        .borrow_mut()
        .insert(client.id, Arc::clone(waiter));
    client.info.borrow_mut().blocked = true;
    let mut buf = vec![0u8; 4096];
    let outcome = loop {
        match wait_one(w, waiter.slot, deadline, stream, &mut buf).await {
            Event::Answer(a) => break Leave::Served(a),
            Event::Timeout => {
                if claim(waiter) {
                    break Leave::TimedOut;
                }
            }
            Event::Input(n) => {
                stash.extend_from_slice(&buf[..n]);
                continue;
            }
            Event::Gone => {
                if claim(waiter) {
                    break Leave::Gone;
                }
                // Already being served: take the answer and put it back.
                let a = answer_of(w.router.wait(waiter.slot).await);
                if let Ok(s) = &a {
                    undo(w, client.db, &b.op, s).await;
                }
                break Leave::Gone;
            }
        }
        // Timed out or gone but a shard claimed the waiter first: its
        // answer is on the way.
        break Leave::Served(answer_of(w.router.wait(waiter.slot).await));
    };
    local(w).blocked_here.borrow_mut().remove(&client.id);
    client.info.borrow_mut().blocked = false;
    for (s, keys) in groups {
        let wt = Arc::clone(waiter);
        w.call(s, move |w| unregister(w, &wt, &keys)).await;
    }
    match outcome {
        Leave::Served(Ok(s)) => {
            if s.push_pending {
                if let Op::Move { dst, to_left, .. } = &b.op {
                    if let Err(e) = push_remote(&route, client.db, dst, &s, *to_left).await {
                        // The destination changed type meanwhile: the
                        // element goes back where it was.
                        undo(w, client.db, &b.op, &s).await;
                        e.write(out);
                        return Ok((Flow::Continue, at));
                    }
                    record_push(client.db, dst, &s, *to_left);
                }
            }
            if s.reply.is_empty() {
                blocking::empty_reply(&b.op, true, client.resp3, out);
            } else {
                out.extend_from_slice(&s.reply);
            }
            Ok((Flow::Continue, at))
        }
        Leave::Served(Err(e)) => {
            e.write(out);
            Ok((Flow::Continue, at))
        }
        Leave::TimedOut => {
            w.router.free_slot(waiter.slot);
            blocking::empty_reply(&b.op, true, client.resp3, out);
            Ok((Flow::Continue, at))
        }
        Leave::Gone => {
            w.router.free_slot(waiter.slot);
            Ok((Flow::Close, at))
        }
    }
}

/// CLIENT UNBLOCK on this thread: ends client `id`'s wait as a timeout,
/// or with the UNBLOCKED error; false when it is not blocked here (or is
/// being served right now).
pub fn unblock(w: &Worker, id: u64, error: bool) -> bool {
    let Some(waiter) = local(w).blocked_here.borrow().get(&id).cloned() else {
        return false;
    };
    if !claim(&waiter) {
        return false;
    }
    let answer: Result<Served, Error> = if error {
        Err(Error::Static(
            "UNBLOCKED client unblocked via CLIENT UNBLOCK",
        ))
    } else {
        Ok(Served::default())
    };
    w.router.respond(waiter.from, waiter.slot, Box::new(answer));
    true
}

/// Puts a served pop back, for a client that left before its reply.
async fn undo(w: &Worker, db: usize, op: &Op, s: &Served) {
    let (op, s2) = (op.clone(), s.clone());
    w.call(w.shard_of(&s.key), move |w| {
        blocking::undo(&mut w.shard.borrow_mut().ks.dbs[db], &s2, &op, now_ms());
        record_undo(db, &op, &s2);
    })
    .await;
}

/// Counts a client as blocked (INFO) for as long as it lives.
struct BlockedCount<'a> {
    shared: &'a crate::engine::worker::Shared,
    timed: bool,
}

impl<'a> BlockedCount<'a> {
    fn new(shared: &'a crate::engine::worker::Shared, timed: bool) -> BlockedCount<'a> {
        shared.blocked_clients.fetch_add(1, Ordering::Relaxed);
        if timed {
            shared.blocked_with_timeout.fetch_add(1, Ordering::Relaxed);
        }
        BlockedCount { shared, timed }
    }
}

impl Drop for BlockedCount<'_> {
    fn drop(&mut self) {
        self.shared.blocked_clients.fetch_sub(1, Ordering::Relaxed);
        if self.timed {
            self.shared
                .blocked_with_timeout
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn claim(waiter: &Waiter) -> bool {
    waiter
        .claimed
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

fn answer_of(b: Box<dyn std::any::Any + Send>) -> Result<Served, Error> {
    b.downcast::<Result<Served, Error>>()
        .map(|b| *b)
        .unwrap_or_else(|_| Ok(Served::default()))
}

enum Leave {
    Served(Result<Served, Error>),
    TimedOut,
    Gone,
}

enum Event {
    Answer(Result<Served, Error>),
    Timeout,
    Input(usize),
    Gone,
}

/// Waits for whichever comes first: the answer, the deadline, input.
async fn wait_one(
    w: &Worker,
    slot: u32,
    deadline: Option<Instant>,
    stream: &mut TcpStream,
    buf: &mut [u8],
) -> Event {
    let mut answer = std::pin::pin!(w.router.wait(slot));
    let mut timer = std::pin::pin!(rt::sleep_until(
        deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86400 * 365))
    ));
    let mut read = std::pin::pin!(stream.read(buf, None));
    std::future::poll_fn(|cx| {
        use std::task::Poll;
        if let Poll::Ready(a) = answer.as_mut().poll(cx) {
            return Poll::Ready(Event::Answer(answer_of(a)));
        }
        if deadline.is_some() && timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Timeout);
        }
        match read.as_mut().poll(cx) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(Event::Gone),
            Poll::Ready(Ok(n)) => Poll::Ready(Event::Input(n)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
