//! [`NativeBackend`]: the `Backend` trait on namespaces, cgroups, seccomp
//! and rlimits, with no daemon.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytesbox_cgroups::{Cgroup, CgroupLayout, CgroupLimits, INIT_LEAF};
use bytesbox_jail::mounts::{plan_rootfs, RealHost, RootSource, RootfsParams};
use bytesbox_jail::protocol::{BoxSetup, InitEvent};
use bytesbox_sandbox::{
    Backend, BoxId, BoxInfo, BoxSpec, DetachedWork, FileEntry, PutMode, RootfsSpec, RunHandle, RunSpec, SandboxError,
    WorkspaceSnapshot,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::cgroup_procs::open_procs;
use crate::config::NativeConfig;
use crate::health::Health;
use crate::ipc::{AsyncChannel, EVENT_BUFFER};
use crate::jailer_client::JailerClient;
use crate::sandbox_box::SandboxBox;
use crate::slot::fill_empty_slot;
use crate::uids::UidPool;
use crate::workspace::{self, Owner};
use crate::{instance, reaper};

/// How long shutdown waits for boxes being made and runs being started.
const DETACHED_WORK_PATIENCE: Duration = Duration::from_secs(15);
/// How long a box may take to build itself.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// The native backend. Cheap to clone; all clones share the same boxes.
#[derive(Clone, Debug)]
pub struct NativeBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: NativeConfig,
    layout: CgroupLayout,
    instance: Cgroup,
    instance_name: String,
    jailer: JailerClient,
    uids: UidPool,
    boxes: Mutex<HashMap<BoxId, Arc<SandboxBox>>>,
    next_box: AtomicU64,
    shutting_down: AtomicBool,
    new_root: PathBuf,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    spare_box: Mutex<Option<SpareBox>>,
    preparing_spare: AtomicBool,
    /// Recently destroyed ids, so destroying twice is harmless and a run on
    /// a destroyed box says so.
    destroyed: Mutex<DestroyedIds>,
    /// Boxes whose cgroups exist but which are neither live nor the stored
    /// spare yet (being made, or a spare being prepared).
    /// The uid is known (and its processes may still exist) for boxes
    /// being destroyed.
    making: Mutex<HashMap<BoxId, Option<u32>>>,
    /// Boxes being made and runs being started, each on a task of its own
    /// so that a caller that vanishes cannot cut them short.
    detached: DetachedWork,
    /// Whether boxes can be made.
    health: Health,
}

/// Registers a box as being made for as long as it lives; drop it only once
/// the box is in the box table or the spare slot, or cleaned up.
#[derive(Debug)]
struct Making {
    inner: Arc<Inner>,
    id: BoxId,
}

impl Making {
    fn new(inner: &Arc<Inner>, id: BoxId) -> Making {
        if let Ok(mut making) = inner.making.lock() {
            making.insert(id.clone(), None);
        }
        Making { inner: inner.clone(), id }
    }
}

impl Making {
    /// Takes the spare, registering it as being made in the same step.
    fn take_spare(inner: &Arc<Inner>) -> Option<(Making, SpareBox)> {
        let mut making = inner.making.lock().ok()?;
        let spare = inner.spare_box.lock().ok()?.take()?;
        making.insert(spare.id.clone(), None);
        Some((Making { inner: inner.clone(), id: spare.id.clone() }, spare))
    }

    /// Puts the finished box into the box table and stops counting it as
    /// being made, in one step.
    fn into_box(self, sandbox: Arc<SandboxBox>) -> Result<(), SandboxError> {
        let mut making = self.inner.making.lock().map_err(|_| SandboxError::Internal("poisoned".into()))?;
        self.inner
            .boxes
            .lock()
            .map_err(|_| SandboxError::Internal("box table poisoned".into()))?
            .insert(self.id.clone(), sandbox);
        making.remove(&self.id);
        Ok(())
    }

    /// Stores the spare (false if the slot was taken), in one step.
    fn into_spare(self, cgroup: Cgroup) -> bool {
        let Ok(mut making) = self.inner.making.lock() else { return false };
        let stored = fill_empty_slot(&self.inner.spare_box, SpareBox { id: self.id.clone(), cgroup });
        making.remove(&self.id);
        stored
    }
}

impl Drop for Making {
    fn drop(&mut self) {
        if let Ok(mut making) = self.inner.making.lock() {
            making.remove(&self.id);
        }
    }
}

