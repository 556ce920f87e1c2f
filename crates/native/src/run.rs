//! A run in flight: output readers, stdin, limits, and the exit report.
//!
//! One supervisor task per run waits for the first of: the main process
//! exiting, the wall-time deadline, the CPU budget, the output cap, a
//! Stop, the handle being dropped, or the box being destroyed. Whatever
//! comes first decides the status; the run's cgroup is then emptied (so
//! double-forked and `setsid` leftovers die too), its statistics read, the
//! readers drained, and one exit report sent.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use bytesbox_cgroups::Cgroup;
use bytesbox_jail::protocol::InitRequest;
use bytesbox_sandbox::{
    Ending, ExitReport, RunControl, RunEvent, RunLimits, RunStatus, SandboxError, Signal, StopReason, Stream,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use crate::sandbox_box::{ExitStatus, SandboxBox};

/// Largest chunk read at once; a flood arrives in chunks this big, not a
/// frame per write.
const READ_CHUNK: usize = 64 * 1024;
/// Output events buffered per run before the readers stop reading (and
/// the program blocks on a full pipe): at most 16 chunks of at most 64 KiB.
pub const EVENT_QUEUE: usize = 16;
/// How often the CPU budget is checked against the cgroup's counter.
const CPU_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long emptying a cgroup may take before we give up and report.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server ended a run early. The first reason wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillReason {
    Timeout,
    CpuLimit,
    OutputLimit,
    Requested,
}

/// A readable or writable non-blocking descriptor.
type Fd = Arc<AsyncFd<OwnedFd>>;

fn async_fd(fd: OwnedFd) -> std::io::Result<Fd> {
    let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(Arc::new(crate::ipc::register(fd, Interest::READABLE | Interest::WRITABLE)?))
}

/// The server's ends of a run's stdio.
enum ServerStdio {
    Pipes { stdin: Fd, stdout: Fd, stderr: Fd },
    Pty { master: Fd },
}

impl ServerStdio {
    fn from_fds(fds: Vec<OwnedFd>, pty: bool) -> Result<ServerStdio, SandboxError> {
        let wrap = |fd| async_fd(fd).map_err(|e| SandboxError::Internal(format!("stdio: {e}")));
        let mut fds = fds.into_iter();
        match (pty, fds.next(), fds.next(), fds.next()) {
            (true, Some(master), None, None) => Ok(ServerStdio::Pty { master: wrap(master)? }),
            (false, Some(stdin), Some(stdout), Some(stderr)) => {
                Ok(ServerStdio::Pipes { stdin: wrap(stdin)?, stdout: wrap(stdout)?, stderr: wrap(stderr)? })
            }
            _ => Err(SandboxError::Internal("the box init sent the wrong stdio descriptors".into())),
        }
    }
}

/// Where stdin goes.
#[derive(Debug)]
enum StdinSink {
    Pipe(Option<Fd>),
    Pty(Fd),
}

/// Controls handed out with the run handle.
#[derive(Debug)]
pub struct NativeRunControl {
    run_id: u64,
    sandbox: Arc<SandboxBox>,
    stdin: Mutex<StdinSink>,
    kill: mpsc::Sender<()>,
    finished: Arc<AtomicBool>,
}

impl NativeRunControl {
    fn check_running(&self) -> Result<(), SandboxError> {
        if self.finished.load(Ordering::Acquire) {
            return Err(SandboxError::RunFinished);
        }
        Ok(())
    }
}

/// Writes all of `data`; a reader that went away swallows the rest.
async fn write_all(fd: &Fd, mut data: &[u8]) -> Result<(), SandboxError> {
    while !data.is_empty() {
        let mut guard = fd.writable().await.map_err(|e| SandboxError::Internal(format!("stdin: {e}")))?;
        match guard.try_io(|inner| nix::unistd::write(inner.get_ref(), data).map_err(std::io::Error::from)) {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EPIPE) || e.raw_os_error() == Some(libc::EIO) => return Ok(()),
            Ok(Err(e)) => return Err(SandboxError::Internal(format!("stdin: {e}"))),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

#[async_trait]
impl RunControl for NativeRunControl {
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
        self.check_running()?;
        let sink = self.stdin.lock().await;
        match &*sink {
            StdinSink::Pipe(Some(fd)) | StdinSink::Pty(fd) => write_all(fd, &data).await,
            StdinSink::Pipe(None) => Err(SandboxError::InvalidSpec("stdin is already closed".into())),
        }
    }

    async fn close_stdin(&self) -> Result<(), SandboxError> {
        self.check_running()?;
        let mut sink = self.stdin.lock().await;
        match &mut *sink {
            StdinSink::Pipe(fd) => {
                fd.take();
                Ok(())
            }
            // The terminal's end-of-file character ends a read at the start
            // of a line, as Ctrl+D does.
            StdinSink::Pty(fd) => write_all(fd, &[0x04]).await,
        }
    }

    async fn resize(&self, rows: u16, cols: u16) -> Result<(), SandboxError> {
        self.check_running()?;
        if rows == 0 || cols == 0 || rows > 1000 || cols > 1000 {
            return Err(SandboxError::InvalidSpec("pty size must be 1..=1000 in each dimension".into()));
        }
        let sink = self.stdin.lock().await;
        let StdinSink::Pty(master) = &*sink else {
            return Err(SandboxError::InvalidSpec("this run has no terminal to resize".into()));
        };
        let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        rustix::termios::tcsetwinsize(master.get_ref(), size)
            .map_err(|e| SandboxError::Internal(format!("resize: {e}")))
    }

    async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        self.check_running()?;
        if signal == Signal::Sigkill {
            return self.kill().await;
        }
        self.sandbox
            .control
            .send(&InitRequest::Signal { run_id: self.run_id, signal: signal.number() }, &[])
            .await
            .map_err(|_| SandboxError::BoxGone(self.sandbox.id.to_string()))
    }

    async fn kill(&self) -> Result<(), SandboxError> {
        self.check_running()?;
        let _ = self.kill.try_send(());
        Ok(())
    }
}

/// Everything the supervisor needs.
pub struct RunStart {
    /// Box-local run id.
    pub run_id: u64,
    /// The box.
    pub sandbox: Arc<SandboxBox>,
    /// The run's own cgroup.
    pub cgroup: Cgroup,
    /// Limits of the run.
    pub limits: RunLimits,
    /// Whether stdio is a PTY.
    pub pty: bool,
    /// Descriptors from the init.
    pub fds: Vec<OwnedFd>,
    /// Resolves when the main process exits.
    pub exited: oneshot::Receiver<ExitStatus>,
    /// When the request was sent.
    pub started_at: Instant,
    /// Bytes to write to stdin first.
    pub initial_stdin: Vec<u8>,
    /// Close stdin after them.
    pub close_stdin: bool,
}

/// Starts the supervisor; returns the events receiver and the control.
pub fn supervise(start: RunStart) -> Result<(mpsc::Receiver<RunEvent>, Arc<NativeRunControl>), SandboxError> {
    let stdio = ServerStdio::from_fds(start.fds, start.pty)?;
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (kill_tx, kill_rx) = mpsc::channel(1);
    let finished = Arc::new(AtomicBool::new(false));
    let output_cap_hit = Arc::new(CapHit::default());
    let cap = start.limits.output_bytes;

    let (sink, readers) = match stdio {
        ServerStdio::Pipes { stdin, stdout, stderr } => {
            let readers = vec![
                tokio::spawn(read_stream(stdout, Stream::Stdout, cap, events_tx.clone(), output_cap_hit.clone())),
                tokio::spawn(read_stream(stderr, Stream::Stderr, cap, events_tx.clone(), output_cap_hit.clone())),
            ];
            (StdinSink::Pipe(Some(stdin)), readers)
        }
        ServerStdio::Pty { master } => {
            let reader = tokio::spawn(read_stream(
                master.clone(),
                Stream::Stdout,
                cap,
                events_tx.clone(),
                output_cap_hit.clone(),
            ));
            (StdinSink::Pty(master), vec![reader])
        }
    };
    let control = Arc::new(NativeRunControl {
        run_id: start.run_id,
        sandbox: start.sandbox.clone(),
        stdin: Mutex::new(sink),
        kill: kill_tx,
        finished: finished.clone(),
    });
    bytesbox_sandbox::feed_initial_input(control.clone(), start.initial_stdin, start.close_stdin);
    let supervisor = Supervisor {
        run_id: start.run_id,
        sandbox: start.sandbox,
        cgroup: start.cgroup,
        limits: start.limits,
        started_at: start.started_at,
    };
    tokio::spawn(supervisor.run(start.exited, kill_rx, output_cap_hit, readers, events_tx, finished, control.clone()));
    Ok((events_rx, control))
}

/// Set by a reader whose stream went over the output cap.
#[derive(Debug, Default)]
struct CapHit {
    hit: AtomicBool,
    notify: Notify,
}

/// Reads one stream until EOF, enforcing the output cap. Returns the
/// number of bytes delivered.
async fn read_stream(fd: Fd, stream: Stream, cap: u64, events: mpsc::Sender<RunEvent>, cap_hit: Arc<CapHit>) -> u64 {
    let mut delivered: u64 = 0;
    // One buffer for the whole run; each event copies only the bytes read,
    // so a one-byte write costs one byte in the queue, not a fresh 64 KiB.
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let Ok(mut guard) = fd.readable().await else {
            break;
        };
        let result =
            guard.try_io(|inner| nix::unistd::read(inner.get_ref(), &mut buffer).map_err(std::io::Error::from));
        let n = match result {
            Err(_would_block) => continue,
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            // A PTY master reads EIO once the last slave is closed.
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => break,
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Ok(Err(_)) => break,
        };
        let room = cap.saturating_sub(delivered);
        let take = (n as u64).min(room) as usize;
        if take > 0 {
            delivered += take as u64;
            let data = Bytes::copy_from_slice(&buffer[..take]);
            if events.send(RunEvent::Output { stream, data }).await.is_err() {
                break;
            }
        }
        if (n as u64) > room {
            cap_hit.hit.store(true, Ordering::Release);
            cap_hit.notify.notify_one();
            break;
        }
    }
    delivered
}

