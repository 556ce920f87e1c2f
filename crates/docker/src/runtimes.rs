//! Which image serves each catalog runtime, whether the engine has it, and
//! whether the runtime really works in it: its version command runs in a
//! hardened box of that image, exactly as a program would.

use bytesbox_runtimes::{Catalog, Runtime, RuntimeStatus, VERSION_TIMEOUT};
use bytesbox_sandbox::{Backend, BoxSpec, RootfsSpec, RunSpec, RunStatus, SandboxError};
use futures_util::StreamExt;

use crate::daemon::status_code;
use crate::DockerBackend;

/// Version commands run at once in an image's box.
const PARALLEL_PROBES: usize = 3;

/// Exit code of the probe when a required program is missing.
const MISSING_PROGRAM: i32 = 127;

/// Checks every required program (`$1` of them follow), then becomes the
/// version command. A missing program is named on stderr.
const PROBE_SCRIPT: &str = "n=$1; shift; while [ \"$n\" -gt 0 ]; do command -v \"$1\" >/dev/null 2>&1 || \
{ echo \"missing: $1\" >&2; exit 127; }; shift; n=$((n - 1)); done; exec \"$@\"";

/// Whether the engine has an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageState {
    /// The engine has it.
    Present,
    /// The engine does not have it (`scripts/images build` makes it).
    Missing,
    /// The catalog names no image for the runtime.
    NotInCatalog,
    /// The engine could not say.
    Unknown(String),
}

impl ImageState {
    /// `present`, `missing`, `none` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ImageState::Present => "present",
            ImageState::Missing => "missing",
            ImageState::NotInCatalog => "none",
            ImageState::Unknown(_) => "unknown",
        }
    }
}

/// One runtime as the Docker backend serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRuntime {
    /// Its image, as the catalog names it.
    pub image: Option<String>,
    /// Whether the engine has that image.
    pub image_state: ImageState,
    /// Available only when the image is present and the runtime's version
    /// command succeeded in it; the version is the image's.
    pub status: RuntimeStatus,
}

/// Every runtime of the catalog, in catalog order, as this backend can
/// serve it. Each present image gets one short-lived box.
pub async fn detect_runtimes(backend: &DockerBackend, catalog: &Catalog) -> Vec<ImageRuntime> {
    let mut images: Vec<&str> = Vec::new();
    for image in catalog.runtimes().iter().filter_map(|r| r.image.as_deref()) {
        if !images.contains(&image) {
            images.push(image);
        }
    }
    let mut found: Vec<(String, ImageState, Vec<RuntimeStatus>)> = Vec::new();
    for image in images {
        let state = image_state(backend, image).await;
        let runtimes: Vec<&Runtime> = catalog.runtimes().iter().filter(|r| r.image.as_deref() == Some(image)).collect();
        let statuses = match &state {
            ImageState::Present => probe_image(backend, catalog, image, &runtimes).await,
            other => runtimes.iter().map(|r| unavailable(r, absent_reason(image, other))).collect(),
        };
        found.push((image.to_string(), state, statuses));
    }
    catalog
        .runtimes()
        .iter()
        .map(|runtime| match &runtime.image {
            None => ImageRuntime {
                image: None,
                image_state: ImageState::NotInCatalog,
                status: unavailable(
                    runtime,
                    format!("no runtime image holds {} (the catalog names none for it)", runtime.name),
                ),
            },
            Some(image) => {
                let (_, state, statuses) =
                    found.iter().find(|(name, _, _)| name == image).expect("every catalog image was looked at");
                let status = statuses
                    .iter()
                    .find(|s| s.id == runtime.id)
                    .cloned()
                    .unwrap_or_else(|| unavailable(runtime, "not probed".into()));
                ImageRuntime { image: Some(image.clone()), image_state: state.clone(), status }
            }
        })
        .collect()
}

async fn image_state(backend: &DockerBackend, image: &str) -> ImageState {
    match backend.docker().inspect_image(image).await {
        Ok(_) => ImageState::Present,
        Err(e) if status_code(&e) == Some(404) => ImageState::Missing,
        Err(e) => ImageState::Unknown(e.to_string()),
    }
}

fn absent_reason(image: &str, state: &ImageState) -> String {
    match state {
        ImageState::Missing => {
            format!("the image {image} is missing; build the images with `sudo scripts/images build`")
        }
        ImageState::Unknown(error) => format!("the engine could not say whether it has {image}: {error}"),
        ImageState::Present | ImageState::NotInCatalog => String::new(),
    }
}

fn unavailable(runtime: &Runtime, reason: String) -> RuntimeStatus {
    RuntimeStatus { id: runtime.id.clone(), available: false, version: None, reason: Some(reason) }
}

/// Runs each runtime's probe in one box of `image`.
async fn probe_image(
    backend: &DockerBackend,
    catalog: &Catalog,
    image: &str,
    runtimes: &[&Runtime],
) -> Vec<RuntimeStatus> {
    let spec = BoxSpec {
        rootfs: RootfsSpec::Named { image: image.to_string() },
        labels: vec![("purpose".into(), "runtime-detection".into())],
        ..BoxSpec::default()
    };
    let id = match backend.create(spec).await {
        Ok(id) => id,
        Err(e) => {
            return runtimes.iter().map(|r| unavailable(r, format!("a box of {image} could not start: {e}"))).collect()
        }
    };
    let statuses = futures_util::stream::iter(runtimes.iter().map(|runtime| {
        let id = id.clone();
        async move {
            match probe(backend, &id, catalog, runtime).await {
                Ok(status) => status,
                Err(e) => unavailable(runtime, format!("probing it in {image} failed: {e}")),
            }
        }
    }))
    .buffered(PARALLEL_PROBES)
    .collect()
    .await;
    if let Err(e) = backend.destroy(&id).await {
        tracing::warn!(error = %e, "removing the runtime-detection box");
    }
    statuses
}

async fn probe(
    backend: &DockerBackend,
    id: &bytesbox_sandbox::BoxId,
    catalog: &Catalog,
    runtime: &Runtime,
) -> Result<RuntimeStatus, SandboxError> {
    let mut argv = vec!["sh".to_string(), "-c".into(), PROBE_SCRIPT.into(), "bytesbox-probe".into()];
    argv.push(runtime.requires.len().to_string());
    argv.extend(runtime.requires.iter().cloned());
    argv.extend(runtime.version_command.iter().cloned());
    let mut spec = RunSpec::command(argv);
    spec.env = vec![("PATH".into(), catalog.search_path().into())];
    spec.limits.wall_time_ms = u64::try_from(VERSION_TIMEOUT.as_millis()).unwrap_or(5_000).saturating_mul(2);
    spec.close_stdin = true;
    let done = backend.run(id, spec).await?.collect().await?;
    let stderr = String::from_utf8_lossy(&done.stderr).into_owned();
    let report = &done.report;
    if report.exit_code == Some(MISSING_PROGRAM) {
        if let Some(program) = stderr.lines().find_map(|l| l.strip_prefix("missing: ")) {
            return Ok(unavailable(
                runtime,
                format!("`{program}` is not installed in its image; {} needs it", runtime.name),
            ));
        }
    }
    let failure = match report.status {
        RunStatus::Ok => None,
        RunStatus::Nonzero => Some(format!("exit status: {}", report.exit_code.unwrap_or(-1))),
        other => Some(other.to_string()),
    };
    Ok(runtime.status_from_version_output(failure.as_deref(), &done.stdout_text(), &stderr))
}
