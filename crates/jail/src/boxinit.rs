//! The box init: pid 1 of a box's pid namespace.
//!
//! It builds the root filesystem, then serves the server's requests on its
//! control socket in a single-threaded poll loop: start programs (fork +
//! exec), deliver signals, reap children and report exits. When the
//! control socket closes (the server destroyed the box or died), it exits,
//! and the kernel kills everything else in the pid namespace.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use bytesbox_seccomp::CompiledPolicy;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::channel;
use crate::error::SetupError;
use crate::events::EventLoop;
use crate::exec::{exec_child, harden, join_cgroups, ChildStdio, PreparedExec};
use crate::launchers::{Launchers, Prepared};
use crate::mounts::{execute, RealSyscalls};
use crate::protocol::{BoxSetup, InitEvent, InitRequest, RunRequest, EXEC_MARKER, LAUNCHER_GONE};

/// Runs the box init. Never returns.
pub fn box_init_main(setup: BoxSetup, control: OwnedFd, seccomp: &CompiledPolicy) -> ! {
    // SAFETY: prctl with integer arguments on this process only.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_NAME, c"bytesbox-init".as_ptr(), 0, 0, 0);
    }
    let workspace = match build_box(&setup) {
        Ok(workspace) => workspace,
        Err(error) => {
            let _ = channel::send(control.as_fd(), &InitEvent::SetupFailed { error: error.to_string() }, &[]);
            // SAFETY: leaving the process without unwinding.
            unsafe { libc::_exit(1) }
        }
    };
    if channel::send(control.as_fd(), &InitEvent::Ready, &[workspace.as_raw_fd()]).is_err() {
        // SAFETY: leaving the process without unwinding.
        unsafe { libc::_exit(1) }
    }
    drop(workspace);
    let code = match serve(&setup, &control, seccomp) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    // SAFETY: leaving the process without unwinding.
    unsafe { libc::_exit(code) }
}

