//! A replica's link to its master: one task on thread 0 that connects,
//! shakes hands, takes a full snapshot or continues where it left off, and
//! then applies the master's stream through the connection loop
//! ([`super::follow`]) as the master client.
//!
//! The handshake, as a Redis replica does it: `PING`, `AUTH` when
//! `masterauth` is set, `REPLCONF listening-port`, `REPLCONF capa eof capa
//! psync2`, then `PSYNC <replid> <offset+1>` when there is a master to
//! continue from (the one this link lost, or this server's own history
//! when it has just been made a replica) or `PSYNC ? -1`.
//!
//! A full sync (`+FULLRESYNC <replid> <offset>`) receives the snapshot
//! whole first — `$<len>` then the bytes, or `$EOF:<mark>` then bytes up
//! to the same 40-byte mark — while the old data is still served; then
//! every database is emptied and the snapshot loaded with clients answered
//! `-LOADING`. A snapshot that does not load leaves the databases empty
//! (never half a dataset) and the link retries.
//!
//! Any failure — refused connection, garbage, a master gone mid-transfer —
//! ends this try with a log line; the task tries again a second later for
//! as long as a master is set. Nothing the master sends can stop the task.

use std::io;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rt::net::TcpStream;

use crate::client::{Client, Upstream};
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, ClientInfo, Worker};
use crate::features::replication::{self, Link};
use crate::features::{acl, master, persist};

/// Bytes of the snapshot read per read call at most.
const READ_CHUNK: usize = 64 * 1024;

/// Starts the link's task on thread 0, following the `replicaof` of the
/// config file if one was set.
pub fn start(w: &Rc<Worker>) {
    if w.id != 0 {
        return;
    }
    if let Some((host, port)) = w.shared.config.startup.replicaof.clone() {
        replication::state(w).follow(&host, port);
    }
    let w = Rc::clone(w);
    rt::spawn_local(async move {
        loop {
            rt::sleep(Duration::from_millis(100)).await;
            let st = replication::state(&w);
            let generation = st.generation.load(Ordering::Acquire);
            let Some((host, port)) = st.with(|s| s.master.clone()) else {
                continue;
            };
            if let Err(e) = link(&w, &host, port, generation).await {
                log::warn!("{e}");
            }
            let was_up = st.link_up.swap(false, Ordering::AcqRel);
            st.with(|s| {
                if was_up || s.down_since_ms == 0 {
                    s.down_since_ms = now_ms();
                }
                s.link = Link::Connect;
                s.transfer = None;
            });
            if st.generation.load(Ordering::Acquire) == generation {
                // Retry once a second, as Redis's replication cron does.
                rt::sleep(Duration::from_millis(900)).await;
            }
        }
    });
}

/// The link's bytes: a buffered reader of lines and exact lengths.
struct Wire {
    stream: TcpStream,
    buf: Vec<u8>,
    /// `buf[pos..]` is read and not yet taken.
    pos: usize,
    timeout: Duration,
}

