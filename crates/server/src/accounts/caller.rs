//! Who is calling: a signed-in user (cookie), a program (API token), a
//! guest, or — on a server built without accounts — an anonymous client
//! with the server's own limits. The route table's guard
//! (`crate::guard`) works it out once per request and leaves it in the
//! request's extensions, where handlers take it with the [`Caller`]
//! extractor.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytesbox_store::{Role, User};

use crate::accounts::guest_cookie::GuestId;
use crate::api_error::ApiError;

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
        /// The client's address: what all its guests hold together is
        /// capped.
        address: IpAddr,
        /// The browser's identity (its `bbx_guest` cookie); `None` for a
        /// client without one, which shares its address's cookieless
        /// identity (API clients).
        browser: Option<GuestId>,
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
    /// A guest: one browser, or an address's clients without a cookie.
    Guest {
        /// The client's address.
        address: IpAddr,
        /// The browser's identity, if it has one.
        browser: Option<GuestId>,
    },
    /// All guests of one client address together: never a caller, only
    /// what their runs and boxes are also counted against.
    GuestAddress(IpAddr),
    /// A user, by id.
    User(String),
}

impl Principal {
    /// What this principal's runs and boxes are also counted against:
    /// a guest's address.
    pub fn room(&self) -> Option<Principal> {
        match self {
            Principal::Guest { address, .. } => Some(Principal::GuestAddress(*address)),
            _ => None,
        }
    }
}

impl Caller {
    /// Whom this caller's runs count against.
    pub fn principal(&self) -> Principal {
        match self {
            Caller::Anonymous { .. } => Principal::Anonymous,
            Caller::Guest { address, browser } => Principal::Guest { address: *address, browser: browser.clone() },
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

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "sign_in_required", "sign in first, or use an API token")
        })
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use bytesbox_store::UserId;

    /// A caller signed in with an API token, with `role`.
    pub(crate) fn user(role: Role) -> Caller {
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
    fn only_administrators_are_administrators() {
        let address = IpAddr::from([127, 0, 0, 1]);
        assert!(user(Role::Admin).is_admin());
        for caller in [user(Role::User), Caller::Guest { address, browser: None }, Caller::Anonymous { address }] {
            assert!(!caller.is_admin(), "{caller:?}");
        }
    }

    #[test]
    fn guests_are_refused_user_routes_and_counted_per_browser_within_their_address() {
        let address = IpAddr::from([127, 0, 0, 2]);
        let guest = Caller::Guest { address, browser: None };
        let refused = guest.require_user().expect_err("a guest is no user");
        assert_eq!((refused.status, refused.code.as_str()), (StatusCode::FORBIDDEN, "sign_in_required"));
        assert_eq!(guest.principal(), Principal::Guest { address, browser: None });
        assert_eq!(guest.principal().room(), Some(Principal::GuestAddress(address)));
        let (browser, _) = crate::accounts::guest_cookie::GuestCookies::with_random_key().issue();
        let with_cookie = Caller::Guest { address, browser: Some(browser) };
        assert_ne!(with_cookie.principal(), guest.principal(), "each browser is a guest of its own");
        assert_eq!(with_cookie.principal().room(), guest.principal().room(), "in the same room");
        let signed_in = user(Role::User);
        assert_eq!(signed_in.require_user().map(|user| user.username.as_str()).ok(), Some("ada"));
        assert_eq!(signed_in.principal(), Principal::User("u1".into()));
        assert_eq!(signed_in.principal().room(), None);
    }
}
