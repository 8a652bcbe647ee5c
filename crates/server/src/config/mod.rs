//! Configuration: every Redis 7.0 directive, read from redis.conf and the command line,
//! changed by CONFIG SET, shown by CONFIG GET and written back by CONFIG REWRITE.
//!
//! - [`table`]: directive types, parsing and printing of plain values
//! - `generated`: the directive table, probed from Redis 7.0 (`tools/gen_config_table.py`)
//! - [`special`]: directives with their own syntax
//! - [`file`]: config files, `include`, and the redis-server command line
//! - [`rewrite`]: CONFIG REWRITE, which keeps the file's comments and order
//! - [`support`]: what each directive does in Redoubt (implemented, pending, not applicable)
//!
//! Values are stored in CONFIG GET's canonical text form; the server turns the ones it
//! needs on the hot path into atomics when they change (`crate::apply`).

pub mod file;
#[rustfmt::skip]
mod generated;
pub mod rewrite;
pub mod special;
pub mod support;
pub mod table;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard};

use redoubt_engine::glob::glob_match;

use file::{ConfigError, Line};
use special::Source;
pub use table::{Directive, Kind};

/// Looks a directive up by name or alias (case-insensitive).
pub fn directive(name: &str) -> Option<&'static Directive> {
    generated::DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name) || d.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
}

/// Every directive.
pub fn directives() -> &'static [Directive] {
    generated::DIRECTIVES
}

/// Directives only a config file may carry, which CONFIG GET does not show.
#[derive(Debug, Default, Clone)]
pub struct FileOnly {
    /// `rename-command old new` (new empty: the command is disabled).
    pub renames: Vec<(String, String)>,
    /// The default user as `user default ...` lines left it (None: no such line).
    pub default_user: Option<crate::acl::DefaultUser>,
}

/// The configuration store.
#[derive(Debug)]
pub struct Config {
    values: RwLock<HashMap<&'static str, String>>,
    /// Absolute path of the config file, for CONFIG REWRITE.
    pub path: Option<PathBuf>,
    pub file_only: FileOnly,
    /// Directives given in the config file or on the command line.
    explicit: Vec<&'static str>,
}

impl Config {
    /// Defaults only (no file, no options).
    pub fn defaults() -> Config {
        let values = directives().iter().map(|d| (d.name, d.default.to_string())).collect();
        Config { values: RwLock::new(values), path: None, file_only: FileOnly::default(), explicit: Vec::new() }
    }

    /// Loads the file (if any), then stdin (if asked), then the command-line options,
    /// as one text the way Redis concatenates them (so line numbers in errors match):
    /// file, stdin, a newline, the options.
    pub fn load(cl: &file::CommandLine) -> Result<Config, ConfigError> {
        let mut cfg = Config::defaults();
        let mut text = String::new();
        if let Some(path) = &cl.config_file {
            text.push_str(&file::read_text(path)?);
            cfg.path = std::fs::canonicalize(path).ok();
        }
        if cl.config_from_stdin {
            text.push_str(&file::read_text("-")?);
        }
        text.push('\n');
        text.push_str(&cl.options);
        let lines = file::parse_text(&text, 0, 1)?;
        cfg.apply_lines(&lines)?;
        Ok(cfg)
    }

    fn apply_lines(&mut self, lines: &[Line]) -> Result<(), ConfigError> {
        let mut seen: Vec<&'static str> = Vec::new();
        for line in lines {
            let name = line.args[0].as_str();
            match name {
                "rename-command" if line.args.len() == 3 => {
                    self.file_only.renames.push((line.args[1].clone(), line.args[2].clone()));
                    continue;
                }
                "user" if line.args.len() >= 2 => {
                    if line.args[1] != "default" {
                        return Err(ConfigError::at(line, "Redoubt supports only the ACL default user yet"));
                    }
                    let user = crate::acl::DefaultUser::from_config_rules(&line.args[2..])
                        .map_err(|e| ConfigError::at(line, e))?;
                    self.file_only.default_user = Some(user);
                    continue;
                }
                "loadmodule" => return Err(ConfigError::at(line, "Modules are not supported by Redoubt")),
                _ => {}
            }
            let d =
                directive(name).ok_or_else(|| ConfigError::at(line, "Bad directive or wrong number of arguments"))?;
            if line.args.len() < 2 {
                return Err(ConfigError::at(line, "wrong number of arguments"));
            }
            let source = if seen.contains(&d.name) { Source::FileMore } else { Source::FileFirst };
            let current = self.get(d.name);
            let value = normalize(d, &line.args[1..], &current, source).map_err(|e| ConfigError::at(line, e))?;
            if let Some(reason) = support::refuse(d.name, &value) {
                return Err(ConfigError::at(line, reason));
            }
            self.values.get_mut().unwrap_or_else(|e| e.into_inner()).insert(d.name, value);
            seen.push(d.name);
            self.explicit.push(d.name);
        }
        Ok(())
    }

