//! Each browser of a guest has an identity of its own: the `bbx_guest`
//! cookie, a random id with the server's MAC of it. Guests behind one
//! address (a classroom behind NAT) then do not share one guest's limits;
//! what they hold together is capped per address instead
//! ([`crate::accounts::AccountsConfig::guest_address_runs`] and
//! `guest_address_boxes`), since a client can always drop its cookie and
//! be issued another.
//!
//! The MAC (HMAC-SHA-256 under a key made when the server starts) means
//! the server only ever counts ids it issued: a client cannot pick one
//! (another guest's, or a million distinct ones without asking). A request
//! without a valid cookie counts as its address's cookieless guest (API
//! clients, as before) and is answered with a new cookie.

use std::fmt;
use std::sync::Arc;

use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The cookie's name.
pub const GUEST_COOKIE: &str = "bbx_guest";
/// How long a browser keeps its guest identity.
const GUEST_COOKIE_DAYS: i64 = 30;
/// Bytes of the MAC kept in the cookie (128 bits).
const MAC_BYTES: usize = 16;

/// One browser's guest identity (the id part of its cookie).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuestId(Arc<str>);

impl GuestId {
    /// The id, as the cookie carries it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Issues and checks guest cookies.
pub struct GuestCookies {
    key: [u8; 32],
}

impl fmt::Debug for GuestCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuestCookies { key: <hidden> }")
    }
}

impl GuestCookies {
    /// Cookies under a new random key (issued cookies stay valid while the
    /// server runs; after a restart a browser is simply issued a new one).
    pub fn with_random_key() -> GuestCookies {
        let mut key = [0u8; 32];
        // Two version-4 UUIDs: 244 bits from the operating system's
        // random source.
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        GuestCookies { key }
    }

    fn mac(&self, id: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(b"bbx_guest\0");
        mac.update(id.as_bytes());
        mac
    }

    /// A new identity and the cookie value that carries it.
    pub fn issue(&self) -> (GuestId, String) {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tag = self.mac(&id).finalize().into_bytes();
        let value = format!("{id}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag[..MAC_BYTES]));
        (GuestId(id.into()), value)
    }

    /// The identity a cookie value carries, if this server issued it.
    pub fn verify(&self, value: &str) -> Option<GuestId> {
        let (id, tag) = value.split_once('.')?;
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tag).ok()?;
        if tag.len() != MAC_BYTES {
            return None;
        }
        // Constant-time comparison of the truncated tag.
        self.mac(id).verify_truncated_left(&tag).ok()?;
        Some(GuestId(id.into()))
    }

    /// Adds the `Set-Cookie` header that gives a browser `value`.
    pub fn set(headers: &mut HeaderMap, value: &str, secure: bool) {
        let cookie = Cookie::build((GUEST_COOKIE, value.to_owned()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(secure)
            .path("/")
            .max_age(cookie::time::Duration::days(GUEST_COOKIE_DAYS))
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            headers.append(SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_cookie_carries_its_identity_and_each_is_new() {
        let cookies = GuestCookies::with_random_key();
        let (first, value) = cookies.issue();
        assert_eq!(cookies.verify(&value), Some(first.clone()));
        let (second, _) = cookies.issue();
        assert_ne!(first, second);
        assert_eq!(first.as_str().len(), 32);
    }

    #[test]
    fn a_made_up_changed_or_foreign_cookie_is_no_identity() {
        let cookies = GuestCookies::with_random_key();
        let (_, value) = cookies.issue();
        let (id, tag) = value.split_once('.').unwrap();
        let other_id = format!("{}{}", &id[..31], if id.ends_with('0') { '1' } else { '0' });
        assert_eq!(cookies.verify(&format!("{other_id}.{tag}")), None, "another id under the same tag");
        assert_eq!(cookies.verify(&format!("{id}.{}", &tag[..tag.len() - 2])), None, "a shortened tag");
        assert_eq!(cookies.verify(id), None, "no tag");
        assert_eq!(cookies.verify(""), None);
        assert_eq!(cookies.verify("../../x.yyyy"), None);
        assert_eq!(GuestCookies::with_random_key().verify(&value), None, "another server's key");
    }

    #[test]
    fn the_cookie_is_http_only_and_lax() {
        let mut headers = HeaderMap::new();
        GuestCookies::set(&mut headers, "abc.def", true);
        let set = headers.get(SET_COOKIE).unwrap().to_str().unwrap();
        for part in ["bbx_guest=abc.def", "HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=2592000"] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
    }
}
