//! list values. (Scaffold: the list family fills this in.)

/// A list value.
#[derive(Clone, Default)]
pub struct List {}

impl List {
    pub fn new() -> List {
        List {}
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
        "quicklist"
    }

    /// Heap bytes owned (for MEMORY USAGE and lazy-free decisions).
    pub fn heap_size(&self) -> usize {
        0
    }

    /// Appends an element at the tail. (Scaffold stub.)
    pub fn push_back(&mut self, _v: &[u8]) {}

    /// Elements head to tail. (Scaffold stub.)
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = crate::StrRef<'_>> {
        std::iter::empty()
    }
}
