//! DEBUG: the subcommands tests and operators rely on — SLEEP, OBJECT, DIGEST,
//! DIGEST-VALUE, SET-ACTIVE-EXPIRE, PROTOCOL, POPULATE, RELOAD, LOG, ERROR, HELP. The
//! rest of Redis's DEBUG (LOADAOF, CHANGE-REPL-ID, ...) arrives with the features they
//! exercise; until then they get Redis's unknown-subcommand error.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use redoubt_engine::digest::{dataset_digest, to_hex, value_digest};
use redoubt_engine::exec::{err, Db, Expiry};
use redoubt_engine::value::{NewValue, StrRef, ValueRef};
use redoubt_engine::{CmdError, CmdResult};
use redoubt_resp::number::parse_i64;

use crate::dispatch::{Call, ServerCommand};

pub static COMMANDS: &[ServerCommand] = &[ServerCommand { name: "debug", handler: debug }];

/// Longest DEBUG SLEEP accepted, so a typo cannot park a worker thread for days.
pub const SLEEP_SECONDS_MAX: f64 = 3600.0;
/// Most keys one DEBUG POPULATE may create.
pub const POPULATE_KEYS_MAX: i64 = 100_000_000;

fn debug(c: &mut Call) -> CmdResult {
    let sub = c.args.get(1).to_ascii_lowercase();
    let argc = c.args.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => help(c),
        (b"sleep", 3) => sleep(c),
        (b"object", 3) => object(c),
        (b"digest", 2) => digest(c),
        (b"digest-value", n) if n >= 2 => digest_value(c),
        (b"set-active-expire", 3) => {
            // Redis reads the flag with atoi: anything that is not a number means 0.
            let on = atoi(c.args.get(2)) != 0;
            c.server.engine.knobs.active_expire.store(on, Relaxed);
            c.out.ok();
            Ok(())
        }
        (b"protocol", 3) => protocol(c),
        (b"populate", 3..=5) => populate(c),
        (b"reload", _) => reload(c),
        (b"log", 3) => {
            crate::warning!("DEBUG LOG: {}", String::from_utf8_lossy(c.args.get(2)));
            c.out.ok();
            Ok(())
        }
        (b"error", 3) => Err(CmdError::Owned(String::from_utf8_lossy(c.args.get(2)).into_owned())),
        _ => Err(redoubt_engine::cmd::subcommand_syntax_error(c.args)),
    }
}

/// C's `atoi`: leading blanks, an optional sign, digits; 0 when there are none.
fn atoi(a: &[u8]) -> i64 {
    let s = std::str::from_utf8(a).unwrap_or("").trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, d| n.saturating_mul(10).saturating_add((d - b'0') as i64));
    if neg {
        -n
    } else {
        n
    }
}

/// Blocks this connection's worker thread, as Redis blocks its one thread: the point of
/// DEBUG SLEEP is a server that does not answer for a while.
fn sleep(c: &mut Call) -> CmdResult {
    let secs: f64 = std::str::from_utf8(c.args.get(2)).ok().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let secs = if secs.is_finite() { secs.clamp(0.0, SLEEP_SECONDS_MAX) } else { 0.0 };
    std::thread::sleep(Duration::from_secs_f64(secs));
    c.out.ok();
    Ok(())
}

/// Runs `f` with the key's shard locked.
fn with_key<R>(c: &Call, key: &[u8], f: impl FnOnce(&mut Db) -> R) -> R {
    let engine = &c.server.engine;
    let mut db = Db::new(engine, engine.keyspace.lock_keys([key]), c.state.db, redoubt_engine::clock::now_ms());
    f(&mut db)
}

fn object(c: &mut Call) -> CmdResult {
    let key = c.args.get(2).to_vec();
    let now = redoubt_engine::clock::now_ms();
    let compress = c.server.config.get_bool("rdbcompression");
    let line = with_key(c, &key, |db| -> Result<String, CmdError> {
        let index = db.index;
        let e = db.peek_in(index, &key)?.ok_or(err::NO_SUCH_KEY)?;
        let v = e.value();
        let shared_int = matches!(v, ValueRef::Str(StrRef::Int(i)) if (0..10000).contains(&i));
        Ok(format!(
            "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
            e.key().as_ptr(),
            if shared_int { i32::MAX as i64 } else { 1 },
            v.encoding(),
            redoubt_persist::rdb::object::serialized_len(v, compress),
            e.lru() & redoubt_engine::clock::LRU_CLOCK_MAX,
            redoubt_engine::clock::idle_ms(e.lru(), now) / 1000
        ))
    })?;
    c.out.simple(line.as_bytes());
    Ok(())
}

