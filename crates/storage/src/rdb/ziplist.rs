//! Reading Redis's ziplist, the packed form of small lists, hashes and
//! sorted sets in RDB files from Redis 2.6 to 6.2 (and the nodes of
//! version-1 quicklists).
//!
//! A ziplist is: total bytes (u32 LE), offset of the last entry (u32 LE),
//! entry count (u16 LE; 65535 means "too many to count here"), the
//! entries, and a 0xFF terminator. Each entry is:
//!
//! - the previous entry's size: one byte below 254, or 254 and a u32 LE;
//! - an encoding: `00pppppp` (string of up to 63 bytes), `01pppppp q`
//!   (up to 16383 bytes, big-endian), `10______` and a u32 big-endian
//!   length, or an integer: 0xC0 i16, 0xD0 i32, 0xE0 i64, 0xF0 i24,
//!   0xFE i8 (all little-endian), 0xF1..=0xFD the value 0..=12 itself;
//! - the string's bytes or the integer's.
//!
//! Everything is checked while walking: the total against the blob's
//! size, each entry's encoding and bounds, each back-link against the
//! previous entry's real size, the tail offset against the last entry,
//! the count against the entries seen, and the terminator's place.

use super::decode::{Entries as EntriesTrait, Result, BAD};
use crate::StrRef;

const HEADER: usize = 10;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 0xFE;
/// A count field of this value means "walk to count".
const UNKNOWN_COUNT: usize = u16::MAX as usize;

/// A validating walk over a ziplist's entries.
pub(super) struct Entries<'a> {
    buf: &'a [u8],
    pos: usize,
    tail: usize,
    declared: usize,
    seen: usize,
    /// Start and size of the previous entry.
    prev: Option<(usize, usize)>,
    done: bool,
}

fn le_u32(b: &[u8], at: usize) -> Result<usize> {
    let s = b.get(at..at + 4).ok_or(BAD)?;
    let a: [u8; 4] = s.try_into().map_err(|_| BAD)?;
    usize::try_from(u32::from_le_bytes(a)).map_err(|_| BAD)
}

impl<'a> Entries<'a> {
    /// Checks the header and positions at the first entry.
    pub(super) fn new(buf: &'a [u8]) -> Result<Entries<'a>> {
        if buf.len() < HEADER + 1 || le_u32(buf, 0)? != buf.len() {
            return Err(BAD);
        }
        let tail = le_u32(buf, 4)?;
        let declared = usize::from(u16::from_le_bytes([buf[8], buf[9]]));
        Ok(Entries {
            buf,
            pos: HEADER,
            tail,
            declared,
            seen: 0,
            prev: None,
            done: false,
        })
    }

    fn byte(&self, at: usize) -> Result<u8> {
        self.buf.get(at).copied().ok_or(BAD)
    }

    fn slice(&self, at: usize, n: usize) -> Result<&'a [u8]> {
        let end = at.checked_add(n).ok_or(BAD)?;
        self.buf.get(at..end).ok_or(BAD)
    }

    /// Checks the terminator, tail offset and count once the walk ends.
    fn finish(&mut self) -> Result<()> {
        if self.pos != self.buf.len() - 1 {
            return Err(BAD);
        }
        let last = self.prev.map_or(HEADER, |(start, _)| start);
        // 65535 is "unknown": Redis stops counting there and, after
        // deletions, may keep it with fewer entries, so it is not checked.
        let count_ok = self.declared == UNKNOWN_COUNT || self.seen == self.declared;
        if self.tail != last || !count_ok {
            return Err(BAD);
        }
        self.done = true;
        Ok(())
    }
}

impl<'a> EntriesTrait<'a> for Entries<'a> {
    fn next_entry(&mut self) -> Result<Option<StrRef<'a>>> {
        if self.done {
            return Ok(None);
        }
        let start = self.pos;
        let first = self.byte(start)?;
        if first == END {
            self.finish()?;
            return Ok(None);
        }
        let (prevlen, mut at) = if first == BIG_PREVLEN {
            (le_u32(self.buf, start + 1)?, start + 5)
        } else {
            (usize::from(first), start + 1)
        };
        if prevlen != self.prev.map_or(0, |(_, size)| size) {
            return Err(BAD);
        }
        let enc = self.byte(at)?;
        at += 1;
        let str_len = match enc >> 6 {
            0 => Some(usize::from(enc & 0x3f)),
            1 => {
                let lo = self.byte(at)?;
                at += 1;
                Some(usize::from(enc & 0x3f) << 8 | usize::from(lo))
            }
            2 => {
                let s = self.slice(at, 4)?;
                at += 4;
                let a: [u8; 4] = s.try_into().map_err(|_| BAD)?;
                Some(usize::try_from(u32::from_be_bytes(a)).map_err(|_| BAD)?)
            }
            _ => None,
        };
        let entry = match str_len {
            Some(n) => {
                let s = self.slice(at, n)?;
                at += n;
                StrRef::Bytes(s)
            }
            None => {
                let width = match enc {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return Err(BAD),
                };
                let s = self.slice(at, width)?;
                at += width;
                StrRef::Int(if width == 0 {
                    i64::from(enc & 0x0f) - 1
                } else {
                    signed_le(s)
                })
            }
        };
        // The terminator must still follow.
        if at >= self.buf.len() {
            return Err(BAD);
        }
        self.prev = Some((start, at - start));
        self.pos = at;
        self.seen += 1;
        Ok(Some(entry))
    }
}

/// A little-endian two's-complement integer of 1 to 8 bytes.
pub(super) fn signed_le(s: &[u8]) -> i64 {
    let n = s.len().min(8);
    if n == 0 {
        return 0;
    }
    let mut b = [0u8; 8];
    b[..n].copy_from_slice(&s[..n]);
    let shift = 64 - 8 * n as u32;
    (i64::from_le_bytes(b) << shift) >> shift
}
