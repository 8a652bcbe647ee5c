//! FAILOVER (Redis 6.2+): a coordinated switch from this master to one of its
//! replicas with no acknowledged write lost. Writes are paused; once the target
//! replica has acknowledged everything (its ACKs come every second), this server
//! becomes its replica and asks it, with `PSYNC ... FAILOVER`, to take over first;
//! the target promotes itself and continues us partially. Any failure or the timeout
//! (without FORCE) puts everything back: this server stays master, writes resume.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redoubt_repl::failover::{FailoverArgs, FailoverState};

use super::lock;
use crate::pause::PauseMode;
use crate::server::Server;
use crate::{notice, warning};

/// How often the failover looks at the replicas' acknowledgements.
const POLL: Duration = Duration::from_millis(10);
/// The longest a failover without TIMEOUT may pause writes before the target
/// connects back (Redis waits forever; a bound keeps a lost target from freezing
/// writes for good).
const UNBOUNDED_PAUSE: Duration = Duration::from_secs(3600);

/// The failover in progress, if any.
#[derive(Default)]
pub struct Failover {
    state: AtomicU8,
    run: Mutex<Option<Run>>,
}

#[derive(Clone)]
struct Run {
    args: FailoverArgs,
    deadline: Option<Instant>,
    /// The replica chosen (TO, or the first one found caught up).
    target: Option<(String, u16)>,
}

impl Failover {
    pub fn state(&self) -> FailoverState {
        FailoverState::from_u8(self.state.load(Relaxed))
    }

    fn set_state(&self, s: FailoverState) {
        self.state.store(s as u8, Relaxed);
    }

    /// True while the stream must not move (writes paused, no PING or GETACK added):
    /// the target must be able to acknowledge the exact end.
    pub fn holds_stream(&self) -> bool {
        self.state() != FailoverState::None
    }

    /// True while this server, turned replica, asks its target to take over.
    pub fn psync_flag(&self) -> bool {
        self.state() == FailoverState::InProgress
    }
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | ABORT.
pub fn start(server: &Arc<Server>, args: FailoverArgs) -> Result<(), &'static str> {
    let r = &server.replication;
    if args.abort {
        if r.failover.state() == FailoverState::None {
            return Err("ERR No failover in progress.");
        }
        abort(server, "Failover manually aborted");
        return Ok(());
    }
    redoubt_repl::failover::check(&args, r.failover.state(), r.is_replica(), r.replica_count())?;
    if let Some((host, port)) = &args.target {
        let link = r.replicas().into_iter().find(|l| l.ip.eq_ignore_ascii_case(host) && l.listening_port == *port);
        match link {
            None => return Err("ERR FAILOVER target HOST and PORT is not a replica."),
            Some(l) if !l.is_online() => return Err("ERR FAILOVER target replica is not online."),
            Some(_) => {}
        }
    }
    let deadline = (args.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(args.timeout_ms as u64));
    let target = args.target.as_ref().map(|(h, p)| (h.clone(), *p as u16));
    *lock(&r.failover.run) = Some(Run { args, deadline, target });
    r.failover.set_state(FailoverState::WaitForSync);
    server.pause.start(PauseMode::Write, deadline.unwrap_or_else(|| Instant::now() + UNBOUNDED_PAUSE));
    notice!("FAILOVER requested.");
    let s = server.clone();
    tokio::spawn(async move { drive(s).await });
    Ok(())
}

/// Waits for the target to catch up, then hands over; ends when the failover does.
async fn drive(server: Arc<Server>) {
    let r = &server.replication;
    loop {
        tokio::time::sleep(POLL).await;
        let Some(run) = lock(&r.failover.run).clone() else { return };
        let timed_out = run.deadline.is_some_and(|d| Instant::now() >= d);
        match r.failover.state() {
            FailoverState::None => return,
            FailoverState::WaitForSync => {
                let end = server.engine.journal.offset();
                let caught_up = r.replicas().into_iter().find(|l| {
                    l.is_online()
                        && l.ack_offset.load(Relaxed) >= end
                        && run
                            .target
                            .as_ref()
                            .is_none_or(|(h, p)| l.ip.eq_ignore_ascii_case(h) && l.listening_port == *p as i64)
                });
                let target = match (caught_up, &run.target) {
                    (Some(l), _) => (l.ip.clone(), l.listening_port as u16),
                    (None, Some(t)) if timed_out && run.args.force => t.clone(),
                    (None, _) if timed_out => {
                        abort(&server, "FAILOVER to the replica timed out");
                        return;
                    }
                    (None, _) => continue,
                };
                notice!("Failover target {}:{} is synced, failing over.", target.0, target.1);
                if let Some(run) = lock(&r.failover.run).as_mut() {
                    run.target = Some(target.clone());
                }
                r.failover.set_state(FailoverState::InProgress);
                super::set_master(&server, target.0, target.1);
            }
            FailoverState::InProgress => {
                if r.link_state() == redoubt_repl::link::LinkState::Connected {
                    finish(&server);
                    return;
                }
                if timed_out {
                    abort(&server, "FAILOVER to the target timed out");
                    return;
                }
            }
        }
    }
}

/// The target took over and we follow it: writes resume (and are refused, as a
/// replica refuses them).
fn finish(server: &Server) {
    let r = &server.replication;
    *lock(&r.failover.run) = None;
    r.failover.set_state(FailoverState::None);
    server.pause.stop();
    notice!("Failover target accepted the PSYNC FAILOVER: failover complete.");
}

/// Puts things back: master again if we had turned replica, writes resume.
pub fn abort(server: &Arc<Server>, why: &str) {
    let r = &server.replication;
    let was = r.failover.state();
    *lock(&r.failover.run) = None;
    r.failover.set_state(FailoverState::None);
    if was == FailoverState::InProgress && r.is_replica() {
        super::unset_master(server);
    }
    server.pause.stop();
    warning!("{why}: failover aborted, this server stays a master.");
}
