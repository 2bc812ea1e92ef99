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
//! Keys built from BY/GET patterns are only known while sorting, and may
//! live on any shard. So this module holds the pieces — [`Plan::parse`],
//! [`load`] on the sorted key's shard, [`fetch`] on each pattern key's
//! shard, [`finish`] anywhere, [`store`] on the destination's shard — and
//! the server runs them where the data is: the elements are read, then
//! every pattern key is read in one batch per shard, then the result is
//! sorted and written. Like the other multi-key commands before the
//! transaction layer, each step is atomic on its shard, not the whole.

use std::cmp::Ordering;

use resp::encode;
use storage::{Db, List, Millis, Value};

use crate::args::{parse_f64, parse_i64};
use crate::table::{flags::*, CommandTable};
use crate::Error;

pub fn register(t: &mut CommandTable) {
    t.server_keys_fn("sort", -2, WRITE | DENYOOM, (1, 1, 1), sort_keys);
    t.server_keys_fn("sort_ro", -2, READONLY, (1, 1, 1), sort_keys);
}

/// SORT's keys: the sorted key and, with STORE, the destination (the last
/// STORE counts, as in Redis).
pub fn sort_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        if a.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
            store = Some(i + 1);
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
    let mut keys = vec![1];
    keys.extend(store);
    keys
}

/// What a SORT call asked for.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub by: Option<&'a [u8]>,
    /// The BY pattern had no `*`: keep the native order.
    pub dont_sort: bool,
    pub limit: Option<(i64, i64)>,
    pub gets: Vec<&'a [u8]>,
    pub desc: bool,
    pub alpha: bool,
    pub store: Option<&'a [u8]>,
}

