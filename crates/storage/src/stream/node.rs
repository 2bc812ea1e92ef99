//! One node of a stream: a listpack in the layout Redis keeps its stream
//! nodes in, so that the bytes go to an RDB file as they are and a node
//! fills up at the same entry as a Redis node would.
//!
//! # The listpack
//!
//! Total bytes (u32 LE), element count (u16 LE, 65535 once there are that
//! many or more), the elements, and a 0xFF terminator. An element is an
//! encoding byte (or two, or five), its data, and a back-length: the size
//! of encoding and data, 7 bits a byte, readable from its end. Integers
//! take the smallest of: 0..=127 in the encoding byte itself, 13 bits in
//! two bytes, or 16, 24, 32 or 64 bits after a tag byte. A string that is
//! the canonical text of an i64 is stored as that integer (as Redis's
//! listpack does); any other has a 6-bit, 12-bit or 32-bit length.
//!
//! # The node
//!
//! A node's key (in the stream's ordered map) is its *master ID*, the ID
//! of the first entry ever put in it. The first elements are the *master
//! entry*: `count` (live entries), `deleted` (entries marked deleted),
//! the number of master fields, the master fields (the field names of the
//! first entry), and a `0` terminator. Each entry follows as
//!
//! ```text
//! flags ms-diff seq-diff [num-fields field value ...] lp-count   (own fields)
//! flags ms-diff seq-diff value ...                   lp-count   (SAMEFIELDS)
//! ```
//!
//! where the diffs are the entry's ID less the master ID, SAMEFIELDS
//! (flag 2) says the entry has exactly the master fields in order (only
//! the values are stored), DELETED (flag 1) marks an entry XDEL or an
//! exact trim removed (it stays in the node until the whole node goes),
//! and `lp-count` is the number of elements of the entry before it.
//!
//! Nodes are built and changed only here, and a node read from a file is
//! checked entry by entry before it is kept ([`Node::check`]), so the
//! walks below trust the layout; they still never index past the buffer
//! (a bad element reads as the end).

use crate::value::parse_canonical_i64;
use crate::StrRef;

use super::StreamId;

/// Entry flag: removed by XDEL or an exact trim.
pub(super) const FLAG_DELETED: i64 = 1;
/// Entry flag: the entry has the master entry's fields.
pub(super) const FLAG_SAMEFIELDS: i64 = 2;

const HEADER: usize = 6;
const END: u8 = 0xFF;
const UNKNOWN_COUNT: u16 = u16::MAX;

/// A stream node: one listpack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Node {
    buf: Vec<u8>,
}

/// The master entry of a node, as read.
pub(super) struct Master<'a> {
    /// Live entries.
    pub count: i64,
    /// Entries marked deleted.
    pub deleted: i64,
    pub fields: Vec<StrRef<'a>>,
    /// Where the `count` and `deleted` elements start.
    count_at: usize,
    /// Where the first entry starts.
    pub first_entry: usize,
}

/// One entry's place and header, without its fields decoded.
#[derive(Clone, Copy, Debug)]
pub(super) struct RawEntry {
    pub id: StreamId,
    pub flags: i64,
    /// Where its flags element starts.
    pub at: usize,
    /// Where its num-fields element (own fields) or first value
    /// (SAMEFIELDS) starts.
    body: usize,
    /// Where the next entry starts.
    pub next: usize,
}

impl RawEntry {
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }
}

// ---------------------------------------------------------------------------
// Elements.

/// Bytes of the back-length for an element of `len` bytes.
fn backlen_size(len: usize) -> usize {
    match len {
        0..128 => 1,
        128..16384 => 2,
        16384..2097152 => 3,
        2097152..268435456 => 4,
        _ => 5,
    }
}

/// Appends the back-length of an element of `len` bytes: the most
/// significant 7-bit group first, every byte after the first with its top
/// bit set, so that it reads from its last byte backwards.
fn put_backlen(out: &mut Vec<u8>, len: usize) {
    let n = backlen_size(len);
    for i in (0..n).rev() {
        let group = ((len >> (7 * i)) & 0x7f) as u8;
        out.push(if i == n - 1 { group } else { group | 0x80 });
    }
}

