//! The HTTP application: routes and shared state.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytesbox_sandbox::RunLimits;

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
    /// Limits of a run that asks for none.
    pub default_limits: RunLimits,
    /// Limits a run may ask for at most.
    pub max_limits: RunLimits,
    /// Files per project.
    pub max_files: usize,
    /// Bytes per project.
    pub max_project_bytes: u64,
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
        }
    }
}

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/api/v1/ws", get(crate::ws::upgrade))
        .route("/api/v1/execute", axum::routing::post(crate::http::execute))
        .route("/api/v1/runtimes", get(crate::http::runtimes))
        .route("/api/v2/execute", axum::routing::post(crate::piston::rest::execute))
        .route("/api/v2/runtimes", get(crate::piston::rest::runtimes))
        .route("/api/v2/connect", get(crate::piston::ws::connect))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::metrics::scrape))
        // A 10 MiB project, base64-encoded, plus JSON.
        .layer(axum::extract::DefaultBodyLimit::max(crate::ws::MAX_FRAME_BYTES + 2 * 1024 * 1024))
        .with_state(state)
}

/// Ready while the engine admits jobs.
async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    match state.sessions.engine().admission().is_open() {
        true => (StatusCode::OK, "ready"),
        false => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
    }
}
