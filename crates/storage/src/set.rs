//! Set values: an intset, a packed string set, or a hash table.
//!
//! # Layout
//!
//! A [`Set`] is 16 bytes (held in place in [`Value`](crate::Value)) and holds
//! one of two forms:
//!
//! - **small**: one byte string in a single exact heap allocation (none
//!   while empty). Its first byte says how the rest reads:
//!   - `2`, `4` or `8`: an **intset**, as Redis keeps one: the members are
//!     canonical integers, sorted ascending, each stored little-endian in
//!     the narrowest of 16/32/64 bits that holds them all (the width only
//!     grows, as in Redis). Membership is a binary search. The empty string
//!     is the empty intset, so a new set allocates nothing.
//!   - `0`: a **packed string set**: the member count in the next byte,
//!     then each member as one length byte and its bytes, in insertion
//!     order. At most [`PACKED_MAX_ENTRIES`] members of at most
//!     [`PACKED_MAX_LEN`] bytes each, so a lookup scans a bounded few
//!     kilobytes at worst (constant time, as for Redis's listpacks).
//! - **table**: a [`Dict`] whose keys are the members (values are unused),
//!   for the SCAN cursor guarantees and random sampling it already has.
//!
//! # Why a packed form Redis 7.0 does not have
//!
//! Redis 7.0 stores every set that is not an intset as a hash table: a
//! 10-member set of short strings costs it ~800 bytes per key. Tessera
//! packs such sets (~200 bytes per key, key and dict node included;
//! measured with 1M keys: 197 MB of RSS against Redis's 821 MB), but
//! OBJECT ENCODING still answers what Redis 7.0 would ("hashtable"), since
//! clients and tests read it: the packed form is an internal saving,
//! invisible on the wire.
//!
//! # Conversions
//!
//! Only growth converts, as in Redis (a set never goes back to a smaller
//! form): an intset becomes packed (or a table, when too big to pack) when
//! it gets a non-integer or more than `set-max-intset-entries` members;
//! a packed set becomes a table past its entry or length limit.
//!
//! With 1M keys of 10 small integers, a key costs its 64-byte dict node,
//! its bucket and the intset's one allocation (the `Set` itself lives in
//! the node).

use std::collections::HashSet;
use std::mem;
use std::ops::Range;

use crate::dict::{self, Dict, NO_EXPIRY};
use crate::limits::SET_MAX_INTSET_ENTRIES;
use crate::small::INLINE_CAP;
use crate::value::{parse_canonical_i64, StrRef, Value};

/// Most members a packed string set holds.
pub const PACKED_MAX_ENTRIES: usize = 128;
/// Longest member a packed string set holds.
pub const PACKED_MAX_LEN: usize = 64;

/// Header byte of a packed string set.
const PACKED: u8 = 0;
/// Bytes before the first member of a packed set (kind, count).
const PACKED_HEADER: usize = 2;

/// A set value. See the module docs for its forms.
#[derive(Clone)]
pub struct Set {
    repr: Repr,
}

enum Repr {
    Small(Bytes),
    Table(Box<Dict>),
}

/// The small form's bytes: one exact allocation, none when empty.
#[derive(Clone, Default)]
struct Bytes(Box<[u8]>);

impl Bytes {
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn heap_size(&self) -> usize {
        self.0.len()
    }
}

impl Clone for Repr {
    /// A deep copy (COPY uses it); a table is rebuilt member by member,
    /// since `Dict` has no clone of its own.
    fn clone(&self) -> Repr {
        match self {
            Repr::Small(s) => Repr::Small(s.clone()),
            Repr::Table(d) => {
                let mut t = Dict::new();
                for e in d.iter() {
                    let h = t.hash(e.key());
                    t.insert_with(h, e.key(), Value::Int(0), |_| NO_EXPIRY);
                }
                Repr::Table(Box::new(t))
            }
        }
    }
}

const _: () = assert!(mem::size_of::<Set>() == 16);

