//! The shard-local half of the blocking pops (BLPOP, BRPOP, BLMPOP,
//! BRPOPLPUSH, BLMOVE, BZPOPMIN, BZPOPMAX, BZMPOP) and of ZMPOP: parsing,
//! and one attempt to serve a pop from one key, which the server makes
//! when the command arrives and again each time a waited-on key is
//! created. Waiting itself (registration, wake-ups, timeouts) is the
//! server's business.
//!
//! A blocked XREAD or XREADGROUP waits through the same machinery with
//! [`Op::Stream`]; its first attempt and its serving are
//! `streams::read`'s.

use resp::encode;
use storage::{Db, List, Millis, ZSet};

use crate::access;
use crate::args::{parse_f64, parse_i64};
use crate::table::{flags::*, numkeys_keys, CommandTable};
use crate::Error;

pub fn register(t: &mut CommandTable) {
    let b = WRITE | NOSCRIPT;
    // Keys at fixed places (first, last, step) need no key function, so
    // COMMAND INFO does not call them movablekeys, as in Redis.
    t.server("blpop", -3, b, (1, -2, 1));
    t.server("brpop", -3, b, (1, -2, 1));
    t.server("brpoplpush", 4, b | DENYOOM, (1, 2, 1));
    t.server("blmove", 6, b | DENYOOM, (1, 2, 1));
    t.server_keys_fn("blmpop", -5, b, (0, 0, 0), numkeys_at_2);
    t.server("bzpopmin", -3, b | FAST, (1, -2, 1));
    t.server("bzpopmax", -3, b | FAST, (1, -2, 1));
    t.server_keys_fn("bzmpop", -5, b, (0, 0, 0), numkeys_at_2);
    t.server_keys_fn("zmpop", -4, WRITE, (0, 0, 0), numkeys_at_1);
}

/// Whether `name` (a registered row) may block.
pub fn is_blocking(name: &str) -> bool {
    matches!(
        name,
        "blpop"
            | "brpop"
            | "brpoplpush"
            | "blmove"
            | "blmpop"
            | "bzpopmin"
            | "bzpopmax"
            | "bzmpop"
            | "xread"
            | "xreadgroup"
    )
}

fn numkeys_at_1(argv: &[&[u8]]) -> Vec<usize> {
    numkeys_keys(argv, 1)
}

fn numkeys_at_2(argv: &[&[u8]]) -> Vec<usize> {
    numkeys_keys(argv, 2)
}

/// What one serve does to the key it finds non-empty.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// BLPOP/BRPOP (`count` None: reply `[key, elem]`) and BLMPOP
    /// (`Some(n)`: reply `[key, [elems]]`).
    List { left: bool, count: Option<usize> },
    /// BRPOPLPUSH/BLMOVE: pop one element, push it onto `dst`; reply the
    /// element.
    Move {
        dst: Vec<u8>,
        from_left: bool,
        to_left: bool,
    },
    /// BZPOPMIN/BZPOPMAX (`count` None: `[key, member, score]`) and
    /// BZMPOP/ZMPOP (`Some(n)`: `[key, [[member, score] ...]]`).
    ZSet { max: bool, count: Option<usize> },
    /// A blocked XREAD or XREADGROUP: served by a new entry in any of its
    /// streams, not by the key's creation alone.
    Stream(Box<crate::streams::read::Wait>),
}

/// A parsed blocking command: keys in order, what to do, how long to wait
/// (None: forever).
#[derive(Debug, Clone)]
pub struct Blocking {
    pub keys: Vec<Vec<u8>>,
    pub op: Op,
    pub timeout_ms: Option<u64>,
}

