//! One client connection: read, parse every whole command in the buffer,
//! execute or route each, write the replies once per batch.
//!
//! Ordering: a connection's commands take effect in the order it sent them.
//! Commands for this thread's shard run inline at once; consecutive commands
//! for one other shard are packed into one job (a *group*) that is sent when
//! the target changes, a command needs this thread, or the batch ends. A group
//! is awaited before anything after it runs, so no command is ever dispatched
//! before every earlier command of its connection has executed, and replies
//! land in the output buffer in request order.

pub mod dispatch;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rt::net::TcpStream;
use std::any::Any;

use commands::table::{flags, CommandSpec, ShardFn};
use commands::{Error, Handler, Shard};
use resp::{Limits, Status};
use storage::db::PREFETCH_MAX;

use crate::client::{Client, Flow, ReplyMode};
use crate::engine::tx::Route;
use crate::engine::worker::{exec, now_ms, ClientInfo, Job, Worker};
use crate::features::command::full_name;

/// Commands bound for one remote shard, packed to travel as one job; the
/// same value comes back with their replies (see [`Group::take`]).
struct Group {
    target: usize,
    db: usize,
    resp3: bool,
    /// Run already, on this thread, as its commands joined the window
    /// (read-only commands for this shard: see [`Window::run_local`]).
    ran: bool,
    data: Vec<u8>,
    ranges: Vec<(u32, u32)>,
    cmds: Vec<(&'static CommandSpec, u32)>,
    /// Progress, for a group that stopped at a locked key and resumes.
    next: usize,
    next_arg: usize,
    out: Vec<u8>,
    ends: Vec<u32>,
}

/// How far a group got.
enum Ran {
    /// Every command ran; the replies are in `out`, each ending at its `ends`.
    Done(Group),
    /// Stopped at a command whose key (db, key) is locked by a migration.
    Blocked(Group, Vec<u8>),
}

/// Groups kept for reuse on this thread, at most this many, each holding
/// at most `SPARE_BYTES` of buffers.
const SPARE_MAX: usize = 64;
const SPARE_BYTES: usize = 64 * 1024;

thread_local! {
    /// Groups this thread made and got back, cleared, for its next
    /// windows: a group's buffers are allocated and freed on the thread
    /// whose connection made it, wherever its commands ran, and a steady
    /// pipeline allocates none.
    static SPARE: RefCell<Vec<Group>> = const { RefCell::new(Vec::new()) };
}

impl Group {
    fn new(target: usize, db: usize, resp3: bool) -> Group {
        let spare = SPARE.with(|s| s.borrow_mut().pop());
        match spare {
            Some(mut g) => {
                g.target = target;
                g.db = db;
                g.resp3 = resp3;
                g
            }
            None => Group {
                target,
                db,
                resp3,
                ran: false,
                data: Vec::new(),
                ranges: Vec::new(),
                cmds: Vec::new(),
                next: 0,
                next_arg: 0,
                out: Vec::new(),
                ends: Vec::new(),
            },
        }
    }

    /// The reply of the group's `k`th command.
    fn reply(&self, k: usize) -> &[u8] {
        let start = if k == 0 { 0 } else { self.ends[k - 1] as usize };
        self.ends
            .get(k)
            .map_or(&[][..], |&end| &self.out[start..end as usize])
    }

