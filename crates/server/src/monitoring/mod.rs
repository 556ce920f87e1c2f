//! Monitoring inside Bytesbox (`docs/monitoring.md`): each node keeps what
//! it sees in memory ([`Recorder`], fed by the engine's observer and by
//! failed answers) and writes it to the database in one batch a minute
//! ([`keep_flushing`]), so that the admin's Dashboard
//! (`GET /api/v1/admin/monitoring`, `…/errors`, `…/analytics/users`,
//! [`api`]) shows the fleet and each node over the last hour and day,
//! across restarts. Every server-side failure gets an id that is in its
//! log line, its answer (`error_id`) and the error list.

pub mod api;
mod recorder;

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytesbox_store::{MonitorGauges, MonitorRetention};

pub use recorder::{new_error_id, Failure, Recorder};

use crate::api_error::{ApiError, ServerFault};
use crate::app::AppState;

/// Job failure codes that are the server's fault, not the program's or
/// the client's.
pub(crate) const SERVER_FAILURES: [&str; 5] =
    ["internal", "spawn_failed", "workspace_error", "backend_unavailable", "box_gone"];

/// How often a node writes what it saw, and how long rows are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitoringConfig {
    /// Between two batches.
    pub flush_interval: Duration,
    /// Between two samples of users' storage (and two prunings).
    pub housekeeping_interval: Duration,
    /// How long rows are kept.
    pub retention: MonitorRetention,
}

impl Default for MonitoringConfig {
    /// A batch a minute, storage sampled and old rows pruned hourly,
    /// minutes kept 7 days and users' days 90.
    fn default() -> Self {
        MonitoringConfig {
            flush_interval: Duration::from_secs(60),
            housekeeping_interval: Duration::from_secs(3600),
            retention: MonitorRetention::default(),
        }
    }
}

fn clamp(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn gauges(state: &AppState) -> MonitorGauges {
    let now = crate::health::gauges_now(state);
    MonitorGauges {
        queue_depth: clamp(now.queued),
        running: clamp(now.running),
        sessions: clamp(now.sessions),
        boxes: clamp(now.boxes),
        resident_bytes: i64::try_from(now.resident_bytes).unwrap_or(i64::MAX),
    }
}

/// Writes what the node saw since its last flush. Without a database it
/// is dropped (the log lines stay). A failed write is logged; that batch
/// is lost, never the runs'.
pub async fn flush(state: &AppState) {
    let batch = state.metrics.recorder().take(gauges(state));
    let Some(accounts) = state.accounts.as_ref() else { return };
    if let Err(error) = accounts.store.write_monitoring(&batch).await {
        tracing::warn!(%error, "could not write this minute's monitoring");
    }
}

/// Flushes every `flush_interval`, and samples users' storage and prunes
/// old rows every `housekeeping_interval`, until the state is dropped.
/// Recording never waits for this: it runs on a task of its own.
pub async fn keep_flushing(state: Weak<AppState>) {
    let mut since_housekeeping = None::<std::time::Instant>;
    loop {
        let Some(interval) = state.upgrade().map(|state| state.config.monitoring.flush_interval) else { return };
        tokio::time::sleep(interval).await;
        let Some(state) = state.upgrade() else { return };
        flush(&state).await;
        let config = state.config.monitoring;
        let due = since_housekeeping.is_none_or(|last| last.elapsed() >= config.housekeeping_interval);
        if let (true, Some(accounts)) = (due, state.accounts.as_ref()) {
            since_housekeeping = Some(std::time::Instant::now());
            let now = recorder::now_ms();
            if let Err(error) = accounts.store.sample_user_storage(now).await {
                tracing::warn!(%error, "could not sample users' storage");
            }
            match accounts.store.prune_monitoring(now, config.retention).await {
                Ok(deleted) => tracing::debug!(deleted, "pruned old monitoring rows"),
                Err(error) => tracing::warn!(%error, "could not prune old monitoring rows"),
            }
        }
    }
}

/// Middleware: an answer that carries a [`ServerFault`] is recorded under
/// its id, with its route.
pub async fn track_failures(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned());
    let subject = format!("{} {}", request.method(), route.as_deref().unwrap_or_else(|| request.uri().path()));
    let response = next.run(request).await;
    if let Some(fault) = response.extensions().get::<ServerFault>() {
        let failure = Failure { kind: "http", code: &fault.code, subject: &subject, message: &fault.detail };
        state.metrics.recorder().error(&fault.id, &failure);
    }
    response
}

impl AppState {
    /// Records `error` if it is the server's own failure, for answers that
    /// are not HTTP responses (WebSocket frames).
    pub(crate) fn track_api_error(&self, error: &ApiError, subject: &str) {
        if let Some(detail) = &error.fault {
            let failure = Failure { kind: "http", code: &error.code, subject, message: detail };
            self.metrics.recorder().error(&new_error_id(), &failure);
        }
    }

    /// Records a failure with `code` if that code is the server's fault
    /// (a box that could not be made, say).
    pub(crate) fn track_failure(&self, kind: &str, code: &str, subject: &str, message: &str) {
        if SERVER_FAILURES.contains(&code) {
            self.metrics.recorder().error(&new_error_id(), &Failure { kind, code, subject, message });
        }
    }
}
