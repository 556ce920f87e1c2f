//! A signed-in user's project keeps its git repository (`docs/git.md`,
//! "Saved with the project"): the session learns which project its box
//! holds (the `project` frame, checked against the caller's own
//! projects), brings the project's saved `.git` into each box made for it
//! before anything runs there, and saves the box's `.git` back as one
//! archive in the project (`bytesbox_store::ProjectFiles::save_git`,
//! within the owner's quota) after a panel command that can change it,
//! every [`SAVE_INTERVAL`] while the box lives (a terminal's `git commit`),
//! and before the server destroys the box.
//!
//! What the box made is hostile: `.git` is listed through the backend's
//! workspace descriptor without following a link (a symlinked `.git` is
//! no repository; links and special files inside it are left out), at
//! most [`MAX_ENTRIES`] entries of at most [`MAX_BYTES`] together, and
//! read with the backend's bounded `get_files`; the saves and restores of
//! the server hold at most [`MEMORY_MIB`] of repositories at once. A save
//! first compares a
//! fingerprint of the listing (each entry's path, size, modification time
//! and inode) with the last save's, so an unchanged repository costs one
//! listing. A project's saves and restores on this server take turns.
//!
//! An attachment saves only the box it restored into (made while it was
//! attached): a box that held another project, or a guest's repository,
//! or whose restore failed is never saved over the project's repository.

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use bytesbox_sandbox::beneath::{list_tree, open_dir};
use bytesbox_sandbox::{Backend, BoxId, FileEntry, PutMode, SandboxError};
use bytesbox_store::{read_zip, FilesError, ProjectFiles, ProjectId, Quota, UserId, ZipStreamWriter};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::accounts::Caller;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::metrics::Metrics;
use crate::monitoring::{new_error_id, Failure};
use crate::protocol::{ProjectGitFrame, ServerMessage};
use crate::session::Session;

/// The repository's folder, at the workspace's root.
pub const GIT_DIR: &str = ".git";
/// Most entries (files and folders) of a saved `.git`.
pub const MAX_ENTRIES: usize = 20_000;
/// Most bytes of the files of a saved `.git` (the default workspace's
/// size: a box cannot hold more).
pub const MAX_BYTES: u64 = 64 << 20;
/// Most bytes of a saved archive read back: the files and the zip's
/// headers.
const MAX_ARCHIVE_BYTES: u64 = MAX_BYTES + (16 << 20);
/// How often a session's box is looked at for changes to save.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(10);
/// The empty file saved in each empty folder of `.git` (git needs
/// `refs/` and `objects/` even when all refs are packed), which git
/// ignores: refs and packs starting with a dot are not read.
pub const EMPTY_FOLDER_MARKER: &str = ".bytesbox-empty";
/// MiB the saves and restores of the whole server may hold at once: each
/// takes twice its repository's size (its files and its archive), so
/// small ones go side by side and the largest one at a time.
const MEMORY_MIB: u32 = 160;

/// Subcommands that never change `.git`: no save after them.
const READ_ONLY: &[&str] =
    &["blame", "describe", "diff", "log", "ls-files", "rev-list", "rev-parse", "shortlog", "show", "status"];

/// Whether a panel command may have changed the repository.
pub fn may_change_repository(args: &[String]) -> bool {
    args.first().is_some_and(|subcommand| !READ_ONLY.contains(&subcommand.as_str()))
}

type Fingerprint = [u8; 32];

/// The project a session's box holds, if any.
#[derive(Debug, Default)]
pub struct ProjectGit {
    attached: Mutex<Option<Arc<Attachment>>>,
}

#[derive(Debug)]
struct Attachment {
    files: ProjectFiles,
    owner: UserId,
    project: ProjectId,
    quota: Quota,
    metrics: Arc<Metrics>,
    /// Held by every save and restore of the project on this server.
    turn: Arc<tokio::sync::Mutex<()>>,
    seen: Mutex<Seen>,
}

/// What an attachment knows of its box's `.git`.
#[derive(Debug, Default)]
struct Seen {
    /// The box it brought the project's repository into: the only one it
    /// saves.
    restored_into: Option<BoxId>,
    /// The listing's fingerprint at the last save or restore.
    saved: Option<Fingerprint>,
    /// The fingerprint of a save that was refused: not tried again until
    /// the repository changes.
    refused: Option<Fingerprint>,
}

