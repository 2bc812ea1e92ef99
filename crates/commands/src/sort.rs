//! SORT and SORT_RO: sort a list, set or sorted set, numerically or
//! lexically, optionally by other keys' values (BY), returning other keys'
//! values (GET), storing the result as a list (STORE).
//!
//! # Semantics (Redis 7.0's, case by case)
//!
//! - Numeric sort parses each element (or its BY value) as a double; one
//!   that does not parse fails the command with "ERR One or more scores
//!   can't be converted into double". A BY key that does not exist counts
//!   as 0 numerically and sorts first under ALPHA. Ties compare the
//!   elements bytewise, so the order is deterministic.
//! - A BY pattern without `*` means "don't sort": lists keep their order,
//!   sorted sets keep theirs (reversed by DESC), and a set being STOREd is
//!   sorted lexically anyway so the stored list does not depend on the
//!   set's internal order.
//! - `GET #` is the element itself; `GET pat` substitutes the element for
//!   the first `*` of `pat`, and `pat->field` reads that hash field; a
//!   missing key, field or wrong type gives nil (an empty string in a
//!   STOREd list). A pattern without `*` names no key: nil.
//!
//! # Shards
//!
//! The sorted key and the STORE destination are declared keys (the
//! server refuses the command when they live on different shards, until
//! cross-shard transactions exist). Keys built from BY/GET patterns are
//! only known while sorting; each must be on this shard too, else the
//! command fails with an error naming the cure (a `{hash tag}` that puts
//! them beside the sorted key) instead of reading a wrong, empty value.

use std::cmp::Ordering;

use resp::encode;
use storage::{List, Value};

use crate::args::{parse_f64, parse_i64};
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

pub fn register(t: &mut CommandTable) {
    t.shard_keys_fn(
        "sort",
        -2,
        WRITE | DENYOOM | MULTI_KEY,
        (1, 1, 1),
        sort_keys,
        sort,
    );
    t.shard("sort_ro", -2, READONLY, (1, 1, 1), sort_ro);
}

/// SORT's keys: the sorted key and, with STORE, the destination.
fn sort_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            keys.push(i + 1);
        }
        // LIMIT takes two arguments, BY/GET/STORE one.
        i += if a.eq_ignore_ascii_case(b"limit") {
            3
        } else if [&b"by"[..], b"get", b"store"]
            .iter()
            .any(|w| a.eq_ignore_ascii_case(w))
        {
            2
        } else {
            1
        };
    }
    keys
}

/// What a SORT call asked for.
struct Opts<'a> {
    by: Option<&'a [u8]>,
    /// The BY pattern had no `*`: keep the native order.
    dont_sort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<&'a [u8]>,
    desc: bool,
    alpha: bool,
    store: Option<&'a [u8]>,
}

fn parse_opts<'a>(argv: &[&'a [u8]], allow_store: bool) -> Result<Opts<'a>, Error> {
    let mut o = Opts {
        by: None,
        dont_sort: false,
        limit: None,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        let left = argv.len() - i - 1;
        if a.eq_ignore_ascii_case(b"asc") {
            o.desc = false;
        } else if a.eq_ignore_ascii_case(b"desc") {
            o.desc = true;
        } else if a.eq_ignore_ascii_case(b"alpha") {
            o.alpha = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            let off = parse_i64(argv[i + 1]).ok_or(Error::NotInteger)?;
            let cnt = parse_i64(argv[i + 2]).ok_or(Error::NotInteger)?;
            o.limit = Some((off, cnt));
            i += 2;
        } else if a.eq_ignore_ascii_case(b"store") && left >= 1 && allow_store {
            o.store = Some(argv[i + 1]);
            i += 1;
        } else if a.eq_ignore_ascii_case(b"by") && left >= 1 {
            let p = argv[i + 1];
            o.dont_sort = !p.contains(&b'*');
            o.by = Some(p);
            i += 1;
        } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
            o.gets.push(argv[i + 1]);
            i += 1;
        } else {
            return Err(Error::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]
fn sort(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let o = parse_opts(argv, true)?;
    run(ctx, argv[1], o)
}

/// SORT_RO key ...: SORT without STORE.
fn sort_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let o = parse_opts(argv, false)?;
    run(ctx, argv[1], o)
}

