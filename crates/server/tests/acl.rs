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

#[test]
fn subscribers_refused_their_channels_are_closed() {
    for_threads(|s| {
        let mut admin = s.client();
        admin.ok(&[
            "ACL",
            "SETUSER",
            "ps",
            "on",
            ">pw",
            "+@all",
            "resetchannels",
            "&foo:1",
            "&bar:*",
        ]);
        // One subscriber per kind, each on a connection of its own (at four
        // threads they land on different threads), and one that keeps a
        // channel the new rules still allow.
        let kinds: [&[&str]; 3] = [
            &["SUBSCRIBE", "foo:1"],
            &["SSUBSCRIBE", "foo:1"],
            &["PSUBSCRIBE", "bar:*"],
        ];
        let mut doomed = Vec::new();
        for (i, cmd) in kinds.iter().enumerate() {
            let mut c = s.client();
            c.ok(&["AUTH", "ps", "pw"]);
            c.ok(&["CLIENT", "SETNAME", &format!("doomed{i}")]);
            c.cmd(cmd);
            doomed.push(c);
        }
        let mut kept = s.client();
        kept.ok(&["AUTH", "ps", "pw"]);
        kept.ok(&["CLIENT", "SETNAME", "kept"]);
        kept.cmd(&["SUBSCRIBE", "foo:1"]);
        // A change that takes nothing away closes nothing.
        admin.ok(&["ACL", "SETUSER", "ps", "&other"]);
        assert_eq!(
            admin
                .cmd(&["CLIENT", "LIST"])
                .as_string()
                .matches("name=doomed")
                .count(),
            3
        );
        admin.ok(&["ACL", "SETUSER", "ps", "resetchannels", "&foo:1"]);
        // SSUBSCRIBE foo:1 and SUBSCRIBE foo:1 stay; the pattern goes.
        let list = admin.cmd(&["CLIENT", "LIST"]).as_string();
        assert!(!list.contains("name=doomed2"), "{list}");
        assert!(
            list.contains("name=doomed0") && list.contains("name=kept"),
            "{list}"
        );
        doomed[2].expect_reply_and_close(b"");
        admin.ok(&["ACL", "SETUSER", "ps", "resetchannels"]);
        let list = admin.cmd(&["CLIENT", "LIST"]).as_string();
        assert!(
            !list.contains("name=doomed") && !list.contains("name=kept"),
            "{list}"
        );
        doomed[0].expect_reply_and_close(b"");
        doomed[1].expect_reply_and_close(b"");
        kept.expect_reply_and_close(b"");
    });
}

#[test]
fn rules_redis_refuses_and_denials_logged_once() {
    for_threads(|s| {
        let mut c = s.client();
        let err = |c: &mut common::Client, rule: &str| c.err(&["ACL", "SETUSER", "n", rule]);
        assert_eq!(
            err(&mut c, "+config|get|appendonly"),
            "ERR Error in ACL SETUSER modifier '+config|get|appendonly': Allowing first-arg of a subcommand is not supported"
        );
        for rule in [
            "+get|key1|key2",
            "-get|key1|key2",
            "-select|0",
            "+config|asdf",
            "-config|asdf",
        ] {
            assert_eq!(
                err(&mut c, rule),
                format!("ERR Error in ACL SETUSER modifier '{rule}': Unknown command or category name in ACL")
            );
        }
        c.ok(&["ACL", "SETUSER", "n", "allchannels"]);
        assert_eq!(
            err(&mut c, "&test"),
            "ERR Error in ACL SETUSER modifier '&test': Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
        );
        assert_eq!(
            c.err(&["ACL", "CAT", "a", "b"]),
            "ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP."
        );
        // +cmd after -cmd, and -cmd after +cmd, leave no trace in the rules.
        c.ok(&["ACL", "SETUSER", "r", "+@hash", "-hset", "+hset"]);
        c.ok(&["ACL", "SETUSER", "r2", "+get", "-get"]);
        let list = c.cmd(&["ACL", "LIST"]).as_strings();
        assert!(
            list.contains(&"user r off resetchannels -@all +@hash".to_string()),
            "{list:?}"
        );
        assert!(
            list.contains(&"user r2 off resetchannels -@all".to_string()),
            "{list:?}"
        );
        // MEMORY's subcommands are rules of their own.
        c.ok(&[
            "ACL",
            "SETUSER",
            "m",
            "on",
            "nopass",
            "+@all",
            "-memory|doctor",
        ]);
        let mut m = s.client();
        m.ok(&["AUTH", "m", "x"]);
        assert_eq!(
            m.err(&["MEMORY", "DOCTOR"]),
            "NOPERM this user has no permissions to run the 'memory|doctor' command"
        );
        assert_eq!(m.cmd(&["MEMORY", "STATS"]).as_array().len() % 2, 0);
        // Each denial counts once in ACL LOG.
        c.ok(&["ACL", "SETUSER", "d", "on", "nopass", "~*", "+@all", "-get"]);
        c.ok(&["ACL", "LOG", "RESET"]);
        let mut d = s.client();
        d.ok(&["AUTH", "d", "x"]);
        for _ in 0..3 {
            d.err(&["GET", "k"]);
        }
        let log = c.cmd(&["ACL", "LOG"]);
        let entry = log.as_array()[0].as_array();
        assert_eq!(entry[0], Reply::bulk("count"));
        assert_eq!(entry[1], Reply::int(3));
    });
}

