//! The one argument cursor every handler reads its arguments with, and the
//! number parsers that match Redis's (`string2ll`, `strtold`).

use crate::error::Error;

/// Walks a command's arguments (after the command name).
pub struct Args<'a> {
    argv: &'a [&'a [u8]],
    pos: usize,
}

impl<'a> Args<'a> {
    /// A cursor over `argv`, positioned after the command name.
    pub fn new(argv: &'a [&'a [u8]]) -> Self {
        Args { argv, pos: 1 }
    }
    /// A cursor positioned at `argv[pos]`.
    pub fn at(argv: &'a [&'a [u8]], pos: usize) -> Self {
        Args { argv, pos }
    }
    /// Arguments not yet consumed.
    pub fn remaining(&self) -> usize {
        self.argv.len().saturating_sub(self.pos)
    }
    pub fn is_done(&self) -> bool {
        self.remaining() == 0
    }
    /// The next argument; a syntax error when there is none.
    pub fn next_bytes(&mut self) -> Result<&'a [u8], Error> {
        let a = self.argv.get(self.pos).ok_or(Error::Syntax)?;
        self.pos += 1;
        Ok(a)
    }
    /// The next argument as an integer (`string2ll` rules).
    pub fn next_i64(&mut self) -> Result<i64, Error> {
        parse_i64(self.next_bytes()?).ok_or(Error::NotInteger)
    }
    /// The next argument as a double (`strtold` rules, NaN refused).
    pub fn next_f64(&mut self) -> Result<f64, Error> {
        parse_f64(self.next_bytes()?).ok_or(Error::NotFloat)
    }
    /// The next argument, without consuming it.
    pub fn peek(&self) -> Option<&'a [u8]> {
        self.argv.get(self.pos).copied()
    }
    /// Consumes the next argument if it equals `word` (ASCII case-insensitive).
    pub fn flag(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(a) if a.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }
    /// Every remaining argument.
    pub fn rest(&mut self) -> &'a [&'a [u8]] {
        let r = &self.argv[self.pos.min(self.argv.len())..];
        self.pos = self.argv.len();
        r
    }
    /// A syntax error unless every argument was consumed.
    pub fn finish(&self) -> Result<(), Error> {
        if self.is_done() {
            Ok(())
        } else {
            Err(Error::Syntax)
        }
    }
}

/// Redis's `string2ll`: optional '-', digits, no leading zeros, no '+', no spaces.
pub fn parse_i64(b: &[u8]) -> Option<i64> {
    storage::parse_canonical_i64(b)
}

/// A double as Redis's `string2ld`/`strtold` reads it: no leading space, no NaN.
/// `inf`, `-inf`, `+inf` and exponents are accepted.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 5000 || b[0].is_ascii_whitespace() {
        return None;
    }
    let s = std::str::from_utf8(b).ok()?;
    let v: f64 = s.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    Some(v)
}

/// Formats a double as INCRBYFLOAT replies it: integral values without a
/// fraction, others in their shortest round-trip decimal form.
pub fn format_f64(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e17 {
        return format!("{}", v as i64);
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [
            &b""[..],
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"-0",
            b"-",
            b"1a",
            b"1.0",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn doubles() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(format_f64(3.0), "3");
        assert_eq!(format_f64(10.5), "10.5");
        assert_eq!(format_f64(17179869185.5), "17179869185.5");
    }
}
