//! GEOADD, GEOPOS, GEODIST, GEOHASH against the real server, with the
//! values Redis gives for the same points (these tests pass unchanged
//! against redis-server with TESSERA_TEST_AGAINST_REDIS=1).

#![allow(clippy::unwrap_used)]

mod common;

use common::{for_threads, Reply};

#[test]
fn points_are_stored_as_redis_stores_them() {
    for_threads(|s| {
        let mut c = s.client();
        let add = ["GEOADD", "Sicily", "13.361389", "38.115556", "Palermo"];
        assert_eq!(c.int(&add), 1);
        assert_eq!(
            c.int(&["GEOADD", "Sicily", "15.087269", "37.502669", "Catania"]),
            1
        );
        // The score is the 52-bit geohash; a DUMP/RESTORE or ZSCORE sees it.
        assert_eq!(
            c.cmd(&["ZSCORE", "Sicily", "Palermo"]),
            Reply::bulk("3479099956230698")
        );
        assert_eq!(
            c.cmd(&["GEOPOS", "Sicily", "Palermo", "nosuch", "Catania"]),
            Reply::Array(vec![
                Reply::bulks(&["13.36138933897018433", "38.11555639549629859"]),
                Reply::NilArray,
                Reply::bulks(&["15.08726745843887329", "37.50266842333162032"]),
            ])
        );
        for (unit, d) in [
            (None, "166274.1516"),
            (Some("km"), "166.2742"),
            (Some("MI"), "103.3182"),
            (Some("ft"), "545518.8700"),
        ] {
            let mut cmd = vec!["GEODIST", "Sicily", "Palermo", "Catania"];
            cmd.extend(unit);
            assert_eq!(c.cmd(&cmd), Reply::bulk(d), "{unit:?}");
        }
        assert_eq!(
            c.cmd(&["GEODIST", "Sicily", "Palermo", "nosuch"]),
            Reply::Nil
        );
        assert_eq!(
            c.cmd(&["GEOHASH", "Sicily", "Palermo", "Catania", "nosuch"]),
            Reply::Array(vec![
                Reply::bulk("sqc8b49rny0"),
                Reply::bulk("sqdtr74hyu0"),
                Reply::Nil
            ])
        );
        // The edges of the map.
        assert_eq!(
            c.int(&[
                "GEOADD",
                "edge",
                "180",
                "85.05112878",
                "a",
                "-180",
                "-85.05112878",
                "b"
            ]),
            2
        );
        assert_eq!(
            c.cmd(&["GEOHASH", "edge", "a", "b"]),
            Reply::Array(vec![Reply::bulk("bp05b5048p0"), Reply::bulk("00bh0hbj200")])
        );
        assert_eq!(
            c.cmd(&["GEODIST", "edge", "a", "b"]),
            Reply::bulk("18919844.5891")
        );
    });
}

#[test]
fn options_and_errors_are_redis_own() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["GEOADD", "k", "13.361389", "38.115556", "Palermo"]);
        // CH counts changed positions too; XX only updates; NX only adds.
        assert_eq!(
            c.int(&[
                "GEOADD",
                "k",
                "CH",
                "13.361389",
                "38.115556",
                "Palermo",
                "13.5",
                "38.2",
                "Other"
            ]),
            1
        );
        assert_eq!(
            c.int(&["GEOADD", "k", "XX", "CH", "1", "1", "new", "2", "2", "Other"]),
            1
        );
        assert_eq!(c.cmd(&["ZSCORE", "k", "new"]), Reply::Nil);
        assert_eq!(c.int(&["GEOADD", "k", "NX", "3", "3", "Other"]), 0);
        assert_eq!(
            c.err(&["GEOADD", "k", "NX", "XX", "1", "1", "a"]),
            "ERR syntax error"
        );
        assert_eq!(
            c.err(&["GEOADD", "k", "1", "1", "a", "2"]),
            "ERR syntax error"
        );
        assert_eq!(
            c.err(&["GEOADD", "k", "200", "1", "a"]),
            "ERR invalid longitude,latitude pair 200.000000,1.000000"
        );
        assert_eq!(
            c.err(&["GEOADD", "k", "1", "86", "a"]),
            "ERR invalid longitude,latitude pair 1.000000,86.000000"
        );
        assert_eq!(
            c.err(&["GEOADD", "k", "abc", "1", "a"]),
            "ERR value is not a valid float"
        );
        assert_eq!(
            c.err(&["GEODIST", "k", "Palermo", "Other", "yd"]),
            "ERR unsupported unit provided. please use M, KM, FT, MI"
        );
        assert_eq!(
            c.err(&["GEODIST", "k", "Palermo", "Other", "km", "x"]),
            "ERR syntax error"
        );
        assert_eq!(
            c.cmd(&["GEOPOS", "nokey", "a"]),
            Reply::Array(vec![Reply::NilArray])
        );
        assert_eq!(c.cmd(&["GEOPOS", "k"]), Reply::Array(vec![]));
        c.ok(&["SET", "str", "x"]);
        for cmd in [
            &["GEOADD", "str", "1", "1", "a"][..],
            &["GEOPOS", "str", "a"],
            &["GEOHASH", "str", "a"],
        ] {
            assert!(c.err(cmd).starts_with("WRONGTYPE"), "{cmd:?}");
        }
    });
}

