//! FAILOVER: a coordinated switch of roles with one of this master's
//! replicas, as Redis 6.2+ does it, built on PSYNC2 (`master.rs`,
//! `replication.rs`).
//!
//! 1. `waiting-for-sync`: writes are paused (`pause::State::failover`,
//!    which CLIENT UNPAUSE does not end) and nothing more enters the stream
//!    (no PING, no GETACK), until the target (the one named by TO, else any
//!    online replica) has acknowledged everything it holds (replicas
//!    acknowledge every second). Past TIMEOUT
//!    the failover is aborted, or with FORCE goes on regardless.
//! 2. `failover-in-progress`: this server follows the target and asks it
//!    `PSYNC <replid> <offset> FAILOVER`; the target, whose master this
//!    server is, promotes itself and answers the PSYNC under its new ID
//!    (a partial resync: same history). Once the target answered, the
//!    failover is over and the writes resume, refused now as a replica's.
//!    A target that refuses makes this server a master again.

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use commands::args::parse_i64;
use commands::Error;
use resp::encode;

use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};
use crate::features::{master, pause, replication};

type Argv<'a> = &'a [&'a [u8]];

use replication::{
    FAILOVER_IN_PROGRESS as IN_PROGRESS, FAILOVER_NONE as NONE, FAILOVER_WAITING as WAITING,
};

/// The failover in progress, if any (registered in `Globals`); its phase
/// is `replication::State::failover`, which INFO and PSYNC read.
#[derive(Default)]
pub struct State {
    /// TO host port, FORCE, and the deadline (unix ms, 0: none).
    plan: Mutex<Plan>,
}

#[derive(Default, Clone)]
struct Plan {
    target: Option<(String, u16)>,
    force: bool,
    deadline: u64,
}

fn state(w: &Worker) -> &State {
    w.shared.global::<State>()
}

/// Whether this server's link to its new master must ask `PSYNC ...
/// FAILOVER` (step 2).
pub fn in_progress(w: &Worker) -> bool {
    phase(w).load(Ordering::Acquire) == IN_PROGRESS
}

fn phase(w: &Worker) -> &std::sync::atomic::AtomicU8 {
    &replication::state(w).failover
}

/// The target answered this server's PSYNC: accepted (the roles are
/// switched) or refused (this server is a master again).
pub async fn psync_answered(r: &Route<'_>, accepted: bool) {
    if phase(r).load(Ordering::Acquire) != IN_PROGRESS {
        return;
    }
    if accepted {
        log::info!("Failover target accepted the PSYNC request: failover complete");
        end(r).await;
    } else {
        abort(r, "Failover target rejected psync request").await;
    }
}

/// Ends the failover: writes resume.
async fn end(r: &Route<'_>) {
    phase(r).store(NONE, Ordering::Release);
    pause::end_failover(r).await;
}

/// Gives the failover up, a master again if it had begun following the
/// target.
async fn abort(r: &Route<'_>, why: &str) {
    if phase(r).load(Ordering::Acquire) == IN_PROGRESS {
        replication::promote(r, "failover aborted");
    }
    log::warn!("FAILOVER aborted: {why}");
    end(r).await;
}

/// `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]`
pub async fn failover(w: &Route<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let mut plan = Plan::default();
    let mut abort_asked = false;
    let mut timeout: Option<i64> = None;
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].to_ascii_lowercase();
        match a.as_slice() {
            b"to" if i + 2 < argv.len() && plan.target.is_none() => {
                let port = parse_i64(argv[i + 2])
                    .filter(|p| (0..=65535).contains(p))
                    .ok_or(Error::Static("ERR Invalid port"))?;
                plan.target = Some((
                    String::from_utf8_lossy(argv[i + 1]).into_owned(),
                    port as u16,
                ));
                i += 3;
            }
            b"timeout" if i + 1 < argv.len() && timeout.is_none() => {
                timeout = Some(parse_i64(argv[i + 1]).ok_or(Error::NotInteger)?);
                i += 2;
            }
            b"force" if !plan.force => {
                plan.force = true;
                i += 1;
            }
            b"abort" if !abort_asked => {
                abort_asked = true;
                i += 1;
            }
            _ => return Err(Error::Syntax),
        }
    }
    let st = state(w);
    if abort_asked {
        if plan.target.is_some() || plan.force || timeout.is_some() {
            return Err(Error::Static(
                "ERR FAILOVER ABORT is not compatible with other arguments",
            ));
        }
        if phase(w).load(Ordering::Acquire) == NONE {
            return Err(Error::Static("ERR No failover in progress."));
        }
        abort(w, "Failover manually aborted").await;
        encode::ok(out);
        return Ok(());
    }
    if crate::features::cluster::state(w).enabled() {
        return Err(Error::Static("ERR FAILOVER not allowed in cluster mode."));
    }
    if timeout.is_some_and(|t| t <= 0) {
        return Err(Error::Static("ERR FAILOVER timeout must be greater than 0"));
    }
    if replication::state(w).replica.load(Ordering::Acquire) {
        return Err(Error::Static(
            "ERR FAILOVER is not valid when server is a replica.",
        ));
    }
    let replicas = master::replica_offsets(w);
    if replicas.is_empty() {
        return Err(Error::Static("ERR FAILOVER requires connected replicas."));
    }
    if plan.force && (timeout.is_none() || plan.target.is_none()) {
        return Err(Error::Static(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    if phase(w).load(Ordering::Acquire) != NONE {
        return Err(Error::Static("ERR FAILOVER already in progress."));
    }
    if let Some((host, port)) = &plan.target {
        match replicas.iter().find(|r| r.ip == *host && r.port == *port) {
            None => {
                return Err(Error::Static(
                    "ERR FAILOVER target HOST and PORT is not a replica.",
                ))
            }
            Some(r) if !r.online => {
                return Err(Error::Static("ERR FAILOVER target replica is not online."))
            }
            Some(_) => {}
        }
    }
    plan.deadline = timeout.map_or(0, |t| now_ms() + t as u64);
    match &plan.target {
        Some((h, p)) => log::info!("FAILOVER requested to {h}:{p}."),
        None => log::info!("FAILOVER requested to any replica."),
    }
    if let Ok(mut p) = st.plan.lock() {
        *p = plan;
    }
    phase(w).store(WAITING, Ordering::Release);
    pause::begin_failover(w);
    if let Some(me) = crate::engine::worker::current() {
        rt::spawn_local(async move {
            let r = Route::plain(&me);
            drive(&r).await;
        });
    }
    encode::ok(out);
    Ok(())
}

/// Step 1 (see the module doc), then the switch to step 2.
async fn drive(r: &Route<'_>) {
    let st = state(r);
    loop {
        if phase(r).load(Ordering::Acquire) != WAITING {
            return;
        }
        let plan = st.plan.lock().map(|p| p.clone()).unwrap_or_default();
        let offset = master::stream_offset(r).await;
        let replicas = master::replica_offsets(r);
        let caught_up = replicas.iter().find(|x| {
            x.online
                && x.ack >= offset
                && plan
                    .target
                    .as_ref()
                    .is_none_or(|(h, p)| x.ip == *h && x.port == *p)
        });
        let chosen = match caught_up {
            Some(x) => Some((x.ip.clone(), x.port)),
            None if plan.deadline != 0 && now_ms() >= plan.deadline => {
                if plan.force {
                    plan.target.clone()
                } else {
                    abort(r, "Replica never caught up before timeout").await;
                    return;
                }
            }
            None => None,
        };
        if let Some((host, port)) = chosen {
            log::info!("Failover target {host}:{port} is synced, failing over to it.");
            phase(r).store(IN_PROGRESS, Ordering::Release);
            replication::follow(r, &host, port);
            return;
        }
        // No `REPLCONF GETACK` meanwhile, as Redis sends none while
        // clients are paused: it would move the stream's offset on, past
        // what the replica acknowledges in answer to it. The replicas'
        // acknowledgements every second bring the target level.
        rt::sleep(Duration::from_millis(50)).await;
    }
}
