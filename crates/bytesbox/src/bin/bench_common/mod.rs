//! What the benchmark binaries that measure a real `bytesbox serve` share:
//! starting the server with a configuration of their own, WebSocket
//! sessions, a warm run, and the statistics they print.

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
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("no address in {line:?}"))?
            .to_string();
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
