//! Keys locked while MIGRATE moves them, and the work that waits for them.
//!
//! MIGRATE promises that a key is never lost and that commands on a key
//! being moved wait for the outcome. Redis keeps that promise by blocking
//! the whole instance for the transfer; here only the moving keys wait.
//!
//! The owner shard locks the keys when it serialises them and unlocks them
//! when the coordinator reports the target's answer (after deleting the
//! moved ones). A group of pipelined commands (`conn.rs`) that reaches a
//! locked key stops there: the rest of the group is parked on the key,
//! its request goes unanswered (the job returns [`Parked`]), and it
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

use std::collections::HashMap;

use crate::engine::worker::Worker;

/// Returned by a job that parked itself: the router sends no answer now;
/// the parked work answers when it resumes.
pub struct Parked;

/// Work parked on a locked key, run on the owner thread at unlock.
pub type Resume = Box<dyn FnOnce(&Worker)>;

/// The locked keys of one shard, by (db, key), each with its waiters in
/// arrival order.
#[derive(Default)]
pub struct KeyLocks {
    map: HashMap<(usize, Vec<u8>), Vec<Resume>>,
}

impl Worker {
    /// Whether any key of this shard is locked (the cheap pre-check).
    #[inline]
    pub fn any_locked(&self) -> bool {
        self.locked.get() != 0
    }

    pub fn is_locked(&self, db: usize, key: &[u8]) -> bool {
        self.any_locked() && self.locks.borrow().map.contains_key(&(db, key.to_vec()))
    }

    /// Locks `key`; false if it already is.
    pub fn lock_key(&self, db: usize, key: &[u8]) -> bool {
        let mut l = self.locks.borrow_mut();
        let k = (db, key.to_vec());
        if l.map.contains_key(&k) {
            return false;
        }
        l.map.insert(k, Vec::new());
        self.locked.set(l.map.len());
        true
    }

    /// Parks `resume` until `key` is unlocked (runs it now if it is not
    /// locked any more).
    pub fn park_on(&self, db: usize, key: &[u8], resume: Resume) {
        let mut l = self.locks.borrow_mut();
        match l.map.get_mut(&(db, key.to_vec())) {
            Some(waiters) => waiters.push(resume),
            None => {
                drop(l);
                resume(self);
            }
        }
    }

    /// Unlocks `key` and runs what waited for it, in arrival order.
    pub fn unlock_key(&self, db: usize, key: &[u8]) {
        let waiters = {
            let mut l = self.locks.borrow_mut();
            let w = l.map.remove(&(db, key.to_vec()));
            self.locked.set(l.map.len());
            w
        };
        for resume in waiters.into_iter().flatten() {
            resume(self);
        }
        crate::features::blocking::serve_ready(self);
    }

    /// The request being run now: (coordinator thread, call id), for a job
    /// that parks and answers later.
    pub fn current_request(&self) -> Option<(usize, u32)> {
        self.current_req.get()
    }
}
