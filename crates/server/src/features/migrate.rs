//! MIGRATE: moving keys to another Redis-compatible server without ever
//! losing one.
//!
//! `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
//! [AUTH2 user pw] [KEYS key ...]`, in three steps:
//!
//! 1. **Lock and serialise**, on each owner shard in ascending shard order
//!    (one message that travels from shard to shard): every live key is
//!    locked (`keylock.rs`),
//!    watched (its version catches any write that bypasses the lock) and
//!    DUMPed with its remaining TTL. A key another MIGRATE holds makes the
//!    chain park until that one finishes; ascending order keeps two
//!    migrations from waiting on each other.
//! 2. **Transfer**, on the coordinator thread, with no shard held: AUTH
//!    (if asked), SELECT (only when the db differs from the last one sent
//!    on this connection) and one `RESTORE key ttl payload [REPLACE]` per
//!    key, written as one pipeline, then one reply read per command.
//!    `timeout` bounds each I/O step (connect, each write that makes
//!    progress, each reply), not the whole transfer. Connections are
//!    cached per target on the coordinator thread, reused, and closed
//!    after 10 s idle. A cached connection that fails before any reply
//!    (the target may have closed it) is replaced once, unless it timed
//!    out.
//! 3. **Settle**, on each owner shard: keys the target acknowledged are
//!    deleted unless COPY (and only if no write reached them meanwhile);
//!    every key is unlocked and the commands parked on it run.
//!
//! Outcomes, as Redis: `+OK`; `+NOKEY` when none of the keys exists;
//! `-IOERR ...` on a connect, write or read error or timeout (each key is
//! on the source, and perhaps on the target too); `-ERR Target instance
//! replied with error: ...` (the refused keys stay only on the source).
//! Never on neither side.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use commands::args::parse_i64;
use commands::Error;
use resp::encode;

use crate::client::Client;
use crate::engine::tx::Route;
use crate::engine::worker::{group_by_shard, now_ms, Worker};
use rt::net::TcpStream;

/// Cached connections idle this long are closed (Redis's figure).
const IDLE_CLOSE: Duration = Duration::from_secs(10);
/// At most this many cached connections per thread (as Redis).
const MAX_CACHED: usize = 64;
/// Lists longer than this, and strings bigger than OFFLOAD_BYTES, are
/// serialised off the shard's thread.
const OFFLOAD_ELEMENTS: usize = 64 * 1024;
const OFFLOAD_BYTES: usize = 4 << 20;
/// Payloads at least this big are written from their own buffer.
const BIG_PAYLOAD: usize = 64 * 1024;
/// A reply line longer than this is not a RESTORE/SELECT/AUTH answer.
const MAX_LINE: usize = 64 * 1024;

/// MIGRATE's arguments.
struct Args {
    host: String,
    port: Option<u16>,
    db: i64,
    timeout: Duration,
    copy: bool,
    replace: bool,
    auth: Option<(Option<Vec<u8>>, Vec<u8>)>,
    keys: Vec<Vec<u8>>,
    /// Cluster mode: RESTORE-ASKING, which the target serves for a slot
    /// it is importing, as Redis sends.
    asking: bool,
}

