//! Crash safety of saves through the whole server: a real `bytesbox serve`
//! (SQLite and local objects in its data dir) takes heavy `PUT`s of big
//! files from several writers and is killed with SIGKILL mid-save, then
//! restarted on the same data dir, several times. After each restart every
//! file must be readable, of its listed size, and exactly one complete
//! version of what was written.

use super::*;

use std::sync::Arc;

const FILES: usize = 3;
const ROUNDS: usize = 5;

use bytesbox_testkit::versions::{check_version, version};

/// Checks every file of the project; returns how many there are.
async fn verify(http: &reqwest::Client, base: &str, project: &str, round: usize) -> usize {
    let listed: Value =
        http.get(format!("{base}/api/v1/projects/{project}")).send().await.unwrap().json().await.unwrap();
    let files = listed["files"].as_array().unwrap_or_else(|| panic!("round {round}: {listed}"));
    for file in files {
        let path = file["path"].as_str().unwrap();
        let answer = http.get(format!("{base}/api/v1/projects/{project}/files/{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "round {round}: {path}");
        let version = answer.headers()["x-bytesbox-version"].to_str().unwrap().to_owned();
        assert_eq!(version, file["version"].to_string(), "round {round}: {path}");
        let content = answer.bytes().await.unwrap();
        assert_eq!(content.len() as u64, file["size_bytes"].as_u64().unwrap(), "round {round}: {path}'s size");
        if let Err(problem) = check_version(path, &content) {
            panic!("round {round}: {problem}");
        }
    }
    files.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_heavy_saves_keeps_one_complete_version_of_every_file() {
    if !require_root("a_server_killed_during_heavy_saves_keeps_one_complete_version_of_every_file") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let store = bytesbox_store::Store::open_in_data_dir(data.path()).await.unwrap();
    let user = store.create_user("saver", "a long password", bytesbox_store::Role::User).await.unwrap();
    let token = store.create_api_token(&user.id, "saves").await.unwrap();
    store.close().await;
    let http = token_client(&token.secret);

    let mut project = String::new();
    let mut files_before = 0;
    for round in 0..ROUNDS {
        let (mut server, address) = serve_in(data.path(), "native", "");
        let base = format!("http://{address}");
        if round == 0 {
            let created: Value = http
                .post(format!("{base}/api/v1/projects"))
                .json(&json!({"name": "heavy"}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            project = created["project"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
        } else {
            let intact = verify(&http, &base, &project, round).await;
            assert!(intact >= files_before, "round {round}: a file was lost ({intact} < {files_before})");
            eprintln!("round {round}: {intact} files intact after the restart");
            files_before = intact;
        }

        // Writers save as fast as they can; each counts its saves.
        let saves = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writers: Vec<_> = (0..FILES)
            .map(|file| {
                let (http, base, project, saves) = (http.clone(), base.clone(), project.clone(), saves.clone());
                tokio::spawn(async move {
                    let url = format!("{base}/api/v1/projects/{project}/files/f{file}.bin");
                    let mut expected = match http.get(&url).send().await {
                        Ok(answer) if answer.status() == 200 => {
                            answer.headers()["x-bytesbox-version"].to_str().unwrap().parse::<i64>().unwrap()
                        }
                        _ => 0,
                    };
                    loop {
                        let generation = uuid_like();
                        let len = (512 << 10) + (generation % (3 << 20)) as usize;
                        let body = version(file, generation, len);
                        let Ok(answer) = http.put(format!("{url}?version={expected}")).body(body).send().await else {
                            return; // the server is gone
                        };
                        let status = answer.status();
                        let Ok(answer) = answer.json::<Value>().await else { return };
                        match status.as_u16() {
                            200 => {
                                expected = answer["file"]["version"].as_i64().unwrap();
                                saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            409 => expected = answer["error"]["current_version"].as_i64().unwrap(),
                            other => panic!("save answered {other}: {answer}"),
                        }
                    }
                })
            })
            .collect();
        let wanted = 4 + round * 3;
        let deadline = Instant::now() + Duration::from_secs(120);
        while saves.load(std::sync::atomic::Ordering::SeqCst) < wanted {
            assert!(Instant::now() < deadline, "round {round}: the writers stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(round as u64 * 23)).await;
        server.kill().unwrap(); // SIGKILL, in the middle of the writers' next saves
        server.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
        eprintln!("round {round}: killed after {} saves", saves.load(std::sync::atomic::Ordering::SeqCst));
    }

    // The last restart: everything is there and whole.
    let (mut server, address) = serve_in(data.path(), "native", "");
    let intact = verify(&http, &format!("http://{address}"), &project, ROUNDS).await;
    assert_eq!(intact, FILES, "every writer's file survived");
    // By default the contents live under the data dir.
    let stored = std::fs::read_dir(data.path().join("objects/projects").join(&project)).unwrap().count();
    assert!(stored >= FILES, "{stored} objects in the data dir");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// 64 random bits without a random-number crate.
fn uuid_like() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()));
    hasher.finish()
}
