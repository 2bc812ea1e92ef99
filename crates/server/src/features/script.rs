//! Lua scripting: EVAL, EVALSHA, their _RO forms, FCALL and FCALL_RO, and
//! SCRIPT LOAD | EXISTS | FLUSH | KILL. (The FUNCTION command and its
//! library registry are `function.rs`'s; the interpreters that load and
//! run libraries are here.)
//!
//! Every thread has its own Lua 5.1 interpreter (the language Redis embeds,
//! built from source by `mlua`), with Redis's `redis` library (`call`,
//! `pcall` and `acl_check_cmd` here; `error_reply`, `status_reply`,
//! `sha1hex`, `setresp` and the reply conversions in `script_api.rs`; the
//! version constants) and its libraries: cjson (here), bit, struct and
//! cmsgpack (`lualib`). A script runs to completion, synchronously, where
//! its keys live, which is what makes it atomic:
//!
//! - keys on one shard (or none): the script runs on that shard's thread
//!   (none: this connection's), as one job, against the shard itself; its
//!   `redis.call`s cost what the commands cost, no hop each;
//! - keys on several shards: their shards are held (a transaction, see
//!   `tx.rs`), copies of the keys are gathered into a scratch shard here,
//!   the script runs against it, and the keys it changed are written back
//!   (`fanout::over_copies`).
//!
//! A script may touch only the keys it declared, or, when it runs on a
//! shard, any key of that shard; any other key is refused with the error
//! Redis Cluster gives (`Script attempted to access a non local key in a
//! cluster node`). With one thread every key is local, as in Redis.
//! Commands that are not one shard's (KEYS, DBSIZE, FLUSHALL, CONFIG, INFO,
//! ...) and those Redis forbids in scripts are refused (DEBUG PROTOCOL and
//! DEBUG SLEEP run after DEBUG SET-DISABLE-DENY-SCRIPTS 1). A script past
//! `busy-reply-threshold` lets its thread's other connections in to be
//! answered `-BUSY` or to kill it (see [`serve_others_while_busy`]). Not
//! there yet: `allow-cross-slot-keys` acting on anything (it is accepted).
//!
//! Script flags (Redis 7.0): a function registers them, an EVAL script
//! declares them on a `#!lua flags=...` first line ([`shebang`]); a script
//! without that line runs in Redis's compatibility mode. Declared flags
//! decide how the connection admits the command ([`command_flags`]:
//! `no-writes` makes it a read, `allow-oom` lets it past `maxmemory`,
//! `allow-stale` onto a stale replica) and what [`eval`] checks before it
//! runs (`no-cluster` in cluster mode, a write script by an _RO command).
//!
//! FUNCTION libraries load in a sandbox, as Redis's do: while a library's
//! code runs its only globals are `redis.register_function`, `redis.log`
//! and the LOG_/version constants, and it is stopped after 500 ms. Its
//! functions keep the library's environment, which from then on reads the
//! globals scripts see.
//!
//! Replies and errors follow Redis 7.0: values convert both ways by its
//! rules, in RESP2 and RESP3 (`script_api.rs`), globals are read-only, and
//! errors carry ` script: <sha>, on @user_script:<line>.`, the line where
//! the error was raised (a message handler notes it). A command's error is
//! counted in INFO errorstats once, where it failed; a command refused
//! inside a script (arity, ACL, OOM, ...) counts as rejected.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use commands::table::flags;
use commands::{Error, Handler, Shard};
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use resp::encode;

use super::{lualib, script_api};
use crate::client::Client;
use crate::engine::journal;
use crate::engine::tx::Route;
use crate::engine::worker::{now_ms, Worker, BUSY_HOLD};

type Argv<'a> = &'a [&'a [u8]];

/// The flags Redis 7.0 lets a script declare (EVAL's `#!lua flags=...`
/// line) or a function register (`flags={...}`), as bits.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct ScriptFlags(u8);

impl ScriptFlags {
    /// It calls no write command (those it tries fail), so it may run
    /// under OOM, on a read-only replica and with FCALL_RO / EVAL_RO.
    pub const NO_WRITES: u8 = 1;
    /// It runs when used memory is over `maxmemory`.
    pub const ALLOW_OOM: u8 = 1 << 1;
    /// It runs on a replica whose link is down with
    /// `replica-serve-stale-data no` (its commands must allow that too).
    pub const ALLOW_STALE: u8 = 1 << 2;
    /// It is refused in cluster mode.
    pub const NO_CLUSTER: u8 = 1 << 3;
    /// In cluster mode, its keys need not share a slot.
    pub const ALLOW_CROSS_SLOT: u8 = 1 << 4;

    /// Names in the order FUNCTION LIST shows them.
    const NAMES: [(u8, &'static str); 5] = [
        (Self::NO_WRITES, "no-writes"),
        (Self::ALLOW_OOM, "allow-oom"),
        (Self::ALLOW_STALE, "allow-stale"),
        (Self::NO_CLUSTER, "no-cluster"),
        (Self::ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    pub fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }

    /// The flag named `name`, exactly as Redis spells it.
    pub fn by_name(name: &str) -> Option<u8> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|&(f, _)| f)
    }

    pub fn with(self, flag: u8) -> ScriptFlags {
        ScriptFlags(self.0 | flag)
    }

    /// The names of the flags set, in FUNCTION LIST's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |&(f, _)| self.has(f))
            .map(|(_, n)| n)
    }

    /// A script command's flags as the connection checks them before it
    /// runs, given what its script declared, as Redis 7.0 derives them: it
    /// is a write (and subject to `maxmemory`) unless `no-writes`, subject
    /// to `maxmemory` unless `allow-oom` too, and runs on a stale replica
    /// only with `allow-stale`.
    fn command_flags(self, table_flags: u32) -> u32 {
        let mut f = table_flags & !(flags::STALE | flags::DENYOOM | flags::WRITE);
        if !self.has(Self::NO_WRITES) {
            f |= flags::WRITE;
            if !self.has(Self::ALLOW_OOM) {
                f |= flags::DENYOOM;
            }
        }
        if self.has(Self::ALLOW_STALE) {
            f |= flags::STALE;
        }
        f
    }
}

/// An EVAL script's shebang line (`#!lua [flags=f1,f2,...]`): its flags
/// and its length (the line, not its newline), or None for a script
/// without one (Redis 7.0's compatibility mode). The error is Redis's.
pub fn shebang(body: &[u8]) -> Result<Option<(ScriptFlags, usize)>, Error> {
    if !body.starts_with(b"#!") {
        return Ok(None);
    }
    let Some(len) = body.iter().position(|&c| c == b'\n') else {
        return Err(Error::Static("ERR Invalid script shebang"));
    };
    let line = String::from_utf8_lossy(&body[..len]);
    let parts = crate::host::config::split_args(&line)
        .filter(|p| !p.is_empty())
        .ok_or(Error::Static("ERR Invalid engine in script shebang"))?;
    if parts[0] != "#!lua" {
        return Err(Error::Other(format!(
            "ERR Unexpected engine in script shebang: {}",
            parts[0]
        )));
    }
    let mut declared = ScriptFlags::default();
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(Error::Other(format!("ERR Unknown lua shebang option: {p}")));
        };
        for name in list.split(',').filter(|_| !list.is_empty()) {
            let f = ScriptFlags::by_name(name).ok_or_else(|| {
                Error::Other(format!("ERR Unexpected flag in script shebang: {name}"))
            })?;
            declared = declared.with(f);
        }
    }
    Ok(Some((declared, len)))
}

// FUNCTION's registry (FUNCTION itself is `function.rs`): kept here, in
// the cache every thread reads, so that FCALL finds a function without
// FUNCTION's module.

/// Every library, by name, and the version of this state.
pub struct Libs {
    pub(super) version: u64,
    pub(super) by_name: BTreeMap<String, Library>,
}

/// One library: its code as loaded, and what it registered.
#[derive(Clone)]
pub(super) struct Library {
    pub(super) code: Arc<Vec<u8>>,
    pub(super) functions: Vec<FunctionMeta>,
}

/// One function of a library, as FUNCTION LIST shows it.
#[derive(Clone)]
pub(super) struct FunctionMeta {
    pub name: String,
    pub description: Option<String>,
    pub flags: ScriptFlags,
}

impl Libs {
    pub(super) fn new() -> Libs {
        Libs {
            version: 1,
            by_name: BTreeMap::new(),
        }
    }

