//! A real `bytesbox serve` (the binary built next to this one), and
//! one-shot runs through Piston's REST API on it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The served program and its expected output.
const PYTHON_SOURCE: &str = "print(\"hi\")\n";
pub const PYTHON_STDOUT: &str = "hi\n";

/// Rate limits off (every request comes from this one address); guests'
/// share of run slots at 100% and `max_running` at the clients, so four
/// clients run four at once as four `docker run` workers do.
const CONFIG: &str = "[rate_limit]\nper_minute = 0\n[connections]\nmax_per_address = 0\n\
                      [admission]\nmax_running = 8\nmax_queued = 64\n\
                      [plans.guest]\nrun_slot_share_percent = 100\nmax_concurrent_runs = 8\n";

/// A `bytesbox serve` child process, stopped (SIGTERM) when dropped.
pub struct Server {
    child: Child,
    address: String,
    _data: tempfile::TempDir,
}

impl Server {
    /// Starts `bytesbox serve --backend BACKEND` on a free port, or says
    /// why it cannot.
    pub fn start(backend: &str) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let binary = exe.with_file_name("bytesbox");
        if !binary.is_file() {
            return Err(format!("{} is missing: build it with `cargo build --release -p bytesbox`", binary.display()));
        }
        let data = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = data.path().join("bench.toml");
        std::fs::write(&config, CONFIG).map_err(|e| e.to_string())?;
        let mut child = Command::new(&binary)
            .args(["serve", "--listen", "127.0.0.1:0", "--backend", backend, "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(stdout).read_line(&mut line).map_err(|e| e.to_string())?;
        let address = line.split("http://").nth(1).and_then(|rest| rest.split_whitespace().next());
        let Some(address) = address.map(str::to_string) else {
            return Err(format!("bytesbox serve --backend {backend} did not start: {line:?}"));
        };
        Ok(Server { child, address, _data: data })
    }

    /// One Python hello through `POST /api/v2/execute`, on a connection
    /// of its own as most API clients send them: request sent to answer
    /// read. Panics on a wrong answer.
    pub async fn piston_run(&self) -> Duration {
        let body =
            json!({"language": "python", "version": "*", "files": [{"name": "main.py", "content": PYTHON_SOURCE}]})
                .to_string();
        let started = Instant::now();
        let mut stream = tokio::net::TcpStream::connect(&self.address).await.expect("connect to the server");
        stream.set_nodelay(true).expect("nodelay");
        let request = format!(
            "POST /api/v2/execute HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            self.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("send the request");
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.expect("read the answer");
        let took = started.elapsed();
        let answer = String::from_utf8_lossy(&answer);
        let json = answer.split_once("\r\n\r\n").map(|(_, json)| json).unwrap_or_default();
        let parsed: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        assert_eq!(parsed["run"]["stdout"], PYTHON_STDOUT, "Piston's answer: {answer}");
        took
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.child.wait();
    }
}
