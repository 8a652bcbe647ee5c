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
