//! A real `bytesbox serve` process for the binary's integration tests
//! (`bytesbox.rs` and the hostile-load suite `hostile.rs`), with the
//! WebSocket and HTTP helpers they share. Each test binary uses a part.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytesbox_cgroups::{Cgroup, CgroupLayout, ROOT_NAME};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub const BYTESBOX: &str = env!("CARGO_BIN_EXE_bytesbox");

/// Starts `bytesbox serve` on an ephemeral port with its data (database,
/// project files, config) in `data`, which may hold an earlier server's;
/// returns the process and its address. Stores named by the environment
/// are ignored, so the test owns everything.
pub fn serve_in(data: &std::path::Path, backend: &str, extra_config: &str) -> (Child, String) {
    serve_in_uid_range(data, backend, extra_config, bytesbox_testkit::box_uid_range())
}

/// [`serve_in`], with the native backend's box uids from `base..base + count`.
pub fn serve_in_uid_range(
    data: &std::path::Path,
    backend: &str,
    extra_config: &str,
    uid_range: (u32, u32),
) -> (Child, String) {
    let mut command = Command::new(BYTESBOX);
    command.args(["serve", "--listen", "127.0.0.1:0", "--backend", backend]).env_remove("DATABASE_URL");
    serve_command(command, data, extra_config, uid_range)
}

/// Starts `command` (a `bytesbox serve` with its own flags) with its data,
/// config and project files in `data`; returns the process and its address.
pub fn serve_command(
    mut command: Command,
    data: &std::path::Path,
    extra_config: &str,
    (uid_base, uid_count): (u32, u32),
) -> (Child, String) {
    let config = data.join("bytesbox.toml");
    let jail = bytesbox_testkit::jail_binary();
    std::fs::write(
        &config,
        format!("[native]\njail_binary = {jail:?}\nuid_base = {uid_base}\nuid_count = {uid_count}\n{extra_config}"),
    )
    .unwrap();
    let mut child = command
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(data)
        .env_remove("BYTESBOX_OBJECTS")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, address)
}

/// A `bytesbox serve` process on an ephemeral port.
pub struct Served {
    pub child: Child,
    pub address: String,
    pub data: tempfile::TempDir,
    /// The native backend's box uids, as `(base, count)`.
    pub uid_range: (u32, u32),
}

impl Served {
    pub fn start(extra_config: &str) -> Served {
        Served::start_with_backend(extra_config, "native")
    }

    pub fn start_with_backend(extra_config: &str, backend: &str) -> Served {
        let data = tempfile::tempdir().unwrap();
        let uid_range = bytesbox_testkit::box_uid_range();
        let (child, address) = serve_in_uid_range(data.path(), backend, extra_config, uid_range);
        Served { child, address, data, uid_range }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    pub async fn connect(&self) -> Socket {
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", self.address)).await.unwrap();
        assert_eq!(next(&mut socket).await["type"], "hello");
        socket
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Cgroups of this server's backend instance still on the host, in any
    /// hierarchy of the layout its backend uses (v1 or v2, as detected).
    pub fn instance_cgroups(&self) -> Vec<String> {
        let prefix = format!("i{}-", self.pid());
        let layout = CgroupLayout::detect().expect("the host has a usable cgroup layout");
        let root = Cgroup::open_existing(&layout, std::path::Path::new(ROOT_NAME)).expect("the Bytesbox root cgroup");
        let names = root.list_children().expect("list the Bytesbox root cgroup");
        names.into_iter().filter(|name| name.starts_with(&prefix)).collect()
    }

    pub fn terminate(&self) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), nix::sys::signal::Signal::SIGTERM).unwrap();
    }

    /// Waits for the process to end; its exit status.
    pub fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit within {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
            let _ = self.wait(Duration::from_secs(30));
        }
    }
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::Text(value.to_string().into())).await.unwrap();
}

pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame =
            tokio::time::timeout(Duration::from_secs(30), socket.next()).await.expect("no frame").unwrap().unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// A plain HTTP GET; the status code.
pub async fn get_status(address: &str, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    String::from_utf8_lossy(&raw).split_whitespace().nth(1)?.parse().ok()
}

/// POSTs `body` as JSON with `client` and reads the answer's JSON, of any
/// status (callers look for what they expect and print the answer).
pub async fn post_json(client: &reqwest::Client, url: String, body: &Value) -> Value {
    client.post(url).json(body).send().await.unwrap().json().await.unwrap()
}

/// Signs `username` up through the API (as the IDE does: cookie and CSRF
/// token) and makes an API token; its secret.
pub async fn sign_up_with_token(base: &str, username: &str) -> String {
    let browser = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let credentials = serde_json::json!({"username": username, "password": "a long enough password"});
    let me = post_json(&browser, format!("{base}/api/v1/auth/signup"), &credentials).await;
    let csrf = me["csrf"].as_str().unwrap_or_else(|| panic!("no csrf in {me}")).to_owned();
    let token: Value = browser
        .post(format!("{base}/api/v1/auth/tokens"))
        .header("x-csrf-token", csrf)
        .json(&serde_json::json!({"name": "test"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["secret"].as_str().unwrap_or_else(|| panic!("no secret in {token}")).to_owned()
}

/// An HTTP client that sends `secret` as its bearer token.
pub fn token_client(secret: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {secret}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

/// An HTTP client (with a cookie store) whose connections come from
/// `from`, a loopback address: another client address for per-address
/// limits.
pub fn client_from(from: std::net::IpAddr) -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).local_address(from).timeout(Duration::from_secs(30)).build().unwrap()
}
