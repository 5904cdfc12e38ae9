//! What the bench counts: per measurement window, HDR histograms of delivery latency, receipt
//! latency and send lag, and counters; over the whole run, totals and error samples.
//!
//! Every connection task records into one [`Recorder`]. A delivery belongs to the window its
//! *send* time falls in (so its latency is charged to the offered load that caused it, even
//! when it arrives after the window closed); it also counts towards the window its *receive*
//! time falls in, for deliveries per second and CPU per delivery. With one worker thread
//! (the default) the mutex is never contended; an uncontended lock is a few nanoseconds.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Latencies are recorded in microseconds, from 1 µs to one hour, to 3 significant digits.
const HIGHEST_US: u64 = 3_600_000_000;
/// Error texts kept for the report.
const ERROR_SAMPLES: usize = 5;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("the bounds are valid constants")
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub(crate) struct LatencySummary {
    /// Samples.
    pub(crate) count: u64,
    /// Arithmetic mean.
    pub(crate) mean_ms: f64,
    /// Median.
    pub(crate) p50_ms: f64,
    /// 90th percentile.
    pub(crate) p90_ms: f64,
    /// 99th percentile.
    pub(crate) p99_ms: f64,
    /// 99.9th percentile.
    pub(crate) p999_ms: f64,
    /// Largest sample.
    pub(crate) max_ms: f64,
}

impl LatencySummary {
    /// Summarises a histogram of microseconds.
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return LatencySummary::default();
        }
        // Milliseconds to the microsecond.
        let ms = |us: f64| us.round() / 1000.0;
        let at = |q: f64| ms(h.value_at_quantile(q) as f64);
        LatencySummary {
            count: h.len(),
            mean_ms: ms(h.mean()),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: ms(h.max() as f64),
        }
    }
}

/// The latency-by-percentile curve of a histogram: (percentile, milliseconds) points, dense
/// in the tail, for the plot.
pub(crate) fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_quantiles(4)
        .map(|v| {
            (
                v.quantile_iterated_to() * 100.0,
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .collect()
}

/// One measurement window and what happened in it.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Unix nanoseconds, inclusive.
    pub(crate) start_ns: u64,
    /// Unix nanoseconds, exclusive.
    pub(crate) end_ns: u64,
    /// Delivery latency (µs) of messages sent in the window.
    pub(crate) latency: Histogram<u64>,
    /// Receipt latency (µs) of SENDs made in the window.
    pub(crate) receipts: Histogram<u64>,
    /// How late (µs) each SEND of the window left against its schedule: the bench's own lag.
    pub(crate) lag: Histogram<u64>,
    /// SENDs made in the window.
    pub(crate) sends: u64,
    /// Deliveries those SENDs should cause (each SEND times its destination's subscribers).
    pub(crate) expected: u64,
    /// Deliveries received (whenever) of messages sent in the window.
    pub(crate) deliveries: u64,
    /// Deliveries received in the window (whenever sent).
    pub(crate) received: u64,
    /// Of those, the ones received on a connection of another node than the sender's (a
    /// cluster run: publishers on one node, everyone else on others), which Redis carried.
    pub(crate) received_across_nodes: u64,
    /// Errors of any kind in the window.
    pub(crate) errors: u64,
}

impl Window {
    fn new(start_ns: u64, end_ns: u64) -> Self {
        Window {
            start_ns,
            end_ns,
            latency: histogram(),
            receipts: histogram(),
            lag: histogram(),
            sends: 0,
            expected: 0,
            deliveries: 0,
            received: 0,
            received_across_nodes: 0,
            errors: 0,
        }
    }

    fn contains(&self, ns: u64) -> bool {
        (self.start_ns..self.end_ns).contains(&ns)
    }

    /// The window's length in seconds.
    pub(crate) fn secs(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }
}

/// Counters over the whole run, warm-up included.
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) sends: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    /// Deliveries received on a connection of another node than the publishers'.
    pub(crate) deliveries_across_nodes: AtomicU64,
    pub(crate) receipts: AtomicU64,
    /// MESSAGE frames that carry no bench timestamp (room announcements and the like).
    pub(crate) other_messages: AtomicU64,
    /// `ERROR` frames.
    pub(crate) error_frames: AtomicU64,
    /// Non-fatal error events (sotong's `/user/queue/errors`).
    pub(crate) error_events: AtomicU64,
    /// Connections that ended before the bench closed them.
    pub(crate) disconnects: AtomicU64,
    /// Received bytes that were not STOMP.
    pub(crate) malformed: AtomicU64,
}

/// A kind of error, for the totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    Frame,
    Event,
    Disconnect,
    Malformed,
}

/// Shared by every connection task and the controller.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) totals: Totals,
    windows: Mutex<Vec<Window>>,
    samples: Mutex<Vec<String>>,
}

/// Microseconds from `from_ns` to `to_ns`, at least 1 (the histogram's lowest value).
fn micros(from_ns: u64, to_ns: u64) -> u64 {
    (to_ns.saturating_sub(from_ns) / 1000).clamp(1, HIGHEST_US)
}

impl Recorder {
    fn windows(&self) -> std::sync::MutexGuard<'_, Vec<Window>> {
        // A panic while recording leaves plain counters behind: still worth reading.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a measurement window; returns its index.
    pub(crate) fn open_window(&self, start_ns: u64, end_ns: u64) -> usize {
        let mut windows = self.windows();
        windows.push(Window::new(start_ns, end_ns));
        windows.len() - 1
    }

    /// A copy of window `index` as it stands.
    pub(crate) fn window(&self, index: usize) -> Option<Window> {
        self.windows().get(index).cloned()
    }

