//! CLUSTER and its subcommands, and ASKING; READONLY/READWRITE set the
//! client's flag here (outside cluster mode they only answer OK, as
//! Redis's do). Replies and errors are Redis 7.0's.

use std::fmt::Write as _;
use std::net::IpAddr;

use commands::args::parse_i64;
use commands::Error;
use resp::encode;

use super::state::{self, ranges, Cluster, Id, SLOTS};
use super::wire::flag;
use super::{bus, state as cluster_state, DISABLED};
use crate::client::Client;
use crate::engine::tx::Route;
use crate::engine::worker::now_ms;

type Argv<'a> = &'a [&'a [u8]];

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

fn slot_arg(b: &[u8]) -> Result<usize, Error> {
    match parse_i64(b) {
        Some(s) if (0..SLOTS as i64).contains(&s) => Ok(s as usize),
        _ => Err(Error::Static("ERR Invalid or out of range slot")),
    }
}

fn node_arg(c: &Cluster, b: &[u8]) -> Result<Id, Error> {
    c.lookup(b)
        .ok_or_else(|| Error::Other(format!("ERR Unknown node {}", String::from_utf8_lossy(b))))
}

fn arity(sub: &str) -> Error {
    Error::Other(format!(
        "ERR wrong number of arguments for 'cluster|{sub}' command"
    ))
}

/// How many keys of `slot` this node holds: the slot's shard answers
/// from its index of keys by slot.
async fn count_keys(w: &Route<'_>, slot: usize) -> usize {
    let shard = slot % w.nshards();
    w.call(shard, move |w| {
        let sh = w.shard.borrow();
        sh.ks.dbs[0]
            .slot_index()
            .map_or(0, |ix| ix.count(slot as u16))
    })
    .await
    .unwrap_or(0)
}

async fn keys_in_slot(w: &Route<'_>, slot: usize, max: usize) -> Vec<Vec<u8>> {
    let shard = slot % w.nshards();
    w.call(shard, move |w| {
        let sh = w.shard.borrow();
        sh.ks.dbs[0].slot_index().map_or_else(Vec::new, |ix| {
            ix.keys(slot as u16).take(max).map(<[u8]>::to_vec).collect()
        })
    })
    .await
    .unwrap_or_default()
}

async fn db_size(w: &Route<'_>) -> usize {
    w.call_all(|w| w.shard.borrow().ks.len()).await.iter().sum()
}

/// `CLUSTER <subcommand> ...`
pub async fn cluster(
    w: &Route<'_>,
    client: &Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let st = cluster_state(w);
    if !st.enabled() {
        return Err(Error::Static(DISABLED));
    }
    if let Some(mut c) = st.lock() {
        super::refresh_settings(&w.shared, &mut c);
    }
    let sub = lower(argv[1]);
    let n = argv.len();
    let now = now_ms();
    let resp3 = client.resp3;
    match sub.as_str() {
        "help" => commands::reply_help(out, HELP),
        "myid" => {
            let c = st.lock().ok_or(Error::Static(DISABLED))?;
            encode::bulk(out, &c.myself().name);
        }
        "myshardid" => return Err(Error::unknown_subcommand(argv[1], "CLUSTER")),
        "keyslot" => {
            if n != 3 {
                return Err(arity(&sub));
            }
            encode::integer(out, i64::from(commands::slot::key_slot(argv[2])));
        }
        "countkeysinslot" => {
            if n != 3 {
                return Err(arity(&sub));
            }
            let slot = match parse_i64(argv[2]) {
                Some(s) if (0..SLOTS as i64).contains(&s) => s as usize,
                _ => return Err(Error::Static("ERR Invalid slot")),
            };
            encode::integer(out, count_keys(w, slot).await as i64);
        }
        "getkeysinslot" => {
            if n != 4 {
                return Err(arity(&sub));
            }
            let (Some(slot), Some(max)) = (parse_i64(argv[2]), parse_i64(argv[3])) else {
                return Err(Error::Static("ERR Invalid slot or number of keys"));
            };
            if max < 0 || !(0..SLOTS as i64).contains(&slot) {
                return Err(Error::Static("ERR Invalid slot or number of keys"));
            }
            let keys = keys_in_slot(w, slot as usize, max as usize).await;
            encode::array_len(out, keys.len());
            for k in keys {
                encode::bulk(out, &k);
            }
        }
        "info" => {
            let c = st.lock().ok_or(Error::Static(DISABLED))?;
            encode::verbatim(out, info_text(&c).as_bytes(), resp3);
        }
        "nodes" => {
            let c = st.lock().ok_or(Error::Static(DISABLED))?;
            encode::verbatim(out, c.nodes_text().as_bytes(), resp3);
        }
        "slots" => {
            let c = st.lock().ok_or(Error::Static(DISABLED))?;
            slots_reply(&c, out, resp3);
        }
        "shards" => {
            let c = st.lock().ok_or(Error::Static(DISABLED))?;
            shards_reply(&c, out, resp3);
        }
        "replicas" | "slaves" => {
            if n != 3 {
                return Err(arity(&sub));
            }
            let c = st.lock().ok_or(Error::Static(DISABLED))?;
            let id = node_arg(&c, argv[2])?;
            if !c.node(id).is_master() {
                return Err(Error::Static("ERR The specified node is not a master"));
            }
            let lines: Vec<String> = c
                .ids()
                .filter(|&r| c.node(r).is_replica() && c.node(r).master == Some(id))
                .map(|r| c.node_line(r))
                .collect();
            encode::array_len(out, lines.len());
            for l in lines {
                encode::bulk(out, l.as_bytes());
            }
        }
        "count-failure-reports" => {
            if n != 3 {
                return Err(arity(&sub));
            }
            let c = st.lock().ok_or(Error::Static(DISABLED))?;
            let id = node_arg(&c, argv[2])?;
            encode::integer(out, c.node(id).fail_reports.len() as i64);
        }
        "meet" => {
            if n != 4 && n != 5 {
                return Err(arity(&sub));
            }
            let ip_text = String::from_utf8_lossy(argv[2]).into_owned();
            let port_text = String::from_utf8_lossy(argv[3]).into_owned();
            let port: u16 = port_text.parse().map_err(|_| {
                Error::Other(format!("ERR Invalid TCP base port specified: {port_text}"))
            })?;
            let cport: u16 = match argv.get(4) {
                Some(b) => {
                    let t = String::from_utf8_lossy(b).into_owned();
                    t.parse().map_err(|_| {
                        Error::Other(format!("ERR Invalid TCP bus port specified: {t}"))
                    })?
                }
                None => port.wrapping_add(10000),
            };
            let ip: IpAddr = ip_text.parse().map_err(|_| {
                Error::Other(format!(
                    "ERR Invalid node address specified: {ip_text}:{port_text}"
                ))
            })?;
            let ip = match ip {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map(IpAddr::V4)
                    .unwrap_or(IpAddr::V6(v6)),
                v4 => v4,
            };
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            c.start_handshake(&ip.to_string(), port, cport, now);
            encode::ok(out);
        }
        "addslots" | "delslots" | "addslotsrange" | "delslotsrange" => {
            let range = sub.ends_with("range");
            if n < 3 || (range && (n - 2) % 2 != 0) {
                return Err(arity(&sub));
            }
            let mut slots = Vec::new();
            if range {
                for pair in argv[2..].chunks(2) {
                    let (a, b) = (slot_arg(pair[0])?, slot_arg(pair[1])?);
                    if a > b {
                        return Err(Error::Other(format!(
                            "ERR start slot number {a} is greater than end slot number {b}"
                        )));
                    }
                    slots.extend(a..=b);
                }
            } else {
                for a in &argv[2..] {
                    slots.push(slot_arg(a)?);
                }
            }
            let add = sub.starts_with("add");
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            let mut seen = vec![false; SLOTS];
            for &s in &slots {
                if add && c.slots[s].is_some() {
                    return Err(Error::Other(format!("ERR Slot {s} is already busy")));
                }
                if !add && c.slots[s].is_none() {
                    return Err(Error::Other(format!("ERR Slot {s} is already unassigned")));
                }
                if seen[s] {
                    return Err(Error::Other(format!(
                        "ERR Slot {s} specified multiple times"
                    )));
                }
                seen[s] = true;
            }
            let me = c.me;
            for s in slots {
                if add {
                    c.importing.remove(&(s as u16));
                    c.add_slot(me, s);
                } else {
                    c.del_slot(s);
                }
            }
            c.dirty = true;
            c.update_state(now);
            c.save().map_err(save_error)?;
            encode::ok(out);
        }
        "flushslots" => {
            if n != 2 {
                return Err(arity(&sub));
            }
            if db_size(w).await != 0 {
                return Err(Error::Static(
                    "ERR DB must be empty to perform CLUSTER FLUSHSLOTS.",
                ));
            }
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            let me = c.me;
            for s in 0..SLOTS {
                if c.slots[s] == Some(me) {
                    c.del_slot(s);
                }
            }
            c.dirty = true;
            c.update_state(now);
            encode::ok(out);
        }
        "setslot" => setslot(w, argv, out).await?,
        "forget" => {
            if n != 3 {
                return Err(arity(&sub));
            }
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            let id = node_arg(&c, argv[2])?;
            if id == c.me {
                return Err(Error::Static(
                    "ERR I tried hard but I can't forget myself...",
                ));
            }
            if c.myself().is_replica() && c.myself().master == Some(id) {
                return Err(Error::Static("ERR Can't forget my master!"));
            }
            let name = c.node(id).name;
            c.blacklist_add(name, now);
            c.del_node(id);
            c.update_state(now);
            encode::ok(out);
        }
        "replicate" => {
            if n != 3 {
                return Err(arity(&sub));
            }
            {
                let c = st.lock().ok_or(Error::Static(DISABLED))?;
                let id = node_arg(&c, argv[2])?;
                if id == c.me {
                    return Err(Error::Static("ERR Can't replicate myself"));
                }
                if c.node(id).is_replica() {
                    return Err(Error::Static(
                        "ERR I can only replicate a master, not a replica.",
                    ));
                }
                if c.myself().is_master() && c.myself().numslots != 0 {
                    return Err(Error::Static(
                        "ERR To set a master the node must be empty and without assigned slots.",
                    ));
                }
            }
            let empty = db_size(w).await == 0;
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            let id = node_arg(&c, argv[2])?;
            if c.myself().is_master() && !empty {
                return Err(Error::Static(
                    "ERR To set a master the node must be empty and without assigned slots.",
                ));
            }
            c.set_my_master(id);
            c.save().map_err(save_error)?;
            drop(c);
            bus::kick(w);
            encode::ok(out);
        }
        "failover" => {
            let (force, takeover) = match argv.get(2).map(|a| lower(a)) {
                None if n == 2 => (false, false),
                Some(a) if n == 3 && a == "force" => (true, false),
                Some(a) if n == 3 && a == "takeover" => (false, true),
                _ => return Err(Error::Syntax),
            };
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            if c.myself().is_master() {
                return Err(Error::Static(
                    "ERR You should send CLUSTER FAILOVER to a replica",
                ));
            }
            let Some(m) = c.myself().master else {
                return Err(Error::Static(
                    "ERR I'm a replica but my master is unknown to me",
                ));
            };
            if !force && !takeover && (c.node(m).failing() || !c.node(m).link) {
                return Err(Error::Static(
                    "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE",
                ));
            }
            if takeover {
                log::info!("Taking over the master (user request).");
                c.takeover();
            } else {
                log::info!(
                    "Manual failover user request accepted{}.",
                    if force { " (forced)" } else { "" }
                );
                c.start_manual_failover(force, now);
            }
            drop(c);
            bus::kick(w);
            encode::ok(out);
        }
        "reset" => {
            let hard = match argv.get(2).map(|a| lower(a)) {
                None if n == 2 => false,
                Some(a) if n == 3 && a == "hard" => true,
                Some(a) if n == 3 && a == "soft" => false,
                _ => return Err(Error::Syntax),
            };
            let is_master = st.lock().is_some_and(|c| c.myself().is_master());
            if is_master && db_size(w).await != 0 {
                return Err(Error::Static(
                    "ERR CLUSTER RESET can't be called on master nodes containing keys",
                ));
            }
            if !is_master {
                crate::features::replication::stop_following(w);
                w.call_all(|w| w.shard.borrow_mut().ks.flush_all(now_ms()))
                    .await;
            }
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            c.reset(hard, now);
            encode::ok(out);
        }
        "saveconfig" => {
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            c.save_now().map_err(save_error)?;
            encode::ok(out);
        }
        "bumpepoch" => {
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            let bumped = c.bump_epoch_without_consensus();
            let e = c.myself().config_epoch;
            let word = if bumped { "BUMPED" } else { "STILL" };
            encode::simple(out, format!("{word} {e}").as_bytes());
        }
        "set-config-epoch" => {
            if n != 3 {
                return Err(arity(&sub));
            }
            let e = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
            if e < 0 {
                return Err(Error::Other(format!(
                    "ERR Invalid config epoch specified: {e}"
                )));
            }
            let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
            if c.ids().count() > 1 {
                return Err(Error::Static(
                    "ERR The user can assign a config epoch only when the node does not know any other node.",
                ));
            }
            if c.myself().config_epoch != 0 {
                return Err(Error::Static("ERR Node config epoch is already non-zero"));
            }
            let me = c.me;
            c.node_mut(me).config_epoch = e as u64;
            if c.current_epoch < e as u64 {
                c.current_epoch = e as u64;
            }
            c.dirty = true;
            c.save().map_err(save_error)?;
            encode::ok(out);
        }
        "links" => {
            let links = w
                .call(0, |_w| {
                    let Some(b) = bus::get() else {
                        return Vec::new();
                    };
                    let mut v = Vec::new();
                    for (&id, l) in b.links.borrow().iter() {
                        v.push(("to", Some((id, l.serial())), l.created, "rw", l.queued()));
                    }
                    for l in b.inbound.borrow().iter() {
                        v.push(("from", l.from(), l.created, "r", l.queued()));
                    }
                    v
                })
                .await
                .unwrap_or_default();
            let c = st.lock().ok_or(Error::Static(DISABLED))?;
            let named: Vec<_> = links
                .into_iter()
                .filter_map(|(dir, id, created, events, queued)| {
                    let (id, serial) = id?;
                    let node = c.nodes.get(id)?.as_ref().filter(|n| n.serial == serial)?;
                    Some((dir, node.name, created, events, queued))
                })
                .collect();
            encode::array_len(out, named.len());
            for (dir, name, created, events, queued) in named {
                encode::map_len(out, 6, resp3);
                encode::bulk(out, b"direction");
                encode::bulk(out, dir.as_bytes());
                encode::bulk(out, b"node");
                encode::bulk(out, &name);
                encode::bulk(out, b"create-time");
                encode::integer(out, created as i64);
                encode::bulk(out, b"events");
                encode::bulk(out, events.as_bytes());
                encode::bulk(out, b"send-buffer-allocated");
                encode::integer(out, queued as i64);
                encode::bulk(out, b"send-buffer-used");
                encode::integer(out, queued as i64);
            }
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "CLUSTER")),
    }
    Ok(())
}

