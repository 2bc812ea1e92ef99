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
