//! The hash table of one database.
//!
//! # Layout
//!
//! Separate chaining over power-of-two bucket arrays. A bucket is an
//! `Option<Box<Entry>>` (8 bytes, null when empty) and an [`Entry`] is one
//! 64-byte allocation holding the chain link, the key (inline up to 19
//! bytes) with its access stamp, the value (inline up to 22 bytes or an
//! integer) and the absolute expiry: one allocation per key, nothing else. At load factor 1 that is
//! about 72 bytes per key.
//!
//! # Incremental rehash
//!
//! A resize allocates the new bucket array (zeroed memory, which the OS
//! hands out lazily) and then moves one bucket per operation, Redis-style,
//! so a table of millions of keys never stalls the shard. While rehashing
//! there are two tables and a cursor `rehash_idx`: buckets of table 0 below
//! it have been moved. A key lives in table 0 exactly when its table-0
//! bucket is at or above the cursor, else in table 1 (new keys follow the
//! same rule), so every lookup searches exactly one chain.
//!
//! # SCAN
//!
//! [`Dict::scan`] walks bucket indexes in reverse-binary order (increment
//! the bit-reversed cursor), which keeps the cursor meaningful across power
//! of two resizes: every entry present for the whole scan is visited at
//! least once, some possibly twice.

use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};

use ahash::RandomState;

use crate::small::Key;
use crate::{Millis, Value};

/// `expire_at` of a key without a TTL. `u64::MAX` rather than 0 so that
/// "is it expired?" is a single comparison (`now > expire_at`) and any
/// real time, 0 included, can be stored.
pub const NO_EXPIRY: u64 = u64::MAX;

/// Smallest non-empty bucket array.
const MIN_BUCKETS: usize = 4;
/// A table shrinks when fewer than 1 in this many buckets' worth of keys
/// remain (load factor below 1/8).
const SHRINK_RATIO: usize = 8;
/// Empty buckets one rehash step may skip before giving up, bounding the
/// work of a step on a sparse table.
const REHASH_EMPTY_VISITS: usize = 10;
/// Random bucket probes before [`Dict::random`] falls back to a walk.
const RANDOM_PROBES: usize = 100;

type Link = Option<Box<Entry>>;

/// While set, no key counts as expired: Redis's rule while it loads a
/// dataset (`server.loading`). An AOF's commands then see keys whose
/// deadline has passed as the writes they replay saw them (a PEXPIREAT in
/// the past sets the deadline, a later RPUSH adds to the same list), and
/// the keys expire once loading is done. Set only by the AOF loader,
/// while it alone runs commands.
static EXPIRY_PAUSED: AtomicBool = AtomicBool::new(false);

/// Pauses (or resumes) expiry: see [`EXPIRY_PAUSED`].
pub fn pause_expiry(paused: bool) {
    EXPIRY_PAUSED.store(paused, Ordering::Relaxed);
}

/// Whether expiry is paused ([`pause_expiry`]): commands that would
/// delete a key for a deadline already passed set the deadline instead.
#[inline]
pub fn expiry_paused() -> bool {
    EXPIRY_PAUSED.load(Ordering::Relaxed)
}

/// One key of the table: its chain link, key, value and expiry.
///
/// `Clone` only so that `vec![None; n]` (which needs it) can allocate a
/// bucket array as zeroed memory.
#[derive(Clone)]
pub struct Entry {
    next: Link,
    key: Key,
    value: Value,
    /// Absolute expiry in ms, [`NO_EXPIRY`] when none. Kept in sync with
    /// the database's deadline index by `Db`, hence crate-visible only.
    pub(crate) expire_at: u64,
}

/// 64 is a size class of common allocators (mimalloc, jemalloc), so a
/// node costs exactly 64 bytes there.
const _: () = assert!(mem::size_of::<Entry>() <= 64);

impl Entry {
    /// The key.
    #[inline]
    pub fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }

    /// The access stamp (see [`crate::evict`]).
    #[inline]
    pub fn stamp(&self) -> u32 {
        self.key.stamp()
    }

    /// Records an access under the current policy.
    #[inline]
    pub fn accessed(&mut self) {
        let s = crate::evict::accessed(self.key.stamp());
        self.key.set_stamp(s);
    }

    /// Replaces the access stamp (RESTORE IDLETIME / FREQ).
    pub fn set_stamp(&mut self, stamp: u32) {
        self.key.set_stamp(stamp);
    }

    /// The snapshot mark (see `Db::begin_snapshot`).
    #[inline]
    pub fn mark(&self) -> bool {
        self.key.mark()
    }

    #[inline]
    pub fn set_mark(&mut self, m: bool) {
        self.key.set_mark(m);
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value, to change in place.
    #[inline]
    pub fn value_mut(&mut self) -> &mut Value {
        &mut self.value
    }

    /// Absolute expiry in ms, if the key has a TTL.
    #[inline]
    pub fn expire_at(&self) -> Option<Millis> {
        (self.expire_at != NO_EXPIRY).then_some(self.expire_at)
    }

    /// Redis's rule: a key is gone once the clock has passed its deadline,
    /// so at `now == expire_at` it is still alive; and nothing is gone
    /// while expiry is paused ([`pause_expiry`]).
    #[inline]
    pub fn is_expired(&self, now: Millis) -> bool {
        now > self.expire_at && !expiry_paused()
    }

    /// The value, consuming the entry.
    pub fn into_value(self) -> Value {
        self.value
    }
}

