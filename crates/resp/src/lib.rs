//! RESP for Tessera: a zero-copy command parser and a one-pass reply encoder
//! (RESP2, plus the RESP3 reply forms a connection gets after `HELLO 3`).
//!
//! This crate is the wire format and nothing else: it knows no commands, no
//! sockets and nothing else in the workspace. Redis 7.0's behaviour is the
//! specification, down to its protocol error texts and its quirks.
//!
//! The contract the server relies on:
//! - [`parse_command`] looks at the front of the connection's read buffer and
//!   either finds one whole command (multibulk `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`
//!   or inline `GET k\r\n`), or says how many bytes it needs before a retry can
//!   succeed, or reports a protocol error with Redis's exact text (reply with
//!   `-ERR <text>` and close the connection, as Redis does).
//! - A parsed command is a list of byte ranges ([`Args`]); multibulk arguments
//!   point into the input, so nothing is copied. Inline arguments with quotes
//!   are unescaped into the `Args` scratch buffer.
//! - Nothing is allocated from a length the client declared before it is
//!   validated against [`Limits`], and even then only a small capped
//!   reservation: memory grows with the bytes that actually arrive.
//! - Replies are appended to a `Vec<u8>` by the [`encode`] functions, one value
//!   per call; [`Frame`] and [`frame::parse_frame`] are the typed, allocating
//!   form for the client side (tests, MIGRATE).
//!
//! ```
//! use resp::{parse_command, Args, Limits, Status};
//!
//! let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n";
//! let mut args = Args::new();
//! let status = parse_command(input, &Limits::default(), &mut args).unwrap();
//! assert_eq!(status, Status::Complete(20));
//! assert_eq!(args.get(input, 0), b"GET");
//! assert_eq!(args.get(input, 1), b"k");
//!
//! let mut reply = Vec::new();
//! resp::encode::bulk(&mut reply, b"value");
//! assert_eq!(reply, b"$5\r\nvalue\r\n");
//! ```
//!
//! # Layout
//!
//! - [`parse`]: [`parse_command`], the server's hot path. Multibulk and inline
//!   requests, [`Limits`], [`Status`] (complete, or how much more to wait
//!   for), [`ProtocolError`] with Redis's message texts, and [`Args`];
//!   [`resume_command`], the same parse continued where the last incomplete
//!   one stopped, for commands of very many arguments.
//! - [`encode`]: one function per RESP2 reply type, each appending to an output
//!   buffer in one pass with no intermediate allocation.
//! - [`frame`]: [`Frame`], the typed RESP2 value, its encoder and
//!   [`frame::parse_frame`], a bounded reply parser for the client side.
//!
//! The benchmark in `benches/parser.rs` measures the pipelined `SET`/`GET`
//! parse and bulk encoding that `redis-benchmark` exercises.

pub mod encode;
pub mod frame;
pub mod parse;

pub use frame::Frame;
pub use parse::{parse_command, peek_keys, resume_command, Args, Limits, ProtocolError, Status};
