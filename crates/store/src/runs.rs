//! Run history: the last runs of each project.

use crate::error::StoreResult;
use crate::model::{ProjectId, RunRecord, UserId};
use crate::{column, Store};

/// How many runs a project keeps; older ones are deleted as new ones come.
pub const RUNS_KEPT_PER_PROJECT: i64 = 50;

impl Store {
    /// Records a run of one of the owner's projects and forgets runs beyond
    /// the last [`RUNS_KEPT_PER_PROJECT`].
    pub async fn record_run(&self, owner: &UserId, project: &ProjectId, run: &RunRecord) -> StoreResult<()> {
        self.project(owner, project).await?;
        // The insert comes first so the transaction takes SQLite's write
        // lock at once (a read-then-write transaction can fail with BUSY).
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO runs (project_id, started_at, language, status, duration_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&project.0)
        .bind(run.started_at_ms)
        .bind(&run.language)
        .bind(&run.status)
        .bind(run.duration_ms)
        .execute(&mut *transaction)
        .await?;
        sqlx::query(
            "DELETE FROM runs WHERE project_id = $1 AND seq NOT IN \
             (SELECT seq FROM runs WHERE project_id = $1 ORDER BY seq DESC LIMIT $2)",
        )
        .bind(&project.0)
        .bind(RUNS_KEPT_PER_PROJECT)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The owner's project's kept runs, newest first.
    pub async fn list_runs(&self, owner: &UserId, project: &ProjectId) -> StoreResult<Vec<RunRecord>> {
        self.project(owner, project).await?;
        let rows = sqlx::query(
            "SELECT started_at, language, status, duration_ms FROM runs WHERE project_id = $1 ORDER BY seq DESC",
        )
        .bind(&project.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RunRecord {
                    started_at_ms: column(row, "started_at")?,
                    language: column(row, "language")?,
                    status: column(row, "status")?,
                    duration_ms: column(row, "duration_ms")?,
                })
            })
            .collect()
    }
}
