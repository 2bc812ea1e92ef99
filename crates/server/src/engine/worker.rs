//! One thread's state: its shard, its router, its counters, its clients.
//!
//! A [`Worker`] is owned by its reactor thread (`Rc`, never shared): the
//! shard lives in a `RefCell` that is borrowed only for the synchronous run of
//! one command or one job, never across an `.await`.
//!
//! The engine names no feature. What a feature keeps per thread (blocked
//! clients, subscribers, monitors) or per process (script cache, pub/sub and
//! monitor registries) is registered by type when the server starts
//! ([`Locals`], [`Globals`]) and found by type ([`Worker::local`],
//! [`Shared::global`]); what a feature must do after each job or each cron
//! tick is a function it registers in [`Hooks`]. So a feature module sits
//! above the engine and the engine compiles without it.

use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use commands::table::{flags, CommandSpec};
use commands::{CommandTable, Ctx, Handler, Shard};

use crate::engine::journal;
use crate::engine::keylock::{KeyLocks, Resume};
use crate::engine::mesh::{Host, Request, Router};
use crate::host::config::Runtime;

/// The hold a long synchronous job (a script past its busy threshold)
/// puts on its shard while it lets the thread's other tasks run: no
/// transaction has this id, so every request and every inline step for the
/// shard waits (see `features/script.rs`, busy scripts).
pub const BUSY_HOLD: u64 = u64::MAX;

/// A job for a thread's worker (see `mesh.rs`).
pub type Job = crate::engine::mesh::Job<Worker>;

/// Process-wide feature state, one value per type, registered at start.
/// A lookup compares type ids, no virtual call: the registry is a handful
/// of entries, and per-command lookups find theirs first.
#[derive(Default)]
pub struct Globals(Vec<(TypeId, Box<dyn Any + Send + Sync>)>);

impl Globals {
    /// Adds `v`; a second value of the same type is never found.
    pub fn with<T: Any + Send + Sync>(mut self, v: T) -> Globals {
        self.0.push((TypeId::of::<T>(), Box::new(v)));
        self
    }

    /// The value of type `T`. Registering every feature's state is the
    /// binary's job at start; a missing one is a bug, not an input.
    #[inline]
    pub fn get<T: Any>(&self) -> &T {
        let id = TypeId::of::<T>();
        match self.0.iter().find(|e| e.0 == id) {
            // SAFETY: the entry's id is `T`'s, and `with` stores each value
            // beside the id of its own type, so the box holds a `T`.
            Some(e) => unsafe { &*(&*e.1 as *const _ as *const T) },
            None => unregistered::<T>(),
        }
    }
}

/// One thread's feature state, one value per type, registered at start.
#[derive(Default)]
pub struct Locals(Vec<(TypeId, Box<dyn Any>)>);

impl Locals {
    /// Adds `v`; a second value of the same type is never found.
    pub fn with<T: Any>(mut self, v: T) -> Locals {
        self.0.push((TypeId::of::<T>(), Box::new(v)));
        self
    }

    /// The value of type `T` (see [`Globals::get`]).
    #[inline]
    pub fn get<T: Any>(&self) -> &T {
        let id = TypeId::of::<T>();
        match self.0.iter().find(|e| e.0 == id) {
            // SAFETY: the entry's id is `T`'s, and `with` stores each value
            // beside the id of its own type, so the box holds a `T`.
            Some(e) => unsafe { &*(&*e.1 as *const _ as *const T) },
            None => unregistered::<T>(),
        }
    }
}

#[cold]
fn unregistered<T>() -> ! {
    panic!(
        "feature state {} was not registered at start",
        std::any::type_name::<T>()
    )
}

/// What features run at the engine's fixed points, registered at start.
#[derive(Default)]
pub struct Hooks {
    /// After every job a thread runs for another (and after a local step
    /// of a transaction): serve clients a write unblocked, publish events.
    pub after_job: Vec<fn(&Worker)>,
    /// Every cron tick (`hz` times a second), before active expiry.
    pub on_tick: Vec<fn(&Worker)>,
    /// Before the process exits on SHUTDOWN or a signal (the AOF's last
    /// sync).
    pub before_exit: Vec<fn(&Worker)>,
}

