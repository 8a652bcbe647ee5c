//! The link to our master (Redis's `connectWithMaster`, `syncWithMaster`,
//! `readSyncBulkPayload` and the master client): connect, handshake, PSYNC, receive
//! a snapshot or continue, then apply the stream and acknowledge it; reconnect with
//! backoff when anything fails, for as long as this master is ours.
//!
//! The stream is applied as the master's client: commands run through the normal
//! dispatch (MULTI/EXEC, SELECT and all) with their replies discarded, and each
//! command's bytes are appended to our journal as received (mirror mode), so our
//! offset is the master's and our own replicas get the same stream. The bytes of a
//! transaction are appended at its EXEC, so a snapshot never falls inside one.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redoubt_repl::link::{Backoff, LinkState};
use redoubt_repl::protocol::{self, Handshake, HandshakeStep, Preamble, PsyncReply};
use redoubt_resp::request::{Limits, Parsed, RequestParser};
use redoubt_resp::{Protocol, ReplyBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::load::{self, Transfer};
use crate::client::{ClientShared, ClientState, ClientType};
use crate::dispatch::{dispatch, Flow};
use crate::server::Server;
use crate::{notice, warning};

/// Bytes read from the master per read.
const READ_BYTES: usize = 64 * 1024;
/// How often we acknowledge our offset (Redis: every second).
const ACK_EVERY: Duration = Duration::from_secs(1);

/// Why a link ended.
type LinkResult = Result<(), String>;

/// Runs the link for as long as `generation` is current.
pub async fn run(server: Arc<Server>, generation: u64) {
    let r = &server.replication;
    let mut backoff = Backoff::default();
    while r.generation() == generation {
        let Some((host, port)) = r.master() else { return };
        let result = link(&server, generation, &host, port).await;
        if let Some(c) = r.take_master_client() {
            server.clients.remove(c.id);
        }
        if r.generation() != generation {
            return;
        }
        r.set_link_state(LinkState::Connect);
        match result {
            Ok(()) => {
                notice!("Connection with master lost.");
                backoff.reset();
            }
            Err(e) => warning!("{e}"),
        }
        let delay = Duration::from_millis(backoff.next_delay_ms());
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = r.link_wake.notified() => {}
        }
    }
}

/// One connection to the master, from connect to the link's end.
async fn link(server: &Arc<Server>, generation: u64, host: &str, port: u16) -> LinkResult {
    let r = &server.replication;
    let timeout = Duration::from_secs(server.config.get_i64("repl-timeout").max(1) as u64);
    r.set_link_state(LinkState::Connecting);
    notice!("MASTER <-> REPLICA sync started");
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| format!("Error condition on socket for SYNC: Connection timed out ({host}:{port})"))?
        .map_err(|e| format!("Error condition on socket for SYNC: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (laddr, fd) =
        (stream.local_addr().map(|a| a.to_string()).unwrap_or_default(), std::os::fd::AsRawFd::as_raw_fd(&stream));
    let now = redoubt_engine::clock::now_ms();
    let client = Arc::new(ClientShared::new(server.clients.next_id(), format!("{host}:{port}"), laddr, fd, false, now));
    client.kind.store(ClientType::Master as u8, Relaxed);
    r.set_master_client(client.clone());
    server.clients.add(client.clone());
    notice!("Non blocking connect for SYNC fired the event.");
    let mut link = Link { server, stream, input: Vec::new(), buf: vec![0; READ_BYTES], client, timeout, generation };
    r.set_link_state(LinkState::Handshake);
    let reply = link.exchange(&protocol::ping()).await?;
    if !protocol::ping_reply_ok(&reply) {
        return Err(format!("Error reply to PING from master: '{}'", String::from_utf8_lossy(&reply)));
    }
    notice!("Master replied to PING, replication can continue...");
    link.handshake().await?;
    link.psync().await
}

struct Link<'a> {
    server: &'a Arc<Server>,
    stream: TcpStream,
    /// Bytes read but not used yet.
    input: Vec<u8>,
    /// What each read lands in first.
    buf: Vec<u8>,
    client: Arc<ClientShared>,
    timeout: Duration,
    generation: u64,
}

