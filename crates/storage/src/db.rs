//! One database of one shard, and a shard's set of databases. (Helper: implement.)

use crate::{Millis, Value};

/// One database (SELECT n) of one shard.
pub struct Db {}

impl Db {
    pub fn new() -> Db { todo!() }
    /// Keys, expired-but-not-yet-removed ones included.
    pub fn len(&self) -> usize { todo!() }
    pub fn is_empty(&self) -> bool { self.len() == 0 }
    /// Keys with a TTL.
    pub fn expires_len(&self) -> usize { todo!() }
    /// Average remaining TTL in ms of keys with a TTL (0 when none), for INFO keyspace.
    pub fn avg_ttl(&self, now: Millis) -> u64 { let _ = now; todo!() }
    /// The live value; an expired key is removed here (lazy expiry) and reads as absent.
    pub fn get(&mut self, key: &[u8], now: Millis) -> Option<&Value> { let _ = (key, now); todo!() }
    pub fn get_mut(&mut self, key: &[u8], now: Millis) -> Option<&mut Value> { let _ = (key, now); todo!() }
    /// Live value and its expiry.
    pub fn get_with_expiry(&mut self, key: &[u8], now: Millis) -> Option<(&mut Value, Option<Millis>)> { let _ = (key, now); todo!() }
    pub fn contains(&mut self, key: &[u8], now: Millis) -> bool { let _ = (key, now); todo!() }
    /// Inserts or replaces; the key's TTL becomes `expire` (None: no TTL).
    pub fn insert(&mut self, key: &[u8], value: Value, expire: Option<Millis>) { let _ = (key, value, expire); todo!() }
    /// Inserts or replaces, keeping an existing live key's TTL.
    pub fn insert_keep_ttl(&mut self, key: &[u8], value: Value, now: Millis) { let _ = (key, value, now); todo!() }
    /// Removes a live key and returns its value.
    pub fn remove(&mut self, key: &[u8], now: Millis) -> Option<Value> { let _ = (key, now); todo!() }
    /// Removes a live key and returns its value and expiry (MOVE, RENAME).
    pub fn take(&mut self, key: &[u8], now: Millis) -> Option<(Value, Option<Millis>)> { let _ = (key, now); todo!() }
    /// `None`: no such live key; `Some(None)`: no TTL; `Some(Some(at))`.
    pub fn expiry(&mut self, key: &[u8], now: Millis) -> Option<Option<Millis>> { let _ = (key, now); todo!() }
    /// Sets or clears (None) a live key's TTL; false if no such key.
    pub fn set_expiry(&mut self, key: &[u8], at: Option<Millis>, now: Millis) -> bool { let _ = (key, at, now); todo!() }
    /// A random live key (expired ones met on the way are removed).
    pub fn random_key(&mut self, now: Millis) -> Option<Vec<u8>> { let _ = now; todo!() }
    /// One SCAN step with Redis's guarantees (every key present for the whole
    /// scan is returned at least once, across resizes). Calls `f` for the keys of
    /// about `count` buckets from `cursor`; returns the next cursor, 0 at the end.
    pub fn scan(&self, cursor: u64, count: usize, f: impl FnMut(&[u8], &Value, Option<Millis>)) -> u64 { let _ = (cursor, count, f); todo!() }
    /// Every key, expired ones included (callers filter with `now`).
    pub fn for_each(&self, f: impl FnMut(&[u8], &Value, Option<Millis>)) { let _ = f; todo!() }
    pub fn clear(&mut self) { todo!() }
    /// Active expiry: removes at most `max` expired keys, soonest first; returns how many.
    pub fn active_expire(&mut self, now: Millis, max: usize) -> usize { let _ = (now, max); todo!() }
}

impl Default for Db { fn default() -> Self { Self::new() } }

/// A shard's part of every database, plus its hit/miss counters.
pub struct Keyspace {
    pub dbs: Vec<Db>,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace { Keyspace { dbs: (0..databases).map(|_| Db::new()).collect() } }
}
