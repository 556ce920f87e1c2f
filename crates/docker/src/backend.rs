//! The `Backend` implementation: box table, create/run/destroy, idle sweep.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::Docker;
use bytesbox_cgroups::{current_instance_name, instance_path, Cgroup, CgroupLayout, CgroupVersion, ROOT_NAME};
use bytesbox_sandbox::{
    Backend, BoxId, BoxInfo, BoxSpec, DetachedWork, FileEntry, PutMode, RootfsSpec, RunHandle, RunSpec, SandboxError,
    WorkspaceSnapshot,
};
use bytesbox_seccomp::Policy;
use tokio::task::JoinHandle;

use crate::cgroup_dirs;
use crate::container::{self, BoxObjects, ContainerPlan};
use crate::daemon::{self, api_error};
use crate::files;
use crate::reaper;
use crate::run;
use crate::sandbox_box::{DockerBox, LiveContainer};
use crate::spare::{self, MadeBox, SpareSlot};
use crate::subnets::SubnetPool;
use crate::DockerConfig;

/// How often orphans of dead servers are looked for (the idle sweep may run
/// more often).
const REAP_INTERVAL: Duration = Duration::from_secs(30);

/// How long shutdown waits for boxes being made and runs being started.
const DETACHED_WORK_PATIENCE: Duration = Duration::from_secs(30);

/// The Docker backend. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DockerBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    docker: Docker,
    config: DockerConfig,
    instance: String,
    layout: CgroupLayout,
    /// Docker's JSON form of the native seccomp policy.
    seccomp_profile: String,
    boxes: StdMutex<HashMap<BoxId, Arc<DockerBox>>>,
    destroyed: StdMutex<HashSet<BoxId>>,
    subnets: StdMutex<SubnetPool>,
    next_box: AtomicU64,
    shutting_down: AtomicBool,
    sweeper: StdMutex<Option<JoinHandle<()>>>,
    /// A box made ahead of the next `create` (see `prepare_spare`).
    spare: StdMutex<SpareSlot>,
    /// Boxes being made and runs being started, each on a task of its own
    /// so that a caller that vanishes cannot leave a container half made.
    detached: DetachedWork,
}

