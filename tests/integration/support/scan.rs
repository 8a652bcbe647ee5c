//! SCAN-family iterations driven to the end: everything one iteration returns (to
//! compare two servers' whole iterations), and the guarantee that an element present
//! for the whole iteration is returned while others come and go.

use std::collections::HashSet;

use super::conn::Conn;
use super::{items, text, Value};

/// How an xSCAN's reply is read.
#[derive(Clone, Copy, PartialEq)]
pub enum Scan {
    /// One element per item (SCAN, SSCAN).
    Members,
    /// Field/value pairs (HSCAN, ZSCAN).
    Pairs,
}

/// Iterates `<cmd> <key> <cursor> <extra...>` to cursor 0 and returns what it saw,
/// sorted and de-duplicated (cursors are an implementation detail; the elements are
/// not), pairs kept together. Bounded: an iteration that never ends is reported as
/// such.
pub fn scan_elements(c: &mut Conn, cmd: &str, key: &str, extra: &[&str], how: Scan) -> Vec<Vec<u8>> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for _ in 0..100_000 {
        let mut args = vec![cmd.to_string(), key.to_string(), cursor.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let reply = c.val(&args);
        let Value::Array(parts) = &reply else { return vec![format!("<{reply:?}>").into_bytes()] };
        cursor = text(&parts[0]);
        let found: Vec<Vec<u8>> = items(&parts[1])
            .iter()
            .map(|v| match v {
                Value::Bulk(b) => b.clone(),
                other => format!("<{other:?}>").into_bytes(),
            })
            .collect();
        match how {
            Scan::Members => seen.extend(found),
            Scan::Pairs => seen.extend(found.chunks(2).map(|p| p.join(&b"\x00=\x00"[..]))),
        }
        if cursor == "0" {
            seen.sort();
            seen.dedup();
            return seen;
        }
    }
    vec![b"<never returned cursor 0>".to_vec()]
}

/// Runs one iteration on `c` — `scan(cursor)` is the command for a cursor — calling
/// `churn(round)` (writes on another connection) before each call, and returns the
/// elements of `stable` it never returned (of pairs, the fields count), or None when
/// cursor 0 did not come back within `rounds_max` calls.
pub fn missed_under_churn(
    c: &mut Conn,
    scan: impl Fn(&str) -> Vec<String>,
    how: Scan,
    rounds_max: usize,
    mut churn: impl FnMut(usize),
    stable: &[String],
) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    for round in 0..rounds_max {
        churn(round);
        let reply = c.val(&scan(&cursor));
        let parts = items(&reply);
        cursor = text(&parts[0]);
        let step = if how == Scan::Pairs { 2 } else { 1 };
        seen.extend(items(&parts[1]).iter().step_by(step).map(text));
        if cursor == "0" {
            return Some(stable.iter().filter(|e| !seen.contains(*e)).cloned().collect());
        }
    }
    None
}
