//! The spare box: one box's network, volume and started container, made
//! in the background for the next `create` of the same shape, as the
//! native backend keeps a spare box. Starting a container is most of a new
//! session's cost (about 0.3 s here, the network attach included); with
//! the spare, a new session costs what a run in a warm box costs.

use std::time::Duration;

use bytesbox_sandbox::{BoxSpec, RootfsSpec};
use tokio::task::JoinHandle;

use crate::container::BoxObjects;
use crate::sandbox_box::LiveContainer;

/// A box's engine objects, made and started.
#[derive(Debug)]
pub struct MadeBox {
    /// Names and labels (the box id is the name).
    pub objects: BoxObjects,
    /// Its subnet's index in the pool.
    pub subnet_index: u32,
    /// The started container.
    pub live: LiveContainer,
    /// Its image.
    pub image: String,
}

/// The spare, and the task making one.
#[derive(Debug, Default)]
pub struct SpareSlot {
    /// A spare ready to be taken, with the shape it was made for.
    pub ready: Option<(BoxSpec, MadeBox)>,
    /// The task making the next spare.
    pub preparing: Option<JoinHandle<()>>,
}

/// What a box's engine objects depend on: the spec without what is only
/// bookkeeping (labels, idle TTL), with the image resolved. Boxes of one
/// shape can take each other's spare.
pub fn shape_of(spec: &BoxSpec, image: &str) -> BoxSpec {
    BoxSpec {
        rootfs: RootfsSpec::Named { image: image.to_string() },
        labels: Vec::new(),
        idle_ttl: Duration::ZERO,
        ..spec.clone()
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
