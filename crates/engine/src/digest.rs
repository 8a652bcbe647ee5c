//! DEBUG DIGEST and DEBUG DIGEST-VALUE: a SHA1-based fingerprint of the data, computed
//! exactly as Redis 7.0 does (`debug.c`), so that the same dataset gives the same 40 hex
//! digits on Redoubt and on Redis and two servers can be compared with one command.
//!
//! Two primitives build everything (both keep a 20-byte running digest `d`):
//! - [`xor_digest`]: `d ^= SHA1(data)`. XOR commutes, so unordered things (the keys of
//!   a database, the members of a set, the fields of a hash) give one result whatever
//!   order a table happens to hold them in;
//! - [`mix_digest`]: `d = SHA1(d ^ SHA1(data))`. Order matters, and "foo","bar" differs
//!   from "fo","obar"; used for the parts of one key and for list elements.
//!
//! The dataset digest starts at 20 zero bytes. For every non-empty database `j`, in
//! ascending order, it mixes in `j` as a 4-byte big-endian integer, then, for each of
//! its keys, computes a fresh digest `k` (`mix(key name)`, then [`xor_object_digest`]:
//! the type, the value, the expiry marker) and does `xor(k)`, which XORs in SHA1(k),
//! not `k` itself. An empty dataset therefore gives 40 zeros.
//!
//! Like Redis, neither digest expires anything: a key past its expiry that has not been
//! deleted yet is still part of the data.

use sha1_smol::Sha1;

use crate::entry::EntryRef;
use crate::exec::Db;
use crate::keyspace::SHARDS;
use crate::value::{Object, StrRef, ValueRef};

/// A running digest: 20 bytes, all zero at the start.
pub type Digest = [u8; 20];

/// Redis's `OBJ_*` type codes, which are part of the digest of every key.
mod type_code {
    pub const STRING: u32 = 0;
    pub const LIST: u32 = 1;
    pub const SET: u32 = 2;
    pub const ZSET: u32 = 3;
    pub const HASH: u32 = 4;
    // MODULE = 5, STREAM = 6. See `xor_object_digest` for how each type's contents
    // enter the digest.
}

/// Redis adds this string (without a terminator) to the digest of a key with an expiry;
/// the expiry time itself is not part of the digest.
const EXPIRE_MARKER: &[u8] = b"!!expire!!";

/// `d ^= SHA1(data)` (Redis's `xorDigest`).
pub fn xor_digest(d: &mut Digest, data: &[u8]) {
    let h = Sha1::from(data).digest().bytes();
    d.iter_mut().zip(h).for_each(|(a, b)| *a ^= b);
}

/// `d = SHA1(d ^ SHA1(data))` (Redis's `mixDigest`).
pub fn mix_digest(d: &mut Digest, data: &[u8]) {
    xor_digest(d, data);
    *d = Sha1::from(&d[..]).digest().bytes();
}

/// Mixes in a string in its textual form: an `int`-encoded string is digested as its
/// decimal text, as Redis's `getDecodedObject` does, so encodings never show.
fn mix_string(d: &mut Digest, s: StrRef<'_>) {
    let mut scratch = [0u8; 20];
    mix_digest(d, s.bytes(&mut scratch));
}

/// Adds one value (with its type and expiry marker, but not its key name) to `d`
/// (Redis's `xorObjectDigest`, which despite its name mixes the type and the value in
/// order and only XORs the expiry marker).
///
/// Per-type rules of Redis 7.0, checked against 7.0.15 with DEBUG DIGEST-VALUE, for the
/// types still to come (`mix` and `xor` as in the module doc; `e` is a fresh zero digest
/// per element, added with `xor(e)`, which like every `xor` adds SHA1(e)):
/// - list (1): `mix(element)` for each element, head to tail;
/// - set (2): `xor(member)` for each member;
/// - zset (3): `e = mix(mix(0, member), score)`, then `xor(e)`; the score is C's
///   `%.17g` (`0.1` is "0.10000000000000001", infinities "inf"/"-inf");
/// - hash (4): `e = mix(mix(0, field), value)`, then `xor(e)`;
/// - stream (6): for each entry, `mix("<ms>.<seq>")` then `mix(field)`, `mix(value)` for
///   each of its fields; consumer groups and PEL are not part of the digest;
/// - module (5): the module's digest callback, XORed in.
///
/// Integers inside collections (listpack ints, intset members) are digested as their
/// decimal text, like strings.
pub fn xor_object_digest(d: &mut Digest, entry: EntryRef<'_>) {
    let code = match entry.value() {
        ValueRef::Str(_) => type_code::STRING,
        ValueRef::Obj(o) => object_type_code(o),
    };
    mix_digest(d, &code.to_be_bytes());
    match entry.value() {
        ValueRef::Str(s) => mix_string(d, s),
        ValueRef::Obj(o) => mix_object(d, o),
    }
    if entry.expire_ms().is_some() {
        xor_digest(d, EXPIRE_MARKER);
    }
}

