//! Crash safety of saves: a child process (this test binary again, running
//! the ignored `crash_child_saves_forever`) saves big files as fast as it
//! can to a SQLite store with local objects, and is killed with SIGKILL
//! mid-save, several times. After each kill every indexed file must be
//! readable, of its indexed size, and exactly one complete version.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytesbox_store::{
    project_prefix, NewFile, Objects, ObjectsConfig, ProjectFiles, ProjectSettings, Quota, Role, Store, StoreError,
};
use futures_util::TryStreamExt as _;

const CHILD_ENV: &str = "BYTESBOX_CRASH_CHILD_DIR";
const USERNAME: &str = "crasher";
const PASSWORD: &str = "a long password";
const FILES: usize = 3;
const ROUNDS: usize = 6;
const BATCH_FILES: usize = 4;

use bytesbox_testkit::versions::{check_version, version};

async fn open(dir: &Path) -> ProjectFiles {
    let store = Store::open_in_data_dir(dir).await.unwrap();
    let objects = Objects::open(&ObjectsConfig::local_in_data_dir(dir)).unwrap();
    ProjectFiles::new(store, objects)
}

async fn user_and_project(files: &ProjectFiles) -> (bytesbox_store::UserId, bytesbox_store::ProjectId) {
    let store = files.store();
    let user = match store.create_user(USERNAME, PASSWORD, Role::User).await {
        Ok(user) => user,
        Err(StoreError::UsernameTaken) => store.verify_password(USERNAME, PASSWORD).await.unwrap(),
        Err(error) => panic!("{error}"),
    };
    let projects = store.list_projects(&user.id).await.unwrap();
    let project = match projects.into_iter().find(|project| project.name == "crash") {
        Some(project) => project,
        None => {
            let settings = ProjectSettings { name: "crash".into(), ..ProjectSettings::default() };
            store.create_project(&user.id, &settings).await.unwrap()
        }
    };
    (user.id, project.id)
}

/// The child: saves each file again and again until killed. Prints one
/// line per completed save so the parent knows it is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of a_sigkill_mid_save_never_leaves_a_truncated_file"]
async fn crash_child_saves_forever() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        panic!("run only by a_sigkill_mid_save_never_leaves_a_truncated_file, with {CHILD_ENV} set");
    };
    let files = open(Path::new(&dir)).await;
    let (user, project) = user_and_project(&files).await;
    let writers: Vec<_> = (0..FILES)
        .map(|file| {
            let (files, user, project) = (files.clone(), user.clone(), project.clone());
            tokio::spawn(async move {
                let path = format!("f{file}.bin");
                loop {
                    let current = files.list_files(&user, &project).await.unwrap();
                    let expected = current.iter().find(|entry| entry.path == path).map_or(0, |entry| entry.version);
                    let generation = uuid::Uuid::new_v4().as_u64_pair().0;
                    // 256 KiB to 4 MiB.
                    let len = (256 << 10) + (generation % (15 << 18)) as usize;
                    let content = Bytes::from(version(file, generation, len));
                    files.write_file(&user, &project, &path, content, expected, &Quota::UNLIMITED).await.unwrap();
                    println!("saved {path} {generation}");
                }
            })
        })
        .collect();
    // Meanwhile whole projects of four files are made and deleted again:
    // a kill must never leave one with only some of its files.
    let creator = tokio::spawn(async move {
        loop {
            let generation = uuid::Uuid::new_v4().as_u64_pair().0;
            let batch: Vec<NewFile> = (0..BATCH_FILES)
                .map(|file| {
                    let len = (64 << 10) + ((generation >> (file * 8)) % (1 << 20)) as usize;
                    NewFile { path: format!("f{file}.bin"), content: Bytes::from(version(file, generation, len)) }
                })
                .collect();
            let settings = ProjectSettings { name: format!("batch {generation}"), ..ProjectSettings::default() };
            let (made, _) = files.create_project(&user, &settings, batch, &Quota::UNLIMITED).await.unwrap();
            println!("created {}", made.id);
            files.delete_project(&user, &made.id, made.version).await.unwrap();
        }
    });
    for writer in writers {
        writer.await.unwrap();
    }
    creator.await.unwrap();
}

