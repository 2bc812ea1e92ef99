//! Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH,
//! SPUBLISH and PUBSUB.
//!
//! A subscription lives on the thread of the connection that made it: each
//! thread keeps its own subscribers by channel, by pattern and by shard
//! channel ([`Local`]), and nothing else. PUBLISH hands the message to every thread that has a
//! subscriber at all (a per-thread count in [`Registry`] says which; with
//! none anywhere, PUBLISH touches no other thread), each thread formats it
//! once per protocol and appends it to its subscribers' [`Sink`]s, and the
//! receivers are counted back to the publisher, which answers with the sum.
//! A subscribed connection's task writes its sink out while it waits for
//! input, as a MONITOR does (see `conn/input.rs`), and a subscribed connection
//! stays on its thread (it does not follow its keys to another shard).
//!
//! Ordering: PUBLISH answers only after every thread has queued the
//! message, so a publisher's messages reach each subscriber in the order
//! published, and a client that writes a key and then publishes (`RPUSH
//! job; PUBLISH ch`) has its write applied before any subscriber hears of
//! it. A client that hears its own message (RESP3) gets it before PUBLISH's
//! reply, as in Redis.
//!
//! A subscriber that leaves more than `client::tracking::PUSH_PENDING_MAX` bytes unread is
//! closed, as Redis closes one over its `client-output-buffer-limit pubsub`
//! hard limit (32 MB by default).
//!
//! Replies follow Redis: `subscribe`/`unsubscribe`/`psubscribe`/
//! `punsubscribe` confirmations with the connection's count of channels
//! and patterns, `ssubscribe`/`sunsubscribe` ones with its count of shard
//! channels (the two counts are kept apart, as Redis keeps them),
//! `message`, `pmessage` and `smessage` frames, arrays in RESP2 and pushes
//! in RESP3; in RESP2 a connection with a subscription of any kind may only
//! (un)subscribe, PING, QUIT and RESET.
//!
//! Sharded pub/sub (Redis 7.0): shard channels are a namespace of their
//! own (SPUBLISH reaches SSUBSCRIBE's subscribers only, never a pattern),
//! and their names stand where keys would, so that in cluster mode a shard
//! channel belongs to its slot: the cluster's slot check sends a client to
//! the slot's master, or lets a replica of it serve it (see
//! `cluster::check`), and SPUBLISH reaches the other nodes of this node's
//! shard only (`cluster::publish_shard`). Without cluster mode they behave
//! as channels of their own: any names in any one command, as in Redis.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use commands::Error;
use resp::encode;
use storage::glob::glob_match;

use crate::client::{Client, Subscriber, Subscriptions};
use crate::engine::tx::Route;
use crate::engine::worker::Worker;

type Argv<'a> = &'a [&'a [u8]];

/// How many subscriptions (channels and patterns, over all its
/// connections) each thread holds.
pub struct Registry {
    per_thread: Box<[AtomicUsize]>,
}

impl Registry {
    pub fn new(threads: usize) -> Registry {
        Registry {
            per_thread: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
        }
    }
}

/// This thread's subscribers, by channel and by pattern.
#[derive(Default)]
pub struct Local {
    channels: HashMap<Vec<u8>, Vec<Rc<Subscriber>>>,
    patterns: HashMap<Vec<u8>, Vec<Rc<Subscriber>>>,
    shard: HashMap<Vec<u8>, Vec<Rc<Subscriber>>>,
}

impl Local {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Vec<u8>, Vec<Rc<Subscriber>>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
}

/// This thread's subscribers (registered in its worker's `Locals`).
fn local(w: &Worker) -> &RefCell<Local> {
    w.local::<RefCell<Local>>()
}

/// Whether `client` is in the subscribed state (at least one channel,
/// pattern or shard channel).
pub fn subscribed(client: &Client) -> bool {
    client.pubsub.as_ref().is_some_and(|s| s.total() > 0)
}

/// SSUBSCRIBE inside EXEC, as Redis refuses it.
pub const SSUBSCRIBE_IN_EXEC: &str = "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client";

/// Commands a RESP2 connection may send while subscribed.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// Whether command `name` answers with (un)subscribe confirmations: pub/sub
/// traffic, which CLIENT REPLY OFF and SKIP do not silence (as in Redis, in
/// RESP2 too).
pub fn is_confirmation(name: &[u8]) -> bool {
    [
        &b"subscribe"[..],
        b"psubscribe",
        b"unsubscribe",
        b"punsubscribe",
        b"ssubscribe",
        b"sunsubscribe",
    ]
    .iter()
    .any(|c| c.eq_ignore_ascii_case(name))
}

/// Which of a connection's three lists a command works on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The kind of a (un)subscribe command, by its name.
    fn of(name: &[u8]) -> Kind {
        if name.eq_ignore_ascii_case(b"ssubscribe") || name.eq_ignore_ascii_case(b"sunsubscribe") {
            Kind::Shard
        } else if name.first().is_some_and(|c| c.eq_ignore_ascii_case(&b'p')) {
            Kind::Pattern
        } else {
            Kind::Channel
        }
    }

    fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

impl Subscriptions {
    fn names(&mut self, kind: Kind) -> &mut HashSet<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// The count a confirmation of `kind` carries: shard channels are
    /// counted apart.
    fn count_of(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.count(),
        }
    }
}

