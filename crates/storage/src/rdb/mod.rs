//! Redis's serialisation format (RDB): one value, as DUMP and RESTORE
//! carry it, and whole files (`dump.rdb`), as SAVE, loading at start and
//! a replica's full sync carry them.
//!
//! A payload is: the RDB type byte, the value in RDB encoding, the RDB
//! version as two little-endian bytes, and a CRC-64 (Jones polynomial,
//! reflected, as Redis computes it) of everything before it, little-endian.
//! A file holds the same type bytes and value encodings, one per key,
//! between opcodes (database selectors, expiry times, auxiliary fields)
//! and under one CRC-64 of its own.
//!
//! # Layout
//!
//! - [`encode`]: Tessera's values to payloads a real Redis restores.
//! - [`decode`]: payloads from Redis 2.8 through 7.0 (every encoding those
//!   versions write) back to Tessera's values. Input is untrusted: every
//!   length is checked against the bytes that remain before anything is
//!   allocated for it, so a payload that lies costs at most its own size.
//! - [`file`](mod@file): whole RDB files: a streaming [`file::Writer`] (version 10,
//!   what Redis 7.0 writes and reads) and a streaming [`file::Reader`] of
//!   versions 1 to 12 (Redis 1.x to 7.4) that yields one item per key,
//!   using [`encode`] and [`decode`] for the values.
//! - [`functions`]: FUNCTION DUMP and RESTORE payloads (libraries' code).
//! - `listpack`, `ziplist`, `zipmap`: the packed blobs inside values.
//!
//! This module frames and checks payloads; the halves below know the types.

pub mod decode;
pub mod encode;
pub mod file;
pub mod functions;
mod listpack;
mod ziplist;
mod zipmap;

use crate::Value;

/// The RDB version Tessera writes in its payloads (Redis 6.0 to 7.0 write
/// 9 and 10; every Redis since 5.0 restores 9).
pub const WRITE_VERSION: u16 = 9;

/// The version of a payload holding a stream (type 19, Redis 7.0's).
pub const STREAM_VERSION: u16 = 10;

/// The version a payload of `v` says.
fn version_of(v: &Value) -> u16 {
    match v {
        Value::Stream(_) => STREAM_VERSION,
        _ => WRITE_VERSION,
    }
}

/// The newest RDB version RESTORE accepts: Redis 7.0's.
pub const MAX_READ_VERSION: u16 = 10;

/// RDB value type bytes.
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// A set packed in a listpack (Redis 7.2, RDB 11).
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
    /// Hashes whose fields carry their own expiry times (Redis 7.4,
    /// RDB 12; the first two are its release candidates' forms).
    pub const HASH_METADATA_PRE_GA: u8 = 22;
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    pub const HASH_METADATA: u8 = 24;
    pub const HASH_LISTPACK_EX: u8 = 25;
}

/// Why a payload was refused; the messages are Redis's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreError {
    /// Too short, a version newer than we read, or a checksum mismatch.
    VersionOrChecksum,
    /// The checksum matched but the value inside does not parse.
    BadFormat,
}

impl RestoreError {
    pub fn message(self) -> &'static str {
        match self {
            RestoreError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            RestoreError::BadFormat => "ERR Bad data format",
        }
    }
}

/// CRC-64 as Redis computes it (Jones polynomial, reflected, init 0).
/// SIMD-folded where the CPU allows (see the workspace Cargo.toml): a
/// 12 MB MIGRATE payload is checksummed in about a millisecond instead of
/// ten, on the owner shard's thread.
pub fn crc64(bytes: &[u8]) -> u64 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Redis, bytes)
}

/// Continues a CRC-64 (as [`crc64`] computes it) over more bytes:
/// `crc64_update(crc64(a), b) == crc64(a ++ b)`, so a file's checksum is
/// kept as it streams, and `crc64_update(0, x) == crc64(x)`. The state is
/// the checksum itself (the variant has no final xor), as in Redis.
pub fn crc64_update(crc: u64, bytes: &[u8]) -> u64 {
    let mut d = crc_fast::Digest::new_with_init_state(crc_fast::CrcAlgorithm::Crc64Redis, crc);
    d.update(bytes);
    d.finalize()
}

/// Appends the footer (version and checksum) to a type byte and value.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&WRITE_VERSION.to_le_bytes());
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Checks a payload's footer and returns the type byte and value bytes.
/// A checksum of zero is checked like any other: Redis 7.0's RESTORE
/// refuses it (only its RDB file loader skips a zero checksum).
pub fn unseal(payload: &[u8]) -> Result<&[u8], RestoreError> {
    if payload.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let (rest, crc) = payload.split_at(payload.len() - 8);
    let (body, ver) = rest.split_at(rest.len() - 2);
    let ver = u16::from_le_bytes([ver[0], ver[1]]);
    if ver > MAX_READ_VERSION {
        return Err(RestoreError::VersionOrChecksum);
    }
    let crc = u64::from_le_bytes(
        crc.try_into()
            .map_err(|_| RestoreError::VersionOrChecksum)?,
    );
    if crc != crc64(rest) {
        return Err(RestoreError::VersionOrChecksum);
    }
    Ok(body)
}

/// DUMP: the payload of one value.
pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    dump_into(v, &mut out);
    out
}

/// Appends the payload of `v` to `out` (what [`dump`] returns), sealed in
/// place: MIGRATE writes payloads straight into its command buffer.
pub fn dump_into(v: &Value, out: &mut Vec<u8>) {
    let start = out.len();
    encode::value(v, out);
    out.extend_from_slice(&version_of(v).to_le_bytes());
    let crc = crc64(&out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// RESTORE: the value inside a payload.
pub fn restore(payload: &[u8]) -> Result<Value, RestoreError> {
    let body = unseal(payload)?;
    decode::value(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_redis_check_value() {
        // Redis's crc64.c self-test: "123456789" -> 0xe9c6d914c4b8d9ca.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn crc_continues_across_pieces() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let whole = crc64(&data);
        assert_eq!(crc64_update(0, &data), whole);
        assert_eq!(crc64_update(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        for cut in [0, 1, 7, 8, 9, 63, 64, 65, 255, 256, 4095, 4999, 5000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(crc64_update(crc64(a), b), whole, "cut at {cut}");
        }
        let mut crc = 0;
        for piece in data.chunks(3) {
            crc = crc64_update(crc, piece);
        }
        assert_eq!(crc, whole);
    }

    #[test]
    fn footer_is_checked() {
        let p = seal(vec![types::STRING, 3, b'a', b'b', b'c']);
        assert_eq!(
            unseal(&p).map(<[u8]>::to_vec),
            Ok(vec![0, 3, b'a', b'b', b'c'])
        );
        let mut bad = p.clone();
        bad[2] ^= 1;
        assert_eq!(unseal(&bad), Err(RestoreError::VersionOrChecksum));
        assert_eq!(unseal(&p[..9]), Err(RestoreError::VersionOrChecksum));
        let mut zero = p.clone();
        let n = zero.len();
        zero[n - 8..].fill(0);
        assert_eq!(unseal(&zero), Err(RestoreError::VersionOrChecksum));
    }
}
