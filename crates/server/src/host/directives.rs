//! The rest of Redis 7.0's config directives: the ones `config.rs` does not
//! handle itself, each with its type, Redis 7.0's default, whether CONFIG SET
//! may change it, and whether Tessera acts on it.
//!
//! A directive Tessera has nothing to act on yet is still checked as Redis
//! checks it (a bad value is refused with Redis's reason), kept in the
//! settings' list of other values, shown by CONFIG GET in Redis's form, and
//! named in the one warning line the server logs at start. Keeping them is
//! what lets a user's redis.conf load unchanged.
//!
//! Persistence and replication directives (save, dir, aof-*, rdb*, ...) are
//! not here: `config.rs` keeps what it had for them, and the persistence
//! work makes them real. Of the `repl-*`/`replica-*`/`master*` ones below,
//! the replica's side of replication acts on those marked so; the rest are
//! here because Debian's stock redis.conf or Redis's test-suite config sets
//! them.

/// How a directive's value is read and shown.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` or `no`.
    Bool,
    /// An integer in an inclusive range.
    Int(i64, i64),
    /// A memory value (`1mb`, `64k`, bytes), at least 0; shown in bytes.
    Mem,
    /// One word of a fixed list, any case; shown in lower case.
    Enum(&'static [&'static str]),
    /// Any combination of words of a fixed list (SHUTDOWN's flags).
    Flags(&'static [&'static str]),
    /// Any string.
    Str,
    /// An octal file mode (`unixsocketperm`).
    Octal,
    /// `oom-score-adj-values`: three integers in -2000..=2000.
    OomValues,
    /// `latency-tracking-info-percentiles`: numbers in 0..=100.
    Percentiles,
    /// `client-output-buffer-limit`: class hard soft seconds, repeated.
    OutputLimits,
}

/// One directive.
pub struct Directive {
    pub name: &'static str,
    /// The older name Redis also answers to (CONFIG GET shows both).
    pub alias: Option<&'static str>,
    pub kind: Kind,
    /// Redis 7.0's default, in CONFIG GET's form.
    pub default: &'static str,
    /// CONFIG SET refuses it ("can't set immutable config"); a file may set it.
    pub immutable: bool,
    /// Tessera acts on it (so it is not named in the start-up warning).
    pub acted_on: bool,
}

const fn d(name: &'static str, kind: Kind, default: &'static str) -> Directive {
    Directive {
        name,
        alias: None,
        kind,
        default,
        immutable: false,
        acted_on: false,
    }
}

impl Directive {
    const fn fixed(mut self) -> Self {
        self.immutable = true;
        self
    }
    const fn real(mut self) -> Self {
        self.acted_on = true;
        self
    }
    const fn alias(mut self, a: &'static str) -> Self {
        self.alias = Some(a);
        self
    }
}

use Kind::*;

const I32: i64 = i32::MAX as i64;
const I32_MIN: i64 = i32::MIN as i64;
const I64: i64 = i64::MAX;
const YES_NO_LOCAL: &[&str] = &["no", "yes", "local"];
const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];

