//! Access stamps and the eviction policy (`maxmemory`, `maxmemory-policy`).
//!
//! Every key carries a 24-bit stamp, Redis's `lru` field, whose meaning
//! follows the policy:
//!
//! - under an LRU or non-LFU policy, the time of the last access in seconds
//!   modulo 2^24 (a clock that wraps every 194 days), from which OBJECT
//!   IDLETIME and the LRU policies compute idle time;
//! - under an LFU policy, 16 bits of minutes (the last decrement time) and
//!   an 8-bit logarithmic access counter, which starts at 5 so that new
//!   keys are not evicted before they had a chance to be used, grows with
//!   probability 1 / ((counter - 5) * lfu-log-factor + 1) per access and
//!   loses one for every `lfu-decay-time` minutes without one.
//!
//! Switching policy at run time reinterprets the stamps, as in Redis: they
//! take a while to mean something again.
//!
//! # The clock
//!
//! Stamps are taken from a per-thread clock that the server advances
//! whenever it reads the time (once per batch of commands), like Redis's
//! cached `lruclock`: entries are created in some fifty places that have no
//! `now` at hand, and one cached read per access is all the hot path can
//! afford. Tests set it with [`set_clock`].
//!
//! The settings are process-wide and CONFIG SET may change them at any
//! time, so, like [`crate::limits`], they are relaxed atomics.
//!
//! # Choosing a victim
//!
//! [`evict_one`] samples `maxmemory-samples` keys of each database (from
//! neighbouring buckets of a random start, which costs one cache miss per
//! sample rather than several; volatile policies from the deadline index)
//! and keeps the best-scored ones it has seen in a small [`Pool`] that lives
//! from one eviction to the next, as Redis does: the pool remembers a very
//! idle key found three samples ago, so the result is much closer to true
//! LRU than the best of each sample alone. A key taken from the pool is
//! scored again first (it may have been used since it was sampled).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::{Keyspace, Millis};

/// What to do when memory use is over `maxmemory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    NoEviction = 0,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// Every policy with its configuration name, in Redis's order for the
    /// CONFIG SET error.
    pub const ALL: [(Policy, &'static str); 8] = [
        (Policy::VolatileLru, "volatile-lru"),
        (Policy::VolatileLfu, "volatile-lfu"),
        (Policy::VolatileRandom, "volatile-random"),
        (Policy::VolatileTtl, "volatile-ttl"),
        (Policy::AllKeysLru, "allkeys-lru"),
        (Policy::AllKeysLfu, "allkeys-lfu"),
        (Policy::AllKeysRandom, "allkeys-random"),
        (Policy::NoEviction, "noeviction"),
    ];

    /// The policy called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Policy> {
        Policy::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|&(p, _)| p)
    }

    /// The configuration name.
    pub fn name(self) -> &'static str {
        Policy::ALL
            .iter()
            .find(|&&(p, _)| p == self)
            .map_or("noeviction", |&(_, n)| n)
    }

    /// Stamps hold an LFU counter rather than an access time.
    #[inline]
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn from_u8(v: u8) -> Policy {
        Policy::ALL
            .iter()
            .find(|&&(p, _)| p as u8 == v)
            .map_or(Policy::NoEviction, |&(p, _)| p)
    }
}

static POLICY: AtomicU8 = AtomicU8::new(Policy::NoEviction as u8);
static MAXMEMORY: AtomicU64 = AtomicU64::new(0);
static SAMPLES: AtomicU32 = AtomicU32::new(5);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_TIME: AtomicU32 = AtomicU32::new(1);

/// The current `maxmemory-policy`.
#[inline]
pub fn policy() -> Policy {
    Policy::from_u8(POLICY.load(Ordering::Relaxed))
}

pub fn set_policy(p: Policy) {
    POLICY.store(p as u8, Ordering::Relaxed);
}

/// `maxmemory` in bytes; 0 means no limit.
#[inline]
pub fn maxmemory() -> u64 {
    MAXMEMORY.load(Ordering::Relaxed)
}

