//! The box's network: a private loopback, nothing else.

use std::os::fd::AsRawFd;

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::error::SetupError;

nix::ioctl_read_bad!(get_interface_flags, libc::SIOCGIFFLAGS, libc::ifreq);
nix::ioctl_write_ptr_bad!(set_interface_flags, libc::SIOCSIFFLAGS, libc::ifreq);

/// Brings up `lo` in the current (fresh) network namespace. A new network
/// namespace has only `lo`, down, and no routes; bringing it up gives the
/// box 127.0.0.1 and ::1 and nothing beyond.
pub fn bring_up_loopback() -> Result<(), SetupError> {
    let socket = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(SetupError::syscall("socket for loopback set-up"))?;
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are valid.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: `request` is a valid ifreq naming an interface; the kernel
    // fills in its flags field.
    unsafe { get_interface_flags(socket.as_raw_fd(), &mut request) }.map_err(SetupError::syscall("SIOCGIFFLAGS lo"))?;
    // SAFETY: reading the flags member the kernel just wrote.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    request.ifr_ifru.ifru_flags = flags | (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: `request` is a valid ifreq with the name and new flags set.
    unsafe { set_interface_flags(socket.as_raw_fd(), &request) }.map_err(SetupError::syscall("SIOCSIFFLAGS lo"))?;
    Ok(())
}
