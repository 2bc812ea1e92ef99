//! The cluster bus's messages in Redis 7.0's binary form (`RCmb`), so a
//! Tessera node and a redis-server node gossip, vote and fail over with
//! each other.
//!
//! Every message starts with one fixed header of 2256 bytes: the
//! signature, the total length, the protocol version (1), the sender's
//! ports, the message type and a count, its current and config epochs and
//! replication offset, its name (40 hex characters), the 16384-bit map of
//! the slots it (or its master) serves, its master's name, its announced
//! IP, a count of extensions, its TCP and bus ports, its node flags, its
//! view of the cluster's state and three bytes of message flags. Numbers
//! are big-endian. The body depends on the type: gossip entries (PING,
//! PONG, MEET), a node name (FAIL), a channel and a message (PUBLISH,
//! PUBLISHSHARD), an epoch, a name and a slot map (UPDATE), nothing
//! (FAILOVER_AUTH_REQUEST/ACK, MFSTART).
//!
//! This module only turns bytes into [`Message`]s and back; what a
//! message means is `bus.rs`'s business.

/// The signature every message starts with.
pub const SIG: &[u8; 4] = b"RCmb";
/// The fixed header's length; also the shortest valid message.
pub const HEADER_LEN: usize = 2256;
/// One gossip entry's length.
const GOSSIP_LEN: usize = 104;
/// A node name's length on the wire (hex, not NUL-terminated).
pub const NAMELEN: usize = 40;
/// An IP's field length on the wire (NUL-padded text).
const IPLEN: usize = 46;
/// The slot map's length in bytes.
pub const SLOT_BYTES: usize = 16384 / 8;
/// The largest message read from a peer: far above any real one (a PING
/// of a thousand nodes is ~110 KB), so a bad length closes the link
/// instead of allocating what a peer asks.
pub const MAX_LEN: usize = 64 << 20;

/// Message types.
pub mod kind {
    pub const PING: u16 = 0;
    pub const PONG: u16 = 1;
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const AUTH_REQUEST: u16 = 5;
    pub const AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const PUBLISHSHARD: u16 = 10;
    /// How many types there are (for the stats' names).
    pub const COUNT: usize = 11;

    /// The type's name in CLUSTER INFO's `cluster_stats_messages_*`.
    pub fn name(t: usize) -> &'static str {
        match t {
            0 => "ping",
            1 => "pong",
            2 => "meet",
            3 => "fail",
            4 => "publish",
            5 => "auth-req",
            6 => "auth-ack",
            7 => "update",
            8 => "mfstart",
            9 => "module",
            _ => "publishshard",
        }
    }
}

/// Node flags, as the header and gossip entries carry them.
pub mod flag {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;
}

/// Flags of `mflags[0]`.
pub mod mflag {
    /// The sender is a master paused for a manual failover.
    pub const PAUSED: u8 = 1;
    /// Vote for this failover even though the master is not failing.
    pub const FORCEACK: u8 = 2;
    /// The sender understands ping extensions.
    pub const EXT_DATA: u8 = 4;
}

/// The extension type carrying the sender's hostname.
const EXT_HOSTNAME: u16 = 0;

/// A node name as it travels: 40 bytes, all zero for "none".
pub type Name = [u8; NAMELEN];

/// The name that means "no node" (a master's `slaveof`).
pub const NO_NAME: Name = [0; NAMELEN];

/// The fixed header.
#[derive(Clone)]
pub struct Header {
    pub kind: u16,
    pub port: u16,
    pub count: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: u64,
    pub sender: Name,
    pub slots: Box<[u8; SLOT_BYTES]>,
    pub slaveof: Name,
    /// The sender's announced IP; empty when it announces none.
    pub myip: String,
    pub pport: u16,
    pub cport: u16,
    pub flags: u16,
    /// 0: the sender sees the cluster OK; 1: failing.
    pub state: u8,
    pub mflags: [u8; 3],
}