impl Link<'_> {
    /// Fails when the link must end for a reason other than I/O.
    fn check_current(&self) -> LinkResult {
        if self.client.is_killed() {
            return Err("The master link was closed (CLIENT KILL or a new master)".into());
        }
        if self.server.replication.generation() != self.generation {
            return Err("The master changed".into());
        }
        Ok(())
    }

    /// Reads more bytes into `input`, waiting at most the replication timeout.
    async fn fill(&mut self) -> LinkResult {
        match tokio::time::timeout(self.timeout, self.read_some()).await {
            Ok(r) => r,
            Err(_) => Err("Timeout connecting to the MASTER...".into()),
        }
    }

    /// Reads what the socket has into `input` (through the link's own buffer, so this
    /// is safe to cancel: nothing is added until bytes have arrived).
    async fn read_some(&mut self) -> LinkResult {
        self.check_current()?;
        let read = tokio::select! {
            r = self.stream.read(&mut self.buf) => Some(r),
            _ = self.client.wake.notified() => None,
        };
        let n = match read {
            None => return self.check_current(),
            Some(Err(e)) => return Err(format!("Error reading from MASTER: {e}")),
            Some(Ok(0)) => return Err("MASTER closed the connection".into()),
            Some(Ok(n)) => n,
        };
        self.input.extend_from_slice(&self.buf[..n]);
        redoubt_engine::stats::add(redoubt_engine::stats::Stat::NetReplInputBytes, n as u64);
        let now = redoubt_engine::clock::now_ms();
        self.server.replication.link.last_io_ms.store(now, Relaxed);
        self.client.last_interaction_ms.store(now, Relaxed);
        Ok(())
    }

    /// The next line from the master, skipping the newlines it sends to keep us waiting.
    async fn line(&mut self) -> Result<Vec<u8>, String> {
        loop {
            match protocol::take_line(&mut self.input).map_err(|e| e.0)? {
                Some(l) if l.is_empty() => continue,
                Some(l) => return Ok(l),
                None => self.fill().await?,
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> LinkResult {
        tokio::time::timeout(self.timeout, self.stream.write_all(bytes))
            .await
            .map_err(|_| "Timeout writing to the MASTER".to_string())?
            .map_err(|e| format!("Error writing to the MASTER: {e}"))
    }

    async fn exchange(&mut self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        self.send(bytes).await?;
        self.line().await
    }

    /// AUTH, REPLCONF listening-port / ip-address / capa, each with its reply.
    async fn handshake(&mut self) -> LinkResult {
        let cfg = &self.server.config;
        let non_empty = |name: &str| Some(cfg.get(name)).filter(|v| !v.is_empty());
        let announced_port = cfg.get_i64("replica-announce-port");
        let port = if announced_port > 0 { announced_port } else { cfg.get_i64("port") };
        let h = Handshake {
            user: non_empty("masteruser"),
            password: non_empty("masterauth"),
            port: port.clamp(0, u16::MAX as i64) as u16,
            announce_ip: non_empty("replica-announce-ip"),
        };
        let (bytes, steps) = h.commands();
        self.send(&bytes).await?;
        for step in steps {
            let reply = self.line().await?;
            if reply.starts_with(b"-") {
                let text = String::from_utf8_lossy(&reply[1..]).into_owned();
                match step {
                    HandshakeStep::Auth => return Err(format!("Unable to AUTH to MASTER: {text}")),
                    HandshakeStep::ListeningPort => {
                        notice!("(Non critical) Master does not understand REPLCONF listening-port: {text}")
                    }
                    HandshakeStep::IpAddress => {
                        notice!("(Non critical) Master does not understand REPLCONF ip-address: {text}")
                    }
                    HandshakeStep::Capa => notice!("(Non critical) Master does not understand REPLCONF capa: {text}"),
                }
            }
        }
        Ok(())
    }

    /// PSYNC, then a full or partial sync, then the stream.
    async fn psync(mut self) -> LinkResult {
        let server = self.server;
        let r = &server.replication;
        let journal = &server.engine.journal;
        let (id, offset) = if r.can_psync.load(Relaxed) {
            let (id, offset) = (r.id(), journal.offset() + 1);
            notice!("Trying a partial resynchronization (request {id}:{offset}).");
            (id, offset as i64)
        } else {
            notice!("Partial resynchronization not possible (no cached master)");
            ("?".to_string(), -1)
        };
        let failover = r.failover.psync_flag();
        let reply = self.exchange(&protocol::psync_command(&id, offset, failover)).await?;
        let reply = PsyncReply::parse(&reply);
        if failover && !matches!(reply, PsyncReply::Continue { .. } | PsyncReply::FullResync { .. }) {
            super::failover::abort(server, &format!("The failover target refused to take over ({reply:?})"));
            return Err("PSYNC FAILOVER refused".into());
        }
        match reply {
            PsyncReply::Continue { id } => {
                notice!("Successful partial resynchronization with master.");
                if let Some(id) = id {
                    super::follow_new_master_id(server, &id);
                }
                notice!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
                let db = journal.stream_db().unwrap_or(0);
                self.stream(db).await
            }
            PsyncReply::FullResync { id, offset } => {
                notice!("Full resync from master: {id}:{offset}");
                r.can_psync.store(false, Relaxed);
                let db = self.receive_snapshot(&id, offset).await?;
                r.can_psync.store(true, Relaxed);
                self.stream(db).await
            }
            PsyncReply::TryLater(text) => {
                Err(format!("Master is currently unable to PSYNC but should be in the future: {text}"))
            }
            PsyncReply::NotSupported(text) | PsyncReply::Unexpected(text) => {
                Err(format!("Unexpected reply to PSYNC from master: {text}"))
            }
        }
    }

    /// Receives the snapshot after +FULLRESYNC into a temporary file, then loads it in
    /// place of our data. Returns the database the stream continues in.
    async fn receive_snapshot(&mut self, id: &str, offset: u64) -> Result<usize, String> {
        let server = self.server;
        let r = &server.replication;
        r.set_link_state(LinkState::Transfer);
        let preamble = loop {
            let line = self.line().await?;
            if let Some(p) = Preamble::parse(&line).map_err(|e| e.0)? {
                break p;
            }
        };
        let mut transfer = Transfer::create(server, &preamble)
            .map_err(|e| format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"))?;
        match &preamble {
            Preamble::Sized(n) => notice!("MASTER <-> REPLICA sync: receiving {n} bytes from master to disk"),
            Preamble::Eof(_) => notice!("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk"),
        }
        let mut last_ack = Instant::now();
        loop {
            let used = transfer.feed(&self.input).map_err(|e| format!("Write error writing to the DB file: {e}"))?;
            self.input.drain(..used);
            if transfer.complete() {
                break;
            }
            if last_ack.elapsed() >= ACK_EVERY {
                // Redis's replica pings nothing while loading, but a newline keeps
                // a proxy in between from timing the link out; the master ignores it.
                self.send(b"\n").await?;
                last_ack = Instant::now();
            }
            self.fill().await?;
        }
        notice!("MASTER <-> REPLICA sync: Flushing old data");
        let s = server.clone();
        let (id_owned, path) = (id.to_string(), transfer.finish().map_err(|e| e.to_string())?);
        let loaded = tokio::task::spawn_blocking(move || load::replace_dataset(&s, &path, &id_owned, offset))
            .await
            .map_err(|_| "Loading the master's snapshot failed with an internal error".to_string())?;
        let db = loaded.map_err(|_| {
            "Failed trying to load the MASTER synchronization DB from disk, check server logs.".to_string()
        })?;
        notice!("MASTER <-> REPLICA sync: Finished with success");
        Ok(db)
    }

    /// Applies the stream from the master until the link ends; `db`: the database the
    /// stream is in at its start.
    async fn stream(mut self, db: usize) -> LinkResult {
        let server = self.server;
        let r = &server.replication;
        let journal = &server.engine.journal;
        r.set_link_state(LinkState::Connected);
        self.client.last_interaction_ms.store(redoubt_engine::clock::now_ms(), Relaxed);
        let mut state = ClientState::new(true);
        state.db = db;
        let mut applier = Applier { state, parser: RequestParser::new(), pending: Vec::new(), closed: false };
        r.link.read_offset.store(journal.offset(), Relaxed);
        self.send(&protocol::ack_command(journal.offset())).await?;
        let mut tick = tokio::time::interval(ACK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let (used, ack_now) = applier.apply(server, &self.client, &self.input).await;
            self.input.drain(..used);
            if ack_now {
                self.send(&protocol::ack_command(journal.offset())).await?;
            }
            if applier.closed {
                return Err("Protocol error in the stream from the MASTER".into());
            }
            tokio::select! {
                r = self.read_some() => r?,
                _ = tick.tick() => {
                    let silent_ms = redoubt_engine::clock::now_ms() - r.link.last_io_ms.load(Relaxed);
                    if silent_ms > self.timeout.as_millis() as i64 {
                        return Err("MASTER timeout: no data nor PING received...".into());
                    }
                    self.send(&protocol::ack_command(journal.offset())).await?;
                }
            }
            // Everything received: what is applied, a transaction being held, and
            // what is not parsed yet.
            let received = journal.offset() + (applier.pending.len() + self.input.len()) as u64;
            r.link.read_offset.store(received, Relaxed);
        }
    }
}

/// Applies commands from the master as its client.
struct Applier {
    state: ClientState,
    parser: RequestParser,
    /// The bytes of a transaction in progress, appended to the journal at its end.
    pending: Vec<u8>,
    closed: bool,
}

impl Applier {
    /// Runs the whole commands at the start of `input`; returns the bytes used and
    /// whether the master asked for an ACK (REPLCONF GETACK).
    async fn apply(&mut self, server: &Arc<Server>, client: &Arc<ClientShared>, input: &[u8]) -> (usize, bool) {
        let journal = &server.engine.journal;
        let limits = Limits { max_bulk_len: i64::MAX, auth_required: false, is_master: true };
        let mut pos = 0;
        let mut ack = false;
        let mut out = ReplyBuf { buf: Vec::new(), proto: Protocol::Resp2 };
        loop {
            let consumed = match self.parser.parse(&input[pos..], &limits) {
                Ok(Parsed::Incomplete) => break,
                Ok(Parsed::Empty { consumed }) => {
                    pos += consumed;
                    continue;
                }
                Ok(Parsed::Command { consumed }) => consumed,
                Err(e) => {
                    warning!("Protocol error from MASTER: {}", String::from_utf8_lossy(&e.0));
                    self.closed = true;
                    break;
                }
            };
            let bytes = &input[pos..pos + consumed];
            let args = self.parser.args(&input[pos..]);
            let name = args.get(0);
            if name.eq_ignore_ascii_case(b"replconf") && args.len() >= 2 && args.get(1).eq_ignore_ascii_case(b"getack")
            {
                // The ACK reports what was applied before the GETACK, as Redis does.
                ack = true;
                journal.append_raw(bytes, None);
                pos += consumed;
                continue;
            }
            loop {
                let flow = {
                    let _applying = journal.apply_guard();
                    let _from_master = redoubt_engine::exec::from_master();
                    let now = redoubt_engine::clock::now_ms();
                    out.buf.clear();
                    let flow = dispatch(server, &mut self.state, client, args, &mut out, now);
                    if !matches!(flow, Flow::RetryAfter(_)) {
                        self.pending.extend_from_slice(bytes);
                        if !crate::multi::in_multi(&self.state) {
                            journal.append_raw(&self.pending, Some(self.state.db));
                            self.pending.clear();
                        }
                    }
                    flow
                };
                match flow {
                    // A script of another client holds the keyspace: wait for it.
                    Flow::RetryAfter(t) => tokio::time::sleep_until(t.into()).await,
                    _ => break,
                }
            }
            pos += consumed;
        }
        (pos, ack)
    }
}
