//! The event loop of the jailer and the box init: one `poll` over the
//! control socket and SIGCHLD (as a signalfd), single-threaded.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{fork, ForkResult, Pid};

use crate::channel;
use crate::error::SetupError;

/// What woke the loop up.
#[derive(Debug, Clone, Copy)]
pub struct Wakeup {
    /// The control socket is readable (or closed).
    pub control: bool,
    /// At least one child changed state; reap with `waitpid(WNOHANG)`.
    pub children: bool,
}

/// SIGCHLD delivered as a descriptor.
#[derive(Debug)]
pub struct EventLoop {
    signals: SignalFd,
}

impl EventLoop {
    /// Blocks SIGCHLD and opens its signalfd. Children must unblock it
    /// before `execve` (see `exec::harden`).
    pub fn new() -> Result<EventLoop, SetupError> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block().map_err(SetupError::syscall("block SIGCHLD"))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(SetupError::syscall("signalfd"))?;
        Ok(EventLoop { signals })
    }

    /// Waits until the control socket is readable or a child exited.
    pub fn wait(&self, control: &OwnedFd) -> Result<Wakeup, SetupError> {
        loop {
            let mut fds =
                [PollFd::new(control.as_fd(), PollFlags::POLLIN), PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(SetupError::Syscall { what: "poll", errno: e }),
                Ok(_) => {}
            }
            let wakeup = Wakeup {
                control: fds[0].revents().is_some_and(|r| !r.is_empty()),
                children: fds[1].revents().is_some_and(|r| !r.is_empty()),
            };
            if wakeup.children {
                while self.signals.read_signal().ok().flatten().is_some() {}
            }
            return Ok(wakeup);
        }
    }

    /// Forks a child connected to this process by a new packet socket.
    /// The child closes this loop's descriptors (see
    /// [`EventLoop::detach_child`]), runs `body` with its end of the socket
    /// and exits with the code `body` returns; the parent gets the child's
    /// pid and its own end.
    pub fn fork_connected(&self, control: &OwnedFd, body: impl FnOnce(OwnedFd) -> i32) -> Option<(Pid, OwnedFd)> {
        let (parent_end, child_end) = channel::seqpacket_pair().ok()?;
        // SAFETY: the loop's process (jailer or box init) is
        // single-threaded, so the child may do anything before it exits.
        match unsafe { fork() } {
            Err(_) => None,
            Ok(ForkResult::Child) => {
                drop(parent_end);
                self.detach_child(control);
                let code = body(child_end);
                // SAFETY: leaving the child without unwinding: destructors
                // and atexit handlers belong to the parent's copy.
                unsafe { libc::_exit(code) }
            }
            Ok(ForkResult::Parent { child }) => Some((child, parent_end)),
        }
    }

    /// In a child just forked from the loop's process: closes the parent's
    /// control socket and signalfd, which the child has no business with.
    pub fn detach_child(&self, control: &OwnedFd) {
        let _ = nix::unistd::close(control.as_raw_fd());
        let _ = nix::unistd::close(self.signals.as_fd().as_raw_fd());
    }
}
