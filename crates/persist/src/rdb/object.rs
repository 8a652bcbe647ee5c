//! The engine's values to and from the RDB: which type byte a value gets, its body,
//! and building an engine value from a [`Value`] read from a file or payload.
//!
//! This is the only file of the RDB code that knows the engine's collection types.
//! Lists are quicklists of real listpacks in the engine too, so their nodes are
//! written as they are; hashes, sets and zsets keep their own packed forms, so their
//! compact encodings (listpack, intset) are rebuilt here, exactly as Redis 7.0 lays
//! them out, from the elements.

use std::io::Write;

use redoubt_engine::types::hash::{Hash, HashLimits};
use redoubt_engine::types::list::List;
use redoubt_engine::types::packed::Elem;
use redoubt_engine::types::set::Set;
use redoubt_engine::types::zset::{Limits as ZSetLimits, ZSet};
use redoubt_engine::value::{NewValue, Object, StrRef, ValueRef, EMBSTR_MAX_BYTES};
use redoubt_engine::Knobs;

use super::read::Loaded;
use super::value::{write_intset, write_listpack, write_strings, write_zset2, Item, Value};
use super::write::RdbWriter;
use super::{rdb_type, RdbError, QUICKLIST_NODE_PACKED};

/// The RDB type byte of a value, from its type and encoding as Redis 7.0 picks it.
pub fn type_of(v: ValueRef<'_>) -> u8 {
    match v {
        ValueRef::Str(_) | ValueRef::Obj(Object::Str(_)) => rdb_type::STRING,
        ValueRef::Obj(Object::List(_)) => rdb_type::LIST_QUICKLIST_2,
        ValueRef::Obj(Object::Hash(h)) => match h {
            Hash::Pack(_) => rdb_type::HASH_LISTPACK,
            Hash::Table(_) => rdb_type::HASH,
        },
        ValueRef::Obj(Object::Set(s)) => match s {
            Set::Ints(_) => rdb_type::SET_INTSET,
            Set::Table(_) => rdb_type::SET,
        },
        ValueRef::Obj(Object::ZSet(z)) => match z {
            ZSet::Packed(_) => rdb_type::ZSET_LISTPACK,
            ZSet::Indexed(_) => rdb_type::ZSET_2,
        },
    }
}

