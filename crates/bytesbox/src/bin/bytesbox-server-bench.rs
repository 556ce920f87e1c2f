//! Server benchmark: a real `bytesbox serve` process (native backend,
//! language catalog) measured over WebSocket against bare processes
//! spawned by this process, interleaved so machine drift hits both alike
//! (each side as often first, so both follow the other's tail as often).
//!
//! - end-to-end latency of Python `print("hi")` in a warm session, from
//!   `run` sent to the exit report received, against bare
//!   `python3 -c 'print("hi")'`;
//! - throughput of such runs at saturation against bare processes on the
//!   same cores, `--seconds` each, in short slices that alternate;
//! - end-to-end latency of the same program through the one-shot APIs
//!   (`POST /api/v1/execute`, Piston's `POST /api/v2/execute`), each
//!   request on a new connection, a fresh box each: pairs back to back
//!   (the last request's teardown and the ready pool's refill run during
//!   the next pair), and 80 ms apart, as a client that does anything
//!   between requests sends them (that work is done by the next pair);
//! - server memory per idle connected session, with many connected;
//! - how soon a Piston `/api/v2/connect` without `init` is closed (4001):
//!   Piston's second, the server's default (the tests check only that the
//!   timeout is the configured one, timing belongs here).
//!
//! Usage (as root): `bytesbox-server-bench [--iterations N] [--seconds S]
//! [--sessions N]`. Prints a Markdown table.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

#[allow(dead_code, reason = "each benchmark binary uses its own part of the shared module")]
mod bench_common;
use bench_common::{bare_run, median, ms, raise_open_file_limit, ws_run, Server, PYTHON_SOURCE};

/// Rate limits and the per-address connection cap off: every connection
/// comes from this one address, and the idle-session figure opens 10,000
/// of them.
const SERVER_CONFIG: &str = "[rate_limit]\nper_minute = 0\n[connections]\nmax_per_address = 0\nmax_total = 20000\n";

/// Piston connections timed for the init timeout.
const PISTON_CONNECTIONS: usize = 5;

struct Args {
    iterations: usize,
    seconds: u64,
    sessions: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args { iterations: 100, seconds: 10, sessions: 10_000 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: Option<u64> = it.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--iterations", Some(n)) => args.iterations = usize::try_from(n)?,
            ("--seconds", Some(n)) => args.seconds = n,
            ("--sessions", Some(n)) => args.sessions = usize::try_from(n)?,
            _ => bail!("usage: bytesbox-server-bench [--iterations N] [--seconds S] [--sessions N]"),
        }
    }
    Ok(args)
}

/// Medians (bare, served) of `iterations` pairs, after five warm-up pairs
/// (the session's box, the page cache, the launcher). Every other pair
/// starts with the served side, so each side follows the other, and the
/// server's after-run work, as often. `pause` comes before each pair.
async fn interleaved(
    iterations: usize,
    pause: Duration,
    mut served: impl AsyncFnMut(usize) -> Result<Duration>,
) -> Result<(Duration, Duration)> {
    for n in 0..5 {
        served(iterations + n).await?;
        bare_run().await?;
    }
    let (mut bare_samples, mut served_samples) = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    for n in 0..iterations {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        if n % 2 == 0 {
            bare_samples.push(bare_run().await?);
            served_samples.push(served(n).await?);
        } else {
            served_samples.push(served(n).await?);
            bare_samples.push(bare_run().await?);
        }
    }
    Ok((median(&mut bare_samples), median(&mut served_samples)))
}

async fn latency(server: &Server, iterations: usize) -> Result<(Duration, Duration)> {
    let mut socket = server.connect().await?;
    interleaved(iterations, Duration::ZERO, async |n| ws_run(&mut socket, &format!("r{n}")).await).await
}

/// Runs and seconds of one slice, from the workers' start to the end of
/// the last one (each stops starting runs after `SATURATION_SLICE`).
async fn slice<F, Fut>(workers: usize, make: F) -> Result<(u64, f64)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<u64>> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers).map(|w| tokio::spawn(make(w))).collect();
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok((total, start.elapsed().as_secs_f64()))
}

/// One saturation slice; each side gets many, alternating, so drift hits
/// both alike. Short, but long against a run (tens of ms at saturation),
/// so the runs still in flight when a slice ends weigh little.
const SATURATION_SLICE: Duration = Duration::from_millis(500);