/// One bucket array and the number of entries chained from it.
struct Table {
    buckets: Box<[Link]>,
    used: usize,
}

impl Table {
    fn empty() -> Table {
        Table {
            buckets: Box::new([]),
            used: 0,
        }
    }

    fn with_buckets(n: usize) -> Table {
        debug_assert!(n.is_power_of_two());
        Table {
            // `None` is all-zero bits, so this is one zeroed allocation:
            // no pass over the array, and the OS maps pages on first touch.
            buckets: vec![None; n].into_boxed_slice(),
            used: 0,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }
}

impl Drop for Table {
    /// Frees chains iteratively (the default drop would recurse once per
    /// chain link), and skips the walk over a table already emptied by a
    /// rehash, which would otherwise be a long pass over empty buckets.
    fn drop(&mut self) {
        if self.used == 0 {
            return;
        }
        for bucket in self.buckets.iter_mut() {
            let mut cur = bucket.take();
            while let Some(mut e) = cur {
                cur = e.next.take();
            }
        }
    }
}

/// Result of [`Dict::lookup`].
pub enum Lookup<'a> {
    /// No such key.
    Absent,
    /// The key had expired; it has been unlinked and is handed back so the
    /// caller can update its own bookkeeping (deadline index, stats).
    Expired(Box<Entry>),
    /// The live entry.
    Live(&'a mut Entry),
}

/// A hash table from byte-string keys to [`Value`]s with expiries. See the
/// module docs for the layout and the rehash and scan rules.
///
/// Operations take the key's hash from [`Dict::hash`] so a caller that also
/// indexes keys by hash (the deadline index) hashes once.
pub struct Dict {
    tables: [Table; 2],
    /// While rehashing (`tables[1]` non-empty): buckets of `tables[0]` below
    /// this index have been moved to `tables[1]`.
    rehash_idx: usize,
    /// Random per-table keys, so clients cannot aim keys at one bucket.
    hasher: RandomState,
    /// The snapshot mark new entries get (see `Db::begin_snapshot`).
    pub(crate) mark: bool,
}

impl Default for Dict {
    fn default() -> Self {
        Self::new()
    }
}

impl Dict {
    /// An empty table; allocates nothing until the first insert.
    pub fn new() -> Dict {
        Dict {
            tables: [Table::empty(), Table::empty()],
            rehash_idx: 0,
            hasher: RandomState::new(),
            mark: false,
        }
    }

    /// Number of entries, expired ones not yet removed included.
    #[inline]
    pub fn len(&self) -> usize {
        self.tables[0].used + self.tables[1].used
    }

    /// True when there are no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Buckets allocated, in both tables while rehashing.
    pub fn bucket_count(&self) -> usize {
        self.tables[0].buckets.len() + self.tables[1].buckets.len()
    }

    /// True while a resize is in progress.
    #[inline]
    pub fn is_rehashing(&self) -> bool {
        !self.tables[1].buckets.is_empty()
    }

    /// The hash every other operation takes.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Which table and bucket hold (or would hold) a key with hash `h`.
    /// Only meaningful when `tables[0]` is allocated.
    #[inline]
    fn locate(&self, h: u64) -> (usize, usize) {
        let i0 = h as usize & self.tables[0].mask();
        if self.is_rehashing() && i0 < self.rehash_idx {
            (1, h as usize & self.tables[1].mask())
        } else {
            (0, i0)
        }
    }

    /// Asks the CPU to start loading the bucket a key with hash `h` lives
    /// in. The first of two steps that let a batch of lookups wait for
    /// memory together instead of one after another: this for every key of
    /// the batch, then [`Dict::prefetch_entry`] for every key, then the
    /// lookups themselves. Changes nothing; only a hint.
    #[inline]
    pub fn prefetch_bucket(&self, h: u64) {
        if self.is_empty() {
            return;
        }
        let (t, i) = self.locate(h);
        prefetch(self.tables[t].buckets.as_ptr().wrapping_add(i));
    }

