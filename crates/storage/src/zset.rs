//! zset values. (Scaffold: the zset family fills this in.)

/// A zset value.
#[derive(Clone, Default)]
pub struct ZSet {}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet {}
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

    /// (member, score) in (score, member) order. (Scaffold stub.)
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (crate::StrRef<'_>, f64)> {
        std::iter::empty()
    }

    /// Adds or updates a member; true when it is new. (Scaffold stub.)
    pub fn insert(&mut self, _m: &[u8], _score: f64) -> bool {
        false
    }
}
