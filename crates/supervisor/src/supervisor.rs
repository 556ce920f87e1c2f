//! One task per run watches it to its end.
//!
//! It waits for the first of: the main process exiting, the wall-time
//! deadline (which time spent waiting for input does not count towards,
//! [`crate::wall_clock`]), a wait for input that lasts too long, the CPU
//! budget, the output cap, a Stop, the handle being
//! dropped, the box being destroyed, or the backend losing the run.
//! Whatever comes first decides the status; the run's whole tree (its
//! cgroup, a [`RunTree`]) is then emptied (so double-forked and `setsid`
//! leftovers die too), its statistics read, the readers drained, and one
//! exit report sent. What
//! differs between backends (how the end of the main process is seen and
//! read, box-wide counters, clean-up) comes through [`RunProcess`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use bytesbox_sandbox::{ExitReport, RunControl, RunEvent, RunLimits, SandboxError, Stream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::output::{RunOutput, EVENT_QUEUE};
use crate::status::{decide_status, ExitStatus, KillReason};
use crate::tree::{kill_tree, RunTree};
use crate::wall_clock::{Checked, WallClock, INPUT_CHECK_INTERVAL};

/// How often the CPU budget is checked against the cgroup's counter.
const CPU_CHECK_INTERVAL: Duration = Duration::from_millis(100);
/// How long output may keep arriving after the whole tree is dead.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How the supervisor saw the main process end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exited {
    /// It exited with this status.
    Status(ExitStatus),
    /// It exited; [`RunProcess::ending`] finds out how.
    Unknown,
    /// The backend lost the run (the Docker engine went away).
    Lost,
}

/// What a backend supplies about one run's processes.
#[async_trait]
pub trait RunProcess: Send + Sync + 'static {
    /// Resolves when the main process has exited or the backend lost the
    /// run. Polled in a select loop, so it must be cancel-safe.
    async fn exited(&mut self) -> Exited;

    /// How the main process ended, asked once its whole tree is dead and
    /// the output is drained. `output_lost`: an output stream broke or did
    /// not end; `killed`: the supervisor ended the run. `None`: unknown.
    async fn ending(&mut self, exited: Exited, output_lost: bool, killed: bool) -> Option<ExitStatus>;

    /// Whether a memory limit wider than the run's (its box's) killed
    /// something since last asked. Asked only for a SIGKILL that the run's
    /// own cgroup did not cause.
    fn box_oom_killed(&self) -> bool {
        false
    }

    /// The backend lost the run: mark what must not be used again, and say
    /// so on the run's stderr.
    fn lost(&self) -> Option<Bytes> {
        None
    }

    /// The run is reported; the box forgets it (its cgroup goes next).
    fn forget(&self);

    /// After the run's cgroup is removed.
    async fn after(&self) {}
}

/// The control side of a run: Kill, and whether it is still running. A
/// backend hands it to [`crate::SupervisedControl`], which alone uses it.
#[derive(Debug)]
pub struct RunSwitch {
    kill: mpsc::Sender<()>,
    finished: Arc<AtomicBool>,
}

impl RunSwitch {
    /// `RunFinished` once the run has ended.
    pub(crate) fn check_running(&self) -> Result<(), SandboxError> {
        if self.finished.load(Ordering::Acquire) {
            return Err(SandboxError::RunFinished);
        }
        Ok(())
    }

    /// Asks the supervisor to kill the run's whole tree.
    pub(crate) fn kill(&self) -> Result<(), SandboxError> {
        self.check_running()?;
        let _ = self.kill.try_send(());
        Ok(())
    }
}

/// A run's processes as the supervisor watches them.
pub struct Watched<P, T> {
    /// The backend's side.
    pub process: P,
    /// The run's whole tree (its own cgroup): its counters, and what to
    /// kill.
    pub tree: T,
    /// The run's limits (wall time, CPU time).
    pub limits: RunLimits,
    /// When the program was started.
    pub started_at: Instant,
    /// Turns true when the box is being destroyed.
    pub destroyed: watch::Receiver<bool>,
    /// The output readers; `Err` when a stream broke.
    pub readers: Vec<JoinHandle<Result<(), String>>>,
    /// The run's control, dropped once the tree is dead so that nothing
    /// blocks on stdin any more.
    pub control: Arc<dyn RunControl>,
}

impl<P, T> std::fmt::Debug for Watched<P, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched").field("limits", &self.limits).field("started_at", &self.started_at).finish()
    }
}

/// One run's supervision, made before its readers and control.
#[derive(Debug)]
pub struct Supervision {
    output: Arc<RunOutput>,
    kill: mpsc::Receiver<()>,
    finished: Arc<AtomicBool>,
}

impl Supervision {
    /// A new supervision with output capped at `output_cap` bytes per
    /// stream, the switch for the run's control, and the receiver of the
    /// run's events.
    pub fn new(output_cap: u64) -> (Supervision, RunSwitch, mpsc::Receiver<RunEvent>) {
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (kill_tx, kill_rx) = mpsc::channel(1);
        let finished = Arc::new(AtomicBool::new(false));
        let switch = RunSwitch { kill: kill_tx, finished: finished.clone() };
        let output = Arc::new(RunOutput::new(output_cap, events_tx));
        (Supervision { output, kill: kill_rx, finished }, switch, events_rx)
    }

    /// Where the readers deliver output.
    pub fn output(&self) -> Arc<RunOutput> {
        self.output.clone()
    }

