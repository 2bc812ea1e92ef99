//! One database of one shard, and a shard's set of databases.
//!
//! Expiry follows Redis: a key is gone once `now > expire_at`. Every access
//! checks (lazy expiry), and [`Db::active_expire`] removes the soonest-due
//! keys in bounded batches so memory is reclaimed for keys nobody touches.
//! Active expiry never scans the table: volatile keys are also kept in a
//! deadline-ordered index, updated on every operation that adds, changes or
//! drops an expiry.

use std::collections::{BTreeSet, HashMap};
use std::mem;

use crate::dict::{Dict, Entry, Lookup, NO_EXPIRY};
use crate::evict::{self, Policy};
use crate::glob::glob_match;
use crate::notify::{self, class};
use crate::{Millis, Value};

/// Volatile keys ordered by deadline, as `(expire_at, key hash)` pairs.
///
/// Hashes rather than keys: 16 bytes per entry whatever the key's length,
/// and no second copy of long keys. The dict finds the entry again from the
/// hash and the deadline ([`Dict::remove_by_deadline`]).
#[derive(Default)]
struct DeadlineIndex {
    set: BTreeSet<(u64, u64)>,
    /// How many further keys share a pair already in `set`. Needs a 64-bit
    /// hash collision within the same millisecond, so it is essentially
    /// always empty, but the index must stay exact rather than probably so.
    dups: HashMap<(u64, u64), usize>,
    /// Keys with a TTL (`set.len()` plus the duplicates).
    len: usize,
    /// Sum of their deadlines, for the average TTL.
    sum: u128,
}

impl DeadlineIndex {
    fn add(&mut self, at: u64, h: u64) {
        if at == NO_EXPIRY {
            return;
        }
        self.len += 1;
        self.sum += u128::from(at);
        if !self.set.insert((at, h)) {
            *self.dups.entry((at, h)).or_default() += 1;
        }
    }

    fn remove(&mut self, at: u64, h: u64) {
        if at == NO_EXPIRY {
            return;
        }
        self.len -= 1;
        self.sum -= u128::from(at);
        match self.dups.get_mut(&(at, h)) {
            Some(extra) => {
                *extra -= 1;
                if *extra == 0 {
                    self.dups.remove(&(at, h));
                }
            }
            None => {
                let was_there = self.set.remove(&(at, h));
                debug_assert!(was_there, "deadline index out of sync");
            }
        }
    }

    fn change(&mut self, old: u64, new: u64, h: u64) {
        if old != new {
            self.remove(old, h);
            self.add(new, h);
        }
    }

    /// A pair chosen at random-ish: the first at or after a random point
    /// between the soonest and the latest deadline. Keys after a long gap
    /// are likelier, which eviction sampling can live with.
    fn sample(&self, rng: &mut fastrand::Rng) -> Option<(u64, u64)> {
        let lo = self.set.first()?.0;
        let hi = self.set.last()?.0;
        let at = rng.u64(lo..=hi);
        self.set.range((at, 0)..).next().copied()
    }

    /// The soonest deadline if it has passed.
    fn first_due(&self, now: Millis) -> Option<(u64, u64)> {
        self.set.first().copied().filter(|&(at, _)| now > at)
    }
}

/// The stored form of an optional expiry. `u64::MAX` is the "none"
/// sentinel, so a real deadline there (585 million years out) is nudged
/// down by one millisecond.
#[inline]
fn encode_expiry(at: Option<Millis>) -> u64 {
    at.map_or(NO_EXPIRY, |t| t.min(NO_EXPIRY - 1))
}

/// The most keys [`Db::prefetch`] looks at in one call.
pub const PREFETCH_MAX: usize = 32;

/// Finds a live entry, removing it if it has expired. A free function over
/// the two fields so the returned borrow of `dict` leaves `index` usable.
fn live<'a>(
    dict: &'a mut Dict,
    index: &mut DeadlineIndex,
    expired: &mut u64,
    db: usize,
    key: &[u8],
    now: Millis,
) -> (u64, Option<&'a mut Entry>) {
    let h = dict.hash(key);
    match dict.lookup(h, key, now) {
        Lookup::Absent => (h, None),
        Lookup::Expired(e) => {
            index.remove(e.expire_at, h);
            *expired += 1;
            notify::emit(class::EXPIRED, "expired", db, key);
            (h, None)
        }
        Lookup::Live(e) => (h, Some(e)),
    }
}

/// Watched keys of one database: (watchers, version) per key.
type WatchTable = HashMap<Vec<u8>, (u32, u64)>;

/// One database (SELECT n) of one shard.
pub struct Db {
    /// Its number (SELECT n), for keyspace notifications.
    pub id: usize,
    dict: Dict,
    index: DeadlineIndex,
    /// Keys removed because they expired, lazily or actively (INFO
    /// expired_keys).
    expired: u64,
    /// For RANDOMKEY; per database so tests can seed it.
    rng: fastrand::Rng,
    /// Reads of aggregates that found / did not find their key (INFO
    /// keyspace_hits / keyspace_misses, beside the string commands' own).
    pub hits: u64,
    pub misses: u64,
    /// WATCHed keys: how many watches each has and a version that every
    /// change to the key bumps (writes, deletes, expiry, FLUSH). None while
    /// nobody watches a key here, so unwatched databases pay one branch.
    watched: Option<Box<WatchTable>>,
    /// Keys blocked clients wait on (with how many waits each) and the
    /// ones that may serve them since the server last looked: a key that
    /// was created, deleted or overwritten, or a stream that got an entry
    /// ([`Db::signal_ready`]). A pop's key is always missing while waited
    /// on, so for pops only creation matters; a stream reader may wait on
    /// a stream that exists (see the server's `blocking.rs`).
    blocked: Option<Box<Blocked>>,
    /// Changes to keys since the server started (Redis's `dirty`, summed
    /// by the server for save points and INFO): every write, delete and
    /// TTL change of a key counts one.
    pub dirty: u64,
    /// The snapshot being taken of this database (BGSAVE), if any.
    snapshot: Option<Box<Snapshot>>,
    /// Cluster mode: the keys by slot (see [`Db::index_slots`]).
    slots: Option<Box<crate::slot::SlotIndex>>,
}

/// A point-in-time copy of one database, taken without stopping it: the
/// state at [`Db::begin_snapshot`], serialised in steps
/// ([`Db::snapshot_step`]) while commands go on.
///
/// Every entry carries a mark bit. Beginning a snapshot flips the bit new
/// entries get, so at that instant every entry is "unsaved" (its bit is the
/// old one) and every entry made later is "saved" (it was not there). The
/// steps walk the table with a SCAN cursor (which reaches every entry
/// present throughout, however the table resizes) and write each unsaved
/// entry, marking it. A change to an unsaved entry before the walk reaches
/// it writes the entry as it was first ([`Db::touch`], and before a
/// delete); FLUSHDB hands the whole table to the snapshot. So each key
/// present at the cut is written exactly once, with its value at the cut,
/// and no key made later is written. Keys that expire or are evicted after
/// the cut and before the walk reaches them are left out, as if they had
/// gone just before it.
struct Snapshot {
    /// Entries saved ahead of the walk, in RDB form.
    out: Vec<u8>,
    /// How many entries `out` holds.
    ahead: u64,
    cursor: u64,
    /// The table as it was when FLUSHDB emptied the database mid-snapshot.
    detached: Option<Dict>,
}