/// Four points around Sicily, as Redis's documentation uses them.
fn sicily(c: &mut common::Client, key: &str) {
    assert_eq!(
        c.int(&[
            "GEOADD",
            key,
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
            "12.758489",
            "38.788135",
            "edge1",
            "17.241510",
            "38.788135",
            "edge2",
        ]),
        4
    );
}

#[test]
fn searches_reply_as_redis_does() {
    for_threads(|s| {
        let mut c = s.client();
        sicily(&mut c, "Sicily");
        let cmd = "GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC";
        let args: Vec<&str> = cmd.split(' ').collect();
        assert_eq!(
            c.cmd(&args),
            Reply::Array(vec![
                Reply::Array(vec![
                    Reply::bulk("Catania"),
                    Reply::bulk("56.4413"),
                    Reply::int(3479447370796909),
                    Reply::bulks(&["15.08726745843887329", "37.50266842333162032"]),
                ]),
                Reply::Array(vec![
                    Reply::bulk("Palermo"),
                    Reply::bulk("190.4424"),
                    Reply::int(3479099956230698),
                    Reply::bulks(&["13.36138933897018433", "38.11555639549629859"]),
                ]),
            ])
        );
        for (cmd, want) in [
            ("GEORADIUS Sicily 15 37 200 km DESC COUNT 1", "Palermo"),
            ("GEORADIUS Sicily 15 37 200 km COUNT 1 ANY", "Palermo"),
            ("GEORADIUS_RO Sicily 15 37 200 km ASC", "Catania Palermo"),
            // Not sorted: in the order the cells are searched.
            (
                "GEORADIUSBYMEMBER Sicily Palermo 300 km",
                "Palermo edge1 Catania",
            ),
            (
                "GEORADIUSBYMEMBER_RO Sicily Palermo 100 km",
                "Palermo edge1",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC",
                "Catania Palermo edge2 edge1",
            ),
            (
                "GEOSEARCH Sicily FROMMEMBER Catania BYRADIUS 200 mi DESC",
                "edge1 edge2 Palermo Catania",
            ),
            ("GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 ft", ""),
            ("GEOSEARCH nosuch FROMMEMBER x BYRADIUS 1 m", ""),
            ("GEORADIUSBYMEMBER nosuch x 1 km", ""),
        ] {
            let args: Vec<&str> = cmd.split(' ').collect();
            let want: Vec<&str> = want.split(' ').filter(|w| !w.is_empty()).collect();
            assert_eq!(c.cmd(&args), Reply::bulks(&want), "{cmd}");
        }
        assert_eq!(
            c.cmd(&[
                "GEORADIUSBYMEMBER",
                "Sicily",
                "Palermo",
                "100",
                "km",
                "WITHDIST"
            ]),
            Reply::Array(vec![
                Reply::bulks(&["Palermo", "0.0000"]),
                Reply::bulks(&["edge1", "91.4007"]),
            ])
        );
        // A radius so large the neighbouring cells wrap around the map.
        c.int(&["GEOADD", "users", "-47.2716", "-54.5345", "u"]);
        assert_eq!(
            c.cmd(&["GEORADIUS", "users", "0", "0", "50000", "km"]),
            Reply::bulks(&["u"])
        );
    });
}

