//! Starting and talking to the `bytesbox-jail` helper.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytesbox_jail::channel::seqpacket_pair;
use bytesbox_jail::jailer::SPARE_GONE;
use bytesbox_jail::protocol::{BoxSetup, JailerReply, JailerRequest};
use bytesbox_sandbox::SandboxError;
use tokio::sync::Mutex;

use crate::ipc::{AsyncChannel, EVENT_BUFFER};

/// A started box, as the jailer reports it.
#[derive(Debug)]
pub struct StartedBox {
    /// Host pid of the box init.
    pub pid: i32,
    /// A pidfd for the box init.
    pub pidfd: OwnedFd,
    /// The server's end of the box's control socket.
    pub control: OwnedFd,
}

#[derive(Debug)]
struct Connection {
    channel: AsyncChannel,
    child: Child,
}

impl Connection {
    /// Whether the jailer still runs (a jailer that died while idle is
    /// replaced before the next request, which then does not fail).
    fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills and reaps the jailer. Its boxes live on (their inits belong
    /// to the jailer's subreaper only until it dies; they are then
    /// re-parented and keep running until the server destroys them).
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Shared = Arc<Mutex<Option<Connection>>>;

/// The jailer process and its channel. Requests are serialized, each
/// exchange runs to its end on a task of its own (a caller dropped midway
/// cannot leave a reply in the socket for the next caller), and replies
/// are matched to requests by id. A jailer that died or answered out of
/// turn is killed and started again on the next request.
#[derive(Debug)]
pub struct JailerClient {
    binary: PathBuf,
    connection: Shared,
    next_request: AtomicU64,
}

impl JailerClient {
    /// Starts the jailer.
    pub fn start(binary: &Path) -> Result<JailerClient, SandboxError> {
        let connection = spawn(binary)?;
        Ok(JailerClient {
            binary: binary.to_path_buf(),
            connection: Arc::new(Mutex::new(Some(connection))),
            next_request: AtomicU64::new(1),
        })
    }

    /// Asks the jailer to fork a spare into a future box's init cgroup.
    pub async fn prepare_spare(&self, spare: &str, cgroup_procs: Vec<OwnedFd>) -> Result<(), SandboxError> {
        let request = JailerRequest::PrepareSpare { spare: spare.to_string() };
        self.detached(move |connection| async move {
            let raw: Vec<RawFd> = cgroup_procs.iter().map(AsRawFd::as_raw_fd).collect();
            let sent = connection.channel.send(&request, &raw).await.map_err(|e| e.to_string());
            (connection, sent)
        })
        .await
        .map_err(|e| SandboxError::Unavailable(format!("jailer: {e}")))
    }

    /// Asks the jailer to start a box: in the named spare, or (with the
    /// init leaf's `cgroup.procs` files) in a fresh process.
    pub async fn create_box(
        &self,
        setup: BoxSetup,
        spare: Option<String>,
        cgroup_procs: Vec<OwnedFd>,
    ) -> Result<StartedBox, SandboxError> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let box_id = setup.box_id.clone();
        let reply = self
            .detached(move |connection| async move {
                let exchanged = async {
                    let raw: Vec<RawFd> = cgroup_procs.iter().map(AsRawFd::as_raw_fd).collect();
                    let message = JailerRequest::CreateBox { request, setup, spare };
                    connection.channel.send(&message, &raw).await.map_err(|e| e.to_string())?;
                    drop(cgroup_procs);
                    let mut buffer = vec![0u8; EVENT_BUFFER];
                    match connection.channel.recv::<JailerReply>(&mut buffer).await {
                        Ok(Some(reply)) if reply_id(&reply.0) == request => Ok(reply),
                        Ok(Some((other, _))) => Err(format!("the jailer answered out of turn: {other:?}")),
                        Ok(None) => Err("the jailer exited".to_string()),
                        Err(e) => Err(e.to_string()),
                    }
                }
                .await;
                (connection, exchanged)
            })
            .await
            .map_err(|e| SandboxError::Unavailable(format!("jailer: {e}; it will be restarted")))?;
        match reply {
            (JailerReply::BoxStarted { box_id: echoed, pid, .. }, fds) if echoed == box_id && fds.len() == 2 => {
                let mut fds = fds.into_iter();
                match (fds.next(), fds.next()) {
                    (Some(pidfd), Some(control)) => Ok(StartedBox { pid, pidfd, control }),
                    _ => Err(SandboxError::Internal("the jailer sent too few descriptors".into())),
                }
            }
            (JailerReply::CreateFailed { error, .. }, _) if error == SPARE_GONE => Err(SandboxError::BoxGone(error)),
            (JailerReply::CreateFailed { error, .. }, _) => Err(SandboxError::Unavailable(error)),
            (other, _) => Err(SandboxError::Internal(format!("unexpected jailer reply {other:?}"))),
        }
    }

    /// Runs one exchange with the jailer on a task of its own, holding the
    /// connection (started first if needed) for the whole exchange. A
    /// failed exchange leaves the channel in an unknown state: the jailer
    /// is killed, and the next request starts a new one.
    async fn detached<T, F, Fut>(&self, exchange: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(Connection) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = (Connection, Result<T, String>)> + Send,
    {
        let shared = self.connection.clone();
        let binary = self.binary.clone();
        let task = tokio::spawn(async move {
            let mut guard = shared.lock_owned().await;
            let connection = match guard.take() {
                Some(mut connection) => match connection.is_alive() {
                    true => connection,
                    false => {
                        connection.kill();
                        spawn(&binary).map_err(|e| e.to_string())?
                    }
                },
                None => spawn(&binary).map_err(|e| e.to_string())?,
            };
            let (connection, result) = exchange(connection).await;
            match result {
                Ok(_) => *guard = Some(connection),
                Err(_) => connection.kill(),
            }
            result
        });
        task.await.map_err(|e| format!("jailer task: {e}"))?
    }

    /// Stops the jailer.
    pub async fn stop(&self) {
        if let Some(connection) = self.connection.lock().await.take() {
            connection.kill();
        }
    }

    /// Stops the jailer without awaiting (for `Drop`).
    pub fn stop_now(&self) {
        if let Ok(mut guard) = self.connection.try_lock() {
            if let Some(connection) = guard.take() {
                connection.kill();
            }
        }
    }
}

/// The request id a reply echoes.
fn reply_id(reply: &JailerReply) -> u64 {
    match reply {
        JailerReply::BoxStarted { request, .. } | JailerReply::CreateFailed { request, .. } => *request,
    }
}

/// Starts the jailer with its control socket on fd 3 and an empty
/// environment. This is a plain fork+exec by the standard library; all
/// the privileged forking happens inside the jailer.
fn spawn(binary: &Path) -> Result<Connection, SandboxError> {
    if !binary.is_file() {
        return Err(SandboxError::Unavailable(format!(
            "the jailer helper {} does not exist; build it with `cargo build` (it ships next to the bytesbox binary)",
            binary.display()
        )));
    }
    let (server_end, jail_end) = seqpacket_pair().map_err(|e| SandboxError::Internal(format!("socketpair: {e}")))?;
    let raw = jail_end.as_raw_fd();
    let mut command = Command::new(binary);
    command.env_clear().stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    // SAFETY: the closure runs between fork and exec and only calls the
    // async-signal-safe dup2/fcntl on descriptors we own.
    unsafe {
        command.pre_exec(move || {
            if raw == bytesbox_jail::jailer::CONTROL_FD {
                if libc::fcntl(raw, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, bytesbox_jail::jailer::CONTROL_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| SandboxError::Unavailable(format!("cannot start the jailer {}: {e}", binary.display())))?;
    drop(jail_end);
    let channel = AsyncChannel::new(server_end).map_err(|e| SandboxError::Internal(format!("jailer channel: {e}")))?;
    Ok(Connection { channel, child })
}

/// The `bytesbox-jail` binary next to this executable (or one level up,
/// for test and bench executables in `deps/`).
pub(crate) fn default_jail_binary() -> Result<PathBuf, SandboxError> {
    let exe = std::env::current_exe().map_err(|e| SandboxError::Unavailable(format!("current_exe: {e}")))?;
    let dir = exe.parent().ok_or_else(|| SandboxError::Unavailable("the executable has no directory".into()))?;
    // Test and bench executables live one level down, in `deps/`.
    for candidate in [dir.join("bytesbox-jail"), dir.join("../bytesbox-jail")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(SandboxError::Unavailable(format!(
        "the jailer helper `bytesbox-jail` was not found next to {}; build the whole workspace \
         (`cargo build --release`) or set the native backend's jail_binary",
        exe.display()
    )))
}
