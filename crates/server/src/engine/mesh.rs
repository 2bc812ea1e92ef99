//! Cross-shard routing: the only place threads talk to each other.
//!
//! Every thread has one inbound request channel and one inbound response
//! channel (lock-free crossbeam queues) and a [`Doorbell`]. A request carries
//! a boxed job (`FnOnce(&W) -> Box<dyn Any + Send>`, `W` the thread's worker) that the owner
//! thread runs to completion without yielding, so each job is atomic on its
//! shard; the result travels back on the caller's response channel and wakes
//! the task waiting in [`Router::wait`]. Jobs from one thread to another
//! run in the order they were sent, which is what keeps a connection's
//! commands in order: the coordinator sends a connection's next batch only
//! after the previous reply arrived.
//!
//! A request may carry a transaction id. While a transaction holds a shard
//! (see `tx.rs`), requests of anyone else — including this thread's own
//! commands for its shard, which then travel through its own queue — are
//! parked in arrival order and run when the hold ends; the holder's own
//! requests run at once.
//!
//! A pipeline's consecutive commands for one shard travel as ONE job (see
//! `conn/window.rs`), so a pipeline pays one round trip per change of shard. The
//! event loop drains the queues on every turn, so a busy thread receives
//! work with no system call; the doorbell's eventfd is written only when
//! the receiver may be asleep. Nothing here blocks or spins.

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;
use std::task::{Poll, Waker};

use crossbeam_channel::{Receiver, Sender};

use rt::Doorbell;

use crate::engine::journal;

/// The id of a request whose result nobody waits for ([`Router::post`]).
const NO_ANSWER: u32 = u32::MAX;

/// Work for another thread: runs there, on that thread's worker `W`.
pub type Job<W> = Box<dyn FnOnce(&W) -> Box<dyn Any + Send> + Send>;

/// Returned by a job that parked itself: the router sends no answer now;
/// the parked work answers later ([`Router::respond`]).
pub struct Parked;

/// What the mesh needs of the thread it delivers jobs to (the engine's
/// `Worker`): whether a transaction's hold makes a request wait, where
/// waiting requests go, and what runs after each job. The mesh is generic
/// over it so that it depends on nothing above it.
pub trait Host: Sized {
    /// Whether work of transaction `tx` (0: none) must wait now.
    fn must_defer(&self, tx: u64) -> bool;
    /// Parks a request until the hold ends.
    fn defer(&self, req: Request<Self>);
    /// The next parked request that may run now.
    fn next_deferred(&self) -> Option<Request<Self>>;
    /// Marks the request being run (its coordinator and call id), or none.
    fn set_running(&self, req: Option<(usize, u32)>);
    /// Runs after every job (the hooks features register: blocked clients
    /// served, keyspace events published).
    fn after_job(&self);
}

pub struct Request<W> {
    from: usize,
    id: u32,
    /// The transaction this job belongs to (0: none).
    pub tx: u64,
    job: Job<W>,
}

pub struct Response {
    id: u32,
    result: Box<dyn Any + Send>,
}

/// What every thread may use to reach every other: their queues and doorbells.
pub struct Mesh<W> {
    pub doorbells: Vec<Arc<Doorbell>>,
    req_tx: Vec<Sender<Request<W>>>,
    resp_tx: Vec<Sender<Response>>,
}

/// The receiving ends one thread owns.
pub struct Inbox<W> {
    req_rx: Receiver<Request<W>>,
    resp_rx: Receiver<Response>,
}

/// Builds the mesh for `n` threads; inbox i belongs to thread i.
pub type Wiring<W> = (Arc<Mesh<W>>, Vec<Inbox<W>>);

impl<W> Mesh<W> {
    /// Sends `job` to thread `target` from a thread outside the mesh (the
    /// main thread, on a signal); nobody waits for its result.
    pub fn post_from_outside(&self, target: usize, job: Job<W>) {
        let req = Request {
            from: target,
            id: NO_ANSWER,
            tx: 0,
            job,
        };
        if self.req_tx[target].send(req).is_ok() {
            self.doorbells[target].ring();
        }
    }
}

pub fn mesh<W>(n: usize) -> std::io::Result<Wiring<W>> {
    let mut doorbells = Vec::with_capacity(n);
    let (mut req_tx, mut resp_tx, mut inboxes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        doorbells.push(Arc::new(Doorbell::new()?));
        let (rq_tx, rq_rx) = crossbeam_channel::unbounded();
        let (rs_tx, rs_rx) = crossbeam_channel::unbounded();
        req_tx.push(rq_tx);
        resp_tx.push(rs_tx);
        inboxes.push(Inbox {
            req_rx: rq_rx,
            resp_rx: rs_rx,
        });
    }
    Ok((
        Arc::new(Mesh {
            doorbells,
            req_tx,
            resp_tx,
        }),
        inboxes,
    ))
}

enum Slot {
    Free,
    Waiting(Option<Waker>),
    Done(Box<dyn Any + Send>),
}

/// This thread's view of the mesh, and the results of calls still in flight.
/// A call's future must be awaited to completion (connection tasks are never
/// cancelled), or its slot is not reused.
pub struct Router<W> {
    me: usize,
    mesh: Arc<Mesh<W>>,
    inbox: Inbox<W>,
    slots: RefCell<(Vec<Slot>, Vec<u32>)>,
}

