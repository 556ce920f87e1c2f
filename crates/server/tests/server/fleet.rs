//! This server as a node of the fleet: registration and heartbeats in the
//! shared store, the admin's list of nodes, and a drain that takes the
//! node out of the load balancer's rotation (`/readyz`) while its
//! sessions go on.

use super::*;

use accounts::Browser;
use bytesbox_server::accounts::AccountsConfig;
use bytesbox_server::fleet::NodeConfig;
use bytesbox_store::{NodeRegistration, Role};
use reqwest::{Method, StatusCode};

async fn ready(base: &str) -> (StatusCode, String) {
    let response = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The admin's list: (id, state, sessions) of each node, and which one answered.
async fn fleet(admin: &Browser) -> Vec<(String, String, i64, bool)> {
    let (status, body) = admin.call(Method::GET, "/api/v1/admin/nodes", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut nodes: Vec<_> = body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            (
                node["id"].as_str().unwrap().to_owned(),
                node["state"].as_str().unwrap().to_owned(),
                node["sessions"].as_i64().unwrap(),
                node["this_node"].as_bool().unwrap(),
            )
        })
        .collect();
    nodes.sort();
    nodes
}

pub(super) async fn nodes_heartbeat_into_the_fleet_and_a_drained_node_is_not_ready(stores: Stores) {
    let node = NodeConfig {
        id: "node-a".into(),
        address: "http://10.9.0.1:8080".into(),
        capacity: 12,
        heartbeat: Duration::from_millis(100),
        timeout: Duration::from_secs(3),
        ..NodeConfig::default()
    };
    let server = TestServer::new()
        .accounts(AccountsConfig::default(), "", stores)
        .configure(|config| config.node = node)
        .start()
        .await;
    // Another node of the fleet, as the shared store has it.
    let other = NodeRegistration { id: "node-b".into(), address: "http://10.9.0.2:8080".into(), capacity: 5 };
    server.store().register_node(&other).await.unwrap();
    server.store().create_user("fleet-admin", "correct horse battery", Role::Admin).await.unwrap();
    let mut admin = Browser::new(&server.base);
    assert_eq!(admin.auth("login", "fleet-admin", "correct horse battery").await.0, StatusCode::OK);
    let user = Browser::sign_up(&server.base, "fleet-user").await;
    assert_eq!(user.call(Method::GET, "/api/v1/admin/nodes", None).await.0, StatusCode::FORBIDDEN);
    let path = "/api/v1/admin/nodes/node-a/drain";
    assert_eq!(user.call(Method::POST, path, None).await.0, StatusCode::FORBIDDEN);

    // The node registered itself with its address and capacity; a session
    // shows in its load at the next heartbeat.
    let (mut socket, _) = connect(&server.url).await;
    wait_until("the session in the node's heartbeat", Duration::from_secs(10), || async {
        fleet(&admin).await.iter().any(|(id, _, sessions, _)| id == "node-a" && *sessions == 1)
    })
    .await;
    // (Registered again now: a slow machine may have taken the timeout.)
    server.store().register_node(&other).await.unwrap();
    let (_, body) = admin.call(Method::GET, "/api/v1/admin/nodes", None).await;
    let this = body["nodes"].as_array().unwrap().iter().find(|node| node["id"] == "node-a").unwrap().clone();
    assert_eq!((this["address"].as_str(), this["capacity"].as_i64()), (Some("http://10.9.0.1:8080"), Some(12)));
    assert_eq!(
        fleet(&admin).await,
        [("node-a".into(), "serving".into(), 1, true), ("node-b".into(), "serving".into(), 0, false)]
    );
    assert_eq!(ready(&server.base).await, (StatusCode::OK, "ready".into()));

    // node-b never heartbeats: out of the fleet after the timeout.
    wait_until("the silent node to leave the fleet", Duration::from_secs(10), || async {
        fleet(&admin).await.iter().all(|(id, ..)| id != "node-b")
    })
    .await;

    // Draining another node is written for it; this one goes on serving.
    server.store().register_node(&other).await.unwrap();
    let (status, _) = admin.call(Method::POST, "/api/v1/admin/nodes/node-b/drain", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = admin.call(Method::POST, "/api/v1/admin/nodes/nobody/drain", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    assert_eq!(ready(&server.base).await.0, StatusCode::OK);

    // A drain written to the store (as `bytesbox admin drain` or another
    // node writes it) reaches this node at its heartbeat: not ready any
    // more, while its session still runs.
    server.store().drain_node("node-a").await.unwrap();
    wait_until("the drain to reach the node", Duration::from_secs(10), || async {
        ready(&server.base).await == (StatusCode::SERVICE_UNAVAILABLE, "draining".into())
    })
    .await;
    send(&mut socket, run("after", "echo still here")).await;
    let frames = until_done(&mut socket, "after").await;
    assert_eq!(stdout(&frames), "still here\n", "a draining node's sessions go on");
    let nodes = fleet(&admin).await;
    assert!(nodes.contains(&("node-a".into(), "draining".into(), 1, true)), "{nodes:?}");
    server.stop().await;
}
