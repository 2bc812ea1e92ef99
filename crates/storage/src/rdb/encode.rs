//! Tessera's values in RDB encoding (the body of a DUMP payload).
//!
//! # What is written, and why
//!
//! Payloads are sealed as RDB version 9 ([`WRITE_VERSION`](super::WRITE_VERSION)),
//! so only value types every Redis from 5.0 to 7.0 reads are used:
//!
//! | value | RDB type | body |
//! |---|---|---|
//! | string | `STRING` (0) | one RDB string (below) |
//! | list | `LIST` (1) | length, then each element as an RDB string, head first |
//! | set, intset-encoded | `SET_INTSET` (11) | Redis's intset blob as an RDB string |
//! | set, any other | `SET` (2) | length, then each member |
//! | sorted set | `ZSET_2` (5) | length, then member and score (8-byte little-endian `f64`), highest score first |
//! | hash | `HASH` (4) | length, then field and value pairs |
//! | stream | `STREAM_LISTPACKS_2` (19) | Redis 7.0's own layout: the listpack nodes, metadata, groups (see `stream`) |
//!
//! A stream is the one type written as Redis 7.0 writes it: its nodes are
//! already listpacks in Redis's layout, and Redis 7.0's metadata needs type
//! 19, so its payloads say version 10 (Redis 7.0 restores them; older
//! Redis has no type 19 to read).
//!
//! The plain types (1, 2, 4, 5) are not what Redis 7.0 itself writes for
//! small values (listpack types 16-18, version 10), but every Redis since
//! 2.x loads them and builds the encoding its own thresholds call for: a
//! small hash or sorted set becomes a listpack, a list a quicklist. They
//! cost Redis a conversion at RESTORE; in exchange Tessera's internal
//! packed layouts (which differ from listpacks) never leak into payloads,
//! and one payload restores on Redis 5.0, 6.x and 7.0 alike. A sorted set
//! goes highest score first, as Redis orders it, so that Redis's loader
//! inserts every member at the head of its skip list.
//!
//! RDB files ([`super::file`]) hold the same encodings, each key's type
//! byte, key and value as [`keyed`] writes them; the file's header says
//! version 10, which changes nothing for these types.
//!
//! An RDB string is written as Redis writes one, so the bytes match a real
//! Redis's for the same string: a canonical integer that fits 32 bits
//! takes the 1-, 2- or 4-byte integer encoding; a string longer than 20
//! bytes is LZF-compressed when that makes it shorter; anything else is a
//! length and the raw bytes.
//!
//! # Cost
//!
//! Encoding appends to the caller's buffer, which is grown once up front
//! from the value's size; elements are written straight from the value's
//! own storage, with no allocation per element. LZF uses a per-thread hash
//! table that is never cleared: a stale entry from an earlier string is
//! only a candidate, checked against the bytes before it is used, so a
//! MIGRATE of a million 100-byte list elements pays no table reset per
//! element.

use std::cell::RefCell;

use super::types;
use crate::stream::{Stream, StreamId};
use crate::value::parse_canonical_i64;
use crate::{StrRef, Value};

/// Appends the type byte and the RDB encoding of `v` to `out`.
pub fn value(v: &Value, out: &mut Vec<u8>) {
    typed(v, None, out);
}

/// Appends one key of an RDB file to `out`: the type byte, `key` as an
/// RDB string, then the value's encoding (the file puts the key between
/// the type and the value).
pub fn keyed(key: &[u8], v: &Value, out: &mut Vec<u8>) {
    out.reserve(key.len() + 2);
    typed(v, Some(key), out);
}

