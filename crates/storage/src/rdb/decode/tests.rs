use super::test_enc::{self as enc, E};
use super::*;
use crate::rdb::{restore, seal, unseal};

include!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/common/rdb_payloads.rs"
));

pub(in crate::rdb) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn text(s: StrRef<'_>) -> String {
    let b = s.to_vec();
    match b.first() {
        Some(&c) if b.len() > 20 && b.iter().all(|&x| x == c) => {
            format!("{}*{}", c as char, b.len())
        }
        _ => String::from_utf8_lossy(&b).into_owned(),
    }
}

/// A value as text, sets and hashes sorted, sorted sets in order.
pub(in crate::rdb) fn render(v: &Value) -> String {
    match v {
        Value::List(l) => {
            let items: Vec<String> = l.iter().map(text).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Set(s) => {
            let mut items: Vec<String> = s.iter().map(text).collect();
            items.sort();
            format!("{{{}}}", items.join(" "))
        }
        Value::Hash(h) => {
            let mut items: Vec<String> = h
                .iter()
                .map(|(f, v)| format!("{}={}", text(f), text(v)))
                .collect();
            items.sort();
            format!("{{{}}}", items.join(" "))
        }
        Value::ZSet(z) => {
            let items: Vec<String> = z.iter().map(|(m, s)| format!("{}:{s}", text(m))).collect();
            format!("<{}>", items.join(" "))
        }
        Value::Stream(st) => {
            use crate::stream::StreamId;
            let entries: Vec<String> = st
                .range(StreamId::MIN, StreamId::MAX, false)
                .map(|e| {
                    let f: Vec<String> = e
                        .fields
                        .iter()
                        .map(|(f, v)| format!("{}={}", text(*f), text(*v)))
                        .collect();
                    format!("{}{{{}}}", e.id, f.join(" "))
                })
                .collect();
            let groups: Vec<String> = st
                .groups()
                .map(|(name, g)| {
                    let pel: Vec<String> = g
                        .pending_range(StreamId::MIN, StreamId::MAX)
                        .map(|(id, p)| {
                            format!(
                                "{id}:{}:{}",
                                String::from_utf8_lossy(p.consumer()),
                                p.delivery_count
                            )
                        })
                        .collect();
                    let cs: Vec<String> = g
                        .consumers()
                        .map(|(c, x)| {
                            format!("{}:{}", String::from_utf8_lossy(c), x.pending_count())
                        })
                        .collect();
                    format!(
                        " {}(last={} read={} pel={} consumers={})",
                        String::from_utf8_lossy(name),
                        g.last_id,
                        g.entries_read,
                        pel.join(","),
                        cs.join(",")
                    )
                })
                .collect();
            format!(
                "len={} last={} first={} maxdel={} added={} [{}]{}",
                st.len(),
                st.last_id(),
                st.first_id(),
                st.max_deleted_id(),
                st.entries_added(),
                entries.join(" "),
                groups.concat()
            )
        }
        _ => text(v.as_str().expect("a string")),
    }
}

fn ok(body: &[u8]) -> Value {
    match value(body) {
        Ok(v) => v,
        Err(e) => panic!("refused {body:02x?}: {e:?}"),
    }
}

fn bad(body: &[u8]) {
    assert_eq!(
        value(body).map(|v| render(&v)),
        Err(BAD),
        "accepted {body:02x?}"
    );
}

/// Real Redis 7.0 payloads: what each holds and the encoding Tessera
/// picks for it under the default thresholds (Redis's own differs where
/// the payload was made under lowered thresholds).
const REDIS7_EXPECTED: &[(&str, &str, &str)] = &[
    ("str_int8", "int", "12"),
    ("str_int16", "int", "-1234"),
    ("str_int32", "int", "123456789"),
    ("str_int64", "int", "1234567890123"),
    ("str_raw", "embstr", "hello world"),
    ("str_lzf", "raw", ""),
    ("str_empty", "embstr", ""),
    (
        "list_qlv2_packed",
        "quicklist",
        "[a bb 12 -5 100000 1234567890123 x*70]",
    ),
    ("list_qlv2_multi", "quicklist", "[e0 e1 e2 e3 e4 e5 e6 e7]"),
    ("list_qlv2_plain", "quicklist", "[small y*150 tail z*120]"),
    ("set_intset16", "intset", "{-7 1 2 3}"),
    ("set_intset32", "intset", "{-100000 1 100000}"),
    ("set_intset64", "intset", "{-5 1 10000000000}"),
    ("set_hashtable", "hashtable", "{42 a b c}"),
    ("hash_listpack", "listpack", "{big=x*30 f1=v1 f2=12 n=-300}"),
    ("hash_hashtable", "listpack", "{f1=v1 f2=2 f3=v3}"),
    (
        "zset_listpack",
        "listpack",
        "<c:-3 a:1 b:2.5 e:100000 d:inf>",
    ),
    ("zset_skiplist", "listpack", "<c:-inf d:0.1 a:1 b:2.5>"),
    (
        "list_qlv2_ints",
        "quicklist",
        "[0 127 128 -1 4095 -4096 4096 32767 -32768 32768 8388607 -8388608 8388608 \
         2147483647 -2147483648 2147483648 9223372036854775807 -9223372036854775808 \
         q*63 r*64 s*4095 t*4096]",
    ),
    (
        "stream_groups",
        "stream",
        "len=5 last=6-0 first=1-1 maxdel=2-1 added=6 [1-1{f=1 g=x} 3-1{f=3 g=x} 4-1{f=4 g=x} 5-1{f=5 g=x} 6-0{other=123456789012}] g(last=3-1 read=-1 pel=1-1:alice:1,3-1:alice:1 consumers=alice:2,bob:0) g2(last=6-0 read=-1 pel= consumers=)",
    ),
    (
        "stream_empty",
        "stream",
        "len=0 last=0-0 first=0-0 maxdel=0-0 added=0 [] g(last=0-0 read=-1 pel= consumers=)",
    ),
];

fn redis7(name: &str) -> Vec<u8> {
    let (_, _, hex) = REDIS7.iter().find(|(n, _, _)| *n == name).expect("fixture");
    unhex(hex)
}

#[test]
fn redis7_payloads_restore() {
    assert_eq!(REDIS7.len(), REDIS7_EXPECTED.len());
    for (name, encoding, want) in REDIS7_EXPECTED {
        let v = restore(&redis7(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(v.encoding_name(), *encoding, "{name}");
        if *name == "str_lzf" {
            assert_eq!(v, Value::from_bytes("abcd".repeat(50).as_bytes()));
        } else {
            assert_eq!(render(&v), *want, "{name}");
        }
    }
}

#[test]
fn every_prefix_and_any_trailing_byte_is_refused() {
    for (name, _, hex) in REDIS7 {
        let p = unhex(hex);
        let body = unseal(&p).expect("footer");
        for cut in 0..body.len() {
            assert_eq!(value(&body[..cut]).err(), Some(BAD), "{name} cut at {cut}");
        }
        let mut longer = body.to_vec();
        longer.push(0);
        bad(&longer);
    }
}

// ---- strings ----

#[test]
fn string_encodings() {
    let v = ok(&enc::body(types::STRING, &[&enc::int_string(-128)]));
    assert_eq!(v, Value::from_int(-128));
    let v = ok(&enc::body(types::STRING, &[&enc::int_string(30000)]));
    assert_eq!(v, Value::from_int(30000));
    let v = ok(&enc::body(
        types::STRING,
        &[&enc::int_string(-2_000_000_000)],
    ));
    assert_eq!(v.encoding_name(), "int");
    assert_eq!(render(&v), "-2000000000");
    let big = "hello ".repeat(1000);
    let v = ok(&enc::body(
        types::STRING,
        &[&enc::lzf_string(big.as_bytes())],
    ));
    assert_eq!(v, Value::from_bytes(big.as_bytes()));
    // Non-canonical integer text stays a string.
    let v = ok(&enc::body(types::STRING, &[&enc::string(b"007")]));
    assert_eq!(v.encoding_name(), "embstr");
    assert_eq!(render(&v), "007");
}

#[test]
fn string_lies_are_refused() {
    // Length past the end; 64-bit length; unknown special encoding 0xC4.
    bad(&[0, 5, b'a', b'b']);
    bad(&[0, 0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0, b'a']);
    bad(&[0, 0xC4, 1]);
    bad(&[0, 0x82, 0, 0, 0, 1, b'a']);
    // LZF: output length beyond what the input can expand to.
    bad(&[0, 0xC3, 2, 0x80, 0x40, 0, 0, 0, 0, b'a']);
    // LZF: declared length 2^40 in a tiny payload.
    bad(&[0, 0xC3, 2, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, b'a']);
    // LZF: zero lengths; length that disagrees with the data.
    bad(&[0, 0xC3, 0, 0]);
    bad(&[0, 0xC3, 2, 0, 0, b'a']);
    bad(&[0, 0xC3, 2, 3, 0, b'a']);
    // LZF: a back reference before the start of the output.
    bad(&[0, 0xC3, 3, 4, 0x20, 0x05, 0x00]);
}

// ---- lists ----

#[test]
fn plain_list_and_ziplist_list() {
    let v = ok(&enc::plain_strings(types::LIST, &[b"a", b"12", b"", b"-0"]));
    assert_eq!(render(&v), "[a 12  -0]");
    let long = vec![b'L'; 300];
    let entries = [
        E::I(0),
        E::I(12),
        E::I(13),
        E::I(-100),
        E::I(1000),
        E::I(-5_000_000),
        E::I(2_000_000_000),
        E::I(i64::MIN),
        E::S(b"x"),
        E::S(&long),
    ];
    let want = "[0 12 13 -100 1000 -5000000 2000000000 -9223372036854775808 x L*300]";
    for big_prevlen in [false, true] {
        let zl = enc::ziplist_with(&entries, big_prevlen);
        let v = ok(&enc::body(types::LIST_ZIPLIST, &[&enc::string(&zl)]));
        assert_eq!(render(&v), want);
        // Quicklist v1: nodes are ziplists, possibly LZF-compressed.
        let node2 = enc::ziplist(&[E::S(b"tail")]);
        let body = enc::body(
            types::LIST_QUICKLIST,
            &[&enc::len(2), &enc::lzf_string(&zl), &enc::string(&node2)],
        );
        assert_eq!(render(&ok(&body)), want.replace(']', " tail]"));
    }
}

#[test]
fn redis_asset_list_quicklist() {
    // Redis's tests/assets/list-quicklist.rdb (written by Redis 4.0.9):
    // key "list", a quicklist of one ziplist holding the integer 7.
    let zl = unhex("0d0000000a000000010000f8ff");
    let body = enc::body(types::LIST_QUICKLIST, &[&[1], &enc::string(&zl)]);
    assert_eq!(render(&ok(&body)), "[7]");
}

#[test]
fn quicklists_skip_empty_nodes_but_not_empty_lists() {
    let empty_zl = enc::ziplist(&[]);
    let one = enc::ziplist(&[E::S(b"a")]);
    let body = enc::body(
        types::LIST_QUICKLIST,
        &[&enc::len(2), &enc::string(&empty_zl), &enc::string(&one)],
    );
    assert_eq!(render(&ok(&body)), "[a]");
    bad(&enc::body(
        types::LIST_QUICKLIST,
        &[&enc::len(1), &enc::string(&empty_zl)],
    ));
    let empty_lp = enc::listpack(&[]);
    bad(&enc::body(
        types::LIST_QUICKLIST_2,
        &[&[1, 2], &enc::string(&empty_lp)],
    ));
    // Plain nodes: one element each; Redis 7.0 refuses an empty one.
    let lp_one = enc::listpack(&[E::S(b"a")]);
    let v = ok(&enc::body(
        types::LIST_QUICKLIST_2,
        &[&[2, 1], &enc::string(b"p"), &[2], &enc::string(&lp_one)],
    ));
    assert_eq!(render(&v), "[p a]");
    bad(&enc::body(
        types::LIST_QUICKLIST_2,
        &[&[1, 1], &enc::string(b"")],
    ));
    // Container kinds other than 1 (plain) and 2 (packed).
    bad(&enc::body(
        types::LIST_QUICKLIST_2,
        &[&[1, 3], &enc::string(b"x")],
    ));
    bad(&enc::body(types::LIST_QUICKLIST, &[&[0]]));
    bad(&enc::plain_strings(types::LIST, &[]));
    bad(&enc::body(types::LIST_ZIPLIST, &[&enc::string(&empty_zl)]));
}

#[test]
fn big_lists_are_split_into_nodes() {
    let items: Vec<Vec<u8>> = (0..5000)
        .map(|i| format!("element-{i}").into_bytes())
        .collect();
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    let v = ok(&enc::plain_strings(types::LIST, &refs));
    let Value::List(l) = &v else {
        panic!("not a list")
    };
    assert_eq!(l.len(), 5000);
    assert!(l.node_count() > 1, "one node of {} bytes", 5000 * 12);
    assert_eq!(
        l.get(4999).map(|s| s.to_vec()),
        Some(b"element-4999".to_vec())
    );
}

// ---- sets ----

#[test]
fn sets_plain_and_intset() {
    let v = ok(&enc::plain_strings(types::SET, &[b"3", b"1", b"2"]));
    assert_eq!(
        (render(&v).as_str(), v.encoding_name()),
        ("{1 2 3}", "intset")
    );
    let v = ok(&enc::plain_strings(types::SET, &[b"a", b"1"]));
    assert_eq!(
        (render(&v).as_str(), v.encoding_name()),
        ("{1 a}", "hashtable")
    );
    let blob = enc::intset(2, &[-3, 0, 7]);
    let v = ok(&enc::body(types::SET_INTSET, &[&enc::string(&blob)]));
    assert_eq!(
        (render(&v).as_str(), v.encoding_name()),
        ("{-3 0 7}", "intset")
    );
    // Over set-max-intset-entries (512): a hash table, like a fresh set.
    let vals: Vec<i64> = (0..600).collect();
    let blob = enc::intset(2, &vals);
    let v = ok(&enc::body(types::SET_INTSET, &[&enc::string(&blob)]));
    assert_eq!((v.element_count(), v.encoding_name()), (600, "hashtable"));
}

#[test]
fn bad_sets_are_refused() {
    bad(&enc::plain_strings(types::SET, &[b"a", b"b", b"a"]));
    bad(&enc::plain_strings(types::SET, &[b"1", b"1"]));
    bad(&enc::plain_strings(types::SET, &[]));
    for blob in [
        enc::intset(2, &[]),
        enc::intset(2, &[1, 1]),
        enc::intset(4, &[5, 2]),
        enc::intset(3, &[1]),
        enc::intset(8, &[1, 2])[..20].to_vec(),
    ] {
        bad(&enc::body(types::SET_INTSET, &[&enc::string(&blob)]));
    }
    // An intset blob whose count claims 2^30 members.
    let mut blob = enc::intset(2, &[1]);
    blob[4..8].copy_from_slice(&(1u32 << 30).to_le_bytes());
    bad(&enc::body(types::SET_INTSET, &[&enc::string(&blob)]));
    // An integer-encoded string is no blob.
    bad(&enc::body(types::SET_INTSET, &[&enc::int_string(5)]));
}

// ---- hashes ----

#[test]
fn hashes_in_every_encoding() {
    let want = "{a=1 b=two c=}";
    let plain = enc::body(
        types::HASH,
        &[
            &enc::len(3),
            &enc::string(b"a"),
            &enc::int_string(1),
            &enc::string(b"b"),
            &enc::string(b"two"),
            &enc::string(b"c"),
            &enc::string(b""),
        ],
    );
    let pairs = [
        E::S(b"a"),
        E::I(1),
        E::S(b"b"),
        E::S(b"two"),
        E::S(b"c"),
        E::S(b""),
    ];
    let zm = enc::zipmap(&[(b"a", b"1"), (b"b", b"two"), (b"c", b"")], 2);
    for body in [
        plain,
        enc::body(types::HASH_ZIPLIST, &[&enc::string(&enc::ziplist(&pairs))]),
        enc::body(
            types::HASH_LISTPACK,
            &[&enc::string(&enc::listpack(&pairs))],
        ),
        enc::body(types::HASH_ZIPMAP, &[&enc::string(&zm)]),
    ] {
        let v = ok(&body);
        assert_eq!((render(&v).as_str(), v.encoding_name()), (want, "listpack"));
    }
}

#[test]
fn redis_asset_zipmap_and_ziplist_hashes() {
    // tests/assets/hash-zipmap.rdb (RDB 3) and hash-ziplist.rdb (RDB 9).
    let zm = unhex("020266310200763102663202007632ff");
    let v = ok(&enc::body(types::HASH_ZIPMAP, &[&enc::string(&zm)]));
    assert_eq!(render(&v), "{f1=v1 f2=v2}");
    let zl = unhex("1b00000016000000040000026631040276310402663204027632ff");
    let v = ok(&enc::body(types::HASH_ZIPLIST, &[&enc::string(&zl)]));
    assert_eq!(render(&v), "{f1=v1 f2=v2}");
}

#[test]
fn hashes_follow_the_thresholds() {
    // 200 fields packed by the payload: more than hash-max-listpack-entries.
    let items: Vec<Vec<u8>> = (0..400).map(|i| format!("k{i}").into_bytes()).collect();
    let entries: Vec<E<'_>> = items.iter().map(|b| E::S(b)).collect();
    let lp = enc::listpack(&entries);
    let v = ok(&enc::body(types::HASH_LISTPACK, &[&enc::string(&lp)]));
    assert_eq!((v.element_count(), v.encoding_name()), (200, "hashtable"));
    // A value longer than hash-max-listpack-value.
    let long = [b'v'; 100];
    let lp = enc::listpack(&[E::S(b"f"), E::S(&long)]);
    let v = ok(&enc::body(types::HASH_LISTPACK, &[&enc::string(&lp)]));
    assert_eq!(v.encoding_name(), "hashtable");
}

#[test]
fn bad_hashes_are_refused() {
    let dup = [E::S(b"f"), E::I(1), E::S(b"f"), E::I(2)];
    let odd = [E::S(b"f"), E::I(1), E::S(b"g")];
    for entries in [&dup[..], &odd[..], &[]] {
        bad(&enc::body(
            types::HASH_ZIPLIST,
            &[&enc::string(&enc::ziplist(entries))],
        ));
        bad(&enc::body(
            types::HASH_LISTPACK,
            &[&enc::string(&enc::listpack(entries))],
        ));
    }
    bad(&enc::body(
        types::HASH,
        &[
            &enc::len(2),
            &enc::string(b"f"),
            &enc::string(b"1"),
            &enc::string(b"f"),
            &enc::string(b"2"),
        ],
    ));
    bad(&enc::body(types::HASH, &[&enc::len(0)]));
    // Field as an integer then the same field as text: still a repeat.
    bad(&enc::body(
        types::HASH,
        &[
            &enc::len(2),
            &enc::int_string(7),
            &enc::string(b"a"),
            &enc::string(b"7"),
            &enc::string(b"b"),
        ],
    ));
    // Zipmaps: repeated field, wrong count, empty, data after the end,
    // free bytes past the end.
    let zm = enc::zipmap(&[(b"a", b"1"), (b"a", b"2")], 0);
    bad(&enc::body(types::HASH_ZIPMAP, &[&enc::string(&zm)]));
    let mut zm = enc::zipmap(&[(b"a", b"1")], 0);
    zm[0] = 2;
    bad(&enc::body(types::HASH_ZIPMAP, &[&enc::string(&zm)]));
    bad(&enc::body(types::HASH_ZIPMAP, &[&enc::string(&[0, 0xFF])]));
    let mut zm = enc::zipmap(&[(b"a", b"1")], 0);
    zm.push(0);
    bad(&enc::body(types::HASH_ZIPMAP, &[&enc::string(&zm)]));
    let zm = [1, 1, b'a', 1, 9, b'1', 0xFF];
    bad(&enc::body(types::HASH_ZIPMAP, &[&enc::string(&zm)]));
    // A zipmap whose count byte says "unknown" is walked.
    let mut zm = enc::zipmap(&[(b"a", b"1")], 0);
    zm[0] = 254;
    assert_eq!(
        render(&ok(&enc::body(types::HASH_ZIPMAP, &[&enc::string(&zm)]))),
        "{a=1}"
    );
}

// ---- sorted sets ----

#[test]
fn zsets_in_every_encoding() {
    let want = "<n:-inf a:-2.5 i:3 b:1000000 p:inf>";
    let ascii = enc::zset_ascii(&[
        (b"a", -2.5),
        (b"b", 1e6),
        (b"i", 3.0),
        (b"p", f64::INFINITY),
        (b"n", f64::NEG_INFINITY),
    ]);
    let mut binary = vec![types::ZSET_2];
    binary.extend(enc::len(5));
    for (m, s) in [
        ("a", -2.5),
        ("b", 1e6),
        ("i", 3.0),
        ("p", f64::INFINITY),
        ("n", f64::NEG_INFINITY),
    ] {
        binary.extend(enc::string(m.as_bytes()));
        binary.extend(f64::to_le_bytes(s));
    }
    let packed = [
        E::S(b"a"),
        E::S(b"-2.5"),
        E::S(b"b"),
        E::I(1_000_000),
        E::S(b"i"),
        E::I(3),
        E::S(b"p"),
        E::S(b"inf"),
        E::S(b"n"),
        E::S(b"-inf"),
    ];
    for body in [
        ascii,
        binary,
        enc::body(types::ZSET_ZIPLIST, &[&enc::string(&enc::ziplist(&packed))]),
        enc::body(
            types::ZSET_LISTPACK,
            &[&enc::string(&enc::listpack(&packed))],
        ),
    ] {
        let v = ok(&body);
        assert_eq!((render(&v).as_str(), v.encoding_name()), (want, "listpack"));
    }
}

#[test]
fn redis_asset_zset_ziplist() {
    // tests/assets/zset-ziplist.rdb: one -> 1, two -> 2.
    let zl = unhex("1900000016000000040000036f6e6505f2020374776f05f3ff");
    let v = ok(&enc::body(types::ZSET_ZIPLIST, &[&enc::string(&zl)]));
    assert_eq!(render(&v), "<one:1 two:2>");
}

#[test]
fn zsets_follow_the_thresholds() {
    let members: Vec<Vec<u8>> = (0..300).map(|i| format!("m{i}").into_bytes()).collect();
    let items: Vec<(&[u8], f64)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_slice(), i as f64 / 2.0))
        .collect();
    let v = ok(&enc::zset_ascii(&items));
    assert_eq!((v.element_count(), v.encoding_name()), (300, "skiplist"));
    let Value::ZSet(z) = &v else {
        panic!("not a zset")
    };
    assert_eq!(z.score(b"m299"), Some(149.5));
    let long = [b'm'; 100];
    let v = ok(&enc::zset_ascii(&[(&long, 1.0)]));
    assert_eq!(v.encoding_name(), "skiplist");
}

#[test]
fn bad_zsets_are_refused() {
    bad(&enc::zset_ascii(&[(b"a", f64::NAN)]));
    bad(&enc::zset_ascii(&[(b"a", 1.0), (b"a", 2.0)]));
    bad(&enc::zset_ascii(&[]));
    // Score text that is not a number.
    bad(&enc::body(
        types::ZSET,
        &[&[1], &enc::string(b"a"), &[3], b"1x2"],
    ));
    let mut nan = vec![types::ZSET_2, 1];
    nan.extend(enc::string(b"a"));
    nan.extend(f64::NAN.to_le_bytes());
    bad(&nan);
    for entries in [
        &[E::S(b"a"), E::S(b"nan")][..],
        &[E::S(b"a"), E::S(b"one")],
        &[E::S(b"a"), E::I(1), E::S(b"a"), E::I(2)],
        &[E::S(b"a"), E::I(1), E::S(b"b")],
        &[],
    ] {
        bad(&enc::body(
            types::ZSET_ZIPLIST,
            &[&enc::string(&enc::ziplist(entries))],
        ));
        bad(&enc::body(
            types::ZSET_LISTPACK,
            &[&enc::string(&enc::listpack(entries))],
        ));
    }
}

// ---- blobs that lie ----

#[test]
fn lying_ziplists_are_refused() {
    let good = enc::ziplist(&[E::S(b"ab"), E::I(300), E::S(b"c")]);
    let wrap = |zl: &[u8]| enc::body(types::LIST_ZIPLIST, &[&enc::string(zl)]);
    assert_eq!(render(&ok(&wrap(&good))), "[ab 300 c]");
    let mut cases: Vec<Vec<u8>> = vec![];
    // zlbytes off by one either way.
    for d in [1u32, u32::MAX] {
        let mut z = good.clone();
        let n = u32::from_le_bytes([z[0], z[1], z[2], z[3]]).wrapping_add(d);
        z[0..4].copy_from_slice(&n.to_le_bytes());
        cases.push(z);
    }
    // zltail not at the last entry.
    let mut z = good.clone();
    z[4] += 1;
    cases.push(z);
    // zllen wrong.
    let mut z = good.clone();
    z[8] = 2;
    cases.push(z);
    // Terminator missing or not 0xFF.
    let mut z = good.clone();
    let last = z.len() - 1;
    z[last] = 0xFE;
    cases.push(z);
    // Second entry's prevlen lies.
    let mut z = good.clone();
    z[14] = 3;
    cases.push(z);
    // First entry's prevlen must be 0.
    let mut z = good.clone();
    z[10] = 1;
    cases.push(z);
    // Invalid integer encoding 0xC1 in place of the string header.
    let mut z = good.clone();
    z[11] = 0xC1;
    cases.push(z);
    // A string length running over the terminator.
    let mut z = good.clone();
    z[11] = 0x3F;
    cases.push(z);
    // A 32-bit string length of 4 GB.
    let mut z = enc::ziplist(&[E::S(&[b'x'; 70])]);
    z[11..16].copy_from_slice(&[0x80, 0xFF, 0xFF, 0xFF, 0xFF]);
    cases.push(z);
    // Too short for a header.
    cases.push(vec![11, 0, 0, 0, 10, 0, 0, 0, 0, 0]);
    for z in cases {
        bad(&wrap(&z));
    }
}

#[test]
fn lying_listpacks_are_refused() {
    let good = enc::listpack(&[E::S(b"f"), E::I(-2000), E::S(b"g"), E::I(100)]);
    let wrap = |lp: &[u8]| enc::body(types::HASH_LISTPACK, &[&enc::string(lp)]);
    assert_eq!(render(&ok(&wrap(&good))), "{f=-2000 g=100}");
    let mut cases: Vec<Vec<u8>> = vec![];
    let mut l = good.clone();
    l[0] += 1;
    cases.push(l);
    let mut l = good.clone();
    l[4] = 3;
    cases.push(l);
    // Back-length of the first entry ("f": 2 bytes) says 3.
    let mut l = good.clone();
    l[8] = 3;
    cases.push(l);
    // Reserved encodings 0xF5..=0xFE.
    let mut l = good.clone();
    l[6] = 0xF5;
    cases.push(l);
    // Terminator replaced.
    let mut l = good.clone();
    let last = l.len() - 1;
    l[last] = 0;
    cases.push(l);
    // A 32-bit string length past the end.
    let mut l = good.clone();
    l[6..11].copy_from_slice(&[0xF0, 0xFF, 0xFF, 0xFF, 0x7F]);
    cases.push(l);
    cases.push(vec![7, 0, 0, 0, 0, 0]);
    for l in cases {
        bad(&wrap(&l));
    }
    // A count of 65535 means "not counted" (Redis may leave it after
    // deletions): the entries are walked and accepted.
    let mut l = good.clone();
    l[4..6].copy_from_slice(&[0xFF, 0xFF]);
    assert_eq!(render(&ok(&wrap(&l))), "{f=-2000 g=100}");
    let mut z = enc::ziplist(&[E::S(b"a")]);
    z[8..10].copy_from_slice(&[0xFF, 0xFF]);
    let v = ok(&enc::body(types::LIST_ZIPLIST, &[&enc::string(&z)]));
    assert_eq!(render(&v), "[a]");
}

#[test]
fn huge_counts_are_refused_without_allocating() {
    let huge = [0x81, 0x10, 0, 0, 0, 0, 0, 0, 0];
    for ty in [
        types::LIST,
        types::SET,
        types::ZSET,
        types::ZSET_2,
        types::HASH,
        types::LIST_QUICKLIST,
        types::LIST_QUICKLIST_2,
    ] {
        let mut b = vec![ty];
        b.extend_from_slice(&huge);
        b.extend_from_slice(&[1, b'a', 1, b'b']);
        bad(&b);
        // Special (encoded-string) markers where a count belongs.
        bad(&[ty, 0xC0, 1, 1, b'a']);
    }
}

#[test]
fn modules_streams_and_unknown_types_are_refused() {
    for ty in [6, 7, 8, 15, 19, 20, 21, 0xFF] {
        bad(&[ty, 1, 1, b'a']);
    }
    bad(&[]);
}

// ---- whole RDB files from old Redis versions ----

/// Splits an RDB file into (key, body) pairs, skipping the auxiliary
/// fields, database selectors, resize hints and expiry times.
fn rdb_file_bodies(file: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert_eq!(&file[..5], b"REDIS");
    let mut r = Reader::new(&file[9..]);
    let mut out = vec![];
    loop {
        let op = r.u8().expect("opcode");
        match op {
            0xFF => break,
            0xFA => {
                r.string().expect("aux key");
                r.string().expect("aux value");
            }
            0xFE => {
                r.len().expect("db");
            }
            0xFB => {
                r.len().expect("size");
                r.len().expect("expires");
            }
            0xFC => {
                r.take(8).expect("ms");
            }
            0xFD => {
                r.take(4).expect("s");
            }
            ty => {
                let key = text(r.string().expect("key").as_ref());
                let start = r.pos();
                typed(ty, &mut r).unwrap_or_else(|e| panic!("{key}: {e:?}"));
                let mut body = vec![ty];
                body.extend_from_slice(&file[9 + start..9 + r.pos()]);
                out.push((key, body));
            }
        }
    }
    out
}

/// Redis's tests/assets/encodings.rdb (RDB 4, Redis 2.4): zipmap,
/// ziplist, intset of every width, linked list, LZF, ASCII scores.
pub(in crate::rdb) const ENCODINGS_RDB: &str = concat!(
        "524544495330303034fe0003047a7365740c026262023230026363023330036262620332303004626262620a35303030",
        "303030303030036363630333303004636363630931323334353637383901610131026161023130016201320361616103",
        "31303001630133046161616104313030300b0c7365745f7a69707065645f311002000000040000000100020003000400",
        "0a0b6c6973745f7a6970706564303000000025000000080000c0010004c0020004c0030004016103016203016303d0a0",
        "86010006e000bca06501000000ff0006737472696e670b48656c6c6f20576f726c64000c636f6d707265737369626c65",
        "c3094089016161e07c000161610b0c7365745f7a69707065645f32180400000004000000a0860100400d0300e0930400",
        "801a060000066e756d626572c00a0b0c7365745f7a69707065645f3338080000000600000000ca9a3b00000000009435",
        "7700000000005ed0b20000000000286bee0000000000f2052a0100000000bca065010000000203736574080a36303030",
        "303030303030c2a08601000161c0010162c0020163c00301046c69737418c001c002c003016101620163c2a08601000a",
        "36303030303030303030c001c002c003016101620163c2a08601000a36303030303030303030c001c002c00301610162",
        "0163c2a08601000a363030303030303030300d0b686173685f7a697070656420200000001b000000060000016103c001",
        "0004016203c0020004016303c00300ff0c0b7a7365745f7a697070656420200000001b000000060000016103c0010004",
        "016203c0020004016303c00300ff0404686173680b0162c002026161c00a0163c00303616161c064026262c014026363",
        "c01e03626262c1c80003636363c12c0103646464c19001036565650a353030303030303030300161c001ff",
    );

/// Its contents, as [`render`] writes them, key first, sorted.
pub(in crate::rdb) fn encodings_rdb_expected() -> Vec<String> {
    let list3 = "1 2 3 a b c 100000 6000000000 ".repeat(3);
    vec![
        "compressible a*137".to_string(),
        "hash {a=1 aa=10 aaa=100 b=2 bb=20 bbb=200 c=3 cc=30 ccc=300 ddd=400 eee=5000000000}".into(),
        "hash_zipped {a=1 b=2 c=3}".into(),
        format!("list [{}]", list3.trim_end()),
        "list_zipped [1 2 3 a b c 100000 6000000000]".into(),
        "number 10".into(),
        "set {1 100000 2 3 6000000000 a b c}".into(),
        "set_zipped_1 {1 2 3 4}".into(),
        "set_zipped_2 {100000 200000 300000 400000}".into(),
        "set_zipped_3 {1000000000 2000000000 3000000000 4000000000 5000000000 6000000000}".into(),
        "string Hello World".into(),
        "zset <a:1 b:2 c:3 aa:10 bb:20 cc:30 aaa:100 bbb:200 ccc:300 aaaa:1000 cccc:123456789 bbbb:5000000000>".into(),
        "zset_zipped <a:1 b:2 c:3>".into(),
    ]
}

#[test]
fn redis_asset_encodings_rdb() {
    // tests/assets/encodings.rdb (RDB 4, Redis 2.4): zipmap, ziplist,
    // intset of every width, linked list, LZF, ASCII scores. Expected
    // contents as Redis's own rdb.tcl test lists them.
    let file = unhex(ENCODINGS_RDB);
    let mut got: Vec<String> = rdb_file_bodies(&file)
        .into_iter()
        .map(|(k, body)| format!("{k} {}", render(&ok(&body))))
        .collect();
    got.sort();
    let want = encodings_rdb_expected();
    assert_eq!(got, want);
}

#[test]
fn sealed_payloads_round_trip_the_footer() {
    let body = enc::plain_strings(types::LIST, &[b"x", b"y"]);
    let v = restore(&seal(body)).expect("restore");
    assert_eq!(render(&v), "[x y]");
}

#[test]
fn legacy_bodies_decode() {
    let want = [
        ("list_plain", "[a 12  hello]"),
        ("list_ziplist", "[a 7 -300 100000 5000000000 L*300]"),
        ("list_ziplist_bigprev", "[a 7 b]"),
        (
            "list_quicklist_v1",
            "[a 7 -300 100000 5000000000 L*300 a 7 b]",
        ),
        ("set_plain", "{ 12 a hello}"),
        ("zset_ascii", "<c:-inf d:-3 a:1.5 b:inf>"),
        ("hash_zipmap", "{f1=v1 f2=12 long=z*260}"),
        ("hash_ziplist", "{f1=v1 n=-70000}"),
        ("zset_ziplist", "<b:-2 a:1.5 9:inf>"),
        ("str_lzf_long", ""),
    ];
    assert_eq!(LEGACY.len(), want.len());
    for ((name, hex), (wname, w)) in LEGACY.iter().zip(want) {
        assert_eq!(*name, wname);
        let v = ok(&unhex(hex));
        if *name == "str_lzf_long" {
            assert_eq!(v, Value::from_bytes("hello ".repeat(100).as_bytes()));
        } else {
            assert_eq!(render(&v), w, "{name}");
        }
    }
}
