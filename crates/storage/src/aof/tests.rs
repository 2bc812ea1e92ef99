use super::*;
use crate::rdb::file::{Aux, Item, Reader, Writer};

fn file(name: &str, seq: u64, kind: FileKind) -> AofFile {
    AofFile {
        name: name.to_string(),
        seq,
        kind,
    }
}

// ---- manifest ----

#[test]
fn manifest_round_trips_redis_text() {
    let texts = [
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
        "file appendonly.aof.2.base.rdb seq 2 type b\n\
         file appendonly.aof.1.incr.aof seq 1 type h\n\
         file appendonly.aof.1.base.rdb seq 1 type h\n\
         file appendonly.aof.2.incr.aof seq 2 type i\n\
         file appendonly.aof.3.incr.aof seq 3 type i\n",
        // An upgraded pre-7.0 file, and no base at all.
        "file appendonly.aof seq 1 type b\n",
        "file appendonly.aof.5.incr.aof seq 5 type i\n",
    ];
    for text in texts {
        let m = Manifest::parse(text).expect(text);
        assert_eq!(m.to_text(), text);
    }
    let m = Manifest::parse(texts[0]).expect("valid");
    assert_eq!(
        m,
        Manifest {
            base: Some(file("appendonly.aof.1.base.rdb", 1, FileKind::Base)),
            incrs: vec![file("appendonly.aof.1.incr.aof", 1, FileKind::Incr)],
            history: vec![],
        }
    );
}