/// The directives, in no particular order.
pub static DIRECTIVES: &[Directive] = &[
    // Process and logging (host/ acts on these).
    d("daemonize", Bool, "no").fixed().real(),
    d("pidfile", Str, "").fixed().real(),
    d("logfile", Str, "").fixed().real(),
    d("syslog-enabled", Bool, "no").fixed().real(),
    d("syslog-ident", Str, "redis").fixed().real(),
    d(
        "syslog-facility",
        Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        "local0",
    )
    .fixed()
    .real(),
    d("always-show-logo", Bool, "no").fixed().real(),
    d(
        "client-output-buffer-limit",
        OutputLimits,
        OUTPUT_LIMITS_DEFAULT,
    )
    .real(),
    d(
        "supervised",
        Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
    )
    .fixed(),
    d("set-proc-title", Bool, "yes").fixed(),
    d(
        "proc-title-template",
        Str,
        "{title} {listen-addr} {server-mode}",
    ),
    d("crash-log-enabled", Bool, "yes"),
    d("crash-memcheck-enabled", Bool, "yes"),
    d("disable-thp", Bool, "yes").fixed(),
    d(
        "oom-score-adj",
        Enum(&["no", "yes", "relative", "absolute"]),
        "no",
    ),
    d("oom-score-adj-values", OomValues, "0 200 800"),
    d("shutdown-on-sigint", Flags(SHUTDOWN_FLAGS), "default"),
    d("shutdown-on-sigterm", Flags(SHUTDOWN_FLAGS), "default"),
    d("shutdown-timeout", Int(0, I32), "10"),
    d("ignore-warnings", Str, ""),
    d("server_cpulist", Str, "").fixed(),
    d("bio_cpulist", Str, "").fixed(),
    d("aof_rewrite_cpulist", Str, "").fixed(),
    d("bgsave_cpulist", Str, "").fixed(),
    // Network.
    d("protected-mode", Bool, "yes"),
    d("tcp-backlog", Int(0, I32), "511").fixed(),
    d("tcp-keepalive", Int(0, I32), "300"),
    d("unixsocket", Str, "").fixed(),
    d("unixsocketperm", Octal, "0").fixed(),
    d("bind-source-addr", Str, ""),
    d("socket-mark-id", Int(0, u32::MAX as i64), "0").fixed(),
    d("io-threads", Int(1, 128), "1").fixed(),
    d("io-threads-do-reads", Bool, "no").fixed(),
    // Security and commands.
    d("enable-protected-configs", Enum(YES_NO_LOCAL), "no").fixed(),
    d("enable-debug-command", Enum(YES_NO_LOCAL), "no").fixed(),
    d("enable-module-command", Enum(YES_NO_LOCAL), "no").fixed(),
    d(
        "sanitize-dump-payload",
        Enum(&["no", "yes", "clients"]),
        "no",
    ),
    d("acllog-max-len", Int(0, I64), "128").real(),
    d(
        "acl-pubsub-default",
        Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
    ),
    d("aclfile", Str, "").fixed(),
    d(
        "propagation-error-behavior",
        Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
    ),
    // Memory, expiry, encodings, housekeeping.
    d("activerehashing", Bool, "yes"),
    d("dynamic-hz", Bool, "yes"),
    d("active-expire-effort", Int(1, 10), "1"),
    d("maxmemory-eviction-tenacity", Int(0, 100), "10"),
    d("lazyfree-lazy-eviction", Bool, "no"),
    d("lazyfree-lazy-expire", Bool, "no"),
    d("lazyfree-lazy-server-del", Bool, "no"),
    d("lazyfree-lazy-user-del", Bool, "no"),
    d("lazyfree-lazy-user-flush", Bool, "no"),
    d("list-compress-depth", Int(0, I32), "0"),
    d("hll-sparse-max-bytes", Mem, "3000").real(),
    d("stream-node-max-bytes", Mem, "4096").real(),
    d("stream-node-max-entries", Int(0, I64), "100").real(),
    d("tracking-table-max-keys", Int(0, I64), "1000000").real(),
    d("activedefrag", Bool, "no"),
    d("active-defrag-ignore-bytes", Mem, "104857600"),
    d("active-defrag-threshold-lower", Int(0, 1000), "10"),
    d("active-defrag-threshold-upper", Int(0, 1000), "100"),
    d("active-defrag-cycle-min", Int(1, 99), "1"),
    d("active-defrag-cycle-max", Int(1, 99), "25"),
    d("active-defrag-max-scan-fields", Int(1, I64), "1000"),
    d("jemalloc-bg-thread", Bool, "yes"),
    // Monitoring.
    d("slowlog-log-slower-than", Int(-1, I64), "10000").real(),
    d("slowlog-max-len", Int(0, I64), "128").real(),
    d("latency-monitor-threshold", Int(0, I64), "0").real(),
    d("latency-tracking", Bool, "yes").real(),
    d(
        "latency-tracking-info-percentiles",
        Percentiles,
        "50 99 99.9",
    )
    .real(),
    // Cluster mode (`features::cluster`).
    d("cluster-enabled", Bool, "no").fixed().real(),
    d("cluster-config-file", Str, "nodes.conf").fixed().real(),
    d("cluster-port", Int(0, 65535), "0").fixed().real(),
    d("cluster-node-timeout", Int(0, I64), "15000").real(),
    d("cluster-announce-ip", Str, "").real(),
    d("cluster-announce-hostname", Str, "").real(),
    d("cluster-announce-port", Int(0, 65535), "0").real(),
    d("cluster-announce-bus-port", Int(0, 65535), "0").real(),
    d("cluster-announce-tls-port", Int(0, 65535), "0"),
    d("cluster-replica-validity-factor", Int(0, I32), "10")
        .alias("cluster-slave-validity-factor")
        .real(),
    d("cluster-migration-barrier", Int(0, I32), "1"),
    d("cluster-allow-replica-migration", Bool, "yes").real(),
    d("cluster-require-full-coverage", Bool, "yes").real(),
    d("cluster-replica-no-failover", Bool, "no")
        .alias("cluster-slave-no-failover")
        .real(),
    d("cluster-allow-reads-when-down", Bool, "no").real(),
    d("cluster-allow-pubsubshard-when-down", Bool, "yes"),
    d("cluster-link-sendbuf-limit", Mem, "0"),
    d(
        "cluster-preferred-endpoint-type",
        Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
    ),
    // TLS (not built).
    d("tls-port", Int(0, 65535), "0"),
    d("tls-cert-file", Str, ""),
    d("tls-key-file", Str, ""),
    d("tls-key-file-pass", Str, ""),
    d("tls-client-cert-file", Str, ""),
    d("tls-client-key-file", Str, ""),
    d("tls-client-key-file-pass", Str, ""),
    d("tls-dh-params-file", Str, ""),
    d("tls-ca-cert-file", Str, ""),
    d("tls-ca-cert-dir", Str, ""),
    d("tls-auth-clients", Enum(&["no", "yes", "optional"]), "yes"),
    d("tls-replication", Bool, "no"),
    d("tls-cluster", Bool, "no"),
    d("tls-protocols", Str, ""),
    d("tls-ciphers", Str, ""),
    d("tls-ciphersuites", Str, ""),
    d("tls-prefer-server-ciphers", Bool, "no"),
    d("tls-session-caching", Bool, "yes"),
    d("tls-session-cache-size", Int(0, I32), "20480"),
    d("tls-session-cache-timeout", Int(0, I32), "300"),
    // Replication directives.
    d("repl-diskless-sync-delay", Int(0, I32), "5"),
    d("repl-diskless-sync-max-replicas", Int(0, I32), "0"),
    d(
        "repl-diskless-load",
        Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    d("repl-disable-tcp-nodelay", Bool, "no"),
    // Read by the replica's link to its master (`conn/replica.rs`) and by
    // the read-only check (`features/replication.rs`).
    d("replica-serve-stale-data", Bool, "yes")
        .alias("slave-serve-stale-data")
        .real(),
    d("replica-read-only", Bool, "yes")
        .alias("slave-read-only")
        .real(),
    d("masterauth", Str, "").real(),
    d("masteruser", Str, "").real(),
    d("repl-timeout", Int(1, I32), "60").real(),
    d("repl-ping-replica-period", Int(1, I32), "10")
        .alias("repl-ping-slave-period")
        .real(),
    // Read by the master side (`features/master.rs`).
    d("repl-backlog-size", Mem, "1048576").real(),
    d("repl-backlog-ttl", Int(0, I32), "3600"),
    d("min-replicas-to-write", Int(0, I32), "0")
        .alias("min-slaves-to-write")
        .real(),
    d("min-replicas-max-lag", Int(0, I32), "10")
        .alias("min-slaves-max-lag")
        .real(),
    // Redis's test hooks: a pause per key saved or loaded (microseconds,
    // `features/persist.rs`).
    d("rdb-key-save-delay", Int(I32_MIN, I32), "0").real(),
    d("key-load-delay", Int(I32_MIN, I32), "0").real(),
    d(
        "loading-process-events-interval-bytes",
        Int(1024, I32),
        "2097152",
    ),
    d("replica-priority", Int(0, I32), "100")
        .alias("slave-priority")
        .real(),
];

/// Redis's memory units: `1k` = 1000, `1kb` = 1024, likewise m/mb, g/gb.
pub fn parse_memory(s: &str) -> Option<usize> {
    let l = s.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1usize << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| l.strip_suffix(suf).map(|n| (n.to_string(), *m)))
    .unwrap_or((l.clone(), 1));
    let n: i64 = num.parse().ok()?;
    usize::try_from(n).ok()?.checked_mul(mul)
}

