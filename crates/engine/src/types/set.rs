//! A set: `intset` while small and all integers, `hashtable` otherwise.
//!
//! Redis 7.0's rules (`t_set.c`): a new set is an [`IntSet`] if its first member is an
//! integer (canonical text, as `string2ll` reads it) and a [`Table`] otherwise; adding
//! a member that is not an integer, or going past `set-max-intset-entries`, converts
//! the intset to a table, and a table never converts back. The results of SINTERSTORE,
//! SUNIONSTORE, SDIFFSTORE and SPOP start as an empty intset and are filled member by
//! member ([`Set::build`]), so their encoding follows from their members.
//!
//! An intset iterates in ascending order, which is what Redis answers for SMEMBERS,
//! SUNION and friends on such sets; a table iterates in its own order.

use super::intset::IntSet;
use super::packed::{int_of, Elem};
use super::table::{Full, Keyed, Table};
use crate::digest::{xor_digest, Digest};

/// A member of a table-encoded set.
impl Keyed for Box<[u8]> {
    fn key(&self) -> &[u8] {
        self
    }
    fn heap_bytes(&self) -> usize {
        self.len()
    }
}

/// A set: `intset` while small and all integers, `hashtable` otherwise.
///
/// Kept to 24 bytes, so that it never makes [`crate::value::Object`] (allocated for
/// every collection key) larger than a `raw` string already makes it.
#[derive(Debug, Clone)]
pub enum Set {
    Ints(IntSet),
    Table(Box<Table<Box<[u8]>>>),
}

const _: () = assert!(std::mem::size_of::<Set>() <= 24);

impl Set {
    /// An empty set of the encoding Redis would create for a first member `first`
    /// (`setTypeCreate`).
    pub fn new_for(first: Elem<'_>) -> Set {
        match first {
            Elem::Int(_) => Set::Ints(IntSet::new()),
            Elem::Str(b) if int_of(b).is_some() => Set::Ints(IntSet::new()),
            Elem::Str(_) => Set::Table(Box::default()),
        }
    }

    /// An empty intset: where Redis starts the result of a set operation.
    pub fn empty() -> Set {
        Set::Ints(IntSet::new())
    }

