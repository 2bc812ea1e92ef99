use std::io::Read;

use super::*;
use crate::rdb::crc64;
use crate::rdb::decode::test_enc::{self as enc, E};
use crate::rdb::decode::tests::{encodings_rdb_expected, render, unhex, ENCODINGS_RDB};
use crate::rdb::types;
use crate::{Hash, List, Set, ZSet};

const AUX: Aux = Aux {
    ctime: 1_700_000_000,
    used_mem: 123_456,
    aof_base: false,
    no_checksum: false,
};

/// Every item of a file, or the error that stopped it.
fn read_all(src: impl Read) -> Result<Vec<Item>, LoadError> {
    let mut r = Reader::new(src)?;
    let mut items = vec![];
    loop {
        match r.next_item()? {
            Item::End => return Ok(items),
            item => items.push(item),
        }
    }
}

/// An entry as (db, key, rendered value, deadline).
type Row = (u64, Vec<u8>, String, Option<u64>);

fn entries(items: &[Item]) -> Vec<Row> {
    items
        .iter()
        .filter_map(|i| match i {
            Item::Entry {
                db,
                key,
                value,
                expire_ms,
            } => Some((*db, key.clone(), render(value), *expire_ms)),
            _ => None,
        })
        .collect()
}

/// A source that hands out one byte per read, so every boundary of the
/// reader's buffer is crossed everywhere.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match (self.0.split_first(), buf.first_mut()) {
            (Some((&b, rest)), Some(slot)) => {
                *slot = b;
                self.0 = rest;
                Ok(1)
            }
            _ => Ok(0),
        }
    }
}

/// Values of every type, small and large (past the packed thresholds and
/// past the reader's 64 KiB buffer).
fn sample_values() -> Vec<(Vec<u8>, Value)> {
    let mut rng = fastrand::Rng::with_seed(9);
    let mut word = |n: usize| -> Vec<u8> { (0..n).map(|_| b"abc"[rng.usize(..3)]).collect() };
    let mut out: Vec<(Vec<u8>, Value)> = vec![
        (b"empty".to_vec(), Value::from_bytes(b"")),
        (b"int8".to_vec(), Value::from_bytes(b"-7")),
        (b"int32".to_vec(), Value::from_bytes(b"-2147483648")),
        (b"int64".to_vec(), Value::from_int(i64::MAX)),
        (b"text".to_vec(), Value::from_bytes(b"hello world")),
        (b"long".to_vec(), Value::from_bytes(&word(200_000))),
        (b"12345".to_vec(), Value::from_bytes(b"integer key")),
        (b"\x00\xffbin".to_vec(), Value::from_bytes(&[0, 1, 2, 255])),
    ];
    for n in [1usize, 5, 200, 20_000] {
        let mut l = List::new();
        let mut ints = Set::new();
        let mut strs = Set::new();
        let mut z = ZSet::new();
        let mut h = Hash::new();
        for i in 0..n {
            let m = format!("m{i}");
            l.push_back(m.as_bytes());
            l.push_back(i.to_string().as_bytes());
            ints.insert((i as i64 * 7_000_001 - 9).to_string().as_bytes());
            strs.insert(m.as_bytes());
            z.insert(m.as_bytes(), i as f64 * 0.25 - 3.0);
            h.insert(m.as_bytes(), &word(i % 50));
        }
        if n == 5 {
            z.insert(b"inf", f64::INFINITY);
            z.insert(b"-inf", f64::NEG_INFINITY);
        }
        out.push((format!("list{n}").into_bytes(), Value::List(Box::new(l))));
        out.push((format!("intset{n}").into_bytes(), Value::Set(ints)));
        out.push((format!("set{n}").into_bytes(), Value::Set(strs)));
        out.push((format!("zset{n}").into_bytes(), Value::ZSet(z)));
        out.push((format!("hash{n}").into_bytes(), Value::Hash(h)));
    }
    out
}

