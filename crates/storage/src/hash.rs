//! Hash values: a map from field to string value, in one of two encodings.
//!
//! # Layout
//!
//! - **Packed** ("listpack" to OBJECT ENCODING): one exact-size byte buffer,
//!   `count` as a LEB128 varint followed by `field, value, field, value...`
//!   in insertion order. Each element is one tag byte and a payload:
//!
//!   | tag           | element                                             |
//!   |---------------|-----------------------------------------------------|
//!   | `0x00..=0x3F` | a string of `tag` bytes, which follow               |
//!   | `0x40..=0x7F` | the integer `(tag & 0x3F) << 8 | next byte` (<16384) |
//!   | `0x80..=0xBF` | the integer `tag - 0x80` (0..=63), no payload       |
//!   | `0xC0..=0xC7` | an integer in `tag - 0xC0 + 1` bytes, LE, signed    |
//!   | `0xC8`        | a longer string: varint length, then the bytes      |
//!
//!   Integers are stored only for canonical decimal text (what
//!   [`parse_canonical_i64`] accepts), which prints back unchanged, so the
//!   encoding is lossless and a field can be compared by kind first (an
//!   integer element never equals a non-canonical string). A field like
//!   `field:7` costs 8 bytes, a small integer value 1: less than Redis's
//!   listpack (no back-length byte per element, a 1-byte header instead of
//!   7), because nothing here walks the buffer backwards. Every byte counts
//!   twice over: a buffer is rounded up to the allocator's size class, so
//!   10 fields like `field:7` with short values fit the 128-byte class here
//!   where Redis's listpack needs 160. Lookups and writes are O(n),
//!   bounded by `hash-max-listpack-entries`, as in Redis. `Hash` itself is
//!   16 bytes (the buffer's fat pointer, the table's box in its niche).
//!
//! - **Table** ("hashtable"): a [`Dict`] with the field as key and a string
//!   [`Value`] as value (no TTL), so HSCAN inherits the dict's
//!   resize-proof cursors.
//!
//! A hash starts packed and becomes a table, for good, once it holds more
//! than `hash-max-listpack-entries` fields or is given a field or value
//! longer than `hash-max-listpack-value` bytes (Redis's rule, read on every
//! write so CONFIG SET applies to the next write).
//!
//! # Random fields
//!
//! HRANDFIELD needs uniform samples. The dict's own `random` favours
//! entries alone in their bucket, so [`Hash::random_pairs`] samples a table
//! by rejection instead: a uniformly random bucket group (one SCAN step of
//! the smaller table), then a slot in `0..max(CHAIN_SLOTS, len)`, retried
//! when the slot is past the group's end. Every entry in a group of at most
//! `CHAIN_SLOTS` entries is then equally likely, at O(1) expected probes
//! since the dict keeps its load factor between 1/8 and 1.

use std::collections::HashSet;

use crate::dict::{Dict, Entry, NO_EXPIRY};
use crate::limits::{HASH_MAX_LISTPACK_ENTRIES, HASH_MAX_LISTPACK_VALUE};
use crate::value::{parse_canonical_i64, StrRef, Value};

/// Longest string with a one-byte header.
const SHORT_STR_MAX: usize = 0x3F;
/// First tag of a two-byte integer 0..=16383.
const TAG_INT14: u8 = 0x40;
const INT14_MAX: i64 = 0x3FFF;
/// First tag of an immediate integer 0..=63.
const TAG_IMM: u8 = 0x80;
const IMM_MAX: i64 = 0x3F;
/// First tag of an integer of 1..=8 bytes.
const TAG_INT: u8 = 0xC0;
/// Tag of a string with a varint length.
const TAG_LONG_STR: u8 = 0xC8;
/// Bucket group capacity assumed by the rejection sampler (see module docs).
const CHAIN_SLOTS: usize = 8;

/// A hash value. See the module docs for its encodings.
#[derive(Clone, Default)]
pub struct Hash {
    repr: Repr,
}

enum Repr {
    Packed(Packed),
    Table(Box<Dict>),
}

const _: () = assert!(std::mem::size_of::<Hash>() == 16);

impl Default for Repr {
    fn default() -> Self {
        Repr::Packed(Packed::default())
    }
}

