//! Server-wide commands: TIME. (LASTSAVE, SAVE, BGSAVE and SHUTDOWN are
//! persistence's: `persist.rs`.)

use resp::encode;

/// TIME's reply: unix seconds and microseconds (also from scripts).
pub fn time(out: &mut Vec<u8>) {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    encode::array_len(out, 2);
    encode::bulk(out, (us / 1_000_000).to_string().as_bytes());
    encode::bulk(out, (us % 1_000_000).to_string().as_bytes());
}
