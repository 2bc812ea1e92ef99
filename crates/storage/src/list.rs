//! List values: a quicklist of packed nodes.
//!
//! # Layout
//!
//! A [`List`] is a `VecDeque` of [`Node`]s plus the total element count.
//! Each node is one byte buffer holding a run of consecutive elements,
//! packed back to back like Redis's listpack, with the node's entry count
//! beside it. A node is bounded by `list-max-listpack-size`: a negative
//! setting caps its bytes (-1: 4 KB, -2: 8 KB ... -5: 64 KB), a positive one
//! its entries (and then 8 KB as a safety limit, as Redis does). An element
//! bigger than the limit gets a node of its own.
//!
//! One entry is `[head][payload][back]`:
//!
//! - `head`: a varint whose first byte carries a type bit (bit 0: 1 for an
//!   integer, 0 for bytes), 6 value bits and a continuation bit; following
//!   bytes carry 7 bits each. The value is the payload length for bytes, or
//!   the zigzag-coded integer (then there is no payload).
//! - `payload`: the string's bytes.
//! - `back`: the length of `head + payload`, as a varint written backwards,
//!   so an entry can be stepped over from its end (RPOP, LRANGE with
//!   negative indexes, LPOS with a negative RANK walk backwards).
//!
//! So an 8-byte string costs 10 bytes and a small integer 2, about what a
//! Redis listpack entry costs. Canonical integers (what Redis's `string2ll`
//! accepts) are stored as integers and read back as [`StrRef::Int`].
//!
//! # Costs
//!
//! Pushing and popping at either end touch one node: O(1) plus a `memmove`
//! within a node of at most the node limit (as a listpack insert does).
//! Indexing walks node counts from the nearer end, then entries within one
//! node. Iterating a range is O(range) with no allocation. LINSERT/LSET
//! splice inside one node and split it in halves when it outgrows the limit,
//! so nodes stay at least about half full.

use std::collections::VecDeque;

use crate::limits::LIST_MAX_LISTPACK_SIZE;
use crate::value::{parse_canonical_i64, StrRef};

/// Most bytes a node holds when the limit is an entry count (Redis's
/// `SIZE_SAFETY_LIMIT`).
const SIZE_SAFETY_LIMIT: usize = 8192;
/// Longest head or back varint (a 64-bit value at 7 bits a byte, 6 in the
/// first head byte).
const MAX_VARINT: usize = 10;

/// A list value.
#[derive(Clone, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
}

/// A run of consecutive elements packed in one buffer.
#[derive(Clone, Default)]
struct Node {
    buf: Vec<u8>,
    count: u32,
}

/// The node limits in force: (bytes, entries).
fn node_limits() -> (usize, usize) {
    let fill = LIST_MAX_LISTPACK_SIZE.get();
    if fill >= 0 {
        let count = usize::try_from(fill).unwrap_or(usize::MAX).max(1);
        (SIZE_SAFETY_LIMIT, count)
    } else {
        let level = fill.unsigned_abs().min(5) as u32;
        (2048usize << level, usize::MAX)
    }
}

/// An element's encoded form, built on the stack.
struct Encoded<'a> {
    head: [u8; MAX_VARINT],
    head_len: usize,
    payload: &'a [u8],
    back: [u8; MAX_VARINT],
    back_len: usize,
}

