//! What an executed write command is recorded as in the AOF and the
//! replication stream, following Redis 7.0.
//!
//! A command whose effect depends on when or against what state it ran
//! (relative expiry times, SPOP's random members, a blocking pop's chosen
//! key, INCRBYFLOAT's float text) is recorded as the deterministic commands
//! that reproduce what it did, so that replaying the log (on Tessera or on
//! Redis 7.0) gives the same data. [`effect`] decides this from the command,
//! its reply and the time it ran; every other write is recorded as received
//! (GEORADIUS ... STORE and GEOSEARCHSTORE among them, as in Redis: their
//! result depends only on the data they read).
//!
//! Where the reply or the arguments are not what the command could have
//! produced, [`effect`] answers [`Effect::AsIs`] rather than guess.
//!
//! The stream commands whose effect depends on more than their reply
//! (XADD's generated ID and approximate trim, XREADGROUP's deliveries as
//! XCLAIMs, XCLAIM's and XAUTOCLAIM's per-entry forms) work their form
//! out as they run and leave it here ([`set_own`]) for [`effect`].

use std::cell::RefCell;

use crate::args::{parse_i64, Args};
use crate::table::migrate_keys;

/// Commands in propagation form, each an argv.
pub type Commands = Vec<Vec<Vec<u8>>>;

thread_local! {
    /// The propagation form a command worked out itself as it ran, for
    /// the stream commands, whose effect depends on state their reply does
    /// not show (a group's counters, a trim's result). Set by the handler
    /// on success, taken by [`effect`].
    static OWN: RefCell<Option<Vec<Vec<Vec<u8>>>>> = const { RefCell::new(None) };
}

/// Records what the command running on this thread is to be propagated
/// as (see [`OWN`]).
pub fn set_own(cmds: Vec<Vec<Vec<u8>>>) {
    OWN.with(|o| *o.borrow_mut() = Some(cmds));
}

/// Forgets any propagation form left by an earlier command (a stream
/// command calls this first, so that a form nobody took is never
/// mistaken for its own).
pub fn clear_own() {
    OWN.with(|o| o.borrow_mut().take());
}

/// Takes the form [`set_own`] recorded, to carry it with a command's
/// reply to the thread that records the effect.
pub fn take_own() -> Option<Vec<Vec<Vec<u8>>>> {
    OWN.with(|o| o.borrow_mut().take())
}

/// Puts back a form taken by [`take_own`] (on the recording thread).
pub fn restore_own(cmds: Option<Vec<Vec<Vec<u8>>>>) {
    OWN.with(|o| *o.borrow_mut() = cmds);
}

/// What an executed write command is recorded as in the AOF / replication stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Record the command exactly as it was received.
    AsIs,
    /// Record nothing: the command changed nothing.
    Nothing,
    /// Record these commands instead (each an argv), in order.
    Rewritten(Vec<Vec<Vec<u8>>>),
}

/// SPOP with a count is recorded as SREMs of at most this many members each.
const SREM_BATCH: usize = 1024;

/// What `name` (lowercase; `argv[0]` is the name as sent, in any case),
/// which ran at unix time `now_ms` and wrote `reply` (RESP2 or RESP3), is
/// recorded as.
///
/// An error reply records nothing. Commands not rewritten by Redis 7.0, and
/// any reply or arguments this cannot make sense of, record the command as is.
pub fn effect(name: &str, argv: &[&[u8]], reply: &[u8], now_ms: u64) -> Effect {
    if matches!(reply.first(), Some(b'-' | b'!')) {
        return Effect::Nothing;
    }
    let Ok(now) = i64::try_from(now_ms) else {
        return Effect::AsIs;
    };
    let decided = match name {
        "expire" => expire(argv, reply, now, true, false),
        "pexpire" => expire(argv, reply, now, false, false),
        "expireat" => expire(argv, reply, now, true, true),
        "pexpireat" => expire(argv, reply, now, false, true),
        "set" => set(argv, reply, now),
        "setex" => setex(argv, reply, now, true),
        "psetex" => setex(argv, reply, now, false),
        "getex" => getex(argv, reply, now),
        "incrbyfloat" => incrbyfloat(argv, reply),
        "hincrbyfloat" => hincrbyfloat(argv, reply),
        "spop" => spop(argv, reply),
        "restore" | "restore-asking" => restore(argv, now),
        "blpop" => blocking_pop(reply, b"LPOP", 2),
        "brpop" => blocking_pop(reply, b"RPOP", 2),
        "bzpopmin" => blocking_pop(reply, b"ZPOPMIN", 3),
        "bzpopmax" => blocking_pop(reply, b"ZPOPMAX", 3),
        "brpoplpush" => blocking_move(argv, reply, b"RPOPLPUSH", 3),
        "blmove" => blocking_move(argv, reply, b"LMOVE", 5),
        "lmpop" => multi_pop(argv, reply, 1, [b"left", b"right"], [b"LPOP", b"RPOP"]),
        "blmpop" => multi_pop(argv, reply, 2, [b"left", b"right"], [b"LPOP", b"RPOP"]),
        "zmpop" => multi_pop(argv, reply, 1, [b"min", b"max"], [b"ZPOPMIN", b"ZPOPMAX"]),
        "bzmpop" => multi_pop(argv, reply, 2, [b"min", b"max"], [b"ZPOPMIN", b"ZPOPMAX"]),
        "migrate" => migrate(argv, reply),
        // GETDEL is a DEL to whoever replays it.
        "getdel" => getdel(argv, reply),
        // The stream commands whose effect is not their text say so
        // themselves (see `streams`).
        "xadd" | "xtrim" => Some(take_own().map_or(Effect::AsIs, Effect::Rewritten)),
        "xreadgroup" | "xclaim" | "xautoclaim" => {
            Some(take_own().map_or(Effect::Nothing, Effect::Rewritten))
        }
        _ => None,
    };
    decided.unwrap_or(Effect::AsIs)
}