    /// The second step: starts loading the first entry of that bucket (its
    /// key, the small values kept inline, and the link to the next).
    #[inline]
    pub fn prefetch_entry(&self, h: u64) {
        if self.is_empty() {
            return;
        }
        let (t, i) = self.locate(h);
        if let Some(e) = self.tables[t].buckets[i].as_deref() {
            prefetch(e as *const Entry);
        }
    }

    /// Finds an entry without changing anything (no rehash step, no expiry).
    pub fn find(&self, h: u64, key: &[u8]) -> Option<&Entry> {
        if self.is_empty() {
            return None;
        }
        let (t, i) = self.locate(h);
        let mut cur = self.tables[t].buckets[i].as_deref();
        while let Some(e) = cur {
            if e.key.as_bytes() == key {
                return Some(e);
            }
            cur = e.next.as_deref();
        }
        None
    }

    /// [`Dict::find`], lending the entry mutably (no rehash step, no expiry).
    pub fn find_mut(&mut self, h: u64, key: &[u8]) -> Option<&mut Entry> {
        if self.is_empty() {
            return None;
        }
        let (t, i) = self.locate(h);
        let mut cur = self.tables[t].buckets[i].as_deref_mut();
        while let Some(e) = cur {
            if e.key.as_bytes() == key {
                return Some(e);
            }
            cur = e.next.as_deref_mut();
        }
        None
    }

    /// Finds an entry; an expired one is unlinked and returned as
    /// [`Lookup::Expired`]. Moves the rehash along.
    pub fn lookup(&mut self, h: u64, key: &[u8], now: Millis) -> Lookup<'_> {
        if self.is_empty() {
            return Lookup::Absent;
        }
        self.housekeeping();
        let (t, i) = self.locate(h);
        let table = &mut self.tables[t];
        let link = find_link(&mut table.buckets[i], |e| e.key.as_bytes() == key);
        match link {
            None => Lookup::Absent,
            Some(e) if e.is_expired(now) => match unlink(link) {
                Some(e) => {
                    table.used -= 1;
                    Lookup::Expired(e)
                }
                None => Lookup::Absent,
            },
            Some(e) => Lookup::Live(e),
        }
    }

    /// Inserts `key` or replaces its value. `expire_at` gets the current
    /// expiry ([`NO_EXPIRY`] for a new key) and returns the one to store.
    /// Returns the old value and expiry when the key existed (expired or
    /// not: deciding what an expired key means is the caller's business).
    pub fn insert_with(
        &mut self,
        h: u64,
        key: &[u8],
        value: Value,
        expire_at: impl FnOnce(u64) -> u64,
    ) -> Option<(Value, u64)> {
        self.housekeeping();
        self.grow_if_needed();
        let (t, i) = self.locate(h);
        let table = &mut self.tables[t];
        let link = find_link(&mut table.buckets[i], |e| e.key.as_bytes() == key);
        match link {
            Some(e) => {
                let old_at = e.expire_at;
                e.expire_at = expire_at(old_at);
                // A new value is a new access; an LFU counter is the key's
                // history and survives it (Redis keeps it too).
                if !crate::evict::policy().is_lfu() {
                    e.key.set_stamp(crate::evict::new_stamp());
                }
                Some((mem::replace(&mut e.value, value), old_at))
            }
            None => {
                let mut k = Key::new(key, crate::evict::new_stamp());
                k.set_mark(self.mark);
                *link = Some(Box::new(Entry {
                    next: None,
                    key: k,
                    value,
                    expire_at: expire_at(NO_EXPIRY),
                }));
                table.used += 1;
                None
            }
        }
    }

    /// Removes and returns an entry, expired or not.
    pub fn remove(&mut self, h: u64, key: &[u8]) -> Option<Box<Entry>> {
        if self.is_empty() {
            return None;
        }
        self.housekeeping();
        let (t, i) = self.locate(h);
        let table = &mut self.tables[t];
        let e = unlink(find_link(&mut table.buckets[i], |e| {
            e.key.as_bytes() == key
        }))?;
        table.used -= 1;
        Some(e)
    }

    /// The entry whose key hashes to `h` and whose expiry is `at` (see
    /// [`Dict::remove_by_deadline`]), changing nothing.
    pub fn find_by_deadline(&self, h: u64, at: u64) -> Option<&Entry> {
        if self.is_empty() {
            return None;
        }
        let (t, i) = self.locate(h);
        let mut cur = self.tables[t].buckets[i].as_deref();
        while let Some(e) = cur {
            if e.expire_at == at && self.hasher.hash_one(e.key.as_bytes()) == h {
                return Some(e);
            }
            cur = e.next.as_deref();
        }
        None
    }

