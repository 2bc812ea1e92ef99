//! The cluster as this node sees it: the nodes it knows, who serves which
//! of the 16384 slots, the epochs, failure reports and elections — and what
//! each bus message and each cron tick does to them, following Redis
//! Cluster's rules (the cluster specification) so Redis and Tessera nodes
//! agree.
//!
//! Everything here is plain data under the cluster's one lock
//! (`super::State`); nothing does I/O. A step that must reach the network
//! or the server leaves it in [`Cluster::outbox`] (messages to send) or
//! [`Cluster::effects`] (replicate, delete keys, pause writes, publish),
//! which the bus drains after each step.
//!
//! Nodes live in a slab and are referred to by index (`Id`), so renaming a
//! node met in a handshake to its real name, or a slot's owner, never
//! needs a search.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::wire::{self, flag, kind, mflag, Body, Gossip, Header, Name, NO_NAME, SLOT_BYTES};

pub const SLOTS: usize = 16384;
/// A node's index in the slab.
pub type Id = usize;

/// How long a FORGET keeps a node from being re-added by gossip (ms).
const BLACKLIST_TTL: u64 = 60_000;
/// A failure report counts this many node timeouts.
const FAIL_REPORT_VALIDITY_MULT: u64 = 2;
/// A FAIL flag of a master with slots is cleared after this many timeouts.
const FAIL_UNDO_TIME_MULT: u64 = 2;
/// A manual failover's time limit (ms).
pub const MF_TIMEOUT: u64 = 5000;

pub struct Node {
    pub name: Name,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub pport: u16,
    pub hostname: String,
    pub flags: u16,
    /// The master, for a replica.
    pub master: Option<Id>,
    pub config_epoch: u64,
    pub slots: Box<[u8; SLOT_BYTES]>,
    pub numslots: usize,
    /// Unix ms of the PING awaiting its PONG (0: none).
    pub ping_sent: u64,
    pub pong_received: u64,
    /// Unix ms of the last bytes from it.
    pub data_received: u64,
    pub fail_time: u64,
    /// When this node (a master) last gave a vote for a replica of it.
    pub voted_time: u64,
    pub repl_offset: u64,
    /// (reporter, unix ms) of masters saying it is failing.
    pub fail_reports: Vec<(Id, u64)>,
    pub ctime: u64,
    /// Whether this node's outgoing link is up.
    pub link: bool,
    /// When the outgoing link came up (0: down).
    pub link_since: u64,
}

impl Node {
    fn new(name: Name, flags: u16, now: u64) -> Node {
        Node {
            name,
            ip: String::new(),
            port: 0,
            cport: 0,
            pport: 0,
            hostname: String::new(),
            flags,
            master: None,
            config_epoch: 0,
            slots: Box::new([0; SLOT_BYTES]),
            numslots: 0,
            ping_sent: 0,
            pong_received: 0,
            data_received: 0,
            fail_time: 0,
            voted_time: 0,
            repl_offset: 0,
            fail_reports: Vec::new(),
            ctime: now,
            link: false,
            link_since: 0,
        }
    }

    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    pub fn is_master(&self) -> bool {
        self.has(flag::MASTER)
    }

    pub fn is_replica(&self) -> bool {
        self.has(flag::SLAVE)
    }

    pub fn failing(&self) -> bool {
        self.has(flag::FAIL | flag::PFAIL)
    }

    pub fn name_str(&self) -> &str {
        std::str::from_utf8(&self.name).unwrap_or("")
    }
}

/// Whether bit `slot` is set in a slot map.
pub fn bit(map: &[u8; SLOT_BYTES], slot: usize) -> bool {
    map[slot / 8] & (1 << (slot % 8)) != 0
}

/// Settings from the config (`cluster-*`), read at each step.
#[derive(Clone, Debug)]
pub struct Settings {
    pub node_timeout: u64,
    pub require_full_coverage: bool,
    pub allow_reads_when_down: bool,
    pub validity_factor: u64,
    pub allow_replica_migration: bool,
    pub replica_no_failover: bool,
    pub announce_ip: String,
    pub announce_hostname: String,
    /// The TCP and bus ports this node announces.
    pub port: u16,
    pub cport: u16,
}

/// What a step asks of the server beyond the bus.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Follow this master (REPLICAOF host port).
    Replicate(String, u16),
    /// Stop following (REPLICAOF NO ONE).
    Promote,
    /// Delete the keys of these slots (lost to another master).
    DeleteSlots(Vec<u16>),
    /// Pause writes for a manual failover until this unix ms (0: unpause).
    PauseWrites(u64),
    /// Deliver a message published on another node.
    Publish(Vec<u8>, Vec<u8>),
    /// Deliver a shard channel's message (SPUBLISH) published on another
    /// node of this node's shard.
    PublishShard(Vec<u8>, Vec<u8>),
}

/// Where a message goes.
pub enum To {
    Node(Id),
    /// Back on the link the message being handled came in on.
    Reply,
}

pub struct Cluster {
    pub nodes: Vec<Option<Node>>,
    pub me: Id,
    /// Each slot's master.
    pub slots: Vec<Option<Id>>,
    pub migrating: BTreeMap<u16, Id>,
    pub importing: BTreeMap<u16, Id>,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    pub ok: bool,
    /// Masters serving at least one slot.
    pub size: usize,
    pub sent: [u64; kind::COUNT],
    pub received: [u64; kind::COUNT],
    blacklist: Vec<(Name, u64)>,
    // The replica's election.
    auth_time: u64,
    auth_count: usize,
    auth_sent: bool,
    auth_rank: usize,
    auth_epoch: u64,
    // A manual failover: on the master, the replica and the deadline; on
    // the replica, the master's offset once it paused, and whether the
    // election may start.
    pub mf_end: u64,
    mf_replica: Option<Id>,
    mf_master_offset: Option<u64>,
    mf_can_start: bool,
    /// This replica's processed replication offset (set by the server).
    pub my_offset: u64,
    /// When the replica's link to its master went down (0: up).
    pub master_link_down_since: u64,
    pub settings: Settings,
    /// The nodes file must be written before the next reply.
    pub dirty: bool,
    /// A change the slot view of the threads must pick up.
    pub view_dirty: bool,
    pub outbox: Vec<(To, Vec<u8>)>,
    pub effects: Vec<Effect>,
    started: u64,
}

/// A new random node name (40 hex characters).
pub fn random_name() -> Name {
    let mut n = NO_NAME;
    for c in n.iter_mut() {
        *c = b"0123456789abcdef"[fastrand::usize(..16)];
    }
    n
}

pub fn name_of(s: &[u8]) -> Option<Name> {
    (s.len() == wire::NAMELEN).then(|| {
        let mut n = NO_NAME;
        n.copy_from_slice(s);
        n
    })
}

