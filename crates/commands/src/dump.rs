//! DUMP and RESTORE: a value as Redis's serialised payload and back (see
//! `storage::rdb` for the format). RESTORE-ASKING, which Redis Cluster's
//! MIGRATE sends, is RESTORE under another name.
//!
//! RESTORE's IDLETIME sets the key's LRU stamp and FREQ its LFU counter,
//! each only under a policy that keeps that kind of stamp (as in Redis:
//! the other one is accepted and ignored).

use resp::encode;
use storage::{evict, rdb};

use crate::args::{parse_i64, Args};
use crate::error::{INVALID_FREQ, INVALID_IDLETIME, INVALID_TTL};
use crate::table::{flags::*, CommandTable};
use crate::{CmdResult, Ctx, Error};

pub fn register(t: &mut CommandTable) {
    t.shard("dump", 2, READONLY, (1, 1, 1), dump);
    t.shard("restore", -4, WRITE | DENYOOM, (1, 1, 1), restore);
    // Cluster mode's MIGRATE sends this: RESTORE that a node importing
    // the key's slot serves without a redirect (`features::cluster`).
    t.shard("restore-asking", -4, WRITE | DENYOOM, (1, 1, 1), restore);
}

/// DUMP key
fn dump(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let now = ctx.now;
    match ctx.db().get_counted(argv[1], now) {
        Some(v) => {
            let payload = rdb::dump(v);
            encode::bulk(ctx.out, &payload);
        }
        None => encode::null(ctx.out, ctx.resp3),
    }
    Ok(())
}

/// RESTORE's options after the payload.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RestoreOpts {
    pub replace: bool,
    /// The TTL is a unix time in milliseconds, not a duration.
    pub absttl: bool,
    /// IDLETIME seconds.
    pub idle: Option<i64>,
    /// FREQ 0..=255.
    pub freq: Option<i64>,
}

/// Parses `[REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]` from
/// `argv[4..]`. IDLETIME and FREQ exclude each other (the second one is a
/// syntax error), as in Redis, where a key has either an LRU clock or an
/// LFU counter.
pub fn restore_opts(argv: &[&[u8]]) -> Result<RestoreOpts, Error> {
    let mut o = RestoreOpts::default();
    let mut args = Args::at(argv, 4);
    while !args.is_done() {
        let takes_value = args.remaining() >= 2;
        if args.flag("REPLACE") {
            o.replace = true;
        } else if args.flag("ABSTTL") {
            o.absttl = true;
        } else if takes_value && o.freq.is_none() && args.flag("IDLETIME") {
            let n = args.next_i64()?;
            if n < 0 {
                return Err(Error::Static(INVALID_IDLETIME));
            }
            o.idle = Some(n);
        } else if takes_value && o.idle.is_none() && args.flag("FREQ") {
            let n = args.next_i64()?;
            if !(0..=255).contains(&n) {
                return Err(Error::Static(INVALID_FREQ));
            }
            o.freq = Some(n);
        } else {
            return Err(Error::Syntax);
        }
    }
    Ok(o)
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
///
/// Checks run in Redis's order (options, existing key, TTL, payload), and
/// nothing changes unless all pass. A TTL of 0 means none; a deadline
/// already past answers OK without creating the key (deleting the old one
/// under REPLACE), as a key that expired at once would.
fn restore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let opts = restore_opts(argv)?;
    let (key, now) = (argv[1], ctx.now);
    if !opts.replace && ctx.db().contains(key, now) {
        return Err(Error::BusyKey);
    }
    let ttl = parse_i64(argv[2]).ok_or(Error::NotInteger)?;
    if ttl < 0 {
        return Err(Error::Static(INVALID_TTL));
    }
    let value = rdb::restore(argv[3]).map_err(Error::Restore)?;
    let expire = match ttl as u64 {
        0 => None,
        t if opts.absttl => Some(t),
        // Past the end of time: as good as never.
        t => Some(now.saturating_add(t)),
    };
    if expire.is_some_and(|at| at <= now) {
        if opts.replace {
            ctx.db().remove(key, now);
        }
    } else {
        ctx.db().insert(key, value, expire);
        ctx.notify(storage::notify::class::GENERIC, "restore", key);
        let stamp = if evict::policy().is_lfu() {
            opts.freq.map(|f| evict::stamp_freq(f as u8))
        } else {
            opts.idle.map(|i| evict::stamp_idle(i as u64))
        };
        if let Some(stamp) = stamp {
            ctx.db().set_stamp(key, stamp, now);
        }
    }
    encode::ok(ctx.out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(extra: &[&str]) -> Result<RestoreOpts, Error> {
        let mut argv: Vec<&[u8]> = vec![b"restore", b"k", b"0", b"payload"];
        argv.extend(extra.iter().map(|s| s.as_bytes()));
        restore_opts(&argv)
    }

    #[test]
    fn options() {
        assert_eq!(opts(&[]), Ok(RestoreOpts::default()));
        let o = opts(&["replace", "AbsTTL", "IDLETIME", "5"]).expect("valid");
        assert!(o.replace && o.absttl && o.idle == Some(5) && o.freq.is_none());
        assert_eq!(opts(&["FREQ", "255"]).map(|o| o.freq), Ok(Some(255)));
        assert_eq!(opts(&["FREQ", "256"]), Err(Error::Static(INVALID_FREQ)));
        assert_eq!(opts(&["FREQ", "-1"]), Err(Error::Static(INVALID_FREQ)));
        assert_eq!(
            opts(&["IDLETIME", "-1"]),
            Err(Error::Static(INVALID_IDLETIME))
        );
        assert_eq!(opts(&["IDLETIME", "x"]), Err(Error::NotInteger));
        // A missing value, an unknown word, or both IDLETIME and FREQ.
        assert_eq!(opts(&["IDLETIME"]), Err(Error::Syntax));
        assert_eq!(opts(&["FREQ"]), Err(Error::Syntax));
        assert_eq!(opts(&["nope"]), Err(Error::Syntax));
        assert_eq!(opts(&["IDLETIME", "1", "FREQ", "1"]), Err(Error::Syntax));
        assert_eq!(opts(&["FREQ", "1", "IDLETIME", "1"]), Err(Error::Syntax));
    }
}
