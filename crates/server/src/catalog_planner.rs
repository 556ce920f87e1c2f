//! The planner backed by the language catalog (`bytesbox-runtimes`).

use std::collections::HashMap;

use bytesbox_engine::{StageKind, StagePlan};
use bytesbox_runtimes::{
    Catalog, KernelTemplate, LanguageServerTemplate, ProjectFile, RunContext, Runtime, RuntimeStatus,
};

use crate::planner::{Plan, PlanError, PlanRequest, Planner, RuntimeInfo, ServerPlan};

/// CPU share of compile stages.
const COMPILE_MILLICORES: u32 = 1000;

/// Plans runs with the catalog; runtimes whose tools are missing on this
/// host are refused with the reason.
#[derive(Debug)]
pub struct CatalogPlanner {
    catalog: Catalog,
    status: HashMap<String, RuntimeStatus>,
}

impl CatalogPlanner {
    /// Detects every runtime's version once (a few hundred milliseconds).
    pub fn new(catalog: Catalog) -> CatalogPlanner {
        let statuses = catalog.detect_versions();
        CatalogPlanner::with_statuses(catalog, statuses)
    }

    /// A planner for runtimes whose availability was found elsewhere (the
    /// Docker backend probes its images instead of this host).
    pub fn with_statuses(catalog: Catalog, statuses: Vec<RuntimeStatus>) -> CatalogPlanner {
        let status = statuses.into_iter().map(|s| (s.id.clone(), s)).collect();
        CatalogPlanner { catalog, status }
    }

    /// The runtime named `language`, if it is available on this server.
    fn available_runtime(&self, language: &str) -> Result<&Runtime, PlanError> {
        let runtime = self.catalog.get(language).ok_or_else(|| PlanError {
            code: "unknown_language",
            message: format!("unknown language {language:?}; known: {}", self.catalog.ids()),
        })?;
        match self.status.get(&runtime.id) {
            Some(RuntimeStatus { available: false, reason, .. }) => Err(PlanError {
                code: "runtime_unavailable",
                message: format!(
                    "{} is not available on this server: {}",
                    runtime.id,
                    reason.clone().unwrap_or_else(|| "its tools are missing".into())
                ),
            }),
            _ => Ok(runtime),
        }
    }

    /// Each runtime's availability, in catalog order.
    pub fn statuses(&self) -> Vec<RuntimeStatus> {
        self.catalog.runtimes().iter().filter_map(|r| self.status.get(&r.id).cloned()).collect()
    }
}

impl Planner for CatalogPlanner {
    fn runtimes(&self) -> Vec<RuntimeInfo> {
        self.catalog
            .runtimes()
            .iter()
            .map(|runtime| {
                let status = self.status.get(&runtime.id);
                RuntimeInfo {
                    id: runtime.id.clone(),
                    name: runtime.name.clone(),
                    aliases: runtime.aliases.clone(),
                    extensions: runtime.extensions.clone(),
                    named_only: runtime.named_only,
                    sql_results: runtime.sql_results,
                    available: status.is_some_and(|s| s.available),
                    version: status.and_then(|s| s.version.clone()),
                    reason: status.and_then(|s| s.reason.clone()),
                }
            })
            .collect()
    }

    fn kernel(&self, language: &str) -> Result<(String, KernelTemplate), PlanError> {
        let runtime = self.available_runtime(language)?;
        let kernel = runtime.kernel.clone().ok_or_else(|| PlanError {
            code: "no_kernel",
            message: format!("{} has no notebook kernel", runtime.id),
        })?;
        Ok((runtime.id.clone(), kernel))
    }

    fn language_server(&self, language: &str) -> Result<(String, LanguageServerTemplate), PlanError> {
        let runtime = self.available_runtime(language)?;
        let server = runtime.language_server.clone().ok_or_else(|| PlanError {
            code: "no_language_server",
            message: format!("{} has no language server", runtime.id),
        })?;
        Ok((runtime.id.clone(), server))
    }

    fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        let files: Vec<ProjectFile<'_>> = request.files.iter().map(ProjectFile::from).collect();
        let context = RunContext::new(&request.limits, request.args.clone());
        let plan = self
            .catalog
            .resolve_with(request.language.as_deref(), &files, request.entry.as_deref(), &context)
            .map_err(|e| PlanError { code: e.code(), message: e.to_string() })?;
        let status = self.status.get(&plan.runtime_id);
        let version = match status {
            Some(RuntimeStatus { available: true, version, .. }) => version.clone().unwrap_or_default(),
            Some(RuntimeStatus { reason, .. }) => {
                return Err(PlanError {
                    code: "runtime_unavailable",
                    message: format!(
                        "{} is not available on this server: {}",
                        plan.runtime_id,
                        reason.clone().unwrap_or_else(|| "its tools are missing".into())
                    ),
                })
            }
            None => String::new(),
        };
        let mut stages = Vec::with_capacity(2);
        if let Some(compile) = &plan.compile {
            // Compilers are the toolchain's work, not the user's program:
            // they get a whole CPU (twice as fast as the default half), and
            // the box's limit still applies.
            let mut spec = compile.run_spec();
            spec.limits.cpu_millicores = spec.limits.cpu_millicores.max(COMPILE_MILLICORES);
            stages.push(StagePlan { kind: StageKind::Compile, spec });
        }
        let mut run = match (request.sql_results, &plan.results) {
            (false, _) => plan.run.run_spec(),
            (true, Some(results)) => results.run_spec(),
            (true, None) => {
                return Err(PlanError {
                    code: "invalid_spec",
                    message: format!(
                        "sql_results is for the SQL runtimes (sqlite, mysql, postgresql), not {}",
                        plan.runtime_id
                    ),
                })
            }
        };
        run.stdio = request.stdio;
        run.stdin = request.stdin.clone();
        run.close_stdin = request.close_stdin;
        stages.push(StagePlan { kind: StageKind::Run, spec: run });
        let server = match (plan.server, plan.template, plan.state.as_ref()) {
            (Some(serve), Some(template), Some(state_dir)) => Some(ServerPlan {
                serve: serve.run_spec(),
                template: template.run_spec(),
                state_dir: state_dir.clone(),
            }),
            _ => None,
        };
        Ok(Plan { language: plan.runtime_id, version, entry: plan.entry, stages, keep: plan.keep, server })
    }
}