/// Process-wide state: settings and the few counters that must be global.
/// Touched on connect/disconnect and by admin commands, never per command.
pub struct Shared {
    pub config: Runtime,
    pub table: &'static CommandTable,
    pub threads: usize,
    pub connected_clients: AtomicUsize,
    pub next_client_id: AtomicU64,
    pub total_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub active_expire: AtomicBool,
    /// DEBUG PAUSE-CRON: every thread's timer skips its ticks (active
    /// expiry, the features' tick hooks: a signal's shutdown waits too).
    pub cron_paused: AtomicBool,
    /// Clients in a blocking pop now (INFO blocked_clients), and those of
    /// them with a timeout (clients_in_timeout_table).
    pub blocked_clients: AtomicUsize,
    pub blocked_with_timeout: AtomicUsize,
    pub started: Instant,
    pub run_id: String,
    /// The features' process-wide state (monitor and pub/sub registries,
    /// the script cache).
    pub globals: Globals,
    pub hooks: Hooks,
}

impl Shared {
    /// The process-wide state of type `T` a feature registered.
    #[inline]
    pub fn global<T: Any>(&self) -> &T {
        self.globals.get()
    }
}

/// What CLIENT LIST shows of a connection.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub id: u64,
    /// The ACL user it is authenticated as.
    pub user: std::sync::Arc<str>,
    /// The connection's socket, on the thread that serves it.
    pub fd: i32,
    pub addr: String,
    pub laddr: String,
    pub name: Vec<u8>,
    pub db: usize,
    pub created: u64,
    pub last_cmd: &'static str,
    /// Query bytes not yet run, the running command's own included, while
    /// a server command runs (CLIENT LIST's qbuf=; 0 between batches).
    pub qbuf: usize,
    pub last_active: u64,
    pub lib_name: Vec<u8>,
    pub lib_ver: Vec<u8>,
    /// In a blocking pop now (CLIENT LIST flags=b).
    pub blocked: bool,
    /// Commands queued since MULTI, -1 outside MULTI (flags=x, multi=N).
    pub multi: i64,
    /// Channels, patterns and shard channels subscribed to (sub=, psub=,
    /// ssub=, flags=P).
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    /// A replica's `REPLCONF listening-port`.
    pub repl_port: u16,
    /// A replica's `REPLCONF capa eof`: it reads a diskless snapshot.
    pub repl_eof: bool,
    /// The link a replica follows its master through (CLIENT KILL TYPE
    /// master), or a replica's link to this master (TYPE replica).
    pub is_master: bool,
    pub is_replica: bool,
}

impl ClientInfo {
    /// Its CLIENT LIST line (also ACL LOG's client-info).
    pub fn line(&self, now_s: u64) -> String {
        let c = self;
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut flags = String::new();
        if c.sub + c.psub + c.ssub > 0 {
            flags.push('P');
        }
        if c.multi >= 0 {
            flags.push('x');
        }
        if c.blocked {
            flags.push('b');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir=-1 resp=2 lib-name={} lib-ver={}\n",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        lossy(&c.name),
        now_s.saturating_sub(c.created),
        now_s.saturating_sub(c.last_active),
        flags,
        c.db,
        c.sub,
        c.psub,
        c.ssub,
        c.multi,
        c.qbuf,
        c.last_cmd.to_ascii_lowercase(),
        c.user,
        lossy(&c.lib_name),
        lossy(&c.lib_ver),
    )
    }
}

