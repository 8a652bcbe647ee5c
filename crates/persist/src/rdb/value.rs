//! Values in the RDB: reading every type and encoding Redis ever wrote into one plain
//! form ([`Value`]), and writing the engine's values the way Redis 7.0 writes them.
//!
//! Reading goes through [`Value`] rather than straight into the engine's types so that
//! every old encoding (zipmap, ziplist, quicklist, intset, listpack) is validated and
//! checked for duplicates once, in one place, and the engine sees only clean data.

use std::collections::HashSet;
use std::io::{Read, Write};

use super::read::{Loaded, RdbReader};
use super::write::RdbWriter;
use super::{corrupt, rdb_type, RdbError, QUICKLIST_NODE_PACKED, QUICKLIST_NODE_PLAIN};
use crate::codec::{intset, listpack, ziplist, zipmap, Elem, Pairs};

/// A value read from an RDB, in plain form.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string: integer-encoded or bytes, as stored.
    Str(Loaded),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
}

impl Value {
    /// True for a collection without elements (Redis skips such keys when loading a
    /// file and refuses them in a RESTORE payload).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(v) | Value::Set(v) => v.is_empty(),
            Value::Hash(v) => v.is_empty(),
            Value::ZSet(v) => v.is_empty(),
        }
    }
}

impl Clone for Loaded {
    fn clone(&self) -> Self {
        match self {
            Loaded::Int(i) => Loaded::Int(*i),
            Loaded::Bytes(b) => Loaded::Bytes(b.clone()),
        }
    }
}

/// Reads a value of RDB type `t` (the byte before the key).
pub fn read_value<R: Read>(r: &mut RdbReader<R>, t: u8) -> Result<Value, RdbError> {
    use rdb_type::*;
    match t {
        STRING => Ok(Value::Str(r.string_or_int()?)),
        LIST => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(r.string()?);
            }
            Ok(Value::List(items))
        }
        SET => {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                items.push(r.string()?);
            }
            no_duplicates(items.iter().map(|m| m.as_slice()), "Duplicate set members detected")?;
            Ok(Value::Set(items))
        }
        ZSET | ZSET_2 => {
            let n = r.count(2)?;
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let member = r.string()?;
                let score = if t == ZSET_2 { r.binary_double()? } else { r.text_double()? };
                if score.is_nan() {
                    return corrupt("Zset with NAN score detected");
                }
                items.push((member, score));
            }
            no_duplicates(items.iter().map(|(m, _)| m.as_slice()), "Duplicate zset fields detected")?;
            Ok(Value::ZSet(items))
        }
        HASH => {
            let n = r.count(2)?;
            let mut items = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let field = r.string()?;
                let value = r.string()?;
                items.push((field, value));
            }
            no_duplicates(items.iter().map(|(f, _)| f.as_slice()), "Duplicate hash fields detected")?;
            Ok(Value::Hash(items))
        }
        HASH_ZIPMAP => {
            let pairs = zipmap::decode(&r.string()?)?;
            no_duplicates(pairs.iter().map(|(f, _)| f.as_slice()), "Duplicate hash fields detected")?;
            Ok(Value::Hash(pairs))
        }
        LIST_ZIPLIST => Ok(Value::List(elems_to_bytes(ziplist::decode(&r.string()?)?))),
        SET_INTSET => {
            let ints = intset::decode(&r.string()?)?;
            Ok(Value::Set(ints.into_iter().map(|v| v.to_string().into_bytes()).collect()))
        }
        SET_LISTPACK => {
            let items = elems_to_bytes(listpack::decode(&r.string()?)?);
            if items.is_empty() {
                return corrupt("Set listpack integrity check failed.");
            }
            no_duplicates(items.iter().map(|m| m.as_slice()), "Duplicate set members detected")?;
            Ok(Value::Set(items))
        }
        ZSET_ZIPLIST | ZSET_LISTPACK => {
            let blob = r.string()?;
            let elems = if t == ZSET_ZIPLIST { ziplist::decode(&blob)? } else { listpack::decode(&blob)? };
            let pairs = zset_pairs(elems)?;
            no_duplicates(pairs.iter().map(|(m, _)| m.as_slice()), "Duplicate zset fields detected")?;
            Ok(Value::ZSet(pairs))
        }
        HASH_ZIPLIST | HASH_LISTPACK => {
            let blob = r.string()?;
            let elems = if t == HASH_ZIPLIST { ziplist::decode(&blob)? } else { listpack::decode(&blob)? };
            let pairs = hash_pairs(elems)?;
            no_duplicates(pairs.iter().map(|(f, _)| f.as_slice()), "Duplicate hash fields detected")?;
            Ok(Value::Hash(pairs))
        }
        LIST_QUICKLIST | LIST_QUICKLIST_2 => read_quicklist(r, t == LIST_QUICKLIST_2).map(Value::List),
        STREAM_LISTPACKS | STREAM_LISTPACKS_2 | STREAM_LISTPACKS_3 => {
            Err(RdbError::Unsupported("The RDB holds a stream: Redoubt has no stream type yet".into()))
        }
        MODULE_PRE_GA | MODULE_2 => {
            let id = r.length()?;
            Err(RdbError::Unsupported(format!(
                "The RDB file contains module data I can't load: no matching module '{}'",
                module_name(id)
            )))
        }
        HASH_METADATA_PRE_GA | HASH_LISTPACK_EX_PRE_GA | HASH_METADATA | HASH_LISTPACK_EX => {
            Err(RdbError::Unsupported(
                "The RDB holds hash fields with expiration times (Redis 7.4): Redoubt does not support them".into(),
            ))
        }
        other => corrupt(format!("Unknown RDB encoding type {other}")),
    }
}

