//! What a caller asks for: boxes and runs.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{BoxLimits, RunLimits, SandboxError};

/// How a box reaches the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NetworkMode {
    /// A private loopback only: programs in the box reach each other, and
    /// nothing else (not even the host's loopback).
    #[default]
    Loopback,
}

/// Where a box's read-only runtime filesystem comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootfsSpec {
    /// The host's runtime directories (`/usr`, `/lib*`, `/bin`, …) and an
    /// allow-list of `/etc` files, bind-mounted read-only.
    #[default]
    Host,
    /// An unpacked image directory: every top-level entry of it is
    /// bind-mounted read-only.
    Image {
        /// Absolute host path of the unpacked image.
        dir: PathBuf,
    },
    /// A named backend image (the Docker backend's image per language).
    Named {
        /// Image reference.
        image: String,
    },
}

/// Everything needed to create a box.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BoxSpec {
    /// Limits on the whole box.
    pub limits: BoxLimits,
    /// Network reachability.
    pub network: NetworkMode,
    /// Root filesystem source.
    pub rootfs: RootfsSpec,
    /// Absolute in-box path of the writable workspace.
    pub workspace_dir: String,
    /// Hostname seen inside the box.
    pub hostname: String,
    /// Destroy the box after it has had no active run for this long.
    #[serde(with = "duration_ms")]
    pub idle_ttl: Duration,
    /// Free-form labels (session id, user id) kept for listing and metrics.
    pub labels: Vec<(String, String)>,
}

impl Default for BoxSpec {
    fn default() -> Self {
        BoxSpec {
            limits: BoxLimits::default(),
            network: NetworkMode::Loopback,
            rootfs: RootfsSpec::Host,
            workspace_dir: "/workspace".into(),
            hostname: "bytesbox".into(),
            idle_ttl: Duration::from_secs(60),
            labels: Vec::new(),
        }
    }
}

impl BoxSpec {
    /// Checks the spec is complete and sane.
    pub fn validate(&self) -> Result<(), SandboxError> {
        self.limits.validate()?;
        validate_in_box_dir(&self.workspace_dir, "workspace_dir")?;
        for reserved in ["/proc", "/dev", "/tmp", "/sys", "/usr", "/etc", "/bin", "/lib", "/lib64", "/sbin"] {
            if self.workspace_dir == reserved || self.workspace_dir.starts_with(&format!("{reserved}/")) {
                return Err(SandboxError::InvalidSpec(format!("workspace_dir may not be inside {reserved}")));
            }
        }
        if self.hostname.is_empty()
            || self.hostname.len() > 63
            || !self.hostname.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(SandboxError::InvalidSpec("hostname must be 1-63 of [A-Za-z0-9-]".into()));
        }
        if let RootfsSpec::Image { dir } = &self.rootfs {
            if !dir.is_absolute() {
                return Err(SandboxError::InvalidSpec("image dir must be an absolute path".into()));
            }
        }
        if self.idle_ttl.is_zero() {
            return Err(SandboxError::InvalidSpec("idle_ttl must be positive".into()));
        }
        Ok(())
    }
}

/// Validates an absolute, normalised in-box directory path.
fn validate_in_box_dir(dir: &str, what: &str) -> Result<(), SandboxError> {
    let Some(relative) = dir.strip_prefix('/') else {
        return Err(SandboxError::InvalidSpec(format!("{what} must be absolute")));
    };
    if relative.is_empty() {
        return Ok(());
    }
    crate::paths::validate_relative(relative).map(|_| ()).map_err(|e| SandboxError::InvalidSpec(format!("{what}: {e}")))
}

/// How a run's standard streams are connected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StdioMode {
    /// Three pipes: stdin, stdout and stderr are separate.
    #[default]
    Pipes,
    /// A pseudo-terminal: programs see a terminal (line-buffered output,
    /// prompts appear early, line editing, Ctrl+C). Its output is
    /// [`Stream::Stdout`](crate::Stream::Stdout); stderr is the terminal
    /// too (merged into it), unless `stderr_apart`.
    Pty {
        /// Terminal rows.
        rows: u16,
        /// Terminal columns.
        cols: u16,
        /// stderr apart from the terminal, as [`Stream::Stderr`](crate::Stream::Stderr)
        /// (a second terminal on the native backend, a FIFO on Docker's): a
        /// program's errors stay apart from its output (the IDE's runs). A shell needs it false: its prompt and line
        /// editing are written to stderr.
        #[serde(default)]
        stderr_apart: bool,
    },
}

impl StdioMode {
    /// A terminal of `rows` × `cols` with stderr on it (a shell's).
    pub fn terminal(rows: u16, cols: u16) -> StdioMode {
        StdioMode::Pty { rows, cols, stderr_apart: false }
    }

    /// A terminal of `rows` × `cols` for stdin and stdout, stderr apart
    /// (a program's run).
    pub fn terminal_with_stderr_apart(rows: u16, cols: u16) -> StdioMode {
        StdioMode::Pty { rows, cols, stderr_apart: true }
    }
}

