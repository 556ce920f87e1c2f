//! Projects with optimistic versioning: every change names the version it
//! was based on, and a stale one is a conflict, never a silent overwrite.

use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};
use crate::files::Checked;
use crate::model::{FileEntry, NewFileEntry, Project, ProjectId, ProjectSettings, Usage, UserId};
use crate::project_files::Quota;
use crate::usage::usage_in;
use crate::{column, new_id, now_ms, Store};

const PROJECT_COLUMNS: &str = "id, owner_id, name, language, entry_file, version, created_at, updated_at";

impl Store {
    /// Creates a project at version 1.
    pub async fn create_project(&self, owner: &UserId, settings: &ProjectSettings) -> StoreResult<Project> {
        let settings = checked(settings)?;
        let now = now_ms();
        let project = Project {
            id: ProjectId(new_id()),
            owner: owner.clone(),
            name: settings.name,
            language: settings.language,
            entry_file: settings.entry_file,
            version: 1,
            created_at_ms: now,
            updated_at_ms: now,
        };
        sqlx::query(
            "INSERT INTO projects (id, owner_id, name, language, entry_file, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
        )
        .bind(&project.id.0)
        .bind(&owner.0)
        .bind(&project.name)
        .bind(&project.language)
        .bind(&project.entry_file)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|error| StoreError::unique_as(error, StoreError::ProjectNameTaken))?;
        Ok(project)
    }

    /// Creates project `id` (from [`ProjectId::random`]) at version 1 with
    /// its whole file index in one transaction, if the user stays within
    /// `quota`: the project appears with all of its files or not at all,
    /// and concurrent creations cannot overshoot a quota together. The
    /// caller has already put each file's contents under its `object_key`.
    pub(crate) async fn create_project_with_files(
        &self,
        owner: &UserId,
        id: &ProjectId,
        settings: &ProjectSettings,
        files: &[NewFileEntry],
        quota: &Quota,
    ) -> StoreResult<Checked<(Project, Vec<FileEntry>)>> {
        let settings = checked(settings)?;
        let mut tx = self.begin_for_user(owner).await?;
        let before = usage_in(&mut tx, owner).await?;
        let after = Usage {
            projects: before.projects + 1,
            files: before.files.saturating_add(i64::try_from(files.len()).unwrap_or(i64::MAX)),
            bytes: files.iter().fold(before.bytes, |sum, file| sum.saturating_add(file.size_bytes)),
        };
        if let Some(kind) = quota.exceeded(before, after) {
            return Ok(Checked::Over(kind));
        }
        self.check_storage_in(&mut tx, after.bytes - before.bytes, true).await?;
        let now = now_ms();
        let project = Project {
            id: id.clone(),
            owner: owner.clone(),
            name: settings.name,
            language: settings.language,
            entry_file: settings.entry_file,
            version: 1,
            created_at_ms: now,
            updated_at_ms: now,
        };
        sqlx::query(
            "INSERT INTO projects (id, owner_id, name, language, entry_file, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $6)",
        )
        .bind(&project.id.0)
        .bind(&owner.0)
        .bind(&project.name)
        .bind(&project.language)
        .bind(&project.entry_file)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|error| StoreError::unique_as(error, StoreError::ProjectNameTaken))?;
        let mut entries = Vec::with_capacity(files.len());
        for file in files {
            sqlx::query(
                "INSERT INTO project_files (project_id, path, size_bytes, object_key, version, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5)",
            )
            .bind(&project.id.0)
            .bind(&file.path)
            .bind(file.size_bytes)
            .bind(&file.object_key)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|error| StoreError::unique_as(error, StoreError::InvalidInput("duplicate path")))?;
            entries.push(FileEntry {
                path: file.path.clone(),
                size_bytes: file.size_bytes,
                object_key: file.object_key.clone(),
                version: 1,
                updated_at_ms: now,
            });
        }
        tx.commit().await?;
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Checked::Done((project, entries)))
    }

    /// The owner's projects, by name.
    pub async fn list_projects(&self, owner: &UserId) -> StoreResult<Vec<Project>> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE owner_id = $1 ORDER BY name, id");
        let rows = sqlx::query(&sql).bind(&owner.0).fetch_all(&self.pool).await?;
        rows.iter().map(project_from_row).collect()
    }

    /// One of the owner's projects; someone else's is `NotFound`.
    pub async fn project(&self, owner: &UserId, id: &ProjectId) -> StoreResult<Project> {
        let sql = format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1 AND owner_id = $2");
        let row = sqlx::query(&sql).bind(&id.0).bind(&owner.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(project_from_row).transpose()?.ok_or(StoreError::NotFound)
    }

    /// Replaces a project's settings if it is still at `expected_version`,
    /// and returns it at the next version.
    pub async fn update_project(
        &self,
        owner: &UserId,
        id: &ProjectId,
        expected_version: i64,
        settings: &ProjectSettings,
    ) -> StoreResult<Project> {
        let settings = checked(settings)?;
        // One conditional statement: the version check and the write are
        // atomic on both databases without an explicit transaction.
        let sql = format!(
            "UPDATE projects SET name = $1, language = $2, entry_file = $3, version = version + 1, updated_at = $4 \
             WHERE id = $5 AND owner_id = $6 AND version = $7 RETURNING {PROJECT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(&settings.name)
            .bind(&settings.language)
            .bind(&settings.entry_file)
            .bind(now_ms())
            .bind(&id.0)
            .bind(&owner.0)
            .bind(expected_version)
            .fetch_optional(&self.pool)
            .await
            .map_err(|error| StoreError::unique_as(error, StoreError::ProjectNameTaken))?;
        match row {
            Some(row) => project_from_row(&row),
            None => Err(self.stale_or_missing(owner, id, expected_version).await),
        }
    }

    /// Deletes a project (its file index and runs with it) if it is still at
    /// `expected_version`.
    pub async fn delete_project(&self, owner: &UserId, id: &ProjectId, expected_version: i64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM projects WHERE id = $1 AND owner_id = $2 AND version = $3")
            .bind(&id.0)
            .bind(&owner.0)
            .bind(expected_version)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(self.stale_or_missing(owner, id, expected_version).await);
        }
        Ok(())
    }

    /// Why a conditional write matched no row: the project is gone (or not
    /// the owner's), or its version moved on.
    async fn stale_or_missing(&self, owner: &UserId, id: &ProjectId, expected: i64) -> StoreError {
        match self.project(owner, id).await {
            Ok(current) => StoreError::Conflict { expected, current: current.version },
            Err(error) => error,
        }
    }
}

fn project_from_row(row: &AnyRow) -> StoreResult<Project> {
    Ok(Project {
        id: ProjectId(column(row, "id")?),
        owner: UserId(column(row, "owner_id")?),
        name: column(row, "name")?,
        language: column(row, "language")?,
        entry_file: column(row, "entry_file")?,
        version: column(row, "version")?,
        created_at_ms: column(row, "created_at")?,
        updated_at_ms: column(row, "updated_at")?,
    })
}

fn checked(settings: &ProjectSettings) -> StoreResult<ProjectSettings> {
    let name = settings.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput("a project name is 1 to 100 printable characters"));
    }
    if settings.language.as_ref().is_some_and(|language| language.is_empty() || language.len() > 64) {
        return Err(StoreError::InvalidInput("a language id is 1 to 64 characters"));
    }
    if settings.entry_file.as_ref().is_some_and(|path| path.is_empty() || path.len() > 4096 || path.contains('\0')) {
        return Err(StoreError::InvalidInput("an entry file is a path of 1 to 4096 bytes"));
    }
    Ok(ProjectSettings { name: name.to_owned(), ..settings.clone() })
}
