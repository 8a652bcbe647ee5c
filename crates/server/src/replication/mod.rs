//! Replication in the server: the master's links to its replicas, the replica's link
//! to its master, and the commands around them. The protocol's decisions and framing
//! are `redoubt-repl`'s; the stream itself is the engine's journal (a master's own
//! writes; a replica mirrors its master's bytes so every offset in a chain is the
//! same). This module owns the sockets, tasks and timers.
//!
//! - [`master`]: serving a replica: PSYNC/SYNC take the connection over, the
//!   handshake reply, the snapshot of a full sync, the stream, ACKs, output limits
//! - [`replica`]: the link to our master: connect, handshake, PSYNC, apply the stream,
//!   ACK, reconnect with backoff
//! - [`load`]: receiving a master's snapshot and loading it without ever serving a
//!   half-loaded dataset (a fresh keyspace swapped in, or the old data kept)
//! - [`commands`]: REPLICAOF/SLAVEOF, ROLE, WAIT, REPLCONF, PSYNC/SYNC
//! - [`wait`]: clients waiting in WAIT
//! - [`failover`]: FAILOVER's run
//! - [`gate`]: what a replica or a master short of replicas refuses (READONLY,
//!   MASTERDOWN, NOREPLICAS)
//! - [`restore`]: the replication id and offset back from the RDB or AOF at start-up
//! - [`info`]: INFO replication and ROLE
//!
//! Roles: a master records its stream once a replica has asked for it (Redis creates
//! its backlog then); a replica always records (its replicas and its own restarts
//! need it). Turning a master into a replica keeps its history as a "cached master"
//! (Redis's term), so it can continue partially from its new master; turning a replica
//! into a master starts a new id and keeps the old one as the secondary (PSYNC2).

pub mod commands;
pub mod failover;
pub mod gate;
pub mod info;
pub mod load;
pub mod master;
pub mod replica;
pub mod restore;
pub mod wait;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use redoubt_engine::blocking::Release;
use redoubt_repl::backlog::{self, BacklogSettings};
use redoubt_repl::ids::ReplIds;
use redoubt_repl::link::LinkState;
use tokio::sync::Notify;

use crate::client::ClientShared;
use crate::server::{random_hex, Server};
use crate::{notice, warning};

/// Values the command path reads, kept as atomics (`apply.rs` updates them).
#[derive(Default)]
pub struct ReplKnobs {
    pub read_only: AtomicBool,
    pub serve_stale_data: AtomicBool,
    pub min_replicas_to_write: AtomicUsize,
    pub min_replicas_max_lag_s: AtomicI64,
}

/// The master link as INFO reports it (replica side).
#[derive(Default)]
pub struct LinkStats {
    /// Unix ms of the last byte from the master.
    pub last_io_ms: AtomicI64,
    /// Unix s since the link is down (0: it is up, or never was).
    pub down_since_s: AtomicI64,
    /// Bytes received from the master: `slave_read_repl_offset`.
    pub read_offset: AtomicU64,
    /// Snapshot transfer: total size (-1: EOF-marked), bytes read so far.
    pub transfer_size: AtomicI64,
    pub transfer_read: AtomicU64,
}

/// A replica as its master sees it (one per connection that sent PSYNC/SYNC).
pub struct ReplicaLink {
    pub client: Arc<ClientShared>,
    /// The announced address (REPLCONF ip-address) or the peer's.
    pub ip: String,
    pub listening_port: i64,
    pub psync2: bool,
    state: AtomicU8,
    /// The offset the replica acknowledged (`REPLCONF ACK`).
    pub ack_offset: AtomicU64,
    /// Unix ms of its last ACK.
    pub ack_time_ms: AtomicI64,
    /// Wakes its task: an ACK arrived, or it must stop.
    pub wake: Notify,
}

impl ReplicaLink {
    pub fn state(&self) -> redoubt_repl::link::ReplicaState {
        redoubt_repl::link::ReplicaState::from_u8(self.state.load(Relaxed))
    }

    pub fn set_state(&self, s: redoubt_repl::link::ReplicaState) {
        self.state.store(s as u8, Relaxed);
    }

    pub fn is_online(&self) -> bool {
        self.state() == redoubt_repl::link::ReplicaState::Online
    }

    /// Seconds since its last ACK.
    pub fn lag_s(&self, now_ms: i64) -> i64 {
        (now_ms - self.ack_time_ms.load(Relaxed)).max(0) / 1000
    }
}