/// What one [`Db::snapshot_step`] produced.
pub struct SnapshotChunk {
    /// Entries in RDB form (key, value, expiry), ready for the file.
    pub bytes: Vec<u8>,
    /// How many entries `bytes` holds.
    pub keys: u64,
    /// The walk is over: this database's snapshot is complete.
    pub done: bool,
}

#[derive(Default)]
struct Blocked {
    keys: HashMap<Vec<u8>, u32>,
    ready: Vec<Vec<u8>>,
}

impl Db {
    /// An empty database; allocates nothing until the first insert.
    pub fn new() -> Db {
        Db {
            id: 0,
            dict: Dict::new(),
            index: DeadlineIndex::default(),
            expired: 0,
            rng: fastrand::Rng::new(),
            hits: 0,
            misses: 0,
            watched: None,
            blocked: None,
            dirty: 0,
            snapshot: None,
            slots: None,
        }
    }

    /// Keys, expired-but-not-yet-removed ones included.
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True when there are no keys at all (expired ones included).
    /// Cluster mode: keeps this database's keys by slot from now on
    /// (COUNTKEYSINSLOT, GETKEYSINSLOT).
    pub fn index_slots(&mut self) {
        let mut ix = crate::slot::SlotIndex::default();
        for e in self.dict.iter() {
            ix.add(e.key());
        }
        self.slots = Some(Box::new(ix));
    }

    /// The keys of `slot` (cluster mode; empty when not indexing).
    pub fn slot_index(&self) -> Option<&crate::slot::SlotIndex> {
        self.slots.as_deref()
    }

