//! [`DockerBackend`]: the `Backend` trait over the Docker Engine API.
//! Start-up and the trait's entry points; the box lifecycle lives in
//! `create`, `make_box`, `spare`, `teardown` and `sweep`, starting runs
//! in `launch`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bytesbox_cgroups::{current_instance_name, instance_path, Cgroup, CgroupLayout, ROOT_NAME};
use bytesbox_sandbox::{
    Backend, BoxId, BoxInfo, BoxSpec, DestroyedIds, DetachedWork, FileEntry, PutMode, RunHandle, RunSpec, SandboxError,
    UidPool, WorkspaceSnapshot,
};
use bytesbox_seccomp::Policy;

use crate::config::DockerConfig;
use crate::create::create;
use crate::daemon::{self, api_error};
use crate::launch::start_run_in;
use crate::leftovers::{self, Leftover};
use crate::live::live_container;
use crate::sandbox_box::DockerBox;
use crate::spare::{drop_spares, settle_spares, shape_of, start_pool, SparePool};
use crate::state::BackendState;
use crate::subnets::SubnetPool;
use crate::sweep::sweep;
use crate::teardown::{destroy, teardown};
use crate::{cgroup_dirs, files, reaper};

/// How long shutdown waits for boxes being made and runs being started.
const DETACHED_WORK_PATIENCE: Duration = Duration::from_secs(30);

/// The Docker backend. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DockerBackend {
    state: Arc<BackendState>,
}

impl DockerBackend {
    /// Connects to the engine, checks it can host boxes, removes what dead
    /// servers left behind and starts the idle sweep.
    pub async fn start(config: DockerConfig) -> Result<DockerBackend, SandboxError> {
        let subnets = SubnetPool::new(config.subnet_pool, config.subnet_pool_prefix, config.subnet_prefix)?;
        let docker = daemon::connect(config.docker_host.as_deref()).await?;
        let info = docker.info().await.map_err(|e| api_error("asking the engine about itself", e))?;
        let driver = info.cgroup_driver.map(|d| d.to_string()).unwrap_or_default();
        if !driver.is_empty() && driver != "cgroupfs" {
            return Err(SandboxError::Unavailable(format!(
                "the Docker engine uses the {driver} cgroup driver; the docker backend needs `cgroupfs` (runs get \
                 their own cgroups below their container's): set \"exec-opts\": [\"native.cgroupdriver=cgroupfs\"] in \
                 /etc/docker/daemon.json and restart dockerd"
            )));
        }
        let layout = CgroupLayout::detect()
            .map_err(|e| SandboxError::Unavailable(format!("cgroups are not usable here ({e}); run as root")))?;
        let seccomp_profile = Policy::default_policy()
            .map_err(|e| SandboxError::Internal(format!("the seccomp policy: {e}")))?
            .docker_profile()
            .to_string();
        let instance = current_instance_name().map_err(|e| SandboxError::Internal(format!("instance name: {e}")))?;
        let reaped = reaper::reap_orphans(&docker, &layout).await;
        if reaped > 0 {
            tracing::info!(reaped, "removed Docker objects of dead Bytesbox servers");
        }
        let mut pool = subnets;
        // Subnets of networks other live servers use stay taken.
        for cidr in reaper::subnets_in_use(&docker).await {
            pool.reserve_cidr(&cidr);
        }
        if let Some(problem) = config.spare_pool.problem() {
            return Err(SandboxError::InvalidSpec(format!("the spare pool: {problem}")));
        }
        let uids = UidPool::new(config.uid_base, config.uid_count);
        let state = Arc::new(BackendState {
            docker,
            config,
            instance,
            layout,
            seccomp_profile,
            boxes: StdMutex::new(HashMap::new()),
            destroyed: StdMutex::new(DestroyedIds::default()),
            subnets: StdMutex::new(pool),
            uids,
            next_box: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            sweeper: StdMutex::new(None),
            spares: SparePool::default(),
            detached: DetachedWork::new(),
        });
        let sweeper = tokio::spawn(sweep(Arc::downgrade(&state)));
        if let Ok(mut slot) = state.sweeper.lock() {
            *slot = Some(sweeper);
        }
        // The first session finds its box ready.
        start_pool(
            &state,
            shape_of(&BoxSpec::default(), &state.config.default_image),
            state.config.default_image.clone(),
        );
        Ok(DockerBackend { state })
    }

