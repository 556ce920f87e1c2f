//! `bytesbox run` and `bytesbox runtimes`.

use std::io::Write;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use bytesbox_docker::{detect_runtimes, DockerBackend, DockerConfig, SparePoolConfig};
use bytesbox_engine::{AdmissionConfig, Engine, Job, JobEvent, StageKind};
use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_runtimes::{Catalog, RuntimeStatus};
use bytesbox_sandbox::{Backend, BoxSpec, ExitReport, FileEntry, PutMode, RunLimits, RunStatus, StdioMode, Stream};
use bytesbox_server::catalog_planner::CatalogPlanner;
use bytesbox_server::planner::{PlanRequest, Planner};

use crate::cli::{BackendKind, RunArgs, RuntimesArgs};

/// Runs a project once; returns the exit code to leave with.
pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    let mut files = Vec::new();
    for path in &args.files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?;
        let content = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        files.push(FileEntry::new(name, content));
    }
    let stdin = match &args.stdin {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        None => Vec::new(),
    };
    let planner = CatalogPlanner::new(Catalog::builtin());
    let request = PlanRequest {
        language: args.language.clone(),
        entry: files.first().map(|f| f.path.clone()),
        files,
        args: args.args.clone(),
        limits: RunLimits::default(),
        stdio: StdioMode::Pipes,
        stdin,
        close_stdin: true,
        sql_results: false,
    };
    let plan = planner.plan(&request).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let backend = NativeBackend::start(NativeConfig::default()).await?;
    let result = run_plan(&backend, request.files, plan).await;
    backend.shutdown().await;
    result
}

async fn run_plan(
    backend: &NativeBackend,
    files: Vec<FileEntry>,
    plan: bytesbox_server::planner::Plan,
) -> anyhow::Result<i32> {
    let id = backend.create(BoxSpec::default()).await?;
    let engine = Engine::new(Arc::new(backend.clone()), AdmissionConfig { max_running: 1, max_queued: 1 });
    let mut handle =
        engine.submit(id, Job { language: plan.language.clone(), files, mode: PutMode::Merge, stages: plan.stages })?;
    let mut last: Option<(StageKind, ExitReport)> = None;
    while let Some(event) = handle.events.recv().await {
        match event {
            JobEvent::Output { stage, stream, data } => write_output(stage, stream, &data)?,
            JobEvent::Notice { text, .. } => eprintln!("bytesbox: {text}"),
            JobEvent::StageFinished { stage, report } => last = Some((stage, report)),
            JobEvent::Failed { message, .. } => bail!("{message}"),
            JobEvent::Finished => break,
            JobEvent::Queued { .. } | JobEvent::Started | JobEvent::StageStarted(_) => {}
        }
    }
    let Some((stage, report)) = last else { bail!("the run ended without a report") };
    Ok(exit_code(stage, &report))
}

fn write_output(stage: StageKind, stream: Stream, data: &Bytes) -> anyhow::Result<()> {
    // Compiler messages go to stderr whatever stream they came on.
    if stage == StageKind::Run && stream == Stream::Stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(data)?;
        out.flush()?;
    } else {
        let mut err = std::io::stderr().lock();
        err.write_all(data)?;
        err.flush()?;
    }
    Ok(())
}

/// The exit code that follows the program's: its own code, 128+signal
/// when killed by a signal, and the conventions of `timeout(1)` (124) and
/// of the OOM killer (137) for limits. A failed compile stage exits 1.
fn exit_code(stage: StageKind, report: &ExitReport) -> i32 {
    if report.status != RunStatus::Ok && report.status != RunStatus::Nonzero {
        eprintln!("bytesbox: {} stage ended: {}", stage.as_str(), report.status);
    }
    match (stage, report.status) {
        (StageKind::Compile, _) => 1,
        (_, RunStatus::Ok) => 0,
        (_, RunStatus::Nonzero) => report.exit_code.unwrap_or(1),
        (_, RunStatus::Timeout | RunStatus::CpuLimit) => 124,
        (_, RunStatus::MemoryLimit) => 137,
        (_, RunStatus::OutputLimit) => 141,
        _ => 128 + report.signal.unwrap_or(9),
    }
}

/// Prints every runtime with its availability and version; for the Docker
/// backend also its image and whether the engine has it.
pub async fn runtimes(args: RuntimesArgs) -> anyhow::Result<()> {
    let catalog = match &args.catalog {
        Some(path) => Catalog::load(path)?,
        None => Catalog::builtin(),
    };
    let mut out = std::io::stdout().lock();
    if args.backend == BackendKind::Docker {
        // One box per image and done: no spare box for a next session.
        let config = DockerConfig { spare_pool: SparePoolConfig::off(), ..DockerConfig::default() };
        let backend = DockerBackend::start(config).await.context("starting the Docker backend")?;
        let found = detect_runtimes(&backend, &catalog).await;
        backend.shutdown().await;
        writeln!(out, "{:<12} {:<10} {:<40} VERSION / REASON", "RUNTIME", "STATUS", "IMAGE")?;
        for runtime in found {
            let image = match &runtime.image {
                Some(name) => format!("{name} ({})", runtime.image_state.as_str()),
                None => "-".into(),
            };
            let id = runtime.status.id.clone();
            let (state, detail) = status_columns(runtime.status);
            writeln!(out, "{id:<12} {state:<10} {image:<40} {detail}")?;
        }
        return Ok(());
    }
    let planner = CatalogPlanner::new(catalog);
    writeln!(out, "{:<12} {:<10} VERSION / REASON", "RUNTIME", "STATUS")?;
    for status in planner.statuses() {
        let id = status.id.clone();
        let (state, detail) = status_columns(status);
        writeln!(out, "{id:<12} {state:<10} {detail}")?;
    }
    Ok(())
}

fn status_columns(status: RuntimeStatus) -> (&'static str, String) {
    match status.available {
        true => ("available", status.version.unwrap_or_default()),
        false => ("missing", status.reason.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: RunStatus, code: Option<i32>, signal: Option<i32>) -> ExitReport {
        ExitReport {
            exit_code: code,
            signal,
            status,
            wall_ms: 1,
            cpu_ms: 1,
            peak_memory_bytes: 1,
            stdout_bytes: 0,
            stderr_bytes: 0,
        }
    }

    #[test]
    fn exit_codes_follow_the_program() {
        assert_eq!(exit_code(StageKind::Run, &report(RunStatus::Ok, Some(0), None)), 0);
        assert_eq!(exit_code(StageKind::Run, &report(RunStatus::Nonzero, Some(7), None)), 7);
        assert_eq!(exit_code(StageKind::Run, &report(RunStatus::Signaled, None, Some(11))), 139);
        assert_eq!(exit_code(StageKind::Run, &report(RunStatus::Timeout, None, Some(9))), 124);
        assert_eq!(exit_code(StageKind::Run, &report(RunStatus::MemoryLimit, None, Some(9))), 137);
        assert_eq!(exit_code(StageKind::Compile, &report(RunStatus::Nonzero, Some(1), None)), 1);
    }
}
