//! One client connection: read, parse every whole command in the buffer,
//! check and route each, run it here or on its shard, settle the replies
//! owed, write them once per batch.
//!
//! Ordering: a connection's commands take effect in the order it sent them.
//! Commands for this thread's shard run inline at once; consecutive commands
//! for one other shard are packed into one job (a *group*) that is sent when
//! the target changes, a command needs this thread, or the batch ends. A group
//! is awaited before anything after it runs, so no command is ever dispatched
//! before every earlier command of its connection has executed, and replies
//! land in the output buffer in request order.
//!
//! - `input.rs`: the read buffer and the read.
//! - `window.rs`: commands sent ahead to other shards, and their replies.
//! - `dispatch.rs`: a server command's name to the feature that runs it.
//!
//! The loop's steps, one function each: [`Input::fill`] (read),
//! [`Input::parse`] (parse), [`prefetch_batch`], [`refusal`] and
//! [`admit_memory`] (check), [`route_shard_command`] (route, or run at
//! once when local), [`run_server_command`] and [`run_blocking`], [`settle`]
//! (the replies owed), [`end_batch`] (write). The common data command takes
//! a synchronous short cut through the same checks, [`run_at_once`].

pub mod dispatch;
mod input;
pub mod replica;
mod window;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rt::net::TcpStream;

use commands::table::{flags, CommandSpec};
use commands::{Error, Handler};
use resp::Limits;
use storage::db::PREFETCH_MAX;

use crate::client::perms::Perms;
use crate::client::{Client, Flow, ReplyMode};
use crate::engine::journal;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, ClientInfo, Worker};
use crate::features::command::full_name;
use crate::features::script::Cache as Scripts;
use crate::features::slowlog::{self, Run, Watch};
use crate::features::{
    acl, blocking, cluster, evict, fanout, master, monitor, multi, pause, persist, pubsub,
    replication, script, tracking,
};
use crate::host::clock;

use input::{Input, Parsed};
use window::{exec_here, flush_window, Window};

