//! Values and their compact encodings.
//!
//! Callers see a string through [`Value::as_str`] and change it through
//! [`Value::append`] / [`Value::set_range`]; which encoding holds it is this
//! module's business (as in Redis, commands never branch on the encoding,
//! except OBJECT ENCODING through [`Value::encoding_name`]).

use std::fmt;

use crate::hash::Hash;
use crate::list::List;
use crate::set::Set;
use crate::small::{InlineBytes, INLINE_CAP};
use crate::stream::Stream;
use crate::zset::ZSet;

/// Redis 7.0 reports strings up to this length as "embstr".
const EMBSTR_MAX: usize = 44;
/// Longest decimal i64: "-9223372036854775808".
const MAX_INT_LEN: usize = 20;
/// Below this size a growing string doubles its capacity; above it grows by
/// this much, so a 300 MB string being appended to wastes at most 1 MB.
const GROW_DOUBLING_LIMIT: usize = 1 << 20;

/// A value stored under a key. Strings hide their encoding: a canonical
/// integer (what Redis's `string2ll` accepts and `ll2string` gives back, so
/// "12" but not "012", "+1", " 1") is kept as `i64`; up to 22 bytes inline;
/// longer ones on the heap, with room to grow once modified (APPEND).
///
/// Hashes, sets and sorted sets (16 bytes each) are held in place; lists,
/// which are bigger, are boxed, so `Value` stays 24 bytes and a dict node
/// 64. Each type hides its own encodings (see their modules).
///
/// The variants are public because Rust enums cannot hide them; build values
/// with the constructors and read them with [`Value::as_str`], which keep the
/// encoding invariants (an `Int` is only made from canonical text, `Inline`
/// holds at most 22 bytes).
#[derive(Clone)]
pub enum Value {
    /// A canonical integer string, as the integer.
    Int(i64),
    /// A short string (at most 22 bytes) in place: no allocation.
    Inline(InlineBytes),
    /// A longer string as written by SET: one exact allocation.
    Boxed(Box<[u8]>),
    /// A string modified in place (APPEND, SETRANGE): spare capacity so that
    /// appending in a loop is amortised O(1) per byte. Boxed so the variant
    /// is 8 bytes rather than a 24-byte `Vec`.
    Raw(Box<Vec<u8>>),
    /// 16 bytes, in place: a small hash is one allocation (its packed
    /// buffer), not two.
    Hash(Hash),
    List(Box<List>),
    /// 16 bytes, in place, like `Hash`.
    Set(Set),
    /// 16 bytes, in place, like `Hash`.
    ZSet(ZSet),
    /// Boxed: a stream's metadata is far bigger than a `Value`.
    Stream(Box<Stream>),
}

const _: () = assert!(std::mem::size_of::<Value>() <= 24);

/// A borrowed view of a string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrRef<'a> {
    /// An integer-encoded string; its bytes are the decimal form.
    Int(i64),
    /// The string's bytes.
    Bytes(&'a [u8]),
}

impl Value {
    /// A string value from bytes, choosing the compact encoding.
    pub fn from_bytes(b: &[u8]) -> Value {
        if let Some(n) = parse_canonical_i64(b) {
            return Value::Int(n);
        }
        match InlineBytes::new(b) {
            Some(i) => Value::Inline(i),
            None => Value::Boxed(b.into()),
        }
    }

    /// Like [`Value::from_bytes`], reusing `v`'s allocation for long strings.
    pub fn from_vec(v: Vec<u8>) -> Value {
        if v.len() <= INLINE_CAP {
            Value::from_bytes(&v)
        } else {
            Value::Boxed(v.into_boxed_slice())
        }
    }

    /// A string value holding an integer.
    pub fn from_int(n: i64) -> Value {
        Value::Int(n)
    }

