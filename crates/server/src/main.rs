//! `tessera-server`: a Redis-compatible, thread-per-core in-memory server.
//!
//! One glommio executor per thread, pinned to a CPU, each owning one shard of
//! the keyspace and accepting on the shared port (`SO_REUSEPORT`). Threads
//! share nothing but the channel mesh in [`router`] and a few process-wide
//! settings and counters in [`worker::Shared`].
//!
//! # Layout
//!
//! - [`config`]: flags, the redis.conf-syntax file, live CONFIG values.
//! - [`worker`]: one thread's shard, router, counters, clients; the cron.
//! - [`router`]: the cross-thread channels and the call/reply plumbing.
//! - [`conn`]: a connection's read → parse → route → write loop.
//! - [`cmds`]: commands the server runs itself, and cross-shard fan-out.
//! - [`info`]: INFO and COMMAND.
//! - [`sys`]: CPUs, rlimits, signals, memory figures, the allocator.

mod cmds;
mod config;
mod conn;
mod info;
mod router;
mod sys;
mod worker;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use clap::Parser;
use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};

use crate::config::{Config, Flags, Runtime};
use crate::router::Router;
use crate::worker::{Shared, Worker, WorkerStats};

#[global_allocator]
static GLOBAL: sys::CountingAlloc = sys::CountingAlloc;

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
    let cfg = Config::from_flags(&flags).unwrap_or_else(|e| fail(e));
    env_logger::Builder::new()
        .filter_level(sys::level_filter(&cfg.loglevel))
        .parse_env("RUST_LOG")
        .format_timestamp_millis()
        .init();

    // glommio binds with SO_REUSEPORT, which would let a second server share
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
    let mut cfg = cfg;
    cfg.port = port;

    let memlock = sys::raise_memlock();
    log::debug!("RLIMIT_MEMLOCK is {memlock} bytes");

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
        started: Instant::now(),
        started_unix: worker::now_ms() / 1000,
        run_id: (0..40)
            .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
            .collect(),
    });

    let sigset = sys::block_signals();
    let cpus = sys::available_cpus();
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let mut handles = Vec::new();
    for (i, eps) in router::mesh(threads).into_iter().enumerate() {
        let shared = Arc::clone(&shared);
        let ready = ready_tx.clone();
        let cpu = cpus.get(i % cpus.len().max(1)).copied().unwrap_or(0);
        let bind = cfg.bind.clone();
        let databases = cfg.databases;
        let builder = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("tessera-{i}"))
            .io_memory(512 << 10);
        let handle = builder.spawn(move || async move {
            let (router, receivers) = Router::connect(i, eps).await;
            let mut shard = commands::Shard::new(databases);
            shard.config.proto_max_bulk_len =
                shared.config.proto_max_bulk_len.load(Ordering::Relaxed);
            let w = Rc::new(Worker {
                id: i,
                shard: RefCell::new(shard),
                router,
                shared: Arc::clone(&shared),
                stats: WorkerStats::default(),
                clients: RefCell::new(BTreeMap::new()),
            });
            Router::spawn_servers(&w, receivers);
            w.spawn_cron();
            let listener = match TcpListener::bind((bind.as_str(), port)) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready.send(Err(format!("cannot listen on {bind}:{port}: {e}")));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            accept_loop(&w, listener).await;
        });
        match handle {
            Ok(h) => handles.push(h),
            Err(e) => fail(format!(
                "cannot start an io_uring reactor: {e}. Tessera needs Linux 5.8 or later with io_uring enabled \
                 (sysctl kernel.io_uring_disabled=0); in Docker, the default seccomp profile blocks io_uring: \
                 run with --security-opt seccomp=unconfined. If it reports ENOMEM, raise the locked-memory limit (ulimit -l)."
            )),
        }
    }
    drop(ready_tx);
    for _ in 0..threads {
        match ready_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => fail(e),
            Err(_) => fail(
                "a reactor thread failed to start (io_uring unavailable? in Docker run with --security-opt seccomp=unconfined; \
                 or raise the locked-memory limit with ulimit -l)",
            ),
        }
    }
    log::info!(
        "Tessera {} ready to accept connections on {}:{} ({} threads, pid {})",
        env!("CARGO_PKG_VERSION"),
        cfg.bind,
        port,
        threads,
        std::process::id()
    );
    let sig = sys::wait_for_signal(&sigset);
    log::warn!("Received {sig} scheduling shutdown...");
    log::warn!("Tessera is now ready to exit, bye bye...");
    std::process::exit(0);
}

/// Accepts connections on this thread's listener until the process exits.
async fn accept_loop(w: &Rc<Worker>, listener: TcpListener) {
    let shared = &w.shared;
    loop {
        match listener.accept().await {
            Ok(stream) => {
                shared.total_connections.fetch_add(1, Ordering::Relaxed);
                let n = shared.connected_clients.fetch_add(1, Ordering::Relaxed) + 1;
                if n > shared.config.maxclients.load(Ordering::Relaxed) {
                    shared.connected_clients.fetch_sub(1, Ordering::Relaxed);
                    shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
                    glommio::spawn_local(async move {
                        use futures_lite::AsyncWriteExt;
                        let mut s = stream;
                        let _ = s.write_all(b"-ERR max number of clients reached\r\n").await;
                        let _ = s.close().await;
                    })
                    .detach();
                    continue;
                }
                glommio::spawn_local(conn::serve(Rc::clone(w), stream)).detach();
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                log::warn!("accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