/// Counters of one thread, summed by INFO.
#[derive(Default)]
pub struct WorkerStats {
    pub commands: Cell<u64>,
    /// Recent ops/s samples (one per cron tick) for `instantaneous_ops_per_sec`.
    pub ops_samples: RefCell<[u64; 16]>,
    pub ops_sample_idx: Cell<usize>,
    pub last_sample: Cell<(u64, u64)>,
    /// Keys evicted for `maxmemory` (INFO evicted_keys).
    pub evicted: Cell<u64>,
    /// Per command, by `CommandSpec::id` (INFO commandstats).
    pub cmds: Box<[CmdStat]>,
    /// Error replies by their first word (`ERR`, `WRONGTYPE`, ...), for
    /// INFO errorstats and total_error_replies; a few distinct words, so a
    /// short list beats a map. Summed over threads when INFO asks.
    pub errors: RefCell<Vec<(Box<[u8]>, u64)>>,
    /// The error reply the command that just ran wrote is one already
    /// counted where it arose (a script's command error it passed on):
    /// [`Self::failed_if_error`] then counts the command's failure only.
    pub counted_error: Cell<bool>,
    /// Latency histograms of subcommands (`client|id`), by full name:
    /// server commands only, a few dozen names at most.
    pub subs: RefCell<Vec<(&'static str, Hist)>>,
}

/// Buckets of a latency histogram: a run of `us` microseconds is counted
/// in bucket `64 - us.leading_zeros()`, so bucket 0 holds runs under 1 µs
/// and bucket `b` runs under `2^b` µs (the last one, everything longer).
pub const HIST_BUCKETS: usize = 32;

/// One command's latency histogram on one thread (`latency-tracking`).
#[derive(Default)]
pub struct Hist(pub [Cell<u64>; HIST_BUCKETS]);

impl Hist {
    #[inline]
    pub fn add(&self, us: u64) {
        self.add_n(us, 1);
    }

    /// Counts `n` runs of `us` microseconds each.
    #[inline]
    pub fn add_n(&self, us: u64, n: u64) {
        let b = ((64 - us.leading_zeros()) as usize).min(HIST_BUCKETS - 1);
        self.0[b].set(self.0[b].get() + n);
    }

    pub fn counts(&self) -> [u64; HIST_BUCKETS] {
        std::array::from_fn(|i| self.0[i].get())
    }

    fn clear(&self) {
        for c in &self.0 {
            c.set(0);
        }
    }
}

/// As Redis: past this many distinct error words, new ones are not tracked.
const ERROR_WORDS_MAX: usize = 128;

/// One command's counters on one thread. A call is counted where the
/// connection reads it (or where EXEC runs it); a failure where it runs.
#[derive(Default)]
pub struct CmdStat {
    pub calls: Cell<u64>,
    /// Refused before running (arity, NOAUTH, OOM).
    pub rejected: Cell<u64>,
    /// Ran and answered an error.
    pub failed: Cell<u64>,
    /// Time spent running it, in clock ticks (`host::clock`).
    pub ticks: Cell<u64>,
    pub hist: Hist,
}

impl WorkerStats {
    /// Counters for a table of `commands` commands.
    pub fn new(commands: usize) -> WorkerStats {
        WorkerStats {
            cmds: (0..commands).map(|_| CmdStat::default()).collect(),
            ..Default::default()
        }
    }

    #[inline]
    pub fn called(&self, id: usize) {
        if let Some(c) = self.cmds.get(id) {
            c.calls.set(c.calls.get() + 1);
        }
    }

    /// Counts `ticks` of running command `id` (and, when `track`, its
    /// latency in the command's histogram).
    #[inline(always)]
    pub fn timed(&self, id: usize, ticks: u64, track: bool) {
        self.timed_n(id, ticks, 1, track);
    }

    /// Counts `n` runs of command `id` that took `ticks` in all, each
    /// counted in the histogram at their average.
    #[inline(always)]
    pub fn timed_n(&self, id: usize, ticks: u64, n: u64, track: bool) {
        if let Some(c) = self.cmds.get(id) {
            c.ticks.set(c.ticks.get() + ticks);
            if track {
                let each = if n <= 1 { ticks } else { ticks / n };
                c.hist.add_n(crate::host::clock::to_us(each), n);
            }
        }
    }

    /// Counts a run of subcommand `name` (`config|set`) in its histogram.
    pub fn timed_sub(&self, name: &'static str, us: u64) {
        let mut subs = self.subs.borrow_mut();
        match subs.iter().find(|(n, _)| *n == name) {
            Some((_, h)) => h.add(us),
            None => {
                let h = Hist::default();
                h.add(us);
                subs.push((name, h));
            }
        }
    }

    pub fn rejected(&self, id: usize) {
        if let Some(c) = self.cmds.get(id) {
            c.rejected.set(c.rejected.get() + 1);
        }
    }

