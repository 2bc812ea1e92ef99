//! The command parser: one request from the front of a read buffer.
//!
//! Two request syntaxes share one entry point, [`parse_command`], chosen by the
//! first byte as Redis does: `*` starts a multibulk request, anything else is an
//! inline line.
//!
//! [`parse_command`] keeps no state between calls: an incomplete request is
//! parsed again from its start once more bytes have arrived. To keep that
//! cheap, [`Status::Incomplete`] says how long the input must grow first. When
//! a bulk header has been read, that is the whole command up to the end of
//! that bulk, so a 100 MB value is scanned once, not once per socket read.
//! For commands of very many small arguments, [`resume_command`] also skips
//! the arguments already read, remembered in [`Args`].
//!
//! Redis's edge cases are kept on purpose, because clients rely on the replies:
//! - A header line ends at its first `\r`; the byte after it is skipped
//!   unchecked, and so are the two bytes after each bulk's data.
//! - A protocol error is only reported once the offending header line is
//!   whole (its `\r` and one more byte have arrived), or once more than
//!   `max_inline_len` bytes have arrived without one.
//! - Inline lines are split like `sdssplitargs`: a NUL byte ends the line, a
//!   closing quote must be followed by whitespace or the end of the line, and
//!   a quote may open in the middle of an argument (`a"b c"` is `ab c`).

use std::fmt;

/// Limits a client's input is checked against before anything is allocated.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`: the largest bulk string accepted (Redis: 512 MB).
    pub max_bulk_len: usize,
    /// The largest multibulk count accepted (1024 * 1024).
    pub max_multibulk_len: usize,
    /// Longest inline command line, and longest `*N` / `$N` header line (64 KB).
    pub max_inline_len: usize,
    /// A client that has not authenticated while `requirepass` is set: Redis
    /// refuses multibulk counts above 10 and bulk lengths above 16384 from it.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            unauthenticated: false,
        }
    }
}

/// The largest multibulk count an unauthenticated client may send.
const UNAUTH_MAX_MULTIBULK: i64 = 10;
/// The largest bulk length an unauthenticated client may send.
const UNAUTH_MAX_BULK: usize = 16384;
/// Ranges reserved up front for a multibulk request, whatever count it declares;
/// more are allocated only as arguments actually arrive.
const RESERVE_CAP: usize = 1024;
/// Range capacity (16 bytes each) beyond which [`Args::clear`] frees it.
const SHRINK_ABOVE: usize = 64 * 1024;

/// Outcome of one [`parse_command`] call that found no protocol error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// One command was parsed from the front of the input; it used this many
    /// bytes. `args.len()` may be 0 (an empty inline line or `*0`): skip it.
    Complete(usize),
    /// The input holds only part of a command. The value is the total input
    /// length needed before parsing can make progress (at least `input.len() + 1`);
    /// callers may skip re-parsing until that much has arrived.
    Incomplete(usize),
}

/// A protocol error. `Display` gives Redis's exact message without the `ERR `
/// prefix, e.g. `Protocol error: invalid bulk length`. Redis replies with it and
/// closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline line with no `\n` within `max_inline_len` bytes.
    TooBigInline,
    /// An inline line whose quotes do not close, or a closing quote followed
    /// by something other than whitespace.
    UnbalancedQuotes,
    /// A `*N` line with no `\r` within `max_inline_len` bytes.
    TooBigMultibulkCount,
    /// A `*N` count that is not a number or is above `max_multibulk_len`.
    InvalidMultibulkLength,
    /// A `*N` count above 10 from a client that has not authenticated.
    UnauthenticatedMultibulkLength,
    /// A bulk header line that starts with this byte instead of `$`.
    ExpectedDollar(u8),
    /// A `$N` line with no `\r` within `max_inline_len` bytes.
    TooBigBulkCount,
    /// A `$N` length that is not a number, is negative or is above `max_bulk_len`.
    InvalidBulkLength,
    /// A `$N` length above 16384 from a client that has not authenticated.
    UnauthenticatedBulkLength,
    /// A malformed reply given to [`parse_frame`](crate::frame::parse_frame)
    /// (client side only; the server never sees it). Says what was wrong.
    InvalidReply(&'static str),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            ProtocolError::TooBigInline => "too big inline request",
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request",
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length",
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtocolError::ExpectedDollar(c) => {
                // Redis puts the raw byte in its reply, then blanks any CR or
                // LF so the error line stays one line.
                let c = match *c {
                    b'\r' | b'\n' => ' ',
                    c => char::from(c),
                };
                return write!(f, "Protocol error: expected '$', got '{c}'");
            }
            ProtocolError::TooBigBulkCount => "too big bulk count string",
            ProtocolError::InvalidBulkLength => "invalid bulk length",
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length",
            ProtocolError::InvalidReply(why) => return write!(f, "Protocol error: {why}"),
        };
        write!(f, "Protocol error: {what}")
    }
}

impl std::error::Error for ProtocolError {}

/// The arguments of one parsed command, as ranges into the input (or into the
/// scratch buffer for inline commands).
///
/// Keep one per connection and pass it to every [`parse_command`] call: it is
/// cleared, not freed, so a connection's steady state allocates nothing.
#[derive(Default, Debug)]
pub struct Args {
    /// `(start, end)` of each argument, in the input for a multibulk request,
    /// in `scratch` for an inline one.
    ranges: Vec<(usize, usize)>,
    /// Unescaped inline arguments, back to back.
    scratch: Vec<u8>,
    /// Whether `ranges` point into `scratch` rather than the input.
    inline: bool,
    /// Where an incomplete multibulk request stopped, for [`resume_command`].
    resume: Option<Resume>,
}

