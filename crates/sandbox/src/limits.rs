//! Resource limits for boxes and runs, with the design brief's defaults.

use serde::{Deserialize, Serialize};

use crate::SandboxError;

const MIB: u64 = 1024 * 1024;

/// Limits that apply to one run (one program and everything it spawns).
///
/// Every field is a hard limit enforced by the backend: cgroups for memory,
/// CPU share and processes; rlimits for files; the backend's own timers and
/// readers for wall time, CPU time and output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunLimits {
    /// Memory (RSS + page cache + tmpfs written by the run), swap disabled.
    pub memory_bytes: u64,
    /// CPU share in thousandths of one CPU (500 = half a CPU).
    pub cpu_millicores: u32,
    /// Processes and threads alive at once.
    pub pids: u32,
    /// Wall-clock time before the run is killed with status `timeout`.
    /// Time the run spends waiting for its input (every thread asleep, one
    /// of them reading its terminal or stdin pipe) does not count.
    pub wall_time_ms: u64,
    /// The longest one wait for input may last before the run is ended
    /// with status `input_timeout` (a notice comes first). It keeps a
    /// program at a prompt from holding its run slot for ever.
    pub input_wait_ms: u64,
    /// CPU time (user + system, whole process tree) before status `cpu_limit`.
    pub cpu_time_ms: u64,
    /// Bytes accepted per output stream before status `output_limit`.
    pub output_bytes: u64,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    pub open_files: u32,
    /// Largest file a process may write (RLIMIT_FSIZE).
    pub file_size_bytes: u64,
    /// Stack size per process (RLIMIT_STACK).
    pub stack_bytes: u64,
}

impl Default for RunLimits {
    /// The design brief's defaults: 0.5 CPU, 128 MiB, 30 s, 1 MiB output.
    fn default() -> Self {
        RunLimits {
            memory_bytes: 128 * MIB,
            cpu_millicores: 500,
            pids: 128,
            wall_time_ms: 30_000,
            input_wait_ms: 300_000,
            cpu_time_ms: 30_000,
            output_bytes: MIB,
            open_files: 256,
            file_size_bytes: 64 * MIB,
            stack_bytes: 8 * MIB,
        }
    }
}

impl RunLimits {
    /// Checks every field is positive and within `max`. Going past a maximum
    /// is an error, never a silent clamp.
    pub fn validate_within(&self, max: &RunLimits) -> Result<(), SandboxError> {
        let fields: [(&str, u64, u64); 10] = [
            ("memory_bytes", self.memory_bytes, max.memory_bytes),
            ("cpu_millicores", self.cpu_millicores.into(), max.cpu_millicores.into()),
            ("pids", self.pids.into(), max.pids.into()),
            ("wall_time_ms", self.wall_time_ms, max.wall_time_ms),
            ("input_wait_ms", self.input_wait_ms, max.input_wait_ms),
            ("cpu_time_ms", self.cpu_time_ms, max.cpu_time_ms),
            ("output_bytes", self.output_bytes, max.output_bytes),
            ("open_files", self.open_files.into(), max.open_files.into()),
            ("file_size_bytes", self.file_size_bytes, max.file_size_bytes),
            ("stack_bytes", self.stack_bytes, max.stack_bytes),
        ];
        for (name, value, limit) in fields {
            if value == 0 {
                return Err(SandboxError::InvalidSpec(format!("limit {name} must be positive")));
            }
            if value > limit {
                return Err(SandboxError::InvalidSpec(format!(
                    "limit {name}={value} exceeds the allowed maximum {limit}"
                )));
            }
        }
        if self.memory_bytes < 4 * MIB {
            return Err(SandboxError::InvalidSpec("limit memory_bytes must be at least 4 MiB".into()));
        }
        if self.cpu_millicores < 10 {
            return Err(SandboxError::InvalidSpec("limit cpu_millicores must be at least 10".into()));
        }
        if self.open_files < 16 {
            return Err(SandboxError::InvalidSpec("limit open_files must be at least 16".into()));
        }
        if self.stack_bytes < 64 * 1024 {
            return Err(SandboxError::InvalidSpec("limit stack_bytes must be at least 64 KiB".into()));
        }
        Ok(())
    }