/// Replies are written early once this much is buffered.
const OUT_HIGH_WATER: usize = 1 << 20;

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
    // The shard is borrowed while a busy script lets this thread's
    // connections be answered (-BUSY): then no prefetch.
    if let Some(d) = w
        .shard
        .try_borrow()
        .ok()
        .as_ref()
        .and_then(|s| s.ks.dbs.get(db))
    {
        d.prefetch(&keys[..n]);
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
#[inline]
async fn settle(w: &Worker, client: &mut Client, window: &mut Window, out: &mut Vec<u8>) {
    if !window.is_empty() {
        flush_window(w, window, out).await;
    }
    if !client.squashed.is_empty() {
        multi::run_squashed(w, client, out).await;
    }
}

/// `CLIENT REPLY ON`, which answers even while replies are off.
fn is_reply_on(argv: &[&[u8]]) -> bool {
    matches!(argv, [c, r, on] if c.eq_ignore_ascii_case(b"client")
        && r.eq_ignore_ascii_case(b"reply")
        && on.eq_ignore_ascii_case(b"on"))
}

/// A moved connection's user: its permissions, whether unrestricted, and
/// the user table's epoch they were taken at.
type MovedPerms = (Arc<Perms>, bool, u64);

/// A connection handed from one thread to another, with everything needed
/// to go on serving it there.
pub struct Moved {
    stream: std::net::TcpStream,
    info: ClientInfo,
    db: usize,
    authed: bool,
    /// Its user's permissions as it had them (refreshed there as here).
    perms: Option<MovedPerms>,
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
    serve_client(w, stream, info, 0, None, false, Vec::new()).await;
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
    let acl = m.perms.map(|p| (m.authed, p));
    serve_client(w, stream, m.info, m.db, acl, m.resp3, m.pending).await;
}

async fn serve_client(
    w: Rc<Worker>,
    mut stream: TcpStream,
    info: ClientInfo,
    db: usize,
    acl: Option<(bool, MovedPerms)>,
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
        resp3,
        ..Client::new(info, db, acl::nobody())
    };
    match acl {
        // A connection moved here keeps its user.
        Some((authed, (perms, unrestricted, epoch))) => {
            client.authed = authed;
            client.perms = perms;
            client.unrestricted = unrestricted;
            client.acl_epoch = epoch;
        }
        None => acl::connect(&w, &mut client),
    }
    tracking::sync_output(&client);
    tracking::connected(&w, &client);
    let outcome = run(&w, &mut stream, &mut client, pending).await;
    tracking::disconnected(&w, &mut client).await;
    if let Some(sink) = client.monitor.take() {
        monitor::stop(&w, &sink);
    }
    pubsub::drop_all(&w, &mut client);
    multi::unwatch_all(&w, &mut client).await;
    w.clients.borrow_mut().remove(&id);
    if let Ok(Some((target, pending))) = outcome {
        let m = Moved {
            info: client.info.borrow().clone(),
            db: client.db,
            authed: client.authed,
            perms: Some((
                Arc::clone(&client.perms),
                client.unrestricted,
                client.acl_epoch,
            )),
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
/// A connection whose last this-many commands all went to the same other
/// shard moves to that shard's thread, where they cost no hop. Dragonfly
/// does the same for clients that keep to one key or hash tag. Only a
/// connection with no state tied to its thread moves: not one inside MULTI,
/// with WATCHed keys, subscribed, or a monitor.
const MIGRATE_AFTER: u32 = 64;

/// What the loop keeps from batch to batch.
struct Session<'s> {
    /// Replies not yet written (the buffer is kept between batches).
    out: Vec<u8>,
    /// A command that may write ran since the replies were last written
    /// (with `appendfsync always` they wait for the journal's fsync).
    wrote: bool,
    /// (shard, how many consecutive commands went to it from here)
    streak: (usize, u32),
    /// The last command name this connection sent, as sent, and its row.
    last_cmd: Option<([u8; 16], usize, &'static CommandSpec)>,
    /// Looked up once: the per-command busy-script check reads it.
    scripts: &'s Scripts,
    /// Looked up once: whether any connection is a monitor, per command.
    monitors: &'s monitor::Registry,
    /// Looked up once: loading, and writes refused after a failed save.
    persist: &'s persist::State,
    /// Looked up once: whether this server is a replica.
    repl: &'s replication::State,
    /// Looked up once: CLIENT PAUSE's deadline, read per command.
    pause: &'s pause::State,
    /// Looked up once, in cluster mode only: the redirect check.
    cluster: Option<&'s cluster::State>,
    /// The slot of a command whose redirect depends on which of its keys
    /// are here (a slot moving), found by [`refusal`].
    moving_slot: Cell<Option<u16>>,
}

/// What one batch (the commands parsed from one read) keeps while they run.
struct Batch {
    now: u64,
    /// What command times are compared with (SLOWLOG, LATENCY).
    watch: Watch,
    /// Fast commands being timed together (see `slowlog::Run`).
    run: Option<Run>,
    window: Window,
    /// Where the reply of a command whose reply is dropped begins.
    silenced: Option<usize>,
    /// The batch's last command, for CLIENT LIST's cmd= (stored once per
    /// batch, not once per command).
    last: Option<&'static str>,
}

/// How a command left the connection.
enum Step {
    Next,
    /// Write what is buffered, then close (QUIT).
    Close,
    /// The client is gone, or was answered and must be dropped: stop now.
    Gone,
    /// Go on, parsing these bytes (sent while a blocking pop held the
    /// connection) after the ones here.
    Resume(Vec<u8>),
}

/// The read → parse → run → write loop. Returns `Some((thread, unparsed
/// bytes))` when the connection should move to another thread.
async fn run(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    pending: Vec<u8>,
) -> std::io::Result<Option<(usize, Vec<u8>)>> {
    let mut input = Input::new(pending);
    let mut args = resp::Args::new();
    let mut s = Session::new(w);
    loop {
        if !input.fill(stream, client, &w.shared).await? {
            return Ok(None);
        }
        match run_batch(w, stream, client, &mut input, &mut args, &mut s).await? {
            Step::Next | Step::Resume(_) => {}
            Step::Close | Step::Gone => return Ok(None),
        }
        if let Some(target) = moves_to(client, s.streak) {
            log::debug!("client {} moves to thread {target}", client.id);
            return Ok(Some((target, input.unparsed().to_vec())));
        }
    }
}

/// Parses and runs every whole command in the input, then writes the
/// replies.
#[inline]
async fn run_batch(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    input: &mut Input,
    args: &mut resp::Args,
    s: &mut Session<'_>,
) -> std::io::Result<Step> {
    // A change to the connection's user (or its deletion) is taken here,
    // once per batch: the per-command check reads only the connection.
    // (The master's client answers to no user.)
    if client.master.is_none() && !acl::refresh(w, client) {
        return Ok(Step::Gone);
    }
    let limits = Limits {
        max_bulk_len: w.shared.config.proto_max_bulk_len.load(Ordering::Relaxed),
        unauthenticated: !client.authed,
        ..Limits::default()
    };
    let mut b = Batch {
        now: now_ms(),
        watch: Watch::read(w),
        run: None,
        window: Window::default(),
        silenced: None,
        last: None,
    };
    if input.end - input.start >= PREFETCH_MIN_BYTES {
        prefetch_batch(w, client.db, input.unparsed());
    }
    if client.tracking.is_some() {
        tracking::before_batch(w, client, &mut s.out);
    }
    let mut step = Step::Next;
    while input.start < input.end {
        let used = match input.parse(&limits, args) {
            Parsed::Command(used) => used,
            Parsed::Incomplete => break,
            Parsed::Bad(e) if client.master.is_some() => {
                flush_window(w, &mut b.window, &mut s.out).await;
                log::warn!("Protocol error from MASTER: {e}");
                return Ok(Step::Gone);
            }
            Parsed::Bad(e) => {
                flush_window(w, &mut b.window, &mut s.out).await;
                Error::Other(format!("ERR {e}")).write(&mut s.out);
                replies_may_leave(s).await;
                stream.write_all(&s.out).await?;
                return Ok(Step::Gone);
            }
        };
        let argc = args.len();
        let from = input.start;
        input.start += used;
        if argc == 0 {
            continue;
        }
        let text = &input.buf[from..input.end];
        let mut small: [&[u8]; 8] = [&[]; 8];
        let big: Vec<&[u8]>;
        let argv: &[&[u8]] = if argc <= small.len() {
            for (i, slot) in small.iter_mut().enumerate().take(argc) {
                *slot = args.get(text, i);
            }
            &small[..argc]
        } else {
            big = (0..argc).map(|i| args.get(text, i)).collect();
            &big
        };
        if !run_at_once(w, client, s, &mut b, argv) {
            end_run(w, &mut b);
            let qbuf = input.end - from;
            step = if client.tracking.is_some() {
                run_tracked(w, stream, client, s, &mut b, argv, qbuf).await?
            } else {
                run_command(w, stream, client, s, &mut b, argv, qbuf).await?
            };
            match &step {
                Step::Next => {}
                Step::Resume(stash) => input.append(stash),
                Step::Close => break,
                Step::Gone => return Ok(Step::Gone),
            }
            if let Some(mark) = b.silenced.take() {
                end_run(w, &mut b);
                silence(w, client, &mut b.window, &mut s.out, mark).await;
            }
        }
        // The master's stream: this command's bytes are applied (or sent
        // on to their shard, which runs them before anything later). A
        // transaction's count only once its EXEC has run, as in Redis: a
        // link lost inside one is continued from before its MULTI.
        let in_multi = client.multi.is_some();
        if let Some(up) = client.master.as_mut() {
            up.unapplied += used as u64;
            if !in_multi {
                up.offset += std::mem::take(&mut up.unapplied);
            }
        }
        if s.out.len() > OUT_HIGH_WATER {
            end_run(w, &mut b);
            settle(w, client, &mut b.window, &mut s.out).await;
            pubsub::publish_events(w);
            if client.master.is_none() {
                replies_may_leave(s).await;
                stream.write_all(&s.out).await?;
            }
            s.out.clear();
        }
    }
    end_run(w, &mut b);
    end_batch(w, stream, client, s, &mut b).await?;
    Ok(step)
}

/// A command of a tracking client: it runs for that client
/// (`storage::track::who`) whenever it runs on this thread, between its
/// suspensions too, so that the shards remember its reads and know its
/// writes; then CLIENT CACHING's choice, if given, is spent.
async fn run_tracked(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    argv: &[&[u8]],
    qbuf: usize,
) -> std::io::Result<Step> {
    use std::future::{poll_fn, Future};
    // Over `maxmemory`, keys are evicted before the command runs, and the
    // client hears of its evicted keys before the reply, as in Redis.
    if !evict::admits_now() {
        settle(w, client, &mut b.window, &mut s.out).await;
        evict::admit(w).await;
        tracking::flush_log(w);
        tracking::before_batch(w, client, &mut s.out);
    }
    let who = client.who;
    let step = {
        let mut fut = std::pin::pin!(run_command(w, stream, client, s, b, argv, qbuf));
        poll_fn(|cx| {
            let prev = storage::track::set_who(who);
            let r = fut.as_mut().poll(cx);
            storage::track::set_who(prev);
            r
        })
        .await?
    };
    if tracking::spent_caching(client, argv[0]) {
        // What it sent ahead ran under the choice: settled first.
        settle(w, client, &mut b.window, &mut s.out).await;
        tracking::end_caching(w, client);
    }
    Ok(step)
}

/// Ends the batch's run of fast commands, if one is timed (before the
/// loop may wait: a run never spans a suspension).
#[inline(always)]
fn end_run(w: &Worker, b: &mut Batch) {
    slowlog::end(w, &mut b.run, b.watch);
}

/// Starts timing a command about to run on the fast path (see
/// `slowlog::start`).
#[inline(always)]
fn time_start(w: &Worker, b: &mut Batch, spec: &'static CommandSpec) -> Option<u64> {
    slowlog::start(w, &mut b.run, spec, b.watch)
}

/// Counts a command timed on its own since `start`.
#[inline(always)]
fn time_end(
    w: &Worker,
    client: &Client,
    b: &Batch,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    start: Option<u64>,
) {
    if let Some(t0) = start {
        slowlog::ran(
            w,
            client,
            spec,
            argv,
            clock::ticks().wrapping_sub(t0),
            b.watch,
        );
    }
}

/// One command: CLIENT REPLY's silencing, lookup, the checks, MULTI's
/// queue, then its run by kind.
async fn run_command(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    argv: &[&[u8]],
    qbuf: usize,
) -> std::io::Result<Step> {
    // CLIENT REPLY OFF / SKIP: this command's reply, once complete, is
    // cut out of `out` (everything before it is settled first, so nothing
    // else is cut).
    if let Some(mark) = b.silenced.take() {
        silence(w, client, &mut b.window, &mut s.out, mark).await;
    }
    if client.reply != ReplyMode::On && !is_reply_on(argv) && !pubsub::is_confirmation(argv[0]) {
        if client.reply == ReplyMode::SkipNext {
            client.reply = ReplyMode::On;
        }
        settle(w, client, &mut b.window, &mut s.out).await;
        b.silenced = Some(s.out.len());
    }
    let Some(spec) = s.lookup(w, argv[0]) else {
        flush_window(w, &mut b.window, &mut s.out).await;
        let at = s.out.len();
        Error::unknown_command(argv[0], &argv[1..]).write(&mut s.out);
        w.stats.error_reply(&s.out, at);
        multi::flag_error(client);
        return Ok(Step::Next);
    };
    if client.asking != 0 {
        cluster::asking_spent(client, spec.name);
    }
    // A load that is still quiet (`persist::begin_loading`): the command
    // waits for it, as Redis's clients wait out a small file's load.
    if s.persist.loading.load(Ordering::Relaxed)
        && client.master.is_none()
        && !spec.has(flags::LOADING)
    {
        settle(w, client, &mut b.window, &mut s.out).await;
        persist::wait_quiet_load(w).await;
    }
    if let Some(e) = refusal(w, client, s, spec, argv, true) {
        refused(w, client, s, b, spec, e).await;
        return Ok(Step::Next);
    }
    // CLIENT PAUSE: the command waits here, once known to be valid (the
    // master's stream is never paused, as in Redis). One that waited is
    // checked again, as Redis looks at a paused command anew: a manual
    // failover pauses writes, and after it this node may serve the key no
    // more (-MOVED) or be a replica (-READONLY).
    if client.master.is_none() && s.pause.maybe(now_ms()) {
        settle(w, client, &mut b.window, &mut s.out).await;
        if pause::wait(w, client, spec, argv).await {
            if let Some(e) = refusal(w, client, s, spec, argv, true) {
                refused(w, client, s, b, spec, e).await;
                return Ok(Step::Next);
            }
        }
    }
    // Cluster mode, a key of a slot being moved: a data command outside
    // MULTI is decided and run in one step on its shard (below); anything
    // else is decided here.
    let moving = s.moving_slot.take();
    let run_moving =
        moving.filter(|_| client.multi.is_none() && matches!(spec.handler, Handler::Shard(_)));
    if let (Some(slot), Some(c), None) = (moving, s.cluster, run_moving) {
        if let Some(e) = cluster::lookup(w, c, client, spec, argv, slot).await {
            refuse(w, client, s, b, spec, e).await;
            return Ok(Step::Next);
        }
    }
    let denyoom = checked_flags(w, spec, argv) & flags::DENYOOM != 0;
    if needs_memory(client, spec, denyoom) && !admit_memory(w, client, spec, b, &mut s.out).await {
        return Ok(Step::Next);
    }
    if let Some(e) = refused_while_subscribed(client, spec, argv) {
        refuse(w, client, s, b, spec, e).await;
        return Ok(Step::Next);
    }
    if !client.squashed.is_empty() && !multi::keeps_squash(client, spec.name) {
        multi::run_squashed(w, client, &mut s.out).await;
    }
    if client.multi.is_some() && !multi::runs_inside_multi(spec.name) {
        flush_window(w, &mut b.window, &mut s.out).await;
        multi::queue(client, argv, denyoom, &mut s.out);
        return Ok(Step::Next);
    }
    called(w, client, s, spec, argv);
    b.last = Some(spec.name);
    match spec.handler {
        Handler::Shard(_) if run_moving.is_some() => {
            flush_window(w, &mut b.window, &mut s.out).await;
            let slot = run_moving.unwrap_or_default();
            cluster::run_moving(w, client, spec, argv, slot, &mut s.out).await;
            Ok(Step::Next)
        }
        Handler::Shard(_) => {
            route_shard_command(w, client, s, b, spec, argv).await;
            Ok(Step::Next)
        }
        Handler::Server if spec.name == "psync" || spec.name == "sync" => {
            flush_window(w, &mut b.window, &mut s.out).await;
            if !s.out.is_empty() {
                replies_may_leave(s).await;
                stream.write_all(&s.out).await?;
                s.out.clear();
            }
            crate::features::master::serve(w, stream, client, argv).await;
            Ok(Step::Gone)
        }
        Handler::Server if commands::blocking::is_blocking(spec.name) => {
            run_blocking(w, stream, client, s, b, spec, argv).await
        }
        // A tracking client's EXEC runs now, for that client (squashed
        // EXECs run after the command has ended, see `run_tracked`).
        Handler::Server
            if spec.name == "exec"
                && client.tracking.is_none()
                && multi::defer_exec(w, client, argv[0], &s.out) =>
        {
            Ok(Step::Next)
        }
        Handler::Server => Ok(run_server_command(w, client, s, b, spec, argv, qbuf).await),
    }
}

impl<'s> Session<'s> {
    /// A connection's session, with the registries it reads per command
    /// looked up once.
    fn new(w: &'s Worker) -> Session<'s> {
        Session {
            out: Vec::new(),
            wrote: false,
            streak: (usize::MAX, 0),
            last_cmd: None,
            scripts: w.shared.global::<Scripts>(),
            monitors: w.shared.global::<monitor::Registry>(),
            persist: w.shared.global::<persist::State>(),
            repl: w.shared.global::<replication::State>(),
            pause: w.shared.global::<pause::State>(),
            cluster: Some(w.shared.global::<cluster::State>()).filter(|c| c.enabled()),
            moving_slot: Cell::new(None),
        }
    }

    /// The command table's row for `name`. Pipelines repeat one command:
    /// the last name is checked first.
    #[inline]
    fn lookup(&mut self, w: &Worker, name: &[u8]) -> Option<&'static CommandSpec> {
        match self.last_cmd {
            Some((last, len, spec)) if &last[..len] == name => Some(spec),
            _ => w.shared.table.lookup(name).inspect(|spec| {
                if name.len() <= 16 {
                    let mut last = [0u8; 16];
                    last[..name.len()].copy_from_slice(name);
                    self.last_cmd = Some((last, name.len(), *spec));
                }
            }),
        }
    }
}

/// Answers a command refused by [`refusal`]; a refused EXEC discards its
/// transaction, saying why, as Redis.
async fn refused(
    w: &Worker,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    spec: &'static CommandSpec,
    e: Error,
) {
    if spec.name != "exec" || client.multi.is_none() {
        return refuse(w, client, s, b, spec, e).await;
    }
    flush_window(w, &mut b.window, &mut s.out).await;
    w.stats.rejected(spec.id);
    let at = s.out.len();
    let mut why = Vec::new();
    e.write(&mut why);
    let why = String::from_utf8_lossy(&why);
    Error::Other(format!(
        "EXECABORT Transaction discarded because of: {}",
        why.trim_start_matches('-').trim_end()
    ))
    .write(&mut s.out);
    client.multi = None;
    multi::unwatch_all(w, client).await;
    w.stats.error_reply(&s.out, at);
}

/// Answers a command refused after the first checks with `e`: the
/// window's replies first, then the error, counted as Redis counts a
/// rejected command, and a transaction being queued is flagged.
async fn refuse(
    w: &Worker,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    spec: &'static CommandSpec,
    e: Error,
) {
    flush_window(w, &mut b.window, &mut s.out).await;
    w.stats.rejected(spec.id);
    let at = s.out.len();
    e.write(&mut s.out);
    w.stats.error_reply(&s.out, at);
    multi::flag_error(client);
}

/// Why a known command is refused before it runs: arity, NOAUTH, a busy
/// script (maxmemory and the subscribed state are checked after, as in
/// Redis: [`admit_memory`], [`refused_while_subscribed`]). `log`: an ACL
/// denial goes to ACL LOG (not when the pipeline's fast path only asks,
/// since the command then comes back here by `run_command`).
#[inline(always)]
fn refusal(
    w: &Worker,
    client: &Client,
    s: &Session<'_>,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    log: bool,
) -> Option<Error> {
    s.moving_slot.set(None);
    if !spec.arity_ok(argv.len()) {
        return Some(Error::WrongArity(spec.name.to_string()));
    }
    // The master's commands are run as they come: no user, no loading,
    // no read-only replica, no busy script stops them.
    if client.master.is_some() {
        return None;
    }
    if !client.authed && !spec.has(flags::NO_AUTH) {
        return Some(Error::NoAuth);
    }
    // ACL: one flag test for a user who may run everything.
    if !client.unrestricted && !spec.has(flags::NO_AUTH) {
        let ctx = if client.multi.is_some() {
            acl::Context::Multi
        } else {
            acl::Context::Toplevel
        };
        if let Some(e) = acl::check(w, client, spec, argv, ctx, log) {
            return Some(e);
        }
    }
    // Cluster mode: a key of a slot served elsewhere is redirected.
    if let Some(c) = s.cluster {
        let write = spec.has(flags::WRITE)
            || (script::is_eval(spec.name) && script::declares_writes(w, spec.name, argv));
        match cluster::check(w, c, client, spec, argv, write) {
            cluster::Verdict::Pass => {}
            cluster::Verdict::Refuse(e) => return Some(e),
            cluster::Verdict::Lookup(slot) => s.moving_slot.set(Some(slot)),
        }
    }
    if s.persist.loading.load(Ordering::Relaxed) && !spec.has(flags::LOADING) {
        return Some(Error::Static(persist::LOADING));
    }
    // After a failed background save (stop-writes-on-bgsave-error), as
    // Redis: writes, and PING, are refused until a save succeeds.
    if s.persist.refuse_writes.load(Ordering::Relaxed)
        && (spec.has(flags::WRITE) || spec.name == "ping")
    {
        return Some(Error::Static(persist::MISCONF));
    }
    let f = checked_flags(w, spec, argv);
    if let Some(e) = replication::refusal(w, s.repl, f & flags::WRITE != 0, f & flags::STALE != 0) {
        return Some(e);
    }
    // A script that runs past busy-reply-threshold holds its thread; other
    // threads answer -BUSY meanwhile, as Redis does.
    s.scripts
        .busy_error(|| w.shared.config.busy_reply_threshold())
        .filter(|_| !script::allowed_while_busy(spec.name, argv))
        .map(Error::Static)
}

/// The flags a command is admitted by: the table's, but for a script
/// command (its script's declared flags decide) and FUNCTION (by
/// subcommand), as in Redis.
#[inline(always)]
fn checked_flags(w: &Worker, spec: &'static CommandSpec, argv: &[&[u8]]) -> u32 {
    if matches!(spec.handler, Handler::Server)
        && (script::is_eval(spec.name) || spec.name == "function")
    {
        script::command_flags(w, spec, argv)
    } else {
        spec.flags
    }
}

/// Whether `maxmemory` applies: to commands that may add data, an EXEC
/// holding one, and anything else being queued (a queue, too, grows without
/// bound), as in Redis.
#[inline]
fn needs_memory(client: &Client, spec: &'static CommandSpec, denyoom: bool) -> bool {
    client.master.is_none()
        && (denyoom
            || client.multi.as_ref().is_some_and(|q| match spec.name {
                "exec" => q.denyoom,
                "discard" | "quit" | "reset" => false,
                _ => true,
            }))
}

/// `maxmemory`: a command it applies to waits for eviction to make room,
/// or is refused, as in Redis. False when refused (the error is written).
async fn admit_memory(
    w: &Worker,
    client: &mut Client,
    spec: &'static CommandSpec,
    b: &mut Batch,
    out: &mut Vec<u8>,
) -> bool {
    if evict::admit(w).await {
        return true;
    }
    flush_window(w, &mut b.window, out).await;
    w.stats.rejected(spec.id);
    let at = out.len();
    if spec.name == "exec" {
        // EXEC refused discards the transaction, as in Redis.
        Error::Other(format!(
            "EXECABORT Transaction discarded because of: {}",
            commands::error::OOM
        ))
        .write(out);
        client.multi = None;
        multi::unwatch_all(w, client).await;
    } else {
        Error::Static(commands::error::OOM).write(out);
        multi::flag_error(client);
    }
    w.stats.error_reply(out, at);
    false
}

/// A subscribed RESP2 connection reads only messages and (un)subscribe
/// confirmations: other replies could not be told apart from them.
fn refused_while_subscribed(
    client: &Client,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
) -> Option<Error> {
    (client.pubsub.is_some()
        && !client.resp3
        && pubsub::subscribed(client)
        && !pubsub::allowed_while_subscribed(spec.name))
    .then(|| {
        Error::Other(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            full_name(spec.name, argv)
        ))
    })
}

/// Counts a command that runs now, and shows it to MONITOR: a command as
/// it is called; a server command once it has run (SELECT shows its new
/// database), as in Redis, EXEC after the commands it runs (`multi.rs`),
/// and a script before the commands it runs (`script.rs`).
#[inline(always)]
fn called(
    w: &Worker,
    client: &Client,
    s: &mut Session<'_>,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
) {
    s.wrote |= !spec.has(flags::READONLY);
    w.stats.commands.set(w.stats.commands.get() + 1);
    w.stats.called(spec.id);
    if s.monitors.any()
        && (matches!(spec.handler, Handler::Shard(_))
            || commands::blocking::is_blocking(spec.name)
            || script::is_eval(spec.name))
    {
        monitor::feed(w, spec, client, argv);
    }
}

/// The common case, run without a suspension point: a data command that
/// passes every check at once (no reply mode, no MULTI, no subscription,
/// no eviction needed) and whose keys are on one shard, for which the
/// window needs no flush. False, having done nothing, for anything else:
/// [`run_command`] then takes it through every step. (An `async fn` per
/// command costs more than its checks; this keeps the pipeline's loop
/// free of them.)
#[inline(always)]
fn run_at_once(
    w: &Worker,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    argv: &[&[u8]],
) -> bool {
    if client.reply != ReplyMode::On
        || b.silenced.is_some()
        || client.multi.is_some()
        || client.pubsub.is_some()
        || client.tracking.is_some()
        || !client.squashed.is_empty()
        || s.pause.maybe(b.now)
    {
        return false;
    }
    let Some(spec) = s.lookup(w, argv[0]) else {
        return false;
    };
    if !matches!(spec.handler, Handler::Shard(_)) {
        return false;
    }
    // A key of a moving slot (cluster mode) takes run_command's way.
    if refusal(w, client, s, spec, argv, false).is_some()
        || s.moving_slot.get().is_some()
        || (spec.has(flags::DENYOOM) && !evict::admits_now())
    {
        return false;
    }
    let Some(target) = target_of(w, spec, argv) else {
        return false;
    };
    let readonly = spec.has(flags::READONLY);
    if !b.window.admits(target, readonly) {
        return false;
    }
    called(w, client, s, spec, argv);
    b.last = Some(spec.name);
    place(w, client, s, b, spec, argv, target, readonly);
    true
}

/// The shard a data command's keys live on, or None when they span shards
/// (it then runs as a transaction, `fanout.rs`).
#[inline(always)]
fn target_of(w: &Worker, spec: &'static CommandSpec, argv: &[&[u8]]) -> Option<usize> {
    if w.nshards() == 1 {
        return Some(0);
    }
    let (first, spread) = match spec.keys_fn {
        None => {
            let mut keys = spec.key_indices(argv.len());
            let first = keys.next().map_or(0, |i| w.shard_of(argv[i]));
            let spread = spec.has(flags::MULTI_KEY) && keys.any(|i| w.shard_of(argv[i]) != first);
            (first, spread)
        }
        Some(kf) => {
            let keys = kf(argv);
            let first = keys.first().map_or(0, |&i| w.shard_of(argv[i]));
            let spread = keys.iter().any(|&i| w.shard_of(argv[i]) != first);
            (first, spread)
        }
    };
    (!spread).then_some(first)
}

/// A data command: run at once when its key is this shard's and nothing
/// is owed before it (the fast path), else joined to the window for its
/// shard; one whose keys span shards runs as a transaction (`fanout.rs`).
async fn route_shard_command(
    w: &Worker,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
) {
    let Some(target) = target_of(w, spec, argv) else {
        flush_window(w, &mut b.window, &mut s.out).await;
        let t0 = clock::ticks();
        fanout::multi_shard(&Route::plain(w), client, spec.name, argv, &mut s.out).await;
        slowlog::ran(
            w,
            client,
            spec,
            argv,
            clock::ticks().wrapping_sub(t0),
            b.watch,
        );
        s.streak.1 = 0;
        return;
    };
    let readonly = spec.has(flags::READONLY);
    if !b.window.admits(target, readonly) {
        flush_window(w, &mut b.window, &mut s.out).await;
    }
    place(w, client, s, b, spec, argv, target, readonly);
}

/// Runs a data command for `target` now (this shard's, with nothing owed
/// before it, or a read that may run ahead), or joins it to the window,
/// which must admit it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn place(
    w: &Worker,
    client: &Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    target: usize,
    readonly: bool,
) {
    if target != w.id {
        if s.streak.0 == target {
            s.streak.1 = s.streak.1.saturating_add(1);
        } else {
            s.streak = (target, 1);
        }
    } else {
        s.streak.1 = 0;
    }
    if target == w.id && readonly && !b.window.is_empty() && b.window.may_run_local(w) {
        let t0 = time_start(w, b, spec);
        b.window.run_local(w, client, spec, argv, b.now);
        time_end(w, client, b, spec, argv, t0);
    } else if target == w.id && b.window.is_empty() && !w.must_defer(0) && !w.any_locked() {
        // The fast path: a local command runs at once.
        let t0 = time_start(w, b, spec);
        exec_here(w, client, spec, argv, b.now, &mut s.out);
        time_end(w, client, b, spec, argv, t0);
        blocking::serve_ready(w);
    } else {
        b.window.push(target, client, spec, argv, readonly);
    }
}

/// A blocking pop, XREAD or XREADGROUP outside MULTI: it holds the
/// connection until served, timed out or unblocked.
async fn run_blocking(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
) -> std::io::Result<Step> {
    flush_window(w, &mut b.window, &mut s.out).await;
    client.info.borrow_mut().last_cmd = spec.name;
    let mut stash = Vec::new();
    let (flow, at) = if matches!(spec.name, "xread" | "xreadgroup") {
        crate::features::streams::run(w, client, stream, argv, &mut s.out, &mut stash).await?
    } else {
        blocking::run(w, client, stream, argv, &mut s.out, &mut stash).await?
    };
    w.stats.failed_if_error(spec.id, &s.out, at);
    // Logged as served, with no time: what it spent waiting is not a run.
    slowlog::ran(w, client, spec, argv, 0, b.watch);
    Ok(match flow {
        Flow::Close => Step::Gone,
        Flow::Continue if stash.is_empty() => Step::Next,
        // What the client sent while blocked is parsed next.
        Flow::Continue => Step::Resume(stash),
    })
}

/// A command the server runs itself (`dispatch.rs`), after every reply
/// owed before it.
async fn run_server_command(
    w: &Worker,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    qbuf: usize,
) -> Step {
    flush_window(w, &mut b.window, &mut s.out).await;
    let name = full_name(spec.name, argv);
    b.last = Some(name);
    {
        let mut info = client.info.borrow_mut();
        info.last_cmd = name;
        info.qbuf = qbuf;
    }
    let at = s.out.len();
    let flow =
        dispatch::server_command(&Route::plain(w), client, spec.name, argv, &mut s.out).await;
    tracking::sync_output(client);
    w.stats.failed_if_error(spec.id, &s.out, at);
    if spec.name != "exec" && !script::is_eval(spec.name) {
        monitor::feed(w, spec, client, argv);
    }
    match flow {
        Flow::Close => Step::Close,
        Flow::Continue => Step::Next,
    }
}

/// The batch's end: every reply owed settled, events published, the
/// replies written, CLIENT LIST's fields updated.
#[inline]
async fn end_batch(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    s: &mut Session<'_>,
    b: &mut Batch,
) -> std::io::Result<()> {
    if let Some(mark) = b.silenced.take() {
        silence(w, client, &mut b.window, &mut s.out, mark).await;
    }
    settle(w, client, &mut b.window, &mut s.out).await;
    // Invalidations go to their clients' threads before the replies leave;
    // this connection's own follow its replies (as in Redis, after the
    // reply of the command that caused them).
    tracking::flush_log(w);
    if client.monitor.is_none() && client.pushes.sink.has_pending() {
        if let Ok(pushed) = client.pushes.sink.take() {
            s.out.extend_from_slice(&pushed);
        }
    }
    if !b.window.slow.is_empty() {
        for (spec, argv, ticks) in std::mem::take(&mut b.window.slow) {
            let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            slowlog::notable(w, client, spec, &argv, ticks);
        }
    }
    if !s.out.is_empty() && client.master.is_some() {
        // The master reads no replies.
        pubsub::publish_events(w);
        s.out.clear();
    } else if !s.out.is_empty() {
        pubsub::publish_events(w);
        replies_may_leave(s).await;
        stream.write_all(&s.out).await?;
        s.out.clear();
        if s.out.capacity() > OUT_HIGH_WATER * 4 {
            s.out = Vec::new();
        }
    }
    let mut info = client.info.borrow_mut();
    info.last_active = b.now / 1000;
    info.qbuf = 0;
    if let Some(name) = b.last {
        info.last_cmd = name;
    }
    Ok(())
}

/// Before replies are written: what this thread journaled goes to the
/// journal first (`engine/journal.rs`), and with `appendfsync always`
/// the replies to writes wait until it is on disk.
#[inline(always)]
async fn replies_may_leave(s: &mut Session<'_>) {
    if std::mem::take(&mut s.wrote) && journal::waits() {
        // One message: the frames and the number to wait for.
        journal::durable().await;
    } else {
        journal::seal();
    }
}

/// The thread this connection should move to, if its commands keep going
/// to one other shard and nothing ties it to this thread.
fn moves_to(client: &Client, streak: (usize, u32)) -> Option<usize> {
    (streak.1 >= MIGRATE_AFTER
        && client.master.is_none()
        && client.multi.is_none()
        && client.watches.is_empty()
        && client.monitor.is_none()
        && client.pubsub.is_none()
        && client.tracking.is_none())
    .then_some(streak.0)
}

/// Applies a master's stream (`replica.rs`): the commands read from
/// `stream` (`pending`'s bytes first) run through this same loop, in
/// order, as `client` — the master client, whose replies are dropped.
/// Sends `REPLCONF ACK <offset>` at once (a Redis master streams nothing
/// after a diskless sync until it has one), every second after, and for
/// each `REPLCONF GETACK`. Returns when the master closes the link, says
/// nothing for `repl-timeout` seconds, or a REPLICAOF ends this link's
/// `generation`; the client's offset then says how much was applied.
///
/// The bytes each batch applied go on to this server's own replicas
/// (`master::Ctl::Relay`), and between two batches, outside a transaction,
/// the loop stops for a full sync of one of them that asked
/// (`replication::State::pauses`), until its cut is taken.
pub(crate) async fn follow(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    pending: Vec<u8>,
    generation: u64,
) -> std::io::Result<()> {
    let st = w.shared.global::<replication::State>();
    let result = apply_stream(w, stream, client, pending, generation).await;
    // Pauses nobody will take: their askers give up at once.
    drop(st.take_pauses());
    result
}

async fn apply_stream(
    w: &Worker,
    stream: &mut TcpStream,
    client: &mut Client,
    pending: Vec<u8>,
    generation: u64,
) -> std::io::Result<()> {
    use std::time::{Duration, Instant};
    let st = w.shared.global::<replication::State>();
    let mut input = Input::new(pending);
    let mut args = resp::Args::new();
    let mut s = Session::new(w);
    let mut next_ack = Instant::now();
    let mut heard = Instant::now();
    let ended = || st.generation.load(Ordering::Acquire) != generation;
    loop {
        if ended() {
            return Ok(());
        }
        let asked = client.master.as_mut().and_then(|up| up.ack.take());
        if asked.is_some() || Instant::now() >= next_ack {
            let offset = asked.or(client.master.as_ref().map(|up| up.offset));
            let text = offset.unwrap_or(0).to_string();
            let mut ack = Vec::new();
            resp::encode::array_len(&mut ack, 3);
            resp::encode::bulk(&mut ack, b"REPLCONF");
            resp::encode::bulk(&mut ack, b"ACK");
            resp::encode::bulk(&mut ack, text.as_bytes());
            stream.write_all(&ack).await?;
            next_ack = Instant::now() + Duration::from_secs(1);
        }
        let got = input
            .fill_until(stream, client, &w.shared, Some(next_ack))
            .await;
        match got {
            Ok(true) => {
                heard = Instant::now();
                st.with(|r| r.last_io_ms = now_ms());
            }
            Ok(false) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                let limit = w
                    .shared
                    .config
                    .other("repl-timeout")
                    .parse::<u64>()
                    .unwrap_or(60);
                if heard.elapsed() > Duration::from_secs(limit) {
                    log::warn!("MASTER timeout: no data nor PING received...");
                    return Ok(());
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        if ended() {
            return Ok(());
        }
        let taken = |c: &Client| c.master.as_ref().map_or(0, |up| up.offset + up.unapplied);
        let before = taken(client);
        let unparsed = input.unparsed().to_vec();
        let step = run_batch(w, stream, client, &mut input, &mut args, &mut s).await?;
        let used = taken(client).saturating_sub(before) as usize;
        if used > 0 {
            let relayed = unparsed.get(..used).map(<[u8]>::to_vec);
            // (None cannot happen: the batch ran bytes it was given.)
            journal::control(Box::new(master::Ctl::Relay(relayed.unwrap_or_default())));
        }
        if let Some(up) = client.master.as_ref() {
            st.offset.store(up.offset as i64, Ordering::Release);
            if client.multi.is_none() {
                for ask in st.take_pauses() {
                    let (go_on, stopped) = crossbeam_channel::bounded::<()>(1);
                    if ask.send((up.offset, go_on)).is_ok() {
                        let _ = rt::off_thread(move || stopped.recv()).await;
                    }
                }
            }
        }
        if matches!(step, Step::Gone | Step::Close) {
            return Ok(());
        }
    }
}
