//! The append-only file, in Redis 7.0's multi-part layout: `dir/
//! appenddirname/` holds a base (an RDB snapshot, or commands), the incr
//! files of commands written after it, and the manifest naming them
//! (`storage::aof`). Redis 7.0 starts from Tessera's directory and
//! Tessera from Redis's.
//!
//! What is appended is the journal (`engine/journal.rs`): every shard's
//! writes as one stream in a serial order of the server, in Redis's
//! propagation form. One thread, the writer, reads it, adds SELECT where
//! the database changes, writes it and syncs it as `appendfsync` says:
//! - `always`: one fdatasync for everything it read at once (group
//!   commit: every connection's writes since the last one), and replies
//!   to writes wait for it (`journal::durable`);
//! - `everysec`: at most one a second, in the writer, never in a shard;
//! - `no`: the kernel's choice.
//!
//! # Rewrites (BGREWRITEAOF), fork-less
//!
//! A rewrite takes the cut `persist::snapshot_to` takes for BGSAVE — every
//! shard held at once — and while they are held tells the writer to start
//! the next incr file: everything before the cut is in the snapshot, and
//! everything after it in the new file. The snapshot is then written as
//! the new base (an RDB, `aof-use-rdb-preamble yes`) while the shards
//! keep serving, and the manifest switches to it; the files it replaced
//! are deleted. Turning `appendonly` on (config or CONFIG SET) is the same
//! rewrite, with journaling switched on at its cut.
//!
//! # Loading
//!
//! At start with `appendonly yes` the AOF, not the dump file, is the
//! dataset, as in Redis: the base, then each incr file's commands, run
//! through the same paths as clients' (`multi::run_queued`). Every file
//! the manifest names must exist. A file that opens with an RDB (a base,
//! or a pre-7.0 file's preamble) loads it with `persist::load_prefix`,
//! then the commands after it. A truncated last file is cut back to its
//! last whole command with a warning (`aof-load-truncated yes`) or stops
//! the server; bad bytes anywhere else, or an unknown command, stop it
//! with Redis's message as the log's last line. Nothing expires while the
//! files load (`storage::dict::pause_expiry`), as in Redis.
//!
//! A pre-7.0 single file, `dir/appendonly.aof`, is upgraded as Redis 7.0
//! does: the manifest is written naming it as the base, then it is moved
//! into the AOF directory unrenamed (an upgrade cut short between the two
//! is finished at the next start); the next rewrite replaces it.
//!
//! DEBUG LOADAOF loads the AOF again, holding every shard.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{Error, Handler};
use resp::encode;
use storage::aof::{self as format, AofFile, Commands, Manifest, Next, ReadError};

use crate::client::Client;
use crate::engine::journal::{self, Msg};
use crate::engine::mesh::Mesh;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};
use crate::features::master;
use crate::features::multi::RunServer;

type Argv<'a> = &'a [&'a [u8]];

/// `appendfsync`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    fn from_config(w: &Worker) -> Fsync {
        match w.shared.config.text("appendfsync").as_str() {
            "always" => Fsync::Always,
            "no" => Fsync::No,
            _ => Fsync::EverySec,
        }
    }
}

/// The AOF's state, for INFO and the commands (registered in `Globals`).
#[derive(Default)]
pub struct State {
    /// `appendonly` is on (INFO aof_enabled).
    pub enabled: AtomicBool,
    pub rewriting: AtomicBool,
    pub scheduled: AtomicBool,
    rewrite_started_ms: AtomicU64,
    last_rewrite_secs: AtomicI64,
    last_rewrite_failed: AtomicBool,
    rewrites: AtomicU64,
    failures_in_a_row: AtomicU64,
    /// Set by the writer.
    last_write_failed: AtomicBool,
    current_size: AtomicU64,
    base_size: AtomicU64,
}

fn state(w: &Worker) -> &State {
    w.shared.global::<State>()
}

/// What the writer is told, in stream order (`journal::control`).
enum Ctl {
    /// Append to the last incr file of an AOF that loaded.
    Open {
        dir: PathBuf,
        name: String,
        manifest: Manifest,
        fsync: Fsync,
    },
    /// At a rewrite's cut: later commands go to a new incr file.
    Rotate {
        dir: PathBuf,
        name: String,
        fsync: Fsync,
    },
    /// A rewrite's base is in place: switch the manifest to it.
    Install {
        dir: PathBuf,
        name: String,
        base: AofFile,
        done: crossbeam_channel::Sender<Result<(), String>>,
    },
    Fsync(Fsync),
    /// `appendonly no`.
    Close,
    /// Write and sync everything read so far (shutdown).
    Flush(crossbeam_channel::Sender<()>),
}

fn send(ctl: Ctl) {
    journal::control(Box::new(ctl));
}

/// The AOF directory and file name the configuration gives.
fn layout(w: &Worker) -> (PathBuf, String) {
    let c = &w.shared.config;
    let dir = c.text("dir");
    let sub = c.text("appenddirname");
    let name = c.text("appendfilename");
    (
        Path::new(if dir.is_empty() { "." } else { &dir }).join(if sub.is_empty() {
            "appendonlydir"
        } else {
            &sub
        }),
        if name.is_empty() {
            "appendonly.aof".into()
        } else {
            name
        },
    )
}

fn enabled_in_config(w: &Worker) -> bool {
    w.shared.config.text("appendonly") == "yes"
}

// ---------------------------------------------------------------- writer

/// The open incr file and what the writer knows of the AOF.
struct Open {
    dir: PathBuf,
    name: String,
    manifest: Manifest,
    file: File,
    db: Option<usize>,
    fsync: Fsync,
    /// The incr seq the last rotation started (files before it are the
    /// next base's to replace).
    cut_seq: u64,
    /// Whether the manifest on disk names the current incr file (not
    /// before the first base when the AOF is being turned on).
    listed: bool,
    unsynced: bool,
    last_sync: Instant,
}

