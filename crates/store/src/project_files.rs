//! Projects with their files: the metadata [`Store`] plus the [`Objects`]
//! holding the contents, behind one API that keeps them consistent.
//!
//! **The write protocol.** Every saved version of a file is a new object
//! under a new key. A write (1) puts the bytes under the new key and waits
//! until they are durable, (2) moves the index to the new key with one
//! conditional statement naming the version (and object) it replaces, and
//! (3) deletes the replaced object, best-effort. A conflict at (2) deletes
//! the new object instead. So the index only ever points at a complete
//! object, and a crash at any moment leaves the last good version readable;
//! what a crash can leave behind is an object no index row points at (an
//! orphan), which [`ProjectFiles::sweep_orphans`] removes.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt as _;
use object_store::path::Path as ObjectPath;

use crate::files::Checked;
use crate::model::{FileEntry, NewFileEntry, Project, ProjectId, ProjectSettings, Usage, UserId};
use crate::objects::{self, Objects, OBJECTS_ROOT};
use crate::storage::StorageLimits;
use crate::{Store, StoreError};

/// Which quota a write would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Projects per user.
    Projects,
    /// Files per user, across projects.
    Files,
    /// Bytes of file contents per user, across projects.
    Bytes,
}

impl QuotaKind {
    /// The plan field that sets it: `max_projects`, `max_files`, `max_bytes`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::Projects => "max_projects",
            QuotaKind::Files => "max_files",
            QuotaKind::Bytes => "max_bytes",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            QuotaKind::Projects => "projects",
            QuotaKind::Files => "files",
            QuotaKind::Bytes => "bytes of files",
        }
    }
}

/// A user's storage quotas (from their plan; the caller passes them in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most projects the user may own.
    pub max_projects: u64,
    /// Most files across the user's projects.
    pub max_files: u64,
    /// Most bytes of contents across the user's projects.
    pub max_bytes: u64,
}

impl Quota {
    /// No limits (administrative tools, tests).
    pub const UNLIMITED: Quota = Quota { max_projects: u64::MAX, max_files: u64::MAX, max_bytes: u64::MAX };

    fn limit(&self, kind: QuotaKind) -> u64 {
        match kind {
            QuotaKind::Projects => self.max_projects,
            QuotaKind::Files => self.max_files,
            QuotaKind::Bytes => self.max_bytes,
        }
    }

    /// Refuses a change from `before` to `after` that grows a count past
    /// its limit. A change that does not grow a count is always allowed, so
    /// a user over a lowered quota can still shrink or delete.
    fn check(&self, before: Usage, after: Usage) -> Result<(), FilesError> {
        match self.exceeded(before, after) {
            Some(kind) => Err(self.error(kind)),
            None => Ok(()),
        }
    }

    /// The quota a change from `before` to `after` would exceed, if any.
    pub(crate) fn exceeded(&self, before: Usage, after: Usage) -> Option<QuotaKind> {
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        [
            (QuotaKind::Projects, count(before.projects), count(after.projects)),
            (QuotaKind::Files, count(before.files), count(after.files)),
            (QuotaKind::Bytes, count(before.bytes), count(after.bytes)),
        ]
        .into_iter()
        .find(|&(kind, old, new)| new > old && new > self.limit(kind))
        .map(|(kind, _, _)| kind)
    }

    pub(crate) fn error(&self, kind: QuotaKind) -> FilesError {
        FilesError::QuotaExceeded { quota: kind, limit: self.limit(kind) }
    }
}

