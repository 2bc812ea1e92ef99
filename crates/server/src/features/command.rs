//! COMMAND and its subcommands (COUNT, DOCS, GETKEYS, INFO, LIST, HELP):
//! the command table as clients and tools read it; and the names of the
//! subcommands the server runs itself, as CLIENT LIST's `cmd=` shows them.

use commands::categories::{self, cat, key};
use commands::table::flags;
use commands::Error;
use resp::encode;

use crate::engine::worker::Worker;

pub use commands::categories::SUBCOMMANDS;

/// `name`, or `name|sub` when `argv[1]` is one of its subcommands
/// (`client|list`), for CLIENT LIST's `cmd=`.
pub fn full_name(name: &'static str, argv: &[&[u8]]) -> &'static str {
    let Some(sub) = argv.get(1) else {
        return name;
    };
    SUBCOMMANDS
        .iter()
        .copied()
        .find(|s| {
            s.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('|'))
                .is_some_and(|rest| rest.as_bytes().eq_ignore_ascii_case(sub))
        })
        .unwrap_or(name)
}

fn write_command_info(out: &mut Vec<u8>, spec: &commands::CommandSpec) {
    encode::array_len(out, 10);
    encode::bulk(out, spec.name.as_bytes());
    encode::integer(out, i64::from(spec.arity));
    let mut names: Vec<&str> = flags::NAMES
        .iter()
        .filter(|(f, _)| spec.flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    // Keys found by parsing the arguments, not by (first, last, step).
    if spec.keys_fn.is_some() {
        names.push("movablekeys");
    }
    encode::array_len(out, names.len());
    for n in names {
        encode::simple(out, n.as_bytes());
    }
    encode::integer(out, i64::from(spec.first_key));
    encode::integer(out, i64::from(spec.last_key));
    encode::integer(out, i64::from(spec.step));
    let cats = spec.categories;
    encode::array_len(out, cats.count_ones() as usize);
    for (i, name) in cat::NAMES.iter().enumerate() {
        if cats & (1 << i) != 0 {
            encode::simple(out, format!("@{name}").as_bytes());
        }
    }
    for _ in 0..3 {
        encode::array_len(out, 0);
    }
}

/// COMMAND | COUNT | INFO name... | DOCS [name...] | LIST | GETKEYS cmd args...
pub fn command(w: &Worker, resp3: bool, argv: &[&[u8]], out: &mut Vec<u8>) -> Result<(), Error> {
    let table = w.shared.table;
    if argv.len() == 1 {
        encode::array_len(out, table.len());
        for spec in table.iter() {
            write_command_info(out, spec);
        }
        return Ok(());
    }
    let sub = argv[1].to_ascii_lowercase();
    if (sub == b"count" && argv.len() != 2)
        || ((sub == b"getkeys" || sub == b"getkeysandflags") && argv.len() < 4)
    {
        return Err(Error::WrongArity(format!(
            "command|{}",
            String::from_utf8_lossy(&sub)
        )));
    }
    match sub.as_slice() {
        b"count" => encode::integer(out, table.len() as i64),
        b"info" => {
            if argv.len() == 2 {
                encode::array_len(out, table.len());
                for spec in table.iter() {
                    write_command_info(out, spec);
                }
            } else {
                encode::array_len(out, argv.len() - 2);
                for name in &argv[2..] {
                    match table.lookup(name) {
                        Some(spec) => write_command_info(out, spec),
                        None => encode::null(out, resp3),
                    }
                }
            }
        }
        b"docs" => {
            // Names with an empty doc map: enough for redis-cli's hints.
            let specs: Vec<_> = if argv.len() == 2 {
                table.iter().collect()
            } else {
                argv[2..].iter().filter_map(|n| table.lookup(n)).collect()
            };
            encode::map_len(out, specs.len(), resp3);
            for spec in specs {
                encode::bulk(out, spec.name.as_bytes());
                encode::map_len(out, 0, resp3);
            }
        }
        b"list" => {
            // Every command and container subcommand (`client|list`), or
            // those a FILTERBY picks (a parent and its subcommands are
            // each matched by its own name and categories). No modules
            // are loaded, so FILTERBY MODULE finds nothing, and neither
            // does FILTERBY ACLCAT of a category Redis does not have.
            enum Filter<'a> {
                All,
                Nothing,
                Pattern(&'a [u8]),
                Category(u32),
            }
            let filter = match &argv[2..] {
                [] => Filter::All,
                [by, kind, value] if by.eq_ignore_ascii_case(b"filterby") => {
                    match kind.to_ascii_lowercase().as_slice() {
                        b"pattern" => Filter::Pattern(value),
                        b"module" => Filter::Nothing,
                        b"aclcat" => cat::by_name(value).map_or(Filter::Nothing, Filter::Category),
                        _ => return Err(Error::Static("ERR syntax error")),
                    }
                }
                _ => return Err(Error::Static("ERR syntax error")),
            };
            let names: Vec<&str> = table
                .iter()
                .map(|s| s.name)
                .chain(SUBCOMMANDS.iter().copied())
                .filter(|n| match filter {
                    Filter::All => true,
                    Filter::Nothing => false,
                    Filter::Pattern(p) => storage::glob_match(p, n.as_bytes(), true),
                    Filter::Category(c) => categories::of(n).0 & c != 0,
                })
                .collect();
            encode::array_len(out, names.len());
            for n in names {
                encode::bulk(out, n.as_bytes());
            }
        }
        b"getkeysandflags" => {
            let cmd = &argv[2..];
            let (spec, keys) = keys_of_command(table, cmd)?;
            encode::array_len(out, keys.len());
            for (nth, i) in keys.into_iter().enumerate() {
                encode::array_len(out, 2);
                encode::bulk(out, cmd[i]);
                let f = categories::key_flags(spec.name, spec.key_specs, cmd, nth);
                let names: Vec<&str> = key::NAMES
                    .iter()
                    .filter(|(b, _)| f & b != 0)
                    .map(|(_, n)| *n)
                    .collect();
                encode::array_len(out, names.len());
                for n in names {
                    encode::simple(out, n.as_bytes());
                }
            }
        }
        b"getkeys" => {
            let cmd = &argv[2..];
            let (_, keys) = keys_of_command(table, cmd)?;
            encode::array_len(out, keys.len());
            for i in keys {
                encode::bulk(out, cmd[i]);
            }
        }
        b"help" => {
            commands::reply_help(
                out,
                &[
                    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "(no subcommand)",
                    "COUNT",
                    "DOCS [<command-name> ...]",
                    "GETKEYS <full-command>",
                    "GETKEYSANDFLAGS <full-command>",
                    "INFO [<command-name> ...]",
                    "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
                    "HELP",
                ],
            );
        }
        _ => return Err(Error::unknown_subcommand(argv[1], "COMMAND")),
    }
    Ok(())
}

/// The row and key positions of a whole command line, for GETKEYS and
/// GETKEYSANDFLAGS, with Redis's errors in Redis's order: an unknown
/// command, one without keys (its key specs, if any, all `not_key`: the
/// shard channels of SPUBLISH and SSUBSCRIBE are not keys here), a wrong
/// argument count, arguments that leave a command needing keys without
/// any (`ZUNIONSTORE d 0`; scripts may declare none).
fn keys_of_command(
    table: &'static commands::CommandTable,
    cmd: &[&[u8]],
) -> Result<(&'static commands::CommandSpec, Vec<usize>), Error> {
    let spec = table
        .lookup(cmd[0])
        .ok_or(Error::Static("ERR Invalid command specified"))?;
    let only_not_keys =
        !spec.key_specs.is_empty() && spec.key_specs.iter().all(|f| f & key::NOT_KEY != 0);
    let has_keys = (spec.first_key > 0 || spec.keys_fn.is_some()) && !only_not_keys;
    if !has_keys {
        return Err(Error::Static("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(cmd.len()) {
        return Err(Error::Static(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let keys = spec.keys_of(cmd);
    if keys.is_empty() && !crate::features::script::is_eval(spec.name) {
        return Err(Error::Static("ERR Invalid arguments specified for command"));
    }
    Ok((spec, keys))
}
