//! SORT and SORT_RO: numeric and ALPHA order, DESC, LIMIT, BY and GET patterns
//! (`*`, `#`, `->field`, constant BY), STORE, errors; and the DEBUG helpers that look
//! inside values (DIGEST-VALUE, RELOAD). Keys named by patterns share the sorted key's
//! hash tag, so every case also holds at --threads 4.
#![allow(clippy::unwrap_used)]

mod common;

use common::{for_threads, skip_against_redis, Reply};

fn strings(r: &Reply) -> Vec<String> {
    r.as_strings()
}

#[test]
fn numeric_alpha_desc_limit() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "l", "3", "1", "10", "2"]);
        assert_eq!(strings(&c.cmd(&["SORT", "l"])), ["1", "2", "3", "10"]);
        assert_eq!(
            strings(&c.cmd(&["SORT", "l", "DESC"])),
            ["10", "3", "2", "1"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "l", "ALPHA"])),
            ["1", "10", "2", "3"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "l", "LIMIT", "1", "2"])),
            ["2", "3"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "l", "LIMIT", "-5", "2"])),
            ["1", "2"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "l", "LIMIT", "9", "2"])),
            Vec::<String>::new()
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "l", "LIMIT", "2", "-1"])),
            ["3", "10"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT_RO", "l", "DESC", "LIMIT", "0", "1"])),
            ["10"]
        );
        // Equal scores fall back to the bytes, so the order is deterministic.
        c.int(&["SADD", "s", "1.0", "1", "01", "-2", "1e0"]);
        assert_eq!(
            strings(&c.cmd(&["SORT", "s"])),
            ["-2", "01", "1", "1.0", "1e0"]
        );
        // A missing key is an empty list.
        assert_eq!(c.cmd(&["SORT", "nokey"]), Reply::Array(vec![]));
    });
}

#[test]
fn errors() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "l", "1", "x"]);
        assert_eq!(
            c.err(&["SORT", "l"]),
            "ERR One or more scores can't be converted into double"
        );
        assert_eq!(c.cmd(&["SORT", "l", "ALPHA"]).as_strings(), ["1", "x"]);
        c.ok(&["SET", "str", "v"]);
        assert_eq!(
            c.err(&["SORT", "str"]),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(c.err(&["SORT", "l", "BOGUS"]), "ERR syntax error");
        assert_eq!(c.err(&["SORT", "l", "LIMIT", "1"]), "ERR syntax error");
        assert_eq!(
            c.err(&["SORT", "l", "LIMIT", "a", "1"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(c.err(&["SORT_RO", "l", "STORE", "d"]), "ERR syntax error");
    });
}

#[test]
fn by_and_get_patterns() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["RPUSH", "{u}ids", "1", "2", "3"]);
        for (id, age, name) in [("1", "30", "ann"), ("2", "20", "bob"), ("3", "25", "cy")] {
            c.ok(&["SET", &format!("{{u}}age_{id}"), age]);
            c.int(&["HSET", &format!("{{u}}user_{id}"), "name", name]);
        }
        assert_eq!(
            strings(&c.cmd(&["SORT", "{u}ids", "BY", "{u}age_*"])),
            ["2", "3", "1"]
        );
        assert_eq!(
            strings(&c.cmd(&[
                "SORT",
                "{u}ids",
                "BY",
                "{u}age_*",
                "GET",
                "#",
                "GET",
                "{u}user_*->name"
            ])),
            ["2", "bob", "3", "cy", "1", "ann"]
        );
        // ALPHA by a hash field; a missing field sorts first.
        c.int(&["RPUSH", "{u}ids", "4"]);
        assert_eq!(
            strings(&c.cmd(&["SORT", "{u}ids", "BY", "{u}user_*->name", "ALPHA", "DESC"])),
            ["3", "2", "1", "4"]
        );
        // GET of something missing is nil; a GET pattern without '*' names no key.
        let r = c.cmd(&["SORT", "{u}ids", "GET", "{u}age_*", "GET", "nostar"]);
        assert_eq!(r.as_array().len(), 8);
        assert_eq!(r.as_array()[6], Reply::Nil);
        assert_eq!(r.as_array()[7], Reply::Nil);
        // BY without '*': no sorting, the list's own order (from the
        // tail with DESC, LIMIT counted from there).
        assert_eq!(
            strings(&c.cmd(&["SORT", "{u}ids", "BY", "nosort", "DESC"])),
            ["4", "3", "2", "1"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "{u}ids", "BY", "nosort", "DESC", "LIMIT", "1", "2"])),
            ["3", "2"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "{u}ids", "BY", "nosort", "LIMIT", "1", "2"])),
            ["2", "3"]
        );
    });
}

