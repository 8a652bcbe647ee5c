//! One key's storage: a single heap allocation holding the chain link of its hash
//! bucket, its LRU/LFU clock, its expiry, its key and its value.
//!
//! Redis spends about 104 bytes on a key with a 16-byte value (a dict entry, a key sds,
//! a value object, an expires-dict entry when volatile). Here the same key costs one
//! allocation of ~41 bytes plus its bucket pointer:
//!
//! ```text
//! offset 0   next    *mut u8   next entry in the same bucket (owned by the Dict)
//!        8   lru     u32       LRU clock or LFU (ldt, counter), as Redis's robj.lru
//!       12   flags   u8        bits 0-1 value kind, bit 2 has-expire
//!       13   keylen  varint
//!            expire  i64 LE    only when has-expire (absolute unix time in ms)
//!            key     keylen bytes
//!            value   embstr: u8 length + bytes | int: i64 LE | object: *mut Object
//! ```
//!
//! All unsafe code of the keyspace is in this file and in `dict.rs`. The invariants:
//! an entry pointer is always a live allocation made by [`Entry::new`] whose size is
//! recomputed from its own header; an object pointer inside it is a leaked
//! `Box<Object>` owned by exactly one entry; fields are read and written with unaligned
//! pointer operations, never through Rust references into the header.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use crate::value::{NewValue, Object, StrRef, ValueRef, EMBSTR_MAX_BYTES};
use crate::varint;

const OFF_NEXT: usize = 0;
const OFF_LRU: usize = 8;
const OFF_FLAGS: usize = 12;
const OFF_KEYLEN: usize = 13;

const KIND_MASK: u8 = 0b11;
const KIND_EMBSTR: u8 = 0;
const KIND_INT: u8 = 1;
const KIND_OBJ: u8 = 2;
const HAS_EXPIRE: u8 = 0b100;

const ALIGN: usize = 8;

/// Where the parts of an entry are, decoded from its header.
#[derive(Clone, Copy)]
struct Shape {
    kind: u8,
    expire_off: Option<usize>,
    key_off: usize,
    key_len: usize,
    val_off: usize,
    total: usize,
}

/// Writes the varint of `v` at `p`; returns its length.
unsafe fn write_varint(p: *mut u8, v: usize) -> usize {
    let mut b = [0u8; varint::MAX_BYTES];
    let n = varint::write(&mut b, v);
    ptr::copy_nonoverlapping(b.as_ptr(), p, n);
    n
}

/// Reads the varint at `p`: (value, bytes it takes).
unsafe fn read_varint(p: *const u8) -> (usize, usize) {
    varint::read_with(|i| Some(*p.add(i)))
}

fn payload_len(value: &NewValue) -> usize {
    match value {
        NewValue::Embstr(b) => 1 + b.len(),
        NewValue::Int(_) => 8,
        NewValue::Obj(_) => 8,
    }
}

fn kind_of(value: &NewValue) -> u8 {
    match value {
        NewValue::Embstr(_) => KIND_EMBSTR,
        NewValue::Int(_) => KIND_INT,
        NewValue::Obj(_) => KIND_OBJ,
    }
}

unsafe fn shape(p: *const u8) -> Shape {
    let flags = *p.add(OFF_FLAGS);
    let (key_len, n) = read_varint(p.add(OFF_KEYLEN));
    let mut off = OFF_KEYLEN + n;
    let expire_off = if flags & HAS_EXPIRE != 0 {
        let at = off;
        off += 8;
        Some(at)
    } else {
        None
    };
    let key_off = off;
    let val_off = key_off + key_len;
    let kind = flags & KIND_MASK;
    let payload = match kind {
        KIND_EMBSTR => 1 + *p.add(val_off) as usize,
        _ => 8,
    };
    Shape { kind, expire_off, key_off, key_len, val_off, total: val_off + payload }
}

fn layout(size: usize) -> Layout {
    // Sizes come from keys and values already held in memory, far below isize::MAX.
    Layout::from_size_align(size, ALIGN).unwrap_or_else(|_| handle_alloc_error(Layout::new::<u64>()))
}

unsafe fn allocate(size: usize) -> NonNull<u8> {
    let l = layout(size);
    NonNull::new(alloc(l)).unwrap_or_else(|| handle_alloc_error(l))
}

