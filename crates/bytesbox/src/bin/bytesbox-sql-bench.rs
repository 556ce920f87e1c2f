//! SQL benchmark: the `mysql` (MariaDB) and `postgresql` runtimes of a real
//! `bytesbox serve` (native backend) over WebSocket, against the same
//! catalog command run directly on this host, as an unprivileged user,
//! with the same server on the host (`docs/sql.md`):
//!
//! - the first SQL run of a new session, `run` sent to exit report, its
//!   server started from the host's template (made by a warm-up session);
//! - `SELECT 1` in a warm session, against the catalog's run command on
//!   the host with the same server running there (the same client, script
//!   and server settings; no box), interleaved;
//! - the memory of an idle session server: the proportional set size of
//!   the processes of every session's server still running (the sessions
//!   of the first runs wait out their grace period), divided by their
//!   number; each data directory's tmpfs pages come on top.
//!
//! Usage (as root): `bytesbox-sql-bench [--iterations N]`. Prints a
//! Markdown table.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[allow(dead_code, reason = "each benchmark binary uses its own part of the shared module")]
mod bench_common;
use bench_common::{median, ms, next, Server, Socket};

/// Rate limits off: every session comes from this one address.
const SERVER_CONFIG: &str = "[rate_limit]\nper_minute = 0\n[connections]\nmax_per_address = 0\n";

/// The query every measured run sends.
const SELECT: &str = "SELECT 1 AS one;\n";

/// The host user the baseline's server and client run as.
const NOBODY: u32 = 65534;

fn parse_args() -> Result<usize> {
    let mut iterations = 20;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next().and_then(|v| v.parse().ok())) {
            ("--iterations", Some(n)) if n > 0 => iterations = n,
            _ => bail!("usage: bytesbox-sql-bench [--iterations N]"),
        }
    }
    Ok(iterations)
}

/// One SQL run over the WebSocket: `run` sent to exit report; fails unless
/// it ended `ok`.
async fn ws_sql_run(socket: &mut Socket, id: &str, language: &str) -> Result<Duration> {
    let frame = json!({"type": "run", "id": id, "language": language,
        "files": [{"path": "main.sql", "content": SELECT}]});
    let start = Instant::now();
    socket.send(Message::Text(frame.to_string().into())).await?;
    loop {
        let frame: Value = next(socket).await?;
        match frame["type"].as_str() {
            Some("exit") if frame["stage"] == "run" => {
                let elapsed = start.elapsed();
                if frame["status"] != "ok" {
                    bail!("{language} run failed: {frame}");
                }
                while next(socket).await?["type"] != "done" {}
                return Ok(elapsed);
            }
            Some("error") => bail!("{language} run failed: {frame}"),
            _ => {}
        }
    }
}

/// The catalog's command for `language` on this host, in `dir`, as
/// `nobody`, with the boxes' `PATH` and nothing else of this environment.
struct HostCommand {
    serve: Vec<String>,
    run: Vec<String>,
    search_path: String,
    dir: tempfile::TempDir,
}

impl HostCommand {
    fn new(language: &str) -> Result<HostCommand> {
        let catalog = bytesbox_runtimes::Catalog::builtin();
        let files = [bytesbox_runtimes::ProjectFile::new("main.sql", SELECT.as_bytes())];
        let plan = catalog.resolve(Some(language), &files, None)?;
        let serve = plan.server.context("a SQL runtime has a session server")?.argv;
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("main.sql"), SELECT)?;
        let nobody = Some(nix::unistd::Uid::from_raw(NOBODY));
        nix::unistd::chown(dir.path(), nobody, Some(nix::unistd::Gid::from_raw(NOBODY)))?;
        Ok(HostCommand { serve, run: plan.run.argv, search_path: catalog.search_path().to_string(), dir })
    }

    fn command(&self, argv: &[String]) -> Command {
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", &self.search_path)
            .uid(NOBODY)
            .gid(NOBODY)
            .process_group(0);
        command
    }

    /// Starts the host's server; returns once it said `ready`.
    fn serve(&self) -> Result<HostServer> {
        use std::io::BufRead;
        let mut child = self.command(&self.serve).stdout(Stdio::piped()).spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        let server = HostServer { child };
        if line != "ready\n" {
            bail!("the host's server did not start: {line:?}");
        }
        Ok(server)
    }

    /// One run of the file on the host's server.
    async fn run(&self) -> Result<Duration> {
        let mut command = tokio::process::Command::from(self.command(&self.run));
        let start = Instant::now();
        let output = command.stdout(Stdio::piped()).stderr(Stdio::piped()).output().await?;
        let elapsed = start.elapsed();
        if !output.status.success() {
            bail!("the host run failed: {}", String::from_utf8_lossy(&output.stdout));
        }
        Ok(elapsed)
    }
}

/// The baseline's server: its whole process group dies with it.
struct HostServer {
    child: Child,
}

