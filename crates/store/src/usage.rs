//! What a user has stored, for quotas and the account pages.

use crate::error::StoreResult;
use crate::model::{Usage, UserId};
use crate::{column, Store};

impl Store {
    /// The user's projects, files and bytes over all projects (their files
    /// and saved git repositories).
    pub async fn usage(&self, owner: &UserId) -> StoreResult<Usage> {
        let mut connection = self.pool.acquire().await?;
        usage_in(&mut connection, owner).await
    }
}

/// The user's usage as `connection` (or the transaction it is in) sees it.
pub(crate) async fn usage_in(connection: &mut sqlx::AnyConnection, owner: &UserId) -> StoreResult<Usage> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL, which `Any` cannot
    // decode: cast it back.
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM projects WHERE owner_id = $1) AS projects, \
                (SELECT COUNT(*) FROM project_files JOIN projects ON projects.id = project_files.project_id \
                  WHERE projects.owner_id = $1) AS files, \
                (SELECT CAST(COALESCE(SUM(project_files.size_bytes), 0) AS BIGINT) FROM project_files \
                  JOIN projects ON projects.id = project_files.project_id WHERE projects.owner_id = $1) AS bytes, \
                (SELECT CAST(COALESCE(SUM(project_git.size_bytes), 0) AS BIGINT) FROM project_git \
                  JOIN projects ON projects.id = project_git.project_id WHERE projects.owner_id = $1) AS git_bytes",
    )
    .bind(&owner.0)
    .fetch_one(&mut *connection)
    .await?;
    // A saved repository's archive counts as bytes, not as a file.
    let bytes = column::<i64>(&row, "bytes")?.saturating_add(column(&row, "git_bytes")?);
    Ok(Usage { projects: column(&row, "projects")?, files: column(&row, "files")?, bytes })
}
