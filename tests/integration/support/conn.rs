//! A raw RESP client over a `TcpStream`: it sends commands as RESP arrays (or any raw
//! bytes) and reads back exactly one reply's bytes, using `redoubt_resp::value::decode`
//! to find where the reply ends. Every read has a deadline, so a test never hangs.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use redoubt_resp::value::{decode, DecodeError, Value};

use super::esc;

/// How long a reply may take before the test fails. Generous for a debug build on a
/// loaded machine; a healthy reply takes microseconds.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no reply could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The deadline passed; the bytes received so far.
    Timeout(Vec<u8>),
    /// The peer closed (or reset) the connection; the bytes received before.
    Closed(Vec<u8>),
    /// The bytes are not RESP.
    Invalid(&'static str, Vec<u8>),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Timeout(b) => write!(f, "timed out; received so far: {}", esc(b)),
            ReadError::Closed(b) => write!(f, "connection closed; received before: {}", esc(b)),
            ReadError::Invalid(why, b) => write!(f, "invalid RESP ({why}): {}", esc(b)),
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One client connection.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read but not yet returned as a reply.
    buf: Vec<u8>,
    /// Deadline for `read` and the commands built on it.
    pub timeout: Duration,
}

impl Conn {
    pub fn try_connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        Ok(Conn { stream, buf: Vec::new(), timeout: READ_TIMEOUT })
    }

    pub fn connect(addr: SocketAddr) -> Conn {
        Conn::try_connect(addr, Duration::from_secs(5)).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }

    /// Sends a command as a RESP array.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.send_raw(&encode(args));
    }

    /// Sends bytes as they are; panics if the write fails.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        if let Err(e) = self.try_send_raw(bytes) {
            panic!("write {}: {e}", esc(&bytes[..bytes.len().min(200)]));
        }
    }

    /// Sends bytes; a closed or reset connection is an `Err`, not a panic.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads more bytes into `buf` before `deadline`. Ok(false) at end of stream.
    fn fill(&mut self, deadline: Instant) -> Result<bool, ErrorKind> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut);
        }
        self.stream.set_read_timeout(Some(left)).map_err(|e| e.kind())?;
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(ErrorKind::TimedOut),
            // A reset or broken connection is a close for our purposes.
            Err(_) => Ok(false),
        }
    }

    /// Reads one reply's raw bytes within `timeout`; RESP3 push messages before it are
    /// returned with it.
    pub fn try_read(&mut self, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        // RESP3 push messages are out of band: they travel with the reply that follows.
        self.read_through(timeout, true)
    }

    /// Reads exactly one frame within `timeout`, a RESP3 push message included (for
    /// pub/sub, where pushes are what is being tested).
    pub fn try_read_frame(&mut self, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        self.read_through(timeout, false)
    }

    /// Reads frames within `timeout` up to and including the first one that is not a
    /// push message (`past_pushes`) or just the first one, and returns their bytes.
    fn read_through(&mut self, timeout: Duration, past_pushes: bool) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + timeout;
        let mut start = 0;
        loop {
            if self.buf.len() > start {
                match decode(&self.buf[start..]) {
                    Ok((_, used)) if past_pushes && self.buf[start] == b'>' => {
                        start += used;
                        continue;
                    }
                    Ok((_, used)) => return Ok(self.buf.drain(..start + used).collect()),
                    Err(DecodeError::Incomplete) => {}
                    Err(DecodeError::Invalid(why)) => {
                        return Err(ReadError::Invalid(why, std::mem::take(&mut self.buf)))
                    }
                }
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return Err(ReadError::Closed(std::mem::take(&mut self.buf))),
                Err(_) => return Err(ReadError::Timeout(std::mem::take(&mut self.buf))),
            }
        }
    }

    /// Reads one frame (push messages included); panics if none comes.
    pub fn read_frame(&mut self) -> Vec<u8> {
        let timeout = self.timeout;
        self.try_read_frame(timeout).unwrap_or_else(|e| panic!("reading a frame: {e}"))
    }

    /// Reads one reply's raw bytes; panics (with what arrived) if none comes.
    pub fn read(&mut self) -> Vec<u8> {
        let timeout = self.timeout;
        self.try_read(timeout).unwrap_or_else(|e| panic!("reading a reply: {e}"))
    }

    /// Reads one reply and decodes it.
    pub fn read_value(&mut self) -> Value {
        to_value(&self.read())
    }

    /// Sends a command and returns its reply's raw bytes.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Vec<u8> {
        self.send(args);
        self.read()
    }

    /// Sends a command and returns its reply decoded.
    pub fn val<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Value {
        to_value(&self.cmd(args))
    }

    /// Sends raw bytes and returns one reply's raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.send_raw(bytes);
        self.read()
    }

    /// Reads every byte until the peer closes the connection. `Err(Timeout)` if it is
    /// still open after `timeout`.
    pub fn read_until_close(&mut self, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return Ok(std::mem::take(&mut self.buf)),
                Err(_) => return Err(ReadError::Timeout(std::mem::take(&mut self.buf))),
            }
        }
    }

    /// Asserts the server closes the connection within `timeout`; returns what it sent.
    pub fn expect_closed(&mut self, timeout: Duration) -> Vec<u8> {
        self.read_until_close(timeout).unwrap_or_else(|e| panic!("expected the server to close the connection: {e}"))
    }

    /// Asserts that nothing arrives for `quiet` and that the connection stays open.
    pub fn expect_silent(&mut self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        match self.fill(deadline) {
            Err(_) => assert!(self.buf.is_empty(), "expected silence, got {}", esc(&self.buf)),
            Ok(true) => panic!("expected silence, got {}", esc(&self.buf)),
            Ok(false) => panic!("expected silence, but the connection was closed after {}", esc(&self.buf)),
        }
    }

    /// Shuts the connection down in both directions.
    pub fn close(self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Decodes a complete reply; panics if `raw` is not exactly one reply.
pub fn to_value(raw: &[u8]) -> Value {
    match decode(raw) {
        Ok((v, n)) if n == raw.len() => v,
        other => panic!("not one RESP reply ({other:?}): {}", esc(raw)),
    }
}
