//! Monitoring inside Bytesbox (`docs/monitoring.md`): each node's minutes
//! (runs by language and status, a latency histogram, gauges, errors),
//! the server-side failures it recorded, and signed-in users' activity per
//! day. A node writes what it saw in one batch a minute
//! ([`Store::write_monitoring`]); the admin's Dashboard reads it back per
//! step over the fleet or one node ([`Store::monitor_series`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::StoreResult;
use crate::model::UserId;
use crate::nodes::millis;
use crate::{column, Store};

/// A minute, in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
/// A day, in milliseconds.
pub const DAY_MS: i64 = 24 * 3600 * 1000;
/// Errors kept with their message per node and minute; more are counted
/// (`errors_dropped`), so that a flood of failures cannot fill the
/// database.
pub const ERRORS_KEPT_PER_MINUTE: i64 = 20;
/// The longest error message kept, in bytes (longer ones are cut).
pub const MAX_ERROR_MESSAGE: usize = 1000;
/// Latency buckets: bucket `i` holds runs that took up to
/// [`latency_bound_ms`]`(i)`, a geometric series of ten buckets a decade
/// from 1 ms to 1000 s; the last holds everything longer.
pub const LATENCY_BUCKETS: usize = 62;

/// The upper bound of latency bucket `bucket`, in milliseconds.
pub fn latency_bound_ms(bucket: usize) -> f64 {
    if bucket + 1 >= LATENCY_BUCKETS {
        return f64::INFINITY;
    }
    10f64.powf(bucket as f64 / 10.0)
}

/// The latency bucket of a run that took `ms`.
pub fn latency_bucket(ms: u64) -> usize {
    (0..LATENCY_BUCKETS).find(|&bucket| ms as f64 <= latency_bound_ms(bucket)).unwrap_or(LATENCY_BUCKETS - 1)
}

/// The `quantile` (0 to 1) of a latency histogram (bucket → runs), in
/// milliseconds, interpolated within its bucket; `None` without runs. The
/// open last bucket answers its lower bound.
pub fn latency_quantile(histogram: &BTreeMap<usize, i64>, quantile: f64) -> Option<f64> {
    let total: i64 = histogram.values().sum();
    if total <= 0 {
        return None;
    }
    let rank = quantile.clamp(0.0, 1.0) * total as f64;
    let mut below = 0i64;
    for (&bucket, &runs) in histogram {
        if runs <= 0 {
            continue;
        }
        let low = if bucket == 0 { 0.0 } else { latency_bound_ms(bucket - 1) };
        let high = latency_bound_ms(bucket);
        if (below + runs) as f64 >= rank {
            if high.is_infinite() {
                return Some(low);
            }
            let within = ((rank - below as f64) / runs as f64).clamp(0.0, 1.0);
            return Some(low + (high - low) * within);
        }
        below += runs;
    }
    histogram.keys().next_back().map(|&bucket| latency_bound_ms(bucket.saturating_sub(1)))
}

/// Gauges a node sampled at its flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorGauges {
    /// Jobs waiting for a run slot.
    pub queue_depth: i64,
    /// Jobs holding a run slot.
    pub running: i64,
    /// Live sessions.
    pub sessions: i64,
    /// Live boxes.
    pub boxes: i64,
    /// The server process's resident memory.
    pub resident_bytes: i64,
}

/// Runs of one language that ended with one status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunCount {
    /// The catalog's language id.
    pub language: String,
    /// The last stage's status (`ok`, `runtime_error`, …) or, for a job
    /// that did not run to its end, its outcome (`abandoned`, an error
    /// code).
    pub status: String,
    /// How many.
    pub runs: i64,
}

/// What a node saw in one minute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinuteReport {
    /// The minute's start (Unix ms, a multiple of [`MINUTE_MS`]).
    pub minute_ms: i64,
    /// Gauges, when sampled in this minute.
    pub gauges: Option<MonitorGauges>,
    /// Runs that ended.
    pub runs: Vec<RunCount>,
    /// Their latency histogram: (bucket, runs).
    pub latency: Vec<(usize, i64)>,
    /// Server-side failures seen, whether or not their record is kept.
    pub errors: i64,
    /// Of those, the ones the node already only counted (it keeps at most
    /// [`ERRORS_KEPT_PER_MINUTE`] records a minute too).
    pub dropped: i64,
}

