//! The cluster bus's sockets, as tasks of thread 0: a listener on the bus
//! port, one outgoing link per known node (PING, MEET, and whatever the
//! state addresses to that node go out on it), the links other nodes
//! opened to this one (their PINGs are answered on them), and the cron
//! that runs every 100 ms.
//!
//! A link's reads and writes are two tasks on two descriptors of one
//! socket: the reader handles each message under the cluster's lock, then
//! hands the messages the step produced to the links they go to; a
//! link's writer drains its queue, so a slow peer delays only its own
//! messages. Nothing here blocks the reactor: thread 0 goes on serving
//! its clients between messages.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use rt::net::{TcpListener, TcpStream};

use super::state::{Effect, Id, To};
use super::wire::{self, flag, kind};
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker};

/// One bus connection.
pub struct Link {
    /// The node an outgoing link was opened to; None for an accepted one.
    pub node: Option<Id>,
    /// That node's [`state::Node::serial`] (0 for an accepted link).
    serial: u64,
    /// An accepted link: the node its messages come from, once known
    /// (id, serial), for CLUSTER LINKS.
    from: Cell<Option<(Id, u64)>>,
    pub created: u64,
    peer_ip: String,
    local_ip: String,
    queue: RefCell<VecDeque<Vec<u8>>>,
    /// The write half, while no writer task holds it.
    writer: RefCell<Option<TcpStream>>,
    writing: Cell<bool>,
    /// For closing the socket from outside its tasks.
    socket: std::net::TcpStream,
    closed: Cell<bool>,
    pub sent_bytes: Cell<u64>,
}

impl Link {
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// An accepted link's node, once its messages named one.
    pub fn from(&self) -> Option<(Id, u64)> {
        self.from.get()
    }

    fn send(self: &Rc<Self>, bytes: Vec<u8>) {
        if self.closed.get() {
            return;
        }
        self.queue.borrow_mut().push_back(bytes);
        if self.writing.get() {
            return;
        }
        let Some(mut stream) = self.writer.borrow_mut().take() else {
            return;
        };
        self.writing.set(true);
        let link = Rc::clone(self);
        rt::spawn_local(async move {
            loop {
                let next = link.queue.borrow_mut().pop_front();
                let Some(bytes) = next else { break };
                if stream.write_all(&bytes).await.is_err() {
                    link.close();
                    break;
                }
                link.sent_bytes
                    .set(link.sent_bytes.get() + bytes.len() as u64);
            }
            *link.writer.borrow_mut() = Some(stream);
            link.writing.set(false);
        });
    }

    fn close(&self) {
        if !self.closed.replace(true) {
            let _ = self.socket.shutdown(std::net::Shutdown::Both);
            self.queue.borrow_mut().clear();
        }
    }

    pub fn queued(&self) -> usize {
        self.queue.borrow().iter().map(Vec::len).sum()
    }
}

/// Thread 0's bus.
pub struct Bus {
    w: Rc<Worker>,
    /// Outgoing links by node.
    pub links: RefCell<HashMap<Id, Rc<Link>>>,
    /// Links other nodes opened.
    pub inbound: RefCell<Vec<Rc<Link>>>,
    connecting: RefCell<HashSet<Id>>,
}

thread_local! {
    static BUS: RefCell<Option<Rc<Bus>>> = const { RefCell::new(None) };
}

/// The bus, on thread 0 in cluster mode.
pub fn get() -> Option<Rc<Bus>> {
    BUS.with(|b| b.borrow().clone())
}

