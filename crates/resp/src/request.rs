//! The request parser: multibulk (`*N\r\n$len\r\n...`) and inline requests, parsed
//! incrementally and without copying, with Redis 7.0's limits and error texts.
//!
//! The caller owns the buffer. It passes the bytes that start at the current request;
//! when the request is incomplete the parser remembers how far it got (so a 500 MB
//! argument arriving in 16 KB reads is scanned once, not once per read), and the caller
//! calls again with the same start and more bytes appended. When a request is complete
//! the parser returns how many bytes it used; the arguments are `(start, end)` ranges
//! into that buffer ([`RequestParser::ranges`]), or into the parser's own arena for an
//! inline request, whose quoting means its arguments are not slices of the input.
//!
//! Redis quirks kept on purpose, because clients see them: the header line ends at the
//! first `\r` (the byte after it is skipped, whatever it is), the two bytes after a bulk
//! argument are skipped without being checked, and `*0` or `*-1` is an empty request.

use crate::inline;
use crate::number::parse_i64;

/// Longest inline request, and longest header line, that may arrive without its
/// newline (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Largest multibulk count an unauthenticated client may announce.
pub const UNAUTH_MULTIBULK_MAX: i64 = 10;
/// Largest bulk length an unauthenticated client may announce.
pub const UNAUTH_BULK_MAX: i64 = 16384;
/// How many argument slots are reserved up front, whatever the announced count.
const ARGS_PREALLOC_MAX: usize = 1024;

/// Limits that depend on the server's configuration and on the client.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`; not applied to a master link (Redis exempts it too).
    pub max_bulk_len: i64,
    /// True when the client must still authenticate: much smaller limits apply.
    pub auth_required: bool,
    /// True for a replication link from our master.
    pub is_master: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bulk_len: 512 * 1024 * 1024, auth_required: false, is_master: false }
    }
}

/// A protocol error: the text Redis sends (after `-ERR `) before closing the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub Vec<u8>);

impl ParseError {
    fn new(text: &str) -> Self {
        ParseError(text.as_bytes().to_vec())
    }
}

/// The outcome of one call to [`RequestParser::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed; call again with the same start and more data.
    Incomplete,
    /// A request with no arguments (`*0`, an empty line): skip `consumed` bytes.
    Empty { consumed: usize },
    /// A request whose arguments are in [`RequestParser::args`].
    Command { consumed: usize },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing of the current request has been parsed yet.
    #[default]
    Start,
    /// Inside a multibulk request: `remaining` arguments to go; `bulk_len` is the
    /// length announced for the next one once its `$` line has been read.
    Multibulk { remaining: i64, bulk_len: Option<usize> },
}

/// Incremental request parser; one per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    state: State,
    /// How far into the current request the parser has read.
    pos: usize,
    ranges: Vec<(usize, usize)>,
    /// Unescaped bytes of an inline request.
    arena: Vec<u8>,
    inline: bool,
}

/// The arguments of a parsed request: ranges into one backing buffer.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    buf: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    pub fn new(buf: &'a [u8], ranges: &'a [(usize, usize)]) -> Self {
        Args { buf, ranges }
    }
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// The `i`-th argument. Panics if `i >= len()`; command code checks arity first.
    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.buf[s..e]
    }
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'a [u8]> + 'a {
        let buf = self.buf;
        self.ranges.iter().map(move |&(s, e)| &buf[s..e])
    }
    /// Arguments from `from` on, as a new view.
    pub fn tail(&self, from: usize) -> Args<'a> {
        Args { buf: self.buf, ranges: &self.ranges[from.min(self.ranges.len())..] }
    }
    /// Copies the arguments into owned memory (for MULTI queues, blocked clients).
    pub fn to_owned_args(&self) -> OwnedArgs {
        let total: usize = self.ranges.iter().map(|&(s, e)| e - s).sum();
        let mut buf = Vec::with_capacity(total);
        let mut ranges = Vec::with_capacity(self.ranges.len());
        for a in self.iter() {
            let start = buf.len();
            buf.extend_from_slice(a);
            ranges.push((start, buf.len()));
        }
        OwnedArgs { buf, ranges }
    }
}

