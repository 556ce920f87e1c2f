//! What every part of the Docker backend shares: the engine client, the
//! box table, the spare pool, the subnet pool and the settings boxes are
//! made with.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use bollard::Docker;
use bytesbox_cgroups::{instance_path, CgroupLayout};
use bytesbox_sandbox::{BoxId, DestroyedIds, DetachedWork, SandboxError, UidPool};
use tokio::task::JoinHandle;

use crate::config::DockerConfig;
use crate::container::BoxObjects;
use crate::sandbox_box::{DockerBox, LiveContainer};
use crate::spare::SparePool;
use crate::subnets::SubnetPool;

/// A box's engine objects, made and started.
#[derive(Debug)]
pub(crate) struct MadeBox {
    /// Names and labels (the box id is the name).
    pub(crate) objects: BoxObjects,
    /// Its subnet's index in the pool.
    pub(crate) subnet_index: u32,
    /// The uid (and gid) its programs run as.
    pub(crate) uid: u32,
    /// The started container.
    pub(crate) live: LiveContainer,
    /// Its image.
    pub(crate) image: String,
}

/// The Docker backend's shared state.
#[derive(Debug)]
pub(crate) struct BackendState {
    pub(crate) docker: Docker,
    pub(crate) config: DockerConfig,
    pub(crate) instance: String,
    pub(crate) layout: CgroupLayout,
    /// Docker's JSON form of the native seccomp policy.
    pub(crate) seccomp_profile: String,
    pub(crate) boxes: StdMutex<HashMap<BoxId, Arc<DockerBox>>>,
    /// Recently destroyed ids, so destroying twice is harmless and a call
    /// on a destroyed box says so.
    pub(crate) destroyed: StdMutex<DestroyedIds>,
    pub(crate) subnets: StdMutex<SubnetPool>,
    /// One uid per box.
    pub(crate) uids: UidPool,
    pub(crate) next_box: AtomicU64,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) sweeper: StdMutex<Option<JoinHandle<()>>>,
    /// Boxes made ahead of the next `create`s (see `crate::spare`).
    pub(crate) spares: SparePool,
    /// Boxes being made and runs being started, each on a task of its own
    /// so that a caller that vanishes cannot leave a container half made.
    pub(crate) detached: DetachedWork,
}

impl BackendState {
    /// The cgroup parent of every box container.
    pub(crate) fn cgroup_parent(&self) -> String {
        format!("/{}", instance_path(&self.instance).display())
    }

    /// A live box, or why there is none.
    pub(crate) fn lookup(&self, id: &BoxId) -> Result<Arc<DockerBox>, SandboxError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(SandboxError::ShuttingDown);
        }
        let boxes = self.boxes.lock().map_err(|_| SandboxError::Internal("box table poisoned".into()))?;
        if let Some(found) = boxes.get(id) {
            return Ok(found.clone());
        }
        drop(boxes);
        if self.destroyed.lock().map(|d| d.contains(id)).unwrap_or(false) {
            return Err(SandboxError::BoxGone(id.to_string()));
        }
        Err(SandboxError::NoSuchBox(id.to_string()))
    }
}
