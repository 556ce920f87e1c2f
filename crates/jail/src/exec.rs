//! The last steps of a run's process before `execve`, in two phases:
//! [`harden`] (session, capabilities, seccomp), which a launcher does ahead
//! of time, and [`exec_child`] (stdio, rlimits, credentials, `execve`).
//!
//! This code runs in a child forked from the single-threaded box init, so
//! it may allocate; still, everything is prepared before the fork so the
//! child only makes system calls.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use bytesbox_seccomp::CompiledPolicy;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::{Gid, Uid};

use crate::protocol::{RunRlimits, EXEC_MARKER};

/// A program ready to execute, built before the fork.
#[derive(Debug)]
pub struct PreparedExec {
    /// Candidate executables in `PATH` order.
    pub candidates: Vec<CString>,
    /// argv.
    pub argv: Vec<CString>,
    /// Complete environment.
    pub env: Vec<CString>,
    /// Working directory.
    pub cwd: CString,
    /// Unprivileged uid.
    pub uid: u32,
    /// Unprivileged gid.
    pub gid: u32,
    /// Per-process limits.
    pub rlimits: RunRlimits,
}

impl PreparedExec {
    /// Builds the exec plan: `argv[0]` is searched in the environment's
    /// `PATH` unless it contains a `/`.
    pub fn new(
        argv: &[String],
        env: &[String],
        cwd: &str,
        uid: u32,
        gid: u32,
        rlimits: RunRlimits,
    ) -> Result<Self, String> {
        let to_c = |s: &str| CString::new(s).map_err(|_| format!("NUL byte in {s:?}"));
        let program = argv.first().ok_or("empty argv")?;
        let candidates = if program.contains('/') {
            vec![to_c(program)?]
        } else {
            let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("/usr/local/bin:/usr/bin:/bin");
            path.split(':')
                .filter(|dir| dir.starts_with('/'))
                .map(|dir| to_c(&format!("{}/{program}", dir.trim_end_matches('/'))))
                .collect::<Result<_, _>>()?
        };
        Ok(PreparedExec {
            candidates,
            argv: argv.iter().map(|a| to_c(a)).collect::<Result<_, _>>()?,
            env: env.iter().map(|e| to_c(e)).collect::<Result<_, _>>()?,
            cwd: to_c(cwd)?,
            uid,
            gid,
            rlimits,
        })
    }
}

/// The standard streams a child gets.
#[derive(Debug)]
pub enum ChildStdio {
    /// stdin read end, stdout and stderr write ends.
    Pipes { stdin: OwnedFd, stdout: OwnedFd, stderr: OwnedFd },
    /// A PTY slave, made the controlling terminal, for stdin and stdout,
    /// and for stderr unless it has a terminal (slave) of its own.
    Pty { slave: OwnedFd, stderr: Option<OwnedFd> },
}

impl ChildStdio {
    /// Where the run's error output goes.
    pub fn stderr(&self) -> &OwnedFd {
        match self {
            ChildStdio::Pipes { stderr, .. } => stderr,
            ChildStdio::Pty { stderr: Some(stderr), .. } => stderr,
            ChildStdio::Pty { slave, stderr: None } => slave,
        }
    }
}

/// Highest capability number we try to drop; dropping an unknown one
/// fails with EINVAL, which ends the loop.
const CAP_SCAN_LIMIT: libc::c_ulong = 64;

/// Everything that does not depend on the run, and so may happen ahead of
/// time in a launcher: default signal state, a new session, an empty
/// capability bounding set, no_new_privs and the seccomp filters. The
/// process stays root (uid 0, unsignalable by box users) until the run's
/// credentials are set. The seccomp policy does not block any call made
/// after this point (see `policy/default.toml`).
pub fn harden(seccomp: &CompiledPolicy) -> nix::Result<()> {
    // The init blocks SIGCHLD for its signalfd; both the mask and ignored
    // signals pass through execve. Rust ignores SIGPIPE, and the server may
    // have been started with more ignored: a background job of a
    // non-interactive shell ignores SIGINT and SIGQUIT, `nohup` SIGHUP.
    // A program, and a terminal's Ctrl+C, must get the defaults.
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    restore_default_dispositions()?;
    nix::unistd::setsid()?;
    drop_bounding_set()?;
    seccomp.install().map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EPERM)))
}

