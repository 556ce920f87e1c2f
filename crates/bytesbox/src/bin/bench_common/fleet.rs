//! A fleet on this machine, shared by the three-node test
//! (`tests/bytesbox/fleet.rs`) and `bytesbox-fleet-bench`: three
//! `bytesbox serve` nodes (native backend) behind the shipped HAProxy
//! configuration (`deploy/haproxy/haproxy.cfg`), sharing one PostgreSQL
//! database and one S3 bucket. Each node runs in a network namespace of
//! its own made here, joined to the host by a veth pair with a /30 of
//! 10.213.0.0/16 (never an outside address); it reaches PostgreSQL and S3
//! through forwarders on the host end of its veth. Everything made here
//! (processes, namespaces with their veths, data directories) goes when
//! its value is dropped, however the caller ends. Needs root.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use reqwest::cookie::CookieStore as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{next, read_listen_address, Socket};

/// The nodes' ids, which are also the `BBXNODE` cookie values HAProxy's
/// configuration gives them.
pub const NODE_IDS: [&str; 3] = ["node1", "node2", "node3"];

/// A child process stopped (and reaped) when dropped, however: SIGTERM,
/// so that a node destroys its boxes (a SIGKILLed node's are left to the
/// next native backend's sweep), then SIGKILL after `STOP_TIMEOUT`.
pub struct Stopped(pub Child);

const STOP_TIMEOUT: Duration = Duration::from_secs(30);

