//! The Kernel Gateway's REST routes: kernelspecs from the catalog, and
//! kernels started, listed, interrupted, restarted and deleted for the
//! caller (an API token or a signed-in user; each caller sees only its
//! own kernels).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};

use super::kernels::{GatewayKernel, KernelModel, SESSION_KERNEL_ID};
use crate::accounts::caller::Caller;
use crate::api_error::{ApiError, InputBytes};
use crate::app::AppState;
use crate::rate_limit::Client;
use crate::session::{Session, Sessions};
use crate::session_kernels;

/// The kernelspecs: each catalog language with a kernel that this server
/// can run, by its language id.
fn specs(state: &AppState) -> Vec<(String, Value)> {
    state
        .planner
        .runtimes()
        .into_iter()
        .filter_map(|runtime| {
            let (id, template) = state.planner.kernel(&runtime.id).ok()?;
            let display_name = match &runtime.version {
                Some(version) => format!("{} ({version})", runtime.name),
                None => runtime.name.clone(),
            };
            let spec = json!({
                "name": id,
                "spec": {
                    "argv": template.argv,
                    "env": {},
                    "display_name": display_name,
                    "language": template.language,
                    "interrupt_mode": "signal",
                    "metadata": {},
                },
                "resources": {},
            });
            Some((id, spec))
        })
        .collect()
}

/// `GET /api/kernelspecs`.
pub async fn kernelspecs(State(state): State<Arc<AppState>>) -> Json<Value> {
    let specs = specs(&state);
    let default = specs.first().map(|(name, _)| name.clone());
    let all: Map<String, Value> = specs.into_iter().collect();
    Json(json!({ "default": default, "kernelspecs": all }))
}

/// `GET /api/kernelspecs/{name}`.
pub async fn kernelspec(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let (id, _) = state.planner.kernel(&name).map_err(|e| no_such_kernelspec(&name, e.message))?;
    specs(&state)
        .into_iter()
        .find(|(spec, _)| *spec == id)
        .map(|(_, spec)| Json(spec))
        .ok_or_else(|| no_such_kernelspec(&name, "not available on this server".into()))
}

fn no_such_kernelspec(name: &str, why: String) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_such_kernelspec", format!("no kernelspec {name:?}: {why}"))
}

/// `GET /api/kernels`: the caller's kernels.
pub async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Json<Vec<KernelModel>> {
    Json(state.gateway.owned_by(&caller.principal()).iter().map(|kernel| kernel.model()).collect())
}

/// What `POST /api/kernels` takes; other fields (`env`, `path`) are
/// accepted and ignored: a kernel's environment is the catalog's.
#[derive(Debug, Default, serde::Deserialize)]
struct StartKernel {
    name: Option<String>,
}

/// `POST /api/kernels`: starts a kernel in a box of its own and answers
/// once it does (201, its model).
pub async fn start(
    State(state): State<Arc<AppState>>,
    client: Client,
    caller: Caller,
    body: InputBytes,
) -> Result<impl IntoResponse, ApiError> {
    // jupyter-server sends JSON without saying so: the body is read as
    // JSON whatever its content type.
    let request: StartKernel = if body.0.iter().all(u8::is_ascii_whitespace) {
        StartKernel::default()
    } else {
        serde_json::from_slice(&body.0).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_message", format!("cannot read the body: {e}"))
        })?
    };
    let name = match request.name.filter(|name| !name.is_empty()) {
        Some(name) => name,
        None => specs(&state).first().map(|(name, _)| name.clone()).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "no_kernel", "this server has no language with a notebook kernel")
        })?,
    };
    let (language, template) = state.planner.kernel(&name).map_err(|e| no_such_kernelspec(&name, e.message))?;
    state.rate_limits.check(client.0).map_err(ApiError::rate_limited)?;

    let session = state.sessions.open(caller.principal(), caller.user().map(|user| user.username.clone()));
    // Closed again if the kernel does not start or this request is
    // dropped at any await below (its client went away).
    let mut unkept = CloseUnlessKept { sessions: state.sessions.clone(), session: Some(session.clone()) };
    let (queue, _) = session.attach().ok_or_else(|| internal("a new session's queue is taken"))?;
    session
        .kernels()
        .reserve(SESSION_KERNEL_ID, &language, 1)
        .map_err(|e| ApiError::from_code(e.code(), e.to_string()))?;
    let task =
        session_kernels::start_task(&state, &session, &caller, SESSION_KERNEL_ID, language.clone(), template, false)
            .await
            .map_err(|e| ApiError::from_code(e.code(), e.to_string()))?;
    match session_kernels::launch(task).await {
        Ok(Some(_language_info)) => {}
        Ok(None) => return Err(internal("the kernel's place was gone")),
        Err(e) => return Err(ApiError::from_code(e.code(), e.to_string())),
    }
    unkept.keep();
    let kernel = state.gateway.add(language, session, queue, state.sessions.clone());
    let location = format!("/api/kernels/{}", kernel.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(kernel.model())))
}

