//! The trait every isolation backend implements.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{BoxSpec, FileEntry, PutMode, RunHandle, RunSpec, SandboxError, WorkspaceSnapshot};

/// A box's identity, unique within one backend instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BoxId(pub String);

impl std::fmt::Display for BoxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a backend reports about a live box.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxInfo {
    /// The box.
    pub id: BoxId,
    /// Labels given at creation.
    pub labels: Vec<(String, String)>,
    /// Runs in progress.
    pub active_runs: usize,
    /// Runs started since creation.
    pub total_runs: u64,
    /// Current memory use of the whole box, when the backend can tell.
    pub memory_bytes: Option<u64>,
    /// Milliseconds since the box last had an active run.
    pub idle_ms: u64,
}

/// An isolation backend. All methods are safe to call concurrently, and
/// cancel-safe: a caller may be dropped at any await (its client vanished)
/// and nothing is left behind or confused; a box being made or a run being
/// started for a caller that is gone is finished and then destroyed (see
/// [`crate::DetachedWork`]).
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Short name (`native`, `docker`).
    fn name(&self) -> &'static str;

    /// Creates a box. The box is ready for runs when this returns.
    async fn create(&self, spec: BoxSpec) -> Result<BoxId, SandboxError>;

    /// Writes files into the box's workspace. Paths never resolve through
    /// symlinks; parent directories are created.
    async fn put_files(&self, id: &BoxId, files: Vec<FileEntry>, mode: PutMode) -> Result<(), SandboxError>;

    /// Reads regular files from the workspace: the given paths, or every
    /// file when `paths` is empty, up to `max_total_bytes` in all.
    async fn get_files(
        &self,
        id: &BoxId,
        paths: Vec<String>,
        max_total_bytes: u64,
    ) -> Result<WorkspaceSnapshot, SandboxError>;

    /// Opens a Unix socket that a program of the box bound at `path` in
    /// its workspace, for the server to connect to (a Jupyter kernel's
    /// channels: `docs/notebooks.md`): an `O_PATH` descriptor of the socket
    /// itself, reached without following any link, refused unless it is a
    /// socket owned by the box's uid. The caller connects through
    /// `/proc/self/fd/N` while it holds the descriptor, so no path that a
    /// program of the box could swap is resolved on the host.
    async fn open_socket(&self, id: &BoxId, path: &str) -> Result<std::os::fd::OwnedFd, SandboxError> {
        let _ = (id, path);
        Err(SandboxError::Unsupported("connecting to sockets in a box (notebook kernels)"))
    }

    /// An `O_PATH` descriptor of the box's workspace directory, for the
    /// server to watch it (`docs/files.md`): read only through
    /// [`crate::beneath`], which resolves every path beneath it without
    /// following a link. The same directory that [`Backend::get_files`]
    /// reads.
    async fn workspace_root(&self, id: &BoxId) -> Result<std::sync::Arc<std::os::fd::OwnedFd>, SandboxError> {
        let _ = id;
        Err(SandboxError::Unsupported("watching the workspace"))
    }

    /// A TCP listener bound to `127.0.0.1:port` inside the box's network
    /// namespace, non-blocking, for the server to accept on: how a box
    /// reaches the egress proxy without any interface of its own
    /// (`docs/egress.md`). The socket keeps the namespace alive while it
    /// is open, so the caller closes it when the box ends.
    async fn open_listener(&self, id: &BoxId, port: u16) -> Result<std::os::fd::OwnedFd, SandboxError> {
        let _ = (id, port);
        Err(SandboxError::Unsupported("listening in a box (egress)"))
    }

    /// Starts a program. Returns once it has been executed (or failed to).
    async fn run(&self, id: &BoxId, spec: RunSpec) -> Result<RunHandle, SandboxError>;

    /// Kills everything in the box and frees all its resources. Destroying
    /// an unknown box is an error; destroying twice is harmless.
    async fn destroy(&self, id: &BoxId) -> Result<(), SandboxError>;

    /// Lists live boxes.
    async fn list(&self) -> Vec<BoxInfo>;

    /// How many boxes are live: for metrics, without reading each box's
    /// usage as [`Backend::list`] does.
    fn live_boxes(&self) -> usize;

    /// Whether the backend can make boxes now, or why not: for readiness
    /// probes. A backend that went wrong mends itself (for example with a
    /// new helper process) and says so here meanwhile.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    /// Destroys every box and stops background tasks.
    async fn shutdown(&self);
}