/// A quicklist: nodes that are ziplists (RDB type 14), or, in quicklist 2 (type 18),
/// a container kind per node: a listpack, or one plain element.
fn read_quicklist<R: Read>(r: &mut RdbReader<R>, v2: bool) -> Result<Vec<Vec<u8>>, RdbError> {
    let nodes = r.count(2)?;
    let mut items = Vec::new();
    for _ in 0..nodes {
        let container = if v2 { r.length()? } else { QUICKLIST_NODE_PACKED };
        let blob = r.string()?;
        match container {
            QUICKLIST_NODE_PLAIN => items.push(blob),
            QUICKLIST_NODE_PACKED => {
                let elems = if v2 { listpack::decode(&blob)? } else { ziplist::decode(&blob)? };
                // Redis skips empty nodes silently (old versions could write them).
                items.extend(elems_to_bytes(elems));
            }
            other => return corrupt(format!("Quicklist integrity check failed: container {other}")),
        }
    }
    Ok(items)
}

fn elems_to_bytes(elems: Vec<Elem>) -> Vec<Vec<u8>> {
    elems.into_iter().map(Elem::into_bytes).collect()
}

fn hash_pairs(elems: Vec<Elem>) -> Result<Pairs, RdbError> {
    if !elems.len().is_multiple_of(2) {
        return corrupt("Hash ziplist/listpack with an odd number of elements");
    }
    let mut it = elems.into_iter();
    let mut out = Vec::with_capacity(it.len() / 2);
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        out.push((f.into_bytes(), v.into_bytes()));
    }
    Ok(out)
}

fn zset_pairs(elems: Vec<Elem>) -> Result<Vec<(Vec<u8>, f64)>, RdbError> {
    if !elems.len().is_multiple_of(2) {
        return corrupt("Zset ziplist/listpack with an odd number of elements");
    }
    let mut it = elems.into_iter();
    let mut out = Vec::with_capacity(it.len() / 2);
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        let score = match s {
            Elem::Int(v) => v as f64,
            Elem::Bytes(b) => parse_score(&b).ok_or_else(|| RdbError::Corrupt("Zset with an invalid score".into()))?,
        };
        out.push((m.into_bytes(), score));
    }
    Ok(out)
}