impl Header {
    pub fn new(kind: u16) -> Header {
        Header {
            kind,
            port: 0,
            count: 0,
            current_epoch: 0,
            config_epoch: 0,
            offset: 0,
            sender: NO_NAME,
            slots: Box::new([0; SLOT_BYTES]),
            slaveof: NO_NAME,
            myip: String::new(),
            pport: 0,
            cport: 0,
            flags: 0,
            state: 0,
            mflags: [0; 3],
        }
    }
}

/// What a PING, PONG or MEET says of one other node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gossip {
    pub name: Name,
    /// Seconds (unix) of the last PING the sender sent it, 0 if none pending.
    pub ping_sent: u32,
    /// Seconds (unix) of the last PONG the sender got from it.
    pub pong_received: u32,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

/// A message's body, by type.
pub enum Body {
    /// PING, PONG, MEET: gossip, and the sender's hostname (an extension).
    Gossip(Vec<Gossip>, Option<String>),
    Fail(Name),
    /// PUBLISH and PUBLISHSHARD.
    Publish(Vec<u8>, Vec<u8>),
    Update {
        config_epoch: u64,
        name: Name,
        slots: Box<[u8; SLOT_BYTES]>,
    },
    /// FAILOVER_AUTH_REQUEST/ACK, MFSTART, and types this node ignores.
    Empty,
}

pub struct Message {
    pub header: Header,
    pub body: Body,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

fn name_at(b: &[u8], at: usize) -> Name {
    let mut n = NO_NAME;
    n.copy_from_slice(&b[at..at + NAMELEN]);
    n
}

/// NUL-padded text.
fn text_at(b: &[u8], at: usize, len: usize) -> String {
    let f = &b[at..at + len];
    let end = f.iter().position(|&c| c == 0).unwrap_or(len);
    String::from_utf8_lossy(&f[..end]).into_owned()
}

fn put_text(out: &mut Vec<u8>, s: &str, len: usize) {
    let b = s.as_bytes();
    let n = b.len().min(len - 1);
    out.extend_from_slice(&b[..n]);
    out.resize(out.len() + len - n, 0);
}

/// The total length a message claims, once its first 8 bytes are in;
/// `Err` for what is not a bus message (the link is closed).
pub fn claimed_len(first8: &[u8]) -> Result<usize, &'static str> {
    if &first8[..4] != SIG {
        return Err("bad signature");
    }
    let len = u32_at(first8, 4) as usize;
    if !(HEADER_LEN..=MAX_LEN).contains(&len) {
        return Err("bad length");
    }
    Ok(len)
}

