//! Commands the server runs itself: connection state (SELECT, AUTH, HELLO,
//! CLIENT), introspection (INFO, CONFIG, COMMAND, DEBUG), and the keyless
//! commands that visit every shard (KEYS, DBSIZE, RANDOMKEY, FLUSHDB,
//! FLUSHALL). Multi-key commands across shards are in `fanout.rs`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use commands::args::{parse_f64, parse_i64};
use commands::keys;
use commands::Error;
use resp::encode;

use crate::conn::{Client, Flow};
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};
use crate::features::info;

type Argv<'a> = &'a [&'a [u8]];

/// TIME's reply: unix seconds and microseconds (also from scripts).
pub fn time(out: &mut Vec<u8>) {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    encode::array_len(out, 2);
    encode::bulk(out, (us / 1_000_000).to_string().as_bytes());
    encode::bulk(out, (us % 1_000_000).to_string().as_bytes());
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command of the `Server` kind; errors are written as replies.
pub async fn server_command(
    w: &Route<'_>,
    client: &mut Client,
    name: &str,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Flow {
    match run(w, client, name, argv, out).await {
        Ok(flow) => flow,
        Err(e) => {
            e.write(out);
            Flow::Continue
        }
    }
}

async fn run(
    w: &Route<'_>,
    client: &mut Client,
    name: &str,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<Flow, Error> {
    match name {
        "ping"
            if argv.len() <= 2 && !client.resp3 && crate::features::pubsub::subscribed(client) =>
        {
            crate::features::pubsub::ping(argv, out)
        }
        "ping" => match argv.len() {
            1 => encode::simple(out, b"PONG"),
            2 => encode::bulk(out, argv[1]),
            _ => return Err(Error::WrongArity("ping".into())),
        },
        "echo" => encode::bulk(out, argv[1]),
        "quit" => {
            encode::ok(out);
            return Ok(Flow::Close);
        }
        "select" => {
            let db = parse_i64(argv[1]).ok_or(Error::NotInteger)?;
            if db < 0 || db >= w.shared.config.startup.databases as i64 {
                return Err(Error::DbIndexOutOfRange);
            }
            client.db = db as usize;
            client.info.borrow_mut().db = client.db;
            encode::ok(out);
        }
        "auth" => auth(w, client, argv, out)?,
        "hello" => hello(w, client, argv, out)?,
        "time" => time(out),
        "function" => crate::features::script::function(w, client.resp3, argv, out)?,
        "lastsave" => encode::integer(out, w.shared.started_unix as i64),
        "readonly" | "readwrite" => encode::ok(out),
        "swapdb" => {
            let n = w.shared.config.startup.databases as i64;
            let idx = |a: &[u8], which: &'static str| {
                parse_i64(a).ok_or(Error::Static(which)).and_then(|i| {
                    if (0..n).contains(&i) {
                        Ok(i as usize)
                    } else {
                        Err(Error::DbIndexOutOfRange)
                    }
                })
            };
            let a = idx(argv[1], "ERR invalid first DB index")?;
            let b = idx(argv[2], "ERR invalid second DB index")?;
            // All shards at once, as one transaction: nobody sees one
            // shard swapped and another not.
            w.atomically(0..w.nshards(), async |r: Route<'_>| {
                r.call_all(move |w| w.shard.borrow_mut().ks.swap_dbs(a, b, now_ms()))
                    .await;
            })
            .await;
            encode::ok(out);
        }
        // Inside EXEC (the only way a blocking command gets here) and
        // ZMPOP: no blocking.
        "blpop" | "brpop" | "brpoplpush" | "blmove" | "blmpop" | "bzpopmin" | "bzpopmax"
        | "bzmpop" | "zmpop" => {
            crate::features::blocking::run_nonblocking(w, client, argv, out).await?
        }
        "multi" => crate::features::multi::multi(client, out)?,
        "exec" => crate::features::multi::exec(w, client, argv[0], out).await?,
        "discard" => crate::features::multi::discard(w, client, out).await?,
        "watch" => crate::features::multi::watch(w, client, argv, out).await?,
        "unwatch" => {
            crate::features::multi::unwatch_all(w, client).await;
            encode::ok(out);
        }
        "reset" => {
            if let Some(sink) = client.monitor.take() {
                crate::features::monitor::stop(w, &sink);
            }
            crate::features::pubsub::drop_all(w, client);
            client.multi = None;
            crate::features::multi::unwatch_all(w, client).await;
            client.db = 0;
            client.resp3 = false;
            client.authed = w.shared.config.requirepass().is_none();
            encode::simple(out, b"RESET");
        }
        "monitor" => {
            if client.monitor.is_none() {
                let sink = client.pubsub.as_ref().map(|s| std::rc::Rc::clone(s.sink()));
                client.monitor = Some(crate::features::monitor::start(w, sink));
            }
            encode::ok(out);
        }
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
            crate::features::script::eval(w, client, name, argv, out).await?
        }
        "script" => crate::features::script::script(w, argv, out)?,
        "subscribe" | "psubscribe" => crate::features::pubsub::subscribe(w, client, argv, out),
        "unsubscribe" | "punsubscribe" => {
            crate::features::pubsub::unsubscribe(w, client, argv, out)
        }
        "publish" => crate::features::pubsub::publish(w, client, argv, out).await,
        "pubsub" => crate::features::pubsub::pubsub(w, client, argv, out).await?,
        "info" => {
            let text = info::render(w, argv).await;
            encode::bulk(out, text.as_bytes());
        }
        "config" => config(w, client.resp3, argv, out).await?,
        "command" => info::command(w, client.resp3, argv, out)?,
        "client" => return client_cmd(w, client, argv, out).await,
        "debug" => debug(w, client, argv, out).await?,
        "shutdown" => {
            log::warn!("User requested shutdown...");
            log::warn!("Tessera is now ready to exit, bye bye...");
            std::process::exit(0);
        }
        "keys" => {
            let pattern = argv[1].to_vec();
            let db = client.db;
            let parts = w
                .call_all(move |w| {
                    keys::keys_matching(&mut w.shard.borrow_mut(), db, &pattern, now_ms())
                })
                .await;
            let n: usize = parts.iter().map(Vec::len).sum();
            encode::array_len(out, n);
            for k in parts.iter().flatten() {
                encode::bulk(out, k);
            }
        }
        "scan" => crate::features::fanout::scan(w, client, argv, out).await?,
        "migrate" => crate::features::migrate::migrate(w, client, argv, out).await?,
        "sort" | "sort_ro" => crate::features::fanout::sort(w, client, argv, out).await?,
        "dbsize" => {
            let db = client.db;
            let n: usize = w
                .call_all(move |w| w.shard.borrow().ks.dbs[db].len())
                .await
                .iter()
                .sum();
            encode::integer(out, n as i64);
        }
        "randomkey" => {
            let db = client.db;
            let sizes = w.call_all(move |w| w.shard.borrow().ks.dbs[db].len()).await;
            let total: usize = sizes.iter().sum();
            let mut key = None;
            if total > 0 {
                // Pick a shard weighted by size, then a key on it; retry on
                // a shard that emptied meanwhile.
                for _ in 0..8 {
                    let mut r = fastrand::usize(..total);
                    let mut target = 0;
                    for (i, s) in sizes.iter().enumerate() {
                        if r < *s {
                            target = i;
                            break;
                        }
                        r -= s;
                    }
                    key = w
                        .call(target, move |w| {
                            w.shard.borrow_mut().ks.dbs[db].random_key(now_ms())
                        })
                        .await
                        .flatten();
                    if key.is_some() {
                        break;
                    }
                }
            }
            match key {
                Some(k) => encode::bulk(out, &k),
                None => encode::null(out, client.resp3),
            }
        }
        "flushdb" | "flushall" => {
            if argv.len() > 2
                || (argv.len() == 2
                    && !argv[1].eq_ignore_ascii_case(b"async")
                    && !argv[1].eq_ignore_ascii_case(b"sync"))
            {
                return Err(Error::Syntax);
            }
            let db = (name == "flushdb").then_some(client.db);
            w.call_all(move |w| {
                let mut s = w.shard.borrow_mut();
                match db {
                    Some(d) => s.ks.dbs[d].clear(now_ms()),
                    None => s.ks.flush_all(now_ms()),
                }
            })
            .await;
            encode::ok(out);
        }
        _ => return Err(Error::unknown_command(argv[0], &argv[1..])),
    }
    Ok(Flow::Continue)
}

/// `AUTH [username] password`
fn auth(w: &Worker, client: &mut Client, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    if argv.len() > 3 {
        return Err(Error::Syntax);
    }
    let Some(pass) = w.shared.config.requirepass() else {
        if argv.len() == 2 {
            return Err(Error::Static("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
        }
        if argv[1] == b"default" {
            client.authed = true;
            encode::ok(out);
            return Ok(());
        }
        return Err(Error::Static(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ));
    };
    let (user, given) = if argv.len() == 3 {
        (argv[1], argv[2])
    } else {
        (&b"default"[..], argv[1])
    };
    if user == b"default" && given == pass.as_bytes() {
        client.authed = true;
        encode::ok(out);
        Ok(())
    } else {
        Err(Error::Static(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(w: &Worker, client: &mut Client, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let mut i = 1;
    let mut resp3 = client.resp3;
    if argv.len() > 1 {
        let v = parse_i64(argv[1]).ok_or(Error::Static(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        match v {
            2 => resp3 = false,
            3 => resp3 = true,
            _ => return Err(Error::Static("NOPROTO unsupported protocol version")),
        }
        i = 2;
    }
    let mut name = None;
    while i < argv.len() {
        if argv[i].eq_ignore_ascii_case(b"AUTH") && i + 2 < argv.len() {
            let mut tmp = Vec::new();
            auth(w, client, &[b"auth", argv[i + 1], argv[i + 2]], &mut tmp)?;
            i += 3;
        } else if argv[i].eq_ignore_ascii_case(b"SETNAME") && i + 1 < argv.len() {
            name = Some(argv[i + 1].to_vec());
            i += 2;
        } else {
            return Err(Error::Other(format!(
                "ERR Syntax error in HELLO option '{}'",
                lossy(argv[i])
            )));
        }
    }
    if !client.authed {
        return Err(Error::Static("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"));
    }
    if let Some(n) = name {
        client.info.borrow_mut().name = n;
    }
    client.resp3 = resp3;
    encode::map_len(out, 7, resp3);
    for (k, v) in [("server", "redis"), ("version", info::REDIS_VERSION)] {
        encode::bulk(out, k.as_bytes());
        encode::bulk(out, v.as_bytes());
    }
    encode::bulk(out, b"proto");
    encode::integer(out, if resp3 { 3 } else { 2 });
    encode::bulk(out, b"id");
    encode::integer(out, client.id as i64);
    for (k, v) in [("mode", "standalone"), ("role", "master")] {
        encode::bulk(out, k.as_bytes());
        encode::bulk(out, v.as_bytes());
    }
    encode::bulk(out, b"modules");
    encode::array_len(out, 0);
    Ok(())
}

/// The subcommands of the container commands run here, named as Redis 7
/// names them in CLIENT LIST's `cmd=`.
pub const SUBCOMMANDS: &[&str] = &[
    "client|getname",
    "client|help",
    "client|id",
    "client|info",
    "client|kill",
    "client|list",
    "client|no-evict",
    "client|reply",
    "client|setinfo",
    "client|setname",
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
];

/// `name`, or `name|sub` when `argv[1]` is one of its subcommands
/// (`client|list`), for CLIENT LIST's `cmd=`.
pub fn full_name(name: &'static str, argv: &[&[u8]]) -> &'static str {
    let Some(sub) = argv.get(1) else {
        return name;
    };
    SUBCOMMANDS
        .iter()
        .copied()
        .find(|s| {
            s.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('|'))
                .is_some_and(|rest| rest.as_bytes().eq_ignore_ascii_case(sub))
        })
        .unwrap_or(name)
}

/// CONFIG GET pattern [pattern ...] | SET name value [name value ...] | RESETSTAT | REWRITE | HELP
async fn config(
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
            if pairs.iter().any(|(n, _)| n == "notify-keyspace-events") {
                let v = rt.notify_keyspace_events.load(Ordering::Relaxed);
                w.call_all(move |_| storage::notify::set_flags(v)).await;
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

fn client_line(c: &crate::engine::worker::ClientInfo, now_s: u64) -> String {
    let mut flags = String::new();
    if c.sub + c.psub > 0 {
        flags.push('P');
    }
    if c.multi >= 0 {
        flags.push('x');
    }
    if c.blocked {
        flags.push('b');
    }
    if flags.is_empty() {
        flags.push('N');
    }
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp=2 lib-name={} lib-ver={}\n",
        c.id,
        c.addr,
        c.laddr,
        c.fd,
        lossy(&c.name),
        now_s.saturating_sub(c.created),
        now_s.saturating_sub(c.last_active),
        flags,
        c.db,
        c.sub,
        c.psub,
        c.multi,
        c.qbuf,
        c.last_cmd.to_ascii_lowercase(),
        lossy(&c.lib_name),
        lossy(&c.lib_ver),
    )
}

/// CLIENT KILL TYPE's kinds of client (no replicas or masters here yet).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientKind {
    Normal,
    PubSub,
    Replica,
}

impl ClientKind {
    fn of(c: &crate::engine::worker::ClientInfo) -> ClientKind {
        if c.sub + c.psub > 0 {
            ClientKind::PubSub
        } else {
            ClientKind::Normal
        }
    }
}

/// Which connections CLIENT KILL closes.
#[derive(Clone, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    /// TYPE: the kind of client (None: any).
    kind: Option<ClientKind>,
    skipme: bool,
}

impl KillFilter {
    /// `CLIENT KILL ip:port` or `CLIENT KILL [ID id] [ADDR ip:port]
    /// [LADDR ip:port] [TYPE type] [USER name] [SKIPME yes|no]`.
    fn parse(argv: Argv<'_>) -> Result<KillFilter, Error> {
        if argv.len() == 3 {
            // The old form: one address, and the caller may be it.
            return Ok(KillFilter {
                addr: Some(lossy(argv[2])),
                ..Default::default()
            });
        }
        let mut f = KillFilter {
            skipme: true,
            ..Default::default()
        };
        for pair in argv[2..].chunks(2) {
            let [opt, val] = pair else {
                return Err(Error::Syntax);
            };
            match opt.to_ascii_lowercase().as_slice() {
                b"id" => {
                    let id = parse_i64(val)
                        .filter(|&n| n > 0)
                        .ok_or(Error::Static("ERR client-id should be greater than 0"))?;
                    f.id = Some(id as u64);
                }
                b"addr" => f.addr = Some(lossy(val)),
                b"laddr" => f.laddr = Some(lossy(val)),
                b"type" => match val.to_ascii_lowercase().as_slice() {
                    b"normal" => f.kind = Some(ClientKind::Normal),
                    b"pubsub" => f.kind = Some(ClientKind::PubSub),
                    b"master" | b"slave" | b"replica" => f.kind = Some(ClientKind::Replica),
                    _ => {
                        return Err(Error::Other(format!(
                            "ERR Unknown client type '{}'",
                            lossy(val)
                        )))
                    }
                },
                b"user" if *val == b"default" => {}
                b"user" => return Err(Error::Other(format!("ERR No such user '{}'", lossy(val)))),
                b"skipme" => match val.to_ascii_lowercase().as_slice() {
                    b"yes" => f.skipme = true,
                    b"no" => f.skipme = false,
                    _ => return Err(Error::Syntax),
                },
                _ => return Err(Error::Syntax),
            }
        }
        Ok(f)
    }

    fn matches(&self, c: &crate::engine::worker::ClientInfo) -> bool {
        self.kind.is_none_or(|k| k == ClientKind::of(c))
            && self.id.is_none_or(|id| id == c.id)
            && self.addr.as_ref().is_none_or(|a| *a == c.addr)
            && self.laddr.as_ref().is_none_or(|a| *a == c.laddr)
    }
}

/// CLIENT KILL: closes the matching connections of every thread. Each is
/// shut down on the thread that serves it (its reads end, and it closes as
/// a disconnected client would); the caller, if it matches, closes after
/// this reply. Replies with the count, or for the old one-address form OK
/// or "No such client".
async fn client_kill(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<Flow, Error> {
    let filter = KillFilter::parse(argv)?;
    let me = client.id;
    let old_form = argv.len() == 3;
    let f = filter.clone();
    let killed: usize = w
        .call_all(move |w| {
            let mut n = 0;
            for c in w.clients.borrow().values() {
                let c = c.borrow();
                if c.id == me || !f.matches(&c) {
                    continue;
                }
                // SAFETY: shutdown(2) on a descriptor this thread's live
                // connection owns (it leaves the map before it closes).
                unsafe {
                    libc::shutdown(c.fd, libc::SHUT_RDWR);
                }
                n += 1;
            }
            n
        })
        .await
        .into_iter()
        .sum();
    let kill_me = !filter.skipme && filter.matches(&client.info.borrow());
    let killed = killed + usize::from(kill_me);
    if old_form {
        if killed == 0 {
            return Err(Error::Static("ERR No such client"));
        }
        encode::ok(out);
    } else {
        encode::integer(out, killed as i64);
    }
    Ok(if kill_me { Flow::Close } else { Flow::Continue })
}

/// CLIENT ID | GETNAME | SETNAME name | SETINFO attr value | LIST | INFO |
/// KILL filter... | REPLY ON|OFF|SKIP | UNBLOCK id [TIMEOUT|ERROR] | HELP
async fn client_cmd(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<Flow, Error> {
    let sub = argv[1].to_ascii_lowercase();
    let arity = |n: usize| -> Result<(), Error> {
        if argv.len() == n {
            Ok(())
        } else {
            Err(Error::WrongArity(format!("client|{}", lossy(&sub))))
        }
    };
    match sub.as_slice() {
        b"id" => {
            arity(2)?;
            encode::integer(out, client.id as i64);
        }
        b"kill" if argv.len() >= 3 => return client_kill(w, client, argv, out).await,
        b"reply" => {
            arity(3)?;
            use crate::conn::ReplyMode;
            // OFF and SKIP answer nothing, not even to themselves.
            match argv[2].to_ascii_lowercase().as_slice() {
                b"on" => {
                    client.reply = ReplyMode::On;
                    encode::ok(out);
                }
                b"off" => client.reply = ReplyMode::Off,
                b"skip" => {
                    if client.reply != ReplyMode::Off {
                        client.reply = ReplyMode::SkipNext;
                    }
                }
                _ => return Err(Error::Syntax),
            }
        }
        b"kill" => return Err(Error::WrongArity("client|kill".into())),
        b"unblock" if argv.len() == 3 || argv.len() == 4 => {
            let id = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
            let error = match argv.get(3) {
                None => false,
                Some(a) if a.eq_ignore_ascii_case(b"timeout") => false,
                Some(a) if a.eq_ignore_ascii_case(b"error") => true,
                Some(_) => {
                    return Err(Error::Static(
                        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                    ))
                }
            };
            let id = id as u64;
            let done = w
                .call_all(move |w| crate::features::blocking::unblock(w, id, error))
                .await;
            encode::integer(out, i64::from(done.iter().any(|d| *d)));
        }
        b"getname" => {
            arity(2)?;
            let name = client.info.borrow().name.clone();
            if name.is_empty() {
                encode::null(out, client.resp3);
            } else {
                encode::bulk(out, &name);
            }
        }
        b"setname" => {
            arity(3)?;
            if argv[2].iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
                return Err(Error::Static(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            client.info.borrow_mut().name = argv[2].to_vec();
            encode::ok(out);
        }
        b"setinfo" => {
            arity(4)?;
            let attr = argv[2].to_ascii_lowercase();
            if argv[3].iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
                return Err(Error::Other(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    lossy(&attr)
                )));
            }
            let mut info = client.info.borrow_mut();
            match attr.as_slice() {
                b"lib-name" => info.lib_name = argv[3].to_vec(),
                b"lib-ver" => info.lib_ver = argv[3].to_vec(),
                _ => {
                    return Err(Error::Other(format!(
                        "ERR Unrecognized option '{}'",
                        lossy(argv[2])
                    )))
                }
            }
            encode::ok(out);
        }
        b"info" => {
            arity(2)?;
            let line = client_line(&client.info.borrow(), now_ms() / 1000);
            encode::bulk(out, line.as_bytes());
        }
        b"list" => {
            let parts = w
                .call_all(|w| {
                    let now_s = now_ms() / 1000;
                    w.clients
                        .borrow()
                        .values()
                        .map(|c| client_line(&c.borrow(), now_s))
                        .collect::<String>()
                })
                .await;
            encode::bulk(out, parts.concat().as_bytes());
        }
        b"help" => {
            commands::reply_help(
                out,
                &[
                    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "ID",
                    "GETNAME",
                    "SETNAME <name>",
                    "SETINFO <option> <value>",
                    "INFO",
                    "LIST",
                    "KILL <ip:port> | KILL <option> <value> [<option> <value> ...]",
                    "REPLY (ON|OFF|SKIP)",
                    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                    "HELP",
                ],
            );
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "CLIENT")),
    }
    Ok(Flow::Continue)
}

/// `DEBUG SLEEP seconds | POPULATE count [prefix] [size] | SET-ACTIVE-EXPIRE 0|1 | OBJECT key | RELOAD | DIGEST | DIGEST-VALUE key... | QUICKLIST-PACKED-THRESHOLD size | HELP`
async fn debug(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
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
        b"protocol" if argv.len() == 3 => debug_protocol(client.resp3, argv[2], out)?,
        b"log" if argv.len() == 3 => {
            log::info!("DEBUG LOG: {}", lossy(argv[2]));
            encode::ok(out);
        }
        b"set-active-expire" if argv.len() == 3 => {
            w.shared
                .active_expire
                .store(argv[2] != b"0", Ordering::Relaxed);
            encode::ok(out);
        }
        // No persistence yet, so nothing goes to disk: what a reload does to
        // the data itself is done — every aggregate is rebuilt as loading
        // it would build it, so encodings return to their compact forms.
        b"reload" => {
            w.call_all(|w| {
                let mut shard = w.shard.borrow_mut();
                for db in shard.ks.dbs.iter_mut() {
                    commands::debug::reload_db(db, now_ms());
                }
            })
            .await;
            encode::ok(out);
        }
        b"digest" if argv.len() == 2 => {
            let parts = w
                .call_all(|w| {
                    let shard = w.shard.borrow();
                    let mut d = commands::debug::Digest::default();
                    for (i, db) in shard.ks.dbs.iter().enumerate() {
                        let mut dd = commands::debug::digest_db(db, now_ms());
                        if dd != commands::debug::Digest::default() {
                            dd.xor(commands::debug::Digest([i as u64, 0, 0]));
                        }
                        d.xor(dd);
                    }
                    d
                })
                .await;
            let mut d = commands::debug::Digest::default();
            for p in parts {
                d.xor(p);
            }
            encode::simple(out, d.hex().as_bytes());
        }
        b"digest-value" => {
            let db = client.db;
            encode::array_len(out, argv.len() - 2);
            for key in &argv[2..] {
                let k = key.to_vec();
                let d = w
                    .call(w.shard_of(key), move |w| {
                        let mut shard = w.shard.borrow_mut();
                        shard.ks.dbs[db]
                            .get(&k, now_ms())
                            .map(commands::debug::digest_value)
                            .unwrap_or_default()
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
                    "OBJECT <key>",
                    "POPULATE <count> [<prefix>] [<size>]",
                    "QUICKLIST-PACKED-THRESHOLD <size>",
                    "RELOAD",
                    "SET-ACTIVE-EXPIRE <0|1>",
                    "SLEEP <seconds>",
                    "HELP",
                ],
            );
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "DEBUG")),
    }
    Ok(())
}

/// DEBUG PROTOCOL type: one reply of each RESP3 type, and what it becomes
/// in RESP2, so clients can test their parsers.
fn debug_protocol(resp3: bool, kind: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
    let raw = |out: &mut Vec<u8>, r3: &[u8], r2: &[u8]| {
        out.extend_from_slice(if resp3 { r3 } else { r2 })
    };
    match kind.to_ascii_lowercase().as_slice() {
        b"string" => encode::bulk(out, b"Hello World"),
        b"integer" => encode::integer(out, 12345),
        b"double" => raw(out, b",3.141\r\n", b"$5\r\n3.141\r\n"),
        b"bignum" => raw(
            out,
            b"(1234567999999999999999999999999999999\r\n",
            b"$37\r\n1234567999999999999999999999999999999\r\n",
        ),
        b"null" => encode::null(out, resp3),
        b"array" => {
            encode::array_len(out, 3);
            (0..3).for_each(|i| encode::integer(out, i));
        }
        b"set" => {
            raw(out, b"~3\r\n", b"*3\r\n");
            (0..3).for_each(|i| encode::integer(out, i));
        }
        b"map" => {
            encode::map_len(out, 3, resp3);
            for i in 0..3 {
                encode::integer(out, i);
                raw(out, if i == 1 { b"#t\r\n" } else { b"#f\r\n" }, if i == 1 { b":1\r\n" } else { b":0\r\n" });
            }
        }
        b"attrib" => {
            if resp3 {
                out.extend_from_slice(b"|1\r\n");
                encode::bulk(out, b"key-popularity");
                encode::array_len(out, 2);
                encode::bulk(out, b"key:123");
                encode::integer(out, 90);
            }
            encode::bulk(out, b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return Err(Error::Static("ERR RESP2 is not supported by this command"));
            }
            out.extend_from_slice(b">2\r\n");
            encode::bulk(out, b"server-cpu-usage");
            encode::integer(out, 42);
            encode::bulk(out, b"Some real reply following the push reply");
        }
        b"true" => raw(out, b"#t\r\n", b":1\r\n"),
        b"false" => raw(out, b"#f\r\n", b":0\r\n"),
        b"verbatim" => raw(
            out,
            b"=29\r\ntxt:This is a verbatim\nstring\r\n",
            b"$25\r\nThis is a verbatim\nstring\r\n",
        ),
        _ => {
            return Err(Error::Static(
                "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
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
