//! Fleet benchmark (issue 16): three `bytesbox serve` nodes, each in a
//! network namespace of its own, behind HAProxy with the shipped
//! configuration, sharing one PostgreSQL database and one S3 bucket (the
//! three-node test's fleet: `bench_common/fleet.rs`).
//!
//! - **Load**: N guest sessions (1,000 by default) are opened through the
//!   front door, a few at a time, each running Python hello once (its box
//!   is made for that run), and kept open; then rounds of warm runs, one
//!   in a session of each node, interleaved with a bare `python3 -c
//!   'print("hi")'` (the baseline). Printed: how many sessions each node
//!   got, and the runs' latency per node and for the fleet.
//! - **Failover**: signed-up users save a project each and run it in a
//!   session; the node of the first user's session is SIGKILLed. Measured:
//!   until HAProxy marks it DOWN (its log) and how new sessions fare
//!   meanwhile; for each user whose session died, from the kill until its
//!   client has reconnected through the front door, been told the session
//!   was lost, opened a new session and run its saved project there; that
//!   every saved project reads back intact. Then another node, with a run
//!   going in one of its sessions, gets SIGTERM (a rolling restart's
//!   drain): until it exits, and whether the run finished.
//!
//! Every session comes from this one address, so the nodes' per-address
//! caps and rate limits are lifted (the output says so).
//!
//! Usage (as root): `bytesbox-fleet-bench [--sessions N] [--in-flight N]
//! [--warm-rounds N] [--users N] [--no-failover]`, with the stores and
//! HAProxy `scripts/lib.sh` provides in the environment:
//! `BYTESBOX_TEST_POSTGRES_URL` (a database the bench may fill: its users
//! and projects stay), `BYTESBOX_TEST_S3_URL` and
//! `BYTESBOX_TEST_S3_ENDPOINT` (with the credentials' variables) and
//! `BYTESBOX_TEST_HAPROXY`. `scripts/bench --fleet` sets them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[allow(dead_code, reason = "each benchmark binary uses its own part of the shared module")]
mod bench_common;
use bench_common::fleet::{node_cookie, open_session, sign_up, start_nodes, Balancer, Node, NodeSetup, S3Target};
use bench_common::{bare_run, lifted_caps_config, median, ms, next, raise_open_file_limit, ws_run, Socket};

/// Box uids of the nodes: `uid_count` from here per node, above the
/// test suite's range (2,000,000 + 65,536 × 1,024).
const UID_BASE: u32 = 70_000_000;

struct Args {
    sessions: usize,
    in_flight: usize,
    warm_rounds: usize,
    users: usize,
    failover: bool,
}

fn parse_args() -> Result<Args> {
    const USAGE: &str = "usage: bytesbox-fleet-bench [--sessions N] [--in-flight N] [--warm-rounds N] \
                         [--users N] [--no-failover]";
    let mut args = Args { sessions: 1_000, in_flight: 16, warm_rounds: 20, users: 9, failover: true };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-failover" {
            args.failover = false;
            continue;
        }
        let value: usize = it.next().context(USAGE)?.parse().context(USAGE)?;
        match flag.as_str() {
            "--sessions" => args.sessions = value,
            "--in-flight" => args.in_flight = value,
            "--warm-rounds" => args.warm_rounds = value,
            "--users" => args.users = value,
            _ => bail!(USAGE),
        }
    }
    ensure!(args.sessions >= 3 && args.in_flight > 0 && args.warm_rounds > 0, "{USAGE}: all counts positive");
    ensure!(args.users >= 3, "--users must be at least 3: users on the node killed and on the node drained");
    Ok(args)
}

fn variable(name: &str) -> Result<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty()).with_context(|| {
        format!("{name} is not set: run the fleet benchmark with `scripts/bench --fleet`, or see its usage")
    })
}

/// The nodes' configuration: the caps one address would hit lifted (every
/// node may hold all the sessions), fast heartbeats, sessions that outlive
/// a dropped connection by 30 s (a reconnect), a run slot per core.
fn node_config(sessions: usize, in_flight: usize) -> String {
    let caps = lifted_caps_config(sessions + 1_000, 2 * in_flight, 4 * in_flight);
    format!("{caps}[node]\nheartbeat_secs = 1\ntimeout_secs = 3\n[sessions]\ngrace_secs = 30\n")
}

