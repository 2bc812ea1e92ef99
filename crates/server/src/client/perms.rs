//! What a user may do, compiled from its ACL rules (`features/acl.rs`
//! parses them and keeps the user table): which commands, keys and
//! channels. A connection holds its user's `Perms` by an `Arc`, so a
//! restricted user's check runs on the connection's own thread with no
//! lookup elsewhere; the user table replaces the `Arc` when the user
//! changes.
//!
//! Commands are numbered as the ACL feature numbers them (the command
//! table's rows, then the container subcommands), one bit each.

use std::sync::Arc;

use commands::categories::key;

/// A user's compiled permissions.
#[derive(Clone, Debug)]
pub struct Perms {
    pub user: Arc<str>,
    /// The user's own rules.
    pub root: Selector,
    /// Further sets of rules (`(...)`): a command any one of them allows
    /// as a whole is allowed.
    pub selectors: Vec<Selector>,
}

/// One set of rules: commands, keys, channels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// Allowed commands, one bit per command number.
    pub commands: Vec<u64>,
    /// `+cmd|arg` for a command with no subcommands: (command number,
    /// first argument) pairs allowed although the command is not.
    pub first_args: Vec<(usize, Vec<u8>)>,
    pub allkeys: bool,
    pub keys: Vec<KeyPattern>,
    pub allchannels: bool,
    pub channels: Vec<Vec<u8>>,
}

/// `~pattern` (read and write), `%R~pattern`, `%W~pattern`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub read: bool,
    pub write: bool,
    pub pattern: Vec<u8>,
}

/// Why a command is refused: the command itself, or the argument at this
/// index (a key or a channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

/// What one call asks for, resolved by the caller from the command table.
pub struct Ask<'a> {
    /// The command's number (its subcommand's when it has one).
    pub id: usize,
    /// The container's number when `id` is a subcommand's.
    pub parent: Option<usize>,
    pub argv: &'a [&'a [u8]],
    /// Each key's argument index and key-spec flags.
    pub keys: &'a [(usize, u16)],
    /// Channels (argument indexes), and whether they are patterns
    /// (PSUBSCRIBE's are compared as written, not matched).
    pub channels: &'a [usize],
    pub patterns: bool,
}

impl Selector {
    pub fn allows_command(&self, id: usize) -> bool {
        self.commands
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    pub fn set_command(&mut self, id: usize, on: bool) {
        if self.commands.len() <= id / 64 {
            self.commands.resize(id / 64 + 1, 0);
        }
        if on {
            self.commands[id / 64] |= 1 << (id % 64);
        } else {
            self.commands[id / 64] &= !(1 << (id % 64));
        }
    }

    /// Whether a key with these key-spec flags may be touched.
    pub fn allows_key(&self, k: &[u8], flags: u16) -> bool {
        if self.allkeys {
            return true;
        }
        let read = key::reads(flags);
        let write = key::writes(flags);
        self.keys.iter().any(|p| {
            (!read || p.read) && (!write || p.write) && storage::glob_match(&p.pattern, k, false)
        })
    }

    /// Whether a channel (or, with `pattern`, a pattern as written) may be
    /// used.
    pub fn allows_channel(&self, ch: &[u8], pattern: bool) -> bool {
        self.allchannels
            || self.channels.iter().any(|p| {
                if pattern {
                    p == ch
                } else {
                    storage::glob_match(p, ch, false)
                }
            })
    }

    /// This selector's verdict on one call.
    pub fn check(&self, ask: &Ask<'_>) -> Result<(), Denied> {
        let by_first_arg = || {
            let target = ask.parent.unwrap_or(ask.id);
            ask.argv.get(1).is_some_and(|a| {
                self.first_args
                    .iter()
                    .any(|(id, arg)| *id == target && arg.eq_ignore_ascii_case(a))
            })
        };
        if !self.allows_command(ask.id) && !by_first_arg() {
            return Err(Denied::Command);
        }
        for &(i, f) in ask.keys {
            if !self.allows_key(ask.argv[i], f) {
                return Err(Denied::Key(i));
            }
        }
        for &i in ask.channels {
            if !self.allows_channel(ask.argv[i], ask.patterns) {
                return Err(Denied::Channel(i));
            }
        }
        Ok(())
    }
}

impl Perms {
    /// Whether some set of rules lets every key be read (`allkeys`, or a
    /// `~*`/`%R~*` pattern): what SORT's BY and GET patterns need.
    pub fn may_read_every_key(&self) -> bool {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.allows_key(b"*", key::ACCESS))
    }

    /// Allowed if the user's own rules, or any one selector, allow the
    /// whole call.
    pub fn check(&self, ask: &Ask<'_>) -> Result<(), Denied> {
        let mut worst = match self.root.check(ask) {
            Ok(()) => return Ok(()),
            Err(d) => d,
        };
        // Refused by all: the reason from the set that got furthest (a
        // key or channel refused by rules that allow the command, and of
        // those the one refused at the latest argument), as Redis logs it.
        let rank = |d: Denied| match d {
            Denied::Command => (0, 0),
            Denied::Key(i) => (1, i),
            Denied::Channel(i) => (2, i),
        };
        for s in &self.selectors {
            match s.check(ask) {
                Ok(()) => return Ok(()),
                Err(d) if rank(d) > rank(worst) => worst = d,
                Err(_) => {}
            }
        }
        Err(worst)
    }
}
