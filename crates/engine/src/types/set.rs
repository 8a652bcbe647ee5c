//! A set: `intset` while small and all integers, `hashtable` otherwise.
//!
//! The data structure is built with the data-types issue (#3); until then the type
//! exists so `Object` has its final shape, and no command creates one.

/// A set: `intset` while small and all integers, `hashtable` otherwise.
#[derive(Debug, Clone, Default)]
pub struct Set {}

impl Set {
    /// What OBJECT ENCODING answers.
    pub fn encoding(&self) -> &'static str {
        "intset"
    }

    /// Mixes the contents into a DEBUG DIGEST as Redis does for this type (rules in
    /// `digest::xor_object_digest`).
    pub fn mix_digest(&self, _d: &mut crate::digest::Digest) {}

    /// Heap bytes held (for eviction's estimate).
    pub fn heap_bytes(&self) -> usize {
        0
    }
}
