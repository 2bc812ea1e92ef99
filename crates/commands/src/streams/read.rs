//! XREAD and XREADGROUP: the shard-local halves. The server parses a call
//! with [`parse`], checks each key on its shard in order with
//! [`check_key`] (Redis checks key by key: type, group, then the ID), then
//! serves the keys that have something with [`serve_key`]; if none has
//! and the call may block, it waits on every key with a [`Wait`], which a
//! change to a key tries with [`ready`] and [`serve_waiter`].
//!
//! A group read delivers entries to its consumer (creating it first, as
//! Redis does, only once it is served), moves the group's last delivered
//! ID and entries-read counter, and, unless NOACK, makes the entries
//! pending. What it did is recorded as Redis 7.0 propagates it: an
//! `XCLAIM ... FORCE JUSTID LASTID` per delivered entry; with NOACK, the
//! consumer's creation and an `XGROUP SETID ... ENTRIESREAD` instead.

use resp::encode;
use storage::notify::{self, class};
use storage::stream::{Entry, Stream, StreamId};
use storage::{Db, Millis};

use super::{bulk_id, parse_id, write_entry, ERR_ID};
use crate::access;
use crate::args::parse_i64;
use crate::table::{flags::*, CommandTable};
use crate::Error;

pub fn register(t: &mut CommandTable) {
    t.server_keys_fn("xread", -4, READONLY, (0, 0, 0), xread_keys);
    t.server_keys_fn("xreadgroup", -7, WRITE, (0, 0, 0), xreadgroup_keys);
}

/// The keys of XREAD: the first half of the arguments after STREAMS.
fn xread_keys(argv: &[&[u8]]) -> Vec<usize> {
    streams_keys(argv, 1)
}

/// XREADGROUP's, the same after `GROUP g c`.
fn xreadgroup_keys(argv: &[&[u8]]) -> Vec<usize> {
    streams_keys(argv, 4)
}

fn streams_keys(argv: &[&[u8]], from: usize) -> Vec<usize> {
    let Some(at) = (from..argv.len()).find(|&i| argv[i].eq_ignore_ascii_case(b"streams")) else {
        return Vec::new();
    };
    let n = (argv.len() - at - 1) / 2;
    (at + 1..at + 1 + n).collect()
}

/// XREADGROUP's `GROUP group consumer` and NOACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupArgs {
    pub group: Vec<u8>,
    pub consumer: Vec<u8>,
    pub noack: bool,
}

/// A parsed XREAD or XREADGROUP.
#[derive(Debug, Clone)]
pub struct ReadArgs {
    pub group: Option<GroupArgs>,
    /// Entries per key at most (0: all).
    pub count: usize,
    /// BLOCK: `Some(None)` waits forever, `Some(Some(ms))` that long.
    pub block: Option<Option<u64>>,
    pub keys: Vec<Vec<u8>>,
    /// Each key's ID argument, checked on the key's shard.
    pub ids: Vec<Vec<u8>>,
}

/// XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]
pub fn parse(argv: &[&[u8]]) -> Result<ReadArgs, Error> {
    let xreadgroup = argv[0].eq_ignore_ascii_case(b"xreadgroup");
    let mut r = ReadArgs {
        group: None,
        count: 0,
        block: None,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let (mut group, mut noack) = (None, false);
    let mut streams = None;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = argv[i];
        let word = |w: &str| o.eq_ignore_ascii_case(w.as_bytes());
        if word("block") && more > 0 {
            i += 1;
            let t = parse_i64(argv[i]).ok_or(Error::Static(
                "ERR timeout is not an integer or out of range",
            ))?;
            if t < 0 {
                return Err(Error::Static("ERR timeout is negative"));
            }
            r.block = Some((t > 0).then_some(t as u64));
        } else if word("count") && more > 0 {
            i += 1;
            let n = parse_i64(argv[i]).ok_or(Error::NotInteger)?;
            r.count = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
        } else if word("streams") && more > 0 {
            let n = argv.len() - i - 1;
            if n % 2 != 0 {
                let (name, sym) = if xreadgroup {
                    ("XREADGROUP", '>')
                } else {
                    ("XREAD", '$')
                };
                return Err(Error::Other(format!(
                    "ERR Unbalanced {name} list of streams: for each stream key an ID or '{sym}' must be specified."
                )));
            }
            streams = Some(i + 1);
            break;
        } else if word("group") && more >= 2 {
            if !xreadgroup {
                return Err(Error::Static(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            group = Some((argv[i + 1].to_vec(), argv[i + 2].to_vec()));
            i += 2;
        } else if word("noack") {
            if !xreadgroup {
                return Err(Error::Static(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            noack = true;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    let at = streams.ok_or(Error::Syntax)?;
    if xreadgroup && group.is_none() {
        return Err(Error::Static("ERR Missing GROUP option for XREADGROUP"));
    }
    r.group = group.map(|(group, consumer)| GroupArgs {
        group,
        consumer,
        noack,
    });
    let n = (argv.len() - at) / 2;
    r.keys = argv[at..at + n].iter().map(|k| k.to_vec()).collect();
    r.ids = argv[at + n..].iter().map(|k| k.to_vec()).collect();
    Ok(r)
}

/// What one key's ID argument came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// XREAD: entries above this ID (`$` resolved to the last ID).
    After(StreamId),
    /// XREADGROUP `>`: entries the group has not been delivered.
    New,
    /// XREADGROUP with an ID: the consumer's pending entries above it.
    History(StreamId),
}

/// Checks one key of a read in Redis's order (its type, its group, its ID
/// argument) and resolves the ID.
pub fn check_key(
    db: &mut Db,
    key: &[u8],
    id: &[u8],
    group: Option<&GroupArgs>,
    now: Millis,
) -> Result<Want, Error> {
    let s = access::read::<Stream>(db, key, now)?;
    if let Some(g) = group {
        if s.and_then(|s| s.group(&g.group)).is_none() {
            return Err(super::no_key_or_group(
                key,
                &g.group,
                " in XREADGROUP with GROUP option",
            ));
        }
    }
    match id {
        b"$" if group.is_some() => Err(Error::Static(
            "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
        )),
        b"$" => Ok(Want::After(s.map_or(StreamId::MIN, Stream::last_id))),
        b">" if group.is_none() => Err(Error::Static(
            "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
        )),
        b">" => Ok(Want::New),
        _ => {
            let id = parse_id(id, 0, true).map_err(|_| ERR_ID)?;
            Ok(if group.is_some() {
                Want::History(id)
            } else {
                Want::After(id)
            })
        }
    }
}

/// One key's part of a reply, and what serving it changed (commands to
/// record, for a group read).
#[derive(Debug, Clone, Default)]
pub struct KeyServed {
    /// `[key, entries]` (RESP2) or `key entries` (a RESP3 map's pair).
    pub reply: Vec<u8>,
    pub effects: Vec<Vec<Vec<u8>>>,
}

/// The reply for the keys served: an array of `[key, entries]` pairs
/// (RESP3: a map), or a null when none was.
pub fn write_reply(out: &mut Vec<u8>, served: &[KeyServed], resp3: bool) {
    if served.is_empty() {
        encode::null_aggregate(out, resp3);
        return;
    }
    if resp3 {
        encode::map_len(out, served.len(), true);
    } else {
        encode::array_len(out, served.len());
    }
    for s in served {
        out.extend_from_slice(&s.reply);
    }
}

/// The last live entry's ID of the stream at `key`.
fn last_live(db: &mut Db, key: &[u8], now: Millis) -> Option<StreamId> {
    match db.peek(key, now) {
        Some(storage::Value::Stream(s)) => s.edge(true).map(|e| e.id),
        _ => None,
    }
}

/// Serves one checked key at once if it has something: XREAD and `>` when
/// an entry above their ID is there; a history read always. None when the
/// key has nothing to give now.
pub fn serve_key(
    db: &mut Db,
    key: &[u8],
    want: Want,
    group: Option<&GroupArgs>,
    count: usize,
    resp3: bool,
    now: Millis,
) -> Result<Option<KeyServed>, Error> {
    match (want, group) {
        (Want::After(after), _) => {
            if last_live(db, key, now).is_none_or(|l| l <= after) {
                return Ok(None);
            }
            Ok(Some(read_after(db, key, after, count, resp3, now)))
        }
        (Want::New, Some(g)) => {
            let last = match db.peek(key, now) {
                Some(storage::Value::Stream(s)) => s.group(&g.group).map(|x| x.last_id),
                _ => None,
            };
            let Some(last) = last else {
                return Ok(None);
            };
            if last_live(db, key, now).is_none_or(|l| l <= last) {
                return Ok(None);
            }
            deliver(db, key, g, Want::New, count, resp3, now)
        }
        (Want::History(_), Some(g)) => deliver(db, key, g, want, count, resp3, now),
        _ => Ok(None),
    }
}

/// XREAD's entries above `after` from `key` (which is a stream).
fn read_after(
    db: &mut Db,
    key: &[u8],
    after: StreamId,
    count: usize,
    resp3: bool,
    now: Millis,
) -> KeyServed {
    let mut out = Vec::new();
    if !resp3 {
        encode::array_len(&mut out, 2);
    }
    encode::bulk(&mut out, key);
    let es: Vec<Entry<'_>> = match (db.peek(key, now), after.next()) {
        (Some(storage::Value::Stream(s)), Some(start)) => s
            .range(start, StreamId::MAX, false)
            .take(if count == 0 { usize::MAX } else { count })
            .collect(),
        _ => Vec::new(),
    };
    super::write_entries(&mut out, &es);
    KeyServed {
        reply: out,
        effects: Vec::new(),
    }
}

/// A group read of `key` for `g`: new entries (`Want::New`) or the
/// consumer's history. The key holds a stream with the group (checked).
fn deliver(
    db: &mut Db,
    key: &[u8],
    g: &GroupArgs,
    want: Want,
    count: usize,
    resp3: bool,
    now: Millis,
) -> Result<Option<KeyServed>, Error> {
    let dbid = db.id;
    let Some(s) = access::write::<Stream>(db, key, now)? else {
        return Ok(None);
    };
    let Some((view, group)) = s.split_group(&g.group) else {
        return Ok(None);
    };
    let mut served = KeyServed::default();
    let out = &mut served.reply;
    if !resp3 {
        encode::array_len(out, 2);
    }
    encode::bulk(out, key);
    let created = match group.consumer_mut(&g.consumer) {
        Some(c) => {
            c.seen_time = now;
            false
        }
        None => {
            group.create_consumer(&g.consumer, now);
            notify::emit(class::STREAM, "xgroup-createconsumer", dbid, key);
            true
        }
    };
    let limit = if count == 0 { usize::MAX } else { count };
    let argv = |parts: &[&[u8]]| parts.iter().map(|p| p.to_vec()).collect::<Vec<_>>();
    match want {
        Want::History(from) => {
            let ids: Vec<StreamId> = match (from.next(), group.consumer(&g.consumer)) {
                (Some(start), Some(c)) => {
                    c.pending_range(start, StreamId::MAX).take(limit).collect()
                }
                _ => Vec::new(),
            };
            encode::array_len(out, ids.len());
            for id in ids {
                match view.get(id) {
                    Some(e) => {
                        write_entry(out, &e);
                        group.redeliver(id, now);
                    }
                    None => {
                        encode::array_len(out, 2);
                        bulk_id(out, id);
                        encode::null_aggregate(out, resp3);
                    }
                }
            }
        }
        _ => {
            // Nothing lies above the greatest ID.
            let es: Vec<Entry<'_>> = match group.last_id.next() {
                Some(start) => view
                    .range(start, StreamId::MAX, false)
                    .take(limit)
                    .collect(),
                None => Vec::new(),
            };
            encode::array_len(out, es.len());
            let mut moved = false;
            for e in &es {
                write_entry(out, e);
                if e.id > group.last_id {
                    group.entries_read = if group.entries_read
                        != storage::stream::ENTRIES_READ_UNKNOWN
                        && !view.has_tombstones(e.id, None)
                    {
                        group.entries_read + 1
                    } else if view.entries_added > 0 {
                        view.entries_before(e.id)
                    } else {
                        group.entries_read
                    };
                    group.last_id = e.id;
                    moved = true;
                }
                if !g.noack {
                    group.deliver(e.id, &g.consumer, now);
                    let p = group.pending(e.id);
                    let (time, tries) = p.map_or((now, 1), |p| (p.delivery_time, p.delivery_count));
                    served.effects.push(argv(&[
                        b"XCLAIM",
                        key,
                        &g.group,
                        &g.consumer,
                        b"0",
                        &e.id.to_bytes(),
                        b"TIME",
                        itoa::Buffer::new().format(time).as_bytes(),
                        b"RETRYCOUNT",
                        itoa::Buffer::new().format(tries).as_bytes(),
                        b"FORCE",
                        b"JUSTID",
                        b"LASTID",
                        &group.last_id.to_bytes(),
                    ]));
                }
            }
            if g.noack {
                if created {
                    served.effects.push(argv(&[
                        b"XGROUP",
                        b"CREATECONSUMER",
                        key,
                        &g.group,
                        &g.consumer,
                    ]));
                }
                if moved {
                    served.effects.push(argv(&[
                        b"XGROUP",
                        b"SETID",
                        key,
                        &g.group,
                        &group.last_id.to_bytes(),
                        b"ENTRIESREAD",
                        itoa::Buffer::new().format(group.entries_read).as_bytes(),
                    ]));
                }
            }
        }
    }
    Ok(Some(served))
}

// ---------------------------------------------------------------------------
// Waiting.

/// A blocked read: per key, the ID it waits to pass (XREAD; for a group
/// read the group's last delivered ID is read when it wakes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub group: Option<GroupArgs>,
    pub count: usize,
    pub after: Vec<(Vec<u8>, StreamId)>,
}

const ERR_GONE: Error = Error::Static("UNBLOCKED the stream key no longer exists");
const ERR_GROUP_GONE: Error =
    Error::Static("NOGROUP the consumer group this client was blocked on no longer exists");

/// Whether a change to `key` serves (or ends with an error) a waiter: a
/// new last ID above its own (or its group's); for a group read also the
/// key's or the group's disappearance.
pub fn ready(db: &mut Db, key: &[u8], w: &Wait, now: Millis) -> bool {
    match (db.peek(key, now), &w.group) {
        (Some(storage::Value::Stream(s)), None) => {
            let after = w.after.iter().find(|(k, _)| k == key).map(|(_, id)| *id);
            after.is_some_and(|a| s.last_id() > a)
        }
        (Some(storage::Value::Stream(s)), Some(g)) => s
            .group(&g.group)
            .is_none_or(|grp| s.last_id() > grp.last_id),
        (_, None) => false,
        (_, Some(_)) => true,
    }
}

/// Serves a woken waiter from `key` (after [`ready`]): its reply is the
/// one key with what it has above the waited-for ID (possibly nothing,
/// when the entry that woke it is gone again, as Redis replies).
pub fn serve_waiter(
    db: &mut Db,
    key: &[u8],
    w: &Wait,
    resp3: bool,
    now: Millis,
) -> Result<Option<KeyServed>, Error> {
    let piece = match &w.group {
        None => {
            let Some(after) = w.after.iter().find(|(k, _)| k == key).map(|(_, id)| *id) else {
                return Ok(None);
            };
            read_after(db, key, after, w.count, resp3, now)
        }
        Some(g) => {
            let has_group = match db.peek(key, now) {
                Some(storage::Value::Stream(s)) => s.group(&g.group).is_some(),
                _ => return Err(ERR_GONE),
            };
            if !has_group {
                return Err(ERR_GROUP_GONE);
            }
            match deliver(db, key, g, Want::New, w.count, resp3, now)? {
                Some(p) => p,
                None => return Ok(None),
            }
        }
    };
    let mut reply = Vec::with_capacity(piece.reply.len() + 8);
    write_reply(&mut reply, std::slice::from_ref(&piece), resp3);
    Ok(Some(KeyServed {
        reply,
        effects: piece.effects,
    }))
}
