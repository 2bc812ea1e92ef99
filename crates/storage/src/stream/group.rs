//! Consumer groups: a group's position in the stream (last delivered ID
//! and how many entries that is), its pending entries list (PEL: entries
//! delivered and not yet acknowledged, each with its consumer, last
//! delivery time and delivery count) and its consumers, each with its own
//! PEL (the IDs of the group's PEL it holds).
//!
//! The two PELs always agree: an ID is in a consumer's PEL exactly when
//! the group's PEL names that consumer for it. Every change goes through
//! the methods here, which keep that true. Consumer names are shared
//! (`Arc`) between the consumer map and the pending entries that point at
//! it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::StreamId;

/// A consumer group.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// The last ID delivered to the group with `>`.
    pub last_id: StreamId,
    /// How many entries that is from the stream's first ever entry, or
    /// [`super::ENTRIES_READ_UNKNOWN`].
    pub entries_read: i64,
    pel: BTreeMap<StreamId, Pending>,
    consumers: BTreeMap<Arc<[u8]>, Consumer>,
}

/// One delivered, unacknowledged entry.
#[derive(Clone, Debug)]
pub struct Pending {
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
    /// Its consumer (None only while a file is being read).
    consumer: Option<Arc<[u8]>>,
}

impl Pending {
    /// The consumer holding it.
    pub fn consumer(&self) -> &[u8] {
        self.consumer.as_deref().unwrap_or_default()
    }
}

/// A consumer of a group.
#[derive(Clone, Debug, Default)]
pub struct Consumer {
    /// Unix ms of its last interaction (read, claim), attempted or not.
    pub seen_time: u64,
    /// Unix ms of its last successful interaction (Redis 7.2 keeps it;
    /// kept here so that files carrying it keep it too).
    pub active_time: u64,
    pel: BTreeSet<StreamId>,
}

impl Consumer {
    /// Its pending entries' IDs, in order.
    pub fn pending(&self) -> impl DoubleEndedIterator<Item = StreamId> + '_ {
        self.pel.iter().copied()
    }

    /// Its pending entries with IDs in `start..=end`.
    pub fn pending_range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl DoubleEndedIterator<Item = StreamId> + '_ {
        let r = (start <= end).then(|| self.pel.range(start..=end));
        r.into_iter().flatten().copied()
    }

    pub fn pending_count(&self) -> usize {
        self.pel.len()
    }
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            ..Group::default()
        }
    }

    pub fn heap_size(&self) -> usize {
        self.pel.len() * 64
            + self
                .consumers
                .iter()
                .map(|(k, c)| k.len() + 96 + c.pel.len() * 24)
                .sum::<usize>()
    }

    // ---- the PEL ----

    pub fn pending_count(&self) -> usize {
        self.pel.len()
    }

    pub fn pending(&self, id: StreamId) -> Option<&Pending> {
        self.pel.get(&id)
    }

    /// Pending entries with IDs in `start..=end`, in order.
    pub fn pending_range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl DoubleEndedIterator<Item = (StreamId, &Pending)> + '_ {
        let r = (start <= end).then(|| self.pel.range(start..=end));
        r.into_iter().flatten().map(|(k, p)| (*k, p))
    }

    /// Delivers `id` to `consumer` (which exists) at `now`: a new pending
    /// entry with one delivery, or one already pending (after XGROUP SETID
    /// moved the group back) moved to this consumer and counted afresh.
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: u64) {
        self.assign(id, consumer, now, 1);
    }

    /// Makes `id` pending for `consumer` with this delivery time and count,
    /// moving it from the consumer that had it.
    fn assign(&mut self, id: StreamId, consumer: &[u8], time: u64, count: u64) {
        let Some((name, _)) = self.consumers.get_key_value(consumer) else {
            return;
        };
        let name = Arc::clone(name);
        if let Some(old) = self.pel.get(&id).and_then(|p| p.consumer.clone()) {
            if let Some(c) = self.consumers.get_mut(&old) {
                c.pel.remove(&id);
            }
        }
        self.pel.insert(
            id,
            Pending {
                delivery_time: time,
                delivery_count: count,
                consumer: Some(Arc::clone(&name)),
            },
        );
        if let Some(c) = self.consumers.get_mut(&name) {
            c.pel.insert(id);
        }
    }

    /// XCLAIM's change to a pending entry: `consumer` takes it (created if
    /// need be by the caller), with this delivery time and count.
    pub fn claim(&mut self, id: StreamId, consumer: &[u8], time: u64, count: u64) {
        self.assign(id, consumer, time, count);
    }

    /// A history read's redelivery: a new delivery time, one more count.
    pub fn redeliver(&mut self, id: StreamId, now: u64) {
        if let Some(p) = self.pel.get_mut(&id) {
            p.delivery_time = now;
            p.delivery_count += 1;
        }
    }

    /// XACK of one ID; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(p) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = p.consumer.and_then(|n| self.consumers.get_mut(&n)) {
            c.pel.remove(&id);
        }
        true
    }

    // ---- consumers ----

    pub fn consumer_count(&self) -> usize {
        self.consumers.len()
    }

    /// The consumers, by name.
    pub fn consumers(&self) -> impl Iterator<Item = (&[u8], &Consumer)> {
        self.consumers.iter().map(|(k, c)| (&**k, c))
    }

    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        self.consumers.get(name)
    }

    pub fn consumer_mut(&mut self, name: &[u8]) -> Option<&mut Consumer> {
        self.consumers.get_mut(name)
    }

    /// Creates consumer `name`, seen and active at `now`; false when it
    /// exists.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            Arc::from(name),
            Consumer {
                seen_time: now,
                active_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes consumer `name` and its pending entries; the number it had
    /// pending, or None when there is no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    // ---- reading a file ----

    /// Adds a pending entry read from a file, not yet given its consumer;
    /// false when the ID is already there.
    pub(crate) fn insert_pending(&mut self, id: StreamId, time: u64, count: u64) -> bool {
        if self.pel.contains_key(&id) {
            return false;
        }
        self.pel.insert(
            id,
            Pending {
                delivery_time: time,
                delivery_count: count,
                consumer: None,
            },
        );
        true
    }

    /// Adds a consumer read from a file; false when it exists.
    pub(crate) fn insert_consumer(&mut self, name: &[u8], seen: u64, active: u64) -> bool {
        if !self.create_consumer(name, seen) {
            return false;
        }
        if let Some(c) = self.consumers.get_mut(name) {
            c.active_time = active;
        }
        true
    }

    /// Gives the file's pending entry `id` to `consumer`; false unless the
    /// entry is in the group's PEL and has no consumer yet.
    pub(crate) fn assign_loaded(&mut self, consumer: &[u8], id: StreamId) -> bool {
        let Some((name, _)) = self.consumers.get_key_value(consumer) else {
            return false;
        };
        let name = Arc::clone(name);
        match self.pel.get_mut(&id) {
            Some(p) if p.consumer.is_none() => p.consumer = Some(Arc::clone(&name)),
            _ => return false,
        }
        if let Some(c) = self.consumers.get_mut(&name) {
            c.pel.insert(id);
        }
        true
    }

    /// Whether every pending entry has a consumer (a file's groups must).
    pub(crate) fn all_assigned(&self) -> bool {
        self.pel.values().all(|p| p.consumer.is_some())
    }
}
