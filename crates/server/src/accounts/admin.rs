//! `/api/v1/admin/*`: users, live sessions and boxes, storage. The route table
//! lets only administrators in.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bytesbox_sandbox::BoxInfo;
use bytesbox_store::{Role, UserId};
use serde::{Deserialize, Serialize};

use super::auth::{UsageView, UserView};
use super::{Caller, Principal};
use crate::api_error::{ApiError, ApiJson, InputQuery};
use crate::app::AppState;

/// `GET /api/v1/admin/users`.
pub async fn users(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = &state.accounts()?.store;
    let mut users = Vec::new();
    for user in store.list_users().await? {
        let usage = UsageView::from(store.usage(&user.id).await?);
        let mut view = serde_json::to_value(UserView::from(&user)).unwrap_or_default();
        if let Some(object) = view.as_object_mut() {
            object.insert("usage".into(), serde_json::to_value(usage).unwrap_or_default());
            object.insert("running".into(), state.run_slots.running(&Principal::User(user.id.0.clone())).into());
        }
        users.push(view);
    }
    Ok(Json(serde_json::json!({ "users": users })))
}

/// `PATCH /api/v1/admin/users/{id}` body: what to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// A plan name.
    pub plan: Option<String>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
    /// `user` or `admin`.
    pub role: Option<String>,
}

/// `PATCH /api/v1/admin/users/{id}`.
pub async fn update_user(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<UserChange>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let accounts = state.accounts()?;
    let id = UserId(id);
    let invalid = |message: &str| ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message.to_string());
    let role = match change.role.as_deref() {
        None => None,
        Some(name) => Some(Role::from_name(name).ok_or_else(|| invalid("a role is \"user\" or \"admin\""))?),
    };
    if let Some(plan) = &change.plan {
        if !accounts.plans.contains(plan) {
            return Err(invalid(&format!("there is no plan {plan:?}")));
        }
    }
    // An administrator cannot lock themselves out.
    let is_self = caller.user().is_some_and(|me| me.id == id);
    if is_self && (change.disabled == Some(true) || role == Some(Role::User)) {
        return Err(invalid("you cannot disable or demote your own account"));
    }
    let user = accounts.store.user(&id).await?;
    if let Some(plan) = &change.plan {
        accounts.store.set_user_plan(&id, plan).await?;
    }
    if let Some(role) = role {
        accounts.store.set_user_role(&id, role).await?;
    }
    if let Some(disabled) = change.disabled {
        accounts.store.set_user_disabled(&id, disabled).await?;
        if disabled {
            // Sign-ins end now; API tokens stop working because the store
            // ignores a disabled user's tokens; live sessions are closed.
            accounts.store.revoke_user_sessions(&id).await?;
            let closed = state.sessions.close_owned_by(&Principal::User(id.0.clone())).await;
            tracing::info!(user = %user.username, closed, "account disabled");
        }
    }
    let user = accounts.store.user(&id).await?;
    Ok(Json(serde_json::json!({ "user": UserView::from(&user) })))
}

/// A box's resource use.
#[derive(Debug, Serialize)]
pub struct BoxView {
    /// Box id.
    pub id: String,
    /// The session that owns it, if any.
    pub session: Option<String>,
    /// Memory of the whole box now, when the backend can tell.
    pub memory_bytes: Option<u64>,
    /// Runs going.
    pub active_runs: usize,
    /// Runs since the box was made.
    pub total_runs: u64,
    /// Milliseconds since its last run ended.
    pub idle_ms: u64,
}

fn box_view(info: &BoxInfo, session: Option<String>) -> BoxView {
    BoxView {
        id: info.id.to_string(),
        session,
        memory_bytes: info.memory_bytes,
        active_runs: info.active_runs,
        total_runs: info.total_runs,
        idle_ms: info.idle_ms,
    }
}

/// `GET /api/v1/admin/sessions`.
pub async fn sessions(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let boxes: HashMap<String, BoxInfo> =
        state.sessions.engine().backend().list().await.into_iter().map(|info| (info.id.to_string(), info)).collect();
    let sessions: Vec<serde_json::Value> = state
        .sessions
        .list()
        .into_iter()
        .map(|session| {
            let owner = match &session.owner {
                Principal::User(id) => serde_json::json!({"user_id": id, "username": session.owner_name}),
                Principal::Guest { address, browser } => serde_json::json!({
                    "guest": address.to_string(),
                    // Enough to tell a room's guests apart, not to act as one.
                    "browser": browser.as_ref().map(|id| id.as_str()[..8].to_string()),
                }),
                Principal::GuestAddress(address) => serde_json::json!({"guest": address.to_string()}),
                Principal::Anonymous => serde_json::json!({"anonymous": true}),
            };
            let sandbox = session
                .current_box()
                .and_then(|id| boxes.get(&id.to_string()))
                .map(|info| box_view(info, Some(session.id.clone())));
            serde_json::json!({
                "id": session.id,
                "owner": owner,
                "connected": session.is_connected(),
                "runs": session.active_runs(),
                "box": sandbox,
            })
        })
        .collect();
    Json(serde_json::json!({ "sessions": sessions }))
}

/// `DELETE /api/v1/admin/sessions/{id}`: kills its runs, destroys its box.
pub async fn kill_session(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let session = state
        .sessions
        .find(&id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no live session with that id"))?;
    state.sessions.close(&session).await;
    tracing::info!(session = %id, "session killed by an administrator");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/admin/boxes`.
pub async fn boxes(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let owners: HashMap<String, String> = state
        .sessions
        .list()
        .into_iter()
        .filter_map(|session| session.current_box().map(|id| (id.to_string(), session.id.clone())))
        .collect();
    let boxes: Vec<BoxView> = state
        .sessions
        .engine()
        .backend()
        .list()
        .await
        .iter()
        .map(|info| box_view(info, owners.get(&info.id.to_string()).cloned()))
        .collect();
    Json(serde_json::json!({ "boxes": boxes }))
}

/// `?limit=N` of `GET /api/v1/admin/storage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageQuery {
    /// How many users to list (default 20, at most 1000).
    pub limit: Option<u32>,
}

/// `GET /api/v1/admin/storage`: the users who store the most, most first,
/// and what the server stores against its budget and disk watermark.
pub async fn storage(
    State(state): State<Arc<AppState>>,
    InputQuery(query): InputQuery<StorageQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = &state.accounts()?.store;
    let limits = store.storage_limits();
    let users: Vec<serde_json::Value> = store
        .storage_by_user(query.limit.unwrap_or(20).clamp(1, 1000))
        .await?
        .into_iter()
        .map(|user| {
            serde_json::json!({
                "id": user.id.0,
                "username": user.username,
                "projects": user.projects,
                "files": user.files,
                "bytes": user.bytes,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "total_bytes": store.total_stored_bytes().await?,
        "budget_bytes": limits.budget_bytes,
        "disk": { "free_bytes": store.disk_free_bytes(), "min_free_bytes": limits.min_free_bytes },
        "users": users,
    })))
}
