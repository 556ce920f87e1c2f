//! The authorization matrix, generated from the route table: for every
//! route that needs a user or an administrator, user B (and a guest)
//! aims at user A's objects and must be refused without changing
//! anything, while A's own request succeeds. A route without a sample
//! here fails the test, so a new route cannot escape the matrix. The
//! WebSocket messages get the same treatment at the end.

use super::accounts::{sign_in_raw, ws_with, Browser};
use super::*;

use bytesbox_server::accounts::AccountsConfig;
use bytesbox_server::routes::{route_table, Access};
use reqwest::{Method, StatusCode};

/// A's objects, by the route parameter that names them.
struct Owned {
    user_id: String,
    token_id: String,
    project_id: String,
    file_path: String,
    session_id: String,
    /// A kernel id of the Kernel Gateway API. No kernel starts on the host
    /// double, so it names none: B's requests must look exactly like A's
    /// own then (404), and `gateway.rs` shows both sides on the native
    /// backend with a live kernel.
    kernel_id: String,
}

enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>),
}

/// The concrete path of `pattern` aimed at A's objects.
fn concrete(pattern: &str, owned: &Owned) -> String {
    let mut path = String::new();
    for (i, segment) in pattern.split('/').enumerate() {
        if i > 0 {
            path.push('/');
        }
        let value = match segment {
            "{id}" if pattern.starts_with("/api/v1/auth/tokens/") => owned.token_id.as_str(),
            "{id}" if pattern.starts_with("/api/v1/projects/") => owned.project_id.as_str(),
            "{id}" if pattern.starts_with("/api/v1/admin/users/") => owned.user_id.as_str(),
            "{id}" if pattern.starts_with("/api/v1/admin/sessions/") => owned.session_id.as_str(),
            "{id}" if pattern.starts_with("/api/kernels/") => owned.kernel_id.as_str(),
            "{name}" if pattern.starts_with("/api/kernelspecs/") => "python",
            // The test server's node (`NodeConfig`'s default id).
            "{id}" if pattern.starts_with("/api/v1/admin/nodes/") => "local",
            "{*path}" | "{path}" => owned.file_path.as_str(),
            other if other.starts_with('{') => panic!("route {pattern}: the matrix does not know parameter {other}"),
            other => other,
        };
        path.push_str(value);
    }
    path
}

/// A request that is valid for A: the body a route needs and its query,
/// where `{pv}` and `{fv}` stand for the current project and file versions.
fn sample(method: &Method, pattern: &str) -> (Body, &'static str) {
    match (method.as_str(), pattern) {
        ("GET", _) => (Body::None, ""),
        ("DELETE", "/api/v1/projects/{id}") => (Body::None, "?version={pv}"),
        ("DELETE", "/api/v1/projects/{id}/files/{*path}") => (Body::None, "?version={fv}"),
        ("DELETE", _) => (Body::None, ""),
        ("POST", "/api/v1/auth/tokens") => (Body::Json(json!({"name": "matrix"})), ""),
        ("PATCH", "/api/v1/admin/users/{id}") => (Body::Json(json!({"plan": "large"})), ""),
        ("POST", "/api/v1/projects") => (Body::Json(json!({"name": "b's project"})), ""),
        ("PUT", "/api/v1/projects/{id}") => (
            Body::Json(
                json!({"version": "{pv}", "name": "renamed", "language": "python", "entry_file": "src/main.py"}),
            ),
            "",
        ),
        ("POST", "/api/v1/projects/{id}/duplicate") => (Body::Json(json!({"name": "copy"})), ""),
        ("PUT", "/api/v1/projects/{id}/files/{*path}") => {
            (Body::Bytes(b"print('overwritten')\n".to_vec()), "?version={fv}")
        }
        ("POST", "/api/v1/projects/import") => (Body::Bytes(Vec::new()), "?name=imported"),
        ("POST", "/api/kernels") => (Body::Json(json!({"name": "python"})), ""),
        ("POST", "/api/kernels/{id}/interrupt" | "/api/kernels/{id}/restart") => (Body::None, ""),
        ("POST", "/api/v1/admin/nodes/{id}/drain") => (Body::None, ""),
        _ => panic!("no authorization sample for {method} {pattern}: add one to crates/server/tests/server/authz.rs"),
    }
}

