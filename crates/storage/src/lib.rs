//! One shard's keyspace. (Helper: replace with the full crate doc + Layout.)
//!
//! The API the `commands` crate relies on is declared here; bodies are the
//! helper's to write. Time is always passed in (`now`, unix milliseconds) so
//! expiry is testable without sleeping.

pub mod db;
pub mod dict;
pub mod glob;
pub mod value;

pub use db::{Db, Keyspace};
pub use glob::glob_match;
pub use value::{StrRef, Value};

/// Unix time in milliseconds.
pub type Millis = u64;
