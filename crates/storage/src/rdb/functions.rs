//! FUNCTION DUMP and FUNCTION RESTORE payloads: every library's code, one
//! `FUNCTION2` opcode (0xF5) and one RDB string each, as a dump file holds
//! them, then the footer of a DUMP payload (the RDB version, 10 as Redis
//! 7.0 writes it, and the CRC-64 of everything before it). The same bytes
//! Redis 7.0 gives, so payloads travel between the two both ways.

use super::decode::{Reader, Str};
use super::file::opcode;
use super::{crc64, encode, unseal};

/// The RDB version in a functions payload: Redis 7.0's, which is what it
/// writes there (key payloads carry [`super::WRITE_VERSION`]).
const FUNCTIONS_VERSION: u16 = 10;

/// Why a functions payload was refused; the texts are Redis's (the
/// connection adds `ERR `).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionsError {
    /// Too short, too new, or a checksum mismatch.
    VersionOrChecksum,
    /// A library in 7.0's release candidates' form.
    PreGa,
    /// Something other than a library.
    NotAFunction,
    /// A library's code does not parse as an RDB string.
    Corrupt,
}

impl FunctionsError {
    pub fn message(self) -> &'static str {
        match self {
            FunctionsError::VersionOrChecksum => "DUMP payload version or checksum are wrong",
            FunctionsError::PreGa => "Pre-GA function format not supported",
            FunctionsError::NotAFunction => "given type is not a function",
            FunctionsError::Corrupt => "failed loading the given functions payload",
        }
    }
}

/// FUNCTION DUMP: a payload holding `codes`, in order.
pub fn dump<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(opcode::FUNCTION2);
        put_code(&mut out, code);
    }
    out.extend_from_slice(&FUNCTIONS_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// One library's code as an RDB string, byte for byte as Redis writes it:
/// LZF-compressed (by liblzf's own algorithm, which the `lzf` crate
/// follows, rather than Tessera's faster compressor for keys) when it is
/// over 20 bytes, `rdbcompression` is on, and liblzf fits it in 4 bytes
/// less than the original (Redis's output bound; liblzf needs one byte of
/// slack beyond what it writes, hence 5).
fn put_code(out: &mut Vec<u8>, code: &[u8]) {
    if code.len() > 20 && encode::compression() {
        if let Ok(c) = lzf::compress(code) {
            if c.len() + 5 <= code.len() {
                out.push(0xC3);
                encode::put_len(out, c.len() as u64);
                encode::put_len(out, code.len() as u64);
                out.extend_from_slice(&c);
                return;
            }
        }
    }
    encode::put_bytes(out, code);
}

/// FUNCTION RESTORE: the libraries' code inside a payload, in order.
pub fn restore(payload: &[u8]) -> Result<Vec<Vec<u8>>, FunctionsError> {
    let body = unseal(payload).map_err(|_| FunctionsError::VersionOrChecksum)?;
    let mut r = Reader::new(body);
    let mut codes = Vec::new();
    while r.remaining() > 0 {
        match r.u8().map_err(|_| FunctionsError::Corrupt)? {
            opcode::FUNCTION2 => {}
            opcode::FUNCTION_PRE_GA => return Err(FunctionsError::PreGa),
            _ => return Err(FunctionsError::NotAFunction),
        }
        codes.push(match r.string().map_err(|_| FunctionsError::Corrupt)? {
            Str::Borrowed(b) => b.to_vec(),
            Str::Owned(v) => v,
            Str::Int(n) => n.to_string().into_bytes(),
        });
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let long = b"#!lua name=lib\nredis.register_function('f', function() return 1 end)";
        let codes: [&[u8]; 2] = [b"#!lua name=a\n", long];
        let p = dump(codes);
        assert_eq!(&p[p.len() - 10..p.len() - 8], &[10, 0]);
        assert_eq!(
            restore(&p).expect("round trip"),
            vec![codes[0].to_vec(), codes[1].to_vec()]
        );
        assert_eq!(restore(&dump([])).expect("empty"), Vec::<Vec<u8>>::new());
    }

    /// What Redis 7.0.15's FUNCTION DUMP gave for this library.
    #[test]
    fn same_bytes_as_redis() {
        let code = b"#!lua name=mylib\nlocal function add1(a) return a + 1 end\nredis.register_function{function_name=\"f1\", callback=function(keys, args) return add1(1) end, flags={\"no-writes\",\"allow-stale\"}, description=\"adds\"}\nredis.register_function(\"f2\", function() return 7 end)";
        let redis = "f5c340cb41041f23216c7561206e616d653d6d796c69620a6c6f63616c2066756e6374696f6e200c61646431286129207265747572200e17202b203120656e640a72656469732e72656769737465725fc030007bc008005f605305226631222c202051056c6261636b3dc01c0a286b6579732c2061726773e0015a4069013129405c152c20666c6167733d7b226e6f2d777269746573222c222044126f772d7374616c65227d2c206465736372697040a5013d22203c0273227de00f9403282266322086e0007de000730037206d0164290a008d4285f79a70ada6";
        let hex: String = dump([&code[..]])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, redis);
    }

    #[test]
    fn refuses_bad_payloads() {
        assert_eq!(
            restore(b"bad_payload"),
            Err(FunctionsError::VersionOrChecksum)
        );
        let mut p = dump([&b"#!lua name=a\n"[..]]);
        p[3] ^= 1;
        assert_eq!(restore(&p), Err(FunctionsError::VersionOrChecksum));
        // A key's payload is not a library.
        let key = super::super::seal(vec![0, 1, b'x']);
        assert_eq!(restore(&key), Err(FunctionsError::NotAFunction));
    }
}
