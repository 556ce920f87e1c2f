//! Starting a run: one exec in the box's container, in its own cgroup
//! below the container's.
//!
//! The exec starts a tiny shell that sets the run's rlimits and stops
//! itself (SIGSTOP) before `exec`ing the program. While it is stopped, the
//! backend looks up its host pid, moves it into the run's cgroup, opens a
//! pidfd on it and continues it. So everything the program ever forks,
//! double-forked and `setsid` escapees included, is in that cgroup: the
//! run's memory, pids and CPU limits apply to it alone, its CPU time and
//! peak memory are read from it, an OOM kill in it is seen, and Stop,
//! timeouts and the end of the main process kill the whole tree. A
//! container that stopped while the box was idle is replaced, once.
//!
//! Under a terminal with stderr apart, the engine's exec has one stream
//! (a TTY merges stdout and stderr), so the wrapper makes a FIFO of a
//! random name in the container's `/tmp` and opens it read-write as its
//! stderr (which never blocks) before it stops; the backend, while it is
//! stopped, opens the FIFO's read end from the host through
//! `/proc/<pid>/root/tmp` (no link followed, a FIFO of the box's uid or
//! nothing), unlinks it and reads it as the run's stderr. It ends when
//! the last process of the run that holds it closes it.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::ResizeExecOptions;
use bollard::Docker;
use bytesbox_cgroups::Cgroup;
use bytesbox_sandbox::StdioMode;
use bytesbox_sandbox::{RunHandle, RunSpec, SandboxError};
use bytesbox_supervisor::{discard_cgroup, run_cgroup_limits, READ_CHUNK};
use tokio::io::unix::AsyncFd;

use crate::daemon::api_error;
use crate::live::{box_container_running, live_container};
use crate::run::{supervise, StartedExec};
use crate::sandbox_box::DockerBox;
use crate::state::BackendState;

/// How long the exec may take to appear and stop itself.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Starts a run (on a detached task: see `Backend::run`).
pub(crate) async fn start_run_in(
    state: &BackendState,
    bx: Arc<DockerBox>,
    spec: RunSpec,
) -> Result<RunHandle, SandboxError> {
    let run_id = bx.begin_run();
    let mut started = start_run(state, &bx, run_id, spec.clone()).await;
    // A container that stopped while the box was idle (an engine
    // restart stops them all) fails the exec: the run gets a fresh
    // container, once. Only this failure path pays for the inspect.
    if started.is_err() && !bx.activity.is_destroyed() && !box_container_running(state, &bx).await {
        bx.mark_broken();
        started = start_run(state, &bx, run_id, spec).await;
    }
    if started.is_err() {
        bx.activity.finish_run();
    }
    started
}

/// Starts one run in the box's container (replacing a broken one first).
async fn start_run(
    state: &BackendState,
    bx: &Arc<DockerBox>,
    run_id: u64,
    spec: RunSpec,
) -> Result<RunHandle, SandboxError> {
    let live = live_container(state, bx).await?;
    start(RunStart {
        docker: state.docker.clone(),
        sandbox: bx.clone(),
        container: live.id,
        container_cgroup: live.cgroup,
        run_id,
        spec,
    })
    .await
}

/// The shell every exec starts: rlimits, stderr onto the FIFO named
/// `stderr_fifo` in `/tmp` when there is one, stop until the backend has
/// moved it into the run's cgroup, then become the program. `ulimit`
/// failures (a value above the container's hard limit) keep the
/// container's limit.
fn wrapper_script(spec: &RunSpec, stderr_fifo: Option<&str>) -> String {
    let limits = &spec.limits;
    // The name is ours (hex), so it needs no quoting.
    let stderr_apart = stderr_fifo
        .map(|name| {
            format!(
                "mkfifo -m 600 /tmp/{name} && exec 2<>/tmp/{name} || \
                 {{ echo 'bytesbox: could not make the pipe for stderr in /tmp (is /tmp full?)' >&2; exit 125; }}; "
            )
        })
        .unwrap_or_default();
    format!(
        "ulimit -n {} 2>/dev/null; ulimit -s {} 2>/dev/null; ulimit -f {} 2>/dev/null; ulimit -c 0 2>/dev/null; \
         {stderr_apart}kill -STOP $$; exec \"$@\"",
        limits.open_files,
        (limits.stack_bytes / 1024).max(64),
        // dash counts file sizes in 512-byte blocks.
        limits.file_size_bytes.div_ceil(512).max(1),
    )
}

/// A FIFO name no program in the box can guess.
fn stderr_fifo_name() -> String {
    format!(".bytesbox-stderr-{}", uuid::Uuid::new_v4().simple())
}

