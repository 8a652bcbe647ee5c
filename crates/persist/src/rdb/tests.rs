//! Files in every encoding Redis ever wrote, built byte by byte here (no Redis old
//! enough to write them is at hand), loaded into an engine and read back through its
//! types; and the refusals: duplicates, streams, modules, functions.

use super::load::{load, EngineSink, LoadError, LoadOptions};
use super::write::RdbWriter;
use super::{opcode, rdb_type, RdbError};
use crate::codec::{intset, listpack, ziplist, Elem};
use redoubt_engine::exec::Db;
use redoubt_engine::types::packed::Elem as EElem;
use redoubt_engine::value::{Object, ValueRef};
use redoubt_engine::{Engine, EvictionPolicy};

fn file(version: u32, body: impl FnOnce(&mut RdbWriter<Vec<u8>>)) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), false, true);
    w.raw(format!("REDIS{version:04}").as_bytes()).unwrap();
    w.byte(opcode::SELECTDB).unwrap();
    w.len(0).unwrap();
    body(&mut w);
    w.finish().unwrap();
    w.into_inner()
}

fn key(w: &mut RdbWriter<Vec<u8>>, t: u8, name: &str) {
    w.byte(t).unwrap();
    w.string(name.as_bytes()).unwrap();
}

fn load_into(bytes: &[u8]) -> Result<Engine, LoadError> {
    let engine = Engine::new(16);
    let o =
        LoadOptions { drop_expired: true, verify_checksum: true, policy: EvictionPolicy::NoEviction, progress: None };
    load(&mut EngineSink(&engine), bytes, bytes.len() as u64, &o, &mut |_| {})?;
    Ok(engine)
}

fn with_obj<R>(engine: &Engine, k: &str, f: impl FnOnce(&Object) -> R) -> R {
    let mut d = Db::new(engine, engine.keyspace.lock_keys([k.as_bytes()]), 0, 0);
    let e = d.peek_in(0, k.as_bytes()).unwrap().unwrap_or_else(|| panic!("{k} was not loaded"));
    match e.value() {
        ValueRef::Obj(o) => f(o),
        other => panic!("{k} is {other:?}"),
    }
}

fn list_items(engine: &Engine, k: &str) -> Vec<Vec<u8>> {
    with_obj(engine, k, |o| match o {
        Object::List(l) => l.iter().map(|e| e.to_vec()).collect(),
        _ => panic!("{k} is not a list"),
    })
}

fn hash_get(engine: &Engine, k: &str, field: &str) -> Option<Vec<u8>> {
    with_obj(engine, k, |o| match o {
        Object::Hash(h) => h.get(field.as_bytes()).map(|e| e.to_vec()),
        _ => panic!("{k} is not a hash"),
    })
}

fn set_has(engine: &Engine, k: &str, m: &str) -> bool {
    with_obj(engine, k, |o| match o {
        Object::Set(s) => s.contains(EElem::of(m.as_bytes())),
        _ => panic!("{k} is not a set"),
    })
}

fn zscore(engine: &Engine, k: &str, m: &str) -> Option<f64> {
    with_obj(engine, k, |o| match o {
        Object::ZSet(z) => z.score(m.as_bytes()),
        _ => panic!("{k} is not a zset"),
    })
}

fn encoding(engine: &Engine, k: &str) -> &'static str {
    with_obj(engine, k, |o| o.encoding())
}

fn b(s: &str) -> Elem {
    Elem::Bytes(s.as_bytes().to_vec())
}

