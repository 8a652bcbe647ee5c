//! Script and function flags (`#!lua flags=...`, `redis.register_function{flags=...}`)
//! and the shebang line of an EVAL script.

/// Flag bits, in the order Redis lists them.
pub const NO_WRITES: u32 = 1 << 0;
pub const ALLOW_OOM: u32 = 1 << 1;
pub const ALLOW_STALE: u32 = 1 << 2;
pub const NO_CLUSTER: u32 = 1 << 3;
pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
/// An EVAL script without a shebang: Redis 6's rules (no flags, writes checked at
/// each command instead of up front).
pub const EVAL_COMPAT: u32 = 1 << 5;

/// Flag names, as scripts spell them and FUNCTION LIST shows them.
pub const NAMES: [(&str, u32); 5] = [
    ("no-writes", NO_WRITES),
    ("allow-oom", ALLOW_OOM),
    ("allow-stale", ALLOW_STALE),
    ("no-cluster", NO_CLUSTER),
    ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
];

/// The bit of flag `name`, if it is one.
pub fn parse(name: &[u8]) -> Option<u32> {
    NAMES.iter().find(|(n, _)| n.as_bytes() == name).map(|(_, b)| *b)
}

/// The names of the bits set in `flags`, in Redis's order.
pub fn names(flags: u32) -> impl Iterator<Item = &'static str> {
    NAMES.iter().filter(move |(_, b)| flags & b != 0).map(|(n, _)| *n)
}

/// Reads the flags of an EVAL script's body: `EVAL_COMPAT` without a shebang, else the
/// flags its `#!lua` line names. `Err` is Redis's error text.
pub fn eval_shebang(body: &[u8]) -> Result<u32, String> {
    if !body.starts_with(b"#!") {
        return Ok(EVAL_COMPAT);
    }
    let Some(end) = body.iter().position(|&c| c == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    let engine = parts.next().unwrap_or("");
    if engine != "#!lua" {
        return Err(format!("ERR Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("ERR Unknown lua shebang option: {part}"));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(',') {
            flags |= parse(name.as_bytes()).ok_or_else(|| format!("ERR Unexpected flag in script shebang: {name}"))?;
        }
    }
    Ok(flags)
}

/// The code Lua compiles for a body that may start with a `#!` line: that line made a
/// comment, so line numbers in errors still count it, as in Redis.
pub fn code_without_shebang(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if body.starts_with(b"#!") {
        let mut code = body.to_vec();
        code[0] = b'-';
        code[1] = b'-';
        std::borrow::Cow::Owned(code)
    } else {
        std::borrow::Cow::Borrowed(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(eval_shebang(b"return 1"), Ok(EVAL_COMPAT));
        assert_eq!(eval_shebang(b"#!lua\nreturn 1"), Ok(0));
        assert_eq!(eval_shebang(b"#!lua  flags=no-writes,allow-oom  \nx"), Ok(NO_WRITES | ALLOW_OOM));
        assert_eq!(eval_shebang(b"#!lua flags=\nx"), Ok(0));
        assert_eq!(eval_shebang(b"#!lua"), Err("ERR Invalid script shebang".into()));
        assert_eq!(eval_shebang(b"#!luax\n"), Err("ERR Unexpected engine in script shebang: #!luax".into()));
        assert_eq!(eval_shebang(b"#!lua flags=a,,b\n"), Err("ERR Unexpected flag in script shebang: a".into()));
        assert_eq!(eval_shebang(b"#!lua name=x\n"), Err("ERR Unknown lua shebang option: name=x".into()));
        assert_eq!(names(NO_WRITES | NO_CLUSTER).collect::<Vec<_>>(), ["no-writes", "no-cluster"]);
        assert_eq!(&*code_without_shebang(b"#!lua\nreturn 1"), b"--lua\nreturn 1");
    }
}