impl Cluster {
    pub fn new(settings: Settings, now: u64) -> Cluster {
        let mut me = Node::new(random_name(), flag::MYSELF | flag::MASTER, now);
        me.port = settings.port;
        me.cport = settings.cport;
        me.ip = settings.announce_ip.clone();
        me.hostname = settings.announce_hostname.clone();
        Cluster {
            nodes: vec![Some(me)],
            me: 0,
            slots: vec![None; SLOTS],
            migrating: BTreeMap::new(),
            importing: BTreeMap::new(),
            current_epoch: 0,
            last_vote_epoch: 0,
            ok: false,
            size: 0,
            sent: [0; kind::COUNT],
            received: [0; kind::COUNT],
            blacklist: Vec::new(),
            auth_time: 0,
            auth_count: 0,
            auth_sent: false,
            auth_rank: 0,
            auth_epoch: 0,
            mf_end: 0,
            mf_replica: None,
            mf_master_offset: None,
            mf_can_start: false,
            my_offset: 0,
            master_link_down_since: 0,
            settings,
            dirty: true,
            view_dirty: true,
            outbox: Vec::new(),
            effects: Vec::new(),
            started: now,
        }
    }

    pub fn node(&self, id: Id) -> &Node {
        self.nodes[id].as_ref().expect("live node id")
    }

    pub fn node_mut(&mut self, id: Id) -> &mut Node {
        self.nodes[id].as_mut().expect("live node id")
    }

    pub fn myself(&self) -> &Node {
        self.node(self.me)
    }