/// The type byte, the key if there is one, then the value.
fn typed(v: &Value, key: Option<&[u8]>, out: &mut Vec<u8>) {
    out.reserve(size_hint(v));
    let head = |out: &mut Vec<u8>, ty: u8| {
        out.push(ty);
        if let Some(k) = key {
            put_bytes(out, k);
        }
    };
    match v {
        Value::Hash(h) => {
            head(out, types::HASH);
            put_len(out, h.len() as u64);
            for (f, x) in h.iter() {
                put_str(out, f);
                put_str(out, x);
            }
        }
        Value::List(l) => {
            head(out, types::LIST);
            put_len(out, l.len() as u64);
            for e in l.iter() {
                put_str(out, e);
            }
        }
        Value::Set(s) => {
            if let Some(blob) = s.intset_blob() {
                head(out, types::SET_INTSET);
                put_bytes(out, &blob);
            } else {
                head(out, types::SET);
                put_len(out, s.len() as u64);
                for m in s.iter() {
                    put_str(out, m);
                }
            }
        }
        Value::ZSet(z) => {
            head(out, types::ZSET_2);
            put_len(out, z.len() as u64);
            for (m, score) in z.iter().rev() {
                put_str(out, m);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
        Value::Stream(st) => {
            head(out, types::STREAM_LISTPACKS_2);
            stream(st, types::STREAM_LISTPACKS_2, out);
        }
        Value::Int(_) | Value::Inline(_) | Value::Boxed(_) | Value::Raw(_) => {
            head(out, types::STRING);
            if let Some(s) = v.as_str() {
                put_str(out, s);
            }
        }
    }
}

/// A stream as Redis 7.0 writes type 19: its nodes (master ID as a
/// 16-byte big-endian string, then the listpack as a string, compressed
/// like any other), length, last ID, first ID, max deleted ID and entries
/// added; then each group (name, last ID, entries read, its PEL with
/// delivery times and counts) and its consumers (name, seen time, their
/// PEL's IDs). IDs in the PELs are 16 raw bytes, times 8 bytes
/// little-endian.
///
/// `ty` may also be 15 (Redis 5.0 to 6.2: no first ID, max deleted ID,
/// entries added or entries read) or 21 (Redis 7.2: consumers' active
/// time after their seen time); only the tests write those, to read them
/// back.
pub(crate) fn stream(st: &Stream, ty: u8, out: &mut Vec<u8>) {
    let (v2, v3) = (
        ty != types::STREAM_LISTPACKS,
        ty == types::STREAM_LISTPACKS_3,
    );
    put_len(out, st.node_count() as u64);
    for (master, lp) in st.nodes() {
        put_bytes(out, &master.to_be_bytes());
        put_bytes(out, lp);
    }
    let id = |out: &mut Vec<u8>, id: StreamId| {
        put_len(out, id.ms);
        put_len(out, id.seq);
    };
    put_len(out, st.len());
    id(out, st.last_id());
    if v2 {
        id(out, st.first_id());
        id(out, st.max_deleted_id());
        put_len(out, st.entries_added());
    }
    put_len(out, st.group_count() as u64);
    for (name, g) in st.groups() {
        put_bytes(out, name);
        id(out, g.last_id);
        if v2 {
            put_len(out, g.entries_read as u64);
        }
        put_len(out, g.pending_count() as u64);
        for (pid, p) in g.pending_range(StreamId::MIN, StreamId::MAX) {
            out.extend_from_slice(&pid.to_be_bytes());
            out.extend_from_slice(&p.delivery_time.to_le_bytes());
            put_len(out, p.delivery_count);
        }
        put_len(out, g.consumer_count() as u64);
        for (cname, c) in g.consumers() {
            put_bytes(out, cname);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            if v3 {
                out.extend_from_slice(&c.active_time.to_le_bytes());
            }
            put_len(out, c.pending_count() as u64);
            for pid in c.pending() {
                out.extend_from_slice(&pid.to_be_bytes());
            }
        }
    }
}

/// About the bytes `v` encodes to, so the buffer grows once. A list's
/// packed nodes are about its encoded size; a hash table's memory is
/// several times its encoding, so tables are capped at a short element's
/// encoded size (longer elements grow the buffer by doubling, amortised).
fn size_hint(v: &Value) -> usize {
    16 + match v {
        Value::List(l) => l.heap_size(),
        Value::Set(s) => s.heap_size().min(s.len() * 24),
        Value::Hash(h) => h.heap_size().min(h.len() * 48),
        Value::ZSet(z) => z.heap_size().min(z.len() * 32),
        Value::Stream(st) => st.heap_size(),
        other => other.as_str().map_or(0, |s| s.len() + 8),
    }
}

/// Special-encoding markers: the top two bits of a length byte set.
const ENC_INT8: u8 = 0xC0;
const ENC_INT16: u8 = 0xC1;
const ENC_INT32: u8 = 0xC2;
const ENC_LZF: u8 = 0xC3;

/// Strings longer than this are tried with LZF (Redis's threshold).
const LZF_MIN_LEN: usize = 20;
/// Only strings this short may be integer-encoded (Redis's bound: the
/// longest 32-bit integer is 11 characters).
const INT_MAX_TEXT: usize = 11;

/// An RDB length: 6 bits in one byte, 14 bits in two, else a marker byte
/// and a 32- or 64-bit big-endian number.
pub fn put_len(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 9];
    let used = len_into(&mut buf, n);
    out.extend_from_slice(&buf[..used]);
}

/// Writes `n` as [`put_len`] does into the front of `buf` (9 bytes or
/// more); returns the bytes used.
fn len_into(buf: &mut [u8], n: u64) -> usize {
    if n < 1 << 6 {
        buf[0] = n as u8;
        1
    } else if n < 1 << 14 {
        buf[..2].copy_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
        2
    } else if let Ok(n) = u32::try_from(n) {
        buf[0] = 0x80;
        buf[1..5].copy_from_slice(&n.to_be_bytes());
        5
    } else {
        buf[0] = 0x81;
        buf[1..9].copy_from_slice(&n.to_be_bytes());
        9
    }
}

/// Bytes [`put_len`] takes for `n`.
fn len_size(n: usize) -> usize {
    match n {
        0..0x40 => 1,
        0x40..0x4000 => 2,
        _ if u32::try_from(n).is_ok() => 5,
        _ => 9,
    }
}

/// One RDB string holding `s`.
pub fn put_str(out: &mut Vec<u8>, s: StrRef<'_>) {
    match s {
        StrRef::Int(n) => put_int(out, n),
        StrRef::Bytes(b) => put_bytes(out, b),
    }
}

/// An integer string: integer-encoded when it fits 32 bits, else its
/// decimal text (at most 20 bytes, too short to compress).
fn put_int(out: &mut Vec<u8>, n: i64) {
    if let Ok(n) = i8::try_from(n) {
        out.extend_from_slice(&[ENC_INT8, n as u8]);
    } else if let Ok(n) = i16::try_from(n) {
        out.push(ENC_INT16);
        out.extend_from_slice(&n.to_le_bytes());
    } else if let Ok(n) = i32::try_from(n) {
        out.push(ENC_INT32);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        let mut buf = itoa::Buffer::new();
        put_raw(out, buf.format(n).as_bytes());
    }
}

/// Whether strings are LZF-compressed where that is shorter
/// (`rdbcompression`, on by default as in Redis; DUMP payloads follow it
/// too, as Redis's do).
static COMPRESS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Sets `rdbcompression`.
pub fn set_compression(on: bool) {
    COMPRESS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `rdbcompression` is on.
pub fn compression() -> bool {
    COMPRESS.load(std::sync::atomic::Ordering::Relaxed)
}

/// One RDB string holding `b`, in the smallest of Redis's encodings.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() <= INT_MAX_TEXT {
        if let Some(n) = parse_canonical_i64(b).filter(|&n| i32::try_from(n).is_ok()) {
            put_int(out, n);
            return;
        }
    }
    if b.len() > LZF_MIN_LEN
        && COMPRESS.load(std::sync::atomic::Ordering::Relaxed)
        && put_lzf(out, b)
    {
        return;
    }
    put_raw(out, b);
}

