//! Projects, optimistic versions and the file index.

use bytesbox_store::{ProjectSettings, RunRecord, Store, StoreError};

use crate::fresh_user;

fn named(name: &str) -> ProjectSettings {
    ProjectSettings {
        name: name.to_owned(),
        language: Some("python".to_owned()),
        entry_file: Some("main.py".to_owned()),
    }
}

fn assert_conflict(error: StoreError, expected: i64, current: i64) {
    match error {
        StoreError::Conflict { expected: got_expected, current: got_current } => {
            assert_eq!((got_expected, got_current), (expected, current));
        }
        other => panic!("expected a conflict, got {other}"),
    }
}

pub async fn projects_are_created_listed_and_read_by_their_owner_only(store: &Store) {
    let alice = fresh_user(store).await;
    let bob = fresh_user(store).await;
    let beta = store.create_project(&alice.id, &named("beta")).await.unwrap();
    let alpha = store.create_project(&alice.id, &named(" alpha ")).await.unwrap();
    assert_eq!((alpha.name.as_str(), alpha.version), ("alpha", 1));
    assert_eq!(alpha.owner, alice.id);

    let listed = store.list_projects(&alice.id).await.unwrap();
    assert_eq!(listed, vec![alpha.clone(), beta.clone()]);
    assert_eq!(store.project(&alice.id, &beta.id).await.unwrap(), beta);

    // Bob sees nothing of Alice's, and the same name is free for him.
    assert!(store.list_projects(&bob.id).await.unwrap().is_empty());
    for error in [
        store.project(&bob.id, &alpha.id).await.unwrap_err(),
        store.update_project(&bob.id, &alpha.id, 1, &named("stolen")).await.unwrap_err(),
        store.delete_project(&bob.id, &alpha.id, 1).await.unwrap_err(),
        store.list_files(&bob.id, &alpha.id).await.unwrap_err(),
        store.put_file_entry(&bob.id, &alpha.id, "x.py", 1, "key", 0).await.unwrap_err(),
        store.list_runs(&bob.id, &alpha.id).await.unwrap_err(),
    ] {
        assert!(matches!(error, StoreError::NotFound), "{error}");
    }
    store.create_project(&bob.id, &named("alpha")).await.unwrap();
    assert_eq!(store.project(&alice.id, &alpha.id).await.unwrap(), alpha, "untouched by Bob");

    let taken = store.create_project(&alice.id, &named("alpha")).await.unwrap_err();
    assert!(matches!(taken, StoreError::ProjectNameTaken), "{taken}");
    for bad in ["", "   ", "tab\there", &"n".repeat(101)] {
        let error = store.create_project(&alice.id, &named(bad)).await.unwrap_err();
        assert!(matches!(error, StoreError::InvalidInput(_)), "{bad:?}: {error}");
    }
}

pub async fn a_stale_version_is_a_conflict_and_never_overwrites(store: &Store) {
    let user = fresh_user(store).await;
    let project = store.create_project(&user.id, &named("draft")).await.unwrap();
    let renamed = store.update_project(&user.id, &project.id, 1, &named("final")).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("final", 2));
    assert!(renamed.updated_at_ms >= project.updated_at_ms);

    // A second tab still at version 1.
    let stale = store.update_project(&user.id, &project.id, 1, &named("from the old tab")).await.unwrap_err();
    assert_conflict(stale, 1, 2);
    assert_eq!(store.project(&user.id, &project.id).await.unwrap(), renamed);
    assert_conflict(store.delete_project(&user.id, &project.id, 1).await.unwrap_err(), 1, 2);

    let other = store.create_project(&user.id, &named("other")).await.unwrap();
    let taken = store.update_project(&user.id, &other.id, 1, &named("final")).await.unwrap_err();
    assert!(matches!(taken, StoreError::ProjectNameTaken), "{taken}");
    assert_eq!(store.project(&user.id, &other.id).await.unwrap().version, 1);
}

