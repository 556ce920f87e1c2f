//! The web IDE's assets: the Vite build output (`web/dist`), served from a
//! directory at `/` (see `docs/web.md` for why a directory and not an
//! embedded copy).
//!
//! Routes the API does not claim fall through to here, except under
//! `/api/`, which stays the API's (404 `not_found` as JSON). Files come from the
//! directory (with a `.gz` sibling sent to browsers that accept gzip); any
//! other path gets `index.html`, so a reload on a client-side path works.
//! Hashed files under `assets/` are cached for good, `index.html` never.
//! When the directory holds no `index.html`, `/` is a plain page that says
//! how to build the IDE, so the API works without Node.js.

use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// Where the IDE's assets are, if anywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebAssets {
    /// A built `web/dist` directory.
    Directory(PathBuf),
    /// Nothing built: `/` explains how to build it.
    NotBuilt(PathBuf),
}

impl WebAssets {
    /// Looks at `dir`: built when it holds an `index.html`.
    pub fn find(dir: &Path) -> WebAssets {
        match dir.join("index.html").is_file() {
            true => WebAssets::Directory(dir.to_path_buf()),
            false => WebAssets::NotBuilt(dir.to_path_buf()),
        }
    }
}

/// Adds the IDE to `router` as the fallback for every path it does not route,
/// with the security headers (`crate::security_headers`) on every response:
/// the fallback is added after `crate::routes::router` laid its own layers.
pub fn with_web_ui(router: Router, assets: &WebAssets) -> Router {
    match assets {
        WebAssets::Directory(dir) => {
            let index = ServeFile::new(dir.join("index.html")).precompressed_gzip();
            let files = ServeDir::new(dir).precompressed_gzip().append_index_html_on_directories(true).fallback(index);
            router
                .fallback(move |request: Request| {
                    let files = files.clone();
                    async move {
                        if is_api(&request) {
                            return crate::api_error::no_such_route(request).await.into_response();
                        }
                        files.oneshot(request).await.into_response()
                    }
                })
                .layer(middleware::from_fn(cache_headers))
                .layer(middleware::from_fn(crate::security_headers::add))
        }
        WebAssets::NotBuilt(dir) => {
            let page = not_built_page(dir);
            router
                .fallback(move |request: Request| {
                    let page = page.clone();
                    async move {
                        match request.uri().path() {
                            "/" | "/index.html" => (StatusCode::OK, Html(page)).into_response(),
                            _ if is_api(&request) => crate::api_error::no_such_route(request).await.into_response(),
                            _ => StatusCode::NOT_FOUND.into_response(),
                        }
                    }
                })
                .layer(middleware::from_fn(crate::security_headers::add))
        }
    }
}

/// A path of the API's (`/api` and below): one the API does not route is
/// its 404, never the IDE's page.
fn is_api(request: &Request) -> bool {
    let path = request.uri().path();
    path == "/api" || path.starts_with("/api/")
}

