//! CLIENT PAUSE and CLIENT UNPAUSE: commands of every connection, on
//! every thread, wait (they are not refused) until a deadline or an
//! UNPAUSE, as in Redis 7.
//!
//! What waits: with ALL, every command; with WRITE, the commands that may
//! change data or feed replicas: writes, EXEC of a transaction holding
//! one, scripts that do not declare `no-writes`, PUBLISH (and PFCOUNT,
//! which may rewrite its key). A command is checked once its arity and
//! permissions passed, so an erroneous one is answered at once, and before
//! MULTI queues it. Two pauses of different modes keep their deadlines
//! apart: a short WRITE pause does not end a longer ALL one.
//!
//! The pause is process-wide state ([`State`]) every connection reads with
//! one atomic load per command (the latest deadline of the two; zero or
//! past: nothing is paused). A connection that must wait sleeps on a timer
//! until the deadline, registered in its thread's list of waiters
//! ([`Local`]); UNPAUSE clears the deadlines and wakes every thread's
//! waiters. A waiting connection counts in INFO's `blocked_clients`, as in
//! Redis.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use commands::args::parse_i64;
use commands::table::{flags, CommandSpec};
use commands::Error;

use crate::client::Client;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};
use crate::features::script;

/// The pause deadlines, unix milliseconds (0: none).
#[derive(Default)]
pub struct State {
    /// The later of the two below: the one value read per command.
    until: AtomicU64,
    all_until: AtomicU64,
    write_until: AtomicU64,
    /// FAILOVER pauses writes until it ends (`failover.rs`); CLIENT
    /// UNPAUSE does not end that pause.
    failover: std::sync::atomic::AtomicBool,
}

impl State {
    /// Whether a pause may be in force at `now` (one load).
    #[inline(always)]
    pub fn maybe(&self, now: u64) -> bool {
        self.until.load(Ordering::Relaxed) > now
    }
}

/// Whether FAILOVER holds the writes (the stream must not move then: the
/// replicas' keepalive PING waits too, as Redis's does).
pub fn failover_pause(shared: &crate::engine::worker::Shared) -> bool {
    shared.global::<State>().failover.load(Ordering::Acquire)
}

/// Far enough: a pause without a deadline of its own.
const FOREVER: u64 = u64::MAX / 2;

/// FAILOVER begins: writes wait until [`end_failover`].
pub fn begin_failover(w: &Worker) {
    let st = w.shared.global::<State>();
    st.failover.store(true, Ordering::Release);
    st.until.store(FOREVER, Ordering::Relaxed);
}

/// FAILOVER ended: the writes it paused go on (and a CLIENT PAUSE still
/// in force holds them again).
pub async fn end_failover(w: &Route<'_>) {
    let st = w.shared.global::<State>();
    st.failover.store(false, Ordering::Release);
    let later = st
        .all_until
        .load(Ordering::Relaxed)
        .max(st.write_until.load(Ordering::Relaxed));
    st.until.store(later, Ordering::Relaxed);
    w.call_all(wake_waiters).await;
}

/// One waiting connection's wake-up call.
struct Waiter {
    woken: Rc<Cell<bool>>,
    waker: Waker,
}

/// This thread's connections waiting for a pause to end.
#[derive(Default)]
pub struct Local(RefCell<Vec<Waiter>>);

/// Whether a command may write, for a WRITE pause.
fn may_write(w: &Worker, client: &Client, spec: &CommandSpec, argv: &[&[u8]]) -> bool {
    match spec.name {
        "exec" => client.multi.as_ref().is_some_and(|q| {
            q.cmds.iter().any(|c| {
                let argv: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                w.shared
                    .table
                    .lookup(argv[0])
                    .is_some_and(|s| s.name != "exec" && may_write(w, client, s, &argv))
            })
        }),
        "publish" | "spublish" | "pfcount" => true,
        n if script::is_eval(n) => script::may_write(w, n, argv),
        _ => spec.has(flags::WRITE),
    }
}