/// An incomplete multibulk request's progress: `ranges` holds its arguments
/// so far, and the next bulk header starts at `pos`.
#[derive(Clone, Copy, Debug)]
struct Resume {
    count: usize,
    pos: usize,
}

impl Args {
    /// An empty argument list; it allocates on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of arguments, the command name included.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether there are no arguments (an empty inline line or `*0`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Argument `i`, given the same input slice that was passed to `parse_command`.
    ///
    /// # Panics
    /// If `i >= self.len()`, or if `input` is shorter than the one parsed.
    #[inline]
    pub fn get<'a>(&'a self, input: &'a [u8], i: usize) -> &'a [u8] {
        let (start, end) = self.ranges[i];
        &self.source(input)[start..end]
    }

    /// Every argument in order, given the same input slice that was passed to
    /// `parse_command`.
    pub fn iter<'a>(&'a self, input: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
        let source = self.source(input);
        self.ranges
            .iter()
            .map(move |&(start, end)| &source[start..end])
    }

    /// Forgets the arguments, keeping the allocations (unless one huge
    /// command grew them far past the usual size: a long-lived connection
    /// should not hold on to that).
    pub fn clear(&mut self) {
        if self.ranges.capacity() > SHRINK_ABOVE {
            self.ranges = Vec::new();
        }
        self.ranges.clear();
        self.scratch.clear();
        self.inline = false;
        self.resume = None;
    }

    fn source<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        if self.inline {
            &self.scratch
        } else {
            input
        }
    }
}

/// Parses one command from the front of `input` into `args` (cleared first).
///
/// Returns [`Status::Complete`] with the bytes used, [`Status::Incomplete`]
/// with the input length to wait for, or the protocol error Redis would reply
/// with before closing the connection. On an error or `Incomplete`, `args`
/// holds nothing meaningful.
pub fn parse_command(
    input: &[u8],
    limits: &Limits,
    args: &mut Args,
) -> Result<Status, ProtocolError> {
    args.clear();
    match input.first() {
        None => Ok(Status::Incomplete(1)),
        Some(b'*') => parse_multibulk(input, limits, args),
        Some(_) => parse_inline(input, limits, args),
    }
}

/// [`parse_command`] for a caller that keeps an incomplete command's bytes in
/// place: after an `Incomplete`, pass the same `args` and an `input` that starts
/// with the same bytes as before (more may follow), and the parse resumes at
/// the first argument it had not finished, instead of starting over.
///
/// Results are identical to `parse_command`'s. What it saves: a command with
/// many small arguments (`RPUSH` of a million elements) arrives over hundreds
/// of reads, and re-parsing it from the start on each would cost time
/// quadratic in its size. A call after anything but `Incomplete` (or after
/// [`Args::clear`]) is a plain `parse_command`.
pub fn resume_command(
    input: &[u8],
    limits: &Limits,
    args: &mut Args,
) -> Result<Status, ProtocolError> {
    match args.resume.take() {
        Some(Resume { count, pos }) if pos <= input.len() && !args.inline => {
            multibulk_args(input, limits, args, count, pos)
        }
        _ => parse_command(input, limits, args),
    }
}

/// The second argument of each whole multibulk command at the front of
/// `input`, stored into `keys` until it is full; returns how many were
/// stored. A hint for prefetching the keys of a pipelined batch before its
/// commands run, not a parse: it stops quietly at the first thing that is not
/// a complete, plainly formed `*N` command (an inline command, a partial one,
/// a command of one argument), and [`parse_command`] still judges every byte.
pub fn peek_keys<'a>(input: &'a [u8], keys: &mut [&'a [u8]]) -> usize {
    /// A decimal header `<tag><digits>\r\n` at `at`: its value and the
    /// offset past it.
    fn header(input: &[u8], at: usize, tag: u8) -> Option<(usize, usize)> {
        if input.get(at) != Some(&tag) {
            return None;
        }
        let mut n: usize = 0;
        let mut i = at + 1;
        // At most 10 digits: anything longer is no key we would prefetch.
        while i < input.len() && i - at <= 10 {
            match input[i] {
                d @ b'0'..=b'9' => n = n * 10 + usize::from(d - b'0'),
                b'\r' if i > at + 1 => {
                    return (input.get(i + 1) == Some(&b'\n')).then_some((n, i + 2));
                }
                _ => return None,
            }
            i += 1;
        }
        None
    }
    let mut found = 0;
    let mut at = 0;
    while found < keys.len() {
        let Some((argc, mut i)) = header(input, at, b'*') else {
            break;
        };
        let mut key: Option<&[u8]> = None;
        for arg in 0..argc {
            let Some((len, body)) = header(input, i, b'$') else {
                return found;
            };
            let end = match body.checked_add(len) {
                Some(end) if end.saturating_add(2) <= input.len() => end,
                _ => return found,
            };
            if arg == 1 {
                key = Some(&input[body..end]);
            }
            i = end + 2;
        }
        if let Some(k) = key {
            keys[found] = k;
            found += 1;
        }
        at = i;
    }
    found
}