impl Clone for Repr {
    /// A deep copy (COPY). A table is rebuilt entry by entry: `Dict` has
    /// no `Clone`, and a fresh table is also a compact one.
    fn clone(&self) -> Self {
        match self {
            Repr::Packed(p) => Repr::Packed(p.clone()),
            Repr::Table(d) => {
                let mut copy = Dict::new();
                for e in d.iter() {
                    let h = copy.hash(e.key());
                    copy.insert_with(h, e.key(), e.value().clone(), |_| NO_EXPIRY);
                }
                Repr::Table(Box::new(copy))
            }
        }
    }
}

impl Hash {
    /// An empty (packed) hash; allocates nothing.
    pub fn new() -> Hash {
        Hash::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len(),
            Repr::Table(d) => d.len(),
        }
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis 7.0's OBJECT ENCODING name: "listpack" or "hashtable".
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// Heap bytes owned (for MEMORY USAGE and lazy-free decisions). For a
    /// table, estimated from the first few entries: O(1), like Redis's
    /// sampled MEMORY USAGE.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.0.len(),
            Repr::Table(d) => {
                const SAMPLE: usize = 16;
                let mut seen = 0;
                let mut extra = 0;
                for e in d.iter().take(SAMPLE) {
                    seen += 1;
                    extra += e.value().heap_size() + heap_of_key(e.key());
                }
                let avg = extra.checked_div(seen).unwrap_or(0);
                std::mem::size_of::<Dict>()
                    + d.bucket_count() * std::mem::size_of::<usize>()
                    + d.len() * (std::mem::size_of::<Entry>() + avg)
            }
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<StrRef<'_>> {
        match &self.repr {
            Repr::Packed(p) => p.find(field).map(|f| f.value),
            Repr::Table(d) => d.find(d.hash(field), field)?.value().as_str(),
        }
    }

    /// True when `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true when the field is new. Converts to a
    /// table when the field or value is longer than
    /// `hash-max-listpack-value` or the hash grows past
    /// `hash-max-listpack-entries`.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        self.insert_str(field, StrRef::Bytes(value))
    }

    /// [`Hash::insert`] with a value that may already be an integer
    /// (HINCRBY's result), so it is never formatted just to be parsed back.
    pub fn insert_str(&mut self, field: &[u8], value: StrRef<'_>) -> bool {
        let max_len = HASH_MAX_LISTPACK_VALUE.get_usize();
        if matches!(self.repr, Repr::Packed(_)) && (field.len() > max_len || value.len() > max_len)
        {
            self.convert_to_table();
        }
        let new = match &mut self.repr {
            Repr::Packed(p) => p.set(field, value),
            Repr::Table(d) => {
                let h = d.hash(field);
                let v = match value {
                    StrRef::Int(n) => Value::from_int(n),
                    StrRef::Bytes(b) => Value::from_bytes(b),
                };
                d.insert_with(h, field, v, |_| NO_EXPIRY).is_none()
            }
        };
        if let Repr::Packed(p) = &self.repr {
            if p.len() > HASH_MAX_LISTPACK_ENTRIES.get_usize() {
                self.convert_to_table();
            }
        }
        new
    }

    /// HSET's many pairs (`fv` alternates field, value); returns how many
    /// fields were new. When the result stays packed the buffer grows
    /// once, not once per pair (a new 10-field hash is one allocation, so
    /// the allocator is not left fragmented by nine outgrown buffers).
    pub fn insert_many(&mut self, fv: &[&[u8]]) -> usize {
        let max_len = HASH_MAX_LISTPACK_VALUE.get_usize();
        let stays_packed = match &self.repr {
            Repr::Packed(p) => {
                p.len() + fv.len() / 2 <= HASH_MAX_LISTPACK_ENTRIES.get_usize()
                    && fv.iter().all(|b| b.len() <= max_len)
            }
            Repr::Table(_) => false,
        };
        match &mut self.repr {
            Repr::Packed(p) if stays_packed => p.set_many(fv),
            _ => fv
                .chunks_exact(2)
                .filter(|pair| self.insert(pair[0], pair[1]))
                .count(),
        }
    }

    /// Removes `field`; true when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => p.remove(field),
            Repr::Table(d) => {
                let h = d.hash(field);
                d.remove(h, field).is_some()
            }
        }
    }

    /// Every `(field, value)` pair: insertion order when packed, table
    /// order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Packed(p) => Iter::Packed(p.iter()),
            Repr::Table(d) => Iter::Table(d.iter()),
        }
    }

    /// One HSCAN step: calls `f` for some pairs and returns the next
    /// cursor (0: done). A packed hash is returned whole with cursor 0,
    /// whatever the cursor, as Redis does for a listpack. A table does one
    /// [`Dict::scan`] step, with its guarantee: a field present for the
    /// whole scan is returned at least once.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(StrRef<'_>, StrRef<'_>)) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (k, v) in p.iter() {
                    f(k, v);
                }
                0
            }
            Repr::Table(d) => d.scan(cursor, |e| {
                if let Some(v) = e.value().as_str() {
                    f(StrRef::Bytes(e.key()), v);
                }
            }),
        }
    }

    /// HRANDFIELD's sampling: calls `f` `count` times with uniformly random
    /// pairs (repeats allowed) when `!unique`; otherwise with
    /// `min(count, len)` distinct pairs. Work is O(count) expected (plus
    /// O(len) for a packed hash, whose length the config bounds).
    pub fn random_pairs(
        &self,
        count: usize,
        unique: bool,
        rng: &mut fastrand::Rng,
        mut f: impl FnMut(StrRef<'_>, StrRef<'_>),
    ) {
        let n = self.len();
        if n == 0 || count == 0 {
            return;
        }
        if unique && count >= n {
            self.iter().for_each(|(k, v)| f(k, v));
            return;
        }
        match &self.repr {
            Repr::Packed(p) => {
                if unique {
                    p.sample_unique(count, rng, f);
                } else {
                    let pairs: Vec<_> = p.iter().collect();
                    for _ in 0..count {
                        let (k, v) = pairs[rng.usize(..pairs.len())];
                        f(k, v);
                    }
                }
            }
            Repr::Table(d) if !unique => {
                for _ in 0..count {
                    fair_random(d, rng, |e| emit(e, &mut f));
                }
            }
            Repr::Table(d) if count * 3 > n => {
                // Asking for most of the table: a partial shuffle of all of
                // it (O(n), and n < 3 * count).
                let mut all: Vec<&Entry> = d.iter().collect();
                for i in 0..count {
                    let j = rng.usize(i..all.len());
                    all.swap(i, j);
                    emit(all[i], &mut f);
                }
            }
            Repr::Table(d) => {
                // A few of many: sample until `count` distinct entries,
                // identified by address (stable while we hold `&self`).
                let mut seen: HashSet<usize> = HashSet::with_capacity(count);
                while seen.len() < count {
                    fair_random(d, rng, |e| {
                        if seen.insert(e as *const Entry as usize) {
                            emit(e, &mut f);
                        }
                    });
                }
            }
        }
    }

    fn convert_to_table(&mut self) {
        let Repr::Packed(p) = &self.repr else {
            return;
        };
        let mut d = Dict::new();
        for (k, v) in p.iter() {
            let mut kb = itoa::Buffer::new();
            let key = str_bytes(k, &mut kb);
            let h = d.hash(key);
            let v = match v {
                StrRef::Int(n) => Value::from_int(n),
                StrRef::Bytes(b) => Value::from_bytes(b),
            };
            d.insert_with(h, key, v, |_| NO_EXPIRY);
        }
        self.repr = Repr::Table(Box::new(d));
    }
}