#[test]
fn plain_encodings_of_rdb_6() {
    let bytes = file(6, |w| {
        key(w, rdb_type::LIST, "list");
        w.len(3).unwrap();
        for s in ["a", "12", "c"] {
            w.string(s.as_bytes()).unwrap();
        }
        key(w, rdb_type::SET, "set");
        w.len(2).unwrap();
        w.string(b"x").unwrap();
        w.string(b"7").unwrap();
        key(w, rdb_type::ZSET, "zset");
        w.len(3).unwrap();
        w.string(b"m1").unwrap();
        w.raw(b"\x031.5").unwrap();
        w.string(b"m2").unwrap();
        w.byte(254).unwrap();
        w.string(b"m3").unwrap();
        w.byte(255).unwrap();
        key(w, rdb_type::HASH, "hash");
        w.len(1).unwrap();
        w.string(b"f").unwrap();
        w.string(b"v").unwrap();
        // The old seconds-resolution expiry, far in the future.
        w.byte(opcode::EXPIRETIME).unwrap();
        w.raw(&2_000_000_000i32.to_le_bytes()).unwrap();
        key(w, rdb_type::STRING, "str");
        w.string(b"hello").unwrap();
    });
    let e = load_into(&bytes).unwrap();
    assert_eq!(list_items(&e, "list"), vec![b"a".to_vec(), b"12".to_vec(), b"c".to_vec()]);
    assert!(set_has(&e, "set", "x") && set_has(&e, "set", "7"));
    assert_eq!(zscore(&e, "zset", "m1"), Some(1.5));
    assert_eq!(zscore(&e, "zset", "m2"), Some(f64::INFINITY));
    assert_eq!(zscore(&e, "zset", "m3"), Some(f64::NEG_INFINITY));
    assert_eq!(hash_get(&e, "hash", "f"), Some(b"v".to_vec()));
    let mut d = Db::new(&e, e.keyspace.lock_keys([&b"str"[..]]), 0, 0);
    assert_eq!(d.peek_in(0, b"str").unwrap().unwrap().expire_ms(), Some(2_000_000_000_000));
}

#[test]
fn zipmap_ziplist_intset_and_quicklist_blobs() {
    let bytes = file(9, |w| {
        key(w, rdb_type::HASH_ZIPMAP, "zipmap");
        w.string(b"\x02\x01a\x01\x001\x02bb\x02\x0122x\xff").unwrap();
        key(w, rdb_type::LIST_ZIPLIST, "zl-list");
        w.string(&ziplist::build(&[b("one"), Elem::Int(2), Elem::Int(-70000)])).unwrap();
        key(w, rdb_type::SET_INTSET, "intset");
        w.string(&intset::encode(&[-5, 3, 1 << 40])).unwrap();
        key(w, rdb_type::ZSET_ZIPLIST, "zl-zset");
        w.string(&ziplist::build(&[b("a"), Elem::Int(1), b("b"), b("2.5")])).unwrap();
        key(w, rdb_type::HASH_ZIPLIST, "zl-hash");
        w.string(&ziplist::build(&[b("f1"), b("v1"), Elem::Int(5), Elem::Int(6)])).unwrap();
        key(w, rdb_type::LIST_QUICKLIST, "quicklist");
        w.len(3).unwrap();
        w.string(&ziplist::build(&[b("h1"), b("h2")])).unwrap();
        w.string(&ziplist::build(&[])).unwrap();
        w.string(&ziplist::build(&[Elem::Int(3)])).unwrap();
    });
    let e = load_into(&bytes).unwrap();
    assert_eq!(hash_get(&e, "zipmap", "bb"), Some(b"22".to_vec()));
    assert_eq!(encoding(&e, "zipmap"), "listpack");
    assert_eq!(list_items(&e, "zl-list"), vec![b"one".to_vec(), b"2".to_vec(), b"-70000".to_vec()]);
    assert!(set_has(&e, "intset", "1099511627776") && set_has(&e, "intset", "-5"));
    assert_eq!(encoding(&e, "intset"), "intset");
    assert_eq!(zscore(&e, "zl-zset", "b"), Some(2.5));
    assert_eq!(hash_get(&e, "zl-hash", "5"), Some(b"6".to_vec()));
    assert_eq!(list_items(&e, "quicklist"), vec![b"h1".to_vec(), b"h2".to_vec(), b"3".to_vec()]);
}

