//! Destroying a box: marked destroyed (its runs end as killed), its init
//! killed (which ends its pid namespace), its cgroup tree emptied and
//! removed, its uid given back.

use std::sync::Arc;
use std::time::Duration;

use bytesbox_sandbox::{BoxId, SandboxError};

use crate::making::Making;
use crate::pidfd;
use crate::sandbox_box::SandboxBox;
use crate::state::BackendState;

/// How long the init may take to exit after SIGKILL.
const INIT_EXIT_PATIENCE: Duration = Duration::from_secs(5);

/// `Backend::destroy`. Once the box is out of the table nothing else would
/// clean it up, so the destruction runs to its end even if the caller goes.
pub(crate) async fn destroy(state: &Arc<BackendState>, id: &BoxId) -> Result<(), SandboxError> {
    let (state, id) = (state.clone(), id.clone());
    state
        .detached
        .clone()
        .finish(async move {
            match Making::take_box(&state, &id) {
                Some((sandbox, in_transit)) => {
                    destroy_box(&state, sandbox).await;
                    drop(in_transit);
                    Ok(())
                }
                None => match state.missing(&id) {
                    SandboxError::BoxGone(_) => Ok(()),
                    other => Err(other),
                },
            }
        })
        .await
}

/// Destroys a box already taken out of the table.
pub(crate) async fn destroy_box(state: &BackendState, sandbox: Arc<SandboxBox>) {
    sandbox.activity.mark_destroyed();
    if let Ok(mut destroyed) = state.destroyed.lock() {
        destroyed.remember(sandbox.id.clone());
    }
    // Killing the init of a pid namespace kills every process in it.
    pidfd::kill(sandbox.pidfd.get_ref());
    let exited = tokio::time::timeout(INIT_EXIT_PATIENCE, sandbox.pidfd.readable()).await;
    if exited.is_err() {
        tracing::warn!(box_id = %sandbox.id, "box init did not exit within 5 s of SIGKILL");
    }
    let cleanup = sandbox.clone();
    let _ = tokio::task::spawn_blocking(move || cleanup.remove_cgroups()).await;
    state.uids.give_back(sandbox.uid);
}
