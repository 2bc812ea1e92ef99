//! Sorted sets: members with `f64` scores, ordered by (score, member).
//!
//! # Layout
//!
//! Two encodings behind one API, named as Redis 7.0 names them:
//!
//! - **listpack** ([`Packed`]): while a set has at most
//!   `zset-max-listpack-entries` members of at most `zset-max-listpack-value`
//!   bytes each, it is one exact-size byte buffer: a 2-byte element count
//!   (65535: "count by walking", as Redis's listpack does), then entries
//!   sorted by (score, member), each `varint(member len) | member | score`.
//!   A score is one byte when it is an integer in 0..=223 (the byte itself),
//!   else a tag byte and either a 1- to 7-byte little-endian integer (any
//!   integer below 2^53 in magnitude; -0 is stored as 0, as Redis's listpack
//!   does) or the 8 bytes of the `f64`. Ten short members with small
//!   integer scores cost 2 + 10 × (len + 2) bytes in one allocation: less
//!   than Redis's listpack, which also spends a back-length byte per field.
//!   Entries can only be walked forwards; a reverse walk (ZREVRANGE,
//!   ZPOPMAX) first notes the offsets of the range it covers, on the stack
//!   for up to 128 entries. Every operation is a linear walk, which at these
//!   sizes beats pointer chasing.
//! - **skiplist** ([`Big`]): a [`Dict`] from member to score (the score's
//!   bits stored as a `Value::Int`, so ZSCORE is O(1) and ZSCAN gets the
//!   dict's cursor guarantees) plus a skip list with spans ([`SkipList`])
//!   holding (score, member) in order, so rank, rank-to-element and
//!   score/lex range bounds are O(log n) and a range of m elements costs
//!   O(log n + m). The skip list's nodes live in an arena (`Vec`) linked by
//!   `u32` indexes, which keeps the structure free of `unsafe` and of one
//!   allocation per level; freed slots are reused.
//!
//! A set starts packed and moves to the skip list once it outgrows the
//! limits; like Redis it does not move back (except the results of the
//! *STORE commands, which are built fresh and pick their encoding).
//!
//! Ranges are expressed as ranks: [`ZSet::score_range`] and
//! [`ZSet::lex_range`] turn bounds into a half-open rank interval
//! `[lo, hi)`, and [`ZSet::range`] iterates an interval from either end.

use crate::dict::{Dict, NO_EXPIRY};
use crate::limits::{ZSET_MAX_LISTPACK_ENTRIES, ZSET_MAX_LISTPACK_VALUE};
use crate::small::SmallBytes;
use crate::{StrRef, Value};

/// A sorted set value.
#[derive(Clone, Default)]
pub struct ZSet {
    repr: Repr,
}

/// A set is boxed behind its key's `Value`: 16 bytes is one small
/// allocation per key, the price of every small set.
const _: () = assert!(std::mem::size_of::<ZSet>() <= 16);

#[derive(Clone)]
enum Repr {
    Packed(Packed),
    Big(Box<Big>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Packed(Packed::default())
    }
}

/// A score interval: `min`..`max`, each end inclusive unless `*_excl`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub min_excl: bool,
    pub max: f64,
    pub max_excl: bool,
}

/// One end of a lexicographic range (`-`, `+`, `[a`, `(a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexBound<'a> {
    NegInf,
    PosInf,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

impl ScoreRange {
    /// True when an element scored `s` sorts before the range.
    fn below(&self, s: f64) -> bool {
        s < self.min || (self.min_excl && s == self.min)
    }
    /// True when an element scored `s` does not sort after the range.
    fn not_above(&self, s: f64) -> bool {
        s < self.max || (!self.max_excl && s == self.max)
    }
}

impl LexBound<'_> {
    /// True when `m` sorts before the range that starts at this bound.
    fn below_min(&self, m: &[u8]) -> bool {
        match *self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(a) => m < a,
            LexBound::Excl(a) => m <= a,
        }
    }
    /// True when `m` does not sort after the range that ends at this bound.
    fn not_above_max(&self, m: &[u8]) -> bool {
        match *self {
            LexBound::NegInf => false,
            LexBound::PosInf => true,
            LexBound::Incl(b) => m <= b,
            LexBound::Excl(b) => m < b,
        }
    }
}

