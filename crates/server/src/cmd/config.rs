//! CONFIG GET, SET, RESETSTAT, REWRITE, HELP.

use redoubt_engine::stats;
use redoubt_engine::{CmdError, CmdResult};

use crate::dispatch::{Call, ServerCommand};

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "config|get", handler: get },
    ServerCommand { name: "config|set", handler: set },
    ServerCommand { name: "config|resetstat", handler: resetstat },
    ServerCommand { name: "config|rewrite", handler: rewrite },
    ServerCommand { name: "config|help", handler: help },
];

fn get(c: &mut Call) -> CmdResult {
    let patterns: Vec<&[u8]> = c.args.iter().skip(2).collect();
    let found = c.server.config.matching(&patterns);
    c.out.map(found.len());
    for (k, v) in &found {
        c.out.bulk(k.as_bytes());
        c.out.bulk(v.as_bytes());
    }
    Ok(())
}

fn set(c: &mut Call) -> CmdResult {
    if !c.args.len().is_multiple_of(2) {
        return Err(redoubt_engine::exec::err::SYNTAX);
    }
    let pairs: Vec<(String, String)> = c
        .args
        .iter()
        .skip(2)
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|p| (String::from_utf8_lossy(p[0]).into_owned(), String::from_utf8_lossy(p[1]).into_owned()))
        .collect();
    let server = c.server.clone();
    c.server.config.set_many(&pairs, |name| crate::apply::apply(&server, name)).map_err(CmdError::Owned)?;
    c.out.ok();
    Ok(())
}

fn resetstat(c: &mut Call) -> CmdResult {
    stats::reset();
    stats::reset_errors();
    c.server.slowlog.reset();
    c.server.replication.reset_stats();
    c.out.ok();
    Ok(())
}

fn rewrite(c: &mut Call) -> CmdResult {
    let Some(path) = &c.server.config.path else {
        return Err(CmdError::Static("ERR The server is running without a config file"));
    };
    let user_line = c.server.knobs.default_user.read().unwrap_or_else(|e| e.into_inner()).config_line();
    match crate::config::rewrite::rewrite(&c.server.config, path, &user_line) {
        Ok(()) => {
            crate::notice!("CONFIG REWRITE executed with success.");
            c.out.ok();
            Ok(())
        }
        Err(e) => {
            crate::warning!("CONFIG REWRITE failed: {e}");
            Err(CmdError::Owned(format!("ERR {e}")))
        }
    }
}

fn help(c: &mut Call) -> CmdResult {
    super::help(
        c.out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}
