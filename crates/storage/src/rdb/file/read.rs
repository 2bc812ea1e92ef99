//! The streaming reader: a file's bytes in, one [`Item`] at a time out.
//!
//! Two layers. [`Input`] buffers the source, counts the offset and keeps
//! the running checksum; its `frame_*` functions copy one length, string
//! or whole value's bytes, as they stand, into a scratch buffer, reading
//! only as far as the encoding's own lengths say (no allocation is sized
//! by a length: bytes are appended as they arrive). [`Reader`] walks the
//! opcodes and hands each framed value to the DUMP decoder, which
//! validates it as it would a RESTORE payload's body. A value is framed
//! before it is parsed because the decoder works on a slice; the cost is
//! one copy of each value's encoded bytes, and memory for the largest one.

use std::io::{self, Read};

use super::error::{is_unsupported, LoadError, LoadErrorKind as K};
use super::{opcode, MAX_READ_VERSION};
use crate::rdb::{crc64_update, decode, types};
use crate::Value;

type Result<T> = std::result::Result<T, LoadError>;

/// One thing a file holds, in file order.
#[derive(Debug, PartialEq)]
pub enum Item {
    /// An auxiliary field (`redis-ver`, `ctime`, `repl-id`, `lua`, ...);
    /// integer-encoded values come back as their decimal text.
    Aux { key: Vec<u8>, value: Vec<u8> },
    /// The keys that follow belong to database `n`.
    SelectDb(u64),
    /// The writer's count of keys and of keys with a deadline in the
    /// current database: sizing hints, not promises.
    ResizeDb { size: u64, expires: u64 },
    /// One key. `expire_ms` is its deadline in unix milliseconds (a
    /// deadline in seconds is converted; one before 1970 reads as 0);
    /// keys already past it are the caller's to drop or keep, as a
    /// primary drops them and a replica keeps them.
    Entry {
        db: u64,
        key: Vec<u8>,
        value: Value,
        expire_ms: Option<u64>,
    },
    /// One function library's code (`FUNCTION2`), for FUNCTION LOAD.
    FunctionLib(Vec<u8>),
    /// The end opcode, with the checksum verified. Every later call
    /// returns `End` again.
    End,
}

/// Bytes read from the source at a time.
const BUF: usize = 64 << 10;

/// A scratch buffer that grew past this for one big value is given back.
const KEEP_SCRATCH: usize = 16 << 20;

/// A streaming RDB reader over any byte source (a file, a socket, a
/// slice); it buffers itself, so the source needs no `BufReader`.
///
/// ```no_run
/// # use storage::rdb::file::{Item, Reader};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut r = Reader::new(std::fs::File::open("dump.rdb")?)?;
/// loop {
///     match r.next_item()? {
///         Item::Entry { db, key, value, expire_ms } => {
///             // Route `key` to its shard, insert into database `db`.
///             # let _ = (db, key, value, expire_ms);
///         }
///         Item::End => break,
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
///
/// An error ends the load: what was handed out before it came from a
/// file that is bad somewhere (possibly only in its checksum, which is
/// checked last), so a loader should throw it away.
pub struct Reader<R: Read> {
    input: Input<R>,
    version: u16,
    db: u64,
    /// The framed bytes of the value being read.
    scratch: Vec<u8>,
    /// The framed bytes of a key or other string.
    strbuf: Vec<u8>,
    done: bool,
    /// Whether the trailer's checksum is checked.
    verify: bool,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header (`REDIS` and a version from 1 to 12).
    pub fn new(src: R) -> Result<Reader<R>> {
        let mut input = Input::new(src);
        for &want in b"REDIS" {
            if input.u8()? != want {
                return Err(LoadError::new(0, K::NotRdb));
            }
        }
        let mut version = 0u16;
        for _ in 0..4 {
            let d = input.u8()?;
            if !d.is_ascii_digit() {
                return Err(LoadError::new(0, K::NotRdb));
            }
            version = version * 10 + u16::from(d - b'0');
        }
        if !(1..=MAX_READ_VERSION).contains(&version) {
            return Err(LoadError::new(5, K::Version(version)));
        }
        Ok(Reader {
            input,
            version,
            db: 0,
            scratch: Vec::new(),
            strbuf: Vec::new(),
            done: false,
            verify: true,
        })
    }

    /// Whether to check the trailer's checksum (`rdbchecksum`; on by
    /// default).
    pub fn verify_checksum(&mut self, on: bool) {
        self.verify = on;
    }