fn confirmation(out: &mut Vec<u8>, resp3: bool, word: &[u8], name: Option<&[u8]>, count: usize) {
    encode::push_len(out, 3, resp3);
    encode::bulk(out, word);
    match name {
        Some(n) => encode::bulk(out, n),
        None => encode::null(out, resp3),
    }
    encode::integer(out, count as i64);
}

/// SUBSCRIBE channel... / PSUBSCRIBE pattern... / SSUBSCRIBE shardchannel...
pub fn subscribe(w: &Worker, client: &mut Client, argv: Argv<'_>, out: &mut Vec<u8>) {
    let kind = Kind::of(argv[0]);
    let subs = client.pubsub.get_or_insert_with(|| {
        // A MONITOR connection's lines and messages share one sink, so
        // they reach it in the order they came.
        // Invalidations pushed to it (client-side caching) use the
        // connection's own sink, so messages and pushes are written in
        // the order they came too.
        let sink = client
            .monitor
            .clone()
            .unwrap_or_else(|| Rc::clone(&client.pushes.sink));
        Box::new(Subscriptions {
            me: Rc::new(Subscriber {
                id: client.id,
                resp3: client.resp3,
                sink,
            }),
            channels: HashSet::new(),
            patterns: HashSet::new(),
            shard: HashSet::new(),
        })
    });
    if subs.me.resp3 != client.resp3 {
        // HELLO changed the protocol: the thread's lists get the new one.
        let me = Rc::new(Subscriber {
            id: subs.me.id,
            resp3: client.resp3,
            sink: Rc::clone(&subs.me.sink),
        });
        let mut guard = local(w).borrow_mut();
        let local = &mut *guard;
        for (names, map) in [
            (&subs.channels, &mut local.channels),
            (&subs.patterns, &mut local.patterns),
            (&subs.shard, &mut local.shard),
        ] {
            for n in names {
                if let Some(list) = map.get_mut(n) {
                    for s in list.iter_mut().filter(|s| s.id == me.id) {
                        *s = Rc::clone(&me);
                    }
                }
            }
        }
        subs.me = me;
    }
    let mut local = local(w).borrow_mut();
    let added = &w.shared.global::<Registry>().per_thread[w.id];
    for &name in &argv[1..] {
        if subs.names(kind).insert(name.to_vec()) {
            local
                .map(kind)
                .entry(name.to_vec())
                .or_default()
                .push(Rc::clone(&subs.me));
            added.fetch_add(1, Ordering::Release);
        }
        confirmation(
            out,
            client.resp3,
            kind.subscribe_word(),
            Some(name),
            subs.count_of(kind),
        );
    }
    drop(local);
    update_info(client);
}

/// UNSUBSCRIBE [channel...] / PUNSUBSCRIBE [pattern...] /
/// SUNSUBSCRIBE [shardchannel...]: the given ones, or all of them.
pub fn unsubscribe(w: &Worker, client: &mut Client, argv: Argv<'_>, out: &mut Vec<u8>) {
    let kind = Kind::of(argv[0]);
    let resp3 = client.resp3;
    take_pending(client, out);
    let names: Vec<Vec<u8>> = if argv.len() > 1 {
        argv[1..].iter().map(|a| a.to_vec()).collect()
    } else {
        match client.pubsub.as_mut() {
            Some(s) => s.names(kind).iter().cloned().collect(),
            None => Vec::new(),
        }
    };
    if names.is_empty() {
        let count = client.pubsub.as_ref().map_or(0, |s| s.count_of(kind));
        confirmation(out, resp3, kind.unsubscribe_word(), None, count);
        return;
    }
    for name in &names {
        let count = match client.pubsub.as_mut() {
            Some(subs) => {
                remove(w, subs, kind, name);
                subs.count_of(kind)
            }
            None => 0,
        };
        confirmation(out, resp3, kind.unsubscribe_word(), Some(name), count);
    }
    if client.pubsub.as_ref().is_some_and(|s| s.total() == 0) {
        client.pubsub = None;
    }
    update_info(client);
}

