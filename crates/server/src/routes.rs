//! The route table: every HTTP route with the access it needs. The router
//! is built from this table and each route is wrapped in a guard that
//! enforces its access, so a route cannot be added without deciding who
//! may call it — and the authorization tests walk the same table.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::header::{ORIGIN, UPGRADE};
use axum::http::{Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};

use crate::accounts::caller::{identify, Credential};
use crate::accounts::cookies::{csrf_token, same_secret};
use crate::accounts::origin::{host_allowed, origin_allowed};
use crate::accounts::Caller;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::memory_budget::BudgetedBody;

/// The header that carries the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone; the caller is not even looked up (health, metrics, runtimes).
    Open,
    /// Anyone; a stale cookie counts as none (sign-up, sign-in, sign-out, `me`).
    SignIn,
    /// Any caller: a user, or a guest when guest mode is on.
    Caller,
    /// Signed-in users (cookie or API token).
    User,
    /// Administrators.
    Admin,
}

/// One route of the table.
#[derive(Debug)]
pub struct Route {
    /// Its method.
    pub method: Method,
    /// Its path, in axum's syntax (`/api/v1/projects/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    handler: MethodRouter<Arc<AppState>>,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
    Route { method, path, access, handler: on(filter, handler) }
}

/// Every route of the server.
pub fn route_table() -> Vec<Route> {
    use crate::accounts::{admin, auth, projects};
    use Access::{Admin, Caller, Open, SignIn, User};
    use Method as M;
    vec![
        route(M::GET, "/api/v1/ws", Caller, crate::ws::upgrade),
        route(M::POST, "/api/v1/execute", Caller, crate::http::execute),
        route(M::GET, "/api/v1/runtimes", Open, crate::http::runtimes),
        route(M::POST, "/api/v2/execute", Caller, crate::piston::rest::execute),
        route(M::GET, "/api/v2/runtimes", Open, crate::piston::rest::runtimes),
        route(M::GET, "/api/v2/connect", Caller, crate::piston::ws::connect),
        route(M::GET, "/healthz", Open, || async { "ok" }),
        route(M::GET, "/readyz", Open, crate::app::readyz),
        route(M::GET, "/metrics", Open, crate::metrics::scrape),
        route(M::POST, "/api/v1/auth/signup", SignIn, auth::signup),
        route(M::POST, "/api/v1/auth/login", SignIn, auth::login),
        route(M::POST, "/api/v1/auth/logout", SignIn, auth::logout),
        route(M::GET, "/api/v1/auth/me", SignIn, auth::me),
        route(M::GET, "/api/v1/auth/tokens", User, auth::list_tokens),
        route(M::POST, "/api/v1/auth/tokens", User, auth::create_token),
        route(M::DELETE, "/api/v1/auth/tokens/{id}", User, auth::revoke_token),
        route(M::GET, "/api/v1/plans", Caller, auth::plans),
        route(M::GET, "/api/v1/projects", User, projects::list),
        route(M::POST, "/api/v1/projects", User, projects::create),
        route(M::POST, "/api/v1/projects/import", User, projects::import),
        route(M::GET, "/api/v1/projects/{id}", User, projects::get),
        route(M::PUT, "/api/v1/projects/{id}", User, projects::update),
        route(M::DELETE, "/api/v1/projects/{id}", User, projects::delete),
        route(M::POST, "/api/v1/projects/{id}/duplicate", User, projects::duplicate),
        route(M::GET, "/api/v1/projects/{id}/files/{*path}", User, projects::read_file),
        route(M::PUT, "/api/v1/projects/{id}/files/{*path}", User, projects::write_file),
        route(M::DELETE, "/api/v1/projects/{id}/files/{*path}", User, projects::delete_file),
        route(M::GET, "/api/v1/projects/{id}/export", User, projects::export),
        route(M::GET, "/api/v1/projects/{id}/runs", User, projects::runs),
        route(M::GET, "/api/v1/admin/users", Admin, admin::users),
        route(M::PATCH, "/api/v1/admin/users/{id}", Admin, admin::update_user),
        route(M::GET, "/api/v1/admin/sessions", Admin, admin::sessions),
        route(M::DELETE, "/api/v1/admin/sessions/{id}", Admin, admin::kill_session),
        route(M::GET, "/api/v1/admin/boxes", Admin, admin::boxes),
        route(M::GET, "/api/v1/admin/storage", Admin, admin::storage),
    ]
}

