//! `git` frames (`docs/protocol.md`, "Git"): refusals of what is not
//! allowed; on the native backend (a real box, the host's git through its
//! /usr), a repository's round trip from `init` to a branch switch that the
//! workspace watch brings back, the author, the output bound, a command
//! that hangs stopped at the time limit with nothing left running, and a
//! flood of frames from one session kept to its queue.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytesbox_server::git::{GUEST_AUTHOR, MAX_OUTPUT_BYTES, QUEUED_COMMANDS};
use serde_json::{json, Value};

use crate::test_server::TestServer;
use crate::{connect, next, run, send, stdout, until_done, Socket};

fn git(id: &str, args: &[&str]) -> Value {
    json!({"type": "git", "id": id, "args": args})
}

/// The answer to git command `id` (`git_result` or `git_error`); other
/// frames go to `others`.
pub(crate) async fn answer(socket: &mut Socket, id: &str, others: &mut Vec<Value>) -> Value {
    loop {
        let frame = next(socket).await;
        if (frame["type"] == "git_result" || frame["type"] == "git_error") && frame["id"] == id {
            return frame;
        }
        others.push(frame);
    }
}

/// Runs `args` and expects git's own success; returns its stdout.
pub(crate) async fn git_ok(socket: &mut Socket, id: &str, args: &[&str]) -> String {
    send(socket, git(id, args)).await;
    let frame = answer(socket, id, &mut Vec::new()).await;
    assert_eq!((frame["type"].as_str(), frame["status"].as_str()), (Some("git_result"), Some("ok")), "{frame}");
    decoded(&frame, "stdout")
}

