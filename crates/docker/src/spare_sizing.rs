//! How many spare boxes to keep: enough to cover the box creations that
//! arrive while one spare is being made, so that a new box never waits
//! for a container to be made.
//!
//! By Little's law, the boxes asked for during one make time are the
//! arrival rate times the make time; the pool keeps that many, times a
//! safety factor for bursts, within the configured bounds:
//! `target = clamp(ceil(rate × make_time × safety), min, max)`.
//! Both inputs are measured here: the rate from the creations of the last
//! `rate_window`, the make time as a moving average of the boxes made.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::SparePoolConfig;

/// The make time assumed before the first box is made (about what one
/// takes on an idle engine here).
const FIRST_MAKE_TIME_GUESS: Duration = Duration::from_millis(400);

/// Weight of the newest make time in the moving average: recent enough
/// to follow a loaded engine within a few boxes, smooth enough that one
/// slow box does not double the pool.
const MAKE_TIME_WEIGHT: f64 = 0.25;

/// Creations remembered at most, so a flood cannot grow the record
/// without bound (the rate it shows is then a lower bound, and the
/// target is at the maximum long before).
const MAX_REMEMBERED_ARRIVALS: usize = 4096;

/// The measurements the pool is sized from.
#[derive(Debug, Default)]
pub(crate) struct PoolSizing {
    /// When boxes were asked for, oldest first, within the rate window.
    arrivals: VecDeque<Instant>,
    /// Moving average of the time to make a box, once one was made.
    make_time: Option<Duration>,
}

impl PoolSizing {
    /// A box was asked for (`Backend::create`), spare or not.
    pub(crate) fn record_arrival(&mut self, now: Instant, window: Duration) {
        self.forget_before(now, window);
        if self.arrivals.len() == MAX_REMEMBERED_ARRIVALS {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(now);
    }

    /// A box was made in `took`, for the pool or on demand.
    pub(crate) fn record_make(&mut self, took: Duration) {
        self.make_time = Some(match self.make_time {
            None => took,
            Some(average) => average.mul_f64(1.0 - MAKE_TIME_WEIGHT) + took.mul_f64(MAKE_TIME_WEIGHT),
        });
    }

    /// The time to make a box, as measured (or first guessed).
    pub(crate) fn make_time(&self) -> Duration {
        self.make_time.unwrap_or(FIRST_MAKE_TIME_GUESS)
    }

    /// Boxes asked for per second: the creations of the last `window`
    /// over the time they span. A span shorter than one make time counts
    /// as one make time, so the first creations after a quiet spell are
    /// read as "this many per make time", not as an unbounded rate. When
    /// creations stop, they leave the window one by one and the rate
    /// falls to zero within `window`.
    pub(crate) fn arrival_rate(&mut self, now: Instant, window: Duration) -> f64 {
        self.forget_before(now, window);
        let Some(oldest) = self.arrivals.front() else { return 0.0 };
        let span = now.saturating_duration_since(*oldest).max(self.make_time());
        self.arrivals.len() as f64 / span.as_secs_f64()
    }

    /// How many spares to keep now.
    pub(crate) fn target(&mut self, now: Instant, config: &SparePoolConfig) -> usize {
        if config.max == 0 {
            return 0;
        }
        let rate = self.arrival_rate(now, config.rate_window());
        let wanted = (rate * self.make_time().as_secs_f64() * config.safety).ceil();
        // `wanted` is finite and non-negative (a validated config); the
        // float-to-int cast saturates.
        (wanted as usize).clamp(config.min, config.max)
    }

    fn forget_before(&mut self, now: Instant, window: Duration) {
        while self.arrivals.front().is_some_and(|t| now.saturating_duration_since(*t) > window) {
            self.arrivals.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SparePoolConfig {
        SparePoolConfig { min: 1, max: 8, safety: 2.0, make_concurrency: 2, rate_window_secs: 10 }
    }

    /// Creations every `gap`, `count` of them, starting at `start`;
    /// returns when the last came.
    fn arrive(sizing: &mut PoolSizing, start: Instant, gap: Duration, count: u32) -> Instant {
        let window = config().rate_window();
        let mut now = start;
        for i in 0..count {
            now = start + gap * i;
            sizing.record_arrival(now, window);
        }
        now
    }

    /// Boxes made in 0.4 s, and asked for 5 a second for 10 s; returns
    /// when the last was asked for.
    fn five_a_second_for_ten_seconds() -> (PoolSizing, Instant) {
        let mut sizing = PoolSizing::default();
        sizing.record_make(Duration::from_millis(400));
        let last = arrive(&mut sizing, Instant::now(), Duration::from_millis(200), 50);
        (sizing, last)
    }

    #[test]
    fn with_no_creations_the_pool_keeps_its_minimum() {
        let mut sizing = PoolSizing::default();
        assert_eq!(sizing.target(Instant::now(), &config()), 1);
        let off = SparePoolConfig { min: 0, max: 0, ..config() };
        assert_eq!(sizing.target(Instant::now(), &off), 0);
    }

    #[test]
    fn a_steady_rate_gives_rate_times_make_time_times_safety() {
        // 5 a second for 10 s: 5 × 0.4 s × 2 = 4 spares.
        let (mut sizing, now) = five_a_second_for_ten_seconds();
        let rate = sizing.arrival_rate(now, config().rate_window());
        assert!((4.9..=5.2).contains(&rate), "rate {rate}");
        assert_eq!(sizing.target(now, &config()), 5, "ceil(5.1 × 0.4 × 2)");
        // A slower engine needs more spares for the same rate.
        for _ in 0..30 {
            sizing.record_make(Duration::from_millis(1000));
        }
        assert_eq!(sizing.target(now, &config()), 8, "ceil(5.1 × 1.0 × 2), clamped to the maximum");
    }

    #[test]
    fn the_pool_shrinks_back_to_its_minimum_once_creations_stop() {
        let (mut sizing, last) = five_a_second_for_ten_seconds();
        let halfway = sizing.target(last + Duration::from_secs(5), &config());
        assert!((2..5).contains(&halfway), "half the window later: {halfway}");
        assert_eq!(sizing.target(last + Duration::from_secs(11), &config()), 1);
    }

    #[test]
    fn a_burst_after_a_quiet_spell_counts_per_make_time() {
        let mut sizing = PoolSizing::default();
        sizing.record_make(Duration::from_millis(400));
        // Three creations within a millisecond: three per make time,
        // times the safety factor.
        let now = arrive(&mut sizing, Instant::now(), Duration::from_micros(100), 3);
        assert_eq!(sizing.target(now, &config()), 6);
    }

    #[test]
    fn the_make_time_follows_the_engine() {
        let mut sizing = PoolSizing::default();
        assert_eq!(sizing.make_time(), FIRST_MAKE_TIME_GUESS);
        sizing.record_make(Duration::from_millis(300));
        assert_eq!(sizing.make_time(), Duration::from_millis(300));
        sizing.record_make(Duration::from_millis(700));
        assert!((sizing.make_time().as_secs_f64() - 0.4).abs() < 1e-6, "{:?}", sizing.make_time());
    }
}