    /// The set of `members`, added one by one to an empty intset, as Redis builds the
    /// result of a set operation.
    pub fn build<'a>(members: impl IntoIterator<Item = Elem<'a>>, max_intset: usize) -> Result<Set, Full> {
        let mut s = Set::empty();
        for m in members {
            s.insert(m, max_intset)?;
        }
        Ok(s)
    }

    /// What OBJECT ENCODING answers.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, m: Elem<'_>) -> bool {
        match (self, m) {
            (Set::Ints(s), Elem::Int(v)) => s.contains(v),
            (Set::Ints(s), Elem::Str(b)) => int_of(b).is_some_and(|v| s.contains(v)),
            (Set::Table(t), m) => {
                let mut scratch = [0u8; 20];
                t.contains(m.bytes(&mut scratch))
            }
        }
    }

    /// Adds `m`; true if it is new (Redis's `setTypeAdd`, with its conversions).
    pub fn insert(&mut self, m: Elem<'_>, max_intset: usize) -> Result<bool, Full> {
        let int = match m {
            Elem::Int(v) => Some(v),
            Elem::Str(b) => int_of(b),
        };
        if let Set::Ints(s) = self {
            match int {
                Some(v) => {
                    if !s.insert(v) {
                        return Ok(false);
                    }
                    if s.len() > max_intset {
                        self.convert();
                    }
                    return Ok(true);
                }
                None => self.convert(),
            }
        }
        let Set::Table(t) = self else { return Ok(false) };
        let mut scratch = [0u8; 20];
        let bytes = m.bytes(&mut scratch);
        Ok(t.get_or_insert_with(bytes, || bytes.into())?.1)
    }

    /// Removes `m`; true if it was a member.
    pub fn remove(&mut self, m: Elem<'_>) -> bool {
        match (self, m) {
            (Set::Ints(s), Elem::Int(v)) => s.remove(v),
            (Set::Ints(s), Elem::Str(b)) => int_of(b).is_some_and(|v| s.remove(v)),
            (Set::Table(t), m) => {
                let mut scratch = [0u8; 20];
                t.remove(m.bytes(&mut scratch)).is_some()
            }
        }
    }

    /// The intset's members moved into a table (Redis's `setTypeConvert`).
    fn convert(&mut self) {
        let Set::Ints(s) = self else { return };
        let mut t = Table::with_capacity(s.len());
        let mut scratch = [0u8; 20];
        for v in s.iter() {
            let text: Box<[u8]> = crate::value::format_i64(v, &mut scratch).into();
            // An intset holds far fewer members than a table's limit.
            if t.insert_new(text).is_err() {
                debug_assert!(false, "intset larger than a table");
                break;
            }
        }
        *self = Set::Table(Box::new(t));
    }

    /// Member `i` (`0..len()`) in an order with O(1) access, for uniform random picks.
    pub fn at(&self, i: usize) -> Elem<'_> {
        match self {
            Set::Ints(s) => Elem::Int(s.get(i)),
            Set::Table(t) => Elem::Str(t.at(i)),
        }
    }

    /// Removes member `i` (as numbered by [`Set::at`]) and returns its text.
    pub fn remove_at(&mut self, i: usize) -> Vec<u8> {
        match self {
            Set::Ints(s) => s.remove_at(i).to_string().into_bytes(),
            Set::Table(t) => t.remove_at(i).into_vec(),
        }
    }

    /// Every member, in the encoding's order (ascending for an intset).
    pub fn iter(&self) -> impl Iterator<Item = Elem<'_>> + '_ {
        let (ints, table) = match self {
            Set::Ints(s) => (Some(s.iter().map(Elem::Int)), None),
            Set::Table(t) => (None, Some(t.iter().map(|m| Elem::Str(m)))),
        };
        ints.into_iter().flatten().chain(table.into_iter().flatten())
    }

    /// One SSCAN call: an intset is returned whole with cursor 0, as Redis does; a
    /// table is walked bucket by bucket until about `count` members were produced.
    /// Returns the next cursor.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(Elem<'a>)) -> u64 {
        match self {
            Set::Ints(_) => {
                self.iter().for_each(f);
                0
            }
            Set::Table(t) => t.scan_batch(cursor, count, 1, |m| f(Elem::Str(m))),
        }
    }

    /// Mixes the contents into a DEBUG DIGEST as Redis does for this type (rules in
    /// `digest::xor_object_digest`): `xor(member)` for each member.
    pub fn mix_digest(&self, d: &mut Digest) {
        let mut scratch = [0u8; 20];
        for m in self.iter() {
            xor_digest(d, m.bytes(&mut scratch));
        }
    }

    /// Heap bytes held (for eviction's estimate). O(n) for a table.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(s) => s.byte_len(),
            Set::Table(t) => std::mem::size_of::<Table<Box<[u8]>>>() + t.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: &Set) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn intset_until_a_string_or_too_many() {
        let mut s = Set::new_for(Elem::of(b"3"));
        for m in ["3", "1", "-2", "1"] {
            s.insert(Elem::of(m.as_bytes()), 3).unwrap();
        }
        assert_eq!(s.encoding(), "intset");
        assert_eq!(members(&s), vec![b"-2".to_vec(), b"1".to_vec(), b"3".to_vec()]);
        assert!(s.contains(Elem::Str(b"1")) && s.contains(Elem::Int(3)) && !s.contains(Elem::Str(b"01")));
        assert_eq!(s.insert(Elem::of(b"4"), 3), Ok(true));
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 4);
        assert!(s.contains(Elem::Int(-2)) && s.contains(Elem::Str(b"4")));
        assert!(s.remove(Elem::Int(4)) && !s.remove(Elem::Int(4)));
        assert_eq!(s.encoding(), "hashtable");

        let mut s = Set::new_for(Elem::of(b"1"));
        s.insert(Elem::of(b"1"), 512).unwrap();
        s.insert(Elem::of(b"a"), 512).unwrap();
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(Elem::Int(1)) && s.contains(Elem::Str(b"a")));
        assert_eq!(Set::new_for(Elem::of(b"-0")).encoding(), "hashtable");
    }

    /// Random adds and removes checked against a set, across the conversion.
    #[test]
    fn random_operations_match_a_model() {
        let mut model = std::collections::BTreeSet::new();
        let mut s = Set::empty();
        let mut x: u64 = 0x2545f4914f6cdd1d;
        for step in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = if x.is_multiple_of(50) { format!("s{}", x % 7) } else { ((x % 300) as i64 - 150).to_string() };
            if x.is_multiple_of(3) {
                assert_eq!(s.remove(Elem::Str(m.as_bytes())), model.remove(&m), "step {step}");
            } else {
                assert_eq!(s.insert(Elem::Str(m.as_bytes()), 100), Ok(model.insert(m.clone())), "step {step}");
            }
            assert_eq!(s.len(), model.len());
            if !s.is_empty() && x.is_multiple_of(11) {
                let i = (x as usize / 11) % s.len();
                let gone = String::from_utf8(s.remove_at(i)).unwrap();
                assert!(model.remove(&gone), "step {step}: {gone}");
            }
        }
        let got: std::collections::BTreeSet<String> =
            s.iter().map(|m| String::from_utf8(m.to_vec()).unwrap()).collect();
        assert_eq!(got, model);
    }

    #[test]
    fn build_follows_the_members() {
        let ints = [Elem::Int(5), Elem::Int(-1)];
        assert_eq!(Set::build(ints, 512).unwrap().encoding(), "intset");
        assert_eq!(Set::build(ints, 1).unwrap().encoding(), "hashtable");
        assert_eq!(Set::build([Elem::Int(1), Elem::Str(b"x")], 512).unwrap().encoding(), "hashtable");
        let mut s = Set::build(ints, 512).unwrap();
        assert_eq!(s.remove_at(0), b"-1".to_vec());
        assert_eq!(s.at(0), Elem::Int(5));
    }
}
