//! One box: its network, workspace volume and container, and its runs.

use std::sync::atomic::{AtomicBool, Ordering};

use bytesbox_cgroups::Cgroup;
use bytesbox_sandbox::{BoxActivity, BoxId, BoxSpec};
use tokio::sync::Mutex;

use crate::container::BoxObjects;

/// The box's container as last created.
#[derive(Debug, Clone)]
pub struct LiveContainer {
    /// Full container id.
    pub id: String,
    /// Its cgroup (`bytesbox/<instance>/<id>`).
    pub cgroup: Cgroup,
}

/// A live box.
#[derive(Debug)]
pub struct DockerBox {
    /// The box id.
    pub id: BoxId,
    /// What it was made from.
    pub spec: BoxSpec,
    /// Its image.
    pub image: String,
    /// Names and labels of its Docker objects.
    pub objects: BoxObjects,
    /// Index of its subnet in the pool.
    pub subnet_index: u32,
    /// The uid (and gid) of its programs, its own.
    pub uid: u32,
    /// The container; replaced when it broke.
    pub container: Mutex<Option<LiveContainer>>,
    broken: AtomicBool,
    /// Runs may be added to the workspace since the last check: the next
    /// `put_files` has to look for planted symlinks.
    pub dirty: AtomicBool,
    /// Its runs, its use, and whether it is being destroyed.
    pub activity: BoxActivity,
    /// Its workspace volume's mountpoint on the host, opened `O_PATH` when
    /// a socket in the box is first asked for.
    pub workspace_root: tokio::sync::OnceCell<std::sync::Arc<std::os::fd::OwnedFd>>,
}

impl DockerBox {
    /// A box record (its objects exist already).
    pub fn new(
        id: BoxId,
        spec: BoxSpec,
        image: String,
        objects: BoxObjects,
        subnet_index: u32,
        uid: u32,
        container: LiveContainer,
    ) -> DockerBox {
        DockerBox {
            id,
            spec,
            image,
            objects,
            subnet_index,
            uid,
            container: Mutex::new(Some(container)),
            broken: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            activity: BoxActivity::new(),
            workspace_root: tokio::sync::OnceCell::new(),
        }
    }

    /// `uid:gid` of its programs, as the engine's exec takes it.
    pub fn user(&self) -> String {
        format!("{0}:{0}", self.uid)
    }

    /// The container failed (engine restart, container gone): the next run
    /// replaces it.
    pub fn mark_broken(&self) {
        self.broken.store(true, Ordering::Release);
    }

    /// Whether the container must be replaced; clears the mark.
    pub fn take_broken(&self) -> bool {
        self.broken.swap(false, Ordering::AcqRel)
    }

    /// Counts a run in; returns its id. Its files may land in the
    /// workspace from now on.
    pub fn begin_run(&self) -> u64 {
        self.dirty.store(true, Ordering::Release);
        self.activity.begin_run()
    }
}