pub fn set_maxmemory(v: u64) {
    MAXMEMORY.store(v, Ordering::Relaxed);
}

/// `maxmemory-samples`: keys sampled per database per eviction. Redis
/// accepts up to 2^31 - 1; more than [`MAX_SAMPLES`] are taken as that
/// many, so that one eviction stays a bounded amount of work.
pub fn samples() -> usize {
    (samples_setting() as usize).min(MAX_SAMPLES)
}

/// `maxmemory-samples` as set (CONFIG GET shows it unclamped).
pub fn samples_setting() -> u32 {
    SAMPLES.load(Ordering::Relaxed)
}

/// The most keys one eviction samples per database.
pub const MAX_SAMPLES: usize = 64;

pub fn set_samples(v: u32) {
    SAMPLES.store(v, Ordering::Relaxed);
}

/// `lfu-log-factor`.
pub fn lfu_log_factor() -> u32 {
    LFU_LOG_FACTOR.load(Ordering::Relaxed)
}

pub fn set_lfu_log_factor(v: u32) {
    LFU_LOG_FACTOR.store(v, Ordering::Relaxed);
}

/// `lfu-decay-time`, in minutes.
pub fn lfu_decay_time() -> u32 {
    LFU_DECAY_TIME.load(Ordering::Relaxed)
}

pub fn set_lfu_decay_time(v: u32) {
    LFU_DECAY_TIME.store(v, Ordering::Relaxed);
}

/// Largest value of the 24-bit LRU clock.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// The LFU counter of a new key.
pub const LFU_INIT_VAL: u32 = 5;

thread_local! {
    /// Unix ms of this thread's last look at the clock.
    static CLOCK: Cell<Millis> = const { Cell::new(0) };
}

/// Advances this thread's clock (the server calls it whenever it reads the
/// time).
#[inline]
pub fn set_clock(now: Millis) {
    CLOCK.with(|c| c.set(now));
}

/// This thread's clock, unix ms.
#[inline]
pub fn clock() -> Millis {
    CLOCK.with(Cell::get)
}

/// Seconds modulo 2^24: the LRU clock at `now`.
#[inline]
fn lru_clock(now: Millis) -> u32 {
    (now / 1000) as u32 & LRU_CLOCK_MAX
}

/// Minutes modulo 2^16: the LFU decrement time at `now`.
#[inline]
fn lfu_minutes(now: Millis) -> u32 {
    (now / 60_000) as u32 & 0xffff
}

/// The stamp of a key created now.
#[inline]
pub fn new_stamp() -> u32 {
    let now = clock();
    if policy().is_lfu() {
        lfu_minutes(now) << 8 | LFU_INIT_VAL
    } else {
        lru_clock(now)
    }
}

/// The stamp after an access to a key stamped `stamp`.
#[inline]
pub fn accessed(stamp: u32) -> u32 {
    let now = clock();
    if policy().is_lfu() {
        let counter = lfu_log_incr(lfu_decayed(stamp, now));
        lfu_minutes(now) << 8 | counter
    } else {
        lru_clock(now)
    }
}

/// Milliseconds since the access recorded in an LRU stamp.
pub fn idle_ms(stamp: u32) -> u64 {
    let secs = lru_clock(clock()).wrapping_sub(stamp) & LRU_CLOCK_MAX;
    u64::from(secs) * 1000
}

/// The LRU stamp of a key last used `idle_secs` ago (RESTORE IDLETIME).
/// One older than the clock can tell lands half a wrap away, which the
/// eviction code treats as very old, as Redis does.
pub fn stamp_idle(idle_secs: u64) -> u32 {
    let clock = lru_clock(clock());
    match u32::try_from(idle_secs) {
        Ok(idle) if idle <= clock => clock - idle,
        _ => (clock + LRU_CLOCK_MAX / 2) % LRU_CLOCK_MAX,
    }
}

