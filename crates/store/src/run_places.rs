//! Runs going per user across the fleet (`docs/deploy.md`, "Limits across
//! nodes"): a row per run of a signed-in user, written by the node that
//! runs it. A node's own count of its runs is exact but sees only its
//! share; these rows let every node count a user's runs on all of them.

use std::time::Duration;

use crate::error::StoreResult;
use crate::model::UserId;
use crate::nodes::millis;
use crate::{column, now_ms, Store};

/// One run's place in the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlace {
    /// Unique: the node makes it (a random UUID) before it asks.
    pub id: String,
    /// Whose run it is.
    pub user: UserId,
    /// The node that runs it.
    pub node: String,
}

impl Store {
    /// Takes `place` if its user has fewer than `max` places in the fleet,
    /// counting only nodes whose heartbeat is at most `node_timeout` old
    /// (the rows of the others are removed: their runs died with them).
    /// Counted and written in one transaction that holds the user's other
    /// writes off, so two nodes cannot both take the last place. Returns
    /// whether it was taken.
    pub async fn take_run_place(&self, place: &RunPlace, max: u64, node_timeout: Duration) -> StoreResult<bool> {
        let now = now_ms();
        let mut transaction = self.begin_for_user(&place.user).await?;
        sqlx::query(
            "DELETE FROM run_places WHERE user_id = $1 \
             AND node_id NOT IN (SELECT id FROM nodes WHERE heartbeat_at >= $2)",
        )
        .bind(&place.user.0)
        .bind(now.saturating_sub(millis(node_timeout)))
        .execute(&mut *transaction)
        .await?;
        let row = sqlx::query("SELECT COUNT(*) AS places FROM run_places WHERE user_id = $1")
            .bind(&place.user.0)
            .fetch_one(&mut *transaction)
            .await?;
        let held = u64::try_from(column::<i64>(&row, "places")?).unwrap_or(0);
        let taken = held < max;
        if taken {
            sqlx::query("INSERT INTO run_places (id, user_id, node_id, started_at) VALUES ($1, $2, $3, $4)")
                .bind(&place.id)
                .bind(&place.user.0)
                .bind(&place.node)
                .bind(now)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(taken)
    }

    /// Frees places (their runs ended); ids that are not there are ignored.
    pub async fn release_run_places(&self, ids: &[String]) -> StoreResult<()> {
        for id in ids {
            sqlx::query("DELETE FROM run_places WHERE id = $1").bind(id).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Frees every place of `node`: a node starting again under its id has
    /// no runs, whatever its last life left behind.
    pub async fn release_node_run_places(&self, node: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM run_places WHERE node_id = $1").bind(node).execute(&self.pool).await?;
        Ok(())
    }

    /// The user's places on nodes whose heartbeat is at most
    /// `node_timeout` old.
    pub async fn run_places_of(&self, user: &UserId, node_timeout: Duration) -> StoreResult<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS places FROM run_places WHERE user_id = $1 \
             AND node_id IN (SELECT id FROM nodes WHERE heartbeat_at >= $2)",
        )
        .bind(&user.0)
        .bind(now_ms().saturating_sub(millis(node_timeout)))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(column::<i64>(&row, "places")?).unwrap_or(0))
    }
}
