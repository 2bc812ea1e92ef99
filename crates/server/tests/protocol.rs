//! RESP protocol handling: malformed frames get Redis 7.0's exact `-ERR Protocol error`
//! and the connection is closed; inline commands and their quoting; huge declared lengths
//! allocate nothing up front; the `proto-max-bulk-len` and `client-query-buffer-limit`
//! limits; and random garbage on one connection never disturbs another.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{for_threads, for_threads_with, Client, Reply, Server};

/// Sends `input` on a fresh connection and asserts the server answers exactly `reply` and
/// closes; then checks the server still serves a new client.
fn protocol_error(s: &Server, input: &[u8], reply: &str) {
    let mut c = s.client();
    c.send(input);
    let got = c.read_to_close();
    assert_eq!(
        String::from_utf8_lossy(&got),
        reply,
        "input {:?}",
        String::from_utf8_lossy(&input[..input.len().min(40)])
    );
    assert_eq!(s.client().cmd(&["PING"]), Reply::status("PONG"));
}

#[test]
fn malformed_multibulk_errors_close_the_connection() {
    for_threads(|s| {
        let e = |msg: &str| format!("-ERR Protocol error: {msg}\r\n");
        protocol_error(s, b"*abc\r\n", &e("invalid multibulk length"));
        protocol_error(s, b"*2147483648\r\n", &e("invalid multibulk length"));
        protocol_error(s, b"*1\r\n$-5\r\n", &e("invalid bulk length"));
        protocol_error(s, b"*1\r\n$-1\r\n", &e("invalid bulk length"));
        protocol_error(s, b"*1\r\n$abc\r\n", &e("invalid bulk length"));
        protocol_error(s, b"*1\r\n$2147483648\r\n", &e("invalid bulk length"));
        protocol_error(s, b"*1\r\n$536870913\r\n", &e("invalid bulk length"));
        protocol_error(
            s,
            b"*1\r\n$99999999999999999999999\r\n",
            &e("invalid bulk length"),
        );
        protocol_error(s, b"*1\r\nfoo\r\n", &e("expected '$', got 'f'"));
        protocol_error(
            s,
            b"*2\r\n$4\r\nECHO\r\n:1\r\n",
            &e("expected '$', got ':'"),
        );
        // Headers too long to ever be valid (64 KB without a line end).
        let mut long = b"*1\r\n$".to_vec();
        long.extend_from_slice(&[b'1'; 70_000]);
        protocol_error(s, &long, &e("too big bulk count string"));
        let mut long = b"*".to_vec();
        long.extend_from_slice(&[b'1'; 70_000]);
        protocol_error(s, &long, &e("too big mbulk count string"));
        // Replies to the commands before the bad frame are still sent.
        protocol_error(
            s,
            b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-1\r\n",
            &format!("+PONG\r\n{}", e("invalid bulk length")),
        );
        // Frames split across writes are errors all the same.
        let mut c = s.client();
        c.send(b"*1\r\n$");
        std::thread::sleep(Duration::from_millis(50));
        c.send(b"-3\r\n");
        c.expect_reply_and_close(e("invalid bulk length").as_bytes());
    });
}

#[test]
fn inline_commands() {
    for_threads(|s| {
        let mut c = s.client();
        let cases: &[(&[u8], Reply)] = &[
            (b"PING\r\n", Reply::status("PONG")),
            (b"PING\n", Reply::status("PONG")),
            (b"SET  k   v  \r\n", Reply::ok()),
            (b"GET k\r\n", Reply::bulk("v")),
            (b"ECHO \"hello world\"\r\n", Reply::bulk("hello world")),
            (b"ECHO 'a b'\r\n", Reply::bulk("a b")),
            (b"ECHO \"a\\\"b\"\r\n", Reply::bulk("a\"b")),
            (b"ECHO 'it\\'s'\r\n", Reply::bulk("it's")),
            (b"ECHO \"\\x41\\x00z\"\r\n", Reply::bulk(b"A\0z")),
            (b"ECHO \"\\n\\t\\\\\"\r\n", Reply::bulk("\n\t\\")),
            (b"ECHO 'a\\nb'\r\n", Reply::bulk("a\\nb")),
            (b"ECHO \"\"\r\n", Reply::bulk("")),
        ];
        for (input, want) in cases {
            c.send(input);
            assert_eq!(
                &c.read_reply(),
                want,
                "inline {:?}",
                String::from_utf8_lossy(input)
            );
        }
        // Empty lines, empty and null multibulks are skipped without a reply.
        c.send(b"\r\n\n  \r\n*0\r\n*-1\r\nPING\r\n");
        assert_eq!(c.read_reply(), Reply::status("PONG"));
        assert_eq!(c.int(&["STRLEN", "k"]), 1);

        let e = "-ERR Protocol error: unbalanced quotes in request\r\n";
        protocol_error(s, b"SET \"a b\r\n", e);
        protocol_error(s, b"SET 'a\r\n", e);
        protocol_error(s, b"ECHO \"a\"b\r\n", e);
        let mut long = vec![b'A'; 70_000];
        long.extend_from_slice(b"x");
        protocol_error(s, &long, "-ERR Protocol error: too big inline request\r\n");
    });
}

