//! A run in flight on the native backend: its stdio descriptors, stdin,
//! and what the shared supervisor (`bytesbox_supervisor`) asks of the box.
//!
//! The box init reports the main process's exit on the control channel;
//! the run's cgroup holds its counters and its whole tree.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use bytesbox_cgroups::Cgroup;
use bytesbox_jail::protocol::InitRequest;
use bytesbox_sandbox::{RunControl, RunEvent, RunLimits, SandboxError, Signal, Stream};
use bytesbox_supervisor::{
    read_fd_stream, read_fd_streams, ExitStatus, Exited, RunIo, RunProcess, SupervisedControl, Supervision, Watched,
};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::run_tree::RunCgroup;
use crate::sandbox_box::SandboxBox;

/// A readable or writable non-blocking descriptor.
type Fd = Arc<AsyncFd<OwnedFd>>;

fn async_fd(fd: OwnedFd) -> std::io::Result<Fd> {
    let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(Arc::new(crate::ipc::register(fd, Interest::READABLE | Interest::WRITABLE)?))
}

/// The server's ends of a run's stdio.
enum ServerStdio {
    Pipes { stdin: Fd, stdout: Fd, stderr: Fd },
    Pty { master: Fd, stderr: Option<Fd> },
}

impl ServerStdio {
    fn from_fds(fds: Vec<OwnedFd>, pty: bool) -> Result<ServerStdio, SandboxError> {
        let wrap = |fd| async_fd(fd).map_err(|e| SandboxError::Internal(format!("stdio: {e}")));
        let mut fds = fds.into_iter();
        match (pty, fds.next(), fds.next(), fds.next()) {
            (true, Some(master), stderr, None) => {
                Ok(ServerStdio::Pty { master: wrap(master)?, stderr: stderr.map(wrap).transpose()? })
            }
            (false, Some(stdin), Some(stdout), Some(stderr)) => {
                Ok(ServerStdio::Pipes { stdin: wrap(stdin)?, stdout: wrap(stdout)?, stderr: wrap(stderr)? })
            }
            _ => Err(SandboxError::Internal("the box init sent the wrong stdio descriptors".into())),
        }
    }
}

/// Where stdin goes.
#[derive(Debug)]
enum StdinSink {
    Pipe(Option<Fd>),
    Pty(Fd),
}

/// A native run's stdin, terminal and signals, behind the supervisor's
/// controls.
#[derive(Debug)]
struct NativeRunIo {
    run_id: u64,
    sandbox: Arc<SandboxBox>,
    stdin: Mutex<StdinSink>,
    /// The master of stderr's own terminal (`stderr_apart`), resized with
    /// the run's.
    stderr_terminal: Option<Fd>,
}

/// Writes all of `data`; a reader that went away swallows the rest.
async fn write_all(fd: &Fd, mut data: &[u8]) -> Result<(), SandboxError> {
    while !data.is_empty() {
        let mut guard = fd.writable().await.map_err(|e| SandboxError::Internal(format!("stdin: {e}")))?;
        match guard.try_io(|inner| nix::unistd::write(inner.get_ref(), data).map_err(std::io::Error::from)) {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EPIPE) || e.raw_os_error() == Some(libc::EIO) => return Ok(()),
            Ok(Err(e)) => return Err(SandboxError::Internal(format!("stdin: {e}"))),
            // Yields before trying again: while the runtime shuts down its
            // descriptors read as ready for ever, and a loop that never
            // yields would keep the shutdown from ever ending (a terminal's
            // writer, seen stuck so with a full PTY).
            Err(_would_block) => tokio::task::yield_now().await,
        }
    }
    Ok(())
}

#[async_trait]
impl RunIo for NativeRunIo {
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
        let sink = self.stdin.lock().await;
        match &*sink {
            StdinSink::Pipe(Some(fd)) | StdinSink::Pty(fd) => write_all(fd, &data).await,
            StdinSink::Pipe(None) => Err(SandboxError::InvalidSpec("stdin is already closed".into())),
        }
    }

    async fn close_stdin(&self) -> Result<(), SandboxError> {
        let mut sink = self.stdin.lock().await;
        match &mut *sink {
            StdinSink::Pipe(fd) => {
                fd.take();
                Ok(())
            }
            // The terminal's end-of-file character ends a read at the start
            // of a line, as Ctrl+D does.
            StdinSink::Pty(fd) => write_all(fd, &[0x04]).await,
        }
    }

    async fn resize(&self, rows: u16, cols: u16) -> Result<(), SandboxError> {
        let sink = self.stdin.lock().await;
        let StdinSink::Pty(master) = &*sink else {
            return Err(SandboxError::InvalidSpec("this run has no terminal to resize".into()));
        };
        let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // stderr's own terminal, when it has one, is the same size.
        for terminal in std::iter::once(master).chain(self.stderr_terminal.as_ref()) {
            rustix::termios::tcsetwinsize(terminal.get_ref(), size)
                .map_err(|e| SandboxError::Internal(format!("resize: {e}")))?;
        }
        Ok(())
    }

    async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        self.sandbox
            .control
            .send(&InitRequest::Signal { run_id: self.run_id, signal: signal.number() }, &[])
            .await
            .map_err(|_| SandboxError::BoxGone(self.sandbox.id.to_string()))
    }
}

