//! `tessera-server`: a Redis-compatible, thread-per-core in-memory server.
//!
//! One reactor per thread (pinned to a CPU with --pin-threads), each owning one shard of the
//! keyspace and accepting on the shared port (`SO_REUSEPORT`). Threads share nothing but the
//! channel mesh (`engine::mesh`) and a few process-wide settings and counters
//! (`engine::worker::Shared`). The reactor is our own epoll loop, the `rt` crate; its crate
//! doc says why it is not glommio.
//!
//! # Layout
//!
//! Floors, lowest first. A file imports only files of its own floor or of floors below it,
//! and the files of a floor import each other without a cycle; `scripts/check-layers.py`
//! prints the graph and fails CI when either rule is broken.
//!
//! 1. `rt` (its own crate): reactor, tasks, timers, sockets, doorbells. Knows no Redis.
//! 2. [`host`]: what the process gets from outside. `config.rs` (flags, the redis.conf-syntax
//!    file, live CONFIG values), `directives.rs` (every Redis 7.0 directive: type, range,
//!    default, whether Tessera acts on it), `logging.rs` (Redis's log format, logfile, syslog,
//!    pidfile, daemonize), `sys.rs` (CPUs, rlimits, signals, memory figures, the allocator,
//!    the lazy-free thread), `clock.rs` (the cycle counter commands are timed with).
//! 3. [`engine`]: the shard engine, generic over what runs on a shard; it names no feature.
//!    `worker.rs` (one thread's shard, counters, clients' `ClientInfo`, the cron; the
//!    registries where features keep their state and hooks), `mesh.rs` (the channels between
//!    threads: jobs, answers, deferral behind a hold), `tx.rs` (transactions across shards:
//!    ordered holds, one-step chains), `keylock.rs` (keys locked by MIGRATE), `journal.rs`
//!    (every shard's writes as one ordered stream: per-thread buffers sealed before any
//!    message leaves a thread; the AOF and the replication stream are written from it).
//! 4. [`client`]: client state. `Client`, the reply mode, and the per-connection state
//!    features share: the MULTI queue and WATCHes (`queued.rs`), the second output for
//!    monitor lines, published messages and invalidation pushes (`sink.rs`,
//!    `tracking.rs`), subscriptions (`subscriptions.rs`),
//!    the connection's user's compiled permissions (`perms.rs`).
//! 5. [`features`]: one module per command family the server runs itself, or per
//!    cross-cutting behaviour, each on the engine and client state; one that uses another
//!    says so in its doc. `connection.rs` (PING, ECHO, SELECT, AUTH, HELLO, RESET),
//!    `client.rs` (CLIENT), `config.rs` (CONFIG), `command.rs` (COMMAND), `info.rs` (INFO),
//!    `debug.rs` (DEBUG), `server.rs` (TIME, LASTSAVE, SHUTDOWN), `keyspace.rs` (KEYS, DBSIZE,
//!    RANDOMKEY, FLUSHDB, FLUSHALL, SWAPDB), `fanout.rs` (multi-key commands whose keys span
//!    shards, SCAN, SORT), `multi.rs` (MULTI, EXEC, DISCARD, WATCH), `blocking.rs` (BLPOP and
//!    the other blocking pops), `streams.rs` (XREAD and XREADGROUP, on `blocking.rs`'s
//!    waiters), `script.rs` (EVAL*, SCRIPT, FUNCTION, FCALL*), `pubsub.rs`
//!    (SUBSCRIBE, SSUBSCRIBE and the rest of pub/sub, keyspace events), `monitor.rs` (MONITOR),
//!    `migrate.rs` (MIGRATE), `evict.rs` (`maxmemory`), `acl.rs` (ACL, users, the permission
//!    check), `persist.rs` (SAVE, BGSAVE, LASTSAVE, save points, SHUTDOWN, loading the dump
//!    file at start, DEBUG RELOAD), `slowlog.rs` (SLOWLOG and what each command's time is
//!    counted in), `latency.rs` (LATENCY, INFO latencystats), `pause.rs` (CLIENT PAUSE and
//!    UNPAUSE), `replication.rs` (REPLICAOF, REPLCONF, the replica's side and -READONLY),
//!    `aof.rs` (the append-only file: the journal's writer thread, BGREWRITEAOF, loading),
//!    `master.rs` (SYNC/PSYNC served, the backlog, WAIT, ROLE, INFO replication),
//!    `tracking.rs` (client-side caching: CLIENT TRACKING, its tables on the keys' shards,
//!    invalidations sent to the clients' threads), `cluster/` (cluster mode: the bus in
//!    Redis's `RCmb` form on thread 0, the cluster's state and Redis Cluster's rules, the
//!    nodes file, CLUSTER, and the per-thread slot view every keyed command is checked
//!    against).
//!    `features/mod.rs` registers their state and hooks with the engine, and
//!    starts their tasks.
//! 6. [`conn`]: the connection loop (`mod.rs`: read, parse, check, route, run, settle,
//!    write), `dispatch.rs`, the one table from a server command's name to its feature,
//!    and `replica.rs`, a replica's link to its master, whose stream runs through the loop.
//! 7. This file: the binary's edge (flags, threads, signals, the accept loop).
//!
//! A request's path: `resp` parses it, `conn` looks it up in the command table and routes
//! it, and it runs in its family's file of the `commands` crate (a data command, on the
//! shard that owns its key) or in a feature (a server command, via `conn/dispatch.rs`), which
//! calls the `storage` operation. A GET read on a connection of thread 0 for a key of shard
//! 1: `conn/mod.rs` packs it into a group, `engine/mesh.rs` carries the group to thread 1,
//! which runs `commands::strings` on its shard (`storage::db`), and the reply comes back the
//! same way to be written by `conn/mod.rs`.
//!
//! Where new work goes: a write's effect is recorded where it runs (`engine::worker::exec`
//! for shard commands; the code that holds the shards for a write over several), and
//! everything that consumes the stream reads it from the journal's writer (`aof.rs`), as
//! the AOF and the master side (`master.rs`) do; a full sync and a rewrite reuse
//! `persist.rs`'s consistent cut. Cluster state (slots, nodes, the bus) is a feature of its own, consulted by `conn` when
//! it routes a key, as it now consults `shard_of`. File formats belong to `storage::rdb`,
//! like DUMP's payloads; a shard's point-in-time snapshot to `storage::db`.

