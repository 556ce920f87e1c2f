//! `/api/v1/projects` on a real server with accounts: CRUD, file versions
//! and conflicts, quotas, zip round trips and hostile zips, and isolation
//! between users. On the host double (no root), each case on both stores
//! (`on_both_stores!` in `server.rs`).

use super::*;

use std::collections::BTreeMap;
use std::io::Write as _;

use bytesbox_server::accounts::{AccountsConfig, PlanConfig};
use bytesbox_store::Role;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use zip::write::SimpleFileOptions;

/// A user on `plan` and the bearer header of an API token of theirs.
struct Client {
    auth: String,
}

/// An answer: status, lower-cased headers, body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, String::from_utf8_lossy(&self.body[..self.body.len().min(500)]))
    }
}

/// A server with projects, and a `tiny` plan, on `stores`.
fn projects_server(stores: &Stores) -> TestServer {
    let tiny = PlanConfig { max_projects: Some(2), max_files: Some(3), max_bytes: Some(1000), ..PlanConfig::default() };
    TestServer::new().admission(AdmissionConfig { max_running: 2, max_queued: 4 }).accounts_with_plans(
        AccountsConfig::default(),
        BTreeMap::from([("tiny".to_owned(), tiny)]),
        stores.clone(),
    )
}

/// What these tests do on a server: users with tokens, and requests.
trait ProjectsApi {
    async fn user(&self, plan: &str) -> Client;
    async fn call(&self, client: Option<&Client>, method: &str, path: &str, body: &[u8]) -> Answer;
    async fn json(&self, client: &Client, method: &str, path: &str, body: Value) -> Answer;
}

impl ProjectsApi for Server {
    async fn user(&self, plan: &str) -> Client {
        let name = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let user = self.store().create_user(&name, "a long password", Role::User).await.unwrap();
        self.store().set_user_plan(&user.id, plan).await.unwrap();
        let token = self.store().create_api_token(&user.id, "tests").await.unwrap();
        Client { auth: format!("Bearer {}", token.secret) }
    }

    /// One HTTP/1.1 request; `client` `None` is a guest.
    async fn call(&self, client: Option<&Client>, method: &str, path: &str, body: &[u8]) -> Answer {
        request(&self.address, client.map(|c| c.auth.as_str()), method, path, body).await
    }

    async fn json(&self, client: &Client, method: &str, path: &str, body: Value) -> Answer {
        self.call(Some(client), method, path, body.to_string().as_bytes()).await
    }
}

