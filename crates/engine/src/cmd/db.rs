//! Whole-database commands: DBSIZE, FLUSHDB, FLUSHALL, SWAPDB. They lock every shard,
//! so each sees (and changes) the keyspace at one instant.

use redoubt_resp::request::Args;

use super::{is, DataCommand, LockMode::All};
use crate::exec::{err, CmdError, CmdResult, Ctx};
use crate::keyspace::{ShardDb, SHARDS};

pub static COMMANDS: &[DataCommand] = &[
    DataCommand { name: "dbsize", lock: All, handler: dbsize },
    DataCommand { name: "flushdb", lock: All, handler: flushdb },
    DataCommand { name: "flushall", lock: All, handler: flushall },
    DataCommand { name: "swapdb", lock: All, handler: swapdb },
];

fn dbsize(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let db = ctx.db.index;
    let n: usize = (0..SHARDS).filter_map(|s| ctx.db.shard_part(db, s).map(|p| p.keys())).sum();
    ctx.out.int(n as i64);
    Ok(())
}

/// Parses FLUSHDB/FLUSHALL's optional ASYNC|SYNC; true means free in the background.
fn flush_mode(ctx: &Ctx, args: Args) -> Result<bool, CmdError> {
    match args.len() {
        1 => Ok(ctx.db.engine.knobs.lazyfree_lazy_user_flush.load(std::sync::atomic::Ordering::Relaxed)),
        2 if is(args.get(1), "async") => Ok(true),
        2 if is(args.get(1), "sync") => Ok(false),
        _ => Err(err::SYNTAX),
    }
}

/// Empties database `db` (all of them when `None`); returns the number of keys removed.
/// With `lazy`, the memory is freed by a background thread after the locks are gone.
pub fn empty(ctx: &mut Ctx, db: Option<usize>, lazy: bool) -> usize {
    let dbs: Vec<usize> = match db {
        Some(d) => vec![d],
        None => (0..ctx.db.engine.keyspace.databases()).collect(),
    };
    let mut removed = 0;
    let mut garbage: Vec<ShardDb> = Vec::new();
    for &d in &dbs {
        ctx.db.touch_db(d);
        ctx.db.before_write_db(d);
    }
    for shard in 0..SHARDS {
        for &d in &dbs {
            if let Some(part) = ctx.db.shard_part(d, shard) {
                removed += part.keys();
                if part.keys() > 0 {
                    garbage.push(part.take());
                }
            }
        }
    }
    if lazy && !garbage.is_empty() {
        let spawned = std::thread::Builder::new().name("lazyfree".into()).spawn(move || drop(garbage));
        if let Err(e) = spawned {
            // No thread: free here, slower but correct.
            drop(e);
        }
    } else {
        drop(garbage);
    }
    removed
}

fn flushdb(ctx: &mut Ctx, args: Args) -> CmdResult {
    let lazy = flush_mode(ctx, args)?;
    let db = ctx.db.index;
    let removed = empty(ctx, Some(db), lazy);
    // Propagated even when the database was already empty, as Redis forces it.
    ctx.db.dirty += removed as u64 + 1;
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx, args: Args) -> CmdResult {
    let lazy = flush_mode(ctx, args)?;
    let removed = empty(ctx, None, lazy);
    ctx.db.dirty += removed as u64 + 1;
    ctx.out.ok();
    Ok(())
}

fn swapdb(ctx: &mut Ctx, args: Args) -> CmdResult {
    let parse = |a: &[u8], what: &'static str| -> Result<usize, CmdError> {
        let n = redoubt_resp::number::parse_i64(a)
            .filter(|n| *n >= i32::MIN as i64 && *n <= i32::MAX as i64)
            .ok_or(CmdError::Static(what))?;
        Ok(n as usize)
    };
    let a = parse(args.get(1), "ERR invalid first DB index")?;
    let b = parse(args.get(2), "ERR invalid second DB index")?;
    let dbs = ctx.db.engine.keyspace.databases();
    if a >= dbs || b >= dbs {
        return Err(err::DB_RANGE);
    }
    if a != b {
        ctx.db.touch_swapped_dbs(a, b);
        ctx.db.before_write_db(a);
        ctx.db.before_write_db(b);
        for shard in 0..SHARDS {
            if let Some(s) = ctx.db.locked().shard(shard) {
                s.dbs.swap(a, b);
            }
        }
        // Clients blocked in either database may now see data (Redis's
        // `scanDatabaseForReadyKeys`).
        crate::blocking::signal_swapped(ctx.db, a, b);
    }
    ctx.db.dirty += 1;
    ctx.out.ok();
    Ok(())
}
