//! Reading Redis's listpack, the packed form of small hashes and sorted
//! sets and of quicklist nodes in Redis 7.0's RDB.
//!
//! A listpack is: total bytes (u32 LE), entry count (u16 LE; 65535 means
//! "too many to count here"), the entries, and a 0xFF terminator. Each
//! entry is an encoding, its data, and a back-length: the size of encoding
//! and data as a varint of 7 bits a byte written to be read from its end
//! (the byte nearest the entry's end holds the low bits, and every byte
//! but the first has its top bit set). Encodings:
//!
//! | first byte | entry                                              |
//! |------------|----------------------------------------------------|
//! | `0xxxxxxx` | integer 0..=127                                    |
//! | `10xxxxxx` | string of up to 63 bytes                           |
//! | `110xxxxx` | 13-bit signed integer, high bits here, then a byte |
//! | `1110xxxx` | string of up to 4095 bytes (12-bit length)         |
//! | `11110000` | string with a u32 LE length                        |
//! | `0xF1..=0xF4` | integer in 2, 3, 4 or 8 bytes, LE              |
//!
//! Every entry's bounds and back-length are checked while walking, then
//! the count and the terminator's place at the end.

use super::decode::{Entries as EntriesTrait, Result, BAD};
use super::ziplist::signed_le;
use crate::StrRef;

const HEADER: usize = 6;
const END: u8 = 0xFF;
const UNKNOWN_COUNT: usize = u16::MAX as usize;

/// A validating walk over a listpack's entries.
pub(super) struct Entries<'a> {
    buf: &'a [u8],
    pos: usize,
    declared: usize,
    seen: usize,
    done: bool,
}

impl<'a> Entries<'a> {
    /// Checks the header and positions at the first entry.
    pub(super) fn new(buf: &'a [u8]) -> Result<Entries<'a>> {
        let head: [u8; HEADER] = buf.get(..HEADER).ok_or(BAD)?.try_into().map_err(|_| BAD)?;
        let total = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        if buf.len() < HEADER + 1 || usize::try_from(total).ok() != Some(buf.len()) {
            return Err(BAD);
        }
        Ok(Entries {
            buf,
            pos: HEADER,
            declared: usize::from(u16::from_le_bytes([head[4], head[5]])),
            seen: 0,
            done: false,
        })
    }

    fn slice(&self, at: usize, n: usize) -> Result<&'a [u8]> {
        let end = at.checked_add(n).ok_or(BAD)?;
        self.buf.get(at..end).ok_or(BAD)
    }

    fn finish(&mut self) -> Result<()> {
        // 65535 is "unknown": Redis stops counting there and, after
        // deletions, may keep it with fewer entries, so it is not checked.
        let count_ok = self.declared == UNKNOWN_COUNT || self.seen == self.declared;
        if self.pos != self.buf.len() - 1 || !count_ok {
            return Err(BAD);
        }
        self.done = true;
        Ok(())
    }
}

/// The back-length bytes for an entry of `len` bytes, as they appear in
/// the listpack (first to last), and how many there are.
fn backlen(mut len: usize) -> ([u8; 5], usize) {
    let mut out = [0u8; 5];
    let mut groups = [0u8; 5];
    let mut n = 0;
    loop {
        groups[n] = (len & 0x7f) as u8;
        len >>= 7;
        n += 1;
        if len == 0 || n == 5 {
            break;
        }
    }
    // groups[0] holds the low bits and sits last; every byte that is not
    // the most significant group carries the continuation bit.
    for (i, g) in groups[..n].iter().enumerate() {
        let cont = if i + 1 < n { 0x80 } else { 0 };
        out[n - 1 - i] = g | cont;
    }
    (out, n)
}

impl<'a> EntriesTrait<'a> for Entries<'a> {
    fn next_entry(&mut self) -> Result<Option<StrRef<'a>>> {
        if self.done {
            return Ok(None);
        }
        let start = self.pos;
        let b = *self.buf.get(start).ok_or(BAD)?;
        if b == END {
            self.finish()?;
            return Ok(None);
        }
        let (head, entry) = if b & 0x80 == 0 {
            (1, StrRef::Int(i64::from(b)))
        } else if b & 0xC0 == 0x80 {
            let n = usize::from(b & 0x3f);
            (1 + n, StrRef::Bytes(self.slice(start + 1, n)?))
        } else if b & 0xE0 == 0xC0 {
            let lo = self.slice(start + 1, 1)?[0];
            let raw = i64::from(b & 0x1f) << 8 | i64::from(lo);
            // Sign-extend 13 bits.
            (2, StrRef::Int((raw << 51) >> 51))
        } else if b & 0xF0 == 0xE0 {
            let lo = self.slice(start + 1, 1)?[0];
            let n = usize::from(b & 0x0f) << 8 | usize::from(lo);
            (2 + n, StrRef::Bytes(self.slice(start + 2, n)?))
        } else {
            match b {
                0xF0 => {
                    let l = self.slice(start + 1, 4)?;
                    let n = u32::from_le_bytes([l[0], l[1], l[2], l[3]]);
                    let n = usize::try_from(n).map_err(|_| BAD)?;
                    let size = n.checked_add(5).ok_or(BAD)?;
                    (size, StrRef::Bytes(self.slice(start + 5, n)?))
                }
                0xF1..=0xF4 => {
                    let width = match b {
                        0xF1 => 2,
                        0xF2 => 3,
                        0xF3 => 4,
                        _ => 8,
                    };
                    (
                        1 + width,
                        StrRef::Int(signed_le(self.slice(start + 1, width)?)),
                    )
                }
                _ => return Err(BAD),
            }
        };
        let (back, back_len) = backlen(head);
        let at = start.checked_add(head).ok_or(BAD)?;
        if self.slice(at, back_len)? != &back[..back_len] {
            return Err(BAD);
        }
        let end = at + back_len;
        // The terminator must still follow.
        if end >= self.buf.len() {
            return Err(BAD);
        }
        self.pos = end;
        self.seen += 1;
        Ok(Some(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::backlen;

    #[test]
    fn backlen_bytes() {
        assert_eq!(backlen(5), ([5, 0, 0, 0, 0], 1));
        assert_eq!(backlen(127), ([127, 0, 0, 0, 0], 1));
        // 128 = 1 << 7: high group 1 first, then low group 0 with the
        // continuation bit, read from the end.
        assert_eq!(backlen(128), ([0x01, 0x80, 0, 0, 0], 2));
        assert_eq!(backlen(4097), ([0x20, 0x81, 0, 0, 0], 2));
    }
}