    /// Empties the group and keeps it for this thread's next window.
    fn recycle(mut self) {
        let bytes = self.data.capacity() + self.out.capacity();
        if bytes > SPARE_BYTES || self.ranges.capacity() + self.ends.capacity() > SPARE_BYTES / 4 {
            return;
        }
        self.ran = false;
        self.data.clear();
        self.ranges.clear();
        self.cmds.clear();
        self.next = 0;
        self.next_arg = 0;
        self.out.clear();
        self.ends.clear();
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_MAX {
                s.push(self);
            }
        });
    }

    fn push(&mut self, spec: &'static CommandSpec, argv: &[&[u8]]) {
        for a in argv {
            let s = self.data.len() as u32;
            self.data.extend_from_slice(a);
            self.ranges.push((s, self.data.len() as u32));
        }
        self.cmds.push((spec, argv.len() as u32));
    }

    /// Runs the group's commands on `w`'s shard, in order, until done or
    /// until one touches a key a migration has locked.
    fn run(mut self, w: &Worker) -> Ran {
        let now = now_ms();
        if self.out.capacity() == 0 {
            self.out.reserve(64 * self.cmds.len());
            self.ends.reserve(self.cmds.len());
        }
        let mut argv: Vec<&[u8]> = Vec::with_capacity(8);
        let mut shard = w.shard.borrow_mut();
        while let Some(&(spec, argc)) = self.cmds.get(self.next) {
            argv.clear();
            let pos = self.next_arg;
            for &(s, e) in &self.ranges[pos..pos + argc as usize] {
                argv.push(&self.data[s as usize..e as usize]);
            }
            if w.any_locked() {
                if let Some(k) = spec
                    .keys_of(&argv)
                    .into_iter()
                    .map(|i| argv[i])
                    .find(|k| w.is_locked(self.db, k))
                {
                    let k = k.to_vec();
                    drop(shard);
                    return Ran::Blocked(self, k);
                }
            }
            if let Handler::Shard(f) = spec.handler {
                let at = self.out.len();
                exec(
                    &mut shard,
                    f,
                    self.db,
                    self.resp3,
                    now,
                    &argv,
                    &mut self.out,
                );
                w.stats.failed_if_error(spec.id, &self.out, at);
            }
            self.ends.push(self.out.len() as u32);
            self.next += 1;
            self.next_arg = pos + argc as usize;
        }
        Ran::Done(self)
    }

    /// Starts loading the entries of the group's keys (each command's
    /// second argument) before its commands run; see `Db::prefetch`. Done
    /// where a group runs as a job: a group run inline by its own
    /// connection's thread had its keys prefetched with the whole batch
    /// (`prefetch_batch`).
    fn prefetch(&self, shard: &Shard) {
        if self.cmds.len() < 2 {
            return;
        }
        let Some(db) = shard.ks.dbs.get(self.db) else {
            return;
        };
        let mut keys: [&[u8]; PREFETCH_MAX] = [&[]; PREFETCH_MAX];
        let (mut n, mut pos) = (0, 0);
        for &(_, argc) in self.cmds.iter().take(PREFETCH_MAX) {
            if argc > 1 {
                let (s, e) = self.ranges[pos + 1];
                keys[n] = &self.data[s as usize..e as usize];
                n += 1;
            }
            pos += argc as usize;
        }
        db.prefetch(&keys[..n]);
    }

    /// Runs the group where it stands; parked on a locked key, it answers
    /// `to` (coordinator thread, call id) when it finishes.
    fn run_or_park(self, w: &Worker, to: Option<(usize, u32)>) -> Option<Group> {
        match self.run(w) {
            Ran::Done(r) => Some(r),
            Ran::Blocked(g, key) => {
                let db = g.db;
                if let Some(to) = to {
                    w.park_on(
                        db,
                        &key,
                        Box::new(move |w: &Worker| {
                            if let Some(r) = g.run_or_park(w, Some(to)) {
                                w.router.respond(to.0, to.1, Box::new(r));
                            }
                        }),
                    );
                }
                None
            }
        }
    }

    /// The job that runs this group on its shard.
    fn job(self) -> Job {
        Box::new(move |w: &Worker| {
            self.prefetch(&w.shard.borrow());
            match self.run_or_park(w, w.current_request()) {
                Some(r) => Box::new(r) as Box<dyn Any + Send>,
                None => Box::new(crate::engine::mesh::Parked),
            }
        })
    }
}

/// Commands sent ahead to shards whose replies are not in `out` yet.
///
/// A window holds either commands for one shard only (any commands, run in
/// order there), or read-only commands for any shards. Reads have no
/// effects, so running the reads of a pipeline on several shards at once
/// cannot be observed, and it turns one round trip per change of shard into
/// one per window. A write is never dispatched before every earlier command
/// of its connection has executed: it joins a window only when that window
/// is for its own shard, otherwise the window is flushed first.
#[derive(Default)]
struct Window {
    groups: Vec<Group>,
    /// The group of each command, in request order.
    order: Vec<u16>,
    writes: bool,
}

impl Window {
    fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether a command for `target` may join without reordering a write.
    fn admits(&self, target: usize, readonly: bool) -> bool {
        match self.groups.as_slice() {
            [] => true,
            [g] if g.target == target => true,
            _ => readonly && !self.writes,
        }
    }

    fn push(
        &mut self,
        target: usize,
        client: &Client,
        spec: &'static CommandSpec,
        argv: &[&[u8]],
        readonly: bool,
    ) {
        let gi = self.group_for(target, client);
        self.groups[gi].push(spec, argv);
        self.order.push(gi as u16);
        self.writes |= !readonly;
    }

