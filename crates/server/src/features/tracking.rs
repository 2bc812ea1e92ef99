//! Client-side caching: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO,
//! and the invalidation messages, as Redis 7.0 sends them.
//!
//! Two halves, each on the thread that owns what it keeps ([`Local`]):
//!
//! - **The shard's side.** A key's tracking entry (the clients that may
//!   cache it) lives with the shard that owns the key. A read-only command
//!   of a tracking client, run on that shard, logs its keys
//!   (`storage::track`, from `engine::worker::exec`); a write, an expiry or
//!   an eviction logs the key as changed (`Db::touch`, `notify::emit`).
//!   [`flush_log`] turns the log into table entries and invalidations, in
//!   the order it was written: after every job a thread runs, at the end of
//!   a connection's batch and on each cron tick. A changed key's entry is
//!   dropped and every client in it is told once (Redis's default mode).
//!   BCAST prefixes are registered on every shard; a changed key under a
//!   prefix is collected, and each prefix's keys go out as one message per
//!   client at the next flush (Redis sends them before it sleeps).
//! - **The client's side.** Invalidations for a client travel to its own
//!   thread ([`deliver`]), which knows its current mode: a key it read
//!   before switching to BCAST is dropped, NOLOOP drops its own writes, a
//!   redirect forwards the message to the target's thread, which formats
//!   it for the target's protocol: a RESP3 `invalidate` push, or a
//!   `__redis__:invalidate` message to a subscribed RESP2 target. A push
//!   waits in the connection's sink (`client::Pushes`) and is written
//!   between batches, so a client's own invalidation follows the reply of
//!   the command that caused it, as in Redis.
//!
//! Cost while nobody tracks: a shard with no entries and no prefixes logs
//! nothing (one thread-local load per change), a command of a
//! non-tracking client loads one thread-local word, and the connection
//! loop checks one field per command (a tracking client leaves the fast
//! path).
//!
//! Relaxations, written down: invalidations reach a client on another
//! thread by a message posted before the writer's reply leaves, not inside
//! the write itself; BCAST keys changed by one command on several shards
//! arrive as one message per shard; a redirect target is looked up on the
//! thread it was on when CLIENT TRACKING named it (a RESP3 connection that
//! later moved threads reads as gone: broken redirect).
//!
//! Uses `pubsub.rs`'s framing for the `__redis__:invalidate` channel.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use commands::args::parse_i64;
use commands::Error;
use resp::encode;
use storage::track::{self, Event};

use crate::client::tracking::Mode;
use crate::client::{Client, Pushes, Tracking};
use crate::engine::tx::Route;
use crate::engine::worker::Worker;

