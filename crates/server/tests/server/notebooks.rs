//! Notebook kernels over the WebSocket (`docs/notebooks.md`): a real
//! ipykernel in the session's native box (root), its messages as
//! `kernel_message` frames, restart, a kernel at its memory limit, a
//! reconnect, shutdown, the idle cull; and a clear refusal where the
//! backend cannot serve kernels.

use std::time::Duration;

use bytesbox_server::session_kernels::KernelConfig;
use bytesbox_testkit::{require_prerequisite, require_root};
use serde_json::{json, Value};

use super::{connect, next, send, Socket, TestServer};

pub(super) fn ipykernel_ready(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    let found = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import ipykernel"])
        .output()
        .map_err(|e| e.to_string())
        .and_then(
            |out| if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) },
        );
    require_prerequisite(test, "Debian's python3-ipykernel (scripts/lib.sh installs it)", found.err())
}

/// Frames of kernel `id` until one satisfies `last` (included).
async fn kernel_frames_until(socket: &mut Socket, id: &str, mut last: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let mut frames = Vec::new();
    tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let frame = next(socket).await;
            if frame["id"] != id {
                continue;
            }
            let done = last(&frame);
            frames.push(frame);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("kernel {id}: no end in time: {frames:#?}"));
    frames
}

/// Starts kernel `id` and waits for `kernel_ready`.
async fn start_kernel(socket: &mut Socket, id: &str) -> Value {
    send(socket, json!({"type": "kernel_start", "id": id, "language": "python"})).await;
    let frames = kernel_frames_until(socket, id, |f| f["type"] == "kernel_ready" || f["type"] == "error").await;
    let last = frames.last().unwrap().clone();
    assert_eq!(last["type"], "kernel_ready", "{frames:#?}");
    last
}

/// Runs a cell; its frames until its `idle` status.
async fn cell(socket: &mut Socket, id: &str, request: &str, code: &str) -> Vec<Value> {
    send(socket, json!({"type": "kernel_execute", "id": id, "request": request, "code": code})).await;
    until_idle(socket, id, request).await
}

/// Frames of a request until both its `idle` status (iopub) and its
/// reply (shell) came: the two channels are not ordered with each other.
async fn until_idle(socket: &mut Socket, id: &str, request: &str) -> Vec<Value> {
    let (mut idle, mut replied) = (false, false);
    kernel_frames_until(socket, id, |f| {
        idle |= f["msg_type"] == "status" && f["parent"] == request && f["content"]["execution_state"] == "idle";
        replied |= f["channel"] == "shell" && f["parent"] == request;
        f["type"] == "error" || f["type"] == "kernel_exited" || (idle && replied)
    })
    .await
}

fn of_type<'a>(frames: &'a [Value], msg_type: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == "kernel_message" && f["msg_type"] == msg_type).collect()
}