    pub fn ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|_| i))
    }

    pub fn lookup(&self, name: &[u8]) -> Option<Id> {
        self.ids().find(|&i| &self.node(i).name[..] == name)
    }

    /// The master whose slots this node serves: itself, or its master.
    pub fn my_master(&self) -> Option<Id> {
        if self.myself().is_master() {
            Some(self.me)
        } else {
            self.myself().master
        }
    }

    pub fn add_node(&mut self, n: Node) -> Id {
        match self.nodes.iter().position(Option::is_none) {
            Some(i) => {
                self.nodes[i] = Some(n);
                i
            }
            None => {
                self.nodes.push(Some(n));
                self.nodes.len() - 1
            }
        }
    }

    /// Removes a node: its slots become unassigned, its replicas lose
    /// their master, its failure reports go.
    pub fn del_node(&mut self, id: Id) {
        for s in 0..SLOTS {
            if self.slots[s] == Some(id) {
                self.slots[s] = None;
            }
        }
        self.migrating.retain(|_, v| *v != id);
        self.importing.retain(|_, v| *v != id);
        for i in self.ids().collect::<Vec<_>>() {
            let n = self.node_mut(i);
            n.fail_reports.retain(|(r, _)| *r != id);
            if n.master == Some(id) {
                n.master = None;
            }
        }
        self.nodes[id] = None;
        self.dirty = true;
        self.view_dirty = true;
    }

    pub fn add_slot(&mut self, id: Id, slot: usize) {
        if let Some(old) = self.slots[slot] {
            let o = self.node_mut(old);
            o.slots[slot / 8] &= !(1 << (slot % 8));
            o.numslots -= 1;
        }
        self.slots[slot] = Some(id);
        let n = self.node_mut(id);
        n.slots[slot / 8] |= 1 << (slot % 8);
        n.numslots += 1;
        self.view_dirty = true;
    }

    pub fn del_slot(&mut self, slot: usize) {
        if let Some(old) = self.slots[slot].take() {
            let o = self.node_mut(old);
            o.slots[slot / 8] &= !(1 << (slot % 8));
            o.numslots -= 1;
        }
        self.view_dirty = true;
    }

    pub fn set_master_flags(&mut self, id: Id) {
        let n = self.node_mut(id);
        if n.is_master() {
            return;
        }
        n.flags = (n.flags & !flag::SLAVE) | flag::MASTER;
        n.master = None;
        self.dirty = true;
        self.view_dirty = true;
    }

    /// Makes this node a replica of `master` (REPLICATE, or a master that
    /// lost its last slot): its slots go, and the server follows.
    pub fn set_my_master(&mut self, master: Id) {
        let me = self.me;
        if self.myself().is_master() {
            for s in 0..SLOTS {
                if self.slots[s] == Some(me) {
                    self.del_slot(s);
                }
            }
            self.migrating.clear();
            self.importing.clear();
            let n = self.node_mut(me);
            n.flags = (n.flags & !(flag::MASTER | flag::MIGRATE_TO)) | flag::SLAVE;
        }
        self.node_mut(me).master = Some(master);
        let m = self.node(master);
        self.effects.push(Effect::Replicate(m.ip.clone(), m.port));
        self.reset_manual_failover();
        self.dirty = true;
        self.view_dirty = true;
    }

    fn blacklisted(&mut self, name: &Name, now: u64) -> bool {
        self.blacklist.retain(|(_, until)| *until > now);
        self.blacklist.iter().any(|(n, _)| n == name)
    }

    pub fn blacklist_add(&mut self, name: Name, now: u64) {
        self.blacklist.retain(|(n, _)| *n != name);
        self.blacklist.push((name, now + BLACKLIST_TTL));
    }

    /// CLUSTER MEET: a node in handshake, met at the next cron tick.
    pub fn start_handshake(&mut self, ip: &str, port: u16, cport: u16, now: u64) -> bool {
        // Already meeting this address?
        let busy = self.ids().any(|i| {
            let n = self.node(i);
            n.has(flag::HANDSHAKE) && n.ip == ip && n.port == port && n.cport == cport
        });
        if busy {
            return false;
        }
        let mut n = Node::new(random_name(), flag::HANDSHAKE | flag::MEET, now);
        n.ip = ip.to_string();
        n.port = port;
        n.cport = cport;
        self.add_node(n);
        self.dirty = true;
        true
    }

    // ---- Building messages -------------------------------------------

    /// The header every message of this node carries.
    pub fn header(&self, t: u16) -> Header {
        let me = self.myself();
        let mut h = Header::new(t);
        h.sender = me.name;
        h.myip = self.settings.announce_ip.clone();
        h.port = self.settings.port;
        h.cport = self.settings.cport;
        h.flags = me.flags;
        h.state = u8::from(!self.ok);
        let master = self.my_master().unwrap_or(self.me);
        h.slots = self.node(master).slots.clone();
        if let Some(m) = me.master.filter(|_| me.is_replica()) {
            h.slaveof = self.node(m).name;
        }
        h.current_epoch = self.current_epoch;
        h.config_epoch = self.node(master).config_epoch;
        h.offset = self.my_offset;
        if me.is_master() && self.mf_end != 0 {
            h.mflags[0] |= mflag::PAUSED;
        }
        h
    }

    fn gossip_of(&self, id: Id) -> Gossip {
        let n = self.node(id);
        Gossip {
            name: n.name,
            ping_sent: (n.ping_sent / 1000) as u32,
            pong_received: (n.pong_received / 1000) as u32,
            ip: n.ip.clone(),
            port: n.port,
            cport: n.cport,
            flags: n.flags,
            pport: n.pport,
        }
    }

    /// A PING, PONG or MEET with a gossip section: about a tenth of the
    /// known nodes (at least 3) picked at random, plus every node this
    /// one suspects (PFAIL), so failure reports spread.
    pub fn ping(&self, t: u16) -> Vec<u8> {
        let mut h = self.header(t);
        h.mflags[0] |= mflag::EXT_DATA;
        let all: Vec<Id> = self.ids().collect();
        let fresh = all.len().saturating_sub(2);
        let wanted = (all.len() / 10).max(3).min(fresh);
        let mut picked: Vec<Id> = Vec::new();
        let mut tries = wanted * 3;
        while picked.len() < wanted && tries > 0 {
            tries -= 1;
            let id = all[fastrand::usize(..all.len())];
            let n = self.node(id);
            if id == self.me
                || n.has(flag::PFAIL | flag::HANDSHAKE | flag::NOADDR)
                || (!n.link && n.numslots == 0)
                || picked.contains(&id)
            {
                continue;
            }
            picked.push(id);
        }
        for &id in &all {
            if self.node(id).has(flag::PFAIL) && id != self.me {
                picked.push(id);
            }
        }
        let gossip = picked.iter().map(|&i| self.gossip_of(i)).collect();
        let host = Some(self.settings.announce_hostname.clone()).filter(|h| !h.is_empty());
        wire::encode(&h, &Body::Gossip(gossip, host))
    }

    fn send(&mut self, to: To, t: u16, bytes: Vec<u8>) {
        self.sent[t as usize] += 1;
        self.outbox.push((to, bytes));
    }

    pub fn send_ping(&mut self, id: Id, t: u16, now: u64) {
        if t == kind::PING {
            let n = self.node_mut(id);
            if n.ping_sent == 0 {
                n.ping_sent = now;
            }
        }
        let bytes = self.ping(t);
        self.send(To::Node(id), t, bytes);
    }

    /// To every node with a link (not in handshake), `make`'s message.
    fn broadcast(&mut self, t: u16, bytes: Vec<u8>) {
        let targets: Vec<Id> = self
            .ids()
            .filter(|&i| {
                let n = self.node(i);
                i != self.me && n.link && !n.has(flag::HANDSHAKE | flag::NOADDR)
            })
            .collect();
        for id in targets {
            self.send(To::Node(id), t, bytes.clone());
        }
    }

    pub fn broadcast_pong(&mut self) {
        let bytes = self.ping(kind::PONG);
        self.broadcast(kind::PONG, bytes);
    }

    fn broadcast_fail(&mut self, id: Id) {
        let h = self.header(kind::FAIL);
        let bytes = wire::encode(&h, &Body::Fail(self.node(id).name));
        self.broadcast(kind::FAIL, bytes);
    }

    pub fn broadcast_publish(&mut self, channel: &[u8], message: &[u8]) {
        let h = self.header(kind::PUBLISH);
        let bytes = wire::encode(&h, &Body::Publish(channel.to_vec(), message.to_vec()));
        self.broadcast(kind::PUBLISH, bytes);
    }

    /// SPUBLISH: to the other nodes of this node's shard only (its
    /// master, or itself as one, and that master's replicas), over the
    /// links they have, as Redis sends PUBLISHSHARD.
    pub fn broadcast_publish_shard(&mut self, channel: &[u8], message: &[u8]) {
        let master = match self.myself().master {
            Some(m) if !self.myself().is_master() => m,
            _ => self.me,
        };
        let targets: Vec<Id> = self
            .ids()
            .filter(|&i| {
                let n = self.node(i);
                i != self.me
                    && (i == master || n.master == Some(master))
                    && n.link
                    && !n.has(flag::HANDSHAKE | flag::NOADDR)
            })
            .collect();
        if targets.is_empty() {
            return;
        }
        let h = self.header(kind::PUBLISHSHARD);
        let bytes = wire::encode(&h, &Body::Publish(channel.to_vec(), message.to_vec()));
        for id in targets {
            self.send(To::Node(id), kind::PUBLISHSHARD, bytes.clone());
        }
    }

    fn send_update(&mut self, to: Id, about: Id) {
        let n = self.node(about);
        let body = Body::Update {
            config_epoch: n.config_epoch,
            name: n.name,
            slots: n.slots.clone(),
        };
        let bytes = wire::encode(&self.header(kind::UPDATE), &body);
        self.send(To::Node(to), kind::UPDATE, bytes);
    }

    // ---- Handling messages -------------------------------------------

    /// One message from a peer. `link_node` is the node an outgoing link
    /// was opened to (None for an accepted link); `peer_ip` the address
    /// the message came from; `local_ip` this side's address on the link.
    /// Returns false when the link must be closed.
    pub fn handle(
        &mut self,
        m: wire::Message,
        link_node: Option<Id>,
        peer_ip: &str,
        local_ip: &str,
        now: u64,
    ) -> bool {
        let h = &m.header;
        let t = h.kind;
        if (t as usize) < kind::COUNT {
            self.received[t as usize] += 1;
        }
        let sender = self
            .lookup(&h.sender)
            .filter(|&s| !self.node(s).has(flag::HANDSHAKE));
        if let Some(s) = sender {
            if let Some(l) = link_node.filter(|&l| l == s) {
                self.node_mut(l).data_received = now;
            }
            self.node_mut(s).data_received = now;
            if h.current_epoch > self.current_epoch {
                self.current_epoch = h.current_epoch;
                self.dirty = true;
            }
            if h.config_epoch > self.node(s).config_epoch {
                self.node_mut(s).config_epoch = h.config_epoch;
                self.dirty = true;
            }
            self.node_mut(s).repl_offset = h.offset;
            // A manual failover: the paused master's offset.
            if self.mf_end != 0
                && self.myself().is_replica()
                && self.myself().master == Some(s)
                && h.mflags[0] & mflag::PAUSED != 0
                && self.mf_master_offset.is_none()
            {
                self.mf_master_offset = Some(h.offset);
            }
        }
        if t == kind::PING || t == kind::MEET {
            // The first PING or a MEET tells this node its own address,
            // unless it announces one.
            if (t == kind::MEET || self.myself().ip.is_empty())
                && self.settings.announce_ip.is_empty()
                && !local_ip.is_empty()
                && self.myself().ip != local_ip
            {
                self.node_mut(self.me).ip = local_ip.to_string();
                self.dirty = true;
            }
            if sender.is_none() && t == kind::MEET {
                let mut n = Node::new(random_name(), flag::HANDSHAKE, now);
                n.ip = if h.myip.is_empty() {
                    peer_ip.to_string()
                } else {
                    h.myip.clone()
                };
                n.port = h.port;
                n.cport = h.cport;
                n.pport = h.pport;
                self.add_node(n);
                self.dirty = true;
            }
            if sender.is_none() && t == kind::MEET {
                if let Body::Gossip(g, _) = &m.body {
                    self.gossip(None, g, now);
                }
            }
            let bytes = self.ping(kind::PONG);
            self.send(To::Reply, kind::PONG, bytes);
        }
        if t == kind::PING || t == kind::PONG || t == kind::MEET {
            if let Some(l) = link_node {
                if self.node(l).has(flag::HANDSHAKE) {
                    if let Some(s) = sender {
                        // Met under a name already known: keep that one.
                        let (ip, port, cport) = (peer_ip.to_string(), h.port, h.cport);
                        self.update_address(s, &ip, port, cport);
                        self.del_node(l);
                        return false;
                    }
                    let n = self.node_mut(l);
                    n.name = h.sender;
                    n.flags &= !flag::HANDSHAKE;
                    n.flags |= h.flags & (flag::MASTER | flag::SLAVE);
                    self.dirty = true;
                } else if self.node(l).name != h.sender {
                    // Another node answers at this address now.
                    let n = self.node_mut(l);
                    n.flags |= flag::NOADDR;
                    n.ip.clear();
                    n.port = 0;
                    n.cport = 0;
                    self.dirty = true;
                    return false;
                }
            }
            let sender = self
                .lookup(&h.sender)
                .filter(|&s| !self.node(s).has(flag::HANDSHAKE));
            if let (Some(s), true) = (sender, link_node.is_none() && t == kind::PING) {
                let ip = if h.myip.is_empty() {
                    peer_ip.to_string()
                } else {
                    h.myip.clone()
                };
                self.update_address(s, &ip, h.port, h.cport);
            }
            if let Some(l) = link_node.filter(|_| t == kind::PONG) {
                let n = self.node_mut(l);
                n.pong_received = now;
                n.ping_sent = 0;
                if n.has(flag::PFAIL) {
                    n.flags &= !flag::PFAIL;
                    self.view_dirty = true;
                } else if n.has(flag::FAIL) {
                    self.clear_failure_if_needed(l, now);
                }
            }
            let Some(s) = sender else {
                return true;
            };
            if let Body::Gossip(_, Some(host)) = &m.body {
                if self.node(s).hostname != *host {
                    self.node_mut(s).hostname = host.clone();
                    self.view_dirty = true;
                }
            }
            // The sender's role.
            if h.slaveof == NO_NAME {
                self.set_master_flags(s);
            } else if let Some(master) = self.lookup(&h.slaveof) {
                if self.node(s).is_master() {
                    for slot in 0..SLOTS {
                        if self.slots[slot] == Some(s) {
                            self.del_slot(slot);
                        }
                    }
                    let n = self.node_mut(s);
                    n.flags = (n.flags & !(flag::MASTER | flag::MIGRATE_TO)) | flag::SLAVE;
                    self.dirty = true;
                }
                if self.node(s).master != Some(master) {
                    self.node_mut(s).master = Some(master);
                    self.dirty = true;
                    self.view_dirty = true;
                }
            }
            // The sender's slots: a master claiming slots with a newer
            // epoch takes them; one claiming slots someone newer holds
            // is told with an UPDATE.
            let sender_master = if self.node(s).is_master() {
                Some(s)
            } else {
                self.node(s).master
            };
            let dirty_slots = sender_master.is_some_and(|sm| self.node(sm).slots != h.slots);
            if self.node(s).is_master() && dirty_slots {
                let slots = h.slots.clone();
                self.update_slots_with(s, h.config_epoch, &slots);
            }
            if dirty_slots {
                for slot in 0..SLOTS {
                    if !bit(&h.slots, slot) {
                        continue;
                    }
                    match self.slots[slot] {
                        Some(o) if o == s => {}
                        Some(o) if self.node(o).config_epoch > h.config_epoch => {
                            self.send_update(s, o);
                            break;
                        }
                        _ => {}
                    }
                }
            }
            if self.myself().is_master()
                && self.node(s).is_master()
                && h.config_epoch == self.myself().config_epoch
            {
                self.config_epoch_collision(s);
            }
            if let Body::Gossip(g, _) = &m.body {
                self.gossip(Some(s), g, now);
            }
            return true;
        }
        let Some(s) = sender else {
            return true;
        };
        match (&m.body, t) {
            (Body::Fail(name), _) => {
                if let Some(f) = self.lookup(name) {
                    let n = self.node_mut(f);
                    if !n.has(flag::FAIL | flag::MYSELF) {
                        n.flags = (n.flags | flag::FAIL) & !flag::PFAIL;
                        n.fail_time = now;
                        self.dirty = true;
                        self.view_dirty = true;
                    }
                }
            }
            (Body::Publish(channel, message), kind::PUBLISH) => {
                self.effects
                    .push(Effect::Publish(channel.clone(), message.clone()));
            }
            (Body::Publish(channel, message), kind::PUBLISHSHARD) => {
                self.effects
                    .push(Effect::PublishShard(channel.clone(), message.clone()));
            }
            (_, kind::AUTH_REQUEST) => self.maybe_vote(s, h, now),
            (_, kind::AUTH_ACK) => {
                let n = self.node(s);
                if n.is_master() && n.numslots > 0 && h.current_epoch >= self.auth_epoch {
                    self.auth_count += 1;
                }
            }
            (_, kind::MFSTART)
                if self.node(s).master == Some(self.me) && self.myself().is_master() =>
            {
                self.reset_manual_failover();
                self.mf_end = now + MF_TIMEOUT;
                self.mf_replica = Some(s);
                self.effects.push(Effect::PauseWrites(now + MF_TIMEOUT * 2));
                self.send_ping(s, kind::PING, now);
            }
            (
                Body::Update {
                    config_epoch,
                    name,
                    slots,
                },
                _,
            ) => {
                if let Some(n) = self.lookup(name) {
                    if self.node(n).config_epoch < *config_epoch {
                        if self.node(n).is_replica() {
                            self.set_master_flags(n);
                        }
                        self.node_mut(n).config_epoch = *config_epoch;
                        let slots = slots.clone();
                        self.update_slots_with(n, *config_epoch, &slots);
                        self.dirty = true;
                    }
                }
            }
            _ => {}
        }
        true
    }

    fn update_address(&mut self, id: Id, ip: &str, port: u16, cport: u16) {
        if id == self.me {
            return;
        }
        let n = self.node_mut(id);
        if n.ip == ip && n.port == port && n.cport == cport {
            return;
        }
        n.ip = ip.to_string();
        n.port = port;
        n.cport = cport;
        n.flags &= !flag::NOADDR;
        n.link = false;
        self.dirty = true;
        self.view_dirty = true;
        // A replica whose master moved follows it at the new address.
        if self.myself().is_replica() && self.myself().master == Some(id) {
            let m = self.node(id);
            self.effects.push(Effect::Replicate(m.ip.clone(), m.port));
        }
    }

    /// `sender`, a master at `epoch`, claims `slots`: take each slot that
    /// is free or held at an older epoch (not one being imported here).
    fn update_slots_with(&mut self, sender: Id, epoch: u64, slots: &[u8; SLOT_BYTES]) {
        if sender == self.me {
            return;
        }
        let cur_master = self.my_master();
        let mut new_master = None;
        let mut lost_with_keys = Vec::new();
        for slot in 0..SLOTS {
            if !bit(slots, slot) || self.slots[slot] == Some(sender) {
                continue;
            }
            if self.importing.contains_key(&(slot as u16)) {
                continue;
            }
            let older = match self.slots[slot] {
                None => true,
                Some(o) => self.node(o).config_epoch < epoch,
            };
            if !older {
                continue;
            }
            if self.slots[slot] == Some(self.me) {
                lost_with_keys.push(slot as u16);
            }
            if self.slots[slot].is_some() && self.slots[slot] == cur_master {
                new_master = Some(sender);
            }
            self.del_slot(slot);
            self.add_slot(sender, slot);
            self.migrating.remove(&(slot as u16));
            self.dirty = true;
        }
        let Some(cur) = cur_master else {
            return;
        };
        if let Some(nm) = new_master {
            if self.node(cur).numslots == 0
                && (self.settings.allow_replica_migration || cur != self.me)
            {
                // Our master (or we) lost every slot to `nm`: follow it.
                self.set_my_master(nm);
                return;
            }
        }
        if !lost_with_keys.is_empty() {
            self.effects.push(Effect::DeleteSlots(lost_with_keys));
        }
    }

    /// Two masters with one config epoch: the one with the smaller name
    /// takes a new epoch, so every slot has one winner.
    fn config_epoch_collision(&mut self, sender: Id) {
        if self.myself().name >= self.node(sender).name {
            return;
        }
        self.current_epoch += 1;
        let e = self.current_epoch;
        self.node_mut(self.me).config_epoch = e;
        self.dirty = true;
        log::info!(
            "WARNING: configEpoch collision with node {}. configEpoch set to {e}",
            self.node(sender).name_str()
        );
    }

    fn gossip(&mut self, sender: Option<Id>, entries: &[Gossip], now: u64) {
        let sender_is_master = sender.is_some_and(|s| self.node(s).is_master());
        for g in entries {
            match self.lookup(&g.name) {
                Some(id) => {
                    if let Some(s) = sender.filter(|_| sender_is_master && id != self.me) {
                        if g.flags & (flag::FAIL | flag::PFAIL) != 0 {
                            let n = self.node_mut(id);
                            match n.fail_reports.iter_mut().find(|(r, _)| *r == s) {
                                Some(r) => r.1 = now,
                                None => n.fail_reports.push((s, now)),
                            }
                            self.mark_failing_if_needed(id, now);
                        } else {
                            self.node_mut(id).fail_reports.retain(|(r, _)| *r != s);
                        }
                    }
                    let n = self.node_mut(id);
                    if g.flags & (flag::FAIL | flag::PFAIL) == 0
                        && n.ping_sent == 0
                        && n.fail_reports.is_empty()
                    {
                        let pong = u64::from(g.pong_received) * 1000;
                        if pong <= now + 500 && pong > n.pong_received {
                            n.pong_received = pong;
                        }
                    }
                    // A node this one cannot reach, seen at another address
                    // by one that can: try that address.
                    let n = self.node(id);
                    if n.failing()
                        && id != self.me
                        && g.flags & (flag::NOADDR | flag::FAIL | flag::PFAIL) == 0
                        && (n.ip != g.ip || n.port != g.port || n.cport != g.cport)
                    {
                        let (ip, port, cport) = (g.ip.clone(), g.port, g.cport);
                        self.update_address(id, &ip, port, cport);
                    }
                }
                None => {
                    if sender.is_some()
                        && g.flags & flag::NOADDR == 0
                        && !self.blacklisted(&g.name, now)
                        && !g.ip.is_empty()
                    {
                        let mut n = Node::new(g.name, g.flags & (flag::MASTER | flag::SLAVE), now);
                        n.ip = g.ip.clone();
                        n.port = g.port;
                        n.cport = g.cport;
                        n.pport = g.pport;
                        self.add_node(n);
                        self.dirty = true;
                    }
                }
            }
        }
    }

    fn valid_reports(&mut self, id: Id, now: u64) -> usize {
        let max_age = self.settings.node_timeout * FAIL_REPORT_VALIDITY_MULT;
        let n = self.node_mut(id);
        n.fail_reports
            .retain(|(_, t)| now.saturating_sub(*t) <= max_age);
        n.fail_reports.len()
    }

    /// PFAIL to FAIL once a majority of masters report it.
    fn mark_failing_if_needed(&mut self, id: Id, now: u64) {
        let quorum = self.size / 2 + 1;
        let n = self.node(id);
        if !n.has(flag::PFAIL) || n.has(flag::FAIL) {
            return;
        }
        let mut failures = self.valid_reports(id, now);
        if self.myself().is_master() {
            failures += 1;
        }
        if failures < quorum {
            return;
        }
        log::info!(
            "Marking node {} as failing (quorum reached).",
            self.node(id).name_str()
        );
        let n = self.node_mut(id);
        n.flags = (n.flags | flag::FAIL) & !flag::PFAIL;
        n.fail_time = now;
        self.broadcast_fail(id);
        self.dirty = true;
        self.view_dirty = true;
    }

    fn clear_failure_if_needed(&mut self, id: Id, now: u64) {
        let timeout = self.settings.node_timeout;
        let n = self.node(id);
        let clear = n.is_replica()
            || n.numslots == 0
            || now.saturating_sub(n.fail_time) > timeout * FAIL_UNDO_TIME_MULT;
        if clear {
            log::info!(
                "Clear FAIL state for node {}: is reachable again.",
                n.name_str()
            );
            self.node_mut(id).flags &= !flag::FAIL;
            self.dirty = true;
            self.view_dirty = true;
        }
    }

    /// A master's vote for a replica's election.
    fn maybe_vote(&mut self, requester: Id, h: &Header, now: u64) {
        let me = self.myself();
        if me.is_replica() || me.numslots == 0 {
            return;
        }
        if h.current_epoch < self.current_epoch || self.last_vote_epoch == self.current_epoch {
            return;
        }
        let force = h.mflags[0] & mflag::FORCEACK != 0;
        let r = self.node(requester);
        let Some(master) = r.master.filter(|_| r.is_replica()) else {
            return;
        };
        if !self.node(master).has(flag::FAIL) && !force {
            return;
        }
        let timeout = self.settings.node_timeout;
        if now.saturating_sub(self.node(master).voted_time) < timeout * 2 {
            return;
        }
        for slot in 0..SLOTS {
            if !bit(&h.slots, slot) {
                continue;
            }
            if let Some(o) = self.slots[slot] {
                if self.node(o).config_epoch > h.config_epoch {
                    return;
                }
            }
        }
        self.last_vote_epoch = self.current_epoch;
        self.node_mut(master).voted_time = now;
        self.dirty = true;
        let bytes = wire::encode(&self.header(kind::AUTH_ACK), &Body::Empty);
        self.send(To::Node(requester), kind::AUTH_ACK, bytes);
        log::info!(
            "Failover auth granted to {} for epoch {}",
            self.node(requester).name_str(),
            self.current_epoch
        );
    }

    // ---- Failover -------------------------------------------------------

    pub fn reset_manual_failover(&mut self) {
        if self.mf_end != 0 && self.myself().is_master() {
            self.effects.push(Effect::PauseWrites(0));
        }
        self.mf_end = 0;
        self.mf_replica = None;
        self.mf_master_offset = None;
        self.mf_can_start = false;
    }

    /// CLUSTER FAILOVER on a replica: FORCE starts the election now,
    /// otherwise the master is asked to pause and the election waits for
    /// this replica to catch up with it.
    pub fn start_manual_failover(&mut self, force: bool, now: u64) {
        self.reset_manual_failover();
        self.mf_end = now + MF_TIMEOUT;
        if force {
            self.mf_can_start = true;
            return;
        }
        if let Some(m) = self.myself().master {
            let bytes = wire::encode(&self.header(kind::MFSTART), &Body::Empty);
            self.send(To::Node(m), kind::MFSTART, bytes);
        }
    }

    /// CLUSTER FAILOVER TAKEOVER: a new epoch and the master's slots,
    /// without a vote.
    pub fn takeover(&mut self) {
        self.bump_epoch_without_consensus();
        self.promote_myself();
    }

    /// A new config epoch for this node unless it already has the
    /// greatest; true when it took one.
    pub fn bump_epoch_without_consensus(&mut self) -> bool {
        let max = self
            .ids()
            .map(|i| self.node(i).config_epoch)
            .max()
            .unwrap_or(0);
        let mine = self.myself().config_epoch;
        if mine == 0
            || mine != max
            || self
                .ids()
                .filter(|&i| self.node(i).config_epoch == max)
                .count()
                > 1
        {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.node_mut(self.me).config_epoch = e;
            self.dirty = true;
            true
        } else {
            false
        }
    }

    /// A replica takes its master's slots and becomes a master.
    fn promote_myself(&mut self) {
        let Some(old) = self.myself().master else {
            return;
        };
        let me = self.me;
        let n = self.node_mut(me);
        n.flags = (n.flags & !flag::SLAVE) | flag::MASTER;
        n.master = None;
        for slot in 0..SLOTS {
            if self.slots[slot] == Some(old) {
                self.del_slot(slot);
                self.add_slot(me, slot);
            }
        }
        self.effects.push(Effect::Promote);
        self.update_state(u64::MAX / 2);
        self.dirty = true;
        self.view_dirty = true;
        self.broadcast_pong();
        self.reset_manual_failover();
    }

    /// This replica's rank among its master's replicas: how many have a
    /// greater offset (the best goes first).
    fn rank(&self) -> usize {
        let Some(m) = self.myself().master else {
            return 0;
        };
        self.ids()
            .filter(|&i| {
                let n = self.node(i);
                i != self.me && n.master == Some(m) && n.repl_offset > self.my_offset
            })
            .count()
    }

    fn replica_failover(&mut self, now: u64) {
        let me = self.myself();
        let quorum = self.size / 2 + 1;
        let manual = self.mf_end != 0 && self.mf_can_start;
        let Some(master) = me.master.filter(|_| me.is_replica()) else {
            return;
        };
        let m = self.node(master);
        if ((!m.has(flag::FAIL) || self.settings.replica_no_failover) && !manual) || m.numslots == 0
        {
            return;
        }
        let timeout = self.settings.node_timeout;
        let auth_timeout = (timeout * 2).max(2000);
        let retry = auth_timeout * 2;
        if self.settings.validity_factor > 0 && !manual && self.master_link_down_since > 0 {
            let age = now
                .saturating_sub(self.master_link_down_since)
                .saturating_sub(timeout);
            if age > timeout * self.settings.validity_factor + 10_000 {
                return;
            }
        }
        if now.saturating_sub(self.auth_time) > retry
            && (self.auth_time <= now || self.auth_time == 0)
        {
            self.auth_time = now + 500 + fastrand::u64(..500);
            self.auth_count = 0;
            self.auth_sent = false;
            self.auth_rank = self.rank();
            self.auth_time += self.auth_rank as u64 * 1000;
            if manual {
                self.auth_time = now;
                self.auth_rank = 0;
            }
            log::info!(
                "Start of election delayed for {} milliseconds (rank #{}, offset {}).",
                self.auth_time.saturating_sub(now),
                self.auth_rank,
                self.my_offset
            );
            // Tell the other replicas this one's offset, for their ranks.
            let replicas: Vec<Id> = self
                .ids()
                .filter(|&i| {
                    i != self.me && self.node(i).master == Some(master) && self.node(i).link
                })
                .collect();
            let bytes = self.ping(kind::PONG);
            for r in replicas {
                self.send(To::Node(r), kind::PONG, bytes.clone());
            }
            return;
        }
        if !self.auth_sent && !manual {
            let rank = self.rank();
            if rank > self.auth_rank {
                self.auth_time += (rank - self.auth_rank) as u64 * 1000;
                self.auth_rank = rank;
            }
        }
        if now < self.auth_time {
            return;
        }
        if now - self.auth_time > auth_timeout {
            return;
        }
        if !self.auth_sent {
            self.current_epoch += 1;
            self.auth_epoch = self.current_epoch;
            log::info!(
                "Starting a failover election for epoch {}.",
                self.current_epoch
            );
            let mut h = self.header(kind::AUTH_REQUEST);
            if manual {
                h.mflags[0] |= mflag::FORCEACK;
            }
            let bytes = wire::encode(&h, &Body::Empty);
            self.broadcast(kind::AUTH_REQUEST, bytes);
            self.auth_sent = true;
            self.dirty = true;
            return;
        }
        if self.auth_count >= quorum {
            log::info!("Failover election won: I'm the new master.");
            if self.myself().config_epoch < self.auth_epoch {
                let e = self.auth_epoch;
                self.node_mut(self.me).config_epoch = e;
                log::info!("configEpoch set to {e} after successful failover");
            }
            self.promote_myself();
        }
    }

    // ---- The cron --------------------------------------------------------

    /// Every 100 ms: handshakes time out, pings go out, silent nodes
    /// become PFAIL, elections advance, the state is recomputed. `tick`
    /// counts calls (every tenth pings a random node).
    pub fn cron(&mut self, tick: u64, now: u64) {
        let timeout = self.settings.node_timeout;
        let handshake_timeout = timeout.max(1000);
        for id in self.ids().collect::<Vec<_>>() {
            let n = self.node(id);
            if n.has(flag::HANDSHAKE) && now.saturating_sub(n.ctime) > handshake_timeout {
                self.del_node(id);
            }
        }
        if tick % 10 == 0 {
            // The node with the oldest PONG among five random ones.
            let candidates: Vec<Id> = self
                .ids()
                .filter(|&i| {
                    let n = self.node(i);
                    i != self.me && n.link && n.ping_sent == 0 && !n.has(flag::HANDSHAKE)
                })
                .collect();
            let mut best: Option<Id> = None;
            for _ in 0..5.min(candidates.len()) {
                let c = candidates[fastrand::usize(..candidates.len())];
                if best.is_none_or(|b| self.node(c).pong_received < self.node(b).pong_received) {
                    best = Some(c);
                }
            }
            if let Some(b) = best {
                self.send_ping(b, kind::PING, now);
            }
        }
        for id in self.ids().collect::<Vec<_>>() {
            if id == self.me {
                continue;
            }
            let n = self.node(id);
            if n.has(flag::NOADDR | flag::HANDSHAKE) {
                continue;
            }
            if n.link && n.ping_sent == 0 && now.saturating_sub(n.pong_received) > timeout / 2 {
                self.send_ping(id, kind::PING, now);
                continue;
            }
            if self.mf_end != 0
                && self.myself().is_master()
                && self.mf_replica == Some(id)
                && n.link
            {
                self.send_ping(id, kind::PING, now);
                continue;
            }
            let n = self.node(id);
            if n.ping_sent == 0 {
                continue;
            }
            let delay = now
                .saturating_sub(n.ping_sent)
                .min(now.saturating_sub(n.data_received));
            if delay > timeout && !n.failing() {
                log::info!("*** Marking node {} as failing (PFAIL).", n.name_str());
                self.node_mut(id).flags |= flag::PFAIL;
                self.view_dirty = true;
                self.dirty = true;
            }
        }
        // A manual failover past its time.
        if self.mf_end != 0 && now > self.mf_end {
            log::info!("Manual failover timed out.");
            self.reset_manual_failover();
        }
        if self.myself().is_replica() {
            if self.mf_end != 0 && !self.mf_can_start {
                if let Some(off) = self.mf_master_offset {
                    if self.my_offset >= off {
                        self.mf_can_start = true;
                        log::info!(
                            "All master replication stream processed, manual failover can start."
                        );
                    }
                }
            }
            self.replica_failover(now);
        }
        for id in self.ids().collect::<Vec<_>>() {
            if self.node(id).has(flag::PFAIL) {
                self.mark_failing_if_needed(id, now);
            }
        }
        self.update_state(now);
    }

    /// The cluster's state: OK when every slot is served by a reachable
    /// master (unless full coverage is not required) and this node can
    /// reach a majority of the masters with slots.
    pub fn update_state(&mut self, now: u64) {
        let mut ok = true;
        if self.settings.require_full_coverage {
            // Every slot has a master (the masters' counts add up) and
            // none of those masters has failed.
            let served: usize = self.ids().map(|i| self.node(i).numslots).sum();
            ok = served == SLOTS
                && self
                    .ids()
                    .all(|i| self.node(i).numslots == 0 || !self.node(i).has(flag::FAIL));
        }
        let masters: Vec<Id> = self
            .ids()
            .filter(|&i| self.node(i).is_master() && self.node(i).numslots > 0)
            .collect();
        self.size = masters.len();
        let reachable = masters.iter().filter(|&&i| !self.node(i).failing()).count();
        if reachable < self.size / 2 + 1 {
            ok = false;
        }
        // A master that just started waits a moment before it accepts
        // writes, as Redis, so it can learn of a newer configuration.
        let settled = !ok
            || self.myself().is_replica()
            || now.saturating_sub(self.started) >= 2000
            || self.ok;
        if settled && self.ok != ok {
            log::info!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.ok = ok;
            self.view_dirty = true;
        }
    }

    // ---- Text: CLUSTER NODES and nodes.conf ---------------------------

    pub fn flags_text(&self, id: Id) -> String {
        let n = self.node(id);
        let mut v = Vec::new();
        let names = [
            (flag::MYSELF, "myself"),
            (flag::MASTER, "master"),
            (flag::SLAVE, "slave"),
            (flag::PFAIL, "fail?"),
            (flag::FAIL, "fail"),
            (flag::HANDSHAKE, "handshake"),
            (flag::NOADDR, "noaddr"),
            (flag::NOFAILOVER, "nofailover"),
        ];
        for (f, name) in names {
            if n.has(f) {
                v.push(name);
            }
        }
        if v.is_empty() {
            "noflags".into()
        } else {
            v.join(",")
        }
    }

    /// One node's line of CLUSTER NODES (and of nodes.conf).
    pub fn node_line(&self, id: Id) -> String {
        let n = self.node(id);
        let mut s = String::new();
        let _ = write!(s, "{} {}:{}@{}", n.name_str(), n.ip, n.port, n.cport);
        if !n.hostname.is_empty() {
            let _ = write!(s, ",{}", n.hostname);
        }
        let master = match n.master.filter(|_| n.is_replica()) {
            Some(m) => self.node(m).name_str().to_string(),
            None => "-".into(),
        };
        let link = if id == self.me || n.link {
            "connected"
        } else {
            "disconnected"
        };
        let pong = if id == self.me { 0 } else { n.pong_received };
        // A replica shows its master's epoch, as Redis.
        let epoch = match n.master.filter(|_| n.is_replica()) {
            Some(m) => self.node(m).config_epoch,
            None => n.config_epoch,
        };
        let _ = write!(
            s,
            " {} {} {} {} {} {}",
            self.flags_text(id),
            master,
            n.ping_sent,
            pong,
            epoch,
            link
        );
        for (a, b) in ranges(&n.slots) {
            if a == b {
                let _ = write!(s, " {a}");
            } else {
                let _ = write!(s, " {a}-{b}");
            }
        }
        if id == self.me {
            for (slot, to) in &self.migrating {
                let _ = write!(s, " [{slot}->-{}]", self.node(*to).name_str());
            }
            for (slot, from) in &self.importing {
                let _ = write!(s, " [{slot}-<-{}]", self.node(*from).name_str());
            }
        }
        s
    }

    /// CLUSTER NODES: one line each, myself first.
    pub fn nodes_text(&self) -> String {
        let mut s = String::new();
        let mut ids: Vec<Id> = self.ids().collect();
        ids.sort_by_key(|&i| (i != self.me, i));
        for id in ids {
            s.push_str(&self.node_line(id));
            s.push('\n');
        }
        s
    }

    /// The nodes file's text.
    pub fn file_text(&self) -> String {
        let mut s = self.nodes_text();
        let _ = writeln!(
            s,
            "vars currentEpoch {} lastVoteEpoch {}",
            self.current_epoch, self.last_vote_epoch
        );
        s
    }

    /// Loads a nodes file written by this node or by Redis; Err names the
    /// line that could not be read.
    pub fn load(&mut self, text: &str, now: u64) -> Result<(), String> {
        let mut me = None;
        let bad =
            |line: &str| format!("Unrecoverable error: corrupted cluster config file \"{line}\".");
        // Names first, so masters and migrations resolve in one pass.
        self.nodes.clear();
        self.slots = vec![None; SLOTS];
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut ids = Vec::new();
        for line in &lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f[0] == "vars" {
                let mut i = 1;
                while i + 1 < f.len() {
                    let v: u64 = f[i + 1].parse().map_err(|_| bad(line))?;
                    match f[i] {
                        "currentEpoch" => self.current_epoch = v,
                        "lastVoteEpoch" => self.last_vote_epoch = v,
                        _ => {}
                    }
                    i += 2;
                }
                continue;
            }
            if f.len() < 8 {
                return Err(bad(line));
            }
            let name = name_of(f[0].as_bytes()).ok_or_else(|| bad(line))?;
            let id = match self.lookup(&name) {
                Some(id) => id,
                None => self.add_node(Node::new(name, 0, now)),
            };
            ids.push((id, *line));
        }
        for (id, line) in ids {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (addr, host) = match f[1].split_once(',') {
                Some((a, h)) => (a, h.to_string()),
                None => (f[1], String::new()),
            };
            let (ipport, cport) = addr.split_once('@').ok_or_else(|| bad(line))?;
            let (ip, port) = ipport.rsplit_once(':').ok_or_else(|| bad(line))?;
            let port: u16 = port.parse().map_err(|_| bad(line))?;
            let cport: u16 = cport.parse().map_err(|_| bad(line))?;
            let mut flags = 0;
            for w in f[2].split(',') {
                flags |= match w {
                    "myself" => flag::MYSELF,
                    "master" => flag::MASTER,
                    "slave" => flag::SLAVE,
                    "fail?" => flag::PFAIL,
                    "fail" => flag::FAIL,
                    "handshake" => flag::HANDSHAKE,
                    "noaddr" => flag::NOADDR,
                    "nofailover" => flag::NOFAILOVER,
                    "noflags" => 0,
                    _ => return Err(bad(line)),
                };
            }
            let master = if f[3] == "-" {
                None
            } else {
                let name = name_of(f[3].as_bytes()).ok_or_else(|| bad(line))?;
                Some(match self.lookup(&name) {
                    Some(m) => m,
                    None => self.add_node(Node::new(name, 0, now)),
                })
            };
            let ping: u64 = f[4].parse().map_err(|_| bad(line))?;
            let pong: u64 = f[5].parse().map_err(|_| bad(line))?;
            let epoch: u64 = f[6].parse().map_err(|_| bad(line))?;
            {
                let n = self.node_mut(id);
                n.ip = ip.to_string();
                n.port = port;
                n.cport = cport;
                n.hostname = host;
                n.flags = flags;
                n.master = master;
                n.ping_sent = if ping > 0 { now } else { 0 };
                n.pong_received = if pong > 0 { now } else { 0 };
                n.config_epoch = epoch;
            }
            if flags & flag::MYSELF != 0 {
                me = Some(id);
            }
            for w in &f[8..] {
                if let Some(inner) = w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) {
                    let (slot, dir, other) = if let Some((s, o)) = inner.split_once("->-") {
                        (s, true, o)
                    } else if let Some((s, o)) = inner.split_once("-<-") {
                        (s, false, o)
                    } else {
                        return Err(bad(line));
                    };
                    let slot: u16 = slot.parse().map_err(|_| bad(line))?;
                    let name = name_of(other.as_bytes()).ok_or_else(|| bad(line))?;
                    let o = match self.lookup(&name) {
                        Some(o) => o,
                        None => self.add_node(Node::new(name, 0, now)),
                    };
                    if dir {
                        self.migrating.insert(slot, o);
                    } else {
                        self.importing.insert(slot, o);
                    }
                    continue;
                }
                let (a, b) = match w.split_once('-') {
                    Some((a, b)) => (a, b),
                    None => (*w, *w),
                };
                let a: usize = a.parse().map_err(|_| bad(line))?;
                let b: usize = b.parse().map_err(|_| bad(line))?;
                if a > b || b >= SLOTS {
                    return Err(bad(line));
                }
                for s in a..=b {
                    self.add_slot(id, s);
                }
            }
        }
        let me = me.ok_or_else(|| {
            "Unrecoverable error: corrupted cluster config file: no node is marked myself."
                .to_string()
        })?;
        self.me = me;
        // This node's own ports come from its settings, not the file.
        let (port, cport) = (self.settings.port, self.settings.cport);
        let n = self.node_mut(me);
        n.port = port;
        n.cport = cport;
        if !self.settings.announce_ip.is_empty() {
            let ip = self.settings.announce_ip.clone();
            self.node_mut(me).ip = ip;
        }
        self.dirty = false;
        self.view_dirty = true;
        self.update_state(now);
        Ok(())
    }
}

