//! Notebook kernel benchmark: a real `bytesbox serve` (native backend)
//! over its WebSocket protocol, against `jupyter_client` (Debian's, on
//! `/usr/bin/python3`) speaking to an ipykernel started on this host
//! with the catalog's settings (`docs/notebooks.md`):
//!
//! - a trivial cell (`1+1`) and a printing cell (`print('hi')`) in a
//!   ready kernel, `kernel_execute` sent to both its reply and its `idle`
//!   status, interleaved with the same cell through `jupyter_client`
//!   (`execute` to the same two messages);
//! - open to ready: `kernel_start` to `kernel_ready` in a session whose
//!   spare kernel is ready, and cold (a new session: box made, kernel
//!   started).
//!
//! Usage (as root): `bytesbox-kernel-bench [--iterations N]`. Prints a
//! Markdown table.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[allow(dead_code, reason = "each benchmark binary uses its own part of the shared module")]
mod bench_common;
use bench_common::{median, ms, next, Server, Socket};

/// Rate limits off: every request comes from this one address.
const SERVER_CONFIG: &str = "[rate_limit]\nper_minute = 0\n[connections]\nmax_per_address = 0\n";

/// The cells measured.
const CELLS: [(&str, &str); 2] = [("trivial cell `1+1`", "1+1"), ("printing cell `print('hi')`", "print('hi')")];

