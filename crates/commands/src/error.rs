//! Every error a command can answer with, and the one place that turns it into
//! its wire text.

use std::fmt;

/// Why a command failed. Handlers return it; [`Error::write`] encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    WrongType,
    NotInteger,
    NotFloat,
    Overflow,
    Syntax,
    NoSuchKey,
    /// `ERR invalid expire time in 'set' command`: the command's name, lowercase.
    InvalidExpire(&'static str),
    DbIndexOutOfRange,
    StringTooLong,
    SameObject,
    WrongArity(String),
    UnknownCommand(String),
    NoAuth,
    /// RESTORE (or COPY-like writes) onto a key that exists, without REPLACE.
    BusyKey,
    /// A RESTORE payload that fails its checks.
    Restore(storage::rdb::RestoreError),
    /// Any other error, the whole line after `-` (e.g. `ERR ...`).
    Other(String),
    Static(&'static str),
}

/// RESTORE's argument errors, in Redis 7.0's words.
pub const INVALID_TTL: &str = "ERR Invalid TTL value, must be >= 0";
pub const INVALID_IDLETIME: &str = "ERR Invalid IDLETIME value, must be >= 0";
pub const INVALID_FREQ: &str = "ERR Invalid FREQ value, must be >= 0 and <= 255";
pub const IDLETIME_UNDER_LFU: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const FREQ_WITHOUT_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
/// A command that may add data, refused while memory is over `maxmemory`
/// and nothing can be evicted.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// A string that is not a HyperLogLog (wrong magic, encoding or length).
pub const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
/// A HyperLogLog whose sparse registers do not add up.
pub const CORRUPT_HLL: &str = "INVALIDOBJ Corrupted HLL object detected";

/// The geo commands' argument errors, in Redis 7.0's words.
pub const GEO_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
pub const GEO_NO_MEMBER: &str = "ERR could not decode requested zset member";
pub const GEO_RADIUS_NAN: &str = "ERR need numeric radius";
pub const GEO_RADIUS_NEGATIVE: &str = "ERR radius cannot be negative";
pub const GEO_WIDTH_NAN: &str = "ERR need numeric width";
pub const GEO_HEIGHT_NAN: &str = "ERR need numeric height";
pub const GEO_BOX_NEGATIVE: &str = "ERR height or width cannot be negative";
pub const GEO_COUNT: &str = "ERR COUNT must be > 0";
pub const GEO_ANY_WITHOUT_COUNT: &str = "ERR the ANY argument requires COUNT argument";

/// Result of a command handler; the reply itself is already in the output buffer.
pub type CmdResult = Result<(), Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WrongType => {
                f.write_str("WRONGTYPE Operation against a key holding the wrong kind of value")
            }
            Error::NotInteger => f.write_str("ERR value is not an integer or out of range"),
            Error::NotFloat => f.write_str("ERR value is not a valid float"),
            Error::Overflow => f.write_str("ERR increment or decrement would overflow"),
            Error::Syntax => f.write_str("ERR syntax error"),
            Error::NoSuchKey => f.write_str("ERR no such key"),
            Error::InvalidExpire(cmd) => write!(f, "ERR invalid expire time in '{cmd}' command"),
            Error::DbIndexOutOfRange => f.write_str("ERR DB index is out of range"),
            Error::StringTooLong => {
                f.write_str("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
            }
            Error::SameObject => f.write_str("ERR source and destination objects are the same"),
            Error::WrongArity(cmd) => {
                write!(f, "ERR wrong number of arguments for '{cmd}' command")
            }
            Error::UnknownCommand(msg) => f.write_str(msg),
            Error::NoAuth => f.write_str("NOAUTH Authentication required."),
            Error::BusyKey => f.write_str("BUSYKEY Target key name already exists."),
            Error::Restore(e) => f.write_str(e.message()),
            Error::Other(s) => f.write_str(s),
            Error::Static(s) => f.write_str(s),
        }
    }
}

impl Error {
    /// Appends `-<text>\r\n` to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'-');
        match self {
            Error::Other(s) => out.extend_from_slice(s.as_bytes()),
            Error::Static(s) => out.extend_from_slice(s.as_bytes()),
            e => out.extend_from_slice(e.to_string().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }

    /// `ERR unknown command 'x', with args beginning with: 'a' 'b' ` as Redis 7.0 words it.
    pub fn unknown_command(name: &[u8], rest: &[&[u8]]) -> Error {
        let mut s = format!(
            "ERR unknown command '{}', with args beginning with: ",
            printable(name, 128)
        );
        for a in rest {
            if s.len() >= 128 {
                break;
            }
            s.push('\'');
            s.push_str(&printable(a, 128 - s.len().min(128)));
            s.push_str("' ");
        }
        Error::UnknownCommand(s)
    }

    /// `ERR unknown subcommand 'x'. Try CMD HELP.`
    pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> Error {
        Error::Other(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            printable(sub, 128),
            cmd
        ))
    }

    /// A known subcommand given a count of arguments its handler does not
    /// take (though the table's arity allows it), as Redis words it.
    pub fn subcommand_syntax(sub: &[u8], cmd: &str) -> Error {
        Error::Other(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            printable(sub, 128),
            cmd
        ))
    }
}

/// A client-supplied name made safe for an error line: no CR/LF, bounded length.
fn printable(b: &[u8], max: usize) -> String {
    let s: String = String::from_utf8_lossy(&b[..b.len().min(max)])
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    s
}