/// Something of this backend still on the host or in the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// A container with this backend's instance label.
    Container(String),
    /// A network with this backend's instance label.
    Network(String),
    /// A volume with this backend's instance label.
    Volume(String),
    /// A subnet still taken from the pool (after shutdown).
    Subnets(usize),
    /// The instance's cgroup directory (after shutdown).
    Cgroup(PathBuf),
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
        let inner = Arc::new(Inner {
            docker,
            config,
            instance,
            layout,
            seccomp_profile,
            boxes: StdMutex::new(HashMap::new()),
            destroyed: StdMutex::new(HashSet::new()),
            subnets: StdMutex::new(pool),
            next_box: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            sweeper: StdMutex::new(None),
            spare: StdMutex::new(SpareSlot::default()),
            detached: DetachedWork::new(),
        });
        let sweeper = tokio::spawn(sweep(Arc::downgrade(&inner)));
        if let Ok(mut slot) = inner.sweeper.lock() {
            *slot = Some(sweeper);
        }
        // The first session finds its box ready.
        prepare_spare(
            &inner,
            spare::shape_of(&BoxSpec::default(), &inner.config.default_image),
            inner.config.default_image.clone(),
        );
        Ok(DockerBackend { inner })
    }

    /// Waits until the spare box being made (if any) is ready. For
    /// benchmarks that measure a new session with its spare in place.
    pub async fn spare_settled(&self) {
        self.inner.settle_spare().await;
    }

    /// This backend's instance name (its label value and cgroup directory).
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// The engine client.
    pub fn docker(&self) -> &Docker {
        &self.inner.docker
    }

    /// What of this backend exists right now beyond its live boxes' objects
    /// (everything, once it has been shut down). Tests assert this is empty.
    pub async fn leftovers(&self) -> Vec<Leftover> {
        let inner = &self.inner;
        // A spare being made is finished first, so nothing is half made.
        inner.settle_spare().await;
        let mut live: HashSet<String> =
            inner.boxes.lock().map(|b| b.values().map(|x| x.objects.name.clone()).collect()).unwrap_or_default();
        if let Some(name) =
            inner.spare.lock().ok().and_then(|slot| slot.ready.as_ref().map(|(_, made)| made.objects.name.clone()))
        {
            live.insert(name);
        }
        let mut found = Vec::new();
        for (kind, name) in reaper::objects_of_instance(&inner.docker, &inner.instance).await {
            if live.contains(&name) {
                continue;
            }
            found.push(match kind {
                reaper::Kind::Container => Leftover::Container(name),
                reaper::Kind::Network => Leftover::Network(name),
                reaper::Kind::Volume => Leftover::Volume(name),
            });
        }
        let in_use = inner.subnets.lock().map(|p| p.in_use()).unwrap_or(0);
        if in_use > live.len() {
            found.push(Leftover::Subnets(in_use - live.len()));
        }
        if inner.shutting_down.load(Ordering::Acquire) {
            // Every hierarchy of the host: the engine makes the instance's
            // directory in more of them than the layout uses.
            let mut mounts = cgroup_dirs::cgroup_mounts();
            for root in inner.layout.hierarchies() {
                if !mounts.contains(root) {
                    mounts.push(root.clone());
                }
            }
            for dir in cgroup_dirs::existing_dirs(&mounts, &instance_path(&inner.instance)) {
                found.push(Leftover::Cgroup(dir));
            }
        }
        found
    }

    /// Starts one run in the box's container (replacing a broken one first).
    async fn start_run(&self, bx: &Arc<DockerBox>, run_id: u64, spec: RunSpec) -> Result<RunHandle, SandboxError> {
        let live = self.inner.live_container(bx).await?;
        run::start(run::RunStart {
            docker: self.inner.docker.clone(),
            sandbox: bx.clone(),
            container: live.id,
            container_cgroup: live.cgroup,
            run_id,
            spec,
        })
        .await
    }

    fn lookup(&self, id: &BoxId) -> Result<Arc<DockerBox>, SandboxError> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(SandboxError::ShuttingDown);
        }
        let boxes = self.inner.boxes.lock().map_err(|_| SandboxError::Internal("box table poisoned".into()))?;
        if let Some(found) = boxes.get(id) {
            return Ok(found.clone());
        }
        drop(boxes);
        if self.inner.destroyed.lock().map(|d| d.contains(id)).unwrap_or(false) {
            return Err(SandboxError::BoxGone(id.to_string()));
        }
        Err(SandboxError::NoSuchBox(id.to_string()))
    }

    /// Makes a box (on a detached task: see `Backend::create`).
    async fn create_box(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        let inner = &self.inner;
        let image = match &spec.rootfs {
            RootfsSpec::Host => inner.config.default_image.clone(),
            RootfsSpec::Named { image } => image.clone(),
            RootfsSpec::Image { .. } => {
                return Err(SandboxError::InvalidSpec(
                    "the docker backend runs images (RootfsSpec::Named), not unpacked directories".into(),
                ))
            }
        };
        let shape = spare::shape_of(&spec, &image);
        // An engine restart stops the spare's container; the idle sweep
        // notices only later, so a taken spare is checked (one inspect).
        let made = match inner.take_spare(&shape) {
            Some(made) if inner.container_running(&made.live.id).await => made,
            Some(stopped) => {
                inner.remove_made(stopped).await;
                inner.make_box(&spec, &image).await?
            }
            None => inner.make_box(&spec, &image).await?,
        };
        // The next session of this shape finds its box ready.
        prepare_spare(&self.inner, shape, image);
        let id = BoxId(made.objects.name.clone());
        let bx = Arc::new(DockerBox::new(
            id.clone(),
            spec,
            made.image,
            made.objects,
            made.subnet_index,
            inner.user(),
            made.live,
        ));
        inner.boxes.lock().map_err(|_| SandboxError::Internal("box table poisoned".into()))?.insert(id.clone(), bx);
        Ok(id)
    }

    /// Starts a run (on a detached task: see `Backend::run`).
    async fn start_run_in(&self, bx: Arc<DockerBox>, spec: RunSpec) -> Result<RunHandle, SandboxError> {
        let run_id = bx.begin_run();
        let mut started = self.start_run(&bx, run_id, spec.clone()).await;
        // A container that stopped while the box was idle (an engine
        // restart stops them all) fails the exec: the run gets a fresh
        // container, once. Only this failure path pays for the inspect.
        if started.is_err() && !bx.is_destroyed() && !self.inner.box_container_running(&bx).await {
            bx.mark_broken();
            started = self.start_run(&bx, run_id, spec).await;
        }
        if started.is_err() {
            bx.finish_run(run_id);
        }
        started
    }
}

