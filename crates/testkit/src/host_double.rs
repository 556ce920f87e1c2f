//! A test double: a `Backend` that runs programs as plain host processes in
//! a temporary directory, as the user running the tests (no root needed).
//! It isolates NOTHING; it exists to exercise what lies above a backend
//! (the conformance runner and verdicts, the server's HTTP, accounts,
//! storage and protocol framing) against real processes. Only harmless,
//! test-written programs may run on it, and it is reachable only from
//! tests: `bytesbox-testkit` is a dev-dependency of every crate that uses
//! it (a test of this crate checks that no crate depends on it otherwise).
//!
//! Supported: pipes (no PTY), env/cwd, stdin, wall timeout, output caps,
//! kill/signal of the process group, put/get files with lexical path checks
//! and no-follow semantics (via `symlink_metadata`), and a box's memory in
//! its listing (the resident memory of its runs' main processes). Not
//! supported: memory, CPU and pids limits (the exit report's cpu/memory
//! fields are 0).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use bytesbox_sandbox::paths::validate_relative;
use bytesbox_sandbox::{
    Backend, BoxId, BoxInfo, BoxSpec, ExitReport, FileEntry, PutMode, RunControl, RunEvent, RunHandle, RunSpec,
    RunStatus, SandboxError, Signal, SkippedEntry, StdioMode, Stream, WorkspaceSnapshot,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[derive(Debug)]
struct HostBox {
    dir: tempfile::TempDir,
    labels: Vec<(String, String)>,
    active: Arc<AtomicUsize>,
    total: u64,
    controls: Vec<Arc<HostControl>>,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct HostDouble {
    boxes: Mutex<HashMap<BoxId, HostBox>>,
    next: AtomicU64,
}

fn gone(id: &BoxId) -> SandboxError {
    SandboxError::NoSuchBox(id.0.clone())
}

impl HostDouble {
    /// The boxes; a panic that poisoned the lock already failed its test.
    fn boxes(&self) -> MutexGuard<'_, HashMap<BoxId, HostBox>> {
        self.boxes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no box is left.
    pub async fn list_is_empty(&self) -> bool {
        self.boxes().is_empty()
    }

    fn dir(&self, id: &BoxId) -> Result<PathBuf, SandboxError> {
        let boxes = self.boxes();
        boxes.get(id).map(|b| b.dir.path().to_path_buf()).ok_or_else(|| gone(id))
    }
}

/// Resolves a relative path under `root` without following any symlink.
fn resolve_no_follow(root: &Path, path: &str, create_parents: bool) -> Result<PathBuf, SandboxError> {
    let components = validate_relative(path)?;
    let mut current = root.to_path_buf();
    let (last, parents) = components.split_last().ok_or_else(|| SandboxError::InvalidSpec("empty".into()))?;
    for component in parents {
        current.push(component);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(SandboxError::InvalidPath { path: path.into(), reason: "the path goes through a symlink" })
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(SandboxError::InvalidPath { path: path.into(), reason: "a parent is not a directory" })
            }
            Err(_) if create_parents => {
                std::fs::create_dir(&current).map_err(|e| SandboxError::Workspace { path: path.into(), source: e })?
            }
            Err(e) => return Err(SandboxError::Workspace { path: path.into(), source: e }),
        }
    }
    current.push(last);
    Ok(current)
}

fn walk(root: &Path, prefix: &str, out: &mut Vec<(String, std::fs::Metadata)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(prefix))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let meta = std::fs::symlink_metadata(root.join(&path))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else {
            out.push((path, meta));
        }
    }
    Ok(())
}

fn read_entry(root: &Path, path: &str, meta: &std::fs::Metadata, remaining: &mut u64, snap: &mut WorkspaceSnapshot) {
    let skip = |reason: &str, snap: &mut WorkspaceSnapshot| {
        snap.skipped.push(SkippedEntry { path: path.into(), reason: reason.into() })
    };
    if meta.file_type().is_symlink() {
        return skip("symlink", snap);
    }
    if !meta.is_file() {
        return skip("special_file", snap);
    }
    if meta.len() > *remaining {
        return skip("too_large", snap);
    }
    match std::fs::read(root.join(path)) {
        Ok(content) => {
            *remaining -= content.len() as u64;
            snap.files.push(FileEntry {
                path: path.into(),
                content: content.into(),
                executable: meta.permissions().mode() & 0o111 != 0,
            });
        }
        Err(_) => skip("special_file", snap),
    }
}

