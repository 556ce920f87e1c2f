//! Sending and receiving protocol packets with attached file descriptors.
//!
//! The functions here are blocking or non-blocking depending on the socket
//! and flags; the jailer and box init use them blocking, the server uses
//! them non-blocking behind tokio's `AsyncFd`.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use displaydoc::Display;
use nix::cmsg_space;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixAddr,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

/// Largest packet either side sends or accepts.
pub const MAX_PACKET: usize = 192 * 1024;
/// Most file descriptors attached to one packet.
pub const MAX_FDS: usize = 8;

/// Channel failures.
#[derive(Debug, Display, Error)]
pub enum ChannelError {
    /// socket error: {0}
    Io(#[from] nix::Error),
    /// a message of {0} bytes is larger than the packet limit
    TooLarge(usize),
    /// malformed message: {0}
    Malformed(String),
    /// a message arrived truncated
    Truncated,
    /// the peer closed the channel
    Closed,
}

/// A connected `SOCK_SEQPACKET` pair, both ends close-on-exec.
pub fn seqpacket_pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
}

/// Sends one message with `fds` attached.
pub fn send<T: Serialize>(socket: BorrowedFd<'_>, message: &T, fds: &[RawFd]) -> Result<(), ChannelError> {
    let bytes = serde_json::to_vec(message).map_err(|e| ChannelError::Malformed(e.to_string()))?;
    send_bytes(socket, &bytes, fds, MsgFlags::empty())
}

/// Sends pre-encoded bytes with `fds` attached.
pub fn send_bytes(socket: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd], flags: MsgFlags) -> Result<(), ChannelError> {
    if bytes.len() > MAX_PACKET {
        return Err(ChannelError::TooLarge(bytes.len()));
    }
    let iov = [IoSlice::new(bytes)];
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<UnixAddr>(socket.as_raw_fd(), &iov, cmsgs, flags | MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(nix::Error::EINTR) => continue,
            Err(nix::Error::EPIPE | nix::Error::ECONNRESET) => return Err(ChannelError::Closed),
            Err(e) => return Err(ChannelError::Io(e)),
        }
    }
}

/// Receives one packet into `buffer`, returning its length and the fds
/// that came with it. `Ok(None)` means the peer closed the channel.
pub fn recv_bytes(
    socket: BorrowedFd<'_>,
    buffer: &mut [u8],
    flags: MsgFlags,
) -> Result<Option<(usize, Vec<OwnedFd>)>, ChannelError> {
    let mut cmsg_buffer = cmsg_space!([RawFd; MAX_FDS]);
    loop {
        let mut iov = [IoSliceMut::new(buffer)];
        let received = recvmsg::<UnixAddr>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_buffer),
            flags | MsgFlags::MSG_CMSG_CLOEXEC,
        );
        let message = match received {
            Ok(message) => message,
            Err(nix::Error::EINTR) => continue,
            Err(nix::Error::ECONNRESET) => return Ok(None),
            Err(e) => return Err(ChannelError::Io(e)),
        };
        let mut fds = Vec::new();
        if let Ok(cmsgs) = message.cmsgs() {
            for cmsg in cmsgs {
                if let ControlMessageOwned::ScmRights(raw) = cmsg {
                    for fd in raw {
                        // SAFETY: the kernel just installed these descriptors
                        // in our table for us; nothing else owns them.
                        fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
            }
        }
        if message.flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) {
            return Err(ChannelError::Truncated);
        }
        if message.bytes == 0 && fds.is_empty() {
            return Ok(None);
        }
        return Ok(Some((message.bytes, fds)));
    }
}

/// Receives and decodes one message. `Ok(None)` means the peer closed.
pub fn recv<T: DeserializeOwned>(
    socket: BorrowedFd<'_>,
    buffer: &mut Vec<u8>,
) -> Result<Option<(T, Vec<OwnedFd>)>, ChannelError> {
    if buffer.len() < MAX_PACKET {
        // A fresh zeroed allocation this large comes from calloc/mmap and
        // is not touched until the kernel writes into it, so an idle box
        // init does not carry 192 KiB of dirty pages.
        *buffer = vec![0u8; MAX_PACKET];
    }
    let Some((len, fds)) = recv_bytes(socket, buffer, MsgFlags::empty())? else {
        return Ok(None);
    };
    decode(&buffer[..len]).map(|message| Some((message, fds)))
}

/// Decodes one message.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ChannelError> {
    serde_json::from_slice(bytes).map_err(|e| ChannelError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::protocol::InitEvent;

    #[test]
    fn messages_and_fds_cross_a_pair() {
        let (a, b) = seqpacket_pair().unwrap();
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        let event = InitEvent::RunStarted { run_id: 7, pid: 42 };
        use std::os::fd::AsFd;
        send(a.as_fd(), &event, &[read_end.as_raw_fd()]).unwrap();
        drop(read_end);
        let mut buffer = Vec::new();
        let (got, mut fds): (InitEvent, _) = recv(b.as_fd(), &mut buffer).unwrap().unwrap();
        assert!(matches!(got, InitEvent::RunStarted { run_id: 7, pid: 42 }));
        assert_eq!(fds.len(), 1);
        std::fs::File::from(write_end).write_all(b"through").unwrap();
        let mut text = String::new();
        std::fs::File::from(fds.remove(0)).read_to_string(&mut text).unwrap();
        assert_eq!(text, "through");
        drop(a);
        assert!(recv::<InitEvent>(b.as_fd(), &mut buffer).unwrap().is_none());
    }

    #[test]
    fn oversized_and_malformed_messages_are_errors() {
        let (a, b) = seqpacket_pair().unwrap();
        use std::os::fd::AsFd;
        let huge = vec![b'x'; MAX_PACKET + 1];
        assert!(matches!(send_bytes(a.as_fd(), &huge, &[], MsgFlags::empty()), Err(ChannelError::TooLarge(_))));
        send_bytes(a.as_fd(), b"{not json", &[], MsgFlags::empty()).unwrap();
        let mut buffer = Vec::new();
        assert!(matches!(recv::<InitEvent>(b.as_fd(), &mut buffer), Err(ChannelError::Malformed(_))));
    }
}
