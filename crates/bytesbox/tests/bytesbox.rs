//! The `bytesbox` binary itself: `serve` as a real process (SIGTERM
//! drain, memory under a slow reader) and `run` (exit codes). Needs root
//! for the native backend: fails in CI without it, skips loudly elsewhere.

// Tests may panic on a broken set-up; that is how they fail.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytesbox_testkit::require_root;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[allow(dead_code, reason = "the fleet test uses the benchmarks' fleet, not the rest")]
#[path = "../src/bin/bench_common/mod.rs"]
mod bench_common;
#[path = "bytesbox/docker.rs"]
mod docker;
#[path = "bytesbox/fleet.rs"]
mod fleet;
#[path = "bytesbox/saves.rs"]
mod saves;

#[path = "common/docker_engine.rs"]
mod docker_engine;
#[path = "common/served.rs"]
mod served;
use served::*;

fn bash_run(id: &str, script: &str) -> Value {
    json!({"type": "run", "id": id, "language": "bash", "files": [{"path": "main.sh", "content": script}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_runs_then_destroys_every_box_and_exits_zero() {
    if !require_root("sigterm_drains_runs_then_destroys_every_box_and_exits_zero") {
        return;
    }
    let mut served = Served::start("[sessions]\ndrain_secs = 2\n");
    assert_eq!(get_status(&served.address, "/readyz").await, Some(200));
    let mut socket = served.connect().await;
    // One run that finishes within the drain deadline, one that never
    // would: one project, two entries (runs of a session share its
    // workspace).
    let files = json!([
        {"path": "quick.sh", "content": "echo started; sleep 1; echo finished"},
        {"path": "forever.sh", "content": "echo started; sleep 600"}]);
    for id in ["quick", "forever"] {
        let run = json!({"type": "run", "id": id, "language": "bash", "entry": format!("{id}.sh"), "files": files});
        send(&mut socket, run).await;
    }
    let mut started = 0;
    while started < 2 {
        let frame = next(&mut socket).await;
        if frame["type"] == "output" && frame["data"] == "started\n" {
            started += 1;
        }
    }
    assert!(!served.instance_cgroups().is_empty(), "the server has a cgroup tree while it runs");
    served.terminate();
    let drain_began = Instant::now();
    // Draining: not ready, and new runs are refused with a clear code.
    while get_status(&served.address, "/readyz").await == Some(200) {
        assert!(drain_began.elapsed() < Duration::from_secs(2), "readyz still says ready");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    send(&mut socket, bash_run("late", "echo too late")).await;
    let mut endings = std::collections::HashMap::new();
    while endings.len() < 3 {
        let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await
        else {
            break;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        match frame["type"].as_str() {
            Some("exit") if frame["stage"] == "run" => {
                endings.insert(frame["id"].as_str().unwrap().to_string(), frame["status"].clone());
            }
            Some("error") => {
                endings.insert(frame["id"].as_str().unwrap_or_default().to_string(), frame["code"].clone());
            }
            _ => {}
        }
    }
    assert_eq!(endings.get("late"), Some(&json!("shutting_down")), "{endings:?}");
    assert_eq!(endings.get("quick"), Some(&json!("ok")), "a run within the deadline finishes: {endings:?}");
    assert_eq!(endings.get("forever"), Some(&json!("killed")), "a run past the deadline is killed: {endings:?}");
    let status = served.wait(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    assert!(drain_began.elapsed() >= Duration::from_secs(2), "the drain waited for its deadline");
    assert!(served.instance_cgroups().is_empty(), "leftover cgroups: {:?}", served.instance_cgroups());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_holds_its_program_back_and_server_memory_stays_bounded() {
    if !require_root("a_slow_reader_holds_its_program_back_and_server_memory_stays_bounded") {
        return;
    }
    // The default maxima allow 16 MiB of output per stream (8 MiB for a
    // guest); this server allows more so that the flood outlasts the buffers.
    let raised = "output_bytes = 1073741824\nwall_time_ms = 120000\ncpu_time_ms = 120000\n";
    let served = Served::start(&format!("[limits.max]\n{raised}[plans.guest.max_limits]\n{raised}"));
    let mut socket = served.connect().await;
    // 64 MiB of output, allowed by the run's own output limit: twice the
    // memory growth the server is allowed.
    let total: u64 = 64 * 1024 * 1024;
    let allowed_growth_kib = 32 * 1024;
    let mut flood = bash_run("flood", &format!("head -c {total} /dev/zero | tr '\\0' x; echo; echo end >&2"));
    flood["limits"] = json!({"output_bytes": total + 1024, "wall_time_ms": 120_000, "cpu_time_ms": 120_000});
    send(&mut socket, flood).await;
    // Read nothing for a while: the program must wait, not the server's
    // memory grow.
    let before = served.rss_kib();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = served.rss_kib();
    assert!(
        during < before + allowed_growth_kib,
        "server memory grew from {before} KiB to {during} KiB while the client slept"
    );
    // Then read everything: nothing was lost.
    let mut received: u64 = 0;
    let mut stderr = String::new();
    let mut peak = during;
    for frames in 0u64.. {
        let frame = next(&mut socket).await;
        if frames % 64 == 0 {
            peak = peak.max(served.rss_kib());
        }
        match frame["type"].as_str() {
            Some("output") if frame["stream"] == "stdout" => {
                let data = frame["data"].as_str().unwrap();
                received += match frame["encoding"].as_str() {
                    Some("base64") => base64_len(data),
                    _ => data.len() as u64,
                };
            }
            Some("output") => stderr.push_str(frame["data"].as_str().unwrap()),
            Some("exit") => assert_eq!(frame["status"], "ok", "{frame}"),
            Some("done") => break,
            Some("error") => panic!("{frame}"),
            _ => {}
        }
    }
    assert_eq!(received, total + 1, "every byte arrives once");
    assert_eq!(stderr, "end\n");
    assert!(peak < before + allowed_growth_kib, "server memory peaked at {peak} KiB from {before} KiB");
}

fn base64_len(text: &str) -> u64 {
    let padding = text.bytes().rev().take_while(|b| *b == b'=').count() as u64;
    text.len() as u64 / 4 * 3 - padding
}

/// `bytesbox admin drain`: the node reads the drain from the shared
/// database at its next heartbeat, leaves the load balancer's rotation
/// (`/readyz` 503) while its session goes on, and exits 0 once the session
/// is over, leaving the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_keeps_its_sessions_then_exits_and_leaves_the_fleet() {
    if !require_root("a_drained_node_keeps_its_sessions_then_exits_and_leaves_the_fleet") {
        return;
    }
    let config = "[node]\nid = \"drain-me\"\nheartbeat_secs = 1\ntimeout_secs = 5\n[sessions]\ngrace_secs = 1\n";
    let mut served = Served::start(config);
    let drain = |data: &std::path::Path| {
        Command::new(BYTESBOX)
            .args(["admin", "drain", "drain-me", "--data-dir"])
            .arg(data)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let mut socket = served.connect().await;
    send(&mut socket, bash_run("before", "echo before")).await;
    while next(&mut socket).await["type"] != "done" {}
    assert_eq!(get_status(&served.address, "/readyz").await, Some(200));
    let output = drain(served.data.path());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let began = Instant::now();
    while get_status(&served.address, "/readyz").await == Some(200) {
        assert!(began.elapsed() < Duration::from_secs(10), "readyz still says ready after the heartbeats");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get_status(&served.address, "/readyz").await, Some(503));
    // The session goes on: the drain waits for it, however long.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(served.child.try_wait().unwrap().is_none(), "a node with a session does not exit");
    send(&mut socket, bash_run("during", "echo still served")).await;
    let mut output = String::new();
    loop {
        let frame = next(&mut socket).await;
        match frame["type"].as_str() {
            Some("output") => output.push_str(frame["data"].as_str().unwrap()),
            Some("done") => break,
            Some("error") => panic!("{frame}"),
            _ => {}
        }
    }
    assert_eq!(output, "still served\n");
    // Its last session gone (and its grace over), the node exits cleanly
    // and takes its row out of the fleet.
    drop(socket);
    let status = served.wait(Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let output = drain(served.data.path());
    assert!(!output.status.success(), "the node left the fleet, so there is nothing to drain");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn run_cli(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(BYTESBOX).arg("run").args(args).current_dir(dir).output().unwrap()
}

#[test]
fn run_streams_output_and_its_exit_code_follows_the_program() {
    if !require_root("run_streams_output_and_its_exit_code_follows_the_program") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.py"), "import sys\nprint(input()[::-1])\nsys.exit(3)\n").unwrap();
    std::fs::write(dir.path().join("input.txt"), "olleh\n").unwrap();
    std::fs::write(dir.path().join("broken.c"), "int main(void) { return nope; }\n").unwrap();
    let output = run_cli(&["main.py", "--stdin", "input.txt"], dir.path());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello\n");
    assert_eq!(output.status.code(), Some(3), "{}", String::from_utf8_lossy(&output.stderr));
    let output = run_cli(&["broken.c"], dir.path());
    assert_eq!(output.status.code(), Some(1), "a failed compile exits 1");
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope"), "the compiler's message is shown");
}

/// `bytesbox admin create-user`: the first administrator, from the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_user_makes_an_account_the_server_signs_in() {
    let data = tempfile::tempdir().unwrap();
    let create = |username: &str, password: &str, admin: bool| {
        let mut command = Command::new(BYTESBOX);
        command.args(["admin", "create-user", "--username", username, "--data-dir"]).arg(data.path());
        if admin {
            command.arg("--admin");
        }
        command.env_remove("DATABASE_URL").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let made = create("Root", "a long admin password", true);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    assert!(String::from_utf8_lossy(&made.stdout).contains("created admin root"));

    let again = create("root", "another long password", false);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("username is taken"), "{again:?}");
    let weak = create("second", "short", false);
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 8 characters"), "{weak:?}");

    let store = bytesbox_store::Store::open_in_data_dir(data.path()).await.unwrap();
    let root = store.verify_password("root", "a long admin password").await.unwrap();
    assert_eq!(root.role, bytesbox_store::Role::Admin);
    assert_eq!(store.count_users().await.unwrap(), 1, "the failed attempts made nothing");
    store.close().await;
}
