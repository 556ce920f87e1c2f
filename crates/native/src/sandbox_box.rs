//! One live box on the server side: its cgroups, control channel, init
//! pidfd, workspace descriptor and the runs in flight.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytesbox_cgroups::Cgroup;
use bytesbox_jail::protocol::{InitEvent, InitRequest};
use bytesbox_sandbox::{BoxActivity, BoxId, BoxInfo, BoxSpec, RunLimits, SandboxError};
use bytesbox_supervisor::ExitStatus;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use crate::ipc::{AsyncChannel, EVENT_BUFFER};

/// What the init said about a run's start.
pub type StartResult = Result<(i32, Vec<OwnedFd>), String>;

/// Waiters of one run, fed by the event pump.
#[derive(Debug, Default)]
struct RunWaiters {
    started: Option<oneshot::Sender<StartResult>>,
    exited: Option<oneshot::Sender<ExitStatus>>,
}

/// A launcher the init holds, known to it by `id`, and the run cgroup it
/// waits in: a run that takes it names the id, so the init starts the
/// program in this launcher and no other.
#[derive(Debug)]
pub struct Launcher {
    pub id: u64,
    pub cgroup: Cgroup,
}

/// A live box.
#[derive(Debug)]
pub struct SandboxBox {
    /// Identity.
    pub id: BoxId,
    /// How it was made.
    pub spec: BoxSpec,
    /// The box's unprivileged uid (and gid).
    pub uid: u32,
    /// Box-wide cgroup (runs and the init leaf are children).
    pub cgroup: Cgroup,
    /// Control channel to the init.
    pub control: AsyncChannel,
    /// pidfd of the init: readable once it has exited.
    pub pidfd: AsyncFd<OwnedFd>,
    /// `O_PATH` descriptor of the workspace.
    pub workspace: Arc<OwnedFd>,
    waiters: Mutex<HashMap<u64, RunWaiters>>,
    next_run: AtomicU64,
    /// Its runs, its use, and whether it is being destroyed.
    pub activity: BoxActivity,
    /// The launcher the init holds pre-forked in a run cgroup, so a warm
    /// run pays for neither `mkdir` nor a cgroup migration.
    launcher: Mutex<Option<Launcher>>,
    /// An emptied run cgroup kept for the next launcher (see `run_tree`).
    reusable_run_cgroup: Mutex<Option<Cgroup>>,
    /// A launcher is being prepared.
    preparing_launcher: AtomicBool,
    /// Woken when a launcher preparation ends (stored or not).
    launcher_settled: tokio::sync::Notify,
    /// Given a permit each time a run's after-work is over (the ready
    /// pool's refill waits for a handed-out box's first).
    run_over: tokio::sync::Notify,
    /// The box cgroup's OOM-kill count when last looked at.
    box_oom_seen: AtomicU64,
    /// Held while a run cgroup is made and while the box tree is removed,
    /// so a launcher being prepared cannot add a child cgroup between the
    /// removal's listing of children and its `rmdir` of the box.
    tree_lock: Mutex<()>,
}

impl SandboxBox {
    /// Wraps a started box.
    pub fn new(
        id: BoxId,
        spec: BoxSpec,
        uid: u32,
        cgroup: Cgroup,
        control: AsyncChannel,
        pidfd: AsyncFd<OwnedFd>,
        workspace: OwnedFd,
    ) -> SandboxBox {
        SandboxBox {
            id,
            spec,
            uid,
            cgroup,
            control,
            pidfd,
            workspace: Arc::new(workspace),
            waiters: Mutex::new(HashMap::new()),
            next_run: AtomicU64::new(1),
            activity: BoxActivity::new(),
            launcher: Mutex::new(None),
            reusable_run_cgroup: Mutex::new(None),
            preparing_launcher: AtomicBool::new(false),
            launcher_settled: tokio::sync::Notify::new(),
            run_over: tokio::sync::Notify::new(),
            box_oom_seen: AtomicU64::new(0),
            tree_lock: Mutex::new(()),
        }
    }