    /// Waits until no spare box is being made or removed. For benchmarks
    /// that measure a new session with its spare in place.
    pub async fn spare_settled(&self) {
        settle_spares(&self.state).await;
    }

    /// Spare boxes ready now, and how many the pool aims at (from the
    /// measured arrival rate and make time).
    pub fn spare_pool_size(&self) -> (usize, usize) {
        (self.state.spares.ready_count(), self.state.spares.target(&self.state))
    }

    /// This backend's instance name (its label value and cgroup directory).
    pub fn instance(&self) -> &str {
        &self.state.instance
    }

    /// The engine client.
    pub fn docker(&self) -> &Docker {
        &self.state.docker
    }

    /// What of this backend exists right now beyond its live boxes' objects
    /// (everything, once it has been shut down). Tests assert this is empty.
    pub async fn leftovers(&self) -> Vec<Leftover> {
        leftovers::leftovers(&self.state).await
    }
}

#[async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn create(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        create(&self.state, spec).await
    }

    async fn put_files(&self, id: &BoxId, files: Vec<FileEntry>, mode: PutMode) -> Result<(), SandboxError> {
        let bx = self.state.lookup(id)?;
        let written = put_files_in(&self.state, &bx, files, mode).await;
        // A box torn down meanwhile kills the workspace check or fails the
        // upload: the caller is told the box is gone, and may take another.
        match written {
            Err(e) if bx.activity.is_destroyed() && !matches!(e, SandboxError::InvalidPath { .. }) => {
                Err(SandboxError::BoxGone(id.to_string()))
            }
            written => written,
        }
    }

    async fn get_files(
        &self,
        id: &BoxId,
        paths: Vec<String>,
        max_total_bytes: u64,
    ) -> Result<WorkspaceSnapshot, SandboxError> {
        let bx = self.state.lookup(id)?;
        for path in &paths {
            bytesbox_sandbox::paths::validate_relative(path)?;
        }
        let live = live_container(&self.state, &bx).await?;
        // The archive holds at most the workspace plus tar headers.
        let limit = bx.spec.limits.workspace_bytes.saturating_mul(2).saturating_add(64 << 20);
        let archive = files::download(&self.state.docker, &live.id, &bx.spec.workspace_dir, limit).await?;
        tokio::task::spawn_blocking(move || files::snapshot_from_tar(&archive, &paths, max_total_bytes))
            .await
            .map_err(|e| SandboxError::Internal(format!("reading the workspace archive: {e}")))?
    }

    async fn run(&self, id: &BoxId, spec: RunSpec) -> Result<RunHandle, SandboxError> {
        let bx = self.state.lookup(id)?;
        spec.validate(&self.state.config.max_run_limits)?;
        if bx.activity.is_destroyed() {
            return Err(SandboxError::BoxGone(id.to_string()));
        }
        let state = self.state.clone();
        // A run started for a caller that is gone is killed: dropping its
        // handle kills it.
        self.state
            .detached
            .run(async move { start_run_in(&state, bx, spec).await }, |run| async move { drop(run) })
            .await
    }

    async fn workspace_root(&self, id: &BoxId) -> Result<Arc<std::os::fd::OwnedFd>, SandboxError> {
        let bx = self.state.lookup(id)?;
        workspace_root(&self.state.docker, &bx).await
    }

    async fn open_listener(&self, id: &BoxId, port: u16) -> Result<std::os::fd::OwnedFd, SandboxError> {
        let bx = self.state.lookup(id)?;
        let container = bx.container.lock().await.as_ref().map(|live| live.id.clone());
        let container = container.ok_or_else(|| SandboxError::Internal("the box has no container".into()))?;
        let namespace = crate::container::network_namespace(&self.state.docker, &container).await?;
        bytesbox_sandbox::netns::listen_in_namespace(namespace, port).await
    }

    async fn open_socket(&self, id: &BoxId, path: &str) -> Result<std::os::fd::OwnedFd, SandboxError> {
        let bx = self.state.lookup(id)?;
        let workspace = workspace_root(&self.state.docker, &bx).await?;
        let (uid, path) = (bx.uid, path.to_string());
        tokio::task::spawn_blocking(move || {
            bytesbox_sandbox::beneath::open_socket(std::os::fd::AsFd::as_fd(&*workspace), &path, uid)
        })
        .await
        .map_err(|e| SandboxError::Internal(format!("open_socket task: {e}")))?
    }

    async fn destroy(&self, id: &BoxId) -> Result<(), SandboxError> {
        destroy(&self.state, id).await
    }

    fn live_boxes(&self) -> usize {
        self.state.boxes.lock().map(|boxes| boxes.len()).unwrap_or(0)
    }

    async fn list(&self) -> Vec<BoxInfo> {
        let boxes: Vec<Arc<DockerBox>> =
            self.state.boxes.lock().map(|b| b.values().cloned().collect()).unwrap_or_default();
        let mut infos = Vec::with_capacity(boxes.len());
        for bx in boxes {
            let memory_bytes = match bx.container.try_lock() {
                // One counter, not all of them: the idle-bytes sweep lists
                // every box every few seconds.
                Ok(slot) => slot.as_ref().and_then(|live| live.cgroup.memory_current_bytes().ok()),
                Err(_) => None,
            };
            infos.push(bx.activity.info(bx.id.clone(), bx.spec.labels.clone(), memory_bytes));
        }
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
        let boxes: Vec<Arc<DockerBox>> =
            state.boxes.lock().map(|mut b| b.drain().map(|(_, v)| v).collect()).unwrap_or_default();
        let teardowns = boxes.iter().map(|bx| teardown(state, bx));
        futures_util::future::join_all(teardowns).await;
        // A destroy that began after the first wait (a session ending as
        // the server stops) took its box out of the table: wait for it too.
        state.detached.close_and_wait(DETACHED_WORK_PATIENCE).await;
        drop_spares(state).await;
        // The engine removed each container's cgroup; the parent is ours.
        if let Ok(cgroup) = Cgroup::open_existing(&state.layout, &PathBuf::from(ROOT_NAME).join(&state.instance)) {
            let _ = tokio::task::spawn_blocking(move || cgroup.remove()).await;
        }
        // The engine made it in the host's other hierarchies too.
        let relative = instance_path(&state.instance);
        let _ =
            tokio::task::spawn_blocking(move || cgroup_dirs::remove_empty(&cgroup_dirs::cgroup_mounts(), &relative))
                .await;
    }
}

