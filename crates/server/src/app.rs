//! The HTTP application: shared state and the router (whose routes are in
//! `crate::routes`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use bytesbox_sandbox::RunLimits;

use crate::accounts::run_slots::{requester_of, RunSlot, RunSlots};
use crate::accounts::{Accounts, Caller};
use crate::connections::ConnectionConfig;
use crate::api_error::ApiError;
use crate::memory_budget::MemoryBudget;
use crate::metrics::Metrics;
use crate::planner::Planner;
use crate::rate_limit::{RateLimitConfig, RateLimits};
use crate::session::{BoxCaps, Sessions};

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

/// What a caller's runs may use: its plan, resolved.
#[derive(Clone, Debug)]
pub struct RunPolicy {
    /// The plan's name (`unlimited` without accounts).
    pub plan: String,
    /// Limits of a run that asks for none.
    pub default_limits: RunLimits,
    /// The most a run may ask for.
    pub max_limits: RunLimits,
    /// Runs going at once.
    pub max_concurrent_runs: usize,
    /// The share of the server's run slots the plan's callers may hold.
    pub run_slot_share_percent: u8,
    /// Session boxes the caller may keep (and what idle ones may hold).
    pub boxes: BoxCaps,
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

    /// The limits of `caller`'s runs.
    pub fn run_policy(&self, caller: &Caller) -> RunPolicy {
        let plan = match (&self.accounts, caller) {
            (None, _) | (_, Caller::Anonymous { .. }) => None,
            (Some(accounts), Caller::Guest { .. }) => Some(accounts.plans.get(crate::accounts::plans::GUEST_PLAN)),
            (Some(accounts), Caller::User { user, .. }) => Some(accounts.plans.get(&user.plan)),
        };
        match plan {
            Some(plan) => RunPolicy {
                plan: plan.name.clone(),
                default_limits: plan.limits.clone(),
                max_limits: plan.max_limits.clone(),
                max_concurrent_runs: plan.max_concurrent_runs,
                run_slot_share_percent: plan.run_slot_share_percent,
                boxes: BoxCaps { max_boxes: plan.max_boxes, max_idle_bytes: plan.max_idle_box_bytes },
            },
            None => RunPolicy {
                plan: "unlimited".into(),
                default_limits: self.default_limits.clone(),
                max_limits: self.max_limits.clone(),
                max_concurrent_runs: usize::MAX,
                run_slot_share_percent: 100,
                boxes: BoxCaps::UNLIMITED,
            },
        }
    }

    /// Uses `config` for connections and the memory budget.
    pub fn with_connections(mut self, config: ConnectionConfig) -> AppState {
        self.memory = MemoryBudget::new(config.memory_budget_bytes(), config.memory_wait());
        self.connections = config;
        self
    }

    /// Refuses a run before its body is read when no run could be admitted
    /// now (the server is draining).
    pub fn check_admission(&self) -> Result<(), ApiError> {
        match self.sessions.engine().admission().is_open() {
            true => Ok(()),
            false => Err(ApiError::from(bytesbox_engine::EngineError::ShuttingDown)),
        }
    }

    /// A place for one more run of `caller`, or `too_many_runs`.
    pub fn run_slot(&self, caller: &Caller, policy: &RunPolicy) -> Result<RunSlot, ApiError> {
        let requester = requester_of(caller, &policy.plan, policy.run_slot_share_percent);
        let slot = self.run_slots.acquire(&caller.principal(), policy.max_concurrent_runs);
        slot.map(|slot| slot.for_requester(requester)).ok_or_else(|| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_runs",
                format!(
                    "your plan ({}) allows {} runs at once; wait for one to finish",
                    policy.plan, policy.max_concurrent_runs
                ),
            )
        })
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
