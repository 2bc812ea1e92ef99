//! ACL: users, their passwords and permissions, and the ACL command.
//!
//! The user table is process-wide state ([`Users`], registered in
//! `features/mod.rs`). Each user's rules are compiled into a
//! [`Perms`](crate::client::perms::Perms) that connections hold by an
//! `Arc`: a change bumps the table's epoch, and a connection whose epoch is
//! old takes its user's new `Perms` at its next batch (`refresh`), so no
//! command looks anything up in the table. A connection whose user may run
//! everything on every key and channel (the `default` user as it starts)
//! carries `unrestricted` and is never checked further.
//!
//! Commands are numbered for the rules: the command table's rows, then the
//! container subcommands of `commands::categories::SUBCOMMANDS`. Passwords are kept as
//! SHA-256 hex, as Redis keeps them; a clear password is never stored,
//! logged or shown.
//!

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use commands::categories::{self, cat};
use commands::table::CommandSpec;
use commands::{CommandTable, Error};
use resp::encode;

use crate::client::perms::{Ask, Denied, KeyPattern, Perms, Selector};
use crate::client::{Client, Flow};
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Shared, Worker};
use commands::categories::SUBCOMMANDS;

type Argv<'a> = &'a [&'a [u8]];

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// One user as the table keeps it: its flags, password hashes, and the
/// rules as given (for ACL LIST and GETUSER) beside their compiled form.
#[derive(Clone)]
struct User {
    name: String,
    enabled: bool,
    nopass: bool,
    /// `sanitize-payload` (true) or `skip-sanitize-payload` (false), once set.
    sanitize: Option<bool>,
    /// SHA-256 hex of each password, in the order added.
    passwords: Vec<String>,
    root: Rules,
    selectors: Vec<Rules>,
}

/// One selector's rules: the compiled form and what ACL LIST shows.
#[derive(Clone, Default)]
struct Rules {
    sel: Selector,
    /// The command rules start from `+@all` (else `-@all`).
    base_all: bool,
    /// The command rules after the base, each still changing something.
    rules: Vec<String>,
}

/// The process-wide user table, the ACL log, and the epoch connections
/// compare to know their `Perms` are current.
pub struct Users {
    table: RwLock<BTreeMap<String, User>>,
    epoch: AtomicU64,
    log: Mutex<Log>,
    log_max: AtomicUsize,
    /// `acl-pubsub-default`: new users start with every channel.
    pubsub_all: std::sync::atomic::AtomicBool,
    /// `aclfile`, when set.
    file: Mutex<Option<String>>,
}

#[derive(Default)]
struct Log {
    entries: VecDeque<Entry>,
    next_id: u64,
}

struct Entry {
    count: u64,
    reason: &'static str,
    context: &'static str,
    object: String,
    username: String,
    created_ms: u64,
    updated_ms: u64,
    client_info: String,
}

impl Users {
    /// The table with its `default` user: every command, key and channel,
    /// and `requirepass` (if any) as its only password.
    pub fn new(requirepass: Option<&str>) -> Users {
        let users = Users {
            table: RwLock::new(BTreeMap::new()),
            epoch: AtomicU64::new(1),
            log: Mutex::new(Log::default()),
            log_max: AtomicUsize::new(128),
            pubsub_all: std::sync::atomic::AtomicBool::new(false),
            file: Mutex::new(None),
        };
        if let Ok(mut t) = users.table.write() {
            t.insert("default".into(), default_user(requirepass));
        }
        users
    }

    /// The current epoch: it changes with every change to a user.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// A user's compiled permissions and whether they are unrestricted;
    /// None when the user does not exist.
    fn perms_of(&self, name: &str) -> Option<(Arc<Perms>, bool)> {
        let t = self.table.read().ok()?;
        t.get(name).map(compile)
    }

    /// Sets `acllog-max-len`.
    pub fn set_log_max(&self, n: usize) {
        self.log_max.store(n, Ordering::Relaxed);
        if let Ok(mut log) = self.log.lock() {
            log.entries.truncate(n);
        }
    }

    /// Sets `acl-pubsub-default` (true: `allchannels`).
    pub fn set_pubsub_default(&self, all: bool) {
        self.pubsub_all.store(all, Ordering::Relaxed);
    }

    /// Sets `aclfile`.
    pub fn set_file(&self, path: Option<String>) {
        if let Ok(mut f) = self.file.lock() {
            *f = path;
        }
    }

    /// Applies `user name rule...` lines (from the config file) or fails
    /// with the first bad one's error.
    pub fn load_lines(&self, lines: &[Vec<String>]) -> Result<(), String> {
        let mut t = self.table.write().map_err(|_| "ACL table poisoned")?;
        let all = self.pubsub_all.load(Ordering::Relaxed);
        let mut seen = std::collections::HashSet::new();
        for line in lines {
            let Some((name, rules)) = line.split_first() else {
                continue;
            };
            if !seen.insert(name.as_str()) {
                return Err(format!("Duplicate user '{name}' found"));
            }
            // As Redis: a configured user, the default one too, starts
            // from `reset` (no channels unless acl-pubsub-default says
            // allchannels), then takes its rules.
            let mut u = new_user(name, all);
            for r in rules {
                apply_rule(&mut u, r.as_bytes(), all).map_err(|e| e.message(r.as_bytes()))?;
            }
            t.insert(name.clone(), u);
        }
        drop(t);
        self.changed();
        Ok(())
    }

    /// CONFIG SET requirepass: the default user's only password, or
    /// `nopass` when empty (as Redis keeps the two in step).
    pub fn set_requirepass(&self, pass: Option<&str>) {
        if let Ok(mut t) = self.table.write() {
            if let Some(u) = t.get_mut("default") {
                u.passwords.clear();
                match pass {
                    Some(p) => {
                        u.nopass = false;
                        u.passwords.push(sha256_hex(p.as_bytes()));
                    }
                    None => u.nopass = true,
                }
            }
        }
        self.changed();
    }

    /// Checks a username and password: the user's name when they match
    /// and the user is enabled.
    fn authenticate(&self, user: &[u8], pass: &[u8]) -> Option<String> {
        let t = self.table.read().ok()?;
        let u = t.get(std::str::from_utf8(user).ok()?)?;
        if !u.enabled {
            return None;
        }
        if u.nopass {
            return Some(u.name.clone());
        }
        let h = sha256_hex(pass);
        u.passwords.contains(&h).then(|| u.name.clone())
    }

    /// Whether a new connection starts authenticated as `default` (it is
    /// enabled and needs no password).
    pub fn default_open(&self) -> bool {
        self.table
            .read()
            .ok()
            .and_then(|t| t.get("default").map(|u| u.enabled && u.nopass))
            .unwrap_or(false)
    }

    fn log(&self, e: Entry) {
        let max = self.log_max.load(Ordering::Relaxed);
        let Ok(mut log) = self.log.lock() else {
            return;
        };
        // Repeats of one denial within a minute are counted in one entry.
        if let Some(old) = log.entries.iter_mut().find(|o| {
            o.reason == e.reason
                && o.context == e.context
                && o.object == e.object
                && o.username == e.username
                && e.created_ms.saturating_sub(o.updated_ms) < 60_000
        }) {
            old.count += 1;
            old.updated_ms = e.created_ms;
            old.client_info = e.client_info;
            return;
        }
        log.next_id += 1;
        log.entries.push_front(e);
        log.entries.truncate(max);
    }
}

fn default_user(requirepass: Option<&str>) -> User {
    let mut u = User {
        name: "default".into(),
        enabled: true,
        nopass: requirepass.is_none(),
        sanitize: None,
        passwords: requirepass
            .map(|p| sha256_hex(p.as_bytes()))
            .into_iter()
            .collect(),
        root: Rules::default(),
        selectors: Vec::new(),
    };
    u.root.sel.allkeys = true;
    u.root.sel.allchannels = true;
    set_all_commands(&mut u.root, true);
    u
}

/// A user as ACL SETUSER creates it: off, no password, nothing allowed.
fn new_user(name: &str, pubsub_all: bool) -> User {
    let mut u = User {
        name: name.into(),
        enabled: false,
        nopass: false,
        sanitize: None,
        passwords: Vec::new(),
        root: Rules::default(),
        selectors: Vec::new(),
    };
    u.root.sel.allchannels = pubsub_all;
    u
}

/// The command table, reachable where no `Worker` is passed (the rules'
/// parser): set once at start.
static TABLE: std::sync::OnceLock<&'static CommandTable> = std::sync::OnceLock::new();

/// Gives the ACL feature the command table (at start, before any rule).
pub fn init(table: &'static CommandTable) {
    let _ = TABLE.set(table);
}

fn table() -> Option<&'static CommandTable> {
    TABLE.get().copied()
}