impl Wire {
    async fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        let mut out = Vec::new();
        resp::encode::array_len(&mut out, args.len());
        for a in args {
            resp::encode::bulk(&mut out, a);
        }
        self.stream.write_all(&out).await
    }

    /// Reads more bytes onto the buffer; an error when the master closed
    /// the link or said nothing for `repl-timeout`.
    async fn more(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        let at = self.buf.len();
        self.buf.resize(at + READ_CHUNK, 0);
        let deadline = Instant::now() + self.timeout;
        let got = self.stream.read(&mut self.buf[at..], Some(deadline)).await;
        let n = match got {
            Ok(0) => {
                self.buf.truncate(at);
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the master closed the connection",
                ));
            }
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(at);
                return Err(e);
            }
        };
        self.buf.truncate(at + n);
        Ok(n)
    }

    /// One line, without its `\r\n` (a bare `\n` ends one too). Lines are
    /// short: a master that sends 64 KB without one is not a master.
    async fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                let mut l = self.buf[self.pos..self.pos + i].to_vec();
                self.pos += i + 1;
                if l.last() == Some(&b'\r') {
                    l.pop();
                }
                return Ok(l);
            }
            if self.buf.len() - self.pos > 64 * 1024 {
                return Err(bad("a reply line longer than 64 KB"));
            }
            self.more().await?;
        }
    }

    /// The reply to a command sent: a line that is not empty (a master
    /// sends bare newlines to keep the link alive while it prepares).
    async fn reply(&mut self) -> io::Result<String> {
        loop {
            let l = self.line().await?;
            if !l.is_empty() {
                return Ok(String::from_utf8_lossy(&l).into_owned());
            }
        }
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// One life of the link: connect, handshake, sync, stream. Returns when
/// the link ends (an error says why).
async fn link(w: &Rc<Worker>, host: &str, port: u16, generation: u64) -> Result<(), String> {
    let st = replication::state(w);
    let ended = || st.generation.load(Ordering::Acquire) != generation;
    let timeout = Duration::from_secs(
        w.shared
            .config
            .other("repl-timeout")
            .parse::<u64>()
            .unwrap_or(60),
    );
    log::info!("Connecting to MASTER {host}:{port}");
    st.with(|s| s.link = Link::Connecting);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("Unable to connect to MASTER: cannot resolve {host}"))?;
    let stream = TcpStream::connect(addr, Instant::now() + timeout)
        .await
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    log::info!("MASTER <-> REPLICA sync started");
    let mut wire = Wire {
        stream,
        buf: Vec::new(),
        pos: 0,
        timeout,
    };
    st.with(|s| {
        s.link = Link::Handshake;
        s.last_io_ms = now_ms();
    });
    let io = |e: io::Error| format!("Error reading from MASTER: {e}");

    wire.send(&[b"PING"]).await.map_err(io)?;
    let pong = wire.reply().await.map_err(io)?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    log::info!("Master replied to PING, replication can continue...");

    let pass = w.shared.config.other("masterauth");
    if !pass.is_empty() {
        let user = w.shared.config.other("masteruser");
        if user.is_empty() {
            wire.send(&[b"AUTH", pass.as_bytes()]).await.map_err(io)?;
        } else {
            wire.send(&[b"AUTH", user.as_bytes(), pass.as_bytes()])
                .await
                .map_err(io)?;
        }
        let r = wire.reply().await.map_err(io)?;
        if r.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {r}"));
        }
    }
    let own_port = w.shared.config.startup.port.to_string();
    wire.send(&[b"REPLCONF", b"listening-port", own_port.as_bytes()])
        .await
        .map_err(io)?;
    let r = wire.reply().await.map_err(io)?;
    if r.starts_with('-') {
        log::info!("(Non critical) Master does not understand REPLCONF listening-port: {r}");
    }
    wire.send(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        .await
        .map_err(io)?;
    let r = wire.reply().await.map_err(io)?;
    if r.starts_with('-') {
        log::info!("(Non critical) Master does not understand REPLCONF capa: {r}");
    }

    let cached = st.with(|s| s.cached.clone());
    // This server's FAILOVER picked that master: the PSYNC asks it to
    // take over (`features/failover.rs`).
    let failing_over = crate::features::failover::in_progress(w);
    match &cached {
        Some((id, offset)) => {
            let next = (offset + 1).to_string();
            log::info!("Trying a partial resynchronization (request {id}:{next}).");
            let mut psync: Vec<&[u8]> = vec![b"PSYNC", id.as_bytes(), next.as_bytes()];
            if failing_over {
                psync.push(b"FAILOVER");
            }
            wire.send(&psync).await.map_err(io)?;
        }
        None => {
            log::info!("Partial resynchronization not possible (no cached master)");
            wire.send(&[b"PSYNC", b"?", b"-1"]).await.map_err(io)?;
        }
    }
    let r = wire.reply().await.map_err(io)?;
    if failing_over {
        let accepted = r.starts_with("+FULLRESYNC") || r.starts_with("+CONTINUE");
        crate::features::failover::psync_answered(&Route::plain(w), accepted).await;
    }
    let words: Vec<&str> = r.split_whitespace().collect();
    // A partial resync: the history goes on.
    let mut continued = false;
    let (offset, db) = match words.as_slice() {
        ["+FULLRESYNC", id, offset] if id.len() == 40 => {
            let offset: u64 = offset
                .parse()
                .map_err(|_| format!("Bad offset in FULLRESYNC reply: '{r}'"))?;
            log::info!("Full resync from master: {id}:{offset}");
            // Until the snapshot is loaded this replica has no offset (as
            // Redis's, which reports 0 then: cluster mode shows it as
            // `loading` in CLUSTER SHARDS).
            st.offset.store(0, Ordering::Release);
            full_sync(w, &mut wire, generation).await?;
            if ended() {
                return Ok(());
            }
            st.offset.store(offset as i64, Ordering::Release);
            st.with(|s| {
                s.replid = id.to_string();
                s.cached = None;
            });
            (offset, 0)
        }
        [cont, rest @ ..] if *cont == "+CONTINUE" => {
            let Some((old_id, offset)) = cached else {
                return Err("Unexpected +CONTINUE without a PSYNC offset".into());
            };
            log::info!("Successful partial resynchronization with master.");
            st.with(|s| {
                match rest.first() {
                    Some(new_id) if new_id.len() == 40 && *new_id != old_id => {
                        s.replid2 = old_id.clone();
                        s.second_offset = offset as i64 + 1;
                        s.replid = new_id.to_string();
                        log::info!("Master replication ID changed to {new_id}");
                    }
                    _ => s.replid = old_id.clone(),
                }
                s.cached = None;
            });
            log::info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
            continued = true;
            (offset, st.with(|s| s.cached_db))
        }
        _ if r.starts_with("-NOMASTERLINK") || r.starts_with("-LOADING") => {
            return Err(format!(
                "Master is currently unable to PSYNC but should be in the future: {r}"
            ));
        }
        _ => return Err(format!("Unexpected reply to PSYNC from master: {r}")),
    };
    if ended() {
        return Ok(());
    }
    // This replica's own replicas get the stream from here (`master.rs`):
    // on the same history after a partial resync, else anew.
    crate::engine::journal::control(Box::new(master::Ctl::Upstream {
        offset,
        keep: continued,
    }));

    // The stream.
    st.with(|s| {
        s.link = Link::Connected;
        s.transfer = None;
        s.last_io_ms = now_ms();
    });
    st.link_up.store(true, Ordering::Release);
    let pending = wire.buf.split_off(wire.pos);
    let mut stream = wire.stream;
    let mut client = master_client(w, &stream, db, offset);
    // Listed among this thread's clients, so CLIENT KILL (TYPE master, or
    // its address) cuts the link as Redis's does; it then resyncs.
    {
        let mut info = client.info.borrow_mut();
        info.fd = stream.raw_fd();
        info.is_master = true;
    }
    w.clients
        .borrow_mut()
        .insert(client.id, Rc::clone(&client.info));
    let result = super::follow(w, &mut stream, &mut client, pending, generation).await;
    w.clients.borrow_mut().remove(&client.id);
    let applied = client.master.as_ref().map_or(offset, |up| up.offset);
    st.offset.store(applied as i64, Ordering::Release);
    if !ended() {
        // Kept for a partial resync with the same master.
        st.with(|s| {
            s.cached = Some((s.replid.clone(), applied));
            s.cached_db = client.db;
        });
        log::info!("Connection with master lost.");
        log::info!("Caching the disconnected master state.");
    }
    result.map_err(|e| format!("Connection with master lost: {e}"))
}