impl<'a> Encoded<'a> {
    fn new(v: StrRef<'a>) -> Encoded<'a> {
        let (is_int, value, payload): (bool, u64, &[u8]) = match v {
            StrRef::Int(n) => (true, zigzag(n), &[]),
            StrRef::Bytes(b) => (false, b.len() as u64, b),
        };
        let mut head = [0u8; MAX_VARINT];
        let head_len = write_head(&mut head, is_int, value);
        let mut back = [0u8; MAX_VARINT];
        let back_len = write_back(&mut back, (head_len + payload.len()) as u64);
        Encoded {
            head,
            head_len,
            payload,
            back,
            back_len,
        }
    }

    fn len(&self) -> usize {
        self.head_len + self.payload.len() + self.back_len
    }

    /// Writes the entry into `dst`, which is exactly `self.len()` bytes.
    fn write(&self, dst: &mut [u8]) {
        let (h, rest) = dst.split_at_mut(self.head_len);
        h.copy_from_slice(&self.head[..self.head_len]);
        let (p, b) = rest.split_at_mut(self.payload.len());
        p.copy_from_slice(self.payload);
        b.copy_from_slice(&self.back[..self.back_len]);
    }
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

fn write_head(out: &mut [u8; MAX_VARINT], is_int: bool, v: u64) -> usize {
    let mut first = (u8::from(is_int)) | (((v & 0x3f) as u8) << 1);
    let mut rest = v >> 6;
    if rest != 0 {
        first |= 0x80;
    }
    out[0] = first;
    let mut i = 1;
    while rest != 0 {
        let mut b = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest != 0 {
            b |= 0x80;
        }
        out[i] = b;
        i += 1;
    }
    i
}

/// Reads a head at the start of `b`: (is_int, value, bytes used).
fn read_head(b: &[u8]) -> (bool, u64, usize) {
    let first = b[0];
    let is_int = first & 1 == 1;
    let mut v = u64::from((first >> 1) & 0x3f);
    let mut i = 1;
    let mut more = first & 0x80 != 0;
    let mut shift = 6;
    while more {
        let c = b[i];
        v |= u64::from(c & 0x7f) << shift;
        shift += 7;
        more = c & 0x80 != 0;
        i += 1;
    }
    (is_int, v, i)
}

/// Writes `v` as a varint to be read backwards from its last byte.
fn write_back(out: &mut [u8; MAX_VARINT], v: u64) -> usize {
    let mut tmp = [0u8; MAX_VARINT];
    let mut n = 0;
    let mut rest = v;
    loop {
        let mut b = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest != 0 {
            b |= 0x80;
        }
        tmp[n] = b;
        n += 1;
        if rest == 0 {
            break;
        }
    }
    for i in 0..n {
        out[i] = tmp[n - 1 - i];
    }
    n
}

/// Bytes a back varint of `v` takes.
fn back_len_of(v: usize) -> usize {
    let mut n = 1;
    let mut rest = v >> 7;
    while rest != 0 {
        n += 1;
        rest >>= 7;
    }
    n
}

/// Reads the back varint ending at `end`: (value, bytes used).
fn read_back(b: &[u8], end: usize) -> (usize, usize) {
    let mut v = 0usize;
    let mut i = end;
    let mut shift = 0;
    loop {
        i -= 1;
        let c = b[i];
        v |= usize::from(c & 0x7f) << shift;
        shift += 7;
        if c & 0x80 == 0 {
            break;
        }
    }
    (v, end - i)
}

/// The element at `off` and the offset just past it.
#[inline]
fn entry_at(buf: &[u8], off: usize) -> (StrRef<'_>, usize) {
    let (is_int, v, hl) = read_head(&buf[off..]);
    if is_int {
        (StrRef::Int(unzigzag(v)), off + hl + back_len_of(hl))
    } else {
        let len = v as usize;
        let start = off + hl;
        let s = StrRef::Bytes(&buf[start..start + len]);
        (s, start + len + back_len_of(hl + len))
    }
}

/// The start of the element that ends at `end`.
#[inline]
fn entry_before(buf: &[u8], end: usize) -> usize {
    let (inner, bl) = read_back(buf, end);
    end - bl - inner
}

/// A client's argument as it is stored: a canonical integer as `Int`.
#[inline]
pub fn elem(v: &[u8]) -> StrRef<'_> {
    match parse_canonical_i64(v) {
        Some(n) => StrRef::Int(n),
        None => StrRef::Bytes(v),
    }
}

impl Node {
    fn with_entry(e: &Encoded<'_>) -> Node {
        let mut buf = Vec::with_capacity(round16(e.len()));
        buf.resize(e.len(), 0);
        e.write(&mut buf);
        Node { buf, count: 1 }
    }

