//! The jailer: a small privileged process that makes boxes.
//!
//! The server starts it once (it is this crate's binary) with one end of a
//! `SOCK_SEQPACKET` socket as fd 3. It is single-threaded, so it may fork
//! freely; making a box costs two forks of a small process instead of an
//! exec. For each box:
//!
//! 1. fork a child `A`, which joins the box's cgroups and unshares every
//!    namespace (mount, pid, net, ipc, uts, cgroup);
//! 2. `A` forks `B`, pid 1 of the new pid namespace, reports `B`'s pid and
//!    exits; `B` builds the box and becomes its init;
//! 3. the jailer (a child subreaper, so `B` is re-parented to it and cannot
//!    be reaped by anyone else) opens a pidfd for `B` and hands the server
//!    that pidfd and the box's control socket.
//!
//! Step 1's cgroup join is a cgroup migration, and on cgroup v1 the first
//! migration after an idle spell waits for an RCU grace period (about
//! 10 ms here). So the server asks for a *spare* ahead of time
//! (`PrepareSpare`): an `A` that has already joined the next box's cgroups
//! and waits for its set-up. Creating that box then costs no migration.
//!
//! The jailer dies with the server (`PR_SET_PDEATHSIG`), its spare and
//! intermediates with the jailer; box inits exit when their control socket
//! closes.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use bytesbox_seccomp::{CompiledPolicy, Policy};
use nix::fcntl::OFlag;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::{fork, ForkResult, Pid};

use crate::boxinit::box_init_main;
use crate::channel;
use crate::error::SetupError;
use crate::events::EventLoop;
use crate::exec::join_cgroups;
use crate::protocol::{BoxSetup, JailerReply, JailerRequest};

/// The fd on which the server passes the jailer its control socket.
pub const CONTROL_FD: RawFd = 3;

/// Every namespace a box gets.
const BOX_NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWPID)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWCGROUP);

/// Entry point of the `bytesbox-jail` binary. Returns the exit code.
pub fn jailer_main() -> i32 {
    let control = match take_control_socket() {
        Ok(fd) => fd,
        Err(message) => {
            eprintln!("bytesbox-jail: {message}");
            return 2;
        }
    };
    // SAFETY: prctl with integer arguments on this process only.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::prctl(libc::PR_SET_NAME, c"bytesbox-jail".as_ptr(), 0, 0, 0);
    }
    if nix::unistd::getppid() == Pid::from_raw(1) {
        eprintln!("bytesbox-jail: the server is already gone");
        return 1;
    }
    let seccomp = match Policy::default_policy().and_then(|p| p.compile()) {
        Ok(compiled) => compiled,
        Err(e) => {
            eprintln!("bytesbox-jail: cannot build the seccomp policy: {e}");
            return 1;
        }
    };
    match serve(&control, &seccomp) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bytesbox-jail: {e}");
            1
        }
    }
}

fn take_control_socket() -> Result<OwnedFd, String> {
    // SAFETY: fd 3 is only borrowed for this fstat; if it is not open the
    // call fails with EBADF.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(CONTROL_FD) };
    let stat = nix::sys::stat::fstat(borrowed).map_err(|_| {
        "this helper is started by the Bytesbox server (fd 3 must be its control socket); do not run it by hand"
            .to_string()
    })?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err("fd 3 is not a socket; this helper is started by the Bytesbox server".into());
    }
    // SAFETY: fd 3 was checked to be an open socket handed to us by the
    // server; we become its only owner.
    let fd = unsafe { OwnedFd::from_raw_fd(CONTROL_FD) };
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC)).map_err(|e| e.to_string())?;
    Ok(fd)
}

/// A process forked ahead of time into a future box's init cgroup.
struct Spare {
    name: String,
    pid: Pid,
    socket: OwnedFd,
}

/// Error text of a `CreateFailed` when the named spare is gone; the
/// server retries without it.
pub const SPARE_GONE: &str = "the prepared spare is gone";