/// The resident memory of the runs still going (their main processes,
/// from `/proc`), or `None` when none is.
fn resident_bytes(controls: &[Arc<HostControl>]) -> Option<u64> {
    let running = controls.iter().filter(|control| !control.finished.load(Ordering::SeqCst));
    let sizes: Vec<u64> = running
        .filter_map(|control| std::fs::read_to_string(format!("/proc/{}/status", control.pgid)).ok())
        .filter_map(|status| {
            let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .collect();
    (!sizes.is_empty()).then(|| sizes.iter().sum())
}

#[derive(Debug)]
enum Command {
    Write(Bytes),
    Close,
}

#[derive(Debug)]
struct HostControl {
    pgid: u32,
    finished: Arc<std::sync::atomic::AtomicBool>,
    killed: Arc<std::sync::atomic::AtomicBool>,
    stdin: mpsc::UnboundedSender<Command>,
}

fn signal_group(pgid: u32, signal: i32) {
    let (Ok(pgid), Ok(signal)) = (i32::try_from(pgid), nix::sys::signal::Signal::try_from(signal)) else {
        return;
    };
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal);
}

const SIGKILL: i32 = 9;

#[async_trait]
impl RunControl for HostControl {
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
        if self.finished.load(Ordering::SeqCst) {
            return Err(SandboxError::RunFinished);
        }
        self.stdin.send(Command::Write(data)).map_err(|_| SandboxError::RunFinished)
    }
    async fn close_stdin(&self) -> Result<(), SandboxError> {
        if self.finished.load(Ordering::SeqCst) {
            return Err(SandboxError::RunFinished);
        }
        self.stdin.send(Command::Close).map_err(|_| SandboxError::RunFinished)
    }
    async fn resize(&self, _rows: u16, _cols: u16) -> Result<(), SandboxError> {
        Err(SandboxError::InvalidSpec("not a PTY run".into()))
    }
    async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        if self.finished.load(Ordering::SeqCst) {
            return Err(SandboxError::RunFinished);
        }
        signal_group(self.pgid, signal.number());
        Ok(())
    }
    async fn kill(&self) -> Result<(), SandboxError> {
        if self.finished.load(Ordering::SeqCst) {
            return Err(SandboxError::RunFinished);
        }
        self.killed.store(true, Ordering::SeqCst);
        signal_group(self.pgid, SIGKILL);
        Ok(())
    }
}

async fn pump<R: tokio::io::AsyncRead + Unpin>(
    mut reader: R,
    stream: Stream,
    cap: u64,
    events: mpsc::Sender<RunEvent>,
    over: Arc<std::sync::atomic::AtomicBool>,
    pgid: u32,
) -> u64 {
    let mut total = 0u64;
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = cap - total;
        let take = (n as u64).min(room) as usize;
        if take > 0 {
            total += take as u64;
            let _ = events.send(RunEvent::Output { stream, data: Bytes::copy_from_slice(&buf[..take]) }).await;
        }
        if n > take {
            over.store(true, Ordering::SeqCst);
            signal_group(pgid, SIGKILL);
            break;
        }
    }
    total
}

