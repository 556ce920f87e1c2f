//! This server as a node of a fleet: several `bytesbox serve` sharing one
//! database (and object store) behind a load balancer (`docs/deploy.md`).
//! A node registers in the store's `nodes` table at start, heartbeats
//! with its load, and is out of the fleet when its heartbeat is older than
//! the timeout. Draining (an administrator's `POST
//! /api/v1/admin/nodes/{id}/drain` on any node, `bytesbox admin drain`, or
//! SIGTERM) is written to its row, read back at its heartbeat, and makes
//! `/readyz` answer 503 so the load balancer sends it no new sessions;
//! `bytesbox serve` exits once its sessions are over or the drain bound
//! has passed ([`drained`]).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bytesbox_store::{NodeLoad, NodeRegistration, NodeState, StoreError};
use serde::Serialize;
use tokio::sync::watch;

use crate::api_error::ApiError;
use crate::app::AppState;

/// `[node]`: this server's place in the fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// Its id: unique in the fleet, the `node` label of its metrics.
    pub id: String,
    /// The URL peers and the load balancer reach it at.
    pub address: String,
    /// The most boxes it holds at once, as the fleet is told.
    pub capacity: u64,
    /// How often it writes its heartbeat.
    pub heartbeat: Duration,
    /// A node whose heartbeat is older than this is out of the fleet.
    pub timeout: Duration,
    /// The most a drain waits for the node's sessions to end before it
    /// exits anyway.
    pub drain_timeout: Duration,
}

impl Default for NodeConfig {
    /// A heartbeat every 5 s, out of the fleet after 20 s of silence (four
    /// missed heartbeats), a drain bounded by an hour.
    fn default() -> Self {
        NodeConfig {
            id: "local".into(),
            address: String::new(),
            capacity: 0,
            heartbeat: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            drain_timeout: Duration::from_secs(3600),
        }
    }
}

/// This node: its settings and whether it drains.
#[derive(Debug)]
pub struct Node {
    config: NodeConfig,
    draining: watch::Sender<bool>,
}

impl Node {
    pub(crate) fn new(config: NodeConfig) -> Node {
        Node { config, draining: watch::Sender::new(false) }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// Its settings.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Whether it drains: `/readyz` answers 503.
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Starts draining (for good: a drained node exits). Its row says so
    /// at the next heartbeat.
    pub fn drain(&self) {
        if !self.draining.send_replace(true) {
            tracing::info!(node = %self.config.id, "draining: no new sessions");
        }
    }
}

/// Registers the node and heartbeats until the state is dropped; and
/// starts the node's monitoring flush (`crate::monitoring`). Without
/// accounts (no database) there is no fleet and this returns at once (the
/// flush only empties the node's memory of what it saw).
pub async fn keep_registered(state: Weak<AppState>) {
    tokio::spawn(crate::monitoring::keep_flushing(state.clone()));
    let registration = {
        let Some(state) = state.upgrade() else { return };
        if state.accounts.is_none() {
            return;
        }
        let config = state.node.config();
        NodeRegistration { id: config.id.clone(), address: config.address.clone(), capacity: config.capacity }
    };
    let mut registered = false;
    let mut earlier_places_freed = false;
    loop {
        let Some(state) = state.upgrade() else { return };
        let Some(accounts) = state.accounts.as_ref() else { return };
        let store = &accounts.store;
        if let Some(fleet_runs) = state.fleet_runs.as_ref().filter(|_| !earlier_places_freed) {
            // Before the node is in the fleet again, so that no place of
            // this start is among them.
            match fleet_runs.forget_earlier_places().await {
                Ok(()) => earlier_places_freed = true,
                Err(error) => tracing::warn!(%error, "could not free the run places of this node's last start"),
            }
        }
        if !registered {
            match store.register_node(&registration).await {
                Ok(()) => {
                    tracing::info!(node = %registration.id, address = %registration.address, "registered in the fleet");
                    registered = true;
                }
                Err(error) => tracing::warn!(%error, "could not register the node; retrying"),
            }
        }
        if let Some(fleet_runs) = state.fleet_runs.as_ref().filter(|_| registered) {
            fleet_runs.release_unreleased().await;
        }
        if registered {
            let engine = state.sessions.engine();
            let load = NodeLoad {
                boxes: u64::try_from(engine.backend().live_boxes()).unwrap_or(u64::MAX),
                sessions: u64::try_from(state.sessions.count()).unwrap_or(u64::MAX),
            };
            match store.node_heartbeat(&registration.id, load).await {
                Ok(NodeState::Draining) => state.node.drain(),
                Ok(NodeState::Serving) if state.node.is_draining() => {
                    if let Err(error) = store.drain_node(&registration.id).await {
                        tracing::warn!(%error, "could not record the drain in the fleet");
                    }
                }
                Ok(NodeState::Serving) => {}
                // Removed (by a node that thought it long dead): again.
                Err(StoreError::NotFound) => registered = false,
                Err(error) => tracing::warn!(%error, "heartbeat failed"),
            }
        }
        let interval = state.node.config().heartbeat;
        drop(state);
        tokio::time::sleep(interval).await;
    }
}

/// Resolves once the node drains and its sessions are over, or the drain
/// bound has passed since it began.
pub async fn drained(state: &AppState) {
    let mut draining = state.node.draining.subscribe();
    if draining.wait_for(|draining| *draining).await.is_err() {
        return std::future::pending().await;
    }
    let deadline = Instant::now() + state.node.config().drain_timeout;
    while state.sessions.count() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tracing::info!(sessions = state.sessions.count(), "drained");
}

/// A node in `GET /api/v1/admin/nodes`.
#[derive(Debug, Serialize)]
struct NodeView {
    id: String,
    address: String,
    capacity: i64,
    boxes: i64,
    sessions: i64,
    state: &'static str,
    started_at_ms: i64,
    heartbeat_at_ms: i64,
    /// Whether it is the node that answered.
    this_node: bool,
}

/// `GET /api/v1/admin/nodes`: the fleet, nodes whose heartbeat is within
/// the timeout.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let nodes: Vec<NodeView> = state
        .accounts()?
        .store
        .live_nodes(state.node.config().timeout)
        .await?
        .into_iter()
        .map(|node| NodeView {
            this_node: node.id == state.node.id(),
            id: node.id,
            address: node.address,
            capacity: node.capacity,
            boxes: node.boxes,
            sessions: node.sessions,
            state: node.state.as_str(),
            started_at_ms: node.started_at_ms,
            heartbeat_at_ms: node.heartbeat_at_ms,
        })
        .collect();
    Ok(Json(serde_json::json!({ "nodes": nodes })))
}

/// `POST /api/v1/admin/nodes/{id}/drain`: marks a node draining in the
/// fleet (it reads that at its next heartbeat; this node at once).
pub async fn drain(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let store = &state.accounts()?.store;
    store.drain_node(&id).await.map_err(|error| match error {
        StoreError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", "no node with that id"),
        other => other.into(),
    })?;
    if id == state.node.id() {
        state.node.drain();
    }
    tracing::info!(node = %id, "node drained by an administrator");
    Ok(StatusCode::ACCEPTED)
}
