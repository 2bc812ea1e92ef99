//! ACL: users, AUTH by user, NOPERM for commands, keys and channels, ACL
//! LOG, the rule strings of ACL LIST and GETUSER, command categories, and
//! connections of a deleted user closing, on every thread.
#![allow(clippy::unwrap_used)]

mod common;

use common::{for_threads, for_threads_with, Reply};

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

#[test]
fn setuser_list_and_errors() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&[
            "ACL",
            "SETUSER",
            "alice",
            "on",
            ">p1",
            "~foo*",
            "%R~bar*",
            "&ch*",
            "+get",
            "+@string",
            "-set",
            "+client|id",
            "-@dangerous",
            "(+set ~x*)",
        ]);
        // Redis orders a user's +cmd/-cmd rules as its rule rewriting
        // gives them: compare the words, not their order.
        let list = c.cmd(&["ACL", "LIST"]).as_strings();
        let words = |l: &str| {
            let mut w: Vec<String> = l.split(' ').map(String::from).collect();
            w.sort();
            w
        };
        assert_eq!(
            words(&list[0]),
            words("user alice on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~foo* %R~bar* resetchannels &ch* -@all +@string -set +client|id (~x* resetchannels -@all +set)")
        );
        assert_eq!(list[1], "user default on nopass ~* &* +@all");
        c.ok(&["ACL", "SETUSER", "t", "reset", "+@all", "-get", "+get"]);
        c.ok(&["ACL", "SETUSER", "t", "reset", "+get", "+@read"]);
        assert_eq!(
            c.cmd(&["ACL", "LIST"]).as_strings()[2],
            "user t off sanitize-payload resetchannels -@all +@read"
        );
        assert_eq!(
            c.err(&["ACL", "SETUSER", "x", "badrule"]),
            "ERR Error in ACL SETUSER modifier 'badrule': Syntax error"
        );
        assert_eq!(
            c.err(&["ACL", "SETUSER", "x", "(+get"]),
            "ERR Unmatched parenthesis in acl selector starting at '(+get'."
        );
        assert_eq!(
            c.err(&["ACL", "SETUSER", "x", "+nosuch"]),
            "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(
            c.err(&["ACL", "SETUSER", "x", "#abc"]),
            "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
        );
        assert_eq!(
            c.err(&["ACL", "DELUSER", "default"]),
            "ERR The 'default' user cannot be removed"
        );
        assert_eq!(
            c.cmd(&["ACL", "USERS"]).as_strings(),
            vec!["alice", "default", "t"]
        );
        assert_eq!(c.cmd(&["ACL", "WHOAMI"]), Reply::bulk("default"));
        assert_eq!(c.cmd(&["ACL", "GENPASS"]).as_string().len(), 64);
        assert_eq!(c.cmd(&["ACL", "GENPASS", "5"]).as_string().len(), 2);
        let user = c.cmd(&["ACL", "GETUSER", "alice"]);
        let Reply::Array(fields) = user else {
            panic!("{user:?}")
        };
        assert_eq!(fields[0], Reply::bulk("flags"));
        assert_eq!(fields[1].as_strings(), vec!["on"]);
        assert_eq!(fields[4], Reply::bulk("commands"));
        assert_eq!(
            words(&fields[5].as_string()),
            words("-@all +@string -set +client|id")
        );
        assert_eq!(fields[7], Reply::bulk("~foo* %R~bar*"));
        assert_eq!(fields[9], Reply::bulk("&ch*"));
        assert_eq!(c.cmd(&["ACL", "GETUSER", "nobody"]), Reply::Nil);
        assert_eq!(
            c.cmd(&["ACL", "DELUSER", "alice", "t", "nobody"]),
            Reply::int(2)
        );
        assert_eq!(
            c.err(&["ACL", "CAT", "nosuch"]),
            "ERR Unknown category 'nosuch'"
        );
        let strings = c.cmd(&["ACL", "CAT", "string"]).as_strings();
        assert!(strings.contains(&"get".to_string()) && !strings.contains(&"hset".to_string()));
    });
}

