//! Values. (Helper: implement.) `Value` must stay 24 bytes.

/// A value stored under a key. Strings hide their encoding: a canonical
/// integer (what Redis's `string2ll` accepts and `ll2string` gives back, so
/// "12" but not "012", "+1", " 1") is kept as `i64`; up to 22 bytes inline;
/// longer ones on the heap with room to grow (APPEND). Issue 4 adds hashes,
/// lists, sets and sorted sets as further (boxed) variants.
pub enum Value {
    // Helper: variants.
    #[doc(hidden)]
    Todo,
}

/// A borrowed view of a string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrRef<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Value {
    /// A string value from bytes, choosing the compact encoding.
    pub fn from_bytes(b: &[u8]) -> Value { let _ = b; todo!() }
    /// A string value holding an integer.
    pub fn from_int(n: i64) -> Value { let _ = n; todo!() }
    /// The string behind this value; `None` when it is not a string.
    pub fn as_str(&self) -> Option<StrRef<'_>> { todo!() }
    /// "string" (later: "list", "set", "zset", "hash").
    pub fn type_name(&self) -> &'static str { todo!() }
    /// Redis 7.0's OBJECT ENCODING name: "int", "embstr" (<= 44 bytes), "raw".
    pub fn encoding_name(&self) -> &'static str { todo!() }
    /// APPEND: appends to a string value (converting an int to bytes first),
    /// returns the new length. Amortised O(len(extra)).
    pub fn append(&mut self, extra: &[u8]) -> usize { let _ = extra; todo!() }
    /// SETRANGE: writes `b` at `offset`, zero-padding, returns the new length.
    pub fn set_range(&mut self, offset: usize, b: &[u8]) -> usize { let _ = (offset, b); todo!() }
}

impl StrRef<'_> {
    pub fn len(&self) -> usize { todo!() }
    pub fn is_empty(&self) -> bool { self.len() == 0 }
    /// Appends the string's bytes (the decimal form for Int) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) { let _ = out; todo!() }
    pub fn to_vec(&self) -> Vec<u8> { let mut v = Vec::new(); self.write_to(&mut v); v }
    /// The value as an i64 if it is a canonical-or-not integer string that Redis's
    /// `string2ll` accepts (INCR's check), else None.
    pub fn parse_i64(&self) -> Option<i64> { todo!() }
}