struct Supervisor {
    run_id: u64,
    sandbox: Arc<SandboxBox>,
    cgroup: Cgroup,
    limits: RunLimits,
    started_at: Instant,
}

impl Supervisor {
    #[allow(clippy::too_many_arguments)]
    async fn run(
        self,
        mut exited: oneshot::Receiver<ExitStatus>,
        mut kill_rx: mpsc::Receiver<()>,
        cap_hit: Arc<CapHit>,
        readers: Vec<tokio::task::JoinHandle<u64>>,
        events: mpsc::Sender<RunEvent>,
        finished: Arc<AtomicBool>,
        control: Arc<NativeRunControl>,
    ) {
        let deadline = tokio::time::sleep(Duration::from_millis(self.limits.wall_time_ms));
        tokio::pin!(deadline);
        let mut cpu_check =
            tokio::time::interval_at(tokio::time::Instant::now() + CPU_CHECK_INTERVAL, CPU_CHECK_INTERVAL);
        cpu_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut destroyed = self.sandbox.destroyed();
        let mut reason: Option<KillReason> = None;
        let cpu_budget_ns = self.limits.cpu_time_ms.saturating_mul(1_000_000);

        let status: ExitStatus = loop {
            let mut kill_now = None;
            tokio::select! {
                biased;
                result = &mut exited => break result.unwrap_or((None, Some(libc::SIGKILL))),
                _ = &mut deadline, if reason.is_none() => kill_now = Some(KillReason::Timeout),
                Some(()) = kill_rx.recv() => kill_now = Some(KillReason::Requested),
                _ = cap_hit.notify.notified() => kill_now = Some(KillReason::OutputLimit),
                _ = destroyed.wait_for(|d| *d), if reason.is_none() => kill_now = Some(KillReason::Requested),
                _ = events.closed(), if reason.is_none() => kill_now = Some(KillReason::Requested),
                _ = cpu_check.tick(), if reason.is_none() => {
                    let used = self.cgroup.cpu_usage_ns().unwrap_or(0);
                    if used >= cpu_budget_ns {
                        kill_now = Some(KillReason::CpuLimit);
                    }
                }
            }
            if let Some(why) = kill_now {
                if reason.is_none() {
                    reason = Some(why);
                }
                self.kill_tree().await;
            }
        };
        // A box is marked destroyed before its processes are killed, so an
        // exit that races ahead of the notification is still a kill.
        if reason.is_none() && self.sandbox.is_destroyed() {
            reason = Some(KillReason::Requested);
        }
        // Likewise a program that died of the closed pipe (SIGPIPE, or an
        // error exit on EPIPE) before the cap's notification was seen.
        if reason.is_none() && cap_hit.hit.load(Ordering::Acquire) {
            reason = Some(KillReason::OutputLimit);
        }
        let wall = self.started_at.elapsed();
        // The main process is gone; anything it left behind dies now.
        self.kill_tree().await;
        let stats = self.cgroup.stats().unwrap_or_default();
        finished.store(true, Ordering::Release);
        // Closing stdin lets nothing block on it any more.
        drop(control);
        let mut delivered = Vec::new();
        for reader in readers {
            delivered.push(reader.await.unwrap_or(0));
        }
        // A SIGKILL with no OOM kill in the run's own cgroup may still be
        // the box-wide limit (several runs together); only then is the
        // box's counter worth reading.
        let box_oom = status.1 == Some(libc::SIGKILL) && stats.oom_kills == 0 && self.sandbox.saw_new_box_oom();
        let report = ExitReport {
            exit_code: status.0,
            signal: status.1,
            status: decide_status(
                reason,
                status,
                stats.oom_kills > 0 || (box_oom && status.1 == Some(libc::SIGKILL)),
                stats.cpu_usage_ns >= cpu_budget_ns,
            ),
            wall_ms: wall.as_millis().try_into().unwrap_or(u64::MAX),
            cpu_ms: stats.cpu_usage_ns / 1_000_000,
            peak_memory_bytes: stats.memory_peak_bytes,
            stdout_bytes: delivered.first().copied().unwrap_or(0),
            stderr_bytes: delivered.get(1).copied().unwrap_or(0),
        };
        let _ = events.send(RunEvent::Exit(report)).await;
        self.sandbox.finish_run(self.run_id);
        let cgroup = self.cgroup;
        let sandbox = self.sandbox;
        let _ = tokio::task::spawn_blocking(move || {
            let _ = cgroup.remove();
        })
        .await;
        sandbox.prepare_launcher().await;
    }

