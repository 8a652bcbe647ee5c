//! `cmsgpack`: MessagePack with lua-cmsgpack's rules, as Redis bundles it.
//!
//! `pack(...)` encodes each argument and concatenates them: integers in the smallest
//! encoding, other numbers as a float32 when exact, else a float64; strings as str8/16/
//! 32; a table whose keys are exactly 1..n as an array, any other as a map; tables
//! nested deeper than 16 and values of other types as nil. `unpack(s)` returns every
//! value encoded in `s`; `unpack_one(s [, offset])` and `unpack_limit(s, limit [,
//! offset])` return the offset after the values read, then the values.

use mlua::{Lua, MultiValue, Table, Value};

use super::{arg_number, arg_string, done, fail, function, LibResult};

/// lua-cmsgpack's `LUACMSGPACK_MAX_NESTING`.
const MAX_NESTING: usize = 16;

/* ---- PACK ---- */

fn pack(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    if args.is_empty() {
        return fail(lua, format!("bad argument #0 to '{name}' (MessagePack pack needs input.)"));
    }
    let mut out = Vec::new();
    for v in args.iter() {
        encode(&mut out, v, 0);
    }
    done(vec![Value::String(lua.create_string(out)?)])
}

fn encode(out: &mut Vec<u8>, v: &Value, level: usize) {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(out, *i),
        Value::Number(n) => {
            let n = *n;
            if n.fract() == 0.0 && crate::convert::I64_RANGE.contains(&n) {
                encode_int(out, n as i64)
            } else if (n as f32) as f64 == n || n.is_nan() {
                out.push(0xca);
                out.extend_from_slice(&(n as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Table(t) if level < MAX_NESTING => encode_table(out, t, level + 1),
        _ => out.push(0xc0),
    }
}

fn encode_int(out: &mut Vec<u8>, i: i64) {
    if i >= 0 {
        let u = i as u64;
        if u <= 127 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if i >= -32 {
        out.push(i as i8 as u8);
    } else if i >= -128 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xd9, n as u8]);
    } else if n <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn header(out: &mut Vec<u8>, n: usize, fix: u8, b16: u8, b32: u8) {
    if n < 16 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// lua-cmsgpack's `table_is_an_array`: every key a positive integer, and as many keys
/// as the largest one.
fn array_len(t: &Table) -> Option<usize> {
    let (mut count, mut max) = (0usize, 0usize);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.ok()?;
        let n = match k {
            Value::Integer(i) if i > 0 => i as usize,
            Value::Number(n) if n > 0.0 && n.fract() == 0.0 && n < 1e15 => n as usize,
            _ => return None,
        };
        count += 1;
        max = max.max(n);
    }
    (count == max).then_some(max)
}

fn encode_table(out: &mut Vec<u8>, t: &Table, level: usize) {
    match array_len(t) {
        Some(n) => {
            header(out, n, 0x90, 0xdc, 0xdd);
            for i in 1..=n {
                encode(out, &t.raw_get::<Value>(i).unwrap_or(Value::Nil), level);
            }
        }
        None => {
            let pairs: Vec<(Value, Value)> = t.pairs::<Value, Value>().flatten().collect();
            header(out, pairs.len(), 0x80, 0xde, 0xdf);
            for (k, v) in &pairs {
                encode(out, k, level);
                encode(out, v, level);
            }
        }
    }
}

/* ---- UNPACK ---- */

/// Why decoding stopped.
enum Stop {
    Missing,
    Bad,
}

struct Reader<'a> {
    s: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Stop> {
        let b = self.s.get(self.at..self.at.checked_add(n).ok_or(Stop::Missing)?).ok_or(Stop::Missing)?;
        self.at += n;
        Ok(b)
    }

    fn byte(&mut self) -> Result<u8, Stop> {
        Ok(self.take(1)?[0])
    }

    fn be(&mut self, n: usize) -> Result<u64, Stop> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> mlua::Result<Result<Value, Stop>> {
        // A payload nested without bound would recurse without bound: refuse it.
        if depth > 1000 {
            return Ok(Err(Stop::Bad));
        }
        let c = match self.byte() {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        self.tagged(lua, c, depth)
    }

    /// The value whose first byte `c` was just read.
    fn tagged(&mut self, lua: &Lua, c: u8, depth: usize) -> mlua::Result<Result<Value, Stop>> {
        let str_of = |r: &mut Reader, n: u64| -> mlua::Result<Result<Value, Stop>> {
            match r.take(n as usize) {
                Ok(b) => Ok(Ok(Value::String(lua.create_string(b)?))),
                Err(e) => Ok(Err(e)),
            }
        };
        let num = |v: Result<f64, Stop>| Ok(v.map(Value::Number));
        match c {
            0x00..=0x7f => num(Ok(c as f64)),
            0xe0..=0xff => num(Ok(c as i8 as f64)),
            0xc0 => Ok(Ok(Value::Nil)),
            0xc2 => Ok(Ok(Value::Boolean(false))),
            0xc3 => Ok(Ok(Value::Boolean(true))),
            0xcc => num(self.be(1).map(|v| v as f64)),
            0xcd => num(self.be(2).map(|v| v as f64)),
            0xce => num(self.be(4).map(|v| v as f64)),
            0xcf => num(self.be(8).map(|v| v as f64)),
            0xd0 => num(self.be(1).map(|v| v as u8 as i8 as f64)),
            0xd1 => num(self.be(2).map(|v| v as u16 as i16 as f64)),
            0xd2 => num(self.be(4).map(|v| v as u32 as i32 as f64)),
            0xd3 => num(self.be(8).map(|v| v as i64 as f64)),
            0xca => num(self.be(4).map(|v| f32::from_bits(v as u32) as f64)),
            0xcb => num(self.be(8).map(f64::from_bits)),
            0xa0..=0xbf => str_of(self, (c & 0x1f) as u64),
            0xd9 | 0xc4 => match self.be(1) {
                Ok(n) => str_of(self, n),
                Err(e) => Ok(Err(e)),
            },
            0xda | 0xc5 => match self.be(2) {
                Ok(n) => str_of(self, n),
                Err(e) => Ok(Err(e)),
            },
            0xdb | 0xc6 => match self.be(4) {
                Ok(n) => str_of(self, n),
                Err(e) => Ok(Err(e)),
            },
            0x90..=0x9f => self.array(lua, (c & 0x0f) as u64, depth),
            0xdc => match self.be(2) {
                Ok(n) => self.array(lua, n, depth),
                Err(e) => Ok(Err(e)),
            },
            0xdd => match self.be(4) {
                Ok(n) => self.array(lua, n, depth),
                Err(e) => Ok(Err(e)),
            },
            0x80..=0x8f => self.map(lua, (c & 0x0f) as u64, depth),
            0xde => match self.be(2) {
                Ok(n) => self.map(lua, n, depth),
                Err(e) => Ok(Err(e)),
            },
            0xdf => match self.be(4) {
                Ok(n) => self.map(lua, n, depth),
                Err(e) => Ok(Err(e)),
            },
            _ => Ok(Err(Stop::Bad)),
        }
    }

    fn array(&mut self, lua: &Lua, n: u64, depth: usize) -> mlua::Result<Result<Value, Stop>> {
        // Each element takes at least one byte: a count beyond the input is missing bytes.
        if n as usize > self.s.len() - self.at {
            return Ok(Err(Stop::Missing));
        }
        let t = lua.create_table_with_capacity(n as usize, 0)?;
        for i in 1..=n {
            match self.value(lua, depth + 1)? {
                Ok(v) => t.raw_set(i, v)?,
                Err(e) => return Ok(Err(e)),
            }
        }
        Ok(Ok(Value::Table(t)))
    }

    fn map(&mut self, lua: &Lua, n: u64, depth: usize) -> mlua::Result<Result<Value, Stop>> {
        if n as usize > (self.s.len() - self.at) / 2 {
            return Ok(Err(Stop::Missing));
        }
        let t = lua.create_table_with_capacity(0, n as usize)?;
        for _ in 0..n {
            let k = match self.value(lua, depth + 1)? {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            let v = match self.value(lua, depth + 1)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            if !k.is_nil() {
                t.raw_set(k, v)?;
            }
        }
        Ok(Ok(Value::Table(t)))
    }
}

/// Decodes up to `limit` values (0: all) from `offset`; with `with_offset`, the offset
/// after them comes first (-1 when the input is consumed), as lua-cmsgpack returns it.
fn unpack_from(lua: &Lua, s: &[u8], limit: usize, offset: usize, with_offset: bool) -> LibResult {
    let mut r = Reader { s, at: offset.min(s.len()) };
    let mut values = Vec::new();
    while r.at < s.len() && (limit == 0 || values.len() < limit) {
        match r.value(lua, 0)? {
            Ok(v) => values.push(v),
            Err(Stop::Missing) => return fail(lua, "Missing bytes in input."),
            Err(Stop::Bad) => return fail(lua, "Bad data format in input."),
        }
    }
    if with_offset {
        let next = if r.at >= s.len() { -1.0 } else { r.at as f64 };
        values.insert(0, Value::Number(next));
    }
    done(values)
}

fn unpack(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    match arg_string(&args, 0, name) {
        Ok(s) => unpack_from(lua, &s, 0, 0, false),
        Err(e) => fail(lua, e),
    }
}

fn opt_number(args: &MultiValue, i: usize, fname: &str) -> Result<f64, String> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(0.0),
        Some(_) => arg_number(args, i, fname),
    }
}

fn unpack_one(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    let run = || -> Result<(Vec<u8>, f64), String> { Ok((arg_string(&args, 0, name)?, opt_number(&args, 1, name)?)) };
    match run() {
        Ok((s, offset)) => unpack_from(lua, &s, 1, offset.max(0.0) as usize, true),
        Err(e) => fail(lua, e),
    }
}

fn unpack_limit(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    let run = || -> Result<(Vec<u8>, f64, f64), String> {
        Ok((arg_string(&args, 0, name)?, opt_number(&args, 1, name)?, opt_number(&args, 2, name)?))
    };
    match run() {
        Ok((s, limit, offset)) => unpack_from(lua, &s, limit.max(0.0) as usize, offset.max(0.0) as usize, true),
        Err(e) => fail(lua, e),
    }
}

/// The `cmsgpack` table.
pub fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", function(lua, pack)?)?;
    t.set("unpack", function(lua, unpack)?)?;
    t.set("unpack_one", function(lua, unpack_one)?)?;
    t.set("unpack_limit", function(lua, unpack_limit)?)?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}