    /// The file's RDB version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Bytes of the file consumed so far (progress for INFO's loading
    /// fields).
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// The source and whatever was read from it past the bytes consumed
    /// (after [`Item::End`]: past the checksum), for a replica whose
    /// command stream follows the file on the same connection.
    pub fn into_parts(self) -> (R, Vec<u8>) {
        let Input {
            src, buf, pos, end, ..
        } = self.input;
        (src, buf[pos..end].to_vec())
    }

    /// The next item; [`Item::End`] once the file is done.
    pub fn next_item(&mut self) -> Result<Item> {
        if self.done {
            return Ok(Item::End);
        }
        let mut expire_ms = None;
        loop {
            let at = self.input.offset();
            match self.input.u8()? {
                opcode::EOF => return self.end(),
                opcode::SELECTDB => {
                    self.db = self.input.len()?;
                    return Ok(Item::SelectDb(self.db));
                }
                opcode::RESIZEDB => {
                    let size = self.input.len()?;
                    let expires = self.input.len()?;
                    return Ok(Item::ResizeDb { size, expires });
                }
                opcode::AUX => {
                    let key = self.string()?;
                    let value = self.string()?;
                    return Ok(Item::Aux { key, value });
                }
                opcode::FUNCTION2 => return Ok(Item::FunctionLib(self.string()?)),
                opcode::EXPIRETIME_MS => {
                    let ms = i64::from_le_bytes(self.input.array()?);
                    expire_ms = Some(u64::try_from(ms).unwrap_or(0));
                }
                opcode::EXPIRETIME => {
                    let s = i32::from_le_bytes(self.input.array()?);
                    expire_ms = Some(u64::try_from(s).unwrap_or(0) * 1000);
                }
                // LRU and LFU hints: Tessera starts every key fresh.
                opcode::IDLE => {
                    self.input.len()?;
                }
                opcode::FREQ => {
                    self.input.u8()?;
                }
                // Slot, keys in it, expiring keys in it: Tessera counts
                // its own.
                opcode::SLOT_INFO => {
                    for _ in 0..3 {
                        self.input.len()?;
                    }
                }
                opcode::MODULE_AUX => return Err(LoadError::new(at, K::ModuleAux)),
                opcode::FUNCTION_PRE_GA => return Err(LoadError::new(at, K::FunctionPreGa)),
                ty => return self.entry(at, ty, expire_ms),
            }
        }
    }

    /// The end opcode: the checksum (from version 5) must match unless it
    /// is zero or the reader was told not to check (`rdbchecksum no`).
    fn end(&mut self) -> Result<Item> {
        let computed = self.input.checksum();
        if self.version >= 5 {
            let at = self.input.offset();
            let stored = u64::from_le_bytes(self.input.array()?);
            if self.verify && stored != 0 && stored != computed {
                return Err(LoadError::new(at, K::Checksum { stored, computed }));
            }
        }
        self.done = true;
        Ok(Item::End)
    }

    /// A key of type `ty`, whose type byte is at `at`.
    fn entry(&mut self, at: u64, ty: u8, expire_ms: Option<u64>) -> Result<Item> {
        let loadable = frame_kind(ty).is_some();
        if !loadable && !is_unsupported(ty) {
            // Not a type at all: what follows may not even be a key.
            let key = self.string().ok();
            return Err(LoadError {
                offset: at,
                key,
                kind: K::UnknownType(ty),
            });
        }
        let key = self.string()?;
        let Some(kind) = frame_kind(ty) else {
            return Err(LoadError {
                offset: at,
                key: Some(key),
                kind: K::UnsupportedType(ty),
            });
        };
        self.scratch.clear();
        if let Err(mut e) = self.input.frame_value(kind, &mut self.scratch) {
            e.key = Some(key);
            return Err(e);
        }
        let mut r = decode::Reader::new(&self.scratch);
        let value = match decode::file_typed(ty, &mut r) {
            Ok(v) if r.remaining() == 0 => v,
            _ => {
                return Err(LoadError {
                    offset: at,
                    key: Some(key),
                    kind: K::BadValue(ty),
                })
            }
        };
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
        }
        Ok(Item::Entry {
            db: self.db,
            key,
            value,
            expire_ms,
        })
    }

    /// An RDB string (raw, integer-encoded or LZF) as bytes.
    fn string(&mut self) -> Result<Vec<u8>> {
        let at = self.input.offset();
        self.strbuf.clear();
        self.input.frame_string(&mut self.strbuf)?;
        let s = decode::Reader::new(&self.strbuf)
            .string()
            .map_err(|_| LoadError::new(at, K::Bad("string")))?;
        let out = s.as_ref().to_vec();
        if self.strbuf.capacity() > KEEP_SCRATCH {
            self.strbuf = Vec::new();
        }
        Ok(out)
    }
}

