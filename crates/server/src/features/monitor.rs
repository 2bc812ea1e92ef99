//! MONITOR: every command any client runs, as one line per command, sent to
//! the connections that asked for it.
//!
//! A line is formatted once, on the thread that ran the command, and handed
//! to each thread that serves a monitor: directly to this thread's, by a
//! job without answer to the others'. A thread keeps its monitors' pending
//! bytes in a [`Sink`] per connection; the connection's task writes them out
//! between reads (see `conn/input.rs`). With no monitor anywhere, a command pays
//! one relaxed load ([`feed`]).
//!
//! What is shown follows Redis: commands as they are called, not those
//! refused before running (unknown, wrong arity, NOAUTH, OOM) nor those
//! queued by MULTI, which appear when EXEC runs them, before the `exec`
//! line; administrative commands (CONFIG, CLIENT, DEBUG, SHUTDOWN, MONITOR)
//! are left out; passwords given to AUTH, HELLO and MIGRATE are shown as
//! `(redacted)`. The format is Redis's:
//! `+<unix seconds>.<microseconds> [<db> <ip:port>] "arg" "arg"...`, each
//! argument quoted and escaped as `sdscatrepr` does.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use commands::table::{flags, CommandSpec};

use crate::client::{Client, Sink};
use crate::engine::worker::Worker;

/// Where monitors live: how many on each thread, and in all.
pub struct Registry {
    total: AtomicUsize,
    per_thread: Box<[AtomicUsize]>,
}

impl Registry {
    /// Whether any connection is a monitor now.
    pub fn any(&self) -> bool {
        self.total.load(Ordering::Relaxed) > 0
    }

    pub fn new(threads: usize) -> Registry {
        Registry {
            total: AtomicUsize::new(0),
            per_thread: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
        }
    }
}

/// This thread's MONITOR connections (registered in its worker's `Locals`).
#[derive(Default)]
pub struct Local(RefCell<Vec<Rc<Sink>>>);

/// The most bytes a monitor may leave unread: past this its connection is
/// closed, as Redis closes a client over its output buffer limit, so a
/// monitor that stops reading cannot use up the server's memory.
pub const PENDING_MAX: usize = 64 << 20;

/// `MONITOR`
pub fn monitor(w: &Worker, client: &mut Client, out: &mut Vec<u8>) {
    if client.monitor.is_none() {
        let sink = client.pubsub.as_ref().map(|s| Rc::clone(s.sink()));
        client.monitor = Some(start(w, sink));
    }
    resp::encode::ok(out);
}

/// Makes a connection of this thread a monitor; a subscriber's lines go
/// to the sink its messages use (`sink`), so that they keep their order.
pub fn start(w: &Worker, sink: Option<Rc<Sink>>) -> Rc<Sink> {
    let sink = sink.unwrap_or_else(|| Rc::new(Sink::new(PENDING_MAX, "MONITOR")));
    w.local::<Local>().0.borrow_mut().push(Rc::clone(&sink));
    let reg = w.shared.global::<Registry>();
    reg.per_thread[w.id].fetch_add(1, Ordering::Relaxed);
    reg.total.fetch_add(1, Ordering::Relaxed);
    sink
}