/// Which small form a byte string holds.
enum Small<'a> {
    /// Integers of `width` bytes (the header stripped).
    Ints { width: usize, data: &'a [u8] },
    /// Packed members (the header stripped) and their count.
    Packed { count: usize, data: &'a [u8] },
}

fn small_of(b: &[u8]) -> Small<'_> {
    match b {
        [] => Small::Ints {
            width: 2,
            data: &[],
        },
        [PACKED, count, data @ ..] => Small::Packed {
            count: usize::from(*count),
            data,
        },
        // Never built (a packed set always has its count byte); read as
        // empty rather than as an intset of width 0.
        [PACKED] => Small::Packed {
            count: 0,
            data: &[],
        },
        [w, data @ ..] => Small::Ints {
            width: usize::from(*w),
            data,
        },
    }
}

/// The `i`th integer of intset data of width `w`.
#[inline]
fn int_at(data: &[u8], w: usize, i: usize) -> i64 {
    let b = &data[i * w..(i + 1) * w];
    match w {
        2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
        4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            i64::from_le_bytes(a)
        }
    }
}

/// The narrowest intset width holding `v`.
fn width_of(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Binary search in intset data: `Ok(index)` or `Err(insertion point)`.
fn int_search(data: &[u8], w: usize, v: i64) -> Result<usize, usize> {
    let (mut lo, mut hi) = (0, data.len() / w);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match int_at(data, w, mid).cmp(&v) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Ok(mid),
        }
    }
    Err(lo)
}

/// Iterator over packed members: (offset of the length byte, member).
struct PackedIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (usize, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let start = self.pos;
        let len = usize::from(*self.data.get(start)?);
        let m = self.data.get(start + 1..start + 1 + len)?;
        self.pos = start + 1 + len;
        Some((start, m))
    }
}

fn packed_iter(data: &[u8]) -> PackedIter<'_> {
    PackedIter { data, pos: 0 }
}

/// The byte range (header included) of member `m` in packed data.
fn packed_find(data: &[u8], m: &[u8]) -> Option<Range<usize>> {
    packed_iter(data)
        .find(|(_, x)| *x == m)
        .map(|(at, x)| at..at + 1 + x.len())
}

impl Default for Set {
    /// The empty set (an empty intset: no allocation).
    fn default() -> Set {
        Set::new()
    }
}

impl Set {
    /// An empty set.
    pub fn new() -> Set {
        Set {
            repr: Repr::Small(Bytes::default()),
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(s) => match small_of(s.as_bytes()) {
                Small::Ints { width, data } => data.len() / width,
                Small::Packed { count, .. } => count,
            },
            Repr::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis 7.0's OBJECT ENCODING name for this value: "intset" or
    /// "hashtable" (which the packed form also reports; see the module docs).
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Small(s) if matches!(small_of(s.as_bytes()), Small::Ints { .. }) => "intset",
            _ => "hashtable",
        }
    }

