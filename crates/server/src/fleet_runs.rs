//! A signed-in user's runs at once, held across the fleet: the plan's
//! `max_concurrent_runs` counts the user's runs on every node, not on each
//! (`docs/deploy.md`, "Limits across nodes"). Each run of a user takes a
//! place in the shared database's `run_places` as well as the node's own
//! [`crate::accounts::run_slots::RunSlots`]; the database counts and takes
//! in one transaction, so nodes cannot overshoot together.
//!
//! Only a PostgreSQL store is shared between machines. On SQLite the
//! fleet is this node, whose own count is already exact, and no place is
//! taken: a run costs no database write.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytesbox_store::{Database, RunPlace, Store, StoreResult, UserId};

/// This node's places in the fleet.
#[derive(Debug, Clone)]
pub struct FleetRuns {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Store,
    node: String,
    /// Nodes silent this long are out of the fleet; their places with them.
    node_timeout: Duration,
    /// Places whose release failed (the database was away), retried at
    /// every heartbeat.
    unreleased: Mutex<Vec<String>>,
}

/// A run's place; dropping it frees the place (on a task of its own).
#[derive(Debug)]
pub struct FleetRun {
    id: String,
    shared: Arc<Shared>,
}

impl FleetRuns {
    /// Places for `node`'s runs, or `None` where the store is this node's
    /// alone (SQLite).
    pub fn new(store: &Store, node: &str, node_timeout: Duration) -> Option<FleetRuns> {
        (store.database() == Database::Postgres).then(|| FleetRuns {
            shared: Arc::new(Shared {
                store: store.clone(),
                node: node.to_owned(),
                node_timeout,
                unreleased: Mutex::new(Vec::new()),
            }),
        })
    }

    /// A place for one more run of `user`, who may have `max` going in the
    /// fleet, or `None` when they have that many.
    pub async fn take(&self, user: &UserId, max: usize) -> StoreResult<Option<FleetRun>> {
        // The guard exists before the database is asked: a caller dropped
        // at any await below still frees a place the commit may have
        // written.
        let run = FleetRun { id: uuid::Uuid::new_v4().to_string(), shared: Arc::clone(&self.shared) };
        let place = RunPlace { id: run.id.clone(), user: user.clone(), node: self.shared.node.clone() };
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        match self.shared.store.take_run_place(&place, max, self.shared.node_timeout).await {
            Ok(true) => Ok(Some(run)),
            Ok(false) => {
                run.written_nowhere();
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Frees what this node's last life held: called once, when the node
    /// first registers.
    pub async fn forget_earlier_places(&self) -> StoreResult<()> {
        self.shared.store.release_node_run_places(&self.shared.node).await
    }

    /// Retries the releases that failed; called at every heartbeat.
    pub async fn release_unreleased(&self) {
        let ids = std::mem::take(&mut *self.shared.unreleased.lock().unwrap_or_else(PoisonError::into_inner));
        if !ids.is_empty() {
            self.shared.release(ids).await;
        }
    }
}

impl Shared {
    async fn release(&self, ids: Vec<String>) {
        if let Err(error) = self.store.release_run_places(&ids).await {
            tracing::warn!(%error, places = ids.len(), "could not free run places; retrying at the next heartbeat");
            self.unreleased.lock().unwrap_or_else(PoisonError::into_inner).extend(ids);
        }
    }
}

impl FleetRun {
    /// Frees the place and waits until the database has it free, so that
    /// the user's next run, sent the moment this one's answer arrives,
    /// finds it. Dropped at any await, the drop frees it instead.
    pub async fn release(mut self) {
        self.shared.release(vec![self.id.clone()]).await;
        self.id.clear();
    }

    /// Drops a place the database refused: there is nothing to free.
    fn written_nowhere(mut self) {
        self.id.clear();
    }
}

impl Drop for FleetRun {
    fn drop(&mut self) {
        let id = std::mem::take(&mut self.id);
        if id.is_empty() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { shared.release(vec![id]).await });
            }
            // Outside the runtime (it is shutting down): the node's next
            // start frees it, and until then it leaves the fleet's count
            // with the node's heartbeat.
            Err(_) => shared.unreleased.lock().unwrap_or_else(PoisonError::into_inner).push(id),
        }
    }
}
