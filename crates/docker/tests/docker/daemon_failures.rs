//! The engine failing under the backend: not answering at start-up, and
//! restarting in the middle of a session.
//!
//! The restart test stops and starts the host's `dockerd`, so it holds
//! [`ENGINE`] exclusively; every other test of this binary holds it shared.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use bollard::query_parameters::InspectContainerOptions;
use bytesbox_sandbox::RunEvent;

use super::*;

/// Where `dockerd` records its pid unless told otherwise.
const DOCKERD_PID_FILE: &str = "/var/run/docker.pid";
/// Where `scripts/lib.sh` (`ensure_docker`) sends dockerd's output; a
/// dockerd this test starts again appends to it.
const DOCKERD_LOG: &str = "/var/log/bytesbox-dockerd.log";
/// Longest the engine may take to stop or to answer again before the test
/// gives up (a hang guard, not a timing target).
const ENGINE_PATIENCE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_does_not_answer_at_start_up_is_a_clear_error() {
    let _engine = ENGINE.read().await;
    // Nobody serves this socket: no engine, no root and no images needed.
    let address = "unix:///nonexistent/bytesbox-test/docker.sock";
    let config = DockerConfig { docker_host: Some(address.into()), ..DockerConfig::default() };
    let started = tokio::time::timeout(Duration::from_secs(60), DockerBackend::start(config))
        .await
        .expect("start-up gives up instead of hanging");
    let message = started.expect_err("no engine answers there").to_string();
    assert!(message.contains(address) && message.contains("does not answer"), "names the problem: {message}");
    assert!(message.contains("dockerd") && message.contains("DOCKER_HOST"), "says how to fix it: {message}");
    assert!(message.contains("scripts/images build"), "and how to get the images: {message}");
}

/// The host's dockerd, as found through its pid file.
struct Dockerd {
    pid: i32,
    argv: Vec<OsString>,
}

/// The running dockerd and the command line it was started with, or why
/// this test cannot restart it.
fn running_dockerd() -> Result<Dockerd, String> {
    let pid_text = std::fs::read_to_string(DOCKERD_PID_FILE).map_err(|e| format!("{DOCKERD_PID_FILE}: {e}"))?;
    let pid: i32 = pid_text.trim().parse().map_err(|e| format!("{DOCKERD_PID_FILE} holds {pid_text:?}: {e}"))?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).map_err(|e| format!("dockerd (pid {pid}): {e}"))?;
    let argv: Vec<OsString> = cmdline
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| OsString::from(String::from_utf8_lossy(arg).into_owned()))
        .collect();
    let program = argv.first().map(|p| Path::new(p).file_name().unwrap_or_default().to_os_string());
    if program.as_deref() != Some(std::ffi::OsStr::new("dockerd")) {
        return Err(format!("pid {pid} of {DOCKERD_PID_FILE} is not dockerd: {argv:?}"));
    }
    if argv.iter().any(|arg| arg.to_string_lossy().contains("fd://")) {
        return Err("dockerd is socket-activated by systemd (fd://); this test restarts a dockerd it can start \
                    itself, as scripts/lib.sh does"
            .into());
    }
    Ok(Dockerd { pid, argv })
}

/// Whether a process is still there (a zombie counts as gone).
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()) != Some('Z'),
        Err(_) => false,
    }
}