/// How a type's value is laid out, as far as framing needs to know.
#[derive(Clone, Copy)]
enum Frame {
    /// One string (a plain string, or a packed blob).
    String,
    /// A count, then that many strings.
    Strings,
    /// A count, then that many pairs of strings.
    Pairs,
    /// A count, then member strings each with a score in decimal text.
    AsciiScored,
    /// A count, then member strings each with an 8-byte score.
    BinaryScored,
    /// A count, then nodes each a container length and a string.
    Quicklist2,
    /// A stream of type 15, 19 or 21 (see `decode::stream`): whether it
    /// has Redis 7.0's metadata, and whether its consumers have an active
    /// time.
    Stream { v2: bool, v3: bool },
}

/// The layout of a type Tessera loads; `None` for any other.
fn frame_kind(ty: u8) -> Option<Frame> {
    use types::*;
    Some(match ty {
        STRING | HASH_ZIPMAP | LIST_ZIPLIST | SET_INTSET | ZSET_ZIPLIST | HASH_ZIPLIST
        | HASH_LISTPACK | ZSET_LISTPACK | SET_LISTPACK => Frame::String,
        LIST | SET | LIST_QUICKLIST => Frame::Strings,
        HASH => Frame::Pairs,
        ZSET => Frame::AsciiScored,
        ZSET_2 => Frame::BinaryScored,
        LIST_QUICKLIST_2 => Frame::Quicklist2,
        STREAM_LISTPACKS => Frame::Stream {
            v2: false,
            v3: false,
        },
        STREAM_LISTPACKS_2 => Frame::Stream {
            v2: true,
            v3: false,
        },
        STREAM_LISTPACKS_3 => Frame::Stream { v2: true, v3: true },
        _ => return None,
    })
}

/// The source, buffered, with the offset and running checksum.
struct Input<R> {
    src: R,
    buf: Box<[u8]>,
    /// Next byte to consume.
    pos: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    /// `buf[crc_from..pos]` is consumed but not yet in `crc`.
    crc_from: usize,
    crc: u64,
    /// File offset of `buf[0]`.
    base: u64,
}

impl<R: Read> Input<R> {
    fn new(src: R) -> Input<R> {
        Input {
            src,
            buf: vec![0; BUF].into_boxed_slice(),
            pos: 0,
            end: 0,
            crc_from: 0,
            crc: 0,
            base: 0,
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn err(&self, kind: K) -> LoadError {
        LoadError::new(self.offset(), kind)
    }

    /// Makes at least one byte available; false at the end of the source.
    fn fill(&mut self) -> Result<bool> {
        if self.pos < self.end {
            return Ok(true);
        }
        self.checksum();
        self.base += self.pos as u64;
        (self.pos, self.end, self.crc_from) = (0, 0, 0);
        loop {
            match self.src.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(K::Io(e))),
            }
        }
    }

    /// The checksum of every byte consumed so far.
    fn checksum(&mut self) -> u64 {
        self.crc = crc64_update(self.crc, &self.buf[self.crc_from..self.pos]);
        self.crc_from = self.pos;
        self.crc
    }

    fn u8(&mut self) -> Result<u8> {
        if !self.fill()? {
            return Err(self.err(K::UnexpectedEof));
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = self.u8()?;
        }
        Ok(a)
    }

    /// Appends the next `n` bytes to `out`, as they arrive.
    fn copy(&mut self, mut n: u64, out: &mut Vec<u8>) -> Result<()> {
        while n > 0 {
            if !self.fill()? {
                return Err(self.err(K::UnexpectedEof));
            }
            let take = (self.end - self.pos).min(usize::try_from(n).unwrap_or(usize::MAX));
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            n -= take as u64;
        }
        Ok(())
    }

