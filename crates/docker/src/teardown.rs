//! Taking a box down: its runs killed through their cgroups, its
//! container, network and volume removed, its subnet and uid given back.

use std::sync::Arc;
use std::time::Duration;

use bytesbox_sandbox::{BoxId, SandboxError};

use crate::container;
use crate::sandbox_box::{DockerBox, LiveContainer};
use crate::state::{BackendState, MadeBox};

/// `Backend::destroy`. Once the box is out of the table nothing else would
/// tear it down, so the teardown runs to its end even if the caller goes.
pub(crate) async fn destroy(state: &Arc<BackendState>, id: &BoxId) -> Result<(), SandboxError> {
    let (inner, id) = (state.clone(), id.clone());
    state
        .detached
        .finish(async move {
            let removed = inner.boxes.lock().ok().and_then(|mut boxes| boxes.remove(&id));
            let removed_was_sweeping = removed.as_ref().is_some_and(|bx| bx.activity.is_destroyed());
            let Some(bx) = removed.filter(|bx| !bx.activity.is_destroyed()) else {
                // Destroyed before, or being torn down by the idle sweep.
                if inner.destroyed.lock().map(|d| d.contains(&id)).unwrap_or(false) || removed_was_sweeping {
                    return Ok(());
                }
                return Err(SandboxError::NoSuchBox(id.to_string()));
            };
            if let Ok(mut destroyed) = inner.destroyed.lock() {
                destroyed.remember(id.clone());
            }
            teardown(&inner, &bx).await;
            Ok(())
        })
        .await
}

/// Kills the box's runs and removes its container, network and volume.
pub(crate) async fn teardown(state: &BackendState, bx: &DockerBox) {
    bx.activity.mark_destroyed();
    let container = bx.container.lock().await.take();
    remove_objects(state, &bx.objects.name, container, bx.subnet_index).await;
    state.uids.give_back(bx.uid);
}

/// Removes a spare nobody took.
pub(crate) async fn remove_made(state: &BackendState, made: MadeBox) {
    remove_objects(state, &made.objects.name, Some(made.live), made.subnet_index).await;
    state.uids.give_back(made.uid);
}

/// Removals tried before one is given up (to the reaper, and the leak
/// check), with a pause that doubles from 200 ms between them.
const REMOVE_ATTEMPTS: u32 = 4;

/// Tries a removal again when the engine refuses it: under load it can
/// fail one (a container it could not kill or unmount in time is left
/// "dead", and its volume, still in use, with it) and do the next.
async fn removed<F: std::future::Future<Output = bool>>(remove: impl Fn() -> F) -> bool {
    for attempt in 0..REMOVE_ATTEMPTS {
        if remove().await {
            return true;
        }
        if attempt + 1 < REMOVE_ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    false
}

/// Kills what runs in the container and removes the container, the
/// network and the volume; the subnet returns to the pool.
async fn remove_objects(state: &BackendState, name: &str, live: Option<LiveContainer>, subnet_index: u32) {
    if let Some(live) = live {
        let cgroup = live.cgroup.clone();
        let _ = tokio::task::spawn_blocking(move || cgroup.kill_all(Duration::from_secs(5))).await;
        if !removed(|| container::remove_container(&state.docker, &live.id)).await {
            tracing::warn!(container = %live.id, "the engine did not remove a box's container");
        }
    }
    let network_gone = removed(|| container::remove_network(&state.docker, name)).await;
    if !removed(|| container::remove_volume(&state.docker, name)).await {
        tracing::warn!(volume = %name, "the engine did not remove a box's volume");
    }
    if network_gone {
        if let Ok(mut pool) = state.subnets.lock() {
            pool.give_back(subnet_index);
        }
    }
}
