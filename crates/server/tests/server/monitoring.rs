//! Monitoring inside Bytesbox: the admin's Dashboard API is for
//! administrators only; runs show in the node's per-minute aggregates and
//! per-user analytics once the node has flushed; a run that failed for
//! the server's reasons, and a 500 answer, show in the error list under
//! the id the answer (and the log line) carries.

use super::*;

use accounts::{sign_in_raw, ws_with, Browser};
use bytesbox_server::accounts::AccountsConfig;
use bytesbox_server::fleet::NodeConfig;
use bytesbox_server::monitoring::MonitoringConfig;
use bytesbox_store::Role;
use reqwest::{Method, StatusCode};

/// The shell planner, except that a project with `broken.sh` runs a
/// program that does not exist: the backend cannot start it
/// (`spawn_failed`, the server's failure).
#[derive(Debug)]
struct BrokenPlanner;

impl Planner for BrokenPlanner {
    fn runtimes(&self) -> Vec<bytesbox_server::planner::RuntimeInfo> {
        ShellPlanner.runtimes()
    }

    fn plan(&self, request: &PlanRequest) -> Result<Plan, PlanError> {
        let mut plan = ShellPlanner.plan(request)?;
        if request.files.iter().any(|file| file.path == "broken.sh") {
            for stage in &mut plan.stages {
                stage.spec.argv = vec!["/nonexistent/bytesbox-no-such-program".into()];
            }
        }
        Ok(plan)
    }
}

const PATHS: [&str; 3] = ["/api/v1/admin/monitoring", "/api/v1/admin/errors", "/api/v1/admin/analytics/users"];

fn body(file: &str, script: &str) -> Value {
    json!({"language": "sh", "files": [{"path": file, "content": script}]})
}

