//! RDB-encoded values (the body of a RESTORE payload) back to Tessera's.
//!
//! # Layout
//!
//! - [`value`]: the entry point: a type byte, then that type's encoding.
//!   `file_typed` is the file reader's: the same types, and Redis 7.2's
//!   listpack sets, which only files carry to Tessera.
//! - [`Reader`]: a cursor over the body with RDB's primitives (lengths,
//!   strings with their integer and LZF forms, ASCII and binary doubles).
//! - The packed blobs Redis stores as one RDB string each are walked by
//!   their own modules: [`super::ziplist`] (Redis 2.6 to 6.2),
//!   [`super::listpack`] (7.0), [`super::zipmap`] (before 2.6); intsets are
//!   [`Set::from_intset_blob`]'s.
//!
//! Every value is rebuilt through its type's public API (`insert`,
//! `push_back`), never by adopting Redis's bytes, so the result has the
//! encoding a freshly written value of that size would have under the
//! thresholds in force (`storage::limits`), whatever encoding the payload
//! used.
//!
//! # Untrusted input
//!
//! A payload may be fuzzed or forged, and a valid checksum proves nothing
//! (clients compute it). So nothing here trusts a length or a count: every
//! length is checked against the bytes that remain before it is used, an
//! element count must fit in the bytes that remain at the smallest size an
//! element can have, nothing is reserved up front, and LZF output is
//! bounded by what its input can expand to. Parsing is iterative (the
//! formats do not nest beyond one level of blob inside a value).
//!
//! Refused, as Redis 7.0 refuses them with `sanitize-dump-payload yes`:
//! empty aggregates, repeated set members, hash fields and sorted-set
//! members, NaN scores, a hash or sorted set packed with an odd number of
//! elements, and any packed blob whose headers, entry encodings, back
//! lengths, counts or terminator disagree with its contents; streams whose
//! nodes, metadata or groups do not agree (see `stream`). Modules (types
//! 6, 7) and unknown types are refused too.

use super::{listpack, types, ziplist, zipmap, RestoreError};
use crate::{Hash, List, Set, StrRef, Value, ZSet};

pub(super) type Result<T> = std::result::Result<T, RestoreError>;

/// The only error of this module: the value does not parse.
pub(super) const BAD: RestoreError = RestoreError::BadFormat;

/// The longest string a payload may expand to (Redis's 512 MB string
/// limit, `proto-max-bulk-len`'s default).
const MAX_STRING: usize = 512 << 20;

/// LZF's best ratio: a 3-byte back reference copies at most 264 bytes.
const LZF_MAX_RATIO: usize = 88;

/// Parses the type byte and value in `body`; all of `body` must be used.
pub fn value(body: &[u8]) -> Result<Value> {
    let mut r = Reader::new(body);
    let ty = r.u8()?;
    let v = typed(ty, &mut r)?;
    if r.remaining() != 0 {
        return Err(BAD);
    }
    Ok(v)
}

/// Parses one value of RDB type `ty` at the reader's position.
pub(super) fn typed(ty: u8, r: &mut Reader<'_>) -> Result<Value> {
    match ty {
        types::STRING => Ok(r.string()?.into_value()),
        types::LIST => list_plain(r),
        types::SET => set_plain(r),
        types::ZSET => zset_plain(r, Score::Ascii),
        types::ZSET_2 => zset_plain(r, Score::Binary),
        types::HASH => hash_plain(r),
        types::HASH_ZIPMAP => hash_pairs(&mut zipmap::Entries::new(&r.blob()?)?),
        types::LIST_ZIPLIST => {
            let blob = r.blob()?;
            let mut list = List::new();
            push_all(&mut list, &mut ziplist::Entries::new(&blob)?)?;
            finish_list(list)
        }
        types::SET_INTSET => set_intset(&r.blob()?),
        types::ZSET_ZIPLIST => zset_pairs(&mut ziplist::Entries::new(&r.blob()?)?),
        types::HASH_ZIPLIST => hash_pairs(&mut ziplist::Entries::new(&r.blob()?)?),
        types::LIST_QUICKLIST => quicklist(r, false),
        types::HASH_LISTPACK => hash_pairs(&mut listpack::Entries::new(&r.blob()?)?),
        types::ZSET_LISTPACK => zset_pairs(&mut listpack::Entries::new(&r.blob()?)?),
        types::LIST_QUICKLIST_2 => quicklist(r, true),
        types::STREAM_LISTPACKS | types::STREAM_LISTPACKS_2 | types::STREAM_LISTPACKS_3 => {
            stream::stream(ty, r)
        }
        // Modules, and types newer than Redis 7.0.
        _ => Err(BAD),
    }
}