fn digest(c: &mut Call) -> CmdResult {
    let engine = &c.server.engine;
    let mut db = Db::new(engine, engine.keyspace.lock_all(), c.state.db, redoubt_engine::clock::now_ms());
    let d = dataset_digest(&mut db);
    drop(db);
    c.out.simple(to_hex(&d).as_bytes());
    Ok(())
}

fn digest_value(c: &mut Call) -> CmdResult {
    let keys: Vec<Vec<u8>> = c.args.iter().skip(2).map(|k| k.to_vec()).collect();
    c.out.array(keys.len());
    for key in keys {
        let hex = with_key(c, &key, |db| -> Result<String, CmdError> {
            let index = db.index;
            Ok(db.peek_in(index, &key)?.map(|e| to_hex(&value_digest(e))).unwrap_or_else(|| "0".repeat(40)))
        })?;
        c.out.simple(hex.as_bytes());
    }
    Ok(())
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save the dump, empty the dataset, load
/// the dump back (persistence's round trip, in one command).
fn reload(c: &mut Call) -> CmdResult {
    let (mut save, mut flush, mut merge) = (true, true, false);
    for a in c.args.iter().skip(2) {
        match a.to_ascii_lowercase().as_slice() {
            b"merge" => merge = true,
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => return Err(CmdError::Static("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")),
        }
    }
    tokio::task::block_in_place(|| crate::persistence::rdb::debug_reload(c.server, save, flush, merge))?;
    c.out.ok();
    Ok(())
}

/// DEBUG PROTOCOL <type>: one reply of each RESP type, for client tests.
fn protocol(c: &mut Call) -> CmdResult {
    let out = &mut *c.out;
    match c.args.get(2).to_ascii_lowercase().as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // The value Redis sends, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => {
            if out.resp3() {
                out.raw(b"(1234567999999999999999999999999999999\r\n");
            } else {
                out.bulk(b"1234567999999999999999999999999999999");
            }
        }
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            (0..3).for_each(|i| out.int(i));
        }
        b"set" => {
            out.set(3);
            (0..3).for_each(|i| out.int(i));
        }
        b"map" => {
            out.map(3);
            for i in 0..3 {
                out.int(i);
                out.bool(i == 1);
            }
        }
        b"attrib" => {
            if out.resp3() {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !out.resp3() {
                return Err(CmdError::Static("ERR RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.bool(true),
        b"false" => out.bool(false),
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        _ => {
            return Err(CmdError::Static("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"))
        }
    }
    Ok(())
}

/// DEBUG POPULATE <count> [<prefix>] [<size>]: creates `prefix:N` = `value:N` (padded
/// with zero bytes or cut to `size`), skipping keys that exist, as Redis does.
fn populate(c: &mut Call) -> CmdResult {
    let count = parse_i64(c.args.get(2))
        .filter(|n| *n >= 0)
        .ok_or(CmdError::Static("ERR value is out of range, must be positive"))?;
    if count > POPULATE_KEYS_MAX {
        return Err(CmdError::Owned(format!("ERR count must be at most {POPULATE_KEYS_MAX}")));
    }
    let prefix = if c.args.len() >= 4 { c.args.get(3).to_vec() } else { b"key".to_vec() };
    let size = if c.args.len() == 5 {
        Some(
            parse_i64(c.args.get(4))
                .filter(|n| *n >= 0)
                .ok_or(CmdError::Static("ERR value is out of range, must be positive"))? as usize,
        )
    } else {
        None
    };
    let mut key = prefix.clone();
    key.push(b':');
    let base = key.len();
    for i in 0..count {
        key.truncate(base);
        key.extend_from_slice(i.to_string().as_bytes());
        let mut value = format!("value:{i}").into_bytes();
        if let Some(n) = size {
            value.resize(n, 0);
        }
        with_key(c, &key, |db| -> CmdResult {
            if db.find(&key, redoubt_engine::exec::Access::Peek)?.is_none() {
                db.set(&key, NewValue::string(&value), Expiry::Clear)?;
            }
            Ok(())
        })?;
    }
    c.out.ok();
    Ok(())
}

fn help(c: &mut Call) -> CmdResult {
    super::help(
        c.out,
        "DEBUG",
        &[
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about the `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not accessed.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
    );
    Ok(())
}