/// A bounded memory of destroyed box ids.
#[derive(Debug, Default)]
struct DestroyedIds {
    set: std::collections::HashSet<BoxId>,
    order: std::collections::VecDeque<BoxId>,
}

impl DestroyedIds {
    const CAPACITY: usize = 65_536;

    fn remember(&mut self, id: BoxId) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > Self::CAPACITY {
                if let Some(oldest) = self.order.pop_front() {
                    self.set.remove(&oldest);
                }
            }
        }
    }
}

/// The next box's cgroups, with a process of the jailer already in them.
#[derive(Debug)]
struct SpareBox {
    id: BoxId,
    cgroup: Cgroup,
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
        let instance_name = instance::current_instance_name()
            .map_err(|e| SandboxError::Unavailable(format!("cannot name this server instance: {e}")))?;
        let instance_path = bytesbox_cgroups::instance_path(&instance_name);
        let instance = Cgroup::create(&layout, &instance_path).map_err(|e| {
            SandboxError::Unavailable(format!("cannot create the cgroup {}: {e}", instance_path.display()))
        })?;
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
        let uids = UidPool::new(config.uid_base, config.uid_count);
        let backend = NativeBackend {
            inner: Arc::new(Inner {
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
            }),
        };
        let sweeper = tokio::spawn(sweep_forever(Arc::downgrade(&backend.inner)));
        if let Ok(mut slot) = backend.inner.sweeper.lock() {
            *slot = Some(sweeper);
        }
        backend.prepare_spare_box().await;
        Ok(backend)
    }

    /// This server instance's cgroup path, relative to each hierarchy.
    pub fn instance_cgroup(&self) -> PathBuf {
        bytesbox_cgroups::instance_path(&self.inner.instance_name)
    }

    /// Everything of this backend still on the host beyond its live boxes
    /// and its spare: cgroups, and processes running as a box uid. Empty
    /// when nothing leaked. Meant for tests and health checks.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        // One consistent view: boxes move between the table, the spare slot
        // and the in-transit set only while `making` is locked, and a new
        // box cgroup is registered before its directory exists.
        let making = self.inner.making.lock();
        let mut expected: Vec<String> =
            making.as_ref().map(|m| m.keys().map(|id| id.0.clone()).collect()).unwrap_or_default();
        expected.extend(
            self.inner.boxes.lock().map(|b| b.keys().map(|id| id.0.clone()).collect::<Vec<_>>()).unwrap_or_default(),
        );
        expected.extend(self.inner.spare_box.lock().ok().and_then(|s| s.as_ref().map(|s| s.id.0.clone())));
        let instance = self.instance_cgroup();
        let shutting_down = self.inner.shutting_down.load(Ordering::Acquire);
        for hierarchy in self.inner.layout.hierarchies() {
            let dir = hierarchy.join(&instance);
            match std::fs::read_dir(&dir) {
                Ok(entries) => {
                    if shutting_down {
                        found.push(format!("cgroup {} still exists after shutdown", dir.display()));
                    }
                    for entry in entries.flatten() {
                        let name = entry.file_name().to_string_lossy().into_owned();
                        if entry.path().is_dir() && !expected.contains(&name) {
                            found.push(format!("cgroup {}", entry.path().display()));
                        }
                    }
                }
                Err(_) if shutting_down => {}
                Err(e) => found.push(format!("cgroup {} is missing: {e}", dir.display())),
            }
        }
        let mut live_uids: Vec<u32> =
            self.inner.boxes.lock().map(|b| b.values().map(|x| x.uid).collect()).unwrap_or_default();
        live_uids
            .extend(making.as_ref().map(|m| m.values().flatten().copied().collect::<Vec<_>>()).unwrap_or_default());
        let range = self.inner.config.uid_base..self.inner.config.uid_base.saturating_add(self.inner.config.uid_count);
        for (pid, uid) in processes_with_uids(&range) {
            if !live_uids.contains(&uid) {
                found.push(format!("process {pid} running as box uid {uid}"));
            }
        }
        drop(making);
        found
    }

    fn get(&self, id: &BoxId) -> Result<Arc<SandboxBox>, SandboxError> {
        let boxes = self.inner.boxes.lock().map_err(|_| SandboxError::Internal("box table poisoned".into()))?;
        let Some(sandbox) = boxes.get(id).cloned() else {
            return Err(self.missing(id));
        };
        if sandbox.is_destroyed() {
            return Err(SandboxError::BoxGone(id.to_string()));
        }
        Ok(sandbox)
    }

    /// The error for an id that is not live: gone, or never existed.
    fn missing(&self, id: &BoxId) -> SandboxError {
        let gone = self.inner.destroyed.lock().map(|d| d.set.contains(id)).unwrap_or(false);
        if gone {
            SandboxError::BoxGone(id.to_string())
        } else {
            SandboxError::NoSuchBox(id.to_string())
        }
    }

    fn root_source(&self, spec: &BoxSpec) -> Result<RootSource, SandboxError> {
        match &spec.rootfs {
            RootfsSpec::Host => Ok(RootSource::Host { etc_allow: self.inner.config.etc_allow.clone() }),
            RootfsSpec::Image { dir } => {
                if !dir.is_dir() {
                    return Err(SandboxError::InvalidSpec(format!("image directory {} does not exist", dir.display())));
                }
                Ok(RootSource::Image { dir: dir.clone() })
            }
            RootfsSpec::Named { image } => Err(SandboxError::InvalidSpec(format!(
                "the native backend runs from the host or an unpacked image directory, not the named image {image}"
            ))),
        }
    }

    async fn create_box(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        let inner = &self.inner;
        let source = self.root_source(&spec)?;
        let uid = inner.uids.take()?;
        let (making, cgroup, spare_name) = match Making::take_spare(&self.inner) {
            Some((making, spare)) => {
                let name = spare.id.0.clone();
                (making, spare.cgroup, Some(name))
            }
            None => match self.new_box_cgroup() {
                Ok((making, cgroup)) => (making, cgroup, None),
                Err(e) => {
                    inner.uids.give_back(uid);
                    return Err(e);
                }
            },
        };
        let id = making.id.clone();
        let result = self.start_box(&id, &spec, source, uid, &cgroup, spare_name).await;
        let backend = self.clone();
        tokio::spawn(async move { backend.prepare_spare_box().await });
        match result {
            Ok((init_pid, control, pidfd, workspace)) => {
                tracing::debug!(box_id = %id, init_pid, uid, "box started");
                let sandbox = Arc::new(SandboxBox::new(id.clone(), spec, uid, cgroup, control, pidfd, workspace));
                tokio::spawn(sandbox.clone().pump_events());
                tokio::spawn(sandbox.clone().prepare_launcher());
                making.into_box(sandbox)?;
                Ok(id)
            }
            Err(e) => {
                reaper::remove_tree(&inner.layout, &cgroup, 0);
                inner.uids.give_back(uid);
                drop(making);
                Err(e)
            }
        }
    }

    /// A new box cgroup with its init leaf.
    fn new_box_cgroup(&self) -> Result<(Making, Cgroup), SandboxError> {
        let id = BoxId(format!("b{}", self.inner.next_box.fetch_add(1, Ordering::Relaxed)));
        let making = Making::new(&self.inner, id.clone());
        let cgroup = Cgroup::create(&self.inner.layout, &self.instance_cgroup().join(&id.0))
            .map_err(|e| SandboxError::Internal(format!("box cgroup: {e}")))?;
        if let Err(e) = cgroup.child(INIT_LEAF) {
            let _ = cgroup.remove();
            return Err(SandboxError::Internal(format!("init cgroup: {e}")));
        }
        Ok((making, cgroup))
    }

    /// Mends a backend whose boxes keep failing: a new jailer, then a probe
    /// box, whose success ends the spell (see `crate::health`).
    async fn mend(&self) {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return;
        }
        tracing::warn!(reason = ?self.inner.health.status().err(), "restarting the jailer");
        self.inner.jailer.stop().await;
        // The old jailer's spare died with it.
        if let Some(stale) = self.inner.spare_box.lock().ok().and_then(|mut s| s.take()) {
            let layout = self.inner.layout.clone();
            let _ = tokio::task::spawn_blocking(move || reaper::remove_tree(&layout, &stale.cgroup, 0)).await;
        }
        match self.create(BoxSpec::default()).await {
            Ok(probe) => {
                let _ = self.destroy(&probe).await;
                tracing::info!("the backend makes boxes again");
            }
            Err(e) => tracing::warn!(error = %e, "the backend still cannot make boxes"),
        }
    }

    /// Makes the next box's cgroups and has the jailer fork a process into
    /// them now, off the critical path of the next `create`.
    async fn prepare_spare_box(&self) {
        let inner = &self.inner;
        if inner.shutting_down.load(Ordering::Acquire) || inner.preparing_spare.swap(true, Ordering::AcqRel) {
            return;
        }
        let has_spare = inner.spare_box.lock().map(|s| s.is_some()).unwrap_or(true);
        if !has_spare {
            let this = self.clone();
            let made = tokio::task::spawn_blocking(move || {
                let (making, cgroup) = this.new_box_cgroup()?;
                let procs = Cgroup::open_existing(&this.inner.layout, &cgroup.relative().join(INIT_LEAF))
                    .map_err(|e| SandboxError::Internal(format!("init cgroup: {e}")))
                    .and_then(|init| open_procs(&init));
                match procs {
                    Ok(procs) => Ok((making, cgroup, procs)),
                    Err(e) => {
                        reaper::remove_tree(&this.inner.layout, &cgroup, 0);
                        Err(e)
                    }
                }
            })
            .await;
            if let Ok(Ok((making, cgroup, procs))) = made {
                let prepared = inner.jailer.prepare_spare(&making.id.0, procs).await.is_ok()
                    && !inner.shutting_down.load(Ordering::Acquire);
                if !prepared || !making.into_spare(cgroup.clone()) {
                    // Still counted as being made (when `into_spare` did not
                    // run) until the clean-up is done.
                    let layout = inner.layout.clone();
                    let _ = tokio::task::spawn_blocking(move || reaper::remove_tree(&layout, &cgroup, 0)).await;
                }
            }
        }
        inner.preparing_spare.store(false, Ordering::Release);
    }

    async fn start_box(
        &self,
        id: &BoxId,
        spec: &BoxSpec,
        source: RootSource,
        uid: u32,
        cgroup: &Cgroup,
        spare: Option<String>,
    ) -> Result<(i32, AsyncChannel, AsyncFd<OwnedFd>, OwnedFd), SandboxError> {
        cgroup
            .apply(&CgroupLimits {
                memory_bytes: Some(spec.limits.memory_bytes),
                pids: Some(spec.limits.pids),
                cpu_millicores: Some(spec.limits.cpu_millicores),
            })
            .map_err(|e| SandboxError::Internal(format!("box limits: {e}")))?;
        let params = RootfsParams {
            source,
            workspace_dir: spec.workspace_dir.clone(),
            workspace_bytes: spec.limits.workspace_bytes,
            tmp_bytes: spec.limits.tmp_bytes,
            shm_bytes: spec.limits.shm_bytes,
            uid,
            gid: uid,
            hostname: spec.hostname.clone(),
        };
        let setup = BoxSetup {
            box_id: id.0.clone(),
            hostname: spec.hostname.clone(),
            uid,
            gid: uid,
            new_root: self.inner.new_root.to_string_lossy().into_owned(),
            workspace_dir: spec.workspace_dir.clone(),
            mounts: plan_rootfs(&params, &RealHost),
        };
        let init_procs = || {
            Cgroup::open_existing(&self.inner.layout, &cgroup.relative().join(INIT_LEAF))
                .map_err(|e| SandboxError::Internal(format!("init cgroup: {e}")))
                .and_then(|init| open_procs(&init))
        };
        let started = match spare {
            Some(name) => match self.inner.jailer.create_box(setup.clone(), Some(name), Vec::new()).await {
                // The spare died; start the box the slow way.
                Err(SandboxError::BoxGone(_)) => self.inner.jailer.create_box(setup, None, init_procs()?).await?,
                other => other?,
            },
            None => self.inner.jailer.create_box(setup, None, init_procs()?).await?,
        };
        let pidfd = crate::ipc::register(started.pidfd, Interest::READABLE)
            .map_err(|e| SandboxError::Internal(format!("pidfd: {e}")))?;
        let control =
            AsyncChannel::new(started.control).map_err(|e| SandboxError::Internal(format!("box channel: {e}")))?;
        let mut buffer = vec![0u8; EVENT_BUFFER];
        let ready = tokio::time::timeout(READY_TIMEOUT, control.recv::<InitEvent>(&mut buffer)).await;
        let failure = match ready {
            Ok(Ok(Some((InitEvent::Ready, mut fds)))) if fds.len() == 1 => {
                if let Some(workspace) = fds.pop() {
                    return Ok((started.pid, control, pidfd, workspace));
                }
                "the box sent no workspace".to_string()
            }
            Ok(Ok(Some((InitEvent::SetupFailed { error }, _)))) => format!("building the box failed: {error}"),
            Ok(Ok(Some((other, _)))) => format!("unexpected first message from the box: {other:?}"),
            Ok(Ok(None)) => "the box init exited during set-up".into(),
            Ok(Err(e)) => format!("box channel: {e}"),
            Err(_) => "the box did not finish set-up within 10 s".into(),
        };
        kill_pidfd(pidfd.get_ref());
        Err(SandboxError::Unavailable(failure))
    }

    async fn destroy_box(&self, sandbox: Arc<SandboxBox>) {
        sandbox.mark_destroyed();
        if let Ok(mut destroyed) = self.inner.destroyed.lock() {
            destroyed.remember(sandbox.id.clone());
        }
        // Killing the init of a pid namespace kills every process in it.
        kill_pidfd(sandbox.pidfd.get_ref());
        let exited = tokio::time::timeout(Duration::from_secs(5), sandbox.pidfd.readable()).await;
        if exited.is_err() {
            tracing::warn!(box_id = %sandbox.id, "box init did not exit within 5 s of SIGKILL");
        }
        let cleanup = sandbox.clone();
        let _ = tokio::task::spawn_blocking(move || cleanup.remove_cgroups()).await;
        self.inner.uids.give_back(sandbox.uid);
    }

    /// Removes a box from the table for destruction; it counts as in
    /// transit until the returned guard drops (after its cgroups are gone).
    fn take_box(&self, id: &BoxId) -> Option<(Arc<SandboxBox>, Making)> {
        let mut making = self.inner.making.lock().ok()?;
        let sandbox = self.inner.boxes.lock().ok()?.remove(id)?;
        making.insert(id.clone(), Some(sandbox.uid));
        Some((sandbox, Making { inner: self.inner.clone(), id: id.clone() }))
    }
}