    /// A fresh run id.
    pub fn next_run_id(&self) -> u64 {
        self.next_run.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a run before its request is sent.
    pub fn register_run(&self, run_id: u64) -> (oneshot::Receiver<StartResult>, oneshot::Receiver<ExitStatus>) {
        let (started_tx, started_rx) = oneshot::channel();
        let (exited_tx, exited_rx) = oneshot::channel();
        if let Ok(mut waiters) = self.waiters.lock() {
            waiters.insert(run_id, RunWaiters { started: Some(started_tx), exited: Some(exited_tx) });
        }
        self.activity.begin_run();
        (started_rx, exited_rx)
    }

    /// Marks a run as over.
    pub fn finish_run(&self, run_id: u64) {
        if let Ok(mut waiters) = self.waiters.lock() {
            waiters.remove(&run_id);
        }
        self.activity.finish_run();
    }

    /// Notes that a run and its after-work are over.
    pub fn run_is_over(&self) {
        self.run_over.notify_one();
    }

    /// Resolves once a run of this box is over (since the last call) or
    /// the box is being destroyed.
    pub async fn run_over_or_destroyed(&self) {
        let mut destroyed = self.activity.destroyed();
        if *destroyed.borrow_and_update() {
            return;
        }
        tokio::select! {
            () = self.run_over.notified() => {}
            _ = destroyed.changed() => {}
        }
    }

    /// Takes the prepared launcher, if there is one.
    pub fn take_launcher(&self) -> Option<Launcher> {
        self.launcher.lock().ok().and_then(|mut launcher| launcher.take())
    }

    /// Takes the prepared launcher, waiting up to `patience` for one being
    /// prepared. A run that comes right after another would otherwise
    /// take the slow path (a cgroup migration, which on cgroup v1 waits
    /// for an RCU grace period) while the launcher preparation pays that
    /// same wait in the background; the rest of that wait is never longer.
    pub async fn take_launcher_waiting(&self, patience: Duration) -> Option<Launcher> {
        self.launcher_ready_within(patience).await;
        self.take_launcher()
    }

    /// Whether a launcher is ready, waiting up to `patience` for one being
    /// prepared.
    pub async fn launcher_ready_within(&self, patience: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let settled = self.launcher_settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            if self.has_launcher() {
                return true;
            }
            if !self.preparing_launcher.load(Ordering::Acquire) {
                return false;
            }
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                return self.has_launcher();
            }
        }
    }

    fn has_launcher(&self) -> bool {
        self.launcher.lock().map(|l| l.is_some()).unwrap_or(false)
    }

    /// Keeps an emptied run cgroup for the next launcher (blocking); false
    /// when the box is being destroyed or already keeps one.
    pub fn keep_for_reuse(&self, cgroup: Cgroup) -> bool {
        let Ok(_tree) = self.tree_lock.lock() else { return false };
        !self.activity.is_destroyed() && crate::slot::fill_empty_slot(&self.reusable_run_cgroup, cgroup)
    }

    /// A run cgroup for the next launcher, with the launcher's limits: a
    /// kept one (a run gives its cgroup back only if it kept those limits,
    /// see `run_tree`), else a new one with the limits written (blocking).
    fn next_run_cgroup(&self) -> Result<Cgroup, SandboxError> {
        if let Some(kept) = self.take_kept_run_cgroup() {
            return Ok(kept);
        }
        let cgroup = self.make_run_cgroup()?;
        let limits = bytesbox_supervisor::run_cgroup_limits(&RunLimits::default(), &self.spec);
        match cgroup.apply(&limits) {
            Ok(()) => Ok(cgroup),
            Err(e) => {
                let _ = cgroup.remove();
                Err(SandboxError::Internal(format!("launcher limits: {e}")))
            }
        }
    }

    /// The emptied run cgroup kept for reuse, if any: it has the
    /// launcher's limits.
    pub fn take_kept_run_cgroup(&self) -> Option<Cgroup> {
        self.reusable_run_cgroup.lock().ok().and_then(|mut kept| kept.take())
    }

    /// Makes a new, empty run cgroup (blocking).
    pub fn make_run_cgroup(&self) -> Result<Cgroup, SandboxError> {
        let _tree = self.tree_lock.lock().map_err(|_| SandboxError::Internal("box tree lock poisoned".into()))?;
        if self.activity.is_destroyed() {
            return Err(SandboxError::BoxGone(self.id.to_string()));
        }
        let name = format!("r{}", self.next_run_id());
        self.cgroup.child(&name).map_err(|e| SandboxError::Internal(format!("run cgroup: {e}")))
    }

    /// Prepares a launcher for the next run if there is none: a run cgroup
    /// with default limits, and a process the init forks into it now.
    pub async fn prepare_launcher(self: Arc<Self>) {
        if self.activity.is_destroyed() || self.preparing_launcher.swap(true, Ordering::AcqRel) {
            return;
        }
        let has_launcher = self.launcher.lock().map(|l| l.is_some()).unwrap_or(true);
        if !has_launcher {
            let this = self.clone();
            let prepared = tokio::task::spawn_blocking(move || -> Result<(Cgroup, Vec<OwnedFd>), SandboxError> {
                let cgroup = this.next_run_cgroup()?;
                match crate::cgroup_procs::open_procs(&cgroup) {
                    Ok(procs) => Ok((cgroup, procs)),
                    Err(e) => {
                        let _ = cgroup.remove();
                        Err(e)
                    }
                }
            })
            .await;
            if let Ok(Ok((cgroup, procs))) = prepared {
                let raw: Vec<_> = procs.iter().map(|fd| fd.as_raw_fd()).collect();
                let id = self.next_run_id();
                let sent = !self.activity.is_destroyed()
                    && self.control.send(&InitRequest::PrepareLauncher { launcher: id }, &raw).await.is_ok();
                let stored =
                    sent && crate::slot::fill_empty_slot(&self.launcher, Launcher { id, cgroup: cgroup.clone() });
                if !stored {
                    bytesbox_supervisor::discard_cgroup(cgroup).await;
                }
            }
        }
        self.preparing_launcher.store(false, Ordering::Release);
        self.launcher_settled.notify_waiters();
    }

    /// Gives up the prepared launcher if the box has had no run for
    /// `after` (a blocking call): its process costs memory that an idle box
    /// does not need. The next run takes the slower path (a fork in the box)
    /// and its launcher is prepared once it is over.
    ///
    /// The launcher's emptied cgroup is kept for that run unless the box
    /// keeps one already: removing a memory cgroup walks a list of every
    /// superblock on the host under the kernel's global cgroup lock, and
    /// making one grows a map by them, so with thousands of live boxes a
    /// cgroup removed at each release and made at each slow run made every
    /// run wait on the others' (`docs/performance.md`, "Live boxes"). An
    /// idle box keeps one empty run cgroup instead.
    pub fn release_idle_launcher(&self, after: Duration) -> bool {
        if !self.activity.idle_for_at_least(after) {
            return false;
        }
        let Some(Launcher { cgroup, .. }) = self.take_launcher() else { return false };
        let _ = cgroup.kill_all(Duration::from_secs(5));
        if !crate::run_tree::keep_for_next_run(self, &cgroup) {
            let _ = cgroup.remove();
        }
        true
    }

    /// Whether the box-wide memory limit killed something since the last
    /// look.
    pub fn saw_new_box_oom(&self) -> bool {
        let now = self.cgroup.stats().map(|s| s.oom_kills).unwrap_or(0);
        now > self.box_oom_seen.swap(now, Ordering::AcqRel)
    }

    /// Idle for longer than its TTL, with no run in flight.
    pub fn is_idle_expired(&self) -> bool {
        self.activity.idle_for_at_least(self.spec.idle_ttl)
    }

    /// A listing entry.
    pub fn info(&self) -> BoxInfo {
        let memory_bytes = self.cgroup.memory_current_bytes().ok();
        self.activity.info(self.id.clone(), self.spec.labels.clone(), memory_bytes)
    }

    /// Delivers init events to run waiters until the init goes away. When
    /// it does, every waiter's sender is dropped, which their receivers
    /// see as the box dying.
    pub async fn pump_events(self: Arc<Self>) {
        let mut buffer = vec![0u8; EVENT_BUFFER];
        loop {
            let event = match self.control.recv::<InitEvent>(&mut buffer).await {
                Ok(Some((event, fds))) => (event, fds),
                Ok(None) | Err(_) => break,
            };
            let Ok(mut waiters) = self.waiters.lock() else {
                break;
            };
            match event {
                (InitEvent::RunStarted { run_id, pid }, fds) => {
                    if let Some(tx) = waiters.get_mut(&run_id).and_then(|w| w.started.take()) {
                        let _ = tx.send(Ok((pid, fds)));
                    }
                }
                (InitEvent::RunFailed { run_id, error }, _) => {
                    if let Some(tx) = waiters.get_mut(&run_id).and_then(|w| w.started.take()) {
                        let _ = tx.send(Err(error));
                    }
                }
                (InitEvent::RunExited { run_id, code, signal }, _) => {
                    if let Some(tx) = waiters.get_mut(&run_id).and_then(|w| w.exited.take()) {
                        let _ = tx.send((code, signal));
                    }
                }
                (InitEvent::Ready | InitEvent::SetupFailed { .. }, _) => {}
            }
        }
        if let Ok(mut waiters) = self.waiters.lock() {
            waiters.clear();
        }
    }

    /// Removes every cgroup of the box (blocking): runs, spare, init, box.
    pub fn remove_cgroups(&self) {
        // The box is already marked destroyed, so once this lock is held no
        // new run cgroup can appear under it.
        let _tree = self.tree_lock.lock();
        if let Ok(mut launcher) = self.launcher.lock() {
            launcher.take();
        }
        if let Ok(mut kept) = self.reusable_run_cgroup.lock() {
            kept.take();
        }
        let _ = self.cgroup.kill_all(Duration::from_secs(5));
        crate::reaper::remove_tree(self.cgroup.layout(), &self.cgroup, 0);
    }
}
