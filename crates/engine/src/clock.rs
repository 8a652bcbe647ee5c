//! Time: wall-clock milliseconds for expiry, and the 24-bit access clocks that Redis
//! keeps in every object for LRU and LFU eviction (`OBJECT IDLETIME`, `OBJECT FREQ`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Unix time in microseconds.
pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// The LRU clock wraps at 24 bits, with one-second resolution (Redis's `LRU_CLOCK_MAX`).
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// LFU counter value of a new key (Redis's `LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u32 = 5;

/// The LRU clock at `now_ms`.
pub fn lru_clock(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}

/// Milliseconds since an object with clock `lru` was last touched.
pub fn idle_ms(lru: u32, now_ms: i64) -> u64 {
    let clock = lru_clock(now_ms);
    let lru = lru & LRU_CLOCK_MAX;
    let secs = if clock >= lru { clock - lru } else { clock + (LRU_CLOCK_MAX - lru) };
    secs as u64 * 1000
}

/// Minutes, modulo 2^16: the LFU decrement time (`ldt`).
fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xffff
}

/// The initial LFU field of a new object: now, with the initial counter.
pub fn lfu_init(now_ms: i64) -> u32 {
    (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
}

/// The LFU counter of `lru` after decay (`LFUDecrAndReturn`): one step per
/// `decay_minutes` elapsed since the last access.
pub fn lfu_decayed(lru: u32, now_ms: i64, decay_minutes: u32) -> u32 {
    let ldt = lru >> 8;
    let counter = lru & 0xff;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt { now - ldt } else { 65535 - ldt + now };
    let periods = elapsed.checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// The LFU field after an access: decay, then a logarithmic increment
/// (`LFULogIncr`) driven by `rnd` in [0, 1).
pub fn lfu_touch(lru: u32, now_ms: i64, log_factor: u32, decay_minutes: u32, rnd: f64) -> u32 {
    let mut counter = lfu_decayed(lru, now_ms, decay_minutes);
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * log_factor as f64 + 1.0);
        if rnd < p {
            counter += 1;
        }
    }
    (lfu_minutes(now_ms) << 8) | counter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks() {
        let t = 1_700_000_000_000;
        assert_eq!(idle_ms(lru_clock(t - 5000), t), 5000);
        let f = lfu_init(t);
        assert_eq!(f & 0xff, LFU_INIT_VAL);
        assert_eq!(lfu_touch(f, t, 10, 1, 0.0) & 0xff, LFU_INIT_VAL + 1);
        assert_eq!(lfu_decayed(f, t + 3 * 60_000, 1), LFU_INIT_VAL - 3);
    }
}