/// GETDEL key: a DEL to whoever replays it.
fn getdel(argv: &[&[u8]], reply: &[u8]) -> Option<Effect> {
    match read(reply)? {
        Reply::Null => Some(Effect::Nothing),
        _ => Some(one(&[b"DEL", argv.get(1)?])),
    }
}

/// One rewritten command.
fn one(args: &[&[u8]]) -> Effect {
    Effect::Rewritten(vec![args.iter().map(|a| a.to_vec()).collect()])
}

/// An integer as a command argument.
fn int_arg(n: i64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

/// The unix time in ms that `t` means: seconds or ms, absolute or relative to
/// `now`; `None` on overflow (the command would have refused it).
fn deadline(t: i64, seconds: bool, absolute: bool, now: i64) -> Option<i64> {
    let ms = if seconds { t.checked_mul(1000)? } else { t };
    if absolute {
        Some(ms)
    } else {
        ms.checked_add(now)
    }
}

/// `PEXPIREAT key when`, or `DEL key` when `when` has already passed (the
/// command deleted the key at once).
fn expire_at(key: &[u8], when: i64, now: i64) -> Effect {
    if when <= now {
        one(&[b"DEL", key])
    } else {
        one(&[b"PEXPIREAT", key, &int_arg(when)])
    }
}

/// EX / PX / EXAT / PXAT's deadline: (is it PXAT, the unix time in ms).
fn expiry_option(opt: &[u8], t: i64, now: i64) -> Option<(bool, i64)> {
    let (seconds, absolute) = if opt.eq_ignore_ascii_case(b"ex") {
        (true, false)
    } else if opt.eq_ignore_ascii_case(b"px") {
        (false, false)
    } else if opt.eq_ignore_ascii_case(b"exat") {
        (true, true)
    } else if opt.eq_ignore_ascii_case(b"pxat") {
        (false, true)
    } else {
        return None;
    };
    Some((!seconds && absolute, deadline(t, seconds, absolute, now)?))
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key t [NX|XX|GT|LT]
fn expire(argv: &[&[u8]], reply: &[u8], now: i64, seconds: bool, absolute: bool) -> Option<Effect> {
    match read(reply)? {
        Reply::Int(0) => return Some(Effect::Nothing),
        Reply::Int(1) => {}
        _ => return None,
    }
    let key = argv.get(1)?;
    let when = deadline(parse_i64(argv.get(2)?)?, seconds, absolute, now)?;
    Some(expire_at(key, when, now))
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]: when it
/// wrote with EX/PX/EXAT, `SET key value PXAT ms [NX|XX]` (NX/XX held when it
/// ran, so they hold again on replay; GET's reply does not matter there).
fn set(argv: &[&[u8]], reply: &[u8], now: i64) -> Option<Effect> {
    let (key, value) = (argv.get(1)?, argv.get(2)?);
    let mut condition: Option<&[u8]> = None;
    let mut get = false;
    let mut expiry = None;
    let mut args = Args::at(argv, 3);
    while let Ok(opt) = args.next_bytes() {
        if opt.eq_ignore_ascii_case(b"nx") || opt.eq_ignore_ascii_case(b"xx") {
            condition = Some(opt);
        } else if opt.eq_ignore_ascii_case(b"get") {
            get = true;
        } else if !opt.eq_ignore_ascii_case(b"keepttl") {
            let t = args.next_i64().ok()?;
            expiry = Some(expiry_option(opt, t, now)?);
        }
    }
    let null = matches!(read(reply)?, Reply::Null);
    let written = match condition {
        _ if !get => !null,
        Some(c) if c.eq_ignore_ascii_case(b"nx") => null,
        Some(_) => !null,
        None => true,
    };
    match expiry {
        _ if !written => Some(Effect::Nothing),
        // EX, PX, EXAT, and PXAT spelled any way (Redis writes PXAT).
        Some((_, when)) => {
            let when = int_arg(when);
            let mut cmd: Vec<&[u8]> = vec![b"SET", key, value, b"PXAT", &when];
            cmd.extend(condition);
            Some(one(&cmd))
        }
        _ => Some(Effect::AsIs),
    }
}

/// SETEX key s value / PSETEX key ms value
fn setex(argv: &[&[u8]], reply: &[u8], now: i64, seconds: bool) -> Option<Effect> {
    let [_, key, t, value] = argv else {
        return None;
    };
    if matches!(read(reply)?, Reply::Null) {
        return None;
    }
    let when = deadline(parse_i64(t)?, seconds, false, now)?;
    Some(one(&[b"SET", key, value, b"PXAT", &int_arg(when)]))
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
fn getex(argv: &[&[u8]], reply: &[u8], now: i64) -> Option<Effect> {
    if matches!(read(reply)?, Reply::Null) {
        return Some(Effect::Nothing);
    }
    match argv {
        [_, _] => Some(Effect::Nothing),
        [_, key, opt] if opt.eq_ignore_ascii_case(b"persist") => Some(one(&[b"PERSIST", key])),
        [_, key, opt, t] => {
            let (_, when) = expiry_option(opt, parse_i64(t)?, now)?;
            Some(expire_at(key, when, now))
        }
        _ => None,
    }
}

/// INCRBYFLOAT key inc → `SET key new KEEPTTL`
fn incrbyfloat(argv: &[&[u8]], reply: &[u8]) -> Option<Effect> {
    let Reply::Str(new) = read(reply)? else {
        return None;
    };
    Some(one(&[b"SET", argv.get(1)?, new, b"KEEPTTL"]))
}

/// HINCRBYFLOAT key field inc → `HSET key field new`
fn hincrbyfloat(argv: &[&[u8]], reply: &[u8]) -> Option<Effect> {
    let Reply::Str(new) = read(reply)? else {
        return None;
    };
    Some(one(&[b"HSET", argv.get(1)?, argv.get(2)?, new]))
}

/// SPOP key [count] → `SREM key member...` of the members it popped.
fn spop(argv: &[&[u8]], reply: &[u8]) -> Option<Effect> {
    let key = argv.get(1)?;
    let members: Vec<&[u8]> = match read(reply)? {
        Reply::Null => Vec::new(),
        Reply::Str(m) => vec![m],
        Reply::Array(items) => items.iter().map(Reply::text).collect::<Option<_>>()?,
        Reply::Int(_) => return None,
    };
    if members.is_empty() {
        return Some(Effect::Nothing);
    }
    let cmds = members
        .chunks(SREM_BATCH)
        .map(|batch| {
            let mut cmd = vec![b"SREM".to_vec(), key.to_vec()];
            cmd.extend(batch.iter().map(|m| m.to_vec()));
            cmd
        })
        .collect();
    Some(Effect::Rewritten(cmds))
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]: a
/// relative TTL becomes absolute, with ABSTTL appended.
fn restore(argv: &[&[u8]], now: i64) -> Option<Effect> {
    let ttl = parse_i64(argv.get(2)?)?;
    let mut args = Args::at(argv, 4);
    let mut absttl = false;
    while let Ok(opt) = args.next_bytes() {
        if opt.eq_ignore_ascii_case(b"absttl") {
            absttl = true;
        } else if opt.eq_ignore_ascii_case(b"idletime") || opt.eq_ignore_ascii_case(b"freq") {
            args.next_bytes().ok()?;
        } else if !opt.eq_ignore_ascii_case(b"replace") {
            return None;
        }
    }
    if ttl <= 0 || absttl {
        return Some(Effect::AsIs);
    }
    let when = int_arg(now.checked_add(ttl)?);
    let mut cmd: Vec<&[u8]> = argv.to_vec();
    *cmd.get_mut(2)? = &when;
    cmd.push(b"ABSTTL");
    Some(one(&cmd))
}

/// BLPOP / BRPOP / BZPOPMIN / BZPOPMAX → `pop key`, the key from the reply
/// of `len` elements (`[key, value]` or `[key, member, score]`).
fn blocking_pop(reply: &[u8], pop: &[u8], len: usize) -> Option<Effect> {
    match read(reply)? {
        Reply::Null => Some(Effect::Nothing),
        Reply::Array(items) if items.len() == len => Some(one(&[pop, items.first()?.text()?])),
        _ => None,
    }
}

/// BRPOPLPUSH src dst t → `RPOPLPUSH src dst`; BLMOVE src dst from to t →
/// `LMOVE src dst from to`: the command's first `keep` arguments (timeout dropped).
fn blocking_move(argv: &[&[u8]], reply: &[u8], cmd: &[u8], keep: usize) -> Option<Effect> {
    if argv.len() != keep + 1 {
        return None;
    }
    match read(reply)? {
        Reply::Null => Some(Effect::Nothing),
        Reply::Str(_) => {
            let mut out: Vec<&[u8]> = vec![cmd];
            out.extend(argv.get(1..keep)?);
            Some(one(&out))
        }
        _ => None,
    }
}

/// LMPOP / BLMPOP / ZMPOP / BZMPOP (`numkeys` at `argv[numkeys_at]`, the
/// side after the keys) → `pop key n`, the key and `n` from the reply
/// `[key, [element...]]`.
fn multi_pop(
    argv: &[&[u8]],
    reply: &[u8],
    numkeys_at: usize,
    sides: [&[u8]; 2],
    pops: [&[u8]; 2],
) -> Option<Effect> {
    let numkeys = usize::try_from(parse_i64(argv.get(numkeys_at)?)?).ok()?;
    let side = argv.get(numkeys_at.checked_add(numkeys)?.checked_add(1)?)?;
    let pop = if side.eq_ignore_ascii_case(sides[0]) {
        pops[0]
    } else if side.eq_ignore_ascii_case(sides[1]) {
        pops[1]
    } else {
        return None;
    };
    match read(reply)? {
        Reply::Null => Some(Effect::Nothing),
        Reply::Array(items) => match items.as_slice() {
            [key, Reply::Array(elements)] if elements.is_empty() => {
                key.text()?;
                Some(Effect::Nothing)
            }
            [key, Reply::Array(elements)] => {
                let n = i64::try_from(elements.len()).ok()?;
                Some(one(&[pop, key.text()?, &int_arg(n)]))
            }
            _ => None,
        },
        _ => None,
    }
}

/// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw] [AUTH2 user pw]
/// [KEYS key...]: the moved keys are deleted here, recorded as `DEL key...`;
/// with COPY, or when no key existed (`+NOKEY`), nothing changed here.
fn migrate(argv: &[&[u8]], reply: &[u8]) -> Option<Effect> {
    match read(reply)? {
        Reply::Str(b"NOKEY") => return Some(Effect::Nothing),
        Reply::Str(b"OK") => {}
        _ => return None,
    }
    let mut j = 6;
    while let Some(opt) = argv.get(j) {
        if opt.eq_ignore_ascii_case(b"copy") {
            return Some(Effect::Nothing);
        } else if opt.eq_ignore_ascii_case(b"auth") {
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"auth2") {
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"keys") {
            break;
        } else {
            j += 1;
        }
    }
    let keys = migrate_keys(argv);
    if keys.is_empty() {
        return None;
    }
    let mut cmd: Vec<&[u8]> = vec![b"DEL"];
    for i in keys {
        cmd.push(argv.get(i)?);
    }
    Some(one(&cmd))
}

// ---- A reader for the replies above ----------------------------------------

/// One reply value: as much of RESP2/RESP3 as the rewritten commands reply.
#[derive(Debug, PartialEq)]
enum Reply<'a> {
    /// `$-1`, `*-1` or `_`.
    Null,
    /// A bulk string, a simple string or a RESP3 double (`,`), as text.
    Str(&'a [u8]),
    /// `:n`
    Int(i64),
    /// An array (`*`) or a RESP3 set (`~`).
    Array(Vec<Reply<'a>>),
}

impl<'a> Reply<'a> {
    /// The text of a string value.
    fn text(&self) -> Option<&'a [u8]> {
        match self {
            Reply::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Replies nest no deeper than this (ZMPOP's `[key, [[member, score]]]` is 3).
const MAX_DEPTH: usize = 4;

/// The one value `input` holds; `None` if it holds anything else (a partial
/// or malformed value, trailing bytes, an unsupported type).
fn read(input: &[u8]) -> Option<Reply<'_>> {
    let (value, end) = value_at(input, 0, 0)?;
    (end == input.len()).then_some(value)
}

/// The line starting at `start` without its CRLF, and the offset after it.
fn line(input: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rest = input.get(start..)?;
    let cr = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((rest.get(..cr)?, start + cr + 2))
}

/// A non-negative length in a header line.
fn length(text: &[u8]) -> Option<usize> {
    usize::try_from(parse_i64(text)?).ok()
}

/// The value starting at `pos`, and the offset after it.
fn value_at(input: &[u8], pos: usize, depth: usize) -> Option<(Reply<'_>, usize)> {
    let kind = *input.get(pos)?;
    let (text, next) = line(input, pos + 1)?;
    match kind {
        b'_' if text.is_empty() => Some((Reply::Null, next)),
        b'$' | b'*' if text == b"-1" => Some((Reply::Null, next)),
        b'+' | b',' => Some((Reply::Str(text), next)),
        b':' => Some((Reply::Int(parse_i64(text)?), next)),
        b'$' => {
            let end = next.checked_add(length(text)?)?;
            let body = input.get(next..end)?;
            (input.get(end..end.checked_add(2)?)? == b"\r\n").then_some((Reply::Str(body), end + 2))
        }
        b'*' | b'~' if depth < MAX_DEPTH => {
            let n = length(text)?;
            // Each element takes at least 3 bytes: never reserve more than can arrive.
            let mut items = Vec::with_capacity(n.min(input.len().saturating_sub(next) / 3));
            let mut at = next;
            for _ in 0..n {
                let (item, after) = value_at(input, at, depth + 1)?;
                items.push(item);
                at = after;
            }
            Some((Reply::Array(items), at))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    /// `effect` of a command given as words, its name taken from the first.
    fn run(cmd: &str, reply: &str) -> Effect {
        run_at(cmd, reply, NOW)
    }

    fn run_at(cmd: &str, reply: &str, now: u64) -> Effect {
        let argv: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
        let name = cmd.split(' ').next().unwrap_or("").to_ascii_lowercase();
        effect(&name, &argv, reply.as_bytes(), now)
    }

    /// The expected rewrite, commands separated by `|`.
    fn rw(cmds: &str) -> Effect {
        Effect::Rewritten(
            cmds.split(" | ")
                .map(|c| c.split(' ').map(|a| a.as_bytes().to_vec()).collect())
                .collect(),
        )
    }

    #[test]
    fn errors_record_nothing() {
        assert_eq!(
            run("SET k v EX 10", "-ERR invalid expire time\r\n"),
            Effect::Nothing
        );
        assert_eq!(run("EXPIRE k 10", "-WRONGTYPE x\r\n"), Effect::Nothing);
        assert_eq!(run("LPUSH k v", "-OOM no\r\n"), Effect::Nothing);
        assert_eq!(run("SPOP k", "!5\r\nERR x\r\n"), Effect::Nothing);
    }

    #[test]
    fn other_commands_as_is() {
        assert_eq!(run("LPUSH k v", ":1\r\n"), Effect::AsIs);
        assert_eq!(run("DEL k", ":1\r\n"), Effect::AsIs);
        assert_eq!(
            run("ZPOPMIN k", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
            Effect::AsIs
        );
        // Redis 7.0 records the geo searches that stored as it got them:
        // replayed on the same data, they store the same result.
        assert_eq!(
            run("GEORADIUS k 15 37 200 km STORE d", ":2\r\n"),
            Effect::AsIs
        );
        assert_eq!(
            run(
                "GEOSEARCHSTORE d k FROMMEMBER m BYRADIUS 1 km STOREDIST",
                ":1\r\n"
            ),
            Effect::AsIs
        );
    }

    #[test]
    fn expire_family() {
        assert_eq!(run("EXPIRE k 10", ":0\r\n"), Effect::Nothing);
        assert_eq!(run("EXPIRE k 10", ":1\r\n"), rw("PEXPIREAT k 1010000"));
        assert_eq!(run("expire k 10 nx", ":1\r\n"), rw("PEXPIREAT k 1010000"));
        assert_eq!(run("PExpire k 500 GT", ":1\r\n"), rw("PEXPIREAT k 1000500"));
        assert_eq!(run("EXPIREAT k 2000", ":1\r\n"), rw("PEXPIREAT k 2000000"));
        assert_eq!(
            run("PEXPIREAT k 2000000 xx", ":1\r\n"),
            rw("PEXPIREAT k 2000000")
        );
        assert_eq!(run("PEXPIREAT k 2000000", ":0\r\n"), Effect::Nothing);
    }

    #[test]
    fn expire_in_the_past_deletes() {
        assert_eq!(run("EXPIRE k -1", ":1\r\n"), rw("DEL k"));
        assert_eq!(run("PEXPIRE k 0", ":1\r\n"), rw("DEL k"));
        assert_eq!(run("EXPIREAT k 1000", ":1\r\n"), rw("DEL k"));
        assert_eq!(run("pexpireat k 1000000", ":1\r\n"), rw("DEL k"));
        assert_eq!(
            run("PEXPIREAT k 1000001", ":1\r\n"),
            rw("PEXPIREAT k 1000001")
        );
    }

    #[test]
    fn expire_unsure_is_as_is() {
        assert_eq!(run("EXPIRE k 9223372036854775807", ":1\r\n"), Effect::AsIs);
        assert_eq!(run("EXPIRE k ten", ":1\r\n"), Effect::AsIs);
        assert_eq!(run("EXPIRE k", ":1\r\n"), Effect::AsIs);
        assert_eq!(run("EXPIRE k 10", "+OK\r\n"), Effect::AsIs);
        assert_eq!(run("EXPIRE k 10", ":1\r\n:1\r\n"), Effect::AsIs);
    }

    #[test]
    fn set_without_get() {
        assert_eq!(run("SET k v", "+OK\r\n"), Effect::AsIs);
        assert_eq!(run("SET k v NX", "$-1\r\n"), Effect::Nothing);
        assert_eq!(run("SET k v xx", "_\r\n"), Effect::Nothing);
        assert_eq!(run("SET k v NX EX 10", "*-1\r\n"), Effect::Nothing);
        assert_eq!(run("SET k v EX 10", "+OK\r\n"), rw("SET k v PXAT 1010000"));
        assert_eq!(run("set k v px 10", "+OK\r\n"), rw("SET k v PXAT 1000010"));
        assert_eq!(run("SET k v ExAt 5", "+OK\r\n"), rw("SET k v PXAT 5000"));
        assert_eq!(run("SET k v pxat 5", "+OK\r\n"), rw("SET k v PXAT 5"));
        assert_eq!(run("GETDEL k", "$1\r\nv\r\n"), rw("DEL k"));
        assert_eq!(run("GETDEL k", "$-1\r\n"), Effect::Nothing);
        assert_eq!(run("SET k v KEEPTTL", "+OK\r\n"), Effect::AsIs);
        assert_eq!(
            run("SET k v nx EX 10", "+OK\r\n"),
            rw("SET k v PXAT 1010000 nx")
        );
        assert_eq!(
            run("SET k v EX 10 XX", "+OK\r\n"),
            rw("SET k v PXAT 1010000 XX")
        );
    }

    #[test]
    fn set_with_get() {
        // GET alone always writes.
        assert_eq!(
            run("SET k v GET EX 1", "$-1\r\n"),
            rw("SET k v PXAT 1001000")
        );
        assert_eq!(
            run("SET k v get px 1", "$1\r\no\r\n"),
            rw("SET k v PXAT 1000001")
        );
        assert_eq!(run("SET k v GET", "$1\r\no\r\n"), Effect::AsIs);
        // NX GET wrote only when the key was absent (null reply).
        assert_eq!(run("SET k v NX GET EX 1", "$1\r\no\r\n"), Effect::Nothing);
        assert_eq!(
            run("SET k v nx get EX 1", "_\r\n"),
            rw("SET k v PXAT 1001000 nx")
        );
        assert_eq!(run("SET k v NX GET", "$-1\r\n"), Effect::AsIs);
        // XX GET wrote only when the key existed.
        assert_eq!(run("SET k v XX GET EX 1", "$-1\r\n"), Effect::Nothing);
        assert_eq!(
            run("SET k v GET XX EX 1", "$0\r\n\r\n"),
            rw("SET k v PXAT 1001000 XX")
        );
    }

    #[test]
    fn set_unsure_is_as_is() {
        assert_eq!(run("SET k v EX", "+OK\r\n"), Effect::AsIs);
        assert_eq!(run("SET k v EX x", "+OK\r\n"), Effect::AsIs);
        assert_eq!(run("SET k v BOGUS", "+OK\r\n"), Effect::AsIs);
        assert_eq!(run("SET k v EX 10", "+OK"), Effect::AsIs);
        assert_eq!(run("SET k", "+OK\r\n"), Effect::AsIs);
    }

    #[test]
    fn setex_psetex() {
        assert_eq!(run("SETEX k 10 v", "+OK\r\n"), rw("SET k v PXAT 1010000"));
        assert_eq!(run("psetex k 10 v", "+OK\r\n"), rw("SET k v PXAT 1000010"));
        assert_eq!(run("SETEX k x v", "+OK\r\n"), Effect::AsIs);
        assert_eq!(run("SETEX k 10", "+OK\r\n"), Effect::AsIs);
    }

    #[test]
    fn getex() {
        assert_eq!(run("GETEX k EX 10", "$-1\r\n"), Effect::Nothing);
        assert_eq!(run("GETEX k EX 10", "_\r\n"), Effect::Nothing);
        assert_eq!(run("GETEX k", "$1\r\nv\r\n"), Effect::Nothing);
        assert_eq!(
            run("GETEX k EX 10", "$1\r\nv\r\n"),
            rw("PEXPIREAT k 1010000")
        );
        assert_eq!(
            run("getex k px 10", "$1\r\nv\r\n"),
            rw("PEXPIREAT k 1000010")
        );
        assert_eq!(
            run("GETEX k EXAT 2000", "$1\r\nv\r\n"),
            rw("PEXPIREAT k 2000000")
        );
        assert_eq!(
            run("GETEX k pxat 3000000", "$1\r\nv\r\n"),
            rw("PEXPIREAT k 3000000")
        );
        assert_eq!(run("GETEX k PXAT 5", "$1\r\nv\r\n"), rw("DEL k"));
        assert_eq!(run("GETEX k EXAT 1000", "$1\r\nv\r\n"), rw("DEL k"));
        assert_eq!(run("GETEX k Persist", "$1\r\nv\r\n"), rw("PERSIST k"));
        assert_eq!(run("GETEX k EX", "$1\r\nv\r\n"), Effect::AsIs);
        assert_eq!(run("GETEX k KEEP 1", "$1\r\nv\r\n"), Effect::AsIs);
    }

    #[test]
    fn incrbyfloat() {
        assert_eq!(
            run("INCRBYFLOAT k 0.5", "$4\r\n10.5\r\n"),
            rw("SET k 10.5 KEEPTTL")
        );
        assert_eq!(
            run("incrbyfloat k 0.5", ",10.5\r\n"),
            rw("SET k 10.5 KEEPTTL")
        );
        assert_eq!(run("HINCRBYFLOAT h f 1", "$1\r\n3\r\n"), rw("HSET h f 3"));
        assert_eq!(
            run("hincrbyfloat h f 1e3", ",1000\r\n"),
            rw("HSET h f 1000")
        );
        assert_eq!(run("INCRBYFLOAT k 0.5", ":1\r\n"), Effect::AsIs);
        assert_eq!(run("HINCRBYFLOAT h", "$1\r\n3\r\n"), Effect::AsIs);
    }

    #[test]
    fn spop() {
        assert_eq!(run("SPOP k", "$-1\r\n"), Effect::Nothing);
        assert_eq!(run("SPOP k", "_\r\n"), Effect::Nothing);
        assert_eq!(run("SPOP k 3", "*0\r\n"), Effect::Nothing);
        assert_eq!(run("SPOP k 3", "~0\r\n"), Effect::Nothing);
        assert_eq!(run("spop k", "$1\r\na\r\n"), rw("SREM k a"));
        assert_eq!(
            run("SPOP k 2", "*2\r\n$1\r\na\r\n$2\r\nbc\r\n"),
            rw("SREM k a bc")
        );
        assert_eq!(
            run("SPOP k 2", "~2\r\n$1\r\na\r\n$2\r\nbc\r\n"),
            rw("SREM k a bc")
        );
        assert_eq!(run("SPOP k 2", "*2\r\n$1\r\na\r\n:2\r\n"), Effect::AsIs);
    }

    #[test]
    fn spop_batches_large_pops() {
        let n = SREM_BATCH * 2 + 5;
        let mut reply = format!("*{n}\r\n");
        for i in 0..n {
            let m = i.to_string();
            reply.push_str(&format!("${}\r\n{m}\r\n", m.len()));
        }
        let Effect::Rewritten(cmds) = run("SPOP k 5000", &reply) else {
            panic!("expected SREMs");
        };
        let lens: Vec<usize> = cmds.iter().map(Vec::len).collect();
        assert_eq!(lens, [SREM_BATCH + 2, SREM_BATCH + 2, 7]);
        assert!(cmds.iter().all(|c| c[0] == b"SREM" && c[1] == b"k"));
        assert_eq!(cmds[2][6], b"2052");
    }

    #[test]
    fn restore() {
        assert_eq!(run("RESTORE k 0 p", "+OK\r\n"), Effect::AsIs);
        assert_eq!(
            run("RESTORE k 500 p", "+OK\r\n"),
            rw("RESTORE k 1000500 p ABSTTL")
        );
        assert_eq!(
            run("restore k 500 p replace IDLETIME 5 FREQ 3", "+OK\r\n"),
            rw("restore k 1000500 p replace IDLETIME 5 FREQ 3 ABSTTL")
        );
        assert_eq!(run("RESTORE k 500 p absttl", "+OK\r\n"), Effect::AsIs);
        assert_eq!(
            run("RESTORE k 500 p REPLACE ABSTTL", "+OK\r\n"),
            Effect::AsIs
        );
        assert_eq!(run("RESTORE k 500 p IDLETIME", "+OK\r\n"), Effect::AsIs);
        assert_eq!(run("RESTORE k x p", "+OK\r\n"), Effect::AsIs);
    }

    #[test]
    fn blocking_list_pops() {
        assert_eq!(run("BLPOP a b 0", "*-1\r\n"), Effect::Nothing);
        assert_eq!(run("BLPOP a b 0", "_\r\n"), Effect::Nothing);
        assert_eq!(
            run("blpop a b 0", "*2\r\n$1\r\nb\r\n$1\r\nx\r\n"),
            rw("LPOP b")
        );
        assert_eq!(
            run("BRPOP a b 1.5", "*2\r\n$1\r\na\r\n$1\r\nx\r\n"),
            rw("RPOP a")
        );
        assert_eq!(run("BLPOP a 0", "$1\r\na\r\n"), Effect::AsIs);
        assert_eq!(run("BRPOPLPUSH s d 0", "$-1\r\n"), Effect::Nothing);
        assert_eq!(run("BRPOPLPUSH s d 0", "_\r\n"), Effect::Nothing);
        assert_eq!(run("brpoplpush s d 0", "$1\r\nx\r\n"), rw("RPOPLPUSH s d"));
        assert_eq!(
            run("BLMOVE s d left RIGHT 0", "$1\r\nx\r\n"),
            rw("LMOVE s d left RIGHT")
        );
        assert_eq!(run("BLMOVE s d LEFT RIGHT 0", "_\r\n"), Effect::Nothing);
        assert_eq!(run("BLMOVE s d LEFT 0", "$1\r\nx\r\n"), Effect::AsIs);
    }

    #[test]
    fn blocking_zset_pops() {
        assert_eq!(run("BZPOPMIN a b 0", "*-1\r\n"), Effect::Nothing);
        assert_eq!(
            run("BZPOPMIN a b 0", "*3\r\n$1\r\nb\r\n$1\r\nm\r\n$1\r\n1\r\n"),
            rw("ZPOPMIN b")
        );
        assert_eq!(
            run("bzpopmax a 0", "*3\r\n$1\r\na\r\n$1\r\nm\r\n,1.5\r\n"),
            rw("ZPOPMAX a")
        );
    }

    #[test]
    fn list_multi_pops() {
        let reply = "*2\r\n$1\r\nb\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n";
        assert_eq!(run("BLMPOP 0 2 a b right COUNT 5", reply), rw("RPOP b 2"));
        assert_eq!(run("blmpop 0 1 b LEFT", reply), rw("LPOP b 2"));
        assert_eq!(run("LMPOP 2 a b Left count 3", reply), rw("LPOP b 2"));
        assert_eq!(run("LMPOP 1 b RIGHT", reply), rw("RPOP b 2"));
        assert_eq!(run("LMPOP 2 a b LEFT", "*-1\r\n"), Effect::Nothing);
        assert_eq!(run("BLMPOP 0 2 a b LEFT", "_\r\n"), Effect::Nothing);
        assert_eq!(run("LMPOP 3 a b LEFT", reply), Effect::AsIs);
        assert_eq!(run("LMPOP -1 a b LEFT", reply), Effect::AsIs);
        assert_eq!(run("LMPOP 1 a UP", reply), Effect::AsIs);
    }

    #[test]
    fn zset_multi_pops() {
        let resp2 =
            "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nm\r\n$1\r\n1\r\n*2\r\n$1\r\nn\r\n$1\r\n2\r\n";
        let resp3 = "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nm\r\n,1\r\n";
        assert_eq!(run("ZMPOP 1 z MIN COUNT 2", resp2), rw("ZPOPMIN z 2"));
        assert_eq!(run("zmpop 2 y z max", resp3), rw("ZPOPMAX z 1"));
        assert_eq!(run("BZMPOP 0 2 y z MAX COUNT 9", resp2), rw("ZPOPMAX z 2"));
        assert_eq!(run("bzmpop 1.5 1 z min", resp3), rw("ZPOPMIN z 1"));
        assert_eq!(run("BZMPOP 0 1 z MIN", "*-1\r\n"), Effect::Nothing);
        assert_eq!(run("ZMPOP 1 z MIN", "_\r\n"), Effect::Nothing);
        assert_eq!(run("ZMPOP 1 z LEFT", resp2), Effect::AsIs);
    }

    #[test]
    fn migrate() {
        assert_eq!(run("MIGRATE h 1 k 0 100", "+OK\r\n"), rw("DEL k"));
        assert_eq!(run("MIGRATE h 1 k 0 100", "+NOKEY\r\n"), Effect::Nothing);
        assert_eq!(run("MIGRATE h 1 k 0 100 copy", "+OK\r\n"), Effect::Nothing);
        assert_eq!(run("MIGRATE h 1 k 0 100 AUTH copy", "+OK\r\n"), rw("DEL k"));
        assert_eq!(
            run(
                "MIGRATE h 1  0 100 REPLACE AUTH2 u copy KEYS a b",
                "+OK\r\n"
            ),
            rw("DEL a b")
        );
        assert_eq!(
            run("MIGRATE h 1  0 100 COPY KEYS a b", "+OK\r\n"),
            Effect::Nothing
        );
    }

    #[test]
    fn huge_counts_in_replies_do_not_allocate_or_panic() {
        assert_eq!(run("SPOP k 3", "*9223372036854775807\r\n"), Effect::AsIs);
        assert_eq!(
            run("SPOP k", "$9223372036854775807\r\nab\r\n"),
            Effect::AsIs
        );
        assert_eq!(run("SPOP k", "$18446744073709551615\r\n"), Effect::AsIs);
        let deep = "*1\r\n".repeat(100_000);
        assert_eq!(run("SPOP k 3", &deep), Effect::AsIs);
    }

    #[test]
    fn malformed_replies_never_panic() {
        let cases = [
            ("SET k v EX 10", "$1\r\nv\r\n"),
            ("EXPIRE k 10", ":1\r\n"),
            ("GETEX k EX 10", "$1\r\nv\r\n"),
            ("INCRBYFLOAT k 1", "$3\r\n1.5\r\n"),
            ("SPOP k 2", "~2\r\n$1\r\na\r\n$2\r\nbc\r\n"),
            ("BLPOP a 0", "*2\r\n$1\r\na\r\n$1\r\nx\r\n"),
            ("BZPOPMIN a 0", "*3\r\n$1\r\na\r\n$1\r\nm\r\n,1.5\r\n"),
            ("BLMOVE s d LEFT LEFT 0", "$1\r\nx\r\n"),
            (
                "ZMPOP 1 z MIN",
                "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nm\r\n,1\r\n",
            ),
            ("MIGRATE h 1 k 0 100", "+OK\r\n"),
        ];
        for (cmd, reply) in cases {
            let whole = run(cmd, reply);
            assert!(matches!(whole, Effect::Rewritten(_)), "{cmd}: {whole:?}");
            for cut in 1..reply.len() {
                // A partial reply is never read as one: SET/GETEX/SPOP/... fall back.
                let part = run(cmd, &reply[..cut]);
                assert!(part == Effect::AsIs, "{cmd} cut at {cut}: {part:?}");
            }
            let mut bytes = reply.as_bytes().to_vec();
            for i in 0..bytes.len() {
                let saved = bytes[i];
                bytes[i] = b'\n';
                let argv: Vec<&[u8]> = cmd.split(' ').map(str::as_bytes).collect();
                let name = cmd.split(' ').next().unwrap_or("").to_ascii_lowercase();
                let _ = effect(&name, &argv, &bytes, NOW);
                bytes[i] = saved;
            }
        }
    }

    #[test]
    fn now_beyond_i64_is_as_is() {
        assert_eq!(run_at("EXPIRE k 10", ":1\r\n", u64::MAX), Effect::AsIs);
    }

    #[test]
    fn reader() {
        assert_eq!(read(b"$-1\r\n"), Some(Reply::Null));
        assert_eq!(read(b"*-1\r\n"), Some(Reply::Null));
        assert_eq!(read(b"_\r\n"), Some(Reply::Null));
        assert_eq!(read(b"$4\r\na\r\nb\r\n"), Some(Reply::Str(b"a\r\nb")));
        assert_eq!(read(b"+OK\r\n"), Some(Reply::Str(b"OK")));
        assert_eq!(read(b",-1.5\r\n"), Some(Reply::Str(b"-1.5")));
        assert_eq!(read(b":-7\r\n"), Some(Reply::Int(-7)));
        assert_eq!(
            read(b"*2\r\n:1\r\n*0\r\n"),
            Some(Reply::Array(vec![Reply::Int(1), Reply::Array(vec![])]))
        );
        assert_eq!(read(b"$2\r\nab"), None);
        assert_eq!(read(b"$2\r\nabc\r\n"), None);
        assert_eq!(read(b"$-2\r\n"), None);
        assert_eq!(read(b"_x\r\n"), None);
        assert_eq!(read(b"%1\r\n:1\r\n:2\r\n"), None);
        assert_eq!(read(b">1\r\n:1\r\n"), None);
        assert_eq!(read(b""), None);
    }
}