impl Inner {
    fn user(&self) -> String {
        format!("{}:{}", self.config.sandbox_uid, self.config.sandbox_gid)
    }

    fn cgroup_parent(&self) -> String {
        format!("/{}", instance_path(&self.instance).display())
    }

    /// Creates and starts a box container and finds its cgroup.
    async fn new_container(
        &self,
        spec: &BoxSpec,
        image: &str,
        objects: &BoxObjects,
    ) -> Result<LiveContainer, SandboxError> {
        let plan = ContainerPlan {
            spec,
            image,
            cgroup_parent: self.cgroup_parent(),
            uid: self.config.sandbox_uid,
            gid: self.config.sandbox_gid,
            seccomp_profile: &self.seccomp_profile,
        };
        let id = container::create_container(&self.docker, objects, &plan).await?;
        let relative = instance_path(&self.instance).join(&id);
        let found = container_cgroup(&self.docker, &self.layout, &id, relative).await;
        match found {
            Ok(cgroup) => Ok(LiveContainer { id, cgroup }),
            Err(e) => {
                container::remove_container(&self.docker, &id).await;
                Err(e)
            }
        }
    }

    /// Makes a box's network, volume and container. The box id is the
    /// objects' name; the caller's labels are on all three.
    async fn make_box(&self, spec: &BoxSpec, image: &str) -> Result<MadeBox, SandboxError> {
        let serial = self.next_box.fetch_add(1, Ordering::Relaxed);
        let name = format!("bytesbox-{}-b{serial}", self.instance);
        let objects =
            BoxObjects { name: name.clone(), labels: container::box_labels(&self.instance, &name, &spec.labels) };
        // Another server (or backend) on this engine may hold a subnet our
        // pool thinks is free: the engine says it overlaps, and we move on.
        let mut network = None;
        for _ in 0..64 {
            let (index, subnet) = self
                .subnets
                .lock()
                .map_err(|_| SandboxError::Internal("subnet pool poisoned".into()))?
                .take()
                .ok_or_else(|| SandboxError::Unavailable("every session subnet of the pool is in use".into()))?;
            match container::create_network(&self.docker, &objects, &subnet).await {
                Ok(_) => {
                    network = Some(index);
                    break;
                }
                Err(e) if e.to_string().contains("overlaps") => {
                    if let Ok(mut pool) = self.subnets.lock() {
                        pool.mark_foreign(index);
                    }
                }
                Err(e) => {
                    if let Ok(mut pool) = self.subnets.lock() {
                        pool.give_back(index);
                    }
                    return Err(e);
                }
            }
        }
        let subnet_index =
            network.ok_or_else(|| SandboxError::Unavailable("no free session subnet on this engine".into()))?;
        let made = async {
            container::create_volume(
                &self.docker,
                &objects,
                spec.limits.workspace_bytes,
                self.config.sandbox_uid,
                self.config.sandbox_gid,
            )
            .await?;
            self.new_container(spec, image, &objects).await
        }
        .await;
        match made {
            Ok(live) => Ok(MadeBox { objects, subnet_index, live, image: image.to_string() }),
            Err(e) => {
                container::remove_network(&self.docker, &name).await;
                container::remove_volume(&self.docker, &name).await;
                if let Ok(mut pool) = self.subnets.lock() {
                    pool.give_back(subnet_index);
                }
                Err(e)
            }
        }
    }