    /// The function called `name`, in any case.
    pub(super) fn function(&self, name: &[u8]) -> Option<&FunctionMeta> {
        self.by_name
            .values()
            .flat_map(|l| l.functions.iter())
            .find(|f| f.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// The version and every library's code, for a thread to load.
    pub(super) fn snapshot(&self) -> (u64, Vec<Arc<Vec<u8>>>) {
        (
            self.version,
            self.by_name.values().map(|l| Arc::clone(&l.code)).collect(),
        )
    }

    /// Adds `new` (libraries by name), replacing those of the same name
    /// when `replace`; refused, with nothing changed, when a name is taken
    /// (`quoted`: Redis words LOAD's refusal with quotes, RESTORE's
    /// without) or a function name would be there twice.
    pub(super) fn join(
        &mut self,
        new: BTreeMap<String, Library>,
        replace: bool,
        quoted: bool,
    ) -> Result<(), Error> {
        for name in new.keys() {
            if self.by_name.contains_key(name) && !replace {
                return Err(Error::Other(if quoted {
                    format!("ERR Library '{name}' already exists")
                } else {
                    format!("ERR Library {name} already exists")
                }));
            }
        }
        for f in new.values().flat_map(|l| l.functions.iter()) {
            let taken = self
                .by_name
                .iter()
                .filter(|(lib, _)| !new.contains_key(*lib))
                .flat_map(|(_, l)| l.functions.iter())
                .any(|g| g.name.eq_ignore_ascii_case(&f.name));
            if taken {
                return Err(Error::Other(format!(
                    "ERR Function {} already exists",
                    f.name
                )));
            }
        }
        self.by_name.extend(new);
        self.version += 1;
        Ok(())
    }
}

/// A library's code after its metadata line, from that line's newline on
/// (so that Lua's line numbers are the library's).
pub(super) fn body_of(code: &[u8]) -> &[u8] {
    let end = code.iter().position(|&c| c == b'\n').unwrap_or(code.len());
    &code[end..]
}

/// The scripts EVAL and SCRIPT LOAD were given, by SHA-1 (hex), shared by
/// all threads; each thread compiles what it runs. And each thread's
/// running script, for SCRIPT KILL.
pub struct Cache {
    bodies: std::sync::RwLock<HashMap<String, Arc<Vec<u8>>>>,
    running: Box<[Arc<Running>]>,
    /// Bumped by SCRIPT FLUSH: each thread then drops what it compiled.
    generation: std::sync::atomic::AtomicU64,
    /// How many scripts run now, on all threads (0: no command pays more
    /// than this one load to know nobody is busy).
    busy: std::sync::atomic::AtomicUsize,
    /// FUNCTION libraries, and a version every change bumps (each thread
    /// reloads its copies when it sees a new one).
    pub(super) libs: std::sync::RwLock<Libs>,
}

/// One thread's running script, as SCRIPT KILL sees it from any thread.
#[derive(Default)]
pub struct Running {
    now: AtomicBool,
    /// When it started (ms), for `-BUSY` replies.
    since: std::sync::atomic::AtomicU64,
    /// It is a FUNCTION's function (FUNCTION KILL rather than SCRIPT KILL).
    func: AtomicBool,
    /// It ran a write command: killing it would leave half its effects.
    wrote: AtomicBool,
    /// SCRIPT KILL asked it to stop (checked every `KILL_CHECK_EVERY`
    /// Lua instructions).
    kill: AtomicBool,
    /// A function's name and its FCALL, for FUNCTION STATS (scripts leave
    /// it empty: EVAL pays no lock).
    call: std::sync::Mutex<Option<(String, Vec<Vec<u8>>)>>,
}

/// The -BUSY answers while a script, or a function, runs past the threshold.
const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// How many Lua instructions run between two looks at the kill flag.
const KILL_CHECK_EVERY: u32 = 100_000;

impl Cache {
    /// The `-BUSY` error for a command that is not allowed while a script
    /// has run longer than `threshold_ms`, if one has.
    pub fn busy_error(&self, threshold_ms: impl FnOnce() -> u64) -> Option<&'static str> {
        if self.busy.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let limit = threshold_ms();
        let now = now_ms();
        let r = self.running.iter().find(|r| {
            r.now.load(Ordering::Acquire)
                && now.saturating_sub(r.since.load(Ordering::Relaxed)) >= limit
        })?;
        Some(if r.func.load(Ordering::Relaxed) {
            BUSY_FUNCTION
        } else {
            BUSY_SCRIPT
        })
    }

    pub fn new(threads: usize) -> Cache {
        Cache {
            bodies: std::sync::RwLock::new(HashMap::new()),
            running: (0..threads).map(|_| Arc::new(Running::default())).collect(),
            busy: std::sync::atomic::AtomicUsize::new(0),
            generation: std::sync::atomic::AtomicU64::new(0),
            libs: std::sync::RwLock::new(Libs::new()),
        }
    }

    /// The function running now, if one is: its name, its FCALL, and when
    /// it started (ms), for FUNCTION STATS.
    pub(super) fn running_function(&self) -> Option<(String, Vec<Vec<u8>>, u64)> {
        self.running.iter().find_map(|r| {
            let (name, call) = r.call.lock().ok()?.clone()?;
            r.now
                .load(Ordering::Acquire)
                .then(|| (name, call, r.since.load(Ordering::Relaxed)))
        })
    }

    fn get(&self, sha: &str) -> Option<Arc<Vec<u8>>> {
        self.bodies.read().ok()?.get(sha).cloned()
    }

    fn insert(&self, sha: String, body: Arc<Vec<u8>>) {
        if let Ok(mut b) = self.bodies.write() {
            b.insert(sha, body);
        }
    }

    fn contains(&self, sha: &str) -> bool {
        self.bodies.read().is_ok_and(|b| b.contains_key(sha))
    }

    fn clear(&self) {
        if let Ok(mut b) = self.bodies.write() {
            b.clear();
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

pub use super::script_api::sha1_hex;

/// Which keys a running script may touch.
#[derive(Clone)]
enum Allowed {
    /// Any key of this shard (of `shards`).
    Shard { id: usize, shards: usize },
    /// Only these.
    Keys(Vec<Vec<u8>>),
}

impl Allowed {
    fn permits(&self, key: &[u8]) -> bool {
        match self {
            Allowed::Shard { id, shards } => {
                *shards == 1 || usize::from(commands::slot::key_slot(key)) % shards == *id
            }
            Allowed::Keys(keys) => keys.iter().any(|k| k == key),
        }
    }
}

/// One thread's interpreter and what it compiled.
struct Vm {
    lua: Lua,
    /// Compiled scripts by SHA-1, as of the cache's `generation`: a Lua
    /// table, not Rust handles, since mlua keeps each live handle on one
    /// Lua stack of at most ~8,000 slots (Lua 5.1's LUAI_MAXCSTACK); a
    /// handle per script crashed the server at the 7,488th distinct EVAL.
    funcs: Table,
    generation: u64,
    /// Holds `raw`, the per-run command function the `redis.call` and
    /// `redis.pcall` wrappers reach.
    hooks: Table,
    /// Runs a script function under `pcall`: (ok, value).
    runner: Function,
    /// The globals scripts read (KEYS and ARGV are set here per run).
    globals: Table,
    /// The read-only environment scripts run in.
    env: Table,
    /// Makes the environment a FUNCTION library loads (and later runs) in.
    library_env: Function,
    /// Start and end of a library's load (the end returns what the code
    /// registered).
    load_begin: Function,
    load_end: Function,
    /// The library registry's version these functions were loaded at.
    lib_version: u64,
    /// FUNCTION libraries' functions, by lowercase name (FCALL's names
    /// are case-insensitive, as in Redis).
    functions: HashMap<String, Function>,
}

thread_local! {
    static VM: RefCell<Option<Vm>> = const { RefCell::new(None) };
    /// The kill flag of the script running on this thread.
    static KILL: RefCell<Option<Arc<Running>>> = const { RefCell::new(None) };
    /// The running script was stopped by SCRIPT KILL.
    static KILLED: Cell<bool> = const { Cell::new(false) };
    /// The running script let other tasks run (see busy scripts).
    static BUSY_TURNED: Cell<bool> = const { Cell::new(false) };
    /// While a FUNCTION library's code runs: when it must have ended (ms;
    /// 0: no load under way).
    static LOAD_DEADLINE: Cell<u64> = const { Cell::new(0) };
}

/// How long a library's code may run when it is loaded (Redis's fixed
/// limit), and what ends one that runs longer.
const LOAD_TIMEOUT_MS: u64 = 500;
const LOAD_TIMEOUT_MSG: &str = "FUNCTION LOAD timeout";

/// Why a killed script ended.
const KILLED_MSG: &str = "ERR Script killed by user with SCRIPT KILL...";

/// Lua set up once per interpreter: the `redis` table (its `call` and
/// `pcall` go through `hooks.raw`, which each run sets), the libraries
/// Redis leaves out removed, and globals made read-only.
const PRELUDE: &str = r#"
local hooks = ...
-- `call`, `pcall` and `acl_check_cmd` are set for each run (`run_in`);
-- `hooks.install` adds the functions of `script_api.rs`.
local redis = {
  log = function(level, ...) end,
  set_repl = function() end,
  replicate_commands = function() return true end,
  breakpoint = function() return false end,
  debug = function() end,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REPL_NONE = 0, REPL_AOF = 1, REPL_SLAVE = 2, REPL_REPLICA = 2, REPL_ALL = 3,
  REDIS_VERSION = hooks.version, REDIS_VERSION_NUM = hooks.version_num,
}
-- Scripts see globals through an empty table whose reads come from G
-- and whose writes fail; the library tables are read-only the same way.
local protected = setmetatable({}, { __mode = 'k' })
local function refuse() error('Attempt to modify a readonly table', 2) end
local function guard_of()
  local g = setmetatable({}, { __newindex = refuse })
  protected[g] = true
  return g
end
local function readonly(t)
  local proxy = setmetatable({}, { __index = t, __newindex = refuse, __metatable = guard_of() })
  protected[proxy] = true
  return proxy
end
-- cjson, as Redis ships it (the commonly used part), written in Lua.
local cjson = {}
do
  local null = newproxy(false)
  cjson.null = null
  local max_enc, max_dec, invalid_ok = 1000, 1000, false
  local function setting(cur, v) if v ~= nil then return v end return cur end
  function cjson.encode_max_depth(d) max_enc = setting(max_enc, d) return max_enc end
  function cjson.decode_max_depth(d) max_dec = setting(max_dec, d) return max_dec end
  function cjson.encode_invalid_numbers(v) invalid_ok = setting(invalid_ok, v) return invalid_ok end
  function cjson.decode_invalid_numbers(v) return true end
  function cjson.encode_keep_buffer(v) return true end
  function cjson.encode_number_precision(v) return 14 end
  function cjson.encode_sparse_array() return false, 2, 10 end
  local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['/'] = '\\/', ['\b'] = '\\b',
    ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
  local function quote(str)
    return '"' .. string.gsub(str, '[%c"\\/]', function(c)
      return escapes[c] or string.format('\\u%04x', string.byte(c))
    end) .. '"'
  end
  local function number(n)
    if n ~= n or n == math.huge or n == -math.huge then
      if not invalid_ok then error('Cannot serialise number: must not be NaN or Inf', 0) end
      if n ~= n then return 'nan' end
      return n > 0 and 'inf' or '-inf'
    end
    return string.format('%.14g', n)
  end
  local encode
  local function encode_table(t, depth)
    if depth > max_enc then
      error('Cannot serialise, excessive nesting (' .. depth .. ')', 0)
    end
    local max, count, array = 0, 0, true
    for k in pairs(t) do
      if type(k) == 'number' and k > 0 and math.floor(k) == k then
        if k > max then max = k end
        count = count + 1
      else
        array = false
      end
    end
    if array and max > 0 then
      if max > 10 and max > count * 2 then
        error('Cannot serialise table: excessively sparse array', 0)
      end
      local parts = {}
      for i = 1, max do parts[i] = encode(t[i], depth + 1) end
      return '[' .. table.concat(parts, ',') .. ']'
    end
    local parts = {}
    for k, v in pairs(t) do
      local kt = type(k)
      if kt == 'number' then k = number(k)
      elseif kt ~= 'string' then
        error('Cannot serialise table: table key must be a number or string', 0)
      end
      parts[#parts + 1] = quote(k) .. ':' .. encode(v, depth + 1)
    end
    return '{' .. table.concat(parts, ',') .. '}'
  end
  encode = function(v, depth)
    local t = type(v)
    if t == 'string' then return quote(v)
    elseif t == 'number' then return number(v)
    elseif t == 'boolean' then return tostring(v)
    elseif t == 'nil' or v == null then return 'null'
    elseif t == 'table' then return encode_table(v, depth)
    end
    error('Cannot serialise ' .. t .. ': type not supported', 0)
  end
  function cjson.encode(v)
    local ok, r = pcall(encode, v, 1)
    if not ok then error(r, 2) end
    return r
  end
  local function fail(str, i, what)
    error(string.format('Expected %s but found invalid token at character %d', what, i), 0)
  end
  local function skip(str, i)
    return string.find(str, '[^ \t\r\n]', i) or #str + 1
  end
  local decode_value
  local function utf8(cp)
    if cp < 0x80 then return string.char(cp) end
    if cp < 0x800 then
      return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
    end
    if cp < 0x10000 then
      return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40,
        0x80 + cp % 0x40)
    end
    return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
      0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  local unescape = { b = '\b', f = '\f', n = '\n', r = '\r', t = '\t', ['"'] = '"',
    ['\\'] = '\\', ['/'] = '/' }
  local function decode_string(str, i)
    local parts, j = {}, i + 1
    while true do
      local k = string.find(str, '["\\]', j)
      if not k then fail(str, i, 'string end') end
      parts[#parts + 1] = string.sub(str, j, k - 1)
      if string.sub(str, k, k) == '"' then return table.concat(parts), k + 1 end
      local e = string.sub(str, k + 1, k + 1)
      if e == 'u' then
        local hex = string.sub(str, k + 2, k + 5)
        local cp = tonumber(hex, 16)
        if not cp or #hex < 4 then fail(str, k, 'unicode escape') end
        j = k + 6
        if cp >= 0xD800 and cp <= 0xDBFF and string.sub(str, j, j + 1) == '\\u' then
          local lo = tonumber(string.sub(str, j + 2, j + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            j = j + 6
          end
        end
        parts[#parts + 1] = utf8(cp)
      elseif unescape[e] then
        parts[#parts + 1] = unescape[e]
        j = k + 2
      else
        fail(str, k, 'valid escape')
      end
    end
  end
  decode_value = function(str, i, depth)
    i = skip(str, i)
    local c = string.sub(str, i, i)
    if c == '{' or c == '[' then
      if depth > max_dec then
        error('Found too many nested data structures (' .. depth .. ') at character ' .. i, 0)
      end
      local t, close = {}, (c == '{') and '}' or ']'
      i = skip(str, i + 1)
      if string.sub(str, i, i) == close then return t, i + 1 end
      local n = 0
      while true do
        if c == '{' then
          if string.sub(str, i, i) ~= '"' then fail(str, i, 'object key string') end
          local k
          k, i = decode_string(str, i)
          i = skip(str, i)
          if string.sub(str, i, i) ~= ':' then fail(str, i, 'colon') end
          t[k], i = decode_value(str, i + 1, depth + 1)
        else
          n = n + 1
          t[n], i = decode_value(str, i, depth + 1)
        end
        i = skip(str, i)
        local d = string.sub(str, i, i)
        if d == close then return t, i + 1 end
        if d ~= ',' then fail(str, i, "comma or " .. close) end
        i = skip(str, i + 1)
      end
    elseif c == '"' then
      return decode_string(str, i)
    end
    local num = string.match(str, '^-?%d+%.?%d*[eE]?[-+]?%d*', i)
    if num and #num > 0 then
      local v = tonumber(num)
      if v then return v, i + #num end
    end
    for word, v in pairs({ ['true'] = true, ['false'] = false, ['null'] = null }) do
      if string.sub(str, i, i + #word - 1) == word then return v, i + #word end
    end
    fail(str, i, 'value')
  end
  function cjson.decode(str)
    if type(str) ~= 'string' then error('bad argument #1 to \'decode\' (string expected)', 2) end
    local ok, v = pcall(function()
      local v, i = decode_value(str, 1, 1)
      i = skip(str, i)
      if i <= #str then fail(str, i, 'the end') end
      return v
    end)
    if not ok then error(v, 2) end
    return v
  end
end
local G = {}
for k, v in pairs(_G) do G[k] = v end
G.print, G.dofile, G.loadfile, G.module, G.require = nil, nil, nil, nil, nil
G.os = readonly({ clock = os.clock })
hooks.install(G, redis, readonly)
G.string = readonly(string)
G.table = readonly(table)
G.math = readonly(math)
G.redis = readonly(redis)
G.cjson = readonly(cjson)
G.bit = readonly(hooks.bit)
local real_setmetatable, real_rawset = setmetatable, rawset
G.setmetatable = function(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 2) end
  return real_setmetatable(t, mt)
end
G.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 2) end
  return real_rawset(t, k, v)
end
local env = setmetatable({}, {
  __index = function(_, k)
    local v = G[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = refuse,
  __metatable = guard_of(),
})
protected[env] = true
G._G = env
local function runner(f, ...)
  return hooks.run(f, ...)
end
-- FUNCTION libraries. A library's code runs once per FUNCTION LOAD, in an
-- environment of its own whose globals are, while it loads, only Redis's
-- load-time API (`redis.register_function`, `redis.log`, the LOG_* and
-- version constants), and afterwards, when its functions run, the globals
-- scripts see. `loading` holds the registrations of the load under way (nil
-- otherwise: register_function then refuses).
local loading = nil
local function missing(k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 3)
end
-- A read-only view of `t` whose missing names are errors.
local function strict(t)
  local p = setmetatable({}, {
    __index = function(_, k)
      local v = t[k]
      if v == nil then missing(k) end
      return v
    end,
    __newindex = refuse,
    __metatable = guard_of(),
  })
  protected[p] = true
  return p
end
local known_flags = { ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true,
  ['no-cluster'] = true, ['allow-cross-slot-keys'] = true }
local function fail(msg) error(msg, 0) end
-- Strings, as the C API counts them: numbers too (taken as their text).
local function isstr(v) local t = type(v) return t == 'string' or t == 'number' end
local function register(...)
  if not loading then fail('redis.register_function can only be called on FUNCTION LOAD command') end
  local n = select('#', ...)
  if n < 1 or n > 2 then fail('wrong number of arguments to redis.register_function') end
  local a, b = ...
  local name, cb, flags, desc
  if n == 1 then
    if type(a) ~= 'table' then
      fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in pairs(a) do
      if k == 'function_name' then
        if not isstr(v) then fail('function_name argument given to redis.register_function must be a string') end
        name = tostring(v)
      elseif k == 'description' then
        if not isstr(v) then fail('description argument given to redis.register_function must be a string') end
        desc = tostring(v)
      elseif k == 'callback' then
        if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
        cb = v
      elseif k == 'flags' then
        if type(v) ~= 'table' then fail('flags argument to redis.register_function must be a table representing function flags') end
        flags = {}
        for _, f in pairs(v) do
          if not isstr(f) or not known_flags[tostring(f)] then fail('unknown flag given') end
          flags[#flags + 1] = tostring(f)
        end
      else
        fail('unknown argument given to redis.register_function')
      end
    end
    if not name then fail('redis.register_function must get a function name argument') end
    if not cb then fail('redis.register_function must get a callback argument') end
  else
    if not isstr(a) then fail('first argument to redis.register_function must be a string') end
    if type(b) ~= 'function' then fail('second argument to redis.register_function must be a function') end
    name, cb = tostring(a), b
  end
  if not string.find(name, '^[%w_]+$') then
    fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  -- Within a library names are told apart by case, as in Redis.
  if loading.seen[name] then fail('Function already exists in the library') end
  loading.seen[name] = true
  loading.list[#loading.list + 1] = { name, cb, flags or {}, desc }
end
local load_api = { redis = strict({
  register_function = register,
  log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE,
  LOG_NOTICE = redis.LOG_NOTICE, LOG_WARNING = redis.LOG_WARNING,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}) }
-- A new library's environment.
local function library_env()
  local e = setmetatable({}, {
    __index = function(_, k)
      local v
      if loading then v = load_api[k] else v = G[k] end
      if v == nil then missing(k) end
      return v
    end,
    __newindex = refuse,
    __metatable = guard_of(),
  })
  protected[e] = true
  return e
end
-- A load begins (registrations are collected from here) and ends (what
-- was registered, in order; register_function refuses from then on). The
-- code runs between the two, called from Rust, so that an error (the load
-- timeout included) reaches Rust as it was raised.
local function load_begin()
  loading = { list = {}, seen = {} }
end
local function load_end()
  local state = loading
  loading = nil
  return state and state.list or {}
end
return runner, G, env, library_env, load_begin, load_end
"#;

fn new_vm() -> mlua::Result<Vm> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::OS,
        LuaOptions::new(),
    )?;
    let hooks = lua.create_table()?;
    script_api::install(&lua, &hooks)?;
    // SAFETY: the trampolines only move values on the Lua stack and call
    // the functions each run registers (see `trampoline`).
    let (call, pcall) = unsafe {
        (
            lua.create_c_function(call_trampoline)?,
            lua.create_c_function(pcall_trampoline)?,
        )
    };
    hooks.raw_set("call", call)?;
    hooks.raw_set("pcall", pcall)?;
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(KILL_CHECK_EVERY),
        kill_hook,
    );
    let version = crate::host::REDIS_VERSION;
    let num = version
        .split('.')
        .fold(0i64, |n, part| n << 8 | part.parse::<i64>().unwrap_or(0));
    hooks.raw_set("version", version)?;
    hooks.raw_set("version_num", num)?;
    let (runner, globals, env, library_env, load_begin, load_end): (
        Function,
        Table,
        Table,
        Function,
        Function,
        Function,
    ) = lua.load(PRELUDE).set_name("=prelude").call(hooks.clone())?;
    let funcs = lua.create_table()?;
    Ok(Vm {
        lua,
        funcs,
        generation: 0,
        hooks,
        runner,
        globals,
        env,
        library_env,
        load_begin,
        load_end,
        lib_version: 0,
        functions: HashMap::new(),
    })
}

/// Busy scripts. A script holds its thread while it runs; once it has run
/// longer than `busy-reply-threshold`, each look at its kill flag (every
/// [`KILL_CHECK_EVERY`] Lua instructions, about a millisecond) also lets the
/// thread's other connections in, as Redis does: one turn of the reactor
/// (`rt::Reactor::turn_now`: ready sockets, the cross-thread channels, the
/// tasks ready to run), with the shard under [`BUSY_HOLD`] so that nothing
/// but the script touches it. Those connections then get `-BUSY` (the
/// connection loop's check, as on every other thread), or run what Redis
/// allows during a busy script: SCRIPT KILL and FUNCTION KILL (which set the
/// flag this hook reads right after), SHUTDOWN NOSAVE, AUTH, HELLO, QUIT.
/// Requests other threads send meanwhile wait in the shard's queue, and run
/// when the script ends ([`run_deferred_after`]). No busy-polling: the turn
/// never sleeps, and happens only while the script computes anyway.
fn serve_others_while_busy() {
    let Some(since) = KILL.with(|k| k.borrow().as_ref().map(|r| r.since.load(Ordering::Relaxed)))
    else {
        return;
    };
    let Some(w) = crate::engine::worker::current() else {
        return;
    };
    if now_ms().saturating_sub(since) < w.shared.config.busy_reply_threshold() {
        return;
    }
    let held = w.held_by.replace(BUSY_HOLD);
    rt::current().turn_now();
    w.held_by.set(held);
    BUSY_TURNED.with(|b| b.set(true));
}

/// Runs the requests that waited while a busy script let the thread's
/// other tasks run (see [`serve_others_while_busy`]).
fn run_deferred_after(w: &Worker) {
    if BUSY_TURNED.with(|b| b.replace(false)) {
        w.router.run_deferred(w);
    }
}

/// The interpreter's hook, every [`KILL_CHECK_EVERY`] instructions: lets the
/// thread's other connections in while the script is busy, and stops it
/// once SCRIPT KILL asked. A killed script's error could be caught by
/// `pcall`, so from then on the hook runs at every instruction and raises it
/// again, until it escapes the last `pcall` (as Redis does).
fn kill_hook(lua: &Lua, _: mlua::Debug) -> mlua::Result<VmState> {
    // A library that loads past its time is stopped (nothing at load time
    // can catch the error: `pcall` is not among the load-time globals).
    let deadline = LOAD_DEADLINE.with(Cell::get);
    if deadline != 0 && now_ms() >= deadline {
        return Err(mlua::Error::RuntimeError(LOAD_TIMEOUT_MSG.into()));
    }
    let killed = || {
        KILL.with(|k| {
            k.borrow()
                .as_ref()
                .is_some_and(|r| r.kill.load(Ordering::Relaxed))
        })
    };
    let mut kill = killed();
    if !kill {
        serve_others_while_busy();
        kill = killed();
    }
    if kill {
        if !KILLED.with(|k| k.replace(true)) {
            lua.set_hook(HookTriggers::new().every_nth_instruction(1), kill_hook);
        }
        return Err(mlua::Error::RuntimeError(KILLED_MSG.into()));
    }
    Ok(VmState::Continue)
}

/// Runs `f` with this thread's interpreter (made on first use).
fn with_vm<R>(f: impl FnOnce(&mut Vm) -> R) -> Result<R, Error> {
    VM.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(new_vm().map_err(|e| Error::Other(format!("ERR cannot start Lua: {e}")))?);
        }
        match slot.as_mut() {
            Some(vm) => Ok(f(vm)),
            None => Err(Error::Static("ERR cannot start Lua")),
        }
    })
}

/// Compiles `body` (cached by `sha`); the error is Redis's reply text.
fn compile(vm: &mut Vm, sha: &str, body: &[u8]) -> Result<Function, String> {
    if let Ok(Some(f)) = vm.funcs.raw_get::<Option<Function>>(sha) {
        return Ok(f);
    }
    // A shebang line is no Lua: it goes, its newline stays, so that line
    // numbers hold (its errors were reported before this).
    let code = match shebang(body) {
        Ok(Some((_, len))) => &body[len..],
        _ => body,
    };
    let f = vm
        .lua
        .load(code)
        .set_name("@user_script")
        .set_environment(vm.env.clone())
        .into_function()
        .map_err(|e| {
            let msg = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => other.to_string(),
            };
            format!(
                "ERR Error compiling script (new function): {}",
                one_line(&msg)
            )
        })?;
    vm.funcs
        .raw_set(sha, f.clone())
        .map_err(|e| format!("ERR Error compiling script (new function): {e}"))?;
    Ok(f)
}

/// One function a library registered.
pub(super) struct Registered {
    pub name: String,
    pub callback: Function,
    pub flags: ScriptFlags,
    pub description: Option<String>,
}

/// Runs a FUNCTION library's code (`body`: what follows its `#!lua` line,
/// from that line's newline on, so that line numbers hold) in this
/// interpreter, at most [`LOAD_TIMEOUT_MS`], and returns the functions it
/// registered; the error is Redis's reply text.
fn run_library(vm: &Vm, body: &[u8]) -> Result<Vec<Registered>, String> {
    // A runtime error's own text, under the callback frames mlua wraps a
    // hook's or a Rust function's error in.
    fn text(e: &mlua::Error) -> String {
        match e {
            mlua::Error::RuntimeError(m) => m.clone(),
            mlua::Error::CallbackError { cause, .. } => text(cause),
            other => other.to_string(),
        }
    }
    let lua_err = |what: &str, e: mlua::Error| match e {
        mlua::Error::SyntaxError { message, .. } => format!("ERR {what}: {}", one_line(&message)),
        other => format!("ERR {what}: ERR {}", one_line(&text(&other))),
    };
    let registering = |e| lua_err("Error registering functions", e);
    let env: Table = vm.library_env.call(()).map_err(registering)?;
    let chunk = vm
        .lua
        .load(body)
        .set_name("@user_function")
        .set_environment(env)
        .into_function()
        .map_err(|e| lua_err("Error compiling function", e))?;
    vm.load_begin.call::<()>(()).map_err(registering)?;
    LOAD_DEADLINE.with(|d| d.set(now_ms() + LOAD_TIMEOUT_MS));
    let ran = chunk.call::<()>(());
    LOAD_DEADLINE.with(|d| d.set(0));
    let list: Table = vm.load_end.call(()).map_err(registering)?;
    ran.map_err(registering)?;
    let mut out = Vec::new();
    for entry in list.sequence_values::<Table>() {
        let entry = entry.map_err(registering)?;
        let name: String = entry.raw_get(1).map_err(registering)?;
        let callback: Function = entry.raw_get(2).map_err(registering)?;
        let names: Table = entry.raw_get(3).map_err(registering)?;
        let description: Option<String> = entry.raw_get(4).map_err(registering)?;
        let mut flags = ScriptFlags::default();
        for f in names.sequence_values::<String>() {
            let f = f.map_err(registering)?;
            match ScriptFlags::by_name(&f) {
                Some(bit) => flags = flags.with(bit),
                None => {
                    return Err("ERR Error registering functions: ERR unknown flag given".into())
                }
            }
        }
        out.push(Registered {
            name,
            callback,
            flags,
            description,
        });
    }
    Ok(out)
}

/// Runs a library's code on this thread's interpreter (FUNCTION LOAD,
/// RESTORE): what it registered, or Redis's error.
pub(super) fn load_here(body: &[u8]) -> Result<Vec<Registered>, Error> {
    with_vm(|vm| run_library(vm, body))?.map_err(Error::Other)
}

/// Brings this interpreter's FUNCTION libraries up to `libs` (version,
/// code of each library).
fn load_functions(vm: &mut Vm, libs: &(u64, Vec<Arc<Vec<u8>>>)) -> Result<(), Error> {
    if vm.lib_version == libs.0 {
        return Ok(());
    }
    let mut functions = HashMap::new();
    for code in &libs.1 {
        let body = body_of(code);
        for f in run_library(vm, body).map_err(Error::Other)? {
            functions.insert(f.name.to_ascii_lowercase(), f.callback);
        }
    }
    vm.functions = functions;
    vm.lib_version = libs.0;
    Ok(())
}

/// Checks that `body` compiles, on this thread (EVAL, SCRIPT LOAD).
fn check_compiles(sha: &str, body: &[u8]) -> Result<(), Error> {
    with_vm(|vm| compile(vm, sha, body).map(|_| ()))?.map_err(Error::Other)
}

/// A `redis.call` the caller's ACL refused: why, the command, its arguments.
type Refused = (
    crate::client::perms::Denied,
    &'static commands::CommandSpec,
    Vec<Vec<u8>>,
);

/// What one script run needs.
struct Run {
    table: &'static commands::CommandTable,
    /// A FUNCTION's function (named by `sha`) rather than a script.
    func: bool,
    /// The script's SHA-1, or the function's name.
    sha: String,
    /// The script cache's generation when it was called.
    generation: u64,
    /// For a function: the libraries' version and code, to load where it runs.
    libs: (u64, Vec<Arc<Vec<u8>>>),
    body: Arc<Vec<u8>>,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
    /// A function's whole FCALL, for FUNCTION STATS.
    argv: Vec<Vec<u8>>,
    db: usize,
    resp3: bool,
    /// Over maxmemory when it started: commands that may add data are
    /// refused until it writes.
    oom: bool,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: commands kept from scripts are not.
    allow_noscript: bool,
    /// Its error reply was counted in the error statistics already (a
    /// command's error it raised or returned).
    quiet_error: Cell<bool>,
    readonly: bool,
    /// On a read-only replica, for a client other than its master: writes
    /// are refused with `-READONLY`.
    replica_read_only: bool,
    /// On a replica serving stale data (`allow-stale`): only commands that
    /// allow that may run.
    stale: bool,
    /// Keep the commands run, for MONITOR.
    monitored: bool,
    /// The caller's permissions when it is restricted: `redis.call` runs
    /// as the script's caller (ACL).
    perms: Option<Arc<crate::client::perms::Perms>>,
    /// Calls the caller's ACL refused, for ACL LOG on the caller's thread.
    denied: RefCell<Vec<Refused>>,
    ran: RefCell<Vec<Vec<Vec<u8>>>>,
    /// The commands run (their table ids, none for an unknown command)
    /// and how each ended, for INFO commandstats and errorstats on the
    /// thread that ran them.
    calls: RefCell<Vec<(Option<usize>, Outcome)>>,
}

impl Run {
    /// Counts the script's commands in `w`'s command and error statistics.
    fn count_calls(&self, w: &Worker) {
        for (id, outcome) in self.calls.borrow().iter() {
            let id = id.unwrap_or(usize::MAX);
            match outcome {
                Outcome::Ran => w.stats.called(id),
                Outcome::Failed(err) => {
                    w.stats.called(id);
                    w.stats.failed(id);
                    w.stats.error_reply(err, 0);
                }
                Outcome::Rejected(err) => {
                    w.stats.rejected(id);
                    w.stats.error_reply(err, 0);
                }
            }
        }
    }
}

/// Commands a client may send while a script is busy.
pub fn allowed_while_busy(name: &str, argv: &[&[u8]]) -> bool {
    let sub = |s: &[u8]| argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(s));
    match name {
        // Redis 7.0's allow-busy commands.
        "auth" | "hello" | "quit" | "reset" | "multi" | "discard" | "watch" | "unwatch" => true,
        // Only SHUTDOWN NOSAVE: saving would serialise a half-run script's
        // effects, so Redis answers -BUSY to a plain SHUTDOWN.
        "shutdown" => argv[1..].iter().any(|a| a.eq_ignore_ascii_case(b"nosave")),
        "script" => sub(b"kill"),
        "function" => sub(b"kill") || sub(b"stats"),
        _ => false,
    }
}

/// EVAL and its forms (MONITOR shows them before the commands they run).
pub fn is_eval(name: &str) -> bool {
    matches!(
        name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Runs a script against `shard`, writing its reply to `out`.
fn run(
    shard: &mut Shard,
    busy: &std::sync::atomic::AtomicUsize,
    slot: &Arc<Running>,
    allowed: &Allowed,
    r: &Run,
    out: &mut Vec<u8>,
) {
    slot.wrote.store(false, Ordering::Relaxed);
    slot.kill.store(false, Ordering::Relaxed);
    slot.func.store(r.func, Ordering::Relaxed);
    slot.since.store(now_ms(), Ordering::Relaxed);
    if r.func {
        if let Ok(mut c) = slot.call.lock() {
            *c = Some((r.sha.clone(), r.argv.clone()));
        }
    }
    slot.now.store(true, Ordering::Release);
    busy.fetch_add(1, Ordering::Relaxed);
    KILL.with(|k| *k.borrow_mut() = Some(Arc::clone(slot)));
    KILLED.with(|k| k.set(false));
    // A script's writes are one MULTI/EXEC block in the journal, as Redis
    // propagates them (recorded here on its shard, or collected by the
    // caller over copies of keys on several shards).
    journal::begin_group(r.db);
    let res = with_vm(|vm| {
        let res = run_in(vm, shard, allowed, r, out);
        if KILLED.with(Cell::get) {
            // Back to a look every KILL_CHECK_EVERY instructions.
            vm.lua.set_hook(
                HookTriggers::new().every_nth_instruction(KILL_CHECK_EVERY),
                kill_hook,
            );
        }
        res
    });
    journal::end_group();
    KILL.with(|k| *k.borrow_mut() = None);
    slot.now.store(false, Ordering::Release);
    busy.fetch_sub(1, Ordering::Relaxed);
    if r.func {
        if let Ok(mut c) = slot.call.lock() {
            *c = None;
        }
    }
    slot.kill.store(false, Ordering::Relaxed);
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) => e.write(out),
        Err(e) => e.write(out),
    }
}

fn run_in(
    vm: &mut Vm,
    shard: &mut Shard,
    allowed: &Allowed,
    r: &Run,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    if vm.generation != r.generation {
        vm.funcs = vm
            .lua
            .create_table()
            .map_err(|e| Error::Other(format!("ERR {e}")))?;
        vm.generation = r.generation;
    }
    let f = if r.func {
        load_functions(vm, &r.libs)?;
        vm.functions
            .get(&r.sha.to_ascii_lowercase())
            .cloned()
            .ok_or(Error::Static("ERR Function not found"))?
    } else {
        compile(vm, &r.sha, &r.body).map_err(Error::Other)?
    };
    let lua = vm.lua.clone();
    let lua_err = |e: mlua::Error| Error::Other(format!("ERR {}", one_line(&e.to_string())));
    let g = vm.globals.clone();
    let list = |items: &[Vec<u8>]| -> mlua::Result<Table> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, it) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(it)?)?;
        }
        Ok(t)
    };
    let keys = list(&r.keys).map_err(lua_err)?;
    let args = list(&r.args).map_err(lua_err)?;
    if !r.func {
        g.raw_set("KEYS", keys.clone()).map_err(lua_err)?;
        g.raw_set("ARGV", args.clone()).map_err(lua_err)?;
    }
    let db = Cell::new(r.db);
    let now = now_ms();
    let shard = RefCell::new(shard);
    script_api::start_run();
    // `redis.call` raises a command's error, `redis.pcall` returns it.
    let run = |lua: &Lua, argv: Result<Vec<Vec<u8>>, CallError>| {
        call_command(lua, r, &mut shard.borrow_mut(), allowed, &db, now, argv)
    };
    let raise = |v: Result<Value, CallError>| match v {
        Ok(v) => Ok(v),
        Err((err, counted)) => Err(mlua::Error::external(lualib::Raised::ErrTable {
            err,
            counted,
        })),
    };
    let catch = |lua: &Lua, v: Result<Value, CallError>| match v {
        Ok(v) => Ok(v),
        Err((err, counted)) => {
            let t = lua.create_table()?;
            t.raw_set("err", err)?;
            if counted {
                t.raw_set("ignore_error_stats_update", true)?;
            }
            Ok(Value::Table(t))
        }
    };
    let result = lua.scope(|scope| {
        let redis: Table = vm.hooks.raw_get("redis")?;
        let call: Function = vm.hooks.raw_get("call")?;
        let pcall: Function = vm.hooks.raw_get("pcall")?;
        lua.set_named_registry_value(
            key(CALL_FEW),
            scope.create_function(|lua, args: MultiValue| raise(run(lua, command_args(&args))?))?,
        )?;
        lua.set_named_registry_value(
            key(CALL_MANY),
            scope.create_function(|lua, (n, t): (usize, Table)| {
                raise(run(lua, table_args(&t, n))?)
            })?,
        )?;
        lua.set_named_registry_value(
            key(PCALL_FEW),
            scope.create_function(|lua, args: MultiValue| {
                let v = run(lua, command_args(&args))?;
                catch(lua, v)
            })?,
        )?;
        lua.set_named_registry_value(
            key(PCALL_MANY),
            scope.create_function(|lua, (n, t): (usize, Table)| {
                let v = run(lua, table_args(&t, n))?;
                catch(lua, v)
            })?,
        )?;
        let acl = scope.create_function(|lua, args: MultiValue| acl_check_cmd(lua, r, args))?;
        redis.raw_set("call", call)?;
        redis.raw_set("pcall", pcall)?;
        redis.raw_set("acl_check_cmd", acl)?;
        let (ok, value): (bool, Value) = if r.func {
            vm.runner.call((f.clone(), keys, args))?
        } else {
            vm.runner.call(f.clone())?
        };
        for name in ["call", "pcall", "acl_check_cmd"] {
            redis.raw_set(name, Value::Nil)?;
        }
        for k in [CALL_FEW, CALL_MANY, PCALL_FEW, PCALL_MANY] {
            lua.unset_named_registry_value(key(k))?;
        }
        if ok {
            // A command's error handed back (`return redis.pcall(...)`) was
            // counted when the command failed.
            if let Value::Table(t) = &value {
                let err = matches!(t.raw_get::<Value>("err"), Ok(Value::String(_)));
                let counted = t.raw_get::<Option<bool>>("ignore_error_stats_update");
                r.quiet_error
                    .set(err && counted.ok().flatten().unwrap_or(false));
            }
            script_api::to_reply(&value, out, r.resp3, script_api::resp3(), 0);
            return Ok(());
        }
        // The error: a table from redis.call (or error({err=...})), another
        // value from Lua, or SCRIPT KILL's.
        let (msg, line) = if KILLED.with(Cell::get) {
            (KILLED_MSG.to_string(), script_api::script_line(&lua))
        } else {
            let (msg, counted) = script_api::escaped_error(&lua, &value)?;
            r.quiet_error.set(counted);
            (msg, script_api::error_line())
        };
        let source = if r.func {
            "user_function"
        } else {
            "user_script"
        };
        encode::error(
            out,
            one_line(&format!("{msg} script: {}, on @{source}:{line}.", r.sha)).as_bytes(),
        );
        Ok(())
    });
    let _ = g.raw_set("KEYS", Value::Nil);
    let _ = g.raw_set("ARGV", Value::Nil);
    match result {
        // Killed where no `pcall` of the runner could catch it (the hook
        // raises the error at every instruction once killed).
        Err(_) if KILLED.with(Cell::get) => {
            let source = if r.func {
                "user_function"
            } else {
                "user_script"
            };
            encode::error(
                out,
                format!("{KILLED_MSG} script: {}, on @{source}:1.", r.sha).as_bytes(),
            );
            Ok(())
        }
        other => other.map_err(lua_err),
    }
}

