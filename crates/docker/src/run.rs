//! A run: one exec in the box's container, in its own cgroup below the
//! container's.
//!
//! The exec starts a tiny shell that sets the run's rlimits and stops
//! itself (SIGSTOP) before `exec`ing the program. While it is stopped, the
//! backend looks up its host pid, moves it into the run's cgroup, opens a
//! pidfd on it and continues it. So everything the program ever forks,
//! double-forked and `setsid` escapees included, is in that cgroup: the
//! run's memory, pids and CPU limits apply to it alone, its CPU time and
//! peak memory are read from it, an OOM kill in it is seen, and Stop,
//! timeouts and the end of the main process kill the whole tree.
//!
//! The shared supervisor (`bytesbox_supervisor`) watches the run; this
//! backend tells it when the main process exited (pidfd), when the engine
//! connection broke (the run is lost), and reads the exit code from the
//! engine.

use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::ResizeExecOptions;
use bollard::Docker;
use bytes::Bytes;
use bytesbox_cgroups::Cgroup;
use bytesbox_sandbox::{RunControl, RunHandle, RunSpec, SandboxError, Signal, Stream};
use bytesbox_supervisor::{
    discard_cgroup, run_cgroup_limits, Delivery, ExitStatus, Exited, RunOutput, RunProcess, RunSwitch, Supervision,
    Watched, READ_CHUNK,
};
use futures_util::{Stream as FuturesStream, StreamExt};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, Mutex};

use crate::daemon::api_error;
use crate::sandbox_box::DockerBox;

/// How long the exec may take to appear and stop itself.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// What a run's stderr gets when the engine went away under it.
const DAEMON_GONE_NOTICE: &[u8] =
    b"\nbytesbox: the Docker engine went away during this run; the next run gets a fresh container\n";

type Input = Pin<Box<dyn AsyncWrite + Send>>;
type Output = Pin<Box<dyn FuturesStream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// The shell every exec starts: rlimits, stop until the backend has moved
/// it into the run's cgroup, then become the program. `ulimit` failures
/// (a value above the container's hard limit) keep the container's limit.
fn wrapper_script(spec: &RunSpec) -> String {
    let limits = &spec.limits;
    format!(
        "ulimit -n {} 2>/dev/null; ulimit -s {} 2>/dev/null; ulimit -f {} 2>/dev/null; ulimit -c 0 2>/dev/null; \
         kill -STOP $$; exec \"$@\"",
        limits.open_files,
        (limits.stack_bytes / 1024).max(64),
        // dash counts file sizes in 512-byte blocks.
        limits.file_size_bytes.div_ceil(512).max(1),
    )
}

/// Everything needed to start a run.
pub struct RunStart {
    /// The engine.
    pub docker: Docker,
    /// The box.
    pub sandbox: Arc<DockerBox>,
    /// The box's live container.
    pub container: String,
    /// The container's cgroup; the run's goes below it.
    pub container_cgroup: Cgroup,
    /// Run id within the box.
    pub run_id: u64,
    /// The request.
    pub spec: RunSpec,
}

