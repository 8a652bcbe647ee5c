//! Conversions between Redis replies and Lua values, both ways, with Redis 7.0's rules.
//!
//! Command reply -> Lua (what `redis.call` returns), by the script's protocol
//! (`redis.setresp`): integer -> number, bulk -> string, status -> `{ok=...}`, error ->
//! `{err=...}`, array -> table; RESP2 nulls -> `false`; RESP3 null -> `nil`, booleans,
//! `{double=n}`, `{big_number=s}`, `{verbatim_string={format=f, string=s}}`,
//! `{map={...}}`, `{set={member=true}}`.
//!
//! Lua -> reply (what the script returns): string -> bulk, number -> integer (C's
//! truncating cast), `true` -> `:1` (RESP2 script) or a boolean (RESP3 script), `false`
//! and nil -> null, a table with `err`/`ok`/`double`/`big_number`/`verbatim_string`/
//! `map`/`set` -> that reply, any other table -> an array up to its first nil.

use mlua::{Lua, Table, Value};
use redoubt_resp::number::push_g17;
use redoubt_resp::reply::Aggregate;
use redoubt_resp::value::Value as Reply;
use redoubt_resp::ReplyBuf;

/// Deepest table nesting a script's reply may have (a table that contains itself would
/// otherwise never end); deeper levels become an error reply, as Redis does when it
/// runs out of Lua stack.
pub const REPLY_DEPTH_MAX: usize = 200;

/// The doubles that convert to an i64 without overflow: [-2^63, 2^63).
pub const I64_RANGE: std::ops::Range<f64> = -9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0;

/// Lua's `(long long)` cast of a double on x86-64: NaN and out-of-range values become
/// `i64::MIN` (Rust's `as` would saturate instead).
pub fn c_cast_i64(d: f64) -> i64 {
    if !(I64_RANGE).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// An argument of `redis.call`: strings as they are, numbers as `%.17g` (Redis avoids
/// Lua's lossy `%.14g` here); anything else is refused.
pub fn to_arg(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Integer(i) => Some(g17(*i as f64)),
        Value::Number(n) => Some(g17(*n)),
        _ => None,
    }
}

fn g17(n: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    push_g17(&mut out, n);
    out
}

/// Redis's `luaPushErrorBuff` text rules: `-CODE message` keeps its code, a text
/// without a leading `-` gets `ERR`; the message loses leading and trailing newlines.
/// Returns `CODE message`.
pub fn error_text(e: &[u8]) -> Vec<u8> {
    let (code, msg): (&[u8], &[u8]) = match e.strip_prefix(b"-") {
        Some(rest) => match rest.iter().position(|&c| c == b' ') {
            Some(sp) => (&rest[..sp], &rest[sp + 1..]),
            None => (b"ERR", rest),
        },
        None => (b"ERR", e),
    };
    let is_nl = |c: &u8| *c == b'\r' || *c == b'\n';
    let start = msg.iter().position(|c| !is_nl(c)).unwrap_or(msg.len());
    let end = msg.iter().rposition(|c| !is_nl(c)).map_or(start, |p| p + 1);
    let mut out = Vec::with_capacity(code.len() + 1 + end - start);
    out.extend_from_slice(code);
    out.push(b' ');
    out.extend_from_slice(&msg[start..end]);
    out
}

/// The error table for a reply or refusal `text` (with or without its leading `-`).
/// `from_command` marks errors already counted in the error stats by the command, as
/// Redis's `ignore_error_stats_update` field does.
pub fn error_table(lua: &Lua, text: &[u8], from_command: bool) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, 2)?;
    t.raw_set("err", lua.create_string(error_text(text))?)?;
    if from_command {
        t.raw_set("ignore_error_stats_update", true)?;
    }
    Ok(t)
}