    /// Removes the entry whose key hashes to `h` and whose expiry is `at`:
    /// how the deadline index, which keeps hashes rather than keys, names
    /// an entry.
    pub fn remove_by_deadline(&mut self, h: u64, at: u64) -> Option<Box<Entry>> {
        if self.is_empty() {
            return None;
        }
        self.housekeeping();
        let (t, i) = self.locate(h);
        let Dict { tables, hasher, .. } = self;
        let table = &mut tables[t];
        let e = unlink(find_link(&mut table.buckets[i], |e| {
            e.expire_at == at && hasher.hash_one(e.key.as_bytes()) == h
        }))?;
        table.used -= 1;
        Some(e)
    }

    /// Does up to `steps` rehash steps, starting a shrink first if one is
    /// due (for a periodic task, so that an idle shard still finishes its
    /// resize); returns whether a rehash is still in progress.
    pub fn rehash(&mut self, steps: usize) -> bool {
        for _ in 0..steps {
            if self.is_rehashing() {
                self.rehash_step();
            } else {
                // Deletes only check for a shrink at their next operation;
                // a periodic task must not wait for one.
                self.shrink_if_sparse();
                if !self.is_rehashing() {
                    break;
                }
            }
        }
        if !self.is_rehashing() {
            self.shrink_if_sparse();
        }
        self.is_rehashing()
    }

    /// Removes everything (the table shrinks back to nothing).
    pub fn clear(&mut self) {
        self.tables = [Table::empty(), Table::empty()];
        self.rehash_idx = 0;
    }

