//! Streams as Redis writes them: types 15 (Redis 5.0 to 6.2), 19 (7.0:
//! first ID, max deleted ID, entries added, groups' entries read) and 21
//! (7.2 on: consumers' active time as well).
//!
//! The body: a count of nodes, each a 16-byte big-endian master ID and a
//! listpack (both RDB strings); length and last ID (type 19 and 21: first
//! ID, max deleted ID, entries added); a count of groups, each a name, its
//! last ID (19, 21: entries read), its PEL (a count, then per entry 16 raw
//! bytes of ID, 8 bytes of delivery time little-endian, and a delivery
//! count) and its consumers (a count, then per consumer a name, 8 bytes of
//! seen time (21: then 8 of active time) and its PEL as a count of 16-byte
//! IDs, each already in the group's PEL and held by no other consumer).
//!
//! Every node is checked entry by entry (`Stream::push_node`), and the
//! metadata against the entries: the length must be the live entries
//! counted, the last ID at least the last stored entry's. A type 15 stream
//! gets the metadata Redis 7.0 gives one: its first entry as first ID,
//! its length as entries added, and each group's entries read estimated
//! from its last ID.

use super::{types, Reader, Result, BAD};
use crate::stream::{Group, Stream, StreamId};
use crate::Value;

/// Bytes of an ID in a PEL, and of a time.
const RAW_ID: usize = 16;
const RAW_TIME: usize = 8;

/// Parses a stream of type `ty` (15, 19 or 21).
pub(in crate::rdb) fn stream(ty: u8, r: &mut Reader<'_>) -> Result<Value> {
    let v2 = ty != types::STREAM_LISTPACKS;
    let v3 = ty == types::STREAM_LISTPACKS_3;
    let mut s = Stream::new();
    // Each node takes at least two strings of a byte.
    let nodes = bounded(r, 2)?;
    let mut live = 0u64;
    for _ in 0..nodes {
        let key = r.blob()?;
        let master = StreamId::from_be_bytes(&key).ok_or(BAD)?;
        let lp = r.blob()?.into_owned();
        live = live
            .checked_add(s.push_node(master, lp).ok_or(BAD)?)
            .ok_or(BAD)?;
    }
    let length = r.len_u64()?;
    let last = id(r)?;
    let (first, max_deleted, added) = if v2 {
        (id(r)?, id(r)?, r.len_u64()?)
    } else {
        (StreamId::MIN, StreamId::MIN, length)
    };
    if length != live || s.last_stored_id().is_some_and(|l| l > last) {
        return Err(BAD);
    }
    s.set_meta(length, last, first, max_deleted, added);
    if !v2 {
        // Redis 7.0 reads an old stream's first ID off its entries.
        let first = s.edge(false).map(|e| e.id).unwrap_or_default();
        s.set_meta(length, last, first, max_deleted, added);
    }
    let groups = bounded(r, 3)?;
    for _ in 0..groups {
        let name = r.string()?.as_ref().to_vec();
        let last_id = id(r)?;
        let entries_read = if v2 {
            r.len_u64()? as i64
        } else {
            s.view().entries_before(last_id)
        };
        let mut g = Group::new(last_id, entries_read);
        let pel = bounded(r, RAW_ID + RAW_TIME + 1)?;
        for _ in 0..pel {
            let pid = StreamId::from_be_bytes(r.take(RAW_ID)?).ok_or(BAD)?;
            let time = time(r)?;
            let count = r.len_u64()?;
            if !g.insert_pending(pid, time, count) {
                return Err(BAD);
            }
        }
        let consumers = bounded(r, 1 + RAW_TIME + 1)?;
        for _ in 0..consumers {
            let cname = r.string()?.as_ref().to_vec();
            let seen = time(r)?;
            let active = if v3 { time(r)? } else { seen };
            if !g.insert_consumer(&cname, seen, active) {
                return Err(BAD);
            }
            let owned = bounded(r, RAW_ID)?;
            for _ in 0..owned {
                let pid = StreamId::from_be_bytes(r.take(RAW_ID)?).ok_or(BAD)?;
                if !g.assign_loaded(&cname, pid) {
                    return Err(BAD);
                }
            }
        }
        if !g.all_assigned() || !s.insert_group(&name, g) {
            return Err(BAD);
        }
    }
    Ok(Value::Stream(Box::new(s)))
}

/// A count of items each at least `min_each` bytes, checked against what
/// remains (zero allowed: a stream may have no nodes, groups or PEL).
fn bounded(r: &mut Reader<'_>, min_each: usize) -> Result<usize> {
    let n = r.len()?;
    if n > r.remaining() / min_each {
        return Err(BAD);
    }
    Ok(n)
}

/// An ID as two lengths (ms, seq).
fn id(r: &mut Reader<'_>) -> Result<StreamId> {
    Ok(StreamId::new(r.len_u64()?, r.len_u64()?))
}

/// A time in ms: 8 bytes, little-endian.
fn time(r: &mut Reader<'_>) -> Result<u64> {
    let b: [u8; RAW_TIME] = r.take(RAW_TIME)?.try_into().map_err(|_| BAD)?;
    Ok(i64::from_le_bytes(b).max(0) as u64)
}
