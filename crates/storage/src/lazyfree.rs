//! Freeing big values off the shard's thread.
//!
//! Dropping a set of ten million members takes a long time (one free per
//! member); doing it inline would stall every client of the shard. Values
//! with more than [`LAZYFREE_THRESHOLD`] elements are handed to a releaser
//! the server installs once at startup (a background thread fed by a
//! channel); smaller ones, and all values when no releaser is installed
//! (unit tests, benches), are dropped in place. This crate starts no thread
//! itself: it only calls the hook.

use std::sync::OnceLock;

use crate::Value;

/// Elements above which a value is freed in the background (Redis uses
/// the same figure for its lazyfree decisions).
pub const LAZYFREE_THRESHOLD: usize = 64;

static RELEASER: OnceLock<fn(Value)> = OnceLock::new();

/// Installs the hook that frees big values elsewhere. Only the first call
/// counts.
pub fn set_releaser(f: fn(Value)) {
    let _ = RELEASER.set(f);
}

/// Drops `v`, in the background when it is big and a releaser exists.
pub fn release(v: Value) {
    if v.element_count() > LAZYFREE_THRESHOLD {
        if let Some(f) = RELEASER.get() {
            f(v);
            return;
        }
    }
    drop(v);
}
