//! Server-wide commands: TIME, LASTSAVE, SHUTDOWN.

use resp::encode;

use crate::engine::worker::Worker;

/// TIME's reply: unix seconds and microseconds (also from scripts).
pub fn time(out: &mut Vec<u8>) {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    encode::array_len(out, 2);
    encode::bulk(out, (us / 1_000_000).to_string().as_bytes());
    encode::bulk(out, (us % 1_000_000).to_string().as_bytes());
}

/// `LASTSAVE`: nothing is saved yet, so the start time, as a fresh
/// Redis answers.
pub fn lastsave(w: &Worker, out: &mut Vec<u8>) {
    encode::integer(out, w.shared.started_unix as i64);
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: exits at once.
pub fn shutdown() -> ! {
    crate::host::logging::exit(0)
}