/// `client-output-buffer-limit`'s default, as CONFIG GET shows it.
pub const OUTPUT_LIMITS_DEFAULT: &str =
    "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";

/// The directive `name` (or its alias) names, any case.
pub fn find(name: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| {
        d.name.eq_ignore_ascii_case(name) || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

fn int(v: &str, lo: i64, hi: i64) -> Result<i64, String> {
    let n: i64 = v
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(format!("argument must be between {lo} and {hi} inclusive"))
    }
}

/// Checks `args` as Redis checks this directive's value and returns the
/// value in CONFIG GET's form; `current` is the value now (a
/// `client-output-buffer-limit` line changes only the classes it names).
/// Errors are Redis's reasons.
pub fn parse(d: &Directive, args: &[&str], current: &str) -> Result<String, String> {
    let one = || match args {
        [v] => Ok(*v),
        _ => Err("wrong number of arguments".to_string()),
    };
    Ok(match d.kind {
        Bool => match one()?.to_ascii_lowercase().as_str() {
            "yes" => "yes".into(),
            "no" => "no".into(),
            _ => return Err("argument must be 'yes' or 'no'".into()),
        },
        Int(lo, hi) => int(one()?, lo, hi)?.to_string(),
        Mem => {
            let v = one()?;
            let n = parse_memory(v).ok_or("argument must be a memory value")?;
            i64::try_from(n)
                .map_err(|_| "argument must be a memory value".to_string())?
                .to_string()
        }
        Enum(names) => {
            let v = one()?.to_ascii_lowercase();
            if !names.contains(&v.as_str()) {
                return Err(format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                ));
            }
            // Two names for one value: Redis shows the first.
            if d.name == "oom-score-adj" && v == "relative" {
                "yes".into()
            } else {
                v
            }
        }
        Flags(names) => {
            let words: Vec<String> = args
                .iter()
                .flat_map(|a| a.split_whitespace())
                .map(str::to_ascii_lowercase)
                .collect();
            if words.is_empty() || words.iter().any(|w| !names.contains(&w.as_str())) {
                return Err(format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                ));
            }
            // Shown in the list's order, each once.
            let shown: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| words.iter().any(|w| w == n))
                .collect();
            shown.join(" ")
        }
        Str => one()?.to_string(),
        Octal => {
            let v = one()?;
            let n = u32::from_str_radix(v, 8)
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            format!("{n:o}")
        }
        OomValues => {
            let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
            if words.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let mut vals = Vec::with_capacity(3);
            for w in words {
                let n: i64 = w.parse().map_err(|_| "Invalid oom-score-adj-values")?;
                if !(-2000..=2000).contains(&n) {
                    return Err("Invalid oom-score-adj-values".into());
                }
                vals.push(n.to_string());
            }
            vals.join(" ")
        }
        Percentiles => {
            let mut vals = Vec::new();
            for w in args.iter().flat_map(|a| a.split_whitespace()) {
                let p: f64 = w
                    .parse()
                    .map_err(|_| "Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                            .into(),
                    );
                }
                vals.push(p.to_string());
            }
            vals.join(" ")
        }
        OutputLimits => {
            let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
            OutputLimits::parse(current)
                .unwrap_or_default()
                .with(&words)?
                .to_string()
        }
    })
}