/// Appends an integer element in its smallest encoding.
fn put_int(out: &mut Vec<u8>, v: i64) {
    let start = out.len();
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u16) & 0x1fff;
        out.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
    } else if let Ok(x) = i16::try_from(v) {
        out.push(0xF1);
        out.extend_from_slice(&x.to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        out.push(0xF2);
        out.extend_from_slice(&v.to_le_bytes()[..3]);
    } else if let Ok(x) = i32::try_from(v) {
        out.push(0xF3);
        out.extend_from_slice(&x.to_le_bytes());
    } else {
        out.push(0xF4);
        out.extend_from_slice(&v.to_le_bytes());
    }
    let len = out.len() - start;
    put_backlen(out, len);
}

/// Appends a string element (an integer element for canonical integer
/// text).
fn put_str(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() <= 20 {
        if let Some(n) = parse_canonical_i64(b) {
            put_int(out, n);
            return;
        }
    }
    let start = out.len();
    let n = b.len();
    if n < 64 {
        out.push(0x80 | n as u8);
    } else if n < 4096 {
        out.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    out.extend_from_slice(b);
    let len = out.len() - start;
    put_backlen(out, len);
}

/// Sign-extends the low `bits` bits of `v`.
fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Reads a little-endian unsigned integer of up to 8 bytes.
fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |acc, &x| acc << 8 | u64::from(x))
}

/// The element at `at`: its value and where the next element starts.
/// None at the terminator or past a malformed element.
pub(super) fn element(buf: &[u8], at: usize) -> Option<(StrRef<'_>, usize)> {
    let b = *buf.get(at)?;
    let slice = |from: usize, n: usize| buf.get(from..from.checked_add(n)?);
    let (size, v) = if b & 0x80 == 0 {
        (1, StrRef::Int(i64::from(b)))
    } else if b & 0xC0 == 0x80 {
        let n = usize::from(b & 0x3f);
        (1 + n, StrRef::Bytes(slice(at + 1, n)?))
    } else if b & 0xE0 == 0xC0 {
        let lo = *buf.get(at + 1)?;
        let raw = u64::from(b & 0x1f) << 8 | u64::from(lo);
        (2, StrRef::Int(sign_extend(raw, 13)))
    } else if b & 0xF0 == 0xE0 {
        let lo = *buf.get(at + 1)?;
        let n = usize::from(b & 0x0f) << 8 | usize::from(lo);
        (2 + n, StrRef::Bytes(slice(at + 2, n)?))
    } else {
        match b {
            0xF0 => {
                let n = usize::try_from(le(slice(at + 1, 4)?)).ok()?;
                (5usize.checked_add(n)?, StrRef::Bytes(slice(at + 5, n)?))
            }
            0xF1 => (3, StrRef::Int(sign_extend(le(slice(at + 1, 2)?), 16))),
            0xF2 => (4, StrRef::Int(sign_extend(le(slice(at + 1, 3)?), 24))),
            0xF3 => (5, StrRef::Int(sign_extend(le(slice(at + 1, 4)?), 32))),
            0xF4 => (9, StrRef::Int(le(slice(at + 1, 8)?) as i64)),
            _ => return None,
        }
    };
    let next = at.checked_add(size)?.checked_add(backlen_size(size))?;
    (next < buf.len()).then_some((v, next))
}

/// The element at `at` as an integer (text that is not one reads as None).
fn int_at(buf: &[u8], at: usize) -> Option<(i64, usize)> {
    let (v, next) = element(buf, at)?;
    let n = match v {
        StrRef::Int(n) => n,
        StrRef::Bytes(b) => parse_canonical_i64(b)?,
    };
    Some((n, next))
}

// ---------------------------------------------------------------------------
// Nodes.

