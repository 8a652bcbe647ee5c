//! A reply parser for the client side of a connection: the replica's link to its
//! master, the benchmark and test tools. It reads every RESP2 and RESP3 type.

use crate::number::parse_i64;
use crate::request::memchr;

/// Deepest nesting accepted: a peer cannot make us recurse without bound.
pub const MAX_DEPTH: usize = 64;
/// Largest aggregate or bulk a reply may announce.
pub const MAX_LEN: i64 = 1 << 32;

/// A decoded reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Push(Vec<Value>),
    Double(Vec<u8>),
    Bool(bool),
    BigNumber(Vec<u8>),
    Verbatim(Vec<u8>),
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Incomplete,
    Invalid(&'static str),
}

/// Decodes one reply from the start of `buf`; returns it and the bytes it used.
pub fn decode(buf: &[u8]) -> Result<(Value, usize), DecodeError> {
    decode_at(buf, 0, 0)
}

fn line(buf: &[u8], from: usize) -> Result<(&[u8], usize), DecodeError> {
    let rest = buf.get(from..).ok_or(DecodeError::Incomplete)?;
    let cr = memchr(b'\r', rest).ok_or(DecodeError::Incomplete)?;
    if cr + 2 > rest.len() {
        return Err(DecodeError::Incomplete);
    }
    Ok((&rest[..cr], from + cr + 2))
}

fn length(text: &[u8]) -> Result<i64, DecodeError> {
    match parse_i64(text) {
        Some(n) if (-1..=MAX_LEN).contains(&n) => Ok(n),
        _ => Err(DecodeError::Invalid("bad length")),
    }
}

fn decode_at(buf: &[u8], at: usize, depth: usize) -> Result<(Value, usize), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::Invalid("nesting too deep"));
    }
    let kind = *buf.get(at).ok_or(DecodeError::Incomplete)?;
    let (text, next) = line(buf, at + 1)?;
    let aggregate = |n: i64, per: usize| -> Result<(Vec<Value>, usize), DecodeError> {
        let mut items = Vec::with_capacity((n.max(0) as usize * per).min(1024));
        let mut pos = next;
        for _ in 0..n.max(0) as usize * per {
            let (v, p) = decode_at(buf, pos, depth + 1)?;
            items.push(v);
            pos = p;
        }
        Ok((items, pos))
    };
    let bulk = |n: i64| -> Result<(Vec<u8>, usize), DecodeError> {
        let n = n as usize;
        if buf.len() < next + n + 2 {
            return Err(DecodeError::Incomplete);
        }
        Ok((buf[next..next + n].to_vec(), next + n + 2))
    };
    Ok(match kind {
        b'+' => (Value::Simple(text.to_vec()), next),
        b'-' => (Value::Error(text.to_vec()), next),
        b':' => (Value::Int(parse_i64(text).ok_or(DecodeError::Invalid("bad integer"))?), next),
        b'_' => (Value::Null, next),
        b',' => (Value::Double(text.to_vec()), next),
        b'(' => (Value::BigNumber(text.to_vec()), next),
        b'#' => (Value::Bool(text == b"t"), next),
        b'$' | b'=' | b'!' => match length(text)? {
            -1 => (Value::Null, next),
            n => {
                let (data, end) = bulk(n)?;
                match kind {
                    b'$' => (Value::Bulk(data), end),
                    b'=' => (Value::Verbatim(data), end),
                    _ => (Value::Error(data), end),
                }
            }
        },
        b'*' | b'~' | b'>' => match length(text)? {
            -1 => (Value::Null, next),
            n => {
                let (items, end) = aggregate(n, 1)?;
                match kind {
                    b'*' => (Value::Array(items), end),
                    b'~' => (Value::Set(items), end),
                    _ => (Value::Push(items), end),
                }
            }
        },
        b'%' | b'|' => {
            let n = length(text)?;
            let (items, end) = aggregate(n, 2)?;
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            if kind == b'|' {
                // An attribute precedes the real reply; we skip it.
                let (v, end2) = decode_at(buf, end, depth + 1)?;
                return Ok((v, end2));
            }
            (Value::Map(pairs), end)
        }
        _ => return Err(DecodeError::Invalid("unknown reply type")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nested_replies() {
        let (v, n) = decode(b"*3\r\n:1\r\n$-1\r\n%1\r\n+a\r\n,1.5\r\nrest").unwrap();
        assert_eq!(n, 27);
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Int(1),
                Value::Null,
                Value::Map(vec![(Value::Simple(b"a".to_vec()), Value::Double(b"1.5".to_vec()))])
            ])
        );
        assert_eq!(decode(b"$5\r\nhel"), Err(DecodeError::Incomplete));
        assert!(matches!(decode(b"?x\r\n"), Err(DecodeError::Invalid(_))));
    }
}