/// The baseline: a Python process with `jupyter_client` and a host
/// ipykernel; it reads one JSON line `{"code": …}` and answers with the
/// seconds from `execute` to the reply and the `idle` status.
const BASELINE: &str = r#"
import json, sys, time, jupyter_client
env = {"PATH": "/usr/bin:/bin", "MPLCONFIGDIR": "/tmp/.matplotlib", "JUPYTER_PLATFORM_DIRS": "1",
       "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
km, kc = jupyter_client.manager.start_new_kernel(
    kernel_name="python3", env=env, extra_arguments=["--HistoryManager.hist_file=:memory:"])
print("ready", flush=True)
for line in sys.stdin:
    code = json.loads(line)["code"]
    started = time.perf_counter()
    msg_id = kc.execute(code)
    while True:
        message = kc.get_iopub_msg(timeout=60)
        if (message["parent_header"].get("msg_id") == msg_id and message["msg_type"] == "status"
                and message["content"]["execution_state"] == "idle"):
            break
    while kc.get_shell_msg(timeout=60)["parent_header"].get("msg_id") != msg_id:
        pass
    print(time.perf_counter() - started, flush=True)
km.shutdown_kernel(now=True)
"#;

struct Baseline {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Baseline {
    fn start() -> Result<Baseline> {
        let mut child = Command::new("/usr/bin/python3")
            .args(["-c", BASELINE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting the jupyter_client baseline (/usr/bin/python3)")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("the baseline kernel did not start (python3-jupyter-client and python3-ipykernel): {line:?}");
        }
        Ok(Baseline { child, stdin, stdout })
    }

    fn cell(&mut self, code: &str) -> Result<Duration> {
        writeln!(self.stdin, "{}", json!({ "code": code }))?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let seconds: f64 = line.trim().parse().with_context(|| format!("the baseline answered {line:?}"))?;
        Ok(Duration::from_secs_f64(seconds))
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_args() -> Result<usize> {
    let mut iterations = 50;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next().and_then(|v| v.parse().ok())) {
            ("--iterations", Some(n)) if n > 0 => iterations = n,
            _ => bail!("usage: bytesbox-kernel-bench [--iterations N]"),
        }
    }
    Ok(iterations)
}

/// `kernel_start` to `kernel_ready`.
async fn start_kernel(socket: &mut Socket, id: &str) -> Result<Duration> {
    let started = Instant::now();
    socket
        .send(Message::Text(json!({"type": "kernel_start", "id": id, "language": "python"}).to_string().into()))
        .await?;
    loop {
        let frame = next(socket).await?;
        match frame["type"].as_str() {
            Some("kernel_ready") if frame["id"] == id => return Ok(started.elapsed()),
            Some("error") => bail!("kernel {id} did not start: {frame}"),
            _ => {}
        }
    }
}

/// A cell: `kernel_execute` to both its reply and its `idle` status.
async fn cell(socket: &mut Socket, id: &str, request: &str, code: &str) -> Result<Duration> {
    let frame = json!({"type": "kernel_execute", "id": id, "request": request, "code": code});
    let started = Instant::now();
    socket.send(Message::Text(frame.to_string().into())).await?;
    let (mut idle, mut replied) = (false, false);
    while !(idle && replied) {
        let frame = next(socket).await?;
        if frame["id"] != id {
            // Another kernel's (the spares' ends).
            continue;
        }
        if frame["type"] == "error" || frame["type"] == "kernel_exited" {
            bail!("cell {request} failed: {frame}");
        }
        if frame["parent"] != request {
            continue;
        }
        idle |= frame["msg_type"] == "status" && frame["content"]["execution_state"] == "idle";
        replied |= frame["channel"] == "shell";
    }
    Ok(started.elapsed())
}

#[tokio::main]
async fn main() -> Result<()> {
    let iterations = parse_args()?;
    if !nix::unistd::geteuid().is_root() {
        bail!("the kernel benchmark runs the native backend: run it as root");
    }
    let server = Server::start(SERVER_CONFIG)?;
    let mut baseline = Baseline::start()?;

    eprintln!("open to ready: {} cold starts, then as many with the session's spare ready ...", iterations.min(5));
    let (mut cold, mut spare) = (Vec::new(), Vec::new());
    let mut socket = server.connect().await?;
    for i in 0..iterations.min(5) {
        let mut fresh = server.connect().await?;
        cold.push(start_kernel(&mut fresh, &format!("cold-{i}")).await?);
    }
    start_kernel(&mut socket, "warm").await?;
    for i in 0..iterations.min(5) {
        // The spare is started after the kernel before it is ready.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let id = format!("spare-{i}");
        spare.push(start_kernel(&mut socket, &id).await?);
        socket.send(Message::Text(json!({"type": "kernel_shutdown", "id": id}).to_string().into())).await?;
    }

    let mut rows = Vec::new();
    for (name, code) in CELLS {
        eprintln!("{name}: {iterations} interleaved pairs ...");
        cell(&mut socket, "warm", "warm-up", code).await?;
        baseline.cell(code)?;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for i in 0..iterations {
            let request = format!("c{i}");
            if i % 2 == 0 {
                theirs.push(baseline.cell(code)?);
                ours.push(cell(&mut socket, "warm", &request, code).await?);
            } else {
                ours.push(cell(&mut socket, "warm", &request, code).await?);
                theirs.push(baseline.cell(code)?);
            }
        }
        rows.push((name, median(&mut theirs), median(&mut ours)));
    }

    println!("| measurement | baseline | Bytesbox | ratio | target |");
    println!("|---|---|---|---|---|");
    for (name, theirs, ours) in rows {
        println!(
            "| {name} in a ready kernel, sent → reply and `idle`, against `jupyter_client` to a host ipykernel (median of {iterations}, interleaved) | {:.2} ms | {:.2} ms | {:.2}x | ≤ 1.2x |",
            ms(theirs),
            ms(ours),
            ours.as_secs_f64() / theirs.as_secs_f64()
        );
    }
    println!(
        "| open to ready, the session's spare kernel ready: `kernel_start` → `kernel_ready` (median of {}) | | {:.1} ms | | ≤ 300 ms |",
        spare.len(),
        ms(median(&mut spare))
    );
    println!(
        "| open to ready, cold: a new session's `kernel_start` → `kernel_ready` (box made, kernel started; median of {}) | | {:.0} ms | | printed |",
        cold.len(),
        ms(median(&mut cold))
    );
    Ok(())
}