/// Declared lengths at the limits are accepted and waited for, and cost no memory until
/// the bytes arrive: RSS barely moves with ten such connections open.
#[test]
fn huge_declared_lengths_allocate_nothing_up_front() {
    for_threads(|s| {
        let before = s.rss_bytes();
        let mut open = Vec::new();
        for i in 0..10 {
            let mut c = s.client();
            if i % 2 == 0 {
                c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n");
                c.send(&[b'x'; 1000]);
            } else {
                c.send(b"*1048576\r\n$4\r\nPING\r\n");
            }
            open.push(c);
        }
        // Everyone else is still served meanwhile.
        let mut other = s.client();
        assert_eq!(other.cmd(&["SET", "other", "1"]), Reply::ok());
        std::thread::sleep(Duration::from_millis(100));
        let after = s.rss_bytes();
        assert!(
            after < before + 64 * 1024 * 1024,
            "RSS grew from {} MB to {} MB for 10 connections that declared huge lengths",
            before >> 20,
            after >> 20
        );
        // None of them got a reply: they are waiting for the rest of their frames.
        for c in &mut open {
            c.set_timeout(Duration::from_millis(50));
            assert!(
                c.try_read_reply().is_err(),
                "a reply to an incomplete frame"
            );
        }
        drop(open);
        assert_eq!(other.cmd(&["GET", "k"]), Reply::Nil);
        assert_eq!(other.cmd(&["PING"]), Reply::status("PONG"));
    });
}

/// `proto-max-bulk-len` from the config file bounds bulk lengths and string sizes.
#[test]
fn proto_max_bulk_len_option() {
    for_threads_with(&[], Some("proto-max-bulk-len 1mb\n"), |s| {
        protocol_error(
            s,
            b"*1\r\n$1048577\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        );
        let mut c = s.client();
        let big = vec![b'x'; 1 << 20];
        assert_eq!(c.cmd(&[&b"SET"[..], b"k", &big]), Reply::ok());
        let too_big = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
        assert_eq!(c.err(&["APPEND", "k", "y"]), too_big);
        assert_eq!(c.err(&["SETRANGE", "k", "1048576", "x"]), too_big);
        assert_eq!(c.int(&["SETRANGE", "k", "1048575", "y"]), 1 << 20);
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "proto-max-bulk-len"]),
            Reply::bulks(&["proto-max-bulk-len", "1048576"])
        );
    });
}

