//! Monitoring: nodes' minutes add up per step over the fleet or one node,
//! errors are capped per node and minute, users' days are kept, and old
//! rows are pruned. Other tests may share the database: each case writes
//! in a time window of its own (a random day long ago) and reads nodes
//! of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use bytesbox_store::{
    latency_bucket, latency_quantile, ErrorRecord, MinuteReport, MonitorFlush, MonitorGauges, MonitorRetention,
    NewFile, ProjectFiles, ProjectSettings, Quota, RunCount, Store, UserActivity, UserId, DAY_MS,
    ERRORS_KEPT_PER_MINUTE, MAX_ERROR_MESSAGE, MINUTE_MS,
};
use bytesbox_testkit::stores::unique_suffix;

use crate::fresh_user;

/// A day of this case's own, `years` after 1970 plus a random number of
/// days below 3,000 (so windows of different cases do not meet).
fn window(years: i64) -> i64 {
    let random = i64::from_str_radix(&unique_suffix()[..8], 16).unwrap();
    (years * 365 + random % 3000) * DAY_MS
}

fn run(language: &str, status: &str, runs: i64) -> RunCount {
    RunCount { language: language.into(), status: status.into(), runs }
}

fn gauges(sessions: i64) -> MonitorGauges {
    MonitorGauges { queue_depth: 1, running: 2, sessions, boxes: sessions + 1, resident_bytes: 1000 }
}

fn error(node: &str, at_ms: i64, message: &str) -> ErrorRecord {
    ErrorRecord {
        id: format!("e{}", unique_suffix()),
        node_id: node.into(),
        at_ms,
        kind: "run".into(),
        code: "spawn_failed".into(),
        subject: "python".into(),
        message: message.into(),
    }
}

fn runs_of(points: &[bytesbox_store::SeriesPoint]) -> Vec<(i64, Vec<RunCount>)> {
    points.iter().map(|point| (point.start_ms, point.runs.clone())).collect()
}

pub async fn minutes_add_up_per_step_over_the_fleet_or_one_node(store: &Store) {
    let day = window(30);
    let (a, b) = (format!("na{}", unique_suffix()), format!("nb{}", unique_suffix()));
    let minute = |n: i64| day + n * MINUTE_MS;
    let report = |n: i64, runs: Vec<RunCount>, latency: Vec<(usize, i64)>, sessions: i64| MinuteReport {
        minute_ms: minute(n) + 1234,
        gauges: Some(gauges(sessions)),
        runs,
        latency,
        errors: 0,
        dropped: 0,
    };
    let fast = latency_bucket(10);
    let slow = latency_bucket(2000);
    let flush = |node: &str, minutes: Vec<MinuteReport>| MonitorFlush {
        node_id: node.into(),
        minutes,
        errors: vec![],
        users: vec![],
    };
    // Node a: two minutes, the first written in two flushes (they add up).
    store
        .write_monitoring(&flush(&a, vec![report(0, vec![run("python", "ok", 3)], vec![(fast, 3)], 2)]))
        .await
        .unwrap();
    store
        .write_monitoring(&flush(
            &a,
            vec![
                report(0, vec![run("python", "ok", 1), run("c", "compile_error", 1)], vec![(fast, 2)], 4),
                report(1, vec![run("python", "runtime_error", 2)], vec![(slow, 2)], 6),
            ],
        ))
        .await
        .unwrap();
    // Node b: the second minute.
    store
        .write_monitoring(&flush(&b, vec![report(1, vec![run("python", "ok", 5)], vec![(fast, 5)], 10)]))
        .await
        .unwrap();

    // The hour, per minute, over the fleet.
    let hour = store.monitor_series(day, day + 3600 * 1000, MINUTE_MS, None).await.unwrap();
    assert_eq!(
        runs_of(&hour),
        vec![
            (minute(0), vec![run("c", "compile_error", 1), run("python", "ok", 4)]),
            (minute(1), vec![run("python", "ok", 5), run("python", "runtime_error", 2)]),
        ]
    );
    assert_eq!(hour[0].latency, BTreeMap::from([(fast, 5)]));
    assert_eq!(hour[1].latency, BTreeMap::from([(fast, 5), (slow, 2)]));
    // Gauges: the later sample of a minute; nodes added up.
    assert_eq!(hour[0].gauges.unwrap().sessions, 4);
    assert_eq!(hour[1].gauges.unwrap().sessions, 16);
    assert_eq!(hour[1].gauges.unwrap().resident_bytes, 2000);

    // One node.
    let only_b = store.monitor_series(day, day + 3600 * 1000, MINUTE_MS, Some(&b)).await.unwrap();
    assert_eq!(runs_of(&only_b), vec![(minute(1), vec![run("python", "ok", 5)])]);
    assert_eq!(only_b[0].gauges.unwrap().sessions, 10);

    // The day, in 10-minute steps: one step, gauges the minutes' mean.
    let whole_day = store.monitor_series(day, day + DAY_MS, 10 * MINUTE_MS, None).await.unwrap();
    assert_eq!(
        runs_of(&whole_day),
        vec![(day, vec![run("c", "compile_error", 1), run("python", "ok", 9), run("python", "runtime_error", 2)])]
    );
    assert_eq!(whole_day[0].gauges.unwrap().sessions, (4 + 16) / 2);
    let p50 = latency_quantile(&whole_day[0].latency, 0.5).unwrap();
    let p99 = latency_quantile(&whole_day[0].latency, 0.99).unwrap();
    assert!(p50 <= 10.0 && p99 > 1000.0, "p50 {p50} p99 {p99}");
    // Nothing outside the window.
    assert!(store.monitor_series(day + DAY_MS, day + 2 * DAY_MS, MINUTE_MS, Some(&a)).await.unwrap().is_empty());
    let nodes = store.monitored_nodes(day).await.unwrap();
    assert!(nodes.contains(&a) && nodes.contains(&b), "{nodes:?}");
}

