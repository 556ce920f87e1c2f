//! A project's file index, with a version per file. Version 0 stands for
//! "no such file": writing with expected version 0 creates a file, and a
//! conflict whose current version is 0 means another writer deleted it.

use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};
use crate::model::{FileEntry, NewFileEntry, ProjectId, Usage, UserId};
use crate::project_files::{Quota, QuotaKind};
use crate::usage::usage_in;
use crate::{column, now_ms, Database, Store};

const FILE_COLUMNS: &str = "path, size_bytes, object_key, version, updated_at";

impl Store {
    /// Records a write of `path` (whose contents the caller already put in
    /// the object store under `object_key`), if the file is still at
    /// `expected_version` (0: it must not exist yet).
    pub async fn put_file_entry(
        &self,
        owner: &UserId,
        project: &ProjectId,
        path: &str,
        size_bytes: i64,
        object_key: &str,
        expected_version: i64,
    ) -> StoreResult<FileEntry> {
        self.project(owner, project).await?;
        let now = now_ms();
        let written = if expected_version == 0 {
            let sql = format!(
                "INSERT INTO project_files (project_id, path, size_bytes, object_key, version, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5) RETURNING {FILE_COLUMNS}"
            );
            let inserted = sqlx::query(&sql)
                .bind(&project.0)
                .bind(path)
                .bind(size_bytes)
                .bind(object_key)
                .bind(now)
                .fetch_optional(&self.pool)
                .await;
            match inserted {
                Err(sqlx::Error::Database(error)) if error.is_unique_violation() => None,
                other => other?,
            }
        } else {
            let sql = format!(
                "UPDATE project_files SET size_bytes = $1, object_key = $2, version = version + 1, updated_at = $3 \
                 WHERE project_id = $4 AND path = $5 AND version = $6 RETURNING {FILE_COLUMNS}"
            );
            sqlx::query(&sql)
                .bind(size_bytes)
                .bind(object_key)
                .bind(now)
                .bind(&project.0)
                .bind(path)
                .bind(expected_version)
                .fetch_optional(&self.pool)
                .await?
        };
        match written {
            Some(row) => file_from_row(&row),
            None => Err(self.file_conflict(project, path, expected_version).await),
        }
    }

    /// Removes `path` from the index if it is still at `expected_version`;
    /// returns the entry, whose object the caller then deletes.
    pub async fn delete_file_entry(
        &self,
        owner: &UserId,
        project: &ProjectId,
        path: &str,
        expected_version: i64,
    ) -> StoreResult<FileEntry> {
        self.project(owner, project).await?;
        let sql = format!(
            "DELETE FROM project_files WHERE project_id = $1 AND path = $2 AND version = $3 RETURNING {FILE_COLUMNS}"
        );
        let row =
            sqlx::query(&sql).bind(&project.0).bind(path).bind(expected_version).fetch_optional(&self.pool).await?;
        match row {
            Some(row) => file_from_row(&row),
            None => Err(self.file_conflict(project, path, expected_version).await),
        }
    }

    /// The owner's project's files, by path.
    pub async fn list_files(&self, owner: &UserId, project: &ProjectId) -> StoreResult<Vec<FileEntry>> {
        self.project(owner, project).await?;
        let sql = format!("SELECT {FILE_COLUMNS} FROM project_files WHERE project_id = $1 ORDER BY path");
        let rows = sqlx::query(&sql).bind(&project.0).fetch_all(&self.pool).await?;
        rows.iter().map(file_from_row).collect()
    }

    /// One file of the owner's project; a missing file is `NotFound`.
    pub async fn file_entry(&self, owner: &UserId, project: &ProjectId, path: &str) -> StoreResult<FileEntry> {
        self.project(owner, project).await?;
        let sql = format!("SELECT {FILE_COLUMNS} FROM project_files WHERE project_id = $1 AND path = $2");
        let row = sqlx::query(&sql).bind(&project.0).bind(path).fetch_optional(&self.pool).await?;
        row.as_ref().map(file_from_row).transpose()?.ok_or(StoreError::NotFound)
    }