/// Parses one whole message (`b.len()` is its claimed length). `Ok(None)`
/// for a message of a version or type this node ignores; `Err` for one
/// whose length does not match its contents, which Redis drops too.
pub fn decode(b: &[u8]) -> Result<Option<Message>, &'static str> {
    if b.len() < HEADER_LEN || &b[..4] != SIG {
        return Err("short or unsigned message");
    }
    if u16_at(b, 8) != 1 {
        return Ok(None);
    }
    let mut slots = Box::new([0u8; SLOT_BYTES]);
    slots.copy_from_slice(&b[80..80 + SLOT_BYTES]);
    let header = Header {
        port: u16_at(b, 10),
        kind: u16_at(b, 12),
        count: u16_at(b, 14),
        current_epoch: u64_at(b, 16),
        config_epoch: u64_at(b, 24),
        offset: u64_at(b, 32),
        sender: name_at(b, 40),
        slots,
        slaveof: name_at(b, 2128),
        myip: text_at(b, 2168, IPLEN),
        pport: u16_at(b, 2246),
        cport: u16_at(b, 2248),
        flags: u16_at(b, 2250),
        state: b[2252],
        mflags: [b[2253], b[2254], b[2255]],
    };
    let extensions = u16_at(b, 2214) as usize;
    let data = &b[HEADER_LEN..];
    let body = match header.kind {
        kind::PING | kind::PONG | kind::MEET => {
            let n = header.count as usize;
            if data.len() < n * GOSSIP_LEN {
                return Err("gossip section longer than the message");
            }
            let gossip = (0..n)
                .map(|i| {
                    let g = &data[i * GOSSIP_LEN..(i + 1) * GOSSIP_LEN];
                    Gossip {
                        name: name_at(g, 0),
                        ping_sent: u32_at(g, 40),
                        pong_received: u32_at(g, 44),
                        ip: text_at(g, 48, IPLEN),
                        port: u16_at(g, 94),
                        cport: u16_at(g, 96),
                        flags: u16_at(g, 98),
                        pport: u16_at(g, 100),
                    }
                })
                .collect();
            let mut rest = &data[n * GOSSIP_LEN..];
            let mut hostname = None;
            if header.mflags[0] & mflag::EXT_DATA != 0 {
                for _ in 0..extensions {
                    if rest.len() < 8 {
                        return Err("extension header past the end");
                    }
                    let len = u32_at(rest, 0) as usize;
                    if len < 8 || len > rest.len() {
                        return Err("bad extension length");
                    }
                    if u16_at(rest, 4) == EXT_HOSTNAME {
                        hostname = Some(text_at(rest, 8, len - 8));
                    }
                    rest = &rest[len..];
                }
            }
            if !rest.is_empty() {
                return Err("gossip message of the wrong length");
            }
            Body::Gossip(gossip, hostname)
        }
        kind::FAIL => {
            if data.len() != NAMELEN {
                return Err("FAIL of the wrong length");
            }
            Body::Fail(name_at(data, 0))
        }
        kind::PUBLISH | kind::PUBLISHSHARD => {
            if data.len() < 8 {
                return Err("PUBLISH too short");
            }
            let (cl, ml) = (u32_at(data, 0) as usize, u32_at(data, 4) as usize);
            if data.len() != 8 + cl + ml {
                return Err("PUBLISH of the wrong length");
            }
            Body::Publish(data[8..8 + cl].to_vec(), data[8 + cl..].to_vec())
        }
        kind::UPDATE => {
            if data.len() != 8 + NAMELEN + SLOT_BYTES {
                return Err("UPDATE of the wrong length");
            }
            let mut slots = Box::new([0u8; SLOT_BYTES]);
            slots.copy_from_slice(&data[8 + NAMELEN..]);
            Body::Update {
                config_epoch: u64_at(data, 0),
                name: name_at(data, 8),
                slots,
            }
        }
        kind::AUTH_REQUEST | kind::AUTH_ACK | kind::MFSTART => Body::Empty,
        _ => return Ok(None),
    };
    Ok(Some(Message { header, body }))
}

