//! `struct`: pack and unpack binary data (Roberto Ierusalimschy's `struct` library, as
//! Redis bundles it): `struct.pack(fmt, ...)`, `struct.unpack(fmt, s [, pos])`,
//! `struct.size(fmt)`.
//!
//! Format: `<` little / `>` big endian, `![n]` alignment, `x` a pad byte, `b/B` `h/H`
//! `l/L` `T` `i[n]/I[n]` integers (lower case signed; `l`, `L` and `T` are 8 bytes, `i`
//! 4 by default, up to 32), `f` float, `d` double, `s` a zero-terminated string, `c[n]`
//! n chars (`c0`: the whole string when packing, the previous number's length when
//! unpacking), spaces ignored.

use mlua::{Lua, MultiValue, Table, Value};

use super::{arg_number, arg_string, done, fail, function, LibResult};
use crate::convert::c_cast_i64;

const MAX_INT_SIZE: usize = 32;
/// `offsetof(struct { char c; double d; }, d)` on the platforms Redis runs on.
const MAX_ALIGN: usize = 8;

struct Header {
    little: bool,
    align: usize,
}

/// A format string being read.
struct Format<'a> {
    fmt: &'a [u8],
    at: usize,
    fname: &'a str,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.fmt.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    fn number(&mut self, default: usize) -> Result<usize, String> {
        if !self.fmt.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(d) = self.fmt.get(self.at).filter(|c| c.is_ascii_digit()) {
            a = a
                .checked_mul(10)
                .and_then(|a| a.checked_add((d - b'0') as usize))
                .filter(|a| *a <= i32::MAX as usize)
                .ok_or("integral size overflow")?;
            self.at += 1;
        }
        Ok(a)
    }

    /// The size of option `opt` (reading its count, if any).
    fn size(&mut self, opt: u8) -> Result<usize, String> {
        Ok(match opt {
            b'B' | b'b' | b'x' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'c' => self.number(1)?,
            b'i' | b'I' => {
                let sz = self.number(4)?;
                if sz > MAX_INT_SIZE {
                    return Err(format!("integral size {sz} is larger than limit of {MAX_INT_SIZE}"));
                }
                sz
            }
            _ => 0,
        })
    }

    /// Endianness, alignment and spaces; anything else is an invalid option.
    fn control(&mut self, opt: u8, h: &mut Header) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.number(MAX_ALIGN)?;
                if !a.is_power_of_two() {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            other => {
                return Err(format!("bad argument #1 to '{}' (invalid format option '{}')", self.fname, other as char))
            }
        }
        Ok(())
    }
}

fn to_align(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn header() -> Header {
    Header { little: cfg!(target_endian = "little"), align: 1 }
}

fn put_integer(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    let mut value: u64 = if n < 0.0 {
        c_cast_i64(n) as u64
    } else if n < 1.8446744073709552e19 {
        n as u64
    } else {
        0
    };
    let mut buf = vec![0u8; size];
    for i in 0..size {
        let at = if little { i } else { size - 1 - i };
        buf[at] = (value & 0xff) as u8;
        value = value.checked_shr(8).unwrap_or(0);
    }
    out.extend_from_slice(&buf);
}

fn get_integer(data: &[u8], little: bool, signed: bool) -> f64 {
    let size = data.len();
    let mut l: u64 = 0;
    for i in 0..size {
        let b = if little { data[size - 1 - i] } else { data[i] };
        l = (l << 8) | b as u64;
    }
    if !signed {
        return l as f64;
    }
    let mask = match size * 8 - 1 {
        s if s < 64 => !0u64 << s,
        _ => 0,
    };
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn pack(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    match pack_bytes(&args, name) {
        Ok(b) => done(vec![Value::String(lua.create_string(b)?)]),
        Err(e) => fail(lua, e),
    }
}

fn pack_bytes(args: &MultiValue, name: &str) -> Result<Vec<u8>, String> {
    let fmt = arg_string(args, 0, name)?;
    let mut f = Format { fmt: &fmt, at: 0, fname: name };
    let mut h = header();
    let mut arg = 1;
    let mut out = Vec::new();
    while let Some(opt) = f.next() {
        let mut size = f.size(opt)?;
        let pad = to_align(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                put_integer(&mut out, arg_number(args, arg, name)?, h.little, size);
                arg += 1;
            }
            b'x' => out.push(0),
            b'f' => {
                let v = arg_number(args, arg, name)? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little { v.to_le_bytes() } else { v.to_be_bytes() });
            }
            b'd' => {
                let v = arg_number(args, arg, name)?;
                arg += 1;
                out.extend_from_slice(&if h.little { v.to_le_bytes() } else { v.to_be_bytes() });
            }
            b'c' | b's' => {
                let s = arg_string(args, arg, name)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // Redis's library reports the argument after the string.
                    return Err(format!("bad argument #{} to '{name}' (string too short)", arg + 1));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h)?,
        }
    }
    Ok(out)
}

