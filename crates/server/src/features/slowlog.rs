//! SLOWLOG, and what every command's run time is used for: INFO
//! commandstats' `usec`, the per-command latency histograms
//! (`latency-tracking`, LATENCY HISTOGRAM, INFO latencystats) and the
//! latency monitor's `command` events (`latency.rs`).
//!
//! A command is timed with the cycle counter (`host::clock`), two reads
//! around its run, where it runs: a data command on the shard that ran it,
//! a server command on its connection's thread. What a batch compares its
//! times with ([`Watch`]) is read once per batch. A run at or past the
//! lower of `slowlog-log-slower-than` and `latency-monitor-threshold` is
//! *notable* and handed to [`notable`], on the connection's thread (a data
//! command run by another thread comes back with its group, see
//! `conn/window.rs`), which has the client's address and name.
//!
//! Each thread keeps its own slow log, at most `slowlog-max-len` entries;
//! ids come from one process-wide counter bumped only when an entry is
//! logged, so they are unique and, merged, give the entries in the order
//! they were logged. SLOWLOG GET and LEN merge the threads' logs and keep
//! the newest `slowlog-max-len`. Not logged, as in Redis: EXEC itself (the
//! commands it runs are, when they are server commands; data commands run
//! by EXEC or a script are timed as part of it). A blocking pop is logged
//! with the time it took to be served, not the time it waited: 0 here.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use commands::table::{flags, CommandSpec};
use commands::Error;
use resp::encode;

use crate::client::Client;
use crate::engine::tx::Route;
use crate::engine::worker::Worker;
use crate::features::command::full_name;
use crate::features::{latency, monitor};
use crate::host::clock;

