//! Cancellation: thousands of run requests on every run API (v1 execute,
//! Piston execute, the v1 WebSocket, Piston's WebSocket, runs of a saved
//! project), each dropped with a TCP reset at a random moment. Afterwards
//! normal runs must succeed, and once the dropped sessions' grace has
//! passed nothing may be left: no box, no box process, no box cgroup, no
//! mount; and after a graceful shutdown not even the server's own cgroups.
//!
//! A dropped request could once leave the jailer's reply in its socket for
//! the next caller to read, after which every run on the server failed.

use std::time::{Duration, Instant};

use bytesbox_cgroups::{instance_path, Cgroup, CgroupLayout};
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::docker_engine::{all_container_ids, engine_objects_of, require_docker};
use crate::report;
use crate::served::*;

const ATTACK: &str = "cancellation";
/// Longest wait before a request is dropped: past a run's whole length
/// on each backend, so drops land at every stage (reading, admission, box
/// creation, the run, the answer).
fn max_drop_after_us(backend: &str) -> u64 {
    if backend == "docker" {
        1_500_000
    } else {
        150_000
    }
}
/// Requests in flight at once.
const CONCURRENCY: usize = 16;

/// How many requests to drop: 5,000 on the native backend, 300 on Docker
/// (a container costs a hundred times a native box); the environment
/// variable overrides both.
fn request_count(backend: &str) -> usize {
    let default = if backend == "docker" { 300 } else { 5_000 };
    std::env::var("BYTESBOX_HOSTILE_CANCELLATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A small deterministic generator, seeded per task so a failure can be
/// replayed from the printed seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The run APIs a request can go to.
#[derive(Clone, Copy, Debug)]
enum Api {
    Execute,
    PistonExecute,
    Session,
    PistonConnect,
    SavedProject,
}

const APIS: [Api; 5] = [Api::Execute, Api::PistonExecute, Api::Session, Api::PistonConnect, Api::SavedProject];

const HELLO: &str = "print('hello')";

/// Closes with a reset instead of a FIN, as a client that vanished does.
fn reset(stream: &TcpStream) {
    let linger = libc_linger_zero();
    let _ = nix::sys::socket::setsockopt(stream, nix::sys::socket::sockopt::Linger, &linger);
}

fn libc_linger_zero() -> nix::libc::linger {
    nix::libc::linger { l_onoff: 1, l_linger: 0 }
}

async fn post_and_drop(address: &str, path: &str, body: &Value, after: Duration) {
    let Ok(mut stream) = TcpStream::connect(address).await else { return };
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(request.as_bytes()).await;
    tokio::time::sleep(after).await;
    reset(&stream);
}

async fn websocket_and_drop(
    address: &str,
    path: &str,
    headers: &[(&'static str, String)],
    first: Value,
    after: Duration,
) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{address}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else { return };
    let _ = socket.send(Message::Text(first.to_string().into())).await;
    tokio::time::sleep(after).await;
    if let tokio_tungstenite::MaybeTlsStream::Plain(stream) = socket.get_ref() {
        reset(stream);
    }
}

/// A signed-up user's API token and one saved Python project.
async fn user_with_project(address: &str) -> (String, String) {
    let base = format!("http://{address}");
    let secret = sign_up_with_token(&base, "canceller").await;
    let project = json!({"name": "hello", "language": "python", "entry_file": "main.py",
                         "files": [{"path": "main.py", "content": HELLO}]});
    let project = post_json(&token_client(&secret), format!("{base}/api/v1/projects"), &project).await;
    let id = project["project"]["id"].as_str().unwrap_or_else(|| panic!("no project in {project}")).to_string();
    (secret, id)
}

async fn drop_one(address: &str, api: Api, after: Duration, token: &str, project: &str, n: usize) {
    let files = json!([{"path": "main.py", "content": HELLO}]);
    match api {
        Api::Execute => {
            post_and_drop(address, "/api/v1/execute", &json!({"language": "python", "files": files}), after).await
        }
        Api::PistonExecute => {
            let body = json!({"language": "python", "version": "*", "files": [{"content": HELLO}]});
            post_and_drop(address, "/api/v2/execute", &body, after).await
        }
        Api::Session => {
            let run = json!({"type": "run", "id": format!("r{n}"), "language": "python", "files": files});
            websocket_and_drop(address, "/api/v1/ws", &[], run, after).await
        }
        Api::PistonConnect => {
            let init = json!({"type": "init", "language": "python", "version": "*", "files": [{"content": HELLO}]});
            websocket_and_drop(address, "/api/v2/connect", &[], init, after).await
        }
        Api::SavedProject => {
            let run = json!({"type": "run", "id": format!("p{n}"), "project": project});
            let auth = [("authorization", format!("Bearer {token}"))];
            websocket_and_drop(address, "/api/v1/ws", &auth, run, after).await
        }
    }
}

/// Python's hello through `POST /api/v1/execute` (`piston`: false) or
/// Piston's `POST /api/v2/execute`; the answer.
async fn execute_hello(base: &str, piston: bool) -> Value {
    let (path, body) = match piston {
        false => ("/api/v1/execute", json!({"language": "python", "files": [{"path": "main.py", "content": HELLO}]})),
        true => ("/api/v2/execute", json!({"language": "python", "version": "*", "files": [{"content": HELLO}]})),
    };
    reqwest::Client::new().post(format!("{base}{path}")).json(&body).send().await.unwrap().json().await.unwrap()
}

/// Normal runs on every one-shot API and a session: all must succeed.
async fn normal_runs_succeed(served: &Served) {
    let base = format!("http://{}", served.address);
    for _ in 0..3 {
        let answer = execute_hello(&base, false).await;
        assert_eq!(answer["run"]["stdout"], "hello\n", "v1 execute after the cancellations: {answer}");
        let answer = execute_hello(&base, true).await;
        assert_eq!(answer["run"]["stdout"], "hello\n", "Piston execute after the cancellations: {answer}");
    }
    let mut socket = served.connect().await;
    let run = json!({"type": "run", "id": "after", "language": "python",
                     "files": [{"path": "main.py", "content": HELLO}]});
    send(&mut socket, run).await;
    let mut stdout = String::new();
    loop {
        let frame = next(&mut socket).await;
        match frame["type"].as_str() {
            Some("output") => stdout.push_str(frame["data"].as_str().unwrap_or_default()),
            Some("exit") => {
                assert_eq!(frame["status"], "ok", "a session run after the cancellations: {frame}");
                break;
            }
            Some("error") => panic!("a session run after the cancellations failed: {frame}"),
            _ => {}
        }
    }
    assert_eq!(stdout, "hello\n");
}

/// One figure of `/metrics`.
pub(crate) async fn metric(address: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{address}/metrics")).await.ok()?.text().await.ok()?;
    // `name{node="…"} value`: every metric has the node label.
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix("{node=")?.rsplit(' ').next()?.parse().ok())
}

/// The sum of a metric family over its labels.
async fn metric_total(address: &str, family: &str) -> f64 {
    let Ok(answer) = reqwest::get(format!("http://{address}/metrics")).await else { return 0.0 };
    let text = answer.text().await.unwrap_or_default();
    let prefix = format!("{family}{{");
    text.lines()
        .filter(|line| line.starts_with(&prefix))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Box cgroups of the server's backend instance (the spare box's among
/// them), as directories in every hierarchy of the detected layout (v1 or
/// v2).
fn box_cgroups(served: &Served) -> Vec<String> {
    let layout = CgroupLayout::detect().expect("the host has a usable cgroup layout");
    let mut found = Vec::new();
    for instance in served.instance_cgroups() {
        let instance = Cgroup::open_existing(&layout, &instance_path(&instance)).expect("an instance cgroup");
        for name in instance.list_children().expect("list an instance's cgroups") {
            let dirs = instance.dirs().iter().map(|dir| dir.join(&name)).filter(|dir| dir.is_dir());
            found.extend(dirs.map(|dir| dir.display().to_string()));
        }
    }
    found
}

/// Host processes running as one of the server's box uids: the native
/// range the server was given, or the Docker backend's own range (its
/// boxes' programs, each box a uid of its own).
fn box_processes(served: &Served, is_docker: bool) -> Vec<String> {
    let (base, count) = if is_docker {
        let docker = bytesbox_docker::DockerConfig::default();
        (docker.uid_base, docker.uid_count)
    } else {
        served.uid_range
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|r| r.split_whitespace().next());
        if let Some(uid) = uid.and_then(|u| u.parse::<u32>().ok()).filter(|u| (base..base + count).contains(u)) {
            found.push(format!("pid {} uid {uid}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// Mounts on the host that belong to no live box: any under the native
/// backend's new-root directory (a box's mounts live in its own mount
/// namespace, never on the host), and any of a container the engine no
/// longer has. Other tests' boxes and containers do not count, so the
/// suite's tests may run side by side.
async fn stray_mounts(is_docker: bool) -> Vec<String> {
    let containers = if is_docker { all_container_ids().await } else { Vec::new() };
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| {
            let native = point.starts_with("/run/bytesbox/newroot/");
            let container = point
                .strip_prefix("/var/lib/docker/containers/")
                .and_then(|rest| rest.split('/').next())
                .is_some_and(|id| is_docker && !containers.iter().any(|c| c == id));
            native || container
        })
        .map(str::to_string)
        .collect()
}

/// Waits until `check` holds or `within` passes; whether it held.
async fn eventually(within: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomly_cancelled_runs_on_every_api_leave_nothing_and_break_nothing() {
    if !bytesbox_testkit::require_root("randomly_cancelled_runs_on_every_api_leave_nothing_and_break_nothing") {
        return;
    }
    fuzz("native").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomly_cancelled_runs_on_docker_leave_nothing_and_break_nothing() {
    if !require_docker("randomly_cancelled_runs_on_docker_leave_nothing_and_break_nothing").await {
        return;
    }
    fuzz("docker").await;
}

async fn fuzz(backend: &str) {
    let attack = format!("{ATTACK} ({backend})");
    let attack = attack.as_str();
    // Rate limits off, so that every request reaches the server's run
    // path, and a short grace, so that the fuzzer's sessions are destroyed
    // soon after their connection goes.
    let config = "[rate_limit]\nper_minute = 0\n[sessions]\ngrace_secs = 1\n";
    let mut served = Served::start_with_backend(config, backend);
    let (token, project) = user_with_project(&served.address).await;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let total = request_count(backend);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONCURRENCY)
        .map(|task| {
            let address = served.address.clone();
            let (token, project) = (token.clone(), project.clone());
            let backend = backend.to_string();
            tokio::spawn(async move {
                let backend = backend.as_str();
                let max_drop_after_us = max_drop_after_us(backend);
                let mut random = XorShift(seed.wrapping_add((task as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
                for n in (task..total).step_by(CONCURRENCY) {
                    let api = APIS[(random.next() % APIS.len() as u64) as usize];
                    let after = Duration::from_micros(random.next() % max_drop_after_us);
                    drop_one(&address, api, after, &token, &project, n).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    report::record(attack, &format!("requests dropped at random (seed {seed})"), total);
    let made = metric_total(&served.address, "bytesbox_box_creations_total").await;
    report::record(attack, "boxes handed to a request before its drop", made);
    report::record(attack, "time to send and drop them", format!("{:.1} s", started.elapsed().as_secs_f64()));

    // The dropped sessions' runs hold the guest's run slots until their
    // grace passes; then everything they made must go.
    let address = served.address.clone();
    let all_gone = async || {
        eventually(Duration::from_secs(60), async || {
            metric(&address, "bytesbox_boxes_active").await == Some(0.0)
                && metric(&address, "bytesbox_sessions_active").await == Some(0.0)
                && metric(&address, "bytesbox_running_jobs").await == Some(0.0)
        })
        .await
    };
    let boxes_gone = all_gone().await;
    let boxes = metric(&address, "bytesbox_boxes_active").await;
    report::record(attack, "live boxes once the sessions' grace passed", format!("{boxes:?}"));
    assert!(boxes_gone, "boxes still live after the cancellations: {boxes:?}");

    normal_runs_succeed(&served).await;
    assert!(all_gone().await, "the normal runs' boxes were not destroyed");
    // Only the boxes made ahead may remain (on the native backend the
    // spare and the ready boxes, whose processes are root until a run
    // arrives; on Docker the spare pool, which the burst may have grown
    // to its maximum and which shrinks only after its rate window), once
    // the teardowns under way have finished.
    let is_docker = backend == "docker";
    let made_ahead = if is_docker {
        bytesbox_docker::DockerConfig::default().spare_pool.max.max(1)
    } else {
        1 + bytesbox_native::NativeConfig::default().ready_boxes
    };
    let pid = served.pid();
    let spare_only = async || {
        let box_names: std::collections::BTreeSet<_> =
            box_cgroups(&served).iter().filter_map(|p| p.rsplit('/').next()).map(str::to_string).collect();
        let engine_objects = if is_docker { engine_objects_of(pid).await } else { Vec::new() };
        let containers = engine_objects.iter().filter(|o| o.starts_with("container")).count();
        box_names.len() <= made_ahead
            && containers <= made_ahead
            && engine_objects.len() <= 3 * made_ahead
            && box_processes(&served, is_docker).is_empty()
    };
    let settled = eventually(Duration::from_secs(30), spare_only).await;
    let cgroup_dirs = box_cgroups(&served);
    let box_names: std::collections::BTreeSet<_> =
        cgroup_dirs.iter().filter_map(|p| p.rsplit('/').next()).map(str::to_string).collect();
    report::record(attack, "box cgroups left (the spare's and ready boxes' allowed)", box_names.len());
    let engine_objects = if is_docker { engine_objects_of(pid).await } else { Vec::new() };
    report::record(attack, "containers, networks, volumes left (the spare pool's allowed)", engine_objects.len());
    let processes = box_processes(&served, is_docker);
    report::record(attack, "box processes left (boxes made ahead have none)", processes.len());
    assert!(
        settled,
        "left behind: cgroups {cgroup_dirs:?}, engine objects {engine_objects:?}, processes {processes:?}"
    );
    let mounts = stray_mounts(is_docker).await;
    report::record(attack, "mounts of no live box on the host", mounts.len());
    assert!(mounts.is_empty(), "mounts left on the host: {mounts:?}");

    served.terminate();
    assert!(served.wait(Duration::from_secs(60)).success(), "the server did not shut down cleanly");
    let after_shutdown = box_cgroups(&served);
    assert!(after_shutdown.is_empty(), "box cgroups left after shutdown: {after_shutdown:?}");
    assert!(served.instance_cgroups().is_empty(), "instance cgroups left after shutdown");
    assert!(
        box_processes(&served, is_docker).is_empty(),
        "box processes left after shutdown: {:?}",
        box_processes(&served, is_docker)
    );
    if backend == "docker" {
        let engine_objects = engine_objects_of(served.pid()).await;
        assert!(engine_objects.is_empty(), "engine objects left after shutdown: {engine_objects:?}");
    }
    let mounts = stray_mounts(is_docker).await;
    assert!(mounts.is_empty(), "mounts left on the host after shutdown: {mounts:?}");
}

/// Pids of the server's jailer processes.
fn jailers_of(server: i32) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or("");
        if field("Name:") == "bytesbox-jail" && field("PPid:") == server.to_string() {
            found.push(pid);
        }
    }
    found
}

/// The jailer dies (killed from outside, as an OOM killer might): the
/// backend starts a new one by itself before the next request, and no
/// restart of the server is needed. (A request in flight at the moment of
/// death would fail with a clear error.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_jailer_is_replaced_without_a_restart() {
    if !bytesbox_testkit::require_root("a_killed_jailer_is_replaced_without_a_restart") {
        return;
    }
    let served = Served::start("[rate_limit]\nper_minute = 0\n");
    let base = format!("http://{}", served.address);
    let execute = async || execute_hello(&base, false).await;
    assert_eq!(execute().await["run"]["stdout"], "hello\n");
    let jailers = jailers_of(served.pid());
    assert_eq!(jailers.len(), 1, "one jailer: {jailers:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(jailers[0]), nix::sys::signal::Signal::SIGKILL).unwrap();
    let mut failures = Vec::new();
    for _ in 0..5 {
        let answer = execute().await;
        if answer["run"]["stdout"] != "hello\n" {
            failures.push(answer);
        }
    }
    report::record("jailer killed", "runs that failed of the next 5", failures.len());
    assert!(failures.is_empty(), "runs failed after the jailer died: {failures:?}");
    let replaced = jailers_of(served.pid());
    assert!(replaced.len() == 1 && replaced[0] != jailers[0], "a new jailer: {replaced:?}");
    assert_eq!(get_status(&served.address, "/readyz").await, Some(200));
}