fn unpack(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    match unpack_values(lua, &args, name) {
        Ok(Ok(values)) => done(values),
        Ok(Err(e)) => fail(lua, e),
        Err(e) => Err(e),
    }
}

fn unpack_values(lua: &Lua, args: &MultiValue, name: &str) -> mlua::Result<Result<Vec<Value>, String>> {
    let fmt = match arg_string(args, 0, name) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let data = match arg_string(args, 1, name) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let ld = data.len();
    let start = match args.get(2) {
        None | Some(Value::Nil) => 1.0,
        Some(_) => match arg_number(args, 2, name) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        },
    };
    // An offset before the start wraps, as in C, and fails the length check below.
    let mut pos = c_cast_i64(start).wrapping_sub(1) as usize;
    let mut f = Format { fmt: &fmt, at: 0, fname: name };
    let mut h = header();
    let mut out: Vec<Value> = Vec::new();
    let too_short = || Ok(Err(format!("bad argument #2 to '{name}' (data string too short)")));
    while let Some(opt) = f.next() {
        let mut size = match f.size(opt) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        pos = pos.saturating_add(to_align(pos, &h, opt, size));
        if size > ld || pos > ld - size {
            return too_short();
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                out.push(Value::Number(get_integer(&data[pos..pos + size], h.little, signed)));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().unwrap_or([0; 4]);
                let v = if h.little { f32::from_le_bytes(b) } else { f32::from_be_bytes(b) };
                out.push(Value::Number(v as f64));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().unwrap_or([0; 8]);
                out.push(Value::Number(if h.little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) }));
            }
            b'c' => {
                if size == 0 {
                    let Some(Value::Number(n)) = out.pop() else {
                        return Ok(Err("format 'c0' needs a previous size".into()));
                    };
                    size = c_cast_i64(n).max(0) as usize;
                    if size > ld || pos > ld - size {
                        return too_short();
                    }
                }
                out.push(Value::String(lua.create_string(&data[pos..pos + size])?));
            }
            b's' => {
                let Some(len) = data[pos..].iter().position(|&c| c == 0) else {
                    return Ok(Err("unfinished string in data".into()));
                };
                size = len + 1;
                out.push(Value::String(lua.create_string(&data[pos..pos + len])?));
            }
            _ => {
                if let Err(e) = f.control(opt, &mut h) {
                    return Ok(Err(e));
                }
            }
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(Ok(out))
}

fn size(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    let run = || -> Result<usize, String> {
        let fmt = arg_string(&args, 0, name)?;
        let mut f = Format { fmt: &fmt, at: 0, fname: name };
        let mut h = header();
        let mut pos = 0;
        while let Some(opt) = f.next() {
            let size = f.size(opt)?;
            pos += to_align(pos, &h, opt, size);
            if opt == b's' {
                return Err(format!("bad argument #1 to '{name}' (option 's' has no fixed size)"));
            }
            if opt == b'c' && size == 0 {
                return Err(format!("bad argument #1 to '{name}' (option 'c0' has no fixed size)"));
            }
            if !opt.is_ascii_alphanumeric() {
                f.control(opt, &mut h)?;
            }
            pos += size;
        }
        Ok(pos)
    };
    match run() {
        Ok(n) => done(vec![Value::Number(n as f64)]),
        Err(e) => fail(lua, e),
    }
}

/// The `struct` table.
pub fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("pack", function(lua, pack)?)?;
    t.set("unpack", function(lua, unpack)?)?;
    t.set("size", function(lua, size)?)?;
    Ok(t)
}