/// `DEBUG AOF-FLUSH-SLEEP`: microseconds the writer sleeps before each
/// write, so that tests can widen the window between a write and its
/// reply.
static FLUSH_SLEEP_US: AtomicU64 = AtomicU64::new(0);

/// Sets [`FLUSH_SLEEP_US`] (`DEBUG AOF-FLUSH-SLEEP`; 0 turns it off).
pub fn set_flush_sleep(micros: u64) {
    FLUSH_SLEEP_US.store(micros, Ordering::Relaxed);
}

/// How long the writer waits for more after a round with work.
const LINGER: Duration = Duration::from_micros(200);

/// Starts the writer thread: it reads the journal for the whole life of
/// the process (idle, it sleeps in `recv`).
pub fn spawn_writer(mesh: Arc<Mesh<Worker>>, shared: Arc<crate::engine::worker::Shared>) {
    let Some(rx) = journal::receiver() else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("aof-writer".into())
        .spawn(move || writer(rx, mesh, shared));
    if let Err(e) = spawned {
        log::warn!("Can't start the AOF writer: {e}");
    }
}

fn writer(
    rx: crossbeam_channel::Receiver<Msg>,
    mesh: Arc<Mesh<Worker>>,
    shared: Arc<crate::engine::worker::Shared>,
) {
    let st = shared.global::<State>();
    // The replication stream is fed from the same rounds (`master.rs`).
    let mst = shared.global::<master::State>();
    let rst = shared.global::<crate::features::replication::State>();
    let mut last_fed = Instant::now();
    // `aof-timestamp-enabled`: a `#TS:` line before the first write of
    // each second, as Redis annotates.
    let mut last_stamp = 0u64;
    let mut open: Option<Open> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut seen: HashMap<usize, u64> = HashMap::new();
    // After a round that found work, the writer lingers a moment and
    // takes what came meanwhile without blocking: senders then find no
    // sleeping receiver to wake (a system call each), and one write (and,
    // with `always`, one fsync) covers more. A round that finds nothing
    // goes back to blocking.
    let mut linger = false;
    // Whether the stream is a master's, relayed (from a replica link's
    // Upstream to a promotion, in the channel's order: a write this server
    // journals for its AOF before the promotion is the master's, relayed
    // already; one after it is this server's own).
    let mut relaying = rst.replica.load(Ordering::Acquire);
    loop {
        if linger {
            std::thread::sleep(LINGER);
        }
        let first = match &open {
            _ if linger => rx.try_recv().ok(),
            Some(o) if o.fsync == Fsync::EverySec && o.unsynced => {
                let left = Duration::from_secs(1).saturating_sub(o.last_sync.elapsed());
                match rx.recv_timeout(left) {
                    Ok(m) => Some(m),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(_) => return,
                }
            }
            // With replicas, a PING every `repl-ping-replica-period` keeps
            // their links alive while nothing is written.
            _ if mst.active.load(Ordering::Acquire) => {
                match rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(m) => Some(m),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(_) => return,
                }
            }
            _ => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => return,
            },
        };
        let mut fed = false;
        // (Not with `always`: there the clients wait, and the fsync itself
        // gathers the next round.)
        linger = first.is_some() && open.as_ref().is_some_and(|o| o.fsync != Fsync::Always);
        let stamping = first.is_some()
            && open.is_some()
            && shared.config.text("aof-timestamp-enabled") == "yes";
        let mut next = first;
        // Everything already waiting goes in this round (group commit).
        let mut taken = 0;
        while let Some(m) = next {
            match m {
                Msg::Batch { thread, seq, bytes } => {
                    if let Some(o) = &mut open {
                        if stamping && !bytes.is_empty() {
                            let secs = now_ms() / 1000;
                            if secs > last_stamp {
                                format::encode_timestamp(&mut buf, secs);
                                last_stamp = secs;
                            }
                        }
                        append(o, &bytes, &mut buf);
                    }
                    // A replica's stream is its master's (`master.rs`):
                    // its own journal (an AOF's) is not added to it.
                    if !relaying {
                        fed |= master::append_frames(mst, &bytes);
                    }
                    seen.insert(thread, seq);
                }
                Msg::Ctl(c) => match c.downcast::<Ctl>() {
                    Ok(c) => {
                        write_out(&mut open, &mut buf, st);
                        control(*c, &mut open, st);
                    }
                    Err(c) => match c.downcast::<master::Ctl>() {
                        Ok(c) => {
                            match *c {
                                master::Ctl::Upstream { .. } => relaying = true,
                                master::Ctl::Promoted => relaying = false,
                                _ => {}
                            }
                            fed |= master::control(mst, rst, *c);
                        }
                        Err(c) => {
                            if c.is::<crate::features::replication::Promoted>() {
                                relaying = false;
                                fed |= master::control(mst, rst, master::Ctl::Promoted);
                            }
                        }
                    },
                },
            }
            taken += 1;
            next = if taken < 4096 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        write_out(&mut open, &mut buf, st);
        if let Some(o) = &mut open {
            let due = match o.fsync {
                Fsync::Always => o.unsynced,
                Fsync::EverySec => o.unsynced && o.last_sync.elapsed() >= Duration::from_secs(1),
                Fsync::No => false,
            };
            if due {
                sync(o, st);
            }
        }
        if mst.active.load(Ordering::Acquire) {
            let period = shared
                .config
                .other("repl-ping-replica-period")
                .parse::<u64>()
                .unwrap_or(10)
                .max(1);
            // (A replica's master sends the PINGs it relays.)
            let replica = rst.replica.load(Ordering::Acquire);
            if !fed
                && !replica
                && last_fed.elapsed() >= Duration::from_secs(period)
                && !crate::features::pause::failover_pause(&shared)
            {
                fed = master::ping(mst);
            }
            if fed {
                last_fed = Instant::now();
                master::fed(mst, rst);
                for t in 0..shared.threads {
                    mesh.post_from_outside(
                        t,
                        Box::new(|_| {
                            master::wake_links();
                            Box::new(()) as Box<dyn std::any::Any + Send>
                        }),
                    );
                }
            }
        }
        let wake = journal::waits();
        for (thread, seq) in seen.drain() {
            journal::mark_durable(thread, seq);
            if !wake {
                continue;
            }
            mesh.post_from_outside(
                thread,
                Box::new(|_| {
                    journal::wake_durable();
                    Box::new(()) as Box<dyn std::any::Any + Send>
                }),
            );
        }
    }
}

