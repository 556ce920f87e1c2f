//! The spare box: one box's network, volume and started container, made
//! in the background for the next `create` of the same shape, as the
//! native backend keeps a spare box. Starting a container is most of a new
//! session's cost (about 0.3 s here, the network attach included); with
//! the spare, a new session costs what a run in a warm box costs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytesbox_sandbox::{BoxSpec, RootfsSpec};

use crate::container::container_running;
use crate::make_box::make_box;
use crate::state::{BackendState, MadeBox};
use crate::teardown::remove_made;

/// What a box's engine objects depend on: the spec without what is only
/// bookkeeping (labels, idle TTL), with the image resolved. Boxes of one
/// shape can take each other's spare.
pub(crate) fn shape_of(spec: &BoxSpec, image: &str) -> BoxSpec {
    BoxSpec {
        rootfs: RootfsSpec::Named { image: image.to_string() },
        labels: Vec::new(),
        idle_ttl: Duration::ZERO,
        ..spec.clone()
    }
}

/// The spare, if it was made for boxes of this shape.
pub(crate) fn take_spare(state: &BackendState, shape: &BoxSpec) -> Option<MadeBox> {
    let mut slot = state.spare.lock().ok()?;
    match &slot.ready {
        Some((made_for, _)) if made_for == shape => slot.ready.take().map(|(_, made)| made),
        _ => None,
    }
}

/// Waits until no spare is being made.
pub(crate) async fn settle_spare(state: &BackendState) {
    let preparing = state.spare.lock().ok().and_then(|mut slot| slot.preparing.take());
    if let Some(task) = preparing {
        let _ = task.await;
    }
}

/// Waits for a spare being made (so nothing is half made), then
/// removes the spare.
pub(crate) async fn drop_spare(state: &BackendState) {
    settle_spare(state).await;
    let ready = state.spare.lock().ok().and_then(|mut slot| slot.ready.take());
    if let Some((_, made)) = ready {
        remove_made(state, made).await;
    }
}

/// Starts making a spare box of `shape` in the background, unless one is
/// ready or being made. A spare of another shape is removed first: the
/// spare follows the shape last asked for (a server asks for one shape).
pub(crate) fn prepare_spare(state: &Arc<BackendState>, shape: BoxSpec, image: String) {
    if !state.config.spare_box || state.shutting_down.load(Ordering::Acquire) {
        return;
    }
    let Ok(mut slot) = state.spare.lock() else { return };
    if slot.preparing.as_ref().is_some_and(|task| !task.is_finished()) {
        return;
    }
    let stale = match &slot.ready {
        Some((made_for, _)) if *made_for == shape => return,
        Some(_) => slot.ready.take(),
        None => None,
    };
    let state_for_task = state.clone();
    slot.preparing = Some(tokio::spawn(async move {
        let state = state_for_task;
        if let Some((_, made)) = stale {
            remove_made(&state, made).await;
        }
        let made = match make_box(&state, &shape, &image).await {
            Ok(made) => made,
            Err(e) => {
                tracing::warn!(error = %e, "making a spare box");
                return;
            }
        };
        let surplus = match state.spare.lock() {
            Ok(mut slot) if slot.ready.is_none() && !state.shutting_down.load(Ordering::Acquire) => {
                slot.ready = Some((shape, made));
                None
            }
            _ => Some(made),
        };
        if let Some(made) = surplus {
            remove_made(&state, made).await;
        }
    }));
}

/// Whether the spare's container still runs (an engine restart stops it);
/// a dead one is replaced.
pub(crate) async fn check_spare(state: &Arc<BackendState>) {
    let ready = state
        .spare
        .lock()
        .ok()
        .and_then(|slot| slot.ready.as_ref().map(|(s, m)| (s.clone(), m.live.id.clone(), m.image.clone())));
    let Some((shape, container_id, image)) = ready else { return };
    if container_running(&state.docker, &container_id).await {
        return;
    }
    let dead = state.spare.lock().ok().and_then(|mut slot| match &slot.ready {
        Some((_, made)) if made.live.id == container_id => slot.ready.take(),
        _ => None,
    });
    if let Some((_, made)) = dead {
        remove_made(state, made).await;
        prepare_spare(state, shape, image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_ttl_do_not_change_the_shape_but_limits_and_images_do() {
        let plain = shape_of(&BoxSpec::default(), "img:full");
        let labelled = BoxSpec {
            labels: vec![("session".into(), "s-1".into())],
            idle_ttl: Duration::from_secs(5),
            ..BoxSpec::default()
        };
        assert_eq!(shape_of(&labelled, "img:full"), plain);
        let named = BoxSpec { rootfs: RootfsSpec::Named { image: "img:full".into() }, ..BoxSpec::default() };
        assert_eq!(shape_of(&named, "img:full"), plain, "the host image and the same named image are one shape");
        assert_ne!(shape_of(&BoxSpec::default(), "img:c"), plain);
        let mut bigger = BoxSpec::default();
        bigger.limits.memory_bytes *= 2;
        assert_ne!(shape_of(&bigger, "img:full"), plain);
    }
}
