//! INFO: what tools read to learn about the server (COMMAND is in
//! `command.rs`).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use resp::encode;

use crate::engine::worker::now_ms;
use crate::host::sys;

pub use crate::host::REDIS_VERSION;

/// One shard's figures for INFO.
#[derive(Default)]
struct Part {
    clients: usize,
    commands: u64,
    ops: u64,
    hits: u64,
    misses: u64,
    expired: u64,
    evicted: u64,
    dbs: Vec<(usize, usize, u64)>,
    /// (calls, rejected, failed, ticks) by command id.
    cmds: Vec<(u64, u64, u64, u64)>,
    /// This thread's pub/sub channels and patterns (for Stats).
    pubsub: (Vec<Vec<u8>>, Vec<Vec<u8>>),
    /// Error replies by first word (for Errorstats).
    errors: Vec<(Box<[u8]>, u64)>,
}

/// How many different names `names` holds.
fn distinct<'a>(names: impl Iterator<Item = &'a Vec<u8>>) -> usize {
    names.collect::<std::collections::HashSet<_>>().len()
}

/// INFO [section ...]
/// Takes the route it runs under: inside EXEC every shard is held by the
/// transaction, and only its own requests get through.
/// `INFO [section ...]`
pub async fn info(w: &crate::engine::tx::Route<'_>, argv: &[&[u8]], out: &mut Vec<u8>) {
    let text = render(w, argv).await;
    encode::bulk(out, text.as_bytes());
}

