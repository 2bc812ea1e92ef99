//! The shard-local halves of the DEBUG subcommands that look inside
//! values: DIGEST / DIGEST-VALUE (a fingerprint of contents, equal for
//! equal data whatever the encoding, and equal to Redis's for the same
//! data) and RELOAD (rebuild every aggregate as loading a snapshot would,
//! so encodings come back in their most compact form).
//!
//! # The digest
//!
//! Redis's replication tests compare `DEBUG DIGEST` between servers, so
//! ours follows the same rules, worked out by observing Redis 7.0 (the
//! tests in `crates/server/tests/digest.rs` compare the two on random data).
//! A digest is 20 bytes, all zeros to start with, changed by two steps:
//!
//! - *add* (order-free): XOR in the SHA-1 of some bytes. Adding the same
//!   things in any order gives the same result.
//! - *chain* (ordered): add, then replace the 20 bytes by their own SHA-1.
//!   What comes before changes what comes after.
//!
//! One value: chain its type's number (string 0, list 1, set 2, zset 3,
//! hash 4, stream 6, as a 4-byte big-endian integer), then its contents: a string's
//! bytes (an integer as its decimal text) chained; each list element
//! chained, head to tail; each set member added; for each hash field or
//! sorted-set member, a fresh digest with the field (member) chained and
//! then the value (the score as `%.17g` text, `inf`/`-inf`) chained, and
//! that digest's 20 bytes added (hashed and XORed, like any added bytes);
//! for each stream entry in order, its ID as `ms.seq` chained, then each
//! field and value chained (consumer groups do not count). A key with a TTL then adds the fixed
//! marker `!!expire!!` (whatever the expiry time). DIGEST-VALUE answers
//! this per key ([`digest_key_value`]); a missing key is all zeros.
//!
//! The whole dataset: for each database that holds keys, in number order,
//! chain the database's number (4 bytes, big-endian), then, for each of its
//! keys, build a digest that chains the key's name and continues as the
//! value's digest above, and add its 20 bytes. Keys are stored wherever
//! the keyspace put them, so the server computes each shard's XOR of key
//! digests per database ([`digest_db`]), XORs the shards' shares
//! ([`merge_db`]) and only then chains the databases in order
//! ([`digest_dataset`]): the answer does not depend on the shard count.
//! Like Redis, the dataset digest sees every stored key, including one
//! whose TTL has passed but that expiry has not removed yet.

use resp::encode;
use sha1_smol::Sha1;
use storage::stream::StreamId;
use storage::{Db, Hash, List, Millis, Set, StrRef, Value, ZSet};

/// Redis's type numbers, chained first into a value's digest.
const TYPE_STRING: u32 = 0;
const TYPE_LIST: u32 = 1;
const TYPE_SET: u32 = 2;
const TYPE_ZSET: u32 = 3;
const TYPE_HASH: u32 = 4;
const TYPE_STREAM: u32 = 6;

/// Added to a key's digest when the key has a TTL.
const EXPIRE_MARK: &[u8] = b"!!expire!!";

/// A 160-bit digest, shown as 40 hex digits.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Digest(pub [u8; 20]);

impl Digest {
    /// Order-free step: XOR in the SHA-1 of `data`.
    pub fn add(&mut self, data: &[u8]) {
        self.xor(Digest(Sha1::from(data).digest().bytes()));
    }

    /// Ordered step: add `data`, then hash the result onto itself.
    pub fn chain(&mut self, data: &[u8]) {
        self.add(data);
        self.0 = Sha1::from(self.0).digest().bytes();
    }

    /// Plain XOR of two digests' bytes (combining shards' shares).
    pub fn xor(&mut self, o: Digest) {
        for (a, b) in self.0.iter_mut().zip(o.0) {
            *a ^= b;
        }
    }

    /// 40 lowercase hex digits; all zeros for "nothing".
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Calls `f` with the string's bytes (an integer's decimal text).
fn with_bytes<R>(s: StrRef<'_>, f: impl FnOnce(&[u8]) -> R) -> R {
    match s {
        StrRef::Int(n) => f(itoa::Buffer::new().format(n).as_bytes()),
        StrRef::Bytes(b) => f(b),
    }
}

