//! What a node saw since its last flush, kept in memory: runs by minute,
//! language and status with their latency histogram, server-side
//! failures (at most [`ERRORS_KEPT_PER_MINUTE`] records a minute, the rest
//! counted), and signed-in users' runs and CPU time per day. Recording
//! takes a short lock and never waits on the database; the flush
//! (`super::flush`) takes everything at once.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytesbox_engine::{JobOutcome, JobSummary};
use bytesbox_store::{
    latency_bucket, ErrorRecord, MinuteReport, MonitorFlush, RunCount, UserActivity, UserId, DAY_MS,
    ERRORS_KEPT_PER_MINUTE, MINUTE_MS,
};

use super::SERVER_FAILURES;

/// A server-side failure to record.
#[derive(Debug, Clone, Copy)]
pub struct Failure<'a> {
    /// `http` or `run`.
    pub kind: &'a str,
    /// The stable error code.
    pub code: &'a str,
    /// The route or the language.
    pub subject: &'a str,
    /// What went wrong.
    pub message: &'a str,
}

#[derive(Debug, Default)]
struct Minute {
    runs: BTreeMap<(String, String), i64>,
    latency: BTreeMap<usize, i64>,
    errors: i64,
    kept: i64,
}

/// Minutes kept unflushed at the most: a node whose writes fail (or a
/// program that never flushes) forgets the oldest rather than grow.
const MAX_PENDING_MINUTES: usize = 120;
/// (user, day, language) entries kept unflushed at the most.
const MAX_PENDING_USERS: usize = 100_000;

#[derive(Debug, Default)]
struct Pending {
    minutes: BTreeMap<i64, Minute>,
    errors: Vec<ErrorRecord>,
    /// (user, day, language) → (runs, CPU ms).
    users: BTreeMap<(String, i64, String), (i64, i64)>,
}

impl Pending {
    /// The minute starting at `minute`, made if need be; the oldest
    /// minutes (and their error records) go past [`MAX_PENDING_MINUTES`].
    fn minute(&mut self, minute: i64) -> &mut Minute {
        if !self.minutes.contains_key(&minute) && self.minutes.len() >= MAX_PENDING_MINUTES {
            self.minutes.pop_first();
            let oldest = self.minutes.keys().next().copied().unwrap_or(minute).min(minute);
            self.errors.retain(|error| error.at_ms >= oldest);
        }
        self.minutes.entry(minute).or_default()
    }
}

/// The node's monitoring since its last flush.
#[derive(Debug)]
pub struct Recorder {
    node: String,
    pending: Mutex<Pending>,
}

