//! [`NativeBackend`]: the `Backend` trait on namespaces, cgroups, seccomp
//! and rlimits, with no daemon. Start-up and the trait's entry points;
//! the box lifecycle lives in `make_box`, `spare`, `destroy` and `sweep`,
//! starting runs in `launch`.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytesbox_cgroups::{Cgroup, CgroupLayout};
use bytesbox_sandbox::{
    Backend, BoxId, BoxInfo, BoxSpec, DestroyedIds, DetachedWork, FileEntry, PutMode, RunHandle, RunSpec, SandboxError,
    UidPool, WorkspaceSnapshot,
};

use crate::config::NativeConfig;
use crate::destroy::{destroy, destroy_box};
use crate::health::Health;
use crate::jailer_client::{default_jail_binary, JailerClient};
use crate::ready::{create_ready_or_new, ReadyBoxes};
use crate::spare::prepare_spare_box;
use crate::state::BackendState;
use crate::sweep::sweep_forever;
use crate::workspace::{self, Owner};
use crate::{leftovers, reaper};

/// Turns on `favordynmods` (`bytesbox_cgroups::favor_dynamic_changes`);
/// a host that refuses it only makes boxes and slow-path runs slower.
fn favor_cgroup_changes(probe_dir: &std::path::Path) {
    match bytesbox_cgroups::favor_dynamic_changes(probe_dir) {
        Ok(bytesbox_cgroups::Dynmods::AlreadyOn) => tracing::debug!("cgroup2 favordynmods was already on"),
        Ok(bytesbox_cgroups::Dynmods::TurnedOn) => {
            tracing::info!("turned on cgroup2 favordynmods: processes join cgroups without an RCU grace period")
        }
        Err(e) => tracing::warn!(
            "{e}; every box and slow-path run waits for an RCU grace period to join its cgroups \
             (set [native] favor_cgroup_changes = false to skip this)"
        ),
    }
}

/// How long shutdown waits for boxes being made and runs being started.
const DETACHED_WORK_PATIENCE: Duration = Duration::from_secs(15);

/// The native backend. Cheap to clone; all clones share the same boxes.
#[derive(Clone, Debug)]
pub struct NativeBackend {
    state: Arc<BackendState>,
}

impl NativeBackend {
    /// Starts the backend: checks privileges, detects cgroups, clears what
    /// a crashed server left behind, and starts the jailer. Must be called
    /// inside a tokio runtime.
    pub async fn start(config: NativeConfig) -> Result<NativeBackend, SandboxError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(SandboxError::Unavailable(
                "the native backend needs root: it creates namespaces, cgroups and mounts for every box. \
                 Run bytesbox as root (for example with sudo); the Docker backend (`--backend docker`), \
                 once your build has it, needs access to the Docker socket instead. \
                 Rootless mode is not supported because it would lose the memory, CPU and process limits \
                 on cgroup v1 hosts (see docs/native-sandbox.md)."
                    .into(),
            ));
        }
        let layout = CgroupLayout::detect().map_err(|e| SandboxError::Unavailable(format!("cgroups: {e}")))?;
        let reaped = reaper::reap_dead_instances(&layout);
        if reaped > 0 {
            tracing::info!(reaped, "removed leftovers of a previous Bytesbox server");
        }
        let instance_name = bytesbox_cgroups::current_instance_name()
            .map_err(|e| SandboxError::Unavailable(format!("cannot name this server instance: {e}")))?;
        let instance_path = bytesbox_cgroups::instance_path(&instance_name);
        let instance = Cgroup::create(&layout, &instance_path).map_err(|e| {
            SandboxError::Unavailable(format!("cannot create the cgroup {}: {e}", instance_path.display()))
        })?;
        if config.favor_cgroup_changes {
            favor_cgroup_changes(&config.state_dir.join("cgroup2-flags"));
        }
        let new_root = config.state_dir.join("newroot");
        std::fs::create_dir_all(&new_root)
            .map_err(|e| SandboxError::Unavailable(format!("cannot create {}: {e}", new_root.display())))?;
        let jail_binary = match &config.jail_binary {
            Some(path) => path.clone(),
            None => default_jail_binary()?,
        };
        let jailer = match JailerClient::start(&jail_binary) {
            Ok(jailer) => jailer,
            Err(e) => {
                let _ = instance.remove();
                return Err(e);
            }
        };
        let cap = if config.max_boxes == 0 { usize::MAX } else { config.max_boxes };
        let uids = UidPool::with_cap(config.uid_base, config.uid_count, cap);
        let state = Arc::new(BackendState {
            config,
            layout,
            instance,
            instance_name,
            jailer,
            uids,
            boxes: Mutex::new(HashMap::new()),
            next_box: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            new_root,
            sweeper: Mutex::new(None),
            spare_box: Mutex::new(None),
            preparing_spare: AtomicBool::new(false),
            destroyed: Mutex::new(DestroyedIds::default()),
            making: Mutex::new(HashMap::new()),
            detached: DetachedWork::new(),
            health: Health::default(),
            ready: ReadyBoxes::default(),
        });
        let sweeper = tokio::spawn(sweep_forever(Arc::downgrade(&state)));
        if let Ok(mut slot) = state.sweeper.lock() {
            *slot = Some(sweeper);
        }
        prepare_spare_box(state.clone()).await;
        Ok(NativeBackend { state })
    }

    /// This server instance's cgroup path, relative to each hierarchy.
    pub fn instance_cgroup(&self) -> PathBuf {
        self.state.instance_cgroup()
    }

    /// Everything of this backend still on the host beyond its live boxes
    /// and its spare: cgroups, and processes running as a box uid. Empty
    /// when nothing leaked. Meant for tests and health checks.
    pub fn leftovers(&self) -> Vec<String> {
        leftovers::leftovers(&self.state)
    }
}

