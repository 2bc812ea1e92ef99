//! FUNCTION: the registry of Lua libraries FCALL calls into, and the
//! FUNCTION command that keeps it (LOAD, DELETE, FLUSH, LIST, STATS, KILL,
//! DUMP, RESTORE, HELP).
//!
//! The boundary with `script.rs`: this file knows libraries as code and
//! metadata (names, functions, flags, descriptions) and never touches Lua;
//! `script.rs` owns the interpreters, runs a library's code when it is
//! loaded ([`script::load_here`], with Redis's 500 ms limit and load-time
//! sandbox) and runs functions for FCALL. The registry is one for the
//! server, in the script [`Cache`]; every change bumps its version, and each
//! thread reloads its interpreter's copies of the libraries when it next
//! runs a function and sees a newer one.
//!
//! A library's first line is its metadata, `#!<engine> name=<name>`
//! (split like a command line, so the name may be quoted); only the `lua`
//! engine exists. Library names are case-sensitive, function names are not
//! (FCALL finds `f` as `F`), and a function name is unique across
//! libraries. A change is all or nothing: a library whose code fails, or
//! whose functions collide with another's, leaves the registry as it was.
//!
//! DUMP's payload is Redis's (`storage::rdb::functions`), so payloads move
//! between Tessera and Redis 7.0 both ways.

use std::collections::BTreeMap;
use std::sync::Arc;

use commands::Error;
use resp::encode;

use super::script::{self, body_of, Cache, FunctionMeta, Library, Libs};
use crate::engine::worker::{now_ms, Worker};

type Argv<'a> = &'a [&'a [u8]];

/// A library's metadata line, split: its engine and name; the errors are
/// Redis's.
fn metadata(code: &[u8]) -> Result<(String, String), Error> {
    let Some(rest) = code.strip_prefix(b"#!") else {
        return Err(Error::Static("ERR Missing library metadata"));
    };
    let Some(end) = rest.iter().position(|&c| c == b'\n') else {
        return Err(Error::Static("ERR Invalid library metadata"));
    };
    let line = String::from_utf8_lossy(&rest[..end]);
    let parts = crate::host::config::split_args(&line)
        .ok_or(Error::Static("ERR Invalid library metadata"))?;
    // The engine is what touches `#!`: nothing when a space follows it.
    let (engine, options) = if line.starts_with(|c: char| c.is_ascii_whitespace()) {
        (String::new(), &parts[..])
    } else {
        match parts.split_first() {
            Some((e, o)) => (e.clone(), o),
            None => return Err(Error::Static("ERR Invalid library metadata")),
        }
    };
    let mut name = None;
    for p in options {
        let is_name = p.len() >= 5 && p.as_bytes()[..5].eq_ignore_ascii_case(b"name=");
        if !is_name {
            return Err(Error::Other(format!(
                "ERR Invalid metadata value given: {p}"
            )));
        }
        if name.is_some() {
            return Err(Error::Static(
                "ERR Invalid metadata value, name argument was given multiple times",
            ));
        }
        name = Some(p[5..].to_string());
    }
    let name = name.ok_or(Error::Static("ERR Library name was not given"))?;
    Ok((engine, name))
}

/// Checks a library's metadata, runs its code on this thread, and returns
/// its name and what it is (not yet registered).
fn compile(code: &[u8]) -> Result<(String, Library), Error> {
    let (engine, name) = metadata(code)?;
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(Error::Other(format!("ERR Engine '{engine}' not found")));
    }
    check_name(&name)?;
    Ok((name, run(code)?))
}

/// Library names (and function names): letters, digits, underscores.
fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
        return Err(Error::Static("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    Ok(())
}

/// Runs a library's code (its metadata checked) and keeps what it
/// registered.
fn run(code: &[u8]) -> Result<Library, Error> {
    let registered = script::load_here(body_of(code))?;
    if registered.is_empty() {
        return Err(Error::Static("ERR No functions registered"));
    }
    Ok(Library {
        code: Arc::new(code.to_vec()),
        functions: registered
            .into_iter()
            .map(|r| FunctionMeta {
                name: r.name,
                description: r.description,
                flags: r.flags,
            })
            .collect(),
    })
}

fn registry(cache: &Cache) -> Result<std::sync::RwLockWriteGuard<'_, Libs>, Error> {
    cache
        .libs
        .write()
        .map_err(|_| Error::Static("ERR library registry unavailable"))
}

