//! Benchmark of the Docker backend against plain Docker, Python
//! `print("hi")` on the same image throughout:
//!
//! - a new session's first run (box creation, the run, the box's
//!   destruction) through the `Backend` trait, against `docker run --rm`
//!   (create, attach, start, output read, wait, remove) through the API;
//!   with a spare box ready (the pool settled before each round), with no
//!   spare at all (pool off: every box made on demand), and with the pool
//!   sizing itself while sessions come back to back. Both sides are timed
//!   twice, the same way: until the program's exit is reported (removal
//!   and destruction left out of the clock), and with the container's
//!   removal and the box's destruction included;
//! - a warm run in a live box against `docker exec`;
//! - one-shot runs through Piston's `POST /api/v2/execute` on a real
//!   `bytesbox serve --backend docker` (built next to this binary),
//!   request to answer, against `docker run --rm`: latency one at a time,
//!   and throughput with 4 clients against 4 `docker run` workers, in
//!   alternating phases; and, when `bytesbox-jail` is built too, the
//!   native backend's one-shot throughput against bare `python3`.
//!
//! Baseline and Bytesbox samples alternate so machine drift hits both.
//! Prints Markdown rows `| measurement | baseline | Bytesbox | ratio | target |`.

mod plain;
mod served;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytesbox_docker::{DockerBackend, DockerConfig, SparePoolConfig, DEFAULT_IMAGE};
use bytesbox_sandbox::{Backend, BoxSpec, RunSpec, RunStatus, RUN_PATH};

use crate::plain::{docker_exec, docker_run, remove, start_sleeper, Timing};
use crate::served::{Server, PYTHON_STDOUT};

const PROGRAM: [&str; 3] = ["python3", "-c", "print(\"hi\")"];
const ROUNDS_COLD: usize = 10;
const ROUNDS_BACK_TO_BACK: usize = 20;
const ROUNDS_WARM: usize = 30;
const ROUNDS_ONE_SHOT: usize = 20;
/// Pause after each one-shot sample: the server's teardown and refill
/// (about 0.4 s each here) finish before the next sample.
const ONE_SHOT_SETTLE: Duration = Duration::from_millis(1500);
/// Clients (and plain workers) of the throughput figures.
const CLIENTS: usize = 4;
/// Each side's time in the throughput figures, in two alternating phases.
const THROUGHPUT_TIME: Duration = Duration::from_secs(10);
/// Let what a phase left (boxes destroyed after their answers, spares
/// being made) finish before the next phase starts.
const BETWEEN_PHASES: Duration = Duration::from_secs(3);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A row comparing two medians.
fn latency_row(what: &str, baseline: Vec<Duration>, ours: Vec<Duration>, target: &str) {
    let (baseline, ours) = (median(baseline), median(ours));
    println!(
        "| {what} | {:.1} ms | {:.1} ms | {:.2}x | {target} |",
        ms(baseline),
        ms(ours),
        ours.as_secs_f64() / baseline.as_secs_f64()
    );
}

/// A row comparing two rates.
fn throughput_row(what: &str, baseline: f64, ours: f64, target: &str) {
    println!("| {what} | {baseline:.1}/s | {ours:.1}/s | {:.2}x | {target} |", ours / baseline);
}

/// Samples of one side, timed twice (see [`Timing`]).
#[derive(Default)]
struct Series {
    until_exit: Vec<Duration>,
    with_teardown: Vec<Duration>,
}

impl Series {
    fn push(&mut self, timing: Timing) {
        self.until_exit.push(timing.until_exit);
        self.with_teardown.push(timing.with_teardown);
    }
}

/// Two rows: until the exit report, and with the box destroyed against
/// the container removed.
fn new_session_rows(what: &str, plain: &Series, ours: Series, target: &str) {
    latency_row(&format!("{what}, until exit"), plain.until_exit.clone(), ours.until_exit, target);
    latency_row("the same, box destroyed vs container removed", plain.with_teardown.clone(), ours.with_teardown, "");
}

/// A new session: box creation and its first run until the exit report,
/// and with the box's destruction.
async fn new_session(backend: &DockerBackend) -> Timing {
    let started = Instant::now();
    let id = backend.create(BoxSpec::default()).await.expect("create");
    let run = backend.run(&id, RunSpec::command(PROGRAM)).await.expect("run").collect().await.expect("collect");
    let until_exit = started.elapsed();
    assert_eq!(run.report.status, RunStatus::Ok);
    assert_eq!(run.stdout_text(), PYTHON_STDOUT);
    backend.destroy(&id).await.expect("destroy");
    Timing { until_exit, with_teardown: started.elapsed() }
}

