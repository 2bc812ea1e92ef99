//! Replication, the master's side: SYNC / PSYNC from replicas (real Redis
//! ones included), the backlog, WAIT, and what INFO and ROLE say of the
//! replicas.
//!
//! The replication stream is the journal (`engine/journal.rs`), the same
//! stream the AOF is written from: the AOF writer thread appends each
//! round's bytes to the [`Backlog`] too (adding SELECT where the database
//! changes, on its own count: a replica that starts at a cut gets a SELECT
//! first) and advances `master_repl_offset`. Each replica's link is a task
//! on the thread that read its PSYNC: it sends the backlog from its offset
//! on, and reads the replica's `REPLCONF ACK`s.
//!
//! A full resync takes the cut every snapshot takes (`persist::snapshot_to`,
//! every shard held at once); at the cut, journaling starts (if the AOF has
//! not started it) and the writer notes the offset there and keeps the
//! backlog from it until this replica has read it. The snapshot goes to the
//! replica (`+FULLRESYNC <replid> <offset>`, then `$<len>` and the RDB),
//! then the stream from that offset: the replica ends up with the state
//! at the cut plus every write after it, in order.
//!
//! A PSYNC with this server's replication ID (or the previous one, up to
//! where it ended) and an offset the backlog still holds continues with
//! `+CONTINUE`.
//!
//! A replica serves replicas of its own (chained replication) with its
//! master's stream byte for byte, as Redis does, so every replica of the
//! chain has the top master's replication ID and offsets and may PSYNC to
//! any node of it. Its backlog holds the bytes the link applied
//! ([`Ctl::Relay`], sent by `conn::follow` after each batch), not its own
//! journal (the writer skips that while it is a replica). A full sync of
//! a sub-replica needs a cut that is also a point of the master's stream:
//! the link stops between two batches (never inside a transaction),
//! answers the offset it applied, and goes on once every shard is held
//! ([`claim_for_sync`]); everything it applied before is in the snapshot and
//! everything after is in the backlog after the cut. When the replica
//! takes a new history (a full sync from its master) the backlog starts
//! over and the sub-replicas' links close: they ask again. A promotion
//! (REPLICAOF NO ONE) keeps the backlog, as Redis keeps it: the links close
//! so that the replicas learn the new replication ID, and each asks to
//! continue under the old one (`replid2`), which the backlog still serves
//! — the replicas of the old master too, once pointed here (PSYNC2).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use commands::Error;
use resp::encode;
use rt::net::TcpStream;

use crate::client::Client;
use crate::engine::journal;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};
use crate::features::replication;

