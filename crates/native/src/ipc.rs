//! Async packets with file descriptors, over the jailer's and box inits'
//! `SOCK_SEQPACKET` sockets.

use std::os::fd::{AsFd, OwnedFd, RawFd};

use bytesbox_jail::channel::{self, ChannelError};
use nix::sys::socket::MsgFlags;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Receive buffer for replies and events, which are all small; a larger
/// packet is reported as truncated rather than growing every box's memory.
pub const EVENT_BUFFER: usize = 16 * 1024;

/// One end of a packet socket, driven by tokio.
#[derive(Debug)]
pub struct AsyncChannel {
    fd: AsyncFd<OwnedFd>,
}

impl AsyncChannel {
    /// Wraps a connected socket, making it non-blocking.
    pub fn new(fd: OwnedFd) -> std::io::Result<AsyncChannel> {
        let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)?;
        let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
        Ok(AsyncChannel { fd: register(fd, Interest::READABLE | Interest::WRITABLE)? })
    }

    /// Sends one message with `fds` attached.
    pub async fn send<T: Serialize>(&self, message: &T, fds: &[RawFd]) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(message).map_err(|e| ChannelError::Malformed(e.to_string()))?;
        loop {
            let mut guard = self.fd.writable().await.map_err(|e| ChannelError::Io(io_to_nix(&e)))?;
            match channel::send_bytes(self.fd.get_ref().as_fd(), &bytes, fds, MsgFlags::MSG_DONTWAIT) {
                Err(ChannelError::Io(nix::Error::EAGAIN)) => guard.clear_ready(),
                other => return other,
            }
        }
    }

    /// Receives one message; `Ok(None)` when the peer closed.
    pub async fn recv<T: DeserializeOwned>(
        &self,
        buffer: &mut [u8],
    ) -> Result<Option<(T, Vec<OwnedFd>)>, ChannelError> {
        loop {
            let mut guard = self.fd.readable().await.map_err(|e| ChannelError::Io(io_to_nix(&e)))?;
            match channel::recv_bytes(self.fd.get_ref().as_fd(), buffer, MsgFlags::MSG_DONTWAIT) {
                Err(ChannelError::Io(nix::Error::EAGAIN)) => guard.clear_ready(),
                Ok(Some((len, fds))) => return channel::decode(&buffer[..len]).map(|m| Some((m, fds))),
                Ok(None) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

fn io_to_nix(error: &std::io::Error) -> nix::Error {
    nix::Error::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

/// Registers an owned descriptor with tokio's reactor.
pub fn register(fd: OwnedFd, interest: Interest) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the raw fd
    // stays open and refers to the same file until the AsyncFd is dropped.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts().1)
}