/// Each project's turn, shared by the sessions attached to it.
fn turn_of(project: &ProjectId) -> Arc<tokio::sync::Mutex<()>> {
    static TURNS: OnceLock<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut turns = TURNS.get_or_init(Mutex::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    turns.retain(|_, turn| turn.strong_count() > 0);
    if let Some(turn) = turns.get(&project.0).and_then(Weak::upgrade) {
        return turn;
    }
    let turn = Arc::new(tokio::sync::Mutex::new(()));
    turns.insert(project.0.clone(), Arc::downgrade(&turn));
    turn
}

/// Holds the memory a repository of `bytes` takes in a save or restore
/// (never more than all of it).
async fn hold_memory_for(bytes: u64) -> Option<tokio::sync::SemaphorePermit<'static>> {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    let permits = PERMITS.get_or_init(|| Semaphore::new(MEMORY_MIB as usize));
    let mib = u32::try_from(bytes.div_ceil(1 << 20).saturating_mul(2).saturating_add(1)).unwrap_or(u32::MAX);
    permits.acquire_many(mib.min(MEMORY_MIB)).await.ok()
}

/// How a save or restore ended, when the client should hear of it.
enum Outcome {
    /// Nothing to do.
    Quiet,
    /// Saved or restored: the archive's size.
    Done(u64),
    /// Refused (over the quota, too large): the code and the words.
    Refused(String, String),
    /// The server's own failure, recorded under an error id.
    Failed(String, String, String),
}

impl Attachment {
    fn frame(&self, done: &str, not_done: &str, outcome: Outcome) -> Option<ServerMessage> {
        let frame = |event: &str| ProjectGitFrame {
            project: self.project.0.clone(),
            event: event.to_string(),
            bytes: None,
            code: None,
            message: None,
            error_id: None,
        };
        let frame = match outcome {
            Outcome::Quiet => return None,
            Outcome::Done(bytes) => ProjectGitFrame { bytes: Some(bytes), ..frame(done) },
            Outcome::Refused(code, message) => {
                ProjectGitFrame { code: Some(code), message: Some(message), ..frame(not_done) }
            }
            Outcome::Failed(code, message, error_id) => ProjectGitFrame {
                code: Some(code),
                message: Some(message),
                error_id: Some(error_id),
                ..frame(not_done)
            },
        };
        Some(ServerMessage::ProjectGit(Box::new(frame)))
    }

