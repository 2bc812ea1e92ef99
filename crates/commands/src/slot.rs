//! Key → cluster slot: CRC16 (XMODEM) of the key's hash tag, mod 16384, as
//! Redis Cluster computes it. The server maps a slot to a shard.

/// Number of cluster slots.
pub const SLOTS: u16 = 16384;

const fn crc16_tables() -> [[u16; 256]; 4] {
    let mut t = [[0u16; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    // t[k][x]: the CRC of byte x followed by k zero bytes, so four input
    // bytes fold into the state with four independent lookups.
    let mut k = 1;
    while k < 4 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev << 8) ^ t[0][(prev >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static CRC16: [[u16; 256]; 4] = crc16_tables();

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0. Four bytes a
/// step (every command with a key pays for this when there are 2+ shards).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0u16;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let hi = usize::from(((crc >> 8) as u8) ^ c[0]);
        let lo = usize::from((crc as u8) ^ c[1]);
        crc =
            CRC16[3][hi] ^ CRC16[2][lo] ^ CRC16[1][usize::from(c[2])] ^ CRC16[0][usize::from(c[3])];
    }
    for &b in chunks.remainder() {
        crc = (crc << 8) ^ CRC16[0][usize::from(((crc >> 8) as u8) ^ b)];
    }
    crc
}

/// The part of a key that is hashed: the bytes between the first `{` and the
/// next `}` when that is non-empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&c| c == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&c| c == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The cluster slot of a key.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time definition the four-byte steps must agree with.
    fn crc16_bytewise(data: &[u8]) -> u16 {
        data.iter().fold(0u16, |crc, &b| {
            let mut c = crc ^ (u16::from(b) << 8);
            for _ in 0..8 {
                c = if c & 0x8000 != 0 {
                    (c << 1) ^ 0x1021
                } else {
                    c << 1
                };
            }
            c
        })
    }

    #[test]
    fn four_byte_steps_match_the_definition() {
        let mut rng = fastrand::Rng::with_seed(7);
        for len in 0..64 {
            for _ in 0..50 {
                let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                assert_eq!(crc16(&data), crc16_bytewise(&data), "{data:?}");
            }
        }
    }

    #[test]
    fn known_slots() {
        // Values Redis Cluster's CLUSTER KEYSLOT gives.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
    }
}