fn save_error(e: String) -> Error {
    Error::Other(format!("ERR error saving the cluster node config: {e}"))
}

/// `CLUSTER SETSLOT slot IMPORTING|MIGRATING|NODE node | STABLE`
async fn setslot(w: &Route<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let st = cluster_state(w);
    let bad = || {
        Error::Static("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP")
    };
    if argv.len() < 4 {
        return Err(bad());
    }
    let slot = slot_arg(argv[2])?;
    let action = lower(argv[3]);
    let keys = if action == "node" {
        count_keys(w, slot).await
    } else {
        0
    };
    let mut c = st.lock().ok_or(Error::Static(DISABLED))?;
    if c.myself().is_replica() {
        return Err(Error::Static("ERR Please use SETSLOT only with masters."));
    }
    let me = c.me;
    let s16 = slot as u16;
    match (action.as_str(), argv.len()) {
        (dir @ ("migrating" | "importing"), 5) => {
            let migrating = dir == "migrating";
            let mine = c.slots[slot] == Some(me);
            if migrating && !mine {
                return Err(Error::Other(format!(
                    "ERR I'm not the owner of hash slot {slot}"
                )));
            }
            if !migrating && mine {
                return Err(Error::Other(format!(
                    "ERR I'm already the owner of hash slot {slot}"
                )));
            }
            let id = c.lookup(argv[4]).ok_or_else(|| {
                Error::Other(format!(
                    "ERR I don't know about node {}",
                    String::from_utf8_lossy(argv[4])
                ))
            })?;
            if !c.node(id).is_master() {
                return Err(Error::Static("ERR Target node is not a master"));
            }
            if migrating {
                c.migrating.insert(s16, id);
            } else {
                c.importing.insert(s16, id);
            }
        }
        ("stable", 4) => {
            c.migrating.remove(&s16);
            c.importing.remove(&s16);
        }
        ("node", 5) => {
            let id = node_arg(&c, argv[4])?;
            if !c.node(id).is_master() {
                return Err(Error::Static("ERR Target node is not a master"));
            }
            if c.slots[slot] == Some(me) && id != me && keys > 0 {
                return Err(Error::Other(format!(
                    "ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."
                )));
            }
            // Keys all moved: the slot stops migrating from here.
            if keys == 0 && c.migrating.contains_key(&s16) {
                c.migrating.remove(&s16);
            }
            // The importing side takes the slot with a new epoch, so the
            // rest of the cluster learns the new owner.
            if id == me && c.importing.contains_key(&s16) {
                c.importing.remove(&s16);
                if c.bump_epoch_without_consensus() {
                    log::info!(
                        "configEpoch updated after importing slot {slot}: {}",
                        c.myself().config_epoch
                    );
                }
            }
            c.del_slot(slot);
            c.add_slot(id, slot);
        }
        _ => return Err(bad()),
    }
    c.dirty = true;
    c.view_dirty = true;
    c.update_state(now_ms());
    c.save().map_err(save_error)?;
    drop(c);
    bus::kick(w);
    encode::ok(out);
    Ok(())
}