    fn unindex(&mut self, key: &[u8]) {
        if let Some(s) = &mut self.slots {
            s.remove(key);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys with a TTL.
    pub fn expires_len(&self) -> usize {
        self.index.len
    }

    /// Average remaining TTL in ms of keys with a TTL (0 when none), for
    /// INFO keyspace. Exact and O(1), from a running sum of deadlines.
    pub fn avg_ttl(&self, now: Millis) -> u64 {
        if self.index.len == 0 {
            return 0;
        }
        let avg_at = self.index.sum / self.index.len as u128;
        u64::try_from(avg_at)
            .unwrap_or(u64::MAX)
            .saturating_sub(now)
    }

    /// Keys removed because they expired, since the database was created
    /// or its counters were last reset.
    pub fn expired_count(&self) -> u64 {
        self.expired
    }

    /// Zeroes the counters INFO reports (CONFIG RESETSTAT).
    pub fn reset_stats(&mut self) {
        self.expired = 0;
        self.hits = 0;
        self.misses = 0;
    }

    /// The live value; an expired key is removed here (lazy expiry) and
    /// reads as absent. Counts as an access to the key (its LRU/LFU stamp).
    pub fn get(&mut self, key: &[u8], now: Millis) -> Option<&Value> {
        self.expire_if_due(key, now);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        e.map(|e| {
            e.accessed();
            &*e.value_mut()
        })
    }

    /// Starts loading the table slots and entries of `keys` (at most
    /// [`PREFETCH_MAX`] are used) so that the commands of a pipelined batch
    /// find them in cache: their cache misses overlap instead of coming one
    /// after another. Two passes, buckets then entries, because an entry's
    /// address is only known once its bucket has arrived. A hint: it changes
    /// nothing, and a key that is not there costs one wasted load.
    pub fn prefetch(&self, keys: &[&[u8]]) {
        let keys = &keys[..keys.len().min(PREFETCH_MAX)];
        if keys.len() < 2 || self.dict.is_empty() {
            return;
        }
        let mut hashes = [0u64; PREFETCH_MAX];
        for (h, k) in hashes.iter_mut().zip(keys) {
            *h = self.dict.hash(k);
            self.dict.prefetch_bucket(*h);
        }
        for &h in &hashes[..keys.len()] {
            self.dict.prefetch_entry(h);
        }
    }

    /// [`Db::get`] without recording an access (TYPE, OBJECT, DEBUG
    /// OBJECT: Redis's LOOKUP_NOTOUCH).
    pub fn peek(&mut self, key: &[u8], now: Millis) -> Option<&Value> {
        self.expire_if_due(key, now);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        e.map(|e| &*e.value_mut())
    }

    /// [`Db::peek`] with the key's access stamp (see [`crate::evict`]),
    /// changing neither (OBJECT, DEBUG OBJECT).
    pub fn peek_stamped(&mut self, key: &[u8], now: Millis) -> Option<(&Value, u32)> {
        self.expire_if_due(key, now);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        e.map(|e| {
            let stamp = e.stamp();
            (&*e.value_mut(), stamp)
        })
    }

    /// Sets a live key's access stamp (RESTORE IDLETIME / FREQ).
    pub fn set_stamp(&mut self, key: &[u8], stamp: u32, now: Millis) {
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        if let Some(e) = e {
            e.set_stamp(stamp);
        }
    }

    /// Records an access to `key` if it is live (TOUCH); true if it is.
    pub fn access(&mut self, key: &[u8], now: Millis) -> bool {
        self.expire_if_due(key, now);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        e.map(Entry::accessed).is_some()
    }

    /// [`Db::get`] for a read command: counts a keyspace hit or miss.
    pub fn get_counted(&mut self, key: &[u8], now: Millis) -> Option<&Value> {
        self.expire_if_due(key, now);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        match e {
            Some(e) => {
                self.hits += 1;
                e.accessed();
                Some(&*e.value_mut())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// The live value, to change in place (its TTL is kept). Counts as a
    /// change of the key for WATCH: only writers call it.
    pub fn get_mut(&mut self, key: &[u8], now: Millis) -> Option<&mut Value> {
        self.expire_if_due(key, now);
        self.touch(key);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        e.map(|e| {
            e.accessed();
            e.value_mut()
        })
    }

    /// With watchers, an expired key is removed through [`Db::take`] so its
    /// watchers see the change; without, `live` removes it on the way.
    #[inline]
    fn expire_if_due(&mut self, key: &[u8], now: Millis) {
        if self.watched.is_some() {
            let h = self.dict.hash(key);
            if self.dict.find(h, key).is_some_and(|e| e.is_expired(now)) {
                self.take(key, now);
            }
        }
    }

    /// Removes `key` if it is present but expired, without counting it as
    /// a change for WATCH.
    fn drop_stale_quietly(&mut self, key: &[u8], now: Millis) {
        let h = self.dict.hash(key);
        if self.dict.find(h, key).is_some_and(|e| e.is_expired(now)) {
            if let Some(e) = self.dict.remove(h, key) {
                self.index.remove(e.expire_at, h);
                self.unindex(key);
                self.expired += 1;
                notify::emit(class::EXPIRED, "expired", self.id, key);
            }
        }
    }

    /// Whether `key` is present and not expired, without removing anything.
    fn is_live(&self, key: &[u8], now: Millis) -> bool {
        let h = self.dict.hash(key);
        self.dict.find(h, key).is_some_and(|e| !e.is_expired(now))
    }

    /// Notes that a blocked client waits on `key`.
    pub fn block(&mut self, key: &[u8]) {
        let b = self.blocked.get_or_insert_with(Default::default);
        *b.keys.entry(key.to_vec()).or_insert(0) += 1;
    }

    /// Drops one wait on `key`.
    pub fn unblock(&mut self, key: &[u8]) {
        if let Some(b) = &mut self.blocked {
            if let Some(n) = b.keys.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    b.keys.remove(key);
                }
            }
            if b.keys.is_empty() && b.ready.is_empty() {
                self.blocked = None;
            }
        }
    }

    /// The waited-on keys created since the last call.
    pub fn take_ready(&mut self) -> Vec<Vec<u8>> {
        match &mut self.blocked {
            Some(b) => mem::take(&mut b.ready),
            None => Vec::new(),
        }
    }

    /// Marks `key` ready for the clients waiting on it, for a change
    /// other than its creation that may serve them (an entry added to a
    /// stream). One branch when nobody waits here.
    #[inline]
    pub fn signal_ready(&mut self, key: &[u8]) {
        self.created(key);
    }

    /// A key was created: if someone waits on it, it is ready.
    #[inline]
    fn created(&mut self, key: &[u8]) {
        if let Some(b) = &mut self.blocked {
            if b.keys.contains_key(key) && !b.ready.iter().any(|k| k == key) {
                b.ready.push(key.to_vec());
            }
        }
    }

    /// Bumps the WATCH version of `key`, if anyone watches it.
    #[inline]
    fn touch(&mut self, key: &[u8]) {
        self.dirty += 1;
        crate::track::changed(key);
        if self.snapshot.is_some() {
            self.save_before_change(key);
        }
        if let Some(w) = &mut self.watched {
            if let Some(e) = w.get_mut(key) {
                e.1 += 1;
            }
        }
    }

    /// WATCH: registers one more watcher of `key` and returns its version
    /// (an expired key is removed first, so it does not count as changed
    /// later).
    pub fn watch(&mut self, key: &[u8], now: Millis) -> u64 {
        self.contains(key, now);
        let w = self.watched.get_or_insert_with(Default::default);
        let e = w.entry(key.to_vec()).or_insert((0, 0));
        e.0 += 1;
        e.1
    }

    /// Drops one watcher of `key`.
    pub fn unwatch(&mut self, key: &[u8]) {
        if let Some(w) = &mut self.watched {
            if let Some(e) = w.get_mut(key) {
                e.0 = e.0.saturating_sub(1);
                if e.0 == 0 {
                    w.remove(key);
                }
            }
            if w.is_empty() {
                self.watched = None;
            }
        }
    }

    /// The WATCH version of `key` now (an expired key is removed first,
    /// which counts as a change, as in Redis 7.0); None if nobody watches it.
    pub fn watch_version(&mut self, key: &[u8], now: Millis) -> Option<u64> {
        self.contains(key, now);
        self.watched.as_ref()?.get(key).map(|e| e.1)
    }

    /// Live value and its expiry.
    pub fn get_with_expiry(
        &mut self,
        key: &[u8],
        now: Millis,
    ) -> Option<(&mut Value, Option<Millis>)> {
        self.expire_if_due(key, now);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        e.map(|e| {
            e.accessed();
            let at = e.expire_at();
            (e.value_mut(), at)
        })
    }

    /// True when `key` exists and has not expired.
    pub fn contains(&mut self, key: &[u8], now: Millis) -> bool {
        self.expire_if_due(key, now);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        e.is_some()
    }

    /// Inserts or replaces; the key's TTL becomes `expire` (None: no TTL).
    pub fn insert(&mut self, key: &[u8], value: Value, expire: Option<Millis>) {
        self.touch(key);
        self.created(key);
        let at = encode_expiry(expire);
        let h = self.dict.hash(key);
        match self.dict.insert_with(h, key, value, |_| at) {
            Some((old, old_at)) => {
                self.index.change(old_at, at, h);
                crate::lazyfree::release(old);
            }
            None => {
                self.index.add(at, h);
                if let Some(s) = &mut self.slots {
                    s.add(key);
                }
                notify::emit(class::NEW, "new", self.id, key);
            }
        }
    }

    /// Inserts or replaces, keeping an existing live key's TTL (SET
    /// KEEPTTL); an expired or missing key gets no TTL.
    pub fn insert_keep_ttl(&mut self, key: &[u8], value: Value, now: Millis) {
        self.touch(key);
        self.created(key);
        let h = self.dict.hash(key);
        let mut at = NO_EXPIRY;
        let old = self.dict.insert_with(h, key, value, |old| {
            if now <= old {
                at = old;
            }
            at
        });
        if let Some((old, old_at)) = old {
            if now > old_at {
                self.expired += 1;
                notify::emit(class::EXPIRED, "expired", self.id, key);
            }
            self.index.change(old_at, at, h);
            crate::lazyfree::release(old);
        } else {
            if let Some(s) = &mut self.slots {
                s.add(key);
            }
            notify::emit(class::NEW, "new", self.id, key);
        }
    }

    /// Removes a live key and returns its value.
    pub fn remove(&mut self, key: &[u8], now: Millis) -> Option<Value> {
        self.take(key, now).map(|(v, _)| v)
    }

    /// Removes a live key and returns its value and expiry.
    pub fn take(&mut self, key: &[u8], now: Millis) -> Option<(Value, Option<Millis>)> {
        self.take_entry(key, now).map(|e| {
            let at = e.expire_at();
            (e.into_value(), at)
        })
    }

    /// [`Db::take`] for a key that lives on under another name or in
    /// another database (RENAME, MOVE): the move counts as an access, and
    /// the key's access stamp comes along for [`Db::set_stamp`], as Redis
    /// moves the object with its LRU/LFU field.
    pub fn take_for_move(
        &mut self,
        key: &[u8],
        now: Millis,
    ) -> Option<(Value, Option<Millis>, u32)> {
        self.take_entry(key, now).map(|mut e| {
            e.accessed();
            let (at, stamp) = (e.expire_at(), e.stamp());
            (e.into_value(), at, stamp)
        })
    }

    fn take_entry(&mut self, key: &[u8], now: Millis) -> Option<Box<Entry>> {
        if self.snapshot.is_some() {
            self.save_before_change(key);
        }
        let h = self.dict.hash(key);
        let e = self.dict.remove(h, key)?;
        self.touch(key);
        self.created(key);
        self.index.remove(e.expire_at, h);
        self.unindex(key);
        if e.is_expired(now) {
            self.expired += 1;
            notify::emit(class::EXPIRED, "expired", self.id, key);
            return None;
        }
        Some(e)
    }

    /// `None`: no such live key; `Some(None)`: no TTL; `Some(Some(at))`.
    pub fn expiry(&mut self, key: &[u8], now: Millis) -> Option<Option<Millis>> {
        self.expire_if_due(key, now);
        let (_, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        e.map(|e| e.expire_at())
    }

    /// Sets or clears (None) a live key's TTL; false if no such key. A
    /// deadline already past makes the key expire on its next access;
    /// commands that must delete at once (EXPIRE with a past time) remove it
    /// themselves, as Redis does.
    pub fn set_expiry(&mut self, key: &[u8], at: Option<Millis>, now: Millis) -> bool {
        self.expire_if_due(key, now);
        let (h, e) = live(
            &mut self.dict,
            &mut self.index,
            &mut self.expired,
            self.id,
            key,
            now,
        );
        let Some(e) = e else {
            return false;
        };
        let new = encode_expiry(at);
        let old = mem::replace(&mut e.expire_at, new);
        self.index.change(old, new, h);
        self.touch(key);
        true
    }

    /// Samples up to `n` keys that `policy` may evict and hands each to
    /// `f` with its score ([`evict::score`]: higher goes first). Volatile
    /// policies sample the deadline index, so they find keys with a TTL
    /// however few there are; volatile-ttl offers the soonest deadline.
    pub fn sample_for_eviction(&mut self, policy: Policy, n: usize, mut f: impl FnMut(u64, &[u8])) {
        let mut offer = |e: &Entry| f(evict::score(policy, e.stamp(), e.expire_at), e.key());
        match policy {
            Policy::NoEviction => {}
            Policy::VolatileTtl => {
                if let Some(&(at, h)) = self.index.set.first() {
                    if let Some(e) = self.dict.find_by_deadline(h, at) {
                        offer(e);
                    }
                }
            }
            _ if policy.volatile_only() => {
                for _ in 0..n.max(1) {
                    if let Some((at, h)) = self.index.sample(&mut self.rng) {
                        if let Some(e) = self.dict.find_by_deadline(h, at) {
                            offer(e);
                        }
                    }
                }
            }
            _ => self.dict.sample(&mut self.rng, n.max(1), offer),
        }
    }

    /// `key`'s eviction score under `policy` now, if it is still here and
    /// the policy may still evict it (a volatile policy, only with a TTL).
    pub fn eviction_score(&self, policy: Policy, key: &[u8]) -> Option<u64> {
        let e = self.dict.find(self.dict.hash(key), key)?;
        if policy.volatile_only() && e.expire_at == NO_EXPIRY {
            return None;
        }
        Some(evict::score(policy, e.stamp(), e.expire_at))
    }

    /// Removes `key` to free memory (its value may go to the background
    /// releaser); true if it was there. WATCH sees it as a change.
    pub fn evict(&mut self, key: &[u8]) -> bool {
        let h = self.dict.hash(key);
        let Some(e) = self.dict.remove(h, key) else {
            return false;
        };
        self.touch(key);
        self.created(key);
        self.index.remove(e.expire_at, h);
        self.unindex(key);
        crate::lazyfree::release(e.into_value());
        notify::emit(class::EVICTED, "evicted", self.id, key);
        true
    }

    /// A random live key (expired ones met on the way are removed, so the
    /// loop ends: each miss shrinks the table).
    pub fn random_key(&mut self, now: Millis) -> Option<Vec<u8>> {
        loop {
            let (key, at) = {
                let e = self.dict.random(&mut self.rng)?;
                (e.key().to_vec(), e.expire_at)
            };
            if now <= at {
                return Some(key);
            }
            let h = self.dict.hash(&key);
            if self.dict.remove(h, &key).is_some() {
                self.index.remove(at, h);
                self.unindex(&key);
                self.expired += 1;
                notify::emit(class::EXPIRED, "expired", self.id, &key);
            }
        }
    }

    /// One SCAN step with Redis's guarantees (every key present for the
    /// whole scan is returned at least once, across resizes). Visits
    /// buckets from `cursor` until at least `count` keys were passed to `f`
    /// or `10 * count` buckets were visited (Redis's bounds, so a sparse
    /// table still answers promptly); returns the next cursor, 0 at the
    /// end. Expired keys are passed too, with their expiry, for the caller
    /// to filter.
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&[u8], &Value, Option<Millis>),
    ) -> u64 {
        let max_steps = count.saturating_mul(10).max(1);
        let mut seen = 0;
        let mut cursor = cursor;
        for _ in 0..max_steps {
            cursor = self.dict.scan(cursor, |e| {
                seen += 1;
                f(e.key(), e.value(), e.expire_at());
            });
            if cursor == 0 || seen >= count {
                break;
            }
        }
        cursor
    }

    /// Every key, expired ones included (callers filter with `now`).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &Value, Option<Millis>)) {
        for e in self.dict.iter() {
            f(e.key(), e.value(), e.expire_at());
        }
    }

    /// KEYS: calls `f` with every live key matching the glob `pattern`.
    /// A lone `*` matches everything without running the matcher (and so
    /// also the empty key, which Redis's matcher alone would not).
    pub fn keys_matching(&self, pattern: &[u8], now: Millis, mut f: impl FnMut(&[u8])) {
        let all = pattern == b"*";
        for e in self.dict.iter() {
            if !e.is_expired(now) && (all || glob_match(pattern, e.key(), false)) {
                f(e.key());
            }
        }
    }

    /// Removes every key.
    /// Watched keys alive at `now` count as changed; missing or already
    /// expired ones do not (nothing a client could see changed), as in
    /// Redis 7.0.
    pub fn clear(&mut self, now: Millis) {
        self.dirty += self.dict.len() as u64;
        // Keys waited on are gone: their waiters are told (a stream's
        // group readers get an error; the others wait on).
        if let Some(b) = &mut self.blocked {
            for k in b.keys.keys() {
                if !b.ready.contains(k) {
                    b.ready.push(k.clone());
                }
            }
        }
        if let Some(w) = &mut self.watched {
            for (k, e) in w.iter_mut() {
                let h = self.dict.hash(k);
                if self.dict.find(h, k).is_some_and(|x| !x.is_expired(now)) {
                    e.1 += 1;
                }
            }
        }
        match &mut self.snapshot {
            // The snapshot keeps the table it has not finished walking.
            Some(snap) if snap.detached.is_none() => {
                let fresh = self.dict.emptied();
                snap.detached = Some(mem::replace(&mut self.dict, fresh));
            }
            _ => self.dict.clear(),
        }
        self.index = DeadlineIndex::default();
        if let Some(s) = &mut self.slots {
            s.clear();
        }
    }

    /// Starts a snapshot of this database as it is now (see [`Snapshot`]);
    /// returns its key count and how many of them have a TTL (the RDB
    /// file's RESIZEDB hint).
    pub fn begin_snapshot(&mut self) -> (u64, u64) {
        self.dict.mark = !self.dict.mark;
        self.snapshot = Some(Box::new(Snapshot {
            out: Vec::new(),
            ahead: 0,
            cursor: 0,
            detached: None,
        }));
        (self.dict.len() as u64, self.expires_len() as u64)
    }

    /// Whether a snapshot of this database is being taken.
    pub fn in_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Abandons the snapshot (a failed BGSAVE). The next snapshot must find
    /// every entry with the same mark, so the walk is finished first,
    /// marking without writing.
    pub fn abort_snapshot(&mut self) {
        let Some(snap) = self.snapshot.take() else {
            return;
        };
        let mark = self.dict.mark;
        if snap.detached.is_none() {
            let mut cursor = snap.cursor;
            loop {
                cursor = self.dict.scan_mut(cursor, |e| e.set_mark(mark));
                if cursor == 0 {
                    break;
                }
            }
        }
    }

    /// The next part of the snapshot: the entries saved ahead of the walk,
    /// then the walk's next unsaved entries until about `budget` bytes are
    /// out. None when no snapshot is being taken. A key past its expiry
    /// time but not yet removed is saved, with its time, as Redis saves
    /// it: a master loading the file skips it, a replica keeps it until
    /// its master's DEL.
    /// At most `max_keys` keys of the walk go in one step.
    pub fn snapshot_step(&mut self, budget: usize, max_keys: u64) -> Option<SnapshotChunk> {
        let snap = self.snapshot.as_mut()?;
        let mark = self.dict.mark;
        let mut out = mem::take(&mut snap.out);
        let mut keys = 0u64;
        let table = match snap.detached.as_mut() {
            Some(d) => d,
            None => &mut self.dict,
        };
        let mut cursor = snap.cursor;
        let mut done = false;
        while out.len() < budget && keys < max_keys {
            cursor = table.scan_mut(cursor, |e| {
                if e.mark() != mark {
                    e.set_mark(mark);
                    crate::rdb::file::encode_entry(&mut out, e.key(), e.value(), e.expire_at());
                    keys += 1;
                }
            });
            if cursor == 0 {
                done = true;
                break;
            }
        }
        snap.cursor = cursor;
        keys += mem::take(&mut snap.ahead);
        if done {
            self.snapshot = None;
        }
        Some(SnapshotChunk {
            bytes: out,
            keys,
            done,
        })
    }

    /// Writes `key`'s entry to the snapshot as it is before a change, if
    /// the walk has not saved it yet.
    #[cold]
    fn save_before_change(&mut self, key: &[u8]) {
        let Some(snap) = self.snapshot.as_mut() else {
            return;
        };
        if snap.detached.is_some() {
            // Walking a table FLUSHDB set aside: the live one holds only
            // keys made since, which the snapshot leaves out.
            return;
        }
        let mark = self.dict.mark;
        let h = self.dict.hash(key);
        let Some(e) = self.dict.find_mut(h, key) else {
            return;
        };
        if e.mark() == mark {
            return;
        }
        e.set_mark(mark);
        crate::rdb::file::encode_entry(&mut snap.out, e.key(), e.value(), e.expire_at());
        snap.ahead += 1;
    }

    /// Active expiry: removes at most `max` expired keys, soonest first;
    /// returns how many. Work is O(removed · log n): only due keys are
    /// touched, so a million keys expiring together are reclaimed over as
    /// many calls as the caller's budget needs.
    pub fn active_expire(&mut self, now: Millis, max: usize) -> usize {
        if crate::dict::expiry_paused() {
            return 0;
        }
        let mut removed = 0;
        while removed < max {
            let Some((at, h)) = self.index.first_due(now) else {
                break;
            };
            let e = self.dict.remove_by_deadline(h, at);
            debug_assert!(e.is_some(), "indexed deadline without its key");
            if let Some(e) = &e {
                if self.watched.is_some() || self.slots.is_some() {
                    let k = e.key().to_vec();
                    self.touch(&k);
                    self.unindex(&k);
                }
                notify::emit(class::EXPIRED, "expired", self.id, e.key());
            }
            self.index.remove(at, h);
            removed += 1;
        }
        self.expired += removed as u64;
        removed
    }

    /// Up to `steps` steps of an in-progress table resize, for a periodic
    /// task (resizes otherwise advance only as keys are accessed); returns
    /// whether a resize is still in progress.
    pub fn rehash(&mut self, steps: usize) -> bool {
        self.dict.rehash(steps)
    }

    /// The underlying table, read-only (diagnostics, DEBUG HTSTATS).
    pub fn dict(&self) -> &Dict {
        &self.dict
    }
}

impl Default for Db {
    fn default() -> Self {
        Self::new()
    }
}

/// A shard's part of every database.
pub struct Keyspace {
    /// Indexed by database number.
    pub dbs: Vec<Db>,
    /// Where the next active-expiry pass starts, so one busy database does
    /// not starve the others of the budget.
    next_expire_db: usize,
    /// The best eviction candidates seen so far (see [`evict::Pool`]).
    pub pool: evict::Pool,
}

impl Keyspace {
    /// Changes to keys in every database (Redis's `dirty`).
    #[inline]
    pub fn dirty(&self) -> u64 {
        self.dbs.iter().map(|d| d.dirty).sum()
    }

