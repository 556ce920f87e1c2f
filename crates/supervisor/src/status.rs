//! Why a run ended, as its exit report says it.

use bytesbox_sandbox::{Ending, RunStatus, StopReason};

/// How a run's main process ended: exit code or signal.
pub type ExitStatus = (Option<i32>, Option<i32>);

/// Why the supervisor ended a run early. The first reason wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// Past its wall time.
    Timeout,
    /// Waited for input past its `input_wait_ms`.
    InputTimeout,
    /// Past its CPU time.
    CpuLimit,
    /// A stream went over the output cap.
    OutputLimit,
    /// Stop, the handle dropped, or the box destroyed.
    Requested,
    /// The backend lost the run (the Docker engine went away).
    Lost,
}

/// The status of a finished run, by the rule every backend shares; a run
/// the backend lost counts as killed.
pub fn decide_status(reason: Option<KillReason>, status: ExitStatus, oom: bool, cpu_exhausted: bool) -> RunStatus {
    let stop = reason.map(|reason| match reason {
        KillReason::Timeout => StopReason::Timeout,
        KillReason::InputTimeout => StopReason::InputTimeout,
        KillReason::CpuLimit => StopReason::CpuLimit,
        KillReason::OutputLimit => StopReason::OutputLimit,
        KillReason::Requested | KillReason::Lost => StopReason::Killed,
    });
    RunStatus::decide(stop, Ending { exit_code: status.0, signal: status.1, oom, cpu_exhausted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_reasons_map_to_statuses() {
        let killed = (None, Some(9));
        assert_eq!(decide_status(Some(KillReason::Timeout), killed, true, true), RunStatus::Timeout);
        assert_eq!(decide_status(Some(KillReason::InputTimeout), killed, false, false), RunStatus::InputTimeout);
        assert_eq!(decide_status(Some(KillReason::Requested), killed, true, true), RunStatus::Killed);
        assert_eq!(decide_status(Some(KillReason::Lost), killed, false, false), RunStatus::Killed);
        assert_eq!(decide_status(Some(KillReason::OutputLimit), killed, false, false), RunStatus::OutputLimit);
        assert_eq!(decide_status(Some(KillReason::CpuLimit), killed, false, true), RunStatus::CpuLimit);
        assert_eq!(decide_status(None, killed, true, false), RunStatus::MemoryLimit);
    }
}
