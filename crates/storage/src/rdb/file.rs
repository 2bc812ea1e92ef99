//! Whole RDB files (`dump.rdb`): written by SAVE and BGSAVE, read at start,
//! and streamed to a replica for a full sync.
//!
//! # The format
//!
//! A file is the magic `REDIS`, the version as four ASCII digits, then a
//! sequence of items each opened by one byte, then the end opcode and (from
//! version 5) the CRC-64 of every byte before the checksum, little-endian;
//! a checksum of zero means the writer did not compute one (Redis's
//! `rdbchecksum no`) and is not checked. A byte below 0xF4 opens a key: it
//! is the value's RDB type, followed by the key as an RDB string and the
//! value in that type's encoding, exactly as in a DUMP payload's body. The
//! other bytes are opcodes:
//!
//! | byte | opcode | then | since |
//! |---|---|---|---|
//! | 0xF4 | `SLOT_INFO` | slot, keys in it, expiring keys in it (3 lengths) | RDB 12 |
//! | 0xF5 | `FUNCTION2` | one function library's code (a string) | RDB 10 |
//! | 0xF6 | `FUNCTION_PRE_GA` | a library in 7.0's release candidates' form | RDB 10 |
//! | 0xF7 | `MODULE_AUX` | a module's own data | RDB 9 |
//! | 0xF8 | `IDLE` | the next key's LRU idle seconds (a length) | RDB 9 |
//! | 0xF9 | `FREQ` | the next key's LFU counter (1 byte) | RDB 9 |
//! | 0xFA | `AUX` | a name and a value (strings) | RDB 7 |
//! | 0xFB | `RESIZEDB` | keys and expiring keys in the database (2 lengths) | RDB 7 |
//! | 0xFC | `EXPIRETIME_MS` | the next key's deadline, unix ms, 8 bytes LE | RDB 3 |
//! | 0xFD | `EXPIRETIME` | the next key's deadline, unix s, 4 bytes LE | RDB 1 |
//! | 0xFE | `SELECTDB` | the database of the keys that follow (a length) | RDB 1 |
//! | 0xFF | `EOF` | the checksum (from RDB 5) | RDB 1 |
//!
//! # What is read
//!
//! [`Reader`] reads versions 1 to 12 (Redis 1.x through 7.4), every
//! opcode above, and every value type [`decode`](super::decode) reads,
//! plus Redis 7.2's listpack sets (type 20), and streams of every version
//! (15, 19, 21). It stops with a [`LoadError`]
//! naming the byte offset (and the key, once it is known) on what Tessera
//! cannot hold: module values (6, 7) and module
//! auxiliary data, Redis 7.4's hashes with per-field expiry (22 to 25),
//! function libraries in the release candidates' form (0xF6, which Redis
//! 7.0 itself refuses), and unknown types. LRU and LFU hints and slot
//! information are read past; every other item is handed to the caller
//! ([`Item`]), which decides what to keep (whether to drop keys already
//! expired, which shard a key goes to).
//!
//! The reader streams: memory is its 64 KiB buffer plus the encoded bytes
//! of the largest single value, whatever the file's size. Input is
//! untrusted: lengths are never trusted for an allocation (bytes are
//! copied as they arrive, so a length that lies fails at the end of the
//! file having cost at most the file's size), every value is parsed by the
//! same validating decoder as RESTORE, and a short file is an error at
//! the offset where it ends, never a panic.
//!
//! # What is written
//!
//! [`Writer`] writes version 10, what Redis 7.0 writes, so a Redis from
//! 7.0 on loads the files (older Redis refuses a newer version). The
//! header carries the `AUX` fields Redis 7.0 writes (`redis-ver`,
//! `redis-bits`, `ctime`, `used-mem`, `aof-base`; [`Writer::aux`] adds
//! more, such as a replication id). Each database opens with `SELECTDB`
//! and `RESIZEDB`; each key is an optional `EXPIRETIME_MS` then the key
//! and value as [`encode::keyed`] writes them, in
//! the plain types every Redis reads, and streams as Redis 7.0's type 19
//! (see [`encode`]).
//! LRU and LFU hints are not written: Redis loads a key without them as
//! just used.
//!
//! Shards can encode in parallel: [`encode_entry`] writes one key's bytes
//! into a shard's own buffer, and [`Writer::raw`] appends such a chunk to
//! the file, keeping the running checksum. The counts in `RESIZEDB` are
//! only hints for the loader's table size, so sums over shards will do.
//!
//! # Layout
//!
//! - this file: opcodes, [`Writer`], [`encode_entry`].
//! - `read`: [`Reader`] and [`Item`].
//! - `error`: [`LoadError`] and what went wrong ([`LoadErrorKind`]).

mod error;
mod read;
#[cfg(test)]
mod tests;

use std::io::{self, Write};

use super::{crc64_update, encode};
use crate::Value;

pub use error::{LoadError, LoadErrorKind};
pub use read::{Item, Reader};

/// The version [`Writer`] writes: Redis 7.0's.
pub const WRITE_VERSION: u16 = 10;

/// The newest version [`Reader`] reads: Redis 7.4's.
pub const MAX_READ_VERSION: u16 = 12;

/// What the `redis-ver` field says: the Redis whose files ours match.
pub const REDIS_VER: &str = "7.0.15";

/// The opcode bytes (see the module doc's table).
pub mod opcode {
    pub const SLOT_INFO: u8 = 0xF4;
    pub const FUNCTION2: u8 = 0xF5;
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    pub const MODULE_AUX: u8 = 0xF7;
    pub const IDLE: u8 = 0xF8;
    pub const FREQ: u8 = 0xF9;
    pub const AUX: u8 = 0xFA;
    pub const RESIZEDB: u8 = 0xFB;
    pub const EXPIRETIME_MS: u8 = 0xFC;
    pub const EXPIRETIME: u8 = 0xFD;
    pub const SELECTDB: u8 = 0xFE;
    pub const EOF: u8 = 0xFF;
}