/// `samples`' value at quantile `q` (0..=1); they are sorted in place.
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    let last = samples.len().saturating_sub(1);
    let rank = ((last as f64) * q).round() as usize;
    samples.get(rank.min(last)).copied().unwrap_or_default()
}

/// `p50 / p95` in ms, or `–` without samples.
fn p50_p95(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "–".to_owned();
    }
    format!("{:.0} / {:.0}", ms(quantile(samples, 0.5)), ms(quantile(samples, 0.95)))
}

/// The node a client's `BBXNODE` cookie names, as an index of `ids`.
fn landed(ids: &[&str], jar: &reqwest::cookie::Jar, front: &str) -> Result<usize> {
    let cookie = node_cookie(jar, front);
    ids.iter()
        .position(|id| Some(*id) == cookie.as_deref())
        .with_context(|| format!("a session on no node: {cookie:?}"))
}

/// A guest session through the front door, after its first run.
struct Opened {
    node: usize,
    socket: Socket,
    first_run: Duration,
}

async fn open_guest(front: &str, ids: &[&str], index: usize) -> Result<Opened> {
    let jar = reqwest::cookie::Jar::default();
    let (mut socket, hello) = open_session(front, &jar, "").await?;
    ensure!(hello["type"] == "hello", "session {index}: {hello}");
    let node = landed(ids, &jar, front)?;
    let first_run = ws_run(&mut socket, &format!("first-{index}")).await?;
    Ok(Opened { node, socket, first_run })
}

/// What the load phase measured; its sessions stay open.
struct Load {
    sessions: Vec<Opened>,
    opening: Duration,
    warm: Vec<Vec<Duration>>,
    bare: Vec<Duration>,
}

async fn load(front: &str, ids: &[&'static str], args: &Args) -> Result<Load> {
    let slots = Arc::new(Semaphore::new(args.in_flight));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..args.sessions {
        let (slots, front, ids) = (slots.clone(), front.to_owned(), ids.to_vec());
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            open_guest(&front, &ids, index).await
        });
    }
    let mut sessions = Vec::new();
    while let Some(opened) = tasks.join_next().await {
        sessions.push(opened??);
        if sessions.len() % 100 == 0 {
            eprintln!("{} sessions open ({:.0} s)", sessions.len(), start.elapsed().as_secs_f64());
        }
    }
    let opening = start.elapsed();
    // Warm runs: a round is a bare run, then one run in a session of each
    // node, a different session every round.
    let mut by_node: Vec<Vec<usize>> = vec![Vec::new(); ids.len()];
    for (index, session) in sessions.iter().enumerate() {
        by_node[session.node].push(index);
    }
    let (mut warm, mut bare) = (vec![Vec::new(); ids.len()], Vec::new());
    bare_run().await?;
    for round in 0..args.warm_rounds {
        bare.push(bare_run().await?);
        for (node, members) in by_node.iter().enumerate() {
            if let Some(&index) = members.get(round % members.len().max(1)) {
                warm[node].push(ws_run(&mut sessions[index].socket, &format!("warm-{round}")).await?);
            }
        }
    }
    Ok(Load { sessions, opening, warm, bare })
}

/// Runs a saved project in a session; its output.
async fn run_project(socket: &mut Socket, id: &str, project: &str) -> Result<String> {
    let run = json!({"type": "run", "id": id, "project": project});
    socket.send(Message::Text(run.to_string().into())).await?;
    let mut output = String::new();
    loop {
        let frame = next(socket).await?;
        match frame["type"].as_str() {
            Some("output") => output.push_str(frame["data"].as_str().unwrap_or_default()),
            Some("done") => return Ok(output),
            Some("error") => bail!("running project {project}: {frame}"),
            _ => {}
        }
    }
}

/// A signed-up user with a saved project, in a session that ran it.
struct User {
    client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
    project: String,
    source: String,
    node: usize,
    socket: Socket,
    resume: String,
}

impl User {
    fn expected_output(&self) -> String {
        self.source.trim_start_matches("print(\"").trim_end_matches("\")\n").to_owned() + "\n"
    }
}

