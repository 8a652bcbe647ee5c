//! Pub/Sub: who is subscribed to what, and the delivery of messages (Redis's
//! `pubsub.c`). The commands are in `cmd/pubsub.rs`; keyspace notifications
//! (`notify.rs`) publish through [`publish`] too.
//!
//! Three kinds of subscription, as in Redis 7.0: channels (SUBSCRIBE), glob patterns
//! over channels (PSUBSCRIBE) and shard channels (SSUBSCRIBE, matched only by
//! SPUBLISH). The server-wide [`PubSub`] maps each name to its subscribers; each
//! connection keeps its own names in [`Subscriptions`] (for the counts in replies,
//! UNSUBSCRIBE without arguments and clean-up) and shows the counts to CLIENT LIST
//! through [`SharedCounts`].
//!
//! Delivery: a message is encoded once per protocol (a RESP2 array or a RESP3 push)
//! and put in each subscriber's mailbox (`ClientShared::push`); its connection task
//! sends it. A message for the publishing client itself goes straight into its reply
//! stream, ahead of the command's own reply, which is where Redis puts it.
//!
//! Bounds: a subscriber's unsent messages (mailbox plus what its socket has not taken)
//! are held to `client-output-buffer-limit pubsub`: past the hard limit it is
//! disconnected at once, past the soft limit once it has stayed there for the soft
//! seconds. With the hard limit configured off (0), [`BACKLOG_BYTES_MAX`] still
//! applies, so a subscriber that stops reading never grows the server without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use redoubt_engine::glob::glob_match;
use redoubt_engine::stats::{self, Stat};
use redoubt_resp::{Protocol, ReplyBuf};

use crate::client::{ClientShared, ClientState, ClientType};
use crate::server::Server;

/// A subscriber's unsent messages may never exceed this, whatever the configured
/// limits (Redis would let `client-output-buffer-limit pubsub 0 0 0` grow forever).
pub const BACKLOG_BYTES_MAX: usize = 1024 * 1024 * 1024;

/// The output-buffer class of subscribers in `ServerKnobs::output_limits`.
const PUBSUB_CLASS: usize = 2;

/* ---- KINDS ---- */

/// Redis's `pubsubtype`: what a subscription is to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel = 0,
    Pattern = 1,
    Shard = 2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Channel, Kind::Pattern, Kind::Shard];

    fn subscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/* ---- THE REGISTRY ---- */

/// The subscribers of one name, by client id.
type Subscribers = HashMap<u64, Arc<ClientShared>>;

#[derive(Default)]
struct Registry {
    /// Indexed by `Kind`: channels, patterns, shard channels.
    maps: [HashMap<Vec<u8>, Subscribers>; 3],
}

/// Every subscription of the server.
///
/// One reader-writer lock: PUBLISH only reads (and delivers under the read lock, so a
/// subscriber cannot be half removed meanwhile); only (un)subscribing writes.
#[derive(Default)]
pub struct PubSub {
    registry: RwLock<Registry>,
}

impl PubSub {
    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// How many names of `kind` have subscribers (INFO's `pubsub_channels`,
    /// `pubsub_patterns`, `pubsubshard_channels`; PUBSUB NUMPAT).
    pub fn count(&self, kind: Kind) -> usize {
        self.read().maps[kind as usize].len()
    }

    /// The names of `kind` with subscribers, those matching `pattern` if given
    /// (PUBSUB CHANNELS / SHARDCHANNELS).
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let reg = self.read();
        reg.maps[kind as usize].keys().filter(|n| pattern.is_none_or(|p| glob_match(p, n, false))).cloned().collect()
    }

    /// Subscribers of one name (PUBSUB NUMSUB / SHARDNUMSUB).
    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        self.read().maps[kind as usize].get(name).map_or(0, |s| s.len())
    }

    fn add(&self, kind: Kind, name: &[u8], client: &Arc<ClientShared>) {
        self.write().maps[kind as usize].entry(name.to_vec()).or_default().insert(client.id, client.clone());
    }

    fn remove(&self, kind: Kind, name: &[u8], client_id: u64) {
        let mut reg = self.write();
        let map = &mut reg.maps[kind as usize];
        if let Some(subs) = map.get_mut(name) {
            subs.remove(&client_id);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }
}

/* ---- ONE CLIENT'S SUBSCRIPTIONS ---- */

/// Names in the order they were subscribed (UNSUBSCRIBE without arguments answers in
/// that order; Redis answers in its hash table's order, which no client can rely on).
#[derive(Default, Debug)]
struct Names {
    seq: HashMap<Vec<u8>, u64>,
    next: u64,
}

impl Names {
    fn in_order(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<(&Vec<u8>, &u64)> = self.seq.iter().collect();
        v.sort_unstable_by_key(|(_, s)| **s);
        v.into_iter().map(|(n, _)| n.clone()).collect()
    }
}

