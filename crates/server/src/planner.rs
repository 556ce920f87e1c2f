//! The seam between the protocol and the language catalog: a planner turns
//! a validated run request into a language and stages.

use bytesbox_engine::StagePlan;
use bytesbox_sandbox::{FileEntry, RunLimits, StdioMode};

/// What a planner gets: a validated request.
#[derive(Clone, Debug)]
pub struct PlanRequest {
    /// Language id or alias, if the client named one.
    pub language: Option<String>,
    /// The files, paths already validated.
    pub files: Vec<FileEntry>,
    /// The entry file, if named.
    pub entry: Option<String>,
    /// Program arguments.
    pub args: Vec<String>,
    /// Limits of the run stage (already within the server's maxima).
    pub limits: RunLimits,
    /// Pipes or a terminal for the run stage.
    pub stdio: StdioMode,
    /// Initial input of the run stage.
    pub stdin: Vec<u8>,
    /// Whether input ends after `stdin` (batch runs) or stays open.
    pub close_stdin: bool,
}

/// A planned run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Resolved language id.
    pub language: String,
    /// Its version, for `accepted`.
    pub version: String,
    /// Compile (optional) then run.
    pub stages: Vec<StagePlan>,
    /// Workspace paths that survive between runs (state kept on purpose).
    pub keep: Vec<String>,
}

/// Why a request could not be planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    /// Stable code (`unknown_language`, `no_entry_file`, …).
    pub code: &'static str,
    /// Human message.
    pub message: String,
}

/// A language as `GET /api/v1/runtimes` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeInfo {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Other names accepted for it.
    pub aliases: Vec<String>,
    /// File extensions that select it.
    pub extensions: Vec<String>,
    /// Usable on this server.
    pub available: bool,
    /// Detected version.
    pub version: Option<String>,
    /// Why it is unavailable.
    pub reason: Option<String>,
}

/// Turns requests into plans.
pub trait Planner: Send + Sync + std::fmt::Debug {
    /// Plans one run.
    fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError>;
    /// Every language, available or not.
    fn runtimes(&self) -> Vec<RuntimeInfo>;
}