async fn user_with_project(front: &str, ids: &[&str], name: &str) -> Result<User> {
    let (client, jar, csrf) = sign_up(front, name).await?;
    let source = format!("print(\"saved work of {name}\")\n");
    let body = json!({"name": "kept", "files": [{"path": "main.py", "content": source}]});
    let answer: Value = client
        .post(format!("{front}/api/v1/projects"))
        .header("x-csrf-token", &csrf)
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let project = answer["project"]["id"].as_str().with_context(|| format!("saving a project: {answer}"))?.to_owned();
    let (socket, hello) = open_session(front, &jar, "").await?;
    ensure!(hello["type"] == "hello", "{name}'s session: {hello}");
    let resume = hello["resume"].as_str().context("no resume token in the hello")?.to_owned();
    let node = landed(ids, &jar, front)?;
    let mut user = User { client, jar, project, source, node, socket, resume };
    let output = run_project(&mut user.socket, "before", &user.project).await?;
    ensure!(output == user.expected_output(), "{name}'s project printed {output:?}");
    Ok(user)
}

/// The IDE's reconnect delays (`web/src/protocol/client.ts`): before the
/// first attempt, and after each that failed.
const RECONNECT_BACKOFF: [Duration; 5] = [
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
];

/// Opens a session through the front door as the IDE does after a
/// close: after the backoff's delay, again until one answers (a node
/// dying as the upgrade reaches it makes HAProxy answer 502). The socket,
/// its first frame, and the attempts it took.
async fn reconnect(front: &str, jar: &reqwest::cookie::Jar, query: &str) -> Result<(Socket, Value, usize)> {
    let mut attempts = 0;
    loop {
        tokio::time::sleep(RECONNECT_BACKOFF[attempts.min(RECONNECT_BACKOFF.len() - 1)]).await;
        attempts += 1;
        match open_session(front, jar, query).await {
            Ok((socket, first)) => return Ok((socket, first, attempts)),
            Err(error) if attempts < 10 => eprintln!("reconnect attempt {attempts}: {error}"),
            Err(error) => return Err(error.context(format!("{attempts} reconnect attempts"))),
        }
    }
}

/// A client whose session died with its node, as the IDE does it: once
/// its socket closes, it reconnects through the front door with its
/// resume token (and its cookie, naming the dead node), is told the
/// session was lost, opens a new session and runs its saved project.
/// Returns the time from `killed_at` to that run's end, the connection
/// attempts that failed on the way, and the user, now on its new node.
async fn come_back(front: &str, ids: &[&str], mut user: User, killed_at: Instant) -> Result<(Duration, usize, User)> {
    while next(&mut user.socket).await.is_ok() {}
    let (_, lost, resumes) = reconnect(front, &user.jar, &format!("?resume={}", user.resume)).await?;
    ensure!(lost["type"] == "error" && lost.to_string().contains("unknown_session"), "the resume answered {lost}");
    let (mut socket, hello, opens) = reconnect(front, &user.jar, "").await?;
    ensure!(hello["type"] == "hello", "the new session: {hello}");
    let output = run_project(&mut socket, "after", &user.project).await?;
    let back = killed_at.elapsed();
    ensure!(output == user.expected_output(), "the saved project printed {output:?} after the kill");
    user.node = landed(ids, &user.jar, front)?;
    user.resume = hello["resume"].as_str().unwrap_or_default().to_owned();
    user.socket = socket;
    Ok((back, resumes + opens - 2, user))
}