    /// Counts a failure if the reply written from `at` on is an error (in
    /// the error statistics too, unless [`Self::counted_error`] says it was
    /// counted already).
    #[inline]
    pub fn failed_if_error(&self, id: usize, out: &[u8], at: usize) {
        let counted = self.counted_error.replace(false);
        if out.get(at) == Some(&b'-') {
            self.failed(id);
            if !counted {
                self.error_reply(out, at);
            }
        }
    }

    /// Counts the error reply written from `at` on (if it is one) under its
    /// first word.
    pub fn error_reply(&self, out: &[u8], at: usize) {
        let Some(text) = out.get(at..).and_then(|r| r.strip_prefix(b"-")) else {
            return;
        };
        let end = text
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(text.len());
        let word = &text[..end];
        let mut errors = self.errors.borrow_mut();
        if let Some(e) = errors.iter_mut().find(|(w, _)| **w == *word) {
            e.1 += 1;
        } else if errors.len() < ERROR_WORDS_MAX {
            errors.push((word.into(), 1));
        }
    }

    pub fn failed(&self, id: usize) {
        if let Some(c) = self.cmds.get(id) {
            c.failed.set(c.failed.get() + 1);
        }
    }
}

pub struct Worker {
    pub id: usize,
    pub shard: RefCell<Shard>,
    pub router: Router<Worker>,
    pub shared: Arc<Shared>,
    pub stats: WorkerStats,
    pub clients: RefCell<BTreeMap<u64, Rc<RefCell<ClientInfo>>>>,
    /// The transaction holding this shard (0: none), see `tx.rs`.
    pub held_by: Cell<u64>,
    /// Requests that arrived while another transaction held the shard, in
    /// arrival order.
    pub deferred: RefCell<VecDeque<Request<Worker>>>,
    /// Keys locked by MIGRATE and the work waiting for them (`keylock.rs`).
    pub locks: KeyLocks<Worker>,
    /// The request the router is running: (from thread, call id).
    pub current_req: Cell<Option<(usize, u32)>>,
    /// The features' state on this thread (blocked clients, subscribers,
    /// monitors, eviction's turn).
    pub locals: Locals,
}

impl Host for Worker {
    #[inline]
    fn must_defer(&self, tx: u64) -> bool {
        Worker::must_defer(self, tx)
    }

    fn defer(&self, req: Request<Worker>) {
        Worker::defer(self, req)
    }

    fn next_deferred(&self) -> Option<Request<Worker>> {
        Worker::next_deferred(self)
    }

    fn set_running(&self, req: Option<(usize, u32)>) {
        self.current_req.set(req);
    }

    #[inline]
    fn after_job(&self) {
        for f in &self.shared.hooks.after_job {
            f(self);
        }
        journal::seal();
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Worker>>> = const { RefCell::new(None) };
}

/// Makes `w` this thread's worker (for jobs that need an `Rc` to spawn tasks).
pub fn set_current(w: &Rc<Worker>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(Rc::clone(w)));
}

/// This thread's worker, once [`set_current`] ran.
pub fn current() -> Option<Rc<Worker>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// A job started with [`Worker::start`]: its result, or its call in flight.
/// Must be finished (connection tasks are never cancelled mid-call).
pub enum Pending<R> {
    Ready(Option<R>),
    Sent(u32, std::marker::PhantomData<R>),
}

impl<R: 'static> Pending<R> {
    pub async fn finish(self, w: &Worker) -> Option<R> {
        match self {
            Pending::Ready(r) => r,
            Pending::Sent(id, _) => w.router.wait(id).await.downcast::<R>().ok().map(|b| *b),
        }
    }
}

/// Groups `items` by shard (`shard_of` gives each one's), keeping the
/// order of first appearance of the shards and of the items within each.
pub fn group_by_shard<T>(
    items: impl IntoIterator<Item = T>,
    mut shard_of: impl FnMut(&T) -> usize,
) -> Vec<(usize, Vec<T>)> {
    let mut groups: Vec<(usize, Vec<T>)> = Vec::new();
    for it in items {
        let s = shard_of(&it);
        match groups.iter_mut().find(|g| g.0 == s) {
            Some(g) => g.1.push(it),
            None => groups.push((s, vec![it])),
        }
    }
    groups
}