    fn group_for(&mut self, target: usize, client: &Client) -> usize {
        match self.groups.iter().position(|g| g.target == target) {
            Some(i) => i,
            None => {
                self.groups
                    .push(Group::new(target, client.db, client.resp3));
                self.groups.len() - 1
            }
        }
    }

    /// Whether a read-only command for this thread's shard may run at once,
    /// ahead of the window's reads for other shards: the window holds no
    /// write and no command for this shard still to run, and nothing stops
    /// this thread from running its shard's commands inline.
    fn may_run_local(&self, w: &Worker) -> bool {
        !self.writes
            && !self.groups.iter().any(|g| g.target == w.id && !g.ran)
            && !w.must_defer(0)
            && !w.any_locked()
    }

    /// Runs a read-only command for this thread's shard now (see
    /// [`Window::may_run_local`]); its reply waits in the window for the
    /// replies before it. Reads have no effects, so running it before the
    /// window's reads on other shards cannot be observed, as with the
    /// window's reads among themselves; it saves copying its arguments.
    fn run_local(
        &mut self,
        w: &Worker,
        client: &Client,
        spec: &'static CommandSpec,
        f: ShardFn,
        argv: &[&[u8]],
        now: u64,
    ) {
        let gi = self.group_for(w.id, client);
        let g = &mut self.groups[gi];
        g.ran = true;
        exec_here(w, client, spec, f, argv, now, &mut g.out);
        g.ends.push(g.out.len() as u32);
        self.order.push(gi as u16);
    }
}

/// Runs a command of `client` on this thread's shard, counting a failure
/// in its statistics.
#[inline]
fn exec_here(
    w: &Worker,
    client: &Client,
    spec: &'static CommandSpec,
    f: ShardFn,
    argv: &[&[u8]],
    now: u64,
    out: &mut Vec<u8>,
) {
    let at = out.len();
    exec(
        &mut w.shard.borrow_mut(),
        f,
        client.db,
        client.resp3,
        now,
        argv,
        out,
    );
    w.stats.failed_if_error(spec.id, out, at);
}

/// The read of a MONITOR or subscribed connection: the lines other
/// clients' commands produce, or the messages published to it, are
/// written as they come while it waits for input (such a connection has no
/// idle timeout, as in Redis). One that lets more than its sink's limit
/// pile up (`monitor::PENDING_MAX`, `pubsub::PENDING_MAX`), even while a
/// write to it is stuck, is closed.
async fn read_or_monitor(
    stream: &mut TcpStream,
    buf: &mut [u8],
    sink: &crate::client::Sink,
) -> std::io::Result<usize> {
    use std::future::{poll_fn, Future};
    use std::task::Poll;
    let over = |e: std::io::Error| {
        log::warn!("closing a client: {e}");
        e
    };
    loop {
        let got = {
            let mut read = std::pin::pin!(stream.read(buf, None));
            poll_fn(|cx| match read.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending => sink.poll_ready(cx).map(|()| None),
            })
            .await
        };
        if let Some(r) = got {
            return r;
        }
        let lines = sink.take().map_err(over)?;
        let mut write = std::pin::pin!(stream.write_all(&lines));
        poll_fn(|cx| match write.as_mut().poll(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => sink.poll_overflow(cx).map(|()| sink.take().map(|_| ())),
        })
        .await
        .map_err(over)?;
    }
}

/// Input shorter than this holds at most one command of the kind worth
/// prefetching for (a GET of a 16-byte key is 39 bytes).
const PREFETCH_MIN_BYTES: usize = 64;

/// Starts loading the entries of the keys this thread's shard holds among
/// the commands of a pipelined batch, before they run one by one: a batch
/// of GETs over a large keyspace otherwise waits for two cache misses per
/// command in turn (see `Db::prefetch`). Commands for other shards are
/// prefetched there, when their group runs.
fn prefetch_batch(w: &Worker, db: usize, input: &[u8]) {
    let mut keys: [&[u8]; PREFETCH_MAX] = [&[]; PREFETCH_MAX];
    let mut n = resp::peek_keys(input, &mut keys);
    if n < 2 {
        return;
    }
    if w.nshards() > 1 {
        let mut mine = 0;
        for i in 0..n {
            if w.shard_of(keys[i]) == w.id {
                keys[mine] = keys[i];
                mine += 1;
            }
        }
        n = mine;
    }
    if let Some(d) = w.shard.borrow().ks.dbs.get(db) {
        d.prefetch(&keys[..n]);
    }
}

