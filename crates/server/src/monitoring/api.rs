//! The admin's monitoring API, which the IDE's Dashboard draws:
//! `GET /api/v1/admin/monitoring` (series over the last hour or day, for
//! the fleet or one node), `GET /api/v1/admin/errors` (the latest
//! server-side failures) and `GET /api/v1/admin/analytics/users` (runs,
//! CPU time, languages and storage per user and day). The route table
//! lets only administrators in.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use bytesbox_store::{latency_quantile, SeriesPoint, DAY_MS, MINUTE_MS};
use serde::Deserialize;
use serde_json::{json, Value};

use super::recorder::now_ms;
use crate::api_error::{ApiError, InputQuery};
use crate::app::AppState;

fn invalid(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message.to_owned())
}

/// A `node` query parameter: a node's id (`[node] id`, 1 to 128
/// characters), if any.
fn node_of(node: &Option<String>) -> Result<Option<&str>, ApiError> {
    match node.as_deref() {
        Some(id) if id.is_empty() || id.len() > 128 => Err(invalid("node is a node's id")),
        other => Ok(other),
    }
}

/// `GET /api/v1/admin/monitoring` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesQuery {
    /// `hour` (per minute, the default) or `day` (per 10 minutes).
    pub range: Option<String>,
    /// One node's id; the whole fleet without.
    pub node: Option<String>,
}

/// A latency percentile of the step, to a tenth of a millisecond.
fn quantile_ms(point: &SeriesPoint, quantile: f64) -> Option<f64> {
    latency_quantile(&point.latency, quantile).map(|ms| (ms * 10.0).round() / 10.0)
}

fn point_json(point: &SeriesPoint) -> Value {
    let runs: Vec<Value> = point
        .runs
        .iter()
        .map(|run| json!({ "language": run.language, "status": run.status, "runs": run.runs }))
        .collect();
    let quantile = |q: f64| quantile_ms(point, q);
    let mut value = json!({
        "t_ms": point.start_ms,
        "runs": runs,
        "latency_ms": { "p50": quantile(0.5), "p95": quantile(0.95), "p99": quantile(0.99) },
        "errors": point.errors,
        "errors_dropped": point.errors_dropped,
    });
    if let (Some(gauges), Some(object)) = (point.gauges, value.as_object_mut()) {
        object.insert(
            "gauges".into(),
            json!({
                "queue_depth": gauges.queue_depth,
                "running": gauges.running,
                "sessions": gauges.sessions,
                "boxes": gauges.boxes,
                "resident_bytes": gauges.resident_bytes,
            }),
        );
    }
    value
}

/// Nodes shown side by side in the fleet's view at the most.
const MAX_NODES_SIDE_BY_SIDE: usize = 20;

/// A step of one node, side by side with the others: its runs, p95
/// latency, sessions and boxes.
fn node_point_json(point: &SeriesPoint) -> Value {
    json!({
        "t_ms": point.start_ms,
        "runs": point.runs.iter().map(|run| run.runs).sum::<i64>(),
        "p95_ms": quantile_ms(point, 0.95),
        "sessions": point.gauges.map(|gauges| gauges.sessions),
        "boxes": point.gauges.map(|gauges| gauges.boxes),
        "errors": point.errors,
    })
}

/// `GET /api/v1/admin/monitoring?range=hour|day&node=<id>`.
pub async fn series(
    State(state): State<Arc<AppState>>,
    InputQuery(query): InputQuery<SeriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let store = &state.accounts()?.store;
    let (step_ms, steps) = match query.range.as_deref().unwrap_or("hour") {
        "hour" => (MINUTE_MS, 60),
        "day" => (10 * MINUTE_MS, 144),
        _ => return Err(invalid("range is \"hour\" or \"day\"")),
    };
    let node = node_of(&query.node)?;
    let now = now_ms();
    let to_ms = now - now.rem_euclid(step_ms) + step_ms;
    let from_ms = to_ms - steps * step_ms;
    let points = store.monitor_series(from_ms, to_ms, step_ms, node).await?;
    let nodes = store.monitored_nodes(from_ms).await?;
    // The fleet's view also has each node's main figures, side by side.
    let mut per_node = Vec::new();
    if node.is_none() {
        for id in nodes.iter().take(MAX_NODES_SIDE_BY_SIDE) {
            let points = store.monitor_series(from_ms, to_ms, step_ms, Some(id)).await?;
            let points: Vec<Value> = points.iter().map(node_point_json).collect();
            per_node.push(json!({ "node": id, "points": points }));
        }
    }
    Ok(Json(json!({
        "range": query.range.as_deref().unwrap_or("hour"),
        "step_ms": step_ms,
        "from_ms": from_ms,
        "to_ms": to_ms,
        "node": node,
        "nodes": nodes,
        "this_node": state.node.id(),
        "points": points.iter().map(point_json).collect::<Vec<_>>(),
        "per_node": per_node,
    })))
}

