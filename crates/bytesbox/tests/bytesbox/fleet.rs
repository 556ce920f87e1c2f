//! Three `bytesbox serve` nodes behind the shipped HAProxy configuration
//! (`deploy/haproxy/haproxy.cfg`), sharing the test PostgreSQL (a schema
//! of this test's own) and the S3 mock (a prefix of its own): sessions stick to
//! their node through HAProxy's cookie, one-shot runs spread over the
//! nodes, a user's runs at once are limited over all nodes, a node killed with SIGKILL costs a session but no saved file,
//! and a drained node gets no new sessions. Each node runs in a network
//! namespace of its own that the test makes, joined to the host by a veth
//! pair with a /30 of 10.213.0.0/16 (never an outside address); it reaches
//! PostgreSQL and S3 through forwarders the test runs on the host end of
//! its veth. Needs root (native backend, namespaces), PostgreSQL, the S3
//! mock and HAProxy (`scripts/test` provides them as root).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytesbox_testkit::{require_prerequisite, require_root, wait_until};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::served::*;

const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// A child process killed (and reaped) when the test ends, however.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node: its process, its direct address, and its data directory. Its
/// network namespace goes after the process (fields drop in order).
struct Node {
    process: Killed,
    address: String,
    _data: tempfile::TempDir,
    _forwarders: Vec<tokio::task::JoinHandle<()>>,
    _namespace: Namespace,
}

