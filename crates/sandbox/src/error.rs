use displaydoc::Display;
use thiserror::Error;

/// Everything a backend can fail with. Messages are safe to show to users.
#[derive(Debug, Display, Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// invalid specification: {0}
    InvalidSpec(String),
    /// invalid path `{path}`: {reason}
    InvalidPath {
        /// The offending path, as given.
        path: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// no such box: {0}
    NoSuchBox(String),
    /// the box {0} is being destroyed or was destroyed
    BoxGone(String),
    /// the run has already finished
    RunFinished,
    /// the program could not be started: {0}
    SpawnFailed(String),
    /// workspace file error at `{path}`: {source}
    Workspace {
        /// The workspace-relative path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// the workspace is full or a file is too large: {0}
    WorkspaceFull(String),
    /// the backend is not available: {0}
    Unavailable(String),
    /// this server holds as many boxes as it can ({0}); try again when one has closed
    AtCapacity(String),
    /// the backend is shutting down
    ShuttingDown,
    /// internal backend error: {0}
    Internal(String),
    /// this backend does not support {0}
    Unsupported(&'static str),
}

impl SandboxError {
    /// A stable, machine-readable code for protocol error frames.
    pub fn code(&self) -> &'static str {
        match self {
            SandboxError::InvalidSpec(_) => "invalid_spec",
            SandboxError::InvalidPath { .. } => "invalid_path",
            SandboxError::NoSuchBox(_) => "no_such_box",
            SandboxError::BoxGone(_) => "box_gone",
            SandboxError::RunFinished => "run_finished",
            SandboxError::SpawnFailed(_) => "spawn_failed",
            SandboxError::Workspace { .. } => "workspace_error",
            SandboxError::WorkspaceFull(_) => "workspace_full",
            SandboxError::Unavailable(_) => "backend_unavailable",
            SandboxError::AtCapacity(_) => "at_capacity",
            SandboxError::ShuttingDown => "shutting_down",
            SandboxError::Internal(_) => "internal",
            SandboxError::Unsupported(_) => "unsupported",
        }
    }
}
