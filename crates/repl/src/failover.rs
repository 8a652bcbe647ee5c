//! FAILOVER (Redis 6.2): its arguments, its errors and its states.
//!
//! The master pauses writes, waits until the target replica has acknowledged its whole
//! stream, then turns itself into a replica of the target with `PSYNC ... FAILOVER`,
//! which makes the target promote itself before answering. No write acknowledged by
//! the old master can be missing on the new one: writes were paused before the target
//! caught up, and nothing was written after.

/// Where a failover is (INFO's `master_failover_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FailoverState {
    None = 0,
    /// Writes are paused; waiting for the target to catch up.
    WaitForSync = 1,
    /// Switching: this server is becoming a replica of the target.
    InProgress = 2,
}

impl FailoverState {
    pub fn from_u8(v: u8) -> FailoverState {
        match v {
            1 => FailoverState::WaitForSync,
            2 => FailoverState::InProgress,
            _ => FailoverState::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "no-failover",
            FailoverState::WaitForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

/// What FAILOVER was asked to do.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FailoverArgs {
    pub abort: bool,
    /// TO host port.
    pub target: Option<(String, i64)>,
    /// TIMEOUT ms (0: none).
    pub timeout_ms: i64,
    pub force: bool,
}

/// Parses FAILOVER's arguments (after the command name) in Redis's order of checks;
/// the error is Redis's text. The checks that depend on the server's state come after
/// ([`check`]).
pub fn parse(args: &[&[u8]]) -> Result<FailoverArgs, &'static str> {
    if args.len() == 1 && args[0].eq_ignore_ascii_case(b"abort") {
        return Ok(FailoverArgs { abort: true, ..Default::default() });
    }
    let int = |a: &[u8]| redoubt_resp::number::parse_i64(a).ok_or("ERR value is not an integer or out of range");
    let mut out = FailoverArgs::default();
    let mut j = 0;
    while j < args.len() {
        let a = args[j];
        if a.eq_ignore_ascii_case(b"timeout") && j + 1 < args.len() && out.timeout_ms == 0 {
            let t = int(args[j + 1])?;
            if t <= 0 {
                return Err("ERR FAILOVER timeout must be greater than 0");
            }
            out.timeout_ms = t;
            j += 2;
        } else if a.eq_ignore_ascii_case(b"to") && j + 2 < args.len() && out.target.is_none() {
            let port = int(args[j + 2])?;
            out.target = Some((String::from_utf8_lossy(args[j + 1]).into_owned(), port));
            j += 3;
        } else if a.eq_ignore_ascii_case(b"force") && !out.force {
            out.force = true;
            j += 1;
        } else {
            return Err("ERR syntax error");
        }
    }
    Ok(out)
}

/// The server's side of the checks, in Redis's order.
pub fn check(args: &FailoverArgs, state: FailoverState, is_replica: bool, replicas: usize) -> Result<(), &'static str> {
    if state != FailoverState::None {
        return Err("ERR FAILOVER already in progress.");
    }
    if is_replica {
        return Err("ERR FAILOVER is not valid when server is a replica.");
    }
    if replicas == 0 {
        return Err("ERR FAILOVER requires connected replicas.");
    }
    if args.force && (args.timeout_ms == 0 || args.target.is_none()) {
        return Err("ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<FailoverArgs, &'static str> {
        parse(&args.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments_and_errors_as_redis() {
        assert_eq!(p(&["ABORT"]).unwrap(), FailoverArgs { abort: true, ..Default::default() });
        let a = p(&["to", "h", "7000", "timeout", "50", "force"]).unwrap();
        assert_eq!(a.target, Some(("h".into(), 7000)));
        assert_eq!((a.timeout_ms, a.force), (50, true));
        assert_eq!(p(&["timeout", "0"]), Err("ERR FAILOVER timeout must be greater than 0"));
        assert_eq!(p(&["timeout", "x"]), Err("ERR value is not an integer or out of range"));
        assert_eq!(p(&["to", "x"]), Err("ERR syntax error"));
        assert_eq!(p(&["blah"]), Err("ERR syntax error"));
        assert_eq!(p(&["force", "force"]), Err("ERR syntax error"));
        assert_eq!(p(&["abort", "x"]), Err("ERR syntax error"));
        let none = FailoverArgs::default();
        assert_eq!(check(&none, FailoverState::None, false, 0), Err("ERR FAILOVER requires connected replicas."));
        assert_eq!(
            check(&none, FailoverState::None, true, 1),
            Err("ERR FAILOVER is not valid when server is a replica.")
        );
        assert_eq!(check(&none, FailoverState::WaitForSync, false, 1), Err("ERR FAILOVER already in progress."));
        let force = FailoverArgs { force: true, ..Default::default() };
        assert!(check(&force, FailoverState::None, false, 1).unwrap_err().contains("force option"));
        assert_eq!(FailoverState::from_u8(1).name(), "waiting-for-sync");
    }
}