/// Unix time in milliseconds. Each reading also advances this thread's
/// clock for access stamps (`storage::evict`), so a batch stamps the keys
/// it touches with the time it read.
pub fn now_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    storage::evict::set_clock(now);
    now
}

/// Runs one shard command, turning an error into its reply, and records
/// its effect in the journal when it is a write that changed something
/// (see `journal.rs`).
#[inline]
pub fn exec(
    shard: &mut Shard,
    spec: &'static CommandSpec,
    db: usize,
    resp3: bool,
    now: u64,
    argv: &[&[u8]],
    out: &mut Vec<u8>,
) {
    let Handler::Shard(f) = spec.handler else {
        return;
    };
    let journal = spec.has(flags::WRITE | flags::MAY_REPLICATE) && journal::recording_here();
    // A command changes its own database (MOVE and COPY ... DB change the
    // source's too), so that database's counter tells whether it wrote.
    let before = if journal {
        shard.ks.dbs.get(db).map_or(0, |d| d.dirty)
    } else {
        0
    };
    let at = out.len();
    let mut ctx = Ctx {
        shard,
        db,
        now,
        out,
        resp3,
    };
    if let Err(e) = f(&mut ctx, argv) {
        e.write(ctx.out);
    }
    // A tracking client's read: its keys are remembered (client-side
    // caching, see `storage::track`). One thread-local load otherwise.
    if storage::track::reads_wanted() && spec.has(flags::READONLY) {
        note_reads(spec, argv);
    }
    if journal && ctx.shard.ks.dbs.get(db).map_or(0, |d| d.dirty) != before {
        // Keys it found expired go first, as their DELs happened first.
        if storage::notify::gone_pending() {
            journal::record_gone();
        }
        record_effect(spec, db, argv, &ctx.out[at..], now);
    }
}

/// Logs the keys of read-only command `spec` as read by the running
/// client (`storage::track`).
#[cold]
fn note_reads(spec: &CommandSpec, argv: &[&[u8]]) {
    for i in spec.keys_of(argv) {
        if let Some(k) = argv.get(i) {
            storage::track::read(k);
        }
    }
}

/// Wraps `f` so that it runs for the client commands run for now on this
/// thread (`storage::track::who`), wherever it runs: a job carries its
/// client to the shard that runs it, so that the shard remembers what a
/// tracking client read and knows who wrote.
#[inline]
fn for_client<R>(f: impl FnOnce(&Worker) -> R) -> impl FnOnce(&Worker) -> R {
    let who = storage::track::who();
    move |w| {
        if who == 0 {
            return f(w);
        }
        let prev = storage::track::set_who(who);
        let r = f(w);
        storage::track::set_who(prev);
        r
    }
}

/// Records what command `spec` (run on database `db`) changed, in Redis's
/// propagation form.
#[cold]
pub fn record_effect(spec: &CommandSpec, db: usize, argv: &[&[u8]], reply: &[u8], now: u64) {
    effects(spec.name, argv, reply, now, |a| journal::record(db, a));
}

/// Hands `f` the commands that record what command `name` changed, given
/// its reply (`commands::propagate`).
pub fn effects(name: &str, argv: &[&[u8]], reply: &[u8], now: u64, mut f: impl FnMut(&[&[u8]])) {
    use commands::propagate::{effect, Effect};
    match effect(name, argv, reply, now) {
        Effect::AsIs => f(argv),
        Effect::Nothing => {}
        Effect::Rewritten(cmds) => {
            for c in cmds {
                let argv: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                f(&argv);
            }
        }
    }
}

impl Worker {
    /// Closes these connections of this thread (CLIENT KILL, a user
    /// deleted or refused its subscriptions): each leaves the client list
    /// at once, so CLIENT LIST no longer shows it, and its socket is shut
    /// down, so its reads end and it closes as a disconnected client does.
    pub fn close_clients(&self, ids: &[u64]) {
        let mut clients = self.clients.borrow_mut();
        for id in ids {
            if let Some(c) = clients.remove(id) {
                // SAFETY: shutdown(2) on a descriptor this thread's live
                // connection owns: it was in the list, and a connection
                // leaves the list before it closes its socket.
                unsafe {
                    libc::shutdown(c.borrow().fd, libc::SHUT_RDWR);
                }
            }
        }
    }