/// Writes a batch into the box's workspace (checked in the container first
/// when a run may have changed it).
async fn put_files_in(
    state: &BackendState,
    bx: &DockerBox,
    files: Vec<FileEntry>,
    mode: PutMode,
) -> Result<(), SandboxError> {
    let keep = files::validate_batch(&files, &mode)?;
    let replace = matches!(mode, PutMode::Replace { .. });
    let live = live_container(state, bx).await?;
    let workspace = &bx.spec.workspace_dir;
    if replace || bx.dirty.load(Ordering::Acquire) {
        files::prepare(&state.docker, &live.id, workspace, &bx.user(), &files, &keep, replace).await?;
        if bx.activity.active_runs() == 0 {
            bx.dirty.store(false, Ordering::Release);
        }
    }
    if files.is_empty() {
        return Ok(());
    }
    let archive = files::build_tar(&files, bx.uid, bx.uid)?;
    files::upload(&state.docker, &live.id, workspace, archive).await
}

/// An `O_PATH` descriptor of the box's workspace volume where the engine
/// mounted it on this host (so the server must run on the Docker host),
/// opened once per box. Paths beneath it are resolved as the native
/// backend resolves its workspace's (`bytesbox_sandbox::beneath`).
async fn workspace_root(docker: &Docker, bx: &DockerBox) -> Result<Arc<std::os::fd::OwnedFd>, SandboxError> {
    bx.workspace_root
        .get_or_try_init(|| async {
            let volume = docker
                .inspect_volume(&bx.objects.name)
                .await
                .map_err(|e| api_error("inspecting the workspace volume", e))?;
            let mountpoint = volume.mountpoint;
            let opened = rustix::fs::open(
                mountpoint.as_str(),
                rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| {
                SandboxError::Internal(format!(
                    "the workspace volume's mountpoint {mountpoint} cannot be opened here ({e}): \
                     sockets in a box (notebook kernels) and watching the workspace need the server \
                     on the Docker host"
                ))
            })?;
            Ok(Arc::new(opened))
        })
        .await
        .cloned()
}
