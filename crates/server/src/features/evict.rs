//! `maxmemory`: refusing or making room for commands that add data.
//!
//! Memory use is one process-wide figure (the allocator's counters), but
//! every shard owns its keys, so each shard evicts only its own (choosing
//! them as `storage::evict` describes). Three things keep the total under
//! the limit:
//!
//! - [`admit`], before every command flagged `denyoom` (and before such a
//!   command is queued in MULTI, and before an EXEC holding one, as Redis
//!   checks there too): over the limit, it has one shard make room, taking
//!   the shards in turn (this thread's own without a message, the others
//!   over the channels), so that every shard gives up its share whichever
//!   thread the writes come through. A shard with nothing the policy may
//!   evict passes the turn to the next.
//! - A shard making room frees a little more than the excess ([`SLACK`]
//!   of the limit), so the next many writes pass without asking anyone.
//! - The cron: a shard over the limit makes room on each tick, so memory
//!   comes back under the limit while no writes arrive too.
//!
//! A command is refused with `-OOM` only when the policy is `noeviction`
//! or no shard holds a key the policy may evict, as in Redis. A shard that
//! runs out of time while still evicting admits the command (Redis's
//! "eviction still running"): the next command or tick goes on.
//!
//! Keys locked by a MIGRATE in flight are never evicted: the migration
//! owns them until it settles.
//!
//! Memory here means the allocator's figure less what the lazy-free thread
//! has been handed and not freed yet: a big evicted value counts as gone at
//! once, so no shard evicts more while its memory is on the way back.

use std::cell::Cell;
use std::time::{Duration, Instant};

use storage::evict::{self, Policy};

use crate::engine::worker::Worker;

/// Longest one call evicts before letting the command through.
const BUDGET: Duration = Duration::from_micros(500);

/// A shard making room goes this fraction of the limit below it (at most
/// [`MAX_SLACK`] bytes), so that rounds of eviction are rare.
const SLACK: u64 = 128;
const MAX_SLACK: u64 = 4 << 20;

/// Within this many bytes of the limit, every check reads the counters.
const NEAR: u64 = 4 << 20;

/// The shard this thread asks next to make room (registered in its
/// worker's `Locals`; starts at the thread's own, so threads spread their
/// asks).
pub struct Turn(pub Cell<usize>);

thread_local! {
    /// This thread's last reading of memory use: (its clock in ms, bytes).
    static LAST: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Whether memory use is over `maxmemory` (never, with no limit). Reading
/// the allocator's counters touches every thread's counter line, so while
/// use is far below the limit a thread reads them at most once per
/// millisecond of its clock; near the limit, on every check.
#[inline]
fn over() -> bool {
    let max = evict::maxmemory();
    if max == 0 {
        return false;
    }
    let now = evict::clock();
    let (at, used) = LAST.get();
    if at == now && used.saturating_add(NEAR) < max {
        return false;
    }
    let used = counted_memory();
    LAST.set((now, used));
    used > max
}

/// Whether memory use is still above the level eviction stops at.
fn above_target() -> bool {
    let max = evict::maxmemory();
    max != 0 && counted_memory() > max - (max / SLACK).min(MAX_SLACK)
}

/// Memory in use less what the lazy-free thread is about to free: a big
/// value just evicted counts as gone at once, so no shard evicts more keys
/// while its memory is on the way back.
fn counted_memory() -> u64 {
    crate::host::sys::used_memory().saturating_sub(crate::host::sys::lazyfree_pending_bytes())
        as u64
}

/// Whether a command that may add data can run without evicting first
/// (no `maxmemory`, or under it): the connection loop's synchronous check.
#[inline]
pub fn admits_now() -> bool {
    !over()
}

/// Whether a command that may add data can run now; evicts to make room.
pub async fn admit(w: &Worker) -> bool {
    if !over() {
        return true;
    }
    let policy = evict::policy();
    if policy == Policy::NoEviction {
        return false;
    }
    let n = w.nshards();
    for _ in 0..n {
        let target = w.local::<Turn>().0.get() % n;
        let room = if target == w.id {
            make_room(w, policy)
        } else {
            let room = w.call(target, move |w| make_room(w, policy)).await;
            room.unwrap_or(Room::NothingHere)
        };
        if room != Room::NothingHere {
            if room == Room::Enough {
                w.local::<Turn>().0.set(target + 1);
            }
            return true;
        }
        w.local::<Turn>().0.set(target + 1);
    }
    false
}

/// The cron's share: a shard over the limit evicts one budget's worth.
pub fn on_tick(w: &Worker) {
    if over() {
        let policy = evict::policy();
        if policy != Policy::NoEviction {
            make_room(w, policy);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    Enough,
    OutOfTime,
    NothingHere,
}

/// Evicts keys of this shard until memory is [`SLACK`] under the limit,
/// time runs out, or nothing here may go.
fn make_room(w: &Worker, policy: Policy) -> Room {
    let start = Instant::now();
    let mut evicted = 0u64;
    let room = {
        // Borrowed while a busy script lets this thread's tasks run: no
        // room is made here until it ends.
        let Ok(mut shard) = w.shard.try_borrow_mut() else {
            return Room::NothingHere;
        };
        loop {
            if !above_target() {
                break Room::Enough;
            }
            if start.elapsed() > BUDGET {
                break Room::OutOfTime;
            }
            if !evict::evict_one(&mut shard.ks, policy, |db, key| w.is_locked(db, key)) {
                break Room::NothingHere;
            }
            evicted += 1;
        }
    };
    w.stats.evicted.set(w.stats.evicted.get() + evicted);
    room
}