/// Throughput at saturation of bare processes and of warm sessions.
struct Saturation {
    bare_rate: f64,
    served_rate: f64,
    workers: usize,
    /// Slices each side got.
    slices: u32,
}

/// Runs per second of bare processes and of warm sessions, with as many
/// workers each, over `seconds` per side, in alternating slices.
async fn saturation(server: &Server, seconds: u64) -> Result<Saturation> {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    // The server admits two running jobs per CPU by default; as many
    // clients keep it busy, and as many bare workers keep the cores busy.
    let workers = cpus * 2;
    let slices = u32::try_from(Duration::from_secs(seconds).as_millis().div_ceil(SATURATION_SLICE.as_millis()))?.max(1);
    let mut sockets = Vec::new();
    for _ in 0..workers {
        let mut socket = server.connect().await?;
        ws_run(&mut socket, "warm").await?;
        sockets.push(std::sync::Arc::new(tokio::sync::Mutex::new(socket)));
    }
    let bare_slice = || {
        slice(workers, move |_| async move {
            let start = Instant::now();
            let mut runs = 0;
            while start.elapsed() < SATURATION_SLICE {
                bare_run().await?;
                runs += 1;
            }
            Ok(runs)
        })
    };
    let served_slice = || {
        slice(workers, |w| {
            let socket = sockets[w].clone();
            async move {
                let mut socket = socket.lock().await;
                let start = Instant::now();
                let mut runs = 0u64;
                while start.elapsed() < SATURATION_SLICE {
                    ws_run(&mut socket, &format!("t{runs}")).await?;
                    runs += 1;
                }
                Ok(runs)
            }
        })
    };
    let (mut bare, mut served) = ((0, 0.0), (0, 0.0));
    let add = |total: &mut (u64, f64), (runs, secs): (u64, f64)| *total = (total.0 + runs, total.1 + secs);
    // Every other pair of slices starts with the served side, as in
    // `interleaved`.
    for n in 0..slices {
        if n % 2 == 0 {
            add(&mut bare, bare_slice().await?);
            add(&mut served, served_slice().await?);
        } else {
            add(&mut served, served_slice().await?);
            add(&mut bare, bare_slice().await?);
        }
    }
    Ok(Saturation { bare_rate: bare.0 as f64 / bare.1, served_rate: served.0 as f64 / served.1, workers, slices })
}

/// A one-shot run API and how its answer carries the run's stdout.
struct OneShotApi {
    name: &'static str,
    path: &'static str,
    body: Value,
}

fn one_shot_apis() -> [OneShotApi; 2] {
    [
        OneShotApi {
            name: "`POST /api/v1/execute`",
            path: "/api/v1/execute",
            body: json!({"language": "python", "files": [{"path": "main.py", "content": PYTHON_SOURCE}]}),
        },
        OneShotApi {
            name: "Piston `POST /api/v2/execute`",
            path: "/api/v2/execute",
            body: json!({"language": "python", "version": "*", "files": [{"name": "main.py", "content": PYTHON_SOURCE}]}),
        },
    ]
}

/// One request on a connection of its own, as most API clients send them:
/// connect, POST, read the whole answer. Returns the status and the JSON.
async fn post_json(address: &str, path: &str, body: &str) -> Result<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8(response).context("the answer is not UTF-8")?;
    let (head, json) = text.split_once("\r\n\r\n").context("no end of the answer's head")?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status")?;
    Ok((status, serde_json::from_str(json).with_context(|| format!("not JSON: {json:?}"))?))
}

/// One run through a one-shot API: request sent to answer read.
async fn one_shot_run(server: &Server, api: &OneShotApi) -> Result<Duration> {
    let body = api.body.to_string();
    let start = Instant::now();
    let (status, answer) = post_json(&server.address, api.path, &body).await?;
    let elapsed = start.elapsed();
    if status != 200 || answer["run"]["stdout"] != "hi\n" {
        bail!("{} failed: {status} {answer}", api.name);
    }
    Ok(elapsed)
}

/// The pause of a client that does something between its requests, long
/// enough for the server's work after a one-shot request (the last box's
/// teardown, the ready pool's refill) to be done before the next pair.
const CLIENT_PAUSE: Duration = Duration::from_millis(80);

async fn one_shot_latency(
    server: &Server,
    api: &OneShotApi,
    iterations: usize,
    pause: Duration,
) -> Result<(Duration, Duration)> {
    interleaved(iterations, pause, async |_| one_shot_run(server, api).await).await
}

