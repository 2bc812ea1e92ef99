//! Settings: command-line flags, the redis.conf-syntax file, and the live
//! values CONFIG GET/SET read and change.
//!
//! Flags override the file. Live values are atomics (or a lock read only at
//! AUTH and accept), so reading them never costs a command a lock.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;

use clap::Parser;
use storage::evict;

use crate::host::directives;

/// Command-line flags.
#[derive(Parser, Debug, Default)]
#[command(
    name = "tessera-server",
    version,
    about = "A Redis-compatible thread-per-core server"
)]
pub struct Flags {
    /// TCP port to listen on (default 6379).
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long)]
    pub bind: Option<String>,
    /// Reactor threads, one shard each (default: the CPUs this process may use).
    #[arg(long)]
    pub threads: Option<usize>,
    /// A config file in redis.conf syntax.
    #[arg(long)]
    pub config: Option<String>,
    /// debug, verbose, notice or warning.
    #[arg(long)]
    pub loglevel: Option<String>,
    /// Password clients must AUTH with.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Number of databases (default 16).
    #[arg(long)]
    pub databases: Option<usize>,
    /// Maximum simultaneous clients (default 10000).
    #[arg(long)]
    pub maxclients: Option<usize>,
    /// Pin each reactor thread to its own CPU: yes or no (default no).
    #[arg(long, value_name = "yes|no")]
    pub pin_threads: Option<String>,
}

/// Settings fixed at startup plus the initial live values.
#[derive(Debug, Clone)]
pub struct Config {
    pub port: u16,
    pub bind: String,
    pub threads: usize,
    pub databases: usize,
    pub requirepass: Option<String>,
    pub maxclients: usize,
    /// Pin reactor thread i to the i-th CPU this process may use. Off by
    /// default: measured on a 2-core machine with the load generator beside
    /// the server (redis-benchmark -c 50, --threads 2), pinning cost 15-30%
    /// more server CPU per request, because the kernel can no longer move a
    /// reactor off the core the client needs. Turn it on where the server
    /// has its cores to itself.
    pub pin_threads: bool,
    pub timeout: usize,
    pub loglevel: String,
    pub proto_max_bulk_len: usize,
    pub client_query_buffer_limit: usize,
    pub hz: usize,
    /// `notify-keyspace-events`, as `storage::notify` bits.
    pub notify_keyspace_events: u32,
    pub config_file: Option<String>,
    /// Inert options the file set (see `INERT`) and the values of the
    /// directives of `host::directives` the file set, echoed by CONFIG GET.
    pub inert: Vec<(String, String)>,
    /// Names of the directives the file set that are kept, not acted on
    /// (or acted on: `directives::Directive::acted_on` tells), in order.
    pub set_in_file: Vec<String>,
    /// `user name rule...` lines, for the ACL feature.
    pub users: Vec<Vec<String>>,
    /// `replicaof host port`: follow that master from the start.
    pub replicaof: Option<(String, u16)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 6379,
            bind: "127.0.0.1".into(),
            threads: 0,
            databases: 16,
            requirepass: None,
            maxclients: 10000,
            pin_threads: false,
            timeout: 0,
            loglevel: "notice".into(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            hz: 10,
            notify_keyspace_events: 0,
            config_file: None,
            inert: Vec::new(),
            set_in_file: Vec::new(),
            users: Vec::new(),
            replicaof: None,
        }
    }
}

pub use crate::host::directives::parse_memory;

