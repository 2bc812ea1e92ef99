//! The command table. Each row names a command, its arity (negative: at
//! least that many arguments, the name included), flags, key positions and
//! handler; an alias is a second row.

use std::collections::HashMap;

use crate::{CmdResult, Ctx};

/// A shard-local handler: runs on the shard owning the command's key(s).
pub type ShardFn = fn(&mut Ctx<'_>, &[&[u8]]) -> CmdResult;

/// Key positions of a command whose keys a (first, last, step) triple
/// cannot describe (ZUNIONSTORE's `numkeys`, SORT's `STORE`, ...), as
/// Redis's getkeys procedures give them. Only whole-argument-list checks
/// call it (the cross-shard check, COMMAND GETKEYS), never a plain GET.
pub type KeysFn = fn(&[&[u8]]) -> Vec<usize>;

/// The key positions of a command whose `argv[at]` is `numkeys`: the
/// `numkeys` arguments after it; none when `numkeys` is not a positive
/// integer or leaves no argument after the keys (the handler then reports
/// the error itself). LMPOP, ZMPOP, BLMPOP, BZMPOP.
pub fn numkeys_keys(argv: &[&[u8]], at: usize) -> Vec<usize> {
    match argv.get(at).and_then(|b| crate::args::parse_i64(b)) {
        Some(n) if n > 0 && (n as u64) < argv.len().saturating_sub(at + 1) as u64 => {
            (at + 1..at + 1 + n as usize).collect()
        }
        _ => Vec::new(),
    }
}

/// Who executes a command.
#[derive(Clone, Copy)]
pub enum Handler {
    /// On the shard that owns the keys (for multi-key commands: when they all
    /// live on one shard; otherwise the server fans it out).
    Shard(ShardFn),
    /// By the server itself (connection state, fan-out to every shard, ...).
    Server,
}

pub mod flags {
    pub const WRITE: u32 = 1;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const FAST: u32 = 1 << 4;
    /// Allowed before AUTH when a password is set.
    pub const NO_AUTH: u32 = 1 << 5;
    /// Keys may live on several shards: the server checks and fans out.
    pub const MULTI_KEY: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const NOSCRIPT: u32 = 1 << 9;
    pub const RANDOM: u32 = 1 << 10;
    pub const PUBSUB: u32 = 1 << 11;
    /// A read-only command that may still change its key (PFCOUNT storing
    /// the cardinality it computed): its effect is recorded in the AOF and
    /// the replication stream when it changed something, as a write's is.
    /// Not shown by COMMAND INFO (Redis 7.0 shows only `readonly`).
    pub const MAY_REPLICATE: u32 = 1 << 12;

    /// Names as COMMAND INFO lists them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (RANDOM, "random"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
    ];
}

/// One row of the table.
#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// Lowercase name.
    pub name: &'static str,
    /// Exact argument count (name included) or, when negative, the minimum.
    pub arity: i32,
    pub flags: u32,
    /// Position of the first key (0: no keys).
    pub first_key: i32,
    /// Position of the last key; -1: the last argument.
    pub last_key: i32,
    pub step: i32,
    /// Overrides the triple above when the key positions depend on the
    /// arguments.
    pub keys_fn: Option<KeysFn>,
    pub handler: Handler,
    /// Its index in the table, for per-command counters.
    pub id: usize,
    /// ACL categories (`crate::categories::cat` bits), as Redis 7.0 gives
    /// them.
    pub categories: u32,
    /// Flags of each key spec, in order (`crate::categories::key` bits).
    pub key_specs: &'static [u16],
}

impl CommandSpec {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 {
            argc == a as usize
        } else {
            argc >= a.unsigned_abs() as usize
        }
    }
    /// Indices of the key arguments of `argv`, whichever way the row
    /// describes them.
    pub fn keys_of(&self, argv: &[&[u8]]) -> Vec<usize> {
        match self.keys_fn {
            Some(f) => f(argv),
            None => self.key_indices(argv.len()).collect(),
        }
    }

    /// Indices of the key arguments of one invocation, from the
    /// (first, last, step) triple (see [`CommandSpec::keys_of`]).
    pub fn key_indices(&self, argc: usize) -> impl Iterator<Item = usize> {
        let first = self.first_key.max(0) as usize;
        let last = if self.first_key <= 0 {
            0
        } else if self.last_key < 0 {
            (argc as i64 + i64::from(self.last_key)).max(0) as usize
        } else {
            self.last_key as usize
        };
        let step = self.step.max(1) as usize;
        let end = if first == 0 {
            0
        } else {
            last.min(argc.saturating_sub(1)) + 1
        };
        (first..end).step_by(step)
    }
}