/// Moves the messages waiting for `client` into `out`, ahead of the reply
/// of the command it is running: they came before it. (A MONITOR
/// connection's lines stay where they are: they are written between reads.)
fn take_pending(client: &Client, out: &mut Vec<u8>) {
    if client.monitor.is_some() {
        return;
    }
    if let Some(Ok(pending)) = client.pubsub.as_ref().map(|s| s.me.sink.take()) {
        out.extend_from_slice(&pending);
    }
}

/// Drops one subscription of `subs` from its lists.
fn remove(w: &Worker, subs: &mut Subscriptions, kind: Kind, name: &[u8]) {
    if !subs.names(kind).remove(name) {
        return;
    }
    let mut local = local(w).borrow_mut();
    let map = local.map(kind);
    if let Some(list) = map.get_mut(name) {
        list.retain(|s| s.id != subs.me.id);
        if list.is_empty() {
            map.remove(name);
        }
    }
    w.shared.global::<Registry>().per_thread[w.id].fetch_sub(1, Ordering::Release);
}

/// Forgets every subscription of `client` (its connection closed, or it
/// sent RESET).
pub fn drop_all(w: &Worker, client: &mut Client) {
    let Some(mut subs) = client.pubsub.take() else {
        return;
    };
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        let names: Vec<Vec<u8>> = subs.names(kind).iter().cloned().collect();
        for n in names {
            remove(w, &mut subs, kind, &n);
        }
    }
    client.pubsub = None;
    update_info(client);
}

fn update_info(client: &Client) {
    let mut info = client.info.borrow_mut();
    let (sub, psub, ssub) = client.pubsub.as_ref().map_or((0, 0, 0), |s| {
        (s.channels.len(), s.patterns.len(), s.shard.len())
    });
    info.sub = sub;
    info.psub = psub;
    info.ssub = ssub;
}

/// PUBLISH channel message
pub async fn publish(w: &Route<'_>, client: &Client, argv: Argv<'_>, out: &mut Vec<u8>) {
    let (channel, message) = (argv[1], argv[2]);
    let receivers = deliver_everywhere(w, channel, message).await;
    // In cluster mode the message reaches every node's subscribers too.
    crate::features::cluster::publish(w, channel, message);
    // A client that hears its own message gets it before the reply.
    take_pending(client, out);
    encode::integer(out, receivers as i64);
}

/// SPUBLISH shardchannel message
pub async fn spublish(w: &Route<'_>, client: &Client, argv: Argv<'_>, out: &mut Vec<u8>) {
    let (channel, message) = (argv[1], argv[2]);
    let receivers = deliver_shard_everywhere(w, channel, message).await;
    // In cluster mode the other nodes of this node's shard hear it too.
    crate::features::cluster::publish_shard(w, channel, message);
    take_pending(client, out);
    encode::integer(out, receivers as i64);
}

/// Delivers `message` to this node's subscribers of `channel` on every
/// thread; returns how many there were.
pub async fn deliver_everywhere(w: &Route<'_>, channel: &[u8], message: &[u8]) -> usize {
    deliver_all(w, Kind::Channel, channel, message).await
}

/// Delivers `message` to this node's subscribers of shard channel
/// `channel` on every thread; returns how many there were.
pub async fn deliver_shard_everywhere(w: &Route<'_>, channel: &[u8], message: &[u8]) -> usize {
    deliver_all(w, Kind::Shard, channel, message).await
}

async fn deliver_all(w: &Route<'_>, kind: Kind, channel: &[u8], message: &[u8]) -> usize {
    let deliver = if kind == Kind::Shard {
        deliver_shard
    } else {
        deliver
    };
    let reg = w.shared.global::<Registry>();
    let mut pending = Vec::new();
    let mut receivers = 0;
    for (t, n) in reg.per_thread.iter().enumerate() {
        if n.load(Ordering::Acquire) == 0 {
            continue;
        }
        if t == w.id {
            receivers += deliver(w, channel, message);
        } else {
            let (c, m) = (channel.to_vec(), message.to_vec());
            pending.push(w.start(t, move |w| deliver(w, &c, &m)));
        }
    }
    for p in pending {
        receivers += p.finish(w).await.unwrap_or(0);
    }
    receivers
}