    /// Every entry, expired ones included, in no particular order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            tables: [&self.tables[0].buckets, &self.tables[1].buckets],
            table: 0,
            bucket: 0,
            cur: None,
        }
    }

    /// One SCAN step: calls `f` for every entry of one bucket of the
    /// smaller table and of the buckets of the larger table that it expands
    /// to, and returns the next cursor (0 when the scan is complete).
    ///
    /// Guarantee (as Redis's): an entry present from the first call (with
    /// cursor 0) to the last is passed to `f` at least once, however the
    /// table grows or shrinks in between.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&Entry)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if !self.is_rehashing() {
            let t = &self.tables[0];
            let m = t.mask() as u64;
            visit_chain(&t.buckets[(v & m) as usize], &mut f);
            return next_cursor(v, m);
        }
        let (small, large) = if self.tables[0].buckets.len() <= self.tables[1].buckets.len() {
            (&self.tables[0], &self.tables[1])
        } else {
            (&self.tables[1], &self.tables[0])
        };
        let ms = small.mask() as u64;
        let ml = large.mask() as u64;
        visit_chain(&small.buckets[(v & ms) as usize], &mut f);
        // The large table's buckets whose low bits equal the small one's:
        // iterate the extra high bits, in the same reversed order.
        loop {
            visit_chain(&large.buckets[(v & ml) as usize], &mut f);
            v = next_cursor(v, ml);
            if v & (ms ^ ml) == 0 {
                break;
            }
        }
        v
    }

    /// [`Dict::scan`] with each entry lent mutably (a snapshot marks what it
    /// saved). Same cursor, same guarantee.
    pub fn scan_mut(&mut self, cursor: u64, mut f: impl FnMut(&mut Entry)) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if !self.is_rehashing() {
            let t = &mut self.tables[0];
            let m = t.mask() as u64;
            visit_chain_mut(&mut t.buckets[(v & m) as usize], &mut f);
            return next_cursor(v, m);
        }
        let small_first = self.tables[0].buckets.len() <= self.tables[1].buckets.len();
        let [t0, t1] = &mut self.tables;
        let (small, large) = if small_first { (t0, t1) } else { (t1, t0) };
        let ms = small.mask() as u64;
        let ml = large.mask() as u64;
        visit_chain_mut(&mut small.buckets[(v & ms) as usize], &mut f);
        loop {
            visit_chain_mut(&mut large.buckets[(v & ml) as usize], &mut f);
            v = next_cursor(v, ml);
            if v & (ms ^ ml) == 0 {
                break;
            }
        }
        v
    }

    /// An empty table whose new entries get the same snapshot mark.
    pub(crate) fn emptied(&self) -> Dict {
        let mut d = Dict::new();
        d.mark = self.mark;
        d
    }

    /// A random entry: a random non-empty bucket, then a random entry of
    /// its chain. Not perfectly fair (entries sharing a bucket are less
    /// likely), which is what Redis accepts too; chains are short.
    pub fn random(&self, rng: &mut fastrand::Rng) -> Option<&Entry> {
        if self.is_empty() {
            return None;
        }
        // Candidate buckets: table 0 from the rehash cursor up (those below
        // are empty), then all of table 1.
        let start = if self.is_rehashing() {
            self.rehash_idx
        } else {
            0
        };
        let n0 = self.tables[0].buckets.len() - start;
        let span = n0 + self.tables[1].buckets.len();
        let bucket = |r: usize| -> &Link {
            if r < n0 {
                &self.tables[0].buckets[start + r]
            } else {
                &self.tables[1].buckets[r - n0]
            }
        };
        // Load is at least 1/8 outside a shrink, so probing rarely needs
        // more than a handful of tries; the walk bounds the unlucky case.
        for _ in 0..RANDOM_PROBES {
            if let Some(head) = bucket(rng.usize(..span)) {
                return Some(random_in_chain(head, rng));
            }
        }
        let first = rng.usize(..span);
        (0..span).find_map(|k| {
            bucket((first + k) % span)
                .as_deref()
                .map(|head| random_in_chain(head, rng))
        })
    }

    /// Hands `f` up to `n` entries found by walking consecutive buckets
    /// from a random one (wrapping), at most `10 * n` buckets: what eviction
    /// sampling needs, at a fraction of the cost of `n` calls to
    /// [`Dict::random`], whose every probe is a cache miss (neighbouring
    /// buckets share cache lines). Entries hash to random buckets, so the
    /// ones of neighbouring buckets are as random a sample as any; Redis
    /// samples the same way (dictGetSomeKeys).
    pub fn sample(&self, rng: &mut fastrand::Rng, n: usize, mut f: impl FnMut(&Entry)) {
        if self.is_empty() || n == 0 {
            return;
        }
        // The same candidate span as `random`.
        let start = if self.is_rehashing() {
            self.rehash_idx
        } else {
            0
        };
        let n0 = self.tables[0].buckets.len() - start;
        let span = n0 + self.tables[1].buckets.len();
        let first = rng.usize(..span);
        let mut found = 0;
        for k in 0..span.min(10 * n) {
            let r = (first + k) % span;
            let mut cur = if r < n0 {
                self.tables[0].buckets[start + r].as_deref()
            } else {
                self.tables[1].buckets[r - n0].as_deref()
            };
            while let Some(e) = cur {
                f(e);
                found += 1;
                if found == n {
                    return;
                }
                cur = e.next.as_deref();
            }
        }
        // A very sparse stretch: fall back to probing, which always finds one.
        if found == 0 {
            if let Some(e) = self.random(rng) {
                f(e);
            }
        }
    }

    /// Rehash step, or start a shrink if the table has become sparse.
    /// Runs at the start of every mutating operation.
    #[inline]
    fn housekeeping(&mut self) {
        if self.is_rehashing() {
            self.rehash_step();
        } else {
            self.shrink_if_sparse();
        }
    }

    /// Starts a shrink to the smallest power of two holding every key when
    /// the load factor is below 1/8.
    fn shrink_if_sparse(&mut self) {
        debug_assert!(!self.is_rehashing());
        let size = self.tables[0].buckets.len();
        let used = self.tables[0].used;
        if size > MIN_BUCKETS && used * SHRINK_RATIO < size {
            self.start_rehash(used.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    /// Before an insert: allocate the first table, or start doubling once
    /// the load factor reaches 1.
    #[inline]
    fn grow_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        let t = &self.tables[0];
        if t.buckets.is_empty() {
            self.tables[0] = Table::with_buckets(MIN_BUCKETS);
        } else if t.used >= t.buckets.len() {
            self.start_rehash(t.buckets.len() * 2);
        }
    }

    fn start_rehash(&mut self, size: usize) {
        debug_assert!(!self.is_rehashing());
        self.tables[1] = Table::with_buckets(size);
        self.rehash_idx = 0;
    }

    /// Moves one non-empty bucket of table 0 (visiting at most a few empty
    /// ones on the way) and finishes the rehash when table 0 is empty.
    fn rehash_step(&mut self) {
        let Dict {
            tables,
            rehash_idx,
            hasher,
            ..
        } = self;
        let [from, to] = tables;
        let mask = to.mask();
        let mut empty_left = REHASH_EMPTY_VISITS;
        while *rehash_idx < from.buckets.len() {
            let mut chain = from.buckets[*rehash_idx].take();
            *rehash_idx += 1;
            if chain.is_none() {
                empty_left -= 1;
                if empty_left == 0 {
                    break;
                }
                continue;
            }
            while let Some(mut e) = chain {
                chain = e.next.take();
                let j = hasher.hash_one(e.key.as_bytes()) as usize & mask;
                e.next = to.buckets[j].take();
                to.buckets[j] = Some(e);
                from.used -= 1;
                to.used += 1;
            }
            break;
        }
        // Every key left in table 0 sits at or above the cursor, so an empty
        // table 0 means the move is done, even before the cursor reaches
        // its end (which matters when shrinking a sparse table).
        if from.used == 0 {
            *from = mem::replace(to, Table::empty());
            *rehash_idx = 0;
        }
    }
}

/// The link (bucket head or a `next` field) holding the first entry of the
/// chain that satisfies `hit`, or the chain's final `None`.
#[inline]
fn find_link(mut link: &mut Link, mut hit: impl FnMut(&Entry) -> bool) -> &mut Link {
    while link.as_deref().is_some_and(|e| !hit(e)) {
        if let Some(e) = link {
            link = &mut e.next;
        }
    }
    link
}

/// Takes the entry out of `link`, splicing the rest of the chain in.
#[inline]
fn unlink(link: &mut Link) -> Option<Box<Entry>> {
    let mut e = link.take()?;
    *link = e.next.take();
    Some(e)
}

#[inline]
fn visit_chain(head: &Link, f: &mut impl FnMut(&Entry)) {
    let mut cur = head.as_deref();
    while let Some(e) = cur {
        f(e);
        cur = e.next.as_deref();
    }
}

fn visit_chain_mut(head: &mut Link, f: &mut impl FnMut(&mut Entry)) {
    let mut cur = head.as_deref_mut();
    while let Some(e) = cur {
        f(e);
        cur = e.next.as_deref_mut();
    }
}

fn random_in_chain<'a>(head: &'a Entry, rng: &mut fastrand::Rng) -> &'a Entry {
    let mut len = 0;
    let mut cur = Some(head);
    while let Some(e) = cur {
        len += 1;
        cur = e.next.as_deref();
    }
    let mut e = head;
    for _ in 0..rng.usize(..len) {
        if let Some(n) = e.next.as_deref() {
            e = n;
        }
    }
    e
}

