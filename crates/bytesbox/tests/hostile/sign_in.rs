//! Issue 10, items 9 and 10, from outside against `bytesbox serve`:
//! guessing the admin's password must not lock the admin out, and a
//! sign-up + import flood must stop at the server's storage budget.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::report;
use crate::served::{client_from, Served};

const PASSWORD: &str = "correct horse battery";

/// A client whose connections come from `address` (loopback only).
fn client_at(address: &str) -> reqwest::Client {
    client_from(address.parse::<IpAddr>().unwrap())
}

async fn auth(
    client: &reqwest::Client,
    address: &str,
    what: &str,
    username: &str,
    password: &str,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("http://{address}/api/v1/auth/{what}"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_the_admins_password_does_not_lock_the_admin_out() {
    if !bytesbox_testkit::require_root("guessing_the_admins_password_does_not_lock_the_admin_out") {
        return;
    }
    let served = Served::start("");
    let store = bytesbox_store::Store::open_in_data_dir(served.data.path()).await.unwrap();
    store.create_user("admin", PASSWORD, bytesbox_store::Role::Admin).await.unwrap();
    let address = served.address.clone();

    // Guessers: one address hammering, and a few more addresses (a small
    // botnet), each bounded in count and time.
    let deadline = Instant::now() + Duration::from_secs(20);
    let guessers: Vec<_> = ["127.0.0.1", "127.0.0.1", "127.0.0.3", "127.0.0.4", "127.0.0.5"]
        .into_iter()
        .enumerate()
        .map(|(n, from)| {
            let address = address.clone();
            tokio::spawn(async move {
                let client = client_at(from);
                let (mut checked, mut refused) = (0u32, 0u32);
                for guess in 0..40 {
                    if Instant::now() > deadline {
                        break;
                    }
                    let password = format!("guess {n}-{guess}");
                    match auth(&client, &address, "login", "admin", &password).await.0 {
                        StatusCode::UNAUTHORIZED => checked += 1,
                        StatusCode::TOO_MANY_REQUESTS => refused += 1,
                        other => panic!("a guess got {other}"),
                    }
                }
                (checked, refused)
            })
        })
        .collect();

    // Once the guessers have been refused for a while, the admin signs in
    // from an address of their own.
    let waited = Instant::now();
    loop {
        let (status, _) = auth(&client_at("127.0.0.9"), &address, "login", "admin", "probe guess").await;
        if status == StatusCode::TOO_MANY_REQUESTS || waited.elapsed() > Duration::from_secs(15) {
            break;
        }
    }
    let admin = client_at("127.0.0.2");
    let started = Instant::now();
    let (status, me) = auth(&admin, &address, "login", "admin", PASSWORD).await;
    let latency = started.elapsed();
    assert_eq!(status, StatusCode::OK, "the admin is signed in at the first try: {me}");
    assert_eq!(me["user"]["role"], "admin");

    let (mut checked, mut refused) = (0, 0);
    for guesser in guessers {
        let (c, r) = guesser.await.unwrap();
        checked += c;
        refused += r;
    }
    assert!(refused > 0, "the guessers were throttled");
    report::record("sign-in guessing", "guesses whose password was checked", checked);
    report::record("sign-in guessing", "guesses refused (429)", refused);
    report::record("sign-in guessing", "admin sign-in attempts needed", 1);
    report::record("sign-in guessing", "admin sign-in latency (ms)", latency.as_millis());
}

/// A zip holding one file of `size` zero bytes (it compresses to almost
/// nothing: what the 194 KB zip of 190 MiB did).
fn bomb(size: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("data.bin", options).unwrap();
    writer.write_all(&vec![0; size]).unwrap();
    writer.finish().unwrap().into_inner()
}

fn bytes_under(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|entry| match entry.metadata() {
                Ok(meta) if meta.is_dir() => bytes_under(&entry.path()),
                Ok(meta) => meta.len(),
                Err(_) => 0,
            })
            .sum()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_and_import_flood_stops_at_the_storage_budget() {
    if !bytesbox_testkit::require_root("a_sign_up_and_import_flood_stops_at_the_storage_budget") {
        return;
    }
    const BUDGET: u64 = 24 * 1024 * 1024;
    const IMPORT: usize = 4 * 1024 * 1024;
    let served = Served::start(&format!("[accounts]\nstorage_budget_bytes = {BUDGET}\n"));
    let address = served.address.clone();

    // The victim: an account with a saved project, made before the flood.
    let victim = client_at("127.0.0.2");
    let (status, me) = auth(&victim, &address, "signup", "victim", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{me}");
    let csrf = me["csrf"].as_str().unwrap_or_else(|| panic!("{me}")).to_string();
    let created = victim
        .post(format!("http://{address}/api/v1/projects"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "mine", "files": [{"path": "main.py", "content": "print('hi')"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let project: Value = created.json().await.unwrap();
    let project_id = project["project"]["id"].as_str().unwrap().to_string();

    // The flood: from three addresses, as many accounts as each may make,
    // each importing a zip that holds 4 MiB.
    let archive = bomb(IMPORT);
    let (mut accounts, mut signups_refused, mut imported, mut imports_refused) = (0, 0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(40);
    'flood: for from in ["127.0.0.10", "127.0.0.11", "127.0.0.12"] {
        for n in 0..8 {
            if Instant::now() > deadline {
                break 'flood;
            }
            let client = client_at(from);
            let (status, me) = auth(&client, &address, "signup", &format!("flood-{from}-{n}"), PASSWORD).await;
            if status != StatusCode::CREATED {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{me}");
                signups_refused += 1;
                continue;
            }
            accounts += 1;
            let response = client
                .post(format!("http://{address}/api/v1/projects/import?name=flood"))
                .header("x-csrf-token", me["csrf"].as_str().unwrap())
                .body(archive.clone())
                .send()
                .await
                .unwrap();
            match response.status() {
                StatusCode::CREATED => imported += 1,
                StatusCode::INSUFFICIENT_STORAGE => {
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["error"]["code"], "storage_full", "{body}");
                    imports_refused += 1;
                }
                other => panic!("an import got {other}"),
            }
        }
    }
    assert!(imports_refused > 0, "the flood reached the budget");

    let store = bytesbox_store::Store::open_in_data_dir(served.data.path()).await.unwrap();
    let total = store.total_stored_bytes().await.unwrap();
    let on_disk = bytes_under(&served.data.path().join("objects"));
    assert!(total <= BUDGET, "{total} bytes stored over a budget of {BUDGET}");
    assert!(on_disk <= BUDGET, "{on_disk} bytes of objects on disk over a budget of {BUDGET}");

    // What the victim sees: their project is still there.
    let read = victim.get(format!("http://{address}/api/v1/projects/{project_id}/files/main.py")).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.text().await.unwrap(), "print('hi')");
    let save = victim
        .put(format!("http://{address}/api/v1/projects/{project_id}/files/more.py?version=0"))
        .header("x-csrf-token", &csrf)
        .body("print('more')")
        .send()
        .await
        .unwrap();

    report::record("sign-up + import flood", "accounts created", accounts);
    report::record("sign-up + import flood", "sign-ups refused (429)", signups_refused);
    report::record("sign-up + import flood", "imports of 4 MiB stored", imported);
    report::record("sign-up + import flood", "imports refused (507 storage_full)", imports_refused);
    report::record("sign-up + import flood", "total bytes stored (budget 24 MiB)", total);
    report::record("sign-up + import flood", "object bytes on disk", on_disk);
    report::record("sign-up + import flood", "victim's new save when full (status)", save.status().as_u16());
}
