//! Redis 7.0's append-only file: the multi-part layout's manifest and the
//! command stream, as bytes. No files are opened here; the caller does the
//! I/O, fsyncs and renames.
//!
//! # The layout
//!
//! From 7.0 Redis keeps its AOF in a directory, `dir/<appenddirname>`
//! (`appendonlydir` by default), named after `appendfilename`
//! (`appendonly.aof` by default):
//!
//! - `appendonly.aof.<seq>.base.rdb`: the base, a snapshot written by the
//!   last rewrite (`appendonly.aof.<seq>.base.aof` with
//!   `aof-use-rdb-preamble no`: the snapshot as commands). At most one.
//! - `appendonly.aof.<seq>.incr.aof`: the commands written since, in
//!   order of `seq`.
//! - `appendonly.aof.manifest` ([`manifest_name`]): which files make the
//!   AOF ([`Manifest`]). History files are ones a rewrite replaced; they
//!   are deleted, then dropped from the manifest, and never loaded.
//!
//! Redis replaces the manifest by writing `temp-appendonly.aof.manifest`,
//! fsyncing it and renaming it over the old one. A rewrite names its base
//! with [`Manifest::next_base_name`] and, once the base is written,
//! updates the manifest with [`Manifest::rewrite_done`]; a rewrite also
//! opens a new incr file ([`Manifest::next_incr_name`]) when it starts, so
//! that the incr files before it are what the new base replaces.
//!
//! Upgrading from before 7.0: a single `dir/appendonly.aof` and no
//! directory. Redis 7.0 creates the directory, moves the file into it
//! unrenamed and writes the manifest `file appendonly.aof seq 1 type b`.
//! Such a file is a whole AOF in itself, possibly with an RDB preamble.
//!
//! # The command stream
//!
//! Every `.aof` file (incr, base in AOF form, or a pre-7.0 file) is a run
//! of commands, each a RESP array of bulk strings exactly as a client
//! sends it (`*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n`; [`encode_command`]).
//! Lines that start with `#` are annotations and skipped: Redis 7.0 writes
//! `#TS:<unix seconds>\r\n` with `aof-timestamp-enabled yes`
//! ([`encode_timestamp`]). A command applies to the database of the last
//! `SELECT` before it in the same file (database 0 before any); Redis
//! writes a `SELECT` ([`encode_select`]) before the first command it
//! appends after starting up or starting a rewrite (so first thing in each
//! new incr file) and whenever the database changes.
//!
//! A file may open with an RDB (a base `.rdb`, or an RDB preamble in a
//! pre-7.0 file): it starts with the magic `REDIS` ([`has_rdb_preamble`]).
//! Where the RDB ends is only known by parsing it, so the caller loads it
//! with [`rdb::file::Reader`](crate::rdb::file::Reader) up to
//! [`Item::End`](crate::rdb::file::Item::End) and then reads the commands
//! after it with [`Commands::at`]`(bytes, reader.offset())`.
//!
//! # Loading, as Redis 7.0 does
//!
//! Load the base, then each incr file in manifest order, each file as by a
//! fresh client (database 0, no transaction open). For each command from
//! [`Commands::next`]: between `MULTI` and `EXEC` queue the commands and
//! apply them at `EXEC`, as Redis's loading client does; apply any other
//! command at once. An unknown command stops the load.
//!
//! [`ReadError::Truncated`] means the file ends inside a command, or with
//! a transaction still open. Redis accepts that only in the last file it
//! loads, and only with `aof-load-truncated yes`: it then truncates that
//! file to `valid_up_to`, drops any queued transaction, and starts
//! appending there. Anywhere else, and on [`ReadError::Corrupt`], the load
//! fails (Redis points the user to `redis-check-aof --fix`).

use std::fmt;

/// `MANIFEST_MAX_LINE`: Redis refuses a manifest line longer than this,
/// its newline included.
const MANIFEST_MAX_LINE: usize = 1024;