/// How many command numbers there are.
fn ncommands() -> usize {
    table().map_or(0, |t| t.len()) + SUBCOMMANDS.len()
}

/// The name of command number `id` (`get`, `client|kill`).
fn name_of(id: usize) -> &'static str {
    let Some(t) = table() else { return "" };
    if id < t.len() {
        t.iter().nth(id).map_or("", |s| s.name)
    } else {
        SUBCOMMANDS.get(id - t.len()).copied().unwrap_or("")
    }
}

fn categories_of(id: usize) -> u32 {
    categories::of(name_of(id)).0
}

/// A rule's command name to its number and, for a subcommand, its
/// container's; None when unknown.
fn number_of(name: &[u8]) -> Option<(usize, Option<usize>)> {
    let t = table()?;
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    if let Some((parent, _)) = lower.split_once('|') {
        let p = t.lookup(parent.as_bytes())?.id;
        let i = SUBCOMMANDS.iter().position(|s| *s == lower)?;
        return Some((t.len() + i, Some(p)));
    }
    t.lookup(lower.as_bytes()).map(|s| (s.id, None))
}

/// The numbers of a container's subcommands.
fn subcommands_of(parent: &str) -> impl Iterator<Item = usize> + '_ {
    let base = table().map_or(0, |t| t.len());
    SUBCOMMANDS.iter().enumerate().filter_map(move |(i, s)| {
        s.strip_prefix(parent)
            .is_some_and(|r| r.starts_with('|'))
            .then_some(base + i)
    })
}

/// The number one call is checked under: its subcommand's when it has one.
fn call_number(spec: &CommandSpec, argv: &[&[u8]]) -> (usize, Option<usize>) {
    if let Some(sub) = argv.get(1) {
        let base = table().map_or(0, |t| t.len());
        let found = SUBCOMMANDS.iter().position(|s| {
            s.strip_prefix(spec.name)
                .and_then(|rest| rest.strip_prefix('|'))
                .is_some_and(|rest| rest.as_bytes().eq_ignore_ascii_case(sub))
        });
        if let Some(i) = found {
            return (base + i, Some(spec.id));
        }
    }
    (spec.id, None)
}

fn set_all_commands(r: &mut Rules, on: bool) {
    let n = ncommands();
    r.sel.commands = vec![if on { u64::MAX } else { 0 }; n.div_ceil(64).max(1)];
    r.sel.first_args.clear();
    r.base_all = on;
    r.rules.clear();
}

/// What a bad rule is, worded as Redis words it after "Error in ACL
/// SETUSER modifier '...': ".
#[derive(Debug)]
enum RuleError {
    Syntax,
    Unknown,
    /// `+container|sub|arg`.
    SubcommandArg,
    NoSuchPassword,
    BadHash,
    /// A key or channel pattern added after `allkeys`/`allchannels`.
    Adding(&'static str),
}

impl RuleError {
    fn message(&self, rule: &[u8]) -> String {
        let why = match self {
            RuleError::Syntax => "Syntax error".to_string(),
            RuleError::SubcommandArg => {
                "Allowing first-arg of a subcommand is not supported".to_string()
            }
            RuleError::Unknown => "Unknown command or category name in ACL".to_string(),
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist".to_string()
            }
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters".to_string(),
            RuleError::Adding(what) => {
                let list = if *what == "channels" { "channels" } else { "patterns" };
                format!("Adding a pattern after the * pattern (or the 'all{what}' flag) is not valid and does not have any effect. Try 'reset{what}' to start with an empty list of {list}")
            }
        };
        format!(
            "ERR Error in ACL SETUSER modifier '{}': {why}",
            String::from_utf8_lossy(rule)
        )
    }
}

