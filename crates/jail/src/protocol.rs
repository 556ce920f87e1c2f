//! Messages between the server, the jailer and box inits.
//!
//! Transport: `SOCK_SEQPACKET` unix sockets, one JSON document per packet,
//! file descriptors attached with `SCM_RIGHTS`. Packets keep message
//! boundaries, so no framing is needed, and fds travel with the message
//! they belong to.

use serde::{Deserialize, Serialize};

use crate::mounts::MountOp;

/// Server → jailer.
#[derive(Debug, Serialize, Deserialize)]
pub enum JailerRequest {
    /// Create a box. Attached fds: the `cgroup.procs` files of the box's
    /// init leaf cgroup, one per hierarchy; or none, when `spare` names a
    /// spare made by `PrepareSpare`.
    CreateBox {
        /// Server-chosen id, echoed in the reply, so that a reply can
        /// never be taken for another request's.
        request: u64,
        /// How to build the box.
        setup: BoxSetup,
        /// Use this spare, already in the box's cgroups.
        spare: Option<String>,
    },
    /// Fork a process into a future box's init cgroup now, so that creating
    /// the box later needs no cgroup migration (on cgroup v1 the first
    /// migration after an idle spell waits for an RCU grace period, about
    /// 10 ms). Attached fds: the init leaf's `cgroup.procs` files. Replaces
    /// any earlier spare.
    PrepareSpare {
        /// Name for the spare (the future box id).
        spare: String,
    },
}

/// Jailer → server.
#[derive(Debug, Serialize, Deserialize)]
pub enum JailerReply {
    /// The box init is running (set-up continues in it). Attached fds: a
    /// pidfd of the box init, then the server's end of the box's control
    /// socket, on which the init reports `Ready` or `SetupFailed`.
    BoxStarted {
        /// Echo of the request's id.
        request: u64,
        /// Echo of the request's box id.
        box_id: String,
        /// Host pid of the box init.
        pid: i32,
    },
    /// The box could not even be started.
    CreateFailed {
        /// Echo of the request's id.
        request: u64,
        /// Echo of the request's box id.
        box_id: String,
        /// What went wrong.
        error: String,
    },
}

/// Everything a box init needs to build its box.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BoxSetup {
    /// Box identity, for messages and the hostname fallback.
    pub box_id: String,
    /// Hostname inside the box.
    pub hostname: String,
    /// Unprivileged uid that runs user programs.
    pub uid: u32,
    /// Its gid.
    pub gid: u32,
    /// Host directory the new root is mounted on (inside the box's private
    /// mount namespace only).
    pub new_root: String,
    /// Absolute in-box workspace path.
    pub workspace_dir: String,
    /// Steps that build the root filesystem, in order.
    pub mounts: Vec<MountOp>,
}

/// Server → box init.
#[derive(Debug, Serialize, Deserialize)]
pub enum InitRequest {
    /// Start a program. Attached fds: the run cgroup's `cgroup.procs`
    /// files, one per hierarchy; or none when `launcher` is set.
    Run(RunRequest),
    /// Fork a launcher into a future run's cgroup now (see
    /// `JailerRequest::PrepareSpare` for why). Attached fds: that cgroup's
    /// `cgroup.procs` files. The init holds at most `MAX_LAUNCHERS`; a new
    /// one beyond that replaces the oldest.
    PrepareLauncher {
        /// Server-chosen id; a run names the launcher it was given by it.
        launcher: u64,
    },
    /// Deliver a signal to a run's process group.
    Signal {
        /// Which run.
        run_id: u64,
        /// Signal number.
        signal: i32,
    },
}

/// A program to start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRequest {
    /// Server-chosen id, echoed in replies.
    pub run_id: u64,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Complete environment.
    pub env: Vec<String>,
    /// Absolute in-box working directory.
    pub cwd: String,
    /// A PTY of this size, or pipes when `None`.
    pub pty: Option<(u16, u16)>,
    /// Under a PTY, stderr on a second PTY of its own instead of the first.
    #[serde(default)]
    pub stderr_apart: bool,
    /// Resource limits applied with setrlimit.
    pub rlimits: RunRlimits,
    /// Start the program in this prepared launcher (already in the cgroup
    /// the server chose for the run). Only that launcher will do: another
    /// one sits in another run's cgroup, under other limits.
    pub launcher: Option<u64>,
}

/// How many prepared launchers a box init holds: the one a run is taking
/// and the one prepared for the run after it.
pub const MAX_LAUNCHERS: usize = 2;

/// Error text of a `RunFailed` when the launcher was gone; the server
/// retries without it.
pub const LAUNCHER_GONE: &str = "the prepared launcher is gone";

/// First byte a starting program writes to its exec-error pipe: it proves
/// the request arrived, so that a clean EOF afterwards means `execve`
/// succeeded and a bare EOF means the process died first.
pub const EXEC_MARKER: u8 = b'R';

/// Per-process limits.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct RunRlimits {
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// RLIMIT_FSIZE.
    pub file_size_bytes: u64,
    /// RLIMIT_STACK.
    pub stack_bytes: u64,
    /// RLIMIT_CPU soft limit in whole seconds (hard is one more).
    pub cpu_seconds: u64,
}

/// Box init → server.
#[derive(Debug, Serialize, Deserialize)]
pub enum InitEvent {
    /// The box is built. Attached fd: an `O_PATH` descriptor of the
    /// workspace directory.
    Ready,
    /// Building the box failed; the init exits after this.
    SetupFailed {
        /// What went wrong.
        error: String,
    },
    /// The program was executed. Attached fds: stdin (write end), stdout
    /// and stderr (read ends), or a single PTY master.
    RunStarted {
        /// Which run.
        run_id: u64,
        /// Pid inside the box.
        pid: i32,
    },
    /// The program could not be executed.
    RunFailed {
        /// Which run.
        run_id: u64,
        /// What went wrong.
        error: String,
    },
    /// The run's main process ended.
    RunExited {
        /// Which run.
        run_id: u64,
        /// Exit code, when it exited.
        code: Option<i32>,
        /// Signal, when it was killed by one.
        signal: Option<i32>,
    },
}