    fn fits(&self, extra: usize, limits: (usize, usize)) -> bool {
        self.buf.len() + extra <= limits.0 && (self.count as usize) < limits.1
    }

    fn exceeds(&self, limits: (usize, usize)) -> bool {
        self.count > 1 && (self.buf.len() > limits.0 || self.count as usize > limits.1)
    }

    /// Inserts an entry at byte offset `off` (an entry boundary).
    fn insert(&mut self, off: usize, e: &Encoded<'_>) {
        let n = e.len();
        let old = self.buf.len();
        grow(&mut self.buf, n);
        self.buf.resize(old + n, 0);
        self.buf.copy_within(off..old, off + n);
        e.write(&mut self.buf[off..off + n]);
        self.count += 1;
    }

    /// Removes the bytes `from..to` holding `n` entries.
    fn remove(&mut self, from: usize, to: usize, n: u32) {
        self.buf.drain(from..to);
        self.count -= n;
        if self.buf.capacity() > 64 && self.buf.capacity() > 2 * self.buf.len() {
            self.buf
                .shrink_to(round16(self.buf.len() + self.buf.len() / 8));
        }
    }

    /// Byte offset of entry `i` (0..=count), walking from the nearer end.
    fn offset_of(&self, i: usize) -> usize {
        let count = self.count as usize;
        if i <= count / 2 {
            let mut off = 0;
            for _ in 0..i {
                off = entry_at(&self.buf, off).1;
            }
            off
        } else {
            let mut off = self.buf.len();
            for _ in i..count {
                off = entry_before(&self.buf, off);
            }
            off
        }
    }

    fn first(&self) -> StrRef<'_> {
        entry_at(&self.buf, 0).0
    }

    fn last(&self) -> StrRef<'_> {
        let start = entry_before(&self.buf, self.buf.len());
        entry_at(&self.buf, start).0
    }
}

fn round16(n: usize) -> usize {
    (n + 15) & !15
}

/// Makes room for `extra` more bytes with a little slack (1/8): nodes are
/// bounded, so this is O(1) amortised per push while a small list wastes
/// little.
fn grow(buf: &mut Vec<u8>, extra: usize) {
    let need = buf.len() + extra;
    if need > buf.capacity() {
        let target = round16(need + need / 8);
        buf.reserve_exact(target - buf.len());
    }
}

impl List {
    pub fn new() -> List {
        List::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis 7.0's OBJECT ENCODING name for this value.
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// Heap bytes owned (for MEMORY USAGE and lazy-free decisions).
    /// O(number of nodes).
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.nodes.iter().map(|n| n.buf.capacity()).sum::<usize>()
    }

    /// Number of nodes (for tests and DEBUG-style introspection).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Appends `v` at the tail (RPUSH).
    pub fn push_back(&mut self, v: &[u8]) {
        self.push_back_str(elem(v));
    }

    /// Prepends `v` at the head (LPUSH).
    pub fn push_front(&mut self, v: &[u8]) {
        self.push_front_str(elem(v));
    }

    /// Appends an element given as a [`StrRef`].
    pub fn push_back_str(&mut self, v: StrRef<'_>) {
        let e = Encoded::new(v);
        let limits = node_limits();
        match self.nodes.back_mut() {
            Some(n) if n.fits(e.len(), limits) => {
                let end = n.buf.len();
                n.insert(end, &e);
            }
            _ => {
                self.reserve_node();
                self.nodes.push_back(Node::with_entry(&e));
            }
        }
        self.len += 1;
    }

    /// Prepends an element given as a [`StrRef`].
    pub fn push_front_str(&mut self, v: StrRef<'_>) {
        let e = Encoded::new(v);
        let limits = node_limits();
        match self.nodes.front_mut() {
            Some(n) if n.fits(e.len(), limits) => n.insert(0, &e),
            _ => {
                self.reserve_node();
                self.nodes.push_front(Node::with_entry(&e));
            }
        }
        self.len += 1;
    }