/// One element being sorted: its bytes and its sort key.
struct Item {
    elem: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the BY value (None: missing key sorts first).
    by: Option<Vec<u8>>,
}

fn run(ctx: &mut Ctx<'_>, key: &[u8], mut o: Opts<'_>) -> CmdResult {
    let now = ctx.now;
    let (mut elems, is_set, is_zset) = load(ctx, key, now)?;

    // A set has no order of its own: one being stored is sorted lexically
    // so the stored list is the same whatever the set's layout.
    if o.dont_sort && is_set && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    if o.dont_sort && is_zset && o.desc {
        elems.reverse();
    }

    let (start, end) = limit_range(o.limit, elems.len());
    if !o.dont_sort {
        let mut items = Vec::with_capacity(elems.len());
        for elem in elems {
            let by = match o.by {
                Some(p) => lookup(ctx, p, &elem, now)?,
                None => None,
            };
            let score = if o.alpha {
                0.0
            } else {
                let src = if o.by.is_some() {
                    by.as_deref()
                } else {
                    Some(&elem[..])
                };
                match src {
                    Some(s) => parse_score(s)?,
                    None => 0.0,
                }
            };
            items.push(Item {
                elem,
                score,
                by: if o.alpha && o.by.is_some() { by } else { None },
            });
        }
        let by_pattern = o.by.is_some();
        let cmp = |a: &Item, b: &Item| -> Ordering {
            let c = if !o.alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by_pattern {
                a.by.cmp(&b.by)
            } else {
                a.elem.cmp(&b.elem)
            };
            if o.desc {
                c.reverse()
            } else {
                c
            }
        };
        items.sort_by(cmp);
        elems = items.into_iter().map(|i| i.elem).collect();
    }
    let picked = elems.get(start..end).unwrap_or(&[]);

    match o.store {
        Some(dst) => store(ctx, dst, picked, &o.gets, now),
        None => reply(ctx, picked, &o.gets, now),
    }
}

/// The elements of the list, set or sorted set at `key` (none when it does
/// not exist), and whether it is a set / a sorted set.
fn load(ctx: &mut Ctx<'_>, key: &[u8], now: u64) -> Result<(Vec<Vec<u8>>, bool, bool), Error> {
    let Some(v) = ctx.db().get(key, now) else {
        return Ok((Vec::new(), false, false));
    };
    Ok(match v {
        Value::List(l) => (l.iter().map(|s| s.to_vec()).collect(), false, false),
        Value::Set(s) => (s.iter().map(|s| s.to_vec()).collect(), true, false),
        Value::ZSet(z) => (z.iter().map(|(m, _)| m.to_vec()).collect(), false, true),
        _ => return Err(Error::WrongType),
    })
}

/// LIMIT offset count as Redis clamps it, as a range of indices.
fn limit_range(limit: Option<(i64, i64)>, len: usize) -> (usize, usize) {
    let Some((off, cnt)) = limit else {
        return (0, len);
    };
    let len_i = len as i64;
    let start = off.max(0);
    if start >= len_i {
        return (len, len);
    }
    let end = if cnt < 0 {
        len_i
    } else {
        start.saturating_add(cnt).min(len_i)
    };
    (start as usize, end.max(start) as usize)
}

/// A sort score as Redis reads one (`strtod` over the whole string).
fn parse_score(s: &[u8]) -> Result<f64, Error> {
    let t = s.trim_ascii_start();
    parse_f64(t).ok_or(Error::Static(
        "ERR One or more scores can't be converted into double",
    ))
}