/// (score, member) order, the order of every sorted set.
#[inline]
fn less(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && m1 < m2)
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// Number of elements. O(1).
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len(),
            Repr::Big(b) => b.list.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis 7.0's OBJECT ENCODING name for this value.
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Big(_) => "skiplist",
        }
    }

    /// Heap bytes owned (for MEMORY USAGE and lazy-free decisions).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.buf.len(),
            Repr::Big(b) => b.heap_size(),
        }
    }

    /// An empty set already in the skip list encoding when the members to
    /// come will not fit the packed one (`size_hint` members, the longest
    /// `max_member` bytes), as Redis's ZADD and *STORE decide up front.
    pub fn with_capacity(size_hint: usize, max_member: usize) -> ZSet {
        if Self::fits_packed(size_hint, max_member) {
            ZSet::default()
        } else {
            ZSet {
                repr: Repr::Big(Box::default()),
            }
        }
    }

    fn fits_packed(len: usize, member_len: usize) -> bool {
        len <= ZSET_MAX_LISTPACK_ENTRIES.get_usize()
            && member_len <= ZSET_MAX_LISTPACK_VALUE.get_usize()
    }

    /// The score of `m`. O(1) (O(n) packed).
    pub fn score(&self, m: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed(p) => p.find(m).map(|(_, e)| e.score),
            Repr::Big(b) => b.score(m),
        }
    }

    /// Adds `m` with `score`, or moves it to `score`; true when it is new.
    /// Converts to the skip list when the packed form's limits are passed.
    /// `score` must not be NaN.
    pub fn insert(&mut self, m: &[u8], score: f64) -> bool {
        debug_assert!(!score.is_nan());
        if let Repr::Packed(p) = &mut self.repr {
            if let Some((pos, e)) = p.find(m) {
                if e.score != score {
                    p.remove_at(pos);
                    p.insert_sorted(m, score);
                }
                return false;
            }
            if Self::fits_packed(p.len() + 1, m.len()) {
                p.insert_sorted(m, score);
                return true;
            }
            self.convert_to_big();
        }
        match &mut self.repr {
            Repr::Big(b) => b.insert(m, score),
            Repr::Packed(_) => unreachable!("converted above"),
        }
    }

    /// Removes `m`; true when it was there.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => match p.find(m) {
                Some((pos, _)) => {
                    p.remove_at(pos);
                    true
                }
                None => false,
            },
            Repr::Big(b) => b.remove(m),
        }
    }

    fn convert_to_big(&mut self) {
        let mut big = Box::<Big>::default();
        for (m, s) in self.range(0, self.len()) {
            big.insert(m, s);
        }
        self.repr = Repr::Big(big);
    }

    /// 0-based rank of `m` in (score, member) order, and its score.
    /// O(log n) (O(n) packed).
    pub fn rank(&self, m: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Packed(p) => p
                .iter_all()
                .enumerate()
                .find_map(|(i, (e, _))| (e.member == m).then_some((i, e.score))),
            Repr::Big(b) => {
                let s = b.score(m)?;
                b.list.rank(s, m).map(|r| (r - 1, s))
            }
        }
    }

    /// Every element in (score, member) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (StrRef<'_>, f64)> + '_ {
        self.range(0, self.len())
            .map(|(m, s)| (StrRef::Bytes(m), s))
    }

    /// Elements of ranks `lo..hi` (0-based, clamped to the set), iterable
    /// from either end. O(log n) to start (O(n) packed), O(1) a step.
    pub fn range(&self, lo: usize, hi: usize) -> Iter<'_> {
        let hi = hi.min(self.len());
        let lo = lo.min(hi);
        let remaining = hi - lo;
        let inner = match &self.repr {
            Repr::Packed(p) => Inner::Packed {
                buf: &p.buf,
                front: p.offset_of(lo),
                rev: Offsets::Unbuilt,
            },
            Repr::Big(b) => {
                let (front, back) = if remaining == 0 {
                    (NIL, NIL)
                } else {
                    (b.list.by_rank(lo + 1), b.list.by_rank(hi))
                };
                Inner::Big {
                    list: &b.list,
                    front,
                    back,
                }
            }
        };
        Iter { inner, remaining }
    }

    /// The element of 0-based rank `i`.
    pub fn nth(&self, i: usize) -> Option<(&[u8], f64)> {
        self.range(i, i + 1).next()
    }

    /// The ranks `[lo, hi)` of the elements whose score is in `r`
    /// (`lo == hi` when none). O(log n) (O(n) packed).
    pub fn score_range(&self, r: &ScoreRange) -> (usize, usize) {
        let lo = self.count_prefix(|s, _| r.below(s));
        let hi = self.count_prefix(|s, _| r.not_above(s));
        (lo, hi.max(lo))
    }

    /// The ranks `[lo, hi)` of the elements between `min` and `max` in
    /// member order (meaningful when all scores are equal, as in Redis).
    pub fn lex_range(&self, min: LexBound<'_>, max: LexBound<'_>) -> (usize, usize) {
        let lo = self.count_prefix(|_, m| min.below_min(m));
        let hi = self.count_prefix(|_, m| max.not_above_max(m));
        (lo, hi.max(lo))
    }

    /// How many leading elements satisfy `pred`, which must hold for a
    /// prefix of the order and then never again.
    fn count_prefix(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed(p) => p
                .iter_all()
                .take_while(|(e, _)| pred(e.score, e.member))
                .count(),
            Repr::Big(b) => b.list.seek(|n| pred(n.score, n.member.as_bytes())).1,
        }
    }

    /// Removes the elements of ranks `lo..hi` (clamped); returns how many.
    /// O(log n + m) (O(n) packed).
    pub fn remove_range(&mut self, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.len());
        if lo >= hi {
            return 0;
        }
        match &mut self.repr {
            Repr::Packed(p) => p.remove_range(lo, hi),
            Repr::Big(b) => b.remove_range(lo, hi),
        }
        hi - lo
    }

    /// A uniformly chosen element: a random rank, so O(log n) (O(n)
    /// packed). The dict's own sampling would be O(1) but favours members
    /// alone in their bucket, which ZRANDMEMBER's distribution tests catch.
    pub fn random(&self, rng: &mut fastrand::Rng) -> Option<(&[u8], f64)> {
        if self.is_empty() {
            return None;
        }
        self.nth(rng.usize(..self.len()))
    }

    /// One ZSCAN step: calls `f` for some elements and returns the next
    /// cursor (0: done). The packed form is returned whole in one step, as
    /// Redis does; the skip list form walks its dict, with the dict's
    /// guarantee that an element present throughout is seen at least once.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (e, _) in p.iter_all() {
                    f(e.member, e.score);
                }
                0
            }
            Repr::Big(b) => {
                let mut cursor = cursor;
                let mut seen = 0;
                let mut budget = count.saturating_mul(10);
                loop {
                    cursor = b.dict.scan(cursor, |e| {
                        seen += 1;
                        f(e.key(), score_of(e.value()));
                    });
                    budget = budget.saturating_sub(1);
                    if cursor == 0 || budget == 0 || seen >= count {
                        return cursor;
                    }
                }
            }
        }
    }
}

