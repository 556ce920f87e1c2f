//! The state every handler shares, built once from a resolved
//! [`ServerConfig`] and never changed after; and the extractor of what
//! handlers take from it. The routes are in `crate::routes`.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use tokio::sync::Semaphore;

use crate::accounts::run_slots::RunSlots;
use crate::accounts::Accounts;
use crate::api_error::ApiError;
use crate::config::ServerConfig;
use crate::fleet::Node;
use crate::fleet_runs::FleetRuns;
use crate::gateway::GatewayKernels;
use crate::memory_budget::MemoryBudget;
use crate::metrics::Metrics;
use crate::planner::Planner;
use crate::rate_limit::{Client, RateLimits};
use crate::session::Sessions;

/// State shared by every handler.
#[derive(Debug)]
pub struct AppState {
    /// The settings it was built from.
    pub(crate) config: ServerConfig,
    /// Sessions (and through them the engine and backend).
    pub(crate) sessions: Arc<Sessions>,
    /// Language resolution.
    pub(crate) planner: Arc<dyn Planner>,
    /// Counters for `/metrics`; also the engine's observer.
    pub(crate) metrics: Arc<Metrics>,
    /// Accounts, projects and plans; `None` serves everyone anonymously
    /// with the server's limits (the embedded library's default).
    pub(crate) accounts: Option<Arc<Accounts>>,
    /// Per-client rate limits, of `config.rate_limit`.
    pub(crate) rate_limits: RateLimits,
    /// Runs going per caller.
    pub(crate) run_slots: RunSlots,
    /// The memory request bodies and partial WebSocket messages may take,
    /// of `config.connections`.
    pub(crate) memory: Arc<MemoryBudget>,
    /// One-shot boxes being destroyed after their answer was sent: as many
    /// as runs may go at once (`crate::box_lease::BoxLease::destroy_after_answer`).
    pub(crate) teardowns: Arc<Semaphore>,
    /// The Kernel Gateway API's kernels.
    pub(crate) gateway: Arc<GatewayKernels>,
    /// This server as a node of the fleet, of `config.node`.
    pub(crate) node: Node,
    /// Signed-in users' runs counted across the fleet (`None` unless the
    /// database is shared).
    pub(crate) fleet_runs: Option<FleetRuns>,
}

impl AppState {
    /// The state of a server with `config`. `metrics` should be the
    /// observer of the sessions' engine; without `accounts` everyone is
    /// served anonymously with `config.limits`.
    pub fn new(
        config: ServerConfig,
        sessions: Arc<Sessions>,
        planner: Arc<dyn Planner>,
        metrics: Arc<Metrics>,
        accounts: Option<Arc<Accounts>>,
    ) -> AppState {
        let runs_at_once = sessions.engine().admission().config().max_running.max(1);
        let gateway = Arc::new(GatewayKernels::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(crate::gateway::close_dead_kernels(Arc::downgrade(&gateway), Arc::downgrade(&sessions)));
        }
        let fleet_runs = accounts
            .as_ref()
            .and_then(|accounts| FleetRuns::new(&accounts.store, &config.node.id, config.node.timeout));
        AppState {
            node: Node::new(config.node.clone()),
            fleet_runs,
            gateway,
            teardowns: Arc::new(Semaphore::new(runs_at_once)),
            rate_limits: RateLimits::new(&config.rate_limit),
            memory: MemoryBudget::new(config.connections.memory_budget_bytes(), config.connections.memory_wait()),
            run_slots: RunSlots::default(),
            config,
            sessions,
            planner,
            metrics,
            accounts,
        }
    }

    /// The settings the state was built from.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The memory budget of reads, which the accept loop shares
    /// (`crate::listener::ListenerSettings`).
    pub fn memory_budget(&self) -> &Arc<MemoryBudget> {
        &self.memory
    }

    /// This server as a node of the fleet.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The accounts, or the error of a server without them.
    pub fn accounts(&self) -> Result<&Accounts, ApiError> {
        self.accounts.as_deref().ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "accounts_unavailable", "this server runs without accounts")
        })
    }
}

/// The client of a request, as the state's rate limiter sees it.
impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        Ok(Client(state.rate_limits.client_of(parts)))
    }
}
