//! The workspace watch as an attacker uses it: every session a guest
//! address may have watches its workspace while a shell in it makes
//! 100,000 files and a 1 GiB file, and the client reads nothing for a
//! while. The server's memory stays bounded, the victim is served, the
//! frames that do come are bounded and say what was left out, and the
//! server still exits on SIGTERM.

use std::time::{Duration, Instant};

use bytesbox_testkit::require_root;
use serde_json::{json, Value};

use crate::connections::{victim_is_served, RssPeak, ALLOWED_GROWTH_KIB};
use crate::report::record;
use crate::served::{next, send, Served, Socket};

/// Frames until one of `type`, skipping the others.
async fn until_type(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = next(socket).await;
        if frame["type"] == kind || frame["type"] == "error" {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_files_in_watched_workspaces_stays_bounded() {
    if !require_root("a_flood_of_files_in_watched_workspaces_stays_bounded") {
        return;
    }
    const ATTACK: &str = "files-flood";
    // The guest plan: 4 boxes per address.
    const SESSIONS: usize = 4;
    let mut served = Served::start("");
    let idle_kib = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let mut socket = served.connect().await;
        send(&mut socket, json!({"type": "files_watch"})).await;
        let watching = until_type(&mut socket, "files_watching").await;
        assert_eq!(watching["type"], "files_watching", "{watching}");
        send(&mut socket, json!({"type": "terminal_open", "id": "t", "rows": 24, "cols": 80})).await;
        let opened = until_type(&mut socket, "terminal_opened").await;
        assert_eq!(opened["type"], "terminal_opened", "{opened}");
        // As big as the box's limits let it grow (its file size limit
        // or its workspace's size stop it), then files until the
        // workspace's inodes run out.
        let flood = "(dd if=/dev/zero of=huge.bin bs=1M count=1024) 2>/dev/null; \
                     mkdir f && cd f && seq 1 100000 | xargs touch 2>/dev/null; echo made-$((6*7))\r";
        send(&mut socket, json!({"type": "terminal_input", "id": "t", "data": flood})).await;
        sessions.push(socket);
    }
    // Nobody reads; the victim is served meanwhile.
    let flood_started = Instant::now();
    victim_is_served(&served, ATTACK).await;
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(flood_started.elapsed())).await;
    victim_is_served(&served, ATTACK).await;

    // One client reads: until the shell is done and the watch has told
    // everything it will.
    let socket = &mut sessions[0];
    let (mut files, mut largest, mut truncated, mut made, mut huge) = (0usize, 0usize, false, false, false);
    let deadline = Instant::now() + Duration::from_secs(180);
    while !(made && truncated && huge) {
        assert!(Instant::now() < deadline, "the flood never showed: {files} files, made {made}, cut {truncated}");
        let frame = next(socket).await;
        match frame["type"].as_str() {
            Some("terminal_output") => made |= frame["data"].as_str().is_some_and(|d| d.contains("made-42")),
            Some("files_changed") => {
                let changes = frame["changes"].as_array().unwrap();
                largest = largest.max(changes.len());
                files += changes.len();
                truncated |= frame["left_out"]["truncated"] == true;
                huge |= changes.iter().any(|c| c["path"] == "huge.bin" && c["omitted"] == "too_large");
            }
            _ => {}
        }
    }
    let peak_kib = peak.finish();
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "files reported to one client (100,000 asked for)", files);
    record(ATTACK, "largest files_changed frame (changes)", largest);
    record(ATTACK, "server RSS growth during the floods (KiB)", grown);
    assert!(largest <= 1000, "a frame carried {largest} changes");
    assert!(files <= 20_000, "a client was sent {files} changes for one flood");
    assert!(grown < ALLOWED_GROWTH_KIB, "the server grew by {grown} KiB under {SESSIONS} watched floods");

    // SIGTERM with every watch going: the server ends its sessions and
    // exits.
    served.terminate();
    let status = served.wait(Duration::from_secs(60));
    assert!(status.success(), "the server exited with {status}");
    drop(sessions);
}