/// `s` fit for an error reply: its first line (a Lua error may carry a
/// stack traceback), with no CR or LF left.
fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or("").replace('\r', " ")
}

/// What a script's command ended with, for the statistics of the thread
/// it ran on (INFO commandstats and errorstats).
enum Outcome {
    Ran,
    /// It ran and replied this error (`-CODE ...`).
    Failed(Vec<u8>),
    /// It was refused before running, with this error.
    Rejected(Vec<u8>),
}

/// A failed `redis.call`: the error and whether it was counted in the
/// error statistics already (refused or failed commands are; a script's
/// bad arguments are counted when the script's error is).
type CallError = (String, bool);

/// A `redis.call` / `redis.pcall` / `redis.acl_check_cmd`'s arguments as a
/// command line.
fn command_args(args: &MultiValue) -> Result<Vec<Vec<u8>>, CallError> {
    if args.is_empty() {
        return Err(no_arguments());
    }
    args.iter().map(arg_bytes).collect()
}

/// The arguments of a `redis.call` with many of them, packed into a table
/// by the Lua side (see [`CALL_WRAPPER`]): read one at a time, so that no
/// more than one Lua value is held at once.
fn table_args(t: &Table, n: usize) -> Result<Vec<Vec<u8>>, CallError> {
    if n == 0 {
        return Err(no_arguments());
    }
    let mut argv = Vec::with_capacity(n);
    for i in 1..=n {
        let v: Value = t.raw_get(i).unwrap_or(Value::Nil);
        argv.push(arg_bytes(&v)?);
    }
    Ok(argv)
}

