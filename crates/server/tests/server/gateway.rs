//! The Jupyter Kernel Gateway API (`docs/notebooks.md`): a real ipykernel
//! in a box of its own per kernel (native backend, root), reached with an
//! API token through `/api/kernelspecs`, `/api/kernels` and the
//! `channels` WebSocket in Jupyter's JSON format; and the real
//! jupyter-server from PyPI using Bytesbox as its gateway.

use std::time::Duration;

use bytesbox_server::accounts::AccountsConfig;
use bytesbox_testkit::require_prerequisite;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::accounts::sign_in_raw;
use super::notebooks::ipykernel_ready;
use super::{Socket, Stores, TestServer};

/// A new user's API token.
async fn token_of(base: &str, username: &str) -> String {
    let (cookie, csrf) = sign_in_raw(base, username, true).await;
    let created: Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/tokens"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&json!({"name": "jupyter"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["secret"].as_str().unwrap().to_string()
}

/// A request as Jupyter clients make them: `Authorization: token …`, and
/// a JSON body without a content type (jupyter-server sends it so).
async fn call(base: &str, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("authorization", format!("token {token}"));
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn channels(base: &str, token: &str, id: &str) -> Socket {
    let url = format!("{}/api/kernels/{id}/channels", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("token {token}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("the channels WebSocket opens").0
}

/// A Jupyter request message.
fn request(channel: &str, msg_type: &str, msg_id: &str, content: Value) -> Value {
    json!({
        "header": {"msg_id": msg_id, "msg_type": msg_type, "session": "test-session", "username": "tester",
                   "date": "2026-12-06T00:00:00.000000Z", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": content, "channel": channel, "buffers": []
    })
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::Text(message.to_string().into())).await.unwrap();
}

/// Messages answering `msg_id` until both its reply and its `idle`.
async fn answers(socket: &mut Socket, msg_id: &str) -> Vec<Value> {
    let (mut idle, mut replied) = (false, false);
    let mut messages = Vec::new();
    tokio::time::timeout(Duration::from_secs(90), async {
        while !(idle && replied) {
            let Some(Ok(Message::Text(text))) = socket.next().await else { panic!("the socket ended: {messages:#?}") };
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["parent_header"]["msg_id"] != msg_id {
                continue;
            }
            idle |= message["msg_type"] == "status" && message["content"]["execution_state"] == "idle";
            replied |= message["channel"] != "iopub";
            messages.push(message);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no end for {msg_id} in time: {messages:#?}"));
    messages
}

fn of_type<'a>(messages: &'a [Value], msg_type: &str) -> Vec<&'a Value> {
    messages.iter().filter(|m| m["msg_type"] == msg_type).collect()
}

fn accounts_server() -> TestServer {
    TestServer::new().catalog().native().accounts(AccountsConfig::default(), "", Stores::SqliteAndFiles)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kernel_gateway_api_serves_a_tokens_own_kernels() {
    if !ipykernel_ready("the_kernel_gateway_api_serves_a_tokens_own_kernels") {
        return;
    }
    let server = accounts_server().start().await;
    let base = server.base.clone();
    let token = token_of(&base, "ada").await;
    let other = token_of(&base, "bob").await;

    let (status, _) = call(&base, "bbx_not-a-token", "GET", "/api/kernelspecs", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, specs) = call(&base, &token, "GET", "/api/kernelspecs", None).await;
    assert_eq!(status, StatusCode::OK, "{specs}");
    assert_eq!(specs["default"], "python");
    assert_eq!(specs["kernelspecs"]["python"]["spec"]["language"], "python");
    let (status, _) = call(&base, &token, "GET", "/api/kernelspecs/cobol", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let asked = std::time::Instant::now();
    let (status, model) = call(&base, &token, "POST", "/api/kernels", Some(json!({"name": "python", "env": {}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{model}");
    eprintln!("POST /api/kernels to 201, cold (box made too): {:?}", asked.elapsed());
    let id = model["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "jupyter-server's routes want a UUID: {id}");
    assert_eq!(model["name"], "python");
    let (_, listed) = call(&base, &token, "GET", "/api/kernels", None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    // Another caller sees nothing of it.
    let (_, theirs) = call(&base, &other, "GET", "/api/kernels", None).await;
    assert_eq!(theirs, json!([]));
    for (method, path) in [("GET", format!("/api/kernels/{id}")), ("DELETE", format!("/api/kernels/{id}"))] {
        let (status, _) = call(&base, &other, method, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path} by another caller");
    }

    let mut socket = channels(&base, &token, &id).await;
    send(&mut socket, request("shell", "kernel_info_request", "info-1", json!({}))).await;
    let info = answers(&mut socket, "info-1").await;
    assert_eq!(of_type(&info, "kernel_info_reply")[0]["content"]["language_info"]["name"], "python");

    send(
        &mut socket,
        request("shell", "execute_request", "run-1", json!({"code": "print('hi')\n6*7", "silent": false})),
    )
    .await;
    let ran = answers(&mut socket, "run-1").await;
    assert_eq!(of_type(&ran, "stream")[0]["content"]["text"], "hi\n", "{ran:#?}");
    let result = of_type(&ran, "execute_result")[0];
    assert_eq!(result["content"]["data"]["text/plain"], "42");
    // Answers name the client's own request header as their parent.
    assert_eq!(result["parent_header"]["session"], "test-session");
    assert_eq!(result["channel"], "iopub");
    assert!(result["header"]["msg_id"].is_string() && result["header"]["date"].is_string(), "{result}");
    assert_eq!(of_type(&ran, "execute_reply")[0]["content"]["status"], "ok");

    // Interrupt over REST ends a running cell with KeyboardInterrupt.
    send(
        &mut socket,
        request("shell", "execute_request", "spin", json!({"code": "import time\nwhile True: time.sleep(0.05)"})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _) = call(&base, &token, "POST", &format!("/api/kernels/{id}/interrupt"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let spun = answers(&mut socket, "spin").await;
    assert_eq!(of_type(&spun, "execute_reply")[0]["content"]["ename"], "KeyboardInterrupt", "{spun:#?}");

    // A restart forgets the kernel's state.
    send(&mut socket, request("shell", "execute_request", "set", json!({"code": "x = 5"}))).await;
    answers(&mut socket, "set").await;
    let (status, restarted) = call(&base, &token, "POST", &format!("/api/kernels/{id}/restart"), None).await;
    assert_eq!(status, StatusCode::OK, "{restarted}");
    assert_eq!(restarted["id"], id.as_str());
    send(&mut socket, request("shell", "execute_request", "get", json!({"code": "x"}))).await;
    let got = answers(&mut socket, "get").await;
    assert_eq!(of_type(&got, "execute_reply")[0]["content"]["ename"], "NameError", "{got:#?}");

    // A content that does not fit its type gets an error reply; a message
    // that is not Jupyter's ends the connection with the reason.
    send(&mut socket, request("shell", "execute_request", "odd", json!({"code": 7}))).await;
    let odd = loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else { panic!("no reply to a bad request") };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["parent_header"]["msg_id"] == "odd" {
            break message;
        }
    };
    assert_eq!(odd["msg_type"], "execute_reply");
    assert_eq!(odd["content"]["status"], "error");
    socket.send(Message::Text("{\"channel\": \"iopub\"}".into())).await.unwrap();
    let closed = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("no close frame: {other:?}"),
        }
    };
    let closed = closed.expect("a close frame with a reason");
    assert_eq!(u16::from(closed.code), 1007);
    assert!(closed.reason.contains("header"), "{}", closed.reason);

    let (status, _) = call(&base, &token, "DELETE", &format!("/api/kernels/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&base, &token, "GET", &format!("/api/kernels/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.wait_for_boxes(0, "the kernel's box destroyed with it").await;
    server.stop().await;
}

/// jupyter-server from PyPI (`scripts/lib.sh` installs it in a venv and
/// names its command in `BYTESBOX_TEST_JUPYTER_SERVER`).
fn jupyter_server(test: &str) -> Option<String> {
    let command = std::env::var("BYTESBOX_TEST_JUPYTER_SERVER").ok();
    let missing = match &command {
        Some(path) if std::path::Path::new(path).exists() => None,
        Some(path) => Some(format!("{path} does not exist")),
        None => Some("BYTESBOX_TEST_JUPYTER_SERVER is not set".to_string()),
    };
    if require_prerequisite(test, "jupyter-server from PyPI (scripts/lib.sh ensure_jupyter_server)", missing) {
        command
    } else {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jupyter_server_gets_its_kernels_from_bytesbox_as_its_gateway() {
    let test = "jupyter_server_gets_its_kernels_from_bytesbox_as_its_gateway";
    if !ipykernel_ready(test) {
        return;
    }
    let Some(command) = jupyter_server(test) else { return };
    let server = accounts_server().start().await;
    let token = token_of(&server.base, "grace").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let home = tempfile::tempdir().unwrap();
    let jupyter_token = "jupyter-side-token";
    let mut jupyter = tokio::process::Command::new(&command)
        .args([
            "--no-browser",
            // The tests run as root (the native backend needs it).
            "--allow-root",
            "--ip=127.0.0.1",
            &format!("--port={port}"),
            &format!("--IdentityProvider.token={jupyter_token}"),
            &format!("--ServerApp.root_dir={}", home.path().display()),
            &format!("--GatewayClient.url={}", server.base),
            &format!("--GatewayClient.auth_token={token}"),
            "--GatewayClient.request_timeout=120",
        ])
        .env("HOME", home.path())
        .env("JUPYTER_RUNTIME_DIR", home.path().join("runtime"))
        .env("JUPYTER_CONFIG_DIR", home.path().join("config"))
        .env("JUPYTER_DATA_DIR", home.path().join("data"))
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(home.path().join("jupyter.log")).unwrap())
        .spawn()
        .expect("jupyter-server starts");
    let jupyter_base = format!("http://127.0.0.1:{port}");
    let log = || std::fs::read_to_string(home.path().join("jupyter.log")).unwrap_or_default();
    let started = std::time::Instant::now();
    loop {
        let url = format!("{jupyter_base}/api/status?token={jupyter_token}");
        if reqwest::get(url).await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        let exited = jupyter.try_wait().unwrap();
        assert!(
            exited.is_none() && started.elapsed() < Duration::from_secs(60),
            "jupyter-server does not answer ({exited:?}):\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Its kernelspecs are Bytesbox's.
    let (status, specs) = call(&jupyter_base, jupyter_token, "GET", "/api/kernelspecs", None).await;
    assert_eq!(status, StatusCode::OK, "{specs}\n{}", log());
    assert!(specs["kernelspecs"]["python"].is_object(), "{specs}");
    // A kernel started through it is a box of Bytesbox.
    let (status, model) =
        call(&jupyter_base, jupyter_token, "POST", "/api/kernels", Some(json!({"name": "python"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{model}\n{}", log());
    let id = model["id"].as_str().unwrap().to_string();
    let (_, ours) = call(&server.base, &token, "GET", "/api/kernels", None).await;
    assert_eq!(ours[0]["id"], id.as_str(), "{ours}");
    assert_eq!(server.backend.list().await.len(), 1, "one box for the kernel");

    // Code sent through jupyter-server runs in the box.
    let mut socket = channels(&jupyter_base, jupyter_token, &id).await;
    let code = "import os\nprint(os.getcwd(), os.getuid() != 0)";
    send(&mut socket, request("shell", "execute_request", "through-jupyter", json!({"code": code}))).await;
    let ran = answers(&mut socket, "through-jupyter").await;
    let printed =
        of_type(&ran, "stream").iter().map(|m| m["content"]["text"].as_str().unwrap_or("")).collect::<String>();
    assert_eq!(printed, "/workspace True\n", "{ran:#?}\n{}", log());

    let (status, _) = call(&jupyter_base, jupyter_token, "DELETE", &format!("/api/kernels/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{}", log());
    server.wait_for_boxes(0, "the kernel's box destroyed through jupyter-server").await;
    let _ = jupyter.kill().await;
    server.stop().await;
}
