//! Three `bytesbox serve` nodes behind the shipped HAProxy configuration
//! (`deploy/haproxy/haproxy.cfg`), sharing the test PostgreSQL (a schema
//! of this test's own) and the S3 mock (a prefix of its own): sessions stick to
//! their node through HAProxy's cookie, one-shot runs spread over the
//! nodes, a user's runs at once are limited over all nodes, a node killed with SIGKILL costs a session but no saved file,
//! and a drained node gets no new sessions. The fleet (a network namespace
//! per node, HAProxy) is `bytesbox-fleet-bench`'s too:
//! `src/bin/bench_common/fleet.rs`. Needs root (native backend,
//! namespaces), PostgreSQL, the S3 mock and HAProxy (`scripts/test`
//! provides them as root).

use std::process::Command;
use std::time::Duration;

use bytesbox_testkit::{require_prerequisite, require_root, wait_until};
use serde_json::{json, Value};

use crate::bench_common::fleet::{node_cookie, open_session, sign_up, Balancer, NodeSetup, S3Target, NODE_IDS};
use crate::served::*;

/// A metric of one node, asked directly (not through the front door).
async fn node_metric(address: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn run_project(socket: &mut Socket, id: &str, project: &str) -> String {
    send(socket, json!({"type": "run", "id": id, "project": project})).await;
    let mut output = String::new();
    loop {
        let frame = next(socket).await;
        match frame["type"].as_str() {
            Some("output") => output.push_str(frame["data"].as_str().unwrap()),
            Some("done") => return output,
            Some("error") => panic!("{frame}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_behind_haproxy_keep_sessions_spread_runs_and_survive_a_dead_node() {
    let test = "three_nodes_behind_haproxy_keep_sessions_spread_runs_and_survive_a_dead_node";
    if !require_root(test) {
        return;
    }
    let haproxy = std::env::var("BYTESBOX_TEST_HAPROXY").ok().filter(|path| !path.is_empty());
    let problem = haproxy.is_none().then(|| "BYTESBOX_TEST_HAPROXY is not set (scripts/test installs it)".to_owned());
    if !require_prerequisite(test, "HAProxy", problem) {
        return;
    }
    let Some(postgres) = bytesbox_testkit::stores::postgres_url(test) else { return };
    let database_url = bytesbox_testkit::stores::fresh_postgres_schema(&postgres).await;
    let Some(settings) = bytesbox_testkit::stores::S3Settings::for_test(test) else { return };
    let s3 = S3Target::new(format!("s3://{}/{}", settings.bucket, settings.prefix)).unwrap();
    let jail = bytesbox_testkit::jail_binary();
    // Signed-in users may have three runs at once, over all nodes together.
    let config = "[node]\nheartbeat_secs = 1\ntimeout_secs = 3\n[sessions]\ngrace_secs = 30\n\
                  [plans.default]\nmax_concurrent_runs = 3\n";
    let setup = NodeSetup { bytesbox: BYTESBOX.as_ref(), jail: &jail, database_url: &database_url, s3: &s3, config };
    let uid_ranges = [(); 3].map(|()| bytesbox_testkit::box_uid_range());
    let mut nodes = crate::bench_common::fleet::start_nodes(&setup, uid_ranges).await.unwrap();
    // Which node an address is, once nodes are removed.
    let index_of: std::collections::HashMap<String, usize> =
        nodes.iter().enumerate().map(|(index, node)| (node.address.clone(), index)).collect();

    let balancer = Balancer::start(haproxy.unwrap().as_ref(), &nodes).unwrap();
    balancer.wait_until_serving().await.unwrap();
    let front = balancer.front.clone();

    // Sign up and save a project through the front door.
    let (client, jar, csrf) = sign_up(&front, "fleet-user").await.unwrap();
    let project: Value = client
        .post(format!("{front}/api/v1/projects"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "kept", "files": [{"path": "main.sh", "content": "echo saved work"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = project["project"]["id"].as_str().unwrap_or_else(|| panic!("{project}")).to_owned();
    let home = node_cookie(&jar, &front).expect("HAProxy inserted its cookie");
    let home_index = NODE_IDS.iter().position(|node| *node == home).unwrap();

    // The session lands on the cookie's node, and its reconnect with the
    // resume token too (a session lives on one node only).
    let (mut socket, hello) = open_session(&front, &jar, "").await.unwrap();
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(run_project(&mut socket, "first", &project).await, "saved work\n");
    assert_eq!(node_metric(&nodes[home_index].address, "bytesbox_sessions_active").await, 1.0);
    drop(socket);
    let resume = hello["resume"].as_str().unwrap();
    let (mut socket, again) = open_session(&front, &jar, &format!("?resume={resume}")).await.unwrap();
    assert_eq!((again["type"].as_str(), again["session"].as_str()), (Some("hello"), hello["session"].as_str()));
    assert_eq!(run_project(&mut socket, "second", &project).await, "saved work\n");
    drop(socket);

    // One-shot runs go to the least loaded node: all three take some.
    // Three users (the plan allows each three runs at once) send three each.
    let mut apis = Vec::new();
    for user in ["fleet-api-1", "fleet-api-2", "fleet-api-3"] {
        apis.push(token_client(&sign_up_with_token(&front, user).await));
    }
    let before: Vec<f64> = futures_util::future::join_all(
        nodes.iter().map(|node| node_metric(&node.address, "bytesbox_box_creations_total")),
    )
    .await;
    let runs = (0..9).map(|index| {
        let api = apis[index % apis.len()].clone();
        let url = format!("{front}/api/v1/execute");
        async move {
            let body = json!({"language": "bash", "files": [{"path": "main.sh", "content": "sleep 1; echo one-shot"}]});
            post_json(&api, url, &body).await
        }
    });
    for answer in futures_util::future::join_all(runs).await {
        assert_eq!(answer["run"]["stdout"], "one-shot\n", "{answer}");
    }
    for (index, node) in nodes.iter().enumerate() {
        let after = node_metric(&node.address, "bytesbox_box_creations_total").await;
        assert!(after > before[index], "{} took no one-shot run", NODE_IDS[index]);
    }

    // The limit holds across the fleet: three long runs of one user, one
    // straight to each node, fill it; a fourth is refused by a node that
    // runs only one of them, and taken once they are over.
    let api = token_client(&sign_up_with_token(&front, "fleet-limit").await);
    let execute = |address: &str, script: &str| {
        let api = api.clone();
        let url = format!("http://{address}/api/v1/execute");
        let body = json!({"language": "bash", "files": [{"path": "main.sh", "content": script}]});
        async move { post_json(&api, url, &body).await }
    };
    let held: Vec<_> = nodes.iter().map(|node| tokio::spawn(execute(&node.address, "sleep 4; echo held"))).collect();
    wait_until("each node to run one of the user's runs", Duration::from_secs(20), || async {
        for node in &nodes {
            if node_metric(&node.address, "bytesbox_running_jobs").await < 1.0 {
                return false;
            }
        }
        true
    })
    .await;
    let refused = execute(&nodes[0].address, "echo fourth").await;
    assert_eq!(refused["error"]["code"], "too_many_runs", "a fourth run in the fleet: {refused}");
    for run in held {
        let answer = run.await.unwrap();
        assert_eq!(answer["run"]["stdout"], "held\n", "{answer}");
    }
    wait_until("a run once the user's runs are over", Duration::from_secs(20), || async {
        execute(&nodes[0].address, "echo fourth").await["run"]["stdout"] == "fourth\n"
    })
    .await;

    // The session's node dies: the reconnect goes to another node (the
    // session is gone with it), and the saved project runs there.
    let mut killed = nodes.remove(home_index);
    killed.process.0.kill().unwrap();
    killed.process.0.wait().unwrap();
    let (lost_socket, lost) = open_session(&front, &jar, &format!("?resume={resume}")).await.unwrap();
    assert_eq!(lost["type"], "error", "the session died with its node: {lost}");
    drop(lost_socket);
    let (mut socket, fresh) = open_session(&front, &jar, "").await.unwrap();
    assert_eq!(fresh["type"], "hello", "{fresh}");
    assert_eq!(run_project(&mut socket, "after", &project).await, "saved work\n", "the saved project is intact");
    drop(socket);
    let new_home = node_cookie(&jar, &front).unwrap();
    assert_ne!(new_home, home, "HAProxy moved the client to a live node");

    // Draining the node that now holds the client's session: its session
    // goes on (HAProxy keeps sending it the requests whose cookie names
    // it), new clients all go to the last node.
    let drained = new_home;
    let output =
        Command::new(BYTESBOX).args(["admin", "drain", &drained, "--database-url", &database_url]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let drained_index = NODE_IDS.iter().position(|node| *node == drained).unwrap();
    let drained_address = nodes.iter().find(|node| index_of[&node.address] == drained_index).unwrap().address.clone();
    wait_until("the drained node to answer 503", Duration::from_secs(10), || async {
        get_status(&drained_address, "/readyz").await == Some(503)
    })
    .await;
    // HAProxy marks it down after two failed checks, 1 s apart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resume = fresh["resume"].as_str().unwrap();
    let (mut socket, again) = open_session(&front, &jar, &format!("?resume={resume}")).await.unwrap();
    assert_eq!((again["type"].as_str(), again["session"].as_str()), (Some("hello"), fresh["session"].as_str()));
    assert_eq!(run_project(&mut socket, "draining", &project).await, "saved work\n");
    drop(socket);
    for n in 0..6 {
        let (_, jar, _) = sign_up(&front, &format!("late-{n}")).await.unwrap();
        let landed = node_cookie(&jar, &front).unwrap();
        assert_ne!(landed, drained, "a new client was sent to the draining node");
        assert_ne!(landed, home, "a new client was sent to the dead node");
    }
    drop(balancer);
}