fn no_arguments() -> CallError {
    (
        "ERR Please specify at least one argument for this redis lib call".into(),
        false,
    )
}

fn arg_bytes(a: &Value) -> Result<Vec<u8>, CallError> {
    match a {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Integer(n) => Ok(number_arg(*n as f64).into_bytes()),
        Value::Number(n) => Ok(number_arg(*n).into_bytes()),
        _ => Err((
            "ERR Lua redis lib command arguments must be strings or integers".into(),
            false,
        )),
    }
}

/// `redis.call` and `redis.pcall` as scripts see them: C functions that
/// pass up to 64 arguments to the run's `few` function (registry key
/// [`CALL_FEW`] / [`PCALL_FEW`]) as they are, and more packed into one
/// table for its `many` one. mlua holds each Lua value it hands to Rust
/// on one stack of at most ~8,000 slots (Lua 5.1's LUAI_MAXCSTACK) and
/// aborts the process beyond it, and `redis.call('del', unpack(t))` may
/// pass 7,999 (Redis's own tests do). A C function, unlike a Lua wrapper,
/// stays on the stack under `return redis.call(...)` (Lua 5.1 tail-calls
/// only Lua functions), so an error's line is still the script's.
const CALL_FEW: &std::ffi::CStr = c"tessera.call.few";
const CALL_MANY: &std::ffi::CStr = c"tessera.call.many";
const PCALL_FEW: &std::ffi::CStr = c"tessera.pcall.few";
const PCALL_MANY: &std::ffi::CStr = c"tessera.pcall.many";

