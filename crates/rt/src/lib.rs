//! Tessera's per-thread runtime: one epoll reactor and one task queue per
//! thread, nothing shared but the doorbells other threads ring.
//!
//! # Why not glommio
//!
//! DESIGN.md names glommio. We built on it first and measured: glommio 0.9
//! creates its io_uring rings without `IORING_SETUP_COOP_TASKRUN`, so every
//! socket-readiness completion is delivered as task work with a signal: the
//! kernel interrupts the running reactor with a reschedule IPI for each
//! incoming request. Under `redis-benchmark -c 50 -P 1` that cost 2.7x
//! Redis's CPU per request (2.4x at `-P 16`); the same build with the flag
//! patched in (an experiment, not shippable: glommio offers no way to set
//! ring flags, and we do not ship a fork) cut it to 1.2x. Edge-triggered
//! epoll has no such per-event interrupt, which is why Redis uses it, and it
//! is what this module uses. The architecture DESIGN.md describes is
//! unchanged: one pinned reactor per thread, each owning a shard, talking to
//! the others only through lock-free channels with eventfd wake-ups.
//!
//! # Layout
//!
//! - this file: the executor (tasks are `async-task` runnables on a local
//!   queue), the event loop, timers, and the thread-local reactor handle.
//! - [`net`]: non-blocking TCP listener and stream driven by epoll readiness.
//! - [`chan`]: the cross-thread doorbell (eventfd + "sleeping" flag).
//!
//! Idle threads block in `epoll_wait` with the next timer as timeout: an
//! idle server uses no CPU beyond its timers.

pub mod chan;
pub mod net;

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use async_task::Runnable;

pub use chan::Doorbell;

/// Readiness of one registered file descriptor.
#[derive(Default)]
pub struct IoState {
    pub readable: Cell<bool>,
    /// The peer closed its side (or the socket failed): no further edge
    /// will come, so a short read must not clear `readable` (the next
    /// read returns the end of the stream).
    pub hup: Cell<bool>,
    pub writable: Cell<bool>,
    pub read_waker: Cell<Option<Waker>>,
    pub write_waker: Cell<Option<Waker>>,
}

/// Work the event loop does on each turn besides tasks and I/O (draining the
/// cross-thread channels); set by the server.
pub type Poller = Box<dyn Fn() -> bool>;

/// One thread's reactor.
pub struct Reactor {
    id: usize,
    epfd: RawFd,
    queue: RefCell<VecDeque<Runnable>>,
    doorbell: Arc<Doorbell>,
    io: RefCell<Vec<Option<Rc<IoState>>>>,
    free_io: RefCell<Vec<usize>>,
    timers: RefCell<BinaryHeap<Reverse<(Instant, u64)>>>,
    timer_wakers: RefCell<std::collections::HashMap<u64, Waker>>,
    next_timer: Cell<u64>,
    poller: RefCell<Option<Poller>>,
}

