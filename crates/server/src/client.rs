//! Clients: the part of each connection other tasks can see (CLIENT LIST, CLIENT
//! KILL, MONITOR feeds, idle timeouts), and the registry of all of them.
//!
//! A connection's own mutable state ([`ClientState`]) lives in its task and is never
//! shared; [`ClientShared`] holds what others read, as atomics, plus a mailbox for
//! bytes pushed by other clients (MONITOR lines) and a wake-up for kills.
//! An idle connection owns no buffers: this struct, its task and its socket are all
//! it costs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use redoubt_resp::Protocol;
use tokio::sync::Notify;

/// Connection types for CLIENT KILL/LIST TYPE and the output buffer classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ClientType {
    Normal = 0,
    Replica = 1,
    PubSub = 2,
    Master = 3,
}

impl ClientType {
    pub fn parse(s: &[u8]) -> Option<ClientType> {
        match s.to_ascii_lowercase().as_slice() {
            b"normal" => Some(ClientType::Normal),
            b"slave" | b"replica" => Some(ClientType::Replica),
            b"pubsub" => Some(ClientType::PubSub),
            b"master" => Some(ClientType::Master),
            _ => None,
        }
    }
}

/// What other tasks may see of a connection.
pub struct ClientShared {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created_ms: i64,
    pub unix: bool,
    pub name: Mutex<Option<Vec<u8>>>,
    pub db: AtomicU32,
    pub last_interaction_ms: AtomicI64,
    /// Id of the last command run (for CLIENT LIST's `cmd=`).
    pub last_cmd: AtomicUsize,
    pub resp: AtomicU8,
    pub kind: AtomicU8,
    pub monitor: AtomicBool,
    pub no_evict: AtomicBool,
    /// Bytes waiting in the connection's input and output buffers.
    pub qbuf: AtomicUsize,
    pub obuf: AtomicUsize,
    pub multi: AtomicI64,
    /// Whether a blocking command (BLPOP, ...) is waiting (`blocked.rs`).
    pub block: crate::blocked::BlockState,
    /// Bytes held by the MULTI queue (CLIENT LIST's `multi-mem`).
    pub multi_mem: AtomicUsize,
    /// Subscription counts and the pubsub output limit's clock (`pubsub.rs`).
    pub pubsub: crate::pubsub::SharedCounts,
    killed: AtomicBool,
    /// Bytes pushed by others (MONITOR), sent by the connection's task.
    outbox: Mutex<Vec<u8>>,
    /// Wakes the connection's task: it was killed or has mail.
    pub wake: Notify,
}

impl ClientShared {
    pub fn new(id: u64, addr: String, laddr: String, fd: i32, unix: bool, now_ms: i64) -> ClientShared {
        ClientShared {
            id,
            addr,
            laddr,
            fd,
            created_ms: now_ms,
            unix,
            name: Mutex::new(None),
            db: AtomicU32::new(0),
            last_interaction_ms: AtomicI64::new(now_ms),
            last_cmd: AtomicUsize::new(usize::MAX),
            resp: AtomicU8::new(2),
            kind: AtomicU8::new(ClientType::Normal as u8),
            monitor: AtomicBool::new(false),
            no_evict: AtomicBool::new(false),
            qbuf: AtomicUsize::new(0),
            obuf: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            block: Default::default(),
            multi_mem: AtomicUsize::new(0),
            pubsub: Default::default(),
            killed: AtomicBool::new(false),
            outbox: Mutex::new(Vec::new()),
            wake: Notify::new(),
        }
    }

    pub fn kind(&self) -> ClientType {
        match self.kind.load(Relaxed) {
            1 => ClientType::Replica,
            2 => ClientType::PubSub,
            3 => ClientType::Master,
            _ => ClientType::Normal,
        }
    }

