//! WATCH: optimistic locking for MULTI/EXEC (Redis's `multi.c`, watched keys part).
//!
//! A client WATCHes keys; any change to one of them before its EXEC makes the EXEC
//! fail (a null reply). Redis flags the client inside the command that changes the
//! key; here the engine calls [`Watches::key_touched`] (through the [`Observer`]
//! installed by [`install`]) while the key's shard is still locked. That is what makes
//! WATCH sound across threads: EXEC locks the shards of the watched keys before it
//! looks at the flag, so any change made before it got those locks has already flagged
//! it. Recording the touch for after the command (as keyspace events are) would leave
//! a window between the writer releasing the shard and flagging the watcher.
//!
//! Redis 7.0's finer points, kept here:
//! - a key that was already logically expired when WATCHed is remembered as such; its
//!   deletion by expiry is then no change, while anything else that touches it is;
//! - at EXEC, a watched key that has expired since (even if nobody touched it) fails
//!   the transaction;
//! - FLUSHDB/FLUSHALL break only the watches of keys that existed; SWAPDB those of
//!   keys that exist in either database.
//!
//! Lock order: shard locks, then the registry's mutex — never the other way round (the
//! engine calls in with shards locked; WATCH takes the key's shard, then the registry).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use redoubt_engine::engine::Observer;
use redoubt_engine::exec::Changes;
use redoubt_engine::{Db, Engine};

use crate::server::Server;

/// One client's WATCH state, shared with the registry.
#[derive(Default, Debug)]
pub struct WatchFlag {
    /// Redis's `CLIENT_DIRTY_CAS`: a watched key changed.
    dirty: AtomicBool,
}

/// What a client watches (kept in its `ClientState`).
#[derive(Default, Debug)]
pub struct ClientWatches {
    flag: Arc<WatchFlag>,
    /// `(db, key)` pairs, each once.
    keys: Vec<(usize, Vec<u8>)>,
}

impl ClientWatches {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = (usize, &[u8])> {
        self.keys.iter().map(|(db, k)| (*db, k.as_slice()))
    }

    /// True once a watched key changed.
    pub fn is_dirty(&self) -> bool {
        self.flag.dirty.load(Relaxed)
    }
}

/// One watcher of one key.
struct Watcher {
    flag: Arc<WatchFlag>,
    /// The key was logically expired when WATCHed (Redis's `watchedKey.expired`).
    expired: bool,
}

/// The watchers of each key of one database.
type DbWatches = HashMap<Vec<u8>, Vec<Watcher>>;

/// Every watched key: database → key → its watchers.
#[derive(Default)]
pub struct Watches {
    keys: Mutex<HashMap<usize, DbWatches>>,
}

impl Watches {
    fn lock(&self) -> MutexGuard<'_, HashMap<usize, DbWatches>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// WATCH `key` in database `db` for `client`. The key's shard is locked while the
    /// watch is registered, so no change can slip between looking at the key and
    /// watching it.
    pub fn watch(&self, engine: &Engine, client: &mut ClientWatches, db: usize, key: &[u8], now_ms: i64) {
        let mut view = Db::new(engine, engine.keyspace.lock_keys([key]), db, now_ms);
        let expired = matches!(view.peek_in(db, key), Ok(Some(e)) if e.expire_ms().is_some_and(|t| now_ms > t));
        let mut all = self.lock();
        let watchers = all.entry(db).or_default().entry(key.to_vec()).or_default();
        // Watched already (looked up here, not in the client's list, to stay O(1) per
        // key however many keys the client watches).
        if watchers.iter().any(|w| Arc::ptr_eq(&w.flag, &client.flag)) {
            return;
        }
        watchers.push(Watcher { flag: client.flag.clone(), expired });
        engine.knobs.watching.fetch_add(1, Relaxed);
        drop(all);
        drop(view);
        client.keys.push((db, key.to_vec()));
    }