/// The router of [`route_table`], each route behind its guard.
pub fn router_from_table(state: &Arc<AppState>) -> axum::Router<Arc<AppState>> {
    let mut router = axum::Router::new();
    for route in route_table() {
        let guarded = route.handler.route_layer(from_fn_with_state((state.clone(), route.access), guard));
        router = router.route(route.path, guarded);
    }
    router
}

/// Refuses hosts the server does not answer to (DNS rebinding), identifies
/// the caller, enforces the route's access, CSRF on cookie-authenticated
/// writes and the Origin of WebSocket upgrades, and leaves the caller in
/// the request for the handler.
async fn guard(State((state, access)): State<(Arc<AppState>, Access)>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    // Whatever reads the body from here on holds its share of the memory
    // budget while it does, and gives up on a client that stops sending.
    let body = BudgetedBody::wrap(body, &state.memory, state.connections.idle_timeout());
    let allowed_origins = state.accounts.as_ref().map(|a| a.config.allowed_origins.as_slice()).unwrap_or_default();
    if !host_allowed(&parts.headers, allowed_origins) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_refused",
            "this server does not answer to that host name; its address is set with [accounts] public_url",
        )
        .into_response();
    }
    if parts.headers.contains_key(UPGRADE) && !origin_allowed(&parts.headers, allowed_origins) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_refused",
            "WebSocket connections from this origin are refused",
        )
        .into_response();
    }
    if access == Access::Open {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let caller = match identify(&state, &parts, access == Access::SignIn).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = check_access(access, caller.as_ref()) {
        return error.into_response();
    }
    if let Some(Caller::User { credential: Credential::Cookie { session_token }, .. }) = &caller {
        let writes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if writes {
            let token_ok = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| same_secret(value, &csrf_token(session_token)));
            let origin_ok = !parts.headers.contains_key(ORIGIN) || origin_allowed(&parts.headers, allowed_origins);
            if !token_ok || !origin_ok {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "this request needs the X-CSRF-Token header from sign-in, sent from the IDE's own origin",
                )
                .into_response();
            }
        }
    }
    if let Some(caller) = caller {
        parts.extensions.insert(caller);
    }
    next.run(Request::from_parts(parts, body)).await
}

fn check_access(access: Access, caller: Option<&Caller>) -> Result<(), ApiError> {
    let sign_in = || ApiError::new(StatusCode::UNAUTHORIZED, "sign_in_required", "sign in first, or use an API token");
    match (access, caller) {
        (Access::Open | Access::SignIn, _) => Ok(()),
        (_, None) => Err(sign_in()),
        (Access::Caller, Some(_)) => Ok(()),
        (Access::User, Some(Caller::Anonymous { .. })) | (Access::Admin, Some(Caller::Anonymous { .. })) => Err(
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "accounts_unavailable", "this server runs without accounts"),
        ),
        (Access::User, Some(caller)) => caller.require_user().map(|_| ()),
        (Access::Admin, Some(caller)) if caller.is_admin() => Ok(()),
        (Access::Admin, Some(_)) => Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "administrators only")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_unique_and_api_routes_are_not_open_unless_read_only_catalogs() {
        let table = route_table();
        let mut seen = std::collections::HashSet::new();
        for route in &table {
            assert!(seen.insert((route.method.clone(), route.path)), "{} {} twice", route.method, route.path);
            if route.access == Access::Open {
                assert_eq!(route.method, Method::GET, "{} is open but changes state", route.path);
            }
            if route.path.starts_with("/api/v1/admin") {
                assert_eq!(route.access, Access::Admin, "{} must be admin only", route.path);
            }
        }
    }
}
