//! Cluster mode (`cluster-enabled yes`): Redis Cluster's protocol, so
//! cluster-aware clients, `redis-cli --cluster` and redis-server nodes work
//! with Tessera nodes unchanged.
//!
//! - [`state`]: the cluster as this node sees it and Redis Cluster's rules
//!   for every message and cron tick (pure data, no I/O).
//! - [`wire`]: the bus's binary messages (`RCmb`).
//! - [`bus`]: the bus's sockets, a listener and a link per node, and the
//!   cron, as tasks of thread 0.
//! - [`command`]: CLUSTER and its subcommands, ASKING, READONLY/READWRITE.
//!
//! The state sits under one lock, taken by the bus and by CLUSTER commands
//! — never per data command. What a data command needs (who serves each
//! slot, which slots move, the cluster's health) is published as an
//! immutable [`View`] with a generation number; each thread keeps the
//! view it last saw and takes the new one when the generation moved, so
//! the hot path costs one relaxed atomic load and an array index
//! ([`check`]). Slot `s` is served here by shard `s mod threads`, as
//! outside cluster mode, so a slot belongs to one shard thread.

pub mod bus;
pub mod command;
pub mod state;
pub mod wire;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use commands::table::flags;
use commands::{CommandSpec, Error};

use crate::client::Client;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Shared, Worker};
use state::{Cluster, Settings, SLOTS};

/// Redis's errors.
pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const TRYAGAIN: &str = "TRYAGAIN Multiple keys request during rehashing of slot";
pub const DOWN_UNBOUND: &str = "CLUSTERDOWN Hash slot not served";
pub const DOWN: &str = "CLUSTERDOWN The cluster is down";
pub const DOWN_RO: &str = "CLUSTERDOWN The cluster is down and only accepts read commands";
pub const DISABLED: &str = "ERR This instance has cluster support disabled";

/// No node (a slot nobody serves).
const NONE: u16 = u16::MAX;
/// A slot's mark in the view: it is migrating from here, or being imported.
const MIGRATING: u8 = 1;
const IMPORTING: u8 = 2;

/// What a data command needs to know of the cluster, published whole.
pub struct View {
    /// Each slot's master, an index into `addrs`.
    owner: Box<[u16]>,
    /// Each slot's MIGRATING / IMPORTING mark.
    marks: Box<[u8]>,
    /// "ip:port" of each node the owners and targets name.
    addrs: Vec<String>,
    /// Where each migrating slot goes (NONE for the others).
    migrating_to: Box<[u16]>,
    /// This node, and its master when a replica.
    me: u16,
    my_master: u16,
    ok: bool,
    allow_reads_when_down: bool,
}

impl View {
    fn empty() -> View {
        View {
            owner: vec![NONE; SLOTS].into(),
            marks: vec![0; SLOTS].into(),
            addrs: Vec::new(),
            migrating_to: vec![NONE; SLOTS].into(),
            me: NONE,
            my_master: NONE,
            ok: false,
            allow_reads_when_down: false,
        }
    }

    fn build(c: &Cluster) -> View {
        // Node id -> index in `addrs`, by the slab's small ids (a reshard
        // rebuilds the view for every slot it moves: no hashing per slot).
        let mut index: Vec<u16> = vec![NONE; c.nodes.len()];
        let mut addrs = Vec::new();
        let mut ix = |id: usize, addrs: &mut Vec<String>| -> u16 {
            if index[id] == NONE {
                let n = c.node(id);
                addrs.push(format!("{}:{}", n.ip, n.port));
                index[id] = (addrs.len() - 1) as u16;
            }
            index[id]
        };
        let mut owner = vec![NONE; SLOTS];
        let mut marks = vec![0u8; SLOTS];
        for (s, o) in c.slots.iter().enumerate() {
            if let Some(o) = o {
                owner[s] = ix(*o, &mut addrs);
            }
        }
        let mut migrating_to = vec![NONE; SLOTS];
        for (&s, &to) in &c.migrating {
            marks[s as usize] |= MIGRATING;
            migrating_to[usize::from(s)] = ix(to, &mut addrs);
        }
        for &s in c.importing.keys() {
            marks[s as usize] |= IMPORTING;
        }
        let me = ix(c.me, &mut addrs);
        let my_master = match c.myself().master {
            Some(m) if c.myself().is_replica() => ix(m, &mut addrs),
            _ => NONE,
        };
        View {
            owner: owner.into(),
            marks: marks.into(),
            addrs,
            migrating_to: migrating_to.into(),
            me,
            my_master,
            ok: c.ok,
            allow_reads_when_down: c.settings.allow_reads_when_down,
        }
    }
}

