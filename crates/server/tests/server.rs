//! The process itself: flags, config files (including the shipped `config/tessera.conf`),
//! errors at startup, a port already in use, `timeout` and `maxclients`, and clean
//! shutdown on SIGTERM / SIGINT.
//!
//! Tessera-only (skipped with `TESSERA_TEST_AGAINST_REDIS=1`): bad flags, bad config
//! lines, a second server on the same port. The rest holds for redis-server as well.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::{
    eventually, for_threads_with, info_field, run_tessera, scratch_dir, skip_against_redis, Client,
    Reply, Server,
};

/// The default config file shipped in the repository.
const SHIPPED_CONFIG: &str = include_str!("../../../config/tessera.conf");

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn first_line(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// Runs tessera-server expecting it to refuse to start: non-zero exit within 10 s, an
/// error on stderr, no panic. Returns stderr.
fn refuses(args: &[&str]) -> String {
    let out = run_tessera(args, Duration::from_secs(10));
    let err = stderr_of(&out);
    assert!(
        !out.status.success(),
        "tessera-server {args:?} exited with {} (stderr: {err})",
        out.status
    );
    assert!(
        out.status.code().is_some(),
        "tessera-server {args:?} died by a signal: {}",
        out.status
    );
    assert!(
        !err.contains("panicked"),
        "tessera-server {args:?} panicked:\n{err}"
    );
    assert!(
        !first_line(&err).is_empty(),
        "tessera-server {args:?} said nothing on stderr"
    );
    err
}

#[test]
fn bad_flags_exit_with_an_error() {
    if skip_against_redis("flag parsing") {
        return;
    }
    for (args, mention) in [
        (&["--no-such-flag"][..], "--no-such-flag"),
        (&["--port", "abc"], "abc"),
        (&["--port", "70000"], "70000"),
        (&["--threads", "many"], "many"),
        (&["--loglevel", "chatty"], "chatty"),
    ] {
        let err = refuses(args);
        assert!(
            first_line(&err).contains(mention),
            "{args:?}: the first line should name {mention:?}:\n{err}"
        );
    }
}

#[test]
fn bad_config_lines_name_file_and_line() {
    if skip_against_redis("config file errors") {
        return;
    }
    let dir = scratch_dir("badconf");
    for (contents, line) in [
        ("port 6379\n# a comment\n\nno-such-option yes\n", 4),
        ("port 6379\ndatabases many\n", 2),
        ("port notaport\n", 1),
        ("bind 127.0.0.1\nmaxclients\n", 2),
        ("loglevel notice\nproto-max-bulk-len 12xb\n", 2),
    ] {
        let path = dir.join(format!("bad{line}.conf"));
        std::fs::write(&path, contents).unwrap();
        let path = path.to_str().unwrap();
        let err = refuses(&["--config", path]);
        let named = err.lines().any(|l| {
            l.contains(path)
                && (l.contains(&format!(":{line}")) || l.contains(&format!("line {line}")))
        });
        assert!(
            named,
            "config {contents:?}: want one line naming {path} and line {line}, got:\n{err}"
        );
    }
    let missing = dir.join("missing.conf");
    let missing = missing.to_str().unwrap();
    let err = refuses(&["--config", missing]);
    assert!(
        err.contains(missing),
        "a missing config file should be named:\n{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn second_server_on_the_same_port_refuses_to_start() {
    if skip_against_redis("SO_REUSEPORT detection") {
        return;
    }
    let first = Server::start(2);
    let port = first.port.to_string();
    let mut c = first.client();
    c.ok(&["SET", "owner", "first"]);
    let err = refuses(&["--port", &port, "--bind", "127.0.0.1", "--threads", "1"]);
    assert!(
        err.contains(&port) || err.to_lowercase().contains("in use"),
        "the error should say the port is in use:\n{err}"
    );
    // Every new connection still lands on the first server.
    for _ in 0..20 {
        assert_eq!(first.client().cmd(&["GET", "owner"]), Reply::bulk("first"));
    }

    // A port held by another program.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let err = refuses(&["--port", &port, "--bind", "127.0.0.1", "--threads", "1"]);
    assert!(
        err.contains(&port) || err.to_lowercase().contains("in use"),
        "{err}"
    );
}

fn shuts_down_cleanly(signal: i32, threads: usize) {
    let mut s = Server::start(threads);
    let mut c = s.client();
    c.ok(&["SET", "k", "v"]);
    let _idle = s.client();
    let t = Instant::now();
    let status = s.signal_and_wait(signal, Duration::from_secs(5));
    let status = status.unwrap_or_else(|| panic!("still running 5 s after signal {signal}"));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after signal {signal}: {status}"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(!s.is_running());
}

#[test]
fn sigterm_exits_cleanly() {
    shuts_down_cleanly(libc::SIGTERM, 1);
    shuts_down_cleanly(libc::SIGTERM, 4);
}

#[test]
fn sigint_exits_cleanly() {
    shuts_down_cleanly(libc::SIGINT, 1);
    shuts_down_cleanly(libc::SIGINT, 4);
}

/// A server restarts on the port of one that just exited, with connections it closed
/// itself still in TIME_WAIT (as Redis does, thanks to SO_REUSEADDR).
#[test]
fn restart_on_the_same_port_right_away() {
    for threads in [1, 2] {
        let mut first = Server::start(threads);
        let port = first.port;
        let mut clients: Vec<Client> = (0..8).map(|_| first.client()).collect();
        for c in &mut clients {
            c.ok(&["SET", "k", "v"]);
        }
        let status = first.signal_and_wait(libc::SIGTERM, Duration::from_secs(5));
        assert!(status.is_some(), "the first server did not exit on SIGTERM");
        drop(clients);
        let second = Server::start_on_port(port, threads);
        assert_eq!(second.client().cmd(&["PING"]), Reply::status("PONG"));
    }
}

/// The shipped default config starts a working server (the harness's `--port` overrides
/// the file's port, as flags override the file).
#[test]
fn shipped_config_file_works() {
    for_threads_with(&[], Some(SHIPPED_CONFIG), |s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "port"]),
            Reply::bulks(&["port", &s.port.to_string()])
        );
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "databases"]),
            Reply::bulks(&["databases", "16"])
        );
        assert_eq!(
            c.cmd(&["CONFIG", "GET", "maxclients"]),
            Reply::bulks(&["maxclients", "10000"])
        );
    });
}