/// Runs of `job` by `workers` tasks for `time`: how many, and in how long
/// (the last runs end after `time`).
async fn throughput<F, Fut>(workers: usize, time: Duration, job: F) -> (u64, Duration)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let started = Instant::now();
    let deadline = started + time;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let job = job.clone();
            tokio::spawn(async move {
                let mut runs = 0u64;
                while Instant::now() < deadline {
                    job().await;
                    runs += 1;
                }
                runs
            })
        })
        .collect();
    let mut runs = 0;
    for task in tasks {
        runs += task.await.expect("a throughput worker");
    }
    (runs, started.elapsed())
}

/// Baseline and Bytesbox throughput, in alternating phases: runs a second.
async fn alternating_throughput<B, BF, S, SF>(baseline: B, served: S) -> (f64, f64)
where
    B: Fn() -> BF + Clone + Send + 'static,
    BF: Future<Output = ()> + Send,
    S: Fn() -> SF + Clone + Send + 'static,
    SF: Future<Output = ()> + Send,
{
    let (mut base, mut ours) = ((0, Duration::ZERO), (0, Duration::ZERO));
    for _ in 0..2 {
        let (runs, took) = throughput(CLIENTS, THROUGHPUT_TIME / 2, baseline.clone()).await;
        base = (base.0 + runs, base.1 + took);
        tokio::time::sleep(BETWEEN_PHASES).await;
        let (runs, took) = throughput(CLIENTS, THROUGHPUT_TIME / 2, served.clone()).await;
        ours = (ours.0 + runs, ours.1 + took);
        tokio::time::sleep(BETWEEN_PHASES).await;
    }
    (base.0 as f64 / base.1.as_secs_f64(), ours.0 as f64 / ours.1.as_secs_f64())
}

/// Bare `python3 -c 'print("hi")'` on the host: the `python3` a native
/// box runs, the first on the boxes' `PATH` (not this shell's, which may
/// find a version manager's shim first).
async fn bare_python() {
    let output = tokio::process::Command::new(PROGRAM[0])
        .args(&PROGRAM[1..])
        .env("PATH", RUN_PATH)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("python3");
    assert_eq!(String::from_utf8_lossy(&output.stdout), PYTHON_STDOUT);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backend = DockerBackend::start(DockerConfig::default()).await.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let docker = backend.docker().clone();
    let no_spare = DockerBackend::start(DockerConfig { spare_pool: SparePoolConfig::off(), ..DockerConfig::default() })
        .await
        .expect("a second backend");
    // Warm-up: image layers into the page cache, every path once.
    let _ = docker_run(&docker, &PROGRAM, PYTHON_STDOUT).await;
    let _ = new_session(&no_spare).await;
    let _ = new_session(&backend).await;

    println!(
        "| measurement (`{}` on `{DEFAULT_IMAGE}`, medians) | baseline | Bytesbox | ratio | target |",
        PROGRAM.join(" ")
    );
    println!("|---|---|---|---|---|");

    let (mut plain, mut ready, mut none) = (Series::default(), Series::default(), Series::default());
    for _ in 0..ROUNDS_COLD {
        // Nothing of the pool runs in the background while a sample is taken.
        backend.spare_settled().await;
        plain.push(docker_run(&docker, &PROGRAM, PYTHON_STDOUT).await);
        none.push(new_session(&no_spare).await);
        backend.spare_settled().await;
        ready.push(new_session(&backend).await);
    }
    no_spare.shutdown().await;
    let target = "<= 1.0x";
    new_session_rows(
        &format!("new session's first run, spare ready, vs `docker run` ({ROUNDS_COLD} rounds)"),
        &plain,
        ready,
        target,
    );
    new_session_rows("new session's first run, no spare (pool off)", &plain, none, "");

    // Sessions back to back, each right after a `docker run`: the pool
    // sizes itself from their rate and refills while the next sample runs.
    let (mut plain, mut pooled, mut found_a_spare) = (Series::default(), Series::default(), 0);
    for _ in 0..ROUNDS_BACK_TO_BACK {
        plain.push(docker_run(&docker, &PROGRAM, PYTHON_STDOUT).await);
        if backend.spare_pool_size().0 > 0 {
            found_a_spare += 1;
        }
        pooled.push(new_session(&backend).await);
    }
    let (ready, target_size) = backend.spare_pool_size();
    eprintln!("spare pool after sessions back to back: {ready} ready, target {target_size}");
    new_session_rows(
        &format!(
            "new session's first run, pool sizing itself, sessions back to back ({ROUNDS_BACK_TO_BACK} rounds, \
             {found_a_spare} found a spare)"
        ),
        &plain,
        pooled,
        target,
    );

    let id = backend.create(BoxSpec::default()).await.expect("create");
    backend.spare_settled().await;
    let sleeper = start_sleeper(&docker).await;
    let (mut warm, mut plain_warm) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS_WARM {
        plain_warm.push(docker_exec(&docker, &sleeper, &PROGRAM).await);
        let started = Instant::now();
        let run = backend.run(&id, RunSpec::command(PROGRAM)).await.expect("run").collect().await.expect("collect");
        warm.push(started.elapsed());
        assert_eq!(run.report.status, RunStatus::Ok);
    }
    remove(&docker, &sleeper).await;
    backend.shutdown().await;
    latency_row(
        &format!("warm run in a live box vs `docker exec` ({ROUNDS_WARM} rounds)"),
        plain_warm,
        warm,
        "<= 1.2x",
    );

    one_shot(&docker).await;
}

