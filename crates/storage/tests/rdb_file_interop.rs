//! RDB files against a real Redis (7.0 or newer): a file Tessera writes
//! must pass `redis-check-rdb` and load into `redis-server` with every key,
//! type, value and deadline intact; a `dump.rdb` that `redis-server` SAVEs
//! must load through Tessera's reader with the same contents.
//!
//! Each test starts its own `redis-server` on a free port of 127.0.0.1 in
//! a temporary directory, and a guard kills it and removes the directory
//! however the test ends. Without `redis-server` on the PATH the tests
//! print why and pass (CI installs it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use storage::rdb::file::{Aux, Item, Reader, Writer};
use storage::{Hash, List, Set, Value, ZSet};

// ---- what a key holds, comparable across both sides ----

#[derive(Debug, Clone, PartialEq)]
enum Want {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    /// In score order, as ZRANGE gives them.
    ZSet(Vec<(Vec<u8>, f64)>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
}

impl Want {
    fn type_name(&self) -> &'static str {
        match self {
            Want::Str(_) => "string",
            Want::List(_) => "list",
            Want::Set(_) => "set",
            Want::ZSet(_) => "zset",
            Want::Hash(_) => "hash",
        }
    }

    fn of(v: &Value) -> Want {
        match v {
            Value::List(l) => Want::List(l.iter().map(|e| e.to_vec()).collect()),
            Value::Set(s) => Want::Set(s.iter().map(|e| e.to_vec()).collect()),
            Value::ZSet(z) => Want::ZSet(z.iter().map(|(m, s)| (m.to_vec(), s)).collect()),
            Value::Hash(h) => Want::Hash(h.iter().map(|(f, x)| (f.to_vec(), x.to_vec())).collect()),
            other => Want::Str(other.as_str().map(|s| s.to_vec()).unwrap_or_default()),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Want::Str(b) => Value::from_bytes(b),
            Want::List(items) => {
                let mut l = List::new();
                for e in items {
                    l.push_back(e);
                }
                Value::List(Box::new(l))
            }
            Want::Set(items) => {
                let mut s = Set::new();
                for m in items {
                    s.insert(m);
                }
                Value::Set(s)
            }
            Want::ZSet(items) => {
                let mut z = ZSet::new();
                for (m, score) in items {
                    z.insert(m, *score);
                }
                Value::ZSet(z)
            }
            Want::Hash(items) => {
                let mut h = Hash::new();
                for (f, x) in items {
                    h.insert(f, x);
                }
                Value::Hash(h)
            }
        }
    }

    /// Commands that build this value in Redis, in batches.
    fn commands(&self, key: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let head = |cmd: &str| vec![cmd.as_bytes().to_vec(), key.to_vec()];
        let batch = |cmd: &str, args: Vec<Vec<u8>>, per: usize| -> Vec<Vec<Vec<u8>>> {
            args.chunks(per)
                .map(|c| [head(cmd), c.to_vec()].concat())
                .collect()
        };
        match self {
            Want::Str(b) => vec![[head("SET"), vec![b.clone()]].concat()],
            Want::List(items) => batch("RPUSH", items.clone(), 500),
            Want::Set(items) => batch("SADD", items.iter().cloned().collect(), 500),
            Want::ZSet(items) => batch(
                "ZADD",
                items
                    .iter()
                    .flat_map(|(m, s)| [fmt_score(*s).into_bytes(), m.clone()])
                    .collect(),
                1000,
            ),
            Want::Hash(items) => batch(
                "HSET",
                items
                    .iter()
                    .flat_map(|(f, x)| [f.clone(), x.clone()])
                    .collect(),
                1000,
            ),
        }
    }
}

fn fmt_score(s: f64) -> String {
    if s == f64::INFINITY {
        "+inf".into()
    } else if s == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{s:?}")
    }
}

/// One key of the data set: database, key, value, time to live (ms).
struct Key {
    db: u64,
    key: Vec<u8>,
    want: Want,
    ttl_ms: Option<u64>,
}

