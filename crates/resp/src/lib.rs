//! RESP2 for Tessera: a zero-copy command parser and a one-pass reply encoder.
//!
//! (Helper: replace this doc with the full crate doc and a Layout section.)
//!
//! The contract the server relies on:
//! - [`parse_command`] looks at the front of the connection's read buffer and
//!   either finds one whole command (multibulk `*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`
//!   or inline `GET k\r\n`), or says how many bytes it needs before a retry can
//!   succeed, or reports a protocol error with Redis's exact text.
//! - A parsed command is a list of byte ranges ([`Args`]); multibulk arguments
//!   point into the input, so nothing is copied. Inline arguments with quotes
//!   are unescaped into the `Args` scratch buffer.
//! - Nothing is allocated from a length the client declared before it is
//!   validated against [`Limits`].

pub mod encode;
pub mod frame;
pub mod parse;

pub use frame::Frame;
pub use parse::{parse_command, Args, Limits, ProtocolError, Status};