/// The Redis type code of a value held in an [`Object`].
fn object_type_code(o: &Object) -> u32 {
    match o {
        Object::Str(_) => type_code::STRING,
        Object::List(_) => type_code::LIST,
        Object::Set(_) => type_code::SET,
        Object::ZSet(_) => type_code::ZSET,
        Object::Hash(_) => type_code::HASH,
    }
}

/// Adds the contents of an [`Object`] to `d`, by type (see [`xor_object_digest`]).
fn mix_object(d: &mut Digest, o: &Object) {
    match o {
        Object::Str(b) => mix_string(d, StrRef::Raw(b)),
        Object::List(l) => l.mix_digest(d),
        Object::Set(s) => s.mix_digest(d),
        Object::ZSet(z) => z.mix_digest(d),
        Object::Hash(h) => h.mix_digest(d),
    }
}

/// The digest of one key: its name, then its value ([`xor_object_digest`]).
fn key_digest(entry: EntryRef<'_>) -> Digest {
    let mut d = Digest::default();
    mix_digest(&mut d, entry.key());
    xor_object_digest(&mut d, entry);
    d
}

/// DEBUG DIGEST-VALUE for one existing key: its value's digest, without the key name.
/// A missing key's digest is 20 zero bytes (the caller answers that without an entry).
/// The caller looks the key up without expiring it, as Redis does.
pub fn value_digest(entry: EntryRef<'_>) -> Digest {
    let mut d = Digest::default();
    xor_object_digest(&mut d, entry);
    d
}

/// DEBUG DIGEST: the digest of every database. The caller holds every shard lock (the
/// digest is of one instant); shards it does not hold are skipped, which can only
/// happen through a bug in the caller, never a deadlock.
pub fn dataset_digest(db: &mut Db<'_>) -> Digest {
    let mut total = Digest::default();
    for index in 0..db.engine.keyspace.databases() {
        let mut keys = Digest::default();
        let mut any = false;
        for shard in 0..SHARDS {
            let Some(part) = db.shard_part(index, shard) else {
                debug_assert!(false, "DEBUG DIGEST without shard {shard} locked");
                continue;
            };
            for (_, dict) in part.dicts(shard) {
                for entry in dict.iter() {
                    any = true;
                    xor_digest(&mut keys, &key_digest(entry));
                }
            }
        }
        // Redis mixes in the id of non-empty databases only, before their keys; the
        // keys' part is a plain XOR (their hashes were taken above), so it can be
        // added after the walk.
        if any {
            mix_digest(&mut total, &(index as u32).to_be_bytes());
            total.iter_mut().zip(keys).for_each(|(a, b)| *a ^= b);
        }
    }
    total
}