/// Applies one rule to a user (`on`, `>pass`, `~k*`, `+get`, `(...)`).
fn apply_rule(u: &mut User, rule: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
    let lower = rule.to_ascii_lowercase();
    match lower.as_slice() {
        b"on" => u.enabled = true,
        b"off" => u.enabled = false,
        b"nopass" => {
            u.nopass = true;
            u.passwords.clear();
        }
        b"resetpass" => {
            u.nopass = false;
            u.passwords.clear();
        }
        b"sanitize-payload" => u.sanitize = Some(true),
        b"skip-sanitize-payload" => u.sanitize = Some(false),
        b"clearselectors" => u.selectors.clear(),
        b"reset" => {
            let name = std::mem::take(&mut u.name);
            *u = new_user(&name, pubsub_all);
            u.sanitize = Some(true);
        }
        _ => match rule.first() {
            Some(b'>') => {
                let h = sha256_hex(&rule[1..]);
                if !u.passwords.contains(&h) {
                    u.passwords.push(h);
                }
                u.nopass = false;
            }
            Some(b'#') => {
                let h = &rule[1..];
                if h.len() != 64 || !h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(RuleError::BadHash);
                }
                let h = String::from_utf8_lossy(h).into_owned();
                if !u.passwords.contains(&h) {
                    u.passwords.push(h);
                }
                u.nopass = false;
            }
            Some(b'<') | Some(b'!') => {
                let h = if rule[0] == b'<' {
                    sha256_hex(&rule[1..])
                } else {
                    let h = &rule[1..];
                    if h.len() != 64 || !h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
                        return Err(RuleError::BadHash);
                    }
                    String::from_utf8_lossy(h).into_owned()
                };
                let before = u.passwords.len();
                u.passwords.retain(|p| *p != h);
                if u.passwords.len() == before {
                    return Err(RuleError::NoSuchPassword);
                }
            }
            Some(b'(') => {
                if rule.last() != Some(&b')') || rule.len() < 2 {
                    return Err(RuleError::Syntax);
                }
                let mut r = Rules::default();
                set_all_commands(&mut r, false);
                r.sel.allchannels = pubsub_all;
                for part in rule[1..rule.len() - 1]
                    .split(|c| *c == b' ')
                    .filter(|p| !p.is_empty())
                {
                    apply_selector_rule(&mut r, part)?;
                }
                u.selectors.push(r);
            }
            _ => apply_selector_rule(&mut u.root, rule)?,
        },
    }
    Ok(())
}

/// Applies a rule that a selector may hold: keys, channels, commands.
fn apply_selector_rule(r: &mut Rules, rule: &[u8]) -> Result<(), RuleError> {
    let lower = rule.to_ascii_lowercase();
    match lower.as_slice() {
        b"allkeys" => {
            r.sel.allkeys = true;
            r.sel.keys.clear();
        }
        b"resetkeys" => {
            r.sel.allkeys = false;
            r.sel.keys.clear();
        }
        b"allchannels" => {
            r.sel.allchannels = true;
            r.sel.channels.clear();
        }
        b"resetchannels" => {
            r.sel.allchannels = false;
            r.sel.channels.clear();
        }
        b"allcommands" | b"+@all" => set_all_commands(r, true),
        b"nocommands" | b"-@all" => set_all_commands(r, false),
        _ => match rule.first() {
            Some(b'~') => add_key_pattern(r, true, true, &rule[1..])?,
            Some(b'%') => {
                let tilde = rule
                    .iter()
                    .position(|c| *c == b'~')
                    .ok_or(RuleError::Syntax)?;
                let (mut read, mut write) = (false, false);
                for c in &rule[1..tilde] {
                    match c.to_ascii_uppercase() {
                        b'R' => read = true,
                        b'W' => write = true,
                        _ => return Err(RuleError::Syntax),
                    }
                }
                if !read && !write {
                    return Err(RuleError::Syntax);
                }
                add_key_pattern(r, read, write, &rule[tilde + 1..])?;
            }
            Some(b'&') => {
                let p = &rule[1..];
                if r.sel.allchannels {
                    if p == b"*" {
                        return Ok(());
                    }
                    return Err(RuleError::Adding("channels"));
                }
                if p == b"*" {
                    r.sel.allchannels = true;
                    r.sel.channels.clear();
                } else if !r.sel.channels.iter().any(|c| c == p) {
                    r.sel.channels.push(p.to_vec());
                }
            }
            Some(b'+') | Some(b'-') => command_rule(r, rule)?,
            _ => return Err(RuleError::Syntax),
        },
    }
    Ok(())
}

fn add_key_pattern(r: &mut Rules, read: bool, write: bool, p: &[u8]) -> Result<(), RuleError> {
    if r.sel.allkeys {
        if p == b"*" && read && write {
            return Ok(());
        }
        return Err(RuleError::Adding("keys"));
    }
    if p == b"*" && read && write {
        r.sel.allkeys = true;
        r.sel.keys.clear();
        return Ok(());
    }
    if let Some(k) = r.sel.keys.iter_mut().find(|k| k.pattern == p) {
        k.read |= read;
        k.write |= write;
    } else {
        r.sel.keys.push(KeyPattern {
            read,
            write,
            pattern: p.to_vec(),
        });
    }
    Ok(())
}

/// The command numbers a `+`/`-` rule's target covers, and for a
/// `+cmd|arg` of a command with no subcommands, that first argument.
/// A `+cmd|arg` rule's (command number, first argument).
type FirstArg = Option<(usize, Vec<u8>)>;

