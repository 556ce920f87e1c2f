//! One box: its network, workspace volume and container, and its runs.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;
use std::time::Instant;

use bytesbox_cgroups::Cgroup;
use bytesbox_sandbox::{BoxId, BoxSpec};
use tokio::sync::{watch, Mutex};

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
    /// `uid:gid` of programs.
    pub user: String,
    /// The container; replaced when it broke.
    pub container: Mutex<Option<LiveContainer>>,
    broken: AtomicBool,
    /// Runs may be added to the workspace since the last check: the next
    /// `put_files` has to look for planted symlinks.
    pub dirty: AtomicBool,
    active_runs: AtomicUsize,
    total_runs: AtomicU64,
    last_active: StdMutex<Instant>,
    destroyed: watch::Sender<bool>,
}

impl DockerBox {
    /// A box record (its objects exist already).
    pub fn new(
        id: BoxId,
        spec: BoxSpec,
        image: String,
        objects: BoxObjects,
        subnet_index: u32,
        user: String,
        container: LiveContainer,
    ) -> DockerBox {
        DockerBox {
            id,
            spec,
            image,
            objects,
            subnet_index,
            user,
            container: Mutex::new(Some(container)),
            broken: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            active_runs: AtomicUsize::new(0),
            total_runs: AtomicU64::new(0),
            last_active: StdMutex::new(Instant::now()),
            destroyed: watch::channel(false).0,
        }
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

    /// Counts a run in; returns its id.
    pub fn begin_run(&self) -> u64 {
        self.active_runs.fetch_add(1, Ordering::AcqRel);
        self.dirty.store(true, Ordering::Release);
        self.touch();
        self.total_runs.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Counts a run out.
    pub fn finish_run(&self, _run_id: u64) {
        self.touch();
        self.active_runs.fetch_sub(1, Ordering::AcqRel);
    }

    /// Runs in progress.
    pub fn active_runs(&self) -> usize {
        self.active_runs.load(Ordering::Acquire)
    }

    /// Runs started since creation.
    pub fn total_runs(&self) -> u64 {
        self.total_runs.load(Ordering::Acquire)
    }

    /// Marks the box as used now.
    pub fn touch(&self) {
        if let Ok(mut last) = self.last_active.lock() {
            *last = Instant::now();
        }
    }

    /// Milliseconds without an active run (0 while one runs).
    pub fn idle_ms(&self) -> u64 {
        if self.active_runs() > 0 {
            return 0;
        }
        self.last_active.lock().map(|t| t.elapsed().as_millis().try_into().unwrap_or(u64::MAX)).unwrap_or(0)
    }

    /// A receiver that turns true when the box is being destroyed.
    pub fn destroyed(&self) -> watch::Receiver<bool> {
        self.destroyed.subscribe()
    }

    /// Marks the box destroyed (runs see it and end as `killed`).
    pub fn mark_destroyed(&self) {
        self.destroyed.send_replace(true);
    }

    /// Whether the box is being destroyed.
    pub fn is_destroyed(&self) -> bool {
        *self.destroyed.borrow()
    }
}
