//! Persistence: RDB snapshots. SAVE, BGSAVE [SCHEDULE], LASTSAVE, the
//! `save` points, SHUTDOWN's final save, DEBUG RELOAD, and loading the dump
//! file at start. The file is Redis's (`storage::rdb::file`), so Redis and
//! Tessera start from each other's.
//!
//! # The cut
//!
//! A snapshot is one point in time across all shards, taken without
//! stopping them (no fork). It begins as a transaction over every shard
//! (`Route::atomically`): while it holds them all, each database of each
//! shard begins its snapshot (`Db::begin_snapshot`). A transaction that
//! spans shards (MSET, RENAME, EXEC, a script) holds its shards for its
//! whole run, so it is either wholly before the cut (it released them
//! before the snapshot could hold them) or wholly after it: none is ever
//! half in the file. Then the shards go on serving while the coordinator
//! asks each in turn for the next part of its snapshot (about
//! [`CHUNK`] bytes per request), database by database, and writes the
//! parts to a temporary file; a shard that is about to change a key the
//! walk has not reached writes that key's value at the cut first (see
//! `storage::db`). The finished file is synced and renamed over the dump
//! file, as Redis does.
//!
//! SAVE takes the same path inside a hold of every shard, so nothing runs
//! until it is done (Redis's SAVE blocks the server too).
//!
//! # Loading
//!
//! At start, a dump file in `dir` is read by thread 0 while every thread
//! already accepts connections: commands without the `loading` flag are
//! answered `-LOADING`. Entries go to their shards in batches, which insert
//! them in parallel with the reading. A file that does not load stops the
//! server with the error (offset, key, type), as Redis does: it never goes
//! on serving half a dataset.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use commands::Error;
use resp::encode;
use storage::rdb::file::{Aux, Item, Reader, Writer};
use storage::Value;

use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Pending, Worker};
use crate::host::config::parse_save_points;

