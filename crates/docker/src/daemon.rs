//! Reaching the Docker engine, and turning its failures into errors that
//! tell an operator what to do.

use std::time::Duration;

use bollard::Docker;
use bytesbox_sandbox::SandboxError;

/// Timeout of one API request that is not a streaming one.
const API_TIMEOUT: Duration = Duration::from_secs(60);

/// Label keys on everything the backend creates.
pub mod labels {
    /// Every container, network and volume of the Docker backend.
    pub const BACKEND: &str = "org.bytesbox.backend";
    /// The backend instance (`i<pid>-<starttime>-<n>`) that made it, so a
    /// reaper can tell a crashed server's leftovers from a live one's.
    pub const INSTANCE: &str = "org.bytesbox.instance";
    /// The box it belongs to.
    pub const BOX: &str = "org.bytesbox.box";
    /// Prefix of the caller's own box labels (session id, user id).
    pub const USER_PREFIX: &str = "org.bytesbox.label.";
    /// The value of [`BACKEND`].
    pub const BACKEND_VALUE: &str = "docker";
}

/// Connects to `host` (or `DOCKER_HOST`, or the local socket), agrees on
/// an API version and checks the engine answers.
pub async fn connect(host: Option<&str>) -> Result<Docker, SandboxError> {
    let from_env = std::env::var("DOCKER_HOST").ok();
    let target = host.map(str::to_owned).or(from_env);
    let shown = target.clone().unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let docker = match &target {
        Some(address) => Docker::connect_with_host(address),
        None => Docker::connect_with_local_defaults(),
    }
    .map_err(|e| unreachable_error(&shown, &e.to_string()))?
    .with_timeout(API_TIMEOUT);
    let docker = docker.negotiate_version().await.map_err(|e| unreachable_error(&shown, &e.to_string()))?;
    docker.ping().await.map_err(|e| unreachable_error(&shown, &e.to_string()))?;
    Ok(docker)
}

/// Whether the engine (at `DOCKER_HOST` or the local socket) answers and
/// has `image`; the error says what is missing and how to fix it.
pub async fn check_ready(image: &str) -> Result<(), SandboxError> {
    let docker = connect(None).await?;
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(e) => Err(SandboxError::Unavailable(format!(
            "the image {image} is missing ({e}); build the images with `sudo scripts/images build`"
        ))),
    }
}

/// The message for a daemon that does not answer at start-up.
pub fn unreachable_error(address: &str, detail: &str) -> SandboxError {
    SandboxError::Unavailable(format!(
        "the Docker engine at {address} does not answer ({detail}). Start it (`systemctl start docker`, or \
         `sudo scripts/images build`, which installs docker.io and starts dockerd), or point DOCKER_HOST at a \
         running engine on this host; then build the runtime images with `sudo scripts/images build`"
    ))
}

/// Whether an API error means the engine itself is gone (as opposed to a
/// refusal of one request).
pub fn is_connection_error(error: &bollard::errors::Error) -> bool {
    use bollard::errors::Error as E;
    !matches!(
        error,
        E::DockerResponseServerError { .. }
            | E::JsonDataError { .. }
            | E::JsonSerdeError { .. }
            | E::DockerStreamError { .. }
    )
}

/// HTTP status of an engine refusal, if it was one.
pub fn status_code(error: &bollard::errors::Error) -> Option<u16> {
    match error {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// A sandbox error for a failed API call.
pub fn api_error(what: &str, error: bollard::errors::Error) -> SandboxError {
    if is_connection_error(&error) {
        SandboxError::Unavailable(format!(
            "{what}: the Docker engine does not answer ({error}); is dockerd running? The next run gets a fresh container"
        ))
    } else {
        SandboxError::Internal(format!("{what}: {error}"))
    }
}