fn info_text(c: &Cluster) -> String {
    let mut assigned = 0;
    let mut pfail = 0;
    let mut fail = 0;
    for o in c.slots.iter().flatten() {
        assigned += 1;
        let n = c.node(*o);
        if n.has(flag::FAIL) {
            fail += 1;
        } else if n.has(flag::PFAIL) {
            pfail += 1;
        }
    }
    let mut s = String::new();
    let _ = write!(
        s,
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:{pfail}\r\ncluster_slots_fail:{fail}\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:{}\r\ncluster_my_epoch:{}\r\n",
        if c.ok { "ok" } else { "fail" },
        assigned - pfail - fail,
        c.ids().count(),
        c.size,
        c.current_epoch,
        c.my_master().map_or(0, |m| c.node(m).config_epoch),
    );
    let mut total = 0;
    for (t, &n) in c.sent.iter().enumerate() {
        if n > 0 {
            let _ = write!(
                s,
                "cluster_stats_messages_{}_sent:{n}\r\n",
                super::wire::kind::name(t)
            );
            total += n;
        }
    }
    let _ = write!(s, "cluster_stats_messages_sent:{total}\r\n");
    let mut total = 0;
    for (t, &n) in c.received.iter().enumerate() {
        if n > 0 {
            let _ = write!(
                s,
                "cluster_stats_messages_{}_received:{n}\r\n",
                super::wire::kind::name(t)
            );
            total += n;
        }
    }
    let _ = write!(s, "cluster_stats_messages_received:{total}\r\n");
    s.push_str("total_cluster_links_buffer_limit_exceeded:0\r\n");
    s
}

