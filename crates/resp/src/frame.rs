//! A typed RESP2 value, for the client side (tests, MIGRATE's connection to a
//! target) and for replies built in pieces.
//!
//! The server's hot path never builds a [`Frame`]: it writes replies straight
//! into its buffer with [`encode`]. Frames are for code that
//! *reads* replies, through [`parse_frame`], which is strict (every line must
//! end in CRLF) and bounded: nesting deeper than [`MAX_DEPTH`] is an error and
//! nothing is allocated for elements that have not arrived.

use crate::encode;
use crate::parse::{string_to_i64, ProtocolError};

/// Arrays nested deeper than this are rejected by [`parse_frame`], so a hostile
/// peer cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// Elements reserved up front for an array, whatever count it declares.
const RESERVE_CAP: usize = 1024;

/// One RESP2 value. Integers are `i64`; strings are binary-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+text\r\n`
    Simple(Vec<u8>),
    /// `-text\r\n`, the text including its code, e.g. `ERR syntax error`.
    Error(Vec<u8>),
    /// `:n\r\n`
    Integer(i64),
    /// `$len\r\nbytes\r\n`
    Bulk(Vec<u8>),
    /// The null bulk string, `$-1\r\n`.
    Null,
    /// `*n\r\n` followed by its n elements.
    Array(Vec<Frame>),
    /// The null array, `*-1\r\n`.
    NullArray,
}

impl Frame {
    /// Appends this value's RESP2 encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Simple(s) => encode::simple(out, s),
            Frame::Error(e) => encode::error(out, e),
            Frame::Integer(n) => encode::integer(out, *n),
            Frame::Bulk(b) => encode::bulk(out, b),
            Frame::Null => encode::null_bulk(out),
            Frame::Array(items) => {
                encode::array_len(out, items.len());
                for item in items {
                    item.encode(out);
                }
            }
            Frame::NullArray => encode::null_array(out),
        }
    }
}

/// Parses one reply from the front of `input`.
///
/// Returns the value and the bytes it used, `None` if the input holds only
/// part of it, or an error for input that is not RESP2.
pub fn parse_frame(input: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    parse_at(input, 0, 0)
}

/// The line starting at `start`, without its CRLF, and the offset after it;
/// `None` if its end has not arrived.
fn line(input: &[u8], start: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = &input[start.min(input.len())..];
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        return Ok(None);
    };
    match rest.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((&rest[..cr], start + cr + 2))),
        Some(_) => Err(ProtocolError::InvalidReply("expected CRLF")),
    }
}