fn serve(control: &OwnedFd, seccomp: &CompiledPolicy) -> Result<(), SetupError> {
    let events = EventLoop::new()?;
    let mut buffer = Vec::new();
    let mut spare: Option<Spare> = None;
    loop {
        let wakeup = events.wait(control)?;
        if wakeup.children {
            reap_exited_children(&mut spare);
        }
        if wakeup.control {
            let Some((request, fds)) = channel::recv::<JailerRequest>(control.as_fd(), &mut buffer)? else {
                return Ok(());
            };
            match request {
                JailerRequest::CreateBox { request, setup, spare: wanted } => {
                    let box_id = setup.box_id.clone();
                    let chosen = match &wanted {
                        Some(name) if spare.as_ref().is_some_and(|s| &s.name == name) => spare.take(),
                        _ => None,
                    };
                    let result = if wanted.is_some() && chosen.is_none() {
                        Err(SPARE_GONE.to_string())
                    } else {
                        start_box(setup, fds, control, &events, seccomp, chosen)
                    };
                    match result {
                        Ok((pid, pidfd, box_control)) => channel::send(
                            control.as_fd(),
                            &JailerReply::BoxStarted { request, box_id, pid: pid.as_raw() },
                            &[pidfd.as_raw_fd(), box_control.as_raw_fd()],
                        )?,
                        Err(error) => {
                            channel::send(control.as_fd(), &JailerReply::CreateFailed { request, box_id, error }, &[])?
                        }
                    }
                }
                JailerRequest::PrepareSpare { spare: name } => {
                    if let Some(old) = spare.take() {
                        let _ = nix::sys::signal::kill(old.pid, Signal::SIGKILL);
                    }
                    spare = fork_spare(name, fds, control, &events, seccomp);
                }
            }
        }
    }
}

/// Reaps exited children: intermediates, spares, and box inits that were
/// re-parented to us.
fn reap_exited_children(spare: &mut Option<Spare>) {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        match status.pid() {
            None => break,
            Some(pid) if spare.as_ref().is_some_and(|s| s.pid == pid) => *spare = None,
            Some(_) => {}
        }
    }
}

/// Forks a spare: it joins the given cgroups now, then waits for one box
/// set-up and carries it out.
fn fork_spare(
    name: String,
    cgroup_procs: Vec<OwnedFd>,
    jailer_control: &OwnedFd,
    events: &EventLoop,
    seccomp: &CompiledPolicy,
) -> Option<Spare> {
    let (pid, socket) = events.fork_connected(jailer_control, |spare_end| {
        die_with_jailer();
        if join_cgroups(&cgroup_procs).is_err() {
            return 1;
        }
        drop(cgroup_procs);
        let mut buffer = Vec::new();
        let Ok(Some((setup, fds))) = channel::recv::<BoxSetup>(spare_end.as_fd(), &mut buffer) else { return 1 };
        let mut fds = fds.into_iter();
        match (fds.next(), fds.next(), fds.next()) {
            (Some(init_end), Some(pid_write), None) => {
                drop(spare_end);
                become_box(setup, init_end, &pid_write, seccomp)
            }
            _ => 1,
        }
    })?;
    Some(Spare { name, pid, socket })
}

/// In a child of the jailer: drop the jailer's descriptors, and die with
/// the jailer.
fn detach_from_jailer(jailer_control: &OwnedFd, events: &EventLoop) {
    die_with_jailer();
    events.detach_child(jailer_control);
}

/// In a child of the jailer: be killed when the jailer exits.
fn die_with_jailer() {
    // SAFETY: prctl with integer arguments on this process only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
}

