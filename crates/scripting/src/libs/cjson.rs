//! `cjson`: JSON encoding and decoding with Lua CJSON 2.1's rules, as Redis bundles it.
//!
//! Encoding: numbers with 14 significant digits (`%.14g`), NaN and infinities refused,
//! `/` escaped as `\/`, a table is an array when its keys are exactly 1..n (a sparse one
//! is refused past the default ratio), else an object whose keys must be strings or
//! numbers; nesting is limited to 1000. Decoding: JSON to Lua values, `null` to
//! `cjson.null`, with the same nesting limit and CJSON's error texts.

use mlua::{LightUserData, Lua, MultiValue, Table, Value};

use super::{done, fail, function, lua_number_text, LibResult};

/// CJSON's default `encode_max_depth` / `decode_max_depth`.
const MAX_DEPTH: usize = 1000;
/// CJSON's default sparse-array rule: refuse when max index > count * 2 and > 10.
const SPARSE_RATIO: i64 = 2;
const SPARSE_SAFE: i64 = 10;

/// `cjson.null`: a NULL light userdata, as in CJSON.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn is_null(v: &Value) -> bool {
    matches!(v, Value::LightUserData(p) if p.0.is_null())
}

/* ---- ENCODE ---- */

fn encode(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    if args.len() != 1 {
        return fail(lua, format!("bad argument #1 to '{name}' (expected 1 argument)"));
    }
    let mut out = Vec::new();
    match encode_value(&mut out, &args[0], 0) {
        Ok(()) => done(vec![Value::String(lua.create_string(out)?)]),
        Err(e) => fail(lua, e),
    }
}

fn encode_value(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), String> {
    match v {
        Value::String(s) => encode_string(out, &s.as_bytes()),
        Value::Integer(i) => out.extend_from_slice(lua_number_text(*i as f64).as_bytes()),
        Value::Number(n) => {
            if !n.is_finite() {
                return Err("Cannot serialise number: must not be NaN or Inf".into());
            }
            out.extend_from_slice(lua_number_text(*n).as_bytes())
        }
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        v if is_null(v) => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            match array_length(t)? {
                Some(n) if n > 0 => {
                    out.push(b'[');
                    for i in 1..=n {
                        if i > 1 {
                            out.push(b',');
                        }
                        let item: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                        encode_value(out, &item, depth)?;
                    }
                    out.push(b']');
                }
                _ => encode_object(out, t, depth)?,
            }
        }
        other => return Err(format!("Cannot serialise {}: type not supported", other.type_name())),
    }
    Ok(())
}

/// `Some(n)` when `t` is an array of length n (keys exactly positive integers), `None`
/// when it must be an object; an error for an excessively sparse array.
fn array_length(t: &Table) -> Result<Option<i64>, String> {
    let (mut max, mut items) = (0i64, 0i64);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(|e| e.to_string())?;
        let n = match k {
            Value::Integer(i) if i >= 1 => i,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 && n < 9.0e15 => n as i64,
            _ => return Ok(None),
        };
        max = max.max(n);
        items += 1;
    }
    if max > items * SPARSE_RATIO && max > SPARSE_SAFE {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(Some(max))
}

fn encode_object(out: &mut Vec<u8>, t: &Table, depth: usize) -> Result<(), String> {
    out.push(b'{');
    let mut first = true;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| e.to_string())?;
        if !first {
            out.push(b',');
        }
        first = false;
        match &k {
            Value::String(s) => encode_string(out, &s.as_bytes()),
            Value::Integer(i) => encode_string(out, lua_number_text(*i as f64).as_bytes()),
            Value::Number(n) => encode_string(out, lua_number_text(*n).as_bytes()),
            other => {
                return Err(format!("Cannot serialise {}: table key must be a number or string", other.type_name()))
            }
        }
        out.push(b':');
        encode_value(out, &v, depth)?;
    }
    out.push(b'}');
    Ok(())
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/* ---- DECODE ---- */

/// A token as CJSON names it in errors.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Colon,
    Comma,
    End,
    Value,
    /// A token that could not be read; the text says why.
    Error(&'static str),
}

