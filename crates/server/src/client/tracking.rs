//! A connection's share of client-side caching: where pushes to it go
//! ([`Pushes`], every connection has one, so that another client may
//! redirect its invalidations here), and its CLIENT TRACKING settings
//! ([`Tracking`], while tracking is on). The feature that fills them is
//! `features/tracking.rs`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::client::Sink;

/// The most bytes of pushes a connection may leave unread: Redis's
/// default hard limit for pub/sub clients (a subscriber's messages share
/// the sink).
pub const PUSH_PENDING_MAX: usize = 32 << 20;

/// Where messages pushed to a connection wait for its task to write them
/// (between batches, see `conn/input.rs`), with what the sender needs to
/// know to format them: its protocol and whether it is subscribed (a
/// RESP2 connection hears invalidations only as `__redis__:invalidate`
/// messages). The connection loop keeps the two flags up to date after
/// every server command.
pub struct Pushes {
    pub sink: Rc<Sink>,
    pub resp3: Cell<bool>,
    pub subscribed: Cell<bool>,
}

impl Pushes {
    pub fn new() -> Pushes {
        Pushes {
            sink: Rc::new(Sink::new(PUSH_PENDING_MAX, "pub/sub")),
            resp3: Cell::new(false),
            subscribed: Cell::new(false),
        }
    }
}

impl Default for Pushes {
    fn default() -> Self {
        Pushes::new()
    }
}

/// CLIENT TRACKING's options.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Mode {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// A tracking connection's settings, shared by the connection and its
/// thread's list of tracking clients (which formats its invalidations).
pub struct Tracking {
    pub mode: Cell<Mode>,
    /// REDIRECT's client id (0: none) and the thread it was found on.
    pub redirect: Cell<u64>,
    pub redirect_thread: Cell<usize>,
    /// The redirect target went away (TRACKINGINFO's broken_redirect).
    pub broken: Cell<bool>,
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) was given: good for the
    /// next command, or the next transaction.
    pub caching: Cell<bool>,
    /// BCAST's prefixes, in the order given.
    pub prefixes: RefCell<Vec<Vec<u8>>>,
    pub pushes: Rc<Pushes>,
}

impl Tracking {
    /// Whether the keys of the command about to run are remembered.
    pub fn remembers_reads(&self) -> bool {
        let (m, given) = (self.mode.get(), self.caching.get());
        let refused = if m.optin { !given } else { m.optout && given };
        !m.bcast && !refused
    }
}
