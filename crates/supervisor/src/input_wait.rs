//! Whether a run is waiting for its input, read from `/proc`.
//!
//! A program at a prompt should not spend its wall time (the person may
//! be reading, or away for a minute), but a program that sleeps, spins or
//! waits on a socket should. So a run counts as waiting for input only
//! when none of its threads is doing anything else: every thread is
//! asleep, none in a timed sleep or a wait with a timeout, and at least
//! one is blocked reading its terminal or its stdin pipe, or in an
//! untimed `poll`/`select`/`epoll_wait` whose descriptors include its
//! terminal or stdin pipe (Node, Go and Ruby wait for a keypress in their
//! event loop, not in `read`; a database client polling only its socket
//! is busy). Threads parked on a futex or waiting for a child are
//! neither: they wait for another thread or process of the run, whose own
//! state decides.
//!
//! The rules are pure functions over what `/proc` shows ([`ProcessView`]),
//! so they are tested without a kernel; [`run_waits_for_input`] reads the
//! files: a thread's `stat` and `syscall`, its process's descriptors, the
//! `pollfd` array or `fd_set` in its memory, an epoll's `fdinfo`.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// What one thread is doing, as far as input waits are concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadWait {
    /// Running, in a timed sleep or wait, stopped, or blocked on something
    /// other than input: the run is not waiting for its input.
    Busy,
    /// Waiting for another thread or process of the run (a futex, a
    /// child): it says nothing either way.
    Neutral,
    /// Blocked until the person types something.
    Input,
}

/// The state letter of a `/proc/<tid>/stat` line (after the command name,
/// which may itself hold spaces and parentheses).
pub fn thread_state(stat: &str) -> Option<char> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().next()?.chars().next()
}

/// A blocked system call as `/proc/<tid>/syscall` shows it: its number and
/// its six arguments. `None` while the thread runs or is blocked outside a
/// system call.
pub fn blocked_syscall(text: &str) -> Option<(i64, [u64; 6])> {
    let mut fields = text.split_whitespace();
    let number: i64 = fields.next()?.parse().ok()?;
    if number < 0 {
        return None;
    }
    let mut args = [0u64; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    Some((number, args))
}

/// Whether a descriptor's target (`readlink /proc/<pid>/fd/<n>`) is a
/// terminal.
fn is_terminal(target: &str) -> bool {
    target.starts_with("/dev/pts/") || target.starts_with("/dev/tty") || target == "/dev/console"
}

/// Whether a descriptor's target is a pipe.
fn is_pipe(target: &str) -> bool {
    target.starts_with("pipe:")
}

/// What the rules need to know of a thread's process beyond the thread's
/// own files.
pub trait ProcessView {
    /// Where descriptor `fd` points (`readlink /proc/<pid>/fd/<fd>`), a
    /// named pipe as `pipe:<path>`.
    fn fd_target(&self, fd: u64) -> Option<String>;
    /// The descriptors a blocked poll waits on; `None` when they cannot be
    /// read.
    fn polled_fds(&self, poll: &Poll) -> Option<Vec<u64>>;
}

/// A blocked call that waits on several descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// `poll`/`ppoll`: an array of `struct pollfd` at `address`.
    PollFds {
        /// Where the array is in the process's memory.
        address: u64,
        /// Its length.
        count: u64,
    },
    /// `select`/`pselect6`: the read set, a bitmap of `nfds` bits.
    ReadSet {
        /// Where the bitmap is in the process's memory (0: none).
        address: u64,
        /// How many descriptors it covers.
        nfds: u64,
    },
    /// `epoll_wait` and its variants: what the epoll descriptor watches.
    Epoll {
        /// The epoll descriptor.
        epfd: u64,
    },
}

/// How a thread blocked in a call that waits on descriptors waits.
enum Waiting {
    /// Reading this descriptor.
    Reads(u64),
    /// Polling these with no timeout.
    PollsForever(Poll),
    /// Anything that ends by itself.
    Timed,
    /// Waiting for another thread or process.
    OnTheRun,
    /// Something else (a socket's `accept`, a lock, ...).
    Other,
}

