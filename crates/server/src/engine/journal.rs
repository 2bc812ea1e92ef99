//! The journal: every shard's writes as one ordered stream of effects,
//! which the AOF (and the replication stream, which is the same stream)
//! is written from.
//!
//! # The order, and why it is a serial order of the server
//!
//! Each thread appends the effects of the writes it runs to its own buffer
//! (no lock, no shared counter per command) and hands the buffer to one
//! channel that the journal's writer reads (`features/aof.rs`). The rule
//! that makes the channel's order valid:
//!
//! > a thread *seals* its buffer — hands it to the channel — before any
//! > message leaves the thread: a job, a reply to a job, a chain step
//! > (`mesh.rs` calls [`seal`]), and a reply written to a client's socket
//! > (`conn`).
//!
//! Whatever learns of a write — a client that reads its reply, a client
//! that reads the key afterwards, a transaction that passes the shard
//! next — learns of it through such a message, so the write's bytes are in
//! the channel before anything that depends on it can even run. The
//! channel is linearizable, so its order is a linear extension of
//! happens-before: it keeps each shard's order, each connection's order,
//! and every cause before its effect. Two writes that no message connects
//! commute (different keys, different shards), so any order between them
//! is one the server could have run. No logical clock is needed: the
//! causal order is carried by the seals themselves.
//!
//! A write over several shards (MSET, RENAME, EXEC, a script across
//! shards, FLUSHALL) is recorded whole by the code that runs it, while its
//! transaction holds the shards (`tx.rs`): nothing else runs there until
//! the release, and the release is a message, so the record precedes
//! anything that runs after it. The shards' own runs of its parts record
//! nothing ([`set_held`], [`quiet`]). This is also why, while the journal
//! is on, writes over several shards take holds rather than one-step
//! chains: a chain's parts run at different moments on different shards,
//! and no single place in the stream would be right for the whole.
//!
//! The stream itself is Redis's propagation form (absolute expiry times,
//! SPOP as SREM, ...: `commands::propagate`), one frame per effect, tagged
//! with its database; the writer adds SELECT where the database changes.
//!
//! # Durability
//!
//! With `appendfsync always` a client's reply waits until every write it
//! depends on is on disk: [`durable`] seals this thread's buffer with a
//! sequence number and waits until the writer reports that number synced
//! (one fsync covers everything the writer has read by then: group commit).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::task::Waker;

use crossbeam_channel::{Receiver, Sender};

/// Whether writes are journaled at all (the AOF is on, or replicas are
/// fed). Read on every write command; set only while every shard is held.
static ON: AtomicBool = AtomicBool::new(false);

/// Whether replies wait for the writer's fsync (`appendfsync always`).
static WAIT: AtomicU8 = AtomicU8::new(0);

/// What the writer reads.
pub enum Msg {
    /// A thread's sealed buffer: frames (see [`frames`]).
    Batch {
        thread: usize,
        seq: u64,
        bytes: Vec<u8>,
    },
    /// A feature's own instruction to the writer, in stream order.
    Ctl(Box<dyn std::any::Any + Send>),
}

struct Wiring {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    /// Per thread: the highest sequence number the writer made durable.
    durable: Box<[AtomicU64]>,
}

static WIRING: OnceLock<Wiring> = OnceLock::new();

/// Creates the channel for `threads` threads (once, at start).
pub fn init(threads: usize) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let durable = (0..threads).map(|_| AtomicU64::new(0)).collect();
    let _ = WIRING.set(Wiring { tx, rx, durable });
}

/// The writer's end of the channel.
pub fn receiver() -> Option<Receiver<Msg>> {
    WIRING.get().map(|w| w.rx.clone())
}

/// Sends a control message in stream order (after everything this thread
/// sealed, and after everything that happened before this call).
pub fn control(msg: Box<dyn std::any::Any + Send>) {
    seal();
    if let Some(w) = WIRING.get() {
        let _ = w.tx.send(Msg::Ctl(msg));
    }
}

pub fn is_on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Turns journaling on or off. Call while every shard is held (the cut),
/// so that each write is either before it (in the snapshot) or after it
/// (in the stream).
pub fn set_on(on: bool) {
    ON.store(on, Ordering::Relaxed);
    storage::notify::set_propagate(on);
}

/// Records the keys that expired or were evicted here as DEL, as Redis
/// propagates them (before the effect of the command that found them
/// expired, and before anything leaves the thread: [`seal`]).
pub fn record_gone() {
    for (db, key) in storage::notify::take_gone() {
        record(db, &[b"DEL", &key]);
    }
}

/// Whether replies wait for the writer's fsync.
pub fn waits() -> bool {
    WAIT.load(Ordering::Relaxed) != 0
}

/// Makes replies wait for the writer's fsync (`appendfsync always`).
pub fn set_wait(wait: bool) {
    WAIT.store(u8::from(wait), Ordering::Relaxed);
}

/// Frame header: first database, last database, length of the RESP bytes.
const HEADER: usize = 8;

