//! AUTH with `requirepass` (flag or config file): NOAUTH before it, Redis 7.0's
//! WRONGPASS text for a bad password, the limits on unauthenticated frames.
#![allow(clippy::unwrap_used)]

mod common;

use common::{for_threads, for_threads_with, Reply, Server};

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn check_auth_flow(s: &Server, password: &str) {
    let mut c = s.client();
    assert_eq!(c.err(&["PING"]), NOAUTH);
    assert_eq!(c.err(&["GET", "k"]), NOAUTH);
    assert_eq!(c.err(&["SET", "k", "v"]), NOAUTH);
    // Unknown commands and bad arity are reported before authentication is checked.
    assert_eq!(
        c.err(&["NOSUCHCOMMAND"]),
        "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: "
    );
    assert_eq!(
        c.err(&["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(c.err(&["AUTH", "wrong"]), WRONGPASS);
    assert_eq!(c.err(&["AUTH", "default", "wrong"]), WRONGPASS);
    assert_eq!(
        c.err(&["AUTH"]),
        "ERR wrong number of arguments for 'auth' command"
    );
    assert_eq!(c.err(&["GET", "k"]), NOAUTH);
    c.ok(&["AUTH", password]);
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    c.ok(&["SET", "k", "v"]);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));
    // A failed AUTH after a good one does not log the client out.
    assert_eq!(c.err(&["AUTH", "wrong"]), WRONGPASS);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));

    // The two-argument form with the default user.
    let mut c = s.client();
    c.ok(&["AUTH", "default", password]);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::bulk("v"));

    // Inline AUTH, and QUIT needs no authentication.
    let mut c = s.client();
    c.send(format!("AUTH \"{password}\"\r\nGET k\r\n").as_bytes());
    assert_eq!(c.read_reply(), Reply::ok());
    assert_eq!(c.read_reply(), Reply::bulk("v"));
    let mut c = s.client();
    c.send(b"QUIT\r\n");
    c.expect_reply_and_close(b"+OK\r\n");

    // Real clients.
    let mut con = s.conn_auth(password);
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    assert_eq!(
        s.cli(&["--no-auth-warning", "-a", password, "GET", "k"]),
        "v\n"
    );
    assert_eq!(s.cli(&["GET", "k"]).trim_end(), NOAUTH);
}

#[test]
fn requirepass_flag() {
    for_threads_with(&["--requirepass", "s3cret pass"], None, |s| {
        check_auth_flow(s, "s3cret pass")
    });
}

#[test]
fn requirepass_in_config_file() {
    for_threads_with(&[], Some("requirepass fromfile\n"), |s| {
        check_auth_flow(s, "fromfile")
    });
}

#[test]
fn auth_without_requirepass() {
    for_threads(|s| {
        let mut c = s.client();
        assert_eq!(
            c.err(&["AUTH", "foo"]),
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
        );
        assert_eq!(c.err(&["AUTH", "someuser", "foo"]), WRONGPASS);
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    });
}

/// Before AUTH, a client may not declare more than 10 arguments or a bulk over 16 KB
/// (Redis closes the connection with these errors).
#[test]
fn unauthenticated_frames_are_limited() {
    for_threads_with(&["--requirepass", "pw"], None, |s| {
        let mut c = s.client();
        c.send(b"*11\r\n");
        c.expect_reply_and_close(b"-ERR Protocol error: unauthenticated multibulk length\r\n");
        let mut c = s.client();
        c.send(b"*1\r\n$16385\r\n");
        c.expect_reply_and_close(b"-ERR Protocol error: unauthenticated bulk length\r\n");
        // At the limits it is an ordinary (refused) command.
        let mut c = s.client();
        let mut args = vec!["DEL".to_string()];
        args.extend((0..9).map(|i| format!("a{i}")));
        assert_eq!(c.cmd(&args), Reply::err(NOAUTH));
        assert_eq!(
            c.cmd(&["ECHO".to_string(), "x".repeat(16384)]),
            Reply::err(NOAUTH)
        );
        // After AUTH the limits are gone.
        c.ok(&["AUTH", "pw"]);
        let mut mset = vec!["MSET".to_string()];
        for i in 0..20 {
            mset.push(format!("k{i}"));
            mset.push("y".repeat(20_000));
        }
        c.ok(&mset);
        assert_eq!(c.int(&["DBSIZE"]), 20);
    });
}
