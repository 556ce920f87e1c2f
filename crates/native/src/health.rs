//! Whether the native backend can make boxes now, for readiness probes.
//!
//! A box that cannot be made because of its spec or the host's limits says
//! nothing about the backend; a run of failures that are the backend's own
//! (the jailer gone or confused, cgroups that cannot be made) does. After
//! a few in a row the backend reports itself unhealthy, and its sweeper
//! mends it: a new jailer, then a probe box, whose success ends the spell.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use bytesbox_sandbox::SandboxError;

/// Backend failures in a row after which the backend is unhealthy.
const FAILURES_BEFORE_UNHEALTHY: u32 = 3;

/// The backend's recent record of making boxes.
#[derive(Debug, Default)]
pub(crate) struct Health {
    failures_in_a_row: AtomicU32,
    last_failure: Mutex<Option<String>>,
}

impl Health {
    /// Notes how making a box went.
    pub(crate) fn record<T>(&self, made: &Result<T, SandboxError>) {
        match made {
            Ok(_) => self.failures_in_a_row.store(0, Ordering::Release),
            Err(e) if is_backend_fault(e) => {
                self.failures_in_a_row.fetch_add(1, Ordering::AcqRel);
                if let Ok(mut last) = self.last_failure.lock() {
                    *last = Some(e.to_string());
                }
            }
            Err(_) => {}
        }
    }

    /// Whether the backend needs mending.
    pub(crate) fn failing(&self) -> bool {
        self.failures_in_a_row.load(Ordering::Acquire) >= FAILURES_BEFORE_UNHEALTHY
    }

    /// Ready, or why not.
    pub(crate) fn status(&self) -> Result<(), String> {
        if !self.failing() {
            return Ok(());
        }
        let last = self.last_failure.lock().ok().and_then(|l| l.clone()).unwrap_or_default();
        Err(format!(
            "the last {} boxes could not be made ({last}); the backend is restarting its jailer",
            self.failures_in_a_row.load(Ordering::Acquire)
        ))
    }
}

/// Failures that are the backend's, not the caller's or the host's limits.
fn is_backend_fault(error: &SandboxError) -> bool {
    matches!(error, SandboxError::Internal(_) | SandboxError::Unavailable(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_backend_failures_makes_it_unhealthy_until_a_success() {
        let health = Health::default();
        let failed: Result<(), _> = Err(SandboxError::Unavailable("the jailer exited".into()));
        for _ in 0..FAILURES_BEFORE_UNHEALTHY - 1 {
            health.record(&failed);
        }
        assert!(health.status().is_ok(), "a failure or two is not a broken backend");
        health.record(&failed);
        let reason = health.status().unwrap_err();
        assert!(reason.contains("the jailer exited"), "{reason}");
        health.record(&Ok(()));
        assert!(health.status().is_ok());
    }

    #[test]
    fn the_callers_mistakes_do_not_count() {
        let health = Health::default();
        for _ in 0..10 {
            health.record::<()>(&Err(SandboxError::InvalidSpec("bad".into())));
            health.record::<()>(&Err(SandboxError::ShuttingDown));
        }
        assert!(health.status().is_ok());
    }
}
