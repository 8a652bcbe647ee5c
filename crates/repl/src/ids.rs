//! Replication ids and the master's PSYNC decision (PSYNC2).
//!
//! A master's history is named by its replication id; the offset counts the bytes of
//! that history. When a replica is promoted it takes a new id and keeps the old one as
//! `id2`, valid up to `second_offset`: replicas of the old master share that history
//! up to there, so they can continue from it partially ([`ReplIds::psync`]).
//!
//! Offsets as Redis counts them: `master_repl_offset` is the number of bytes in the
//! stream; a replica asks for the 1-based offset of the next byte it wants (its own
//! offset plus one).

/// Length of a replication id: 40 hex digits.
pub const ID_LEN: usize = 40;

/// The id Redis shows when there is no secondary id.
pub const NO_ID: &str = "0000000000000000000000000000000000000000";

/// A server's replication ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplIds {
    /// The history this server's stream belongs to (`master_replid`).
    pub id: String,
    /// The history it inherited (`master_replid2`), or [`NO_ID`].
    pub id2: String,
    /// The first offset `id2` does not cover (`second_repl_offset`), or -1.
    pub second_offset: i64,
}

/// What the backlog can serve: the stream's end and how many bytes before it are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BacklogView {
    /// `master_repl_offset`.
    pub end: u64,
    /// Bytes kept before `end` (`repl_backlog_histlen`).
    pub len: u64,
    /// False when no backlog exists at all (nothing was recorded).
    pub active: bool,
}

/// A PSYNC request: the id the replica follows and the 1-based offset it wants next
/// (`?` and -1 for "none", as SYNC and a fresh replica send).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsyncRequest<'a> {
    pub id: &'a str,
    pub offset: Option<i64>,
}

/// The master's answer to a PSYNC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Psync {
    /// +CONTINUE: send the stream from this 0-based stream offset.
    Continue { from: u64 },
    /// +FULLRESYNC, and why (for the log and `sync_partial_err`).
    Full(FullReason),
}

/// Why a partial resynchronization is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FullReason {
    /// The replica asked for none (`PSYNC ? -1`, SYNC).
    Requested,
    /// The offset is not a number.
    BadOffset,
    /// Neither of our ids is the replica's.
    IdMismatch,
    /// The replica follows our old id past the point where we left it.
    PastSecondId { asked: i64, limit: i64 },
    /// The backlog does not hold the requested offset (or holds nothing).
    NoBacklog { asked: i64 },
}

impl FullReason {
    /// Counts as a failed partial attempt (INFO's `sync_partial_err`): everything but
    /// an explicit request for a full one.
    pub fn is_partial_error(&self) -> bool {
        !matches!(self, FullReason::Requested)
    }
}

impl ReplIds {
    pub fn new(id: String) -> ReplIds {
        ReplIds { id, id2: NO_ID.to_string(), second_offset: -1 }
    }

    /// Starts a new history at `offset`, keeping the current one as the secondary id
    /// (a promotion: Redis's `shiftReplicationId`).
    pub fn shift(&mut self, new_id: String, offset: u64) {
        self.id2 = std::mem::replace(&mut self.id, new_id);
        self.second_offset = offset as i64 + 1;
    }

    /// Forgets the secondary id.
    pub fn clear_second(&mut self) {
        self.id2 = NO_ID.to_string();
        self.second_offset = -1;
    }