#[test]
fn stores_as_redis_does_across_shards() {
    for_threads(|s| {
        let mut c = s.client();
        sicily(&mut c, "src");
        // Several destinations, so that some live on another shard than
        // the source when there are several.
        for dest in ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"] {
            c.ok(&["SET", dest, "old"]);
            c.int(&["EXPIRE", dest, "1000"]);
            let cmd =
                format!("GEOSEARCHSTORE {dest} src FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST");
            let args: Vec<&str> = cmd.split(' ').collect();
            assert_eq!(c.int(&args), 4, "{cmd}");
            assert_eq!(c.int(&["TTL", dest]), -1);
            assert_eq!(
                c.cmd(&["ZRANGE", dest, "0", "-1", "WITHSCORES"]),
                Reply::bulks(&[
                    "Catania",
                    "56.441257870158204",
                    "Palermo",
                    "190.44242984775784",
                    "edge2",
                    "279.7403417843143",
                    "edge1",
                    "279.74045213563431"
                ])
            );
            let cmd = format!("GEORADIUS src 15 37 200 km STOREDIST x STORE {dest}");
            let args: Vec<&str> = cmd.split(' ').collect();
            assert_eq!(c.int(&args), 2, "{cmd}");
            assert_eq!(
                c.cmd(&["ZRANGE", dest, "0", "-1", "WITHSCORES"]),
                Reply::bulks(&["Palermo", "3479099956230698", "Catania", "3479447370796909"])
            );
            assert_eq!(c.int(&["EXISTS", "x"]), 0);
            let cmd = format!("GEORADIUSBYMEMBER src Palermo 10 km DESC COUNT 1 STORE {dest}");
            let args: Vec<&str> = cmd.split(' ').collect();
            assert_eq!(c.int(&args), 1, "{cmd}");
            assert_eq!(
                c.cmd(&["ZRANGE", dest, "0", "-1"]),
                Reply::bulks(&["Palermo"])
            );
            // Nothing found: the destination is deleted.
            let cmd = format!("GEORADIUS src 0 0 1 km STORE {dest}");
            let args: Vec<&str> = cmd.split(' ').collect();
            assert_eq!(c.int(&args), 0, "{cmd}");
            assert_eq!(c.int(&["EXISTS", dest]), 0);
            // A missing source too.
            c.ok(&["SET", dest, "old"]);
            let cmd = format!("GEORADIUSBYMEMBER nosuch m 1 km STOREDIST {dest}");
            let args: Vec<&str> = cmd.split(' ').collect();
            assert_eq!(c.int(&args), 0, "{cmd}");
            assert_eq!(c.int(&["EXISTS", dest]), 0);
        }
        // The source stored into itself.
        let cmd = "GEORADIUS src 15 37 200 km STORE src";
        assert_eq!(c.int(&cmd.split(' ').collect::<Vec<_>>()), 2);
        assert_eq!(c.int(&["ZCARD", "src"]), 2);
    });
}

#[test]
fn search_keys_are_redis_own() {
    for_threads(|s| {
        let mut c = s.client();
        for (cmd, keys) in [
            ("GEORADIUS k 0 0 1 km", "k"),
            ("GEORADIUS k 0 0 1 km STORE a", "k a"),
            ("GEORADIUS k 0 0 1 km STOREDIST b COUNT 2 STORE a", "k a b"),
            ("GEORADIUSBYMEMBER k m 1 km STOREDIST a", "k a"),
            ("GEORADIUS_RO k 0 0 1 km", "k"),
            ("GEORADIUSBYMEMBER_RO k m 1 km", "k"),
            ("GEOSEARCH k FROMMEMBER m BYRADIUS 1 km", "k"),
            ("GEOSEARCHSTORE d k FROMMEMBER m BYRADIUS 1 km", "d k"),
        ] {
            let mut args = vec!["COMMAND", "GETKEYS"];
            args.extend(cmd.split(' '));
            let keys: Vec<&str> = keys.split(' ').collect();
            assert_eq!(c.cmd(&args), Reply::bulks(&keys), "{cmd}");
        }
    });
}

