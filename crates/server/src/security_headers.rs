//! Browser hardening headers on every response (`docs/security.md`).
//!
//! - `X-Content-Type-Options: nosniff`: a project file or run output served
//!   as `application/octet-stream` or JSON is never reinterpreted as HTML
//!   or script.
//! - Frame protection, `X-Frame-Options: DENY` and CSP `frame-ancestors
//!   'none'`: no other site can frame the IDE and steer clicks (the first
//!   for browsers without CSP level 2).
//! - `Referrer-Policy: no-referrer`: links out of the IDE do not carry its
//!   URLs (project ids) to other sites.
//! - A Content-Security-Policy: API responses are data and may do nothing
//!   when opened (`default-src 'none'; sandbox`); every other path is the
//!   IDE, which loads its own scripts only, and connects (HTTP and
//!   WebSocket, which `'self'` covers) to its own origin only. Styles may
//!   be inline because the editor (CodeMirror) and the terminal (xterm.js)
//!   inject theirs at run time; images may be `data:` (the favicon).
//!
//! A handler that sets one of these headers itself keeps its value.

use axum::extract::Request;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The policy of the IDE's pages and assets.
pub const IDE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy of API responses: nothing runs, nothing loads, no framing.
pub const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// Middleware adding the headers to every response.
pub async fn add(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let policy = if api { API_POLICY } else { IDE_POLICY };
    let wanted: [(HeaderName, &'static str); 4] = [
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (X_FRAME_OPTIONS, "DENY"),
        (REFERRER_POLICY, "no-referrer"),
        (CONTENT_SECURITY_POLICY, policy),
    ];
    for (name, value) in wanted {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;

    /// The headers of `GET path`, over a real socket.
    async fn headers_of(router: Router, path: &str) -> reqwest::header::HeaderMap {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let response = reqwest::get(format!("http://{address}{path}")).await.expect("response");
        server.abort();
        response.headers().clone()
    }

    fn router() -> Router {
        Router::new()
            .route("/api/v1/runtimes", get(|| async { "[]" }))
            .route("/api/v1/own", get(|| async { ([(CONTENT_SECURITY_POLICY, "sandbox")], "x") }))
            .route("/", get(|| async { "page" }))
            .layer(axum::middleware::from_fn(add))
    }

    #[tokio::test]
    async fn every_response_gets_the_headers_and_the_api_a_stricter_policy() {
        for path in ["/", "/api/v1/runtimes", "/nowhere"] {
            let headers = headers_of(router(), path).await;
            assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert_eq!(headers[X_FRAME_OPTIONS], "DENY", "{path}");
            assert_eq!(headers[REFERRER_POLICY], "no-referrer", "{path}");
            let policy = headers[CONTENT_SECURITY_POLICY].to_str().expect("ascii");
            assert!(policy.contains("frame-ancestors 'none'"), "{path}: {policy}");
        }
        assert_eq!(headers_of(router(), "/").await[CONTENT_SECURITY_POLICY], IDE_POLICY);
        assert_eq!(headers_of(router(), "/api/v1/runtimes").await[CONTENT_SECURITY_POLICY], API_POLICY);
        assert_eq!(headers_of(router(), "/api/v1/own").await[CONTENT_SECURITY_POLICY], "sandbox");
    }

    #[test]
    fn the_ide_may_talk_only_to_its_own_origin_and_run_only_its_own_scripts() {
        let directives: Vec<&str> = IDE_POLICY.split(';').map(str::trim).collect();
        assert!(directives.contains(&"script-src 'self'"));
        assert!(directives.contains(&"connect-src 'self'"));
        assert!(directives.contains(&"object-src 'none'"));
        assert!(!IDE_POLICY.contains("unsafe-eval"));
    }
}