/// The LFU stamp of a key with access counter `freq` (RESTORE FREQ).
pub fn stamp_freq(freq: u8) -> u32 {
    lfu_minutes(clock()) << 8 | u32::from(freq)
}

/// The access counter of an LFU stamp after the decay it is due (OBJECT
/// FREQ); the stamp itself is not changed.
pub fn freq(stamp: u32) -> u32 {
    lfu_decayed(stamp, clock())
}

/// The counter of `stamp` less one per `lfu-decay-time` minutes since it
/// was last decremented.
fn lfu_decayed(stamp: u32, now: Millis) -> u32 {
    let counter = stamp & 0xff;
    let then = stamp >> 8;
    let minutes = lfu_minutes(now);
    let elapsed = if minutes >= then {
        minutes - then
    } else {
        0xffff - then + minutes
    };
    let periods = match lfu_decay_time() {
        0 => 0,
        d => elapsed / d,
    };
    counter.saturating_sub(periods)
}

/// One access to a counter: up by one with a probability that falls as
/// the counter grows, so 8 bits cover millions of accesses.
fn lfu_log_incr(counter: u32) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * f64::from(lfu_log_factor()) + 1.0);
    if fastrand::f64() < p {
        counter + 1
    } else {
        counter
    }
}

/// How much a key deserves eviction under `policy`: higher goes first.
/// `stamp` is its access stamp, `expire_at` its deadline (u64::MAX: none).
pub fn score(policy: Policy, stamp: u32, expire_at: u64) -> u64 {
    match policy {
        Policy::AllKeysLru | Policy::VolatileLru => idle_ms(stamp),
        Policy::AllKeysLfu | Policy::VolatileLfu => 255 - u64::from(freq(stamp)),
        Policy::VolatileTtl => u64::MAX - expire_at,
        Policy::NoEviction | Policy::AllKeysRandom | Policy::VolatileRandom => 0,
    }
}

/// Keys the pool remembers.
const POOL_SIZE: usize = 16;

/// The best eviction candidates seen recently: (score, database, key),
/// ascending by score, so the best is last.
#[derive(Default)]
pub struct Pool {
    entries: Vec<(u64, usize, Vec<u8>)>,
}

impl Pool {
    /// Keeps (score, db, key) if the pool has room or it beats the worst.
    fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if self.entries.len() == POOL_SIZE && self.entries[0].0 >= score {
            return;
        }
        if self.entries.iter().any(|(_, d, k)| *d == db && k == key) {
            return;
        }
        let at = self.entries.partition_point(|&(s, _, _)| s < score);
        self.entries.insert(at, (score, db, key.to_vec()));
        if self.entries.len() > POOL_SIZE {
            self.entries.remove(0);
        }
    }
}

/// Sampling rounds [`evict_one`] tries before it concludes that every
/// candidate it can find is locked.
const ROUNDS: usize = 8;

/// Evicts one key of `ks` that `policy` allows, skipping those `locked`
/// says are in use elsewhere; returns false when there is none (none at
/// all, or none unlocked in [`ROUNDS`] rounds of sampling).
pub fn evict_one(
    ks: &mut Keyspace,
    policy: Policy,
    mut locked: impl FnMut(usize, &[u8]) -> bool,
) -> bool {
    let candidates = |db: &crate::Db| {
        if policy.volatile_only() {
            db.expires_len()
        } else {
            db.len()
        }
    };
    for _ in 0..ROUNDS {
        if policy == Policy::NoEviction || ks.dbs.iter().all(|db| candidates(db) == 0) {
            return false;
        }
        if evict_round(ks, policy, &candidates, &mut locked) {
            return true;
        }
    }
    false
}

