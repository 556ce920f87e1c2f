//! `git` frames as an attacker uses them (`docs/git.md`): every session of
//! one guest address sends hundreds of git commands and never reads the
//! answers. Each session runs one command at a time from a queue of 8 and
//! refuses the rest at once, the server's memory stays bounded, a victim
//! at another address is served, and SIGTERM still ends the server.

use std::time::Duration;

use bytesbox_testkit::require_root;
use serde_json::json;

use crate::connections::{victim_is_served, RssPeak, ALLOWED_GROWTH_KIB};
use crate::report::record;
use crate::served::{next, send, Served};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_git_frames_stays_in_each_sessions_queue() {
    if !require_root("a_flood_of_git_frames_stays_in_each_sessions_queue") {
        return;
    }
    const ATTACK: &str = "git-flood";
    const SESSIONS: usize = 4;
    const FRAMES_EACH: usize = 400;
    let mut served = Served::start("");
    let idle_kib = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let mut socket = served.connect().await;
        // A commit message as large as an argument may be, each time.
        let message = "m".repeat(64 * 1024);
        for n in 0..FRAMES_EACH {
            let frame =
                json!({"type": "git", "id": format!("g{n}"), "args": ["commit", "--allow-empty", "-m", message]});
            send(&mut socket, frame).await;
        }
        sessions.push(socket);
    }
    victim_is_served(&served, ATTACK).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    victim_is_served(&served, ATTACK).await;
    let peak_kib = peak.finish();
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "server RSS growth during the flood (KiB)", grown);
    assert!(grown < ALLOWED_GROWTH_KIB, "the server grew by {grown} KiB under {SESSIONS} x {FRAMES_EACH} git frames");

    // Now read one session's answers: most were refused at once.
    let socket = &mut sessions[0];
    send(socket, json!({"type": "ping", "nonce": "end"})).await;
    let (mut answered, mut refused) = (0usize, 0usize);
    loop {
        let frame = next(socket).await;
        match frame["type"].as_str() {
            Some("git_result") => answered += 1,
            Some("git_error") if frame["code"] == "too_many_git_commands" => refused += 1,
            Some("pong") => break,
            _ => {}
        }
    }
    record(ATTACK, "git frames run, refused (of 400 in one session)", format!("{answered}, {refused}"));
    assert!(refused > FRAMES_EACH / 2, "only {refused} of {FRAMES_EACH} refused, {answered} run");

    served.terminate();
    let status = served.wait(Duration::from_secs(60));
    assert!(status.success(), "the server exited with {status}");
    drop(sessions);
}
