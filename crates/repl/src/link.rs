//! The states of a replication link, as INFO and ROLE name them, and the replica's
//! reconnect backoff.

/// Where a replica is with its master (Redis's `repl_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Not a replica.
    None = 0,
    /// Must connect (waiting for its next attempt).
    Connect = 1,
    /// TCP connect in progress.
    Connecting = 2,
    /// PING, AUTH, REPLCONF, PSYNC.
    Handshake = 3,
    /// Receiving (or loading) the master's snapshot.
    Transfer = 4,
    /// Applying the master's stream.
    Connected = 5,
}

impl LinkState {
    pub fn from_u8(v: u8) -> LinkState {
        match v {
            1 => LinkState::Connect,
            2 => LinkState::Connecting,
            3 => LinkState::Handshake,
            4 => LinkState::Transfer,
            5 => LinkState::Connected,
            _ => LinkState::None,
        }
    }

    /// ROLE's state word.
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::None => "none",
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        }
    }

    /// INFO's `master_link_status`.
    pub fn link_status(self) -> &'static str {
        if self == LinkState::Connected {
            "up"
        } else {
            "down"
        }
    }
}

/// Where a replica is, seen from its master (Redis's `slave->replstate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ReplicaState {
    /// Waiting for a snapshot to start (diskless delay, another snapshot running).
    WaitBgsave = 0,
    /// The snapshot is being produced and sent.
    SendBulk = 1,
    /// Receiving the stream.
    Online = 2,
}

impl ReplicaState {
    pub fn from_u8(v: u8) -> ReplicaState {
        match v {
            1 => ReplicaState::SendBulk,
            2 => ReplicaState::Online,
            _ => ReplicaState::WaitBgsave,
        }
    }

    /// INFO's `state=` of a `slaveN` line.
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// The first delay before reconnecting after a failure.
pub const BACKOFF_MIN_MS: u64 = 100;
/// The longest delay between two attempts: a replica keeps trying forever (as Redis's
/// does), but never more often than its backoff allows.
pub const BACKOFF_MAX_MS: u64 = 5_000;

/// Exponential backoff between connection attempts, reset by a successful sync.
#[derive(Clone, Debug)]
pub struct Backoff {
    next_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next_ms: BACKOFF_MIN_MS }
    }
}

impl Backoff {
    /// The delay before the next attempt; doubles each time up to the cap.
    pub fn next_delay_ms(&mut self) -> u64 {
        let d = self.next_ms;
        self.next_ms = (self.next_ms * 2).min(BACKOFF_MAX_MS);
        d
    }

    pub fn reset(&mut self) {
        self.next_ms = BACKOFF_MIN_MS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_backoff() {
        assert_eq!(LinkState::from_u8(LinkState::Transfer as u8).role_name(), "sync");
        assert_eq!(LinkState::Connected.link_status(), "up");
        assert_eq!(LinkState::Handshake.link_status(), "down");
        assert_eq!(ReplicaState::from_u8(2).name(), "online");
        let mut b = Backoff::default();
        let delays: Vec<u64> = (0..10).map(|_| b.next_delay_ms()).collect();
        assert_eq!(&delays[..4], &[100, 200, 400, 800]);
        assert_eq!(*delays.last().unwrap(), BACKOFF_MAX_MS);
        b.reset();
        assert_eq!(b.next_delay_ms(), BACKOFF_MIN_MS);
    }
}