/// Passes a table entry to a pair callback.
fn emit(e: &Entry, f: &mut impl FnMut(StrRef<'_>, StrRef<'_>)) {
    if let Some(v) = e.value().as_str() {
        f(StrRef::Bytes(e.key()), v);
    }
}

/// Heap bytes of a field kept as a dict key (inline up to 22 bytes).
fn heap_of_key(k: &[u8]) -> usize {
    if k.len() <= crate::small::INLINE_CAP {
        0
    } else {
        k.len()
    }
}

/// The bytes of a string, formatting an integer into `buf`.
fn str_bytes<'a>(s: StrRef<'a>, buf: &'a mut itoa::Buffer) -> &'a [u8] {
    match s {
        StrRef::Bytes(b) => b,
        StrRef::Int(n) => buf.format(n).as_bytes(),
    }
}

/// Calls `f` with one uniformly random entry of a non-empty `d` (see the
/// module docs for the rejection scheme).
fn fair_random(d: &Dict, rng: &mut fastrand::Rng, mut f: impl FnMut(&Entry)) {
    // The smaller table's size is the lowest set bit of the bucket count
    // (one power of two, or the sum of two different ones mid-rehash); a
    // cursor below it names one bucket group, which one scan step visits
    // whole, and every entry belongs to exactly one group.
    let buckets = d.bucket_count() as u64;
    let mask = (buckets & buckets.wrapping_neg()).wrapping_sub(1);
    loop {
        let cursor = rng.u64(..) & mask;
        let mut len = 0usize;
        d.scan(cursor, |_| len += 1);
        if len == 0 {
            continue;
        }
        let slot = rng.usize(..len.max(CHAIN_SLOTS));
        if slot >= len {
            continue;
        }
        let mut i = 0;
        d.scan(cursor, |e| {
            if i == slot {
                f(e);
            }
            i += 1;
        });
        return;
    }
}