/// Iterator over a rank interval of a [`ZSet`], from either end: members
/// and scores.
#[derive(Clone)]
pub struct Iter<'a> {
    inner: Inner<'a>,
    remaining: usize,
}

// The packed variant carries its reverse index inline: a reverse walk of
// a small set allocates nothing, at the price of a ~530-byte iterator.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Inner<'a> {
    /// `front`: byte offset of the next entry; `rev`: offsets of the
    /// entries still to come, noted at the first step from the back.
    Packed {
        buf: &'a [u8],
        front: usize,
        rev: Offsets,
    },
    /// Node indexes of the next element from each end.
    Big {
        list: &'a SkipList,
        front: u32,
        back: u32,
    },
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some(match &mut self.inner {
            Inner::Packed { buf, front, .. } => {
                let (e, next) = read_entry(buf, *front);
                *front = next;
                (e.member, e.score)
            }
            Inner::Big { list, front, .. } => {
                let n = list.node(*front);
                *front = n.levels[0].next;
                (n.member.as_bytes(), n.score)
            }
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }

    /// Skips ahead: O(log n) for the skip list instead of n steps.
    fn nth(&mut self, k: usize) -> Option<Self::Item> {
        if k >= self.remaining {
            self.remaining = 0;
            return None;
        }
        match &mut self.inner {
            Inner::Packed { buf, front, .. } => {
                for _ in 0..k {
                    *front = read_entry(buf, *front).1;
                }
            }
            Inner::Big { list, front, .. } if k > 0 => {
                let n = list.node(*front);
                let r = list.rank(n.score, n.member.as_bytes()).unwrap_or(0);
                *front = list.by_rank(r + k);
            }
            Inner::Big { .. } => {}
        }
        self.remaining -= k;
        self.next()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let remaining = self.remaining;
        self.remaining -= 1;
        Some(match &mut self.inner {
            Inner::Packed { buf, front, rev } => {
                if matches!(rev, Offsets::Unbuilt) {
                    *rev = Offsets::build(buf, *front, remaining);
                }
                let at = rev.pop().unwrap_or(*front);
                let (e, _) = read_entry(buf, at);
                (e.member, e.score)
            }
            Inner::Big { list, back, .. } => {
                let n = list.node(*back);
                *back = n.prev;
                (n.member.as_bytes(), n.score)
            }
        })
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Entries a reverse walk of the packed form indexes on the stack.
const INLINE_OFFSETS: usize = 128;

/// Offsets of the entries a reverse walk has yet to return, in order.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Offsets {
    Unbuilt,
    Inline([u32; INLINE_OFFSETS], usize),
    /// Only for sets configured past 128 packed entries.
    Heap(Vec<u32>),
}

impl Offsets {
    /// The offsets of the `count` entries from `front`.
    fn build(buf: &[u8], front: usize, count: usize) -> Offsets {
        let mut pos = front;
        let mut next = || {
            let at = pos as u32;
            pos = read_entry(buf, pos).1;
            at
        };
        if count <= INLINE_OFFSETS {
            let mut a = [0u32; INLINE_OFFSETS];
            for slot in a.iter_mut().take(count) {
                *slot = next();
            }
            Offsets::Inline(a, count)
        } else {
            Offsets::Heap((0..count).map(|_| next()).collect())
        }
    }

    fn pop(&mut self) -> Option<usize> {
        match self {
            Offsets::Unbuilt => None,
            Offsets::Inline(a, n) => {
                *n = n.checked_sub(1)?;
                Some(a[*n] as usize)
            }
            Offsets::Heap(v) => v.pop().map(|o| o as usize),
        }
    }
}

// ---------------------------------------------------------------------------
// The packed form.

/// Entries sorted by (score, member) in one exact-size buffer (layout in
/// the module doc). Only ever built by this module, so its walks trust it.
#[derive(Clone, Default)]
struct Packed {
    /// Empty for an empty set, else the 2-byte count and the entries.
    buf: Box<[u8]>,
}

/// Bytes of the count before the first entry.
const HDR: usize = 2;
/// The count field's "too many to count here: walk" value.
const LEN_UNKNOWN: u16 = u16::MAX;

/// One decoded entry.
struct Ent<'a> {
    member: &'a [u8],
    score: f64,
}

