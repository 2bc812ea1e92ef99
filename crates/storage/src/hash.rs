//! hash values. (Scaffold: the hash family fills this in.)

/// A hash value.
#[derive(Clone, Default)]
pub struct Hash {}

impl Hash {
    pub fn new() -> Hash {
        Hash {}
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis 7.0's OBJECT ENCODING name for this value.
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }

    /// Heap bytes owned (for MEMORY USAGE and lazy-free decisions).
    pub fn heap_size(&self) -> usize {
        0
    }

    /// A field's value. (Scaffold stub.)
    pub fn get(&self, _field: &[u8]) -> Option<crate::StrRef<'_>> {
        None
    }

    /// Sets a field; true when it is new. (Scaffold stub.)
    pub fn insert(&mut self, _field: &[u8], _value: &[u8]) -> bool {
        false
    }

    /// (field, value) pairs. (Scaffold stub.)
    pub fn iter(&self) -> impl Iterator<Item = (crate::StrRef<'_>, crate::StrRef<'_>)> {
        std::iter::empty()
    }
}