/// Writes `h` and `body` as one message.
pub fn encode(h: &Header, body: &Body) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 512);
    out.extend_from_slice(SIG);
    out.extend_from_slice(&[0; 4]); // the length, filled in last
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&h.port.to_be_bytes());
    out.extend_from_slice(&h.kind.to_be_bytes());
    let count = match body {
        Body::Gossip(g, _) => g.len() as u16,
        _ => h.count,
    };
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&h.current_epoch.to_be_bytes());
    out.extend_from_slice(&h.config_epoch.to_be_bytes());
    out.extend_from_slice(&h.offset.to_be_bytes());
    out.extend_from_slice(&h.sender);
    out.extend_from_slice(&h.slots[..]);
    out.extend_from_slice(&h.slaveof);
    put_text(&mut out, &h.myip, IPLEN);
    let hostname = match body {
        Body::Gossip(_, Some(host)) if !host.is_empty() => Some(host),
        _ => None,
    };
    out.extend_from_slice(&u16::from(hostname.is_some()).to_be_bytes());
    out.extend_from_slice(&[0; 30]);
    out.extend_from_slice(&h.pport.to_be_bytes());
    out.extend_from_slice(&h.cport.to_be_bytes());
    out.extend_from_slice(&h.flags.to_be_bytes());
    out.push(h.state);
    out.extend_from_slice(&h.mflags);
    debug_assert_eq!(out.len(), HEADER_LEN);
    match body {
        Body::Gossip(gossip, _) => {
            for g in gossip {
                out.extend_from_slice(&g.name);
                out.extend_from_slice(&g.ping_sent.to_be_bytes());
                out.extend_from_slice(&g.pong_received.to_be_bytes());
                put_text(&mut out, &g.ip, IPLEN);
                out.extend_from_slice(&g.port.to_be_bytes());
                out.extend_from_slice(&g.cport.to_be_bytes());
                out.extend_from_slice(&g.flags.to_be_bytes());
                out.extend_from_slice(&g.pport.to_be_bytes());
                out.extend_from_slice(&[0; 2]);
            }
            if let Some(host) = hostname {
                // NUL-terminated, padded to 8 bytes.
                let len = (8 + host.len() + 1).div_ceil(8) * 8;
                out.extend_from_slice(&(len as u32).to_be_bytes());
                out.extend_from_slice(&EXT_HOSTNAME.to_be_bytes());
                out.extend_from_slice(&[0; 2]);
                out.extend_from_slice(host.as_bytes());
                out.resize(out.len() + len - 8 - host.len(), 0);
            }
        }
        Body::Fail(name) => out.extend_from_slice(name),
        Body::Publish(channel, message) => {
            out.extend_from_slice(&(channel.len() as u32).to_be_bytes());
            out.extend_from_slice(&(message.len() as u32).to_be_bytes());
            out.extend_from_slice(channel);
            out.extend_from_slice(message);
        }
        Body::Update {
            config_epoch,
            name,
            slots,
        } => {
            out.extend_from_slice(&config_epoch.to_be_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&slots[..]);
        }
        Body::Empty => {}
    }
    let len = (out.len() as u32).to_be_bytes();
    out[4..8].copy_from_slice(&len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_survives_the_round_trip() {
        let mut h = Header::new(kind::PING);
        h.sender = [b'a'; NAMELEN];
        h.port = 7000;
        h.cport = 17000;
        h.current_epoch = 5;
        h.slots[3] = 0x81;
        h.mflags[0] = mflag::EXT_DATA;
        let g = Gossip {
            name: [b'b'; NAMELEN],
            ping_sent: 1,
            pong_received: 2,
            ip: "127.0.0.1".into(),
            port: 7001,
            cport: 17001,
            flags: flag::MASTER,
            pport: 0,
        };
        let bytes = encode(&h, &Body::Gossip(vec![g.clone()], Some("host-a".into())));
        assert_eq!(bytes.len() % 8, 0);
        assert_eq!(claimed_len(&bytes[..8]), Ok(bytes.len()));
        let m = decode(&bytes).expect("decodes").expect("a known type");
        assert_eq!(m.header.sender, [b'a'; NAMELEN]);
        assert_eq!(m.header.port, 7000);
        assert_eq!(m.header.cport, 17000);
        assert_eq!(m.header.current_epoch, 5);
        assert_eq!(m.header.slots[3], 0x81);
        match m.body {
            Body::Gossip(gs, host) => {
                assert_eq!(gs, vec![g]);
                assert_eq!(host.as_deref(), Some("host-a"));
            }
            _ => panic!("not gossip"),
        }
    }

    #[test]
    fn a_wrong_length_is_refused() {
        let h = Header::new(kind::FAIL);
        let mut bytes = encode(&h, &Body::Fail([b'c'; NAMELEN]));
        bytes.push(0);
        assert!(decode(&bytes).is_err());
        assert!(claimed_len(b"RCmb\0\0\0\x01").is_err());
    }
}
