//! Tessera's command table and the shard-local half of every command.
//!
//! A handler gets one shard ([`Shard`]), the connection's database and the
//! command's arguments, writes its reply into the output buffer and returns
//! `Ok` or an [`Error`]. It never knows which thread it runs on: the server
//! crate routes each command to the shard that owns its key and runs it there.
//! Commands whose keys may live on several shards (MGET, DEL k1 k2, KEYS, ...)
//! have a handler here for the case where all their keys are on one shard, and
//! shard-local *operations* (plain functions returning values) that the server
//! calls on each shard when it fans such a command out.
//!
//! # Layout
//!
//! - [`table`]: the command table: name, arity, flags, key positions, handler.
//! - [`access`]: typed access to aggregates (WRONGTYPE, create, delete when empty).
//! - [`args`]: the argument cursor and Redis's number parsers.
//! - [`blocking`]: parsing and one serve attempt of the blocking pops.
//! - [`debug`]: value digests and RELOAD's re-encoding for DEBUG.
//! - [`dump`]: DUMP and RESTORE (payloads in Redis's RDB format).
//! - [`error`]: every error string, turned into a wire reply in one place.
//! - [`propagate`]: what an executed write is recorded as in the AOF and the
//!   replication stream (Redis 7.0's deterministic rewrites).
//! - [`scan`]: the SCAN family's `cursor [MATCH] [COUNT]` arguments and reply.
//! - [`slot`]: key → cluster slot (CRC16 with hash tags).
//! - [`strings`], [`keys`], [`hashes`], [`lists`], [`sets`], [`zsets`],
//!   [`bitmaps`], [`hyperloglog`], [`sort`], [`streams`]: the command
//!   families, one `register` each.

pub mod access;
pub mod args;
pub mod bitmaps;
pub mod blocking;
pub mod categories;
pub mod debug;
pub mod dump;
pub mod error;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod lists;
pub mod propagate;
pub mod scan;
pub mod sets;
pub use storage::slot;
pub mod sort;
pub mod streams;
pub mod strings;
pub mod table;
pub mod zsets;

pub use error::{CmdResult, Error};
pub use storage::{Keyspace, Millis};
pub use table::{CommandSpec, CommandTable, Handler};

/// Counters a shard keeps for INFO.
#[derive(Default, Debug, Clone, Copy)]
pub struct ShardStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// Settings handlers need, copied into each shard (CONFIG SET updates them).
#[derive(Debug, Clone, Copy)]
pub struct ShardConfig {
    /// `proto-max-bulk-len`: the largest string SETRANGE/APPEND may build.
    pub proto_max_bulk_len: usize,
    /// `hll-sparse-max-bytes`: the longest a sparse HyperLogLog may grow
    /// before it turns dense.
    pub hll_sparse_max_bytes: usize,
    /// `stream-node-max-bytes` and `stream-node-max-entries`: how big a
    /// stream's nodes grow.
    pub stream_node: storage::stream::NodeLimits,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            proto_max_bulk_len: 512 * 1024 * 1024,
            hll_sparse_max_bytes: 3000,
            stream_node: storage::stream::NodeLimits::default(),
        }
    }
}

/// One shard: its part of every database, its counters, its settings.
pub struct Shard {
    pub ks: Keyspace,
    pub stats: ShardStats,
    pub config: ShardConfig,
    /// This shard's index among `shards` (a key belongs here when its slot
    /// modulo `shards` is `id`).
    pub id: usize,
    pub shards: usize,
}

impl Shard {
    /// A lone shard (id 0 of 1) with `databases` databases.
    pub fn new(databases: usize) -> Shard {
        Shard {
            ks: Keyspace::new(databases),
            stats: ShardStats::default(),
            config: ShardConfig::default(),
            id: 0,
            shards: 1,
        }
    }
}

/// What a handler runs with: the owning shard, the connection's database,
/// the time of this batch, and the connection's output buffer.
pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    pub now: Millis,
    pub out: &'a mut Vec<u8>,
    /// The connection speaks RESP3 (after `HELLO 3`).
    pub resp3: bool,
}

impl Ctx<'_> {
    /// Logs keyspace notification `name` of `class` for `key` in the
    /// connection's database (see `storage::notify`).
    #[inline]
    pub fn notify(&self, class: u32, name: &'static str, key: &[u8]) {
        storage::notify::emit(class, name, self.db, key);
    }

    /// The connection's current database on this shard.
    pub fn db(&mut self) -> &mut storage::Db {
        &mut self.shard.ks.dbs[self.db]
    }
}

/// Replies to a `HELP` subcommand: one status line per entry.
pub fn reply_help(out: &mut Vec<u8>, lines: &[&str]) {
    resp::encode::array_len(out, lines.len());
    for l in lines {
        resp::encode::simple(out, l.as_bytes());
    }
}

/// The table with every command family registered.
pub fn table() -> CommandTable {
    let mut t = CommandTable::default();
    strings::register(&mut t);
    keys::register(&mut t);
    hashes::register(&mut t);
    lists::register(&mut t);
    sets::register(&mut t);
    zsets::register(&mut t);
    geo::register(&mut t);
    bitmaps::register(&mut t);
    hyperloglog::register(&mut t);
    sort::register(&mut t);
    streams::register(&mut t);
    dump::register(&mut t);
    blocking::register(&mut t);
    table::register_server(&mut t);
    t
}