/// A server-side failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRecord {
    /// Its id: in the log line and (for HTTP) the answer.
    pub id: String,
    /// The node that saw it.
    pub node_id: String,
    /// When (Unix ms).
    pub at_ms: i64,
    /// `http` or `run`.
    pub kind: String,
    /// The stable error code.
    pub code: String,
    /// The route (`GET /api/v1/…`) or the run's language.
    pub subject: String,
    /// The message, at most [`MAX_ERROR_MESSAGE`] bytes.
    pub message: String,
}

/// A signed-in user's runs of one language on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserActivity {
    /// The user.
    pub user_id: UserId,
    /// The day's start (Unix ms, UTC).
    pub day_ms: i64,
    /// The language.
    pub language: String,
    /// Runs that ended.
    pub runs: i64,
    /// Their CPU time.
    pub cpu_ms: i64,
}

/// One node's batch: what it saw since its last flush.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorFlush {
    /// The node.
    pub node_id: String,
    /// Its minutes.
    pub minutes: Vec<MinuteReport>,
    /// Failures to keep (each within one of the minutes' counts).
    pub errors: Vec<ErrorRecord>,
    /// Users' activity.
    pub users: Vec<UserActivity>,
}

/// How long monitoring rows are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorRetention {
    /// Per-minute rows (and error records).
    pub minutes: Duration,
    /// Per-user days.
    pub user_days: Duration,
}

impl Default for MonitorRetention {
    /// Minutes and errors for 7 days, users' days for 90.
    fn default() -> Self {
        MonitorRetention { minutes: Duration::from_secs(7 * 24 * 3600), user_days: Duration::from_secs(90 * 24 * 3600) }
    }
}

/// One step of a series: the fleet's (or one node's) minutes added up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesPoint {
    /// The step's start (Unix ms).
    pub start_ms: i64,
    /// Runs that ended, by language and status.
    pub runs: Vec<RunCount>,
    /// Their latency histogram.
    pub latency: BTreeMap<usize, i64>,
    /// Gauges: per minute added over the nodes, then the mean of the
    /// step's minutes that have a sample; `None` without any.
    pub gauges: Option<MonitorGauges>,
    /// Failures seen.
    pub errors: i64,
    /// Of those, the ones counted only.
    pub errors_dropped: i64,
}

