//! Serving a replica (Redis's `syncCommand` and the replica's output): a connection
//! that sent PSYNC or SYNC is handed over here (`conn.rs`), gets `+CONTINUE` and the
//! bytes it misses, or `+FULLRESYNC`, a snapshot and the stream from the snapshot's
//! offset on; its `REPLCONF ACK`s are read for INFO, WAIT and min-replicas.
//!
//! Bounds: the stream is read from the journal's backlog a chunk at a time, only when
//! the socket takes it, so no per-replica buffer grows; a replica that falls further
//! behind than the backlog keeps for it (`client-output-buffer-limit replica`, see
//! `redoubt_repl::backlog`) finds its bytes gone and is disconnected, as Redis closes
//! a replica past its output buffer limit. Its input (ACKs) is bounded as well.

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redoubt_engine::journal::{Cursor, ReadError};
use redoubt_engine::stats::{self, Stat};
use redoubt_repl::ids::{BacklogView, Psync, PsyncRequest};
use redoubt_repl::link::ReplicaState;
use redoubt_repl::protocol::{self, Preamble};
use redoubt_resp::request::{Limits, Parsed, RequestParser};
use tokio::sync::{oneshot, Notify};

use super::{ensure_backlog, ReplicaLink};
use crate::client::{ClientShared, ClientType};
use crate::conn::Stream;
use crate::server::Server;
use crate::{notice, warning};

/// Stream bytes sent per write.
const CHUNK_BYTES: usize = 256 * 1024;
/// Input a replica may have pending (it only sends ACKs).
const INPUT_MAX_BYTES: usize = 64 * 1024;
/// How often a replica waiting for its snapshot gets a newline, so its read timeout
/// does not fire (Redis does the same).
const KEEPALIVE_EVERY: Duration = Duration::from_secs(1);
/// How long the stream gathers after the first new byte before it is sent: one read
/// and one write then carry many commands (Redis writes to replicas once per event
/// loop turn, not once per command); a wake-up per command costs more than the data.
const COALESCE: Duration = Duration::from_millis(1);
/// How often a replica past its soft output limit is looked at again.
const SOFT_LIMIT_CHECK: Duration = Duration::from_millis(100);
/// How often a full sync looks again whether another snapshot has ended.
const SNAPSHOT_RETRY: Duration = Duration::from_millis(100);

/// What a replica said with REPLCONF before PSYNC.
#[derive(Debug, Default, Clone)]
pub struct Hello {
    pub listening_port: i64,
    pub ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
}

/// PSYNC's arguments (None for the old SYNC).
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub psync: Option<(String, Option<i64>)>,
}

/// Serves the replica on `stream` until the link ends. `input`: bytes it sent after
/// PSYNC that the connection had already read.
pub async fn serve(
    server: &Arc<Server>,
    stream: &Stream,
    client: &Arc<ClientShared>,
    hello: Hello,
    request: SyncRequest,
    input: Vec<u8>,
) {
    client.kind.store(ClientType::Replica as u8, Relaxed);
    let ip = hello.ip.clone().unwrap_or_else(|| host_of(&client.addr));
    let link = Arc::new(ReplicaLink {
        client: client.clone(),
        ip,
        listening_port: hello.listening_port,
        psync2: hello.capa_psync2,
        state: AtomicU8::new(ReplicaState::WaitBgsave as u8),
        ack_offset: AtomicU64::new(0),
        ack_time_ms: AtomicI64::new(redoubt_engine::clock::now_ms()),
        wake: Notify::new(),
    });
    let name = format!("{}:{}", link.ip, link.listening_port);
    server.replication.add_replica(link.clone());
    // The cursor holds the backlog from the start of what it may send until the
    // replica has read it, so nothing it needs can be trimmed before the decision.
    let journal = &server.engine.journal;
    let (_, len) = journal.backlog_range();
    let cursor = journal.cursor(journal.offset() - len as u64);
    let mut out = Feeder { server, stream, link: &link, input, parser: RequestParser::new() };
    let result = out.run(&name, &request, &cursor).await;
    server.replication.remove_replica(&link);
    super::refresh_good_replicas(server);
    // The backlog's time window opens before the cursor lets go of what the replica
    // had not read, so it can come back for it.
    super::apply_backlog_limits(server);
    drop(cursor);
    match result {
        Ok(()) => notice!("Connection with replica {name} lost."),
        Err(e) => warning!("Connection with replica {name} lost: {e}"),
    }
}

/// The address part of `host:port`.
fn host_of(addr: &str) -> String {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']').to_string()
}

struct Feeder<'a> {
    server: &'a Arc<Server>,
    stream: &'a Stream,
    link: &'a Arc<ReplicaLink>,
    input: Vec<u8>,
    parser: RequestParser,
}