/// Runs the window's groups (remote ones first, so the shards work in
/// parallel, then this thread's) and appends the replies in request order.
async fn flush_window(w: &Worker, win: &mut Window, out: &mut Vec<u8>) {
    if win.groups.is_empty() {
        return;
    }
    let groups = std::mem::take(&mut win.groups);
    let order = std::mem::take(&mut win.order);
    win.writes = false;
    // This thread's group runs inline, unless a transaction holds the
    // shard or a migration has locked keys here (then it may have to park,
    // which only a queued job can).
    let inline_ok = !w.must_defer(0) && !w.any_locked();
    enum Part {
        Done(Group),
        Local,
        Sent(crate::engine::worker::Pending<Group>),
    }
    let mut local = None;
    let mut parts = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        if g.ran {
            parts.push(Part::Done(g));
        } else if g.target == w.id && inline_ok {
            local = Some((i, g));
            parts.push(Part::Local);
        } else {
            let target = g.target;
            parts.push(Part::Sent(w.send_job::<Group>(target, g.job())));
        }
    }
    let mut local_reply = local.and_then(|(i, g)| match g.run(w) {
        Ran::Done(g) => Some((i, g)),
        Ran::Blocked(..) => None,
    });
    let mut replies: Vec<Option<Group>> = Vec::with_capacity(parts.len());
    for (i, p) in parts.into_iter().enumerate() {
        replies.push(match p {
            Part::Done(g) => Some(g),
            Part::Sent(p) => p.finish(w).await,
            Part::Local => local_reply
                .take()
                .filter(|(li, _)| *li == i)
                .map(|(_, g)| g),
        });
    }
    let mut next = vec![0usize; replies.len()];
    for gi in order {
        let gi = usize::from(gi);
        let k = next[gi];
        next[gi] += 1;
        if let Some(g) = &replies[gi] {
            out.extend_from_slice(g.reply(k));
        }
    }
    for g in replies.into_iter().flatten() {
        g.recycle();
    }
}

/// Drops what was written to `out` from `mark` on: the reply of a command
/// run under CLIENT REPLY OFF or SKIP, once everything it sent ahead has
/// answered.
async fn silence(
    w: &Worker,
    client: &mut Client,
    window: &mut Window,
    out: &mut Vec<u8>,
    mark: usize,
) {
    settle(w, client, window, out).await;
    out.truncate(mark);
}

/// Puts every reply still owed (commands sent ahead to shards, squashed
/// EXECs) in its place in `out`.
async fn settle(w: &Worker, client: &mut Client, window: &mut Window, out: &mut Vec<u8>) {
    flush_window(w, window, out).await;
    crate::features::multi::run_squashed(w, client, out).await;
}

/// `CLIENT REPLY ON`, which answers even while replies are off.
fn is_reply_on(argv: &[&[u8]]) -> bool {
    matches!(argv, [c, r, on] if c.eq_ignore_ascii_case(b"client")
        && r.eq_ignore_ascii_case(b"reply")
        && on.eq_ignore_ascii_case(b"on"))
}

/// A connection's first read buffer. Small, so 10,000 idle clients cost
/// 40 MB, not 300; it doubles while a client sends more.
const READ_CHUNK: usize = 4 * 1024;
/// The read buffer grows to this while reads keep filling it.
const READ_MAX: usize = 64 * 1024;
/// Replies are written early once this much is buffered.
const OUT_HIGH_WATER: usize = 1 << 20;

/// A connection handed from one thread to another, with everything needed
/// to go on serving it there.
pub struct Moved {
    stream: std::net::TcpStream,
    info: ClientInfo,
    db: usize,
    authed: bool,
    resp3: bool,
    /// Bytes read but not yet parsed.
    pending: Vec<u8>,
}

/// Serves one accepted connection until it closes.
pub async fn serve(w: Rc<Worker>, stream: TcpStream) {
    let shared = Rc::clone(&w).shared.clone();
    let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let now_s = now_ms() / 1000;
    let info = ClientInfo {
        id,
        addr: stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        laddr: stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        created: now_s,
        last_active: now_s,
        last_cmd: "NULL",
        multi: -1,
        ..Default::default()
    };
    let authed = shared.config.requirepass().is_none();
    serve_client(w, stream, info, 0, authed, false, Vec::new()).await;
}