/// A command's reply as a Lua value, for a script speaking RESP3 or not.
pub fn reply_to_lua(lua: &Lua, r: &Reply, resp3: bool) -> mlua::Result<Value> {
    let single = |key: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table_with_capacity(0, 1)?;
        t.raw_set(key, v)?;
        Ok(Value::Table(t))
    };
    let string = |b: &[u8]| -> mlua::Result<Value> { Ok(Value::String(lua.create_string(b)?)) };
    Ok(match r {
        Reply::Simple(s) => single("ok", string(s)?)?,
        Reply::Error(e) => {
            let mut text = Vec::with_capacity(e.len() + 1);
            text.push(b'-');
            text.extend_from_slice(e);
            Value::Table(error_table(lua, &text, true)?)
        }
        Reply::Int(i) => Value::Number(*i as f64),
        Reply::Bulk(b) => string(b)?,
        Reply::Null if resp3 => Value::Nil,
        Reply::Null => Value::Boolean(false),
        Reply::Array(items) | Reply::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let m = lua.create_table_with_capacity(0, pairs.len())?;
            for (k, v) in pairs {
                m.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
            }
            single("map", Value::Table(m))?
        }
        Reply::Set(items) => {
            let s = lua.create_table_with_capacity(0, items.len())?;
            for item in items {
                s.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
            }
            single("set", Value::Table(s))?
        }
        Reply::Double(text) => {
            let d = std::str::from_utf8(text).ok().and_then(parse_double).unwrap_or(0.0);
            single("double", Value::Number(d))?
        }
        Reply::Bool(b) => Value::Boolean(*b),
        Reply::BigNumber(b) => single("big_number", string(b)?)?,
        Reply::Verbatim(b) => {
            let (format, text) = if b.len() >= 4 && b[3] == b':' { (&b[..3], &b[4..]) } else { (&b"txt"[..], &b[..]) };
            let v = lua.create_table_with_capacity(0, 2)?;
            v.raw_set("format", lua.create_string(format)?)?;
            v.raw_set("string", lua.create_string(text)?)?;
            single("verbatim_string", Value::Table(v))?
        }
    })
}

/// A RESP3 double's text as a number (`inf`, `-inf`, `nan` included).
fn parse_double(s: &str) -> Option<f64> {
    match s {
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// Writes the script's result `v` as the reply to the client. `resp3` is the script's
/// own protocol (it decides how booleans go out); `out` knows the client's. Returns
/// the error replies written that no command counted already (tables without
/// `ignore_error_stats_update`), for the caller's error statistics.
pub fn lua_to_reply(out: &mut ReplyBuf, v: &Value, resp3: bool) -> Vec<Vec<u8>> {
    let mut w = Writer { out, resp3, uncounted: Vec::new() };
    w.value(v, 0);
    w.uncounted
}

/// True when an error table says a command already counted it.
pub fn counted(t: &Table) -> bool {
    matches!(t.raw_get::<Value>("ignore_error_stats_update"), Ok(Value::Boolean(true)))
}

/// An error reply built from a script's error string: trailing newlines dropped,
/// inner ones become spaces (`ReplyBuf::error` does that), and no `ERR` added.
pub fn error_reply_text(text: &[u8]) -> &[u8] {
    let end = text.iter().rposition(|&c| c != b'\r' && c != b'\n').map_or(0, |p| p + 1);
    &text[..end]
}

struct Writer<'o> {
    out: &'o mut ReplyBuf,
    resp3: bool,
    uncounted: Vec<Vec<u8>>,
}

impl Writer<'_> {
    fn value(&mut self, v: &Value, depth: usize) {
        match v {
            Value::String(s) => self.out.bulk(&s.as_bytes()),
            Value::Boolean(b) => {
                if self.resp3 {
                    self.out.bool(*b)
                } else if *b {
                    self.out.int(1)
                } else {
                    self.out.null()
                }
            }
            Value::Integer(i) => self.out.int(*i),
            Value::Number(n) => self.out.int(c_cast_i64(*n)),
            Value::Table(t) => {
                if depth >= REPLY_DEPTH_MAX {
                    let e = b"ERR reached lua stack limit";
                    self.out.error(e);
                    self.uncounted.push(e.to_vec());
                    return;
                }
                self.table(t, depth + 1)
            }
            _ => self.out.null(),
        }
    }

    fn table(&mut self, t: &Table, depth: usize) {
        let field = |name: &str| t.raw_get::<Value>(name).unwrap_or(Value::Nil);
        if let Value::String(e) = field("err") {
            let text = error_reply_text(&e.as_bytes()).to_vec();
            self.out.error(&text);
            if !counted(t) {
                self.uncounted.push(text);
            }
            return;
        }
        if let Value::String(s) = field("ok") {
            self.out.simple(&s.as_bytes());
            return;
        }
        match field("double") {
            Value::Number(d) => return self.out.double(d),
            Value::Integer(i) => return self.out.double(i as f64),
            _ => {}
        }
        if let Value::String(s) = field("big_number") {
            let digits: Vec<u8> =
                s.as_bytes().iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }).collect();
            return big_number(self.out, &digits);
        }
        if let Value::Table(vt) = field("verbatim_string") {
            let (f, s) = (vt.raw_get::<Value>("format"), vt.raw_get::<Value>("string"));
            if let (Ok(Value::String(f)), Ok(Value::String(s))) = (f, s) {
                return verbatim(self.out, &s.as_bytes(), &f.as_bytes());
            }
        }
        if let Value::Table(m) = field("map") {
            let d = self.out.defer();
            let mut n = 0;
            for (k, v) in m.pairs::<Value, Value>().flatten() {
                self.value(&k, depth);
                self.value(&v, depth);
                n += 1;
            }
            self.out.finish_deferred(d, Aggregate::Map, n);
            return;
        }
        if let Value::Table(set) = field("set") {
            let d = self.out.defer();
            let mut n = 0;
            for (k, _) in set.pairs::<Value, Value>().flatten() {
                self.value(&k, depth);
                n += 1;
            }
            self.out.finish_deferred(d, Aggregate::Set, n);
            return;
        }
        let d = self.out.defer();
        let mut n = 0;
        loop {
            let item = t.raw_get::<Value>(n + 1).unwrap_or(Value::Nil);
            if item.is_nil() {
                break;
            }
            self.value(&item, depth);
            n += 1;
        }
        self.out.finish_deferred(d, Aggregate::Array, n);
    }
}