fn internal(message: &str) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
}

/// Closes a gateway kernel's session unless it was kept.
struct CloseUnlessKept {
    sessions: Arc<Sessions>,
    session: Option<Arc<Session>>,
}

impl CloseUnlessKept {
    fn keep(&mut self) {
        self.session = None;
    }
}

impl Drop for CloseUnlessKept {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let sessions = self.sessions.clone();
            tokio::spawn(async move { sessions.close(&session).await });
        }
    }
}

/// The caller's kernel `id`, or 404.
pub(crate) fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Arc<GatewayKernel>, ApiError> {
    state
        .gateway
        .get(id, &caller.principal())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no_such_kernel", format!("no kernel {id:?}")))
}

/// `GET /api/kernels/{id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KernelModel>, ApiError> {
    Ok(Json(owned(&state, &caller, &id)?.model()))
}

/// `DELETE /api/kernels/{id}`: the kernel is shut down and its box
/// destroyed, on a task of its own, so a client that goes away meanwhile
/// leaves no session behind.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    owned(&state, &caller, &id)?;
    let ending = tokio::spawn(async move {
        if let Some(kernel) = state.gateway.remove(&id) {
            // A shutdown request first lets the kernel end as it likes,
            // briefly; the box goes with the session.
            let _ = session_kernels::shut_down(&kernel.session, SESSION_KERNEL_ID, "shutdown").await;
            state.sessions.close(&kernel.session).await;
        }
    });
    ending.await.map_err(|e| internal(&format!("the kernel's end: {e}")))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/kernels/{id}/interrupt`.
pub async fn interrupt(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let kernel = owned(&state, &caller, &id)?;
    let running =
        kernel.session.kernels().get(SESSION_KERNEL_ID).map_err(|e| ApiError::from_code(e.code(), e.to_string()))?;
    running.interrupt().await.map_err(|e| ApiError::from_code(e.code(), e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/kernels/{id}/restart`: a new kernel in the same box (state
/// gone, counts from 1); also brings a dead kernel back. It goes on a task
/// of its own: a client that goes away meanwhile must not leave the
/// kernel's place marked as starting for ever.
pub async fn restart(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KernelModel>, ApiError> {
    let kernel = owned(&state, &caller, &id)?;
    let restarting = tokio::spawn(restart_kernel(state, caller, kernel));
    restarting.await.map_err(|e| internal(&format!("the restart: {e}")))?
}

async fn restart_kernel(
    state: Arc<AppState>,
    caller: Caller,
    kernel: Arc<GatewayKernel>,
) -> Result<Json<KernelModel>, ApiError> {
    let kernels = kernel.session.kernels();
    let (language, template) =
        state.planner.kernel(&kernel.name).map_err(|e| no_such_kernelspec(&kernel.name, e.message))?;
    let old = match kernels.take_for_restart(SESSION_KERNEL_ID) {
        Ok((old, _)) => Some(old),
        // Dead: its place is free; a fresh start takes it.
        Err(session_kernels::KernelRequestError::Unknown(_)) => {
            kernels
                .reserve(SESSION_KERNEL_ID, &language, 1)
                .map_err(|e| ApiError::from_code(e.code(), e.to_string()))?;
            None
        }
        Err(e) => return Err(ApiError::from_code(e.code(), e.to_string())),
    };
    kernel.set_state("restarting");
    kernel.notify(&super::message::status("restarting"));
    let task = match session_kernels::start_task(
        &state,
        &kernel.session,
        &caller,
        SESSION_KERNEL_ID,
        language,
        template,
        true,
    )
    .await
    {
        Ok(task) => task,
        Err(e) => {
            kernels.unreserve(SESSION_KERNEL_ID);
            kernel.set_state("dead");
            return Err(ApiError::from_code(e.code(), e.to_string()));
        }
    };
    let started = match old {
        Some(old) => session_kernels::relaunch(old, task).await,
        None => session_kernels::launch(task).await,
    };
    match started {
        Ok(Some(_)) => {
            kernel.set_state("idle");
            Ok(Json(kernel.model()))
        }
        Ok(None) => Err(ApiError::new(StatusCode::NOT_FOUND, "no_such_kernel", "the kernel was shut down meanwhile")),
        Err(e) => {
            kernel.set_state("dead");
            Err(ApiError::from_code(e.code(), e.to_string()))
        }
    }
}
