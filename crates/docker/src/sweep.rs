//! The sweeper: destroys idle boxes on the configured interval, replaces
//! spares whose container stopped, shrinks the spare pool to its target,
//! and reaps orphans of dead servers every
//! [`REAP_INTERVAL`].

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::reaper;
use crate::sandbox_box::DockerBox;
use crate::spare::tend_spares;
use crate::state::BackendState;
use crate::teardown::teardown;

/// How often orphans of dead servers are looked for (the idle sweep may run
/// more often).
const REAP_INTERVAL: Duration = Duration::from_secs(30);

/// Sweeps until the backend goes or shuts down.
pub(crate) async fn sweep(state: Weak<BackendState>) {
    let interval = match state.upgrade() {
        Some(state) => state.config.sweep_interval,
        None => return,
    };
    let mut last_reap = Instant::now();
    loop {
        tokio::time::sleep(interval).await;
        let Some(state) = state.upgrade() else { return };
        if state.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let idle: Vec<Arc<DockerBox>> = state
            .boxes
            .lock()
            .map(|boxes| boxes.values().filter(|bx| bx.activity.idle_for_at_least(bx.spec.idle_ttl)).cloned().collect())
            .unwrap_or_default();
        for bx in idle {
            // Torn down before it leaves the table, so a box that is no
            // longer listed has nothing left in the engine.
            if bx.activity.is_destroyed() {
                continue;
            }
            teardown(&state, &bx).await;
            if let Ok(mut destroyed) = state.destroyed.lock() {
                destroyed.remember(bx.id.clone());
            }
            if let Ok(mut boxes) = state.boxes.lock() {
                boxes.remove(&bx.id);
            }
        }
        tend_spares(&state).await;
        if last_reap.elapsed() >= REAP_INTERVAL {
            last_reap = Instant::now();
            reaper::reap_orphans(&state.docker, &state.layout).await;
        }
    }
}
