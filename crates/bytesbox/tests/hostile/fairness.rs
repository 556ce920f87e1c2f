//! Fairness between callers: guests hold every run they may while a
//! signed-in user runs `echo`; one guest address opens more session boxes
//! than its plan allows; a guest's idle box holds more bytes than its cap.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_tungstenite::MaybeTlsStream;

use crate::report;
use crate::served::{self, sign_up_with_token, Served, Socket};

const ATTACK: &str = "fairness";

/// Four run slots, so the guests' 75% share is three of them.
const FOUR_SLOTS: &str = "[admission]\nmax_running = 4\nmax_queued = 16\n";

/// A WebSocket session from `local`, a loopback address of its own, so
/// the server sees a different guest.
async fn connect_from(served: &Served, local: Ipv4Addr) -> Socket {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((local, 0).into()).unwrap();
    let stream = socket.connect(served.address.parse().unwrap()).await.unwrap();
    let url = format!("ws://{}/api/v1/ws", served.address);
    let (mut ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.unwrap();
    assert_eq!(served::next(&mut ws).await["type"], "hello");
    ws
}

fn run_frame(id: &str, script: &str) -> Value {
    json!({"type": "run", "id": id, "language": "bash", "files": [{"path": "main.sh", "content": script}]})
}

/// Frames of `socket` until one of run `id` has `type` in `types`; that one.
async fn frame_of(socket: &mut Socket, id: &str, types: &[&str]) -> Value {
    loop {
        let frame = served::next(socket).await;
        if frame["id"] == id && types.contains(&frame["type"].as_str().unwrap_or("")) {
            return frame;
        }
        assert_ne!(frame["type"], "error", "unexpected error: {frame}");
    }
}

/// Starts `count` `sleep 30` runs; returns how many reached their run
/// stage and how many were queued. Runs are `{prefix}{n}`.
async fn hold_runs(socket: &mut Socket, prefix: &str, count: usize) -> (usize, usize) {
    for n in 0..count {
        served::send(socket, run_frame(&format!("{prefix}{n}"), "sleep 30")).await;
    }
    let (mut running, mut queued) = (0, 0);
    while running + queued < count {
        let frame = served::next(socket).await;
        match frame["type"].as_str() {
            Some("stage") => running += 1,
            Some("queued") => queued += 1,
            Some("accepted") => {}
            _ => panic!("unexpected frame while starting the guest's runs: {frame}"),
        }
    }
    (running, queued)
}

/// Nothing ended on `socket` so far: a ping's pong comes before any
/// `exit` or `done`.
async fn still_running(socket: &mut Socket) -> bool {
    served::send(socket, json!({"type": "ping", "nonce": "check"})).await;
    loop {
        let frame = served::next(socket).await;
        match frame["type"].as_str() {
            Some("pong") => return true,
            Some("exit" | "done" | "error") => return false,
            _ => {}
        }
    }
}

/// `echo hi` through `POST /api/v1/execute` as the token's user; its
/// latency.
async fn victim_echo(served: &Served, token: &str) -> Duration {
    let started = Instant::now();
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{}/api/v1/execute", served.address))
        .bearer_auth(token)
        .json(&json!({"language": "bash", "files": [{"path": "main.sh", "content": "echo hi"}]}))
        .timeout(Duration::from_secs(50))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["run"]["stdout"], "hi\n", "{answer}");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_holding_every_run_they_may_leave_a_slot_for_users() {
    if !bytesbox_testkit::require_root("guests_holding_every_run_they_may_leave_a_slot_for_users") {
        return;
    }
    let served = Served::start(FOUR_SLOTS);
    let token = sign_up_with_token(&format!("http://{}", served.address), "victim").await;
    let idle = victim_echo(&served, &token).await;
    report::record(ATTACK, "victim echo, idle server (ms)", idle.as_millis());

    // One guest takes all it may: four runs (its plan's limit), of which
    // three run (the guests' share of four slots) and one waits.
    let mut guest = connect_from(&served, Ipv4Addr::new(127, 0, 0, 2)).await;
    let (running, queued) = hold_runs(&mut guest, "a", 4).await;
    assert_eq!((running, queued), (3, 1), "guests together get three of the four slots");
    // A second guest address waits too: the share is for guests together.
    let mut other_guest = connect_from(&served, Ipv4Addr::new(127, 0, 0, 3)).await;
    assert_eq!(hold_runs(&mut other_guest, "b", 2).await, (0, 2));

    let latency = victim_echo(&served, &token).await;
    report::record(ATTACK, "victim echo while guests hold every slot (ms)", latency.as_millis());
    assert!(still_running(&mut guest).await, "the victim finished while the guest's runs were still going");

    // The first guest slot to free goes to the other guest, whose turn it
    // is, not to the first guest's waiting run.
    served::send(&mut guest, json!({"type": "kill", "id": "a0"})).await;
    let started = frame_of(&mut other_guest, "b0", &["stage"]).await;
    assert_eq!(started["stage"], "run");
    report::record(ATTACK, "second guest got the next freed guest slot", "yes");
    for (socket, ids) in [(&mut guest, ["a1", "a2", "a3"].as_slice()), (&mut other_guest, ["b0", "b1"].as_slice())] {
        for id in ids {
            served::send(socket, json!({"type": "kill", "id": id})).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_gets_at_most_its_plans_session_boxes() {
    if !bytesbox_testkit::require_root("a_guest_gets_at_most_its_plans_session_boxes") {
        return;
    }
    let served = Served::start("[plans.guest]\nmax_boxes = 2\n");
    let address = Ipv4Addr::new(127, 0, 0, 4);
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let mut socket = connect_from(&served, address).await;
        served::send(&mut socket, run_frame("r", "echo hi")).await;
        frame_of(&mut socket, "r", &["done"]).await;
        sessions.push(socket);
    }
    let mut third = connect_from(&served, address).await;
    served::send(&mut third, run_frame("r", "echo hi")).await;
    let refused = frame_of(&mut third, "r", &["error"]).await;
    assert_eq!(refused["code"], "too_many_boxes", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("allows 2 sessions"), "{refused}");
    report::record(ATTACK, "third session box of a guest with max_boxes = 2", refused["code"].as_str().unwrap());

    // A session whose connection went away gives its idle box up to the
    // same caller's next one.
    drop(sessions.pop());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        served::send(&mut third, run_frame("again", "echo hi")).await;
        let frame = frame_of(&mut third, "again", &["done", "error"]).await;
        if frame["type"] == "done" {
            break;
        }
        assert_eq!(frame["code"], "too_many_boxes", "{frame}");
        assert!(Instant::now() < deadline, "the disconnected session's box was never given up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_box_over_its_callers_byte_cap_is_destroyed() {
    if !bytesbox_testkit::require_root("an_idle_box_over_its_callers_byte_cap_is_destroyed") {
        return;
    }
    let served = Served::start("[plans.guest]\nmax_idle_box_bytes = 33554432\n");
    let mut socket = connect_from(&served, Ipv4Addr::new(127, 0, 0, 5)).await;
    // 48 MiB in /tmp (a tmpfs: box memory), over the 32 MiB cap once idle.
    let fill = "head -c 50331648 /dev/zero > /tmp/fill && echo filled";
    served::send(&mut socket, run_frame("fill", fill)).await;
    frame_of(&mut socket, "fill", &["done"]).await;
    let idle_since = Instant::now();
    let deadline = idle_since + Duration::from_secs(30);
    let mut probe = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        probe += 1;
        let id = format!("probe{probe}");
        served::send(&mut socket, run_frame(&id, "test -e /tmp/fill && echo present || echo gone")).await;
        let output = frame_of(&mut socket, &id, &["output"]).await;
        frame_of(&mut socket, &id, &["done"]).await;
        if output["data"] == "gone\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the idle box over the cap was never destroyed");
    }
    let reclaimed = idle_since.elapsed();
    report::record(ATTACK, "idle box over its caller's byte cap destroyed after (ms)", reclaimed.as_millis());
}