    /// Kills every process of the run (blocking work on a blocking thread).
    async fn kill_tree(&self) {
        let cgroup = self.cgroup.clone();
        if cgroup.pids().map(|p| p.is_empty()).unwrap_or(false) {
            return;
        }
        let _ = tokio::task::spawn_blocking(move || cgroup.kill_all(KILL_TIMEOUT)).await;
    }
}

/// The status of a finished run, by the rule every backend shares.
fn decide_status(reason: Option<KillReason>, status: ExitStatus, oom: bool, cpu_exhausted: bool) -> RunStatus {
    let stop = reason.map(|reason| match reason {
        KillReason::Timeout => StopReason::Timeout,
        KillReason::CpuLimit => StopReason::CpuLimit,
        KillReason::OutputLimit => StopReason::OutputLimit,
        KillReason::Requested => StopReason::Killed,
    });
    RunStatus::decide(stop, Ending { exit_code: status.0, signal: status.1, oom, cpu_exhausted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_reasons_map_to_statuses() {
        let killed = (None, Some(libc::SIGKILL));
        assert_eq!(decide_status(Some(KillReason::Timeout), killed, false, false), RunStatus::Timeout);
        assert_eq!(decide_status(Some(KillReason::Requested), killed, true, true), RunStatus::Killed);
        assert_eq!(decide_status(Some(KillReason::OutputLimit), killed, false, false), RunStatus::OutputLimit);
        assert_eq!(decide_status(Some(KillReason::CpuLimit), killed, false, true), RunStatus::CpuLimit);
        assert_eq!(decide_status(None, killed, true, false), RunStatus::MemoryLimit);
    }
}
