//! Language servers as an attacker uses them: one guest address starting
//! as many as it can, a request that makes pylsp answer with a message
//! past the bound (its error echoes a 5 MiB method name), and a flood of
//! big messages. The caps hold with clear errors, only the server that
//! broke the bound is ended, the server's memory stays bounded, and a
//! victim at another address is served.

use std::time::{Duration, Instant};

use bytesbox_testkit::{require_prerequisite, require_root};
use serde_json::{json, Value};

use crate::connections::{victim_is_served, RssPeak, ALLOWED_GROWTH_KIB};
use crate::report::record;
use crate::served::{next, send, Served, Socket};

/// Frames until `lsp_ready`, `lsp_error` or `lsp_exited` about server `id`.
async fn answer_about(socket: &mut Socket, id: &str, types: &[&str]) -> Value {
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let frame = next(socket).await;
            if frame["id"] == id && types.iter().any(|t| frame["type"] == *t) {
                return frame;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {types:?} about {id} in time"))
}

async fn start(socket: &mut Socket, id: &str) -> Value {
    send(socket, json!({"type": "lsp_start", "id": id, "language": "python"})).await;
    answer_about(socket, id, &["lsp_ready", "lsp_error"]).await
}

async fn request(socket: &mut Socket, id: &str, request: u64, method: &str, params: Value) -> Value {
    let message = json!({"jsonrpc": "2.0", "id": request, "method": method, "params": params});
    send(socket, json!({"type": "lsp_message", "id": id, "message": message})).await;
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let frame = next(socket).await;
            let about = frame["id"] == id;
            if about && (frame["type"] == "lsp_exited" || frame["message"]["id"] == request) {
                return frame;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no answer from {id} in time"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_servers_are_capped_and_one_that_answers_too_much_ends_alone() {
    let test = "language_servers_are_capped_and_one_that_answers_too_much_ends_alone";
    if !require_root(test) {
        return;
    }
    let pylsp = std::process::Command::new("pylsp").arg("--version").output();
    let missing = match pylsp {
        Ok(out) if out.status.success() => None,
        other => Some(format!("Debian's python3-pylsp (scripts/lib.sh installs it): {other:?}")),
    };
    if !require_prerequisite(test, "pylsp", missing) {
        return;
    }
    const ATTACK: &str = "language-servers";
    // The guest plan: 4 boxes per address; 4 language servers per session.
    let mut served = Served::start("");
    let idle_kib = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    let mut first = served.connect().await;
    let mut refusals = Vec::new();
    let mut ready = 0;
    for n in 0..6 {
        let answer = start(&mut first, &format!("l{n}")).await;
        if answer["type"] == "lsp_ready" {
            ready += 1;
        } else {
            refusals.push(answer["code"].as_str().unwrap_or("?").to_string());
        }
    }
    assert_eq!(ready, 4, "one session runs 4 servers at most: {refusals:?}");
    assert!(refusals.iter().all(|code| code == "too_many_language_servers"), "{refusals:?}");
    let mut others = Vec::new();
    for n in 0..4 {
        let mut socket = served.connect().await;
        let answer = start(&mut socket, "other").await;
        if answer["type"] == "lsp_ready" {
            ready += 1;
        } else {
            refusals.push(answer["code"].as_str().unwrap_or("?").to_string());
            assert_eq!(answer["code"], "too_many_boxes", "session {n}: {answer}");
        }
        others.push(socket);
    }
    record(ATTACK, "servers started (asked for)", format!("{ready} (10)"));
    assert_eq!(ready, 7, "4 boxes per address: {refusals:?}");

    // pylsp's error for an unknown method echoes its name: 5 MiB of it is
    // a message past the 4 MiB bound, which ends that server alone.
    let init = json!({"processId": null, "rootUri": "file:///workspace", "capabilities": {}});
    for id in ["l0", "l1"] {
        let answer = request(&mut first, id, 1, "initialize", init.clone()).await;
        assert!(answer["message"]["result"]["capabilities"].is_object(), "{answer}");
    }
    let huge = "x".repeat(5 << 20);
    let answer = request(&mut first, "l0", 2, &huge, json!({})).await;
    assert_eq!(answer["type"], "lsp_exited", "{}", &answer.to_string()[..200.min(answer.to_string().len())]);
    assert_eq!(answer["status"], "message_too_large", "{answer}");
    let answer = request(&mut first, "l1", 2, "shutdown", Value::Null).await;
    assert_eq!(answer["type"], "lsp_message", "the session's other servers go on: {answer}");

    // A flood of 1 MiB messages, sent without reading: queued up to the
    // bound, refused beyond it with input_overflow; the connection goes on.
    let flood_started = Instant::now();
    let filler = "y".repeat(1 << 20);
    for n in 0..40 {
        let message = json!({"jsonrpc": "2.0", "method": "$/flood", "params": {"n": n, "filler": filler}});
        send(&mut first, json!({"type": "lsp_message", "id": "l2", "message": message})).await;
    }
    send(&mut first, json!({"type": "ping", "nonce": "after"})).await;
    let mut overflowed = 0usize;
    loop {
        let frame = next(&mut first).await;
        if frame["id"] == "l2" && frame["code"] == "input_overflow" {
            overflowed += 1;
        }
        if frame["type"] == "pong" {
            break;
        }
    }
    record(ATTACK, "flooded 1 MiB messages refused (of 40)", overflowed);
    record(ATTACK, "flood of 40 MiB to pong (ms)", flood_started.elapsed().as_millis());
    victim_is_served(&served, ATTACK).await;
    let peak_kib = peak.finish();
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "server RSS growth during the attack (KiB)", grown);
    assert!(grown < ALLOWED_GROWTH_KIB, "the server grew by {grown} KiB");

    let stopping = Instant::now();
    served.terminate();
    let status = served.wait(Duration::from_secs(60));
    record(ATTACK, "SIGTERM to exit, servers running (ms)", stopping.elapsed().as_millis());
    assert!(status.success(), "the server exited with {status}");
    drop(others);
}