/// Every type in its small encoding and its large one (past Redis 7.0's
/// default listpack and intset limits, and past one quicklist node),
/// integers of every width, strings that compress and strings that do not,
/// deadlines, three databases.
fn data_set() -> Vec<Key> {
    let mut rng = fastrand::Rng::with_seed(2024);
    let mut noise = |n: usize| -> Vec<u8> { (0..n).map(|_| rng.u8(..)).collect() };
    let b = |s: &str| s.as_bytes().to_vec();
    let mut keys = vec![];
    let mut add = |db: u64, key: &str, want: Want, ttl_ms: Option<u64>| {
        keys.push(Key {
            db,
            key: key.as_bytes().to_vec(),
            want,
            ttl_ms,
        })
    };
    add(0, "str", Want::Str(b("hello")), None);
    add(0, "int8", Want::Str(b("-100")), Some(3_600_000));
    add(0, "int32", Want::Str(b("2000000000")), None);
    add(0, "int64", Want::Str(b("-9223372036854775808")), None);
    add(0, "empty", Want::Str(vec![]), None);
    add(0, "lzf", Want::Str(b(&"abcde".repeat(40_000))), None);
    add(0, "noise", Want::Str(noise(70_000)), Some(7_200_000));
    add(
        0,
        "list_small",
        Want::List(vec![
            b("a"),
            b("1"),
            b("-77777"),
            b("9999999999"),
            noise(30),
        ]),
        None,
    );
    add(
        0,
        "list_big",
        Want::List(
            (0..5000)
                .map(|i| format!("element-{i}").into_bytes())
                .collect(),
        ),
        Some(86_400_000),
    );
    add(
        0,
        "list_huge_elements",
        Want::List(vec![noise(20_000), b(&"z".repeat(50_000)), b("tail")]),
        None,
    );
    add(
        0,
        "intset_small",
        Want::Set(
            [1i64, -5, 300, 70_000, 5_000_000_000]
                .iter()
                .map(|n| b(&n.to_string()))
                .collect(),
        ),
        None,
    );
    add(
        0,
        "intset_big",
        Want::Set(
            (0..1000)
                .map(|i| (i * 3 - 500).to_string().into_bytes())
                .collect(),
        ),
        None,
    );
    add(
        0,
        "set_small",
        Want::Set([b("x"), b("y"), b("zz")].into()),
        None,
    );
    add(
        1,
        "set_big",
        Want::Set(
            (0..700)
                .map(|i| format!("member:{i}").into_bytes())
                .collect(),
        ),
        Some(60_000),
    );
    let mut zsmall = vec![
        (b("-inf"), f64::NEG_INFINITY),
        (b("neg"), -2.5),
        (b("zero"), 0.0),
        (b("tenth"), 0.1),
        (b("big"), 1e300),
        (b("inf"), f64::INFINITY),
    ];
    zsmall.sort_by(|a, b| a.1.total_cmp(&b.1));
    add(1, "zset_small", Want::ZSet(zsmall), None);
    add(
        1,
        "zset_big",
        Want::ZSet(
            (0..500)
                .map(|i| (format!("m{i:04}").into_bytes(), f64::from(i) * 0.5))
                .collect(),
        ),
        None,
    );
    add(
        5,
        "hash_small",
        Want::Hash([(b("f1"), b("v1")), (b("n"), b("42")), (b("e"), vec![])].into()),
        Some(600_000),
    );
    add(
        5,
        "hash_big",
        Want::Hash(
            (0..1000)
                .map(|i| {
                    (
                        format!("field{i}").into_bytes(),
                        format!("{}", i * i).into_bytes(),
                    )
                })
                .collect(),
        ),
        None,
    );
    add(
        5,
        "hash_long_value",
        Want::Hash([(b("f"), b(&"q".repeat(300)))].into()),
        None,
    );
    add(5, "12345", Want::Str(b("integer-looking key")), None);
    keys
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ---- a redis-server of our own ----

fn have(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A fresh directory under the system's temporary one, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tessera-rdb-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running redis-server, killed on drop.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, dbfilename: &str) -> Server {
        Server::start_with(dir, dbfilename, &[])
    }

    fn start_with(dir: &Path, dbfilename: &str, extra: &[&str]) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.join("redis.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args([
                "--dbfilename",
                dbfilename,
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--enable-debug-command", "yes", "--protected-mode", "no"])
            .args(extra)
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let mut s = Server { child, port, log };
        s.wait_ready();
        s
    }

    /// Until it answers PING (it refuses with -LOADING while loading).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server exited ({status}):\n{}", self.log_text());
            }
            if let Ok(mut c) = Client::connect(self.port) {
                if c.cmd(&["PING"]) == Reply::Simple("PONG".into()) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server not ready:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn client(&self) -> Client {
        Client::connect(self.port).expect("connect")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- a minimal RESP2 client ----

#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b.clone(),
            Reply::Simple(s) => s.clone().into_bytes(),
            other => panic!("not a string: {other:?}"),
        }
    }

    fn items(&self) -> Vec<Vec<u8>> {
        match self {
            Reply::Array(Some(a)) => a.iter().map(Reply::bytes).collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    fn int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("not an integer: {other:?}"),
        }
    }
}

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    fn cmd(&mut self, args: &[&str]) -> Reply {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.cmd_bytes(&args)
    }

    fn cmd_bytes(&mut self, args: &[Vec<u8>]) -> Reply {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out).expect("send");
        self.read_reply()
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).expect("reply line");
        l.trim_end_matches("\r\n").to_string()
    }

    fn read_reply(&mut self) -> Reply {
        let l = self.line();
        let (kind, rest) = l.split_at(1);
        let n = || rest.parse::<i64>().expect("length");
        match kind {
            "+" => Reply::Simple(rest.into()),
            "-" => Reply::Error(rest.into()),
            ":" => Reply::Int(n()),
            "$" if n() < 0 => Reply::Bulk(None),
            "$" => {
                let mut b = vec![0; n() as usize + 2];
                self.r.read_exact(&mut b).expect("bulk");
                b.truncate(b.len() - 2);
                Reply::Bulk(Some(b))
            }
            "*" if n() < 0 => Reply::Array(None),
            "*" => Reply::Array(Some((0..n()).map(|_| self.read_reply()).collect())),
            _ => panic!("bad reply line {l:?}"),
        }
    }

    /// What Redis holds at `key` (in the selected database).
    fn fetch(&mut self, key: &[u8], ty: &str) -> Want {
        let k = key.to_vec();
        let c = |cmd: &str| cmd.as_bytes().to_vec();
        match ty {
            "string" => Want::Str(self.cmd_bytes(&[c("GET"), k]).bytes()),
            "list" => Want::List(self.cmd_bytes(&[c("LRANGE"), k, c("0"), c("-1")]).items()),
            "set" => Want::Set(
                self.cmd_bytes(&[c("SMEMBERS"), k])
                    .items()
                    .into_iter()
                    .collect(),
            ),
            "zset" => {
                let flat = self
                    .cmd_bytes(&[c("ZRANGE"), k, c("0"), c("-1"), c("WITHSCORES")])
                    .items();
                Want::ZSet(
                    flat.chunks(2)
                        .map(|p| {
                            let s = String::from_utf8_lossy(&p[1])
                                .parse::<f64>()
                                .expect("score");
                            (p[0].clone(), s)
                        })
                        .collect(),
                )
            }
            "hash" => {
                let flat = self.cmd_bytes(&[c("HGETALL"), k]).items();
                Want::Hash(
                    flat.chunks(2)
                        .map(|p| (p[0].clone(), p[1].clone()))
                        .collect(),
                )
            }
            other => panic!("unexpected type {other}"),
        }
    }
}