    /// Redis's `masterTryPartialResynchronization`, without the I/O: whether `req` can
    /// continue from our stream.
    pub fn psync(&self, req: &PsyncRequest<'_>, backlog: BacklogView) -> Psync {
        let Some(asked) = req.offset else { return Psync::Full(FullReason::BadOffset) };
        let ours = req.id.eq_ignore_ascii_case(&self.id);
        let second = req.id.eq_ignore_ascii_case(&self.id2) && self.id2 != NO_ID;
        let shared_history = ours || (second && asked <= self.second_offset);
        if !shared_history {
            return Psync::Full(if req.id == "?" {
                FullReason::Requested
            } else if second {
                FullReason::PastSecondId { asked, limit: self.second_offset }
            } else {
                FullReason::IdMismatch
            });
        }
        // The first byte the backlog holds, 1-based: everything from there to the end
        // (and the empty continuation at the very end) can be served.
        let first = (backlog.end - backlog.len + 1) as i64;
        if !backlog.active || asked < first || asked > backlog.end as i64 + 1 {
            return Psync::Full(FullReason::NoBacklog { asked });
        }
        Psync::Continue { from: (asked - 1) as u64 }
    }
}

/// Whether `s` looks like a replication id (40 characters, no spaces).
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> String {
        std::iter::repeat_n(c, ID_LEN).collect()
    }

    fn req(id: &str, offset: i64) -> PsyncRequest<'_> {
        PsyncRequest { id, offset: Some(offset) }
    }

    const FULL_BACKLOG: BacklogView = BacklogView { end: 1000, len: 500, active: true };

    #[test]
    fn continues_within_the_backlog_only() {
        let ids = ReplIds::new(id('a'));
        let a = id('a');
        assert_eq!(ids.psync(&req(&a, 1001), FULL_BACKLOG), Psync::Continue { from: 1000 });
        assert_eq!(ids.psync(&req(&a, 501), FULL_BACKLOG), Psync::Continue { from: 500 });
        assert_eq!(ids.psync(&req(&a, 500), FULL_BACKLOG), Psync::Full(FullReason::NoBacklog { asked: 500 }));
        assert_eq!(ids.psync(&req(&a, 1002), FULL_BACKLOG), Psync::Full(FullReason::NoBacklog { asked: 1002 }));
        // An empty backlog still serves a replica that has everything.
        let empty = BacklogView { end: 1000, len: 0, active: true };
        assert_eq!(ids.psync(&req(&a, 1001), empty), Psync::Continue { from: 1000 });
        let none = BacklogView { active: false, ..empty };
        assert!(matches!(ids.psync(&req(&a, 1001), none), Psync::Full(FullReason::NoBacklog { .. })));
    }

    #[test]
    fn full_for_other_ids_and_for_the_question_mark() {
        let ids = ReplIds::new(id('a'));
        assert_eq!(ids.psync(&req("?", -1), FULL_BACKLOG), Psync::Full(FullReason::Requested));
        assert_eq!(ids.psync(&req(&id('b'), 900), FULL_BACKLOG), Psync::Full(FullReason::IdMismatch));
        let bad = PsyncRequest { id: &id('a'), offset: None };
        assert_eq!(ids.psync(&bad, FULL_BACKLOG), Psync::Full(FullReason::BadOffset));
        assert!(!FullReason::Requested.is_partial_error());
        assert!(FullReason::IdMismatch.is_partial_error());
    }

    #[test]
    fn a_promoted_replica_serves_the_old_history_up_to_the_switch() {
        let mut ids = ReplIds::new(id('a'));
        ids.shift(id('b'), 800);
        assert_eq!((ids.id2.as_str(), ids.second_offset), (id('a').as_str(), 801));
        let old = id('a');
        assert_eq!(ids.psync(&req(&old, 801), FULL_BACKLOG), Psync::Continue { from: 800 });
        assert_eq!(ids.psync(&req(&old, 700), FULL_BACKLOG), Psync::Continue { from: 699 });
        assert_eq!(
            ids.psync(&req(&old, 802), FULL_BACKLOG),
            Psync::Full(FullReason::PastSecondId { asked: 802, limit: 801 })
        );
        ids.clear_second();
        assert_eq!(ids.psync(&req(&old, 801), FULL_BACKLOG), Psync::Full(FullReason::IdMismatch));
        assert!(is_id(&ids.id) && !is_id("?"));
    }
}
