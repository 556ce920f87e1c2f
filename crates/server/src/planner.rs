//! The seam between the protocol and the language catalog: a planner turns
//! a validated run request into a language and stages.

use bytesbox_engine::StagePlan;
use bytesbox_sandbox::{FileEntry, RunLimits, RunSpec, StdioMode};

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
    /// Run with structured results (`docs/sql.md`): the SQL runtimes only.
    pub sql_results: bool,
}

/// A planned run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Resolved language id.
    pub language: String,
    /// Its version, for `accepted`.
    pub version: String,
    /// The entry file, when the language uses one: the request's, or the
    /// one chosen for it (`accepted` names it).
    pub entry: Option<String>,
    /// Compile (optional) then run.
    pub stages: Vec<StagePlan>,
    /// Workspace paths that survive between runs (state kept on purpose).
    pub keep: Vec<String>,
    /// The session's server of the language (a database), started in the
    /// session's box before the run when it is not running there yet.
    pub server: Option<ServerPlan>,
}

/// How a language's session server is started (`docs/sql.md`).
#[derive(Clone, Debug)]
pub struct ServerPlan {
    /// Starts the server and stays in the foreground, printing `ready`
    /// once it answers. Its limits are the run's; the run intake extends
    /// them in time.
    pub serve: RunSpec,
    /// Makes the host's template of the state, `TEMPLATE` in `state_dir`.
    pub template: RunSpec,
    /// The workspace directory that holds the server's state.
    pub state_dir: String,
}

impl ServerPlan {
    /// The template's file name in `state_dir`, where `serve` looks for it.
    pub const TEMPLATE: &'static str = "template.tar.zst";
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
    /// File extensions that select it (unless `named_only`).
    pub extensions: Vec<String>,
    /// Picked only when a run names it: its extensions are another
    /// language's by default (the SQL servers' `.sql` is SQLite's).
    pub named_only: bool,
    /// Runs may ask for structured results (`sql_results`): the SQL
    /// servers.
    pub sql_results: bool,
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
    /// The resolved language id and its Jupyter kernel's command.
    fn kernel(&self, language: &str) -> Result<(String, bytesbox_runtimes::KernelTemplate), PlanError> {
        Err(PlanError { code: "no_kernel", message: format!("{language} has no notebook kernel on this server") })
    }
    /// The resolved language id and its language server's command.
    fn language_server(
        &self,
        language: &str,
    ) -> Result<(String, bytesbox_runtimes::LanguageServerTemplate), PlanError> {
        Err(PlanError {
            code: "no_language_server",
            message: format!("{language} has no language server on this server"),
        })
    }
}