/// Host processes whose real uid is in `range`, as (pid, uid).
fn processes_with_uids(range: &std::ops::Range<u32>) -> Vec<(i32, u32)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if let Some(uid) = uid.filter(|u| range.contains(u)) {
            found.push((pid, uid));
        }
    }
    found
}

fn kill_pidfd(pidfd: &OwnedFd) {
    // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo, no flags.
    unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_fd().as_raw_fd(), libc::SIGKILL, std::ptr::null::<()>(), 0);
    }
}

fn default_jail_binary() -> Result<PathBuf, SandboxError> {
    let exe = std::env::current_exe().map_err(|e| SandboxError::Unavailable(format!("current_exe: {e}")))?;
    let dir = exe.parent().ok_or_else(|| SandboxError::Unavailable("the executable has no directory".into()))?;
    // Test and bench executables live one level down, in `deps/`.
    for candidate in [dir.join("bytesbox-jail"), dir.join("../bytesbox-jail")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(SandboxError::Unavailable(format!(
        "the jailer helper `bytesbox-jail` was not found next to {}; build the whole workspace \
         (`cargo build --release`) or set the native backend's jail_binary",
        exe.display()
    )))
}

/// Destroys idle boxes and boxes whose init died, until the backend goes.
async fn sweep_forever(inner: std::sync::Weak<Inner>) {
    loop {
        let interval = match inner.upgrade() {
            Some(inner) => inner.config.sweep_interval,
            None => return,
        };
        tokio::time::sleep(interval).await;
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let backend = NativeBackend { inner: strong };
        let expired: Vec<BoxId> = backend
            .inner
            .boxes
            .lock()
            .map(|boxes| {
                boxes.values().filter(|b| b.is_idle_expired() || init_has_exited(b)).map(|b| b.id.clone()).collect()
            })
            .unwrap_or_default();
        for id in expired {
            if let Some((sandbox, in_transit)) = backend.take_box(&id) {
                tracing::debug!(box_id = %id, "destroying an idle or dead box");
                backend.destroy_box(sandbox).await;
                drop(in_transit);
            }
        }
        let live: Vec<_> = backend.inner.boxes.lock().map(|b| b.values().cloned().collect()).unwrap_or_default();
        let release_after = backend.inner.config.launcher_idle_release;
        let _ = tokio::task::spawn_blocking(move || {
            for sandbox in live {
                sandbox.release_idle_launcher(release_after);
            }
        })
        .await;
        reaper::reap_dead_instances(&backend.inner.layout);
        if backend.inner.health.failing() {
            backend.mend().await;
        }
    }
}

fn init_has_exited(sandbox: &SandboxBox) -> bool {
    let mut fds = [nix::poll::PollFd::new(sandbox.pidfd.get_ref().as_fd(), nix::poll::PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
}

#[async_trait]
impl Backend for NativeBackend {
    fn name(&self) -> &'static str {
        "native"
    }

    async fn create(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        if self.inner.shutting_down.load(Ordering::Acquire) {
            return Err(SandboxError::ShuttingDown);
        }
        spec.validate()?;
        let (making, undoing) = (self.clone(), self.clone());
        let made = self
            .inner
            .detached
            .run(async move { making.create_box(spec).await }, move |id| async move {
                let _ = undoing.destroy(&id).await;
            })
            .await;
        self.inner.health.record(&made);
        made
    }

    async fn put_files(&self, id: &BoxId, files: Vec<FileEntry>, mode: PutMode) -> Result<(), SandboxError> {
        let sandbox = self.get(id)?;
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
        let sandbox = self.get(id)?;
        let workspace = sandbox.workspace.clone();
        tokio::task::spawn_blocking(move || workspace::get_files(workspace.as_fd(), &paths, max_total_bytes))
            .await
            .map_err(|e| SandboxError::Internal(format!("get_files task: {e}")))?
    }

    async fn run(&self, id: &BoxId, spec: RunSpec) -> Result<RunHandle, SandboxError> {
        spec.validate(&self.inner.config.max_run_limits)?;
        let sandbox = self.get(id)?;
        // A run started for a caller that is gone is killed: dropping its
        // handle kills it.
        self.inner
            .detached
            .run(async move { crate::launch::start_run(sandbox, spec).await }, |run| async move { drop(run) })
            .await
    }

    fn health(&self) -> Result<(), String> {
        self.inner.health.status()
    }

    async fn destroy(&self, id: &BoxId) -> Result<(), SandboxError> {
        // Once the box is out of the table nothing else would clean it up,
        // so the destruction runs to its end even if the caller goes.
        let (backend, id) = (self.clone(), id.clone());
        self.inner
            .detached
            .finish(async move {
                match backend.take_box(&id) {
                    Some((sandbox, in_transit)) => {
                        backend.destroy_box(sandbox).await;
                        drop(in_transit);
                        Ok(())
                    }
                    None => match backend.missing(&id) {
                        SandboxError::BoxGone(_) => Ok(()),
                        other => Err(other),
                    },
                }
            })
            .await
    }

    fn live_boxes(&self) -> usize {
        self.inner.boxes.lock().map(|boxes| boxes.len()).unwrap_or(0)
    }

    async fn list(&self) -> Vec<BoxInfo> {
        let boxes: Vec<_> = self.inner.boxes.lock().map(|b| b.values().cloned().collect()).unwrap_or_default();
        let mut infos: Vec<_> = boxes.iter().map(|b| b.info()).collect();
        infos.sort_by(|a, b| a.id.cmp(&b.id));
        infos
    }

    async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        if let Some(sweeper) = self.inner.sweeper.lock().ok().and_then(|mut s| s.take()) {
            sweeper.abort();
        }
        // Boxes being made finish first (or are undone), so that none is
        // made after the table is emptied.
        if !self.inner.detached.close_and_wait(DETACHED_WORK_PATIENCE).await {
            tracing::warn!("boxes were still being made {DETACHED_WORK_PATIENCE:?} into the shutdown");
        }
        let all: Vec<_> = self.inner.boxes.lock().map(|mut b| b.drain().map(|(_, v)| v).collect()).unwrap_or_default();
        let destroys = all.into_iter().map(|sandbox| self.destroy_box(sandbox));
        for destroy in destroys {
            destroy.await;
        }
        // A destroy that began after the first wait (a session ending as
        // the server stops) took its box out of the table: wait for it too.
        self.inner.detached.close_and_wait(DETACHED_WORK_PATIENCE).await;
        self.inner.jailer.stop().await;
        let instance = self.inner.instance.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = instance.kill_all(Duration::from_secs(5));
            let _ = instance.remove();
        })
        .await;
    }
}

impl Drop for Inner {
    /// Best-effort clean-up when the backend is dropped without
    /// `shutdown`: kill every box and remove this instance's cgroups, so
    /// nothing outlives the server.
    fn drop(&mut self) {
        if let Ok(mut boxes) = self.boxes.lock() {
            for (_, sandbox) in boxes.drain() {
                sandbox.mark_destroyed();
                kill_pidfd(sandbox.pidfd.get_ref());
                sandbox.remove_cgroups();
            }
        }
        self.jailer.stop_now();
        let _ = self.instance.kill_all(Duration::from_secs(5));
        let _ = self.instance.remove();
    }
}
