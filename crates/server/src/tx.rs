//! Transactions: atomic work over several shards.
//!
//! # The choice: ordered shard holds
//!
//! A transaction knows its shards up front. It *holds* them one at a time
//! in ascending shard order; a held shard runs only the holder's jobs and
//! parks everyone else's (other transactions' holds included) in arrival
//! order until the holder releases it (see `router.rs`). Then it runs its
//! hops — any number of jobs on its shards, each tagged with its id — and
//! releases every shard.
//!
//! Deadlock-free by construction: a transaction waits only for a shard
//! above every shard it holds, so the waits-for graph always points up the
//! shard order and cannot close a cycle. Starvation-free: parked requests
//! run in arrival order.
//!
//! The hold is per shard, not per key (Dragonfly's VLL locks keys; we
//! chose the simpler shard hold and measured it, see the README). What it
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

use crate::worker::{Pending, Worker};

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
/// across shards), atomic together, in as few hops as ordered holds allow.
///
/// The parts travel as a chain in ascending shard order: the coordinator
/// sends the first to the lowest shard, which runs it, holds itself (all
/// but the last shard hold) and forwards the rest to the next shard, and
/// so on; the last shard answers the coordinator and posts the releases.
/// A shard is held for one forward plus one release message — half of
/// what a coordinator-driven round trip per shard would cost — and the
/// ascending order keeps it deadlock-free like every other transaction.
/// Results come back in the order of `parts`.
pub async fn one_step<R: Send + 'static>(
    w: &Worker,
    parts: Vec<(usize, Part<R>)>,
) -> Vec<Option<R>> {
    let n = parts.len();
    let mut rest: Vec<(usize, usize, Part<R>)> = parts
        .into_iter()
        .enumerate()
        .map(|(i, (s, f))| (s, i, f))
        .collect();
    rest.sort_by_key(|p| p.0);
    let chain = Chain {
        id: next_id(),
        from: w.id,
        slot: w.router.alloc_slot(),
        held: Vec::new(),
        rest: rest.into(),
        results: (0..n).map(|_| None).collect(),
    };
    let slot = chain.slot;
    forward(w, chain);
    match w.router.wait(slot).await.downcast::<Vec<Option<R>>>() {
        Ok(r) => *r,
        Err(_) => (0..n).map(|_| None).collect(),
    }
}

/// A one-step transaction on its way along its shards.
struct Chain<R> {
    id: u64,
    /// The coordinator's thread and the slot its answer goes to.
    from: usize,
    slot: u32,
    /// Shards held so far, to release at the end.
    held: Vec<usize>,
    /// Parts still to run: (shard, index in the answer, job), ascending.
    rest: std::collections::VecDeque<(usize, usize, Part<R>)>,
    results: Vec<Option<R>>,
}

/// Runs the chain's next part where it belongs: inline when that is this
/// shard and nothing holds it, else as a message (parked while another
/// transaction holds the shard).
fn forward<R: Send + 'static>(w: &Worker, c: Chain<R>) {
    let Some(&(next, _, _)) = c.rest.front() else {
        return;
    };
    if next == w.id && !w.must_defer(c.id) {
        step(w, c);
    } else {
        let id = c.id;
        w.router.post(
            next,
            id,
            Box::new(move |w| {
                step(w, c);
                Box::new(()) as Box<dyn std::any::Any + Send>
            }),
        );
    }
}

/// One link of the chain, on the part's own shard.
fn step<R: Send + 'static>(w: &Worker, mut c: Chain<R>) {
    let Some((shard, idx, f)) = c.rest.pop_front() else {
        return;
    };
    let last = c.rest.is_empty();
    if !last {
        w.held_by.set(c.id);
        c.held.push(shard);
    }
    c.results[idx] = Some(f(w));
    if !last {
        forward(w, c);
        return;
    }
    let id = c.id;
    for &s in &c.held {
        let release = move |w: &Worker| {
            if w.held_by.get() == id {
                w.held_by.set(0);
            }
            w.router.run_deferred(w);
        };
        if s == w.id {
            release(w);
        } else {
            w.router.post(
                s,
                id,
                Box::new(move |w| {
                    release(w);
                    Box::new(()) as Box<dyn std::any::Any + Send>
                }),
            );
        }
    }
    w.router.respond(c.from, c.slot, Box::new(c.results));
}

/// A transaction in progress: the shards it holds.
pub struct Tx<'a> {
    w: &'a Worker,
    id: u64,
    shards: Vec<usize>,
}

impl<'a> Tx<'a> {
    /// Holds `shards` in ascending order, waiting for each in turn.
    pub async fn begin(w: &'a Worker, shards: impl IntoIterator<Item = usize>) -> Tx<'a> {
        let mut shards: Vec<usize> = shards.into_iter().collect();
        shards.sort_unstable();
        shards.dedup();
        let id = next_id();
        for &s in &shards {
            w.start_tx(s, id, move |w| w.held_by.set(id))
                .finish(w)
                .await;
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
