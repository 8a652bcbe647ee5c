//! Directives with their own syntax: several words (`save`, `bind`,
//! `client-output-buffer-limit`), octal numbers, flag letters, paths. Each returns the
//! value in CONFIG GET's canonical form, or Redis's error text.

use super::table::parse_memory;

/// Where a value comes from: a config line accumulates (`save` lines add up,
/// `client-output-buffer-limit` lines set one class each); CONFIG SET replaces.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The first config line for this directive.
    FileFirst,
    /// A later config line for the same directive.
    FileMore,
    ConfigSet,
}

/// Canonical value of special directive `name` from `args`, given its current value.
pub fn parse(name: &str, args: &[String], current: &str, source: Source) -> Result<String, String> {
    let one = || -> Result<&String, String> {
        if args.len() == 1 {
            Ok(&args[0])
        } else {
            Err("wrong number of arguments".into())
        }
    };
    match name {
        "save" => save(args, current, source),
        "bind" => {
            let words = words_of(args, source);
            if words.is_empty() || words.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            Ok(words.join(" "))
        }
        "client-output-buffer-limit" => output_limits(&words_of(args, source), current),
        "notify-keyspace-events" => keyspace_events(one()?).map(flags_to_string),
        "unixsocketperm" => {
            let v = one()?;
            let n =
                u32::from_str_radix(v, 8).map_err(|_| "argument couldn't be parsed as an octal number".to_string())?;
            if n > 0o777 {
                return Err("argument couldn't be parsed as an octal number".into());
            }
            Ok(format!("{n:o}"))
        }
        "dir" => {
            let v = one()?;
            std::env::set_current_dir(v).map_err(|e| super::file::io_reason(&e))?;
            Ok(std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|_| v.clone()))
        }
        "replicaof" => match args {
            [h, p] if h.eq_ignore_ascii_case("no") && p.eq_ignore_ascii_case("one") => Ok(String::new()),
            [h, p] => {
                p.parse::<u16>().map_err(|_| "Invalid master port".to_string())?;
                Ok(format!("{h} {p}"))
            }
            [v] if v.is_empty() => Ok(String::new()),
            _ => Err("wrong number of arguments".into()),
        },
        "oom-score-adj-values" => {
            let words = words_of(args, source);
            if words.len() != 3 || words.iter().any(|w| w.parse::<i32>().map_or(true, |n| !(-2000..=2000).contains(&n)))
            {
                return Err("Invalid oom-score-adj-values".into());
            }
            Ok(words.join(" "))
        }
        "latency-tracking-info-percentiles" => {
            let words = words_of(args, source);
            let mut out = Vec::new();
            for w in &words {
                let p: f64 =
                    w.parse().map_err(|_| "Invalid latency-tracking-info-percentiles parameters".to_string())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err("Invalid latency-tracking-info-percentiles parameters".into());
                }
                let mut s = Vec::new();
                redoubt_resp::number::push_g(&mut s, p, 17);
                out.push(String::from_utf8_lossy(&s).into_owned());
            }
            Ok(out.join(" "))
        }
        "shutdown-on-sigint" | "shutdown-on-sigterm" => {
            const FLAGS: [&str; 5] = ["default", "save", "nosave", "now", "force"];
            let words = words_of(args, source);
            let mut out: Vec<&str> = Vec::new();
            for w in &words {
                let f = FLAGS
                    .iter()
                    .find(|f| f.eq_ignore_ascii_case(w))
                    .ok_or_else(|| format!("argument(s) must be one of the following: {}", FLAGS.join(", ")))?;
                out.push(f);
            }
            if out.is_empty() || (out.contains(&"save") && out.contains(&"nosave")) {
                return Err("argument(s) must be one of the following: default, save, nosave, now, force".into());
            }
            Ok(out.join(" "))
        }
        "supervised" => {
            const MODES: [&str; 4] = ["upstart", "systemd", "auto", "no"];
            let v = one()?;
            MODES
                .iter()
                .find(|m| m.eq_ignore_ascii_case(v))
                .map(|m| m.to_string())
                .ok_or_else(|| format!("argument(s) must be one of the following: {}", MODES.join(", ")))
        }
        "dbfilename" | "appendfilename" => {
            let v = one()?;
            if v.contains('/') {
                return Err(format!("{name} can't be a path, just a filename"));
            }
            Ok(v.clone())
        }
        _ => one().cloned(),
    }
}