/// What one connection is subscribed to (kept in its `ClientState`).
#[derive(Default, Debug)]
pub struct Subscriptions {
    names: [Names; 3],
}

impl Subscriptions {
    pub fn count(&self, kind: Kind) -> usize {
        self.names[kind as usize].seq.len()
    }

    /// Redis's `clientSubscriptionsCount` (channels and patterns; the count shown in
    /// (P)SUBSCRIBE replies) or, for shard channels, `clientShardSubscriptionsCount`.
    fn reply_count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Channel | Kind::Pattern => self.count(Kind::Channel) + self.count(Kind::Pattern),
            Kind::Shard => self.count(Kind::Shard),
        }
    }

    /// True while subscribed to anything (Redis's `CLIENT_PUBSUB` flag).
    pub fn active(&self) -> bool {
        Kind::ALL.iter().any(|&k| self.count(k) > 0)
    }
}

/// The subscription counts other tasks read (CLIENT LIST's `sub`, `psub`, `ssub`),
/// and the soft output limit's clock.
#[derive(Default, Debug)]
pub struct SharedCounts {
    counts: [AtomicUsize; 3],
    /// When the unsent output first passed the soft limit (0: it is under it).
    soft_since_ms: AtomicI64,
}

impl SharedCounts {
    pub fn get(&self, kind: Kind) -> usize {
        self.counts[kind as usize].load(Relaxed)
    }
}

/// Updates what others see of `state`'s subscriptions: the counts, and the client
/// type (pubsub while subscribed to anything, for CLIENT LIST/KILL and the output
/// limits).
fn publish_counts(state: &ClientState, client: &ClientShared) {
    for k in Kind::ALL {
        client.pubsub.counts[k as usize].store(state.subs.count(k), Relaxed);
    }
    let kind = client.kind();
    if state.subs.active() && kind == ClientType::Normal {
        client.kind.store(ClientType::PubSub as u8, Relaxed);
    } else if !state.subs.active() && kind == ClientType::PubSub {
        client.kind.store(ClientType::Normal as u8, Relaxed);
        client.pubsub.soft_since_ms.store(0, Relaxed);
    }
}

/* ---- SUBSCRIBING ---- */

/// Writes a (un)subscribe confirmation: `[word, name or null, count]`.
fn confirm(out: &mut ReplyBuf, word: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(word);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

/// Subscribes the connection to `name` (if it is not already) and confirms.
pub fn subscribe(
    server: &Server,
    state: &mut ClientState,
    client: &Arc<ClientShared>,
    kind: Kind,
    name: &[u8],
    out: &mut ReplyBuf,
) {
    let names = &mut state.subs.names[kind as usize];
    if !names.seq.contains_key(name) {
        let seq = names.next;
        names.next += 1;
        names.seq.insert(name.to_vec(), seq);
        server.pubsub.add(kind, name, client);
        publish_counts(state, client);
    }
    confirm(out, kind.subscribe_word(), Some(name), state.subs.reply_count(kind));
}

/// Unsubscribes the connection from `name`; confirms (even when it was not
/// subscribed, as Redis does) unless `out` is None.
pub fn unsubscribe(
    server: &Server,
    state: &mut ClientState,
    client: &ClientShared,
    kind: Kind,
    name: &[u8],
    out: Option<&mut ReplyBuf>,
) {
    if state.subs.names[kind as usize].seq.remove(name).is_some() {
        server.pubsub.remove(kind, name, client.id);
        publish_counts(state, client);
    }
    if let Some(out) = out {
        confirm(out, kind.unsubscribe_word(), Some(name), state.subs.reply_count(kind));
    }
}

/// Unsubscribes from every name of `kind`, confirming each (or, subscribed to none,
/// once with a null name) unless `out` is None.
pub fn unsubscribe_all(
    server: &Server,
    state: &mut ClientState,
    client: &ClientShared,
    kind: Kind,
    mut out: Option<&mut ReplyBuf>,
) {
    let names = state.subs.names[kind as usize].in_order();
    if names.is_empty() {
        if let Some(out) = out {
            confirm(out, kind.unsubscribe_word(), None, state.subs.reply_count(kind));
        }
        return;
    }
    for name in names {
        unsubscribe(server, state, client, kind, &name, out.as_deref_mut());
    }
}

/// Drops every subscription without replies (RESET, disconnection).
pub fn reset(server: &Server, state: &mut ClientState, client: &ClientShared) {
    for kind in Kind::ALL {
        unsubscribe_all(server, state, client, kind, None);
    }
}

/* ---- PUBLISHING ---- */

/// The client that is running the command being published from, with its reply
/// stream: a message to itself goes in there at `at` (then `at` moves past it), ahead
/// of the command's own reply.
pub struct Origin<'a> {
    pub client_id: u64,
    pub out: &'a mut ReplyBuf,
    pub at: usize,
}

/// One message, encoded on demand in each protocol.
struct Frame<'m> {
    parts: [&'m [u8]; 4],
    len: usize,
    encoded: [Option<Vec<u8>>; 2],
}