    /// The string behind this value; `None` when it is not a string.
    #[inline]
    pub fn as_str(&self) -> Option<StrRef<'_>> {
        Some(match self {
            Value::Int(n) => StrRef::Int(*n),
            Value::Inline(i) => StrRef::Bytes(i.as_bytes()),
            Value::Boxed(b) => StrRef::Bytes(b),
            Value::Raw(v) => StrRef::Bytes(v),
            Value::Hash(_) | Value::List(_) | Value::Set(_) | Value::ZSet(_) | Value::Stream(_) => {
                return None
            }
        })
    }

    /// True for string values.
    pub fn is_string(&self) -> bool {
        self.as_str().is_some()
    }

    /// TYPE's answer: "string", "list", "set", "zset", "hash" or "stream".
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Int(_) | Value::Inline(_) | Value::Boxed(_) | Value::Raw(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// Elements of an aggregate (fields, members, list entries); 1 for a
    /// string. Used to decide whether freeing a value is worth doing off
    /// the shard's thread.
    pub fn element_count(&self) -> usize {
        match self {
            Value::Hash(h) => h.len(),
            Value::List(l) => l.len(),
            Value::Set(s) => s.len(),
            Value::ZSet(z) => z.len(),
            Value::Stream(s) => s.free_effort(),
            _ => 1,
        }
    }

    /// Redis 7.0's OBJECT ENCODING name: "int"; "embstr" for strings of at
    /// most 44 bytes as written by SET; "raw" for longer ones and for any
    /// string modified by APPEND or SETRANGE (Redis unshares those into a
    /// raw string whatever their length).
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline(_) => "embstr",
            Value::Boxed(b) if b.len() <= EMBSTR_MAX => "embstr",
            Value::Boxed(_) | Value::Raw(_) => "raw",
            Value::Hash(h) => h.encoding_name(),
            Value::List(l) => l.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
            Value::Stream(_) => "stream",
        }
    }

    /// Heap bytes owned besides the 24 bytes of the value itself (for
    /// MEMORY USAGE and eviction accounting; allocator overhead excluded).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Int(_) | Value::Inline(_) => 0,
            Value::Boxed(b) => b.len(),
            Value::Raw(v) => std::mem::size_of::<Vec<u8>>() + v.capacity(),
            Value::Hash(h) => h.heap_size(),
            Value::List(l) => std::mem::size_of::<List>() + l.heap_size(),
            Value::Set(s) => s.heap_size(),
            Value::ZSet(z) => z.heap_size(),
            Value::Stream(s) => s.heap_size(),
        }
    }

    /// APPEND: appends to a string value (converting an int to bytes first),
    /// returns the new length. Amortised O(len(extra)).
    ///
    /// The caller has checked that the value is a string and that the result
    /// stays within the 512 MB limit.
    pub fn append(&mut self, extra: &[u8]) -> usize {
        let v = self.make_raw(extra.len());
        v.extend_from_slice(extra);
        v.len()
    }

    /// SETRANGE: writes `b` at `offset`, zero-padding, returns the new length.
    /// An empty `b` changes nothing (not even the encoding), as in Redis.
    ///
    /// The caller has checked that the value is a string and that
    /// `offset + b.len()` stays within the 512 MB limit.
    pub fn set_range(&mut self, offset: usize, b: &[u8]) -> usize {
        if b.is_empty() {
            return self.as_str().map_or(0, |s| s.len());
        }
        let end = offset + b.len();
        let len = self.as_str().map_or(0, |s| s.len());
        let v = self.make_raw(end.saturating_sub(len));
        if end > v.len() {
            v.resize(end, 0);
        }
        v[offset..end].copy_from_slice(b);
        v.len()
    }

    /// Turns the string into its growable form with room for `additional`
    /// more bytes, and returns the buffer.
    fn make_raw(&mut self, additional: usize) -> &mut Vec<u8> {
        if let Value::Raw(v) = self {
            reserve_amortised(v, additional);
        } else {
            let s = self.as_str().unwrap_or(StrRef::Bytes(b""));
            let mut v = Vec::new();
            reserve_amortised(&mut v, s.len() + additional);
            s.write_to(&mut v);
            *self = Value::Raw(Box::new(v));
        }
        match self {
            Value::Raw(v) => v,
            _ => unreachable!("made raw just above"),
        }
    }
}

/// Reserves room for `additional` bytes: doubling below 1 MB, then 1 MB
/// steps (like Redis's sds), so repeated appends are amortised O(1) per byte
/// without a 512 MB string reserving another 512 MB.
fn reserve_amortised(v: &mut Vec<u8>, additional: usize) {
    let need = v.len() + additional;
    if need <= v.capacity() {
        return;
    }
    let target = if need < GROW_DOUBLING_LIMIT {
        need * 2
    } else {
        need + GROW_DOUBLING_LIMIT
    };
    v.reserve_exact(target - v.len());
}