fn waiting(number: i64, args: [u64; 6]) -> Waiting {
    let untimed_pointer = |arg: u64, poll| if arg == 0 { Waiting::PollsForever(poll) } else { Waiting::Timed };
    // An `int` timeout: negative means for ever.
    let untimed_int =
        |arg: u64, poll| if (arg as u32 as i32) < 0 { Waiting::PollsForever(poll) } else { Waiting::Timed };
    let poll_fds = Poll::PollFds { address: args[0], count: args[1] };
    let read_set = Poll::ReadSet { address: args[1], nfds: args[0] };
    let epoll = Poll::Epoll { epfd: args[0] };
    match number {
        libc::SYS_read | libc::SYS_readv => Waiting::Reads(args[0]),
        libc::SYS_ppoll => untimed_pointer(args[2], poll_fds),
        libc::SYS_pselect6 => untimed_pointer(args[4], read_set),
        libc::SYS_epoll_pwait => untimed_int(args[3], epoll),
        libc::SYS_epoll_pwait2 => untimed_pointer(args[3], epoll),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll => untimed_int(args[2], poll_fds),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_select => untimed_pointer(args[4], read_set),
        #[cfg(target_arch = "x86_64")]
        libc::SYS_epoll_wait => untimed_int(args[3], epoll),
        libc::SYS_futex | libc::SYS_wait4 | libc::SYS_waitid | libc::SYS_rt_sigsuspend => Waiting::OnTheRun,
        #[cfg(target_arch = "x86_64")]
        libc::SYS_pause => Waiting::OnTheRun,
        libc::SYS_nanosleep | libc::SYS_clock_nanosleep | libc::SYS_rt_sigtimedwait => Waiting::Timed,
        _ => Waiting::Other,
    }
}

/// Whether a read of descriptor `fd` waits for the person: its terminal,
/// or its stdin pipe (any other pipe of the run is fed by another of its
/// processes, whose state decides: `None`).
fn reads_input(process: &dyn ProcessView, fd: u64) -> Option<bool> {
    match process.fd_target(fd) {
        Some(target) if is_terminal(&target) => Some(true),
        Some(target) if is_pipe(&target) => {
            if fd == 0 || process.fd_target(0).as_deref() == Some(target.as_str()) {
                Some(true)
            } else {
                None
            }
        }
        _ => Some(false),
    }
}

/// One thread's part, from its `stat` and `syscall` files and what its
/// process shows.
pub fn classify_thread(stat: &str, syscall: &str, process: &dyn ProcessView) -> ThreadWait {
    match thread_state(stat) {
        // Asleep: what it waits for decides.
        Some('S') => {}
        // A zombie thread no longer counts.
        Some('Z' | 'X') => return ThreadWait::Neutral,
        // Running, in uninterruptible I/O, or stopped (a stopped run is
        // not waiting for its input).
        _ => return ThreadWait::Busy,
    }
    let Some((number, args)) = blocked_syscall(syscall) else { return ThreadWait::Busy };
    match waiting(number, args) {
        Waiting::Reads(fd) => match reads_input(process, fd) {
            Some(true) => ThreadWait::Input,
            Some(false) => ThreadWait::Busy,
            None => ThreadWait::Neutral,
        },
        // Waiting on the person if the person's descriptor is among those
        // polled (a program may also wait on others: `input_wait_ms`
        // bounds it); on something else otherwise.
        Waiting::PollsForever(poll) => match process.polled_fds(&poll) {
            Some(fds) if fds.iter().any(|&fd| reads_input(process, fd) == Some(true)) => ThreadWait::Input,
            Some(fds) if !fds.is_empty() && fds.iter().all(|&fd| reads_input(process, fd).is_none()) => {
                ThreadWait::Neutral
            }
            _ => ThreadWait::Busy,
        },
        Waiting::OnTheRun => ThreadWait::Neutral,
        Waiting::Timed | Waiting::Other => ThreadWait::Busy,
    }
}

/// Whether a whole run waits for input: no thread busy, one waiting for
/// input.
pub fn run_waits(threads: impl IntoIterator<Item = ThreadWait>) -> bool {
    let mut input = false;
    for thread in threads {
        match thread {
            ThreadWait::Busy => return false,
            ThreadWait::Input => input = true,
            ThreadWait::Neutral => {}
        }
    }
    input
}

/// A process as `/proc/<pid>` shows it.
struct ProcProcess {
    dir: std::path::PathBuf,
}

/// The most descriptors read from a poll's arguments: a program cannot
/// make a check read much of its memory.
const MAX_POLLED: u64 = 1024;

impl ProcessView for ProcProcess {
    fn fd_target(&self, fd: u64) -> Option<String> {
        describe_fd(&self.dir.join("fd").join(fd.to_string()))
    }