fn parse(argv: &[&[u8]]) -> Result<Args, Error> {
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let mut keys = vec![argv[3].to_vec()];
    let mut j = 6;
    while j < argv.len() {
        let a = argv[j];
        let more = argv.len() - 1 - j;
        if a.eq_ignore_ascii_case(b"copy") {
            copy = true;
        } else if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if a.eq_ignore_ascii_case(b"auth") {
            if more < 1 {
                return Err(Error::Syntax);
            }
            auth = Some((None, argv[j + 1].to_vec()));
            j += 1;
        } else if a.eq_ignore_ascii_case(b"auth2") {
            if more < 2 {
                return Err(Error::Syntax);
            }
            auth = Some((Some(argv[j + 1].to_vec()), argv[j + 2].to_vec()));
            j += 2;
        } else if a.eq_ignore_ascii_case(b"keys") {
            if !argv[3].is_empty() {
                return Err(Error::Static(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = argv[j + 1..].iter().map(|k| k.to_vec()).collect();
            break;
        } else {
            return Err(Error::Syntax);
        }
        j += 1;
    }
    let timeout = parse_i64(argv[5]).ok_or(Error::NotInteger)?;
    let db = parse_i64(argv[4]).ok_or(Error::NotInteger)?;
    // Redis's default for a non-positive timeout; huge ones are capped at
    // ~24 days, which no transfer step will notice.
    let timeout = if timeout <= 0 {
        1000
    } else {
        (timeout as u64).min(i32::MAX as u64)
    };
    // One key named twice moves once.
    let mut seen = std::collections::HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    Ok(Args {
        host: String::from_utf8_lossy(argv[1]).into_owned(),
        port: std::str::from_utf8(argv[2])
            .ok()
            .and_then(|p| p.parse().ok()),
        db,
        timeout: Duration::from_millis(timeout),
        copy,
        replace,
        auth,
        keys,
        asking: false,
    })
}

/// A key serialised on its shard, locked until settled.
struct Moving {
    key: Vec<u8>,
    /// Milliseconds left to live; 0: no expiry.
    ttl: u64,
    payload: Vec<u8>,
    /// A copy of a big value, serialised off the shard's thread (the
    /// payload is empty until then).
    copy: Option<storage::Value>,
    /// Its WATCH version when serialised.
    version: u64,
}

/// Locks and serialises the live ones of `keys` on this shard; if one is
/// locked by another migration, locks nothing and names it.
fn lock_and_dump(w: &Worker, db: usize, keys: &[Vec<u8>]) -> Result<Vec<Moving>, Vec<u8>> {
    if let Some(k) = keys.iter().find(|k| w.is_locked(db, k)) {
        return Err(k.clone());
    }
    let now = now_ms();
    let mut shard = w.shard.borrow_mut();
    let d = &mut shard.ks.dbs[db];
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let Some((v, at)) = d.get_with_expiry(key, now) else {
            continue;
        };
        // A big list or string is copied (memcpy of its packed nodes, a
        // few ms for a million elements) and serialised on another thread
        // (tens of ms), so the shard stalls for the copy only. Hashes,
        // sets and sorted sets would cost as much to copy as to serialise.
        let big = match &*v {
            storage::Value::List(l) => l.len() > OFFLOAD_ELEMENTS,
            other => other.as_str().is_some_and(|s| s.len() > OFFLOAD_BYTES),
        };
        let (payload, copy) = if big {
            (Vec::new(), Some(v.clone()))
        } else {
            (storage::rdb::dump(v), None)
        };
        let ttl = at.map_or(0, |at| at.saturating_sub(now).max(1));
        let version = d.watch(key, now);
        w.lock_key(db, key);
        out.push(Moving {
            key: key.clone(),
            ttl,
            payload,
            copy,
            version,
        });
    }
    Ok(out)
}

/// Step 1 on its way along the shards, ascending: each shard locks and
/// serialises its keys and passes the chain on; the last answers the
/// coordinator. One message per shard instead of a round trip per shard.
struct DumpChain {
    db: usize,
    /// The transaction this MIGRATE runs in (inside EXEC), or 0.
    tx: u64,
    /// The coordinator's thread and the slot the answer goes to.
    from: usize,
    slot: u32,
    todo: std::collections::VecDeque<(usize, Vec<Vec<u8>>)>,
    done: Vec<(usize, Vec<Moving>)>,
}

impl DumpChain {
    /// Takes the chain to its next shard (inline when that is this one).
    fn go(self, w: &Worker) {
        let Some(&(next, _)) = self.todo.front() else {
            w.router
                .respond(self.from, self.slot, Box::new((self.done, false)));
            return;
        };
        w.pass_to(next, self.tx, move |w| self.visit(w));
    }

    /// Locks and serialises this shard's keys, or waits (parked on the
    /// key, keeping the locks taken on lower shards: every migration locks
    /// in ascending order, so none waits for one that waits for it).
    fn visit(mut self, w: &Worker) {
        let Some((shard, keys)) = self.todo.pop_front() else {
            return self.go(w);
        };
        match lock_and_dump(w, self.db, &keys) {
            Ok(m) => {
                if !m.is_empty() {
                    self.done.push((shard, m));
                }
                self.go(w);
            }
            Err(_) if self.tx != 0 => {
                // Inside EXEC the transaction holds the shards the other
                // migration needs to finish: waiting would never end.
                // Answer what was locked so far, marked busy.
                w.router
                    .respond(self.from, self.slot, Box::new((self.done, true)));
            }
            Err(busy) => {
                let db = self.db;
                self.todo.push_front((shard, keys));
                w.park_on(db, &busy, Box::new(move |w: &Worker| self.visit(w)));
            }
        }
    }
}

/// Step 3 on one shard: deletes the acknowledged keys (unless a write
/// reached them since), unwatches and unlocks them all.
fn settle(w: &Worker, db: usize, keys: Vec<(Vec<u8>, u64, bool)>) {
    let now = now_ms();
    {
        let mut shard = w.shard.borrow_mut();
        let d = &mut shard.ks.dbs[db];
        for (key, version, delete) in &keys {
            if *delete && d.watch_version(key, now) == Some(*version) {
                if let Some(v) = d.remove(key, now) {
                    storage::lazyfree::release(v);
                    // Gone from here: the journal says so (a DEL, as
                    // Redis propagates a MIGRATE).
                    crate::engine::journal::record(db, &[b"DEL", key]);
                }
            }
            d.unwatch(key);
        }
    }
    for (key, _, _) in &keys {
        w.unlock_key(db, key);
    }
}

/// MIGRATE, run by the connection's coordinator thread.
pub async fn migrate(
    r: &Route<'_>,
    client: &Client,
    argv: &[&[u8]],
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut a = parse(argv)?;
    a.asking = crate::features::cluster::state(r).enabled();
    let db = client.db;
    let mut groups = group_by_shard(a.keys.iter().cloned(), |k| r.shard_of(k));
    groups.sort_by_key(|g| g.0);

    // 1. Lock and serialise, shard by shard in ascending order.
    let chain = DumpChain {
        db,
        tx: r.tx,
        from: r.id,
        slot: r.router.alloc_slot(),
        todo: groups.into(),
        done: Vec::new(),
    };
    let slot = chain.slot;
    chain.go(r);
    let (mut moving, busy): (Vec<(usize, Vec<Moving>)>, bool) = r
        .router
        .wait(slot)
        .await
        .downcast::<(Vec<(usize, Vec<Moving>)>, bool)>()
        .map(|b| *b)
        .unwrap_or_default();
    if busy {
        settle_all(r, db, moving, &[], false).await;
        return Err(Error::Static(
            "ERR a key is being moved by another MIGRATE; try again",
        ));
    }
    if moving.is_empty() {
        encode::simple(out, b"NOKEY");
        return Ok(());
    }

    // Big values copied in step 1 are serialised now, off this thread.
    for m in moving.iter_mut().flat_map(|(_, m)| m.iter_mut()) {
        if let Some(v) = m.copy.take() {
            m.payload = rt::off_thread(move || storage::rdb::dump(&v)).await;
        }
    }

    // 2. Transfer.
    let items: Vec<&Moving> = moving.iter().flat_map(|(_, m)| m.iter()).collect();
    let outcome = transfer(&a, &items).await;
    match &outcome.reply {
        Ok(()) => encode::ok(out),
        Err(e) => Error::Other(e.clone()).write(out),
    }

    // 3. Settle on every shard at once.
    settle_all(r, db, moving, &outcome.acked, !a.copy).await;
    Ok(())
}

/// Step 3 on every shard at once: deletes the keys acknowledged in
/// `acked` (in the order of `moving`) when `delete`, unlocks them all.
async fn settle_all(
    r: &Route<'_>,
    db: usize,
    moving: Vec<(usize, Vec<Moving>)>,
    acked: &[bool],
    delete: bool,
) {
    let mut acked = acked.iter();
    let mut pending = Vec::with_capacity(moving.len());
    for (shard, m) in moving {
        let keys: Vec<(Vec<u8>, u64, bool)> = m
            .into_iter()
            .map(|m| {
                let ok = acked.next().copied().unwrap_or(false);
                (m.key, m.version, ok && delete)
            })
            .collect();
        pending.push(r.start(shard, move |w| settle(w, db, keys)));
    }
    for p in pending {
        p.finish(r).await;
    }
}

/// What the target made of a transfer.
struct Outcome {
    /// Per key, in order: whether the target acknowledged it.
    acked: Vec<bool>,
    /// The reply for the client: OK, or the error line (without `-`).
    reply: Result<(), String>,
}

/// A cached connection to one target.
struct Cached {
    stream: TcpStream,
    /// The db last SELECTed on it (-1: unknown).
    last_db: i64,
    last_use: Instant,
}

/// Cached connections on all threads (INFO's `migrate_cached_sockets`).
pub static CACHED_SOCKETS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's connections to migration targets, by "host:port". A
    /// connection in use is taken out, so two migrations never share one.
    static CACHE: RefCell<HashMap<String, Cached>> = RefCell::new(HashMap::new());
}

/// Closes cached connections idle for 10 s; called by the worker's cron.
pub fn close_idle() {
    CACHE.with(|c| {
        let Ok(mut c) = c.try_borrow_mut() else {
            return;
        };
        if !c.is_empty() {
            let before = c.len();
            c.retain(|_, conn| conn.last_use.elapsed() < IDLE_CLOSE);
            CACHED_SOCKETS.fetch_sub(before - c.len(), Ordering::Relaxed);
        }
    });
}

fn cache_take(name: &str) -> Option<Cached> {
    let conn = CACHE.with(|c| c.borrow_mut().remove(name));
    if conn.is_some() {
        CACHED_SOCKETS.fetch_sub(1, Ordering::Relaxed);
    }
    conn
}

fn cache_put(name: String, conn: Cached) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX_CACHED && !c.contains_key(&name) {
            if let Some(victim) = c.keys().next().cloned() {
                c.remove(&victim);
                CACHED_SOCKETS.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if c.insert(name, conn).is_none() {
            CACHED_SOCKETS.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Why an I/O step failed.
enum IoStep {
    Write(io::ErrorKind),
    Read(io::ErrorKind),
}

const IOERR_CONNECT: &str = "IOERR error or timeout connecting to the client";
const IOERR_WRITE: &str = "IOERR error or timeout writing to target instance";
const IOERR_READ: &str = "IOERR error or timeout reading to target instance";

async fn connect(a: &Args) -> io::Result<TcpStream> {
    let port = a
        .port
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let addrs: Vec<SocketAddr> = (a.host.as_str(), port).to_socket_addrs()?.collect();
    let deadline = Instant::now() + a.timeout;
    let mut last = io::Error::from(io::ErrorKind::NotFound);
    for addr in addrs {
        match TcpStream::connect(addr, deadline).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Step 2: sends the keys and reads the target's answers.
async fn transfer(a: &Args, items: &[&Moving]) -> Outcome {
    let name = format!("{}:{}", a.host, a.port.unwrap_or(0));
    let mut may_retry = true;
    loop {
        let (mut conn, cached) = match cache_take(&name) {
            Some(c) => (c, true),
            None => match connect(a).await {
                Ok(stream) => (
                    Cached {
                        stream,
                        last_db: -1,
                        last_use: Instant::now(),
                    },
                    false,
                ),
                Err(_) => {
                    return Outcome {
                        acked: vec![false; items.len()],
                        reply: Err(IOERR_CONNECT.into()),
                    }
                }
            },
        };
        let select = conn.last_db != a.db;
        let mut acked = Vec::with_capacity(items.len());
        let r = exchange(a, items, &mut conn, select, &mut acked).await;
        conn.last_use = Instant::now();
        match r {
            Ok(None) => {
                conn.last_db = a.db;
                cache_put(name, conn);
                return Outcome {
                    acked,
                    reply: Ok(()),
                };
            }
            Ok(Some(target_err)) => {
                // After an error the target's db is no longer known.
                conn.last_db = -1;
                cache_put(name, conn);
                return Outcome {
                    acked,
                    reply: Err(format!(
                        "ERR Target instance replied with error: {target_err}"
                    )),
                };
            }
            Err(step) => {
                drop(conn);
                let (IoStep::Write(kind) | IoStep::Read(kind)) = step;
                // A cached connection the target closed fails at once:
                // try a fresh one, if no key was answered yet.
                if cached && may_retry && acked.is_empty() && kind != io::ErrorKind::TimedOut {
                    may_retry = false;
                    continue;
                }
                acked.resize(items.len(), false);
                let msg = match step {
                    IoStep::Write(_) => IOERR_WRITE,
                    IoStep::Read(_) => IOERR_READ,
                };
                return Outcome {
                    acked,
                    reply: Err(msg.into()),
                };
            }
        }
    }
}

/// One exchange on `conn`: fills `acked` with the keys answered so far.
/// Ok(None): all acknowledged; Ok(Some(line)): the target refused
/// something (the first error line, without `-`).
async fn exchange(
    a: &Args,
    items: &[&Moving],
    conn: &mut Cached,
    select: bool,
    acked: &mut Vec<bool>,
) -> Result<Option<String>, IoStep> {
    // Small payloads are copied into one pipeline buffer; a big one is
    // written from its own buffer, never copied (a 1M-element list is
    // megabytes).
    let small: usize = items
        .iter()
        .map(|m| {
            m.key.len()
                + 64
                + if m.payload.len() < BIG_PAYLOAD {
                    m.payload.len()
                } else {
                    0
                }
        })
        .sum();
    let mut buf = Vec::with_capacity(small + 64);
    if let Some((user, pw)) = &a.auth {
        match user {
            Some(u) => command(&mut buf, &[b"AUTH", u, pw]),
            None => command(&mut buf, &[b"AUTH", pw]),
        }
    }
    if select {
        command(&mut buf, &[b"SELECT", a.db.to_string().as_bytes()]);
    }
    for m in items {
        let ttl = m.ttl.to_string();
        encode::array_len(&mut buf, 4 + usize::from(a.replace));
        let restore: &[u8] = if a.asking {
            b"RESTORE-ASKING"
        } else {
            b"RESTORE"
        };
        for arg in [restore, &m.key, ttl.as_bytes()] {
            encode::bulk(&mut buf, arg);
        }
        if m.payload.len() < BIG_PAYLOAD {
            encode::bulk(&mut buf, &m.payload);
        } else {
            encode::bulk_len(&mut buf, m.payload.len());
            write(&mut conn.stream, &buf, a.timeout).await?;
            buf.clear();
            write(&mut conn.stream, &m.payload, a.timeout).await?;
            buf.extend_from_slice(b"\r\n");
        }
        if a.replace {
            encode::bulk(&mut buf, b"REPLACE");
        }
    }
    write(&mut conn.stream, &buf, a.timeout).await?;
    drop(buf);

    let mut reader = Lines::default();
    let mut first_err: Option<String> = None;
    let mut prefix_err = false;
    for _ in 0..a.auth.is_some() as usize + select as usize {
        let line = reader
            .next(&mut conn.stream, a.timeout)
            .await
            .map_err(|e| IoStep::Read(e.kind()))?;
        match line.first() {
            Some(b'+') => {}
            Some(b'-') => {
                prefix_err = true;
                first_err.get_or_insert_with(|| String::from_utf8_lossy(&line[1..]).into_owned());
            }
            _ => return Err(IoStep::Read(io::ErrorKind::InvalidData)),
        }
    }
    for _ in items {
        let line = reader
            .next(&mut conn.stream, a.timeout)
            .await
            .map_err(|e| IoStep::Read(e.kind()))?;
        // Only `+...` acknowledges a key. Anything but a status or an
        // error line is not a Redis speaking: whatever it did with the
        // key, the key stays here.
        match line.first() {
            Some(b'+') => acked.push(!prefix_err),
            Some(b'-') => {
                first_err.get_or_insert_with(|| String::from_utf8_lossy(&line[1..]).into_owned());
                acked.push(false);
            }
            _ => return Err(IoStep::Read(io::ErrorKind::InvalidData)),
        }
    }
    Ok(first_err)
}

/// One write step: all of `bytes`, no gap longer than `gap`.
async fn write(stream: &mut TcpStream, bytes: &[u8], gap: Duration) -> Result<(), IoStep> {
    stream
        .write_all_within(bytes, Some(gap))
        .await
        .map_err(|e| IoStep::Write(e.kind()))
}

/// Appends one command as a RESP multibulk.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    encode::array_len(out, args.len());
    for a in args {
        encode::bulk(out, a);
    }
}

/// Reads reply lines (`+OK`, `-ERR ...`) from the target.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    start: usize,
}

impl Lines {
    /// The next line, without its CRLF; each read waits at most `gap`.
    async fn next(&mut self, s: &mut TcpStream, gap: Duration) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf[self.start..].windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 2;
                return Ok(line);
            }
            if self.buf.len() - self.start > MAX_LINE {
                return Err(io::ErrorKind::InvalidData.into());
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let have = self.buf.len();
            self.buf.resize(have + 4096, 0);
            let n = s
                .read(&mut self.buf[have..], Some(Instant::now() + gap))
                .await;
            match n {
                Ok(0) => {
                    self.buf.truncate(have);
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n) => self.buf.truncate(have + n),
                Err(e) => {
                    self.buf.truncate(have);
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, Error> {
        let v: Vec<&[u8]> = v.iter().map(|s| s.as_bytes()).collect();
        parse(&v)
    }

    #[test]
    fn parses_options() {
        let a = args(&[
            "migrate", "h", "1", "", "3", "0", "copy", "auth2", "u", "p", "keys", "a", "b", "a",
        ])
        .expect("parses");
        assert!(a.copy && !a.replace);
        assert_eq!(a.timeout, Duration::from_millis(1000));
        assert_eq!(a.db, 3);
        assert_eq!(a.keys, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(a.auth, Some((Some(b"u".to_vec()), b"p".to_vec())));
        assert!(matches!(
            args(&["migrate", "h", "1", "k", "0", "5", "keys", "a"]),
            Err(Error::Static(_))
        ));
        assert!(matches!(
            args(&["migrate", "h", "1", "k", "0", "5", "auth"]),
            Err(Error::Syntax)
        ));
        assert!(matches!(
            args(&["migrate", "h", "1", "k", "0", "5", "bogus"]),
            Err(Error::Syntax)
        ));
        assert!(matches!(
            args(&["migrate", "h", "1", "k", "x", "5"]),
            Err(Error::NotInteger)
        ));
    }
}
