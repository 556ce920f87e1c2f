//! Same-origin checks for requests a browser may send on another site's
//! behalf: cookie-authenticated writes and WebSocket upgrades (which
//! browsers do not guard with CORS).

use axum::http::header::{HOST, ORIGIN};
use axum::http::HeaderMap;

/// Whether the request's `Origin` is acceptable: absent (not a browser, or
/// a same-origin GET), the server's own (`Origin`'s host equals `Host`),
/// or listed in `allowed`. The literal `null` origin (sandboxed frames,
/// `file:` pages) is never acceptable.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if allowed.iter().any(|entry| entry.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(host) = headers.get(HOST).and_then(|host| host.to_str().ok()) else { return false };
    let origin_host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    origin_host.is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&'static str>, host: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static(host));
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_static(origin));
        }
        headers
    }

    #[test]
    fn own_origin_and_absent_origin_pass_others_do_not() {
        assert!(origin_allowed(&headers(None, "ide.local:8080"), &[]));
        assert!(origin_allowed(&headers(Some("http://ide.local:8080"), "ide.local:8080"), &[]));
        assert!(origin_allowed(&headers(Some("https://IDE.local:8080"), "ide.local:8080"), &[]));
        assert!(!origin_allowed(&headers(Some("http://evil.example"), "ide.local:8080"), &[]));
        assert!(!origin_allowed(&headers(Some("http://ide.local:8081"), "ide.local:8080"), &[]));
        assert!(!origin_allowed(&headers(Some("null"), "ide.local:8080"), &[]));
        assert!(!origin_allowed(&headers(Some("http://ide.local:8080.evil.example"), "ide.local:8080"), &[]));
    }

    #[test]
    fn listed_origins_pass() {
        let allowed = vec!["https://app.example.com/".to_string()];
        assert!(origin_allowed(&headers(Some("https://app.example.com"), "api.example.com"), &allowed));
        assert!(!origin_allowed(&headers(Some("https://app.example.com.evil"), "api.example.com"), &allowed));
    }
}