    /// Starts a transaction that holds off the user's other quota-checked
    /// writes until it ends: SQLite takes its write lock at once
    /// (`BEGIN IMMEDIATE`); PostgreSQL locks the user's row.
    pub(crate) async fn begin_for_user(&self, owner: &UserId) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        match self.database {
            Database::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Database::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE").bind(&owner.0).execute(&mut *tx).await?;
                Ok(tx)
            }
        }
    }

    /// [`Store::begin_for_user`], for a write to one of the owner's
    /// projects: someone else's (or none) is `NotFound`.
    pub(crate) async fn begin_for_owned_project(
        &self,
        owner: &UserId,
        project: &ProjectId,
    ) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        let mut tx = self.begin_for_user(owner).await?;
        let owned = sqlx::query("SELECT id FROM projects WHERE id = $1 AND owner_id = $2")
            .bind(&project.0)
            .bind(&owner.0)
            .fetch_optional(&mut *tx)
            .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(tx)
    }

    /// Moves `path` to a new object if it is still at `expected_version`
    /// (0: it must not exist) and the change keeps the user within
    /// `quota` — checked and written in one transaction that holds off the
    /// user's other writes, so concurrent saves cannot overshoot a quota
    /// together. Returns the new entry and the object key it replaced.
    pub(crate) async fn commit_file_write(
        &self,
        owner: &UserId,
        project: &ProjectId,
        file: &NewFileEntry,
        expected_version: i64,
        quota: &Quota,
    ) -> StoreResult<Checked<(FileEntry, Option<String>)>> {
        let NewFileEntry { path, size_bytes, object_key } = file;
        let (size_bytes, object_key) = (*size_bytes, object_key.as_str());
        let mut tx = self.begin_for_owned_project(owner, project).await?;
        let sql = format!("SELECT {FILE_COLUMNS} FROM project_files WHERE project_id = $1 AND path = $2");
        let current = sqlx::query(&sql).bind(&project.0).bind(path).fetch_optional(&mut *tx).await?;
        let current = current.as_ref().map(file_from_row).transpose()?;
        let current_version = current.as_ref().map_or(0, |file| file.version);
        if current_version != expected_version {
            return Err(StoreError::Conflict { expected: expected_version, current: current_version });
        }
        let before = usage_in(&mut tx, owner).await?;
        let after = Usage {
            files: before.files + i64::from(current.is_none()),
            bytes: before.bytes - current.as_ref().map_or(0, |file| file.size_bytes) + size_bytes,
            ..before
        };
        if let Some(kind) = quota.exceeded(before, after) {
            return Ok(Checked::Over(kind));
        }
        self.check_storage_in(&mut tx, after.bytes - before.bytes, current.is_none()).await?;
        let now = now_ms();
        let row = if current.is_none() {
            let sql = format!(
                "INSERT INTO project_files (project_id, path, size_bytes, object_key, version, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5) RETURNING {FILE_COLUMNS}"
            );
            sqlx::query(&sql)
                .bind(&project.0)
                .bind(path)
                .bind(size_bytes)
                .bind(object_key)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
        } else {
            let sql = format!(
                "UPDATE project_files SET size_bytes = $1, object_key = $2, version = version + 1, updated_at = $3 \
                 WHERE project_id = $4 AND path = $5 AND version = $6 RETURNING {FILE_COLUMNS}"
            );
            sqlx::query(&sql)
                .bind(size_bytes)
                .bind(object_key)
                .bind(now)
                .bind(&project.0)
                .bind(path)
                .bind(expected_version)
                .fetch_one(&mut *tx)
                .await?
        };
        let entry = file_from_row(&row)?;
        tx.commit().await?;
        Ok(Checked::Done((entry, current.map(|file| file.object_key))))
    }

    /// Every object key the index of `project` points at (its files' and
    /// its saved git repository's), whoever owns it
    /// (for the orphan sweep: not for answering users).
    pub async fn indexed_object_keys(&self, project: &ProjectId) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT object_key FROM project_files WHERE project_id = $1 \
             UNION ALL SELECT object_key FROM project_git WHERE project_id = $1",
        )
        .bind(&project.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| column(row, "object_key")).collect()
    }

    /// Whether a project with this id exists, whoever owns it (for the
    /// orphan sweep).
    pub async fn project_exists(&self, project: &ProjectId) -> StoreResult<bool> {
        let row =
            sqlx::query("SELECT id FROM projects WHERE id = $1").bind(&project.0).fetch_optional(&self.pool).await?;
        Ok(row.is_some())
    }

    async fn file_conflict(&self, project: &ProjectId, path: &str, expected: i64) -> StoreError {
        let current = sqlx::query("SELECT version FROM project_files WHERE project_id = $1 AND path = $2")
            .bind(&project.0)
            .bind(path)
            .fetch_optional(&self.pool)
            .await;
        match current {
            Ok(Some(row)) => match column::<i64>(&row, "version") {
                Ok(current) => StoreError::Conflict { expected, current },
                Err(error) => error,
            },
            Ok(None) => StoreError::Conflict { expected, current: 0 },
            Err(error) => StoreError::Database(error),
        }
    }
}

/// A write refused for a quota, or done.
#[derive(Debug)]
pub(crate) enum Checked<T> {
    /// Written.
    Done(T),
    /// Refused: it would exceed this quota.
    Over(QuotaKind),
}

fn file_from_row(row: &AnyRow) -> StoreResult<FileEntry> {
    Ok(FileEntry {
        path: column(row, "path")?,
        size_bytes: column(row, "size_bytes")?,
        object_key: column(row, "object_key")?,
        version: column(row, "version")?,
        updated_at_ms: column(row, "updated_at")?,
    })
}
