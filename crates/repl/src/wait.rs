//! WAIT: clients waiting until enough replicas acknowledge an offset.
//!
//! The list is generic over what identifies a waiting client; the server owns the
//! replicas' acknowledged offsets and counts them ([`WaitList::ready`] asks). Like
//! Redis's `processClientsWaitingReplicas`, a count computed for one waiter answers
//! every later waiter that needs no more than it.

/// One waiting client.
#[derive(Debug)]
struct Waiter<T> {
    offset: u64,
    needed: i64,
    token: T,
}

/// The waiting clients, oldest first.
#[derive(Debug)]
pub struct WaitList<T> {
    waiters: Vec<Waiter<T>>,
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        WaitList { waiters: Vec::new() }
    }
}

impl<T: PartialEq> WaitList<T> {
    /// Adds a client waiting for `needed` replicas to reach `offset`.
    pub fn add(&mut self, token: T, offset: u64, needed: i64) {
        self.waiters.push(Waiter { offset, needed, token });
    }

    /// Removes a client (it timed out, disconnected or was unblocked); true if it was
    /// waiting.
    pub fn remove(&mut self, token: &T) -> bool {
        let before = self.waiters.len();
        self.waiters.retain(|w| &w.token != token);
        before != self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Takes out every client now satisfied, with the count to reply; `acks(offset)`
    /// counts the replicas that acknowledged `offset`.
    pub fn ready(&mut self, mut acks: impl FnMut(u64) -> i64) -> Vec<(T, i64)> {
        let mut done = Vec::new();
        let mut last: Option<(u64, i64)> = None;
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            let count = match last {
                Some((off, n)) if off >= w.offset && n >= w.needed => Some(n),
                _ => {
                    let n = acks(w.offset);
                    (n >= w.needed).then(|| {
                        last = Some((w.offset, n));
                        n
                    })
                }
            };
            match count {
                Some(n) => {
                    let w = self.waiters.remove(i);
                    done.push((w.token, n));
                }
                None => i += 1,
            }
        }
        done
    }
}

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
    fn waiters_are_answered_when_enough_replicas_ack() {
        let mut w = WaitList::default();
        w.add(1, 100, 2);
        w.add(2, 50, 1);
        w.add(3, 200, 1);
        let acks = [150u64, 60];
        let count = |off: u64| acks.iter().filter(|&&a| a >= off).count() as i64;
        let done = w.ready(count);
        assert_eq!(done, vec![(2, 2)]);
        assert_eq!(w.len(), 2);
        let acks = [250u64, 120];
        let done = w.ready(|off| acks.iter().filter(|&&a| a >= off).count() as i64);
        assert_eq!(done, vec![(1, 2), (3, 1)]);
        assert!(w.is_empty());
        w.add(9, 1, 1);
        assert!(w.remove(&9) && !w.remove(&9));
    }

    #[test]
    fn wait_arguments() {
        assert_eq!(parse_wait(b"1", b"0"), Ok((1, 0)));
        assert_eq!(parse_wait(b"a", b"0"), Err("ERR value is not an integer or out of range"));
        assert_eq!(parse_wait(b"1", b"-1"), Err("ERR timeout is negative"));
        assert_eq!(parse_wait(b"1", b"x"), Err("ERR timeout is not an integer or out of range"));
    }
}