pub async fn concurrent_updates_of_one_version_let_exactly_one_win(store: &Store) {
    let user = fresh_user(store).await;
    let project = store.create_project(&user.id, &named("raced")).await.unwrap();
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (store, user, id) = (store.clone(), user.id.clone(), project.id.clone());
            tokio::spawn(async move { store.update_project(&user, &id, 1, &named(&format!("writer {writer}"))).await })
        })
        .collect();
    let mut winners = Vec::new();
    for writer in writers {
        match writer.await.unwrap() {
            Ok(project) => winners.push(project),
            Err(error) => assert_conflict(error, 1, 2),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(store.project(&user.id, &project.id).await.unwrap(), winners[0]);
}

pub async fn deleting_a_project_takes_its_files_and_runs_with_it(store: &Store) {
    let user = fresh_user(store).await;
    let doomed = store.create_project(&user.id, &named("doomed")).await.unwrap();
    let kept = store.create_project(&user.id, &named("kept")).await.unwrap();
    for project in [&doomed, &kept] {
        store.put_file_entry(&user.id, &project.id, "main.py", 12, "objects/a", 0).await.unwrap();
        let run = RunRecord { started_at_ms: 1, language: "python".into(), status: "ok".into(), duration_ms: 20 };
        store.record_run(&user.id, &project.id, &run).await.unwrap();
    }
    store.delete_project(&user.id, &doomed.id, 1).await.unwrap();
    let gone = store.project(&user.id, &doomed.id).await.unwrap_err();
    assert!(matches!(gone, StoreError::NotFound), "{gone}");
    assert!(matches!(store.delete_project(&user.id, &doomed.id, 1).await, Err(StoreError::NotFound)));
    assert_eq!(store.list_projects(&user.id).await.unwrap(), vec![kept.clone()]);
    assert_eq!(store.list_files(&user.id, &kept.id).await.unwrap().len(), 1);
    assert_eq!(store.list_runs(&user.id, &kept.id).await.unwrap().len(), 1);

    // A project made again under the same name starts empty.
    let again = store.create_project(&user.id, &named("doomed")).await.unwrap();
    assert!(store.list_files(&user.id, &again.id).await.unwrap().is_empty());
    assert!(store.list_runs(&user.id, &again.id).await.unwrap().is_empty());
}

pub async fn file_writes_are_versioned_per_file(store: &Store) {
    let user = fresh_user(store).await;
    let project = store.create_project(&user.id, &named("files")).await.unwrap();
    let id = &project.id;
    let created = store.put_file_entry(&user.id, id, "src/main.py", 10, "obj/1", 0).await.unwrap();
    assert_eq!((created.version, created.size_bytes, created.object_key.as_str()), (1, 10, "obj/1"));
    assert_conflict(store.put_file_entry(&user.id, id, "src/main.py", 11, "obj/2", 0).await.unwrap_err(), 0, 1);

    let saved = store.put_file_entry(&user.id, id, "src/main.py", 12, "obj/3", 1).await.unwrap();
    assert_eq!((saved.version, saved.object_key.as_str()), (2, "obj/3"));
    assert_conflict(store.put_file_entry(&user.id, id, "src/main.py", 13, "obj/4", 1).await.unwrap_err(), 1, 2);
    store.put_file_entry(&user.id, id, "README.md", 5, "obj/5", 0).await.unwrap();

    let listed = store.list_files(&user.id, id).await.unwrap();
    let paths: Vec<_> = listed.iter().map(|file| (file.path.as_str(), file.version)).collect();
    assert_eq!(paths, [("README.md", 1), ("src/main.py", 2)]);
    assert_eq!(listed[1], saved, "the stale write changed nothing");

    assert_conflict(store.delete_file_entry(&user.id, id, "src/main.py", 1).await.unwrap_err(), 1, 2);
    let deleted = store.delete_file_entry(&user.id, id, "src/main.py", 2).await.unwrap();
    assert_eq!(deleted.object_key, "obj/3", "the caller learns which object to delete");
    // A tab that still had version 2 learns the file is gone (current 0).
    assert_conflict(store.put_file_entry(&user.id, id, "src/main.py", 14, "obj/6", 2).await.unwrap_err(), 2, 0);
    assert_eq!(store.list_files(&user.id, id).await.unwrap().len(), 1);
}