impl PartialEq for Value {
    /// Values are equal when their strings are, whatever the encodings.
    fn eq(&self, other: &Value) -> bool {
        match (self.as_str(), other.as_str()) {
            (Some(StrRef::Int(a)), Some(StrRef::Int(b))) => a == b,
            (Some(a), Some(b)) => a.to_vec() == b.to_vec(),
            _ => false,
        }
    }
}

impl Eq for Value {}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(StrRef::Int(n)) => write!(f, "Int({n})"),
            Some(StrRef::Bytes(b)) => write!(
                f,
                "{}({:?})",
                self.encoding_name(),
                String::from_utf8_lossy(b)
            ),
            None => write!(f, "{}", self.type_name()),
        }
    }
}

impl StrRef<'_> {
    /// Length in bytes (of the decimal form for an integer).
    pub fn len(&self) -> usize {
        match self {
            StrRef::Int(n) => itoa::Buffer::new().format(*n).len(),
            StrRef::Bytes(b) => b.len(),
        }
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the string's bytes (the decimal form for Int) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            StrRef::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
            StrRef::Bytes(b) => out.extend_from_slice(b),
        }
    }

    /// The bytes as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    /// The value as an i64 when Redis's `string2ll` accepts it (INCR's
    /// check): an optional '-', then "0" alone or digits not starting with
    /// '0', fitting i64, at most 20 bytes. No '+', spaces, or "-0".
    pub fn parse_i64(&self) -> Option<i64> {
        match self {
            StrRef::Int(n) => Some(*n),
            StrRef::Bytes(b) => parse_canonical_i64(b),
        }
    }
}

