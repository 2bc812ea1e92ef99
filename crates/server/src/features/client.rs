//! CLIENT and its subcommands: what the engine's `ClientInfo` records of
//! each connection, and acting on other connections (KILL, UNBLOCK).
//! CLIENT UNBLOCK uses `blocking.rs`.

use commands::args::parse_i64;
use commands::Error;
use resp::encode;

use crate::client::{Client, Flow};
use crate::engine::tx::Route;
use crate::engine::worker::now_ms;
use crate::features::tracking;

type Argv<'a> = &'a [&'a [u8]];

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn client_line(c: &crate::engine::worker::ClientInfo, now_s: u64) -> String {
    c.line(now_s)
}

/// CLIENT KILL TYPE's kinds of client (no replicas or masters here yet).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientKind {
    Normal,
    PubSub,
    Replica,
    Master,
}

impl ClientKind {
    fn of(c: &crate::engine::worker::ClientInfo) -> ClientKind {
        if c.is_master {
            ClientKind::Master
        } else if c.is_replica {
            ClientKind::Replica
        } else if c.sub + c.psub + c.ssub > 0 {
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
    user: Option<String>,
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
                    b"master" => f.kind = Some(ClientKind::Master),
                    b"slave" | b"replica" => f.kind = Some(ClientKind::Replica),
                    _ => {
                        return Err(Error::Other(format!(
                            "ERR Unknown client type '{}'",
                            lossy(val)
                        )))
                    }
                },
                b"user" => f.user = Some(lossy(val)),
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
            && self.user.as_ref().is_none_or(|u| **u == *c.user)
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
    if let Some(u) = &filter.user {
        if !crate::features::acl::user_exists(w, u) {
            return Err(Error::Other(format!("ERR No such user '{u}'")));
        }
    }
    let me = client.id;
    let old_form = argv.len() == 3;
    let f = filter.clone();
    let killed: usize = w
        .call_all(move |w| {
            let ids: Vec<u64> = w
                .clients
                .borrow()
                .values()
                .map(|c| c.borrow())
                .filter(|c| c.id != me && f.matches(c))
                .map(|c| c.id)
                .collect();
            w.close_clients(&ids);
            ids.len()
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
/// KILL filter... | REPLY ON|OFF|SKIP | UNBLOCK id [TIMEOUT|ERROR] |
/// PAUSE timeout [WRITE|ALL] | UNPAUSE | NO-EVICT ON|OFF | TRACKING ON|OFF
/// [option...] | CACHING YES|NO | GETREDIR | TRACKINGINFO | HELP
pub async fn client(
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
            use crate::client::ReplyMode;
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
        b"pause" if argv.len() < 3 => return Err(Error::WrongArity("client|pause".into())),
        b"unblock" if argv.len() < 3 => return Err(Error::WrongArity("client|unblock".into())),
        b"unblock" if argv.len() > 4 => return Err(Error::subcommand_syntax(argv[1], "CLIENT")),
        b"unblock" => {
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
        b"pause" if argv.len() >= 3 => {
            crate::features::pause::pause(w, argv)?;
            encode::ok(out);
        }
        b"unpause" => {
            arity(2)?;
            crate::features::pause::unpause(w).await;
            encode::ok(out);
        }
        b"no-evict" => {
            arity(3)?;
            if !argv[2].eq_ignore_ascii_case(b"on") && !argv[2].eq_ignore_ascii_case(b"off") {
                return Err(Error::Syntax);
            }
            encode::ok(out);
        }
        b"getredir" => {
            arity(2)?;
            tracking::getredir(client, out);
        }
        b"trackinginfo" => {
            arity(2)?;
            tracking::trackinginfo(client, out);
        }
        b"tracking" if argv.len() >= 3 => tracking::tracking(w, client, argv, out).await?,
        b"tracking" => return Err(Error::WrongArity("client|tracking".into())),
        b"caching" => {
            arity(3)?;
            tracking::caching(w, client, argv, out)?;
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
                    "PAUSE <timeout> [WRITE|ALL]",
                    "UNPAUSE",
                    "NO-EVICT (ON|OFF)",
                    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
                    "         [OPTIN] [OPTOUT] [NOLOOP]",
                    "CACHING (YES|NO)",
                    "GETREDIR",
                    "TRACKINGINFO",
                    "HELP",
                ],
            );
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "CLIENT")),
    }
    Ok(Flow::Continue)
}