/// Every signal's disposition back to the default, real-time ones too.
/// The system call itself: the C library refuses the two real-time signals
/// it keeps for its threads (32 and 33), which a server's environment may
/// still have ignored, and this process is about to become another program.
fn restore_default_dispositions() -> nix::Result<()> {
    // The kernel's `struct sigaction`, all zero: SIG_DFL, no flags, no
    // restorer, nothing blocked during a handler (zero in every field
    // order the architectures use).
    let default = [0u64; 4];
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads a zeroed sigaction (SIG_DFL) of the
        // kernel's size and writes nothing back (a null old action); the
        // last argument is the kernel's sigset size, 8 bytes.
        let done = unsafe {
            libc::syscall(libc::SYS_rt_sigaction, signal, default.as_ptr(), std::ptr::null_mut::<u64>(), 8usize)
        };
        if done != 0 {
            return Err(nix::Error::last());
        }
    }
    Ok(())
}

/// Joins the run's cgroups ("0" means the writing process).
pub fn join_cgroups(cgroup_procs: &[OwnedFd]) -> nix::Result<()> {
    for procs in cgroup_procs {
        nix::unistd::write(procs, b"0")?;
    }
    Ok(())
}

/// Becomes the user's program. Never returns.
///
/// Writes [`EXEC_MARKER`] to `ready` (a launcher's) once the run's stdio is
/// in place, so the init knows the request arrived. If the program cannot be executed,
/// the reason goes to the run's stderr, as a shell would print it, and the
/// process exits with 127 (126 for permission problems).
pub fn exec_child(prepared: &PreparedExec, stdio: &ChildStdio, ready: Option<&OwnedFd>) -> ! {
    let error = match attach_stdio(stdio) {
        Ok(()) => {
            if let Some(ready) = ready {
                // SAFETY: a one-byte write from a static buffer to a pipe
                // whose reader waits for it.
                unsafe { libc::write(ready.as_raw_fd(), [EXEC_MARKER].as_ptr().cast(), 1) };
            }
            match become_program(prepared) {
                Ok(never) => match never {},
                Err(errno) => errno,
            }
        }
        Err(errno) => errno,
    };
    let program = prepared.argv.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let (message, code) = match error {
        nix::Error::ENOENT => (format!("{program}: command not found\n"), 127),
        nix::Error::EACCES => (format!("{program}: permission denied\n"), 126),
        other => (format!("{program}: cannot execute: {}\n", other.desc()), 126),
    };
    // SAFETY: writing a live buffer to our stderr, then leaving without
    // running destructors or atexit handlers, which belong to the
    // parent's copy of this process image.
    unsafe {
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(code);
    }
}

enum Never {}

