//! set values. (Scaffold: the set family fills this in.)

/// A set value.
#[derive(Clone, Default)]
pub struct Set {}

impl Set {
    pub fn new() -> Set {
        Set {}
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
        "intset"
    }

    /// Heap bytes owned (for MEMORY USAGE and lazy-free decisions).
    pub fn heap_size(&self) -> usize {
        0
    }

    /// Members, in no particular order. (Scaffold stub.)
    pub fn iter(&self) -> impl Iterator<Item = crate::StrRef<'_>> {
        std::iter::empty()
    }

    /// Adds a member; true when it is new. (Scaffold stub.)
    pub fn insert(&mut self, _m: &[u8]) -> bool {
        false
    }
}