pub async fn errors_are_capped_per_node_and_minute_and_the_rest_counted(store: &Store) {
    let day = window(40);
    let node = format!("ne{}", unique_suffix());
    let at = day + 5 * MINUTE_MS;
    let long = "é".repeat(MAX_ERROR_MESSAGE);
    let flood: Vec<ErrorRecord> = (0..25).map(|n| error(&node, at + n, if n == 24 { &long } else { "boom" })).collect();
    let minutes = vec![MinuteReport { minute_ms: at, errors: 25, ..MinuteReport::default() }];
    let flush = MonitorFlush { node_id: node.clone(), minutes, errors: flood.clone(), users: vec![] };
    let dropped = store.write_monitoring(&flush).await.unwrap();
    assert_eq!(dropped, 25 - ERRORS_KEPT_PER_MINUTE);
    // Three more in the same minute: no room left; one in the next minute.
    let more: Vec<ErrorRecord> = (0..3).map(|n| error(&node, at + 100 + n, "again")).collect();
    let next = error(&node, at + MINUTE_MS, "next minute");
    let errors = more.iter().cloned().chain([next.clone()]).collect();
    let minutes = vec![
        MinuteReport { minute_ms: at, errors: 3, ..MinuteReport::default() },
        MinuteReport { minute_ms: at + MINUTE_MS, errors: 2, dropped: 1, ..MinuteReport::default() },
    ];
    let flush = MonitorFlush { node_id: node.clone(), minutes, errors, users: vec![] };
    assert_eq!(store.write_monitoring(&flush).await.unwrap(), 3);

    let kept = store.recent_errors(100, Some(&node)).await.unwrap();
    assert_eq!(kept.len(), usize::try_from(ERRORS_KEPT_PER_MINUTE).unwrap() + 1);
    assert_eq!(kept[0], next, "newest first, as written");
    let first_ids: Vec<&str> = flood[..20].iter().map(|error| error.id.as_str()).collect();
    assert!(kept[1..].iter().all(|error| first_ids.contains(&error.id.as_str())), "the first of the minute are kept");
    assert!(kept.iter().all(|error| error.message.len() <= MAX_ERROR_MESSAGE));
    assert_eq!(store.recent_errors(5, Some(&node)).await.unwrap().len(), 5);

    let series = store.monitor_series(day, day + DAY_MS, MINUTE_MS, Some(&node)).await.unwrap();
    let counts: Vec<_> = series.iter().map(|point| (point.start_ms, point.errors, point.errors_dropped)).collect();
    assert_eq!(counts, vec![(at, 28, 8), (at + MINUTE_MS, 2, 1)], "a node's own drops are counted too");
}