fn skip_without_redis(test: &str) -> bool {
    if have("redis-server") {
        return false;
    }
    println!("{test}: skipped, redis-server is not installed");
    true
}

const FUNCTION_LIB: &str =
    "#!lua name=tessera_lib\nredis.register_function('tessera_f', function() return 7 end)";

#[test]
fn redis_loads_what_tessera_writes() {
    if skip_without_redis("redis_loads_what_tessera_writes") {
        return;
    }
    let dir = TempDir::new();
    let keys = data_set();
    let written_at = now_ms();

    let path = dir.0.join("tessera.rdb");
    let file = std::fs::File::create(&path).expect("create");
    let aux = Aux {
        ctime: written_at / 1000,
        used_mem: 1 << 20,
        aof_base: false,
        no_checksum: false,
    };
    let mut w = Writer::new(std::io::BufWriter::new(file), &aux).expect("header");
    w.function(FUNCTION_LIB.as_bytes()).expect("function");
    let dbs: BTreeSet<u64> = keys.iter().map(|k| k.db).collect();
    for &db in &dbs {
        let mine: Vec<&Key> = keys.iter().filter(|k| k.db == db).collect();
        let expires = mine.iter().filter(|k| k.ttl_ms.is_some()).count();
        w.select_db(db, mine.len() as u64, expires as u64)
            .expect("select");
        for k in mine {
            let at = k.ttl_ms.map(|t| written_at + t);
            w.key(&k.key, &k.want.to_value(), at).expect("key");
        }
    }
    w.finish().expect("finish").into_inner().expect("flush");

    if have("redis-check-rdb") {
        let out = Command::new("redis-check-rdb")
            .arg(&path)
            .output()
            .expect("run redis-check-rdb");
        let text = String::from_utf8_lossy(&out.stdout);
        println!("redis-check-rdb:\n{text}");
        assert!(out.status.success(), "redis-check-rdb failed:\n{text}");
        assert!(text.contains("RDB looks OK"), "{text}");
    } else {
        println!("redis-check-rdb not installed: check skipped");
    }

    let server = Server::start(&dir.0, "tessera.rdb");
    let mut c = server.client();
    assert_eq!(c.cmd(&["FCALL", "tessera_f", "0"]), Reply::Int(7));
    for &db in &dbs {
        assert_eq!(
            c.cmd(&["SELECT", &db.to_string()]),
            Reply::Simple("OK".into())
        );
        let mine: Vec<&Key> = keys.iter().filter(|k| k.db == db).collect();
        assert_eq!(c.cmd(&["DBSIZE"]).int(), mine.len() as i64, "db {db}");
        for k in mine {
            let name = String::from_utf8_lossy(&k.key).into_owned();
            let ty = c.cmd_bytes(&[b"TYPE".to_vec(), k.key.clone()]).bytes();
            assert_eq!(ty, k.want.type_name().as_bytes(), "{name}");
            assert_eq!(c.fetch(&k.key, k.want.type_name()), k.want, "{name}");
            let pttl = c.cmd_bytes(&[b"PTTL".to_vec(), k.key.clone()]).int();
            match k.ttl_ms {
                None => assert_eq!(pttl, -1, "{name}"),
                Some(t) => assert!(pttl > 0 && pttl <= t as i64, "{name}: {pttl} of {t}"),
            }
        }
    }
}