#[async_trait]
impl Backend for HostDouble {
    fn name(&self) -> &'static str {
        "host-double"
    }

    async fn create(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        spec.validate()?;
        let dir = tempfile::tempdir().map_err(|e| SandboxError::Internal(e.to_string()))?;
        let id = BoxId(format!("hd-{}", self.next.fetch_add(1, Ordering::SeqCst)));
        let host_box =
            HostBox { dir, labels: spec.labels, active: Arc::new(AtomicUsize::new(0)), total: 0, controls: Vec::new() };
        self.boxes().insert(id.clone(), host_box);
        Ok(id)
    }

    async fn put_files(&self, id: &BoxId, files: Vec<FileEntry>, mode: PutMode) -> Result<(), SandboxError> {
        let root = self.dir(id)?;
        bytesbox_sandbox::paths::validate_unique(files.iter().map(|f| f.path.as_str()))?;
        if let PutMode::Replace { keep } = &mode {
            for path in keep {
                validate_relative(path)?;
            }
            let mut existing = Vec::new();
            walk(&root, "", &mut existing).map_err(|e| SandboxError::Internal(e.to_string()))?;
            for (path, _) in existing {
                // A kept folder keeps what is in it, as on every backend.
                if !keep.iter().any(|kept| path == *kept || path.starts_with(&format!("{kept}/"))) {
                    let _ = std::fs::remove_file(root.join(&path));
                }
            }
        }
        for file in files {
            let target = resolve_no_follow(&root, &file.path, true)?;
            if std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink()) {
                std::fs::remove_file(&target)
                    .map_err(|e| SandboxError::Workspace { path: file.path.clone(), source: e })?;
            }
            std::fs::write(&target, &file.content)
                .map_err(|e| SandboxError::Workspace { path: file.path.clone(), source: e })?;
            let mode = if file.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))
                .map_err(|e| SandboxError::Workspace { path: file.path.clone(), source: e })?;
        }
        Ok(())
    }

    async fn get_files(
        &self,
        id: &BoxId,
        paths: Vec<String>,
        max_total_bytes: u64,
    ) -> Result<WorkspaceSnapshot, SandboxError> {
        let root = self.dir(id)?;
        let mut snapshot = WorkspaceSnapshot::default();
        let mut remaining = max_total_bytes;
        if paths.is_empty() {
            let mut entries = Vec::new();
            walk(&root, "", &mut entries).map_err(|e| SandboxError::Internal(e.to_string()))?;
            for (path, meta) in entries {
                read_entry(&root, &path, &meta, &mut remaining, &mut snapshot);
            }
        } else {
            for path in paths {
                let target = resolve_no_follow(&root, &path, false)?;
                let meta = std::fs::symlink_metadata(&target)
                    .map_err(|e| SandboxError::Workspace { path: path.clone(), source: e })?;
                read_entry(&root, &path, &meta, &mut remaining, &mut snapshot);
            }
        }
        Ok(snapshot)
    }

    async fn workspace_root(&self, id: &BoxId) -> Result<Arc<std::os::fd::OwnedFd>, SandboxError> {
        let root = self.dir(id)?;
        let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
        rustix::fs::open(&root, flags, rustix::fs::Mode::empty())
            .map(Arc::new)
            .map_err(|e| SandboxError::Internal(format!("opening the box's directory: {e}")))
    }

    async fn run(&self, id: &BoxId, spec: RunSpec) -> Result<RunHandle, SandboxError> {
        spec.validate(&bytesbox_sandbox::RunLimits::hard_maximum())?;
        if matches!(spec.stdio, StdioMode::Pty { .. }) {
            return Err(SandboxError::InvalidSpec("the host double has no PTY".into()));
        }
        let root = self.dir(id)?;
        let mut command = tokio::process::Command::new(&spec.argv[0]);
        command
            .args(&spec.argv[1..])
            .current_dir(if spec.cwd.is_empty() { root.clone() } else { PathBuf::from(&spec.cwd) })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if !spec.env.is_empty() {
            command.env_clear().envs(spec.env.iter().cloned());
            if !spec.env.iter().any(|(k, _)| k == "PATH") {
                command.env("PATH", "/usr/local/bin:/usr/bin:/bin");
            }
        }
        let mut child = command.spawn().map_err(|e| SandboxError::SpawnFailed(e.to_string()))?;
        let pgid = child.id().unwrap_or(0);
        let (events_tx, events_rx) = mpsc::channel(64);
        let (stdin_tx, mut stdin_rx) = mpsc::unbounded_channel();
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let control = Arc::new(HostControl {
            pgid,
            finished: Arc::clone(&finished),
            killed: Arc::clone(&killed),
            stdin: stdin_tx,
        });
        let active = {
            let mut boxes = self.boxes();
            let host_box = boxes.get_mut(id).ok_or_else(|| gone(id))?;
            host_box.total += 1;
            host_box.controls.push(Arc::clone(&control));
            Arc::clone(&host_box.active)
        };
        active.fetch_add(1, Ordering::SeqCst);

        let mut stdin = child.stdin.take();
        if let Some(pipe) = stdin.as_mut() {
            let _ = pipe.write_all(&spec.stdin).await;
        }
        if spec.close_stdin {
            stdin = None;
        }
        tokio::spawn(async move {
            while let Some(command) = stdin_rx.recv().await {
                match (command, stdin.as_mut()) {
                    (Command::Write(data), Some(pipe)) => {
                        let _ = pipe.write_all(&data).await;
                    }
                    (Command::Close, _) => stdin = None,
                    _ => {}
                }
            }
        });
        let over = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let out = tokio::spawn(pump(
            child.stdout.take().expect("stdout is piped"),
            Stream::Stdout,
            spec.limits.output_bytes,
            events_tx.clone(),
            Arc::clone(&over),
            pgid,
        ));
        let err = tokio::spawn(pump(
            child.stderr.take().expect("stderr is piped"),
            Stream::Stderr,
            spec.limits.output_bytes,
            events_tx.clone(),
            Arc::clone(&over),
            pgid,
        ));
        let wall = Duration::from_millis(spec.limits.wall_time_ms);
        tokio::spawn(async move {
            let started = Instant::now();
            let (status, timed_out) = match tokio::time::timeout(wall, child.wait()).await {
                Ok(status) => (status.ok(), false),
                Err(_) => {
                    signal_group(pgid, SIGKILL);
                    (child.wait().await.ok(), true)
                }
            };
            // The main process is gone: the rest of its group goes too.
            signal_group(pgid, SIGKILL);
            let stdout_bytes =
                tokio::time::timeout(Duration::from_secs(2), out).await.ok().and_then(Result::ok).unwrap_or(0);
            let stderr_bytes =
                tokio::time::timeout(Duration::from_secs(2), err).await.ok().and_then(Result::ok).unwrap_or(0);
            use std::os::unix::process::ExitStatusExt;
            let exit_code = status.and_then(|s| s.code());
            let signal = status.and_then(|s| s.signal());
            let status = if killed.load(Ordering::SeqCst) {
                RunStatus::Killed
            } else if timed_out {
                RunStatus::Timeout
            } else if over.load(Ordering::SeqCst) {
                RunStatus::OutputLimit
            } else if exit_code == Some(0) {
                RunStatus::Ok
            } else if exit_code.is_some() {
                RunStatus::Nonzero
            } else {
                RunStatus::Signaled
            };
            finished.store(true, Ordering::SeqCst);
            active.fetch_sub(1, Ordering::SeqCst);
            let report = ExitReport {
                exit_code,
                signal,
                status,
                wall_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX).max(1),
                cpu_ms: 0,
                peak_memory_bytes: 0,
                stdout_bytes,
                stderr_bytes,
            };
            let _ = events_tx.send(RunEvent::Exit(report)).await;
        });
        Ok(RunHandle::new(events_rx, control))
    }

    async fn destroy(&self, id: &BoxId) -> Result<(), SandboxError> {
        let removed = self.boxes().remove(id);
        match removed {
            Some(host_box) => {
                for control in &host_box.controls {
                    if !control.finished.load(Ordering::SeqCst) {
                        control.killed.store(true, Ordering::SeqCst);
                        signal_group(control.pgid, SIGKILL);
                    }
                }
                Ok(())
            }
            None if id.0.starts_with("hd-")
                && id.0[3..].parse::<u64>().is_ok_and(|n| n < self.next.load(Ordering::SeqCst)) =>
            {
                Ok(())
            }
            None => Err(gone(id)),
        }
    }

    fn live_boxes(&self) -> usize {
        self.boxes().len()
    }

    async fn list(&self) -> Vec<BoxInfo> {
        let boxes = self.boxes();
        boxes
            .iter()
            .map(|(id, b)| BoxInfo {
                id: id.clone(),
                labels: b.labels.clone(),
                active_runs: b.active.load(Ordering::SeqCst),
                total_runs: b.total,
                memory_bytes: resident_bytes(&b.controls),
                idle_ms: 0,
            })
            .collect()
    }

    async fn shutdown(&self) {
        let ids: Vec<BoxId> = self.boxes().keys().cloned().collect();
        for id in ids {
            let _ = self.destroy(&id).await;
        }
    }
}
