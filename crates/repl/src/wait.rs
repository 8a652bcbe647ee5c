//! WAIT's arguments (the server polls the replicas' acknowledged offsets).

/// WAIT's arguments as Redis reads them: the number of replicas (any integer) and
/// the timeout in milliseconds (0: forever). Errors are Redis's texts.
pub fn parse_wait(numreplicas: &[u8], timeout: &[u8]) -> Result<(i64, u64), &'static str> {
    let n = redoubt_resp::number::parse_i64(numreplicas).ok_or("ERR value is not an integer or out of range")?;
    let t = redoubt_resp::number::parse_i64(timeout).ok_or("ERR timeout is not an integer or out of range")?;
    if t < 0 {
        return Err("ERR timeout is negative");
    }
    Ok((n, t as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_arguments() {
        assert_eq!(parse_wait(b"1", b"0"), Ok((1, 0)));
        assert_eq!(parse_wait(b"a", b"0"), Err("ERR value is not an integer or out of range"));
        assert_eq!(parse_wait(b"1", b"-1"), Err("ERR timeout is negative"));
        assert_eq!(parse_wait(b"1", b"x"), Err("ERR timeout is not an integer or out of range"));
    }
}
