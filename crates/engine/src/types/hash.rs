//! A hash: `listpack` while small, `hashtable` beyond `hash-max-listpack-*`.
//!
//! The small form is a [`Packed`] array of field, value, field, value...; the large
//! one a [`Table`] of [`Pair`]s. The conversion rules are Redis 7.0's (`t_hash.c`):
//! - before HSET/HMSET/HSETNX write anything, a field or value longer than
//!   `hash-max-listpack-value`, or a write that would take the array past
//!   [`SAFETY_BYTES`](super::packed::SAFETY_BYTES), converts ([`Hash::convert_for`], Redis's
//!   `hashTypeTryConversion`);
//! - every write checks its own field and value lengths again (this is what converts
//!   on a long HINCRBY field or a long HINCRBYFLOAT result), then the entry count
//!   against `hash-max-listpack-entries` once a field was added ([`Hash::set`]);
//! - a hash never converts back, and an empty hash is never stored (the commands
//!   delete the key instead).
//!
//! The listpack form keeps Redis's order (new fields at the end, an update in place),
//! so HGETALL, HKEYS and the whole-hash cases of HRANDFIELD answer in the same order
//! as Redis; the table's order is its own, as a dict's is.

use super::packed::{self, Elem, Packed};
use super::table::{Full, Keyed, Table};
use crate::digest::{mix_digest, xor_digest, Digest};
use crate::varint;

/// The conversion thresholds, read from the config knobs once per command.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    /// `hash-max-listpack-entries`
    pub max_entries: usize,
    /// `hash-max-listpack-value`
    pub max_value: usize,
}

impl HashLimits {
    pub fn of(knobs: &crate::Knobs) -> HashLimits {
        use std::sync::atomic::Ordering::Relaxed;
        HashLimits {
            max_entries: knobs.hash_max_listpack_entries.load(Relaxed),
            max_value: knobs.hash_max_listpack_value.load(Relaxed),
        }
    }
}

/// A field and its value in one allocation: varint field length, field, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair(Box<[u8]>);

impl Pair {
    pub fn new(field: &[u8], value: &[u8]) -> Pair {
        let mut b = Vec::with_capacity(varint::len(field.len()) + field.len() + value.len());
        varint::push(&mut b, field.len());
        b.extend_from_slice(field);
        b.extend_from_slice(value);
        Pair(b.into_boxed_slice())
    }

    fn split(&self) -> (&[u8], &[u8]) {
        let (n, used) = varint::read(&self.0);
        self.0[used..].split_at(n)
    }

    pub fn field(&self) -> &[u8] {
        self.split().0
    }

    pub fn value(&self) -> &[u8] {
        self.split().1
    }

    fn set_value(&mut self, value: &[u8]) {
        let (n, used) = varint::read(&self.0);
        let start = used + n;
        if self.0.len() - start == value.len() {
            // Same length (a counter, a fixed-size value): no new allocation.
            self.0[start..].copy_from_slice(value);
        } else {
            *self = Pair::new(self.field(), value);
        }
    }
}

impl Keyed for Pair {
    fn key(&self) -> &[u8] {
        self.field()
    }
    fn heap_bytes(&self) -> usize {
        self.0.len()
    }
}

/// A hash: `listpack` while small, `hashtable` beyond `hash-max-listpack-*`.
///
/// Kept to 24 bytes, so that it never makes [`crate::value::Object`] (allocated for
/// every collection key) larger than a `raw` string already makes it.
#[derive(Debug, Clone)]
pub enum Hash {
    /// Fields and values alternating.
    Pack(Packed),
    Table(Box<Table<Pair>>),
}