struct Local {
    thread: usize,
    buf: Vec<u8>,
    seq: u64,
    /// Open groups (MULTI/EXEC): depth, the outer frame's start, the
    /// database the frame is at now, whether anything was recorded in it.
    depth: u32,
    frame: usize,
    frame_db: usize,
    recorded: bool,
    /// This shard is held by a transaction: its holder records.
    held: bool,
    /// Recording suppressed here (a scratch shard's run, see [`quiet`]).
    quiet: u32,
    /// Records go here instead (see [`capture`]).
    capture: Option<Block>,
    tx: Option<Sender<Msg>>,
    waiters: Vec<(u64, Waker)>,
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local {
        thread: 0,
        buf: Vec::new(),
        seq: 0,
        depth: 0,
        frame: 0,
        frame_db: 0,
        recorded: false,
        held: false,
        quiet: 0,
        capture: None,
        tx: None,
        waiters: Vec::new(),
    }) };
    static NONEMPTY: Cell<bool> = const { Cell::new(false) };
}

/// Names this thread (its index, for durability reports).
pub fn set_thread(id: usize) {
    LOCAL.with(|l| l.borrow_mut().thread = id);
}

/// Marks this thread's shard held (or released) by a transaction.
pub fn set_held(held: bool) {
    LOCAL.with(|l| l.borrow_mut().held = held);
}

/// Runs `f` with the shard commands it runs recording nothing (their
/// caller records the whole).
pub fn quiet<R>(f: impl FnOnce() -> R) -> R {
    LOCAL.with(|l| l.borrow_mut().quiet += 1);
    let r = f();
    LOCAL.with(|l| l.borrow_mut().quiet -= 1);
    r
}

/// Runs `f` with what the shard commands it runs record collected into a
/// [`Block`] (whatever holds this thread's shard): a transaction's
/// coordinator running a script over copies of keys (`fanout::over_copies`)
/// records the script's effects itself, while it holds their shards.
pub fn capture<R>(db: usize, f: impl FnOnce() -> R) -> (R, Block) {
    let outer = LOCAL.with(|l| l.borrow_mut().capture.replace(Block::new(db)));
    let r = f();
    let block = LOCAL.with(|l| std::mem::replace(&mut l.borrow_mut().capture, outer));
    (r, block.unwrap_or_else(|| Block::new(db)))
}

/// Whether a shard command run here now should record its effect.
#[inline]
pub fn recording_here() -> bool {
    is_on()
        && LOCAL.with(|l| {
            let l = l.borrow();
            l.capture.is_some() || (!l.held && l.quiet == 0)
        })
}

/// Records one command (already in propagation form) run on database `db`.
pub fn record(db: usize, argv: &[&[u8]]) {
    if !is_on() {
        return;
    }
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let l = &mut *l;
        if let Some(block) = &mut l.capture {
            block.push(db, argv);
            return;
        }
        if l.depth > 0 {
            if db != l.frame_db {
                encode_select(&mut l.buf, db);
                l.frame_db = db;
            }
            encode(&mut l.buf, argv);
            l.recorded = true;
            return;
        }
        let start = l.buf.len();
        l.buf.extend_from_slice(&[0; HEADER]);
        encode(&mut l.buf, argv);
        patch(&mut l.buf, start, db, db);
    });
    NONEMPTY.with(|n| n.set(true));
}

/// Opens a group: what is recorded until the matching [`end_group`] is one
/// MULTI/EXEC block (nothing, if nothing was recorded). Groups nest; only
/// the outermost one frames.
pub fn begin_group(db: usize) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if l.capture.is_some() {
            return;
        }
        l.depth += 1;
        if l.depth == 1 {
            let start = l.buf.len();
            l.frame = start;
            l.frame_db = db;
            l.recorded = false;
            l.buf.extend_from_slice(&[0; HEADER]);
            encode(&mut l.buf, &[b"MULTI"]);
            // The first database is patched in at the end.
            l.buf[start..start + 2].copy_from_slice(&(db as u16).to_le_bytes());
        }
    });
}

pub fn end_group() {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let l = &mut *l;
        if l.depth == 0 || l.capture.is_some() {
            return;
        }
        l.depth -= 1;
        if l.depth > 0 {
            return;
        }
        if !l.recorded {
            l.buf.truncate(l.frame);
            return;
        }
        encode(&mut l.buf, &[b"EXEC"]);
        let first = u16::from_le_bytes([l.buf[l.frame], l.buf[l.frame + 1]]) as usize;
        patch(&mut l.buf, l.frame, first, l.frame_db);
        NONEMPTY.with(|n| n.set(true));
    });
}

