//! The workspace watch: files that programs and terminals create, change
//! or delete in a session's box, sent to the client as `files_changed`
//! frames (`docs/protocol.md`, "Files flow both ways";
//! `docs/files.md` says why it scans instead of using inotify).
//!
//! While a client watches and a connection holds the session, a task of
//! the session lists the workspace every [`SCAN_INTERVAL`] (longer when a
//! scan is slow) through the backend's workspace descriptor
//! ([`Backend::workspace_root`]), never following a link, and compares
//! each file's size, modification time and inode with the last scan's.
//! Only the files whose metadata changed are read, and a file is reported
//! only when its bytes differ from what the server knows: what it sent
//! last, or what a run of the session wrote there itself
//! ([`FilesWatch::note_written`]), so a run's own files do not come back.
//!
//! Everything is bounded: a scan visits at most [`MAX_ENTRIES`] entries,
//! a file's bytes are sent up to [`MAX_FILE_BYTES`] (a larger file comes
//! with its size alone), a frame carries at most [`MAX_FRAME_CHANGES`]
//! changes and [`MAX_FRAME_BYTES`] of content (the rest follows in later
//! frames), and a frame waits for room in the session's bounded queue, so
//! a program writing files without end slows the scan, not the server.
//! `.git` (anywhere) and the server's own `.bytesbox/` are never listed,
//! nor what `.bytesboxignore` excludes (gitignore syntax): an excluded
//! folder is not even visited.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytesbox_sandbox::beneath::{delete_paths, get_files, list_tree, root_file, TreeEntry};
use bytesbox_sandbox::{Backend, BoxId, FileEntry, PutMode, SandboxError};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use sha2::{Digest, Sha256};

use crate::protocol::{EncodedBytes, FileChange, FileOp, FilesChanged, LeftOut, ServerMessage};
use crate::session::Session;

/// Least time between two scans.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(200);
/// Wait before asking again for a workspace the backend could not give.
const UNREACHABLE_PAUSE: Duration = Duration::from_secs(10);
/// A scan takes at most this share of the time (1/N): a slow scan waits
/// N times its own length before the next.
const SCAN_DUTY: u32 = 5;
/// Most entries (files and folders) one scan visits.
pub const MAX_ENTRIES: usize = 10_000;
/// Largest file whose bytes are sent.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Most changes in one frame.
pub const MAX_FRAME_CHANGES: usize = 1000;
/// Most bytes of file content in one frame (before encoding).
pub const MAX_FRAME_BYTES: u64 = 4 << 20;
/// A file modified less than this before a scan is read again by the
/// next: file systems stamp times at their clock's tick.
const RACY_NS: i128 = 100_000_000;
/// The exclusion file, at the workspace's root.
pub const IGNORE_FILE: &str = ".bytesboxignore";
/// Largest exclusion file read; a larger one is not used.
const MAX_IGNORE_FILE_BYTES: u64 = 64 * 1024;

type Sha = [u8; 32];

fn sha(bytes: &[u8]) -> Sha {
    Sha256::digest(bytes).into()
}

/// Batches up to this size are hashed where they are: a thread hand-off
/// would cost a warm run more than hashing its few small files.
const DIGEST_INLINE_BYTES: usize = 256 * 1024;

/// Each file's path and digest; a larger batch (a client's may hold
/// megabytes) on a blocking thread, so it does not hold up a runtime
/// worker and every connection that worker serves.
async fn digests_of(files: &[FileEntry]) -> Vec<(String, Sha)> {
    if files.iter().map(|f| f.content.len()).sum::<usize>() <= DIGEST_INLINE_BYTES {
        return files.iter().map(|f| (f.path.clone(), sha(&f.content))).collect();
    }
    let contents: Vec<(String, bytes::Bytes)> = files.iter().map(|f| (f.path.clone(), f.content.clone())).collect();
    tokio::task::spawn_blocking(move || contents.into_iter().map(|(path, content)| (path, sha(&content))).collect())
        .await
        .unwrap_or_default()
}

