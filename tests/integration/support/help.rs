//! HELP replies compared by shape: Redoubt words its own help text (Redis's is prose,
//! not interface), so tests compare the header, the syntax line of each subcommand
//! and the trailer, not the descriptions.

use super::{split_aggregate, text, to_value};

/// Subcommands in Redis's HELP that Redoubt has not built yet.
const HELP_NOT_BUILT: &[&str] = &["CACHING", "GETREDIR", "TRACKING", "TRACKINGINFO", "DOCTOR", "GRAPH", "HISTOGRAM"];

/// A HELP reply reduced to its header, its syntax lines (without the indented
/// descriptions) and its trailer, leaving out subcommands not built yet.
pub fn canon_help(raw: &[u8]) -> Vec<u8> {
    let Some((_, lines)) = split_aggregate(raw) else { return raw.to_vec() };
    let kept: Vec<Vec<u8>> = lines
        .into_iter()
        .filter(|l| {
            let t = text(&to_value(l));
            let first = t.split([' ', '(']).next().unwrap_or("");
            !t.starts_with(' ') && !HELP_NOT_BUILT.contains(&first)
        })
        .collect();
    let mut out = format!("*{}\r\n", kept.len()).into_bytes();
    out.extend(kept.concat());
    out
}