/// One node in CLUSTER SLOTS: endpoint, port, name, and its hostname.
fn slot_node(c: &Cluster, id: Id, out: &mut Vec<u8>, resp3: bool) {
    let n = c.node(id);
    encode::array_len(out, 4);
    encode::bulk(out, n.ip.as_bytes());
    encode::integer(out, i64::from(n.port));
    encode::bulk(out, &n.name);
    if n.hostname.is_empty() {
        encode::map_len(out, 0, resp3);
    } else {
        encode::map_len(out, 1, resp3);
        encode::bulk(out, b"hostname");
        encode::bulk(out, n.hostname.as_bytes());
    }
}

fn replicas_of(c: &Cluster, id: Id) -> Vec<Id> {
    c.ids()
        .filter(|&r| c.node(r).is_replica() && c.node(r).master == Some(id))
        .collect()
}

fn slots_reply(c: &Cluster, out: &mut Vec<u8>, resp3: bool) {
    let mut entries: Vec<(usize, usize, Id)> = Vec::new();
    for id in c.ids() {
        if c.node(id).is_master() {
            for (a, b) in ranges(&c.node(id).slots) {
                entries.push((a, b, id));
            }
        }
    }
    entries.sort();
    encode::array_len(out, entries.len());
    for (a, b, id) in entries {
        let reps: Vec<Id> = replicas_of(c, id)
            .into_iter()
            .filter(|&r| !c.node(r).has(flag::FAIL))
            .collect();
        encode::array_len(out, 3 + reps.len());
        encode::integer(out, a as i64);
        encode::integer(out, b as i64);
        slot_node(c, id, out, resp3);
        for r in reps {
            slot_node(c, r, out, resp3);
        }
    }
}