/// Puts the run's stdio on fds 0-2 and marks every other descriptor
/// close-on-exec.
fn attach_stdio(stdio: &ChildStdio) -> nix::Result<()> {
    match stdio {
        ChildStdio::Pipes { stdin, stdout, stderr } => {
            dup_onto(stdin.as_raw_fd(), 0)?;
            dup_onto(stdout.as_raw_fd(), 1)?;
            dup_onto(stderr.as_raw_fd(), 2)?;
        }
        ChildStdio::Pty { slave, stderr } => {
            // SAFETY: TIOCSCTTY on a terminal fd we own, with argument 0
            // (do not steal another session's terminal). We are a session
            // leader since `harden`.
            if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
                return Err(nix::Error::last());
            }
            dup_onto(slave.as_raw_fd(), 0)?;
            dup_onto(slave.as_raw_fd(), 1)?;
            dup_onto(stderr.as_ref().unwrap_or(slave).as_raw_fd(), 2)?;
        }
    }
    // SAFETY: close_range only changes flags on our own descriptor table.
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// The run's own limits and identity, then `execve` along `PATH`.
fn become_program(prepared: &PreparedExec) -> Result<Never, nix::Error> {
    let limits = prepared.rlimits;
    setrlimit(Resource::RLIMIT_NOFILE, limits.open_files, limits.open_files)?;
    setrlimit(Resource::RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes)?;
    setrlimit(Resource::RLIMIT_STACK, limits.stack_bytes, limits.stack_bytes)?;
    setrlimit(Resource::RLIMIT_CORE, 0, 0)?;
    setrlimit(Resource::RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1)?;
    switch_user(prepared.uid, prepared.gid)?;
    nix::unistd::chdir(prepared.cwd.as_c_str())?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));

    let mut last = nix::Error::ENOENT;
    for candidate in &prepared.candidates {
        match nix::unistd::execve(candidate, &prepared.argv, &prepared.env) {
            Err(e @ (nix::Error::ENOENT | nix::Error::ENOTDIR)) => {
                if last != nix::Error::EACCES {
                    last = e;
                }
            }
            Err(nix::Error::EACCES) => last = nix::Error::EACCES,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn dup_onto(fd: RawFd, target: RawFd) -> nix::Result<()> {
    // SAFETY: dup2 onto a standard stream number; the previous descriptor
    // there (if any) is ours to replace.
    if unsafe { libc::dup2(fd, target) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// Empties the capability bounding set and the ambient set, so nothing
/// this process or its children execute can ever regain a capability.
fn drop_bounding_set() -> nix::Result<()> {
    for cap in 0..CAP_SCAN_LIMIT {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and changes
        // only this process's bounding set.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } < 0 {
            if nix::Error::last() == nix::Error::EINVAL {
                break;
            }
            return Err(nix::Error::last());
        }
    }
    // SAFETY: clearing the ambient capability set of this process.
    if unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// Switches to the unprivileged ids, which clears the permitted and
/// effective capability sets.
fn switch_user(uid: u32, gid: u32) -> nix::Result<()> {
    nix::unistd::setgroups(&[Gid::from_raw(gid)])?;
    let (gid, uid) = (Gid::from_raw(gid), Uid::from_raw(uid));
    nix::unistd::setresgid(gid, gid, gid)?;
    nix::unistd::setresuid(uid, uid, uid)?;
    // Belt and braces: a uid of 0 here would be a configuration bug.
    if nix::unistd::geteuid().is_root() {
        return Err(nix::Error::EPERM);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RunRlimits {
        RunRlimits { open_files: 64, file_size_bytes: 1 << 20, stack_bytes: 8 << 20, cpu_seconds: 5 }
    }

    #[test]
    fn bare_names_are_searched_in_the_run_path() {
        let env = vec!["PATH=/usr/local/bin:relative:/usr/bin/".to_string()];
        let prepared =
            PreparedExec::new(&["python3".into(), "-c".into()], &env, "/workspace", 1000, 1000, limits()).unwrap();
        let candidates: Vec<_> = prepared.candidates.iter().map(|c| c.to_str().unwrap()).collect();
        assert_eq!(candidates, ["/usr/local/bin/python3", "/usr/bin/python3"]);
    }

    #[test]
    fn paths_with_a_slash_are_used_as_given() {
        let prepared = PreparedExec::new(&["./a.out".into()], &[], "/workspace", 1000, 1000, limits()).unwrap();
        assert_eq!(prepared.candidates.len(), 1);
        assert_eq!(prepared.candidates[0].to_str().unwrap(), "./a.out");
    }

    #[test]
    fn nul_bytes_are_rejected() {
        assert!(PreparedExec::new(&["a\0b".into()], &[], "/", 1, 1, limits()).is_err());
        assert!(PreparedExec::new(&[], &[], "/", 1, 1, limits()).is_err());
    }
}