/// The 40 lowercase hex digits Redis replies with.
pub fn to_hex(d: &Digest) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(40);
    for b in d {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::exec::Expiry;
    use crate::value::NewValue;

    /// Digests produced by real Redis 7.0.15 (`DEBUG DIGEST`, `DEBUG DIGEST-VALUE`)
    /// after the same writes as `load` below.
    const REDIS_EMPTY: &str = "0000000000000000000000000000000000000000";
    const REDIS_ONE_KEY: &str = "7bba0c6c0ba7cf343554878a513cce31a28c4abb";
    const REDIS_FULL: &str = "97bf1a626b4a87f590c2503b11e71d3cf59d0d47";
    const REDIS_A_IN_DB1: &str = "630de78da9db91b28fafc7d4f8fcbcb3a69cbe09";
    const BIN_KEY: &[u8] = b"\x00\xffbin key";
    const REDIS_VALUES: &[(&[u8], &str)] = &[
        (b"a", "36b23a1456b2dce2c3ed252c456761301dba8060"),
        (b"n", "e1cf90774e995ae03de66e8109dc5cb9d9c2dc83"),
        (b"neg", "220f87802dc1eca9ffb9dd7f52e30f559e135f81"),
        (b"min", "4191566616a6d8b974bba999f8e82b3f2c8dcce0"),
        (b"lead0", "baf361afd23f2728edc67cf49c8002712883a1ec"),
        (b"big", "6942b9b71aaff9a398b7a2f898756f5e28dd3cd1"),
        (BIN_KEY, "065e6bab40eed128bfa57477e1dd09e86625a040"),
        (b"ttl", "311b17018163335616e089f6b951c82c477335ac"),
        (b"pttl_int", "b2fffeb5eb322d48ec77f4f949383d7cace23627"),
    ];

    fn digest_of(engine: &Engine) -> String {
        let mut db = Db::new(engine, engine.keyspace.lock_all(), 0, 0);
        to_hex(&dataset_digest(&mut db))
    }

    fn set(engine: &Engine, index: usize, key: &[u8], value: &[u8], expiry: Expiry) {
        let mut db = Db::new(engine, engine.keyspace.lock_keys([key]), index, 0);
        db.set_in(index, key, NewValue::string(value), expiry).unwrap();
    }

    /// The writes that gave the `REDIS_*` digests (TTLs differ from Redis's run: the
    /// expiry time is not part of the digest, only its presence).
    fn load(engine: &Engine) {
        set(engine, 0, b"n", b"12345", Expiry::Clear);
        set(engine, 0, b"neg", b"-7", Expiry::Clear);
        set(engine, 0, b"min", b"-9223372036854775808", Expiry::Clear);
        set(engine, 0, b"lead0", b"012", Expiry::Clear);
        set(engine, 0, b"big", &[b'x'; 100], Expiry::Clear);
        set(engine, 0, BIN_KEY, b"\x00\x01\r\n\xfe", Expiry::Clear);
        set(engine, 0, b"ttl", b"v", Expiry::At(i64::MAX / 2));
        set(engine, 0, b"pttl_int", b"42", Expiry::At(1));
        set(engine, 3, b"a", b"hello", Expiry::Clear);
        set(engine, 15, b"empty", b"", Expiry::Clear);
    }

    #[test]
    fn dataset_digest_matches_redis() {
        let engine = Engine::new(16);
        assert_eq!(digest_of(&engine), REDIS_EMPTY);
        set(&engine, 0, b"a", b"hello", Expiry::Clear);
        assert_eq!(digest_of(&engine), REDIS_ONE_KEY);
        load(&engine);
        assert_eq!(digest_of(&engine), REDIS_FULL);

        let moved = Engine::new(16);
        set(&moved, 1, b"a", b"hello", Expiry::Clear);
        assert_eq!(digest_of(&moved), REDIS_A_IN_DB1);
    }

    #[test]
    fn value_digest_matches_redis() {
        let engine = Engine::new(16);
        set(&engine, 0, b"a", b"hello", Expiry::Clear);
        load(&engine);
        let mut db = Db::new(&engine, engine.keyspace.lock_all(), 0, 0);
        for (key, want) in REDIS_VALUES {
            let e = db.peek_in(0, key).unwrap().unwrap();
            assert_eq!(to_hex(&value_digest(e)), *want, "key {:?}", String::from_utf8_lossy(key));
        }
        // The same value digests the same whatever its encoding (raw vs embstr vs int).
        let raw = crate::entry::Entry::new(b"k", NewValue::raw(b"hello".to_vec()), None, 0);
        assert_eq!(to_hex(&value_digest(raw.as_ref())), REDIS_VALUES[0].1);
        let raw_int = crate::entry::Entry::new(b"k", NewValue::raw(b"12345".to_vec()), None, 0);
        assert_eq!(to_hex(&value_digest(raw_int.as_ref())), REDIS_VALUES[1].1);
    }

    #[test]
    fn primitives_follow_their_definitions() {
        let mut a = Digest::default();
        xor_digest(&mut a, b"x");
        xor_digest(&mut a, b"y");
        let mut b = Digest::default();
        xor_digest(&mut b, b"y");
        xor_digest(&mut b, b"x");
        assert_eq!(a, b, "xor is order-independent");
        let (mut c, mut e) = (Digest::default(), Digest::default());
        mix_digest(&mut c, b"foo");
        mix_digest(&mut c, b"bar");
        mix_digest(&mut e, b"fo");
        mix_digest(&mut e, b"obar");
        assert_ne!(c, e, "mix separates its inputs");
        assert_eq!(to_hex(&[0xab; 20]).len(), 40);
    }
}