fn rule_targets(on: bool, target: &[u8]) -> Result<(Vec<usize>, FirstArg), RuleError> {
    if let Some(c) = target.strip_prefix(b"@") {
        let bit = cat::by_name(c).ok_or(RuleError::Unknown)?;
        let ids = (0..ncommands())
            .filter(|&i| categories_of(i) & bit != 0)
            .collect();
        return Ok((ids, None));
    }
    // `-x|y` names a subcommand and nothing else; `+x|y` may also be a
    // command's first argument (`+select|0`), read from the last `|`:
    // what stands before it must be a command or a container, never a
    // subcommand (`+config|get|appendonly`).
    match target.iter().rposition(|c| *c == b'|') {
        Some(bar) if on => {
            let (head, arg) = (&target[..bar], &target[bar + 1..]);
            let (hid, parent) = number_of(head).ok_or(RuleError::Unknown)?;
            if parent.is_some() {
                return Err(RuleError::SubcommandArg);
            }
            if arg.is_empty() {
                return Err(RuleError::Syntax);
            }
            if subcommands_of(name_of(hid)).next().is_some() {
                let (id, _) = number_of(target).ok_or(RuleError::Unknown)?;
                return Ok((vec![id], None));
            }
            Ok((Vec::new(), Some((hid, arg.to_ascii_lowercase()))))
        }
        Some(_) => {
            let (id, parent) = number_of(target).ok_or(RuleError::Unknown)?;
            if parent.is_none() {
                return Err(RuleError::Unknown);
            }
            Ok((vec![id], None))
        }
        None => {
            let (id, _) = number_of(target).ok_or(RuleError::Unknown)?;
            let mut ids = vec![id];
            ids.extend(subcommands_of(name_of(id)));
            Ok((ids, None))
        }
    }
}

fn apply_targets(sel: &mut Selector, on: bool, ids: &[usize], first: &Option<(usize, Vec<u8>)>) {
    for &i in ids {
        sel.set_command(i, on);
        if !on {
            sel.first_args.retain(|(c, _)| *c != i);
        }
    }
    if let Some((id, arg)) = first {
        if on {
            if !sel.first_args.contains(&(*id, arg.clone())) {
                sel.first_args.push((*id, arg.clone()));
            }
        } else {
            sel.first_args.retain(|(c, a)| !(c == id && a == arg));
        }
    }
}

/// `+cmd`, `-cmd`, `+@cat`, `-@cat`, `+cmd|sub`: applied, and kept in the
/// rule list only while it changes what the earlier rules give (a rule a
/// later one covers entirely is dropped), so ACL LIST stays short.
fn command_rule(r: &mut Rules, rule: &[u8]) -> Result<(), RuleError> {
    let on = rule[0] == b'+';
    let (ids, first) = rule_targets(on, &rule[1..])?;
    apply_targets(&mut r.sel, on, &ids, &first);
    let text = String::from_utf8_lossy(&rule.to_ascii_lowercase()).into_owned();
    let covered = |old: &str| -> bool {
        match rule_targets(old.starts_with('+'), &old.as_bytes()[1..]) {
            Ok((old_ids, old_first)) => {
                old_ids.iter().all(|i| ids.contains(i))
                    && (old_first.is_none()
                        || old_first == first
                        || (first.is_none()
                            && old_first.as_ref().is_some_and(|(c, _)| ids.contains(c))))
            }
            Err(_) => false,
        }
    };
    r.rules.retain(|old| !covered(old));
    let mut replay = Rules::default();
    set_all_commands(&mut replay, r.base_all);
    for old in &r.rules {
        if let Ok((i, f)) = rule_targets(old.starts_with('+'), &old.as_bytes()[1..]) {
            apply_targets(&mut replay.sel, old.starts_with('+'), &i, &f);
        }
    }
    // Bit vectors compared as if padded with zeros (a new user's grows
    // only as far as its rules reach).
    let word = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    let n = replay.sel.commands.len().max(r.sel.commands.len());
    let same = (0..n).all(|i| word(&replay.sel.commands, i) == word(&r.sel.commands, i));
    if !same || replay.sel.first_args != r.sel.first_args {
        r.rules.push(text);
    }
    Ok(())
}

/// A user's rules compiled for connections, and whether they allow
/// everything (then no check runs).
fn compile(u: &User) -> (Arc<Perms>, bool) {
    let unrestricted = u.selectors.is_empty()
        && u.root.sel.allkeys
        && u.root.sel.allchannels
        && u.root.base_all
        && u.root.rules.is_empty();
    let perms = Perms {
        user: Arc::from(u.name.as_str()),
        root: u.root.sel.clone(),
        selectors: u.selectors.iter().map(|s| s.sel.clone()).collect(),
    };
    (Arc::new(perms), unrestricted)
}

// ---- descriptions (ACL LIST, GETUSER) ----

fn describe_keys(r: &Rules) -> String {
    if r.sel.allkeys {
        return "~*".into();
    }
    let parts: Vec<String> = r
        .sel
        .keys
        .iter()
        .map(|k| {
            let p = String::from_utf8_lossy(&k.pattern);
            match (k.read, k.write) {
                (true, true) => format!("~{p}"),
                (true, false) => format!("%R~{p}"),
                _ => format!("%W~{p}"),
            }
        })
        .collect();
    parts.join(" ")
}

fn describe_channels(r: &Rules) -> String {
    if r.sel.allchannels {
        return "&*".into();
    }
    let mut s = String::from("resetchannels");
    for c in &r.sel.channels {
        s.push_str(" &");
        s.push_str(&String::from_utf8_lossy(c));
    }
    s
}

fn describe_commands(r: &Rules) -> String {
    let mut s = String::from(if r.base_all { "+@all" } else { "-@all" });
    for rule in &r.rules {
        s.push(' ');
        s.push_str(rule);
    }
    s
}

