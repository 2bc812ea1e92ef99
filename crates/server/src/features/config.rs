//! CONFIG GET, SET, RESETSTAT, REWRITE, HELP: the live settings of
//! `host::config::Runtime`.

use std::sync::atomic::Ordering;

use commands::Error;
use resp::encode;

use crate::engine::tx::Route;

type Argv<'a> = &'a [&'a [u8]];

/// `hll-sparse-max-bytes` as the shards use it (kept as text with the
/// other directives; always a valid byte count there).
pub fn hll_sparse_max_bytes(rt: &crate::host::config::Runtime) -> usize {
    rt.text("hll-sparse-max-bytes").parse().unwrap_or(3000)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// CONFIG GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT | REWRITE | HELP
pub async fn config(
    w: &Route<'_>,
    resp3: bool,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let sub = argv[1].to_ascii_lowercase();
    let rt = &w.shared.config;
    match sub.as_slice() {
        b"get" if argv.len() >= 3 => {
            let all = rt.all();
            let mut found: Vec<&(String, String)> = Vec::new();
            for pat in &argv[2..] {
                for kv in &all {
                    if storage::glob_match(pat, kv.0.as_bytes(), true)
                        && !found.iter().any(|f| f.0 == kv.0)
                    {
                        found.push(kv);
                    }
                }
            }
            encode::map_len(out, found.len(), resp3);
            for (k, v) in found {
                encode::bulk(out, k.as_bytes());
                encode::bulk(out, v.as_bytes());
            }
        }
        b"set" if argv.len() >= 4 && argv.len() % 2 == 0 => {
            // As Redis 7: every name is checked (unknown, immutable,
            // given twice) before anything changes; then the values are
            // set in order, and if one is refused those set before it get
            // their old values back.
            let err = |e: String| Error::Other(format!("ERR {e}"));
            let mut pairs: Vec<(String, String)> = Vec::new();
            for (i, kv) in argv[2..].chunks_exact(2).enumerate() {
                let value = lossy(kv[1]);
                let name = rt.settable(&lossy(kv[0]), &value).map_err(err)?;
                // The same name twice (a name and its alias are two
                // names, as in Redis 7.0).
                if argv[2..]
                    .chunks_exact(2)
                    .take(i)
                    .any(|p| p[0].eq_ignore_ascii_case(kv[0]))
                {
                    return Err(err(format!(
                        "CONFIG SET failed (possibly related to argument '{}') - duplicate parameter",
                        lossy(kv[0]).to_ascii_lowercase()
                    )));
                }
                pairs.push((name, value));
            }
            let before = rt.all();
            for (i, (name, value)) in pairs.iter().enumerate() {
                if let Err(e) = rt.set(name, value) {
                    for (done, _) in &pairs[..i] {
                        if let Some((_, old)) = before.iter().find(|(k, _)| k == done) {
                            let _ = rt.set(done, old);
                        }
                    }
                    return Err(err(e));
                }
            }
            if pairs.iter().any(|(n, _)| n == "requirepass") {
                let users = w.shared.global::<crate::features::acl::Users>();
                users.set_requirepass(rt.requirepass().as_deref());
            }
            if pairs.iter().any(|(n, _)| n.starts_with("acl")) {
                crate::features::acl::apply_config(&w.shared);
            }
            if pairs.iter().any(|(n, _)| n == "notify-keyspace-events") {
                let v = rt.notify_keyspace_events.load(Ordering::Relaxed);
                w.call_all(move |_| storage::notify::set_flags(v)).await;
            }
            if pairs
                .iter()
                .any(|(n, _)| n == "appendonly" || n == "appendfsync")
            {
                crate::features::aof::apply_config(w);
            }
            if pairs.iter().any(|(n, _)| n == "repl-backlog-size") {
                crate::features::master::apply_config(w);
            }
            if pairs.iter().any(|(n, _)| n == "rdbcompression") {
                storage::rdb::encode::set_compression(rt.text("rdbcompression") != "no");
            }
            // As Redis: the count of good replicas is taken again at once.
            if pairs.iter().any(|(n, _)| n.starts_with("min-replicas")) {
                crate::features::master::check_good_replicas(w);
            }
            if pairs.iter().any(|(n, _)| n == "hll-sparse-max-bytes") {
                let v = hll_sparse_max_bytes(rt);
                w.call_all(move |w| w.shard.borrow_mut().config.hll_sparse_max_bytes = v)
                    .await;
            }
            if pairs.iter().any(|(n, _)| n == "proto-max-bulk-len") {
                let v = rt.proto_max_bulk_len.load(Ordering::Relaxed);
                w.call_all(move |w| w.shard.borrow_mut().config.proto_max_bulk_len = v)
                    .await;
            }
            encode::ok(out);
        }
        b"resetstat" if argv.len() == 2 => {
            let shared = &w.shared;
            shared.total_connections.store(0, Ordering::Relaxed);
            shared.rejected_connections.store(0, Ordering::Relaxed);
            w.call_all(|w| w.reset_stats()).await;
            encode::ok(out);
        }
        b"rewrite" if argv.len() == 2 => {
            return Err(Error::Static(
                "ERR The server is running without a config file",
            ))
        }
        b"help" => {
            commands::reply_help(
                out,
                &[
                    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "GET <pattern>",
                    "SET <directive> <value>",
                    "RESETSTAT",
                    "REWRITE",
                    "HELP",
                ],
            );
        }
        b"get" | b"set" | b"resetstat" | b"rewrite" => {
            return Err(Error::WrongArity(format!("config|{}", lossy(&sub))));
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "CONFIG")),
    }
    Ok(())
}