    /// The spare, if it was made for boxes of this shape.
    fn take_spare(&self, shape: &BoxSpec) -> Option<MadeBox> {
        let mut slot = self.spare.lock().ok()?;
        match &slot.ready {
            Some((made_for, _)) if made_for == shape => slot.ready.take().map(|(_, made)| made),
            _ => None,
        }
    }

    /// Removes a spare nobody took.
    async fn remove_made(&self, made: MadeBox) {
        self.remove_objects(&made.objects.name, Some(made.live), made.subnet_index).await;
    }

    /// Kills what runs in the container and removes the container, the
    /// network and the volume; the subnet returns to the pool.
    async fn remove_objects(&self, name: &str, live: Option<LiveContainer>, subnet_index: u32) {
        if let Some(live) = live {
            let cgroup = live.cgroup.clone();
            let _ = tokio::task::spawn_blocking(move || cgroup.kill_all(Duration::from_secs(5))).await;
            container::remove_container(&self.docker, &live.id).await;
        }
        let network_gone = container::remove_network(&self.docker, name).await;
        container::remove_volume(&self.docker, name).await;
        if network_gone {
            if let Ok(mut pool) = self.subnets.lock() {
                pool.give_back(subnet_index);
            }
        }
    }

    /// Waits until no spare is being made.
    async fn settle_spare(&self) {
        let preparing = self.spare.lock().ok().and_then(|mut slot| slot.preparing.take());
        if let Some(task) = preparing {
            let _ = task.await;
        }
    }

    /// Waits for a spare being made (so nothing is half made), then
    /// removes the spare.
    async fn drop_spare(&self) {
        self.settle_spare().await;
        let ready = self.spare.lock().ok().and_then(|mut slot| slot.ready.take());
        if let Some((_, made)) = ready {
            self.remove_made(made).await;
        }
    }

    /// Whether the engine says the container runs (false when it is gone
    /// or the engine does not answer).
    async fn container_running(&self, id: &str) -> bool {
        self.docker
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .ok()
            .and_then(|c| c.state)
            .and_then(|s| s.running)
            .unwrap_or(false)
    }

    /// Whether the box's current container runs.
    async fn box_container_running(&self, bx: &DockerBox) -> bool {
        let id = bx.container.lock().await.as_ref().map(|live| live.id.clone());
        match id {
            Some(id) => self.container_running(&id).await,
            None => false,
        }
    }

    /// The box's container, replacing it first when it broke.
    async fn live_container(&self, bx: &DockerBox) -> Result<LiveContainer, SandboxError> {
        let mut slot = bx.container.lock().await;
        if bx.take_broken() {
            if let Some(old) = slot.take() {
                container::remove_container(&self.docker, &old.id).await;
            }
        }
        if let Some(live) = slot.as_ref() {
            return Ok(live.clone());
        }
        // The workspace volume survives in the engine, but its tmpfs went
        // away with the old container: the new one starts empty.
        let live = self.new_container(&bx.spec, &bx.image, &bx.objects).await?;
        *slot = Some(live.clone());
        Ok(live)
    }

    /// Kills the box's runs and removes its container, network and volume.
    async fn teardown(&self, bx: &DockerBox) {
        bx.mark_destroyed();
        let container = bx.container.lock().await.take();
        self.remove_objects(&bx.objects.name, container, bx.subnet_index).await;
    }
}

