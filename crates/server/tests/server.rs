//! The server over real WebSocket and HTTP connections. Servers start
//! through `TestServer` (`server/test_server.rs`): on the unisolated host
//! double as any user, or, for tests of isolation and real limits, on the
//! native backend (those need root: they fail in CI without it and skip
//! loudly elsewhere). The planner is mostly a small shell-only one; the
//! language catalog has its own tests.

// Tests may panic on a broken set-up; that is how they fail.
#![allow(clippy::unwrap_used)]

use bytesbox_testkit::{require_root, wait_until};
use std::time::Duration;

use bytesbox_engine::{AdmissionConfig, StageKind, StagePlan};
use bytesbox_sandbox::RunSpec;
use bytesbox_server::planner::{Plan, PlanError, PlanRequest, Planner};
use bytesbox_server::rate_limit::RateLimitConfig;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use test_server::{Server, Stores, TestServer};
use tokio_tungstenite::tungstenite::Message;

#[path = "server/accounts.rs"]
mod accounts;
#[path = "server/api.rs"]
mod api;
#[path = "server/authz.rs"]
mod authz;
#[path = "server/egress.rs"]
mod egress;
#[path = "server/files.rs"]
mod files;
#[path = "server/fleet.rs"]
mod fleet;
#[path = "server/gateway.rs"]
mod gateway;
#[path = "server/git.rs"]
mod git;
#[path = "server/git_saved.rs"]
mod git_saved;
#[path = "server/idle_boxes.rs"]
mod idle_boxes;
#[path = "server/language_servers.rs"]
mod language_servers;
#[path = "server/monitoring.rs"]
mod monitoring;
#[path = "server/notebooks.rs"]
mod notebooks;
#[path = "server/piston.rs"]
mod piston;
#[path = "server/projects.rs"]
mod projects;
#[path = "server/terminals.rs"]
mod terminals;
#[path = "server/test_server.rs"]
mod test_server;

/// Makes, for each case `module::name(Stores)`, a test on SQLite and
/// files (`sqlite_and_files::name`) and one on PostgreSQL and S3
/// (`postgres_and_s3::name`, skipped through the testkit without them: a
/// failure in CI).
macro_rules! on_both_stores {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite_and_files {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::$module::$case(crate::Stores::SqliteAndFiles).await;
                }
            )*
        }
        mod postgres_and_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let test = concat!("postgres_and_s3::", stringify!($case));
                    let Some(stores) = crate::Stores::postgres_and_s3(test) else { return };
                    crate::$module::$case(stores).await;
                }
            )*
        }
    };
}

on_both_stores!(
    accounts::sign_up_in_and_out_with_http_only_cookies,
    accounts::a_wrong_password_and_an_unknown_user_get_the_same_answer,
    accounts::cookie_writes_need_the_csrf_token_and_an_allowed_origin_tokens_do_not,
    accounts::websocket_upgrades_from_other_origins_are_refused,
    accounts::dns_rebinding_is_refused_loopback_and_the_public_url_are_served,
    accounts::sign_in_attempts_are_rate_limited_per_address_and_username,
    accounts::a_guesser_cannot_lock_the_owner_out_of_sign_in,
    accounts::sign_ups_are_capped_per_address_per_day,
    accounts::the_storage_budget_holds_across_accounts_and_admins_see_who_holds_what,
    accounts::without_guest_mode_every_run_api_needs_a_sign_in,
    accounts::plans_limit_runs_on_every_api,
    accounts::each_browser_at_a_guest_address_has_its_own_runs_within_the_address_cap,
    accounts::admins_see_users_sessions_and_boxes_change_plans_disable_and_kill,
    accounts::a_session_can_be_resumed_only_by_its_owner,
    accounts::a_run_gives_back_its_place_before_its_done_arrives,
    authz::no_user_reaches_another_users_objects_on_any_route,
    fleet::nodes_heartbeat_into_the_fleet_and_a_drained_node_is_not_ready,
    monitoring::the_dashboard_shows_runs_errors_and_users_to_admins_only,
    git_saved::a_signed_in_users_commit_comes_back_in_a_new_session,
    git_saved::guests_save_nothing_and_nobody_attaches_to_anothers_project,
    git_saved::a_repository_over_the_quota_is_refused_and_the_saved_copy_stays,
    git_saved::a_hostile_git_folder_is_read_within_bounds_following_nothing,
    projects::projects_and_files_are_versioned_and_stale_writes_get_409,
    projects::quotas_answer_413_and_say_which,
    projects::zips_round_trip_and_hostile_zips_are_refused,
    projects::another_user_gets_404_and_a_guest_403,
    projects::a_saved_project_runs_by_id_and_its_runs_are_recorded,
    projects::zip_bombs_are_refused_as_they_expand_and_leave_nothing,
    projects::an_import_whose_client_hangs_up_finishes_or_cleans_up,
);