    /// The state of type `T` a feature registered for this thread.
    #[inline]
    pub fn local<T: Any>(&self) -> &T {
        self.locals.get()
    }

    /// Whether any key of this shard is locked (the cheap pre-check).
    #[inline]
    pub fn any_locked(&self) -> bool {
        self.locks.any()
    }

    pub fn is_locked(&self, db: usize, key: &[u8]) -> bool {
        self.locks.is_locked(db, key)
    }

    /// Locks `key`; false if it already is.
    pub fn lock_key(&self, db: usize, key: &[u8]) -> bool {
        self.locks.lock(db, key)
    }

    /// Parks `resume` until `key` is unlocked (runs it now if it is not
    /// locked any more).
    pub fn park_on(&self, db: usize, key: &[u8], resume: Resume<Worker>) {
        if let Some(now) = self.locks.park(db, key, resume) {
            now(self);
        }
    }

    /// Unlocks `key` and runs what waited for it, in arrival order.
    pub fn unlock_key(&self, db: usize, key: &[u8]) {
        for resume in self.locks.unlock(db, key) {
            resume(self);
        }
        self.after_job();
    }

    /// The request being run now: (coordinator thread, call id), for a job
    /// that parks and answers later.
    pub fn current_request(&self) -> Option<(usize, u32)> {
        self.current_req.get()
    }

    pub fn nshards(&self) -> usize {
        self.shared.threads
    }

    /// The shard that owns `key`.
    pub fn shard_of(&self, key: &[u8]) -> usize {
        usize::from(commands::slot::key_slot(key)) % self.shared.threads
    }

