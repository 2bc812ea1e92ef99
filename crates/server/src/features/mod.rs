//! Features: one module per command family the server runs itself (the
//! `Server` kind of the command table) and per cross-cutting behaviour.
//! Each sits on the engine (`crate::engine`) and on client state
//! (`crate::client`); a feature that uses another says so in its doc.
//! What a feature keeps per thread or per process is registered with the
//! engine here ([`globals`], [`locals`], [`hooks`]), so the engine never
//! names a feature.

pub mod acl;
pub mod aof;
pub mod blocking;
pub mod client;
pub mod cluster;
pub mod command;
pub mod config;
pub mod connection;
pub mod debug;
pub mod evict;
pub mod failover;
pub mod fanout;
pub mod function;
pub mod info;
pub mod keyspace;
pub mod latency;
pub mod lualib;
pub mod master;
pub mod memory;
pub mod migrate;
pub mod monitor;
pub mod multi;
pub mod pause;
pub mod persist;
pub mod pubsub;
pub mod replication;
pub mod script;
pub mod script_api;
pub mod server;
pub mod slowlog;
pub mod streams;
pub mod tracking;

use std::cell::{Cell, RefCell};

use crate::engine::worker::{Globals, Hooks, Locals};

/// The features' process-wide state, for `threads` threads.
pub fn globals(threads: usize, cluster_enabled: bool) -> Globals {
    Globals::default()
        .with(cluster::State::new(cluster_enabled))
        .with(monitor::Registry::new(threads))
        .with(pubsub::Registry::new(threads))
        .with(script::Cache::new(threads))
        .with(script_api::DenyScripts::default())
        .with(acl::Users::new(None))
        .with(persist::State::new(crate::engine::worker::now_ms() / 1000))
        .with(aof::State::default())
        .with(master::State::default())
        .with(replication::State::new())
        .with(slowlog::Ids::default())
        .with(pause::State::default())
        .with(failover::State::default())
        .with(tracking::State::default())
}

/// Starts the features' own tasks on a thread, once its reactor runs:
/// thread 0 loads the AOF or the dump file and watches the save points.
/// (`run_server` is the connection layer's table of server commands, for
/// the AOF's commands.)
pub fn start(w: &std::rc::Rc<crate::engine::worker::Worker>, run_server: multi::RunServer) {
    crate::engine::journal::set_thread(w.id);
    if cluster::state(w).enabled() {
        w.shard.borrow_mut().ks.dbs[0].index_slots();
    }
    if w.id == 0 {
        master::apply_config(w);
        storage::rdb::encode::set_compression(w.shared.config.text("rdbcompression") != "no");
        if aof::enabled_at_start(w) {
            aof::spawn_load_at_start(w, run_server);
        } else {
            persist::spawn_load_at_start(w);
        }
        persist::spawn_save_points(w);
    }
}

/// The features' state on thread `id`.
pub fn locals(id: usize) -> Locals {
    Locals::default()
        .with(blocking::Local::default())
        .with(RefCell::new(pubsub::Local::default()))
        .with(monitor::Local::default())
        .with(slowlog::Local::default())
        .with(latency::Local::default())
        .with(pause::Local::default())
        .with(cluster::Local::default())
        .with(evict::Turn(Cell::new(id)))
        .with(tracking::Local::default())
}

/// What features run at the engine's fixed points.
pub fn hooks() -> Hooks {
    Hooks {
        // Clients a job's writes unblocked are served before its answer
        // leaves, and the keyspace events it logged are published.
        after_job: vec![
            blocking::serve_ready,
            pubsub::publish_events,
            tracking::flush_log,
        ],
        // After active expiry (which runs after these, in the tick) the
        // next tick's seal sends its DELs; an idle thread's too.
        on_tick: vec![
            persist::on_tick,
            |_| migrate::close_idle(),
            tracking::on_tick,
            evict::on_tick,
            |_| crate::engine::journal::seal(),
            |w| {
                if w.id == 0 {
                    master::check_good_replicas(w);
                    aof::auto_rewrite(w);
                }
            },
        ],
        before_exit: vec![aof::flush_for_exit, cluster::flush_for_exit],
    }
}