/// Every command, looked up by name in any case.
///
/// Lookup is on the hot path of every command: names are bucketed by length
/// and first letter, so a lookup compares against one or two candidates
/// without hashing or copying.
#[derive(Default)]
pub struct CommandTable {
    specs: Vec<CommandSpec>,
    by_name: HashMap<&'static [u8], usize, ahash::RandomState>,
    fast: Vec<Vec<usize>>,
}

/// Longest name the fast buckets index; longer ones go through `by_name`.
const FAST_LEN: usize = 24;

fn bucket(len: usize, first: u8) -> usize {
    len * 32 + usize::from(first.to_ascii_lowercase() & 31)
}

impl CommandTable {
    pub fn add(&mut self, mut spec: CommandSpec) {
        debug_assert!(spec.name.bytes().all(|c| !c.is_ascii_uppercase()));
        let i = self.specs.len();
        spec.id = i;
        (spec.categories, spec.key_specs) = crate::categories::of(spec.name);
        self.by_name.insert(spec.name.as_bytes(), i);
        let n = spec.name.as_bytes();
        if n.len() < FAST_LEN {
            if self.fast.is_empty() {
                self.fast = vec![Vec::new(); FAST_LEN * 32];
            }
            self.fast[bucket(n.len(), n[0])].push(i);
        }
        self.specs.push(spec);
    }
    /// Shorthand for a shard command.
    pub fn shard(
        &mut self,
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        f: ShardFn,
    ) {
        self.row(name, arity, flags, keys, Handler::Shard(f));
    }

    /// A shard command whose key positions `keys_fn` computes from the
    /// arguments. `keys` is the triple COMMAND INFO shows (Redis's own
    /// first/last/step for the command).
    pub fn shard_keys_fn(
        &mut self,
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        keys_fn: KeysFn,
        f: ShardFn,
    ) {
        self.row(name, arity, flags, keys, Handler::Shard(f));
        self.set_keys_fn(keys_fn);
    }

    /// A server command whose key positions `keys_fn` computes.
    pub fn server_keys_fn(
        &mut self,
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        keys_fn: KeysFn,
    ) {
        self.row(name, arity, flags, keys, Handler::Server);
        self.set_keys_fn(keys_fn);
    }

    /// Gives the row just added its key-position function.
    fn set_keys_fn(&mut self, keys_fn: KeysFn) {
        if let Some(s) = self.specs.last_mut() {
            s.keys_fn = Some(keys_fn);
        }
    }

    /// Shorthand for a server command.
    pub fn server(&mut self, name: &'static str, arity: i32, flags: u32, keys: (i32, i32, i32)) {
        self.row(name, arity, flags, keys, Handler::Server);
    }

    fn row(
        &mut self,
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        handler: Handler,
    ) {
        let (first_key, last_key, step) = keys;
        self.add(CommandSpec {
            name,
            arity,
            flags,
            first_key,
            last_key,
            step,
            keys_fn: None,
            handler,
            id: 0,
            categories: 0,
            key_specs: &[],
        });
    }