/// What went wrong in a [`ProjectFiles`] call. Messages are safe to show
/// to the user who made the request.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// The metadata store refused or failed (not found, conflict, name
    /// taken, invalid settings, database down).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file path outside the run rules (`docs/protocol.md`).
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// The write would take the user past a quota of their plan.
    #[error("quota exceeded: your plan allows at most {limit} {unit} ({name})", unit = quota.unit(), name = quota.as_str())]
    QuotaExceeded {
        /// Which quota.
        quota: QuotaKind,
        /// Its limit.
        limit: u64,
    },
    /// Over a size limit that is not a quota: one file's bytes, or a
    /// project's files or bytes (e.g. what a run may take).
    #[error("{} is over the limit of {limit}", what.describe())]
    TooLarge {
        /// Which limit.
        what: SizeLimit,
        /// Its value.
        limit: u64,
    },
    /// An uploaded zip that is malformed or hostile.
    #[error("invalid zip archive: {0}")]
    InvalidArchive(String),
    /// The index points at an object the object store does not have
    /// (deleted behind the server's back).
    #[error("the contents of {path} are missing from object storage")]
    MissingObject {
        /// The file's path.
        path: String,
    },
    /// A project id that cannot be part of an object key (never one the
    /// store made).
    #[error("invalid object key")]
    InvalidKey,
    /// Object storage misconfigured.
    #[error("object storage configuration: {0}")]
    Config(String),
    /// Object storage failed or is unreachable.
    #[error("object storage error: {0}")]
    Objects(#[from] object_store::Error),
    /// A local file-system operation failed.
    #[error("object storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl FilesError {
    /// `(expected, current)` when this is a version conflict.
    pub fn conflict(&self) -> Option<(i64, i64)> {
        match self {
            FilesError::Store(StoreError::Conflict { expected, current }) => Some((*expected, *current)),
            _ => None,
        }
    }

    fn conflict_with(expected: i64, current: i64) -> FilesError {
        FilesError::Store(StoreError::Conflict { expected, current })
    }
}

/// A size limit of [`FilesError::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeLimit {
    /// Bytes of one file.
    FileBytes,
    /// Files of one project.
    ProjectFiles,
    /// Bytes of one project, all files together.
    ProjectBytes,
}

impl SizeLimit {
    fn describe(self) -> &'static str {
        match self {
            SizeLimit::FileBytes => "a file's size in bytes",
            SizeLimit::ProjectFiles => "the project's number of files",
            SizeLimit::ProjectBytes => "the project's size in bytes",
        }
    }
}

/// One file to create: a path and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Workspace-relative path (checked against the run rules).
    pub path: String,
    /// The contents.
    pub content: Bytes,
}

/// What [`ProjectFiles::sweep_orphans`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Objects no index row points at.
    pub orphan_objects: u64,
    /// Staging files of local writes that never finished.
    pub staging_files: u64,
}

/// Checks one file path against the run rules.
pub fn check_path(path: &str) -> Result<(), FilesError> {
    bytesbox_sandbox::paths::validate_relative(path).map(|_| ()).map_err(path_error)
}

/// Checks a whole set of paths: each valid, no duplicates, no file that is
/// also a folder of another — so a saved project is always runnable.
pub fn check_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<(), FilesError> {
    bytesbox_sandbox::paths::validate_unique(paths).map_err(path_error)
}

fn path_error(error: bytesbox_sandbox::SandboxError) -> FilesError {
    match error {
        bytesbox_sandbox::SandboxError::InvalidPath { path, reason } => {
            FilesError::InvalidPath(format!("{reason}: {path:?}"))
        }
        other => FilesError::InvalidPath(other.to_string()),
    }
}

fn size_of(content: &Bytes) -> i64 {
    i64::try_from(content.len()).unwrap_or(i64::MAX)
}

/// The store and the object store, kept consistent. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProjectFiles {
    store: Store,
    objects: Objects,
}

impl ProjectFiles {
    /// Combines a metadata store and an object store.
    pub fn new(store: Store, objects: Objects) -> ProjectFiles {
        ProjectFiles { store, objects }
    }

    /// The same, with server-wide caps on what all users store together;
    /// the watermark watches the local object store's disk (none for
    /// remote object storage).
    pub fn with_storage_limits(mut self, limits: StorageLimits) -> ProjectFiles {
        self.store = self.store.with_storage_limits(limits, self.objects.local_root());
        self
    }

    /// Refuses, before any upload, a write that would add `added_bytes`
    /// when the server is out of storage (its budget or its disk's
    /// watermark). Every write path of this type calls it, and its commit
    /// checks again in the index transaction; a new write path (a
    /// streaming import, a copy) calls it before uploading, per entry or
    /// for the total it knows.
    pub async fn check_storage(&self, added_bytes: u64) -> Result<(), FilesError> {
        Ok(self.store.check_storage(added_bytes).await?)
    }

    /// The metadata store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The object store.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// What the user stores now.
    pub async fn usage(&self, owner: &UserId) -> Result<Usage, FilesError> {
        Ok(self.store.usage(owner).await?)
    }

