//! Starting and talking to the `bytesbox-jail` helper.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

/// The jailer process and its channel. Requests are serialized; a jailer
/// that died is started again on the next request.
#[derive(Debug)]
pub struct JailerClient {
    binary: PathBuf,
    connection: Mutex<Option<Connection>>,
}

impl JailerClient {
    /// Starts the jailer.
    pub fn start(binary: &Path) -> Result<JailerClient, SandboxError> {
        let connection = spawn(binary)?;
        Ok(JailerClient { binary: binary.to_path_buf(), connection: Mutex::new(Some(connection)) })
    }

    /// Asks the jailer to fork a spare into a future box's init cgroup.
    pub async fn prepare_spare(&self, spare: &str, cgroup_procs: &[OwnedFd]) -> Result<(), SandboxError> {
        let mut guard = self.connection.lock().await;
        if guard.is_none() {
            *guard = Some(spawn(&self.binary)?);
        }
        let Some(connection) = guard.as_mut() else {
            return Err(SandboxError::Unavailable("the jailer is not running".into()));
        };
        let raw: Vec<RawFd> = cgroup_procs.iter().map(AsRawFd::as_raw_fd).collect();
        connection
            .channel
            .send(&JailerRequest::PrepareSpare { spare: spare.to_string() }, &raw)
            .await
            .map_err(|e| SandboxError::Unavailable(format!("jailer: {e}")))
    }

    /// Asks the jailer to start a box: in the named spare, or (with the
    /// init leaf's `cgroup.procs` files) in a fresh process.
    pub async fn create_box(
        &self,
        setup: BoxSetup,
        spare: Option<String>,
        cgroup_procs: &[OwnedFd],
    ) -> Result<StartedBox, SandboxError> {
        let mut guard = self.connection.lock().await;
        if guard.is_none() {
            *guard = Some(spawn(&self.binary)?);
        }
        let Some(connection) = guard.as_mut() else {
            return Err(SandboxError::Unavailable("the jailer is not running".into()));
        };
        let raw: Vec<RawFd> = cgroup_procs.iter().map(AsRawFd::as_raw_fd).collect();
        let box_id = setup.box_id.clone();
        let exchange = async {
            connection.channel.send(&JailerRequest::CreateBox { setup, spare }, &raw).await?;
            let mut buffer = vec![0u8; EVENT_BUFFER];
            connection.channel.recv::<JailerReply>(&mut buffer).await
        };
        match exchange.await {
            Ok(Some((JailerReply::BoxStarted { box_id: echoed, pid }, fds))) if echoed == box_id && fds.len() == 2 => {
                let mut fds = fds.into_iter();
                match (fds.next(), fds.next()) {
                    (Some(pidfd), Some(control)) => Ok(StartedBox { pid, pidfd, control }),
                    _ => Err(SandboxError::Internal("the jailer sent too few descriptors".into())),
                }
            }
            Ok(Some((JailerReply::CreateFailed { error, .. }, _))) if error == SPARE_GONE => {
                Err(SandboxError::BoxGone(error))
            }
            Ok(Some((JailerReply::CreateFailed { error, .. }, _))) => Err(SandboxError::Unavailable(error)),
            Ok(Some((other, _))) => Err(SandboxError::Internal(format!("unexpected jailer reply {other:?}"))),
            Ok(None) | Err(_) => {
                // The jailer is gone or confused: reap it and start afresh
                // next time.
                if let Some(mut dead) = guard.take() {
                    let _ = dead.child.kill();
                    let _ = dead.child.wait();
                }
                Err(SandboxError::Unavailable("the jailer helper exited; it will be restarted".into()))
            }
        }
    }

    /// Stops the jailer.
    pub async fn stop(&self) {
        if let Some(mut connection) = self.connection.lock().await.take() {
            let _ = connection.child.kill();
            let _ = connection.child.wait();
        }
    }

    /// Stops the jailer without awaiting (for `Drop`).
    pub fn stop_now(&self) {
        if let Ok(mut guard) = self.connection.try_lock() {
            if let Some(mut connection) = guard.take() {
                let _ = connection.child.kill();
                let _ = connection.child.wait();
            }
        }
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