/// Largest integer kept as an integer score: every integer up to 2^53 is
/// an exact `f64`, so it converts back unchanged.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Largest score stored as its own one-byte tag.
const SMALL_INT_MAX: u8 = 0xdf;
/// Tag of an integer score of `n` bytes (1..=7): `INT_TAG + n`.
const INT_TAG: u8 = 0xe0;
/// Tag of an `f64` score.
const F64_TAG: u8 = 0xff;

/// Encodes a score into `out`; returns the bytes used (tag included).
fn encode_score(s: f64, out: &mut [u8; 9]) -> usize {
    // -0 becomes 0 here, as it does in Redis's listpack (the skip list
    // form keeps the sign, as Redis's does).
    if s.fract() == 0.0 && s.abs() < EXACT_INT {
        let i = s as i64;
        if (0..=i64::from(SMALL_INT_MAX)).contains(&i) {
            out[0] = i as u8;
            return 1;
        }
        // Fewest bytes whose sign extension gives `i` back.
        let n = (1..=7)
            .find(|&n| {
                let shift = 64 - 8 * n;
                (i << shift) >> shift == i
            })
            .unwrap_or(7);
        out[0] = INT_TAG + n as u8;
        out[1..=n].copy_from_slice(&i.to_le_bytes()[..n]);
        1 + n
    } else {
        out[0] = F64_TAG;
        out[1..9].copy_from_slice(&s.to_le_bytes());
        9
    }
}

/// Decodes a score at the start of `b`; returns it and its length.
fn decode_score(b: &[u8]) -> (f64, usize) {
    let t = b[0];
    if t <= SMALL_INT_MAX {
        return (f64::from(t), 1);
    }
    let mut a = [0u8; 8];
    if t == F64_TAG {
        a.copy_from_slice(&b[1..9]);
        return (f64::from_le_bytes(a), 9);
    }
    let n = usize::from(t - INT_TAG);
    a[..n].copy_from_slice(&b[1..=n]);
    let shift = 64 - 8 * n as u32;
    let i = (i64::from_le_bytes(a) << shift) >> shift;
    (i as f64, 1 + n)
}

/// LEB128 of `v` into `out`; returns the bytes used.
fn encode_varint(mut v: usize, out: &mut [u8; 10]) -> usize {
    let mut n = 0;
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out[n] = b;
            return n + 1;
        }
        out[n] = b | 0x80;
        n += 1;
    }
}

