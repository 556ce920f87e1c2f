//! The backend-neutral sandbox API.
//!
//! Every isolation backend (native namespaces, Docker, later Kubernetes)
//! implements [`Backend`]. The server only ever talks to this trait, and the
//! shared conformance suite (`bytesbox-conformance`) runs against it, so two
//! backends that pass the suite are interchangeable.
//!
//! The vocabulary:
//! - a **box** is one session's isolated environment, made from a [`BoxSpec`];
//! - a **run** is one program started in a box from a [`RunSpec`]; it yields a
//!   [`RunHandle`] that streams [`RunEvent`]s and ends with one [`ExitReport`].

mod backend;
pub mod beneath;
mod box_activity;
mod destroyed_ids;
mod detached;
mod error;
mod files;
mod limits;
pub mod netns;
pub mod paths;
mod report;
mod run;
mod run_env;
mod spec;
mod uids;

pub use backend::{Backend, BoxId, BoxInfo};
pub use box_activity::BoxActivity;
pub use destroyed_ids::DestroyedIds;
pub use detached::DetachedWork;
pub use error::SandboxError;
pub use files::{FileEntry, PutMode, SkippedEntry, WorkspaceSnapshot};
pub use limits::{BoxLimits, RunLimits};
pub use report::{Ending, ExitReport, RunStatus, StopReason};
pub use run::{feed_initial_input, CollectedRun, RunControl, RunEvent, RunHandle, Signal, Stream};
pub use run_env::{run_env, RUN_HOME, RUN_PATH, RUN_USER};
pub use spec::{validate_pty_size, BoxSpec, NetworkMode, RootfsSpec, RunSpec, StdioMode};
pub use uids::UidPool;
