//! Reading Redis's zipmap, the packed form of small hashes in RDB files
//! written before Redis 2.6.
//!
//! A zipmap is: a count byte (the pair count when below 254, else
//! "walk to count"), then pairs, then 0xFF. A pair is the field's length
//! and bytes, the value's length, a "free" byte (unused bytes after the
//! value, left by in-place updates), the value's bytes and the free bytes.
//! A length is one byte below 254, or 254 and a u32 LE.
//!
//! Entries come out as field, value, field, value; the count, the free
//! bytes' bounds and the terminator's place are checked.

use super::decode::{Entries as EntriesTrait, Result, BAD};
use crate::StrRef;

const END: u8 = 0xFF;
const BIG_LEN: u8 = 254;

/// A validating walk over a zipmap, yielding fields and values in turn.
pub(super) struct Entries<'a> {
    buf: &'a [u8],
    pos: usize,
    declared: Option<usize>,
    pairs: usize,
    /// Where the value of the current pair is, once its field was yielded.
    pending: Option<&'a [u8]>,
    done: bool,
}

impl<'a> Entries<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Result<Entries<'a>> {
        let count = *buf.first().ok_or(BAD)?;
        Ok(Entries {
            buf,
            pos: 1,
            declared: (count < BIG_LEN).then_some(usize::from(count)),
            pairs: 0,
            pending: None,
            done: false,
        })
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or(BAD)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(BAD)?;
        let s = self.buf.get(self.pos..end).ok_or(BAD)?;
        self.pos = end;
        Ok(s)
    }

    /// A length whose first byte `b` was already read.
    fn len(&mut self, b: u8) -> Result<usize> {
        match b {
            BIG_LEN => {
                let s = self.take(4)?;
                let n = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                usize::try_from(n).map_err(|_| BAD)
            }
            END => Err(BAD),
            n => Ok(usize::from(n)),
        }
    }
}

impl<'a> EntriesTrait<'a> for Entries<'a> {
    fn next_entry(&mut self) -> Result<Option<StrRef<'a>>> {
        if let Some(v) = self.pending.take() {
            return Ok(Some(StrRef::Bytes(v)));
        }
        if self.done {
            return Ok(None);
        }
        let b = self.byte()?;
        if b == END {
            if self.pos != self.buf.len() || self.declared.is_some_and(|d| d != self.pairs) {
                return Err(BAD);
            }
            self.done = true;
            return Ok(None);
        }
        let flen = self.len(b)?;
        let field = self.take(flen)?;
        let vb = self.byte()?;
        let vlen = self.len(vb)?;
        let free = usize::from(self.byte()?);
        let value = self.take(vlen)?;
        self.take(free)?;
        self.pairs += 1;
        self.pending = Some(value);
        Ok(Some(StrRef::Bytes(field)))
    }
}