fn parse_at(
    input: &[u8],
    pos: usize,
    depth: usize,
) -> Result<Option<(Frame, usize)>, ProtocolError> {
    let Some(&kind) = input.get(pos) else {
        return Ok(None);
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(ProtocolError::InvalidReply("invalid reply type"));
    }
    let Some((text, next)) = line(input, pos + 1)? else {
        return Ok(None);
    };
    let number =
        || string_to_i64(text).ok_or(ProtocolError::InvalidReply("invalid length or integer"));
    let frame = match kind {
        b'+' => (Frame::Simple(text.to_vec()), next),
        b'-' => (Frame::Error(text.to_vec()), next),
        b':' => (Frame::Integer(number()?), next),
        b'$' => match number()? {
            -1 => (Frame::Null, next),
            n => {
                let len = usize::try_from(n)
                    .map_err(|_| ProtocolError::InvalidReply("invalid bulk length"))?;
                let end = next.saturating_add(len);
                let Some(tail) = input.get(end..end.saturating_add(2)) else {
                    return Ok(None);
                };
                if tail != b"\r\n" {
                    return Err(ProtocolError::InvalidReply("expected CRLF"));
                }
                (Frame::Bulk(input[next..end].to_vec()), end + 2)
            }
        },
        _ => match number()? {
            -1 => (Frame::NullArray, next),
            n => {
                let count = usize::try_from(n)
                    .map_err(|_| ProtocolError::InvalidReply("invalid multibulk length"))?;
                if depth >= MAX_DEPTH {
                    return Err(ProtocolError::InvalidReply("arrays nested too deep"));
                }
                let mut items = Vec::with_capacity(count.min(RESERVE_CAP));
                let mut at = next;
                for _ in 0..count {
                    let Some((item, after)) = parse_at(input, at, depth + 1)? else {
                        return Ok(None);
                    };
                    items.push(item);
                    at = after;
                }
                (Frame::Array(items), at)
            }
        },
    };
    Ok(Some(frame))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut out = Vec::new();
        frame.encode(&mut out);
        out
    }

    #[test]
    fn encodes_every_kind() {
        let frame = Frame::Array(vec![
            Frame::Simple(b"OK".to_vec()),
            Frame::Error(b"ERR no".to_vec()),
            Frame::Integer(-3),
            Frame::Bulk(b"a\r\nb".to_vec()),
            Frame::Null,
            Frame::Array(vec![]),
            Frame::NullArray,
        ]);
        assert_eq!(
            encoded(&frame),
            b"*7\r\n+OK\r\n-ERR no\r\n:-3\r\n$4\r\na\r\nb\r\n$-1\r\n*0\r\n*-1\r\n"
        );
    }

    #[test]
    fn parses_every_kind() {
        let cases: &[(&[u8], Frame)] = &[
            (b"+PONG\r\n", Frame::Simple(b"PONG".to_vec())),
            (b"+\r\n", Frame::Simple(vec![])),
            (b"-ERR x\r\n", Frame::Error(b"ERR x".to_vec())),
            (b":-9223372036854775808\r\n", Frame::Integer(i64::MIN)),
            (b"$0\r\n\r\n", Frame::Bulk(vec![])),
            (b"$3\r\n\r\n\x00\r\n", Frame::Bulk(b"\r\n\x00".to_vec())),
            (b"$-1\r\n", Frame::Null),
            (b"*-1\r\n", Frame::NullArray),
            (b"*0\r\n", Frame::Array(vec![])),
            (
                b"*2\r\n*1\r\n:1\r\n$1\r\nx\r\n",
                Frame::Array(vec![
                    Frame::Array(vec![Frame::Integer(1)]),
                    Frame::Bulk(b"x".to_vec()),
                ]),
            ),
        ];
        for (input, frame) in cases {
            assert_eq!(
                parse_frame(input).unwrap(),
                Some((frame.clone(), input.len()))
            );
            for cut in 0..input.len() {
                assert_eq!(
                    parse_frame(&input[..cut]).unwrap(),
                    None,
                    "{input:?} cut at {cut}"
                );
            }
        }
        // Only the first frame is taken.
        assert_eq!(
            parse_frame(b":1\r\n:2\r\n").unwrap(),
            Some((Frame::Integer(1), 4))
        );
    }

    #[test]
    fn rejects_malformed_replies() {
        for input in [
            &b"?\r\n"[..],
            b"GET\r\n",
            b":abc\r\n",
            b":+1\r\n",
            b"+OK\rX",
            b"$-2\r\n",
            b"*-2\r\n",
            b"$x\r\n",
            b"$1\r\nabc\r\n",
            b"*1\r\n!\r\n",
        ] {
            assert!(
                matches!(parse_frame(input), Err(ProtocolError::InvalidReply(_))),
                "{input:?}"
            );
        }
        assert_eq!(
            ProtocolError::InvalidReply("expected CRLF").to_string(),
            "Protocol error: expected CRLF"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |levels: usize| {
            let mut input = b"*1\r\n".repeat(levels);
            input.extend_from_slice(b":1\r\n");
            input
        };
        assert!(parse_frame(&nested(MAX_DEPTH)).unwrap().is_some());
        assert!(parse_frame(&nested(MAX_DEPTH + 1)).is_err());
        assert!(parse_frame(&nested(100_000)).is_err());
    }

    #[test]
    fn huge_declared_lengths_wait_without_allocating() {
        assert_eq!(
            parse_frame(b"*9223372036854775807\r\n:1\r\n").unwrap(),
            None
        );
        assert_eq!(parse_frame(b"$9223372036854775807\r\nabc").unwrap(), None);
        let deep = b"*9223372036854775807\r\n".repeat(MAX_DEPTH);
        assert_eq!(parse_frame(&deep).unwrap(), None);
    }

    fn random_frame(rng: &mut fastrand::Rng, depth: usize) -> Frame {
        let bytes = |rng: &mut fastrand::Rng, printable: bool| -> Vec<u8> {
            (0..rng.usize(..20))
                .map(|_| {
                    if printable {
                        rng.alphanumeric() as u8
                    } else {
                        rng.u8(..)
                    }
                })
                .collect()
        };
        match rng.u8(..if depth < 4 { 7 } else { 6 }) {
            0 => Frame::Simple(bytes(rng, true)),
            1 => Frame::Error(bytes(rng, true)),
            2 => Frame::Integer(rng.i64(..)),
            3 => Frame::Bulk(bytes(rng, false)),
            4 => Frame::Null,
            5 => Frame::NullArray,
            _ => Frame::Array(
                (0..rng.usize(..5))
                    .map(|_| random_frame(rng, depth + 1))
                    .collect(),
            ),
        }
    }

    #[test]
    fn random_frames_round_trip_at_any_cut() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..500 {
            let frame = random_frame(&mut rng, 0);
            let bytes = encoded(&frame);
            assert_eq!(parse_frame(&bytes).unwrap(), Some((frame, bytes.len())));
            let cut = rng.usize(..bytes.len());
            assert_eq!(parse_frame(&bytes[..cut]).unwrap(), None);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = fastrand::Rng::with_seed(9);
        let started = Instant::now();
        let pieces: &[&[u8]] = &[
            b"*",
            b"$",
            b":",
            b"+",
            b"-",
            b"\r\n",
            b"\r",
            b"-1",
            b"0",
            b"3",
            b"\x00",
            b"9223372036854775807",
            b"*1\r\n",
        ];
        for round in 0..20_000 {
            let mut input = Vec::new();
            if round % 2 == 0 {
                input.extend((0..rng.usize(..64)).map(|_| rng.u8(..)));
            } else {
                for _ in 0..rng.usize(..40) {
                    input.extend_from_slice(pieces[rng.usize(..pieces.len())]);
                }
            }
            if let Ok(Some((_, n))) = parse_frame(&input) {
                assert!(n <= input.len());
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
