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
//! One supervisor task per run waits for the first of: the main process
//! exiting (pidfd), the wall-time deadline, the CPU budget, the output
//! cap, a Stop, the handle being dropped, the box being destroyed, or the
//! engine connection breaking. The rest follows the native backend.

use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::ResizeExecOptions;
use bollard::Docker;
use bytes::Bytes;
use bytesbox_cgroups::{Cgroup, CgroupLimits};
use bytesbox_sandbox::{
    Ending, ExitReport, RunControl, RunEvent, RunHandle, RunSpec, RunStatus, SandboxError, Signal, StopReason, Stream,
};
use futures_util::{Stream as FuturesStream, StreamExt};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use crate::daemon::api_error;
use crate::sandbox_box::DockerBox;

/// Output events buffered per run before reading stops (backpressure).
const EVENT_QUEUE: usize = 16;
/// Bytes the engine stream is read in.
const READ_CAPACITY: usize = 64 * 1024;
/// How often the CPU budget is checked.
const CPU_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long emptying a run's cgroup may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the exec may take to appear and stop itself.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long output may keep arriving after the whole tree is dead.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// What a run's stderr gets when the engine went away under it.
const DAEMON_GONE_NOTICE: &[u8] =
    b"\nbytesbox: the Docker engine went away during this run; the next run gets a fresh container\n";

/// Why the backend ended a run early. The first reason wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillReason {
    Timeout,
    CpuLimit,
    OutputLimit,
    Requested,
    EngineGone,
}

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

/// The environment of a run: the caller's, or a default one, with PATH,
/// HOME, LANG and TERM added when missing.
fn run_env(spec: &RunSpec, workspace: &str) -> Vec<String> {
    let mut env: Vec<(String, String)> = spec.env.clone();
    let pty = matches!(spec.stdio, bytesbox_sandbox::StdioMode::Pty { .. });
    let defaults = [
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        ("HOME", workspace),
        ("LANG", "C.UTF-8"),
        ("TERM", if pty { "xterm-256color" } else { "dumb" }),
    ];
    for (key, value) in defaults {
        if !env.iter().any(|(k, _)| k == key) {
            env.push((key.to_string(), value.to_string()));
        }
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
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
    let box_limits = &sandbox.spec.limits;
    let cgroup_limits = CgroupLimits {
        memory_bytes: Some(spec.limits.memory_bytes.min(box_limits.memory_bytes)),
        pids: Some(spec.limits.pids.min(box_limits.pids)),
        // On cgroup v1 a child's quota may not exceed its parent's.
        cpu_millicores: Some(spec.limits.cpu_millicores.min(box_limits.cpu_millicores)),
    };
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
            let _ = tokio::task::spawn_blocking(move || {
                let _ = cgroup.kill_all(KILL_TIMEOUT);
                let _ = cgroup.remove();
            })
            .await;
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
        env: Some(run_env(&spec, &workspace)),
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
    let options = StartExecOptions { detach: false, tty: pty.is_some(), output_capacity: Some(READ_CAPACITY) };
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
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (kill_tx, kill_rx) = mpsc::channel(1);
    let finished = Arc::new(AtomicBool::new(false));
    let control = Arc::new(DockerRunControl {
        docker: docker.clone(),
        exec_id: exec.id.clone(),
        pty: pty.is_some(),
        cgroup: cgroup.clone(),
        stdin: Mutex::new(Some(input)),
        kill: kill_tx,
        finished: finished.clone(),
    });
    bytesbox_sandbox::feed_initial_input(control.clone(), spec.stdin, spec.close_stdin);
    let cap_hit = Arc::new(Notify::new());
    let (reader_tx, reader_rx) = oneshot::channel();
    let reader =
        tokio::spawn(read_output(output, spec.limits.output_bytes, events_tx.clone(), cap_hit.clone(), reader_tx));
    let supervisor = Supervisor {
        docker: docker.clone(),
        exec_id: exec.id,
        sandbox: sandbox.clone(),
        run_id,
        cgroup: cgroup.clone(),
        wall_time: Duration::from_millis(spec.limits.wall_time_ms),
        cpu_budget_ns: spec.limits.cpu_time_ms.saturating_mul(1_000_000),
        started_at,
    };
    tokio::spawn(supervisor.run(pidfd, kill_rx, cap_hit, reader, reader_rx, events_tx, finished, control.clone()));
    Ok(RunHandle::new(events_rx, control))
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
    kill: mpsc::Sender<()>,
    finished: Arc<AtomicBool>,
}

impl std::fmt::Debug for DockerRunControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRunControl").field("exec_id", &self.exec_id).field("pty", &self.pty).finish()
    }
}

impl DockerRunControl {
    fn check_running(&self) -> Result<(), SandboxError> {
        if self.finished.load(Ordering::Acquire) {
            return Err(SandboxError::RunFinished);
        }
        Ok(())
    }
}