fn ip(command: &[&str]) {
    let output = Command::new("ip").args(command).output().unwrap();
    assert!(output.status.success(), "ip {command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A network namespace joined to the host by a veth pair: the host end
/// `host_ip`, the namespace's end `node_ip`, a /30 of their own. Deleted
/// (with the pair) when dropped.
struct Namespace {
    name: String,
    host_ip: String,
    node_ip: String,
}

impl Namespace {
    fn new(index: u32) -> Namespace {
        let pid = std::process::id();
        let (name, host_link, node_link) =
            (format!("bbx{pid}n{index}"), format!("bbx{pid}h{index}"), format!("bbx{pid}v{index}"));
        let (net, base) = (pid % 250, index * 4);
        let (host_ip, node_ip) = (format!("10.213.{net}.{}", base + 1), format!("10.213.{net}.{}", base + 2));
        ip(&["netns", "add", &name]);
        let namespace = Namespace { name: name.clone(), host_ip: host_ip.clone(), node_ip: node_ip.clone() };
        ip(&["link", "add", &host_link, "type", "veth", "peer", "name", &node_link]);
        ip(&["link", "set", &node_link, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link]);
        ip(&["link", "set", &host_link, "up"]);
        ip(&["-n", &name, "addr", "add", &format!("{node_ip}/30"), "dev", &node_link]);
        ip(&["-n", &name, "link", "set", &node_link, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        namespace
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Forwards connections to `listener` (on a veth's host end) to `target`
/// (PostgreSQL on the host's loopback), for a node in its namespace.
fn forward(listener: tokio::net::TcpListener, target: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

/// The test S3 bucket as the nodes use it: `s3://bucket/prefix` and the
/// mock's `host:port` on the host's loopback.
struct S3 {
    url: String,
    endpoint: String,
}

async fn start_node(index: u32, id: &str, database_url: &str, s3: &S3) -> Node {
    let namespace = Namespace::new(index);
    // postgres://user:password@HOST:PORT/db…: the node reaches HOST:PORT,
    // and the S3 mock, through forwarders on its veth's host end.
    let (head, rest) = database_url.split_once('@').unwrap();
    let (postgres, tail) = rest.split_once('/').unwrap();
    let listener = tokio::net::TcpListener::bind((namespace.host_ip.as_str(), 0)).await.unwrap();
    let database_url = format!("{head}@{}/{tail}", listener.local_addr().unwrap());
    let mut forwarders = vec![forward(listener, postgres.to_owned())];
    let listener = tokio::net::TcpListener::bind((namespace.host_ip.as_str(), 0)).await.unwrap();
    let s3_endpoint = format!("http://{}", listener.local_addr().unwrap());
    forwarders.push(forward(listener, s3.endpoint.clone()));
    let variable = |name: &str| std::env::var(name).unwrap_or_default();
    let data = tempfile::tempdir().unwrap();
    // nsenter joins the network namespace only: `ip netns exec` would also
    // remount /sys and hide the cgroup hierarchies the native backend needs.
    let mut command = Command::new("nsenter");
    command
        .arg(format!("--net=/run/netns/{}", namespace.name))
        .args(["--", BYTESBOX])
        .args(["serve", "--backend", "native", "--listen", &format!("{}:0", namespace.node_ip), "--node-id", id])
        .args(["--objects", &s3.url])
        .env("DATABASE_URL", database_url)
        .env("AWS_ENDPOINT", s3_endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", variable("BYTESBOX_TEST_S3_ACCESS_KEY_ID"))
        .env("AWS_SECRET_ACCESS_KEY", variable("BYTESBOX_TEST_S3_SECRET_ACCESS_KEY"))
        .env("AWS_REGION", variable("BYTESBOX_TEST_S3_REGION"));
    // Signed-in users may have three runs at once, over all nodes together.
    let config = "[node]\nheartbeat_secs = 1\ntimeout_secs = 3\n[sessions]\ngrace_secs = 30\n\
                  [plans.default]\nmax_concurrent_runs = 3\n";
    let (child, address) = serve_command(command, data.path(), config, bytesbox_testkit::box_uid_range());
    Node { process: Killed(child), address, _data: data, _forwarders: forwarders, _namespace: namespace }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A metric of one node, asked directly (not through the front door).
async fn node_metric(address: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The `BBXNODE` cookie HAProxy gave a client: the node of its session.
fn node_cookie(jar: &reqwest::cookie::Jar, front: &str) -> Option<String> {
    use reqwest::cookie::CookieStore as _;
    let header = jar.cookies(&front.parse().unwrap())?;
    let text = header.to_str().ok()?.to_owned();
    text.split("; ").find_map(|pair| pair.strip_prefix("BBXNODE=")).map(str::to_owned)
}

/// A signed-in browser through the front door: its cookie jar and CSRF token.
async fn sign_up(front: &str, username: &str) -> (reqwest::Client, std::sync::Arc<reqwest::cookie::Jar>, String) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder().cookie_provider(jar.clone()).build().unwrap();
    let credentials = json!({"username": username, "password": "a long enough password"});
    let me = post_json(&client, format!("{front}/api/v1/auth/signup"), &credentials).await;
    let csrf = me["csrf"].as_str().unwrap_or_else(|| panic!("no csrf in {me}")).to_owned();
    (client, jar, csrf)
}

/// A WebSocket through the front door with the browser's cookies; its hello.
async fn open_session(front: &str, jar: &reqwest::cookie::Jar, query: &str) -> (Socket, Value) {
    use reqwest::cookie::CookieStore as _;
    let ws = front.replace("http://", "ws://");
    let mut request = format!("{ws}/api/v1/ws{query}").into_client_request().unwrap();
    if let Some(cookies) = jar.cookies(&front.parse().unwrap()) {
        request.headers_mut().insert("cookie", cookies);
    }
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    // As a browser would: HAProxy names the node in its answer to the
    // upgrade when it sent the request to another one.
    for set_cookie in response.headers().get_all("set-cookie") {
        jar.add_cookie_str(set_cookie.to_str().unwrap(), &front.parse().unwrap());
    }
    let hello = next(&mut socket).await;
    (socket, hello)
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
    let endpoint = std::env::var("BYTESBOX_TEST_S3_ENDPOINT").unwrap();
    let s3 = S3 {
        url: format!("s3://{}/{}", settings.bucket, settings.prefix),
        endpoint: endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned(),
    };
    let mut nodes = Vec::new();
    for (index, id) in (0..).zip(NODES) {
        nodes.push(start_node(index, id, &database_url, &s3).await);
    }
    // Which node an address is, once nodes are removed.
    let index_of: std::collections::HashMap<String, usize> =
        nodes.iter().enumerate().map(|(index, node)| (node.address.clone(), index)).collect();

    let front = format!("127.0.0.1:{}", free_port());
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/haproxy/haproxy.cfg");
    let balancer = Killed(
        Command::new(haproxy.unwrap())
            .args(["-db", "-f", config])
            .env("BYTESBOX_FRONT", &front)
            .env("BYTESBOX_NODE_1", &nodes[0].address)
            .env("BYTESBOX_NODE_2", &nodes[1].address)
            .env("BYTESBOX_NODE_3", &nodes[2].address)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let front = format!("http://{front}");
    wait_until("HAProxy to answer with a ready node", Duration::from_secs(20), || async {
        get_status(front.trim_start_matches("http://"), "/readyz").await == Some(200)
    })
    .await;
    // Every node's health check has passed (rise 2 at 1 s).
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Sign up and save a project through the front door.
    let (client, jar, csrf) = sign_up(&front, "fleet-user").await;
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
    let home_index = NODES.iter().position(|node| *node == home).unwrap();

    // The session lands on the cookie's node, and its reconnect with the
    // resume token too (a session lives on one node only).
    let (mut socket, hello) = open_session(&front, &jar, "").await;
    assert_eq!(hello["type"], "hello", "{hello}");
    assert_eq!(run_project(&mut socket, "first", &project).await, "saved work\n");
    assert_eq!(node_metric(&nodes[home_index].address, "bytesbox_sessions_active").await, 1.0);
    drop(socket);
    let resume = hello["resume"].as_str().unwrap();
    let (mut socket, again) = open_session(&front, &jar, &format!("?resume={resume}")).await;
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
        assert!(after > before[index], "{} took no one-shot run", NODES[index]);
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
    let killed = nodes.remove(home_index);
    drop(killed.process);
    let (lost_socket, lost) = open_session(&front, &jar, &format!("?resume={resume}")).await;
    assert_eq!(lost["type"], "error", "the session died with its node: {lost}");
    drop(lost_socket);
    let (mut socket, fresh) = open_session(&front, &jar, "").await;
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
    let drained_index = NODES.iter().position(|node| *node == drained).unwrap();
    let drained_address = nodes.iter().find(|node| index_of[&node.address] == drained_index).unwrap().address.clone();
    wait_until("the drained node to answer 503", Duration::from_secs(10), || async {
        get_status(&drained_address, "/readyz").await == Some(503)
    })
    .await;
    // HAProxy marks it down after two failed checks, 1 s apart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let resume = fresh["resume"].as_str().unwrap();
    let (mut socket, again) = open_session(&front, &jar, &format!("?resume={resume}")).await;
    assert_eq!((again["type"].as_str(), again["session"].as_str()), (Some("hello"), fresh["session"].as_str()));
    assert_eq!(run_project(&mut socket, "draining", &project).await, "saved work\n");
    drop(socket);
    for n in 0..6 {
        let (_, jar, _) = sign_up(&front, &format!("late-{n}")).await;
        let landed = node_cookie(&jar, &front).unwrap();
        assert_ne!(landed, drained, "a new client was sent to the draining node");
        assert_ne!(landed, home, "a new client was sent to the dead node");
    }
    drop(balancer);
}
