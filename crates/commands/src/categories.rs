//! ACL categories and key-spec flags of every command and subcommand, as
//! Redis 7.0 assigns them (read off a running redis-server's COMMAND
//! output: they are behaviour clients and ACL rules depend on).
//!
//! A category is one bit of a `u32`; a key spec's flags one bit of a
//! `u16`. [`of`] gives both for a name (`get`, `client|kill`); the table
//! copies them into each row when it is built, so nothing here is on a
//! command's path.

/// Category bits, in the order ACL CAT lists them.
pub mod cat {
    pub const KEYSPACE: u32 = 1;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const BITMAP: u32 = 1 << 8;
    pub const HYPERLOGLOG: u32 = 1 << 9;
    pub const GEO: u32 = 1 << 10;
    pub const STREAM: u32 = 1 << 11;
    pub const PUBSUB: u32 = 1 << 12;
    pub const ADMIN: u32 = 1 << 13;
    pub const FAST: u32 = 1 << 14;
    pub const SLOW: u32 = 1 << 15;
    pub const BLOCKING: u32 = 1 << 16;
    pub const DANGEROUS: u32 = 1 << 17;
    pub const CONNECTION: u32 = 1 << 18;
    pub const TRANSACTION: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;

    /// Every category's name, in ACL CAT's order (bit `i` is `NAMES[i]`).
    pub const NAMES: &[&str] = &[
        "keyspace",
        "read",
        "write",
        "set",
        "sortedset",
        "list",
        "hash",
        "string",
        "bitmap",
        "hyperloglog",
        "geo",
        "stream",
        "pubsub",
        "admin",
        "fast",
        "slow",
        "blocking",
        "dangerous",
        "connection",
        "transaction",
        "scripting",
    ];

    /// The bit of a category name, any case.
    pub fn by_name(name: &[u8]) -> Option<u32> {
        NAMES
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|i| 1 << i)
    }
}

/// Key-spec flag bits (COMMAND GETKEYSANDFLAGS, COMMAND INFO's key specs).
pub mod key {
    pub const RW: u16 = 1;
    pub const RO: u16 = 1 << 1;
    pub const OW: u16 = 1 << 2;
    pub const RM: u16 = 1 << 3;
    pub const ACCESS: u16 = 1 << 4;
    pub const UPDATE: u16 = 1 << 5;
    pub const INSERT: u16 = 1 << 6;
    pub const DELETE: u16 = 1 << 7;
    pub const NOT_KEY: u16 = 1 << 8;
    pub const INCOMPLETE: u16 = 1 << 9;
    pub const VARIABLE_FLAGS: u16 = 1 << 10;