    /// A SEND stamped `sent_ns` that was due at `due_ns`, to `fanout` subscribers.
    pub(crate) fn sent(&self, sent_ns: u64, due_ns: u64, fanout: u64) {
        self.totals.sends.fetch_add(1, Relaxed);
        let mut windows = self.windows();
        if let Some(w) = windows
            .iter_mut()
            .rev()
            .take(3)
            .find(|w| w.contains(sent_ns))
        {
            w.sends += 1;
            w.expected += fanout;
            w.lag.saturating_record(micros(due_ns, sent_ns));
        }
    }

    /// A delivery of a message stamped `sent_ns`, received at `now_ns`, `across_nodes` when
    /// the receiving connection is on another node than the publishers.
    pub(crate) fn delivered(&self, sent_ns: u64, now_ns: u64, across_nodes: bool) {
        self.totals.deliveries.fetch_add(1, Relaxed);
        if across_nodes {
            self.totals.deliveries_across_nodes.fetch_add(1, Relaxed);
        }
        let mut windows = self.windows();
        for w in windows.iter_mut().rev().take(3) {
            if w.contains(sent_ns) {
                w.deliveries += 1;
                w.latency.saturating_record(micros(sent_ns, now_ns));
            }
            if w.contains(now_ns) {
                w.received += 1;
                w.received_across_nodes += u64::from(across_nodes);
            }
        }
    }

    /// A RECEIPT for a SEND stamped `sent_ns`, received at `now_ns`.
    pub(crate) fn receipt(&self, sent_ns: u64, now_ns: u64) {
        self.totals.receipts.fetch_add(1, Relaxed);
        let mut windows = self.windows();
        if let Some(w) = windows
            .iter_mut()
            .rev()
            .take(3)
            .find(|w| w.contains(sent_ns))
        {
            w.receipts.saturating_record(micros(sent_ns, now_ns));
        }
    }

    /// An error at `now_ns`, with a description kept for the first few.
    pub(crate) fn error(&self, kind: ErrorKind, now_ns: u64, describe: impl FnOnce() -> String) {
        let counter = match kind {
            ErrorKind::Frame => &self.totals.error_frames,
            ErrorKind::Event => &self.totals.error_events,
            ErrorKind::Disconnect => &self.totals.disconnects,
            ErrorKind::Malformed => &self.totals.malformed,
        };
        counter.fetch_add(1, Relaxed);
        if let Some(w) = self.windows().iter_mut().rev().find(|w| w.contains(now_ns)) {
            w.errors += 1;
        }
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() < ERROR_SAMPLES {
            samples.push(describe());
        }
    }

    /// Errors of every kind so far.
    pub(crate) fn error_count(&self) -> u64 {
        let t = &self.totals;
        t.error_frames.load(Relaxed)
            + t.error_events.load(Relaxed)
            + t.disconnects.load(Relaxed)
            + t.malformed.load(Relaxed)
    }

    /// The first few error descriptions.
    pub(crate) fn error_samples(&self) -> Vec<String> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_percentiles_in_milliseconds() {
        let mut h = histogram();
        for us in 1..=1000 {
            h.record(us * 10).unwrap();
        }
        let s = LatencySummary::of(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 5.0).abs() < 0.01, "{s:?}");
        assert!((s.p90_ms - 9.0).abs() < 0.01, "{s:?}");
        assert!((s.p99_ms - 9.9).abs() < 0.01, "{s:?}");
        assert!((s.p999_ms - 9.99).abs() < 0.01, "{s:?}");
        assert!((s.max_ms - 10.0).abs() < 0.01, "{s:?}");
        assert!((s.mean_ms - 5.005).abs() < 0.01, "{s:?}");
        assert_eq!(LatencySummary::of(&histogram()), LatencySummary::default());
    }

    #[test]
    fn the_curve_rises_to_the_maximum() {
        let mut h = histogram();
        for us in [100, 200, 300, 5000] {
            h.record(us).unwrap();
        }
        let curve = percentile_curve(&h);
        assert!(curve
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        let last = curve.last().unwrap();
        assert!((last.0 - 100.0).abs() < 1e-9);
        assert!((last.1 - 5.0).abs() < 0.01);
    }

    #[test]
    fn deliveries_belong_to_the_window_of_their_send_time() {
        let rec = Recorder::default();
        let w = rec.open_window(1_000_000, 2_000_000);
        rec.sent(1_500_000, 1_400_000, 3);
        rec.sent(2_500_000, 2_500_000, 3); // after the window
        rec.delivered(1_500_000, 2_100_000, true); // sent inside, received after
        rec.delivered(900_000, 1_100_000, false); // sent before, received inside
        rec.delivered(950_000, 1_200_000, true); // the same, on another node
        rec.receipt(1_500_000, 1_700_000);
        rec.error(ErrorKind::Event, 1_600_000, || "rate_limited".into());
        let w = rec.window(w).unwrap();
        assert_eq!(w.sends, 1);
        assert_eq!(w.expected, 3);
        assert_eq!(w.deliveries, 1);
        assert_eq!(w.received, 2);
        assert_eq!(w.received_across_nodes, 1);
        assert_eq!(w.errors, 1);
        assert_eq!(w.latency.max(), 600);
        assert_eq!(w.receipts.max(), 200);
        assert_eq!(w.lag.max(), 100);
        assert_eq!(rec.totals.deliveries.load(Relaxed), 3);
        assert_eq!(rec.totals.deliveries_across_nodes.load(Relaxed), 2);
        assert_eq!(rec.error_count(), 1);
        assert_eq!(rec.error_samples(), vec!["rate_limited".to_string()]);
        assert!((w.secs() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn microseconds_are_clamped_to_the_histogram() {
        assert_eq!(micros(10_000, 5_000), 1);
        assert_eq!(micros(0, 2_500), 2);
        assert_eq!(micros(0, u64::MAX), HIGHEST_US);
    }
}
