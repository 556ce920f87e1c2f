//! Jobs: files plus stages, run one after the other in a box.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use bytesbox_sandbox::{
    Backend, BoxId, ExitReport, FileEntry, PutMode, RunControl, RunEvent, RunSpec, RunStatus, SandboxError, Signal,
    Stream,
};
use tokio::sync::{mpsc, OwnedMutexGuard};

use crate::admission::{Admission, AdmissionConfig, Requester, Ticket};
use crate::observer::{JobObserver, JobOutcome, JobSummary, NoObserver};
use crate::EngineError;

/// Events buffered per job before the job stops reading its program's
/// output (the program then blocks): bounded memory per job.
const JOB_EVENT_QUEUE: usize = 16;
/// Input typed before the run stage starts is kept up to this size.
const MAX_EARLY_STDIN: usize = 64 * 1024;

/// Which stage of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StageKind {
    /// Building the program; its failure ends the job.
    Compile,
    /// Running the program.
    Run,
}

impl StageKind {
    /// The protocol name.
    pub fn as_str(self) -> &'static str {
        match self {
            StageKind::Compile => "compile",
            StageKind::Run => "run",
        }
    }
}

/// One stage: what to run, with which limits and stdio.
#[derive(Clone, Debug)]
pub struct StagePlan {
    /// Compile or run.
    pub kind: StageKind,
    /// The program.
    pub spec: RunSpec,
}

/// A unit of work for a box.
#[derive(Clone, Debug)]
pub struct Job {
    /// The language, as a label for observers (metrics).
    pub language: String,
    /// Files to write first.
    pub files: Vec<FileEntry>,
    /// How they replace what is there.
    pub mode: PutMode,
    /// Stages, in order; a compile stage that does not end `ok` stops the
    /// job.
    pub stages: Vec<StagePlan>,
}

/// What happens to a job, in order: maybe `Queued`, `Started`, then per
/// stage `StageStarted`, `Output`s and `StageFinished`, then exactly one of
/// `Finished` or `Failed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEvent {
    /// Waiting for a slot, with this many jobs ahead (including itself).
    Queued {
        /// Place in the queue.
        position: usize,
    },
    /// Admitted: files are being written.
    Started,
    /// A stage began.
    StageStarted(StageKind),
    /// Program output.
    Output {
        /// Which stage.
        stage: StageKind,
        /// Which stream.
        stream: Stream,
        /// The bytes.
        data: Bytes,
    },
    /// The backend's notice about the running stage (not program output).
    Notice {
        /// Which stage.
        stage: StageKind,
        /// What the person should know.
        text: String,
    },
    /// A stage ended.
    StageFinished {
        /// Which stage.
        stage: StageKind,
        /// How.
        report: ExitReport,
    },
    /// Every stage that should run has run.
    Finished,
    /// The job could not run to the end.
    Failed {
        /// Stable machine-readable code.
        code: &'static str,
        /// Human message.
        message: String,
    },
}

/// Runs jobs in boxes of one backend.
#[derive(Debug, Clone)]
pub struct Engine {
    backend: Arc<dyn Backend>,
    admission: Arc<Admission>,
    observer: Arc<dyn JobObserver>,
    staging: Arc<StagingLocks>,
}

/// One lock per box, held by a job from writing its files until its run
/// stage has started (its compile stage included). Jobs of one box share
/// its workspace: without this, a second job's files could replace the
/// first's between their writing and their use.
#[derive(Debug, Default)]
struct StagingLocks {
    by_box: Mutex<HashMap<BoxId, Weak<tokio::sync::Mutex<()>>>>,
}