/// The per-pair digest of a hash field or a sorted-set member; its bytes
/// are added to the value's digest so that pairs count in any order.
fn pair(first: StrRef<'_>, second: &[u8]) -> Digest {
    let mut d = Digest::default();
    with_bytes(first, |b| d.chain(b));
    d.chain(second);
    d
}

/// Continues `d` with `v`'s type and contents, and the TTL marker.
fn fold_value(d: &mut Digest, v: &Value, has_ttl: bool) {
    match v {
        Value::List(l) => {
            d.chain(&TYPE_LIST.to_be_bytes());
            for e in l.iter() {
                with_bytes(e, |b| d.chain(b));
            }
        }
        Value::Set(s) => {
            d.chain(&TYPE_SET.to_be_bytes());
            for m in s.iter() {
                with_bytes(m, |b| d.add(b));
            }
        }
        Value::ZSet(z) => {
            d.chain(&TYPE_ZSET.to_be_bytes());
            for (m, score) in z.iter() {
                d.add(&pair(m, resp::encode::fmt_double(score).as_bytes()).0);
            }
        }
        Value::Hash(h) => {
            d.chain(&TYPE_HASH.to_be_bytes());
            for (f, x) in h.iter() {
                d.add(&with_bytes(x, |b| pair(f, b)).0);
            }
        }
        Value::Stream(st) => {
            d.chain(&TYPE_STREAM.to_be_bytes());
            let mut id = Vec::with_capacity(42);
            for e in st.range(StreamId::MIN, StreamId::MAX, false) {
                id.clear();
                id.extend_from_slice(itoa::Buffer::new().format(e.id.ms).as_bytes());
                id.push(b'.');
                id.extend_from_slice(itoa::Buffer::new().format(e.id.seq).as_bytes());
                d.chain(&id);
                for (f, v) in e.fields {
                    with_bytes(f, |b| d.chain(b));
                    with_bytes(v, |b| d.chain(b));
                }
            }
        }
        Value::Int(_) | Value::Inline(_) | Value::Boxed(_) | Value::Raw(_) => {
            d.chain(&TYPE_STRING.to_be_bytes());
            if let Some(s) = v.as_str() {
                with_bytes(s, |b| d.chain(b));
            }
        }
    }
    if has_ttl {
        d.add(EXPIRE_MARK);
    }
}

/// The digest of one value's type and contents, as DEBUG DIGEST-VALUE
/// answers for a key without a TTL. Equal values give equal digests
/// whatever their encodings, so it also serves as an equality check.
pub fn digest_value(v: &Value) -> Digest {
    digest_stored(v, None)
}

/// DEBUG DIGEST-VALUE for a stored key: [`digest_value`] with the TTL
/// marker when the key has an expiry.
pub fn digest_stored(v: &Value, expire: Option<Millis>) -> Digest {
    let mut d = Digest::default();
    fold_value(&mut d, v, expire.is_some());
    d
}

/// DEBUG DIGEST-VALUE for `key` in `db`, all zeros when there is no such
/// key. The key is read as stored: like Redis 7.0, this neither hides nor
/// removes a key whose TTL has passed but that expiry has not removed yet.
pub fn digest_key_value(db: &Db, key: &[u8]) -> Digest {
    let dict = db.dict();
    dict.find(dict.hash(key), key)
        .map(|e| digest_stored(e.value(), e.expire_at()))
        .unwrap_or_default()
}

/// One key's share of the dataset digest: its name, then its value.
fn digest_key(key: &[u8], v: &Value, expire: Option<Millis>) -> Digest {
    let mut d = Digest::default();
    d.chain(key);
    fold_value(&mut d, v, expire.is_some());
    d
}