type Argv<'a> = &'a [&'a [u8]];

/// Arguments an entry keeps at most (the last one then says how many more
/// there were), and bytes of each argument.
const MAX_ARGS: usize = 32;
const MAX_ARG_BYTES: usize = 128;

/// What a batch compares its commands' times with.
#[derive(Clone, Copy)]
pub struct Watch {
    /// Ticks at or past which a run is notable (`u64::MAX`: none is).
    pub notable: u64,
    /// Whether runs go into the latency histograms.
    pub track: bool,
    /// Whether a run of the same fast command may be timed as a whole
    /// (see [`Run`]): false when a threshold is under 1 ms.
    pub runs: bool,
}

/// Consecutive runs of one fast command (flag `FAST`: O(1) or O(log N))
/// timed as a whole: the clock is read when the command changes, not
/// around each one, so that a pipeline of GETs pays one clock read, not
/// two per GET (a read of the cycle counter costs as much as a tenth of a
/// pipelined GET on a virtual machine). The time is shared out evenly:
/// commandstats' `usec` stays exact in sum, and each run is counted in
/// the histogram at the average. While a threshold is under 1 ms every
/// command is timed on its own, so that each notable one is logged; above
/// it, a run of fast commands whose average reaches it is shown as a
/// `fast-command` latency event but not logged to the slow log (which of
/// them was slow is not known; an O(1) command that slow means the whole
/// thread stalled).
pub struct Run {
    pub start: u64,
    pub spec: &'static CommandSpec,
    pub n: u64,
}

/// Starts timing a command about to run: joins it to `run` when that is
/// a run of the same fast command (None), else ends `run` and returns the
/// time this command starts at (a fast command then starts a run of its
/// own, and None is returned).
#[inline(always)]
pub fn start(
    w: &Worker,
    run: &mut Option<Run>,
    spec: &'static CommandSpec,
    watch: Watch,
) -> Option<u64> {
    let joins = watch.runs && spec.has(flags::FAST);
    if joins {
        if let Some(r) = run {
            if std::ptr::eq(r.spec, spec) {
                r.n += 1;
                return None;
            }
        }
    }
    let now = clock::ticks();
    if let Some(r) = run.take() {
        r.close(w, now, watch);
    }
    if joins {
        *run = Some(Run {
            start: now,
            spec,
            n: 1,
        });
        return None;
    }
    Some(now)
}

/// Ends `run`, if one is being timed.
#[inline(always)]
pub fn end(w: &Worker, run: &mut Option<Run>, watch: Watch) {
    if let Some(r) = run.take() {
        r.close(w, clock::ticks(), watch);
    }
}

impl Run {
    /// Ends the run at `now` (ticks) and counts it.
    pub fn close(self, w: &Worker, now: u64, watch: Watch) {
        let ticks = now.wrapping_sub(self.start);
        w.stats.timed_n(self.spec.id, ticks, self.n, watch.track);
        if ticks / self.n.max(1) >= watch.notable {
            latency::add(
                w,
                "fast-command",
                clock::to_us(ticks / self.n.max(1)) / 1000,
            );
        }
    }
}

impl Watch {
    /// Two relaxed loads: the settings as they are now.
    #[inline(always)]
    pub fn read(w: &Worker) -> Watch {
        let m = &w.shared.config.monitoring;
        Watch {
            notable: m.notable_ticks.load(Ordering::Relaxed),
            track: m.latency_tracking.load(Ordering::Relaxed),
            runs: m.time_runs.load(Ordering::Relaxed),
        }
    }
}

/// The process-wide entry id counter.
#[derive(Default)]
pub struct Ids(AtomicU64);

/// One logged command.
#[derive(Clone)]
pub struct Entry {
    id: u64,
    /// Unix time, seconds, when it was logged.
    time: u64,
    us: u64,
    argv: Vec<Vec<u8>>,
    addr: String,
    name: Vec<u8>,
}

/// This thread's slow log, newest first.
#[derive(Default)]
pub struct Local(RefCell<VecDeque<Entry>>);

/// Counts a run of a data command (commandstats' time, its histogram) and
/// hands it to [`notable`] when it is.
#[inline(always)]
pub fn ran(
    w: &Worker,
    client: &Client,
    spec: &'static CommandSpec,
    argv: Argv<'_>,
    ticks: u64,
    watch: Watch,
) {
    w.stats.timed(spec.id, ticks, watch.track);
    if ticks >= watch.notable {
        notable(w, client, spec, argv, ticks);
    }
}

/// Counts a run of a server command: its time under its command, its
/// latency under its subcommand's name where it has subcommands
/// (`config|set`), as Redis's histograms are kept.
pub fn ran_server(
    w: &Worker,
    client: &Client,
    spec: &'static CommandSpec,
    argv: Argv<'_>,
    ticks: u64,
) {
    let watch = Watch::read(w);
    let full = full_name(spec.name, argv);
    if full == spec.name {
        w.stats.timed(spec.id, ticks, watch.track);
    } else {
        w.stats.timed(spec.id, ticks, false);
        if watch.track {
            w.stats.timed_sub(full, clock::to_us(ticks));
        }
    }
    if ticks >= watch.notable && spec.name != "exec" {
        notable(w, client, spec, argv, ticks);
    }
}

/// A run past one of the thresholds: logged to the slow log, and to the
/// latency monitor as a `command` or `fast-command` event.
#[cold]
#[inline(never)]
pub fn notable(w: &Worker, client: &Client, spec: &CommandSpec, argv: Argv<'_>, ticks: u64) {
    let us = clock::to_us(ticks);
    let m = &w.shared.config.monitoring;
    let slower_than = m.slower_than.load(Ordering::Relaxed);
    if slower_than >= 0 && us >= slower_than as u64 {
        let max = m.slowlog_max_len.load(Ordering::Relaxed);
        let info = client.info.borrow();
        let entry = Entry {
            id: w.shared.global::<Ids>().0.fetch_add(1, Ordering::Relaxed),
            time: crate::engine::worker::now_ms() / 1000,
            us,
            argv: cut(argv),
            addr: info.addr.clone(),
            name: info.name.clone(),
        };
        let mut log = w.local::<Local>().0.borrow_mut();
        log.push_front(entry);
        log.truncate(max);
    }
    let event = if spec.has(flags::FAST) {
        "fast-command"
    } else {
        "command"
    };
    latency::add(w, event, us / 1000);
}

/// A command's arguments as an entry keeps them: secrets redacted, at most
/// [`MAX_ARGS`] (the last slot then counts the rest), each at most
/// [`MAX_ARG_BYTES`] (then followed by how many bytes were left out).
fn cut(argv: Argv<'_>) -> Vec<Vec<u8>> {
    let hidden = monitor::redacted(argv);
    let keep = if argv.len() > MAX_ARGS {
        MAX_ARGS - 1
    } else {
        argv.len()
    };
    let mut v: Vec<Vec<u8>> = argv[..keep]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if hidden.contains(&i) {
                b"(redacted)".to_vec()
            } else if a.len() > MAX_ARG_BYTES {
                let mut s = a[..MAX_ARG_BYTES].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes(),
                );
                s
            } else {
                a.to_vec()
            }
        })
        .collect();
    if keep < argv.len() {
        v.push(format!("... ({} more arguments)", argv.len() - keep).into_bytes());
    }
    v
}

