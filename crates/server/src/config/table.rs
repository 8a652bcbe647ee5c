//! Directive types and how values of each type are parsed, checked and printed, with
//! Redis 7.0's error texts (which clients see from CONFIG SET and users see when a
//! config file is refused).

/// The type of a directive's value.
#[derive(Debug)]
pub enum Kind {
    Bool,
    Int {
        min: i64,
        max: i64,
    },
    /// Bytes, written with optional units (`1gb`, `100mb`, `5k`).
    Memory {
        min: i64,
        max: i64,
    },
    Enum(&'static [&'static str]),
    Str,
    /// Own syntax; see `special.rs`.
    Special,
}

/// One directive of the table.
#[derive(Debug)]
pub struct Directive {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
    /// The default, in CONFIG GET's form.
    pub default: &'static str,
    /// False for directives only a config file or the command line may set.
    pub mutable: bool,
}

/// Parses a memory value as Redis's `memtoull`: digits, then an optional unit
/// (b, k, kb, m, mb, g, gb; case-insensitive; k = 1000, kb = 1024).
pub fn parse_memory(s: &str) -> Option<u64> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    // No digits reads as 0, as `strtoull` does in Redis's memtoull ("", "kb").
    let n = if num.is_empty() { 0 } else { num.parse::<u64>().ok()? };
    n.checked_mul(mul)
}

/// Formats bytes with the largest unit that divides them exactly, as CONFIG REWRITE
/// writes memory values (`1gb`, `512mb`, `100`).
pub fn format_memory(v: i64) -> String {
    const GB: i64 = 1024 * 1024 * 1024;
    const MB: i64 = 1024 * 1024;
    const KB: i64 = 1024;
    if v != 0 && v % GB == 0 {
        format!("{}gb", v / GB)
    } else if v != 0 && v % MB == 0 {
        format!("{}mb", v / MB)
    } else if v != 0 && v % KB == 0 {
        format!("{}kb", v / KB)
    } else {
        v.to_string()
    }
}

impl Directive {
    /// Checks `args` (one value, for the plain kinds) and returns the value in CONFIG
    /// GET's canonical form, or Redis's error text.
    pub fn normalize(&self, args: &[String]) -> Result<String, String> {
        if args.len() != 1 {
            return Err("wrong number of arguments".into());
        }
        let v = &args[0];
        match &self.kind {
            Kind::Bool => match v.to_ascii_lowercase().as_str() {
                "yes" => Ok("yes".into()),
                "no" => Ok("no".into()),
                _ => Err("argument must be 'yes' or 'no'".into()),
            },
            Kind::Int { min, max } => {
                let n = redoubt_resp::number::parse_i64(v.as_bytes())
                    .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
                check_bounds(n, *min, *max)?;
                Ok(n.to_string())
            }
            Kind::Memory { min, max } => {
                let n = parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())?;
                let n = i64::try_from(n).map_err(|_| "argument must be a memory value".to_string())?;
                check_bounds(n, (*min).max(0), *max)?;
                Ok(n.to_string())
            }
            Kind::Enum(values) => values
                .iter()
                .find(|x| x.eq_ignore_ascii_case(v))
                .map(|x| x.to_string())
                .ok_or_else(|| format!("argument(s) must be one of the following: {}", values.join(", "))),
            Kind::Str => Ok(v.clone()),
            Kind::Special => Err("internal: special directive parsed as plain".into()),
        }
    }

    /// The value as CONFIG REWRITE writes a number, flag or enum (memory with units).
    pub fn rewrite_form(&self, value: &str) -> String {
        match &self.kind {
            Kind::Memory { .. } => value.parse().map(format_memory).unwrap_or_else(|_| value.to_string()),
            _ => value.to_string(),
        }
    }
}

fn check_bounds(n: i64, min: i64, max: i64) -> Result<(), String> {
    if n < min || n > max {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("1g"), Some(1_000_000_000));
        assert_eq!(parse_memory("100mb"), Some(100 << 20));
        assert_eq!(parse_memory("5k"), Some(5000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(parse_memory("gb"), Some(0));
        assert_eq!(parse_memory(""), Some(0));
        assert_eq!(format_memory(1 << 30), "1gb");
        assert_eq!(format_memory(1000), "1000");
    }
}