    /// Asks the connection to close (CLIENT KILL, timeouts, limits).
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.wake.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Relaxed)
    }

    /// Queues `bytes` without a limit and runs `then` before the lock is released (so
    /// a flag set by `then` is never seen without the bytes), then wakes the task.
    pub fn push_then(&self, bytes: &[u8], then: impl FnOnce()) {
        let mut out = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        out.extend_from_slice(bytes);
        then();
        drop(out);
        self.wake.notify_one();
    }

    /// Queues bytes for the connection to send; returns false if the mailbox is over
    /// `limit` bytes (the caller then kills the client, as an output-buffer limit would).
    pub fn push(&self, bytes: &[u8], limit: usize) -> bool {
        let mut out = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        if limit > 0 && out.len() + bytes.len() > limit {
            return false;
        }
        out.extend_from_slice(bytes);
        drop(out);
        self.wake.notify_one();
        true
    }

    /// Bytes pushed but not yet sent: the mailbox and what the socket has not taken.
    pub fn pending_bytes(&self) -> usize {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner()).len() + self.obuf.load(Relaxed)
    }

    /// Takes the queued bytes.
    pub fn take_mail(&self) -> Vec<u8> {
        std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn name(&self) -> Option<Vec<u8>> {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// CLIENT LIST's `flags=` letters.
    fn flags(&self) -> String {
        let mut f = String::new();
        match self.kind() {
            ClientType::Replica => f.push('S'),
            ClientType::Master => f.push('M'),
            ClientType::PubSub => f.push('P'),
            ClientType::Normal => {}
        }
        if self.monitor.load(Relaxed) {
            f.push('O');
        }
        if self.multi.load(Relaxed) >= 0 {
            f.push('x');
        }
        if self.block.is_blocked() {
            f.push('b');
        }
        if self.no_evict.load(Relaxed) {
            f.push('e');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// One CLIENT LIST line (without the newline), in Redis 7.0's field order.
    pub fn describe(&self, now_ms: i64, cmd_name: &str) -> String {
        let name = self.name().map(|n| String::from_utf8_lossy(&n).into_owned()).unwrap_or_default();
        let (qbuf, obuf) = (self.qbuf.load(Relaxed), self.obuf.load(Relaxed));
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem={} rbs={} rbp=0 obl={} oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            (now_ms - self.created_ms).max(0) / 1000,
            (now_ms - self.last_interaction_ms.load(Relaxed)).max(0) / 1000,
            self.flags(),
            self.db.load(Relaxed),
            self.pubsub.get(crate::pubsub::Kind::Channel),
            self.pubsub.get(crate::pubsub::Kind::Pattern),
            self.pubsub.get(crate::pubsub::Kind::Shard),
            self.multi.load(Relaxed),
            qbuf,
            0,
            self.multi_mem.load(Relaxed),
            qbuf,
            obuf,
            obuf,
            std::mem::size_of::<Self>() + qbuf + obuf,
            cmd_name,
            self.resp.load(Relaxed),
        )
    }
}

/// How the client wants replies (CLIENT REPLY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Skipping the current command's reply.
    Skipping,
}

/// A connection's own state, owned by its task.
#[derive(Debug)]
pub struct ClientState {
    pub db: usize,
    pub proto: Protocol,
    pub authenticated: bool,
    pub reply: ReplyMode,
    /// Close once the pending replies are written (QUIT, protocol errors).
    pub close_after_reply: bool,
    /// MULTI queue and WATCHed keys (`multi.rs`, `watch.rs`).
    pub tx: crate::multi::Transaction,
    /// Pub/Sub subscriptions (`pubsub.rs`).
    pub subs: crate::pubsub::Subscriptions,
    /// With `appendfsync always`: the journal offset this client's last write ends at,
    /// until its batch's replies are held for the fsync (`conn.rs`).
    pub aof_sync: Option<u64>,
    /// What a replica told us with REPLCONF before PSYNC (`replication::master`).
    pub replconf: crate::replication::master::Hello,
    /// Set by PSYNC/SYNC: the connection is handed to replication once this command's
    /// turn ends (`conn.rs`).
    pub handoff: Option<crate::replication::master::SyncRequest>,
    /// A WAIT in progress: the offset, the replicas wanted, the deadline.
    pub wait: Option<crate::replication::wait::Pending>,
}

impl ClientState {
    pub fn new(authenticated: bool) -> ClientState {
        ClientState {
            db: 0,
            proto: Protocol::Resp2,
            authenticated,
            reply: ReplyMode::On,
            close_after_reply: false,
            tx: Default::default(),
            subs: Default::default(),
            aof_sync: None,
            replconf: Default::default(),
            handoff: None,
            wait: None,
        }
    }
}

/// Every connected client, by id.
#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientShared>>>,
    next_id: AtomicU64,
    /// Number of clients in MONITOR mode (checked on every command, without the lock).
    pub monitors: AtomicUsize,
}

impl Clients {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Relaxed) + 1
    }

    pub fn add(&self, c: Arc<ClientShared>) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).insert(c.id, c);
    }

    pub fn remove(&self, id: u64) {
        if let Some(c) = self.map.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
            if c.monitor.load(Relaxed) {
                self.monitors.fetch_sub(1, Relaxed);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the clients, in id order.
    pub fn all(&self) -> Vec<Arc<ClientShared>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientShared>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).get(&id).cloned()
    }
}
