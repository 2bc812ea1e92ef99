//! Byte strings that live inside their owner when short.
//!
//! Most keys and many values are short ("user:1000", "42", a session id), so
//! paying a heap allocation (and the allocator's per-block overhead) for each
//! one would dominate memory per key. Every type here is 24 bytes: the size
//! of a `Vec`, but holding up to 22 bytes in place (19 for a table's
//! [`Key`], which also carries the key's access stamp).

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

/// Longest key kept in place by [`Key`]: 24 bytes minus the enum tag, a
/// length byte and the 3-byte access stamp.
pub const KEY_INLINE_CAP: usize = 19;

/// A table entry's key and its 24-bit access stamp, in 24 bytes: the key in
/// place up to [`KEY_INLINE_CAP`] bytes, else one exact heap allocation.
///
/// The stamp is Redis's `lru` field (see [`crate::evict`]): the entry has
/// no other room for it, since the table node is exactly one 64-byte size
/// class. Keeping it here costs three bytes of inline key (22 to 19), which
/// still holds the keys benchmarks and most applications use
/// (`key:000000000042`, `memtier-1234567`, `user:1000:cart`).
#[repr(u8)]
#[derive(Clone)]
pub enum Key {
    /// Short: no allocation. `len`'s top bit is the snapshot mark.
    Inline {
        len: u8,
        stamp: [u8; 3],
        data: [u8; KEY_INLINE_CAP],
    },
    /// Long: exactly the key's bytes on the heap (`mark` sits in what would
    /// be padding).
    Heap {
        stamp: [u8; 3],
        mark: bool,
        bytes: Box<[u8]>,
    },
}

/// The bit of an inline key's length byte that holds its snapshot mark.
const MARK_BIT: u8 = 0x80;

const _: () = assert!(std::mem::size_of::<Key>() == 24);

impl Key {
    /// Copies `b` (in place when short enough) with access stamp `stamp`.
    #[inline]
    pub fn new(b: &[u8], stamp: u32) -> Key {
        let stamp = stamp_bytes(stamp);
        if b.len() <= KEY_INLINE_CAP {
            let mut data = [0; KEY_INLINE_CAP];
            data[..b.len()].copy_from_slice(b);
            Key::Inline {
                len: b.len() as u8,
                stamp,
                data,
            }
        } else {
            Key::Heap {
                stamp,
                mark: false,
                bytes: b.into(),
            }
        }
    }

    /// The key's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, data, .. } => &data[..usize::from(*len & !MARK_BIT)],
            Key::Heap { bytes, .. } => bytes,
        }
    }

    /// The 24-bit access stamp.
    #[inline]
    pub fn stamp(&self) -> u32 {
        let (Key::Inline { stamp, .. } | Key::Heap { stamp, .. }) = self;
        u32::from_le_bytes([stamp[0], stamp[1], stamp[2], 0])
    }

    /// The snapshot mark: which snapshot last saved (or did not need to
    /// save) this key, as a parity bit (see `Db::begin_snapshot`).
    #[inline]
    pub fn mark(&self) -> bool {
        match self {
            Key::Inline { len, .. } => len & MARK_BIT != 0,
            Key::Heap { mark, .. } => *mark,
        }
    }

    #[inline]
    pub fn set_mark(&mut self, m: bool) {
        match self {
            Key::Inline { len, .. } => {
                *len = (*len & !MARK_BIT) | if m { MARK_BIT } else { 0 };
            }
            Key::Heap { mark, .. } => *mark = m,
        }
    }

    /// Replaces the access stamp (only its low 24 bits are kept).
    #[inline]
    pub fn set_stamp(&mut self, v: u32) {
        let (Key::Inline { stamp, .. } | Key::Heap { stamp, .. }) = self;
        *stamp = stamp_bytes(v);
    }

    /// Heap bytes owned besides the 24 bytes of `self`.
    pub fn heap_size(&self) -> usize {
        match self {
            Key::Inline { .. } => 0,
            Key::Heap { bytes, .. } => bytes.len(),
        }
    }
}

#[inline]
fn stamp_bytes(v: u32) -> [u8; 3] {
    let [a, b, c, _] = v.to_le_bytes();
    [a, b, c]
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_snapshot_mark_leaves_key_and_stamp_alone() {
        for key in [&b"short"[..], &[b'x'; 19][..], &[b'y'; 40][..]] {
            let mut k = Key::new(key, 0x00ab_cdef);
            assert!(!k.mark());
            k.set_mark(true);
            assert!(k.mark());
            assert_eq!(k.as_bytes(), key);
            assert_eq!(k.stamp(), 0x00ab_cdef);
            k.set_mark(false);
            assert!(!k.mark());
            assert_eq!(k.as_bytes(), key);
        }
    }

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
    fn keys_inline_up_to_cap_and_keep_their_stamp() {
        for n in 0..=40 {
            let b: Vec<u8> = (0..n as u8).collect();
            let mut k = Key::new(&b, 0x00ab_cdef);
            assert_eq!(k.as_bytes(), &b[..]);
            assert_eq!(matches!(k, Key::Inline { .. }), n <= KEY_INLINE_CAP);
            assert_eq!(k.heap_size(), if n <= KEY_INLINE_CAP { 0 } else { n });
            assert_eq!(k.stamp(), 0x00ab_cdef);
            k.set_stamp(0xff12_3456);
            assert_eq!(k.stamp(), 0x0012_3456);
            assert_eq!(k.as_bytes(), &b[..]);
        }
    }

    #[test]
    fn equality_is_by_content() {
        assert_eq!(InlineBytes::new(b"ab"), InlineBytes::new(b"ab"));
        assert_ne!(InlineBytes::new(b"ab"), InlineBytes::new(b"ab\0"));
        assert_eq!(format!("{:?}", SmallBytes::new(b"k")), "\"k\"");
    }
}