impl Feeder<'_> {
    async fn run(&mut self, name: &str, request: &SyncRequest, cursor: &Cursor) -> io::Result<()> {
        let server = self.server;
        let r = &server.replication;
        let journal = &server.engine.journal;
        notice!("Replica {name} asks for synchronization");
        let len = journal.backlog_range().1;
        let decision = match &request.psync {
            Some((id, offset)) => {
                let view =
                    BacklogView { end: journal.offset(), len: len as u64, active: r.backlog_active.load(Relaxed) };
                r.ids().psync(&PsyncRequest { id, offset: *offset }, view)
            }
            None => Psync::Full(redoubt_repl::ids::FullReason::Requested),
        };
        let start = match decision {
            Psync::Continue { from } => {
                cursor.advance(from);
                let ids = r.ids();
                self.write_all(&protocol::continue_line(&ids.id, self.link.psync2)).await?;
                r.sync_partial_ok.fetch_add(1, Relaxed);
                notice!(
                    "Partial resynchronization request from {name} accepted. Sending {} bytes of backlog starting from offset {}.",
                    journal.offset() - from,
                    from + 1
                );
                from
            }
            Psync::Full(reason) => {
                if reason.is_partial_error() {
                    r.sync_partial_err.fetch_add(1, Relaxed);
                    notice!("Partial resynchronization not accepted: {reason:?}");
                }
                notice!("Full resync requested by replica {name}");
                r.sync_full.fetch_add(1, Relaxed);
                ensure_backlog(server);
                self.full_sync(name, request.psync.is_some(), cursor).await?
            }
        };
        self.link.set_state(ReplicaState::Online);
        self.link.ack_time_ms.store(redoubt_engine::clock::now_ms(), Relaxed);
        super::refresh_good_replicas(server);
        self.stream_from(start, cursor).await
    }

    /// Takes a snapshot, sends `+FULLRESYNC` and the file; returns the offset the
    /// stream continues from.
    async fn full_sync(&mut self, name: &str, psync: bool, cursor: &Cursor) -> io::Result<u64> {
        let server = self.server;
        let mut keepalive = Instant::now();
        // One snapshot at a time: wait while a BGSAVE or an AOF rewrite runs.
        let (offset, mut rx) = loop {
            if self.link.client.is_killed() {
                return Err(io::Error::other("the replica was disconnected"));
            }
            if server.persistence.running().is_none() {
                let (tx, rx) = oneshot::channel::<io::Result<File>>();
                let path = crate::persistence::rdb::dump_path(server);
                let done: crate::persistence::rdb::SaveDone = Box::new(move |ok| {
                    // Opened as soon as it is complete: a later save replaces the
                    // name, not what this handle reads.
                    let file = if ok { File::open(&path) } else { Err(io::Error::other("the snapshot failed")) };
                    let _ = tx.send(file);
                });
                // Another snapshot may have won the race: then try again later.
                if let Ok(offset) = crate::persistence::rdb::bgsave_with(server, Some(done)) {
                    break (offset, rx);
                }
            }
            if keepalive.elapsed() >= KEEPALIVE_EVERY {
                self.write_all(protocol::KEEPALIVE).await?;
                keepalive = Instant::now();
            }
            tokio::time::sleep(SNAPSHOT_RETRY).await;
        };
        notice!("Starting BGSAVE for SYNC with target: disk");
        cursor.advance(offset);
        if psync {
            let id = server.replication.id();
            self.write_all(&protocol::fullresync_line(&id, offset)).await?;
        }
        let file = loop {
            tokio::select! {
                f = &mut rx => break f.unwrap_or_else(|_| Err(io::Error::other("the snapshot was abandoned")))?,
                _ = tokio::time::sleep(KEEPALIVE_EVERY) => self.write_all(protocol::KEEPALIVE).await?,
                _ = self.link.client.wake.notified() => {
                    if self.link.client.is_killed() {
                        return Err(io::Error::other("the replica was disconnected"));
                    }
                }
            }
        };
        self.link.set_state(ReplicaState::SendBulk);
        self.send_file(file).await?;
        notice!("Synchronization with replica {name} succeeded");
        Ok(offset)
    }

    /// Sends a snapshot file as a bulk (`$<len>` then the bytes).
    async fn send_file(&mut self, mut file: File) -> io::Result<()> {
        let len = file.metadata()?.len();
        self.write_all(&Preamble::sized_line(len)).await?;
        let mut left = len;
        let mut buf = vec![0u8; CHUNK_BYTES];
        while left > 0 {
            let want = (left as usize).min(buf.len());
            file.read_exact(&mut buf[..want])?;
            self.write_all(&buf[..want]).await?;
            left -= want as u64;
        }
        Ok(())
    }

    /// Sends the stream from `pos` for as long as the link lives, reading ACKs.
    async fn stream_from(&mut self, mut pos: u64, cursor: &Cursor) -> io::Result<()> {
        let journal = &self.server.engine.journal;
        let mut out: Vec<u8> = Vec::new();
        let mut sent = 0usize;
        // Since when the replica has been past the soft limit, if it is.
        let mut soft_since: Option<Instant> = None;
        let over_limit = |link: &ReplicaLink| {
            warning!(
                "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                link.client.describe(redoubt_engine::clock::now_ms(), "psync")
            );
            stats::incr(Stat::ClientOutputBufferLimitDisconnections);
        };
        loop {
            if self.link.client.is_killed() {
                return Ok(());
            }
            // While the socket is full the stream grows; once the backlog no longer
            // holds what the replica still needs, it is cut off at once.
            let (first, _) = journal.backlog_range();
            let unsent = journal.offset().saturating_sub(pos - (out.len() - sent) as u64);
            if first.saturating_sub(1) > pos || self.past_output_limit(unsent, &mut soft_since) {
                over_limit(self.link);
                return Ok(());
            }
            if sent == out.len() {
                cursor.advance(pos);
                out = match journal.read_from(pos, CHUNK_BYTES) {
                    Ok(b) => b,
                    Err(ReadError::Gone) => {
                        over_limit(self.link);
                        return Ok(());
                    }
                    // Our stream restarted below the replica (we resynced from our
                    // own master): it must sync again.
                    Err(ReadError::Ahead) => return Ok(()),
                };
                pos += out.len() as u64;
                sent = 0;
            }
            let has_output = sent < out.len();
            let seen = journal.offset();
            let more = std::future::poll_fn(|cx| {
                if journal.offset() != seen {
                    return std::task::Poll::Ready(());
                }
                journal.wait(cx.waker());
                if journal.offset() != seen {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            });
            tokio::select! {
                r = self.stream.readable() => {
                    r?;
                    self.read_acks()?;
                }
                r = self.stream.writable(), if has_output => {
                    r?;
                    match self.stream.try_write(&out[sent..]) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => {
                            sent += n;
                            stats::add(Stat::NetReplOutputBytes, n as u64);
                            if sent == out.len() {
                                // All of it is in the socket: the backlog may let go.
                                cursor.advance(pos);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                _ = more => {
                    if !has_output {
                        // Let the writers that are ready run first, so one read and
                        // one write carry many commands (Redis writes to replicas once
                        // per event-loop turn, not once per command).
                        tokio::time::sleep(COALESCE).await;
                    }
                }
                _ = self.link.client.wake.notified() => {}
                _ = self.link.wake.notified() => {}
                // Past the soft limit, the clock runs even if nothing is written.
                _ = tokio::time::sleep(SOFT_LIMIT_CHECK), if soft_since.is_some() => {}
            }
        }
    }

    /// `client-output-buffer-limit replica`: true when the stream the replica has not
    /// taken (`unsent` bytes) is past the hard limit, or has been past the soft limit
    /// for longer than its seconds.
    fn past_output_limit(&self, unsent: u64, soft_since: &mut Option<Instant>) -> bool {
        let [hard, soft, soft_s] = &self.server.knobs.output_limits[1];
        let (hard, soft, soft_s) = (hard.load(Relaxed), soft.load(Relaxed), soft_s.load(Relaxed));
        if hard > 0 && unsent > hard {
            return true;
        }
        if soft == 0 || unsent <= soft {
            *soft_since = None;
            return false;
        }
        let since = *soft_since.get_or_insert_with(Instant::now);
        since.elapsed() > Duration::from_secs(soft_s)
    }

    /// Reads what the replica sent: `REPLCONF ACK <offset>`; anything else is ignored,
    /// as Redis ignores a replica's other commands' replies.
    fn read_acks(&mut self) -> io::Result<()> {
        let len = self.input.len();
        self.input.resize(len + 4096, 0);
        let read = self.stream.try_read(&mut self.input[len..]);
        self.input.truncate(len + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Err(io::Error::other("the replica closed the connection")),
            Ok(n) => stats::add(Stat::NetReplInputBytes, n as u64),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
        let now = redoubt_engine::clock::now_ms();
        self.link.client.last_interaction_ms.store(now, Relaxed);
        let limits = Limits { is_master: true, ..Limits::default() };
        let mut pos = 0;
        loop {
            match self.parser.parse(&self.input[pos..], &limits) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Empty { consumed }) => pos += consumed,
                Ok(Parsed::Command { consumed }) => {
                    let args = self.parser.args(&self.input[pos..]);
                    if args.len() >= 3
                        && args.get(0).eq_ignore_ascii_case(b"replconf")
                        && args.get(1).eq_ignore_ascii_case(b"ack")
                    {
                        if let Some(off) = redoubt_resp::number::parse_i64(args.get(2)).filter(|n| *n >= 0) {
                            self.link.ack_offset.fetch_max(off as u64, Relaxed);
                            self.link.ack_time_ms.store(now, Relaxed);
                        }
                    }
                    pos += consumed;
                }
                Err(e) => return Err(io::Error::other(String::from_utf8_lossy(&e.0).into_owned())),
            }
        }
        self.input.drain(..pos);
        if self.input.len() > INPUT_MAX_BYTES {
            return Err(io::Error::other("the replica sent too much input"));
        }
        Ok(())
    }

    async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            tokio::select! {
                r = self.stream.writable() => r?,
                _ = self.link.client.wake.notified() => {
                    if self.link.client.is_killed() {
                        return Err(io::Error::other("the replica was disconnected"));
                    }
                    continue;
                }
            }
            match self.stream.try_write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    stats::add(Stat::NetReplOutputBytes, n as u64);
                    bytes = &bytes[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
