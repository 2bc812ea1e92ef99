//! Reply encoder: every function appends one RESP2 value to `out`.
//! (Helper: implement; integers via itoa, no intermediate allocation.)

/// `+s\r\n`
pub fn simple(out: &mut Vec<u8>, s: &[u8]) { let _ = (out, s); todo!() }
/// `-msg\r\n`; `msg` is the whole error text, e.g. `ERR syntax error`.
pub fn error(out: &mut Vec<u8>, msg: &[u8]) { let _ = (out, msg); todo!() }
/// `:n\r\n`
pub fn integer(out: &mut Vec<u8>, n: i64) { let _ = (out, n); todo!() }
/// `$len\r\nbytes\r\n`
pub fn bulk(out: &mut Vec<u8>, b: &[u8]) { let _ = (out, b); todo!() }
/// A bulk string holding the decimal form of `n` (GET of an integer value).
pub fn bulk_int(out: &mut Vec<u8>, n: i64) { let _ = (out, n); todo!() }
/// `$-1\r\n`
pub fn null_bulk(out: &mut Vec<u8>) { let _ = out; todo!() }
/// `*-1\r\n`
pub fn null_array(out: &mut Vec<u8>) { let _ = out; todo!() }
/// `*n\r\n`, followed by the caller's n values.
pub fn array_len(out: &mut Vec<u8>, n: usize) { let _ = (out, n); todo!() }
/// `+OK\r\n`
pub fn ok(out: &mut Vec<u8>) { out.extend_from_slice(b"+OK\r\n") }