    /// A store failure as an outcome: the server's own are recorded with
    /// an error id.
    fn failure(&self, error: FilesError, doing: &str) -> Outcome {
        let error = ApiError::from(error);
        match &error.fault {
            Some(detail) => {
                let id = new_error_id();
                tracing::error!(error_id = %id, project = %self.project, detail, "{doing} the project's git repository failed");
                let failure = Failure { kind: "git", code: &error.code, subject: doing, message: detail };
                self.metrics.recorder().error(&id, &failure);
                Outcome::Failed(error.code.clone(), error.message.clone(), id)
            }
            None => Outcome::Refused(error.code.clone(), error.message.clone()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn restore(&self, backend: &dyn Backend, box_id: &BoxId) -> Outcome {
        let _turn = self.turn.lock().await;
        let size = match self.files.store().saved_git(&self.owner, &self.project).await {
            Ok(saved) => saved.map_or(0, |saved| u64::try_from(saved.size_bytes).unwrap_or(0)),
            Err(error) => return self.failure(error.into(), "restoring"),
        };
        let Some(_memory) = hold_memory_for(size.min(MAX_ARCHIVE_BYTES)).await else { return Outcome::Quiet };
        let archive = match self.files.load_git(&self.owner, &self.project, MAX_ARCHIVE_BYTES).await {
            Ok(Some(archive)) => archive,
            Ok(None) => {
                // Nothing saved yet: whatever this box's repository
                // becomes is the project's.
                *self.seen() = Seen { restored_into: Some(box_id.clone()), ..Seen::default() };
                return Outcome::Quiet;
            }
            Err(error) => return self.failure(error, "restoring"),
        };
        let size = archive.len() as u64;
        let unpacked = tokio::task::spawn_blocking(move || unpack(&archive)).await;
        let files = match unpacked {
            Ok(Ok(files)) => files,
            Ok(Err(error)) => return self.failure(error, "restoring"),
            Err(error) => return self.failure(FilesError::Io(std::io::Error::other(error)), "restoring"),
        };
        if let Err(error) = backend.put_files(box_id, files, PutMode::Merge).await {
            return Outcome::Refused(
                error.code().to_string(),
                format!("the saved repository was not restored: {error}"),
            );
        }
        let fingerprint = match scan_of(backend, box_id).await {
            Ok(Some(scan)) => Some(scan.fingerprint),
            _ => None,
        };
        *self.seen() = Seen { restored_into: Some(box_id.clone()), saved: fingerprint, refused: None };
        Outcome::Done(size)
    }

    async fn save(&self, backend: &dyn Backend, box_id: &BoxId) -> Outcome {
        if self.seen().restored_into.as_ref() != Some(box_id) {
            return Outcome::Quiet;
        }
        let _turn = self.turn.lock().await;
        let scan = match scan_of(backend, box_id).await {
            Ok(Some(scan)) => scan,
            // No repository (or a link where it should be): nothing to
            // save, and the saved one stays.
            Ok(None) => return Outcome::Quiet,
            // The box went meanwhile; a backend that cannot reach the
            // workspace is told once per box.
            Err(SandboxError::BoxGone(_) | SandboxError::NoSuchBox(_)) => return Outcome::Quiet,
            Err(error) => {
                return self.refused_once(None, error.code(), format!("the repository cannot be read: {error}"))
            }
        };
        {
            let seen = self.seen();
            if seen.saved == Some(scan.fingerprint) || seen.refused == Some(scan.fingerprint) {
                return Outcome::Quiet;
            }
        }
        let fingerprint = Some(scan.fingerprint);
        if scan.truncated {
            let message = format!("the repository has more than {MAX_ENTRIES} files and folders: it was not saved");
            return self.refused_once(fingerprint, "too_large", message);
        }
        if scan.bytes > MAX_BYTES {
            let message = format!("the repository is over {MAX_BYTES} bytes: it was not saved");
            return self.refused_once(fingerprint, "too_large", message);
        }
        let Some(_memory) = hold_memory_for(scan.bytes).await else { return Outcome::Quiet };
        let read = match backend.get_files(box_id, scan.files.clone(), MAX_BYTES).await {
            Ok(read) => read,
            Err(SandboxError::BoxGone(_) | SandboxError::NoSuchBox(_)) => return Outcome::Quiet,
            Err(error) => {
                return self.refused_once(fingerprint, error.code(), format!("the repository cannot be read: {error}"))
            }
        };
        if read.skipped.iter().any(|skipped| skipped.reason == "too_large") {
            let message = format!("the repository grew over {MAX_BYTES} bytes: it was not saved");
            return self.refused_once(fingerprint, "too_large", message);
        }
        // A program (a terminal's git) wrote to `.git` while it was read:
        // the files may not belong together (a ref naming an object not
        // listed). Not saved now; the next look, once it is quiet, saves.
        if !matches!(scan_of(backend, box_id).await, Ok(Some(again)) if again.fingerprint == scan.fingerprint) {
            return Outcome::Quiet;
        }
        let empty_folders = scan.empty_folders;
        let packed = tokio::task::spawn_blocking(move || pack(read.files, &empty_folders))
            .await
            .unwrap_or_else(|error| Err(std::io::Error::other(error)));
        let archive = match packed {
            Ok(archive) => archive,
            Err(error) => return self.failure(FilesError::Io(error), "saving"),
        };
        let size = archive.len() as u64;
        match self.files.save_git(&self.owner, &self.project, archive, &self.quota).await {
            Ok(_) => {
                let mut seen = self.seen();
                seen.saved = fingerprint;
                seen.refused = None;
                Outcome::Done(size)
            }
            Err(FilesError::QuotaExceeded { .. }) => {
                let message = format!(
                    "the repository ({size} bytes packed) is more than your storage quota leaves (max_bytes {}): \
                     it was not saved, and the copy saved before stays",
                    self.quota.max_bytes
                );
                self.refused_once(fingerprint, "quota_exceeded", message)
            }
            Err(error) => match self.failure(error, "saving") {
                Outcome::Refused(code, message) => self.refused_once(fingerprint, &code, message),
                other => other,
            },
        }
    }

    /// A refusal that is not repeated until the repository changes.
    fn refused_once(&self, fingerprint: Option<Fingerprint>, code: &str, message: String) -> Outcome {
        let mut seen = self.seen();
        let fingerprint = fingerprint.unwrap_or_default();
        if seen.refused == Some(fingerprint) {
            return Outcome::Quiet;
        }
        seen.refused = Some(fingerprint);
        Outcome::Refused(code.to_string(), message)
    }
}

impl ProjectGit {
    fn current(&self) -> Option<Arc<Attachment>> {
        self.attached.lock().ok()?.clone()
    }

    /// The attached project's id.
    pub fn project(&self) -> Option<String> {
        self.current().map(|attachment| attachment.project.0.clone())
    }

    /// Brings the attached project's saved repository into a box just
    /// made for the session (before anything runs there): the frame to
    /// tell the client, if any.
    pub async fn restore(&self, backend: &dyn Backend, box_id: &BoxId) -> Option<ServerMessage> {
        let attachment = self.current()?;
        let outcome = attachment.restore(backend, box_id).await;
        attachment.frame("restored", "not_restored", outcome)
    }

    /// Saves the box's repository into the attached project if it changed
    /// since the last save: the frame to tell the client, if any.
    pub async fn save(&self, backend: &dyn Backend, box_id: &BoxId) -> Option<ServerMessage> {
        let attachment = self.current()?;
        let outcome = attachment.save(backend, box_id).await;
        attachment.frame("saved", "not_saved", outcome)
    }
}

/// `project`: attaches the session to one of the caller's projects (or
/// to none). A session whose box holds another project (or none) gets a
/// new box, with this project's repository, at its next command; its old
/// box's repository is saved to the project it held first.
pub(crate) async fn attach(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    caller: &Caller,
    id: Option<String>,
) -> ServerMessage {
    let refused = |error: ApiError| {
        state.track_api_error(&error, "project frame");
        ServerMessage::ProjectError { id: id.clone(), code: error.code.clone(), message: error.message.clone() }
    };
    let wanted = match &id {
        Some(wanted) => match crate::accounts::projects::owned_project(state, caller, wanted).await {
            Ok(owned) => Some(owned),
            Err(error) => return refused(error),
        },
        None => None,
    };
    let same = match (session.project_git().current(), &wanted) {
        (Some(current), Some((user, _, _, project))) => current.owner == user.id && current.project == *project,
        (None, None) => true,
        _ => false,
    };
    if same {
        return ServerMessage::ProjectAttached { id };
    }
    // The box holds the project attached before: its repository is saved
    // there as the box goes (`Session::reset_database` saves first).
    if session.reset_database(state.sessions.engine()).await.is_err() {
        return ServerMessage::ProjectError {
            id,
            code: crate::session::SessionBusy::CODE.to_string(),
            message: "a run or a terminal is going in this session's box, which holds another project; \
                      close the terminals and wait for the runs to end, then open the project again"
                .to_string(),
        };
    }
    let attachment = wanted.map(|(user, files, quota, project)| {
        Arc::new(Attachment {
            turn: turn_of(&project),
            files,
            owner: user.id,
            project,
            quota,
            metrics: state.metrics.clone(),
            seen: Mutex::default(),
        })
    });
    if let Some(attachment) = &attachment {
        tokio::spawn(save_now_and_then(
            Arc::downgrade(session),
            state.sessions.engine().backend().clone(),
            Arc::downgrade(attachment),
        ));
    }
    if let Ok(mut attached) = session.project_git().attached.lock() {
        *attached = attachment;
    }
    ServerMessage::ProjectAttached { id }
}

/// Every [`SAVE_INTERVAL`] while the attachment lasts: saves the
/// session's box's repository if it changed (a terminal's commit, a
/// program's), so that a box the backend ends for idleness loses little.
async fn save_now_and_then(session: Weak<Session>, backend: Arc<dyn Backend>, attachment: Weak<Attachment>) {
    loop {
        tokio::time::sleep(SAVE_INTERVAL).await;
        let (Some(session), Some(attachment)) = (session.upgrade(), attachment.upgrade()) else { return };
        let Some(box_id) = session.current_box() else { continue };
        let outcome = attachment.save(backend.as_ref(), &box_id).await;
        if let Some(frame) = attachment.frame("saved", "not_saved", outcome) {
            if !session.send(frame).await {
                return;
            }
        }
    }
}

/// What a listing of `.git` found.
struct Scan {
    fingerprint: Fingerprint,
    /// Workspace-relative paths of its regular files.
    files: Vec<String>,
    /// Workspace-relative paths of its empty folders.
    empty_folders: Vec<String>,
    /// Bytes of its files, as listed.
    bytes: u64,
    /// More entries than [`MAX_ENTRIES`].
    truncated: bool,
}

/// Lists the box's `.git` without following any link: `None` when there
/// is no `.git` folder (or a link or a file in its place).
async fn scan_of(backend: &dyn Backend, box_id: &BoxId) -> Result<Option<Scan>, SandboxError> {
    let root = backend.workspace_root(box_id).await?;
    tokio::task::spawn_blocking(move || {
        let Ok(git) = open_dir(root.as_fd(), GIT_DIR) else { return Ok(None) };
        let listing = list_tree(git.as_fd(), MAX_ENTRIES, &|_, _| false)?;
        let mut hasher = Sha256::new();
        let mut parents = HashSet::new();
        for entry in &listing.entries {
            hasher.update(entry.path.as_bytes());
            hasher.update([0, u8::from(entry.dir)]);
            hasher.update(entry.size.to_le_bytes());
            hasher.update(entry.mtime_ns.to_le_bytes());
            hasher.update(entry.ino.to_le_bytes());
            if let Some((parent, _)) = entry.path.rsplit_once('/') {
                parents.insert(parent);
            }
        }
        let path = |inner: &str| format!("{GIT_DIR}/{inner}");
        Ok(Some(Scan {
            fingerprint: hasher.finalize().into(),
            files: listing.entries.iter().filter(|entry| !entry.dir).map(|entry| path(&entry.path)).collect(),
            empty_folders: listing
                .entries
                .iter()
                .filter(|entry| entry.dir && !parents.contains(entry.path.as_str()))
                .map(|entry| path(&entry.path))
                .collect(),
            bytes: listing.entries.iter().map(|entry| entry.size).sum(),
            truncated: listing.truncated,
        }))
    })
    .await
    .map_err(|error| SandboxError::Internal(format!("listing .git: {error}")))?
}

/// The archive of `.git`'s files (and a marker in each empty folder).
/// Each file is let go once packed, so the files and the archive together
/// hold about one copy of the repository.
fn pack(files: Vec<FileEntry>, empty_folders: &[String]) -> std::io::Result<Bytes> {
    let mut zip = ZipStreamWriter::new();
    let mut archive = Vec::new();
    for file in files {
        zip.start_file(&file.path)?;
        zip.write(&file.content)?;
        drop(file);
        archive.extend_from_slice(&zip.take_output());
    }
    for folder in empty_folders {
        zip.start_file(&format!("{folder}/{EMPTY_FOLDER_MARKER}"))?;
    }
    zip.finish()?;
    archive.extend_from_slice(&zip.take_output());
    Ok(Bytes::from(archive))
}

/// The files of a saved archive, checked as any uploaded zip is (no
/// links, valid paths, bounded entries and decompressed bytes), all in
/// `.git`.
fn unpack(archive: &[u8]) -> Result<Vec<FileEntry>, FilesError> {
    let files = read_zip(archive, MAX_ENTRIES as u64, MAX_BYTES)?;
    let prefix = format!("{GIT_DIR}/");
    if let Some(outside) = files.iter().find(|file| !file.path.starts_with(&prefix)) {
        return Err(FilesError::InvalidArchive(format!("{:?} is outside {GIT_DIR}", outside.path)));
    }
    Ok(files.into_iter().map(|file| FileEntry::new(file.path, file.content)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_commands_save_nothing_and_changing_ones_do() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        for reading in [&["status", "--porcelain=v2"][..], &["log"], &["diff", "--cached"], &["show", "HEAD"]] {
            assert!(!may_change_repository(&args(reading)), "{reading:?}");
        }
        for changing in [&["commit", "-m", "x"][..], &["switch", "main"], &["init"], &["add", "a"], &["stash"]] {
            assert!(may_change_repository(&args(changing)), "{changing:?}");
        }
    }

    #[test]
    fn an_archive_round_trips_with_its_empty_folders_and_refuses_paths_outside_git() {
        let files =
            vec![FileEntry::new(".git/HEAD", "ref: refs/heads/main\n"), FileEntry::new(".git/objects/ab/cd", "x")];
        let archive = pack(files, &[".git/refs/tags".to_string()]).unwrap();
        let unpacked = unpack(&archive).unwrap();
        let paths: Vec<&str> = unpacked.iter().map(|file| file.path.as_str()).collect();
        assert_eq!(paths, [".git/HEAD", ".git/objects/ab/cd", ".git/refs/tags/.bytesbox-empty"]);
        assert_eq!(&unpacked[0].content[..], b"ref: refs/heads/main\n");

        let outside = pack(vec![FileEntry::new("main.py", "print(1)")], &[]).unwrap();
        assert!(matches!(unpack(&outside), Err(FilesError::InvalidArchive(_))));
    }
}