type Argv<'a> = &'a [&'a [u8]];

/// About this many bytes of a shard's snapshot travel per request.
const CHUNK: usize = 256 * 1024;

/// Entries per batch sent to a shard while loading.
const LOAD_BATCH: usize = 512;

/// After a failed background save, the save points wait this long before
/// trying again (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_DELAY_MS: u64 = 5000;

/// Redis's error for writes while the last background save failed.
pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Redis's error for commands sent while the dataset loads.
pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";

/// The process's persistence state (registered in the engine's `Globals`).
pub struct State {
    /// The dump file is being loaded: commands without the `loading` flag
    /// are refused ([`begin_loading`], [`end_loading`]).
    pub loading: AtomicBool,
    /// Until then (unix ms) a load is quiet: commands wait for it instead
    /// of being refused (see [`begin_loading`]).
    quiet_until: AtomicU64,
    /// The last background save failed and `stop-writes-on-bgsave-error`
    /// is on: writes are refused with [`MISCONF`].
    pub refuse_writes: AtomicBool,
    in_progress: AtomicBool,
    /// The snapshot in progress is another feature's (`claim_snapshot`),
    /// not a BGSAVE.
    for_other: AtomicBool,
    /// BGSAVE SCHEDULE asked for one while another ran.
    scheduled: AtomicBool,
    /// The temporary file a background save is writing (removed at
    /// shutdown, as Redis removes its child's).
    bg_temp: std::sync::Mutex<Option<PathBuf>>,
    /// A signal asked for a shutdown (until it is done, fails or is
    /// aborted), and whether it has started.
    shutdown_asap: AtomicBool,
    signal_shutdown_started: AtomicBool,
    /// Unix seconds of the last successful save (LASTSAVE).
    lastsave: AtomicU64,
    last_ok: AtomicBool,
    /// Unix ms of the last failed try, for the retry delay.
    last_fail_ms: AtomicU64,
    /// Seconds the last background save took (-1: none yet).
    last_bgsave_secs: AtomicI64,
    /// Unix ms when the running save began (0: none).
    started_ms: AtomicU64,
    /// The shards' change counters summed at the last successful save's cut.
    dirty_at_save: AtomicU64,
    /// Bumped when a save in progress is abandoned (by SHUTDOWN or
    /// FLUSHALL): the abandoned one then ends without a word.
    generation: AtomicU64,
    /// Successful saves since start (INFO rdb_saves).
    saves: AtomicU64,
    /// Keys loaded at start, and those skipped as already expired.
    loaded_keys: AtomicU64,
    loaded_expired: AtomicU64,
    loading_started: AtomicU64,
}

impl State {
    pub fn new(started_unix: u64) -> State {
        State {
            loading: AtomicBool::new(false),
            quiet_until: AtomicU64::new(0),
            refuse_writes: AtomicBool::new(false),
            in_progress: AtomicBool::new(false),
            for_other: AtomicBool::new(false),
            bg_temp: std::sync::Mutex::new(None),
            shutdown_asap: AtomicBool::new(false),
            signal_shutdown_started: AtomicBool::new(false),
            scheduled: AtomicBool::new(false),
            lastsave: AtomicU64::new(started_unix),
            last_ok: AtomicBool::new(true),
            last_fail_ms: AtomicU64::new(0),
            last_bgsave_secs: AtomicI64::new(-1),
            started_ms: AtomicU64::new(0),
            dirty_at_save: AtomicU64::new(0),
            saves: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            loaded_keys: AtomicU64::new(0),
            loaded_expired: AtomicU64::new(0),
            loading_started: AtomicU64::new(0),
        }
    }
}

pub fn state(w: &Worker) -> &State {
    w.shared.global::<State>()
}

/// The dump file's path: `dir`/`dbfilename`.
pub fn dump_path(w: &Worker) -> PathBuf {
    let c = &w.shared.config;
    let dir = c.text("dir");
    let name = c.text("dbfilename");
    Path::new(if dir.is_empty() { "." } else { &dir }).join(if name.is_empty() {
        "dump.rdb"
    } else {
        &name
    })
}

/// The `save` points now set.
pub fn save_points_of(w: &Worker) -> Vec<(u64, u64)> {
    save_points(w)
}

fn save_points(w: &Worker) -> Vec<(u64, u64)> {
    parse_save_points(&w.shared.config.text("save")).unwrap_or_default()
}

fn unix_secs() -> u64 {
    now_ms() / 1000
}

/// The shards' change counters, summed.
pub async fn dirty_total(r: &Route<'_>) -> u64 {
    r.call_all(|w| w.shard.borrow().ks.dbs.iter().map(|d| d.dirty).sum::<u64>())
        .await
        .iter()
        .sum()
}

/// `SAVE`
pub async fn save_command(r: &Route<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    if state(r).in_progress.load(Ordering::Acquire) {
        return Err(Error::Static("ERR Background save already in progress"));
    }
    match save(r, true).await {
        Ok(()) => {
            encode::ok(out);
            Ok(())
        }
        Err(_) => Err(Error::Static("ERR")),
    }
}

/// `BGSAVE [SCHEDULE]`
pub fn bgsave_command(w: &Worker, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let schedule = match argv.len() {
        1 => false,
        2 if argv[1].eq_ignore_ascii_case(b"schedule") => true,
        _ => return Err(Error::Syntax),
    };
    if state(w).in_progress.load(Ordering::Acquire) {
        if schedule {
            state(w).scheduled.store(true, Ordering::Release);
            encode::simple(out, b"Background saving scheduled");
            return Ok(());
        }
        return Err(Error::Static("ERR Background save already in progress"));
    }
    start_bgsave(w);
    encode::simple(out, b"Background saving started");
    Ok(())
}

/// `LASTSAVE`
pub fn lastsave(w: &Worker, out: &mut Vec<u8>) {
    encode::integer(out, state(w).lastsave.load(Ordering::Acquire) as i64);
}

/// Starts a background save on this thread.
fn start_bgsave(w: &Worker) {
    let Some(me) = crate::engine::worker::current() else {
        return;
    };
    if state(w).in_progress.swap(true, Ordering::AcqRel) {
        return;
    }
    log::info!("Background saving started");
    rt::spawn_local(async move {
        let r = Route::plain(&me);
        let ok = save_claimed(&r, false).await.is_ok();
        if ok {
            log::info!("Background saving terminated with success");
        }
    });
}

/// Whether a save holds the snapshot machinery (an AOF rewrite then
/// waits: the shards have one snapshot walk each).
pub fn snapshot_busy(w: &Worker) -> bool {
    state(w).in_progress.load(Ordering::Acquire)
}

/// Claims the snapshot machinery for another feature's snapshot (an AOF
/// rewrite, a replica's full sync), waiting for a save that has it.
pub async fn claim_snapshot(w: &Worker) {
    let st = state(w);
    while st.in_progress.swap(true, Ordering::AcqRel) {
        rt::sleep(Duration::from_millis(10)).await;
    }
    st.for_other.store(true, Ordering::Release);
}

/// Gives the snapshot machinery back after a rewrite; a BGSAVE scheduled
/// meanwhile starts.
pub fn release_snapshot(w: &Worker) {
    let st = state(w);
    st.for_other.store(false, Ordering::Release);
    st.in_progress.store(false, Ordering::Release);
    if st.scheduled.swap(false, Ordering::AcqRel) {
        start_bgsave(w);
    }
}

/// The dataset finished loading (the AOF at start): what is loaded counts
/// as saved, and commands are served.
pub async fn loaded(r: &Route<'_>) {
    let st = state(r);
    st.dirty_at_save
        .store(dirty_total(r).await, Ordering::Release);
    end_loading(r).await;
}

/// Saves the dataset to the dump file: in the background (shards keep
/// serving) or in the foreground (holding every shard until it is done).
/// Errors are logged and recorded for INFO and MISCONF.
pub async fn save(r: &Route<'_>, foreground: bool) -> Result<(), String> {
    if state(r).in_progress.swap(true, Ordering::AcqRel) {
        return Err("a save is already in progress".into());
    }
    save_claimed(r, foreground).await
}

/// [`save`], once this caller has set `in_progress`.
async fn save_claimed(r: &Route<'_>, foreground: bool) -> Result<(), String> {
    let st = state(r);
    let gen = st.generation.load(Ordering::Acquire);
    let began = Instant::now();
    st.started_ms.store(now_ms(), Ordering::Release);
    let result = if foreground {
        r.atomically(0..r.nshards(), async |t: Route<'_>| {
            write_snapshot(&t).await
        })
        .await
    } else {
        write_snapshot(r).await
    };
    if st.generation.load(Ordering::Acquire) != gen {
        // Abandoned: whoever abandoned it owns the state now.
        return Err("abandoned".into());
    }
    st.started_ms.store(0, Ordering::Release);
    match &result {
        Ok(dirty) => {
            st.lastsave.store(unix_secs(), Ordering::Release);
            st.last_ok.store(true, Ordering::Release);
            st.refuse_writes.store(false, Ordering::Release);
            st.dirty_at_save.store(*dirty, Ordering::Release);
            st.saves.fetch_add(1, Ordering::Relaxed);
            log::info!("DB saved on disk");
        }
        Err(e) => {
            log::warn!("Error saving DB on disk: {e}");
            st.last_ok.store(false, Ordering::Release);
            st.last_fail_ms.store(now_ms(), Ordering::Release);
            let stop = r.shared.config.text("stop-writes-on-bgsave-error") != "no";
            st.refuse_writes
                .store(stop && !foreground, Ordering::Release);
        }
    }
    if !foreground {
        st.last_bgsave_secs
            .store(began.elapsed().as_secs() as i64, Ordering::Release);
    }
    st.in_progress.store(false, Ordering::Release);
    if st.scheduled.swap(false, Ordering::AcqRel) {
        start_bgsave(r);
    }
    result.map(|_| ())
}