#[test]
fn auth_by_user_and_noperm() {
    for_threads(|s| {
        let mut admin = s.client();
        admin.ok(&["ACL", "LOG", "RESET"]);
        admin.ok(&[
            "ACL",
            "SETUSER",
            "u",
            "on",
            ">pw",
            "~k*",
            "-@all",
            "+get",
            "+set",
            "+publish",
            "+subscribe",
            "&news*",
            "+acl|whoami",
            "+multi",
            "+exec",
        ]);
        let mut c = s.client();
        assert_eq!(c.err(&["AUTH", "u", "bad"]), WRONGPASS);
        assert_eq!(c.err(&["AUTH", "nouser", "x"]), WRONGPASS);
        c.ok(&["AUTH", "u", "pw"]);
        assert_eq!(c.cmd(&["ACL", "WHOAMI"]), Reply::bulk("u"));
        c.ok(&["SET", "k1", "v"]);
        assert_eq!(c.cmd(&["GET", "k1"]), Reply::bulk("v"));
        assert_eq!(
            c.err(&["GET", "other"]),
            "NOPERM this user has no permissions to access one of the keys used as arguments"
        );
        assert_eq!(
            c.err(&["DEL", "k1"]),
            "NOPERM this user has no permissions to run the 'del' command"
        );
        assert_eq!(
            c.err(&["CLIENT", "ID"]),
            "NOPERM this user has no permissions to run the 'client|id' command"
        );
        assert_eq!(
            c.err(&["PUBLISH", "other", "m"]),
            "NOPERM this user has no permissions to access one of the channels used as arguments"
        );
        assert_eq!(c.cmd(&["PUBLISH", "news1", "m"]), Reply::int(0));
        // Inside MULTI the command is refused when queued.
        c.ok(&["MULTI"]);
        assert_eq!(
            c.err(&["GET", "other"]),
            "NOPERM this user has no permissions to access one of the keys used as arguments"
        );
        assert_eq!(
            c.err(&["EXEC"]),
            "EXECABORT Transaction discarded because of previous errors."
        );
        // CLIENT LIST shows the user; ACL LOG the denials.
        let list = admin.cmd(&["CLIENT", "LIST"]).as_string();
        assert!(list.contains("user=u "), "{list}");
        let log = admin.cmd(&["ACL", "LOG"]);
        let Reply::Array(entries) = log else {
            panic!("{log:?}")
        };
        assert!(entries.len() >= 4, "{entries:?}");
        let Reply::Array(newest) = &entries[0] else {
            panic!("{entries:?}")
        };
        assert_eq!(newest[0], Reply::bulk("count"));
        assert_eq!(newest[1], Reply::int(1));
        let texts: Vec<String> = newest[2..10].iter().map(Reply::as_string).collect();
        assert_eq!(
            texts,
            ["reason", "key", "context", "multi", "object", "other", "username", "u"]
        );
        // DRYRUN.
        assert_eq!(admin.cmd(&["ACL", "DRYRUN", "u", "get", "k2"]), Reply::ok());
        assert_eq!(
            admin.cmd(&["ACL", "DRYRUN", "u", "get", "x"]),
            Reply::bulk("This user has no permissions to access the 'x' key")
        );
        // A deleted user's connections close.
        assert_eq!(admin.cmd(&["ACL", "DELUSER", "u"]), Reply::int(1));
        c.send(b"PING\r\n");
        c.expect_reply_and_close(b"");
    });
}

#[test]
fn requirepass_is_the_default_users_password() {
    for_threads_with(
        &[],
        Some("requirepass secret\nuser bob on >bobpw ~* +@all\n"),
        |s| {
            let mut c = s.client();
            assert_eq!(c.err(&["AUTH", "bob", "x"]), WRONGPASS);
            c.ok(&["AUTH", "bob", "bobpw"]);
            assert_eq!(c.cmd(&["ACL", "WHOAMI"]), Reply::bulk("bob"));
            c.ok(&["AUTH", "secret"]);
            assert_eq!(c.cmd(&["ACL", "WHOAMI"]), Reply::bulk("default"));
            let list = c.cmd(&["ACL", "LIST"]).as_strings();
            assert!(list[1].starts_with("user default on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b "), "{list:?}");
            c.ok(&["CONFIG", "SET", "requirepass", ""]);
            assert_eq!(
                c.cmd(&["ACL", "LIST"]).as_strings()[1],
                "user default on nopass ~* &* +@all"
            );
        },
    );
}

