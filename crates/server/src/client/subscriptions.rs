//! A subscribed connection's state: its channels, patterns and shard
//! channels, and the handle its thread's pub/sub lists keep of it (see
//! `features/pubsub.rs`).

use std::collections::HashSet;
use std::rc::Rc;

use crate::client::Sink;

/// One subscribed connection, as the thread's lists know it.
pub struct Subscriber {
    pub id: u64,
    pub resp3: bool,
    pub sink: Rc<Sink>,
}

/// A connection's subscriptions.
pub struct Subscriptions {
    pub me: Rc<Subscriber>,
    pub channels: HashSet<Vec<u8>>,
    pub patterns: HashSet<Vec<u8>>,
    /// Shard channels (SSUBSCRIBE): a namespace of their own, counted
    /// apart from the other two, as Redis counts them.
    pub shard: HashSet<Vec<u8>>,
}

impl Subscriptions {
    pub fn sink(&self) -> &Rc<Sink> {
        &self.me.sink
    }

    /// Channels and patterns: the count (P)(UN)SUBSCRIBE confirmations
    /// carry.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Every subscription of every kind: the connection is in the
    /// subscribed state while this is above zero.
    pub fn total(&self) -> usize {
        self.count() + self.shard.len()
    }
}