    /// Heap bytes owned (for MEMORY USAGE and lazy-free decisions). For a
    /// table, long members are estimated from a sample, as Redis does.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Small(s) => s.heap_size(),
            Repr::Table(d) => {
                const SAMPLE: usize = 16;
                let (n, extra) = d
                    .iter()
                    .take(SAMPLE)
                    .fold((0usize, 0usize), |(n, x), e| (n + 1, x + long_len(e.key())));
                let per = extra.checked_div(n).unwrap_or(0);
                mem::size_of::<Dict>()
                    + d.bucket_count() * mem::size_of::<usize>()
                    + d.len() * (mem::size_of::<dict::Entry>() + per)
            }
        }
    }

    /// True when `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        match &self.repr {
            Repr::Small(s) => match small_of(s.as_bytes()) {
                Small::Ints { width, data } => {
                    parse_canonical_i64(m).is_some_and(|v| int_search(data, width, v).is_ok())
                }
                Small::Packed { data, .. } => packed_find(data, m).is_some(),
            },
            Repr::Table(d) => d.find(d.hash(m), m).is_some(),
        }
    }

    /// Adds every member of `ms`; returns how many were new. A small
    /// intset gaining only integers is rebuilt once, in one exact
    /// allocation, instead of once per member (SADD of ten integers to a
    /// new key allocates one buffer, not ten growing ones).
    pub fn insert_many(&mut self, ms: &[&[u8]]) -> usize {
        if let Some(n) = self.insert_ints_at_once(ms) {
            return n;
        }
        ms.iter().filter(|m| self.insert(m)).count()
    }

    /// [`Set::insert_many`]'s one-allocation path; None when it does not
    /// apply (not a small intset, a non-integer member, or the result
    /// would pass `set-max-intset-entries`).
    fn insert_ints_at_once(&mut self, ms: &[&[u8]]) -> Option<usize> {
        let Repr::Small(s) = &self.repr else {
            return None;
        };
        let Small::Ints { width, data } = small_of(s.as_bytes()) else {
            return None;
        };
        let mut vals: Vec<i64> = (0..data.len() / width)
            .map(|i| int_at(data, width, i))
            .collect();
        let before = vals.len();
        for m in ms {
            vals.push(parse_canonical_i64(m)?);
        }
        vals.sort_unstable();
        vals.dedup();
        if vals.len() > SET_MAX_INTSET_ENTRIES.get_usize() {
            return None;
        }
        let w = vals
            .iter()
            .map(|&v| width_of(v))
            .fold(if before == 0 { 2 } else { width }, usize::max);
        let mut b = Vec::with_capacity(1 + vals.len() * w);
        if !vals.is_empty() {
            b.push(w as u8);
            for v in &vals {
                b.extend_from_slice(&v.to_le_bytes()[..w]);
            }
        }
        self.repr = Repr::Small(store(b));
        Some(vals.len() - before)
    }

    /// Adds `m`; true when it was not a member. Converts to a larger form
    /// when `m` does not fit the current one.
    pub fn insert(&mut self, m: &[u8]) -> bool {
        let len = self.len();
        let (ints, width, end) = match &mut self.repr {
            Repr::Table(d) => {
                let h = d.hash(m);
                return d.insert_with(h, m, Value::Int(0), |_| NO_EXPIRY).is_none();
            }
            Repr::Small(s) => match small_of(s.as_bytes()) {
                Small::Ints { width, .. } => (true, width, s.as_bytes().len()),
                Small::Packed { .. } => (false, 0, s.as_bytes().len()),
            },
        };
        if ints {
            if let Some(v) = parse_canonical_i64(m) {
                if len < SET_MAX_INTSET_ENTRIES.get_usize() {
                    return self.intset_insert(width, v);
                }
            }
        }
        if self.contains(m) {
            return false;
        }
        if ints || len + 1 > PACKED_MAX_ENTRIES || m.len() > PACKED_MAX_LEN {
            // Never loops: from an intset `grow` gives a packed set or a
            // table, and from a packed set past its limits, a table.
            self.grow(len + 1, m.len());
            return self.insert(m);
        }
        self.edit(end..end, &[&[m.len() as u8], m], |b| b[1] += 1);
        true
    }

    /// Removes `m`; true when it was a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        let range = match &mut self.repr {
            Repr::Table(d) => {
                let h = d.hash(m);
                return d.remove(h, m).is_some();
            }
            Repr::Small(s) => match small_of(s.as_bytes()) {
                Small::Ints { width, data } => {
                    let Some(Ok(i)) = parse_canonical_i64(m).map(|v| int_search(data, width, v))
                    else {
                        return false;
                    };
                    let at = 1 + i * width;
                    Err(at..at + width)
                }
                Small::Packed { data, .. } => {
                    let Some(r) = packed_find(data, m) else {
                        return false;
                    };
                    Ok(r.start + PACKED_HEADER..r.end + PACKED_HEADER)
                }
            },
        };
        match range {
            Ok(packed) => self.edit(packed, &[], |b| b[1] -= 1),
            Err(ints) => self.edit(ints, &[], |_| {}),
        }
        true
    }

    /// Every member, in the form's order (ascending for an intset).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: match &self.repr {
                Repr::Small(s) => match small_of(s.as_bytes()) {
                    Small::Ints { width, data } => IterInner::Ints { data, width, i: 0 },
                    Small::Packed { data, .. } => IterInner::Packed(packed_iter(data)),
                },
                Repr::Table(d) => IterInner::Table(d.iter()),
            },
        }
    }

    /// A member chosen uniformly at random (nearly so for a table, whose
    /// sampling favours short chains slightly, as Redis's does); `None`
    /// when empty.
    pub fn random_member(&self, rng: &mut fastrand::Rng) -> Option<StrRef<'_>> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        match &self.repr {
            Repr::Small(s) => match small_of(s.as_bytes()) {
                Small::Ints { width, data } => {
                    Some(StrRef::Int(int_at(data, width, rng.usize(..n))))
                }
                Small::Packed { data, .. } => packed_iter(data)
                    .nth(rng.usize(..n))
                    .map(|(_, m)| StrRef::Bytes(m)),
            },
            Repr::Table(d) => d.random(rng).map(|e| StrRef::Bytes(e.key())),
        }
    }

    /// Calls `f` with `count` distinct members chosen at random (all of
    /// them when `count >= len`). Expected work O(count) for a table (a
    /// walk of the whole table only when count is over a third of it, as
    /// Redis switches strategy), O(len) for the small forms, which are
    /// bounded; memory O(count) at most, never O(requested) beyond len.
    pub fn random_distinct(
        &self,
        count: usize,
        rng: &mut fastrand::Rng,
        mut f: impl FnMut(StrRef<'_>),
    ) {
        let n = self.len();
        if count >= n {
            self.iter().for_each(f);
            return;
        }
        match &self.repr {
            Repr::Table(d) if count * 3 <= n => {
                // Sparse pick: draw until `count` distinct entries, named
                // by address (stable: entries are boxed, nothing moves
                // while we hold `&self`).
                let mut seen: HashSet<usize, ahash::RandomState> =
                    HashSet::with_capacity_and_hasher(count, ahash::RandomState::new());
                while seen.len() < count {
                    let Some(e) = d.random(rng) else { return };
                    if seen.insert(std::ptr::from_ref(e) as usize) {
                        f(StrRef::Bytes(e.key()));
                    }
                }
            }
            _ => {
                // Selection sampling (Knuth's algorithm S): one pass, each
                // member kept with probability needed / left.
                let mut needed = count;
                for (left, m) in (1..=n).rev().zip(self.iter()) {
                    if needed == 0 {
                        break;
                    }
                    if rng.usize(..left) < needed {
                        f(m);
                        needed -= 1;
                    }
                }
            }
        }
    }

    /// One SSCAN step over at most about `count` members: calls `f` with
    /// each member visited and returns the next cursor (0: done). The small
    /// forms are returned whole in one call, as Redis returns intsets.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(StrRef<'_>)) -> u64 {
        match &self.repr {
            Repr::Small(_) => {
                self.iter().for_each(f);
                0
            }
            Repr::Table(d) => {
                let mut cursor = cursor;
                let mut seen = 0usize;
                let mut budget = count.saturating_mul(10);
                loop {
                    cursor = d.scan(cursor, |e| {
                        seen += 1;
                        f(StrRef::Bytes(e.key()));
                    });
                    budget = budget.saturating_sub(1);
                    if cursor == 0 || budget == 0 || seen >= count {
                        return cursor;
                    }
                }
            }
        }
    }

    /// Inserts into an intset of `width` with `data_len` bytes of members
    /// (the caller checked the entry limit).
    fn intset_insert(&mut self, width: usize, v: i64) -> bool {
        let need = width_of(v);
        if need > width {
            // Widen: rebuild every member at the new width. The new value
            // is beyond every old one (it needs more bits), so it goes
            // first or last.
            let old: Vec<i64> = self.iter().filter_map(|m| m.parse_i64()).collect();
            let mut b = Vec::with_capacity(1 + (old.len() + 1) * need);
            b.push(need as u8);
            let mut push = |x: i64| b.extend_from_slice(&x.to_le_bytes()[..need]);
            if v < 0 {
                push(v);
            }
            old.iter().for_each(|&x| push(x));
            if v >= 0 {
                push(v);
            }
            self.repr = Repr::Small(store(b));
            return true;
        }
        let (data, headerless) = match &self.repr {
            Repr::Small(s) => (
                s.as_bytes().get(1..).unwrap_or(&[]),
                s.as_bytes().is_empty(),
            ),
            Repr::Table(_) => return false,
        };
        let i = match int_search(data, width, v) {
            Ok(_) => return false,
            Err(i) => i,
        };
        let b = v.to_le_bytes();
        if headerless {
            // The empty intset has no header yet.
            self.edit(0..0, &[&[width as u8], &b[..width]], |_| {});
        } else {
            let at = 1 + i * width;
            self.edit(at..at, &[&b[..width]], |_| {});
        }
        true
    }

    /// Converts a small set that is about to hold `new_len` members, the
    /// newest `new_member_len` bytes long, to the form that fits: packed
    /// when that can hold every member, else a table.
    fn grow(&mut self, new_len: usize, new_member_len: usize) {
        let packable = new_len <= PACKED_MAX_ENTRIES
            && new_member_len <= PACKED_MAX_LEN
            && self.iter().all(|m| m.len() <= PACKED_MAX_LEN);
        let is_packed = matches!(&self.repr, Repr::Small(s) if matches!(small_of(s.as_bytes()), Small::Packed { .. }));
        if packable && !is_packed {
            let mut b = vec![PACKED, 0];
            let mut n = 0u8;
            for m in self.iter() {
                let start = b.len();
                b.push(0);
                m.write_to(&mut b);
                b[start] = (b.len() - start - 1) as u8;
                n += 1;
            }
            b[1] = n;
            self.repr = Repr::Small(store(b));
        } else if !packable {
            let mut d = Dict::new();
            let mut buf = itoa::Buffer::new();
            for m in self.iter() {
                let k = match m {
                    StrRef::Int(v) => buf.format(v).as_bytes(),
                    StrRef::Bytes(b) => b,
                };
                let h = d.hash(k);
                d.insert_with(h, k, Value::Int(0), |_| NO_EXPIRY);
            }
            self.repr = Repr::Table(Box::new(d));
        }
    }

    /// Replaces `range` of the small form's bytes with the concatenation of
    /// `with`, then lets `fix` adjust the header, in a buffer of the exact
    /// new size.
    fn edit(&mut self, range: Range<usize>, with: &[&[u8]], fix: impl FnOnce(&mut [u8])) {
        let Repr::Small(s) = &mut self.repr else {
            return;
        };
        let mut v = Vec::from(mem::take(&mut s.0));
        v.splice(range, with.iter().flat_map(|w| w.iter().copied()));
        fix(&mut v);
        *s = store(v);
    }
}