    /// Each field the smaller of `self` and `cap`: a resource plan's limits
    /// never exceed what the server allows.
    pub fn capped_by(&self, cap: &RunLimits) -> RunLimits {
        RunLimits {
            memory_bytes: self.memory_bytes.min(cap.memory_bytes),
            cpu_millicores: self.cpu_millicores.min(cap.cpu_millicores),
            pids: self.pids.min(cap.pids),
            wall_time_ms: self.wall_time_ms.min(cap.wall_time_ms),
            input_wait_ms: self.input_wait_ms.min(cap.input_wait_ms),
            cpu_time_ms: self.cpu_time_ms.min(cap.cpu_time_ms),
            output_bytes: self.output_bytes.min(cap.output_bytes),
            open_files: self.open_files.min(cap.open_files),
            file_size_bytes: self.file_size_bytes.min(cap.file_size_bytes),
            stack_bytes: self.stack_bytes.min(cap.stack_bytes),
        }
    }

    /// Generous maxima a backend accepts when the caller sets none.
    pub fn hard_maximum() -> RunLimits {
        RunLimits {
            memory_bytes: 16 * 1024 * MIB,
            cpu_millicores: 64_000,
            pids: 32_768,
            wall_time_ms: 24 * 3600 * 1000,
            input_wait_ms: 24 * 3600 * 1000,
            cpu_time_ms: 24 * 3600 * 1000,
            // No cap of the backend's own: output is streamed under flow
            // control, so the cap only ever serves a caller's wishes (and
            // a terminal, a screen that lives for hours, has none).
            output_bytes: u64::MAX,
            open_files: 65_536,
            file_size_bytes: 64 * 1024 * MIB,
            stack_bytes: 1024 * MIB,
        }
    }
}

/// Limits that apply to a whole box: every run in it together, plus its
/// filesystems.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoxLimits {
    /// Memory for all runs in the box together, including tmpfs contents.
    pub memory_bytes: u64,
    /// CPU share for the whole box, in thousandths of one CPU.
    pub cpu_millicores: u32,
    /// Processes and threads in the whole box.
    pub pids: u32,
    /// Size of the writable workspace.
    pub workspace_bytes: u64,
    /// Size of the `/tmp` tmpfs.
    pub tmp_bytes: u64,
    /// Size of the `/dev/shm` tmpfs.
    pub shm_bytes: u64,
}

impl Default for BoxLimits {
    fn default() -> Self {
        BoxLimits {
            memory_bytes: 512 * MIB,
            cpu_millicores: 1000,
            pids: 256,
            workspace_bytes: 64 * MIB,
            tmp_bytes: 64 * MIB,
            shm_bytes: 16 * MIB,
        }
    }
}

impl BoxLimits {
    /// Checks every field is positive and plausible.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let fields: [(&str, u64); 6] = [
            ("memory_bytes", self.memory_bytes),
            ("cpu_millicores", self.cpu_millicores.into()),
            ("pids", self.pids.into()),
            ("workspace_bytes", self.workspace_bytes),
            ("tmp_bytes", self.tmp_bytes),
            ("shm_bytes", self.shm_bytes),
        ];
        for (name, value) in fields {
            if value == 0 {
                return Err(SandboxError::InvalidSpec(format!("box limit {name} must be positive")));
            }
        }
        if self.memory_bytes < 8 * MIB {
            return Err(SandboxError::InvalidSpec("box limit memory_bytes must be at least 8 MiB".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design_brief() {
        let limits = RunLimits::default();
        assert_eq!(limits.cpu_millicores, 500);
        assert_eq!(limits.memory_bytes, 128 * MIB);
        assert_eq!(limits.wall_time_ms, 30_000);
        assert_eq!(limits.output_bytes, MIB);
        limits.validate_within(&RunLimits::hard_maximum()).unwrap();
        BoxLimits::default().validate().unwrap();
    }

    #[test]
    fn exceeding_a_maximum_is_an_error_not_a_clamp() {
        let max = RunLimits::default();
        let asked = RunLimits { memory_bytes: max.memory_bytes + 1, ..RunLimits::default() };
        let err = asked.validate_within(&max).unwrap_err().to_string();
        assert!(err.contains("memory_bytes"), "{err}");
        assert!(err.contains("exceeds"), "{err}");
    }

    #[test]
    fn zero_limits_are_rejected() {
        let asked = RunLimits { pids: 0, ..RunLimits::default() };
        assert!(asked.validate_within(&RunLimits::hard_maximum()).is_err());
        let boxed = BoxLimits { tmp_bytes: 0, ..BoxLimits::default() };
        assert!(boxed.validate().is_err());
    }

    #[test]
    fn unknown_limit_fields_are_rejected() {
        let parsed: Result<RunLimits, _> = serde_json::from_str(r#"{"memory": 5}"#);
        assert!(parsed.is_err());
        let parsed: RunLimits = serde_json::from_str(r#"{"pids": 5}"#).unwrap();
        assert_eq!(parsed.pids, 5);
        assert_eq!(parsed.memory_bytes, RunLimits::default().memory_bytes);
    }
}