#[test]
fn tessera_reads_what_redis_saves() {
    if skip_without_redis("tessera_reads_what_redis_saves") {
        return;
    }
    let dir = TempDir::new();
    let server = Server::start(&dir.0, "dump.rdb");
    let mut c = server.client();
    // Plain quicklist nodes (7.0's type 18 with a PLAIN container) for
    // elements past this size; a Redis without the knob keeps packing.
    let plain = c.cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1000"]);
    println!("DEBUG QUICKLIST-PACKED-THRESHOLD: {plain:?}");
    let ok = Reply::Simple("OK".into());
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", FUNCTION_LIB]),
        Reply::Bulk(Some(b"tessera_lib".to_vec()))
    );
    let keys = data_set();
    let before = now_ms();
    for k in &keys {
        assert_eq!(c.cmd(&["SELECT", &k.db.to_string()]), ok);
        for cmd in k.want.commands(&k.key) {
            let r = c.cmd_bytes(&cmd);
            assert!(!matches!(r, Reply::Error(_)), "{r:?}");
        }
        if let Some(t) = k.ttl_ms {
            let r = c.cmd_bytes(&[
                b"PEXPIRE".to_vec(),
                k.key.clone(),
                t.to_string().into_bytes(),
            ]);
            assert_eq!(r, Reply::Int(1));
        }
    }
    let after = now_ms();
    // The encodings Redis chose, for the record: each must load.
    for k in &keys {
        c.cmd(&["SELECT", &k.db.to_string()]);
        let enc = c.cmd_bytes(&[b"OBJECT".to_vec(), b"ENCODING".to_vec(), k.key.clone()]);
        println!(
            "{} -> {}",
            String::from_utf8_lossy(&k.key),
            String::from_utf8_lossy(&enc.bytes())
        );
    }
    // Saved three ways: as configured by default, with an LRU idle time
    // before each key, with an LFU counter before each key.
    let path = dir.0.join("dump.rdb");
    for policy in ["noeviction", "allkeys-lru", "allkeys-lfu"] {
        assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory-policy", policy]), ok);
        assert_eq!(c.cmd(&["SAVE"]), ok);
        check_dump(&path, &keys, before, after);
    }
    // And without a checksum (zeros in its place): `rdbchecksum` is fixed
    // at start, so a second server loads the file and saves it again.
    drop(c);
    drop(server);
    let server = Server::start_with(&dir.0, "dump.rdb", &["--rdbchecksum", "no"]);
    assert_eq!(server.client().cmd(&["SAVE"]), ok);
    let bytes = std::fs::read(&path).expect("dump.rdb");
    assert_eq!(bytes[bytes.len() - 8..], [0; 8]);
    check_dump(&path, &keys, before, after);
}