/// Takes over a connection another thread handed to this one.
pub async fn adopt(w: Rc<Worker>, m: Moved) {
    let stream = match TcpStream::new(m.stream) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("cannot take over client {}: {e}", m.info.id);
            w.shared.connected_clients.fetch_sub(1, Ordering::Relaxed);
            return;
        }
    };
    serve_client(w, stream, m.info, m.db, m.authed, m.resp3, m.pending).await;
}

async fn serve_client(
    w: Rc<Worker>,
    mut stream: TcpStream,
    info: ClientInfo,
    db: usize,
    authed: bool,
    resp3: bool,
    pending: Vec<u8>,
) {
    let id = info.id;
    let info = Rc::new(RefCell::new(ClientInfo {
        fd: stream.raw_fd(),
        ..info
    }));
    w.clients.borrow_mut().insert(id, Rc::clone(&info));
    let mut client = Client {
        id,
        db,
        resp3,
        authed,
        info,
        multi: None,
        watches: Vec::new(),
        squashed: Vec::new(),
        reply: ReplyMode::On,
        monitor: None,
        pubsub: None,
    };
    let outcome = run(&w, &mut stream, &mut client, pending).await;
    if let Some(sink) = client.monitor.take() {
        crate::features::monitor::stop(&w, &sink);
    }
    crate::features::pubsub::drop_all(&w, &mut client);
    crate::features::multi::unwatch_all(&w, &mut client).await;
    w.clients.borrow_mut().remove(&id);
    if let Ok(Some((target, pending))) = outcome {
        let m = Moved {
            info: client.info.borrow().clone(),
            db: client.db,
            authed: client.authed,
            resp3: client.resp3,
            pending,
            stream: stream.into_std(),
        };
        let sent = w
            .call(target, move |_| {
                if let Some(tw) = crate::engine::worker::current() {
                    rt::spawn_local(adopt(tw, m));
                }
            })
            .await;
        if sent.is_some() {
            return;
        }
    }
    w.shared.connected_clients.fetch_sub(1, Ordering::Relaxed);
}

/// A connection whose last this-many commands all went to the same other
/// shard moves to that shard's thread, where they cost no hop. Dragonfly
/// does the same for clients that keep to one key or hash tag. Only a
/// connection with no state tied to its thread moves: not one inside MULTI
/// or with WATCHed keys (subscriptions and blocking pops will have to say
/// no too).
const MIGRATE_AFTER: u32 = 64;

