//! Terminals as an attacker uses them: one guest address opening as many
//! sessions and terminals as it can, flooding every one with `yes` and
//! never reading, and pasting into a shell that does not read. The caps
//! hold with clear errors, the server's memory stays bounded, and a victim
//! at another address is served.

use std::time::{Duration, Instant};

use bytesbox_testkit::require_root;
use serde_json::{json, Value};

use crate::connections::{victim_is_served, RssPeak, ALLOWED_GROWTH_KIB};
use crate::report::record;
use crate::served::{next, send, Served, Socket};

/// Frames until `terminal_opened` or an `error` about terminal `id`
/// (other terminals' output is skipped).
async fn open_terminal(socket: &mut Socket, id: &str) -> Value {
    send(socket, json!({"type": "terminal_open", "id": id, "rows": 24, "cols": 80})).await;
    loop {
        let frame = next(socket).await;
        if (frame["type"] == "terminal_opened" && frame["id"] == id) || frame["terminal"] == id {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_from_one_address_are_capped_and_their_floods_stay_bounded() {
    if !require_root("terminals_from_one_address_are_capped_and_their_floods_stay_bounded") {
        return;
    }
    const ATTACK: &str = "terminals-flood";
    const SESSIONS: usize = 8;
    const TERMINALS_EACH: usize = 6;
    // The guest plan: 4 boxes per address, 4 terminals per session.
    let mut served = Served::start("");
    let idle_kib = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    let mut sessions = Vec::new();
    let (mut opened, mut refusals) = (0usize, Vec::new());
    for s in 0..SESSIONS {
        let mut socket = served.connect().await;
        let mut opened_here = 0;
        for t in 0..TERMINALS_EACH {
            let id = format!("t{t}");
            let answer = open_terminal(&mut socket, &id).await;
            if answer["type"] == "terminal_opened" {
                opened_here += 1;
                send(&mut socket, json!({"type": "terminal_input", "id": id, "data": "yes flood-flood-flood\r"})).await;
            } else {
                refusals.push(answer["code"].as_str().unwrap_or("?").to_string());
            }
        }
        assert!(opened_here <= 4, "session {s} opened {opened_here} terminals");
        opened += opened_here;
        sessions.push(socket);
    }
    record(ATTACK, "terminals opened (asked for)", format!("{opened} ({})", SESSIONS * TERMINALS_EACH));
    assert!((1..=16).contains(&opened), "one guest address opened {opened} terminals");
    assert!(
        refusals.iter().all(|code| code == "too_many_terminals" || code == "too_many_boxes"),
        "refusals say why: {refusals:?}"
    );

    // Every terminal floods; nobody reads. The victim is served meanwhile.
    let flood_started = Instant::now();
    victim_is_served(&served, ATTACK).await;
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(flood_started.elapsed())).await;
    victim_is_served(&served, ATTACK).await;
    let peak_kib = peak.finish();
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "server RSS growth during the floods (KiB)", grown);
    assert!(grown < ALLOWED_GROWTH_KIB, "the server grew by {grown} KiB under {opened} flooding terminals");

    // SIGTERM with every terminal still flooding and connected: the server
    // ends its sessions and exits (`wait` fails the test if it does not).
    let stopping = Instant::now();
    served.terminate();
    let status = served.wait(Duration::from_secs(60));
    record(ATTACK, "SIGTERM to exit, terminals flooding (ms)", stopping.elapsed().as_millis());
    assert!(status.success(), "the server exited with {status}");
    drop(sessions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paste_into_a_shell_that_does_not_read_is_refused_past_its_queue() {
    if !require_root("a_paste_into_a_shell_that_does_not_read_is_refused_past_its_queue") {
        return;
    }
    const ATTACK: &str = "terminals-paste";
    let mut served = Served::start("");
    // Queued up to its bound, then refused; the connection goes on.
    let mut socket = served.connect().await;
    let answer = open_terminal(&mut socket, "paste").await;
    assert_eq!(answer["type"], "terminal_opened", "{answer}");
    send(&mut socket, json!({"type": "terminal_input", "id": "paste", "data": "sleep 1000\r"})).await;
    let chunk = "x".repeat(64 * 1024);
    for _ in 0..40 {
        send(&mut socket, json!({"type": "terminal_input", "id": "paste", "data": chunk})).await;
    }
    send(&mut socket, json!({"type": "ping", "nonce": "after"})).await;
    let (mut overflowed, mut ponged) = (0usize, false);
    while !ponged {
        let frame = next(&mut socket).await;
        if frame["terminal"] == "paste" && frame["code"] == "input_overflow" {
            overflowed += 1;
        }
        ponged = frame["type"] == "pong";
    }
    record(ATTACK, "pasted frames refused (of 40 x 64 KiB)", overflowed);
    assert!(overflowed > 0, "a shell that does not read had 2.5 MiB queued for it");

    // SIGTERM while a write waits for the shell: the server still exits.
    served.terminate();
    let status = served.wait(Duration::from_secs(60));
    assert!(status.success(), "the server exited with {status}");
}