/// Starts a run and its supervisor.
pub async fn start(start: RunStart) -> Result<RunHandle, SandboxError> {
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
    match launch(&docker, &sandbox, &container, &cgroup, run_id, spec).await {
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
    run_id: u64,
    spec: RunSpec,
) -> Result<RunHandle, SandboxError> {
    let pty = match spec.stdio {
        bytesbox_sandbox::StdioMode::Pty { rows, cols } => Some((rows, cols)),
        bytesbox_sandbox::StdioMode::Pipes => None,
    };
    let workspace = sandbox.spec.workspace_dir.clone();
    let mut cmd = vec!["/bin/sh".to_string(), "-c".to_string(), wrapper_script(&spec), "bytesbox-run".to_string()];
    cmd.extend(spec.argv.iter().cloned());
    let config = ExecConfig {
        cmd: Some(cmd),
        env: Some(bytesbox_sandbox::run_env(&spec)),
        user: Some(sandbox.user.clone()),
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
    let pidfd = match pid {
        Some(pid) => {
            let fd = pidfd(pid)?;
            cgroup.add_pid(pid).map_err(|e| SandboxError::Internal(format!("joining the run's cgroup: {e}")))?;
            // SAFETY: kill(2) with a pid we hold a pidfd for; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            Some(fd)
        }
        None => None,
    };
    let (supervision, switch, events) = Supervision::new(spec.limits.output_bytes);
    let control = Arc::new(DockerRunControl {
        docker: docker.clone(),
        exec_id: exec.id.clone(),
        pty: pty.is_some(),
        cgroup: cgroup.clone(),
        stdin: Mutex::new(Some(input)),
        switch,
    });
    bytesbox_sandbox::feed_initial_input(control.clone(), spec.stdin, spec.close_stdin);
    let (broke_tx, broke_rx) = oneshot::channel();
    let reader = tokio::spawn(read_output(output, supervision.output(), broke_tx));
    supervision.spawn(Watched {
        process: DockerProcess {
            docker: docker.clone(),
            exec_id: exec.id,
            sandbox: sandbox.clone(),
            run_id,
            pidfd,
            stream_broke: Some(broke_rx),
        },
        cgroup: cgroup.clone(),
        limits: spec.limits,
        started_at,
        destroyed: sandbox.destroyed(),
        readers: vec![reader],
        control: control.clone(),
    });
    Ok(RunHandle::new(events, control))
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
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the raw fd
    // stays open and refers to the same pidfd until the AsyncFd is dropped.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| SandboxError::Internal(format!("pidfd: {}", e.into_parts().1)))
}

/// Controls handed out with the run handle.
pub struct DockerRunControl {
    docker: Docker,
    exec_id: String,
    pty: bool,
    cgroup: Cgroup,
    stdin: Mutex<Option<Input>>,
    switch: RunSwitch,
}

impl std::fmt::Debug for DockerRunControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRunControl").field("exec_id", &self.exec_id).field("pty", &self.pty).finish()
    }
}

#[async_trait]
impl RunControl for DockerRunControl {
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
        self.switch.check_running()?;
        let mut sink = self.stdin.lock().await;
        let Some(input) = sink.as_mut() else {
            return Err(SandboxError::InvalidSpec("stdin is already closed".into()));
        };
        // A program that stopped reading (or exited) swallows the rest.
        if input.write_all(&data).await.is_ok() {
            let _ = input.flush().await;
        }
        Ok(())
    }

    async fn close_stdin(&self) -> Result<(), SandboxError> {
        self.switch.check_running()?;
        let mut sink = self.stdin.lock().await;
        if self.pty {
            // The terminal's end-of-file character, as Ctrl+D.
            if let Some(input) = sink.as_mut() {
                let _ = input.write_all(&[0x04]).await;
                let _ = input.flush().await;
            }
            return Ok(());
        }
        if let Some(mut input) = sink.take() {
            let _ = input.shutdown().await;
        }
        Ok(())
    }

    async fn resize(&self, rows: u16, cols: u16) -> Result<(), SandboxError> {
        self.switch.check_running()?;
        if !self.pty {
            return Err(SandboxError::InvalidSpec("this run has no terminal to resize".into()));
        }
        bytesbox_sandbox::validate_pty_size(rows, cols)?;
        self.docker
            .resize_exec(&self.exec_id, ResizeExecOptions { h: rows.into(), w: cols.into() })
            .await
            .map_err(|e| api_error("resizing the terminal", e))
    }

    async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        self.switch.check_running()?;
        if signal == Signal::Sigkill {
            return self.kill().await;
        }
        // Every process of the run: its cgroup is exactly the run's tree.
        let pids = self.cgroup.pids().map_err(|e| SandboxError::Internal(format!("signal: {e}")))?;
        for pid in pids {
            // SAFETY: kill(2) on pids read from the run's own cgroup.
            unsafe { libc::kill(pid, signal.number()) };
        }
        Ok(())
    }

    async fn kill(&self) -> Result<(), SandboxError> {
        self.switch.kill()
    }
}

