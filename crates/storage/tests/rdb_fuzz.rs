//! Bounded fuzzing of RESTORE's decoder.
//!
//! Valid bodies of every encoding (real Redis 7.0 payloads and legacy ones)
//! are mutated at random — bit flips, byte sets, truncation, insertion,
//! deletion, bumped length fields, copied chunks — with a fixed seed, so a
//! failure reproduces. The decoder must never panic, and whatever it
//! accepts must be a consistent value: iteration agrees with the element
//! count, lookups find what iteration yields, sorted sets are in order
//! with no NaN. The unbounded version is the cargo-fuzz target in `fuzz/`.

use storage::rdb::{self, decode};
use storage::{StrRef, Value};

#[path = "common/rdb_payloads.rs"]
mod payloads;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn seeds() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = payloads::REDIS7
        .iter()
        .map(|(_, _, hex)| {
            let p = unhex(hex);
            rdb::unseal(&p).expect("fixture footer").to_vec()
        })
        .collect();
    out.extend(payloads::LEGACY.iter().map(|(_, hex)| unhex(hex)));
    out
}

/// Bytes that sit on format boundaries: length markers, encodings,
/// terminators.
const INTERESTING: [u8; 14] = [
    0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0xC0, 0xC3, 0xE0, 0xF0, 0xFD, 0xFE, 0xFF,
];

fn mutate(rng: &mut fastrand::Rng, b: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..rng.usize(1..=4) {
        let len = b.len();
        if len == 0 {
            b.push(rng.u8(..));
            continue;
        }
        let at = rng.usize(..len);
        match rng.u8(..9) {
            0 => b[at] ^= 1 << rng.u8(..8),
            1 => b[at] = rng.u8(..),
            2 => b[at] = INTERESTING[rng.usize(..INTERESTING.len())],
            3 => b.truncate(at),
            4 => {
                for _ in 0..rng.usize(1..=8) {
                    b.insert(at, rng.u8(..));
                }
            }
            5 => {
                let end = (at + rng.usize(1..=8)).min(len);
                b.drain(at..end);
            }
            // A length or count field nudged by a little.
            6 => b[at] = b[at].wrapping_add([1u8, 2, 0xFF, 0xFE][rng.usize(..4)]),
            // A 32-bit header field (ziplist/listpack sizes, intset counts).
            7 => {
                let v: u32 = match rng.u8(..4) {
                    0 => rng.u32(..),
                    1 => u32::MAX,
                    2 => 1 << rng.u32(..32),
                    _ => u32::from_le_bytes([b[at], 0, 0, 0]).wrapping_add(1),
                };
                for (i, x) in v.to_le_bytes().iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + i) {
                        *slot = *x;
                    }
                }
            }
            // A chunk of another seed spliced in (cross-over).
            _ => {
                let other = &pool[rng.usize(..pool.len())];
                let from = rng.usize(..other.len());
                let n = rng.usize(1..=16).min(other.len() - from);
                let chunk = other[from..from + n].to_vec();
                b.splice(at..at, chunk);
            }
        }
    }
}

fn bytes(s: StrRef<'_>) -> Vec<u8> {
    s.to_vec()
}

/// Checks that an accepted value holds together.
fn check(v: &Value) {
    match v {
        Value::List(l) => {
            assert!(!l.is_empty());
            assert_eq!(l.iter().count(), l.len());
            assert_eq!(l.iter().rev().count(), l.len());
        }
        Value::Set(s) => {
            assert!(!s.is_empty());
            let members: Vec<Vec<u8>> = s.iter().map(bytes).collect();
            assert_eq!(members.len(), s.len());
            for m in &members {
                assert!(s.contains(m));
            }
        }
        Value::Hash(h) => {
            assert!(!h.is_empty());
            let pairs: Vec<(Vec<u8>, Vec<u8>)> =
                h.iter().map(|(f, v)| (bytes(f), bytes(v))).collect();
            assert_eq!(pairs.len(), h.len());
            for (f, val) in &pairs {
                assert_eq!(h.get(f).map(bytes).as_ref(), Some(val));
            }
        }
        Value::ZSet(z) => {
            assert!(!z.is_empty());
            let items: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (bytes(m), s)).collect();
            assert_eq!(items.len(), z.len());
            for w in items.windows(2) {
                assert!((w[0].1, &w[0].0) < (w[1].1, &w[1].0), "out of order");
            }
            for (m, s) in &items {
                assert!(!s.is_nan());
                assert_eq!(z.score(m), Some(*s));
            }
        }
        Value::Stream(st) => {
            use storage::stream::StreamId;
            let ids: Vec<StreamId> = st
                .range(StreamId::MIN, StreamId::MAX, false)
                .map(|e| {
                    assert!(!e.fields.is_empty());
                    e.id
                })
                .collect();
            assert_eq!(ids.len() as u64, st.len());
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of order");
            let mut rev: Vec<StreamId> = st
                .range(StreamId::MIN, StreamId::MAX, true)
                .map(|e| e.id)
                .collect();
            rev.reverse();
            assert_eq!(rev, ids);
            for id in &ids {
                assert!(st.get(*id).is_some());
                assert!(*id <= st.last_id());
            }
            for (_, g) in st.groups() {
                for (id, p) in g.pending_range(StreamId::MIN, StreamId::MAX) {
                    let c = g.consumer(p.consumer()).expect("pending entry's consumer");
                    assert!(c.pending().any(|x| x == id));
                }
                let held: usize = g.consumers().map(|(_, c)| c.pending_count()).sum();
                assert_eq!(held, g.pending_count());
            }
            // A stream is a valid value even when empty.
            return;
        }
        _ => assert!(v.as_str().is_some()),
    }
    assert!(v.element_count() >= 1);
}

/// Iterations per run: 500k take well under a second at the workspace's
/// test opt-level; `RDB_FUZZ_ITERATIONS=50000000` for a long local run.
fn iterations() -> usize {
    std::env::var("RDB_FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500_000)
}

#[test]
fn mutated_bodies_never_panic() {
    let pool = seeds();
    for s in &pool {
        check(&decode::value(s).expect("every seed is valid"));
    }
    let seed = std::env::var("RDB_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x7e55_e7a0);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut accepted = 0usize;
    let iterations = iterations();
    for i in 0..iterations {
        let mut b = pool[i % pool.len()].clone();
        mutate(&mut rng, &mut b, &pool);
        let got = if i % 16 == 0 {
            // Through the footer too, sealed so the checksum passes.
            rdb::restore(&rdb::seal(b.clone()))
        } else {
            decode::value(&b)
        };
        if let Ok(v) = got {
            accepted += 1;
            check(&v);
        }
    }
    eprintln!("accepted {accepted} of {iterations}");
    // Many mutations land in string bytes and stay valid; most do not.
    assert!(accepted > iterations / 100, "accepted {accepted}");
    assert!(accepted < iterations, "accepted {accepted}");
}

#[test]
fn random_bytes_after_each_type_never_panic() {
    let mut rng = fastrand::Rng::with_seed(42);
    for i in 0..50_000 {
        let mut b = vec![(i % 22) as u8];
        for _ in 0..rng.usize(0..64) {
            b.push(rng.u8(..));
        }
        if let Ok(v) = decode::value(&b) {
            check(&v);
        }
    }
}