impl StagingLocks {
    fn of(&self, id: &BoxId) -> Arc<tokio::sync::Mutex<()>> {
        let Ok(mut locks) = self.by_box.lock() else { return Arc::default() };
        if let Some(lock) = locks.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        // Forget boxes no job holds any more.
        locks.retain(|_, lock| lock.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(id.clone(), Arc::downgrade(&lock));
        lock
    }
}

/// A submitted job: its events and its controls.
#[derive(Debug)]
pub struct JobHandle {
    /// The events; dropping the receiver stops the job.
    pub events: mpsc::Receiver<JobEvent>,
    /// Stdin, signals and Stop.
    pub control: JobControl,
}

#[derive(Debug, Default)]
struct ControlState {
    /// The stage running now.
    current: Mutex<Option<(StageKind, Arc<dyn RunControl>)>>,
    /// Input that arrived before the run stage started.
    early_stdin: Mutex<EarlyInput>,
    killed: AtomicBool,
}

#[derive(Debug, Default)]
struct EarlyInput {
    data: BytesMut,
    eof: bool,
}

/// Controls of a job; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct JobControl {
    state: Arc<ControlState>,
}

impl JobControl {
    fn run_stage(&self) -> Option<Arc<dyn RunControl>> {
        let current = self.state.current.lock().ok()?;
        current.as_ref().filter(|(kind, _)| *kind == StageKind::Run).map(|(_, control)| control.clone())
    }

    fn any_stage(&self) -> Option<Arc<dyn RunControl>> {
        self.state.current.lock().ok()?.as_ref().map(|(_, control)| control.clone())
    }

    /// Sends input to the program; input that arrives before the run stage
    /// starts is held (up to 64 KiB) and delivered when it does.
    pub async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
        if let Some(control) = self.run_stage() {
            return control.write_stdin(data).await;
        }
        let mut early = self.state.early_stdin.lock().map_err(|_| SandboxError::Internal("poisoned".into()))?;
        if early.data.len() + data.len() > MAX_EARLY_STDIN {
            return Err(SandboxError::InvalidSpec("too much input before the program started".into()));
        }
        early.data.extend_from_slice(&data);
        Ok(())
    }

    /// Ends the program's input (now, or when the run stage starts).
    pub async fn close_stdin(&self) -> Result<(), SandboxError> {
        if let Some(control) = self.run_stage() {
            return control.close_stdin().await;
        }
        if let Ok(mut early) = self.state.early_stdin.lock() {
            early.eof = true;
        }
        Ok(())
    }

    /// Resizes the run stage's terminal.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), SandboxError> {
        match self.run_stage() {
            Some(control) => control.resize(rows, cols).await,
            None => Ok(()),
        }
    }

    /// Signals the current stage.
    pub async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        match self.any_stage() {
            Some(control) => control.signal(signal).await,
            None => Err(SandboxError::InvalidSpec("no program is running yet".into())),
        }
    }

    /// Stops the job: kills the current stage and runs no further stage.
    pub async fn kill(&self) {
        self.state.killed.store(true, Ordering::Release);
        if let Some(control) = self.any_stage() {
            let _ = control.kill().await;
        }
    }

    fn is_killed(&self) -> bool {
        self.state.killed.load(Ordering::Acquire)
    }

    fn set_current(&self, stage: Option<(StageKind, Arc<dyn RunControl>)>) {
        if let Ok(mut current) = self.state.current.lock() {
            *current = stage;
        }
    }

    fn take_early_input(&self) -> EarlyInput {
        self.state.early_stdin.lock().map(|mut early| std::mem::take(&mut *early)).unwrap_or_default()
    }
}

impl Engine {
    /// An engine over `backend` with the given admission sizes.
    pub fn new(backend: Arc<dyn Backend>, admission: AdmissionConfig) -> Engine {
        Engine {
            backend,
            admission: Arc::new(Admission::new(admission)),
            observer: Arc::new(NoObserver),
            staging: Arc::default(),
        }
    }

    /// Reports every job to `observer` from now on.
    pub fn with_observer(mut self, observer: Arc<dyn JobObserver>) -> Engine {
        self.observer = observer;
        self
    }