/// The process-wide cluster state (a global of the engine).
pub struct State {
    enabled: bool,
    inner: Mutex<Option<Cluster>>,
    generation: AtomicU64,
    view: Mutex<Arc<View>>,
    path: Mutex<PathBuf>,
    /// The newest version of the nodes file on disk; locked while it is
    /// written.
    file: Arc<Mutex<u64>>,
    /// The epochs (current, last vote, this node's config epoch) the file
    /// last reached the disk with; changed only under the cluster's lock,
    /// so no command waits here on the writer thread.
    synced: Mutex<(u64, u64, u64)>,
    /// The last version of the file's text handed out (see [`Locked::save`]).
    versions: AtomicU64,
    /// The writer thread's queue, once it runs.
    writer: std::sync::OnceLock<crossbeam_channel::Sender<Pending>>,
}

/// One version of the nodes file for the writer thread.
struct Pending {
    version: u64,
    path: PathBuf,
    text: String,
}

impl State {
    pub fn new(enabled: bool) -> State {
        State {
            enabled,
            inner: Mutex::new(None),
            generation: AtomicU64::new(0),
            view: Mutex::new(Arc::new(View::empty())),
            path: Mutex::new(PathBuf::new()),
            file: Arc::default(),
            synced: Mutex::new((0, 0, 0)),
            versions: AtomicU64::new(0),
            writer: std::sync::OnceLock::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The cluster under its lock; `None` outside cluster mode.
    pub fn lock(&self) -> Option<Locked<'_>> {
        if !self.enabled {
            return None;
        }
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.is_some().then_some(Locked { st: self, g })
    }
}

/// The cluster, locked; dropping it writes the nodes file and publishes
/// the view when the step changed them.
pub struct Locked<'a> {
    st: &'a State,
    g: MutexGuard<'a, Option<Cluster>>,
}

impl std::ops::Deref for Locked<'_> {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        self.g.as_ref().expect("checked in lock")
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Cluster {
        self.g.as_mut().expect("checked in lock")
    }
}

impl Locked<'_> {
    /// Writes the nodes file if anything in it changed; Err with the
    /// reason when it could not be written.
    ///
    /// When an epoch changed, the file is written and fsynced before this
    /// returns, so before the command or bus message that changed it is
    /// answered (a crash must never roll back a vote or an epoch, or a node
    /// could vote twice in one epoch, or two masters share one). The rest
    /// (slots, flags, addresses) the cluster tells a restarted node again:
    /// that text goes to the writer thread, which writes the newest version
    /// it has and skips those a newer write overtook. A reshard changes
    /// slots thousands of times, and on ext4 each write-and-rename over the
    /// old file starts the new one's writeback: a third of a SETSLOT's time
    /// when it was written inline. Every version gets a number under the
    /// cluster's lock, so the file never goes back to an older one.
    pub fn save(&mut self) -> Result<(), String> {
        self.write(false)
    }

    /// Writes the nodes file now, fsynced, whether or not it changed
    /// (CLUSTER SAVECONFIG, shutdown).
    pub fn save_now(&mut self) -> Result<(), String> {
        self.dirty = true;
        self.write(true)
    }

    fn write(&mut self, now: bool) -> Result<(), String> {
        if !self.dirty {
            return Ok(());
        }
        self.dirty = false;
        let text = self.file_text();
        let path = self
            .st
            .path
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let epochs = (
            self.current_epoch,
            self.last_vote_epoch,
            self.myself().config_epoch,
        );
        let version = self.st.versions.fetch_add(1, Ordering::Relaxed) + 1;
        let mut synced = self.st.synced.lock().unwrap_or_else(|p| p.into_inner());
        let epoch_moved = *synced != epochs;
        if !now && !epoch_moved {
            if let Some(tx) = self.st.writer.get() {
                let pending = Pending {
                    version,
                    path,
                    text,
                };
                match tx.send(pending) {
                    Ok(()) => return Ok(()),
                    Err(crossbeam_channel::SendError(p)) => {
                        return write_file(&self.st.file, p.version, &p.path, &p.text, false)
                    }
                }
            }
        }
        write_file(&self.st.file, version, &path, &text, true)?;
        *synced = epochs;
        Ok(())
    }
}