/// `sh main.sh`, with an optional `build.sh` compile stage.
#[derive(Debug)]
struct ShellPlanner;

impl Planner for ShellPlanner {
    fn runtimes(&self) -> Vec<bytesbox_server::planner::RuntimeInfo> {
        vec![bytesbox_server::planner::RuntimeInfo {
            id: "sh".into(),
            name: "POSIX shell".into(),
            aliases: vec![],
            extensions: vec!["sh".into()],
            named_only: false,
            sql_results: false,
            available: true,
            version: Some("posix".into()),
            reason: None,
        }]
    }

    fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        if request.language.as_deref().is_some_and(|l| l != "sh") {
            return Err(PlanError { code: "unknown_language", message: "only sh here".into() });
        }
        let mut stages = Vec::new();
        if request.files.iter().any(|f| f.path == "build.sh") {
            stages.push(StagePlan { kind: StageKind::Compile, spec: RunSpec::command(["sh", "build.sh"]) });
        }
        let mut argv = vec!["sh".to_string(), "main.sh".to_string()];
        argv.extend(request.args.iter().cloned());
        let spec = RunSpec {
            argv,
            limits: request.limits.clone(),
            stdio: request.stdio,
            stdin: request.stdin.clone(),
            close_stdin: request.close_stdin,
            ..RunSpec::default()
        };
        stages.push(StagePlan { kind: StageKind::Run, spec });
        Ok(Plan { language: "sh".into(), version: "posix".into(), entry: None, stages, keep: vec![], server: None })
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> (Socket, Value) {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let hello = next(&mut socket).await;
    assert_eq!(hello["type"], "hello");
    (socket, hello)
}

async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::Text(value.to_string().into())).await.unwrap();
}

async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(20), socket.next()).await.expect("no frame").unwrap().unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Frames of run `id` until its `done` or `error`.
async fn until_done(socket: &mut Socket, id: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    loop {
        let frame = next(socket).await;
        if frame["id"] != id {
            continue;
        }
        let end = frame["type"] == "done" || frame["type"] == "error";
        frames.push(frame);
        if end {
            return frames;
        }
    }
}

fn stdout(frames: &[Value]) -> String {
    frames
        .iter()
        .filter(|f| f["type"] == "output" && f["stream"] == "stdout")
        .map(|f| f["data"].as_str().unwrap())
        .collect()
}