/// Every thread's entries, newest first, at most `slowlog-max-len`.
async fn merged(w: &Route<'_>) -> Vec<Entry> {
    let max = w
        .shared
        .config
        .monitoring
        .slowlog_max_len
        .load(Ordering::Relaxed);
    let parts = w
        .call_all(move |w| {
            let log = w.local::<Local>().0.borrow();
            log.iter().take(max).cloned().collect::<Vec<_>>()
        })
        .await;
    let mut all: Vec<Entry> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|e| std::cmp::Reverse(e.id));
    all.truncate(max);
    all
}

/// SLOWLOG GET [count] | LEN | RESET | HELP
pub async fn slowlog(w: &Route<'_>, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let sub = argv[1].to_ascii_lowercase();
    let arity = |ok: bool| -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(Error::WrongArity(format!(
                "slowlog|{}",
                String::from_utf8_lossy(&sub)
            )))
        }
    };
    match sub.as_slice() {
        b"get" => {
            arity(argv.len() <= 3)?;
            let count =
                match argv.get(2) {
                    None => 10,
                    Some(a) => {
                        let n = commands::args::parse_i64(a).filter(|&n| n >= -1).ok_or(
                            Error::Static("ERR count should be greater than or equal to -1"),
                        )?;
                        if n == -1 {
                            usize::MAX
                        } else {
                            n as usize
                        }
                    }
                };
            let entries = merged(w).await;
            let n = entries.len().min(count);
            encode::array_len(out, n);
            for e in &entries[..n] {
                encode::array_len(out, 6);
                encode::integer(out, e.id as i64);
                encode::integer(out, e.time as i64);
                encode::integer(out, e.us as i64);
                encode::array_len(out, e.argv.len());
                for a in &e.argv {
                    encode::bulk(out, a);
                }
                encode::bulk(out, e.addr.as_bytes());
                encode::bulk(out, &e.name);
            }
        }
        b"len" => {
            arity(argv.len() == 2)?;
            encode::integer(out, merged(w).await.len() as i64);
        }
        b"reset" => {
            arity(argv.len() == 2)?;
            w.call_all(|w| w.local::<Local>().0.borrow_mut().clear())
                .await;
            encode::ok(out);
        }
        b"help" => {
            arity(argv.len() == 2)?;
            commands::reply_help(
                out,
                &[
                    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "GET [<count>]",
                    "    The newest <count> entries of the slow log (10 by default, -1 for",
                    "    all). Each entry: its id, when it was logged (unix time), how long",
                    "    the command ran (microseconds), its arguments, the client's address",
                    "    and the client's name.",
                    "LEN",
                    "    How many entries the slow log holds.",
                    "RESET",
                    "    Empties the slow log.",
                    "HELP",
                    "    Prints this help.",
                ],
            );
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "SLOWLOG")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let many: Vec<Vec<u8>> = (0..35).map(|i| i.to_string().into_bytes()).collect();
        let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
        let v = cut(&refs);
        assert_eq!(v.len(), 32);
        assert_eq!(v[30], b"30");
        assert_eq!(v[31], b"... (4 more arguments)");
        let long = vec![b'A'; 130];
        let v = cut(&[b"set", b"k", &long]);
        assert_eq!(v[2].len(), 128 + "... (2 more bytes)".len());
        assert!(v[2].ends_with(b"A... (2 more bytes)"));
        assert_eq!(cut(&[b"auth", b"pw"])[1], b"(redacted)");
    }
}
