//! Run intake: every run API (the WebSocket, `POST /api/v1/execute`,
//! Piston's REST and WebSocket) turns its request into a planned, admitted
//! run here, the same way: the caller's plan and a place among its runs,
//! the files decoded and checked, the limits, the catalog's stages; and a
//! batch run in a box of its own. The APIs only translate their wire
//! formats in and out.

use axum::http::StatusCode;
use bytes::Bytes;
use bytesbox_engine::{EngineError, Job, JobEvent, StageKind};
use bytesbox_runtimes::{SQL_RESULTS_CLIENT, SQL_RESULTS_CLIENT_PATH};
use bytesbox_sandbox::paths::validate_unique;
use bytesbox_sandbox::{ExitReport, FileEntry, PutMode, RunLimits, StdioMode, Stream};

use crate::accounts::places::Refusal;
use crate::accounts::projects::{load_saved_project, SavedRun};
use crate::accounts::run_slots::{requester_of, RunSlot};
use crate::accounts::Caller;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::box_lease::BoxLease;
use crate::limits::{LimitOverrides, RequestedLimits};
use crate::metrics::BoxOrigin;
use crate::planner::{Plan, PlanRequest, ServerPlan};
use crate::protocol::{EncodedBytes, RunRequest, RunTty, WireFile, SCRATCH_DIR};
use crate::session::BoxCaps;

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
    /// Runs going at once for all guests of the caller's address.
    pub max_runs_per_address: usize,
    /// The share of the server's run slots the plan's callers may hold.
    pub run_slot_share_percent: u8,
    /// Session boxes the caller may keep (and what idle ones may hold).
    pub boxes: BoxCaps,
}

impl AppState {
    /// The limits of `caller`'s runs.
    pub fn run_policy(&self, caller: &Caller) -> RunPolicy {
        let plan = match (&self.accounts, caller) {
            (None, _) | (_, Caller::Anonymous { .. }) => None,
            (Some(accounts), Caller::Guest { .. }) => Some(accounts.plans.get(crate::accounts::plans::GUEST_PLAN)),
            (Some(accounts), Caller::User { user, .. }) => Some(accounts.plans.get(&user.plan)),
        };
        // What a guest's address may hold (only guests are counted there).
        let (runs_per_address, boxes_per_address) = match &self.accounts {
            Some(accounts) => (accounts.config.guest_address_runs, accounts.config.guest_address_boxes),
            None => (usize::MAX, usize::MAX),
        };
        match plan {
            Some(plan) => RunPolicy {
                plan: plan.name.clone(),
                default_limits: plan.limits.clone(),
                max_limits: plan.max_limits.clone(),
                max_concurrent_runs: plan.max_concurrent_runs,
                max_runs_per_address: runs_per_address,
                run_slot_share_percent: plan.run_slot_share_percent,
                boxes: BoxCaps {
                    max_boxes: plan.max_boxes,
                    max_boxes_per_address: boxes_per_address,
                    max_idle_bytes: plan.max_idle_box_bytes,
                    egress: plan.egress,
                },
            },
            None => RunPolicy {
                plan: "unlimited".into(),
                default_limits: self.config.limits.default.clone(),
                max_limits: self.config.limits.max.clone(),
                max_concurrent_runs: usize::MAX,
                max_runs_per_address: usize::MAX,
                run_slot_share_percent: 100,
                boxes: BoxCaps::UNLIMITED,
            },
        }
    }

    /// Refuses a run before its body is read when no run could be admitted
    /// now (the server is draining).
    pub fn check_admission(&self) -> Result<(), ApiError> {
        match self.sessions.engine().admission().is_open() {
            true => Ok(()),
            false => Err(ApiError::from(EngineError::ShuttingDown)),
        }
    }

    /// A place for one more run of `caller`, or `too_many_runs`. A
    /// signed-in user's runs are also counted across the fleet
    /// ([`crate::fleet_runs`]).
    pub async fn run_slot(&self, caller: &Caller, policy: &RunPolicy) -> Result<RunSlot, ApiError> {
        let requester = requester_of(caller, &policy.plan, policy.run_slot_share_percent);
        let refused = |refusal: Refusal| {
            let message = match refusal {
                Refusal::Caller => format!(
                    "your plan ({}) allows {} runs at once; wait for one to finish",
                    policy.plan, policy.max_concurrent_runs
                ),
                Refusal::Address => format!(
                    "the guests at your address have {} runs going, as many as it may; wait for one to finish, \
                     or sign in for runs of your own",
                    policy.max_runs_per_address
                ),
            };
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_runs", message)
        };
        let slot = self
            .run_slots
            .acquire(&caller.principal(), policy.max_concurrent_runs, policy.max_runs_per_address)
            .map_err(refused)?
            .for_requester(requester);
        let (Caller::User { user, .. }, Some(fleet)) = (caller, &self.fleet_runs) else {
            return Ok(slot);
        };
        match fleet.take(&user.id, policy.max_concurrent_runs).await? {
            Some(place) => Ok(slot.holding(place)),
            None => Err(refused(Refusal::Caller)),
        }
    }
}