mod client;
mod conn;
mod engine;
mod features;
mod host;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use clap::Parser;
use rt::net::TcpListener;

use crate::engine::worker::{Shared, Worker, WorkerStats};
use crate::host::config::{Config, Flags, Runtime};

#[global_allocator]
static GLOBAL: host::sys::CountingAlloc = host::sys::CountingAlloc;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("tessera-server: {msg}");
    std::process::exit(1);
}

fn main() {
    let flags = match Flags::try_parse() {
        Ok(f) => f,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            fail(format!("{first} (see --help)"));
        }
    };
    let mut cfg = Config::from_flags(&flags).unwrap_or_else(|e| fail(e));
    cfg.enter_dir().unwrap_or_else(|e| fail(e));
    let logfile = cfg.other("logfile");
    host::logging::check_logfile(&logfile).unwrap_or_else(|e| fail(e));

    // Our listeners bind with SO_REUSEPORT, which would let a second server share
    // the port silently: bind once without it to find out. A refusal can also
    // come from connections of a previous run still in TIME_WAIT (they carry
    // no SO_REUSEADDR); only a listener that accepts a connection means "busy".
    let port = match std::net::TcpListener::bind((cfg.bind.as_str(), cfg.port)) {
        Ok(probe) => probe.local_addr().map(|a| a.port()).unwrap_or(cfg.port),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let busy = std::net::ToSocketAddrs::to_socket_addrs(&(cfg.bind.as_str(), cfg.port))
                .ok()
                .and_then(|mut a| a.next())
                .is_some_and(|addr| {
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
                });
            if busy || cfg.port == 0 {
                fail(format!("cannot listen on {}:{}: the port is already in use (is another server running there?)", cfg.bind, cfg.port))
            }
            cfg.port
        }
        Err(e) => fail(format!("cannot listen on {}:{}: {e}", cfg.bind, cfg.port)),
    };
    cfg.port = port;

    if let Some(fit) = host::sys::raise_nofile(cfg.maxclients, cfg.threads) {
        log::warn!(
            "The open-file limit allows about {fit} clients, less than maxclients {}: lowering maxclients. Raise it with ulimit -n.",
            cfg.maxclients
        );
        cfg.maxclients = fit;
    }
    start_process(&cfg, &logfile, port);
    // Before the settings are read: they hold thresholds in clock ticks.
    host::clock::calibrate();
    let table: &'static commands::CommandTable = Box::leak(Box::new(commands::table()));
    let threads = cfg.threads;
    let shared = Arc::new(Shared {
        config: Runtime::new(&cfg),
        table,
        threads,
        connected_clients: AtomicUsize::new(0),
        next_client_id: AtomicU64::new(1),
        total_connections: AtomicU64::new(0),
        rejected_connections: AtomicU64::new(0),
        active_expire: AtomicBool::new(true),
        cron_paused: AtomicBool::new(false),
        blocked_clients: AtomicUsize::new(0),
        blocked_with_timeout: AtomicUsize::new(0),
        started: Instant::now(),
        globals: features::globals(threads, cfg.other("cluster-enabled") == "yes"),
        hooks: features::hooks(),
        run_id: (0..40)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect(),
    });

    features::acl::start(&shared).unwrap_or_else(|e| fail(e));
    features::cluster::init(&shared).unwrap_or_else(|e| fail(e));

    let sigset = host::sys::block_signals();
    host::sys::start_lazyfree()
        .unwrap_or_else(|e| fail(format!("cannot start the lazy-free thread: {e}")));
    let cpus = host::sys::available_cpus();
    let (mesh, inboxes) = engine::mesh::mesh(threads)
        .unwrap_or_else(|e| fail(format!("cannot create eventfds: {e}")));
    engine::journal::init(threads);
    features::aof::spawn_writer(Arc::clone(&mesh), Arc::clone(&shared));
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(cfg.bind.as_str(), port))
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| fail(format!("cannot resolve bind address '{}'", cfg.bind)));
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    for (i, inbox) in inboxes.into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let mesh = Arc::clone(&mesh);
        let ready = ready_tx.clone();
        let cpu = cpus.get(i % cpus.len().max(1)).copied().unwrap_or(0);
        let databases = cfg.databases;
        let pin = cfg.pin_threads;
        let spawned = std::thread::Builder::new()
            .name(format!("tessera-{i}"))
            .spawn(move || {
                if pin {
                    rt::pin_to_cpu(cpu);
                }
                let doorbell = Arc::clone(&mesh.doorbells[i]);
                let reactor = match rt::Reactor::install(i, doorbell) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready.send(Err(format!("cannot create the epoll reactor: {e}")));
                        return;
                    }
                };
                let mut shard = commands::Shard::new(databases);
                shard.id = i;
                shard.shards = threads;
                shard.config.proto_max_bulk_len =
                    shared.config.proto_max_bulk_len.load(Ordering::Relaxed);
                shard.config.hll_sparse_max_bytes =
                    features::config::hll_sparse_max_bytes(&shared.config);
                shard.config.stream_node = features::config::stream_node_limits(&shared.config);
                storage::notify::set_flags(
                    shared.config.notify_keyspace_events.load(Ordering::Relaxed),
                );
                let w = Rc::new(Worker {
                    id: i,
                    shard: RefCell::new(shard),
                    router: engine::mesh::Router::new(i, mesh, inbox),
                    shared: Arc::clone(&shared),
                    stats: WorkerStats::new(table.len()),
                    clients: RefCell::new(BTreeMap::new()),
                    held_by: std::cell::Cell::new(0),
                    deferred: RefCell::new(std::collections::VecDeque::new()),
                    locks: Default::default(),
                    current_req: std::cell::Cell::new(None),
                    locals: features::locals(i),
                });
                engine::worker::set_current(&w);
                features::start(&w, conn::dispatch::server_command_boxed);
                conn::replica::start(&w);
                let pw = Rc::clone(&w);
                let pr = Rc::clone(&reactor);
                reactor.set_poller(Box::new(move || {
                    let busy = rt::run_remote_wakes(&pr) | pw.router.poll(&pw);
                    features::pubsub::publish_events(&pw);
                    busy
                }));
                w.spawn_cron();
                let listener = match TcpListener::bind(addr) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready.send(Err(format!("cannot listen on {addr}: {e}")));
                        return;
                    }
                };
                if let Err(e) = features::cluster::bus::start(&w) {
                    let _ = ready.send(Err(e));
                    return;
                }
                let _ = ready.send(Ok(()));
                let aw = Rc::clone(&w);
                rt::spawn_local(async move { accept_loop(&aw, listener).await });
                reactor.run();
            });
        if let Err(e) = spawned {
            fail(format!("cannot start thread {i}: {e}"));
        }
    }
    drop(ready_tx);
    for _ in 0..threads {
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => fail(e),
            Err(_) => fail("a reactor thread failed to start"),
        }
    }
    log::info!("Ready to accept connections");
    log::info!(
        "Tessera {} listening on {}:{} with {} threads",
        env!("CARGO_PKG_VERSION"),
        cfg.bind,
        port,
        threads,
    );
    // SIGTERM / SIGINT: thread 0 shuts down as SHUTDOWN does (saving first
    // when save points are set); if that save fails the server goes on, as
    // Redis does. A second signal while it saves exits at once.
    loop {
        let sig = host::sys::wait_for_signal(&sigset);
        let asked = features::persist::shutdown_asked(&shared);
        if asked && sig == "SIGINT" {
            log::warn!("You insist... exiting now.");
            // The shutdown's own save, cut short: its file goes.
            let dir = shared.config.text("dir");
            let _ = std::fs::remove_file(
                std::path::Path::new(&dir).join(features::persist::foreground_temp_name()),
            );
            std::process::exit(1);
        }
        log::warn!("Received {sig} scheduling shutdown...");
        mesh.post_from_outside(
            0,
            Box::new(|w: &Worker| {
                features::persist::shutdown_on_signal(w);
                Box::new(()) as Box<dyn std::any::Any + Send>
            }),
        );
    }
}

