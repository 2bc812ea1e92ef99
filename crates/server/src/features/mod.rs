//! Features.
pub mod blocking;
pub mod evict;
pub mod fanout;
pub mod info;
pub mod migrate;
pub mod monitor;
pub mod multi;
pub mod pubsub;
pub mod script;
