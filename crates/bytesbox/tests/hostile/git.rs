//! `git` frames as an attacker uses them (`docs/git.md`): every session of
//! one guest address sends hundreds of git commands and never reads the
//! answers. Each session runs one command at a time from a queue of 8 and
//! refuses the rest at once, the server's memory stays bounded, a victim
//! at another address is served, and SIGTERM still ends the server. And a
//! signed-in user whose sessions each fill their project's `.git` close to
//! the workspace's size and have it saved and restored at once: the server
//! holds at most two repositories at a time (`docs/git.md`, "Saved with the
//! project"). And a signed-in user's connection that switches its session
//! between two projects thousands of times: each `project` frame costs a
//! rate-limit token, so most are refused at once.

use std::time::Duration;

use bytesbox_testkit::require_root;
use serde_json::json;

use crate::connections::{victim_is_served, RssPeak, ALLOWED_GROWTH_KIB};
use crate::report::record;
use crate::served::{next, post_json, send, sign_up_with_token, token_client, Served, Socket};

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

/// Sessions of one user that save and restore large repositories at once.
const REPOSITORIES: usize = 4;
/// What each repository holds beyond git's own files: random bytes, which
/// no compression shrinks, under the default workspace's 64 MiB.
const REPOSITORY_MIB: u64 = 40;
/// The bound on the server's growth: the saves' and restores' 160 MiB
/// (one such repository and its archive at a time), and room for the rest.
const REPOSITORIES_GROWTH_KIB: u64 = 256 * 1024;

/// A session of `secret`'s that holds `project`.
async fn session_on(served: &Served, secret: &str, project: &str) -> Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut request = format!("ws://{}/api/v1/ws", served.address).into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {secret}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "hello");
    send(&mut socket, json!({"type": "project", "id": project})).await;
    assert_eq!(next(&mut socket).await["type"], "project_attached");
    socket
}

/// Sends git command `args` and returns its answer's stdout, and the next
/// `project_git` frame when `then_saved`.
async fn git_then(
    socket: &mut Socket,
    id: &str,
    args: &[&str],
    then_saved: bool,
) -> (String, Option<serde_json::Value>) {
    send(socket, json!({"type": "git", "id": id, "args": args})).await;
    let mut stdout = None;
    loop {
        let frame = next(socket).await;
        if frame["type"] == "git_result" && frame["id"] == id {
            assert_eq!(frame["status"], "ok", "{frame}");
            stdout = Some(frame["stdout"].as_str().unwrap().to_string());
            if !then_saved {
                return (stdout.unwrap(), None);
            }
        } else if frame["type"] == "git_error" && frame["id"] == id {
            panic!("{frame}");
        } else if frame["type"] == "project_git" {
            if let Some(stdout) = stdout.take() {
                return (stdout, Some(frame));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_repositories_saved_and_restored_at_once_stay_in_bounds() {
    if !require_root("large_repositories_saved_and_restored_at_once_stay_in_bounds") {
        return;
    }
    const ATTACK: &str = "git-large-repositories";
    let room = (REPOSITORIES as u64 * (REPOSITORY_MIB + 8)) << 20;
    let served = Served::start(&format!("[plans.default]\nmax_bytes = {room}\n"));
    let base = format!("http://{}", served.address);
    let secret = sign_up_with_token(&base, "repositories").await;
    let api = token_client(&secret);
    let mut projects = Vec::new();
    for n in 0..REPOSITORIES {
        let made = post_json(&api, format!("{base}/api/v1/projects"), &json!({"name": format!("r{n}")})).await;
        projects.push(made["project"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string());
    }
    let mut sessions = Vec::new();
    for project in &projects {
        let mut socket = session_on(&served, &secret, project).await;
        git_then(&mut socket, "init", &["init", "-b", "main"], true).await;
        let fill = format!("head -c {} /dev/urandom > .git/ballast", REPOSITORY_MIB << 20);
        let run =
            json!({"type": "run", "id": "fill", "language": "bash", "files": [{"path": "main.sh", "content": fill}]});
        send(&mut socket, run).await;
        while next(&mut socket).await["type"] != "done" {}
        sessions.push(socket);
    }
    let idle_kib = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    // Every session saves its repository at once.
    let saves = sessions.iter_mut().map(|socket| async move {
        git_then(socket, "commit", &["commit", "--allow-empty", "-m", "ballast"], true).await.1.unwrap()
    });
    for saved in futures_util::future::join_all(saves).await {
        assert_eq!(saved["event"], "saved", "{saved}");
        assert!(saved["bytes"].as_u64().unwrap() > REPOSITORY_MIB << 20, "{saved}");
    }
    drop(sessions);
    // New sessions (the old ones may linger in their grace period, their
    // boxes too) restore them at once.
    let mut sessions = Vec::new();
    for project in &projects {
        sessions.push(session_on(&served, &secret, project).await);
    }
    let restores = sessions
        .iter_mut()
        .map(|socket| async move { git_then(socket, "log", &["log", "--format=%s"], false).await.0 });
    for log in futures_util::future::join_all(restores).await {
        assert_eq!(log, "ballast\n");
    }
    let peak_kib = peak.finish();
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "server RSS growth, 4 x 40 MiB saved and restored (KiB)", grown);
    assert!(grown < REPOSITORIES_GROWTH_KIB, "the server grew by {grown} KiB");
    victim_is_served(&served, ATTACK).await;
    drop(sessions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_project_switches_is_rate_limited() {
    if !require_root("a_flood_of_project_switches_is_rate_limited") {
        return;
    }
    const ATTACK: &str = "project-switch-flood";
    const FRAMES: usize = 2000;
    let served = Served::start("");
    let base = format!("http://{}", served.address);
    let secret = sign_up_with_token(&base, "switcher").await;
    let api = token_client(&secret);
    let mut projects = Vec::new();
    for name in ["a", "b"] {
        let made = post_json(&api, format!("{base}/api/v1/projects"), &json!({"name": name})).await;
        projects.push(made["project"]["id"].as_str().unwrap_or_else(|| panic!("{made}")).to_string());
    }
    let mut socket = session_on(&served, &secret, &projects[0]).await;
    let idle_kib = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    for n in 0..FRAMES {
        send(&mut socket, json!({"type": "project", "id": projects[(n + 1) % 2]})).await;
    }
    send(&mut socket, json!({"type": "ping", "nonce": "end"})).await;
    let (mut attached, mut limited) = (0usize, 0usize);
    loop {
        let frame = next(&mut socket).await;
        match frame["type"].as_str() {
            Some("project_attached") => attached += 1,
            Some("project_error") if frame["code"] == "rate_limited" => limited += 1,
            Some("project_error") => panic!("{frame}"),
            Some("pong") => break,
            _ => {}
        }
    }
    victim_is_served(&served, ATTACK).await;
    let peak_kib = peak.finish();
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "project frames attached, rate-limited", format!("{attached}, {limited}"));
    record(ATTACK, "server RSS growth during the flood (KiB)", grown);
    assert_eq!(attached + limited, FRAMES, "every frame answered");
    assert!(limited > FRAMES * 9 / 10, "only {limited} of {FRAMES} rate-limited, {attached} attached");
    assert!(grown < ALLOWED_GROWTH_KIB, "the server grew by {grown} KiB under {FRAMES} project frames");
}