fn patch(buf: &mut [u8], start: usize, first_db: usize, last_db: usize) {
    let len = (buf.len() - start - HEADER) as u32;
    buf[start..start + 2].copy_from_slice(&(first_db as u16).to_le_bytes());
    buf[start + 2..start + 4].copy_from_slice(&(last_db as u16).to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
}

/// Hands this thread's recorded frames to the writer. Called before any
/// message leaves the thread (see the module doc); costs one thread-local
/// read when there is nothing.
#[inline]
pub fn seal() {
    if storage::notify::gone_pending() {
        record_gone();
    }
    if NONEMPTY.with(Cell::get) {
        send(false);
    }
}

/// Sends the buffer (even empty, when `marker`); returns its sequence number.
#[cold]
fn send(marker: bool) -> u64 {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if l.depth > 0 && !marker {
            // Inside an open group nothing may leave half-framed; the
            // group's end seals it whole (a group never spans a message).
            return l.seq;
        }
        NONEMPTY.with(|n| n.set(false));
        let Some(wiring) = WIRING.get() else {
            l.buf.clear();
            return l.seq;
        };
        l.seq += 1;
        let bytes = std::mem::take(&mut l.buf);
        let tx = l.tx.get_or_insert_with(|| wiring.tx.clone()).clone();
        let (thread, seq) = (l.thread, l.seq);
        drop(l);
        let _ = tx.send(Msg::Batch { thread, seq, bytes });
        seq
    })
}

/// Waits, when `appendfsync always` asks for it, until everything this
/// connection's replies depend on is on disk: seals this thread's buffer
/// as a numbered batch and waits for the writer to report it synced.
pub async fn durable() {
    if WAIT.load(Ordering::Relaxed) == 0 || !is_on() {
        seal();
        return;
    }
    if storage::notify::gone_pending() {
        record_gone();
    }
    let seq = send(true);
    let Some(wiring) = WIRING.get() else {
        return;
    };
    let thread = LOCAL.with(|l| l.borrow().thread);
    std::future::poll_fn(|cx| {
        if wiring.durable[thread].load(Ordering::Acquire) >= seq || !is_on() {
            return std::task::Poll::Ready(());
        }
        LOCAL.with(|l| l.borrow_mut().waiters.push((seq, cx.waker().clone())));
        std::task::Poll::Pending
    })
    .await
}

/// The writer's report: thread `thread`'s batches up to `seq` are durable.
pub fn mark_durable(thread: usize, seq: u64) {
    if let Some(w) = WIRING.get() {
        w.durable[thread].fetch_max(seq, Ordering::AcqRel);
    }
}

/// Wakes this thread's connections waiting in [`durable`] (run on the
/// thread, by a job the writer posts after an fsync).
pub fn wake_durable() {
    let Some(wiring) = WIRING.get() else {
        return;
    };
    let waiters = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let done = wiring.durable[l.thread].load(Ordering::Acquire);
        let on = is_on();
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut l.waiters)
            .into_iter()
            .partition(|(s, _)| *s <= done || !on);
        l.waiters = wait;
        ready
    });
    for (_, w) in waiters {
        w.wake();
    }
}

/// One frame of a sealed batch: (first db, last db, RESP bytes).
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = (usize, usize, &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let h = bytes.get(at..at + HEADER)?;
        let first = u16::from_le_bytes([h[0], h[1]]) as usize;
        let last = u16::from_le_bytes([h[2], h[3]]) as usize;
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let body = bytes.get(at + HEADER..at + HEADER + len)?;
        at += HEADER + len;
        Some((first, last, body))
    })
}

/// A command as Redis writes it to its AOF and streams it to replicas
/// (`storage::aof` owns the format).
pub use storage::aof::{encode_command as encode, encode_select};

/// A block recorded whole, built across await points by the code that
/// runs a transaction over several shards (EXEC, a script, a command over
/// several shards): it reaches the thread's buffer only in [`Block::commit`],
/// so nothing another connection records meanwhile lands inside it.
pub struct Block {
    first_db: usize,
    db: usize,
    bytes: Vec<u8>,
    commands: usize,
}

impl Block {
    pub fn new(db: usize) -> Block {
        Block {
            first_db: db,
            db,
            bytes: Vec::new(),
            commands: 0,
        }
    }

    pub fn push(&mut self, db: usize, argv: &[&[u8]]) {
        if self.commands > 0 && db != self.db {
            encode_select(&mut self.bytes, db);
        } else if self.commands == 0 {
            self.first_db = db;
        }
        self.db = db;
        encode(&mut self.bytes, argv);
        self.commands += 1;
    }

    /// Records the block: one command as itself, several inside
    /// MULTI/EXEC (`wrap` forces the MULTI/EXEC, as EXEC's own block has).
    pub fn commit(self, wrap: bool) {
        if self.commands == 0 || !is_on() {
            return;
        }
        LOCAL.with(|l| {
            let mut l = l.borrow_mut();
            let start = l.buf.len();
            l.buf.extend_from_slice(&[0; HEADER]);
            let wrap = wrap || self.commands > 1;
            if wrap {
                encode(&mut l.buf, &[b"MULTI"]);
            }
            l.buf.extend_from_slice(&self.bytes);
            if wrap {
                encode(&mut l.buf, &[b"EXEC"]);
            }
            patch(&mut l.buf, start, self.first_db, self.db);
        });
        NONEMPTY.with(|n| n.set(true));
    }
}