unsafe extern "C-unwind" fn call_trampoline(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    // SAFETY: called by Lua as a C function with its own stack frame.
    unsafe { trampoline(l, CALL_FEW, CALL_MANY) }
}

unsafe extern "C-unwind" fn pcall_trampoline(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    // SAFETY: as above.
    unsafe { trampoline(l, PCALL_FEW, PCALL_MANY) }
}

/// # Safety
/// `l` is the running state, inside a C function's frame (LUA_MINSTACK
/// free slots: this pushes at most four). An error raised by the callee
/// unwinds through this frame, which holds nothing to drop.
unsafe fn trampoline(
    l: *mut mlua::ffi::lua_State,
    few: &std::ffi::CStr,
    many: &std::ffi::CStr,
) -> std::ffi::c_int {
    use mlua::ffi;
    unsafe {
        let n = ffi::lua_gettop(l);
        if n <= 64 {
            ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, few.as_ptr());
            ffi::lua_insert(l, 1);
            ffi::lua_call(l, n, ffi::LUA_MULTRET);
            return ffi::lua_gettop(l);
        }
        ffi::lua_createtable(l, n, 0);
        for i in 1..=n {
            ffi::lua_pushvalue(l, i);
            ffi::lua_rawseti(l, n + 1, ffi::lua_Integer::from(i));
        }
        ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, many.as_ptr());
        ffi::lua_pushinteger(l, ffi::lua_Integer::from(n));
        ffi::lua_pushvalue(l, n + 1);
        ffi::lua_call(l, 2, ffi::LUA_MULTRET);
        ffi::lua_gettop(l) - (n + 1)
    }
}