    /// Runs `f` on thread `target`'s worker (inline when that is this thread).
    pub async fn call<R: Send + 'static>(
        &self,
        target: usize,
        f: impl FnOnce(&Worker) -> R + Send + 'static,
    ) -> Option<R> {
        self.start(target, f).finish(self).await
    }

    /// Starts `f` on thread `target` without waiting: on another thread it is
    /// sent at once (so several can run in parallel), on this one it runs now.
    pub fn start<R: Send + 'static>(
        &self,
        target: usize,
        f: impl FnOnce(&Worker) -> R + Send + 'static,
    ) -> Pending<R> {
        self.start_tx(target, 0, f)
    }

    /// [`Worker::start`] as part of transaction `tx` (0: none). On this
    /// thread it runs inline unless another transaction holds the shard, in
    /// which case it queues behind the hold like anyone else's request.
    pub fn start_tx<R: Send + 'static>(
        &self,
        target: usize,
        tx: u64,
        f: impl FnOnce(&Worker) -> R + Send + 'static,
    ) -> Pending<R> {
        if target == self.id && !self.must_defer(tx) {
            let r = f(self);
            self.after_job();
            return Pending::Ready(Some(r));
        }
        let f = for_client(f);
        let job: Job = Box::new(move |w| Box::new(f(w)) as Box<dyn Any + Send>);
        match self.router.send(target, tx, job) {
            Some(id) => Pending::Sent(id, std::marker::PhantomData),
            None => Pending::Ready(None),
        }
    }

    /// Runs `f` on shard `target` as part of transaction `tx` (0: none),
    /// answering nobody: at once when that is this shard and nothing else
    /// holds it, else as a message that waits its turn there. The step of
    /// every chain (one-step transactions, hold acquisition, MIGRATE's
    /// locking) that travels from shard to shard.
    pub fn pass_to(&self, target: usize, tx: u64, f: impl FnOnce(&Worker) + Send + 'static) {
        if target == self.id && !self.must_defer(tx) {
            f(self);
        } else {
            let f = for_client(f);
            self.router.post(
                target,
                tx,
                Box::new(move |w| {
                    f(w);
                    Box::new(()) as Box<dyn Any + Send>
                }),
            );
        }
    }

    /// Runs `f` on thread `target` through that thread's queue, even when
    /// it is this one: it then runs after the requests other threads sent
    /// here before it, in arrival order. Blocking pops use it, so that the
    /// client whose command was read first is the first to wait, whichever
    /// thread read it.
    pub async fn call_queued<R: Send + 'static>(
        &self,
        target: usize,
        f: impl FnOnce(&Worker) -> R + Send + 'static,
    ) -> Option<R> {
        let f = for_client(f);
        let job: Job = Box::new(move |w| Box::new(f(w)) as Box<dyn Any + Send>);
        self.send_job::<R>(target, job).finish(self).await
    }

    /// Sends a raw job (one that may park, see `keylock.rs`) to thread
    /// `target`, through its queue even when that is this thread.
    pub fn send_job<R: Send + 'static>(&self, target: usize, job: Job) -> Pending<R> {
        match self.router.send(target, 0, job) {
            Some(id) => Pending::Sent(id, std::marker::PhantomData),
            None => Pending::Ready(None),
        }
    }

    /// Whether work of transaction `tx` (0: none) must wait: another
    /// transaction holds this shard, or earlier work is already waiting.
    #[inline]
    pub fn must_defer(&self, tx: u64) -> bool {
        let held = self.held_by.get();
        held != 0 && held != tx
    }

    /// Parks a request until the hold ends.
    pub fn defer(&self, req: Request<Worker>) {
        self.deferred.borrow_mut().push_back(req);
    }

    /// The next parked request that may run now.
    pub fn next_deferred(&self) -> Option<Request<Worker>> {
        let mut d = self.deferred.borrow_mut();
        let front_tx = d.front()?.tx;
        if self.must_defer(front_tx) {
            return None;
        }
        d.pop_front()
    }

    /// The per-thread timer: active expiry and the ops/s sample, `hz` times a second.
    pub fn spawn_cron(self: &Rc<Self>) {
        let w = Rc::clone(self);
        rt::spawn_local(async move {
            loop {
                let hz = w.shared.config.hz.load(Ordering::Relaxed).clamp(1, 500);
                rt::sleep(Duration::from_millis(1000 / hz as u64)).await;
                w.cron_tick();
            }
        });
    }

    fn cron_tick(&self) {
        // A busy script holds the shard and lets tasks run meanwhile: the
        // tick waits for the next one.
        if self.held_by.get() == BUSY_HOLD || self.shared.cron_paused.load(Ordering::Relaxed) {
            return;
        }
        // ops/s sample
        let now = now_ms();
        let cmds = self.stats.commands.get();
        let (t0, c0) = self.stats.last_sample.get();
        if t0 > 0 && now > t0 {
            let rate = (cmds - c0) * 1000 / (now - t0);
            let i = self.stats.ops_sample_idx.get();
            self.stats.ops_samples.borrow_mut()[i % 16] = rate;
            self.stats.ops_sample_idx.set(i + 1);
        }
        self.stats.last_sample.set((now, cmds));
        crate::host::sys::sample_peak();
        for f in &self.shared.hooks.on_tick {
            f(self);
        }
        if !self.shared.active_expire.load(Ordering::Relaxed) {
            return;
        }
        // Active expiry, bounded: a million keys expiring at once are removed
        // over many ticks, each spending at most ~2 ms. Then a few steps of
        // any table resize, so an idle shard still finishes its rehash.
        let start = Instant::now();
        let mut shard = self.shard.borrow_mut();
        while shard.ks.active_expire(now, 256) == 256 && start.elapsed() < Duration::from_millis(2)
        {
        }
        for db in shard.ks.dbs.iter_mut() {
            db.rehash(64);
        }
    }

    /// Zeroes this thread's INFO counters and its shard's (CONFIG
    /// RESETSTAT). The ops/s sampler starts over, as its baseline is gone.
    pub fn reset_stats(&self) {
        self.stats.commands.set(0);
        self.stats.evicted.set(0);
        for c in self.stats.cmds.iter() {
            c.calls.set(0);
            c.rejected.set(0);
            c.failed.set(0);
            c.ticks.set(0);
            c.hist.clear();
        }
        self.stats.subs.borrow_mut().clear();
        self.stats.errors.borrow_mut().clear();
        self.stats.last_sample.set((0, 0));
        let mut shard = self.shard.borrow_mut();
        shard.stats = Default::default();
        shard.ks.reset_stats();
    }

    pub fn instantaneous_ops(&self) -> u64 {
        let s = self.stats.ops_samples.borrow();
        s.iter().sum::<u64>() / 16
    }
}