    /// Looks a command up by name, case-insensitively, without allocating.
    pub fn lookup(&self, name: &[u8]) -> Option<&CommandSpec> {
        if name.is_empty() {
            return None;
        }
        if name.len() < FAST_LEN && !self.fast.is_empty() {
            return self.fast[bucket(name.len(), name[0])]
                .iter()
                .map(|&i| &self.specs[i])
                .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name));
        }
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).map(|&i| &self.specs[i])
    }
    pub fn iter(&self) -> impl Iterator<Item = &CommandSpec> {
        self.specs.iter()
    }
    pub fn len(&self) -> usize {
        self.specs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

/// Commands the server implements itself: connection state, fan-out, admin.
pub fn register_server(t: &mut CommandTable) {
    use flags::*;
    const NONE: (i32, i32, i32) = (0, 0, 0);
    t.server("ping", -1, FAST | STALE, NONE);
    t.server("echo", 2, FAST, NONE);
    t.server("quit", -1, NO_AUTH | FAST | LOADING | STALE, NONE);
    t.server("select", 2, FAST | LOADING | STALE, NONE);
    t.server(
        "auth",
        -2,
        NO_AUTH | FAST | LOADING | STALE | NOSCRIPT,
        NONE,
    );
    t.server(
        "hello",
        -1,
        NO_AUTH | FAST | LOADING | STALE | NOSCRIPT,
        NONE,
    );
    t.server("time", 1, FAST | LOADING | STALE | RANDOM, NONE);
    t.server("info", -1, LOADING | STALE, NONE);
    t.server("config", -2, ADMIN | LOADING | STALE | NOSCRIPT, NONE);
    t.server("command", -1, LOADING | STALE, NONE);
    t.server("client", -2, ADMIN | LOADING | STALE | NOSCRIPT, NONE);
    t.server("debug", -2, ADMIN | LOADING | STALE | NOSCRIPT, NONE);
    t.server("keys", 2, READONLY, NONE);
    t.server("scan", -2, READONLY | RANDOM, NONE);
    t.server("dbsize", 1, READONLY | FAST, NONE);
    t.server("randomkey", 1, READONLY | RANDOM, NONE);
    t.server("flushdb", -1, WRITE, NONE);
    t.server("flushall", -1, WRITE, NONE);
    t.server("swapdb", 3, WRITE | FAST, NONE);
    t.server("lastsave", 1, FAST | RANDOM | LOADING | STALE, NONE);
    t.server("save", 1, ADMIN | NOSCRIPT, NONE);
    t.server("bgsave", -1, ADMIN | NOSCRIPT, NONE);
    t.server("bgrewriteaof", 1, ADMIN | NOSCRIPT, NONE);
    t.server("readonly", 1, FAST | LOADING | STALE, NONE);
    t.server("asking", 1, FAST, NONE);
    t.server("cluster", -2, 0, NONE);
    t.server("readwrite", 1, FAST | LOADING | STALE, NONE);
    t.server(
        "reset",
        1,
        NO_AUTH | FAST | LOADING | STALE | NOSCRIPT,
        NONE,
    );
    t.server("function", -2, NOSCRIPT, NONE);
    t.server("multi", 1, NOSCRIPT | LOADING | STALE | FAST, NONE);
    t.server("exec", 1, NOSCRIPT | LOADING | STALE, NONE);
    t.server("discard", 1, NOSCRIPT | LOADING | STALE | FAST, NONE);
    t.server("watch", -2, NOSCRIPT | LOADING | STALE | FAST, (1, -1, 1));
    t.server("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST, NONE);
    t.server("shutdown", -1, ADMIN | LOADING | STALE | NOSCRIPT, NONE);
    t.server("monitor", 1, ADMIN | LOADING | STALE | NOSCRIPT, NONE);
    t.server("slowlog", -2, ADMIN | LOADING | STALE, NONE);
    t.server("latency", -2, ADMIN | NOSCRIPT | LOADING | STALE, NONE);
    // Not DENYOOM, as in Redis 7.0: a script without flags is admitted
    // over maxmemory, and its commands that may add data are refused
    // inside it until it writes (`script.rs`).
    t.server_keys_fn("eval", -3, NOSCRIPT | STALE, (0, 0, 0), eval_keys);
    t.server_keys_fn("evalsha", -3, NOSCRIPT | STALE, (0, 0, 0), eval_keys);
    t.server_keys_fn(
        "eval_ro",
        -3,
        NOSCRIPT | STALE | READONLY,
        (0, 0, 0),
        eval_keys,
    );
    t.server_keys_fn(
        "evalsha_ro",
        -3,
        NOSCRIPT | STALE | READONLY,
        (0, 0, 0),
        eval_keys,
    );
    t.server_keys_fn(
        "fcall",
        -3,
        NOSCRIPT | STALE | DENYOOM,
        (0, 0, 0),
        eval_keys,
    );
    t.server_keys_fn(
        "fcall_ro",
        -3,
        NOSCRIPT | STALE | READONLY,
        (0, 0, 0),
        eval_keys,
    );
    t.server("script", -2, NOSCRIPT, NONE);
    t.server("subscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NONE);
    t.server("psubscribe", -2, PUBSUB | NOSCRIPT | LOADING | STALE, NONE);
    t.server("unsubscribe", -1, PUBSUB | NOSCRIPT | LOADING | STALE, NONE);
    t.server(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        NONE,
    );
    t.server("publish", 3, PUBSUB | LOADING | STALE | FAST, NONE);
    // Sharded pub/sub: the shard channels sit where keys would (COMMAND
    // INFO's triple, the cluster's slot check), but their key spec is
    // `not_key`, so GETKEYS and ACL key rules do not see them.
    t.server(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        (1, -1, 1),
    );
    t.server(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        (1, -1, 1),
    );
    t.server("spublish", 3, PUBSUB | LOADING | STALE | FAST, (1, 1, 1));
    t.server("pubsub", -2, PUBSUB | LOADING | STALE, NONE);
    t.server_keys_fn("migrate", -6, WRITE, (3, 3, 1), migrate_keys);
    t.server("acl", -2, NOSCRIPT | LOADING | STALE, NONE);
    t.server("replicaof", 3, ADMIN | NOSCRIPT | STALE, NONE);
    t.server("slaveof", 3, ADMIN | NOSCRIPT | STALE, NONE);
    t.server("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE, NONE);
    t.server("sync", 1, ADMIN | NOSCRIPT, NONE);
    t.server("psync", -3, ADMIN | NOSCRIPT, NONE);
    t.server("wait", 3, NOSCRIPT, NONE);
    t.server("role", 1, NOSCRIPT | LOADING | STALE | FAST, NONE);
    t.server("failover", -1, ADMIN | NOSCRIPT | STALE, NONE);
}

/// EVAL's and EVALSHA's keys: `numkeys` (argument 2) keys after it.
pub fn eval_keys(argv: &[&[u8]]) -> Vec<usize> {
    match argv.get(2).and_then(|b| crate::args::parse_i64(b)) {
        Some(n) if n > 0 && (n as u64) <= argv.len().saturating_sub(3) as u64 => {
            (3..3 + n as usize).collect()
        }
        _ => Vec::new(),
    }
}

/// MIGRATE's keys: argument 3, or every argument after `KEYS` when
/// argument 3 is empty (AUTH and AUTH2 take their passwords with them).
pub fn migrate_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut j = 6;
    while j < argv.len() {
        let a = argv[j];
        if a.eq_ignore_ascii_case(b"auth") {
            j += 2;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            j += 3;
        } else if a.eq_ignore_ascii_case(b"keys") {
            if argv.get(3).is_some_and(|k| k.is_empty()) {
                return (j + 1..argv.len()).collect();
            }
            break;
        } else {
            j += 1;
        }
    }
    if argv.len() > 3 {
        vec![3]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lookup_any_case() {
        let t = crate::table();
        for name in [
            "get",
            "GET",
            "gEt",
            "incrbyfloat",
            "INCRBYFLOAT",
            "client",
            "pexpireat",
        ] {
            let spec = t.lookup(name.as_bytes()).expect(name);
            assert!(spec.name.eq_ignore_ascii_case(name));
        }
        for bad in ["", "ge", "gett", "!et", "get ", "x".repeat(40).as_str()] {
            assert!(t.lookup(bad.as_bytes()).is_none(), "{bad}");
        }
        for spec in t.iter() {
            assert!(std::ptr::eq(
                t.lookup(spec.name.as_bytes()).expect("self"),
                spec
            ));
        }
    }

    #[test]
    fn every_command_has_categories() {
        let t = crate::table();
        for spec in t.iter() {
            assert_ne!(spec.categories, 0, "{}", spec.name);
        }
    }
}
