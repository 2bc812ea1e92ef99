//! The first session a new user types, through the real `redis-cli` and the `redis`
//! crate, plus the connection commands every client sends first (PING, ECHO, QUIT).
#![allow(clippy::unwrap_used)]

mod common;

use common::{for_threads, redis_cli_stdin, Reply};

/// The seed session, one redis-cli invocation per command as in a shell.
#[test]
fn seed_session_through_redis_cli() {
    for_threads(|s| {
        assert_eq!(s.cli(&["FLUSHDB"]), "OK\n");
        assert_eq!(s.cli(&["SET", "greeting", "Hello, World!"]), "OK\n");
        assert_eq!(s.cli(&["GET", "greeting"]), "Hello, World!\n");
        assert_eq!(s.cli(&["EXISTS", "greeting"]), "1\n");
        assert_eq!(s.cli(&["EXISTS", "nosuch"]), "0\n");
        assert_eq!(s.cli(&["DBSIZE"]), "1\n");
    });
}

/// The same session pasted into one redis-cli, quoting as a user types it.
#[test]
fn seed_session_through_redis_cli_stdin() {
    for_threads(|s| {
        let out = redis_cli_stdin(
            s.port,
            "FLUSHDB\nSET greeting \"Hello, World!\"\nGET greeting\nEXISTS greeting\nDEL greeting\nGET greeting\n",
        );
        assert_eq!(out, "OK\nOK\nHello, World!\n1\n1\n\n");
    });
}

/// The same session through the `redis` crate, as an application does it.
#[test]
fn seed_session_through_redis_crate() {
    for_threads(|s| {
        let mut con = s.conn();
        let () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
        let () = redis::cmd("SET")
            .arg("greeting")
            .arg("Hello, World!")
            .query(&mut con)
            .unwrap();
        let v: String = redis::cmd("GET").arg("greeting").query(&mut con).unwrap();
        assert_eq!(v, "Hello, World!");
        let n: i64 = redis::cmd("EXISTS")
            .arg("greeting")
            .query(&mut con)
            .unwrap();
        assert_eq!(n, 1);
        let missing: Option<String> = redis::cmd("GET").arg("nosuch").query(&mut con).unwrap();
        assert_eq!(missing, None);
    });
}

#[test]
fn ping_echo_quit() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
        assert_eq!(c.cmd(&["ping", "hello world"]), Reply::bulk("hello world"));
        assert_eq!(
            c.err(&["PING", "a", "b"]),
            "ERR wrong number of arguments for 'ping' command"
        );
        assert_eq!(c.cmd(&["ECHO", "x\r\ny\0z"]), Reply::bulk("x\r\ny\0z"));
        assert_eq!(c.cmd(&["ECHO", ""]), Reply::bulk(""));
        assert_eq!(
            c.err(&["ECHO"]),
            "ERR wrong number of arguments for 'echo' command"
        );
        assert_eq!(
            c.err(&["echo", "a", "b"]),
            "ERR wrong number of arguments for 'echo' command"
        );
        // Inline form, as telnet users type it.
        c.send(b"PING\r\n");
        assert_eq!(c.read_reply(), Reply::status("PONG"));
        c.send(b"QUIT\r\n");
        c.expect_reply_and_close(b"+OK\r\n");

        let mut c = s.client();
        c.send(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n");
        c.expect_reply_and_close(b"+OK\r\n");
    });
}

#[test]
fn unknown_command_and_arity_errors() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(
            c.err(&["NOSUCHCMD"]),
            "ERR unknown command 'NOSUCHCMD', with args beginning with: "
        );
        assert_eq!(
            c.err(&["nosuchcmd", "a", "b c"]),
            "ERR unknown command 'nosuchcmd', with args beginning with: 'a' 'b c' "
        );
        assert_eq!(
            c.err(&["GET"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            c.err(&["get", "a", "b"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            c.err(&["SET", "k"]),
            "ERR wrong number of arguments for 'set' command"
        );
        assert_eq!(
            c.err(&["MGET"]),
            "ERR wrong number of arguments for 'mget' command"
        );
        assert_eq!(
            c.err(&["DEL"]),
            "ERR wrong number of arguments for 'del' command"
        );
        // The connection is still usable after command errors.
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    });
}
