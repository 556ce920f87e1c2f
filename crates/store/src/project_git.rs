//! A project's saved git repository: one archive of a box's `.git` per
//! project (`docs/git.md`, "Saved with the project"). The archive is an
//! object under the project's prefix, written as a file's contents are
//! ([`crate::ProjectFiles`]'s write protocol: the object durably first,
//! then the index row in a transaction that checks the quota, then the
//! replaced object deleted best-effort), so a failed or refused save
//! leaves the previous archive in place. Its bytes count in the owner's
//! `max_bytes` quota and in the server's storage budget; it is not a file
//! of the project (not listed, not exported, not copied by a duplicate).

use bytes::Bytes;

use crate::error::{StoreError, StoreResult};
use crate::files::Checked;
use crate::model::{ProjectId, Usage, UserId};
use crate::objects;
use crate::project_files::{FilesError, ProjectFiles, Quota, QuotaKind, SizeLimit};
use crate::usage::usage_in;
use crate::{column, now_ms, Store};

/// A saved repository as its index row describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedGit {
    /// The archive's size.
    pub size_bytes: i64,
    /// Where the archive is.
    pub object_key: String,
    /// Unix milliseconds of the save.
    pub updated_at_ms: i64,
}

impl Store {
    /// The saved repository of the owner's project, if it has one; someone
    /// else's project is `NotFound`.
    pub async fn saved_git(&self, owner: &UserId, project: &ProjectId) -> StoreResult<Option<SavedGit>> {
        self.project(owner, project).await?;
        let row = sqlx::query("SELECT size_bytes, object_key, updated_at FROM project_git WHERE project_id = $1")
            .bind(&project.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(SavedGit {
                size_bytes: column(&row, "size_bytes")?,
                object_key: column(&row, "object_key")?,
                updated_at_ms: column(&row, "updated_at")?,
            })
        })
        .transpose()
    }

    /// Points the project's saved repository at `object_key` if the user
    /// stays within `quota` (checked with the user's other writes held
    /// off). Returns the saved entry and the key it replaced.
    async fn commit_git_write(
        &self,
        owner: &UserId,
        project: &ProjectId,
        size_bytes: i64,
        object_key: &str,
        quota: &Quota,
    ) -> StoreResult<Checked<(SavedGit, Option<String>)>> {
        let mut tx = self.begin_for_owned_project(owner, project).await?;
        let current = sqlx::query("SELECT size_bytes, object_key FROM project_git WHERE project_id = $1")
            .bind(&project.0)
            .fetch_optional(&mut *tx)
            .await?;
        let current: Option<(i64, String)> = current
            .map(|row| Ok::<_, StoreError>((column(&row, "size_bytes")?, column(&row, "object_key")?)))
            .transpose()?;
        let before = usage_in(&mut tx, owner).await?;
        let after =
            Usage { bytes: before.bytes - current.as_ref().map_or(0, |(size, _)| *size) + size_bytes, ..before };
        if let Some(kind) = quota.exceeded(before, after) {
            return Ok(Checked::Over(kind));
        }
        self.check_storage_in(&mut tx, after.bytes - before.bytes, false).await?;
        let now = now_ms();
        let sql = if current.is_some() {
            "UPDATE project_git SET size_bytes = $2, object_key = $3, updated_at = $4 WHERE project_id = $1"
        } else {
            "INSERT INTO project_git (project_id, size_bytes, object_key, updated_at) VALUES ($1, $2, $3, $4)"
        };
        sqlx::query(sql).bind(&project.0).bind(size_bytes).bind(object_key).bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
        let saved = SavedGit { size_bytes, object_key: object_key.to_owned(), updated_at_ms: now };
        Ok(Checked::Done((saved, current.map(|(_, key)| key))))
    }
}

impl ProjectFiles {
    /// The most bytes a saved repository of `project` may have now: what
    /// the user's `max_bytes` quota leaves, counting the project's current
    /// archive as free (a save replaces it).
    pub async fn git_room(&self, owner: &UserId, project: &ProjectId, quota: &Quota) -> Result<u64, FilesError> {
        let current = self.store().saved_git(owner, project).await?.map_or(0, |saved| saved.size_bytes);
        let used = self.store().usage(owner).await?.bytes - current;
        Ok(quota.max_bytes.saturating_sub(u64::try_from(used).unwrap_or(0)))
    }

    /// Saves `archive` as the project's repository, within `quota` and the
    /// server's storage caps. A refused or failed save leaves the previous
    /// one.
    pub async fn save_git(
        &self,
        owner: &UserId,
        project: &ProjectId,
        archive: Bytes,
        quota: &Quota,
    ) -> Result<SavedGit, FilesError> {
        let size = i64::try_from(archive.len()).unwrap_or(i64::MAX);
        // Spares an upload that would be refused; the commit checks again.
        let room = self.git_room(owner, project, quota).await?;
        if archive.len() as u64 > room {
            return Err(quota.error(QuotaKind::Bytes));
        }
        self.check_storage(archive.len() as u64).await?;
        let key = objects::new_object_key(project)?;
        self.objects().put_durable(&key, archive).await?;
        match self.store().commit_git_write(owner, project, size, key.as_ref(), quota).await {
            Ok(Checked::Done((saved, replaced))) => {
                if let Some(replaced) = replaced {
                    self.objects().delete_best_effort(&replaced).await;
                }
                Ok(saved)
            }
            Ok(Checked::Over(kind)) => {
                self.objects().delete_best_effort(key.as_ref()).await;
                Err(quota.error(kind))
            }
            Err(error) => {
                // A database failure may come after the commit took
                // effect: then the object stays, and the sweep removes it
                // only if no row points at it.
                if !matches!(error, StoreError::Database(_)) {
                    self.objects().delete_best_effort(key.as_ref()).await;
                }
                Err(error.into())
            }
        }
    }

    /// The project's saved repository archive, if it has one of at most
    /// `max_bytes` (a larger one is [`FilesError::TooLarge`], checked
    /// before it is read).
    pub async fn load_git(
        &self,
        owner: &UserId,
        project: &ProjectId,
        max_bytes: u64,
    ) -> Result<Option<Bytes>, FilesError> {
        let too_large = || FilesError::TooLarge { what: SizeLimit::ProjectBytes, limit: max_bytes };
        for _ in 0..5 {
            let Some(saved) = self.store().saved_git(owner, project).await? else { return Ok(None) };
            if u64::try_from(saved.size_bytes).unwrap_or(u64::MAX) > max_bytes {
                return Err(too_large());
            }
            let key = object_store::path::Path::parse(&saved.object_key).map_err(|_| FilesError::InvalidKey)?;
            match self.objects().get_within(&key, max_bytes).await? {
                Some(Ok(bytes)) => return Ok(Some(bytes)),
                Some(Err(_)) => return Err(too_large()),
                // Replaced by a save since we looked: look again.
                None => continue,
            }
        }
        Err(FilesError::MissingObject { path: ".git".to_owned() })
    }
}
