//! Keys locked while MIGRATE moves them, and the work that waits for them.
//!
//! MIGRATE promises that a key is never lost and that commands on a key
//! being moved wait for the outcome. Redis keeps that promise by blocking
//! the whole instance for the transfer; here only the moving keys wait.
//!
//! The owner shard locks the keys when it serialises them and unlocks them
//! when the coordinator reports the target's answer (after deleting the
//! moved ones). A group of pipelined commands (`conn/window.rs`) that reaches a
//! locked key stops there: the rest of the group is parked on the key,
//! its request goes unanswered (the job returns `mesh::Parked`), and it
//! resumes — and answers its coordinator — when the key is unlocked. A
//! connection waits for its group's answer before sending more, so its
//! commands stay in order; every other client and key goes on.
//!
//! Commands that run as transactions over several shards (MULTI/EXEC,
//! multi-key commands across shards, blocking pops, SORT with patterns) do
//! not consult the locks. What keeps them safe is the delete step: a moved
//! key is deleted only if its version (the WATCH counter, bumped by every
//! write) is still the one serialised, so a write that slipped in is never
//! lost — the key then stays on both sides, which MIGRATE's contract allows
//! for an interrupted transfer.
//!
//! Costs nothing when no key is locked: one `Cell` read per command.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Work parked on a locked key, run on the owner thread (`W`, its worker)
/// at unlock.
pub type Resume<W> = Box<dyn FnOnce(&W)>;

/// Locked keys by (db, key), each with its waiters in arrival order.
type Locked<W> = HashMap<(usize, Vec<u8>), Vec<Resume<W>>>;

/// The locked keys of one shard.
pub struct KeyLocks<W> {
    map: RefCell<Locked<W>>,
    /// How many keys are locked: 0 keeps the check to one comparison.
    count: Cell<usize>,
}

impl<W> Default for KeyLocks<W> {
    fn default() -> Self {
        KeyLocks {
            map: RefCell::new(HashMap::new()),
            count: Cell::new(0),
        }
    }
}

impl<W> KeyLocks<W> {
    /// Whether any key of this shard is locked (the cheap pre-check).
    #[inline]
    pub fn any(&self) -> bool {
        self.count.get() != 0
    }

    pub fn is_locked(&self, db: usize, key: &[u8]) -> bool {
        self.any() && self.map.borrow().contains_key(&(db, key.to_vec()))
    }

    /// Locks `key`; false if it already is.
    pub fn lock(&self, db: usize, key: &[u8]) -> bool {
        let mut m = self.map.borrow_mut();
        let k = (db, key.to_vec());
        if m.contains_key(&k) {
            return false;
        }
        m.insert(k, Vec::new());
        self.count.set(m.len());
        true
    }

    /// Parks `resume` until `key` is unlocked; hands it back if the key is
    /// not locked any more (the caller runs it now).
    pub fn park(&self, db: usize, key: &[u8], resume: Resume<W>) -> Option<Resume<W>> {
        match self.map.borrow_mut().get_mut(&(db, key.to_vec())) {
            Some(waiters) => {
                waiters.push(resume);
                None
            }
            None => Some(resume),
        }
    }

    /// Unlocks `key`, handing back what waited for it, in arrival order.
    pub fn unlock(&self, db: usize, key: &[u8]) -> Vec<Resume<W>> {
        let mut m = self.map.borrow_mut();
        let waiters = m.remove(&(db, key.to_vec()));
        self.count.set(m.len());
        waiters.unwrap_or_default()
    }
}