/// The client that applies the master's stream.
fn master_client(w: &Worker, stream: &TcpStream, db: usize, offset: u64) -> Client {
    let id = w.shared.next_client_id.fetch_add(1, Ordering::Relaxed);
    let now_s = now_ms() / 1000;
    let info = ClientInfo {
        id,
        addr: stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        created: now_s,
        last_active: now_s,
        last_cmd: "NULL",
        multi: -1,
        ..Default::default()
    };
    Client {
        authed: true,
        unrestricted: true,
        master: Some(Upstream {
            offset,
            ..Upstream::default()
        }),
        ..Client::new(Rc::new(std::cell::RefCell::new(info)), db, acl::nobody())
    }
}

/// Receives the snapshot, then empties every database and loads it.
async fn full_sync(w: &Rc<Worker>, wire: &mut Wire, generation: u64) -> Result<(), String> {
    let st = replication::state(w);
    let ended = || st.generation.load(Ordering::Acquire) != generation;
    let io = |e: io::Error| format!("I/O error trying to sync with MASTER: {e}");
    st.with(|s| s.link = Link::Sync);
    let header = wire.reply().await.map_err(io)?;
    let Some(size) = header.strip_prefix('$') else {
        return Err(format!(
            "Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"
        ));
    };
    let payload = if let Some(mark) = size.strip_prefix("EOF:") {
        let mark = mark.as_bytes().to_vec();
        if mark.len() != 40 {
            return Err(format!("Bad EOF mark from MASTER: '{header}'"));
        }
        log::info!(
            "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to memory"
        );
        st.with(|s| s.transfer = Some((0, 0)));
        let mut payload = wire.buf.split_off(wire.pos);
        wire.buf.clear();
        wire.pos = 0;
        while !payload.ends_with(&mark) {
            wire.more().await.map_err(io)?;
            payload.extend_from_slice(&wire.buf);
            wire.buf.clear();
            let read = payload.len() as u64;
            st.with(|s| {
                s.transfer = Some((0, read));
                s.last_io_ms = now_ms();
            });
            if ended() {
                return Ok(());
            }
        }
        payload.truncate(payload.len() - mark.len());
        payload
    } else {
        let len: usize = size
            .parse()
            .map_err(|_| format!("Bad payload length from MASTER: '{header}'"))?;
        log::info!("MASTER <-> REPLICA sync: receiving {len} bytes from master to memory");
        st.with(|s| s.transfer = Some((len as u64, 0)));
        // Grown as bytes arrive, never straight to what the header claims.
        let mut payload = Vec::new();
        loop {
            let have = wire.buf.len() - wire.pos;
            let take = have.min(len - payload.len());
            payload.extend_from_slice(&wire.buf[wire.pos..wire.pos + take]);
            wire.pos += take;
            let read = payload.len() as u64;
            st.with(|s| {
                s.transfer = Some((len as u64, read));
                s.last_io_ms = now_ms();
            });
            if payload.len() == len {
                break;
            }
            if ended() {
                return Ok(());
            }
            wire.more().await.map_err(io)?;
        }
        payload
    };
    if ended() {
        return Ok(());
    }
    let r = Route::plain(w);
    persist::begin_loading(w);
    log::info!("MASTER <-> REPLICA sync: Flushing old data");
    flush_everything(&r).await;
    log::info!("MASTER <-> REPLICA sync: Loading DB in memory");
    let began = Instant::now();
    let loaded = persist::load_from(&r, io::Cursor::new(payload)).await;
    match loaded {
        Ok(keys) => {
            persist::end_loading(&r).await;
            log::info!(
                "Done loading RDB, keys loaded: {keys} ({:.3} seconds).",
                began.elapsed().as_secs_f64()
            );
            log::info!("MASTER <-> REPLICA sync: Finished with success");
            Ok(())
        }
        Err(e) => {
            // Never serve half a snapshot.
            flush_everything(&r).await;
            persist::end_loading(&r).await;
            st.with(|s| s.cached = None);
            Err(format!(
                "Failed trying to load the MASTER synchronization DB from socket: {e}"
            ))
        }
    }
}

/// Every database of every shard emptied, and the function libraries.
async fn flush_everything(r: &Route<'_>) {
    r.call_all(|w| w.shard.borrow_mut().ks.flush_all(now_ms()))
        .await;
    crate::features::function::flush(r);
}
