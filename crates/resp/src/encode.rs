//! Reply encoder: every function appends one RESP2 value to `out`.
//!
//! Each writes its value in one pass with no intermediate allocation; numbers
//! are formatted on the stack with `itoa`. An array is its header from
//! [`array_len`] followed by the caller's elements, so a reply is streamed into
//! the connection's write buffer as it is produced.

/// Appends `prefix`, the decimal form of `n`, and CRLF.
#[inline]
fn line_int(out: &mut Vec<u8>, prefix: u8, n: impl itoa::Integer) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n).as_bytes();
    out.reserve(digits.len() + 3);
    out.push(prefix);
    out.extend_from_slice(digits);
    out.extend_from_slice(b"\r\n");
}

/// `+s\r\n`. `s` must not contain CR or LF.
pub fn simple(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 3);
    out.push(b'+');
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

/// `-msg\r\n`; `msg` is the whole error text, e.g. `ERR syntax error`. It must
/// not contain CR or LF.
pub fn error(out: &mut Vec<u8>, msg: &[u8]) {
    out.reserve(msg.len() + 3);
    out.push(b'-');
    out.extend_from_slice(msg);
    out.extend_from_slice(b"\r\n");
}

/// `:n\r\n`
pub fn integer(out: &mut Vec<u8>, n: i64) {
    line_int(out, b':', n);
}

/// `$len\r\nbytes\r\n`
#[inline]
pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    let mut buf = itoa::Buffer::new();
    let len = buf.format(b.len()).as_bytes();
    out.reserve(len.len() + b.len() + 5);
    out.push(b'$');
    out.extend_from_slice(len);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// `$len\r\n`: the header of a bulk string whose bytes (and closing