/// Parses one value of RDB type `ty` as an RDB file holds it: what
/// [`typed`] reads, and also the listpack-packed set of Redis 7.2 (type
/// 20), which RESTORE refuses as Redis 7.0's does (a payload that carries
/// it has version 11, which RESTORE refuses anyway).
pub(super) fn file_typed(ty: u8, r: &mut Reader<'_>) -> Result<Value> {
    match ty {
        types::SET_LISTPACK => set_listpack(&r.blob()?),
        _ => typed(ty, r),
    }
}

/// A cursor over an RDB body.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A string as RDB stores it: in the payload, decompressed, or an integer.
pub(super) enum Str<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Int(i64),
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(super) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Offset of the next byte.
    #[cfg(test)]
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or(BAD)?;
        self.pos += 1;
        Ok(b)
    }

    /// The next `n` bytes, if there are that many.
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(BAD);
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| BAD)
    }

    /// The first byte of a length: its top two bits say how it continues
    /// (6 bits here; 14 bits with the next byte; 0x80/0x81 then a 32- or
    /// 64-bit big-endian length; `11`: an encoded string, see
    /// [`Reader::string`]). Returns (is_special, length or special kind).
    fn len_or_special(&mut self) -> Result<(bool, u64)> {
        let b = self.u8()?;
        let low = u64::from(b & 0x3f);
        Ok(match b >> 6 {
            0 => (false, low),
            1 => (false, low << 8 | u64::from(self.u8()?)),
            2 => match b {
                0x80 => (false, u64::from(u32::from_be_bytes(self.array()?))),
                0x81 => (false, u64::from_be_bytes(self.array()?)),
                _ => return Err(BAD),
            },
            _ => (true, low),
        })
    }

    /// A plain length as the 64-bit number it is.
    pub(super) fn len_u64(&mut self) -> Result<u64> {
        match self.len_or_special()? {
            (false, n) => Ok(n),
            (true, _) => Err(BAD),
        }
    }

    /// A plain length (an encoded-string marker where a length belongs is
    /// refused).
    pub(super) fn len(&mut self) -> Result<usize> {
        match self.len_or_special()? {
            (false, n) => usize::try_from(n).map_err(|_| BAD),
            (true, _) => Err(BAD),
        }
    }

    /// An element count: at least one (Redis refuses empty aggregates),
    /// and no more elements than fit in what remains when each takes at
    /// least `min_each` bytes, so a lying count fails before any work.
    fn count(&mut self, min_each: usize) -> Result<usize> {
        let n = self.len()?;
        if n == 0 || n > self.remaining() / min_each {
            return Err(BAD);
        }
        Ok(n)
    }

    /// A string: length-prefixed bytes, an 8/16/32-bit integer, or LZF.
    pub(super) fn string(&mut self) -> Result<Str<'a>> {
        match self.len_or_special()? {
            (false, n) => {
                let n = usize::try_from(n).map_err(|_| BAD)?;
                Ok(Str::Borrowed(self.take(n)?))
            }
            (true, 0) => Ok(Str::Int(i64::from(self.u8()? as i8))),
            (true, 1) => Ok(Str::Int(i64::from(i16::from_le_bytes(self.array()?)))),
            (true, 2) => Ok(Str::Int(i64::from(i32::from_le_bytes(self.array()?)))),
            (true, 3) => self.lzf(),
            _ => Err(BAD),
        }
    }

    /// An LZF string: compressed length, original length, compressed bytes.
    /// The original length is checked against what the compressed bytes
    /// can possibly expand to before anything is allocated for it.
    fn lzf(&mut self) -> Result<Str<'a>> {
        let clen = self.len()?;
        let len = self.len()?;
        let data = self.take(clen)?;
        if clen == 0 || len == 0 || len > MAX_STRING || len > clen.saturating_mul(LZF_MAX_RATIO) {
            return Err(BAD);
        }
        match lzf::decompress(data, len) {
            Ok(v) if v.len() == len => Ok(Str::Owned(v)),
            _ => Err(BAD),
        }
    }

    /// A string holding a packed blob (ziplist, listpack, intset, zipmap).
    pub(super) fn blob(&mut self) -> Result<std::borrow::Cow<'a, [u8]>> {
        Ok(match self.string()? {
            Str::Borrowed(b) => b.into(),
            Str::Owned(v) => v.into(),
            // An integer is never a valid blob; its text fails validation.
            Str::Int(n) => itoa::Buffer::new().format(n).as_bytes().to_vec().into(),
        })
    }

    /// A score as RDB type 3 writes it: a length byte (253, 254, 255 for
    /// NaN, +inf, -inf) and that many bytes of decimal text.
    fn ascii_double(&mut self) -> Result<f64> {
        let d = match self.u8()? {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            n => parse_double(self.take(usize::from(n))?)?,
        };
        not_nan(d)
    }

    /// A score as RDB type 5 writes it: an IEEE double, little-endian.
    fn binary_double(&mut self) -> Result<f64> {
        not_nan(f64::from_le_bytes(self.array()?))
    }
}