pub(crate) fn now_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// A fresh error id: `e-` and 16 hex digits.
pub fn new_error_id() -> String {
    format!("e-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

/// The status a job is counted under: its last stage's, or, when it did
/// not run to its end, its outcome.
fn status_of(summary: &JobSummary<'_>) -> &'static str {
    match (summary.outcome, summary.last_status) {
        (JobOutcome::Finished, Some(status)) => status.as_str(),
        (outcome, _) => outcome.as_str(),
    }
}

impl Recorder {
    /// A recorder of node `node`.
    pub fn new(node: &str) -> Recorder {
        Recorder { node: node.to_owned(), pending: Mutex::default() }
    }

    /// Counts a job that ended; a job that failed for the server's reasons
    /// is recorded as an error too.
    pub fn job(&self, summary: &JobSummary<'_>) {
        let now = now_ms();
        let minute = now - now.rem_euclid(MINUTE_MS);
        if let JobOutcome::Failed(code) = summary.outcome {
            if SERVER_FAILURES.contains(&code) {
                let message = summary.failure.unwrap_or(code);
                let failure = Failure { kind: "run", code, subject: summary.language, message };
                self.error(&new_error_id(), &failure);
            }
        }
        let Ok(mut pending) = self.pending.lock() else { return };
        let entry = pending.minute(minute);
        *entry.runs.entry((summary.language.to_owned(), status_of(summary).to_owned())).or_default() += 1;
        if matches!(summary.outcome, JobOutcome::Rejected(_)) {
            return;
        }
        let elapsed_ms = u64::try_from(summary.elapsed.as_millis()).unwrap_or(u64::MAX);
        *entry.latency.entry(latency_bucket(elapsed_ms)).or_default() += 1;
        if let Some(user) = summary.requester.strip_prefix("user:") {
            let day = now - now.rem_euclid(DAY_MS);
            let key = (user.to_owned(), day, summary.language.to_owned());
            if pending.users.len() >= MAX_PENDING_USERS && !pending.users.contains_key(&key) {
                return;
            }
            let (runs, cpu_ms) = pending.users.entry(key).or_default();
            *runs += 1;
            *cpu_ms += i64::try_from(summary.cpu_ms).unwrap_or(i64::MAX);
        }
    }

    /// Records a server-side failure under `id` and writes its log line,
    /// which carries the same id.
    pub fn error(&self, id: &str, failure: &Failure<'_>) {
        let Failure { kind, code, subject, message } = *failure;
        tracing::error!(error_id = %id, node = %self.node, kind, code, subject, "{message}");
        let now = now_ms();
        let Ok(mut pending) = self.pending.lock() else { return };
        let minute = pending.minute(now - now.rem_euclid(MINUTE_MS));
        minute.errors += 1;
        if minute.kept >= ERRORS_KEPT_PER_MINUTE {
            return;
        }
        minute.kept += 1;
        // Cut here already: a huge message should not sit in memory.
        let message = bytesbox_store::bounded(message, bytesbox_store::MAX_ERROR_MESSAGE).to_owned();
        pending.errors.push(ErrorRecord {
            id: id.to_owned(),
            node_id: self.node.clone(),
            at_ms: now,
            kind: kind.to_owned(),
            code: code.to_owned(),
            subject: subject.to_owned(),
            message,
        });
    }

    /// Takes everything recorded so far as a batch for the store; the
    /// current minute gets `gauges`.
    pub fn take(&self, gauges: bytesbox_store::MonitorGauges) -> MonitorFlush {
        let now = now_ms();
        let current = now - now.rem_euclid(MINUTE_MS);
        let pending = self.pending.lock().map(|mut pending| std::mem::take(&mut *pending)).unwrap_or_default();
        let mut minutes: Vec<MinuteReport> = pending
            .minutes
            .into_iter()
            .map(|(minute_ms, minute)| MinuteReport {
                minute_ms,
                gauges: None,
                runs: minute
                    .runs
                    .into_iter()
                    .map(|((language, status), runs)| RunCount { language, status, runs })
                    .collect(),
                latency: minute.latency.into_iter().collect(),
                errors: minute.errors,
                dropped: minute.errors - minute.kept,
            })
            .collect();
        match minutes.iter_mut().find(|report| report.minute_ms == current) {
            Some(report) => report.gauges = Some(gauges),
            None => minutes.push(MinuteReport { minute_ms: current, gauges: Some(gauges), ..MinuteReport::default() }),
        }
        let users = pending
            .users
            .into_iter()
            .map(|((user, day_ms, language), (runs, cpu_ms))| UserActivity {
                user_id: UserId(user),
                day_ms,
                language,
                runs,
                cpu_ms,
            })
            .collect();
        MonitorFlush { node_id: self.node.clone(), minutes, errors: pending.errors, users }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytesbox_sandbox::RunStatus;
    use bytesbox_store::MonitorGauges;

    use super::*;

    fn summary(outcome: JobOutcome, requester: &'static str) -> JobSummary<'static> {
        JobSummary {
            language: "python",
            requester,
            outcome,
            last_status: Some(RunStatus::Ok),
            cpu_ms: 7,
            elapsed: Duration::from_millis(20),
            failure: Some("no such program"),
        }
    }

    #[test]
    fn jobs_are_counted_per_status_and_server_failures_tracked_within_the_cap() {
        let recorder = Recorder::new("n1");
        recorder.job(&summary(JobOutcome::Finished, "user:u1"));
        recorder.job(&summary(JobOutcome::Finished, "guest:1.2.3.4/-"));
        recorder.job(&summary(JobOutcome::Failed("spawn_failed"), "user:u1"));
        recorder.job(&summary(JobOutcome::Failed("killed"), "user:u1"));
        recorder.job(&summary(JobOutcome::Rejected("queue_full"), "user:u1"));
        for n in 0..30 {
            recorder.error(&format!("x{n}"), &Failure { kind: "http", code: "internal", subject: "/", message: "m" });
        }
        let flush = recorder.take(MonitorGauges { sessions: 3, ..MonitorGauges::default() });
        let runs: Vec<_> = flush.minutes.iter().flat_map(|minute| minute.runs.clone()).collect();
        let count = |status: &str| runs.iter().filter(|run| run.status == status).map(|run| run.runs).sum::<i64>();
        assert_eq!((count("ok"), count("spawn_failed"), count("killed"), count("queue_full")), (2, 1, 1, 1));
        let latency: i64 = flush.minutes.iter().flat_map(|minute| minute.latency.iter().map(|(_, n)| n)).sum();
        assert_eq!(latency, 4, "refused jobs have no latency");
        let errors: i64 = flush.minutes.iter().map(|minute| minute.errors).sum();
        let dropped: i64 = flush.minutes.iter().map(|minute| minute.dropped).sum();
        assert_eq!(errors, 31, "the failed run and the 30 others");
        assert_eq!(flush.errors.len() as i64, errors - dropped);
        assert!(flush.errors.len() <= usize::try_from(ERRORS_KEPT_PER_MINUTE).unwrap_or(0) * 2);
        assert_eq!(flush.errors.iter().filter(|error| error.kind == "run").count(), 1);
        assert!(flush.minutes.iter().any(|minute| minute.gauges.map(|g| g.sessions) == Some(3)));
        let user: Vec<_> = flush.users.iter().map(|day| (day.user_id.0.as_str(), day.runs, day.cpu_ms)).collect();
        assert_eq!(user, vec![("u1", 3, 21)], "users' runs, not guests'; refused jobs not counted");
        let empty = recorder.take(MonitorGauges::default());
        assert!(empty.errors.is_empty() && empty.users.is_empty());
    }

    #[test]
    fn unflushed_minutes_are_bounded_the_oldest_forgotten_with_their_errors() {
        let mut pending = Pending::default();
        let record = |at_ms: i64| ErrorRecord {
            id: at_ms.to_string(),
            node_id: "n".into(),
            at_ms,
            kind: "http".into(),
            code: "internal".into(),
            subject: "/".into(),
            message: "m".into(),
        };
        for n in 0..130i64 {
            pending.minute(n * MINUTE_MS).errors += 1;
            pending.errors.push(record(n * MINUTE_MS));
        }
        assert_eq!(pending.minutes.len(), MAX_PENDING_MINUTES);
        let oldest = *pending.minutes.keys().next().unwrap_or(&0);
        assert_eq!(oldest, 10 * MINUTE_MS);
        assert!(pending.errors.iter().all(|error| error.at_ms >= oldest - MINUTE_MS), "forgotten with their minute");
        assert!(pending.errors.len() <= MAX_PENDING_MINUTES + 1);
    }
}
