//! Starting a run in a live box: through the launcher the box init holds
//! ready in the run's cgroup, or the slow way (a fresh cgroup joined at
//! fork); then the run request, the init's answer, and the supervisor.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytesbox_cgroups::Cgroup;
use bytesbox_jail::protocol::{InitRequest, RunRequest, RunRlimits, LAUNCHER_GONE};
use bytesbox_sandbox::{RunHandle, RunLimits, RunSpec, SandboxError, StdioMode};
use bytesbox_supervisor::{discard_cgroup, launcher_cgroup_limits, run_cgroup_limits, ExitStatus};
use tokio::sync::oneshot;

use crate::cgroup_procs::open_procs;
use crate::run::{supervise, RunStart};
use crate::sandbox_box::{Launcher, SandboxBox};

/// How long the init may take to report a started program.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a run waits for a launcher that is being prepared before it
/// takes the slow path itself (which costs about as much).
const LAUNCHER_PATIENCE: Duration = Duration::from_millis(50);

/// Starts a run in `sandbox` and hands it to the supervisor.
pub(crate) async fn start_run(sandbox: Arc<SandboxBox>, spec: RunSpec) -> Result<RunHandle, SandboxError> {
    let limits = run_cgroup_limits(&spec.limits, &sandbox.spec);
    // A run with the launcher's limits leaves a cgroup the next launcher
    // can use (see `run_tree`).
    let keeps_launcher_limits = limits == run_cgroup_limits(&RunLimits::default(), &sandbox.spec);
    let last_in_box = spec.last_in_box;
    let reusable = keeps_launcher_limits && !last_in_box;
    // Set when the run takes the slow path (below).
    let mut launcher_after = false;
    let attempt = match sandbox.take_launcher_waiting(LAUNCHER_PATIENCE).await {
        Some(Launcher { id, cgroup }) => {
            let applied = if keeps_launcher_limits {
                Ok(())
            } else {
                cgroup.apply(&launcher_cgroup_limits(&spec.limits, &sandbox.spec))
            };
            match applied {
                Ok(()) => launch(&sandbox, &spec, cgroup, Some(id), Vec::new()).await,
                Err(e) => Err((SandboxError::Internal(format!("run limits: {e}")), Some(cgroup))),
            }
        }
        None => Err((SandboxError::BoxGone(LAUNCHER_GONE.into()), None)),
    };
    let launched = match attempt {
        Ok(launched) => Ok(launched),
        // No launcher, or it died: fork and join the cgroups now.
        Err((SandboxError::BoxGone(reason), stale)) if reason == LAUNCHER_GONE => {
            if let Some(stale) = stale {
                discard_cgroup(stale).await;
            }
            // The box was idle (its launcher released) or its launcher
            // died: the cgroup it kept, if the run may use it, and the next
            // launcher once the run is over, in the run's cgroup, rather
            // than a new cgroup now (`run_tree`).
            launcher_after = reusable;
            let kept = if keeps_launcher_limits { sandbox.take_kept_run_cgroup() } else { None };
            let cgroup = match kept {
                Some(kept) => kept,
                None => sandbox.make_run_cgroup()?,
            };
            let procs = cgroup
                .apply(&limits)
                .map_err(|e| SandboxError::Internal(format!("run limits: {e}")))
                .and_then(|()| open_procs(&cgroup));
            match procs {
                Ok(procs) => launch(&sandbox, &spec, cgroup, None, procs).await,
                Err(e) => Err((e, Some(cgroup))),
            }
        }
        Err(other) => Err(other),
    };
    // The launcher for the next run, unless none will come or it is
    // prepared once this run is over.
    if !last_in_box && (!launcher_after || launched.is_err()) {
        tokio::spawn(sandbox.clone().prepare_launcher());
    }
    let (run_id, cgroup, fds, exited_rx, started_at) = match launched {
        Ok(launched) => launched,
        Err((e, stale)) => {
            if let Some(stale) = stale {
                discard_cgroup(stale).await;
            }
            return Err(e);
        }
    };
    let (events, control) = supervise(RunStart {
        run_id,
        sandbox,
        cgroup,
        reusable,
        launcher_after,
        last_in_box,
        limits: spec.limits,
        pty: matches!(spec.stdio, StdioMode::Pty { .. }),
        fds,
        exited: exited_rx,
        started_at,
        initial_stdin: spec.stdin,
        close_stdin: spec.close_stdin,
    })?;
    Ok(RunHandle::new(events, control))
}

/// Sends one run request and waits for the init's answer.
async fn launch(
    sandbox: &Arc<SandboxBox>,
    spec: &RunSpec,
    cgroup: Cgroup,
    launcher: Option<u64>,
    procs: Vec<OwnedFd>,
) -> Result<Launched, (SandboxError, Option<Cgroup>)> {
    let run_id = sandbox.next_run_id();
    let limits = &spec.limits;
    let request = InitRequest::Run(RunRequest {
        run_id,
        argv: spec.argv.clone(),
        env: bytesbox_sandbox::run_env(spec),
        cwd: if spec.cwd.is_empty() { sandbox.spec.workspace_dir.clone() } else { spec.cwd.clone() },
        pty: match spec.stdio {
            StdioMode::Pty { rows, cols, .. } => Some((rows, cols)),
            StdioMode::Pipes => None,
        },
        stderr_apart: matches!(spec.stdio, StdioMode::Pty { stderr_apart: true, .. }),
        rlimits: RunRlimits {
            open_files: limits.open_files.into(),
            file_size_bytes: limits.file_size_bytes,
            stack_bytes: limits.stack_bytes,
            cpu_seconds: limits.cpu_time_ms.div_ceil(1000).max(1),
        },
        launcher,
    });
    let (started_rx, exited_rx) = sandbox.register_run(run_id);
    let started_at = Instant::now();
    let raw: Vec<_> = procs.iter().map(|fd| fd.as_raw_fd()).collect();
    if let Err(e) = sandbox.control.send(&request, &raw).await {
        sandbox.finish_run(run_id);
        let error = match e {
            bytesbox_jail::channel::ChannelError::TooLarge(n) => {
                SandboxError::InvalidSpec(format!("arguments and environment are too large ({n} bytes encoded)"))
            }
            _ => SandboxError::BoxGone(sandbox.id.to_string()),
        };
        return Err((error, Some(cgroup)));
    }
    drop(procs);
    let started = match tokio::time::timeout(START_TIMEOUT, started_rx).await {
        Ok(Ok(Ok(started))) => Ok(started),
        Ok(Ok(Err(message))) if message == LAUNCHER_GONE => Err(SandboxError::BoxGone(message)),
        Ok(Ok(Err(message))) => Err(SandboxError::SpawnFailed(message)),
        Ok(Err(_)) => Err(SandboxError::BoxGone(sandbox.id.to_string())),
        Err(_) => Err(SandboxError::SpawnFailed("the box did not start the program within 10 s".into())),
    };
    match started {
        Ok((_pid, fds)) => Ok((run_id, cgroup, fds, exited_rx, started_at)),
        Err(e) => {
            sandbox.finish_run(run_id);
            Err((e, Some(cgroup)))
        }
    }
}

/// What `launch` returns: run id, its cgroup, stdio, the exit waiter and
/// the start time.
type Launched = (u64, Cgroup, Vec<OwnedFd>, oneshot::Receiver<ExitStatus>, Instant);
