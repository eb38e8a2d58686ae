//! Timing helpers: throughput of a timed run and percentiles of per-call latencies.

use std::time::{Duration, Instant};

/// Runs `work` once and returns its result with the wall time it took.
pub fn timed<T>(work: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = work();
    (out, start.elapsed())
}

/// Rows per second for `rows` written in `elapsed`.
pub fn rows_per_second(rows: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        f64::INFINITY
    }
}

/// The latencies of many calls, kept sorted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    /// Collects and sorts `samples`.
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    /// How many calls were timed.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether no call was timed.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The nearest-rank percentile `p` (0 < p ≤ 100): the smallest sample that at least
    /// `p` percent of the samples do not exceed. Zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let n = self.sorted.len();
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        self.sorted[rank.clamp(1, n) - 1]
    }

    /// The median.
    pub fn p50(&self) -> Duration {
        self.percentile(50.0)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.percentile(99.0)
    }

    /// The slowest call.
    pub fn max(&self) -> Duration {
        self.sorted.last().copied().unwrap_or_default()
    }

    /// The sum of all calls.
    pub fn total(&self) -> Duration {
        self.sorted.iter().sum()
    }
}

/// Milliseconds with two decimals, for the report.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples = (1..=200).rev().map(Duration::from_millis).collect();
        let latencies = Latencies::new(samples);
        assert_eq!(latencies.len(), 200);
        assert_eq!(latencies.p50(), Duration::from_millis(100));
        assert_eq!(latencies.p99(), Duration::from_millis(198));
        assert_eq!(latencies.max(), Duration::from_millis(200));
        assert_eq!(latencies.percentile(100.0), Duration::from_millis(200));
        assert_eq!(latencies.total(), Duration::from_millis(20_100));
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(Latencies::default().p99(), Duration::ZERO);
        let seven = Duration::from_micros(7);
        let one = Latencies::new(vec![seven]);
        assert_eq!((one.p50(), one.p99(), one.max()), (seven, seven, seven));
    }

    #[test]
    fn throughput() {
        assert_eq!(rows_per_second(3_000, Duration::from_millis(1_500)), 2_000.0);
        assert_eq!(ms(Duration::from_micros(2_500)), 2.5);
    }
}