impl<'a> Str<'a> {
    /// The string as a view; integers stay integers.
    pub(super) fn as_ref(&self) -> StrRef<'_> {
        match self {
            Str::Borrowed(b) => StrRef::Bytes(b),
            Str::Owned(v) => StrRef::Bytes(v),
            Str::Int(n) => StrRef::Int(*n),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Str::Borrowed(b) => Value::from_bytes(b),
            Str::Owned(v) => Value::from_vec(v),
            Str::Int(n) => Value::from_int(n),
        }
    }
}

/// The bytes of `s`, formatting an integer into `buf`.
fn bytes_of<'b>(s: StrRef<'b>, buf: &'b mut itoa::Buffer) -> &'b [u8] {
    match s {
        StrRef::Bytes(b) => b,
        StrRef::Int(n) => buf.format(n).as_bytes(),
    }
}

/// A double from decimal text (what `%.17g` writes, `inf` and `-inf`
/// included).
fn parse_double(text: &[u8]) -> Result<f64> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(BAD)
}

fn not_nan(d: f64) -> Result<f64> {
    if d.is_nan() {
        Err(BAD)
    } else {
        Ok(d)
    }
}

/// The entries of a packed blob, walked once, front to back. Each call
/// validates one entry; the end (`Ok(None)`) is only reported once the
/// blob's terminator, declared count and size have been checked, so a
/// caller that reaches it has seen every byte accounted for.
pub(super) trait Entries<'a> {
    fn next_entry(&mut self) -> Result<Option<StrRef<'a>>>;
}

// ---- lists ----

fn push(list: &mut List, e: StrRef<'_>) {
    match e {
        // `push_back` stores canonical integer text as an integer.
        StrRef::Bytes(b) => list.push_back(b),
        StrRef::Int(_) => list.push_back_str(e),
    }
}

fn push_all<'a>(list: &mut List, it: &mut impl Entries<'a>) -> Result<()> {
    while let Some(e) = it.next_entry()? {
        push(list, e);
    }
    Ok(())
}

fn finish_list(list: List) -> Result<Value> {
    if list.is_empty() {
        return Err(BAD);
    }
    Ok(Value::List(Box::new(list)))
}

/// LIST (1): a count, then each element as a string.
fn list_plain(r: &mut Reader<'_>) -> Result<Value> {
    let n = r.count(1)?;
    let mut list = List::new();
    for _ in 0..n {
        push(&mut list, r.string()?.as_ref());
    }
    finish_list(list)
}

/// QUICKLIST (14): a count of nodes, each a ziplist. QUICKLIST_2 (18):
/// each node is a container kind (1 plain: the node is one element as a
/// string; 2 packed: a listpack) and a string. Empty packed nodes are
/// skipped, as Redis does; an empty plain node or an empty list is
/// refused.
fn quicklist(r: &mut Reader<'_>, v2: bool) -> Result<Value> {
    const PLAIN: usize = 1;
    const PACKED: usize = 2;
    let nodes = r.count(if v2 { 2 } else { 1 })?;
    let mut list = List::new();
    for _ in 0..nodes {
        let container = if v2 { r.len()? } else { PACKED };
        match container {
            PLAIN => {
                // Redis makes plain nodes only for big elements and
                // refuses an empty one.
                let e = r.string()?;
                if e.as_ref().is_empty() {
                    return Err(BAD);
                }
                push(&mut list, e.as_ref());
            }
            PACKED => {
                let blob = r.blob()?;
                if v2 {
                    push_all(&mut list, &mut listpack::Entries::new(&blob)?)?;
                } else {
                    push_all(&mut list, &mut ziplist::Entries::new(&blob)?)?;
                }
            }
            _ => return Err(BAD),
        }
    }
    finish_list(list)
}

// ---- sets ----

fn insert_member(set: &mut Set, m: StrRef<'_>) -> Result<()> {
    let mut buf = itoa::Buffer::new();
    if set.insert(bytes_of(m, &mut buf)) {
        Ok(())
    } else {
        Err(BAD)
    }
}