/// The one-shot rows: Piston's REST API on real servers.
async fn one_shot(docker: &bollard::Docker) {
    let server = match Server::start("docker") {
        Ok(server) => Arc::new(server),
        Err(e) => {
            eprintln!("one-shot figures not measured: {e}");
            return;
        }
    };
    for _ in 0..3 {
        server.piston_run().await;
    }
    let (mut plain, mut piston) = (Series::default(), Vec::new());
    for _ in 0..ROUNDS_ONE_SHOT {
        plain.push(docker_run(docker, &PROGRAM, PYTHON_STDOUT).await);
        piston.push(server.piston_run().await);
        // The box destroyed after the answer, and the spare made for the
        // next request, would otherwise slow the next `docker run`.
        tokio::time::sleep(ONE_SHOT_SETTLE).await;
    }
    latency_row(
        &format!("one-shot, Piston `POST /api/v2/execute` (answer; box destroyed after it) vs `docker run --rm` ({ROUNDS_ONE_SHOT} rounds, 1.5 s apart)"),
        plain.with_teardown,
        piston.clone(),
        "<= 1.0x",
    );
    latency_row("the same vs `docker run` until exit (removal left out)", plain.until_exit, piston, "");
    let plain_job = {
        let docker = docker.clone();
        move || {
            let docker = docker.clone();
            async move {
                docker_run(&docker, &PROGRAM, PYTHON_STDOUT).await;
            }
        }
    };
    let served_job = {
        let server = server.clone();
        move || {
            let server = server.clone();
            async move {
                server.piston_run().await;
            }
        }
    };
    let (plain, served) = alternating_throughput(plain_job, served_job).await;
    throughput_row(
        &format!("one-shot throughput, Piston API, {CLIENTS} clients vs `docker run --rm`, {CLIENTS} workers"),
        plain,
        served,
        "",
    );
    drop(server);

    // The native backend's, next to it, when its jail helper is built.
    let jail = std::env::current_exe().map(|exe| exe.with_file_name("bytesbox-jail")).ok();
    if !jail.is_some_and(|jail| jail.is_file()) {
        eprintln!("native one-shot throughput not measured: build bytesbox-jail next to this binary");
        return;
    }
    let server = match Server::start("native") {
        Ok(server) => Arc::new(server),
        Err(e) => {
            eprintln!("native one-shot throughput not measured: {e}");
            return;
        }
    };
    let served_job = move || {
        let server = server.clone();
        async move {
            server.piston_run().await;
        }
    };
    let (bare, served) = alternating_throughput(bare_python, served_job).await;
    throughput_row(
        &format!(
            "native backend: one-shot throughput, Piston API, {CLIENTS} clients vs bare `python3`, {CLIENTS} workers"
        ),
        bare,
        served,
        ">= 0.9x",
    );
}