pub(super) async fn the_dashboard_shows_runs_errors_and_users_to_admins_only(stores: Stores) {
    let node = NodeConfig { id: "dash-node".into(), heartbeat: Duration::from_millis(200), ..NodeConfig::default() };
    let monitoring = MonitoringConfig { flush_interval: Duration::from_millis(200), ..MonitoringConfig::default() };
    let server = TestServer::new()
        .planner(std::sync::Arc::new(BrokenPlanner))
        .accounts(AccountsConfig::default(), "", stores)
        .configure(|config| {
            config.node = node;
            config.monitoring = monitoring;
        })
        .start()
        .await;
    server.store().create_user("dash-admin", "correct horse battery", Role::Admin).await.unwrap();
    let mut admin = Browser::new(&server.base);
    assert_eq!(admin.auth("login", "dash-admin", "correct horse battery").await.0, StatusCode::OK);
    let user = Browser::sign_up(&server.base, "dash-user").await;
    let anonymous = reqwest::Client::new();
    for path in PATHS {
        assert_eq!(user.call(Method::GET, path, None).await.0, StatusCode::FORBIDDEN, "{path}");
        let response = anonymous.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert!(matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), "{path}");
        assert_eq!(admin.call(Method::GET, path, None).await.0, StatusCode::OK, "{path}");
    }
    let (status, bad) = admin.call(Method::GET, "/api/v1/admin/monitoring?range=year", None).await;
    assert_eq!((status, bad["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_input")));

    // Two good runs and a broken one over HTTP: the broken one is a 500
    // whose answer names its error id.
    for _ in 0..2 {
        let (status, answer) = user.call(Method::POST, "/api/v1/execute", Some(body("main.sh", "echo hi"))).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, answer) = user.call(Method::POST, "/api/v1/execute", Some(body("broken.sh", "echo no"))).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    assert_eq!(answer["error"]["code"], "spawn_failed");
    let http_id = answer["error"]["error_id"].as_str().expect("the answer names its error id").to_owned();
    // And a broken run over the WebSocket.
    let (cookie, _) = sign_in_raw(&server.base, "dash-user", false).await;
    let (mut socket, _) = ws_with(&server.url, &[("cookie", &cookie)]).await.expect("signed in");
    let broken = json!({"type": "run", "id": "b", "language": "sh", "files": [{"path": "broken.sh", "content": "x"}]});
    send(&mut socket, broken).await;
    let frames = until_done(&mut socket, "b").await;
    assert!(frames.iter().any(|frame| frame.to_string().contains("spawn_failed")), "{frames:?}");

    // The error list: the 500 under its id, and the failed runs.
    let errors = || async {
        let (_, list) = admin.call(Method::GET, "/api/v1/admin/errors", None).await;
        list["errors"].as_array().cloned().unwrap_or_default()
    };
    wait_until("the failures in the error list", Duration::from_secs(20), || async {
        let errors = errors().await;
        errors.iter().any(|error| error["id"] == http_id.as_str())
            && errors.iter().filter(|error| error["kind"] == "run").count() >= 2
    })
    .await;
    let errors = errors().await;
    let http = errors.iter().find(|error| error["id"] == http_id.as_str()).unwrap();
    assert_eq!(http["kind"], "http");
    assert_eq!(http["node"], "dash-node");
    assert_eq!(http["subject"], "POST /api/v1/execute");
    assert_eq!(http["code"], "spawn_failed");
    assert!(http["message"].as_str().unwrap().contains("could not be started"), "{http}");
    let run = errors.iter().find(|error| error["kind"] == "run").unwrap();
    assert_eq!((run["code"].as_str(), run["subject"].as_str()), (Some("spawn_failed"), Some("sh")));

    // The aggregates: 2 good runs and 2 failed ones, with latencies, gauges.
    let hour = || async { admin.call(Method::GET, "/api/v1/admin/monitoring?range=hour&node=dash-node", None).await.1 };
    let runs = |hour: &Value, status: &str| -> i64 {
        let points = hour["points"].as_array().cloned().unwrap_or_default();
        let all = points.iter().flat_map(|point| point["runs"].as_array().cloned().unwrap_or_default());
        all.filter(|run| run["status"] == status && run["language"] == "sh")
            .map(|run| run["runs"].as_i64().unwrap())
            .sum()
    };
    wait_until("the runs in the aggregates", Duration::from_secs(20), || async {
        let hour = hour().await;
        runs(&hour, "ok") == 2 && runs(&hour, "spawn_failed") == 2
    })
    .await;
    let hour = hour().await;
    assert_eq!(hour["step_ms"], 60_000);
    assert!(hour["nodes"].as_array().unwrap().iter().any(|node| node == "dash-node"), "{hour}");
    let points = hour["points"].as_array().unwrap();
    assert!(points.iter().any(|point| point["latency_ms"]["p50"].as_f64().is_some()), "{hour}");
    assert!(points.iter().any(|point| point["gauges"]["resident_bytes"].as_i64() > Some(0)), "{hour}");
    assert!(points.iter().map(|point| point["errors"].as_i64().unwrap()).sum::<i64>() >= 3, "{hour}");
    assert_eq!(hour["per_node"], json!([]), "one node's view has no side by side");
    let (status, day) = admin.call(Method::GET, "/api/v1/admin/monitoring?range=day", None).await;
    assert_eq!((status, day["step_ms"].as_i64()), (StatusCode::OK, Some(600_000)));
    // The fleet's view has each node side by side: this one's runs are 4.
    let this = day["per_node"].as_array().unwrap().iter().find(|node| node["node"] == "dash-node").unwrap();
    let runs: i64 = this["points"].as_array().unwrap().iter().map(|point| point["runs"].as_i64().unwrap()).sum();
    assert_eq!(runs, 4, "{this}");

    // Per user: the four runs, all of the shell.
    let (_, analytics) = admin.call(Method::GET, "/api/v1/admin/analytics/users?days=7", None).await;
    let users = analytics["users"].as_array().unwrap();
    let me = users.iter().find(|user| user["username"] == "dash-user").unwrap();
    assert_eq!((me["runs"].as_i64(), me["languages"]["sh"].as_i64()), (Some(4), Some(4)), "{me}");
    assert_eq!(me["days"].as_array().unwrap().len(), 1, "{me}");
    server.stop().await;
}
