//! The shipped Grafana dashboard (`deploy/grafana/bytesbox-fleet.json`)
//! queries only what this registry exports: every metric name and label a
//! panel's query uses is checked against the server's own `/metrics` text,
//! so renaming a metric or a label fails here rather than on an operator's
//! empty chart.

use std::collections::BTreeSet;

use bytesbox_sandbox::{ExitReport, RunStatus};
use serde_json::Value;

use super::*;

const DASHBOARD: &str = include_str!("../../../../deploy/grafana/bytesbox-fleet.json");

/// The registry's text with a sample of every family.
fn exported() -> String {
    let metrics = Metrics::new("node-a");
    let report = ExitReport {
        exit_code: Some(0),
        signal: None,
        status: RunStatus::Ok,
        wall_ms: 1,
        cpu_ms: 1,
        peak_memory_bytes: 1,
        stdout_bytes: 0,
        stderr_bytes: 0,
    };
    metrics.stage_finished("python", StageKind::Run, &report);
    metrics.job_ended("python", JobOutcome::Finished, Duration::from_millis(3));
    metrics.box_acquired(BoxOrigin::Session, true);
    metrics.box_acquired(BoxOrigin::Session, false);
    metrics.set_gauges(&Gauges {
        queued: 1,
        running: 1,
        sessions: 1,
        boxes: 1,
        kernels: 1,
        resident_bytes: 1,
        ..Gauges::default()
    });
    metrics.encode().unwrap()
}

/// Names a query may use: each sample's name (`_total`, `_bucket`, … included).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| line.split(['{', ' ']).next().unwrap_or_default().to_owned())
        .collect()
}

/// Label names on the samples.
fn label_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((_, labels)) = line.split_once('{') else { continue };
        let labels = labels.split('}').next().unwrap_or_default();
        for pair in labels.split(',') {
            if let Some((name, _)) = pair.split_once('=') {
                names.insert(name.trim().to_owned());
            }
        }
    }
    names
}

/// Every `expr` of the dashboard.
fn queries(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(expr)) = object.get("expr") {
                found.push(expr.clone());
            }
            object.values().for_each(|inner| queries(inner, found));
        }
        Value::Array(items) => items.iter().for_each(|inner| queries(inner, found)),
        _ => {}
    }
}

/// Words of `expr` that start with `bytesbox_`: the metric names it reads.
fn metric_names(expr: &str) -> Vec<&str> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("bytesbox_"))
        .collect()
}

/// Label names `expr` selects on (`{name="…"}`, `=~`, `!=`, `!~`) or
/// groups by (`by (a, b)`).
fn used_labels(expr: &str) -> Vec<String> {
    let mut labels = Vec::new();
    for selector in expr.split('{').skip(1) {
        let selector = selector.split('}').next().unwrap_or_default();
        for matcher in selector.split(',') {
            let name = matcher.split(['=', '!']).next().unwrap_or_default().trim();
            if !name.is_empty() {
                labels.push(name.to_owned());
            }
        }
    }
    for grouping in expr.split("by (").skip(1) {
        let grouping = grouping.split(')').next().unwrap_or_default();
        labels.extend(grouping.split(',').map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()));
    }
    labels
}

#[test]
fn every_dashboard_query_reads_metrics_and_labels_the_server_exports() {
    let text = exported();
    let names = sample_names(&text);
    let labels = label_names(&text);
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut found = Vec::new();
    queries(&dashboard, &mut found);
    assert!(found.len() >= 10, "the dashboard's queries: {found:?}");
    for expr in &found {
        let metrics = metric_names(expr);
        assert!(!metrics.is_empty(), "a query that reads no Bytesbox metric: {expr}");
        for metric in metrics {
            assert!(names.contains(metric), "{metric} is not exported ({names:?}): {expr}");
        }
        for label in used_labels(expr) {
            assert!(labels.contains(&label), "label {label} is on no sample ({labels:?}): {expr}");
        }
    }
}

#[test]
fn the_dashboard_has_a_node_choice_and_every_panel_a_title_and_a_query() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    assert_eq!(dashboard["uid"], "bytesbox-fleet");
    let variables: Vec<&str> =
        dashboard["templating"]["list"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(variables, ["datasource", "node"]);
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "panel ids are unique: {panel}");
        assert!(!panel["title"].as_str().unwrap_or_default().is_empty(), "{panel}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{panel}");
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            assert!(expr.contains("node=~\"$node\""), "every query follows the node choice: {expr}");
        }
    }
}

#[test]
fn the_checks_see_what_a_query_uses() {
    let expr = r#"sum by (language, le) (rate(bytesbox_runs_total{stage="run", node=~"$node", x!~"y"}[5m]))"#;
    assert_eq!(metric_names(expr), ["bytesbox_runs_total"]);
    assert_eq!(used_labels(expr), ["stage", "node", "x", "language", "le"]);
    let text = "# TYPE bytesbox_runs counter\nbytesbox_runs_total{language=\"py\",node=\"a\"} 1\nbytesbox_up 1\n";
    assert_eq!(sample_names(text).into_iter().collect::<Vec<_>>(), ["bytesbox_runs_total", "bytesbox_up"]);
    assert_eq!(label_names(text).into_iter().collect::<Vec<_>>(), ["language", "node"]);
}