type Argv<'a> = &'a [&'a [u8]];

/// The channel RESP2 redirect targets hear invalidations on.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// Process-wide counters (INFO).
#[derive(Default)]
pub struct State {
    /// Clients with tracking on (tracking_clients).
    clients: AtomicUsize,
    /// Keys in all shards' tables (tracking_total_keys).
    keys: AtomicUsize,
    /// Client entries over those keys (tracking_total_items).
    items: AtomicUsize,
    /// BCAST prefixes (tracking_total_prefixes), as thread 0 counts them.
    prefixes: AtomicUsize,
}

/// One BCAST prefix on one shard.
#[derive(Default)]
struct Prefix {
    /// (who word, NOLOOP) of each client registered for it.
    clients: Vec<(u64, bool)>,
    /// Keys changed under it since the last flush, with who changed them
    /// (0: the server, or several clients).
    changed: Vec<(Vec<u8>, u64)>,
}

/// One thread's tracking state: its shard's table and prefixes, and its
/// connections' outputs and tracking settings.
#[derive(Default)]
pub struct Local {
    /// Key → who words of the clients that may cache it.
    table: RefCell<HashMap<Vec<u8>, Vec<u64>>>,
    prefixes: RefCell<BTreeMap<Vec<u8>, Prefix>>,
    /// Every connection of this thread, by id: where pushes to it go.
    outputs: RefCell<HashMap<u64, Rc<Pushes>>>,
    /// This thread's tracking connections, by id.
    trackers: RefCell<HashMap<u64, Rc<Tracking>>>,
}

fn local(w: &Worker) -> &Local {
    w.local::<Local>()
}

fn state(w: &Worker) -> &State {
    w.shared.global::<State>()
}

/// What a shard tells a client's thread.
enum Payload {
    /// One key (default mode), changed by client `by` (0: nobody).
    Key(Vec<u8>, u64),
    /// A prefix's keys (BCAST), NOLOOP already applied.
    Keys(Vec<Vec<u8>>),
    /// Everything (FLUSHALL, FLUSHDB): a null.
    Flush,
}

/// A connection of this thread starts: pushes may be sent to it.
pub fn connected(w: &Worker, client: &Client) {
    local(w)
        .outputs
        .borrow_mut()
        .insert(client.id, Rc::clone(&client.pushes));
}

/// A connection of this thread ends: tracking off, no more pushes.
pub async fn disconnected(w: &Worker, client: &mut Client) {
    off(&Route::plain(w), client).await;
    local(w).outputs.borrow_mut().remove(&client.id);
}

/// Before a tracking client's batch runs: invalidations already sent to
/// this thread are taken in (a writer's reply may have reached another
/// client, which tells this one, before this thread ran the message), and
/// what waits for the client goes ahead of the batch's replies. So a
/// client that is told of a write, or that waited for the writer's reply,
/// reads the invalidation before the reply to its next command, as in
/// Redis.
pub fn before_batch(w: &Worker, client: &Client, out: &mut Vec<u8>) {
    w.router.poll(w);
    if client.monitor.is_none() && client.pushes.sink.has_pending() {
        if let Ok(pushed) = client.pushes.sink.take() {
            out.extend_from_slice(&pushed);
        }
    }
}

/// After a server command: the protocol and subscribed state pushes are
/// formatted for.
#[inline]
pub fn sync_output(client: &Client) {
    client.pushes.resp3.set(client.resp3);
    client
        .pushes
        .subscribed
        .set(client.pubsub.as_ref().is_some_and(|s| s.count() > 0));
}

/// Recomputes the word a client's commands run under (`storage::track`).
fn update_who(w: &Worker, client: &mut Client) {
    client.who = match &client.tracking {
        Some(t) => track::who_word(client.id, w.id, t.remembers_reads()),
        None => 0,
    };
}

/// After a command of a tracking client: CLIENT CACHING's choice is spent
/// (kept through a transaction, and by CLIENT's own subcommands, as in
/// Redis). True when it was spent: the caller settles what it sent ahead
/// first, as it ran under the choice.
pub fn spent_caching(client: &Client, name: &[u8]) -> bool {
    match &client.tracking {
        Some(t) => {
            t.caching.get() && client.multi.is_none() && !name.eq_ignore_ascii_case(b"client")
        }
        None => false,
    }
}

/// Ends CLIENT CACHING's choice (see [`spent_caching`]).
pub fn end_caching(w: &Worker, client: &mut Client) {
    if let Some(t) = &client.tracking {
        t.caching.set(false);
    }
    update_who(w, client);
}

/// `CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP]`
pub async fn tracking(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut redirect: u64 = 0;
    let mut redirect_thread = 0;
    let mut mode = Mode::default();
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let a = argv[j];
        if a.eq_ignore_ascii_case(b"redirect") && more {
            j += 1;
            if redirect != 0 {
                return Err(Error::Static(
                    "ERR A client can only redirect to a single other client",
                ));
            }
            let id = parse_i64(argv[j]).ok_or(Error::NotInteger)?;
            redirect = id as u64;
            let found = w
                .call_all(move |w| w.clients.borrow().contains_key(&(id as u64)))
                .await;
            match found.iter().position(|&f| f) {
                Some(t) if id > 0 => redirect_thread = t,
                _ => {
                    return Err(Error::Static(
                        "ERR The client ID you want redirect to does not exist",
                    ))
                }
            }
        } else if a.eq_ignore_ascii_case(b"bcast") {
            mode.bcast = true;
        } else if a.eq_ignore_ascii_case(b"optin") {
            mode.optin = true;
        } else if a.eq_ignore_ascii_case(b"optout") {
            mode.optout = true;
        } else if a.eq_ignore_ascii_case(b"noloop") {
            mode.noloop = true;
        } else if a.eq_ignore_ascii_case(b"prefix") && more {
            j += 1;
            prefixes.push(argv[j].to_vec());
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    if argv[2].eq_ignore_ascii_case(b"off") {
        off(w, client).await;
        encode::ok(out);
        return Ok(());
    }
    if !argv[2].eq_ignore_ascii_case(b"on") {
        return Err(Error::Syntax);
    }
    if !mode.bcast && !prefixes.is_empty() {
        return Err(Error::Static(
            "ERR PREFIX option requires BCAST mode to be enabled",
        ));
    }
    let old = client.tracking.as_ref().map(|t| t.mode.get());
    if old.is_some_and(|o| o.bcast != mode.bcast) {
        return Err(Error::Static("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(Error::Static(
            "ERR OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    if mode.optin && mode.optout {
        return Err(Error::Static(
            "ERR You can't specify both OPTIN mode and OPTOUT mode",
        ));
    }
    if old.is_some_and(|o| (mode.optin && o.optout) || (mode.optout && o.optin)) {
        return Err(Error::Static("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if mode.bcast {
        check_prefixes(client, &prefixes)?;
    }
    on(w, client, (redirect, redirect_thread), mode, prefixes).await;
    encode::ok(out);
    Ok(())
}

/// Refuses BCAST prefixes that overlap each other or the client's own, in
/// Redis's words.
fn check_prefixes(client: &Client, new: &[Vec<u8>]) -> Result<(), Error> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let mine: Vec<Vec<u8>> = client
        .tracking
        .as_ref()
        .map(|t| t.prefixes.borrow().clone())
        .unwrap_or_default();
    for (i, p) in new.iter().enumerate() {
        if let Some(e) = mine.iter().find(|e| overlap(p, e)) {
            return Err(Error::Other(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                lossy(p),
                lossy(e)
            )));
        }
        if let Some(e) = new
            .iter()
            .enumerate()
            .find(|(k, e)| *k != i && overlap(p, e))
        {
            return Err(Error::Other(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                lossy(p),
                lossy(e.1)
            )));
        }
    }
    Ok(())
}

/// Turns tracking on (or changes its options) for `client`.
async fn on(
    w: &Route<'_>,
    client: &mut Client,
    (redirect, redirect_thread): (u64, usize),
    mode: Mode,
    new: Vec<Vec<u8>>,
) {
    let t = match &client.tracking {
        Some(t) => Rc::clone(t),
        None => {
            let t = Rc::new(Tracking {
                mode: Default::default(),
                redirect: Default::default(),
                redirect_thread: Default::default(),
                broken: Default::default(),
                caching: Default::default(),
                prefixes: Default::default(),
                pushes: Rc::clone(&client.pushes),
            });
            state(w).clients.fetch_add(1, Ordering::Relaxed);
            local(w)
                .trackers
                .borrow_mut()
                .insert(client.id, Rc::clone(&t));
            client.tracking = Some(Rc::clone(&t));
            t
        }
    };
    t.mode.set(mode);
    t.redirect.set(redirect);
    t.redirect_thread.set(redirect_thread);
    t.broken.set(false);
    t.caching.set(false);
    if mode.bcast {
        let mut new = new;
        if new.is_empty() && t.prefixes.borrow().is_empty() {
            new.push(Vec::new());
        }
        let who = track::who_word(client.id, w.id, false);
        let noloop = mode.noloop;
        t.prefixes.borrow_mut().extend(new.iter().cloned());
        let new = std::sync::Arc::new(new);
        w.call_all(move |w| {
            let mut prefixes = local(w).prefixes.borrow_mut();
            for p in new.iter() {
                let e = prefixes.entry(p.clone()).or_default();
                if !e.clients.iter().any(|c| c.0 == who) {
                    e.clients.push((who, noloop));
                }
            }
            // NOLOOP is the client's current choice, for every prefix.
            for e in prefixes.values_mut() {
                for c in e.clients.iter_mut().filter(|c| c.0 == who) {
                    c.1 = noloop;
                }
            }
            track::set_on(true);
            if w.id == 0 {
                state(w).prefixes.store(prefixes.len(), Ordering::Relaxed);
            }
        })
        .await;
    }
    update_who(w, client);
}

/// Turns tracking off for `client` (CLIENT TRACKING OFF, RESET, a closed
/// connection). Its keys stay in the tables, dropped when they change, as
/// in Redis; its prefixes go at once.
pub async fn off(w: &Route<'_>, client: &mut Client) {
    let Some(t) = client.tracking.take() else {
        return;
    };
    state(w).clients.fetch_sub(1, Ordering::Relaxed);
    local(w).trackers.borrow_mut().remove(&client.id);
    let mine = std::mem::take(&mut *t.prefixes.borrow_mut());
    if t.mode.get().bcast && !mine.is_empty() {
        let who = track::who_word(client.id, w.id, false);
        let mine = std::sync::Arc::new(mine);
        w.call_all(move |w| {
            let mut prefixes = local(w).prefixes.borrow_mut();
            for p in mine.iter() {
                if let Some(e) = prefixes.get_mut(p) {
                    e.clients.retain(|c| c.0 != who);
                    if e.clients.is_empty() {
                        prefixes.remove(p);
                    }
                }
            }
            if w.id == 0 {
                state(w).prefixes.store(prefixes.len(), Ordering::Relaxed);
            }
            drop(prefixes);
            refresh_on(w);
        })
        .await;
    }
    update_who(w, client);
}

/// Whether this shard still has anything to log changes for.
fn refresh_on(w: &Worker) {
    let l = local(w);
    track::set_on(!l.table.borrow().is_empty() || !l.prefixes.borrow().is_empty());
}

/// `CLIENT CACHING YES|NO`
pub fn caching(
    w: &Worker,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let Some(t) = client.tracking.clone() else {
        return Err(Error::Static("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    let mode = t.mode.get();
    if argv[2].eq_ignore_ascii_case(b"yes") {
        if !mode.optin {
            return Err(Error::Static(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if argv[2].eq_ignore_ascii_case(b"no") {
        if !mode.optout {
            return Err(Error::Static(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(Error::Syntax);
    }
    t.caching.set(true);
    update_who(w, client);
    encode::ok(out);
    Ok(())
}

/// `CLIENT GETREDIR`
pub fn getredir(client: &Client, out: &mut Vec<u8>) {
    match &client.tracking {
        Some(t) => encode::integer(out, t.redirect.get() as i64),
        None => encode::integer(out, -1),
    }
}

/// `CLIENT TRACKINGINFO`
pub fn trackinginfo(client: &Client, out: &mut Vec<u8>) {
    let resp3 = client.resp3;
    let mut flags: Vec<&[u8]> = Vec::new();
    match &client.tracking {
        None => flags.push(b"off"),
        Some(t) => {
            let m = t.mode.get();
            flags.push(b"on");
            if m.bcast {
                flags.push(b"bcast");
            }
            if m.optin {
                flags.push(b"optin");
                if t.caching.get() {
                    flags.push(b"caching-yes");
                }
            }
            if m.optout {
                flags.push(b"optout");
                if t.caching.get() {
                    flags.push(b"caching-no");
                }
            }
            if m.noloop {
                flags.push(b"noloop");
            }
            if t.broken.get() {
                flags.push(b"broken_redirect");
            }
        }
    }
    encode::map_len(out, 3, resp3);
    encode::bulk(out, b"flags");
    encode::set_len(out, flags.len(), resp3);
    for f in flags {
        encode::bulk(out, f);
    }
    encode::bulk(out, b"redirect");
    encode::integer(
        out,
        client
            .tracking
            .as_ref()
            .map_or(-1, |t| t.redirect.get() as i64),
    );
    encode::bulk(out, b"prefixes");
    let prefixes = client
        .tracking
        .as_ref()
        .map(|t| t.prefixes.borrow().clone())
        .unwrap_or_default();
    encode::array_len(out, prefixes.len());
    for p in prefixes {
        encode::bulk(out, &p);
    }
}

/// INFO: (tracking_clients, total keys, total items, total prefixes).
pub fn counts(w: &Worker) -> (usize, usize, usize, usize) {
    let s = state(w);
    (
        s.clients.load(Ordering::Relaxed),
        s.keys.load(Ordering::Relaxed),
        s.items.load(Ordering::Relaxed),
        s.prefixes.load(Ordering::Relaxed),
    )
}

/// Turns this thread's log (`storage::track`) into table entries and
/// invalidations, and sends those to the clients' threads. Registered to
/// run after every job; the connection loop calls it at a batch's end.
pub fn flush_log(w: &Worker) {
    if !track::pending() {
        return;
    }
    let events = track::take();
    let l = local(w);
    let st = state(w);
    let mut sends: Vec<(usize, u64, Payload)> = Vec::new();
    {
        let mut table = l.table.borrow_mut();
        let mut prefixes = l.prefixes.borrow_mut();
        for e in events {
            match e {
                Event::Read { who, key } => {
                    let who = who & !track::READS;
                    match table.get_mut(&key) {
                        Some(list) => {
                            if !list.contains(&who) {
                                list.push(who);
                                st.items.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        None => {
                            table.insert(key, vec![who]);
                            st.keys.fetch_add(1, Ordering::Relaxed);
                            st.items.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Event::Changed { by, key } => {
                    for (p, e) in prefixes.iter_mut() {
                        if key.starts_with(p) {
                            match e.changed.iter_mut().find(|c| c.0 == key) {
                                Some(c) if c.1 != by => c.1 = 0,
                                Some(_) => {}
                                None => e.changed.push((key.clone(), by)),
                            }
                        }
                    }
                    if let Some(list) = table.remove(&key) {
                        st.keys.fetch_sub(1, Ordering::Relaxed);
                        st.items.fetch_sub(list.len(), Ordering::Relaxed);
                        for who in list {
                            sends.push((
                                track::home_of(who),
                                track::id_of(who),
                                Payload::Key(key.clone(), by),
                            ));
                        }
                    }
                }
            }
        }
        for e in prefixes.values_mut() {
            if e.changed.is_empty() {
                continue;
            }
            let changed = std::mem::take(&mut e.changed);
            for &(who, noloop) in &e.clients {
                let id = track::id_of(who);
                let keys: Vec<Vec<u8>> = changed
                    .iter()
                    .filter(|(_, by)| !(noloop && *by == id))
                    .map(|(k, _)| k.clone())
                    .collect();
                if !keys.is_empty() {
                    sends.push((track::home_of(who), id, Payload::Keys(keys)));
                }
            }
        }
    }
    refresh_on(w);
    send_all(w, sends);
}

/// Hands each invalidation to its client's thread (at once for this one).
fn send_all(w: &Worker, sends: Vec<(usize, u64, Payload)>) {
    if sends.is_empty() {
        return;
    }
    let mut remote: BTreeMap<usize, Vec<(u64, Payload)>> = BTreeMap::new();
    for (home, id, p) in sends {
        if home == w.id {
            deliver(w, id, p);
        } else {
            remote.entry(home).or_default().push((id, p));
        }
    }
    for (t, batch) in remote {
        w.router.post(
            t,
            0,
            Box::new(move |w: &Worker| {
                for (id, p) in batch {
                    deliver(w, id, p);
                }
                Box::new(()) as Box<dyn std::any::Any + Send>
            }),
        );
    }
}

/// On the client's thread: the client's current mode decides, then the
/// message goes to the client or its redirect target.
fn deliver(w: &Worker, id: u64, p: Payload) {
    let Some(t) = local(w).trackers.borrow().get(&id).cloned() else {
        return;
    };
    let mode = t.mode.get();
    match &p {
        Payload::Key(_, by) if mode.bcast || (mode.noloop && *by == id) => return,
        Payload::Keys(_) if !mode.bcast => return,
        _ => {}
    }
    let redirect = t.redirect.get();
    if redirect == 0 {
        // A RESP2 connection cannot be told in its own stream.
        if t.pushes.resp3.get() {
            t.pushes.sink.push(&frame(true, &p, false));
        }
        return;
    }
    let target = t.redirect_thread.get();
    if target == w.id {
        if !to_target(w, redirect, &p) {
            broken(&t);
        }
        return;
    }
    let home = w.id;
    w.router.post(
        target,
        0,
        Box::new(move |w: &Worker| {
            if !to_target(w, redirect, &p) {
                w.router.post(
                    home,
                    0,
                    Box::new(move |w: &Worker| {
                        if let Some(t) = local(w).trackers.borrow().get(&id) {
                            if t.redirect.get() == redirect {
                                broken(t);
                            }
                        }
                        Box::new(()) as Box<dyn std::any::Any + Send>
                    }),
                );
            }
            Box::new(()) as Box<dyn std::any::Any + Send>
        }),
    );
}

/// Sends an invalidation to redirect target `id` of this thread; false
/// when it is gone.
fn to_target(w: &Worker, id: u64, p: &Payload) -> bool {
    let Some(out) = local(w).outputs.borrow().get(&id).cloned() else {
        return false;
    };
    if out.resp3.get() {
        out.sink.push(&frame(true, p, false));
    } else if out.subscribed.get() {
        out.sink.push(&frame(false, p, true));
    }
    true
}

/// The redirect target is gone: said once per invalidation to a RESP3
/// client, as Redis does.
fn broken(t: &Tracking) {
    t.broken.set(true);
    if t.pushes.resp3.get() {
        let mut f = Vec::new();
        encode::push_len(&mut f, 2, true);
        encode::bulk(&mut f, b"tracking-redir-broken");
        encode::integer(&mut f, t.redirect.get() as i64);
        t.pushes.sink.push(&f);
    }
}

/// An invalidation as a RESP3 push (`invalidate`), or as a message on
/// [`CHANNEL`] (`channel`).
fn frame(resp3: bool, p: &Payload, channel: bool) -> Vec<u8> {
    let mut f = Vec::new();
    if channel {
        encode::push_len(&mut f, 3, resp3);
        encode::bulk(&mut f, b"message");
        encode::bulk(&mut f, CHANNEL);
    } else {
        encode::push_len(&mut f, 2, resp3);
        encode::bulk(&mut f, b"invalidate");
    }
    match p {
        Payload::Key(k, _) => {
            encode::array_len(&mut f, 1);
            encode::bulk(&mut f, k);
        }
        Payload::Keys(keys) => {
            encode::array_len(&mut f, keys.len());
            for k in keys {
                encode::bulk(&mut f, k);
            }
        }
        Payload::Flush => encode::null(&mut f, resp3),
    }
    f
}

/// FLUSHALL / FLUSHDB, on each thread: the shard's table is emptied and
/// every tracking client of the thread is told that everything changed.
pub fn flushed(w: &Worker) {
    flush_log(w);
    let l = local(w);
    let st = state(w);
    {
        let mut table = l.table.borrow_mut();
        let items: usize = table.values().map(Vec::len).sum();
        st.keys.fetch_sub(table.len(), Ordering::Relaxed);
        st.items.fetch_sub(items, Ordering::Relaxed);
        table.clear();
    }
    refresh_on(w);
    let ids: Vec<u64> = l.trackers.borrow().keys().copied().collect();
    for id in ids {
        deliver(w, id, Payload::Flush);
    }
}

/// The most keys one tick drops to honour `tracking-table-max-keys`.
const LIMIT_EFFORT: usize = 10_000;

/// Each cron tick: while the tables hold more keys than
/// `tracking-table-max-keys` (0: no limit), this shard drops some of its
/// own, telling their clients as if the keys had changed. Each drop is
/// claimed on the process-wide count first, so shards dropping at the
/// same time never take the total below the limit.
pub fn on_tick(w: &Worker) {
    flush_log(w);
    let st = state(w);
    if st.keys.load(Ordering::Relaxed) == 0 || local(w).table.borrow().is_empty() {
        return;
    }
    let max = w
        .shared
        .config
        .other("tracking-table-max-keys")
        .parse::<usize>()
        .unwrap_or(0);
    if max == 0 {
        return;
    }
    let mut sends = Vec::new();
    {
        let mut table = local(w).table.borrow_mut();
        for _ in 0..LIMIT_EFFORT {
            let total = st.keys.load(Ordering::Relaxed);
            if total <= max || table.is_empty() {
                break;
            }
            if st
                .keys
                .compare_exchange(total, total - 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let Some(key) = table.keys().next().cloned() else {
                break;
            };
            let list = table.remove(&key).unwrap_or_default();
            st.items.fetch_sub(list.len(), Ordering::Relaxed);
            for who in list {
                sends.push((
                    track::home_of(who),
                    track::id_of(who),
                    Payload::Key(key.clone(), 0),
                ));
            }
        }
    }
    refresh_on(w);
    send_all(w, sends);
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