/// The cgroup of a just-started container. On cgroup v2 the container's
/// init moves into an `init` leaf first, so the container's cgroup may
/// have run cgroups as children.
async fn container_cgroup(
    docker: &Docker,
    layout: &CgroupLayout,
    id: &str,
    relative: PathBuf,
) -> Result<Cgroup, SandboxError> {
    let cgroup = Cgroup::open_existing(layout, &relative)
        .map_err(|e| SandboxError::Internal(format!("container cgroup: {e}")))?;
    if !layout.hierarchies().iter().all(|root| root.join(&relative).is_dir()) {
        return Err(SandboxError::Unavailable(format!(
            "the container's cgroup {} is missing: the docker backend needs the engine on this host with the \
             cgroupfs driver",
            relative.display()
        )));
    }
    if layout.version() == CgroupVersion::V2 {
        let inspect = docker
            .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .map_err(|e| api_error("inspecting the box container", e))?;
        let pid = inspect.state.and_then(|s| s.pid).unwrap_or(0);
        let init = Cgroup::open_existing(layout, &relative.join("init"))
            .and_then(|leaf| {
                for root in layout.hierarchies() {
                    std::fs::create_dir_all(root.join(leaf.relative())).map_err(|source| {
                        bytesbox_cgroups::CgroupError::Create { path: root.join(leaf.relative()), source }
                    })?;
                }
                leaf.add_pid(i32::try_from(pid).unwrap_or(0))
            })
            .map_err(|e| SandboxError::Internal(format!("moving the container init to its leaf: {e}")));
        init?;
    }
    Ok(cgroup)
}

