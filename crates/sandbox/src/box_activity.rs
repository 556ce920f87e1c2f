//! What a backend keeps about a box's runs, the same way on every backend:
//! the runs in flight and in all, when the box was last used (for its idle
//! TTL and the listing), and whether it is being destroyed, which the
//! supervisors of its runs watch so that they end as `killed`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::backend::{BoxId, BoxInfo};

/// The runs and use of one box.
#[derive(Debug)]
pub struct BoxActivity {
    counts: Mutex<Counts>,
    destroyed: watch::Sender<bool>,
}

#[derive(Debug)]
struct Counts {
    active_runs: usize,
    total_runs: u64,
    last_active: Instant,
}

impl Default for BoxActivity {
    fn default() -> Self {
        BoxActivity::new()
    }
}

impl BoxActivity {
    /// A box that has had no run, used now.
    pub fn new() -> BoxActivity {
        let counts = Counts { active_runs: 0, total_runs: 0, last_active: Instant::now() };
        BoxActivity { counts: Mutex::new(counts), destroyed: watch::channel(false).0 }
    }

    /// Counts a run in; how many runs the box has had, this one included.
    pub fn begin_run(&self) -> u64 {
        let Ok(mut counts) = self.counts.lock() else { return 0 };
        counts.active_runs += 1;
        counts.total_runs += 1;
        counts.last_active = Instant::now();
        counts.total_runs
    }

    /// Counts a run out.
    pub fn finish_run(&self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.active_runs = counts.active_runs.saturating_sub(1);
            counts.last_active = Instant::now();
        }
    }

    /// Starts the idle clock again, as a box handed to a new owner.
    pub fn touch(&self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.last_active = Instant::now();
        }
    }

    /// Runs in flight.
    pub fn active_runs(&self) -> usize {
        self.counts.lock().map(|c| c.active_runs).unwrap_or(0)
    }

    /// Whether the box has had no run in flight for at least `idle`.
    pub fn idle_for_at_least(&self, idle: Duration) -> bool {
        self.counts.lock().map(|c| c.active_runs == 0 && c.last_active.elapsed() >= idle).unwrap_or(false)
    }

    /// The box's listing entry; `memory_bytes` is what the backend reads.
    pub fn info(&self, id: BoxId, labels: Vec<(String, String)>, memory_bytes: Option<u64>) -> BoxInfo {
        let (active_runs, total_runs, idle) = self
            .counts
            .lock()
            .map(|c| {
                let idle = if c.active_runs > 0 { Duration::ZERO } else { c.last_active.elapsed() };
                (c.active_runs, c.total_runs, idle)
            })
            .unwrap_or((0, 0, Duration::ZERO));
        BoxInfo {
            id,
            labels,
            active_runs,
            total_runs,
            memory_bytes,
            idle_ms: idle.as_millis().try_into().unwrap_or(u64::MAX),
        }
    }

    /// A receiver that turns true when the box is being destroyed.
    pub fn destroyed(&self) -> watch::Receiver<bool> {
        self.destroyed.subscribe()
    }

    /// Flags the box as being destroyed; false if it already was.
    pub fn mark_destroyed(&self) -> bool {
        !self.destroyed.send_replace(true)
    }

    /// Whether the box is being destroyed.
    pub fn is_destroyed(&self) -> bool {
        *self.destroyed.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_counted_in_and_out_and_a_running_box_is_never_idle() {
        let activity = BoxActivity::new();
        assert_eq!((activity.begin_run(), activity.begin_run()), (1, 2));
        assert!(!activity.idle_for_at_least(Duration::ZERO), "a box with runs in flight is not idle");
        activity.finish_run();
        activity.finish_run();
        activity.finish_run();
        let info = activity.info(BoxId("b1".into()), Vec::new(), None);
        assert_eq!((info.active_runs, info.total_runs), (0, 2), "finishing more than began stays at zero");
        assert!(activity.idle_for_at_least(Duration::ZERO));
        assert!(!activity.idle_for_at_least(Duration::from_secs(3600)));
    }

    #[test]
    fn destruction_is_seen_by_every_watcher_and_marked_once() {
        let activity = BoxActivity::new();
        let watcher = activity.destroyed();
        assert!(!activity.is_destroyed());
        assert!(activity.mark_destroyed());
        assert!(!activity.mark_destroyed(), "the second mark says it was marked already");
        assert!(activity.is_destroyed() && *watcher.borrow());
    }
}
