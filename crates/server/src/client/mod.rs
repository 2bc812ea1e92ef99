//! Client state: what one connection carries from command to command, and
//! the pieces of it that features read and change (its MULTI queue and
//! WATCHes, its subscriptions, its second output for monitor lines and
//! published messages). Below the features and the connection loop; above
//! the engine, whose `ClientInfo` (what CLIENT LIST shows) it points to.
//!
//! - [`queued`]: MULTI's queue, WATCHed keys, EXECs waiting to run together.
//! - [`sink`]: the connection's second output.
//! - [`subscriptions`]: its channels and patterns.
//! - [`perms`]: what its user may run and touch (ACL).
//! - [`tracking`]: where pushes to it go, and its CLIENT TRACKING settings.

pub mod perms;
mod queued;
mod sink;
mod subscriptions;
pub mod tracking;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::engine::worker::ClientInfo;

pub use queued::{Queue, Squash, Squashed, Watched};
pub use sink::Sink;
pub use subscriptions::{Subscriber, Subscriptions};
pub use tracking::{Pushes, Tracking};

/// A connection's state that commands can change.
pub struct Client {
    pub id: u64,
    pub db: usize,
    /// Replies in RESP3 (after `HELLO 3`).
    pub resp3: bool,
    pub authed: bool,
    /// The user's permissions (ACL), compiled; replaced when the user
    /// changes (`features/acl.rs`).
    pub perms: Arc<perms::Perms>,
    /// The user may run anything on any key and channel: no ACL check.
    pub unrestricted: bool,
    /// The user table's epoch `perms` was taken at.
    pub acl_epoch: u64,
    pub info: Rc<RefCell<ClientInfo>>,
    /// Commands queued since MULTI.
    pub multi: Option<Queue>,
    /// Keys WATCHed, until EXEC, DISCARD, UNWATCH or RESET.
    pub watches: Vec<Watched>,
    /// EXECs waiting to run together (see `features/multi.rs`, Squashing).
    pub squashed: Squashed,
    /// CLIENT REPLY's setting.
    pub reply: ReplyMode,
    /// Set by MONITOR: the lines to send (see `features/monitor.rs`).
    pub monitor: Option<Rc<Sink>>,
    /// Channels and patterns subscribed to (see `features/pubsub.rs`).
    pub pubsub: Option<Box<Subscriptions>>,
    /// Set on the one client that applies this replica's master's stream
    /// (`conn/replica.rs`): its replies are dropped, it may write on a
    /// read-only replica, and no check but arity refuses its commands.
    /// The AOF's loading client has one too (never advanced): Redis obeys
    /// both alike (`features/aof.rs`).
    pub master: Option<Upstream>,
    /// Cluster mode: READONLY was sent (a replica serves this client's
    /// reads of its master's slots).
    pub cluster_readonly: bool,
    /// Cluster mode: ASKING was sent; good for the next command (or the
    /// next transaction), as Redis: 0 none, 1 armed, 2 used by the command
    /// running now (see `cluster::asking_spent`).
    pub asking: u8,
    /// Where pushes to this connection wait to be written (invalidations,
    /// and a subscriber's messages: one sink, polled while it waits).
    pub pushes: Rc<Pushes>,
    /// CLIENT TRACKING's state while it is on (`features/tracking.rs`).
    pub tracking: Option<Rc<Tracking>>,
    /// The `storage::track` word of this client's commands: 0 unless it
    /// tracks.
    pub who: u64,
}

impl Client {
    /// A client of `info` on database `db` with `perms`: not authenticated,
    /// restricted, RESP2, replies on, no MULTI, watch, subscription, monitor
    /// or master link (callers set what differs).
    pub fn new(info: Rc<RefCell<ClientInfo>>, db: usize, perms: Arc<perms::Perms>) -> Client {
        let id = info.borrow().id;
        Client {
            id,
            db,
            resp3: false,
            authed: false,
            perms,
            unrestricted: false,
            acl_epoch: 0,
            info,
            multi: None,
            watches: Vec::new(),
            squashed: Vec::new(),
            reply: ReplyMode::On,
            monitor: None,
            pubsub: None,
            master: None,
            cluster_readonly: false,
            asking: 0,
            pushes: Rc::new(Pushes::new()),
            tracking: None,
            who: 0,
        }
    }
}

/// The master client's place in its master's stream.
#[derive(Default)]
pub struct Upstream {
    /// Bytes of the stream applied: the replication offset.
    pub offset: u64,
    /// Bytes of a transaction not yet run (from its MULTI to here).
    pub unapplied: u64,
    /// `REPLCONF GETACK` asked for an ACK of this offset.
    pub ack: Option<u64>,
}

/// Whether a connection's replies are sent (CLIENT REPLY ON | OFF | SKIP).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// The next command's reply is dropped, then back to On.
    SkipNext,
}

/// What the connection does after a command.
#[derive(PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Write what is buffered, then close (QUIT).
    Close,
}