/// A score as C's `strtod` reads the whole string (inf and -inf included, NaN refused).
pub fn parse_score(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        t => t.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

fn no_duplicates<'a>(items: impl Iterator<Item = &'a [u8]>, what: &str) -> Result<(), RdbError> {
    let mut seen = HashSet::new();
    for i in items {
        if !seen.insert(i) {
            return corrupt(what);
        }
    }
    Ok(())
}

/// A module type's 9-character name, from the 64-bit id in the file (Redis's
/// `moduleTypeNameByID`): six bits per character from the top, version in the low 10.
pub fn module_name(id: u64) -> String {
    const CHARSET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..9).map(|i| CHARSET[((id >> (64 - 6 * (i + 1))) & 63) as usize] as char).collect()
}

// ---- Writing -------------------------------------------------------------------
//
// The engine keeps small collections in its own packed form, not in listpacks, so the
// compact encodings Redis 7.0 writes (listpack, intset) are rebuilt here from the
// elements. Which encoding a value gets follows the engine's `OBJECT ENCODING`, which
// follows Redis's thresholds, so a file matches what Redis would write for the data.

/// An element to write: bytes, or an integer kept as a number.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Item<'_> {
    fn write_string<W: Write>(self, w: &mut RdbWriter<W>) -> std::io::Result<()> {
        match self {
            Item::Str(b) => w.string(b),
            Item::Int(v) => w.int_string(v),
        }
    }

    fn push_to(self, lp: &mut listpack::Builder) {
        match self {
            Item::Str(b) => lp.push_str(b),
            Item::Int(v) => lp.push_int(v),
        }
    }
}

/// Writes elements as one listpack blob (HASH_LISTPACK, ZSET_LISTPACK: pairs in order).
pub fn write_listpack<'a, W: Write>(
    w: &mut RdbWriter<W>,
    items: impl Iterator<Item = Item<'a>>,
) -> std::io::Result<()> {
    let mut lp = listpack::Builder::new();
    for item in items {
        item.push_to(&mut lp);
    }
    w.string(&lp.finish())
}

/// Writes integers as an intset blob (SET_INTSET); they are sorted here.
pub fn write_intset<W: Write>(w: &mut RdbWriter<W>, ints: impl Iterator<Item = i64>) -> std::io::Result<()> {
    let mut v: Vec<i64> = ints.collect();
    v.sort_unstable();
    v.dedup();
    w.string(&intset::encode(&v))
}

/// Writes a count of entries and then each entry's `per_entry` elements as strings
/// (SET: a member per entry; HASH: field then value).
pub fn write_strings<'a, W: Write>(
    w: &mut RdbWriter<W>,
    count: usize,
    per_entry: usize,
    items: impl Iterator<Item = Item<'a>>,
) -> std::io::Result<()> {
    w.len(count as u64)?;
    let mut written = 0;
    for item in items {
        item.write_string(w)?;
        written += 1;
    }
    check_count(count * per_entry, written)
}

/// Writes a ZSET_2 body: the count, then member and binary score for each, in the
/// order given (Redis writes from the highest score down, so a loader that inserts
/// at the head builds the skiplist in order).
pub fn write_zset2<'a, W: Write>(
    w: &mut RdbWriter<W>,
    count: usize,
    items: impl Iterator<Item = (Item<'a>, f64)>,
) -> std::io::Result<()> {
    w.len(count as u64)?;
    let mut written = 0;
    for (m, score) in items {
        m.write_string(w)?;
        w.binary_double(score)?;
        written += 1;
    }
    check_count(count, written)
}

/// A collection that yields a different number of elements than it claims would make
/// a corrupt file: refuse to finish it.
fn check_count(claimed: usize, written: usize) -> std::io::Result<()> {
    if claimed == written {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("collection claimed {claimed} elements but yielded {written}")))
    }
}