/// Writes one version of the nodes file unless a newer one is on disk.
fn write_file(
    on_disk: &Mutex<u64>,
    version: u64,
    path: &std::path::Path,
    text: &str,
    fsync: bool,
) -> Result<(), String> {
    let mut on_disk = on_disk.lock().unwrap_or_else(|p| p.into_inner());
    if version <= *on_disk {
        return Ok(());
    }
    write_atomically(path, text.as_bytes(), fsync).map_err(|e| e.to_string())?;
    *on_disk = version;
    Ok(())
}

/// The nodes file's writer thread: the newest version queued, written.
fn start_writer(st: &State) -> std::io::Result<()> {
    let (tx, rx) = crossbeam_channel::unbounded::<Pending>();
    let file = Arc::clone(&st.file);
    std::thread::Builder::new()
        .name("cluster-nodes-file".into())
        .spawn(move || {
            while let Ok(mut p) = rx.recv() {
                while let Ok(newer) = rx.try_recv() {
                    p = newer;
                }
                if let Err(e) = write_file(&file, p.version, &p.path, &p.text, false) {
                    log::warn!("Could not save the cluster config file: {e}");
                }
            }
        })?;
    let _ = st.writer.set(tx);
    Ok(())
}

/// Before the process exits: the nodes file as it is now, on disk.
pub fn flush_for_exit(w: &Worker) {
    if let Some(mut c) = state(w).lock() {
        if let Err(e) = c.save_now() {
            log::warn!("Could not save the cluster config file: {e}");
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            log::warn!("Could not save the cluster config file: {e}");
        }
        if self.view_dirty {
            self.view_dirty = false;
            let v = Arc::new(View::build(self));
            *self.st.view.lock().unwrap_or_else(|p| p.into_inner()) = v;
            self.st.generation.fetch_add(1, Ordering::Release);
        }
    }
}