/// Parses a timeout in seconds (fractions allowed) as Redis 7.0 does.
fn timeout(arg: &[u8]) -> Result<Option<u64>, Error> {
    let t = parse_f64(arg)
        .filter(|t| t.is_finite())
        .ok_or(Error::Static("ERR timeout is not a float or out of range"))?;
    if t < 0.0 {
        return Err(Error::Static("ERR timeout is negative"));
    }
    let ms = (t * 1000.0).ceil();
    if ms >= 1e15 {
        return Err(Error::Static("ERR timeout is out of range"));
    }
    Ok((ms > 0.0).then_some(ms as u64))
}

fn side(a: &[u8]) -> Result<bool, Error> {
    if a.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else if a.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else {
        Err(Error::Syntax)
    }
}

/// `numkeys key... WHERE [COUNT n]` of LMPOP/ZMPOP and their blocking
/// forms, from `argv[at]`; `where_` reads LEFT|RIGHT or MIN|MAX.
fn mpop_args(
    argv: &[&[u8]],
    at: usize,
    where_: impl Fn(&[u8]) -> Option<bool>,
) -> Result<(Vec<Vec<u8>>, bool, usize), Error> {
    let numkeys = match argv.get(at).and_then(|b| parse_i64(b)) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(Error::Static("ERR numkeys should be greater than 0")),
    };
    if numkeys >= argv.len().saturating_sub(at) {
        return Err(Error::Syntax);
    }
    let keys: Vec<Vec<u8>> = argv[at + 1..at + 1 + numkeys]
        .iter()
        .map(|k| k.to_vec())
        .collect();
    let mut i = at + 1 + numkeys;
    let which = argv.get(i).and_then(|a| where_(a)).ok_or(Error::Syntax)?;
    i += 1;
    let mut count = None;
    while i < argv.len() {
        if count.is_none() && argv[i].eq_ignore_ascii_case(b"count") && i + 1 < argv.len() {
            count = match parse_i64(argv[i + 1]) {
                Some(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(Error::Static("ERR count should be greater than 0")),
            };
            i += 2;
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok((keys, which, count.unwrap_or(1)))
}

fn min_max(a: &[u8]) -> Option<bool> {
    if a.eq_ignore_ascii_case(b"min") {
        Some(false)
    } else if a.eq_ignore_ascii_case(b"max") {
        Some(true)
    } else {
        None
    }
}

/// Parses any of the blocking commands (and ZMPOP, which never blocks).
pub fn parse(argv: &[&[u8]]) -> Result<Blocking, Error> {
    let name = argv[0].to_ascii_lowercase();
    let last = argv[argv.len() - 1];
    let owned = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
    Ok(match name.as_slice() {
        b"blpop" | b"brpop" => Blocking {
            timeout_ms: timeout(last)?,
            keys: owned(&argv[1..argv.len() - 1]),
            op: Op::List {
                left: name == b"blpop",
                count: None,
            },
        },
        b"bzpopmin" | b"bzpopmax" => Blocking {
            timeout_ms: timeout(last)?,
            keys: owned(&argv[1..argv.len() - 1]),
            op: Op::ZSet {
                max: name == b"bzpopmax",
                count: None,
            },
        },
        b"brpoplpush" => Blocking {
            timeout_ms: timeout(argv[3])?,
            keys: owned(&argv[1..2]),
            op: Op::Move {
                dst: argv[2].to_vec(),
                from_left: false,
                to_left: true,
            },
        },
        b"blmove" => {
            let (from_left, to_left) = (side(argv[3])?, side(argv[4])?);
            Blocking {
                timeout_ms: timeout(argv[5])?,
                keys: owned(&argv[1..2]),
                op: Op::Move {
                    dst: argv[2].to_vec(),
                    from_left,
                    to_left,
                },
            }
        }
        b"blmpop" => {
            let t = timeout(argv[1])?;
            let (keys, left, count) = mpop_args(argv, 2, |a| side(a).ok())?;
            Blocking {
                timeout_ms: t,
                keys,
                op: Op::List {
                    left,
                    count: Some(count),
                },
            }
        }
        b"bzmpop" => {
            let t = timeout(argv[1])?;
            let (keys, max, count) = mpop_args(argv, 2, min_max)?;
            Blocking {
                timeout_ms: t,
                keys,
                op: Op::ZSet {
                    max,
                    count: Some(count),
                },
            }
        }
        b"zmpop" => {
            let (keys, max, count) = mpop_args(argv, 1, min_max)?;
            Blocking {
                timeout_ms: None,
                keys,
                op: Op::ZSet {
                    max,
                    count: Some(count),
                },
            }
        }
        _ => return Err(Error::Syntax),
    })
}

/// What a serve took: the reply to send, and what a Move must still push
/// (when its destination lives on another shard) or an abandoned serve
/// must put back.
#[derive(Debug, Clone, Default)]
pub struct Served {
    pub reply: Vec<u8>,
    pub key: Vec<u8>,
    /// Popped list elements, in pop order.
    pub elems: Vec<Vec<u8>>,
    /// Popped sorted-set members with their scores, in pop order.
    pub members: Vec<(Vec<u8>, f64)>,
    /// A Move whose push is still to be done on the destination's shard.
    pub push_pending: bool,
    /// What a stream read changed, as the commands to record (a group
    /// read's deliveries).
    pub effects: Vec<Vec<Vec<u8>>>,
}

/// Whether `key` could serve `op` right now (a non-empty list or sorted
/// set, as the op needs); WRONGTYPE when it holds another type.
pub fn ready(db: &mut Db, key: &[u8], op: &Op, now: Millis) -> Result<bool, Error> {
    Ok(match op {
        Op::List { .. } | Op::Move { .. } => access::read::<List>(db, key, now)?.is_some(),
        Op::ZSet { .. } => access::read::<ZSet>(db, key, now)?.is_some(),
        Op::Stream(w) => crate::streams::read::ready(db, key, w, now),
    })
}

/// Checks a Move's destination type (it must be a list or missing).
pub fn check_dst(db: &mut Db, op: &Op, now: Millis) -> Result<(), Error> {
    if let Op::Move { dst, .. } = op {
        access::read::<List>(db, dst, now)?;
    }
    Ok(())
}

/// Serves `op` from `key` if it holds what the op needs: pops, replies,
/// deletes the key if emptied. `dst_here`: a Move's destination is on this
/// shard (pushed now); otherwise `push_pending` is set. None when the key
/// is missing.
pub fn serve(
    db: &mut Db,
    key: &[u8],
    op: &Op,
    dst_here: bool,
    resp3: bool,
    now: Millis,
) -> Result<Option<Served>, Error> {
    let mut s = Served {
        key: key.to_vec(),
        ..Served::default()
    };
    match op {
        Op::Stream(w) => {
            let Some(got) = crate::streams::read::serve_waiter(db, key, w, resp3, now)? else {
                return Ok(None);
            };
            s.reply = got.reply;
            s.effects = got.effects;
        }
        Op::List { left, count } => {
            let Some(l) = access::write::<List>(db, key, now)? else {
                return Ok(None);
            };
            let n = count.unwrap_or(1).min(l.len());
            for _ in 0..n {
                let e = if *left { l.pop_front() } else { l.pop_back() };
                s.elems.extend(e);
            }
            access::remove_if_empty::<List>(db, key, now);
            let out = &mut s.reply;
            encode::array_len(out, 2);
            encode::bulk(out, key);
            match count {
                None => encode::bulk(out, s.elems.first().map_or(&[][..], Vec::as_slice)),
                Some(_) => {
                    encode::array_len(out, s.elems.len());
                    for e in &s.elems {
                        encode::bulk(out, e);
                    }
                }
            }
        }
        Op::Move {
            dst,
            from_left,
            to_left,
        } => {
            // The destination's type matters only once there is something
            // to move (a client may block with a wrong-typed destination).
            if access::read::<List>(db, key, now)?.is_none() {
                return Ok(None);
            }
            if dst_here {
                access::read::<List>(db, dst, now)?;
            }
            let Some(l) = access::write::<List>(db, key, now)? else {
                return Ok(None);
            };
            let e = if *from_left {
                l.pop_front()
            } else {
                l.pop_back()
            };
            let Some(e) = e else {
                return Ok(None);
            };
            access::remove_if_empty::<List>(db, key, now);
            encode::bulk(&mut s.reply, &e);
            if dst_here {
                push(db, dst, &e, *to_left, now)?;
            } else {
                s.push_pending = true;
            }
            s.elems.push(e);
        }
        Op::ZSet { max, count } => {
            let Some(z) = access::write::<ZSet>(db, key, now)? else {
                return Ok(None);
            };
            let n = count.unwrap_or(1).min(z.len());
            let (lo, hi) = if *max { (z.len() - n, z.len()) } else { (0, n) };
            let mut taken: Vec<(Vec<u8>, f64)> =
                z.range(lo, hi).map(|(m, sc)| (m.to_vec(), sc)).collect();
            if *max {
                taken.reverse();
            }
            z.remove_range(lo, hi);
            access::remove_if_empty::<ZSet>(db, key, now);
            let out = &mut s.reply;
            match count {
                None => {
                    encode::array_len(out, 3);
                    encode::bulk(out, key);
                    if let Some((m, sc)) = taken.first() {
                        encode::bulk(out, m);
                        encode::double(out, *sc, resp3);
                    }
                }
                Some(_) => {
                    encode::array_len(out, 2);
                    encode::bulk(out, key);
                    encode::array_len(out, taken.len());
                    for (m, sc) in &taken {
                        encode::array_len(out, 2);
                        encode::bulk(out, m);
                        encode::double(out, *sc, resp3);
                    }
                }
            }
            s.members = taken;
        }
    }
    Ok(Some(s))
}

/// Pushes one element onto the list at `key` (created if missing);
/// WRONGTYPE when it holds something else.
pub fn push(db: &mut Db, key: &[u8], e: &[u8], left: bool, now: Millis) -> Result<(), Error> {
    let l = access::write_or_create::<List>(db, key, now)?;
    if left {
        l.push_front(e);
    } else {
        l.push_back(e);
    }
    Ok(())
}

/// Puts back what a serve took, when its client is gone: list elements at
/// the end they came from, sorted-set members with their scores.
pub fn undo(db: &mut Db, s: &Served, op: &Op, now: Millis) {
    match op {
        // A delivered entry stays delivered (pending, for a group), as in
        // Redis when a client goes away after its reply was sent.
        Op::Stream(_) => {}
        Op::List { left, .. } => {
            if let Ok(l) = access::write_or_create::<List>(db, &s.key, now) {
                for e in s.elems.iter().rev() {
                    if *left {
                        l.push_front(e);
                    } else {
                        l.push_back(e);
                    }
                }
            }
        }
        Op::Move { from_left, .. } => {
            if let Ok(l) = access::write_or_create::<List>(db, &s.key, now) {
                for e in &s.elems {
                    if *from_left {
                        l.push_front(e);
                    } else {
                        l.push_back(e);
                    }
                }
            }
        }
        Op::ZSet { .. } => {
            if let Ok(z) = access::write_or_create::<ZSet>(db, &s.key, now) {
                for (m, sc) in &s.members {
                    z.insert(m, *sc);
                }
            }
        }
    }
}

/// The reply when nothing was served: after a timeout a null array for
/// every form (as Redis 7.0 replies); when the command could not block
/// (inside MULTI) a null bulk for the Move forms, a null array otherwise.
pub fn empty_reply(op: &Op, timed_out: bool, resp3: bool, out: &mut Vec<u8>) {
    match op {
        Op::Move { .. } if !timed_out => encode::null(out, resp3),
        _ => encode::null_aggregate(out, resp3),
    }
}
