//! Test-only writers for the RDB pieces the decoder reads, written from the
//! format descriptions in the decoder's modules. Redis 7.0 no longer writes
//! the legacy ones (zipmap, ziplist, plain lists, ASCII scores), so tests
//! build them here; they also make lying payloads easy to write.

use crate::rdb::types;

/// One packed-blob entry.
#[derive(Clone, Copy)]
pub enum E<'a> {
    S(&'a [u8]),
    I(i64),
}

/// An RDB length in its shortest form.
pub fn len(n: u64) -> Vec<u8> {
    if n < 64 {
        vec![n as u8]
    } else if n < 16384 {
        vec![0x40 | (n >> 8) as u8, n as u8]
    } else if n <= u64::from(u32::MAX) {
        let mut v = vec![0x80];
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v
    } else {
        let mut v = vec![0x81];
        v.extend_from_slice(&n.to_be_bytes());
        v
    }
}

/// A plain length-prefixed RDB string.
pub fn string(b: &[u8]) -> Vec<u8> {
    let mut v = len(b.len() as u64);
    v.extend_from_slice(b);
    v
}

/// An RDB integer-encoded string (8, 16 or 32 bits).
pub fn int_string(n: i32) -> Vec<u8> {
    if let Ok(b) = i8::try_from(n) {
        vec![0xC0, b as u8]
    } else if let Ok(s) = i16::try_from(n) {
        let mut v = vec![0xC1];
        v.extend_from_slice(&s.to_le_bytes());
        v
    } else {
        let mut v = vec![0xC2];
        v.extend_from_slice(&n.to_le_bytes());
        v
    }
}

/// An LZF-compressed RDB string (the input must be compressible).
pub fn lzf_string(b: &[u8]) -> Vec<u8> {
    let Ok(c) = lzf::compress(b) else {
        panic!("test data does not compress")
    };
    let mut v = vec![0xC3];
    v.extend(len(c.len() as u64));
    v.extend(len(b.len() as u64));
    v.extend(c);
    v
}