/// A selector as ACL LIST shows it: keys, channels, commands.
fn describe_rules(r: &Rules) -> String {
    [describe_keys(r), describe_channels(r), describe_commands(r)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn flags_of(u: &User) -> Vec<&'static str> {
    let mut f = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        f.push("nopass");
    }
    match u.sanitize {
        Some(true) => f.push("sanitize-payload"),
        Some(false) => f.push("skip-sanitize-payload"),
        None => {}
    }
    f
}

/// One ACL LIST line (also what ACL SAVE writes).
fn describe_user(u: &User) -> String {
    let mut s = format!("user {}", u.name);
    for f in flags_of(u) {
        s.push(' ');
        s.push_str(f);
    }
    for p in &u.passwords {
        s.push_str(" #");
        s.push_str(p);
    }
    s.push(' ');
    s.push_str(&describe_rules(&u.root));
    for sel in &u.selectors {
        s.push_str(" (");
        s.push_str(&describe_rules(sel));
        s.push(')');
    }
    s
}

// ---- checks on the connection's path ----

/// The context of a denial, for ACL LOG.
#[derive(Clone, Copy)]
pub enum Context {
    Toplevel,
    Multi,
    /// A script's `redis.call`.
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// Takes the user's current `Perms` when the table changed since the
/// connection last looked; false when the user is gone (the connection
/// must close).
pub fn refresh(w: &Worker, client: &mut Client) -> bool {
    let users = w.shared.global::<Users>();
    let epoch = users.epoch();
    if client.acl_epoch == epoch {
        return true;
    }
    client.acl_epoch = epoch;
    match users.perms_of(&client.perms.user) {
        Some((p, unrestricted)) => {
            client.perms = p;
            client.unrestricted = unrestricted;
            true
        }
        None => false,
    }
}

/// Why `perms` refuses this call, as Redis's NOPERM error; None when
/// allowed. Cheap for commands without keys or channels.
pub fn denial(perms: &Perms, spec: &CommandSpec, argv: &[&[u8]]) -> Option<(Denied, Error)> {
    let (id, parent) = call_number(spec, argv);
    let keys: Vec<(usize, u16)> = if spec.first_key > 0 || spec.keys_fn.is_some() {
        spec.keys_of(argv)
            .into_iter()
            .enumerate()
            .filter(|(_, i)| *i < argv.len())
            .map(|(nth, i)| {
                (
                    i,
                    categories::key_flags(spec.name, spec.key_specs, argv, nth),
                )
            })
            // Shard channels stand where keys would; they are channels.
            .filter(|(_, f)| f & categories::key::NOT_KEY == 0)
            .collect()
    } else {
        Vec::new()
    };
    let (channels, patterns): (Vec<usize>, bool) = match spec.name {
        "publish" | "spublish" => (vec![1], false),
        "subscribe" | "ssubscribe" => ((1..argv.len()).collect(), false),
        "psubscribe" => ((1..argv.len()).collect(), true),
        _ => (Vec::new(), false),
    };
    let ask = Ask {
        id,
        parent,
        argv,
        keys: &keys,
        channels: &channels,
        patterns,
    };
    let d = perms.check(&ask).err()?;
    let e = match d {
        Denied::Command => Error::Other(format!(
            "NOPERM this user has no permissions to run the '{}' command",
            name_of(id)
        )),
        Denied::Key(_) => Error::Static(
            "NOPERM this user has no permissions to access one of the keys used as arguments",
        ),
        Denied::Channel(_) => Error::Static(
            "NOPERM this user has no permissions to access one of the channels used as arguments",
        ),
    };
    Some((d, e))
}

/// Why a queued command no longer passes at EXEC, in Redis's words.
pub fn reason(d: Denied) -> &'static str {
    match d {
        Denied::Command => "no permission to execute the command or subcommand",
        Denied::Key(_) => "no permission to touch the specified keys",
        Denied::Channel(_) => "no permission to access one of the channels used as arguments",
    }
}

/// The check of one command of a restricted connection: the NOPERM error
/// when refused, logged in ACL LOG.
pub fn check(
    w: &Worker,
    client: &Client,
    spec: &CommandSpec,
    argv: &[&[u8]],
    ctx: Context,
    log: bool,
) -> Option<Error> {
    let (d, e) = denial(&client.perms, spec, argv)?;
    if log {
        log_denial(w, client, d, spec, argv, ctx);
    }
    Some(e)
}

/// Adds an ACL LOG entry for a refused command, key or channel.
pub fn log_denial(
    w: &Worker,
    client: &Client,
    d: Denied,
    spec: &CommandSpec,
    argv: &[&[u8]],
    ctx: Context,
) {
    let (reason, object) = match d {
        Denied::Command => {
            let (id, _) = call_number(spec, argv);
            ("command", name_of(id).to_string())
        }
        Denied::Key(i) => ("key", String::from_utf8_lossy(argv[i]).into_owned()),
        Denied::Channel(i) => ("channel", String::from_utf8_lossy(argv[i]).into_owned()),
    };
    let now = now_ms();
    w.shared.global::<Users>().log(Entry {
        count: 1,
        reason,
        context: ctx.name(),
        object,
        username: client.perms.user.to_string(),
        created_ms: now,
        updated_ms: now,
        client_info: client.info.borrow().line(now / 1000),
    });
}

/// Takes `acllog-max-len`, `acl-pubsub-default` and `aclfile` from the
/// live settings (at start and after CONFIG SET).
pub fn apply_config(shared: &Shared) {
    let users = shared.global::<Users>();
    for (k, v) in shared.config.all() {
        match k.as_str() {
            "acllog-max-len" => {
                if let Ok(n) = v.parse::<usize>() {
                    users.set_log_max(n);
                }
            }
            "acl-pubsub-default" => users.set_pubsub_default(v == "allchannels"),
            "aclfile" => users.set_file((!v.is_empty()).then_some(v)),
            _ => {}
        }
    }
}