async fn render(w: &crate::engine::tx::Route<'_>, argv: &[&[u8]]) -> String {
    let wanted: Vec<String> = argv[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|s| s == "all" || s == "everything" || s == "default");
    let want = |s: &str| all || wanted.iter().any(|x| x == s);
    // Read before INFO allocates anything of its own, so that the figure
    // is the server's, not this reply's.
    let used = sys::used_memory();
    // Not in the default set, as in Redis: only when asked for by name.
    let want_cmdstats = wanted
        .iter()
        .any(|x| x == "commandstats" || x == "all" || x == "everything");
    let want_stats = want("stats");
    let parts = w
        .call_all(move |w| {
            let now = now_ms();
            let sh = w.shard.borrow();
            Part {
                clients: w.clients.borrow().len(),
                commands: w.stats.commands.get(),
                ops: w.instantaneous_ops(),
                hits: sh.stats.keyspace_hits + sh.ks.dbs.iter().map(|d| d.hits).sum::<u64>(),
                misses: sh.stats.keyspace_misses + sh.ks.dbs.iter().map(|d| d.misses).sum::<u64>(),
                expired: sh.ks.expired_keys(),
                evicted: w.stats.evicted.get(),
                // Only when shown: INFO must not allocate much before it
                // reads used_memory (maxmemory tests compare against it).
                cmds: if want_cmdstats {
                    w.stats
                        .cmds
                        .iter()
                        .map(|c| {
                            (
                                c.calls.get(),
                                c.rejected.get(),
                                c.failed.get(),
                                c.ticks.get(),
                            )
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                errors: w.stats.errors.borrow().clone(),
                pubsub: if want_stats {
                    crate::features::pubsub::names(w)
                } else {
                    (Vec::new(), Vec::new())
                },
                dbs: sh
                    .ks
                    .dbs
                    .iter()
                    .map(|d| (d.len(), d.expires_len(), d.avg_ttl(now)))
                    .collect(),
            }
        })
        .await;
    let sum = |f: fn(&Part) -> u64| parts.iter().map(f).sum::<u64>();
    // Read after every thread ran a job: their tracking logs are flushed.
    let (tracking_clients, tracking_keys, tracking_items, tracking_prefixes) =
        crate::features::tracking::counts(w);
    let shared = &w.shared;
    let cfg = &shared.config.startup;
    let mut s = String::new();
    let uptime = shared.started.elapsed().as_secs();
    if want("server") {
        let config_file = cfg
            .config_file
            .as_ref()
            .map(|f| {
                std::fs::canonicalize(f)
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|_| f.clone())
            })
            .unwrap_or_default();
        let hz = shared.config.hz.load(Ordering::Relaxed);
        let _ = write!(
            s,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{hz}\r\nconfigured_hz:{hz}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{config_file}\r\nio_threads_active:0\r\ntessera_version:{}\r\nthreads:{}\r\n\r\n",
            sys::os_name(),
            std::process::id(),
            shared.run_id,
            cfg.port,
            now_ms() * 1000,
            uptime,
            uptime / 86400,
            // Redis's LRU clock: seconds, in 24 bits.
            (now_ms() / 1000) & ((1 << 24) - 1),
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            env!("CARGO_PKG_VERSION"),
            shared.threads,
        );
    }
    if want("clients") {
        let _ = write!(
            s,
            "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:{tracking_clients}\r\nclients_in_timeout_table:{}\r\n\r\n",
            parts.iter().map(|p| p.clients).sum::<usize>(),
            shared.config.maxclients.load(Ordering::Relaxed),
            shared.blocked_clients.load(Ordering::Relaxed),
            shared.blocked_with_timeout.load(Ordering::Relaxed),
        );
    }
    if want("memory") {
        let rss = sys::rss_bytes();
        let max = storage::evict::maxmemory() as usize;
        let peak = sys::peak_memory().max(used);
        let system = sys::total_system_memory();
        let ratio = |a: usize, b: usize| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        // The allocator's own figures (active, resident pages) are not
        // asked of mimalloc: what is allocated is counted by the global
        // allocator, the rest is the process's RSS, so the allocator's
        // fragmentation shows as 1 and all of RSS's excess as rss overhead.
        let _ = write!(
            s,
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:0\r\nused_memory_startup:0\r\nused_memory_dataset:{used}\r\nused_memory_dataset_perc:100.00%\r\nallocator_allocated:{used}\r\nallocator_active:{used}\r\nallocator_resident:{used}\r\ntotal_system_memory:{system}\r\ntotal_system_memory_human:{}\r\nused_memory_lua:0\r\nused_memory_vm_eval:0\r\nused_memory_lua_human:0B\r\nused_memory_scripts_eval:0\r\nnumber_of_cached_scripts:0\r\nnumber_of_functions:0\r\nnumber_of_libraries:0\r\nused_memory_vm_functions:0\r\nused_memory_vm_total:0\r\nused_memory_vm_total_human:0B\r\nused_memory_functions:0\r\nused_memory_scripts:0\r\nused_memory_scripts_human:0B\r\nmaxmemory:{max}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nallocator_frag_ratio:1.00\r\nallocator_frag_bytes:0\r\nallocator_rss_ratio:1.00\r\nallocator_rss_bytes:0\r\nrss_overhead_ratio:{:.2}\r\nrss_overhead_bytes:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:0\r\nmem_replication_backlog:0\r\nmem_total_replication_buffers:0\r\nmem_clients_slaves:0\r\nmem_clients_normal:0\r\nmem_cluster_links:0\r\nmem_aof_buffer:0\r\nmem_allocator:mimalloc\r\nactive_defrag_running:0\r\nlazyfree_pending_objects:{}\r\nlazyfreed_objects:0\r\n\r\n",
            human(used),
            human(rss),
            human(peak),
            ratio(used, peak) * 100.0,
            human(system),
            human(max),
            storage::evict::policy().name(),
            ratio(rss, used),
            rss as i64 - used as i64,
            ratio(rss, used),
            rss as i64 - used as i64,
            sys::lazyfree_pending(),
        );
    }
    if want("persistence") {
        crate::features::persist::info(w, &mut s).await;
        crate::features::aof::info(w, &mut s);
        s.push_str("\r\n");
    }
    let errors = {
        let mut merged: Vec<(&[u8], u64)> = Vec::new();
        for (word, n) in parts.iter().flat_map(|p| p.errors.iter()) {
            match merged.iter_mut().find(|(w, _)| *w == &word[..]) {
                Some(e) => e.1 += n,
                None => merged.push((word, *n)),
            }
        }
        merged.sort();
        merged
    };
    if want("stats") {
        let syncs = crate::features::master::sync_counts(w);
        let _ = write!(
            s,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:0\r\ntotal_net_output_bytes:0\r\ntotal_net_repl_input_bytes:0\r\ntotal_net_repl_output_bytes:0\r\ninstantaneous_input_kbps:0.00\r\ninstantaneous_output_kbps:0.00\r\ninstantaneous_input_repl_kbps:0.00\r\ninstantaneous_output_repl_kbps:0.00\r\nrejected_connections:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:0.00\r\nexpired_time_cap_reached_count:0\r\nexpire_cycle_cpu_milliseconds:0\r\nevicted_keys:{}\r\nevicted_clients:0\r\ntotal_eviction_exceeded_time:0\r\ncurrent_eviction_exceeded_time:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:0\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\nmigrate_cached_sockets:{}\r\nslave_expires_tracked_keys:0\r\nactive_defrag_hits:0\r\nactive_defrag_misses:0\r\nactive_defrag_key_hits:0\r\nactive_defrag_key_misses:0\r\ntotal_active_defrag_time:0\r\ncurrent_active_defrag_time:0\r\ntracking_total_keys:{tracking_keys}\r\ntracking_total_items:{tracking_items}\r\ntracking_total_prefixes:{tracking_prefixes}\r\nunexpected_error_replies:0\r\ntotal_error_replies:{}\r\ndump_payload_sanitizations:0\r\ntotal_reads_processed:0\r\ntotal_writes_processed:0\r\nio_threaded_reads_processed:0\r\nio_threaded_writes_processed:0\r\nreply_buffer_shrinks:0\r\nreply_buffer_expands:0\r\n\r\n",
            shared.total_connections.load(Ordering::Relaxed),
            sum(|p| p.commands),
            sum(|p| p.ops),
            shared.rejected_connections.load(Ordering::Relaxed),
            syncs[0],
            syncs[1],
            syncs[2],
            sum(|p| p.expired),
            sum(|p| p.evicted),
            sum(|p| p.hits),
            sum(|p| p.misses),
            distinct(parts.iter().flat_map(|p| &p.pubsub.0)),
            distinct(parts.iter().flat_map(|p| &p.pubsub.1)),
            crate::features::migrate::CACHED_SOCKETS.load(Ordering::Relaxed),
            errors.iter().map(|e| e.1).sum::<u64>(),
        );
    }
    if want("replication") {
        crate::features::master::settle(w).await;
        crate::features::master::info(w, &mut s);
    }
    if want("cpu") {
        let (u, sy) = sys::cpu_times();
        let _ = write!(
            s,
            "# CPU\r\nused_cpu_sys:{sy:.6}\r\nused_cpu_user:{u:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\nused_cpu_sys_main_thread:0.000000\r\nused_cpu_user_main_thread:0.000000\r\n\r\n"
        );
    }
    if want_cmdstats {
        s.push_str("# Commandstats\r\n");
        for spec in shared.table.iter() {
            let (calls, rejected, failed, ticks) = parts.iter().fold((0, 0, 0, 0), |acc, p| {
                let c = p.cmds.get(spec.id).copied().unwrap_or_default();
                (acc.0 + c.0, acc.1 + c.1, acc.2 + c.2, acc.3 + c.3)
            });
            if calls + rejected + failed > 0 {
                let usec = crate::host::clock::to_us(ticks);
                let per_call = if calls > 0 {
                    usec as f64 / calls as f64
                } else {
                    0.0
                };
                let _ = write!(
                    s,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
                    spec.name
                );
            }
        }
        s.push_str("\r\n");
    }
    if wanted
        .iter()
        .any(|x| x == "latencystats" || x == "all" || x == "everything")
    {
        crate::features::latency::info(w, &mut s).await;
    }
    if want("errorstats") {
        s.push_str("# Errorstats\r\n");
        for (word, n) in &errors {
            let _ = write!(
                s,
                "errorstat_{}:count={n}\r\n",
                String::from_utf8_lossy(word)
            );
        }
        s.push_str("\r\n");
    }
    if want("cluster") {
        s.push_str(&crate::features::cluster::info(w));
    }
    if want("keyspace") {
        s.push_str("# Keyspace\r\n");
        for db in 0..cfg.databases {
            let (mut keys, mut expires, mut ttl_sum, mut ttl_n) = (0usize, 0usize, 0u128, 0usize);
            for p in &parts {
                if let Some(&(k, e, t)) = p.dbs.get(db) {
                    keys += k;
                    expires += e;
                    if e > 0 {
                        ttl_sum += u128::from(t) * e as u128;
                        ttl_n += e;
                    }
                }
            }
            if keys > 0 {
                let avg = if ttl_n > 0 {
                    ttl_sum / ttl_n as u128
                } else {
                    0
                };
                let _ = write!(s, "db{db}:keys={keys},expires={expires},avg_ttl={avg}\r\n");
            }
        }
        s.push_str("\r\n");
    }
    while s.ends_with("\r\n\r\n") {
        s.truncate(s.len() - 2);
    }
    s
}

fn human(n: usize) -> String {
    let f = n as f64;
    if f >= (1u64 << 30) as f64 {
        format!("{:.2}G", f / (1u64 << 30) as f64)
    } else if f >= (1 << 20) as f64 {
        format!("{:.2}M", f / (1 << 20) as f64)
    } else if f >= 1024.0 {
        format!("{:.2}K", f / 1024.0)
    } else {
        format!("{n}B")
    }
}