const _: () = assert!(std::mem::size_of::<Hash>() <= 24);

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Packed::new())
    }
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    /// What OBJECT ENCODING answers.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.len() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<Elem<'_>> {
        match self {
            Hash::Pack(p) => {
                let off = p.find(&Elem::of(field), 2)?;
                let (_, value_off) = p.at(off);
                Some(p.at(value_off).0)
            }
            Hash::Table(t) => t.get(field).map(|pair| Elem::Str(pair.value())),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => p.find(&Elem::of(field), 2).is_some(),
            Hash::Table(t) => t.contains(field),
        }
    }

    /// Converts to a table if any of `args` (the fields and values about to be
    /// written) is too long for the listpack, or all of them together would take it
    /// past [`SAFETY_BYTES`](super::packed::SAFETY_BYTES) (Redis's `hashTypeTryConversion`).
    pub fn convert_for<'a>(&mut self, args: impl IntoIterator<Item = &'a [u8]>, limits: HashLimits) {
        let Hash::Pack(p) = self else { return };
        let mut sum = 0usize;
        for a in args {
            if a.len() > limits.max_value {
                self.convert();
                return;
            }
            sum = sum.saturating_add(a.len());
        }
        if !p.safe_to_add(sum) {
            self.convert();
        }
    }

    /// Sets `field` to `value`; true if the field is new (Redis's `hashTypeSet`, with
    /// its conversions: see the module doc).
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> Result<bool, Full> {
        if let Hash::Pack(p) = self {
            let too_long = field.len() > limits.max_value || value.len() > limits.max_value;
            // The safety check also bounds the element count far below u32.
            if too_long || !p.safe_to_add(field.len() + value.len() + 2 * 10) {
                self.convert();
            }
        }
        match self {
            Hash::Pack(p) => {
                let f = Elem::of(field);
                if let Some(off) = p.find(&f, 2) {
                    let (_, value_off) = p.at(off);
                    p.replace(value_off, Elem::of(value));
                    return Ok(false);
                }
                p.push(&[f, Elem::of(value)]);
                if p.len() / 2 > limits.max_entries {
                    self.convert();
                }
                Ok(true)
            }
            Hash::Table(t) => {
                let (pair, created) = t.get_or_insert_with(field, || Pair::new(field, value))?;
                if !created {
                    pair.set_value(value);
                }
                Ok(created)
            }
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => match p.find(&Elem::of(field), 2) {
                Some(off) => {
                    p.remove(off, 2);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.remove(field).is_some(),
        }
    }

    /// The listpack's pairs moved into a table (Redis's `hashTypeConvert`).
    fn convert(&mut self) {
        let Hash::Pack(p) = self else { return };
        let mut t = Table::with_capacity(p.len() / 2);
        let mut scratch = ([0u8; 20], [0u8; 20]);
        for (f, v) in PackPairs(p.iter()) {
            let pair = Pair::new(f.bytes(&mut scratch.0), v.bytes(&mut scratch.1));
            // A listpack holds far fewer pairs than a table's limit.
            if t.insert_new(pair).is_err() {
                debug_assert!(false, "listpack larger than a table");
                break;
            }
        }
        *self = Hash::Table(Box::new(t));
    }

    /// Every field with its value, in the encoding's order.
    pub fn iter(&self) -> impl Iterator<Item = (Elem<'_>, Elem<'_>)> + '_ {
        let (pack, table) = match self {
            Hash::Pack(p) => (Some(PackPairs(p.iter())), None),
            Hash::Table(t) => (None, Some(t.iter().map(|pair| (Elem::Str(pair.field()), Elem::Str(pair.value()))))),
        };
        pack.into_iter().flatten().chain(table.into_iter().flatten())
    }

    /// Random access to the pairs by index (`0..len()`), for random picks: O(1) per
    /// pick once built (a listpack is indexed once, in O(n)).
    pub fn indexed(&self) -> IndexedPairs<'_> {
        match self {
            Hash::Pack(p) => IndexedPairs::Pack(PackPairs(p.iter()).collect()),
            Hash::Table(t) => IndexedPairs::Table(t),
        }
    }

    /// One SCAN call: a listpack is returned whole with cursor 0, as Redis does; a
    /// table is walked bucket by bucket until about `count` fields and values were
    /// produced (Redis's `scanGenericCommand`). Returns the next cursor.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(Elem<'a>, Elem<'a>)) -> u64 {
        match self {
            Hash::Pack(_) => {
                self.iter().for_each(|(k, v)| f(k, v));
                0
            }
            Hash::Table(t) => {
                t.scan_batch(cursor, count, 2, |pair| f(Elem::Str(pair.field()), Elem::Str(pair.value())))
            }
        }
    }

    /// Mixes the contents into a DEBUG DIGEST as Redis does for this type (rules in
    /// `digest::xor_object_digest`): per pair, `e = mix(mix(0, field), value)`, then
    /// `xor(e)`.
    pub fn mix_digest(&self, d: &mut Digest) {
        let mut scratch = [0u8; 20];
        for (f, v) in self.iter() {
            let mut e = Digest::default();
            mix_digest(&mut e, f.bytes(&mut scratch));
            mix_digest(&mut e, v.bytes(&mut scratch));
            xor_digest(d, &e);
        }
    }

    /// Heap bytes held (for eviction's estimate). O(n) for a table.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Hash::Pack(p) => p.byte_len(),
            Hash::Table(t) => std::mem::size_of::<Table<Pair>>() + t.heap_bytes(),
        }
    }
}