fn shard_node(c: &Cluster, id: Id, out: &mut Vec<u8>, resp3: bool) {
    let n = c.node(id);
    let fields = if n.hostname.is_empty() { 7 } else { 8 };
    encode::map_len(out, fields, resp3);
    encode::bulk(out, b"id");
    encode::bulk(out, &n.name);
    encode::bulk(out, b"port");
    encode::integer(out, i64::from(n.port));
    encode::bulk(out, b"ip");
    encode::bulk(out, n.ip.as_bytes());
    encode::bulk(out, b"endpoint");
    encode::bulk(out, n.ip.as_bytes());
    if !n.hostname.is_empty() {
        encode::bulk(out, b"hostname");
        encode::bulk(out, n.hostname.as_bytes());
    }
    encode::bulk(out, b"replication-offset");
    let offset = if id == c.me {
        c.my_offset
    } else {
        n.repl_offset
    };
    encode::integer(out, offset as i64);
    encode::bulk(out, b"role");
    encode::bulk(
        out,
        if n.is_master() {
            &b"master"[..]
        } else {
            b"replica"
        },
    );
    encode::bulk(out, b"health");
    let health: &[u8] = if n.has(flag::FAIL) {
        b"fail"
    } else if n.is_replica() && offset == 0 {
        b"loading"
    } else {
        b"online"
    };
    encode::bulk(out, health);
}