/// Queues `message` for this thread's subscribers of `channel` and of the
/// patterns it matches; returns how many there were.
fn deliver(w: &Worker, channel: &[u8], message: &[u8]) -> usize {
    let local = local(w).borrow();
    let mut n = 0;
    if let Some(list) = local.channels.get(channel) {
        let mut frames: [Option<Vec<u8>>; 2] = [None, None];
        for s in list {
            let f = frames[usize::from(s.resp3)].get_or_insert_with(|| {
                let mut f = Vec::with_capacity(channel.len() + message.len() + 32);
                encode::push_len(&mut f, 3, s.resp3);
                encode::bulk(&mut f, b"message");
                encode::bulk(&mut f, channel);
                encode::bulk(&mut f, message);
                f
            });
            s.sink.push(f);
            n += 1;
        }
    }
    for (pattern, list) in &local.patterns {
        if !glob_match(pattern, channel, false) {
            continue;
        }
        let mut frames: [Option<Vec<u8>>; 2] = [None, None];
        for s in list {
            let f = frames[usize::from(s.resp3)].get_or_insert_with(|| {
                let mut f = Vec::with_capacity(pattern.len() + channel.len() + message.len() + 40);
                encode::push_len(&mut f, 4, s.resp3);
                encode::bulk(&mut f, b"pmessage");
                encode::bulk(&mut f, pattern);
                encode::bulk(&mut f, channel);
                encode::bulk(&mut f, message);
                f
            });
            s.sink.push(f);
            n += 1;
        }
    }
    n
}

/// Queues `message` for this thread's subscribers of shard channel
/// `channel`; returns how many there were.
fn deliver_shard(w: &Worker, channel: &[u8], message: &[u8]) -> usize {
    let local = local(w).borrow();
    let Some(list) = local.shard.get(channel) else {
        return 0;
    };
    let mut frames: [Option<Vec<u8>>; 2] = [None, None];
    for s in list {
        let f = frames[usize::from(s.resp3)].get_or_insert_with(|| {
            let mut f = Vec::with_capacity(channel.len() + message.len() + 32);
            encode::push_len(&mut f, 3, s.resp3);
            encode::bulk(&mut f, b"smessage");
            encode::bulk(&mut f, channel);
            encode::bulk(&mut f, message);
            f
        });
        s.sink.push(f);
    }
    list.len()
}