/// Iterator over a hash's pairs (see [`Hash::iter`]).
pub enum Iter<'a> {
    #[doc(hidden)]
    Packed(PackedIter<'a>),
    #[doc(hidden)]
    Table(crate::dict::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (StrRef<'a>, StrRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Packed(p) => p.next(),
            Iter::Table(t) => loop {
                let e = t.next()?;
                if let Some(v) = e.value().as_str() {
                    return Some((StrRef::Bytes(e.key()), v));
                }
            },
        }
    }
}

/// A field being looked up, pre-classified so that comparing it with a
/// packed element never formats an integer.
#[derive(Clone, Copy)]
struct Needle<'a> {
    bytes: &'a [u8],
    int: Option<i64>,
}

impl<'a> Needle<'a> {
    fn new(bytes: &'a [u8]) -> Needle<'a> {
        Needle {
            bytes,
            int: parse_canonical_i64(bytes),
        }
    }

    fn matches(&self, s: StrRef<'_>) -> bool {
        match s {
            StrRef::Int(n) => self.int == Some(n),
            StrRef::Bytes(b) => self.int.is_none() && b == self.bytes,
        }
    }
}

/// One element encoded: a header (tag, varint length or integer bytes) and
/// the string bytes, if any.
struct Encoded<'a> {
    head: [u8; 11],
    head_len: usize,
    body: &'a [u8],
}

impl<'a> Encoded<'a> {
    fn new(s: StrRef<'a>) -> Encoded<'a> {
        let mut e = Encoded {
            head: [0; 11],
            head_len: 1,
            body: &[],
        };
        let int = match s {
            StrRef::Int(n) => Some(n),
            StrRef::Bytes(b) => parse_canonical_i64(b),
        };
        match (int, s) {
            (Some(n), _) if (0..=IMM_MAX).contains(&n) => e.head[0] = TAG_IMM + n as u8,
            (Some(n), _) if (0..=INT14_MAX).contains(&n) => {
                e.head[0] = TAG_INT14 | (n >> 8) as u8;
                e.head[1] = (n & 0xFF) as u8;
                e.head_len = 2;
            }
            (Some(n), _) => {
                let width = int_width(n);
                e.head[0] = TAG_INT + (width - 1) as u8;
                e.head[1..=width].copy_from_slice(&n.to_le_bytes()[..width]);
                e.head_len = 1 + width;
            }
            (None, StrRef::Bytes(b)) if b.len() <= SHORT_STR_MAX => {
                e.head[0] = b.len() as u8;
                e.body = b;
            }
            (None, StrRef::Bytes(b)) => {
                e.head[0] = TAG_LONG_STR;
                e.head_len = 1 + write_varint(&mut e.head[1..], b.len());
                e.body = b;
            }
            // An Int always takes the first two arms.
            (None, StrRef::Int(_)) => {}
        }
        e
    }

    fn len(&self) -> usize {
        self.head_len + self.body.len()
    }

    fn parts(&self) -> [&[u8]; 2] {
        [&self.head[..self.head_len], self.body]
    }
}

/// Fewest bytes holding `n` as a two's complement integer.
fn int_width(n: i64) -> usize {
    (1..8)
        .find(|&w| {
            let bits = 8 * w as u32;
            let lo = -(1i64 << (bits - 1));
            let hi = (1i64 << (bits - 1)) - 1;
            (lo..=hi).contains(&n)
        })
        .unwrap_or(8)
}

/// Writes `v` as LEB128 into `out`, returns the bytes written (at most 10).
fn write_varint(out: &mut [u8], mut v: usize) -> usize {
    let mut i = 0;
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out[i] = byte;
            return i + 1;
        }
        out[i] = byte | 0x80;
        i += 1;
    }
}

