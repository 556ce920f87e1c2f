//! The way from the server to a kernel's sockets in its box.
//!
//! A kernel binds its five ZeroMQ sockets as Unix sockets (`ipc`
//! transport) in a directory of the box's workspace. The server cannot
//! connect to them by path: the path would be resolved on the host, where
//! a program of the box could have put a symlink to any host socket. So
//! the backend hands out each socket as an `O_PATH` descriptor reached
//! without following links and checked to be a socket of the box's uid
//! (`Backend::open_socket`), and a relay connects through
//! `/proc/self/fd/N` while it holds that descriptor.
//!
//! The ZeroMQ client connects to the relay's listener in a private
//! directory of the server's (mode 0700, removed with the kernel). Bytes
//! from the box pass the [`FrameGuard`] on their way; bytes to the box are
//! the server's own and pass as they are.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

use crate::frame_guard::{FrameGuard, GuardError};

/// What a relay does when the box breaks the bound: the kernel is ended
/// (its channels cannot be trusted to resynchronise), and why is kept for
/// its exit report.
#[async_trait::async_trait]
pub trait OnViolation: Send + Sync + std::fmt::Debug {
    /// The box sent what `error` says.
    async fn violated(&self, error: GuardError);
}

/// Longest temporary directory the listeners' directory is made in.
const MAX_PARENT_BYTES: usize = 64;

/// Bytes read from the box at a time.
const CHUNK_BYTES: usize = 16 * 1024;

/// The relays of one kernel; dropping them stops every relay and removes
/// the listeners' directory.
#[derive(Debug)]
pub struct Relays {
    tasks: JoinSet<()>,
    dir: tempfile::TempDir,
}

impl Relays {
    /// A private directory for the listeners.
    pub fn new() -> std::io::Result<Relays> {
        use std::os::unix::fs::PermissionsExt as _;
        // A Unix socket's path has at most 107 bytes: a long TMPDIR would
        // not leave room for ours.
        let parent = Some(std::env::temp_dir()).filter(|dir| dir.as_os_str().len() <= MAX_PARENT_BYTES);
        let dir = tempfile::Builder::new()
            .prefix("bytesbox-kernel-")
            .tempdir_in(parent.unwrap_or_else(|| PathBuf::from("/tmp")))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))?;
        Ok(Relays { tasks: JoinSet::new(), dir })
    }

    /// The directory the listeners are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Listens at `name` in the private directory and relays every
    /// connection made there to `box_socket`, bounding each message from
    /// the box at `max_message` bytes.
    pub fn add(
        &mut self,
        name: &str,
        box_socket: OwnedFd,
        max_message: u64,
        on_violation: Arc<dyn OnViolation>,
    ) -> std::io::Result<PathBuf> {
        let path = self.dir.path().join(name);
        let listener = UnixListener::bind(&path)?;
        self.tasks.spawn(relay(listener, box_socket, max_message, on_violation));
        Ok(path)
    }
}

/// Accepts the client's connections (it reconnects after a failure) and
/// relays each to the box's socket.
async fn relay(listener: UnixListener, box_socket: OwnedFd, max_message: u64, on_violation: Arc<dyn OnViolation>) {
    // The descriptor stays open as long as the relay, so the number in
    // this path names the box's socket for as long as it is used.
    let through = format!("/proc/self/fd/{}", box_socket.as_raw_fd());
    loop {
        let Ok((client, _)) = listener.accept().await else { return };
        let Ok(kernel) = UnixStream::connect(&through).await else {
            // The kernel is gone; its end is reported by its run.
            drop(client);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        };
        match pipe(client, kernel, max_message).await {
            Ok(()) => {}
            Err(PipeEnd::Io(error)) => tracing::debug!(%error, "a kernel connection ended"),
            Err(PipeEnd::Guard(error)) => {
                tracing::warn!(%error, "a kernel broke the message bound; ending it");
                on_violation.violated(error).await;
                return;
            }
        }
    }
}

/// Why a relayed connection ended early.
enum PipeEnd {
    Io(std::io::Error),
    Guard(GuardError),
}

impl From<std::io::Error> for PipeEnd {
    fn from(error: std::io::Error) -> PipeEnd {
        PipeEnd::Io(error)
    }
}

/// Copies both ways until either side ends or the box breaks the bound.
async fn pipe(client: UnixStream, kernel: UnixStream, max_message: u64) -> Result<(), PipeEnd> {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut kernel_read, mut kernel_write) = kernel.into_split();
    let to_kernel = async {
        tokio::io::copy(&mut client_read, &mut kernel_write).await?;
        kernel_write.shutdown().await.map_err(PipeEnd::Io)
    };
    let from_kernel = async {
        let mut guard = FrameGuard::new(max_message);
        let mut buffer = vec![0u8; CHUNK_BYTES];
        loop {
            let read = kernel_read.read(&mut buffer).await?;
            if read == 0 {
                return client_write.shutdown().await.map_err(PipeEnd::Io);
            }
            guard.check(&buffer[..read]).map_err(PipeEnd::Guard)?;
            client_write.write_all(&buffer[..read]).await?;
        }
    };
    tokio::select! {
        result = to_kernel => result,
        result = from_kernel => result,
    }
}
