//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO, RESET
//! (READONLY, READWRITE and ASKING are cluster mode's: `cluster::command`).
//! QUIT is the connection loop's own (it ends the loop).
//!
//! RESET also ends what MONITOR, SUBSCRIBE and MULTI/WATCH started, so
//! this module uses those three features.

use commands::args::parse_i64;
use commands::Error;
use resp::encode;

use crate::client::Client;
use crate::engine::worker::Worker;
use crate::features::{acl, info, monitor, multi, pubsub};

type Argv<'a> = &'a [&'a [u8]];

/// `PING [message]` (in RESP2 a subscribed connection gets pub/sub's form).
pub fn ping(client: &Client, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    if argv.len() <= 2 && !client.resp3 && pubsub::subscribed(client) {
        pubsub::ping(argv, out);
        return Ok(());
    }
    match argv.len() {
        1 => encode::simple(out, b"PONG"),
        2 => encode::bulk(out, argv[1]),
        _ => return Err(Error::WrongArity("ping".into())),
    }
    Ok(())
}

/// `SELECT index`
pub fn select(
    w: &Worker,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let db = parse_i64(argv[1]).ok_or(Error::NotInteger)?;
    if db < 0 || db >= w.shared.config.startup.databases as i64 {
        return Err(Error::DbIndexOutOfRange);
    }
    if db != 0 && crate::features::cluster::state(w).enabled() {
        return Err(Error::Static("ERR SELECT is not allowed in cluster mode"));
    }
    client.db = db as usize;
    client.info.borrow_mut().db = client.db;
    encode::ok(out);
    Ok(())
}

/// `RESET`: the connection as it was when it connected.
pub async fn reset(w: &Worker, client: &mut Client, out: &mut Vec<u8>) {
    if let Some(sink) = client.monitor.take() {
        monitor::stop(w, &sink);
    }
    pubsub::drop_all(w, client);
    crate::features::tracking::off(&crate::engine::tx::Route::plain(w), client).await;
    client.multi = None;
    multi::unwatch_all(w, client).await;
    client.db = 0;
    client.resp3 = false;
    client.cluster_readonly = false;
    client.asking = 0;
    acl::connect(w, client);
    encode::simple(out, b"RESET");
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `AUTH [username] password`
pub fn auth(
    w: &Worker,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if argv.len() > 3 {
        return Err(Error::Syntax);
    }
    if argv.len() == 2 && acl::default_needs_no_password(w) {
        return Err(Error::Static("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"));
    }
    let (user, pass) = if argv.len() == 3 {
        (argv[1], argv[2])
    } else {
        (&b"default"[..], argv[1])
    };
    acl::auth(w, client, user, pass)?;
    encode::ok(out);
    Ok(())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(
    w: &Worker,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
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
