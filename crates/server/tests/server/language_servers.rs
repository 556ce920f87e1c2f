//! Language servers over the WebSocket (`docs/language-servers.md`): a
//! real pylsp in the session's native box (root) started with the
//! project's files, spoken to in `lsp_message` frames (initialize, a
//! diagnostic, a completion from another file of the project), stopped,
//! capped per session, culled when idle, and gone with the session.

use std::time::Duration;

use bytesbox_testkit::{require_prerequisite, require_root};
use serde_json::{json, Value};

use super::{connect, next, send, Socket, TestServer};

fn pylsp_ready(test: &str) -> bool {
    require_root(test) && pylsp_installed(test)
}

/// Whether Debian's pylsp is installed (a panic in CI when not).
pub(crate) fn pylsp_installed(test: &str) -> bool {
    let found =
        std::process::Command::new("pylsp").arg("--version").output().map_err(|e| e.to_string()).and_then(|out| {
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        });
    require_prerequisite(test, "Debian's python3-pylsp (scripts/lib.sh installs it)", found.err())
}

/// Frames about server `id` until one satisfies `last` (included),
/// answering the server's own requests as a client must.
async fn frames_until(socket: &mut Socket, id: &str, mut last: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let frame = next(socket).await;
            if frame["id"] != id || !frame["type"].as_str().is_some_and(|t| t.starts_with("lsp_")) {
                continue;
            }
            let message = &frame["message"];
            if message.get("method").is_some() && message.get("id").is_some() {
                let answer = json!({"jsonrpc": "2.0", "id": message["id"], "result": null});
                send(socket, json!({"type": "lsp_message", "id": id, "message": answer})).await;
            }
            let done = last(&frame);
            frames.push(frame);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("server {id}: no end in time: {frames:#?}"));
    frames
}

async fn request(socket: &mut Socket, id: &str, request: u64, method: &str, params: Value) -> Value {
    let message = json!({"jsonrpc": "2.0", "id": request, "method": method, "params": params});
    send(socket, json!({"type": "lsp_message", "id": id, "message": message})).await;
    let frames = frames_until(socket, id, |f| {
        f["type"] == "lsp_exited"
            || f["type"] == "lsp_error"
            || (f["message"]["id"] == request && f["message"].get("method").is_none())
    })
    .await;
    let last = frames.last().unwrap();
    assert_eq!(last["type"], "lsp_message", "{frames:#?}");
    last["message"]["result"].clone()
}

async fn notify(socket: &mut Socket, id: &str, method: &str, params: Value) {
    let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
    send(socket, json!({"type": "lsp_message", "id": id, "message": message})).await;
}