/// What an AOF file is to the manifest (its `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `b`: the snapshot the incr files apply to.
    Base,
    /// `h`: replaced by a rewrite, waiting to be deleted.
    History,
    /// `i`: commands written after the base.
    Incr,
}

impl FileKind {
    /// The manifest's letter for the kind.
    pub fn letter(self) -> char {
        match self {
            FileKind::Base => 'b',
            FileKind::History => 'h',
            FileKind::Incr => 'i',
        }
    }
}

/// One file the manifest names: a bare file name inside the AOF
/// directory, never a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
    pub kind: FileKind,
}

/// The contents of `appendonly.aof.manifest`.
///
/// The lists keep the manifest's order; a file's `kind` is the list it is
/// in ([`Manifest::to_text`] writes the list's letter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    /// Loaded in this order; their `seq`s strictly increase.
    pub incrs: Vec<AofFile>,
    pub history: Vec<AofFile>,
}

/// The manifest's file name: `appendonly.aof` → `appendonly.aof.manifest`.
pub fn manifest_name(appendfilename: &str) -> String {
    format!("{appendfilename}.manifest")
}

impl Manifest {
    /// Parses a manifest as Redis 7.0 does. Each line is `key value` pairs
    /// (`file`, `seq`, `type`, any order, keys in any case, unknown keys
    /// skipped) split as `redis-cli` splits arguments, so values may be
    /// `"double"` or `'single'` quoted with escapes. Lines opening with `#`
    /// are comments.
    ///
    /// The error is Redis's message plus the line:
    /// `Invalid AOF manifest file format, at line 2: 'garbage'`. Stricter
    /// than Redis in two places: `seq` must be a plain decimal (Redis
    /// reads it with `atoll`), and a name must be non-empty UTF-8. Laxer
    /// in one: the last line needs no newline.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        let mut lines = 0;
        for (i, raw) in text.split_inclusive('\n').enumerate() {
            lines += 1;
            if raw.starts_with('#') {
                continue;
            }
            let line = raw.trim_matches([' ', '\t', '\r', '\n']);
            let fail = |why: &str| Err(format!("{why}, at line {}: '{line}'", i + 1));
            if raw.len() > MANIFEST_MAX_LINE {
                return fail("The AOF manifest file contains too long line");
            }
            let invalid = "Invalid AOF manifest file format";
            let argv = match split_args(line.as_bytes()) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return fail(invalid),
            };
            let (mut name, mut seq, mut kind) = (None, 0, None);
            for pair in argv.chunks_exact(2) {
                let (key, value) = (&pair[0], &pair[1]);
                if key.eq_ignore_ascii_case(b"file") {
                    if value.contains(&b'/') || value.contains(&b'\\') {
                        return fail("File can't be a path, just a filename");
                    }
                    name = String::from_utf8(value.clone()).ok();
                } else if key.eq_ignore_ascii_case(b"seq") {
                    seq = parse_u64(value).unwrap_or(0);
                } else if key.eq_ignore_ascii_case(b"type") {
                    kind = value.first().copied();
                }
            }
            let (Some(name), Some(kind)) = (name.filter(|n| !n.is_empty()), kind) else {
                return fail(invalid);
            };
            if seq == 0 {
                return fail(invalid);
            }
            match kind {
                b'b' if m.base.is_some() => return fail("Found duplicate base file information"),
                b'b' => {
                    m.base = Some(AofFile {
                        name,
                        seq,
                        kind: FileKind::Base,
                    })
                }
                b'h' => m.history.push(AofFile {
                    name,
                    seq,
                    kind: FileKind::History,
                }),
                b'i' => {
                    if m.incrs.last().is_some_and(|f| f.seq >= seq) {
                        return fail("Found a non-monotonic sequence number");
                    }
                    m.incrs.push(AofFile {
                        name,
                        seq,
                        kind: FileKind::Incr,
                    });
                }
                _ => return fail("Unknown AOF file type"),
            }
        }
        if lines == 0 {
            return Err("Found an empty AOF manifest".to_string());
        }
        Ok(m)
    }

    /// The manifest as Redis 7.0 writes it: the base, then the history
    /// files, then the incr files, one `file <name> seq <n> type <t>\n`
    /// line each. A name with a space, quote, backslash or byte outside
    /// printable ASCII is written double-quoted with C-style escapes, as
    /// Redis's `sdscatrepr` does; unlike Redis, a name with `'` is quoted
    /// too, since Redis's own parser would misread it bare.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let lists = [
            (self.base.as_slice(), FileKind::Base),
            (&self.history, FileKind::History),
            (&self.incrs, FileKind::Incr),
        ];
        for (files, kind) in lists {
            for f in files {
                out.push_str("file ");
                push_name(&mut out, &f.name);
                out.push_str(&format!(" seq {} type {}\n", f.seq, kind.letter()));
            }
        }
        out
    }

    /// The incr file to open next: `<appendfilename>.<seq>.incr.aof`, seq
    /// one past the last incr file's (1 when there is none). The caller
    /// pushes it onto [`Manifest::incrs`] once the file exists.
    pub fn next_incr_name(&self, appendfilename: &str) -> AofFile {
        let seq = self.incrs.iter().map(|f| f.seq).max().unwrap_or(0) + 1;
        AofFile {
            name: format!("{appendfilename}.{seq}.incr.aof"),
            seq,
            kind: FileKind::Incr,
        }
    }

    /// The base a rewrite writes: `<appendfilename>.<seq>.base.rdb`
    /// (`.base.aof` without `rdb_preamble`), seq one past the current
    /// base's (1 when there is none).
    pub fn next_base_name(&self, appendfilename: &str, rdb_preamble: bool) -> AofFile {
        let seq = self.base.as_ref().map_or(0, |f| f.seq) + 1;
        let format = if rdb_preamble { "rdb" } else { "aof" };
        AofFile {
            name: format!("{appendfilename}.{seq}.base.{format}"),
            seq,
            kind: FileKind::Base,
        }
    }

    /// A rewrite's new base is in place: `base` replaces the old base, and
    /// the old base and the incr files the rewrite covered become history,
    /// in the order Redis 7.0 lists them (covered incrs, old base, older
    /// history). The rewrite covers every incr file but the last, which
    /// it opened when it started and which is still being appended to;
    /// `keep_last_incr` false (Redis with AOF off: nothing is appended)
    /// moves them all.
    pub fn rewrite_done(&mut self, base: AofFile, keep_last_incr: bool) {
        let mut history = Vec::with_capacity(self.history.len() + self.incrs.len() + 1);
        let keep = usize::from(keep_last_incr).min(self.incrs.len());
        let covered = self.incrs.len() - keep;
        history.extend(self.incrs.drain(..covered));
        history.extend(self.base.replace(AofFile {
            kind: FileKind::Base,
            ..base
        }));
        history.append(&mut self.history);
        for f in &mut history {
            f.kind = FileKind::History;
        }
        self.history = history;
    }
}