#[test]
fn categories_and_key_flags() {
    for_threads(|s| {
        let mut c = s.client();
        let info = c.cmd(&["COMMAND", "INFO", "get"]);
        let Reply::Array(rows) = info else {
            panic!("{info:?}")
        };
        let Reply::Array(row) = &rows[0] else {
            panic!("{rows:?}")
        };
        assert_eq!(
            row[6],
            Reply::Array(vec![
                Reply::status("@read"),
                Reply::status("@string"),
                Reply::status("@fast")
            ])
        );
        let list = c
            .cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "hyperloglog"])
            .as_strings();
        assert!(
            list.is_empty() || list.iter().all(|n| n.starts_with("pf")),
            "{list:?}"
        );
        let keys = c.cmd(&[
            "COMMAND",
            "GETKEYSANDFLAGS",
            "LMOVE",
            "a",
            "b",
            "LEFT",
            "RIGHT",
        ]);
        assert_eq!(
            keys,
            Reply::Array(vec![
                Reply::Array(vec![
                    Reply::bulk("a"),
                    Reply::Array(vec![
                        Reply::status("RW"),
                        Reply::status("access"),
                        Reply::status("delete")
                    ])
                ]),
                Reply::Array(vec![
                    Reply::bulk("b"),
                    Reply::Array(vec![Reply::status("RW"), Reply::status("insert")])
                ]),
            ])
        );
    });
}

/// A restricted user's queued commands are checked again at EXEC: a rule changed
/// meanwhile refuses that command (logged with context `multi`), the others run.
#[test]
fn exec_checks_queued_commands_again() {
    for_threads(|s| {
        let mut admin = s.client();
        admin.ok(&["ACL", "SETUSER", "bob", "on", "nopass", "~*", "+@all"]);
        let mut c = s.client();
        c.ok(&["AUTH", "bob", "x"]);
        c.ok(&["MULTI"]);
        assert_eq!(c.cmd(&["SET", "k", "1"]), Reply::status("QUEUED"));
        assert_eq!(c.cmd(&["GET", "k"]), Reply::status("QUEUED"));
        admin.ok(&["ACL", "SETUSER", "bob", "-set"]);
        let r = c.cmd(&["EXEC"]);
        let items = r.as_array();
        assert_eq!(
            items[0].as_err(),
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand"
        );
        assert_eq!(items[1], Reply::Nil);
        let log = admin.cmd(&["ACL", "LOG", "1"]);
        let entry = log.as_array()[0].as_array();
        let field = |name: &str| {
            let i = entry
                .iter()
                .position(|f| matches!(f, Reply::Bulk(b) if b == name.as_bytes()))
                .unwrap();
            entry[i + 1].as_string()
        };
        assert_eq!(field("context"), "multi");
        assert_eq!(field("object"), "set");
        assert_eq!(admin.int(&["ACL", "DELUSER", "bob"]), 1);
        admin.ok(&["ACL", "LOG", "RESET"]);
    });
}

/// A `redis.call` the caller may not run fails the script's call and is logged
/// with context `lua`.
#[test]
fn script_calls_run_as_the_caller_and_are_logged() {
    for_threads(|s| {
        let mut admin = s.client();
        admin.ok(&["ACL", "LOG", "RESET"]);
        admin.ok(&[
            "ACL", "SETUSER", "carol", "on", "nopass", "~*", "+@all", "-set",
        ]);
        let mut c = s.client();
        c.ok(&["AUTH", "carol", "x"]);
        let e = c.err(&["EVAL", "return redis.call('set', KEYS[1], '1')", "1", "k"]);
        assert!(
            e.starts_with("ERR The user executing the script can't run this command or subcommand"),
            "{e}"
        );
        let log = admin.cmd(&["ACL", "LOG", "1"]);
        let entry = log.as_array()[0].as_array();
        let field = |name: &str| {
            let i = entry
                .iter()
                .position(|f| matches!(f, Reply::Bulk(b) if b == name.as_bytes()))
                .unwrap();
            entry[i + 1].as_string()
        };
        assert_eq!(field("context"), "lua");
        assert_eq!(field("object"), "set");
        assert_eq!(field("username"), "carol");
        assert_eq!(admin.int(&["ACL", "DELUSER", "carol"]), 1);
        admin.ok(&["ACL", "LOG", "RESET"]);
    });
}