/// Everything the supervisor needs.
pub struct RunStart {
    /// Box-local run id.
    pub run_id: u64,
    /// The box.
    pub sandbox: Arc<SandboxBox>,
    /// The run's own cgroup.
    pub cgroup: Cgroup,
    /// Whether it may serve the box's next launcher once the run is over.
    pub reusable: bool,
    /// Whether the box's next launcher is prepared once the run is over
    /// (the run took the slow path) rather than already.
    pub launcher_after: bool,
    /// No run follows in the box (`RunSpec::last_in_box`): no launcher is
    /// prepared after it.
    pub last_in_box: bool,
    /// Limits of the run.
    pub limits: RunLimits,
    /// Whether stdio is a PTY.
    pub pty: bool,
    /// Descriptors from the init.
    pub fds: Vec<OwnedFd>,
    /// Resolves when the main process exits.
    pub exited: oneshot::Receiver<ExitStatus>,
    /// When the request was sent.
    pub started_at: Instant,
    /// Bytes to write to stdin first.
    pub initial_stdin: Vec<u8>,
    /// Close stdin after them.
    pub close_stdin: bool,
}

/// Starts the supervisor; returns the events receiver and the control.
pub fn supervise(start: RunStart) -> Result<(mpsc::Receiver<RunEvent>, Arc<dyn RunControl>), SandboxError> {
    let stdio = ServerStdio::from_fds(start.fds, start.pty)?;
    let (supervision, switch, events) = Supervision::new(start.limits.output_bytes);
    let output = supervision.output();
    let (sink, stderr_terminal, readers) = match stdio {
        ServerStdio::Pipes { stdin, stdout, stderr } => {
            let readers = vec![
                tokio::spawn(read_fd_stream(stdout, Stream::Stdout, output.clone())),
                tokio::spawn(read_fd_stream(stderr, Stream::Stderr, output)),
            ];
            (StdinSink::Pipe(Some(stdin)), None, readers)
        }
        ServerStdio::Pty { master, stderr } => {
            let reader = match &stderr {
                Some(stderr) => tokio::spawn(read_fd_streams(master.clone(), stderr.clone(), output)),
                None => tokio::spawn(read_fd_stream(master.clone(), Stream::Stdout, output)),
            };
            (StdinSink::Pty(master), stderr, vec![reader])
        }
    };
    let io =
        NativeRunIo { run_id: start.run_id, sandbox: start.sandbox.clone(), stdin: Mutex::new(sink), stderr_terminal };
    let control: Arc<dyn RunControl> = Arc::new(SupervisedControl::new(io, switch));
    bytesbox_sandbox::feed_initial_input(control.clone(), start.initial_stdin, start.close_stdin);
    supervision.spawn(Watched {
        process: NativeProcess {
            run_id: start.run_id,
            sandbox: start.sandbox.clone(),
            exited: start.exited,
            last_in_box: start.last_in_box,
        },
        tree: RunCgroup::new(start.cgroup, Arc::downgrade(&start.sandbox), start.reusable, start.launcher_after),
        limits: start.limits,
        started_at: start.started_at,
        destroyed: start.sandbox.activity.destroyed(),
        readers,
        control: control.clone(),
    });
    Ok((events, control))
}

/// The native side of a run, for the supervisor.
#[derive(Debug)]
struct NativeProcess {
    run_id: u64,
    sandbox: Arc<SandboxBox>,
    exited: oneshot::Receiver<ExitStatus>,
    last_in_box: bool,
}

#[async_trait]
impl RunProcess for NativeProcess {
    async fn exited(&mut self) -> Exited {
        // The box init went away: its runs died with it.
        Exited::Status((&mut self.exited).await.unwrap_or((None, Some(libc::SIGKILL))))
    }

    async fn ending(&mut self, exited: Exited, _output_lost: bool, _killed: bool) -> Option<ExitStatus> {
        match exited {
            Exited::Status(status) => Some(status),
            Exited::Unknown | Exited::Lost => None,
        }
    }

    fn box_oom_killed(&self) -> bool {
        self.sandbox.saw_new_box_oom()
    }

    fn forget(&self) {
        self.sandbox.finish_run(self.run_id);
    }

    async fn after(&self) {
        if !self.last_in_box {
            self.sandbox.clone().prepare_launcher().await;
        }
        self.sandbox.run_is_over();
    }
}