/// Hashed build outputs never change; the page that names them always may.
async fn cache_headers(request: Request, next: Next) -> Response {
    let immutable = request.uri().path().starts_with("/assets/");
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if api || response.headers().contains_key(header::CACHE_CONTROL) {
        return response;
    }
    let value = match (immutable, response.status().is_success()) {
        (true, true) => "public, max-age=31536000, immutable",
        _ => "no-cache",
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

fn not_built_page(dir: &Path) -> String {
    let dir = html_escape(&dir.display().to_string());
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bytesbox</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem\">\
         <h1>Bytesbox is running</h1>\
         <p>The web IDE's assets are not built, so there is no IDE to show here. \
         The server looked for <code>index.html</code> in <code>{dir}</code>.</p>\
         <p>Build them with <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>, or start the \
         server with <code>scripts/serve</code>, which does that first; or point <code>--web-dir</code> \
         at a built copy.</p>\
         <p>The APIs work without it: WebSocket at <code>/api/v1/ws</code>, HTTP at \
         <code>/api/v1/execute</code> and <code>/api/v1/runtimes</code>.</p></body></html>"
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One request over a real socket: (status line, headers, body).
    async fn get(router: Router, path: &str, extra: &str) -> (String, String, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let mut stream = tokio::net::TcpStream::connect(address).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        server.abort();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let (status, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
        (status.to_string(), headers.to_lowercase(), raw[split + 4..].to_vec())
    }

    fn api() -> Router {
        Router::new().route("/healthz", axum::routing::get(|| async { "ok" }))
    }

    fn built_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("assets")).expect("mkdir");
        std::fs::write(dir.path().join("index.html"), "<!doctype html><title>IDE</title>").expect("write");
        std::fs::write(dir.path().join("assets/app-1234.js"), "console.log(1)").expect("write");
        dir
    }

    #[tokio::test]
    async fn built_assets_are_served_with_an_index_fallback() {
        let dir = built_dir();
        let assets = WebAssets::find(dir.path());
        assert_eq!(assets, WebAssets::Directory(dir.path().to_path_buf()));
        let (status, headers, body) = get(with_web_ui(api(), &assets), "/", "").await;
        assert!(status.contains("200"), "{status}");
        assert_eq!(body, b"<!doctype html><title>IDE</title>");
        assert!(headers.contains("cache-control: no-cache"), "{headers}");
        let (status, headers, body) = get(with_web_ui(api(), &assets), "/assets/app-1234.js", "").await;
        assert!(status.contains("200"), "{status}");
        assert_eq!(body, b"console.log(1)");
        assert!(headers.contains("immutable"), "{headers}");
        assert!(headers.contains("javascript"), "{headers}");
        // A client-side path gets the page (a project's address, `/p/<id>`,
        // reloaded or bookmarked), never cached; the API keeps its routes.
        for path in ["/projects/p1", "/p/4f2c9a", "/p/local-1733370000000-ab12"] {
            let (status, headers, body) = get(with_web_ui(api(), &assets), path, "").await;
            assert!(status.contains("200"), "{path}: {status}");
            assert!(headers.contains("cache-control: no-cache"), "{path}: {headers}");
            assert_eq!(body, b"<!doctype html><title>IDE</title>", "{path}");
        }
        let (_, _, body) = get(with_web_ui(api(), &assets), "/healthz", "").await;
        assert_eq!(body, b"ok");
    }

    #[tokio::test]
    async fn unknown_api_paths_are_json_404s_with_or_without_a_build() {
        let built = built_dir();
        let not_built = tempfile::tempdir().expect("tempdir");
        for dir in [built.path(), not_built.path()] {
            let router = with_web_ui(api(), &WebAssets::find(dir));
            for path in ["/api/v1/nope", "/api/v3/execute", "/api", "/api/v1/projects/x/unknown"] {
                let (status, headers, body) = get(router.clone(), path, "").await;
                assert!(status.contains("404"), "{path}: {status}");
                assert!(headers.contains("content-type: application/json"), "{path}: {headers}");
                let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
                assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
                assert!(body["error"]["message"].as_str().expect("message").contains(path), "{body}");
            }
            // Only under /api/: an "api" elsewhere in a path is the IDE's.
            let (status, _, _) = get(router, "/apiary", "").await;
            assert_eq!(status.contains("200"), dir == built.path(), "{status}");
        }
    }

    #[tokio::test]
    async fn the_ide_its_assets_and_the_api_carry_the_security_headers() {
        let dir = built_dir();
        let router = with_web_ui(api(), &WebAssets::find(dir.path()));
        for path in ["/", "/assets/app-1234.js", "/projects/p1", "/healthz"] {
            let (_, headers, _) = get(router.clone(), path, "").await;
            assert!(headers.contains("x-content-type-options: nosniff"), "{path}: {headers}");
            assert!(headers.contains("x-frame-options: deny"), "{path}: {headers}");
            assert!(headers.contains("referrer-policy: no-referrer"), "{path}: {headers}");
            let policy = crate::security_headers::IDE_POLICY.to_lowercase();
            assert!(headers.contains(&format!("content-security-policy: {policy}")), "{path}: {headers}");
        }
        let not_built = tempfile::tempdir().expect("tempdir");
        let (_, headers, _) = get(with_web_ui(api(), &WebAssets::find(not_built.path())), "/", "").await;
        assert!(headers.contains("frame-ancestors 'none'"), "{headers}");
    }

    #[tokio::test]
    async fn gzip_siblings_go_to_browsers_that_accept_them() {
        let dir = built_dir();
        std::fs::write(dir.path().join("assets/app-1234.js.gz"), b"\x1f\x8bfake").expect("write");
        let router = with_web_ui(api(), &WebAssets::find(dir.path()));
        let (_, headers, body) = get(router.clone(), "/assets/app-1234.js", "Accept-Encoding: gzip\r\n").await;
        assert!(headers.contains("content-encoding: gzip"), "{headers}");
        assert_eq!(body, b"\x1f\x8bfake");
        let (_, headers, body) = get(router, "/assets/app-1234.js", "").await;
        assert!(!headers.contains("content-encoding"), "{headers}");
        assert_eq!(body, b"console.log(1)");
    }

    #[tokio::test]
    async fn paths_outside_the_directory_are_not_served() {
        let dir = built_dir();
        let outside = dir.path().parent().expect("parent").join(format!("bytesbox-web-secret-{}", std::process::id()));
        std::fs::write(&outside, "secret").expect("write");
        let name = outside.file_name().expect("name").to_string_lossy().to_string();
        let router = with_web_ui(api(), &WebAssets::find(dir.path()));
        for path in [format!("/../{name}"), format!("/%2e%2e/{name}"), format!("/assets/..%2f..%2f{name}")] {
            let (_, _, body) = get(router.clone(), &path, "").await;
            assert_ne!(body, b"secret", "{path}");
        }
        std::fs::remove_file(outside).expect("cleanup");
    }

    #[tokio::test]
    async fn without_a_build_the_root_says_how_to_make_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let assets = WebAssets::find(dir.path());
        assert!(matches!(assets, WebAssets::NotBuilt(_)));
        let (status, headers, body) = get(with_web_ui(api(), &assets), "/", "").await;
        assert!(status.contains("200"), "{status}");
        assert!(headers.contains("text/html"), "{headers}");
        let body = String::from_utf8(body).expect("utf-8");
        assert!(body.contains("not built") && body.contains("npm run build"), "{body}");
        let (status, _, _) = get(with_web_ui(api(), &assets), "/assets/app.js", "").await;
        assert!(status.contains("404"), "{status}");
        let (_, _, body) = get(with_web_ui(api(), &assets), "/healthz", "").await;
        assert_eq!(body, b"ok");
    }
}
