//! `POST /api/v2/execute` and `GET /api/v2/runtimes`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::outcome::{outcome, Outcome};
use super::request::{prepare, PistonError};
use super::version::{piston_runtimes, PistonRuntime};
use crate::accounts::Caller;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::memory_budget::ReadRefused;
use crate::rate_limit::Client;
use crate::runs::{run_in_fresh_box, CollectedStage};

/// One stage of an `execute` answer.
#[derive(Clone, Debug, Serialize)]
pub struct PistonStage {
    /// Standard output (invalid UTF-8 replaced, as Piston does).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Both, in the order they were written.
    pub output: String,
    /// How it ended.
    #[serde(flatten)]
    outcome: Outcome,
    /// CPU time, ms.
    pub cpu_time: u64,
    /// Wall time, ms.
    pub wall_time: u64,
    /// Peak memory, bytes.
    pub memory: u64,
}

impl PistonStage {
    fn new(stage: &CollectedStage, output_cap: u64) -> PistonStage {
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        PistonStage {
            stdout: text(&stage.stdout),
            stderr: text(&stage.stderr),
            output: text(&stage.output),
            outcome: outcome(&stage.report, output_cap),
            cpu_time: stage.report.cpu_ms,
            wall_time: stage.report.wall_ms,
            memory: stage.report.peak_memory_bytes,
        }
    }
}

/// The `execute` answer.
#[derive(Clone, Debug, Serialize)]
pub struct PistonResult {
    /// The language that ran (our id).
    pub language: String,
    /// Its version.
    pub version: String,
    /// The run stage; the compile stage again when compiling failed (as
    /// Piston does, for clients that only read `run`).
    pub run: Option<PistonStage>,
    /// The compile stage, for compiled languages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<PistonStage>,
}

/// `POST /api/v2/execute`: runs a project once in a fresh box.
pub async fn execute(State(state): State<Arc<AppState>>, client: Client, caller: Caller, request: Request) -> Response {
    if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
        return PistonError::from(ApiError::rate_limited(retry_after_secs)).into_response();
    }
    match execute_inner(&state, &caller, request).await {
        Ok(result) => Json(result).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn execute_inner(state: &Arc<AppState>, caller: &Caller, request: Request) -> Result<PistonResult, PistonError> {
    if !is_json(request.headers()) {
        return Err(PistonError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "requests must be of type application/json"));
    }
    // Everything that can refuse the run does so before the body is read.
    let policy = state.run_policy(caller);
    let slot = state.run_slot(caller, &policy).await?;
    state.check_admission()?;
    let body = Bytes::from_request(request, state).await.map_err(|rejection| match ReadRefused::find(&rejection) {
        Some(refused) => PistonError::from(ApiError::from(refused.clone())),
        None => PistonError::new(rejection.status(), rejection.body_text()),
    })?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| PistonError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let prepared = prepare(state, caller, &policy, &body, true).await?;
    let outcome = run_in_fresh_box(state, prepared.job, slot.requester()).await;
    slot.release().await;
    let [compile, run] = outcome?;
    let [compile_cap, run_cap] = prepared.output_caps;
    let compile = compile.map(|stage| PistonStage::new(&stage, compile_cap));
    let run = run.map(|stage| PistonStage::new(&stage, run_cap)).or_else(|| compile.clone());
    Ok(PistonResult { language: prepared.runtime.language, version: prepared.runtime.version, run, compile })
}

/// Piston takes only JSON bodies (415 otherwise).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

/// `GET /api/v2/runtimes`: the runtimes available on this server.
pub async fn runtimes(State(state): State<Arc<AppState>>) -> Json<Vec<PistonRuntime>> {
    Json(piston_runtimes(&state.planner.runtimes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_json_bodies_are_taken() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, json) in
            [("application/json", true), ("application/json; charset=utf-8", true), ("text/plain", false)]
        {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_json(&headers), json, "{value}");
        }
    }
}