/// The deadline `client`'s command must wait for, if a pause holds it now.
fn holds(w: &Worker, client: &Client, spec: &CommandSpec, argv: &[&[u8]]) -> Option<u64> {
    let st = w.shared.global::<State>();
    let now = now_ms();
    let all = st.all_until.load(Ordering::Relaxed);
    if all > now {
        return Some(all);
    }
    let mut write = st.write_until.load(Ordering::Relaxed);
    if st.failover.load(Ordering::Acquire) {
        write = FOREVER;
    }
    (write > now && may_write(w, client, spec, argv)).then_some(write)
}

/// Waits while a pause holds the command (see the module doc); whether it
/// waited. Called when [`State::maybe`] says a pause may be in force.
pub async fn wait(w: &Worker, client: &Client, spec: &CommandSpec, argv: &[&[u8]]) -> bool {
    let mut counted = false;
    while let Some(until) = holds(w, client, spec, argv) {
        if !counted {
            counted = true;
            w.shared.blocked_clients.fetch_add(1, Ordering::Relaxed);
            client.info.borrow_mut().blocked = true;
        }
        nap(w, until).await;
    }
    if counted {
        w.shared.blocked_clients.fetch_sub(1, Ordering::Relaxed);
        client.info.borrow_mut().blocked = false;
    }
    counted
}

/// Sleeping until a deadline or an UNPAUSE, whichever comes first.
struct Asleep<'w> {
    w: &'w Worker,
    woken: Rc<Cell<bool>>,
    sleep: rt::Sleep,
    registered: bool,
}

impl Future for Asleep<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken.get() {
            return Poll::Ready(());
        }
        if Pin::new(&mut self.sleep).poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            let waiter = Waiter {
                woken: Rc::clone(&self.woken),
                waker: cx.waker().clone(),
            };
            self.w.local::<Local>().0.borrow_mut().push(waiter);
        }
        Poll::Pending
    }
}

impl Drop for Asleep<'_> {
    fn drop(&mut self) {
        if self.registered && !self.woken.get() {
            let mine = Rc::clone(&self.woken);
            self.w
                .local::<Local>()
                .0
                .borrow_mut()
                .retain(|x| !Rc::ptr_eq(&x.woken, &mine));
        }
    }
}

/// Sleeps until `until` (unix ms) or [`wake_waiters`], as a paused
/// command does: also how a command waits for a quiet load
/// (`persist::wait_quiet_load`).
pub async fn nap(w: &Worker, until: u64) {
    let left = until.saturating_sub(now_ms());
    Asleep {
        w,
        woken: Rc::new(Cell::new(false)),
        sleep: rt::sleep_until(Instant::now() + Duration::from_millis(left)),
        registered: false,
    }
    .await;
}

/// Wakes this thread's waiters (each looks again at what it waits for).
pub fn wake_waiters(w: &Worker) {
    for x in w.local::<Local>().0.borrow_mut().drain(..) {
        x.woken.set(true);
        x.waker.wake();
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn pause(w: &Worker, argv: &[&[u8]]) -> Result<(), Error> {
    let ms = parse_i64(argv[2]).ok_or(Error::Static(
        "ERR timeout is not an integer or out of range",
    ))?;
    if ms < 0 {
        return Err(Error::Static("ERR timeout is negative"));
    }
    if argv.len() > 4 {
        return Err(Error::Syntax);
    }
    let all = match argv.get(3) {
        None => true,
        Some(m) if m.eq_ignore_ascii_case(b"all") => true,
        Some(m) if m.eq_ignore_ascii_case(b"write") => false,
        Some(_) => return Err(Error::Static("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let until = now_ms().saturating_add(ms as u64);
    let st = w.shared.global::<State>();
    let slot = if all { &st.all_until } else { &st.write_until };
    slot.fetch_max(until, Ordering::Relaxed);
    st.until.fetch_max(until, Ordering::Relaxed);
    Ok(())
}

/// CLIENT UNPAUSE: ends both pauses and wakes every thread's waiters.
pub async fn unpause(w: &Route<'_>) {
    let st = w.shared.global::<State>();
    st.all_until.store(0, Ordering::Relaxed);
    st.write_until.store(0, Ordering::Relaxed);
    let failover = st.failover.load(Ordering::Acquire);
    st.until
        .store(if failover { FOREVER } else { 0 }, Ordering::Relaxed);
    w.call_all(wake_waiters).await;
}