pub async fn users_days_and_storage_are_kept_per_user(store: &Store) {
    let user = fresh_user(store).await;
    let today = chrono_free_today();
    let activity = |language: &str, runs: i64, cpu_ms: i64| UserActivity {
        user_id: user.id.clone(),
        day_ms: today + 5000,
        language: language.into(),
        runs,
        cpu_ms,
    };
    let gone = UserActivity { user_id: UserId(format!("gone{}", unique_suffix())), ..activity("c", 1, 1) };
    let node = format!("nu{}", unique_suffix());
    let flush =
        |users: Vec<UserActivity>| MonitorFlush { node_id: node.clone(), minutes: vec![], errors: vec![], users };
    store.write_monitoring(&flush(vec![activity("python", 2, 30), gone.clone()])).await.unwrap();
    store.write_monitoring(&flush(vec![activity("python", 1, 5), activity("c", 4, 100)])).await.unwrap();
    let mine: Vec<_> =
        store.user_activity(today).await.unwrap().into_iter().filter(|day| day.user_id == user.id).collect();
    let expected = vec![
        UserActivity { day_ms: today, ..activity("c", 4, 100) },
        UserActivity { day_ms: today, ..activity("python", 3, 35) },
    ];
    assert_eq!(mine, expected);
    assert!(
        store.user_activity(today).await.unwrap().iter().all(|day| day.user_id != gone.user_id),
        "a user that is not there is not recorded"
    );

    let files = ProjectFiles::new(store.clone(), bytesbox_store::Objects::in_memory());
    let settings = ProjectSettings { name: "p".into(), language: None, entry_file: None };
    let content = NewFile { path: "main.py".into(), content: Bytes::from_static(b"print(1)\n") };
    files.create_project(&user.id, &settings, vec![content], &Quota::UNLIMITED).await.unwrap();
    store.sample_user_storage(today + 1).await.unwrap();
    store.sample_user_storage(today + 2).await.unwrap();
    let samples: Vec<_> =
        store.user_storage_samples(today).await.unwrap().into_iter().filter(|s| s.user_id == user.id).collect();
    assert_eq!(samples.len(), 1, "one sample a day: {samples:?}");
    assert_eq!((samples[0].day_ms, samples[0].files, samples[0].bytes), (today, 1, 9));
}

/// Today's start (UTC), in Unix ms.
fn chrono_free_today() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let ms = i64::try_from(now.as_millis()).unwrap();
    ms - ms % DAY_MS
}

pub async fn old_rows_are_pruned_and_recent_ones_kept(store: &Store) {
    // Long before the other cases' windows: pruning here deletes nothing
    // of theirs.
    let day = window(10);
    let node = format!("np{}", unique_suffix());
    let retention = MonitorRetention { minutes: Duration::from_secs(7 * 24 * 3600), ..MonitorRetention::default() };
    let report = |minute_ms: i64| MinuteReport {
        minute_ms,
        gauges: Some(gauges(1)),
        runs: vec![run("python", "ok", 1)],
        latency: vec![(3, 1)],
        errors: 1,
        dropped: 0,
    };
    let now = day + 8 * DAY_MS;
    let (old, recent) = (day, now - MINUTE_MS);
    let flush = MonitorFlush {
        node_id: node.clone(),
        minutes: vec![report(old), report(recent)],
        errors: vec![error(&node, old, "old"), error(&node, recent, "recent")],
        users: vec![],
    };
    store.write_monitoring(&flush).await.unwrap();
    let deleted = store.prune_monitoring(now, retention).await.unwrap();
    assert!(deleted >= 4, "the old minute, its runs, latency and error: {deleted}");
    let series = store.monitor_series(day, now, MINUTE_MS, Some(&node)).await.unwrap();
    assert_eq!(series.iter().map(|point| point.start_ms).collect::<Vec<_>>(), vec![recent]);
    assert_eq!(series[0].runs, vec![run("python", "ok", 1)]);
    let errors = store.recent_errors(10, Some(&node)).await.unwrap();
    assert_eq!(errors.iter().map(|error| error.message.as_str()).collect::<Vec<_>>(), vec!["recent"]);
}
