//! The sweeper: on every interval it destroys idle boxes and boxes whose
//! init died, releases launchers of boxes idle for long, reaps what dead
//! servers left, and mends a backend that keeps failing to make boxes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use bytesbox_sandbox::{BoxId, BoxSpec};

use crate::destroy::{destroy, destroy_box};
use crate::make_box::{create, MadeFor};
use crate::making::Making;
use crate::state::BackendState;
use crate::{pidfd, reaper};

/// Sweeps until the backend goes.
pub(crate) async fn sweep_forever(state: Weak<BackendState>) {
    loop {
        let interval = match state.upgrade() {
            Some(state) => state.config.sweep_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(state) = state.upgrade() else {
            return;
        };
        let expired: Vec<BoxId> = state
            .boxes
            .lock()
            .map(|boxes| {
                boxes
                    .values()
                    .filter(|b| {
                        // A ready box waits for its first owner, not idle.
                        (b.is_idle_expired() && !state.ready.contains(&b.id)) || pidfd::has_exited(b.pidfd.get_ref())
                    })
                    .map(|b| b.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in expired {
            if let Some((sandbox, in_transit)) = Making::take_box(&state, &id) {
                tracing::debug!(box_id = %id, "destroying an idle or dead box");
                destroy_box(&state, sandbox).await;
                drop(in_transit);
            }
        }
        // Ready boxes keep their launcher for their first run.
        let live: Vec<_> = state
            .boxes
            .lock()
            .map(|b| b.values().filter(|b| !state.ready.contains(&b.id)).cloned().collect())
            .unwrap_or_default();
        let release_after = state.config.launcher_idle_release;
        let _ = tokio::task::spawn_blocking(move || {
            for sandbox in live {
                sandbox.release_idle_launcher(release_after);
            }
        })
        .await;
        reaper::reap_dead_instances(&state.layout);
        if state.health.failing() {
            mend(&state).await;
        }
    }
}

/// Mends a backend whose boxes keep failing: a new jailer, then a probe
/// box, whose success ends the spell (see `crate::health`).
async fn mend(state: &Arc<BackendState>) {
    if state.shutting_down.load(Ordering::Acquire) {
        return;
    }
    tracing::warn!(reason = ?state.health.status().err(), "restarting the jailer");
    state.jailer.stop().await;
    // The old jailer's spare died with it.
    if let Some(stale) = state.spare_box.lock().ok().and_then(|mut s| s.take()) {
        let layout = state.layout.clone();
        let _ = tokio::task::spawn_blocking(move || reaper::remove_tree(&layout, &stale.cgroup, 0)).await;
    }
    match create(state, BoxSpec::default(), MadeFor::Caller).await {
        Ok(probe) => {
            let _ = destroy(state, &probe).await;
            tracing::info!("the backend makes boxes again");
        }
        Err(e) => tracing::warn!(error = %e, "the backend still cannot make boxes"),
    }
}
