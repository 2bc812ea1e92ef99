//! What the process gets from outside: flags and the config file, OS facts.
pub mod clock;
pub mod config;
pub mod directives;
pub mod logging;
pub mod sys;