/// A file of `values` spread over databases 0, 3 and 15, every third key
/// with a deadline.
fn sample_file() -> (Vec<u8>, Vec<Row>) {
    let values = sample_values();
    let mut w = Writer::new(Vec::new(), &AUX).expect("header");
    let mut want = vec![];
    for (d, db) in [0u64, 3, 15].into_iter().enumerate() {
        let mine: Vec<_> = values.iter().skip(d).step_by(3).collect();
        w.select_db(db, mine.len() as u64, 0).expect("select");
        for (i, (k, v)) in mine.into_iter().enumerate() {
            let exp = (i % 3 == 0).then_some(1_900_000_000_000 + i as u64);
            w.key(k, v, exp).expect("key");
            want.push((db, k.clone(), render(v), exp));
        }
    }
    (w.finish().expect("finish"), want)
}

#[test]
fn every_type_round_trips() {
    let (file, want) = sample_file();
    let items = read_all(&file[..]).expect("load");
    assert_eq!(entries(&items), want);
    // Through a one-byte-at-a-time source too.
    let items = read_all(Trickle(&file)).expect("load trickled");
    assert_eq!(entries(&items), want);
}

#[test]
fn header_items_come_back_in_order() {
    let mut w = Writer::new(Vec::new(), &AUX).expect("header");
    w.aux(b"repl-id", b"0123456789abcdef").expect("aux");
    w.function(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)")
        .expect("function");
    w.select_db(2, 1, 1).expect("select");
    w.key(b"k", &Value::from_bytes(b"v"), Some(5)).expect("key");
    let file = w.finish().expect("finish");
    assert_eq!(&file[..9], b"REDIS0010");
    let aux = |k: &str, v: &str| Item::Aux {
        key: k.as_bytes().to_vec(),
        value: v.as_bytes().to_vec(),
    };
    let mut r = Reader::new(&file[..]).expect("header");
    assert_eq!(r.version(), 10);
    let mut items = vec![];
    loop {
        match r.next_item().expect("item") {
            Item::End => break,
            i => items.push(i),
        }
    }
    assert_eq!(
        items,
        vec![
            aux("redis-ver", REDIS_VER),
            aux("redis-bits", "64"),
            aux("ctime", "1700000000"),
            aux("used-mem", "123456"),
            aux("aof-base", "0"),
            aux("repl-id", "0123456789abcdef"),
            Item::FunctionLib(
                b"#!lua name=lib\nredis.register_function('f', function() return 1 end)".to_vec()
            ),
            Item::SelectDb(2),
            Item::ResizeDb {
                size: 1,
                expires: 1
            },
            Item::Entry {
                db: 2,
                key: b"k".to_vec(),
                value: Value::from_bytes(b"v"),
                expire_ms: Some(5)
            },
        ]
    );
    assert_eq!(r.offset(), file.len() as u64);
    assert_eq!(r.next_item().expect("again"), Item::End);
}

#[test]
fn shards_chunks_make_the_same_file() {
    let values = sample_values();
    let mut w = Writer::new(Vec::new(), &AUX).expect("header");
    w.select_db(0, values.len() as u64, 0).expect("select");
    for (k, v) in &values {
        w.key(k, v, Some(42)).expect("key");
    }
    let whole = w.finish().expect("finish");

    // Two "shards" encode halves into their own buffers.
    let (a, b) = values.split_at(values.len() / 2);
    let chunk = |part: &[(Vec<u8>, Value)]| {
        let mut out = vec![];
        for (k, v) in part {
            encode_entry(&mut out, k, v, Some(42));
        }
        out
    };
    let mut w = Writer::new(Vec::new(), &AUX).expect("header");
    w.select_db(0, values.len() as u64, 0).expect("select");
    w.raw(&chunk(a)).expect("raw");
    w.raw(&chunk(b)).expect("raw");
    let w_len = w.bytes_written();
    let joined = w.finish().expect("finish");
    assert!(w_len > 0 && w_len < joined.len() as u64);
    assert_eq!(joined, whole);
}

