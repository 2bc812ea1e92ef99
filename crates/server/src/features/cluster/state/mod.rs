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
//!
//! The rules are split by concern, each file an `impl Cluster` of its
//! own: [`gossip`] (what each bus message does: handshakes, roles, slot
//! claims and UPDATEs, epochs, failure reports), [`failover`] (votes,
//! elections, manual failover, the cron and the cluster's state),
//! [`nodes_file`] (CLUSTER NODES lines and the nodes file, both ways).

mod failover;
mod gossip;
mod nodes_file;

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
    /// Never given to another node of this process: a link opened to a
    /// node is not taken for a link to a later node that reuses its slab
    /// slot (after a FORGET or a CLUSTER RESET).
    pub serial: u64,
}

/// The next [`Node::serial`].
static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Node {
    fn new(name: Name, flags: u16, now: u64) -> Node {
        Node {
            serial: SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
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
    /// DEBUG DROP-CLUSTER-PACKET-FILTER: messages of this type are
    /// dropped on arrival (-1: none).
    pub drop_filter: i32,
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
            drop_filter: -1,
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
