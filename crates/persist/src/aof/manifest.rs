//! The AOF manifest (`<appendfilename>.manifest` in `appenddirname`):
//!
//! ```text
//! file appendonly.aof.2.base.rdb seq 2 type b
//! file appendonly.aof.3.incr.aof seq 3 type i
//! ```
//!
//! One line per file, `key value` pairs in any order; `type` is `b` (the base, at
//! most one), `i` (incremental, loaded in order after the base) or `h` (history,
//! waiting to be deleted). Lines starting with `#` are comments. Names with unusual
//! bytes are quoted as Redis's `sdscatrepr` quotes them. The manifest is replaced
//! atomically (temporary file, fsync, rename, fsync of the directory), so a crash
//! leaves either the old or the new one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Longest manifest line Redis accepts.
pub const LINE_MAX_BYTES: usize = 1024;
/// A manifest larger than this is not one (a bound on what is read into memory).
pub const MANIFEST_MAX_BYTES: u64 = 16 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Base,
    Incr,
    History,
}

impl Kind {
    fn letter(self) -> char {
        match self {
            Kind::Base => 'b',
            Kind::Incr => 'i',
            Kind::History => 'h',
        }
    }
}

/// One file of the AOF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AofFile {
    pub name: String,
    pub seq: u64,
    pub kind: Kind,
}

/// The files of an AOF, in load order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<AofFile>,
    pub incrs: Vec<AofFile>,
    pub history: Vec<AofFile>,
}

/// The name of the base file number `seq` (`appendonly.aof.1.base.rdb`).
pub fn base_name(prefix: &str, seq: u64, rdb: bool) -> String {
    format!("{prefix}.{seq}.base.{}", if rdb { "rdb" } else { "aof" })
}

/// The name of incremental file number `seq` (`appendonly.aof.1.incr.aof`).
pub fn incr_name(prefix: &str, seq: u64) -> String {
    format!("{prefix}.{seq}.incr.aof")
}

/// The manifest's file name (`appendonly.aof.manifest`).
pub fn manifest_name(prefix: &str) -> String {
    format!("{prefix}.manifest")
}

