//! Pipelining: 10,000 commands over one connection get their replies in order, however
//! the bytes are split across TCP reads, with keys spread over every shard.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use common::{encode, for_threads, Client, Reply};
use redis::Value;

#[test]
fn pipeline_of_10000_commands_with_redis_crate() {
    for_threads(|s| {
        let mut con = s.conn();
        let mut pipe = redis::pipe();
        for i in 0..2500 {
            pipe.cmd("SET").arg(format!("k{i}")).arg(i);
            pipe.cmd("INCR").arg(format!("k{i}"));
            pipe.cmd("GET").arg(format!("k{i}"));
            pipe.cmd("INCR").arg("counter");
        }
        let replies: Vec<Value> = pipe.query(&mut con).unwrap();
        assert_eq!(replies.len(), 10_000);
        for (i, chunk) in replies.chunks(4).enumerate() {
            let i = i64::try_from(i).unwrap();
            assert_eq!(chunk[0], Value::Okay, "SET k{i}");
            assert_eq!(chunk[1], Value::Int(i + 1), "INCR k{i}");
            assert_eq!(
                chunk[2],
                Value::BulkString((i + 1).to_string().into_bytes()),
                "GET k{i}"
            );
            assert_eq!(chunk[3], Value::Int(i + 1), "INCR counter #{i}");
        }
        let dbsize: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert_eq!(dbsize, 2501);
    });
}

/// A model of the few string commands used below, to know every expected reply.
#[derive(Default)]
struct Model {
    data: HashMap<String, Vec<u8>>,
}

impl Model {
    /// Picks a random command over a small key set and returns it with its expected reply.
    fn random_command(&mut self, rng: &mut fastrand::Rng) -> (Vec<String>, Reply) {
        let key = format!("key:{}", rng.usize(0..64));
        match rng.u8(0..7) {
            0 => {
                let val = format!("v{}", rng.u32(..));
                self.data.insert(key.clone(), val.clone().into_bytes());
                (vec!["SET".into(), key, val], Reply::ok())
            }
            1 => {
                let want = self.data.get(&key).map_or(Reply::Nil, Reply::bulk);
                (vec!["GET".into(), key], want)
            }
            2 => {
                let n = format!("n:{}", rng.usize(0..16));
                let cur: i64 = self
                    .data
                    .get(&n)
                    .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
                self.data
                    .insert(n.clone(), (cur + 1).to_string().into_bytes());
                (vec!["INCR".into(), n], Reply::int(cur + 1))
            }
            3 => {
                let existed = self.data.remove(&key).is_some();
                (vec!["DEL".into(), key], Reply::int(i64::from(existed)))
            }
            4 => {
                let v = self.data.entry(key.clone()).or_default();
                v.extend_from_slice(b"ab");
                let len = i64::try_from(v.len()).unwrap();
                (vec!["APPEND".into(), key, "ab".into()], Reply::int(len))
            }
            5 => {
                let other = format!("key:{}", rng.usize(0..64));
                let n = i64::from(self.data.contains_key(&key))
                    + i64::from(self.data.contains_key(&other));
                (vec!["EXISTS".into(), key, other], Reply::int(n))
            }
            _ => {
                let other = format!("key:{}", rng.usize(0..64));
                let want = Reply::Array(
                    [&key, &other]
                        .iter()
                        .map(|k| self.data.get(*k).map_or(Reply::Nil, Reply::bulk))
                        .collect(),
                );
                (vec!["MGET".into(), key, other], want)
            }
        }
    }
}