/// Starts server `id` of `language` with `files` and waits for `lsp_ready`.
async fn start(socket: &mut Socket, id: &str, language: &str, files: Value) -> Value {
    send(socket, json!({"type": "lsp_start", "id": id, "language": language, "files": files})).await;
    let frames = frames_until(socket, id, |f| f["type"] == "lsp_ready" || f["type"] == "lsp_error").await;
    let last = frames.last().unwrap().clone();
    assert_eq!(last["type"], "lsp_ready", "{frames:#?}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_language_server_diagnoses_and_completes_over_the_websocket() {
    if !pylsp_ready("a_python_language_server_diagnoses_and_completes_over_the_websocket") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let (mut socket, hello) = connect(&server.url).await;
    let main = "import shapes\nprint(undefined_name)\nshapes.are\n";
    let files = json!([
        {"path": "main.py", "content": main},
        {"path": "shapes.py", "content": "def area(width, height):\n    return width * height\n"},
    ]);
    let asked = std::time::Instant::now();
    let ready = start(&mut socket, "py", "python", files).await;
    eprintln!("lsp_start to lsp_ready, box made too: {:?}", asked.elapsed());
    assert_eq!((ready["language"].as_str(), ready["language_id"].as_str()), (Some("python"), Some("python")));
    assert_eq!(ready["root_uri"], "file:///workspace");
    let root = ready["root_uri"].as_str().unwrap().to_string();
    let init = json!({"processId": null, "rootUri": root, "capabilities": {}, "initializationOptions": ready["initialization_options"]});
    let result = request(&mut socket, "py", 1, "initialize", init).await;
    assert!(result["capabilities"]["completionProvider"].is_object(), "{result}");
    notify(&mut socket, "py", "initialized", json!({})).await;
    notify(&mut socket, "py", "workspace/didChangeConfiguration", json!({"settings": ready["settings"]})).await;
    let uri = format!("{root}/main.py");
    let open = json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": main}});
    notify(&mut socket, "py", "textDocument/didOpen", open).await;
    let frames = frames_until(&mut socket, "py", |f| {
        f["message"]["method"] == "textDocument/publishDiagnostics"
            && f["message"]["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
    })
    .await;
    let diagnostics = &frames.last().unwrap()["message"]["params"]["diagnostics"];
    assert!(diagnostics.to_string().contains("undefined name 'undefined_name'"), "{diagnostics}");
    // The other file is in the workspace: the server completes from it.
    let position = json!({"textDocument": {"uri": uri}, "position": {"line": 2, "character": 10}});
    let result = request(&mut socket, "py", 2, "textDocument/completion", position).await;
    assert!(result.to_string().contains("area"), "{result}");

    // A file written later with lsp_files is read from disk as well.
    let later = json!([{"path": "later.py", "content": "def later_function():\n    pass\n"}]);
    send(&mut socket, json!({"type": "lsp_files", "id": "py", "files": later})).await;
    let edit = "import shapes\nimport later\nlater.later_f\n";
    let change = json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": edit}]});
    notify(&mut socket, "py", "textDocument/didChange", change).await;
    let position = json!({"textDocument": {"uri": uri}, "position": {"line": 2, "character": 13}});
    let mut found = String::new();
    for attempt in 3..40 {
        found = request(&mut socket, "py", attempt, "textDocument/completion", position.clone()).await.to_string();
        if found.contains("later_function") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found.contains("later_function"), "{found}");

    // Errors are lsp_error frames about the server.
    send(&mut socket, json!({"type": "lsp_message", "id": "py", "message": [1, 2]})).await;
    let frames = frames_until(&mut socket, "py", |f| f["type"] == "lsp_error").await;
    assert_eq!(frames.last().unwrap()["code"], "invalid_message");
    send(&mut socket, json!({"type": "lsp_message", "id": "nope", "message": {}})).await;
    let frames = frames_until(&mut socket, "nope", |f| f["type"] == "lsp_error").await;
    assert_eq!(frames.last().unwrap()["code"], "unknown_language_server");
    send(&mut socket, json!({"type": "lsp_files", "id": "nope", "files": []})).await;
    let frames = frames_until(&mut socket, "nope", |f| f["type"] == "lsp_error").await;
    assert_eq!(frames.last().unwrap()["code"], "unknown_language_server");
    send(&mut socket, json!({"type": "lsp_start", "id": "sh", "language": "bash"})).await;
    let frames = frames_until(&mut socket, "sh", |f| f["type"] == "lsp_error").await;
    assert_eq!(frames.last().unwrap()["code"], "no_language_server");

    // Stop: its end says so, and the id is free again.
    send(&mut socket, json!({"type": "lsp_stop", "id": "py"})).await;
    let frames = frames_until(&mut socket, "py", |f| f["type"] == "lsp_exited").await;
    assert_eq!(frames.last().unwrap()["status"], "stopped");
    start(&mut socket, "py", "python", json!([])).await;

    // The session's end takes its box and the server with it.
    let session = server.sessions.find(hello["session"].as_str().unwrap()).unwrap();
    server.sessions.close(&session).await;
    server.wait_for_boxes(0, "the session's box to go").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_servers_are_capped_per_session_and_culled_when_idle() {
    if !pylsp_ready("language_servers_are_capped_per_session_and_culled_when_idle") {
        return;
    }
    let server = TestServer::new()
        .catalog()
        .native()
        .sessions(|config| {
            config.language_servers.max_per_session = 1;
            config.language_servers.idle_timeout = Duration::from_secs(3);
        })
        .start()
        .await;
    let (mut socket, _) = connect(&server.url).await;
    start(&mut socket, "a", "python", json!([])).await;
    send(&mut socket, json!({"type": "lsp_start", "id": "b", "language": "python"})).await;
    let frames = frames_until(&mut socket, "b", |f| f["type"] == "lsp_error").await;
    assert_eq!(frames.last().unwrap()["code"], "too_many_language_servers");
    send(&mut socket, json!({"type": "lsp_start", "id": "a", "language": "python"})).await;
    let frames = frames_until(&mut socket, "a", |f| f["type"] == "lsp_error").await;
    assert_eq!(frames.last().unwrap()["code"], "duplicate_language_server_id");
    // Nothing either way for 3 s: culled by the sweep (every 2 s).
    let asked = std::time::Instant::now();
    let frames = frames_until(&mut socket, "a", |f| f["type"] == "lsp_exited").await;
    assert_eq!(frames.last().unwrap()["status"], "culled", "{frames:#?}");
    assert!(asked.elapsed() >= Duration::from_secs(2), "culled after {:?}", asked.elapsed());
    start(&mut socket, "b", "python", json!([])).await;
    server.stop().await;
}
