//! Replication, the replica's side: REPLICAOF / SLAVEOF, ROLE, REPLCONF,
//! INFO's replication section, and the checks a replica makes of ordinary
//! clients' commands (`-READONLY`, `-MASTERDOWN`).
//!
//! This module keeps the process-wide state (registered in the engine's
//! `Globals`): which master is followed, the state of the link, the
//! replication IDs and the offset. The link itself — the handshake, the
//! full sync and the stream — is a task of thread 0 in `conn/replica.rs`,
//! because it applies the master's stream through the connection loop.
//!
//! A change of master (REPLICAOF) bumps [`State::generation`]; a link of an
//! older generation stops before it applies anything more, so a promoted
//! replica never takes a write from the master it left.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use commands::Error;
use resp::encode;

use crate::client::Client;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};

type Argv<'a> = &'a [&'a [u8]];

/// Redis's error for a write sent to a read-only replica.
pub const READONLY: &str = "READONLY You can't write against a read only replica.";

/// Redis's error while the link is down and stale data may not be served.
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

/// Where the link to the master stands (ROLE's words).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Link {
    /// Not yet connecting (or waiting to retry).
    Connect,
    Connecting,
    /// PING, AUTH, REPLCONF, PSYNC.
    Handshake,
    /// Receiving or loading the snapshot.
    Sync,
    /// Applying the stream.
    Connected,
}

impl Link {
    fn word(self) -> &'static str {
        match self {
            Link::Connect => "connect",
            Link::Connecting => "connecting",
            Link::Handshake => "handshake",
            Link::Sync => "sync",
            Link::Connected => "connected",
        }
    }
}

/// What the replication state keeps under its lock.
pub struct Inner {
    /// The master followed, if a replica.
    pub master: Option<(String, u16)>,
    pub link: Link,
    /// This server's replication ID; a replica takes its master's.
    pub replid: String,
    /// The ID before the last change of history, and the first offset it
    /// no longer covers (-1: none).
    pub replid2: String,
    pub second_offset: i64,
    /// The last I/O with the master (unix ms; 0: none yet).
    pub last_io_ms: u64,
    /// When the link went down (unix ms; 0: it has never been up).
    pub down_since_ms: u64,
    /// The master's ID and offset this replica may ask to continue from
    /// (a partial resync); None after a failed load or a flush.
    pub cached: Option<(String, u64)>,
    /// The database the lost master's client had selected.
    pub cached_db: usize,
    /// The snapshot being received: bytes expected (0: unknown, EOF-marked)
    /// and bytes read so far.
    pub transfer: Option<(u64, u64)>,
}

/// The process's replication state.
pub struct State {
    inner: Mutex<Inner>,
    /// Full syncs of this replica's own replicas waiting for the link to
    /// stop between two batches (`master.rs`, `conn::follow`): each is
    /// answered the offset applied and a handle whose drop lets it go on.
    pauses: Mutex<Vec<Pause>>,
    /// A replica: writes of ordinary clients may be refused.
    pub replica: AtomicBool,
    /// The link is up (the stream is being applied).
    pub link_up: AtomicBool,
    /// Bumped by each REPLICAOF: a link of an older one stops.
    pub generation: AtomicU64,
    /// The replication offset: bytes of the master's stream applied.
    pub offset: AtomicI64,
    /// As a master, fewer replicas are in good standing than
    /// `min-replicas-to-write` asks: writes are refused (`-NOREPLICAS`).
    /// Set once a second (`master.rs`).
    pub noreplicas: AtomicBool,
    /// FAILOVER's phase (`failover.rs`): [`FAILOVER_NONE`],
    /// [`FAILOVER_WAITING`] or [`FAILOVER_IN_PROGRESS`].
    pub failover: std::sync::atomic::AtomicU8,
}

pub const FAILOVER_NONE: u8 = 0;
pub const FAILOVER_WAITING: u8 = 1;
pub const FAILOVER_IN_PROGRESS: u8 = 2;

