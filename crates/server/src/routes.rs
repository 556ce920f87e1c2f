//! The route table: every HTTP route with the access it needs, and the
//! router built from it. Each route is wrapped in a guard
//! (`crate::guard`) that enforces its access, so a route cannot be added without deciding who
//! may call it — and the authorization tests walk the same table.

use std::sync::Arc;

use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::app::AppState;
use crate::guard::guard;
pub use crate::guard::Access;

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
        route(M::GET, "/api/v1/docs", Open, crate::api_docs::document),
        route(M::POST, "/api/v2/execute", Caller, crate::piston::rest::execute),
        route(M::GET, "/api/v2/runtimes", Open, crate::piston::rest::runtimes),
        route(M::GET, "/api/v2/connect", Caller, crate::piston::ws::connect),
        route(M::GET, "/api/kernelspecs", User, crate::gateway::rest::kernelspecs),
        route(M::GET, "/api/kernelspecs/{name}", User, crate::gateway::rest::kernelspec),
        route(M::GET, "/api/kernels", User, crate::gateway::rest::list),
        route(M::POST, "/api/kernels", User, crate::gateway::rest::start),
        route(M::GET, "/api/kernels/{id}", User, crate::gateway::rest::get),
        route(M::DELETE, "/api/kernels/{id}", User, crate::gateway::rest::delete),
        route(M::POST, "/api/kernels/{id}/interrupt", User, crate::gateway::rest::interrupt),
        route(M::POST, "/api/kernels/{id}/restart", User, crate::gateway::rest::restart),
        route(M::GET, "/api/kernels/{id}/channels", User, crate::gateway::channels::channels),
        route(M::GET, "/healthz", Open, crate::health::healthz),
        route(M::GET, "/readyz", Open, crate::health::readyz),
        route(M::GET, "/metrics", Open, crate::health::scrape),
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
        route(M::GET, "/api/v1/admin/nodes", Admin, crate::fleet::list),
        route(M::POST, "/api/v1/admin/nodes/{id}/drain", Admin, crate::fleet::drain),
        route(M::GET, "/api/v1/admin/monitoring", Admin, crate::monitoring::api::series),
        route(M::GET, "/api/v1/admin/errors", Admin, crate::monitoring::api::errors),
        route(M::GET, "/api/v1/admin/analytics/users", Admin, crate::monitoring::api::users),
    ]
}

/// The application: every route of [`route_table`] behind its guard
/// (`crate::guard`), with the body limit, the security headers and the
/// tracking of server-side failures (`crate::monitoring`); any
/// other path is 404 `not_found` (`crate::web` keeps that for `/api/` and
/// serves the IDE elsewhere).
pub fn router(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for route in route_table() {
        let guarded = route.handler.route_layer(from_fn_with_state((state.clone(), route.access), guard));
        router = router.route(route.path, guarded);
    }
    router
        .fallback(crate::api_error::no_such_route)
        .layer(from_fn_with_state(state.clone(), crate::monitoring::track_failures))
        // A 10 MiB project, base64-encoded, plus JSON.
        .layer(axum::extract::DefaultBodyLimit::max(crate::memory_budget::UPFRONT_MAX_BYTES))
        .layer(axum::middleware::from_fn(crate::security_headers::add))
        .with_state(state)
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
