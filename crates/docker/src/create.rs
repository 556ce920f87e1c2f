//! Making a box for `Backend::create`: the spare if it has the right shape
//! and still runs, else new engine objects; then the next spare is begun
//! and the box enters the table.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytesbox_sandbox::{BoxId, BoxSpec, RootfsSpec, SandboxError};

use crate::container::container_running;
use crate::make_box::make_box;
use crate::sandbox_box::DockerBox;
use crate::spare::{prepare_spare, shape_of, take_spare};
use crate::state::BackendState;
use crate::teardown::{destroy, remove_made};

/// `Backend::create`: makes a box on a detached task; a box made for a
/// caller that is gone is destroyed.
pub(crate) async fn create(state: &Arc<BackendState>, spec: BoxSpec) -> Result<BoxId, SandboxError> {
    spec.validate()?;
    if state.shutting_down.load(Ordering::Acquire) {
        return Err(SandboxError::ShuttingDown);
    }
    let (making, undoing) = (state.clone(), state.clone());
    state
        .detached
        .run(async move { create_box(&making, spec).await }, move |id| async move {
            let _ = destroy(&undoing, &id).await;
        })
        .await
}

async fn create_box(state: &Arc<BackendState>, spec: BoxSpec) -> Result<BoxId, SandboxError> {
    let image = match &spec.rootfs {
        RootfsSpec::Host => state.config.default_image.clone(),
        RootfsSpec::Named { image } => image.clone(),
        RootfsSpec::Image { .. } => {
            return Err(SandboxError::InvalidSpec(
                "the docker backend runs images (RootfsSpec::Named), not unpacked directories".into(),
            ))
        }
    };
    let shape = shape_of(&spec, &image);
    // An engine restart stops the spare's container; the idle sweep
    // notices only later, so a taken spare is checked (one inspect).
    let made = match take_spare(state, &shape) {
        Some(made) if container_running(&state.docker, &made.live.id).await => made,
        Some(stopped) => {
            remove_made(state, stopped).await;
            make_box(state, &spec, &image).await?
        }
        None => make_box(state, &spec, &image).await?,
    };
    // The next session of this shape finds its box ready.
    prepare_spare(state, shape, image);
    let id = BoxId(made.objects.name.clone());
    let bx =
        Arc::new(DockerBox::new(id.clone(), spec, made.image, made.objects, made.subnet_index, made.uid, made.live));
    state.boxes.lock().map_err(|_| SandboxError::Internal("box table poisoned".into()))?.insert(id.clone(), bx);
    Ok(id)
}
