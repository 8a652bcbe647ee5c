//! [`ReplyBuf`]: replies encoded straight into the connection's output bytes.
//!
//! One encoder serves both protocols: a caller says "a map of 3 pairs" or "a double"
//! and the buffer writes what Redis 7.0 writes for the client's protocol version
//! (RESP2 flattens maps into arrays, sends doubles as bulk strings, `$-1`/`*-1` for
//! nulls; RESP3 uses `%`, `,`, `_`).

use crate::number::{push_g17, push_i64, push_u64};

/// The protocol a client speaks, chosen by `HELLO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// An output buffer that knows the client's protocol.
#[derive(Debug, Default)]
pub struct ReplyBuf {
    pub buf: Vec<u8>,
    pub proto: Protocol,
}

impl ReplyBuf {
    pub fn new(proto: Protocol) -> Self {
        ReplyBuf { buf: Vec::new(), proto }
    }

    pub fn resp3(&self) -> bool {
        self.proto == Protocol::Resp3
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends bytes that are already encoded.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// A status reply (`+text`). Newlines would break framing and are replaced.
    pub fn simple(&mut self, text: &[u8]) {
        self.buf.push(b'+');
        push_sanitized(&mut self.buf, text);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply; `text` is the full text after `-` (`ERR ...`, `WRONGTYPE ...`).
    /// Newlines become spaces, as Redis does, so the framing stays intact.
    pub fn error(&mut self, text: &[u8]) {
        self.buf.push(b'-');
        push_sanitized(&mut self.buf, text);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, v: i64) {
        self.buf.push(b':');
        push_i64(&mut self.buf, v);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn header(&mut self, kind: u8, n: usize) {
        self.buf.push(kind);
        push_u64(&mut self.buf, n as u64);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len());
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `v` (Redis's `addReplyBulkLongLong`).
    pub fn bulk_i64(&mut self, v: i64) {
        let mut tmp = Vec::with_capacity(20);
        push_i64(&mut tmp, v);
        self.bulk(&tmp);
    }

    /// The null of a missing string: `$-1` in RESP2.
    pub fn null(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null of a missing aggregate: `*-1` in RESP2.
    pub fn null_array(&mut self) {
        match self.proto {
            Protocol::Resp2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Protocol::Resp3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, n: usize) {
        self.header(b'*', n);
    }

    /// A map of `n` pairs (a flat array of `2n` items in RESP2).
    pub fn map(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n * 2),
            Protocol::Resp3 => self.header(b'%', n),
        }
    }

    /// A set of `n` items (an array in RESP2).
    pub fn set(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n),
            Protocol::Resp3 => self.header(b'~', n),
        }
    }

    /// An out-of-band push of `n` items (an array in RESP2).
    pub fn push(&mut self, n: usize) {
        match self.proto {
            Protocol::Resp2 => self.header(b'*', n),
            Protocol::Resp3 => self.header(b'>', n),
        }
    }

    /// A double, printed with `%.17g` (`inf`, `-inf`).
    pub fn double(&mut self, d: f64) {
        let mut tmp = Vec::with_capacity(24);
        push_g17(&mut tmp, d);
        match self.proto {
            Protocol::Resp2 => self.bulk(&tmp),
            Protocol::Resp3 => {
                self.buf.push(b',');
                self.buf.extend_from_slice(&tmp);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    pub fn bool(&mut self, b: bool) {
        match self.proto {
            Protocol::Resp2 => self.int(b as i64),
            Protocol::Resp3 => self.buf.extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// Verbatim text (`=len\r\ntxt:...`); a bulk string in RESP2.
    pub fn verbatim(&mut self, text: &[u8]) {
        match self.proto {
            Protocol::Resp2 => self.bulk(text),
            Protocol::Resp3 => {
                self.header(b'=', text.len() + 4);
                self.buf.extend_from_slice(b"txt:");
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Marks where an aggregate of not-yet-known length starts; finish it with
    /// [`finish_deferred`](Self::finish_deferred). The header is inserted later, which
    /// moves the bytes after it once — cheaper than counting twice.
    pub fn defer(&mut self) -> Deferred {
        Deferred(self.buf.len())
    }

    /// Writes the header of a deferred array (`kind` is `*`, or `%`/`~` in RESP3).
    pub fn finish_deferred(&mut self, at: Deferred, kind: Aggregate, n: usize) {
        let (byte, count) = match (kind, self.proto) {
            (Aggregate::Array, _) => (b'*', n),
            (Aggregate::Map, Protocol::Resp2) => (b'*', n * 2),
            (Aggregate::Map, Protocol::Resp3) => (b'%', n),
            (Aggregate::Set, Protocol::Resp2) => (b'*', n),
            (Aggregate::Set, Protocol::Resp3) => (b'~', n),
        };
        let mut head = vec![byte];
        push_u64(&mut head, count as u64);
        head.extend_from_slice(b"\r\n");
        self.buf.splice(at.0..at.0, head);
    }
}

/// The kinds of aggregate a deferred header can become.
#[derive(Clone, Copy, Debug)]
pub enum Aggregate {
    Array,
    Map,
    Set,
}

/// A position in a [`ReplyBuf`] where a header will be inserted.
#[derive(Clone, Copy, Debug)]
pub struct Deferred(usize);

fn push_sanitized(out: &mut Vec<u8>, text: &[u8]) {
    out.extend(text.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_protocols() {
        let mut r2 = ReplyBuf::new(Protocol::Resp2);
        let mut r3 = ReplyBuf::new(Protocol::Resp3);
        for r in [&mut r2, &mut r3] {
            r.map(1);
            r.bulk(b"k");
            r.double(1.1);
            r.null();
            r.bool(true);
            r.error(b"ERR a\r\nb");
        }
        assert_eq!(r2.buf, b"*2\r\n$1\r\nk\r\n$18\r\n1.1000000000000001\r\n$-1\r\n:1\r\n-ERR a  b\r\n");
        assert_eq!(r3.buf, b"%1\r\n$1\r\nk\r\n,1.1000000000000001\r\n_\r\n#t\r\n-ERR a  b\r\n");
    }

    #[test]
    fn deferred_headers() {
        let mut r = ReplyBuf::new(Protocol::Resp2);
        r.int(7);
        let d = r.defer();
        r.bulk(b"a");
        r.bulk(b"b");
        r.finish_deferred(d, Aggregate::Array, 2);
        assert_eq!(r.buf, b":7\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    }
}