impl Set {
    /// The set as Redis's intset blob (what RDB and DUMP store for an
    /// intset-encoded set: encoding width as u32 LE, member count as u32
    /// LE, then the sorted members little-endian); `None` unless this set
    /// is an intset.
    pub fn intset_blob(&self) -> Option<Vec<u8>> {
        let Repr::Small(s) = &self.repr else {
            return None;
        };
        let Small::Ints { width, data } = small_of(s.as_bytes()) else {
            return None;
        };
        let mut b = Vec::with_capacity(8 + data.len());
        b.extend_from_slice(&(width as u32).to_le_bytes());
        b.extend_from_slice(&((data.len() / width) as u32).to_le_bytes());
        b.extend_from_slice(data);
        Some(b)
    }

    /// A set from Redis's intset blob (see [`Set::intset_blob`]); `None`
    /// when the blob is malformed (bad width or length, unsorted or
    /// repeated members), so a corrupt payload is refused, never trusted.
    pub fn from_intset_blob(blob: &[u8]) -> Option<Set> {
        let (head, data) = blob.split_at_checked(8)?;
        let width = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
        let count = u32::from_le_bytes(head[4..].try_into().ok()?) as usize;
        if !matches!(width, 2 | 4 | 8) || data.len() != count.checked_mul(width)? {
            return None;
        }
        let sorted = (1..count).all(|i| int_at(data, width, i - 1) < int_at(data, width, i));
        if !sorted {
            return None;
        }
        if count > SET_MAX_INTSET_ENTRIES.get_usize() {
            // Too big for an intset under the current limit: convert.
            let mut buf = itoa::Buffer::new();
            return Some((0..count).map(|i| int_at(data, width, i)).fold(
                Set::new(),
                |mut s, v| {
                    s.insert(buf.format(v).as_bytes());
                    s
                },
            ));
        }
        let mut b = Vec::with_capacity(1 + data.len());
        if count > 0 {
            b.push(width as u8);
            b.extend_from_slice(data);
        }
        Some(Set {
            repr: Repr::Small(store(b)),
        })
    }
}

