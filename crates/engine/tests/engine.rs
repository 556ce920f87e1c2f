//! The engine against the real native backend (needs root; fails in CI
//! without it, skips loudly elsewhere).

// Tests may panic on a broken set-up; that is how they fail.
#![allow(clippy::unwrap_used)]

use bytesbox_testkit::require_root;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use bytesbox_engine::{
    AdmissionConfig, Engine, EngineError, Job, JobEvent, JobObserver, JobOutcome, StageKind, StagePlan,
};
use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_sandbox::{Backend, BoxId, BoxSpec, ExitReport, FileEntry, PutMode, RunSpec, RunStatus, Stream};

/// Remembers what the engine reported, in order.
#[derive(Debug, Default)]
struct Recorder {
    seen: std::sync::Mutex<Vec<String>>,
}

impl Recorder {
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl JobObserver for Recorder {
    fn stage_finished(&self, language: &str, stage: StageKind, report: &ExitReport) {
        self.seen.lock().unwrap().push(format!("{language} {} {}", stage.as_str(), report.status.as_str()));
    }
    fn job_ended(&self, language: &str, outcome: JobOutcome, _elapsed: Duration) {
        self.seen.lock().unwrap().push(format!("{language} job {}", outcome.as_str()));
    }
}

async fn setup(admission: AdmissionConfig) -> (NativeBackend, Engine, BoxId) {
    let (backend, engine, id, _) = setup_observed(admission).await;
    (backend, engine, id)
}

async fn setup_observed(admission: AdmissionConfig) -> (NativeBackend, Engine, BoxId, Arc<Recorder>) {
    let (uid_base, uid_count) = bytesbox_testkit::box_uid_range();
    let backend = NativeBackend::start(NativeConfig {
        jail_binary: Some(bytesbox_testkit::jail_binary()),
        uid_base,
        uid_count,
        ..NativeConfig::default()
    })
    .await
    .unwrap();
    let id = backend.create(BoxSpec::default()).await.unwrap();
    let recorder = Arc::new(Recorder::default());
    let engine = Engine::new(Arc::new(backend.clone()), admission).with_observer(recorder.clone());
    (backend, engine, id, recorder)
}

async fn finish(backend: NativeBackend) {
    backend.shutdown().await;
    assert!(backend.leftovers().is_empty(), "{:?}", backend.leftovers());
}

fn stage(kind: StageKind, script: &str) -> StagePlan {
    StagePlan { kind, spec: RunSpec::command(["sh", "-c", script]) }
}

async fn collect(events: &mut tokio::sync::mpsc::Receiver<JobEvent>) -> Vec<JobEvent> {
    let mut all = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(20), events.recv()).await.expect("job hung") {
        let last = matches!(event, JobEvent::Finished | JobEvent::Failed { .. });
        all.push(event);
        if last {
            break;
        }
    }
    all
}

fn output(events: &[JobEvent], want: StageKind, stream: Stream) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Output { stage, stream: s, data } if *stage == want && *s == stream => {
                Some(String::from_utf8_lossy(data).into_owned())
            }
            _ => None,
        })
        .collect()
}