type Argv<'a> = &'a [&'a [u8]];

/// The replication backlog: the last bytes of the stream, and the offsets
/// of the replicas still reading older ones.
pub struct Backlog {
    /// Offset of the byte before `buf[0]` (bytes are numbered from 1).
    start: u64,
    buf: VecDeque<u8>,
    /// The database the stream is at (None: the next frame SELECTs).
    pub db: Option<usize>,
    /// Per replica link: the offset it has sent up to (kept from trimming).
    pins: HashMap<u64, u64>,
    /// `repl-backlog-size`.
    limit: usize,
    /// The stream's offset (`master_repl_offset`).
    end: u64,
    /// Bumped when the backlog starts over on another history: the links
    /// feeding from the old one close.
    history: u64,
}

/// The most a lagging replica may keep in the backlog beyond its size
/// (Redis's `client-output-buffer-limit replica` hard limit).
const PIN_MAX: u64 = 256 << 20;

impl Backlog {
    /// Starts over at `offset` on another history.
    fn restart(&mut self, offset: u64) {
        self.history += 1;
        self.pins.clear();
        self.buf.clear();
        self.start = offset;
        self.end = offset;
        self.db = None;
    }

    /// Appends stream bytes; trims what no one needs.
    pub fn append(&mut self, bytes: &[u8]) {
        self.buf.extend(bytes);
        self.end += bytes.len() as u64;
        let floor = self.end.saturating_sub(self.limit as u64);
        let oldest_pin = self.pins.values().copied().min().unwrap_or(u64::MAX);
        let keep_from = floor.min(oldest_pin).max(self.end.saturating_sub(PIN_MAX));
        if keep_from > self.start {
            let n = ((keep_from - self.start) as usize).min(self.buf.len());
            self.buf.drain(..n);
            self.start += n as u64;
        }
    }

    /// The bytes after offset `from` (at most `max`); None when the
    /// backlog no longer holds them.
    fn after(&self, from: u64, max: usize) -> Option<Vec<u8>> {
        if from < self.start || from > self.end {
            return None;
        }
        let at = (from - self.start) as usize;
        let n = (self.buf.len() - at).min(max);
        Some(self.buf.range(at..at + n).copied().collect())
    }
}

/// One connected replica, for INFO, ROLE and WAIT.
#[derive(Clone)]
struct Replica {
    addr: String,
    port: u16,
    /// Sending the snapshot (`wait_bgsave` / `send_bulk`) or online.
    online: bool,
    /// The last offset it acknowledged, and when.
    ack: u64,
    ack_ms: u64,
}

/// The master side's process-wide state (registered in `Globals`).
pub struct State {
    /// A replica attached once: the stream is kept from then on (the
    /// journal stays on, the backlog fills), as Redis keeps its backlog.
    pub active: AtomicBool,
    pub backlog: Mutex<Backlog>,
    replicas: Mutex<HashMap<u64, Replica>>,
    /// Bumped by the writer after each round that added to the stream; the
    /// links wait on it (see [`wake_links`]).
    pub fed: AtomicU64,
    /// INFO stats: sync_full, sync_partial_ok, sync_partial_err.
    syncs: [AtomicU64; 3],
}

/// INFO stats' `sync_full`, `sync_partial_ok`, `sync_partial_err`.
pub fn sync_counts(w: &Worker) -> [u64; 3] {
    let s = &state(w).syncs;
    [0, 1, 2].map(|i| s[i].load(Ordering::Relaxed))
}

impl Default for State {
    fn default() -> State {
        State {
            active: AtomicBool::new(false),
            backlog: Mutex::new(Backlog {
                start: 0,
                buf: VecDeque::new(),
                db: None,
                pins: HashMap::new(),
                limit: 1 << 20,
                end: 0,
                history: 0,
            }),
            replicas: Mutex::new(HashMap::new()),
            fed: AtomicU64::new(0),
            syncs: Default::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

pub fn state(w: &Worker) -> &State {
    w.shared.global::<State>()
}

/// What the writer is asked for, in stream order (`journal::control`).
pub enum Ctl {
    /// A full resync's cut: the stream SELECTs anew, the backlog keeps
    /// from here for link `id`; answers the offset.
    Cut {
        id: u64,
        offset: crossbeam_channel::Sender<u64>,
    },
    /// The stream's offset once everything before is in it (WAIT).
    Offset(crossbeam_channel::Sender<u64>),
    /// Puts `REPLCONF GETACK *` in the stream.
    GetAck,
    /// A replica: its master's stream goes on at `offset` (`keep`: the
    /// same history, a partial resync; else a full sync started anew).
    Upstream { offset: u64, keep: bool },
    /// A replica: bytes of the master's stream the link applied.
    Relay(Vec<u8>),
    /// A replica became a master: the relayed stream ends and this
    /// server's own writes follow it in the same backlog; the links close
    /// (the replicas learn the new ID when they ask to continue).
    Promoted,
}

/// The writer's side: adds a batch's frames to the stream.
pub fn append_frames(st: &State, bytes: &[u8]) -> bool {
    if !st.active.load(Ordering::Acquire) {
        return false;
    }
    let mut b = lock(&st.backlog);
    let mut out = Vec::new();
    for (first, last, body) in journal::frames(bytes) {
        if b.db != Some(first) {
            journal::encode_select(&mut out, first);
        }
        out.extend_from_slice(body);
        b.db = Some(last);
    }
    if out.is_empty() {
        return false;
    }
    b.append(&out);
    true
}

/// The writer's side: a control message of this module.
pub fn control(st: &State, repl: &replication::State, ctl: Ctl) -> bool {
    let mut b = lock(&st.backlog);
    match ctl {
        Ctl::Cut { id, offset } => {
            if !st.active.swap(true, Ordering::AcqRel) {
                // The stream starts here, at this server's offset.
                let at = repl.offset.load(Ordering::Acquire).max(0) as u64;
                b.start = at;
                b.end = at;
                b.buf.clear();
            }
            b.db = None;
            let at = b.end;
            b.pins.insert(id, at);
            let _ = offset.send(at);
            false
        }
        Ctl::Offset(tx) => {
            let _ = tx.send(b.end);
            false
        }
        Ctl::GetAck => {
            if repl.replica.load(Ordering::Acquire) {
                return false;
            }
            let mut out = Vec::new();
            journal::encode(&mut out, &[b"REPLCONF", b"GETACK", b"*"]);
            b.append(&out);
            true
        }
        Ctl::Upstream { offset, keep } => {
            let same = keep && st.active.load(Ordering::Acquire) && b.end == offset;
            if !same {
                b.restart(offset);
                st.active.store(true, Ordering::Release);
            }
            b.db = None;
            true
        }
        Ctl::Relay(bytes) => {
            if !st.active.load(Ordering::Acquire) {
                return false;
            }
            b.append(&bytes);
            true
        }
        Ctl::Promoted => {
            b.history += 1;
            b.pins.clear();
            b.db = None;
            true
        }
    }
}

/// The writer's side: a PING in the stream (the replicas' keepalive).
pub fn ping(st: &State) -> bool {
    let mut out = Vec::new();
    journal::encode(&mut out, &[b"PING"]);
    lock(&st.backlog).append(&out);
    true
}

/// After the writer added to the stream: this server's offset follows it
/// (a replica's is the link's), and the links are woken.
pub fn fed(st: &State, repl: &replication::State) {
    if !repl.replica.load(Ordering::Acquire) {
        let end = lock(&st.backlog).end;
        repl.offset.store(end as i64, Ordering::Release);
    }
    st.fed.fetch_add(1, Ordering::AcqRel);
}

/// Claims the snapshot machinery for a full sync. A replica serving a
/// replica of its own (`chained`) also stops its link to the master
/// between two batches; the handle returned lets the link go on when
/// dropped (at the cut). On failure nothing stays claimed.
async fn claim_for_sync(
    w: &Worker,
    chained: bool,
) -> Result<Option<crossbeam_channel::Sender<()>>, String> {
    crate::features::persist::claim_snapshot(w).await;
    if !chained {
        return Ok(None);
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    replication::state(w).ask_pause(tx);
    match rt::off_thread(move || rx.recv_timeout(Duration::from_secs(5))).await {
        Ok((_, go_on)) => Ok(Some(go_on)),
        Err(_) => {
            crate::features::persist::release_snapshot(w);
            Err("the link with my master did not stop for the cut".to_string())
        }
    }
}

thread_local! {
    /// The links on this thread waiting for more stream.
    static WAITING: std::cell::RefCell<Vec<Waker>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Wakes this thread's links (a job the writer posts).
pub fn wake_links() {
    for w in WAITING.with(|v| std::mem::take(&mut *v.borrow_mut())) {
        w.wake();
    }
}

/// `SYNC` / `PSYNC replid offset` from a replica: the connection becomes
/// its link until it closes.
pub async fn serve(w: &Worker, stream: &mut TcpStream, client: &Client, argv: Argv<'_>) {
    let rst = replication::state(w);
    // `PSYNC replid offset FAILOVER` from this replica's master (its
    // FAILOVER command picked us): become the master first, then answer
    // the PSYNC as one, under the new ID with the old one as replid2.
    if argv.len() > 3 && argv[3].eq_ignore_ascii_case(b"failover") {
        let mine = rst.with(|s| s.replid.clone());
        if !rst.replica.load(Ordering::Acquire) || argv[1] != mine.as_bytes() {
            let _ = stream
                .write_all(b"-ERR PSYNC FAILOVER replid must match my replid.\r\n")
                .await;
            return;
        }
        let who = client.info.borrow().line(now_ms() / 1000);
        replication::promote(w, &format!("failover request from '{}'", who.trim_end()));
    }
    if rst.failover.load(Ordering::Acquire) != replication::FAILOVER_NONE {
        let _ = stream
            .write_all(b"-NOMASTERLINK Can't SYNC while failing over\r\n")
            .await;
        return;
    }
    let chained = rst.replica.load(Ordering::Acquire);
    if chained && !rst.link_up.load(Ordering::Acquire) {
        let _ = stream
            .write_all(b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n")
            .await;
        return;
    }
    let st = state(w);
    let id = client.id;
    client.info.borrow_mut().is_replica = true;
    let addr = client.info.borrow().addr.clone();
    let ip = addr
        .rsplit_once(':')
        .map_or(addr.clone(), |(h, _)| h.to_string());
    let port = client.info.borrow().repl_port;
    let (replid, replid2, second) =
        rst.with(|r| (r.replid.clone(), r.replid2.clone(), r.second_offset));
    // A partial resync, if the backlog has what the replica asks for.
    let asked = (argv.len() == 3 && argv[0].eq_ignore_ascii_case(b"psync")).then(|| {
        (
            String::from_utf8_lossy(argv[1]).to_string(),
            std::str::from_utf8(argv[2])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(-1),
        )
    });
    let mut from = None;
    if let Some((id_asked, off)) = &asked {
        let ours = *id_asked == replid || (*id_asked == replid2 && *off <= second);
        if ours && *off > 0 && st.active.load(Ordering::Acquire) {
            let mut b = lock(&st.backlog);
            let want = (*off - 1) as u64;
            if want >= b.start && want <= b.end {
                b.pins.insert(id, want);
                from = Some(want);
            }
        }
    }
    let counted = match (&from, &asked) {
        (Some(_), _) => 1,
        // A PSYNC that asked to continue (not `?`) and could not.
        (None, Some((id_asked, _))) if id_asked != "?" => 2,
        _ => 0,
    };
    st.syncs[counted].fetch_add(1, Ordering::Relaxed);
    if counted == 2 {
        st.syncs[0].fetch_add(1, Ordering::Relaxed);
    }
    // After a diskless snapshot the stream waits for the replica's first
    // ACK, as Redis's does: it tells where the snapshot ended.
    let mut wait_ack = false;
    let from = match from {
        Some(f) => {
            log::info!("Partial resynchronization request from {addr} accepted. Sending {} bytes of backlog starting from offset {}.", lock(&st.backlog).end - f, f + 1);
            if stream
                .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
                .await
                .is_err()
            {
                lock(&st.backlog).pins.remove(&id);
                return;
            }
            f
        }
        None => {
            log::info!("Replica {addr} asks for synchronization");
            let psync = argv[0].eq_ignore_ascii_case(b"psync");
            let diskless =
                client.info.borrow().repl_eof && w.shared.config.text("repl-diskless-sync") != "no";
            wait_ack = diskless;
            let synced = if diskless {
                diskless_sync(w, stream, id, &replid, chained).await
            } else {
                full_sync(w, stream, id, &replid, psync, chained).await
            };
            match synced {
                Ok(f) => f,
                Err(e) => {
                    log::warn!("Full resync with replica {addr} failed: {e}");
                    lock(&st.backlog).pins.remove(&id);
                    return;
                }
            }
        }
    };
    lock(&st.replicas).insert(
        id,
        Replica {
            addr: ip,
            port,
            online: true,
            ack: from,
            ack_ms: now_ms(),
        },
    );
    log::info!("Synchronization with replica {addr} succeeded");
    let history = lock(&st.backlog).history;
    let result = feed(w, stream, id, from, history, wait_ack).await;
    if let Err(e) = result {
        log::info!("Connection with replica {addr} lost: {e}");
    }
    lock(&st.backlog).pins.remove(&id);
    lock(&st.replicas).remove(&id);
}

/// A full sync's cut, with every shard held: the stream starts here for
/// link `id` (the writer answers the offset on `tx`). A master's journal
/// turns on here; a replica's stopped link (`link`) goes on once the cut
/// is queued behind the bytes it relayed before it stopped.
fn at_cut(
    id: u64,
    tx: crossbeam_channel::Sender<u64>,
    link: Option<crossbeam_channel::Sender<()>>,
) {
    if link.is_none() {
        journal::set_on(true);
    }
    journal::control(Box::new(Ctl::Cut { id, offset: tx }));
    drop(link);
}

/// The snapshot at a cut, sent as `+FULLRESYNC` (to PSYNC; the old SYNC
/// gets no such line), `$<len>` and the RDB; returns the offset the
/// stream goes on from.
async fn full_sync(
    w: &Worker,
    stream: &mut TcpStream,
    id: u64,
    replid: &str,
    psync: bool,
    chained: bool,
) -> Result<u64, String> {
    let r = Route::plain(w);
    let path = crate::features::persist::dump_path(w)
        .with_file_name(format!("temp-sync-{}-{id}.rdb", std::process::id()));
    let (tx, rx) = crossbeam_channel::bounded(1);
    let link = claim_for_sync(w, chained).await?;
    log::info!("Starting BGSAVE for SYNC with target: disk");
    let saved = crate::features::persist::snapshot_to(&r, &path, false, move || {
        at_cut(id, tx, link);
    })
    .await;
    crate::features::persist::release_snapshot(w);
    saved?;
    let offset = rt::off_thread(move || rx.recv().map_err(|e| e.to_string())).await?;
    let bytes = std::fs::read(&path).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    let bytes = bytes?;
    let io = |e: std::io::Error| e.to_string();
    let head = if psync {
        format!("+FULLRESYNC {replid} {offset}\r\n${}\r\n", bytes.len())
    } else {
        format!("${}\r\n", bytes.len())
    };
    stream.write_all(head.as_bytes()).await.map_err(io)?;
    stream.write_all(&bytes).await.map_err(io)?;
    Ok(offset)
}

/// A diskless full sync (`repl-diskless-sync yes`, to a replica that said
/// `capa eof`): `+FULLRESYNC`, then the snapshot straight from the shards'
/// walks to the socket between `$EOF:<mark>` and the mark, no file.
async fn diskless_sync(
    w: &Worker,
    stream: &mut TcpStream,
    id: u64,
    replid: &str,
    chained: bool,
) -> Result<u64, String> {
    let r = Route::plain(w);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let mark = replication::random_id();
    let link = claim_for_sync(w, chained).await?;
    log::info!("Starting BGSAVE for SYNC with target: replicas sockets");
    let mut offset = None;
    let sent = crate::features::persist::snapshot_stream(
        &r,
        move || {
            at_cut(id, tx, link);
        },
        async |bytes: Vec<u8>| {
            if offset.is_none() {
                let rx = rx.clone();
                let at = rt::off_thread(move || rx.recv().map_err(|e| e.to_string())).await?;
                let head = format!("+FULLRESYNC {replid} {at}\r\n$EOF:{mark}\r\n");
                stream
                    .write_all(head.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                offset = Some(at);
            }
            stream.write_all(&bytes).await.map_err(|e| e.to_string())
        },
    )
    .await;
    crate::features::persist::release_snapshot(w);
    sent?;
    stream
        .write_all(mark.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    offset.ok_or_else(|| "the snapshot sent nothing".to_string())
}

/// A link's life after the sync: the stream from `from` on, and the
/// replica's ACKs.
async fn feed(
    w: &Worker,
    stream: &mut TcpStream,
    id: u64,
    mut from: u64,
    history: u64,
    mut wait_ack: bool,
) -> std::io::Result<()> {
    let st = state(w);
    let mut input = vec![0u8; 4096];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let chunk = {
            let b = lock(&st.backlog);
            if b.history != history {
                return Err(std::io::Error::other(
                    "the stream started over (a new history): the replica must sync again",
                ));
            }
            b.after(from, 1 << 20)
        };
        let Some(chunk) = chunk else {
            return Err(std::io::Error::other("the replica fell behind the backlog"));
        };
        if !chunk.is_empty() && !wait_ack {
            stream.write_all(&chunk).await?;
            from += chunk.len() as u64;
            if let Some(p) = lock(&st.backlog).pins.get_mut(&id) {
                *p = from;
            }
            continue;
        }
        // Nothing to send: wait for more stream or for the replica.
        let seen = st.fed.load(Ordering::Acquire);
        let got = {
            let mut read = std::pin::pin!(stream.read(&mut input, None));
            std::future::poll_fn(|cx| {
                if st.fed.load(Ordering::Acquire) != seen {
                    return Poll::Ready(None);
                }
                if let Poll::Ready(r) = std::future::Future::poll(read.as_mut(), cx) {
                    return Poll::Ready(Some(r));
                }
                WAITING.with(|v| v.borrow_mut().push(cx.waker().clone()));
                if st.fed.load(Ordering::Acquire) != seen {
                    return Poll::Ready(None);
                }
                Poll::Pending
            })
            .await
        };
        match got {
            None => {}
            Some(Ok(0)) => return Ok(()),
            Some(Ok(n)) => {
                pending.extend_from_slice(&input[..n]);
                if take_acks(st, id, &mut pending) {
                    wait_ack = false;
                }
            }
            Some(Err(e)) => return Err(e),
        }
    }
}

/// Reads `REPLCONF ACK <offset>` commands (and anything else, ignored)
/// from what the replica sent.
fn take_acks(st: &State, id: u64, pending: &mut Vec<u8>) -> bool {
    use resp::Frame;
    let mut acked = false;
    loop {
        match resp::frame::parse_frame(pending) {
            Ok(Some((frame, used))) => {
                if let Frame::Array(items) = &frame {
                    let arg = |i: usize| match items.get(i) {
                        Some(Frame::Bulk(b)) => b.as_slice(),
                        _ => &[],
                    };
                    if arg(0).eq_ignore_ascii_case(b"replconf")
                        && arg(1).eq_ignore_ascii_case(b"ack")
                    {
                        let off = std::str::from_utf8(arg(2))
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok());
                        if let (Some(off), Some(r)) = (off, lock(&st.replicas).get_mut(&id)) {
                            r.ack = r.ack.max(off);
                            r.ack_ms = now_ms();
                            acked = true;
                        }
                    }
                }
                pending.drain(..used);
            }
            Ok(None) => return acked,
            Err(_) => {
                pending.clear();
                return acked;
            }
        }
    }
}

/// `WAIT numreplicas timeout`
pub async fn wait(w: &Worker, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let n = commands::args::parse_i64(argv[1]).ok_or(Error::NotInteger)?;
    let timeout = commands::args::parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    if timeout < 0 {
        return Err(Error::Static("ERR timeout is negative"));
    }
    if replication::state(w).replica.load(Ordering::Acquire) {
        return Err(Error::Static(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    let st = state(w);
    let count = |target: u64| {
        lock(&st.replicas)
            .values()
            .filter(|r| r.online && r.ack >= target)
            .count() as i64
    };
    if !st.active.load(Ordering::Acquire) {
        encode::integer(out, 0);
        return Ok(());
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    journal::control(Box::new(Ctl::Offset(tx)));
    let target = rt::off_thread(move || rx.recv().unwrap_or(0)).await;
    let mut got = count(target);
    if got < n {
        journal::control(Box::new(Ctl::GetAck));
        let deadline =
            (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
        while got < n && deadline.is_none_or(|d| Instant::now() < d) {
            rt::sleep(Duration::from_millis(10)).await;
            got = count(target);
        }
    }
    encode::integer(out, got);
    Ok(())
}

/// One replica as FAILOVER sees it.
pub struct ReplicaAck {
    pub ip: String,
    pub port: u16,
    pub online: bool,
    pub ack: u64,
}

/// This master's replicas and the offsets they acknowledged.
pub fn replica_offsets(w: &Worker) -> Vec<ReplicaAck> {
    lock(&state(w).replicas)
        .values()
        .map(|r| ReplicaAck {
            ip: r.addr.clone(),
            port: r.port,
            online: r.online,
            ack: r.ack,
        })
        .collect()
}

/// The stream's offset once every write made before this call is in it.
pub async fn stream_offset(w: &Worker) -> u64 {
    if !state(w).active.load(Ordering::Acquire) {
        return 0;
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    journal::control(Box::new(Ctl::Offset(tx)));
    rt::off_thread(move || rx.recv().unwrap_or(0)).await
}

/// Waits until the stream holds every write made before this call (the
/// journal is written behind the replies): INFO's `master_repl_offset`
/// then counts them all, as Redis's does.
pub async fn settle(w: &Worker) {
    if !state(w).active.load(Ordering::Acquire) {
        return;
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    journal::control(Box::new(Ctl::Offset(tx)));
    let _ = rt::off_thread(move || rx.recv()).await;
}

/// ROLE's list of replicas: `[ip, port, offset]` each.
fn role_replicas(w: &Worker, out: &mut Vec<u8>) {
    let reps: Vec<Replica> = lock(&state(w).replicas).values().cloned().collect();
    encode::array_len(out, reps.len());
    for r in reps {
        encode::array_len(out, 3);
        encode::bulk(out, r.addr.as_bytes());
        encode::bulk(out, r.port.to_string().as_bytes());
        encode::bulk(out, r.ack.to_string().as_bytes());
    }
}

/// INFO's replication section: the replica's side (`replication.rs`),
/// the replicas, the IDs and offset, the backlog.
pub fn info(w: &Route<'_>, s: &mut String) {
    replication::info_head(w, s);
    info_replicas(w, s);
    replication::info_ids(w, s);
    info_backlog(w, s);
    s.push_str("\r\n");
}

/// ROLE, with this master's replicas.
pub fn role(w: &Route<'_>, out: &mut Vec<u8>) {
    replication::role(w, out, |out| role_replicas(w, out));
}

fn info_replicas(w: &Worker, s: &mut String) {
    use std::fmt::Write as _;
    let reps: Vec<Replica> = lock(&state(w).replicas).values().cloned().collect();
    let _ = write!(s, "connected_slaves:{}\r\n", reps.len());
    let now = now_ms();
    for (i, r) in reps.iter().enumerate() {
        let _ = write!(
            s,
            "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
            r.addr,
            r.port,
            if r.online { "online" } else { "wait_bgsave" },
            r.ack,
            now.saturating_sub(r.ack_ms) / 1000
        );
    }
}

/// INFO's backlog fields.
fn info_backlog(w: &Worker, s: &mut String) {
    use std::fmt::Write as _;
    let st = state(w);
    let b = lock(&st.backlog);
    let active = st.active.load(Ordering::Acquire);
    let _ = write!(
        s,
        "repl_backlog_active:{}\r\nrepl_backlog_size:{}\r\nrepl_backlog_first_byte_offset:{}\r\nrepl_backlog_histlen:{}\r\n",
        u8::from(active),
        b.limit,
        if active { b.start + 1 } else { 0 },
        b.buf.len()
    );
}

/// `min-replicas-to-write` / `-max-lag`, checked once a second as Redis
/// does (thread 0's tick): writes are refused while fewer replicas than
/// asked have acknowledged within the lag.
pub fn check_good_replicas(w: &Worker) {
    let c = &w.shared.config;
    let min: usize = c.other("min-replicas-to-write").parse().unwrap_or(0);
    let rst = replication::state(w);
    if min == 0 {
        rst.noreplicas.store(false, Ordering::Relaxed);
        return;
    }
    let lag: u64 = c.other("min-replicas-max-lag").parse().unwrap_or(10);
    let now = now_ms();
    let good = lock(&state(w).replicas)
        .values()
        .filter(|r| r.online && now.saturating_sub(r.ack_ms) <= lag * 1000)
        .count();
    rst.noreplicas.store(good < min, Ordering::Relaxed);
}

/// `repl-backlog-size` from the configuration.
pub fn apply_config(w: &Worker) {
    let size = w
        .shared
        .config
        .other("repl-backlog-size")
        .parse::<usize>()
        .unwrap_or(1 << 20)
        .max(16 * 1024);
    lock(&state(w).backlog).limit = size;
}
