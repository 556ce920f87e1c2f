//! The Prometheus registry that `GET /metrics` (`crate::health`) shows as
//! OpenMetrics text: counters of runs by language and status, a
//! job-latency histogram, queue depth, sessions and boxes, and box
//! creations against warm reuses.
//!
//! Label values are bounded: languages are catalog ids (resolved before a
//! job exists), statuses and outcomes are fixed codes. Every metric also
//! carries the `node` label, the node's id (`crate::fleet`), so that one
//! Prometheus scraping a fleet tells its nodes apart.

use std::borrow::Cow;
use std::time::Duration;

use bytesbox_engine::{JobObserver, JobOutcome, JobSummary, StageKind};
use bytesbox_sandbox::ExitReport;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::monitoring::Recorder;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    language: String,
    stage: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    language: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LanguageLabel {
    language: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabel {
    origin: &'static str,
}

/// Where a box was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxOrigin {
    /// A WebSocket session's box.
    Session,
    /// A one-shot box: a synchronous execute request (v1 or Piston) or a
    /// Piston connection.
    Execute,
}

impl BoxOrigin {
    fn as_str(self) -> &'static str {
        match self {
            BoxOrigin::Session => "session",
            BoxOrigin::Execute => "execute",
        }
    }
}

/// What the gauges show: read when `/metrics` is asked, not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Jobs waiting for a run slot.
    pub queued: usize,
    /// Jobs holding a run slot.
    pub running: usize,
    /// Live WebSocket sessions.
    pub sessions: usize,
    /// Live boxes of the backend.
    pub boxes: usize,
    /// Notebook kernels open in sessions (spares not counted).
    pub kernels: usize,
    /// The server process's resident memory (its boxes' memory is theirs).
    pub resident_bytes: u64,
    /// The egress proxy's totals since start (`docs/egress.md`).
    pub egress: EgressTotals,
}

/// What the egress proxy counted since the server started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EgressTotals {
    /// Bytes from boxes to hosts.
    pub bytes_out: u64,
    /// Bytes from hosts to boxes.
    pub bytes_in: u64,
    /// Connections relayed to an allowed host.
    pub relayed: u64,
    /// Requests refused or failed.
    pub refused: u64,
    /// Connections turned away at a cap.
    pub over_cap: u64,
}

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    stages: Family<StageLabels, Counter>,
    jobs: Family<JobLabels, Counter>,
    job_seconds: Family<LanguageLabel, Histogram>,
    box_creations: Family<OriginLabel, Counter>,
    box_reuses: Family<OriginLabel, Counter>,
    queued: Gauge,
    running: Gauge,
    sessions: Gauge,
    boxes: Gauge,
    kernels: Gauge,
    resident_bytes: Gauge,
    egress_bytes: Family<DirectionLabel, Counter>,
    egress_connections: Family<OutcomeLabel, Counter>,
    /// The same jobs, and server-side failures, for the Dashboard's
    /// per-minute aggregates (`crate::monitoring`).
    recorder: Recorder,
}