    /// The project's files, by path.
    pub async fn list_files(&self, owner: &UserId, project: &ProjectId) -> Result<Vec<FileEntry>, FilesError> {
        Ok(self.store.list_files(owner, project).await?)
    }

    /// Writes `path` if it is still at `expected_version` (0: it must not
    /// exist yet), within `quota`. Returns the new entry.
    pub async fn write_file(
        &self,
        owner: &UserId,
        project: &ProjectId,
        path: &str,
        content: Bytes,
        expected_version: i64,
        quota: &Quota,
    ) -> Result<FileEntry, FilesError> {
        check_path(path)?;
        let files = self.store.list_files(owner, project).await?;
        let previous = files.iter().find(|file| file.path == path);
        match (previous, expected_version) {
            (None, 0) => check_paths(files.iter().map(|file| file.path.as_str()).chain([path]))?,
            (None, expected) => return Err(FilesError::conflict_with(expected, 0)),
            (Some(previous), expected) if previous.version != expected => {
                return Err(FilesError::conflict_with(expected, previous.version))
            }
            (Some(_), _) => {}
        }
        let before = self.store.usage(owner).await?;
        let old_size = previous.map_or(0, |file| file.size_bytes);
        let after = Usage {
            files: before.files + i64::from(previous.is_none()),
            bytes: (before.bytes - old_size).saturating_add(size_of(&content)),
            ..before
        };
        quota.check(before, after)?;
        let growth = after.bytes - before.bytes;
        if growth > 0 || previous.is_none() {
            self.check_storage(u64::try_from(growth).unwrap_or(0)).await?;
        }

        // The checks above spare an upload that would be refused; the
        // index update checks version and quota again, atomically, with
        // the user's other writes held off.
        let key = objects::new_object_key(project)?;
        let size = size_of(&content);
        self.objects.put_durable(&key, content).await?;
        let file = NewFileEntry { path: path.to_owned(), size_bytes: size, object_key: key.to_string() };
        let written = self.store.commit_file_write(owner, project, &file, expected_version, quota).await;
        match written {
            Ok(Checked::Done((entry, replaced))) => {
                if let Some(replaced) = replaced {
                    self.objects.delete_best_effort(&replaced).await;
                }
                Ok(entry)
            }
            Ok(Checked::Over(kind)) => {
                self.objects.delete_best_effort(key.as_ref()).await;
                Err(quota.error(kind))
            }
            Err(error) => {
                if surely_not_written(&error) {
                    self.objects.delete_best_effort(key.as_ref()).await;
                }
                Err(error.into())
            }
        }
    }

    /// Reads one file: its entry and contents.
    pub async fn read_file(
        &self,
        owner: &UserId,
        project: &ProjectId,
        path: &str,
    ) -> Result<(FileEntry, Bytes), FilesError> {
        check_path(path)?;
        let mut entry = self.store.file_entry(owner, project, path).await?;
        // A concurrent write may replace the entry and delete its object
        // between our two reads: then read the index again.
        for _ in 0..5 {
            if let Some(content) = self.objects.get(&parse_key(&entry.object_key)?).await? {
                return Ok((entry, content));
            }
            let again = self.store.file_entry(owner, project, path).await?;
            if again.object_key == entry.object_key {
                break;
            }
            entry = again;
        }
        Err(FilesError::MissingObject { path: path.to_owned() })
    }

    /// Reads every file of a project into memory, without a limit (tests,
    /// administrative tools): the server uses [`ProjectFiles::read_all_within`].
    pub async fn read_all(&self, owner: &UserId, project: &ProjectId) -> Result<Vec<(FileEntry, Bytes)>, FilesError> {
        self.read_all_within(owner, project, u64::MAX, u64::MAX).await
    }

