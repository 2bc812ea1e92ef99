//! The log, in Redis's line format, so that tools and Redis's own test suite
//! that read a server's log find what they look for:
//!
//! ```text
//! 4242:M 07 Dec 2026 11:49:46.680 * Ready to accept connections
//! ```
//!
//! pid, the process's role (`C` while the config is read, `M` once the server
//! is being set up, `S` while it is a replica), local time to the
//! millisecond, a mark for the level (`.` debug, `-` verbose, `*` notice,
//! `#` warning) and the message. Lines go to `logfile` (opened per line, as
//! Redis does, so a rotated file is followed) or to stdout when it is empty,
//! and to syslog as well with `syslog-enabled yes`.
//!
//! The process side of starting and stopping lives here too: `daemonize`,
//! `pidfile`, and the lines Redis prints on the way out.

use std::ffi::CString;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};

/// Where log lines go; fixed at start (`logfile` and `syslog-*` cannot be
/// changed at run time, as in Redis).
struct Logger {
    /// `None`: stdout.
    file: Option<String>,
    syslog: bool,
    /// One line at a time, whole.
    lock: Mutex<()>,
}

static ROLE: AtomicU8 = AtomicU8::new(b'C');
/// The thread that is writing the process's last line ([`fatal`]): the
/// other threads' lines are dropped from then on.
static LAST_WORDS: OnceLock<std::thread::ThreadId> = OnceLock::new();
static PIDFILE: OnceLock<String> = OnceLock::new();

/// From now on lines carry role `M`: the config is read, the server is
/// being set up.
pub fn server_role() {
    ROLE.store(b'M', Ordering::Relaxed);
}

/// Lines carry role `S` while the server is a replica, `M` again after.
pub fn replica_role(replica: bool) {
    ROLE.store(if replica { b'S' } else { b'M' }, Ordering::Relaxed);
}

/// Installs the logger. `level` is Redis's level name.
pub fn init(level: &str, logfile: &str, syslog: Option<(&str, &str)>) {
    if let Some((ident, facility)) = syslog {
        open_syslog(ident, facility);
    }
    let logger = Logger {
        file: (!logfile.is_empty()).then(|| logfile.to_string()),
        syslog: syslog.is_some(),
        lock: Mutex::new(()),
    };
    if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
        log::set_max_level(crate::host::sys::level_filter(level));
    }
}

/// Whether the log can be opened for appending (checked at start, so that a
/// bad `logfile` is an error on the terminal rather than a silent log).
pub fn check_logfile(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(drop)
        .map_err(|e| format!("Can't open the log file: {e}"))
}

fn open_syslog(ident: &str, facility: &str) {
    let fac = match facility {
        "user" => libc::LOG_USER,
        "local1" => libc::LOG_LOCAL1,
        "local2" => libc::LOG_LOCAL2,
        "local3" => libc::LOG_LOCAL3,
        "local4" => libc::LOG_LOCAL4,
        "local5" => libc::LOG_LOCAL5,
        "local6" => libc::LOG_LOCAL6,
        "local7" => libc::LOG_LOCAL7,
        _ => libc::LOG_LOCAL0,
    };
    // openlog keeps the pointer: the ident lives as long as the process.
    let ident: &'static CString = Box::leak(Box::new(
        CString::new(ident).unwrap_or_else(|_| c"redis".into()),
    ));
    // SAFETY: a valid NUL-terminated string that is never freed.
    unsafe { libc::openlog(ident.as_ptr(), libc::LOG_PID | libc::LOG_NDELAY, fac) };
}

fn mark(level: log::Level) -> char {
    match level {
        log::Level::Error | log::Level::Warn => '#',
        log::Level::Info => '*',
        log::Level::Debug => '-',
        log::Level::Trace => '.',
    }
}

/// `07 Dec 2026 11:49:46.680`, local time.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r fills the zeroed struct we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan"),
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if LAST_WORDS
            .get()
            .is_some_and(|t| *t != std::thread::current().id())
        {
            return;
        }
        let msg = record.args().to_string();
        let line = format!(
            "{}:{} {} {} {msg}\n",
            std::process::id(),
            ROLE.load(Ordering::Relaxed) as char,
            timestamp(),
            mark(record.level())
        );
        {
            let _one_at_a_time = self.lock.lock();
            match &self.file {
                Some(path) => {
                    if let Ok(mut f) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                    {
                        let _ = f.write_all(line.as_bytes());
                    }
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(line.as_bytes());
                    let _ = out.flush();
                }
            }
        }
        if self.syslog {
            let prio = match record.level() {
                log::Level::Error | log::Level::Warn => libc::LOG_WARNING,
                log::Level::Info => libc::LOG_NOTICE,
                log::Level::Debug => libc::LOG_INFO,
                log::Level::Trace => libc::LOG_DEBUG,
            };
            if let Ok(text) = CString::new(msg) {
                // SAFETY: a constant format taking one valid C string.
                unsafe { libc::syslog(prio, c"%s".as_ptr(), text.as_ptr()) };
            }
        }
    }

    fn flush(&self) {}
}

/// `daemonize yes`: forks, the parent exits, the child leaves the terminal's
/// session and points stdin, stdout and stderr at /dev/null. Must run before
/// any thread starts (a fork keeps only the calling thread).
pub fn daemonize() -> Result<(), String> {
    // SAFETY: no other thread exists yet; the child continues with a copy of
    // this one, the parent exits at once without running destructors.
    unsafe {
        match libc::fork() {
            -1 => return Err(format!("fork failed: {}", std::io::Error::last_os_error())),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
    }
    Ok(())
}

/// Writes this process's pid to `path` and remembers it for [`exit`].
/// Failing to write it is logged and not fatal, as in Redis.
pub fn write_pidfile(path: &str) {
    match std::fs::write(path, format!("{}\n", std::process::id())) {
        Ok(()) => {
            let _ = PIDFILE.set(path.to_string());
        }
        Err(e) => log::warn!("Failed to write PID file: {e}"),
    }
}

/// Logs `msg` as a warning and exits with status 1, with `msg` the log's
/// last line, as where Redis stops at start (a dataset that does not
/// load): tools read the reason from the log's tail, and the other threads
/// may still be starting up.
pub fn fatal(msg: &str) -> ! {
    let _ = LAST_WORDS.set(std::thread::current().id());
    log::warn!("{msg}");
    std::process::exit(1);
}

/// The last lines of a shutdown Redis prints, the pid file removed, and
/// exit (the caller has logged `User requested shutdown...`).
pub fn exit(code: i32) -> ! {
    if let Some(path) = PIDFILE.get() {
        log::info!("Removing the pid file.");
        let _ = std::fs::remove_file(path);
    }
    log::warn!("Redis is now ready to exit, bye bye...");
    std::process::exit(code);
}