/// The runs of set bits of a slot map, as (first, last). Walks 64 bits
/// at a time (every save and CLUSTER NODES calls it per node).
pub fn ranges(map: &[u8; SLOT_BYTES]) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut start: Option<usize> = None;
    for (w, chunk) in map.chunks_exact(8).enumerate() {
        let mut word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let base = w * 64;
        let mut at = 0usize;
        while at < 64 {
            // Skip to the next change of state within the word.
            let run = if start.is_some() {
                (!word).trailing_zeros() as usize
            } else {
                word.trailing_zeros() as usize
            };
            let run = run.min(64 - at);
            at += run;
            if at >= 64 {
                break;
            }
            word >>= run;
            match start {
                Some(a) => {
                    v.push((a, base + at - 1));
                    start = None;
                }
                None => start = Some(base + at),
            }
        }
    }
    if let Some(a) = start {
        v.push((a, SLOTS - 1));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(port: u16) -> Settings {
        Settings {
            node_timeout: 15000,
            require_full_coverage: true,
            allow_reads_when_down: false,
            validity_factor: 10,
            allow_replica_migration: true,
            replica_no_failover: false,
            announce_ip: String::new(),
            announce_hostname: String::new(),
            port,
            cport: port + 10000,
        }
    }

    #[test]
    fn ranges_are_the_runs_of_set_bits() {
        let mut map = [0u8; SLOT_BYTES];
        let set = |m: &mut [u8; SLOT_BYTES], s: usize| m[s / 8] |= 1 << (s % 8);
        assert_eq!(ranges(&map), vec![]);
        for s in (0..70).chain([100, 127, 128]).chain(16000..16384) {
            set(&mut map, s);
        }
        assert_eq!(
            ranges(&map),
            vec![(0, 69), (100, 100), (127, 128), (16000, 16383)]
        );
        let full = [0xffu8; SLOT_BYTES];
        assert_eq!(ranges(&full), vec![(0, 16383)]);
    }

    #[test]
    fn the_nodes_file_reads_back() {
        let mut c = Cluster::new(settings(7000), 1);
        c.node_mut(0).ip = "127.0.0.1".into();
        let mut other = Node::new(random_name(), flag::MASTER, 1);
        other.ip = "127.0.0.1".into();
        other.port = 7001;
        other.cport = 17001;
        let o = c.add_node(other);
        for s in 0..100 {
            c.add_slot(0, s);
        }
        c.add_slot(0, 200);
        c.add_slot(o, 300);
        c.migrating.insert(5, o);
        c.current_epoch = 7;
        let text = c.file_text();
        let mut d = Cluster::new(settings(7000), 1);
        d.load(&text, 2).expect("test value");
        assert_eq!(d.file_text(), text);
        assert!(text.contains(" 0-99 200 [5->-"));
        assert!(d.load("garbage line\n", 2).is_err());
    }

    #[test]
    fn two_nodes_meet_and_learn_each_others_slots() {
        let mut a = Cluster::new(settings(7000), 1);
        let mut b = Cluster::new(settings(7001), 1);
        for s in 0..10 {
            a.add_slot(a.me, s);
        }
        a.node_mut(0).config_epoch = 1;
        a.start_handshake("127.0.0.1", 7001, 17001, 1);
        let hs = a.ids().find(|&i| i != a.me).expect("test value");
        let meet = a.ping(kind::MEET);
        let m = wire::decode(&meet).expect("decodes").expect("a known type");
        assert!(b.handle(m, None, "127.0.0.1", "127.0.0.1", 2));
        // b answers with a PONG on the same link.
        let (_, pong) = b.outbox.pop().expect("test value");
        let m = wire::decode(&pong).expect("decodes").expect("a known type");
        a.handle(m, Some(hs), "127.0.0.1", "127.0.0.1", 3);
        assert_eq!(a.node(hs).name, b.myself().name);
        assert!(!a.node(hs).has(flag::HANDSHAKE));
        // b learned of a in handshake; a's PING to it carries a's slots.
        let ping = a.ping(kind::PING);
        let bh = b.ids().find(|&i| i != b.me).expect("test value");
        let m = wire::decode(&ping).expect("decodes").expect("a known type");
        b.handle(m, Some(bh), "127.0.0.1", "127.0.0.1", 4);
        assert_eq!(b.node(bh).name, a.myself().name);
        assert_eq!(b.slots[3], Some(bh));
        assert_eq!(b.node(bh).numslots, 10);
    }
}
