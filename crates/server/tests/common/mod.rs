//! Shared harness for the integration tests: start a real server, talk to it.
//!
//! # Layout
//!
//! - [`Server`]: a `tessera-server` child process on a free port, waited for until it
//!   answers PING (or NOAUTH), killed on drop. With `TESSERA_TEST_AGAINST_REDIS=1` in the
//!   environment it is a `redis-server` instead, so every behaviour test can be checked
//!   against real Redis 7.0; tests of Tessera-only things call [`skip_against_redis`].
//! - [`Client`]: a raw RESP2 client over a `TcpStream` that sends exact bytes and returns
//!   exact [`Reply`]s (error strings included), with a read timeout so a stalled server
//!   fails a test instead of hanging it.
//! - [`Server::conn`]: a `redis::Connection` from the `redis` crate, as a real app uses.
//! - [`redis_cli`]: runs the real `redis-cli` against a port.
//! - [`for_threads`]: runs a test body at `--threads 1` and `--threads 4` (once against Redis).
//!
//! Each test file includes this module with `mod common;` and uses a subset of it.
#![allow(dead_code, clippy::unwrap_used)]

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Path of the server binary under test, built by Cargo for the integration tests.
pub const TESSERA_BIN: &str = env!("CARGO_BIN_EXE_tessera-server");

/// How long a server may take to start answering PING.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Default read timeout for every client: long enough for a loaded 2-core machine,
/// short enough that a stalled server fails the test quickly.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Thread counts every behaviour test runs at: 1 (everything local) and 4 (cross-shard
/// paths run even on a 2-core machine).
pub const THREADS: [usize; 2] = [1, 4];

/// True when the tests run against a real `redis-server` (`TESSERA_TEST_AGAINST_REDIS=1`).
pub fn against_redis() -> bool {
    std::env::var("TESSERA_TEST_AGAINST_REDIS").is_ok_and(|v| v == "1")
}

/// Returns true (and says so) when the current test checks something only Tessera has,
/// so the caller should `return` early against real Redis.
pub fn skip_against_redis(what: &str) -> bool {
    if against_redis() {
        eprintln!("skipped against redis-server: {what} is Tessera-only");
        true
    } else {
        false
    }
}

/// Runs `body` against a fresh server at each of [`THREADS`] (once against real Redis,
/// where a thread count means nothing).
pub fn for_threads(body: impl Fn(&Server)) {
    for_threads_with(&[], None, body);
}

/// Like [`for_threads`], with extra flags and config file contents for every server.
pub fn for_threads_with(extra: &[&str], config: Option<&str>, body: impl Fn(&Server)) {
    let counts: &[usize] = if against_redis() {
        &THREADS[..1]
    } else {
        &THREADS
    };
    for &threads in counts {
        let server = Server::start_with(threads, extra, config);
        body(&server);
    }
}

