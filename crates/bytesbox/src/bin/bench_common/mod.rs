//! What the benchmark binaries that measure a real `bytesbox serve` share:
//! starting the server with a configuration of their own, WebSocket
//! sessions, a warm run, the bare baseline, and the statistics they print;
//! `fleet` starts three of them behind HAProxy.

pub mod fleet;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const PYTHON_SOURCE: &str = "print(\"hi\")\n";

/// The server under test, in its own process so its memory is its own.
pub struct Server {
    pub child: Child,
    pub address: String,
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts `bytesbox serve` (the binary next to this one) with `config`
    /// as its TOML file and a data directory of its own.
    pub fn start(config: &str) -> Result<Server> {
        let exe = std::env::current_exe()?;
        let dir = exe.parent().context("the bench binary has no directory")?;
        let data = tempfile::tempdir()?;
        let config_path = data.path().join("bench.toml");
        std::fs::write(&config_path, config)?;
        let mut child = Command::new(dir.join("bytesbox"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config_path)
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .context("starting bytesbox serve (build it next to this binary)")?;
        let address = read_listen_address(&mut child)?;
        Ok(Server { child, address, _data: data })
    }

    pub fn rss_kib(&self) -> Result<u64> {
        rss_kib(self.child.id())
    }

    pub async fn connect(&self) -> Result<Socket> {
        let url = format!("ws://{}/api/v1/ws", self.address);
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
        let hello = next(&mut socket).await?;
        if hello["type"] != "hello" {
            bail!("expected hello, got {hello}");
        }
        Ok(socket)
    }
}

/// The address a starting `bytesbox serve` prints on the first line of its
/// stdout (`listening on http://ADDRESS`); the stdout is taken.
pub fn read_listen_address(child: &mut Child) -> Result<String> {
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .with_context(|| format!("no address in {line:?}"))?
        .to_string();
    Ok(address)
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// The resident memory of process `pid`, KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

pub async fn next(socket: &mut Socket) -> Result<Value> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .context("no frame within 60 s")?
            .context("connection closed")??;
        if let Message::Text(text) = frame {
            return Ok(serde_json::from_str(&text)?);
        }
    }
}

/// The `run` frame of Python hello with run id `id`.
pub fn python_run(id: &str) -> Value {
    json!({"type": "run", "id": id, "language": "python",
        "files": [{"path": "main.py", "content": PYTHON_SOURCE}]})
}

/// Follows the frames of one run until its `exit` of the run stage; fails
/// unless it printed `hi` and exited ok. Returns when the exit came.
pub struct RunCheck {
    output: String,
}

impl RunCheck {
    pub fn new() -> RunCheck {
        RunCheck { output: String::new() }
    }

    /// Takes one frame of the run; `Ok(true)` at its successful exit.
    pub fn frame(&mut self, frame: &Value) -> Result<bool> {
        match frame["type"].as_str() {
            Some("output") => self.output.push_str(frame["data"].as_str().unwrap_or_default()),
            Some("exit") if frame["stage"] == "run" => {
                if frame["status"] != "ok" || self.output != "hi\n" {
                    bail!("run failed: {frame} with output {:?}", self.output);
                }
                return Ok(true);
            }
            Some("error") => bail!("run failed: {frame}"),
            _ => {}
        }
        Ok(false)
    }
}

/// One warm-session run over the WebSocket: `run` sent to exit report.
pub async fn ws_run(socket: &mut Socket, id: &str) -> Result<Duration> {
    let start = Instant::now();
    socket.send(Message::Text(python_run(id).to_string().into())).await?;
    let mut check = RunCheck::new();
    loop {
        if check.frame(&next(socket).await?)? {
            let elapsed = start.elapsed();
            // Drain the `done` so the next run starts clean.
            while next(socket).await?["type"] != "done" {}
            return Ok(elapsed);
        }
    }
}

/// The `python3` a box finds: the first on the boxes' fixed `PATH` (not
/// this shell's, which may hold a version manager's shim).
fn box_python() -> Result<std::path::PathBuf> {
    bytesbox_sandbox::RUN_PATH
        .split(':')
        .map(|dir| std::path::Path::new(dir).join("python3"))
        .find(|path| path.is_file())
        .context("no python3 on the boxes' PATH")
}

/// The baseline of a Python hello: a bare `python3 -c 'print("hi")'`.
pub async fn bare_run() -> Result<Duration> {
    static PYTHON: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let python = PYTHON.get_or_init(|| box_python().unwrap_or_else(|_| "python3".into()));
    let start = Instant::now();
    let output = tokio::process::Command::new(python)
        .args(["-c", "print(\"hi\")"])
        .stdin(Stdio::null())
        .output()
        .await
        .context("spawning python3")?;
    if !output.status.success() || output.stdout != b"hi\n" {
        bail!("bare python3 failed");
    }
    Ok(start.elapsed())
}

/// Server configuration that lifts every cap that would stop one client
/// address from holding `boxes` boxes and sessions and `runs` runs at
/// once: rate limits, connections per address, the guest plan's boxes and
/// runs, and those of all guests at one address (a benchmark's sessions
/// all come from one address). At most `queued` runs wait for one of the
/// `2 × CPUs` run slots.
pub fn lifted_caps_config(boxes: usize, runs: usize, queued: usize) -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!(
        "[rate_limit]\nper_minute = 0\n\
         [connections]\nmax_per_address = 0\nmax_total = {boxes}\n\
         [admission]\nmax_running = {running}\nmax_queued = {queued}\n\
         [plans.guest]\nmax_concurrent_runs = {runs}\nrun_slot_share_percent = 100\nmax_boxes = {boxes}\n\
         max_idle_box_bytes = {idle_bytes}\n\
         [accounts]\nguest_address_runs = {runs}\nguest_address_boxes = {boxes}\n",
        running = 2 * cpus,
        idle_bytes = u64::MAX / 2,
    )
}

pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Every session holds a socket: the soft open-file limit up to the hard.
pub fn raise_open_file_limit() -> Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(())
}