/// Writes `bytes` to a temporary file beside `path` (synced first when
/// `fsync`) and renames it over `path`, so a crash of the process leaves
/// the old file or the new one, never half of one.
fn write_atomically(path: &std::path::Path, bytes: &[u8], fsync: bool) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    if fsync {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

pub fn state(w: &Worker) -> &State {
    w.shared.global::<State>()
}

/// A thread's copy of the view and the generation it was taken at.
#[derive(Default)]
pub struct Local {
    generation: Cell<u64>,
    view: RefCell<Option<Arc<View>>>,
}

fn view(w: &Worker, st: &State) -> Arc<View> {
    let local = w.local::<Local>();
    let g = st.generation.load(Ordering::Acquire);
    let mut v = local.view.borrow_mut();
    if v.is_none() || local.generation.get() != g {
        *v = Some(Arc::clone(
            &st.view.lock().unwrap_or_else(|p| p.into_inner()),
        ));
        local.generation.set(g);
    }
    Arc::clone(v.as_ref().expect("set above"))
}

/// The cluster's settings from the config.
pub fn settings(shared: &Shared) -> Settings {
    let c = &shared.config;
    let num = |name: &str, default: u64| c.text(name).parse().unwrap_or(default);
    let yes = |name: &str, default: bool| match c.text(name).as_str() {
        "yes" => true,
        "no" => false,
        _ => default,
    };
    let port = c.startup.port;
    let announced_port = num("cluster-announce-port", 0) as u16;
    let cport = bus_port(shared);
    let announced_cport = num("cluster-announce-bus-port", 0) as u16;
    Settings {
        node_timeout: num("cluster-node-timeout", 15000).max(1),
        require_full_coverage: yes("cluster-require-full-coverage", true),
        allow_reads_when_down: yes("cluster-allow-reads-when-down", false),
        validity_factor: num("cluster-replica-validity-factor", 10),
        allow_replica_migration: yes("cluster-allow-replica-migration", true),
        replica_no_failover: yes("cluster-replica-no-failover", false),
        announce_ip: c.text("cluster-announce-ip"),
        announce_hostname: c.text("cluster-announce-hostname"),
        port: if announced_port != 0 {
            announced_port
        } else {
            port
        },
        cport: if announced_cport != 0 {
            announced_cport
        } else {
            cport
        },
    }
}

/// The settings as CONFIG SET left them, and what of them shows in this
/// node's own entry (its hostname, the nofailover flag the others see).
/// Taken by the cron and by each CLUSTER command, so a reply right after
/// CONFIG SET already has it, as Redis's.
pub fn refresh_settings(shared: &Shared, c: &mut Cluster) {
    c.settings = settings(shared);
    let me = c.me;
    if c.node(me).hostname != c.settings.announce_hostname {
        c.node_mut(me).hostname = c.settings.announce_hostname.clone();
        c.dirty = true;
    }
    let no_failover = c.settings.replica_no_failover;
    if c.node(me).has(wire::flag::NOFAILOVER) != no_failover {
        c.node_mut(me).flags ^= wire::flag::NOFAILOVER;
        c.dirty = true;
    }
}

/// The port the bus listens on: `cluster-port`, else port + 10000.
pub fn bus_port(shared: &Shared) -> u16 {
    let c = &shared.config;
    match c.text("cluster-port").parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => c.startup.port.wrapping_add(10000),
    }
}

/// The nodes file's path: `dir`/`cluster-config-file`.
fn nodes_path(shared: &Shared) -> PathBuf {
    let c = &shared.config;
    let dir = c.text("dir");
    let name = c.text("cluster-config-file");
    std::path::Path::new(if dir.is_empty() { "." } else { &dir }).join(if name.is_empty() {
        "nodes.conf"
    } else {
        &name
    })
}

/// At start, before any client: loads the nodes file or creates this
/// node (and writes the file). Err stops the server, as Redis does on a
/// corrupt file.
pub fn init(shared: &Shared) -> Result<(), String> {
    let st = shared.global::<State>();
    if !st.enabled {
        return Ok(());
    }
    let path = nodes_path(shared);
    *st.path.lock().unwrap_or_else(|p| p.into_inner()) = path.clone();
    start_writer(st).map_err(|e| format!("Can't start the cluster config file's writer: {e}"))?;
    let now = now_ms();
    let mut c = Cluster::new(settings(shared), now);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            c.load(&text, now)?;
            log::info!("Node configuration loaded, I'm {}", c.myself().name_str());
        }
        Ok(_) | Err(_) => {
            log::info!(
                "No cluster configuration found, I'm {}",
                c.myself().name_str()
            );
        }
    }
    c.dirty = true;
    c.view_dirty = true;
    *st.inner.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
    let mut g = st.lock().ok_or("cluster state missing")?;
    g.save_now().map_err(|e| {
        format!(
            "Can't write the cluster config file {}: {e}",
            path.display()
        )
    })?;
    drop(g);
    Ok(())
}

