//! The fleet: the `bytesbox serve` processes sharing this database, each a
//! row it writes at start and refreshes with every heartbeat
//! (`docs/deploy.md`).

use std::time::Duration;

use crate::error::{StoreError, StoreResult};
use crate::{column, now_ms, Store};

/// Whether a node takes new sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// It takes new sessions and runs.
    Serving,
    /// Its running sessions go on; it takes no new ones and exits when
    /// they are over.
    Draining,
}

impl NodeState {
    /// The name stored and shown: `serving` or `draining`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Serving => "serving",
            NodeState::Draining => "draining",
        }
    }

    /// Unknown names read as `draining`: a row this version cannot read
    /// should not draw new sessions.
    fn parse(text: &str) -> NodeState {
        match text {
            "serving" => NodeState::Serving,
            _ => NodeState::Draining,
        }
    }
}

/// A node as it registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    /// Its id: unique in the fleet; the `node` label of its metrics.
    pub id: String,
    /// The URL peers and the load balancer reach it at.
    pub address: String,
    /// The most boxes it holds at once.
    pub capacity: u64,
}

/// What a node reports with each heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLoad {
    /// Its live boxes.
    pub boxes: u64,
    /// Its live sessions.
    pub sessions: u64,
}

/// A node of the fleet, as the database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// Its id.
    pub id: String,
    /// The URL peers and the load balancer reach it at.
    pub address: String,
    /// The most boxes it holds at once.
    pub capacity: i64,
    /// Live boxes at its last heartbeat.
    pub boxes: i64,
    /// Live sessions at its last heartbeat.
    pub sessions: i64,
    /// Serving or draining.
    pub state: NodeState,
    /// When it registered (Unix ms).
    pub started_at_ms: i64,
    /// Its last heartbeat (Unix ms).
    pub heartbeat_at_ms: i64,
}

/// Rows of nodes silent this long are deleted when a node registers:
/// long enough to read what happened to a node that died yesterday.
const FORGOTTEN_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

const NODE_COLUMNS: &str = "id, address, capacity, boxes, sessions, state, started_at, heartbeat_at";

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn clamp(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn node_from_row(row: &sqlx::any::AnyRow) -> StoreResult<NodeRecord> {
    Ok(NodeRecord {
        id: column(row, "id")?,
        address: column(row, "address")?,
        capacity: column(row, "capacity")?,
        boxes: column(row, "boxes")?,
        sessions: column(row, "sessions")?,
        state: NodeState::parse(&column::<String>(row, "state")?),
        started_at_ms: column(row, "started_at")?,
        heartbeat_at_ms: column(row, "heartbeat_at")?,
    })
}

impl Store {
    /// Registers a starting node as serving, with no load yet. A node that
    /// restarts with the same id takes its row over.
    pub async fn register_node(&self, node: &NodeRegistration) -> StoreResult<()> {
        let now = now_ms();
        sqlx::query("DELETE FROM nodes WHERE heartbeat_at < $1")
            .bind(now.saturating_sub(millis(FORGOTTEN_AFTER)))
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO nodes (id, address, capacity, boxes, sessions, state, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, 0, 0, 'serving', $4, $4) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, capacity = excluded.capacity, \
             boxes = 0, sessions = 0, state = 'serving', started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at",
        )
        .bind(&node.id)
        .bind(&node.address)
        .bind(clamp(node.capacity))
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a node's heartbeat and load; returns the state the fleet
    /// wants it in (an administrator may have set `draining`). A node
    /// whose row is gone is [`StoreError::NotFound`]: it registers again.
    pub async fn node_heartbeat(&self, id: &str, load: NodeLoad) -> StoreResult<NodeState> {
        let row =
            sqlx::query("UPDATE nodes SET boxes = $2, sessions = $3, heartbeat_at = $4 WHERE id = $1 RETURNING state")
                .bind(id)
                .bind(clamp(load.boxes))
                .bind(clamp(load.sessions))
                .bind(now_ms())
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)?;
        Ok(NodeState::parse(&column::<String>(&row, "state")?))
    }

    /// Marks a node `draining`; it reads that at its next heartbeat.
    /// Unknown ids are [`StoreError::NotFound`].
    pub async fn drain_node(&self, id: &str) -> StoreResult<()> {
        let done =
            sqlx::query("UPDATE nodes SET state = 'draining' WHERE id = $1").bind(id).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Removes a node's row (it stopped cleanly).
    pub async fn remove_node(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM nodes WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    /// The fleet: nodes whose last heartbeat is at most `timeout` old,
    /// oldest first.
    pub async fn live_nodes(&self, timeout: Duration) -> StoreResult<Vec<NodeRecord>> {
        let sql = format!("SELECT {NODE_COLUMNS} FROM nodes WHERE heartbeat_at >= $1 ORDER BY started_at, id");
        let rows = sqlx::query(&sql).bind(now_ms().saturating_sub(millis(timeout))).fetch_all(&self.pool).await?;
        rows.iter().map(node_from_row).collect()
    }
}
