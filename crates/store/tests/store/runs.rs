//! Run history.

use bytesbox_store::{ProjectSettings, RunRecord, Store, StoreError, RUNS_KEPT_PER_PROJECT};

use crate::fresh_user;

pub async fn a_project_keeps_its_last_fifty_runs_newest_first(store: &Store) {
    let user = fresh_user(store).await;
    let other = fresh_user(store).await;
    let settings = ProjectSettings { name: "busy".into(), ..ProjectSettings::default() };
    let project = store.create_project(&user.id, &settings).await.unwrap();
    let quiet = store.create_project(&user.id, &ProjectSettings { name: "quiet".into(), ..settings }).await.unwrap();
    let run = |n: i64| RunRecord {
        // Equal start times: the order must come from the insertion sequence.
        started_at_ms: 1_000,
        language: "python".into(),
        status: if n % 2 == 0 { "ok".into() } else { "timeout".into() },
        duration_ms: n,
    };
    store.record_run(&user.id, &quiet.id, &run(-1)).await.unwrap();
    for n in 0..55 {
        store.record_run(&user.id, &project.id, &run(n)).await.unwrap();
    }
    let kept = store.list_runs(&user.id, &project.id).await.unwrap();
    assert_eq!(kept.len(), usize::try_from(RUNS_KEPT_PER_PROJECT).unwrap());
    let durations: Vec<_> = kept.iter().map(|run| run.duration_ms).collect();
    assert_eq!(durations, (5..55).rev().collect::<Vec<_>>());
    assert_eq!(kept[0], run(54));
    assert_eq!(store.list_runs(&user.id, &quiet.id).await.unwrap(), vec![run(-1)], "other projects keep theirs");

    let error = store.record_run(&other.id, &project.id, &run(99)).await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound), "{error}");
    assert_eq!(store.list_runs(&user.id, &project.id).await.unwrap(), kept);
}