    fn polled_fds(&self, poll: &Poll) -> Option<Vec<u64>> {
        use std::os::unix::fs::FileExt;
        let memory = || fs::File::open(self.dir.join("mem")).ok();
        match *poll {
            Poll::PollFds { address, count } => {
                // struct pollfd: int fd; short events; short revents.
                let mut bytes = vec![0u8; usize::try_from(count.min(MAX_POLLED)).ok()? * 8];
                memory()?.read_exact_at(&mut bytes, address).ok()?;
                let fds =
                    bytes.chunks_exact(8).map(|entry| i32::from_ne_bytes([entry[0], entry[1], entry[2], entry[3]]));
                // A negative fd is an entry the kernel skips.
                Some(fds.filter_map(|fd| u64::try_from(fd).ok()).collect())
            }
            Poll::ReadSet { address: 0, .. } => Some(Vec::new()),
            Poll::ReadSet { address, nfds } => {
                let nfds = nfds.min(MAX_POLLED);
                let mut bytes = vec![0u8; usize::try_from(nfds.div_ceil(8)).ok()?];
                memory()?.read_exact_at(&mut bytes, address).ok()?;
                // An fd_set's bits are in longs of the machine's order.
                Some((0..nfds).filter(|&fd| read_set_has(&bytes, fd)).collect())
            }
            Poll::Epoll { epfd } => {
                let info = fs::read_to_string(self.dir.join("fdinfo").join(epfd.to_string())).ok()?;
                Some(epoll_targets(&info))
            }
        }
    }
}

/// Whether descriptor `fd` is in an `fd_set` read as bytes (little-endian
/// longs: bit `fd % 8` of byte `fd / 8`; big-endian machines are not
/// among the ones Bytesbox runs on).
fn read_set_has(bytes: &[u8], fd: u64) -> bool {
    usize::try_from(fd / 8).ok().and_then(|index| bytes.get(index)).is_some_and(|byte| byte & (1 << (fd % 8)) != 0)
}