#[test]
fn sorted_set_with_nosort_keeps_its_order() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["ZADD", "z", "3", "c", "1", "a", "2", "b"]);
        assert_eq!(
            strings(&c.cmd(&["SORT", "z", "BY", "nosort"])),
            ["a", "b", "c"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"])),
            ["c", "b"]
        );
        assert_eq!(
            strings(&c.cmd(&["SORT", "z", "ALPHA", "DESC"])),
            ["c", "b", "a"]
        );
    });
}

#[test]
fn store() {
    for_threads(|s| {
        let mut c = s.client();
        c.int(&["SADD", "{s}set", "b", "a", "c"]);
        // A set stored with BY nosort is still sorted, so the result is deterministic.
        assert_eq!(
            c.int(&["SORT", "{s}set", "BY", "nosort", "STORE", "{s}out"]),
            3
        );
        assert_eq!(
            strings(&c.cmd(&["LRANGE", "{s}out", "0", "-1"])),
            ["a", "b", "c"]
        );
        assert_eq!(c.int(&["TTL", "{s}out"]), -1);
        // GET values go into the stored list; missing ones as empty strings.
        c.ok(&["SET", "{s}w_a", "A"]);
        assert_eq!(
            c.int(&["SORT", "{s}set", "ALPHA", "GET", "{s}w_*", "STORE", "{s}out"]),
            3
        );
        assert_eq!(
            strings(&c.cmd(&["LRANGE", "{s}out", "0", "-1"])),
            ["A", "", ""]
        );
        // An empty result deletes the destination.
        assert_eq!(c.int(&["SORT", "{s}nothing", "STORE", "{s}out"]), 0);
        assert_eq!(c.int(&["EXISTS", "{s}out"]), 0);
    });
}

#[test]
fn debug_digest_and_reload() {
    for_threads(|s| {
        if skip_against_redis("digest equality across encodings") {
            return;
        }
        let mut c = s.client();
        for i in 0..200 {
            c.int(&["SADD", "{d}a", &i.to_string()]);
        }
        c.int(&["SADD", "{d}a", "x"]);
        c.int(&["SREM", "{d}a", "x"]);
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "{d}a"]),
            Reply::bulk("hashtable")
        );
        c.int(&["COPY", "{d}a", "{d}b"]);
        let d = c.cmd(&["DEBUG", "DIGEST-VALUE", "{d}a", "{d}b", "{d}none"]);
        let d = d.as_array();
        assert_eq!(d[0], d[1]);
        assert_eq!(d[2], Reply::status(&"0".repeat(40)));
        let before = c.cmd(&["DEBUG", "DIGEST"]);
        c.ok(&["DEBUG", "RELOAD"]);
        // Reloading rebuilds the set in its compact form, with the same contents.
        assert_eq!(
            c.cmd(&["OBJECT", "ENCODING", "{d}a"]),
            Reply::bulk("intset")
        );
        assert_eq!(c.cmd(&["DEBUG", "DIGEST"]), before);
        c.int(&["SADD", "{d}b", "y"]);
        assert_ne!(c.cmd(&["DEBUG", "DIGEST"]), before);
    });
}

#[test]
fn patterns_and_store_across_shards() {
    for_threads(|s| {
        let mut c = s.client();
        // No hash tags: at --threads 4 these keys live on different shards.
        for i in 0..50 {
            c.int(&["RPUSH", "ids", &i.to_string()]);
            c.ok(&["SET", &format!("w_{i}"), &(100 - i).to_string()]);
            c.int(&["HSET", &format!("obj_{i}"), "name", &format!("n{i}")]);
        }
        let r = c.cmd(&[
            "SORT",
            "ids",
            "BY",
            "w_*",
            "LIMIT",
            "0",
            "3",
            "GET",
            "#",
            "GET",
            "obj_*->name",
        ]);
        assert_eq!(strings(&r), ["49", "n49", "48", "n48", "47", "n47"]);
        assert_eq!(
            c.int(&[
                "SORT",
                "ids",
                "BY",
                "w_*",
                "DESC",
                "GET",
                "obj_*->name",
                "STORE",
                "dst"
            ]),
            50
        );
        assert_eq!(strings(&c.cmd(&["LRANGE", "dst", "0", "1"])), ["n0", "n1"]);
        assert_eq!(c.int(&["LLEN", "dst"]), 50);
    });
}
