//! What the process gets from outside: flags and the config file, OS facts.
pub mod clock;
pub mod config;
pub mod directives;
pub mod logging;
pub mod sys;

/// The Redis version Tessera answers as: the command set and replies follow Redis 7.0.
pub const REDIS_VERSION: &str = "7.0.15";