/// The descriptors an epoll watches, from its `fdinfo` (`tfd: N ...`).
pub fn epoll_targets(fdinfo: &str) -> Vec<u64> {
    fdinfo
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("tfd:"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .take(MAX_POLLED as usize)
        .collect()
}

/// Where a descriptor (`/proc/<pid>/fd/<n>`) points, with a named pipe
/// (a FIFO, as container engines give a process for stdin) written as a
/// pipe too: `pipe:<its path>`.
fn describe_fd(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?.to_string_lossy().into_owned();
    if !is_pipe(&target) && fs::metadata(link).is_ok_and(|m| m.file_type().is_fifo()) {
        return Some(format!("pipe:{target}"));
    }
    Some(target)
}

/// Whether the processes `pids` (a run's cgroup) wait for input, read from
/// `/proc`. False when anything cannot be read: the wall clock then runs
/// as for any other run.
pub fn run_waits_for_input(pids: &[i32]) -> bool {
    if pids.is_empty() {
        return false;
    }
    let mut threads = Vec::new();
    for &pid in pids {
        let process = Path::new("/proc").join(pid.to_string());
        let Ok(tasks) = fs::read_dir(process.join("task")) else { return false };
        let view = ProcProcess { dir: process };
        for task in tasks {
            let Ok(task) = task else { return false };
            let dir = task.path();
            let (Ok(stat), Ok(syscall)) =
                (fs::read_to_string(dir.join("stat")), fs::read_to_string(dir.join("syscall")))
            else {
                return false;
            };
            let thread = classify_thread(&stat, &syscall, &view);
            if thread == ThreadWait::Busy {
                return false;
            }
            threads.push(thread);
        }
    }
    run_waits(threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLEEPING: &str = "4242 (python3) S 1 4242 4242 34816 4242 4194560 0 0";
    const RUNNING: &str = "4242 (python3) R 1 4242 4242 34816 4242 4194560 0 0";

    fn syscall(number: i64, args: [u64; 6]) -> String {
        let args: Vec<String> = args.iter().map(|a| format!("0x{a:x}")).collect();
        format!("{number} {} 0x7ffd1234 0x7f001234\n", args.join(" "))
    }

    /// A process: where its descriptors point, and what a poll of it waits
    /// on.
    struct Fake {
        fds: fn(u64) -> Option<String>,
        polled: Option<Vec<u64>>,
    }

    impl ProcessView for Fake {
        fn fd_target(&self, fd: u64) -> Option<String> {
            (self.fds)(fd)
        }

        fn polled_fds(&self, _poll: &Poll) -> Option<Vec<u64>> {
            self.polled.clone()
        }
    }

    /// fd 0 is a terminal, fd 3 a pipe of the run, fd 4 a socket.
    fn terminal_fds(fd: u64) -> Option<String> {
        match fd {
            0..=2 => Some("/dev/pts/0".into()),
            3 => Some("pipe:[777]".into()),
            4 => Some("socket:[888]".into()),
            _ => None,
        }
    }

    /// fd 0 is a pipe, and fd 5 the same pipe; fd 3 another pipe.
    fn pipe_fds(fd: u64) -> Option<String> {
        match fd {
            0 | 5 => Some("pipe:[100]".into()),
            3 => Some("pipe:[777]".into()),
            _ => None,
        }
    }

    const TERMINAL: Fake = Fake { fds: terminal_fds, polled: None };
    const PIPE: Fake = Fake { fds: pipe_fds, polled: None };

    fn polling(fds: fn(u64) -> Option<String>, polled: &[u64]) -> Fake {
        Fake { fds, polled: Some(polled.to_vec()) }
    }

    #[test]
    fn the_state_letter_is_read_after_the_last_parenthesis() {
        assert_eq!(thread_state(SLEEPING), Some('S'));
        assert_eq!(thread_state("7 (a) b) c) R 1 2"), Some('R'));
        assert_eq!(thread_state("garbage"), None);
    }

    #[test]
    fn a_running_or_unreadable_syscall_is_no_wait() {
        assert_eq!(blocked_syscall("running\n"), None);
        assert_eq!(blocked_syscall("-1 0x7ffd 0x7f00\n"), None);
        assert_eq!(blocked_syscall("0 0x0 0x5"), None, "six arguments are needed");
        assert_eq!(blocked_syscall(&syscall(0, [0, 0x10, 0x400, 0, 0, 0])), Some((0, [0, 0x10, 0x400, 0, 0, 0])));
    }

    #[test]
    fn reading_the_terminal_or_the_stdin_pipe_is_waiting_for_input() {
        let read_fd = |fd| syscall(libc::SYS_read, [fd, 0x1000, 1024, 0, 0, 0]);
        assert_eq!(classify_thread(SLEEPING, &read_fd(0), &TERMINAL), ThreadWait::Input);
        assert_eq!(classify_thread(SLEEPING, &read_fd(0), &PIPE), ThreadWait::Input);
        assert_eq!(classify_thread(SLEEPING, &read_fd(5), &PIPE), ThreadWait::Input, "a copy of stdin");
        // A pipe between two processes of the run: the writer decides.
        assert_eq!(classify_thread(SLEEPING, &read_fd(3), &PIPE), ThreadWait::Neutral);
        // A socket is not the person.
        assert_eq!(classify_thread(SLEEPING, &read_fd(4), &TERMINAL), ThreadWait::Busy);
        // A read that cannot be looked at counts as work.
        assert_eq!(classify_thread(SLEEPING, &read_fd(9), &TERMINAL), ThreadWait::Busy);
    }

    #[test]
    fn an_untimed_poll_waits_for_input_only_if_it_polls_the_persons_descriptor() {
        let forever = syscall(libc::SYS_epoll_pwait, [5, 0x1000, 1024, u32::MAX as u64, 0, 8]);
        let timed = syscall(libc::SYS_epoll_pwait, [5, 0x1000, 1024, 100, 0, 8]);
        assert_eq!(classify_thread(SLEEPING, &forever, &polling(terminal_fds, &[4, 0])), ThreadWait::Input);
        // A database client polling its socket is busy.
        assert_eq!(classify_thread(SLEEPING, &forever, &polling(terminal_fds, &[4])), ThreadWait::Busy);
        assert_eq!(classify_thread(SLEEPING, &forever, &polling(pipe_fds, &[3])), ThreadWait::Neutral);
        assert_eq!(classify_thread(SLEEPING, &forever, &TERMINAL), ThreadWait::Busy, "unreadable: busy");
        assert_eq!(classify_thread(SLEEPING, &timed, &polling(terminal_fds, &[0])), ThreadWait::Busy);
        let ppoll_forever = syscall(libc::SYS_ppoll, [0x1000, 1, 0, 0, 8, 0]);
        let ppoll_timed = syscall(libc::SYS_ppoll, [0x1000, 1, 0x2000, 0, 8, 0]);
        assert_eq!(classify_thread(SLEEPING, &ppoll_forever, &polling(pipe_fds, &[5])), ThreadWait::Input);
        assert_eq!(classify_thread(SLEEPING, &ppoll_timed, &polling(pipe_fds, &[5])), ThreadWait::Busy);
        let pselect_forever = syscall(libc::SYS_pselect6, [1, 0x1000, 0, 0, 0, 0]);
        assert_eq!(classify_thread(SLEEPING, &pselect_forever, &polling(terminal_fds, &[0])), ThreadWait::Input);
    }

    #[test]
    fn sleeping_running_and_stopped_threads_are_busy_and_futexes_neutral() {
        let read_stdin = syscall(libc::SYS_read, [0, 0x1000, 1024, 0, 0, 0]);
        assert_eq!(classify_thread(RUNNING, &read_stdin, &TERMINAL), ThreadWait::Busy);
        assert_eq!(classify_thread("1 (x) T 1", &read_stdin, &TERMINAL), ThreadWait::Busy);
        assert_eq!(classify_thread("1 (x) D 1", &read_stdin, &TERMINAL), ThreadWait::Busy);
        assert_eq!(classify_thread("1 (x) Z 1", "running", &TERMINAL), ThreadWait::Neutral);
        let nanosleep = syscall(libc::SYS_clock_nanosleep, [0, 0, 0x1000, 0, 0, 0]);
        assert_eq!(classify_thread(SLEEPING, &nanosleep, &TERMINAL), ThreadWait::Busy);
        let futex = syscall(libc::SYS_futex, [0x1000, 0x80, 0, 0, 0, 0]);
        assert_eq!(classify_thread(SLEEPING, &futex, &TERMINAL), ThreadWait::Neutral);
        let wait4 = syscall(libc::SYS_wait4, [u64::MAX, 0x1000, 0, 0, 0, 0]);
        assert_eq!(classify_thread(SLEEPING, &wait4, &TERMINAL), ThreadWait::Neutral);
        let accept = syscall(libc::SYS_accept4, [3, 0, 0, 0, 0, 0]);
        assert_eq!(classify_thread(SLEEPING, &accept, &TERMINAL), ThreadWait::Busy);
    }

    #[test]
    fn a_run_waits_only_if_no_thread_is_busy_and_one_waits_for_input() {
        use ThreadWait::*;
        assert!(run_waits([Neutral, Input, Neutral]));
        assert!(!run_waits([Input, Busy]));
        assert!(!run_waits([Neutral, Neutral]));
        assert!(!run_waits([]));
        assert!(!run_waits_for_input(&[]));
    }

    #[test]
    fn what_a_poll_waits_on_is_read_from_its_arguments() {
        let info = "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n\
                    tfd:        0 events:       19 data:                0  pos:0 ino:3 sdev:18\n\
                    tfd:       12 events:       19 data:                c  pos:0 ino:2f7 sdev:8\n";
        assert_eq!(epoll_targets(info), vec![0, 12]);
        // fds 0 and 9 in a read set.
        let set = [0b0000_0001u8, 0b0000_0010];
        assert_eq!((0..16).filter(|&fd| read_set_has(&set, fd)).collect::<Vec<_>>(), vec![0, 9]);
        // The process's own memory: a pollfd array on this thread's stack.
        let pollfds: [libc::pollfd; 2] =
            [libc::pollfd { fd: 7, events: 1, revents: 0 }, libc::pollfd { fd: -1, events: 1, revents: 0 }];
        let me = ProcProcess { dir: Path::new("/proc/self").to_path_buf() };
        let address = pollfds.as_ptr() as u64;
        assert_eq!(me.polled_fds(&Poll::PollFds { address, count: 2 }), Some(vec![7]), "a negative fd is skipped");
    }

    #[test]
    fn a_named_pipe_counts_as_a_pipe() {
        let dir = std::env::temp_dir().join(format!("input-wait-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("a temporary directory");
        let fifo = dir.join("stdin");
        let c_path = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).expect("no NUL");
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&fifo, &link).expect("a symlink standing for /proc/<pid>/fd/<n>");
        assert_eq!(describe_fd(&link), Some(format!("pipe:{}", fifo.display())));
        let file = dir.join("file");
        fs::write(&file, b"").expect("a plain file");
        let file_link = dir.join("file-link");
        std::os::unix::fs::symlink(&file, &file_link).expect("a symlink");
        assert_eq!(describe_fd(&file_link), Some(file.display().to_string()));
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