    /// Starts the supervisor task.
    pub fn spawn<P: RunProcess, T: RunTree>(self, run: Watched<P, T>) {
        tokio::spawn(self.supervise(run));
    }

    async fn supervise<P: RunProcess, T: RunTree>(mut self, run: Watched<P, T>) {
        let Watched { mut process, tree, limits, started_at, mut destroyed, readers, control } = run;
        let output = self.output.clone();
        let mut clock = WallClock::new(tokio::time::Instant::now(), &limits);
        let deadline = tokio::time::sleep_until(clock.deadline());
        tokio::pin!(deadline);
        let mut input_check =
            tokio::time::interval_at(tokio::time::Instant::now() + INPUT_CHECK_INTERVAL, INPUT_CHECK_INTERVAL);
        input_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut cpu_check =
            tokio::time::interval_at(tokio::time::Instant::now() + CPU_CHECK_INTERVAL, CPU_CHECK_INTERVAL);
        cpu_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let cpu_budget_ns = limits.cpu_time_ms.saturating_mul(1_000_000);
        let mut reason: Option<KillReason> = None;

        let exited = loop {
            let mut kill_now = None;
            tokio::select! {
                biased;
                exited = process.exited() => {
                    if exited == Exited::Lost {
                        reason.get_or_insert(KillReason::Lost);
                    }
                    break exited;
                }
                _ = &mut deadline, if reason.is_none() => kill_now = Some(KillReason::Timeout),
                Some(()) = self.kill.recv() => kill_now = Some(KillReason::Requested),
                () = output.cap_hit() => kill_now = Some(KillReason::OutputLimit),
                _ = destroyed.wait_for(|d| *d), if reason.is_none() => kill_now = Some(KillReason::Requested),
                _ = output.events().closed(), if reason.is_none() => kill_now = Some(KillReason::Requested),
                _ = cpu_check.tick(), if reason.is_none() => {
                    if tree.cpu_usage_ns() >= cpu_budget_ns {
                        kill_now = Some(KillReason::CpuLimit);
                    }
                }
                now = input_check.tick(), if reason.is_none() => {
                    match clock.check(now, tree.waiting_for_input()) {
                        Checked::Quiet => {}
                        // Never blocks the supervision: a client that reads
                        // nothing loses the notice, not the limits.
                        Checked::Warn(text) => {
                            let _ = output.events().try_send(RunEvent::Notice(text));
                        }
                        Checked::WaitedTooLong => kill_now = Some(KillReason::InputTimeout),
                    }
                    deadline.as_mut().reset(clock.deadline());
                }
            }
            if let Some(why) = kill_now {
                reason.get_or_insert(why);
                kill_tree(&tree).await;
            }
        };
        // A box is marked destroyed before its processes are killed, so an
        // exit that races ahead of the notification is still a kill.
        if reason.is_none() && *destroyed.borrow() {
            reason = Some(KillReason::Requested);
        }
        // Likewise a program that died of the closed pipe (SIGPIPE, or an
        // error exit on EPIPE) before the cap's notification was seen.
        if reason.is_none() && output.cap_was_hit() {
            reason = Some(KillReason::OutputLimit);
        }
        let wall = started_at.elapsed();
        // The main process is gone; anything it left behind dies now.
        kill_tree(&tree).await;
        let stats = tree.stats();
        self.finished.store(true, Ordering::Release);
        drop(control);
        let output_lost = drain(readers).await;
        let status = match process.ending(exited, output_lost, reason.is_some()).await {
            Some(status) => status,
            None => {
                reason.get_or_insert(KillReason::Lost);
                (None, Some(libc::SIGKILL))
            }
        };
        let mut stderr_bytes = output.delivered(Stream::Stderr);
        if reason == Some(KillReason::Lost) {
            if let Some(notice) = process.lost() {
                stderr_bytes += notice.len() as u64;
                let _ = output.events().send(RunEvent::Output { stream: Stream::Stderr, data: notice }).await;
            }
        }
        // A SIGKILL with no OOM kill in the run's own cgroup may still be
        // the box-wide limit (several runs together); only then is the
        // box's counter worth reading.
        let box_oom = status.1 == Some(libc::SIGKILL) && stats.oom_kills == 0 && process.box_oom_killed();
        let report = ExitReport {
            exit_code: status.0,
            signal: status.1,
            status: decide_status(reason, status, stats.oom_kills > 0 || box_oom, stats.cpu_usage_ns >= cpu_budget_ns),
            wall_ms: wall.as_millis().try_into().unwrap_or(u64::MAX),
            cpu_ms: stats.cpu_usage_ns / 1_000_000,
            peak_memory_bytes: stats.memory_peak_bytes,
            stdout_bytes: output.delivered(Stream::Stdout),
            stderr_bytes,
        };
        let _ = output.events().send(RunEvent::Exit(report)).await;
        process.forget();
        let _ = tokio::task::spawn_blocking(move || tree.remove()).await;
        process.after().await;
    }
}

/// Waits for the readers to reach the end of their streams; true when one
/// broke or did not end in time (it is stopped then, so no output follows
/// the exit report).
async fn drain(readers: Vec<JoinHandle<Result<(), String>>>) -> bool {
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    let mut lost = false;
    for mut reader in readers {
        match tokio::time::timeout_at(deadline, &mut reader).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(_))) | Ok(Err(_)) => lost = true,
            Err(_) => {
                reader.abort();
                lost = true;
            }
        }
    }
    lost
}
