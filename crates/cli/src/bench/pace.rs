//! Open-loop rate pacing: when each message is due, whatever the server does.
//!
//! Message `m` (counted from 0 across all publishers) is due at `start + m / rate` and goes
//! out on publisher `m % publishers`, so every publisher sends at `rate / publishers` and the
//! publishers take turns evenly. The schedule does not wait for replies (an open loop): a
//! slow server gets the same offered load as a fast one, and falls behind visibly instead of
//! slowing the bench down.

use std::ops::Range;
use std::time::Duration;
use tokio::time::Instant;

/// Which messages are due, at a total rate, from a start instant.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    start: Instant,
    /// Messages per second, all publishers together; 0 sends nothing.
    rate: f64,
    /// Messages handed out so far.
    issued: u64,
}

impl Pacer {
    pub(crate) fn new(start: Instant, rate: f64) -> Self {
        Pacer {
            start,
            rate: rate.max(0.0),
            issued: 0,
        }
    }

    /// When message `m` is due.
    pub(crate) fn due_at(&self, m: u64) -> Instant {
        self.start + Duration::from_secs_f64(m as f64 / self.rate)
    }

    /// When the next message is due, or `None` at rate 0.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        (self.rate > 0.0).then(|| self.due_at(self.issued))
    }

    /// The messages due by `now` that were not handed out yet; they count as handed out.
    pub(crate) fn take_due(&mut self, now: Instant) -> Range<u64> {
        if self.rate <= 0.0 || now < self.start {
            return self.issued..self.issued;
        }
        let elapsed = now.duration_since(self.start).as_secs_f64();
        // Message m is due when m / rate <= elapsed.
        let due = (elapsed * self.rate).floor() as u64 + 1;
        let range = self.issued..due.max(self.issued);
        self.issued = range.end;
        range
    }

    /// Restarts the schedule at `start` with a new rate (a ramp step).
    pub(crate) fn retarget(&mut self, start: Instant, rate: f64) {
        *self = Pacer::new(start, rate);
    }
}

/// Which connections publish: `publishers` of `connections`, spread evenly (with rooms of
/// consecutive connections, one publisher per room when there are as many publishers as
/// rooms).
pub(crate) fn publisher_connections(connections: usize, publishers: usize) -> Vec<usize> {
    let publishers = publishers.min(connections);
    (0..publishers)
        .map(|j| j * connections / publishers)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_messages_at_the_rate() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start, 1000.0);
        assert_eq!(pacer.take_due(start), 0..1);
        assert_eq!(pacer.take_due(start), 1..1);
        assert_eq!(pacer.next_due(), Some(start + Duration::from_millis(1)));
        // 10.5 ms in: messages 1..=10 are due.
        assert_eq!(pacer.take_due(start + Duration::from_micros(10_500)), 1..11);
        // One second in: 1001 messages in all (0 through 1000).
        assert_eq!(pacer.take_due(start + Duration::from_secs(1)).end, 1001);
    }

    #[test]
    fn a_late_caller_gets_the_backlog_at_once() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start, 200.0);
        let due = pacer.take_due(start + Duration::from_millis(500));
        assert_eq!(due, 0..101);
        assert!(pacer.due_at(100) <= start + Duration::from_millis(500));
    }

    #[test]
    fn rate_zero_sends_nothing_and_retarget_restarts() {
        let start = Instant::now();
        let mut pacer = Pacer::new(start, 0.0);
        assert_eq!(pacer.next_due(), None);
        assert!(pacer.take_due(start + Duration::from_secs(5)).is_empty());
        pacer.retarget(start + Duration::from_secs(5), 10.0);
        assert!(pacer.take_due(start + Duration::from_secs(4)).is_empty());
        assert_eq!(pacer.take_due(start + Duration::from_secs(6)), 0..11);
    }

    #[test]
    fn publishers_are_spread_over_the_connections() {
        assert_eq!(publisher_connections(10, 10), (0..10).collect::<Vec<_>>());
        assert_eq!(
            publisher_connections(100, 10),
            vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
        );
        assert_eq!(publisher_connections(10, 3), vec![0, 3, 6]);
        assert_eq!(publisher_connections(3, 5), vec![0, 1, 2]);
        assert!(publisher_connections(10, 0).is_empty());
    }
}
