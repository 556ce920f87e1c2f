//! The one error type of this crate. Every variant that touches the file
//! system names the path, so a failure in one of five v1 hierarchies can be
//! told apart from the others in a log line.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use displaydoc::Display;
use thiserror::Error;

/// Everything cgroup management can fail with.
#[derive(Debug, Display, Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// cannot read the mount table {path:?}: {source}
    Mountinfo {
        /// Usually `/proc/self/mountinfo`.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// cannot turn on the cgroup2 root's favordynmods flag: {reason}
    Dynmods {
        /// What failed: the mount, or the root that kept its flags.
        reason: String,
    },
    /// no usable cgroup setup: {reason}
    NoUsableSetup {
        /// Names every controller that is missing, for v2 and for v1.
        reason: String,
    },
    /// invalid cgroup path {path:?}: {reason}
    InvalidPath {
        /// The relative path or child name as given.
        path: PathBuf,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// invalid cgroup limit: {0}
    InvalidLimit(String),
    /// {0} is not a process id
    InvalidPid(i32),
    /// cannot create cgroup directory {path:?}: {source}
    Create {
        /// The directory that could not be made.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// cannot write {value:?} to {path:?}: {source}
    Write {
        /// The interface file.
        path: PathBuf,
        /// What was being written.
        value: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// cannot read {path:?}: {source}
    Read {
        /// The interface file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// unexpected content in {path:?}: {reason}
    Parse {
        /// The interface file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// processes {pids:?} still in {path:?} after {timeout:?}
    KillTimeout {
        /// The cgroup directory (freezer or unified hierarchy).
        path: PathBuf,
        /// How long we tried.
        timeout: Duration,
        /// Processes that were still there at the last look.
        pids: Vec<i32>,
    },
    /// cannot remove cgroup directory {path:?}: {source}
    Remove {
        /// The directory that could not be removed.
        path: PathBuf,
        /// The underlying error (EBUSY if processes are left).
        #[source]
        source: io::Error,
    },
}

/// Short alias used throughout the crate.
pub type Result<T, E = CgroupError> = std::result::Result<T, E>;
