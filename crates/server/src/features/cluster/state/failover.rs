//! Failover, as the cluster specification describes it: a master's vote
//! (one per epoch, none for a master voted on within two node timeouts,
//! none for stale slots), a replica's election (delayed by its rank among
//! its master's replicas, a new epoch, a majority of the masters with
//! slots), manual failover (MFSTART, the master pausing writes until the
//! replica caught up; FORCE; TAKEOVER), and the cron that drives it all
//! with the failure detector and the cluster's OK/FAIL state.

use super::*;

impl Cluster {
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
}