    /// Grows the node ring exactly from 0 to 1 (most lists are one node),
    /// then by doubling.
    fn reserve_node(&mut self) {
        if self.nodes.capacity() == 0 {
            self.nodes.reserve_exact(1);
        }
    }

    /// Removes and returns the head element.
    pub fn pop_front(&mut self) -> Option<Vec<u8>> {
        let mut out = None;
        self.pop_front_n(1, |s| out = Some(s.to_vec()));
        out
    }

    /// Removes and returns the tail element.
    pub fn pop_back(&mut self) -> Option<Vec<u8>> {
        let mut out = None;
        self.pop_back_n(1, |s| out = Some(s.to_vec()));
        out
    }

    /// Removes up to `n` elements from the head, handing each to `f` in
    /// order (head first) before it is freed. Returns how many.
    pub fn pop_front_n(&mut self, n: usize, mut f: impl FnMut(StrRef<'_>)) -> usize {
        let n = n.min(self.len);
        let mut left = n;
        while left > 0 {
            let Some(node) = self.nodes.front_mut() else {
                break;
            };
            let take = left.min(node.count as usize);
            let mut off = 0;
            for _ in 0..take {
                let (s, next) = entry_at(&node.buf, off);
                f(s);
                off = next;
            }
            if take == node.count as usize {
                self.nodes.pop_front();
            } else {
                node.remove(0, off, take as u32);
            }
            left -= take;
        }
        self.len -= n;
        n
    }

    /// Removes up to `n` elements from the tail, handing each to `f` in
    /// order (tail first). Returns how many.
    pub fn pop_back_n(&mut self, n: usize, mut f: impl FnMut(StrRef<'_>)) -> usize {
        let n = n.min(self.len);
        let mut left = n;
        while left > 0 {
            let Some(node) = self.nodes.back_mut() else {
                break;
            };
            let take = left.min(node.count as usize);
            let mut end = node.buf.len();
            for _ in 0..take {
                end = entry_before(&node.buf, end);
                f(entry_at(&node.buf, end).0);
            }
            if take == node.count as usize {
                self.nodes.pop_back();
            } else {
                let len = node.buf.len();
                node.remove(end, len, take as u32);
            }
            left -= take;
        }
        self.len -= n;
        n
    }

    /// The head element.
    pub fn front(&self) -> Option<StrRef<'_>> {
        self.nodes.front().map(Node::first)
    }

    /// The tail element.
    pub fn back(&self) -> Option<StrRef<'_>> {
        self.nodes.back().map(Node::last)
    }

    /// Normalises a Redis index (negative: from the tail) to 0..len.
    pub fn index(&self, index: i64) -> Option<usize> {
        let len = self.len as i64;
        let i = if index < 0 {
            index.checked_add(len)?
        } else {
            index
        };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The element at `index` (negative: from the tail), as LINDEX reads it.
    pub fn get(&self, index: i64) -> Option<StrRef<'_>> {
        let i = self.index(index)?;
        let (ni, off) = self.locate(i);
        Some(entry_at(&self.nodes[ni].buf, off).0)
    }

    /// Replaces the element at `index` (negative: from the tail); false when
    /// the index is out of range.
    pub fn set(&mut self, index: i64, v: &[u8]) -> bool {
        let Some(i) = self.index(index) else {
            return false;
        };
        let (ni, off) = self.locate(i);
        let e = Encoded::new(elem(v));
        let node = &mut self.nodes[ni];
        let end = entry_at(&node.buf, off).1;
        node.remove(off, end, 1);
        node.insert(off, &e);
        self.rebalance(ni);
        true
    }