/// Takes the cut, writes every shard's snapshot to a temporary file and
/// renames it over the dump file. Returns the change counters' sum at the
/// cut.
async fn write_snapshot(r: &Route<'_>) -> Result<u64, String> {
    snapshot_to(r, &dump_path(r), false, || {}).await
}

/// Takes the cut — running `at_cut` while every shard is held there (the
/// AOF starts its next file at the same cut, `aof.rs`) — and writes every
/// shard's snapshot to a temporary file renamed to `path` once synced.
pub async fn snapshot_to(
    r: &Route<'_>,
    path: &Path,
    aof_base: bool,
    at_cut: impl FnOnce(),
) -> Result<u64, String> {
    let cut = take_cut(r, at_cut).await;
    let dirty: u64 = cut.iter().map(|c| c.0).sum();
    let path = path.to_path_buf();
    // A save holding every shard (SAVE, a shutdown's) is the process's one
    // save, named as Redis names it (a second SIGINT removes it, main.rs);
    // a background one's name is its own, so that an abandoned one still
    // finishing never touches the file of the save begun after it.
    let tmp = if r.tx != 0 {
        path.with_file_name(foreground_temp_name())
    } else {
        path.with_file_name(format!("temp-{}-{}.rdb", std::process::id(), now_ms()))
    };
    let background = r.tx == 0;
    let st = state(r);
    if background {
        if let Ok(mut t) = st.bg_temp.lock() {
            *t = Some(tmp.clone());
        }
    }
    let written = write_file(r, &cut, &tmp, !background, aof_base).await;
    if background {
        if let Ok(mut t) = st.bg_temp.lock() {
            if t.as_ref() == Some(&tmp) {
                *t = None;
            }
        }
    }
    match written {
        Ok(file) => {
            let finish = rt::off_thread(move || -> std::io::Result<()> {
                file.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                Ok(())
            })
            .await;
            finish.map_err(|e| e.to_string())?;
            Ok(dirty)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            // An abandoned save's walks are gone already, and another
            // save may own the shards' walks by now.
            if e != ABANDONED {
                abort_walks(r).await;
            }
            Err(e)
        }
    }
}

/// The temporary file of a save that holds every shard: `temp-<pid>.rdb`
/// beside the dump file, as Redis's own foreground save writes it.
pub fn foreground_temp_name() -> String {
    format!("temp-{}.rdb", std::process::id())
}

/// Per shard: the change counter and each database's sizes at the cut.
type Cut = Vec<(u64, Vec<(u64, u64)>)>;

/// The cut: every shard held at once, each database's snapshot begun,
/// `at_cut` run while they are all held.
async fn take_cut(r: &Route<'_>, at_cut: impl FnOnce()) -> Cut {
    r.atomically(0..r.nshards(), async |t: Route<'_>| {
        let cut = t
            .call_all(|w| {
                let mut sh = w.shard.borrow_mut();
                let dirty = sh.ks.dbs.iter().map(|d| d.dirty).sum::<u64>();
                let sizes = sh.ks.dbs.iter_mut().map(|d| d.begin_snapshot()).collect();
                (dirty, sizes)
            })
            .await;
        at_cut();
        cut
    })
    .await
}

