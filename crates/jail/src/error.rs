//! Errors of box set-up and program start.

use displaydoc::Display;
use thiserror::Error;

/// Why a box could not be built or a program not started.
#[derive(Debug, Display, Error)]
pub enum SetupError {
    /// {what} failed at {path}: {errno}
    Mount {
        /// The mount step.
        what: &'static str,
        /// In-box path.
        path: String,
        /// The error.
        errno: nix::Error,
    },
    /// {what} failed at {path}: {source}
    Filesystem {
        /// The step.
        what: &'static str,
        /// In-box path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// {what} failed: {errno}
    Syscall {
        /// The system call or step.
        what: &'static str,
        /// The error.
        errno: nix::Error,
    },
    /// channel error: {0}
    Channel(#[from] crate::channel::ChannelError),
    /// seccomp policy error: {0}
    Seccomp(String),
}

impl SetupError {
    /// Shorthand for a failed system call.
    pub fn syscall(what: &'static str) -> impl FnOnce(nix::Error) -> SetupError {
        move |errno| SetupError::Syscall { what, errno }
    }
}
