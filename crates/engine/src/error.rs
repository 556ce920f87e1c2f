use bytesbox_sandbox::SandboxError;
use displaydoc::Display;
use thiserror::Error;

/// Why a job was refused or failed.
#[derive(Debug, Display, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// the queue is full ({queued} jobs waiting); retry in about {retry_after_secs} s
    QueueFull {
        /// Jobs waiting when this one was refused.
        queued: usize,
        /// A hint for `Retry-After`.
        retry_after_secs: u64,
    },
    /// the job has no stages
    NoStages,
    /// the server is shutting down
    ShuttingDown,
    /// {0}
    Sandbox(#[from] SandboxError),
}

impl EngineError {
    /// A stable, machine-readable code for protocol error frames.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::QueueFull { .. } => "queue_full",
            EngineError::NoStages => "invalid_job",
            EngineError::ShuttingDown => "shutting_down",
            EngineError::Sandbox(e) => e.code(),
        }
    }
}
