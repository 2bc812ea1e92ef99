//! LATENCY: the latency monitor's events and the per-command latency
//! histograms (and INFO latencystats, which reads them).
//!
//! An *event* is a named kind of slow step (`command`, `fast-command`)
//! that took at least `latency-monitor-threshold` milliseconds; 0 turns
//! the monitor off. Each thread keeps, per event, the last [`HISTORY`]
//! seconds in which the event happened (the worst time of each second)
//! and the worst time ever; LATENCY merges the threads' series, second by
//! second. Command times reach [`add`] through `slowlog::notable`.
//!
//! The histograms are kept per command and thread in the worker's
//! counters (`WorkerStats::cmds`, `subs`), one power-of-two bucket per
//! run; [`histograms`] sums them over threads.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use commands::Error;
use resp::encode;

use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker, HIST_BUCKETS};
use crate::features::command::SUBCOMMANDS;

type Argv<'a> = &'a [&'a [u8]];

/// Seconds of history kept per event.
const HISTORY: usize = 160;

/// One event's samples on one thread: (unix seconds, ms), oldest first.
#[derive(Clone, Default)]
struct Series {
    samples: VecDeque<(u64, u64)>,
    max: u64,
}

/// This thread's events.
#[derive(Default)]
pub struct Local(RefCell<Vec<(&'static str, Series)>>);

/// Records that `event` took `ms` milliseconds, if that is at least the
/// threshold.
pub fn add(w: &Worker, event: &'static str, ms: u64) {
    let threshold = w
        .shared
        .config
        .monitoring
        .latency_threshold
        .load(Ordering::Relaxed);
    if threshold == 0 || ms < threshold {
        return;
    }
    let now = now_ms() / 1000;
    let mut events = w.local::<Local>().0.borrow_mut();
    let at = match events.iter().position(|(n, _)| *n == event) {
        Some(i) => i,
        None => {
            events.push((event, Series::default()));
            events.len() - 1
        }
    };
    let s = &mut events[at].1;
    match s.samples.back_mut() {
        Some(last) if last.0 == now => last.1 = last.1.max(ms),
        _ => {
            s.samples.push_back((now, ms));
            if s.samples.len() > HISTORY {
                s.samples.pop_front();
            }
        }
    }
    s.max = s.max.max(ms);
}

/// Every thread's events merged: per event, one sample per second (the
/// worst), oldest first, and the worst time ever.
async fn merged(w: &Route<'_>) -> Vec<(&'static str, Series)> {
    let parts = w.call_all(|w| w.local::<Local>().0.borrow().clone()).await;
    let mut all: Vec<(&'static str, Series)> = Vec::new();
    for (name, s) in parts.into_iter().flatten() {
        match all.iter_mut().find(|(n, _)| *n == name) {
            Some((_, m)) => {
                m.max = m.max.max(s.max);
                m.samples.extend(s.samples);
            }
            None => all.push((name, s)),
        }
    }
    for (_, s) in &mut all {
        let mut v: Vec<(u64, u64)> = s.samples.drain(..).collect();
        v.sort_unstable();
        for (t, ms) in v {
            match s.samples.back_mut() {
                Some(last) if last.0 == t => last.1 = last.1.max(ms),
                _ => s.samples.push_back((t, ms)),
            }
        }
        while s.samples.len() > HISTORY {
            s.samples.pop_front();
        }
    }
    all.sort_by_key(|(n, _)| *n);
    all
}

/// Every command's latency histogram summed over threads, by name
/// (subcommands by their full name, `client|id`), those with runs only.
pub async fn histograms(w: &Route<'_>) -> Vec<(&'static str, [u64; HIST_BUCKETS])> {
    let table = w.shared.table;
    let parts = w
        .call_all(move |w| {
            let mut v: Vec<(&'static str, [u64; HIST_BUCKETS])> = Vec::new();
            for spec in table.iter() {
                if let Some(c) = w.stats.cmds.get(spec.id) {
                    let counts = c.hist.counts();
                    if counts.iter().any(|&n| n > 0) {
                        v.push((spec.name, counts));
                    }
                }
            }
            for (name, h) in w.stats.subs.borrow().iter() {
                v.push((name, h.counts()));
            }
            v
        })
        .await;
    let mut all: Vec<(&'static str, [u64; HIST_BUCKETS])> = Vec::new();
    for (name, counts) in parts.into_iter().flatten() {
        match all.iter_mut().find(|(n, _)| *n == name) {
            Some((_, m)) => {
                for (a, b) in m.iter_mut().zip(counts) {
                    *a += b;
                }
            }
            None => all.push((name, counts)),
        }
    }
    all.sort_by_key(|(n, _)| *n);
    all
}

/// The upper bound, in microseconds, of histogram bucket `b`.
fn bucket_us(b: usize) -> u64 {
    1u64 << b
}

/// The `p`th percentile (0..=100) of a histogram, in microseconds: the
/// upper bound of the bucket it falls in.
pub fn percentile(counts: &[u64; HIST_BUCKETS], p: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let want = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, &n) in counts.iter().enumerate() {
        seen += n;
        if seen >= want {
            return bucket_us(b) as f64;
        }
    }
    bucket_us(HIST_BUCKETS - 1) as f64
}

/// INFO latencystats: `latency_percentiles_usec_<cmd>:p50=...,p99=...`
/// for the percentiles `latency-tracking-info-percentiles` names.
pub async fn info(w: &Route<'_>, s: &mut String) {
    s.push_str("# Latencystats\r\n");
    if w.shared
        .config
        .monitoring
        .latency_tracking
        .load(Ordering::Relaxed)
    {
        let wanted: Vec<f64> = w
            .shared
            .config
            .other("latency-tracking-info-percentiles")
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        for (name, counts) in histograms(w).await {
            let _ = write!(s, "latency_percentiles_usec_{name}:");
            for (i, p) in wanted.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                let _ = write!(s, "{sep}p{p}={:.3}", percentile(&counts, *p));
            }
            s.push_str("\r\n");
        }
    }
    s.push_str("\r\n");
}

/// LATENCY HISTOGRAM's reply for one command.
fn write_histogram(out: &mut Vec<u8>, resp3: bool, name: &str, counts: &[u64; HIST_BUCKETS]) {
    encode::bulk(out, name.as_bytes());
    encode::map_len(out, 2, resp3);
    encode::bulk(out, b"calls");
    encode::integer(out, counts.iter().sum::<u64>() as i64);
    encode::bulk(out, b"histogram_usec");
    let used: Vec<usize> = (0..HIST_BUCKETS).filter(|&b| counts[b] > 0).collect();
    encode::map_len(out, used.len(), resp3);
    let mut cumulative = 0;
    for (b, &n) in counts.iter().enumerate() {
        cumulative += n;
        if n > 0 {
            encode::integer(out, bucket_us(b) as i64);
            encode::integer(out, cumulative as i64);
        }
    }
}

/// A text meant for people (LATENCY DOCTOR and GRAPH).
fn text(out: &mut Vec<u8>, resp3: bool, s: &str) {
    encode::verbatim(out, s.as_bytes(), resp3);
}

/// Whether `name` is a container command (CONFIG, CLIENT, ...).
fn has_subcommands(name: &str) -> bool {
    SUBCOMMANDS
        .iter()
        .any(|s| s.strip_prefix(name).is_some_and(|r| r.starts_with('|')))
}

/// A small text chart of an event's samples, newest on the right: one
/// column per sample, its height the sample's share of the worst.
fn graph(event: &str, s: &Series) -> String {
    const ROWS: u64 = 8;
    let now = now_ms() / 1000;
    let max = s.samples.iter().map(|x| x.1).max().unwrap_or(0).max(1);
    let min = s.samples.iter().map(|x| x.1).min().unwrap_or(0);
    let mut text = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
        s.max
    );
    text.push_str(&"-".repeat(72));
    text.push('\n');
    for row in (1..=ROWS).rev() {
        for &(_, ms) in &s.samples {
            let h = (ms * ROWS).div_ceil(max);
            text.push(if h >= row { '#' } else { ' ' });
        }
        text.push('\n');
    }
    // Each column's age, as Redis labels its columns: seconds, minutes,
    // hours or days ago, written top to bottom.
    let ages: Vec<String> = s
        .samples
        .iter()
        .map(|&(t, _)| {
            let ago = now.saturating_sub(t);
            match ago {
                0..=59 => format!("{ago}s"),
                60..=3599 => format!("{}m", ago / 60),
                3600..=86399 => format!("{}h", ago / 3600),
                _ => format!("{}d", ago / 86400),
            }
        })
        .collect();
    let height = ages.iter().map(String::len).max().unwrap_or(0);
    for i in 0..height {
        for a in &ages {
            text.push(a.as_bytes().get(i).map_or(' ', |&c| char::from(c)));
        }
        text.push('\n');
    }
    text
}

/// What LATENCY DOCTOR says: each event's figures in plain words.
fn doctor(events: &[(&'static str, Series)], threshold: u64) -> String {
    let mut t = String::new();
    if threshold == 0 {
        t.push_str("The latency monitor is off: set latency-monitor-threshold to a number of milliseconds (CONFIG SET latency-monitor-threshold 100) to record the steps that take longer.\n");
        return t;
    }
    if events.is_empty() {
        let _ = writeln!(
            t,
            "No event has taken {threshold} ms or more (latency-monitor-threshold) since the monitor started or was reset."
        );
        return t;
    }
    let _ = writeln!(
        t,
        "Events that took {threshold} ms or more (latency-monitor-threshold):\n"
    );
    for (i, (name, s)) in events.iter().enumerate() {
        let n = s.samples.len().max(1) as u64;
        let avg = s.samples.iter().map(|x| x.1).sum::<u64>() / n;
        let span = match (s.samples.front(), s.samples.back()) {
            (Some(a), Some(b)) => b.0 - a.0,
            _ => 0,
        };
        let _ = writeln!(
            t,
            "{}. {name}: {} seconds with a slow step over the last {span} s, {avg} ms on average, {} ms at worst (ever).",
            i + 1,
            s.samples.len(),
            s.max
        );
        let hint = match *name {
            "command" => "Slow commands: see SLOWLOG GET for which, and prefer commands that do a bounded amount of work (SCAN over KEYS, smaller ranges).",
            "fast-command" => "Commands that are usually quick were slow: the machine may be overloaded, swapping, or the process descheduled.",
            _ => "",
        };
        if !hint.is_empty() {
            let _ = writeln!(t, "   {hint}");
        }
    }
    t
}

/// LATENCY LATEST | HISTORY event | RESET [event ...] | GRAPH event |
/// DOCTOR | HISTOGRAM [command ...] | HELP
pub async fn latency(
    w: &Route<'_>,
    resp3: bool,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let sub = argv[1].to_ascii_lowercase();
    let arity = |ok: bool| -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(Error::WrongArity(format!(
                "latency|{}",
                String::from_utf8_lossy(&sub)
            )))
        }
    };
    match sub.as_slice() {
        b"latest" => {
            arity(argv.len() == 2)?;
            let events = merged(w).await;
            encode::array_len(out, events.len());
            for (name, s) in &events {
                let (t, ms) = s.samples.back().copied().unwrap_or_default();
                encode::array_len(out, 4);
                encode::bulk(out, name.as_bytes());
                encode::integer(out, t as i64);
                encode::integer(out, ms as i64);
                encode::integer(out, s.max as i64);
            }
        }
        b"history" => {
            arity(argv.len() == 3)?;
            let events = merged(w).await;
            let samples = events
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(argv[2]))
                .map(|(_, s)| s.samples.clone())
                .unwrap_or_default();
            encode::array_len(out, samples.len());
            for (t, ms) in samples {
                encode::array_len(out, 2);
                encode::integer(out, t as i64);
                encode::integer(out, ms as i64);
            }
        }
        b"reset" => {
            let names: Vec<Vec<u8>> = argv[2..].iter().map(|a| a.to_ascii_lowercase()).collect();
            let dropped = w
                .call_all(move |w| {
                    let mut events = w.local::<Local>().0.borrow_mut();
                    let gone: Vec<&'static str> = events
                        .iter()
                        .map(|(n, _)| *n)
                        .filter(|n| names.is_empty() || names.iter().any(|x| x == n.as_bytes()))
                        .collect();
                    events.retain(|(n, _)| !gone.contains(n));
                    gone
                })
                .await;
            let mut dropped: Vec<&str> = dropped.into_iter().flatten().collect();
            dropped.sort_unstable();
            dropped.dedup();
            encode::integer(out, dropped.len() as i64);
        }
        b"graph" => {
            arity(argv.len() == 3)?;
            let events = merged(w).await;
            let Some((name, s)) = events
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(argv[2]))
            else {
                return Err(Error::Other(format!(
                    "ERR No samples available for event '{}'",
                    String::from_utf8_lossy(argv[2])
                )));
            };
            text(out, resp3, &graph(name, s));
        }
        b"doctor" => {
            arity(argv.len() == 2)?;
            let threshold = w
                .shared
                .config
                .monitoring
                .latency_threshold
                .load(Ordering::Relaxed);
            let events = merged(w).await;
            text(out, resp3, &doctor(&events, threshold));
        }
        b"histogram" => {
            let all = histograms(w).await;
            let mut chosen: Vec<&(&'static str, [u64; HIST_BUCKETS])> = Vec::new();
            if argv.len() == 2 {
                chosen.extend(all.iter());
            } else {
                for a in &argv[2..] {
                    let a = String::from_utf8_lossy(a).to_ascii_lowercase();
                    let known = w.shared.table.lookup(a.as_bytes()).is_some()
                        || SUBCOMMANDS.contains(&a.as_str());
                    if !known {
                        continue;
                    }
                    let parent = has_subcommands(&a);
                    for h in &all {
                        let hit = if parent {
                            h.0.strip_prefix(a.as_str())
                                .is_some_and(|r| r.starts_with('|'))
                        } else {
                            h.0 == a
                        };
                        if hit && !chosen.iter().any(|c| c.0 == h.0) {
                            chosen.push(h);
                        }
                    }
                }
            }
            encode::map_len(out, chosen.len(), resp3);
            for (name, counts) in chosen {
                write_histogram(out, resp3, name, counts);
            }
        }
        b"help" => {
            arity(argv.len() == 2)?;
            commands::reply_help(
                out,
                &[
                    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "LATEST",
                    "    Each event's latest sample: its name, when (unix time), how long",
                    "    (ms), and its worst time ever.",
                    "HISTORY <event>",
                    "    The event's samples, one per second it happened in: (unix time, ms).",
                    "RESET [<event> ...]",
                    "    Forgets the samples of the events named (all, when none is).",
                    "GRAPH <event>",
                    "    The event's samples as a text chart.",
                    "DOCTOR",
                    "    A report on the events, in words.",
                    "HISTOGRAM [<command> ...]",
                    "    The latency histograms of the commands named (all, when none is),",
                    "    in microseconds, cumulative.",
                    "HELP",
                    "    Prints this help.",
                ],
            );
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "LATENCY")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_bucket_bounds() {
        let mut c = [0u64; HIST_BUCKETS];
        c[1] = 90; // 1 µs
        c[4] = 10; // 8..16 µs
        assert_eq!(percentile(&c, 50.0), 2.0);
        assert_eq!(percentile(&c, 99.0), 16.0);
        assert_eq!(percentile(&[0; HIST_BUCKETS], 50.0), 0.0);
    }
}