/// A session's watch: its task, while a client watches, and what the
/// session's runs wrote into the workspace.
#[derive(Debug, Default)]
pub struct FilesWatch {
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    written: Arc<Mutex<Arc<HashMap<String, Sha>>>>,
    writing: Arc<Writing>,
    /// Paths the client deleted since the last scan began: the next scan
    /// forgets them, so their absence is not reported back.
    deleted: Arc<Mutex<Vec<String>>>,
}

/// Runs of the session writing their files into the workspace now: a
/// scan then would see the server's own writes half done (a replaced
/// workspace emptied, a file cut short), so none is made, and one that
/// overlapped a write is thrown away.
#[derive(Debug, Default)]
struct Writing {
    now: AtomicUsize,
    /// Bumped as each write begins and ends.
    generation: AtomicU64,
}

/// A run's files being written into the workspace (see
/// [`FilesWatch::writing`]); dropped when they are.
#[derive(Debug)]
pub struct WritingFiles(Arc<Writing>);

impl Drop for WritingFiles {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
        self.0.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl FilesWatch {
    /// Starts watching `session`'s workspace; false when it is watched
    /// already.
    pub fn start(&self, session: Weak<Session>, backend: Arc<dyn Backend>) -> bool {
        let Ok(mut task) = self.task.lock() else { return false };
        if task.as_ref().is_some_and(|running| !running.is_finished()) {
            return false;
        }
        let shared =
            Shared { written: self.written.clone(), writing: self.writing.clone(), deleted: self.deleted.clone() };
        *task = Some(tokio::spawn(watch(session, backend, shared)));
        true
    }

    /// Stops watching.
    pub fn stop(&self) {
        if let Some(task) = self.task.lock().ok().and_then(|mut task| task.take()) {
            task.abort();
        }
    }

    /// Whether a watch is running.
    pub fn is_watching(&self) -> bool {
        self.task.lock().map(|task| task.as_ref().is_some_and(|t| !t.is_finished())).unwrap_or(false)
    }

    /// Marks a run's files as being written until the guard is dropped.
    pub fn writing(&self) -> WritingFiles {
        self.writing.now.fetch_add(1, Ordering::AcqRel);
        self.writing.generation.fetch_add(1, Ordering::AcqRel);
        WritingFiles(self.writing.clone())
    }

    /// Records what a run of the session writes into the workspace (the
    /// client's own files): they are not reported back unless a program
    /// changes them.
    pub async fn note_written(&self, files: &[FileEntry]) {
        let written: HashMap<String, Sha> = digests_of(files).await.into_iter().collect();
        if let Ok(mut slot) = self.written.lock() {
            *slot = Arc::new(written);
        }
    }
}

impl FilesWatch {
    /// Records files written into the workspace besides a run's: added to
    /// what the last run wrote.
    async fn note_also_written(&self, files: &[FileEntry]) {
        let digests = digests_of(files).await;
        if let Ok(mut slot) = self.written.lock() {
            let mut written = HashMap::clone(&slot);
            written.extend(digests);
            *slot = Arc::new(written);
        }
    }

    /// Puts a client's files into the box between runs (`files_write`, a
    /// language server's `lsp_start` and `lsp_files`, which carry the
    /// editor's unsaved text too): noted first as the client's own, so the
    /// watch never reports them back (an echo would bring back a file the
    /// client has moved since, or pass unsaved edits off as the box's),
    /// and no scan runs while they land.
    pub async fn put_client_files(
        &self,
        backend: &dyn Backend,
        box_id: &BoxId,
        files: Vec<FileEntry>,
    ) -> Result<(), SandboxError> {
        self.note_also_written(&files).await;
        let _writing = self.writing();
        backend.put_files(box_id, files, PutMode::Merge).await
    }