    /// (node, byte offset) of element `i` in 0..=len (len: the end).
    fn locate(&self, i: usize) -> (usize, usize) {
        if self.nodes.is_empty() {
            return (0, 0);
        }
        if i >= self.len {
            let last = self.nodes.len() - 1;
            return (last, self.nodes[last].buf.len());
        }
        if i < self.len / 2 {
            let mut rest = i;
            for (ni, n) in self.nodes.iter().enumerate() {
                let c = n.count as usize;
                if rest < c {
                    return (ni, n.offset_of(rest));
                }
                rest -= c;
            }
        } else {
            // Elements after `i`, counted from the tail.
            let mut after = self.len - i;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                let c = n.count as usize;
                if after <= c {
                    return (ni, n.offset_of(c - after));
                }
                after -= c;
            }
        }
        (0, 0)
    }

    /// Every element, head to tail (reversible).
    pub fn iter(&self) -> Iter<'_> {
        self.range(0, self.len)
    }

    /// Elements `start..end` (clamped to the list), head to tail.
    pub fn range(&self, start: usize, end: usize) -> Iter<'_> {
        let end = end.min(self.len);
        let start = start.min(end);
        let (fnode, foff) = self.locate(start);
        let (bnode, boff) = self.locate(end);
        Iter {
            list: self,
            fnode,
            foff,
            bnode,
            boff,
            remaining: end - start,
        }
    }

    /// Splits node `ni` in halves, repeatedly, until every piece is within
    /// the limits or holds a single element.
    fn rebalance(&mut self, ni: usize) {
        let limits = node_limits();
        let mut i = ni;
        let mut stop = ni;
        while i <= stop {
            if !self.nodes[i].exceeds(limits) {
                i += 1;
                continue;
            }
            let node = &mut self.nodes[i];
            let half = node.buf.len() / 2;
            let (mut off, mut k) = (0, 0u32);
            while k + 1 < node.count {
                off = entry_at(&node.buf, off).1;
                k += 1;
                if off >= half {
                    break;
                }
            }
            let tail = Node {
                buf: node.buf[off..].to_vec(),
                count: node.count - k,
            };
            node.buf.truncate(off);
            node.buf.shrink_to(round16(off));
            node.count = k;
            self.nodes.insert(i + 1, tail);
            stop += 1;
        }
    }

    /// Inserts `v` before or after the first element equal to `pivot`;
    /// false when there is none (LINSERT).
    pub fn insert(&mut self, pivot: &[u8], v: &[u8], after: bool) -> bool {
        let pivot = elem(pivot);
        let mut found = None;
        'outer: for (ni, n) in self.nodes.iter().enumerate() {
            let mut off = 0;
            while off < n.buf.len() {
                let (s, next) = entry_at(&n.buf, off);
                if s == pivot {
                    found = Some((ni, if after { next } else { off }));
                    break 'outer;
                }
                off = next;
            }
        }
        let Some((ni, off)) = found else {
            return false;
        };
        let e = Encoded::new(elem(v));
        self.nodes[ni].insert(off, &e);
        self.len += 1;
        self.rebalance(ni);
        true
    }

    /// Removes elements equal to `v`: all of them when `count` is 0, the
    /// first `count` from the head when positive, from the tail when
    /// negative (LREM). Returns how many.
    pub fn remove(&mut self, v: &[u8], count: i64) -> usize {
        let target = elem(v);
        let limit = if count == 0 {
            usize::MAX
        } else {
            usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX)
        };
        let removed = if count >= 0 {
            self.remove_forward(target, limit)
        } else {
            self.remove_backward(target, limit)
        };
        self.len -= removed;
        removed
    }

    fn remove_forward(&mut self, target: StrRef<'_>, limit: usize) -> usize {
        let mut removed = 0;
        let mut ni = 0;
        while ni < self.nodes.len() && removed < limit {
            let node = &mut self.nodes[ni];
            let mut off = 0;
            while off < node.buf.len() && removed < limit {
                let (s, next) = entry_at(&node.buf, off);
                if s == target {
                    node.remove(off, next, 1);
                    removed += 1;
                } else {
                    off = next;
                }
            }
            if node.count == 0 {
                self.nodes.remove(ni);
            } else {
                ni += 1;
            }
        }
        removed
    }

    fn remove_backward(&mut self, target: StrRef<'_>, limit: usize) -> usize {
        let mut removed = 0;
        let mut ni = self.nodes.len();
        while ni > 0 && removed < limit {
            ni -= 1;
            let node = &mut self.nodes[ni];
            let mut end = node.buf.len();
            while end > 0 && removed < limit {
                let start = entry_before(&node.buf, end);
                if entry_at(&node.buf, start).0 == target {
                    node.remove(start, end, 1);
                    removed += 1;
                }
                end = start;
            }
            if node.count == 0 {
                self.nodes.remove(ni);
            }
        }
        removed
    }

    /// Keeps only elements `start..end` (LTRIM, indexes already clamped by
    /// the caller; an empty range empties the list).
    pub fn retain_range(&mut self, start: usize, end: usize) {
        let end = end.min(self.len);
        let start = start.min(end);
        let tail = self.len - end;
        self.drop_front(start);
        self.drop_back(tail);
    }

    /// Drops `n` elements from the head: whole nodes without decoding
    /// them, then part of one node.
    fn drop_front(&mut self, n: usize) {
        let mut left = n.min(self.len);
        self.len -= left;
        while let Some(node) = self.nodes.front_mut() {
            let c = node.count as usize;
            if left < c {
                if left > 0 {
                    let off = node.offset_of(left);
                    node.remove(0, off, left as u32);
                }
                return;
            }
            left -= c;
            self.nodes.pop_front();
        }
    }

    /// Drops `n` elements from the tail, as [`List::drop_front`] does.
    fn drop_back(&mut self, n: usize) {
        let mut left = n.min(self.len);
        self.len -= left;
        while let Some(node) = self.nodes.back_mut() {
            let c = node.count as usize;
            if left < c {
                if left > 0 {
                    let off = node.offset_of(c - left);
                    let end = node.buf.len();
                    node.remove(off, end, left as u32);
                }
                return;
            }
            left -= c;
            self.nodes.pop_back();
        }
    }

    /// Position of matches of `v` for LPOS: scanning from the head (or from
    /// the tail when `rank` is negative), skipping the first |rank|-1
    /// matches, looking at no more than `maxlen` elements (0: all), calling
    /// `f` with the index of each match until it returns false.
    pub fn positions(&self, v: &[u8], rank: i64, maxlen: usize, mut f: impl FnMut(usize) -> bool) {
        let target = elem(v);
        let skip = rank.unsigned_abs().saturating_sub(1);
        let maxlen = if maxlen == 0 { usize::MAX } else { maxlen };
        let mut matches = 0u64;
        let mut visit = |i: usize, s: StrRef<'_>| -> bool {
            if s == target {
                matches += 1;
                if matches > skip {
                    return f(i);
                }
            }
            true
        };
        if rank >= 0 {
            for (i, s) in self.iter().enumerate().take(maxlen) {
                if !visit(i, s) {
                    return;
                }
            }
        } else {
            let last = self.len.wrapping_sub(1);
            for (j, s) in self.iter().rev().enumerate().take(maxlen) {
                if !visit(last - j, s) {
                    return;
                }
            }
        }
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|s| String::from_utf8_lossy(&s.to_vec()).into_owned()),
            )
            .finish()
    }
}