/// Why a command may not run on this node; checked before it runs, after
/// ACL, as Redis does. `Lookup` when the answer depends on which of the
/// keys exist here (a slot migrating or importing): see [`lookup`].
pub enum Verdict {
    Pass,
    Refuse(Error),
    Lookup(u16),
}

/// The slot of every key of `argv`, or CROSSSLOT; None without keys.
fn slot_of(spec: &'static CommandSpec, argv: &[&[u8]]) -> Result<Option<(u16, usize)>, Error> {
    if spec.first_key > 0 && spec.first_key == spec.last_key && spec.keys_fn.is_none() {
        let k = spec.first_key as usize;
        return Ok(argv.get(k).map(|key| (commands::slot::key_slot(key), 1)));
    }
    let keys = spec.keys_of(argv);
    let mut slot = None;
    for &k in &keys {
        let s = commands::slot::key_slot(argv[k]);
        match slot {
            None => slot = Some(s),
            Some(x) if x != s => return Err(Error::Static(CROSSSLOT)),
            _ => {}
        }
    }
    Ok(slot.map(|s| (s, keys.len())))
}

/// The redirect check of one command (cluster mode only). `write`: the
/// command may write (its flag, or a script that declares it may, as the
/// caller tells): a replica redirects it to the slot's master even for a
/// READONLY client.
#[inline]
pub fn check(
    w: &Worker,
    st: &State,
    client: &Client,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    write: bool,
) -> Verdict {
    let slot = match slot_of(spec, argv) {
        Ok(Some((s, _))) => s,
        Ok(None) => return Verdict::Pass,
        Err(e) => return Verdict::Refuse(e),
    };
    let v = view(w, st);
    let s = usize::from(slot);
    // Redis's order: a slot nobody serves, then the cluster's state.
    if v.owner[s] == NONE {
        return Verdict::Refuse(Error::Static(DOWN_UNBOUND));
    }
    // Sharded pub/sub (the only pub/sub commands with a slot): served
    // while the cluster is down (Redis's default for
    // cluster-allow-pubsubshard-when-down), by the slot's master and its
    // replicas without READONLY, and whatever keys a moving slot holds
    // here (a shard channel is no key).
    if spec.has(flags::PUBSUB) {
        let owner = v.owner[s];
        if owner == v.me
            || (v.my_master != NONE && owner == v.my_master)
            || (v.marks[s] & IMPORTING != 0 && client.asking != 0)
        {
            return Verdict::Pass;
        }
        return Verdict::Refuse(Error::Other(format!(
            "MOVED {slot} {}",
            v.addrs[usize::from(owner)]
        )));
    }
    if !v.ok {
        if !v.allow_reads_when_down {
            return Verdict::Refuse(Error::Static(DOWN));
        }
        if write {
            return Verdict::Refuse(Error::Static(DOWN_RO));
        }
    }
    let owner = v.owner[s];
    if owner == v.me && v.marks[s] == 0 {
        return Verdict::Pass;
    }
    if v.marks[s] & MIGRATING != 0 && owner == v.me {
        return Verdict::Lookup(slot);
    }
    if v.marks[s] & IMPORTING != 0 && (client.asking != 0 || spec.name == "restore-asking") {
        return Verdict::Lookup(slot);
    }
    if owner == v.me {
        return Verdict::Pass;
    }
    // A replica serves reads of its master's slots to READONLY clients.
    if client.cluster_readonly && !write && v.my_master != NONE && owner == v.my_master {
        return Verdict::Pass;
    }
    if owner == NONE {
        return Verdict::Refuse(Error::Static(DOWN_UNBOUND));
    }
    Verdict::Refuse(Error::Other(format!(
        "MOVED {slot} {}",
        v.addrs[usize::from(owner)]
    )))
}

