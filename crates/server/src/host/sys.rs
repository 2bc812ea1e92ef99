//! The operating-system edge: CPUs, resource limits, signals, memory figures.

use std::sync::atomic::{AtomicIsize, Ordering};

/// The CPUs this process may run on (its affinity mask).
pub fn available_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&i| libc::CPU_ISSET(i, &set))
            .collect()
    }
}

/// Redis log levels onto `log`'s.
pub fn level_filter(level: &str) -> log::LevelFilter {
    match level {
        "debug" => log::LevelFilter::Trace,
        "verbose" => log::LevelFilter::Debug,
        "notice" => log::LevelFilter::Info,
        "warning" => log::LevelFilter::Warn,
        _ => log::LevelFilter::Off,
    }
}

/// Raises the open-file limit so `maxclients` connections fit, as Redis
/// does (plus a reserve for listeners, eventfds and epoll). Returns the
/// number of clients the limit allows when it could not be raised enough.
pub fn raise_nofile(maxclients: usize, threads: usize) -> Option<usize> {
    let reserve = 32 + 3 * threads;
    let want = (maxclients + reserve) as libc::rlim_t;
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 || r.rlim_cur >= want {
            return None;
        }
        let new = libc::rlimit {
            rlim_cur: want.min(r.rlim_max),
            rlim_max: r.rlim_max,
        };
        let cur = if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
            new.rlim_cur
        } else {
            r.rlim_cur
        };
        (cur < want).then(|| (cur as usize).saturating_sub(reserve).max(1))
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread (and the threads it
/// spawns afterwards), so that only [`wait_for_signal`] receives them.
pub fn block_signals() -> libc::sigset_t {
    // SAFETY: sigset manipulation on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits for SIGINT or SIGTERM; returns its name.
pub fn wait_for_signal(set: &libc::sigset_t) -> &'static str {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` was initialised by block_signals.
    unsafe {
        libc::sigwait(set, &mut sig);
    }
    if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

/// Resident set size in bytes.
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    pages * page
}

/// User and system CPU seconds of the process.
pub fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills the struct.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        (t(u.ru_utime), t(u.ru_stime))
    }
}

/// The global allocator: mimalloc (compact size classes, fast thread-local
/// heaps: it suits many small per-key allocations made and freed by one
/// thread), wrapped to count live bytes for INFO's `used_memory`. Each thread
/// adds to its own counter slot, so counting costs no shared cache line.
pub struct CountingAlloc;

const SLOTS: usize = 64;

#[repr(align(64))]
struct Slot(AtomicIsize);

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: Slot = Slot(AtomicIsize::new(0));
static ALLOCATED: [Slot; SLOTS] = [ZERO; SLOTS];
static NEXT_SLOT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

thread_local! {
    static MY_SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % SLOTS;
}

fn account(delta: isize) {
    let i = MY_SLOT.try_with(|s| *s).unwrap_or(0);
    ALLOCATED[i].0.fetch_add(delta, Ordering::Relaxed);
}

/// Bytes currently allocated by the process.
pub fn used_memory() -> usize {
    // Only the slots handed out so far can be non-zero.
    let used = NEXT_SLOT.load(Ordering::Relaxed).min(SLOTS);
    let bytes = ALLOCATED[..used]
        .iter()
        .map(|s| s.0.load(Ordering::Relaxed))
        .sum::<isize>()
        .max(0) as usize;
    PEAK.fetch_max(bytes, Ordering::Relaxed);
    bytes
}

/// The most [`used_memory`] has read (INFO used_memory_peak): sampled
/// whenever it is read (each cron tick of every thread, maxmemory checks,
/// INFO), so a spike between readings can be missed.
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub fn peak_memory() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Reads memory use so that the peak sees it (the cron's sample).
pub fn sample_peak() {
    used_memory();
}

// SAFETY: forwards to mimalloc, only adding bookkeeping.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        account(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        account(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        account(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        account(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// Values handed to the lazy-free thread and not freed yet (INFO
/// lazyfree_pending_objects), and an estimate of the bytes they hold, which
/// eviction counts as free already (see `evict.rs`).
static LAZYFREE_PENDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static LAZYFREE_PENDING_BYTES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

pub fn lazyfree_pending() -> usize {
    LAZYFREE_PENDING.load(Ordering::Relaxed)
}

pub fn lazyfree_pending_bytes() -> usize {
    LAZYFREE_PENDING_BYTES.load(Ordering::Relaxed)
}

/// Where big values go to be freed (see `storage::lazyfree`), with their
/// estimated size.
static LAZYFREE: std::sync::OnceLock<crossbeam_channel::Sender<(storage::Value, usize)>> =
    std::sync::OnceLock::new();

/// Starts the background thread that frees big values, and installs it as
/// storage's releaser. A send never blocks (unbounded), so a shard hands a
/// ten-million-member set over in O(1) and goes on serving.
pub fn start_lazyfree() -> std::io::Result<()> {
    let (tx, rx) = crossbeam_channel::unbounded::<(storage::Value, usize)>();
    std::thread::Builder::new()
        .name("tessera-lazyfree".into())
        .spawn(move || {
            for (v, bytes) in rx {
                drop(v);
                LAZYFREE_PENDING_BYTES.fetch_sub(bytes, Ordering::Relaxed);
                LAZYFREE_PENDING.fetch_sub(1, Ordering::Relaxed);
            }
        })?;
    if LAZYFREE.set(tx).is_ok() {
        storage::lazyfree::set_releaser(|v| {
            if let Some(tx) = LAZYFREE.get() {
                let bytes = v.heap_size();
                LAZYFREE_PENDING.fetch_add(1, Ordering::Relaxed);
                LAZYFREE_PENDING_BYTES.fetch_add(bytes, Ordering::Relaxed);
                // The receiver lives as long as the process; if it is gone
                // the value comes back and is dropped here.
                if tx.send((v, bytes)).is_err() {
                    LAZYFREE_PENDING_BYTES.fetch_sub(bytes, Ordering::Relaxed);
                    LAZYFREE_PENDING.fetch_sub(1, Ordering::Relaxed);
                }
            }
        });
    }
    Ok(())
}

/// `uname`'s system, release and machine, as INFO's `os` shows them
/// (`Linux 6.1.0 x86_64`).
pub fn os_name() -> String {
    // SAFETY: uname fills the zeroed struct we own; its fields are
    // NUL-terminated.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
        }
        u
    };
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    )
}

/// The machine's physical memory in bytes (INFO `total_system_memory`).
pub fn total_system_memory() -> usize {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as usize * size as usize
    } else {
        0
    }
}
