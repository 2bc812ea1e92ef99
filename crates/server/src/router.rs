//! Cross-shard routing: the only place threads talk to each other.
//!
//! Every pair of threads (i, j) has two bounded, lock-free glommio shared
//! channels: requests i → j and responses j → i. A request carries a boxed
//! job (`FnOnce(&Worker) -> Box<dyn Any + Send>`) that the owner thread runs
//! to completion without yielding, so each job is atomic on its shard; its
//! result travels back on the response channel and wakes the task waiting in
//! [`Router::call`]. Jobs from one thread to another run in the order they
//! were sent, which is what keeps a connection's commands in order: the
//! coordinator sends a connection's next batch only after the previous reply
//! arrived.
//!
//! A pipeline's consecutive commands for one shard travel as ONE job (see
//! `conn.rs`), so a pipeline pays one round trip per change of shard.
//! Nothing here blocks a thread: a full channel makes the sending task wait,
//! and an empty one parks the receiving task until the peer's eventfd fires.

use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::task::{Poll, Waker};

use glommio::channels::shared_channel::{
    ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

use crate::worker::Worker;

/// Work for another thread: runs there, on that thread's [`Worker`].
pub type Job = Box<dyn FnOnce(&Worker) -> Box<dyn Any + Send> + Send>;

pub struct Request {
    id: u32,
    job: Job,
}

pub struct Response {
    id: u32,
    result: Box<dyn Any + Send>,
}

/// Capacity of each channel; a full one applies backpressure to the sender.
const CHANNEL_CAPACITY: usize = 1024;

/// The unconnected channel ends one thread owns, built before the threads start.
#[derive(Default)]
pub struct Endpoints {
    pub req_tx: Vec<Option<SharedSender<Request>>>,
    pub req_rx: Vec<Option<SharedReceiver<Request>>>,
    pub resp_tx: Vec<Option<SharedSender<Response>>>,
    pub resp_rx: Vec<Option<SharedReceiver<Response>>>,
}

/// Builds the channel mesh for `n` threads; element i belongs to thread i.
pub fn mesh(n: usize) -> Vec<Endpoints> {
    let mut eps: Vec<Endpoints> = (0..n)
        .map(|_| Endpoints {
            req_tx: (0..n).map(|_| None).collect(),
            req_rx: (0..n).map(|_| None).collect(),
            resp_tx: (0..n).map(|_| None).collect(),
            resp_rx: (0..n).map(|_| None).collect(),
        })
        .collect();
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let (tx, rx) = glommio::channels::shared_channel::new_bounded(CHANNEL_CAPACITY);
            eps[i].req_tx[j] = Some(tx);
            eps[j].req_rx[i] = Some(rx);
            let (tx, rx) = glommio::channels::shared_channel::new_bounded(CHANNEL_CAPACITY);
            eps[j].resp_tx[i] = Some(tx);
            eps[i].resp_rx[j] = Some(rx);
        }
    }
    eps
}

enum Slot {
    Free,
    Waiting(Option<Waker>),
    Done(Box<dyn Any + Send>),
}

/// This thread's senders, and the results of calls still in flight.
pub struct Router {
    me: usize,
    senders: Vec<Option<ConnectedSender<Request>>>,
    slots: RefCell<(Vec<Slot>, Vec<u32>)>,
}

/// The receiving halves, consumed by [`Router::spawn_servers`].
pub struct Receivers {
    req: Vec<(usize, ConnectedReceiver<Request>, ConnectedSender<Response>)>,
    resp: Vec<ConnectedReceiver<Response>>,
}

