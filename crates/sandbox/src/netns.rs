//! A listening socket inside a box's network namespace, for the server to
//! accept on (the egress proxy: `docs/egress.md`). The box gets no
//! interface and no process of ours: only a socket on its own loopback
//! whose other end is the server.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use crate::SandboxError;

/// Binds a TCP listener to `127.0.0.1:port` in the network namespace that
/// `namespace` refers to (a `/proc/PID/ns/net` descriptor, or a pidfd of a
/// process in it), non-blocking. The `setns` happens on a thread made for
/// it, which ends right after: no thread of a pool ever changes namespace,
/// and the process forks nothing.
pub async fn listen_in_namespace(namespace: OwnedFd, port: u16) -> Result<OwnedFd, SandboxError> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("netns-listen".into())
        .spawn(move || {
            let _ = sender.send(listen_here(&namespace, port));
        })
        .map_err(|e| SandboxError::Internal(format!("thread for a listener in a box: {e}")))?;
    receiver
        .await
        .map_err(|_| SandboxError::Internal("the listener thread ended without an answer".into()))?
        .map_err(|e| SandboxError::Internal(format!("listening on 127.0.0.1:{port} in the box: {e}")))
}

/// On the calling thread, which must be one made for this and end after:
/// enters the namespace and binds.
fn listen_here(namespace: &OwnedFd, port: u16) -> std::io::Result<OwnedFd> {
    // SAFETY: `setns` on a descriptor we own; it changes only this
    // thread's network namespace, and this thread ends after the bind.
    if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    listener.set_nonblocking(true)?;
    Ok(OwnedFd::from(listener))
}