    /// Reads every file of a project (to run it) if it has at most
    /// `max_files` files of `max_bytes` in all. The index's sizes are
    /// checked before any content is read, and the bytes are counted again
    /// as they come (a file replaced meanwhile may have grown), so at most
    /// `max_bytes` are ever held.
    pub async fn read_all_within(
        &self,
        owner: &UserId,
        project: &ProjectId,
        max_files: u64,
        max_bytes: u64,
    ) -> Result<Vec<(FileEntry, Bytes)>, FilesError> {
        let files = self.store.list_files(owner, project).await?;
        if files.len() as u64 > max_files {
            return Err(FilesError::TooLarge { what: SizeLimit::ProjectFiles, limit: max_files });
        }
        let too_large = || FilesError::TooLarge { what: SizeLimit::ProjectBytes, limit: max_bytes };
        let indexed =
            files.iter().fold(0u64, |sum, file| sum.saturating_add(u64::try_from(file.size_bytes).unwrap_or(0)));
        if indexed > max_bytes {
            return Err(too_large());
        }
        let mut read = Vec::with_capacity(files.len());
        let mut left = max_bytes;
        for mut entry in files {
            // The object's own size is checked before reading it: a file
            // saved since the listing may have grown.
            let mut content = None;
            for _ in 0..5 {
                match self.objects.get_within(&parse_key(&entry.object_key)?, left).await? {
                    Some(Ok(bytes)) => {
                        content = Some(bytes);
                        break;
                    }
                    Some(Err(_)) => return Err(too_large()),
                    // Replaced since we listed: look it up again.
                    None => {
                        let again = self.store.file_entry(owner, project, &entry.path).await?;
                        if again.object_key == entry.object_key {
                            break;
                        }
                        entry = again;
                    }
                }
            }
            let Some(content) = content else {
                return Err(FilesError::MissingObject { path: entry.path });
            };
            left = left.saturating_sub(content.len() as u64);
            read.push((entry, content));
        }
        Ok(read)
    }

    /// The contents of the file `entry` lists, as a stream; if a
    /// concurrent write replaced the file since (its old object is gone),
    /// the entry is looked up again. Returns the entry actually read.
    pub(crate) async fn open_current(
        &self,
        owner: &UserId,
        project: &ProjectId,
        mut entry: FileEntry,
    ) -> Result<(FileEntry, BoxStream<'static, object_store::Result<Bytes>>), FilesError> {
        for _ in 0..5 {
            if let Some(stream) = self.objects.get_stream(&parse_key(&entry.object_key)?).await? {
                return Ok((entry, stream));
            }
            let again = self.store.file_entry(owner, project, &entry.path).await?;
            if again.object_key == entry.object_key {
                break;
            }
            entry = again;
        }
        Err(FilesError::MissingObject { path: entry.path })
    }

    /// Deletes `path` if it is still at `expected_version`.
    pub async fn delete_file(
        &self,
        owner: &UserId,
        project: &ProjectId,
        path: &str,
        expected_version: i64,
    ) -> Result<(), FilesError> {
        check_path(path)?;
        let entry = self.store.delete_file_entry(owner, project, path, expected_version).await?;
        self.objects.delete_best_effort(&entry.object_key).await;
        Ok(())
    }

    /// Creates a project with its first files, within `quota`.
    pub async fn create_project(
        &self,
        owner: &UserId,
        settings: &ProjectSettings,
        files: Vec<NewFile>,
        quota: &Quota,
    ) -> Result<(Project, Vec<FileEntry>), FilesError> {
        check_paths(files.iter().map(|file| file.path.as_str()))?;
        let added_bytes = files.iter().fold(0i64, |sum, file| sum.saturating_add(size_of(&file.content)));
        self.check_new_project(owner, files.len(), added_bytes, quota).await?;
        // Contents first, each durable under a new key of the new id; then
        // the project and its whole index in one transaction.
        let id = ProjectId::random();
        let mut written: Vec<NewFileEntry> = Vec::with_capacity(files.len());
        for file in files {
            let put = async {
                let key = objects::new_object_key(&id)?;
                let size = size_of(&file.content);
                self.objects.put_durable(&key, file.content).await?;
                Ok(NewFileEntry { path: file.path, size_bytes: size, object_key: key.to_string() })
            };
            match put.await {
                Ok(entry) => written.push(entry),
                Err(error) => {
                    self.discard(&written).await;
                    return Err(error);
                }
            }
        }
        self.commit_new_project(owner, &id, settings, written, quota).await
    }