/// Pairs of consecutive elements of a listpack.
struct PackPairs<'a>(packed::Iter<'a>);

impl<'a> Iterator for PackPairs<'a> {
    type Item = (Elem<'a>, Elem<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (_, f) = self.0.next()?;
        let (_, v) = self.0.next()?;
        Some((f, v))
    }
}

/// The pairs of a hash by index; see [`Hash::indexed`].
pub enum IndexedPairs<'a> {
    Pack(Vec<(Elem<'a>, Elem<'a>)>),
    Table(&'a Table<Pair>),
}

impl<'a> IndexedPairs<'a> {
    pub fn len(&self) -> usize {
        match self {
            IndexedPairs::Pack(v) => v.len(),
            IndexedPairs::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pair `i` (`0..len()`).
    pub fn get(&self, i: usize) -> (Elem<'a>, Elem<'a>) {
        match self {
            IndexedPairs::Pack(v) => v[i],
            IndexedPairs::Table(t) => {
                let pair = t.at(i);
                (Elem::Str(pair.field()), Elem::Str(pair.value()))
            }
        }
    }

    /// True when index order is the encoding's own order (a listpack), which Redis
    /// keeps when it answers with distinct random fields.
    pub fn ordered(&self) -> bool {
        matches!(self, IndexedPairs::Pack(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HashLimits = HashLimits { max_entries: 4, max_value: 8 };

    fn texts(h: &Hash) -> Vec<(Vec<u8>, Vec<u8>)> {
        h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn listpack_keeps_order_and_updates_in_place() {
        let mut h = Hash::new();
        assert_eq!(h.set(b"z", b"1", LIMITS), Ok(true));
        assert_eq!(h.set(b"y", b"two", LIMITS), Ok(true));
        assert_eq!(h.set(b"z", b"-100", LIMITS), Ok(false));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(texts(&h), vec![(b"z".to_vec(), b"-100".to_vec()), (b"y".to_vec(), b"two".to_vec())]);
        assert_eq!(h.get(b"z"), Some(Elem::Int(-100)));
        assert!(h.remove(b"z") && !h.remove(b"z"));
        assert_eq!(h.len(), 1);
        assert!(h.contains(b"y") && !h.contains(b"z"));
    }

    #[test]
    fn converts_on_count_and_on_length() {
        let mut h = Hash::new();
        for f in ["a", "b", "c", "d"] {
            h.set(f.as_bytes(), b"v", LIMITS).unwrap();
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"e", b"v", LIMITS).unwrap();
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"a"), Some(Elem::Str(b"v")));

        let mut h = Hash::new();
        h.set(b"a", b"12345678", LIMITS).unwrap();
        assert_eq!(h.encoding(), "listpack");
        h.set(b"a", b"123456789", LIMITS).unwrap();
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(Elem::Str(b"123456789")));

        let mut h = Hash::new();
        h.set(b"a", b"1", LIMITS).unwrap();
        h.convert_for([&b"b"[..], b"a very long value"], LIMITS);
        assert_eq!(h.encoding(), "hashtable");
        // Updating and deleting in the table never converts back.
        assert!(h.remove(b"a"));
        assert_eq!(h.encoding(), "hashtable");
    }

    /// Random writes checked against a map, across the conversion.
    #[test]
    fn random_operations_match_a_model() {
        let mut model = std::collections::HashMap::new();
        let mut h = Hash::new();
        let limits = HashLimits { max_entries: 40, max_value: 12 };
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for step in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let field = format!("{}", x % 60).into_bytes();
            let value = if x.is_multiple_of(97) { vec![b'v'; 20] } else { (x % 1000).to_string().into_bytes() };
            if x.is_multiple_of(3) {
                assert_eq!(h.remove(&field), model.remove(&field).is_some(), "step {step}");
            } else {
                assert_eq!(h.set(&field, &value, limits), Ok(model.insert(field.clone(), value).is_none()));
            }
            assert_eq!(h.len(), model.len());
        }
        let mut got: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        let mut want: Vec<_> = model.into_iter().collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn pairs_and_indexing() {
        let p = Pair::new(b"field", b"\x00value");
        assert_eq!(p.field(), b"field");
        assert_eq!(p.value(), b"\x00value");
        let mut h = Hash::new();
        h.set(b"f1", b"v1", LIMITS).unwrap();
        h.set(b"f2", b"22", LIMITS).unwrap();
        let ix = h.indexed();
        assert_eq!(ix.len(), 2);
        assert_eq!(ix.get(1), (Elem::Str(b"f2"), Elem::Int(22)));
        assert!(ix.ordered());
    }
}
