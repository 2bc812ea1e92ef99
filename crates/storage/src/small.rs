//! Byte strings that live inside their owner when short.
//!
//! Most keys and many values are short ("user:1000", "42", a session id), so
//! paying a heap allocation (and the allocator's per-block overhead) for each
//! one would dominate memory per key. Both types here are 24 bytes: the size
//! of a `Vec`, but holding up to 22 bytes in place.

use std::fmt;

/// Longest byte string kept in place by [`InlineBytes`], [`SmallBytes`] and
/// string [`Value`](crate::Value)s. 22 = 24 bytes minus an enum tag and a
/// length byte.
pub const INLINE_CAP: usize = 22;

/// Up to [`INLINE_CAP`] bytes stored in place (23 bytes, alignment 1, so an
/// enum holding it still fits in 24 bytes).
#[derive(Clone, Copy)]
pub struct InlineBytes {
    // Invariant: len <= INLINE_CAP; bytes past len are zero.
    len: u8,
    data: [u8; INLINE_CAP],
}

impl InlineBytes {
    /// `None` when `b` is longer than [`INLINE_CAP`].
    #[inline]
    pub fn new(b: &[u8]) -> Option<InlineBytes> {
        if b.len() > INLINE_CAP {
            return None;
        }
        let mut data = [0; INLINE_CAP];
        data[..b.len()].copy_from_slice(b);
        Some(InlineBytes {
            len: b.len() as u8,
            data,
        })
    }

    /// The stored bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }
}

impl PartialEq for InlineBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for InlineBytes {}

impl fmt::Debug for InlineBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// An immutable byte string (a key): in place up to [`INLINE_CAP`] bytes,
/// else one exact heap allocation. 24 bytes.
#[derive(Clone, PartialEq, Eq)]
pub enum SmallBytes {
    /// Short: no allocation.
    Inline(InlineBytes),
    /// Long: exactly `len` bytes on the heap, no spare capacity.
    Heap(Box<[u8]>),
}

const _: () = assert!(std::mem::size_of::<SmallBytes>() == 24);

impl SmallBytes {
    /// Copies `b`, in place when it is short enough.
    #[inline]
    pub fn new(b: &[u8]) -> SmallBytes {
        match InlineBytes::new(b) {
            Some(i) => SmallBytes::Inline(i),
            None => SmallBytes::Heap(b.into()),
        }
    }

    /// The bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            SmallBytes::Inline(i) => i.as_bytes(),
            SmallBytes::Heap(b) => b,
        }
    }

    /// Heap bytes owned besides the 24 bytes of `self`.
    pub fn heap_size(&self) -> usize {
        match self {
            SmallBytes::Inline(_) => 0,
            SmallBytes::Heap(b) => b.len(),
        }
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_up_to_cap_then_heap() {
        for n in 0..=40 {
            let b: Vec<u8> = (0..n as u8).collect();
            let s = SmallBytes::new(&b);
            assert_eq!(s.as_bytes(), &b[..]);
            assert_eq!(matches!(s, SmallBytes::Inline(_)), n <= INLINE_CAP);
            assert_eq!(s.heap_size(), if n <= INLINE_CAP { 0 } else { n });
        }
        assert!(InlineBytes::new(&[0; INLINE_CAP + 1]).is_none());
        assert_eq!(std::mem::size_of::<InlineBytes>(), 23);
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(InlineBytes::new(b"ab"), InlineBytes::new(b"ab"));
        assert_ne!(InlineBytes::new(b"ab"), InlineBytes::new(b"ab\0"));
        assert_eq!(format!("{:?}", SmallBytes::new(b"k")), "\"k\"");
    }
}
