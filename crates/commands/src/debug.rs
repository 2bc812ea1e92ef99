//! The shard-local halves of the DEBUG subcommands that look inside
//! values: DIGEST / DIGEST-VALUE (a fingerprint of contents, equal for
//! equal data whatever the encoding) and RELOAD (rebuild every aggregate
//! as loading a snapshot would, so encodings come back in their most
//! compact form).

use storage::{Db, Hash, List, Millis, Set, StrRef, Value, ZSet};

/// Fixed seeds: a digest must not change between calls of one process.
fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x7465_7373_6572_6131,
        0x6469_6765_7374_3232,
        0x0bad_cafe_f00d_d00d,
        0x1234_5678_9abc_def0,
    )
}

/// A 160-bit fingerprint, shown as 40 hex digits like Redis's SHA-1 digests.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Digest(pub [u64; 3]);

impl Digest {
    fn of(parts: &[&[u8]]) -> Digest {
        let s = hasher();
        let mut d = [0u64; 3];
        for (i, lane) in d.iter_mut().enumerate() {
            *lane = s.hash_one((i as u64, parts));
        }
        Digest(d)
    }

    /// Order-independent combination (sets, hashes, keys of a database).
    pub fn xor(&mut self, o: Digest) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a ^= b;
        }
    }

    /// Order-dependent combination (lists, sorted sets).
    fn chain(&mut self, o: Digest) {
        let s = hasher();
        for (i, (a, b)) in self.0.iter_mut().zip(o.0).enumerate() {
            *a = s.hash_one((i as u64, *a, b));
        }
    }

    /// 40 lowercase hex digits; all zeros for "nothing".
    pub fn hex(&self) -> String {
        let full: String = self.0.iter().map(|x| format!("{x:016x}")).collect();
        full[..40].to_string()
    }
}

fn bytes(s: StrRef<'_>) -> Vec<u8> {
    s.to_vec()
}

/// The digest of one value's contents (not its key or TTL).
pub fn digest_value(v: &Value) -> Digest {
    let mut d = Digest::default();
    match v {
        Value::Hash(h) => {
            for (f, x) in h.iter() {
                d.xor(Digest::of(&[b"h", &bytes(f), &bytes(x)]));
            }
        }
        Value::Set(s) => {
            for m in s.iter() {
                d.xor(Digest::of(&[b"s", &bytes(m)]));
            }
        }
        Value::List(l) => {
            for e in l.iter() {
                d.chain(Digest::of(&[b"l", &bytes(e)]));
            }
        }
        Value::ZSet(z) => {
            for (m, score) in z.iter() {
                d.chain(Digest::of(&[
                    b"z",
                    &bytes(m),
                    &score.to_bits().to_le_bytes(),
                ]));
            }
        }
        other => {
            let s = other.as_str().map(bytes).unwrap_or_default();
            d = Digest::of(&[b"str", &s]);
        }
    }
    d
}

/// The digest of a database: every key with its value and TTL, in any order.
pub fn digest_db(db: &Db, now: Millis) -> Digest {
    let mut d = Digest::default();
    db.for_each(|k, v, exp| {
        if exp.is_some_and(|at| now > at) {
            return;
        }
        let mut kd = digest_value(v);
        kd.chain(Digest::of(&[k, &exp.unwrap_or(0).to_le_bytes()]));
        d.xor(kd);
    });
    d
}

/// The value rebuilt element by element, as a snapshot load builds it
/// (so a set that fits an intset becomes one again); None for strings,
/// which loading would not change.
pub fn reencoded(v: &Value) -> Option<Value> {
    Some(match v {
        Value::Hash(h) => {
            let mut n = Hash::default();
            for (f, x) in h.iter() {
                n.insert(&bytes(f), &bytes(x));
            }
            Value::Hash(n)
        }
        Value::Set(s) => {
            let mut n = Set::default();
            for m in s.iter() {
                n.insert(&bytes(m));
            }
            Value::Set(n)
        }
        Value::List(l) => {
            let mut n = List::default();
            for e in l.iter() {
                n.push_back(&bytes(e));
            }
            Value::List(Box::new(n))
        }
        Value::ZSet(z) => {
            let mut n = ZSet::default();
            for (m, score) in z.iter() {
                n.insert(&bytes(m), score);
            }
            Value::ZSet(n)
        }
        _ => return None,
    })
}

/// DEBUG RELOAD on one database: every aggregate rebuilt in place, TTLs kept.
pub fn reload_db(db: &mut Db, now: Millis) {
    let mut keys = Vec::new();
    db.for_each(|k, v, _| {
        if !v.is_string() {
            keys.push(k.to_vec());
        }
    });
    for k in keys {
        if let Some(v) = db.get_mut(&k, now) {
            if let Some(n) = reencoded(v) {
                *v = n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_ignore_encoding_and_see_content() {
        let a = digest_value(&Value::from_int(12));
        let mut raw = Value::from_bytes(b"1");
        raw.append(b"2");
        assert_eq!(a, digest_value(&raw));
        assert_ne!(a, digest_value(&Value::from_bytes(b"13")));
        assert_eq!(Digest::default().hex(), "0".repeat(40));
        assert_eq!(a.hex().len(), 40);
    }
}