#[test]
fn listpack_encodings_and_quicklist_2_plain_nodes() {
    let lp = |items: &[&str]| {
        let mut l = listpack::Builder::new();
        for i in items {
            l.push_str(i.as_bytes());
        }
        l.finish()
    };
    let bytes = file(11, |w| {
        key(w, rdb_type::LIST_QUICKLIST_2, "ql2");
        w.len(2).unwrap();
        w.len(super::QUICKLIST_NODE_PACKED).unwrap();
        w.string(&lp(&["p1", "22"])).unwrap();
        w.len(super::QUICKLIST_NODE_PLAIN).unwrap();
        w.string(b"a plain node").unwrap();
        key(w, rdb_type::SET_LISTPACK, "setlp");
        w.string(&lp(&["m", "9"])).unwrap();
        key(w, rdb_type::HASH_LISTPACK, "hashlp");
        w.string(&lp(&["f", "v"])).unwrap();
        key(w, rdb_type::ZSET_LISTPACK, "zsetlp");
        w.string(&lp(&["a", "-1", "b", "inf"])).unwrap();
    });
    let e = load_into(&bytes).unwrap();
    assert_eq!(list_items(&e, "ql2"), vec![b"p1".to_vec(), b"22".to_vec(), b"a plain node".to_vec()]);
    assert!(set_has(&e, "setlp", "m") && set_has(&e, "setlp", "9"));
    assert_eq!(hash_get(&e, "hashlp", "f"), Some(b"v".to_vec()));
    assert_eq!(zscore(&e, "zsetlp", "b"), Some(f64::INFINITY));
}

#[test]
fn thresholds_convert_loaded_values_as_redis_does() {
    let bytes = file(9, |w| {
        key(w, rdb_type::SET_INTSET, "big-intset");
        let v: Vec<i64> = (0..600).collect();
        w.string(&intset::encode(&v)).unwrap();
        key(w, rdb_type::HASH_ZIPLIST, "long-value");
        w.string(&ziplist::build(&[b("f"), Elem::Bytes(vec![b'x'; 100])])).unwrap();
    });
    let e = load_into(&bytes).unwrap();
    assert_eq!(encoding(&e, "big-intset"), "hashtable");
    assert_eq!(encoding(&e, "long-value"), "hashtable");
}

fn refused(body: impl FnOnce(&mut RdbWriter<Vec<u8>>)) -> RdbError {
    match load_into(&file(10, body)) {
        Ok(_) => panic!("loaded a file that must be refused"),
        Err(e) => e.error,
    }
}

#[test]
fn duplicates_and_foreign_types_are_refused() {
    let e = refused(|w| {
        key(w, rdb_type::SET, "s");
        w.len(2).unwrap();
        w.string(b"a").unwrap();
        w.string(b"a").unwrap();
    });
    assert!(matches!(e, RdbError::Corrupt(ref m) if m.contains("Duplicate set members")), "{e}");
    let e = refused(|w| {
        key(w, rdb_type::HASH_ZIPLIST, "h");
        w.string(&ziplist::build(&[b("f"), b("1"), b("f"), b("2")])).unwrap();
    });
    assert!(matches!(e, RdbError::Corrupt(ref m) if m.contains("Duplicate hash fields")), "{e}");
    let e = refused(|w| {
        for _ in 0..2 {
            key(w, rdb_type::STRING, "k");
            w.string(b"v").unwrap();
        }
    });
    assert!(matches!(e, RdbError::Corrupt(ref m) if m.contains("duplicated key")), "{e}");
    let e = refused(|w| {
        key(w, rdb_type::STREAM_LISTPACKS_2, "st");
    });
    assert!(matches!(e, RdbError::Unsupported(ref m) if m.contains("stream")), "{e}");
    let e = refused(|w| {
        w.byte(opcode::FUNCTION2).unwrap();
        w.string(b"#!lua name=lib\n").unwrap();
    });
    assert!(matches!(e, RdbError::Unsupported(ref m) if m.contains("functions")), "{e}");
    let e = refused(|w| {
        key(w, rdb_type::ZSET_2, "z");
        w.len(1).unwrap();
        w.string(b"m").unwrap();
        w.binary_double(f64::NAN).unwrap();
    });
    assert!(matches!(e, RdbError::Corrupt(ref m) if m.contains("NAN")), "{e}");
    let e = refused(|w| {
        key(w, 99, "x");
    });
    assert!(matches!(e, RdbError::Corrupt(ref m) if m.contains("Unknown RDB encoding type 99")), "{e}");
}

#[test]
fn empty_collections_are_skipped_not_loaded() {
    let bytes = file(9, |w| {
        key(w, rdb_type::LIST_ZIPLIST, "empty");
        w.string(&ziplist::build(&[])).unwrap();
        key(w, rdb_type::STRING, "kept");
        w.string(b"v").unwrap();
    });
    let e = load_into(&bytes).unwrap();
    assert_eq!(e.keyspace.count(0).0, 1);
}
