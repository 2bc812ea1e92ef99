//! What each bus message does to the cluster as this node sees it: the
//! MEET handshake and the renaming of a node met by address, the sender's
//! role and slot claims (a newer config epoch wins a slot; a stale claim
//! gets an UPDATE), config epoch collisions, gossip about third nodes and
//! their failure reports, FAIL, PUBLISH, votes and their acknowledgements,
//! MFSTART, UPDATE.

use super::*;

impl Cluster {
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
        if i32::from(t) == self.drop_filter {
            return true;
        }
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
            // Its cluster-replica-no-failover, as it says.
            let said = h.flags & flag::NOFAILOVER;
            if self.node(s).flags & flag::NOFAILOVER != said {
                let n = self.node_mut(s);
                n.flags = (n.flags & !flag::NOFAILOVER) | said;
                self.dirty = true;
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
    pub(super) fn mark_failing_if_needed(&mut self, id: Id, now: u64) {
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
}