/// CJSON's name for a token in "Expected X but found Y" (its `json_token_type_name`).
fn tok_name(t: Tok, v: &Option<Value>) -> &'static str {
    match t {
        Tok::ObjBegin => "T_OBJ_BEGIN",
        Tok::ObjEnd => "T_OBJ_END",
        Tok::ArrBegin => "T_ARR_BEGIN",
        Tok::ArrEnd => "T_ARR_END",
        Tok::Colon => "T_COLON",
        Tok::Comma => "T_COMMA",
        Tok::End => "T_END",
        Tok::Error(why) => why,
        Tok::Value => match v {
            Some(Value::String(_)) => "T_STRING",
            Some(Value::Number(_)) => "T_NUMBER",
            Some(Value::Boolean(_)) => "T_BOOLEAN",
            _ => "T_NULL",
        },
    }
}

struct Decoder<'a, 'l> {
    lua: &'l Lua,
    s: &'a [u8],
    at: usize,
    depth: usize,
}

/// A scan of the next token: its kind, value, and where it started (1-based).
struct Token {
    kind: Tok,
    value: Option<Value>,
    index: usize,
}

type DResult<T> = Result<T, String>;

impl Decoder<'_, '_> {
    fn error(&self, expected: &str, t: &Token) -> String {
        format!("Expected {expected} but found {} at character {}", tok_name(t.kind, &t.value), t.index)
    }

