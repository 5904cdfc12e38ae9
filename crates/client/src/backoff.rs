//! Reconnect delays: capped exponential backoff with "full jitter".
//!
//! The delay before attempt `n` is uniform in `[0, min(max, base · 2ⁿ)]` (the "Full Jitter"
//! variant of the AWS Architecture Blog's "Exponential Backoff And Jitter"). Spreading the
//! delay over the whole window is what keeps thousands of clients that lost the same server
//! from coming back in lock-step when it restarts.

use rand::Rng;
use std::time::Duration;

/// The reconnect delay schedule of one client.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A schedule whose window starts at `base` and doubles up to `max`.
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The upper bound of the next delay.
    pub(crate) fn ceiling(&self) -> Duration {
        // 2^20 · base is past any sensible cap; stopping there keeps the multiplication finite.
        let factor = 1u32 << self.attempt.min(20);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next attempt, and one more step up the schedule.
    pub(crate) fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.gen_range(0..=millis))
    }

    /// Back to the start, after a connection that worked.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::mock::StepRng;
    use rand::SeedableRng;

    #[test]
    fn the_window_doubles_up_to_the_cap() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut rng = StepRng::new(0, 0);
        let ceilings: Vec<u128> = (0..6)
            .map(|_| {
                let c = backoff.ceiling().as_millis();
                backoff.next_delay(&mut rng);
                c
            })
            .collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn delays_are_jittered_within_the_window() {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(400));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay(&mut rng);
            assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
            seen.insert(delay);
        }
        // Full jitter spreads clients out: the delays are not one fixed value.
        assert!(seen.len() > 50, "only {} distinct delays", seen.len());
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        // A constant RNG would spin in the range sampler's rejection loop; a seeded one is fine.
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert!(backoff.next_delay(&mut rng) <= Duration::from_secs(30));
        }
        assert_eq!(backoff.ceiling(), Duration::from_secs(30));
    }

    #[test]
    fn a_cap_below_the_base_is_raised_to_it() {
        let backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(), Duration::from_secs(2));
    }
}