/// A small form's bytes, in one exact allocation.
fn store(v: Vec<u8>) -> Bytes {
    Bytes(v.into_boxed_slice())
}

/// Heap bytes of a member stored as a dict key.
fn long_len(k: &[u8]) -> usize {
    if k.len() > INLINE_CAP {
        k.len()
    } else {
        0
    }
}

impl<'a> FromIterator<StrRef<'a>> for Set {
    fn from_iter<I: IntoIterator<Item = StrRef<'a>>>(it: I) -> Set {
        let mut s = Set::new();
        let mut buf = itoa::Buffer::new();
        for m in it {
            match m {
                StrRef::Int(v) => s.insert(buf.format(v).as_bytes()),
                StrRef::Bytes(b) => s.insert(b),
            };
        }
        s
    }
}

/// Iterator over a set's members (see [`Set::iter`]).
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Ints {
        data: &'a [u8],
        width: usize,
        i: usize,
    },
    Packed(PackedIter<'a>),
    Table(dict::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = StrRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<StrRef<'a>> {
        match &mut self.inner {
            IterInner::Ints { data, width, i } => {
                if (*i + 1) * *width > data.len() {
                    return None;
                }
                let v = int_at(data, *width, *i);
                *i += 1;
                Some(StrRef::Int(v))
            }
            IterInner::Packed(p) => p.next().map(|(_, m)| StrRef::Bytes(m)),
            IterInner::Table(t) => t.next().map(|e| StrRef::Bytes(e.key())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn members(s: &Set) -> BTreeSet<Vec<u8>> {
        s.iter().map(|m| m.to_vec()).collect()
    }

    fn kind(s: &Set) -> &'static str {
        match &s.repr {
            Repr::Small(b) => match small_of(b.as_bytes()) {
                Small::Ints { .. } => "ints",
                Small::Packed { .. } => "packed",
            },
            Repr::Table(_) => "table",
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(mem::size_of::<Set>(), 16);
        let s = Set::new();
        assert_eq!(s.heap_size(), 0);
        assert!(s.is_empty());
        assert_eq!(s.encoding_name(), "intset");
    }

    #[test]
    fn intset_insert_remove_sorted() {
        let mut s = Set::new();
        for v in [5, -3, 100, 0, 7, 5] {
            s.insert(v.to_string().as_bytes());
        }
        assert_eq!(s.len(), 5);
        assert_eq!(kind(&s), "ints");
        let got: Vec<_> = s.iter().map(|m| m.parse_i64().unwrap()).collect();
        assert_eq!(got, [-3, 0, 5, 7, 100]);
        assert!(s.contains(b"7"));
        assert!(!s.contains(b"07"));
        assert!(!s.contains(b"8"));
        assert!(!s.insert(b"7"));
        assert!(s.remove(b"7"));
        assert!(!s.remove(b"7"));
        assert!(!s.remove(b"x"));
        assert_eq!(s.len(), 4);
        // Ten 16-bit integers: one exact allocation, header included.
        let mut s = Set::new();
        assert_eq!(s.heap_size(), 0);
        for v in 0..10 {
            s.insert(v.to_string().as_bytes());
        }
        assert_eq!(s.heap_size(), 1 + 10 * 2);
        for v in 0..10 {
            assert!(s.remove(v.to_string().as_bytes()));
        }
        assert!(s.is_empty());
    }

    #[test]
    fn insert_many_builds_intsets_at_once() {
        let mut s = Set::new();
        assert_eq!(s.insert_many(&[b"3", b"1", b"2", b"3"]), 3);
        assert_eq!(kind(&s), "ints");
        assert_eq!(s.heap_size(), 1 + 3 * 2);
        assert_eq!(s.insert_many(&[b"70000", b"1"]), 1);
        assert_eq!(s.heap_size(), 1 + 4 * 4);
        let got: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
        assert_eq!(got, [&b"1"[..], b"2", b"3", b"70000"]);
        // A non-integer falls back to one member at a time.
        assert_eq!(s.insert_many(&[b"x", b"5"]), 2);
        assert_eq!(s.len(), 6);
        assert!(s.contains(b"x") && s.contains(b"5") && s.contains(b"70000"));
    }

    #[test]
    fn intset_widens() {
        let mut s = Set::new();
        s.insert(b"1");
        s.insert(b"-2");
        s.insert(b"70000");
        s.insert(b"-9223372036854775808");
        s.insert(b"9223372036854775807");
        s.insert(b"3");
        let got: Vec<_> = s.iter().map(|m| m.parse_i64().unwrap()).collect();
        assert_eq!(got, [i64::MIN, -2, 1, 3, 70000, i64::MAX]);
        for v in &got {
            assert!(s.contains(v.to_string().as_bytes()));
        }
        assert_eq!(s.encoding_name(), "intset");
        assert!(!s.contains(b"9223372036854775808"));
    }

    #[test]
    fn strings_pack_then_table() {
        let mut s = Set::new();
        s.insert(b"1");
        s.insert(b"a");
        assert_eq!(kind(&s), "packed");
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"a"));
        for i in 0..126 {
            assert!(s.insert(format!("m{i}").as_bytes()));
        }
        assert_eq!(s.len(), 128);
        assert_eq!(kind(&s), "packed");
        assert!(s.remove(b"m5"));
        assert!(s.insert(b"m5"));
        s.insert(b"one-more");
        assert_eq!(kind(&s), "table");
        assert_eq!(s.len(), 129);
        assert!(s.contains(b"1") && s.contains(b"m125"));
        // A long member goes straight to a table.
        let mut s = Set::new();
        s.insert(b"x");
        s.insert(&[b'y'; 65]);
        assert_eq!(kind(&s), "table");
        assert!(s.contains(&[b'y'; 65]));
        let mut s = Set::new();
        s.insert(&[b'y'; 64]);
        assert_eq!(kind(&s), "packed");
    }

    #[test]
    fn intset_limit_converts() {
        let mut s = Set::new();
        for i in 0..512 {
            s.insert(i.to_string().as_bytes());
        }
        assert_eq!(s.encoding_name(), "intset");
        s.insert(b"512");
        assert_eq!(kind(&s), "table");
        assert_eq!(s.len(), 513);
        assert!(s.contains(b"0") && s.contains(b"512"));
        let mut s = Set::new();
        for i in 0..200 {
            s.insert(i.to_string().as_bytes());
        }
        s.insert(b"foo");
        assert_eq!(kind(&s), "table");
        assert_eq!(s.len(), 201);
    }

    #[test]
    fn model_check_against_btreeset() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..200 {
            let mut s = Set::new();
            let mut m = BTreeSet::new();
            let n = rng.usize(0..300);
            for _ in 0..n {
                let k: Vec<u8> = match rng.u8(0..4) {
                    0 => rng.i64(-100..100).to_string().into_bytes(),
                    1 if round % 2 == 0 => format!("s{}", rng.u8(..50)).into_bytes(),
                    2 => rng.i64(..).to_string().into_bytes(),
                    _ => rng.i64(-40000..40000).to_string().into_bytes(),
                };
                if rng.u8(..3) == 0 {
                    assert_eq!(s.remove(&k), m.remove(&k));
                } else {
                    assert_eq!(s.insert(&k), m.insert(k.clone()));
                }
                assert_eq!(s.len(), m.len());
            }
            assert_eq!(members(&s), m);
            for k in &m {
                assert!(s.contains(k));
            }
            let c = s.clone();
            assert_eq!(members(&c), m);
        }
    }

    #[test]
    fn random_distinct_picks_distinct_members() {
        let mut rng = fastrand::Rng::with_seed(1);
        for n in [5usize, 50, 300, 2000] {
            for strings in [false, true] {
                let mut s = Set::new();
                for i in 0..n {
                    let k = if strings {
                        format!("k{i}")
                    } else {
                        i.to_string()
                    };
                    s.insert(k.as_bytes());
                }
                for count in [0, 1, n / 4, n / 2, n - 1, n, n + 10] {
                    let mut got = BTreeSet::new();
                    s.random_distinct(count, &mut rng, |m| {
                        assert!(got.insert(m.to_vec()));
                    });
                    assert_eq!(got.len(), count.min(n));
                    assert!(got.iter().all(|m| s.contains(m)));
                }
                assert!(s.contains(&s.random_member(&mut rng).unwrap().to_vec()));
            }
        }
        assert!(Set::new().random_member(&mut rng).is_none());
    }

    #[test]
    fn scan_covers_every_member() {
        for n in [10usize, 100, 5000] {
            let mut s = Set::new();
            for i in 0..n {
                s.insert(format!("k{i}").as_bytes());
            }
            let mut got = BTreeSet::new();
            let mut c = 0;
            loop {
                c = s.scan(c, 10, |m| {
                    got.insert(m.to_vec());
                });
                if c == 0 {
                    break;
                }
            }
            assert_eq!(got, members(&s));
        }
    }

    #[test]
    fn intset_blob_round_trip() {
        let mut s = Set::new();
        for v in [3, -1, 70000] {
            s.insert(v.to_string().as_bytes());
        }
        let blob = s.intset_blob().unwrap();
        assert_eq!(&blob[..8], &[4, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(blob.len(), 8 + 12);
        let t = Set::from_intset_blob(&blob).unwrap();
        assert_eq!(members(&t), members(&s));
        assert_eq!(t.encoding_name(), "intset");
        assert!(t.contains(b"70000"));
        // Malformed blobs are refused.
        assert!(Set::from_intset_blob(&blob[..19]).is_none());
        assert!(Set::from_intset_blob(&[3, 0, 0, 0, 0, 0, 0, 0]).is_none());
        let mut unsorted = vec![2, 0, 0, 0, 2, 0, 0, 0];
        unsorted.extend_from_slice(&[5, 0, 1, 0]);
        assert!(Set::from_intset_blob(&unsorted).is_none());
        let mut strs = Set::new();
        strs.insert(b"a");
        assert!(strs.intset_blob().is_none());
        assert!(Set::from_intset_blob(&[2, 0, 0, 0, 0, 0, 0, 0])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn collect_from_refs() {
        let s: Set = [StrRef::Int(3), StrRef::Bytes(b"x"), StrRef::Int(3)]
            .into_iter()
            .collect();
        assert_eq!(s.len(), 2);
        assert!(s.contains(b"3") && s.contains(b"x"));
    }
}
