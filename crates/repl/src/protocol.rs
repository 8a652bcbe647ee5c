//! The replication protocol's framing, as Redis 7.0 speaks it, without I/O.
//!
//! Replica to master: `PING`; then, pipelined, `AUTH [user] pass`, `REPLCONF
//! listening-port <port>`, `REPLCONF ip-address <ip>`, `REPLCONF capa eof capa
//! psync2`; then `PSYNC <id> <offset>`; later `REPLCONF ACK <offset>`, and nothing
//! else. Master to replica: one line per handshake reply, `+FULLRESYNC <id> <offset>`
//! or `+CONTINUE [<id>]`, then for a full sync a bulk preamble (`$<len>` or
//! `$EOF:<40 bytes>`) and the RDB, then the command stream. While a master prepares a
//! snapshot it sends bare `\n` bytes so the replica's timeout does not fire.
//!
//! Everything here is a pure function of bytes: a line may be incomplete
//! ([`take_line`] returns `Ok(None)`), which is a normal outcome, not an error.

use redoubt_engine::journal::encode_command;
use redoubt_resp::number::{parse_i64, push_u64};

use crate::ids::{is_id, ID_LEN};

/// Longest handshake line accepted from a peer (Redis reads them into 256 and 1024
/// byte buffers); a longer one is a protocol error, not a reason to buffer more.
pub const LINE_MAX_BYTES: usize = 1024;

/// The keepalive byte a master sends while a snapshot is being prepared.
pub const KEEPALIVE: &[u8] = b"\n";

/// A violation of the protocol by the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Takes one `\n`-terminated line off the front of `buf` (without its `\r\n` or
/// `\n`). `Ok(None)`: the line is not complete yet.
pub fn take_line(buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, ProtocolError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let mut line: Vec<u8> = buf.drain(..=i).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            Ok(Some(line))
        }
        None if buf.len() > LINE_MAX_BYTES => {
            Err(ProtocolError(format!("a line from the peer is longer than {LINE_MAX_BYTES} bytes")))
        }
        None => Ok(None),
    }
}

/// Encodes a command the replica sends.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(&mut out, args.iter().copied());
    out
}

/// `PING`, the first thing a replica sends.
pub fn ping() -> Vec<u8> {
    command(&[b"PING"])
}

/// What the replica announces and how it authenticates.
#[derive(Clone, Debug, Default)]
pub struct Handshake {
    /// `masteruser` (only sent with a password).
    pub user: Option<String>,
    /// `masterauth`.
    pub password: Option<String>,
    /// `replica-announce-port`, or the port it listens on.
    pub port: u16,
    /// `replica-announce-ip`.
    pub announce_ip: Option<String>,
}

/// What each reply of the pipelined handshake answers, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeStep {
    Auth,
    ListeningPort,
    IpAddress,
    Capa,
}

impl Handshake {
    /// The pipelined commands after PING, and the replies to expect in order.
    pub fn commands(&self) -> (Vec<u8>, Vec<HandshakeStep>) {
        let mut out = Vec::new();
        let mut steps = Vec::new();
        if let Some(pass) = &self.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &self.user {
                args.push(user.as_bytes());
            }
            args.push(pass.as_bytes());
            out.extend(command(&args));
            steps.push(HandshakeStep::Auth);
        }
        let mut port = Vec::new();
        push_u64(&mut port, self.port as u64);
        out.extend(command(&[b"REPLCONF", b"listening-port", &port]));
        steps.push(HandshakeStep::ListeningPort);
        if let Some(ip) = &self.announce_ip {
            out.extend(command(&[b"REPLCONF", b"ip-address", ip.as_bytes()]));
            steps.push(HandshakeStep::IpAddress);
        }
        out.extend(command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]));
        steps.push(HandshakeStep::Capa);
        (out, steps)
    }
}

/// How the replica judges the reply to its PING: `+PONG`, or an authentication
/// error (authentication comes next), is fine; anything else ends the attempt.
pub fn ping_reply_ok(line: &[u8]) -> bool {
    line.starts_with(b"+")
        || line.starts_with(b"-NOAUTH")
        || line.starts_with(b"-NOPERM")
        || line.starts_with(b"-ERR operation not permitted")
}

/// `PSYNC <id> <offset>`, with `FAILOVER` when the master asks its target to take over.
pub fn psync_command(id: &str, offset: i64, failover: bool) -> Vec<u8> {
    let off = offset.to_string();
    let mut args: Vec<&[u8]> = vec![b"PSYNC", id.as_bytes(), off.as_bytes()];
    if failover {
        args.push(b"FAILOVER");
    }
    command(&args)
}

