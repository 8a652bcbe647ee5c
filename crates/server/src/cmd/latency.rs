//! The latency monitor: events (`command`, `fast-command`) slower than
//! `latency-monitor-threshold` milliseconds, one sample per second each, the last 160
//! kept, as Redis keeps them; LATEST, HISTORY, RESET, HELP.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use redoubt_engine::CmdResult;

use crate::dispatch::{Call, ServerCommand};

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const SAMPLES_MAX: usize = 160;

pub static COMMANDS: &[ServerCommand] = &[
    ServerCommand { name: "latency|latest", handler: latest },
    ServerCommand { name: "latency|history", handler: history },
    ServerCommand { name: "latency|reset", handler: reset },
    ServerCommand { name: "latency|help", handler: help },
];

#[derive(Default)]
struct Series {
    samples: VecDeque<(i64, u64)>,
    max_ms: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl LatencyMonitor {
    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Relaxed);
    }

    /// Records a command's duration if the monitor is on and it was slow enough.
    pub fn record_command(&self, fast: bool, us: i64) {
        let threshold = self.threshold_ms.load(Relaxed);
        let ms = (us / 1000).max(0) as u64;
        if threshold == 0 || ms < threshold {
            return;
        }
        self.add(if fast { "fast-command" } else { "command" }, ms);
    }

    /// Adds a sample; samples within the same second keep the largest.
    pub fn add(&self, event: &'static str, ms: u64) {
        let now = redoubt_engine::clock::now_ms() / 1000;
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let s = events.entry(event).or_default();
        s.max_ms = s.max_ms.max(ms);
        match s.samples.back_mut() {
            Some((t, v)) if *t == now => *v = (*v).max(ms),
            _ => {
                s.samples.push_back((now, ms));
                if s.samples.len() > SAMPLES_MAX {
                    s.samples.pop_front();
                }
            }
        }
    }
}

fn latest(c: &mut Call) -> CmdResult {
    let events = c.server.latency.events.lock().unwrap_or_else(|e| e.into_inner());
    c.out.array(events.len());
    for (name, s) in events.iter() {
        let (t, v) = s.samples.back().copied().unwrap_or((0, 0));
        c.out.array(4);
        c.out.bulk(name.as_bytes());
        c.out.int(t);
        c.out.int(v as i64);
        c.out.int(s.max_ms as i64);
    }
    Ok(())
}

fn history(c: &mut Call) -> CmdResult {
    let events = c.server.latency.events.lock().unwrap_or_else(|e| e.into_inner());
    let name = String::from_utf8_lossy(c.args.get(2)).into_owned();
    match events.get(name.as_str()) {
        None => c.out.array(0),
        Some(s) => {
            c.out.array(s.samples.len());
            for (t, v) in &s.samples {
                c.out.array(2);
                c.out.int(*t);
                c.out.int(*v as i64);
            }
        }
    }
    Ok(())
}

fn reset(c: &mut Call) -> CmdResult {
    let mut events = c.server.latency.events.lock().unwrap_or_else(|e| e.into_inner());
    let n = if c.args.len() == 2 {
        let n = events.len();
        events.clear();
        n
    } else {
        let names: Vec<String> = c.args.iter().skip(2).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let before = events.len();
        events.retain(|k, _| !names.iter().any(|n| n == k));
        before - events.len()
    };
    c.out.int(n as i64);
    Ok(())
}

fn help(c: &mut Call) -> CmdResult {
    super::help(
        c.out,
        "LATENCY",
        &[
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
        ],
    );
    Ok(())
}