/// Builds the box's filesystem, hostname and network; returns an `O_PATH`
/// descriptor of the workspace for the server's file operations.
fn build_box(setup: &BoxSetup) -> Result<OwnedFd, SetupError> {
    quiet_stdio()?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(SetupError::syscall("make / private"))?;
    let root = Path::new(&setup.new_root);
    mount(
        Some("tmpfs"),
        root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=1m,nr_inodes=4096,mode=755"),
    )
    .map_err(SetupError::syscall("mount the root tmpfs"))?;
    execute(&mut RealSyscalls, root, &setup.mounts)?;

    nix::unistd::chdir(root).map_err(SetupError::syscall("chdir to the new root"))?;
    nix::unistd::pivot_root(".", ".").map_err(SetupError::syscall("pivot_root"))?;
    // The old root is now stacked on top of the new one; detach it.
    umount2(".", MntFlags::MNT_DETACH).map_err(SetupError::syscall("detach the old root"))?;
    nix::unistd::chdir("/").map_err(SetupError::syscall("chdir /"))?;
    let read_only_root =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(None::<&str>, "/", None::<&str>, read_only_root, None::<&str>)
        .map_err(SetupError::syscall("make the root read-only"))?;

    nix::unistd::sethostname(&setup.hostname).map_err(SetupError::syscall("sethostname"))?;
    crate::net::bring_up_loopback()?;

    open(
        setup.workspace_dir.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(SetupError::syscall("open the workspace"))
}

/// Points the init's own stdio at `/dev/null`: nothing it inherits from
/// the server should be reachable from the box.
fn quiet_stdio() -> Result<(), SetupError> {
    let null = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(SetupError::syscall("open /dev/null"))?;
    for target in 0..3 {
        // SAFETY: dup2 onto the standard streams of this process.
        if unsafe { libc::dup2(null.as_raw_fd(), target) } < 0 {
            return Err(SetupError::Syscall { what: "dup2 /dev/null", errno: nix::Error::last() });
        }
    }
    Ok(())
}

/// A process forked ahead of time into the next run's cgroup, and the
/// socket its run request goes through.
type Launcher = Prepared<OwnedFd>;

/// The request loop.
fn serve(setup: &BoxSetup, control: &OwnedFd, seccomp: &CompiledPolicy) -> Result<(), SetupError> {
    let events = EventLoop::new()?;
    let mut runs: HashMap<Pid, u64> = HashMap::new();
    let mut launchers: Launchers<OwnedFd> = Launchers::new();
    let mut buffer = Vec::new();
    loop {
        let wakeup = events.wait(control)?;
        if wakeup.children {
            reap(control, &mut runs, &mut launchers)?;
        }
        if wakeup.control {
            let Some((request, fds)) = channel::recv::<InitRequest>(control.as_fd(), &mut buffer)? else {
                return Ok(());
            };
            match request {
                InitRequest::Run(run) => {
                    let run_id = run.run_id;
                    let ready = run.launcher.and_then(|id| launchers.take(id));
                    let result = match (run.launcher, ready) {
                        (Some(_), None) => Err(LAUNCHER_GONE.to_string()),
                        (_, ready) => start_run(setup, &run, fds, seccomp, ready),
                    };
                    match result {
                        Ok((pid, stdio)) => {
                            runs.insert(pid, run_id);
                            let raw: Vec<RawFd> = stdio.iter().map(AsRawFd::as_raw_fd).collect();
                            channel::send(control.as_fd(), &InitEvent::RunStarted { run_id, pid: pid.as_raw() }, &raw)?;
                        }
                        Err(error) => channel::send(control.as_fd(), &InitEvent::RunFailed { run_id, error }, &[])?,
                    }
                }
                InitRequest::PrepareLauncher { launcher } => {
                    let given_up = fork_launcher(setup, fds, control, &events, seccomp)
                        .and_then(|(pid, link)| launchers.add(Prepared { id: launcher, pid, link }));
                    if let Some(old) = given_up {
                        let _ = kill(old.pid, Signal::SIGKILL);
                    }
                }
                InitRequest::Signal { run_id, signal } => {
                    if let Some((&pid, _)) = runs.iter().find(|(_, id)| **id == run_id) {
                        deliver(pid, signal);
                    }
                }
            }
        }
    }
}

/// Forks a launcher: it joins the given cgroups now, then waits for one
/// run request and becomes that program.
fn fork_launcher(
    setup: &BoxSetup,
    cgroup_procs: Vec<OwnedFd>,
    control: &OwnedFd,
    events: &EventLoop,
    seccomp: &CompiledPolicy,
) -> Option<(Pid, OwnedFd)> {
    events.fork_connected(control, |launcher_end| {
        if join_cgroups(&cgroup_procs).is_err() || harden(seccomp).is_err() {
            return 1;
        }
        drop(cgroup_procs);
        launcher_main(setup, launcher_end)
    })
}

/// The launcher's life: wait for a run, then become it.
fn launcher_main(setup: &BoxSetup, socket: OwnedFd) -> ! {
    let mut buffer = Vec::new();
    if let Ok(Some((run, fds))) = channel::recv::<RunRequest>(socket.as_fd(), &mut buffer) {
        let mut fds = fds.into_iter();
        let (stdio, ready) = match (run.pty.is_some(), fds.next(), fds.next(), fds.next(), fds.next()) {
            (true, Some(slave), Some(ready), None, None) => (ChildStdio::Pty { slave, stderr: None }, ready),
            (true, Some(slave), Some(stderr), Some(ready), None) => {
                (ChildStdio::Pty { slave, stderr: Some(stderr) }, ready)
            }
            (false, Some(stdin), Some(stdout), Some(stderr), Some(ready)) => {
                (ChildStdio::Pipes { stdin, stdout, stderr }, ready)
            }
            // SAFETY: leaving the child without unwinding.
            _ => unsafe { libc::_exit(1) },
        };
        drop(socket);
        match PreparedExec::new(&run.argv, &run.env, &run.cwd, setup.uid, setup.gid, run.rlimits) {
            Ok(prepared) => exec_child(&prepared, &stdio, Some(&ready)),
            Err(message) => {
                let _ = nix::unistd::write(&ready, &[EXEC_MARKER]);
                let _ = nix::unistd::write(stdio.stderr(), format!("bytesbox: {message}\n").as_bytes());
            }
        }
    }
    // SAFETY: leaving the child without unwinding.
    unsafe { libc::_exit(1) }
}

/// Signals the run's process group (it is a session leader), falling back
/// to the process alone if the group is gone.
fn deliver(pid: Pid, signal: i32) {
    let Ok(signal) = Signal::try_from(signal) else { return };
    if kill(Pid::from_raw(-pid.as_raw()), signal).is_err() {
        let _ = kill(pid, signal);
    }
}

/// Reaps every exited child; reports runs' main processes.
fn reap(control: &OwnedFd, runs: &mut HashMap<Pid, u64>, launchers: &mut Launchers<OwnedFd>) -> Result<(), SetupError> {
    loop {
        let status = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(nix::Error::ECHILD) => return Ok(()),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(SetupError::Syscall { what: "waitpid", errno: e }),
            Ok(status) => status,
        };
        let (pid, code, signal) = match status {
            WaitStatus::Exited(pid, code) => (pid, Some(code), None),
            WaitStatus::Signaled(pid, signal, _) => (pid, None, Some(signal as i32)),
            _ => continue,
        };
        launchers.exited(pid);
        if let Some(run_id) = runs.remove(&pid) {
            channel::send(control.as_fd(), &InitEvent::RunExited { run_id, code, signal }, &[])?;
        }
    }
}