/// Reads a LEB128 varint at `pos`: (value, position after it).
fn read_varint(buf: &[u8], mut pos: usize) -> (usize, usize) {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = buf.get(pos) {
        pos += 1;
        v |= usize::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    (v, pos)
}

/// Decodes the element at `pos`: (element, position after it).
fn decode(buf: &[u8], pos: usize) -> (StrRef<'_>, usize) {
    let tag = buf[pos];
    match tag {
        0..=0x3F => {
            let end = pos + 1 + usize::from(tag);
            (StrRef::Bytes(&buf[pos + 1..end]), end)
        }
        TAG_INT14..=0x7F => {
            let n = i64::from(tag & 0x3F) << 8 | i64::from(buf[pos + 1]);
            (StrRef::Int(n), pos + 2)
        }
        TAG_IMM..=0xBF => (StrRef::Int(i64::from(tag - TAG_IMM)), pos + 1),
        TAG_INT..=0xC7 => {
            let width = usize::from(tag - TAG_INT) + 1;
            let mut le = [0u8; 8];
            le[..width].copy_from_slice(&buf[pos + 1..pos + 1 + width]);
            // Sign-extend from the top byte stored.
            if le[width - 1] & 0x80 != 0 {
                le[width..].fill(0xFF);
            }
            (StrRef::Int(i64::from_le_bytes(le)), pos + 1 + width)
        }
        _ => {
            let (len, start) = read_varint(buf, pos + 1);
            (StrRef::Bytes(&buf[start..start + len]), start + len)
        }
    }
}

/// Replaces `buf[range]` with the concatenation of `parts`, moving the
/// tail once.
fn splice(buf: &mut Vec<u8>, start: usize, end: usize, parts: &[&[u8]]) {
    let new_len: usize = parts.iter().map(|p| p.len()).sum();
    let old_len = end - start;
    let total = buf.len() - old_len + new_len;
    if new_len > old_len {
        buf.reserve_exact(new_len - old_len);
        buf.resize(total, 0);
        buf.copy_within(end..total - (new_len - old_len), start + new_len);
    } else if new_len < old_len {
        buf.copy_within(end.., start + new_len);
        buf.truncate(total);
    }
    let mut at = start;
    for p in parts {
        buf[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
}

/// Where a field's pair sits in a packed buffer.
struct Found<'a> {
    field_at: usize,
    value_at: usize,
    end: usize,
    value: StrRef<'a>,
}

/// The packed encoding: `count` varint, then the pairs (module docs). An
/// empty hash is an empty buffer (no allocation).
#[derive(Clone, Default)]
struct Packed(Box<[u8]>);

impl Packed {
    fn len(&self) -> usize {
        read_varint(&self.0, 0).0
    }

    fn iter(&self) -> PackedIter<'_> {
        let (left, pos) = read_varint(&self.0, 0);
        PackedIter {
            buf: &self.0,
            pos,
            left,
        }
    }

    fn find(&self, field: &[u8]) -> Option<Found<'_>> {
        find_in(&self.0, field)
    }

    /// Sets several fields, growing the buffer once: returns how many
    /// were new. Pairs are applied in order (a repeated field keeps its
    /// last value), as one `set` each would.
    fn set_many(&mut self, pairs: &[&[u8]]) -> usize {
        let mut buf = std::mem::take(&mut self.0).into_vec();
        let mut count = read_varint(&buf, 0).0;
        let start = count;
        let extra: usize = pairs
            .iter()
            .map(|b| Encoded::new(StrRef::Bytes(b)).len())
            .sum();
        if buf.is_empty() {
            buf.push(0);
        }
        buf.reserve_exact(extra + 10);
        for pair in pairs.chunks_exact(2) {
            let enc = Encoded::new(StrRef::Bytes(pair[1]));
            match find_in(&buf, pair[0]).map(|f| (f.value_at, f.end)) {
                Some((at, end)) => splice(&mut buf, at, end, &enc.parts()),
                None => {
                    let fenc = Encoded::new(StrRef::Bytes(pair[0]));
                    for p in fenc.parts().into_iter().chain(enc.parts()) {
                        buf.extend_from_slice(p);
                    }
                    count += 1;
                    set_count(&mut buf, count);
                }
            }
        }
        self.0 = buf.into_boxed_slice();
        count - start
    }
}

/// Finds a field's pair in a packed buffer (see [`Packed`]).
fn find_in<'a>(buf: &'a [u8], field: &[u8]) -> Option<Found<'a>> {
    let needle = Needle::new(field);
    let (count, mut pos) = read_varint(buf, 0);
    for _ in 0..count {
        let (f, value_at) = decode(buf, pos);
        let (value, end) = decode(buf, value_at);
        if needle.matches(f) {
            return Some(Found {
                field_at: pos,
                value_at,
                end,
                value,
            });
        }
        pos = end;
    }
    None
}