/// Sets up the user table at start: the command table, the settings,
/// `requirepass`, the config file's `user` lines, then the ACL file (Redis
/// refuses both at once).
pub fn start(shared: &Shared) -> Result<(), String> {
    init(shared.table);
    apply_config(shared);
    let users = shared.global::<Users>();
    let startup = &shared.config.startup;
    users.set_requirepass(startup.requirepass.as_deref());
    let file = users.file.lock().ok().and_then(|f| f.clone());
    if file.is_some() && !startup.users.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".into());
    }
    users.load_lines(&startup.users)?;
    if let Some(path) = file {
        load_file(users, &path)?;
    }
    Ok(())
}

/// Whether a user of this name exists (CLIENT KILL USER).
pub fn user_exists(w: &Worker, name: &str) -> bool {
    w.shared
        .global::<Users>()
        .table
        .read()
        .is_ok_and(|t| t.contains_key(name))
}

// ---- AUTH ----

/// Whether the `default` user takes any password (one-argument AUTH is
/// then an error, as in Redis).
pub fn default_needs_no_password(w: &Worker) -> bool {
    w.shared
        .global::<Users>()
        .table
        .read()
        .is_ok_and(|t| t.get("default").is_some_and(|u| u.nopass))
}

/// AUTH's and HELLO's check: on success the connection runs as `user`.
pub fn auth(w: &Worker, client: &mut Client, user: &[u8], pass: &[u8]) -> Result<(), Error> {
    let users = w.shared.global::<Users>();
    let found = users
        .authenticate(user, pass)
        .and_then(|name| users.perms_of(&name));
    match found {
        Some((p, unrestricted)) => {
            client.perms = p;
            client.unrestricted = unrestricted;
            client.acl_epoch = users.epoch();
            client.authed = true;
            client.info.borrow_mut().user = Arc::clone(&client.perms.user);
            Ok(())
        }
        None => {
            let now = now_ms();
            users.log(Entry {
                count: 1,
                reason: "auth",
                context: "toplevel",
                object: "AUTH".into(),
                username: String::from_utf8_lossy(user).into_owned(),
                created_ms: now,
                updated_ms: now,
                client_info: client.info.borrow().line(now / 1000),
            });
            Err(Error::Static(WRONGPASS))
        }
    }
}

/// A new connection's user: `default`, authenticated when it needs no
/// password.
pub fn connect(w: &Worker, client: &mut Client) {
    let users = w.shared.global::<Users>();
    client.authed = users.default_open();
    client.acl_epoch = 0;
    if let Some((p, unrestricted)) = users.perms_of("default") {
        client.perms = p;
        client.unrestricted = unrestricted;
        client.acl_epoch = users.epoch();
    }
    client.info.borrow_mut().user = Arc::clone(&client.perms.user);
}

/// The `Perms` a connection starts with before [`connect`]: nothing
/// allowed, as `default`.
pub fn nobody() -> Arc<Perms> {
    Arc::new(Perms {
        user: Arc::from("default"),
        root: Selector::default(),
        selectors: Vec::new(),
    })
}

// ---- the ACL command ----

/// Closes the connections of these users on every thread (the caller's
/// own, if it is one, closes after its reply). True when the caller's
/// user is among them.
async fn disconnect_users(w: &Route<'_>, client: &Client, names: Vec<String>) -> bool {
    let me = client.id;
    let names = Arc::new(names);
    let n2 = Arc::clone(&names);
    w.call_all(move |w| {
        let ids: Vec<u64> = w
            .clients
            .borrow()
            .values()
            .map(|c| c.borrow())
            .filter(|c| c.id != me && n2.iter().any(|n| **n == *c.user))
            .map(|c| c.id)
            .collect();
        w.close_clients(&ids);
    })
    .await;
    names.iter().any(|n| **n == *client.perms.user)
}

