//! The two cookies of a sign-in: `bbx_session` (the secret, HttpOnly) and
//! `bbx_csrf` (derived from it, readable by the page's scripts so it can
//! echo it in `X-CSRF-Token`).

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "bbx_session";
/// The CSRF cookie's name.
pub const CSRF_COOKIE: &str = "bbx_csrf";

/// The value of a named cookie in the request, if any.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| Cookie::split_parse(value.to_owned()).filter_map(Result::ok).collect::<Vec<_>>())
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// The CSRF token of a session: a hash of its secret, so the server needs
/// no extra state and a page on another origin, which can read neither
/// cookie, cannot produce it.
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::new().chain_update(b"bytesbox-csrf\0").chain_update(session_token.as_bytes()).finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Compares without an early exit, so timing does not reveal a prefix.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Adds the `Set-Cookie` headers that start a sign-in.
pub fn set_sign_in(headers: &mut HeaderMap, session_token: &str, max_age_secs: i64, secure: bool) {
    let session = Cookie::build((SESSION_COOKIE, session_token.to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_secs));
    let csrf = Cookie::build((CSRF_COOKIE, csrf_token(session_token)))
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age_secs));
    append(headers, &session.build());
    append(headers, &csrf.build());
}

/// Adds the `Set-Cookie` headers that end a sign-in.
pub fn clear_sign_in(headers: &mut HeaderMap, secure: bool) {
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let mut cookie = Cookie::build((name, "")).path("/").secure(secure).build();
        cookie.make_removal();
        append(headers, &cookie);
    }
}

fn append(headers: &mut HeaderMap, cookie: &Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        headers.append(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_static("theme=dark; bbx_session=abc; other=1"));
        assert_eq!(read(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(read(&headers, CSRF_COOKIE), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_and_same_site() {
        let mut headers = HeaderMap::new();
        set_sign_in(&mut headers, "secret", 60, true);
        let values: Vec<&str> = headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
        let session = values.iter().find(|v| v.starts_with("bbx_session=")).expect("session cookie");
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Secure"));
        let csrf = values.iter().find(|v| v.starts_with("bbx_csrf=")).expect("csrf cookie");
        assert!(!csrf.contains("HttpOnly"), "scripts must read it");
        assert!(csrf.contains(&csrf_token("secret")));
    }

    fn set_cookies(headers: &HeaderMap) -> Vec<String> {
        headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }

    #[test]
    fn both_cookies_last_the_session_on_every_path_and_are_secure_only_when_asked() {
        for secure in [true, false] {
            let mut headers = HeaderMap::new();
            set_sign_in(&mut headers, "secret", 3600, secure);
            let values = set_cookies(&headers);
            assert_eq!(values.len(), 2, "{values:?}");
            for value in &values {
                assert!(value.contains("Path=/") && value.contains("Max-Age=3600"), "{value}");
                assert_eq!(value.contains("Secure"), secure, "{value}");
            }
            let csrf = values.iter().find(|v| v.starts_with("bbx_csrf=")).expect("csrf cookie");
            assert!(csrf.contains("SameSite=Strict"), "no other site's request carries it: {csrf}");
        }
    }

    #[test]
    fn signing_out_empties_and_expires_both_cookies() {
        let mut headers = HeaderMap::new();
        clear_sign_in(&mut headers, true);
        let values = set_cookies(&headers);
        let names: Vec<&str> = values.iter().filter_map(|v| v.split('=').next()).collect();
        assert_eq!(names, [SESSION_COOKIE, CSRF_COOKIE]);
        for value in &values {
            assert!(value.contains("=;") && value.contains("Max-Age=0"), "{value}");
            assert!(value.contains("Path=/") && value.contains("Secure"), "the same cookie as set: {value}");
        }
    }

    #[test]
    fn only_the_exact_name_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("xbbx_session=1; bbx_session_old=2"));
        assert_eq!(read(&headers, SESSION_COOKIE), None, "look-alike names are other cookies");
        headers.append(COOKIE, HeaderValue::from_static("junk; bbx_session=abc"));
        assert_eq!(read(&headers, SESSION_COOKIE).as_deref(), Some("abc"), "a second Cookie header counts too");
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert!(same_secret(&csrf_token("a"), &csrf_token("a")));
        assert!(!same_secret(&csrf_token("a"), &csrf_token("b")));
        assert!(!same_secret("abc", "ab"));
    }
}