/// A port nobody listens on right now: bind port 0, read what the kernel gave, drop it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty scratch directory under the system temp dir (removed by its owner).
pub fn scratch_dir(tag: &str) -> PathBuf {
    let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tessera-test-{}-{tag}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A running server process (Tessera, or redis-server under `TESSERA_TEST_AGAINST_REDIS=1`).
pub struct Server {
    /// The TCP port it listens on (127.0.0.1).
    pub port: u16,
    /// The `--threads` it was started with (meaningless against Redis).
    pub threads: usize,
    /// True when this is a real redis-server.
    pub is_redis: bool,
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
}

impl Server {
    /// Starts a server with `--threads threads` and defaults otherwise.
    pub fn start(threads: usize) -> Server {
        Server::start_with(threads, &[], None)
    }

    /// Starts a server with extra command-line flags (e.g. `["--requirepass", "pw"]`) and
    /// optionally a config file with the given contents (passed as `--config FILE`).
    /// Panics with the server's output if it does not answer within [`START_TIMEOUT`].
    pub fn start_with(threads: usize, extra: &[&str], config: Option<&str>) -> Server {
        // The port is free when picked but could be taken before the server binds it;
        // retry with another port if the server dies at startup.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Server::try_start(free_port(), threads, extra, config) {
                Ok(server) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("server did not start: {last_error}");
    }

    /// Starts a server on a given port (e.g. the port of one that just exited).
    pub fn start_on_port(port: u16, threads: usize) -> Server {
        Server::try_start(port, threads, &[], None)
            .unwrap_or_else(|e| panic!("server did not start on port {port}: {e}"))
    }

    fn try_start(
        port: u16,
        threads: usize,
        extra: &[&str],
        config: Option<&str>,
    ) -> Result<Server, String> {
        let redis = against_redis();
        let dir = scratch_dir("server");
        let log = dir.join("server.log");
        let out = fs::File::create(&log).expect("create server log");
        let err = out.try_clone().expect("clone log handle");

        let mut cmd = if redis {
            redis_command(port, &dir, extra, config)
        } else {
            let mut cmd = Command::new(TESSERA_BIN);
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
            cmd.args(["--threads", &threads.to_string()]);
            if let Some(contents) = config {
                let file = dir.join("tessera.conf");
                fs::write(&file, contents).expect("write config file");
                cmd.arg("--config").arg(&file);
            }
            cmd.args(extra);
            cmd
        };
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;

        let mut server = Server {
            port,
            threads,
            is_redis: redis,
            child: Some(child),
            dir,
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = server.child_mut().try_wait().expect("try_wait") {
                return Err(format!(
                    "{cmd:?} exited with {status} before answering; output:\n{}",
                    server.output()
                ));
            }
            if server.answers_ping() {
                // The port was free when picked; another test's server may
                // have taken it since, and then it is that one answering.
                if !server.is_ours() {
                    return Err(format!("port {port} answered by another server"));
                }
                return Ok(server);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{cmd:?} did not answer PING within {START_TIMEOUT:?}; output:\n{}",
                    server.output()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answering on the port is this one's child: INFO's
    /// `process_id` is its pid (true as well when AUTH is needed to ask).
    fn is_ours(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream
            .write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            .is_err()
        {
            return false;
        }
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        loop {
            let text = String::from_utf8_lossy(&got);
            if text.starts_with("-NOAUTH") {
                return true;
            }
            if let Some(at) = text.find("process_id:") {
                let rest = &text[at + "process_id:".len()..];
                if let Some(end) = rest.find("\r\n") {
                    return rest[..end] == self.pid().to_string();
                }
            }
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// One readiness probe: connect, send PING, expect `+PONG` or `-NOAUTH`.
    fn answers_ping(&self) -> bool {
        let addr = ("127.0.0.1", self.port);
        let Ok(mut stream) = TcpStream::connect(addr) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        while !got.contains(&b'\n') {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got.starts_with(b"+PONG") || got.starts_with(b"-NOAUTH")
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("server child already reaped")
    }

    /// The config file it was started with (`start_with`'s contents).
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("tessera.conf")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("server child already reaped")
            .id()
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A raw RESP client connected to this server.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// A `redis` crate connection to this server.
    pub fn conn(&self) -> redis::Connection {
        self.conn_url(&format!("redis://127.0.0.1:{}/", self.port))
    }

    /// A `redis` crate connection that authenticates with `password`.
    pub fn conn_auth(&self, password: &str) -> redis::Connection {
        self.conn_url(&format!("redis://:{password}@127.0.0.1:{}/", self.port))
    }

    fn conn_url(&self, url: &str) -> redis::Connection {
        let client = redis::Client::open(url).expect("redis client");
        let con = client
            .get_connection_with_timeout(READ_TIMEOUT)
            .unwrap_or_else(|e| panic!("redis connection to {url}: {e}"));
        con.set_read_timeout(Some(READ_TIMEOUT))
            .expect("set_read_timeout");
        con.set_write_timeout(Some(READ_TIMEOUT))
            .expect("set_write_timeout");
        con
    }

    /// Runs `redis-cli -p PORT args...` and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    /// Resident set size of the server process in bytes (from /proc/PID/status).
    pub fn rss_bytes(&self) -> u64 {
        let status =
            fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS line");
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .expect("VmRSS value")
            .parse()
            .expect("VmRSS number");
        kb * 1024
    }

    /// Sends `signal` to the server and waits up to `timeout` for it to exit.
    /// Returns its exit status, or None if it was still running (it is then killed).
    pub fn signal_and_wait(&mut self, signal: i32, timeout: Duration) -> Option<ExitStatus> {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions; pid is our own child.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
        let status = wait_timeout(self.child_mut(), timeout);
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// True while the server process is alive.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let out = self.output();
            let tail: String = out
                .chars()
                .rev()
                .take(4000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            eprintln!(
                "--- server on port {} (threads {}) output tail ---\n{tail}\n---",
                self.port, self.threads
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Flags only Tessera has; they are dropped when the harness starts redis-server.
const TESSERA_ONLY_FLAGS: &[&str] = &["--threads", "--config"];

/// Config lines only Tessera has; dropped from config files given to redis-server.
const TESSERA_ONLY_OPTIONS: &[&str] = &["threads"];

/// The redis-server command line equivalent to a Tessera start: same port, bind address,
/// config contents (in a temp file, the first argument as redis-server wants) and flags
/// (redis-server takes any config option as `--name value`).
fn redis_command(port: u16, dir: &Path, extra: &[&str], config: Option<&str>) -> Command {
    let mut cmd = Command::new("redis-server");
    if let Some(contents) = config {
        let kept: Vec<&str> = contents
            .lines()
            .filter(|l| {
                let name = l.split_whitespace().next().unwrap_or("");
                !TESSERA_ONLY_OPTIONS
                    .iter()
                    .any(|o| o.eq_ignore_ascii_case(name))
            })
            .collect();
        let file = dir.join("redis.conf");
        fs::write(&file, kept.join("\n") + "\n").expect("write redis config");
        cmd.arg(&file);
    }
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
    cmd.args([
        "--save",
        "",
        "--appendonly",
        "no",
        "--enable-debug-command",
        "yes",
    ]);
    cmd.arg("--dir").arg(dir);
    let mut args = extra.iter();
    while let Some(arg) = args.next() {
        if TESSERA_ONLY_FLAGS.contains(arg) {
            args.next();
        } else {
            cmd.arg(arg);
        }
    }
    cmd
}

/// Waits for `child` to exit for at most `timeout`; kills it and returns None on timeout.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the tessera-server binary with `args` to completion (it is expected to exit by
/// itself, e.g. on a bad flag), killing it after `timeout`. Panics on timeout.
pub fn run_tessera(args: &[&str], timeout: Duration) -> Output {
    let dir = scratch_dir("run");
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let mut child = Command::new(TESSERA_BIN)
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("stdout file"))
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn tessera-server");
    let status = wait_timeout(&mut child, timeout);
    let stdout = fs::read(&out_path).unwrap_or_default();
    let stderr = fs::read(&err_path).unwrap_or_default();
    let _ = fs::remove_dir_all(&dir);
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "tessera-server {args:?} still running after {timeout:?}; stderr:\n{}",
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// Runs the real `redis-cli -p PORT args...` and returns its stdout (as redis-cli prints
/// when not on a terminal: raw values, one per line). Panics if it cannot run or fails.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli (apt-get install redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `redis-cli -p PORT` feeding `input` on stdin (one command per line, as a user
/// pastes a session) and returns its stdout.
pub fn redis_cli_stdin(port: u16, input: &str) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redis-cli (apt-get install redis-tools)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write redis-cli stdin");
    let out = child.wait_with_output().expect("redis-cli output");
    assert!(
        out.status.success(),
        "redis-cli failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A RESP2 reply, exactly as the server sent it.
#[derive(Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+...`
    Status(String),
    /// `-...` (the whole line without the `-`, e.g. `ERR syntax error`)
    Error(String),
    /// `:...`
    Int(i64),
    /// `$n` with a payload
    Bulk(Vec<u8>),
    /// `$-1`
    Nil,
    /// `*n`
    Array(Vec<Reply>),
    /// `*-1`
    NilArray,
}

impl Reply {
    /// `+OK`
    pub fn ok() -> Reply {
        Reply::Status("OK".into())
    }
    /// A status reply.
    pub fn status(s: &str) -> Reply {
        Reply::Status(s.into())
    }
    /// An error reply; `s` is the line without the leading `-`.
    pub fn err(s: &str) -> Reply {
        Reply::Error(s.into())
    }
    /// An integer reply.
    pub fn int(n: i64) -> Reply {
        Reply::Int(n)
    }
    /// A bulk string reply.
    pub fn bulk(s: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(s.as_ref().to_vec())
    }
    /// An array of bulk strings.
    pub fn bulks<S: AsRef<[u8]>>(items: &[S]) -> Reply {
        Reply::Array(items.iter().map(Reply::bulk).collect())
    }

    /// The integer, or panic.
    pub fn as_int(&self) -> i64 {
        match self {
            Reply::Int(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }
    /// The bulk payload, or panic.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Reply::Bulk(b) => b,
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }
    /// The bulk payload as UTF-8 (lossy), or panic.
    pub fn as_string(&self) -> String {
        String::from_utf8_lossy(self.as_bytes()).into_owned()
    }
    /// The array items, or panic.
    pub fn as_array(&self) -> &[Reply] {
        match self {
            Reply::Array(items) => items,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }
    /// The array's bulk items as strings, or panic.
    pub fn as_strings(&self) -> Vec<String> {
        self.as_array().iter().map(Reply::as_string).collect()
    }
    /// The error line, or panic.
    pub fn as_err(&self) -> &str {
        match self {
            Reply::Error(e) => e,
            other => panic!("expected an error reply, got {other:?}"),
        }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Status(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Int(n) => write!(f, ":{n}"),
            Reply::Bulk(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Reply::Nil => write!(f, "(nil)"),
            Reply::Array(items) => f.debug_list().entries(items).finish(),
            Reply::NilArray => write!(f, "(nil array)"),
        }
    }
}

/// Encodes one command as a RESP2 multibulk.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A raw RESP2 client: exact bytes out, exact replies in.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to 127.0.0.1:port with [`READ_TIMEOUT`].
    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap_or_else(|e| panic!("connect to {port}: {e}"))
    }

    /// Connects to 127.0.0.1:port with [`READ_TIMEOUT`]; an error if nobody listens.
    pub fn try_connect(port: u16) -> io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    /// Changes the read timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set_read_timeout");
    }

    /// The underlying stream (e.g. to clone it for a reader thread).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Sends raw bytes; an error (the server closed on us) is returned, not a panic.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends one command as a multibulk and returns its reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        self.send(&encode(args));
        self.read_reply()
    }

    /// Sends one command and asserts `+OK`.
    pub fn ok<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let reply = self.cmd(args);
        assert_eq!(reply, Reply::ok(), "{}", show(args));
    }

    /// Sends one command and returns its integer reply.
    pub fn int<A: AsRef<[u8]>>(&mut self, args: &[A]) -> i64 {
        let reply = self.cmd(args);
        match reply {
            Reply::Int(n) => n,
            other => panic!("{}: expected an integer, got {other:?}", show(args)),
        }
    }

    /// Sends one command and returns its error line (panics on any other reply).
    pub fn err<A: AsRef<[u8]>>(&mut self, args: &[A]) -> String {
        match self.cmd(args) {
            Reply::Error(e) => e,
            other => panic!("{}: expected an error, got {other:?}", show(args)),
        }
    }

    /// Reads one complete reply; panics on EOF, timeout or a malformed reply.
    pub fn read_reply(&mut self) -> Reply {
        match self.try_read_reply() {
            Ok(Some(reply)) => reply,
            Ok(None) => panic!(
                "server closed the connection (buffered: {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!(
                "reading a reply: {e} (buffered: {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Reads one complete reply; `Ok(None)` when the server closed the connection first.
    pub fn try_read_reply(&mut self) -> io::Result<Option<Reply>> {
        loop {
            if let Some((reply, used)) = parse_reply(&self.buf)? {
                self.buf.drain(..used);
                return Ok(Some(reply));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Reads more bytes into the buffer; false on EOF (a reset counts as EOF).
    fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads everything until the server closes the connection (within the read timeout)
    /// and returns the bytes received; panics if the server keeps it open.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        loop {
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return std::mem::take(&mut self.buf),
                Err(e) => panic!(
                    "server did not close the connection ({e}); received so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Asserts the server replies exactly `expected` (raw bytes) and then closes.
    pub fn expect_reply_and_close(&mut self, expected: &[u8]) {
        let got = self.read_to_close();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "expected this reply followed by a close"
        );
    }

    /// Half-closes our side (no more requests).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

fn show<A: AsRef<[u8]>>(args: &[A]) -> String {
    args.iter()
        .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Parses one reply from the start of `buf`: `Ok(None)` if incomplete, else the reply and
/// the bytes it used.
pub fn parse_reply(buf: &[u8]) -> io::Result<Option<(Reply, usize)>> {
    let Some(nl) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line =
        std::str::from_utf8(&buf[1..nl]).map_err(|e| bad(format!("non-UTF-8 header: {e}")))?;
    let after = nl + 2;
    let number = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| bad(format!("bad number in reply header {s:?}")))
    };
    match buf.first() {
        Some(b'+') => Ok(Some((Reply::Status(line.into()), after))),
        Some(b'-') => Ok(Some((Reply::Error(line.into()), after))),
        Some(b':') => Ok(Some((Reply::Int(number(line)?), after))),
        Some(b'$') => {
            let len = number(line)?;
            if len < 0 {
                return Ok(Some((Reply::Nil, after)));
            }
            let len = usize::try_from(len).map_err(|_| bad("bulk length".into()))?;
            if buf.len() < after + len + 2 {
                return Ok(None);
            }
            if &buf[after + len..after + len + 2] != b"\r\n" {
                return Err(bad("bulk payload not followed by CRLF".into()));
            }
            Ok(Some((
                Reply::Bulk(buf[after..after + len].to_vec()),
                after + len + 2,
            )))
        }
        Some(b'*') => {
            let n = number(line)?;
            if n < 0 {
                return Ok(Some((Reply::NilArray, after)));
            }
            let mut items = Vec::new();
            let mut pos = after;
            for _ in 0..n {
                match parse_reply(&buf[pos..])? {
                    Some((item, used)) => {
                        items.push(item);
                        pos += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(items), pos)))
        }
        Some(other) => Err(bad(format!(
            "unexpected reply type byte {:?}",
            *other as char
        ))),
        None => Ok(None),
    }
}

/// Parses an INFO reply into (field, value) pairs, skipping `# Section` lines.
pub fn info_fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The value of one INFO field, if present.
pub fn info_field(info: &str, name: &str) -> Option<String> {
    info_fields(info)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A real `redis-server` beside the server under test (interop tests), on a
/// free port with `extra` flags, killed on drop.
pub struct RealRedis {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl RealRedis {
    pub fn start(extra: &[&str]) -> RealRedis {
        let dir = scratch_dir("real-redis");
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server on PATH (apt-get install redis-server)");
            let mut r = RealRedis {
                port,
                child,
                dir: dir.clone(),
            };
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(mut c) = Client::try_connect(port) {
                    let pong = c.cmd(&["PING"]);
                    if pong == Reply::status("PONG")
                        || matches!(&pong, Reply::Error(e) if e.starts_with("NOAUTH"))
                    {
                        return r;
                    }
                }
                if r.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = r.child.kill();
        }
        panic!("redis-server did not start");
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// Kills the server (no save) and starts a fresh one on the same port
    /// with `extra` flags: a master that restarted without persistence
    /// (the dump a disk-based replica sync left is removed first).
    pub fn restart(&mut self, extra: &[&str]) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_file(self.dir.join("dump.rdb"));
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let child = Command::new("redis-server")
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&self.dir)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server on PATH");
            self.child = child;
            let up = Instant::now() + Duration::from_secs(2);
            while Instant::now() < up {
                if let Ok(mut c) = Client::try_connect(self.port) {
                    if c.cmd(&["PING"]) == Reply::status("PONG") {
                        return;
                    }
                }
                if self.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        panic!("redis-server did not restart on port {}", self.port);
    }
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Every key of databases `dbs`, as one string per key (database, key, type,
/// value, whether it has a TTL), read back with ordinary commands so that
/// encodings do not matter: what persistence and AOF tests compare across
/// restarts and servers.
pub fn keys_as_text(c: &mut Client, dbs: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for &db in dbs {
        c.ok(&["SELECT", db]);
        let mut keys = c.cmd(&["KEYS", "*"]).as_strings();
        keys.sort();
        for k in keys {
            let t = match c.cmd(&["TYPE", &k]) {
                Reply::Status(t) => t,
                other => panic!("TYPE: {other:?}"),
            };
            let v = match t.as_str() {
                "string" => format!("{:?}", c.cmd(&["GET", &k])),
                "list" => format!("{:?}", c.cmd(&["LRANGE", &k, "0", "-1"])),
                "set" => {
                    let mut m = c.cmd(&["SMEMBERS", &k]).as_strings();
                    m.sort();
                    format!("{m:?}")
                }
                "zset" => format!("{:?}", c.cmd(&["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                "hash" => {
                    let mut m = c.cmd(&["HGETALL", &k]).as_strings();
                    let mut pairs: Vec<(String, String)> =
                        m.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
                    pairs.sort();
                    m.clear();
                    format!("{pairs:?}")
                }
                // Entries, then the metadata and groups (the radix tree's
                // shape is the server's own business).
                "stream" => {
                    let entries = c.cmd(&["XRANGE", &k, "-", "+"]);
                    let info = c.cmd(&["XINFO", "STREAM", &k, "FULL"]);
                    let fields: Vec<Reply> = info
                        .as_array()
                        .chunks(2)
                        .filter(|p| !p[0].as_string().starts_with("radix-tree"))
                        .flat_map(|p| p.to_vec())
                        .collect();
                    format!("{entries:?} {fields:?}")
                }
                other => panic!("unexpected type {other}"),
            };
            let ttl = c.int(&["PTTL", &k]);
            let ttl = if ttl < 0 { ttl } else { 1 };
            out.push(format!("{db} {k} {t} {v} ttl:{ttl}"));
        }
    }
    c.ok(&["SELECT", "0"]);
    out
}

/// Runs Tessera on a free port with `conf` as its config file (written into
/// `dir`) until it exits (at most 20 s): whether it exited with success, and
/// all it printed. For servers that must refuse to start.
pub fn run_with_config(dir: &Path, conf: &str) -> (bool, String) {
    let conf_file = dir.join("t.conf");
    fs::write(&conf_file, conf).expect("conf");
    let out = run_tessera(
        &[
            "--port",
            &free_port().to_string(),
            "--config",
            &conf_file.display().to_string(),
        ],
        Duration::from_secs(20),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