fn item(e: Elem<'_>) -> Item<'_> {
    match e {
        Elem::Str(b) => Item::Str(b),
        Elem::Int(v) => Item::Int(v),
    }
}

/// A score as Redis's `d2string` writes it into a listpack: integral values in the
/// exactly representable range as integers, the rest as `%.17g`.
fn score_text(score: f64) -> Vec<u8> {
    const RANGE: f64 = 4_503_599_627_370_496.0; // 2^52
    if score == 0.0 {
        return if score.is_sign_negative() { b"-0".to_vec() } else { b"0".to_vec() };
    }
    if score.is_infinite() {
        return if score < 0.0 { b"-inf".to_vec() } else { b"inf".to_vec() };
    }
    if score > -RANGE + 1.0 && score < RANGE && score == (score as i64) as f64 {
        return (score as i64).to_string().into_bytes();
    }
    redoubt_resp::number::g17_to_vec(score)
}

/// Writes the body of a value (what follows its key).
pub fn write_body<W: Write>(w: &mut RdbWriter<W>, v: ValueRef<'_>) -> std::io::Result<()> {
    match v {
        ValueRef::Str(StrRef::Int(i)) => w.int_string(i),
        ValueRef::Str(StrRef::Embstr(b)) | ValueRef::Str(StrRef::Raw(b)) => w.string(b),
        ValueRef::Obj(Object::Str(b)) => w.string(b),
        ValueRef::Obj(Object::List(l)) => {
            w.len(l.nodes().len() as u64)?;
            for node in l.nodes() {
                w.len(QUICKLIST_NODE_PACKED)?;
                w.string(node.as_bytes())?;
            }
            Ok(())
        }
        ValueRef::Obj(Object::Hash(h)) => match h {
            Hash::Pack(_) => write_listpack(w, h.iter().flat_map(|(f, v)| [item(f), item(v)])),
            Hash::Table(_) => write_strings(w, h.len(), 2, h.iter().flat_map(|(f, v)| [item(f), item(v)])),
        },
        ValueRef::Obj(Object::Set(s)) => match s {
            Set::Ints(_) => write_intset(
                w,
                s.iter().map(|e| match e {
                    Elem::Int(v) => v,
                    // An intset holds integers only; the engine's type guarantees it.
                    Elem::Str(b) => redoubt_resp::number::parse_i64(b).unwrap_or(0),
                }),
            ),
            Set::Table(_) => write_strings(w, s.len(), 1, s.iter().map(item)),
        },
        ValueRef::Obj(Object::ZSet(z)) => match z {
            ZSet::Packed(_) => {
                let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(z.len());
                z.walk(0, false, |m, s| {
                    entries.push((m.to_vec(), score_text(s)));
                    true
                });
                write_listpack(w, entries.iter().flat_map(|(m, s)| [Item::Str(m), Item::Str(s)]))
            }
            ZSet::Indexed(_) => {
                // Highest score first, as Redis walks its skiplist backwards.
                let mut entries: Vec<(Vec<u8>, f64)> = Vec::with_capacity(z.len());
                if !z.is_empty() {
                    z.walk(z.len() - 1, true, |m, s| {
                        entries.push((m.to_vec(), s));
                        true
                    });
                }
                write_zset2(w, entries.len(), entries.iter().map(|(m, s)| (Item::Str(m), *s)))
            }
        },
    }
}

/// Calls `f` with the engine's form of a value read from an RDB, converted as Redis's
/// loader converts it (strings by `tryObjectEncoding`: an integer when it is one,
/// `embstr` up to 44 bytes, `raw` beyond; collections by the current `*-max-*`
/// thresholds), moving data rather than copying it where it can.
pub fn with_engine_value<R>(v: Value, knobs: &Knobs, f: impl FnOnce(NewValue<'_>) -> R) -> Result<R, RdbError> {
    use std::sync::atomic::Ordering::Relaxed;
    let o = match v {
        Value::Str(Loaded::Int(i)) => return Ok(f(NewValue::Int(i))),
        Value::Str(Loaded::Bytes(b)) if b.len() <= EMBSTR_MAX_BYTES => return Ok(f(NewValue::string(&b))),
        Value::Str(Loaded::Bytes(b)) => Object::Str(b),
        Value::List(items) => {
            Object::List(List::from_items(knobs.list_max_listpack_size.load(Relaxed), items.iter().map(Vec::as_slice)))
        }
        Value::Set(members) => {
            let max = knobs.set_max_intset_entries.load(Relaxed);
            Object::Set(Set::build(members.iter().map(|m| Elem::of(m)), max).map_err(too_big)?)
        }
        Value::Hash(pairs) => {
            let limits = HashLimits::of(knobs);
            let mut h = Hash::new();
            for (field, value) in &pairs {
                h.set(field, value, limits).map_err(too_big)?;
            }
            Object::Hash(h)
        }
        Value::ZSet(mut entries) => {
            // Redis's order: score, then member bytes (0 and -0 are the same score).
            entries
                .sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
            Object::ZSet(ZSet::from_sorted(entries.iter().map(|(m, s)| (m.as_slice(), *s)), ZSetLimits::of(knobs)))
        }
    };
    Ok(f(NewValue::Obj(Box::new(o))))
}

fn too_big<E>(_: E) -> RdbError {
    RdbError::Unsupported("The RDB holds a collection larger than Redoubt can hold".into())
}

/// The bytes the value's body takes in an RDB (DEBUG OBJECT's `serializedlength`,
/// Redis's `rdbSavedObjectLen`), compressed as `rdbcompression` says.
pub fn serialized_len(v: ValueRef<'_>, compress: bool) -> usize {
    let mut w = RdbWriter::new(std::io::sink(), compress, false);
    let _ = write_body(&mut w, v);
    w.written() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_as_redis_writes_them() {
        assert_eq!(score_text(1.0), b"1");
        assert_eq!(score_text(-3.0), b"-3");
        assert_eq!(score_text(1.5), b"1.5");
        assert_eq!(score_text(0.1), b"0.10000000000000001");
        assert_eq!(score_text(-0.0), b"-0");
        assert_eq!(score_text(f64::INFINITY), b"inf");
        assert_eq!(score_text(1e20), b"1e+20");
    }
}