#[test]
fn sort_patterns_need_every_key_readable() {
    for_threads(|s| {
        let mut c = s.client();
        c.cmd(&["SET", "v1", "1"]);
        c.cmd(&["LPUSH", "mylist", "1"]);
        let mut u = s.client();
        c.ok(&[
            "ACL",
            "SETUSER",
            "srt",
            "on",
            "nopass",
            "(+sort ~mylist ~v*)",
        ]);
        u.ok(&["AUTH", "srt", "x"]);
        assert_eq!(
            u.err(&["SORT", "mylist", "BY", "v*"]),
            "ERR BY option of SORT denied due to insufficient ACL permissions."
        );
        assert_eq!(
            u.err(&["SORT", "mylist", "GET", "v*"]),
            "ERR GET option of SORT denied due to insufficient ACL permissions."
        );
        // BY without `*` does not sort, and reads no other key.
        assert_eq!(
            u.cmd(&["SORT", "mylist", "BY", "nosort"]),
            Reply::bulks(&["1"])
        );
        c.ok(&["ACL", "SETUSER", "srt", "(+sort ~mylist %W~*)"]);
        assert!(u
            .err(&["SORT", "mylist", "BY", "v*"])
            .starts_with("ERR BY option"));
        c.ok(&["ACL", "SETUSER", "srt", "(+sort ~mylist %R~*)"]);
        assert_eq!(u.cmd(&["SORT", "mylist", "BY", "v*"]), Reply::bulks(&["1"]));
    });
}

#[test]
fn acl_load_replaces_users_and_closes_their_connections() {
    let dir = common::scratch_dir("acl-load");
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user alice on >a ~* +@all\nuser default on nopass ~* &* +@all\n",
    )
    .unwrap();
    let conf = format!("aclfile {}\n", file.display());
    for_threads_with(&[], Some(&conf), |s| {
        let mut admin = s.client();
        let mut alice = s.client();
        alice.ok(&["AUTH", "alice", "a"]);
        admin.ok(&["ACL", "LOAD"]);
        // Every user but default is new: alice's connection is closed
        // although her rules did not change, and default's stays.
        alice.send(b"PING\r\n");
        alice.expect_reply_and_close(b"");
        assert_eq!(admin.cmd(&["PING"]), Reply::status("PONG"));
        // A file naming a user twice is refused whole.
        std::fs::write(
            &file,
            "user alice on >a ~* +@all\nuser bob on nopass +@all\nuser alice on nopass -@all\n",
        )
        .unwrap();
        let e = admin.err(&["ACL", "LOAD"]);
        assert!(e.contains("Duplicate user 'alice' found"), "{e}");
        assert_eq!(
            admin.cmd(&["ACL", "USERS"]).as_strings(),
            ["alice", "default"]
        );
        std::fs::write(
            &file,
            "user alice on >a ~* +@all\nuser default on nopass ~* &* +@all\n",
        )
        .unwrap();
    });
}

#[test]
fn config_users_start_from_reset_and_may_not_repeat() {
    // `user default` in the config file resets the default user first:
    // with acl-pubsub-default resetchannels (7.0's default) it has no
    // channels unless the line gives some.
    for_threads_with(&[], Some("user default on nopass ~* +@all\n"), |s| {
        let mut c = s.client();
        assert!(c.err(&["SUBSCRIBE", "foo"]).starts_with("NOPERM"));
    });
    let dir = common::scratch_dir("acl-dup");
    let conf = dir.join("dup.conf");
    std::fs::write(&conf, "user foo on nopass\nuser foo off\n").unwrap();
    let out = common::run_tessera(
        &[
            "--port",
            &common::free_port().to_string(),
            "--config",
            conf.to_str().unwrap(),
        ],
        std::time::Duration::from_secs(5),
    );
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("Duplicate user 'foo' found"), "{text}");
}
