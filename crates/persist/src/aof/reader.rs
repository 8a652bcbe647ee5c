//! Reading the commands of an AOF file (Redis's `loadSingleAppendOnlyFile`):
//! `*<argc>` and `$<len>` lines with CRLF, `#` annotation lines (`#TS:<unix time>`)
//! skipped, MULTI ... EXEC delivered only once complete.
//!
//! The outcome distinguishes a clean end, a file cut short (a command, or a
//! transaction, incomplete at the end: the caller may truncate it per
//! `aof-load-truncated`, and then `valid_len` is where), and bytes that are not an
//! AOF at all (a format error at an offset). Every length is checked against the
//! bytes left in the file before anything is allocated.

use std::io::{self, BufRead};

/// `*N` and `$N` lines are short; a longer one is not an AOF.
const HEADER_LINE_MAX_BYTES: usize = 128;

/// How a file's command stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// At a command boundary, with nothing pending.
    Clean,
    /// Cut short: everything up to `valid_len` bytes was delivered; the rest (a partial
    /// command, or a transaction without EXEC, which is then not delivered) was not.
    Truncated { valid_len: u64, in_multi: bool },
}

/// Why reading stopped.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Bytes that do not follow the format, at this offset.
    Format {
        offset: u64,
    },
    /// The command callback refused a command (its message).
    Command(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Counts what it reads, so offsets are known without asking the file.
struct Counted<R> {
    input: R,
    pos: u64,
    limit: u64,
}

enum Line {
    Eof,
    /// Bytes before the CRLF.
    Text(Vec<u8>),
    /// The input ended inside the line.
    Partial,
}

impl<R: BufRead> Counted<R> {
    fn line(&mut self) -> Result<Line, ReadError> {
        let mut buf = Vec::new();
        let start = self.pos;
        loop {
            let avail = self.input.fill_buf()?;
            if avail.is_empty() {
                return Ok(if buf.is_empty() { Line::Eof } else { Line::Partial });
            }
            let (take, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            buf.extend_from_slice(&avail[..take]);
            self.input.consume(take);
            self.pos += take as u64;
            if buf.len() > HEADER_LINE_MAX_BYTES && !buf.starts_with(b"#") {
                return Err(ReadError::Format { offset: start });
            }
            if done {
                if buf.len() < 2 || buf[buf.len() - 2] != b'\r' {
                    return Err(ReadError::Format { offset: start });
                }
                buf.truncate(buf.len() - 2);
                return Ok(Line::Text(buf));
            }
        }
    }

    /// Reads exactly `n` bytes; false if the input ends first.
    fn bytes(&mut self, n: u64, out: &mut Vec<u8>) -> Result<bool, ReadError> {
        if n > self.limit.saturating_sub(self.pos) {
            return Ok(false);
        }
        out.resize(n as usize, 0);
        let mut got = 0usize;
        while got < out.len() {
            let read = self.input.read(&mut out[got..])?;
            if read == 0 {
                self.pos += got as u64;
                return Ok(false);
            }
            got += read;
        }
        self.pos += n;
        Ok(true)
    }
}

fn number(line: &[u8], prefix: u8) -> Option<u64> {
    let rest = line.strip_prefix(&[prefix])?;
    std::str::from_utf8(rest).ok()?.parse::<u64>().ok()
}

/// What runs each command read: its arguments; an error stops the reading.
pub type Exec<'a> = dyn FnMut(&[Vec<u8>]) -> Result<(), String> + 'a;

/// What hears of the annotation lines (`#...`, which Redis's loader skips): each
/// line (without its line end) with the bytes of the commands executed since the
/// previous annotation; at the end of the input, `None` with the bytes since the
/// last one. Replication offsets are recovered from these (`redoubt-server`).
pub type Annotations<'a> = dyn FnMut(Option<&[u8]>, u64) + 'a;

/// Reads commands from `input` (which holds at most `size` bytes from the current
/// position), calling `exec` with each one's arguments. `start` is the offset of the
/// current position in the file (after an RDB preamble), for the offsets reported.
pub fn read_commands<R: BufRead>(
    input: R,
    start: u64,
    size: u64,
    exec: &mut Exec<'_>,
    notes: &mut Annotations<'_>,
) -> Result<Ending, ReadError> {
    let mut c = Counted { input, pos: start, limit: start + size };
    let mut valid_len = start;
    // Bytes of the commands executed since the last annotation.
    let mut executed = 0u64;
    let ending = read_loop(&mut c, &mut valid_len, &mut executed, exec, notes);
    notes(None, executed);
    ending
}

fn read_loop<R: BufRead>(
    c: &mut Counted<R>,
    valid_len: &mut u64,
    executed: &mut u64,
    exec: &mut Exec<'_>,
    notes: &mut Annotations<'_>,
) -> Result<Ending, ReadError> {
    // A transaction's commands wait here until its EXEC arrives.
    let mut multi: Option<(u64, Vec<Vec<Vec<u8>>>)> = None;
    loop {
        let cmd_start = c.pos;
        let line = match c.line()? {
            Line::Eof => break,
            Line::Partial => return Ok(truncated(*valid_len, &multi)),
            Line::Text(t) => t,
        };
        if line.starts_with(b"#") {
            *valid_len = c.pos;
            notes(Some(&line), std::mem::take(executed));
            continue;
        }
        let argc = match number(&line, b'*') {
            Some(n) if n >= 1 && n <= (c.limit - c.pos) / 4 + 1 => n,
            Some(_) => return Ok(truncated(*valid_len, &multi)),
            None => return Err(ReadError::Format { offset: cmd_start }),
        };
        let mut args = Vec::with_capacity(argc as usize);
        for _ in 0..argc {
            let arg_line = match c.line()? {
                Line::Text(t) => t,
                Line::Eof | Line::Partial => return Ok(truncated(*valid_len, &multi)),
            };
            let len = number(&arg_line, b'$').ok_or(ReadError::Format { offset: cmd_start })?;
            let mut arg = Vec::new();
            let mut crlf = Vec::new();
            if !c.bytes(len, &mut arg)? || !c.bytes(2, &mut crlf)? {
                return Ok(truncated(*valid_len, &multi));
            }
            if crlf != b"\r\n" {
                return Err(ReadError::Format { offset: cmd_start });
            }
            args.push(arg);
        }
        let name = args[0].to_ascii_lowercase();
        match (name.as_slice(), &mut multi) {
            (b"multi", None) => multi = Some((cmd_start, Vec::new())),
            (b"exec", Some(_)) => {
                if let Some((multi_start, queued)) = multi.take() {
                    for q in &queued {
                        exec(q).map_err(ReadError::Command)?;
                    }
                    *executed += c.pos - multi_start;
                }
                *valid_len = c.pos;
            }
            (_, Some((_, queued))) => queued.push(args),
            (_, None) => {
                exec(&args).map_err(ReadError::Command)?;
                *executed += c.pos - cmd_start;
                *valid_len = c.pos;
            }
        }
    }
    Ok(match multi {
        None => Ending::Clean,
        Some(_) => truncated(*valid_len, &multi),
    })
}

fn truncated(valid_len: u64, multi: &Option<(u64, Vec<Vec<Vec<u8>>>)>) -> Ending {
    Ending::Truncated { valid_len, in_multi: multi.is_some() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (Result<Ending, ReadError>, Vec<String>) {
        let mut seen = Vec::new();
        let exec = &mut |a: &[Vec<u8>]| {
            seen.push(a.iter().map(|x| String::from_utf8_lossy(x).into_owned()).collect::<Vec<_>>().join(" "));
            Ok(())
        };
        let r = read_commands(input, 0, input.len() as u64, exec, &mut |_, _| {});
        (r, seen)
    }

    const SET: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";

    #[test]
    fn commands_annotations_and_transactions() {
        let mut f = b"#TS:1628217470\r\n".to_vec();
        f.extend_from_slice(SET);
        f.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nEXEC\r\n");
        let (r, seen) = run(&f);
        assert_eq!(r.unwrap(), Ending::Clean);
        assert_eq!(seen, vec!["SET k v", "INCR n"]);
    }

    #[test]
    fn truncation_points() {
        for cut in 1..SET.len() {
            let mut f = SET.to_vec();
            f.extend_from_slice(&SET[..cut]);
            let (r, seen) = run(&f);
            assert_eq!(r.unwrap(), Ending::Truncated { valid_len: SET.len() as u64, in_multi: false }, "cut {cut}");
            assert_eq!(seen.len(), 1);
        }
        let mut f = SET.to_vec();
        f.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
        f.extend_from_slice(SET);
        let (r, seen) = run(&f);
        assert_eq!(r.unwrap(), Ending::Truncated { valid_len: SET.len() as u64, in_multi: true });
        assert_eq!(seen.len(), 1, "an unfinished transaction is not applied");
    }

    #[test]
    fn format_errors() {
        let (r, _) = run(b"SET k v\r\n");
        assert!(matches!(r, Err(ReadError::Format { offset: 0 })));
        let mut f = SET.to_vec();
        f.extend_from_slice(b"*1\r\n!3\r\nfoo\r\n");
        let (r, _) = run(&f);
        assert!(matches!(r, Err(ReadError::Format { offset }) if offset == SET.len() as u64));
        let (r, _) = run(b"*1\r\n$3\r\nfooXY");
        assert!(matches!(r, Err(ReadError::Format { .. })));
        // A huge count or length is a cut-short file, not an allocation.
        let (r, _) = run(b"*999999999999\r\n$3\r\n");
        assert!(matches!(r, Ok(Ending::Truncated { .. })));
        let (r, _) = run(b"*1\r\n$999999999999\r\nabc");
        assert!(matches!(r, Ok(Ending::Truncated { .. })));
    }

    #[test]
    fn annotations_count_the_executed_bytes_between_them() {
        let multi = b"*1\r\n$5\r\nMULTI\r\n";
        let exec = b"*1\r\n$4\r\nEXEC\r\n";
        let mut f = SET.to_vec();
        f.extend_from_slice(b"#mark one\r\n");
        f.extend_from_slice(multi);
        f.extend_from_slice(SET);
        f.extend_from_slice(exec);
        f.extend_from_slice(b"#TS:123\r\n");
        f.extend_from_slice(SET);
        // An unfinished transaction at the end is not counted: it was not applied.
        f.extend_from_slice(multi);
        let mut notes: Vec<(Option<String>, u64)> = Vec::new();
        let mut record = |l: Option<&[u8]>, n: u64| notes.push((l.map(|l| String::from_utf8_lossy(l).into()), n));
        let r = read_commands(&f[..], 0, f.len() as u64, &mut |_| Ok(()), &mut record);
        assert!(matches!(r, Ok(Ending::Truncated { in_multi: true, .. })));
        let block = (multi.len() + SET.len() + exec.len()) as u64;
        assert_eq!(
            notes,
            vec![
                (Some("#mark one".into()), SET.len() as u64),
                (Some("#TS:123".into()), block),
                (None, SET.len() as u64)
            ]
        );
    }
}