/// One client class's output-buffer limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// `client-output-buffer-limit` for the three classes Redis configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: Limit,
    pub replica: Limit,
    pub pubsub: Limit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            normal: Limit::default(),
            replica: Limit {
                hard: 256 << 20,
                soft: 64 << 20,
                soft_seconds: 60,
            },
            pubsub: Limit {
                hard: 32 << 20,
                soft: 8 << 20,
                soft_seconds: 60,
            },
        }
    }
}

impl OutputLimits {
    /// Reads CONFIG GET's form (or a directive's words).
    pub fn parse(s: &str) -> Option<OutputLimits> {
        let words: Vec<&str> = s.split_whitespace().collect();
        OutputLimits::default().with(&words).ok()
    }

    /// These limits with the classes `words` names replaced; Redis's
    /// reasons when the words are not whole `class hard soft seconds` groups.
    pub fn with(mut self, words: &[&str]) -> Result<OutputLimits, String> {
        if words.is_empty() || words.len() % 4 != 0 {
            return Err("Wrong number of arguments in buffer limit configuration.".into());
        }
        for group in words.chunks_exact(4) {
            let slot = match group[0].to_ascii_lowercase().as_str() {
                "normal" => &mut self.normal,
                "slave" | "replica" => &mut self.replica,
                "pubsub" => &mut self.pubsub,
                _ => {
                    return Err(
                        "Invalid client class specified in buffer limit configuration.".into(),
                    )
                }
            };
            let bad =
                || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            let hard = parse_memory(group[1]).ok_or_else(bad)? as u64;
            let soft = parse_memory(group[2]).ok_or_else(bad)? as u64;
            let soft_seconds: u64 = group[3].parse().map_err(|_| bad())?;
            *slot = Limit {
                hard,
                soft,
                soft_seconds,
            };
        }
        Ok(self)
    }
}

