//! The commands the server runs itself (the `Server` kind of the command
//! table), each sent to the feature module that implements it. This table
//! is the one place a server command's name meets its code.

use commands::Error;
use resp::encode;

use crate::client::{Client, Flow};
use crate::engine::tx::Route;
use crate::features::{
    acl, aof, blocking, client, cluster, command, config, connection, debug, failover, fanout,
    info, keyspace, latency, master, memory, migrate, monitor, multi, persist, pubsub, replication,
    script, server, slowlog, streams,
};

use crate::host::clock;

type Argv<'a> = &'a [&'a [u8]];

/// Runs a command of the `Server` kind; errors are written as replies.
pub async fn server_command(
    w: &Route<'_>,
    client: &mut Client,
    name: &str,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Flow {
    let t0 = clock::ticks();
    let flow = match run(w, client, name, argv, out).await {
        Ok(flow) => flow,
        Err(e) => {
            e.write(out);
            Flow::Continue
        }
    };
    if let Some(spec) = w.shared.table.lookup(name.as_bytes()) {
        slowlog::ran_server(w, client, spec, argv, clock::ticks().wrapping_sub(t0));
    }
    flow
}

async fn run(
    w: &Route<'_>,
    client: &mut Client,
    name: &str,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<Flow, Error> {
    match name {
        "ping" => connection::ping(client, argv, out)?,
        "echo" => encode::bulk(out, argv[1]),
        "quit" => {
            encode::ok(out);
            return Ok(Flow::Close);
        }
        "select" => connection::select(w, client, argv, out)?,
        "auth" => connection::auth(w, client, argv, out)?,
        "hello" => connection::hello(w, client, argv, out)?,
        "reset" => connection::reset(w, client, out).await,
        "readonly" | "readwrite" | "asking" => cluster::command::flag(w, client, name, out)?,
        "cluster" => cluster::command::cluster(w, client, argv, out).await?,
        "client" => return client::client(w, client, argv, out).await,
        "replicaof" | "slaveof" => replication::replicaof(w, client, argv, out)?,
        "role" => master::role(w, out),
        "failover" => failover::failover(w, argv, out).await?,
        "replconf" => replication::replconf(client, argv, out)?,
        "wait" => master::wait(w, argv, out).await?,
        "acl" => {
            let flow = acl::acl(w, client, argv, out).await?;
            // A change to this connection's own user applies from its
            // next command on.
            if !acl::refresh(w, client) {
                return Ok(Flow::Close);
            }
            return Ok(flow);
        }
        "time" => server::time(out),
        "lastsave" => persist::lastsave(w, out),
        "save" => persist::save_command(w, out).await?,
        "bgsave" => persist::bgsave_command(w, argv, out)?,
        "bgrewriteaof" => aof::bgrewriteaof(w, out)?,
        "shutdown" => {
            // Returns only for SHUTDOWN ABORT (a shutdown exits).
            persist::shutdown(w, argv).await?;
            encode::ok(out);
        }
        "info" => info::info(w, argv, out).await,
        "memory" => memory::memory(w, client.db, client.resp3, argv, out).await?,
        "slowlog" => slowlog::slowlog(w, argv, out).await?,
        "latency" => latency::latency(w, client.resp3, argv, out).await?,
        "config" => config::config(w, client.resp3, argv, out).await?,
        "command" => command::command(w, client.resp3, argv, out)?,
        "debug" => debug::debug(w, client, argv, server_command_boxed, out).await?,
        "keys" => keyspace::keys(w, client, argv, out).await,
        "dbsize" => keyspace::dbsize(w, client, out).await,
        "randomkey" => keyspace::randomkey(w, client, out).await,
        "flushdb" => keyspace::flush(w, client, name, argv, out).await?,
        "flushall" => {
            keyspace::flush(w, client, name, argv, out).await?;
            persist::after_flushall(w).await;
        }
        "swapdb" => keyspace::swapdb(w, argv, out).await?,
        "scan" => fanout::scan(w, client, argv, out).await?,
        "sort" | "sort_ro" => fanout::sort(w, client, argv, out).await?,
        "migrate" => migrate::migrate(w, client, argv, out).await?,
        // Inside EXEC (the only way a blocking command gets here) and
        // ZMPOP: no blocking.
        "blpop" | "brpop" | "brpoplpush" | "blmove" | "blmpop" | "bzpopmin" | "bzpopmax"
        | "bzmpop" | "zmpop" => blocking::run_nonblocking(w, client, argv, out).await?,
        // The same for the stream reads (BLOCK ignored, as in Redis).
        "xread" | "xreadgroup" => streams::run_nonblocking(w, client, argv, out).await?,
        "multi" => multi::multi(client, out)?,
        "exec" => multi::exec(w, client, argv[0], server_command_boxed, out).await?,
        "discard" => multi::discard(w, client, out).await?,
        "watch" => multi::watch(w, client, argv, out).await?,
        "unwatch" => {
            multi::unwatch_all(w, client).await;
            encode::ok(out);
        }
        "monitor" => monitor::monitor(w, client, out),
        "subscribe" | "psubscribe" | "ssubscribe" => pubsub::subscribe(w, client, argv, out),
        "unsubscribe" | "punsubscribe" | "sunsubscribe" => {
            pubsub::unsubscribe(w, client, argv, out)
        }
        "publish" => pubsub::publish(w, client, argv, out).await,
        "spublish" => pubsub::spublish(w, client, argv, out).await,
        "pubsub" => pubsub::pubsub(w, client, argv, out).await?,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => {
            script::eval(w, client, name, argv, out).await?
        }
        "script" => script::script(w, argv, out)?,
        "function" => {
            crate::features::function::function(w, client.resp3, argv, out)?;
            // Libraries changed: recorded, as Redis propagates them.
            let sub = argv.get(1).map(|a| a.to_ascii_lowercase());
            if matches!(
                sub.as_deref(),
                Some(b"load" | b"delete" | b"flush" | b"restore")
            ) {
                crate::engine::journal::record(client.db, argv);
            }
        }
        _ => return Err(Error::unknown_command(argv[0], &argv[1..])),
    }
    Ok(Flow::Continue)
}

/// [`server_command`] as EXEC takes it: a boxed future, since EXEC runs
/// inside it (a queued command may be any server command but EXEC).
pub(crate) fn server_command_boxed<'a>(
    w: &'a Route<'a>,
    client: &'a mut Client,
    name: &'a str,
    argv: Argv<'a>,
    out: &'a mut Vec<u8>,
) -> multi::BoxedFlow<'a> {
    Box::pin(server_command(w, client, name, argv, out))
}