    /// `databases` empty databases.
    pub fn new(databases: usize) -> Keyspace {
        Keyspace {
            dbs: (0..databases).map(|id| Db { id, ..Db::new() }).collect(),
            next_expire_db: 0,
            pool: evict::Pool::default(),
        }
    }

    /// Active expiry over all databases, at most `max` keys in total;
    /// returns how many were removed.
    pub fn active_expire(&mut self, now: Millis, max: usize) -> usize {
        let n = self.dbs.len();
        let mut removed = 0;
        for k in 0..n {
            if removed >= max {
                break;
            }
            let i = (self.next_expire_db + k) % n;
            removed += self.dbs[i].active_expire(now, max - removed);
            self.next_expire_db = i;
        }
        if n > 0 {
            self.next_expire_db = (self.next_expire_db + 1) % n;
        }
        removed
    }

    /// Keys removed by expiry in all databases (INFO expired_keys).
    pub fn expired_keys(&self) -> u64 {
        self.dbs.iter().map(Db::expired_count).sum()
    }

    /// Zeroes every database's INFO counters (CONFIG RESETSTAT).
    pub fn reset_stats(&mut self) {
        self.dbs.iter_mut().for_each(Db::reset_stats);
    }

    /// Keys in all databases, expired-but-not-yet-removed ones included.
    pub fn len(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }

