//! Values and their encodings.
//!
//! Strings follow Redis's three encodings, which OBJECT ENCODING reports and which also
//! decide where the bytes live:
//! - `int`: a decimal integer that round-trips (`string2ll`), stored as a number;
//! - `embstr`: up to [`EMBSTR_MAX_BYTES`], stored inside the key's own allocation;
//! - `raw`: longer strings, and every string changed in place (APPEND, SETRANGE,
//!   SETBIT), in a growable buffer of their own so that appends are amortised O(1).
//!
//! Everything that is not an `int` or `embstr` string is an [`Object`] behind a pointer.

use redoubt_resp::number::parse_i64;

/// Longest string stored inline with its key (Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_MAX_BYTES: usize = 44;

/// A value that lives in its own allocation.
#[derive(Debug, Clone)]
pub enum Object {
    /// A `raw`-encoded string.
    Str(Vec<u8>),
    List(crate::types::list::List),
    Hash(crate::types::hash::Hash),
    Set(crate::types::set::Set),
    ZSet(crate::types::zset::ZSet),
}

// Every collection key allocates an `Object`: keep it small (a variant that grows past
// this belongs behind a Box).
const _: () = assert!(std::mem::size_of::<Object>() <= 56);

impl Object {
    pub fn value_type(&self) -> ValueType {
        match self {
            Object::Str(_) => ValueType::String,
            Object::List(_) => ValueType::List,
            Object::Hash(_) => ValueType::Hash,
            Object::Set(_) => ValueType::Set,
            Object::ZSet(_) => ValueType::ZSet,
        }
    }

    /// What OBJECT ENCODING answers, as Redis 7.0 would for the same data.
    pub fn encoding(&self) -> &'static str {
        match self {
            Object::Str(_) => "raw",
            Object::List(l) => l.encoding(),
            Object::Hash(h) => h.encoding(),
            Object::Set(s) => s.encoding(),
            Object::ZSet(z) => z.encoding(),
        }
    }

    /// Heap bytes held beyond the `Object` itself (for eviction's estimate of what a
    /// deletion frees).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Object::Str(b) => b.capacity(),
            Object::List(l) => l.heap_bytes(),
            Object::Hash(h) => h.heap_bytes(),
            Object::Set(s) => s.heap_bytes(),
            Object::ZSet(z) => z.heap_bytes(),
        }
    }
}

/// The type names TYPE reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
        }
    }
}

/// A value to be stored, before it is laid out in an entry.
#[derive(Debug)]
pub enum NewValue<'a> {
    Embstr(&'a [u8]),
    Int(i64),
    Obj(Box<Object>),
}

impl<'a> NewValue<'a> {
    /// The encoding Redis picks for a string written by SET and friends
    /// (`tryObjectEncoding`): an integer if it round-trips, else embstr or raw by size.
    pub fn string(bytes: &'a [u8]) -> NewValue<'a> {
        if bytes.len() <= 20 {
            if let Some(i) = parse_i64(bytes) {
                return NewValue::Int(i);
            }
        }
        if bytes.len() <= EMBSTR_MAX_BYTES {
            NewValue::Embstr(bytes)
        } else {
            NewValue::Obj(Box::new(Object::Str(bytes.to_vec())))
        }
    }

    /// A string stored as written, without looking for an integer: `embstr` or `raw`
    /// by size (Redis's `createStringObject`, used by INCRBYFLOAT).
    pub fn text(bytes: &'a [u8]) -> NewValue<'a> {
        if bytes.len() <= EMBSTR_MAX_BYTES {
            NewValue::Embstr(bytes)
        } else {
            NewValue::Obj(Box::new(Object::Str(bytes.to_vec())))
        }
    }

    /// A string that is about to be changed in place: always `raw`, as in Redis.
    pub fn raw(bytes: Vec<u8>) -> NewValue<'static> {
        NewValue::Obj(Box::new(Object::Str(bytes)))
    }
}

/// A borrowed view of a stored value.
#[derive(Debug, Clone, Copy)]
pub enum ValueRef<'a> {
    /// A string in any encoding.
    Str(StrRef<'a>),
    /// A value of another type.
    Obj(&'a Object),
}

/// A borrowed string, with its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrRef<'a> {
    Embstr(&'a [u8]),
    Raw(&'a [u8]),
    Int(i64),
}

impl StrRef<'_> {
    /// The string's bytes; an `int` is formatted into `scratch`.
    pub fn bytes<'s>(&'s self, scratch: &'s mut [u8; 20]) -> &'s [u8] {
        match self {
            StrRef::Embstr(b) | StrRef::Raw(b) => b,
            StrRef::Int(i) => format_i64(*i, scratch),
        }
    }

    /// The string's bytes as an owned vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut scratch = [0u8; 20];
        self.bytes(&mut scratch).to_vec()
    }

    pub fn len(&self) -> usize {
        match self {
            StrRef::Embstr(b) | StrRef::Raw(b) => b.len(),
            StrRef::Int(i) => int_len(*i),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            StrRef::Embstr(_) => "embstr",
            StrRef::Raw(_) => "raw",
            StrRef::Int(_) => "int",
        }
    }
}

impl<'a> ValueRef<'a> {
    pub fn value_type(&self) -> ValueType {
        match self {
            ValueRef::Str(_) => ValueType::String,
            ValueRef::Obj(o) => o.value_type(),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<StrRef<'a>> {
        match *self {
            ValueRef::Str(s) => Some(s),
            ValueRef::Obj(Object::Str(b)) => Some(StrRef::Raw(b)),
            ValueRef::Obj(_) => None,
        }
    }

    pub fn encoding(&self) -> &'static str {
        match self {
            ValueRef::Str(s) => s.encoding(),
            ValueRef::Obj(o) => o.encoding(),
        }
    }
}

pub use redoubt_resp::number::format_i64;

/// Number of characters in the decimal form of `v`.
pub fn int_len(v: i64) -> usize {
    let mut n = v.unsigned_abs();
    let mut len = if v < 0 { 2 } else { 1 };
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_string_encodings() {
        assert!(matches!(NewValue::string(b"12345"), NewValue::Int(12345)));
        assert!(matches!(NewValue::string(b"012"), NewValue::Embstr(_)));
        assert!(matches!(NewValue::string(&[b'x'; 44]), NewValue::Embstr(_)));
        assert!(matches!(NewValue::string(&[b'x'; 45]), NewValue::Obj(_)));
        let mut s = [0u8; 20];
        assert_eq!(format_i64(i64::MIN, &mut s), b"-9223372036854775808");
        assert_eq!(int_len(i64::MIN), 20);
        assert_eq!(int_len(-5), 2);
        assert_eq!(int_len(0), 1);
    }
}