/// A big number: `(digits` in RESP3, a bulk string in RESP2.
fn big_number(out: &mut ReplyBuf, digits: &[u8]) {
    if out.resp3() {
        out.buf.push(b'(');
        out.buf.extend_from_slice(digits);
        out.buf.extend_from_slice(b"\r\n");
    } else {
        out.bulk(digits);
    }
}

/// Verbatim text with a three-letter format (cut or padded with spaces, as Redis).
fn verbatim(out: &mut ReplyBuf, text: &[u8], format: &[u8]) {
    if !out.resp3() {
        return out.bulk(text);
    }
    let mut ext = [b' '; 3];
    for (i, c) in format.iter().take(3).enumerate() {
        ext[i] = *c;
    }
    out.buf.push(b'=');
    redoubt_resp::number::push_u64(&mut out.buf, text.len() as u64 + 4);
    out.buf.extend_from_slice(b"\r\n");
    out.buf.extend_from_slice(&ext);
    out.buf.push(b':');
    out.buf.extend_from_slice(text);
    out.buf.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_as_lua_push_error_buff() {
        assert_eq!(error_text(b"-My Error"), b"My Error");
        assert_eq!(error_text(b"My Error"), b"ERR My Error");
        assert_eq!(error_text(b"-x"), b"ERR x");
        assert_eq!(error_text(b"-OOM no room\r\n"), b"OOM no room");
        assert_eq!(error_text(b"a\r\nb\r\n"), b"ERR a\r\nb");
        assert_eq!(error_reply_text(b"a\r\n"), b"a");
    }

    #[test]
    fn c_casts() {
        assert_eq!(c_cast_i64(3.99), 3);
        assert_eq!(c_cast_i64(-3.99), -3);
        assert_eq!(c_cast_i64(1e20), i64::MIN);
        assert_eq!(c_cast_i64(f64::NAN), i64::MIN);
        assert_eq!(c_cast_i64(f64::NEG_INFINITY), i64::MIN);
    }
}
