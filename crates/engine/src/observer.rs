//! A seam through which the engine reports what happens to jobs, so a
//! front end can keep metrics without the engine knowing how they are
//! exported.

use std::time::Duration;

use bytesbox_sandbox::{ExitReport, RunStatus};

use crate::StageKind;

/// How a job ended, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// Every stage that should run ran (whatever their exit statuses).
    Finished,
    /// It stopped early with this error code.
    Failed(&'static str),
    /// It was refused at submission with this error code (queue full,
    /// shutting down).
    Rejected(&'static str),
    /// The client went away before the end.
    Abandoned,
}

impl JobOutcome {
    /// A label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobOutcome::Finished => "finished",
            JobOutcome::Failed(code) | JobOutcome::Rejected(code) => code,
            JobOutcome::Abandoned => "abandoned",
        }
    }
}

/// Told about every job. Calls are made from the job's task and must not
/// block.
pub trait JobObserver: Send + Sync + std::fmt::Debug {
    /// A stage ended with `report`.
    fn stage_finished(&self, language: &str, stage: StageKind, report: &ExitReport);
    /// A job ended, `elapsed` after it was submitted (queueing included).
    fn job_ended(&self, language: &str, outcome: JobOutcome, elapsed: Duration);
    /// A job ended: what [`JobObserver::job_ended`] says and more, for
    /// accounting and error tracking; called right after it.
    fn job_summary(&self, _summary: &JobSummary<'_>) {}
}

/// How a job ended, in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobSummary<'a> {
    /// The language.
    pub language: &'a str,
    /// Whom it ran for: the key of its requester in the fair queue
    /// (`user:<id>`, `guest:…`, `address:…`; empty by default).
    pub requester: &'a str,
    /// How it ended.
    pub outcome: JobOutcome,
    /// The status of the last stage that ended, if one did.
    pub last_status: Option<RunStatus>,
    /// CPU time of its stages together.
    pub cpu_ms: u64,
    /// Time from submission to its end, queueing included.
    pub elapsed: Duration,
    /// The message of a job that failed or was refused.
    pub failure: Option<&'a str>,
}

/// Observes nothing.
#[derive(Debug, Default)]
pub struct NoObserver;

impl JobObserver for NoObserver {
    fn stage_finished(&self, _language: &str, _stage: StageKind, _report: &ExitReport) {}
    fn job_ended(&self, _language: &str, _outcome: JobOutcome, _elapsed: Duration) {}
}