/// `REPLCONF ACK <offset>`.
pub fn ack_command(offset: u64) -> Vec<u8> {
    let mut off = Vec::new();
    push_u64(&mut off, offset);
    command(&[b"REPLCONF", b"ACK", &off])
}

/// `REPLCONF GETACK *`, which a master puts in the stream to ask for acks.
pub fn getack_command() -> Vec<u8> {
    command(&[b"REPLCONF", b"GETACK", b"*"])
}

/// The master's reply to PSYNC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PsyncReply {
    /// A snapshot follows; the stream continues at `offset` with history `id`.
    FullResync { id: String, offset: u64 },
    /// The stream continues where the replica is; `id` is the master's current id
    /// when it says (a PSYNC2 master always does).
    Continue { id: Option<String> },
    /// `-NOMASTERLINK`, `-LOADING`: the master cannot now but will later.
    TryLater(String),
    /// `-ERR...`: a master too old for PSYNC (SYNC is the fallback).
    NotSupported(String),
    /// Anything else.
    Unexpected(String),
}

impl PsyncReply {
    pub fn parse(line: &[u8]) -> PsyncReply {
        let text = String::from_utf8_lossy(line).into_owned();
        if let Some(rest) = text.strip_prefix("+FULLRESYNC") {
            let mut words = rest.split_whitespace();
            let id = words.next().filter(|w| is_id(w));
            let offset = words.next().and_then(|w| w.parse::<u64>().ok());
            return match (id, offset) {
                (Some(id), Some(offset)) => PsyncReply::FullResync { id: id.to_string(), offset },
                _ => PsyncReply::Unexpected(text),
            };
        }
        if let Some(rest) = text.strip_prefix("+CONTINUE") {
            let id = rest.trim();
            return PsyncReply::Continue { id: (id.len() == ID_LEN && is_id(id)).then(|| id.to_string()) };
        }
        if text.starts_with("-NOMASTERLINK") || text.starts_with("-LOADING") {
            return PsyncReply::TryLater(text);
        }
        if text.starts_with("-ERR") {
            return PsyncReply::NotSupported(text);
        }
        PsyncReply::Unexpected(text)
    }
}

/// How the snapshot's size is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preamble {
    /// `$<len>`: exactly this many bytes follow (a snapshot from disk).
    Sized(u64),
    /// `$EOF:<mark>`: the snapshot ends with these 40 bytes (diskless).
    Eof([u8; ID_LEN]),
}

impl Preamble {
    /// Reads a line received while waiting for the snapshot: `Ok(None)` for a
    /// keepalive (an empty line).
    pub fn parse(line: &[u8]) -> Result<Option<Preamble>, ProtocolError> {
        if line.is_empty() {
            return Ok(None);
        }
        if let Some(err) = line.strip_prefix(b"-") {
            return Err(ProtocolError(format!(
                "MASTER aborted replication with an error: {}",
                String::from_utf8_lossy(err)
            )));
        }
        let Some(rest) = line.strip_prefix(b"$") else {
            return Err(ProtocolError(format!(
                "Bad protocol from MASTER, the first byte is not '$' (we received '{}'), are you sure the host and port are right?",
                String::from_utf8_lossy(line)
            )));
        };
        if let Some(mark) = rest.strip_prefix(b"EOF:") {
            if mark.len() >= ID_LEN {
                let mut m = [0u8; ID_LEN];
                m.copy_from_slice(&mark[..ID_LEN]);
                return Ok(Some(Preamble::Eof(m)));
            }
        }
        match parse_i64(rest) {
            Some(n) if n >= 0 => Ok(Some(Preamble::Sized(n as u64))),
            _ => Err(ProtocolError(format!("Bad bulk length from MASTER: '{}'", String::from_utf8_lossy(line)))),
        }
    }