#[async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn create(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        spec.validate()?;
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(SandboxError::ShuttingDown);
        }
        let (making, undoing) = (self.clone(), self.clone());
        self.inner
            .detached
            .run(async move { making.create_box(spec).await }, move |id| async move {
                let _ = undoing.destroy(&id).await;
            })
            .await
    }

    async fn put_files(&self, id: &BoxId, files: Vec<FileEntry>, mode: PutMode) -> Result<(), SandboxError> {
        let bx = self.lookup(id)?;
        let keep = files::validate_batch(&files, &mode)?;
        let replace = matches!(mode, PutMode::Replace { .. });
        let inner = &self.inner;
        let live = inner.live_container(&bx).await?;
        let workspace = &bx.spec.workspace_dir;
        if replace || bx.dirty.load(Ordering::Acquire) {
            files::prepare(&inner.docker, &live.id, workspace, &bx.user, &files, &keep, replace).await?;
            if bx.active_runs() == 0 {
                bx.dirty.store(false, Ordering::Release);
            }
        }
        if files.is_empty() {
            return Ok(());
        }
        let archive = files::build_tar(&files, inner.config.sandbox_uid, inner.config.sandbox_gid)?;
        files::upload(&inner.docker, &live.id, workspace, archive).await
    }

    async fn get_files(
        &self,
        id: &BoxId,
        paths: Vec<String>,
        max_total_bytes: u64,
    ) -> Result<WorkspaceSnapshot, SandboxError> {
        let bx = self.lookup(id)?;
        for path in &paths {
            bytesbox_sandbox::paths::validate_relative(path)?;
        }
        let live = self.inner.live_container(&bx).await?;
        // The archive holds at most the workspace plus tar headers.
        let limit = bx.spec.limits.workspace_bytes.saturating_mul(2).saturating_add(64 << 20);
        let archive = files::download(&self.inner.docker, &live.id, &bx.spec.workspace_dir, limit).await?;
        tokio::task::spawn_blocking(move || files::snapshot_from_tar(&archive, &paths, max_total_bytes))
            .await
            .map_err(|e| SandboxError::Internal(format!("reading the workspace archive: {e}")))?
    }

    async fn run(&self, id: &BoxId, spec: RunSpec) -> Result<RunHandle, SandboxError> {
        let bx = self.lookup(id)?;
        spec.validate(&self.inner.config.max_run_limits)?;
        if bx.is_destroyed() {
            return Err(SandboxError::BoxGone(id.to_string()));
        }
        let starting = self.clone();
        // A run started for a caller that is gone is killed: dropping its
        // handle kills it.
        self.inner
            .detached
            .run(async move { starting.start_run_in(bx, spec).await }, |run| async move { drop(run) })
            .await
    }

    async fn destroy(&self, id: &BoxId) -> Result<(), SandboxError> {
        // Once the box is out of the table nothing else would tear it down,
        // so the teardown runs to its end even if the caller goes.
        let (inner, id) = (self.inner.clone(), id.clone());
        self.inner
            .detached
            .finish(async move {
                let removed = inner.boxes.lock().ok().and_then(|mut boxes| boxes.remove(&id));
                let removed_was_sweeping = removed.as_ref().is_some_and(|bx| bx.is_destroyed());
                let Some(bx) = removed.filter(|bx| !bx.is_destroyed()) else {
                    // Destroyed before, or being torn down by the idle sweep.
                    if inner.destroyed.lock().map(|d| d.contains(&id)).unwrap_or(false) || removed_was_sweeping {
                        return Ok(());
                    }
                    return Err(SandboxError::NoSuchBox(id.to_string()));
                };
                if let Ok(mut destroyed) = inner.destroyed.lock() {
                    destroyed.insert(id.clone());
                }
                inner.teardown(&bx).await;
                Ok(())
            })
            .await
    }

    fn live_boxes(&self) -> usize {
        self.inner.boxes.lock().map(|boxes| boxes.len()).unwrap_or(0)
    }

    async fn list(&self) -> Vec<BoxInfo> {
        let boxes: Vec<Arc<DockerBox>> =
            self.inner.boxes.lock().map(|b| b.values().cloned().collect()).unwrap_or_default();
        let mut infos = Vec::with_capacity(boxes.len());
        for bx in boxes {
            let memory_bytes = match bx.container.try_lock() {
                Ok(slot) => slot.as_ref().and_then(|live| live.cgroup.stats().ok()).map(|s| s.memory_current_bytes),
                Err(_) => None,
            };
            infos.push(BoxInfo {
                id: bx.id.clone(),
                labels: bx.spec.labels.clone(),
                active_runs: bx.active_runs(),
                total_runs: bx.total_runs(),
                memory_bytes,
                idle_ms: bx.idle_ms(),
            });
        }
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::Release);
        if let Some(sweeper) = inner.sweeper.lock().ok().and_then(|mut s| s.take()) {
            sweeper.abort();
        }
        // Boxes being made finish first (or are undone), so that none is
        // made after the table is emptied.
        if !inner.detached.close_and_wait(DETACHED_WORK_PATIENCE).await {
            tracing::warn!("boxes were still being made {DETACHED_WORK_PATIENCE:?} into the shutdown");
        }
        let boxes: Vec<Arc<DockerBox>> =
            inner.boxes.lock().map(|mut b| b.drain().map(|(_, v)| v).collect()).unwrap_or_default();
        let teardowns = boxes.iter().map(|bx| inner.teardown(bx));
        futures_util::future::join_all(teardowns).await;
        // A destroy that began after the first wait (a session ending as
        // the server stops) took its box out of the table: wait for it too.
        inner.detached.close_and_wait(DETACHED_WORK_PATIENCE).await;
        inner.drop_spare().await;
        // The engine removed each container's cgroup; the parent is ours.
        if let Ok(cgroup) = Cgroup::open_existing(&inner.layout, &PathBuf::from(ROOT_NAME).join(&inner.instance)) {
            let _ = tokio::task::spawn_blocking(move || cgroup.remove()).await;
        }
        // The engine made it in the host's other hierarchies too.
        let relative = instance_path(&inner.instance);
        let _ =
            tokio::task::spawn_blocking(move || cgroup_dirs::remove_empty(&cgroup_dirs::cgroup_mounts(), &relative))
                .await;
    }
}

