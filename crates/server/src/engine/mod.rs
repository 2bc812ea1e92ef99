//! The shard engine.
pub mod journal;
pub mod keylock;
pub mod mesh;
pub mod tx;
pub mod worker;
