//! Cross-shard windows: commands a connection sends ahead to other shards,
//! packed per shard into groups that travel as one job each, and whose
//! replies are put back in request order (see [`Window`]).

use std::any::Any;
use std::cell::RefCell;

use commands::table::CommandSpec;
use commands::{Handler, Shard};

use crate::client::Client;
use storage::db::PREFETCH_MAX;

use crate::engine::worker::{exec, now_ms, Job, Worker};
use crate::features::cluster;
use crate::features::slowlog::{self, Watch};
use crate::host::clock;

/// Commands bound for one remote shard, packed to travel as one job; the
/// same value comes back with their replies (see [`Group::take`]).
struct Group {
    target: usize,
    db: usize,
    resp3: bool,
    /// The client its commands run for (`storage::track::who`).
    who: u64,
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
    /// Commands that ran long enough to be logged (`slowlog::notable`):
    /// (index, ticks), handed to the connection's thread with the replies.
    slow: Vec<(u32, u64)>,
    /// It waited on a key a migration held: in cluster mode the key's slot
    /// may have moved meanwhile, so each command's redirect is checked
    /// again before it runs (`cluster::recheck`).
    parked: bool,
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
    fn new(target: usize, db: usize, resp3: bool, who: u64) -> Group {
        let spare = SPARE.with(|s| s.borrow_mut().pop());
        match spare {
            Some(mut g) => {
                g.target = target;
                g.db = db;
                g.resp3 = resp3;
                g.who = who;
                g
            }
            None => Group {
                target,
                db,
                resp3,
                who,
                ran: false,
                data: Vec::new(),
                ranges: Vec::new(),
                cmds: Vec::new(),
                next: 0,
                next_arg: 0,
                out: Vec::new(),
                ends: Vec::new(),
                slow: Vec::new(),
                parked: false,
            },
        }
    }

    /// The `k`th command and its arguments, copied.
    fn command(&self, k: usize) -> Option<(&'static CommandSpec, Vec<Vec<u8>>)> {
        let pos: usize = self.cmds[..k].iter().map(|c| c.1 as usize).sum();
        let &(spec, argc) = self.cmds.get(k)?;
        let argv = self.ranges[pos..pos + argc as usize]
            .iter()
            .map(|&(s, e)| self.data[s as usize..e as usize].to_vec())
            .collect();
        Some((spec, argv))
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
        self.parked = false;
        self.data.clear();
        self.ranges.clear();
        self.cmds.clear();
        self.next = 0;
        self.next_arg = 0;
        self.out.clear();
        self.ends.clear();
        self.slow.clear();
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_MAX {
                s.push(self);
            }
        });
    }

    pub(super) fn push(&mut self, spec: &'static CommandSpec, argv: &[&[u8]]) {
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
        let watch = Watch::read(w);
        let mut run = None;
        let prev_who = (self.who != 0).then(|| storage::track::set_who(self.who));
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
                    slowlog::end(w, &mut run, watch);
                    if let Some(p) = prev_who {
                        storage::track::set_who(p);
                    }
                    return Ran::Blocked(self, k);
                }
            }
            let moved = if self.parked {
                cluster::recheck(w, &mut shard, spec, &argv, self.db)
            } else {
                None
            };
            if let Some(e) = moved {
                e.write(&mut self.out);
            } else if let Handler::Shard(_) = spec.handler {
                let at = self.out.len();
                let t0 = slowlog::start(w, &mut run, spec, watch);
                exec(
                    &mut shard,
                    spec,
                    self.db,
                    self.resp3,
                    now,
                    &argv,
                    &mut self.out,
                );
                if let Some(t0) = t0 {
                    let ticks = clock::ticks().wrapping_sub(t0);
                    w.stats.timed(spec.id, ticks, watch.track);
                    if ticks >= watch.notable {
                        self.slow.push((self.next as u32, ticks));
                    }
                }
                w.stats.failed_if_error(spec.id, &self.out, at);
            }
            self.ends.push(self.out.len() as u32);
            self.next += 1;
            self.next_arg = pos + argc as usize;
        }
        slowlog::end(w, &mut run, watch);
        if let Some(p) = prev_who {
            storage::track::set_who(p);
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
            Ran::Blocked(mut g, key) => {
                g.parked = true;
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
pub(super) struct Window {
    groups: Vec<Group>,
    /// The group of each command, in request order.
    order: Vec<u16>,
    writes: bool,
    /// Commands other threads ran for this window that were slow enough
    /// to be logged, for the connection to log with its own details.
    pub(super) slow: Vec<(&'static CommandSpec, Vec<Vec<u8>>, u64)>,
}

impl Window {
    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether a command for `target` may join without reordering a write.
    pub(super) fn admits(&self, target: usize, readonly: bool) -> bool {
        match self.groups.as_slice() {
            [] => true,
            [g] if g.target == target => true,
            _ => readonly && !self.writes,
        }
    }

    pub(super) fn push(
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
                    .push(Group::new(target, client.db, client.resp3, client.who));
                self.groups.len() - 1
            }
        }
    }

    /// Whether a read-only command for this thread's shard may run at once,
    /// ahead of the window's reads for other shards: the window holds no
    /// write and no command for this shard still to run, and nothing stops
    /// this thread from running its shard's commands inline.
    pub(super) fn may_run_local(&self, w: &Worker) -> bool {
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
    pub(super) fn run_local(
        &mut self,
        w: &Worker,
        client: &Client,
        spec: &'static CommandSpec,
        argv: &[&[u8]],
        now: u64,
    ) {
        let gi = self.group_for(w.id, client);
        let g = &mut self.groups[gi];
        g.ran = true;
        exec_here(w, client, spec, argv, now, &mut g.out);
        g.ends.push(g.out.len() as u32);
        self.order.push(gi as u16);
    }
}

/// Runs a command of `client` on this thread's shard, counting a failure
/// in its statistics.
#[inline]
pub(super) fn exec_here(
    w: &Worker,
    client: &Client,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    now: u64,
    out: &mut Vec<u8>,
) {
    let at = out.len();
    exec(
        &mut w.shard.borrow_mut(),
        spec,
        client.db,
        client.resp3,
        now,
        argv,
        out,
    );
    w.stats.failed_if_error(spec.id, out, at);
}

/// Runs the window's groups (remote ones first, so the shards work in
/// parallel, then this thread's) and appends the replies in request order.
pub(super) async fn flush_window(w: &Worker, win: &mut Window, out: &mut Vec<u8>) {
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
        for &(k, ticks) in &g.slow {
            if let Some((spec, argv)) = g.command(k as usize) {
                win.slow.push((spec, argv, ticks));
            }
        }
        g.recycle();
    }
}