/// One `*N` or `$N` header line, as far as it could be read.
enum Header {
    /// The line is whole: its number (`None` if not a valid integer) and the
    /// offset just past its line ending.
    Line(Option<i64>, usize),
    /// No `\r` yet, or nothing after it yet.
    Incomplete,
    /// No `\r` within the line length limit.
    TooBig,
}

/// Reads the header line whose type byte is at `line`.
///
/// Like Redis, the line ends at the first `\r`, and the byte after it must be
/// present but is not checked.
#[inline(always)]
fn header(input: &[u8], line: usize, max_line: usize) -> Header {
    // Fast path for what every client sends: a few digits, no sign, no
    // leading zero, then CR and one more byte. Up to 18 digits cannot overflow.
    let mut i = line + 1;
    let mut n: i64 = 0;
    while i < input.len() && i - line <= 18 && input[i].is_ascii_digit() {
        n = n * 10 + i64::from(input[i] - b'0');
        i += 1;
    }
    let digits = i - line - 1;
    if digits > 0
        && input[line] != b'\r'
        && i + 1 < input.len()
        && input[i] == b'\r'
        && i - line <= max_line
        && (digits == 1 || input[line + 1] != b'0')
    {
        return Header::Line(Some(n), i + 2);
    }
    header_slow(input, line, max_line)
}

/// [`header`] for anything but a short well-formed number: the exact Redis
/// rules, errors and incomplete lines included.
#[cold]
fn header_slow(input: &[u8], line: usize, max_line: usize) -> Header {
    let rest = &input[line..];
    let window = &rest[..rest.len().min(max_line.saturating_add(1))];
    match window.iter().position(|&b| b == b'\r') {
        Some(cr) if cr + 2 <= rest.len() => {
            // `cr` is 0 only for a line that should start with `$` and starts
            // with `\r` instead; the caller reports that byte.
            let number = rest.get(1..cr).and_then(string_to_i64);
            Header::Line(number, line + cr + 2)
        }
        Some(_) => Header::Incomplete,
        None if rest.len() > max_line => Header::TooBig,
        None => Header::Incomplete,
    }
}

fn parse_multibulk(
    input: &[u8],
    limits: &Limits,
    args: &mut Args,
) -> Result<Status, ProtocolError> {
    let (count, pos) = match header(input, 0, limits.max_inline_len) {
        Header::Line(n, next) => (n, next),
        Header::Incomplete => return Ok(Status::Incomplete(input.len() + 1)),
        Header::TooBig => return Err(ProtocolError::TooBigMultibulkCount),
    };
    let count = match count {
        Some(n) if n <= limits.max_multibulk_len as i64 => n,
        _ => return Err(ProtocolError::InvalidMultibulkLength),
    };
    if limits.unauthenticated && count > UNAUTH_MAX_MULTIBULK {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    if count <= 0 {
        return Ok(Status::Complete(pos));
    }
    // `count` is at most max_multibulk_len, so it fits a usize.
    let count = count as usize;
    args.ranges.reserve(count.min(RESERVE_CAP));
    multibulk_args(input, limits, args, count, pos)
}

/// Reads the bulk arguments of a multibulk request of `count` arguments, from
/// the one after those already in `args`, whose header starts at `pos`.
#[inline(always)]
fn multibulk_args(
    input: &[u8],
    limits: &Limits,
    args: &mut Args,
    count: usize,
    mut pos: usize,
) -> Result<Status, ProtocolError> {
    for _ in args.ranges.len()..count {
        let line = pos;
        let (len, data) = match header(input, line, limits.max_inline_len) {
            Header::Line(n, next) => (n, next),
            Header::Incomplete => {
                args.resume = Some(Resume { count, pos });
                return Ok(Status::Incomplete(input.len() + 1));
            }
            Header::TooBig => return Err(ProtocolError::TooBigBulkCount),
        };
        if input[line] != b'$' {
            return Err(ProtocolError::ExpectedDollar(input[line]));
        }
        let len = match len {
            Some(n) if n >= 0 && n as u64 <= limits.max_bulk_len as u64 => n as usize,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        if limits.unauthenticated && len > UNAUTH_MAX_BULK {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let end = data.saturating_add(len);
        // The two bytes after the data are the CRLF; Redis skips them unread.
        let next = end.saturating_add(2);
        if next > input.len() {
            args.resume = Some(Resume { count, pos });
            return Ok(Status::Incomplete(next));
        }
        args.ranges.push((data, end));
        pos = next;
    }
    Ok(Status::Complete(pos))
}

fn parse_inline(input: &[u8], limits: &Limits, args: &mut Args) -> Result<Status, ProtocolError> {
    let window = &input[..input.len().min(limits.max_inline_len.saturating_add(1))];
    let Some(newline) = window.iter().position(|&b| b == b'\n') else {
        if input.len() > limits.max_inline_len {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(Status::Incomplete(input.len() + 1));
    };
    let mut line = &input[..newline];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    // Redis splits the line as a C string: a NUL byte ends it.
    if let Some(nul) = line.iter().position(|&b| b == 0) {
        line = &line[..nul];
    }
    args.inline = true;
    split_inline(line, args)?;
    Ok(Status::Complete(newline + 1))
}

/// `isspace` in the C locale, which is what separates inline arguments.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits an inline line (no NUL inside) into `args.scratch`, with the quoting
/// rules of Redis's `sdssplitargs`.
fn split_inline(line: &[u8], args: &mut Args) -> Result<(), ProtocolError> {
    // Reads past the end as 0, the C string terminator the rules are written for.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let out = &mut args.scratch;
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(());
        }
        let start = out.len();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(hi), Some(lo)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        out.push(hi << 4 | lo);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    out.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    // Only these end an unquoted argument; `\v` and `\f` do
                    // not, though they are skipped between arguments.
                    b' ' | b'\n' | b'\r' | b'\t' => {
                        p += 1;
                        break;
                    }
                    0 => break,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => out.push(c),
                }
            }
            p += 1;
        }
        args.ranges.push((start, out.len()));
    }
}