/// The header's auxiliary fields that change from file to file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Aux {
    /// When the snapshot was taken, unix seconds (`ctime`).
    pub ctime: u64,
    /// Memory in use then, bytes (`used-mem`).
    pub used_mem: u64,
    /// Whether the file is the base of an append-only file (`aof-base`).
    pub aof_base: bool,
    /// `rdbchecksum no`: the trailer is zero, which loaders do not check.
    pub no_checksum: bool,
}

/// Bytes gathered before they are checksummed and handed to the sink, so
/// an unbuffered file sees few large writes.
const CHUNK: usize = 64 << 10;

/// A streaming RDB file writer: header on [`Writer::new`], then databases
/// and keys in the order given, then the end and checksum on
/// [`Writer::finish`]. A caller that drops it unfinished leaves a file
/// without an end, which every loader refuses.
pub struct Writer<W: Write> {
    out: W,
    /// Bytes not yet checksummed nor written.
    buf: Vec<u8>,
    /// CRC-64 of every byte written to `out` so far.
    crc: u64,
    /// Bytes written to `out` so far.
    written: u64,
    /// Whether `crc` is kept (`rdbchecksum`).
    checksum: bool,
}

impl<W: Write> Writer<W> {
    /// Starts a file on `out` with the version and the auxiliary fields.
    pub fn new(out: W, aux: &Aux) -> io::Result<Writer<W>> {
        let mut w = Writer {
            out,
            buf: Vec::with_capacity(CHUNK),
            crc: 0,
            written: 0,
            checksum: !aux.no_checksum,
        };
        w.buf
            .extend_from_slice(format!("REDIS{WRITE_VERSION:04}").as_bytes());
        let mut num = itoa::Buffer::new();
        w.aux(b"redis-ver", REDIS_VER.as_bytes())?;
        w.aux(b"redis-bits", num.format(usize::BITS).as_bytes())?;
        w.aux(b"ctime", num.format(aux.ctime).as_bytes())?;
        w.aux(b"used-mem", num.format(aux.used_mem).as_bytes())?;
        w.aux(b"aof-base", num.format(u8::from(aux.aof_base)).as_bytes())?;
        Ok(w)
    }

    /// One more auxiliary field (`repl-id`, `repl-offset`, ...). Readers
    /// take them anywhere; Redis writes them all before the first database.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.buf.push(opcode::AUX);
        encode::put_bytes(&mut self.buf, key);
        encode::put_bytes(&mut self.buf, value);
        self.spill()
    }

    /// One function library, its code as FUNCTION LOAD took it (Redis
    /// writes these after the header, before the first database).
    pub fn function(&mut self, code: &[u8]) -> io::Result<()> {
        self.buf.push(opcode::FUNCTION2);
        encode::put_bytes(&mut self.buf, code);
        self.spill()
    }

    /// Opens database `db`: the keys that follow belong to it. `size` and
    /// `expires` (keys, and keys with a deadline) are sizing hints for the
    /// loader; sums or estimates will do.
    pub fn select_db(&mut self, db: u64, size: u64, expires: u64) -> io::Result<()> {
        self.buf.push(opcode::SELECTDB);
        encode::put_len(&mut self.buf, db);
        self.buf.push(opcode::RESIZEDB);
        encode::put_len(&mut self.buf, size);
        encode::put_len(&mut self.buf, expires);
        self.spill()
    }

    /// One key of the current database, with its deadline (unix ms).
    pub fn key(&mut self, key: &[u8], value: &Value, expire_ms: Option<u64>) -> io::Result<()> {
        encode_entry(&mut self.buf, key, value, expire_ms);
        self.spill()
    }

    /// Bytes that [`encode_entry`] wrote (any number of keys of the
    /// current database, from another thread's buffer), appended as they
    /// are; the checksum covers them like everything else.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() <= CHUNK {
            self.buf.extend_from_slice(bytes);
            return self.spill();
        }
        // A big chunk goes out from where it is, not through `buf`.
        self.flush_buf()?;
        self.emit(bytes)
    }

    /// Bytes handed to the sink so far (not counting what waits in the
    /// writer's own buffer): progress for INFO persistence.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Ends the file (the end opcode and the checksum), flushes the sink
    /// and returns it; syncing a file to disk is the caller's.
    pub fn finish(mut self) -> io::Result<W> {
        self.buf.push(opcode::EOF);
        self.flush_buf()?;
        let crc = self.crc.to_le_bytes();
        self.out.write_all(&crc)?;
        self.written += crc.len() as u64;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes `buf` out once it has grown past a chunk.
    fn spill(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let res = self.emit(&buf);
        self.buf = buf;
        self.buf.clear();
        // A huge value leaves a huge buffer; give it back.
        if self.buf.capacity() > 16 * CHUNK {
            self.buf = Vec::with_capacity(CHUNK);
        }
        res
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64_update(self.crc, bytes);
        }
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// Appends one key as an RDB file holds it to `out`: `EXPIRETIME_MS` and
/// the deadline if there is one, the type byte, the key, the value. What
/// [`Writer::key`] writes; shards call it on their own buffers and the
/// file's owner passes the buffers to [`Writer::raw`].
pub fn encode_entry(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_ms: Option<u64>) {
    if let Some(at) = expire_ms {
        out.push(opcode::EXPIRETIME_MS);
        out.extend_from_slice(&at.to_le_bytes());
    }
    encode::keyed(key, value, out);
}