fn registry_read(cache: &Cache) -> Result<std::sync::RwLockReadGuard<'_, Libs>, Error> {
    cache
        .libs
        .read()
        .map_err(|_| Error::Static("ERR library registry unavailable"))
}

/// The code of every FUNCTION library, for the dump file.
pub fn library_codes(w: &Worker) -> Vec<Arc<Vec<u8>>> {
    registry_read(w.shared.global::<Cache>())
        .map(|l| l.snapshot().1)
        .unwrap_or_default()
}

/// Loads a FUNCTION library from a dump file (or DEBUG RELOAD), replacing
/// one of its name when `replace`; the error is the reply's text.
pub fn restore_library(w: &Worker, code: &[u8], replace: bool) -> Result<(), String> {
    let text = |e: Error| {
        let mut m = Vec::new();
        e.write(&mut m);
        String::from_utf8_lossy(&m).trim().to_string()
    };
    let (name, lib) = compile(code).map_err(text)?;
    let mut libs = registry(w.shared.global::<Cache>()).map_err(text)?;
    libs.join(BTreeMap::from([(name, lib)]), replace, true)
        .map_err(text)
}

/// Empties the registry (FLUSHALL does not; FUNCTION FLUSH, a replica's
/// full sync and DEBUG RELOAD do).
pub fn flush(w: &Worker) {
    if let Ok(mut libs) = registry(w.shared.global::<Cache>()) {
        libs.by_name.clear();
        libs.version += 1;
    }
}

/// The arity of each FUNCTION subcommand, as Redis 7.0's table gives it
/// (negative: at least).
fn arity(sub: &[u8]) -> Option<i32> {
    Some(match sub {
        b"load" | b"restore" => -3,
        b"delete" => 3,
        b"flush" | b"list" => -2,
        b"kill" | b"stats" | b"dump" | b"help" => 2,
        _ => return None,
    })
}