/// Multi-word values come as several config-file arguments or as one CONFIG SET string.
fn words_of(args: &[String], source: Source) -> Vec<String> {
    match source {
        Source::ConfigSet => args.iter().flat_map(|a| a.split_whitespace().map(str::to_string)).collect(),
        // One non-empty argument is split too, as Redis 7.0 does for its multi-arg
        // directives, so that `--save "3600 1"` on the command line works.
        _ if args.len() == 1 && !args[0].is_empty() => args[0].split_whitespace().map(str::to_string).collect(),
        _ => args.to_vec(),
    }
}

fn save(args: &[String], current: &str, source: Source) -> Result<String, String> {
    let words = words_of(args, source);
    // `save ""` (or an empty CONFIG SET value) disables snapshots.
    if words.iter().all(|w| w.is_empty()) {
        return Ok(String::new());
    }
    if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<i64>().map_or(true, |n| n < 0)) {
        return Err("Invalid save parameters".into());
    }
    let mine = words.join(" ");
    Ok(if source == Source::FileMore && !current.is_empty() { format!("{current} {mine}") } else { mine })
}

/// The three client classes, in the order CONFIG GET prints them.
const CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

fn output_limits(words: &[String], current: &str) -> Result<String, String> {
    if !words.len().is_multiple_of(4) || words.is_empty() {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut table: Vec<[String; 3]> = CLASSES.iter().map(|_| Default::default()).collect();
    let cur: Vec<&str> = current.split_whitespace().collect();
    for (i, class) in CLASSES.iter().enumerate() {
        if let Some(pos) = cur.iter().position(|w| w == class) {
            for (k, slot) in table[i].iter_mut().enumerate() {
                *slot = cur.get(pos + 1 + k).unwrap_or(&"0").to_string();
            }
        }
    }
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
        };
        let hard = parse_memory(&group[1]);
        let soft = parse_memory(&group[2]);
        let secs = group[3].parse::<u64>().ok();
        let (Some(hard), Some(soft), Some(secs)) = (hard, soft, secs) else {
            return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
        };
        table[class] = [hard.to_string(), soft.to_string(), secs.to_string()];
    }
    Ok(CLASSES.iter().zip(table).map(|(c, [h, s, t])| format!("{c} {h} {s} {t}")).collect::<Vec<_>>().join(" "))
}

pub use redoubt_engine::notify;

/// Parses notify-keyspace-events letters (Redis's `keyspaceEventsStringToFlags`).
pub fn keyspace_events(s: &str) -> Result<u32, String> {
    use notify::*;
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        };
    }
    Ok(f)
}

/// Prints flags back in Redis's canonical order (`keyspaceEventsFlagsToString`).
pub fn flags_to_string(f: u32) -> String {
    use notify::*;
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
        // Redis 7.0 prints no `n` after `A` (a display bug: the flag still works), and
        // this string is also what the flags are read back from, so `n` stays, where
        // the letters after `A` would have put it.
        if f & NEW != 0 {
            s.push('n');
        }
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn save_lines_accumulate() {
        let a = parse("save", &v(&["900", "1"]), "3600 1", Source::FileFirst).unwrap();
        assert_eq!(a, "900 1");
        let b = parse("save", &v(&["300", "10"]), &a, Source::FileMore).unwrap();
        assert_eq!(b, "900 1 300 10");
        assert_eq!(parse("save", &v(&[""]), &b, Source::FileFirst).unwrap(), "");
        assert_eq!(parse("save", &v(&["10"]), "", Source::FileFirst).unwrap_err(), "Invalid save parameters");
        assert_eq!(parse("save", &v(&["100 2"]), "", Source::ConfigSet).unwrap(), "100 2");
    }

    #[test]
    fn output_buffer_classes() {
        let cur = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
        let n =
            parse("client-output-buffer-limit", &v(&["normal", "1mb", "2mb", "60"]), cur, Source::FileFirst).unwrap();
        assert_eq!(n, "normal 1048576 2097152 60 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
        let e = parse("client-output-buffer-limit", &v(&["foo", "1", "2", "3"]), cur, Source::FileFirst).unwrap_err();
        assert_eq!(e, "Invalid client class specified in buffer limit configuration.");
    }

    #[test]
    fn notify_flags_round_trip() {
        assert_eq!(flags_to_string(keyspace_events("KEA").unwrap()), "AKE");
        assert_eq!(flags_to_string(keyspace_events("Ex$").unwrap()), "$xE");
        assert!(keyspace_events("Zx").is_err());
    }
}
