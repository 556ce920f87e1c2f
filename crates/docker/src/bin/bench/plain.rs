//! The baseline: plain Docker through the Engine API, as the `docker`
//! command does it, with none of Bytesbox's hardening.

use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, RemoveContainerOptions, StartContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use bytesbox_docker::DEFAULT_IMAGE;
use futures_util::StreamExt;

/// How long a run in a new container (or box) took: until the program's
/// exit was reported, and until the container was removed (or the box
/// destroyed) too; `docker run --rm` returns only then.
pub struct Timing {
    pub until_exit: Duration,
    pub with_teardown: Duration,
}

fn command(program: &[&str]) -> Option<Vec<String>> {
    Some(program.iter().map(|s| s.to_string()).collect())
}

/// `docker run --rm IMAGE PROGRAM`: create, attach, start, read the
/// output to its end, wait for the exit, remove. Panics on a wrong output.
pub async fn docker_run(docker: &Docker, program: &[&str], expected_stdout: &str) -> Timing {
    let started = Instant::now();
    let body = ContainerCreateBody {
        image: Some(DEFAULT_IMAGE.into()),
        cmd: command(program),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        host_config: Some(HostConfig { network_mode: Some("none".into()), ..HostConfig::default() }),
        ..ContainerCreateBody::default()
    };
    let created = docker.create_container(None::<CreateContainerOptions>, body).await.expect("create");
    let attach =
        AttachContainerOptions { stream: true, stdout: true, stderr: true, ..AttachContainerOptions::default() };
    let mut attached = docker.attach_container(&created.id, Some(attach)).await.expect("attach");
    docker.start_container(&created.id, None::<StartContainerOptions>).await.expect("start");
    let mut stdout = Vec::new();
    while let Some(item) = attached.output.next().await {
        if let Ok(LogOutput::StdOut { message }) = item {
            stdout.extend_from_slice(&message);
        }
    }
    let mut wait = docker.wait_container(&created.id, None::<WaitContainerOptions>);
    while let Some(item) = wait.next().await {
        item.expect("wait");
    }
    let until_exit = started.elapsed();
    let options = RemoveContainerOptions { force: true, ..RemoveContainerOptions::default() };
    docker.remove_container(&created.id, Some(options)).await.expect("remove");
    assert_eq!(String::from_utf8_lossy(&stdout), expected_stdout, "plain docker run's output");
    Timing { until_exit, with_teardown: started.elapsed() }
}

/// A plain container that sleeps, for `docker exec` into it.
pub async fn start_sleeper(docker: &Docker) -> String {
    let body = ContainerCreateBody {
        image: Some(DEFAULT_IMAGE.into()),
        cmd: command(&["sleep", "infinity"]),
        host_config: Some(HostConfig { network_mode: Some("none".into()), ..HostConfig::default() }),
        ..ContainerCreateBody::default()
    };
    let created = docker.create_container(None::<CreateContainerOptions>, body).await.expect("create");
    docker.start_container(&created.id, None::<StartContainerOptions>).await.expect("start");
    created.id
}

pub async fn remove(docker: &Docker, container: &str) {
    let options = RemoveContainerOptions { force: true, ..RemoveContainerOptions::default() };
    docker.remove_container(container, Some(options)).await.expect("remove");
}

/// `docker exec CONTAINER PROGRAM`, its output read, its exit code asked.
pub async fn docker_exec(docker: &Docker, container: &str, program: &[&str]) -> Duration {
    let started = Instant::now();
    let config = ExecConfig {
        cmd: command(program),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..ExecConfig::default()
    };
    let exec = docker.create_exec(container, config).await.expect("exec create");
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, None::<StartExecOptions>).await.expect("exec start")
    {
        while output.next().await.is_some() {}
    }
    let _ = docker.inspect_exec(&exec.id).await.expect("exec inspect");
    started.elapsed()
}