/// `\r\n`) the caller sends itself.
pub fn bulk_len(out: &mut Vec<u8>, len: usize) {
    let mut buf = itoa::Buffer::new();
    out.push(b'$');
    out.extend_from_slice(buf.format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A bulk string holding the decimal form of `n` (GET of an integer value).
pub fn bulk_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = itoa::Buffer::new();
    bulk(out, buf.format(n).as_bytes());
}

/// `$-1\r\n`
pub fn null_bulk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*-1\r\n`
pub fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// `*n\r\n`, followed by the caller's n values.
pub fn array_len(out: &mut Vec<u8>, n: usize) {
    line_int(out, b'*', n);
}

/// A push of n values (`>n\r\n`) in RESP3; an array (`*n\r\n`) in RESP2.
pub fn push_len(out: &mut Vec<u8>, n: usize, resp3: bool) {
    line_int(out, if resp3 { b'>' } else { b'*' }, n);
}

/// `+OK\r\n`
pub fn ok(out: &mut Vec<u8>) {
    out.extend_from_slice(b"+OK\r\n")
}

/// The null reply: `_\r\n` in RESP3, the null bulk `$-1\r\n` in RESP2.
pub fn null(out: &mut Vec<u8>, resp3: bool) {
    if resp3 {
        out.extend_from_slice(b"_\r\n");
    } else {
        null_bulk(out);
    }
}

/// The null aggregate (EXEC of a failed WATCH, a timed-out blocking pop):
/// `_\r\n` in RESP3, the null array `*-1\r\n` in RESP2.
pub fn null_aggregate(out: &mut Vec<u8>, resp3: bool) {
    if resp3 {
        out.extend_from_slice(b"_\r\n");
    } else {
        null_array(out);
    }
}

/// A text meant for people: RESP3's verbatim string (`txt`), a bulk
/// string in RESP2, as Redis answers INFO, CLUSTER NODES, LATENCY DOCTOR.
pub fn verbatim(out: &mut Vec<u8>, s: &[u8], resp3: bool) {
    if resp3 {
        out.push(b'=');
        out.extend_from_slice(itoa::Buffer::new().format(s.len() + 4).as_bytes());
        out.extend_from_slice(b"\r\ntxt:");
        out.extend_from_slice(s);
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, s);
    }
}

/// A map of `n` pairs: `%n\r\n` in RESP3, a flat array of `2n` in RESP2.
pub fn map_len(out: &mut Vec<u8>, n: usize, resp3: bool) {
    if resp3 {
        out.push(b'%');
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        array_len(out, n * 2);
    }
}

/// A set of `n` elements: `~n\r\n` in RESP3, an array in RESP2.
pub fn set_len(out: &mut Vec<u8>, n: usize, resp3: bool) {
    if resp3 {
        out.push(b'~');
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        array_len(out, n);
    }
}

/// A double as Redis 7.0 replies it (ZSCORE, ZINCRBY, WITHSCORES): C's
/// `%.17g` text, `inf`/`-inf` for infinities; a bulk string in RESP2, a
/// `,` double in RESP3.
pub fn double(out: &mut Vec<u8>, v: f64, resp3: bool) {
    let s = fmt_double(v);
    if resp3 {
        out.push(b',');
        out.extend_from_slice(s.as_bytes());
        out.extend_from_slice(b"\r\n");
    } else {
        bulk(out, s.as_bytes());
    }
}

/// C's `printf("%.17g", v)`, with `inf`, `-inf` and `nan` as Redis prints
/// them: 17 significant digits, trailing zeros dropped, scientific notation
/// (`1e+20`) when the exponent is below -4 or at least 17.
pub fn fmt_double(v: f64) -> String {
    const PRECISION: i32 = 17;
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust rounds to 17 significant digits exactly as printf does
    // (correctly rounded); read the exponent back from that form.
    let sci = format!("{:.*e}", (PRECISION - 1) as usize, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exp) {
        let m = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (PRECISION - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{v:.decimals$}")).to_string()
    }
}

/// `1.2300` -> `1.23`, `5.000` -> `5`; text without a '.' is unchanged.
fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = b"prefix".to_vec();
        f(&mut out);
        out.split_off(6)
    }

    #[test]
    fn every_encoder() {
        assert_eq!(encoded(|o| simple(o, b"PONG")), b"+PONG\r\n");
        assert_eq!(
            encoded(|o| error(o, b"ERR syntax error")),
            b"-ERR syntax error\r\n"
        );
        assert_eq!(encoded(|o| integer(o, 0)), b":0\r\n");
        assert_eq!(encoded(|o| integer(o, -42)), b":-42\r\n");
        assert_eq!(
            encoded(|o| integer(o, i64::MIN)),
            b":-9223372036854775808\r\n"
        );
        assert_eq!(encoded(|o| bulk(o, b"")), b"$0\r\n\r\n");
        assert_eq!(encoded(|o| bulk(o, b"a\r\nb")), b"$4\r\na\r\nb\r\n");
        assert_eq!(encoded(|o| bulk_int(o, 1234)), b"$4\r\n1234\r\n");
        assert_eq!(encoded(|o| bulk_int(o, -7)), b"$2\r\n-7\r\n");
        assert_eq!(encoded(null_bulk), b"$-1\r\n");
        assert_eq!(encoded(null_array), b"*-1\r\n");
        assert_eq!(encoded(|o| array_len(o, 0)), b"*0\r\n");
        assert_eq!(encoded(|o| array_len(o, 12)), b"*12\r\n");
        assert_eq!(encoded(ok), b"+OK\r\n");
    }

    #[test]
    fn doubles_as_printf_17g() {
        for (v, s) in [
            (1.1, "1.1000000000000001"),
            (0.1, "0.10000000000000001"),
            (3.0, "3"),
            (-3.0, "-3"),
            (1e20, "1e+20"),
            (123456789.123, "123456789.123"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1.5e-300, "1.5000000000000001e-300"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.0, "0"),
            (2.5, "2.5"),
            (9007199254740993.0, "9007199254740992"),
        ] {
            assert_eq!(fmt_double(v), s, "{v:e}");
        }
        assert_eq!(encoded(|o| double(o, 1.5, false)), b"$3\r\n1.5\r\n");
        assert_eq!(encoded(|o| double(o, 1.5, true)), b",1.5\r\n");
        assert_eq!(encoded(|o| double(o, f64::INFINITY, true)), b",inf\r\n");
    }

    #[test]
    fn big_bulk() {
        let value = vec![b'x'; 100_000];
        let out = encoded(|o| bulk(o, &value));
        assert_eq!(&out[..10], b"$100000\r\nx");
        assert_eq!(out.len(), 9 + 100_000 + 2);
        assert!(out.ends_with(b"x\r\n"));
    }
}