/// A's current project and file versions.
async fn versions(alice: &Browser, owned: &Owned) -> (i64, i64) {
    let (_, project) = alice.call(Method::GET, &format!("/api/v1/projects/{}", owned.project_id), None).await;
    let project_version = project["project"]["version"].as_i64().unwrap_or(1);
    let file_version = project["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["path"] == owned.file_path.as_str()))
        .and_then(|f| f["version"].as_i64())
        .unwrap_or(1);
    (project_version, file_version)
}

/// `sample` with A's current versions filled in.
async fn filled(alice: &Browser, owned: &Owned, method: &Method, pattern: &str) -> (Body, String) {
    let (body, query) = sample(method, pattern);
    let (pv, fv) = versions(alice, owned).await;
    let query = query.replace("{pv}", &pv.to_string()).replace("{fv}", &fv.to_string());
    let body = match body {
        Body::Json(mut value) => {
            if value.get("version").is_some() {
                value["version"] = json!(pv);
            }
            Body::Json(value)
        }
        other => other,
    };
    (body, query)
}

async fn send_as(browser: &Browser, method: &Method, path: &str, body: Body) -> (StatusCode, String) {
    let mut request = browser.request(method.clone(), path);
    request = match body {
        Body::None => request,
        Body::Json(value) => request.json(&value),
        Body::Bytes(bytes) => request.body(bytes),
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

/// Everything of A's that B might change, as A sees it.
async fn snapshot(alice: &Browser, owned: &Owned) -> Value {
    let (_, tokens) = alice.call(Method::GET, "/api/v1/auth/tokens", None).await;
    let (_, projects) = alice.call(Method::GET, "/api/v1/projects", None).await;
    let (_, project) = alice.call(Method::GET, &format!("/api/v1/projects/{}", owned.project_id), None).await;
    let file = alice
        .request(Method::GET, &format!("/api/v1/projects/{}/files/{}", owned.project_id, owned.file_path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (_, me) = alice.call(Method::GET, "/api/v1/auth/me", None).await;
    json!({"tokens": tokens, "projects": projects, "project": project, "file": file, "plan": me["user"]["plan"]})
}

pub(super) async fn no_user_reaches_another_users_objects_on_any_route(stores: Stores) {
    let server = TestServer::new().catalog().accounts(AccountsConfig::default(), "", stores).start().await;
    let alice = Browser::sign_up(&server.base, "alice").await;
    let bob = Browser::sign_up(&server.base, "bob").await;
    let guest = Browser::new(&server.base);

    // A's objects: a token, a project with a file, a run, a live session.
    let (_, token) = alice.call(Method::POST, "/api/v1/auth/tokens", Some(json!({"name": "a"}))).await;
    let files = json!([{"path": "src/main.py", "content": "print('alice')\n"}]);
    let (status, created) = alice
        .call(
            Method::POST,
            "/api/v1/projects",
            Some(json!({"name": "secret", "language": "python",
            "entry_file": "src/main.py", "files": files})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (cookie, _) = sign_in_raw(&server.base, "alice", false).await;
    let (_socket, hello) = ws_with(&server.url, &[("cookie", &cookie)]).await.unwrap();
    let (_, me) = alice.call(Method::GET, "/api/v1/auth/me", None).await;
    let owned = Owned {
        user_id: me["user"]["id"].as_str().unwrap().to_string(),
        token_id: token["token"]["id"].as_str().unwrap().to_string(),
        project_id: created["project"]["id"].as_str().unwrap().to_string(),
        file_path: "src/main.py".to_string(),
        session_id: hello["session"].as_str().unwrap().to_string(),
        kernel_id: uuid::Uuid::new_v4().to_string(),
    };
    let before = snapshot(&alice, &owned).await;

    let mut checked = Vec::new();
    for route in route_table() {
        if !matches!(route.access, Access::User | Access::Admin) {
            continue;
        }
        let path = concrete(route.path, &owned);
        for (who, browser) in [("bob", &bob), ("a guest", &guest)] {
            let (body, query) = filled(&alice, &owned, &route.method, route.path).await;
            let full = format!("{path}{query}");
            let (status, text) = send_as(browser, &route.method, &full, body).await;
            let refused = match (route.access, who) {
                (Access::Admin, _) | (_, "a guest") => status == StatusCode::FORBIDDEN,
                // Creating one's own project or token is fine; anything
                // aimed at A's ids must look like a missing object.
                _ if !route.path.contains('{') => status.is_success() || status.is_client_error(),
                // The kernelspecs are the server's catalog, every user's.
                _ if route.path.starts_with("/api/kernelspecs/") => status.is_success(),
                _ => status == StatusCode::NOT_FOUND,
            };
            assert!(refused, "{who}: {} {full} answered {status}: {text}", route.method);
        }
        checked.push(format!("{} {}", route.method, route.path));
    }
    assert_eq!(snapshot(&alice, &owned).await, before, "nothing of A's changed");
    assert!(checked.len() >= 10, "{checked:?}");

    // B cannot run A's saved project, nor touch A's runs over the socket.
    let (bob_cookie, _) = sign_in_raw(&server.base, "bob", false).await;
    let (mut socket, _) = ws_with(&server.url, &[("cookie", &bob_cookie)]).await.unwrap();
    send(&mut socket, json!({"type": "run", "id": "steal", "project": owned.project_id})).await;
    let frames = until_done(&mut socket, "steal").await;
    assert_eq!(frames.last().unwrap()["code"], "not_found", "{frames:?}");
    let execute = json!({"project": owned.project_id});
    let (status, _) = bob.call(Method::POST, "/api/v1/execute", Some(execute)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Messages naming a run of another session are unknown here.
    for message in [
        json!({"type": "stdin", "id": "a-run", "data": "x"}),
        json!({"type": "eof", "id": "a-run"}),
        json!({"type": "resize", "id": "a-run", "rows": 10, "cols": 10}),
        json!({"type": "signal", "id": "a-run", "signal": "SIGINT"}),
        json!({"type": "kill", "id": "a-run"}),
    ] {
        send(&mut socket, message.clone()).await;
        let reply = next(&mut socket).await;
        assert_eq!(reply["code"], "unknown_run", "{message}: {reply}");
    }

    // A's own requests succeed (so B's refusals above were not just bad
    // samples); deletions last, a project's files before the project.
    let mut routes: Vec<_> = route_table().into_iter().filter(|r| r.access == Access::User).collect();
    routes.sort_by_key(|r| (r.method == Method::DELETE, std::cmp::Reverse(r.path.len())));
    for route in routes {
        let path = concrete(route.path, &owned);
        let (body, query) = filled(&alice, &owned, &route.method, route.path).await;
        let (status, text) = send_as(&alice, &route.method, &format!("{path}{query}"), body).await;
        let expected_failure = match route.path {
            // An empty zip is refused.
            "/api/v1/projects/import" => status == StatusCode::BAD_REQUEST,
            // The host double cannot run kernels (`unsupported`), so A's
            // kernel id names none (see `Owned::kernel_id`).
            "/api/kernels" => route.method == Method::POST && status == StatusCode::BAD_REQUEST,
            path if path.starts_with("/api/kernels/") => status == StatusCode::NOT_FOUND,
            _ => false,
        };
        assert!(
            status.is_success() || expected_failure,
            "A's own {} {path}{query} answered {status}: {text}",
            route.method
        );
    }
    server.stop().await;
}