/// Binds the bus port and starts the bus's tasks (thread 0, cluster mode).
pub fn start(w: &Rc<Worker>) -> Result<(), String> {
    if w.id != 0 || !super::state(w).enabled() {
        return Ok(());
    }
    let port = super::bus_port(&w.shared);
    let binds = w.shared.config.startup.bind.clone();
    let mut listeners = Vec::new();
    for host in binds.split_whitespace() {
        let host = host.trim_start_matches('-');
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("Could not bind to {host}:{port} for the cluster bus: {e}"))?;
        for addr in addrs {
            let l = TcpListener::bind(addr)
                .map_err(|e| format!("Could not bind to {addr} for the cluster bus: {e}"))?;
            listeners.push(l);
        }
    }
    let bus = Rc::new(Bus {
        w: Rc::clone(w),
        links: RefCell::new(HashMap::new()),
        inbound: RefCell::new(Vec::new()),
        connecting: RefCell::new(HashSet::new()),
    });
    BUS.with(|b| *b.borrow_mut() = Some(Rc::clone(&bus)));
    for l in listeners {
        let bus = Rc::clone(&bus);
        rt::spawn_local(async move {
            loop {
                match l.accept().await {
                    Ok(stream) => {
                        if let Some((link, reader)) = bus.open(stream, None, 0) {
                            bus.inbound.borrow_mut().push(Rc::clone(&link));
                            let b = Rc::clone(&bus);
                            rt::spawn_local(async move { b.read_loop(link, reader).await });
                        }
                    }
                    Err(e) => {
                        log::warn!("Error accepting cluster node: {e}");
                        rt::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    let b = Rc::clone(&bus);
    rt::spawn_local(async move {
        let mut tick = 0u64;
        loop {
            rt::sleep(Duration::from_millis(100)).await;
            tick += 1;
            b.cron(tick);
        }
    });
    Ok(())
}

fn ip_text(a: std::io::Result<SocketAddr>) -> String {
    match a.map(|a| a.ip()) {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        Ok(ip) => ip.to_string(),
        Err(_) => String::new(),
    }
}

impl Bus {
    /// A link over `stream`, and the read half for its reader task.
    fn open(
        &self,
        stream: TcpStream,
        node: Option<Id>,
        serial: u64,
    ) -> Option<(Rc<Link>, TcpStream)> {
        let std_stream = stream.into_std();
        let _ = std_stream.set_nodelay(true);
        let peer_ip = ip_text(std_stream.peer_addr());
        let local_ip = ip_text(std_stream.local_addr());
        let writer = std_stream.try_clone().ok()?;
        let socket = std_stream.try_clone().ok()?;
        let writer = TcpStream::new(writer).ok()?;
        let link = Rc::new(Link {
            node,
            serial,
            from: Cell::new(None),
            created: now_ms(),
            peer_ip,
            local_ip,
            queue: RefCell::new(VecDeque::new()),
            writer: RefCell::new(Some(writer)),
            writing: Cell::new(false),
            socket,
            closed: Cell::new(false),
            sent_bytes: Cell::new(0),
        });
        let reader = TcpStream::new(std_stream).ok()?;
        Some((link, reader))
    }

    /// Reads messages until the link fails or a message closes it.
    async fn read_loop(self: Rc<Self>, link: Rc<Link>, mut stream: TcpStream) {
        let mut buf: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 64 * 1024];
        'read: while !link.closed.get() {
            let n = match stream.read(&mut chunk, None).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            loop {
                if buf.len() < 8 {
                    break;
                }
                let len = match wire::claimed_len(&buf[..8]) {
                    Ok(len) => len,
                    Err(why) => {
                        log::warn!("Closing the cluster link with {}: {why}", link.peer_ip);
                        break 'read;
                    }
                };
                if buf.len() < len {
                    break;
                }
                let keep = self.process(&link, &buf[..len]);
                buf.drain(..len);
                if !keep {
                    break 'read;
                }
            }
        }
        link.close();
        self.forget_link(&link);
    }

    fn forget_link(&self, link: &Rc<Link>) {
        match link.node {
            Some(id) => {
                let mine = self
                    .links
                    .borrow()
                    .get(&id)
                    .is_some_and(|l| Rc::ptr_eq(l, link));
                if mine {
                    self.links.borrow_mut().remove(&id);
                    if let Some(mut c) = super::state(&self.w).lock() {
                        if let Some(Some(n)) = c.nodes.get_mut(id) {
                            n.link = false;
                        }
                    }
                }
            }
            None => self.inbound.borrow_mut().retain(|l| !Rc::ptr_eq(l, link)),
        }
    }

    /// One message: the state's step, then its messages and effects.
    fn process(&self, link: &Rc<Link>, frame: &[u8]) -> bool {
        let m = match wire::decode(frame) {
            Ok(Some(m)) => m,
            Ok(None) => return true,
            Err(why) => {
                log::debug!("Dropping a cluster message from {}: {why}", link.peer_ip);
                return true;
            }
        };
        let Some(mut c) = super::state(&self.w).lock() else {
            return false;
        };
        super::sync_replication(&self.w, &mut c);
        let now = now_ms();
        let sender = m.header.sender;
        let keep = c.handle(m, link.node, &link.peer_ip, &link.local_ip, now);
        if link.node.is_none() {
            let known = c.lookup(&sender).map(|id| (id, c.node(id).serial));
            if known != link.from.get() {
                link.from.set(known);
            }
        }
        let out = std::mem::take(&mut c.outbox);
        let effects = std::mem::take(&mut c.effects);
        drop(c);
        self.deliver(out, Some(link));
        self.apply(effects);
        keep
    }

    fn deliver(&self, out: Vec<(To, Vec<u8>)>, reply_to: Option<&Rc<Link>>) {
        for (to, bytes) in out {
            match to {
                To::Reply => {
                    if let Some(l) = reply_to {
                        l.send(bytes);
                    }
                }
                To::Node(id) => {
                    let link = self.links.borrow().get(&id).cloned();
                    if let Some(l) = link {
                        l.send(bytes);
                    }
                }
            }
        }
    }

    /// What the state asked of the server.
    fn apply(&self, effects: Vec<Effect>) {
        for e in effects {
            let w = Rc::clone(&self.w);
            match e {
                Effect::Replicate(host, port) => {
                    if host.is_empty() || port == 0 {
                        continue;
                    }
                    log::info!("Configuring as a replica of {host}:{port}");
                    crate::features::replication::follow(&w, &host, port);
                }
                Effect::Promote => crate::features::replication::stop_following(&w),
                Effect::DeleteSlots(slots) => {
                    rt::spawn_local(async move {
                        delete_slots(&w, slots).await;
                    });
                }
                Effect::PauseWrites(0) => {
                    rt::spawn_local(async move {
                        crate::features::pause::unpause(&Route::plain(&w)).await;
                    });
                }
                Effect::PauseWrites(until) => {
                    let ms = until.saturating_sub(now_ms()).to_string();
                    let argv: [&[u8]; 4] = [b"client", b"pause", ms.as_bytes(), b"write"];
                    let _ = crate::features::pause::pause(&w, &argv);
                }
                Effect::Publish(channel, message) => {
                    rt::spawn_local(async move {
                        crate::features::pubsub::deliver_everywhere(
                            &Route::plain(&w),
                            &channel,
                            &message,
                        )
                        .await;
                    });
                }
                Effect::PublishShard(channel, message) => {
                    rt::spawn_local(async move {
                        crate::features::pubsub::deliver_shard_everywhere(
                            &Route::plain(&w),
                            &channel,
                            &message,
                        )
                        .await;
                    });
                }
            }
        }
    }

    /// Sends what the state queued (CLUSTER commands on other threads
    /// leave messages for the bus).
    pub fn flush(&self) {
        let Some(mut c) = super::state(&self.w).lock() else {
            return;
        };
        let out = std::mem::take(&mut c.outbox);
        let effects = std::mem::take(&mut c.effects);
        drop(c);
        self.deliver(out, None);
        self.apply(effects);
    }

    fn cron(self: &Rc<Self>, tick: u64) {
        let Some(mut c) = super::state(&self.w).lock() else {
            return;
        };
        super::sync_replication(&self.w, &mut c);
        super::refresh_settings(&self.w.shared, &mut c);
        let now = now_ms();
        let timeout = c.settings.node_timeout;
        // Links to nodes gone, or silent for too long, are closed; nodes
        // without a link get one.
        let mut to_connect = Vec::new();
        let mut to_close = Vec::new();
        for (&id, link) in self.links.borrow().iter() {
            // (Gone also when another node took its slab slot.)
            let gone = c
                .nodes
                .get(id)
                .and_then(|n| n.as_ref())
                .is_none_or(|n| n.serial != link.serial);
            let stale = !gone && {
                let n = c.node(id);
                n.ping_sent != 0
                    && now.saturating_sub(link.created) > timeout
                    && now.saturating_sub(n.ping_sent) > timeout / 2
                    && now.saturating_sub(n.data_received) > timeout / 2
            };
            if gone || stale {
                to_close.push(Rc::clone(link));
            }
        }
        for id in c.ids().collect::<Vec<_>>() {
            let n = c.node(id);
            if id == c.me || n.has(flag::NOADDR) || n.ip.is_empty() || n.cport == 0 {
                continue;
            }
            if self.links.borrow().contains_key(&id) || self.connecting.borrow().contains(&id) {
                continue;
            }
            to_connect.push((id, n.serial, n.ip.clone(), n.cport));
        }
        c.cron(tick, now);
        let out = std::mem::take(&mut c.outbox);
        let effects = std::mem::take(&mut c.effects);
        drop(c);
        for link in to_close {
            link.close();
        }
        self.deliver(out, None);
        self.apply(effects);
        for (id, serial, ip, cport) in to_connect {
            self.connect(id, serial, ip, cport, timeout);
        }
    }

    fn connect(self: &Rc<Self>, id: Id, serial: u64, ip: String, cport: u16, timeout: u64) {
        self.connecting.borrow_mut().insert(id);
        let bus = Rc::clone(self);
        rt::spawn_local(async move {
            let addr = (ip.as_str(), cport)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next());
            let deadline = Instant::now() + Duration::from_millis(timeout.clamp(100, 5000));
            let stream = match addr {
                Some(a) => TcpStream::connect(a, deadline).await.ok(),
                None => None,
            };
            bus.connecting.borrow_mut().remove(&id);
            let Some(stream) = stream else {
                // Unreachable counts as a PING without its PONG, so the
                // node becomes PFAIL after the timeout, as in Redis.
                if let Some(mut c) = super::state(&bus.w).lock() {
                    if let Some(Some(n)) = c.nodes.get_mut(id) {
                        if n.ping_sent == 0 {
                            n.ping_sent = now_ms();
                        }
                    }
                }
                return;
            };
            let Some((link, reader)) = bus.open(stream, Some(id), serial) else {
                return;
            };
            {
                let Some(mut c) = super::state(&bus.w).lock() else {
                    return;
                };
                let Some(Some(n)) = c
                    .nodes
                    .get_mut(id)
                    .filter(|n| n.as_ref().is_some_and(|n| n.serial == serial))
                else {
                    link.close();
                    return;
                };
                n.link = true;
                let t = if n.has(flag::MEET) {
                    kind::MEET
                } else {
                    kind::PING
                };
                n.flags &= !flag::MEET;
                bus.links.borrow_mut().insert(id, Rc::clone(&link));
                c.send_ping(id, t, now_ms());
                let out = std::mem::take(&mut c.outbox);
                drop(c);
                bus.deliver(out, None);
            }
            bus.read_loop(link, reader).await;
        });
    }
}

/// Asks thread 0's bus to send what the state queued now (from any
/// thread).
pub fn kick(w: &Worker) {
    if w.id == 0 {
        if let Some(b) = get() {
            b.flush();
        }
        return;
    }
    w.router.post(
        0,
        0,
        Box::new(|_w: &Worker| {
            if let Some(b) = get() {
                b.flush();
            }
            Box::new(()) as Box<dyn std::any::Any + Send>
        }),
    );
}

/// Deletes this node's keys of `slots` (slots another master took).
pub async fn delete_slots(w: &Worker, slots: Vec<u16>) {
    let slots = std::sync::Arc::new(slots);
    let n: usize = Route::plain(w)
        .call_all(move |w| {
            let now = now_ms();
            let mut sh = w.shard.borrow_mut();
            let db = &mut sh.ks.dbs[0];
            let doomed: Vec<Vec<u8>> = match db.slot_index() {
                Some(ix) => slots
                    .iter()
                    .flat_map(|&s| ix.keys(s).map(<[u8]>::to_vec).collect::<Vec<_>>())
                    .collect(),
                None => Vec::new(),
            };
            for k in &doomed {
                db.remove(k, now);
            }
            doomed.len()
        })
        .await
        .iter()
        .sum();
    if n > 0 {
        log::info!("Deleted {n} keys of slots this node no longer serves");
    }
}