impl Node {
    /// A node whose first entry is `id` with `pairs` (the master fields
    /// are its field names).
    pub fn new(id: StreamId, pairs: &[(&[u8], &[u8])]) -> Node {
        let mut buf = Vec::with_capacity(HEADER + 16 + pairs.len() * 16);
        buf.extend_from_slice(&[0; HEADER]);
        put_int(&mut buf, 1);
        put_int(&mut buf, 0);
        put_int(&mut buf, pairs.len() as i64);
        for (f, _) in pairs {
            put_str(&mut buf, f);
        }
        put_int(&mut buf, 0);
        let elements = 4 + pairs.len();
        buf.push(END);
        let mut node = Node { buf };
        node.set_header(elements);
        node.push_entry(id, id, FLAG_SAMEFIELDS, pairs);
        node
    }

    /// A node holding `bytes` as they are (from an RDB file), after
    /// [`Node::check`].
    pub fn from_bytes(bytes: Vec<u8>) -> Node {
        Node { buf: bytes }
    }

    /// The listpack's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Heap bytes held.
    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }

    fn element_count(&self) -> u16 {
        u16::from_le_bytes([self.buf[4], self.buf[5]])
    }

    /// Writes the total size and the element count `n` into the header.
    fn set_header(&mut self, n: usize) {
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = u16::try_from(n).unwrap_or(UNKNOWN_COUNT);
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
    }

    /// The master entry; None for a malformed node.
    pub fn master(&self) -> Option<Master<'_>> {
        let buf = &self.buf;
        let count_at = HEADER;
        let (count, at) = int_at(buf, count_at)?;
        let (deleted, at) = int_at(buf, at)?;
        let (nfields, mut at) = int_at(buf, at)?;
        let nfields = usize::try_from(nfields).ok()?;
        let mut fields = Vec::with_capacity(nfields.min(buf.len()));
        for _ in 0..nfields {
            let (f, next) = element(buf, at)?;
            fields.push(f);
            at = next;
        }
        let (zero, first_entry) = int_at(buf, at)?;
        (zero == 0).then_some(Master {
            count,
            deleted,
            fields,
            count_at,
            first_entry,
        })
    }

    /// The entry starting at `at` (headers only); None at the end.
    pub fn entry_at(&self, master_id: StreamId, nfields: usize, at: usize) -> Option<RawEntry> {
        let buf = &self.buf;
        let (flags, p) = int_at(buf, at)?;
        let (ms, p) = int_at(buf, p)?;
        let (seq, body) = int_at(buf, p)?;
        let mut p = body;
        let skip = if flags & FLAG_SAMEFIELDS != 0 {
            nfields
        } else {
            let (n, q) = int_at(buf, p)?;
            p = q;
            usize::try_from(n).ok()?.checked_mul(2)?
        };
        for _ in 0..skip {
            p = element(buf, p)?.1;
        }
        let (_, next) = element(buf, p)?;
        let id = StreamId {
            ms: master_id.ms.wrapping_add(ms as u64),
            seq: master_id.seq.wrapping_add(seq as u64),
        };
        Some(RawEntry {
            id,
            flags,
            at,
            body,
            next,
        })
    }

    /// Every entry of the node (deleted ones included), in order.
    pub fn entries(&self, master_id: StreamId) -> Vec<RawEntry> {
        let Some(m) = self.master() else {
            return Vec::new();
        };
        let n = m.fields.len();
        let mut out = Vec::new();
        let mut at = m.first_entry;
        while let Some(e) = self.entry_at(master_id, n, at) {
            at = e.next;
            out.push(e);
        }
        out
    }

    /// The field/value pairs of `e`.
    pub fn fields<'a>(
        &'a self,
        master: &Master<'a>,
        e: &RawEntry,
    ) -> Vec<(StrRef<'a>, StrRef<'a>)> {
        let buf = &self.buf;
        let mut out = Vec::new();
        let mut at = e.body;
        if e.flags & FLAG_SAMEFIELDS != 0 {
            for f in &master.fields {
                let Some((v, next)) = element(buf, at) else {
                    break;
                };
                out.push((*f, v));
                at = next;
            }
        } else {
            let Some((n, mut p)) = int_at(buf, at) else {
                return out;
            };
            for _ in 0..n.max(0) {
                let Some((f, q)) = element(buf, p) else {
                    break;
                };
                let Some((v, r)) = element(buf, q) else {
                    break;
                };
                out.push((f, v));
                p = r;
            }
        }
        out
    }

    /// Appends entry `id` to the node (the caller has updated the master
    /// count).
    fn push_entry(
        &mut self,
        master_id: StreamId,
        id: StreamId,
        flags: i64,
        pairs: &[(&[u8], &[u8])],
    ) {
        let before = usize::from(self.element_count());
        self.buf.pop();
        put_int(&mut self.buf, flags);
        put_int(&mut self.buf, id.ms.wrapping_sub(master_id.ms) as i64);
        put_int(&mut self.buf, id.seq.wrapping_sub(master_id.seq) as i64);
        let mut elements = 3;
        if flags & FLAG_SAMEFIELDS != 0 {
            for (_, v) in pairs {
                put_str(&mut self.buf, v);
            }
            elements += pairs.len();
        } else {
            put_int(&mut self.buf, pairs.len() as i64);
            for (f, v) in pairs {
                put_str(&mut self.buf, f);
                put_str(&mut self.buf, v);
            }
            elements += 1 + 2 * pairs.len();
        }
        put_int(&mut self.buf, elements as i64);
        self.buf.push(END);
        let n = if before == usize::from(UNKNOWN_COUNT) {
            usize::from(UNKNOWN_COUNT)
        } else {
            before + elements + 1
        };
        self.set_header(n);
    }

    /// Appends entry `id` (greater than every ID in the node), sharing the
    /// master fields when it has exactly them.
    pub fn append(&mut self, master_id: StreamId, id: StreamId, pairs: &[(&[u8], &[u8])]) {
        let (same, count, count_at) = match self.master() {
            Some(m) => {
                let same = m.fields.len() == pairs.len()
                    && m.fields
                        .iter()
                        .zip(pairs)
                        .all(|(f, (g, _))| same_bytes(*f, g));
                (same, m.count, m.count_at)
            }
            None => return,
        };
        self.replace_int(count_at, count + 1);
        let flags = if same { FLAG_SAMEFIELDS } else { 0 };
        self.push_entry(master_id, id, flags, pairs);
    }

    /// Replaces the integer element at `at` by `v`, moving what follows
    /// when the new encoding has another size.
    fn replace_int(&mut self, at: usize, v: i64) {
        let Some((_, next)) = element(&self.buf, at) else {
            return;
        };
        let mut enc = Vec::with_capacity(10);
        put_int(&mut enc, v);
        self.buf.splice(at..next, enc);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
    }

    /// Marks the entry at `e` deleted and moves one from the master's
    /// count to its deleted count. Returns the live entries left.
    pub fn mark_deleted(&mut self, e: &RawEntry) -> i64 {
        self.replace_int(e.at, e.flags | FLAG_DELETED);
        self.adjust_counts(1)
    }

    /// Moves `n` entries from the master's live count to its deleted
    /// count; returns the live entries left.
    pub fn adjust_counts(&mut self, n: i64) -> i64 {
        let Some(m) = self.master() else {
            return 0;
        };
        let (count, deleted, at) = (m.count - n, m.deleted + n, m.count_at);
        self.replace_int(at, count);
        if let Some((_, next)) = element(&self.buf, at) {
            self.replace_int(next, deleted);
        }
        count
    }

    /// Marks the entry at `e` deleted without touching the counts (a
    /// trim that fixes the counts once at the end).
    pub fn set_deleted_flag(&mut self, e: &RawEntry) {
        self.replace_int(e.at, e.flags | FLAG_DELETED);
    }

    /// Live plus deleted entries (what fills a node up).
    pub fn total_entries(&self) -> i64 {
        self.master().map_or(0, |m| m.count + m.deleted)
    }

    /// Live entries.
    pub fn live(&self) -> i64 {
        self.master().map_or(0, |m| m.count)
    }

    /// Checks a node read from a file against `master_id`: a well-formed
    /// listpack (every element in bounds, the right size and count),
    /// a master entry, entries whose IDs rise above `after` and whose
    /// lp-counts, field counts and flags agree with the layout, and a
    /// master count and deleted count that match them. Returns the live
    /// entries and the last entry's ID (deleted or not).
    pub fn check(&self, master_id: StreamId, after: Option<StreamId>) -> Option<(i64, StreamId)> {
        let buf = &self.buf;
        if buf.len() < HEADER + 1 || *buf.last()? != END {
            return None;
        }
        if usize::try_from(u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]])).ok()? != buf.len()
        {
            return None;
        }
        // Every element walks cleanly to the terminator, and the count
        // (unless "unknown") matches.
        let mut at = HEADER;
        let mut n = 0usize;
        while at < buf.len() - 1 {
            let (_, next) = element(buf, at)?;
            check_backlen(buf, at, next)?;
            at = next;
            n += 1;
        }
        let declared = self.element_count();
        if declared != UNKNOWN_COUNT && usize::from(declared) != n {
            return None;
        }
        let m = self.master()?;
        if m.count < 0 || m.deleted < 0 {
            return None;
        }
        let nf = m.fields.len();
        let (mut live, mut dead) = (0i64, 0i64);
        let mut prev = after;
        let mut last = None;
        let mut at = m.first_entry;
        while at < buf.len() - 1 {
            let e = self.entry_at(master_id, nf, at)?;
            // Flags in their one-byte form, as Redis writes them: marking
            // an entry deleted then rewrites it in place.
            if e.flags & !(FLAG_DELETED | FLAG_SAMEFIELDS) != 0 || element(buf, e.at)?.1 != e.at + 2
            {
                return None;
            }
            if prev.is_some_and(|p| e.id <= p) || e.id < master_id {
                return None;
            }
            // lp-count: the elements of the entry before it.
            let (lp_count, _) = self.lp_count_of(&e)?;
            let (fields, expect) = if e.flags & FLAG_SAMEFIELDS != 0 {
                (nf, nf + 3)
            } else {
                let (k, _) = int_at(buf, e.body)?;
                let k = usize::try_from(k).ok()?;
                (k, 2 * k + 4)
            };
            if fields == 0 || lp_count != expect as i64 {
                return None;
            }
            if e.deleted() {
                dead += 1;
            } else {
                live += 1;
            }
            prev = Some(e.id);
            last = Some(e.id);
            at = e.next;
        }
        if live != m.count || dead != m.deleted || live + dead == 0 {
            return None;
        }
        Some((live, last?))
    }

    /// The lp-count element of `e` and where it starts.
    fn lp_count_of(&self, e: &RawEntry) -> Option<(i64, usize)> {
        // The lp-count is the last element before `e.next`: walk to it.
        let mut at = e.at;
        let mut last = at;
        while at < e.next {
            last = at;
            at = element(&self.buf, at)?.1;
        }
        Some((int_at(&self.buf, last)?.0, last))
    }
}

