//! Transactions: atomic work over several shards.
//!
//! # The choice: ordered shard holds, acquired along a chain
//!
//! A transaction knows its shards up front. It *holds* them, acquired in
//! ascending shard order by one message that travels from shard to shard
//! through every shard between its lowest and its highest (holding those
//! in its set, passing the others); a held shard runs only the holder's
//! jobs and parks everyone else's (other transactions' holds included) in
//! arrival order until the holder releases it (see `mesh.rs`). Then it
//! runs its hops — any number of jobs on its shards, each tagged with its
//! id — and releases every shard.
//!
//! Deadlock-free by construction: a transaction waits only for a shard
//! above every shard it holds, so the waits-for graph always points up the
//! shard order and cannot close a cycle. Starvation-free: parked requests
//! run in arrival order.
//!
//! One-step transactions (MSET, MGET, DEL, EXISTS across shards, squashed
//! EXECs) hold nothing at all: their parts travel the same kind of chain
//! and run as they pass ([`one_step`] proves why that is atomic). The
//! chains are also why holds are acquired along one: the proof needs every
//! transaction to reach its shards in that order.
//!
//! The hold is per shard, not per key (Dragonfly's VLL locks keys; we
//! chose the simpler shard hold and measured it, see docs/performance.md). What it
//! costs:
//! - nothing for commands on shards no transaction holds: one `Cell` read
//!   per command (`Worker::must_defer`);
//! - while a transaction holds a shard, every other command for that
//!   shard waits for it — a few microseconds, the length of the
//!   transaction's hops.
//!
//! Commands whose keys all live on one shard need none of this: one job on
//! one shard already runs without interruption.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::journal;
use crate::engine::worker::{Pending, Worker};

/// Transaction ids, unique in the process; 0 means "no transaction".
static NEXT_TX: AtomicU64 = AtomicU64::new(1);

/// How a piece of server code reaches shards: as plain requests (`tx` 0),
/// or as the hops of a transaction that holds them. It derefs to the
/// [`Worker`]; its `call`/`start`/`call_all` shadow the worker's so code
/// written against `&Route` works inside and outside transactions.
#[derive(Clone, Copy)]
pub struct Route<'a> {
    pub w: &'a Worker,
    pub tx: u64,
}

impl Deref for Route<'_> {
    type Target = Worker;
    fn deref(&self) -> &Worker {
        self.w
    }
}

impl<'a> Route<'a> {
    /// Plain requests, outside any transaction.
    pub fn plain(w: &'a Worker) -> Route<'a> {
        Route { w, tx: 0 }
    }

    pub fn start<R: Send + 'static>(
        &self,
        target: usize,
        f: impl FnOnce(&Worker) -> R + Send + 'static,
    ) -> Pending<R> {
        self.w.start_tx(target, self.tx, f)
    }

    pub async fn call<R: Send + 'static>(
        &self,
        target: usize,
        f: impl FnOnce(&Worker) -> R + Send + 'static,
    ) -> Option<R> {
        self.start(target, f).finish(self.w).await
    }

    /// Runs `f` on every shard in parallel; results in shard order.
    pub async fn call_all<R: Send + 'static>(
        &self,
        f: impl Fn(&Worker) -> R + Send + Sync + Clone + 'static,
    ) -> Vec<R> {
        let pending: Vec<Pending<R>> = (0..self.w.nshards())
            .map(|t| {
                let f = f.clone();
                self.start(t, move |w| f(w))
            })
            .collect();
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            if let Some(r) = p.finish(self.w).await {
                out.push(r);
            }
        }
        out
    }

    /// Runs `body` atomically over `shards`: holds them (unless this route
    /// is already a transaction, whose holds cover it), runs it, releases.
    pub async fn atomically<T>(
        &self,
        shards: impl IntoIterator<Item = usize>,
        body: impl AsyncFnOnce(Route<'a>) -> T,
    ) -> T {
        if self.tx != 0 {
            return body(*self).await;
        }
        let tx = Tx::begin(self.w, shards).await;
        let r = body(tx.route()).await;
        tx.end().await;
        r
    }
}

/// A fresh transaction id.
fn next_id() -> u64 {
    NEXT_TX.fetch_add(1, Ordering::Relaxed)
}

/// A boxed part of a one-step transaction.
pub type Part<R> = Box<dyn FnOnce(&Worker) -> R + Send>;