impl<W: Host> Router<W> {
    pub fn new(me: usize, mesh: Arc<Mesh<W>>, inbox: Inbox<W>) -> Router<W> {
        Router {
            me,
            mesh,
            inbox,
            slots: RefCell::new((Vec::new(), Vec::new())),
        }
    }

    /// Runs peers' jobs and delivers peers' responses; called by the event
    /// loop on every turn. Returns whether there was anything.
    pub fn poll(&self, worker: &W) -> bool {
        let mut any = false;
        while let Ok(req) = self.inbox.req_rx.try_recv() {
            any = true;
            if worker.must_defer(req.tx) {
                worker.defer(req);
                continue;
            }
            self.run(worker, req);
            self.run_deferred(worker);
        }
        while let Ok(Response { id, result }) = self.inbox.resp_rx.try_recv() {
            any = true;
            self.complete(id, result);
        }
        any
    }

    /// Runs one request and sends its result back.
    fn run(&self, worker: &W, req: Request<W>) {
        let Request { from, id, job, .. } = req;
        worker.set_running(Some((from, id)));
        let result = job(worker);
        worker.set_running(None);
        worker.after_job();
        // A parked job answers when it resumes (see `keylock.rs`).
        if id == NO_ANSWER || result.is::<Parked>() {
            return;
        }
        if self.mesh.resp_tx[from]
            .send(Response { id, result })
            .is_ok()
        {
            self.mesh.doorbells[from].ring();
        }
    }

    /// Runs the parked requests a released hold lets through, in order.
    pub fn run_deferred(&self, worker: &W) {
        while let Some(req) = worker.next_deferred() {
            self.run(worker, req);
        }
    }

    fn complete(&self, id: u32, result: Box<dyn Any + Send>) {
        let mut slots = self.slots.borrow_mut();
        if let Some(slot) = slots.0.get_mut(id as usize) {
            if let Slot::Waiting(Some(w)) = std::mem::replace(slot, Slot::Done(result)) {
                w.wake();
            }
        }
    }

    /// Sends `result` as the answer to call `id` of thread `to` (a
    /// blocked client's coordinator, whose slot came from
    /// [`Router::alloc_slot`]).
    pub fn respond(&self, to: usize, id: u32, result: Box<dyn Any + Send>) {
        journal::seal();
        if self.mesh.resp_tx[to].send(Response { id, result }).is_ok() {
            self.mesh.doorbells[to].ring();
        }
    }

    /// Sends `job` to thread `target` with no answer expected (its result
    /// is dropped there).
    pub fn post(&self, target: usize, tx: u64, job: Job<W>) {
        journal::seal();
        let req = Request {
            from: self.me,
            id: NO_ANSWER,
            tx,
            job,
        };
        if self.mesh.req_tx[target].send(req).is_ok() {
            self.mesh.doorbells[target].ring();
        }
    }

    /// Gives back a slot that will never be answered.
    pub fn free_slot(&self, id: u32) {
        let mut s = self.slots.borrow_mut();
        if let Some(slot) = s.0.get_mut(id as usize) {
            *slot = Slot::Free;
            s.1.push(id);
        }
    }

    /// A slot for an answer that will come through [`Router::respond`].
    pub fn alloc_slot(&self) -> u32 {
        let mut s = self.slots.borrow_mut();
        let (slots, free) = &mut *s;
        if let Some(id) = free.pop() {
            slots[id as usize] = Slot::Waiting(None);
            id
        } else {
            slots.push(Slot::Waiting(None));
            (slots.len() - 1) as u32
        }
    }

    /// Sends `job` (of transaction `tx`, 0 for none) to thread `target` at
    /// once; the result is collected with [`Router::wait`]. Sending several
    /// before waiting for any lets their shards work in parallel. A job for
    /// this thread goes through its own queue (used while its shard is held
    /// by a transaction, so the job waits its turn).
    pub fn send(&self, target: usize, tx: u64, job: Job<W>) -> Option<u32> {
        journal::seal();
        let id = self.alloc_slot();
        let req = Request {
            from: self.me,
            id,
            tx,
            job,
        };
        if self.mesh.req_tx[target].send(req).is_err() {
            let mut s = self.slots.borrow_mut();
            s.0[id as usize] = Slot::Free;
            s.1.push(id);
            return None;
        }
        self.mesh.doorbells[target].ring();
        Some(id)
    }

    /// The result of the job sent as `id`.
    pub async fn wait(&self, id: u32) -> Box<dyn Any + Send> {
        std::future::poll_fn(|cx| {
            let mut s = self.slots.borrow_mut();
            let (slots, free) = &mut *s;
            match std::mem::replace(&mut slots[id as usize], Slot::Free) {
                Slot::Done(r) => {
                    free.push(id);
                    Poll::Ready(r)
                }
                Slot::Waiting(_) => {
                    slots[id as usize] = Slot::Waiting(Some(cx.waker().clone()));
                    Poll::Pending
                }
                Slot::Free => Poll::Ready(Box::new(()) as Box<dyn Any + Send>),
            }
        })
        .await
    }
}