    /// Names as Redis prints them, in its order.
    pub const NAMES: &[(u16, &str)] = &[
        (RW, "RW"),
        (RO, "RO"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];

    /// Whether a key with these flags has its value read or returned: a
    /// `%R~` pattern is needed (a key only tested, as EXISTS does, needs
    /// neither kind of pattern).
    pub fn reads(f: u16) -> bool {
        f & ACCESS != 0
    }
    /// Whether a key with these flags has its value changed: a `%W~`
    /// pattern is needed.
    pub fn writes(f: u16) -> bool {
        f & (UPDATE | INSERT | DELETE) != 0
    }
}

/// The subcommands of the container commands the server runs, named as
/// Redis 7 names them (CLIENT LIST's `cmd=`, ACL rules, COMMAND LIST).
pub const SUBCOMMANDS: &[&str] = &[
    "acl|cat",
    "acl|deluser",
    "acl|dryrun",
    "acl|genpass",
    "acl|getuser",
    "acl|help",
    "acl|list",
    "acl|load",
    "acl|log",
    "acl|save",
    "acl|setuser",
    "acl|users",
    "acl|whoami",
    "client|getname",
    "client|help",
    "client|id",
    "client|info",
    "client|kill",
    "client|list",
    "client|getredir",
    "client|no-evict",
    "client|pause",
    "client|reply",
    "client|setinfo",
    "client|setname",
    "client|trackinginfo",
    "client|unpause",
    "cluster|addslots",
    "cluster|addslotsrange",
    "cluster|bumpepoch",
    "cluster|count-failure-reports",
    "cluster|countkeysinslot",
    "cluster|delslots",
    "cluster|delslotsrange",
    "cluster|failover",
    "cluster|flushslots",
    "cluster|forget",
    "cluster|getkeysinslot",
    "cluster|help",
    "cluster|info",
    "cluster|keyslot",
    "cluster|links",
    "cluster|meet",
    "cluster|myid",
    "cluster|nodes",
    "cluster|replicas",
    "cluster|replicate",
    "cluster|reset",
    "cluster|saveconfig",
    "cluster|set-config-epoch",
    "cluster|setslot",
    "cluster|shards",
    "cluster|slaves",
    "cluster|slots",
    "command|count",
    "command|docs",
    "command|getkeys",
    "command|help",
    "command|info",
    "command|list",
    "config|get",
    "config|help",
    "config|resetstat",
    "config|rewrite",
    "config|set",
    "function|delete",
    "function|flush",
    "function|help",
    "function|kill",
    "function|list",
    "function|load",
    "function|stats",
    "memory|doctor",
    "memory|help",
    "memory|malloc-stats",
    "memory|purge",
    "memory|stats",
    "memory|usage",
    "object|encoding",
    "object|freq",
    "object|help",
    "object|idletime",
    "object|refcount",
    "script|exists",
    "script|flush",
    "script|help",
    "script|kill",
    "script|load",
    "pubsub|channels",
    "pubsub|help",
    "pubsub|numpat",
    "pubsub|numsub",
    "pubsub|shardchannels",
    "pubsub|shardnumsub",
    "latency|doctor",
    "latency|graph",
    "latency|help",
    "latency|histogram",
    "latency|history",
    "latency|latest",
    "latency|reset",
    "slowlog|get",
    "slowlog|help",
    "slowlog|len",
    "slowlog|reset",
    "xgroup|create",
    "xgroup|createconsumer",
    "xgroup|delconsumer",
    "xgroup|destroy",
    "xgroup|help",
    "xgroup|setid",
    "xinfo|consumers",
    "xinfo|groups",
    "xinfo|help",
    "xinfo|stream",
];

/// The categories and key specs (one flag set per spec, in order) of a
/// command (`get`) or subcommand (`client|kill`); `(0, &[])` for a name
/// Redis does not have.
pub fn of(name: &str) -> (u32, &'static [u16]) {
    use cat::*;
    use key::*;
    match name {
        "acl" => (SLOW, &[]),
        "acl|cat" => (SLOW, &[]),
        "acl|deluser" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|dryrun" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|genpass" => (SLOW, &[]),
        "acl|getuser" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|help" => (SLOW, &[]),
        "acl|list" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|load" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|log" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|save" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|setuser" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|users" => (ADMIN | SLOW | DANGEROUS, &[]),
        "acl|whoami" => (SLOW, &[]),
        "asking" => (FAST | CONNECTION, &[]),
        "append" => (WRITE | STRING | FAST, &[RW | INSERT]),
        "auth" => (FAST | CONNECTION, &[]),
        "bitcount" => (READ | BITMAP | SLOW, &[RO | ACCESS]),
        "bitfield" => (
            WRITE | BITMAP | SLOW,
            &[RW | ACCESS | UPDATE | VARIABLE_FLAGS],
        ),
        "bitfield_ro" => (READ | BITMAP | FAST, &[RO | ACCESS]),
        "bitop" => (WRITE | BITMAP | SLOW, &[OW | UPDATE, RO | ACCESS]),
        "bitpos" => (READ | BITMAP | SLOW, &[RO | ACCESS]),
        "blmove" => (
            WRITE | LIST | SLOW | BLOCKING,
            &[RW | ACCESS | DELETE, RW | INSERT],
        ),
        "blmpop" => (WRITE | LIST | SLOW | BLOCKING, &[RW | ACCESS | DELETE]),
        "blpop" => (WRITE | LIST | SLOW | BLOCKING, &[RW | ACCESS | DELETE]),
        "brpop" => (WRITE | LIST | SLOW | BLOCKING, &[RW | ACCESS | DELETE]),
        "brpoplpush" => (
            WRITE | LIST | SLOW | BLOCKING,
            &[RW | ACCESS | DELETE, RW | INSERT],
        ),
        "bzmpop" => (WRITE | SORTEDSET | SLOW | BLOCKING, &[RW | ACCESS | DELETE]),
        "bzpopmax" => (WRITE | SORTEDSET | FAST | BLOCKING, &[RW | ACCESS | DELETE]),
        "bzpopmin" => (WRITE | SORTEDSET | FAST | BLOCKING, &[RW | ACCESS | DELETE]),
        "client" => (SLOW, &[]),
        "client|getname" => (SLOW | CONNECTION, &[]),
        "client|help" => (SLOW | CONNECTION, &[]),
        "client|id" => (SLOW | CONNECTION, &[]),
        "client|info" => (SLOW | CONNECTION, &[]),
        "client|kill" => (ADMIN | SLOW | DANGEROUS | CONNECTION, &[]),
        "client|list" => (ADMIN | SLOW | DANGEROUS | CONNECTION, &[]),
        "client|no-evict" => (ADMIN | SLOW | DANGEROUS | CONNECTION, &[]),
        "client|reply" => (SLOW | CONNECTION, &[]),
        "client|setinfo" => (SLOW | CONNECTION, &[]),
        "client|setname" => (SLOW | CONNECTION, &[]),
        "client|getredir" => (SLOW | CONNECTION, &[]),
        "client|trackinginfo" => (SLOW | CONNECTION, &[]),
        "client|pause" => (ADMIN | SLOW | DANGEROUS | CONNECTION, &[]),
        "client|unpause" => (ADMIN | SLOW | DANGEROUS | CONNECTION, &[]),
        "cluster" => (SLOW, &[]),
        "cluster|addslots" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|addslotsrange" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|bumpepoch" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|count-failure-reports" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|countkeysinslot" => (SLOW, &[]),
        "cluster|delslots" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|delslotsrange" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|failover" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|flushslots" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|forget" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|getkeysinslot" => (SLOW, &[]),
        "cluster|help" => (SLOW, &[]),
        "cluster|info" => (SLOW, &[]),
        "cluster|keyslot" => (SLOW, &[]),
        "cluster|links" => (SLOW, &[]),
        "cluster|meet" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|myid" => (SLOW, &[]),
        "cluster|nodes" => (SLOW, &[]),
        "cluster|replicas" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|replicate" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|reset" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|saveconfig" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|set-config-epoch" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|setslot" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|shards" => (SLOW, &[]),
        "cluster|slaves" => (ADMIN | SLOW | DANGEROUS, &[]),
        "cluster|slots" => (SLOW, &[]),
        "command" => (SLOW | CONNECTION, &[]),
        "command|count" => (SLOW | CONNECTION, &[]),
        "command|docs" => (SLOW | CONNECTION, &[]),
        "command|getkeys" => (SLOW | CONNECTION, &[]),
        "command|help" => (SLOW | CONNECTION, &[]),
        "command|info" => (SLOW | CONNECTION, &[]),
        "command|list" => (SLOW | CONNECTION, &[]),
        "config" => (SLOW, &[]),
        "config|get" => (ADMIN | SLOW | DANGEROUS, &[]),
        "config|help" => (SLOW, &[]),
        "config|resetstat" => (ADMIN | SLOW | DANGEROUS, &[]),
        "config|rewrite" => (ADMIN | SLOW | DANGEROUS, &[]),
        "config|set" => (ADMIN | SLOW | DANGEROUS, &[]),
        "copy" => (KEYSPACE | WRITE | SLOW, &[RO | ACCESS, OW | UPDATE]),
        "dbsize" => (KEYSPACE | READ | FAST, &[]),
        "debug" => (ADMIN | SLOW | DANGEROUS, &[]),
        "decr" => (WRITE | STRING | FAST, &[RW | ACCESS | UPDATE]),
        "decrby" => (WRITE | STRING | FAST, &[RW | ACCESS | UPDATE]),
        "del" => (KEYSPACE | WRITE | SLOW, &[RM | DELETE]),
        "discard" => (FAST | TRANSACTION, &[]),
        "dump" => (KEYSPACE | READ | SLOW, &[RO | ACCESS]),
        "echo" => (FAST | CONNECTION, &[]),
        "eval" => (SLOW | SCRIPTING, &[RW | ACCESS | UPDATE]),
        "eval_ro" => (SLOW | SCRIPTING, &[RO | ACCESS]),
        "evalsha" => (SLOW | SCRIPTING, &[RW | ACCESS | UPDATE]),
        "evalsha_ro" => (SLOW | SCRIPTING, &[RO | ACCESS]),
        "exec" => (SLOW | TRANSACTION, &[]),
        "exists" => (KEYSPACE | READ | FAST, &[RO]),
        "expire" => (KEYSPACE | WRITE | FAST, &[RW | UPDATE]),
        "expireat" => (KEYSPACE | WRITE | FAST, &[RW | UPDATE]),
        "expiretime" => (KEYSPACE | READ | FAST, &[RO | ACCESS]),
        "fcall" => (SLOW | SCRIPTING, &[RW | ACCESS | UPDATE]),
        "fcall_ro" => (SLOW | SCRIPTING, &[RO | ACCESS]),
        "flushall" => (KEYSPACE | WRITE | SLOW | DANGEROUS, &[]),
        "flushdb" => (KEYSPACE | WRITE | SLOW | DANGEROUS, &[]),
        "function" => (SLOW, &[]),
        "function|delete" => (WRITE | SLOW | SCRIPTING, &[]),
        "function|flush" => (WRITE | SLOW | SCRIPTING, &[]),
        "function|help" => (SLOW | SCRIPTING, &[]),
        "function|kill" => (SLOW | SCRIPTING, &[]),
        "function|list" => (SLOW | SCRIPTING, &[]),
        "function|load" => (WRITE | SLOW | SCRIPTING, &[]),
        "function|stats" => (SLOW | SCRIPTING, &[]),
        "geoadd" => (WRITE | GEO | SLOW, &[RW | UPDATE]),
        "geodist" => (READ | GEO | SLOW, &[RO | ACCESS]),
        "geohash" => (READ | GEO | SLOW, &[RO | ACCESS]),
        "geopos" => (READ | GEO | SLOW, &[RO | ACCESS]),
        "georadius" | "georadiusbymember" => {
            (WRITE | GEO | SLOW, &[RO | ACCESS, OW | UPDATE, OW | UPDATE])
        }
        "georadius_ro" | "georadiusbymember_ro" => (READ | GEO | SLOW, &[RO | ACCESS]),
        "geosearch" => (READ | GEO | SLOW, &[RO | ACCESS]),
        "geosearchstore" => (WRITE | GEO | SLOW, &[OW | UPDATE, RO | ACCESS]),
        "get" => (READ | STRING | FAST, &[RO | ACCESS]),
        "getbit" => (READ | BITMAP | FAST, &[RO | ACCESS]),
        "getdel" => (WRITE | STRING | FAST, &[RW | ACCESS | DELETE]),
        "getex" => (WRITE | STRING | FAST, &[RW | ACCESS | UPDATE]),
        "getrange" => (READ | STRING | SLOW, &[RO | ACCESS]),
        "getset" => (WRITE | STRING | FAST, &[RW | ACCESS | UPDATE]),
        "hdel" => (WRITE | HASH | FAST, &[RW | DELETE]),
        "hello" => (FAST | CONNECTION, &[]),
        "hexists" => (READ | HASH | FAST, &[RO]),
        "hget" => (READ | HASH | FAST, &[RO | ACCESS]),
        "hgetall" => (READ | HASH | SLOW, &[RO | ACCESS]),
        "hincrby" => (WRITE | HASH | FAST, &[RW | ACCESS | UPDATE]),
        "hincrbyfloat" => (WRITE | HASH | FAST, &[RW | ACCESS | UPDATE]),
        "hkeys" => (READ | HASH | SLOW, &[RO | ACCESS]),
        "hlen" => (READ | HASH | FAST, &[RO]),
        "hmget" => (READ | HASH | FAST, &[RO | ACCESS]),
        "hmset" => (WRITE | HASH | FAST, &[RW | UPDATE]),
        "hrandfield" => (READ | HASH | SLOW, &[RO | ACCESS]),
        "hscan" => (READ | HASH | SLOW, &[RO | ACCESS]),
        "hset" => (WRITE | HASH | FAST, &[RW | UPDATE]),
        "hsetnx" => (WRITE | HASH | FAST, &[RW | INSERT]),
        "hstrlen" => (READ | HASH | FAST, &[RO]),
        "hvals" => (READ | HASH | SLOW, &[RO | ACCESS]),
        "incr" => (WRITE | STRING | FAST, &[RW | ACCESS | UPDATE]),
        "incrby" => (WRITE | STRING | FAST, &[RW | ACCESS | UPDATE]),
        "incrbyfloat" => (WRITE | STRING | FAST, &[RW | ACCESS | UPDATE]),
        "info" => (SLOW | DANGEROUS, &[]),
        "keys" => (KEYSPACE | READ | SLOW | DANGEROUS, &[]),
        "bgsave" => (ADMIN | SLOW | DANGEROUS, &[]),
        "bgrewriteaof" => (ADMIN | SLOW | DANGEROUS, &[]),
        "lastsave" => (ADMIN | FAST | DANGEROUS, &[]),
        "replicaof" | "slaveof" => (ADMIN | SLOW | DANGEROUS, &[]),
        "replconf" => (ADMIN | SLOW | DANGEROUS, &[]),
        "sync" | "psync" => (ADMIN | SLOW | DANGEROUS, &[]),
        "wait" => (SLOW | CONNECTION, &[]),
        "role" => (ADMIN | FAST | DANGEROUS, &[]),
        "failover" => (ADMIN | SLOW | DANGEROUS, &[]),
        "latency" => (SLOW, &[]),
        "latency|doctor" => (ADMIN | SLOW | DANGEROUS, &[]),
        "latency|graph" => (ADMIN | SLOW | DANGEROUS, &[]),
        "latency|help" => (SLOW, &[]),
        "latency|histogram" => (ADMIN | SLOW | DANGEROUS, &[]),
        "latency|history" => (ADMIN | SLOW | DANGEROUS, &[]),
        "latency|latest" => (ADMIN | SLOW | DANGEROUS, &[]),
        "latency|reset" => (ADMIN | SLOW | DANGEROUS, &[]),
        "slowlog" => (SLOW, &[]),
        "slowlog|get" => (ADMIN | SLOW | DANGEROUS, &[]),
        "slowlog|help" => (SLOW, &[]),
        "slowlog|len" => (ADMIN | SLOW | DANGEROUS, &[]),
        "slowlog|reset" => (ADMIN | SLOW | DANGEROUS, &[]),
        "lcs" => (READ | STRING | SLOW, &[RO | ACCESS]),
        "lindex" => (READ | LIST | SLOW, &[RO | ACCESS]),
        "linsert" => (WRITE | LIST | SLOW, &[RW | INSERT]),
        "llen" => (READ | LIST | FAST, &[RO]),
        "lmove" => (WRITE | LIST | SLOW, &[RW | ACCESS | DELETE, RW | INSERT]),
        "lmpop" => (WRITE | LIST | SLOW, &[RW | ACCESS | DELETE]),
        "lpop" => (WRITE | LIST | FAST, &[RW | ACCESS | DELETE]),
        "lpos" => (READ | LIST | SLOW, &[RO | ACCESS]),
        "lpush" => (WRITE | LIST | FAST, &[RW | INSERT]),
        "lpushx" => (WRITE | LIST | FAST, &[RW | INSERT]),
        "lrange" => (READ | LIST | SLOW, &[RO | ACCESS]),
        "lrem" => (WRITE | LIST | SLOW, &[RW | DELETE]),
        "lset" => (WRITE | LIST | SLOW, &[RW | UPDATE]),
        "ltrim" => (WRITE | LIST | SLOW, &[RW | DELETE]),
        "memory" => (SLOW, &[]),
        "memory|doctor"
        | "memory|help"
        | "memory|malloc-stats"
        | "memory|purge"
        | "memory|stats" => (SLOW, &[]),
        "memory|usage" => (READ | SLOW, &[RO]),
        "mget" => (READ | STRING | FAST, &[RO | ACCESS]),
        "migrate" => (
            KEYSPACE | WRITE | SLOW | DANGEROUS,
            &[RW | ACCESS | DELETE, RW | ACCESS | DELETE | INCOMPLETE],
        ),
        "monitor" => (ADMIN | SLOW | DANGEROUS, &[]),
        "move" => (KEYSPACE | WRITE | FAST, &[RW | ACCESS | UPDATE]),
        "mset" => (WRITE | STRING | SLOW, &[OW | UPDATE]),
        "msetnx" => (WRITE | STRING | SLOW, &[OW | INSERT]),
        "multi" => (FAST | TRANSACTION, &[]),
        "object" => (SLOW, &[]),
        "object|help" => (KEYSPACE | SLOW, &[]),
        "object|encoding" | "object|freq" | "object|idletime" | "object|refcount" => {
            (KEYSPACE | READ | SLOW, &[RO])
        }
        "persist" => (KEYSPACE | WRITE | FAST, &[RW | UPDATE]),
        "pfadd" => (WRITE | HYPERLOGLOG | FAST, &[RW | INSERT]),
        "pfcount" => (READ | HYPERLOGLOG | SLOW, &[RW | ACCESS]),
        "pfdebug" => (
            WRITE | HYPERLOGLOG | ADMIN | SLOW | DANGEROUS,
            &[RW | ACCESS],
        ),
        "pfmerge" => (
            WRITE | HYPERLOGLOG | SLOW,
            &[RW | ACCESS | INSERT, RO | ACCESS],
        ),
        "pfselftest" => (HYPERLOGLOG | ADMIN | SLOW | DANGEROUS, &[]),
        "pexpire" => (KEYSPACE | WRITE | FAST, &[RW | UPDATE]),
        "pexpireat" => (KEYSPACE | WRITE | FAST, &[RW | UPDATE]),
        "pexpiretime" => (KEYSPACE | READ | FAST, &[RO | ACCESS]),
        "ping" => (FAST | CONNECTION, &[]),
        "psetex" => (WRITE | STRING | SLOW, &[OW | UPDATE]),
        "psubscribe" => (PUBSUB | SLOW, &[]),
        "pttl" => (KEYSPACE | READ | FAST, &[RO | ACCESS]),
        "publish" => (PUBSUB | FAST, &[]),
        "pubsub" => (SLOW, &[]),
        "pubsub|channels" => (PUBSUB | SLOW, &[]),
        "pubsub|help" => (SLOW, &[]),
        "pubsub|numpat" => (PUBSUB | SLOW, &[]),
        "pubsub|numsub" => (PUBSUB | SLOW, &[]),
        "pubsub|shardchannels" => (PUBSUB | SLOW, &[]),
        "pubsub|shardnumsub" => (PUBSUB | SLOW, &[]),
        "punsubscribe" => (PUBSUB | SLOW, &[]),
        "quit" => (FAST | CONNECTION, &[]),
        "randomkey" => (KEYSPACE | READ | SLOW, &[]),
        "readonly" => (FAST | CONNECTION, &[]),
        "readwrite" => (FAST | CONNECTION, &[]),
        "rename" => (
            KEYSPACE | WRITE | SLOW,
            &[RW | ACCESS | DELETE, OW | UPDATE],
        ),
        "renamenx" => (
            KEYSPACE | WRITE | FAST,
            &[RW | ACCESS | DELETE, OW | INSERT],
        ),
        "reset" => (FAST | CONNECTION, &[]),
        "restore" => (KEYSPACE | WRITE | SLOW | DANGEROUS, &[OW | UPDATE]),
        "restore-asking" => (KEYSPACE | WRITE | SLOW | DANGEROUS, &[OW | UPDATE]),
        "rpop" => (WRITE | LIST | FAST, &[RW | ACCESS | DELETE]),
        "rpoplpush" => (WRITE | LIST | SLOW, &[RW | ACCESS | DELETE, RW | INSERT]),
        "rpush" => (WRITE | LIST | FAST, &[RW | INSERT]),
        "rpushx" => (WRITE | LIST | FAST, &[RW | INSERT]),
        "sadd" => (WRITE | SET | FAST, &[RW | INSERT]),
        "scan" => (KEYSPACE | READ | SLOW, &[]),
        "scard" => (READ | SET | FAST, &[RO]),
        "script" => (SLOW, &[]),
        "script|exists" => (SLOW | SCRIPTING, &[]),
        "script|flush" => (SLOW | SCRIPTING, &[]),
        "script|help" => (SLOW | SCRIPTING, &[]),
        "script|kill" => (SLOW | SCRIPTING, &[]),
        "script|load" => (SLOW | SCRIPTING, &[]),
        "sdiff" => (READ | SET | SLOW, &[RO | ACCESS]),
        "sdiffstore" => (WRITE | SET | SLOW, &[OW | UPDATE, RO | ACCESS]),
        "select" => (FAST | CONNECTION, &[]),
        "set" => (
            WRITE | STRING | SLOW,
            &[RW | ACCESS | UPDATE | VARIABLE_FLAGS],
        ),
        "setbit" => (WRITE | BITMAP | SLOW, &[RW | ACCESS | UPDATE]),
        "setex" => (WRITE | STRING | SLOW, &[OW | UPDATE]),
        "setnx" => (WRITE | STRING | FAST, &[OW | INSERT]),
        "setrange" => (WRITE | STRING | SLOW, &[RW | UPDATE]),
        "save" => (ADMIN | SLOW | DANGEROUS, &[]),
        "shutdown" => (ADMIN | SLOW | DANGEROUS, &[]),
        "sinter" => (READ | SET | SLOW, &[RO | ACCESS]),
        "sintercard" => (READ | SET | SLOW, &[RO | ACCESS]),
        "sinterstore" => (WRITE | SET | SLOW, &[RW | UPDATE, RO | ACCESS]),
        "sismember" => (READ | SET | FAST, &[RO]),
        "smembers" => (READ | SET | SLOW, &[RO | ACCESS]),
        "smismember" => (READ | SET | FAST, &[RO | ACCESS]),
        "smove" => (WRITE | SET | FAST, &[RW | ACCESS | DELETE, RW | INSERT]),
        "sort" => (
            WRITE | SET | SORTEDSET | LIST | SLOW | DANGEROUS,
            &[RO | ACCESS, RO | ACCESS, OW | UPDATE],
        ),
        "sort_ro" => (
            READ | SET | SORTEDSET | LIST | SLOW | DANGEROUS,
            &[RO | ACCESS, RO | ACCESS],
        ),
        "spop" => (WRITE | SET | FAST, &[RW | ACCESS | DELETE]),
        "spublish" => (PUBSUB | FAST, &[NOT_KEY]),
        "srandmember" => (READ | SET | SLOW, &[RO | ACCESS]),
        "srem" => (WRITE | SET | FAST, &[RW | DELETE]),
        "sscan" => (READ | SET | SLOW, &[RO | ACCESS]),
        "ssubscribe" => (PUBSUB | SLOW, &[NOT_KEY]),
        "strlen" => (READ | STRING | FAST, &[RO]),
        "subscribe" => (PUBSUB | SLOW, &[]),
        "substr" => (READ | STRING | SLOW, &[RO | ACCESS]),
        "sunion" => (READ | SET | SLOW, &[RO | ACCESS]),
        "sunionstore" => (WRITE | SET | SLOW, &[OW | UPDATE, RO | ACCESS]),
        "sunsubscribe" => (PUBSUB | SLOW, &[NOT_KEY]),
        "swapdb" => (KEYSPACE | WRITE | FAST | DANGEROUS, &[]),
        "time" => (FAST, &[]),
        "touch" => (KEYSPACE | READ | FAST, &[RO]),
        "ttl" => (KEYSPACE | READ | FAST, &[RO | ACCESS]),
        "type" => (KEYSPACE | READ | FAST, &[RO]),
        "unlink" => (KEYSPACE | WRITE | FAST, &[RM | DELETE]),
        "unsubscribe" => (PUBSUB | SLOW, &[]),
        "unwatch" => (FAST | TRANSACTION, &[]),
        "watch" => (FAST | TRANSACTION, &[RO]),
        "xack" => (WRITE | STREAM | FAST, &[RW | UPDATE]),
        "xadd" => (WRITE | STREAM | FAST, &[RW | UPDATE]),
        "xautoclaim" => (WRITE | STREAM | FAST, &[RW | DELETE]),
        "xclaim" => (WRITE | STREAM | FAST, &[RW | UPDATE]),
        "xdel" => (WRITE | STREAM | FAST, &[RW | DELETE]),
        "xgroup" => (SLOW, &[]),
        "xgroup|create" => (WRITE | STREAM | SLOW, &[RW | INSERT]),
        "xgroup|createconsumer" => (WRITE | STREAM | SLOW, &[RW | INSERT]),
        "xgroup|delconsumer" => (WRITE | STREAM | SLOW, &[RW | DELETE]),
        "xgroup|destroy" => (WRITE | STREAM | SLOW, &[RW | DELETE]),
        "xgroup|help" => (STREAM | SLOW, &[]),
        "xgroup|setid" => (WRITE | STREAM | SLOW, &[RW | UPDATE]),
        "xinfo" => (SLOW, &[]),
        "xinfo|consumers" | "xinfo|groups" | "xinfo|stream" => {
            (READ | STREAM | SLOW, &[RO | ACCESS])
        }
        "xinfo|help" => (STREAM | SLOW, &[]),
        "xlen" => (READ | STREAM | FAST, &[RO]),
        "xpending" => (READ | STREAM | SLOW, &[RO | ACCESS]),
        "xrange" => (READ | STREAM | SLOW, &[RO | ACCESS]),
        "xread" => (READ | STREAM | SLOW | BLOCKING, &[RO | ACCESS]),
        "xreadgroup" => (WRITE | STREAM | SLOW | BLOCKING, &[RO | ACCESS]),
        "xrevrange" => (READ | STREAM | SLOW, &[RO | ACCESS]),
        "xsetid" => (WRITE | STREAM | FAST, &[RW | UPDATE]),
        "xtrim" => (WRITE | STREAM | SLOW, &[RW | DELETE]),
        "zadd" => (WRITE | SORTEDSET | FAST, &[RW | UPDATE]),
        "zcard" => (READ | SORTEDSET | FAST, &[RO]),
        "zcount" => (READ | SORTEDSET | FAST, &[RO | ACCESS]),
        "zdiff" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zdiffstore" => (WRITE | SORTEDSET | SLOW, &[OW | UPDATE, RO | ACCESS]),
        "zincrby" => (WRITE | SORTEDSET | FAST, &[RW | ACCESS | UPDATE]),
        "zinter" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zintercard" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zinterstore" => (WRITE | SORTEDSET | SLOW, &[OW | UPDATE, RO | ACCESS]),
        "zlexcount" => (READ | SORTEDSET | FAST, &[RO | ACCESS]),
        "zmpop" => (WRITE | SORTEDSET | SLOW, &[RW | ACCESS | DELETE]),
        "zmscore" => (READ | SORTEDSET | FAST, &[RO | ACCESS]),
        "zpopmax" => (WRITE | SORTEDSET | FAST, &[RW | ACCESS | DELETE]),
        "zpopmin" => (WRITE | SORTEDSET | FAST, &[RW | ACCESS | DELETE]),
        "zrandmember" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zrange" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zrangebylex" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zrangebyscore" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zrangestore" => (WRITE | SORTEDSET | SLOW, &[OW | UPDATE, RO | ACCESS]),
        "zrank" => (READ | SORTEDSET | FAST, &[RO | ACCESS]),
        "zrem" => (WRITE | SORTEDSET | FAST, &[RW | DELETE]),
        "zremrangebylex" => (WRITE | SORTEDSET | SLOW, &[RW | DELETE]),
        "zremrangebyrank" => (WRITE | SORTEDSET | SLOW, &[RW | DELETE]),
        "zremrangebyscore" => (WRITE | SORTEDSET | SLOW, &[RW | DELETE]),
        "zrevrange" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zrevrangebylex" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zrevrangebyscore" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zrevrank" => (READ | SORTEDSET | FAST, &[RO | ACCESS]),
        "zscan" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zscore" => (READ | SORTEDSET | FAST, &[RO | ACCESS]),
        "zunion" => (READ | SORTEDSET | SLOW, &[RO | ACCESS]),
        "zunionstore" => (WRITE | SORTEDSET | SLOW, &[OW | UPDATE, RO | ACCESS]),
        _ => (0, &[]),
    }
}

/// The flags of the key at `nth` place (0-based) among the keys of
/// `argv`, a call of command `name` whose key specs are `specs`: the spec
/// at that place, the last spec for keys past them (a range of keys is one
/// spec); SORT's second key is its STORE; MIGRATE's keys all take its first
/// spec; SET and BITFIELD's flags depend on their options, as Redis
/// resolves them.
pub fn key_flags(name: &str, specs: &[u16], argv: &[&[u8]], nth: usize) -> u16 {
    use key::*;
    // A container's keys (OBJECT ENCODING k, MEMORY USAGE k) take its
    // subcommand's specs.
    let specs = match (specs, argv.get(1)) {
        ([], Some(sub)) => {
            of(&format!(
                "{name}|{}",
                String::from_utf8_lossy(sub).to_ascii_lowercase()
            ))
            .1
        }
        _ => specs,
    };
    // SET's options come after its value (`SET k get` sets "get").
    let set_has = |word: &[u8]| argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(word));
    let f = match name {
        "set" if set_has(b"get") => RW | ACCESS | UPDATE,
        "set" => OW | UPDATE,
        "bitfield" => {
            let writes = argv
                .iter()
                .skip(2)
                .any(|a| a.eq_ignore_ascii_case(b"set") || a.eq_ignore_ascii_case(b"incrby"));
            if writes {
                RW | ACCESS | UPDATE
            } else {
                RO | ACCESS
            }
        }
        "sort" | "sort_ro" if nth > 0 => specs.last().copied().unwrap_or(OW | UPDATE),
        // MIGRATE's keys, argument 3 or those after KEYS, all read as its
        // first spec (Redis finds them by a procedure, not the specs).
        "migrate" => specs.first().copied().unwrap_or(RW | ACCESS | DELETE),
        _ => specs
            .get(nth)
            .or_else(|| specs.last())
            .copied()
            .unwrap_or(RW | ACCESS | UPDATE),
    };
    f & !VARIABLE_FLAGS
}
