//! The engine between front ends (HTTP, WebSocket, CLI) and a sandbox
//! backend: it admits jobs (a bounded queue, fair across requesters, in
//! front of a cap on concurrent runs), writes a job's files into its box,
//! runs its stages (compile, then run) and streams what happens as
//! [`JobEvent`]s.
//!
//! Every submitted job gets exactly one final event ([`JobEvent::Finished`]
//! or [`JobEvent::Failed`]); a full queue is refused at once, never left
//! hanging.

mod admission;
mod error;
mod job;
mod observer;

pub use admission::{Admission, AdmissionConfig, AdmissionStats, Requester};
pub use error::EngineError;
pub use job::{Engine, Job, JobControl, JobEvent, JobHandle, StageKind, StagePlan};
pub use observer::{JobObserver, JobOutcome, JobSummary, NoObserver};