/// FUNCTION LOAD [REPLACE] code | DELETE lib | FLUSH [ASYNC|SYNC] |
/// LIST [WITHCODE] [LIBRARYNAME pattern] | KILL | STATS | DUMP |
/// RESTORE payload [FLUSH|APPEND|REPLACE] | HELP
pub fn function(w: &Worker, resp3: bool, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let sub = argv[1].to_ascii_lowercase();
    let Some(a) = arity(&sub) else {
        return Err(Error::unknown_subcommand(argv[1], "FUNCTION"));
    };
    let n = argv.len() as i32;
    if (a >= 0 && n != a) || (a < 0 && n < -a) {
        return Err(Error::Other(format!(
            "ERR wrong number of arguments for 'function|{}' command",
            String::from_utf8_lossy(&sub)
        )));
    }
    let cache = w.shared.global::<Cache>();
    match sub.as_slice() {
        b"load" => {
            let mut replace = false;
            for opt in &argv[2..argv.len() - 1] {
                if !opt.eq_ignore_ascii_case(b"replace") {
                    return Err(Error::Other(format!(
                        "ERR Unknown option given: {}",
                        String::from_utf8_lossy(opt)
                    )));
                }
                replace = true;
            }
            let code = argv[argv.len() - 1];
            let (engine, name) = metadata(code)?;
            if !engine.eq_ignore_ascii_case("lua") {
                return Err(Error::Other(format!("ERR Engine '{engine}' not found")));
            }
            check_name(&name)?;
            // A taken name is refused before the code runs.
            if !replace && registry_read(cache)?.by_name.contains_key(&name) {
                return Err(Error::Other(format!(
                    "ERR Library '{name}' already exists"
                )));
            }
            let lib = run(code)?;
            registry(cache)?.join(BTreeMap::from([(name.clone(), lib)]), replace, true)?;
            encode::bulk(out, name.as_bytes());
        }
        b"delete" => {
            let name = String::from_utf8_lossy(argv[2]);
            let mut libs = registry(cache)?;
            if libs.by_name.remove(name.as_ref()).is_none() {
                return Err(Error::Static("ERR Library not found"));
            }
            libs.version += 1;
            encode::ok(out);
        }
        b"flush" => {
            if argv.len() > 3 {
                return Err(Error::subcommand_syntax(argv[1], "FUNCTION"));
            }
            if let Some(mode) = argv.get(2) {
                if !mode.eq_ignore_ascii_case(b"sync") && !mode.eq_ignore_ascii_case(b"async") {
                    return Err(Error::Static(
                        "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
                    ));
                }
            }
            flush(w);
            encode::ok(out);
        }
        b"list" => list(cache, resp3, argv, out)?,
        b"kill" => {
            script::kill(cache, false)?;
            encode::ok(out);
        }
        b"stats" => stats(cache, resp3, out)?,
        b"dump" => {
            let libs = registry_read(cache)?;
            let payload = storage::rdb::functions::dump(
                libs.by_name.values().map(|l| l.code.as_slice()),
            );
            encode::bulk(out, &payload);
        }
        b"restore" => {
            if argv.len() > 4 {
                return Err(Error::subcommand_syntax(argv[1], "FUNCTION"));
            }
            restore(cache, argv[2], argv.get(3).copied())?;
            encode::ok(out);
        }
        _ => commands::reply_help(
            out,
            &[
                "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOAD [REPLACE] <FUNCTION CODE>",
                "    Create a new library with the given library name and code.",
                "DELETE <LIBRARY NAME>",
                "    Delete the given library.",
                "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                "    Return general information on all the libraries:",
                "    * Library name",
                "    * The engine used to run the Library",
                "    * Library description",
                "    * Functions list",
                "    * Library code (if WITHCODE is given)",
                "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
                "STATS",
                "    Return information about the current function running:",
                "    * Function name",
                "    * Command used to run the function",
                "    * Duration in MS that the function is running",
                "    If no function is running, return nil",
                "    In addition, returns a list of available engines.",
                "KILL",
                "    Kill the current running function.",
                "FLUSH [ASYNC|SYNC]",
                "    Delete all the libraries.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the libraries.",
                "    * SYNC: Synchronously flush the libraries.",
                "DUMP",
                "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
                "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
                "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
                "    control how to handle existing libraries (default APPEND):",
                "    * FLUSH: delete all existing libraries.",
                "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
                "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
                "      libraries with the new libraries (notice that even on this option there is a chance of failure",
                "      in case of functions name collision with another library).",
                "HELP",
                "    Prints this help.",
            ],
        ),
    }
    Ok(())
}