fn job_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl Metrics {
    /// Registers every metric, labelled with the node's id.
    pub fn new(node: &str) -> Metrics {
        let node_label = (Cow::Borrowed("node"), Cow::Owned(node.to_owned()));
        let mut registry = Registry::with_prefix_and_labels("bytesbox", std::iter::once(node_label));
        let stages = Family::<StageLabels, Counter>::default();
        registry.register("runs", "Stages that ended, by language, stage and exit status", stages.clone());
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register(
            "jobs",
            "Jobs that ended, by language and outcome (finished, abandoned, or an error code)",
            jobs.clone(),
        );
        let job_seconds = Family::<LanguageLabel, Histogram>::new_with_constructor(job_histogram as fn() -> Histogram);
        registry.register(
            "job_duration_seconds",
            "Time from submission to the end of a job, queueing and compiling included",
            job_seconds.clone(),
        );
        let box_creations = Family::<OriginLabel, Counter>::default();
        registry.register("box_creations", "Boxes created for a job", box_creations.clone());
        let box_reuses = Family::<OriginLabel, Counter>::default();
        registry.register("box_reuses", "Jobs that ran in a box that was already warm", box_reuses.clone());
        let queued = Gauge::default();
        registry.register("queue_depth", "Jobs waiting for a run slot", queued.clone());
        let running = Gauge::default();
        registry.register("running_jobs", "Jobs holding a run slot", running.clone());
        let sessions = Gauge::default();
        registry.register(
            "sessions_active",
            "Live WebSocket sessions, connected or within their grace",
            sessions.clone(),
        );
        let boxes = Gauge::default();
        registry.register("boxes_active", "Live boxes of the backend", boxes.clone());
        let kernels = Gauge::default();
        registry.register("kernels_active", "Notebook kernels open in sessions, spares not counted", kernels.clone());
        let resident_bytes = Gauge::default();
        registry.register(
            "resident_memory_bytes",
            "The server process's resident memory, its boxes' not included",
            resident_bytes.clone(),
        );
        let egress_bytes = Family::<DirectionLabel, Counter>::default();
        registry.register(
            "egress_bytes",
            "Bytes relayed by the egress proxy, out (from boxes) and in (to boxes)",
            egress_bytes.clone(),
        );
        let egress_connections = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "egress_connections",
            "Connections to the egress proxy, by outcome (relayed, refused, over_cap)",
            egress_connections.clone(),
        );
        Metrics {
            registry,
            egress_bytes,
            egress_connections,
            stages,
            jobs,
            job_seconds,
            box_creations,
            box_reuses,
            queued,
            running,
            sessions,
            boxes,
            kernels,
            resident_bytes,
            recorder: Recorder::new(node),
        }
    }

    /// What the node saw since its last monitoring flush.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Counts a box handed to a job: made now, or reused warm.
    pub fn box_acquired(&self, origin: BoxOrigin, created: bool) {
        let labels = OriginLabel { origin: origin.as_str() };
        match created {
            true => self.box_creations.get_or_create(&labels).inc(),
            false => self.box_reuses.get_or_create(&labels).inc(),
        };
    }

    /// Sets the gauges to what they are now, before an [`Metrics::encode`].
    pub fn set_gauges(&self, now: &Gauges) {
        self.queued.set(gauge_value(now.queued));
        self.running.set(gauge_value(now.running));
        self.sessions.set(gauge_value(now.sessions));
        self.boxes.set(gauge_value(now.boxes));
        self.kernels.set(gauge_value(now.kernels));
        self.resident_bytes.set(i64::try_from(now.resident_bytes).unwrap_or(i64::MAX));
        // The proxy keeps its own totals; the counters catch up to them.
        let catch_up = |counter: &Counter, total: u64| {
            counter.inc_by(total.saturating_sub(counter.get()));
        };
        let egress = &now.egress;
        catch_up(&self.egress_bytes.get_or_create(&DirectionLabel { direction: "out" }), egress.bytes_out);
        catch_up(&self.egress_bytes.get_or_create(&DirectionLabel { direction: "in" }), egress.bytes_in);
        for (outcome, total) in
            [("relayed", egress.relayed), ("refused", egress.refused), ("over_cap", egress.over_cap)]
        {
            catch_up(&self.egress_connections.get_or_create(&OutcomeLabel { outcome }), total);
        }
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

impl JobObserver for Metrics {
    fn stage_finished(&self, language: &str, stage: StageKind, report: &ExitReport) {
        let labels =
            StageLabels { language: language.to_string(), stage: stage.as_str(), status: report.status.as_str() };
        self.stages.get_or_create(&labels).inc();
    }

    fn job_ended(&self, language: &str, outcome: JobOutcome, elapsed: Duration) {
        self.jobs.get_or_create(&JobLabels { language: language.to_string(), outcome: outcome.as_str() }).inc();
        if !matches!(outcome, JobOutcome::Rejected(_)) {
            self.job_seconds
                .get_or_create(&LanguageLabel { language: language.to_string() })
                .observe(elapsed.as_secs_f64());
        }
    }

    fn job_summary(&self, summary: &JobSummary<'_>) {
        self.recorder.job(summary);
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod dashboard_tests;