/// The read → parse → run → write loop. Returns `Some((thread, unparsed
/// bytes))` when the connection should move to another thread.
async fn run(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    pending: Vec<u8>,
) -> std::io::Result<Option<(usize, Vec<u8>)>> {
    let shared = &w.shared;
    // Looked up once: the per-command busy-script check reads it.
    let scripts = shared.global::<crate::features::script::Cache>();
    let table = shared.table;
    let nshards = w.nshards();
    let mut rbuf = pending;
    let (mut start, mut end, mut need) = (0usize, rbuf.len(), 0usize);
    rbuf.resize(rbuf.len().max(READ_CHUNK), 0);
    // Bytes handed over with a moved connection are parsed before any read.
    let mut have_input = end > 0;
    // (shard, how many consecutive commands went to it from here)
    let mut streak: (usize, u32) = (usize::MAX, 0);
    // The last command name this connection sent, as sent, and its row.
    let mut last_cmd: Option<([u8; 16], usize, &'static commands::CommandSpec)> = None;
    let mut out: Vec<u8> = Vec::new();
    let mut args = resp::Args::new();
    // The command at `start` was left incomplete: the parser can resume it.
    let mut resume = false;
    // Bytes the last read brought (sizes the read buffer).
    let mut last_read = 0usize;
    loop {
        // Idle timeout, re-read each round so CONFIG SET applies to live clients.
        let t = shared.config.timeout.load(Ordering::Relaxed);
        let deadline = (t > 0).then(|| Instant::now() + Duration::from_secs(t as u64));
        // Make room: compact, then grow to what the parser said it needs.
        if start == end {
            start = 0;
            end = 0;
            // Back to the small buffer once the client stops sending
            // big batches (an idle client should cost 4 KB).
            if rbuf.len() > 4 * 1024 * 1024
                || (rbuf.len() > READ_CHUNK && last_read < rbuf.len() / 16)
            {
                rbuf = vec![0u8; READ_CHUNK];
            }
        }
        if rbuf.len() - end < 1024 {
            rbuf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if rbuf.len() - end < 1024 {
                // Grow by doubling as data arrives, never straight to what a
                // header declared: a client that announces 512 MB and sends
                // 1 KB costs 1 KB, not a zeroed 512 MB buffer.
                let new_len = (rbuf.len() * 2).max(end + READ_CHUNK);
                let new_len = if need > 0 {
                    new_len.min(need.max(end + 1024))
                } else {
                    new_len
                };
                rbuf.resize(new_len, 0);
            }
        }
        if !have_input {
            let room = rbuf.len() - end;
            let sink = client
                .monitor
                .clone()
                .or_else(|| client.pubsub.as_ref().map(|s| Rc::clone(s.sink())));
            let read = match sink {
                None => stream.read(&mut rbuf[end..], deadline).await,
                Some(sink) => read_or_monitor(stream, &mut rbuf[end..], &sink).await,
            };
            let n = match read {
                Ok(0) => return Ok(None),
                Ok(n) => n,
                Err(e) => return Err(e),
            };
            end += n;
            last_read = n;
            // A read that filled the buffer means a deep pipeline: read
            // more at a time (fewer system calls, and bigger batches of
            // commands per shard hop), up to READ_MAX.
            if n == room && rbuf.len() < READ_MAX {
                rbuf.resize((rbuf.len() * 2).min(READ_MAX), 0);
            }
        }
        have_input = false;
        if end - start
            > shared
                .config
                .client_query_buffer_limit
                .load(Ordering::Relaxed)
        {
            log::warn!(
                "closing client {} that reached max query buffer length",
                client.id
            );
            return Ok(None);
        }
        if end - start < need {
            continue;
        }
        need = 0;

        // Parse and run every whole command in the buffer.
        let limits = Limits {
            max_bulk_len: shared.config.proto_max_bulk_len.load(Ordering::Relaxed),
            unauthenticated: !client.authed,
            ..Limits::default()
        };
        let now = now_ms();
        let mut window = Window::default();
        let mut flow = Flow::Continue;
        // Where the reply of a command whose reply is dropped begins.
        let mut silenced: Option<usize> = None;
        // The batch's last command, for CLIENT LIST's cmd= (stored once
        // per batch, not once per command).
        let mut batch_last: Option<&'static str> = None;
        if end - start >= PREFETCH_MIN_BYTES {
            prefetch_batch(w, client.db, &rbuf[start..end]);
        }
        while start < end {
            let input = &rbuf[start..end];
            let parsed = if resume {
                resp::resume_command(input, &limits, &mut args)
            } else {
                resp::parse_command(input, &limits, &mut args)
            };
            resume = false;
            let used = match parsed {
                Ok(Status::Complete(used)) => used,
                Ok(Status::Incomplete(n)) => {
                    need = n;
                    resume = true;
                    break;
                }
                Err(e) => {
                    flush_window(w, &mut window, &mut out).await;
                    Error::Other(format!("ERR {e}")).write(&mut out);
                    stream.write_all(&out).await?;
                    return Ok(None);
                }
            };
            let argc = args.len();
            if argc == 0 {
                start += used;
                continue;
            }
            let mut small: [&[u8]; 8] = [&[]; 8];
            let big: Vec<&[u8]>;
            let argv: &[&[u8]] = if argc <= small.len() {
                for (i, slot) in small.iter_mut().enumerate().take(argc) {
                    *slot = args.get(input, i);
                }
                &small[..argc]
            } else {
                big = (0..argc).map(|i| args.get(input, i)).collect();
                &big
            };
            start += used;

            // CLIENT REPLY OFF / SKIP: this command's reply, once complete,
            // is cut out of `out` (everything before it is settled first,
            // so nothing else is cut).
            if let Some(mark) = silenced.take() {
                silence(w, client, &mut window, &mut out, mark).await;
            }
            if client.reply != ReplyMode::On
                && !is_reply_on(argv)
                && !crate::features::pubsub::is_confirmation(argv[0])
            {
                if client.reply == ReplyMode::SkipNext {
                    client.reply = ReplyMode::On;
                }
                settle(w, client, &mut window, &mut out).await;
                silenced = Some(out.len());
            }

            // Pipelines repeat one command: check the last name first.
            let spec = match last_cmd {
                Some((name, len, spec)) if &name[..len] == argv[0] => Some(spec),
                _ => table.lookup(argv[0]).inspect(|spec| {
                    if argv[0].len() <= 16 {
                        let mut name = [0u8; 16];
                        name[..argv[0].len()].copy_from_slice(argv[0]);
                        last_cmd = Some((name, argv[0].len(), *spec));
                    }
                }),
            };
            let Some(spec) = spec else {
                flush_window(w, &mut window, &mut out).await;
                Error::unknown_command(argv[0], &argv[1..]).write(&mut out);
                crate::features::multi::flag_error(client);
                continue;
            };
            if !spec.arity_ok(argc) {
                flush_window(w, &mut window, &mut out).await;
                w.stats.rejected(spec.id);
                Error::WrongArity(spec.name.to_string()).write(&mut out);
                crate::features::multi::flag_error(client);
                continue;
            }
            if !client.authed && !spec.has(flags::NO_AUTH) {
                flush_window(w, &mut window, &mut out).await;
                w.stats.rejected(spec.id);
                Error::NoAuth.write(&mut out);
                crate::features::multi::flag_error(client);
                continue;
            }
            // A script that runs past busy-reply-threshold holds its
            // thread; other threads answer -BUSY meanwhile, as Redis does.
            if let Some(busy) = scripts
                .busy_error(|| shared.config.busy_reply_threshold())
                .filter(|_| !crate::features::script::allowed_while_busy(spec.name, argv))
            {
                flush_window(w, &mut window, &mut out).await;
                w.stats.rejected(spec.id);
                Error::Static(busy).write(&mut out);
                crate::features::multi::flag_error(client);
                continue;
            }
            // Subject to maxmemory: commands that may add data, an EXEC
            // holding one, and anything else being queued (a queue, too,
            // grows without bound), as in Redis.
            let denyoom = spec.has(flags::DENYOOM);
            let oom_check = denyoom
                || client.multi.as_ref().is_some_and(|q| match spec.name {
                    "exec" => q.denyoom,
                    "discard" | "quit" | "reset" => false,
                    _ => true,
                });
            if oom_check && !crate::features::evict::admit(w).await {
                flush_window(w, &mut window, &mut out).await;
                w.stats.rejected(spec.id);
                if spec.name == "exec" {
                    // EXEC refused discards the transaction, as in Redis.
                    Error::Other(format!(
                        "EXECABORT Transaction discarded because of: {}",
                        commands::error::OOM
                    ))
                    .write(&mut out);
                    client.multi = None;
                    crate::features::multi::unwatch_all(w, client).await;
                } else {
                    Error::Static(commands::error::OOM).write(&mut out);
                    crate::features::multi::flag_error(client);
                }
                continue;
            }
            // A subscribed RESP2 connection reads only messages and
            // (un)subscribe confirmations: other replies could not be
            // told apart from them.
            if client.pubsub.is_some()
                && !client.resp3
                && crate::features::pubsub::subscribed(client)
                && !crate::features::pubsub::allowed_while_subscribed(spec.name)
            {
                flush_window(w, &mut window, &mut out).await;
                w.stats.rejected(spec.id);
                Error::Other(format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    full_name(spec.name, argv)
                ))
                .write(&mut out);
                crate::features::multi::flag_error(client);
                continue;
            }
            if !client.squashed.is_empty()
                && !crate::features::multi::keeps_squash(client, spec.name)
            {
                crate::features::multi::run_squashed(w, client, &mut out).await;
            }
            if client.multi.is_some() && !crate::features::multi::runs_inside_multi(spec.name) {
                flush_window(w, &mut window, &mut out).await;
                crate::features::multi::queue(client, argv, denyoom, &mut out);
                continue;
            }
            w.stats.commands.set(w.stats.commands.get() + 1);
            w.stats.called(spec.id);
            // MONITOR sees a command as it is called; a server command
            // once it has run (SELECT shows its new database), as in Redis,
            // EXEC after the commands it runs (`multi.rs`), and a script
            // before the commands it runs (`script.rs`).
            if matches!(spec.handler, Handler::Shard(_))
                || commands::blocking::is_blocking(spec.name)
                || crate::features::script::is_eval(spec.name)
            {
                crate::features::monitor::feed(w, spec, client, argv);
            }
            batch_last = Some(spec.name);
            match spec.handler {
                Handler::Shard(f) => {
                    let target = if nshards == 1 {
                        0
                    } else {
                        let (first, spread) = match spec.keys_fn {
                            None => {
                                let mut keys = spec.key_indices(argc);
                                let first = keys.next().map_or(0, |i| w.shard_of(argv[i]));
                                let spread = spec.has(flags::MULTI_KEY)
                                    && keys.any(|i| w.shard_of(argv[i]) != first);
                                (first, spread)
                            }
                            Some(kf) => {
                                let keys = kf(argv);
                                let first = keys.first().map_or(0, |&i| w.shard_of(argv[i]));
                                let spread = keys.iter().any(|&i| w.shard_of(argv[i]) != first);
                                (first, spread)
                            }
                        };
                        if spread {
                            flush_window(w, &mut window, &mut out).await;
                            crate::features::fanout::multi_shard(
                                &Route::plain(w),
                                client,
                                spec.name,
                                argv,
                                &mut out,
                            )
                            .await;
                            streak.1 = 0;
                            continue;
                        }
                        first
                    };
                    let readonly = spec.has(flags::READONLY);
                    if target != w.id {
                        if streak.0 == target {
                            streak.1 = streak.1.saturating_add(1);
                        } else {
                            streak = (target, 1);
                        }
                    } else {
                        streak.1 = 0;
                    }
                    if !window.admits(target, readonly) {
                        flush_window(w, &mut window, &mut out).await;
                    }
                    if target == w.id && readonly && !window.is_empty() && window.may_run_local(w) {
                        window.run_local(w, client, spec, f, argv, now);
                    } else if target == w.id
                        && window.is_empty()
                        && !w.must_defer(0)
                        && !w.any_locked()
                    {
                        // The fast path: a local command runs at once.
                        exec_here(w, client, spec, f, argv, now, &mut out);
                        crate::features::blocking::serve_ready(w);
                    } else {
                        window.push(target, client, spec, argv, readonly);
                    }
                }
                Handler::Server if commands::blocking::is_blocking(spec.name) => {
                    flush_window(w, &mut window, &mut out).await;
                    client.info.borrow_mut().last_cmd = spec.name;
                    let mut stash = Vec::new();
                    flow = crate::features::blocking::run(
                        w, client, stream, argv, &mut out, &mut stash,
                    )
                    .await?;
                    if !stash.is_empty() {
                        // What the client sent while blocked is parsed next.
                        if rbuf.len() < end + stash.len() {
                            rbuf.resize(end + stash.len(), 0);
                        }
                        rbuf[end..end + stash.len()].copy_from_slice(&stash);
                        end += stash.len();
                    }
                    if flow == Flow::Close {
                        return Ok(None);
                    }
                }
                Handler::Server
                    if spec.name == "exec"
                        && crate::features::multi::defer_exec(w, client, argv[0], &out) => {}
                Handler::Server => {
                    flush_window(w, &mut window, &mut out).await;
                    let name = full_name(spec.name, argv);
                    batch_last = Some(name);
                    {
                        let mut info = client.info.borrow_mut();
                        info.last_cmd = name;
                        info.qbuf = used + (end - start);
                    }
                    let at = out.len();
                    flow = dispatch::server_command(
                        &Route::plain(w),
                        client,
                        spec.name,
                        argv,
                        &mut out,
                    )
                    .await;
                    w.stats.failed_if_error(spec.id, &out, at);
                    if spec.name != "exec" && !crate::features::script::is_eval(spec.name) {
                        crate::features::monitor::feed(w, spec, client, argv);
                    }
                    if flow == Flow::Close {
                        break;
                    }
                }
            }
            if let Some(mark) = silenced.take() {
                silence(w, client, &mut window, &mut out, mark).await;
            }
            if out.len() > OUT_HIGH_WATER {
                settle(w, client, &mut window, &mut out).await;
                crate::features::pubsub::publish_events(w);
                stream.write_all(&out).await?;
                out.clear();
            }
        }
        if let Some(mark) = silenced.take() {
            silence(w, client, &mut window, &mut out, mark).await;
        }
        settle(w, client, &mut window, &mut out).await;
        if !out.is_empty() {
            crate::features::pubsub::publish_events(w);
            stream.write_all(&out).await?;
            out.clear();
            if out.capacity() > OUT_HIGH_WATER * 4 {
                out = Vec::new();
            }
        }
        {
            let mut info = client.info.borrow_mut();
            info.last_active = now / 1000;
            info.qbuf = 0;
            if let Some(name) = batch_last {
                info.last_cmd = name;
            }
        }
        if flow == Flow::Close {
            return Ok(None);
        }
        if streak.1 >= MIGRATE_AFTER
            && client.multi.is_none()
            && client.watches.is_empty()
            && client.monitor.is_none()
            && client.pubsub.is_none()
        {
            log::debug!("client {} moves to thread {}", client.id, streak.0);
            return Ok(Some((streak.0, rbuf[start..end].to_vec())));
        }
    }
}