/// Stops dockerd with SIGTERM, waits for it to exit, starts it again the
/// way it was started (in its own process group, output to the log) and
/// waits until it answers.
async fn restart_dockerd(dockerd: &Dockerd) {
    // SAFETY: kill(2) on the pid dockerd wrote in its pid file, checked
    // above to be dockerd; no memory is involved.
    let sent = unsafe { libc::kill(dockerd.pid, libc::SIGTERM) };
    assert_eq!(sent, 0, "SIGTERM to dockerd: {}", std::io::Error::last_os_error());
    let deadline = Instant::now() + ENGINE_PATIENCE;
    while process_alive(dockerd.pid) {
        assert!(Instant::now() < deadline, "dockerd (pid {}) did not exit after SIGTERM", dockerd.pid);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::OpenOptions::new().create(true).append(true).open(DOCKERD_LOG).expect("the dockerd log");
    let (program, args) = dockerd.argv.split_first().expect("dockerd's command line");
    // tokio reaps the child if it ever exits while this process runs; it
    // outlives the test (own process group, no terminal, no stdin).
    tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the dockerd log"))
        .stderr(log)
        .process_group(0)
        .kill_on_drop(false)
        .spawn()
        .expect("dockerd starts again");
    loop {
        let answered = match bytesbox_docker::connect(None).await {
            Ok(docker) => docker.ping().await.is_ok(),
            Err(_) => false,
        };
        if answered {
            return;
        }
        assert!(Instant::now() < deadline, "dockerd did not answer again; see {DOCKERD_LOG}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The id of the container that currently has the box's name, if any.
async fn container_of(backend: &DockerBackend, name: &str) -> Option<String> {
    backend.docker().inspect_container(name, None::<InspectContainerOptions>).await.ok().and_then(|c| c.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_restart_fails_the_run_in_flight_and_the_next_run_gets_a_fresh_container() {
    const TEST: &str = "an_engine_restart_fails_the_run_in_flight_and_the_next_run_gets_a_fresh_container";
    // No other test of this binary may talk to the engine meanwhile.
    let _engine = ENGINE.write().await;
    if !require_docker(TEST).await {
        return;
    }
    let dockerd = running_dockerd();
    if !bytesbox_testkit::require_prerequisite(TEST, "a dockerd it can restart", dockerd.as_ref().err().cloned()) {
        return;
    }
    let dockerd = dockerd.unwrap();
    let backend = start().await;
    let id = backend.create(BoxSpec::default()).await.unwrap();
    backend.put_files(&id, vec![FileEntry::new("before-restart.txt", "old")], PutMode::Merge).await.unwrap();
    let old_container = container_of(&backend, &id.0).await.expect("the box's container");

    let mut sleeper = RunSpec::command(["sh", "-c", "echo started; exec sleep 600"]);
    sleeper.limits.wall_time_ms = 600_000;
    let mut in_flight = backend.run(&id, sleeper).await.unwrap();
    let first = in_flight.next_event().await;
    assert!(
        matches!(&first, Some(RunEvent::Output { data, .. }) if data.starts_with(b"started")),
        "the run is under way: {first:?}"
    );

    restart_dockerd(&dockerd).await;

    // The run in flight ends (it does not wait out its 600 s), as killed,
    // and says why.
    let ended = tokio::time::timeout(Duration::from_secs(60), in_flight.collect())
        .await
        .expect("the run in flight ends when the engine goes away")
        .unwrap();
    assert_eq!(ended.report.status, RunStatus::Killed, "{:?}", ended.report);
    let stderr = ended.stderr_text();
    assert!(stderr.contains("the Docker engine went away"), "the run says why it ended: {stderr:?}");

    // The very next run works, in a new container with an empty workspace.
    let next = backend
        .run(&id, RunSpec::command(["sh", "-c", "ls -A; echo fresh"]))
        .await
        .expect("the first run after the restart starts")
        .collect()
        .await
        .unwrap();
    assert_eq!(next.report.status, RunStatus::Ok, "{:?} {}", next.report, next.stderr_text());
    assert_eq!(next.stdout_text(), "fresh\n", "a fresh container starts with an empty workspace");
    let new_container = container_of(&backend, &id.0).await.expect("the box's new container");
    assert_ne!(new_container, old_container, "the box got a fresh container");
    assert_eq!(container_of(&backend, &old_container).await, None, "the old container was removed");

    // A new session after the restart works too (the spare made before it
    // died with the engine).
    let other = backend.create(BoxSpec::default()).await.unwrap();
    let hello = backend.run(&other, RunSpec::command(["echo", "hi"])).await.unwrap().collect().await.unwrap();
    assert_eq!((hello.report.status, hello.stdout_text().as_str()), (RunStatus::Ok, "hi\n"), "{:?}", hello.report);

    backend.destroy(&id).await.unwrap();
    backend.destroy(&other).await.unwrap();
    assert_no_leaks(&backend, "an engine restart").await;
    shutdown_and_check(backend).await;
}
