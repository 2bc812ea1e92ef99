//! Config files and settings as Redis 7.0 has them: a stock redis.conf loads, CONFIG
//! GET shows Redis's defaults in Redis's form, CONFIG SET checks values with Redis's
//! reasons; the log speaks Redis's line format; INFO's Errorstats and Cluster sections.
//! Every test but the Tessera-only ones also passes with `TESSERA_TEST_AGAINST_REDIS=1`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const STOCK: &str = "/etc/redis/redis.conf";

/// The stock redis.conf with what a test cannot use changed: no daemon, the log on
/// stdout, pid file and dir in `dir`.
fn stock_config(dir: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(STOCK).ok()?;
    let mut out = String::new();
    for line in text.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let replaced = match name {
            "daemonize" => "daemonize no".to_string(),
            "logfile" => "logfile \"\"".to_string(),
            "pidfile" => format!("pidfile {}", dir.join("redis.pid").display()),
            "dir" => format!("dir {}", dir.display()),
            _ => line.to_string(),
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    Some(out)
}

fn get(c: &mut Client, name: &str) -> Reply {
    c.cmd(&["CONFIG", "GET", name])
}

#[test]
fn stock_redis_conf_loads() {
    let dir = scratch_dir("stock");
    let Some(conf) = stock_config(&dir) else {
        eprintln!("skipped: no {STOCK} on this machine");
        return;
    };
    for_threads_with(&[], Some(&conf), |s| {
        let mut c = s.client();
        assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
        for (name, value) in [
            (
                "client-output-buffer-limit",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            ),
            ("oom-score-adj-values", "0 200 800"),
            ("proc-title-template", "{title} {listen-addr} {server-mode}"),
            ("replica-read-only", "yes"),
            ("slave-read-only", "yes"),
            ("hll-sparse-max-bytes", "3000"),
            ("stream-node-max-entries", "100"),
            ("repl-diskless-sync-delay", "5"),
            ("tcp-backlog", "511"),
            ("acllog-max-len", "128"),
            ("disable-thp", "yes"),
        ] {
            assert_eq!(get(&mut c, name), Reply::bulks(&[name, value]), "{name}");
        }
        let log = s.output();
        for line in [
            "Configuration loaded",
            "Server initialized",
            "Ready to accept connections",
        ] {
            assert!(log.contains(line), "no '{line}' in the log:\n{log}");
        }
        if !s.is_redis {
            let warned: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("accepted but have no effect yet"))
                .collect();
            assert_eq!(warned.len(), 1, "{log}");
            assert!(warned[0].contains("oom-score-adj-values"), "{log}");
        }
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// Redis 7.0's defaults, in CONFIG GET's form.
#[test]
fn defaults_as_redis_shows_them() {
    for_threads(|s| {
        let mut c = s.client();
        for (name, value) in [
            (
                "client-output-buffer-limit",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            ),
            ("latency-tracking-info-percentiles", "50 99 99.9"),
            ("shutdown-on-sigterm", "default"),
            ("unixsocketperm", "0"),
            ("active-defrag-ignore-bytes", "104857600"),
            ("syslog-ident", "redis"),
            ("syslog-facility", "local0"),
            ("cluster-enabled", "no"),
            ("cluster-slave-validity-factor", "10"),
            ("sanitize-dump-payload", "no"),
            ("tracking-table-max-keys", "1000000"),
            ("slowlog-log-slower-than", "10000"),
            ("repl-diskless-load", "disabled"),
        ] {
            assert_eq!(get(&mut c, name), Reply::bulks(&[name, value]), "{name}");
        }
    });
}

/// CONFIG SET checks values as Redis does, with its reasons, and shows what it kept.
#[test]
fn config_set_checks_like_redis() {
    for_threads(|s| {
        let mut c = s.client();
        let fail = |name: &str, why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
        };
        for (name, value, why) in [
            ("maxmemory-policy", "bogus", "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"),
            ("activerehashing", "maybe", "argument must be 'yes' or 'no'"),
            ("active-expire-effort", "11", "argument must be between 1 and 10 inclusive"),
            ("tcp-keepalive", "x", "argument couldn't be parsed into an integer"),
            ("hll-sparse-max-bytes", "-1", "argument must be a memory value"),
            ("oom-score-adj", "bogus", "argument(s) must be one of the following: no, yes, relative, absolute"),
            ("shutdown-on-sigint", "bogus", "argument(s) must be one of the following: default, save, nosave, now, force"),
            ("client-output-buffer-limit", "normal 0 0", "Wrong number of arguments in buffer limit configuration."),
            ("client-output-buffer-limit", "master 0 0 0", "Invalid client class specified in buffer limit configuration."),
            ("client-output-buffer-limit", "pubsub x 0 0", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
            ("latency-tracking-info-percentiles", "50 101", "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"),
            ("loglevel", "nothing", "argument(s) must be one of the following: debug, verbose, notice, warning"),
            ("daemonize", "yes", "can't set immutable config"),
            ("syslog-enabled", "yes", "can't set immutable config"),
            ("disable-thp", "no", "can't set immutable config"),
        ] {
            assert_eq!(c.err(&["CONFIG", "SET", name, value]), fail(name, why), "{name} {value}");
        }
        for (name, value, shown) in [
            (
                "client-output-buffer-limit",
                "pubsub 64mb 16mb 30",
                "normal 0 0 0 slave 268435456 67108864 60 pubsub 67108864 16777216 30",
            ),
            (
                "client-output-buffer-limit",
                "replica 1mb 1mb 0 normal 1 2 3",
                "normal 1 2 3 slave 1048576 1048576 0 pubsub 67108864 16777216 30",
            ),
            ("hll-sparse-max-bytes", "4kb", "4096"),
            ("oom-score-adj", "RELATIVE", "yes"),
            ("shutdown-on-sigterm", "now save", "save now"),
            ("slave-read-only", "no", "no"),
            ("latency-tracking-info-percentiles", "90 99.99", "90 99.99"),
        ] {
            c.ok(&["CONFIG", "SET", name, value]);
            assert_eq!(
                get(&mut c, name),
                Reply::bulks(&[name, shown]),
                "{name} {value}"
            );
        }
        assert_eq!(
            get(&mut c, "replica-read-only"),
            Reply::bulks(&["replica-read-only", "no"])
        );
    });
}

/// INFO counts error replies by their first word, and has Redis's Cluster section.
#[test]
fn info_errorstats_and_cluster() {
    for_threads(|s| {
        let mut c = s.client();
        c.ok(&["CONFIG", "RESETSTAT"]);
        c.err(&["NOSUCHCOMMAND"]);
        c.err(&["SET", "k"]);
        c.ok(&["SET", "k", "v"]);
        c.err(&["LPUSH", "k", "x"]);
        let Reply::Bulk(info) = c.cmd(&["INFO"]) else {
            panic!("INFO is not a bulk");
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        for line in [
            "errorstat_ERR:count=2",
            "errorstat_WRONGTYPE:count=1",
            "total_error_replies:3",
            "# Cluster\r\ncluster_enabled:0",
            "redis_mode:standalone",
            "multiplexing_api:epoll",
            "io_threads_active:0",
        ] {
            assert!(info.contains(line), "no {line:?} in INFO:\n{info}");
        }
        for field in [
            "lru_clock:",
            "executable:",
            "config_file:",
            "mem_fragmentation_ratio:",
            "allocator_allocated:",
            "total_system_memory:",
            "maxmemory_human:",
            "total_net_input_bytes:",
            "expired_stale_perc:",
            "used_cpu_sys_children:",
        ] {
            assert!(info.contains(field), "no {field:?} in INFO");
        }
        c.ok(&["CONFIG", "RESETSTAT"]);
        let Reply::Bulk(info) = c.cmd(&["INFO", "errorstats"]) else {
            panic!("INFO is not a bulk");
        };
        assert_eq!(String::from_utf8_lossy(&info), "# Errorstats\r\n");
    });
}

/// Every log line has Redis's form: `pid:role dd Mon yyyy hh:mm:ss.mmm mark message`.
#[test]
fn log_lines_in_redis_format() {
    let s = Server::start(1);
    s.client().cmd(&["PING"]);
    let log = s.output();
    let pid = s.pid();
    let mut seen = 0;
    for line in log.lines().filter(|l| l.starts_with(&format!("{pid}:"))) {
        let rest = &line[pid.to_string().len() + 1..];
        let b = rest.as_bytes();
        assert!(b.len() > 28, "{line}");
        assert!(matches!(b[0], b'C' | b'M'), "{line}");
        // "C 07 Dec 2026 11:49:46.680 # "
        let stamp = &rest[2..26];
        assert_eq!(&stamp[2..3], " ", "{line}");
        assert_eq!(&stamp[17..18], ":", "{line}");
        assert_eq!(&stamp[20..21], ".", "{line}");
        assert!(matches!(b[27], b'.' | b'-' | b'*' | b'#'), "{line}");
        seen += 1;
    }
    assert!(seen >= 3, "{log}");
    assert!(log.contains(&format!("pid={pid}, just started")), "{log}");
}

/// `daemonize yes`, `pidfile` and `logfile`: the command returns at once, the server
/// runs in the background, writes its pid and its log, and on SHUTDOWN says goodbye as
/// Redis does and removes the pid file.
#[test]
fn daemonize_pidfile_and_logfile() {
    if skip_against_redis("starting the binary by hand") {
        return;
    }
    let dir = scratch_dir("daemon");
    let port = free_port();
    let pidfile = dir.join("t.pid");
    let logfile = dir.join("t.log");
    let conf = dir.join("t.conf");
    std::fs::write(
        &conf,
        format!(
            // Relative paths are relative to `dir`, as in Redis (the process moves there).
            "daemonize yes\nport {port}\nbind 127.0.0.1\ndir {}\npidfile t.pid\nlogfile t.log\nalways-show-logo yes\n",
            dir.display(),
        ),
    )
    .expect("write config");
    let status = Command::new(TESSERA_BIN)
        .arg("--config")
        .arg(&conf)
        .arg("--threads")
        .arg("1")
        .status()
        .expect("run tessera-server");
    assert!(status.success());
    let deadline = Instant::now() + START_TIMEOUT;
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(&pidfile) {
            if let Ok(pid) = text.trim().parse::<u32>() {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break pid;
                }
            }
        }
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut c = Client::connect(port);
    assert_eq!(c.cmd(&["PING"]), Reply::status("PONG"));
    let absolute = std::fs::canonicalize(&dir).expect("canonical dir");
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "dir"]),
        Reply::bulks(&["dir", &absolute.display().to_string()])
    );
    // SHUTDOWN answers nothing: the connection closes as the server exits.
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    std::io::Write::write_all(&mut raw, b"SHUTDOWN\r\n").expect("send SHUTDOWN");
    let deadline = Instant::now() + START_TIMEOUT;
    while pidfile.exists() {
        assert!(Instant::now() < deadline, "the pid file was not removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&logfile).expect("read the log file");
    for line in [
        format!(" PID: {pid}"),
        "Ready to accept connections".to_string(),
        "User requested shutdown...".to_string(),
        "Redis is now ready to exit, bye bye...".to_string(),
    ] {
        assert!(log.contains(&line), "no {line:?} in the log:\n{log}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// CONFIG REWRITE keeps the file's comments, order and unknown lines,
/// writes each changed directive in place (a repeated one as one line)
/// and appends the others; the server restarts into the same settings.
/// Without a file, Redis's error.
#[test]
fn config_rewrite_keeps_the_file_and_writes_the_changes() {
    if common::skip_against_redis("reads the file Tessera was started with") {
        return;
    }
    let conf = "# my settings\nsave 900 1\nsave 300 10\nmaxmemory 1mb\n# end\n";
    let s = Server::start_with(1, &[], Some(conf));
    let mut c = s.client();
    c.ok(&["CONFIG", "SET", "maxmemory", "2mb"]);
    c.ok(&["CONFIG", "SET", "hz", "20"]);
    c.ok(&["CONFIG", "SET", "save", "3600 1 60 5"]);
    c.ok(&["CONFIG", "REWRITE"]);
    let text = std::fs::read_to_string(s.config_path()).expect("config file");
    assert_eq!(
        text,
        "# my settings\nsave 3600 1 60 5\nmaxmemory 2097152\n# end\n# Generated by CONFIG REWRITE\nhz 20\n"
    );
    let plain = Server::start(1);
    assert_eq!(
        plain.client().cmd(&["CONFIG", "REWRITE"]),
        Reply::err("ERR The server is running without a config file")
    );
}