/// Replication state shared by the whole server.
pub struct Replication {
    ids: Mutex<ReplIds>,
    /// Our master's address, when we are a replica.
    master: Mutex<Option<(String, u16)>>,
    /// Whether `master` is set, for the command path (no lock per command).
    replica: AtomicBool,
    link_state: AtomicU8,
    /// Bumped whenever the master changes: a link task whose generation is stale stops.
    generation: AtomicU64,
    /// Wakes the link task (REPLICAOF, CLIENT KILL TYPE MASTER, shutdown).
    pub link_wake: Notify,
    /// The replica may ask its master to continue from its own id and offset (Redis's
    /// cached master): false only when its data is not a prefix of any stream.
    can_psync: AtomicBool,
    pub link: LinkStats,
    /// The master link's client entry (CLIENT LIST, CLIENT KILL TYPE MASTER).
    master_client: Mutex<Option<Arc<ClientShared>>>,
    replicas: Mutex<Vec<Arc<ReplicaLink>>>,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// The stream is recorded for replicas (Redis's `repl_backlog != NULL`).
    backlog_active: AtomicBool,
    /// Unix s since the last replica left (for `repl-backlog-ttl`).
    no_replicas_since_s: AtomicI64,
    /// Unix ms when an online replica last lost its link: for a while after, the
    /// backlog also keeps young bytes, so the replica can come back partially.
    replica_lost_ms: AtomicI64,
    pub knobs: ReplKnobs,
    /// Online replicas within `min-replicas-max-lag` (refreshed by the cron).
    pub good_replicas: AtomicUsize,
    pub failover: failover::Failover,
    /// Offset at which a GETACK was last put in the stream (not repeated while
    /// nothing else was written).
    last_getack_end: AtomicU64,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            ids: Mutex::new(ReplIds::new(random_hex(redoubt_repl::ids::ID_LEN))),
            master: Mutex::new(None),
            replica: AtomicBool::new(false),
            link_state: AtomicU8::new(LinkState::None as u8),
            generation: AtomicU64::new(0),
            link_wake: Notify::new(),
            can_psync: AtomicBool::new(false),
            link: LinkStats::default(),
            master_client: Mutex::new(None),
            replicas: Mutex::new(Vec::new()),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            backlog_active: AtomicBool::new(false),
            no_replicas_since_s: AtomicI64::new(redoubt_engine::clock::now_ms() / 1000),
            replica_lost_ms: AtomicI64::new(i64::MIN / 2),
            knobs: ReplKnobs::default(),
            good_replicas: AtomicUsize::new(0),
            failover: Default::default(),
            last_getack_end: AtomicU64::new(u64::MAX),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Replication {
    /// The replication id (`master_replid`): also what snapshots record.
    pub fn id(&self) -> String {
        lock(&self.ids).id.clone()
    }

    pub fn ids(&self) -> ReplIds {
        lock(&self.ids).clone()
    }

    /// Our master, when we are a replica.
    pub fn master(&self) -> Option<(String, u16)> {
        lock(&self.master).clone()
    }

    /// Sets or clears our master's address; returns the one it replaces.
    fn set_master_address(&self, master: Option<(String, u16)>) -> Option<(String, u16)> {
        let mut m = lock(&self.master);
        self.replica.store(master.is_some(), Relaxed);
        std::mem::replace(&mut *m, master)
    }

    pub fn is_replica(&self) -> bool {
        self.replica.load(Relaxed)
    }

    pub fn link_state(&self) -> LinkState {
        LinkState::from_u8(self.link_state.load(Relaxed))
    }

    pub fn set_link_state(&self, s: LinkState) {
        let was = self.link_state.swap(s as u8, Relaxed);
        let now_s = redoubt_engine::clock::now_ms() / 1000;
        if s == LinkState::Connected {
            self.link.down_since_s.store(0, Relaxed);
        } else if was == LinkState::Connected as u8 {
            self.link.down_since_s.store(now_s, Relaxed);
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// The connected replicas.
    pub fn replicas(&self) -> Vec<Arc<ReplicaLink>> {
        lock(&self.replicas).clone()
    }

    pub fn replica_count(&self) -> usize {
        lock(&self.replicas).len()
    }

    fn add_replica(&self, r: Arc<ReplicaLink>) {
        lock(&self.replicas).push(r);
    }

    fn remove_replica(&self, r: &Arc<ReplicaLink>) {
        if r.is_online() {
            self.replica_lost_ms.store(redoubt_engine::clock::now_ms(), Relaxed);
        }
        let mut all = lock(&self.replicas);
        all.retain(|x| !Arc::ptr_eq(x, r));
        if all.is_empty() {
            self.no_replicas_since_s.store(redoubt_engine::clock::now_ms() / 1000, Relaxed);
        }
    }

    /// The replicas that acknowledged `offset`, among those online.
    pub fn acked(&self, offset: u64) -> i64 {
        lock(&self.replicas).iter().filter(|r| r.is_online() && r.ack_offset.load(Relaxed) >= offset).count() as i64
    }

    pub fn master_client(&self) -> Option<Arc<ClientShared>> {
        lock(&self.master_client).clone()
    }

    /// CONFIG RESETSTAT: the sync counters start again from zero.
    pub fn reset_stats(&self) {
        for c in [&self.sync_full, &self.sync_partial_ok, &self.sync_partial_err] {
            c.store(0, Relaxed);
        }
    }

    fn set_master_client(&self, c: Arc<ClientShared>) {
        *lock(&self.master_client) = Some(c);
    }

    fn take_master_client(&self) -> Option<Arc<ClientShared>> {
        lock(&self.master_client).take()
    }
}

/// The master of the `replicaof` directive, if one is configured.
fn configured_master(server: &Server) -> Option<(String, u16)> {
    let configured = server.config.get("replicaof");
    let mut words = configured.split_whitespace();
    match (words.next(), words.next().and_then(|p| p.parse::<u16>().ok())) {
        (Some(host), Some(port)) => Some((host.to_string(), port)),
        _ => None,
    }
}

/// At start-up, before the data is loaded: a configured replica is one already (INFO
/// and ROLE say so while it loads, as Redis's do); its link starts in [`start`].
pub fn configure(server: &Server) {
    if let Some(master) = configured_master(server) {
        server.replication.set_master_address(Some(master));
        server.replication.set_link_state(LinkState::Connect);
        crate::log::set_role(b'S');
    }
}

/// At start-up, once the data is loaded: the replication id and offset from the RDB
/// or AOF, and the link to the master of the `replicaof` directive.
pub fn start(server: &Arc<Server>) {
    let master = configured_master(server);
    let restored = restore::from_loaded_data(server, master.is_some());
    if let Some((host, port)) = master {
        // Only a restored point lets a restarted replica ask to continue.
        follow_master(server, host, port, Some(restored));
    }
}

/// Installs the stream's id in the journal (its markers name it) and the replication
/// knobs; called once at start-up, before anything is recorded.
pub fn install(server: &Server) {
    server.engine.journal.set_id(&server.replication.id());
}

/// Records the stream for replicas from now on (Redis's `createReplicationBacklog`),
/// with the backlog limits of the current configuration.
pub fn ensure_backlog(server: &Server) {
    apply_backlog_limits(server);
    let r = &server.replication;
    if !r.backlog_active.swap(true, Relaxed) {
        server.engine.journal.set_enabled(true);
    }
}

/// The journal's backlog limits from `repl-backlog-size`, `repl-timeout` and the
/// replica output buffer limit. Young bytes are kept beyond `repl-backlog-size` only
/// while a replica that lost its link may still come back (the time window after the
/// loss), so the backlog costs no more memory than Redis's the rest of the time.
pub fn apply_backlog_limits(server: &Server) {
    let settings = BacklogSettings {
        size_bytes: server.config.get_i64("repl-backlog-size").max(0) as u64,
        timeout_s: server.config.get_i64("repl-timeout").max(1) as u64,
        replica_hard_limit_bytes: server.knobs.output_limits[1][0].load(Relaxed),
    };
    let mut limits = backlog::limits(&settings);
    let since_loss = redoubt_engine::clock::now_ms() - server.replication.replica_lost_ms.load(Relaxed);
    if since_loss > limits.window_ms {
        limits.window_ms = 0;
        limits.max_bytes = limits.min_bytes;
    }
    server.engine.journal.set_backlog_limits(limits);
}

/// Replaces the replication id (and with `keep_old`, keeps the current one as the
/// secondary, valid up to the current offset).
fn set_new_id(server: &Server, keep_old: bool) -> ReplIds {
    let new_id = random_hex(redoubt_repl::ids::ID_LEN);
    let offset = server.engine.journal.offset();
    let ids = {
        let mut ids = lock(&server.replication.ids);
        if keep_old {
            ids.shift(new_id, offset);
        } else {
            ids.id = new_id;
            ids.clear_second();
        }
        ids.clone()
    };
    server.engine.journal.set_id(&ids.id);
    ids
}

/// Adopts the ids a master told us (after a full sync: its id, no secondary).
fn adopt_master_id(server: &Server, id: &str) {
    {
        let mut ids = lock(&server.replication.ids);
        *ids = ReplIds::new(id.to_string());
    }
    server.engine.journal.set_id(id);
}

/// The master continued us under a new id (it was promoted): the old one becomes our
/// secondary, as Redis's replica does on `+CONTINUE <new id>`.
fn follow_new_master_id(server: &Server, id: &str) {
    let offset = server.engine.journal.offset();
    let changed = {
        let mut ids = lock(&server.replication.ids);
        if ids.id.eq_ignore_ascii_case(id) {
            false
        } else {
            ids.shift(id.to_string(), offset);
            true
        }
    };
    if changed {
        warning!("Master replication ID changed to {id}");
        server.engine.journal.set_id(id);
        // Our replicas must learn the new id: they reconnect and continue.
        disconnect_replicas(server);
    }
}

/// REPLICAOF host port (and `replicaof` in the config): follow a new master.
pub fn set_master(server: &Arc<Server>, host: String, port: u16) {
    let was_master = !server.replication.is_replica();
    follow_master(server, host, port, was_master.then_some(true));
}

/// Follows a new master; `cached`: whether our own data and offset may be offered to
/// it for a partial resync (None: keep what we had).
fn follow_master(server: &Arc<Server>, host: String, port: u16, cached: Option<bool>) {
    let r = &server.replication;
    r.set_master_address(Some((host.clone(), port)));
    r.generation.fetch_add(1, Relaxed);
    r.link_wake.notify_waiters();
    if let Some(c) = r.master_client() {
        c.kill();
    }
    // Clients blocked on keys would wait for writes that now only the master makes.
    let released = server.engine.blocking.release_all(&server.engine.knobs, Release::Demoted);
    for id in released {
        if let Some(c) = server.clients.get(id) {
            c.kill();
        }
    }
    server.engine.knobs.is_replica.store(true, Relaxed);
    crate::log::set_role(b'S');
    if cached == Some(true) {
        // Our own history is where we start from: if the new master shares it, a
        // partial resync suffices (Redis's `replicationCacheMasterUsingMyself`).
        notice!("Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.");
    }
    if let Some(c) = cached {
        r.can_psync.store(c, Relaxed);
    }
    // The stream now comes from the master: record it as it arrives, byte for byte.
    ensure_backlog(server);
    server.engine.journal.set_mirror(true);
    r.set_link_state(LinkState::Connect);
    r.link.down_since_s.store(redoubt_engine::clock::now_ms() / 1000, Relaxed);
    notice!("Connecting to MASTER {host}:{port}");
    let s = server.clone();
    let generation = r.generation();
    tokio::spawn(async move { replica::run(s, generation).await });
}

/// REPLICAOF NO ONE: become a master. A new id starts; the old one stays valid as the
/// secondary up to here, so our replicas (and the old master, if pointed at us)
/// continue partially.
pub fn unset_master(server: &Arc<Server>) {
    let r = &server.replication;
    if r.set_master_address(None).is_none() {
        return;
    }
    r.generation.fetch_add(1, Relaxed);
    r.link_wake.notify_waiters();
    if let Some(c) = r.master_client() {
        c.kill();
    }
    server.engine.journal.set_mirror(false);
    server.engine.knobs.is_replica.store(false, Relaxed);
    crate::log::set_role(b'M');
    let ids = set_new_id(server, true);
    warning!(
        "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
        ids.id2,
        ids.second_offset,
        ids.id
    );
    r.can_psync.store(false, Relaxed);
    r.set_link_state(LinkState::None);
    r.link.down_since_s.store(0, Relaxed);
    // Our replicas reconnect and learn the new id (Redis disconnects them too).
    disconnect_replicas(server);
    r.no_replicas_since_s.store(redoubt_engine::clock::now_ms() / 1000, Relaxed);
    // An AOF stopped for a full sync that never finished comes back now.
    if server.config.get_bool("appendonly") && !server.persistence.aof.enabled.load(Relaxed) {
        let _ = crate::persistence::aof::set_enabled(server, true);
    }
}

/// Closes every replica's link (they reconnect).
pub fn disconnect_replicas(server: &Server) {
    for r in server.replication.replicas() {
        r.client.kill();
        r.wake.notify_one();
    }
    server.engine.journal.wake_all();
}

/// Puts commands that select no database in the stream (a master's PING and GETACK).
fn feed_raw(server: &Server, bytes: &[u8]) {
    if server.engine.journal.is_mirror() || !server.replication.backlog_active.load(Relaxed) {
        return;
    }
    server.engine.journal.append_raw(bytes, None);
}

/// Asks the replicas to acknowledge (WAIT): `REPLCONF GETACK *` in the stream, unless
/// one is already the last thing in it.
pub fn request_acks(server: &Server) {
    if server.replication.failover.holds_stream() {
        // The failover's target must be able to acknowledge the exact end.
        return;
    }
    let end = server.engine.journal.offset();
    if server.replication.last_getack_end.load(Relaxed) == end {
        return;
    }
    feed_raw(server, &redoubt_repl::protocol::getack_command());
    server.replication.last_getack_end.store(server.engine.journal.offset(), Relaxed);
}

/// Counts online replicas within `min-replicas-max-lag` (Redis's
/// `refreshGoodSlavesCount`): once a second, and whenever a replica comes online or
/// goes, so `min-replicas-to-write` follows at once.
pub fn refresh_good_replicas(server: &Server) {
    let r = &server.replication;
    let max_lag = r.knobs.min_replicas_max_lag_s.load(Relaxed);
    let now = redoubt_engine::clock::now_ms();
    let good = r.replicas().iter().filter(|x| x.is_online() && x.lag_s(now) <= max_lag).count();
    r.good_replicas.store(good, Relaxed);
}

/// Periodic work (Redis's `replicationCron`), once a second: PINGs to replicas, the
/// backlog's time limit, good-replica counts.
pub fn cron(server: &Arc<Server>, ticks: u64) {
    let r = &server.replication;
    refresh_good_replicas(server);
    let period = server.config.get_i64("repl-ping-replica-period").max(1) as u64;
    if ticks.is_multiple_of(period) && r.replica_count() > 0 && !r.failover.holds_stream() {
        feed_raw(server, &redoubt_repl::protocol::command(&[b"PING"]));
    }
    // The time window opens and closes with replica losses (and trims as it does).
    apply_backlog_limits(server);
    let ttl = server.config.get_i64("repl-backlog-ttl");
    let now_s = redoubt_engine::clock::now_ms() / 1000;
    if ttl > 0
        && !r.is_replica()
        && r.replica_count() == 0
        && r.backlog_active.load(Relaxed)
        && now_s - r.no_replicas_since_s.load(Relaxed) > ttl
    {
        // Nothing is recorded from now on, so our id cannot name this history any more.
        set_new_id(server, false);
        r.backlog_active.store(false, Relaxed);
        server.engine.journal.set_enabled(false);
        server.engine.journal.clear_backlog();
        notice!("Replication backlog freed after {ttl} seconds without connected replicas.");
    }
}

/// Before a shutdown (Redis 7.0's `shutdown-timeout`): writes are paused and the
/// replicas get up to the timeout to acknowledge everything, so that none is left
/// behind and all can continue partially once we are back. Skipped with NOW.
pub fn wait_for_replicas(server: &Server, now: bool) {
    let r = &server.replication;
    let timeout_s = server.config.get_i64("shutdown-timeout");
    if now || timeout_s <= 0 || r.is_replica() || r.replica_count() == 0 {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout_s as u64);
    server.pause.start(crate::pause::PauseMode::Write, deadline);
    let end = server.engine.journal.offset();
    notice!("Waiting for replicas before shutting down.");
    while std::time::Instant::now() < deadline {
        let behind = r.replicas().iter().filter(|l| l.ack_offset.load(Relaxed) < end).count();
        if behind == 0 {
            notice!("All replicas are in sync: ready to shut down.");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    warning!("Lagging replica(s) did not acknowledge everything before the shutdown timeout.");
}