/// Adds a batch's frames to `buf`, with SELECT where the database changes.
fn append(o: &mut Open, bytes: &[u8], buf: &mut Vec<u8>) {
    for (first, last, body) in journal::frames(bytes) {
        if o.db != Some(first) {
            journal::encode_select(buf, first);
        }
        buf.extend_from_slice(body);
        o.db = Some(last);
    }
}

fn write_out(open: &mut Option<Open>, buf: &mut Vec<u8>, st: &State) {
    if buf.is_empty() {
        return;
    }
    let pause = FLUSH_SLEEP_US.load(Ordering::Relaxed);
    if pause > 0 {
        std::thread::sleep(Duration::from_micros(pause));
    }
    if let Some(o) = open {
        match o.file.write_all(buf) {
            Ok(()) => {
                o.unsynced = true;
                st.current_size
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                st.last_write_failed.store(false, Ordering::Relaxed);
            }
            Err(e) => {
                log::warn!("Error writing to the AOF file: {e}");
                st.last_write_failed.store(true, Ordering::Relaxed);
            }
        }
    }
    buf.clear();
}

fn sync(o: &mut Open, st: &State) {
    if let Err(e) = o.file.sync_data() {
        log::warn!("Error syncing the AOF file: {e}");
        st.last_write_failed.store(true, Ordering::Relaxed);
    }
    o.unsynced = false;
    o.last_sync = Instant::now();
}