impl Drop for HostServer {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let group = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The socket directory the catalog's command gives a session's server:
/// on the host it is this host's /tmp, removed when the bench is done.
fn shared_socket_dir(language: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/tmp/bytesbox-{language}"))
}

struct Figures {
    language: &'static str,
    first: Duration,
    host_warm: Duration,
    warm: Duration,
    /// Idle servers measured, and their mean memory.
    idle_servers: usize,
    idle_server_kib: u64,
}

/// What the command line of a session's server holds in the box (the
/// host's baseline server has other paths).
fn server_marker(language: &str) -> &'static str {
    match language {
        "mysql" => "--defaults-file=/tmp/bytesbox-mysql/my.cnf",
        _ => "/workspace/.bytesbox/postgresql/data",
    }
}

/// How many processes' command lines hold `marker`, and the proportional
/// set size (KiB) of them and their descendants (PostgreSQL's workers).
fn processes_pss_kib(marker: &str) -> Result<(usize, u64)> {
    let mut parents = std::collections::HashMap::new();
    let mut roots = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The fields after the command's closing parenthesis: state, ppid.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        parents.insert(pid, ppid.unwrap_or(0));
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(marker) {
            roots.push(pid);
        }
    }
    if roots.is_empty() {
        bail!("no process holds {marker:?}");
    }
    let in_tree = |mut pid: u32| loop {
        if roots.contains(&pid) {
            return true;
        }
        match parents.get(&pid) {
            Some(&parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    };
    let mut total = 0;
    for &pid in parents.keys().filter(|&&pid| in_tree(pid)) {
        let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { continue };
        let pss = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        total += pss.unwrap_or(0);
    }
    Ok((roots.len(), total))
}

async fn measure(server: &Server, language: &'static str, iterations: usize) -> Result<Figures> {
    let shared = shared_socket_dir(language);
    if shared.exists() {
        bail!("{} exists: another server of the catalog's command runs on this host", shared.display());
    }
    // A warm-up session makes the host's template.
    ws_sql_run(&mut server.connect().await?, "warm-up", language).await?;
    let mut first = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let mut socket = server.connect().await?;
        first.push(ws_sql_run(&mut socket, &format!("first-{i}"), language).await?);
    }
    let mut socket = server.connect().await?;
    ws_sql_run(&mut socket, "warm", language).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_servers, total_kib) = processes_pss_kib(server_marker(language))?;
    let idle_server_kib = total_kib / idle_servers as u64;
    let host = HostCommand::new(language)?;
    let host_server = host.serve()?;
    host.run().await?;
    let (mut host_warm, mut warm) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        // Each side as often first.
        if i % 2 == 0 {
            host_warm.push(host.run().await?);
            warm.push(ws_sql_run(&mut socket, &format!("warm-{i}"), language).await?);
        } else {
            warm.push(ws_sql_run(&mut socket, &format!("warm-{i}"), language).await?);
            host_warm.push(host.run().await?);
        }
    }
    drop(host_server);
    let _ = std::fs::remove_dir_all(&shared);
    let (first, host_warm, warm) = (median(&mut first), median(&mut host_warm), median(&mut warm));
    Ok(Figures { language, first, host_warm, warm, idle_servers, idle_server_kib })
}

#[tokio::main]
async fn main() -> Result<()> {
    let iterations = parse_args()?;
    if !nix::unistd::geteuid().is_root() {
        bail!("the SQL benchmark runs the native backend: run it as root");
    }
    let server = Server::start(SERVER_CONFIG)?;
    let mut figures = Vec::new();
    for language in ["mysql", "postgresql"] {
        eprintln!("{language}: {iterations} first runs of new sessions, {iterations} interleaved warm runs each ...");
        figures.push(measure(&server, language, iterations).await?);
    }
    println!("| measurement | baseline | Bytesbox | ratio | target |");
    println!("|---|---|---|---|---|");
    for Figures { language, first, host_warm, warm, idle_servers, idle_server_kib } in figures {
        println!(
            "| {language}: first SQL run of a new session, server from the host's template, `run` sent → exit report (median of {iterations}) | | {:.1} ms | | ≤ 500 ms |",
            ms(first)
        );
        println!(
            "| {language}: `SELECT 1` in a warm session, `run` sent → exit report, against the catalog's run command on this host with the same server running there (median of {iterations}) | {:.1} ms | {:.1} ms | {:.2}x | ≤ 1.2x |",
            ms(host_warm),
            ms(warm),
            warm.as_secs_f64() / host_warm.as_secs_f64()
        );
        println!(
            "| {language}: memory of an idle session server (its processes' PSS, mean of {idle_servers}; its data directory's tmpfs on top) | | {:.1} MiB | | printed |",
            idle_server_kib as f64 / 1024.0
        );
    }
    Ok(())
}