/// Checks the state a kill left; returns how many files are indexed.
async fn verify(dir: &Path, round: usize) -> usize {
    let files = open(dir).await;
    let (user, project) = user_and_project(&files).await;
    let entries = files.list_files(&user, &project).await.unwrap();
    let objects_dir = dir.join("objects");
    // A batch project caught by the kill is there whole or not at all.
    let mut batches = 0;
    for other in files.store().list_projects(&user).await.unwrap() {
        if other.id == project {
            continue;
        }
        let batch = files.read_all(&user, &other.id).await.unwrap();
        assert_eq!(batch.len(), BATCH_FILES, "round {round}: {} has only some of its files", other.name);
        for (entry, content) in batch {
            assert_eq!(content.len() as i64, entry.size_bytes);
            if let Err(problem) = check_version(&entry.path, &content) {
                panic!("round {round}: {}: {problem}", other.name);
            }
        }
        batches += 1;
    }
    for entry in &entries {
        // Straight from the disk, and through the API.
        let on_disk = std::fs::read(objects_dir.join(&entry.object_key))
            .unwrap_or_else(|error| panic!("round {round}: {}'s object {}: {error}", entry.path, entry.object_key));
        assert_eq!(on_disk.len() as i64, entry.size_bytes, "round {round}: {} has the indexed size", entry.path);
        if let Err(problem) = check_version(&entry.path, &on_disk) {
            panic!("round {round}: {problem}");
        }
        let (_, read) = files.read_file(&user, &project, &entry.path).await.unwrap();
        assert_eq!(&read[..], &on_disk[..]);
    }
    // The sweep removes what the kill left behind, and nothing indexed.
    let report = files.sweep_orphans(Duration::ZERO).await.unwrap();
    eprintln!("round {round}: {} files and {batches} batch projects intact; swept {report:?}", entries.len());
    let prefix = project_prefix(&project).unwrap();
    let listed: Vec<_> = files.objects().store().list(Some(&prefix)).try_collect().await.unwrap();
    let mut stored: Vec<_> = listed.into_iter().map(|meta| meta.location.to_string()).collect();
    let mut indexed: Vec<_> = entries.iter().map(|entry| entry.object_key.clone()).collect();
    stored.sort();
    indexed.sort();
    assert_eq!(stored, indexed, "round {round}: after the sweep exactly the indexed objects remain");
    let leftovers = std::fs::read_dir(objects_dir.join(prefix.as_ref()))
        .map(|dir| dir.filter_map(Result::ok).filter(|entry| entry.file_name().to_string_lossy().contains('#')).count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "round {round}: no staging file survives the sweep");
    files.store().close().await;
    entries.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_save_never_leaves_a_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut saves_seen = 0;
    let mut intact_before = 0;
    let mut saved_paths = std::collections::BTreeSet::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "store::crash::crash_child_saves_forever",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Kill after a varying number of saves, and a varying few
        // milliseconds more, so the kill lands at different points of a save.
        let wanted = 3 + round * 2;
        let delay = Duration::from_millis((round as u64 * 37) % 120);
        let started = Instant::now();
        // The reader drains the child's output until it dies (a closed pipe
        // would make the child's next save fail before the kill).
        let (sender, receiver) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(path) = line.strip_prefix("saved ").and_then(|rest| rest.split(' ').next()) {
                    let _ = sender.send(path.to_owned());
                }
            }
        });
        let saved = tokio::task::spawn_blocking(move || {
            let mut saved = Vec::new();
            while saved.len() < wanted {
                match receiver.recv_timeout(Duration::from_secs(60)) {
                    Ok(path) => saved.push(path),
                    Err(_) => break,
                }
            }
            saved
        })
        .await
        .unwrap();
        let saves = saved.len();
        saved_paths.extend(saved);
        assert_eq!(saves, wanted, "round {round}: the child stopped saving (see its output above)");
        std::thread::sleep(delay);
        // std's kill is SIGKILL.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        reader.join().unwrap();
        assert!(status.code().is_none(), "round {round}: the child was killed, not finished: {status}");
        saves_seen += saves;
        eprintln!("round {round}: killed after {saves} saves, {:?}", started.elapsed());
        let intact = verify(dir.path(), round).await;
        // A save may complete after the last line we read, so more files
        // than we saw saved may be there; never fewer, and never fewer than
        // after the last kill.
        assert!(intact >= saved_paths.len().max(intact_before), "round {round}: a saved file was lost");
        intact_before = intact;
    }
    assert!(saves_seen >= ROUNDS * 3);
    assert_eq!(saved_paths.len(), FILES, "every writer saved");
}
