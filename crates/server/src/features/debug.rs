//! DEBUG: the subcommands Redis's tests and tools use (SLEEP, POPULATE,
//! SET-ACTIVE-EXPIRE, OBJECT, RELOAD, DIGEST, DIGEST-VALUE, PROTOCOL, ...).

use std::sync::atomic::Ordering;
use std::time::Duration;

use commands::args::{parse_f64, parse_i64};
use commands::Error;
use resp::encode;

use crate::client::Client;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};
use crate::features::multi::RunServer;

type Argv<'a> = &'a [&'a [u8]];

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `DEBUG SLEEP seconds | POPULATE count [prefix] [size] | SET-ACTIVE-EXPIRE 0|1 | SET-DISABLE-DENY-SCRIPTS 0|1 | OBJECT key | RELOAD | LOADAOF | AOF-FLUSH-SLEEP micros | DIGEST | DIGEST-VALUE key... | QUICKLIST-PACKED-THRESHOLD size | HELP`
/// (`run_server`: how LOADAOF runs the AOF's server commands.)
pub async fn debug(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    run_server: RunServer,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let sub = argv[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"sleep" if argv.len() == 3 => {
            let secs = parse_f64(argv[2]).ok_or(Error::NotFloat)?;
            // Like Redis, this blocks the thread: it is how tests simulate a busy server.
            if secs > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0)));
            }
            encode::ok(out);
        }
        b"populate" if (3..=5).contains(&argv.len()) => {
            let count = parse_i64(argv[2])
                .filter(|&n| n >= 0)
                .ok_or(Error::Static("ERR value is out of range, must be positive"))?
                as u64;
            let prefix = argv.get(3).map_or(b"key".to_vec(), |p| p.to_vec());
            let size = match argv.get(4) {
                Some(s) => parse_i64(s)
                    .filter(|&n| n >= 0)
                    .ok_or(Error::Static("ERR value is out of range, must be positive"))?
                    as usize,
                None => 0,
            };
            let db = client.db;
            w.call_all(move |w| populate(w, db, count, &prefix, size))
                .await;
            encode::ok(out);
        }
        b"protocol" if argv.len() == 3 => commands::debug::protocol(client.resp3, argv[2], out)?,
        // Lets scripts call the commands Redis keeps from them (of those,
        // only DEBUG PROTOCOL runs in a script here).
        b"set-disable-deny-scripts" if argv.len() == 3 => {
            let on = parse_i64(argv[2]).unwrap_or(0) != 0;
            w.shared
                .global::<crate::features::script_api::DenyScripts>()
                .disabled
                .store(on, Ordering::Relaxed);
            encode::ok(out);
        }
        b"log" if argv.len() == 3 => {
            log::info!("DEBUG LOG: {}", lossy(argv[2]));
            encode::ok(out);
        }
        // Cluster mode: bus messages of this type (-1: none) are dropped
        // on arrival, as Redis's tests use to simulate lost messages.
        b"drop-cluster-packet-filter" if argv.len() == 3 => {
            let t = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
            crate::features::cluster::set_drop_filter(w, t);
            encode::ok(out);
        }
        b"pause-cron" if argv.len() == 3 => {
            w.shared
                .cron_paused
                .store(argv[2] != b"0", Ordering::Relaxed);
            encode::ok(out);
        }
        b"set-active-expire" if argv.len() == 3 => {
            w.shared
                .active_expire
                .store(argv[2] != b"0", Ordering::Relaxed);
            encode::ok(out);
        }
        // Through the dump file: save, empty, load, as Redis does.
        b"reload" => {
            crate::features::persist::debug_reload(w, &argv[2..]).await?;
            encode::ok(out);
        }
        // Through the AOF: written out, empty, loaded, as Redis does.
        b"loadaof" if argv.len() == 2 => {
            crate::features::aof::debug_loadaof(w, run_server).await?;
            encode::ok(out);
        }
        // Redis reads it with atoi: what is not a number is 0 (off).
        b"aof-flush-sleep" if argv.len() == 3 => {
            let micros = parse_i64(argv[2]).unwrap_or(0).max(0);
            crate::features::aof::set_flush_sleep(micros as u64);
            encode::ok(out);
        }
        // Each shard hands back its share of every database; shares of one
        // database XOR together before the databases are chained in order,
        // so the answer is the same for any shard count.
        b"digest" if argv.len() == 2 => {
            let shares = w
                .call_all(|w| {
                    let shard = w.shard.borrow();
                    shard
                        .ks
                        .dbs
                        .iter()
                        .map(commands::debug::digest_db)
                        .collect::<Vec<_>>()
                })
                .await;
            let mut dbs: Vec<Option<commands::debug::Digest>> = Vec::new();
            for share in shares {
                if dbs.len() < share.len() {
                    dbs.resize(share.len(), None);
                }
                for (into, part) in dbs.iter_mut().zip(share) {
                    commands::debug::merge_db(into, part);
                }
            }
            let d = commands::debug::digest_dataset(dbs);
            encode::simple(out, d.hex().as_bytes());
        }
        b"digest-value" => {
            let db = client.db;
            encode::array_len(out, argv.len() - 2);
            for key in &argv[2..] {
                let k = key.to_vec();
                let d = w
                    .call(w.shard_of(key), move |w| {
                        commands::debug::digest_key_value(&w.shard.borrow().ks.dbs[db], &k)
                    })
                    .await
                    .unwrap_or_default();
                encode::simple(out, d.hex().as_bytes());
            }
        }
        // Tessera's list nodes have no separate "plain" form for big
        // elements, so the threshold has nothing to tune; the argument is
        // still checked as Redis checks it.
        b"quicklist-packed-threshold" if argv.len() == 3 => {
            let ok = std::str::from_utf8(argv[2])
                .ok()
                .and_then(crate::host::config::parse_memory)
                .is_some();
            if !ok {
                return Err(Error::Static("ERR argument must be a memory value"));
            }
            encode::ok(out);
        }
        b"object" if argv.len() == 3 => {
            let key = argv[2].to_vec();
            let db = client.db;
            let target = w.shard_of(&key);
            let r = w
                .call(target, move |w| {
                    let d = &mut w.shard.borrow_mut().ks.dbs[db];
                    d.peek_stamped(&key, now_ms()).map(|(v, stamp)| {
                        let len = v.as_str().map_or(0, |s| s.len());
                        let idle = storage::evict::idle_ms(stamp) / 1000;
                        format!("Value at:0x0 refcount:1 encoding:{} serializedlength:{len} lru:{stamp} lru_seconds_idle:{idle}", v.encoding_name())
                    })
                })
                .await
                .flatten();
            match r {
                Some(s) => encode::simple(out, s.as_bytes()),
                None => return Err(Error::NoSuchKey),
            }
        }
        b"help" => {
            commands::reply_help(
                out,
                &[
                    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "DIGEST",
                    "DIGEST-VALUE <key> [<key> ...]",
                    "AOF-FLUSH-SLEEP <microsec>",
                    "LOADAOF",
                    "OBJECT <key>",
                    "POPULATE <count> [<prefix>] [<size>]",
                    "QUICKLIST-PACKED-THRESHOLD <size>",
                    "RELOAD",
                    "SET-ACTIVE-EXPIRE <0|1>",
                    "SET-DISABLE-DENY-SCRIPTS <0|1>",
                    "SLEEP <seconds>",
                    "HELP",
                ],
            );
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "DEBUG")),
    }
    Ok(())
}

/// DEBUG POPULATE's part on one shard: creates `prefix:i` → `value:i`
/// (zero-padded or cut to `size`) for the keys this shard owns, skipping
/// keys that exist.
fn populate(w: &Worker, db: usize, count: u64, prefix: &[u8], size: usize) {
    let mut shard = w.shard.borrow_mut();
    let now = now_ms();
    let mut key = Vec::with_capacity(prefix.len() + 21);
    let mut val = Vec::with_capacity(size.max(26));
    let mut num = itoa::Buffer::new();
    let n = w.nshards();
    for i in 0..count {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(num.format(i).as_bytes());
        if n > 1 && w.shard_of(&key) != w.id {
            continue;
        }
        let d = &mut shard.ks.dbs[db];
        if d.contains(&key, now) {
            continue;
        }
        val.clear();
        val.extend_from_slice(b"value:");
        val.extend_from_slice(num.format(i).as_bytes());
        if size > 0 {
            val.resize(size, 0);
        }
        d.insert(&key, storage::Value::from_bytes(&val), None);
    }
}