/// Options from a config file apply; command-line flags win over the file.
#[test]
fn config_file_options_and_flag_overrides() {
    let config =
        "# a comment\n\nport 1\nrequirepass fromfile\ndatabases 8\nloglevel warning\nhz 10\n";
    for_threads_with(
        &["--requirepass", "fromflag", "--loglevel", "notice"],
        Some(config),
        |s| {
            let mut c = s.client();
            assert_eq!(
                c.err(&["AUTH", "fromfile"]),
                "WRONGPASS invalid username-password pair or user is disabled."
            );
            c.ok(&["AUTH", "fromflag"]);
            assert_eq!(
                c.cmd(&["CONFIG", "GET", "databases"]),
                Reply::bulks(&["databases", "8"])
            );
            assert_eq!(
                c.cmd(&["CONFIG", "GET", "loglevel"]),
                Reply::bulks(&["loglevel", "notice"])
            );
            assert_eq!(
                c.cmd(&["CONFIG", "GET", "port"]),
                Reply::bulks(&["port", &s.port.to_string()])
            );
        },
    );
}

/// `timeout N` closes clients idle for more than N seconds, and only those.
#[test]
fn timeout_closes_idle_clients() {
    for_threads_with(&[], Some("timeout 1\n"), |s| {
        let mut idle = s.client();
        let mut busy = s.client();
        assert_eq!(idle.cmd(&["PING"]), Reply::status("PONG"));
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(2500) {
            assert_eq!(
                busy.cmd(&["PING"]),
                Reply::status("PONG"),
                "a busy client was closed"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        idle.set_timeout(Duration::from_secs(3));
        let got = idle.read_to_close();
        assert!(
            got.is_empty(),
            "unexpected bytes before the idle close: {:?}",
            String::from_utf8_lossy(&got)
        );
    });
}

/// `maxclients N`: connection N+1 gets Redis's error and is closed.
#[test]
fn maxclients_limit() {
    for_threads_with(&[], Some("maxclients 3\n"), |s| {
        let mut first = s.client();
        // Wait until the harness's readiness probe is no longer counted.
        assert!(eventually(Duration::from_secs(3), || {
            let info = first.cmd(&["INFO", "clients"]).as_string();
            info_field(&info, "connected_clients").as_deref() == Some("1")
        }));
        let mut more: Vec<Client> = (0..2).map(|_| s.client()).collect();
        for c in &mut more {
            assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
        }
        let mut refused = s.client();
        let _ = refused.try_send(b"PING\r\n");
        refused.expect_reply_and_close(b"-ERR max number of clients reached\r\n");
        drop(more);
        assert!(eventually(Duration::from_secs(3), || {
            let mut c = s.client();
            c.try_send(b"PING\r\n").is_ok()
                && matches!(c.try_read_reply(), Ok(Some(Reply::Status(_))))
        }));
    });
}
