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

/// `files_write` and `files_delete` as an attacker sends them: every
/// session a guest address may have, each with a box whose workspace holds
/// 5,000 files in 20 folders, sends 60 frames without reading an answer
/// for 5 s: writes of 64 files of 16 KiB, deletes of 1000 paths (folders
/// of 250 entries, the last write's folder, paths that are not
/// there), and a delete that tries to leave the workspace. The server's
/// memory stays bounded, a victim is served, every frame is answered once
/// and in order when the client reads, nothing outside the workspace is
/// touched, and the server still exits on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_workspace_writes_and_deletes_stays_bounded() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    if !require_root("a_flood_of_workspace_writes_and_deletes_stays_bounded") {
        return;
    }
    const ATTACK: &str = "files-write-delete-flood";
    const SESSIONS: usize = 4;
    const FRAMES: usize = 60;
    let mut served = Served::start("");
    let idle_kib = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    // Outside every box: a delete that left the workspace would take it.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("kept"), "kept").unwrap();

    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let mut socket = served.connect().await;
        send(&mut socket, json!({"type": "terminal_open", "id": "t", "rows": 24, "cols": 80})).await;
        let opened = until_type(&mut socket, "terminal_opened").await;
        assert_eq!(opened["type"], "terminal_opened", "{opened}");
        let tree = "for d in $(seq 1 20); do mkdir -p tree/$d && (cd tree/$d && seq 1 250 | xargs touch); done; \
                    echo made-$((6*7))\r";
        send(&mut socket, json!({"type": "terminal_input", "id": "t", "data": tree})).await;
        loop {
            let frame = next(&mut socket).await;
            if frame["type"] == "terminal_output" && frame["data"].as_str().is_some_and(|d| d.contains("made-42")) {
                break;
            }
        }
        sessions.push(socket);
    }

    let escape = outside.path().to_string_lossy().into_owned();
    let frames = move |frame: usize| -> Value {
        let id = format!("f{frame}");
        if frame + 1 == FRAMES {
            return json!({"type": "files_delete", "id": id, "paths": [format!("../..{escape}/kept")]});
        }
        if frame.is_multiple_of(3) {
            let content = "x".repeat(16 << 10);
            let files: Vec<Value> =
                (0..64).map(|n| json!({"path": format!("w{frame}/f{n}.txt"), "content": content})).collect();
            return json!({"type": "files_write", "id": id, "files": files});
        }
        let mut paths: Vec<String> = (1..=20).map(|d| format!("tree/{d}")).collect();
        paths.push(format!("w{}", frame - 1));
        paths.extend((paths.len()..1000).map(|n| format!("gone/{frame}/{n}")));
        json!({"type": "files_delete", "id": id, "paths": paths})
    };
    let writes = (0..FRAMES - 1).filter(|frame| frame.is_multiple_of(3)).count();
    let deletes = FRAMES - 1 - writes;
    // Each session's frames go out from a task of their own while nobody
    // reads the answers.
    let mut readers = Vec::new();
    let mut senders = Vec::new();
    for socket in sessions {
        let (mut sink, stream) = socket.split();
        let frames = frames.clone();
        senders.push(tokio::spawn(async move {
            for frame in 0..FRAMES {
                sink.send(Message::Text(frames(frame).to_string().into())).await.unwrap();
            }
            sink
        }));
        readers.push(stream);
    }
    let flood_started = Instant::now();
    victim_is_served(&served, ATTACK).await;
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(flood_started.elapsed())).await;
    victim_is_served(&served, ATTACK).await;

    // Now the clients read: one answer per frame, in order.
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for stream in &mut readers {
        let mut answered = 0;
        while answered < FRAMES {
            let message = tokio::time::timeout(Duration::from_secs(120), stream.next())
                .await
                .expect("an answer within 120 s")
                .unwrap()
                .unwrap();
            let Message::Text(text) = message else { continue };
            let frame: Value = serde_json::from_str(&text).unwrap();
            if frame["id"] != format!("f{answered}") {
                continue;
            }
            let code = match frame["type"].as_str() {
                Some("error") => format!("error {}", frame["code"].as_str().unwrap_or("")),
                other => other.unwrap_or("").to_string(),
            };
            *codes.entry(code).or_default() += 1;
            answered += 1;
        }
    }
    let flood_seconds = flood_started.elapsed().as_secs_f64();
    // The sockets close with the test; the server ends their sessions.
    let _sinks: Vec<_> = futures_util::future::join_all(senders).await;
    let peak_kib = peak.finish();
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "frames sent and answered (4 sessions x 60)", SESSIONS * FRAMES);
    record(ATTACK, "seconds until every answer was read", format!("{flood_seconds:.1}"));
    record(ATTACK, "server RSS growth during the floods (KiB)", grown);
    assert_eq!(codes.get("files_written"), Some(&(SESSIONS * writes)), "{codes:?}");
    assert_eq!(codes.get("files_deleted"), Some(&(SESSIONS * deletes)), "{codes:?}");
    assert_eq!(codes.get("error invalid_path"), Some(&SESSIONS), "the way out is refused: {codes:?}");
    assert_eq!(std::fs::read_to_string(outside.path().join("kept")).unwrap(), "kept");
    assert!(grown < ALLOWED_GROWTH_KIB, "the server grew by {grown} KiB under {SESSIONS} write and delete floods");

    served.terminate();
    let status = served.wait(Duration::from_secs(60));
    assert!(status.success(), "the server exited with {status}");
}