    /// A length's first byte and the rest of it (see `decode::Reader`'s
    /// lengths), each byte also appended to `out` if given. Returns
    /// (is an encoded-string marker, length or marker kind).
    fn len_raw(&mut self, out: Option<&mut Vec<u8>>) -> Result<(bool, u64)> {
        let at = self.offset();
        let b = self.u8()?;
        // How many bytes follow the first, and whether it is a marker.
        let (special, more) = match b >> 6 {
            0 => (false, 0),
            1 => (false, 1),
            2 if b == 0x80 => (false, 4),
            2 if b == 0x81 => (false, 8),
            2 => return Err(LoadError::new(at, K::Bad("length"))),
            _ => (true, 0),
        };
        let mut rest = [0u8; 8];
        for r in &mut rest[..more] {
            *r = self.u8()?;
        }
        if let Some(o) = out {
            o.push(b);
            o.extend_from_slice(&rest[..more]);
        }
        // Six bits in the first byte (14 with one more, big-endian);
        // 32 and 64-bit lengths are big-endian in the bytes that follow.
        let first = if more <= 1 { u64::from(b & 0x3f) } else { 0 };
        let n = rest[..more]
            .iter()
            .fold(first, |acc, &x| acc << 8 | u64::from(x));
        Ok((special, n))
    }

    /// A plain length, not kept.
    fn len(&mut self) -> Result<u64> {
        let at = self.offset();
        match self.len_raw(None)? {
            (false, n) => Ok(n),
            (true, _) => Err(LoadError::new(at, K::Bad("length"))),
        }
    }

    /// A plain length, appended to `out`.
    fn frame_len(&mut self, out: &mut Vec<u8>) -> Result<u64> {
        let at = self.offset();
        match self.len_raw(Some(out))? {
            (false, n) => Ok(n),
            (true, _) => Err(LoadError::new(at, K::Bad("length"))),
        }
    }

    /// One RDB string's bytes, encoding and all, appended to `out`.
    fn frame_string(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let at = self.offset();
        match self.len_raw(Some(out))? {
            (false, n) => self.copy(n, out),
            // 8-, 16- and 32-bit integers.
            (true, 0) => self.copy(1, out),
            (true, 1) => self.copy(2, out),
            (true, 2) => self.copy(4, out),
            // LZF: compressed length, original length, compressed bytes.
            (true, 3) => {
                let clen = self.frame_len(out)?;
                self.frame_len(out)?;
                self.copy(clen, out)
            }
            _ => Err(LoadError::new(at, K::Bad("string encoding"))),
        }
    }

    /// One value's bytes (after its type byte and key) appended to `out`.
    /// Each element consumes at least a byte, so a count that lies ends
    /// at the end of the file.
    fn frame_value(&mut self, kind: Frame, out: &mut Vec<u8>) -> Result<()> {
        match kind {
            Frame::String => return self.frame_string(out),
            Frame::Stream { v2, v3 } => return self.frame_stream(v2, v3, out),
            _ => {}
        }
        let n = self.frame_len(out)?;
        for _ in 0..n {
            match kind {
                Frame::String | Frame::Strings => self.frame_string(out)?,
                Frame::Pairs => {
                    self.frame_string(out)?;
                    self.frame_string(out)?;
                }
                Frame::AsciiScored => {
                    self.frame_string(out)?;
                    // A length byte, or 253-255 for NaN and infinities.
                    let b = self.u8()?;
                    out.push(b);
                    if b < 253 {
                        self.copy(u64::from(b), out)?;
                    }
                }
                Frame::BinaryScored => {
                    self.frame_string(out)?;
                    self.copy(8, out)?;
                }
                Frame::Quicklist2 => {
                    self.frame_len(out)?;
                    self.frame_string(out)?;
                }
                Frame::Stream { .. } => {}
            }
        }
        Ok(())
    }

    /// A stream's bytes (see `decode::stream` for the layout).
    fn frame_stream(&mut self, v2: bool, v3: bool, out: &mut Vec<u8>) -> Result<()> {
        let nodes = self.frame_len(out)?;
        for _ in 0..nodes {
            self.frame_string(out)?;
            self.frame_string(out)?;
        }
        // Length and last ID; then first ID, max deleted ID, entries added.
        for _ in 0..if v2 { 8 } else { 3 } {
            self.frame_len(out)?;
        }
        let groups = self.frame_len(out)?;
        for _ in 0..groups {
            self.frame_string(out)?;
            for _ in 0..if v2 { 3 } else { 2 } {
                self.frame_len(out)?;
            }
            let pel = self.frame_len(out)?;
            for _ in 0..pel {
                self.copy(16 + 8, out)?;
                self.frame_len(out)?;
            }
            let consumers = self.frame_len(out)?;
            for _ in 0..consumers {
                self.frame_string(out)?;
                self.copy(if v3 { 16 } else { 8 }, out)?;
                let owned = self.frame_len(out)?;
                for _ in 0..owned {
                    self.copy(16, out)?;
                }
            }
        }
        Ok(())
    }
}
