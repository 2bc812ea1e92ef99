//! Client-side caching's hook in the keyspace: what tracking clients read
//! and which keys changed, logged on the thread whose shard ran it, for
//! the server's tracking feature (`features/tracking.rs`) to turn into
//! remembered keys and invalidation messages.
//!
//! Two thread-local words keep the cost near zero while nobody tracks:
//! [`who`], the client a command runs for when that client tracks (0
//! otherwise: the server sets it around each command of a tracking client,
//! and jobs carry it to other threads), and whether this shard logs changes
//! at all ([`set_on`]: it has tracked keys or broadcast prefixes). A change
//! is then one thread-local load and a branch ([`changed`]), a command one
//! load ([`reads_wanted`]).
//!
//! Events are logged in the order they happened and consumed in that
//! order ([`take`]), so a read followed by a write of the same key in one
//! batch invalidates it, and a write followed by a read leaves it tracked.

use std::cell::{Cell, RefCell};

/// Set in a [`who`] word: the client's reads are remembered (tracking on,
/// not in broadcast mode, and OPTIN/OPTOUT allow this command).
pub const READS: u64 = 1 << 63;

/// Bits of a [`who`] word that hold the client's thread.
const HOME_SHIFT: u32 = 48;
const ID_MASK: u64 = (1 << HOME_SHIFT) - 1;

/// A [`who`] word: client `id` (below 2^48), served by thread `home`.
pub fn who_word(id: u64, home: usize, reads: bool) -> u64 {
    (id & ID_MASK) | ((home as u64 & 0x7fff) << HOME_SHIFT) | if reads { READS } else { 0 }
}

/// The client id of a [`who`] word.
#[inline]
pub fn id_of(who: u64) -> u64 {
    who & ID_MASK
}

/// The thread of a [`who`] word.
#[inline]
pub fn home_of(who: u64) -> usize {
    ((who >> HOME_SHIFT) & 0x7fff) as usize
}

/// One logged event.
pub enum Event {
    /// Client `who` read `key`: remember it.
    Read { who: u64, key: Vec<u8> },
    /// `key` changed, by client `by` (its id; 0: the server itself, as
    /// when a key expires or is evicted).
    Changed { by: u64, key: Vec<u8> },
}

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static WHO: Cell<u64> = const { Cell::new(0) };
    static PENDING: Cell<bool> = const { Cell::new(false) };
    static LOG: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

/// Whether this shard logs changes (it has tracked keys or prefixes).
pub fn set_on(on: bool) {
    ON.with(|o| o.set(on));
}

/// Sets the client commands run for now; returns the previous word.
#[inline]
pub fn set_who(who: u64) -> u64 {
    WHO.with(|w| w.replace(who))
}

/// The client commands run for now (0: none that tracks).
#[inline]
pub fn who() -> u64 {
    WHO.with(Cell::get)
}

/// Whether the command running now is one whose reads are remembered.
#[inline]
pub fn reads_wanted() -> bool {
    WHO.with(Cell::get) & READS != 0
}

/// Logs that the running client read `key`. Changes are logged from now
/// on, so a write later in the same batch is not missed.
#[cold]
pub fn read(key: &[u8]) {
    let who = WHO.with(Cell::get);
    ON.with(|o| o.set(true));
    push(Event::Read {
        who,
        key: key.to_vec(),
    });
}

/// Logs that `key` changed, by the running client.
#[inline]
pub fn changed(key: &[u8]) {
    if ON.with(Cell::get) {
        push(Event::Changed {
            by: id_of(WHO.with(Cell::get)),
            key: key.to_vec(),
        });
    }
}

/// Logs that `key` changed by the server's own doing (expiry, eviction).
#[inline]
pub fn changed_by_server(key: &[u8]) {
    if ON.with(Cell::get) {
        push(Event::Changed {
            by: 0,
            key: key.to_vec(),
        });
    }
}

#[cold]
fn push(e: Event) {
    PENDING.with(|p| p.set(true));
    LOG.with(|l| l.borrow_mut().push(e));
}

/// Whether events wait to be taken.
#[inline]
pub fn pending() -> bool {
    PENDING.with(Cell::get)
}

/// The events logged so far, in order, leaving none.
pub fn take() -> Vec<Event> {
    PENDING.with(|p| p.set(false));
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_logged_while_off_and_reads_turn_logging_on() {
        set_on(false);
        set_who(0);
        changed(b"k");
        assert!(!pending());
        let me = who_word(7, 3, true);
        assert_eq!((id_of(me), home_of(me)), (7, 3));
        set_who(me);
        assert!(reads_wanted());
        read(b"k");
        changed(b"k");
        set_who(0);
        changed_by_server(b"j");
        let got = take();
        assert!(!pending());
        assert!(matches!(&got[0], Event::Read { who, key } if *who == me && key == b"k"));
        assert!(matches!(&got[1], Event::Changed { by: 7, key } if key == b"k"));
        assert!(matches!(&got[2], Event::Changed { by: 0, key } if key == b"j"));
        set_on(false);
    }
}