/// Writes a value's payload at `p` (the value offset). Takes ownership of an object.
unsafe fn write_payload(p: *mut u8, value: NewValue) {
    match value {
        NewValue::Embstr(b) => {
            debug_assert!(b.len() <= EMBSTR_MAX_BYTES);
            *p = b.len() as u8;
            ptr::copy_nonoverlapping(b.as_ptr(), p.add(1), b.len());
        }
        NewValue::Int(i) => ptr::write_unaligned(p as *mut i64, i),
        NewValue::Obj(o) => ptr::write_unaligned(p as *mut *mut Object, Box::into_raw(o)),
    }
}

/// An owned entry, not linked into any dict.
pub struct Entry(NonNull<u8>);

// An entry owns its allocation and its object exclusively; it can move between threads.
unsafe impl Send for Entry {}

impl Entry {
    /// Lays out a new entry in one allocation.
    pub fn new(key: &[u8], value: NewValue, expire_ms: Option<i64>, lru: u32) -> Entry {
        let head = OFF_KEYLEN + varint::len(key.len());
        let expire_len = if expire_ms.is_some() { 8 } else { 0 };
        let total = head + expire_len + key.len() + payload_len(&value);
        unsafe {
            let p = allocate(total).as_ptr();
            ptr::write_unaligned(p.add(OFF_NEXT) as *mut *mut u8, ptr::null_mut());
            ptr::write_unaligned(p.add(OFF_LRU) as *mut u32, lru);
            let mut flags = kind_of(&value);
            if expire_ms.is_some() {
                flags |= HAS_EXPIRE;
            }
            *p.add(OFF_FLAGS) = flags;
            let mut off = OFF_KEYLEN + write_varint(p.add(OFF_KEYLEN), key.len());
            if let Some(e) = expire_ms {
                ptr::write_unaligned(p.add(off) as *mut i64, e);
                off += 8;
            }
            ptr::copy_nonoverlapping(key.as_ptr(), p.add(off), key.len());
            write_payload(p.add(off + key.len()), value);
            Entry(NonNull::new_unchecked(p))
        }
    }

    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef { p: self.0, _life: PhantomData }
    }

    pub fn as_mut(&mut self) -> EntryMut<'_> {
        EntryMut { p: self.0, _life: PhantomData }
    }

    pub(crate) fn into_raw(self) -> *mut u8 {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    /// # Safety
    /// `p` must come from [`Entry::into_raw`] and not be owned by anything else.
    pub(crate) unsafe fn from_raw(p: *mut u8) -> Entry {
        Entry(NonNull::new_unchecked(p))
    }

    /// Returns this entry with its expiry set (or removed), reusing the allocation when
    /// the layout does not change. The value, object included, moves across unchanged.
    pub fn with_expire(self, expire_ms: Option<i64>) -> Entry {
        unsafe {
            let old = self.0.as_ptr();
            let s = shape(old);
            match (s.expire_off, expire_ms) {
                (Some(at), Some(e)) => {
                    ptr::write_unaligned(old.add(at) as *mut i64, e);
                    return self;
                }
                (None, None) => return self,
                _ => {}
            }
            let head = OFF_KEYLEN + varint::len(s.key_len);
            let tail_len = s.total - s.key_off; // key + payload, copied verbatim
            let expire_len = if expire_ms.is_some() { 8 } else { 0 };
            let p = allocate(head + expire_len + tail_len).as_ptr();
            ptr::copy_nonoverlapping(old, p, head);
            let flags = (*old.add(OFF_FLAGS) & !HAS_EXPIRE) | if expire_ms.is_some() { HAS_EXPIRE } else { 0 };
            *p.add(OFF_FLAGS) = flags;
            if let Some(e) = expire_ms {
                ptr::write_unaligned(p.add(head) as *mut i64, e);
            }
            ptr::copy_nonoverlapping(old.add(s.key_off), p.add(head + expire_len), tail_len);
            // The object pointer now belongs to the new entry: free the old block only.
            dealloc(old, layout(s.total));
            std::mem::forget(self);
            Entry(NonNull::new_unchecked(p))
        }
    }

    /// Returns this entry under another key (RENAME, MOVE), value and expiry moved.
    pub fn rekey(self, key: &[u8]) -> Entry {
        unsafe {
            let old = self.0.as_ptr();
            let s = shape(old);
            let expire_len = if s.expire_off.is_some() { 8 } else { 0 };
            let head = OFF_KEYLEN + varint::len(key.len());
            let payload = s.total - s.val_off;
            let p = allocate(head + expire_len + key.len() + payload).as_ptr();
            ptr::copy_nonoverlapping(old, p, OFF_KEYLEN);
            write_varint(p.add(OFF_KEYLEN), key.len());
            if let Some(at) = s.expire_off {
                ptr::copy_nonoverlapping(old.add(at), p.add(head), 8);
            }
            ptr::copy_nonoverlapping(key.as_ptr(), p.add(head + expire_len), key.len());
            ptr::copy_nonoverlapping(old.add(s.val_off), p.add(head + expire_len + key.len()), payload);
            // The object pointer, if any, moved with the payload bytes.
            dealloc(old, layout(s.total));
            std::mem::forget(self);
            Entry(NonNull::new_unchecked(p))
        }
    }

    /// Returns an entry with the same key, expiry and clock holding `value`; the old
    /// value is dropped. An integer replacing an integer is written in place.
    pub fn with_value(self, value: NewValue) -> Entry {
        unsafe {
            let old = self.0.as_ptr();
            let s = shape(old);
            if let (KIND_INT, NewValue::Int(i)) = (s.kind, &value) {
                ptr::write_unaligned(old.add(s.val_off) as *mut i64, *i);
                return self;
            }
            let total = s.val_off + payload_len(&value);
            let p = allocate(total).as_ptr();
            ptr::copy_nonoverlapping(old, p, s.val_off);
            *p.add(OFF_FLAGS) = (*old.add(OFF_FLAGS) & !KIND_MASK) | kind_of(&value);
            write_payload(p.add(s.val_off), value);
            drop(self);
            Entry(NonNull::new_unchecked(p))
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        unsafe {
            let p = self.0.as_ptr();
            let s = shape(p);
            if s.kind == KIND_OBJ {
                drop(Box::from_raw(ptr::read_unaligned(p.add(s.val_off) as *const *mut Object)));
            }
            dealloc(p, layout(s.total));
        }
    }
}

/// Reads shared by the borrowed views.
macro_rules! entry_reads {
    ($t:ident) => {
        impl<'a> $t<'a> {
            pub fn key(&self) -> &'a [u8] {
                unsafe {
                    let s = shape(self.p.as_ptr());
                    std::slice::from_raw_parts(self.p.as_ptr().add(s.key_off), s.key_len)
                }
            }

            /// Absolute expiry in unix milliseconds, if the key is volatile.
            pub fn expire_ms(&self) -> Option<i64> {
                unsafe {
                    let p = self.p.as_ptr();
                    shape(p).expire_off.map(|at| ptr::read_unaligned(p.add(at) as *const i64))
                }
            }

            pub fn lru(&self) -> u32 {
                unsafe { ptr::read_unaligned(self.p.as_ptr().add(OFF_LRU) as *const u32) }
            }

            pub fn value(&self) -> ValueRef<'a> {
                unsafe {
                    let p = self.p.as_ptr();
                    let s = shape(p);
                    let v = p.add(s.val_off);
                    match s.kind {
                        KIND_EMBSTR => ValueRef::Str(StrRef::Embstr(std::slice::from_raw_parts(v.add(1), *v as usize))),
                        KIND_INT => ValueRef::Str(StrRef::Int(ptr::read_unaligned(v as *const i64))),
                        _ => ValueRef::Obj(&*ptr::read_unaligned(v as *const *const Object)),
                    }
                }
            }

            /// A deep copy of this entry under `key` (COPY): the value is duplicated.
            pub fn duplicate(&self, key: &[u8]) -> Entry {
                let value = match self.value() {
                    ValueRef::Str(StrRef::Embstr(b)) => NewValue::Embstr(b),
                    ValueRef::Str(StrRef::Int(i)) => NewValue::Int(i),
                    ValueRef::Str(StrRef::Raw(b)) => NewValue::Obj(Box::new(Object::Str(b.to_vec()))),
                    ValueRef::Obj(o) => NewValue::Obj(Box::new(o.clone())),
                };
                Entry::new(key, value, self.expire_ms(), self.lru())
            }

            /// Bytes this entry occupies (its block plus its object's heap), roughly.
            pub fn alloc_bytes(&self) -> usize {
                unsafe { shape(self.p.as_ptr()).total }
            }
        }
    };
}

