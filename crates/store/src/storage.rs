//! Server-wide storage caps: a budget on the bytes of all saved projects
//! together, and a floor of free space on the disk that holds the file
//! contents. Per-user quotas (`Quota`) bound one account; these bound all
//! of them, so open sign-up cannot fill the disk. Every write that adds
//! data is checked twice: before its contents are uploaded
//! ([`crate::ProjectFiles::check_storage`], which spares a doomed upload)
//! and again inside the transaction that commits it to the index
//! ([`Store::check_storage_in`]), so no write path can skip it. Writes that
//! do not grow anything (deletions, smaller saves) are always allowed, so
//! users can free space. Decisions: `docs/security.md`, "Storage caps".

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::error::{StorageFull, StoreError, StoreResult};
use crate::model::UserId;
use crate::{column, Store};

/// The caps an administrator configures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageLimits {
    /// Most bytes of file contents over all users' projects; `None`: no
    /// budget.
    pub budget_bytes: Option<u64>,
    /// Writes are refused while the disk holding the file contents has
    /// less free space than this (after the write); 0: no check.
    pub min_free_bytes: u64,
}

/// The caps and the directory whose disk the watermark watches.
#[derive(Debug, Clone, Default)]
pub(crate) struct StorageGuard {
    limits: StorageLimits,
    disk: Option<Arc<Path>>,
}

/// One user's share, for the administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStorage {
    /// The user.
    pub id: UserId,
    /// Their login name.
    pub username: String,
    /// Projects.
    pub projects: i64,
    /// Files over all projects.
    pub files: i64,
    /// Bytes over all projects.
    pub bytes: i64,
}

impl Store {
    /// This store with server-wide caps on the writes of project files;
    /// `disk` is a directory on the disk the watermark watches (the local
    /// object store's), `None` for remote object storage.
    pub fn with_storage_limits(mut self, limits: StorageLimits, disk: Option<&Path>) -> Store {
        self.storage = StorageGuard { limits, disk: disk.map(Arc::from) };
        self
    }

    /// The caps this store enforces.
    pub fn storage_limits(&self) -> StorageLimits {
        self.storage.limits
    }

    /// Free bytes on the watched disk (as an unprivileged user sees
    /// them), if there is one.
    pub fn disk_free_bytes(&self) -> Option<u64> {
        self.storage.disk.as_deref().and_then(free_bytes)
    }

    /// Bytes of file contents over all projects of all users.
    pub async fn total_stored_bytes(&self) -> StoreResult<u64> {
        let mut connection = self.pool.acquire().await?;
        total_bytes_in(&mut connection).await
    }