/// Starts one box, in the spare when one is given; returns its init's pid,
/// a pidfd for it, and the server's end of its control socket.
fn start_box(
    setup: BoxSetup,
    cgroup_procs: Vec<OwnedFd>,
    jailer_control: &OwnedFd,
    events: &EventLoop,
    seccomp: &CompiledPolicy,
    spare: Option<Spare>,
) -> Result<(Pid, OwnedFd, OwnedFd), String> {
    let (server_end, init_end) = channel::seqpacket_pair().map_err(|e| format!("socketpair: {e}"))?;
    let (pid_read, pid_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let intermediate = match spare {
        Some(spare) => {
            if channel::send(spare.socket.as_fd(), &setup, &[init_end.as_raw_fd(), pid_write.as_raw_fd()]).is_err() {
                let _ = nix::sys::signal::kill(spare.pid, Signal::SIGKILL);
                return Err(SPARE_GONE.into());
            }
            spare.pid
        }
        // SAFETY: the jailer is single-threaded; the child only makes
        // system calls and forks once more before exiting.
        None => match unsafe { fork() } {
            Err(e) => return Err(format!("fork: {e}")),
            Ok(ForkResult::Child) => {
                drop(pid_read);
                drop(server_end);
                detach_from_jailer(jailer_control, events);
                let code = match join_cgroups(&cgroup_procs) {
                    Ok(()) => {
                        drop(cgroup_procs);
                        become_box(setup, init_end, &pid_write, seccomp)
                    }
                    Err(errno) => {
                        let _ = nix::unistd::write(&pid_write, &(-(errno as i32)).to_ne_bytes());
                        1
                    }
                };
                // SAFETY: leaving the intermediate process without unwinding.
                unsafe { libc::_exit(code) }
            }
            Ok(ForkResult::Parent { child }) => child,
        },
    };
    drop(pid_write);
    drop(init_end);
    drop(cgroup_procs);
    let mut raw = [0u8; 4];
    let got = read_exact(&pid_read, &mut raw);
    let _ = waitpid(intermediate, None);
    if got != 4 {
        return Err("the box process died during start-up".into());
    }
    let pid = i32::from_ne_bytes(raw);
    if pid <= 0 {
        return Err(format!("entering the box namespaces failed: {}", nix::Error::from_raw(-pid).desc()));
    }
    let pidfd = pidfd_open(pid).map_err(|e| format!("pidfd_open: {e}"))?;
    Ok((Pid::from_raw(pid), pidfd, server_end))
}

/// In the intermediate: unshare every namespace, fork the box init, report
/// its pid. Returns the intermediate's exit code.
fn become_box(setup: BoxSetup, init_end: OwnedFd, pid_write: &OwnedFd, seccomp: &CompiledPolicy) -> i32 {
    if let Err(errno) = unshare(BOX_NAMESPACES) {
        let _ = nix::unistd::write(pid_write, &(-(errno as i32)).to_ne_bytes());
        return 1;
    }
    fork_box_init(setup, init_end, pid_write, seccomp)
}

/// In the intermediate: fork the box init and report its pid.
fn fork_box_init(setup: BoxSetup, init_end: OwnedFd, pid_write: &OwnedFd, seccomp: &CompiledPolicy) -> i32 {
    // SAFETY: the intermediate child is single-threaded.
    match unsafe { fork() } {
        Err(e) => {
            let _ = nix::unistd::write(pid_write, &(-(e as i32)).to_ne_bytes());
            1
        }
        Ok(ForkResult::Child) => {
            // The init must hold nothing of the jailer's (its control
            // socket would keep the server's channel alive): move the box's
            // control socket onto fd 3, replacing the jailer's, and close
            // everything above it.
            let raw = init_end.into_raw_fd();
            // SAFETY: dup2/close_range only rearrange this single-threaded
            // process's descriptor table; fd 3 is then owned by `control`.
            let control = unsafe {
                if raw != CONTROL_FD {
                    libc::dup2(raw, CONTROL_FD);
                }
                libc::syscall(libc::SYS_close_range, (CONTROL_FD + 1) as u32, u32::MAX, 0u32);
                OwnedFd::from_raw_fd(CONTROL_FD)
            };
            box_init_main(setup, control, seccomp)
        }
        Ok(ForkResult::Parent { child }) => {
            let _ = nix::unistd::write(pid_write, &child.as_raw().to_ne_bytes());
            0
        }
    }
}

fn read_exact(fd: &OwnedFd, buffer: &mut [u8]) -> usize {
    let mut filled = 0;
    while filled < buffer.len() {
        match nix::unistd::read(fd, &mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(nix::Error::EINTR) => continue,
            Err(_) => break,
        }
    }
    filled
}

/// `pidfd_open(2)`, which nix does not wrap.
pub fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the kernel returned a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