fn decode_varint(b: &[u8]) -> (usize, usize) {
    let mut v = 0usize;
    for (i, &c) in b.iter().enumerate() {
        v |= usize::from(c & 0x7f) << (7 * i);
        if c & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    (v, b.len())
}

/// Reads the entry at `pos`; returns it and the offset of the next one.
fn read_entry(buf: &[u8], pos: usize) -> (Ent<'_>, usize) {
    let (mlen, vl) = decode_varint(&buf[pos..]);
    let mstart = pos + vl;
    let member = &buf[mstart..mstart + mlen];
    let (score, sl) = decode_score(&buf[mstart + mlen..]);
    (Ent { member, score }, mstart + mlen + sl)
}

impl Packed {
    fn len(&self) -> usize {
        match &self.buf[..] {
            [] => 0,
            [a, b, ..] => match u16::from_le_bytes([*a, *b]) {
                LEN_UNKNOWN => self.iter_all().count(),
                n => usize::from(n),
            },
            [_] => 0,
        }
    }

    /// Entries with their offsets.
    fn iter_all(&self) -> impl Iterator<Item = (Ent<'_>, usize)> + '_ {
        let mut pos = HDR;
        std::iter::from_fn(move || {
            if pos >= self.buf.len() {
                return None;
            }
            let at = pos;
            let (e, next) = read_entry(&self.buf, pos);
            pos = next;
            Some((e, at))
        })
    }

    fn find(&self, m: &[u8]) -> Option<(usize, Ent<'_>)> {
        self.iter_all()
            .find(|(e, _)| e.member == m)
            .map(|(e, at)| (at, e))
    }

    /// Offset of the entry of rank `i` (the end of the buffer past the last).
    fn offset_of(&self, i: usize) -> usize {
        self.offset_after(HDR, i)
    }

    /// Offset `k` entries after the entry at `pos`.
    fn offset_after(&self, mut pos: usize, k: usize) -> usize {
        for _ in 0..k {
            pos = read_entry(&self.buf, pos).1;
        }
        pos
    }

    fn insert_sorted(&mut self, m: &[u8], score: f64) {
        let n = self.len();
        let pos = self
            .iter_all()
            .find(|(e, _)| less(score, m, e.score, e.member))
            .map_or(self.buf.len().max(HDR), |(_, at)| at);
        let mut head = [0u8; 10];
        let hl = encode_varint(m.len(), &mut head);
        let mut sc = [0u8; 9];
        let sl = encode_score(score, &mut sc);
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if v.is_empty() {
            v.reserve_exact(HDR + hl + m.len() + sl);
            v.extend_from_slice(&[0; HDR]);
        } else {
            v.reserve_exact(hl + m.len() + sl);
        }
        let bytes = head[..hl].iter().chain(m).chain(&sc[..sl]).copied();
        v.splice(pos..pos, bytes);
        set_count(&mut v, n + 1);
        self.buf = v.into_boxed_slice();
    }

    fn remove_at(&mut self, pos: usize) {
        let end = read_entry(&self.buf, pos).1;
        self.remove_bytes(pos, end, 1);
    }

    fn remove_range(&mut self, lo: usize, hi: usize) {
        let start = self.offset_of(lo);
        let end = self.offset_after(start, hi - lo);
        self.remove_bytes(start, end, hi - lo);
    }

    fn remove_bytes(&mut self, start: usize, end: usize, entries: usize) {
        let left = self.len() - entries;
        if left == 0 {
            self.buf = Box::default();
            return;
        }
        let mut v = std::mem::take(&mut self.buf).into_vec();
        v.drain(start..end);
        set_count(&mut v, left);
        self.buf = v.into_boxed_slice();
    }
}

/// Writes the element count into a packed buffer's header.
fn set_count(v: &mut [u8], n: usize) {
    // 65535 itself reads as "walk to count", which is still right.
    let c = u16::try_from(n).unwrap_or(LEN_UNKNOWN);
    v[..HDR].copy_from_slice(&c.to_le_bytes());
}

// ---------------------------------------------------------------------------
// The skip list form.

/// Member → score dict plus the ordered skip list (see the module doc).
#[derive(Default)]
struct Big {
    dict: Dict,
    list: SkipList,
}

/// The dict stores a score as its bit pattern in an integer value.
fn score_value(s: f64) -> Value {
    Value::Int(s.to_bits() as i64)
}

fn score_of(v: &Value) -> f64 {
    match v {
        Value::Int(bits) => f64::from_bits(*bits as u64),
        _ => 0.0,
    }
}

impl Clone for Big {
    /// A deep copy (COPY), rebuilt element by element: `Dict` is not
    /// `Clone`, and a rebuilt skip list is as good as a copied one.
    fn clone(&self) -> Big {
        let mut b = Big::default();
        let mut x = self.list.node(HEAD).levels[0].next;
        while x != NIL {
            let n = self.list.node(x);
            b.insert(n.member.as_bytes(), n.score);
            x = n.levels[0].next;
        }
        b
    }
}

impl Big {
    fn score(&self, m: &[u8]) -> Option<f64> {
        let h = self.dict.hash(m);
        self.dict.find(h, m).map(|e| score_of(e.value()))
    }

    fn insert(&mut self, m: &[u8], score: f64) -> bool {
        let h = self.dict.hash(m);
        match self
            .dict
            .insert_with(h, m, score_value(score), |_| NO_EXPIRY)
        {
            None => {
                self.list.insert(m, score);
                true
            }
            Some((old, _)) => {
                let old = score_of(&old);
                if old != score {
                    self.list.delete(old, m);
                    self.list.insert(m, score);
                }
                false
            }
        }
    }

    fn remove(&mut self, m: &[u8]) -> bool {
        let h = self.dict.hash(m);
        match self.dict.remove(h, m) {
            Some(e) => {
                self.list.delete(score_of(e.value()), m);
                true
            }
            None => false,
        }
    }

    fn remove_range(&mut self, lo: usize, hi: usize) {
        let Big { dict, list } = self;
        list.delete_rank_range(lo, hi, |m| {
            let h = dict.hash(m);
            dict.remove(h, m);
        });
    }

    fn heap_size(&self) -> usize {
        let nodes = self.list.nodes.capacity() * std::mem::size_of::<Node>();
        let levels: usize = self
            .list
            .nodes
            .iter()
            .map(|n| n.levels.len() * std::mem::size_of::<Level>() + n.member.heap_size())
            .sum();
        // Dict: a 64-byte entry and an 8-byte bucket per member, roughly.
        nodes + levels + self.dict.len() * 64 + self.dict.bucket_count() * 8
    }
}

/// Levels a node may have; with p = 1/4 that covers 2^64 elements.
const MAX_LEVEL: usize = 32;
/// "No node": the end of a level, or the header's `prev`.
const NIL: u32 = u32::MAX;
/// Index of the header node in the arena.
const HEAD: u32 = 0;

#[derive(Clone, Copy, Default)]
struct Level {
    next: u32,
    /// Elements stepped over by following `next` (to the end when NIL).
    span: u32,
}

#[derive(Clone)]
struct Node {
    member: SmallBytes,
    score: f64,
    /// The previous element (NIL for the first).
    prev: u32,
    levels: Box<[Level]>,
}

/// A skip list with spans (rank = sum of spans on the search path), its
/// nodes in an arena: node 0 is the header, free slots are reused.
#[derive(Clone)]
struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    level: usize,
    len: usize,
    rng: fastrand::Rng,
}

impl Default for SkipList {
    fn default() -> Self {
        let head = Node {
            member: SmallBytes::new(b""),
            score: 0.0,
            prev: NIL,
            levels: vec![Level { next: NIL, span: 0 }; MAX_LEVEL].into_boxed_slice(),
        };
        SkipList {
            nodes: vec![head],
            free: Vec::new(),
            level: 1,
            len: 0,
            rng: fastrand::Rng::new(),
        }
    }
}

impl SkipList {
    #[inline]
    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    #[inline]
    fn lvl(&mut self, i: u32, l: usize) -> &mut Level {
        &mut self.nodes[i as usize].levels[l]
    }

    fn random_level(&mut self) -> usize {
        let mut l = 1;
        while l < MAX_LEVEL && self.rng.u32(..4) == 0 {
            l += 1;
        }
        l
    }

    /// The last node for which `before` holds (HEAD if none) and its rank
    /// (1-based; 0 for HEAD). `before` must hold for a prefix only.
    fn seek(&self, before: impl Fn(&Node) -> bool) -> (u32, usize) {
        let mut x = HEAD;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.node(x).levels[i];
                if l.next != NIL && before(self.node(l.next)) {
                    rank += l.span as usize;
                    x = l.next;
                } else {
                    break;
                }
            }
        }
        (x, rank)
    }

    /// Like [`SkipList::seek`], recording the last node visited on each
    /// level and its rank (what an insert or delete relinks).
    fn seek_update(
        &self,
        before: impl Fn(&Node, usize) -> bool,
    ) -> ([u32; MAX_LEVEL], [usize; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let l = self.node(x).levels[i];
                if l.next != NIL && before(self.node(l.next), rank[i] + l.span as usize) {
                    rank[i] += l.span as usize;
                    x = l.next;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Inserts an element known to be absent.
    fn insert(&mut self, m: &[u8], score: f64) {
        let (mut update, mut rank) =
            self.seek_update(|n, _| less(n.score, n.member.as_bytes(), score, m));
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.lvl(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let node = Node {
            member: SmallBytes::new(m),
            score,
            prev: if update[0] == HEAD { NIL } else { update[0] },
            levels: vec![Level::default(); level].into_boxed_slice(),
        };
        let x = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        for i in 0..level {
            let u = *self.lvl(update[i], i);
            let passed = (rank[0] - rank[i]) as u32;
            *self.lvl(x, i) = Level {
                next: u.next,
                span: u.span - passed,
            };
            *self.lvl(update[i], i) = Level {
                next: x,
                span: passed + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.lvl(u, i).span += 1;
        }
        let next = self.node(x).levels[0].next;
        if next != NIL {
            self.nodes[next as usize].prev = x;
        }
        self.len += 1;
    }

    /// Unlinks node `x`, whose predecessors on each level are `update`.
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let xl = self.node(x).levels.get(i).copied();
            let ul = self.lvl(u, i);
            match xl {
                Some(xl) if ul.next == x => {
                    ul.span = ul.span + xl.span - 1;
                    ul.next = xl.next;
                }
                _ => ul.span -= 1,
            }
        }
        let (prev, next) = (self.node(x).prev, self.node(x).levels[0].next);
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        while self.level > 1 && self.node(HEAD).levels[self.level - 1].next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        let n = &mut self.nodes[x as usize];
        n.member = SmallBytes::new(b"");
        n.levels = Box::new([]);
        self.free.push(x);
        if self.len == 0 {
            // Give the arena back once empty.
            self.nodes.truncate(1);
            self.nodes.shrink_to_fit();
            self.free = Vec::new();
        }
    }

    /// Deletes the element (score, m); true when it was there.
    fn delete(&mut self, score: f64, m: &[u8]) -> bool {
        let (update, _) = self.seek_update(|n, _| less(n.score, n.member.as_bytes(), score, m));
        let x = self.node(update[0]).levels[0].next;
        if x != NIL && self.node(x).score == score && self.node(x).member.as_bytes() == m {
            self.unlink(x, &update);
            true
        } else {
            false
        }
    }

    /// Deletes ranks `lo..hi` (0-based), calling `gone` with each member.
    fn delete_rank_range(&mut self, lo: usize, hi: usize, mut gone: impl FnMut(&[u8])) {
        let (update, _) = self.seek_update(|_, r| r <= lo);
        let mut x = self.node(update[0]).levels[0].next;
        for _ in lo..hi {
            if x == NIL {
                break;
            }
            let next = self.node(x).levels[0].next;
            gone(self.node(x).member.as_bytes());
            self.unlink(x, &update);
            x = next;
        }
    }

    /// 1-based rank of (score, m), if present.
    fn rank(&self, score: f64, m: &[u8]) -> Option<usize> {
        let (x, r) = self.seek(|n| !less(score, m, n.score, n.member.as_bytes()));
        (x != HEAD && self.node(x).member.as_bytes() == m).then_some(r)
    }

    /// The node of 1-based rank `r` (NIL when out of range).
    fn by_rank(&self, r: usize) -> u32 {
        if r == 0 || r > self.len {
            return NIL;
        }
        let mut x = HEAD;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.node(x).levels[i];
                if l.next != NIL && traversed + l.span as usize <= r {
                    traversed += l.span as usize;
                    x = l.next;
                } else {
                    break;
                }
            }
            if traversed == r {
                return x;
            }
        }
        NIL
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn items(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    /// Builds the same contents in both encodings.
    fn both(pairs: &[(&str, f64)]) -> [ZSet; 2] {
        let mut a = ZSet::new();
        let mut b = ZSet::with_capacity(usize::MAX, 0);
        for (m, s) in pairs {
            a.insert(m.as_bytes(), *s);
            b.insert(m.as_bytes(), *s);
        }
        assert_eq!(a.encoding_name(), "listpack");
        assert_eq!(b.encoding_name(), "skiplist");
        [a, b]
    }

    #[test]
    fn scores_round_trip_in_packed_form() {
        for s in [
            0.0,
            -0.0,
            1.0,
            -1.0,
            127.0,
            128.0,
            223.0,
            224.0,
            255.0,
            256.0,
            -129.0,
            1.5,
            1e300,
            -1e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            EXACT_INT - 1.0,
            -(EXACT_INT - 1.0),
            EXACT_INT * 4.0,
        ] {
            let mut buf = [0u8; 9];
            let n = encode_score(s, &mut buf);
            let (d, m) = decode_score(&buf);
            assert_eq!(n, m);
            assert_eq!(d, s, "{s}");
            assert_eq!(d.to_bits() == s.to_bits(), s != 0.0 || s.is_sign_positive());
        }
    }

    #[test]
    fn order_rank_and_update_in_both_encodings() {
        for mut z in both(&[("b", 2.0), ("a", 1.0), ("c", 2.0), ("d", -1.5)]) {
            assert_eq!(z.len(), 4);
            let got: Vec<_> = items(&z).into_iter().map(|(m, _)| m).collect();
            assert_eq!(
                got,
                vec![b"d".to_vec(), b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
            );
            assert_eq!(z.rank(b"b"), Some((2, 2.0)));
            assert_eq!(z.rank(b"x"), None);
            assert!(!z.insert(b"d", 10.0));
            assert_eq!(z.score(b"d"), Some(10.0));
            assert_eq!(z.rank(b"d"), Some((3, 10.0)));
            let rev: Vec<_> = z.iter().rev().map(|(m, _)| m.to_vec()).collect();
            assert_eq!(
                rev,
                vec![b"d".to_vec(), b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]
            );
            assert!(z.remove(b"a"));
            assert!(!z.remove(b"a"));
            assert_eq!(z.len(), 3);
            assert_eq!(z.nth(0).map(|(m, _)| m.to_vec()), Some(b"b".to_vec()));
        }
    }

    #[test]
    fn ranges_in_both_encodings() {
        let pairs: Vec<(String, f64)> = (0..50)
            .map(|i| (format!("m{i:02}"), f64::from(i / 2)))
            .collect();
        let refs: Vec<(&str, f64)> = pairs.iter().map(|(m, s)| (m.as_str(), *s)).collect();
        for mut z in both(&refs) {
            let r = ScoreRange {
                min: 3.0,
                min_excl: false,
                max: 5.0,
                max_excl: true,
            };
            assert_eq!(z.score_range(&r), (6, 10));
            let r2 = ScoreRange {
                min: 3.0,
                min_excl: true,
                max: 3.0,
                max_excl: false,
            };
            let (lo, hi) = z.score_range(&r2);
            assert_eq!(lo, hi);
            assert_eq!(
                z.lex_range(LexBound::Incl(b"m10"), LexBound::Excl(b"m20")),
                (10, 20)
            );
            assert_eq!(z.lex_range(LexBound::PosInf, LexBound::NegInf), (50, 50));
            let mid: Vec<_> = z.range(10, 13).map(|(m, _)| m.to_vec()).collect();
            assert_eq!(mid, vec![b"m10".to_vec(), b"m11".to_vec(), b"m12".to_vec()]);
            assert_eq!(
                z.range(10, 20).nth(3).map(|(m, _)| m.to_vec()),
                Some(b"m13".to_vec())
            );
            assert_eq!(
                z.range(10, 20).next_back().map(|(m, _)| m.to_vec()),
                Some(b"m19".to_vec())
            );
            assert_eq!(z.remove_range(10, 20), 10);
            assert_eq!(z.len(), 40);
            assert_eq!(z.nth(10).map(|(m, _)| m.to_vec()), Some(b"m20".to_vec()));
            assert_eq!(z.remove_range(0, 100), 40);
            assert!(z.is_empty());
        }
    }

    #[test]
    fn converts_when_outgrowing_the_packed_form() {
        let mut z = ZSet::new();
        for i in 0..200 {
            z.insert(format!("{i}").as_bytes(), f64::from(i));
        }
        assert_eq!(z.encoding_name(), "skiplist");
        assert_eq!(z.len(), 200);
        assert_eq!(z.rank(b"150"), Some((150, 150.0)));
        let mut z = ZSet::new();
        z.insert(b"a", 1.0);
        z.insert(&[b'x'; 100], 1.0);
        assert_eq!(z.encoding_name(), "skiplist");
        let c = z.clone();
        assert_eq!(items(&c), items(&z));
    }

    #[test]
    fn skiplist_matches_a_model_under_random_edits() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut z = ZSet::with_capacity(usize::MAX, 0);
        let mut model: std::collections::BTreeMap<Vec<u8>, f64> = Default::default();
        for _ in 0..20_000 {
            let m = format!("k{}", rng.u32(..500)).into_bytes();
            match rng.u32(..4) {
                0 => {
                    assert_eq!(z.remove(&m), model.remove(&m).is_some());
                }
                1 => {
                    let lo = rng.usize(..600);
                    let hi = lo + rng.usize(..5);
                    let mut sorted: Vec<_> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
                    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    let n = z.remove_range(lo, hi);
                    for (_, m) in sorted.iter().skip(lo).take(n) {
                        model.remove(m);
                    }
                }
                _ => {
                    let s = f64::from(rng.u32(..100));
                    assert_eq!(z.insert(&m, s), model.insert(m, s).is_none());
                }
            }
        }
        let mut sorted: Vec<_> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        sorted.sort_by(|a, b| (a.1, &a.0).partial_cmp(&(b.1, &b.0)).unwrap());
        assert_eq!(items(&z), sorted);
        for (i, (m, s)) in sorted.iter().enumerate() {
            assert_eq!(z.rank(m), Some((i, *s)));
            assert_eq!(z.nth(i).map(|(m, _)| m.to_vec()), Some(m.clone()));
        }
    }
}