impl<'a> Plan<'a> {
    /// Parses `SORT key ...` (`allow_store`: false for SORT_RO). A BY
    /// pattern (one with a `*`) and GET name keys no ACL check saw, so, as
    /// Redis, they need a user who may read every key (`all_keys`).
    pub fn parse(argv: &[&'a [u8]], allow_store: bool, all_keys: bool) -> Result<Plan<'a>, Error> {
        let mut o = Plan {
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
                if !o.dont_sort && !all_keys {
                    return Err(Error::Static(
                        "ERR BY option of SORT denied due to insufficient ACL permissions.",
                    ));
                }
                o.by = Some(p);
                i += 1;
            } else if a.eq_ignore_ascii_case(b"get") && left >= 1 {
                if !all_keys {
                    return Err(Error::Static(
                        "ERR GET option of SORT denied due to insufficient ACL permissions.",
                    ));
                }
                o.gets.push(argv[i + 1]);
                i += 1;
            } else {
                return Err(Error::Syntax);
            }
            i += 1;
        }
        Ok(o)
    }

    /// Every (key, hash field) the BY and GET patterns name for `elems`:
    /// what must be [`fetch`]ed before [`finish`] can run.
    pub fn pattern_keys(&self, elems: &[Vec<u8>]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let by = self.by.filter(|_| !self.dont_sort);
        let mut keys = Vec::new();
        for p in by.iter().chain(self.gets.iter()) {
            for e in elems {
                if let Some((k, f)) = pattern_key(p, e) {
                    keys.push((k, f.map(<[u8]>::to_vec)));
                }
            }
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

/// What kind of value was sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Missing,
    List,
    Set,
    ZSet,
}

/// The elements of the sorted key, in its native order.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub elems: Vec<Vec<u8>>,
    pub kind: Kind,
}

/// Reads the list, set or sorted set at `key` (on its shard).
pub fn load(db: &mut Db, key: &[u8], now: Millis) -> Result<Loaded, Error> {
    let Some(v) = db.get(key, now) else {
        return Ok(Loaded {
            elems: Vec::new(),
            kind: Kind::Missing,
        });
    };
    let (elems, kind): (Vec<Vec<u8>>, Kind) = match v {
        Value::List(l) => (l.iter().map(|s| s.to_vec()).collect(), Kind::List),
        Value::Set(s) => (s.iter().map(|s| s.to_vec()).collect(), Kind::Set),
        Value::ZSet(z) => (z.iter().map(|(m, _)| m.to_vec()).collect(), Kind::ZSet),
        _ => return Err(Error::WrongType),
    };
    Ok(Loaded { elems, kind })
}

/// The key (and hash field) a BY/GET pattern names for `elem`: the first
/// `*` replaced by the element, and `->field` after it naming a hash
/// field. None for `#` (the element itself) and for a pattern without `*`
/// (which names nothing).
pub fn pattern_key<'p>(pattern: &'p [u8], elem: &[u8]) -> Option<(Vec<u8>, Option<&'p [u8]>)> {
    if pattern == b"#" {
        return None;
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
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
    Some((key, field))
}

/// The value of `key` (a string), or of its hash `field`; None when
/// missing or of another type. Runs on the key's shard.
pub fn fetch(db: &mut Db, key: &[u8], field: Option<&[u8]>, now: Millis) -> Option<Vec<u8>> {
    match (db.get(key, now), field) {
        (Some(Value::Hash(h)), Some(f)) => h.get(f).map(|s| s.to_vec()),
        (Some(v), None) => v.as_str().map(|s| s.to_vec()),
        _ => None,
    }
}

/// What a pattern gives for `elem`, with `get` answering for named keys.
fn resolve(
    pattern: &[u8],
    elem: &[u8],
    get: &mut impl FnMut(&[u8], Option<&[u8]>) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(elem.to_vec());
    }
    let (key, field) = pattern_key(pattern, elem)?;
    get(&key, field)
}

/// One element being sorted: its bytes and its sort key.
struct Item {
    elem: Vec<u8>,
    score: f64,
    /// ALPHA with BY: the BY value (None: missing key sorts first).
    by: Option<Vec<u8>>,
}

/// Sorts, limits and applies the GET patterns: the reply's cells in
/// order (one per element, or one per element and GET pattern). `get`
/// answers for the keys [`Plan::pattern_keys`] named.
pub fn finish(
    plan: &Plan<'_>,
    loaded: Loaded,
    mut get: impl FnMut(&[u8], Option<&[u8]>) -> Option<Vec<u8>>,
) -> Result<Vec<Option<Vec<u8>>>, Error> {
    let mut o = plan.clone();
    let Loaded { mut elems, kind } = loaded;
    // A set has no order of its own: one being stored is sorted lexically
    // so the stored list is the same whatever the set's layout.
    if o.dont_sort && kind == Kind::Set && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    // Unsorted, a list or sorted set is read in its own order, from the
    // tail with DESC (as Redis does); a set has no order to reverse.
    if o.dont_sort && matches!(kind, Kind::ZSet | Kind::List) && o.desc {
        elems.reverse();
    }
    let (start, end) = limit_range(o.limit, elems.len());
    if !o.dont_sort {
        let mut items = Vec::with_capacity(elems.len());
        for elem in elems {
            let by = match o.by {
                Some(p) => resolve(p, &elem, &mut get),
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
        items.sort_by(|a, b| {
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
        });
        elems = items.into_iter().map(|i| i.elem).collect();
    }
    let picked = elems.get(start..end).unwrap_or(&[]);
    let mut cells = Vec::with_capacity(picked.len() * o.gets.len().max(1));
    for e in picked {
        if o.gets.is_empty() {
            cells.push(Some(e.clone()));
        }
        for g in &o.gets {
            cells.push(resolve(g, e, &mut get));
        }
    }
    Ok(cells)
}

/// The reply of a SORT without STORE.
pub fn write_reply(out: &mut Vec<u8>, cells: &[Option<Vec<u8>>]) {
    encode::array_len(out, cells.len());
    for c in cells {
        match c {
            Some(v) => encode::bulk(out, v),
            None => encode::null_bulk(out),
        }
    }
}

/// STORE: the cells as a list at `dst` (nil cells as empty strings, no
/// TTL), or `dst` deleted when there are none; returns the length.
pub fn store(db: &mut Db, dst: &[u8], cells: &[Option<Vec<u8>>], now: Millis) -> usize {
    if cells.is_empty() {
        if let Some(old) = db.remove(dst, now) {
            storage::lazyfree::release(old);
            storage::notify::emit(storage::notify::class::GENERIC, "del", db.id, dst);
        }
        return 0;
    }
    let mut list = List::default();
    for c in cells {
        list.push_back(c.as_deref().unwrap_or_default());
    }
    let n = list.len();
    db.insert(dst, Value::List(Box::new(list)), None);
    storage::notify::emit(storage::notify::class::LIST, "sortstore", db.id, dst);
    n
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
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
        let argv: Vec<&[u8]> = vec![b"sort", b"k", b"store", b"a", b"store", b"b"];
        assert_eq!(sort_keys(&argv), vec![1, 5]);
        let argv: Vec<&[u8]> = vec![b"sort", b"k", b"by", b"store", b"get", b"#"];
        assert_eq!(sort_keys(&argv), vec![1]);
    }
}
