//! Server-wide storage caps: the budget over all users and the data
//! disk's free-space watermark refuse every write that adds data (saves,
//! creations, duplicates, imports) with `StorageFull`, leave no object
//! behind, and still let users shrink and delete. On SQLite with local
//! objects: the budget counts every project in the database, so these
//! cases need a database of their own.

use bytes::Bytes;
use bytesbox_store::{
    FilesError, NewFile, ProjectFiles, ProjectSettings, Quota, StorageFull, StorageLimits, StoreError,
};

use crate::{fresh_user, sqlite_store, ObjectsUnderTest};

fn settings(name: &str) -> ProjectSettings {
    ProjectSettings { name: name.to_owned(), language: None, entry_file: None }
}

fn bytes(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

fn assert_full(error: FilesError, why: StorageFull) {
    match error {
        FilesError::Store(StoreError::StorageFull(full)) => assert_eq!(full, why),
        other => panic!("expected storage full ({why:?}), got {other}"),
    }
}

/// Objects under the local store's root, wherever they are.
fn object_count(objects: &ObjectsUnderTest) -> usize {
    let root = objects.local_dir().unwrap().join("objects");
    walk(&root)
}

fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries.map(|entry| entry.unwrap().path()).map(|path| if path.is_dir() { walk(&path) } else { 1 }).sum()
    })
}

fn zip_of(files: &[(&str, usize)]) -> Bytes {
    use std::io::Write as _;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, size) in files {
        writer.start_file(*path, zip::write::SimpleFileOptions::default()).unwrap();
        writer.write_all(&vec![b'z'; *size]).unwrap();
    }
    Bytes::from(writer.finish().unwrap().into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_refuses_every_write_that_adds_data_across_users() {
    let (store, _dir) = sqlite_store().await;
    let objects = ObjectsUnderTest::local();
    let limits = StorageLimits { budget_bytes: Some(1000), min_free_bytes: 0 };
    let files = ProjectFiles::new(store.clone(), objects.open()).with_storage_limits(limits);
    let (alice, bob) = (fresh_user(&store).await, fresh_user(&store).await);
    let q = &Quota::UNLIMITED;

    let file = |path: &str, size| NewFile { path: path.to_owned(), content: bytes(size) };
    let (project, _) = files.create_project(&alice.id, &settings("a"), vec![file("a.txt", 600)], q).await.unwrap();
    let kept = object_count(&objects);
    // Bob has his own (unlimited) quota, but the server's budget is shared.
    let error = files.create_project(&bob.id, &settings("b"), vec![file("b.txt", 500)], q).await.unwrap_err();
    assert_full(error, StorageFull::Budget);
    let (bobs, _) = files.create_project(&bob.id, &settings("b"), vec![file("b.txt", 400)], q).await.unwrap();
    assert_eq!(store.total_stored_bytes().await.unwrap(), 1000);
    // Full: a new file, a bigger save, a duplicate, an import, an empty project.
    assert_full(files.write_file(&bob.id, &bobs.id, "c.txt", bytes(1), 0, q).await.unwrap_err(), StorageFull::Budget);
    assert_full(
        files.write_file(&alice.id, &project.id, "a.txt", bytes(601), 1, q).await.unwrap_err(),
        StorageFull::Budget,
    );
    assert_full(files.duplicate_project(&alice.id, &project.id, "copy", q).await.unwrap_err(), StorageFull::Budget);
    let archive = zip_of(&[("main.py", 10)]);
    assert_full(files.import_zip(&bob.id, "imported", archive, q, u64::MAX).await.unwrap_err(), StorageFull::Budget);
    assert_full(files.create_project(&bob.id, &settings("empty"), vec![], q).await.unwrap_err(), StorageFull::Budget);
    assert_eq!(object_count(&objects), kept + 1, "refused writes leave no object behind");

    // Shrinking and deleting are always allowed; then there is room again.
    files.write_file(&alice.id, &project.id, "a.txt", bytes(100), 1, q).await.unwrap();
    files.write_file(&bob.id, &bobs.id, "c.txt", bytes(500), 0, q).await.unwrap();
    assert_eq!(store.total_stored_bytes().await.unwrap(), 1000);

    // The administrator's view: who holds the most, most first.
    let top = store.storage_by_user(10).await.unwrap();
    let shares: Vec<(&str, i64, i64, i64)> =
        top.iter().map(|user| (user.username.as_str(), user.projects, user.files, user.bytes)).collect();
    assert_eq!(shares, [(bob.username.as_str(), 1, 2, 900), (alice.username.as_str(), 1, 1, 100)]);
    assert_eq!(store.storage_by_user(1).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_watermark_refuses_writes_before_the_disk_is_full() {
    let (store, _dir) = sqlite_store().await;
    let objects = ObjectsUnderTest::local();
    let user = fresh_user(&store).await;
    let q = &Quota::UNLIMITED;
    let open = ProjectFiles::new(store.clone(), objects.open());
    let (project, _) = open.create_project(&user.id, &settings("p"), vec![], q).await.unwrap();
    open.write_file(&user.id, &project.id, "big.txt", bytes(1000), 0, q).await.unwrap();

    // A watermark above the disk's free space: as if the disk were full.
    let free = open.with_storage_limits(StorageLimits::default()).store().disk_free_bytes().unwrap();
    let limits = StorageLimits { budget_bytes: None, min_free_bytes: free.saturating_mul(2) };
    let files = ProjectFiles::new(store.clone(), objects.open()).with_storage_limits(limits);
    let kept = object_count(&objects);
    assert_full(
        files.write_file(&user.id, &project.id, "new.txt", bytes(1), 0, q).await.unwrap_err(),
        StorageFull::Disk,
    );
    assert_full(files.create_project(&user.id, &settings("q"), vec![], q).await.unwrap_err(), StorageFull::Disk);
    assert_full(files.duplicate_project(&user.id, &project.id, "copy", q).await.unwrap_err(), StorageFull::Disk);
    assert_eq!(object_count(&objects), kept);
    // Freeing space still works.
    files.write_file(&user.id, &project.id, "big.txt", bytes(10), 1, q).await.unwrap();
    files.delete_file(&user.id, &project.id, "big.txt", 2).await.unwrap();

    // Remote object storage has no disk of ours to watch.
    let remote = ProjectFiles::new(store.clone(), bytesbox_store::Objects::in_memory()).with_storage_limits(limits);
    assert_eq!(remote.store().disk_free_bytes(), None);
    remote.create_project(&user.id, &settings("remote"), vec![], q).await.unwrap();
}