/// Everything needed to start one program in a box.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSpec {
    /// Program and arguments; `argv[0]` is looked up in `PATH` when it has no `/`.
    pub argv: Vec<String>,
    /// Environment, replacing the default one entirely when non-empty
    /// (`PATH`, `HOME`, `LANG`, `USER` and `TERM` are added when missing:
    /// [`crate::run_env`]).
    pub env: Vec<(String, String)>,
    /// Absolute in-box working directory; the workspace when empty.
    pub cwd: String,
    /// Limits for this run.
    pub limits: RunLimits,
    /// Pipes or a PTY.
    pub stdio: StdioMode,
    /// Bytes written to stdin before anything else; stdin is closed after
    /// them when `close_stdin` is set.
    pub stdin: Vec<u8>,
    /// Close stdin after writing `stdin` (batch runs). Interactive runs leave
    /// it open and write through the handle.
    pub close_stdin: bool,
    /// No run follows in this box (the last stage of a one-shot run, whose
    /// box is destroyed after it): the backend need not get ready for
    /// another. A hint; a run that comes anyway still works, slower.
    pub last_in_box: bool,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            argv: Vec::new(),
            env: Vec::new(),
            cwd: String::new(),
            limits: RunLimits::default(),
            stdio: StdioMode::Pipes,
            stdin: Vec::new(),
            close_stdin: true,
            last_in_box: false,
        }
    }
}

/// Longest accepted argument or environment entry.
const MAX_ARG_BYTES: usize = 128 * 1024;
/// Most arguments or environment entries.
const MAX_ARGS: usize = 4096;

impl RunSpec {
    /// A batch run of `argv` with default limits and empty, closed stdin.
    pub fn command<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        RunSpec { argv: argv.into_iter().map(Into::into).collect(), ..RunSpec::default() }
    }

    /// Checks the spec is complete and within `max`.
    pub fn validate(&self, max: &RunLimits) -> Result<(), SandboxError> {
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(SandboxError::InvalidSpec("argv must name a program".into()));
        }
        if self.argv.len() > MAX_ARGS || self.env.len() > MAX_ARGS {
            return Err(SandboxError::InvalidSpec("too many arguments or environment entries".into()));
        }
        for arg in &self.argv {
            if arg.len() > MAX_ARG_BYTES || arg.contains('\0') {
                return Err(SandboxError::InvalidSpec("an argument is too long or has a NUL byte".into()));
            }
        }
        for (key, value) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
                return Err(SandboxError::InvalidSpec(format!("bad environment variable name {key:?}")));
            }
            if key.len() + value.len() > MAX_ARG_BYTES {
                return Err(SandboxError::InvalidSpec(format!("environment variable {key} is too long")));
            }
        }
        if !self.cwd.is_empty() {
            validate_in_box_dir(&self.cwd, "cwd")?;
        }
        if let StdioMode::Pty { rows, cols, .. } = self.stdio {
            validate_pty_size(rows, cols)?;
        }
        self.limits.validate_within(max)
    }
}

/// A terminal size a run may have or be resized to.
pub fn validate_pty_size(rows: u16, cols: u16) -> Result<(), SandboxError> {
    if rows == 0 || cols == 0 || rows > 1000 || cols > 1000 {
        return Err(SandboxError::InvalidSpec("pty size must be 1..=1000 in each dimension".into()));
    }
    Ok(())
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(value.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_specs_are_valid() {
        BoxSpec::default().validate().unwrap();
        RunSpec::command(["true"]).validate(&RunLimits::hard_maximum()).unwrap();
    }

    #[test]
    fn bad_box_specs_are_rejected() {
        let cases = [
            BoxSpec { workspace_dir: "workspace".into(), ..BoxSpec::default() },
            BoxSpec { workspace_dir: "/a/../b".into(), ..BoxSpec::default() },
            BoxSpec { workspace_dir: "/proc/x".into(), ..BoxSpec::default() },
            BoxSpec { hostname: "a b".into(), ..BoxSpec::default() },
            BoxSpec { idle_ttl: Duration::ZERO, ..BoxSpec::default() },
            BoxSpec { rootfs: RootfsSpec::Image { dir: "rel".into() }, ..BoxSpec::default() },
        ];
        for spec in cases {
            assert!(spec.validate().is_err(), "{spec:?}");
        }
    }

    #[test]
    fn bad_run_specs_are_rejected() {
        let max = RunLimits::hard_maximum();
        assert!(RunSpec::command(Vec::<String>::new()).validate(&max).is_err());
        assert!(RunSpec::command(["a\0b"]).validate(&max).is_err());
        let mut spec = RunSpec::command(["true"]);
        spec.env.push(("A=B".into(), "c".into()));
        assert!(spec.validate(&max).is_err());
        let mut spec = RunSpec::command(["true"]);
        spec.cwd = "relative".into();
        assert!(spec.validate(&max).is_err());
        let mut spec = RunSpec::command(["true"]);
        spec.stdio = StdioMode::terminal(0, 80);
        assert!(spec.validate(&max).is_err());
    }
}