/// Parses a whole slice as a signed decimal, the way Redis's `string2ll` does:
/// an optional `-`, then digits with no leading zero (`0` itself aside), no
/// `+`, no spaces, and a value that fits an `i64`.
pub(crate) fn string_to_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -(2^63) is the one magnitude that fits only as a negative.
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn parse(input: &[u8]) -> Result<Status, ProtocolError> {
        parse_with(input, &Limits::default())
    }

    #[test]
    fn peek_keys_finds_each_commands_second_argument() {
        let input = b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*1\r\n$4\r\nPING\r\n\
                      *3\r\n$3\r\nSET\r\n$0\r\n\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$2\r\nk";
        let mut keys: [&[u8]; 8] = [&[]; 8];
        // PING has no key, the empty key counts, the last GET is partial.
        assert_eq!(peek_keys(input, &mut keys), 2);
        assert_eq!(keys[..2], [&b"k1"[..], &b""[..]]);
        let mut two: [&[u8]; 1] = [&[]; 1];
        assert_eq!(peek_keys(input, &mut two), 1);
        assert_eq!(peek_keys(b"GET k1\r\n", &mut keys), 0);
        assert_eq!(
            peek_keys(b"*2\r\n$3\r\nGET\r\n$99999999999\r\nk", &mut keys),
            0
        );
        assert_eq!(peek_keys(b"*2\r\n$-1\r\n", &mut keys), 0);
    }

    #[test]
    fn peek_keys_agrees_with_the_parser_and_survives_garbage() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let mut input = Vec::new();
            let mut expect: Vec<Vec<u8>> = Vec::new();
            for _ in 0..rng.usize(0..6) {
                let argc = rng.usize(1..4);
                input.extend_from_slice(format!("*{argc}\r\n").as_bytes());
                for a in 0..argc {
                    let arg: Vec<u8> = (0..rng.usize(0..12)).map(|_| rng.u8(..)).collect();
                    input.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                    input.extend_from_slice(&arg);
                    input.extend_from_slice(b"\r\n");
                    if a == 1 {
                        expect.push(arg);
                    }
                }
            }
            let mut keys: [&[u8]; 8] = [&[]; 8];
            let n = peek_keys(&input, &mut keys);
            assert_eq!(n, expect.len());
            for (k, e) in keys[..n].iter().zip(&expect) {
                assert_eq!(k, &e.as_slice());
            }
            // Any cut or corruption: no panic, and never more keys.
            let cut = rng.usize(0..=input.len());
            let mut broken = input[..cut].to_vec();
            if !broken.is_empty() {
                let at = rng.usize(0..broken.len());
                broken[at] = rng.u8(..);
            }
            assert!(peek_keys(&broken, &mut keys) <= 8);
        }
    }

    fn parse_with(input: &[u8], limits: &Limits) -> Result<Status, ProtocolError> {
        let mut args = Args::new();
        parse_command(input, limits, &mut args)
    }

    /// Parses a whole command and returns its arguments as owned byte strings.
    fn words(input: &[u8]) -> Vec<Vec<u8>> {
        let mut args = Args::new();
        let status = parse_command(input, &Limits::default(), &mut args).unwrap();
        assert_eq!(status, Status::Complete(input.len()), "input {input:?}");
        args.iter(input).map(<[u8]>::to_vec).collect()
    }

    fn strs(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn encode_multibulk(cmd: &[Vec<u8>], out: &mut Vec<u8>) {
        crate::encode::array_len(out, cmd.len());
        for arg in cmd {
            crate::encode::bulk(out, arg);
        }
    }

    /// The inline form of a command: plain words where possible, else double
    /// quotes with escapes (the counterpart of Redis's `sdscatrepr`).
    fn encode_inline(cmd: &[Vec<u8>], out: &mut Vec<u8>) {
        for (i, arg) in cmd.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            // A first word starting with `*` would read as multibulk.
            let plain = arg.first().is_some_and(|&b| i > 0 || b != b'*')
                && arg
                    .iter()
                    .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'');
            if plain {
                out.extend_from_slice(arg);
                continue;
            }
            out.push(b'"');
            for &b in arg {
                match b {
                    b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b' ' | b'\'' => out.push(b),
                    b if b.is_ascii_graphic() => out.push(b),
                    b => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                }
            }
            out.push(b'"');
        }
        out.extend_from_slice(b"\r\n");
    }

    #[test]
    fn error_messages_are_redis_texts() {
        let cases = [
            (
                ProtocolError::TooBigInline,
                "Protocol error: too big inline request",
            ),
            (
                ProtocolError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                ProtocolError::TooBigMultibulkCount,
                "Protocol error: too big mbulk count string",
            ),
            (
                ProtocolError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                ProtocolError::UnauthenticatedMultibulkLength,
                "Protocol error: unauthenticated multibulk length",
            ),
            (
                ProtocolError::ExpectedDollar(b'x'),
                "Protocol error: expected '$', got 'x'",
            ),
            (
                ProtocolError::ExpectedDollar(b'\r'),
                "Protocol error: expected '$', got ' '",
            ),
            (
                ProtocolError::TooBigBulkCount,
                "Protocol error: too big bulk count string",
            ),
            (
                ProtocolError::InvalidBulkLength,
                "Protocol error: invalid bulk length",
            ),
            (
                ProtocolError::UnauthenticatedBulkLength,
                "Protocol error: unauthenticated bulk length",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), text);
        }
        let boxed: Box<dyn std::error::Error> = Box::new(ProtocolError::InvalidBulkLength);
        assert_eq!(boxed.to_string(), "Protocol error: invalid bulk length");
    }

    #[test]
    fn multibulk_commands() {
        assert_eq!(
            words(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
            strs(&["GET", "k"])
        );
        assert_eq!(words(b"*1\r\n$0\r\n\r\n"), strs(&[""]));
        assert_eq!(
            words(b"*2\r\n$4\r\na\r\nb\r\n$1\r\n\x00\r\n"),
            vec![b"a\r\nb".to_vec(), vec![0]]
        );
        assert_eq!(words(b"*0\r\n"), Vec::<Vec<u8>>::new());
        assert_eq!(words(b"*-1\r\n"), Vec::<Vec<u8>>::new());
        assert_eq!(words(b"*-10\r\n"), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn multibulk_skips_line_endings_unchecked_like_redis() {
        assert_eq!(words(b"*1\rX$3\r\nfooAB"), strs(&["foo"]));
    }

    #[test]
    fn multibulk_args_point_into_the_input() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let mut args = Args::new();
        parse_command(input, &Limits::default(), &mut args).unwrap();
        let arg = args.get(input, 1);
        assert_eq!(arg.as_ptr(), input[17..].as_ptr());
    }

    #[test]
    fn multibulk_errors() {
        let err = |input: &[u8]| parse(input).unwrap_err();
        assert_eq!(err(b"*x\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(err(b"*\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(err(b"*+1\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(err(b"*01\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(err(b"*-0\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(err(b"* 1\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(err(b"*1048577\r\n"), ProtocolError::InvalidMultibulkLength);
        assert_eq!(
            err(b"*99999999999999999999\r\n"),
            ProtocolError::InvalidMultibulkLength
        );
        assert_eq!(err(b"*1\r\nx\r\n"), ProtocolError::ExpectedDollar(b'x'));
        assert_eq!(err(b"*1\r\n\r\n"), ProtocolError::ExpectedDollar(b'\r'));
        assert_eq!(err(b"*1\r\n$x\r\n"), ProtocolError::InvalidBulkLength);
        assert_eq!(err(b"*1\r\n$-1\r\n"), ProtocolError::InvalidBulkLength);
        assert_eq!(err(b"*1\r\n$\r\n"), ProtocolError::InvalidBulkLength);
        assert_eq!(
            err(b"*1\r\n$536870913\r\n"),
            ProtocolError::InvalidBulkLength
        );
        assert_eq!(
            err(b"*2\r\n$1\r\na\r\n:1\r\n"),
            ProtocolError::ExpectedDollar(b':')
        );

        let mut long = b"*".to_vec();
        long.resize(64 * 1024 + 1, b'1');
        assert_eq!(err(&long), ProtocolError::TooBigMultibulkCount);
        long.truncate(64 * 1024);
        assert_eq!(parse(&long), Ok(Status::Incomplete(64 * 1024 + 1)));

        let mut long = b"*1\r\n$".to_vec();
        long.resize(4 + 64 * 1024 + 1, b'1');
        assert_eq!(err(&long), ProtocolError::TooBigBulkCount);
    }

    #[test]
    fn configured_limits() {
        let limits = Limits {
            max_bulk_len: 5,
            max_multibulk_len: 2,
            ..Limits::default()
        };
        assert_eq!(
            parse_with(b"*3\r\n", &limits),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_with(b"*2\r\n$6\r\n", &limits),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_with(b"*2\r\n$5\r\nhello\r\n$0\r\n\r\n", &limits),
            Ok(Status::Complete(21))
        );
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = Limits {
            unauthenticated: true,
            ..Limits::default()
        };
        assert_eq!(
            parse_with(b"*11\r\n", &limits),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        assert_eq!(parse_with(b"*10\r\n", &limits), Ok(Status::Incomplete(6)));
        assert_eq!(
            parse_with(b"*1\r\n$16385\r\n", &limits),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        assert_eq!(
            parse_with(b"*1\r\n$16384\r\n", &limits),
            Ok(Status::Incomplete(12 + 16384 + 2))
        );
        // A length that is invalid anyway gets the invalid-length error first.
        assert_eq!(
            parse_with(b"*1048577\r\n", &limits),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse_with(b"*1\r\n$-5\r\n", &limits),
            Err(ProtocolError::InvalidBulkLength)
        );
        // And an inline command is not limited.
        let mut line = b"SET k ".to_vec();
        line.resize(20000, b'v');
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse_with(&line, &limits), Ok(Status::Complete(line.len())));
    }

    #[test]
    fn incomplete_hints() {
        assert_eq!(parse(b""), Ok(Status::Incomplete(1)));
        assert_eq!(parse(b"*"), Ok(Status::Incomplete(2)));
        assert_eq!(parse(b"*2\r"), Ok(Status::Incomplete(4)));
        assert_eq!(parse(b"*2\r\n$3\r\nGE"), Ok(Status::Incomplete(13)));
        assert_eq!(parse(b"*2\r\n$3\r\nGET\r\n"), Ok(Status::Incomplete(14)));
        // A big value: wait for the whole of it, not one byte more each time.
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$104857600\r\nabc";
        assert_eq!(parse(input), Ok(Status::Incomplete(32 + 104857600 + 2)));
        assert_eq!(parse(b"GET k"), Ok(Status::Incomplete(6)));
        assert_eq!(parse(b"GET k\r"), Ok(Status::Incomplete(7)));
    }

    #[test]
    fn huge_declared_count_does_not_allocate() {
        let mut args = Args::new();
        let status = parse_command(b"*1048576\r\n$1\r\na\r\n", &Limits::default(), &mut args);
        assert_eq!(status, Ok(Status::Incomplete(18)));
        assert!(args.ranges.capacity() <= RESERVE_CAP);
    }

    #[test]
    fn inline_commands() {
        assert_eq!(words(b"GET k\r\n"), strs(&["GET", "k"]));
        assert_eq!(words(b"GET k\n"), strs(&["GET", "k"]));
        assert_eq!(words(b"  set   a\t b  \r\n"), strs(&["set", "a", "b"]));
        assert_eq!(words(b"\r\n"), Vec::<Vec<u8>>::new());
        assert_eq!(words(b"\n"), Vec::<Vec<u8>>::new());
        assert_eq!(words(b"   \t \r\n"), Vec::<Vec<u8>>::new());
        assert_eq!(words(b"PING\r\r\n"), strs(&["PING"]));
        // A CR in the middle separates, like a space.
        assert_eq!(words(b"a\rb\n"), strs(&["a", "b"]));
        // Vertical tab and form feed are skipped between arguments but do not
        // end one.
        assert_eq!(
            words(b"\x0ba\x0bb c\n"),
            vec![b"a\x0bb".to_vec(), b"c".to_vec()]
        );
    }

    #[test]
    fn inline_quoting() {
        assert_eq!(
            words(b"set \"a b\" 'c d'\r\n"),
            strs(&["set", "a b", "c d"])
        );
        assert_eq!(words(b"\"\\x41\"\r\n"), strs(&["A"]));
        assert_eq!(words(b"\"\\x4a\\x4A\"\n"), strs(&["JJ"]));
        assert_eq!(
            words(b"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n"),
            vec![b"\n\r\t\x08\x07\\\"q".to_vec()]
        );
        // An incomplete hex escape is an ordinary escape of `x`.
        assert_eq!(words(b"\"\\x4g\"\n"), strs(&["x4g"]));
        assert_eq!(words(b"'it\\'s' '\\n'\n"), strs(&["it's", "\\n"]));
        assert_eq!(words(b"\"\" ''\n"), strs(&["", ""]));
        // A quote may open in the middle of a word.
        assert_eq!(words(b"a\"b c\"\n"), strs(&["ab c"]));
        assert_eq!(words(b"\"a\"\t'b'\n"), strs(&["a", "b"]));
        // Quotes keep separators, including a CR.
        assert_eq!(words(b"\"a\rb\"\n"), strs(&["a\rb"]));
    }

    #[test]
    fn inline_unbalanced_quotes() {
        for input in [
            &b"\"foo\r\n"[..],
            b"\"foo\"bar\r\n",
            b"'foo\r\n",
            b"'foo'bar\r\n",
            b"set \"a\\\"\n",
            b"\"foo\\\n",
            b"\"a\x00b\"\n",
        ] {
            assert_eq!(
                parse(input),
                Err(ProtocolError::UnbalancedQuotes),
                "{input:?}"
            );
        }
    }

    #[test]
    fn inline_nul_ends_the_line() {
        assert_eq!(words(b"GET k\x00ignored \"\n"), strs(&["GET", "k"]));
    }

    #[test]
    fn inline_too_big() {
        let mut line = vec![b'a'; 64 * 1024];
        assert_eq!(parse(&line), Ok(Status::Incomplete(64 * 1024 + 1)));
        line.push(b'a');
        assert_eq!(parse(&line), Err(ProtocolError::TooBigInline));
        line.pop();
        line.push(b'\n');
        assert_eq!(parse(&line), Ok(Status::Complete(64 * 1024 + 1)));
    }

    #[test]
    fn inline_args_reuse_scratch() {
        let mut args = Args::new();
        let input = b"SET \"a b\" c\r\n";
        parse_command(input, &Limits::default(), &mut args).unwrap();
        assert_eq!(args.get(input, 1), b"a b");
        let input = b"*1\r\n$4\r\nPING\r\n";
        parse_command(input, &Limits::default(), &mut args).unwrap();
        assert_eq!(args.iter(input).collect::<Vec<_>>(), vec![b"PING"]);
    }

    #[test]
    fn pipeline_of_mixed_commands() {
        let input =
            b"*1\r\n$4\r\nPING\r\nSET k v\r\n\r\n*0\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nQUIT\n";
        let mut args = Args::new();
        let mut rest = &input[..];
        let mut seen = Vec::new();
        while !rest.is_empty() {
            let Status::Complete(n) = parse_command(rest, &Limits::default(), &mut args).unwrap()
            else {
                panic!("incomplete at {rest:?}");
            };
            seen.push(args.iter(rest).map(<[u8]>::to_vec).collect::<Vec<_>>());
            rest = &rest[n..];
        }
        let expected = vec![
            strs(&["PING"]),
            strs(&["SET", "k", "v"]),
            vec![],
            vec![],
            strs(&["GET", "k"]),
            strs(&["QUIT"]),
        ];
        assert_eq!(seen, expected);
    }

    #[test]
    fn string_to_i64_matches_string2ll() {
        let ok: &[(&[u8], i64)] = &[
            (b"0", 0),
            (b"1", 1),
            (b"-1", -1),
            (b"9223372036854775807", i64::MAX),
            (b"-9223372036854775808", i64::MIN),
        ];
        for &(s, v) in ok {
            assert_eq!(string_to_i64(s), Some(v));
        }
        let bad: &[&[u8]] = &[
            b"",
            b"-",
            b"+1",
            b"01",
            b"-0",
            b"00",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
            b"000000000000000000001",
        ];
        for &s in bad {
            assert_eq!(string_to_i64(s), None, "{s:?}");
        }
    }

    /// The header fast path agrees with the exact rules on every short line.
    #[test]
    fn header_fast_path_matches_slow_path() {
        let mut rng = fastrand::Rng::with_seed(11);
        let alphabet = b"$0123456789-+\r\n x";
        for _ in 0..200_000 {
            let line: Vec<u8> = (0..rng.usize(1..24))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let max = rng.usize(1..24);
            let key = |h: Header| match h {
                Header::Line(n, next) => (0, n, next),
                Header::Incomplete => (1, None, 0),
                Header::TooBig => (2, None, 0),
            };
            assert_eq!(
                key(header(&line, 0, max)),
                key(header_slow(&line, 0, max)),
                "{line:?} {max}"
            );
        }
    }

    fn random_arg(rng: &mut fastrand::Rng) -> Vec<u8> {
        let len = match rng.u8(..10) {
            0 => 0,
            1 => rng.usize(100..2000),
            _ => rng.usize(1..12),
        };
        match rng.u8(..3) {
            0 => (0..len).map(|_| rng.u8(..)).collect(),
            1 => (0..len).map(|_| b" \"'\\\r\nab"[rng.usize(..8)]).collect(),
            _ => (0..len).map(|_| rng.alphanumeric() as u8).collect(),
        }
    }

    /// Random commands, each encoded as multibulk or inline, concatenated and
    /// delivered in random pieces, always parse back to the same commands; and
    /// every `Incomplete` hint is exact enough that waiting for it loses nothing.
    #[test]
    fn random_pipelines_survive_any_split() {
        let mut rng = fastrand::Rng::with_seed(0x7e55e7a);
        let limits = Limits::default();
        let mut args = Args::new();
        let mut resumed = Args::new();
        for _ in 0..300 {
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for _ in 0..rng.usize(1..20) {
                let cmd: Vec<Vec<u8>> =
                    (0..rng.usize(1..6)).map(|_| random_arg(&mut rng)).collect();
                if rng.bool() {
                    encode_multibulk(&cmd, &mut stream);
                } else {
                    encode_inline(&cmd, &mut stream);
                }
                expected.push(cmd);
            }

            // The connection's buffer: bytes arrive in random pieces, and the
            // parser runs only once the hint says it is worth it.
            let mut buf: Vec<u8> = Vec::new();
            let mut sent = 0;
            let mut wanted = 1;
            let mut got = Vec::new();
            while sent < stream.len() || !buf.is_empty() {
                if buf.len() < wanted {
                    let piece = rng.usize(1..200).min(stream.len() - sent);
                    assert!(piece > 0, "stream ended with {} bytes unparsed", buf.len());
                    buf.extend_from_slice(&stream[sent..sent + piece]);
                    sent += piece;
                    continue;
                }
                let status = parse_command(&buf, &limits, &mut args).unwrap();
                assert_eq!(resume_command(&buf, &limits, &mut resumed), Ok(status));
                match status {
                    Status::Complete(n) => {
                        got.push(args.iter(&buf).map(<[u8]>::to_vec).collect::<Vec<_>>());
                        assert!(args.iter(&buf).eq(resumed.iter(&buf)));
                        buf.drain(..n);
                        wanted = 1;
                    }
                    Status::Incomplete(n) => {
                        assert!(n > buf.len());
                        // Any shorter prefix of what is coming would also
                        // have been incomplete.
                        let upto = (n - 1).min(buf.len() + stream.len() - sent);
                        let mut ahead = buf.clone();
                        ahead.extend_from_slice(&stream[sent..sent + (upto - buf.len())]);
                        assert!(matches!(
                            parse_command(&ahead, &limits, &mut Args::new()),
                            Ok(Status::Incomplete(_))
                        ));
                        wanted = n;
                    }
                }
            }
            assert_eq!(got, expected);
        }
    }

    /// Damaged commands growing a few bytes at a time: resuming gives the
    /// same answer as parsing from scratch, errors included.
    #[test]
    fn resume_matches_parse_on_damaged_input() {
        let mut rng = fastrand::Rng::with_seed(3);
        let limits = Limits {
            max_inline_len: 64,
            max_bulk_len: 100,
            ..Limits::default()
        };
        let mut resumed = Args::new();
        let mut fresh = Args::new();
        for _ in 0..2000 {
            let cmd: Vec<Vec<u8>> = (0..rng.usize(1..5)).map(|_| random_arg(&mut rng)).collect();
            let mut input = Vec::new();
            encode_multibulk(&cmd, &mut input);
            for _ in 0..rng.usize(..3) {
                let at = rng.usize(..input.len());
                input[at] = b"*$\r\n-0x"[rng.usize(..7)];
            }
            let mut len = 0;
            loop {
                len = (len + rng.usize(1..8)).min(input.len());
                let part = &input[..len];
                let status = parse_command(part, &limits, &mut fresh);
                assert_eq!(resume_command(part, &limits, &mut resumed), status);
                if let Ok(Status::Complete(_)) = status {
                    assert!(fresh.iter(part).eq(resumed.iter(part)));
                }
                if !matches!(status, Ok(Status::Incomplete(_))) || len == input.len() {
                    break;
                }
            }
            resumed.clear();
        }
    }

    /// A command of a million small arguments, arriving 64 KB at a time, is
    /// parsed in time linear in its size when resumed.
    #[test]
    fn resume_keeps_big_commands_linear() {
        let mut input = Vec::new();
        let count = 1024 * 1024;
        crate::encode::array_len(&mut input, count);
        for i in 0..count {
            crate::encode::bulk(&mut input, format!("{:08}", i).as_bytes());
        }
        let limits = Limits::default();
        let mut args = Args::new();
        let started = Instant::now();
        let mut len = 0;
        let status = loop {
            len = (len + 64 * 1024).min(input.len());
            match resume_command(&input[..len], &limits, &mut args) {
                Ok(Status::Incomplete(n)) => assert!(n > len),
                other => break other,
            }
        };
        assert_eq!(status, Ok(Status::Complete(input.len())));
        assert_eq!(args.len(), count);
        assert_eq!(args.get(&input, count - 1), b"01048575");
        // From scratch each time this is ~150 full parses of 14 MB.
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A caller that breaks the resume contract gets wrong arguments, never a
    /// panic.
    #[test]
    fn resume_with_other_input_does_not_panic() {
        let limits = Limits::default();
        let mut args = Args::new();
        let first = b"*3\r\n$5\r\nhello\r\n$5\r\nworld\r\n$3\r\n";
        assert_eq!(
            resume_command(first, &limits, &mut args),
            Ok(Status::Incomplete(35))
        );
        assert_eq!(
            resume_command(b"PING\r\n", &limits, &mut args),
            Ok(Status::Complete(6))
        );
        assert_eq!(
            resume_command(first, &limits, &mut args),
            Ok(Status::Incomplete(35))
        );
        let other = b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n";
        let _ = resume_command(other, &limits, &mut args);
        let _ = args.iter(other).count();
    }

    /// Garbage, damaged commands and huge declared sizes: no panic, no hang,
    /// and no allocation beyond the input's size.
    #[test]
    fn garbage_never_panics() {
        let mut rng = fastrand::Rng::with_seed(42);
        let started = Instant::now();
        let limits = [
            Limits::default(),
            Limits {
                unauthenticated: true,
                ..Limits::default()
            },
            Limits {
                max_inline_len: 16,
                max_bulk_len: 8,
                max_multibulk_len: 4,
                ..Limits::default()
            },
        ];
        let mut args = Args::new();
        let pieces: &[&[u8]] = &[
            b"*",
            b"$",
            b"\r\n",
            b"\r",
            b"\n",
            b"-1",
            b"0",
            b"9223372036854775807",
            b"99999999999999999999",
            b"1048576",
            b"536870912",
            b"\"",
            b"'",
            b"\\x",
            b"\\",
            b" ",
            b"\x00",
            b"a",
            b"*3\r\n$3\r\nSET\r\n",
        ];
        for round in 0..20_000 {
            let mut input = Vec::new();
            match round % 3 {
                0 => input.extend((0..rng.usize(..64)).map(|_| rng.u8(..))),
                1 => {
                    for _ in 0..rng.usize(..12) {
                        input.extend_from_slice(pieces[rng.usize(..pieces.len())]);
                    }
                }
                _ => {
                    let cmd: Vec<Vec<u8>> =
                        (0..rng.usize(1..4)).map(|_| random_arg(&mut rng)).collect();
                    encode_multibulk(&cmd, &mut input);
                    for _ in 0..rng.usize(1..4) {
                        let at = rng.usize(..input.len());
                        input[at] = pieces[rng.usize(..pieces.len())][0];
                    }
                    input.truncate(rng.usize(..=input.len()));
                }
            }
            let l = &limits[rng.usize(..limits.len())];
            match parse_command(&input, l, &mut args) {
                Ok(Status::Complete(n)) => {
                    assert!(n <= input.len());
                    assert!(args.iter(&input).count() == args.len());
                }
                Ok(Status::Incomplete(n)) => assert!(n > input.len()),
                Err(_) => {}
            }
            assert!(args.ranges.capacity() <= 2 * RESERVE_CAP);
        }
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
