//! `/api/v1/auth/*`: sign-up, sign-in, sign-out, `me`, API tokens, and
//! `/api/v1/plans`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::ORIGIN;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytesbox_store::{ApiToken, Role, StoreError, Usage, User};
use serde::{Deserialize, Serialize};

use super::caller::Credential;
use super::cookies::{clear_sign_in, csrf_token, set_sign_in};
use super::origin::origin_allowed;
use super::plans::{Plan, GUEST_PLAN};
use super::{Accounts, Caller};
use crate::api_error::{ApiError, ApiJson};
use crate::app::AppState;
use crate::rate_limit::Client;

/// Sign-up and sign-in body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The login name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// A user as the API shows it.
#[derive(Debug, Serialize)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// `user` or `admin`.
    pub role: &'static str,
    /// Plan name.
    pub plan: String,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at_ms: i64,
}

impl From<&User> for UserView {
    fn from(user: &User) -> UserView {
        UserView {
            id: user.id.0.clone(),
            username: user.username.clone(),
            role: user.role.as_str(),
            plan: user.plan.clone(),
            disabled: user.disabled,
            created_at_ms: user.created_at_ms,
        }
    }
}

/// Stored projects, files and bytes.
#[derive(Debug, Serialize)]
pub struct UsageView {
    /// Projects.
    pub projects: i64,
    /// Files over all projects.
    pub files: i64,
    /// Bytes over all projects.
    pub bytes: i64,
}

impl From<Usage> for UsageView {
    fn from(usage: Usage) -> UsageView {
        UsageView { projects: usage.projects, files: usage.files, bytes: usage.bytes }
    }
}

/// `GET /api/v1/auth/me` and the answer of sign-up and sign-in.
#[derive(Debug, Serialize)]
pub struct Me {
    /// The account; `null` for a guest.
    pub user: Option<UserView>,
    /// Whether the caller is a guest.
    pub guest: bool,
    /// The CSRF token for writes; `null` without a cookie sign-in.
    pub csrf: Option<String>,
    /// The caller's plan.
    pub plan: Plan,
    /// What the user stores; `null` for a guest.
    pub usage: Option<UsageView>,
}

/// `POST /api/v1/auth/signup`.
pub async fn signup(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    body: Result<ApiJson<Credentials>, ApiError>,
) -> Result<Response, ApiError> {
    let accounts = admit_attempt(&state, client, &headers)?;
    if !accounts.config.signup {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "signup_disabled", "sign-up is switched off on this server"));
    }
    let ApiJson(credentials) = body?;
    accounts.sign_in.reserve_signup(client.0).map_err(too_many_signups)?;
    let created = accounts.store.create_user(&credentials.username, &credentials.password, Role::User).await;
    let user = created.inspect_err(|_| accounts.sign_in.release_signup(client.0))?;
    tracing::info!(user = %user.username, address = %client.0, "signed up");
    start_session(&state, accounts, &user, &headers, StatusCode::CREATED).await
}

/// `POST /api/v1/auth/login`.
pub async fn login(
    State(state): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
    body: Result<ApiJson<Credentials>, ApiError>,
) -> Result<Response, ApiError> {
    let accounts = admit_attempt(&state, client, &headers)?;
    let ApiJson(credentials) = body?;
    let (address, username) = (client.0, credentials.username.as_str());
    accounts.sign_in.check_sign_in(address, username).map_err(too_many_attempts)?;
    let user = match accounts.store.verify_password(username, &credentials.password).await {
        Ok(user) => user,
        Err(error) => {
            if matches!(error, StoreError::InvalidCredentials) {
                accounts.sign_in.record_failure(address, username);
            }
            return Err(error.into());
        }
    };
    accounts.sign_in.record_success(address, username);
    start_session(&state, accounts, &user, &headers, StatusCode::OK).await
}

/// `POST /api/v1/auth/logout`: ends the sign-in this cookie holds.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    caller: Option<Caller>,
) -> Result<Response, ApiError> {
    let accounts = state.accounts()?;
    if let Some(Caller::User { credential: Credential::Cookie { session_token }, .. }) = &caller {
        accounts.store.revoke_session(session_token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    clear_sign_in(response.headers_mut(), secure_cookies(&state, accounts, &headers));
    Ok(response)
}

/// `GET /api/v1/auth/me`.
pub async fn me(State(state): State<Arc<AppState>>, caller: Option<Caller>) -> Result<Json<Me>, ApiError> {
    let accounts = state.accounts()?;
    let Some(caller) = caller else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "sign_in_required", "sign in to use this server"));
    };
    Ok(Json(me_of(accounts, &caller).await?))
}