#[async_trait]
impl RunControl for DockerRunControl {
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
        self.check_running()?;
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
        self.check_running()?;
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
        self.check_running()?;
        if !self.pty {
            return Err(SandboxError::InvalidSpec("this run has no terminal to resize".into()));
        }
        if rows == 0 || cols == 0 || rows > 1000 || cols > 1000 {
            return Err(SandboxError::InvalidSpec("pty size must be 1..=1000 in each dimension".into()));
        }
        self.docker
            .resize_exec(&self.exec_id, ResizeExecOptions { h: rows.into(), w: cols.into() })
            .await
            .map_err(|e| api_error("resizing the terminal", e))
    }

    async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        self.check_running()?;
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
        self.check_running()?;
        let _ = self.kill.try_send(());
        Ok(())
    }
}

/// What the output reader ended with.
struct ReaderEnd {
    stdout: u64,
    stderr: u64,
    engine_error: Option<String>,
}

/// Reads the exec's output until it ends, enforcing the cap per stream.
async fn read_output(
    mut output: Output,
    cap: u64,
    events: mpsc::Sender<RunEvent>,
    cap_hit: Arc<Notify>,
    done: oneshot::Sender<Option<String>>,
) -> ReaderEnd {
    let mut counts = [0u64; 2];
    // Per stream: the engine copies stdout and stderr separately, so one
    // stream's last frames may arrive after the other went over its cap.
    let mut over_cap = [false; 2];
    let mut consumer_gone = false;
    let mut engine_error = None;
    while let Some(item) = output.next().await {
        let (stream, data) = match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => (Stream::Stdout, message),
            Ok(LogOutput::StdErr { message }) => (Stream::Stderr, message),
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(e) => {
                engine_error = Some(e.to_string());
                break;
            }
        };
        let index = usize::from(stream == Stream::Stderr);
        if consumer_gone || over_cap[index] {
            continue;
        }
        let room = cap.saturating_sub(counts[index]);
        let take = (data.len() as u64).min(room) as usize;
        if take > 0 {
            counts[index] += take as u64;
            if events.send(RunEvent::Output { stream, data: data.slice(..take) }).await.is_err() {
                consumer_gone = true;
            }
        }
        if data.len() > take {
            over_cap[index] = true;
            cap_hit.notify_one();
        }
    }
    let _ = done.send(engine_error.clone());
    ReaderEnd { stdout: counts[0], stderr: counts[1], engine_error }
}

struct Supervisor {
    docker: Docker,
    exec_id: String,
    sandbox: Arc<DockerBox>,
    run_id: u64,
    cgroup: Cgroup,
    wall_time: Duration,
    cpu_budget_ns: u64,
    started_at: Instant,
}

impl Supervisor {
    #[allow(clippy::too_many_arguments)]
    async fn run(
        self,
        pidfd: Option<AsyncFd<OwnedFd>>,
        mut kill_rx: mpsc::Receiver<()>,
        cap_hit: Arc<Notify>,
        reader: tokio::task::JoinHandle<ReaderEnd>,
        mut reader_rx: oneshot::Receiver<Option<String>>,
        events: mpsc::Sender<RunEvent>,
        finished: Arc<AtomicBool>,
        control: Arc<DockerRunControl>,
    ) {
        let deadline = tokio::time::sleep(self.wall_time);
        tokio::pin!(deadline);
        let mut cpu_check =
            tokio::time::interval_at(tokio::time::Instant::now() + CPU_CHECK_INTERVAL, CPU_CHECK_INTERVAL);
        cpu_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut destroyed = self.sandbox.destroyed();
        let mut reason: Option<KillReason> = None;
        let mut reader_watch = true;
        let exited = async {
            if let Some(fd) = &pidfd {
                let _ = fd.readable().await;
            }
        };
        tokio::pin!(exited);
        loop {
            let mut kill_now = None;
            tokio::select! {
                biased;
                () = &mut exited => break,
                _ = &mut deadline, if reason.is_none() => kill_now = Some(KillReason::Timeout),
                Some(()) = kill_rx.recv() => kill_now = Some(KillReason::Requested),
                _ = cap_hit.notified() => kill_now = Some(KillReason::OutputLimit),
                _ = destroyed.wait_for(|d| *d), if reason.is_none() => kill_now = Some(KillReason::Requested),
                _ = events.closed(), if reason.is_none() => kill_now = Some(KillReason::Requested),
                result = &mut reader_rx, if reader_watch => {
                    reader_watch = false;
                    if let Ok(Some(_engine_error)) = result {
                        kill_now = Some(KillReason::EngineGone);
                    }
                }
                _ = cpu_check.tick(), if reason.is_none() => {
                    if self.cgroup.cpu_usage_ns().unwrap_or(0) >= self.cpu_budget_ns {
                        kill_now = Some(KillReason::CpuLimit);
                    }
                }
            }
            if let Some(why) = kill_now {
                if reason.is_none() {
                    reason = Some(why);
                }
                self.kill_tree().await;
                if why == KillReason::EngineGone {
                    break;
                }
            }
        }
        if reason.is_none() && self.sandbox.is_destroyed() {
            reason = Some(KillReason::Requested);
        }
        let wall = self.started_at.elapsed();
        // The main process is gone; anything it left behind dies now.
        self.kill_tree().await;
        let stats = self.cgroup.stats().unwrap_or_default();
        finished.store(true, Ordering::Release);
        drop(control);
        let ended = match tokio::time::timeout(DRAIN_TIMEOUT, reader).await {
            Ok(Ok(end)) => end,
            _ => ReaderEnd { stdout: 0, stderr: 0, engine_error: Some("the output stream did not end".into()) },
        };
        let exit = if ended.engine_error.is_some() { None } else { self.exit_code().await };
        if exit.is_none() && reason.is_none() {
            reason = Some(KillReason::EngineGone);
        }
        let (exit_code, signal) = split_exit(exit, reason);
        let mut stderr_bytes = ended.stderr;
        if reason == Some(KillReason::EngineGone) {
            self.sandbox.mark_broken();
            let notice = Bytes::from_static(DAEMON_GONE_NOTICE);
            stderr_bytes += notice.len() as u64;
            let _ = events.send(RunEvent::Output { stream: Stream::Stderr, data: notice }).await;
        }
        let report = ExitReport {
            exit_code,
            signal,
            status: decide_status(
                reason,
                (exit_code, signal),
                stats.oom_kills > 0,
                stats.cpu_usage_ns >= self.cpu_budget_ns,
            ),
            wall_ms: wall.as_millis().try_into().unwrap_or(u64::MAX),
            cpu_ms: stats.cpu_usage_ns / 1_000_000,
            peak_memory_bytes: stats.memory_peak_bytes,
            stdout_bytes: ended.stdout,
            stderr_bytes,
        };
        let _ = events.send(RunEvent::Exit(report)).await;
        self.sandbox.finish_run(self.run_id);
        let cgroup = self.cgroup;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = cgroup.remove();
        })
        .await;
    }

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

    async fn kill_tree(&self) {
        let cgroup = self.cgroup.clone();
        if cgroup.pids().map(|p| p.is_empty()).unwrap_or(false) {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || cgroup.kill_all(KILL_TIMEOUT)).await;
    }
}