/// How FUNCTION RESTORE treats the libraries already there.
#[derive(Clone, Copy, PartialEq)]
enum Policy {
    Flush,
    Append,
    Replace,
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: every library of the
/// payload is run first; the registry changes only if all load and none
/// collides.
fn restore(cache: &Cache, payload: &[u8], policy: Option<&[u8]>) -> Result<(), Error> {
    let policy =
        match policy.map(<[u8]>::to_ascii_lowercase).as_deref() {
            None | Some(b"append") => Policy::Append,
            Some(b"flush") => Policy::Flush,
            Some(b"replace") => Policy::Replace,
            Some(_) => return Err(Error::Static(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            )),
        };
    let codes = storage::rdb::functions::restore(payload)
        .map_err(|e| Error::Other(format!("ERR {}", e.message())))?;
    let mut new = BTreeMap::new();
    for code in &codes {
        let (name, lib) = compile(code)?;
        if new.contains_key(&name) {
            return Err(Error::Other(format!("ERR Library '{name}' already exists")));
        }
        new.insert(name, lib);
    }
    let mut libs = registry(cache)?;
    if policy == Policy::Flush {
        libs.by_name.clear();
    }
    libs.join(new, policy == Policy::Replace, false)
}

/// FUNCTION LIST [WITHCODE] [LIBRARYNAME pattern]
fn list(cache: &Cache, resp3: bool, argv: Argv<'_>, out: &mut Vec<u8>) -> Result<(), Error> {
    let (mut withcode, mut pattern) = (false, None);
    let mut i = 2;
    while i < argv.len() {
        if !withcode && argv[i].eq_ignore_ascii_case(b"withcode") {
            withcode = true;
        } else if pattern.is_none() && argv[i].eq_ignore_ascii_case(b"libraryname") {
            i += 1;
            pattern = Some(
                *argv
                    .get(i)
                    .ok_or(Error::Static("ERR library name argument was not given"))?,
            );
        } else {
            return Err(Error::Other(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(argv[i])
            )));
        }
        i += 1;
    }
    let libs = registry_read(cache)?;
    let shown: Vec<(&String, &Library)> = libs
        .by_name
        .iter()
        .filter(|(n, _)| pattern.is_none_or(|p| storage::glob::glob_match(p, n.as_bytes(), true)))
        .collect();
    encode::array_len(out, shown.len());
    for (name, lib) in shown {
        encode::map_len(out, if withcode { 4 } else { 3 }, resp3);
        encode::bulk(out, b"library_name");
        encode::bulk(out, name.as_bytes());
        encode::bulk(out, b"engine");
        encode::bulk(out, b"LUA");
        encode::bulk(out, b"functions");
        encode::array_len(out, lib.functions.len());
        for f in &lib.functions {
            encode::map_len(out, 3, resp3);
            encode::bulk(out, b"name");
            encode::bulk(out, f.name.as_bytes());
            encode::bulk(out, b"description");
            match &f.description {
                Some(d) => encode::bulk(out, d.as_bytes()),
                None => encode::null(out, resp3),
            }
            encode::bulk(out, b"flags");
            let names: Vec<&str> = f.flags.names().collect();
            encode::set_len(out, names.len(), resp3);
            for n in names {
                encode::simple(out, n.as_bytes());
            }
        }
        if withcode {
            encode::bulk(out, b"library_code");
            encode::bulk(out, &lib.code);
        }
    }
    Ok(())
}

/// FUNCTION STATS: the function running now, if any, and the counts.
fn stats(cache: &Cache, resp3: bool, out: &mut Vec<u8>) -> Result<(), Error> {
    let libs = registry_read(cache)?;
    let nfuncs: usize = libs.by_name.values().map(|l| l.functions.len()).sum();
    encode::map_len(out, 2, resp3);
    encode::bulk(out, b"running_script");
    match cache.running_function() {
        Some((name, call, since)) => {
            encode::map_len(out, 3, resp3);
            encode::bulk(out, b"name");
            encode::bulk(out, name.as_bytes());
            encode::bulk(out, b"command");
            encode::array_len(out, call.len());
            for a in &call {
                encode::bulk(out, a);
            }
            encode::bulk(out, b"duration_ms");
            encode::integer(out, now_ms().saturating_sub(since) as i64);
        }
        None => encode::null(out, resp3),
    }
    encode::bulk(out, b"engines");
    encode::map_len(out, 1, resp3);
    encode::bulk(out, b"LUA");
    encode::map_len(out, 2, resp3);
    encode::bulk(out, b"libraries_count");
    encode::integer(out, libs.by_name.len() as i64);
    encode::bulk(out, b"functions_count");
    encode::integer(out, nfuncs as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_lines() {
        let ok = |c: &str| metadata(c.as_bytes()).map_err(|e| format!("{e:?}"));
        assert_eq!(
            ok("#!lua name=a\n").expect("plain"),
            ("lua".into(), "a".into())
        );
        assert_eq!(
            ok("#!LUA NAME=\"b c\"\n").expect("quoted"),
            ("LUA".into(), "b c".into())
        );
        assert_eq!(
            ok("#! name=t\n").expect("no engine"),
            ("".into(), "t".into())
        );
        assert!(ok("lua name=a\n").is_err());
        assert!(ok("#!lua name=a").is_err());
        assert!(ok("#!lua\n").is_err());
        assert!(ok("#!lua name=a name=b\n").is_err());
        assert!(ok("#!lua name=a foo=bar\n").is_err());
        assert_eq!(body_of(b"#!lua name=a\nreturn"), b"\nreturn");
    }
}
