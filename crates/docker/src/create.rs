//! Making a box for `Backend::create`: a spare if the pool has one of the
//! right shape that still runs, else new engine objects (the pool is
//! refilled first, so it grows while this box is made); then the box
//! enters the table.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytesbox_sandbox::{BoxId, BoxSpec, RootfsSpec, SandboxError};

use crate::container::container_running;
use crate::make_box::make_box;
use crate::sandbox_box::DockerBox;
use crate::spare::{refill, shape_of, take_spare};
use crate::state::{BackendState, MadeBox};
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
    let spare = take_spare(state, &shape, &image);
    // The next boxes of this shape find theirs ready.
    refill(state);
    // An engine restart stops the spares' containers; the idle sweep
    // notices only later, so a taken spare is checked (one inspect).
    let made = match spare {
        Some(made) if container_running(&state.docker, &made.live.id).await => made,
        Some(stopped) => {
            remove_made(state, stopped).await;
            make_on_demand(state, &spec, &image).await?
        }
        None => make_on_demand(state, &spec, &image).await?,
    };
    let id = BoxId(made.objects.name.clone());
    let bx =
        Arc::new(DockerBox::new(id.clone(), spec, made.image, made.objects, made.subnet_index, made.uid, made.live));
    state.boxes.lock().map_err(|_| SandboxError::Internal("box table poisoned".into()))?.insert(id.clone(), bx);
    Ok(id)
}

/// Makes a box now, its time counted in the pool's measure of make time.
async fn make_on_demand(state: &BackendState, spec: &BoxSpec, image: &str) -> Result<MadeBox, SandboxError> {
    let started = Instant::now();
    let made = make_box(state, spec, image).await?;
    state.spares.record_make(started.elapsed());
    Ok(made)
}