/// The answer for a command on a moving slot, given how many of its `n`
/// keys are here: None to run it, else the redirect (ASK to the target
/// while the slot migrates and a key is gone, TRYAGAIN when only some
/// are here, MOVED if the slot moved on meanwhile).
fn moving_verdict(
    v: &View,
    slot: u16,
    n: usize,
    present: usize,
    asking: bool,
    write: bool,
    readonly: bool,
) -> Option<Error> {
    let s = usize::from(slot);
    let missing = n - present;
    if v.marks[s] & MIGRATING != 0 && v.owner[s] == v.me {
        if missing == 0 {
            return None;
        }
        if present > 0 {
            return Some(Error::Static(TRYAGAIN));
        }
        let to = v.migrating_to[s];
        return (to != NONE)
            .then(|| Error::Other(format!("ASK {slot} {}", v.addrs[usize::from(to)])));
    }
    if v.marks[s] & IMPORTING != 0 && asking {
        if n > 1 && missing > 0 {
            return Some(Error::Static(TRYAGAIN));
        }
        return None;
    }
    let owner = v.owner[s];
    if owner == v.me || (readonly && !write && v.my_master != NONE && owner == v.my_master) {
        return None;
    }
    if owner == NONE {
        return Some(Error::Static(DOWN_UNBOUND));
    }
    Some(Error::Other(format!(
        "MOVED {slot} {}",
        v.addrs[usize::from(owner)]
    )))
}

/// The second half of [`check`] for a slot that is moving, where the
/// command cannot run in the same step (inside MULTI, or a command the
/// server runs itself): which of the keys are here decides between
/// running, ASK and TRYAGAIN.
pub async fn lookup(
    w: &Worker,
    st: &State,
    client: &Client,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    slot: u16,
) -> Option<Error> {
    let keys: Vec<Vec<u8>> = spec
        .keys_of(argv)
        .iter()
        .map(|&k| argv[k].to_vec())
        .collect();
    let shard = usize::from(slot) % w.nshards();
    let n = keys.len();
    let db = client.db;
    let present = Route::plain(w)
        .call(shard, move |w| {
            let now = now_ms();
            let mut sh = w.shard.borrow_mut();
            keys.iter()
                .filter(|k| sh.ks.dbs[db].contains(k, now))
                .count()
        })
        .await
        .unwrap_or(0);
    let asking = client.asking != 0 || spec.name == "restore-asking";
    let v = view(w, st);
    moving_verdict(
        &v,
        slot,
        n,
        present,
        asking,
        spec.has(flags::WRITE),
        client.cluster_readonly,
    )
}

/// A data command on a moving slot, decided and run in one step on the
/// slot's shard, so no MIGRATE of its keys falls between the check and the
/// command (a key MIGRATE holds is answered TRYAGAIN; clients retry).
pub async fn run_moving(
    w: &Worker,
    client: &Client,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    slot: u16,
    out: &mut Vec<u8>,
) {
    let args: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    let keys: Vec<usize> = spec.keys_of(argv);
    let shard = usize::from(slot) % w.nshards();
    let (db, resp3) = (client.db, client.resp3);
    let asking = client.asking != 0 || spec.name == "restore-asking";
    let readonly = client.cluster_readonly;
    let reply = Route::plain(w)
        .call(shard, move |w| {
            let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let mut out = Vec::new();
            if w.any_locked() && keys.iter().any(|&k| w.is_locked(db, argv[k])) {
                Error::Static(TRYAGAIN).write(&mut out);
                return out;
            }
            let now = now_ms();
            let present = {
                let mut sh = w.shard.borrow_mut();
                keys.iter()
                    .filter(|&&k| sh.ks.dbs[db].contains(argv[k], now))
                    .count()
            };
            let v = view(w, state(w));
            let write = spec.has(flags::WRITE);
            match moving_verdict(&v, slot, keys.len(), present, asking, write, readonly) {
                Some(e) => e.write(&mut out),
                None => crate::engine::worker::exec(
                    &mut w.shard.borrow_mut(),
                    spec,
                    db,
                    resp3,
                    now,
                    &argv,
                    &mut out,
                ),
            }
            out
        })
        .await
        .unwrap_or_default();
    out.extend_from_slice(&reply);
}