/// The registry key of a trampoline's target, as mlua names it.
fn key(c: &std::ffi::CStr) -> &str {
    c.to_str().unwrap_or_default()
}

/// `redis.call`/`redis.pcall`: runs one command, returning its reply as a
/// Lua value, or its error.
fn call_command(
    lua: &Lua,
    r: &Run,
    shard: &mut Shard,
    allowed: &Allowed,
    db: &Cell<usize>,
    now: u64,
    argv: Result<Vec<Vec<u8>>, CallError>,
) -> mlua::Result<Result<Value, CallError>> {
    let argv = match argv {
        Ok(a) => a,
        Err(e) => return Ok(Err(e)),
    };
    // A refusal is counted as the command's (when there is one) and in the
    // error statistics, as Redis does.
    let reject = |id: Option<usize>, msg: &str| {
        let mut err = b"-".to_vec();
        err.extend_from_slice(msg.as_bytes());
        r.calls.borrow_mut().push((id, Outcome::Rejected(err)));
        Ok(Err((msg.to_string(), true)))
    };
    let Some(spec) = r.table.lookup(&argv[0]) else {
        return reject(None, "ERR Unknown Redis command called from script");
    };
    let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    if r.monitored && !spec.has(flags::ADMIN) {
        r.ran.borrow_mut().push(argv.clone());
    }
    let id = Some(spec.id);
    if !spec.arity_ok(refs.len()) {
        return reject(
            id,
            "ERR Wrong number of args calling Redis command from script",
        );
    }
    let denied = spec.has(flags::NOSCRIPT) && !r.allow_noscript;
    if denied || spec.has(flags::PUBSUB) && spec.name != "publish" {
        return reject(id, "ERR This Redis command is not allowed from script");
    }
    if let Some((d, _)) = r
        .perms
        .as_ref()
        .and_then(|p| crate::features::acl::denial(p, spec, &refs))
    {
        use crate::client::perms::Denied;
        r.denied.borrow_mut().push((d, spec, argv.clone()));
        return reject(id, match d {
            Denied::Command => {
                "ERR The user executing the script can't run this command or subcommand"
            }
            Denied::Key(_) => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
            Denied::Channel(_) => "ERR The user executing the script can't publish to the channel mentioned in the command",
        });
    }
    if r.readonly && spec.has(flags::WRITE) {
        return reject(
            id,
            "ERR Write commands are not allowed from read-only scripts.",
        );
    }
    if r.replica_read_only && spec.has(flags::WRITE) {
        return reject(id, crate::features::replication::READONLY);
    }
    let wrote = || {
        KILL.with(|k| {
            k.borrow()
                .as_ref()
                .is_some_and(|run| run.wrote.load(Ordering::Relaxed))
        })
    };
    // Over maxmemory when the script started: a command that may add
    // data is refused until the script has written (then it must finish).
    if r.oom && spec.has(flags::DENYOOM) && !wrote() {
        return reject(id, commands::error::OOM);
    }
    if r.stale && !spec.has(flags::STALE) {
        return reject(id, "ERR Can not execute the command on a stale replica");
    }
    if spec.has(flags::WRITE) {
        KILL.with(|k| {
            if let Some(run) = k.borrow().as_ref() {
                run.wrote.store(true, Ordering::Relaxed);
            }
        });
    }
    let resp3 = script_api::resp3();
    let mut out = Vec::new();
    // A key of the call this run may not reach (another shard's, or one
    // it did not declare where that matters).
    let unreachable = || {
        spec.keys_of(&refs)
            .into_iter()
            .any(|i| !allowed.permits(refs[i]))
    };
    const NON_LOCAL: &str = "ERR Script attempted to access a non local key in a cluster node";
    match spec.handler {
        Handler::Shard(_) => {
            if unreachable() {
                return reject(id, NON_LOCAL);
            }
            // A tracking caller's script that reads has the script's
            // declared keys remembered, not the command's, as in Redis
            // 7.0 (only where they all live on this shard).
            let who = storage::track::who();
            let reads = who & storage::track::READS != 0 && spec.has(flags::READONLY);
            if reads {
                storage::track::set_who(who & !storage::track::READS);
            }
            crate::engine::worker::exec(shard, spec, db.get(), resp3, now, &refs, &mut out);
            if reads {
                storage::track::set_who(who);
                if let Allowed::Shard { .. } = allowed {
                    for k in r.keys.iter().filter(|k| allowed.permits(k)) {
                        storage::track::read(k);
                    }
                }
            }
        }
        Handler::Server => match spec.name {
            "xread" | "xreadgroup" => {
                if unreachable() {
                    return reject(id, NON_LOCAL);
                }
                let dbm = &mut shard.ks.dbs[db.get()];
                match crate::features::streams::run_in_script(dbm, &refs, resp3, now) {
                    Ok((reply, effects)) => {
                        if journal::recording_here() {
                            crate::features::blocking::record_all(db.get(), &effects);
                        }
                        out = reply;
                    }
                    Err(e) => e.write(&mut out),
                }
            }
            "ping" => match refs.get(1) {
                Some(m) => encode::bulk(&mut out, m),
                None => encode::simple(&mut out, b"PONG"),
            },
            "echo" => encode::bulk(&mut out, refs[1]),
            "time" => crate::features::server::time(&mut out),
            "select" => match commands::args::parse_i64(refs[1]) {
                Some(n) if n >= 0 && (n as usize) < shard.ks.dbs.len() => {
                    db.set(n as usize);
                    encode::ok(&mut out);
                }
                Some(_) => Error::DbIndexOutOfRange.write(&mut out),
                None => Error::NotInteger.write(&mut out),
            },
            // Reached only with DEBUG SET-DISABLE-DENY-SCRIPTS on: its
            // PROTOCOL and SLEEP (which holds the thread, time standing
            // still for the script, as in Redis).
            "debug" if refs.len() == 3 && refs[1].eq_ignore_ascii_case(b"protocol") => {
                if let Err(e) = commands::debug::protocol(resp3, refs[2], &mut out) {
                    e.write(&mut out);
                }
            }
            "debug" if refs.len() == 3 && refs[1].eq_ignore_ascii_case(b"sleep") => {
                match commands::args::parse_f64(refs[2]) {
                    Some(secs) => {
                        if secs > 0.0 {
                            std::thread::sleep(std::time::Duration::from_secs_f64(
                                secs.min(3600.0),
                            ));
                        }
                        encode::ok(&mut out);
                    }
                    None => Error::NotFloat.write(&mut out),
                }
            }
            _ => return reject(id, "ERR This Redis command is not allowed from script"),
        },
    }
    if out.first() == Some(&b'-') {
        let end = out
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or(out.len());
        let err = String::from_utf8_lossy(&out[1..end]).to_string();
        out.truncate(end);
        r.calls.borrow_mut().push((id, Outcome::Failed(out)));
        return Ok(Err((err, true)));
    }
    r.calls.borrow_mut().push((id, Outcome::Ran));
    script_api::reply_to_lua(lua, &out, &mut 0).map(Ok)
}

