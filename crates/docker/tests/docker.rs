//! Integration tests of the Docker backend, against a real engine and the
//! runtime images (`scripts/images build`).
//!
//! They need root (per-run cgroups below the containers' cgroups) and a
//! running engine with the images. In CI (`CI` set) a missing prerequisite
//! is a failure; elsewhere each test says loudly that it was skipped. Every
//! test ends with a leak check: no container, network, volume, subnet or
//! cgroup of the backend is left.

use std::time::{Duration, Instant};

use bytesbox_conformance::{
    load_selected_corpus, run_conformance_tests, run_corpus_checking_leaks, Attachment, HostContext,
};
use bytesbox_docker::{DockerBackend, DockerConfig, SparePoolConfig, DEFAULT_IMAGE};
use bytesbox_sandbox::{Backend, BoxSpec, FileEntry, PutMode, RootfsSpec, RunSpec, RunStatus};
use bytesbox_testkit::{require_root, wait_until};
use tokio::sync::RwLock;

#[path = "docker/daemon_failures.rs"]
mod daemon_failures;

/// Held shared by every test that uses the engine, and exclusively by the
/// one that restarts it, so a restart never pulls the engine from under
/// another test of this binary.
static ENGINE: RwLock<()> = RwLock::const_new(());

/// True when the engine answers and the default image exists. Without
/// them: a failure in CI, a loud skip elsewhere.
async fn require_docker(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    let problem = bytesbox_docker::check_ready(DEFAULT_IMAGE).await.err().map(|e| e.to_string());
    bytesbox_testkit::require_prerequisite(test, "the Docker engine and the runtime images", problem)
}

async fn start() -> DockerBackend {
    DockerBackend::start(DockerConfig::default()).await.expect("the docker backend starts")
}

async fn assert_no_leaks(backend: &DockerBackend, after: &str) {
    let leftovers = backend.leftovers().await;
    assert!(leftovers.is_empty(), "leaked after {after}: {leftovers:#?}");
}

