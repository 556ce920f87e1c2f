//! Making a box: a spare's cgroups or new ones, the box limits, the
//! jailer's start of the box init, and the init's first word (its
//! workspace descriptor, or why set-up failed).

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytesbox_cgroups::{Cgroup, CgroupLimits, CpuWeight};
use bytesbox_jail::mounts::{plan_rootfs, RealHost, RootSource, RootfsParams};
use bytesbox_jail::protocol::{BoxSetup, InitEvent};
use bytesbox_sandbox::{BoxId, BoxSpec, RootfsSpec, SandboxError};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::destroy::destroy;
use crate::ipc::{AsyncChannel, EVENT_BUFFER};
use crate::making::{init_procs, new_box_cgroup, Making};
use crate::sandbox_box::SandboxBox;
use crate::spare::prepare_spare_box;
use crate::state::BackendState;
use crate::{pidfd, reaper};

/// How long a box may take to build itself.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A started box: the init's pid, its control channel, its pidfd and the
/// workspace descriptor.
type StartedBox = (i32, AsyncChannel, AsyncFd<OwnedFd>, OwnedFd);

/// `Backend::create`: makes a box on a detached task (a box made for a
/// caller that is gone is destroyed) and notes the outcome in the health
/// record.
pub(crate) async fn create(state: &Arc<BackendState>, spec: BoxSpec, made_for: MadeFor) -> Result<BoxId, SandboxError> {
    if state.shutting_down.load(Ordering::Acquire) {
        return Err(SandboxError::ShuttingDown);
    }
    spec.validate()?;
    let (making, undoing) = (state.clone(), state.clone());
    let made = state
        .detached
        .run(async move { create_box(&making, spec, made_for).await }, move |id| async move {
            let _ = destroy(&undoing, &id).await;
        })
        .await;
    state.health.record(&made);
    made
}

/// Who a box is made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MadeFor {
    /// A caller waiting for it: the default CPU weight.
    Caller,
    /// The ready pool: an eighth of the CPU weight until it is handed out,
    /// and a ready box from the moment it is in the box table, so it is
    /// never counted or listed as live.
    Pool,
}

async fn create_box(state: &Arc<BackendState>, spec: BoxSpec, made_for: MadeFor) -> Result<BoxId, SandboxError> {
    let source = root_source(state, &spec)?;
    let uid = state.uids.take()?;
    let (making, cgroup, spare_name) = match Making::take_spare(state) {
        Some((making, spare)) => {
            let name = spare.id.0.clone();
            (making, spare.cgroup, Some(name))
        }
        None => match new_box_cgroup(state) {
            Ok((making, cgroup)) => (making, cgroup, None),
            Err(e) => {
                state.uids.give_back(uid);
                return Err(e);
            }
        },
    };
    let id = making.id.clone();
    let weight = match made_for {
        MadeFor::Caller => CpuWeight::Normal,
        MadeFor::Pool => CpuWeight::Background,
    };
    let result = match cgroup.set_cpu_weight(weight) {
        Ok(()) => start_box(state, &id, &spec, source, uid, &cgroup, spare_name).await,
        Err(e) => Err(SandboxError::Internal(format!("box CPU weight: {e}"))),
    };
    tokio::spawn(prepare_spare_box(state.clone()));
    match result {
        Ok((init_pid, control, pidfd, workspace)) => {
            tracing::debug!(box_id = %id, init_pid, uid, "box started");
            let sandbox = Arc::new(SandboxBox::new(id.clone(), spec, uid, cgroup, control, pidfd, workspace));
            tokio::spawn(sandbox.clone().pump_events());
            tokio::spawn(sandbox.clone().prepare_launcher());
            if made_for == MadeFor::Pool {
                state.ready.readying(&id);
            }
            making.into_box(sandbox)?;
            Ok(id)
        }
        Err(e) => {
            reaper::remove_tree(&state.layout, &cgroup, 0);
            state.uids.give_back(uid);
            drop(making);
            Err(e)
        }
    }
}

fn root_source(state: &BackendState, spec: &BoxSpec) -> Result<RootSource, SandboxError> {
    match &spec.rootfs {
        RootfsSpec::Host => Ok(RootSource::Host { etc_allow: state.config.etc_allow.clone() }),
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

async fn start_box(
    state: &BackendState,
    id: &BoxId,
    spec: &BoxSpec,
    source: RootSource,
    uid: u32,
    cgroup: &Cgroup,
    spare: Option<String>,
) -> Result<StartedBox, SandboxError> {
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
        new_root: state.new_root.to_string_lossy().into_owned(),
        workspace_dir: spec.workspace_dir.clone(),
        mounts: plan_rootfs(&params, &RealHost),
    };
    let started = match spare {
        Some(name) => match state.jailer.create_box(setup.clone(), Some(name), Vec::new()).await {
            // The spare died; start the box the slow way.
            Err(SandboxError::BoxGone(_)) => state.jailer.create_box(setup, None, init_procs(state, cgroup)?).await?,
            other => other?,
        },
        None => state.jailer.create_box(setup, None, init_procs(state, cgroup)?).await?,
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
    pidfd::kill(pidfd.get_ref());
    Err(SandboxError::Unavailable(failure))
}