/// Starts making a spare box of `shape` in the background, unless one is
/// ready or being made. A spare of another shape is removed first: the
/// spare follows the shape last asked for (a server asks for one shape).
fn prepare_spare(inner: &Arc<Inner>, shape: BoxSpec, image: String) {
    if !inner.config.spare_box || inner.shutting_down.load(Ordering::Acquire) {
        return;
    }
    let Ok(mut slot) = inner.spare.lock() else { return };
    if slot.preparing.as_ref().is_some_and(|task| !task.is_finished()) {
        return;
    }
    let stale = match &slot.ready {
        Some((made_for, _)) if *made_for == shape => return,
        Some(_) => slot.ready.take(),
        None => None,
    };
    let inner_for_task = inner.clone();
    slot.preparing = Some(tokio::spawn(async move {
        let inner = inner_for_task;
        if let Some((_, made)) = stale {
            inner.remove_made(made).await;
        }
        let made = match inner.make_box(&shape, &image).await {
            Ok(made) => made,
            Err(e) => {
                tracing::warn!(error = %e, "making a spare box");
                return;
            }
        };
        let surplus = match inner.spare.lock() {
            Ok(mut slot) if slot.ready.is_none() && !inner.shutting_down.load(Ordering::Acquire) => {
                slot.ready = Some((shape, made));
                None
            }
            _ => Some(made),
        };
        if let Some(made) = surplus {
            inner.remove_made(made).await;
        }
    }));
}

/// Whether the spare's container still runs (an engine restart stops it);
/// a dead one is replaced.
async fn check_spare(inner: &Arc<Inner>) {
    let ready = inner
        .spare
        .lock()
        .ok()
        .and_then(|slot| slot.ready.as_ref().map(|(s, m)| (s.clone(), m.live.id.clone(), m.image.clone())));
    let Some((shape, container_id, image)) = ready else { return };
    if inner.container_running(&container_id).await {
        return;
    }
    let dead = inner.spare.lock().ok().and_then(|mut slot| match &slot.ready {
        Some((_, made)) if made.live.id == container_id => slot.ready.take(),
        _ => None,
    });
    if let Some((_, made)) = dead {
        inner.remove_made(made).await;
        prepare_spare(inner, shape, image);
    }
}

/// Destroys idle boxes on the configured interval and reaps orphans of
/// dead servers every [`REAP_INTERVAL`].
async fn sweep(inner: Weak<Inner>) {
    let interval = match inner.upgrade() {
        Some(inner) => inner.config.sweep_interval,
        None => return,
    };
    let mut last_reap = Instant::now();
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let idle: Vec<Arc<DockerBox>> = inner
            .boxes
            .lock()
            .map(|boxes| {
                boxes
                    .values()
                    .filter(|bx| bx.active_runs() == 0 && u128::from(bx.idle_ms()) >= bx.spec.idle_ttl.as_millis())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for bx in idle {
            // Torn down before it leaves the table, so a box that is no
            // longer listed has nothing left in the engine.
            if bx.is_destroyed() {
                continue;
            }
            inner.teardown(&bx).await;
            if let Ok(mut destroyed) = inner.destroyed.lock() {
                destroyed.insert(bx.id.clone());
            }
            if let Ok(mut boxes) = inner.boxes.lock() {
                boxes.remove(&bx.id);
            }
        }
        check_spare(&inner).await;
        if last_reap.elapsed() >= REAP_INTERVAL {
            last_reap = Instant::now();
            reaper::reap_orphans(&inner.docker, &inner.layout).await;
        }
    }
}