/// Parses `b` if it is the canonical decimal form of an i64, the same set of
/// strings Redis's `string2ll` accepts (every one of which prints back
/// unchanged, which is what makes integer encoding lossless).
pub fn parse_canonical_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > MAX_INT_LEN {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (negative, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    // A leading zero (or a lone '-') is not canonical.
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        // -(2^63) is the one magnitude that only fits negated.
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(v: &Value) -> Vec<u8> {
        v.as_str().map(|s| s.to_vec()).unwrap_or_default()
    }

    #[test]
    fn size_is_24() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn canonical_integers() {
        let yes: &[(&str, i64)] = &[
            ("0", 0),
            ("-5", -5),
            ("123", 123),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("-1", -1),
            ("10", 10),
        ];
        for (s, n) in yes {
            assert_eq!(parse_canonical_i64(s.as_bytes()), Some(*n), "{s}");
            assert_eq!(StrRef::Bytes(s.as_bytes()).parse_i64(), Some(*n));
            // Every accepted string prints back unchanged.
            assert_eq!(itoa::Buffer::new().format(*n), *s);
        }
        let no = [
            "",
            "-",
            "-0",
            "007",
            "00",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "1e3",
            "0x10",
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "99999999999999999999",
            "000000000000000000001",
            "--1",
            "1-",
            "abc",
            "12a",
        ];
        for s in no {
            assert_eq!(parse_canonical_i64(s.as_bytes()), None, "{s:?}");
        }
        assert_eq!(StrRef::Int(-7).parse_i64(), Some(-7));
    }

    #[test]
    fn encodings_follow_content() {
        assert!(matches!(Value::from_bytes(b"123"), Value::Int(123)));
        assert!(matches!(Value::from_bytes(b"-0"), Value::Inline(_)));
        assert!(matches!(Value::from_bytes(b"0123"), Value::Inline(_)));
        assert!(matches!(Value::from_bytes(&[b'x'; 22]), Value::Inline(_)));
        assert!(matches!(Value::from_bytes(&[b'x'; 23]), Value::Boxed(_)));
        assert!(matches!(Value::from_vec(vec![b'x'; 30]), Value::Boxed(_)));
        assert!(matches!(Value::from_vec(b"42".to_vec()), Value::Int(42)));
        assert!(matches!(Value::from_vec(b"hi".to_vec()), Value::Inline(_)));

        assert_eq!(Value::from_bytes(b"123").encoding_name(), "int");
        assert_eq!(Value::from_int(-3).encoding_name(), "int");
        assert_eq!(Value::from_bytes(b"").encoding_name(), "embstr");
        assert_eq!(Value::from_bytes(&[b'x'; 44]).encoding_name(), "embstr");
        assert_eq!(Value::from_bytes(&[b'x'; 45]).encoding_name(), "raw");
        // 21 digits: too long for an integer.
        assert_eq!(
            Value::from_bytes(b"123456789012345678901").encoding_name(),
            "embstr"
        );
        assert_eq!(Value::from_bytes(b"x").type_name(), "string");
        assert!(Value::from_int(1).is_string());
    }

    #[test]
    fn str_ref_len_and_bytes() {
        for n in [0, 7, -7, 100, i64::MIN, i64::MAX] {
            let s = StrRef::Int(n);
            assert_eq!(s.len(), n.to_string().len());
            assert_eq!(s.to_vec(), n.to_string().into_bytes());
        }
        assert!(StrRef::Bytes(b"").is_empty());
        assert!(!StrRef::Int(0).is_empty());
        assert_eq!(
            Value::from_bytes(b"abc").as_str(),
            Some(StrRef::Bytes(b"abc"))
        );
    }

    #[test]
    fn append_converts_to_raw() {
        let mut v = Value::from_int(12);
        assert_eq!(v.append(b"3"), 3);
        assert_eq!(bytes(&v), b"123");
        // Redis: APPEND turns even an int into a raw string.
        assert_eq!(v.encoding_name(), "raw");

        let mut v = Value::from_bytes(b"hello");
        assert_eq!(v.append(b" world"), 11);
        assert_eq!(bytes(&v), b"hello world");
        assert_eq!(v.encoding_name(), "raw");

        let mut v = Value::from_bytes(&[b'a'; 30]);
        v.append(b"b");
        assert_eq!(bytes(&v).len(), 31);
        assert_eq!(v.append(b""), 31);
    }

    #[test]
    fn append_in_a_loop_is_amortised() {
        let mut v = Value::from_bytes(b"");
        let mut reallocs = 0;
        let mut last_cap = 0;
        for i in 0..100_000 {
            assert_eq!(v.append(b"xy"), 2 * (i + 1));
            if let Value::Raw(r) = &v {
                if r.capacity() != last_cap {
                    reallocs += 1;
                    last_cap = r.capacity();
                }
            }
        }
        assert!(reallocs < 40, "{reallocs} reallocations");
        assert!(v.heap_size() < 2 * 200_000 + 64);
    }

    #[test]
    fn growth_above_a_megabyte_is_linear() {
        let mut v = vec![0u8; 4 << 20];
        reserve_amortised(&mut v, 1);
        assert!(v.capacity() <= (5 << 20) + 1);
    }

    #[test]
    fn set_range_pads_with_zeros() {
        let mut v = Value::from_bytes(b"Hello World");
        assert_eq!(v.set_range(6, b"Redis"), 11);
        assert_eq!(bytes(&v), b"Hello Redis");
        assert_eq!(v.encoding_name(), "raw");

        let mut v = Value::from_bytes(b"ab");
        assert_eq!(v.set_range(5, b"cd"), 7);
        assert_eq!(bytes(&v), b"ab\0\0\0cd");

        let mut v = Value::from_int(1234);
        assert_eq!(v.set_range(1, b"x"), 4);
        assert_eq!(bytes(&v), b"1x34");

        // Empty input: no change at all, even with a far offset.
        let mut v = Value::from_int(5);
        assert_eq!(v.set_range(100, b""), 1);
        assert_eq!(v.encoding_name(), "int");

        let mut v = Value::from_bytes(b"");
        assert_eq!(v.set_range(3, b"z"), 4);
        assert_eq!(bytes(&v), b"\0\0\0z");
    }

    #[test]
    fn equality_ignores_encoding() {
        let mut a = Value::from_bytes(b"12");
        a.append(b"");
        assert!(matches!(a, Value::Raw(_)));
        assert_eq!(a, Value::from_int(12));
        assert_ne!(Value::from_int(12), Value::from_int(13));
        assert_ne!(Value::from_bytes(b"a"), Value::from_bytes(b"b"));
        assert_eq!(format!("{:?}", Value::from_int(3)), "Int(3)");
        assert_eq!(format!("{:?}", Value::from_bytes(b"a")), "embstr(\"a\")");
    }
}