fn reports(events: &[JobEvent]) -> Vec<(StageKind, RunStatus)> {
    events
        .iter()
        .filter_map(|e| match e {
            JobEvent::StageFinished { stage, report } => Some((*stage, report.status)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_run_in_order_and_a_failed_compile_stops_the_job() {
    if !require_root("stages_run_in_order_and_a_failed_compile_stops_the_job") {
        return;
    }
    let (backend, engine, id) = setup(AdmissionConfig { max_running: 2, max_queued: 4 }).await;
    let job = Job {
        language: "sh".into(),
        files: vec![FileEntry::new("src.txt", "source\n")],
        mode: PutMode::Replace { keep: vec![] },
        stages: vec![stage(StageKind::Compile, "cp src.txt built.txt"), stage(StageKind::Run, "cat built.txt")],
    };
    let mut handle = engine.submit(id.clone(), job).unwrap();
    let events = collect(&mut handle.events).await;
    assert_eq!(events.first(), Some(&JobEvent::Started));
    assert_eq!(reports(&events), [(StageKind::Compile, RunStatus::Ok), (StageKind::Run, RunStatus::Ok)]);
    assert_eq!(output(&events, StageKind::Run, Stream::Stdout), "source\n");
    assert_eq!(events.last(), Some(&JobEvent::Finished));

    let broken = Job {
        language: "sh".into(),
        files: vec![],
        mode: PutMode::Merge,
        stages: vec![
            stage(StageKind::Compile, "echo 'main.c:1: error: expected ;' >&2; exit 1"),
            stage(StageKind::Run, "echo must not run"),
        ],
    };
    let mut handle = engine.submit(id.clone(), broken).unwrap();
    let events = collect(&mut handle.events).await;
    assert_eq!(reports(&events), [(StageKind::Compile, RunStatus::Nonzero)]);
    assert_eq!(output(&events, StageKind::Compile, Stream::Stderr), "main.c:1: error: expected ;\n");
    assert!(!events.contains(&JobEvent::StageStarted(StageKind::Run)));
    assert_eq!(events.last(), Some(&JobEvent::Finished));
    finish(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once_and_queued_jobs_report_their_place() {
    if !require_root("a_full_queue_refuses_at_once_and_queued_jobs_report_their_place") {
        return;
    }
    let (backend, engine, id, recorder) = setup_observed(AdmissionConfig { max_running: 1, max_queued: 1 }).await;
    let slow = Job {
        language: "sh".into(),
        files: vec![],
        mode: PutMode::Merge,
        stages: vec![stage(StageKind::Run, "sleep 0.5; echo first")],
    };
    let mut first = engine.submit(id.clone(), slow).unwrap();
    assert_eq!(first.events.recv().await, Some(JobEvent::Started));
    let quick = Job {
        language: "sh".into(),
        files: vec![],
        mode: PutMode::Merge,
        stages: vec![stage(StageKind::Run, "echo second")],
    };
    let mut second = engine.submit(id.clone(), quick.clone()).unwrap();
    match engine.submit(id.clone(), quick) {
        Err(EngineError::QueueFull { queued: 1, retry_after_secs }) => assert!(retry_after_secs >= 1),
        other => panic!("expected an immediate refusal, got {other:?}"),
    }
    let second_events = collect(&mut second.events).await;
    assert_eq!(second_events.first(), Some(&JobEvent::Queued { position: 1 }));
    assert_eq!(output(&second_events, StageKind::Run, Stream::Stdout), "second\n");
    let first_events = collect(&mut first.events).await;
    assert_eq!(output(&first_events, StageKind::Run, Stream::Stdout), "first\n");
    assert_eq!(engine.admission().stats().queued, 0);
    // The observer (metrics) saw the refusal and both jobs, with their
    // language label.
    let seen = recorder.seen();
    assert_eq!(seen.first().map(String::as_str), Some("sh job queue_full"), "{seen:?}");
    assert_eq!(seen.iter().filter(|s| *s == "sh run ok").count(), 2, "{seen:?}");
    assert_eq!(seen.iter().filter(|s| *s == "sh job finished").count(), 2, "{seen:?}");
    finish(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_the_running_stage_and_input_typed_early_arrives() {
    if !require_root("stop_kills_the_running_stage_and_input_typed_early_arrives") {
        return;
    }
    let (backend, engine, id) = setup(AdmissionConfig { max_running: 2, max_queued: 4 }).await;
    let mut echo_stage = stage(StageKind::Run, "read line; echo got:$line");
    echo_stage.spec.close_stdin = false;
    let job = Job {
        language: "sh".into(),
        files: vec![],
        mode: PutMode::Merge,
        stages: vec![stage(StageKind::Compile, "sleep 0.2"), echo_stage],
    };
    let mut handle = engine.submit(id.clone(), job).unwrap();
    // Typed while the compile stage still runs.
    handle.control.write_stdin(Bytes::from_static(b"early\n")).await.unwrap();
    let events = collect(&mut handle.events).await;
    assert_eq!(output(&events, StageKind::Run, Stream::Stdout), "got:early\n");

    let forever = Job {
        language: "sh".into(),
        files: vec![],
        mode: PutMode::Merge,
        stages: vec![stage(StageKind::Run, "echo up; sleep 60")],
    };
    let mut handle = engine.submit(id.clone(), forever).unwrap();
    loop {
        match handle.events.recv().await.unwrap() {
            JobEvent::Output { data, .. } if data.as_ref() == b"up\n" => break,
            _ => {}
        }
    }
    handle.control.kill().await;
    let events = collect(&mut handle.events).await;
    assert_eq!(reports(&events), [(StageKind::Run, RunStatus::Killed)]);
    assert_eq!(events.last(), Some(&JobEvent::Finished));
    finish(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_stops_its_job() {
    if !require_root("a_client_that_goes_away_stops_its_job") {
        return;
    }
    let (backend, engine, id, recorder) = setup_observed(AdmissionConfig { max_running: 1, max_queued: 4 }).await;
    let job = Job {
        language: "sh".into(),
        files: vec![],
        mode: PutMode::Merge,
        stages: vec![stage(StageKind::Run, "echo up; sleep 60")],
    };
    let mut handle = engine.submit(id.clone(), job).unwrap();
    while !matches!(handle.events.recv().await, Some(JobEvent::StageStarted(_))) {}
    drop(handle);
    // The only slot frees once the abandoned run is killed.
    let next = Job {
        language: "sh".into(),
        files: vec![],
        mode: PutMode::Merge,
        stages: vec![stage(StageKind::Run, "echo next")],
    };
    let mut next = engine.submit(id.clone(), next).unwrap();
    let events = collect(&mut next.events).await;
    assert_eq!(output(&events, StageKind::Run, Stream::Stdout), "next\n");
    assert_eq!(engine.admission().stats().running, 0);
    let seen = recorder.seen();
    assert_eq!(seen.first().map(String::as_str), Some("sh job abandoned"), "{seen:?}");
    finish(backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_one_box_write_their_files_in_turn() {
    if !require_root("jobs_of_one_box_write_their_files_in_turn") {
        return;
    }
    let (backend, engine, id) = setup(AdmissionConfig { max_running: 4, max_queued: 4 }).await;
    // The first job still compiles when the second arrives with other
    // contents for the same path: the second waits until the first's run
    // stage has started.
    let first = Job {
        language: "sh".into(),
        files: vec![FileEntry::new("data.txt", "first\n")],
        mode: PutMode::Replace { keep: vec![] },
        stages: vec![
            stage(StageKind::Compile, "sleep 0.3; cp data.txt built.txt"),
            stage(StageKind::Run, "cat built.txt"),
        ],
    };
    let second = Job {
        language: "sh".into(),
        files: vec![FileEntry::new("data.txt", "second\n")],
        mode: PutMode::Replace { keep: vec![] },
        stages: vec![stage(StageKind::Run, "cat data.txt")],
    };
    let mut first = engine.submit(id.clone(), first).unwrap();
    let mut second = engine.submit(id.clone(), second).unwrap();
    let (first, second) = tokio::join!(collect(&mut first.events), collect(&mut second.events));
    assert_eq!(output(&first, StageKind::Run, Stream::Stdout), "first\n");
    assert_eq!(output(&second, StageKind::Run, Stream::Stdout), "second\n");
    finish(backend).await;
}
