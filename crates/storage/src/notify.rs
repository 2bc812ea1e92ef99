//! Keyspace notifications: what changed, logged on the thread that changed
//! it, for the server to publish (`__keyspace@<db>__:<key>` and
//! `__keyevent@<db>__:<event>`).
//!
//! Which classes of event are wanted is Redis's `notify-keyspace-events`,
//! held per thread ([`set_flags`]); with it empty, the default, [`emit`] is
//! one thread-local load and a branch. The log is per thread too: a command
//! runs on its shard's thread, and that thread publishes what it logged
//! before the command's reply leaves (see the server's `pubsub.rs`).

use std::cell::{Cell, RefCell};

/// Event classes: the bits of `notify-keyspace-events`.
pub mod class {
    /// `K`: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// `E`: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// `g`: DEL, EXPIRE, RENAME, ... (not type-specific).
    pub const GENERIC: u32 = 1 << 2;
    /// `$`
    pub const STRING: u32 = 1 << 3;
    /// `l`
    pub const LIST: u32 = 1 << 4;
    /// `s`
    pub const SET: u32 = 1 << 5;
    /// `h`
    pub const HASH: u32 = 1 << 6;
    /// `z`
    pub const ZSET: u32 = 1 << 7;
    /// `x`: a key removed because it expired.
    pub const EXPIRED: u32 = 1 << 8;
    /// `e`: a key removed to free memory.
    pub const EVICTED: u32 = 1 << 9;
    /// `t`
    pub const STREAM: u32 = 1 << 10;
    /// `m`: a read that missed (not in `A`).
    pub const KEYMISS: u32 = 1 << 11;
    /// `d`: module events.
    pub const MODULE: u32 = 1 << 12;
    /// `n`: a key created (not in `A`).
    pub const NEW: u32 = 1 << 13;
    /// `A`: every class but `m` and `n`.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// One change to publish.
pub struct Event {
    pub name: &'static str,
    pub db: usize,
    pub key: Vec<u8>,
}

thread_local! {
    static FLAGS: Cell<u32> = const { Cell::new(0) };
    static LOG: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
    /// Keys expired or evicted since the last [`take_gone`], kept while
    /// [`set_propagate`] is on.
    static GONE: RefCell<Vec<(usize, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
    static GONE_ANY: Cell<bool> = const { Cell::new(false) };
}

/// Whether expired and evicted keys are kept for [`take_gone`] (the
/// server's journal is on: a replica or the AOF is told of them as DEL,
/// as Redis propagates them).
static PROPAGATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_propagate(on: bool) {
    PROPAGATE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether keys expired or were evicted here since the last [`take_gone`].
#[inline]
pub fn gone_pending() -> bool {
    GONE_ANY.with(Cell::get)
}

/// The keys that expired or were evicted here, in order, leaving none.
pub fn take_gone() -> Vec<(usize, Vec<u8>)> {
    GONE_ANY.with(|g| g.set(false));
    GONE.with(|g| std::mem::take(&mut *g.borrow_mut()))
}

/// Sets this thread's `notify-keyspace-events` bits.
pub fn set_flags(flags: u32) {
    FLAGS.with(|f| f.set(flags));
}

/// Whether events of `class` are wanted on this thread.
#[inline]
pub fn wanted(class: u32) -> bool {
    let f = FLAGS.with(Cell::get);
    f & class != 0 && f & (class::KEYSPACE | class::KEYEVENT) != 0
}

/// This thread's flags: whether to publish on the keyspace and the
/// keyevent channels.
pub fn channels() -> (bool, bool) {
    let f = FLAGS.with(Cell::get);
    (f & class::KEYSPACE != 0, f & class::KEYEVENT != 0)
}

/// Logs event `name` of `class` on `key` of database `db`, if wanted.
#[inline]
pub fn emit(class: u32, name: &'static str, db: usize, key: &[u8]) {
    if class & (class::EXPIRED | class::EVICTED) != 0 {
        // Tracking clients hear of keys that expire or are evicted.
        crate::track::changed_by_server(key);
        if PROPAGATE.load(std::sync::atomic::Ordering::Relaxed) {
            GONE.with(|g| g.borrow_mut().push((db, key.to_vec())));
            GONE_ANY.with(|g| g.set(true));
        }
    }
    if wanted(class) {
        LOG.with(|l| {
            l.borrow_mut().push(Event {
                name,
                db,
                key: key.to_vec(),
            })
        });
    }
}

/// Whether anything was logged since the last [`take`].
#[inline]
pub fn pending() -> bool {
    FLAGS.with(Cell::get) != 0 && LOG.with(|l| !l.borrow().is_empty())
}

/// The events logged so far, in order, leaving none.
pub fn take() -> Vec<Event> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// Logs `events` again, ahead of anything logged since they were taken
/// (for a caller that set some aside while it ran work whose events it
/// filters).
pub fn put_back(mut events: Vec<Event>) {
    LOG.with(|l| {
        let mut l = l.borrow_mut();
        events.append(&mut l);
        *l = events;
    });
}

/// The classes' letters, in the order Redis shows them.
const LETTERS: [(char, u32); 14] = [
    ('g', class::GENERIC),
    ('$', class::STRING),
    ('l', class::LIST),
    ('s', class::SET),
    ('h', class::HASH),
    ('z', class::ZSET),
    ('x', class::EXPIRED),
    ('e', class::EVICTED),
    ('t', class::STREAM),
    ('d', class::MODULE),
    ('n', class::NEW),
    ('K', class::KEYSPACE),
    ('E', class::KEYEVENT),
    ('m', class::KEYMISS),
];

/// `notify-keyspace-events` as written (`KEA`, `Egx`, ...); None for a
/// character that names no class.
pub fn parse(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => class::ALL,
            _ => LETTERS.iter().find(|(l, _)| *l == c)?.1,
        };
    }
    Some(flags)
}

/// `flags` as CONFIG GET shows them, as Redis 7.0 does: `A` when all of
/// its classes are set, else each class's letter (`n` among them), then
/// `K`, `E`, `m`. So `n` is not shown beside `A` (Redis's quirk, kept so
/// that the replies match).
pub fn format(flags: u32) -> String {
    let mut s = String::new();
    let all = flags & class::ALL == class::ALL;
    if all {
        s.push('A');
    }
    for (c, bit) in LETTERS {
        let in_a = class::ALL & bit != 0 || bit == class::NEW;
        if flags & bit != 0 && !(all && in_a) {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_and_show_as_redis_does() {
        for (set, shown) in [
            ("gKE", "gKE"),
            ("$lshzxeKE", "$lshzxeKE"),
            ("KA", "AK"),
            ("EA", "AE"),
            ("KEAmn", "AKEm"),
            ("Kmn", "nKm"),
            ("Kgmnd", "gdnKm"),
            ("Eln", "lnE"),
            ("", ""),
        ] {
            assert_eq!(parse(set).map(format).as_deref(), Some(shown), "{set}");
        }
        assert_eq!(parse("Kq"), None);
    }

    #[test]
    fn nothing_is_logged_unless_asked_for() {
        set_flags(0);
        emit(class::STRING, "set", 0, b"k");
        assert!(take().is_empty());
        // A class without K or E publishes nowhere.
        set_flags(class::STRING);
        emit(class::STRING, "set", 0, b"k");
        assert!(take().is_empty());
        set_flags(class::STRING | class::KEYSPACE);
        emit(class::LIST, "lpush", 0, b"k");
        emit(class::STRING, "set", 3, b"k");
        let got = take();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].name, got[0].db, &got[0].key[..]),
            ("set", 3, &b"k"[..])
        );
        set_flags(0);
    }
}