impl State {
    /// INFO replication's `master_failover_state`.
    pub fn failover_name(&self) -> &'static str {
        match self.failover.load(Ordering::Acquire) {
            FAILOVER_WAITING => "waiting-for-sync",
            FAILOVER_IN_PROGRESS => "failover-in-progress",
            _ => "no-failover",
        }
    }
}

/// Redis's error for a write while too few replicas are in good standing.
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

/// A random 40-hex-digit replication ID.
pub fn random_id() -> String {
    (0..40)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

/// See [`State::pauses`].
pub type Pause = crossbeam_channel::Sender<(u64, crossbeam_channel::Sender<()>)>;

/// The stream's writer is told a replica became a master
/// (`journal::control`): the stream it relayed ends there.
pub struct Promoted;

impl State {
    /// Asks the link to stop between two batches (see [`State::pauses`]).
    pub fn ask_pause(&self, ask: Pause) {
        self.pauses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ask);
    }

    /// The pauses asked for (the link takes them between batches; a link
    /// that ends drops them, and the asker gives up).
    pub fn take_pauses(&self) -> Vec<Pause> {
        std::mem::take(&mut *self.pauses.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn new() -> State {
        State {
            pauses: Mutex::new(Vec::new()),
            inner: Mutex::new(Inner {
                master: None,
                link: Link::Connect,
                replid: random_id(),
                replid2: "0".repeat(40),
                second_offset: -1,
                last_io_ms: 0,
                down_since_ms: 0,
                cached: None,
                cached_db: 0,
                transfer: None,
            }),
            replica: AtomicBool::new(false),
            link_up: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            offset: AtomicI64::new(0),
            noreplicas: AtomicBool::new(false),
            failover: std::sync::atomic::AtomicU8::new(FAILOVER_NONE),
        }
    }

    /// Runs `f` on the state under its lock.
    pub fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// Starts following `host:port` (at start, from the config file).
    pub fn follow(&self, host: &str, port: u16) {
        let offset = self.offset.load(Ordering::Acquire).max(0) as u64;
        self.with(|s| {
            // As Redis: our own history is offered to the new master, which
            // may know it (a promoted replica's old master does).
            s.cached = Some((s.replid.clone(), offset));
            s.cached_db = 0;
            s.master = Some((host.to_string(), port));
            s.link = Link::Connect;
            s.down_since_ms = 0;
        });
        self.replica.store(true, Ordering::Release);
        crate::host::logging::replica_role(true);
        self.link_up.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Stops following: keeps the data and the offset, takes a new
    /// replication ID and keeps the master's as the second one.
    pub(crate) fn promote(&self) {
        let offset = self.offset.load(Ordering::Acquire);
        self.with(|s| {
            s.master = None;
            s.link = Link::Connect;
            s.cached = None;
            s.transfer = None;
            s.replid2 = std::mem::replace(&mut s.replid, random_id());
            s.second_offset = offset + 1;
            log::info!(
                "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
                s.replid2,
                s.second_offset,
                s.replid
            );
        });
        // In this order: writes journaled from here on are recorded; the
        // stream's writer learns of the promotion; only then may clients
        // write (their writes follow it in the stream, as this server's own).
        crate::engine::journal::set_on(true);
        crate::engine::journal::control(Box::new(Promoted));
        self.replica.store(false, Ordering::Release);
        crate::host::logging::replica_role(false);
        self.link_up.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

pub fn state(w: &Worker) -> &State {
    w.shared.global::<State>()
}

/// Why a replica refuses an ordinary client's command, if it does:
/// `-MASTERDOWN` while the link is down and `replica-serve-stale-data` is
/// no (for commands not flagged stale), `-READONLY` for a write while
/// `replica-read-only` is yes. Only replicas pay for the settings' lookup.
pub fn refusal(w: &Worker, st: &State, write: bool, stale_ok: bool) -> Option<Error> {
    if !st.replica.load(Ordering::Relaxed) {
        return (write && st.noreplicas.load(Ordering::Relaxed))
            .then_some(Error::Static(NOREPLICAS));
    }
    let c = &w.shared.config;
    if !stale_ok
        && !st.link_up.load(Ordering::Relaxed)
        && c.other("replica-serve-stale-data") == "no"
    {
        return Some(Error::Static(MASTERDOWN));
    }
    (write && c.other("replica-read-only") != "no").then_some(Error::Static(READONLY))
}

/// `REPLICAOF host port | NO ONE` (and `SLAVEOF`)
pub fn replicaof(
    w: &Route<'_>,
    client: &Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if crate::features::cluster::state(w).enabled() {
        return Err(Error::Static("ERR REPLICAOF not allowed in cluster mode."));
    }
    let st = state(w);
    let who = || {
        let line = client.info.borrow().line(now_ms() / 1000);
        line.trim_end().to_string()
    };
    if argv[1].eq_ignore_ascii_case(b"no") && argv[2].eq_ignore_ascii_case(b"one") {
        if st.replica.load(Ordering::Acquire) {
            st.promote();
            *w.shared
                .config
                .replicaof
                .write()
                .map_err(|_| Error::Static("ERR internal lock"))? = String::new();
            log::info!("MASTER MODE enabled (user request from '{}')", who());
        }
        encode::ok(out);
        return Ok(());
    }
    let port = std::str::from_utf8(argv[2])
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or(Error::Static("ERR Invalid master port"))?;
    let host = String::from_utf8_lossy(argv[1]).into_owned();
    let same = st.with(|s| s.master.as_ref() == Some(&(host.clone(), port)));
    if same {
        log::info!("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
        encode::simple(out, b"OK Already connected to specified master");
        return Ok(());
    }
    st.follow(&host, port);
    if let Ok(mut g) = w.shared.config.replicaof.write() {
        *g = format!("{host} {port}");
    }
    log::info!(
        "REPLICAOF {host}:{port} enabled (user request from '{}')",
        who()
    );
    encode::ok(out);
    Ok(())
}

/// Cluster mode's REPLICATE and failovers: follow `host:port`.
pub fn follow(w: &Worker, host: &str, port: u16) {
    state(w).follow(host, port);
    if let Ok(mut g) = w.shared.config.replicaof.write() {
        *g = format!("{host} {port}");
    }
}

/// Cluster mode's promotion (a failover won, CLUSTER RESET): stop
/// following, keeping the data and the history as REPLICAOF NO ONE does.
pub fn stop_following(w: &Worker) {
    promote(w, "cluster failover");
}

/// Stops following, as REPLICAOF NO ONE does, logging `why` as Redis's
/// "MASTER MODE enabled (...)" line (a cluster failover, FAILOVER).
pub fn promote(w: &Worker, why: &str) {
    let st = state(w);
    if st.replica.load(Ordering::Acquire) {
        st.promote();
        if let Ok(mut g) = w.shared.config.replicaof.write() {
            g.clear();
        }
        log::info!("MASTER MODE enabled ({why})");
    }
}

/// `ROLE`
/// ROLE; a master's replicas are written by `replicas` (`master.rs`).
pub fn role(w: &Route<'_>, out: &mut Vec<u8>, replicas: impl FnOnce(&mut Vec<u8>)) {
    let st = state(w);
    let offset = st.offset.load(Ordering::Acquire);
    st.with(|s| match &s.master {
        None => {
            encode::array_len(out, 3);
            encode::bulk(out, b"master");
            encode::integer(out, offset);
            replicas(out);
        }
        Some((host, port)) => {
            encode::array_len(out, 5);
            encode::bulk(out, b"slave");
            encode::bulk(out, host.as_bytes());
            encode::integer(out, i64::from(*port));
            encode::bulk(out, s.link.word().as_bytes());
            let shown = if s.link == Link::Connected {
                offset
            } else {
                -1
            };
            encode::integer(out, shown);
        }
    });
}

/// `REPLCONF option value ...`. From the master's own client, `GETACK`
/// asks for an ACK (sent by the link once the command has run); from
/// anyone else, the options a replica would send are accepted, as a master
/// with no replicas accepts them.
pub fn replconf(client: &mut Client, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    if argv.len() % 2 == 0 {
        return Err(Error::Syntax);
    }
    let mut i = 1;
    while i < argv.len() {
        let opt = argv[i];
        if opt.eq_ignore_ascii_case(b"getack") {
            if let Some(up) = client.master.as_mut() {
                up.ack = Some(up.offset);
            }
            return Ok(());
        }
        if opt.eq_ignore_ascii_case(b"ack") {
            return Ok(());
        }
        if opt.eq_ignore_ascii_case(b"capa") && argv[i + 1].eq_ignore_ascii_case(b"eof") {
            client.info.borrow_mut().repl_eof = true;
        }
        if opt.eq_ignore_ascii_case(b"listening-port") {
            if let Some(p) = std::str::from_utf8(argv[i + 1])
                .ok()
                .and_then(|s| s.parse().ok())
            {
                client.info.borrow_mut().repl_port = p;
            }
        }
        let known = [&b"listening-port"[..], b"ip-address", b"capa", b"rdb-only"];
        if !known.iter().any(|k| opt.eq_ignore_ascii_case(k)) {
            return Err(Error::Other(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        i += 2;
    }
    encode::ok(out);
    Ok(())
}

/// INFO's replication section, up to the replicas (`master.rs` writes
/// the whole section).
pub fn info_head(w: &Route<'_>, s: &mut String) {
    use std::fmt::Write as _;
    let st = state(w);
    let offset = st.offset.load(Ordering::Acquire);
    let now = now_ms();
    st.with(|r| {
        match &r.master {
            None => s.push_str("# Replication\r\nrole:master\r\n"),
            Some((host, port)) => {
                let up = r.link == Link::Connected;
                let last_io = if r.last_io_ms > 0 && (up || r.transfer.is_some()) {
                    (now.saturating_sub(r.last_io_ms) / 1000) as i64
                } else {
                    -1
                };
                let _ = write!(
                    s,
                    "# Replication\r\nrole:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\nmaster_last_io_seconds_ago:{last_io}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n",
                    if up { "up" } else { "down" },
                    u8::from(r.link == Link::Sync),
                );
                if let Some((total, read)) = r.transfer {
                    let left = total.saturating_sub(read);
                    let perc = if total > 0 {
                        read as f64 * 100.0 / total as f64
                    } else {
                        0.0
                    };
                    let _ = write!(
                        s,
                        "master_sync_total_bytes:{}\r\nmaster_sync_read_bytes:{read}\r\nmaster_sync_left_bytes:{}\r\nmaster_sync_perc:{perc:.2}\r\nmaster_sync_last_io_seconds_ago:{}\r\n",
                        if total > 0 { total as i64 } else { -1 },
                        if total > 0 { left as i64 } else { -1 },
                        now.saturating_sub(r.last_io_ms) / 1000,
                    );
                }
                if !up {
                    let since = if r.down_since_ms == 0 {
                        -1
                    } else {
                        (now.saturating_sub(r.down_since_ms) / 1000) as i64
                    };
                    let _ = write!(s, "master_link_down_since_seconds:{since}\r\n");
                }
                let _ = write!(
                    s,
                    "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
                    w.shared.config.other("replica-priority"),
                    u8::from(w.shared.config.other("replica-read-only") != "no"),
                );
            }
        }
    });
}

/// INFO's replication IDs and offset (after the replicas).
pub fn info_ids(w: &Route<'_>, s: &mut String) {
    use std::fmt::Write as _;
    let st = state(w);
    let offset = st.offset.load(Ordering::Acquire);
    st.with(|r| {
        let _ = write!(
            s,
            "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{offset}\r\nsecond_repl_offset:{}\r\n",
            st.failover_name(),
            r.replid,
            r.replid2,
            r.second_offset,
        );
    });
}