    fn next(&mut self) -> mlua::Result<DResult<Token>> {
        while self.s.get(self.at).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
        let index = self.at + 1;
        let Some(&c) = self.s.get(self.at) else {
            return Ok(Ok(Token { kind: Tok::End, value: None, index }));
        };
        let simple = |kind| Ok(Ok(Token { kind, value: None, index }));
        match c {
            b'{' => {
                self.at += 1;
                simple(Tok::ObjBegin)
            }
            b'}' => {
                self.at += 1;
                simple(Tok::ObjEnd)
            }
            b'[' => {
                self.at += 1;
                simple(Tok::ArrBegin)
            }
            b']' => {
                self.at += 1;
                simple(Tok::ArrEnd)
            }
            b':' => {
                self.at += 1;
                simple(Tok::Colon)
            }
            b',' => {
                self.at += 1;
                simple(Tok::Comma)
            }
            b'"' => match self.string() {
                Ok(bytes) => {
                    let value = Some(Value::String(self.lua.create_string(bytes)?));
                    Ok(Ok(Token { kind: Tok::Value, value, index }))
                }
                // Located where reading stopped (the escape, or the end).
                Err((what, at)) => Ok(Ok(Token { kind: Tok::Error(what), value: None, index: at + 1 })),
            },
            b'-' | b'0'..=b'9' => match self.number() {
                Some(n) => Ok(Ok(Token { kind: Tok::Value, value: Some(Value::Number(n)), index })),
                None => Ok(Ok(Token { kind: Tok::Error("invalid number"), value: None, index })),
            },
            _ => {
                let rest = &self.s[self.at..];
                let word = |w: &[u8], v: Value| -> Option<Token> {
                    rest.starts_with(w).then(|| Token { kind: Tok::Value, value: Some(v), index })
                };
                let t = word(b"true", Value::Boolean(true))
                    .or_else(|| word(b"false", Value::Boolean(false)))
                    .or_else(|| word(b"null", null()));
                match t {
                    Some(t) => {
                        self.at += match &t.value {
                            Some(Value::Boolean(true)) => 4,
                            Some(Value::Boolean(false)) => 5,
                            _ => 4,
                        };
                        Ok(Ok(t))
                    }
                    None => Ok(Ok(Token { kind: Tok::Error("invalid token"), value: None, index })),
                }
            }
        }
    }

    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        let mut end = start;
        while self.s.get(end).is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')) {
            end += 1;
        }
        let text = std::str::from_utf8(&self.s[start..end]).ok()?;
        let n: f64 = text.parse().ok()?;
        self.at = end;
        Some(n)
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let h = self.s.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    /// A string token; on failure the reason and the offset where reading stopped.
    fn string(&mut self) -> Result<Vec<u8>, (&'static str, usize)> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.at) else { return Err(("unexpected end of string", self.at)) };
            self.at += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let escape_at = self.at - 1;
                    let Some(&e) = self.s.get(self.at) else { return Err(("unexpected end of string", self.at)) };
                    self.at += 1;
                    let bad = |what| (what, escape_at);
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4(self.at).ok_or(bad("invalid unicode escape code"))?;
                            self.at += 4;
                            if (0xd800..0xdc00).contains(&cp) {
                                let low = (self.s.get(self.at..self.at + 2) == Some(b"\\u"))
                                    .then(|| self.hex4(self.at + 2))
                                    .flatten()
                                    .filter(|l| (0xdc00..0xe000).contains(l))
                                    .ok_or(bad("invalid unicode escape code"))?;
                                self.at += 6;
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                            } else if (0xdc00..0xe000).contains(&cp) {
                                return Err(bad("invalid unicode escape code"));
                            }
                            let ch = char::from_u32(cp).ok_or(bad("invalid unicode escape code"))?;
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Err(bad("invalid escape code")),
                    }
                }
                c => out.push(c),
            }
        }
    }

    /// A value starting with token `t`.
    fn value(&mut self, t: Token) -> mlua::Result<DResult<Value>> {
        match t.kind {
            Tok::Value => Ok(Ok(t.value.unwrap_or(Value::Nil))),
            Tok::ObjBegin => self.object(t.index),
            Tok::ArrBegin => self.array(t.index),
            _ => Ok(Err(self.error("value", &t))),
        }
    }

    fn nest(&mut self, index: usize) -> DResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("Found too many nested data structures ({}) at character {index}", self.depth));
        }
        Ok(())
    }

    fn array(&mut self, index: usize) -> mlua::Result<DResult<Value>> {
        if let Err(e) = self.nest(index) {
            return Ok(Err(e));
        }
        let t = self.lua.create_table()?;
        let mut i = 1;
        let mut tok = match self.next()? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        if tok.kind == Tok::ArrEnd {
            self.depth -= 1;
            return Ok(Ok(Value::Table(t)));
        }
        loop {
            let v = match self.value(tok)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            t.raw_set(i, v)?;
            i += 1;
            let sep = match self.next()? {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            match sep.kind {
                Tok::ArrEnd => break,
                Tok::Comma => {}
                _ => return Ok(Err(self.error("comma or array end", &sep))),
            }
            tok = match self.next()? {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
        }
        self.depth -= 1;
        Ok(Ok(Value::Table(t)))
    }

    fn object(&mut self, index: usize) -> mlua::Result<DResult<Value>> {
        if let Err(e) = self.nest(index) {
            return Ok(Err(e));
        }
        let t = self.lua.create_table()?;
        let mut tok = match self.next()? {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        if tok.kind == Tok::ObjEnd {
            self.depth -= 1;
            return Ok(Ok(Value::Table(t)));
        }
        loop {
            let key = match (&tok.kind, &tok.value) {
                (Tok::Value, Some(Value::String(s))) => s.clone(),
                _ => return Ok(Err(self.error("object key string", &tok))),
            };
            let colon = match self.next()? {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            if colon.kind != Tok::Colon {
                return Ok(Err(self.error("colon", &colon)));
            }
            let vt = match self.next()? {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            let v = match self.value(vt)? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            t.raw_set(key, v)?;
            let sep = match self.next()? {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
            match sep.kind {
                Tok::ObjEnd => break,
                Tok::Comma => {}
                _ => return Ok(Err(self.error("comma or object end", &sep))),
            }
            tok = match self.next()? {
                Ok(t) => t,
                Err(e) => return Ok(Err(e)),
            };
        }
        self.depth -= 1;
        Ok(Ok(Value::Table(t)))
    }
}

fn decode(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    if args.len() != 1 {
        return fail(lua, format!("bad argument #1 to '{name}' (expected 1 argument)"));
    }
    let s = match super::arg_string(&args, 0, name) {
        Ok(s) => s,
        Err(e) => return fail(lua, e),
    };
    let mut d = Decoder { lua, s: &s, at: 0, depth: 0 };
    let first = match d.next()? {
        Ok(t) => t,
        Err(e) => return fail(lua, e),
    };
    let v = match d.value(first)? {
        Ok(v) => v,
        Err(e) => return fail(lua, e),
    };
    match d.next()? {
        Ok(t) if t.kind == Tok::End => done(vec![v]),
        Ok(t) => fail(lua, d.error("the end", &t)),
        Err(e) => fail(lua, e),
    }
}

/// The `cjson` table.
pub fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("encode", function(lua, encode)?)?;
    t.set("decode", function(lua, decode)?)?;
    t.set("null", null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}