/// SET (2): a count, then each member as a string.
fn set_plain(r: &mut Reader<'_>) -> Result<Value> {
    let n = r.count(1)?;
    let mut set = Set::new();
    for _ in 0..n {
        insert_member(&mut set, r.string()?.as_ref())?;
    }
    Ok(Value::Set(set))
}

/// SET_INTSET (11): [`Set::from_intset_blob`] checks width, size, order
/// and uniqueness; empty is refused here.
fn set_intset(blob: &[u8]) -> Result<Value> {
    match Set::from_intset_blob(blob) {
        Some(s) if !s.is_empty() => Ok(Value::Set(s)),
        _ => Err(BAD),
    }
}

/// SET_LISTPACK (20): a listpack of members; empty is refused.
fn set_listpack(blob: &[u8]) -> Result<Value> {
    let mut set = Set::new();
    let mut it = listpack::Entries::new(blob)?;
    while let Some(m) = it.next_entry()? {
        insert_member(&mut set, m)?;
    }
    if set.is_empty() {
        return Err(BAD);
    }
    Ok(Value::Set(set))
}

// ---- hashes ----

fn insert_field(hash: &mut Hash, f: StrRef<'_>, v: StrRef<'_>) -> Result<()> {
    let mut buf = itoa::Buffer::new();
    if hash.insert_str(bytes_of(f, &mut buf), v) {
        Ok(())
    } else {
        Err(BAD)
    }
}

fn finish_hash(hash: Hash) -> Result<Value> {
    if hash.is_empty() {
        return Err(BAD);
    }
    Ok(Value::Hash(hash))
}

/// HASH (4): a count of pairs, then field and value strings.
fn hash_plain(r: &mut Reader<'_>) -> Result<Value> {
    let n = r.count(2)?;
    let mut hash = Hash::new();
    for _ in 0..n {
        let f = r.string()?;
        let v = r.string()?;
        insert_field(&mut hash, f.as_ref(), v.as_ref())?;
    }
    finish_hash(hash)
}

/// A packed hash (zipmap, ziplist, listpack): field, value, field, ...
fn hash_pairs<'a>(it: &mut impl Entries<'a>) -> Result<Value> {
    let mut hash = Hash::new();
    while let Some(f) = it.next_entry()? {
        let v = it.next_entry()?.ok_or(BAD)?;
        insert_field(&mut hash, f, v)?;
    }
    finish_hash(hash)
}

// ---- sorted sets ----

enum Score {
    Ascii,
    Binary,
}

fn insert_scored(z: &mut ZSet, m: StrRef<'_>, score: f64) -> Result<()> {
    let mut buf = itoa::Buffer::new();
    if z.insert(bytes_of(m, &mut buf), score) {
        Ok(())
    } else {
        Err(BAD)
    }
}

fn finish_zset(z: ZSet) -> Result<Value> {
    if z.is_empty() {
        return Err(BAD);
    }
    Ok(Value::ZSet(z))
}

/// ZSET (3) and ZSET_2 (5): a count, then member strings each followed by
/// its score.
fn zset_plain(r: &mut Reader<'_>, score: Score) -> Result<Value> {
    let min_each = match score {
        Score::Ascii => 2,
        Score::Binary => 9,
    };
    let n = r.count(min_each)?;
    // Picks the skip list up front for a set too big to pack (the count
    // is bounded by the payload's size, so this allocates nothing big).
    let mut z = ZSet::with_capacity(n, 0);
    for _ in 0..n {
        let m = r.string()?;
        let s = match score {
            Score::Ascii => r.ascii_double()?,
            Score::Binary => r.binary_double()?,
        };
        insert_scored(&mut z, m.as_ref(), s)?;
    }
    finish_zset(z)
}

/// A packed sorted set (ziplist, listpack): member, score, member, ...
/// where a score is an integer entry or decimal text.
fn zset_pairs<'a>(it: &mut impl Entries<'a>) -> Result<Value> {
    let mut z = ZSet::new();
    while let Some(m) = it.next_entry()? {
        let score = match it.next_entry()?.ok_or(BAD)? {
            StrRef::Int(n) => n as f64,
            StrRef::Bytes(b) => not_nan(parse_double(b)?)?,
        };
        insert_scored(&mut z, m, score)?;
    }
    finish_zset(z)
}

mod stream;
#[cfg(test)]
pub(super) mod test_enc;
#[cfg(test)]
pub(super) mod tests;