/// Writes a file name as Redis does: bare, or quoted when it must be.
fn push_name(out: &mut String, name: &str) {
    let bare = |b: u8| (0x21..=0x7e).contains(&b) && !matches!(b, b'"' | b'\\' | b'\'');
    if name.bytes().all(bare) {
        out.push_str(name);
        return;
    }
    out.push('"');
    for b in name.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// Splits a line into arguments as Redis's `sdssplitargs` does: blanks
/// separate them; `"..."` takes `\n \r \t \b \a \xHH` and `\<c>` escapes,
/// `'...'` only `\'`; a closing quote must be followed by a blank or the
/// end. `None` for unbalanced quotes. A NUL ends the line, as in C.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = line.split(|&b| b == 0).next().unwrap_or_default();
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let (mut cur, mut dq, mut sq) = (Vec::new(), false, false);
        loop {
            let c = at(p);
            if dq {
                match (c, at(p + 1)) {
                    (b'\\', b'x') if hex(at(p + 2)).is_some() && hex(at(p + 3)).is_some() => {
                        cur.push(hex(at(p + 2))? * 16 + hex(at(p + 3))?);
                        p += 3;
                    }
                    (b'\\', e) if e != 0 => {
                        cur.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            e => e,
                        });
                        p += 1;
                    }
                    (b'"', next) => {
                        if next != 0 && !is_c_space(next) {
                            return None;
                        }
                        p += 1;
                        break;
                    }
                    (0, _) => return None,
                    _ => cur.push(c),
                }
            } else if sq {
                match (c, at(p + 1)) {
                    (b'\\', b'\'') => {
                        cur.push(b'\'');
                        p += 1;
                    }
                    (b'\'', next) => {
                        if next != 0 && !is_c_space(next) {
                            return None;
                        }
                        p += 1;
                        break;
                    }
                    (0, _) => return None,
                    _ => cur.push(c),
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => dq = true,
                    b'\'' => sq = true,
                    _ => cur.push(c),
                }
            }
            p += 1;
        }
        args.push(cur);
    }
}