impl Manifest {
    /// Parses a manifest, with Redis's error texts.
    pub fn parse(text: &[u8]) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for raw in text.split(|&b| b == b'\n') {
            if raw.len() > LINE_MAX_BYTES {
                return Err("The AOF manifest file contains too long line".into());
            }
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            let trimmed = String::from_utf8_lossy(line);
            let trimmed = trimmed.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let words = split_words(trimmed.as_bytes()).ok_or("Invalid AOF manifest file format")?;
            if words.len() % 2 != 0 {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                let value = String::from_utf8_lossy(&pair[1]).into_owned();
                match pair[0].as_slice() {
                    b"file" => name = Some(value),
                    b"seq" => seq = value.parse::<u64>().ok(),
                    b"type" => {
                        kind = match value.as_str() {
                            "b" => Some(Kind::Base),
                            "i" => Some(Kind::Incr),
                            "h" => Some(Kind::History),
                            _ => None,
                        }
                    }
                    // Unknown keys are ignored, for forward compatibility (as Redis).
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            if name.contains('/') || name.is_empty() {
                return Err("Invalid AOF manifest file format".into());
            }
            let f = AofFile { name, seq, kind };
            match kind {
                Kind::Base if m.base.is_some() => return Err("Found duplicate base file information".into()),
                Kind::Base => m.base = Some(f),
                Kind::Incr => {
                    if m.incrs.last().is_some_and(|l| l.seq >= f.seq) {
                        return Err("Found a non-monotonic sequence number".into());
                    }
                    m.incrs.push(f);
                }
                Kind::History => m.history.push(f),
            }
        }
        if m.base.is_none() && m.incrs.is_empty() {
            return Err("Found an empty AOF manifest".into());
        }
        Ok(m)
    }

    /// The manifest's text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, f: &AofFile| {
            out.push_str(&format!("file {} seq {} type {}\n", quote(&f.name), f.seq, f.kind.letter()));
        };
        if let Some(b) = &self.base {
            line(&mut out, b);
        }
        for h in &self.history {
            line(&mut out, h);
        }
        for i in &self.incrs {
            line(&mut out, i);
        }
        out
    }

    /// The files to load, in order: the base, then the incremental files.
    pub fn load_order(&self) -> impl Iterator<Item = &AofFile> {
        self.base.iter().chain(self.incrs.iter())
    }

    /// The next free base and incr sequence numbers.
    pub fn next_base_seq(&self) -> u64 {
        self.base
            .as_ref()
            .map_or(0, |b| b.seq)
            .max(self.history.iter().filter(|h| h.name.contains(".base.")).map(|h| h.seq).max().unwrap_or(0))
            + 1
    }

    pub fn next_incr_seq(&self) -> u64 {
        self.incrs
            .last()
            .map_or(0, |i| i.seq)
            .max(self.history.iter().filter(|h| h.name.contains(".incr.")).map(|h| h.seq).max().unwrap_or(0))
            + 1
    }

    /// Reads the manifest at `path`; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Manifest>, String> {
        let meta = match fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
            Ok(m) => m,
        };
        if meta.len() > MANIFEST_MAX_BYTES {
            return Err("The AOF manifest file is too large".into());
        }
        let text = fs::read(path).map_err(|e| e.to_string())?;
        Manifest::parse(&text).map(Some)
    }

    /// Replaces the manifest at `path` atomically.
    pub fn persist(&self, path: &Path) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = dir.join(format!("temp-{name}"));
        let result = (|| {
            let mut f = File::create(&temp)?;
            f.write_all(self.to_text().as_bytes())?;
            f.sync_all()?;
            fs::rename(&temp, path)?;
            sync_dir(dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result
    }
}

/// fsyncs a directory, so that a rename or a new file in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })?.sync_all()
}

/// A name as Redis writes it: bare when plain, else quoted with escapes.
fn quote(name: &str) -> String {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\') {
        return name.to_string();
    }
    let mut s = String::from("\"");
    for b in name.bytes() {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

/// Splits a line into words as `sdssplitargs` does (plain words and "quoted" ones
/// with backslash escapes); None when quotes are unbalanced.
fn split_words(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (mut arena, mut ranges) = (Vec::new(), Vec::new());
    redoubt_resp::inline::split_args(line, &mut arena, &mut ranges).ok()?;
    Some(ranges.iter().map(|&(a, b)| arena[a..b].to_vec()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write_as_redis() {
        let text = b"file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "appendonly.aof.2.base.rdb");
        assert_eq!(m.incrs[0].seq, 3);
        assert_eq!(m.to_text().as_bytes(), text);
        assert_eq!(m.next_base_seq(), 3);
        assert_eq!(m.next_incr_seq(), 4);
        let reordered = Manifest::parse(b"# comment\ntype i seq 1 file x.1.incr.aof\n").unwrap();
        assert_eq!(reordered.incrs[0].name, "x.1.incr.aof");
        let quoted =
            Manifest { base: Some(AofFile { name: "a b".into(), seq: 1, kind: Kind::Base }), ..Default::default() };
        assert_eq!(Manifest::parse(quoted.to_text().as_bytes()).unwrap(), quoted);
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(Manifest::parse(b"").is_err());
        assert!(Manifest::parse(b"file a seq 1\n").is_err());
        assert!(Manifest::parse(b"file a seq x type b\n").is_err());
        assert!(Manifest::parse(b"file a seq 1 type b\nfile b seq 2 type b\n").is_err());
        assert!(Manifest::parse(b"file a seq 2 type i\nfile b seq 1 type i\n").is_err());
        assert!(Manifest::parse(b"file ../x seq 1 type b\n").is_err());
        assert!(Manifest::parse(&[b'x'; 2000]).is_err());
    }
}
