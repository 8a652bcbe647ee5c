//! `bit`: LuaBitOp's operations on 32-bit integers, as Redis bundles them.
//!
//! Arguments are normalized the way LuaBitOp does (the double is rounded to the nearest
//! integer, ties to even, and taken modulo 2^32); results are signed 32-bit numbers.

use mlua::{Lua, MultiValue, Table, Value};

use super::{arg_number, done, fail, function, LibResult};

/// LuaBitOp's `barg`: adding 2^52 + 2^51 puts the integer part in the low 32 bits of
/// the mantissa, rounding to nearest even, exactly as the C library does.
pub fn normalize(n: f64) -> i32 {
    let b = (n + 6_755_399_441_055_744.0).to_bits();
    b as u32 as i32
}

fn arg(args: &MultiValue, i: usize, name: &str) -> Result<i32, String> {
    arg_number(args, i, name).map(normalize)
}

fn num(v: i32) -> LibResult {
    done(vec![Value::Number(v as f64)])
}

fn fold(lua: &Lua, args: &MultiValue, name: &str, f: fn(i32, i32) -> i32) -> LibResult {
    let mut acc = match arg(args, 0, name) {
        Ok(v) => v,
        Err(e) => return fail(lua, e),
    };
    for i in 1..args.len() {
        match arg(args, i, name) {
            Ok(v) => acc = f(acc, v),
            Err(e) => return fail(lua, e),
        }
    }
    num(acc)
}

fn unary(lua: &Lua, args: &MultiValue, name: &str, f: fn(i32) -> i32) -> LibResult {
    match arg(args, 0, name) {
        Ok(v) => num(f(v)),
        Err(e) => fail(lua, e),
    }
}

fn shift(lua: &Lua, args: &MultiValue, name: &str, f: fn(i32, u32) -> i32) -> LibResult {
    match (arg(args, 0, name), arg(args, 1, name)) {
        (Ok(x), Ok(n)) => num(f(x, (n & 31) as u32)),
        (Err(e), _) | (_, Err(e)) => fail(lua, e),
    }
}

fn tohex(lua: &Lua, name: &str, args: MultiValue) -> LibResult {
    let x = match arg(&args, 0, name) {
        Ok(v) => v as u32,
        Err(e) => return fail(lua, e),
    };
    let mut n = match args.get(1) {
        None | Some(Value::Nil) => 8,
        Some(_) => match arg(&args, 1, name) {
            Ok(v) => v,
            Err(e) => return fail(lua, e),
        },
    };
    let upper = n < 0;
    if upper {
        n = n.wrapping_neg();
    }
    let n = n.clamp(0, 8) as usize;
    let full = if upper { format!("{x:08X}") } else { format!("{x:08x}") };
    done(vec![Value::String(lua.create_string(&full[8 - n..])?)])
}

/// The `bit` table.
pub fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("tobit", function(lua, |l, n, a| unary(l, &a, n, |x| x))?)?;
    t.set("bnot", function(lua, |l, n, a| unary(l, &a, n, |x| !x))?)?;
    t.set("bswap", function(lua, |l, n, a| unary(l, &a, n, i32::swap_bytes))?)?;
    t.set("band", function(lua, |l, n, a| fold(l, &a, n, |x, y| x & y))?)?;
    t.set("bor", function(lua, |l, n, a| fold(l, &a, n, |x, y| x | y))?)?;
    t.set("bxor", function(lua, |l, n, a| fold(l, &a, n, |x, y| x ^ y))?)?;
    t.set("lshift", function(lua, |l, n, a| shift(l, &a, n, |x, n| ((x as u32) << n) as i32))?)?;
    t.set("rshift", function(lua, |l, n, a| shift(l, &a, n, |x, n| ((x as u32) >> n) as i32))?)?;
    t.set("arshift", function(lua, |l, n, a| shift(l, &a, n, |x, n| x >> n))?)?;
    t.set("rol", function(lua, |l, n, a| shift(l, &a, n, |x, n| (x as u32).rotate_left(n) as i32))?)?;
    t.set("ror", function(lua, |l, n, a| shift(l, &a, n, |x, n| (x as u32).rotate_right(n) as i32))?)?;
    t.set("tohex", function(lua, tohex)?)?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalization_as_luabitop() {
        assert_eq!(normalize(1.0), 1);
        assert_eq!(normalize(-1.0), -1);
        assert_eq!(normalize(4294967295.0), -1);
        assert_eq!(normalize(4294967296.0), 0);
        assert_eq!(normalize(2.5), 2);
        assert_eq!(normalize(3.5), 4);
        assert_eq!(normalize(2147483648.0), i32::MIN);
    }
}