#[test]
fn manifest_parse_is_lenient_where_redis_is() {
    let text = "# written by hand\r\n\
                type b seq 1 file appendonly.aof.1.base.rdb\r\n\
                SEQ 1 Type i  FILE \"appendonly.aof.1.incr.aof\" startoffset 0\n\
                seq 2 type incr file 'appendonly.aof.2.incr.aof'";
    let m = Manifest::parse(text).expect("valid");
    assert_eq!(
        m.to_text(),
        "file appendonly.aof.1.base.rdb seq 1 type b\n\
         file appendonly.aof.1.incr.aof seq 1 type i\n\
         file appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    // Only comments: not empty to Redis, just no files.
    assert_eq!(Manifest::parse("# nothing\n"), Ok(Manifest::default()));
}

#[test]
fn manifest_quotes_names_as_redis_does() {
    let odd = "my aof\t\"x\"\u{e9}'.1.incr.aof";
    let m = Manifest {
        base: None,
        incrs: vec![file(odd, 1, FileKind::Incr)],
        history: vec![],
    };
    let text = m.to_text();
    assert_eq!(
        text,
        "file \"my aof\\t\\\"x\\\"\\xc3\\xa9'.1.incr.aof\" seq 1 type i\n"
    );
    assert_eq!(Manifest::parse(&text), Ok(m));
    // Escapes Redis reads in double quotes.
    let m = Manifest::parse("file \"a\\x41\\q\\n\" seq 1 type b\n").expect("valid");
    assert_eq!(m.base.map(|f| f.name), Some("aAq\n".to_string()));
}

#[test]
fn manifest_rejects_what_redis_rejects() {
    let long = format!("file {} seq 1 type b\n", "a".repeat(1100));
    let cases: &[(&str, &str)] = &[
        ("", "Found an empty AOF manifest"),
        ("\n", "Invalid AOF manifest file format"),
        ("garbage\n", "Invalid AOF manifest file format"),
        ("file a seq 1 type\n", "Invalid AOF manifest file format"),
        ("file a seq 1\n", "Invalid AOF manifest file format"),
        ("file a seq 0 type b\n", "Invalid AOF manifest file format"),
        ("file a seq x type b\n", "Invalid AOF manifest file format"),
        ("file a seq -1 type b\n", "Invalid AOF manifest file format"),
        ("name a seq 1 type b\n", "Invalid AOF manifest file format"),
        (
            "file \"\" seq 1 type b\n",
            "Invalid AOF manifest file format",
        ),
        (
            "file \"a seq 1 type b\n",
            "Invalid AOF manifest file format",
        ),
        (
            "file \"a\"b seq 1 type b\n",
            "Invalid AOF manifest file format",
        ),
        ("file 'a seq 1 type b\n", "Invalid AOF manifest file format"),
        (
            "file a seq 1 type \"\"\n",
            "Invalid AOF manifest file format",
        ),
        ("file a seq 1 type x\n", "Unknown AOF file type"),
        (
            "file ../a seq 1 type b\n",
            "File can't be a path, just a filename",
        ),
        (
            "file a\\\\b seq 1 type b\n",
            "File can't be a path, just a filename",
        ),
        (
            "file a seq 1 type b\nfile b seq 2 type b\n",
            "Found duplicate base file information",
        ),
        (
            "file a seq 2 type i\nfile b seq 2 type i\n",
            "Found a non-monotonic sequence number",
        ),
        (&long, "The AOF manifest file contains too long line"),
    ];
    for (text, want) in cases {
        match Manifest::parse(text) {
            Err(e) => assert!(e.starts_with(want), "{text:?}: {e}"),
            Ok(m) => panic!("{text:?} parsed as {m:?}"),
        }
    }
    assert_eq!(
        Manifest::parse("file a seq 1 type b\nfile b seq 1 type i\ngarbage here\n"),
        Err("Invalid AOF manifest file format, at line 3: 'garbage here'".to_string())
    );
}

#[test]
fn manifest_names_next_files() {
    let empty = Manifest::default();
    assert_eq!(
        empty.next_incr_name("appendonly.aof"),
        file("appendonly.aof.1.incr.aof", 1, FileKind::Incr)
    );
    assert_eq!(
        empty.next_base_name("appendonly.aof", true),
        file("appendonly.aof.1.base.rdb", 1, FileKind::Base)
    );
    let m = Manifest::parse(
        "file x.aof.3.base.aof seq 3 type b\nfile x.aof.7.incr.aof seq 7 type i\nfile x.aof.9.incr.aof seq 9 type i\n",
    )
    .expect("valid");
    assert_eq!(m.next_incr_name("x.aof").name, "x.aof.10.incr.aof");
    assert_eq!(m.next_base_name("x.aof", false).name, "x.aof.4.base.aof");
    assert_eq!(manifest_name("appendonly.aof"), "appendonly.aof.manifest");
}

#[test]
fn rewrite_done_moves_files_to_history_in_redis_order() {
    let mut m = Manifest::parse(
        "file a.1.base.rdb seq 1 type b\nfile old seq 9 type h\n\
         file a.1.incr.aof seq 1 type i\nfile a.2.incr.aof seq 2 type i\nfile a.3.incr.aof seq 3 type i\n",
    )
    .expect("valid");
    let base = m.next_base_name("a", true);
    m.rewrite_done(base, true);
    assert_eq!(
        m.to_text(),
        "file a.2.base.rdb seq 2 type b\n\
         file a.1.incr.aof seq 1 type h\nfile a.2.incr.aof seq 2 type h\n\
         file a.1.base.rdb seq 1 type h\nfile old seq 9 type h\n\
         file a.3.incr.aof seq 3 type i\n"
    );
    assert!(m.history.iter().all(|f| f.kind == FileKind::History));
    let base = m.next_base_name("a", true);
    m.rewrite_done(base, false);
    assert!(m.incrs.is_empty());
    assert_eq!(m.base.as_ref().map(|f| f.seq), Some(3));
    assert_eq!(m.history.len(), 6);
}

// ---- command stream ----

fn cmds(list: &[&[&[u8]]]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    let mut ends = Vec::new();
    for argv in list {
        encode_command(&mut out, argv);
        ends.push(out.len());
    }
    (out, ends)
}

fn read_all(bytes: &[u8]) -> Result<Vec<Vec<&[u8]>>, ReadError> {
    let mut r = Commands::new(bytes);
    let mut all = Vec::new();
    loop {
        match r.next()? {
            Next::Command(argv) => all.push(argv),
            Next::End => return Ok(all),
        }
    }
}

#[test]
fn encodes_as_redis_writes() {
    let mut out = Vec::new();
    encode_select(&mut out, 0);
    assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n");
    out.clear();
    encode_select(&mut out, 15);
    encode_command(&mut out, &[b"SET", b"k", b""]);
    encode_timestamp(&mut out, 1_650_000_000);
    assert_eq!(
        out,
        b"*2\r\n$6\r\nSELECT\r\n$2\r\n15\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n#TS:1650000000\r\n"
    );
}

#[test]
fn reads_good_input() {
    let mut bytes = Vec::new();
    encode_timestamp(&mut bytes, 1);
    encode_select(&mut bytes, 3);
    encode_command(&mut bytes, &[b"SET", b"key", b"a\r\nb\0"]);
    encode_timestamp(&mut bytes, 2);
    encode_command(&mut bytes, &[b"DEL", b"key"]);
    let mut r = Commands::new(&bytes);
    let want: [&[&[u8]]; 3] = [
        &[b"SELECT", b"3"],
        &[b"SET", b"key", b"a\r\nb\0"],
        &[b"DEL", b"key"],
    ];
    for w in want {
        assert_eq!(r.next(), Ok(Next::Command(w.to_vec())));
    }
    assert_eq!(r.offset(), bytes.len());
    assert_eq!(r.next(), Ok(Next::End));
    assert_eq!(r.next(), Ok(Next::End));
    assert_eq!(read_all(b""), Ok(vec![]));
    // Redis reads lengths the same with or without leading zeros.
    assert_eq!(
        read_all(b"*01\r\n$04\r\nPING\r\n"),
        Ok(vec![vec![&b"PING"[..]]])
    );
}

#[test]
fn every_cut_is_truncated_at_the_last_whole_command() {
    let (bytes, ends) = cmds(&[
        &[b"SELECT", b"0"],
        &[b"SET", b"k", b"0123456789"],
        &[b"RPUSH", b"list", b"", b"x"],
    ]);
    for cut in 0..=bytes.len() {
        let got = read_all(&bytes[..cut]);
        if cut == 0 || ends.contains(&cut) {
            assert!(got.is_ok(), "cut {cut}: {got:?}");
        } else {
            let valid_up_to = ends.iter().copied().filter(|&e| e < cut).max().unwrap_or(0);
            assert_eq!(got, Err(ReadError::Truncated { valid_up_to }), "cut {cut}");
        }
    }
}

#[test]
fn truncated_mid_bulk_and_mid_header() {
    let (mut bytes, ends) = cmds(&[&[b"SELECT", b"0"]]);
    let at = ends[0];
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab");
    assert_eq!(
        read_all(&bytes),
        Err(ReadError::Truncated { valid_up_to: at })
    );
    for tail in [
        &b"*3"[..],
        b"*3\r",
        b"*3\r\n$",
        b"*3\r\n$3\r",
        b"*3\r\n$3\r\nSET\r",
        b"#TS:12",
    ] {
        let mut b = bytes[..at].to_vec();
        b.extend_from_slice(tail);
        assert_eq!(
            read_all(&b),
            Err(ReadError::Truncated { valid_up_to: at }),
            "{tail:?}"
        );
    }
}

#[test]
fn corrupt_bytes_are_reported_where_they_are() {
    let cases: &[(&[u8], usize)] = &[
        (b"+OK\r\n", 0),
        (b"*1\r\n+PING\r\n", 4),
        (b"*x\r\n", 1),
        (b"*\r\n", 1),
        (b"*0\r\n", 1),
        (b"*1\n$4\r\nPING\r\n", 2),
        (b"*1\r\r", 3),
        (b"*1\r\n$4x\r\nPING\r\n", 6),
        (b"*1\r\n$-1\r\n", 5),
        (b"*1\r\n$4\r\nPINGxx*1\r\n", 12),
        (b"*1\r\n$99999999999999999999999\r\n", 5),
        (b"*1\r\n$4\r\nPING\r\n\r\n", 14),
    ];
    for &(bytes, offset) in cases {
        match read_all(bytes) {
            Err(ReadError::Corrupt { offset: at, .. }) => {
                assert_eq!(at, offset, "{:?}", String::from_utf8_lossy(bytes));
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }
    // The error repeats; the offset stays after the last good command.
    let mut r = Commands::new(b"*1\r\n$4\r\nPING\r\n!");
    assert!(matches!(r.next(), Ok(Next::Command(_))));
    let e = r.next();
    assert!(matches!(e, Err(ReadError::Corrupt { offset: 14, .. })));
    assert_eq!(r.next(), e);
    assert_eq!(r.offset(), 14);
}

#[test]
fn open_multi_at_the_end_is_truncated_at_the_multi() {
    let (bytes, ends) = cmds(&[
        &[b"SELECT", b"0"],
        &[b"MULTI"],
        &[b"SET", b"a", b"1"],
        &[b"EXEC"],
        &[b"multi"],
        &[b"SET", b"b", b"2"],
    ]);
    // Whole transaction: fine.
    assert_eq!(read_all(&bytes[..ends[3]]).map(|c| c.len()), Ok(4));
    // No EXEC at the end: cut before the MULTI, whether the file ends
    // after a whole command or inside one.
    let multi = ends[3];
    assert_eq!(
        read_all(&bytes),
        Err(ReadError::Truncated { valid_up_to: multi })
    );
    assert_eq!(
        read_all(&bytes[..bytes.len() - 3]),
        Err(ReadError::Truncated { valid_up_to: multi })
    );
    let mut r = Commands::new(&bytes);
    while let Ok(Next::Command(_)) = r.next() {}
    assert_eq!(r.in_multi_since(), Some(multi));
    // The first transaction is whole: a cut inside it goes back to its MULTI.
    assert_eq!(
        read_all(&bytes[..ends[2]]),
        Err(ReadError::Truncated {
            valid_up_to: ends[0]
        })
    );
}

#[test]
fn rdb_preamble_then_commands() {
    let mut w = Writer::new(Vec::new(), &Aux::default()).expect("header");
    w.select_db(0, 0, 0).expect("select");
    let mut bytes = w.finish().expect("finish");
    let rdb_len = bytes.len();
    encode_select(&mut bytes, 0);
    encode_command(&mut bytes, &[b"SET", b"k", b"v"]);

    assert!(has_rdb_preamble(&bytes));
    assert!(matches!(
        Commands::new(&bytes).next(),
        Err(ReadError::Corrupt { offset: 0, .. })
    ));
    // As the module doc says: the RDB reader to its end, then the commands.
    let mut rdb = Reader::new(&bytes[..]).expect("rdb");
    while !matches!(rdb.next_item().expect("item"), Item::End) {}
    let end = usize::try_from(rdb.offset()).expect("fits");
    assert_eq!(end, rdb_len);
    let mut r = Commands::at(&bytes, end);
    assert_eq!(r.next(), Ok(Next::Command(vec![b"SELECT", b"0"])));
    assert_eq!(r.next(), Ok(Next::Command(vec![b"SET", b"k", b"v"])));
    assert_eq!(r.next(), Ok(Next::End));
}