    /// True when the config file or the command line set directive `name`.
    pub fn explicitly_set(&self, name: &str) -> bool {
        directive(name).is_some_and(|d| self.explicit.contains(&d.name))
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<&'static str, String>> {
        self.values.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The canonical value of a directive (by canonical name).
    pub fn get(&self, name: &str) -> String {
        let key = directive(name).map_or(name, |d| d.name);
        self.read().get(key).cloned().unwrap_or_default()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    /// CONFIG GET: every directive (and alias) matching any pattern, once each.
    /// A name without glob characters is looked up directly and answered as typed
    /// (`CONFIG GET MAXMEMORY` answers `MAXMEMORY`), as Redis does.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let values = self.read();
        let mut out: Vec<(String, String)> = Vec::new();
        let mut add = |name: String, d: &Directive| {
            if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                out.push((name, values.get(d.name).cloned().unwrap_or_default()));
            }
        };
        for p in patterns {
            if !p.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
                let typed = String::from_utf8_lossy(p).into_owned();
                if let Some(d) = directive(&typed) {
                    add(typed, d);
                }
                continue;
            }
            for d in directives() {
                for name in std::iter::once(&d.name).chain(d.aliases.iter()) {
                    if glob_match(p, name.as_bytes(), true) {
                        add(name.to_string(), d);
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET: checks every pair, then stores them all and calls `apply` for each
    /// changed directive; if any check or `apply` fails nothing stays changed. The error
    /// is Redis's full text.
    pub fn set_many(
        &self,
        pairs: &[(String, String)],
        mut apply: impl FnMut(&'static str) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut planned: Vec<(&'static Directive, String, String)> = Vec::new();
        for (name, value) in pairs {
            let Some(d) = directive(name) else {
                return Err(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"));
            };
            let fail = |why: &str| format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}");
            if !d.mutable {
                return Err(fail("can't set immutable config"));
            }
            if planned.iter().any(|(p, _, _)| p.name == d.name) {
                return Err(fail("duplicate parameter"));
            }
            let old = self.get(d.name);
            let new = normalize(d, std::slice::from_ref(value), &old, Source::ConfigSet).map_err(|e| fail(&e))?;
            if let Some(reason) = support::refuse(d.name, &new) {
                return Err(fail(reason));
            }
            planned.push((d, new, old));
        }
        {
            let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
            for (d, new, _) in &planned {
                values.insert(d.name, new.clone());
            }
        }
        for (i, (d, _, _)) in planned.iter().enumerate() {
            if let Err(why) = apply(d.name) {
                let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
                for (d, _, old) in &planned {
                    values.insert(d.name, old.clone());
                }
                drop(values);
                // Re-apply the old values of what was already applied; best effort.
                for (d, _, _) in &planned[..=i] {
                    let _ = apply(d.name);
                }
                return Err(format!("ERR CONFIG SET failed (possibly related to argument '{}') - {why}", d.name));
            }
        }
        Ok(())
    }

    /// Every directive whose value differs from its default.
    pub fn non_defaults(&self) -> Vec<(&'static Directive, String)> {
        let values = self.read();
        directives()
            .iter()
            .filter_map(|d| values.get(d.name).filter(|v| v.as_str() != d.default).map(|v| (d, v.clone())))
            .collect()
    }
}

/// Parses one directive's arguments into its canonical value.
fn normalize(d: &'static Directive, args: &[String], current: &str, source: Source) -> Result<String, String> {
    let v = match d.kind {
        Kind::Special => special::parse(d.name, args, current, source)?,
        _ => d.normalize(args)?,
    };
    // Redis keeps `hz` within 1..=500 silently.
    if d.name == "hz" {
        let n: i64 = v.parse().unwrap_or(10);
        return Ok(n.clamp(1, 500).to_string());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let cl = file::CommandLine { options: text.into(), ..Default::default() };
        Config::load(&cl)
    }

    #[test]
    fn defaults_and_file_values() {
        let c = load("port 7000\nmaxmemory 1gb\nhz 1000\nslave-read-only no\nsave 900 1\nsave 300 10").unwrap();
        assert_eq!(c.get("port"), "7000");
        assert_eq!(c.get("maxmemory"), "1073741824");
        assert_eq!(c.get("hz"), "500");
        assert_eq!(c.get("replica-read-only"), "no");
        assert_eq!(c.get("save"), "900 1 300 10");
        assert_eq!(c.get("databases"), "16");
    }

    #[test]
    fn file_errors_carry_line_and_reason() {
        // Options come after the (here empty) file and a newline, so they start at line 2.
        let e = load("# x\nport abc").unwrap_err().to_string();
        assert!(e.contains("at line 3\n>>> 'port abc'\nargument couldn't be parsed into an integer"), "{e}");
        let e = load("foo bar").unwrap_err().to_string();
        assert!(e.ends_with("Bad directive or wrong number of arguments"), "{e}");
        let e = load("maxmemory-policy bogus").unwrap_err().to_string();
        assert!(e.ends_with("allkeys-lru, allkeys-lfu, allkeys-random, noeviction"), "{e}");
    }

    #[test]
    fn config_set_is_atomic() {
        let c = Config::defaults();
        let pairs = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert!(c.set_many(&pairs(&[("maxmemory", "10mb"), ("maxmemory-policy", "bogus")]), |_| Ok(())).is_err());
        assert_eq!(c.get("maxmemory"), "0");
        let e = c.set_many(&pairs(&[("maxmemory", "1"), ("maxmemory", "2")]), |_| Ok(())).unwrap_err();
        assert_eq!(e, "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter");
        let e = c.set_many(&pairs(&[("daemonize", "yes")]), |_| Ok(())).unwrap_err();
        assert!(e.ends_with("can't set immutable config"));
        let e = c.set_many(&pairs(&[("maxmemory", "5mb")]), |_| Err("no".into())).unwrap_err();
        assert!(e.ends_with("- no"));
        assert_eq!(c.get("maxmemory"), "0");
        c.set_many(&pairs(&[("maxmemory", "5mb"), ("hz", "20")]), |_| Ok(())).unwrap();
        assert_eq!((c.get("maxmemory").as_str(), c.get("hz").as_str()), ("5242880", "20"));
        let got = c.matching(&[b"maxmemory-p*"]);
        assert_eq!(got, vec![("maxmemory-policy".to_string(), "noeviction".to_string())]);
    }
}