/// A client whose pending query grows past `client-query-buffer-limit` is disconnected
/// (Redis sends nothing; an error line before the close is tolerated), others go on.
#[test]
fn client_query_buffer_limit_option() {
    for_threads_with(&[], Some("client-query-buffer-limit 1mb\n"), |s| {
        let mut c = s.client();
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000000\r\n");
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < 3_000_000 {
            if c.try_send(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        let got = c.read_to_close();
        assert!(
            got.is_empty() || got.starts_with(b"-ERR"),
            "unexpected reply before the close: {:?}",
            String::from_utf8_lossy(&got)
        );
        let mut other = s.client();
        assert_eq!(other.cmd(&["EXISTS", "k"]), Reply::int(0));
    });
}

/// One connection sends random bytes, truncated frames and huge lengths as fast as it can;
/// a second one keeps getting correct answers quickly the whole time.
#[test]
fn garbage_on_one_connection_does_not_disturb_another() {
    for_threads(|s| {
        let port = s.port;
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(0xbad_5eed);
                let tokens: [&[u8]; 12] = [
                    b"*",
                    b"$",
                    b"\r\n",
                    b"*3\r\n",
                    b"$3\r\nSET\r\n",
                    b"$-1\r\n",
                    b"*1\r\n$536870912\r\n",
                    b"\"",
                    b"'",
                    b"\0",
                    b"*-1\r\n",
                    b"GET k\r\n",
                ];
                let mut rounds = 0;
                while !stop.load(Ordering::Relaxed) {
                    // The server going away is reported by the other client.
                    let Ok(mut c) = Client::try_connect(port) else {
                        break;
                    };
                    c.set_timeout(Duration::from_millis(20));
                    let mut bytes = Vec::new();
                    for _ in 0..rng.usize(1..64) {
                        if rng.bool() {
                            bytes.push(rng.u8(..));
                        } else {
                            bytes.extend_from_slice(tokens[rng.usize(..tokens.len())]);
                        }
                    }
                    if c.try_send(&bytes).is_ok() {
                        let _ = c.try_read_reply();
                    }
                    rounds += 1;
                }
                rounds
            })
        };
        let mut c = s.client();
        c.set_timeout(Duration::from_secs(2));
        let start = Instant::now();
        let mut answered = 0;
        let mut slowest = Duration::ZERO;
        while start.elapsed() < Duration::from_millis(1500) {
            let t = Instant::now();
            assert_eq!(
                c.cmd(&["SET", "victim", &answered.to_string()]),
                Reply::ok()
            );
            assert_eq!(c.cmd(&["GET", "victim"]), Reply::bulk(answered.to_string()));
            slowest = slowest.max(t.elapsed());
            answered += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let rounds = attacker.join().unwrap();
        assert!(
            answered > 100,
            "only {answered} round trips in 1.5 s next to the garbage"
        );
        assert!(
            slowest < Duration::from_millis(1000),
            "a round trip took {slowest:?}"
        );
        assert!(
            rounds > 10,
            "the garbage sender only managed {rounds} connections"
        );
        assert_eq!(s.client().cmd(&["PING"]), Reply::status("PONG"));
    });
}

/// `HELLO 3` switches a connection to RESP3: the greeting is a map, a missing
/// value is `_`, CONFIG GET answers a map; `HELLO 2` switches back. Newer
/// clients (redis-py 8) speak RESP3 by default.
#[test]
fn hello_3_switches_to_resp3() {
    use std::io::{Read, Write};
    fn exchange(s: &mut std::net::TcpStream, cmd: &[u8], want_prefix: &[u8]) -> Vec<u8> {
        s.write_all(cmd).expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !got.ends_with(b"\r\n") || got.len() < want_prefix.len() {
            let n = s.read(&mut buf).expect("read");
            assert!(
                n > 0 && std::time::Instant::now() < deadline,
                "connection closed"
            );
            got.extend_from_slice(&buf[..n]);
            if got.starts_with(b"%") && !got.windows(7).any(|w| w == b"modules") {
                continue;
            }
            if got.starts_with(b"%") && !got.ends_with(b"*0\r\n") {
                continue;
            }
            break;
        }
        assert!(
            got.starts_with(want_prefix),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        got
    }
    common::for_threads(|s| {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let hello = exchange(&mut c, b"HELLO 3\r\n", b"%7\r\n");
        assert!(
            hello.windows(10).any(|w| w == b"proto\r\n:3\r"),
            "{:?}",
            String::from_utf8_lossy(&hello)
        );
        assert_eq!(exchange(&mut c, b"GET resp3:nosuch\r\n", b"_"), b"_\r\n");
        assert_eq!(
            exchange(&mut c, b"CONFIG GET maxmemory\r\n", b"%1"),
            b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
        );
        exchange(&mut c, b"HELLO 2\r\n", b"*14\r\n");
        assert_eq!(exchange(&mut c, b"GET resp3:nosuch\r\n", b"$"), b"$-1\r\n");
        assert_eq!(
            exchange(&mut c, b"HELLO 4\r\n", b"-"),
            b"-NOPROTO unsupported protocol version\r\n"
        );
    });
}
