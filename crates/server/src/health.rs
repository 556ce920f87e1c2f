//! What operators and load balancers ask: `GET /healthz` (the process
//! answers), `GET /readyz` (it can take runs) and `GET /metrics` (the
//! Prometheus registry of `crate::metrics`, with its gauges read now).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::metrics::Gauges;

/// `GET /healthz`.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: ready while the node is not draining (`crate::fleet`),
/// the engine admits jobs and the backend can make boxes.
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, String) {
    let engine = state.sessions.engine();
    if state.node.is_draining() || !engine.admission().is_open() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining".into());
    }
    match engine.backend().health() {
        Ok(()) => (StatusCode::OK, "ready".into()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("backend unhealthy: {reason}")),
    }
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.set_gauges(&gauges_now(&state));
    match state.metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics could not be encoded").into_response(),
    }
}

/// The gauges as they are now.
pub(crate) fn gauges_now(state: &AppState) -> Gauges {
    let engine = state.sessions.engine();
    let admission = engine.admission().stats();
    Gauges {
        queued: admission.queued,
        running: admission.running,
        sessions: state.sessions.count(),
        boxes: engine.backend().live_boxes(),
        kernels: state.sessions.list().iter().map(|session| session.kernels().count()).sum(),
        resident_bytes: resident_bytes(),
        egress: state.sessions.egress().map(|egress| egress.totals()).unwrap_or_default(),
    }
}

/// This process's resident memory (`VmRSS` of `/proc/self/status`), or 0
/// where procfs does not say.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kib.unwrap_or(0).saturating_mul(1024)
}
