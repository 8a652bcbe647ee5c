//! A dataset as commands (Redis's `rewriteAppendOnlyFileRio`): the base file of an AOF
//! when `aof-use-rdb-preamble` is off. Collections are written 64 elements per
//! command (`AOF_REWRITE_ITEMS_PER_CMD`), expiries as PEXPIREAT, as Redis writes them.

use std::io::{self, Write};

use redoubt_engine::entry::EntryRef;
use redoubt_engine::journal::encode_command;
use redoubt_engine::types::zset::ZSet;
use redoubt_engine::value::{Object, ValueRef};

/// Elements per RPUSH/SADD/ZADD/HMSET.
pub const ITEMS_PER_CMD: usize = 64;

/// Writes `SELECT db`.
pub fn write_select<W: Write>(w: &mut W, db: usize) -> io::Result<()> {
    let mut out = Vec::with_capacity(32);
    let db = db.to_string();
    encode_command(&mut out, [&b"SELECT"[..], db.as_bytes()].into_iter());
    w.write_all(&out)
}

/// Writes `FUNCTION LOAD <code>` for one library (a rewrite starts with them).
pub fn write_function<W: Write>(w: &mut W, code: &[u8]) -> io::Result<()> {
    let mut out = Vec::with_capacity(code.len() + 48);
    encode_command(&mut out, [&b"FUNCTION"[..], b"LOAD", code].into_iter());
    w.write_all(&out)
}

/// Writes the commands that recreate one key.
pub fn write_entry<W: Write>(w: &mut W, e: EntryRef<'_>) -> io::Result<()> {
    let key = e.key();
    let mut out = Vec::new();
    let batch = |verb: &'static [u8], items: &mut dyn Iterator<Item = Vec<Vec<u8>>>, out: &mut Vec<u8>| {
        let mut args: Vec<Vec<u8>> = Vec::new();
        let mut n = 0;
        let flush = |args: &mut Vec<Vec<u8>>, out: &mut Vec<u8>| {
            if !args.is_empty() {
                let all = [verb, key].into_iter().chain(args.iter().map(Vec::as_slice));
                let v: Vec<&[u8]> = all.collect();
                encode_command(out, v.into_iter());
                args.clear();
            }
        };
        for item in items {
            args.extend(item);
            n += 1;
            if n % ITEMS_PER_CMD == 0 {
                flush(&mut args, out);
            }
        }
        flush(&mut args, out);
    };
    match e.value() {
        ValueRef::Str(s) => {
            let v = s.to_vec();
            encode_command(&mut out, [&b"SET"[..], key, &v].into_iter());
        }
        ValueRef::Obj(Object::Str(b)) => encode_command(&mut out, [&b"SET"[..], key, b].into_iter()),
        ValueRef::Obj(Object::List(l)) => batch(b"RPUSH", &mut l.iter().map(|x| vec![x.to_vec()]), &mut out),
        ValueRef::Obj(Object::Set(s)) => batch(b"SADD", &mut s.iter().map(|x| vec![x.to_vec()]), &mut out),
        ValueRef::Obj(Object::Hash(h)) => {
            batch(b"HMSET", &mut h.iter().map(|(f, v)| vec![f.to_vec(), v.to_vec()]), &mut out)
        }
        ValueRef::Obj(Object::ZSet(z)) => {
            let mut entries: Vec<Vec<Vec<u8>>> = Vec::with_capacity(z.len());
            walk_zset(z, |m, s| entries.push(vec![redoubt_resp::number::g17_to_vec(s), m.to_vec()]));
            batch(b"ZADD", &mut entries.into_iter(), &mut out)
        }
    }
    if let Some(t) = e.expire_ms() {
        let t = t.to_string();
        encode_command(&mut out, [&b"PEXPIREAT"[..], key, t.as_bytes()].into_iter());
    }
    w.write_all(&out)
}

fn walk_zset(z: &ZSet, mut f: impl FnMut(&[u8], f64)) {
    z.walk(0, false, |m, s| {
        f(m, s);
        true
    });
}