impl std::fmt::Display for OutputLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (name, l) in [
            ("normal", self.normal),
            ("slave", self.replica),
            ("pubsub", self.pubsub),
        ] {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{name} {} {} {}", l.hard, l.soft, l.soft_seconds)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, args: &[&str]) -> Result<String, String> {
        let d = find(name).expect("known directive");
        parse(d, args, d.default)
    }

    #[test]
    fn values_are_checked_and_shown_as_redis_shows_them() {
        assert_eq!(set("activerehashing", &["YES"]), Ok("yes".into()));
        assert_eq!(
            set("activerehashing", &["maybe"]),
            Err("argument must be 'yes' or 'no'".into())
        );
        assert_eq!(
            set("active-expire-effort", &["11"]),
            Err("argument must be between 1 and 10 inclusive".into())
        );
        assert_eq!(set("hll-sparse-max-bytes", &["3kb"]), Ok("3072".into()));
        assert_eq!(
            set("oom-score-adj", &["bogus"]),
            Err("argument(s) must be one of the following: no, yes, relative, absolute".into())
        );
        assert_eq!(
            set("shutdown-on-sigterm", &["now save"]),
            Ok("save now".into())
        );
        assert_eq!(set("unixsocketperm", &["700"]), Ok("700".into()));
        assert_eq!(set("slave-read-only", &["no"]), Ok("no".into()));
    }

    #[test]
    fn output_buffer_limits_change_only_the_named_class() {
        let d = find("client-output-buffer-limit").expect("known");
        assert_eq!(
            parse(d, &["pubsub", "64mb", "16mb", "30"], OUTPUT_LIMITS_DEFAULT),
            Ok("normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30".into())
        );
        assert_eq!(
            parse(d, &["replica 1mb 1mb 0"], OUTPUT_LIMITS_DEFAULT),
            Ok("normal 0 0 0 slave 1048576 1048576 0 pubsub 33554432 8388608 60".into())
        );
        assert!(parse(d, &["master", "0", "0", "0"], OUTPUT_LIMITS_DEFAULT).is_err());
        assert!(parse(d, &["normal", "0", "0"], OUTPUT_LIMITS_DEFAULT).is_err());
    }
}
