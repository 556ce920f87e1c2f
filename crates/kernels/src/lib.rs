//! Jupyter kernels in a session's box (`docs/notebooks.md`): started from
//! the catalog's command as a run of the box, spoken to over the Jupyter
//! messaging protocol (the `jupyter-protocol` and `jupyter-zmq-client`
//! crates over the pure-Rust `zeromq`), through relays that reach the
//! kernel's ZeroMQ `ipc` sockets in the box's workspace by descriptor and
//! bound every message coming back.

mod frame_guard;
mod kernel;
mod relay;

pub use frame_guard::{FrameGuard, GuardError};
pub use kernel::{Kernel, KernelEvent, KernelMessage, KernelStart, RequestChannel, KERNELS_DIR, MESSAGE_TOO_LARGE};

use bytesbox_sandbox::SandboxError;

/// Largest message a kernel may send by default: a plot as a base64 PNG
/// is a few hundred KiB, a big DataFrame's HTML a few MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 16 * 1024 * 1024;

/// Why a kernel request failed. Messages are safe to show to users.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The backend failed (or cannot run kernels).
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The kernel did not start.
    #[error("the kernel did not start: {0}")]
    StartFailed(String),
    /// The kernel's process has ended.
    #[error("the kernel has exited")]
    Exited,
    /// A message could not be sent or read.
    #[error("kernel protocol error: {0}")]
    Protocol(String),
    /// Something on the server's side failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl KernelError {
    /// The protocol's error code.
    pub fn code(&self) -> &'static str {
        match self {
            KernelError::Sandbox(e) => e.code(),
            KernelError::StartFailed(_) => "kernel_start_failed",
            KernelError::Exited => "kernel_exited",
            KernelError::Protocol(_) => "kernel_protocol",
            KernelError::Internal(_) => "internal",
        }
    }
}
