//! Reading configuration: redis.conf files (comments, quoting, `include`) and the
//! redis-server command line (`[config-file] [--directive value ...] [-]`), which Redis
//! turns into extra config lines appended after the file. Errors are reported the way
//! Redis reports them, with the line number and the offending line.

use std::fmt;
use std::io::Read;

use redoubt_resp::inline::split_args;

/// How many nested `include`s are followed before giving up (a loop guard).
pub const INCLUDE_DEPTH_MAX: usize = 16;

/// One directive line: its arguments (name lower-cased) and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub args: Vec<String>,
    pub text: String,
    pub number: usize,
}

/// A fatal configuration error, printed as Redis prints it before exiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A bad line: its number, its text, and why.
    Line { number: usize, text: String, reason: String },
    /// A file that cannot be read.
    File { path: String, reason: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ConfigError::Line { number, text, reason } => write!(
                f,
                "\n*** FATAL CONFIG FILE ERROR (Redis {}) ***\nReading the configuration file, at line {number}\n>>> '{text}'\n{reason}",
                crate::REDIS_VERSION
            ),
            ConfigError::File { path, reason } => {
                write!(f, "Fatal error, can't open config file '{path}': {reason}")
            }
        }
    }
}

impl ConfigError {
    pub fn at(line: &Line, reason: impl Into<String>) -> ConfigError {
        ConfigError::Line { number: line.number, text: line.text.clone(), reason: reason.into() }
    }
}

/// What the command line asked for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub config_file: Option<String>,
    pub config_from_stdin: bool,
    /// The `--directive value` options, as config text.
    pub options: String,
    pub sentinel: bool,
}

/// Turns argv (without the program name) into a [`CommandLine`], as redis-server does:
/// the first argument is a config file unless it starts with `--`; each `--name`
/// starts a new line; other arguments are quoted values of the current line.
pub fn parse_command_line(argv: &[String]) -> CommandLine {
    let mut cl = CommandLine::default();
    let mut j = 0;
    if let Some(first) = argv.first() {
        if !first.starts_with("--") && first != "-" {
            cl.config_file = Some(first.clone());
            j = 1;
        }
    }
    let mut handled_last = true;
    let mut options = String::new();
    let n = argv.len();
    while j < n {
        let a = &argv[j];
        if a == "-" && (j == 0 || j == n - 1) {
            cl.config_from_stdin = true;
        } else if a == "--sentinel" {
            cl.sentinel = true;
        } else if handled_last && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            let words = a.split_whitespace().count();
            if words == 1 {
                handled_last = false;
                // `--save` followed by another option, or last: an empty save.
                let next_is_option = j + 1 < n && argv[j + 1].starts_with("--");
                if a.eq_ignore_ascii_case("--save") && (next_is_option || j == n - 1) {
                    options.push_str("\"\"");
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            options.push_str(&redoubt_resp::repr::repr(a.as_bytes()));
            options.push(' ');
            handled_last = true;
        }
        j += 1;
    }
    cl.options = options;
    cl
}

/// Reads a config file (following `include`s) into lines.
pub fn read_file(path: &str, depth: usize, first_number: usize) -> Result<Vec<Line>, ConfigError> {
    if depth > INCLUDE_DEPTH_MAX {
        return Err(ConfigError::File { path: path.into(), reason: "too many nested includes".into() });
    }
    parse_text(&read_text(path)?, depth, first_number)
}

/// The text of a config file (`-` is stdin).
pub fn read_text(path: &str) -> Result<String, ConfigError> {
    Ok(if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| ConfigError::File { path: path.into(), reason: io_reason(&e) })?;
        s
    } else {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::File { path: path.into(), reason: io_reason(&e) })?;
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The text of an I/O error without Rust's " (os error N)" suffix, like `strerror`.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Splits config text into directive lines; `include` lines are replaced by the
/// lines of the included file.
pub fn parse_text(text: &str, depth: usize, first_number: usize) -> Result<Vec<Line>, ConfigError> {
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let number = first_number + i;
        let trimmed = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (mut arena, mut ranges) = (Vec::new(), Vec::new());
        let line_for_error = Line { args: vec![], text: trimmed.to_string(), number };
        split_args(trimmed.as_bytes(), &mut arena, &mut ranges)
            .map_err(|_| ConfigError::at(&line_for_error, "Unbalanced quotes in configuration line"))?;
        if ranges.is_empty() {
            continue;
        }
        let mut args: Vec<String> =
            ranges.iter().map(|&(s, e)| String::from_utf8_lossy(&arena[s..e]).into_owned()).collect();
        args[0] = args[0].to_ascii_lowercase();
        if args[0] == "include" {
            if args.len() != 2 {
                return Err(ConfigError::at(&line_for_error, "Bad directive or wrong number of arguments"));
            }
            out.extend(read_file(&args[1], depth + 1, 1)?);
            continue;
        }
        out.push(Line { args, text: trimmed.to_string(), number });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_line_like_redis() {
        let cl = parse_command_line(&argv(&["/etc/redis.conf", "--port", "7000", "--save", "--appendonly", "yes"]));
        assert_eq!(cl.config_file.as_deref(), Some("/etc/redis.conf"));
        assert_eq!(cl.options, "port \"7000\" \nsave \"\"\nappendonly \"yes\" ");
        let cl = parse_command_line(&argv(&["--save", "", "--bind", "127.0.0.1", "::1"]));
        assert_eq!(cl.config_file, None);
        assert_eq!(cl.options, "save \"\" \nbind \"127.0.0.1\" \"::1\" ");
        assert!(parse_command_line(&argv(&["--sentinel"])).sentinel);
    }

    #[test]
    fn lines_comments_quotes() {
        let lines = parse_text("# c\n  port 7000  \n\nSAVE \"\"\nrequirepass 'a b'\n", 0, 1).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].args, vec!["port", "7000"]);
        assert_eq!(lines[0].number, 2);
        assert_eq!(lines[1].args, vec!["save", ""]);
        assert_eq!(lines[2].args, vec!["requirepass", "a b"]);
        let e = parse_text("port \"7000\n", 0, 1).unwrap_err();
        assert_eq!(e.to_string().lines().last(), Some("Unbalanced quotes in configuration line"));
    }
}