async fn request(address: &str, auth: Option<&str>, method: &str, path: &str, body: &[u8]) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(auth) = auth {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // A server refusing an oversized body may answer and close before
    // reading all of it: a failed write is fine, the answer counts.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await.unwrap() {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    if headers.get("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked")) {
        body = dechunk(&body);
    }
    Answer { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in entries {
        zip.start_file(*name, SimpleFileOptions::default()).unwrap();
        zip.write_all(content).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

pub(super) async fn projects_and_files_are_versioned_and_stale_writes_get_409(stores: Stores) {
    let server = projects_server(&stores).start().await;
    let alice = server.user("default").await;

    let created = server
        .json(
            &alice,
            "POST",
            "/api/v1/projects",
            json!({"name": "hello", "language": "sh", "entry_file": "main.sh", "files": [
                {"path": "main.sh", "content": "echo hi\n"},
                {"path": "data/bin", "content": "AAEC/w==", "encoding": "base64"},
            ]}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let project = created.json()["project"].clone();
    let id = project["id"].as_str().unwrap().to_owned();
    assert_eq!((project["name"].as_str(), project["version"].as_i64()), (Some("hello"), Some(1)));
    let files: Vec<_> = created.json()["files"].as_array().unwrap().iter().map(|f| f["path"].clone()).collect();
    assert_eq!(files, [json!("data/bin"), json!("main.sh")]);
    assert!(created.json()["files"][0].get("object_key").is_none(), "object keys stay inside");

    let listed = server.call(Some(&alice), "GET", "/api/v1/projects", b"").await;
    assert_eq!(listed.json()["projects"][0]["id"], json!(id), "{listed:?}");
    let got = server.call(Some(&alice), "GET", &format!("/api/v1/projects/{id}"), b"").await;
    assert_eq!((got.status, got.json()["files"].as_array().unwrap().len()), (200, 2), "{got:?}");

    // Settings: a stale version is a conflict with the current one.
    let path = format!("/api/v1/projects/{id}");
    let renamed = server.json(&alice, "PUT", &path, json!({"version": 1, "name": "renamed", "language": "sh"})).await;
    assert_eq!((renamed.status, renamed.json()["project"]["version"].as_i64()), (200, Some(2)), "{renamed:?}");
    let bad_entry = server.json(&alice, "PUT", &path, json!({"version": 2, "name": "x", "entry_file": "../x"})).await;
    assert_eq!((bad_entry.status, bad_entry.code()), (400, "invalid_input".to_owned()), "{bad_entry:?}");
    let stale = server.json(&alice, "PUT", &path, json!({"version": 1, "name": "stale", "language": "sh"})).await;
    assert_eq!((stale.status, stale.code()), (409, "conflict".to_owned()), "{stale:?}");
    assert_eq!(stale.json()["error"]["current_version"], 2);

    // Files: raw bytes with their version in a header.
    let file = format!("/api/v1/projects/{id}/files/data/bin");
    let read = server.call(Some(&alice), "GET", &file, b"").await;
    assert_eq!((read.status, read.body.as_slice()), (200, &[0u8, 1, 2, 255][..]), "{read:?}");
    assert_eq!(read.headers.get("x-bytesbox-version").map(String::as_str), Some("1"));
    // A download, never a page the browser would render or sniff.
    assert_eq!(read.headers.get("content-disposition").map(String::as_str), Some("attachment; filename=\"bin\""));
    assert_eq!(read.headers.get("x-content-type-options").map(String::as_str), Some("nosniff"));
    assert!(read.headers["content-security-policy"].contains("sandbox"), "{read:?}");
    let saved = server.call(Some(&alice), "PUT", &format!("{file}?version=1"), &[9, 9, 9]).await;
    assert_eq!((saved.status, saved.json()["file"]["version"].as_i64()), (200, Some(2)), "{saved:?}");
    assert_eq!(saved.json()["file"]["size_bytes"], 3);
    let stale = server.call(Some(&alice), "PUT", &format!("{file}?version=1"), b"old tab").await;
    assert_eq!((stale.status, stale.json()["error"]["current_version"].as_i64()), (409, Some(2)), "{stale:?}");
    let recreate = server.call(Some(&alice), "PUT", &format!("{file}?version=0"), b"again").await;
    assert_eq!((recreate.status, recreate.json()["error"]["current_version"].as_i64()), (409, Some(2)));
    assert_eq!(server.call(Some(&alice), "GET", &file, b"").await.body, [9, 9, 9], "no stale write landed");

    // A new file, percent-encoded, then its deletion.
    let new_file = format!("/api/v1/projects/{id}/files/src/m%C3%A4in%20file.sh");
    let made = server.call(Some(&alice), "PUT", &format!("{new_file}?version=0"), b"echo new\n").await;
    assert_eq!((made.status, made.json()["file"]["path"].as_str()), (200, Some("src/mäin file.sh")), "{made:?}");
    let no_version = server.call(Some(&alice), "PUT", &new_file, b"x").await;
    assert_eq!((no_version.status, no_version.code()), (400, "invalid_input".to_owned()), "{no_version:?}");
    let stale_delete = server.call(Some(&alice), "DELETE", &format!("{new_file}?version=2"), b"").await;
    assert_eq!((stale_delete.status, stale_delete.json()["error"]["current_version"].as_i64()), (409, Some(1)));
    assert_eq!(server.call(Some(&alice), "DELETE", &format!("{new_file}?version=1"), b"").await.status, 204);
    let gone = server.call(Some(&alice), "GET", &new_file, b"").await;
    assert_eq!((gone.status, gone.code()), (404, "not_found".to_owned()));

    // Paths outside the run rules and clashes are refused.
    // Bidirectional overrides and invisible characters too: `evil\u{202E}txt.exe`
    // would list as `evilexe.txt`.
    for bad in
        ["..%2F..%2Fetc%2Fpasswd", "a/%2E%2E/b", "a//b", "main.sh/x", "x%0Ay", "evil%E2%80%AEtxt.exe", "zero%E2%80%8Bw"]
    {
        let answer =
            server.call(Some(&alice), "PUT", &format!("/api/v1/projects/{id}/files/{bad}?version=0"), b"x").await;
        assert_eq!((answer.status, answer.code()), (400, "invalid_input".to_owned()), "{bad}: {answer:?}");
    }

    // Duplicate, runs, delete.
    let copy = server.json(&alice, "POST", &format!("{path}/duplicate"), json!({"name": "copy"})).await;
    assert_eq!((copy.status, copy.json()["files"].as_array().map(Vec::len)), (201, Some(2)), "{copy:?}");
    let copy_id = copy.json()["project"]["id"].as_str().unwrap().to_owned();
    let copied = server.call(Some(&alice), "GET", &format!("/api/v1/projects/{copy_id}/files/data/bin"), b"").await;
    assert_eq!(copied.body, [9, 9, 9]);
    let taken = server.json(&alice, "POST", &format!("{path}/duplicate"), json!({"name": "copy"})).await;
    assert_eq!((taken.status, taken.code()), (409, "name_taken".to_owned()));
    let runs = server.call(Some(&alice), "GET", &format!("{path}/runs"), b"").await;
    assert_eq!((runs.status, runs.json()), (200, json!({"runs": []})));
    let stale = server.call(Some(&alice), "DELETE", &format!("{path}?version=1"), b"").await;
    assert_eq!((stale.status, stale.json()["error"]["current_version"].as_i64()), (409, Some(2)));
    assert_eq!(server.call(Some(&alice), "DELETE", &format!("{path}?version=2"), b"").await.status, 204);
    assert_eq!(server.call(Some(&alice), "GET", &path, b"").await.status, 404);
    // A body over the server's limit is refused whole, with a JSON error.
    let huge = vec![b'x'; 15 << 20];
    let too_large =
        server.call(Some(&alice), "PUT", &format!("/api/v1/projects/{copy_id}/files/big?version=0"), &huge).await;
    assert_eq!((too_large.status, too_large.code()), (413, "too_large".to_owned()), "{too_large:?}");
    let bad_body = server.call(Some(&alice), "POST", "/api/v1/projects", b"{\"nam\": 1}").await;
    assert_eq!((bad_body.status, bad_body.code()), (400, "invalid_input".to_owned()), "{bad_body:?}");
    server.stop().await;
}

pub(super) async fn quotas_answer_413_and_say_which(stores: Stores) {
    let server = projects_server(&stores).start().await;
    let user = server.user("tiny").await;
    let create =
        |name: &str, size: usize| json!({"name": name, "files": [{"path": "a.txt", "content": "x".repeat(size)}]});
    let first = server.json(&user, "POST", "/api/v1/projects", create("one", 600)).await;
    assert_eq!(first.status, 201, "{first:?}");
    let id = first.json()["project"]["id"].as_str().unwrap().to_owned();
    let too_big = server.json(&user, "POST", "/api/v1/projects", create("two", 401)).await;
    assert_eq!((too_big.status, too_big.code()), (413, "quota_exceeded".to_owned()), "{too_big:?}");
    assert_eq!(too_big.json()["error"]["quota"], "max_bytes");
    assert_eq!(too_big.json()["error"]["limit"], 1000);

    let file = |path: &str| format!("/api/v1/projects/{id}/files/{path}?version=0");
    assert_eq!(server.call(Some(&user), "PUT", &file("b.txt"), b"").await.status, 200);
    assert_eq!(server.call(Some(&user), "PUT", &file("c.txt"), b"").await.status, 200);
    let fourth = server.call(Some(&user), "PUT", &file("d.txt"), b"").await;
    assert_eq!((fourth.status, fourth.json()["error"]["quota"].as_str()), (413, Some("max_files")), "{fourth:?}");

    assert_eq!(server.json(&user, "POST", "/api/v1/projects", json!({"name": "two"})).await.status, 201);
    let third = server.json(&user, "POST", "/api/v1/projects", json!({"name": "three"})).await;
    assert_eq!((third.status, third.json()["error"]["quota"].as_str()), (413, Some("max_projects")), "{third:?}");
    let listed = server.call(Some(&user), "GET", "/api/v1/projects", b"").await;
    assert_eq!(listed.json()["projects"].as_array().unwrap().len(), 2, "refused creations left nothing");
    server.stop().await;
}

pub(super) async fn zips_round_trip_and_hostile_zips_are_refused(stores: Stores) {
    let server = projects_server(&stores).start().await;
    let user = server.user("default").await;
    let created = server
        .json(
            &user,
            "POST",
            "/api/v1/projects",
            json!({"name": "my project", "files": [
                {"path": "main.sh", "content": "echo hi\n"},
                {"path": "lib/util.sh", "content": "util() { :; }\n"},
            ]}),
        )
        .await;
    let id = created.json()["project"]["id"].as_str().unwrap().to_owned();
    let export = server.call(Some(&user), "GET", &format!("/api/v1/projects/{id}/export"), b"").await;
    assert_eq!(export.status, 200, "{export:?}");
    assert_eq!(export.headers.get("content-type").map(String::as_str), Some("application/zip"));
    assert!(export.headers["content-disposition"].contains("my project.zip"));

    let imported = server.call(Some(&user), "POST", "/api/v1/projects/import?name=again", &export.body).await;
    assert_eq!(imported.status, 201, "{imported:?}");
    let again = imported.json()["project"]["id"].as_str().unwrap().to_owned();
    for path in ["main.sh", "lib/util.sh"] {
        let original = server.call(Some(&user), "GET", &format!("/api/v1/projects/{id}/files/{path}"), b"").await;
        let copy = server.call(Some(&user), "GET", &format!("/api/v1/projects/{again}/files/{path}"), b"").await;
        assert_eq!((copy.status, &copy.body), (200, &original.body), "{path}");
    }

    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("traversal", zip_of(&[("../../etc/cron.d/evil", b"x")])),
        ("absolute", zip_of(&[("/etc/passwd", b"x")])),
        ("garbage", b"PK\x03\x04 not really a zip".to_vec()),
        ("symlink", {
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            zip.add_symlink("link", "/etc/shadow", SimpleFileOptions::default()).unwrap();
            zip.finish().unwrap().into_inner()
        }),
    ];
    for (what, archive) in hostile {
        let answer = server.call(Some(&user), "POST", &format!("/api/v1/projects/import?name={what}"), &archive).await;
        assert_eq!((answer.status, answer.code()), (400, "invalid_input".to_owned()), "{what}: {answer:?}");
    }
    // 4 MiB of zeros in a few kilobytes, against a 1000-byte quota.
    let bomb = {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("zeros", options).unwrap();
        let block = vec![0u8; 1 << 20];
        for _ in 0..4 {
            zip.write_all(&block).unwrap();
        }
        zip.finish().unwrap().into_inner()
    };
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let tiny = server.user("tiny").await;
    let answer = server.call(Some(&tiny), "POST", "/api/v1/projects/import?name=bomb", &bomb).await;
    assert_eq!((answer.status, answer.json()["error"]["quota"].as_str()), (413, Some("max_bytes")), "{answer:?}");
    let no_name = server.call(Some(&user), "POST", "/api/v1/projects/import", &export.body).await;
    assert_eq!(no_name.status, 400);
    let listed = server.call(Some(&user), "GET", "/api/v1/projects", b"").await;
    assert_eq!(listed.json()["projects"].as_array().unwrap().len(), 2, "refused imports left nothing");
    server.stop().await;
}

pub(super) async fn another_user_gets_404_and_a_guest_403(stores: Stores) {
    let server = projects_server(&stores).start().await;
    let alice = server.user("default").await;
    let bob = server.user("default").await;
    let created = server
        .json(&alice, "POST", "/api/v1/projects", json!({"name": "secret", "files": [{"path": "a", "content": "s"}]}))
        .await;
    let id = created.json()["project"]["id"].as_str().unwrap().to_owned();
    let base = format!("/api/v1/projects/{id}");
    let attempts: Vec<(&str, String, Vec<u8>)> = vec![
        ("GET", base.clone(), vec![]),
        ("PUT", base.clone(), json!({"version": 1, "name": "stolen"}).to_string().into_bytes()),
        ("DELETE", format!("{base}?version=1"), vec![]),
        ("POST", format!("{base}/duplicate"), json!({"name": "mine now"}).to_string().into_bytes()),
        ("GET", format!("{base}/files/a"), vec![]),
        ("PUT", format!("{base}/files/a?version=1"), b"overwritten".to_vec()),
        ("PUT", format!("{base}/files/b?version=0"), b"planted".to_vec()),
        ("DELETE", format!("{base}/files/a?version=1"), vec![]),
        ("GET", format!("{base}/export"), vec![]),
        ("GET", format!("{base}/runs"), vec![]),
    ];
    for (method, path, body) in &attempts {
        let answer = server.call(Some(&bob), method, path, body).await;
        assert_eq!((answer.status, answer.code()), (404, "not_found".to_owned()), "bob {method} {path}: {answer:?}");
        let guest = server.call(None, method, path, body).await;
        assert_eq!((guest.status, guest.code()), (403, "sign_in_required".to_owned()), "guest {method} {path}");
    }
    let bobs = server.call(Some(&bob), "GET", "/api/v1/projects", b"").await;
    assert_eq!(bobs.json(), json!({"projects": []}));
    let guest_list = server.call(None, "GET", "/api/v1/projects", b"").await;
    assert_eq!(guest_list.status, 403);
    // Alice's project is untouched.
    let read = server.call(Some(&alice), "GET", &format!("{base}/files/a"), b"").await;
    assert_eq!((read.status, read.body.as_slice(), read.headers["x-bytesbox-version"].as_str()), (200, &b"s"[..], "1"));
    let got = server.call(Some(&alice), "GET", &base, b"").await;
    assert_eq!(got.json()["project"]["version"], 1);
    assert_eq!(got.json()["files"].as_array().unwrap().len(), 1);
    server.stop().await;
}

pub(super) async fn a_saved_project_runs_by_id_and_its_runs_are_recorded(stores: Stores) {
    let server = projects_server(&stores).start().await;
    let alice = server.user("default").await;
    let bob = server.user("default").await;
    let created = server
        .json(
            &alice,
            "POST",
            "/api/v1/projects",
            json!({"name": "runnable", "language": "sh", "entry_file": "main.sh", "files": [
                {"path": "main.sh", "content": ". ./lib/greet.sh\ngreet saved\n"},
                {"path": "lib/greet.sh", "content": "greet() { echo \"hello from $1\"; }\n"},
            ]}),
        )
        .await;
    let id = created.json()["project"]["id"].as_str().unwrap().to_owned();

    // Over the execute API: no files sent, the language comes from the project.
    let executed = server.json(&alice, "POST", "/api/v1/execute", json!({"project": id})).await;
    assert_eq!(executed.status, 200, "{executed:?}");
    assert_eq!(executed.json()["language"], "sh");
    assert_eq!(executed.json()["run"]["stdout"], "hello from saved\n", "{executed:?}");

    // Over the WebSocket, after a save: the run sees the saved change.
    let put = server
        .call(Some(&alice), "PUT", &format!("/api/v1/projects/{id}/files/main.sh?version=1"), b"echo changed\nexit 3\n")
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    let mut request = format!("ws://{}/api/v1/ws", server.address).into_client_request().unwrap();
    request.headers_mut().insert("authorization", alice.auth.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "hello");
    send(&mut socket, json!({"type": "run", "id": "r1", "project": id})).await;
    let frames = until_done(&mut socket, "r1").await;
    assert_eq!(stdout(&frames), "changed\n", "{frames:#?}");
    let exit = frames.iter().find(|f| f["type"] == "exit" && f["stage"] == "run").unwrap();
    assert_eq!(exit["code"], 3);

    // Someone else's project, and files with a project, are refused.
    send(
        &mut socket,
        json!({"type": "run", "id": "r2", "project": id, "files": [{"path": "main.sh", "content": "x"}]}),
    )
    .await;
    let both = until_done(&mut socket, "r2").await;
    assert_eq!(both.last().unwrap()["code"], "invalid_spec", "{both:#?}");
    let stolen = server.json(&bob, "POST", "/api/v1/execute", json!({"project": id})).await;
    assert_eq!((stolen.status, stolen.code()), (404, "not_found".to_owned()), "{stolen:?}");
    let guest = server.call(None, "POST", "/api/v1/execute", json!({"project": id}).to_string().as_bytes()).await;
    assert_eq!((guest.status, guest.code()), (403, "sign_in_required".to_owned()), "{guest:?}");

    // The history: newest first, with the project's language. The
    // WebSocket run is recorded as it ends, so wait for it.
    let history = format!("/api/v1/projects/{id}/runs");
    let recorded = || async { server.call(Some(&alice), "GET", &history, b"").await.json() };
    wait_until("both runs in the history", Duration::from_secs(20), || async {
        recorded().await["runs"].as_array().is_some_and(|runs| runs.len() == 2)
    })
    .await;
    let runs = recorded().await;
    let runs = runs["runs"].as_array().unwrap_or_else(|| panic!("{runs}")).clone();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|run| run["language"] == "sh"), "{runs:?}");
    // Newest first: the WebSocket run that exited 3, then the execute run.
    assert_eq!((runs[0]["status"].as_str(), runs[1]["status"].as_str()), (Some("nonzero"), Some("ok")), "{runs:?}");
    assert!(runs[0]["started_at_ms"].as_i64() >= runs[1]["started_at_ms"].as_i64());
    let bobs = server.call(Some(&bob), "GET", &format!("/api/v1/projects/{id}/runs"), b"").await;
    assert_eq!(bobs.status, 404);
    drop(socket);
    server.stop().await;
}

pub(super) async fn zip_bombs_are_refused_as_they_expand_and_leave_nothing(stores: Stores) {
    use bytesbox_testkit::zip_bomb::{zip_bomb, BombEntry};
    let server = projects_server(&stores).start().await;
    let user = server.user("default").await;
    // 200 MiB in one entry that claims 100 bytes: over the 10 MiB a file
    // of a project may have, found while decompressing.
    let bomb = zip_bomb(&[BombEntry::lying("zeros.bin", 200, 100)]);
    assert!(bomb.len() < 256 << 10, "{}", bomb.len());
    let answer = server.call(Some(&user), "POST", "/api/v1/projects/import?name=bomb", &bomb).await;
    assert_eq!((answer.status, answer.code()), (413, "too_large".to_owned()), "{answer:?}");
    assert_eq!(answer.json()["error"]["what"], "file_bytes", "{answer:?}");
    // Many files of 8 MiB that claim 100 bytes each, against the plan's
    // 200 MiB: the quota, found while decompressing.
    let entries: Vec<_> = (0..30).map(|n| BombEntry::lying(&format!("f{n}.bin"), 8, 100)).collect();
    let answer = server.call(Some(&user), "POST", "/api/v1/projects/import?name=many", &zip_bomb(&entries)).await;
    assert_eq!((answer.status, answer.json()["error"]["quota"].as_str()), (413, Some("max_bytes")), "{answer:?}");
    let listed = server.call(Some(&user), "GET", "/api/v1/projects", b"").await;
    assert_eq!(listed.json()["projects"], json!([]), "no refused import left a project");
    assert_eq!(server.object_files().await, Vec::<String>::new(), "no refused import left a file");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_project_over_the_run_cap_is_refused_before_its_files_are_read() {
    // Deletes object files behind the server's back: local files only.
    let stores = Stores::SqliteAndFiles;
    let server = projects_server(&stores).configure(|config| config.projects.max_bytes = 64 << 10).start().await;
    let user = server.user("default").await;
    let half = "x".repeat(40 << 10);
    let mut ids = Vec::new();
    for (name, files) in [
        (
            "big",
            json!([{"path": "main.sh", "content": "echo hi\n"}, {"path": "a", "content": half}, {"path": "b", "content": half}]),
        ),
        ("small", json!([{"path": "main.sh", "content": "echo hi\n"}])),
    ] {
        let body = json!({"name": name, "language": "sh", "entry_file": "main.sh", "files": files});
        let created = server.json(&user, "POST", "/api/v1/projects", body).await;
        assert_eq!(created.status, 201, "{created:?}");
        ids.push(created.json()["project"]["id"].as_str().unwrap().to_owned());
    }
    // The contents vanish behind the server's back: reading any file
    // would now fail with 500.
    for file in server.object_files().await {
        std::fs::remove_file(file).unwrap();
    }
    let refused = server.json(&user, "POST", "/api/v1/execute", json!({"project": ids[0]})).await;
    assert_eq!((refused.status, refused.code()), (400, "invalid_spec".to_owned()), "{refused:?}");
    assert!(refused.json()["error"]["message"].as_str().unwrap().contains("65536 bytes"), "{refused:?}");
    let read = server.json(&user, "POST", "/api/v1/execute", json!({"project": ids[1]})).await;
    assert_eq!((read.status, read.code()), (500, "internal".to_owned()), "the small one is read: {read:?}");

    let mut request = format!("ws://{}/api/v1/ws", server.address).into_client_request().unwrap();
    request.headers_mut().insert("authorization", user.auth.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "hello");
    send(&mut socket, json!({"type": "run", "id": "r1", "project": ids[0]})).await;
    let frames = until_done(&mut socket, "r1").await;
    assert_eq!(frames.last().unwrap()["code"], "invalid_spec", "{frames:#?}");
    drop(socket);
    server.stop().await;
}

pub(super) async fn an_import_whose_client_hangs_up_finishes_or_cleans_up(stores: Stores) {
    use bytesbox_testkit::zip_bomb::{zip_bomb, BombEntry};
    use tokio::io::AsyncWriteExt as _;
    let server = projects_server(&stores).start().await;
    let user = server.user("default").await;
    // 240 MiB in 8 MiB files that claim 100 bytes each: refused at the
    // plan's 200 MiB, after writing objects for a while.
    let entries: Vec<_> = (0..30).map(|n| BombEntry::lying(&format!("f{n}.bin"), 8, 100)).collect();
    let bomb = zip_bomb(&entries);
    let mut stream = tokio::net::TcpStream::connect(&server.address).await.unwrap();
    let head = format!(
        "POST /api/v1/projects/import?name=gone HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        server.address,
        user.auth,
        bomb.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&bomb).await.unwrap();
    // Hang up once the import is writing objects.
    for _ in 0..2000 {
        if !server.object_files().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(stream);
    // The import still ends in its refusal, which deletes what it wrote.
    wait_until("the refused import to delete its files", Duration::from_secs(60), || async {
        server.object_files().await.is_empty()
    })
    .await;
    let listed = server.call(Some(&user), "GET", "/api/v1/projects", b"").await;
    assert_eq!(listed.json()["projects"], json!([]));
    server.stop().await;
}
