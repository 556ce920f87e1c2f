//! A run in flight on the Docker backend: its exec's stdin and output,
//! its controls, and what the shared supervisor (`bytesbox_supervisor`)
//! asks of it: when the main process exited (pidfd), whether the engine
//! connection broke (the run is lost), and the exit code, read from the
//! engine.

use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bollard::container::LogOutput;
use bollard::query_parameters::ResizeExecOptions;
use bollard::Docker;
use bytes::Bytes;
use bytesbox_cgroups::Cgroup;
use bytesbox_sandbox::{RunControl, RunHandle, RunSpec, SandboxError, Signal, Stream};
use bytesbox_supervisor::{
    read_fd_stream, Delivery, ExitStatus, Exited, RunIo, RunOutput, RunProcess, SupervisedControl, Supervision, Watched,
};
use futures_util::{Stream as FuturesStream, StreamExt};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{oneshot, Mutex};

use crate::daemon::api_error;
use crate::sandbox_box::DockerBox;

/// What a run's stderr gets when the engine went away under it.
const DAEMON_GONE_NOTICE: &[u8] =
    b"\nbytesbox: the Docker engine went away during this run; the next run gets a fresh container\n";

type Input = Pin<Box<dyn AsyncWrite + Send>>;
type Output = Pin<Box<dyn FuturesStream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A started exec, moved into its cgroup and continued.
pub(crate) struct StartedExec {
    pub(crate) docker: Docker,
    pub(crate) exec_id: String,
    pub(crate) pty: bool,
    pub(crate) input: Input,
    pub(crate) output: Output,
    /// The wrapper's pidfd; `None` when it had exited before it was found.
    pub(crate) pidfd: Option<AsyncFd<OwnedFd>>,
    /// The read end of the run's stderr FIFO, when stderr is apart from
    /// its terminal.
    pub(crate) stderr: Option<AsyncFd<OwnedFd>>,
    pub(crate) sandbox: Arc<DockerBox>,
    pub(crate) cgroup: Cgroup,
    pub(crate) spec: RunSpec,
    pub(crate) started_at: Instant,
}

/// Hands a started exec to the supervisor; the run's handle.
pub(crate) fn supervise(exec: StartedExec) -> RunHandle {
    let StartedExec { docker, exec_id, pty, input, output, pidfd, stderr, sandbox, cgroup, spec, started_at } = exec;
    let (supervision, switch, events) = Supervision::new(spec.limits.output_bytes);
    let io = DockerRunIo {
        docker: docker.clone(),
        exec_id: exec_id.clone(),
        pty,
        cgroup: cgroup.clone(),
        stdin: Mutex::new(Some(input)),
    };
    let control: Arc<dyn RunControl> = Arc::new(SupervisedControl::new(io, switch));
    bytesbox_sandbox::feed_initial_input(control.clone(), spec.stdin, spec.close_stdin);
    let (broke_tx, broke_rx) = oneshot::channel();
    let mut readers = vec![tokio::spawn(read_output(output, supervision.output(), broke_tx))];
    if let Some(stderr) = stderr {
        readers.push(tokio::spawn(read_fd_stream(Arc::new(stderr), Stream::Stderr, supervision.output())));
    }
    supervision.spawn(Watched {
        process: DockerProcess { docker, exec_id, sandbox: sandbox.clone(), pidfd, stream_broke: Some(broke_rx) },
        tree: cgroup,
        limits: spec.limits,
        started_at,
        destroyed: sandbox.activity.destroyed(),
        readers,
        control: control.clone(),
    });
    RunHandle::new(events, control)
}

/// A Docker run's stdin, terminal and signals, behind the supervisor's
/// controls.
struct DockerRunIo {
    docker: Docker,
    exec_id: String,
    pty: bool,
    cgroup: Cgroup,
    stdin: Mutex<Option<Input>>,
}

impl std::fmt::Debug for DockerRunIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRunIo").field("exec_id", &self.exec_id).field("pty", &self.pty).finish()
    }
}

#[async_trait]
impl RunIo for DockerRunIo {
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
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
        if !self.pty {
            return Err(SandboxError::InvalidSpec("this run has no terminal to resize".into()));
        }
        self.docker
            .resize_exec(&self.exec_id, ResizeExecOptions { h: rows.into(), w: cols.into() })
            .await
            .map_err(|e| api_error("resizing the terminal", e))
    }

    async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        // Every process of the run: its cgroup is exactly the run's tree.
        let pids = self.cgroup.pids().map_err(|e| SandboxError::Internal(format!("signal: {e}")))?;
        for pid in pids {
            // SAFETY: kill(2) on pids read from the run's own cgroup.
            unsafe { libc::kill(pid, signal.number()) };
        }
        Ok(())
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
        self.sandbox.activity.finish_run();
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
}
