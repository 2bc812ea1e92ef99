//! A cheap clock for timing every command (INFO commandstats, SLOWLOG,
//! LATENCY): the CPU's time-stamp counter where there is one.
//!
//! Two `clock_gettime` calls per command cost about as much as a pipelined
//! GET itself; two reads of the time-stamp counter cost a few nanoseconds.
//! The counter is only read, never trusted as wall time: a duration in
//! ticks becomes microseconds through the rate [`calibrate`] measured once
//! at start against the monotonic clock. On CPUs whose counter runs at a
//! constant rate across cores and sleep states (`constant_tsc`,
//! `nonstop_tsc`: every x86-64 server of the last decade) that is exact to
//! the calibration's precision; elsewhere the monotonic clock is read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Microseconds per tick, as a 32.32 fixed-point number.
static US_PER_TICK: AtomicU64 = AtomicU64::new(1 << 32);

/// The monotonic clock's origin, where the counter is not used.
static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// The counter now, in ticks (nanoseconds where there is no counter).
#[inline(always)]
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC exists on every x86-64 CPU and reads no memory.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Measures the counter's rate against the monotonic clock (a few
/// milliseconds, once, before the threads start).
pub fn calibrate() {
    let _ = ORIGIN.get_or_init(Instant::now);
    let (t0, c0) = (Instant::now(), ticks());
    std::thread::sleep(Duration::from_millis(20));
    let (t1, c1) = (Instant::now(), ticks());
    let ns = t1.duration_since(t0).as_nanos() as u64;
    let n = c1.wrapping_sub(c0);
    if n > 0 && ns > 0 {
        // us/tick = ns / 1000 / n, in 32.32.
        let fixed = ((u128::from(ns) << 32) / (1000 * u128::from(n))) as u64;
        US_PER_TICK.store(fixed.max(1), Ordering::Relaxed);
    }
}

/// `n` ticks in microseconds.
#[inline(always)]
pub fn to_us(n: u64) -> u64 {
    ((u128::from(n) * u128::from(US_PER_TICK.load(Ordering::Relaxed))) >> 32) as u64
}

/// `us` microseconds in ticks (saturating).
pub fn from_us(us: u64) -> u64 {
    let per = u128::from(US_PER_TICK.load(Ordering::Relaxed)).max(1);
    ((u128::from(us) << 32) / per).min(u128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_measures_about_right() {
        calibrate();
        let t0 = ticks();
        std::thread::sleep(Duration::from_millis(30));
        let us = to_us(ticks().wrapping_sub(t0));
        assert!((29_000..200_000).contains(&us), "{us}");
        let back = to_us(from_us(5000));
        assert!((4990..=5010).contains(&back), "{back}");
    }
}
