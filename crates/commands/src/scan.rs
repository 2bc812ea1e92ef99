//! The arguments every SCAN-family command takes — `cursor [MATCH pattern]
//! [COUNT count]`, plus `[TYPE type]` for SCAN itself — parsed in one place
//! with Redis's errors.

use crate::args::parse_i64;
use crate::Error;

/// Parsed `cursor [MATCH p] [COUNT n] [TYPE t]`.
#[derive(Debug, Clone, Default)]
pub struct ScanOpts<'a> {
    pub cursor: u64,
    /// None: no MATCH, or `MATCH *` (which filters nothing).
    pub pattern: Option<&'a [u8]>,
    /// How much work one call does (Redis's "hint"); 10 by default.
    pub count: usize,
    /// SCAN's TYPE filter (only when the caller allows it).
    pub type_name: Option<&'a [u8]>,
}

impl<'a> ScanOpts<'a> {
    /// Parses `argv[pos]` (the cursor) and the options after it. TYPE is
    /// accepted only when `allow_type` (SCAN; not HSCAN/SSCAN/ZSCAN).
    pub fn parse(argv: &[&'a [u8]], pos: usize, allow_type: bool) -> Result<ScanOpts<'a>, Error> {
        let cursor = argv
            .get(pos)
            .and_then(|c| parse_cursor(c))
            .ok_or(Error::Static("ERR invalid cursor"))?;
        let mut o = ScanOpts {
            cursor,
            count: 10,
            ..ScanOpts::default()
        };
        let mut i = pos + 1;
        while i < argv.len() {
            let val = *argv.get(i + 1).ok_or(Error::Syntax)?;
            let opt = argv[i];
            if opt.eq_ignore_ascii_case(b"match") {
                o.pattern = Some(val).filter(|p| *p != b"*");
            } else if opt.eq_ignore_ascii_case(b"count") {
                let c = parse_i64(val).ok_or(Error::NotInteger)?;
                if c < 1 {
                    return Err(Error::Syntax);
                }
                o.count = c as usize;
            } else if allow_type && opt.eq_ignore_ascii_case(b"type") {
                o.type_name = Some(val);
            } else {
                return Err(Error::Syntax);
            }
            i += 2;
        }
        Ok(o)
    }

    /// True when `item` passes MATCH.
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| storage::glob_match(p, item, false))
    }
}

/// A cursor as Redis reads it (`strtoul`): decimal digits, optionally
/// after a `-` that negates modulo 2^64 ("-1" is the largest cursor).
fn parse_cursor(c: &[u8]) -> Option<u64> {
    let (neg, digits) = match c {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, c),
    };
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(if neg { n.wrapping_neg() } else { n })
}

/// Writes a SCAN reply: `[next-cursor, [items...]]`, items already encoded
/// as `n` bulk strings in `items`.
pub fn reply(out: &mut Vec<u8>, next: u64, n: usize, items: &[u8]) {
    resp::encode::array_len(out, 2);
    resp::encode::bulk(out, itoa::Buffer::new().format(next).as_bytes());
    resp::encode::array_len(out, n);
    out.extend_from_slice(items);
}