/// 10,000 random commands written in random-sized pieces (1 byte and up) while a reader
/// checks every reply in order against a model.
#[test]
fn pipeline_split_across_random_tcp_writes() {
    for_threads(|s| {
        let mut rng = fastrand::Rng::with_seed(0x7e55e7a + s.threads as u64);
        let mut model = Model::default();
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..10_000 {
            let (cmd, want) = model.random_command(&mut rng);
            bytes.extend_from_slice(&encode(&cmd));
            expected.push((cmd, want));
        }
        let mut c = s.client();
        let mut writer = c.stream().try_clone().unwrap();
        let seed = rng.u64(..);
        let sender = std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut pos = 0;
            let mut pieces = 0;
            while pos < bytes.len() {
                // Tiny pieces first (every header and payload split), larger ones later.
                let max = if pos < 20_000 { 16 } else { 4096 };
                let end = (pos + rng.usize(1..=max)).min(bytes.len());
                writer.write_all(&bytes[pos..end]).unwrap();
                pos = end;
                pieces += 1;
                if pieces % 200 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        for (i, (cmd, want)) in expected.iter().enumerate() {
            let got = c.read_reply();
            assert_eq!(&got, want, "reply #{i} to {cmd:?}");
        }
        sender.join().unwrap();
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    });
}

/// Runs of reads over keys on every shard, broken now and then by a write, pipelined in
/// one write per 500 commands: the reads of a run go to their shards together (those for
/// the connection's own shard run as they are read), and every reply must still come
/// back in request order, each read seeing every earlier write.
#[test]
fn pipelined_reads_across_shards_keep_request_order() {
    for_threads(|s| {
        let mut rng = fastrand::Rng::with_seed(0x5eed + s.threads as u64);
        let mut model = Model::default();
        let mut c = s.client();
        for round in 0..20 {
            let mut bytes = Vec::new();
            let mut expected = Vec::new();
            for _ in 0..500 {
                let (cmd, want) = if rng.u8(0..10) == 0 {
                    model.random_command(&mut rng)
                } else {
                    let key = format!("key:{}", rng.usize(0..64));
                    let want = model.data.get(&key).map_or(Reply::Nil, Reply::bulk);
                    (vec!["GET".into(), key], want)
                };
                bytes.extend_from_slice(&encode(&cmd));
                expected.push((cmd, want));
            }
            c.stream().write_all(&bytes).unwrap();
            for (i, (cmd, want)) in expected.iter().enumerate() {
                let got = c.read_reply();
                assert_eq!(&got, want, "round {round}, reply #{i} to {cmd:?}");
            }
        }
    });
}

/// Inline commands pipelined in one write, mixed with multibulk ones.
#[test]
fn inline_pipeline() {
    for_threads(|s| {
        let mut c = s.client();
        let mut bytes = Vec::new();
        for i in 0..1000 {
            bytes.extend_from_slice(format!("SET inline:{i} {i}\r\nPING\r\n").as_bytes());
            bytes.extend_from_slice(&encode(&["GET", &format!("inline:{i}")]));
            bytes.extend_from_slice(format!("incr inline:{i}\n").as_bytes());
        }
        c.send(&bytes);
        for i in 0..1000 {
            assert_eq!(c.read_reply(), Reply::ok());
            assert_eq!(c.read_reply(), Reply::status("PONG"));
            assert_eq!(c.read_reply(), Reply::bulk(i.to_string()));
            assert_eq!(c.read_reply(), Reply::int(i + 1));
        }
    });
}

/// Several clients pipelining at once on shared and private keys: no reply is lost or
/// misrouted, and increments of a shared counter all land.
#[test]
fn concurrent_pipelining_clients() {
    for_threads(|s| {
        let port = s.port;
        let workers: Vec<_> = (0..4)
            .map(|w| {
                std::thread::spawn(move || {
                    let mut c = Client::connect(port);
                    let mut bytes = Vec::new();
                    for i in 0..2500 {
                        bytes.extend_from_slice(&encode(&["INCR", "shared"]));
                        bytes.extend_from_slice(&encode(&[
                            "SET",
                            &format!("w{w}:{i}"),
                            &i.to_string(),
                        ]));
                        bytes.extend_from_slice(&encode(&["GET", &format!("w{w}:{i}")]));
                    }
                    let mut writer = c.stream().try_clone().unwrap();
                    let sender = std::thread::spawn(move || writer.write_all(&bytes).unwrap());
                    let mut last = 0;
                    for i in 0..2500 {
                        let n = c.read_reply().as_int();
                        assert!(n > last, "INCR went from {last} to {n}");
                        last = n;
                        assert_eq!(c.read_reply(), Reply::ok());
                        assert_eq!(c.read_reply(), Reply::bulk(i.to_string()));
                    }
                    sender.join().unwrap();
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        let mut c = s.client();
        assert_eq!(c.cmd(&["GET", "shared"]), Reply::bulk("10000"));
        assert_eq!(c.int(&["DBSIZE"]), 1 + 4 * 2500);
    });
}

/// A connection that keeps to keys of one other shard moves to that shard's
/// thread: it keeps its id, name, database and authentication, and a
/// pipeline cut in the middle of a command at the moment of the move loses
/// nothing.
#[test]
fn connection_keeps_its_state_when_it_moves_threads() {
    common::for_threads_with(&["--requirepass", "pw"], None, |s| {
        let mut c = Client::connect(s.port);
        c.ok(&["AUTH", "pw"]);
        c.ok(&["CLIENT", "SETNAME", "mover"]);
        c.ok(&["SELECT", "3"]);
        let id = c.int(&["CLIENT", "ID"]);
        // Many single-command round trips on one key: whichever thread owns
        // it, the connection ends up there (or was there all along).
        for i in 0..300 {
            assert_eq!(c.int(&["INCR", "{tag}counter"]), i + 1);
        }
        // A pipeline whose last command arrives in two pieces.
        let mut bytes = Vec::new();
        for _ in 0..200 {
            bytes.extend_from_slice(&encode(&["INCR", "{tag}counter"]));
        }
        let tail = encode(&["GET", "{tag}counter"]);
        bytes.extend_from_slice(&tail[..7]);
        c.send(&bytes);
        for i in 0..200 {
            assert_eq!(c.read_reply(), Reply::int(301 + i));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        c.send(&tail[7..]);
        assert_eq!(c.read_reply(), Reply::bulk("500"));
        assert_eq!(c.int(&["CLIENT", "ID"]), id);
        assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("mover"));
        assert_eq!(c.cmd(&["GET", "{tag}counter"]), Reply::bulk("500"));
        c.ok(&["SELECT", "0"]);
        assert_eq!(c.cmd(&["GET", "{tag}counter"]), Reply::Nil);
        let clients = c.cmd(&["CLIENT", "LIST"]).as_string();
        assert_eq!(
            clients.lines().filter(|l| l.contains("name=mover")).count(),
            1,
            "{clients}"
        );
    });
}
