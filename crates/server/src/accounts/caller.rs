//! Who is calling: a signed-in user (cookie), a program (API token), a
//! guest, or — on a server built without accounts — an anonymous client
//! with the server's own limits. The route table's guard
//! (`crate::routes`) works it out once per request and leaves it in the
//! request's extensions, where handlers take it with the [`Caller`]
//! extractor.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytesbox_store::{Role, User, API_TOKEN_PREFIX};

use super::cookies::{self, SESSION_COOKIE};
use crate::api_error::ApiError;
use crate::app::AppState;

/// How a user proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The browser's session cookie; writes need the CSRF token.
    Cookie {
        /// The session secret, to sign out and to check the CSRF token.
        session_token: String,
    },
    /// `Authorization: Bearer bbx_…`.
    ApiToken,
}

/// The caller of one request.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A server without accounts: no identity, the server's limits.
    Anonymous {
        /// The client's address.
        address: IpAddr,
    },
    /// Not signed in, on a server with guest mode on.
    Guest {
        /// The client's address; guests share a plan per address.
        address: IpAddr,
    },
    /// A signed-in user or a program with the user's API token.
    User {
        /// The account.
        user: Box<User>,
        /// How they proved it.
        credential: Credential,
    },
}

/// Whom runs and sessions are counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// Not counted.
    Anonymous,
    /// Guests, per client address.
    Guest(IpAddr),
    /// A user, by id.
    User(String),
}

impl Caller {
    /// Whom this caller's runs count against.
    pub fn principal(&self) -> Principal {
        match self {
            Caller::Anonymous { .. } => Principal::Anonymous,
            Caller::Guest { address } => Principal::Guest(*address),
            Caller::User { user, .. } => Principal::User(user.id.0.clone()),
        }
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::User { user, .. } => Some(user),
            _ => None,
        }
    }

    /// The signed-in user, or the error a guest gets on a user-only route.
    pub fn require_user(&self) -> Result<&User, ApiError> {
        self.user().ok_or_else(|| {
            ApiError::new(StatusCode::FORBIDDEN, "sign_in_required", "sign in to use saved projects and tokens")
        })
    }

    /// Whether the caller is an administrator.
    pub fn is_admin(&self) -> bool {
        self.user().is_some_and(|user| user.role == Role::Admin)
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
            None if lenient => Ok(guest(accounts.config.guests, address)),
            None => Err(invalid()),
        };
    }
    if let Some(session_token) = cookies::read(&parts.headers, SESSION_COOKIE) {
        return match accounts.store.session_user(&session_token).await? {
            Some(user) => {
                Ok(Some(Caller::User { user: Box::new(user), credential: Credential::Cookie { session_token } }))
            }
            None if lenient => Ok(guest(accounts.config.guests, address)),
            None => Err(invalid()),
        };
    }
    Ok(guest(accounts.config.guests, address))
}

fn guest(guests: bool, address: IpAddr) -> Option<Caller> {
    guests.then_some(Caller::Guest { address })
}

/// The secret of `Authorization: Bearer bbx_…`. Other schemes and bearer
/// values are not ours (a proxy's), and are ignored.
fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && secret.starts_with(API_TOKEN_PREFIX)).then(|| secret.to_string())
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "sign_in_required", "sign in first, or use an API token")
        })
    }
}

impl axum::extract::OptionalFromRequestParts<Arc<AppState>> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &Arc<AppState>) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use bytesbox_store::UserId;

    fn parts_with(authorization: Option<&str>) -> Parts {
        let mut request = Request::builder().uri("/api/v1/auth/tokens");
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        request.body(()).expect("a request").into_parts().0
    }

    fn user(role: Role) -> Caller {
        let user = User {
            id: UserId("u1".into()),
            username: "ada".into(),
            role,
            plan: "default".into(),
            disabled: false,
            created_at_ms: 0,
        };
        Caller::User { user: Box::new(user), credential: Credential::ApiToken }
    }

    #[test]
    fn only_our_bearer_tokens_are_taken_whatever_the_scheme_case() {
        let token = format!("{API_TOKEN_PREFIX}secret");
        assert_eq!(bearer_token(&parts_with(Some(&format!("Bearer {token}")))), Some(token.clone()));
        assert_eq!(bearer_token(&parts_with(Some(&format!("bearer   {token} ")))), Some(token.clone()));
        assert_eq!(bearer_token(&parts_with(Some("Bearer a-proxy-s-token"))), None, "not ours: ignored");
        assert_eq!(bearer_token(&parts_with(Some(&format!("Basic {token}")))), None);
        assert_eq!(bearer_token(&parts_with(Some(&token))), None, "no scheme");
        assert_eq!(bearer_token(&parts_with(None)), None);
    }

    #[test]
    fn only_administrators_are_administrators() {
        let address = IpAddr::from([127, 0, 0, 1]);
        assert!(user(Role::Admin).is_admin());
        for caller in [user(Role::User), Caller::Guest { address }, Caller::Anonymous { address }] {
            assert!(!caller.is_admin(), "{caller:?}");
        }
    }

    #[test]
    fn guests_are_refused_user_routes_and_counted_per_address() {
        let address = IpAddr::from([127, 0, 0, 2]);
        let guest = Caller::Guest { address };
        let refused = guest.require_user().expect_err("a guest is no user");
        assert_eq!((refused.status, refused.code.as_str()), (StatusCode::FORBIDDEN, "sign_in_required"));
        assert_eq!(guest.principal(), Principal::Guest(address));
        let signed_in = user(Role::User);
        assert_eq!(signed_in.require_user().map(|user| user.username.as_str()).ok(), Some("ada"));
        assert_eq!(signed_in.principal(), Principal::User("u1".into()));
    }
}