impl Drop for Stopped {
    fn drop(&mut self) {
        // Reaped already (its pid may be another process's by now).
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ip(command: &[&str]) -> Result<()> {
    let output = Command::new("ip").args(command).output().context("running ip")?;
    if !output.status.success() {
        bail!("ip {command:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// A network namespace joined to the host by a veth pair: the host end
/// `host_ip`, the namespace's end `node_ip`, a /30 of their own. Deleted
/// (with the pair) when dropped.
pub struct Namespace {
    name: String,
    host_ip: String,
    node_ip: String,
}

impl Namespace {
    /// The namespace `index` of this process: names and addresses derive
    /// from the pid, so two processes' fleets never meet.
    pub fn new(index: u32) -> Result<Namespace> {
        let pid = std::process::id();
        let (name, host_link, node_link) =
            (format!("bbx{pid}n{index}"), format!("bbx{pid}h{index}"), format!("bbx{pid}v{index}"));
        let (net, base) = (pid % 250, index * 4);
        let (host_ip, node_ip) = (format!("10.213.{net}.{}", base + 1), format!("10.213.{net}.{}", base + 2));
        ip(&["netns", "add", &name])?;
        // From here on the drop deletes the namespace, and the veth with it.
        let namespace = Namespace { name: name.clone(), host_ip: host_ip.clone(), node_ip: node_ip.clone() };
        ip(&["link", "add", &host_link, "type", "veth", "peer", "name", &node_link])?;
        if let Err(error) = ip(&["link", "set", &node_link, "netns", &name]) {
            // Still on the host: deleting one end deletes the pair.
            let _ = ip(&["link", "del", &host_link]);
            return Err(error);
        }
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_link])?;
        ip(&["link", "set", &host_link, "up"])?;
        ip(&["-n", &name, "addr", "add", &format!("{node_ip}/30"), "dev", &node_link])?;
        ip(&["-n", &name, "link", "set", &node_link, "up"])?;
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        Ok(namespace)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Forwards connections to `listener` (on a veth's host end) to `target`
/// (a store on the host's loopback), for a node in its namespace.
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

/// The S3 bucket as the nodes use it: `s3://bucket/prefix`, and the
/// endpoint's `host:port` on the host's loopback. The credentials come
/// from `BYTESBOX_TEST_S3_*` (`scripts/lib.sh`'s `ensure_s3_mock`).
pub struct S3Target {
    pub url: String,
    pub endpoint: String,
}

impl S3Target {
    /// `url` under the endpoint `BYTESBOX_TEST_S3_ENDPOINT` names.
    pub fn new(url: String) -> Result<S3Target> {
        let endpoint = std::env::var("BYTESBOX_TEST_S3_ENDPOINT").context("BYTESBOX_TEST_S3_ENDPOINT is not set")?;
        Ok(S3Target { url, endpoint: endpoint.trim_start_matches("http://").trim_end_matches('/').to_owned() })
    }
}

/// What every node of a fleet is started with.
pub struct NodeSetup<'a> {
    pub bytesbox: &'a Path,
    pub jail: &'a Path,
    pub database_url: &'a str,
    pub s3: &'a S3Target,
    /// TOML after the `[native]` table (which this module writes).
    pub config: &'a str,
}

/// A node: its process, its direct address, and its data directory. Its
/// network namespace goes after the process (fields drop in order).
pub struct Node {
    pub id: &'static str,
    pub process: Stopped,
    pub address: String,
    _data: tempfile::TempDir,
    _forwarders: Vec<tokio::task::JoinHandle<()>>,
    _namespace: Namespace,
}

impl Node {
    /// Starts node `index` (of [`NODE_IDS`]) with box uids from `uid_range`
    /// (`(base, count)`, distinct for every node on the machine).
    pub async fn start(index: u32, setup: &NodeSetup<'_>, (uid_base, uid_count): (u32, u32)) -> Result<Node> {
        let id = NODE_IDS[usize::try_from(index)?];
        let namespace = Namespace::new(index)?;
        // postgres://user:password@HOST:PORT/db…: the node reaches HOST:PORT,
        // and the S3 endpoint, through forwarders on its veth's host end.
        let (head, rest) = setup.database_url.split_once('@').context("no @ in the database URL")?;
        let (postgres, tail) = rest.split_once('/').context("no database in the database URL")?;
        let listener = tokio::net::TcpListener::bind((namespace.host_ip.as_str(), 0)).await?;
        let database_url = format!("{head}@{}/{tail}", listener.local_addr()?);
        let mut forwarders = vec![forward(listener, postgres.to_owned())];
        let listener = tokio::net::TcpListener::bind((namespace.host_ip.as_str(), 0)).await?;
        let s3_endpoint = format!("http://{}", listener.local_addr()?);
        forwarders.push(forward(listener, setup.s3.endpoint.clone()));
        let variable = |name: &str| std::env::var(name).unwrap_or_default();
        let data = tempfile::tempdir()?;
        let config = data.path().join("bytesbox.toml");
        let jail = setup.jail;
        std::fs::write(
            &config,
            format!(
                "[native]\njail_binary = {jail:?}\nuid_base = {uid_base}\nuid_count = {uid_count}\n{}",
                setup.config
            ),
        )?;
        // nsenter joins the network namespace only: `ip netns exec` would also
        // remount /sys and hide the cgroup hierarchies the native backend needs.
        let mut child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", namespace.name))
            .arg("--")
            .arg(setup.bytesbox)
            .args(["serve", "--backend", "native", "--listen", &format!("{}:0", namespace.node_ip), "--node-id", id])
            .args(["--objects", &setup.s3.url])
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(data.path())
            .env_remove("BYTESBOX_OBJECTS")
            .env("RUST_LOG", "warn")
            .env("DATABASE_URL", database_url)
            .env("AWS_ENDPOINT", s3_endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", variable("BYTESBOX_TEST_S3_ACCESS_KEY_ID"))
            .env("AWS_SECRET_ACCESS_KEY", variable("BYTESBOX_TEST_S3_SECRET_ACCESS_KEY"))
            .env("AWS_REGION", variable("BYTESBOX_TEST_S3_REGION"))
            .stdout(Stdio::piped())
            .spawn()
            .context("starting nsenter … bytesbox serve")?;
        // Reading the address blocks; the forwarders run meanwhile on the
        // runtime's other workers.
        let address = tokio::task::block_in_place(|| read_listen_address(&mut child));
        let process = Stopped(child);
        Ok(Node { id, process, address: address?, _data: data, _forwarders: forwarders, _namespace: namespace })
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.process.0.id()).unwrap_or(i32::MAX))
    }
}

/// Starts the three nodes, node `i` with the box uids `uid_ranges[i]`.
pub async fn start_nodes(setup: &NodeSetup<'_>, uid_ranges: [(u32, u32); 3]) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for (index, range) in (0..).zip(uid_ranges) {
        nodes.push(Node::start(index, setup, range).await?);
    }
    Ok(nodes)
}

/// HAProxy with the shipped configuration in front of three nodes, its
/// log (warnings: servers going DOWN) watched.
pub struct Balancer {
    /// `http://127.0.0.1:PORT`.
    pub front: String,
    downs: Arc<Mutex<Vec<(String, Instant)>>>,
    _process: Stopped,
}

impl Balancer {
    pub fn start(haproxy: &Path, nodes: &[Node]) -> Result<Balancer> {
        let front = format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port());
        let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/haproxy/haproxy.cfg");
        let mut command = Command::new(haproxy);
        command.args(["-db", "-f", config]).env("BYTESBOX_FRONT", &front);
        for (index, node) in (1..).zip(nodes) {
            command.env(format!("BYTESBOX_NODE_{index}"), &node.address);
        }
        let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().context("starting haproxy")?;
        let log = child.stderr.take().context("no haproxy stderr")?;
        let process = Stopped(child);
        let downs: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let seen = downs.clone();
        // Read to the end (HAProxy would block on a full pipe), passing
        // each line on; "Server sessions/node1 is DOWN, …" is when the
        // node stopped getting new clients.
        std::thread::spawn(move || {
            for line in BufReader::new(log).lines().map_while(Result::ok) {
                if let Some(server) = line.split("Server ").nth(1).and_then(|rest| rest.split(" is DOWN").next()) {
                    if line.contains(" is DOWN") {
                        seen.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((server.to_owned(), Instant::now()));
                    }
                }
                eprintln!("haproxy: {line}");
            }
        });
        Ok(Balancer { front: format!("http://{front}"), downs, _process: process })
    }

    /// Waits until the front door answers `/readyz` with 200 and every
    /// node's health check has had time to pass (`rise 2` at 1 s).
    pub async fn wait_until_serving(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = reqwest::get(format!("{}/readyz", self.front)).await;
            if answer.is_ok_and(|answer| answer.status() == 200) {
                break;
            }
            if Instant::now() > deadline {
                bail!("HAProxy did not answer with a ready node within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok(())
    }

    /// When HAProxy's backend `backend` (`sessions`, `one_shot`) marked
    /// node `id` DOWN, if it has.
    pub fn down_at(&self, backend: &str, id: &str) -> Option<Instant> {
        let downs = self.downs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        downs.iter().find(|(server, _)| *server == format!("{backend}/{id}")).map(|(_, at)| *at)
    }
}

/// The `BBXNODE` cookie HAProxy gave a client: the node of its session.
pub fn node_cookie(jar: &reqwest::cookie::Jar, front: &str) -> Option<String> {
    let header = jar.cookies(&front.parse().ok()?)?;
    let text = header.to_str().ok()?.to_owned();
    text.split("; ").find_map(|pair| pair.strip_prefix("BBXNODE=")).map(str::to_owned)
}

/// A signed-in browser through the front door: its client, cookie jar
/// and CSRF token.
pub async fn sign_up(front: &str, username: &str) -> Result<(reqwest::Client, Arc<reqwest::cookie::Jar>, String)> {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder().cookie_provider(jar.clone()).build()?;
    let credentials = json!({"username": username, "password": "a long enough password"});
    let me: Value = client.post(format!("{front}/api/v1/auth/signup")).json(&credentials).send().await?.json().await?;
    let csrf = me["csrf"].as_str().with_context(|| format!("no csrf in {me}"))?.to_owned();
    Ok((client, jar, csrf))
}

/// A WebSocket through the front door with the browser's cookies, and its
/// first frame (`hello`, or the `error` of a lost session).
pub async fn open_session(front: &str, jar: &reqwest::cookie::Jar, query: &str) -> Result<(Socket, Value)> {
    let ws = front.replace("http://", "ws://");
    let mut request = format!("{ws}/api/v1/ws{query}").into_client_request()?;
    let url = front.parse()?;
    if let Some(cookies) = jar.cookies(&url) {
        request.headers_mut().insert("cookie", cookies);
    }
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await?;
    // As a browser would: HAProxy names the node in its answer to the
    // upgrade when it sent the request to another one.
    for set_cookie in response.headers().get_all("set-cookie") {
        jar.add_cookie_str(set_cookie.to_str()?, &url);
    }
    let first = next(&mut socket).await?;
    Ok((socket, first))
}