/// A user's storage at a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSample {
    /// The user.
    pub user_id: UserId,
    /// The day of the sample.
    pub day_ms: i64,
    /// Files over all projects.
    pub files: i64,
    /// Bytes over all projects.
    pub bytes: i64,
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn bounded(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn minute_of(at_ms: i64) -> i64 {
    at_ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

impl Store {
    /// Writes a node's batch in one transaction: minutes add up with what
    /// the node already wrote for them (gauges are replaced by the later
    /// sample), and at most [`ERRORS_KEPT_PER_MINUTE`] errors are kept per
    /// node and minute, the rest counted as dropped. Returns how many were
    /// dropped.
    pub async fn write_monitoring(&self, flush: &MonitorFlush) -> StoreResult<i64> {
        let node = &flush.node_id;
        // Error counts per minute, for minutes the batch only has errors of.
        let mut minutes: BTreeMap<i64, MinuteReport> = BTreeMap::new();
        for report in &flush.minutes {
            let minute = minute_of(report.minute_ms);
            let entry =
                minutes.entry(minute).or_insert_with(|| MinuteReport { minute_ms: minute, ..Default::default() });
            entry.errors += report.errors;
            entry.dropped += report.dropped;
            entry.gauges = report.gauges.or(entry.gauges);
        }
        let mut transaction = self.pool.begin().await?;
        // A write first, so SQLite's write lock is taken at once.
        for error in &flush.errors {
            minutes.entry(minute_of(error.at_ms)).or_insert_with(|| MinuteReport {
                minute_ms: minute_of(error.at_ms),
                errors: 0,
                ..Default::default()
            });
        }
        for report in minutes.values() {
            sqlx::query(
                "INSERT INTO monitor_minutes (node_id, minute, errors, errors_dropped) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (node_id, minute) DO UPDATE SET errors = monitor_minutes.errors + excluded.errors, \
                 errors_dropped = monitor_minutes.errors_dropped + excluded.errors_dropped",
            )
            .bind(node)
            .bind(report.minute_ms)
            .bind(report.errors)
            .bind(report.dropped)
            .execute(&mut *transaction)
            .await?;
            if let Some(gauges) = report.gauges {
                sqlx::query(
                    "UPDATE monitor_minutes SET queue_depth = $3, running = $4, sessions = $5, boxes = $6, \
                     resident_bytes = $7 WHERE node_id = $1 AND minute = $2",
                )
                .bind(node)
                .bind(report.minute_ms)
                .bind(gauges.queue_depth)
                .bind(gauges.running)
                .bind(gauges.sessions)
                .bind(gauges.boxes)
                .bind(gauges.resident_bytes)
                .execute(&mut *transaction)
                .await?;
            }
        }
        for report in &flush.minutes {
            let minute = minute_of(report.minute_ms);
            for run in &report.runs {
                sqlx::query(
                    "INSERT INTO monitor_runs (node_id, minute, language, status, runs) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (node_id, minute, language, status) DO UPDATE SET runs = monitor_runs.runs + excluded.runs",
                )
                .bind(node)
                .bind(minute)
                .bind(bounded(&run.language, 64))
                .bind(bounded(&run.status, 64))
                .bind(run.runs)
                .execute(&mut *transaction)
                .await?;
            }
            for &(bucket, runs) in &report.latency {
                sqlx::query(
                    "INSERT INTO monitor_latency (node_id, minute, bucket, runs) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (node_id, minute, bucket) DO UPDATE SET runs = monitor_latency.runs + excluded.runs",
                )
                .bind(node)
                .bind(minute)
                .bind(i64::try_from(bucket.min(LATENCY_BUCKETS - 1)).unwrap_or(0))
                .bind(runs)
                .execute(&mut *transaction)
                .await?;
            }
        }
        let mut dropped_total = 0;
        let mut by_minute: BTreeMap<i64, Vec<&ErrorRecord>> = BTreeMap::new();
        for error in &flush.errors {
            by_minute.entry(minute_of(error.at_ms)).or_default().push(error);
        }
        for (minute, errors) in by_minute {
            let kept: i64 = column(
                &sqlx::query("SELECT COUNT(*) AS kept FROM monitor_errors WHERE node_id = $1 AND at >= $2 AND at < $3")
                    .bind(node)
                    .bind(minute)
                    .bind(minute + MINUTE_MS)
                    .fetch_one(&mut *transaction)
                    .await?,
                "kept",
            )?;
            let room = usize::try_from((ERRORS_KEPT_PER_MINUTE - kept).max(0)).unwrap_or(0);
            for error in errors.iter().take(room) {
                sqlx::query(
                    "INSERT INTO monitor_errors (id, node_id, at, kind, code, subject, message) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                )
                .bind(bounded(&error.id, 64))
                .bind(node)
                .bind(error.at_ms)
                .bind(bounded(&error.kind, 16))
                .bind(bounded(&error.code, 64))
                .bind(bounded(&error.subject, 200))
                .bind(bounded(&error.message, MAX_ERROR_MESSAGE))
                .execute(&mut *transaction)
                .await?;
            }
            let dropped = i64::try_from(errors.len().saturating_sub(room)).unwrap_or(i64::MAX);
            if dropped > 0 {
                sqlx::query(
                    "UPDATE monitor_minutes SET errors_dropped = errors_dropped + $3 WHERE node_id = $1 AND minute = $2",
                )
                .bind(node)
                .bind(minute)
                .bind(dropped)
                .execute(&mut *transaction)
                .await?;
                dropped_total += dropped;
            }
        }
        for activity in &flush.users {
            sqlx::query(
                "INSERT INTO monitor_user_days (user_id, day, language, runs, cpu_ms) \
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
                 ON CONFLICT (user_id, day, language) DO UPDATE SET runs = monitor_user_days.runs + excluded.runs, \
                 cpu_ms = monitor_user_days.cpu_ms + excluded.cpu_ms",
            )
            .bind(&activity.user_id.0)
            .bind(activity.day_ms.div_euclid(DAY_MS) * DAY_MS)
            .bind(bounded(&activity.language, 64))
            .bind(activity.runs)
            .bind(activity.cpu_ms)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(dropped_total)
    }

    /// Deletes what is older than `retention` allows at `now_ms`.
    pub async fn prune_monitoring(&self, now_ms: i64, retention: MonitorRetention) -> StoreResult<u64> {
        let minutes_before = now_ms.saturating_sub(millis(retention.minutes));
        let days_before = now_ms.saturating_sub(millis(retention.user_days));
        let mut deleted = 0;
        for (table, column, before) in [
            ("monitor_minutes", "minute", minutes_before),
            ("monitor_runs", "minute", minutes_before),
            ("monitor_latency", "minute", minutes_before),
            ("monitor_errors", "at", minutes_before),
            ("monitor_user_days", "day", days_before),
            ("monitor_user_storage", "day", days_before),
        ] {
            let sql = format!("DELETE FROM {table} WHERE {column} < $1");
            deleted += sqlx::query(&sql).bind(before).execute(&self.pool).await?.rows_affected();
        }
        Ok(deleted)
    }

    /// The minutes from `from_ms` (inclusive) to `to_ms` (exclusive) in
    /// steps of `step_ms` (a multiple of a minute), over every node or only
    /// `node`; steps without data are left out.
    pub async fn monitor_series(
        &self,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
        node: Option<&str>,
    ) -> StoreResult<Vec<SeriesPoint>> {
        let step_ms = (step_ms.max(MINUTE_MS) / MINUTE_MS) * MINUTE_MS;
        let step_of = |minute: i64| from_ms + (minute - from_ms).div_euclid(step_ms) * step_ms;
        let node_filter = if node.is_some() { " AND node_id = $3" } else { "" };
        let select = |table: &str, columns: &str| {
            format!("SELECT {columns} FROM {table} WHERE minute >= $1 AND minute < $2{node_filter}")
        };
        let mut points: BTreeMap<i64, SeriesPoint> = BTreeMap::new();
        // Gauges per minute added over nodes, then averaged per step.
        let mut minute_gauges: BTreeMap<i64, MonitorGauges> = BTreeMap::new();
        let sql = select(
            "monitor_minutes",
            "minute, queue_depth, running, sessions, boxes, resident_bytes, errors, errors_dropped",
        );
        for row in self.series_rows(&sql, from_ms, to_ms, node).await? {
            let minute: i64 = column(&row, "minute")?;
            let point = points.entry(step_of(minute)).or_default();
            point.errors += column::<i64>(&row, "errors")?;
            point.errors_dropped += column::<i64>(&row, "errors_dropped")?;
            let gauges = minute_gauges.entry(minute).or_default();
            gauges.queue_depth += column::<i64>(&row, "queue_depth")?;
            gauges.running += column::<i64>(&row, "running")?;
            gauges.sessions += column::<i64>(&row, "sessions")?;
            gauges.boxes += column::<i64>(&row, "boxes")?;
            gauges.resident_bytes += column::<i64>(&row, "resident_bytes")?;
        }
        let mut step_gauges: BTreeMap<i64, (MonitorGauges, i64)> = BTreeMap::new();
        for (minute, gauges) in minute_gauges {
            let (sum, count) = step_gauges.entry(step_of(minute)).or_default();
            sum.queue_depth += gauges.queue_depth;
            sum.running += gauges.running;
            sum.sessions += gauges.sessions;
            sum.boxes += gauges.boxes;
            sum.resident_bytes += gauges.resident_bytes;
            *count += 1;
        }
        for (step, (sum, count)) in step_gauges {
            points.entry(step).or_default().gauges = Some(MonitorGauges {
                queue_depth: sum.queue_depth / count,
                running: sum.running / count,
                sessions: sum.sessions / count,
                boxes: sum.boxes / count,
                resident_bytes: sum.resident_bytes / count,
            });
        }
        let mut runs: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
        for row in
            self.series_rows(&select("monitor_runs", "minute, language, status, runs"), from_ms, to_ms, node).await?
        {
            let key = (step_of(column(&row, "minute")?), column(&row, "language")?, column(&row, "status")?);
            *runs.entry(key).or_default() += column::<i64>(&row, "runs")?;
        }
        for ((step, language, status), count) in runs {
            points.entry(step).or_default().runs.push(RunCount { language, status, runs: count });
        }
        for row in self.series_rows(&select("monitor_latency", "minute, bucket, runs"), from_ms, to_ms, node).await? {
            let step = step_of(column(&row, "minute")?);
            let bucket = usize::try_from(column::<i64>(&row, "bucket")?).unwrap_or(0);
            *points.entry(step).or_default().latency.entry(bucket).or_default() += column::<i64>(&row, "runs")?;
        }
        Ok(points.into_iter().map(|(start_ms, point)| SeriesPoint { start_ms, ..point }).collect())
    }

    async fn series_rows(
        &self,
        sql: &str,
        from_ms: i64,
        to_ms: i64,
        node: Option<&str>,
    ) -> StoreResult<Vec<sqlx::any::AnyRow>> {
        let mut query = sqlx::query(sql).bind(from_ms).bind(to_ms);
        if let Some(node) = node {
            query = query.bind(node.to_owned());
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// The nodes that wrote minutes from `from_ms` on.
    pub async fn monitored_nodes(&self, from_ms: i64) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT node_id FROM monitor_minutes WHERE minute >= $1 ORDER BY node_id")
            .bind(from_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| column(row, "node_id")).collect()
    }

    /// The latest `limit` errors kept, newest first, of every node or only
    /// `node`.
    pub async fn recent_errors(&self, limit: i64, node: Option<&str>) -> StoreResult<Vec<ErrorRecord>> {
        let filter = if node.is_some() { "WHERE node_id = $2 " } else { "" };
        let sql = format!(
            "SELECT id, node_id, at, kind, code, subject, message FROM monitor_errors {filter}\
             ORDER BY at DESC, id LIMIT $1"
        );
        let mut query = sqlx::query(&sql).bind(limit);
        if let Some(node) = node {
            query = query.bind(node.to_owned());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(ErrorRecord {
                    id: column(row, "id")?,
                    node_id: column(row, "node_id")?,
                    at_ms: column(row, "at")?,
                    kind: column(row, "kind")?,
                    code: column(row, "code")?,
                    subject: column(row, "subject")?,
                    message: column(row, "message")?,
                })
            })
            .collect()
    }

    /// Samples every user's storage as of `day_ms`'s day (a later sample
    /// of the same day replaces an earlier one).
    pub async fn sample_user_storage(&self, day_ms: i64) -> StoreResult<()> {
        // SUM of a BIGINT is NUMERIC on PostgreSQL, which `Any` cannot
        // decode: cast it back. `WHERE true` lets SQLite read the upsert.
        sqlx::query(
            "INSERT INTO monitor_user_storage (user_id, day, files, bytes) \
             SELECT users.id, $1, \
               (SELECT COUNT(*) FROM project_files JOIN projects ON projects.id = project_files.project_id \
                 WHERE projects.owner_id = users.id), \
               (SELECT CAST(COALESCE(SUM(project_files.size_bytes), 0) AS BIGINT) FROM project_files \
                 JOIN projects ON projects.id = project_files.project_id WHERE projects.owner_id = users.id) \
             FROM users WHERE true \
             ON CONFLICT (user_id, day) DO UPDATE SET files = excluded.files, bytes = excluded.bytes",
        )
        .bind(day_ms.div_euclid(DAY_MS) * DAY_MS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Users' runs per day and language from `from_ms` on, oldest first.
    pub async fn user_activity(&self, from_ms: i64) -> StoreResult<Vec<UserActivity>> {
        let rows = sqlx::query(
            "SELECT user_id, day, language, runs, cpu_ms FROM monitor_user_days WHERE day >= $1 \
             ORDER BY day, user_id, language",
        )
        .bind(from_ms.div_euclid(DAY_MS) * DAY_MS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UserActivity {
                    user_id: UserId(column(row, "user_id")?),
                    day_ms: column(row, "day")?,
                    language: column(row, "language")?,
                    runs: column(row, "runs")?,
                    cpu_ms: column(row, "cpu_ms")?,
                })
            })
            .collect()
    }

    /// Users' storage samples from `from_ms` on, oldest first.
    pub async fn user_storage_samples(&self, from_ms: i64) -> StoreResult<Vec<StorageSample>> {
        let rows = sqlx::query(
            "SELECT user_id, day, files, bytes FROM monitor_user_storage WHERE day >= $1 ORDER BY day, user_id",
        )
        .bind(from_ms.div_euclid(DAY_MS) * DAY_MS)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StorageSample {
                    user_id: UserId(column(row, "user_id")?),
                    day_ms: column(row, "day")?,
                    files: column(row, "files")?,
                    bytes: column(row, "bytes")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_latency_and_quantiles_fall_within_their_bucket() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 0);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
        for ms in [3u64, 47, 999, 12_345] {
            let bucket = latency_bucket(ms);
            assert!(ms as f64 <= latency_bound_ms(bucket) && ms as f64 > latency_bound_ms(bucket - 1), "{ms}");
        }
        let mut histogram = BTreeMap::new();
        assert_eq!(latency_quantile(&histogram, 0.5), None);
        // 90 fast runs (~10 ms), 10 slow ones (~1 s).
        histogram.insert(latency_bucket(10), 90);
        histogram.insert(latency_bucket(1000), 10);
        let p50 = latency_quantile(&histogram, 0.5).unwrap();
        let p99 = latency_quantile(&histogram, 0.99).unwrap();
        assert!((7.9..=10.0).contains(&p50), "{p50}");
        assert!((794.0..=1000.0).contains(&p99), "{p99}");
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(bounded("héllo", 2), "h");
        assert_eq!(bounded("héllo", 3), "hé");
        assert_eq!(bounded("abc", 10), "abc");
    }
}
