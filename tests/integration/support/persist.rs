//! What the RDB and AOF tests share: INFO persistence fields, the dataset's digest, a
//! FUNCTION library to carry through files, and a full disk on demand.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::process::ServerProcess;
use super::{info_field, text};

/// A field of INFO persistence; panics if the section has none.
pub fn persistence_info(s: &ServerProcess, field: &str) -> String {
    let v = s.conn().val(&["INFO", "persistence"]);
    info_field(&text(&v), field).unwrap_or_else(|| panic!("INFO persistence has no {field}"))
}

/// DEBUG DIGEST of the whole dataset.
pub fn digest(s: &ServerProcess) -> String {
    text(&s.conn().val(&["DEBUG", "DIGEST"]))
}

/// A FUNCTION library, as `FUNCTION LOAD` takes it.
pub const LIBRARY: &str =
    "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)";

/// A tmpfs mounted for a test (root only), lazily unmounted when dropped: a full
/// disk on demand.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a server whose working directory is still inside must not keep the
        // mount (and the test machine) busy.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The incremental files of an AOF directory (`dir/appendonlydir`), by name.
pub fn incr_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("appendonlydir"))
        .expect("aof dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .collect();
    v.sort();
    v
}

/// The commands of an AOF directory's incremental files, in order, without the
/// annotation lines (`#...`) that Redis's loader skips: Redoubt marks replication
/// offsets with them, Redis writes `#TS:` ones with `aof-timestamp-enabled`.
pub fn incr_aof_commands(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for f in incr_files(dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        out.extend(without_annotations(&bytes));
    }
    out
}

/// `aof` with the annotation lines between its commands left out.
fn without_annotations(aof: &[u8]) -> Vec<u8> {
    let line_end = |from: usize| aof[from..].iter().position(|&b| b == b'\n').map_or(aof.len(), |i| from + i + 1);
    let number = |from: usize, to: usize| -> usize {
        std::str::from_utf8(&aof[from..to]).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < aof.len() {
        let end = line_end(pos);
        if aof[pos] == b'#' {
            pos = end;
            continue;
        }
        // A command: its header, then each bulk's header and payload, copied whole.
        let start = pos;
        let count = if aof[pos] == b'*' { number(pos + 1, end) } else { 0 };
        pos = end;
        for _ in 0..count {
            let header_end = line_end(pos);
            let len = number(pos + 1, header_end);
            pos = (header_end + len + 2).min(aof.len());
        }
        out.extend_from_slice(&aof[start..pos]);
    }
    out
}
