//! WAIT's state between its polls: the command is run again (`Flow::RetryAfter`)
//! until enough replicas acknowledged the offset or the deadline passed.

use std::time::Instant;

/// A WAIT in progress on a connection.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    /// The stream offset the replicas must acknowledge.
    pub offset: u64,
    pub needed: i64,
    pub deadline: Option<Instant>,
}