async fn me_of(accounts: &Accounts, caller: &Caller) -> Result<Me, ApiError> {
    Ok(match caller {
        Caller::User { user, credential } => Me {
            user: Some(UserView::from(user.as_ref())),
            guest: false,
            csrf: match credential {
                Credential::Cookie { session_token } => Some(csrf_token(session_token)),
                Credential::ApiToken => None,
            },
            plan: accounts.plans.get(&user.plan).clone(),
            usage: Some(accounts.store.usage(&user.id).await?.into()),
        },
        Caller::Guest { .. } | Caller::Anonymous { .. } => {
            Me { user: None, guest: true, csrf: None, plan: accounts.plans.get(GUEST_PLAN).clone(), usage: None }
        }
    })
}

async fn start_session(
    state: &AppState,
    accounts: &Accounts,
    user: &User,
    headers: &HeaderMap,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let session = accounts.store.create_session(&user.id, accounts.config.session_ttl).await?;
    let caller = Caller::User {
        user: Box::new(user.clone()),
        credential: Credential::Cookie { session_token: session.token.clone() },
    };
    let me = me_of(accounts, &caller).await?;
    let mut response = (status, Json(me)).into_response();
    let max_age = i64::try_from(accounts.config.session_ttl.as_secs()).unwrap_or(i64::MAX);
    set_sign_in(response.headers_mut(), &session.token, max_age, secure_cookies(state, accounts, headers));
    Ok(response)
}

/// What every sign-up and sign-in attempt passes first: accounts exist,
/// the form was not posted from another site (login CSRF), and the client
/// address is within its attempt limit.
fn admit_attempt<'a>(state: &'a AppState, client: Client, headers: &HeaderMap) -> Result<&'a Accounts, ApiError> {
    let accounts = state.accounts()?;
    if headers.contains_key(ORIGIN) && !origin_allowed(headers, &accounts.config.allowed_origins) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf_failed", "sign-in from another site is refused"));
    }
    accounts.sign_in.check_address(client.0).map_err(too_many_attempts)?;
    Ok(accounts)
}

/// Whether the cookies set in answer to `headers` are `Secure`: as
/// configured, else when the request came over TLS (a trusted proxy's
/// `X-Forwarded-Proto: https`).
pub(crate) fn secure_cookies(state: &AppState, accounts: &Accounts, headers: &HeaderMap) -> bool {
    accounts.config.secure_cookies.unwrap_or_else(|| {
        state.rate_limits.trusts_proxy()
            && headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
    })
}

fn too_many_attempts(retry_after_secs: u64) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many sign-in attempts; try again in {retry_after_secs} s"),
    );
    error.retry_after_secs = Some(retry_after_secs);
    error
}

fn too_many_signups(retry_after_secs: u64) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many accounts were created from this address today; try again tomorrow",
    );
    error.retry_after_secs = Some(retry_after_secs);
    error
}

/// `POST /api/v1/auth/tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// The user's label.
    pub name: String,
}

/// A token as listed.
#[derive(Debug, Serialize)]
pub struct TokenView {
    /// Id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub last_used_at_ms: Option<i64>,
}

impl From<ApiToken> for TokenView {
    fn from(token: ApiToken) -> TokenView {
        TokenView {
            id: token.id,
            name: token.name,
            created_at_ms: token.created_at_ms,
            last_used_at_ms: token.last_used_at_ms,
        }
    }
}

/// `GET /api/v1/auth/tokens`.
pub async fn list_tokens(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = caller.require_user()?;
    let tokens: Vec<TokenView> =
        state.accounts()?.store.list_api_tokens(&user.id).await?.into_iter().map(TokenView::from).collect();
    Ok(Json(serde_json::json!({ "tokens": tokens })))
}

/// `POST /api/v1/auth/tokens`.
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewTokenRequest>,
) -> Result<Response, ApiError> {
    let user = caller.require_user()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", "a token name is 1 to 100 characters"));
    }
    let created = state.accounts()?.store.create_api_token(&user.id, name).await?;
    let body = serde_json::json!({ "token": TokenView::from(created.token), "secret": created.secret });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/auth/tokens/{id}`.
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = caller.require_user()?;
    state.accounts()?.store.revoke_api_token(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/plans`.
pub async fn plans(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let plans: Vec<&Plan> = state.accounts()?.plans.all().collect();
    Ok(Json(serde_json::json!({ "plans": plans })))
}