/// `GET /api/v1/admin/errors` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorsQuery {
    /// How many, newest first: 1 to 500, 100 by default.
    pub limit: Option<i64>,
    /// One node's; every node's without.
    pub node: Option<String>,
}

/// `GET /api/v1/admin/errors?limit=&node=`.
pub async fn errors(
    State(state): State<Arc<AppState>>,
    InputQuery(query): InputQuery<ErrorsQuery>,
) -> Result<Json<Value>, ApiError> {
    let store = &state.accounts()?.store;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(invalid("limit is 1 to 500"));
    }
    let errors: Vec<Value> = store
        .recent_errors(limit, node_of(&query.node)?)
        .await?
        .into_iter()
        .map(|error| {
            json!({
                "id": error.id,
                "node": error.node_id,
                "at_ms": error.at_ms,
                "kind": error.kind,
                "code": error.code,
                "subject": error.subject,
                "message": error.message,
            })
        })
        .collect();
    Ok(Json(json!({ "errors": errors })))
}

/// `GET /api/v1/admin/analytics/users` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersQuery {
    /// Days back, today included: 1 to 90, 30 by default.
    pub days: Option<i64>,
}

#[derive(Default)]
struct UserTotals {
    runs: i64,
    cpu_ms: i64,
    languages: BTreeMap<String, i64>,
    /// day → (runs, CPU ms, bytes stored).
    days: BTreeMap<i64, (i64, i64, Option<i64>)>,
    files: i64,
    bytes: i64,
}

/// `GET /api/v1/admin/analytics/users?days=`: per user, the runs, CPU
/// time and languages of the period and their storage now, with a series
/// per day; the most active users first.
pub async fn users(
    State(state): State<Arc<AppState>>,
    InputQuery(query): InputQuery<UsersQuery>,
) -> Result<Json<Value>, ApiError> {
    let store = &state.accounts()?.store;
    let days = query.days.unwrap_or(30);
    if !(1..=90).contains(&days) {
        return Err(invalid("days is 1 to 90"));
    }
    let now = now_ms();
    let from_ms = now - now.rem_euclid(DAY_MS) - (days - 1) * DAY_MS;
    let mut totals: BTreeMap<String, UserTotals> = BTreeMap::new();
    for day in store.user_activity(from_ms).await? {
        let user = totals.entry(day.user_id.0).or_default();
        user.runs += day.runs;
        user.cpu_ms += day.cpu_ms;
        *user.languages.entry(day.language).or_default() += day.runs;
        let entry = user.days.entry(day.day_ms).or_default();
        entry.0 += day.runs;
        entry.1 += day.cpu_ms;
    }
    for sample in store.user_storage_samples(from_ms).await? {
        let user = totals.entry(sample.user_id.0).or_default();
        user.days.entry(sample.day_ms).or_default().2 = Some(sample.bytes);
    }
    // Every user with what they store now, in one query.
    let mut users = Vec::new();
    for user in store.storage_by_user(u32::MAX).await? {
        let mut found = totals.remove(&user.id.0).unwrap_or_default();
        found.files = user.files;
        found.bytes = user.bytes;
        users.push((user, found));
    }
    users.sort_by(|(a, ta), (b, tb)| tb.runs.cmp(&ta.runs).then(a.username.cmp(&b.username)));
    let users: Vec<Value> = users
        .into_iter()
        .map(|(user, totals)| {
            let series: Vec<Value> = totals
                .days
                .iter()
                .map(|(day, (runs, cpu_ms, bytes))| json!({ "day_ms": day, "runs": runs, "cpu_ms": cpu_ms, "bytes": bytes }))
                .collect();
            json!({
                "id": user.id.0,
                "username": user.username,
                "runs": totals.runs,
                "cpu_ms": totals.cpu_ms,
                "languages": totals.languages,
                "files": totals.files,
                "bytes": totals.bytes,
                "days": series,
            })
        })
        .collect();
    Ok(Json(json!({ "from_ms": from_ms, "days": days, "users": users })))
}
