//! Inline commands: a request line split into arguments with Redis's quoting rules
//! (`sdssplitargs`): `"..."` with `\n \r \t \b \a \xHH` escapes, `'...'` with only `\'`,
//! and a closing quote that must be followed by a space or the end of the line.

/// Why a line could not be split.
#[derive(Debug, PartialEq, Eq)]
pub struct UnbalancedQuotes;

/// Splits `line` into arguments, appending their bytes to `arena` and their
/// `(start, end)` positions in `arena` to `ranges`. A NUL byte ends the line, as it
/// does for Redis (which works on a C string here).
pub fn split_args(line: &[u8], arena: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> Result<(), UnbalancedQuotes> {
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let mut p = 0usize;
    loop {
        while at(p) != 0 && is_c_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Ok(());
        }
        let start = arena.len();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let c = at(p);
            if in_dq {
                if c == b'\\' && at(p + 1) == b'x' && is_hex(at(p + 2)) && is_hex(at(p + 3)) {
                    arena.push(hex_val(at(p + 2)) * 16 + hex_val(at(p + 3)));
                    p += 3;
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    arena.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    arena.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    arena.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    arena.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => arena.push(c),
                }
            }
            p += 1;
        }
        ranges.push((start, arena.len()));
    }
}

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, UnbalancedQuotes> {
        let (mut arena, mut ranges) = (Vec::new(), Vec::new());
        split_args(line, &mut arena, &mut ranges)?;
        Ok(ranges.iter().map(|&(s, e)| arena[s..e].to_vec()).collect())
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(split(b"  set a  b ").unwrap(), vec![b"set".to_vec(), b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(split(b"set a \"\\x41\\n\"").unwrap()[2], b"A\n");
        assert_eq!(split(b"echo 'a\\'b'").unwrap()[1], b"a'b");
        assert_eq!(split(b"echo \"\"").unwrap()[1], b"");
        assert_eq!(split(b"echo \"a\"b"), Err(UnbalancedQuotes));
        assert_eq!(split(b"echo \"ab"), Err(UnbalancedQuotes));
        assert_eq!(split(b"echo 'ab"), Err(UnbalancedQuotes));
        assert_eq!(split(b"a\0b c").unwrap(), vec![b"a".to_vec()]);
        assert!(split(b"   ").unwrap().is_empty());
    }
}