/// The process's start, as Redis makes it: `daemonize`, the log, the lines
/// Redis prints while it starts (tools and Redis's test suite look for
/// them), the pid file. Runs before any thread starts.
fn start_process(cfg: &Config, logfile: &str, port: u16) {
    use std::io::IsTerminal;
    let daemon = cfg.other("daemonize") == "yes";
    if daemon {
        host::logging::daemonize().unwrap_or_else(|e| fail(e));
    }
    let syslog_ident = cfg.other("syslog-ident");
    let syslog_facility = cfg.other("syslog-facility");
    let syslog = (cfg.other("syslog-enabled") == "yes")
        .then_some((syslog_ident.as_str(), syslog_facility.as_str()));
    host::logging::init(&cfg.loglevel, logfile, syslog);
    let pid = std::process::id();
    log::warn!("oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo");
    log::warn!(
        "Redis version={}, bits=64, commit=00000000, modified=0, pid={pid}, just started",
        features::info::REDIS_VERSION
    );
    if cfg.config_file.is_some() {
        log::warn!("Configuration loaded");
    } else {
        log::warn!("Warning: no config file specified, using the default config. In order to specify a config file use tessera-server --config /path/to/redis.conf");
    }
    host::logging::server_role();
    let logo = cfg.other("always-show-logo") == "yes"
        || (logfile.is_empty() && !daemon && std::io::stdout().is_terminal());
    if logo {
        log::info!(
            "Tessera {} (Redis {} compatible) 64 bit",
            env!("CARGO_PKG_VERSION"),
            features::info::REDIS_VERSION
        );
        log::info!("Running in standalone mode");
        log::info!("Port: {port}");
        log::info!("PID: {pid}");
    } else {
        log::info!("Running mode=standalone, port={port}.");
    }
    let inert = cfg.inert_in_file();
    if !inert.is_empty() {
        log::warn!(
            "these directives are accepted but have no effect yet: {}",
            inert.join(", ")
        );
    }
    let pidfile = cfg.other("pidfile");
    if !pidfile.is_empty() {
        host::logging::write_pidfile(&pidfile);
    } else if daemon {
        host::logging::write_pidfile("/var/run/redis.pid");
    }
    log::warn!("Server initialized");
}

/// Accepts connections on this thread's listener until the process exits.
async fn accept_loop(w: &Rc<Worker>, listener: TcpListener) {
    let shared = &w.shared;
    let mut last_warning = 0u64;
    loop {
        match listener.accept().await {
            Ok(mut stream) => {
                shared.total_connections.fetch_add(1, Ordering::Relaxed);
                let n = shared.connected_clients.fetch_add(1, Ordering::Relaxed) + 1;
                if n > shared.config.maxclients.load(Ordering::Relaxed) {
                    shared.connected_clients.fetch_sub(1, Ordering::Relaxed);
                    shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
                    rt::spawn_local(async move {
                        let _ = stream
                            .write_all(b"-ERR max number of clients reached\r\n")
                            .await;
                    });
                    continue;
                }
                rt::spawn_local(conn::serve(Rc::clone(w), stream));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep
                // serving, and say so at most once a second.
                let now = engine::worker::now_ms();
                if now.saturating_sub(last_warning) >= 1000 {
                    log::warn!("accept failed: {e}");
                    last_warning = now;
                }
                rt::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