fn parse_yes_no(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

/// Redis 7.0's log levels (`nothing` came in 7.2).
fn parse_loglevel(s: &str) -> Option<String> {
    let l = s.to_ascii_lowercase();
    matches!(l.as_str(), "debug" | "verbose" | "notice" | "warning").then_some(l)
}

/// Options accepted in a config file and by CONFIG SET that Tessera does not
/// act on yet, with Redis 7.0's defaults; CONFIG GET echoes what was set.
/// Not yet every directive of Redis 7.0's redis.conf is here, so a stock
/// redis.conf does not load unchanged yet.
const INERT: &[(&str, &str)] = &[
    // Read by the ACL feature (`features/acl.rs`), at start and after
    // CONFIG SET.
    ("aclfile", ""),
    ("acllog-max-len", "128"),
    ("acl-pubsub-default", "resetchannels"),
    ("daemonize", "no"),
    ("save", "3600 1 300 100 60 10000"),
    ("appendonly", "no"),
    ("appendfsync", "everysec"),
    ("dbfilename", "dump.rdb"),
    ("dir", "."),
    ("logfile", ""),
    ("pidfile", ""),
    ("protected-mode", "no"),
    ("tcp-backlog", "511"),
    ("tcp-keepalive", "300"),
    ("supervised", "no"),
    ("always-show-logo", "no"),
    ("stop-writes-on-bgsave-error", "yes"),
    ("rdbcompression", "yes"),
    ("rdbchecksum", "yes"),
    ("maxmemory-eviction-tenacity", "10"),
    ("maxmemory-clients", "0"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-server-del", "no"),
    ("replica-lazy-flush", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("io-threads", "1"),
    ("slowlog-log-slower-than", "10000"),
    ("slowlog-max-len", "128"),
    ("latency-monitor-threshold", "0"),
    ("list-compress-depth", "0"),
    ("activerehashing", "yes"),
    ("dynamic-hz", "yes"),
    ("aof-rewrite-incremental-fsync", "yes"),
    ("rdb-save-incremental-fsync", "yes"),
    ("enable-debug-command", "no"),
    ("appendfilename", "appendonly.aof"),
    // The AOF's tuning: no effect while `appendonly` is no, in Redis too.
    ("appenddirname", "appendonlydir"),
    ("no-appendfsync-on-rewrite", "no"),
    ("auto-aof-rewrite-percentage", "100"),
    ("auto-aof-rewrite-min-size", "67108864"),
    ("aof-load-truncated", "yes"),
    ("aof-use-rdb-preamble", "yes"),
    ("aof-timestamp-enabled", "no"),
    ("rdb-del-sync-files", "no"),
    ("activedefrag", "no"),
    ("jemalloc-bg-thread", "yes"),
    ("lua-time-limit", "5000"),
    ("busy-reply-threshold", "5000"),
    ("repl-diskless-sync", "yes"),
    ("latency-tracking", "yes"),
];

/// Why a `notify-keyspace-events` value was refused.
const NOTIFY_CLASSES: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// A setting's name and how to read its current value.
type Setting = (&'static str, fn() -> String);

/// The eviction settings, which live in `storage::evict` because every
/// shard reads them on every access.
const EVICTION: [Setting; 5] = [
    ("maxmemory", || evict::maxmemory().to_string()),
    ("maxmemory-policy", || evict::policy().name().into()),
    ("maxmemory-samples", || evict::samples_setting().to_string()),
    ("lfu-log-factor", || evict::lfu_log_factor().to_string()),
    ("lfu-decay-time", || evict::lfu_decay_time().to_string()),
];

fn is_eviction(name: &str) -> bool {
    EVICTION.iter().any(|(n, _)| *n == name)
}

/// Sets one of [`EVICTION`]; the error is Redis's reason.
fn set_eviction(name: &str, value: &str) -> Result<(), String> {
    let int = |lo: u32, hi: u32| -> Result<u32, String> {
        let n: i64 = value
            .parse()
            .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
        u32::try_from(n)
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| format!("argument must be between {lo} and {hi} inclusive"))
    };
    match name {
        "maxmemory" => evict::set_maxmemory(
            parse_memory(value).ok_or("argument must be a memory value")? as u64,
        ),
        "maxmemory-policy" => {
            let p = evict::Policy::from_name(value).ok_or_else(|| {
                let names: Vec<&str> = evict::Policy::ALL.iter().map(|&(_, n)| n).collect();
                format!(
                    "argument(s) must be one of the following: {}",
                    names.join(", ")
                )
            })?;
            evict::set_policy(p);
        }
        "maxmemory-samples" => evict::set_samples(int(1, i32::MAX as u32)?),
        "lfu-log-factor" => evict::set_lfu_log_factor(int(0, i32::MAX as u32)?),
        "lfu-decay-time" => evict::set_lfu_decay_time(int(0, i32::MAX as u32)?),
        _ => return Err("unknown eviction setting".into()),
    }
    Ok(())
}

/// The eviction settings' current values, for CONFIG GET.
fn eviction_settings() -> impl Iterator<Item = (String, String)> {
    EVICTION.iter().map(|(n, get)| (n.to_string(), get()))
}

fn is_inert(name: &str) -> bool {
    INERT.iter().any(|(n, _)| *n == name)
}

/// Settings of [`INERT`] that Redis refuses to change at run time
/// (IMMUTABLE_CONFIG there): a config file may set them, CONFIG SET may not.
const IMMUTABLE_INERT: &[&str] = &[
    "aclfile",
    "daemonize",
    "supervised",
    "pidfile",
    "logfile",
    "io-threads",
    "always-show-logo",
    "appendfilename",
    "appenddirname",
    "enable-debug-command",
    "tcp-backlog",
];

/// Settings fixed for the life of the process here. Redis can rebind `port`
/// and `bind` at run time; Tessera's listeners are per thread and are not
/// rebuilt, so CONFIG SET accepts only the value they already have (which
/// lets a client write back what CONFIG GET showed). `threads` and
/// `pin-threads` are Tessera's own.
const FIXED: &[&str] = &["port", "bind", "threads", "pin-threads"];

impl Config {
    /// Applies one `name value...` directive. Errors are Redis's wording.
    pub fn apply(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        let one = || -> Result<&String, String> {
            if args.len() == 1 {
                Ok(&args[0])
            } else {
                Err("wrong number of arguments".into())
            }
        };
        let num = |v: &String| -> Result<usize, String> {
            v.parse::<usize>()
                .map_err(|_| format!("argument couldn't be parsed into an integer: '{v}'"))
        };
        let mem = |v: &String| {
            parse_memory(v).ok_or_else(|| format!("argument must be a memory value: '{v}'"))
        };
        match name.as_str() {
            "port" => self.port = one()?.parse().map_err(|_| "Invalid port".to_string())?,
            "bind" => {
                if args.is_empty() {
                    return Err("wrong number of arguments".into());
                }
                // Tessera listens on one address: the first.
                self.bind = args[0].trim_start_matches('-').to_string();
            }
            "threads" => self.threads = num(one()?)?,
            "databases" => {
                let n = num(one()?)?;
                if n < 1 {
                    return Err("Invalid number of databases".into());
                }
                self.databases = n;
            }
            "requirepass" => {
                let p = one()?;
                self.requirepass = if p.is_empty() { None } else { Some(p.clone()) };
            }
            "maxclients" => self.maxclients = num(one()?)?.max(1),
            "user" if !args.is_empty() => self.users.push(args.to_vec()),
            "replicaof" | "slaveof" => {
                let [host, port] = args else {
                    return Err("wrong number of arguments".into());
                };
                let port = port
                    .parse::<u16>()
                    .map_err(|_| "Invalid master port".to_string())?;
                self.replicaof = Some((host.clone(), port));
            }
            "pin-threads" => self.pin_threads = parse_yes_no(one()?)?,
            "timeout" => self.timeout = num(one()?)?,
            "loglevel" => {
                self.loglevel = parse_loglevel(one()?).ok_or(
                    "argument(s) must be one of the following: debug, verbose, notice, warning",
                )?
            }
            "proto-max-bulk-len" => self.proto_max_bulk_len = mem(one()?)?.max(1024 * 1024),
            "client-query-buffer-limit" => {
                self.client_query_buffer_limit = mem(one()?)?.max(1024 * 1024)
            }
            "hz" => self.hz = num(one()?)?.clamp(1, 500),
            "notify-keyspace-events" => {
                self.notify_keyspace_events =
                    storage::notify::parse(one()?).ok_or(NOTIFY_CLASSES)?
            }
            n if storage::limits::find(n).is_some() => {
                let v = one()?;
                if let Some(r) = storage::limits::set_by_name(n, v) {
                    r?;
                }
            }
            n if is_eviction(n) => set_eviction(n, one()?)?,
            // Each `save` line adds a point; the file's first one replaces
            // the defaults, and `save ""` clears them all (as Redis).
            "save" => {
                let points = parse_save_points(&args.join(" "))?;
                let v = match self.inert.iter().find(|(k, _)| k == "save") {
                    Some((_, old)) if !points.is_empty() && !old.is_empty() => {
                        format!("{old} {}", args.join(" "))
                    }
                    _ => args.join(" ").trim_matches('"').to_string(),
                };
                let v = if points.is_empty() { String::new() } else { v };
                match self.inert.iter_mut().find(|(k, _)| k == "save") {
                    Some(e) => e.1 = v,
                    None => self.inert.push(("save".into(), v)),
                }
            }
            n if directives::find(n).is_some() => {
                let Some(d) = directives::find(n) else {
                    return Ok(());
                };
                let words: Vec<&str> = args.iter().map(String::as_str).collect();
                let v = directives::parse(d, &words, &self.other(d.name))?;
                match self.inert.iter_mut().find(|(k, _)| k == d.name) {
                    Some(e) => e.1 = v,
                    None => self.inert.push((d.name.to_string(), v)),
                }
                if !self.set_in_file.iter().any(|k| k == d.name) {
                    self.set_in_file.push(d.name.to_string());
                }
            }
            n if is_inert(n) => {
                if !self.set_in_file.iter().any(|k| k == n) {
                    self.set_in_file.push(n.to_string());
                }
                let v = args.join(" ");
                match self.inert.iter_mut().find(|(k, _)| k == n) {
                    Some(e) => e.1 = v,
                    None => self.inert.push((n.to_string(), v)),
                }
            }
            _ => return Err("Bad directive or wrong number of arguments".into()),
        }
        Ok(())
    }

    /// Reads a redis.conf-syntax file; the error names the file and line.
    pub fn load_file(&mut self, path: &str) -> Result<(), String> {
        // Kept absolute, as Redis keeps it: the process moves into `dir`
        // (see [`enter_dir`]) and CONFIG REWRITE must still find the file.
        let absolute = std::fs::canonicalize(path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| path.to_string());
        self.read_file(path, 0)?;
        self.config_file = Some(absolute);
        Ok(())
    }

    /// Moves the process into `dir`, as Redis does when it reads the
    /// directive, and keeps `dir` as the absolute path (what Redis's CONFIG
    /// GET dir answers). Every relative path after this (`logfile`,
    /// `pidfile`, `aclfile`, `cluster-config-file`, the dump and the AOF)
    /// is then relative to `dir`, as in Redis.
    pub fn enter_dir(&mut self) -> Result<(), String> {
        let dir = self.other("dir");
        let dir = if dir.is_empty() { ".".to_string() } else { dir };
        let absolute = enter(&dir)?;
        match self.inert.iter_mut().find(|(k, _)| k == "dir") {
            Some(e) => e.1 = absolute,
            None => self.inert.push(("dir".into(), absolute)),
        }
        Ok(())
    }

    /// A directive's value: as set (by the file), else its default.
    pub fn other(&self, name: &str) -> String {
        self.inert
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| directives::find(name).map(|d| d.default.to_string()))
            .or_else(|| {
                INERT
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .unwrap_or_default()
    }

    /// The directives the file set that Tessera keeps but does not act on
    /// yet, for the one warning line at start.
    pub fn inert_in_file(&self) -> Vec<&str> {
        self.set_in_file
            .iter()
            .map(String::as_str)
            .filter(|n| !directives::find(n).is_some_and(|d| d.acted_on))
            .filter(|n| !PERSISTENCE_ACTED_ON.contains(n))
            .collect()
    }

    /// One file, and the files it `include`s (as Redis, at most a few deep).
    fn read_file(&mut self, path: &str, depth: usize) -> Result<(), String> {
        let text = std::fs::read_to_string(Path::new(path))
            .map_err(|e| format!("can't open config file '{path}': {e}"))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_args(line).ok_or_else(|| {
                format!(
                    "config file {path}, line {}: unbalanced quotes in configuration line",
                    i + 1
                )
            })?;
            let Some((name, rest)) = words.split_first() else {
                continue;
            };
            if name.eq_ignore_ascii_case("include") && rest.len() == 1 && depth < 8 {
                self.read_file(&rest[0], depth + 1)?;
                continue;
            }
            self.apply(name, rest)
                .map_err(|e| format!("config file {path}, line {}: {e}: '{line}'", i + 1))?;
        }
        Ok(())
    }

    /// The file first, then the flags over it.
    pub fn from_flags(flags: &Flags) -> Result<Config, String> {
        let mut c = Config::default();
        if let Some(path) = &flags.config {
            c.load_file(path)?;
        }
        if let Some(p) = flags.port {
            c.port = p;
        }
        if let Some(b) = &flags.bind {
            c.bind = b.clone();
        }
        if let Some(t) = flags.threads {
            c.threads = t;
        }
        if let Some(l) = &flags.loglevel {
            c.loglevel = parse_loglevel(l).ok_or_else(|| {
                format!("invalid --loglevel '{l}': use debug, verbose, notice or warning")
            })?;
        }
        if let Some(p) = &flags.requirepass {
            c.requirepass = (!p.is_empty()).then(|| p.clone());
        }
        if let Some(d) = flags.databases {
            if d == 0 {
                return Err("--databases must be at least 1".into());
            }
            c.databases = d;
        }
        if let Some(m) = flags.maxclients {
            c.maxclients = m.max(1);
        }
        if let Some(p) = &flags.pin_threads {
            c.pin_threads =
                parse_yes_no(p).map_err(|e| format!("invalid --pin-threads '{p}': {e}"))?;
        }
        if c.threads == 0 {
            c.threads = crate::host::sys::available_cpus().len().max(1);
        }
        if c.threads > 1024 {
            return Err("--threads must be at most 1024".into());
        }
        Ok(c)
    }
}

/// `chdir` into `dir`; the absolute path of where the process now is.
fn enter(dir: &str) -> Result<String, String> {
    std::env::set_current_dir(dir).map_err(|e| format!("Can't chdir to '{dir}': {e}"))?;
    std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| format!("Can't read the working directory: {e}"))
}

/// Splits a config line like Redis: whitespace, "double" (with escapes) and 'single' quotes.
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let mut args = resp::Args::new();
    let mut input = line.as_bytes().to_vec();
    input.extend_from_slice(b"\r\n");
    match resp::parse_command(&input, &resp::Limits::default(), &mut args) {
        Ok(resp::Status::Complete(_)) => Some(
            (0..args.len())
                .map(|i| String::from_utf8_lossy(args.get(&input, i)).into_owned())
                .collect(),
        ),
        _ => None,
    }
}

/// The values CONFIG GET/SET see while the server runs.
pub struct Runtime {
    pub requirepass: RwLock<Option<String>>,
    pub maxclients: AtomicUsize,
    pub timeout: AtomicUsize,
    pub proto_max_bulk_len: AtomicUsize,
    pub client_query_buffer_limit: AtomicUsize,
    pub hz: AtomicUsize,
    /// `notify-keyspace-events` bits; each thread keeps a copy
    /// (`storage::notify::set_flags`), updated by CONFIG SET.
    pub notify_keyspace_events: AtomicU32,
    pub loglevel: RwLock<String>,
    /// `host port` of the master this server follows, or empty (set by
    /// REPLICAOF; CONFIG GET replicaof shows it).
    pub replicaof: RwLock<String>,
    /// Accepted-but-inert options keep what was set, so CONFIG GET echoes it.
    pub other: RwLock<Vec<(String, String)>>,
    /// The monitoring directives, read per batch (their text is in `other`).
    pub monitoring: Monitoring,
    pub startup: Config,
}

/// The directives that decide what each command's timing is used for,
/// kept as atomics so that reading them costs a load, not a lock.
pub struct Monitoring {
    /// `slowlog-log-slower-than`, in microseconds; negative: no slow log.
    pub slower_than: AtomicI64,
    /// `slowlog-max-len`.
    pub slowlog_max_len: AtomicUsize,
    /// `latency-monitor-threshold`, in milliseconds; 0: no latency events.
    pub latency_threshold: AtomicU64,
    /// `latency-tracking`: per-command latency histograms.
    pub latency_tracking: AtomicBool,
    /// The lower of the two thresholds in clock ticks (`host::clock`):
    /// a command that runs this long is logged or shown as an event.
    /// `u64::MAX` when both are off.
    pub notable_ticks: AtomicU64,
    /// Whether that threshold is high enough (1 ms or more) for a run of
    /// the same fast command to be timed as a whole (`features/slowlog.rs`).
    pub time_runs: AtomicBool,
}

impl Monitoring {
    /// Takes a directive's new value if it is one of these.
    fn take(&self, name: &str, value: &str) {
        let int = || value.trim().parse::<i64>().ok();
        match name {
            "slowlog-log-slower-than" => {
                if let Some(v) = int() {
                    self.slower_than.store(v, Ordering::Relaxed);
                }
            }
            "slowlog-max-len" => {
                if let Some(v) = int() {
                    self.slowlog_max_len
                        .store(v.max(0) as usize, Ordering::Relaxed);
                }
            }
            "latency-monitor-threshold" => {
                if let Some(v) = int() {
                    self.latency_threshold
                        .store(v.max(0) as u64, Ordering::Relaxed);
                }
            }
            "latency-tracking" => self
                .latency_tracking
                .store(value.eq_ignore_ascii_case("yes"), Ordering::Relaxed),
            _ => {}
        }
        let slow = self.slower_than.load(Ordering::Relaxed);
        let slow = u64::try_from(slow).map_or(u64::MAX, crate::host::clock::from_us);
        let latency = match self.latency_threshold.load(Ordering::Relaxed) {
            0 => u64::MAX,
            ms => crate::host::clock::from_us(ms.saturating_mul(1000)),
        };
        let notable = slow.min(latency);
        self.notable_ticks.store(notable, Ordering::Relaxed);
        self.time_runs.store(
            notable >= crate::host::clock::from_us(1000),
            Ordering::Relaxed,
        );
    }
}

impl Runtime {
    pub fn new(c: &Config) -> Runtime {
        Runtime {
            requirepass: RwLock::new(c.requirepass.clone()),
            maxclients: AtomicUsize::new(c.maxclients),
            timeout: AtomicUsize::new(c.timeout),
            proto_max_bulk_len: AtomicUsize::new(c.proto_max_bulk_len),
            client_query_buffer_limit: AtomicUsize::new(c.client_query_buffer_limit),
            hz: AtomicUsize::new(c.hz),
            notify_keyspace_events: AtomicU32::new(c.notify_keyspace_events),
            loglevel: RwLock::new(c.loglevel.clone()),
            replicaof: RwLock::new(
                c.replicaof
                    .as_ref()
                    .map(|(h, p)| format!("{h} {p}"))
                    .unwrap_or_default(),
            ),
            // A name both lists know is the typed directive's.
            other: RwLock::new(
                INERT
                    .iter()
                    .map(|(k, _)| *k)
                    .filter(|k| directives::find(k).is_none())
                    .chain(directives::DIRECTIVES.iter().map(|d| d.name))
                    .map(|k| (k.to_string(), c.other(k)))
                    .collect(),
            ),
            monitoring: {
                let m = Monitoring {
                    slower_than: AtomicI64::new(10_000),
                    slowlog_max_len: AtomicUsize::new(128),
                    latency_threshold: AtomicU64::new(0),
                    latency_tracking: AtomicBool::new(true),
                    notable_ticks: AtomicU64::new(u64::MAX),
                    time_runs: AtomicBool::new(true),
                };
                for name in [
                    "slowlog-log-slower-than",
                    "slowlog-max-len",
                    "latency-monitor-threshold",
                    "latency-tracking",
                ] {
                    m.take(name, &c.other(name));
                }
                m
            },
            startup: c.clone(),
        }
    }

    /// `host port` of the master followed, or empty.
    pub fn replicaof_text(&self) -> String {
        self.replicaof.read().map(|g| g.clone()).unwrap_or_default()
    }

    fn set_inert(&self, name: &str, value: &str) {
        if let Ok(mut o) = self.other.write() {
            match o.iter_mut().find(|(k, _)| *k == name) {
                Some(e) => e.1 = value.to_string(),
                None => o.push((name.to_string(), value.to_string())),
            }
        }
    }

    /// How long a script runs before other clients get `-BUSY`
    /// (`busy-reply-threshold`, alias `lua-time-limit`), in ms.
    pub fn busy_reply_threshold(&self) -> u64 {
        self.other
            .read()
            .ok()
            .and_then(|o| {
                o.iter()
                    .find(|(k, _)| k == "busy-reply-threshold")
                    .and_then(|(_, v)| v.parse().ok())
            })
            .unwrap_or(5000)
    }

    /// The value of a setting kept as text (`dir`, `dbfilename`, `save`,
    /// ...): what the file or CONFIG SET gave, else Redis's default.
    pub fn text(&self, name: &str) -> String {
        self.other
            .read()
            .ok()
            .and_then(|o| o.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap_or_default()
    }

    pub fn requirepass(&self) -> Option<String> {
        self.requirepass.read().ok().and_then(|g| g.clone())
    }

    /// Every (name, value) pair CONFIG GET can show.
    pub fn all(&self) -> Vec<(String, String)> {
        let c = &self.startup;
        let mut v: Vec<(String, String)> = vec![
            ("port".into(), c.port.to_string()),
            ("bind".into(), c.bind.clone()),
            ("databases".into(), c.databases.to_string()),
            ("requirepass".into(), self.requirepass().unwrap_or_default()),
            (
                "maxclients".into(),
                self.maxclients.load(Ordering::Relaxed).to_string(),
            ),
            (
                "timeout".into(),
                self.timeout.load(Ordering::Relaxed).to_string(),
            ),
            (
                "proto-max-bulk-len".into(),
                self.proto_max_bulk_len.load(Ordering::Relaxed).to_string(),
            ),
            (
                "client-query-buffer-limit".into(),
                self.client_query_buffer_limit
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
            ("hz".into(), self.hz.load(Ordering::Relaxed).to_string()),
            (
                "notify-keyspace-events".into(),
                storage::notify::format(self.notify_keyspace_events.load(Ordering::Relaxed)),
            ),
            (
                "loglevel".into(),
                self.loglevel.read().map(|g| g.clone()).unwrap_or_default(),
            ),
            ("threads".into(), c.threads.to_string()),
            (
                "pin-threads".into(),
                if c.pin_threads { "yes" } else { "no" }.into(),
            ),
            // Set by REPLICAOF (or the file), as in Redis.
            ("replicaof".into(), self.replicaof_text()),
            ("slaveof".into(), self.replicaof_text()),
        ];
        v.extend(eviction_settings());
        for l in storage::limits::ALL {
            v.push((l.name.into(), l.get().to_string()));
            if let Some(alias) = l.alias {
                v.push((alias.into(), l.get().to_string()));
            }
        }
        if let Ok(o) = self.other.read() {
            for (k, val) in o.iter() {
                v.push((k.clone(), val.clone()));
                if let Some(alias) = directives::find(k).and_then(|d| d.alias) {
                    v.push((alias.to_string(), val.clone()));
                }
            }
        }
        v
    }

    /// The current value of one of the kept directives (`INERT` or
    /// `host::directives`).
    pub fn other(&self, name: &str) -> String {
        self.other
            .read()
            .ok()
            .and_then(|o| o.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap_or_default()
    }

    /// The name CONFIG SET knows `name` by (for an alias, its setting's
    /// own name, under which CONFIG GET shows the value to restore), or
    /// Redis's error for a name it may not set at all: unknown, or
    /// immutable. Errors are the text after `ERR `.
    pub fn settable(&self, name: &str, value: &str) -> Result<String, String> {
        let lower = name.to_ascii_lowercase();
        let bad = |why: &str| {
            format!("CONFIG SET failed (possibly related to argument '{lower}') - {why}")
        };
        // What CONFIG GET shows is what exists; all of it may be set but
        // the immutable settings below.
        let all = self.all();
        if FIXED.contains(&lower.as_str()) {
            return if all.iter().any(|(k, v)| *k == lower && v == value) {
                Ok(lower)
            } else {
                Err(bad("can't set immutable config"))
            };
        }
        if ["databases", "replicaof", "slaveof"]
            .iter()
            .chain(IMMUTABLE_INERT)
            .any(|n| *n == lower)
        {
            return Err(bad("can't set immutable config"));
        }
        if let Some(l) = storage::limits::find(&lower) {
            return Ok(l.name.to_string());
        }
        if let Some(d) = directives::find(&lower) {
            return if d.immutable {
                Err(bad("can't set immutable config"))
            } else {
                Ok(d.name.to_string())
            };
        }
        if all.iter().any(|(k, _)| *k == lower) {
            return Ok(lower);
        }
        Err(format!(
            "Unknown option or number of arguments for CONFIG SET - '{lower}'"
        ))
    }

    /// CONFIG SET name value; errors are the text after `ERR `.
    pub fn set(&self, name: &str, value: &str) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        let bad = |why: &str| {
            format!("CONFIG SET failed (possibly related to argument '{name}') - {why}")
        };
        let mem = |v: &str| parse_memory(v).ok_or_else(|| bad("argument must be a memory value"));
        let num = |v: &str| {
            v.parse::<usize>()
                .map_err(|_| bad("argument couldn't be parsed into an integer"))
        };
        match name.as_str() {
            "requirepass" => {
                if let Ok(mut g) = self.requirepass.write() {
                    *g = (!value.is_empty()).then(|| value.to_string());
                }
            }
            "maxclients" => self.maxclients.store(num(value)?.max(1), Ordering::Relaxed),
            "timeout" => self.timeout.store(num(value)?, Ordering::Relaxed),
            "proto-max-bulk-len" => self
                .proto_max_bulk_len
                .store(mem(value)?.max(1024 * 1024), Ordering::Relaxed),
            "client-query-buffer-limit" => self
                .client_query_buffer_limit
                .store(mem(value)?.max(1024 * 1024), Ordering::Relaxed),
            "hz" => self.hz.store(num(value)?.clamp(1, 500), Ordering::Relaxed),
            "notify-keyspace-events" => {
                let flags = storage::notify::parse(value).ok_or_else(|| bad(NOTIFY_CLASSES))?;
                self.notify_keyspace_events.store(flags, Ordering::Relaxed);
            }
            "loglevel" => {
                let l = parse_loglevel(value).ok_or_else(|| {
                    bad("argument(s) must be one of the following: debug, verbose, notice, warning")
                })?;
                log::set_max_level(crate::host::sys::level_filter(&l));
                if let Ok(mut g) = self.loglevel.write() {
                    *g = l;
                }
            }
            n if FIXED.contains(&n) => {
                self.settable(n, value)?;
            }
            "databases" | "replicaof" | "slaveof" => return Err(bad("can't set immutable config")),
            n if IMMUTABLE_INERT.contains(&n) => return Err(bad("can't set immutable config")),
            "maxmemory-clients" => {
                let ok = match value.strip_suffix('%') {
                    Some(p) => match p.parse::<u64>() {
                        Ok(p) if p <= 100 => true,
                        Ok(_) => {
                            return Err(bad("percentage argument must be less or equal to 100"))
                        }
                        Err(_) => false,
                    },
                    None => parse_memory(value).is_some(),
                };
                if !ok {
                    return Err(bad("argument must be a memory or percent value"));
                }
                self.set_inert(&name, value);
            }
            n if storage::limits::find(n).is_some() => {
                if let Some(r) = storage::limits::set_by_name(n, value) {
                    r.map_err(bad)?;
                }
            }
            n if is_eviction(n) => set_eviction(n, value).map_err(|e| bad(&e))?,
            n if directives::find(n).is_some() => {
                let Some(d) = directives::find(n) else {
                    return Ok(());
                };
                if d.immutable {
                    return Err(bad("can't set immutable config"));
                }
                let v = directives::parse(d, &[value], &self.other(d.name)).map_err(|e| bad(&e))?;
                self.set_inert(d.name, &v);
                self.monitoring.take(d.name, &v);
            }
            // Redis 7's alias pair: setting one sets both.
            "lua-time-limit" | "busy-reply-threshold" => {
                let ms = num(value)?;
                self.set_inert("lua-time-limit", &ms.to_string());
                self.set_inert("busy-reply-threshold", &ms.to_string());
            }
            "save" => {
                parse_save_points(value).map_err(|e| bad(&e))?;
                self.set_inert("save", value.trim());
            }
            "dbfilename" if value.contains('/') => {
                return Err(bad("dbfilename can't be a path, just a filename"));
            }
            "dir" => {
                if !Path::new(value).is_dir() {
                    return Err(bad("No such file or directory"));
                }
                let absolute = enter(value).map_err(|e| bad(&e))?;
                self.set_inert("dir", &absolute);
            }
            n if is_inert(n) => self.set_inert(n, value),
            _ => {
                return Err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{name}'"
                ))
            }
        }
        Ok(())
    }
}

/// Persistence settings of [`INERT`] that `features/persist.rs` reads.
const PERSISTENCE_ACTED_ON: &[&str] = &[
    "dir",
    "dbfilename",
    "stop-writes-on-bgsave-error",
    "appendonly",
    "appendfsync",
    "appendfilename",
    "appenddirname",
    "aof-load-truncated",
    "aof-use-rdb-preamble",
    "auto-aof-rewrite-percentage",
    "auto-aof-rewrite-min-size",
    "rdbcompression",
    "rdbchecksum",
    "aof-timestamp-enabled",
    // (Replication's, read by `features/master.rs`.)
    "repl-diskless-sync",
];

/// `save` points: pairs of `<seconds> <changes>`, or "" for none.
pub fn parse_save_points(v: &str) -> Result<Vec<(u64, u64)>, String> {
    let words: Vec<&str> = v.split_whitespace().filter(|w| *w != "\"\"").collect();
    if words.len() % 2 != 0 {
        return Err("Invalid save parameters".into());
    }
    words
        .chunks(2)
        .map(|p| match (p[0].parse::<u64>(), p[1].parse::<u64>()) {
            (Ok(s), Ok(c)) => Ok((s, c)),
            _ => Err("Invalid save parameters".into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn file_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("tessera-conf-{}", std::process::id()));
        std::fs::write(&dir, "port 7000\n# c\nfoo bar\n").expect("write");
        let mut c = Config::default();
        let e = c
            .load_file(dir.to_str().expect("path"))
            .expect_err("bad line");
        assert!(e.contains("line 3"), "{e}");
        let _ = std::fs::remove_file(dir);
    }
}
