//! What every part of the native backend shares: the box table, the spare
//! slot, the boxes in transit, the jailer and the host resources boxes are
//! made of. The backend's handle, its lifecycle modules and its sweeper
//! all hold it; only `Drop` here acts on it when the last one goes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytesbox_cgroups::{Cgroup, CgroupLayout};
use bytesbox_sandbox::{BoxId, DestroyedIds, DetachedWork, SandboxError, UidPool};

use crate::config::NativeConfig;
use crate::health::Health;
use crate::jailer_client::JailerClient;
use crate::pidfd;
use crate::ready::ReadyBoxes;
use crate::sandbox_box::SandboxBox;

/// The next box's cgroups, with a process of the jailer already in them.
#[derive(Debug)]
pub(crate) struct SpareBox {
    pub(crate) id: BoxId,
    pub(crate) cgroup: Cgroup,
}

/// The native backend's shared state.
#[derive(Debug)]
pub(crate) struct BackendState {
    pub(crate) config: NativeConfig,
    pub(crate) layout: CgroupLayout,
    pub(crate) instance: Cgroup,
    pub(crate) instance_name: String,
    pub(crate) jailer: JailerClient,
    pub(crate) uids: UidPool,
    pub(crate) boxes: Mutex<HashMap<BoxId, Arc<SandboxBox>>>,
    pub(crate) next_box: AtomicU64,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) new_root: PathBuf,
    pub(crate) sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    pub(crate) spare_box: Mutex<Option<SpareBox>>,
    pub(crate) preparing_spare: AtomicBool,
    /// Recently destroyed ids, so destroying twice is harmless and a run on
    /// a destroyed box says so.
    pub(crate) destroyed: Mutex<DestroyedIds>,
    /// Boxes whose cgroups exist but which are neither live nor the stored
    /// spare yet (being made, or a spare being prepared).
    /// The uid is known (and its processes may still exist) for boxes
    /// being destroyed.
    pub(crate) making: Mutex<HashMap<BoxId, Option<u32>>>,
    /// Boxes being made and runs being started, each on a task of its own
    /// so that a caller that vanishes cannot cut them short.
    pub(crate) detached: DetachedWork,
    /// Whether boxes can be made.
    pub(crate) health: Health,
    /// Boxes made ahead for the next `create`s.
    pub(crate) ready: ReadyBoxes,
}

impl BackendState {
    /// This server instance's cgroup path, relative to each hierarchy.
    pub(crate) fn instance_cgroup(&self) -> PathBuf {
        bytesbox_cgroups::instance_path(&self.instance_name)
    }

    /// A live box, or why there is none.
    pub(crate) fn get(&self, id: &BoxId) -> Result<Arc<SandboxBox>, SandboxError> {
        let boxes = self.boxes.lock().map_err(|_| SandboxError::Internal("box table poisoned".into()))?;
        let Some(sandbox) = boxes.get(id).cloned() else {
            return Err(self.missing(id));
        };
        if sandbox.activity.is_destroyed() {
            return Err(SandboxError::BoxGone(id.to_string()));
        }
        Ok(sandbox)
    }

    /// The error for an id that is not live: gone, or never existed.
    pub(crate) fn missing(&self, id: &BoxId) -> SandboxError {
        let gone = self.destroyed.lock().map(|d| d.contains(id)).unwrap_or(false);
        if gone {
            SandboxError::BoxGone(id.to_string())
        } else {
            SandboxError::NoSuchBox(id.to_string())
        }
    }
}

impl Drop for BackendState {
    /// Best-effort clean-up when the backend is dropped without
    /// `shutdown`: kill every box and remove this instance's cgroups, so
    /// nothing outlives the server.
    fn drop(&mut self) {
        if let Ok(mut boxes) = self.boxes.lock() {
            for (_, sandbox) in boxes.drain() {
                sandbox.activity.mark_destroyed();
                pidfd::kill(sandbox.pidfd.get_ref());
                sandbox.remove_cgroups();
            }
        }
        self.jailer.stop_now();
        let _ = self.instance.kill_all(Duration::from_secs(5));
        let _ = self.instance.remove();
    }
}
