//! The guard in front of every route of the table (`crate::routes`):
//! refuses hosts the server does not answer to and WebSocket upgrades from
//! foreign origins, identifies the caller (session cookie, API token or
//! guest), enforces the route's access and CSRF on cookie-authenticated
//! writes, and leaves the caller in the request for the handler.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, ORIGIN, SET_COOKIE, UPGRADE};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytesbox_store::API_TOKEN_PREFIX;

use crate::accounts::caller::Credential;
use crate::accounts::cookies::{self, csrf_token, same_secret, SESSION_COOKIE};
use crate::accounts::guest_cookie::{GuestCookies, GUEST_COOKIE};
use crate::accounts::origin::{host_allowed, origin_allowed};
use crate::accounts::{Accounts, Caller};
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

/// Refuses hosts the server does not answer to (DNS rebinding), identifies
/// the caller, enforces the route's access, CSRF on cookie-authenticated
/// writes and the Origin of WebSocket upgrades, and leaves the caller in
/// the request for the handler.
pub(crate) async fn guard(
    State((state, access)): State<(Arc<AppState>, Access)>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    // Whatever reads the body from here on holds its share of the memory
    // budget while it does, and gives up on a client that stops sending.
    let body = BudgetedBody::wrap(body, &state.memory, state.config.connections.idle_timeout());
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
    // A guest without an identity of its own is given one for its next
    // requests (this one counts as its address's cookieless guest).
    let new_guest_cookie = match (&caller, state.accounts.as_ref()) {
        (Some(Caller::Guest { browser: None, .. }), Some(accounts)) => Some((
            accounts.guest_cookies.issue().1,
            crate::accounts::auth::secure_cookies(&state, accounts, &parts.headers),
        )),
        _ => None,
    };
    if let Some(caller) = caller {
        parts.extensions.insert(caller);
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // An answer that sets cookies of its own (a sign-in) ends the guest.
    if let Some((value, secure)) = new_guest_cookie.filter(|_| !response.headers().contains_key(SET_COOKIE)) {
        GuestCookies::set(response.headers_mut(), &value, secure);
    }
    response
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

/// A caller from the credentials of a request. `Ok(None)`: no valid
/// credential and no guest mode. With `lenient`, a stale or invalid cookie
/// or token counts as none (sign-in, sign-up, sign-out and `me` must work
/// for a browser holding an old cookie).
pub async fn identify(state: &AppState, parts: &Parts, lenient: bool) -> Result<Option<Caller>, ApiError> {
    let address = state.rate_limits.client_of(parts);
    let Some(accounts) = state.accounts.as_ref() else {
        return Ok(Some(Caller::Anonymous { address }));
    };
    let invalid = || ApiError::new(StatusCode::UNAUTHORIZED, "invalid_session", "the sign-in expired or is invalid");
    if let Some(secret) = bearer_token(parts) {
        return match accounts.store.api_token_user(&secret).await? {
            Some(user) => Ok(Some(Caller::User { user: Box::new(user), credential: Credential::ApiToken })),
            None if lenient => Ok(guest(accounts, parts, address)),
            None => Err(invalid()),
        };
    }
    if let Some(session_token) = cookies::read(&parts.headers, SESSION_COOKIE) {
        return match accounts.store.session_user(&session_token).await? {
            Some(user) => {
                Ok(Some(Caller::User { user: Box::new(user), credential: Credential::Cookie { session_token } }))
            }
            None if lenient => Ok(guest(accounts, parts, address)),
            None => Err(invalid()),
        };
    }
    Ok(guest(accounts, parts, address))
}

/// A guest, with the browser identity its cookie carries, when guest mode
/// is on.
fn guest(accounts: &Accounts, parts: &Parts, address: IpAddr) -> Option<Caller> {
    let browser = cookies::read(&parts.headers, GUEST_COOKIE).and_then(|value| accounts.guest_cookies.verify(&value));
    accounts.config.guests.then_some(Caller::Guest { address, browser })
}

/// The secret of `Authorization: Bearer bbx_…` (or `token bbx_…`). Other
/// schemes and values are not ours (a proxy's), and are ignored.
fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    let secret = secret.trim();
    // `token` is the scheme Jupyter clients send (the Kernel Gateway API).
    let ours = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (ours && secret.starts_with(API_TOKEN_PREFIX)).then(|| secret.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::caller::tests::user;
    use axum::http::Request;
    use bytesbox_store::Role;

    fn parts_with(authorization: Option<&str>) -> Parts {
        let mut request = Request::builder().uri("/api/v1/auth/tokens");
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        request.body(()).expect("a request").into_parts().0
    }

    #[test]
    fn only_our_bearer_tokens_are_taken_whatever_the_scheme_case() {
        let token = format!("{API_TOKEN_PREFIX}secret");
        assert_eq!(bearer_token(&parts_with(Some(&format!("Bearer {token}")))), Some(token.clone()));
        assert_eq!(bearer_token(&parts_with(Some(&format!("bearer   {token} ")))), Some(token.clone()));
        assert_eq!(bearer_token(&parts_with(Some("Bearer a-proxy-s-token"))), None, "not ours: ignored");
        assert_eq!(bearer_token(&parts_with(Some(&format!("token {token}")))), Some(token.clone()), "Jupyter's scheme");
        assert_eq!(bearer_token(&parts_with(Some(&format!("Basic {token}")))), None);
        assert_eq!(bearer_token(&parts_with(Some(&token))), None, "no scheme");
        assert_eq!(bearer_token(&parts_with(None)), None);
    }

    fn refusal(access: Access, caller: Option<&Caller>) -> Option<(StatusCode, String)> {
        check_access(access, caller).err().map(|error| (error.status, error.code))
    }

    #[test]
    fn admin_routes_refuse_everyone_but_administrators() {
        let address = IpAddr::from([127, 0, 0, 1]);
        let forbidden = Some((StatusCode::FORBIDDEN, "forbidden".to_owned()));
        assert_eq!(refusal(Access::Admin, Some(&user(Role::Admin))), None);
        assert_eq!(refusal(Access::Admin, Some(&user(Role::User))), forbidden);
        assert_eq!(refusal(Access::Admin, Some(&Caller::Guest { address, browser: None })), forbidden);
        assert_eq!(refusal(Access::Admin, None), Some((StatusCode::UNAUTHORIZED, "sign_in_required".to_owned())));
        let without_accounts = Some((StatusCode::SERVICE_UNAVAILABLE, "accounts_unavailable".to_owned()));
        assert_eq!(refusal(Access::Admin, Some(&Caller::Anonymous { address })), without_accounts);
    }

    #[test]
    fn user_routes_refuse_guests_and_open_ones_no_one() {
        let address = IpAddr::from([127, 0, 0, 1]);
        let guest = Caller::Guest { address, browser: None };
        assert_eq!(refusal(Access::User, Some(&user(Role::User))), None);
        assert_eq!(refusal(Access::User, Some(&guest)), Some((StatusCode::FORBIDDEN, "sign_in_required".to_owned())));
        assert_eq!(refusal(Access::Caller, Some(&guest)), None);
        assert_eq!(refusal(Access::Open, None), None);
        assert_eq!(refusal(Access::SignIn, None), None);
    }
}