fn control(c: Ctl, open: &mut Option<Open>, st: &State) {
    match c {
        Ctl::Open {
            dir,
            name,
            mut manifest,
            fsync,
        } => {
            let incr = match manifest.incrs.last() {
                Some(f) => f.clone(),
                None => {
                    let f = manifest.next_incr_name(&name);
                    manifest.incrs.push(f.clone());
                    f
                }
            };
            match open_append(&dir.join(&incr.name)) {
                Ok(file) => {
                    let o = Open {
                        dir,
                        name,
                        cut_seq: incr.seq,
                        manifest,
                        file,
                        db: None,
                        fsync,
                        listed: true,
                        unsynced: false,
                        last_sync: Instant::now(),
                    };
                    if let Err(e) = write_manifest(&o.dir, &o.name, &o.manifest) {
                        log::warn!("Can't write the AOF manifest: {e}");
                    }
                    *open = Some(o);
                }
                Err(e) => log::warn!("Can't open the append-only file {}: {e}", incr.name),
            }
        }
        Ctl::Rotate { dir, name, fsync } => {
            if let Some(o) = open.as_mut() {
                sync(o, st);
            }
            // The manifest on disk (or a fresh one).
            let (manifest, listed) = match open.take() {
                Some(o) if o.dir == dir && o.name == name => (o.manifest, o.listed),
                _ => match read_manifest(&dir, &name) {
                    Ok(Some(m)) => (m, true),
                    _ => (Manifest::default(), false),
                },
            };
            let mut manifest = manifest;
            if let Err(e) = std::fs::create_dir_all(&dir) {
                log::warn!("Can't create the AOF directory {}: {e}", dir.display());
                return;
            }
            let incr = manifest.next_incr_name(&name);
            match open_append(&dir.join(&incr.name)) {
                Ok(file) => {
                    manifest.incrs.push(incr.clone());
                    // A manifest with no base yet (the AOF being turned on)
                    // is written only once the first base is in place.
                    let listed = listed && manifest.base.is_some();
                    if listed {
                        if let Err(e) = write_manifest(&dir, &name, &manifest) {
                            log::warn!("Can't write the AOF manifest: {e}");
                        }
                    }
                    st.current_size.store(0, Ordering::Relaxed);
                    *open = Some(Open {
                        dir,
                        name,
                        manifest,
                        file,
                        db: None,
                        fsync,
                        cut_seq: incr.seq,
                        listed,
                        unsynced: false,
                        last_sync: Instant::now(),
                    });
                }
                Err(e) => log::warn!("Can't open the append-only file {}: {e}", incr.name),
            }
        }
        Ctl::Install {
            dir,
            name,
            base,
            done,
        } => {
            let result = match open.as_mut() {
                Some(o) if o.dir == dir && o.name == name => {
                    let cut = o.cut_seq;
                    let old = o.manifest.clone();
                    o.manifest.base = Some(base);
                    o.manifest.incrs.retain(|f| f.seq >= cut);
                    o.manifest.history.clear();
                    o.listed = true;
                    let r = write_manifest(&dir, &name, &o.manifest);
                    if r.is_ok() {
                        remove_replaced(&dir, &old, &o.manifest);
                        // Sizes for INFO and the automatic rewrite: the
                        // base now, plus what the incr file has had.
                        if let Some(b) = &o.manifest.base {
                            let len = std::fs::metadata(dir.join(&b.name)).map_or(0, |m| m.len());
                            st.base_size.store(len, Ordering::Relaxed);
                            st.current_size.fetch_add(len, Ordering::Relaxed);
                        }
                    }
                    r
                }
                _ => {
                    // Rewritten with the AOF off: the base alone.
                    let old = read_manifest(&dir, &name)
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    let m = Manifest {
                        base: Some(base),
                        incrs: Vec::new(),
                        history: Vec::new(),
                    };
                    let r = write_manifest(&dir, &name, &m);
                    if r.is_ok() {
                        remove_replaced(&dir, &old, &m);
                    }
                    r
                }
            };
            let _ = done.send(result.map_err(|e| e.to_string()));
        }
        Ctl::Fsync(f) => {
            if let Some(o) = open.as_mut() {
                o.fsync = f;
            }
        }
        Ctl::Close => {
            if let Some(mut o) = open.take() {
                sync(&mut o, st);
            }
        }
        Ctl::Flush(done) => {
            if let Some(o) = open.as_mut() {
                sync(o, st);
            }
            let _ = done.send(());
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn read_manifest(dir: &Path, name: &str) -> Result<Option<Manifest>, String> {
    let path = dir.join(format::manifest_name(name));
    match std::fs::read_to_string(&path) {
        Ok(text) => Manifest::parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the manifest as Redis does: a temporary file, synced, renamed.
fn write_manifest(dir: &Path, name: &str, m: &Manifest) -> std::io::Result<()> {
    let path = dir.join(format::manifest_name(name));
    let tmp = dir.join(format!("temp-{}", format::manifest_name(name)));
    let mut f = File::create(&tmp)?;
    f.write_all(m.to_text().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Deletes the files `old` named that `new` does not.
fn remove_replaced(dir: &Path, old: &Manifest, new: &Manifest) {
    let keep: Vec<&str> = new
        .base
        .iter()
        .chain(&new.incrs)
        .map(|f| f.name.as_str())
        .collect();
    for f in old.base.iter().chain(&old.incrs).chain(&old.history) {
        if !keep.contains(&f.name.as_str()) {
            let _ = std::fs::remove_file(dir.join(&f.name));
        }
    }
}

// ---------------------------------------------------------------- rewrite

/// Rewrites the AOF (BGREWRITEAOF, turning it on, or its first base at
/// start): see the module doc. `turn_on`: start journaling at the cut.
async fn rewrite(r: &Route<'_>) -> Result<(), String> {
    let st = state(r);
    let (dir, name) = layout(r);
    let on = st.enabled.load(Ordering::Acquire);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let current = read_manifest(&dir, &name)?.unwrap_or_default();
    let preamble = r.shared.config.text("aof-use-rdb-preamble") != "no";
    let base = current.next_base_name(&name, preamble);
    // Without the preamble the snapshot is taken as an RDB beside it and
    // turned into commands (`base_as_commands`).
    let snapshot = if preamble {
        dir.join(&base.name)
    } else {
        dir.join(format!("temp-rewrite-{}.rdb", std::process::id()))
    };
    let fsync = Fsync::from_config(r);
    let (d2, n2) = (dir.clone(), name.clone());
    crate::features::persist::snapshot_to(r, &snapshot, true, move || {
        if on {
            journal::set_wait(fsync == Fsync::Always);
            journal::set_on(true);
            send(Ctl::Rotate {
                dir: d2,
                name: n2,
                fsync,
            });
        }
    })
    .await?;
    if !preamble {
        let target = dir.join(&base.name);
        let stamp = r.shared.config.text("aof-timestamp-enabled") == "yes";
        let converted = rt::off_thread(move || base_as_commands(&snapshot, &target, stamp)).await;
        converted?;
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    send(Ctl::Install {
        dir,
        name,
        base,
        done: tx,
    });
    rt::off_thread(move || {
        rx.recv()
            .unwrap_or_else(|_| Err("the AOF writer is gone".into()))
    })
    .await
}

/// A base in AOF form (`aof-use-rdb-preamble no`): the snapshot's keys as
/// commands Redis replays — per database a SELECT, per key a RESTORE of
/// its DUMP payload with its absolute deadline (ABSTTL), per function
/// library a FUNCTION LOAD — written to `target`, synced; the RDB removed.
fn base_as_commands(rdb: &Path, target: &Path, stamp: bool) -> Result<(), String> {
    use storage::rdb::file::{Item, Reader};
    let err = |e: std::io::Error| format!("{}: {e}", target.display());
    let file = File::open(rdb).map_err(|e| format!("{}: {e}", rdb.display()))?;
    let mut reader =
        Reader::new(std::io::BufReader::with_capacity(1 << 20, file)).map_err(|e| e.to_string())?;
    let tmp = target.with_extension("tmp");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, File::create(&tmp).map_err(err)?);
    let mut cmd = Vec::new();
    if stamp {
        format::encode_timestamp(&mut cmd, now_ms() / 1000);
    }
    let mut db = None;
    loop {
        match reader.next_item().map_err(|e| e.to_string())? {
            Item::Entry {
                db: d,
                key,
                value,
                expire_ms,
            } => {
                if db != Some(d) {
                    journal::encode_select(&mut cmd, d as usize);
                    db = Some(d);
                }
                let ttl = expire_ms.unwrap_or(0).to_string();
                let payload = storage::rdb::dump(&value);
                let mut argv: Vec<&[u8]> = vec![b"RESTORE", &key, ttl.as_bytes(), &payload];
                if expire_ms.is_some() {
                    argv.push(b"ABSTTL");
                }
                journal::encode(&mut cmd, &argv);
            }
            Item::FunctionLib(code) => journal::encode(&mut cmd, &[b"FUNCTION", b"LOAD", &code]),
            Item::End => break,
            _ => {}
        }
        if cmd.len() >= 1 << 16 {
            out.write_all(&cmd).map_err(err)?;
            cmd.clear();
        }
    }
    out.write_all(&cmd).map_err(err)?;
    let file = out.into_inner().map_err(|e| err(e.into_error()))?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, target).map_err(err)?;
    let _ = std::fs::remove_file(rdb);
    Ok(())
}

/// Runs a rewrite now, claiming the snapshot machinery (or scheduling it
/// after the save that has it).
fn start_rewrite(w: &Worker) -> bool {
    let st = state(w);
    let busy = crate::features::persist::snapshot_busy(w);
    if st.rewriting.swap(true, Ordering::AcqRel) {
        return true;
    }
    // Behind a save in progress, the rewrite waits for it (scheduled).
    st.scheduled.store(busy, Ordering::Release);
    let Some(me) = crate::engine::worker::current() else {
        st.rewriting.store(false, Ordering::Release);
        return false;
    };
    if !busy {
        log::info!("Background append only file rewriting started");
    }
    st.rewrite_started_ms.store(now_ms(), Ordering::Release);
    rt::spawn_local(async move {
        let r = Route::plain(&me);
        let began = Instant::now();
        crate::features::persist::claim_snapshot(&r).await;
        state(&r).scheduled.store(false, Ordering::Release);
        let result = rewrite(&r).await;
        crate::features::persist::release_snapshot(&r);
        let st = state(&r);
        st.last_rewrite_secs
            .store(began.elapsed().as_secs() as i64, Ordering::Release);
        match result {
            Ok(()) => {
                log::info!("Background AOF rewrite finished successfully");
                st.rewrites.fetch_add(1, Ordering::Relaxed);
                st.last_rewrite_failed.store(false, Ordering::Release);
                st.failures_in_a_row.store(0, Ordering::Release);
            }
            Err(e) => {
                log::warn!("Background AOF rewrite failed: {e}");
                st.last_rewrite_failed.store(true, Ordering::Release);
                st.failures_in_a_row.fetch_add(1, Ordering::Relaxed);
            }
        }
        st.rewrite_started_ms.store(0, Ordering::Release);
        st.rewriting.store(false, Ordering::Release);
    });
    !busy
}

/// BGREWRITEAOF
pub fn bgrewriteaof(w: &Worker, out: &mut Vec<u8>) -> Result<(), Error> {
    let st = state(w);
    if st.rewriting.load(Ordering::Acquire) {
        return Err(Error::Static(
            "ERR Background append only file rewriting already in progress",
        ));
    }
    if start_rewrite(w) {
        encode::simple(out, b"Background append only file rewriting started");
    } else {
        encode::simple(out, b"Background append only file rewriting scheduled");
    }
    Ok(())
}

/// `auto-aof-rewrite-percentage` / `-min-size`, checked on thread 0's
/// tick as Redis checks them in its cron: a rewrite once the AOF has grown
/// by that percentage over its size after the last rewrite (the base).
pub fn auto_rewrite(w: &Worker) {
    let st = state(w);
    if w.id != 0
        || !st.enabled.load(Ordering::Acquire)
        || st.rewriting.load(Ordering::Acquire)
        || crate::features::persist::snapshot_busy(w)
    {
        return;
    }
    let c = &w.shared.config;
    let perc: u64 = c.other("auto-aof-rewrite-percentage").parse().unwrap_or(0);
    if perc == 0 {
        return;
    }
    let min = crate::host::directives::parse_memory(&c.other("auto-aof-rewrite-min-size"))
        .unwrap_or(64 << 20) as u64;
    let current = st.current_size.load(Ordering::Relaxed);
    let base = st.base_size.load(Ordering::Relaxed).max(1);
    let growth = current.saturating_sub(base) * 100 / base;
    if current > min && growth >= perc {
        log::info!("Starting automatic rewriting of AOF on {growth}% growth");
        start_rewrite(w);
    }
}

/// After CONFIG SET of `appendonly` or `appendfsync`.
pub fn apply_config(w: &Worker) {
    let st = state(w);
    let fsync = Fsync::from_config(w);
    journal::set_wait(fsync == Fsync::Always);
    send(Ctl::Fsync(fsync));
    let want = enabled_in_config(w);
    let was = st.enabled.swap(want, Ordering::AcqRel);
    if want && !was {
        // Turned on: a rewrite, which starts journaling at its cut.
        if !start_rewrite(w) {
            log::info!("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        }
    } else if !want && was {
        journal::set_on(false);
        send(Ctl::Close);
    }
}

/// Writes and syncs what the journal holds (before the process exits).
pub fn flush_for_exit(w: &Worker) {
    if !state(w).enabled.load(Ordering::Acquire) {
        return;
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    send(Ctl::Flush(tx));
    let _ = rx.recv_timeout(Duration::from_secs(10));
}

// ---------------------------------------------------------------- loading

/// At start with `appendonly yes`: loads the AOF (refusing commands with
/// `-LOADING` meanwhile), then appends to it. A file that does not load
/// stops the server.
pub fn spawn_load_at_start(w: &std::rc::Rc<Worker>, run_server: RunServer) {
    let st = state(w);
    st.enabled.store(true, Ordering::Release);
    crate::features::persist::begin_loading(w);
    let w = std::rc::Rc::clone(w);
    rt::spawn_local(async move {
        let r = Route::plain(&w);
        let began = Instant::now();
        match load_at_start(&r, run_server).await {
            Ok(Some(manifest)) => {
                log::info!(
                    "DB loaded from append only file: {:.3} seconds",
                    began.elapsed().as_secs_f64()
                );
                let (dir, name) = layout(&r);
                let fsync = Fsync::from_config(&r);
                journal::set_wait(fsync == Fsync::Always);
                journal::set_on(true);
                send(Ctl::Open {
                    dir,
                    name,
                    manifest,
                    fsync,
                });
            }
            Ok(None) => {
                // No AOF yet: its first base, of whatever is here (nothing).
                crate::features::persist::claim_snapshot(&r).await;
                let result = rewrite(&r).await;
                crate::features::persist::release_snapshot(&r);
                if let Err(e) = result {
                    crate::host::logging::fatal(&format!(
                        "Can't create the append-only file: {e}. Exiting."
                    ));
                }
                log::info!("Creating AOF base file {} on server start", layout(&r).1);
            }
            Err(e) => crate::host::logging::fatal(&e),
        }
        crate::features::persist::loaded(&r).await;
    });
}

/// Loads the AOF the configuration names, as Redis 7.0 does at start:
/// the manifest's files, after moving a pre-7.0 single file into the AOF
/// directory where Redis would. None when there is no AOF.
async fn load_at_start(r: &Route<'_>, run_server: RunServer) -> Result<Option<Manifest>, String> {
    let (dir, name) = layout(r);
    let mut manifest = read_manifest(&dir, &name)?;
    if let Some(legacy) = legacy_to_upgrade(&dir, &name, manifest.as_ref()) {
        manifest = Some(upgrade(&dir, &name, &legacy, manifest.unwrap_or_default())?);
    }
    let Some(m) = manifest.filter(|m| m.base.is_some() || !m.incrs.is_empty()) else {
        return Ok(None);
    };
    load_manifest(r, &dir, &name, &m, run_server).await?;
    Ok(Some(m))
}

/// The pre-7.0 AOF, `dir/<appendfilename>` beside the AOF directory, when
/// Redis 7.0 upgrades from it: there is no manifest (or the AOF directory
/// is missing), the manifest names no file, or it names that file alone
/// as its base (an upgrade cut short before the file was moved) and the
/// AOF directory does not hold it.
fn legacy_to_upgrade(dir: &Path, name: &str, m: Option<&Manifest>) -> Option<PathBuf> {
    let legacy = dir.parent()?.join(name);
    if !legacy.is_file() {
        return None;
    }
    let upgrade = match m {
        None => true,
        Some(m) if m.incrs.is_empty() => match &m.base {
            None => true,
            Some(base) => base.name == name && !dir.join(name).exists(),
        },
        Some(_) => false,
    };
    upgrade.then_some(legacy)
}

/// Redis 7.0's upgrade: the manifest, written first, names the old file
/// as the base (`file appendonly.aof seq 1 type b`); then the file is
/// moved, unrenamed, into the AOF directory. Interrupted between the two,
/// the next start does it again (see [`legacy_to_upgrade`]).
fn upgrade(dir: &Path, name: &str, legacy: &Path, mut m: Manifest) -> Result<Manifest, String> {
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "Can't open or create append-only dir {}: {e}",
            dir.display()
        )
    })?;
    m.base = Some(AofFile {
        name: name.to_string(),
        seq: 1,
        kind: format::FileKind::Base,
    });
    write_manifest(dir, name, &m).map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    std::fs::rename(legacy, dir.join(name)).map_err(|e| {
        format!(
            "Error moving the AOF file {name} into the AOF directory {}: {e}",
            dir.display()
        )
    })?;
    log::info!(
        "Successfully migrated an old-style AOF into the AOF directory {}.",
        dir.display()
    );
    Ok(m)
}

/// Loads the files the manifest names, base first, as Redis 7.0's
/// `loadAppendOnlyFiles`: every one must exist (a missing one is fatal,
/// not an empty AOF); all empty is an empty AOF.
async fn load_manifest(
    r: &Route<'_>,
    dir: &Path,
    name: &str,
    m: &Manifest,
    run_server: RunServer,
) -> Result<(), String> {
    let files: Vec<&AofFile> = m.base.iter().chain(&m.incrs).collect();
    let mut total = 0;
    let mut base_size = 0;
    for f in &files {
        let len = std::fs::metadata(dir.join(&f.name))
            .map_err(|e| format!("Unable to obtain the AOF file {} length. stat: {e}", f.name))?
            .len();
        total += len;
        if f.kind == format::FileKind::Base {
            base_size = len;
        }
    }
    let st = state(r);
    st.current_size.store(total, Ordering::Relaxed);
    st.base_size.store(base_size, Ordering::Relaxed);
    if total == 0 {
        return Ok(());
    }
    // Nothing expires while the files load, as in Redis: their commands
    // see the keys as they were written.
    storage::dict::pause_expiry(true);
    let result = load_files(r, dir, name, &files, run_server).await;
    storage::dict::pause_expiry(false);
    result
}

/// [`load_manifest`]'s files, in order.
async fn load_files(
    r: &Route<'_>,
    dir: &Path,
    name: &str,
    files: &[&AofFile],
    run_server: RunServer,
) -> Result<(), String> {
    let truncate_ok = r.shared.config.text("aof-load-truncated") != "no";
    for (i, f) in files.iter().enumerate() {
        let last = i + 1 == files.len();
        let began = Instant::now();
        load_file(r, dir, &f.name, name, last && truncate_ok, run_server).await?;
        log::info!(
            "DB loaded from {} file {}: {:.3} seconds",
            if f.kind == format::FileKind::Base {
                "base"
            } else {
                "incr"
            },
            f.name,
            began.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Loads one AOF file, `file` in `dir`: an RDB (a base), or commands, or
/// an RDB preamble and commands after it (a pre-7.0 file, which Redis
/// tells by its name, `appendfilename`).
async fn load_file(
    r: &Route<'_>,
    dir: &Path,
    file: &str,
    appendfilename: &str,
    may_truncate: bool,
    run_server: RunServer,
) -> Result<(), String> {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!("Fatal error: can't open the append log file {file} for reading: {e}")
    })?;
    let mut start = 0;
    if format::has_rdb_preamble(&bytes) {
        let old_style = file == appendfilename;
        if old_style {
            log::info!("Reading RDB preamble from AOF file...");
        } else {
            log::info!("Reading RDB base file on AOF loading...");
        }
        start = crate::features::persist::load_prefix(r, &bytes)
            .await
            .map_err(|e| {
                if old_style {
                    format!("Error reading the RDB preamble of the AOF file {file}, AOF loading aborted: {e}")
                } else {
                    format!("Error reading the RDB base file {file}, AOF loading aborted: {e}")
                }
            })?;
        if old_style {
            log::info!("Reading the remaining AOF tail...");
        }
    }
    match replay(r, &bytes, start, file, run_server).await {
        Ok(()) => Ok(()),
        Err(Stop::Unknown(cmd)) => Err(format!(
            "Unknown command '{}' reading the append only file {file}",
            String::from_utf8_lossy(&cmd)
        )),
        Err(Stop::Read(ReadError::Truncated { valid_up_to })) if may_truncate => {
            log::warn!("!!! Warning: short read while loading the AOF file {file}!!!");
            log::warn!("!!! Truncating the AOF {file} at offset {valid_up_to} !!!");
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| format!("Error truncating the AOF file {file}: {e}"))?;
            f.set_len(valid_up_to as u64)
                .and_then(|()| f.sync_all())
                .map_err(|e| format!("Error truncating the AOF file {file}: {e}"))?;
            log::warn!("AOF {file} loaded anyway because aof-load-truncated is enabled");
            Ok(())
        }
        Err(Stop::Read(ReadError::Truncated { .. })) => Err(format!(
            "Unexpected end of file reading the append only file {file}. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."
        )),
        Err(Stop::Read(ReadError::Corrupt { offset, why })) => Err(format!(
            "Bad file format reading the append only file {file} at offset {offset} ({why}): make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
        )),
    }
}

/// `DEBUG LOADAOF`: with every shard held, writes out what the journal
/// holds, empties every database and loads the AOF back (recording
/// nothing; other clients are answered `-LOADING`), as Redis does in one
/// blocking step. A file that does not
/// load stops the server, as in Redis.
pub async fn debug_loadaof(r: &Route<'_>, run_server: RunServer) -> Result<(), Error> {
    r.atomically(0..r.nshards(), async |t: Route<'_>| {
        if state(&t).enabled.load(Ordering::Acquire) {
            written().await;
        }
        let on = journal::is_on();
        journal::set_on(false);
        crate::features::persist::begin_loading(&t);
        t.call_all(|w| w.shard.borrow_mut().ks.flush_all(now_ms()))
            .await;
        let (dir, name) = layout(&t);
        let result = match read_manifest(&dir, &name) {
            Ok(Some(m)) => load_manifest(&t, &dir, &name, &m, run_server).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        crate::features::persist::end_loading(&t).await;
        journal::set_on(on);
        if let Err(e) = result {
            crate::host::logging::fatal(&e);
        }
        log::warn!("Append Only File loaded by DEBUG LOADAOF");
        Ok(())
    })
    .await
}

/// Waits until the writer has written out everything journaled before.
async fn written() {
    let (tx, rx) = crossbeam_channel::bounded(1);
    send(Ctl::Flush(tx));
    let _ = rt::off_thread(move || rx.recv_timeout(Duration::from_secs(10))).await;
}

/// Why a file's commands stopped short.
enum Stop {
    Read(ReadError),
    /// A command this server does not know (its name).
    Unknown(Vec<u8>),
}

/// Commands for one shard while replaying: (database, argv).
type ShardBatch = Vec<(usize, Vec<Vec<u8>>)>;

/// Commands per shard sent in one job while replaying.
const REPLAY_BATCH: usize = 1024;

/// Runs a file's commands in order. Runs of commands whose keys are on
/// one shard go to their shards in batches (commands on different shards
/// commute; each shard keeps their order); anything else runs alone, as a
/// client's would. The whole file's commands are replayed before anything
/// is served, so MULTI/EXEC need no transaction here: they are skipped.
async fn replay(
    r: &Route<'_>,
    bytes: &[u8],
    start: usize,
    file: &str,
    run_server: RunServer,
) -> Result<(), Stop> {
    let mut client = loading_client(r);
    let n = r.nshards();
    let mut groups: Vec<ShardBatch> = (0..n).map(|_| Vec::new()).collect();
    let mut cmds = Commands::at(bytes, start);
    let mut out = Vec::new();
    // A transaction's commands wait for its EXEC: a file cut inside one
    // applies none of it (the reader reports the cut at its MULTI).
    let mut queued: Option<Vec<Vec<Vec<u8>>>> = None;
    let mut ready: Vec<Vec<Vec<u8>>> = Vec::new();
    loop {
        let argv = match cmds.next() {
            Ok(Next::Command(argv)) => argv,
            Ok(Next::End) => break,
            Err(e) => {
                // What came before a cut tail is applied (a corrupt file
                // stops the server anyway).
                flush_groups(r, &mut groups).await;
                if queued.is_some() && matches!(e, ReadError::Truncated { .. }) {
                    log::warn!("Revert incomplete MULTI/EXEC transaction in AOF file {file}");
                }
                return Err(Stop::Read(e));
            }
        };
        if r.shared.table.lookup(argv[0]).is_none() {
            flush_groups(r, &mut groups).await;
            return Err(Stop::Unknown(argv[0].to_vec()));
        }
        if argv[0].eq_ignore_ascii_case(b"multi") {
            queued = Some(Vec::new());
            continue;
        }
        if argv[0].eq_ignore_ascii_case(b"exec") {
            ready = queued.take().unwrap_or_default();
        } else if let Some(q) = &mut queued {
            q.push(argv.iter().map(|a| a.to_vec()).collect());
            continue;
        } else {
            ready.push(argv.iter().map(|a| a.to_vec()).collect());
        }
        for owned in ready.drain(..) {
            let argv: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
            apply(r, &mut client, &argv, &mut groups, &mut out, run_server).await;
        }
    }
    flush_groups(r, &mut groups).await;
    Ok(())
}

/// One command of the file: joined to its shard's batch, or run alone.
async fn apply(
    r: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    groups: &mut [ShardBatch],
    out: &mut Vec<u8>,
    run_server: RunServer,
) {
    if argv[0].eq_ignore_ascii_case(b"select") {
        client.db = std::str::from_utf8(argv.get(1).copied().unwrap_or(b"0"))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        return;
    }
    let spec = r.shared.table.lookup(argv[0]);
    let one_shard = spec.and_then(|spec| {
        if !matches!(spec.handler, Handler::Shard(_)) {
            return None;
        }
        let keys = spec.keys_of(argv);
        let first = r.shard_of(argv[*keys.first()?]);
        keys.iter()
            .all(|&i| r.shard_of(argv[i]) == first)
            .then_some(first)
    });
    match one_shard {
        Some(s) => {
            groups[s].push((client.db, argv.iter().map(|a| a.to_vec()).collect()));
            if groups[s].len() >= REPLAY_BATCH {
                flush_groups(r, groups).await;
            }
        }
        None => {
            flush_groups(r, groups).await;
            out.clear();
            crate::features::multi::run_queued(r, client, argv, run_server, out).await;
            if out.first() == Some(&b'-') {
                log::warn!(
                    "AOF command {} failed while loading: {}",
                    String::from_utf8_lossy(argv[0]),
                    String::from_utf8_lossy(out).trim_end()
                );
            }
        }
    }
}

async fn flush_groups(r: &Route<'_>, groups: &mut [ShardBatch]) {
    let table = r.shared.table;
    let pending: Vec<_> = groups
        .iter_mut()
        .enumerate()
        .filter(|(_, g)| !g.is_empty())
        .map(|(s, g)| {
            let batch = std::mem::take(g);
            r.start(s, move |w| {
                let mut sh = w.shard.borrow_mut();
                let now = now_ms();
                let mut out = Vec::new();
                for (db, argv) in &batch {
                    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
                    if let Some(spec) = table.lookup(argv[0]) {
                        out.clear();
                        crate::engine::worker::exec(
                            &mut sh, spec, *db, false, now, &argv, &mut out,
                        );
                    }
                }
            })
        })
        .collect();
    for p in pending {
        p.finish(r).await;
    }
}

/// The client the AOF's commands run as: no user's rules, no replies,
/// obeyed as the master's client is (a script from the file writes on a
/// read-only replica, as Redis's AOF client may).
fn loading_client(w: &Worker) -> Client {
    let id = w.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let info = crate::engine::worker::ClientInfo {
        id,
        last_cmd: "NULL",
        multi: -1,
        ..Default::default()
    };
    Client {
        authed: true,
        unrestricted: true,
        master: Some(crate::client::Upstream::default()),
        ..Client::new(
            std::rc::Rc::new(std::cell::RefCell::new(info)),
            0,
            crate::features::acl::nobody(),
        )
    }
}

// ---------------------------------------------------------------- INFO

/// INFO persistence's aof_* fields.
pub fn info(w: &Worker, s: &mut String) {
    use std::fmt::Write as _;
    let st = state(w);
    let enabled = st.enabled.load(Ordering::Acquire);
    let rewriting = st.rewriting.load(Ordering::Acquire);
    let started = st.rewrite_started_ms.load(Ordering::Acquire);
    let _ = write!(
        s,
        "aof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:{}\r\naof_last_rewrite_time_sec:{}\r\naof_current_rewrite_time_sec:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:{}\r\naof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n",
        u8::from(enabled),
        u8::from(rewriting && !st.scheduled.load(Ordering::Acquire)),
        u8::from(st.scheduled.load(Ordering::Acquire)),
        if st.rewrites.load(Ordering::Acquire) == 0 && !st.last_rewrite_failed.load(Ordering::Acquire) {
            -1
        } else {
            st.last_rewrite_secs.load(Ordering::Acquire)
        },
        if rewriting && started > 0 {
            (now_ms().saturating_sub(started) / 1000) as i64
        } else {
            -1
        },
        if st.last_rewrite_failed.load(Ordering::Acquire) { "err" } else { "ok" },
        st.rewrites.load(Ordering::Acquire),
        st.failures_in_a_row.load(Ordering::Acquire),
        if st.last_write_failed.load(Ordering::Acquire) { "err" } else { "ok" },
    );
    if enabled {
        let _ = write!(
            s,
            "aof_current_size:{}\r\naof_base_size:{}\r\naof_pending_rewrite:0\r\naof_buffer_length:0\r\naof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n",
            st.current_size.load(Ordering::Acquire),
            st.base_size.load(Ordering::Acquire),
        );
    }
}

/// `appendonly yes` at start: whether the AOF, not the dump file, loads.
pub fn enabled_at_start(w: &Worker) -> bool {
    enabled_in_config(w)
}