    /// The same engine over `wrap(backend)`: for a server that adds to
    /// what its boxes' runs get (the egress proxy's environment).
    pub fn wrap_backend(mut self, wrap: impl FnOnce(Arc<dyn Backend>) -> Arc<dyn Backend>) -> Engine {
        self.backend = wrap(self.backend);
        self
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The admission gate (for metrics).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Refuses new jobs from now on.
    pub fn close(&self) {
        self.admission.close();
    }

    /// Submits a job to run in box `id`. Refused at once when the queue is
    /// full or the engine is closed.
    pub fn submit(&self, id: BoxId, job: Job) -> Result<JobHandle, EngineError> {
        self.submit_as(id, job, Requester::default())
    }

    /// Submits a job of `requester`, who takes turns for slots with other
    /// requesters (see [`Requester`]).
    pub fn submit_as(&self, id: BoxId, job: Job, requester: Requester) -> Result<JobHandle, EngineError> {
        if job.stages.is_empty() {
            return Err(EngineError::NoStages);
        }
        let submitted = Instant::now();
        let requester_key = requester.key().to_owned();
        let ticket = match self.admission.enter_as(requester) {
            Ok(ticket) => ticket,
            Err(error) => {
                let outcome = JobOutcome::Rejected(error.code());
                let elapsed = submitted.elapsed();
                self.observer.job_ended(&job.language, outcome, elapsed);
                let message = error.to_string();
                self.observer.job_summary(&JobSummary {
                    language: &job.language,
                    requester: &requester_key,
                    outcome,
                    last_status: None,
                    cpu_ms: 0,
                    elapsed,
                    failure: Some(&message),
                });
                return Err(error);
            }
        };
        let (events_tx, events_rx) = mpsc::channel(JOB_EVENT_QUEUE);
        let control = JobControl::default();
        let runner = JobRunner {
            backend: self.backend.clone(),
            staging: self.staging.of(&id),
            id,
            events: events_tx,
            control: control.clone(),
            observer: self.observer.clone(),
            language: job.language.clone(),
            requester: requester_key,
            submitted,
            accounting: Mutex::default(),
        };
        tokio::spawn(runner.run(job, ticket));
        Ok(JobHandle { events: events_rx, control })
    }
}

/// Why a job stopped early: the consumer went away, or it failed.
enum Stop {
    Gone,
    Failed(&'static str, String),
}

struct JobRunner {
    backend: Arc<dyn Backend>,
    staging: Arc<tokio::sync::Mutex<()>>,
    id: BoxId,
    events: mpsc::Sender<JobEvent>,
    control: JobControl,
    observer: Arc<dyn JobObserver>,
    language: String,
    requester: String,
    submitted: Instant,
    /// The last stage's status and the stages' CPU time so far.
    accounting: Mutex<(Option<RunStatus>, u64)>,
}

impl JobRunner {
    async fn send(&self, event: JobEvent) -> Result<(), Stop> {
        self.events.send(event).await.map_err(|_| Stop::Gone)
    }

    async fn run(self, job: Job, ticket: Ticket) {
        let (last, outcome) = match self.run_inner(job, ticket).await {
            Ok(()) => (JobEvent::Finished, JobOutcome::Finished),
            Err(Stop::Gone) => (JobEvent::Finished, JobOutcome::Abandoned),
            Err(Stop::Failed(code, message)) => (JobEvent::Failed { code, message }, JobOutcome::Failed(code)),
        };
        let elapsed = self.submitted.elapsed();
        self.observer.job_ended(&self.language, outcome, elapsed);
        let (last_status, cpu_ms) = self.accounting.lock().map(|accounting| *accounting).unwrap_or_default();
        self.observer.job_summary(&JobSummary {
            language: &self.language,
            requester: &self.requester,
            outcome,
            last_status,
            cpu_ms,
            elapsed,
            failure: match &last {
                JobEvent::Failed { message, .. } => Some(message),
                _ => None,
            },
        });
        if outcome != JobOutcome::Abandoned {
            let _ = self.events.send(last).await;
        }
    }