/// A shared view of an entry inside a dict.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    p: NonNull<u8>,
    _life: PhantomData<&'a Entry>,
}

/// An exclusive view of an entry inside a dict: the clock, an integer value and an
/// object's contents can change in place; anything that changes the layout goes
/// through the dict's `replace`.
pub struct EntryMut<'a> {
    p: NonNull<u8>,
    _life: PhantomData<&'a mut Entry>,
}

entry_reads!(EntryRef);
entry_reads!(EntryMut);

impl<'a> EntryRef<'a> {
    pub(crate) unsafe fn from_ptr(p: *mut u8) -> Self {
        EntryRef { p: NonNull::new_unchecked(p), _life: PhantomData }
    }
    pub(crate) fn next(&self) -> *mut u8 {
        unsafe { ptr::read_unaligned(self.p.as_ptr().add(OFF_NEXT) as *const *mut u8) }
    }
}

impl<'a> EntryMut<'a> {
    pub(crate) unsafe fn from_ptr(p: *mut u8) -> Self {
        EntryMut { p: NonNull::new_unchecked(p), _life: PhantomData }
    }

    pub fn set_lru(&mut self, lru: u32) {
        unsafe { ptr::write_unaligned(self.p.as_ptr().add(OFF_LRU) as *mut u32, lru) }
    }