/// Which of the connections `ids` of this thread hold a subscription
/// `allowed` (given the name and whether it is a pattern) refuses.
pub fn refused_subscribers(
    w: &Worker,
    ids: &HashSet<u64>,
    allowed: impl Fn(&[u8], bool) -> bool,
) -> Vec<u64> {
    let local = local(w).borrow();
    let mut out: Vec<u64> = Vec::new();
    let maps = [
        (&local.channels, false),
        (&local.patterns, true),
        (&local.shard, false),
    ];
    for (map, pattern) in maps {
        for (name, subs) in map {
            if subs.iter().any(|s| ids.contains(&s.id)) && !allowed(name, pattern) {
                out.extend(subs.iter().map(|s| s.id).filter(|id| ids.contains(id)));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// This thread's channels (with at least one subscriber) and patterns.
pub fn names(w: &Worker) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let local = local(w).borrow();
    (
        local.channels.keys().cloned().collect(),
        local.patterns.keys().cloned().collect(),
    )
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel...] | NUMPAT |
/// SHARDCHANNELS [pattern] | SHARDNUMSUB [channel...] | HELP
pub async fn pubsub(
    w: &Route<'_>,
    client: &Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let sub = argv[1].to_ascii_lowercase();
    let resp3 = client.resp3;
    match sub.as_slice() {
        b"channels" | b"shardchannels" | b"numpat" | b"help"
            if argv.len()
                > if sub.starts_with(b"numpat") || sub == b"help" {
                    2
                } else {
                    3
                } =>
        {
            return Err(Error::WrongArity(format!("pubsub|{}", lossy(&sub))));
        }
        b"channels" | b"shardchannels" => {
            let kind = if sub == b"channels" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            let mut found = BTreeSet::new();
            for c in w
                .call_all(move |w| {
                    local(w)
                        .borrow_mut()
                        .map(kind)
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .await
            {
                found.extend(c);
            }
            let matching: Vec<&Vec<u8>> = found
                .iter()
                .filter(|c| argv.get(2).is_none_or(|p| glob_match(p, c, false)))
                .collect();
            encode::array_len(out, matching.len());
            for c in matching {
                encode::bulk(out, c);
            }
        }
        b"numsub" | b"shardnumsub" => {
            let wanted: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.to_vec()).collect();
            let mut counts = vec![0usize; wanted.len()];
            let kind = if sub == b"numsub" {
                Kind::Channel
            } else {
                Kind::Shard
            };
            if !wanted.is_empty() {
                let per_thread = w
                    .call_all(move |w| {
                        let mut local = local(w).borrow_mut();
                        let map = local.map(kind);
                        wanted
                            .iter()
                            .map(|c| map.get(c).map_or(0, Vec::len))
                            .collect::<Vec<usize>>()
                    })
                    .await;
                for t in per_thread {
                    for (sum, n) in counts.iter_mut().zip(t) {
                        *sum += n;
                    }
                }
            }
            encode::map_len(out, argv.len() - 2, resp3);
            for (c, n) in argv[2..].iter().zip(counts) {
                encode::bulk(out, c);
                encode::integer(out, n as i64);
            }
        }
        b"numpat" => {
            let mut patterns = HashSet::new();
            for (_, p) in w.call_all(names).await {
                patterns.extend(p);
            }
            encode::integer(out, patterns.len() as i64);
        }
        b"help" => {
            let lines: &[&[u8]] = &[
                b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"CHANNELS [<pattern>]",
                b"    Return the currently active channels matching a <pattern> (default: '*').",
                b"NUMPAT",
                b"    Return number of subscriptions to patterns.",
                b"NUMSUB [<channel> ...]",
                b"    Return the number of subscribers for the specified channels, excluding",
                b"    pattern subscriptions(default: no channels).",
                b"SHARDCHANNELS [<pattern>]",
                b"    Return the currently active shard level channels matching a <pattern> (default: '*').",
                b"SHARDNUMSUB [<shardchannel> ...]",
                b"    Return the number of subscribers for the specified shard level channel(s)",
                b"HELP",
                b"    Prints this help.",
            ];
            encode::array_len(out, lines.len());
            for l in lines {
                encode::simple(out, l);
            }
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "PUBSUB")),
    }
    Ok(())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// PING while subscribed, in RESP2: `pong` and the argument (or an empty
/// string) as an array.
pub fn ping(argv: Argv<'_>, out: &mut Vec<u8>) {
    encode::array_len(out, 2);
    encode::bulk(out, b"pong");
    encode::bulk(out, argv.get(1).copied().unwrap_or(b""));
}

/// Publishes the keyspace notifications this thread's commands logged
/// (see `storage::notify`), in order. Called before a reply leaves this
/// thread (a connection's batch, a job's answer) and once per event-loop
/// turn, so an event reaches subscribers no later than the reply of the
/// command that caused it. Subscribers on other threads get them by a
/// message without answer; nobody waits for the count.
pub fn publish_events(w: &Worker) {
    if !storage::notify::pending() {
        return;
    }
    let events = storage::notify::take();
    let (keyspace, keyevent) = storage::notify::channels();
    let mut messages: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(events.len() * 2);
    for e in events {
        if keyspace {
            let mut ch = format!("__keyspace@{}__:", e.db).into_bytes();
            ch.extend_from_slice(&e.key);
            messages.push((ch, e.name.as_bytes().to_vec()));
        }
        if keyevent {
            let ch = format!("__keyevent@{}__:{}", e.db, e.name).into_bytes();
            messages.push((ch, e.key));
        }
    }
    let reg = w.shared.global::<Registry>();
    let mut others = Vec::new();
    for (t, n) in reg.per_thread.iter().enumerate() {
        if n.load(Ordering::Acquire) == 0 {
            continue;
        }
        if t == w.id {
            for (ch, msg) in &messages {
                deliver(w, ch, msg);
            }
        } else {
            others.push(t);
        }
    }
    if !others.is_empty() {
        let messages = std::sync::Arc::new(messages);
        for t in others {
            let m = std::sync::Arc::clone(&messages);
            w.router.post(
                t,
                0,
                Box::new(move |w: &Worker| {
                    for (ch, msg) in m.iter() {
                        deliver(w, ch, msg);
                    }
                    Box::new(()) as Box<dyn std::any::Any + Send>
                }),
            );
        }
    }
}