    /// The line a master sends before a snapshot of `len` bytes (from disk).
    pub fn sized_line(len: u64) -> Vec<u8> {
        let mut out = b"$".to_vec();
        push_u64(&mut out, len);
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Follows the last bytes of a diskless transfer to see its end mark. The master
/// sends nothing after the mark until the replica acknowledges the snapshot, so the
/// mark is always the last bytes received.
pub struct EofTail {
    mark: [u8; ID_LEN],
    last: Vec<u8>,
}

impl EofTail {
    pub fn new(mark: [u8; ID_LEN]) -> EofTail {
        EofTail { mark, last: Vec::with_capacity(ID_LEN * 2) }
    }

    /// Takes the next received bytes; true once they end with the mark.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        let keep = bytes.len().min(ID_LEN);
        self.last.extend_from_slice(&bytes[bytes.len() - keep..]);
        if self.last.len() > ID_LEN {
            let excess = self.last.len() - ID_LEN;
            self.last.drain(..excess);
        }
        self.last == self.mark
    }
}

/// One REPLCONF option a master understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replconf {
    ListeningPort(i64),
    IpAddress(String),
    /// `capa eof`.
    CapaEof,
    /// `capa psync2`.
    CapaPsync2,
    /// An unknown capability: ignored, as Redis ignores it.
    CapaOther,
    /// `ack <offset>`: only from a replica; never answered.
    Ack(u64),
    /// `getack *`: only from a master; never answered.
    GetAck,
    RdbOnly(bool),
}

/// Redis's limit on an announced address (`NET_HOST_STR_LEN`).
const HOST_MAX_BYTES: usize = 256;

/// What parsing REPLCONF's arguments came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplconfParse {
    Options(Vec<Replconf>),
    /// The error reply, Redis's text.
    Error(String),
    /// An ACK whose offset is not a number: Redis ignores it, without a reply.
    Silent,
}

/// Parses `REPLCONF <option> <value> ...` (the arguments after the command name).
pub fn parse_replconf(args: &[&[u8]]) -> ReplconfParse {
    if args.len() % 2 == 1 {
        return ReplconfParse::Error("ERR syntax error".into());
    }
    let not_int = || ReplconfParse::Error("ERR value is not an integer or out of range".into());
    let mut out = Vec::new();
    for pair in args.chunks(2) {
        let (opt, val) = (pair[0].to_ascii_lowercase(), pair[1]);
        let item = match opt.as_slice() {
            b"listening-port" => match parse_i64(val) {
                Some(p) => Replconf::ListeningPort(p),
                None => return not_int(),
            },
            b"ip-address" if val.len() < HOST_MAX_BYTES => Replconf::IpAddress(String::from_utf8_lossy(val).into()),
            b"ip-address" => {
                return ReplconfParse::Error(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                ))
            }
            b"capa" if val.eq_ignore_ascii_case(b"eof") => Replconf::CapaEof,
            b"capa" if val.eq_ignore_ascii_case(b"psync2") => Replconf::CapaPsync2,
            b"capa" => Replconf::CapaOther,
            b"ack" => match parse_i64(val) {
                Some(n) if n >= 0 => {
                    out.push(Replconf::Ack(n as u64));
                    return ReplconfParse::Options(out);
                }
                _ => return ReplconfParse::Silent,
            },
            b"getack" => {
                out.push(Replconf::GetAck);
                return ReplconfParse::Options(out);
            }
            b"rdb-only" => match parse_i64(val) {
                Some(0) => Replconf::RdbOnly(false),
                Some(1) => Replconf::RdbOnly(true),
                _ => return not_int(),
            },
            _ => {
                return ReplconfParse::Error(format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(pair[0])
                ))
            }
        };
        out.push(item);
    }
    ReplconfParse::Options(out)
}

/// `+FULLRESYNC <id> <offset>`.
pub fn fullresync_line(id: &str, offset: u64) -> Vec<u8> {
    let mut out = format!("+FULLRESYNC {id} ").into_bytes();
    push_u64(&mut out, offset);
    out.extend_from_slice(b"\r\n");
    out
}

