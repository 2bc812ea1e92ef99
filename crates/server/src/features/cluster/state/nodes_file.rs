//! The cluster as text: one CLUSTER NODES line per node, the same lines
//! (plus the epochs' `vars` line) in the nodes file, and reading such a
//! file back — written by Tessera or by Redis.

use super::*;

impl Cluster {
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