fn shards_reply(c: &Cluster, out: &mut Vec<u8>, resp3: bool) {
    let masters: Vec<Id> = c.ids().filter(|&i| c.node(i).is_master()).collect();
    encode::array_len(out, masters.len());
    for m in masters {
        encode::map_len(out, 2, resp3);
        encode::bulk(out, b"slots");
        let r = ranges(&c.node(m).slots);
        encode::array_len(out, r.len() * 2);
        for (a, b) in r {
            encode::integer(out, a as i64);
            encode::integer(out, b as i64);
        }
        encode::bulk(out, b"nodes");
        let reps = replicas_of(c, m);
        encode::array_len(out, 1 + reps.len());
        shard_node(c, m, out, resp3);
        for r in reps {
            shard_node(c, r, out, resp3);
        }
    }
}

impl Cluster {
    /// CLUSTER RESET: forget every other node and every slot; HARD also
    /// takes a new name and zeroes the epochs.
    pub fn reset(&mut self, hard: bool, now: u64) {
        let me = self.me;
        for id in self.ids().collect::<Vec<_>>() {
            if id != me {
                self.del_node(id);
            }
        }
        for s in 0..SLOTS {
            self.del_slot(s);
        }
        self.migrating.clear();
        self.importing.clear();
        self.reset_manual_failover();
        let n = self.node_mut(me);
        n.flags = flag::MYSELF | flag::MASTER;
        n.master = None;
        if hard {
            n.name = state::random_name();
            n.config_epoch = 0;
            self.current_epoch = 0;
            self.last_vote_epoch = 0;
        }
        self.effects.clear();
        self.dirty = true;
        self.view_dirty = true;
        self.update_state(now);
    }
}