    /// The early quota check of a new project of `files` files and
    /// `bytes` bytes: spares writing objects that would be refused.
    pub(crate) async fn check_new_project(
        &self,
        owner: &UserId,
        files: usize,
        bytes: i64,
        quota: &Quota,
    ) -> Result<(), FilesError> {
        let before = self.store.usage(owner).await?;
        let after = Usage {
            projects: before.projects + 1,
            files: before.files.saturating_add(i64::try_from(files).unwrap_or(i64::MAX)),
            bytes: before.bytes.saturating_add(bytes),
        };
        quota.check(before, after)?;
        // The storage budget and the disk watermark, before any upload
        // (the commit checks them again).
        self.check_storage(u64::try_from(bytes).unwrap_or(0)).await
    }

    /// Inserts the project `id` and its whole index, whose objects are
    /// `written` already, in one transaction: a project appears with all
    /// its files or not at all. A refusal or failure before the commit
    /// deletes the objects (a crash leaves them to the orphan sweep).
    pub(crate) async fn commit_new_project(
        &self,
        owner: &UserId,
        id: &ProjectId,
        settings: &ProjectSettings,
        written: Vec<NewFileEntry>,
        quota: &Quota,
    ) -> Result<(Project, Vec<FileEntry>), FilesError> {
        let created = match self.store.create_project_with_files(owner, id, settings, &written, quota).await {
            Ok(Checked::Done(created)) => return Ok(created),
            Ok(Checked::Over(kind)) => Err(quota.error(kind)),
            Err(error) if surely_not_written(&error) => Err(error.into()),
            Err(error) => return Err(error.into()),
        };
        self.discard(&written).await;
        created
    }

    /// Deletes the objects of a project that was not created.
    pub(crate) async fn discard(&self, written: &[NewFileEntry]) {
        for file in written {
            self.objects.delete_best_effort(&file.object_key).await;
        }
    }

    /// Copies a project, files and settings, under a new name. The
    /// objects are copied by the object store (a hard link on a local
    /// store, a server-side copy on S3): nothing is read into memory here.
    pub async fn duplicate_project(
        &self,
        owner: &UserId,
        source: &ProjectId,
        name: &str,
        quota: &Quota,
    ) -> Result<(Project, Vec<FileEntry>), FilesError> {
        let original = self.store.project(owner, source).await?;
        let files = self.store.list_files(owner, source).await?;
        let indexed = files.iter().fold(0i64, |sum, file| sum.saturating_add(file.size_bytes));
        self.check_new_project(owner, files.len(), indexed, quota).await?;
        let settings =
            ProjectSettings { name: name.to_owned(), language: original.language, entry_file: original.entry_file };
        let id = ProjectId::random();
        let mut written: Vec<NewFileEntry> = Vec::with_capacity(files.len());
        for file in files {
            match self.copy_current(owner, source, file, &id).await {
                Ok(entry) => written.push(entry),
                Err(error) => {
                    self.discard(&written).await;
                    return Err(error);
                }
            }
        }
        self.commit_new_project(owner, &id, &settings, written, quota).await
    }

    /// Copies the file `entry` lists to a new key of the project `to`; if
    /// a concurrent write replaced it since, looks the entry up again.
    async fn copy_current(
        &self,
        owner: &UserId,
        project: &ProjectId,
        mut entry: FileEntry,
        to: &ProjectId,
    ) -> Result<NewFileEntry, FilesError> {
        let key = objects::new_object_key(to)?;
        for _ in 0..5 {
            if self.objects.copy_durable(&parse_key(&entry.object_key)?, &key).await? {
                return Ok(NewFileEntry {
                    path: entry.path,
                    size_bytes: entry.size_bytes,
                    object_key: key.to_string(),
                });
            }
            let again = self.store.file_entry(owner, project, &entry.path).await?;
            if again.object_key == entry.object_key {
                break;
            }
            entry = again;
        }
        Err(FilesError::MissingObject { path: entry.path })
    }