#[test]
fn search_errors_are_redis_own() {
    for_threads(|s| {
        let mut c = s.client();
        sicily(&mut c, "k");
        c.ok(&["SET", "str", "x"]);
        for (cmd, err) in [
            ("GEORADIUS str 0 0 -1 km", "WRONGTYPE"),
            ("GEOSEARCHSTORE d str FROMLONLAT 0 0 BYRADIUS 1 km", "WRONGTYPE"),
            ("GEORADIUS k 0 0 1 km COUNT 0", "ERR COUNT must be > 0"),
            (
                "GEORADIUS k 0 0 1 km COUNT x",
                "ERR value is not an integer or out of range",
            ),
            ("GEORADIUS k 0 0 1 km COUNT", "ERR syntax error"),
            ("GEORADIUS k 0 0 -1 km", "ERR radius cannot be negative"),
            ("GEORADIUS k 0 0 x km", "ERR need numeric radius"),
            (
                "GEORADIUS k 0 0 1 yd",
                "ERR unsupported unit provided. please use M, KM, FT, MI",
            ),
            (
                "GEORADIUS k 200 0 1 km",
                "ERR invalid longitude,latitude pair 200.000000,0.000000",
            ),
            ("GEORADIUS k x 0 1 km", "ERR value is not a valid float"),
            (
                "GEOSEARCH k FROMLONLAT 0 0 BYBOX -1 1 km",
                "ERR height or width cannot be negative",
            ),
            ("GEOSEARCH k FROMLONLAT 0 0 BYBOX x 1 km", "ERR need numeric width"),
            ("GEOSEARCH k FROMLONLAT 0 0 BYBOX 1 x km", "ERR need numeric height"),
            (
                "GEOSEARCH k FROMMEMBER nosuch BYRADIUS 1 km",
                "ERR could not decode requested zset member",
            ),
            (
                "GEORADIUSBYMEMBER k nosuch 1 km",
                "ERR could not decode requested zset member",
            ),
            (
                "GEORADIUS k 0 0 1 km STORE d WITHDIST",
                "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            ),
            (
                "GEOSEARCHSTORE d k FROMLONLAT 0 0 BYRADIUS 1 km WITHHASH",
                "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            ),
            ("GEORADIUS_RO k 0 0 1 km STORE d", "ERR syntax error"),
            ("GEOSEARCH k FROMLONLAT 0 0 BYRADIUS 1 km STOREDIST", "ERR syntax error"),
            ("GEOSEARCHSTORE d k FROMLONLAT 0 0 BYRADIUS 1 km STORE d", "ERR syntax error"),
            (
                "GEOSEARCH k FROMLONLAT 0 0 FROMMEMBER Palermo BYRADIUS 1 km",
                "ERR syntax error",
            ),
            (
                "geosearch k BYRADIUS 1 km ASC DESC",
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch",
            ),
            (
                "GEOSEARCH k FROMLONLAT 0 0 ASC DESC",
                "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH",
            ),
            (
                "GEORADIUS k 0 0 1 km ANY",
                "ERR the ANY argument requires COUNT argument",
            ),
        ] {
            let args: Vec<&str> = cmd.split(' ').collect();
            let got = c.err(&args);
            assert!(got.starts_with(err), "{cmd}: {got}");
        }
    });
}

/// The raw RESP3 reply to `args` (after HELLO 3's, which a PING after
/// it marks the end of).
fn resp3_raw(c: &mut common::Client, args: &[&str]) -> Vec<u8> {
    use std::io::Read;
    c.send(&common::encode(&["HELLO", "3"]));
    c.send(&common::encode(args));
    c.send(&common::encode(&["PING", "END-OF-REPLY"]));
    let marker = b"$12\r\nEND-OF-REPLY\r\n";
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut stream = c.stream().try_clone().unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    while !got.ends_with(marker) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        got.extend_from_slice(&buf[..n]);
    }
    got.truncate(got.len() - marker.len());
    got
}

#[test]
fn coordinates_are_resp3_doubles() {
    for_threads(|s| {
        let mut c = s.client();
        sicily(&mut c, "k");
        // The distance stays a bulk string.
        let got = resp3_raw(
            &mut c,
            &[
                "GEORADIUS",
                "k",
                "15",
                "37",
                "100",
                "km",
                "WITHCOORD",
                "WITHDIST",
            ],
        );
        let want = "*1\r\n*3\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n\
                    *2\r\n,15.08726745843887329\r\n,37.50266842333162032\r\n";
        assert!(
            got.ends_with(want.as_bytes()),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        let got = resp3_raw(&mut c, &["GEOPOS", "k", "Catania", "nosuch"]);
        let want = "*2\r\n*2\r\n,15.08726745843887329\r\n,37.50266842333162032\r\n_\r\n";
        assert!(
            got.ends_with(want.as_bytes()),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
    });
}

#[test]
fn the_log_replays_what_the_searches_stored() {
    if common::skip_against_redis("the AOF's contents") {
        return;
    }
    for threads in [1, 4] {
        let dir = common::scratch_dir("geo-aof");
        let conf = format!(
            "dir {}\nsave \"\"\nappendonly yes\nappendfsync always\n",
            dir.display()
        );
        let s = common::Server::start_with(threads, &[], Some(&conf));
        let mut c = s.client();
        sicily(&mut c, "src");
        c.cmd(&["GEORADIUS", "src", "15", "37", "200", "km"]);
        for dest in ["d0", "d1", "d2", "d3"] {
            c.int(&["GEORADIUS", "src", "15", "37", "200", "km", "STORE", dest]);
            c.int(&[
                "GEOSEARCHSTORE",
                &format!("s{dest}"),
                "src",
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "100",
                "km",
                "STOREDIST",
            ]);
        }
        let before = common::keys_as_text(&mut c, &["0"]);
        drop(c);
        drop(s);
        let log: String = std::fs::read_dir(dir.join("appendonlydir"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
            .collect();
        // A search that stored nothing is not recorded.
        assert_eq!(log.matches("GEORADIUS").count(), 4, "{log}");
        let s = common::Server::start_with(5 - threads, &[], Some(&conf));
        let mut c = s.client();
        assert_eq!(common::keys_as_text(&mut c, &["0"]), before);
    }
}