/// INFO's cluster section.
pub fn info(w: &Worker) -> String {
    if state(w).enabled {
        "# Cluster\r\ncluster_enabled:1\r\n\r\n".into()
    } else {
        "# Cluster\r\ncluster_enabled:0\r\n\r\n".into()
    }
}

/// A replica's replication offset, and whether its link is down, for the
/// election (called by the bus's cron).
pub fn sync_replication(w: &Worker, c: &mut Cluster) {
    let repl = crate::features::replication::state(w);
    c.my_offset = repl.offset.load(Ordering::Acquire).max(0) as u64;
    c.master_link_down_since = if repl.link_up.load(Ordering::Acquire) {
        0
    } else {
        repl.with(|s| s.down_since_ms).max(1)
    };
    // A replica that follows no one (just restarted from its nodes file)
    // follows its master once the master's address is known, as Redis's
    // cron does.
    if c.myself().is_replica() && repl.with(|s| s.master.is_none()) {
        if let Some(m) = c.myself().master {
            let m = c.node(m);
            if !m.ip.is_empty() && m.port != 0 && !m.has(wire::flag::NOADDR) {
                c.effects
                    .push(state::Effect::Replicate(m.ip.clone(), m.port));
            }
        }
    }
}

/// PUBLISH in cluster mode: the message goes to every other node too.
pub fn publish(w: &Worker, channel: &[u8], message: &[u8]) {
    let st = state(w);
    if !st.enabled {
        return;
    }
    if let Some(mut c) = st.lock() {
        c.broadcast_publish(channel, message);
    }
    bus::kick(w);
}

/// SPUBLISH in cluster mode: the message goes to the other nodes of this
/// node's shard (its master and that master's replicas).
pub fn publish_shard(w: &Worker, channel: &[u8], message: &[u8]) {
    let st = state(w);
    if !st.enabled {
        return;
    }
    if let Some(mut c) = st.lock() {
        c.broadcast_publish_shard(channel, message);
    }
    bus::kick(w);
}

/// Called before each command while ASKING is set: the command after
/// ASKING uses it, the one after that no longer has it (a transaction
/// keeps it to its EXEC), as Redis.
pub fn asking_spent(client: &mut Client, name: &str) {
    if client.asking == 2 {
        client.asking = 0;
    } else if name != "asking"
        && name != "multi"
        && (client.multi.is_none() || name == "exec" || name == "discard")
    {
        client.asking = 2;
    }
}

/// A data command that waited on a key a migration held (a pipelined
/// group parked on the key, `conn/window.rs`): the slot may have begun
/// or finished moving meanwhile, so its redirect is decided again, on the
/// key's shard, just before it runs. None: run it.
pub fn recheck(
    w: &Worker,
    shard: &mut commands::Shard,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    db: usize,
) -> Option<Error> {
    let st = state(w);
    if !st.enabled {
        return None;
    }
    let Ok(Some((slot, n))) = slot_of(spec, argv) else {
        return None;
    };
    let v = view(w, st);
    let s = usize::from(slot);
    if v.owner[s] == v.me && v.marks[s] == 0 {
        return None;
    }
    let now = now_ms();
    let present = spec
        .keys_of(argv)
        .iter()
        .filter(|&&k| shard.ks.dbs[db].contains(argv[k], now))
        .count();
    moving_verdict(&v, slot, n, present, false, spec.has(flags::WRITE), false)
}

/// DEBUG DROP-CLUSTER-PACKET-FILTER type (-1: drop nothing).
pub fn set_drop_filter(w: &Worker, t: i64) {
    if let Some(mut c) = state(w).lock() {
        c.drop_filter = i32::try_from(t).unwrap_or(-1);
    }
}