const HELP: &[&str] = &[
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ADDSLOTS <slot> [<slot> ...]",
    "    Assign slots to current node.",
    "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Assign slots which are between <start-slot> and <end-slot> to current node.",
    "BUMPEPOCH",
    "    Advance the cluster config epoch.",
    "COUNT-FAILURE-REPORTS <node-id>",
    "    Return number of failure reports for <node-id>.",
    "COUNTKEYSINSLOT <slot>",
    "    Return the number of keys in <slot>.",
    "DELSLOTS <slot> [<slot> ...]",
    "    Delete slots information from current node.",
    "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
    "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
    "FAILOVER [FORCE|TAKEOVER]",
    "    Promote current replica node to being a master.",
    "FORGET <node-id>",
    "    Remove a node from the cluster.",
    "GETKEYSINSLOT <slot> <count>",
    "    Return key names stored by current node in a slot.",
    "FLUSHSLOTS",
    "    Delete current node own slots information.",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "MEET <ip> <port> [<bus-port>]",
    "    Connect nodes into a working cluster.",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "REPLICATE <node-id>",
    "    Configure current node as replica to <node-id>.",
    "RESET [HARD|SOFT]",
    "    Reset current node (default: soft).",
    "SET-CONFIG-EPOCH <epoch>",
    "    Set config epoch of current node.",
    "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
    "    Set slot state.",
    "REPLICAS <node-id>",
    "    Return <node-id> replicas.",
    "SAVECONFIG",
    "    Force saving cluster configuration on disk.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    Output format is an array where each array element is a map containing attributes of a link",
    "HELP",
    "    Prints this help.",
];

/// READONLY, READWRITE and ASKING: a client flag each, in cluster mode.
pub fn flag(
    w: &Route<'_>,
    client: &mut Client,
    name: &str,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if !cluster_state(w).enabled() {
        return Err(Error::Static(DISABLED));
    }
    match name {
        "readonly" => client.cluster_readonly = true,
        "readwrite" => client.cluster_readonly = false,
        _ => client.asking = 1,
    }
    encode::ok(out);
    Ok(())
}
