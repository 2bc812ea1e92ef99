//! Why a file did not load, and where.

use std::fmt;
use std::io;

use crate::rdb::types;

/// A file that did not load: what went wrong ([`LoadErrorKind`]), the
/// byte offset in the file where it was found, and the key being read
/// when it is known. Shown as, for example,
/// `Bad RDB at offset 1234: key "foo" has type 6 (module), which Tessera cannot load`.
#[derive(Debug)]
pub struct LoadError {
    /// Offset from the file's first byte: of the byte that could not be
    /// used, of a value that did not parse (its type byte), or, for a
    /// short file, its length.
    pub offset: u64,
    /// The key whose entry was being read, once its name was read.
    pub key: Option<Vec<u8>>,
    pub kind: LoadErrorKind,
}

/// What went wrong.
#[derive(Debug)]
pub enum LoadErrorKind {
    /// Reading from the source failed.
    Io(io::Error),
    /// The file ends before its end opcode (or inside its checksum).
    UnexpectedEof,
    /// The file does not start with `REDIS` and four digits.
    NotRdb,
    /// A version this reader does not know (it reads 1 to 12).
    Version(u16),
    /// A type Redis writes that Tessera has no value for (modules,
    /// hashes with per-field expiry).
    UnsupportedType(u8),
    /// A byte where an opcode or type belongs that is neither.
    UnknownType(u8),
    /// A value of this type whose bytes do not parse.
    BadValue(u8),
    /// A length, string or field that does not parse; says which.
    Bad(&'static str),
    /// Module auxiliary data, which only the module could read.
    ModuleAux,
    /// A function library in Redis 7.0's release candidates' form, which
    /// Redis 7.0 itself refuses.
    FunctionPreGa,
    /// The checksum stored at the end differs from the file's.
    Checksum { stored: u64, computed: u64 },
}

impl LoadError {
    pub(super) fn new(offset: u64, kind: LoadErrorKind) -> LoadError {
        LoadError {
            offset,
            key: None,
            kind,
        }
    }

    /// Whether the file ended too soon (a truncated file, or a transfer
    /// cut short).
    pub fn is_eof(&self) -> bool {
        matches!(self.kind, LoadErrorKind::UnexpectedEof)
    }
}

/// What Redis's type `ty` holds, for messages: the kinds Tessera refuses
/// get a name, the rest their number only.
fn type_label(ty: u8) -> Option<&'static str> {
    Some(match ty {
        types::MODULE | types::MODULE_2 => "module",
        types::HASH_METADATA_PRE_GA
        | types::HASH_LISTPACK_EX_PRE_GA
        | types::HASH_METADATA
        | types::HASH_LISTPACK_EX => "hash with field expiry",
        _ => return None,
    })
}

/// Whether Tessera refuses `ty` as a type it knows but cannot hold.
pub(super) fn is_unsupported(ty: u8) -> bool {
    type_label(ty).is_some()
}

/// A key as text: printable ASCII as is, quotes and backslashes escaped,
/// other bytes as `\xNN`.
struct Quoted<'a>(&'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            match b {
                b'"' | b'\\' => write!(f, "\\{}", b as char)?,
                0x20..=0x7E => write!(f, "{}", b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LoadErrorKind as K;
        if let K::UnexpectedEof = self.kind {
            write!(
                f,
                "Bad RDB: unexpected end of file at offset {}",
                self.offset
            )?;
            if let Some(k) = &self.key {
                write!(f, ", in key {}", Quoted(k))?;
            }
            return Ok(());
        }
        write!(f, "Bad RDB at offset {}: ", self.offset)?;
        match (&self.kind, &self.key) {
            (K::UnsupportedType(ty), Some(k)) => write!(
                f,
                "key {} has type {ty} ({}), which Tessera cannot load",
                Quoted(k),
                type_label(*ty).unwrap_or("unknown")
            ),
            (K::UnsupportedType(ty), None) => write!(
                f,
                "type {ty} ({}), which Tessera cannot load",
                type_label(*ty).unwrap_or("unknown")
            ),
            (K::UnknownType(ty), Some(k)) => write!(
                f,
                "key {} has type {ty}, which is no RDB type Tessera knows",
                Quoted(k)
            ),
            (kind, key) => {
                if let Some(k) = key {
                    write!(f, "key {}: ", Quoted(k))?;
                }
                match kind {
                    K::Io(e) => write!(f, "read error: {e}"),
                    K::NotRdb => f.write_str("not an RDB file (no REDIS magic and version)"),
                    K::Version(v) => write!(
                        f,
                        "RDB version {v}, which Tessera cannot load (it reads 1 to {})",
                        super::MAX_READ_VERSION
                    ),
                    K::UnknownType(ty) => write!(f, "unknown type or opcode {ty}"),
                    K::BadValue(ty) => write!(f, "value of type {ty} does not parse"),
                    K::Bad(what) => write!(f, "bad {what}"),
                    K::ModuleAux => {
                        f.write_str("module auxiliary data, which Tessera cannot load")
                    }
                    K::FunctionPreGa => f.write_str(
                        "function library in Redis 7.0 release-candidate form, \
                         which Tessera cannot load",
                    ),
                    K::Checksum { stored, computed } => write!(
                        f,
                        "RDB CRC error: checksum mismatch (file says {stored:#018x}, contents give {computed:#018x})"
                    ),
                    K::UnsupportedType(_) | K::UnexpectedEof => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            LoadErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