    /// The object behind this entry, for in-place changes to a collection or a raw
    /// string.
    pub fn object_mut(&mut self) -> Option<&'a mut Object> {
        unsafe {
            let p = self.p.as_ptr();
            let s = shape(p);
            (s.kind == KIND_OBJ).then(|| &mut *ptr::read_unaligned(p.add(s.val_off) as *const *mut Object))
        }
    }

    /// Overwrites an integer value in place; returns false if the value is not an int.
    pub fn set_int(&mut self, v: i64) -> bool {
        unsafe {
            let p = self.p.as_ptr();
            let s = shape(p);
            if s.kind != KIND_INT {
                return false;
            }
            ptr::write_unaligned(p.add(s.val_off) as *mut i64, v);
            true
        }
    }
}

/// Link access for the dict.
pub(crate) unsafe fn next_of(p: *mut u8) -> *mut u8 {
    ptr::read_unaligned(p.add(OFF_NEXT) as *const *mut u8)
}

pub(crate) unsafe fn set_next(p: *mut u8, next: *mut u8) {
    ptr::write_unaligned(p.add(OFF_NEXT) as *mut *mut u8, next)
}

pub(crate) unsafe fn key_of<'a>(p: *mut u8) -> &'a [u8] {
    let s = shape(p);
    std::slice::from_raw_parts(p.add(s.key_off), s.key_len)
}

pub(crate) unsafe fn has_expire(p: *mut u8) -> bool {
    *p.add(OFF_FLAGS) & HAS_EXPIRE != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_round_trip() {
        let e = Entry::new(b"key", NewValue::Embstr(b"hello"), None, 7);
        let r = e.as_ref();
        assert_eq!(r.key(), b"key");
        assert_eq!(r.expire_ms(), None);
        assert_eq!(r.lru(), 7);
        assert!(matches!(r.value(), ValueRef::Str(StrRef::Embstr(b"hello"))));
        assert_eq!(r.alloc_bytes(), 8 + 4 + 1 + 1 + 3 + 1 + 5);

        let e = e.with_expire(Some(1234));
        assert_eq!(e.as_ref().expire_ms(), Some(1234));
        assert_eq!(e.as_ref().key(), b"key");
        let e = e.with_value(NewValue::Obj(Box::new(Object::Str(vec![b'x'; 100]))));
        assert_eq!(e.as_ref().expire_ms(), Some(1234));
        assert!(matches!(e.as_ref().value(), ValueRef::Obj(Object::Str(v)) if v.len() == 100));
        let mut e = e.with_expire(None);
        assert_eq!(e.as_ref().expire_ms(), None);
        if let Some(Object::Str(v)) = e.as_mut().object_mut() {
            v.push(b'y');
        }
        assert!(matches!(e.as_ref().value(), ValueRef::Obj(Object::Str(v)) if v.len() == 101));
        let mut e = e.with_value(NewValue::Int(-5));
        assert!(e.as_mut().set_int(6));
        assert!(matches!(e.as_ref().value(), ValueRef::Str(StrRef::Int(6))));
        let e = e.rekey(b"other-key");
        assert!(matches!(e.as_ref().value(), ValueRef::Str(StrRef::Int(6))));
        assert_eq!(e.as_ref().key(), b"other-key");
        let copy = e.as_ref().duplicate(b"k2");
        assert_eq!(copy.as_ref().key(), b"k2");
        let long_key = vec![b'k'; 300];
        let e = Entry::new(&long_key, NewValue::Int(1), Some(-1), 0);
        assert_eq!(e.as_ref().key(), &long_key[..]);
        assert_eq!(e.as_ref().expire_ms(), Some(-1));
    }
}