/// redis.acl_check_cmd(command, arg...): whether the script's caller may
/// run that command line.
fn acl_check_cmd(lua: &Lua, r: &Run, args: MultiValue) -> mlua::Result<bool> {
    let raise = |err: String| {
        Err(mlua::Error::external(lualib::Raised::ErrTable {
            err,
            counted: false,
        }))
    };
    let argv = match command_args(&args) {
        Ok(a) => a,
        Err((err, _)) => return raise(err),
    };
    let _ = lua;
    let Some(spec) = r.table.lookup(&argv[0]) else {
        return raise("ERR Invalid command passed to redis.acl_check_cmd()".into());
    };
    let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    Ok(r.perms
        .as_ref()
        .and_then(|p| crate::features::acl::denial(p, spec, &refs))
        .is_none())
}

/// A Lua number as a command argument: integers as integers, others as
/// `%.17g` prints them.
fn number_arg(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        return format!("{}", n as i64);
    }
    if !n.is_finite() {
        return if n.is_nan() {
            "nan".into()
        } else if n > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let exp = n.abs().log10().floor() as i32;
    if !(-5..17).contains(&exp) {
        let s = format!("{n:.16e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (16 - exp).max(0) as usize;
    let s = format!("{n:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// EVAL script numkeys key... arg... (and EVALSHA, EVAL_RO, EVALSHA_RO).
pub async fn eval(
    w: &Route<'_>,
    client: &Client,
    name: &str,
    argv: Argv<'_>,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let by_sha = name.starts_with("evalsha");
    let func = name.starts_with("fcall");
    let ro_command = name.ends_with("_ro");
    let cache = w.shared.global::<Cache>();
    // A function is looked up before its arguments are read, as in Redis.
    let mut libs = (0, Vec::new());
    let mut declared = None;
    let mut fname = String::new();
    if func {
        let l = cache
            .libs
            .read()
            .map_err(|_| Error::Static("ERR library registry unavailable"))?;
        let f = l
            .function(argv[1])
            .ok_or(Error::Static("ERR Function not found"))?;
        declared = Some(f.flags);
        fname = f.name.clone();
        libs = l.snapshot();
    }
    let numkeys = match commands::args::parse_i64(argv[2]) {
        Some(n) => n,
        None if func => return Err(Error::Static("ERR Bad number of keys provided")),
        None => return Err(Error::NotInteger),
    };
    if numkeys < 0 {
        return Err(Error::Static("ERR Number of keys can't be negative"));
    }
    if numkeys as u64 > (argv.len() - 3) as u64 {
        return Err(Error::Static(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let (sha, body) = if func {
        (fname, Arc::new(Vec::new()))
    } else if by_sha {
        let sha = String::from_utf8_lossy(argv[1]).to_ascii_lowercase();
        match cache.get(&sha) {
            Some(b) => (sha, b),
            None => {
                return Err(Error::Static(
                    "NOSCRIPT No matching script. Please use EVAL.",
                ))
            }
        }
    } else {
        let body = Arc::new(argv[1].to_vec());
        let sha = sha1_hex(&body);
        if !cache.contains(&sha) {
            shebang(&body)?;
            check_compiles(&sha, &body)?;
            cache.insert(sha.clone(), Arc::clone(&body));
        }
        (sha, body)
    };
    if !func {
        declared = shebang(&body)?.map(|(f, _)| f);
    }
    // What the script declared is checked before it runs (a script without
    // a shebang declares nothing and is checked as it goes, as in Redis:
    // over `maxmemory`, after eviction had its chance, its first write
    // that adds data fails).
    let mut readonly = ro_command;
    let mut stale = false;
    if let Some(f) = declared {
        if f.has(ScriptFlags::NO_CLUSTER) && crate::features::cluster::state(w).enabled() {
            return Err(Error::Static(
                "ERR Can not run script on cluster, 'no-cluster' flag is set.",
            ));
        }
        if f.has(ScriptFlags::NO_WRITES) {
            readonly = true;
        } else if ro_command {
            return Err(Error::Static(
                "ERR Can not execute a script with write flag using *_ro command.",
            ));
        }
        // The connection let it in on a stale replica only with
        // `allow-stale`; its commands must allow that too.
        stale = client.master.is_none()
            && crate::features::replication::refusal(
                w,
                crate::features::replication::state(w),
                false,
                false,
            )
            .is_some();
    }
    let nk = numkeys as usize;
    // As Redis: over maxmemory (after evicting what it can) when the
    // script starts, its commands that may add data are refused, unless it
    // declared `allow-oom`. (A declared script that may write was refused
    // at the door then, by `command_flags`.)
    let oom = !declared.is_some_and(|f| f.has(ScriptFlags::ALLOW_OOM))
        && client.master.is_none()
        && !crate::features::evict::admit(w).await;
    let run_args = Run {
        table: w.shared.table,
        func,
        libs,
        generation: cache.generation.load(Ordering::Relaxed),
        sha,
        body,
        keys: argv[3..3 + nk].iter().map(|k| k.to_vec()).collect(),
        args: argv[3 + nk..].iter().map(|a| a.to_vec()).collect(),
        argv: if func {
            argv.iter().map(|a| a.to_vec()).collect()
        } else {
            Vec::new()
        },
        db: client.db,
        resp3: client.resp3,
        oom,
        allow_noscript: w
            .shared
            .global::<script_api::DenyScripts>()
            .disabled
            .load(Ordering::Relaxed),
        quiet_error: Cell::new(false),
        readonly,
        stale,
        replica_read_only: client.master.is_none()
            && crate::features::replication::refusal(
                w,
                crate::features::replication::state(w),
                true,
                true,
            )
            .is_some(),
        monitored: w
            .shared
            .global::<crate::features::monitor::Registry>()
            .any(),
        perms: (!client.unrestricted).then(|| Arc::clone(&client.perms)),
        denied: RefCell::new(Vec::new()),
        ran: RefCell::new(Vec::new()),
        calls: RefCell::new(Vec::new()),
    };
    let mut shards: Vec<usize> = run_args.keys.iter().map(|k| w.shard_of(k)).collect();
    shards.sort_unstable();
    shards.dedup();
    let nshards = w.nshards();
    match shards.as_slice() {
        [] | [_] => {
            let target = shards.first().copied().unwrap_or(w.id);
            let (reply, ran, denied, quiet) = w
                .call(target, move |w: &Worker| {
                    let mut reply = Vec::new();
                    let allowed = Allowed::Shard {
                        id: w.id,
                        shards: nshards,
                    };
                    let slot = Arc::clone(&w.shared.global::<Cache>().running[w.id]);
                    run(
                        &mut w.shard.borrow_mut(),
                        &w.shared.global::<Cache>().busy,
                        &slot,
                        &allowed,
                        &run_args,
                        &mut reply,
                    );
                    run_deferred_after(w);
                    run_args.count_calls(w);
                    (
                        reply,
                        run_args.ran.into_inner(),
                        run_args.denied.into_inner(),
                        run_args.quiet_error.get(),
                    )
                })
                .await
                .unwrap_or_default();
            out.extend_from_slice(&reply);
            w.stats.counted_error.set(quiet);
            log_refused(w, client, denied);
            crate::features::monitor::feed_script(w, client.db, &ran);
        }
        _ => {
            let keys = run_args.keys.clone();
            let db = client.db;
            let outermost = w.tx == 0;
            w.atomically(shards, async |r: Route<'_>| {
                let allowed = Allowed::Keys(keys.clone());
                let slot = Arc::clone(&r.shared.global::<Cache>().running[r.id]);
                let mut effects = None;
                crate::features::fanout::over_copies(&r, db, keys, false, out, |scratch, out| {
                    let ((), block) = journal::capture(db, || {
                        run(
                            scratch,
                            &r.shared.global::<Cache>().busy,
                            &slot,
                            &allowed,
                            &run_args,
                            out,
                        )
                    });
                    effects = Some(block);
                })
                .await;
                // Recorded while the shards are held; inside EXEC, EXEC's
                // own record covers the script.
                if let Some(block) = effects.filter(|_| outermost) {
                    block.commit(false);
                }
            })
            .await;
            run_deferred_after(w);
            run_args.count_calls(w);
            w.stats.counted_error.set(run_args.quiet_error.get());
            log_refused(w, client, run_args.denied.take());
            crate::features::monitor::feed_script(w, client.db, &run_args.ran.borrow());
        }
    }
    Ok(())
}

/// Logs, in ACL LOG (context `lua`), the calls the caller's ACL refused.
fn log_refused(w: &Worker, client: &Client, refused: Vec<Refused>) {
    for (d, spec, argv) in refused {
        let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        crate::features::acl::log_denial(
            w,
            client,
            d,
            spec,
            &refs,
            crate::features::acl::Context::Lua,
        );
    }
}

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP
pub fn script(w: &Worker, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let sub = argv[1].to_ascii_lowercase();
    let cache = w.shared.global::<Cache>();
    match sub.as_slice() {
        b"load" if argv.len() == 3 => {
            let body = Arc::new(argv[2].to_vec());
            let sha = sha1_hex(&body);
            shebang(&body)?;
            check_compiles(&sha, &body)?;
            cache.insert(sha.clone(), body);
            encode::bulk(out, sha.as_bytes());
        }
        b"exists" if argv.len() >= 3 => {
            encode::array_len(out, argv.len() - 2);
            for s in &argv[2..] {
                let sha = String::from_utf8_lossy(s).to_ascii_lowercase();
                encode::integer(out, i64::from(cache.contains(&sha)));
            }
        }
        b"flush" if argv.len() <= 3 => {
            if let Some(mode) = argv.get(2) {
                if !mode.eq_ignore_ascii_case(b"sync") && !mode.eq_ignore_ascii_case(b"async") {
                    return Err(Error::Static(
                        "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
                    ));
                }
            }
            cache.clear();
            encode::ok(out);
        }
        b"kill" if argv.len() == 2 => {
            kill(cache, true)?;
            encode::ok(out);
        }
        b"help" if argv.len() == 2 => {
            commands::reply_help(
                out,
                &[
                    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "EXISTS <sha1> [<sha1> ...]",
                    "    Return information about the existence of the scripts in the script cache.",
                    "FLUSH [ASYNC|SYNC]",
                    "    Flush the Lua scripts cache. Very dangerous on replicas.",
                    "KILL",
                    "    Kill the currently executing Lua script.",
                    "LOAD <script>",
                    "    Load a script into the scripts cache without executing it.",
                    "HELP",
                    "    Prints this help.",
                ],
            );
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "SCRIPT")),
    }
    Ok(())
}

/// SCRIPT KILL and FUNCTION KILL: stops the running script, if it has not
/// written. A script runs on its shard's thread without yielding: only a
/// connection served by another thread can reach this.
pub(super) fn kill(cache: &Cache, eval: bool) -> Result<(), Error> {
    let Some(busy) = cache.running.iter().find(|r| r.now.load(Ordering::Acquire)) else {
        return Err(Error::Static("NOTBUSY No scripts in execution right now."));
    };
    if busy.wrote.load(Ordering::Relaxed) {
        return Err(Error::Static(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        ));
    }
    // SCRIPT KILL stops scripts, FUNCTION KILL functions; the other is
    // answered the -BUSY that names the right one, as in Redis.
    match (eval, busy.func.load(Ordering::Relaxed)) {
        (true, true) => return Err(Error::Static(BUSY_FUNCTION)),
        (false, false) => return Err(Error::Static(BUSY_SCRIPT)),
        _ => {}
    }
    busy.kill.store(true, Ordering::Relaxed);
    Ok(())
}

/// What the script a script command names declared: its function's flags
/// (FCALL), its shebang's (EVAL, EVALSHA); None for a script without a
/// shebang, and for one that is not there or not valid (the command then
/// fails on its own).
fn declared(w: &Worker, name: &str, argv: &[&[u8]]) -> Option<ScriptFlags> {
    let cache = w.shared.global::<Cache>();
    let arg = argv.get(1)?;
    match name {
        "fcall" | "fcall_ro" => cache.libs.read().ok()?.function(arg).map(|f| f.flags),
        "eval" | "eval_ro" => shebang(arg).ok()?.map(|(f, _)| f),
        "evalsha" | "evalsha_ro" => {
            let body = cache.get(&String::from_utf8_lossy(arg).to_ascii_lowercase())?;
            shebang(&body).ok()?.map(|(f, _)| f)
        }
        _ => None,
    }
}

/// Whether a script command may write, as CLIENT PAUSE WRITE asks: the
/// read-only forms never do; the others unless their script declares
/// `no-writes`.
pub fn may_write(w: &Worker, name: &str, argv: &[&[u8]]) -> bool {
    !name.ends_with("_ro")
        && !declared(w, name, argv).is_some_and(|f| f.has(ScriptFlags::NO_WRITES))
}

/// Whether a script command declares that it may write: a function, or a
/// script with a shebang, without `no-writes`. As Redis routes them in
/// cluster mode (a script without a shebang counts as a read there, and a
/// replica runs it for a READONLY client).
pub fn declares_writes(w: &Worker, name: &str, argv: &[&[u8]]) -> bool {
    !name.ends_with("_ro")
        && declared(w, name, argv).is_some_and(|f| !f.has(ScriptFlags::NO_WRITES))
}

/// The flags the connection checks a script command (or FUNCTION) by
/// before it runs (`maxmemory`, replica state), when they are not the
/// command table's: a script's follow what it declared; one without a
/// shebang is admitted over `maxmemory` (its writes are checked as it
/// runs) but not on a stale replica, as in Redis; FUNCTION
/// LOAD and RESTORE add data, DELETE and FLUSH write.
pub fn command_flags(w: &Worker, spec: &commands::CommandSpec, argv: &[&[u8]]) -> u32 {
    if spec.name == "function" {
        let sub = argv.get(1).map(|s| s.to_ascii_lowercase());
        return match sub.as_deref() {
            Some(b"load" | b"restore") => spec.flags | flags::WRITE | flags::DENYOOM,
            Some(b"delete" | b"flush") => spec.flags | flags::WRITE,
            _ => spec.flags,
        };
    }
    match declared(w, spec.name, argv) {
        Some(f) => f.command_flags(spec.flags),
        None if spec.name.starts_with("eval") => spec.flags & !(flags::STALE | flags::DENYOOM),
        None => spec.flags,
    }
}
