//! The one report every run ends with.

use serde::{Deserialize, Serialize};

/// How a run ended, from the user's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Exited with code 0.
    Ok,
    /// Exited with a non-zero code.
    Nonzero,
    /// Killed by a signal it did not get from a limit or a Stop.
    Signaled,
    /// Killed because it ran past its wall-time limit.
    Timeout,
    /// Ended because it waited for input longer than its `input_wait_ms`.
    InputTimeout,
    /// Killed because it used more CPU time than allowed.
    CpuLimit,
    /// Killed by the out-of-memory killer of its cgroup.
    MemoryLimit,
    /// Killed because it wrote more output than allowed.
    OutputLimit,
    /// Killed on request (Stop, or the box was destroyed).
    Killed,
}

impl RunStatus {
    /// The stable lowercase name used in protocols and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Nonzero => "nonzero",
            RunStatus::Signaled => "signaled",
            RunStatus::Timeout => "timeout",
            RunStatus::InputTimeout => "input_timeout",
            RunStatus::CpuLimit => "cpu_limit",
            RunStatus::MemoryLimit => "memory_limit",
            RunStatus::OutputLimit => "output_limit",
            RunStatus::Killed => "killed",
        }
    }

    /// Parses [`RunStatus::as_str`] names.
    pub fn parse(name: &str) -> Option<RunStatus> {
        [
            RunStatus::Ok,
            RunStatus::Nonzero,
            RunStatus::Signaled,
            RunStatus::Timeout,
            RunStatus::InputTimeout,
            RunStatus::CpuLimit,
            RunStatus::MemoryLimit,
            RunStatus::OutputLimit,
            RunStatus::Killed,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// Why a backend ended a run itself, before or instead of its own exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Past its wall-time limit.
    Timeout,
    /// Waited for input past its `input_wait_ms`.
    InputTimeout,
    /// Past its CPU-time budget.
    CpuLimit,
    /// Over its output cap.
    OutputLimit,
    /// Stop, a dropped handle, the box destroyed, or the backend itself
    /// gone.
    Killed,
}

/// How the process ended and what the cgroup saw, as every backend
/// measures them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ending {
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Signal, if a signal ended it.
    pub signal: Option<i32>,
    /// The out-of-memory killer acted in its cgroup.
    pub oom: bool,
    /// It used its whole CPU-time budget.
    pub cpu_exhausted: bool,
}

/// SIGKILL and SIGXCPU on Linux (every architecture Bytesbox runs on).
const SIGKILL: i32 = 9;
const SIGXCPU: i32 = 24;

impl RunStatus {
    /// The one rule every backend reports by: the backend's own reason
    /// wins (the first one, as it was the cause); otherwise an OOM kill,
    /// then CPU exhaustion, then the signal or exit code.
    pub fn decide(stop: Option<StopReason>, ending: Ending) -> RunStatus {
        match stop {
            Some(StopReason::Killed) => return RunStatus::Killed,
            Some(StopReason::Timeout) => return RunStatus::Timeout,
            Some(StopReason::InputTimeout) => return RunStatus::InputTimeout,
            Some(StopReason::OutputLimit) => return RunStatus::OutputLimit,
            Some(StopReason::CpuLimit) => return RunStatus::CpuLimit,
            None => {}
        }
        match (ending.exit_code, ending.signal) {
            _ if ending.oom => RunStatus::MemoryLimit,
            (_, Some(SIGXCPU)) => RunStatus::CpuLimit,
            (_, Some(SIGKILL)) if ending.cpu_exhausted => RunStatus::CpuLimit,
            (_, Some(_)) => RunStatus::Signaled,
            (Some(0), None) => RunStatus::Ok,
            _ => RunStatus::Nonzero,
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The final word on a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitReport {
    /// Exit code, when the main process exited normally.
    pub exit_code: Option<i32>,
    /// Signal number, when the main process was killed by a signal.
    pub signal: Option<i32>,
    /// How the run ended.
    pub status: RunStatus,
    /// Wall-clock time from start to exit.
    pub wall_ms: u64,
    /// CPU time (user + system) of the whole process tree.
    pub cpu_ms: u64,
    /// Peak memory of the whole process tree.
    pub peak_memory_bytes: u64,
    /// Bytes of stdout delivered (at most the output limit).
    pub stdout_bytes: u64,
    /// Bytes of stderr delivered (at most the output limit).
    pub stderr_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(exit_code: Option<i32>, signal: Option<i32>, oom: bool, cpu_exhausted: bool) -> Ending {
        Ending { exit_code, signal, oom, cpu_exhausted }
    }

    #[test]
    fn the_backend_s_own_reason_decides_first() {
        let killed = ended(None, Some(SIGKILL), true, true);
        assert_eq!(RunStatus::decide(Some(StopReason::Timeout), killed), RunStatus::Timeout);
        assert_eq!(RunStatus::decide(Some(StopReason::Killed), killed), RunStatus::Killed);
        assert_eq!(RunStatus::decide(Some(StopReason::OutputLimit), killed), RunStatus::OutputLimit);
        assert_eq!(RunStatus::decide(Some(StopReason::CpuLimit), killed), RunStatus::CpuLimit);
    }

    #[test]
    fn exits_map_to_statuses() {
        assert_eq!(RunStatus::decide(None, ended(Some(0), None, false, false)), RunStatus::Ok);
        assert_eq!(RunStatus::decide(None, ended(Some(3), None, false, false)), RunStatus::Nonzero);
        assert_eq!(RunStatus::decide(None, ended(None, Some(11), false, false)), RunStatus::Signaled);
        assert_eq!(RunStatus::decide(None, ended(None, Some(SIGKILL), true, false)), RunStatus::MemoryLimit);
        assert_eq!(
            RunStatus::decide(None, ended(Some(1), None, true, false)),
            RunStatus::MemoryLimit,
            "a child's OOM kill counts"
        );
        assert_eq!(RunStatus::decide(None, ended(None, Some(SIGXCPU), false, false)), RunStatus::CpuLimit);
        assert_eq!(RunStatus::decide(None, ended(None, Some(SIGKILL), false, true)), RunStatus::CpuLimit);
    }

    #[test]
    fn status_names_round_trip() {
        for name in [
            "ok",
            "nonzero",
            "signaled",
            "timeout",
            "input_timeout",
            "cpu_limit",
            "memory_limit",
            "output_limit",
            "killed",
        ] {
            let status = RunStatus::parse(name).unwrap();
            assert_eq!(status.as_str(), name);
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{name}\""));
        }
        assert_eq!(RunStatus::parse("bogus"), None);
    }
}