fn decoded(frame: &Value, stream: &str) -> String {
    let data = frame[stream].as_str().unwrap();
    match frame[format!("{stream}_encoding")].as_str() {
        Some("base64") => {
            String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(data).unwrap()).into_owned()
        }
        _ => data.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_frames_that_could_run_programs_or_leave_the_workspace_are_refused() {
    let server = TestServer::new().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let nul = "a\0b";
    for (n, args) in [
        &[][..],
        &["-c", "core.pager=sh -c id", "log"],
        &["--exec-path=/tmp", "status"],
        &["clone", "/etc"],
        &["config", "core.editor", "sh"],
        &["diff", "--no-index", "/etc/passwd", "x"],
        &["diff", "--outp=/tmp/x"],
        &["commit", "-F", "/etc/shadow"],
        &["log", "--ext-diff"],
        &["add", "--", "/etc/passwd"],
        &["add", nul],
    ]
    .iter()
    .enumerate()
    {
        let id = format!("g{n}");
        send(&mut socket, git(&id, args)).await;
        let frame = answer(&mut socket, &id, &mut Vec::new()).await;
        assert_eq!(
            (frame["type"].as_str(), frame["code"].as_str()),
            (Some("git_error"), Some("invalid_spec")),
            "{args:?}: {frame}"
        );
    }
    send(&mut socket, git("bad id!", &["status"])).await;
    let frame = next(&mut socket).await;
    assert_eq!(frame["code"], "invalid_spec", "{frame}");
    send(&mut socket, json!({"type": "git", "id": "x", "args": ["status"], "shell": "sh"})).await;
    let frame = next(&mut socket).await;
    assert_eq!((frame["type"].as_str(), frame["code"].as_str()), (Some("error"), Some("invalid_message")), "{frame}");
    assert_eq!(server.backend.live_boxes(), 0, "no refused frame made a box");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_round_trip_in_the_box_and_a_switch_reaches_the_watch() {
    let test = "a_repository_round_trip_in_the_box_and_a_switch_reaches_the_watch";
    let Some(server) = TestServer::new().start_native(test).await else { return };
    let (mut socket, _) = connect(&server.url).await;
    send(&mut socket, json!({"type": "files_watch"})).await;
    assert_eq!(next(&mut socket).await["type"], "files_watching");

    // The files come with the first command, as the IDE sends them.
    let init = json!({"type": "git", "id": "init", "args": ["init", "-b", "main"],
        "files": [{"path": "notes.txt", "content": "v1\n"}, {"path": "ünï code.txt", "content": "u\n"}]});
    send(&mut socket, init).await;
    let frame = answer(&mut socket, "init", &mut Vec::new()).await;
    assert_eq!(frame["status"], "ok", "{frame}");
    assert_eq!(frame["fresh_box"], true, "the session had no box: {frame}");
    let status = git_ok(&mut socket, "s1", &["status", "--porcelain=v2", "-z", "--untracked-files=all"]).await;
    assert!(status.contains("? notes.txt\0") && status.contains("? ünï code.txt\0"), "unquoted names: {status:?}");
    git_ok(&mut socket, "add", &["add", "--all"]).await;
    git_ok(&mut socket, "c1", &["commit", "-m", "first"]).await;
    let log = git_ok(&mut socket, "log1", &["log", "--format=%an <%ae> %s"]).await;
    assert_eq!(log, format!("{} <{}> first\n", GUEST_AUTHOR.0, GUEST_AUTHOR.1), "a guest's commits are Guest's");

    // A branch with a change, committed; back on main the watch reports
    // the file as it is there.
    git_ok(&mut socket, "b", &["switch", "--create", "feature"]).await;
    let change = json!({"type": "git", "id": "add2", "args": ["add", "notes.txt"],
        "files": [{"path": "notes.txt", "content": "v2 on feature\n"}]});
    send(&mut socket, change).await;
    assert_eq!(answer(&mut socket, "add2", &mut Vec::new()).await["status"], "ok");
    git_ok(&mut socket, "c2", &["commit", "-m", "second"]).await;
    let branches = git_ok(&mut socket, "br", &["branch", "--format=%(refname:short)"]).await;
    assert_eq!(branches, "feature\nmain\n");
    let mut others = Vec::new();
    send(&mut socket, git("back", &["switch", "main"])).await;
    assert_eq!(answer(&mut socket, "back", &mut others).await["status"], "ok");
    let deadline = Instant::now() + Duration::from_secs(20);
    let reported = |frames: &[Value]| {
        frames.iter().any(|f| {
            f["type"] == "files_changed"
                && f["changes"].as_array().unwrap().iter().any(|c| c["path"] == "notes.txt" && c["data"] == "v1\n")
        })
    };
    while !reported(&others) {
        assert!(Instant::now() < deadline, "the switch never reached the watch: {others:?}");
        others.push(next(&mut socket).await);
    }
    let graph = git_ok(&mut socket, "log2", &["log", "--graph", "--all", "--format=%s"]).await;
    assert_eq!(graph, "* second\n* first\n");

    // Git's own failure is an answer, not an error.
    send(&mut socket, git("nope", &["switch", "no-such-branch"])).await;
    let frame = answer(&mut socket, "nope", &mut Vec::new()).await;
    assert_eq!((frame["status"].as_str(), frame["exit_code"].as_i64()), (Some("nonzero"), Some(128)), "{frame}");
    assert!(decoded(&frame, "stderr").contains("no-such-branch"), "{frame}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_is_bounded_a_hang_is_stopped_and_a_flood_stays_in_the_queue() {
    let test = "output_is_bounded_a_hang_is_stopped_and_a_flood_stays_in_the_queue";
    let limited = TestServer::new().sessions(|s| s.git_time_limit = Duration::from_secs(2));
    let Some(server) = limited.start_native(test).await else { return };
    let (mut socket, _) = connect(&server.url).await;
    // A repository with a 1.5 MiB file and a pre-commit hook that hangs.
    let setup = "git init -q -b main && head -c 1572864 /dev/zero | tr '\\0' x > big.txt && \
                 git add big.txt && git -c user.name=t -c user.email=t@t commit -qm big && \
                 printf '#!/bin/sh\\nsleep 600\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && echo ready";
    send(&mut socket, run("setup", setup)).await;
    let frames = until_done(&mut socket, "setup").await;
    assert!(stdout(&frames).contains("ready"), "{frames:?}");

    send(&mut socket, git("big", &["show", "HEAD:big.txt"])).await;
    let frame = answer(&mut socket, "big", &mut Vec::new()).await;
    assert_eq!(frame["status"], "output_limit", "past the bound the command is stopped");
    assert_eq!(frame["stdout"].as_str().unwrap().len() as u64, MAX_OUTPUT_BYTES, "with what came before it");

    let started = Instant::now();
    send(&mut socket, git("hang", &["commit", "--allow-empty", "-m", "never"])).await;
    // Behind it, files wait only up to the queue's budget in bytes.
    let seven_mib = "y".repeat(7 << 20);
    for n in 0..3 {
        let id = format!("files{n}");
        let files = json!([{"path": format!("data{n}.txt"), "content": seven_mib}]);
        send(&mut socket, json!({"type": "git", "id": id, "args": ["status"], "files": files})).await;
    }
    let refused = answer(&mut socket, "files2", &mut Vec::new()).await;
    assert_eq!(refused["code"], "too_many_git_commands", "21 MiB of files would wait: {refused}");
    let frame = answer(&mut socket, "hang", &mut Vec::new()).await;
    assert_eq!(frame["status"], "timeout", "{frame}");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped at the time limit: {:?}", started.elapsed());
    for queued in ["files0", "files1"] {
        assert_eq!(answer(&mut socket, queued, &mut Vec::new()).await["status"], "ok");
    }
    let check = "n=0; for c in /proc/[0-9]*/comm; do [ \"$(cat $c 2>/dev/null)\" = sleep ] && n=$((n+1)); done; \
                 echo sleeping=$n; ls .git/index.lock 2>/dev/null; echo end";
    send(&mut socket, run("check", check)).await;
    let frames = until_done(&mut socket, "check").await;
    assert_eq!(stdout(&frames), "sleeping=0\nend\n", "the hook's whole tree was killed, no lock left");

    // A flood from one session: one runs, a few wait, the rest are
    // refused at once, and the connection answers meanwhile.
    let flood = 60;
    for n in 0..flood {
        send(&mut socket, git(&format!("f{n}"), &["status", "--porcelain=v2"])).await;
    }
    send(&mut socket, json!({"type": "ping", "nonce": "flood"})).await;
    let (mut results, mut refused, mut pong) = (0, 0, false);
    while results + refused < flood {
        let frame = next(&mut socket).await;
        match frame["type"].as_str() {
            Some("git_result") => results += 1,
            Some("git_error") => {
                assert_eq!(frame["code"], "too_many_git_commands", "{frame}");
                refused += 1;
            }
            Some("pong") => {
                pong = true;
            }
            _ => {}
        }
    }
    assert!(pong || next(&mut socket).await["type"] == "pong", "the ping was answered");
    assert!(results <= QUEUED_COMMANDS + 2, "{results} ran: more than the queue holds");
    assert!(refused >= flood - QUEUED_COMMANDS - 2, "{refused} refused");
    server.stop().await;
}