thread_local! {
    static REACTOR: RefCell<Option<Rc<Reactor>>> = const { RefCell::new(None) };
    static REACTOR_ID: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Token of the doorbell's eventfd in epoll.
const DOORBELL_TOKEN: u64 = u64::MAX;

/// The reactor of the calling thread. Panics outside a reactor thread: only
/// code the reactor itself runs calls it.
pub fn current() -> Rc<Reactor> {
    REACTOR
        .with(|r| r.borrow().clone())
        .expect("no reactor on this thread")
}

impl Reactor {
    /// Creates the calling thread's reactor around `doorbell` (its eventfd
    /// joins the epoll set).
    pub fn install(id: usize, doorbell: Arc<Doorbell>) -> io::Result<Rc<Reactor>> {
        // SAFETY: plain syscall.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        let r = Rc::new(Reactor {
            id,
            epfd,
            queue: RefCell::new(VecDeque::with_capacity(256)),
            doorbell,
            io: RefCell::new(Vec::new()),
            free_io: RefCell::new(Vec::new()),
            timers: RefCell::new(BinaryHeap::new()),
            timer_wakers: RefCell::new(std::collections::HashMap::new()),
            next_timer: Cell::new(0),
            poller: RefCell::new(None),
        });
        r.epoll_add(r.doorbell.fd(), libc::EPOLLIN as u32, DOORBELL_TOKEN)?;
        REACTOR.with(|c| *c.borrow_mut() = Some(Rc::clone(&r)));
        REACTOR_ID.with(|c| c.set(id));
        Ok(r)
    }

    pub fn set_poller(&self, p: Poller) {
        *self.poller.borrow_mut() = Some(p);
    }

    fn epoll_add(&self, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: valid epoll fd and event struct.
        if unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Registers `fd` for edge-triggered read and write readiness.
    pub fn register(&self, fd: RawFd) -> io::Result<(usize, Rc<IoState>)> {
        let state = Rc::new(IoState::default());
        let token = match self.free_io.borrow_mut().pop() {
            Some(t) => {
                self.io.borrow_mut()[t] = Some(Rc::clone(&state));
                t
            }
            None => {
                let mut io = self.io.borrow_mut();
                io.push(Some(Rc::clone(&state)));
                io.len() - 1
            }
        };
        let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
        if let Err(e) = self.epoll_add(fd, events, token as u64) {
            self.deregister(fd, token);
            return Err(e);
        }
        Ok((token, state))
    }

    /// Forgets `fd` (call before closing it).
    pub fn deregister(&self, fd: RawFd, token: usize) {
        // SAFETY: removing an fd from our epoll set; errors are harmless.
        unsafe {
            libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut());
        }
        if let Some(slot) = self.io.borrow_mut().get_mut(token) {
            *slot = None;
            self.free_io.borrow_mut().push(token);
        }
    }

    fn add_timer(&self, at: Instant, waker: Waker) -> u64 {
        let id = self.next_timer.get();
        self.next_timer.set(id + 1);
        self.timers.borrow_mut().push(Reverse((at, id)));
        self.timer_wakers.borrow_mut().insert(id, waker);
        id
    }

    fn cancel_timer(&self, id: u64) {
        self.timer_wakers.borrow_mut().remove(&id);
    }

    /// Runs the event loop forever.
    pub fn run(&self) -> ! {
        let mut events: Vec<libc::epoll_event> = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            // Tasks first, a bounded batch so I/O is polled between batches.
            self.run_queued(1024);
            let mut busy = !self.queue.borrow().is_empty();
            if let Some(p) = self.poller.borrow().as_ref() {
                busy |= p();
            }
            busy |= !self.queue.borrow().is_empty();
            let timeout = if busy {
                0
            } else {
                match self.timers.borrow().peek() {
                    Some(Reverse((at, _))) => {
                        let d = at.saturating_duration_since(Instant::now());
                        (d.as_millis().min(i32::MAX as u128 - 1) as i32)
                            .saturating_add(i32::from(d.subsec_nanos() % 1_000_000 != 0))
                    }
                    None => -1,
                }
            };
            // Tell peers we may sleep, then look at the channels once more so
            // a message sent just before the flag was set is not missed.
            let mut timeout = timeout;
            if timeout != 0 {
                self.doorbell.set_sleeping(true);
                if let Some(p) = self.poller.borrow().as_ref() {
                    if p() {
                        timeout = 0;
                    }
                }
                if !self.queue.borrow().is_empty() {
                    timeout = 0;
                }
            }
            self.wait_events(&mut events, timeout);
            self.doorbell.set_sleeping(false);
            self.fire_timers();
        }
    }

    /// One turn of the loop that never sleeps and fires no timer, for a
    /// task that holds the thread for long (a script past its busy
    /// threshold) and must let the thread's other connections be answered
    /// meanwhile: the I/O that is ready wakes its tasks, the poller runs,
    /// and every task that is ready runs once. The task that calls it is
    /// running, so it is not polled again (a wake of it takes effect when it
    /// yields); what the other tasks may do meanwhile is the caller's to
    /// restrict.
    pub fn turn_now(&self) {
        let mut events: Vec<libc::epoll_event> = vec![libc::epoll_event { events: 0, u64: 0 }; 64];
        if let Some(p) = self.poller.borrow().as_ref() {
            p();
        }
        self.wait_events(&mut events, 0);
        let ready = self.queue.borrow().len();
        self.run_queued(ready);
    }

    /// Runs at most `max` queued tasks.
    fn run_queued(&self, max: usize) {
        for _ in 0..max {
            let next = self.queue.borrow_mut().pop_front();
            match next {
                Some(r) => {
                    r.run();
                }
                None => break,
            }
        }
    }

    /// Waits up to `timeout` ms (-1: no limit) for I/O and wakes the tasks
    /// waiting on what is ready.
    fn wait_events(&self, events: &mut [libc::epoll_event], timeout: i32) {
        // SAFETY: `events` is a valid buffer of its length.
        let n = unsafe {
            libc::epoll_wait(self.epfd, events.as_mut_ptr(), events.len() as i32, timeout)
        };
        for ev in events.iter().take(n.max(0) as usize) {
            let (flags, token) = (ev.events, ev.u64);
            if token == DOORBELL_TOKEN {
                self.doorbell.drain();
                continue;
            }
            let state = self.io.borrow().get(token as usize).and_then(|s| s.clone());
            if let Some(s) = state {
                let err = flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
                if err || flags & libc::EPOLLRDHUP as u32 != 0 {
                    s.hup.set(true);
                }
                if flags & (libc::EPOLLIN | libc::EPOLLRDHUP) as u32 != 0 || err {
                    s.readable.set(true);
                    if let Some(w) = s.read_waker.take() {
                        w.wake();
                    }
                }
                if flags & libc::EPOLLOUT as u32 != 0 || err {
                    s.writable.set(true);
                    if let Some(w) = s.write_waker.take() {
                        w.wake();
                    }
                }
            }
        }
    }

    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = Instant::now();
        loop {
            let due = match self.timers.borrow().peek() {
                Some(Reverse((at, id))) if *at <= now => Some(*id),
                _ => None,
            };
            let Some(id) = due else { break };
            self.timers.borrow_mut().pop();
            let w = self.timer_wakers.borrow_mut().remove(&id);
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

/// Runs `f` on a thread of its own and waits for its result without
/// blocking the reactor (for rare, long, CPU-bound work: serialising a
/// huge value for MIGRATE). The result comes back through a mutex-guarded
/// slot and a cross-thread wake; nothing on the hot path uses either.
pub async fn off_thread<T: Send + 'static, F: FnOnce() -> T + Send + 'static>(f: F) -> T {
    type Slot<T> = Arc<std::sync::Mutex<(Option<T>, Option<Waker>)>>;
    let slot: Slot<T> = Arc::new(std::sync::Mutex::new((None, None)));
    // The work travels in a shared cell so that it can be run here after
    // all if no thread can be started.
    let work = Arc::new(std::sync::Mutex::new(Some(f)));
    let (theirs, their_work) = (Arc::clone(&slot), Arc::clone(&work));
    let spawned = std::thread::Builder::new()
        .name("tessera-offload".into())
        .spawn(move || {
            let Some(f) = their_work.lock().ok().and_then(|mut w| w.take()) else {
                return;
            };
            let r = f();
            let waker = theirs.lock().ok().and_then(|mut s| {
                s.0 = Some(r);
                s.1.take()
            });
            if let Some(w) = waker {
                w.wake();
            }
        });
    if spawned.is_err() {
        if let Some(f) = work.lock().ok().and_then(|mut w| w.take()) {
            return f();
        }
    }
    std::future::poll_fn(|cx| {
        let Ok(mut s) = slot.lock() else {
            return Poll::Pending;
        };
        match s.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// Spawns a task on the calling thread's reactor. Its waker may be used from
/// any thread: a wake from elsewhere goes through the owner's doorbell.
pub fn spawn_local<F>(fut: F)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let r = current();
    let owner = r.id;
    let doorbell = Arc::clone(&r.doorbell);
    let schedule = move |runnable: Runnable| {
        if REACTOR_ID.with(Cell::get) == owner {
            REACTOR.with(|c| {
                if let Some(r) = c.borrow().as_ref() {
                    r.queue.borrow_mut().push_back(runnable);
                }
            });
        } else {
            doorbell.push_remote(runnable);
        }
    };
    let (runnable, task) = async_task::spawn_local(fut, schedule);
    runnable.schedule();
    task.detach();
}

/// Lets every other ready task of this thread run (and the reactor poll
/// I/O and the channels) before the caller goes on: for long work done in
/// steps on the reactor's thread.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Runs runnables other threads woke (delivered through the doorbell).
#[inline]
pub fn run_remote_wakes(r: &Reactor) -> bool {
    let mut any = false;
    while let Some(runnable) = r.doorbell.pop_remote() {
        r.queue.borrow_mut().push_back(runnable);
        any = true;
    }
    any
}

/// Completes after `d`.
pub fn sleep(d: Duration) -> Sleep {
    Sleep {
        at: Instant::now() + d,
        timer: None,
    }
}

/// Completes at `at`.
pub fn sleep_until(at: Instant) -> Sleep {
    Sleep { at, timer: None }
}

pub struct Sleep {
    at: Instant,
    timer: Option<u64>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let r = current();
        if let Some(id) = self.timer.take() {
            r.cancel_timer(id);
        }
        if Instant::now() >= self.at {
            return Poll::Ready(());
        }
        let id = r.add_timer(self.at, cx.waker().clone());
        self.timer = Some(id);
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.timer.take() {
            REACTOR.with(|c| {
                if let Some(r) = c.borrow().as_ref() {
                    r.cancel_timer(id);
                }
            });
        }
    }
}

/// Pins the calling thread to `cpu`.
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