#[test]
fn checksum_covers_everything_before_it() {
    let (file, _) = sample_file();
    let n = file.len();
    let stored = u64::from_le_bytes(file[n - 8..].try_into().expect("8 bytes"));
    assert_eq!(stored, crc64(&file[..n - 8]));
    assert_eq!(file[n - 9], opcode::EOF);

    // A flipped bit in a string's bytes parses but fails the checksum.
    let at = file
        .windows(11)
        .position(|w| w == b"hello world")
        .expect("text value");
    let mut bad = file.clone();
    bad[at] = b'j';
    let e = read_all(&bad[..]).expect_err("checksum");
    assert!(matches!(e.kind, LoadErrorKind::Checksum { .. }), "{e}");
    assert_eq!(e.offset, (n - 8) as u64);
    assert!(e.to_string().contains("RDB CRC error"), "{e}");

    // A zero checksum means "not computed" (rdbchecksum no).
    let mut zero = bad.clone();
    zero[n - 8..].fill(0);
    assert!(read_all(&zero[..]).is_ok());

    // A reader told not to check (rdbchecksum no) takes the bad one too.
    let mut r = Reader::new(&bad[..]).expect("header");
    r.verify_checksum(false);
    while !matches!(r.next_item().expect("item"), Item::End) {}
}

#[test]
fn a_writer_without_checksum_ends_with_zero() {
    let aux = Aux {
        no_checksum: true,
        ..AUX
    };
    let mut w = Writer::new(Vec::new(), &aux).expect("header");
    w.select_db(0, 1, 0).expect("select");
    w.key(b"k", &Value::from_bytes(b"v"), None).expect("key");
    let file = w.finish().expect("finish");
    assert_eq!(file[file.len() - 8..], [0; 8]);
    assert_eq!(entries(&read_all(&file[..]).expect("load")).len(), 1);
}

#[test]
fn old_versions_have_no_checksum() {
    // Redis 2.4's encodings.rdb: version 4, ends right after 0xFF.
    let file = unhex(ENCODINGS_RDB);
    let items = read_all(&file[..]).expect("load");
    let mut got: Vec<String> = entries(&items)
        .into_iter()
        .map(|(db, k, v, exp)| {
            assert_eq!((db, exp), (0, None));
            format!("{} {v}", String::from_utf8_lossy(&k))
        })
        .collect();
    got.sort();
    assert_eq!(got, encodings_rdb_expected());
}

/// A file of version `ver` holding `body` (items), with its checksum.
fn hand_file(ver: u16, body: &[u8]) -> Vec<u8> {
    let mut f = format!("REDIS{ver:04}").into_bytes();
    f.extend_from_slice(body);
    f.push(opcode::EOF);
    if ver >= 5 {
        let crc = crc64(&f);
        f.extend_from_slice(&crc.to_le_bytes());
    }
    f
}