/// A body: the type byte then the parts in order.
pub fn body(ty: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![ty];
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// An aggregate of plain strings (LIST, SET): count then strings.
pub fn plain_strings(ty: u8, items: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend(len(items.len() as u64));
    for i in items {
        v.extend(string(i));
    }
    v
}

/// A ZSET (type 3) with scores as length-prefixed text; a score of NaN or
/// an infinity is written with its special length byte.
pub fn zset_ascii(items: &[(&[u8], f64)]) -> Vec<u8> {
    let mut v = vec![types::ZSET];
    v.extend(len(items.len() as u64));
    for (m, s) in items {
        v.extend(string(m));
        if s.is_nan() {
            v.push(253);
        } else if *s == f64::INFINITY {
            v.push(254);
        } else if *s == f64::NEG_INFINITY {
            v.push(255);
        } else {
            let t = format!("{s}");
            v.push(t.len() as u8);
            v.extend_from_slice(t.as_bytes());
        }
    }
    v
}

/// A ziplist of `entries`; `big_prevlen` writes every back-link in its
/// 5-byte form (legal, as Redis may leave after a cascade update).
pub fn ziplist_with(entries: &[E<'_>], big_prevlen: bool) -> Vec<u8> {
    let mut b = vec![0u8; 10];
    let mut prev = 0usize;
    let mut last = 10usize;
    for e in entries {
        let start = b.len();
        if prev < 254 && !big_prevlen {
            b.push(prev as u8);
        } else {
            b.push(0xFE);
            b.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match *e {
            E::S(s) => {
                let n = s.len();
                if n < 64 {
                    b.push(n as u8);
                } else if n < 16384 {
                    b.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
                } else {
                    b.push(0x80);
                    b.extend_from_slice(&(n as u32).to_be_bytes());
                }
                b.extend_from_slice(s);
            }
            E::I(i) => {
                if (0..=12).contains(&i) {
                    b.push(0xF1 + i as u8);
                } else if i8::try_from(i).is_ok() {
                    b.push(0xFE);
                    b.extend_from_slice(&i.to_le_bytes()[..1]);
                } else if i16::try_from(i).is_ok() {
                    b.push(0xC0);
                    b.extend_from_slice(&i.to_le_bytes()[..2]);
                } else if (-(1 << 23)..(1 << 23)).contains(&i) {
                    b.push(0xF0);
                    b.extend_from_slice(&i.to_le_bytes()[..3]);
                } else if i32::try_from(i).is_ok() {
                    b.push(0xD0);
                    b.extend_from_slice(&i.to_le_bytes()[..4]);
                } else {
                    b.push(0xE0);
                    b.extend_from_slice(&i.to_le_bytes());
                }
            }
        }
        prev = b.len() - start;
        last = start;
    }
    b.push(0xFF);
    let total = b.len() as u32;
    b[0..4].copy_from_slice(&total.to_le_bytes());
    b[4..8].copy_from_slice(&(last as u32).to_le_bytes());
    let count = entries.len().min(0xFFFF) as u16;
    b[8..10].copy_from_slice(&count.to_le_bytes());
    b
}

pub fn ziplist(entries: &[E<'_>]) -> Vec<u8> {
    ziplist_with(entries, false)
}

/// A zipmap of `pairs`, each value followed by `free` spare bytes.
pub fn zipmap(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
    fn zlen(b: &mut Vec<u8>, n: usize) {
        if n < 254 {
            b.push(n as u8);
        } else {
            b.push(254);
            b.extend_from_slice(&(n as u32).to_le_bytes());
        }
    }
    let mut b = vec![pairs.len().min(254) as u8];
    for (f, v) in pairs {
        zlen(&mut b, f.len());
        b.extend_from_slice(f);
        zlen(&mut b, v.len());
        b.push(free);
        b.extend_from_slice(v);
        b.extend(std::iter::repeat_n(0u8, usize::from(free)));
    }
    b.push(0xFF);
    b
}

/// A listpack of `entries`, each in its smallest encoding.
pub fn listpack(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = vec![0u8; 6];
    for e in entries {
        let start = b.len();
        match *e {
            E::I(i) if (0..128).contains(&i) => b.push(i as u8),
            E::I(i) if (-4096..4096).contains(&i) => {
                let u = (i & 0x1FFF) as u16;
                b.extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
            }
            E::I(i) => {
                let (tag, w) = if i16::try_from(i).is_ok() {
                    (0xF1, 2)
                } else if (-(1 << 23)..(1 << 23)).contains(&i) {
                    (0xF2, 3)
                } else if i32::try_from(i).is_ok() {
                    (0xF3, 4)
                } else {
                    (0xF4, 8)
                };
                b.push(tag);
                b.extend_from_slice(&i.to_le_bytes()[..w]);
            }
            E::S(s) => {
                let n = s.len();
                if n < 64 {
                    b.push(0x80 | n as u8);
                } else if n < 4096 {
                    b.extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
                } else {
                    b.push(0xF0);
                    b.extend_from_slice(&(n as u32).to_le_bytes());
                }
                b.extend_from_slice(s);
            }
        }
        // Back-length: 7-bit groups, most significant first, every group
        // after the first flagged with the top bit.
        let mut l = b.len() - start;
        let mut groups = vec![];
        loop {
            groups.push((l & 0x7F) as u8);
            l >>= 7;
            if l == 0 {
                break;
            }
        }
        let n = groups.len();
        for (i, g) in groups.iter().enumerate().rev() {
            b.push(if i == n - 1 { *g } else { g | 0x80 });
        }
    }
    b.push(0xFF);
    let total = b.len() as u32;
    b[0..4].copy_from_slice(&total.to_le_bytes());
    let count = entries.len().min(0xFFFF) as u16;
    b[4..6].copy_from_slice(&count.to_le_bytes());
    b
}

/// An intset blob: width, count, then the values as given (not sorted
/// here, so tests can write unsorted ones).
pub fn intset(width: u32, vals: &[i64]) -> Vec<u8> {
    let mut b = width.to_le_bytes().to_vec();
    b.extend_from_slice(&(vals.len() as u32).to_le_bytes());
    for v in vals {
        b.extend_from_slice(&v.to_le_bytes()[..width as usize]);
    }
    b
}