/// Where a run's files go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workspace {
    /// A box made for this run alone: the files are all there is.
    Fresh,
    /// The session's box: the files replace the last run's, except what
    /// the language keeps between runs.
    Session,
}

/// A run checked and planned.
#[derive(Debug)]
pub(crate) struct PlannedRun {
    /// What the engine runs (its `language` is the resolved one).
    pub job: Job,
    /// The language's version.
    pub version: String,
    /// The entry file, the request's or the one chosen for it.
    pub entry: Option<String>,
    /// The run stage's limits.
    pub limits: RunLimits,
    /// The saved project it runs, to record the run in its history.
    pub saved: Option<SavedRun>,
    /// The language's session server (a database), for session runs.
    pub server: Option<ServerPlan>,
}

/// Checks a run (its saved project or files, sizes, paths, limits within
/// `policy`) and plans it. `close_stdin`: the input ends after `stdin`
/// (batch runs) instead of staying open.
pub(crate) async fn plan_run(
    state: &AppState,
    caller: &Caller,
    policy: &RunPolicy,
    mut run: RunRequest,
    workspace: Workspace,
    close_stdin: bool,
) -> Result<PlannedRun, ApiError> {
    let scratch = run.scratch;
    if scratch {
        check_scratch(&run, workspace)?;
    }
    let (saved, saved_files) = load_saved_project(state, caller, &mut run).await?.unzip();
    // A saved project's files come from the store already decoded; a
    // request's come encoded in the frame.
    let mut files = match saved_files {
        Some(files) => {
            check_project_size(state, files.len(), files.iter().map(|f| f.content.len() as u64).sum())?;
            files
        }
        None => decode_files(state, run.files)?,
    };
    if scratch {
        for file in &mut files {
            file.path = in_scratch(&file.path)?;
        }
        run.entry = run.entry.as_deref().map(in_scratch).transpose()?;
    }
    let limits = run_limits(run.limits.as_ref(), policy)?;
    // The results are read from stdout alone; a terminal would mix stderr in.
    if run.sql_results && run.tty.is_some() {
        return Err(ApiError::from_code("invalid_spec", "sql_results runs on pipes: send no tty".into()));
    }
    let stdio = run.tty.map_or(StdioMode::Pipes, RunTty::stdio);
    let request = PlanRequest {
        language: run.language,
        files,
        entry: run.entry,
        args: run.args,
        limits,
        stdio,
        stdin: run.stdin.map(|s| Bytes::from(s).to_vec()).unwrap_or_default(),
        close_stdin,
        sql_results: run.sql_results,
    };
    let Plan { language, version, entry, stages, keep, server } =
        state.planner.plan(&request).map_err(|e| ApiError::from_code(e.code, e.message))?;
    // A session's server outlives each run: it may run as long as the
    // plan lets any run (and stops earlier with the box).
    let server = server.map(|mut server| {
        server.serve.limits.wall_time_ms = policy.max_limits.wall_time_ms;
        server.serve.limits.cpu_time_ms = policy.max_limits.cpu_time_ms;
        server
    });
    let mode = match workspace {
        Workspace::Session if !scratch => PutMode::Replace { keep },
        // Added beside what is there: a box of its own, or the scratch
        // folder of a session's box.
        _ => PutMode::Merge,
    };
    let mut files = request.files;
    // The structured results' client runs from the workspace, in place of
    // any file of the project's at its path.
    if request.sql_results {
        files.retain(|file| file.path != SQL_RESULTS_CLIENT_PATH);
        files.push(FileEntry {
            path: SQL_RESULTS_CLIENT_PATH.into(),
            content: Bytes::from_static(SQL_RESULTS_CLIENT.as_bytes()),
            executable: false,
        });
    }
    // A box made for this run alone has no server of the session: the
    // run starts its own, from the host's template when there is one.
    if let (Workspace::Fresh, Some(server)) = (workspace, &server) {
        let backend = state.sessions.engine().backend().as_ref();
        files.extend(state.sessions.templates().workspace_file(backend, &language, &version, server).await);
    }
    let job = Job { language, files, mode, stages };
    Ok(PlannedRun { job, version, entry, limits: request.limits, saved, server })
}