/// Opens the read end of the wrapper's stderr FIFO `/tmp/<name>` in the
/// container of (stopped) host process `pid`, then unlinks it. Nothing on
/// the way is a link a box user made (`/proc/<pid>/root` is the
/// container's root, whose `tmp` only root can replace; the FIFO is opened
/// `O_NOFOLLOW`), and only a FIFO of the box's uid is taken.
fn open_stderr_fifo(pid: i32, name: &str, uid: u32) -> Result<OwnedFd, SandboxError> {
    use rustix::fs::{fstat, openat2, unlinkat, AtFlags, FileType, Mode, OFlags, ResolveFlags};
    let failed =
        |what: &str, e: rustix::io::Errno| SandboxError::SpawnFailed(format!("the run's stderr pipe: {what}: {e}"));
    let tmp = rustix::fs::open(
        format!("/proc/{pid}/root/tmp"),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failed("the container's /tmp", e))?;
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    let fifo = openat2(
        &tmp,
        name,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    )
    .map_err(|e| failed("opening", e))?;
    let _ = unlinkat(&tmp, name, AtFlags::empty());
    let stat = fstat(&fifo).map_err(|e| failed("fstat", e))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Fifo || stat.st_uid != uid {
        return Err(SandboxError::SpawnFailed("the run's stderr pipe is not the FIFO the run made".into()));
    }
    Ok(fifo)
}

/// Everything needed to start a run.
struct RunStart {
    /// The engine.
    docker: Docker,
    /// The box.
    sandbox: Arc<DockerBox>,
    /// The box's live container.
    container: String,
    /// The container's cgroup; the run's goes below it.
    container_cgroup: Cgroup,
    /// Run id within the box.
    run_id: u64,
    /// The request.
    spec: RunSpec,
}

/// Starts a run and its supervisor.
async fn start(start: RunStart) -> Result<RunHandle, SandboxError> {
    let RunStart { docker, sandbox, container, container_cgroup, run_id, spec } = start;
    let cgroup_limits = run_cgroup_limits(&spec.limits, &sandbox.spec);
    let name = format!("run{run_id}");
    let cgroup = tokio::task::spawn_blocking(move || {
        let cgroup = container_cgroup.child(&name)?;
        if let Err(e) = cgroup.apply(&cgroup_limits) {
            let _ = cgroup.remove();
            return Err(e);
        }
        Ok(cgroup)
    })
    .await
    .map_err(|e| SandboxError::Internal(format!("run cgroup: {e}")))?
    .map_err(|e| SandboxError::Internal(format!("the run's cgroup could not be made: {e}")))?;
    match launch(&docker, &sandbox, &container, &cgroup, spec).await {
        Ok(handle) => Ok(handle),
        Err(e) => {
            discard_cgroup(cgroup).await;
            Err(e)
        }
    }
}

async fn launch(
    docker: &Docker,
    sandbox: &Arc<DockerBox>,
    container: &str,
    cgroup: &Cgroup,
    spec: RunSpec,
) -> Result<RunHandle, SandboxError> {
    let pty = match spec.stdio {
        bytesbox_sandbox::StdioMode::Pty { rows, cols, .. } => Some((rows, cols)),
        bytesbox_sandbox::StdioMode::Pipes => None,
    };
    let workspace = sandbox.spec.workspace_dir.clone();
    let stderr_fifo = matches!(spec.stdio, StdioMode::Pty { stderr_apart: true, .. }).then(stderr_fifo_name);
    let script = wrapper_script(&spec, stderr_fifo.as_deref());
    let mut cmd = vec!["/bin/sh".to_string(), "-c".to_string(), script, "bytesbox-run".to_string()];
    cmd.extend(spec.argv.iter().cloned());
    let config = ExecConfig {
        cmd: Some(cmd),
        env: Some(bytesbox_sandbox::run_env(&spec)),
        user: Some(sandbox.user()),
        working_dir: Some(if spec.cwd.is_empty() { workspace.clone() } else { spec.cwd.clone() }),
        tty: Some(pty.is_some()),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..ExecConfig::default()
    };
    let exec = docker.create_exec(container, config).await.map_err(|e| {
        sandbox.mark_broken();
        api_error("creating the run", e)
    })?;
    let options = StartExecOptions { detach: false, tty: pty.is_some(), output_capacity: Some(READ_CHUNK) };
    let started_at = Instant::now();
    let StartExecResults::Attached { output, input } =
        docker.start_exec(&exec.id, Some(options)).await.map_err(|e| {
            sandbox.mark_broken();
            api_error("starting the run", e)
        })?
    else {
        return Err(SandboxError::Internal("the engine detached a run it was asked to attach".into()));
    };
    let pid = tokio::time::timeout(START_TIMEOUT, stopped_pid(docker, &exec.id))
        .await
        .map_err(|_| SandboxError::SpawnFailed("the run did not start within 20 s".into()))??;
    // The wrapper is stopped: nothing of the run can fork before it is in
    // its cgroup. A pidfd taken now cannot refer to a reused pid.
    // The terminal gets its size before the program can ask for it.
    if let Some((rows, cols)) = pty {
        let _ = docker.resize_exec(&exec.id, ResizeExecOptions { h: rows.into(), w: cols.into() }).await;
    }
    let mut stderr = None;
    let pidfd = match pid {
        Some(pid) => {
            let fd = pidfd(pid)?;
            cgroup.add_pid(pid).map_err(|e| SandboxError::Internal(format!("joining the run's cgroup: {e}")))?;
            if let Some(name) = &stderr_fifo {
                // The stopped wrapper is in the run's cgroup already: on an
                // error here the caller's discard of that cgroup kills it.
                let fifo = open_stderr_fifo(pid, name, sandbox.uid)?;
                let fifo = register_readable(fifo)
                    .map_err(|e| SandboxError::Internal(format!("the run's stderr pipe: {e}")))?;
                stderr = Some(fifo);
            }
            // SAFETY: kill(2) with a pid we hold a pidfd for; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            Some(fd)
        }
        None => None,
    };
    Ok(supervise(StartedExec {
        docker: docker.clone(),
        exec_id: exec.id,
        pty: pty.is_some(),
        input,
        output,
        pidfd,
        stderr,
        sandbox: sandbox.clone(),
        cgroup: cgroup.clone(),
        spec,
        started_at,
    }))
}

