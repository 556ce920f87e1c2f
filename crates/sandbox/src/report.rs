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
            RunStatus::CpuLimit,
            RunStatus::MemoryLimit,
            RunStatus::OutputLimit,
            RunStatus::Killed,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
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

    #[test]
    fn status_names_round_trip() {
        for name in ["ok", "nonzero", "signaled", "timeout", "cpu_limit", "memory_limit", "output_limit", "killed"] {
            let status = RunStatus::parse(name).unwrap();
            assert_eq!(status.as_str(), name);
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{name}\""));
        }
        assert_eq!(RunStatus::parse("bogus"), None);
    }
}