/// Refuses a `scratch` run that is not a session's structured SQL query
/// with its files and entry named: the scratch folder is for a query
/// beside the project (`docs/protocol.md`, "Structured SQL results"),
/// whose command runs the one file it is given.
fn check_scratch(run: &RunRequest, workspace: Workspace) -> Result<(), ApiError> {
    let refuse = |why: &str| Err(ApiError::from_code("invalid_spec", format!("scratch: {why}")));
    if workspace != Workspace::Session {
        return refuse("only a session's runs have a workspace to keep");
    }
    if !run.sql_results {
        return refuse("only for sql_results runs");
    }
    if run.project.is_some() || run.entry.is_none() {
        return refuse("send the files and name the entry");
    }
    Ok(())
}

/// A scratch run's path inside the server's scratch folder.
fn in_scratch(path: &str) -> Result<String, ApiError> {
    let placed = format!("{SCRATCH_DIR}/{path}");
    bytesbox_sandbox::paths::validate_relative(&placed).map_err(|e| ApiError::from_code(e.code(), e.to_string()))?;
    Ok(placed)
}

/// The run's limits: the plan's defaults with the request's overrides,
/// checked against the plan's maxima. The one check of a request's limits:
/// everything after it takes them as they are.
fn run_limits(requested: Option<&RequestedLimits>, policy: &RunPolicy) -> Result<RunLimits, ApiError> {
    let overrides = match requested {
        Some(requested) => requested.read().map_err(|reason| ApiError::from_code("invalid_spec", reason))?,
        None => LimitOverrides::default(),
    };
    let limits = overrides.over(&policy.default_limits);
    limits
        .validate_within(&policy.max_limits)
        .map_err(|e| ApiError::from_code("limit_exceeded", format!("{e} (plan {})", policy.plan)))?;
    Ok(limits)
}

/// Checks a project's file count and total size against the server's caps.
fn check_project_size(state: &AppState, count: usize, total_bytes: u64) -> Result<(), ApiError> {
    if count > state.config.projects.max_files {
        return Err(ApiError::from_code(
            "invalid_spec",
            format!("at most {} files per project", state.config.projects.max_files),
        ));
    }
    if total_bytes > state.config.projects.max_bytes {
        return Err(ApiError::from_code(
            "invalid_spec",
            format!("a project is at most {} bytes", state.config.projects.max_bytes),
        ));
    }
    Ok(())
}

/// Checks and decodes a request's files, stopping as soon as the total
/// passes the cap.
pub(crate) fn decode_files(state: &AppState, wire: Vec<WireFile>) -> Result<Vec<FileEntry>, ApiError> {
    check_project_size(state, wire.len(), 0)?;
    validate_unique(wire.iter().map(|f| f.path.as_str())).map_err(|e| ApiError::from_code(e.code(), e.to_string()))?;
    let mut total = 0u64;
    let mut files = Vec::with_capacity(wire.len());
    for file in wire {
        let content = EncodedBytes::decode(&file.content, file.encoding)
            .map_err(|e| ApiError::from_code("invalid_message", e))?;
        total += content.0.len() as u64;
        check_project_size(state, 0, total)?;
        files.push(FileEntry { path: file.path, content: content.0, executable: false });
    }
    Ok(files)
}

/// A box made for one request or connection alone (execute and Piston).
pub(crate) async fn fresh_box(state: &AppState) -> Result<BoxLease, ApiError> {
    let engine = state.sessions.engine();
    let lease = BoxLease::create(engine.backend(), state.sessions.config().box_spec.clone())
        .await
        .map_err(|e| ApiError::from_code(e.code(), e.to_string()))?;
    state.metrics.box_acquired(BoxOrigin::Execute, true);
    Ok(lease)
}

/// What one stage of a batch run produced.
#[derive(Debug)]
pub(crate) struct CollectedStage {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Both streams, in the order their chunks arrived.
    pub output: Vec<u8>,
    /// How the stage ended.
    pub report: ExitReport,
}

