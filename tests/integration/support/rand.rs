//! Deterministic generators for the randomized tests: the same sequence on every run,
//! so a failure replays.

/// A 64-bit linear congruential generator (Knuth's MMIX constants), top bits out.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One step of Marsaglia's xorshift64 (13, 7, 17) on `state`; returns the new state.
pub fn xorshift(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