/// Polls the exec until the engine reports its host pid and the wrapper
/// has stopped itself. `None` when it already exited (a failed `ulimit`
/// is not fatal, but a wrapper killed from outside is).
async fn stopped_pid(docker: &Docker, exec_id: &str) -> Result<Option<i32>, SandboxError> {
    let mut delay = Duration::from_micros(200);
    loop {
        let inspect = docker.inspect_exec(exec_id).await.map_err(|e| api_error("inspecting the run", e))?;
        let pid = inspect.pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 0);
        if let Some(pid) = pid {
            loop {
                match process_state(pid) {
                    Some('T') | Some('t') => return Ok(Some(pid)),
                    None | Some('Z') | Some('X') => return Ok(None),
                    Some(_) => tokio::time::sleep(Duration::from_micros(200)).await,
                }
            }
        }
        if inspect.running == Some(false) && inspect.exit_code.is_some() {
            return Ok(None);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(5));
    }
}

/// The state letter of a host process, from `/proc/<pid>/stat`.
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.trim_start().chars().next()
}

fn pidfd(pid: i32) -> Result<AsyncFd<OwnedFd>, SandboxError> {
    let pid =
        rustix::process::Pid::from_raw(pid).ok_or_else(|| SandboxError::Internal(format!("invalid run pid {pid}")))?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| SandboxError::Internal(format!("pidfd_open: {e}")))?;
    register_readable(fd).map_err(|e| SandboxError::Internal(format!("pidfd: {e}")))
}

/// A descriptor the reactor wakes us for when it is readable.
fn register_readable(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the raw fd
    // stays open and refers to the same file until the AsyncFd is dropped.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.map_err(|e| e.into_parts().1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_sets_rlimits_and_stops_before_exec() {
        let spec = RunSpec::command(["true"]);
        let script = wrapper_script(&spec, None);
        assert!(script.contains("ulimit -n 256 "), "{script}");
        assert!(script.contains("ulimit -f 131072 "), "64 MiB in 512-byte blocks: {script}");
        assert!(script.ends_with("kill -STOP $$; exec \"$@\""), "{script}");
        assert!(!script.contains("mkfifo"), "stderr stays where the engine puts it: {script}");
    }

    #[test]
    fn with_stderr_apart_the_wrapper_opens_its_fifo_before_it_stops() {
        let name = stderr_fifo_name();
        assert!(name.starts_with(".bytesbox-stderr-") && name.len() == 17 + 32, "{name}");
        assert_ne!(name, stderr_fifo_name(), "a fresh name per run");
        let script = wrapper_script(&RunSpec::command(["true"]), Some(&name));
        let fifo = format!("mkfifo -m 600 /tmp/{name} && exec 2<>/tmp/{name} || ");
        let (before, after) = script.split_once(&fifo).expect("the FIFO is made and opened");
        assert!(before.contains("ulimit -n") && after.contains("kill -STOP $$"), "{script}");
    }
}