/// Reads the exec's output until it ends; an engine error ends the stream
/// and is also sent on `broke` at once, so the run is known lost before
/// its processes are seen to exit.
async fn read_output(mut output: Output, run: Arc<RunOutput>, broke: oneshot::Sender<()>) -> Result<(), String> {
    // Per stream: the engine copies stdout and stderr separately, so one
    // stream's last frames may arrive after the other went over its cap.
    // The stream is read to its end either way, so the engine is not left
    // with a half-read exec.
    let mut consumer_gone = false;
    while let Some(item) = output.next().await {
        let (stream, data) = match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => (Stream::Stdout, message),
            Ok(LogOutput::StdErr { message }) => (Stream::Stderr, message),
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(e) => {
                let _ = broke.send(());
                return Err(e.to_string());
            }
        };
        if !consumer_gone && run.deliver(stream, data).await == Delivery::ConsumerGone {
            consumer_gone = true;
        }
    }
    Ok(())
}

/// The Docker side of a run, for the supervisor.
struct DockerProcess {
    docker: Docker,
    exec_id: String,
    sandbox: Arc<DockerBox>,
    run_id: u64,
    /// The wrapper's pidfd; `None` when it had exited before it was found.
    pidfd: Option<AsyncFd<OwnedFd>>,
    /// Fires when the engine's output stream broke; `None` once it ended.
    stream_broke: Option<oneshot::Receiver<()>>,
}

impl DockerProcess {
    /// The exec's exit code once the engine has seen the exit.
    async fn exit_code(&self) -> Option<i64> {
        for _ in 0..400 {
            match self.docker.inspect_exec(&self.exec_id).await {
                Ok(inspect) if inspect.running != Some(true) => return inspect.exit_code,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                Err(_) => return None,
            }
        }
        None
    }
}

#[async_trait]
impl RunProcess for DockerProcess {
    async fn exited(&mut self) -> Exited {
        loop {
            let exit = async {
                if let Some(fd) = &self.pidfd {
                    let _ = fd.readable().await;
                }
            };
            let broke = async {
                match self.stream_broke.as_mut() {
                    Some(broke) => broke.await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = exit => return Exited::Unknown,
                broke = broke => {
                    if broke {
                        return Exited::Lost;
                    }
                    // The stream ended normally: only the pidfd is left.
                    self.stream_broke = None;
                }
            }
        }
    }

    async fn ending(&mut self, _exited: Exited, output_lost: bool, killed: bool) -> Option<ExitStatus> {
        if output_lost {
            return None;
        }
        self.exit_code().await.map(|code| split_exit(code, killed))
    }

    fn lost(&self) -> Option<Bytes> {
        self.sandbox.mark_broken();
        Some(Bytes::from_static(DAEMON_GONE_NOTICE))
    }

    fn forget(&self) {
        self.sandbox.finish_run(self.run_id);
    }
}

/// The engine reports a process killed by signal N as exit code 128+N,
/// like a shell; the report names the signal.
fn split_exit(code: i64, killed: bool) -> ExitStatus {
    match code {
        code if (129..=128 + 31).contains(&code) => (None, Some((code - 128) as i32)),
        _ if killed => (None, Some(libc::SIGKILL)),
        code => (Some(i32::try_from(code).unwrap_or(-1)), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_exit_codes_become_codes_or_signals() {
        assert_eq!(split_exit(0, false), (Some(0), None));
        assert_eq!(split_exit(42, false), (Some(42), None));
        assert_eq!(split_exit(255, false), (Some(255), None));
        assert_eq!(split_exit(143, false), (None, Some(15)));
        assert_eq!(split_exit(137, true), (None, Some(9)));
        assert_eq!(split_exit(1, true), (None, Some(9)), "a killed run is reported as killed");
    }

    #[test]
    fn the_wrapper_sets_rlimits_and_stops_before_exec() {
        let spec = RunSpec::command(["true"]);
        let script = wrapper_script(&spec);
        assert!(script.contains("ulimit -n 256 "), "{script}");
        assert!(script.contains("ulimit -f 131072 "), "64 MiB in 512-byte blocks: {script}");
        assert!(script.ends_with("kill -STOP $$; exec \"$@\""), "{script}");
    }
}
