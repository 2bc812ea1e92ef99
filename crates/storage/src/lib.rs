//! One shard's keyspace.
//!
//! Each shard thread owns a [`Keyspace`] outright: no locks, no sockets, no
//! threads in this crate, only synchronous operations on data. Time is
//! always passed in (`now`, unix milliseconds) so expiry is testable without
//! sleeping.
//!
//! # Layout
//!
//! - [`db`]: [`Keyspace`] (a shard's databases) and [`Db`]
//!   (one database: the table plus a deadline index for active expiry;
//!   lazy expiry on every access).
//! - [`dict`]: the hash table: chained buckets, incremental rehash, SCAN
//!   cursors that survive resizes, random sampling. One 64-byte node per
//!   key holds key, value and expiry.
//! - [`value`]: [`Value`], 24 bytes, with compact string encodings
//!   (integer, inline up to 22 bytes, heap) hidden behind [`StrRef`].
//! - [`small`]: 24-byte byte strings stored in place when short (keys,
//!   with their access stamp; sorted set members).
//! - [`hash`], [`list`], [`set`], [`zset`]: the aggregate types, each with
//!   its compact and large encodings behind one API.
//! - [`stream`]: streams: entries in listpack nodes under an ordered map,
//!   consumer groups with their pending entries.
//! - [`evict`]: access stamps (LRU clock, LFU counter) and the
//!   `maxmemory` settings; choosing what to evict.
//! - [`lazyfree`]: big values freed off the shard's thread.
//! - [`limits`]: the encoding thresholds (`hash-max-listpack-entries`, ...).
//! - [`notify`]: keyspace notifications logged per thread; [`track`]:
//!   what tracking clients read and which keys changed, for client-side
//!   caching's invalidations.
//! - [`glob`]: Redis's glob matcher for KEYS, SCAN MATCH and friends.
//! - [`aof`]: Redis 7.0's append-only file as bytes: the multi-part
//!   manifest, reading and writing the command stream.
//!
//! # Memory per key
//!
//! A key of up to 19 bytes with a value of up to 22 bytes (or an integer)
//! costs one 64-byte allocation plus its 8-byte bucket, about 72 bytes at
//! load factor 1 with an allocator that has a 64-byte size class (mimalloc,
//! which the server uses; glibc malloc adds a 16-byte header, so ~88 there).
//! A TTL adds an entry of 16 bytes to a B-tree (about 30 bytes with the
//! tree's slack).

pub mod aof;
pub mod db;
pub mod dict;
pub mod evict;
pub mod glob;
pub mod hash;
pub mod lazyfree;
pub mod limits;
pub mod list;
pub mod notify;
pub mod rdb;
pub mod set;
pub mod slot;
pub mod small;
pub mod stream;
pub mod track;
pub mod value;
pub mod zset;

pub use db::{Db, Keyspace};
pub use glob::glob_match;
pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use stream::Stream;
pub use value::{parse_canonical_i64, StrRef, Value};
pub use zset::ZSet;

/// Unix time in milliseconds.
pub type Millis = u64;
