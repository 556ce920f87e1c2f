//! A box's container as runs and file transfers find it: replaced first
//! when it broke (an engine restart stops every container).

use bytesbox_sandbox::SandboxError;

use crate::container;
use crate::make_box::new_container;
use crate::sandbox_box::{DockerBox, LiveContainer};
use crate::state::BackendState;

/// Whether the box's current container runs.
pub(crate) async fn box_container_running(state: &BackendState, bx: &DockerBox) -> bool {
    let id = bx.container.lock().await.as_ref().map(|live| live.id.clone());
    match id {
        Some(id) => container::container_running(&state.docker, &id).await,
        None => false,
    }
}

/// The box's container, replacing it first when it broke.
pub(crate) async fn live_container(state: &BackendState, bx: &DockerBox) -> Result<LiveContainer, SandboxError> {
    let mut slot = bx.container.lock().await;
    if bx.take_broken() {
        if let Some(old) = slot.take() {
            container::remove_container(&state.docker, &old.id).await;
        }
    }
    if let Some(live) = slot.as_ref() {
        return Ok(live.clone());
    }
    // The workspace volume survives in the engine, but its tmpfs went
    // away with the old container: the new one starts empty.
    let live = new_container(state, &bx.spec, &bx.image, &bx.objects).await?;
    *slot = Some(live.clone());
    Ok(live)
}