#[test]
fn every_opcode_is_read() {
    let mut body = vec![opcode::AUX];
    body.extend(enc::string(b"lua"));
    body.extend(enc::string(b"return 1"));
    body.push(opcode::SLOT_INFO);
    body.extend([enc::len(5), enc::len(100_000), enc::len(7)].concat());
    body.push(opcode::SELECTDB);
    body.extend(enc::len(300));
    body.push(opcode::RESIZEDB);
    body.extend([enc::len(3), enc::len(1)].concat());
    // Seconds deadline, LRU idle, then a 7.2 listpack set.
    body.push(opcode::EXPIRETIME);
    body.extend_from_slice(&1_800_000_000i32.to_le_bytes());
    body.push(opcode::IDLE);
    body.extend(enc::len(70_000));
    body.push(types::SET_LISTPACK);
    body.extend(enc::string(b"s"));
    body.extend(enc::string(&enc::listpack(&[
        E::S(b"x"),
        E::I(-5),
        E::S(b"y"),
    ])));
    // LFU counter, then a 7.0 listpack hash with an integer key.
    body.push(opcode::FREQ);
    body.push(200);
    body.push(types::HASH_LISTPACK);
    body.extend(enc::int_string(-300));
    body.extend(enc::string(&enc::listpack(&[E::S(b"f"), E::I(1)])));
    // A negative millisecond deadline reads as 0.
    body.push(opcode::EXPIRETIME_MS);
    body.extend_from_slice(&(-5i64).to_le_bytes());
    body.push(types::ZSET);
    body.extend(enc::lzf_string(&[b'k'; 64]));
    // (zset_ascii writes a whole body: skip its type byte.)
    body.extend(&enc::zset_ascii(&[(b"a", 1.5), (b"b", f64::INFINITY)])[1..]);
    let file = hand_file(12, &body);
    let items = read_all(&file[..]).expect("load");
    let k64 = String::from_utf8(vec![b'k'; 64]).expect("ascii");
    assert_eq!(
        items[..3],
        [
            Item::Aux {
                key: b"lua".to_vec(),
                value: b"return 1".to_vec()
            },
            Item::SelectDb(300),
            Item::ResizeDb {
                size: 3,
                expires: 1
            },
        ]
    );
    assert_eq!(
        entries(&items),
        vec![
            (
                300,
                b"s".to_vec(),
                "{-5 x y}".to_string(),
                Some(1_800_000_000_000)
            ),
            (300, b"-300".to_vec(), "{f=1}".to_string(), None),
            (300, k64.into_bytes(), "<a:1.5 b:inf>".to_string(), Some(0)),
        ]
    );
}

#[test]
fn versions_and_magic() {
    for ver in [1, 6, 9, 11, 12] {
        assert!(read_all(&hand_file(ver, &[])[..]).is_ok(), "{ver}");
    }
    for ver in [0, 13, 9999] {
        let e = read_all(&hand_file(ver, &[])[..]).expect_err("version");
        assert!(
            matches!(e.kind, LoadErrorKind::Version(v) if v == ver),
            "{e}"
        );
        assert_eq!(e.offset, 5);
    }
    for bad in [&b"REDIX0010\xff"[..], b"redis0010", b"REDIS00a0", b"\x00"] {
        let e = read_all(bad).expect_err("magic");
        assert!(matches!(e.kind, LoadErrorKind::NotRdb), "{e}");
        assert_eq!(
            e.to_string(),
            format!("Bad RDB at offset 0: {}", e.kind_text())
        );
    }
}

impl LoadError {
    /// The message after the offset.
    fn kind_text(&self) -> String {
        let s = self.to_string();
        s.split_once(": ").map(|(_, t)| t.to_string()).unwrap_or(s)
    }
}

#[test]
fn unloadable_types_name_key_type_and_offset() {
    let mut body = vec![types::STRING];
    body.extend(enc::string(b"ok"));
    body.extend(enc::string(b"v"));
    let at = 9 + body.len() as u64;
    body.push(types::MODULE_2);
    body.extend(enc::string(b"foo"));
    body.extend(enc::string(b"whatever"));
    let file = hand_file(10, &body);
    let e = read_all(&file[..]).expect_err("module");
    assert_eq!(
        e.to_string(),
        format!(
            "Bad RDB at offset {at}: key \"foo\" has type 7 (module), which Tessera cannot load"
        )
    );
    assert_eq!(e.key.as_deref(), Some(&b"foo"[..]));

    for (ty, label) in [
        (6, "module"),
        (7, "module"),
        (22, "hash with field expiry"),
        (25, "hash with field expiry"),
    ] {
        let mut body = vec![ty];
        body.extend(enc::string(b"k\n\""));
        let e = read_all(&hand_file(12, &body)[..]).expect_err("refused");
        assert_eq!(
            e.to_string(),
            format!(
                "Bad RDB at offset 9: key \"k\\x0a\\\"\" has type {ty} ({label}), \
                 which Tessera cannot load"
            )
        );
    }

    let mut body = vec![30];
    body.extend(enc::string(b"odd"));
    let e = read_all(&hand_file(10, &body)[..]).expect_err("unknown");
    assert!(matches!(e.kind, LoadErrorKind::UnknownType(30)));
    assert_eq!(
        e.to_string(),
        "Bad RDB at offset 9: key \"odd\" has type 30, which is no RDB type Tessera knows"
    );

    for (op, kind) in [
        (opcode::MODULE_AUX, "module"),
        (opcode::FUNCTION_PRE_GA, "function"),
    ] {
        let e = read_all(&hand_file(10, &[op, 0, 0])[..]).expect_err("refused op");
        assert_eq!(e.offset, 9);
        assert!(e.to_string().contains(kind), "{e}");
    }
}

