//! Waiting for a state instead of sleeping for a guessed time: a loaded
//! machine (CI, four test binaries at once) makes any fixed sleep either
//! too short, and the test flaky, or too long, and the suite slow.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is polled.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `condition` until it holds.
///
/// # Panics
///
/// When it still does not hold after `within`, naming `what` was awaited.
/// The deadline only bounds a hang; it is no timing claim (those belong in
/// benchmarks), so make it generous.
pub async fn wait_until<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "waited {within:?} in vain for {what}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn returns_once_the_condition_holds() {
        let polls = AtomicU32::new(0);
        wait_until("the third poll", Duration::from_secs(10), || async { polls.fetch_add(1, Ordering::SeqCst) >= 2 })
            .await;
        assert_eq!(polls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waited 50ms in vain for a state that never comes")]
    async fn panics_at_the_deadline() {
        wait_until("a state that never comes", Duration::from_millis(50), || async { false }).await;
    }
}