/// The engine reports a process killed by signal N as exit code 128+N,
/// like a shell; the report names the signal.
fn split_exit(code: Option<i64>, reason: Option<KillReason>) -> (Option<i32>, Option<i32>) {
    match code {
        None => (None, Some(libc::SIGKILL)),
        Some(code) if (129..=128 + 31).contains(&code) => (None, Some((code - 128) as i32)),
        Some(_) if reason.is_some() => (None, Some(libc::SIGKILL)),
        Some(code) => (Some(i32::try_from(code).unwrap_or(-1)), None),
    }
}

/// The status of a finished run, by the rule every backend shares; an
/// engine that went away counts as a kill.
fn decide_status(
    reason: Option<KillReason>,
    status: (Option<i32>, Option<i32>),
    oom: bool,
    cpu_exhausted: bool,
) -> RunStatus {
    let stop = reason.map(|reason| match reason {
        KillReason::Timeout => StopReason::Timeout,
        KillReason::CpuLimit => StopReason::CpuLimit,
        KillReason::OutputLimit => StopReason::OutputLimit,
        KillReason::Requested | KillReason::EngineGone => StopReason::Killed,
    });
    RunStatus::decide(stop, Ending { exit_code: status.0, signal: status.1, oom, cpu_exhausted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_exit_codes_become_codes_or_signals() {
        assert_eq!(split_exit(Some(0), None), (Some(0), None));
        assert_eq!(split_exit(Some(42), None), (Some(42), None));
        assert_eq!(split_exit(Some(255), None), (Some(255), None));
        assert_eq!(split_exit(Some(143), None), (None, Some(15)));
        assert_eq!(split_exit(Some(137), Some(KillReason::Timeout)), (None, Some(9)));
        assert_eq!(split_exit(None, None), (None, Some(9)), "an unknown end is reported as a kill");
    }

    #[test]
    fn kill_reasons_map_to_statuses() {
        assert_eq!(decide_status(None, (None, Some(9)), true, false), RunStatus::MemoryLimit);
        assert_eq!(decide_status(Some(KillReason::EngineGone), (None, Some(9)), false, false), RunStatus::Killed);
        assert_eq!(decide_status(Some(KillReason::Timeout), (None, Some(9)), true, true), RunStatus::Timeout);
    }

    #[test]
    fn the_wrapper_sets_rlimits_and_stops_before_exec() {
        let spec = RunSpec::command(["true"]);
        let script = wrapper_script(&spec);
        assert!(script.contains("ulimit -n 256 "), "{script}");
        assert!(script.contains("ulimit -f 131072 "), "64 MiB in 512-byte blocks: {script}");
        assert!(script.ends_with("kill -STOP $$; exec \"$@\""), "{script}");
        let env = run_env(&spec, "/workspace");
        assert!(env.contains(&"HOME=/workspace".to_string()) && env.iter().any(|e| e.starts_with("PATH=")));
    }
}