impl<'m> Frame<'m> {
    fn new(parts: &[&'m [u8]]) -> Frame<'m> {
        let mut all: [&[u8]; 4] = [b""; 4];
        all[..parts.len()].copy_from_slice(parts);
        Frame { parts: all, len: parts.len(), encoded: [None, None] }
    }

    fn bytes(&mut self, proto: Protocol) -> &[u8] {
        let (parts, len) = (self.parts, self.len);
        self.encoded[proto as usize].get_or_insert_with(|| {
            let mut out = ReplyBuf::new(proto);
            out.push(len);
            for p in &parts[..len] {
                out.bulk(p);
            }
            out.buf
        })
    }
}

fn proto_of(client: &ClientShared) -> Protocol {
    if client.resp.load(Relaxed) == 3 {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    }
}

/// Delivers `frame` to `client`, or to the origin's reply stream if it is the origin.
fn deliver(server: &Server, client: &ClientShared, frame: &mut Frame, origin: &mut Option<&mut Origin>) {
    if let Some(o) = origin.as_deref_mut().filter(|o| o.client_id == client.id) {
        let bytes = frame.bytes(o.out.proto);
        o.out.buf.splice(o.at..o.at, bytes.iter().copied());
        o.at += bytes.len();
        return;
    }
    if client.is_killed() {
        return;
    }
    let bytes = frame.bytes(proto_of(client));
    let limits = &server.knobs.output_limits[PUBSUB_CLASS];
    let hard = match limits[0].load(Relaxed) as usize {
        0 => BACKLOG_BYTES_MAX,
        h => h.min(BACKLOG_BYTES_MAX),
    };
    let room = hard.saturating_sub(client.obuf.load(Relaxed));
    // `push` treats a limit of 0 as none, so a full buffer is caught here first.
    if room == 0 || !client.push(bytes, room) {
        return disconnect(client);
    }
    let (soft, soft_s) = (limits[1].load(Relaxed) as usize, limits[2].load(Relaxed) as i64);
    if soft == 0 {
        return;
    }
    let since = &client.pubsub.soft_since_ms;
    if client.pending_bytes() < soft {
        since.store(0, Relaxed);
        return;
    }
    let now = redoubt_engine::clock::now_ms();
    match since.load(Relaxed) {
        0 => since.store(now, Relaxed),
        t if now - t > soft_s * 1000 => disconnect(client),
        _ => {}
    }
}

/// Closes a subscriber over its output limit (Redis's
/// `closeClientOnOutputBufferLimitReached`).
fn disconnect(client: &ClientShared) {
    if client.is_killed() {
        return;
    }
    crate::warning!(
        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
        client.describe(redoubt_engine::clock::now_ms(), "")
    );
    stats::incr(Stat::ClientOutputBufferLimitDisconnections);
    client.kill();
}

/// Publishes `message` on `channel` to the subscribers of `kind` (channels and
/// matching patterns for PUBLISH, shard channels for SPUBLISH); returns how many
/// received it (a client subscribed both to the channel and to a matching pattern
/// receives it, and counts, twice).
pub fn publish(server: &Server, kind: Kind, channel: &[u8], message: &[u8], mut origin: Option<&mut Origin>) -> usize {
    let reg = server.pubsub.read();
    let mut receivers = 0;
    if let Some(subs) = reg.maps[kind as usize].get(channel) {
        let word: &[u8] = if kind == Kind::Shard { b"smessage" } else { b"message" };
        let mut frame = Frame::new(&[word, channel, message]);
        for c in subs.values() {
            deliver(server, c, &mut frame, &mut origin);
        }
        receivers += subs.len();
    }
    if kind == Kind::Channel {
        for (pattern, subs) in &reg.maps[Kind::Pattern as usize] {
            if glob_match(pattern, channel, false) {
                let mut frame = Frame::new(&[b"pmessage", pattern, channel, message]);
                for c in subs.values() {
                    deliver(server, c, &mut frame, &mut origin);
                }
                receivers += subs.len();
            }
        }
    }
    receivers
}

/* ---- THE SUBSCRIBED STATE ---- */

/// Commands a RESP2 client may run while subscribed.
const ALLOWED_WHILE_SUBSCRIBED: &[&str] =
    &["ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe", "punsubscribe", "quit", "reset"];

/// The error for a command a subscribed RESP2 client may not run (RESP3 clients may
/// run anything), or None.
pub fn context_error(state: &ClientState, name: &str) -> Option<redoubt_engine::CmdError> {
    if state.proto != Protocol::Resp2 || !state.subs.active() || ALLOWED_WHILE_SUBSCRIBED.contains(&name) {
        return None;
    }
    Some(redoubt_engine::CmdError::Owned(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    )))
}

/// True when PING must answer as in the subscribed state (`["pong", message]`).
pub fn subscribed_ping(state: &ClientState) -> bool {
    state.proto == Protocol::Resp2 && state.subs.active()
}
