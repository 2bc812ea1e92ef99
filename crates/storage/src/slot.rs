//! Key → cluster slot: CRC16 (XMODEM) of the key's hash tag, mod 16384, as
//! Redis Cluster computes it. The server maps a slot to a shard. In cluster
//! mode a database also keeps [`SlotIndex`]: its keys by slot, so CLUSTER
//! COUNTKEYSINSLOT and GETKEYSINSLOT (a reshard calls them for every slot)
//! never scan the keyspace.

use std::collections::BTreeSet;

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

/// A database's keys by slot (cluster mode): a count per slot and the
/// keys in (slot, key) order. Each key is held a second time here; that
/// is cluster mode's memory cost per key (Redis 7.0 pays two pointers a
/// key for its per-slot lists).
pub struct SlotIndex {
    counts: Box<[u32]>,
    keys: BTreeSet<(u16, Box<[u8]>)>,
}

impl Default for SlotIndex {
    fn default() -> Self {
        SlotIndex {
            counts: vec![0; SLOTS as usize].into(),
            keys: BTreeSet::new(),
        }
    }
}

impl SlotIndex {
    pub fn add(&mut self, key: &[u8]) {
        let slot = key_slot(key);
        if self.keys.insert((slot, key.into())) {
            self.counts[usize::from(slot)] += 1;
        }
    }

    pub fn remove(&mut self, key: &[u8]) {
        let slot = key_slot(key);
        if self.keys.remove(&(slot, Box::<[u8]>::from(key))) {
            self.counts[usize::from(slot)] -= 1;
        }
    }

    pub fn clear(&mut self) {
        self.keys.clear();
        self.counts.iter_mut().for_each(|c| *c = 0);
    }

    /// How many keys of `slot` there are (expired ones not yet removed
    /// included, as in Redis).
    pub fn count(&self, slot: u16) -> usize {
        self.counts
            .get(usize::from(slot))
            .map_or(0, |&c| c as usize)
    }

    /// Up to `max` keys of `slot`, in key order.
    pub fn keys(&self, slot: u16) -> impl Iterator<Item = &[u8]> {
        let from: (u16, Box<[u8]>) = (slot, Box::default());
        self.keys
            .range(from..)
            .take_while(move |(s, _)| *s == slot)
            .map(|(_, k)| &k[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_counts_and_lists_a_slots_keys() {
        let mut ix = SlotIndex::default();
        for k in ["{a}1", "{a}2", "{a}3", "b"] {
            ix.add(k.as_bytes());
        }
        ix.add(b"{a}2");
        let s = key_slot(b"a");
        assert_eq!(ix.count(s), 3);
        ix.remove(b"{a}1");
        ix.remove(b"{a}1");
        assert_eq!(ix.count(s), 2);
        let keys: Vec<&[u8]> = ix.keys(s).collect();
        assert_eq!(keys, vec![&b"{a}2"[..], &b"{a}3"[..]]);
        ix.clear();
        assert_eq!(ix.count(key_slot(b"b")), 0);
    }

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