/// Iterates a list's elements (both ways) as [`StrRef`]s; no allocation.
pub struct Iter<'a> {
    list: &'a List,
    fnode: usize,
    foff: usize,
    bnode: usize,
    boff: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = StrRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<StrRef<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let nodes = &self.list.nodes;
        while self.foff >= nodes[self.fnode].buf.len() {
            self.fnode += 1;
            self.foff = 0;
        }
        let (s, next) = entry_at(&nodes[self.fnode].buf, self.foff);
        self.foff = next;
        self.remaining -= 1;
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    #[inline]
    fn next_back(&mut self) -> Option<StrRef<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let nodes = &self.list.nodes;
        while self.boff == 0 {
            self.bnode -= 1;
            self.boff = nodes[self.bnode].buf.len();
        }
        let buf = &nodes[self.bnode].buf;
        let start = entry_before(buf, self.boff);
        self.boff = start;
        self.remaining -= 1;
        Some(entry_at(buf, start).0)
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(l: &List) -> Vec<String> {
        l.iter()
            .map(|s| String::from_utf8(s.to_vec()).unwrap_or_default())
            .collect()
    }

    fn check(l: &List, model: &VecDeque<Vec<u8>>) {
        assert_eq!(l.len(), model.len());
        let got: Vec<Vec<u8>> = l.iter().map(|s| s.to_vec()).collect();
        let want: Vec<Vec<u8>> = model.iter().cloned().collect();
        assert_eq!(got, want);
        let rev: Vec<Vec<u8>> = l.iter().rev().map(|s| s.to_vec()).collect();
        let want_rev: Vec<Vec<u8>> = model.iter().rev().cloned().collect();
        assert_eq!(rev, want_rev);
        let counted: usize = l.nodes.iter().map(|n| n.count as usize).sum();
        assert_eq!(counted, l.len());
        assert!(l.nodes.iter().all(|n| n.count > 0));
    }

    #[test]
    fn varints_round_trip() {
        for n in [0, 1, -1, 31, -32, 32, 1000, -1000, i64::MAX, i64::MIN] {
            let mut h = [0u8; MAX_VARINT];
            let hl = write_head(&mut h, true, zigzag(n));
            let (is_int, v, used) = read_head(&h);
            assert!(is_int);
            assert_eq!(used, hl);
            assert_eq!(unzigzag(v), n);
        }
        for v in [0usize, 1, 127, 128, 300, 1 << 20, 1 << 35] {
            let mut b = [0u8; MAX_VARINT];
            let bl = write_back(&mut b, v as u64);
            assert_eq!(bl, back_len_of(v));
            assert_eq!(read_back(&b, bl), (v, bl));
        }
    }

    #[test]
    fn push_pop_both_ends() {
        let mut l = List::new();
        l.push_back(b"b");
        l.push_front(b"a");
        l.push_back(b"123");
        l.push_back(b"-0");
        assert_eq!(strings(&l), ["a", "b", "123", "-0"]);
        assert_eq!(l.get(2), Some(StrRef::Int(123)));
        assert_eq!(l.get(-1), Some(StrRef::Bytes(b"-0")));
        assert_eq!(l.get(4), None);
        assert_eq!(l.get(-5), None);
        assert_eq!(l.get(i64::MIN), None);
        assert_eq!(l.pop_front(), Some(b"a".to_vec()));
        assert_eq!(l.pop_back(), Some(b"-0".to_vec()));
        assert_eq!(l.pop_back(), Some(b"123".to_vec()));
        assert_eq!(l.pop_back(), Some(b"b".to_vec()));
        assert_eq!(l.pop_back(), None);
        assert!(l.is_empty());
        assert_eq!(l.node_count(), 0);
    }

    #[test]
    fn model_check_many_ops() {
        let mut l = List::new();
        let mut m: VecDeque<Vec<u8>> = VecDeque::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for step in 0..20_000 {
            let v: Vec<u8> = match rng.u8(0..4) {
                0 => rng.i64(-1000..1000).to_string().into_bytes(),
                1 => vec![b'x'; rng.usize(0..40)],
                2 => vec![b'y'; rng.usize(0..3000)],
                _ => format!("e{}", rng.u32(0..50)).into_bytes(),
            };
            match rng.u8(0..10) {
                0 | 1 => {
                    l.push_back(&v);
                    m.push_back(v);
                }
                2 | 3 => {
                    l.push_front(&v);
                    m.push_front(v);
                }
                4 => assert_eq!(l.pop_front(), m.pop_front()),
                5 => assert_eq!(l.pop_back(), m.pop_back()),
                6 if !m.is_empty() => {
                    let i = rng.usize(0..m.len());
                    assert!(l.set(i as i64, &v));
                    m[i] = v;
                }
                7 if !m.is_empty() => {
                    let i = rng.usize(0..m.len());
                    let pivot = m[i].clone();
                    let at = m.iter().position(|x| *x == pivot).unwrap_or(0);
                    let after = rng.bool();
                    assert!(l.insert(&pivot, &v, after));
                    m.insert(if after { at + 1 } else { at }, v);
                }
                8 if step % 50 == 0 => {
                    let target = format!("e{}", rng.u32(0..50)).into_bytes();
                    let count = rng.i64(-3..4);
                    let got = l.remove(&target, count);
                    let mut removed = 0;
                    if count >= 0 {
                        let limit = if count == 0 {
                            usize::MAX
                        } else {
                            count as usize
                        };
                        let mut i = 0;
                        while i < m.len() && removed < limit {
                            if m[i] == target {
                                m.remove(i);
                                removed += 1;
                            } else {
                                i += 1;
                            }
                        }
                    } else {
                        let limit = count.unsigned_abs() as usize;
                        let mut i = m.len();
                        while i > 0 && removed < limit {
                            i -= 1;
                            if m[i] == target {
                                m.remove(i);
                                removed += 1;
                            }
                        }
                    }
                    assert_eq!(got, removed);
                }
                9 if step % 200 == 0 && !m.is_empty() => {
                    let a = rng.usize(0..m.len());
                    let b = rng.usize(a..=m.len());
                    l.retain_range(a, b);
                    m = m.iter().skip(a).take(b - a).cloned().collect();
                }
                _ => {}
            }
            if step % 97 == 0 {
                check(&l, &m);
                if !m.is_empty() {
                    let i = rng.usize(0..m.len());
                    assert_eq!(l.get(i as i64).map(|s| s.to_vec()), Some(m[i].clone()));
                    let j = rng.usize(i..=m.len());
                    let got: Vec<Vec<u8>> = l.range(i, j).map(|s| s.to_vec()).collect();
                    let want: Vec<Vec<u8>> = m.iter().skip(i).take(j - i).cloned().collect();
                    assert_eq!(got, want);
                    let back: Vec<Vec<u8>> = l.range(i, j).rev().map(|s| s.to_vec()).collect();
                    assert_eq!(back, want.into_iter().rev().collect::<Vec<_>>());
                }
            }
        }
        check(&l, &m);
    }

    #[test]
    fn nodes_are_bounded() {
        let mut l = List::new();
        for i in 0..10_000 {
            l.push_back(format!("element-{i}").as_bytes());
        }
        assert!(l.nodes.iter().all(|n| n.buf.len() <= 8192));
        assert!(l.node_count() < 40, "{}", l.node_count());
        let mut big = List::new();
        big.push_back(&vec![b'z'; 20_000]);
        big.push_back(b"a");
        big.push_front(b"b");
        assert_eq!(big.node_count(), 3);
        assert!(big.insert(b"a", &vec![b'q'; 9000], false));
        assert_eq!(big.len(), 4);
        assert!(big
            .nodes
            .iter()
            .all(|n| n.count == 1 || n.buf.len() <= 8192));
    }

    #[test]
    fn small_lists_are_compact() {
        let mut l = List::new();
        for i in 0..10 {
            l.push_back(format!("value:{i}").as_bytes());
        }
        assert_eq!(l.node_count(), 1);
        assert!(l.heap_size() <= 32 + 128, "{}", l.heap_size());
    }

    #[test]
    fn positions_follow_lpos() {
        let mut l = List::new();
        for v in ["a", "b", "c", "1", "2", "3", "c", "c"] {
            l.push_back(v.as_bytes());
        }
        let all = |rank, maxlen| {
            let mut v = Vec::new();
            l.positions(b"c", rank, maxlen, |i| {
                v.push(i);
                true
            });
            v
        };
        assert_eq!(all(1, 0), [2, 6, 7]);
        assert_eq!(all(2, 0), [6, 7]);
        assert_eq!(all(-1, 0), [7, 6, 2]);
        assert_eq!(all(-3, 0), [2]);
        assert_eq!(all(1, 3), [2]);
        assert_eq!(all(-1, 1), [7]);
    }
}