/// Advances a cursor over `mask + 1` buckets in reverse-binary order: adds
/// one to the masked bits counting from their high end. Setting the bits
/// above the mask first lets the carry pass through them, so the result
/// has those bits clear and 0 means "wrapped around: done".
#[inline]
fn next_cursor(v: u64, mask: u64) -> u64 {
    (v | !mask).reverse_bits().wrapping_add(1).reverse_bits()
}

/// Iterator over every entry of a [`Dict`] (see [`Dict::iter`]).
pub struct Iter<'a> {
    tables: [&'a [Link]; 2],
    table: usize,
    bucket: usize,
    cur: Option<&'a Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        loop {
            if let Some(e) = self.cur {
                self.cur = e.next.as_deref();
                return Some(e);
            }
            let buckets = self.tables.get(self.table)?;
            match buckets.get(self.bucket) {
                Some(head) => {
                    self.cur = head.as_deref();
                    self.bucket += 1;
                }
                None => {
                    self.table += 1;
                    self.bucket = 0;
                }
            }
        }
    }
}

/// A hint to bring the cache line at `p` closer; no effect on other
/// architectures. Never faults, whatever `p` is.
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it reads nothing the program sees and
    // cannot fault, even on an invalid address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    fn key(n: usize) -> Vec<u8> {
        format!("key:{n}").into_bytes()
    }

    fn put(d: &mut Dict, k: &[u8], v: i64) -> Option<Value> {
        let h = d.hash(k);
        d.insert_with(h, k, Value::from_int(v), |_| NO_EXPIRY)
            .map(|(v, _)| v)
    }

    fn get<'a>(d: &'a Dict, k: &[u8]) -> Option<&'a Value> {
        d.find(d.hash(k), k).map(Entry::value)
    }

    fn del(d: &mut Dict, k: &[u8]) -> bool {
        let h = d.hash(k);
        d.remove(h, k).is_some()
    }

    /// Internal consistency: counts match, every key is where `locate`
    /// says, and no key appears twice.
    fn check(d: &Dict) {
        let mut seen = HashSet::new();
        for (t, table) in d.tables.iter().enumerate() {
            let mut n = 0;
            for (i, head) in table.buckets.iter().enumerate() {
                let mut cur = head.as_deref();
                while let Some(e) = cur {
                    n += 1;
                    assert_eq!(d.locate(d.hash(e.key())), (t, i), "{:?}", e.key);
                    assert!(seen.insert(e.key().to_vec()));
                    cur = e.next.as_deref();
                }
            }
            assert_eq!(n, table.used);
        }
        if !d.is_rehashing() {
            assert_eq!(d.rehash_idx, 0);
        }
    }

    fn scan_all(d: &Dict) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut c = 0;
        loop {
            c = d.scan(c, |e| out.push(e.key().to_vec()));
            if c == 0 {
                return out;
            }
        }
    }

    #[test]
    fn node_fits_a_64_byte_size_class() {
        assert_eq!(mem::size_of::<Entry>(), 64);
        assert_eq!(mem::size_of::<Link>(), 8);
    }

    #[test]
    fn insert_find_replace_remove() {
        let mut d = Dict::new();
        assert!(get(&d, b"a").is_none());
        assert!(!del(&mut d, b"a"));
        assert_eq!(d.bucket_count(), 0);
        assert!(put(&mut d, b"a", 1).is_none());
        assert_eq!(get(&d, b"a"), Some(&Value::from_int(1)));
        assert_eq!(put(&mut d, b"a", 2), Some(Value::from_int(1)));
        assert_eq!(d.len(), 1);
        let long = vec![b'L'; 100];
        put(&mut d, &long, 3);
        assert_eq!(get(&d, &long), Some(&Value::from_int(3)));
        assert!(del(&mut d, b"a"));
        assert!(!del(&mut d, b"a"));
        assert_eq!(d.len(), 1);
        d.clear();
        assert!(d.is_empty());
        assert!(get(&d, &long).is_none());
    }

    #[test]
    fn grows_and_shrinks_incrementally() {
        let mut d = Dict::new();
        let n = 10_000;
        let mut max_rehash_seen = false;
        for i in 0..n {
            put(&mut d, &key(i), i as i64);
            max_rehash_seen |= d.is_rehashing();
            if i % 997 == 0 {
                check(&d);
            }
        }
        assert!(max_rehash_seen);
        for i in 0..n {
            assert_eq!(get(&d, &key(i)), Some(&Value::from_int(i as i64)));
        }
        // Finish any resize, then the load factor is at most 1.
        while d.rehash(100) {}
        assert!(d.len() <= d.bucket_count());
        assert_eq!(d.bucket_count(), 16_384);
        for i in 0..n - 10 {
            assert!(del(&mut d, &key(i)));
            if i % 991 == 0 {
                check(&d);
            }
        }
        while d.rehash(100) {}
        check(&d);
        assert_eq!(d.len(), 10);
        assert!(d.bucket_count() <= 64, "{}", d.bucket_count());
        for i in n - 10..n {
            assert!(get(&d, &key(i)).is_some());
        }
    }

    #[test]
    fn lookup_unlinks_expired_entries() {
        let mut d = Dict::new();
        let h = d.hash(b"k");
        d.insert_with(h, b"k", Value::from_int(1), |_| 100);
        assert!(matches!(d.lookup(h, b"k", 100), Lookup::Live(_)));
        match d.lookup(h, b"k", 101) {
            Lookup::Expired(e) => assert_eq!(e.expire_at(), Some(100)),
            _ => panic!("expected expired"),
        }
        assert!(d.is_empty());
        assert!(matches!(d.lookup(h, b"k", 101), Lookup::Absent));
    }

    #[test]
    fn remove_by_deadline_picks_the_right_entry() {
        let mut d = Dict::new();
        for i in 0..100 {
            let k = key(i);
            let h = d.hash(&k);
            d.insert_with(h, &k, Value::from_int(0), |_| 1000 + (i as u64 % 3));
        }
        let k = key(42);
        let h = d.hash(&k);
        assert!(d.remove_by_deadline(h, 1001).is_none());
        let e = d.remove_by_deadline(h, 1000).unwrap();
        assert_eq!(e.key(), &k[..]);
        assert_eq!(d.len(), 99);
    }

    #[test]
    fn scan_without_resize_visits_each_key_once() {
        let mut d = Dict::new();
        assert_eq!(d.scan(0, |_| panic!()), 0);
        for i in 0..1000 {
            put(&mut d, &key(i), 0);
        }
        while d.rehash(100) {}
        let mut keys = scan_all(&d);
        keys.sort();
        let mut want: Vec<_> = (0..1000).map(key).collect();
        want.sort();
        assert_eq!(keys, want);
    }

    /// Keys present for the whole scan must be returned even when the table
    /// grows, shrinks, and is caught mid-rehash between scan calls.
    #[test]
    fn scan_survives_grow_and_shrink() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut resized = false;
        for round in 0..30 {
            let mut d = Dict::new();
            let stable: Vec<Vec<u8>> = (0..200).map(|i| format!("s{i}").into_bytes()).collect();
            for k in &stable {
                put(&mut d, k, 0);
            }
            let mut churn = 0usize;
            let mut calls = 0usize;
            let mut seen = HashSet::new();
            let mut c = 0;
            loop {
                c = d.scan(c, |e| {
                    seen.insert(e.key().to_vec());
                });
                if c == 0 {
                    break;
                }
                // Between calls: a burst of inserts (grow) or deletes
                // (shrink), often leaving a rehash half done.
                let burst = rng.usize(0..400);
                if d.len() < 2000 && rng.bool() {
                    for _ in 0..burst {
                        put(&mut d, format!("t{churn}").as_bytes(), 0);
                        churn += 1;
                    }
                } else {
                    let doomed: Vec<Vec<u8>> = d
                        .iter()
                        .map(|e| e.key().to_vec())
                        .filter(|k| k[0] == b't')
                        .take(burst)
                        .collect();
                    for k in doomed {
                        del(&mut d, &k);
                    }
                }
                if rng.bool() {
                    d.rehash(rng.usize(0..50));
                }
                calls += 1;
                if calls % 8 == 0 {
                    check(&d);
                }
                resized |= d.is_rehashing();
            }
            for k in &stable {
                assert!(seen.contains(k), "round {round}: missed {:?}", k);
            }
        }
        assert!(resized);
    }

    #[test]
    fn scan_during_rehash_covers_both_tables() {
        let mut d = Dict::new();
        for i in 0..64 {
            put(&mut d, &key(i), 0);
        }
        while d.rehash(100) {}
        // The 65th insert starts a grow; one step moves one bucket.
        put(&mut d, &key(64), 0);
        assert!(d.is_rehashing());
        let keys: HashSet<_> = scan_all(&d).into_iter().collect();
        assert_eq!(keys.len(), 65);
        // And a shrink caught mid-way.
        for i in 0..60 {
            del(&mut d, &key(i));
        }
        assert!(d.is_rehashing() || d.bucket_count() < 128);
        let keys: HashSet<_> = scan_all(&d).into_iter().collect();
        assert_eq!(keys.len(), 5);
    }

    #[test]
    fn random_is_roughly_fair_and_total() {
        let mut d = Dict::new();
        let mut rng = fastrand::Rng::with_seed(3);
        assert!(d.random(&mut rng).is_none());
        for i in 0..100 {
            put(&mut d, &key(i), 0);
        }
        let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
        for _ in 0..20_000 {
            *counts
                .entry(d.random(&mut rng).unwrap().key().to_vec())
                .or_default() += 1;
        }
        assert_eq!(counts.len(), 100);
        // Chain-mates share their bucket's chance, hence the loose bound.
        assert!(counts.values().all(|&c| c > 10), "{counts:?}");
        // A sparse table mid-shrink still finds its last key.
        for i in 0..99 {
            del(&mut d, &key(i));
        }
        for _ in 0..100 {
            assert_eq!(d.random(&mut rng).unwrap().key(), &key(99)[..]);
        }
    }

    #[test]
    fn sample_gives_distinct_live_entries_and_reaches_them_all() {
        let mut d = Dict::new();
        let mut rng = fastrand::Rng::with_seed(5);
        d.sample(&mut rng, 5, |_| panic!("empty dict"));
        for i in 0..1000 {
            put(&mut d, &key(i), 0);
        }
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for _ in 0..20_000 {
            let mut got = Vec::new();
            d.sample(&mut rng, 5, |e| got.push(e.key().to_vec()));
            assert!(!got.is_empty() && got.len() <= 5);
            assert_eq!(got.iter().collect::<HashSet<_>>().len(), got.len());
            seen.extend(got);
        }
        // Every key can be found (but the sixth of a chain, which at load
        // 1 is about one key in two thousand; Redis's sampling shares that).
        assert!(seen.len() >= 995, "{}", seen.len());
        for i in 0..995 {
            del(&mut d, &key(i));
        }
        let mut left = HashSet::new();
        for _ in 0..200 {
            d.sample(&mut rng, 5, |e| {
                left.insert(e.key().to_vec());
            });
        }
        assert_eq!(left.len(), 5);
    }

    #[test]
    fn iter_visits_everything_once() {
        let mut d = Dict::new();
        for i in 0..5000 {
            put(&mut d, &key(i), 0);
        }
        assert!(d.is_rehashing() || d.len() <= d.bucket_count());
        let keys: Vec<_> = d.iter().map(|e| e.key().to_vec()).collect();
        assert_eq!(keys.len(), 5000);
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 5000);
    }

    #[test]
    fn cursor_arithmetic() {
        // Mask 0b11: 0 -> 2 -> 1 -> 3 -> 0 (reverse binary).
        let mut seq = vec![];
        let mut v = 0;
        loop {
            v = next_cursor(v, 3);
            seq.push(v);
            if v == 0 {
                break;
            }
        }
        assert_eq!(seq, [2, 1, 3, 0]);
    }

    #[test]
    fn long_chains_drop_without_recursion() {
        // Force one huge chain by building it directly.
        let mut t = Table::with_buckets(1);
        for i in 0..200_000 {
            let next = t.buckets[0].take();
            t.buckets[0] = Some(Box::new(Entry {
                next,
                key: Key::new(&key(i), 0),
                value: Value::from_int(0),
                expire_at: NO_EXPIRY,
            }));
            t.used += 1;
        }
        drop(t);
    }
}