    /// Deletes files and folders of the client's in the box between runs
    /// (`files_delete`: a file or folder deleted or moved in the IDE),
    /// through the workspace's descriptor, never following a link. The
    /// paths are checked as every path is, and none may be or hold a
    /// `.git` or be the server's `.bytesbox/`; a folder's `.git` folders
    /// stay (the repository lives only in the box). Noted as the client's
    /// own, so the watch does not report them deleted, and no scan runs
    /// while they go. Returns how many of the paths were there.
    pub async fn delete_client_paths(
        &self,
        backend: &dyn Backend,
        box_id: &BoxId,
        paths: Vec<String>,
    ) -> Result<usize, SandboxError> {
        check_deletable(&paths)?;
        let root = backend.workspace_root(box_id).await?;
        let _writing = self.writing();
        self.note_deleted(&paths);
        tokio::task::spawn_blocking(move || {
            let spare = |path: &str| path.rsplit('/').next() == Some(".git");
            delete_paths(root.as_fd(), &paths, MAX_DELETED_ENTRIES, &spare)
        })
        .await
        .map_err(|e| SandboxError::Internal(format!("deleting files: {e}")))?
    }

    /// Records paths the client deleted: the next scan forgets what it
    /// knew of them (and of what they held), and a program's file put
    /// there later is news again.
    fn note_deleted(&self, paths: &[String]) {
        if let Ok(mut slot) = self.written.lock() {
            if paths.iter().any(|path| slot.keys().any(|written| is_at_or_under(written, path))) {
                let kept = slot.iter().filter(|(written, _)| !paths.iter().any(|path| is_at_or_under(written, path)));
                *slot = Arc::new(kept.map(|(path, sha)| (path.clone(), *sha)).collect());
            }
        }
        // A watch that starts later knows nothing of them anyway.
        if self.is_watching() {
            if let Ok(mut deleted) = self.deleted.lock() {
                // Bounded: past it, a deletion may come back as one (which
                // the client applies as a no-op).
                let room = MAX_ENTRIES.saturating_sub(deleted.len());
                deleted.extend(paths.iter().take(room).cloned());
            }
        }
    }
}

/// Most paths one `files_delete` names.
pub const MAX_DELETE_PATHS: usize = 1000;
/// Most entries one `files_delete` visits while removing folders.
const MAX_DELETED_ENTRIES: usize = 100_000;

/// Whether `path` is `at` or inside the folder `at`.
fn is_at_or_under(path: &str, at: &str) -> bool {
    path.strip_prefix(at).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Refuses what a client may not delete: bad paths, too many, a `.git`
/// (the repository is git's to change, and lives only in the box) or the
/// server's own `.bytesbox/`.
pub fn check_deletable(paths: &[String]) -> Result<(), SandboxError> {
    if paths.len() > MAX_DELETE_PATHS {
        return Err(SandboxError::InvalidSpec(format!("at most {MAX_DELETE_PATHS} paths per files_delete")));
    }
    for path in paths {
        let components = bytesbox_sandbox::paths::validate_relative(path)?;
        if components.contains(&".git") {
            return Err(SandboxError::InvalidPath {
                path: path.clone(),
                reason: "a repository (.git) is changed with git, not deleted as files",
            });
        }
        if components.first() == Some(&".bytesbox") {
            return Err(SandboxError::InvalidPath { path: path.clone(), reason: "the server's own folder" });
        }
    }
    Ok(())
}

impl Drop for FilesWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Most paths [`kept_across_runs`] keeps.
const MAX_KEPT: usize = 200;

/// What a session's next run keeps in the workspace besides the
/// language's state: `.git` folders and what the run's `.bytesboxignore`
/// excludes (dependencies installed and builds made from a terminal), the
/// top-most such paths, at most [`MAX_KEPT`]. Nothing when the backend
/// cannot give the workspace.
pub async fn kept_across_runs(backend: &dyn Backend, box_id: &BoxId, files: &[FileEntry]) -> Vec<String> {
    let Ok(root) = backend.workspace_root(box_id).await else { return Vec::new() };
    let rules = files
        .iter()
        .find(|file| file.path == IGNORE_FILE)
        .map(|file| Rules::parse(&String::from_utf8_lossy(&file.content)))
        .unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let kept = std::cell::RefCell::new(Vec::new());
        let skip = |path: &str, is_dir: bool| {
            let git = path.split('/').any(|name| name == ".git");
            let keep = git || rules.is_ignored(path, is_dir);
            if keep && kept.borrow().len() < MAX_KEPT {
                kept.borrow_mut().push(path.to_string());
            }
            // The server's own state is the planner's to keep.
            keep || path == ".bytesbox"
        };
        let _ = list_tree(root.as_fd(), MAX_ENTRIES, &skip);
        kept.into_inner()
    })
    .await
    .unwrap_or_default()
}