/// Closes, on every thread, the connections of `perms`' user subscribed
/// to a channel or pattern the user may no longer use, as Redis does when
/// ACL SETUSER takes channels away. The caller's own connection is spared
/// (it is running this command, not listening).
async fn close_refused_subscribers(w: &Route<'_>, client: &Client, perms: Arc<Perms>) {
    let all = |p: &Perms| p.root.allchannels || p.selectors.iter().any(|s| s.allchannels);
    if all(&perms) {
        return;
    }
    let me = client.id;
    w.call_all(move |w| {
        let ids: std::collections::HashSet<u64> = w
            .clients
            .borrow()
            .values()
            .map(|c| c.borrow())
            .filter(|c| c.id != me && c.sub + c.psub + c.ssub > 0 && *c.user == *perms.user)
            .map(|c| c.id)
            .collect();
        if ids.is_empty() {
            return;
        }
        let allowed = |name: &[u8], pattern: bool| {
            perms.root.allows_channel(name, pattern)
                || perms
                    .selectors
                    .iter()
                    .any(|s| s.allows_channel(name, pattern))
        };
        let refused = crate::features::pubsub::refused_subscribers(w, &ids, allowed);
        w.close_clients(&refused);
    })
    .await;
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `ACL CAT|DELUSER|DRYRUN|GENPASS|GETUSER|LIST|LOAD|LOG|SAVE|SETUSER|USERS|WHOAMI|HELP`
pub async fn acl(
    w: &Route<'_>,
    client: &mut Client,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<Flow, Error> {
    let users = w.shared.global::<Users>();
    let sub = argv[1].to_ascii_lowercase();
    let n = argv.len();
    let arity = |ok: bool| -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(Error::WrongArity(format!("acl|{}", lossy(&sub))))
        }
    };
    let resp3 = client.resp3;
    match sub.as_slice() {
        b"setuser" => {
            arity(n >= 3)?;
            let name = lossy(argv[2]);
            if argv[2].iter().any(|c| *c == b' ' || *c == 0) {
                return Err(Error::Static(
                    "ERR Usernames can't contain spaces or null characters",
                ));
            }
            let rules = join_selectors(&argv[3..])?;
            let all = users.pubsub_all.load(Ordering::Relaxed);
            {
                let mut t = users
                    .table
                    .write()
                    .map_err(|_| Error::Static("ERR ACL table unavailable"))?;
                let mut u = t
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| new_user(&name, all));
                for r in &rules {
                    apply_rule(&mut u, r, all).map_err(|e| Error::Other(e.message(r)))?;
                }
                t.insert(name.clone(), u);
            }
            users.changed();
            if let Some((perms, _)) = users.perms_of(&name) {
                close_refused_subscribers(w, client, perms).await;
            }
            encode::ok(out);
        }
        b"getuser" => {
            arity(n == 3)?;
            let t = users
                .table
                .read()
                .map_err(|_| Error::Static("ERR ACL table unavailable"))?;
            let Some(u) = std::str::from_utf8(argv[2]).ok().and_then(|n| t.get(n)) else {
                encode::null(out, resp3);
                return Ok(Flow::Continue);
            };
            encode::map_len(out, 6, resp3);
            encode::bulk(out, b"flags");
            let flags = flags_of(u);
            encode::array_len(out, flags.len());
            for f in flags {
                encode::bulk(out, f.as_bytes());
            }
            encode::bulk(out, b"passwords");
            encode::array_len(out, u.passwords.len());
            for p in &u.passwords {
                encode::bulk(out, p.as_bytes());
            }
            write_selector_fields(out, &u.root, resp3);
            encode::bulk(out, b"selectors");
            encode::array_len(out, u.selectors.len());
            for s in &u.selectors {
                encode::map_len(out, 3, resp3);
                write_selector_fields(out, s, resp3);
            }
        }
        b"deluser" => {
            arity(n >= 3)?;
            let mut gone = Vec::new();
            {
                let mut t = users
                    .table
                    .write()
                    .map_err(|_| Error::Static("ERR ACL table unavailable"))?;
                if argv[2..].iter().any(|n| *n == b"default") {
                    return Err(Error::Static("ERR The 'default' user cannot be removed"));
                }
                for name in &argv[2..] {
                    if let Some(u) = t.remove(&lossy(name)) {
                        gone.push(u.name);
                    }
                }
            }
            users.changed();
            let count = gone.len();
            let me = disconnect_users(w, client, gone).await;
            encode::integer(out, count as i64);
            if me {
                return Ok(Flow::Close);
            }
        }
        b"users" => {
            arity(n == 2)?;
            let t = users
                .table
                .read()
                .map_err(|_| Error::Static("ERR ACL table unavailable"))?;
            encode::array_len(out, t.len());
            for name in t.keys() {
                encode::bulk(out, name.as_bytes());
            }
        }
        b"list" => {
            arity(n == 2)?;
            let t = users
                .table
                .read()
                .map_err(|_| Error::Static("ERR ACL table unavailable"))?;
            encode::array_len(out, t.len());
            for u in t.values() {
                encode::bulk(out, describe_user(u).as_bytes());
            }
        }
        b"whoami" => {
            arity(n == 2)?;
            encode::bulk(out, client.perms.user.as_bytes());
        }
        b"cat" => {
            if n > 3 {
                return Err(Error::Other(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
                    lossy(argv[1])
                )));
            }
            match argv.get(2) {
                None => {
                    encode::array_len(out, cat::NAMES.len());
                    for c in cat::NAMES {
                        encode::bulk(out, c.as_bytes());
                    }
                }
                Some(c) => {
                    let bit = cat::by_name(c).ok_or_else(|| {
                        Error::Other(format!("ERR Unknown category '{}'", lossy(c)))
                    })?;
                    let names: Vec<&str> = (0..ncommands())
                        .filter(|&i| categories_of(i) & bit != 0)
                        .map(name_of)
                        .collect();
                    encode::array_len(out, names.len());
                    for name in names {
                        encode::bulk(out, name.as_bytes());
                    }
                }
            }
        }
        b"genpass" => {
            arity(n <= 3)?;
            let bits = match argv.get(2) {
                None => 256,
                Some(b) => match commands::args::parse_i64(b) {
                    Some(v) if v > 0 && v <= 4096 => v as usize,
                    _ => return Err(Error::Static("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")),
                },
            };
            let chars = bits.div_ceil(4);
            let mut bytes = vec![0u8; chars.div_ceil(2)];
            random_bytes(&mut bytes);
            let mut hex = to_hex(&bytes);
            hex.truncate(chars);
            encode::bulk(out, hex.as_bytes());
        }
        b"log" => {
            arity(n <= 3)?;
            let mut log = users
                .log
                .lock()
                .map_err(|_| Error::Static("ERR ACL log unavailable"))?;
            let count = match argv.get(2) {
                None => usize::MAX,
                Some(a) if a.eq_ignore_ascii_case(b"reset") => {
                    log.entries.clear();
                    encode::ok(out);
                    return Ok(Flow::Continue);
                }
                Some(a) => match commands::args::parse_i64(a) {
                    Some(v) if v >= 0 => v as usize,
                    _ => return Err(Error::NotInteger),
                },
            };
            let now = now_ms();
            let shown: Vec<&Entry> = log.entries.iter().take(count).collect();
            encode::array_len(out, shown.len());
            for e in shown {
                encode::map_len(out, 7, resp3);
                encode::bulk(out, b"count");
                encode::integer(out, e.count as i64);
                for (k, v) in [("reason", e.reason), ("context", e.context)] {
                    encode::bulk(out, k.as_bytes());
                    encode::bulk(out, v.as_bytes());
                }
                for (k, v) in [("object", &e.object), ("username", &e.username)] {
                    encode::bulk(out, k.as_bytes());
                    encode::bulk(out, v.as_bytes());
                }
                encode::bulk(out, b"age-seconds");
                encode::double(out, now.saturating_sub(e.created_ms) as f64 / 1000.0, resp3);
                encode::bulk(out, b"client-info");
                encode::bulk(out, e.client_info.trim_end().as_bytes());
            }
        }
        b"dryrun" => {
            arity(n >= 4)?;
            let perms = users
                .perms_of(&lossy(argv[2]))
                .ok_or_else(|| Error::Other(format!("ERR User '{}' not found", lossy(argv[2]))))?
                .0;
            let cmd = &argv[3..];
            let spec = w.shared.table.lookup(cmd[0]).ok_or_else(|| {
                Error::Other(format!("ERR Command '{}' not found", lossy(cmd[0])))
            })?;
            if !spec.arity_ok(cmd.len()) {
                return Err(Error::WrongArity(spec.name.to_string()));
            }
            match denial(&perms, spec, cmd) {
                None => encode::ok(out),
                Some((d, _)) => {
                    let msg = match d {
                        Denied::Command => format!(
                            "This user has no permissions to run the '{}' command",
                            name_of(call_number(spec, cmd).0)
                        ),
                        Denied::Key(i) => format!(
                            "This user has no permissions to access the '{}' key",
                            lossy(cmd[i])
                        ),
                        Denied::Channel(i) => format!(
                            "This user has no permissions to access the '{}' channel",
                            lossy(cmd[i])
                        ),
                    };
                    encode::bulk(out, msg.as_bytes());
                }
            }
        }
        b"save" => {
            arity(n == 2)?;
            let path = acl_file(users)?;
            let text: String = {
                let t = users
                    .table
                    .read()
                    .map_err(|_| Error::Static("ERR ACL table unavailable"))?;
                t.values().map(|u| describe_user(u) + "\n").collect()
            };
            let tmp = format!("{path}.tmp-{}", std::process::id());
            std::fs::write(&tmp, text)
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| {
                    log::warn!("ACL SAVE to {path} failed: {e}");
                    Error::Static("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
                })?;
            encode::ok(out);
        }
        b"load" => {
            arity(n == 2)?;
            let path = acl_file(users)?;
            let gone = load_file(users, &path).map_err(Error::Other)?;
            let me = disconnect_users(w, client, gone).await;
            encode::ok(out);
            if me {
                return Ok(Flow::Close);
            }
        }
        b"help" => {
            arity(n == 2)?;
            commands::reply_help(out, HELP);
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "ACL")),
    }
    Ok(Flow::Continue)
}