    /// Forgets every key `client` watches and clears its dirty flag (UNWATCH, EXEC,
    /// DISCARD, RESET, disconnection).
    pub fn unwatch_all(&self, engine: &Engine, client: &mut ClientWatches) {
        if !client.keys.is_empty() {
            let mut all = self.lock();
            for (db, key) in client.keys.drain(..) {
                let Some(keys) = all.get_mut(&db) else { continue };
                let Some(watchers) = keys.get_mut(&key) else { continue };
                let before = watchers.len();
                watchers.retain(|w| !Arc::ptr_eq(&w.flag, &client.flag));
                engine.knobs.watching.fetch_sub(before - watchers.len(), Relaxed);
                if watchers.is_empty() {
                    keys.remove(&key);
                }
            }
            all.retain(|_, keys| !keys.is_empty());
        }
        client.flag.dirty.store(false, Relaxed);
    }

    /// Redis's `isWatchedKeyExpired`, checked by EXEC with the watched keys' shards
    /// locked in `db`: true if a key that was alive when watched has expired since.
    pub fn any_expired(&self, client: &ClientWatches, db: &mut Db<'_>) -> bool {
        let now = db.now_ms;
        // Which keys were alive when watched (the registry knows), looked up after the
        // registry's lock is released: the shards are already locked by the caller, so
        // this keeps the shard-then-registry order without nesting.
        let alive: Vec<(usize, &[u8])> = {
            let all = self.lock();
            client
                .keys()
                .filter(|(d, k)| {
                    all.get(d)
                        .and_then(|keys| keys.get(*k))
                        .and_then(|ws| ws.iter().find(|w| Arc::ptr_eq(&w.flag, &client.flag)))
                        .is_some_and(|w| !w.expired)
                })
                .collect()
        };
        alive
            .into_iter()
            .any(|(d, k)| matches!(db.peek_in(d, k), Ok(Some(e)) if e.expire_ms().is_some_and(|t| now > t)))
    }

    /// Redis's `touchWatchedKey`: `key` in `db` changed; `exists` says whether it is
    /// still there (the deletion of a key that was expired when watched is no change).
    pub fn key_touched(&self, db: usize, key: &[u8], exists: bool) {
        let mut all = self.lock();
        let Some(watchers) = all.get_mut(&db).and_then(|keys| keys.get_mut(key)) else { return };
        for w in watchers {
            if w.expired && !exists {
                w.expired = false;
                continue;
            }
            w.flag.dirty.store(true, Relaxed);
        }
    }

    /// Redis's `touchAllWatchedKeysInDb`: database `db` is about to be emptied (`with`
    /// None) or swapped with `with`.
    pub fn db_replaced(&self, db: usize, with: Option<usize>, probe: &mut dyn FnMut(usize, &[u8]) -> Option<bool>) {
        let mut all = self.lock();
        let Some(keys) = all.get_mut(&db) else { return };
        for (key, watchers) in keys.iter_mut() {
            let in_emptied = probe(db, key).is_some();
            let replacement = with.and_then(|w| probe(w, key));
            if !in_emptied && replacement.is_none() {
                continue;
            }
            for w in watchers.iter_mut() {
                if w.expired {
                    match replacement {
                        // The expired key is gone: logically no change.
                        None => {
                            w.expired = false;
                            continue;
                        }
                        // Replaced by a key that is expired too.
                        Some(true) => continue,
                        Some(false) => {}
                    }
                } else if !in_emptied && replacement == Some(true) {
                    // A missing key replaced by an expired one: still logically missing.
                    w.expired = true;
                    continue;
                }
                w.flag.dirty.store(true, Relaxed);
            }
        }
    }
}

/// The server's [`Observer`]: WATCH invalidation as changes happen, and background
/// changes (active expiry, eviction) handled like a command's.
struct ServerObserver(Weak<Server>);

impl Observer for ServerObserver {
    fn key_touched(&self, db: usize, key: &[u8], exists: bool) {
        if let Some(server) = self.0.upgrade() {
            server.watches.key_touched(db, key, exists);
        }
    }

    fn db_replaced(&self, db: usize, with: Option<usize>, probe: &mut dyn FnMut(usize, &[u8]) -> Option<bool>) {
        if let Some(server) = self.0.upgrade() {
            server.watches.db_replaced(db, with, probe);
        }
    }

    fn background(&self, changes: Changes) {
        if let Some(server) = self.0.upgrade() {
            server.apply_changes(changes);
        }
    }
}

/// Connects the engine to the server's WATCH registry and notifications; called once
/// the server is in its `Arc`.
pub fn install(server: &Arc<Server>) {
    let _ = server.engine.observer.set(Box::new(ServerObserver(Arc::downgrade(server))));
}