/// An argument vector that owns its bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedArgs {
    buf: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl OwnedArgs {
    pub fn from_slices<'s, I: IntoIterator<Item = &'s [u8]>>(items: I) -> Self {
        let mut out = OwnedArgs::default();
        for a in items {
            out.push(a);
        }
        out
    }
    pub fn push(&mut self, a: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(a);
        self.ranges.push((start, self.buf.len()));
    }
    pub fn args(&self) -> Args<'_> {
        Args { buf: &self.buf, ranges: &self.ranges }
    }
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Bytes held, for `multi-mem` and memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.ranges.capacity() * std::mem::size_of::<(usize, usize)>()
    }
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when part of a request has been parsed and the caller must keep its bytes.
    pub fn in_progress(&self) -> bool {
        self.state != State::Start
    }

    /// Length of the bulk argument being waited for, if any: the caller may reserve
    /// room for it in one allocation.
    pub fn pending_bulk_len(&self) -> Option<usize> {
        match self.state {
            State::Multibulk { bulk_len, .. } => bulk_len,
            State::Start => None,
        }
    }

    /// The arguments of the request just returned as [`Parsed::Command`]; `buf` must be
    /// the buffer that was passed to [`parse`](Self::parse).
    pub fn args<'a>(&'a self, buf: &'a [u8]) -> Args<'a> {
        if self.inline {
            Args { buf: &self.arena, ranges: &self.ranges }
        } else {
            Args { buf, ranges: &self.ranges }
        }
    }

    /// Parses the request at the start of `buf`. On error the connection must be closed
    /// after the error is sent; the parser is reset.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
        let result = match self.state {
            State::Start if buf.is_empty() => return Ok(Parsed::Incomplete),
            State::Start if buf[0] != b'*' => self.parse_inline(buf),
            _ => self.parse_multibulk(buf, limits),
        };
        if !matches!(result, Ok(Parsed::Incomplete)) {
            self.state = State::Start;
            self.pos = 0;
        }
        result
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, ParseError> {
        self.inline = true;
        self.ranges.clear();
        self.arena.clear();
        let Some(newline) = memchr(b'\n', buf) else {
            if buf.len() > INLINE_MAX_BYTES {
                return Err(ParseError::new("Protocol error: too big inline request"));
            }
            return Ok(Parsed::Incomplete);
        };
        let mut line = &buf[..newline];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        inline::split_args(line, &mut self.arena, &mut self.ranges)
            .map_err(|_| ParseError::new("Protocol error: unbalanced quotes in request"))?;
        let consumed = newline + 1;
        Ok(if self.ranges.is_empty() { Parsed::Empty { consumed } } else { Parsed::Command { consumed } })
    }

    fn parse_multibulk(&mut self, buf: &[u8], limits: &Limits) -> Result<Parsed, ParseError> {
        if self.state == State::Start {
            self.inline = false;
            self.ranges.clear();
            let Some((value, next)) = header_line(buf, 0, "Protocol error: too big mbulk count string")? else {
                return Ok(Parsed::Incomplete);
            };
            let count = match parse_i64(value) {
                Some(n) if n <= i32::MAX as i64 => n,
                _ => return Err(ParseError::new("Protocol error: invalid multibulk length")),
            };
            if count > UNAUTH_MULTIBULK_MAX && limits.auth_required {
                return Err(ParseError::new("Protocol error: unauthenticated multibulk length"));
            }
            if count <= 0 {
                return Ok(Parsed::Empty { consumed: next });
            }
            self.ranges.reserve((count as usize).min(ARGS_PREALLOC_MAX));
            self.pos = next;
            self.state = State::Multibulk { remaining: count, bulk_len: None };
        }
        while let State::Multibulk { remaining, bulk_len } = self.state {
            if remaining == 0 {
                break;
            }
            let len = match bulk_len {
                Some(len) => len,
                None => {
                    let Some((value, next)) = header_line(buf, self.pos, "Protocol error: too big bulk count string")?
                    else {
                        return Ok(Parsed::Incomplete);
                    };
                    if buf[self.pos] != b'$' {
                        let mut text = b"Protocol error: expected '$', got '".to_vec();
                        text.push(buf[self.pos]);
                        text.push(b'\'');
                        return Err(ParseError(text));
                    }
                    let len = match parse_i64(&value[1..]) {
                        Some(n) if n >= 0 && (limits.is_master || n <= limits.max_bulk_len) => n,
                        _ => return Err(ParseError::new("Protocol error: invalid bulk length")),
                    };
                    if len > UNAUTH_BULK_MAX && limits.auth_required {
                        return Err(ParseError::new("Protocol error: unauthenticated bulk length"));
                    }
                    self.pos = next;
                    let len =
                        usize::try_from(len).map_err(|_| ParseError::new("Protocol error: invalid bulk length"))?;
                    self.state = State::Multibulk { remaining, bulk_len: Some(len) };
                    len
                }
            };
            if buf.len() - self.pos < len.saturating_add(2) {
                return Ok(Parsed::Incomplete);
            }
            self.ranges.push((self.pos, self.pos + len));
            self.pos += len + 2;
            self.state = State::Multibulk { remaining: remaining - 1, bulk_len: None };
        }
        Ok(Parsed::Command { consumed: self.pos })
    }
}

