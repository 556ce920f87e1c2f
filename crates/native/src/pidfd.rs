//! The box init's pidfd: killing it ends the box's pid namespace, and it
//! turns readable once the init has exited.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Sends SIGKILL through a pidfd.
pub(crate) fn kill(pidfd: &OwnedFd) {
    // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo, no flags.
    unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_fd().as_raw_fd(), libc::SIGKILL, std::ptr::null::<()>(), 0);
    }
}

/// Whether the process behind the pidfd has exited (without waiting).
pub(crate) fn has_exited(pidfd: &OwnedFd) -> bool {
    let mut fds = [nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
    matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
}