/// Every shard finishes its walk, so that the next snapshot starts from
/// whole marks.
async fn abort_walks(r: &Route<'_>) {
    r.call_all(|w| {
        for d in w.shard.borrow_mut().ks.dbs.iter_mut() {
            d.abort_snapshot();
        }
    })
    .await;
}

/// Writes the file: header, functions, then each database's entries from
/// every shard.
async fn write_file(
    r: &Route<'_>,
    cut: &[(u64, Vec<(u64, u64)>)],
    tmp: &Path,
    foreground: bool,
    aof_base: bool,
) -> Result<File, String> {
    let ioerr = |e: std::io::Error| format!("{}: {e}", tmp.display());
    let file = File::create(tmp).map_err(ioerr)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write_rdb(r, cut, foreground, aof_base, async |bytes: Vec<u8>| {
        out.write_all(&bytes).map_err(ioerr)
    })
    .await?;
    out.into_inner().map_err(|e| ioerr(e.into_error()))
}

/// Redis's debugging settings `rdb-key-save-delay` and `key-load-delay`:
/// microseconds to spend per key saved or loaded (a negative -N: one
/// microsecond every N keys), so tests can watch a save or a load in
/// progress. Redis sleeps in its fork child or its blocked loader; here
/// the save's or load's task waits on a timer between steps instead, so
/// the server's threads go on serving meanwhile.
#[derive(Default)]
struct DebugDelay {
    per_key: i64,
    /// Microseconds owed but not yet waited: timers are coarser than a
    /// key's delay, so the wait is taken a millisecond or more at a time.
    owed: u64,
}

impl DebugDelay {
    /// Reads the setting again (CONFIG SET applies to a save or load in
    /// progress, as in Redis).
    fn read(&mut self, w: &Worker, name: &str) {
        self.per_key = w.shared.config.other(name).parse().unwrap_or(0);
    }

    fn on(&self) -> bool {
        self.per_key != 0
    }

    /// Keys per step: about a millisecond's worth of the delay.
    fn keys_per_step(&self) -> u64 {
        if self.per_key > 0 {
            (1000 / self.per_key as u64).max(1)
        } else {
            u64::MAX
        }
    }

    /// Waits, once a millisecond or more is owed, as long as the keys
    /// done since cost.
    async fn pause(&mut self, keys: u64) {
        self.owed += match self.per_key {
            0 => 0,
            d if d > 0 => keys.saturating_mul(d as u64),
            d => keys / d.unsigned_abs(),
        };
        if self.owed >= 1000 {
            rt::sleep(std::time::Duration::from_micros(self.owed)).await;
            self.owed = 0;
        }
    }
}

/// A save's error when it was abandoned while it ran.
const ABANDONED: &str = "the snapshot was abandoned";

