//! Benchmark of the Docker backend against plain Docker, in one process:
//! a cold first run of a session (box creation + first run) against a plain
//! `docker run --rm` (create + start + attach + wait + remove through the
//! API), and a warm run against a plain `docker exec` into a running
//! container, all on the same tiny program and the same image. Cold runs
//! are measured twice: with the spare box ready (it is made in the
//! background after each new session; the round waits for it), and with
//! no spare (every box made on demand).
//! Prints a Markdown table (docs/performance.md holds the latest).

use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions, WaitContainerOptions};
use bollard::Docker;
use bytesbox_docker::{DockerBackend, DockerConfig, SparePoolConfig, DEFAULT_IMAGE};
use bytesbox_sandbox::{Backend, BoxSpec, RunSpec, RunStatus};
use futures_util::StreamExt;

const ROUNDS_COLD: usize = 10;
const ROUNDS_WARM: usize = 30;
const PROGRAM: [&str; 2] = ["echo", "hi"];

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn plain_run(docker: &Docker) -> Duration {
    let started = Instant::now();
    let body = ContainerCreateBody {
        image: Some(DEFAULT_IMAGE.into()),
        cmd: Some(PROGRAM.iter().map(|s| s.to_string()).collect()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(HostConfig { network_mode: Some("none".into()), ..HostConfig::default() }),
        ..ContainerCreateBody::default()
    };
    let created = docker.create_container(None::<CreateContainerOptions>, body).await.expect("create");
    docker.start_container(&created.id, None::<bollard::query_parameters::StartContainerOptions>).await.expect("start");
    let mut wait = docker.wait_container(&created.id, None::<WaitContainerOptions>);
    while let Some(item) = wait.next().await {
        item.expect("wait");
    }
    let options = RemoveContainerOptions { force: true, ..RemoveContainerOptions::default() };
    docker.remove_container(&created.id, Some(options)).await.expect("remove");
    started.elapsed()
}

async fn plain_exec(docker: &Docker, container: &str) -> Duration {
    let started = Instant::now();
    let config = ExecConfig {
        cmd: Some(PROGRAM.iter().map(|s| s.to_string()).collect()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..ExecConfig::default()
    };
    let exec = docker.create_exec(container, config).await.expect("exec create");
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, None::<StartExecOptions>).await.expect("exec start")
    {
        while let Some(item) = output.next().await {
            if let Ok(LogOutput::StdOut { .. }) = item {}
        }
    }
    let _ = docker.inspect_exec(&exec.id).await.expect("exec inspect");
    started.elapsed()
}

/// A new session: box creation and its first run, until the exit report.
async fn new_session(backend: &DockerBackend) -> Duration {
    let started = Instant::now();
    let id = backend.create(BoxSpec::default()).await.expect("create");
    let run = backend.run(&id, RunSpec::command(PROGRAM)).await.expect("run").collect().await.expect("collect");
    let took = started.elapsed();
    assert_eq!(run.report.status, RunStatus::Ok);
    backend.destroy(&id).await.expect("destroy");
    took
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let backend = DockerBackend::start(DockerConfig::default()).await.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let docker = backend.docker().clone();
    // Warm-up: image layers into the page cache, both paths once.
    let _ = plain_run(&docker).await;

    let no_spare = DockerBackend::start(DockerConfig { spare_pool: SparePoolConfig::off(), ..DockerConfig::default() })
        .await
        .expect("a second backend");
    let mut cold = Vec::new();
    let mut cold_no_spare = Vec::new();
    let mut plain_cold = Vec::new();
    // Nothing runs in the background while a sample is taken: the spare
    // made after the last new session is waited for first.
    for _ in 0..ROUNDS_COLD {
        backend.spare_settled().await;
        plain_cold.push(plain_run(&docker).await);
        cold_no_spare.push(new_session(&no_spare).await);
        cold.push(new_session(&backend).await);
    }
    no_spare.shutdown().await;

    let id = backend.create(BoxSpec::default()).await.expect("create");
    backend.spare_settled().await;
    let body = ContainerCreateBody {
        image: Some(DEFAULT_IMAGE.into()),
        cmd: Some(vec!["sleep".into(), "infinity".into()]),
        host_config: Some(HostConfig { network_mode: Some("none".into()), ..HostConfig::default() }),
        ..ContainerCreateBody::default()
    };
    let plain = docker.create_container(None::<CreateContainerOptions>, body).await.expect("create");
    docker.start_container(&plain.id, None::<bollard::query_parameters::StartContainerOptions>).await.expect("start");
    let mut warm = Vec::new();
    let mut plain_warm = Vec::new();
    for _ in 0..ROUNDS_WARM {
        plain_warm.push(plain_exec(&docker, &plain.id).await);
        let started = Instant::now();
        let run = backend.run(&id, RunSpec::command(PROGRAM)).await.expect("run").collect().await.expect("collect");
        warm.push(started.elapsed());
        assert_eq!(run.report.status, RunStatus::Ok);
    }
    let options = RemoveContainerOptions { force: true, ..RemoveContainerOptions::default() };
    docker.remove_container(&plain.id, Some(options)).await.expect("remove");
    backend.shutdown().await;

    let (cold, cold_no_spare, plain_cold) = (median(cold), median(cold_no_spare), median(plain_cold));
    let (warm, plain_warm) = (median(warm), median(plain_warm));
    println!(
        "| `{}` on `{DEFAULT_IMAGE}` (median) | Bytesbox docker | plain Docker API | ratio | target |",
        PROGRAM.join(" ")
    );
    println!("|---|---|---|---|---|");
    println!(
        "| cold: new session + first run vs `docker run --rm` ({ROUNDS_COLD} rounds, spare box ready) | {:.1} ms | {:.1} ms | {:.2}x | <= 1.1x |",
        ms(cold),
        ms(plain_cold),
        ms(cold) / ms(plain_cold)
    );
    println!(
        "| cold, no spare box (made on demand) | {:.1} ms | {:.1} ms | {:.2}x | <= 1.1x |",
        ms(cold_no_spare),
        ms(plain_cold),
        ms(cold_no_spare) / ms(plain_cold)
    );
    println!(
        "| warm: run in a live box vs `docker exec` ({ROUNDS_WARM} rounds) | {:.1} ms | {:.1} ms | {:.2}x | <= 1.2x |",
        ms(warm),
        ms(plain_warm),
        ms(warm) / ms(plain_warm)
    );
}
