//! The encoding thresholds (`hash-max-listpack-entries` and friends).
//!
//! They are process-wide settings that CONFIG SET may change at any time and
//! that every shard reads on every write to a small aggregate, so they live
//! in relaxed atomics: a read is a plain load, no lock, and a shard that
//! sees a new threshold one write late is harmless (Redis, too, only applies
//! a new threshold to values as they are next written).
//!
//! Each setting has its Redis 7.0 name and the older `ziplist` alias; both
//! read and write the same value.

use std::sync::atomic::{AtomicI64, Ordering};

/// One threshold: its names and current value.
pub struct Limit {
    /// Redis 7.0's name.
    pub name: &'static str,
    /// The pre-7.0 name, still accepted by Redis 7.0 (None: no alias).
    pub alias: Option<&'static str>,
    value: AtomicI64,
    /// Smallest value CONFIG SET accepts.
    pub min: i64,
}

impl Limit {
    const fn new(name: &'static str, alias: Option<&'static str>, default: i64, min: i64) -> Limit {
        Limit {
            name,
            alias,
            value: AtomicI64::new(default),
            min,
        }
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }

    /// The current value as a count (negative values read as 0).
    #[inline]
    pub fn get_usize(&self) -> usize {
        usize::try_from(self.get()).unwrap_or(0)
    }

    pub fn set(&self, v: i64) {
        self.value.store(v, Ordering::Relaxed);
    }
}

/// Most fields a hash keeps in its packed (listpack) form.
pub static HASH_MAX_LISTPACK_ENTRIES: Limit = Limit::new(
    "hash-max-listpack-entries",
    Some("hash-max-ziplist-entries"),
    128,
    0,
);
/// Longest field or value a hash keeps in its packed form.
pub static HASH_MAX_LISTPACK_VALUE: Limit = Limit::new(
    "hash-max-listpack-value",
    Some("hash-max-ziplist-value"),
    64,
    0,
);
/// Size of a list's packed nodes: positive, entries per node; -1..-5, a
/// node of at most 4, 8, 16, 32 or 64 KB.
pub static LIST_MAX_LISTPACK_SIZE: Limit = Limit::new(
    "list-max-listpack-size",
    Some("list-max-ziplist-size"),
    -2,
    i64::MIN,
);
/// Most integers a set keeps in its intset form.
pub static SET_MAX_INTSET_ENTRIES: Limit = Limit::new("set-max-intset-entries", None, 512, 0);
/// Most members a sorted set keeps in its packed (listpack) form.
pub static ZSET_MAX_LISTPACK_ENTRIES: Limit = Limit::new(
    "zset-max-listpack-entries",
    Some("zset-max-ziplist-entries"),
    128,
    0,
);
/// Longest member a sorted set keeps in its packed form.
pub static ZSET_MAX_LISTPACK_VALUE: Limit = Limit::new(
    "zset-max-listpack-value",
    Some("zset-max-ziplist-value"),
    64,
    0,
);

/// Every threshold, for CONFIG GET/SET and the config file.
pub static ALL: [&Limit; 6] = [
    &HASH_MAX_LISTPACK_ENTRIES,
    &HASH_MAX_LISTPACK_VALUE,
    &LIST_MAX_LISTPACK_SIZE,
    &SET_MAX_INTSET_ENTRIES,
    &ZSET_MAX_LISTPACK_ENTRIES,
    &ZSET_MAX_LISTPACK_VALUE,
];

/// The threshold called `name` (either name, lowercase).
pub fn find(name: &str) -> Option<&'static Limit> {
    ALL.iter()
        .copied()
        .find(|l| l.name == name || l.alias == Some(name))
}

/// Sets `name` from its text form; an error in Redis's CONFIG SET words.
pub fn set_by_name(name: &str, value: &str) -> Option<Result<(), &'static str>> {
    let l = find(name)?;
    Some(match value.parse::<i64>() {
        Ok(v) if v >= l.min => {
            l.set(v);
            Ok(())
        }
        Ok(_) => Err("argument must be between 0 and 9223372036854775807 inclusive"),
        Err(_) => Err("argument couldn't be parsed into an integer"),
    })
}