/// A one-step transaction: one job per shard (MSET, MGET, DEL, EXISTS
/// across shards, squashed EXECs), atomic together, holding nothing.
///
/// The parts travel as a chain through every shard from the lowest to the
/// highest involved, in ascending order (a shard with no part just passes
/// the chain on): the coordinator sends it to the lowest shard, each shard
/// runs its part and forwards the rest to the next one, the last answers
/// the coordinator. Results come back in the order of `parts`.
///
/// Why that is atomic without holds (see also [`Tx::begin`], which
/// acquires its holds along the same kind of chain): a shard runs the
/// chains that reach it one at a time, in the order they arrive, and
/// forwards each the moment it ran; channels between two threads keep
/// their order. So two chains that both pass shards s and s+1 arrive at
/// s+1 from s, in the order they ran at s — by induction, in the same
/// order on every shard they share. And no cycle of such orders can form:
/// in a cycle, take the chain whose highest shard h is lowest; both of its
/// neighbours in the cycle reach h too (they meet it below h and go at
/// least to h), so at h they are ordered through it, and it can be taken
/// out of the cycle; repeat until two chains are ordered both ways on a
/// shard they share, which cannot be. Hence every execution is equivalent
/// to running the chains one after another: nobody sees half of one.
///
/// A chain that reaches a shard held by a transaction waits its turn with
/// everyone else's work there, in arrival order, which keeps the argument
/// whole. Costs: one message per shard passed, no release messages, and
/// no shard ever waits for another — which is what lets MSET across
/// shards run at the rate of MSET on one.
pub async fn one_step<R: Send + 'static>(
    w: &Worker,
    parts: Vec<(usize, Part<R>)>,
) -> Vec<Option<R>> {
    let n = parts.len();
    let mut sorted: Vec<(usize, usize, Part<R>)> = parts
        .into_iter()
        .enumerate()
        .map(|(i, (s, f))| (s, i, f))
        .collect();
    sorted.sort_by_key(|p| p.0);
    let (Some(lo), Some(hi)) = (sorted.first().map(|p| p.0), sorted.last().map(|p| p.0)) else {
        return Vec::new();
    };
    let mut stops: std::collections::VecDeque<Stop<R>> =
        (lo..=hi).map(|s| (s, Vec::new())).collect();
    for (s, i, f) in sorted {
        stops[s - lo].1.push((i, f));
    }
    let chain = Chain {
        from: w.id,
        slot: w.router.alloc_slot(),
        stops,
        results: (0..n).map(|_| None).collect(),
    };
    let slot = chain.slot;
    forward(w, chain);
    match w.router.wait(slot).await.downcast::<Vec<Option<R>>>() {
        Ok(r) => *r,
        Err(_) => (0..n).map(|_| None).collect(),
    }
}

/// One shard on a chain's way, with the parts to run there (none: the
/// chain only passes).
type Stop<R> = (usize, Vec<(usize, Part<R>)>);

/// A one-step transaction on its way along its shards.
struct Chain<R> {
    /// The coordinator's thread and the slot its answer goes to.
    from: usize,
    slot: u32,
    /// Shards still to visit, ascending.
    stops: std::collections::VecDeque<Stop<R>>,
    results: Vec<Option<R>>,
}

/// Takes the chain to its next shard: runs it inline when that is this
/// shard and no transaction holds it, else sends it there (where it waits
/// behind a hold like any other work).
fn forward<R: Send + 'static>(w: &Worker, c: Chain<R>) {
    let Some(&(next, _)) = c.stops.front() else {
        return;
    };
    w.pass_to(next, 0, move |w| step(w, c));
}

/// One stop of the chain, on its shard.
fn step<R: Send + 'static>(w: &Worker, mut c: Chain<R>) {
    let Some((_, parts)) = c.stops.pop_front() else {
        return;
    };
    for (idx, f) in parts {
        c.results[idx] = Some(f(w));
    }
    if c.stops.is_empty() {
        w.router.respond(c.from, c.slot, Box::new(c.results));
    } else {
        forward(w, c);
    }
}

/// A transaction's holds on their way along the shards.
struct Acquire {
    id: u64,
    from: usize,
    slot: u32,
    /// The shard to visit next.
    next: usize,
    /// The shards to hold, ascending.
    hold: Vec<usize>,
    hi: usize,
}

impl Acquire {
    /// Visits the next shard: inline when it is this one and free.
    fn go(self, w: &Worker) {
        w.pass_to(self.next, self.id, move |w| self.visit(w));
    }

    fn visit(mut self, w: &Worker) {
        if self.hold.binary_search(&self.next).is_ok() {
            w.held_by.set(self.id);
            journal::set_held(true);
        }
        if self.next >= self.hi {
            w.router.respond(self.from, self.slot, Box::new(()));
        } else {
            self.next += 1;
            self.go(w);
        }
    }
}

/// A transaction in progress: the shards it holds.
pub struct Tx<'a> {
    w: &'a Worker,
    id: u64,
    shards: Vec<usize>,
}

impl<'a> Tx<'a> {
    /// Holds `shards`, acquired along a chain through every shard from the
    /// lowest to the highest in ascending order (see [`one_step`] for why
    /// the chain keeps transactions ordered; a shard not in `shards` is
    /// passed, not held). Each hold waits for any other transaction
    /// holding that shard.
    pub async fn begin(w: &'a Worker, shards: impl IntoIterator<Item = usize>) -> Tx<'a> {
        let mut shards: Vec<usize> = shards.into_iter().collect();
        shards.sort_unstable();
        shards.dedup();
        let id = next_id();
        if let (Some(&lo), Some(&hi)) = (shards.first(), shards.last()) {
            let acquire = Acquire {
                id,
                from: w.id,
                slot: w.router.alloc_slot(),
                next: lo,
                hold: shards.clone(),
                hi,
            };
            let slot = acquire.slot;
            acquire.go(w);
            w.router.wait(slot).await;
        }
        Tx { w, id, shards }
    }

    /// How the transaction's hops reach its shards.
    pub fn route(&self) -> Route<'a> {
        Route {
            w: self.w,
            tx: self.id,
        }
    }

    /// Releases every shard (in parallel) and lets parked work run.
    pub async fn end(self) {
        let id = self.id;
        let pending: Vec<Pending<()>> = self
            .shards
            .iter()
            .map(|&s| {
                self.w.start_tx(s, id, move |w| {
                    if w.held_by.get() == id {
                        w.held_by.set(0);
                        journal::set_held(false);
                    }
                    w.router.run_deferred(w);
                })
            })
            .collect();
        for p in pending {
            p.finish(self.w).await;
        }
    }
}