/// The value a BY/GET pattern names for `elem`: `#` is the element; the
/// first `*` is replaced by it; `key->field` reads a hash field. None when
/// the key, field or pattern's `*` is missing or the type is wrong.
fn lookup(
    ctx: &mut Ctx<'_>,
    pattern: &[u8],
    elem: &[u8],
    now: u64,
) -> Result<Option<Vec<u8>>, Error> {
    if pattern == b"#" {
        return Ok(Some(elem.to_vec()));
    }
    let Some(star) = pattern.iter().position(|&c| c == b'*') else {
        return Ok(None);
    };
    let (key_pat, field) = match find(&pattern[star + 1..], b"->") {
        Some(at) if star + 1 + at + 2 < pattern.len() => {
            let split = star + 1 + at;
            (&pattern[..split], Some(&pattern[split + 2..]))
        }
        _ => (pattern, None),
    };
    let mut key = Vec::with_capacity(key_pat.len() + elem.len());
    key.extend_from_slice(&key_pat[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(&key_pat[star + 1..]);
    if !ctx.shard.owns(&key) {
        return Err(Error::Other(format!(
            "ERR SORT pattern key '{}' lives on another shard: put it beside the sorted key with a {{hash tag}}",
            String::from_utf8_lossy(&key)
        )));
    }
    let found = match (ctx.db().get(&key, now), field) {
        (Some(Value::Hash(h)), Some(f)) => h.get(f).map(|s| s.to_vec()),
        (Some(v), None) => v.as_str().map(|s| s.to_vec()),
        _ => None,
    };
    Ok(found)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn reply(ctx: &mut Ctx<'_>, picked: &[Vec<u8>], gets: &[&[u8]], now: u64) -> CmdResult {
    let mut out = Vec::new();
    let per = gets.len().max(1);
    encode::array_len(&mut out, picked.len() * per);
    for e in picked {
        if gets.is_empty() {
            encode::bulk(&mut out, e);
        }
        for g in gets {
            match lookup(ctx, g, e, now)? {
                Some(v) => encode::bulk(&mut out, &v),
                None => encode::null_bulk(&mut out),
            }
        }
    }
    ctx.out.extend_from_slice(&out);
    Ok(())
}

fn store(ctx: &mut Ctx<'_>, dst: &[u8], picked: &[Vec<u8>], gets: &[&[u8]], now: u64) -> CmdResult {
    let mut list = List::default();
    for e in picked {
        if gets.is_empty() {
            list.push_back(e);
        }
        for g in gets {
            let v = lookup(ctx, g, e, now)?.unwrap_or_default();
            list.push_back(&v);
        }
    }
    let n = list.len();
    let db = ctx.db();
    if n == 0 {
        if let Some(old) = db.remove(dst, now) {
            storage::lazyfree::release(old);
        }
    } else {
        db.insert(dst, Value::List(Box::new(list)), None);
    }
    encode::integer(ctx.out, n as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_clamp_like_redis() {
        assert_eq!(limit_range(None, 5), (0, 5));
        assert_eq!(limit_range(Some((0, 2)), 5), (0, 2));
        assert_eq!(limit_range(Some((-3, 2)), 5), (0, 2));
        assert_eq!(limit_range(Some((3, 10)), 5), (3, 5));
        assert_eq!(limit_range(Some((1, -1)), 5), (1, 5));
        assert_eq!(limit_range(Some((9, 1)), 5), (5, 5));
        assert_eq!(limit_range(Some((2, 0)), 5), (2, 2));
        assert_eq!(limit_range(Some((i64::MAX, i64::MAX)), 5), (5, 5));
    }

    #[test]
    fn store_is_a_key() {
        let argv: Vec<&[u8]> = vec![b"sort", b"k", b"limit", b"0", b"1", b"store", b"d"];
        assert_eq!(sort_keys(&argv), vec![1, 6]);
        let argv: Vec<&[u8]> = vec![b"sort", b"k", b"by", b"store", b"get", b"#"];
        assert_eq!(sort_keys(&argv), vec![1]);
    }
}