    /// A backend's failure, or the kill that brought it: a job stopped
    /// while its files were written or a stage was starting (its box
    /// destroyed with its session) reports `killed`, not the box's end,
    /// which a caller would answer with a new box.
    fn failed(&self, error: SandboxError) -> Stop {
        if self.control.is_killed() {
            return Stop::Failed("killed", format!("the job was stopped ({error})"));
        }
        Stop::Failed(error.code(), error.to_string())
    }

    async fn run_inner(&self, job: Job, ticket: Ticket) -> Result<(), Stop> {
        if ticket.position > 0 {
            self.send(JobEvent::Queued { position: ticket.position }).await?;
        }
        let _slot = tokio::select! {
            slot = ticket.wait() => slot.map_err(|e| Stop::Failed(e.code(), e.to_string()))?,
            _ = self.events.closed() => return Err(Stop::Gone),
        };
        if self.control.is_killed() {
            return Err(Stop::Failed("killed", "the job was stopped before it started".into()));
        }
        let mut staging = Some(tokio::select! {
            guard = self.staging.clone().lock_owned() => guard,
            _ = self.events.closed() => return Err(Stop::Gone),
        });
        self.send(JobEvent::Started).await?;
        self.backend.put_files(&self.id, job.files, job.mode).await.map_err(|e| self.failed(e))?;
        for stage in job.stages {
            if self.control.is_killed() {
                break;
            }
            let report = self.run_stage(stage, &mut staging).await?;
            if stage_failed(&report) {
                break;
            }
        }
        Ok(())
    }

    /// Runs one stage; the staging lock is let go once a run stage has
    /// started.
    async fn run_stage(&self, stage: StagePlan, staging: &mut Option<OwnedMutexGuard<()>>) -> Result<ExitReport, Stop> {
        let kind = stage.kind;
        let mut handle = self.backend.run(&self.id, stage.spec).await.map_err(|e| self.failed(e))?;
        if kind == StageKind::Run {
            staging.take();
        }
        self.control.set_current(Some((kind, handle.control())));
        if kind == StageKind::Run {
            let early = self.control.take_early_input();
            let control = handle.control();
            if !early.data.is_empty() {
                let _ = control.write_stdin(early.data.freeze()).await;
            }
            if early.eof {
                let _ = control.close_stdin().await;
            }
        }
        // A Stop that raced with the start of this stage.
        if self.control.is_killed() {
            let _ = handle.control().kill().await;
        }
        self.send(JobEvent::StageStarted(kind)).await?;
        let result = loop {
            // A client that goes away while the program is silent must
            // still stop it.
            let event = tokio::select! {
                event = handle.next_event() => event,
                _ = self.events.closed() => break Err(Stop::Gone),
            };
            match event {
                Some(RunEvent::Output { stream, data }) => {
                    if let Err(gone) = self.send(JobEvent::Output { stage: kind, stream, data }).await {
                        break Err(gone);
                    }
                }
                Some(RunEvent::Notice(text)) => {
                    if let Err(gone) = self.send(JobEvent::Notice { stage: kind, text }).await {
                        break Err(gone);
                    }
                }
                Some(RunEvent::Exit(report)) => break Ok(report),
                None => break Err(Stop::Failed("internal", "the run ended without a report".into())),
            }
        };
        self.control.set_current(None);
        // Dropping the handle (on every path) kills whatever is left.
        drop(handle);
        let report = result?;
        self.observer.stage_finished(&self.language, kind, &report);
        if let Ok(mut accounting) = self.accounting.lock() {
            *accounting = (Some(report.status), accounting.1.saturating_add(report.cpu_ms));
        }
        self.send(JobEvent::StageFinished { stage: kind, report: report.clone() }).await?;
        Ok(report)
    }
}

/// A stage after which the job goes no further.
fn stage_failed(report: &ExitReport) -> bool {
    report.status != RunStatus::Ok
}