/// C's `isspace`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A plain decimal `u64`: digits only.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Whether an AOF file opens with an RDB (the magic `REDIS`): load that
/// part with the RDB reader, then the commands after it (see the module
/// doc).
pub fn has_rdb_preamble(bytes: &[u8]) -> bool {
    bytes.starts_with(b"REDIS")
}

/// What [`Commands::next`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next<'a> {
    /// One command's arguments, borrowed from the file's bytes; never
    /// empty.
    Command(Vec<&'a [u8]>),
    /// The file ended after a whole command, outside any transaction.
    End,
}

/// Why the command stream stopped short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The file ends inside a command (or an annotation line), or with a
    /// `MULTI` whose `EXEC` never came. Everything before `valid_up_to`
    /// is whole commands and whole transactions: with
    /// `aof-load-truncated yes` Redis cuts the last file there.
    Truncated { valid_up_to: usize },
    /// Bytes at `offset` are not the AOF format.
    Corrupt { offset: usize, why: String },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Truncated { valid_up_to } => {
                write!(
                    f,
                    "unexpected end of file (valid up to offset {valid_up_to})"
                )
            }
            ReadError::Corrupt { offset, why } => {
                write!(f, "bad file format at offset {offset}: {why}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads an AOF's commands from its bytes, one at a time.
///
/// After `End` it returns `End` again; after an error, the same error.
/// Inputs are untrusted: lengths are checked against the bytes left and
/// nothing is reserved from them.
#[derive(Debug, Clone)]
pub struct Commands<'a> {
    bytes: &'a [u8],
    pos: usize,
    in_multi_since: Option<usize>,
}

impl<'a> Commands<'a> {
    /// Reads `bytes` from the start (a file without an RDB preamble).
    pub fn new(bytes: &'a [u8]) -> Commands<'a> {
        Commands::at(bytes, 0)
    }

    /// Reads `bytes` from `offset`: where the RDB part of the file ended.
    pub fn at(bytes: &'a [u8], offset: usize) -> Commands<'a> {
        Commands {
            bytes,
            pos: offset.min(bytes.len()),
            in_multi_since: None,
        }
    }

    /// Where the next command starts: the end of the last one returned.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The offset of the `MULTI` of the transaction now open, if one is.
    pub fn in_multi_since(&self) -> Option<usize> {
        self.in_multi_since
    }

    /// The next command, `End` at the end of the file, or why neither.
    #[allow(clippy::should_implement_trait)] // Not an Iterator: `End` and errors are not `None`.
    pub fn next(&mut self) -> Result<Next<'a>, ReadError> {
        let bytes = self.bytes;
        loop {
            let start = self.pos;
            match bytes.get(start) {
                None => {
                    return match self.in_multi_since {
                        Some(_) => Err(self.truncated(start)),
                        None => Ok(Next::End),
                    }
                }
                Some(b'#') => match bytes[start..].iter().position(|&b| b == b'\n') {
                    Some(nl) => self.pos = start + nl + 1,
                    None => return Err(self.truncated(start)),
                },
                Some(b'*') => break,
                Some(_) if start == 0 && has_rdb_preamble(bytes) => {
                    return Err(corrupt(
                        0,
                        "an RDB preamble: load it, then use Commands::at",
                    ))
                }
                Some(_) => return Err(corrupt(start, "expected '*'")),
            }
        }
        let start = self.pos;
        let mut p = start + 1;
        let argc = self.number(&mut p, start)?;
        if argc == 0 {
            return Err(corrupt(start + 1, "a command of no arguments"));
        }
        // Each argument takes at least `$0\r\n\r\n`.
        let mut argv = Vec::with_capacity(argc.min((bytes.len() - p) / 6));
        for _ in 0..argc {
            match bytes.get(p) {
                None => return Err(self.truncated(start)),
                Some(b'$') => p += 1,
                Some(_) => return Err(corrupt(p, "expected '$'")),
            }
            let len = self.number(&mut p, start)?;
            let end = p.saturating_add(len);
            let Some(crlf) = bytes.get(end..end.saturating_add(2)) else {
                return Err(self.truncated(start));
            };
            if crlf != b"\r\n" {
                return Err(corrupt(end, "expected CRLF after a bulk string"));
            }
            argv.push(&bytes[p..end]);
            p = end + 2;
        }
        self.pos = p;
        let name = argv[0];
        if name.eq_ignore_ascii_case(b"multi") {
            self.in_multi_since = Some(start);
        } else if name.eq_ignore_ascii_case(b"exec") || name.eq_ignore_ascii_case(b"discard") {
            self.in_multi_since = None;
        }
        Ok(Next::Command(argv))
    }

    /// Reads the decimal and CRLF at `*p` (after `*` or `$`), for the
    /// command that starts at `start`.
    fn number(&self, p: &mut usize, start: usize) -> Result<usize, ReadError> {
        let from = *p;
        let mut n: usize = 0;
        loop {
            match self.bytes.get(*p) {
                None => return Err(self.truncated(start)),
                Some(&d @ b'0'..=b'9') => {
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(usize::from(d - b'0')))
                        .ok_or_else(|| corrupt(from, "length out of range"))?;
                }
                Some(b'\r') if *p > from => break,
                Some(_) => return Err(corrupt(*p, "expected a decimal length")),
            }
            *p += 1;
        }
        match self.bytes.get(*p + 1) {
            None => Err(self.truncated(start)),
            Some(b'\n') => {
                *p += 2;
                Ok(n)
            }
            Some(_) => Err(corrupt(*p + 1, "expected LF after CR")),
        }
    }

    /// The file ends inside the command at `start`: keep what precedes
    /// it, or the open transaction.
    fn truncated(&self, start: usize) -> ReadError {
        ReadError::Truncated {
            valid_up_to: self.in_multi_since.unwrap_or(start),
        }
    }
}

fn corrupt(offset: usize, why: &str) -> ReadError {
    ReadError::Corrupt {
        offset,
        why: why.to_string(),
    }
}

/// Appends one command as Redis writes it to its AOF: `*<argc>\r\n`, then
/// `$<len>\r\n<bytes>\r\n` per argument.
pub fn encode_command(out: &mut Vec<u8>, argv: &[&[u8]]) {
    let mut num = itoa::Buffer::new();
    out.reserve(16 + argv.iter().map(|a| a.len() + 16).sum::<usize>());
    out.push(b'*');
    out.extend_from_slice(num.format(argv.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.push(b'$');
        out.extend_from_slice(num.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `SELECT <db>` as Redis writes it before a command whose
/// database differs from the last one written to the file.
pub fn encode_select(out: &mut Vec<u8>, db: usize) {
    let mut num = itoa::Buffer::new();
    encode_command(out, &[b"SELECT", num.format(db).as_bytes()]);
}

/// Appends the `#TS:<unix seconds>\r\n` annotation Redis 7.0 writes with
/// `aof-timestamp-enabled yes` (readers skip it).
pub fn encode_timestamp(out: &mut Vec<u8>, unix_secs: u64) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"#TS:");
    out.extend_from_slice(num.format(unix_secs).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