impl Packed {
    /// Sets a field; true when it is new (appended at the end).
    fn set(&mut self, field: &[u8], value: StrRef<'_>) -> bool {
        let enc = Encoded::new(value);
        let found = self.find(field).map(|f| (f.value_at, f.end));
        let mut buf = std::mem::take(&mut self.0).into_vec();
        let new = match found {
            Some((at, end)) => {
                splice(&mut buf, at, end, &enc.parts());
                false
            }
            None => {
                let fenc = Encoded::new(StrRef::Bytes(field));
                let count = read_varint(&buf, 0).0;
                if buf.is_empty() {
                    buf.push(0);
                }
                buf.reserve_exact(fenc.len() + enc.len() + 1);
                for p in fenc.parts().into_iter().chain(enc.parts()) {
                    buf.extend_from_slice(p);
                }
                set_count(&mut buf, count + 1);
                true
            }
        };
        self.0 = buf.into_boxed_slice();
        new
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Some((at, end)) = self.find(field).map(|f| (f.field_at, f.end)) else {
            return false;
        };
        let count = self.len() - 1;
        if count == 0 {
            self.0 = Box::new([]);
            return true;
        }
        let mut buf = std::mem::take(&mut self.0).into_vec();
        splice(&mut buf, at, end, &[]);
        set_count(&mut buf, count);
        self.0 = buf.into_boxed_slice();
        true
    }

    /// Calls `f` with `count < len` distinct pairs chosen uniformly, in
    /// buffer order (selection sampling: one pass, no allocation).
    fn sample_unique(
        &self,
        count: usize,
        rng: &mut fastrand::Rng,
        mut f: impl FnMut(StrRef<'_>, StrRef<'_>),
    ) {
        let mut left = self.len();
        let mut need = count;
        for (k, v) in self.iter() {
            if need == 0 {
                break;
            }
            if rng.usize(..left) < need {
                f(k, v);
                need -= 1;
            }
            left -= 1;
        }
    }
}

/// Rewrites the count varint at the start of `buf`.
fn set_count(buf: &mut Vec<u8>, count: usize) {
    let old_end = read_varint(buf, 0).1;
    let mut tmp = [0u8; 10];
    let n = write_varint(&mut tmp, count);
    splice(buf, 0, old_end, &[&tmp[..n]]);
}