    /// The `limit` users who store the most bytes, most first.
    pub async fn storage_by_user(&self, limit: u32) -> StoreResult<Vec<UserStorage>> {
        let rows = sqlx::query(
            "SELECT users.id AS id, users.username AS username, \
                    COUNT(DISTINCT projects.id) AS projects, COUNT(project_files.path) AS files, \
                    CAST(COALESCE(SUM(project_files.size_bytes), 0) + \
                         (SELECT COALESCE(SUM(project_git.size_bytes), 0) FROM project_git \
                          JOIN projects AS owned ON owned.id = project_git.project_id \
                          WHERE owned.owner_id = users.id) AS BIGINT) AS bytes \
             FROM users LEFT JOIN projects ON projects.owner_id = users.id \
                  LEFT JOIN project_files ON project_files.project_id = projects.id \
             GROUP BY users.id, users.username ORDER BY bytes DESC, username LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UserStorage {
                    id: UserId(column(row, "id")?),
                    username: column(row, "username")?,
                    projects: column(row, "projects")?,
                    files: column(row, "files")?,
                    bytes: column(row, "bytes")?,
                })
            })
            .collect()
    }

    /// Refuses a write that is about to upload `added_bytes` more than it
    /// replaces when the server would go past its budget or the disk
    /// below its watermark (with room left for the upload). Writes check
    /// this before uploading; their commit checks again
    /// ([`Store::check_storage_in`]).
    pub async fn check_storage(&self, added_bytes: u64) -> StoreResult<()> {
        self.check_disk(added_bytes)?;
        if self.storage.limits.budget_bytes.is_some() {
            let mut connection = self.pool.acquire().await?;
            self.check_budget_in(&mut connection, i64::try_from(added_bytes).unwrap_or(i64::MAX)).await?;
        }
        Ok(())
    }

    /// The check of a commit, inside its transaction, for a write that
    /// adds `added_bytes` (and, with `adds_rows`, new files or a project):
    /// with SQLite's write lock held, concurrent writers cannot overshoot
    /// the budget together.
    pub(crate) async fn check_storage_in(
        &self,
        connection: &mut sqlx::AnyConnection,
        added_bytes: i64,
        adds_rows: bool,
    ) -> StoreResult<()> {
        if added_bytes <= 0 && !adds_rows {
            return Ok(());
        }
        // The contents are on the disk already: its free space counts them.
        self.check_disk(0)?;
        self.check_budget_in(connection, added_bytes).await
    }

    /// Refuses when the watched disk would have less than the watermark
    /// free after `incoming` more bytes.
    fn check_disk(&self, incoming: u64) -> StoreResult<()> {
        let min_free = self.storage.limits.min_free_bytes;
        if min_free == 0 {
            return Ok(());
        }
        let Some(free) = self.disk_free_bytes() else { return Ok(()) };
        if free.saturating_sub(incoming) < min_free {
            if time_to_warn() {
                tracing::warn!(free, min_free, incoming, "writes are refused: the data disk is at its watermark");
            }
            return Err(StoreError::StorageFull(StorageFull::Disk));
        }
        Ok(())
    }

    async fn check_budget_in(&self, connection: &mut sqlx::AnyConnection, added_bytes: i64) -> StoreResult<()> {
        let Some(budget) = self.storage.limits.budget_bytes else { return Ok(()) };
        let total = total_bytes_in(connection).await?;
        let added = u64::try_from(added_bytes).unwrap_or(0);
        // Exactly at the budget is full for writes that add only rows (an
        // empty project or file): otherwise they could be added forever.
        let full = if added == 0 { total >= budget } else { total.saturating_add(added) > budget };
        if full {
            if time_to_warn() {
                tracing::warn!(total, added_bytes, budget, "writes are refused: the storage budget is used up");
            }
            return Err(StoreError::StorageFull(StorageFull::Budget));
        }
        Ok(())
    }
}

/// Whether to log a refusal: at most once a minute, so a flood of refused
/// writes does not flood the log too.
fn time_to_warn() -> bool {
    static LAST_WARNED_MS: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = crate::now_ms();
    let last = LAST_WARNED_MS.load(Ordering::Relaxed);
    now.saturating_sub(last) >= 60_000
        && LAST_WARNED_MS.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
}

/// Bytes over all projects (files and saved git repositories) as
/// `connection` (or its transaction) sees them.
async fn total_bytes_in(connection: &mut sqlx::AnyConnection) -> StoreResult<u64> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL, which `Any` cannot decode.
    let row = sqlx::query(
        "SELECT (SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM project_files) AS bytes, \
                (SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM project_git) AS git_bytes",
    )
    .fetch_one(&mut *connection)
    .await?;
    let bytes = column::<i64>(&row, "bytes")?.saturating_add(column(&row, "git_bytes")?);
    Ok(u64::try_from(bytes).unwrap_or(0))
}

/// Free bytes for unprivileged users on the file system holding `path`
/// (the server runs as root, which may dip into the reserved blocks; the
/// watermark should not count on them).
fn free_bytes(path: &Path) -> Option<u64> {
    match rustix::fs::statvfs(path) {
        Ok(stats) => Some(stats.f_bavail.saturating_mul(stats.f_frsize)),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "could not read the data disk's free space");
            None
        }
    }
}