impl Router {
    /// Connects this thread's channel ends. Every connect waits for its peer,
    /// so they all run concurrently to avoid threads waiting on each other.
    pub async fn connect(me: usize, eps: Endpoints) -> (Router, Receivers) {
        let n = eps.req_tx.len();
        let mut tasks = Vec::new();
        let mut senders: Vec<Option<ConnectedSender<Request>>> = (0..n).map(|_| None).collect();
        let mut req_rx = Vec::new();
        let mut resp_rx = Vec::new();
        let mut resp_tx = Vec::new();
        let Endpoints {
            req_tx,
            req_rx: rrx,
            resp_tx: rtx,
            resp_rx: prx,
        } = eps;
        for (j, tx) in req_tx.into_iter().enumerate() {
            if let Some(tx) = tx {
                tasks.push(
                    glommio::spawn_local(async move { Conn::ReqTx(j, tx.connect().await) })
                        .detach(),
                );
            }
        }
        for (j, rx) in rrx.into_iter().enumerate() {
            if let Some(rx) = rx {
                tasks.push(
                    glommio::spawn_local(async move { Conn::ReqRx(j, rx.connect().await) })
                        .detach(),
                );
            }
        }
        for (j, tx) in rtx.into_iter().enumerate() {
            if let Some(tx) = tx {
                tasks.push(
                    glommio::spawn_local(async move { Conn::RespTx(j, tx.connect().await) })
                        .detach(),
                );
            }
        }
        for rx in prx.into_iter().flatten() {
            tasks.push(
                glommio::spawn_local(async move { Conn::RespRx(rx.connect().await) }).detach(),
            );
        }
        let mut resp_tx_by: Vec<Option<ConnectedSender<Response>>> = (0..n).map(|_| None).collect();
        for t in tasks {
            match t.await {
                Some(Conn::ReqTx(j, s)) => senders[j] = Some(s),
                Some(Conn::ReqRx(j, r)) => req_rx.push((j, r)),
                Some(Conn::RespTx(j, s)) => resp_tx_by[j] = Some(s),
                Some(Conn::RespRx(r)) => resp_rx.push(r),
                None => {}
            }
        }
        for (j, r) in req_rx {
            if let Some(s) = resp_tx_by[j].take() {
                resp_tx.push((j, r, s));
            }
        }
        let router = Router {
            me,
            senders,
            slots: RefCell::new((Vec::new(), Vec::new())),
        };
        (
            router,
            Receivers {
                req: resp_tx,
                resp: resp_rx,
            },
        )
    }

    /// Starts the tasks that run peers' jobs and deliver peers' responses.
    pub fn spawn_servers(worker: &Rc<Worker>, recv: Receivers) {
        for (_peer, rx, tx) in recv.req {
            let w = Rc::clone(worker);
            glommio::spawn_local(async move {
                while let Some(Request { id, job }) = rx.recv().await {
                    let result = job(&w);
                    if tx.send(Response { id, result }).await.is_err() {
                        break;
                    }
                }
            })
            .detach();
        }
        for rx in recv.resp {
            let w = Rc::clone(worker);
            glommio::spawn_local(async move {
                while let Some(Response { id, result }) = rx.recv().await {
                    w.router.complete(id, result);
                }
            })
            .detach();
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

    fn alloc_slot(&self) -> u32 {
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

    /// Sends `job` to thread `target` (never this one) and waits for its result.
    pub async fn remote(&self, target: usize, job: Job) -> Box<dyn Any + Send> {
        debug_assert_ne!(target, self.me);
        let Some(tx) = self.senders.get(target).and_then(Option::as_ref) else {
            return Box::new(());
        };
        let id = self.alloc_slot();
        if tx.send(Request { id, job }).await.is_err() {
            // The peer is gone: only happens at shutdown.
            let mut s = self.slots.borrow_mut();
            s.0[id as usize] = Slot::Free;
            s.1.push(id);
            return Box::new(());
        }
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

enum Conn {
    ReqTx(usize, ConnectedSender<Request>),
    ReqRx(usize, ConnectedReceiver<Request>),
    RespTx(usize, ConnectedSender<Response>),
    RespRx(ConnectedReceiver<Response>),
}
