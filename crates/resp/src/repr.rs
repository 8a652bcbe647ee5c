//! Redis's `sdscatrepr`: a byte string written as a double-quoted C-like literal
//! (`"a\nb\x00"`). MONITOR lines, CONFIG REWRITE and the command-line-to-config
//! conversion all print client bytes this way.

/// Appends `bytes` to `out`, quoted and escaped as Redis's `sdscatrepr` does.
pub fn push_repr(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &c in bytes {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c as char),
            c => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\x");
                out.push(HEX[(c >> 4) as usize] as char);
                out.push(HEX[(c & 15) as usize] as char);
            }
        }
    }
    out.push('"');
}

/// `bytes` quoted as Redis's `sdscatrepr` does.
pub fn repr(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() + 2);
    push_repr(&mut s, bytes);
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_like_sdscatrepr() {
        assert_eq!(super::repr(b"a b\n\"\\\x00\xff"), "\"a b\\n\\\"\\\\\\x00\\xff\"");
        assert_eq!(super::repr(b""), "\"\"");
    }
}