/// New clients while the node is dead: a session opened every 100 ms
/// until `until` after the kill. Each: when it started (since the kill),
/// how long its opening took, and its node (or the error).
async fn probe_new_sessions(
    front: String,
    ids: Vec<&'static str>,
    killed_at: Instant,
    until: Duration,
) -> Vec<(Duration, Duration, Result<usize>)> {
    let mut probes = Vec::new();
    while killed_at.elapsed() < until {
        let (started, jar) = (killed_at.elapsed(), reqwest::cookie::Jar::default());
        let opened = open_session(&front, &jar, "").await;
        let took = killed_at.elapsed() - started;
        let node = opened.and_then(|(_, hello)| {
            ensure!(hello["type"] == "hello", "{hello}");
            landed(&ids, &jar, &front)
        });
        if let Err(error) = &node {
            eprintln!("a new session {:.2} s after the kill failed: {error}", started.as_secs_f64());
        }
        probes.push((started, took, node));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    probes
}

/// What the failover phase measured.
struct Failover {
    killed: &'static str,
    down_after: Option<Duration>,
    probes: Vec<(Duration, Duration, Result<usize>)>,
    comebacks: Vec<Duration>,
    /// The most connection attempts that failed in one comeback.
    retries: usize,
    intact: usize,
    saved: usize,
    drained: &'static str,
    drained_sessions: usize,
    drain: Duration,
    drain_run_finished: Option<Duration>,
    drain_exit: std::process::ExitStatus,
}

/// The program run while its node drains: it is still running when the
/// SIGTERM comes, and must finish (`[sessions] drain_secs` is 10 s).
const DRAIN_RUN: &str = "import time\nprint(\"started\", flush=True)\ntime.sleep(3)\nprint(\"finished\")\n";

async fn failover(front: &str, nodes: &mut [Node], balancer: &Balancer, load: &Load, args: &Args) -> Result<Failover> {
    let ids: Vec<&'static str> = nodes.iter().map(|node| node.id).collect();
    // Names no earlier run on the same database has used.
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let tag = format!("{}-{}", std::process::id(), since_epoch.as_secs());
    let mut users = Vec::new();
    for n in 0..args.users {
        users.push(user_with_project(front, &ids, &format!("fleet-bench-{tag}-{n}")).await?);
    }
    let saved: Vec<(reqwest::Client, String, String)> =
        users.iter().map(|user| (user.client.clone(), user.project.clone(), user.source.clone())).collect();
    let victim = users[0].node;
    let (on_victim, mut elsewhere): (Vec<User>, Vec<User>) = users.into_iter().partition(|user| user.node == victim);
    eprintln!("killing {} with SIGKILL ({} of the users' sessions on it)", ids[victim], on_victim.len());

    let killed_at = Instant::now();
    nodes[victim].process.0.kill()?;
    let comebacks: Vec<_> = on_victim
        .into_iter()
        .map(|user| {
            let (front, ids) = (front.to_owned(), ids.clone());
            tokio::spawn(async move { come_back(&front, &ids, user, killed_at).await })
        })
        .collect();
    let probes = tokio::spawn(probe_new_sessions(front.to_owned(), ids.clone(), killed_at, Duration::from_secs(6)));
    tokio::task::block_in_place(|| nodes[victim].process.0.wait())?;
    let (mut returned, mut comeback_times, mut retries) = (Vec::new(), Vec::new(), 0);
    for comeback in comebacks {
        let (took, tries, user) = comeback.await??;
        comeback_times.push(took);
        retries = retries.max(tries);
        returned.push(user);
    }
    let probes = probes.await?;
    let down_after = balancer.down_at("sessions", ids[victim]).map(|at| at - killed_at);

    // Every project saved before the kill, read back through the front
    // door (a lost node's users' cookies name the dead node).
    let mut intact = 0;
    for (client, project, source) in &saved {
        let file = client.get(format!("{front}/api/v1/projects/{project}/files/main.py")).send().await?;
        if file.status().is_success() && file.text().await? == *source {
            intact += 1;
        }
    }

    // A drain: a node holding a user's session with a run going gets
    // SIGTERM (what a rolling restart sends), and exits once the run is over.
    elsewhere.extend(returned);
    let user = elsewhere.iter_mut().find(|user| user.node != victim).context("no user's session on a live node")?;
    let drained = user.node;
    let run = json!({"type": "run", "id": "draining", "language": "python",
        "files": [{"path": "main.py", "content": DRAIN_RUN}]});
    user.socket.send(Message::Text(run.to_string().into())).await?;
    let mut output = String::new();
    let mut terminated_at = None;
    let mut drain_run_finished = None;
    // The run's frames up to its exit (or the socket's close); the SIGTERM
    // once it has started.
    while let Ok(frame) = next(&mut user.socket).await {
        match frame["type"].as_str() {
            Some("output") => output.push_str(frame["data"].as_str().unwrap_or_default()),
            Some("exit") if frame["stage"] == "run" => {
                if frame["status"] == "ok" && output.ends_with("finished\n") {
                    drain_run_finished = terminated_at.map(|at: Instant| at.elapsed());
                }
                break;
            }
            Some("error") => bail!("the run on the node to drain: {frame}"),
            _ => {}
        }
        if terminated_at.is_none() && output.contains("started") {
            terminated_at = Some(Instant::now());
            nix::sys::signal::kill(nodes[drained].pid(), nix::sys::signal::Signal::SIGTERM)?;
        }
    }
    let terminated_at = terminated_at.context("the run on the node to drain never started")?;
    let drain_exit = loop {
        if let Some(status) = nodes[drained].process.0.try_wait()? {
            break status;
        }
        ensure!(terminated_at.elapsed() < Duration::from_secs(120), "the drained node did not exit within 120 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let drain = terminated_at.elapsed();
    let drained_sessions = load.sessions.iter().filter(|session| session.node == drained).count();
    Ok(Failover {
        killed: ids[victim],
        down_after,
        probes,
        comebacks: comeback_times,
        retries,
        intact,
        saved: saved.len(),
        drained: ids[drained],
        drained_sessions,
        drain,
        drain_run_finished,
        drain_exit,
    })
}

/// The host's load average over the last minute.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().unwrap_or("?").to_owned()
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// `value / baseline` as a ratio.
fn ratio(value: Duration, baseline: Duration) -> String {
    format!("{:.1}×", value.as_secs_f64() / baseline.as_secs_f64().max(f64::MIN_POSITIVE))
}

fn print_load(load: &mut Load, ids: &[&str]) {
    let total = load.sessions.len();
    let bare = median(&mut load.bare);
    let counts: Vec<usize> =
        (0..ids.len()).map(|node| load.sessions.iter().filter(|s| s.node == node).count()).collect();
    let share = |count: usize| count as f64 * 100.0 / total as f64;
    let even = 100.0 / ids.len() as f64;
    println!("### Load: {total} sessions through the front door\n");
    println!("| node | sessions | share | off an even share | first run p50 / p95 (ms) | warm run p50 / p95 (ms) | warm p50 / bare |");
    println!("|---|---|---|---|---|---|---|");
    let mut all_first = Vec::new();
    for (node, id) in ids.iter().enumerate() {
        let mut first: Vec<Duration> = load.sessions.iter().filter(|s| s.node == node).map(|s| s.first_run).collect();
        all_first.extend(&first);
        let warm = &mut load.warm[node];
        let warm_ratio = if warm.is_empty() { "–".to_owned() } else { ratio(quantile(warm, 0.5), bare) };
        println!(
            "| {id} | {} | {:.1} % | {:+.1} points | {} | {} | {warm_ratio} |",
            counts[node],
            share(counts[node]),
            share(counts[node]) - even,
            p50_p95(&mut first),
            p50_p95(warm),
        );
    }
    let (most, fewest) = (counts.iter().max().copied().unwrap_or(0), counts.iter().min().copied().unwrap_or(0));
    let mut all_warm: Vec<Duration> = load.warm.iter().flatten().copied().collect();
    println!(
        "| fleet | {total} | 100 % | most / fewest {:.2} | {} | {} | {} |\n",
        most as f64 / fewest.max(1) as f64,
        p50_p95(&mut all_first),
        p50_p95(&mut all_warm),
        ratio(quantile(&mut all_warm, 0.5), bare),
    );
    println!(
        "Baseline: a bare `python3 -c 'print(\"hi\")'`, median {:.1} ms of {} runs interleaved with the warm rounds. \
         The first run of a session makes its box; a warm run is one more run in a session that has one.\n",
        ms(bare),
        load.bare.len()
    );
}

/// The rows of the benches' common table: figure, baseline, Bytesbox, ratio, target.
fn print_summary(load: &mut Load, failover: Option<&Failover>, args: &Args) {
    let bare = median(&mut load.bare);
    let mut first: Vec<Duration> = load.sessions.iter().map(|s| s.first_run).collect();
    let mut warm: Vec<Duration> = load.warm.iter().flatten().copied().collect();
    let counts: Vec<usize> =
        (0..load.warm.len()).map(|node| load.sessions.iter().filter(|s| s.node == node).count()).collect();
    let (most, fewest) = (counts.iter().max().copied().unwrap_or(0), counts.iter().min().copied().unwrap_or(0));
    let bare_ms = format!("{:.1} ms", ms(bare));
    println!("| figure | bare python3 | Bytesbox fleet | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| sessions on the busiest / the quietest node | | {most} / {fewest} | {:.2} | |",
        most as f64 / fewest.max(1) as f64
    );
    for (name, samples) in [("first run of a new session (its box made)", &mut first), ("warm run", &mut warm)] {
        for (label, q) in [("p50", 0.5), ("p95", 0.95)] {
            let value = quantile(samples, q);
            println!("| {name}, fleet {label} | {bare_ms} | {:.1} ms | {} | |", ms(value), ratio(value, bare));
        }
    }
    println!(
        "| {} sessions opened, {} at a time | | {} ({:.0} per s) | | |",
        load.sessions.len(),
        args.in_flight,
        seconds(load.opening),
        load.sessions.len() as f64 / load.opening.as_secs_f64()
    );
    let Some(failover) = failover else { return };
    let down = failover.down_after.map_or("not seen".to_owned(), seconds);
    println!("| SIGKILL of {} → HAProxy marks it DOWN | | {down} | | |", failover.killed);
    let failed = failover.probes.iter().filter(|(_, _, node)| node.is_err()).count();
    let slowest = failover.probes.iter().map(|(_, took, _)| *took).max().unwrap_or_default();
    println!(
        "| new sessions in the 6 s after the kill: slowest opening | | {} ({} opened, {failed} failed) | | |",
        seconds(slowest),
        failover.probes.len()
    );
    let mut comebacks = failover.comebacks.clone();
    println!(
        "| SIGKILL → a lost session's user ran its saved project on another node (median / slowest of {}; \
         failed connection attempts: {} at most) | | {} / {} | | |",
        comebacks.len(),
        failover.retries,
        seconds(median(&mut comebacks)),
        seconds(comebacks.last().copied().unwrap_or_default())
    );
    println!("| saved projects read back intact after the kill | | {} / {} | | |", failover.intact, failover.saved);
    let finished = failover
        .drain_run_finished
        .map_or("its run did not finish".to_owned(), |at| format!("its run finished at {}", seconds(at)));
    println!(
        "| SIGTERM to {} ({} boxes) → it exited ({}, {finished}) | | {} | | |",
        failover.drained,
        failover.drained_sessions,
        failover.drain_exit,
        seconds(failover.drain)
    );
}

async fn bench(args: &Args, setup: &NodeSetup<'_>, haproxy: &std::path::Path) -> Result<()> {
    let load_before = load_average();
    let uid_count = u32::try_from(args.sessions + 1_000)?;
    let uid_ranges = [0, 1, 2].map(|index| (UID_BASE + index * uid_count, uid_count));
    let mut nodes = start_nodes(setup, uid_ranges).await?;
    let balancer = Balancer::start(haproxy, &nodes)?;
    balancer.wait_until_serving().await?;
    let ids: Vec<&'static str> = nodes.iter().map(|node| node.id).collect();
    eprintln!("three nodes behind {}; opening {} sessions", balancer.front, args.sessions);
    let mut load = load(&balancer.front, &ids, args).await?;
    let failover =
        if args.failover { Some(failover(&balancer.front, &mut nodes, &balancer, &load, args).await?) } else { None };
    println!("## Fleet: three nodes behind HAProxy (`bytesbox-fleet-bench`)\n");
    println!(
        "Each node's per-address caps and rate limits are lifted for this benchmark: every session comes from one \
         address. Load average (1 min): {load_before} before, {} after; figures measured while the machine was busy \
         are not the ones to quote.\n",
        load_average()
    );
    print_load(&mut load, &ids);
    print_summary(&mut load, failover.as_ref(), args);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    ensure!(
        nix::unistd::geteuid().is_root(),
        "the fleet benchmark makes network namespaces and native boxes: run it as root"
    );
    raise_open_file_limit()?;
    let database_url = variable("BYTESBOX_TEST_POSTGRES_URL")?;
    let s3_url =
        format!("{}/fleet-bench-{}", variable("BYTESBOX_TEST_S3_URL")?.trim_end_matches('/'), std::process::id());
    let s3 = S3Target::new(s3_url)?;
    let haproxy = std::path::PathBuf::from(variable("BYTESBOX_TEST_HAPROXY")?);
    let exe = std::env::current_exe()?;
    let bytesbox = exe.with_file_name("bytesbox");
    let jail = exe.with_file_name("bytesbox-jail");
    ensure!(bytesbox.is_file() && jail.is_file(), "build bytesbox and bytesbox-jail next to this binary");
    let config = node_config(args.sessions, args.in_flight);
    let setup = NodeSetup { bytesbox: &bytesbox, jail: &jail, database_url: &database_url, s3: &s3, config: &config };
    // Whatever ends the bench, the fleet is dropped: nodes stopped, their
    // namespaces deleted.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = bench(&args, &setup, &haproxy) => result,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        _ = terminate.recv() => bail!("terminated"),
    }
}
