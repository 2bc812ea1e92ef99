//! Command parser. (Helper: implement.)

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

/// Outcome of one [`parse_command`] call that found no protocol error.
#[derive(Debug, PartialEq, Eq)]
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
/// prefix, e.g. `Protocol error: invalid bulk length`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInline,
    UnbalancedQuotes,
    TooBigMultibulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    ExpectedDollar(u8),
    TooBigBulkCount,
    InvalidBulkLength,
    UnauthenticatedBulkLength,
}

/// The arguments of one parsed command, as ranges into the input (or into the
/// scratch buffer for inline commands).
#[derive(Default, Debug)]
pub struct Args {
    // Helper: ranges, and a scratch buffer for unescaped inline arguments.
}

impl Args {
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of arguments, the command name included.
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Argument `i`, given the same input slice that was passed to `parse_command`.
    pub fn get<'a>(&'a self, input: &'a [u8], i: usize) -> &'a [u8] {
        let _ = (input, i);
        todo!()
    }
}

/// Parses one command from the front of `input` into `args` (cleared first).
pub fn parse_command(
    input: &[u8],
    limits: &Limits,
    args: &mut Args,
) -> Result<Status, ProtocolError> {
    let _ = (input, limits, args);
    todo!()
}