async fn shutdown_and_check(backend: DockerBackend) {
    backend.shutdown().await;
    assert_no_leaks(&backend, "shutdown").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_conformance_suite() {
    let _engine = ENGINE.read().await;
    if !require_docker("shared_conformance_suite").await {
        return;
    }
    let backend = start().await;
    let report = run_conformance_tests(&backend).await;
    eprintln!("{report}");
    assert_no_leaks(&backend, "the conformance suite").await;
    assert!(report.all_passed(), "{report}");
    shutdown_and_check(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_corpus() {
    hostile_corpus_attached("hostile_corpus", Attachment::Pipes).await;
}

/// The corpus again with each program under a terminal, as one started
/// from a terminal of the IDE runs (`docs/testing.md`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_corpus_under_a_terminal() {
    hostile_corpus_attached("hostile_corpus_under_a_terminal", Attachment::Terminal).await;
}

async fn hostile_corpus_attached(test: &str, attachment: Attachment) {
    let _engine = ENGINE.read().await;
    if !require_docker(test).await {
        return;
    }
    let ctx = HostContext::start().await.expect("host context");
    let backend = start().await;
    // Every case, or the ones BYTESBOX_CONFORMANCE_CASES names (a name
    // that is no case, or none at all, fails here).
    let cases = load_selected_corpus().unwrap_or_else(|e| panic!("{e}"));
    let failures = run_corpus_checking_leaks(&backend, &cases, &ctx, attachment, || backend.leftovers()).await;
    assert_eq!(ctx.connections(), 0, "a box reached the host's loopback listener");
    shutdown_and_check(backend).await;
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_boxes_are_destroyed_after_their_ttl() {
    let _engine = ENGINE.read().await;
    if !require_docker("idle_boxes_are_destroyed_after_their_ttl").await {
        return;
    }
    let backend =
        DockerBackend::start(DockerConfig { sweep_interval: Duration::from_millis(100), ..DockerConfig::default() })
            .await
            .expect("start");
    let short = backend.create(BoxSpec { idle_ttl: Duration::from_secs(2), ..BoxSpec::default() }).await.unwrap();
    let long = backend.create(BoxSpec::default()).await.unwrap();
    let mut sleeper = RunSpec::command(["sleep", "2.5"]);
    sleeper.limits.wall_time_ms = 5_000;
    let done = backend.run(&short, sleeper).await.unwrap().collect().await.unwrap();
    assert_eq!(done.report.status, RunStatus::Ok);
    assert!(backend.list().await.iter().any(|b| b.id == short), "busy boxes are not idle");
    let deadline = Instant::now() + Duration::from_secs(15);
    while backend.list().await.iter().any(|b| b.id == short) {
        assert!(Instant::now() < deadline, "the idle box was not destroyed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(backend.list().await.iter().any(|b| b.id == long), "a box within its TTL stays");
    assert_no_leaks(&backend, "the idle sweep").await;
    shutdown_and_check(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spare_pool_grows_with_the_arrival_rate_shrinks_when_idle_and_leaks_nothing() {
    let _engine = ENGINE.read().await;
    if !require_docker("the_spare_pool_grows_with_the_arrival_rate_shrinks_when_idle_and_leaks_nothing").await {
        return;
    }
    let pool = SparePoolConfig { min: 1, max: 3, rate_window_secs: 10, ..SparePoolConfig::default() };
    let config =
        DockerConfig { spare_pool: pool, sweep_interval: Duration::from_millis(200), ..DockerConfig::default() };
    let backend = DockerBackend::start(config).await.expect("start");
    let patience = Duration::from_secs(60);
    wait_until("the minimum spare", patience, || async { backend.spare_pool_size().0 == 1 }).await;
    // Four boxes at once: more than one spare is needed per make time.
    let creates = (0..4).map(|_| backend.create(BoxSpec::default()));
    let ids: Vec<_> = futures_util::future::join_all(creates).await.into_iter().map(|id| id.unwrap()).collect();
    let (_, target) = backend.spare_pool_size();
    assert!(target > 1, "four creations at once keep the pool at its minimum");
    wait_until("the pool to grow", patience, || async { backend.spare_pool_size().0 > 1 }).await;
    assert!(backend.spare_pool_size().0 <= 3, "the pool grew past its maximum: {:?}", backend.spare_pool_size());
    // Spares are live boxes of the backend, not leaks.
    assert_no_leaks(&backend, "the pool grew").await;
    for id in &ids {
        let run = backend.run(id, RunSpec::command(["true"])).await.unwrap().collect().await.unwrap();
        assert_eq!(run.report.status, RunStatus::Ok);
        backend.destroy(id).await.unwrap();
    }
    // No creations for a rate window: back to the minimum.
    wait_until("the pool to shrink", patience, || async { backend.spare_pool_size() == (1, 1) }).await;
    assert_no_leaks(&backend, "the pool shrank").await;
    shutdown_and_check(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_on_separate_internal_networks() {
    let _engine = ENGINE.read().await;
    if !require_docker("sessions_are_on_separate_internal_networks").await {
        return;
    }
    let backend = start().await;
    let a = backend.create(BoxSpec::default()).await.unwrap();
    let b = backend.create(BoxSpec::default()).await.unwrap();
    let address = |id| {
        let backend = backend.clone();
        async move {
            let run = RunSpec::command(["python3", "-c", "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(('10.255.255.1', 9)); print(s.getsockname()[0])"]);
            let out = backend.run(&id, run).await.unwrap().collect().await.unwrap();
            out.stdout_text().trim().to_string()
        }
    };
    let (addr_a, addr_b) = (address(a.clone()).await, address(b.clone()).await);
    // An internal network has no default route, so even a UDP "connect"
    // (no packet sent) fails, or the address is a session subnet's.
    for addr in [&addr_a, &addr_b] {
        assert!(addr.is_empty() || addr.starts_with("10.213."), "unexpected address {addr:?}");
    }
    // A TCP server in A is not reachable from B.
    let server = "import socket\ns = socket.socket()\ns.bind(('0.0.0.0', 8099))\ns.listen(1)\nprint('ready', flush=True)\ns.settimeout(4)\ntry:\n    s.accept()\n    print('ACCEPTED')\nexcept OSError:\n    print('nobody came')\n";
    let mut listening = backend.run(&a, RunSpec::command(["python3", "-u", "-c", server])).await.unwrap();
    let first = listening.next_event().await;
    assert!(format!("{first:?}").contains("ready"), "{first:?}");
    let a_ip =
        backend.run(&a, RunSpec::command(["hostname", "-I"])).await.unwrap().collect().await.unwrap().stdout_text();
    let target = a_ip.split_whitespace().next().unwrap_or("10.213.0.2").to_string();
    let client = format!("import socket\ntry:\n    socket.create_connection(('{target}', 8099), timeout=2)\n    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)\n");
    let probe = backend.run(&b, RunSpec::command(["python3", "-c", &client])).await.unwrap().collect().await.unwrap();
    assert!(!probe.stdout_text().contains("CONNECTED"), "box B reached box A: {}", probe.stdout_text());
    let served = listening.collect().await.unwrap();
    assert!(!served.stdout_text().contains("ACCEPTED"), "{}", served.stdout_text());
    backend.destroy(&a).await.unwrap();
    backend.destroy(&b).await.unwrap();
    assert_no_leaks(&backend, "two sessions").await;
    shutdown_and_check(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_is_a_clear_error_and_leaks_nothing() {
    let _engine = ENGINE.read().await;
    if !require_docker("a_missing_image_is_a_clear_error_and_leaks_nothing").await {
        return;
    }
    let backend = start().await;
    let spec =
        BoxSpec { rootfs: RootfsSpec::Named { image: "bytesbox-runtime:no-such-image".into() }, ..BoxSpec::default() };
    let err = backend.create(spec).await.expect_err("no such image");
    assert!(err.to_string().contains("scripts/images build"), "{err}");
    assert_no_leaks(&backend, "a failed create").await;
    shutdown_and_check(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_removed_under_a_box_is_replaced() {
    let _engine = ENGINE.read().await;
    if !require_docker("a_container_removed_under_a_box_is_replaced").await {
        return;
    }
    let backend = start().await;
    let id = backend.create(BoxSpec::default()).await.unwrap();
    backend.put_files(&id, vec![FileEntry::new("a.txt", "a")], PutMode::Merge).await.unwrap();
    // Something outside Bytesbox kills the container mid-run.
    let mut live = backend.run(&id, RunSpec::command(["sh", "-c", "echo up; exec sleep 60"])).await.unwrap();
    let _ = live.next_event().await;
    let options = bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() };
    backend.docker().remove_container(&id.0, Some(options)).await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(30), live.collect()).await.expect("no hang").unwrap();
    assert_ne!(ended.report.status, RunStatus::Ok, "{:?}", ended.report);
    // The very next run gets a fresh container (and an empty workspace).
    let next = backend
        .run(&id, RunSpec::command(["sh", "-c", "ls; echo fresh"]))
        .await
        .expect("the next run starts")
        .collect()
        .await
        .unwrap();
    assert_eq!(next.stdout_text(), "fresh\n", "{:?}", next.report);
    backend.destroy(&id).await.unwrap();
    assert_no_leaks(&backend, "a replaced container").await;
    shutdown_and_check(backend).await;
}