/// Loads `path` with Tessera's reader and compares it with `keys`, set
/// with their deadlines between `before` and `after`.
fn check_dump(path: &Path, keys: &[Key], before: u64, after: u64) {
    let file = std::fs::File::open(path).expect("dump.rdb");
    let mut r = Reader::new(file).expect("header");
    let mut got = BTreeMap::new();
    let mut aux = BTreeMap::new();
    let mut functions = vec![];
    loop {
        match r.next_item().unwrap_or_else(|e| panic!("{e}")) {
            Item::Entry {
                db,
                key,
                value,
                expire_ms,
            } => {
                got.insert((db, key), (Want::of(&value), expire_ms));
            }
            Item::Aux { key, value } => {
                aux.insert(key, value);
            }
            Item::FunctionLib(code) => functions.push(code),
            Item::End => break,
            Item::SelectDb(_) | Item::ResizeDb { .. } => {}
        }
    }
    assert_eq!(r.version(), 10);
    assert!(aux.contains_key(&b"redis-ver"[..]), "{aux:?}");
    assert_eq!(functions, vec![FUNCTION_LIB.as_bytes().to_vec()]);
    assert_eq!(got.len(), keys.len());
    for k in keys {
        let name = String::from_utf8_lossy(&k.key).into_owned();
        let (want, expire) = got
            .get(&(k.db, k.key.clone()))
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(want, &k.want, "{name}");
        match (k.ttl_ms, expire) {
            (None, None) => {}
            (Some(t), Some(at)) => assert!(
                (before + t..=after + t).contains(at),
                "{name}: deadline {at} not in {}..={}",
                before + t,
                after + t
            ),
            other => panic!("{name}: deadline {other:?}"),
        }
    }
}

#[test]
fn a_redis_stream_loads_with_its_groups() {
    if skip_without_redis("a_redis_stream_loads_with_its_groups") {
        return;
    }
    let dir = TempDir::new();
    let server = Server::start(&dir.0, "dump.rdb");
    let mut c = server.client();
    c.cmd(&["SET", "before", "1"]);
    for id in ["1-1", "2-1", "3-1"] {
        assert!(matches!(
            c.cmd(&["XADD", "events", id, "f", "v"]),
            Reply::Bulk(Some(_))
        ));
    }
    c.cmd(&["XDEL", "events", "2-1"]);
    assert_eq!(
        c.cmd(&["XGROUP", "CREATE", "events", "g", "0"]),
        Reply::Simple("OK".into())
    );
    c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "1",
        "STREAMS",
        "events",
        ">",
    ]);
    assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    let file = std::fs::read(dir.0.join("dump.rdb")).expect("dump.rdb");
    let mut r = Reader::new(&file[..]).expect("header");
    let stream = loop {
        match r.next_item() {
            Ok(Item::End) => panic!("no stream in the file"),
            Ok(Item::Entry { key, value, .. }) if key == b"events" => break value,
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    let Value::Stream(s) = stream else {
        panic!("not a stream")
    };
    use storage::stream::StreamId;
    let ids: Vec<String> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, ["1-1", "3-1"]);
    assert_eq!(
        (s.entries_added(), s.max_deleted_id()),
        (3, StreamId::new(2, 1))
    );
    let g = s.group(b"g").expect("group");
    assert_eq!(g.last_id, StreamId::new(1, 1));
    assert_eq!(
        g.pending(StreamId::new(1, 1)).map(|p| p.consumer()),
        Some(&b"alice"[..])
    );
}