/// Finds the header line that starts at `from`: returns its text (from `from` up to the
/// first `\r`, the `*` or `$` included for the multibulk count's caller to skip) and the
/// position after the two line-ending bytes, or `None` when more bytes are needed.
fn header_line<'a>(buf: &'a [u8], from: usize, too_big: &str) -> Result<Option<(&'a [u8], usize)>, ParseError> {
    let rest = &buf[from..];
    let Some(cr) = memchr(b'\r', rest) else {
        if rest.len() > INLINE_MAX_BYTES {
            return Err(ParseError::new(too_big));
        }
        return Ok(None);
    };
    // Redis waits until the byte after the `\r` has arrived, whatever it is.
    if cr + 2 > rest.len() {
        return Ok(None);
    }
    let text = if rest[0] == b'*' { &rest[1..cr] } else { &rest[..cr] };
    Ok(Some((text, from + cr + 2)))
}

/// Position of the first `needle` in `hay`. The standard library's slice search is
/// vectorised well enough for request headers, which are short.
pub fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], limits: Limits) -> Result<Vec<Vec<Vec<u8>>>, ParseError> {
        let mut p = RequestParser::new();
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            match p.parse(&input[at..], &limits)? {
                Parsed::Incomplete => return Ok(out),
                Parsed::Empty { consumed } => at += consumed,
                Parsed::Command { consumed } => {
                    out.push(p.args(&input[at..]).iter().map(|a| a.to_vec()).collect());
                    at += consumed;
                }
            }
        }
    }

    fn err(input: &[u8]) -> String {
        String::from_utf8(parse_all(input, Limits::default()).unwrap_err().0).unwrap()
    }

    #[test]
    fn pipelined_multibulk_and_inline() {
        let cmds =
            parse_all(b"*1\r\n$4\r\nPING\r\nget  a\r\n*0\r\n\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n", Limits::default())
                .unwrap();
        assert_eq!(
            cmds,
            vec![vec![b"PING".to_vec()], vec![b"get".to_vec(), b"a".to_vec()], vec![b"GET".to_vec(), b"b".to_vec()]]
        );
    }

    #[test]
    fn incremental_feeding_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        let mut p = RequestParser::new();
        for end in 0..input.len() {
            assert_eq!(p.parse(&input[..end], &Limits::default()).unwrap(), Parsed::Incomplete, "at {end}");
        }
        assert_eq!(p.parse(input, &Limits::default()).unwrap(), Parsed::Command { consumed: input.len() });
        assert_eq!(p.args(input).get(2), b"value");
    }

    #[test]
    fn redis_error_texts() {
        assert_eq!(err(b"*abc\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(err(b"*2147483648\r\n"), "Protocol error: invalid multibulk length");
        assert_eq!(err(b"*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"*1\r\n$01\r\nx\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"*1\r\n$536870913\r\n"), "Protocol error: invalid bulk length");
        assert_eq!(err(b"*2\r\n$4\r\nPING\r\n:1\r\n"), "Protocol error: expected '$', got ':'");
        assert_eq!(err(b"SET \"a b\r\n"), "Protocol error: unbalanced quotes in request");
        assert_eq!(err(&[b'A'; 70000]), "Protocol error: too big inline request");
        let mut big = b"*".to_vec();
        big.extend_from_slice(&[b'1'; 70000]);
        assert_eq!(err(&big), "Protocol error: too big mbulk count string");
        let mut big = b"*1\r\n$".to_vec();
        big.extend_from_slice(&[b'1'; 70000]);
        assert_eq!(err(&big), "Protocol error: too big bulk count string");
    }

    #[test]
    fn unauthenticated_limits() {
        let limits = Limits { auth_required: true, ..Limits::default() };
        assert_eq!(parse_all(b"*11\r\n", limits).unwrap_err().0, b"Protocol error: unauthenticated multibulk length");
        assert_eq!(
            parse_all(b"*1\r\n$16385\r\n", limits).unwrap_err().0,
            b"Protocol error: unauthenticated bulk length"
        );
        assert!(parse_all(b"*10\r\n$16384\r\n", limits).unwrap().is_empty());
    }

    #[test]
    fn redis_quirks_are_kept() {
        // The two bytes after a bulk are skipped unchecked; `*-5` is an empty request.
        let cmds = parse_all(b"*1\r\n$3\r\nabcde*-5\r\nPING\r\n", Limits::default()).unwrap();
        assert_eq!(cmds, vec![vec![b"abc".to_vec()], vec![b"PING".to_vec()]]);
        // A header line waits for the byte after its `\r`.
        assert!(parse_all(b"*1\r", Limits::default()).unwrap().is_empty());
        // The master link may send bulks longer than proto-max-bulk-len.
        let limits = Limits { max_bulk_len: 4, is_master: true, ..Limits::default() };
        assert_eq!(parse_all(b"*1\r\n$5\r\nhello\r\n", limits).unwrap().len(), 1);
    }
}