/// `+CONTINUE <id>` for a PSYNC2 replica, `+CONTINUE` for an older one.
pub fn continue_line(id: &str, psync2: bool) -> Vec<u8> {
    if psync2 {
        format!("+CONTINUE {id}\r\n").into_bytes()
    } else {
        b"+CONTINUE\r\n".to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_taken_whole_and_bounded() {
        let mut buf = b"+PONG\r\n\n+OK".to_vec();
        assert_eq!(take_line(&mut buf).unwrap(), Some(b"+PONG".to_vec()));
        assert_eq!(take_line(&mut buf).unwrap(), Some(Vec::new()));
        assert_eq!(take_line(&mut buf).unwrap(), None);
        assert_eq!(buf, b"+OK");
        let mut long = vec![b'x'; LINE_MAX_BYTES + 1];
        assert!(take_line(&mut long).is_err());
    }

    #[test]
    fn handshake_commands_match_redis() {
        let h = Handshake { user: None, password: None, port: 7001, announce_ip: None };
        let (bytes, steps) = h.commands();
        assert_eq!(
            bytes,
            b"*3\r\n$8\r\nREPLCONF\r\n$14\r\nlistening-port\r\n$4\r\n7001\r\n*5\r\n$8\r\nREPLCONF\r\n$4\r\ncapa\r\n$3\r\neof\r\n$4\r\ncapa\r\n$6\r\npsync2\r\n"
        );
        assert_eq!(steps, vec![HandshakeStep::ListeningPort, HandshakeStep::Capa]);
        let h = Handshake {
            user: Some("u".into()),
            password: Some("p".into()),
            port: 1,
            announce_ip: Some("10.0.0.1".into()),
        };
        let (bytes, steps) = h.commands();
        assert!(bytes.starts_with(b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$1\r\np\r\n"));
        assert_eq!(steps.len(), 4);
        assert!(ping_reply_ok(b"+PONG") && ping_reply_ok(b"-NOAUTH Authentication required."));
        assert!(!ping_reply_ok(b"-ERR unknown"));
        assert_eq!(psync_command("?", -1, false), b"*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n");
        assert_eq!(ack_command(42), b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$2\r\n42\r\n");
    }

    #[test]
    fn psync_replies() {
        let id = "a".repeat(40);
        assert_eq!(
            PsyncReply::parse(format!("+FULLRESYNC {id} 123").as_bytes()),
            PsyncReply::FullResync { id: id.clone(), offset: 123 }
        );
        assert!(matches!(PsyncReply::parse(b"+FULLRESYNC short 1"), PsyncReply::Unexpected(_)));
        assert_eq!(PsyncReply::parse(format!("+CONTINUE {id}").as_bytes()), PsyncReply::Continue { id: Some(id) });
        assert_eq!(PsyncReply::parse(b"+CONTINUE"), PsyncReply::Continue { id: None });
        assert!(matches!(PsyncReply::parse(b"-LOADING x"), PsyncReply::TryLater(_)));
        assert!(matches!(PsyncReply::parse(b"-ERR unknown command"), PsyncReply::NotSupported(_)));
        assert!(matches!(PsyncReply::parse(b"+OK"), PsyncReply::Unexpected(_)));
    }

    #[test]
    fn preambles_and_eof_marks() {
        assert_eq!(Preamble::parse(b"").unwrap(), None);
        assert_eq!(Preamble::parse(b"$1234").unwrap(), Some(Preamble::Sized(1234)));
        let mark = [b'm'; 40];
        let line = [&b"$EOF:"[..], &mark[..]].concat();
        assert_eq!(Preamble::parse(&line).unwrap(), Some(Preamble::Eof(mark)));
        assert!(Preamble::parse(b"$-1").is_err());
        assert!(Preamble::parse(b"+OK").is_err());
        assert!(Preamble::parse(b"-ERR x").unwrap_err().0.contains("aborted"));
        let mut t = EofTail::new(mark);
        assert!(!t.feed(b"REDIS0010"));
        assert!(!t.feed(&[b'm'; 39]));
        assert!(t.feed(b"m"));
        assert!(!t.feed(b"x"));
        let mut t = EofTail::new(mark);
        assert!(t.feed(&[&b"data"[..], &mark[..]].concat()));
    }

    #[test]
    fn replconf_options_and_errors() {
        let p = |args: &[&str]| parse_replconf(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
        assert_eq!(
            p(&["listening-port", "7000", "capa", "eof", "capa", "psync2", "capa", "x"]),
            ReplconfParse::Options(vec![
                Replconf::ListeningPort(7000),
                Replconf::CapaEof,
                Replconf::CapaPsync2,
                Replconf::CapaOther
            ])
        );
        assert_eq!(p(&["listening-port"]), ReplconfParse::Error("ERR syntax error".into()));
        assert_eq!(p(&[]), ReplconfParse::Options(vec![]));
        assert_eq!(p(&["foo", "bar"]), ReplconfParse::Error("ERR Unrecognized REPLCONF option: foo".into()));
        assert_eq!(p(&["ack", "x"]), ReplconfParse::Silent);
        assert_eq!(p(&["ACK", "12"]), ReplconfParse::Options(vec![Replconf::Ack(12)]));
        assert_eq!(p(&["rdb-only", "2"]), ReplconfParse::Error("ERR value is not an integer or out of range".into()));
        assert_eq!(fullresync_line("i", 5), b"+FULLRESYNC i 5\r\n");
        assert_eq!(continue_line("i", false), b"+CONTINUE\r\n");
    }
}