#[async_trait]
impl Backend for NativeBackend {
    fn name(&self) -> &'static str {
        "native"
    }

    async fn create(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        create_ready_or_new(&self.state, spec).await
    }

    async fn put_files(&self, id: &BoxId, files: Vec<FileEntry>, mode: PutMode) -> Result<(), SandboxError> {
        let sandbox = self.state.get(id)?;
        let workspace = sandbox.workspace.clone();
        let owner = Owner { uid: sandbox.uid, gid: sandbox.uid };
        tokio::task::spawn_blocking(move || workspace::put_files(workspace.as_fd(), &files, &mode, owner))
            .await
            .map_err(|e| SandboxError::Internal(format!("put_files task: {e}")))?
    }

    async fn get_files(
        &self,
        id: &BoxId,
        paths: Vec<String>,
        max_total_bytes: u64,
    ) -> Result<WorkspaceSnapshot, SandboxError> {
        let sandbox = self.state.get(id)?;
        let workspace = sandbox.workspace.clone();
        tokio::task::spawn_blocking(move || workspace::get_files(workspace.as_fd(), &paths, max_total_bytes))
            .await
            .map_err(|e| SandboxError::Internal(format!("get_files task: {e}")))?
    }

    async fn workspace_root(&self, id: &BoxId) -> Result<std::sync::Arc<std::os::fd::OwnedFd>, SandboxError> {
        Ok(self.state.get(id)?.workspace.clone())
    }

    async fn open_socket(&self, id: &BoxId, path: &str) -> Result<std::os::fd::OwnedFd, SandboxError> {
        let sandbox = self.state.get(id)?;
        let workspace = sandbox.workspace.clone();
        let uid = sandbox.uid;
        let path = path.to_string();
        tokio::task::spawn_blocking(move || bytesbox_sandbox::beneath::open_socket(workspace.as_fd(), &path, uid))
            .await
            .map_err(|e| SandboxError::Internal(format!("open_socket task: {e}")))?
    }

    async fn open_listener(&self, id: &BoxId, port: u16) -> Result<std::os::fd::OwnedFd, SandboxError> {
        let sandbox = self.state.get(id)?;
        // The init's pidfd names its network namespace (`setns` takes a
        // pidfd since Linux 5.8), so no pid is looked up that could be
        // reused.
        let pidfd = sandbox
            .pidfd
            .get_ref()
            .try_clone()
            .map_err(|e| SandboxError::Internal(format!("duplicating the box init's pidfd: {e}")))?;
        bytesbox_sandbox::netns::listen_in_namespace(pidfd, port).await
    }

    async fn run(&self, id: &BoxId, spec: RunSpec) -> Result<RunHandle, SandboxError> {
        spec.validate(&self.state.config.max_run_limits)?;
        let sandbox = self.state.get(id)?;
        // A run started for a caller that is gone is killed: dropping its
        // handle kills it.
        self.state
            .detached
            .run(async move { crate::launch::start_run(sandbox, spec).await }, |run| async move { drop(run) })
            .await
    }

    fn health(&self) -> Result<(), String> {
        self.state.health.status()
    }

    async fn destroy(&self, id: &BoxId) -> Result<(), SandboxError> {
        destroy(&self.state, id).await
    }

    fn live_boxes(&self) -> usize {
        self.state.ready.not_ready(&self.state.boxes).len()
    }

    async fn list(&self) -> Vec<BoxInfo> {
        let boxes = self.state.ready.not_ready(&self.state.boxes);
        let mut infos: Vec<_> = boxes.iter().map(|b| b.info()).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    async fn shutdown(&self) {
        let state = &self.state;
        state.shutting_down.store(true, Ordering::Release);
        if let Some(sweeper) = state.sweeper.lock().ok().and_then(|mut s| s.take()) {
            sweeper.abort();
        }
        // Boxes being made finish first (or are undone), so that none is
        // made after the table is emptied.
        if !state.detached.close_and_wait(DETACHED_WORK_PATIENCE).await {
            tracing::warn!("boxes were still being made {DETACHED_WORK_PATIENCE:?} into the shutdown");
        }
        let all: Vec<_> = state.boxes.lock().map(|mut b| b.drain().map(|(_, v)| v).collect()).unwrap_or_default();
        for sandbox in all {
            destroy_box(state, sandbox).await;
        }
        // A destroy that began after the first wait (a session ending as
        // the server stops) took its box out of the table: wait for it too.
        state.detached.close_and_wait(DETACHED_WORK_PATIENCE).await;
        state.jailer.stop().await;
        let instance = state.instance.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = instance.kill_all(Duration::from_secs(5));
            let _ = instance.remove();
        })
        .await;
    }
}