/// Stops feeding `sink` (its connection closed or sent RESET).
pub fn stop(w: &Worker, sink: &Rc<Sink>) {
    let mut list = w.local::<Local>().0.borrow_mut();
    if let Some(i) = list.iter().position(|s| Rc::ptr_eq(s, sink)) {
        list.swap_remove(i);
        let reg = w.shared.global::<Registry>();
        reg.per_thread[w.id].fetch_sub(1, Ordering::Relaxed);
        reg.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Shows a command `client` runs to every monitor, if there is any.
#[inline]
pub fn feed(w: &Worker, spec: &CommandSpec, client: &Client, argv: &[&[u8]]) {
    if w.shared.global::<Registry>().total.load(Ordering::Relaxed) == 0 || spec.has(flags::ADMIN) {
        return;
    }
    send(w, line(client.db, &client.info.borrow().addr, argv));
}

/// [`feed`] for the commands of a transaction EXEC runs (none when it
/// runs none), then the EXEC itself (`name`, as sent).
pub fn feed_exec(w: &Worker, client: &Client, name: &[u8], cmds: &[Vec<Vec<u8>>]) {
    if w.shared.global::<Registry>().total.load(Ordering::Relaxed) == 0 {
        return;
    }
    let (db, info) = (client.db, client.info.borrow());
    let addr = info.addr.as_str();
    let mut lines = Vec::new();
    for c in cmds {
        let shown = c
            .first()
            .and_then(|name| w.shared.table.lookup(name))
            .is_some_and(|spec| !spec.has(flags::ADMIN));
        if shown {
            let argv: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            lines.extend_from_slice(&line(db, addr, &argv));
        }
    }
    lines.extend_from_slice(&line(db, addr, &[name]));
    send(w, lines);
}

/// The commands a script ran (in database `db` when it started), as
/// Redis shows them: `[<db> lua]` in place of the client's address.
pub fn feed_script(w: &Worker, db: usize, cmds: &[Vec<Vec<u8>>]) {
    if w.shared.global::<Registry>().total.load(Ordering::Relaxed) == 0 || cmds.is_empty() {
        return;
    }
    let mut lines = Vec::new();
    for c in cmds {
        let argv: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
        lines.extend_from_slice(&line(db, "lua", &argv));
    }
    send(w, lines);
}

fn send(w: &Worker, lines: Vec<u8>) {
    let reg = w.shared.global::<Registry>();
    for (t, n) in reg.per_thread.iter().enumerate() {
        if n.load(Ordering::Relaxed) == 0 {
            continue;
        }
        if t == w.id {
            deliver(w, &lines);
        } else {
            let lines = lines.clone();
            w.router.post(
                t,
                0,
                Box::new(move |w: &Worker| {
                    deliver(w, &lines);
                    Box::new(()) as Box<dyn std::any::Any + Send>
                }),
            );
        }
    }
}

fn deliver(w: &Worker, lines: &[u8]) {
    for s in w.local::<Local>().0.borrow().iter() {
        s.push(lines);
    }
}

/// One line as Redis writes it, `\r\n` included.
fn line(db: usize, addr: &str, argv: &[&[u8]]) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        db,
        addr
    )
    .into_bytes();
    let hidden = redacted(argv);
    for (i, a) in argv.iter().enumerate() {
        out.push(b' ');
        if hidden.contains(&i) {
            out.extend_from_slice(b"\"(redacted)\"");
        } else {
            repr(&mut out, a);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Which arguments are secrets, shown as `(redacted)` by MONITOR and
/// SLOWLOG as in Redis: AUTH's, HELLO's after AUTH, MIGRATE's after AUTH
/// or AUTH2, every argument of ACL SETUSER after the subcommand, and the
/// values CONFIG SET gives to `masterauth`, `masteruser` and `requirepass`.
pub fn redacted(argv: &[&[u8]]) -> Vec<usize> {
    let Some(name) = argv.first() else {
        return Vec::new();
    };
    let after = |word: &[u8], n: usize| -> Vec<usize> {
        match argv.iter().position(|a| a.eq_ignore_ascii_case(word)) {
            Some(at) => (at + 1..(at + 1 + n).min(argv.len())).collect(),
            None => Vec::new(),
        }
    };
    let sub = |word: &[u8]| argv.get(1).is_some_and(|s| s.eq_ignore_ascii_case(word));
    if name.eq_ignore_ascii_case(b"auth") {
        (1..argv.len()).collect()
    } else if name.eq_ignore_ascii_case(b"hello") {
        after(b"auth", 2)
    } else if name.eq_ignore_ascii_case(b"migrate") {
        let mut v = after(b"auth", 1);
        v.extend(after(b"auth2", 2));
        v
    } else if name.eq_ignore_ascii_case(b"acl") && sub(b"setuser") {
        (2..argv.len()).collect()
    } else if name.eq_ignore_ascii_case(b"config") && sub(b"set") {
        (2..argv.len())
            .step_by(2)
            .filter(|&i| {
                [&b"masterauth"[..], b"masteruser", b"requirepass"]
                    .iter()
                    .any(|s| argv[i].eq_ignore_ascii_case(s))
            })
            .filter(|&i| i + 1 < argv.len())
            .map(|i| i + 1)
            .collect()
    } else {
        Vec::new()
    }
}

/// `s` in double quotes with Redis's escapes: `\\`, `\"`, `\n`, `\r`, `\t`,
/// `\a`, `\b`, and `\xhh` for any other unprintable byte.
fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_and_escaped_as_redis_does() {
        let mut out = Vec::new();
        repr(&mut out, b"a\"b\\c\n\r\t\x07\x08\x00\xff ~");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\xff ~\"");
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(redacted(&[b"AUTH", b"user", b"pw"]), vec![1, 2]);
        assert_eq!(redacted(&[b"hello", b"2", b"AUTH", b"u", b"p"]), vec![3, 4]);
        let m: [&[u8]; 9] = [
            b"migrate", b"h", b"1", b"k", b"0", b"5", b"AUTH2", b"u", b"p",
        ];
        assert_eq!(redacted(&m), vec![7, 8]);
        assert!(redacted(&[b"get", b"auth"]).is_empty());
        assert_eq!(redacted(&[b"acl", b"SETUSER", b"u", b"on"]), vec![2, 3]);
        assert_eq!(
            redacted(&[b"config", b"set", b"maxmemory", b"1", b"masterauth", b"x"]),
            vec![5]
        );
        let l = line(3, "1.2.3.4:5", &[b"set", b"k", b"v"]);
        let s = String::from_utf8_lossy(&l);
        assert!(
            s.starts_with('+') && s.ends_with(" [3 1.2.3.4:5] \"set\" \"k\" \"v\"\r\n"),
            "{s}"
        );
    }
}