/// Server memory per idle session: RSS growth after `count` connections
/// that said hello and then nothing, divided by `count`.
async fn idle_sessions(server: &Server, count: usize) -> Result<(f64, u64, u64)> {
    // Let the server settle, then measure.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib()?;
    let mut sockets = Vec::with_capacity(count);
    for chunk in 0..count.div_ceil(100) {
        let batch: Vec<_> = (0..100.min(count - chunk * 100)).map(|_| server.connect()).collect();
        for socket in futures_util::future::join_all(batch).await {
            sockets.push(socket?);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib()?;
    drop(sockets);
    Ok((after.saturating_sub(before) as f64 / count as f64, before, after))
}

/// Piston connections that never send `init`: the median time from the
/// connection being open to its 4001 close.
async fn piston_init_timeout(server: &Server, connections: usize) -> Result<Duration> {
    let mut samples = Vec::with_capacity(connections);
    for _ in 0..connections {
        let url = format!("ws://{}/api/v2/connect", server.address);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
        let start = Instant::now();
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
                .await
                .context("no close within 30 s")?
                .context("closed without a close frame")??;
            match message {
                Message::Close(Some(close)) if u16::from(close.code) == 4001 => break,
                Message::Close(other) => bail!("closed with {other:?}, not 4001"),
                _ => {}
            }
        }
        samples.push(start.elapsed());
    }
    Ok(median(&mut samples))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    if !nix::unistd::geteuid().is_root() {
        bail!("the server benchmark runs the native backend: run it as root");
    }
    raise_open_file_limit()?;
    let server = Server::start(SERVER_CONFIG)?;
    eprintln!("latency: {} interleaved runs each ...", args.iterations);
    let (bare, served) = latency(&server, args.iterations).await?;
    let mut one_shot = Vec::new();
    for api in one_shot_apis() {
        for (pause, how) in [(Duration::ZERO, "back to back"), (CLIENT_PAUSE, "80 ms apart")] {
            eprintln!("one-shot {}, {how}: {} interleaved runs each ...", api.name, args.iterations);
            let (bare, served) = one_shot_latency(&server, &api, args.iterations, pause).await?;
            one_shot.push((api.name, how, bare, served));
        }
    }
    eprintln!("saturation: {} s each side, in alternating slices ...", args.seconds);
    let saturated = saturation(&server, args.seconds).await?;
    eprintln!("idle sessions: {} ...", args.sessions);
    let (per_session, before, after) = idle_sessions(&server, args.sessions).await?;
    eprintln!("piston init timeout: {PISTON_CONNECTIONS} connections ...");
    let init_timeout = piston_init_timeout(&server, PISTON_CONNECTIONS).await?;

    println!("| measurement | baseline | Bytesbox | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| Python `print(\"hi\")`, warm session, `run` sent → exit report (median of {}) | {:.2} ms | {:.2} ms | {:.3}x | ≤ 1.05x |",
        args.iterations,
        ms(bare),
        ms(served),
        served.as_secs_f64() / bare.as_secs_f64()
    );
    for (name, how, bare, served) in one_shot {
        println!(
            "| the same through {name}, a fresh box each, pairs {how} (median of {}) | {:.2} ms | {:.2} ms | {:.3}x | ≤ 1.10x |",
            args.iterations,
            ms(bare),
            ms(served),
            served.as_secs_f64() / bare.as_secs_f64()
        );
    }
    println!(
        "| warm sessions at saturation, {} clients, {} alternating slices of {} ms each side | {:.1} runs/s | {:.1} runs/s | {:.0} % | ≥ 90 % |",
        saturated.workers,
        saturated.slices,
        SATURATION_SLICE.as_millis(),
        saturated.bare_rate,
        saturated.served_rate,
        100.0 * saturated.served_rate / saturated.bare_rate
    );
    println!(
        "| server memory per idle connected session ({} sessions; RSS {before} → {after} KiB) | | {per_session:.1} KiB | | ≤ 20 KiB |",
        args.sessions
    );
    println!(
        "| Piston `/api/v2/connect` without `init` → 4001 close (median of {PISTON_CONNECTIONS}) | | {:.0} ms | | 1 s (Piston's) |",
        ms(init_timeout)
    );
    Ok(())
}