    /// True when no database holds a key.
    pub fn is_empty(&self) -> bool {
        self.dbs.iter().all(Db::is_empty)
    }

    /// FLUSHALL: empties every database.
    /// SWAPDB a b: the two databases' contents trade places; WATCHes stay
    /// with their database number, and a watched key counts as changed when
    /// it is alive on either side (its value, or its existence, changes).
    pub fn swap_dbs(&mut self, a: usize, b: usize, now: Millis) {
        if a == b || a >= self.dbs.len() || b >= self.dbs.len() {
            return;
        }
        for (x, y) in [(a, b), (b, a)] {
            let keys: Vec<Vec<u8>> = match &self.dbs[x].watched {
                Some(w) => w.keys().cloned().collect(),
                None => continue,
            };
            for k in keys {
                let live = self.dbs[x].is_live(&k, now) || self.dbs[y].is_live(&k, now);
                if live {
                    self.dbs[x].touch(&k);
                }
            }
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let (left, right) = self.dbs.split_at_mut(hi);
        let (x, y) = (&mut left[lo], &mut right[0]);
        mem::swap(&mut x.dict, &mut y.dict);
        mem::swap(&mut x.index, &mut y.index);
        mem::swap(&mut x.slots, &mut y.slots);
        // A snapshot follows its table (it writes the database number of
        // the cut, which is before the swap).
        mem::swap(&mut x.snapshot, &mut y.snapshot);
        // A key a blocked client waits on may have arrived or gone with
        // the swap (a stream's group readers are told it went).
        for d in [a, b] {
            let keys: Vec<Vec<u8>> = match &self.dbs[d].blocked {
                Some(bl) => bl.keys.keys().cloned().collect(),
                None => continue,
            };
            for k in keys {
                self.dbs[d].created(&k);
            }
        }
        // A stale key swapped in under a watch is no logical change, and
        // neither is its removal: drop it now, without touching the watch.
        for d in [a, b] {
            let keys: Vec<Vec<u8>> = match &self.dbs[d].watched {
                Some(w) => w.keys().cloned().collect(),
                None => continue,
            };
            for k in keys {
                self.dbs[d].drop_stale_quietly(&k, now);
            }
        }
    }

    pub fn flush_all(&mut self, now: Millis) {
        self.dbs.iter_mut().for_each(|d| d.clear(now));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn v(s: &str) -> Value {
        Value::from_bytes(s.as_bytes())
    }

    fn bytes(v: &Value) -> Vec<u8> {
        v.as_str().unwrap().to_vec()
    }

    impl Db {
        /// The deadline index mirrors the table exactly.
        fn check(&self) {
            let mut n = 0;
            let mut sum = 0u128;
            for e in self.dict.iter() {
                if let Some(at) = e.expire_at() {
                    n += 1;
                    sum += u128::from(at);
                    let h = self.dict.hash(e.key());
                    assert!(self.index.set.contains(&(at, h)));
                }
            }
            assert_eq!(self.index.len, n);
            assert_eq!(self.index.sum, sum);
            assert_eq!(
                self.index.set.len() + self.index.dups.values().sum::<usize>(),
                n
            );
        }
    }

    #[test]
    fn basic_crud() {
        let mut db = Db::new();
        assert!(db.is_empty());
        assert!(db.get(b"k", 0).is_none());
        db.insert(b"k", v("hello"), None);
        assert_eq!(db.get(b"k", 0), Some(&v("hello")));
        assert!(db.contains(b"k", 0));
        assert_eq!(db.expiry(b"k", 0), Some(None));
        assert_eq!(db.expiry(b"nope", 0), None);
        db.get_mut(b"k", 0).unwrap().append(b"!");
        assert_eq!(bytes(db.get(b"k", 0).unwrap()), b"hello!");
        assert_eq!(db.remove(b"k", 0), Some(v("hello!")));
        assert!(db.remove(b"k", 0).is_none());
        assert!(db.is_empty());
        db.check();
    }

    #[test]
    fn lazy_expiry_at_the_deadline_boundary() {
        let mut db = Db::new();
        db.insert(b"k", v("x"), Some(1000));
        assert_eq!(db.expires_len(), 1);
        // Alive at the deadline itself, gone one ms later (Redis: now > at).
        assert!(db.contains(b"k", 1000));
        assert_eq!(db.get_with_expiry(b"k", 1000).unwrap().1, Some(1000));
        assert!(db.get(b"k", 1001).is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.expires_len(), 0);
        assert_eq!(db.expired_count(), 1);
        db.check();
    }

    #[test]
    fn every_accessor_expires_lazily() {
        type Probe = fn(&mut Db, Millis) -> bool;
        let probes: [Probe; 8] = [
            |db, now| db.get(b"k", now).is_some(),
            |db, now| db.get_mut(b"k", now).is_some(),
            |db, now| db.get_with_expiry(b"k", now).is_some(),
            |db, now| db.contains(b"k", now),
            |db, now| db.remove(b"k", now).is_some(),
            |db, now| db.take(b"k", now).is_some(),
            |db, now| db.expiry(b"k", now).is_some(),
            |db, now| db.set_expiry(b"k", None, now),
        ];
        for probe in probes {
            let mut db = Db::new();
            db.insert(b"k", v("x"), Some(10));
            assert!(!probe(&mut db, 11));
            assert_eq!(db.len(), 0);
            assert_eq!(db.expires_len(), 0);
            assert_eq!(db.expired_count(), 1);
            db.check();
        }
    }

    #[test]
    fn insert_replaces_ttl_and_keep_ttl_keeps_it() {
        let mut db = Db::new();
        db.insert(b"k", v("1"), Some(500));
        db.insert(b"k", v("2"), None);
        assert_eq!(db.expiry(b"k", 0), Some(None));
        assert_eq!(db.expires_len(), 0);

        db.insert(b"k", v("3"), Some(500));
        db.insert_keep_ttl(b"k", v("4"), 100);
        assert_eq!(db.get_with_expiry(b"k", 100).unwrap().1, Some(500));
        assert_eq!(bytes(db.get(b"k", 100).unwrap()), b"4");
        assert_eq!(db.expires_len(), 1);

        // An expired key's TTL is not kept.
        db.insert_keep_ttl(b"k", v("5"), 501);
        assert_eq!(db.expiry(b"k", 501), Some(None));
        assert_eq!(db.expires_len(), 0);
        assert_eq!(db.expired_count(), 1);

        // A new key gets no TTL.
        db.insert_keep_ttl(b"new", v("6"), 0);
        assert_eq!(db.expiry(b"new", 0), Some(None));
        db.check();
    }

    #[test]
    fn take_returns_value_and_expiry() {
        let mut db = Db::new();
        db.insert(b"a", v("x"), Some(99));
        db.insert(b"b", v("y"), None);
        assert_eq!(db.take(b"a", 50), Some((v("x"), Some(99))));
        assert_eq!(db.take(b"b", 50), Some((v("y"), None)));
        assert_eq!(db.expires_len(), 0);
        db.check();
    }

    #[test]
    fn set_expiry_adds_changes_and_clears() {
        let mut db = Db::new();
        assert!(!db.set_expiry(b"k", Some(5), 0));
        db.insert(b"k", v("x"), None);
        assert!(db.set_expiry(b"k", Some(100), 0));
        assert_eq!(db.expiry(b"k", 0), Some(Some(100)));
        assert!(db.set_expiry(b"k", Some(200), 0));
        assert_eq!(db.expires_len(), 1);
        db.check();
        assert!(db.set_expiry(b"k", None, 0));
        assert_eq!(db.expires_len(), 0);
        assert!(db.contains(b"k", u64::MAX));
        // Extremes: time 0 and the far future are both storable.
        assert!(db.set_expiry(b"k", Some(0), 0));
        assert_eq!(db.expiry(b"k", 0), Some(Some(0)));
        assert!(db.set_expiry(b"k", Some(u64::MAX), 0));
        assert_eq!(db.expiry(b"k", 0), Some(Some(u64::MAX - 1)));
        db.check();
    }

    #[test]
    fn active_expire_is_bounded_and_soonest_first() {
        let mut db = Db::new();
        for i in 0..1000u64 {
            db.insert(format!("k{i}").as_bytes(), v("x"), Some(1000 + i));
        }
        db.insert(b"forever", v("x"), None);
        assert_eq!(db.active_expire(999, 100), 0);
        assert_eq!(db.active_expire(1100, 10), 10);
        // The ten soonest went first.
        assert!(!db.contains(b"k9", 0));
        assert!(db.contains(b"k10", 0));
        assert_eq!(db.active_expire(1100, 1000), 90);
        assert_eq!(db.active_expire(1100, 1000), 0);
        assert!(db.contains(b"k100", 1100));
        assert_eq!(db.active_expire(u64::MAX, usize::MAX), 900);
        assert_eq!(db.len(), 1);
        assert_eq!(db.expired_count(), 1000);
        db.check();
    }

    #[test]
    fn avg_ttl_from_running_sum() {
        let mut db = Db::new();
        assert_eq!(db.avg_ttl(0), 0);
        db.insert(b"a", v("x"), Some(1000));
        db.insert(b"b", v("x"), Some(3000));
        db.insert(b"c", v("x"), None);
        assert_eq!(db.avg_ttl(1000), 1000);
        assert_eq!(db.avg_ttl(5000), 0);
        db.remove(b"b", 0);
        assert_eq!(db.avg_ttl(0), 1000);
    }

    #[test]
    fn random_key_skips_and_removes_expired() {
        let mut db = Db::new();
        assert!(db.random_key(0).is_none());
        for i in 0..50 {
            db.insert(format!("dead{i}").as_bytes(), v("x"), Some(10));
        }
        db.insert(b"live", v("x"), None);
        for _ in 0..20 {
            assert_eq!(db.random_key(11).unwrap(), b"live");
        }
        db.check();
        db.remove(b"live", 11);
        assert!(db.random_key(11).is_none());
        assert!(db.is_empty());
        assert_eq!(db.expires_len(), 0);
    }

    #[test]
    fn scan_honours_count_and_reports_expiry() {
        let mut db = Db::new();
        for i in 0..1000 {
            db.insert(
                format!("k{i}").as_bytes(),
                v("x"),
                (i % 2 == 0).then_some(5),
            );
        }
        let mut cursor = 0;
        let mut calls = 0;
        let mut keys = Vec::new();
        let mut with_ttl = 0;
        loop {
            let mut batch = 0;
            cursor = db.scan(cursor, 20, |k, _, at| {
                batch += 1;
                with_ttl += usize::from(at == Some(5));
                keys.push(k.to_vec());
            });
            calls += 1;
            if cursor == 0 {
                break;
            }
            assert!(batch >= 20);
        }
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 1000);
        assert_eq!(with_ttl, 500);
        assert!(calls < 100, "{calls}");
    }

    #[test]
    fn keys_matching_filters_expired_and_globs() {
        let mut db = Db::new();
        db.insert(b"user:1", v("a"), None);
        db.insert(b"user:2", v("a"), Some(10));
        db.insert(b"item:1", v("a"), None);
        db.insert(b"", v("a"), None);
        let collect = |db: &Db, p: &[u8], now| {
            let mut out = vec![];
            db.keys_matching(p, now, |k| out.push(k.to_vec()));
            out.sort();
            out
        };
        assert_eq!(collect(&db, b"user:*", 5).len(), 2);
        assert_eq!(collect(&db, b"user:*", 11), vec![b"user:1".to_vec()]);
        assert_eq!(
            collect(&db, b"*", 11).len(),
            3,
            "lone * includes the empty key"
        );
        assert_eq!(collect(&db, b"*:1", 11).len(), 2);
        let mut n = 0;
        db.for_each(|_, _, _| n += 1);
        assert_eq!(n, 4);
    }

    #[test]
    fn clear_and_keyspace() {
        let mut ks = Keyspace::new(4);
        assert!(ks.is_empty());
        ks.dbs[0].insert(b"a", v("x"), Some(5));
        ks.dbs[3].insert(b"b", v("x"), Some(5));
        ks.dbs[3].insert(b"c", v("x"), Some(5));
        ks.dbs[2].insert(b"d", v("x"), None);
        assert_eq!(ks.len(), 4);
        assert_eq!(ks.active_expire(6, 2), 2);
        assert_eq!(ks.active_expire(6, 2), 1);
        assert_eq!(ks.expired_keys(), 3);
        assert_eq!(ks.len(), 1);
        ks.dbs.swap(2, 1);
        assert!(ks.dbs[1].contains(b"d", 0));
        ks.flush_all(0);
        assert!(ks.is_empty());
        assert_eq!(ks.dbs[0].expires_len(), 0);
        let mut db = Db::default();
        db.insert(b"x", v("1"), Some(1));
        db.clear(0);
        assert_eq!(db.expires_len(), 0);
        db.check();
    }

    #[test]
    fn deadline_index_tolerates_colliding_pairs() {
        let mut ix = DeadlineIndex::default();
        ix.add(5, 77);
        ix.add(5, 77);
        ix.add(6, 77);
        assert_eq!(ix.len, 3);
        assert_eq!(ix.first_due(6), Some((5, 77)));
        ix.remove(5, 77);
        assert_eq!(ix.first_due(6), Some((5, 77)));
        ix.remove(5, 77);
        assert_eq!(ix.first_due(6), None);
        assert_eq!(ix.first_due(7), Some((6, 77)));
        ix.remove(6, 77);
        assert_eq!((ix.len, ix.sum), (0, 0));
        assert!(ix.set.is_empty() && ix.dups.is_empty());
    }

    /// Random operations against a `HashMap` model that keeps every key
    /// with its deadline; the Db may drop expired keys at any time, so only
    /// live views are compared, plus exact counts after a full purge.
    #[test]
    fn matches_a_model_under_random_operations() {
        type Model = HashMap<Vec<u8>, (Vec<u8>, Option<u64>)>;
        let live = |m: &Model, k: &[u8], now: u64| -> Option<(Vec<u8>, Option<u64>)> {
            m.get(k)
                .filter(|(_, at)| !matches!(at, Some(at) if now > *at))
                .cloned()
        };
        for seed in 0..8 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut db = Db::new();
            let mut model: Model = HashMap::new();
            let mut now = 1_000u64;
            let keyspace = [20, 200, 3000][seed as usize % 3];
            for step in 0..30_000 {
                let k = format!("key:{}", rng.usize(0..keyspace)).into_bytes();
                let expire = if rng.u8(..) < 100 {
                    Some(now + rng.u64(0..200))
                } else {
                    None
                };
                match rng.u8(0..13) {
                    0 | 1 => {
                        let val = format!("v{}", rng.u32(..)).into_bytes();
                        db.insert(&k, Value::from_vec(val.clone()), expire);
                        model.insert(k, (val, expire));
                    }
                    2 => {
                        let val = rng.i64(..).to_string().into_bytes();
                        db.insert_keep_ttl(&k, Value::from_bytes(&val), now);
                        let at = live(&model, &k, now).and_then(|(_, at)| at);
                        model.insert(k, (val, at));
                    }
                    3 => {
                        let got = db.remove(&k, now).map(|v| bytes(&v));
                        let want = live(&model, &k, now).map(|(v, _)| v);
                        model.remove(&k);
                        assert_eq!(got, want);
                    }
                    4 => {
                        let got = db.take(&k, now).map(|(v, at)| (bytes(&v), at));
                        let want = live(&model, &k, now);
                        model.remove(&k);
                        assert_eq!(got, want);
                    }
                    5 | 6 => {
                        let got = db.get(&k, now).map(bytes);
                        assert_eq!(got, live(&model, &k, now).map(|(v, _)| v));
                    }
                    7 => {
                        let got = db.set_expiry(&k, expire, now);
                        let want = live(&model, &k, now).is_some();
                        assert_eq!(got, want);
                        if want {
                            model.get_mut(&k).unwrap().1 = expire;
                        }
                    }
                    8 => {
                        let got = db.expiry(&k, now);
                        assert_eq!(got, live(&model, &k, now).map(|(_, at)| at));
                    }
                    9 => {
                        if let Some((val, _)) = db.get_with_expiry(&k, now) {
                            val.append(b"+");
                            model.get_mut(&k).unwrap().0.push(b'+');
                        } else {
                            assert!(live(&model, &k, now).is_none());
                        }
                    }
                    10 => {
                        db.active_expire(now, rng.usize(0..20));
                    }
                    11 => {
                        if let Some(r) = db.random_key(now) {
                            assert!(live(&model, &r, now).is_some());
                        } else {
                            assert!(model.keys().all(|k| live(&model, k, now).is_none()));
                        }
                    }
                    _ => {
                        now += rng.u64(0..30);
                    }
                }
                if step % 1000 == 0 {
                    db.check();
                    // Full scan: every live model key is seen.
                    let mut seen = std::collections::HashSet::new();
                    let mut c = 0;
                    loop {
                        c = db.scan(c, 10, |k, _, at| {
                            if !matches!(at, Some(at) if now > at) {
                                seen.insert(k.to_vec());
                            }
                        });
                        if c == 0 {
                            break;
                        }
                    }
                    let want: std::collections::HashSet<_> = model
                        .keys()
                        .filter(|k| live(&model, k, now).is_some())
                        .cloned()
                        .collect();
                    assert_eq!(seen, want);
                    // Purge, then counts are exact.
                    db.active_expire(now, usize::MAX);
                    model.retain(|_, (_, at)| !matches!(at, Some(at) if now > *at));
                    assert_eq!(db.len(), model.len());
                    let ttls = model.values().filter(|(_, at)| at.is_some()).count();
                    assert_eq!(db.expires_len(), ttls);
                }
            }
            db.check();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod snapshot_tests {
    use super::*;
    use crate::rdb::file::{Aux, Item, Reader, Writer};
    use std::collections::BTreeMap;

    fn s(v: &str) -> Value {
        Value::from_bytes(v.as_bytes())
    }

    /// Runs a snapshot of `db` to the end, calling `meddle(step, db)` between
    /// steps, and returns the keys and values the snapshot holds.
    fn snapshot(db: &mut Db, mut meddle: impl FnMut(usize, &mut Db)) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let (size, expires) = db.begin_snapshot();
        let mut w = Writer::new(Vec::new(), &Aux::default()).unwrap();
        w.select_db(0, size, expires).unwrap();
        let mut step = 0;
        loop {
            meddle(step, db);
            step += 1;
            let chunk = db.snapshot_step(512, u64::MAX).unwrap();
            w.raw(&chunk.bytes).unwrap();
            if chunk.done {
                break;
            }
        }
        assert!(!db.in_snapshot());
        let file = w.finish().unwrap();
        let mut r = Reader::new(&file[..]).unwrap();
        let mut out = BTreeMap::new();
        loop {
            match r.next_item().unwrap() {
                Item::Entry { key, value, .. } => {
                    let v = crate::rdb::dump(&value);
                    assert!(out.insert(key, v).is_none(), "a key written twice");
                }
                Item::End => break,
                _ => {}
            }
        }
        out
    }

    fn state(db: &Db) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut m = BTreeMap::new();
        db.for_each(|k, v, _| {
            m.insert(k.to_vec(), crate::rdb::dump(v));
        });
        m
    }

    fn filled(n: usize) -> Db {
        let mut db = Db::new();
        for i in 0..n {
            db.insert(format!("key:{i}").as_bytes(), s(&format!("v{i}")), None);
        }
        db
    }

    #[test]
    fn a_snapshot_holds_the_state_at_its_start_whatever_changes_during_it() {
        let mut db = filled(5000);
        let at_cut = state(&db);
        let got = snapshot(&mut db, |step, db| {
            // Overwrite, change in place, delete and create keys, some
            // before the walk reaches them, some after; the table grows.
            for j in 0..40 {
                let i = (step * 37 + j * 101) % 5000;
                match j % 4 {
                    0 => db.insert(format!("key:{i}").as_bytes(), s("changed"), None),
                    1 => {
                        db.remove(format!("key:{i}").as_bytes(), 0);
                    }
                    2 => db.insert(format!("new:{step}:{j}").as_bytes(), s("new"), None),
                    _ => {
                        if let Some(v) = db.get_mut(format!("key:{i}").as_bytes(), 0) {
                            *v = s("in place");
                        }
                    }
                }
            }
        });
        assert_eq!(got.len(), at_cut.len());
        assert!(
            got == at_cut,
            "the snapshot differs from the state at its start"
        );
        // A second snapshot sees the changes, and only once each key.
        let now = state(&db);
        assert!(snapshot(&mut db, |_, _| {}) == now);
    }

    #[test]
    fn flushdb_during_a_snapshot_keeps_the_snapshot_whole() {
        let mut db = filled(3000);
        let at_cut = state(&db);
        let got = snapshot(&mut db, |step, db| {
            if step == 2 {
                db.clear(0);
                db.insert(b"after-flush", s("x"), None);
            }
        });
        assert!(got == at_cut);
        assert_eq!(db.len(), 1);
        let now = state(&db);
        assert!(snapshot(&mut db, |_, _| {}) == now);
    }

    #[test]
    fn an_aborted_snapshot_leaves_the_next_one_whole() {
        let mut db = filled(2000);
        db.begin_snapshot();
        db.snapshot_step(256, u64::MAX);
        db.abort_snapshot();
        db.insert(b"later", s("y"), None);
        let now = state(&db);
        assert!(snapshot(&mut db, |_, _| {}) == now);
    }
}
