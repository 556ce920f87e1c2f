//! A run's wall-time account. Time it spends waiting for the person's
//! input does not count: the deadline moves on by every interval between
//! two checks that both found it waiting. One wait may last at most
//! `input_wait_ms`; a notice comes before that ends the run, so the person
//! can still answer.

use std::time::Duration;

use bytesbox_sandbox::RunLimits;
use tokio::time::Instant;

/// How often a run is checked for waiting on its input. The first check
/// comes this long after the start, so a short run is never looked at.
pub(crate) const INPUT_CHECK_INTERVAL: Duration = Duration::from_millis(250);
/// How long before a wait's end the notice comes (at most; half the
/// allowed wait when that is shorter).
const WARNING_LEAD: Duration = Duration::from_secs(30);

/// What a check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Nothing to say.
    Quiet,
    /// The wait is about to end the run: tell the person.
    Warn(String),
    /// The wait went on too long: end the run.
    WaitedTooLong,
}

#[derive(Debug)]
pub(crate) struct WallClock {
    deadline: Instant,
    input_wait: Duration,
    last_check: Instant,
    waiting_at_last_check: bool,
    /// When the current wait was first seen.
    wait_seen_at: Option<Instant>,
    warned: bool,
}

impl WallClock {
    pub(crate) fn new(started: Instant, limits: &RunLimits) -> WallClock {
        WallClock {
            deadline: started + Duration::from_millis(limits.wall_time_ms),
            input_wait: Duration::from_millis(limits.input_wait_ms),
            last_check: started,
            waiting_at_last_check: false,
            wait_seen_at: None,
            warned: false,
        }
    }

    /// When the run's wall time is up, as far as is known now.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Takes a check made at `now` that found the run `waiting` for input
    /// or not.
    pub(crate) fn check(&mut self, now: Instant, waiting: bool) -> Checked {
        let since_last = now.saturating_duration_since(self.last_check);
        let both_waiting = waiting && self.waiting_at_last_check;
        self.last_check = now;
        self.waiting_at_last_check = waiting;
        if !waiting {
            self.wait_seen_at = None;
            self.warned = false;
            return Checked::Quiet;
        }
        if both_waiting {
            self.deadline += since_last;
        }
        let waited = now.saturating_duration_since(*self.wait_seen_at.get_or_insert(now));
        if waited >= self.input_wait {
            return Checked::WaitedTooLong;
        }
        let lead = WARNING_LEAD.min(self.input_wait / 2);
        if !self.warned && waited + lead >= self.input_wait {
            self.warned = true;
            let left = self.input_wait - waited;
            return Checked::Warn(format!(
                "This program has waited {} for input and will be stopped in {} unless it gets some.",
                spoken(waited),
                spoken(left)
            ));
        }
        Checked::Quiet
    }
}

/// A duration as a person says it: "4 min 30 s", "12 s", "250 ms".
fn spoken(duration: Duration) -> String {
    let ms = duration.as_millis();
    // A check that came a few milliseconds late still says "1 s".
    if ms < 950 {
        return format!("{ms} ms");
    }
    let seconds = (ms + 500) / 1000;
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(wall_ms: u64, input_wait_ms: u64) -> RunLimits {
        RunLimits { wall_time_ms: wall_ms, input_wait_ms, ..RunLimits::default() }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn time_between_two_waiting_checks_does_not_count() {
        let start = Instant::now();
        let mut clock = WallClock::new(start, &limits(1000, 60_000));
        assert_eq!(clock.deadline(), start + ms(1000));
        // The first check that sees a wait gives nothing back: the wait
        // may have begun just before it.
        assert_eq!(clock.check(start + ms(250), true), Checked::Quiet);
        assert_eq!(clock.deadline(), start + ms(1000));
        clock.check(start + ms(500), true);
        clock.check(start + ms(750), true);
        assert_eq!(clock.deadline(), start + ms(1500));
        // Working again: the clock runs.
        clock.check(start + ms(1000), false);
        clock.check(start + ms(1250), true);
        assert_eq!(clock.deadline(), start + ms(1500));
    }

    #[test]
    fn a_long_wait_is_warned_about_once_then_ends_the_run() {
        let start = Instant::now();
        let mut clock = WallClock::new(start, &limits(1000, 120_000));
        let mut now = start;
        let mut warnings = Vec::new();
        let ended = loop {
            now += INPUT_CHECK_INTERVAL;
            match clock.check(now, true) {
                Checked::Quiet => {}
                Checked::Warn(text) => warnings.push((now - start, text)),
                Checked::WaitedTooLong => break now - start,
            }
        };
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        // The wait was first seen at 250 ms; 30 s before its end.
        assert_eq!(warnings[0].0, ms(90_250));
        assert_eq!(
            warnings[0].1,
            "This program has waited 1 min 30 s for input and will be stopped in 30 s unless it gets some."
        );
        assert_eq!(ended, ms(120_250));
        assert!(clock.deadline() > start + ended, "the wall clock did not end it first");
    }

    #[test]
    fn an_answer_starts_a_new_wait_with_its_own_warning() {
        let start = Instant::now();
        let mut clock = WallClock::new(start, &limits(10_000, 2_000));
        assert_eq!(clock.check(start + ms(250), true), Checked::Quiet);
        // Half the wait is the lead when it is under a minute.
        assert!(matches!(clock.check(start + ms(1250), true), Checked::Warn(_)));
        assert_eq!(clock.check(start + ms(1500), false), Checked::Quiet);
        assert_eq!(clock.check(start + ms(1750), true), Checked::Quiet);
        assert!(matches!(clock.check(start + ms(2750), true), Checked::Warn(_)));
        assert_eq!(clock.check(start + ms(3750), true), Checked::WaitedTooLong);
    }

    #[test]
    fn durations_are_spoken_plainly() {
        assert_eq!(spoken(ms(250)), "250 ms");
        assert_eq!(spoken(ms(994)), "1 s");
        assert_eq!(spoken(ms(12_400)), "12 s");
        assert_eq!(spoken(ms(300_000)), "5 min");
        assert_eq!(spoken(ms(270_000)), "4 min 30 s");
    }
}
