//! The Kernel Gateway API as an attacker with an API token uses it: more
//! kernels at once than the plan's boxes allow, a reconnect storm on one
//! kernel's channels, a flood of cells that print while the client never
//! reads, binary and oversized messages, and a client that goes away in the
//! middle of a restart or a delete. The caps hold with clear errors, the
//! server's memory stays bounded, a victim is served, an abandoned restart
//! leaves a kernel that works, an abandoned delete leaves no box, and
//! SIGTERM with kernels alive ends the server.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::cancellation::metric;
use crate::connections::{victim_is_served, RssPeak, ALLOWED_GROWTH_KIB};
use crate::report::record;
use crate::served::{sign_up_with_token, token_client, Served, Socket};

const ATTACK: &str = "kernel-gateway";

async fn channels(address: &str, secret: &str, id: &str) -> Socket {
    let mut request = format!("ws://{address}/api/kernels/{id}/channels").into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("token {secret}").parse().unwrap());
    tokio_tungstenite::connect_async(request).await.expect("the channels WebSocket opens").0
}

fn execute(msg_id: &str, code: &str) -> String {
    json!({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": "attacker", "username": "x", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": {"code": code}, "channel": "shell"
    })
    .to_string()
}

/// The close frame's code and reason, skipping other messages.
async fn close_of(socket: &mut Socket) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await.expect("a close in time") {
            Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), frame.reason.to_string()),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return (0, String::new()),
            Some(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_kernels_are_capped_and_their_floods_stay_bounded() {
    if !bytesbox_testkit::require_root("gateway_kernels_are_capped_and_their_floods_stay_bounded") {
        return;
    }
    // The default plan, with 3 boxes per caller; a client that stops
    // reading is cut off after 10 s (60 by default).
    let mut served = Served::start("[plans.default]\nmax_boxes = 3\n[connections]\nsend_timeout_secs = 10\n");
    let base = format!("http://{}", served.address);
    let secret = sign_up_with_token(&base, "gateway-attacker").await;
    let api = token_client(&secret);
    let idle_kib = served.rss_kib();
    let peak = RssPeak::start(served.pid());

    // Eight kernels asked for at once: three start, the others are
    // refused with the reason.
    let starts = (0..8).map(|_| {
        let (api, base) = (api.clone(), base.clone());
        async move {
            let response = api.post(format!("{base}/api/kernels")).body(r#"{"name":"python"}"#).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    });
    let answers = futures_util::future::join_all(starts).await;
    let started: Vec<String> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, m)| m["id"].as_str().unwrap().to_string())
        .collect();
    let refused: Vec<&Value> = answers.iter().filter(|(status, _)| *status != 201).map(|(_, body)| body).collect();
    record(ATTACK, "kernels started (asked for 8 at once, plan allows 3)", started.len());
    assert_eq!(started.len(), 3, "{answers:?}");
    assert!(refused.iter().all(|body| body["error"]["code"] == "too_many_boxes"), "refusals say why: {refused:?}");

    // A reconnect storm on one kernel: each connection replaces the one
    // before, which is closed with the reason; the kernel counts one.
    let first = &started[0];
    let mut old = channels(&served.address, &secret, first).await;
    for _ in 0..30 {
        let newer = channels(&served.address, &secret, first).await;
        let (code, reason) = close_of(&mut old).await;
        assert_eq!(code, 1000, "{reason}");
        old = newer;
    }
    let model: Value = api.get(format!("{base}/api/kernels/{first}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(model["connections"], 1, "{model}");

    // Every kernel prints as fast as it can; the client never reads.
    let flood = "import sys\nwhile True: sys.stdout.write('x' * 65536); sys.stdout.flush()";
    let mut flooding = Vec::new();
    for (n, id) in started.iter().enumerate() {
        let mut socket = if n == 0 {
            std::mem::replace(&mut old, channels(&served.address, &secret, id).await)
        } else {
            channels(&served.address, &secret, id).await
        };
        socket.send(Message::Text(execute("flood", flood).into())).await.unwrap();
        flooding.push(socket);
    }
    let flood_started = Instant::now();
    victim_is_served(&served, ATTACK).await;
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(flood_started.elapsed())).await;
    victim_is_served(&served, ATTACK).await;

    // Binary and oversized messages end their connection with the reason.
    let mut binary = channels(&served.address, &secret, &started[1]).await;
    binary.send(Message::Binary(vec![0u8; 1024].into())).await.unwrap();
    let (code, reason) = close_of(&mut binary).await;
    assert_eq!(code, 1003, "{reason}");
    // This client reads nothing either, and its kernel floods it: the
    // server, stuck writing to it, reads its message only if it reads at
    // all, or else cuts it off at the send timeout. Either way the
    // message is not taken.
    let mut huge = channels(&served.address, &secret, &started[2]).await;
    let sending = Instant::now();
    let _ = huge.send(Message::Text("x".repeat(64 * 1024 * 1024).into())).await;
    let (code, _) = close_of(&mut huge).await;
    assert_ne!(code, 1000, "a 64 MiB message is not taken");
    record(ATTACK, "a 64 MiB message from a client that reads nothing, to its end (ms)", sending.elapsed().as_millis());

    let peak_kib = peak.finish();
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "server RSS growth during the floods (KiB)", grown);
    assert!(grown < ALLOWED_GROWTH_KIB, "the server grew by {grown} KiB under 3 flooding kernels");

    // A client that goes away in the middle of a restart (a slow one: the
    // spare served the restart before it) leaves a kernel that works. It
    // goes away once the restart has begun (the model says `restarting`).
    let restart = || api.post(format!("{base}/api/kernels/{}/restart", started[2])).send();
    let first = restart().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let model_of = |id: &str| api.get(format!("{base}/api/kernels/{id}")).send();
    let state_of = |id: String| async move {
        let model: Value = model_of(&id).await.unwrap().json().await.unwrap();
        model["execution_state"].as_str().unwrap_or_default().to_owned()
    };
    let restarting = tokio::spawn(restart());
    // (A restart served by a spare made meanwhile may end before a poll
    // sees it: then there is nothing left to abandon.)
    bytesbox_testkit::wait_until("the restart to begin", Duration::from_secs(30), || async {
        restarting.is_finished() || state_of(started[2].clone()).await == "restarting"
    })
    .await;
    restarting.abort();
    bytesbox_testkit::wait_until("the abandoned restart to end", Duration::from_secs(60), || async {
        state_of(started[2].clone()).await == "idle"
    })
    .await;
    let mut after = channels(&served.address, &secret, &started[2]).await;
    // (A kernel_info request: cells would cost rate-limit tokens, which
    // this attack has spent.)
    let info = json!({
        "header": {"msg_id": "after", "msg_type": "kernel_info_request", "session": "attacker", "username": "x", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell"
    });
    after.send(Message::Text(info.to_string().into())).await.unwrap();
    let reply = loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), after.next()).await.expect("an answer in time");
        let Some(Ok(Message::Text(text))) = frame else { panic!("the channels ended: {frame:?}") };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["parent_header"]["msg_id"] == "after" && message["channel"] == "shell" {
            break message;
        }
    };
    assert_eq!(reply["msg_type"], "kernel_info_reply", "{reply}");
    assert_eq!(reply["content"]["status"], "ok", "{reply}");

    // A client that goes away in the middle of a delete (the flooding
    // kernel does not answer its shutdown request, so the delete takes its
    // grace time) leaves no box behind. It goes away once the delete has
    // begun (the kernel has left the list): a client gone before the
    // server took its request has deleted nothing, rightly.
    let boxes = metric(&served.address, "bytesbox_boxes_active").await.expect("the box gauge");
    let listed = || async {
        let listed: Value = api.get(format!("{base}/api/kernels")).send().await.unwrap().json().await.unwrap();
        listed.as_array().map_or(0, Vec::len)
    };
    let deleting = tokio::spawn({
        let request = api.delete(format!("{base}/api/kernels/{}", started[1]));
        async move { request.send().await }
    });
    bytesbox_testkit::wait_until("the delete to begin", Duration::from_secs(30), || async { listed().await == 2 })
        .await;
    deleting.abort();
    bytesbox_testkit::wait_until("the abandoned delete to end", Duration::from_secs(30), || async {
        metric(&served.address, "bytesbox_boxes_active").await == Some(boxes - 1.0)
    })
    .await;
    assert_eq!(listed().await, 2, "the deleted kernel stays deleted");

    // SIGTERM with kernels alive and flooding: the server ends them and
    // exits (`wait` fails the test if it does not).
    let stopping = Instant::now();
    served.terminate();
    let status = served.wait(Duration::from_secs(60));
    record(ATTACK, "SIGTERM to exit, kernels flooding (ms)", stopping.elapsed().as_millis());
    assert!(status.success(), "the server exited with {status}");
    assert!(served.instance_cgroups().is_empty(), "boxes left: {:?}", served.instance_cgroups());
    drop(flooding);
}