fn result_text(frames: &[Value]) -> String {
    of_type(frames, "execute_result")
        .first()
        .map(|f| f["content"]["data"]["text/plain"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notebook_kernel_runs_cells_restarts_and_outlives_a_reconnect() {
    if !ipykernel_ready("a_notebook_kernel_runs_cells_restarts_and_outlives_a_reconnect") {
        return;
    }
    let server = TestServer::new().catalog().native().grace(Duration::from_secs(20)).start().await;
    let (mut socket, hello) = connect(&server.url).await;
    let asked = std::time::Instant::now();
    let ready = start_kernel(&mut socket, "nb").await;
    eprintln!("kernel_start to kernel_ready, cold (box made too): {:?}", asked.elapsed());
    assert_eq!(ready["language"], "python");
    assert_eq!(ready["language_info"]["name"], "python");
    assert_eq!(ready["restarted"], false);
    let (status, _, page) = super::http_from(None, &server.url, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(page.lines().any(|line| line == r#"bytesbox_kernels_active{node="local"} 1"#), "{page}");

    let frames = cell(&mut socket, "nb", "c1", "x = 20\nprint('hello')\nx + 22").await;
    let streams = of_type(&frames, "stream");
    assert_eq!(streams[0]["content"]["text"], "hello\n", "{frames:#?}");
    assert_eq!(result_text(&frames), "42");
    assert!(of_type(&frames, "status").iter().any(|f| f["content"]["execution_state"] == "busy"));
    assert_eq!(of_type(&frames, "execute_result")[0]["content"]["execution_count"], 1);
    assert_eq!(of_type(&frames, "execute_reply")[0]["content"]["status"], "ok");

    // input() goes through the stdin channel.
    send(
        &mut socket,
        json!({"type": "kernel_execute", "id": "nb", "request": "c2", "code": "print(input('Name? ') * 2)"}),
    )
    .await;
    let frames = kernel_frames_until(&mut socket, "nb", |f| f["msg_type"] == "input_request").await;
    assert_eq!(frames.last().unwrap()["content"]["prompt"], "Name? ");
    send(&mut socket, json!({"type": "kernel_input", "id": "nb", "request": "c2", "value": "ab"})).await;
    let frames = until_idle(&mut socket, "nb", "c2").await;
    assert!(of_type(&frames, "stream").iter().any(|f| f["content"]["text"] == "abab\n"), "{frames:#?}");

    // A reconnect within the grace period finds the kernel and its state.
    drop(socket);
    let session = server.sessions.find(hello["session"].as_str().unwrap()).unwrap();
    bytesbox_testkit::wait_until("the session to see its client gone", Duration::from_secs(5), || async {
        !session.is_connected()
    })
    .await;
    let token = hello["resume"].as_str().unwrap();
    let (mut socket, again) = connect(&format!("{}?resume={token}", server.url)).await;
    assert_eq!(again["session"], hello["session"]);
    let frames = cell(&mut socket, "nb", "c3", "x").await;
    assert_eq!(result_text(&frames), "20", "{frames:#?}");

    // Completion and inspection.
    send(&mut socket, json!({"type": "kernel_complete", "id": "nb", "request": "q1", "code": "import math\nmath.sq", "cursor_pos": 19})).await;
    let frames = kernel_frames_until(&mut socket, "nb", |f| f["msg_type"] == "complete_reply").await;
    assert!(
        frames.last().unwrap()["content"]["matches"].as_array().unwrap().iter().any(|m| m == "sqrt"),
        "{frames:#?}"
    );

    // Restart: state gone, counts from 1. The spare started ahead serves it.
    let kernels = || server.sessions.find(hello["session"].as_str().unwrap()).unwrap();
    bytesbox_testkit::wait_until("a spare kernel", Duration::from_secs(60), || async {
        kernels().kernels().spare_id().is_some()
    })
    .await;
    let spare = kernels().kernels().spare_id().unwrap();
    let asked = std::time::Instant::now();
    send(&mut socket, json!({"type": "kernel_restart", "id": "nb"})).await;
    let frames = kernel_frames_until(&mut socket, "nb", |f| f["type"] == "kernel_ready" || f["type"] == "error").await;
    eprintln!("restart to kernel_ready with a spare: {:?}", asked.elapsed());
    assert_eq!(frames.last().unwrap()["restarted"], true, "{frames:#?}");
    assert_eq!(kernels().kernels().process_id("nb"), Some(spare), "the spare took the kernel's place");
    let frames = cell(&mut socket, "nb", "r1", "'x' in dir()").await;
    assert_eq!(result_text(&frames), "False");
    assert_eq!(of_type(&frames, "execute_result")[0]["content"]["execution_count"], 1);

    // A kernel past its memory: a clear end; the session starts another.
    send(&mut socket, json!({"type": "kernel_execute", "id": "nb", "request": "m1", "code": "hog = b'x' * (2 << 30)"}))
        .await;
    let frames = kernel_frames_until(&mut socket, "nb", |f| f["type"] == "kernel_exited").await;
    let exited = frames.last().unwrap();
    assert!(["memory_limit"].contains(&exited["status"].as_str().unwrap()), "{exited}");
    send(&mut socket, json!({"type": "kernel_execute", "id": "nb", "request": "m2", "code": "1"})).await;
    let frames = kernel_frames_until(&mut socket, "nb", |f| f["type"] == "error").await;
    assert_eq!(frames.last().unwrap()["code"], "unknown_kernel");
    start_kernel(&mut socket, "nb").await;
    let frames = cell(&mut socket, "nb", "m3", "2 + 2").await;
    assert_eq!(result_text(&frames), "4");

    // Shutdown ends it and frees the id.
    send(&mut socket, json!({"type": "kernel_shutdown", "id": "nb"})).await;
    let frames = kernel_frames_until(&mut socket, "nb", |f| f["type"] == "kernel_exited").await;
    assert_eq!(frames.last().unwrap()["status"], "shutdown");

    // A session that ends takes its box, and every kernel in it (the
    // spare too), with it.
    // reset_database destroys the box: its kernels end, and say so.
    start_kernel(&mut socket, "reset").await;
    send(&mut socket, json!({"type": "reset_database", "id": "db"})).await;
    let frames = kernel_frames_until(&mut socket, "reset", |f| f["type"] == "kernel_exited").await;
    assert_eq!(frames.last().unwrap()["status"], "killed", "{frames:#?}");
    start_kernel(&mut socket, "last").await;
    server.sessions.close(&kernels()).await;
    server.wait_for_boxes(0, "the session's box to go").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kernels_are_culled_and_a_session_has_at_most_its_kernels() {
    if !ipykernel_ready("idle_kernels_are_culled_and_a_session_has_at_most_its_kernels") {
        return;
    }
    let kernels = KernelConfig {
        idle_timeout: Duration::from_secs(3),
        max_per_session: 1,
        spare: false,
        ..KernelConfig::default()
    };
    let server = TestServer::new().catalog().native().kernels(kernels).start().await;
    let (mut socket, _) = connect(&server.url).await;
    start_kernel(&mut socket, "a").await;
    send(&mut socket, json!({"type": "kernel_start", "id": "b", "language": "python"})).await;
    let frames = kernel_frames_until(&mut socket, "b", |f| f["type"] == "error").await;
    assert_eq!(frames.last().unwrap()["code"], "too_many_kernels");
    send(&mut socket, json!({"type": "kernel_start", "id": "c", "language": "c"})).await;
    let frames = kernel_frames_until(&mut socket, "c", |f| f["type"] == "error").await;
    assert_eq!(frames.last().unwrap()["code"], "no_kernel");
    // A cell running longer than the idle time is not idle.
    let frames = cell(&mut socket, "a", "slow", "import time\ntime.sleep(5)\n'awake'").await;
    assert_eq!(result_text(&frames), "'awake'", "{frames:#?}");
    let frames = kernel_frames_until(&mut socket, "a", |f| f["type"] == "kernel_exited").await;
    assert_eq!(frames.last().unwrap()["status"], "culled");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_without_kernels_refuses_them_clearly() {
    let server = TestServer::new().catalog().start().await;
    let (mut socket, _) = connect(&server.url).await;
    send(&mut socket, json!({"type": "kernel_start", "id": "k", "language": "python"})).await;
    let frames = kernel_frames_until(&mut socket, "k", |f| f["type"] == "error").await;
    let error = frames.last().unwrap();
    assert_eq!(error["code"], "unsupported", "{error}");
    assert!(error["message"].as_str().unwrap().contains("notebook kernels"), "{error}");
    send(&mut socket, json!({"type": "kernel_execute", "id": "k", "request": "c1", "code": "1"})).await;
    let frames = kernel_frames_until(&mut socket, "k", |f| f["type"] == "error").await;
    assert_eq!(frames.last().unwrap()["code"], "unknown_kernel", "the refused kernel's place is free");
    server.stop().await;
}
