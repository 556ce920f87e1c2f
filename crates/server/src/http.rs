//! The HTTP API: `POST /api/v1/execute` and `GET /api/v1/runtimes`.

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::Json;
use bytesbox_sandbox::ExitReport;
use serde::{Deserialize, Serialize};

use crate::accounts::Caller;
use crate::api_error::{ApiError, ApiJson};
use crate::app::AppState;
use crate::limits::RequestedLimits;
use crate::planner::RuntimeInfo;
use crate::protocol::{EncodedBytes, Encoding, RunRequest, WireFile};
use crate::rate_limit::Client;
use crate::runs::{plan_run, run_in_fresh_box, CollectedStage, PlannedRun, Workspace};
use crate::sql_results::{ResultsReader, StatementResult};

/// `POST /api/v1/execute` body: a run spec without an id or terminal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// Language id or alias.
    #[serde(default)]
    pub language: Option<String>,
    /// The project's files (none when `project` names a saved one).
    #[serde(default)]
    pub files: Vec<WireFile>,
    /// A saved project of the caller's to run instead of `files`.
    #[serde(default)]
    pub project: Option<String>,
    /// The entry file.
    #[serde(default)]
    pub entry: Option<String>,
    /// Program arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// All of the program's input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Limit overrides, within the caller's plan's maxima.
    #[serde(default)]
    pub limits: Option<RequestedLimits>,
    /// SQL runtimes only: the results as `sql_results` in the answer
    /// instead of the client's text (`docs/sql.md`).
    #[serde(default)]
    pub sql_results: bool,
}

/// One stage's outcome.
#[derive(Debug, Default, Serialize)]
pub struct StageResult {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// `utf8`, or `base64` when the output is not valid UTF-8.
    pub encoding: Encoding,
    /// Exit code.
    pub code: Option<i32>,
    /// Signal.
    pub signal: Option<i32>,
    /// Status name.
    pub status: String,
    /// Wall time.
    pub wall_ms: u64,
    /// CPU time.
    pub cpu_ms: u64,
    /// Peak memory.
    pub memory_bytes: u64,
}

/// `POST /api/v1/execute` answer.
#[derive(Debug, Serialize)]
pub struct ExecuteResponse {
    /// Resolved language.
    pub language: String,
    /// Its version.
    pub version: String,
    /// The compile stage, when the language compiles.
    pub compile: Option<StageResult>,
    /// The run stage; absent when compiling failed.
    pub run: Option<StageResult>,
    /// With `sql_results`: every statement's result, in order (the run's
    /// stdout is then empty: these were its contents).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql_results: Option<Vec<StatementResult>>,
}

/// Runs a project synchronously in a fresh box and returns every stage.
pub async fn execute(
    State(state): State<Arc<AppState>>,
    client: Client,
    caller: Caller,
    request: Request,
) -> Result<Json<ExecuteResponse>, ApiError> {
    // Everything that can refuse the run does so before the body is read.
    state.rate_limits.check(client.0).map_err(ApiError::rate_limited)?;
    let policy = state.run_policy(&caller);
    let slot = state.run_slot(&caller, &policy).await?;
    state.check_admission()?;
    let ApiJson(body) = ApiJson::<ExecuteRequest>::from_request(request, &state).await?;
    let structured = body.sql_results;
    let run = RunRequest {
        id: "execute".into(),
        language: body.language,
        files: body.files,
        project: body.project,
        entry: body.entry,
        args: body.args,
        stdin: body.stdin,
        tty: None,
        limits: body.limits,
        sql_results: body.sql_results,
        scratch: false,
    };
    let PlannedRun { job, version, saved, .. } =
        plan_run(&state, &caller, &policy, run, Workspace::Fresh, true).await?;
    let language = job.language.clone();
    let outcome = run_in_fresh_box(&state, job, slot.requester()).await;
    slot.release().await;
    if let Some(saved) = saved {
        let status = match &outcome {
            Ok([compile, run]) => run.as_ref().or(compile.as_ref()).map_or("internal", |s| s.report.status.as_str()),
            Err(error) => error.code(),
        };
        saved.record(&language, status).await;
    }
    let [compile, mut run] = outcome?;
    let sql_results = match (structured, &mut run) {
        (true, Some(stage)) => Some(ResultsReader::read_all(&std::mem::take(&mut stage.stdout))),
        (true, None) => Some(Vec::new()),
        (false, _) => None,
    };
    let result = |stage: Option<CollectedStage>| stage.map(|s| stage_result(&s.stdout, &s.stderr, &s.report));
    Ok(Json(ExecuteResponse { language, version, compile: result(compile), run: result(run), sql_results }))
}

fn stage_result(stdout: &[u8], stderr: &[u8], report: &ExitReport) -> StageResult {
    // Both streams share one encoding so clients decode them alike.
    let text = std::str::from_utf8(stdout).is_ok() && std::str::from_utf8(stderr).is_ok();
    let encode = |bytes: &[u8]| match text {
        true => String::from_utf8_lossy(bytes).into_owned(),
        false => EncodedBytes::encode_base64(bytes),
    };
    StageResult {
        stdout: encode(stdout),
        stderr: encode(stderr),
        encoding: if text { Encoding::Utf8 } else { Encoding::Base64 },
        code: report.exit_code,
        signal: report.signal,
        status: report.status.as_str().to_string(),
        wall_ms: report.wall_ms,
        cpu_ms: report.cpu_ms,
        memory_bytes: report.peak_memory_bytes,
    }
}

/// `GET /api/v1/runtimes`.
pub async fn runtimes(State(state): State<Arc<AppState>>) -> Json<Vec<RuntimeInfo>> {
    Json(state.planner.runtimes())
}
