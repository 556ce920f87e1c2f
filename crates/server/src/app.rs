//! The HTTP application: shared state and the router (whose routes are in
//! `crate::routes`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use bytesbox_sandbox::RunLimits;

use crate::accounts::run_slots::RunSlots;
use crate::accounts::Accounts;
use crate::api_error::ApiError;
use crate::connections::ConnectionConfig;
use crate::memory_budget::MemoryBudget;
use crate::metrics::Metrics;
use crate::planner::Planner;
use crate::rate_limit::{RateLimitConfig, RateLimits};
use crate::session::Sessions;

/// State shared by every handler.
#[derive(Debug)]
pub struct AppState {
    /// Sessions (and through them the engine and backend).
    pub sessions: Arc<Sessions>,
    /// Language resolution.
    pub planner: Arc<dyn Planner>,
    /// Counters for `/metrics`; also the engine's observer.
    pub metrics: Arc<Metrics>,
    /// Per-client rate limits.
    pub rate_limits: RateLimits,
    /// Limits of a run that asks for none (plans override them).
    pub default_limits: RunLimits,
    /// Limits a run may ask for at most (no plan exceeds them).
    pub max_limits: RunLimits,
    /// Files per project.
    pub max_files: usize,
    /// Bytes per project.
    pub max_project_bytes: u64,
    /// Accounts, projects and plans; `None` serves everyone anonymously
    /// with the server's limits (the embedded library's default).
    pub accounts: Option<Arc<Accounts>>,
    /// Runs going per caller.
    pub run_slots: RunSlots,
    /// Timeouts of bodies and WebSocket messages (and the accept loop's
    /// caps, which `crate::listener` applies).
    pub connections: ConnectionConfig,
    /// The memory request bodies and partial WebSocket messages may take.
    pub memory: Arc<MemoryBudget>,
}

impl AppState {
    /// The design brief's defaults: 500 files and 10 MiB per project.
    /// `metrics` should be the observer of the sessions' engine.
    pub fn new(sessions: Arc<Sessions>, planner: Arc<dyn Planner>, metrics: Arc<Metrics>) -> AppState {
        AppState {
            sessions,
            planner,
            metrics,
            rate_limits: RateLimits::new(&RateLimitConfig::default()),
            default_limits: RunLimits::default(),
            max_limits: RunLimits::hard_maximum(),
            max_files: 500,
            max_project_bytes: 10 * 1024 * 1024,
            accounts: None,
            run_slots: RunSlots::default(),
            memory: MemoryBudget::new(
                ConnectionConfig::default().memory_budget_bytes(),
                ConnectionConfig::default().memory_wait(),
            ),
            connections: ConnectionConfig::default(),
        }
    }

    /// The accounts, or the error of a server without them.
    pub fn accounts(&self) -> Result<&Accounts, ApiError> {
        self.accounts.as_deref().ok_or_else(|| {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "accounts_unavailable", "this server runs without accounts")
        })
    }

    /// Uses `config` for connections and the memory budget.
    pub fn with_connections(mut self, config: ConnectionConfig) -> AppState {
        self.memory = MemoryBudget::new(config.memory_budget_bytes(), config.memory_wait());
        self.connections = config;
        self
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    crate::routes::router_from_table(&state)
        // A 10 MiB project, base64-encoded, plus JSON.
        .layer(axum::extract::DefaultBodyLimit::max(crate::memory_budget::UPFRONT_MAX_BYTES))
        .layer(axum::middleware::from_fn(crate::security_headers::add))
        .with_state(state)
}

/// Ready while the engine admits jobs and the backend can make boxes.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    let engine = state.sessions.engine();
    if !engine.admission().is_open() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining".into());
    }
    match engine.backend().health() {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("backend unhealthy: {reason}")),
    }
}