/// Starts one program, in the launcher when one is given, else in a fresh
/// fork that joins the run's cgroups. Returns its pid and the server's
/// ends of its stdio.
fn start_run(
    setup: &BoxSetup,
    run: &RunRequest,
    cgroup_procs: Vec<OwnedFd>,
    seccomp: &CompiledPolicy,
    launcher: Option<Launcher>,
) -> Result<(Pid, Vec<OwnedFd>), String> {
    let (child_stdio, server_stdio) =
        make_stdio(run.pty, run.stderr_apart, setup.uid, setup.gid).map_err(|e| format!("stdio: {e}"))?;
    let (ready_read, ready_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let pid = match launcher {
        Some(launcher) => {
            let mut raw: Vec<RawFd> = match &child_stdio {
                ChildStdio::Pty { slave, stderr } => {
                    [Some(slave), stderr.as_ref()].into_iter().flatten().map(|fd| fd.as_raw_fd()).collect()
                }
                ChildStdio::Pipes { stdin, stdout, stderr } => {
                    vec![stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()]
                }
            };
            raw.push(ready_write.as_raw_fd());
            if channel::send(launcher.link.as_fd(), run, &raw).is_err() {
                let _ = kill(launcher.pid, Signal::SIGKILL);
                return Err(LAUNCHER_GONE.into());
            }
            drop(child_stdio);
            drop(ready_write);
            // The marker proves the launcher took the request; without it
            // the launcher died and the server retries the slow way. The
            // launcher is root and unsignalable by box users, so this wait
            // is short.
            let mut marker = [0u8; 1];
            if read_full(&ready_read, &mut marker) != 1 || marker[0] != EXEC_MARKER {
                let _ = kill(launcher.pid, Signal::SIGKILL);
                return Err(LAUNCHER_GONE.into());
            }
            launcher.pid
        }
        None => {
            let prepared = PreparedExec::new(&run.argv, &run.env, &run.cwd, setup.uid, setup.gid, run.rlimits)?;
            // SAFETY: the init is single-threaded, so the child may do
            // anything, including allocate, before it executes the program.
            match unsafe { fork() } {
                Err(e) => return Err(format!("fork: {e}")),
                Ok(ForkResult::Child) => {
                    drop(server_stdio);
                    drop(ready_read);
                    if join_cgroups(&cgroup_procs).is_err() || harden(seccomp).is_err() {
                        // SAFETY: leaving the child without unwinding; the
                        // server sees the run exit with 126 at once.
                        unsafe { libc::_exit(126) }
                    }
                    drop(cgroup_procs);
                    drop(ready_write);
                    exec_child(&prepared, &child_stdio, None)
                }
                // No need to wait for the child: it is ours, in its
                // cgroups before it runs any user code, and reports its own
                // exec failures on its stderr.
                Ok(ForkResult::Parent { child }) => child,
            }
        }
    };
    Ok((pid, server_stdio))
}

fn read_full(fd: &OwnedFd, buffer: &mut [u8]) -> usize {
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

/// Pipes, or a PTY from the box's own devpts (and a second one for stderr
/// when it is apart). The server's ends come in the order it reads them:
/// stdin, stdout, stderr; or the PTY's master, then stderr's PTY's master.
fn make_stdio(
    pty: Option<(u16, u16)>,
    stderr_apart: bool,
    uid: u32,
    gid: u32,
) -> nix::Result<(ChildStdio, Vec<OwnedFd>)> {
    let Some((rows, cols)) = pty else {
        let (stdin_r, stdin_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (stdout_r, stdout_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (stderr_r, stderr_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        return Ok((
            ChildStdio::Pipes { stdin: stdin_r, stdout: stdout_w, stderr: stderr_w },
            vec![stdin_w, stdout_r, stderr_r],
        ));
    };
    let size = nix::pty::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    let terminal = open_terminal(&size, uid, gid)?;
    if !stderr_apart {
        return Ok((ChildStdio::Pty { slave: terminal.slave, stderr: None }, vec![terminal.master]));
    }
    // stderr's own terminal of the same size: the program sees a terminal
    // on all three (colours, unbuffered stderr), and its output and errors
    // take the same path through the kernel, so they keep their order
    // about as well as the program wrote it (a pipe for stderr overtakes
    // the terminal's output, which a kernel worker moves to the master
    // later).
    let errors = open_terminal(&size, uid, gid)?;
    Ok((ChildStdio::Pty { slave: terminal.slave, stderr: Some(errors.slave) }, vec![terminal.master, errors.master]))
}

/// A PTY of `size` whose slave the box's user owns, both ends close-on-exec.
fn open_terminal(size: &nix::pty::Winsize, uid: u32, gid: u32) -> nix::Result<nix::pty::OpenptyResult> {
    let pair = nix::pty::openpty(Some(size), None)?;
    nix::unistd::fchown(&pair.slave, Some(uid.into()), Some(gid.into()))?;
    for end in [&pair.master, &pair.slave] {
        nix::fcntl::fcntl(end, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))?;
    }
    Ok(pair)
}