fn put_raw(out: &mut Vec<u8>, b: &[u8]) {
    put_len(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Writes `b` LZF-compressed (marker, compressed length, original length,
/// data) when that is shorter than writing it raw; false (and `out`
/// unchanged) otherwise.
fn put_lzf(out: &mut Vec<u8>, b: &[u8]) -> bool {
    let start = out.len();
    // Compress past room for the largest header, then slide it down once
    // the compressed length is known: no scratch buffer.
    let head_room = 1 + 2 * len_size(b.len());
    out.resize(start + head_room, 0);
    // Worth it only if marker + length + data beat the raw length (the
    // original length is written either way). This also bounds the work
    // spent on incompressible input.
    let limit = b.len().saturating_sub(1 + len_size(b.len()));
    let ok = LZF_TABLE.with(|t| lzf::compress(b, out, limit, &mut t.borrow_mut()));
    let Some(clen) = ok.then(|| out.len() - start - head_room) else {
        out.truncate(start);
        return false;
    };
    if 1 + len_size(clen) + clen >= b.len() {
        out.truncate(start);
        return false;
    }
    let mut head = [0u8; 19];
    let mut n = 1;
    head[0] = ENC_LZF;
    n += len_into(&mut head[n..], clen as u64);
    n += len_into(&mut head[n..], b.len() as u64);
    out.copy_within(start + head_room.., start + n);
    out[start..start + n].copy_from_slice(&head[..n]);
    out.truncate(start + n + clen);
    true
}

thread_local! {
    /// LZF's match table, one per thread, kept between strings (see the
    /// module doc: entries are verified before use, so none is ever reset).
    static LZF_TABLE: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// An LZF compressor (the format liblzf, and so Redis, decompresses).
///
/// The stream is a sequence of runs, each opened by a control byte `c`:
/// below 32, `c + 1` literal bytes follow; otherwise `c >> 5` is a match
/// length less 2 (7 meaning "7 plus the next byte"), and the low 5 bits
/// with the following byte are the distance back, less 1, of bytes
/// already produced to copy (the copy may overlap what it produces).
///
/// This one is greedy: at each position it hashes the next 3 bytes, looks
/// up the last position with that hash, and takes the longest match there
/// if the bytes really agree and it is within reach.
mod lzf {
    const HASH_BITS: u32 = 14;
    const MAX_LITERALS: usize = 32;
    const MAX_DISTANCE: usize = 1 << 13;
    const MAX_MATCH: usize = 7 + 255 + 2;

    fn hash(b: &[u8], i: usize) -> usize {
        let v = u32::from(b[i]) | u32::from(b[i + 1]) << 8 | u32::from(b[i + 2]) << 16;
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    }

    /// Appends `input` compressed to `out`; false as soon as the
    /// compressed form would pass `limit` bytes (`out` then holds a
    /// partial stream for the caller to cut off).
    pub(super) fn compress(
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        table: &mut Vec<u32>,
    ) -> bool {
        if table.is_empty() {
            table.resize(1 << HASH_BITS, 0);
        }
        let start = out.len();
        let n = input.len();
        // Position in `out` of the open literal run's control byte, and
        // how many literals it has.
        let mut ctrl = out.len();
        out.push(0);
        let mut lits = 0usize;
        let mut i = 0;
        while i < n {
            if i + 2 < n {
                let h = hash(input, i);
                // Positions are stored plus one: 0 is "nothing here yet".
                let cand = table[h] as usize;
                table[h] = (i + 1) as u32;
                if cand > 0 && cand - 1 < i && i - cand < MAX_DISTANCE {
                    let r = cand - 1;
                    let max = (n - i).min(MAX_MATCH);
                    let len = input[r..]
                        .iter()
                        .zip(&input[i..i + max])
                        .take_while(|(a, b)| a == b)
                        .count();
                    if len >= 3 {
                        if lits > 0 {
                            out[ctrl] = (lits - 1) as u8;
                        } else {
                            out.pop();
                        }
                        let dist = i - r - 1;
                        let code = len - 2;
                        if code < 7 {
                            out.push(((code as u8) << 5) | (dist >> 8) as u8);
                        } else {
                            out.extend_from_slice(&[
                                (7 << 5) | (dist >> 8) as u8,
                                (code - 7) as u8,
                            ]);
                        }
                        out.push(dist as u8);
                        // Index the positions the match covers, so later
                        // repeats of them are found too.
                        let end = i + len;
                        for j in (i + 1)..end.min(n.saturating_sub(2)) {
                            table[hash(input, j)] = (j + 1) as u32;
                        }
                        i = end;
                        ctrl = out.len();
                        out.push(0);
                        lits = 0;
                        if out.len() - start > limit {
                            return false;
                        }
                        continue;
                    }
                }
            }
            out.push(input[i]);
            lits += 1;
            i += 1;
            if lits == MAX_LITERALS {
                out[ctrl] = (MAX_LITERALS - 1) as u8;
                ctrl = out.len();
                out.push(0);
                lits = 0;
            }
            if out.len() - start > limit {
                return false;
            }
        }
        if lits > 0 {
            out[ctrl] = (lits - 1) as u8;
        } else {
            out.pop();
        }
        out.len() - start <= limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Hash, List, Set, ZSet};

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        value(v, &mut out);
        out
    }

    #[test]
    fn lengths() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0]),
            (63, &[63]),
            (64, &[0x40, 64]),
            (16383, &[0x7F, 0xFF]),
            (16384, &[0x80, 0, 0, 0x40, 0]),
            (u64::from(u32::MAX), &[0x80, 0xFF, 0xFF, 0xFF, 0xFF]),
            (1 << 32, &[0x81, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for &(n, want) in cases {
            let mut out = Vec::new();
            put_len(&mut out, n);
            assert_eq!(out, want, "{n}");
            assert_eq!(len_size(n as usize), want.len(), "{n}");
        }
    }

    #[test]
    fn strings_as_redis_writes_them() {
        // What a real Redis's DUMP holds before the footer.
        assert_eq!(enc(&Value::from_bytes(b"123")), [0, 0xC0, 123]);
        assert_eq!(enc(&Value::from_bytes(b"-1")), [0, 0xC0, 0xFF]);
        assert_eq!(enc(&Value::from_bytes(b"1000")), [0, 0xC1, 0xE8, 0x03]);
        assert_eq!(
            enc(&Value::from_bytes(b"-2147483648")),
            [0, 0xC2, 0, 0, 0, 0x80]
        );
        // Past 32 bits: the text.
        assert_eq!(
            enc(&Value::from_bytes(b"2147483648")),
            b"\x00\x0a2147483648"
        );
        // Not canonical: raw.
        assert_eq!(enc(&Value::from_bytes(b"012")), b"\x00\x03012");
        assert_eq!(enc(&Value::from_bytes(b"")), [0, 0]);
        // Integer-looking bytes held as bytes are integer-encoded too.
        let mut out = Vec::new();
        put_bytes(&mut out, b"77");
        assert_eq!(out, [0xC0, 77]);
    }

    #[test]
    fn long_strings_compress_only_when_smaller() {
        let text = vec![b'a'; 100];
        let out = enc(&Value::from_bytes(&text));
        assert_eq!(out[1], ENC_LZF);
        assert!(out.len() < 20, "{out:?}");
        let (clen, a) = read_len(&out[2..]);
        let (olen, b) = read_len(&out[2 + a..]);
        assert_eq!((clen, olen), (out.len() - 2 - a - b, 100));
        assert_eq!(unlzf(&out[2 + a + b..], 100), Some(text));
        // 20 bytes: never compressed; random bytes: not shrinkable.
        assert_eq!(enc(&Value::from_bytes(&[b'b'; 20]))[1], 20);
        let mut rng = fastrand::Rng::with_seed(7);
        let noise: Vec<u8> = (0..300).map(|_| rng.u8(..)).collect();
        let out = enc(&Value::from_bytes(&noise));
        assert_eq!(&out[1..3], &[0x41, 0x2C]);
        assert_eq!(&out[3..], &noise[..]);
    }

    /// A plain LZF decompressor, to check the compressor against.
    fn unlzf(mut src: &[u8], len: usize) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while let Some((&c, rest)) = src.split_first() {
            src = rest;
            if c < 32 {
                let n = usize::from(c) + 1;
                out.extend_from_slice(src.get(..n)?);
                src = &src[n..];
            } else {
                let mut n = usize::from(c >> 5);
                if n == 7 {
                    n += usize::from(*src.first()?);
                    src = &src[1..];
                }
                let d = (usize::from(c & 31) << 8 | usize::from(*src.first()?)) + 1;
                src = &src[1..];
                let from = out.len().checked_sub(d)?;
                for k in 0..n + 2 {
                    out.push(out[from + k]);
                }
            }
        }
        (out.len() == len).then_some(out)
    }

    #[test]
    fn lzf_round_trips() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut table = Vec::new();
        for round in 0..300 {
            let len = rng.usize(0..5000);
            let alphabet = rng.u8(1..=255);
            let input: Vec<u8> = match round % 3 {
                0 => (0..len).map(|_| rng.u8(..alphabet)).collect(),
                1 => (0..len).map(|i| (i % 37) as u8).collect(),
                _ => {
                    let word: Vec<u8> = (0..rng.usize(1..300)).map(|_| rng.u8(..)).collect();
                    word.iter().cycle().take(len).copied().collect()
                }
            };
            let mut out = vec![9u8; 3];
            if compress_into(&input, &mut out, usize::MAX, &mut table) {
                assert_eq!(&out[..3], &[9, 9, 9]);
                assert_eq!(
                    unlzf(&out[3..], input.len()).as_deref(),
                    Some(&input[..]),
                    "round {round}"
                );
            }
        }
    }

    fn compress_into(i: &[u8], o: &mut Vec<u8>, limit: usize, t: &mut Vec<u32>) -> bool {
        lzf::compress(i, o, limit, t)
    }

    #[test]
    fn compressed_strings_decode() {
        let mut rng = fastrand::Rng::with_seed(3);
        for len in [21, 22, 50, 63, 64, 100, 1000, 16383, 16384, 70000] {
            let s: Vec<u8> = (0..len).map(|_| b"abcab"[rng.usize(..5)]).collect();
            let mut out = Vec::new();
            put_bytes(&mut out, &s);
            if out[0] == ENC_LZF {
                let (clen, used) = read_len(&out[1..]);
                let (olen, used2) = read_len(&out[1 + used..]);
                assert_eq!(olen, len);
                let data = &out[1 + used + used2..];
                assert_eq!(data.len(), clen);
                assert_eq!(unlzf(data, len).as_deref(), Some(&s[..]));
                assert_eq!(::lzf::decompress(data, len).ok().as_deref(), Some(&s[..]));
                assert!(out.len() < len + len_size(len));
            } else {
                assert_eq!(out.len(), len + len_size(len));
            }
        }
    }

    fn read_len(b: &[u8]) -> (usize, usize) {
        match b[0] >> 6 {
            0 => (usize::from(b[0]), 1),
            1 => ((usize::from(b[0] & 63) << 8) | usize::from(b[1]), 2),
            _ => (u32::from_be_bytes([b[1], b[2], b[3], b[4]]) as usize, 5),
        }
    }

    #[test]
    fn aggregates() {
        let mut l = List::new();
        l.push_back(b"a");
        l.push_back(b"12");
        assert_eq!(enc(&Value::List(Box::new(l))), [1, 2, 1, b'a', 0xC0, 12]);

        let mut s = Set::new();
        s.insert(b"5");
        s.insert(b"1");
        // Intset of width 2: [2,0,0,0][2,0,0,0][1,0][5,0], 12 bytes.
        assert_eq!(
            enc(&Value::Set(s)),
            [11, 12, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 5, 0]
        );
        let mut s = Set::new();
        s.insert(b"x");
        assert_eq!(enc(&Value::Set(s)), [2, 1, 1, b'x']);

        let mut z = ZSet::new();
        z.insert(b"m", 1.5);
        z.insert(b"n", 0.5);
        let mut want = vec![5, 2, 1, b'm'];
        want.extend_from_slice(&1.5f64.to_le_bytes());
        want.extend_from_slice(&[1, b'n']);
        want.extend_from_slice(&0.5f64.to_le_bytes());
        assert_eq!(enc(&Value::ZSet(z)), want);

        let mut h = Hash::new();
        h.insert(b"f", b"v");
        assert_eq!(enc(&Value::Hash(h)), [4, 1, 1, b'f', 1, b'v']);
    }

    /// Every element of a value in a comparable form (order kept where
    /// the type has one).
    fn contents(v: &Value) -> (String, Vec<Vec<u8>>) {
        let mut items: Vec<Vec<u8>> = match v {
            Value::List(l) => l.iter().map(|e| e.to_vec()).collect(),
            Value::Set(s) => s.iter().map(|e| e.to_vec()).collect(),
            Value::Hash(h) => h
                .iter()
                .map(|(f, x)| [f.to_vec(), b"=".to_vec(), x.to_vec()].concat())
                .collect(),
            Value::ZSet(z) => z
                .iter()
                .map(|(m, s)| [m.to_vec(), s.to_bits().to_le_bytes().to_vec()].concat())
                .collect(),
            other => vec![other.as_str().map(|s| s.to_vec()).unwrap_or_default()],
        };
        if matches!(v, Value::Set(_) | Value::Hash(_)) {
            items.sort();
        }
        (v.type_name().to_string(), items)
    }

    /// DUMP then RESTORE gives the same contents back, for every type and
    /// encoding. Needs the decoder (rdb/decode.rs).
    #[test]
    fn round_trips_through_restore() {
        let mut rng = fastrand::Rng::with_seed(5);
        let long = |rng: &mut fastrand::Rng, n: usize| -> Vec<u8> {
            (0..n).map(|_| b"xyz"[rng.usize(..3)]).collect()
        };
        let mut values = vec![
            Value::from_bytes(b""),
            Value::from_bytes(b"7"),
            Value::from_bytes(b"-70000"),
            Value::from_bytes(b"9223372036854775807"),
            Value::from_bytes(b"hello"),
            Value::from_bytes(&long(&mut rng, 1000)),
        ];
        for n in [1, 10, 1000] {
            let mut l = List::new();
            let mut ints = Set::new();
            let mut strs = Set::new();
            let mut z = ZSet::new();
            let mut h = Hash::new();
            for i in 0..n {
                let s = format!("member:{i}");
                l.push_back(s.as_bytes());
                l.push_back(i.to_string().as_bytes());
                l.push_back(&long(&mut rng, 40));
                ints.insert((i * 1_000_003 - 7).to_string().as_bytes());
                strs.insert(s.as_bytes());
                z.insert(s.as_bytes(), i as f64 / 3.0 - 10.0);
                h.insert(s.as_bytes(), &long(&mut rng, 30));
            }
            values.push(Value::List(Box::new(l)));
            values.push(Value::Set(ints));
            values.push(Value::Set(strs));
            values.push(Value::ZSet(z));
            values.push(Value::Hash(h));
        }
        for v in &values {
            let back = super::super::restore(&super::super::dump(v));
            let back = back.unwrap_or_else(|e| panic!("{v:?}: {e:?}"));
            assert_eq!(contents(&back), contents(v), "{v:?}");
        }
    }
}
