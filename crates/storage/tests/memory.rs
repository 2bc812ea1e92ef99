//! Memory per key, the headline figure: one million keys "key:N" with
//! 16-byte values. Its own test binary (one test) so that no other test's
//! allocations land in the measurement.
//!
//! Two figures: bytes requested from the allocator (what an allocator with
//! a 64-byte size class, such as the server's mimalloc, hands out), counted
//! by a wrapping global allocator; and the process's resident-set growth
//! under this binary's allocator (glibc malloc, which adds a 16-byte header
//! to each 64-byte node).

#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use storage::{Db, Value};

struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn rss_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn one_million_keys_cost_about_72_bytes_each() {
    const N: usize = 1_000_000;
    let bytes_before = LIVE_BYTES.load(Ordering::Relaxed);
    let blocks_before = LIVE_BLOCKS.load(Ordering::Relaxed);
    let rss_before = rss_bytes();

    let mut db = Db::new();
    let mut key = Vec::with_capacity(32);
    let mut num = itoa::Buffer::new();
    for i in 0..N {
        key.clear();
        key.extend_from_slice(b"key:");
        key.extend_from_slice(num.format(i).as_bytes());
        // 16 bytes, not an integer: the inline string encoding.
        let value = format!("v{i:015}");
        db.insert(&key, Value::from_bytes(value.as_bytes()), None);
    }
    while db.rehash(1000) {}

    let bytes = (LIVE_BYTES.load(Ordering::Relaxed) - bytes_before) as f64 / N as f64;
    let blocks = (LIVE_BLOCKS.load(Ordering::Relaxed) - blocks_before) as f64 / N as f64;
    let buckets = db.dict().bucket_count();
    println!(
        "{N} keys: {bytes:.1} bytes requested per key ({blocks:.3} allocations per key, \
         {buckets} buckets)"
    );
    if let (Some(before), Some(after)) = (rss_before, rss_bytes()) {
        let rss = after.saturating_sub(before) as f64 / N as f64;
        println!("{N} keys: {rss:.1} bytes of resident memory per key (system allocator)");
        // Redis 7 needs ~111 bytes for the same data; even with glibc's
        // per-block header we must be well under.
        assert!(rss < 100.0, "{rss:.1} bytes per key resident");
    }
    // One 64-byte node per key plus 8 bytes per bucket at load factor ~1.
    assert!((blocks - 1.0).abs() < 0.001, "{blocks} allocations per key");
    assert!(
        bytes < 64.0 + 8.0 * buckets as f64 / N as f64 + 1.0,
        "{bytes}"
    );
    assert!(bytes < 73.0, "{bytes:.1} bytes per key");

    // Spot-check the data survived.
    assert_eq!(
        db.get(b"key:123456", 0)
            .and_then(|v| v.as_str())
            .map(|s| s.to_vec()),
        Some(b"v000000000123456".to_vec())
    );
    assert_eq!(db.len(), N);
}
