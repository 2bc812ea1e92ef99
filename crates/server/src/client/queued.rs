//! A connection's MULTI state: the commands queued since MULTI, the keys it
//! WATCHes, and the EXECs waiting to run together (the commands that act on
//! them are in `features/multi.rs`).

/// A transaction being queued.
#[derive(Default)]
pub struct Queue {
    /// The queued commands, each as its owned arguments.
    pub cmds: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queueing: EXEC must abort.
    pub aborted: bool,
    /// A queued command may add data, so EXEC is subject to `maxmemory`.
    pub denyoom: bool,
}

/// An EXEC waiting to run with others (see `features/multi.rs`, Squashing).
pub struct Squash {
    pub q: Queue,
    /// Where its reply goes in the output buffer.
    pub at: usize,
    /// The shard of each of its commands.
    pub homes: Vec<usize>,
}

/// The EXECs waiting to run together.
pub type Squashed = Vec<Squash>;

/// One WATCHed key: where it lives and the version it had.
pub struct Watched {
    pub shard: usize,
    pub db: usize,
    pub key: Vec<u8>,
    pub version: u64,
}