#[test]
fn bad_values_name_their_key() {
    // A set repeating a member: framed fine, refused by the decoder.
    let mut body = vec![types::SET];
    body.extend(enc::string(b"dup"));
    body.extend(enc::len(2));
    body.extend([enc::string(b"a"), enc::string(b"a")].concat());
    let e = read_all(&hand_file(10, &body)[..]).expect_err("dup");
    assert!(matches!(e.kind, LoadErrorKind::BadValue(2)));
    assert_eq!(
        e.to_string(),
        "Bad RDB at offset 9: key \"dup\": value of type 2 does not parse"
    );
    // A length marker that is no length.
    let e = read_all(&hand_file(10, &[opcode::SELECTDB, 0x85])[..]).expect_err("len");
    assert_eq!((e.offset, e.to_string().contains("bad length")), (10, true));
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let mut w = Writer::new(Vec::new(), &AUX).expect("header");
    w.select_db(1, 4, 1).expect("select");
    for (k, v) in sample_values()
        .iter()
        .filter(|(_, v)| v.element_count() <= 5)
    {
        w.key(k, v, Some(77)).expect("key");
    }
    let file = w.finish().expect("finish");
    assert!(read_all(&file[..]).is_ok());
    for cut in 0..file.len() {
        let e = read_all(&file[..cut]).expect_err("truncated");
        assert!(e.is_eof(), "cut at {cut}: {e}");
        assert_eq!(e.offset, cut as u64, "cut at {cut}");
        assert!(
            e.to_string()
                .starts_with(&format!("Bad RDB: unexpected end of file at offset {cut}")),
            "{e}"
        );
    }
}

#[test]
fn corrupted_files_never_panic() {
    let mut w = Writer::new(Vec::new(), &AUX).expect("header");
    w.select_db(0, 4, 1).expect("select");
    for (k, v) in sample_values()
        .iter()
        .filter(|(_, v)| v.element_count() <= 200)
    {
        w.key(k, v, None).expect("key");
    }
    let file = w.finish().expect("finish");
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..3000 {
        let mut f = file.clone();
        for _ in 0..rng.usize(1..4) {
            let i = rng.usize(9..f.len());
            f[i] = rng.u8(..);
        }
        // Zero checksum, so damage must be found by parsing alone.
        let n = f.len();
        f[n - 8..].fill(0);
        let _ = read_all(&f[..]);
    }
}

#[test]
fn the_rest_of_the_stream_is_handed_back() {
    let mut w = Writer::new(Vec::new(), &AUX).expect("header");
    w.select_db(0, 1, 0).expect("select");
    w.key(b"a", &Value::from_bytes(b"1"), None).expect("key");
    let mut stream = w.finish().expect("finish");
    stream.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    let mut r = Reader::new(&stream[..]).expect("header");
    while r.next_item().expect("item") != Item::End {}
    let (_, rest) = r.into_parts();
    assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n");
}