/// The watch's task: scans while the session lives, has a box and a
/// connection.
/// What the watch's task shares with its [`FilesWatch`].
struct Shared {
    written: Arc<Mutex<Arc<HashMap<String, Sha>>>>,
    writing: Arc<Writing>,
    deleted: Arc<Mutex<Vec<String>>>,
}

async fn watch(session: Weak<Session>, backend: Arc<dyn Backend>, shared: Shared) {
    let Shared { written, writing, deleted } = shared;
    let mut scanner: Option<(BoxId, Scanner)> = None;
    loop {
        let mut pause = SCAN_INTERVAL;
        {
            let Some(session) = session.upgrade() else { return };
            let generation = writing.generation.load(Ordering::Acquire);
            let quiet = writing.now.load(Ordering::Acquire) == 0;
            let current = session.current_box().filter(|_| quiet && session.is_connected());
            if let Some(box_id) = current {
                // A new box starts from nothing: the files the last one
                // held are not reported deleted (a box's end is no edit).
                let mut scan = match scanner.take() {
                    Some((id, scan)) if id == box_id => scan,
                    _ => Scanner::default(),
                };
                // Taken anew each time, so that no descriptor keeps a
                // destroyed box's workspace alive.
                let root = backend.workspace_root(&box_id).await;
                if root.is_err() {
                    // A backend that cannot reach this workspace (the
                    // Docker backend's server off the Docker host) is not
                    // asked again at once.
                    pause = UNREACHABLE_PAUSE;
                    scanner = Some((box_id.clone(), std::mem::take(&mut scan)));
                }
                if let Ok(root) = root {
                    // Taken after the generation: a deletion still going
                    // on now makes this scan one that is thrown away.
                    let forgotten = deleted.lock().map(|mut paths| std::mem::take(&mut *paths)).unwrap_or_default();
                    scan.forget(&forgotten);
                    let expected = written.lock().map(|w| w.clone()).unwrap_or_default();
                    let started = Instant::now();
                    let scanned = tokio::task::spawn_blocking(move || {
                        let before = scan.clone();
                        let frame = scan.scan(root.as_fd(), &expected);
                        (before, scan, frame)
                    })
                    .await;
                    let Ok((before, scan, mut frame)) = scanned else { return };
                    pause = pause.max(started.elapsed() * SCAN_DUTY);
                    if writing.generation.load(Ordering::Acquire) == generation {
                        scanner = Some((box_id, scan));
                    } else {
                        // A run wrote files meanwhile: the next scan sees
                        // what this one did, and more.
                        scanner = Some((box_id, before));
                        frame = None;
                    }
                    if let Some(frame) = frame {
                        if !session.send(ServerMessage::FilesChanged(Box::new(frame))).await {
                            return;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(pause).await;
    }
}

/// What the scan knows of a file.
#[derive(Clone, Debug)]
struct Known {
    size: u64,
    mtime_ns: i128,
    ino: u64,
    executable: bool,
    /// Its bytes' digest; `None` when too large to read.
    digest: Option<Sha>,
    /// Modified so shortly before it was seen that a later write within
    /// the file system's clock tick could leave the metadata alike: read
    /// again next time (git's "racy" files).
    racy: bool,
}

impl Known {
    fn same_as(&self, entry: &TreeEntry) -> bool {
        !self.racy
            && self.size == entry.size
            && self.mtime_ns == entry.mtime_ns
            && self.ino == entry.ino
            && self.executable == entry.executable
    }
}

/// Which entries the watch never lists.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    ignore: Option<Gitignore>,
}

impl Rules {
    /// The rules of an exclusion file's text (gitignore syntax; a line
    /// that is not a valid pattern is left out, the others stand).
    pub fn parse(text: &str) -> Rules {
        let mut builder = GitignoreBuilder::new("");
        for line in text.lines() {
            let _ = builder.add_line(None, line);
        }
        Rules { ignore: builder.build().ok() }
    }

    /// Whether the entry at `path` is always hidden: `.git` anywhere, the
    /// server's `.bytesbox/` at the root.
    pub fn is_hidden(path: &str) -> bool {
        path == ".bytesbox" || path.split('/').any(|name| name == ".git")
    }

    /// Whether `.bytesboxignore` excludes the entry at `path` (or a
    /// folder it is in).
    pub fn is_ignored(&self, path: &str, is_dir: bool) -> bool {
        self.ignore.as_ref().is_some_and(|ignore| ignore.matched_path_or_any_parents(path, is_dir).is_ignore())
    }
}

/// One box's scans: what the last one saw.
#[derive(Clone, Debug, Default)]
struct Scanner {
    known: HashMap<String, Known>,
    rules: Rules,
    /// The exclusion file's size, modification time and inode when read.
    rules_stamp: Option<(u64, i128, u64)>,
    left_out: LeftOut,
    /// What the session's last run wrote, less what was reported since.
    written: HashMap<String, Sha>,
    /// The record that `written` was taken from.
    written_source: Option<Arc<HashMap<String, Sha>>>,
}

impl Scanner {
    /// Forgets the files at or under `paths` (the client deleted them):
    /// their absence is no news, and a file put there again is.
    fn forget(&mut self, paths: &[String]) {
        if !paths.is_empty() {
            self.known.retain(|known, _| !paths.iter().any(|path| is_at_or_under(known, path)));
        }
    }

    /// Reads `.bytesboxignore` again if it changed.
    fn refresh_rules(&mut self, root: BorrowedFd<'_>) {
        let stamp = root_file(root, IGNORE_FILE).map(|entry| (entry.size, entry.mtime_ns, entry.ino));
        if stamp == self.rules_stamp {
            return;
        }
        self.rules_stamp = stamp;
        let text = stamp
            .and_then(|_| get_files(root, &[IGNORE_FILE.to_string()], MAX_IGNORE_FILE_BYTES).ok())
            .and_then(|snapshot| snapshot.files.into_iter().next())
            .map(|file| String::from_utf8_lossy(&file.content).into_owned())
            .unwrap_or_default();
        self.rules = Rules::parse(&text);
    }

    /// Lists the workspace and returns the frame to send, if anything
    /// changed.
    fn scan(&mut self, root: BorrowedFd<'_>, written: &Arc<HashMap<String, Sha>>) -> Option<FilesChanged> {
        if !self.written_source.as_ref().is_some_and(|source| Arc::ptr_eq(source, written)) {
            // What was noted since the last record is what the client has
            // now, even if no scan saw it in the box: a program that puts
            // back the bytes from before (a `git switch` just after a
            // save) changed the file for the client.
            for (path, digest) in written.iter() {
                let noted_now = self.written_source.as_ref().and_then(|source| source.get(path)) != Some(digest);
                if let Some(known) = self.known.get_mut(path).filter(|_| noted_now) {
                    known.digest = Some(*digest);
                }
            }
            self.written_source = Some(written.clone());
            self.written = HashMap::clone(written);
        }
        self.refresh_rules(root);
        let ignored = Cell::new(0u64);
        let rules = &self.rules;
        let skip = |path: &str, is_dir: bool| {
            if Rules::is_hidden(path) {
                return true;
            }
            let out = rules.is_ignored(path, is_dir);
            if out {
                ignored.set(ignored.get() + 1);
            }
            out
        };
        let listing = list_tree(root, MAX_ENTRIES, &skip).ok()?;
        let mut frame = FilesChanged::default();
        let mut seen = HashSet::new();
        let mut changed = Vec::new();
        let mut new = Vec::new();
        for entry in listing.entries.iter().filter(|entry| !entry.dir) {
            seen.insert(entry.path.as_str());
            match self.known.get(&entry.path) {
                Some(known) if known.same_as(entry) => {}
                Some(_) => changed.push(entry),
                None => new.push(entry),
            }
        }
        // What the watch knows is bounded too: past the cap, the files
        // nearest the root are the ones kept.
        let room = MAX_ENTRIES.saturating_sub(self.known.len());
        let truncated = listing.truncated || new.len() > room;
        new.sort_by_key(|entry| entry.path.matches('/').count());
        changed.extend(new.into_iter().take(room));
        changed.sort_by(|a, b| a.path.cmp(&b.path));
        // Past the entry cap, an unseen file may still be there.
        if !listing.truncated {
            let gone: Vec<String> = self.known.keys().filter(|path| !seen.contains(path.as_str())).cloned().collect();
            for path in gone {
                self.known.remove(&path);
                // A file that the exclusion file now covers is not listed
                // any more, but it is no deletion.
                if !self.rules.is_ignored(&path, false) && !Rules::is_hidden(&path) {
                    frame.changes.push(FileChange::deleted(path));
                }
            }
        }
        let mut bytes = 0u64;
        let mut pending = 0u64;
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_nanos() as i128)
            .unwrap_or(0);
        for entry in changed {
            if frame.changes.len() >= MAX_FRAME_CHANGES || bytes >= MAX_FRAME_BYTES {
                pending += 1;
                continue;
            }
            let mut known = Known {
                size: entry.size,
                mtime_ns: entry.mtime_ns,
                ino: entry.ino,
                executable: entry.executable,
                digest: None,
                racy: now_ns.saturating_sub(entry.mtime_ns) < RACY_NS,
            };
            let mut change = FileChange::written(entry.path.clone(), entry.size, entry.executable);
            if entry.size > MAX_FILE_BYTES {
                change.omitted = Some("too_large".into());
            } else {
                // Gone, or no longer a regular file, since it was listed:
                // the next scan tells.
                let Ok(read) = get_files(root, std::slice::from_ref(&entry.path), MAX_FILE_BYTES) else { continue };
                let Some(file) = read.files.into_iter().next() else {
                    if read.skipped.iter().any(|skipped| skipped.reason == "too_large") {
                        change.omitted = Some("too_large".into());
                        frame.changes.push(change);
                        self.known.insert(entry.path.clone(), known);
                    }
                    continue;
                };
                let digest = sha(&file.content);
                known.digest = Some(digest);
                let before = self.known.get(&entry.path).and_then(|known| known.digest);
                if before == Some(digest) || self.written.get(&entry.path) == Some(&digest) {
                    self.known.insert(entry.path.clone(), known);
                    continue;
                }
                let (data, encoding) = EncodedBytes::encode(&file.content);
                bytes += file.content.len() as u64;
                change.size = Some(file.content.len() as u64);
                (change.data, change.encoding) = (Some(data), Some(encoding));
            }
            // The client has these bytes now: the run's version is news
            // again if a program puts it back.
            self.written.remove(&entry.path);
            self.known.insert(entry.path.clone(), known);
            frame.changes.push(change);
        }
        frame.changes.sort_by(|a, b| a.path.cmp(&b.path));
        frame.left_out = LeftOut { ignored: ignored.get(), unlisted: listing.unlisted as u64, truncated, pending };
        if frame.changes.is_empty() && frame.left_out == self.left_out {
            return None;
        }
        self.left_out = frame.left_out.clone();
        Some(frame)
    }
}

impl FileChange {
    fn deleted(path: String) -> FileChange {
        FileChange {
            path,
            op: FileOp::Delete,
            data: None,
            encoding: None,
            size: None,
            executable: false,
            omitted: None,
        }
    }

    fn written(path: String, size: u64, executable: bool) -> FileChange {
        FileChange { path, op: FileOp::Write, data: None, encoding: None, size: Some(size), executable, omitted: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_of(dir: &std::path::Path) -> std::os::fd::OwnedFd {
        std::fs::File::open(dir).unwrap().into()
    }

    fn paths(frame: &FilesChanged, op: FileOp) -> Vec<&str> {
        frame.changes.iter().filter(|c| c.op == op).map(|c| c.path.as_str()).collect()
    }

    #[test]
    fn creates_changes_and_deletes_are_reported_once_and_the_runs_own_files_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_of(dir.path());
        let mut scanner = Scanner::default();
        std::fs::write(dir.path().join("main.py"), "print(1)").unwrap();
        let written = Arc::new(HashMap::from([("main.py".to_string(), sha(b"print(1)"))]));
        assert!(scanner.scan(root.as_fd(), &written).is_none(), "the run's own file is not echoed");
        std::fs::create_dir(dir.path().join("out")).unwrap();
        std::fs::write(dir.path().join("out/a.bin"), [0u8, 255, 1, 2]).unwrap();
        let frame = scanner.scan(root.as_fd(), &written).unwrap();
        assert_eq!(paths(&frame, FileOp::Write), ["out/a.bin"]);
        let change = &frame.changes[0];
        assert_eq!(change.encoding, Some(crate::protocol::Encoding::Base64));
        assert_eq!(
            EncodedBytes::decode(change.data.as_deref().unwrap(), change.encoding.unwrap()).unwrap().0[..],
            [0, 255, 1, 2]
        );
        assert!(scanner.scan(root.as_fd(), &written).is_none(), "nothing new");
        std::fs::write(dir.path().join("main.py"), "print(2)").unwrap();
        std::fs::remove_file(dir.path().join("out/a.bin")).unwrap();
        let frame = scanner.scan(root.as_fd(), &written).unwrap();
        assert_eq!((paths(&frame, FileOp::Write), paths(&frame, FileOp::Delete)), (vec!["main.py"], vec!["out/a.bin"]));
        // Put back as the run wrote it: news to the client, which has
        // the program's version.
        std::fs::write(dir.path().join("main.py"), "print(1)").unwrap();
        assert_eq!(paths(&scanner.scan(root.as_fd(), &written).unwrap(), FileOp::Write), ["main.py"]);
    }

    #[test]
    fn a_clients_write_that_the_box_puts_back_before_a_scan_sees_it_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_of(dir.path());
        let mut scanner = Scanner::default();
        std::fs::write(dir.path().join("notes.txt"), "v1").unwrap();
        let first = Arc::new(HashMap::from([("notes.txt".to_string(), sha(b"v1"))]));
        assert!(scanner.scan(root.as_fd(), &first).is_none());
        // The client writes v2; before any scan, a program writes v1
        // again as a new file (git checks files out that way).
        let second = Arc::new(HashMap::from([("notes.txt".to_string(), sha(b"v2"))]));
        std::fs::write(dir.path().join("new"), "v1").unwrap();
        std::fs::rename(dir.path().join("new"), dir.path().join("notes.txt")).unwrap();
        let frame = scanner.scan(root.as_fd(), &second).expect("the client has v2, the box v1");
        assert_eq!(paths(&frame, FileOp::Write), ["notes.txt"]);
        assert_eq!(frame.changes[0].data.as_deref(), Some("v1"));
    }

    #[test]
    fn git_the_servers_state_and_ignored_files_are_never_listed_and_big_files_come_without_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_of(dir.path());
        for path in [".git/objects/ab", ".bytesbox", "build/deep", "sub/.git"] {
            std::fs::create_dir_all(dir.path().join(path)).unwrap();
        }
        for path in [".git/HEAD", ".bytesbox/session.sqlite3", "build/deep/x.o", "sub/.git/config", "keep.txt", "a.log"]
        {
            std::fs::write(dir.path().join(path), "x").unwrap();
        }
        std::fs::write(dir.path().join(IGNORE_FILE), "build/\n*.log\n[invalid\n").unwrap();
        std::fs::write(dir.path().join("big.bin"), vec![7u8; MAX_FILE_BYTES as usize + 1]).unwrap();
        let frame = Scanner::default().scan(root.as_fd(), &Arc::default()).unwrap();
        assert_eq!(paths(&frame, FileOp::Write), [IGNORE_FILE, "big.bin", "keep.txt"]);
        let big = frame.changes.iter().find(|c| c.path == "big.bin").unwrap();
        assert_eq!(
            (big.data.as_deref(), big.omitted.as_deref(), big.size),
            (None, Some("too_large"), Some(MAX_FILE_BYTES + 1))
        );
        assert_eq!(frame.left_out.ignored, 2, "build/ counts once, a.log once");
    }

    #[test]
    fn a_file_newly_ignored_is_dropped_without_a_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_of(dir.path());
        let mut scanner = Scanner::default();
        std::fs::write(dir.path().join("gen.txt"), "x").unwrap();
        assert_eq!(paths(&scanner.scan(root.as_fd(), &Arc::default()).unwrap(), FileOp::Write), ["gen.txt"]);
        std::fs::write(dir.path().join(IGNORE_FILE), "gen.txt\n").unwrap();
        let frame = scanner.scan(root.as_fd(), &Arc::default()).unwrap();
        assert_eq!((paths(&frame, FileOp::Write), paths(&frame, FileOp::Delete)), (vec![IGNORE_FILE], vec![]));
    }

    #[test]
    fn a_flood_is_cut_into_bounded_frames_and_the_cap_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_of(dir.path());
        for n in 0..MAX_ENTRIES + 50 {
            std::fs::write(dir.path().join(format!("f{n:05}")), "").unwrap();
        }
        let mut scanner = Scanner::default();
        let first = scanner.scan(root.as_fd(), &Arc::default()).unwrap();
        assert_eq!(first.changes.len(), MAX_FRAME_CHANGES);
        assert!(first.left_out.truncated);
        assert_eq!(first.left_out.pending as usize + MAX_FRAME_CHANGES, MAX_ENTRIES);
        let mut total = first.changes.len();
        while let Some(frame) = scanner.scan(root.as_fd(), &Arc::default()) {
            assert!(frame.changes.len() <= MAX_FRAME_CHANGES);
            assert!(frame.changes.iter().all(|c| c.op == FileOp::Write), "past the cap, nothing is called deleted");
            total += frame.changes.len();
        }
        assert_eq!(total, MAX_ENTRIES, "every listed file once, the rest left out");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_watch_ends_with_its_session_and_never_keeps_it_alive() {
        use crate::accounts::Principal;
        use crate::session::{SessionConfig, Sessions};
        let backend: Arc<dyn Backend> = Arc::new(bytesbox_testkit::host_double::HostDouble::default());
        let engine =
            bytesbox_engine::Engine::new(backend.clone(), bytesbox_engine::AdmissionConfig::for_this_machine());
        let sessions = Sessions::new(engine, SessionConfig::default());
        let session = sessions.open(Principal::Anonymous, None);
        assert!(session.files().start(Arc::downgrade(&session), backend.clone()));
        assert!(!session.files().start(Arc::downgrade(&session), backend.clone()), "one watch per session");
        assert!(session.files().is_watching());
        tokio::time::sleep(SCAN_INTERVAL * 2).await;
        let weak = Arc::downgrade(&session);
        sessions.close(&session).await;
        assert!(!session.files().is_watching(), "closing the session stops its watch");
        drop(session);
        assert!(weak.upgrade().is_none(), "the watch holds no session");
    }
}