/// Iterator over a packed hash's pairs.
pub struct PackedIter<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = (StrRef<'a>, StrRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (k, at) = decode(self.buf, self.pos);
        let (v, end) = decode(self.buf, at);
        self.pos = end;
        Some((k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {

    #[test]
    fn insert_many_matches_one_by_one() {
        let fv: Vec<&[u8]> = vec![b"a", b"1", b"b", b"x", b"a", b"2", b"c", b"12345678901234"];
        let mut many = Hash::new();
        assert_eq!(many.insert_many(&fv), 3);
        let mut one = Hash::new();
        for p in fv.chunks_exact(2) {
            one.insert(p[0], p[1]);
        }
        let a: Vec<(Vec<u8>, Vec<u8>)> =
            many.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        let b: Vec<(Vec<u8>, Vec<u8>)> =
            one.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        assert_eq!(a, b);
        assert_eq!(many.get(b"a"), Some(StrRef::Int(2)));
        // Overwrites only: nothing new.
        assert_eq!(many.insert_many(&[b"b", b"y"]), 0);
        assert_eq!(many.get(b"b"), Some(StrRef::Bytes(b"y")));
        // Past the entry limit it converts, like single inserts.
        let names: Vec<Vec<u8>> = (0..300).map(|i| format!("f{i}").into_bytes()).collect();
        let fv: Vec<&[u8]> = names.iter().flat_map(|n| [n.as_slice(), b"v"]).collect();
        assert_eq!(many.insert_many(&fv), 300);
        assert_eq!(many.encoding_name(), "hashtable");
        assert_eq!(many.len(), 303);
    }

    use std::collections::HashMap;

    use super::*;

    fn bytes(s: StrRef<'_>) -> Vec<u8> {
        s.to_vec()
    }

    fn pairs(h: &Hash) -> HashMap<Vec<u8>, Vec<u8>> {
        h.iter().map(|(k, v)| (bytes(k), bytes(v))).collect()
    }

    const SAMPLES: &[&str] = &[
        "",
        "0",
        "63",
        "64",
        "-1",
        "127",
        "128",
        "-129",
        "32767",
        "2147483647",
        "-2147483649",
        "9223372036854775807",
        "-9223372036854775808",
        "9223372036854775808",
        "007",
        "-0",
        "+1",
        "field:1",
        "a value with spaces",
        "16383",
        "16384",
        "-16384",
        "8191",
    ];

    #[test]
    fn packed_round_trips_every_element_kind() {
        let mut h = Hash::new();
        let (l63, l64) = ("x".repeat(63), "y".repeat(64));
        for (i, s) in SAMPLES
            .iter()
            .chain([&l63.as_str(), &l64.as_str()])
            .enumerate()
        {
            assert!(h.insert(s.as_bytes(), format!("v{i}").as_bytes()));
            assert!(h.insert(format!("f{i}").as_bytes(), s.as_bytes()));
        }
        assert_eq!(h.encoding_name(), "listpack");
        for (i, s) in SAMPLES.iter().enumerate() {
            assert_eq!(
                bytes(h.get(s.as_bytes()).unwrap()),
                format!("v{i}").as_bytes()
            );
            assert_eq!(
                bytes(h.get(format!("f{i}").as_bytes()).unwrap()),
                s.as_bytes()
            );
        }
        // "7" is not "007", "1" is not "+1".
        assert!(h.get(b"7").is_none());
        assert!(h.get(b"1").is_none());
        assert_eq!(h.len(), 2 * (SAMPLES.len() + 2));
        assert_eq!(
            bytes(h.get(l64.as_bytes()).unwrap()),
            format!("v{}", SAMPLES.len() + 1).as_bytes()
        );
        assert_eq!(h.get(b"f19").unwrap(), StrRef::Int(16383));
        assert_eq!(h.get(b"64").unwrap(), StrRef::Bytes(b"v3"));
        assert_eq!(h.get(b"f4").unwrap(), StrRef::Int(-1));
    }

    #[test]
    fn long_strings_in_packed_form_with_varint_lengths() {
        // A 300-byte element needs a varint length; only reachable with a
        // raised limit, so build the packed form directly.
        let mut p = Packed::default();
        let long = vec![b'y'; 300];
        assert!(p.set(&long, StrRef::Bytes(&long)));
        assert!(p.set(b"a", StrRef::Int(-5)));
        assert_eq!(p.find(&long).unwrap().value, StrRef::Bytes(&long));
        assert!(!p.set(&long, StrRef::Bytes(b"short")));
        assert_eq!(p.find(&long).unwrap().value, StrRef::Bytes(b"short"));
        assert_eq!(p.find(b"a").unwrap().value, StrRef::Int(-5));
        assert!(p.remove(&long));
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn updates_and_removes_keep_order_and_count() {
        let mut h = Hash::new();
        for i in 0..10 {
            assert!(h.insert(format!("k{i}").as_bytes(), b"1"));
        }
        assert!(!h.insert(b"k3", b"a much longer value than before"));
        assert!(!h.insert(b"k4", b"9"));
        let order: Vec<_> = h.iter().map(|(k, _)| bytes(k)).collect();
        assert_eq!(order[3], b"k3");
        assert!(h.remove(b"k0"));
        assert!(!h.remove(b"k0"));
        assert_eq!(h.len(), 9);
        for i in 1..10 {
            assert!(h.remove(format!("k{i}").as_bytes()));
        }
        assert!(h.is_empty());
        assert_eq!(h.heap_size(), 0);
    }

    #[test]
    fn count_varint_crosses_one_byte() {
        let mut p = Packed::default();
        for i in 0..300 {
            assert!(p.set(format!("{i}").as_bytes(), StrRef::Int(i)));
        }
        assert_eq!(p.len(), 300);
        for i in (0..300).step_by(2) {
            assert!(p.remove(format!("{i}").as_bytes()));
        }
        assert_eq!(p.len(), 150);
        assert_eq!(p.iter().count(), 150);
        assert_eq!(p.find(b"299").unwrap().value, StrRef::Int(299));
    }

    #[test]
    fn converts_on_entries_and_on_length() {
        let mut h = Hash::new();
        let max = HASH_MAX_LISTPACK_ENTRIES.get_usize();
        for i in 0..max {
            h.insert(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(h.encoding_name(), "listpack");
        h.insert(b"one-more", b"v");
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), max + 1);
        assert_eq!(bytes(h.get(b"f7").unwrap()), b"v");
        // Never converts back.
        for i in 0..max {
            assert!(h.remove(format!("f{i}").as_bytes()));
        }
        assert_eq!(h.encoding_name(), "hashtable");

        let mut h = Hash::new();
        h.insert(b"a", b"1");
        let long = vec![b'z'; HASH_MAX_LISTPACK_VALUE.get_usize() + 1];
        assert!(h.insert(b"b", &long));
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.get(b"a"), Some(StrRef::Int(1)));
        assert_eq!(bytes(h.get(b"b").unwrap()), long);
    }

    #[test]
    fn clone_is_deep() {
        let mut h = Hash::new();
        for i in 0..200 {
            h.insert(format!("f{i}").as_bytes(), format!("{i}").as_bytes());
        }
        let c = h.clone();
        h.insert(b"f1", b"changed");
        assert_eq!(c.get(b"f1"), Some(StrRef::Int(1)));
        assert_eq!(pairs(&c).len(), 200);
        let small = {
            let mut s = Hash::new();
            s.insert(b"a", b"b");
            s
        };
        assert_eq!(pairs(&small.clone()), pairs(&small));
    }

    #[test]
    fn scan_returns_everything() {
        for n in [5, 1000] {
            let mut h = Hash::new();
            for i in 0..n {
                h.insert(format!("f{i}").as_bytes(), b"v");
            }
            let mut seen = HashSet::new();
            let mut c = 0;
            loop {
                c = h.scan(c, |k, _| {
                    seen.insert(bytes(k));
                });
                if c == 0 {
                    break;
                }
            }
            assert_eq!(seen.len(), n);
        }
    }

    fn counts(h: &Hash, count: usize, unique: bool, rounds: usize) -> HashMap<Vec<u8>, usize> {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut out: HashMap<Vec<u8>, usize> = HashMap::new();
        for _ in 0..rounds {
            let mut got = HashSet::new();
            h.random_pairs(count, unique, &mut rng, |k, v| {
                assert_eq!(h.get(&bytes(k)), Some(v));
                if unique {
                    assert!(got.insert(bytes(k)));
                }
                *out.entry(bytes(k)).or_default() += 1;
            });
        }
        out
    }

    #[test]
    fn random_pairs_are_fair() {
        for n in [10, 20, 1000] {
            let mut h = Hash::new();
            for i in 0..n {
                h.insert(format!("f{i}").as_bytes(), b"v");
            }
            if n == 10 {
                // Force the table form for a small hash too.
                h.insert(b"big", &[b'x'; 100]);
                h.remove(b"big");
                assert_eq!(h.encoding_name(), "hashtable");
            }
            let rounds = 200 * n;
            let c = counts(&h, 1, false, rounds);
            assert_eq!(c.len(), n);
            let expect = (rounds / n) as f64;
            for (k, v) in &c {
                let dev = (*v as f64 - expect).abs() / expect;
                assert!(dev < 0.35, "n={n} {k:?}: {v} vs {expect}");
            }
            for count in [1, n / 4, n / 2, n - 1, n, n + 5] {
                let c = counts(&h, count, true, 20);
                assert_eq!(c.values().sum::<usize>(), 20 * count.min(n));
            }
            let c = counts(&h, 3 * n, false, 1);
            assert_eq!(c.values().sum::<usize>(), 3 * n);
        }
    }

    #[test]
    fn matches_a_map_model_under_random_operations() {
        let mut rng = fastrand::Rng::with_seed(11);
        let pool = |rng: &mut fastrand::Rng| -> Vec<u8> {
            match rng.u8(..4) {
                0 => rng.i64(-70_000..70_000).to_string().into_bytes(),
                1 => format!("f{}", rng.u8(..60)).into_bytes(),
                2 => format!("0{}", rng.u8(..10)).into_bytes(),
                _ => vec![b'x'; rng.usize(..70)],
            }
        };
        for round in 0..40 {
            let mut h = Hash::new();
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for _ in 0..300 {
                let f = pool(&mut rng);
                match rng.u8(..3) {
                    0 | 1 => {
                        let v = pool(&mut rng);
                        assert_eq!(h.insert(&f, &v), model.insert(f, v).is_none());
                    }
                    _ => assert_eq!(h.remove(&f), model.remove(&f).is_some()),
                }
                assert_eq!(h.len(), model.len(), "round {round}");
            }
            assert_eq!(pairs(&h), model);
            for (k, v) in &model {
                assert_eq!(bytes(h.get(k).unwrap()), *v);
            }
        }
    }
}