    /// Deletes a project if it is still at `expected_version`: its index
    /// rows and runs go with it in the database, then its objects,
    /// best-effort (leftovers are orphans for the sweep).
    pub async fn delete_project(
        &self,
        owner: &UserId,
        project: &ProjectId,
        expected_version: i64,
    ) -> Result<(), FilesError> {
        let files = self.store.list_files(owner, project).await?;
        self.store.delete_project(owner, project, expected_version).await?;
        for file in &files {
            self.objects.delete_best_effort(&file.object_key).await;
        }
        // Anything else under the prefix is an orphan of this project.
        if let Ok(prefix) = objects::project_prefix(project) {
            let leftovers: Vec<_> = match self.objects.store().list(Some(&prefix)).try_collect().await {
                Ok(listed) => listed,
                Err(error) => {
                    tracing::warn!(%project, %error, "could not list a deleted project's objects");
                    Vec::new()
                }
            };
            for meta in leftovers {
                self.objects.delete_best_effort(meta.location.as_ref()).await;
            }
        }
        Ok(())
    }

    /// Removes objects that no index row points at and that are older than
    /// `grace`, and (local storage) staging files of writes that never
    /// finished. A crash can leave both behind; neither is ever readable
    /// through the index. The grace period protects writes in flight — on
    /// this server or another replica — whose index update has not
    /// happened yet: use minutes, not zero, on a live deployment. The
    /// server runs it once at start-up, in the background.
    pub async fn sweep_orphans(&self, grace: Duration) -> Result<SweepReport, FilesError> {
        let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut report = SweepReport::default();
        if let Some(root) = self.objects.local_root() {
            let root = root.join(OBJECTS_ROOT);
            report.staging_files = tokio::task::spawn_blocking(move || sweep_staging_files(&root, cutoff))
                .await
                .map_err(|error| FilesError::Io(std::io::Error::other(error)))??;
        }
        let root = ObjectPath::from(OBJECTS_ROOT);
        let listed: Vec<_> = self.objects.store().list(Some(&root)).try_collect().await?;
        let mut by_project: std::collections::BTreeMap<String, Vec<object_store::ObjectMeta>> = Default::default();
        for meta in listed {
            let old_enough = SystemTime::from(meta.last_modified) <= cutoff;
            match objects::key_project(&meta.location) {
                Some(project) if old_enough => by_project.entry(project.0).or_default().push(meta),
                Some(_) => {}
                None => tracing::warn!(key = %meta.location, "an object of unknown shape under projects/: left alone"),
            }
        }
        for (project, metas) in by_project {
            let project = ProjectId(project);
            let indexed: HashSet<String> = if self.store.project_exists(&project).await? {
                self.store.indexed_object_keys(&project).await?.into_iter().collect()
            } else {
                HashSet::new()
            };
            for meta in metas {
                if !indexed.contains(meta.location.as_ref()) {
                    self.objects.delete_best_effort(meta.location.as_ref()).await;
                    report.orphan_objects += 1;
                }
            }
        }
        Ok(report)
    }
}

/// Whether a failed index write certainly did not happen. A database
/// failure might have come after the commit took effect (a connection lost
/// while committing): then the new objects stay, and the sweep deletes
/// them only if the index does not point at them.
fn surely_not_written(error: &StoreError) -> bool {
    !matches!(error, StoreError::Database(_))
}

fn parse_key(key: &str) -> Result<ObjectPath, FilesError> {
    ObjectPath::parse(key).map_err(|_| FilesError::InvalidKey)
}

/// Removes `LocalFileSystem` staging files (`<key>#<digits>`) older than
/// `cutoff` under `root`, and empty project directories. Returns how many
/// files it removed.
fn sweep_staging_files(root: &std::path::Path, cutoff: SystemTime) -> Result<u64, FilesError> {
    let mut removed = 0;
    let projects = match std::fs::read_dir(root) {
        Ok(projects) => projects,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error.into()),
    };
    for project in projects {
        let project = project?;
        if !project.file_type()?.is_dir() {
            continue;
        }
        let mut remaining = 0;
        for object in std::fs::read_dir(project.path())? {
            let object = object?;
            let name = object.file_name();
            let name = name.to_string_lossy();
            let staging = name
                .split_once('#')
                .is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()));
            let old = object.metadata()?.modified()? <= cutoff;
            if staging && old {
                std::fs::remove_file(object.path())?;
                removed += 1;
            } else {
                remaining += 1;
            }
        }
        if remaining == 0 {
            // Another writer may create a file in it right now; then the
            // removal fails (not empty) or its put recreates the directory.
            let _ = std::fs::remove_dir(project.path());
        }
    }
    Ok(removed)
}