/// Compile and run stages; a stage that did not run is `None`.
pub(crate) type CollectedStages = [Option<CollectedStage>; 2];

/// Runs a job in a box made for it alone, destroyed afterwards (also when
/// the caller goes away midway), and collects every stage's output. The
/// box is destroyed after the answer is sent, unless teardowns fall behind.
pub(crate) async fn run_in_fresh_box(
    state: &AppState,
    job: Job,
    requester: bytesbox_engine::Requester,
) -> Result<CollectedStages, ApiError> {
    let mut job = job;
    // Its box is destroyed after the last stage: no launcher for a next
    // run (a fork and a memory cgroup made and removed for nothing).
    if let Some(last) = job.stages.last_mut() {
        last.spec.last_in_box = true;
    }
    let sandbox = fresh_box(state).await?;
    let outcome = collect(state.sessions.engine().submit_as(sandbox.id().clone(), job, requester)).await;
    sandbox.destroy_after_answer(&state.teardowns).await;
    outcome
}

async fn collect(submitted: Result<bytesbox_engine::JobHandle, EngineError>) -> Result<CollectedStages, ApiError> {
    let mut handle = submitted?;
    // stdout, stderr, and both in arrival order, per stage.
    let mut buffers: [(Vec<u8>, Vec<u8>, Vec<u8>); 2] = Default::default();
    let mut results: CollectedStages = [None, None];
    while let Some(event) = handle.events.recv().await {
        match event {
            JobEvent::Output { stage, stream, data } => {
                let (out, err, both) = &mut buffers[stage_slot(stage)];
                match stream {
                    Stream::Stdout => out.extend_from_slice(&data),
                    Stream::Stderr => err.extend_from_slice(&data),
                }
                both.extend_from_slice(&data);
            }
            JobEvent::StageFinished { stage, report } => {
                let (stdout, stderr, output) = std::mem::take(&mut buffers[stage_slot(stage)]);
                results[stage_slot(stage)] = Some(CollectedStage { stdout, stderr, output, report });
            }
            JobEvent::Failed { code, message } => return Err(ApiError::from_code(code, message)),
            JobEvent::Finished => break,
            // A one-shot run's input is all given up front, so it never
            // waits for more: no notice is about anything it could act on.
            JobEvent::Queued { .. } | JobEvent::Started | JobEvent::StageStarted(_) | JobEvent::Notice { .. } => {}
        }
    }
    Ok(results)
}

/// The slot of a stage in `[compile, run]` arrays.
pub(crate) fn stage_slot(stage: StageKind) -> usize {
    match stage {
        StageKind::Compile => 0,
        StageKind::Run => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RunPolicy {
        RunPolicy {
            plan: "guest".into(),
            default_limits: RunLimits::default(),
            max_limits: RunLimits { wall_time_ms: 60_000, ..RunLimits::default() },
            max_concurrent_runs: 1,
            max_runs_per_address: 1,
            run_slot_share_percent: 100,
            boxes: BoxCaps::UNLIMITED,
        }
    }

    fn requested(json: &str) -> RequestedLimits {
        serde_json::from_str(json).expect("an object")
    }

    #[test]
    fn a_run_s_limits_are_the_plan_s_defaults_with_its_overrides_within_the_plan_s_maxima() {
        assert_eq!(run_limits(None, &policy()).expect("defaults"), RunLimits::default());
        let asked = run_limits(Some(&requested(r#"{"wall_time_ms": 60000}"#)), &policy()).expect("within");
        assert_eq!(asked, RunLimits { wall_time_ms: 60_000, ..RunLimits::default() });
        let over = run_limits(Some(&requested(r#"{"wall_time_ms": 60001}"#)), &policy()).expect_err("over");
        assert_eq!(over.code(), "limit_exceeded");
        assert_eq!(
            over.message,
            "invalid specification: limit wall_time_ms=60001 exceeds the allowed maximum 60000 (plan guest)"
        );
        let typo = run_limits(Some(&requested(r#"{"wall_time": 1}"#)), &policy()).expect_err("unknown");
        assert_eq!((typo.status(), typo.code()), (StatusCode::BAD_REQUEST, "invalid_spec"));
        assert!(typo.message.starts_with("limits: unknown field `wall_time`"), "{}", typo.message);
        let zero = run_limits(Some(&requested(r#"{"pids": 0}"#)), &policy()).expect_err("zero");
        assert_eq!(zero.code(), "limit_exceeded");
    }
}