/// What [`write_rdb`]'s writer has encoded, taken chunk by chunk.
#[derive(Clone, Default)]
struct Taken(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Taken {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The snapshot of `cut` as an RDB, handed to `sink` a chunk at a time as
/// the shards' walks produce it (a file, or a replica's socket).
async fn write_rdb(
    r: &Route<'_>,
    cut: &[(u64, Vec<(u64, u64)>)],
    foreground: bool,
    aof_base: bool,
    mut sink: impl AsyncFnMut(Vec<u8>) -> Result<(), String>,
) -> Result<(), String> {
    let ioerr = |e: std::io::Error| e.to_string();
    let aux = Aux {
        ctime: unix_secs(),
        used_mem: crate::host::sys::used_memory() as u64,
        aof_base,
        no_checksum: r.shared.config.text("rdbchecksum") == "no",
    };
    // Abandoned (`abandon`) while it runs: this walk stops before its next
    // step, which could otherwise take a step of a save begun since.
    let generation = state(r).generation.load(Ordering::Acquire);
    let taken = Taken::default();
    let take = || std::mem::take(&mut *taken.0.borrow_mut());
    let mut w = Writer::new(taken.clone(), &aux).map_err(ioerr)?;
    for code in crate::features::function::library_codes(r) {
        w.function(&code).map_err(ioerr)?;
    }
    let databases = cut.first().map_or(0, |c| c.1.len());
    let mut delay = DebugDelay::default();
    for db in 0..databases {
        let size: u64 = cut.iter().map(|c| c.1[db].0).sum();
        let expires: u64 = cut.iter().map(|c| c.1[db].1).sum();
        if size > 0 {
            w.select_db(db as u64, size, expires).map_err(ioerr)?;
        }
        for shard in 0..r.nshards() {
            loop {
                if state(r).generation.load(Ordering::Acquire) != generation {
                    return Err(ABANDONED.into());
                }
                delay.read(r, "rdb-key-save-delay");
                let max_keys = delay.keys_per_step();
                let chunk = r
                    .call(shard, move |w| {
                        w.shard.borrow_mut().ks.dbs[db].snapshot_step(CHUNK, max_keys)
                    })
                    .await
                    .flatten();
                // None: the snapshot was abandoned meanwhile (a shutdown's
                // own save took over).
                let Some(chunk) = chunk else {
                    return Err(ABANDONED.into());
                };
                w.raw(&chunk.bytes).map_err(ioerr)?;
                sink(take()).await?;
                if chunk.done {
                    break;
                }
                delay.pause(chunk.keys).await;
                // This thread's own shard answers inline: let its
                // connections in between chunks (a background save must
                // not hold them). Inside SAVE's hold nothing else may run.
                if !foreground {
                    rt::yield_now().await;
                }
            }
        }
    }
    w.finish().map_err(ioerr)?;
    sink(take()).await
}

/// Takes the cut (running `at_cut` while every shard is held, as
/// [`snapshot_to`]) and streams the snapshot to `sink` as an RDB, chunk by
/// chunk: a diskless full sync (`master.rs`).
pub async fn snapshot_stream(
    r: &Route<'_>,
    at_cut: impl FnOnce(),
    sink: impl AsyncFnMut(Vec<u8>) -> Result<(), String>,
) -> Result<(), String> {
    let cut = take_cut(r, at_cut).await;
    let result = write_rdb(r, &cut, false, false, sink).await;
    if result.as_ref().is_err_and(|e| e != ABANDONED) {
        abort_walks(r).await;
    }
    result
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: saves first when asked
/// to, or when save points are set and NOSAVE is not given; a failed save
/// stops the shutdown unless FORCE. Returns Ok only for ABORT, which
/// cancels a signal's shutdown still waiting for the cron.
pub async fn shutdown(r: &Route<'_>, argv: Argv<'_>) -> Result<(), Error> {
    let (mut nosave, mut save_flag, mut force) = (false, false, false);
    for a in &argv[1..] {
        match a.to_ascii_lowercase().as_slice() {
            b"nosave" => nosave = true,
            b"save" => save_flag = true,
            b"now" => {}
            b"force" => force = true,
            b"abort" => {
                if !state(r).shutdown_asap.swap(false, Ordering::AcqRel) {
                    return Err(Error::Static("ERR No shutdown in progress."));
                }
                log::warn!("Shutdown manually aborted.");
                return Ok(());
            }
            _ => return Err(Error::Syntax),
        }
    }
    if nosave && save_flag {
        return Err(Error::Syntax);
    }
    log::warn!("User requested shutdown...");
    shutdown_saving(
        r,
        save_flag || (!nosave && !save_points(r).is_empty()),
        force,
    )
    .await
}

/// Whether a signal asked for a shutdown not yet done or aborted (a second
/// SIGINT then exits at once, main.rs).
pub fn shutdown_asked(shared: &crate::engine::worker::Shared) -> bool {
    shared
        .global::<State>()
        .shutdown_asap
        .load(Ordering::Acquire)
}

/// SIGTERM or SIGINT (thread 0): the shutdown starts at once, or at the
/// first tick after DEBUG PAUSE-CRON 0 (as Redis's cron acts on it);
/// SHUTDOWN ABORT cancels it meanwhile.
pub fn shutdown_on_signal(w: &Worker) {
    state(w).shutdown_asap.store(true, Ordering::Release);
    if !w.shared.cron_paused.load(Ordering::Relaxed) {
        start_signal_shutdown(w);
    }
}

/// Thread 0's tick: a signal's shutdown held by a paused cron starts.
pub fn on_tick(w: &Worker) {
    if w.id == 0
        && state(w).shutdown_asap.load(Ordering::Acquire)
        && !state(w)
            .signal_shutdown_started
            .swap(true, Ordering::AcqRel)
    {
        spawn_signal_shutdown(w);
    }
}

fn start_signal_shutdown(w: &Worker) {
    if !state(w)
        .signal_shutdown_started
        .swap(true, Ordering::AcqRel)
    {
        spawn_signal_shutdown(w);
    }
}

fn spawn_signal_shutdown(w: &Worker) {
    let save = !save_points_of(w).is_empty();
    if let Some(me) = crate::engine::worker::current() {
        rt::spawn_local(async move {
            let r = Route::plain(&me);
            let st = state(&me);
            // A failed save keeps the server up, as Redis's does; the next
            // signal asks again.
            let _ = shutdown_saving(&r, save, false).await;
            st.shutdown_asap.store(false, Ordering::Release);
            st.signal_shutdown_started.store(false, Ordering::Release);
        });
    }
}

/// Shuts down, saving first when `save`; returns only if that save failed
/// (and not `force`).
pub async fn shutdown_saving(r: &Route<'_>, save: bool, force: bool) -> Result<(), Error> {
    log::warn!("User requested shutdown...");
    if save {
        log::info!("Saving the final RDB snapshot before exiting.");
        abandon(r).await;
        if save_claimed_fg(r).await.is_err() && !force {
            log::warn!("Error trying to save the DB, can't exit.");
            return Err(Error::Static("ERR Errors trying to SHUTDOWN. Check logs."));
        }
    }
    let bg_temp = state(r).bg_temp.lock().ok().and_then(|mut t| t.take());
    if let Some(tmp) = bg_temp {
        log::warn!("There is a child saving an .rdb. Killing it!");
        let _ = std::fs::remove_file(tmp);
    }
    for f in &r.shared.hooks.before_exit {
        f(r);
    }
    crate::host::logging::exit(0)
}

async fn save_claimed_fg(r: &Route<'_>) -> Result<(), String> {
    state(r).in_progress.store(true, Ordering::Release);
    save_claimed(r, true).await
}

/// Checks the save points once a second (thread 0's task): the first
/// whose seconds have passed since the last save with at least its
/// changes made starts a background save. After a failure, not before
/// [`RETRY_DELAY_MS`].
pub fn spawn_save_points(w: &std::rc::Rc<Worker>) {
    let w = std::rc::Rc::clone(w);
    rt::spawn_local(async move {
        loop {
            rt::sleep(Duration::from_secs(1)).await;
            let st = state(&w);
            if st.in_progress.load(Ordering::Acquire) || st.loading.load(Ordering::Acquire) {
                continue;
            }
            let points = save_points(&w);
            if points.is_empty() {
                continue;
            }
            let r = Route::plain(&w);
            let changes = dirty_total(&r)
                .await
                .saturating_sub(st.dirty_at_save.load(Ordering::Acquire));
            let since = unix_secs().saturating_sub(st.lastsave.load(Ordering::Acquire));
            let may_retry = st.last_ok.load(Ordering::Acquire)
                || now_ms().saturating_sub(st.last_fail_ms.load(Ordering::Acquire))
                    > RETRY_DELAY_MS;
            if let Some((secs, _)) = points
                .iter()
                .find(|&&(secs, n)| changes >= n && since >= secs && may_retry)
            {
                log::info!("{changes} changes in {secs} seconds. Saving...");
                start_bgsave(&w);
            }
        }
    });
}

/// How long a load may stay quiet at most.
const QUIET_LOAD_MS: u64 = 2000;

/// A load begins: commands are refused with `-LOADING` until
/// [`end_loading`]. Redis loads in its one thread and looks at its clients
/// only every `loading-process-events-interval-bytes` (2 MB) of the file,
/// so a client of a server loading a small file never sees `-LOADING`: its
/// command waits and runs after. The load is quiet in the same way here
/// until it has read that many bytes (or [`QUIET_LOAD_MS`] passed):
/// commands meanwhile wait for it ([`wait_quiet_load`]).
pub fn begin_loading(w: &Worker) {
    let st = state(w);
    st.quiet_until
        .store(now_ms() + QUIET_LOAD_MS, Ordering::Release);
    st.loading.store(true, Ordering::Release);
}

/// The load has read enough to show: commands waiting for it are refused
/// with `-LOADING` from now on.
async fn end_quiet(r: &Route<'_>) {
    if state(r).quiet_until.swap(0, Ordering::AcqRel) != 0 {
        r.call_all(crate::features::pause::wake_waiters).await;
    }
}

/// The load is over (done or failed): commands run again, and those
/// waiting for it go on.
pub async fn end_loading(r: &Route<'_>) {
    let st = state(r);
    st.loading.store(false, Ordering::Release);
    if st.quiet_until.swap(0, Ordering::AcqRel) != 0 {
        r.call_all(crate::features::pause::wake_waiters).await;
    }
}

/// Waits while a load is quiet ([`begin_loading`]); true if it waited.
pub async fn wait_quiet_load(w: &Worker) -> bool {
    let st = state(w);
    let mut waited = false;
    loop {
        let until = st.quiet_until.load(Ordering::Acquire);
        if !st.loading.load(Ordering::Acquire) || until <= now_ms() {
            return waited;
        }
        waited = true;
        crate::features::pause::nap(w, until).await;
    }
}

/// Loads the dump file at start (thread 0's task), refusing commands with
/// `-LOADING` meanwhile. A file that does not load stops the server.
pub fn spawn_load_at_start(w: &std::rc::Rc<Worker>) {
    let path = dump_path(w);
    // With `appendonly yes` the AOF is the dataset (`aof.rs`).
    if !path.exists() {
        return;
    }
    begin_loading(w);
    let w = std::rc::Rc::clone(w);
    rt::spawn_local(async move {
        let began = Instant::now();
        let r = Route::plain(&w);
        match load(&r, &path).await {
            Ok(keys) => {
                log::info!(
                    "DB loaded from disk: {:.3} seconds ({keys} keys)",
                    began.elapsed().as_secs_f64()
                );
                let st = state(&w);
                // Loading counts no change.
                st.dirty_at_save
                    .store(dirty_total(&r).await, Ordering::Release);
                end_loading(&r).await;
            }
            Err(e) => {
                log::error!("Fatal error loading the DB: {e}. Exiting.");
                std::process::exit(1);
            }
        }
    });
}

/// Reads `path` into the shards (which must be empty of its keys);
/// returns how many keys were loaded. Keys already expired are skipped by
/// a master and kept by a replica (its master's DEL removes them), as
/// Redis loads them.
pub async fn load(r: &Route<'_>, path: &Path) -> Result<u64, String> {
    load_merging(r, path, true).await
}

/// Whether this server follows a master (a `replicaof`, or a replica in
/// cluster mode): it then keeps the keys it loads past their expiry.
fn is_replica(w: &Worker) -> bool {
    if crate::features::replication::state(w)
        .replica
        .load(Ordering::Acquire)
    {
        return true;
    }
    if w.shared
        .config
        .replicaof
        .read()
        .is_ok_and(|m| !m.is_empty())
    {
        return true;
    }
    crate::features::cluster::state(w)
        .lock()
        .is_some_and(|c| c.myself().is_replica())
}

/// [`load`], where a function library of a name already there replaces
/// it only when `merge` (else the load fails there, as Redis's DEBUG
/// RELOAD NOFLUSH without MERGE does).
async fn load_merging(r: &Route<'_>, path: &Path, merge: bool) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader =
        Reader::new(BufReader::with_capacity(1 << 20, file)).map_err(|e| e.to_string())?;
    let keep_expired = is_replica(r);
    load_items(r, &mut reader, merge, keep_expired).await
}

/// [`load`] of the snapshot a master sent (`conn/replica.rs`): a replica
/// keeps every key, expired or not.
pub async fn load_from(r: &Route<'_>, src: impl std::io::Read) -> Result<u64, String> {
    let mut reader = Reader::new(src).map_err(|e| e.to_string())?;
    load_items(r, &mut reader, true, true).await
}

/// Loads the RDB at the head of `bytes` (an AOF's RDB base, or the RDB
/// preamble of a pre-7.0 AOF) and returns where it ends, checksum
/// included: the commands of the AOF's tail start there. Expired keys are
/// kept, as Redis keeps them from an AOF's base: the tail's commands may
/// name them, and the server's expiry removes them after.
pub async fn load_prefix(r: &Route<'_>, bytes: &[u8]) -> Result<usize, String> {
    let mut reader = Reader::new(bytes).map_err(|e| e.to_string())?;
    load_items(r, &mut reader, true, true).await?;
    usize::try_from(reader.offset()).map_err(|e| e.to_string())
}

/// Reads the file's items up to its end into the shards.
async fn load_items<R: std::io::Read>(
    r: &Route<'_>,
    reader: &mut Reader<R>,
    merge: bool,
    keep_expired: bool,
) -> Result<u64, String> {
    reader.verify_checksum(r.shared.config.text("rdbchecksum") != "no");
    let st = state(r);
    st.loading_started.store(now_ms(), Ordering::Release);
    let n = r.nshards();
    let databases = r.shared.config.startup.databases;
    let now = now_ms();
    let mut batches: Vec<Vec<Loaded>> = (0..n).map(|_| Vec::new()).collect();
    let mut inflight: Vec<Pending<()>> = Vec::new();
    let mut libraries = Vec::new();
    let mut keys = 0u64;
    let mut expired = 0u64;
    let mut load_delay = DebugDelay::default();
    load_delay.read(r, "key-load-delay");
    // Past this many bytes a quiet load shows (`begin_loading`).
    let mut quiet_bytes: u64 = r
        .shared
        .config
        .other("loading-process-events-interval-bytes")
        .parse()
        .unwrap_or(2 << 20);
    loop {
        match reader.next_item().map_err(|e| e.to_string())? {
            Item::Entry {
                db,
                key,
                value,
                expire_ms,
            } => {
                let db = db as usize;
                if db >= databases {
                    return Err(format!(
                        "the file has a database {db}, and this server is configured for {databases} (databases)"
                    ));
                }
                if !keep_expired && expire_ms.is_some_and(|at| at <= now) {
                    expired += 1;
                    continue;
                }
                let s = r.shard_of(&key);
                batches[s].push((db, key, value, expire_ms));
                keys += 1;
                if load_delay.on() {
                    load_delay.pause(1).await;
                    load_delay.read(r, "key-load-delay");
                }
                if reader.offset() >= quiet_bytes && quiet_bytes > 0 {
                    quiet_bytes = 0;
                    end_quiet(r).await;
                }
                if batches[s].len() >= LOAD_BATCH {
                    let batch = std::mem::take(&mut batches[s]);
                    inflight.push(r.start(s, move |w| insert(w, batch)));
                    if inflight.len() >= 4 * n {
                        for p in inflight.drain(..) {
                            p.finish(r).await;
                        }
                    }
                }
            }
            Item::FunctionLib(code) => libraries.push(code),
            Item::End => break,
            _ => {}
        }
    }
    for (s, batch) in batches.into_iter().enumerate() {
        if !batch.is_empty() {
            inflight.push(r.start(s, move |w| insert(w, batch)));
        }
    }
    for p in inflight {
        p.finish(r).await;
    }
    for code in libraries {
        crate::features::function::restore_library(r, &code, merge)
            .map_err(|e| format!("function library: {e}"))?;
    }
    st.loaded_keys.store(keys, Ordering::Release);
    st.loaded_expired.store(expired, Ordering::Release);
    Ok(keys)
}

type Loaded = (usize, Vec<u8>, Value, Option<u64>);

fn insert(w: &Worker, batch: Vec<Loaded>) {
    let mut sh = w.shard.borrow_mut();
    for (db, key, value, expire) in batch {
        sh.ks.dbs[db].insert(&key, value, expire);
    }
}

/// Abandons a background save in progress, if any: its snapshot walks are
/// finished (so the next save starts from whole marks) and it ends without
/// recording anything, as Redis kills its child.
async fn abandon(r: &Route<'_>) {
    let st = state(r);
    if st.in_progress.load(Ordering::Acquire) {
        st.generation.fetch_add(1, Ordering::AcqRel);
        r.call_all(|w| {
            for d in w.shard.borrow_mut().ks.dbs.iter_mut() {
                d.abort_snapshot();
            }
        })
        .await;
        st.started_ms.store(0, Ordering::Release);
        st.in_progress.store(false, Ordering::Release);
    }
}

/// After FLUSHALL, as Redis: a BGSAVE in progress is abandoned (Redis
/// kills its child; the change counter stays as it was), and with save
/// points set the (now empty) dataset is saved at once, so the dump file
/// does not bring the flushed keys back and no change is left pending.
pub async fn after_flushall(r: &Route<'_>) {
    if save_points(r).is_empty() {
        if !state(r).for_other.load(Ordering::Acquire) {
            abandon(r).await;
        }
        return;
    }
    abandon(r).await;
    let _ = save(r, true).await;
}

/// `DEBUG RELOAD`: saves, empties every database, loads the file back —
/// all while holding every shard, as Redis does it in one blocking step.
/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves (unless NOSAVE), empties
/// the keys and function libraries (unless NOFLUSH), and loads the dump
/// file back; with NOFLUSH a library already there fails the load unless
/// MERGE, as in Redis.
pub async fn debug_reload(r: &Route<'_>, options: &[&[u8]]) -> Result<(), Error> {
    let (mut merge, mut flush, mut save_first) = (false, true, true);
    for o in options {
        match o.to_ascii_lowercase().as_slice() {
            b"merge" => merge = true,
            b"noflush" => flush = false,
            b"nosave" => save_first = false,
            _ => {
                return Err(Error::Static(
                    "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                ))
            }
        }
    }
    r.atomically(0..r.nshards(), async |t: Route<'_>| {
        if save_first {
            save(&t, true)
                .await
                .map_err(|e| Error::Other(format!("ERR Error trying to save the DB: {e}")))?;
        }
        if flush {
            t.call_all(|w| w.shard.borrow_mut().ks.flush_all(now_ms()))
                .await;
            crate::features::function::flush(&t);
        }
        load_merging(&t, &dump_path(&t), merge || flush)
            .await
            .map_err(|e| {
                log::warn!("DEBUG RELOAD: {e}");
                Error::Static("ERR Error trying to load the RDB dump, check server logs.")
            })?;
        Ok(())
    })
    .await
}

/// INFO's persistence section.
pub async fn info(r: &Route<'_>, s: &mut String) {
    use std::fmt::Write as _;
    let st = state(r);
    let dirty = dirty_total(r)
        .await
        .saturating_sub(st.dirty_at_save.load(Ordering::Acquire));
    let started = st.started_ms.load(Ordering::Acquire);
    let running = st.in_progress.load(Ordering::Acquire);
    let loading = st.loading.load(Ordering::Acquire);
    let _ = write!(
        s,
        "# Persistence\r\nloading:{}\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\n",
        u8::from(loading)
    );
    if loading {
        let _ = write!(
            s,
            "loading_start_time:{}\r\nloading_total_bytes:0\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:0\r\nloading_loaded_perc:0.00\r\nloading_eta_seconds:1\r\n",
            st.loading_started.load(Ordering::Acquire) / 1000
        );
    }
    let _ = write!(
        s,
        "rdb_changes_since_last_save:{dirty}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\nrdb_last_bgsave_time_sec:{}\r\nrdb_current_bgsave_time_sec:{}\r\nrdb_saves:{}\r\nrdb_last_cow_size:0\r\nrdb_last_load_keys_expired:{}\r\nrdb_last_load_keys_loaded:{}\r\n",
        u8::from(running && !st.for_other.load(Ordering::Acquire)),
        st.lastsave.load(Ordering::Acquire),
        if st.last_ok.load(Ordering::Acquire) { "ok" } else { "err" },
        st.last_bgsave_secs.load(Ordering::Acquire),
        if running && started > 0 {
            (now_ms().saturating_sub(started) / 1000) as i64
        } else {
            -1
        },
        st.saves.load(Ordering::Acquire),
        st.loaded_expired.load(Ordering::Acquire),
        st.loaded_keys.load(Ordering::Acquire),
    );
}