/// One round of [`evict_one`]: sample, then evict the best unlocked
/// candidate if any.
fn evict_round(
    ks: &mut Keyspace,
    policy: Policy,
    candidates: &impl Fn(&crate::Db) -> usize,
    locked: &mut impl FnMut(usize, &[u8]) -> bool,
) -> bool {
    let samples = samples();
    if matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom) {
        // No order to keep: the first unlocked key sampled goes.
        for i in 0..ks.dbs.len() {
            if candidates(&ks.dbs[i]) == 0 {
                continue;
            }
            let mut victim = None;
            ks.dbs[i].sample_for_eviction(policy, samples, |_, k| {
                if victim.is_none() && !locked(i, k) {
                    victim = Some(k.to_vec());
                }
            });
            if let Some(k) = victim {
                if ks.dbs[i].evict(&k) {
                    return true;
                }
            }
        }
        return false;
    }
    let Keyspace { dbs, pool, .. } = ks;
    for (i, db) in dbs.iter_mut().enumerate() {
        if candidates(db) > 0 {
            db.sample_for_eviction(policy, samples, |score, k| pool.offer(score, i, k));
        }
    }
    // Each step either evicts, drops an entry, or moves one down the pool
    // because it was used since: bounded by twice the pool.
    for _ in 0..2 * POOL_SIZE {
        let Some((score, db, key)) = pool.entries.pop() else {
            break;
        };
        let Some(now) = dbs[db].eviction_score(policy, &key) else {
            continue; // gone since it was sampled, or lost its TTL
        };
        if now < score && pool.entries.last().is_some_and(|e| e.0 > now) {
            // Used since: back in the pool at its new place.
            pool.offer(now, db, &key);
            continue;
        }
        if locked(db, &key) {
            continue;
        }
        if dbs[db].evict(&key) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keyspace (one database used) with `n` keys `k0..`, key i idle
    /// `idle(i)` seconds and expiring at `expire(i)`.
    fn keyspace(
        n: usize,
        idle: impl Fn(usize) -> u64,
        expire: impl Fn(usize) -> Option<Millis>,
    ) -> Keyspace {
        set_clock(1_000_000_000);
        let mut ks = Keyspace::new(2);
        for i in 0..n {
            let k = format!("k{i}");
            ks.dbs[0].insert(k.as_bytes(), crate::Value::from_int(i as i64), expire(i));
            ks.dbs[0].set_stamp(k.as_bytes(), stamp_idle(idle(i)), 0);
        }
        ks
    }

    fn evicted(ks: &mut Keyspace, p: Policy, n: usize) -> Vec<usize> {
        let before: Vec<usize> = (0..1000)
            .filter(|i| ks.dbs[0].contains(format!("k{i}").as_bytes(), 0))
            .collect();
        for _ in 0..n {
            assert!(evict_one(ks, p, |_, _| false));
        }
        before
            .into_iter()
            .filter(|i| !ks.dbs[0].contains(format!("k{i}").as_bytes(), 0))
            .collect()
    }

    #[test]
    fn lru_gives_up_idle_keys_first() {
        let mut ks = keyspace(200, |i| i as u64 * 10, |_| None);
        let gone = evicted(&mut ks, Policy::AllKeysLru, 100);
        assert_eq!(gone.len(), 100);
        // Key i is idle 10*i s: the evicted half should be the older one,
        // give or take what sampling misses.
        let avg = gone.iter().sum::<usize>() / gone.len();
        assert!(avg > 125, "average index of evicted keys {avg}");
        assert_eq!(ks.dbs[0].len(), 100);
    }

    #[test]
    fn lfu_gives_up_rarely_used_keys_first() {
        let mut ks = keyspace(200, |_| 0, |_| None);
        for i in 0..200 {
            ks.dbs[0].set_stamp(format!("k{i}").as_bytes(), stamp_freq(i as u8), 0);
        }
        let gone = evicted(&mut ks, Policy::AllKeysLfu, 100);
        let avg = gone.iter().sum::<usize>() / gone.len();
        assert!(avg < 75, "average counter of evicted keys {avg}");
    }

    #[test]
    fn volatile_ttl_takes_the_soonest_deadline_exactly() {
        let mut ks = keyspace(
            100,
            |_| 0,
            |i| (i % 2 == 0).then_some(2_000_000_000 + i as u64),
        );
        for want in [0, 2, 4, 6] {
            assert_eq!(evicted(&mut ks, Policy::VolatileTtl, 1), vec![want]);
        }
    }

    #[test]
    fn volatile_policies_keep_persistent_keys() {
        for p in [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
        ] {
            let mut ks = keyspace(100, |i| i as u64, |i| (i < 10).then_some(2_000_000_000));
            let gone = evicted(&mut ks, p, 10);
            assert_eq!(gone, (0..10).collect::<Vec<_>>(), "{p:?}");
            assert!(!evict_one(&mut ks, p, |_, _| false), "{p:?}");
            assert_eq!(ks.dbs[0].len(), 90);
        }
    }

    #[test]
    fn random_policies_and_locked_keys() {
        let mut ks = keyspace(20, |_| 0, |_| None);
        let locked = |_: usize, k: &[u8]| k == b"k7";
        for _ in 0..19 {
            assert!(evict_one(&mut ks, Policy::AllKeysRandom, locked));
        }
        assert!(!evict_one(&mut ks, Policy::AllKeysRandom, locked));
        assert!(ks.dbs[0].contains(b"k7", 0));
        // The LRU path skips it too (it is the idlest of all here).
        let mut ks = keyspace(20, |i| if i == 7 { 99_999 } else { 1 }, |_| None);
        for _ in 0..19 {
            assert!(evict_one(&mut ks, Policy::AllKeysLru, locked));
        }
        assert!(!evict_one(&mut ks, Policy::AllKeysLru, locked));
        assert!(ks.dbs[0].contains(b"k7", 0));
    }

    #[test]
    fn policy_names_round_trip() {
        for (p, n) in Policy::ALL {
            assert_eq!(Policy::from_name(n), Some(p));
            assert_eq!(Policy::from_name(&n.to_uppercase()), Some(p));
            assert_eq!(p.name(), n);
            assert_eq!(Policy::from_u8(p as u8), p);
        }
        assert_eq!(Policy::from_name("lru"), None);
    }

    #[test]
    fn lru_idle_time_counts_seconds_and_wraps() {
        set_clock(5_000_000);
        let s = new_stamp();
        set_clock(5_000_000 + 42_999);
        assert_eq!(idle_ms(s), 42_000);
        assert_eq!(accessed(s), lru_clock(5_042_999));
        // RESTORE IDLETIME 1000 reads back as 1000 s.
        assert_eq!(idle_ms(stamp_idle(1000)), 1_000_000);
        // Older than the clock: half a wrap away.
        set_clock(10_000);
        let s = stamp_idle(1_000_000);
        assert!(idle_ms(s) >= u64::from(LRU_CLOCK_MAX / 2) * 1000 - 20_000);
        // A stamp from just before the clock wrapped.
        set_clock(u64::from(LRU_CLOCK_MAX) * 1000);
        let s = new_stamp();
        set_clock(u64::from(LRU_CLOCK_MAX + 11) * 1000);
        assert_eq!(idle_ms(s), 11_000);
    }

    #[test]
    fn lfu_counter_decays_one_per_period() {
        set_clock(60_000 * 100);
        let s = stamp_freq(100);
        assert_eq!(freq(s), 100);
        set_clock(60_000 * 103);
        assert_eq!(freq(s), 97);
        set_clock(60_000 * 1000);
        assert_eq!(freq(s), 0);
    }

    #[test]
    fn lfu_counter_grows_logarithmically() {
        let mut c = LFU_INIT_VAL;
        for _ in 0..1000 {
            c = lfu_log_incr(c);
        }
        // Redis's table for factor 10: 1,000 hits take a counter to about
        // 18 (it is random, hence the wide bounds).
        assert!((11..=28).contains(&c), "{c}");
        assert_eq!(lfu_log_incr(255), 255);
    }
}