fn run(id: &str, script: &str) -> Value {
    json!({"type": "run", "id": id, "language": "sh", "files": [{"path": "main.sh", "content": script}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_stream_output_and_end_with_one_done() {
    let server = TestServer::new().start().await;
    let (mut socket, hello) = connect(&server.url).await;
    assert_eq!(hello["protocol"], 1);
    send(&mut socket, run("r1", "echo hello; echo oops >&2; exit 3")).await;
    let frames = until_done(&mut socket, "r1").await;
    let types: Vec<&str> = frames.iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"accepted"));
    assert!(types.contains(&"stage"));
    assert_eq!(stdout(&frames), "hello\n");
    let exit = frames.iter().find(|f| f["type"] == "exit").unwrap();
    assert_eq!(exit["status"], "nonzero");
    assert_eq!(exit["code"], 3);
    assert_eq!(types.last(), Some(&"done"));

    // A compile stage that fails ends the run without a run stage.
    let broken = json!({"type": "run", "id": "r2", "language": "sh", "files": [
        {"path": "build.sh", "content": "echo 'syntax error' >&2; exit 1"},
        {"path": "main.sh", "content": "echo never"}]});
    send(&mut socket, broken).await;
    let frames = until_done(&mut socket, "r2").await;
    let stages: Vec<&str> =
        frames.iter().filter(|f| f["type"] == "stage").map(|f| f["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["compile"]);
    assert!(frames.iter().any(|f| f["type"] == "output" && f["stream"] == "stderr" && f["data"] == "syntax error\n"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_input_after_the_prompt_and_stop() {
    if !require_root("interactive_input_after_the_prompt_and_stop") {
        return;
    }
    // A PTY: the host double has none.
    let server = TestServer::new().native().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let mut ask = run("ask", "printf 'Name? '; read name; echo \"Hello, $name!\"");
    ask["tty"] = json!({"rows": 24, "cols": 80});
    send(&mut socket, ask).await;
    // Answer only once the prompt is on screen.
    let mut seen = String::new();
    while !seen.contains("Name? ") {
        let frame = next(&mut socket).await;
        if frame["type"] == "output" {
            seen.push_str(frame["data"].as_str().unwrap());
        }
    }
    send(&mut socket, json!({"type": "stdin", "id": "ask", "data": "Ada\r"})).await;
    let frames = until_done(&mut socket, "ask").await;
    assert!(stdout(&frames).contains("Hello, Ada!"), "{frames:?}");

    send(&mut socket, run("loop", "echo up; while :; do :; done")).await;
    loop {
        let frame = next(&mut socket).await;
        if frame["type"] == "output" && frame["data"] == "up\n" {
            break;
        }
    }
    send(&mut socket, json!({"type": "kill", "id": "loop"})).await;
    let frames = until_done(&mut socket, "loop").await;
    let exit = frames.iter().find(|f| f["type"] == "exit").unwrap();
    assert_eq!(exit["status"], "killed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_left_unanswered_gets_a_notice_then_ends_as_input_timeout() {
    if !require_root("a_prompt_left_unanswered_gets_a_notice_then_ends_as_input_timeout") {
        return;
    }
    // Waits are read from /proc: the host double runs no supervisor.
    let server = TestServer::new().native().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let mut wait = run("wait", "read line; echo never");
    wait["limits"] = json!({"wall_time_ms": 20000, "input_wait_ms": 2000});
    send(&mut socket, wait).await;
    let frames = until_done(&mut socket, "wait").await;
    let notices: Vec<&Value> = frames.iter().filter(|f| f["type"] == "notice").collect();
    assert_eq!(notices.len(), 1, "{frames:?}");
    assert_eq!(notices[0]["stage"], "run");
    // About a second before the end (the checks may come late).
    assert!(notices[0]["text"].as_str().unwrap().contains("will be stopped in"), "{notices:?}");
    let exit = frames.iter().find(|f| f["type"] == "exit").unwrap();
    assert_eq!(exit["status"], "input_timeout", "{exit}");
    assert!(!stdout(&frames).contains("never"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_clear_errors_and_the_connection_survives() {
    let server = TestServer::new().start().await;
    let (mut socket, _) = connect(&server.url).await;
    socket.send(Message::Text("{not json".into())).await.unwrap();
    let frame = next(&mut socket).await;
    assert_eq!((frame["type"].as_str(), frame["code"].as_str()), (Some("error"), Some("invalid_message")));
    send(&mut socket, json!({"type": "stdin", "id": "ghost", "data": "x"})).await;
    assert_eq!(next(&mut socket).await["code"], "unknown_run");
    let hostile =
        json!({"type": "run", "id": "h", "language": "sh", "files": [{"path": "../../etc/passwd", "content": "x"}]});
    send(&mut socket, hostile).await;
    let frame = next(&mut socket).await;
    assert_eq!((frame["code"].as_str(), frame["id"].as_str()), (Some("invalid_path"), Some("h")));
    let greedy = json!({"type": "run", "id": "g", "language": "sh", "files": [{"path": "main.sh", "content": "true"}],
        "limits": {"memory_bytes": 1u64 << 50}});
    send(&mut socket, greedy).await;
    assert_eq!(next(&mut socket).await["code"], "limit_exceeded");
    send(&mut socket, json!({"type": "run", "id": "x", "language": "cobol", "files": []})).await;
    assert_eq!(next(&mut socket).await["code"], "unknown_language");
    // Still serving.
    send(&mut socket, json!({"type": "ping", "nonce": "n1"})).await;
    assert_eq!(next(&mut socket).await, json!({"type": "pong", "nonce": "n1"}));
    send(&mut socket, run("ok", "echo fine")).await;
    assert_eq!(stdout(&until_done(&mut socket, "ok").await), "fine\n");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_within_the_grace_period_resumes_the_session_and_its_output() {
    let grace = Duration::from_secs(3);
    let server = TestServer::new().grace(grace).start().await;
    let (mut socket, hello) = connect(&server.url).await;
    let token = hello["resume"].as_str().unwrap().to_string();
    send(&mut socket, run("slow", "echo before; sleep 0.5; echo after")).await;
    loop {
        let frame = next(&mut socket).await;
        if frame["type"] == "output" && frame["data"] == "before\n" {
            break;
        }
    }
    drop(socket);
    // Away until the run has ended (well within the grace period).
    let session = server.sessions.find(hello["session"].as_str().unwrap()).unwrap();
    wait_until("the run to end while its client is away", grace, || async {
        !session.is_connected() && session.active_runs() == 0
    })
    .await;
    let (mut socket, again) = connect(&format!("{}?resume={token}", server.url)).await;
    assert_eq!(again["session"], hello["session"], "the same session");
    let frames = until_done(&mut socket, "slow").await;
    assert_eq!(stdout(&frames), "after\n", "output produced while away is delivered");
    assert_eq!(frames.iter().find(|f| f["type"] == "exit").unwrap()["status"], "ok");
    assert_eq!(server.backend.list().await.len(), 1, "the session kept its box");

    // Gone for longer than the grace period: the session and its box end.
    drop(socket);
    let backend = server.backend.clone();
    wait_until("the box to go with the session", 10 * grace, || async { backend.list().await.is_empty() }).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}?resume={token}", server.url)).await.unwrap();
    assert_eq!(next(&mut socket).await["code"], "unknown_session");
    assert_eq!(server.sessions.count(), 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_languages_run_over_the_websocket() {
    if !require_root("catalog_languages_run_over_the_websocket") {
        return;
    }
    // The toolchains in a real box.
    let server = TestServer::new().catalog().native().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let python = json!({"type": "run", "id": "py", "files": [
        {"path": "main.py", "content": "from pkg.util import twice\nprint(twice(21))\n"},
        {"path": "pkg/__init__.py", "content": ""},
        {"path": "pkg/util.py", "content": "def twice(x):\n    return 2 * x\n"}]});
    send(&mut socket, python).await;
    let frames = until_done(&mut socket, "py").await;
    let accepted = frames.iter().find(|f| f["type"] == "accepted").unwrap();
    assert_eq!(accepted["language"], "python");
    assert!(accepted["version"].as_str().unwrap().starts_with('3'));
    assert_eq!(stdout(&frames), "42\n");

    let c = json!({"type": "run", "id": "c", "files": [{"path": "main.c", "content": "int main(void) { return missing; }\n"}]});
    send(&mut socket, c).await;
    let frames = until_done(&mut socket, "c").await;
    let exit = frames.iter().find(|f| f["type"] == "exit").unwrap();
    assert_eq!((exit["stage"].as_str(), exit["status"].as_str()), (Some("compile"), Some("nonzero")));
    assert!(frames.iter().any(|f| f["type"] == "output" && f["data"].as_str().unwrap().contains("missing")));

    send(&mut socket, json!({"type": "run", "id": "x", "files": [{"path": "notes.txt", "content": "hi"}]})).await;
    let frame = next(&mut socket).await;
    assert_eq!(frame["type"], "error");
    assert_eq!(frame["id"], "x");
    server.stop().await;
}

/// One HTTP/1.1 request over a fresh connection; returns status, headers
/// and the body parsed as JSON.
async fn http(url: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String, Value) {
    let (status, head, text) = http_from(None, url, method, path, body).await;
    (status, head, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One HTTP/1.1 request, from a given local address if any; returns
/// status, headers and the raw body.
async fn http_from(
    source: Option<std::net::IpAddr>,
    url: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(source) = source {
        socket.bind(std::net::SocketAddr::new(source, 0)).unwrap();
    }
    let mut stream = socket.connect(address.parse().unwrap()).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_execute_api_runs_projects_and_reports_each_stage() {
    if !require_root("the_execute_api_runs_projects_and_reports_each_stage") {
        return;
    }
    // Real memory accounting (the host double reports none).
    let server = TestServer::new().catalog().native().start().await;

    let hello = json!({"language": "python", "files": [{"path": "main.py", "content": "import sys\nprint(input().upper())\nprint('e', file=sys.stderr)\n"}], "stdin": "shout\n"});
    let (status, _, body) = http(&server.url, "POST", "/api/v1/execute", Some(&hello.to_string())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["language"], "python");
    assert!(body["compile"].is_null());
    let run = &body["run"];
    assert_eq!((run["stdout"].as_str(), run["stderr"].as_str()), (Some("SHOUT\n"), Some("e\n")));
    assert_eq!((run["status"].as_str(), run["code"].as_i64()), (Some("ok"), Some(0)));
    assert!(run["wall_ms"].as_u64().unwrap() > 0 && run["memory_bytes"].as_u64().unwrap() > 0);

    let c = json!({"files": [{"path": "main.c", "content": "#include <stdio.h>\n#include <math.h>\nint main(void){printf(\"%.1f\\n\", sqrt(2.25));}\n"}]});
    let (status, _, body) = http(&server.url, "POST", "/api/v1/execute", Some(&c.to_string())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["compile"]["status"], "ok");
    assert_eq!(body["run"]["stdout"], "1.5\n");

    let broken = json!({"files": [{"path": "main.c", "content": "int main(void){ return nope; }"}]});
    let (_, _, body) = http(&server.url, "POST", "/api/v1/execute", Some(&broken.to_string())).await;
    assert_eq!(body["compile"]["status"], "nonzero");
    assert!(body["compile"]["stderr"].as_str().unwrap().contains("nope"));
    assert!(body["run"].is_null(), "no run stage after a failed compile");

    let binary = json!({"language": "bash", "files": [{"path": "main.sh", "content": "printf '\\377\\000'"}]});
    let (_, _, body) = http(&server.url, "POST", "/api/v1/execute", Some(&binary.to_string())).await;
    assert_eq!(body["run"]["encoding"], "base64");
    assert_eq!(body["run"]["stdout"], "/wA=");

    for (bad, code) in [
        ("{not json".to_string(), "invalid_message"),
        (json!({"files": [{"path": "../x.py", "content": ""}]}).to_string(), "invalid_path"),
        (json!({"language": "python", "files": [{"path": "main.py", "content": ""}], "limits": {"wall_time_ms": 999999999}}).to_string(), "limit_exceeded"),
        (json!({"language": "cobol", "files": [{"path": "a.cob", "content": ""}]}).to_string(), "unknown_language"),
    ] {
        let (status, _, body) = http(&server.url, "POST", "/api/v1/execute", Some(&bad)).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some(code)), "{bad} -> {body}");
    }

    let (status, _, body) = http(&server.url, "GET", "/api/v1/runtimes", None).await;
    assert_eq!(status, 200);
    let python = body.as_array().unwrap().iter().find(|r| r["id"] == "python").unwrap();
    assert_eq!(python["available"], true);
    assert!(python["extensions"].as_array().unwrap().contains(&json!("py")));
    // `.sql` picks SQLite; the SQL servers say they must be named.
    let named_only = |id: &str| body.as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["named_only"].clone();
    assert_eq!(
        (named_only("sqlite"), named_only("mysql"), named_only("postgresql")),
        (json!(false), json!(true), json!(true))
    );
    // Only the SQL runtimes' runs may ask for structured results.
    let field = |id: &str| body.as_array().unwrap().iter().find(|r| r["id"] == id).unwrap()["sql_results"].clone();
    assert_eq!(
        (field("sqlite"), field("mysql"), field("postgresql"), field("python")),
        (json!(true), json!(true), json!(true), json!(false))
    );
    server.wait_for_boxes(0, "execute boxes to be destroyed after use").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after() {
    let server = TestServer::new().admission(AdmissionConfig { max_running: 1, max_queued: 1 }).start().await;
    let slow = json!({"language": "sh", "files": [{"path": "main.sh", "content": "sleep 1"}]}).to_string();
    let url = server.url.clone();
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let (url, slow) = (url.clone(), slow.clone());
            tokio::spawn(async move { http(&url, "POST", "/api/v1/execute", Some(&slow)).await.0 })
        })
        .collect();
    wait_until_one_runs_and_one_waits(&server).await;
    let (status, head, body) = http(&server.url, "POST", "/api/v1/execute", Some(&slow)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "queue_full");
    assert!(head.to_ascii_lowercase().contains("retry-after: "), "{head}");
    for request in busy {
        assert_eq!(request.await.unwrap(), 200, "admitted requests still get their answer");
    }
    server.stop().await;
}

/// Waits until one run of a server admitting one at a time, with one
/// waiting, is running and another waiting: the queue is full.
async fn wait_until_one_runs_and_one_waits(server: &Server) {
    let admission = server.sessions.engine().admission();
    wait_until("one run admitted and one queued", Duration::from_secs(20), || async {
        admission.stats().running + admission.stats().queued >= 2
    })
    .await;
}