const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

fn acl_file(users: &Users) -> Result<String, Error> {
    users.file.lock().ok().and_then(|f| f.clone()).ok_or(Error::Static(
        "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.",
    ))
}

/// Replaces the users with those of an ACL file (all or nothing); the
/// names of the users that are gone or changed, whose connections close.
pub fn load_file(users: &Users, path: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("ERR Error loading ACLs, opening file '{path}': {e}"))?;
    let all = users.pubsub_all.load(Ordering::Relaxed);
    let mut fresh: BTreeMap<String, User> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = crate::host::config::split_args(line).unwrap_or_default();
        let (Some(kw), Some(name)) = (words.first(), words.get(1)) else {
            return Err(format!(
                "ERR /{path}:{}: line should start with user keyword",
                i + 1
            ));
        };
        if kw != "user" {
            return Err(format!(
                "ERR /{path}:{}: line should start with user keyword",
                i + 1
            ));
        }
        if fresh.contains_key(name.as_str()) {
            return Err(format!(
                "ERR /{path}:{}: Duplicate user '{name}' found. ",
                i + 1
            ));
        }
        let mut u = new_user(name, all);
        let rules: Vec<Vec<u8>> = words[2..].iter().map(|w| w.as_bytes().to_vec()).collect();
        let rules: Vec<&[u8]> = rules.iter().map(Vec::as_slice).collect();
        let rules = join_selectors(&rules).map_err(|e| format!("{e:?}"))?;
        for r in &rules {
            apply_rule(&mut u, r, all).map_err(|e| {
                format!(
                    "ERR /{path}:{}: {}. ",
                    i + 1,
                    e.message(r).trim_start_matches("ERR ")
                )
            })?;
        }
        fresh.insert(name.clone(), u);
    }
    fresh
        .entry("default".into())
        .or_insert_with(|| default_user(None));
    let mut t = users
        .table
        .write()
        .map_err(|_| "ERR ACL table unavailable")?;
    // As Redis: every user but `default` is replaced by the file's, and
    // the connections authenticated as one are closed.
    let gone: Vec<String> = t
        .values()
        .filter(|old| old.name != "default")
        .map(|u| u.name.clone())
        .collect();
    *t = fresh;
    drop(t);
    users.changed();
    Ok(gone)
}

/// Arguments as rules, with a selector given over several arguments
/// (`(+get` `~k*)`) joined into one.
fn join_selectors(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, Error> {
    let mut rules = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    for a in args {
        match open.as_mut() {
            Some(buf) => {
                buf.push(b' ');
                buf.extend_from_slice(a);
                if a.ends_with(b")") {
                    rules.extend(open.take());
                }
            }
            None if a.starts_with(b"(") && !a.ends_with(b")") => open = Some(a.to_vec()),
            None => rules.push(a.to_vec()),
        }
    }
    if let Some(buf) = open {
        return Err(Error::Other(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            lossy(&buf)
        )));
    }
    Ok(rules)
}

fn write_selector_fields(out: &mut Vec<u8>, r: &Rules, _resp3: bool) {
    encode::bulk(out, b"commands");
    encode::bulk(out, describe_commands(r).as_bytes());
    encode::bulk(out, b"keys");
    encode::bulk(out, describe_keys(r).as_bytes());
    encode::bulk(out, b"channels");
    let ch = if r.sel.allchannels {
        "&*".to_string()
    } else {
        r.sel
            .channels
            .iter()
            .map(|c| format!("&{}", lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    encode::bulk(out, ch.as_bytes());
}

// ---- hashing and randomness ----

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Bytes from the kernel's generator (a weaker fallback only if it cannot
/// be read).
fn random_bytes(buf: &mut [u8]) {
    use std::io::Read;
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .is_ok();
    if !ok {
        buf.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
}

/// SHA-256 of `data` as lowercase hex (FIPS 180-4), how passwords are kept.
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(v);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::sha256_hex;

    #[test]
    fn sha256_known_values() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(
            sha256_hex(&long),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }
}