/// Checks that the back-length of the element `at..next` is the one its
/// size calls for.
fn check_backlen(buf: &[u8], at: usize, next: usize) -> Option<()> {
    let mut b = Vec::with_capacity(5);
    // Size of encoding and data: from `at` to where the back-length starts.
    let total = next - at;
    // Find the size s with s + backlen_size(s) == total.
    let size = (1..=5)
        .map(|k| total.checked_sub(k))
        .find_map(|s| s.filter(|&s| backlen_size(s) == total - s))?;
    put_backlen(&mut b, size);
    (buf.get(at + size..next)? == b.as_slice()).then_some(())
}

fn same_bytes(a: StrRef<'_>, b: &[u8]) -> bool {
    match a {
        StrRef::Bytes(x) => x == b,
        StrRef::Int(n) => itoa::Buffer::new().format(n).as_bytes() == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    #[test]
    fn integers_round_trip_in_their_smallest_encoding() {
        for (v, size) in [
            (0i64, 1usize),
            (127, 1),
            (128, 2),
            (-1, 2),
            (-4096, 2),
            (4095, 2),
            (4096, 3),
            (-32768, 3),
            (32767, 3),
            (32768, 4),
            (-(1 << 23), 4),
            ((1 << 23) - 1, 4),
            (1 << 23, 5),
            (i64::from(i32::MIN), 5),
            (i64::from(i32::MAX) + 1, 9),
            (i64::MIN, 9),
            (i64::MAX, 9),
        ] {
            let mut b = vec![0u8; 6];
            put_int(&mut b, v);
            b.push(END);
            assert_eq!(b.len() - 7, size + 1, "{v}");
            let (got, next) = element(&b, 6).expect("element");
            assert_eq!(got, StrRef::Int(v));
            assert_eq!(next, b.len() - 1);
        }
    }

    #[test]
    fn strings_round_trip() {
        for n in [0usize, 1, 63, 64, 200, 4095, 4096, 70000] {
            let s = vec![b'x'; n];
            let mut b = vec![0u8; 6];
            put_str(&mut b, &s);
            b.push(END);
            let (got, next) = element(&b, 6).expect("element");
            assert_eq!(got, StrRef::Bytes(&s));
            assert_eq!(next, b.len() - 1);
            check_backlen(&b, 6, next).expect("backlen");
        }
        let mut b = vec![0u8; 6];
        put_str(&mut b, b"-42");
        b.push(END);
        assert_eq!(element(&b, 6).map(|e| e.0), Some(StrRef::Int(-42)));
    }

    #[test]
    fn nodes_share_master_fields() {
        let mut n = Node::new(id(5, 0), &[(b"a", b"1"), (b"b", b"x")]);
        n.append(id(5, 0), id(5, 1), &[(b"a", b"2"), (b"b", b"y")]);
        n.append(id(5, 0), id(7, 0), &[(b"c", b"3")]);
        let m = n.master().expect("master");
        assert_eq!((m.count, m.deleted, m.fields.len()), (3, 0, 2));
        let es = n.entries(id(5, 0));
        assert_eq!(
            es.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![id(5, 0), id(5, 1), id(7, 0)]
        );
        assert_eq!(es[1].flags, FLAG_SAMEFIELDS);
        assert_eq!(es[2].flags, 0);
        let f = n.fields(&m, &es[2]);
        assert_eq!(f, vec![(StrRef::Bytes(b"c"), StrRef::Int(3))]);
        assert_eq!(n.check(id(5, 0), None), Some((3, id(7, 0))));
        drop(m);
        assert_eq!(n.mark_deleted(&es[1]), 2);
        assert_eq!(n.check(id(5, 0), None), Some((2, id(7, 0))));
        assert!(n.entries(id(5, 0))[1].deleted());
    }

    #[test]
    fn counts_that_change_size_move_the_rest() {
        let mut n = Node::new(id(1, 0), &[(b"f", b"v")]);
        for i in 1..300u64 {
            n.append(id(1, 0), id(1, i), &[(b"f", b"v")]);
        }
        assert_eq!(n.live(), 300);
        assert_eq!(n.check(id(1, 0), None), Some((300, id(1, 299))));
        let es = n.entries(id(1, 0));
        assert_eq!(es.len(), 300);
        for e in es.iter().take(200) {
            // Offsets move as the counts shrink: look each one up again.
            let fresh = n
                .entries(id(1, 0))
                .into_iter()
                .find(|x| x.id == e.id)
                .expect("entry");
            n.mark_deleted(&fresh);
        }
        assert_eq!(n.check(id(1, 0), None), Some((100, id(1, 299))));
    }
}