/// This shard's share of one database's digest: the XOR of the SHA-1 of
/// every key digest. `None` when the shard holds no key in this database
/// (a database no shard has keys in is left out of the dataset digest).
pub fn digest_db(db: &Db) -> Option<Digest> {
    if db.is_empty() {
        return None;
    }
    let mut d = Digest::default();
    db.for_each(|k, v, exp| d.add(&digest_key(k, v, exp).0));
    Some(d)
}

/// Combines two shards' shares of the same database.
pub fn merge_db(into: &mut Option<Digest>, other: Option<Digest>) {
    match (into.as_mut(), other) {
        (Some(a), Some(b)) => a.xor(b),
        (None, b) => *into = b,
        (Some(_), None) => {}
    }
}

/// DEBUG DIGEST from every database's combined share, in database order
/// (the first item is database 0).
pub fn digest_dataset(dbs: impl IntoIterator<Item = Option<Digest>>) -> Digest {
    let mut d = Digest::default();
    for (i, share) in dbs.into_iter().enumerate() {
        if let Some(share) = share {
            d.chain(&(i as u32).to_be_bytes());
            d.xor(share);
        }
    }
    d
}

fn bytes(s: StrRef<'_>) -> Vec<u8> {
    s.to_vec()
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

/// DEBUG PROTOCOL type: one reply of each RESP3 type, and what it becomes
/// in RESP2, so clients can test their parsers.
pub fn protocol(resp3: bool, kind: &[u8], out: &mut Vec<u8>) -> Result<(), crate::Error> {
    let raw = |out: &mut Vec<u8>, r3: &[u8], r2: &[u8]| {
        out.extend_from_slice(if resp3 { r3 } else { r2 })
    };
    match kind.to_ascii_lowercase().as_slice() {
        b"string" => encode::bulk(out, b"Hello World"),
        b"integer" => encode::integer(out, 12345),
        b"double" => raw(out, b",3.141\r\n", b"$5\r\n3.141\r\n"),
        b"bignum" => raw(
            out,
            b"(1234567999999999999999999999999999999\r\n",
            b"$37\r\n1234567999999999999999999999999999999\r\n",
        ),
        b"null" => encode::null(out, resp3),
        b"array" => {
            encode::array_len(out, 3);
            (0..3).for_each(|i| encode::integer(out, i));
        }
        b"set" => {
            raw(out, b"~3\r\n", b"*3\r\n");
            (0..3).for_each(|i| encode::integer(out, i));
        }
        b"map" => {
            encode::map_len(out, 3, resp3);
            for i in 0..3 {
                encode::integer(out, i);
                raw(out, if i == 1 { b"#t\r\n" } else { b"#f\r\n" }, if i == 1 { b":1\r\n" } else { b":0\r\n" });
            }
        }
        b"attrib" => {
            if resp3 {
                out.extend_from_slice(b"|1\r\n");
                encode::bulk(out, b"key-popularity");
                encode::array_len(out, 2);
                encode::bulk(out, b"key:123");
                encode::integer(out, 90);
            }
            encode::bulk(out, b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return Err(crate::Error::Static("ERR RESP2 is not supported by this command"));
            }
            out.extend_from_slice(b">2\r\n");
            encode::bulk(out, b"server-cpu-usage");
            encode::integer(out, 42);
            encode::bulk(out, b"Some real reply following the push reply");
        }
        b"true" => raw(out, b"#t\r\n", b":1\r\n"),
        b"false" => raw(out, b"#f\r\n", b":0\r\n"),
        b"verbatim" => raw(
            out,
            b"=29\r\ntxt:This is a verbatim\nstring\r\n",
            b"$25\r\nThis is a verbatim\nstring\r\n",
        ),
        _ => {
            return Err(crate::Error::Static(
                "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected digests below were read from a real redis-server 7.0.15
    // holding the same data.

    fn list(items: &[&[u8]]) -> Value {
        let mut l = List::default();
        items.iter().for_each(|e| l.push_back(e));
        Value::List(Box::new(l))
    }

    fn zset(items: &[(&[u8], f64)]) -> Value {
        let mut z = ZSet::default();
        items.iter().for_each(|(m, s)| {
            z.insert(m, *s);
        });
        Value::ZSet(z)
    }

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

    #[test]
    fn values_digest_as_redis_does() {
        let hex = |v: &Value| digest_value(v).hex();
        assert_eq!(
            hex(&Value::from_bytes(b"hello")),
            "36b23a1456b2dce2c3ed252c456761301dba8060"
        );
        assert_eq!(
            hex(&Value::from_int(12345)),
            "e1cf90774e995ae03de66e8109dc5cb9d9c2dc83"
        );
        assert_eq!(
            hex(&Value::from_bytes(b"")),
            "8b3447c33a834b810e3e181b6fd6a2ee1020921c"
        );
        assert_eq!(
            hex(&list(&[b"x", b"y", b"12"])),
            "5f37bb5e9025dbc0c07131f268dcae0b2edb4d84"
        );
        let mut s = Set::default();
        for m in [b"3", b"1", b"2"] {
            s.insert(m);
        }
        assert_eq!(
            hex(&Value::Set(s)),
            "2a462a3f51a1db89738ebbeef0c47ce1bbc85246"
        );
        assert_eq!(
            hex(&zset(&[
                (b"a", 1.0),
                (b"b", 2.5),
                (b"c", -3.0),
                (b"d", 0.1)
            ])),
            "3dc7f8b21da75976eeba6d13045a9515124b6c33"
        );
        assert_eq!(
            hex(&zset(&[
                (b"a", f64::INFINITY),
                (b"b", f64::NEG_INFINITY),
                (b"c", 1e300),
                (b"d", -2.5e-7),
                (b"e", 0.5)
            ])),
            "93f551c82e1e1672f25ba044191b28a527e8ce99"
        );
        let mut h = Hash::default();
        h.insert(b"g", b"1");
        h.insert(b"f", b"v");
        assert_eq!(
            hex(&Value::Hash(h)),
            "6679ee22f89ed8001eeb5309d0900265ea56c03a"
        );
        let mut st = storage::Stream::new();
        let lim = storage::stream::NodeLimits::default();
        st.add(StreamId::new(1, 1), &[(b"a", b"1")], lim);
        st.add(StreamId::new(2, 5), &[(b"b", b"hello"), (b"c", b"22")], lim);
        assert_eq!(
            hex(&Value::Stream(Box::new(st))),
            "66b3f72bf25cff363db5ccd34d122fe2387f596f"
        );
        assert_eq!(
            digest_stored(&Value::from_bytes(b"v"), Some(12345)).hex(),
            "311b17018163335616e089f6b951c82c477335ac"
        );
    }

    #[test]
    fn dataset_digest_as_redis_does_across_shards() {
        // db 0: a = "1", b = [x]; db 3: c = "v" with a TTL.
        let mut db0 = Db::new();
        db0.insert(b"a", Value::from_int(1), None);
        db0.insert(b"b", list(&[b"x"]), None);
        let mut db3 = Db::new();
        db3.insert(b"c", Value::from_bytes(b"v"), Some(u64::MAX / 2));
        let empty = Db::new();
        let one = digest_dataset([digest_db(&db0), digest_db(&empty), None, digest_db(&db3)]);
        assert_eq!(one.hex(), "0d9d8d36d35d4af502a9fec74e79a8f54a5f06e2");

        // The same keys spread over two shards combine to the same digest.
        let (mut s0, mut s1) = (Db::new(), Db::new());
        s0.insert(b"a", Value::from_int(1), None);
        s1.insert(b"b", list(&[b"x"]), None);
        let mut share0 = digest_db(&s0);
        merge_db(&mut share0, digest_db(&s1));
        let mut share3 = None;
        merge_db(&mut share3, digest_db(&empty));
        merge_db(&mut share3, digest_db(&db3));
        let two = digest_dataset([share0, None, None, share3]);
        assert_eq!(one, two);

        assert_eq!(digest_dataset([None, None]).hex(), "0".repeat(40));
    }
}
